"""Exports: COCO without reserved keys, train/val/test splits, YOLO boxes and polygons, and the
clients in simgen's own environment (pycocotools, torchvision) loading them with default
arguments. FiftyOne and Ultralytics: tests/test_clients.py."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from simgen import SimgenError
from simgen.config import check_settings
from simgen.core.splits import check_splits, frame_split, split_of
from simgen.io.files import read_json, read_png
from simgen.io.yolo import mask_polygon, rasterize_polygon, yolo_polygon
from conftest import tiny_settings

REPO = Path(__file__).resolve().parents[1]
FRAMES = 8
SPLITS = {"train": 0.5, "val": 0.25, "test": 0.25}
COCO_IMAGE_KEYS = {"id", "file_name", "width", "height", "simgen"}
COCO_ANN_KEYS = {"id", "image_id", "category_id", "iscrowd", "area", "bbox", "segmentation", "simgen"}


def ring_settings(out: Path, frames: int = FRAMES, **kw):
    """Tiny frames where rings are most objects and large (the polygon-with-hole case), in
    sequences of 2, split by sequence, exported as COCO, YOLO and YOLO-seg."""
    s = tiny_settings(out, frames=frames, width=128, height=96, samples=2, **kw)
    s.objects.weights = {"ring": 1000.0}
    s.objects.count = [2, 4]
    s.camera.distance = [0.6, 0.9]
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
    for im in coco["images"]:
        assert set(im) == COCO_IMAGE_KEYS and set(im["simgen"]) == {"frame_index", "split"}
    for a in coco["annotations"]:
        assert set(a) == COCO_ANN_KEYS
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
    torchvision = pytest.importorskip("torchvision", reason="torchvision is not installed in this environment")
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
    from simgen.io.dataset import DatasetWriter

    before = {p.relative_to(exported).as_posix(): p.read_bytes() for p in (exported / "yolo").rglob("*") if p.is_file()}
    (exported / ".yolo.999999.tmp" / "labels").mkdir(parents=True)  # what a killed export leaves
    (exported / "yolo" / "labels" / "train" / "999999.txt").write_text("0 0.5 0.5 0.1 0.1\n")  # a gone frame's
    writer = DatasetWriter(exported, read_json(exported / "dataset.json")["categories"], previews=False)
    writer.export(["yolo"])
    after = {p.relative_to(exported).as_posix(): p.read_bytes() for p in (exported / "yolo").rglob("*") if p.is_file()}
    assert after == before
    assert not list(exported.glob(".yolo.*"))
    (exported / "yolo" / "labels" / "train" / "notes.txt").write_text("the user's")  # not simgen's: never deleted
    with pytest.raises(SimgenError, match=r"holds files simgen did not write \(labels/train/notes.txt\)"):
        writer.export(["yolo"])
    assert (exported / "yolo" / "labels" / "train" / "notes.txt").read_text() == "the user's"
    (exported / "yolo" / "labels" / "train" / "notes.txt").unlink()


def test_a_split_of_zero_gets_no_files(tmp_path):
    from simgen.io.dataset import DatasetWriter
    from simgen.io.files import write_json

    writer = DatasetWriter(tmp_path, [{"id": 1, "name": "box"}], previews=False)
    write_json(tmp_path / "dataset.json", {"config": {"output": {"splits": {"train": 0.9, "val": 0.1, "test": 0}}}})
    assert writer.split_names() == ["train", "val"]
    writer.export(["coco"])  # no frames: every named split's file, empty
    assert sorted(p.name for p in tmp_path.glob("coco*.json")) == ["coco.json", "coco_train.json", "coco_val.json"]


def test_a_format_made_from_an_optional_label_kind_names_the_fix():
    from simgen.io.exporters import Exporter, missing_labels

    needs = Exporter("needs_amodal", "test", finish=lambda root, index, splits: None, labels=("amodal",))
    assert missing_labels([needs], ["amodal", "visibility"]) == ""
    problem = missing_labels([needs], ["visibility"])
    assert "needs_amodal" in problem and "output.labels=['amodal', 'visibility']" in problem
