"""The BOP export, read back with a reader written from the BOP toolkit's description of its
format (docs/bop_datasets_format.md of thodan/bop_toolkit: camera.json, per scene
scene_camera/scene_gt/scene_gt_info.json, depth PNG x depth_scale = mm, masks IMID_GTID.png,
models obj_OBJID.ply in mm with models_info.json), not from simgen's writer, against simgen's
own labels of a rendered dataset: poses, depth, masks, counts and boxes, scenes, models; shards
merged give what one run gives; a run without amodal masks is refused with the fix."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import trimesh
from pycocotools import mask as mask_utils

from conftest import set_settings, tiny_settings
from simgen import SimgenError
from simgen.io.formats.bop import depth_png, diameter, rle_counts
from simgen.pipeline import run
from symmetry_check import worst_symmetry_error

SCENE_SIZE = 4


def bop_settings(out: Path, frames: int = 6, **kw):
    s = tiny_settings(out, frames=frames, width=96, height=72, samples=1)
    s.output.labels = ["amodal"]
    s.output.formats = ["coco", "bop"]
    s.output.bop_scene_size = SCENE_SIZE
    s.scene.camera_distance = [0.7, 1.2]  # near enough that objects reach past the image's edges
    return set_settings(s, **kw)


@pytest.fixture(scope="module")
def frames_ds(tmp_path_factory) -> Path:
    """Six independent frames (scenes of 4), default train/val/test splits."""
    root = tmp_path_factory.mktemp("bop_frames")
    run(bop_settings(root))
    return root


# ---------------------------------------------------------------------------- a BOP reader


def _json_by_id(path: Path) -> dict:
    return {int(k): v for k, v in json.loads(path.read_text()).items()}


def _png(path: Path) -> np.ndarray:
    im = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert im is not None, path
    return im


def read_bop(bop: Path) -> dict:
    """Everything of a BOP dataset by the documented names: camera, models (by obj_id) and, per
    (split folder, scene id, image id), the image's camera, gt list, gt_info list, depth in mm,
    masks (by gt id), and the scene's COCO file."""
    out = {"camera": json.loads((bop / "camera.json").read_text()), "models": {}, "images": {}, "coco": {}}
    info = _json_by_id(bop / "models" / "models_info.json")
    for obj_id, entry in info.items():
        out["models"][obj_id] = (entry, bop / "models" / f"obj_{obj_id:06d}.ply")
    for split in sorted(p for p in bop.iterdir() if p.is_dir() and p.name != "models"):
        for scene in sorted(p for p in split.iterdir() if p.is_dir()):
            sid = int(scene.name)
            cams = _json_by_id(scene / "scene_camera.json")
            gts = _json_by_id(scene / "scene_gt.json")
            gt_infos = _json_by_id(scene / "scene_gt_info.json")
            out["coco"][(split.name, sid)] = scene / "scene_gt_coco.json"
            for im_id, cam in cams.items():
                depth = _png(scene / "depth" / f"{im_id:06d}.png")
                assert depth.dtype == np.uint16
                masks = [(_png(scene / "mask" / f"{im_id:06d}_{g:06d}.png"),
                          _png(scene / "mask_visib" / f"{im_id:06d}_{g:06d}.png")) for g in range(len(gts[im_id]))]
                out["images"][(split.name, sid, im_id)] = {
                    "K": np.array(cam["cam_K"], float).reshape(3, 3),
                    "R_w2c": np.array(cam["cam_R_w2c"], float).reshape(3, 3),
                    "t_w2c": np.array(cam["cam_t_w2c"], float),
                    "depth_scale": float(cam["depth_scale"]), "depth_raw": depth,
                    "depth_mm": depth.astype(np.float64) * float(cam["depth_scale"]),
                    "gt": [{"obj_id": g["obj_id"], "R": np.array(g["cam_R_m2c"], float).reshape(3, 3),
                            "t": np.array(g["cam_t_m2c"], float)} for g in gts[im_id]],
                    "gt_info": gt_infos[im_id], "masks": masks,
                    "rgb": scene / "rgb" / f"{im_id:06d}.png"}
    return out


# ---------------------------------------------------------------------------- simgen's side


def simgen_frames(root: Path):
    for meta_file in sorted((root / "meta").glob("*.json")):
        meta = json.loads(meta_file.read_text())
        i = meta["index"]
        amodal = np.load(root / "amodal" / f"{i:06d}.npz")
        yield meta, {
            "instance": _png(root / "instance" / f"{i:06d}.png"),
            "depth": np.load(root / "depth" / f"{i:06d}.npy"),
            "amodal": dict(zip(amodal["instance_ids"].tolist(), amodal["masks"])),
        }


def expected_place(meta: dict, size: int = SCENE_SIZE) -> tuple[str, int, int]:
    """Where docs/dataset.md says frame ``meta`` goes: (split folder, scene, image)."""
    folder = f"{meta['split']}_pbr"
    if meta["sequence_length"] > 1:
        return folder, meta["sequence"], meta["step"]
    return folder, meta["index"] // size, meta["index"] % size


def _box(mask: np.ndarray) -> list[int]:
    """BOP's box (calc_gt_info: x, y, x_max - x, y_max - y), -1s when empty."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return [-1, -1, -1, -1]
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min()), int(ys.max() - ys.min())]


# ---------------------------------------------------------------------------- tests


@pytest.mark.render
def test_every_frame_is_one_bop_image_with_its_depth_masks_and_counts(frames_ds):
    bop = read_bop(frames_ds / "bop")
    seen, truncated, partly = set(), 0, 0
    for meta, frame in simgen_frames(frames_ds):
        place = expected_place(meta)
        im = bop["images"][place]
        seen.add(place)
        assert im["rgb"].read_bytes() == (frames_ds / "images" / f"{meta['index']:06d}.png").read_bytes()
        assert np.allclose(im["K"], meta["K"])
        w2c = np.array(meta["world_to_camera"])
        assert np.allclose(im["R_w2c"], w2c[:3, :3]) and np.allclose(im["t_w2c"], w2c[:3, 3] * 1000)

        # depth: value * depth_scale = simgen's depth in mm within half a step; 0 = no depth
        depth, scale = frame["depth"], im["depth_scale"]
        valid = np.isfinite(depth)
        assert np.all(im["depth_raw"][~valid] == 0) and np.all(im["depth_raw"][valid] > 0)
        err = np.abs(im["depth_mm"][valid] - depth[valid].astype(np.float64) * 1000)
        assert err.max() <= scale / 2 + 1e-6, (meta["index"], err.max(), scale)
        k = np.log2(scale / 0.1)
        far = depth[valid].max() * 1000
        assert abs(k - round(k)) < 1e-9 and far / scale <= 65535 and (round(k) == 0 or far / (scale / 2) > 65535)

        # one gt per annotated object, in instance-id order
        objects = sorted((o for o in meta["objects"] if o["category_id"]), key=lambda o: o["instance_id"])
        assert len(im["gt"]) == len(objects) == len(im["gt_info"]) == len(im["masks"])
        h, w = depth.shape
        for o, info, (mask, mask_visib) in zip(objects, im["gt_info"], im["masks"]):
            iid = o["instance_id"]
            visib = frame["instance"] == iid
            full = frame["amodal"].get(iid, np.zeros_like(visib))
            assert set(np.unique(mask)) <= {0, 255} and set(np.unique(mask_visib)) <= {0, 255}
            assert np.array_equal(mask_visib > 0, visib) and np.array_equal(mask > 0, full)
            assert info["px_count_visib"] == visib.sum()
            assert info["px_count_valid"] == (full & (im["depth_raw"] > 0)).sum()
            assert info["bbox_visib"] == _box(visib)
            n_all = info["px_count_all"]
            assert info["visib_fract"] == pytest.approx(visib.sum() / n_all if n_all else 0.0)
            touches = full.any() and (full[0].any() or full[-1].any() or full[:, 0].any() or full[:, -1].any())
            if not visib.any():
                assert info["bbox_obj"] == [-1, -1, -1, -1]  # as calc_gt_info writes it
            elif touches:  # the silhouette may go on past the image: counted, and boxed, there too
                x, y, bw, bh = info["bbox_obj"]
                assert n_all >= full.sum()
                beyond = x < 0 or y < 0 or x + bw > w - 1 or y + bh > h - 1
                assert beyond == (n_all > full.sum())
                truncated += beyond
                ref = _box(full)
                assert x <= ref[0] and y <= ref[1] and x + bw >= ref[0] + ref[2] and y + bh >= ref[1] + ref[3]
            else:
                assert n_all == full.sum() and info["bbox_obj"] == _box(full)
                partly += visib.sum() < full.sum()
    assert seen == set(bop["images"])  # nothing else
    assert truncated > 0 and partly > 0  # both cases met


@pytest.mark.render
def test_the_pose_puts_the_bop_models_vertices_on_the_objects_visible_pixels(frames_ds):
    bop = read_bop(frames_ds / "bop")
    checked = wrong = 0
    for (split, sid, im_id), im in bop["images"].items():
        K, depth = im["K"], im["depth_mm"]
        h, w = depth.shape
        for gt_id, g in enumerate(im["gt"]):
            model = trimesh.load(bop["models"][g["obj_id"]][1], force="mesh", process=False)
            points, _ = trimesh.sample.sample_surface(model, 3000, seed=gt_id)
            visib = im["masks"][gt_id][1] > 0
            fits = {}
            for shift in (0.0, 100.0):  # the pose, and the pose 10 cm off along x
                cam = np.asarray(points) @ g["R"].T + g["t"] + [shift, 0.0, 0.0]
                cam = cam[cam[:, 2] > 1e-3]
                u = np.rint(K[0, 0] * cam[:, 0] / cam[:, 2] + K[0, 2]).astype(int)
                v = np.rint(K[1, 1] * cam[:, 1] / cam[:, 2] + K[1, 2]).astype(int)
                inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
                u, v, z = u[inside], v[inside], cam[inside, 2]
                seen = np.abs(depth[v, u] - z) < 0.005 * z
                near = np.zeros(len(u), bool)
                for dv in (-1, 0, 1):
                    for du in (-1, 0, 1):
                        near |= visib[np.clip(v + dv, 0, h - 1), np.clip(u + du, 0, w - 1)]
                fits[shift] = (int(seen.sum()), float(near[seen].mean()) if seen.any() else 0.0)
            if fits[0.0][0] < 20:
                continue
            assert fits[0.0][1] > 0.95, (split, sid, im_id, gt_id, fits)
            checked += 1
            wrong += fits[100.0][0] < fits[0.0][0] / 2 or fits[100.0][1] < 0.9
    assert checked >= 5 and wrong >= 0.8 * checked


@pytest.mark.render
def test_models_are_in_mm_centred_and_described_by_models_info(frames_ds):
    bop = read_bop(frames_ds / "bop")
    simgen_of = _json_by_id(frames_ds / "bop" / "models" / "models_simgen.json")
    assert sorted(bop["models"]) == list(range(1, len(bop["models"]) + 1)) == sorted(simgen_of)
    symmetric = 0
    for obj_id, (info, path) in bop["models"].items():
        mesh = trimesh.load(path, force="mesh", process=False)
        lo, hi = mesh.bounds
        assert np.allclose([info[f"min_{a}"] for a in "xyz"], lo, atol=1e-3)
        assert np.allclose([info[f"size_{a}"] for a in "xyz"], hi - lo, atol=1e-3)
        assert np.allclose((lo + hi) / 2, 0, atol=1e-3)  # BOP: the origin is the centre of the model's box
        hull = mesh.convex_hull.vertices
        brute = np.sqrt(((hull[:, None] - hull[None]) ** 2).sum(-1)).max()
        assert info["diameter"] == pytest.approx(brute, abs=1e-3)
        # the simgen model file at the recorded scale, in mm, is this model
        src = trimesh.load(frames_ds / simgen_of[obj_id]["mesh"], force="mesh", process=False)
        ext = (src.bounds[1] - src.bounds[0]) * np.array(simgen_of[obj_id]["scale"]) * 1000
        assert np.allclose(ext, hi - lo, atol=1e-3) and info["diameter"] > 1  # mm, not metres
        # declared symmetries (the catalog's, moved to the BOP model's frame) map the model onto itself
        discrete, continuous = info.get("symmetries_discrete", []), info.get("symmetries_continuous", [])
        if discrete or continuous:
            symmetric += 1
            size = float((hi - lo).max())
            assert worst_symmetry_error(mesh, discrete, []) < 1e-4 * size, obj_id  # float32 PLY in mm
            assert worst_symmetry_error(mesh, [], continuous) < 0.005 * size, obj_id
            for d in discrete:  # BOP's 4x4: row-major, translation in mm
                assert np.allclose(np.reshape(d, (4, 4))[3], [0, 0, 0, 1])
    assert symmetric >= 1  # the bundled catalog's plain shapes declare theirs


@pytest.mark.render
def test_scene_coco_files_load_in_pycocotools(frames_ds):
    from pycocotools.coco import COCO

    bop = read_bop(frames_ds / "bop")
    total = 0
    for (split, sid), path in bop["coco"].items():
        coco = COCO(str(path))
        assert {c["id"] for c in coco.dataset["categories"]} == set(bop["models"])
        for ann in coco.dataset["annotations"]:
            im = bop["images"][(split, sid, ann["image_id"])]
            assert (path.parent / coco.imgs[ann["image_id"]]["file_name"]).is_file()
            gt_id = [g for g, info in enumerate(im["gt_info"]) if info["px_count_visib"]][
                [a["id"] for a in coco.dataset["annotations"] if a["image_id"] == ann["image_id"]].index(ann["id"])]
            mask, visib = (m > 0 for m in im["masks"][gt_id])
            rle = mask_utils.frPyObjects(ann["segmentation"], *ann["segmentation"]["size"])
            assert np.array_equal(mask_utils.decode(rle).astype(bool), visib)
            assert ann["category_id"] == im["gt"][gt_id]["obj_id"] and ann["area"] == visib.sum()
            ys, xs = np.nonzero(mask)  # the amodal box (calc_gt_coco's default), COCO's pixel edges
            assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            assert ann["ignore"] == (im["gt_info"][gt_id]["visib_fract"] < 0.1)
            total += 1
    assert total > 10


@pytest.mark.render
def test_sequences_are_scenes_and_merged_shards_export_what_one_run_does(tmp_path):
    from simgen.io.dataset.merge import merge

    kw = dict(frames=6, sequence__length=3, output__splits={"train": 1.0}, scene__object_scale=[1.0, 1.0])
    run(bop_settings(tmp_path / "whole", **kw))
    parts = [tmp_path / "part0", tmp_path / "part1"]
    for i, part in enumerate(parts):
        run(bop_settings(part, shard__count=2, shard__index=i, **kw))
    merge(tmp_path / "merged", parts)

    def files(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    whole, merged = files(tmp_path / "whole" / "bop"), files(tmp_path / "merged" / "bop")
    assert whole.keys() == merged.keys()
    for name in whole:
        if name.endswith(".json"):
            assert json.loads(whole[name]) == json.loads(merged[name]), name
        else:
            assert whole[name] == merged[name], name
    # a sequence is a scene; image ids are its steps
    bop = read_bop(tmp_path / "whole" / "bop")
    assert sorted(bop["images"]) == [("train_pbr", s, k) for s in (0, 1) for k in (0, 1, 2)]
    for meta, _ in simgen_frames(tmp_path / "whole"):
        assert expected_place(meta) == ("train_pbr", meta["index"] // 3, meta["index"] % 3)
    # scene.object_scale=[1, 1]: one BOP model per model file
    simgen_of = _json_by_id(tmp_path / "whole" / "bop" / "models" / "models_simgen.json")
    assert len({m["mesh"] for m in simgen_of.values()}) == len(simgen_of)


@pytest.mark.render
def test_a_merge_of_different_runs_exports_every_frame_once(tmp_path):
    """Sequences of one run and single frames of another (different configs) merged: every
    merged frame is one BOP image, the sequences' frames in their scenes, the single frames'
    scenes numbered after them, each with its own masks."""
    from simgen.io.dataset.merge import merge

    one = dict(output__splits={"train": 1.0})
    run(bop_settings(tmp_path / "clips", frames=4, sequence__length=2, seed=1, **one))
    run(bop_settings(tmp_path / "stills", frames=3, seed=2, **one))
    merge(tmp_path / "merged", [tmp_path / "clips", tmp_path / "stills"])
    bop = read_bop(tmp_path / "merged" / "bop")
    metas = list(simgen_frames(tmp_path / "merged"))
    assert len(metas) == len(bop["images"]) == 7
    base = max(m["sequence"] for m, _ in metas if m["sequence_length"] > 1) + 1
    for meta, frame in metas:
        if meta["sequence_length"] > 1:
            place = ("train_pbr", meta["sequence"], meta["step"])
        else:
            place = ("train_pbr", base + meta["index"] // SCENE_SIZE, meta["index"] % SCENE_SIZE)
        im = bop["images"][place]
        assert im["rgb"].read_bytes() == (tmp_path / "merged" / "images" / f"{meta['index']:06d}.png").read_bytes()
        objects = sorted((o for o in meta["objects"] if o["category_id"]), key=lambda o: o["instance_id"])
        assert len(im["masks"]) == len(objects)
        for o, (_, mask_visib) in zip(objects, im["masks"]):
            assert np.array_equal(mask_visib > 0, frame["instance"] == o["instance_id"])


@pytest.mark.render
def test_independent_frames_group_into_scenes_of_the_stated_size(frames_ds):
    bop = read_bop(frames_ds / "bop")
    scenes = {(split, sid) for split, sid, _ in bop["images"]}
    assert {sid for _, sid in scenes} == {0, 1}  # 6 frames, 4 per scene
    for split, sid, im_id in bop["images"]:
        assert 0 <= im_id < SCENE_SIZE
    first = json.loads((frames_ds / "meta" / "000000.json").read_text())  # camera.json: the first frame's
    K = np.array(first["K"])
    assert bop["camera"] == {"width": first["width"], "height": first["height"], "fx": K[0, 0], "fy": K[1, 1],
                             "cx": K[0, 2], "cy": K[1, 2], "depth_scale": 0.1}


def test_a_bop_run_without_amodal_masks_is_refused_with_the_fix(tmp_path):
    s = bop_settings(tmp_path / "x")
    s.output.labels = []
    with pytest.raises(SimgenError, match=r"bop format is made from the amodal.*output.labels=\['amodal'\]"):
        run(s)
    assert not (tmp_path / "x").exists()


def test_depth_scale_is_the_smallest_step_that_holds_the_farthest_depth():
    for far_m, scale in ((0.5, 0.1), (6.5, 0.1), (6.6, 0.2), (20.0, 0.4), (100.0, 1.6)):
        d = np.array([[0.3, far_m], [np.inf, 1.0]], np.float32)
        png, got = depth_png(d)
        assert got == pytest.approx(scale) and png[1, 0] == 0 and png.max() <= 65535
        assert abs(png[0, 1] * got - float(np.float32(far_m)) * 1000) <= got / 2
    png, got = depth_png(np.full((2, 2), np.inf, np.float32))
    assert got == 0.1 and not png.any()


def test_diameter_and_rle_against_brute_force():
    rng = np.random.default_rng(3)
    for n in (1, 2, 50, 400):
        p = rng.normal(size=(n, 3)) * [1, 2, 0.5]
        brute = np.sqrt(((p[:, None] - p[None]) ** 2).sum(-1)).max()
        assert diameter(p) == pytest.approx(brute)
    mask = rng.random((7, 5)) > 0.5
    for m in (mask, np.ones((3, 4), bool), np.zeros((3, 4), bool)):
        rle = rle_counts(m)
        back = mask_utils.decode(mask_utils.frPyObjects(rle, *rle["size"])).astype(bool)
        assert np.array_equal(back, m)


@pytest.mark.render
def test_running_the_same_command_again_rebuilds_the_same_export_and_keeps_a_users_file(frames_ds):
    def files() -> dict[str, bytes]:
        bop = frames_ds / "bop"
        return {p.relative_to(bop).as_posix(): p.read_bytes() for p in sorted(bop.rglob("*")) if p.is_file()}

    before = files()
    summary = run(bop_settings(frames_ds))  # every frame on disk: nothing rendered, the export rebuilt
    assert summary.rendered == [] and files() == before
    mine = frames_ds / "bop" / "notes.txt"
    mine.write_text("mine")
    try:
        with pytest.raises(SimgenError, match=r"bop/ holds files simgen did not write \(notes.txt\)"):
            run(bop_settings(frames_ds))
    finally:
        mine.unlink()


def test_a_run_that_makes_a_model_per_object_is_told_before_it_starts(tmp_path):
    from simgen.io.formats.bop import advice

    s = bop_settings(tmp_path / "x")
    assert s.scene.object_scale[0] != s.scene.object_scale[1]  # the default draws a size per object
    assert "scene.object_scale=[0.8, 1.25] draws a size per object" in advice(s) and "scene.object_scale=[1,1]" in advice(s)
    s.objects.parametric = 0.5
    assert "objects.parametric=0.5 generates a shape per object" in advice(s)
    s.scene.object_scale, s.objects.parametric = [1.0, 1.0], 0.0
    assert advice(s) == ""


def test_a_frame_it_cannot_export_keeps_the_old_export_and_leaves_nothing(frames_ds, tmp_path):
    import shutil

    from simgen.io.formats.bop import write_bop
    from simgen.io.dataset.coco_index import CocoIndex
    from simgen.io.dataset.layout import frames_on_disk

    root = tmp_path / "ds"
    shutil.copytree(frames_ds, root)
    (root / "bop" / "simgen_index.json").unlink()  # an export without its record: rebuilt whole
    before = sorted(p.relative_to(root).as_posix() for p in (root / "bop").rglob("*"))
    (root / "amodal" / "000003.npz").unlink()
    index = CocoIndex(root, json.loads((root / "dataset.json").read_text())["categories"])
    index.update(frames_on_disk(root))
    with pytest.raises(SimgenError, match="frame 3 has no amodal/000003.npz"):
        write_bop(root, index, ["train", "val", "test"])
    assert sorted(p.relative_to(root).as_posix() for p in (root / "bop").rglob("*")) == before
    assert not list(root.glob(".bop.*"))  # no half-written export left beside it
