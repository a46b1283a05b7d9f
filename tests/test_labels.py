"""Labels from synthetic raw passes: semantic LUT, camera normals, COCO annotations, previews."""

from __future__ import annotations


import numpy as np
import pytest
from pycocotools import mask as mask_util

from simgen.optics.camera import look_at, pixel_rays
from simgen.labels import (
    FrameLabels,
    annotation_id,
    camera_normals,
    coco_annotations,
    coco_image,
    make_labels,
    semantic_from_instance,
)
from simgen.labels.preview import colorize_ids, depth_preview, id_colors, normal_preview, overlay


def random_instance_map(seed: int, h: int = 41, w: int = 57) -> tuple[np.ndarray, dict[int, int]]:
    """Several objects incl. touching ones, a 1-pixel object, border objects, a split
    object, a category-0 object and an id that is in the map but not in the image."""
    rng = np.random.default_rng(seed)
    inst = np.zeros((h, w), np.uint16)
    yy, xx = np.mgrid[:h, :w]
    category_of: dict[int, int] = {}
    next_id = int(rng.integers(1, 60000))

    def new(cat: int) -> int:
        nonlocal next_id
        next_id += int(rng.integers(1, 50))
        category_of[next_id] = cat
        return next_id

    for _ in range(int(rng.integers(3, 7))):  # random ellipses, later ones occlude earlier ones
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(2, h / 3), rng.uniform(2, w / 3)
        inst[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = new(int(rng.integers(1, 4)))
    # two touching rectangles
    y0, x0 = int(rng.integers(0, h - 8)), int(rng.integers(0, w - 12))
    inst[y0:y0 + 6, x0:x0 + 5] = new(1)
    inst[y0:y0 + 6, x0 + 5:x0 + 11] = new(2)
    # objects on each border / corner
    inst[0:3, 10:20] = new(3)
    inst[h - 2:h, w - 4:w] = new(1)
    inst[5:15, 0:2] = new(2)
    # an object split into two parts (touching the right border)
    sid = new(3)
    inst[20:23, w - 1] = sid
    inst[30:32, 25:27] = sid
    # a category-0 object (ground / distractor)
    inst[h - 6:h - 3, 2:9] = new(0)
    # a one-pixel object
    inst[int(rng.integers(0, h)), int(rng.integers(0, w))] = new(2)
    # listed but fully hidden
    new(1)
    return inst, category_of


def numpy_bbox(mask: np.ndarray) -> list[float]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return [float(cols[0]), float(rows[0]), float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1)]


# ------------------------------------------------------------------ semantic


def test_semantic_lut():
    inst = np.array([[0, 1, 2], [300, 300, 0]], np.uint16)
    sem = semantic_from_instance(inst, {1: 5, 2: 0, 300: 65535, 7: 9})
    assert sem.dtype == np.uint16
    np.testing.assert_array_equal(sem, [[0, 5, 0], [65535, 65535, 0]])


def test_semantic_missing_ids_named():
    inst = np.array([[0, 1, 2, 40000]], np.uint16)
    with pytest.raises(ValueError, match=r"\[2, 40000\]"):
        semantic_from_instance(inst, {1: 3})


def test_semantic_int32_input_and_range():
    inst = np.array([[0, 70000]], np.int32)
    with pytest.raises(ValueError):
        semantic_from_instance(inst, {70000: 1})
    ok = semantic_from_instance(np.array([[0, 9]], np.int32), {9: 4})
    np.testing.assert_array_equal(ok, [[0, 4]])


# ------------------------------------------------------------------ normals


def _K(f: float, w: int, h: int) -> np.ndarray:
    return np.array([[f, 0, w / 2 - 0.5], [0, f, h / 2 - 0.5], [0, 0, 1.0]])


@pytest.mark.parametrize("side", [1.0, -1.0])
def test_camera_normals_plane_from_both_sides(side):
    """Ground plane z=0 seen from above and from below: the result always faces the camera,
    whichever way the world normal points."""
    h, w = 6, 8
    K = _K(5.0, w, h)
    w2c = look_at(np.array([0.3, -0.2, 4.0 * side]), np.array([0.0, 0.1, 0.0]),
                  up=np.array([0.0, 1.0, 0.0]))
    R = w2c[:3, :3]
    facing = R @ np.array([0.0, 0.0, side])  # the side the camera is on, in camera axes
    valid = np.ones((h, w), bool)
    rays = pixel_rays(K, w, h)
    for world_n, scale in (([0, 0, 1], 1.0), ([0, 0, -1], 1.0), ([0, 0, 1], 0.4), ([0, 0, -1], 3.0)):
        nw = np.broadcast_to(np.array(world_n, np.float32) * scale, (h, w, 3))
        out = camera_normals(nw, w2c, K, valid)
        assert out.dtype == np.float32 and out.shape == (h, w, 3)
        np.testing.assert_allclose(out, np.broadcast_to(facing, (h, w, 3)), atol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-6)
        assert (np.einsum("hwc,hwc->hw", out, rays) <= 0).all()


def test_camera_normals_per_pixel_ray():
    """Flip decided per pixel with the ray through that pixel centre."""
    K = np.array([[1.0, 0, 1.0], [0, 1.0, 1.0], [0, 0, 1]])  # 3x3 image, centre pixel on axis
    nw = np.zeros((3, 3, 3), np.float32)
    nw[:, :] = [2.0, 0.0, 0.0]
    out = camera_normals(nw, np.eye(4), K, np.ones((3, 3), bool))
    # u=0 has ray x=-1: (1,0,0) faces it; u=2 has ray x=+1: flipped; u=1 ray x=0: grazing, kept
    np.testing.assert_allclose(out[:, 0], [[1, 0, 0]] * 3)
    np.testing.assert_allclose(out[:, 1], [[1, 0, 0]] * 3)
    np.testing.assert_allclose(out[:, 2], [[-1, 0, 0]] * 3)


def test_camera_normals_zero_and_invalid():
    K = _K(4.0, 4, 3)
    nw = np.zeros((3, 4, 3), np.float32)
    nw[..., 2] = -1.0
    nw[0, 0] = 0.0  # no normal
    nw[0, 1] = [0.0, 0.0, 1e-9]  # ~zero after averaging
    valid = np.ones((3, 4), bool)
    valid[2, 3] = False
    out = camera_normals(nw, np.eye(4), K, valid)
    assert (out[0, 0] == 0).all() and (out[0, 1] == 0).all() and (out[2, 3] == 0).all()
    others = np.ones((3, 4), bool)
    others[0, 0] = others[0, 1] = others[2, 3] = False
    np.testing.assert_allclose(out[others], np.broadcast_to([0, 0, -1.0], (others.sum(), 3)))


def test_camera_normals_blended_edge_normalised():
    K = _K(2.0, 2, 1)
    nw = np.array([[[0.5, 0.0, -0.5], [0.0, 0.3, -0.1]]], np.float32)
    out = camera_normals(nw, np.eye(4), K, np.ones((1, 2), bool))
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(out[0, 0], np.array([1, 0, -1]) / np.sqrt(2), atol=1e-6)



def _camera_normals_by_formula(nw, w2c, K, valid):
    """camera_normals as first written (the product, numpy's sum over the last axis, a masked
    division, a flip): the reference its faster form must equal bit for bit (datasets keep them)."""
    cam = nw.astype(np.float32) @ np.asarray(w2c, np.float32)[:3, :3].T
    length = np.sqrt((cam * cam).sum(axis=-1))
    keep = valid & (length > 1e-6) & np.isfinite(length)
    out = np.divide(cam, length[..., None], out=np.zeros_like(cam), where=keep[..., None])
    h, w = valid.shape
    rx = ((np.arange(w) - K[0, 2]) / K[0, 0]).astype(np.float32)
    ry = ((np.arange(h) - K[1, 2]) / K[1, 1]).astype(np.float32)
    away = out[..., 0] * rx[None, :] + out[..., 1] * ry[:, None] + out[..., 2] > 0
    return out * np.where(away, np.float32(-1.0), np.float32(1.0))[..., None]


def test_camera_normals_bits_equal_the_formula():
    rng = np.random.default_rng(5)
    h, w = 37, 53
    nw = rng.normal(size=(h, w, 3)).astype(np.float32) * rng.uniform(0.01, 3, (h, w, 1)).astype(np.float32)
    nw[0, :4] = [[0, 0, 0], [np.nan, 0, 1], [np.inf, 0, 0], [0, 0, 1e-9]]
    valid = rng.random((h, w)) > 0.2
    w2c = look_at(np.array([1.0, -3.0, 2.0]), np.array([0.1, 0.2, 0.0]))
    K = _K(40.0, w, h)
    with np.errstate(invalid="ignore", over="ignore"):
        got, want = camera_normals(nw, w2c, K, valid), _camera_normals_by_formula(nw, w2c, K, valid)
    assert got.dtype == np.float32 and got.shape == (h, w, 3) and got.flags.c_contiguous
    assert got.tobytes() == want.tobytes()

# ------------------------------------------------------------------ make_labels


def test_make_labels():
    h, w = 5, 7
    rng = np.random.default_rng(3)
    index = np.zeros((h, w), np.int32)
    index[1:3, 2:5] = 1000
    index[4, 6] = 2
    depth = rng.uniform(1, 3, (h, w)).astype(np.float32)
    normal = np.zeros((h, w, 3), np.float32)
    normal[..., 2] = 1.0
    raw = {"rgb": rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "index": index,
           "depth": depth, "normal": normal}
    K = _K(6.0, w, h)
    w2c = look_at(np.array([0.0, 0.0, 3.0]), np.zeros(3), up=np.array([0.0, 1.0, 0.0]))
    labels = make_labels(raw, {1000: 7, 2: 0}, w2c, K)
    assert isinstance(labels, FrameLabels)
    labels.check()
    assert labels.instance.dtype == np.uint16 and labels.semantic.dtype == np.uint16
    np.testing.assert_array_equal(labels.instance, index)
    np.testing.assert_array_equal(labels.semantic, np.where(index == 1000, 7, 0))
    assert np.isinf(labels.depth[index == 0]).all()
    np.testing.assert_array_equal(labels.depth[index != 0], depth[index != 0])
    assert (labels.normal[index == 0] == 0).all()
    np.testing.assert_allclose(labels.normal[index != 0], np.broadcast_to([0, 0, -1], (7, 3)), atol=1e-6)
    np.testing.assert_array_equal(labels.rgb, raw["rgb"])


def test_make_labels_rejects_bad_passes():
    h, w = 2, 3
    good = {"rgb": np.zeros((h, w, 3), np.uint8), "index": np.zeros((h, w), np.int32),
            "depth": np.zeros((h, w), np.float32), "normal": np.zeros((h, w, 3), np.float32)}
    for key, bad in (("rgb", np.zeros((h, w, 3), np.float32)), ("depth", np.zeros((w, h), np.float32)),
                     ("normal", np.zeros((h, w), np.float32)), ("index", np.zeros((h, w), np.float32))):
        with pytest.raises(ValueError):
            make_labels({**good, key: bad}, {}, np.eye(4), _K(1.0, w, h))
    with pytest.raises(ValueError):
        make_labels({k: v for k, v in good.items() if k != "depth"}, {}, np.eye(4), _K(1.0, w, h))


# ------------------------------------------------------------------ COCO


def test_coco_image_and_annotation_id():
    assert coco_image(4, 640, 480, "images/000004.png") == {
        "id": 5, "file_name": "images/000004.png", "width": 640, "height": 480, "simgen": {"frame_index": 4}}
    assert coco_image(4, 640, 480, "images/000004.png", "val")["simgen"] == {"frame_index": 4, "split": "val"}
    assert annotation_id(0, 1) == 1
    assert annotation_id(3, 65535) == 3 * 65536 + 65535
    assert annotation_id(3, 65535) < annotation_id(4, 1)
    with pytest.raises(ValueError):
        annotation_id(0, 0)


@pytest.mark.parametrize("seed", range(8))
def test_coco_annotations_match_masks(seed):
    inst, category_of = random_instance_map(seed)
    index = 17 + seed
    anns = coco_annotations(inst, category_of, index)
    present = set(np.unique(inst).tolist()) - {0}
    expected = sorted(i for i in present if category_of[i] != 0)
    assert [a["simgen"]["instance_id"] for a in anns] == expected
    assert len({a["id"] for a in anns}) == len(anns)
    for a in anns:
        iid = a["simgen"]["instance_id"]
        mask = inst == iid
        assert a["id"] == annotation_id(index, iid)
        assert a["image_id"] == index + 1
        assert a["category_id"] == category_of[iid] != 0
        assert a["iscrowd"] == 0
        assert isinstance(a["segmentation"]["counts"], str)
        assert a["segmentation"]["size"] == list(inst.shape)
        np.testing.assert_array_equal(mask_util.decode(a["segmentation"]).astype(bool), mask)
        assert a["segmentation"]["counts"] == _encoded(mask)
        assert isinstance(a["area"], int) and a["area"] == int(mask.sum())
        assert a["area"] == int(mask_util.area(a["segmentation"]))
        assert a["bbox"] == numpy_bbox(mask)
        assert a["bbox"] == mask_util.toBbox(a["segmentation"]).tolist()
        assert all(isinstance(v, float) for v in a["bbox"])


def _encoded(mask: np.ndarray) -> str:
    """pycocotools' own compressed RLE of a bool mask (what the annotations must hold, byte for byte)."""
    return mask_util.encode(np.asfortranarray(mask, dtype=np.uint8))["counts"].decode("ascii")


def test_coco_annotations_rle_as_pycocotools_encodes_it():
    """The counts of every mask come from one pass over the image: the same string as encoding each
    mask alone, whether a mask starts or ends the image (column-major), fills it, or is one pixel."""
    rng = np.random.default_rng(11)
    maps = [rng.integers(0, 4, size=(int(rng.integers(1, 9)), int(rng.integers(1, 9)))).astype(np.uint16)
            for _ in range(300)]
    maps += [np.full((3, 4), 7, np.uint16), np.array([[5]], np.uint16), np.arange(12, dtype=np.int32).reshape(3, 4)]
    for inst in maps:
        anns = coco_annotations(inst, {i: 1 for i in range(1, 13)}, 0)
        assert [a["simgen"]["instance_id"] for a in anns] == sorted(set(inst.ravel().tolist()) - {0})
        for a in anns:
            mask = inst == a["simgen"]["instance_id"]
            assert a["segmentation"]["counts"] == _encoded(mask)
            assert a["bbox"] == mask_util.toBbox(mask_util.encode(np.asfortranarray(mask, dtype=np.uint8))).tolist()


def test_coco_annotations_empty_and_missing_category():
    assert coco_annotations(np.zeros((4, 5), np.uint16), {1: 2}, 0) == []
    inst = np.zeros((4, 5), np.uint16)
    inst[1, 1] = 3
    inst[2, 2] = 9
    with pytest.raises(ValueError, match=r"\[9\]"):
        coco_annotations(inst, {3: 1}, 0)


# ------------------------------------------------------------------ previews


def test_colorize_ids():
    ids = np.array([[0, 1, 2], [65535, 1, 0]], np.uint16)
    img = colorize_ids(ids)
    assert img.shape == (2, 3, 3) and img.dtype == np.uint8
    assert (img[0, 0] == 0).all() and (img[1, 2] == 0).all()
    np.testing.assert_array_equal(img[0, 1], img[1, 1])
    assert (img[ids != 0].max(axis=-1) > 100).all()  # visible on black
    # stable: independent of the other ids present
    np.testing.assert_array_equal(colorize_ids(np.array([[1]], np.uint16))[0, 0], img[0, 1])
    colours = id_colors(range(1, 201))
    assert len({tuple(c) for c in colours}) == 200


def test_depth_preview():
    d = np.full((4, 6), np.inf, np.float32)
    out = depth_preview(d)
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8 and not out.any()
    d[1:3, 1:5] = np.linspace(1, 5, 8, dtype=np.float32).reshape(2, 4)
    d[0, 0] = 2.0
    d[3, 5] = np.nan
    out = depth_preview(d)
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8
    assert not out[3, 5].any() and not out[0, 1].any()
    assert out[1:3, 1:5].any(axis=-1).all()
    # constant depth: still coloured, not black
    const = depth_preview(np.full((2, 2), 3.0, np.float32))
    assert const.any(axis=-1).all()


def test_normal_preview():
    n = np.zeros((2, 2, 3), np.float32)
    n[0, 0] = [0, 0, -1]
    n[0, 1] = [1, 0, 0]
    n[1, 0] = [0, -1, 0]
    out = normal_preview(n)
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0], [128, 128, 0])
    np.testing.assert_array_equal(out[0, 1], [255, 128, 128])
    np.testing.assert_array_equal(out[1, 0], [128, 0, 128])
    np.testing.assert_array_equal(out[1, 1], [0, 0, 0])


def test_overlay_boxes_on_right_pixels():
    h, w = 40, 50
    rgb = np.full((h, w, 3), 30, np.uint8)
    inst = np.zeros((h, w), np.uint16)
    yy, xx = np.mgrid[:h, :w]
    inst[((yy - 25) / 7.0) ** 2 + ((xx - 20) / 9.0) ** 2 <= 1] = 5
    inst[3:6, 40:49] = 77  # near the top: label goes below the box
    anns = coco_annotations(inst, {5: 1, 77: 2}, 0)
    out = overlay(rgb, inst, anns, {1: "mug", 2: "box"})
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    assert out is not rgb and (rgb == 30).all()
    for ann in anns:
        x, y, bw, bh = (int(v) for v in ann["bbox"])
        colour = id_colors([ann["simgen"]["instance_id"]])[0]
        border = np.zeros((h, w), bool)
        border[y, x:x + bw] = border[y + bh - 1, x:x + bw] = True
        border[y:y + bh, x] = border[y:y + bh, x + bw - 1] = True
        assert (out[border] == colour).all()
        # the columns just outside the box (away from the label) are untouched
        if x + bw < w:
            assert (out[y + 1:y + bh - 1, x + bw] == 30).all()
        if x > 0:
            assert (out[y + 1:y + bh - 1, x - 1] == 30).all()
        # inside the mask, away from edges, the tint is applied
        inner = (inst == ann["simgen"]["instance_id"]) & ~border
        inner_px = out[inner]
        assert (inner_px != 30).any(axis=-1).all()
    # background far from everything is unchanged
    assert (out[h - 1, 0] == 30).all()
