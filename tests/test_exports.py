"""Exports: COCO without reserved keys, train/val/test splits, YOLO boxes, polygons and
keypoints, and the clients in simgen's own environment (pycocotools, torchvision) loading them
with default arguments. FiftyOne and Ultralytics: tests/test_clients.py."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from simgen import SimgenError
from simgen.config import check_settings
from simgen.splits import check_splits, frame_split, split_of
from simgen.io.files import read_json, read_png
from simgen.io.formats.exporters import resolve as resolve_formats
from simgen.io.formats.yolo import mask_polygon, rasterize_polygon, yolo_polygon
from conftest import tiny_settings

REPO = Path(__file__).resolve().parents[1]
FRAMES = 8
SPLITS = {"train": 0.5, "val": 0.25, "test": 0.25}
COCO_IMAGE_KEYS = {"id", "file_name", "width", "height", "simgen"}
COCO_ANN_KEYS = {"id", "image_id", "category_id", "iscrowd", "area", "bbox", "segmentation", "simgen"}
VIDEO_IMAGE_KEYS = {"video_id", "frame_id", "frame_index"}
VIDEO_ANN_KEYS = {"video_id", "track_id"}
"""COCO-video's keys (TAO, mmtracking's CocoVID), in a dataset of sequences such as these."""


def ring_settings(out: Path, frames: int = FRAMES, **kw):
    """Tiny frames where rings are most objects and large (the polygon-with-hole case), in
    sequences of 2, split by sequence, exported as COCO, YOLO and YOLO-seg."""
    s = tiny_settings(out, frames=frames, width=128, height=96, samples=2, **kw)
    s.objects.weights = {"ring": 1000.0}
    s.objects.count = [2, 4]
    s.scene.camera_distance = [0.6, 0.9]
    s.sequence.length = 2
    s.output.formats = ["coco", "yolo", "yolo_seg"]
    s.output.splits = dict(SPLITS)
    return check_settings(s)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    from simgen.pipeline import run

    root = tmp_path_factory.mktemp("exported")
    run(ring_settings(root))
    return root


def _bbox(mask: np.ndarray) -> list[float]:
    """The tight box [x, y, w, h] of a mask, pixel edges (independent of pycocotools)."""
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


# ------------------------------------------------------------------------- splits


def test_split_is_a_pure_function_of_seed_and_unit():
    splits = {"train": 0.8, "val": 0.1, "test": 0.1}
    drawn = [split_of(3, u, splits) for u in range(20000)]
    assert drawn == [split_of(3, u, splits) for u in range(20000)]  # no state
    for name, fraction in splits.items():
        assert abs(drawn.count(name) / len(drawn) - fraction) < 0.01, name
    assert drawn != [split_of(4, u, splits) for u in range(20000)]  # the seed matters
    # by sequence: every frame of a sequence shares its split; by frame: they differ somewhere
    assert {frame_split(3, i, 7, splits, "sequence") for i in range(70, 80)} == {split_of(3, 7, splits)}
    assert len({frame_split(3, i, 7, splits, "frame") for i in range(70, 80)}) > 1
    assert {split_of(1, u, {"train": 1.0}) for u in range(100)} == {"train"}
    assert {split_of(1, u, {"train": 0.0, "all": 1.0}) for u in range(100)} == {"all"}


@pytest.mark.parametrize("splits,fragment", [
    ({}, "empty"), ({"train": 0.9, "val": 0.2}, "sum to 1.1"), ({"a/b": 1.0}, "letters, digits"),
    ({"train": 1.5, "val": -0.5}, r"train=1.5 must be in \[0, 1\]"),
])
def test_bad_splits_are_refused(tmp_path, splits, fragment):
    with pytest.raises(ValueError, match=fragment):
        check_splits(splits)
    s = tiny_settings(tmp_path)
    s.output.splits = splits
    with pytest.raises(SimgenError, match=fragment):
        check_settings(s)


def test_each_frame_records_its_split_and_each_split_has_a_coco_file(exported):
    info = read_json(exported / "dataset.json")
    coco = read_json(exported / "coco.json")
    split_of_image = {}
    for im in coco["images"]:
        meta = read_json(exported / "meta" / f"{im['simgen']['frame_index']:06d}.json")
        assert meta["split"] == im["simgen"]["split"] == split_of(info["seed"], meta["sequence"], SPLITS)
        split_of_image[im["id"]] = meta["split"]
    seen: list[int] = []
    for name in SPLITS:
        part = read_json(exported / f"coco_{name}.json")
        ids = [im["id"] for im in part["images"]]
        assert all(split_of_image[i] == name for i in ids)
        assert [a for a in coco["annotations"] if a["image_id"] in ids] == part["annotations"]
        assert part["categories"] == coco["categories"]
        seen += ids
    assert sorted(seen) == sorted(split_of_image)


def test_a_frame_keeps_its_split_when_rendered_alone(exported, tmp_path):
    from simgen.pipeline import run

    index = FRAMES - 1
    run(ring_settings(tmp_path, frames=1, start=index))
    alone = read_json(tmp_path / "meta" / f"{index:06d}.json")
    assert alone["split"] == read_json(exported / "meta" / f"{index:06d}.json")["split"]
    # every split still gets its file, the frame's own holding it
    assert [len(read_json(tmp_path / f"coco_{s}.json")["images"]) for s in SPLITS] == \
        [int(s == alone["split"]) for s in SPLITS]


# ------------------------------------------------------------------------- COCO clients


def test_coco_has_only_standard_keys_and_simgen_fields_under_simgen(exported):
    coco = read_json(exported / "coco.json")
    assert coco["annotations"], "the run should annotate objects"
    assert set(coco) == {"info", "licenses", "images", "annotations", "categories", "videos", "tracks"}
    for im in coco["images"]:
        assert set(im) == COCO_IMAGE_KEYS | VIDEO_IMAGE_KEYS and set(im["simgen"]) == {"frame_index", "split"}
    for a in coco["annotations"]:
        assert set(a) == COCO_ANN_KEYS | VIDEO_ANN_KEYS
        assert set(a["simgen"]) == {"instance_id", "track_id", "pose", "box3d"}
        assert set(a["simgen"]["pose"]) == {"R", "t", "scale"}
        assert set(a["simgen"]["box3d"]) == {"min", "max", "size", "center", "corners", "projected"}


def test_pycocotools_loads_every_coco_file(exported):
    from pycocotools.coco import COCO

    for name in ["coco", *(f"coco_{s}" for s in SPLITS)]:
        coco = COCO(str(exported / f"{name}.json"))
        for img in coco.dataset["images"]:
            inst = read_png(exported / "instance" / Path(img["file_name"]).name)
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]])):
                mask = inst == ann["simgen"]["instance_id"]
                assert np.array_equal(coco.annToMask(ann).astype(bool), mask)
                assert ann["bbox"] == _bbox(mask)


def test_torchvision_coco_detection_v2_loads_with_defaults(exported):
    import torchvision  # the torch extra, in .[test]
    from torchvision import tv_tensors
    from torchvision.datasets import CocoDetection, wrap_dataset_for_transforms_v2

    coco = read_json(exported / "coco.json")
    ds = wrap_dataset_for_transforms_v2(CocoDetection(str(exported), str(exported / "coco.json")))
    # masks are not among the default target keys: the same dataset asked for them
    with_masks = wrap_dataset_for_transforms_v2(CocoDetection(str(exported), str(exported / "coco.json")),
                                                target_keys={"boxes", "labels", "masks"})
    assert len(ds) == len(coco["images"]) == FRAMES
    for k, im in enumerate(coco["images"]):
        image, target = ds[k]
        anns = sorted((a for a in coco["annotations"] if a["image_id"] == im["id"]), key=lambda a: a["id"])
        inst = read_png(exported / "instance" / Path(im["file_name"]).name)
        assert image.size == (im["width"], im["height"])
        if not anns:
            assert "boxes" not in target
            continue
        assert isinstance(target["boxes"], tv_tensors.BoundingBoxes)
        expected = []
        for a in anns:
            x, y, w, h = _bbox(inst == a["simgen"]["instance_id"])
            expected.append([x, y, x + w, y + h])
        np.testing.assert_allclose(target["boxes"].numpy(), expected)
        assert target["labels"].tolist() == [a["category_id"] for a in anns]
        assert target["image_id"] == im["id"]
        masks = with_masks[k][1]["masks"].numpy().astype(bool)
        for m, a in zip(masks, anns):
            assert np.array_equal(m, inst == a["simgen"]["instance_id"])
    assert torchvision.__version__


# ------------------------------------------------------------------------- YOLO


@pytest.mark.parametrize("folder", ["yolo", "yolo_seg"])
def test_yolo_layout_links_images_and_lists_every_frame(exported, folder):
    data = yaml.safe_load((exported / folder / "data.yaml").read_text())
    coco = read_json(exported / "coco.json")
    assert Path(data["path"]) == (exported / folder).resolve()
    assert data["names"] == {k: c["name"] for k, c in enumerate(coco["categories"])}
    assert [k for k in data if k in SPLITS] == list(SPLITS)
    for im in coco["images"]:
        split, name = im["simgen"]["split"], Path(im["file_name"])
        assert data[split] == f"images/{split}"
        link = exported / folder / "images" / split / name.name
        assert os.stat(link).st_ino == os.stat(exported / name).st_ino, "a hard link, not a copy"
        assert (exported / folder / "labels" / split / f"{name.stem}.txt").is_file()
    files = sorted(p.name for p in (exported / folder / "images").rglob("*.png"))
    assert files == sorted(Path(im["file_name"]).name for im in coco["images"])


def test_yolo_boxes_are_the_tight_boxes_of_the_instance_masks(exported):
    coco = read_json(exported / "coco.json")
    classes = {c["id"]: k for k, c in enumerate(coco["categories"])}
    for im in coco["images"]:
        stem = Path(im["file_name"]).stem
        lines = (exported / "yolo" / "labels" / im["simgen"]["split"] / f"{stem}.txt").read_text().splitlines()
        anns = sorted((a for a in coco["annotations"] if a["image_id"] == im["id"]), key=lambda a: a["id"])
        inst = read_png(exported / "instance" / f"{stem}.png")
        assert len(lines) == len(anns)
        w, h = im["width"], im["height"]
        for line, a in zip(lines, anns):
            cls, cx, cy, bw, bh = line.split()
            x, y, bx, by = _bbox(inst == a["simgen"]["instance_id"])
            assert int(cls) == classes[a["category_id"]]
            np.testing.assert_allclose([float(cx) * w, float(cy) * h, float(bw) * w, float(bh) * h],
                                       [x + bx / 2, y + by / 2, bx, by], atol=1e-4)


def test_ring_polygons_keep_their_hole(exported):
    """The measurement of scripts/yolo_polygon_iou.py on the exported frames: every ring's
    polygon, filled, gives its mask back (IoU >= 0.98), hole included."""
    spec = importlib.util.spec_from_file_location("yolo_polygon_iou", REPO / "scripts" / "yolo_polygon_iou.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    records = script.measure(exported)
    rings = [r for r in records if r["category"] == "ring"]
    assert len(rings) >= 5
    # a ring whose hole is in view: without the hole, the polygon would cover its pixels too
    assert min(r["centre"] for r in rings) >= 0.98 and np.mean([r["centre"] for r in rings]) >= 0.99
    assert min(r["ultralytics"] for r in rings) >= 0.98


def test_polygon_of_a_ring_and_of_split_parts():
    h, w = 90, 120
    yy, xx = np.mgrid[:h, :w]
    r2 = (xx - 50.3) ** 2 + (yy - 44.6) ** 2
    ring = (r2 < 30 ** 2) & (r2 > 14 ** 2)
    poly = yolo_polygon(ring)
    assert np.array_equal(rasterize_polygon(poly, w, h), ring)
    filled = rasterize_polygon(yolo_polygon(r2 < 30 ** 2), w, h)
    assert filled[44, 50] and not rasterize_polygon(poly, w, h)[44, 50]  # the hole stays open
    # a ring cut in two by an occluder, and a single pixel: one polygon each, 3+ vertices
    cut = ring & ~((xx > 45) & (xx < 55))
    got = rasterize_polygon(yolo_polygon(cut), w, h)
    assert (got & cut).sum() / (got | cut).sum() >= 0.98
    pixel = (xx == 7) & (yy == 3)
    assert len(yolo_polygon(pixel)) >= 3 and np.array_equal(rasterize_polygon(yolo_polygon(pixel), w, h), pixel)
    assert len(mask_polygon(np.zeros((4, 4), bool))) == 0


def test_yolo_export_is_rebuilt_whole_and_cleans_up_after_a_killed_one(exported):
    from simgen.io.dataset.layout import DatasetWriter

    before = {p.relative_to(exported).as_posix(): p.read_bytes() for p in (exported / "yolo").rglob("*") if p.is_file()}
    (exported / ".yolo.999999.tmp" / "labels").mkdir(parents=True)  # what a killed export leaves
    (exported / "yolo" / "labels" / "train" / "999999.txt").write_text("0 0.5 0.5 0.1 0.1\n")  # a gone frame's
    writer = DatasetWriter(exported, read_json(exported / "dataset.json")["categories"], previews=False)
    writer.export(resolve_formats(["yolo"], flow=False))
    after = {p.relative_to(exported).as_posix(): p.read_bytes() for p in (exported / "yolo").rglob("*") if p.is_file()}
    assert after == before
    assert not list(exported.glob(".yolo.*"))
    (exported / "yolo" / "labels" / "train" / "notes.txt").write_text("the user's")  # not simgen's: never deleted
    with pytest.raises(SimgenError, match=r"holds files simgen did not write \(labels/train/notes.txt\)"):
        writer.export(resolve_formats(["yolo"], flow=False))
    assert (exported / "yolo" / "labels" / "train" / "notes.txt").read_text() == "the user's"
    (exported / "yolo" / "labels" / "train" / "notes.txt").unlink()


def test_a_split_of_zero_gets_no_files(tmp_path):
    from simgen.io.dataset.layout import DatasetWriter
    from simgen.io.files import write_json

    writer = DatasetWriter(tmp_path, [{"id": 1, "name": "box"}], previews=False)
    write_json(tmp_path / "dataset.json", {"config": {"output": {"splits": {"train": 0.9, "val": 0.1, "test": 0}}}})
    assert writer.split_names() == ["train", "val"]
    writer.export(resolve_formats(["coco"], flow=False))  # no frames: every named split's file, empty
    assert sorted(p.name for p in tmp_path.glob("coco*.json")) == ["coco.json", "coco_train.json", "coco_val.json"]


def test_a_format_made_from_an_optional_label_kind_names_the_fix():
    from simgen.io.formats.exporters import Exporter, missing_labels

    needs = Exporter("needs_amodal", "test", finish=lambda root, index, splits: None, labels=("amodal",))
    assert missing_labels([needs], ["amodal", "visibility"]) == ""
    problem = missing_labels([needs], ["visibility"])
    assert "needs_amodal" in problem and "output.labels=['amodal', 'visibility']" in problem


# ------------------------------------------------------------------------- YOLO pose

POSE_SIZE = (64, 48)  # W, H
POSE_CATEGORIES = [{"id": 1, "name": "box", "supercategory": "shape",
                    "keypoints": [f"corner_{k}" for k in range(8)] + ["centre"],
                    "skeleton": [[1, 2], [2, 3], [3, 4], [4, 1]]},
                   {"id": 3, "name": "cone", "supercategory": "shape",
                    "keypoints": ["tip", "base_a", "base_b", "base_c"], "skeleton": [[1, 2], [1, 3], [1, 4]]}]


def pose_dataset(root: Path) -> dict[int, list[dict]]:
    """A dataset of the keypoints contract without rendering: 3 frames of 64x48 (images/ of
    random pixels, meta/ with COCO annotations carrying ``keypoints`` and ``num_keypoints``),
    categories with 9 and 4 keypoints. Points are in simgen's pixel convention (pixel (u, v)
    covers [u - 0.5, u + 0.5] x [v - 0.5, v + 0.5]): image edges, pixel centres and random
    positions, each with a visibility 0 (x = y = 0), 1 or 2. Returns frame -> its annotations."""
    from simgen.io.files import write_json, write_png

    rng = np.random.default_rng(5)
    w, h = POSE_SIZE
    (root / "images").mkdir(parents=True)
    (root / "meta").mkdir()
    truth = {}
    for i in range(3):
        write_png(root / "images" / f"{i:06d}.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        anns = []
        for iid, cat in enumerate([1, 3, 1][: i + 1], start=1):
            k = len(next(c for c in POSE_CATEGORIES if c["id"] == cat)["keypoints"])
            pts = np.stack([rng.uniform(-0.5, w - 0.5, k), rng.uniform(-0.5, h - 0.5, k)], 1)
            vis = rng.integers(0, 3, k)
            vis[:2] = [2, 1]
            pts[0] = [-0.5, h - 0.5] if iid == 1 else [w - 0.5, -0.5]  # image corners
            pts[1] = [rng.integers(w), rng.integers(h)]  # a pixel centre
            pts[vis == 0] = 0.0
            x, y = rng.integers(0, w // 2), rng.integers(0, h // 2)
            anns.append({"id": i * 65536 + iid, "image_id": i + 1, "category_id": cat, "iscrowd": 0,
                         "bbox": [float(x), float(y), float(rng.integers(1, w // 2)), float(rng.integers(1, h // 2))],
                         "area": 10.0, "segmentation": {"size": [h, w], "counts": ""},
                         "keypoints": [float(v) for p, s in zip(pts, vis) for v in (*p, s)],
                         "num_keypoints": int((vis > 0).sum()), "simgen": {"instance_id": iid}})
        split = "val" if i == 2 else "train"
        write_json(root / "meta" / f"{i:06d}.json", {"index": i, "split": split, "coco": {
            "image": {"id": i + 1, "width": w, "height": h, "simgen": {"frame_index": i, "split": split}},
            "annotations": anns}})
        truth[i] = anns
    write_json(root / "dataset.json", {"categories": POSE_CATEGORIES,
                                       "config": {"output": {"splits": {"train": 0.6, "val": 0.4}}}})
    return truth


def export_pose(root: Path) -> Path:
    """The yolo_pose export of a dataset folder, run by its registered finish function."""
    from simgen.io.dataset.coco_index import CocoIndex
    from simgen.io.formats.exporters import EXPORTERS

    index = CocoIndex(root, read_json(root / "dataset.json")["categories"])
    index.update(sorted(int(p.stem) for p in (root / "meta").glob("*.json")))
    EXPORTERS.get("yolo_pose").finish(root, index, ["train", "val"])
    return root / "yolo_pose" / "data.yaml"


def read_pose_line(line: str, kpt_shape: list[int], width: int, height: int) -> dict:
    """One label line as Ultralytics' pose docs define it: ``<class-index> <x> <y> <width>
    <height> <px1> <py1> <p1-visibility> ...``, box centre, size and keypoints normalized to
    [0, 1] by the image size; back in pixels, keypoints in simgen's pixel-centre convention (a
    normalized x covers the image's [0, W] edge to edge, pixel u's centre at u + 0.5)."""
    fields = line.split()
    k, dims = kpt_shape
    assert len(fields) == 5 + k * dims, line
    cx, cy, bw, bh = (float(v) for v in fields[1:5])
    kp = np.array(fields[5:], float).reshape(k, dims)
    return {"class": int(fields[0]), "bbox": [cx * width - bw * width / 2, cy * height - bh * height / 2,
                                              bw * width, bh * height],
            "xy": kp[:, :2] * [width, height] - 0.5, "v": kp[:, 2].astype(int), "raw": kp}


def test_yolo_pose_lines_read_back_as_ultralytics_documents_them(tmp_path):
    truth = pose_dataset(tmp_path)
    data = yaml.safe_load(export_pose(tmp_path).read_text())
    w, h = POSE_SIZE
    assert data["kpt_shape"] == [9, 3]  # the most keypoints of a category
    assert data["flip_idx"] == list(range(9))
    assert data["names"] == {0: "box", 1: "cone"}
    assert data["kpt_names"] == {0: POSE_CATEGORIES[0]["keypoints"],
                                 1: POSE_CATEGORIES[1]["keypoints"] + ["(none)"] * 5}
    assert (data["train"], data["val"]) == ("images/train", "images/val")
    classes = {1: 0, 3: 1}
    seen = 0
    for i, anns in truth.items():
        split = "val" if i == 2 else "train"
        assert (tmp_path / "yolo_pose" / "images" / split / f"{i:06d}.png").is_file()
        lines = (tmp_path / "yolo_pose" / "labels" / split / f"{i:06d}.txt").read_text().splitlines()
        assert len(lines) == len(anns)
        for line, a in zip(lines, anns):
            got = read_pose_line(line, data["kpt_shape"], w, h)
            assert got["class"] == classes[a["category_id"]]
            np.testing.assert_allclose(got["bbox"], a["bbox"], atol=1e-4)
            kp = np.array(a["keypoints"]).reshape(-1, 3)
            n = len(kp)
            assert got["v"][:n].tolist() == kp[:, 2].astype(int).tolist()  # COCO's 0/1/2, as they are
            on = kp[:, 2] > 0
            np.testing.assert_allclose(got["xy"][:n][on], kp[on, :2], atol=1e-4)
            assert (got["raw"][:n][~on] == 0).all() and (got["raw"][n:] == 0).all()  # 0 0 0: absent, padding
            assert (got["raw"][:, :2] >= 0).all() and (got["raw"][:, :2] <= 1).all()
            seen += 1
        # the image's corners are the normalized 0 and 1; a pixel centre is (u + 0.5) / W
        first = read_pose_line(lines[0], data["kpt_shape"], w, h)["raw"]
        assert first[0, :2].tolist() == [0.0, 1.0]
        u, v = np.array(anns[0]["keypoints"][3:5])
        assert first[1, :2].tolist() == [round((u + 0.5) / w, 6), round((v + 0.5) / h, 6)]
    assert seen == 6


def test_yolo_pose_needs_the_keypoints(tmp_path):
    from simgen.io.formats.exporters import EXPORTERS, missing_labels
    from simgen.io.files import write_json

    pose = EXPORTERS.get("yolo_pose")
    assert pose.labels == ("keypoints",)
    problem = missing_labels([pose], ["rgb"])
    assert "yolo_pose" in problem and "output.labels=['keypoints', 'rgb']" in problem
    from simgen.pipeline import run

    s = tiny_settings(tmp_path / "run", frames=1, width=64, height=48, samples=1)
    s.output.formats = ["coco", "yolo_pose"]
    with pytest.raises(SimgenError, match=r"^output.formats=\['coco', 'yolo_pose'\]: the yolo_pose format is made "
                                          r"from the keypoints label kind\(s\); add them: output.labels=\['keypoints'\]$"):
        run(s)
    assert not (tmp_path / "run").exists()  # refused before it starts
    truth = pose_dataset(tmp_path)
    info = read_json(tmp_path / "dataset.json")
    write_json(tmp_path / "dataset.json", {**info, "categories": [{"id": c["id"], "name": c["name"]}
                                                                  for c in POSE_CATEGORIES]})
    with pytest.raises(SimgenError, match=r"categories name none.*output.labels=\[keypoints\]"):
        export_pose(tmp_path)
    write_json(tmp_path / "dataset.json", info)
    meta = read_json(tmp_path / "meta" / "000001.json")
    del meta["coco"]["annotations"][1]["keypoints"]
    write_json(tmp_path / "meta" / "000001.json", meta)
    shutil.rmtree(tmp_path / "index")  # the index follows the frames on disk, not edits of their meta
    with pytest.raises(SimgenError, match=rf"annotation {truth[1][1]['id']} \(image 2\) has no keypoints"):
        export_pose(tmp_path)
    assert not (tmp_path / "yolo_pose").exists() and not list(tmp_path.glob(".yolo_pose.*"))
