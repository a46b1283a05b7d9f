"""Atomic writers, PNG/NPY/JSON round trips and the dataset layout (incl. a COCO file
that pycocotools loads and whose masks match the instance maps)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_util
from pycocotools.coco import COCO

from simgen import SimgenError
from simgen.io import files as files_mod
from simgen.io.dataset.layout import FRAME_DIRS, DatasetWriter, frame_name, read_frame
from simgen.io.files import atomic_write_bytes, ensure_writable_dir, read_png, write_json, write_npy, write_png
from simgen.io.formats.exporters import resolve as resolve_formats
from simgen.labels import FrameLabels, coco_annotations, coco_image, semantic_from_instance

CATEGORIES = [{"id": 1, "name": "mug", "supercategory": "object"},
              {"id": 2, "name": "box", "supercategory": "object"},
              {"id": 3, "name": "can", "supercategory": "object"}]
COCO_FORMAT = resolve_formats(["coco"], flow=False)


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


# ------------------------------------------------------------------ atomic writes


def test_atomic_write_bytes(tmp_path):
    p = tmp_path / "a.bin"
    atomic_write_bytes(p, b"hello")
    assert p.read_bytes() == b"hello"
    atomic_write_bytes(p, b"")
    assert p.read_bytes() == b""
    assert temp_files(tmp_path) == []


def test_failed_serialisation_keeps_existing_file(tmp_path):
    p = tmp_path / "meta.json"
    write_json(p, {"a": 1})
    before = p.read_bytes()
    with pytest.raises(TypeError):
        write_json(p, {"a": object()})
    assert p.read_bytes() == before
    with pytest.raises(ValueError):
        write_png(tmp_path / "x.png", np.zeros((2, 2), np.float32))
    assert not (tmp_path / "x.png").exists()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["meta.json"]


def test_failed_replace_removes_temp(tmp_path, monkeypatch):
    p = tmp_path / "data.npy"
    write_npy(p, np.arange(3))
    before = p.read_bytes()

    def boom(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(files_mod.os, "replace", boom)
    with pytest.raises(OSError, match="disk on fire"):
        write_npy(p, np.arange(10))
    monkeypatch.undo()
    assert p.read_bytes() == before
    assert temp_files(tmp_path) == []
    assert [x.name for x in tmp_path.iterdir()] == ["data.npy"]


def test_temp_file_naming(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(files_mod.os, "replace", spy)
    atomic_write_bytes(tmp_path / "f.png", b"x")
    (src, dst), = seen
    assert src.parent == dst.parent == tmp_path
    assert src.name.startswith(".") and src.name.endswith(".tmp")


# ------------------------------------------------------------------ round trips


def test_png_round_trips_bit_exact(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (13, 17), dtype=np.uint8)
    u16 = rng.integers(0, 65536, (13, 17), dtype=np.uint16)
    u16[0, 0], u16[0, 1], u16[0, 2] = 0, 65535, 256
    for name, img in (("rgb", rgb), ("gray", gray), ("u16", u16)):
        path = tmp_path / f"{name}.png"
        write_png(path, img)
        back = read_png(path)
        assert back.dtype == img.dtype and back.shape == img.shape
        np.testing.assert_array_equal(back, img)
    # files are ordinary PNGs with the right channel order for other readers
    raw = cv2.imread(str(tmp_path / "rgb.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(raw, rgb[..., ::-1])
    raw16 = cv2.imread(str(tmp_path / "u16.png"), cv2.IMREAD_UNCHANGED)
    assert raw16.dtype == np.uint16
    np.testing.assert_array_equal(raw16, u16)
    from PIL import Image
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "rgb.png").convert("RGB")), rgb)


def test_png_rejects_other_arrays(tmp_path):
    for bad in (np.zeros((2, 2, 3), np.uint16), np.zeros((2, 2, 4), np.uint8),
                np.zeros((2, 2), np.int32), np.zeros((2, 2), np.float32)):
        with pytest.raises(ValueError):
            write_png(tmp_path / "bad.png", bad)
    assert list(tmp_path.iterdir()) == []


def test_npy_round_trip_bit_exact(tmp_path):
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.1, 10, (9, 11)).astype(np.float32)
    depth[0, :3] = [np.inf, np.nan, -0.0]
    depth[1, 0] = np.finfo(np.float32).tiny
    normal = rng.normal(size=(9, 11, 3)).astype(np.float32)
    for name, arr in (("depth", depth), ("normal", normal)):
        write_npy(tmp_path / f"{name}.npy", arr)
        back = np.load(tmp_path / f"{name}.npy", allow_pickle=False)
        assert back.dtype == arr.dtype and back.shape == arr.shape
        np.testing.assert_array_equal(back.view(np.uint32), arr.view(np.uint32))


def test_json_numpy_types_order_and_determinism(tmp_path):
    obj = {"z": np.int64(3), "a": np.float32(0.5), "m": np.arange(3, dtype=np.uint16),
           "b": np.bool_(True), "inf": float("inf"), "nested": [{"y": 1, "x": np.float64(0.1)}]}
    write_json(tmp_path / "a.json", obj)
    write_json(tmp_path / "b.json", obj)
    a = (tmp_path / "a.json").read_bytes()
    assert a == (tmp_path / "b.json").read_bytes()
    text = a.decode()
    assert text.index('"z"') < text.index('"a"') < text.index('"m"')  # insertion order
    back = json.loads(text)
    assert back == {"z": 3, "a": 0.5, "m": [0, 1, 2], "b": True, "inf": float("inf"),
                    "nested": [{"y": 1, "x": 0.1}]}
    write_json(tmp_path / "c.json", obj, indent=2)
    assert json.loads((tmp_path / "c.json").read_text()) == back


# ------------------------------------------------------------------ output dir


def test_ensure_writable_dir(tmp_path):
    d = ensure_writable_dir(tmp_path / "a" / "b")
    assert d == tmp_path / "a" / "b" and d.is_dir() and list(d.iterdir()) == []
    assert ensure_writable_dir(d) == d  # existing dir is fine


def test_ensure_writable_dir_under_file(tmp_path):
    f = tmp_path / "plain_file"
    f.write_text("x")
    with pytest.raises(SimgenError, match="cannot write to output dir .*choose another output.dir"):
        ensure_writable_dir(f / "sub")
    with pytest.raises(SimgenError, match="cannot write to output dir"):
        ensure_writable_dir(f)
    with pytest.raises(SimgenError):
        DatasetWriter(f / "ds", CATEGORIES)


# ------------------------------------------------------------------ dataset


def random_instance_map(seed: int, h: int, w: int):
    """Random objects incl. touching, 1-pixel, border, split, category-0 and hidden ones."""
    rng = np.random.default_rng(seed)
    inst = np.zeros((h, w), np.uint16)
    yy, xx = np.mgrid[:h, :w]
    category_of: dict[int, int] = {}
    ids = iter(rng.permutation(np.arange(1, 65536))[:40].tolist())

    def new(cat):
        i = next(ids)
        category_of[i] = cat
        return i

    for _ in range(int(rng.integers(2, 6))):
        cy, cx, ry, rx = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(2, h / 3), rng.uniform(2, w / 3)
        inst[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = new(int(rng.integers(1, 4)))
    y0, x0 = int(rng.integers(0, h - 6)), int(rng.integers(0, w - 10))
    inst[y0:y0 + 5, x0:x0 + 4] = new(1)          # two touching boxes
    inst[y0:y0 + 5, x0 + 4:x0 + 9] = new(2)
    inst[0:2, 3:9] = new(3)                     # top border
    inst[h - 3:h, w - 1] = new(2)               # bottom-right corner, 1 px wide
    inst[4:9, 0:3] = new(1)                     # left border
    split = new(2)                              # two disjoint parts
    inst[h // 2, w - 2:w] = split
    inst[1, 1] = split
    inst[h - 4:h - 2, 5:12] = new(0)            # ground / distractor
    inst[int(rng.integers(0, h)), int(rng.integers(0, w))] = new(3)  # one pixel
    new(1)                                      # listed, never visible
    return inst, category_of


def make_frame(index: int, inst: np.ndarray, category_of: dict[int, int]):
    h, w = inst.shape
    rng = np.random.default_rng(index)
    depth = rng.uniform(0.5, 4, (h, w)).astype(np.float32)
    depth[inst == 0] = np.inf
    normal = rng.normal(size=(h, w, 3)).astype(np.float32)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    normal[inst == 0] = 0
    labels = FrameLabels(rgb=rng.integers(0, 256, (h, w, 3), dtype=np.uint8), instance=inst,
                         semantic=semantic_from_instance(inst, category_of), depth=depth, normal=normal)
    anns = coco_annotations(inst, category_of, index)
    meta = {"frame_index": index, "params": {"seed": np.int64(index), "exposure": np.float32(1.5)},
            "coco": {"image": coco_image(index, w, h, f"images/{frame_name(index)}.png"),
                     "annotations": anns}}
    return labels, meta


def test_frame_name():
    assert frame_name(0) == "000000"
    assert frame_name(42) == "000042"
    assert frame_name(1234567) == "1234567"
    with pytest.raises(ValueError):
        frame_name(-1)


def test_dataset_writer_round_trip(tmp_path):
    root = tmp_path / "ds"
    writer = DatasetWriter(root, CATEGORIES)
    for d in FRAME_DIRS + ("models",):
        assert (root / d).is_dir()
    inst, cats = random_instance_map(0, 30, 45)
    labels, meta = make_frame(7, inst, cats)
    writer.write_frame(7, labels, meta)
    back = read_frame(root, 7)
    for key in ("rgb", "instance", "semantic", "depth", "normal"):
        want = getattr(labels, key)
        assert back[key].dtype == want.dtype and back[key].shape == want.shape, key
        np.testing.assert_array_equal(back[key].view(np.uint8), want.view(np.uint8))
    assert back["meta"]["params"] == {"seed": 7, "exposure": 1.5}
    assert back["meta"]["coco"]["annotations"] == json.loads(json.dumps(meta["coco"]["annotations"]))
    for kind in ("instance", "semantic", "depth", "normal", "overlay"):
        pic = read_png(root / "previews" / kind / "000007.png")
        assert pic.shape == (30, 45, 3) and pic.dtype == np.uint8
    assert writer.frames_on_disk() == [7]
    assert temp_files(root) == []


def test_dataset_without_previews(tmp_path):
    writer = DatasetWriter(tmp_path, CATEGORIES, previews=False)
    inst, cats = random_instance_map(1, 10, 12)
    writer.write_frame(0, *make_frame(0, inst, cats))
    assert not (tmp_path / "previews").exists()
    assert writer.frames_on_disk() == [0]


def test_write_frame_validates_meta(tmp_path):
    writer = DatasetWriter(tmp_path, CATEGORIES)
    inst, cats = random_instance_map(2, 10, 12)
    labels, meta = make_frame(3, inst, cats)
    with pytest.raises(ValueError, match="coco"):
        writer.write_frame(3, labels, {"params": {}})
    with pytest.raises(ValueError, match="image id"):
        writer.write_frame(4, labels, meta)
    bad = {**meta, "coco": {**meta["coco"], "annotations": [{**meta["coco"]["annotations"][0], "category_id": 99}]}}
    with pytest.raises(ValueError, match="unknown category"):
        writer.write_frame(3, labels, bad)
    wrong = FrameLabels(labels.rgb, labels.instance.astype(np.int32), labels.semantic, labels.depth, labels.normal)
    with pytest.raises(ValueError, match="instance"):
        writer.write_frame(3, wrong, meta)
    assert writer.frames_on_disk() == []


@pytest.mark.parametrize("seed", range(4))
def test_coco_file_loads_and_matches_instance_maps(tmp_path, seed):
    h, w = 37, 53
    frames = {}
    # two "shards" writing disjoint frames into the same directory
    shard_a = DatasetWriter(tmp_path, CATEGORIES)
    shard_b = DatasetWriter(tmp_path, CATEGORIES, previews=False)
    for k, index in enumerate([0, 1, 5, 2, 1000]):
        inst, cats = random_instance_map(seed * 100 + k, h, w)
        if index == 5:  # a frame with no (annotated) objects at all
            inst = np.zeros((h, w), np.uint16)
        frames[index] = (inst, cats)
        (shard_a if k % 2 == 0 else shard_b).write_frame(index, *make_frame(index, inst, cats))
    coco_dict = shard_b.write_coco()
    assert coco_dict == json.loads((tmp_path / "coco.json").read_text())
    assert [im["id"] for im in coco_dict["images"]] == [1, 2, 3, 6, 1001]
    assert coco_dict["categories"] == CATEGORIES and coco_dict["licenses"] == []

    coco = COCO(str(tmp_path / "coco.json"))
    assert sorted(coco.getImgIds()) == [1, 2, 3, 6, 1001]
    ann_ids = [a["id"] for a in coco_dict["annotations"]]
    assert len(ann_ids) == len(set(ann_ids)) and ann_ids == sorted(ann_ids)
    valid_cats = {c["id"] for c in CATEGORIES}
    for index, (inst, cats) in frames.items():
        img = coco.loadImgs(index + 1)[0]
        assert img["file_name"] == f"images/{frame_name(index)}.png"
        assert (root_file := tmp_path / img["file_name"]).is_file(), root_file
        assert (img["width"], img["height"]) == (w, h)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[index + 1]))
        visible = set(np.unique(inst).tolist()) - {0}
        expected = sorted(i for i in visible if cats[i] != 0)
        assert sorted(a["simgen"]["instance_id"] for a in anns) == expected
        if index == 5:
            assert anns == []
        for a in anns:
            mask = inst == a["simgen"]["instance_id"]
            np.testing.assert_array_equal(coco.annToMask(a).astype(bool), mask)
            assert a["category_id"] in valid_cats and a["category_id"] == cats[a["simgen"]["instance_id"]]
            assert a["area"] == int(mask.sum()) == int(mask_util.area(a["segmentation"]))
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            tight = [float(cols.min()), float(rows.min()),
                     float(cols.max() - cols.min() + 1), float(rows.max() - rows.min() + 1)]
            assert a["bbox"] == tight == mask_util.toBbox(a["segmentation"]).tolist()
            assert a["iscrowd"] == 0
    # evaluating the ground truth against itself works end to end
    assert len(coco.getCatIds()) == 3
    assert temp_files(tmp_path) == []


def test_write_coco_ignores_incomplete_frames_and_is_deterministic(tmp_path):
    writer = DatasetWriter(tmp_path, CATEGORIES)
    inst, cats = random_instance_map(3, 12, 14)
    writer.write_frame(0, *make_frame(0, inst, cats))
    # a frame whose meta never got written (crash) and a stray temp file
    write_png(tmp_path / "images" / "000001.png", np.zeros((12, 14, 3), np.uint8))
    (tmp_path / "meta" / ".000001.json.abc.tmp").write_text("{")
    assert writer.frames_on_disk() == [0]
    first = writer.write_coco()
    data = (tmp_path / "coco.json").read_bytes()
    writer.write_coco()
    assert (tmp_path / "coco.json").read_bytes() == data
    assert [im["id"] for im in first["images"]] == [1]


def test_write_model(tmp_path):
    import trimesh

    writer = DatasetWriter(tmp_path, CATEGORIES)
    mesh = trimesh.creation.box(extents=(1.0, 2.0, 3.0))
    rel = writer.write_model("models/mug/mug_a.ply", mesh)
    assert rel == "models/mug/mug_a.ply"
    path = tmp_path / "models" / "mug" / "mug_a.ply"
    assert path.read_bytes().startswith(b"ply\nformat binary_little_endian")
    back = trimesh.load(path, force="mesh")
    np.testing.assert_allclose(back.extents, [1.0, 2.0, 3.0])
    assert len(back.faces) == len(mesh.faces)
    mtime = path.stat().st_mtime_ns
    writer.write_model("models/mug/mug_a.ply", trimesh.creation.icosphere())  # exists: skipped
    assert path.stat().st_mtime_ns == mtime and len(trimesh.load(path, force="mesh").faces) == 12
    for bad in ("../escape.ply", "/abs/x.ply"):
        with pytest.raises(ValueError):
            writer.write_model(bad, mesh)
    assert temp_files(tmp_path) == []


def test_write_dataset_json(tmp_path):
    writer = DatasetWriter(tmp_path, CATEGORIES)
    writer.write_dataset_json({"name": "t", "frames": np.int64(3), "seed": 1})
    assert json.loads((tmp_path / "dataset.json").read_text()) == {"name": "t", "frames": 3, "seed": 1}


def test_categories_validated(tmp_path):
    with pytest.raises(ValueError):
        DatasetWriter(tmp_path, [{"id": 0, "name": "bg"}])
    with pytest.raises(ValueError):
        DatasetWriter(tmp_path, [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}])


def test_shards_ending_together_rebuild_the_index_one_at_a_time(tmp_path):
    """Shard A lists the frames on disk and is held there (as SIGSTOP would); shard B writes
    a frame and ends. Under the dataset lock B waits for A, lists afresh and writes last, so
    coco.json and dataset.json hold every frame; without it A's stale listing would win."""
    import threading

    from simgen.pipeline.finish import finish_dataset

    a, b = DatasetWriter(tmp_path, CATEGORIES), DatasetWriter(tmp_path, CATEGORIES)
    a.write_frame(0, *make_frame(0, *random_instance_map(0, 20, 30)))
    listed, go = threading.Event(), threading.Event()
    real = a.frames_on_disk

    def held_listing():
        frames = real()
        listed.set()
        go.wait(10)
        return frames

    a.frames_on_disk = held_listing
    ends = {}
    shard_a = threading.Thread(target=lambda: ends.setdefault("a", finish_dataset(a, {"shard": "a"}, COCO_FORMAT)))
    shard_a.start()
    assert listed.wait(10)
    b.write_frame(1, *make_frame(1, *random_instance_map(1, 20, 30)))
    shard_b = threading.Thread(target=lambda: ends.setdefault("b", finish_dataset(b, {"shard": "b"}, COCO_FORMAT)))
    shard_b.start()
    shard_b.join(0.5)
    assert shard_b.is_alive(), "B rebuilt the index while A held it"
    go.set()
    shard_a.join(10)
    shard_b.join(10)
    assert ends["a"][0] == [0] and ends["b"][0] == [0, 1]
    info = json.loads((tmp_path / "dataset.json").read_text())
    assert info["shard"] == "b" and info["frames"] == [0, 1]
    assert [im["id"] for im in json.loads((tmp_path / "coco.json").read_text())["images"]] == [1, 2]


def test_coco_index_rebuilds_only_the_chunks_whose_frames_changed(tmp_path):
    from simgen.io.dataset.coco_index import CHUNK, CocoIndex

    writer = DatasetWriter(tmp_path, CATEGORIES, previews=False)
    frames = [0, 3, CHUNK + 1, 2 * CHUNK + 5]
    for i in frames:
        writer.write_frame(i, *make_frame(i, *random_instance_map(i, 20, 30)))

    def reference() -> dict:  # straight from the meta files, as a user would
        metas = [json.loads(p.read_text()) for p in sorted((tmp_path / "meta").glob("*.json"))]
        return {"images": [m["coco"]["image"] for m in metas],
                "annotations": sorted((a for m in metas for a in m["coco"]["annotations"]), key=lambda a: a["id"])}

    index = CocoIndex(tmp_path, CATEGORIES)
    assert index.update(writer.frames_on_disk()) == 3
    index.write_coco(tmp_path / "coco.json")
    coco = json.loads((tmp_path / "coco.json").read_text())
    assert {k: coco[k] for k in ("images", "annotations")} == reference() and coco["categories"] == CATEGORIES
    assert index.annotations == len(coco["annotations"]) and index.images == 4
    chunk1 = tmp_path / "index" / "coco-000001.jsonl"
    before = chunk1.stat().st_mtime_ns
    assert CocoIndex(tmp_path, CATEGORIES).update(writer.frames_on_disk()) == 0  # nothing changed: nothing read
    writer.write_frame(7, *make_frame(7, *random_instance_map(7, 20, 30)))  # a new frame in chunk 0
    (tmp_path / "meta" / f"{2 * CHUNK + 5:06d}.json").unlink()  # chunk 2 loses its only frame
    index = CocoIndex(tmp_path, CATEGORIES)
    assert index.update(writer.frames_on_disk()) == 1
    assert chunk1.stat().st_mtime_ns == before and not (tmp_path / "index" / "coco-000002.jsonl").exists()
    index.write_coco(tmp_path / "coco.json")
    coco = json.loads((tmp_path / "coco.json").read_text())
    assert {k: coco[k] for k in ("images", "annotations")} == reference()
    COCO(str(tmp_path / "coco.json"))  # pycocotools loads it


@pytest.mark.parametrize("syncfs", [True, False], ids=["syncfs", "fsync"])
def test_frame_folders_are_durable_before_its_meta(tmp_path, monkeypatch, syncfs):
    """Crash safety: every file of the frame (its labels, flow fields, previews) has its data made
    durable before its rename, and its folder entry after the rename and before the meta file (the
    frame's commit) is renamed in: by an fsync of the file and of its folder, or by a syncfs of the
    file system (on those whose syncfs makes everything durable, files.SYNCFS_TYPES)."""
    writer = DatasetWriter(tmp_path, CATEGORIES, previews=True)
    inst, cats = random_instance_map(3, 12, 14)
    events: list[tuple[str, str]] = []
    fsync, replace, real_syncfs = os.fsync, os.replace, files_mod._syncfs

    def final_name(path: str) -> str:  # a temp file's final name (files._open_temp's pattern)
        folder, name = os.path.split(path)
        return os.path.relpath(os.path.join(folder, name[1:].rsplit(".", 2)[0]), tmp_path)

    def recording_fsync(fd):
        path = os.readlink(f"/proc/self/fd/{fd}")
        if os.path.isdir(path):
            events.append(("dir", os.path.relpath(path, tmp_path)))
        elif path.endswith(files_mod.TMP_SUFFIX):
            events.append(("data", final_name(path)))
        return fsync(fd)

    def recording_syncfs(fd):
        events.append(("syncfs", ""))
        return real_syncfs(fd)

    def recording_replace(src, dst):
        events.append(("file", os.path.relpath(dst, tmp_path)))
        return replace(src, dst)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    monkeypatch.setattr(files_mod, "_syncfs", recording_syncfs)
    monkeypatch.setattr(files_mod, "_syncable", lambda fd: syncfs)  # whatever tmp_path's file system is
    flow = np.zeros((12, 14, 2), np.float32)
    writer.write_flow(0, "forward", flow, np.ones((12, 14), bool), formats=resolve_formats(["flo"], flow=True))
    writer.write_frame(0, *make_frame(0, inst, cats))
    files = [name for kind, name in events if kind == "file"]
    assert files[-1] == "meta/000000.json"
    commit = events.index(("file", "meta/000000.json"))
    for name in files:
        renamed = events.index(("file", name))
        assert any(e in (("syncfs", ""), ("data", name)) for e in events[:renamed]), f"{name}'s data not synced"
    for name in files[:-1]:
        renamed = events.index(("file", name))
        assert any(e in (("syncfs", ""), ("dir", os.path.dirname(name))) for e in events[renamed + 1:commit]), \
            f"{name}'s folder not synced before meta"
    assert {os.path.dirname(n) for n in files[:-1]} >= {"images", "instance", "semantic", "depth", "normal",
                                                       "flow_forward", "flow_forward_valid", "previews/overlay"}
    if syncfs:  # the frame's files in two calls (its flow fields in one more, before)
        assert [k for k, _ in events[events.index(("file", "flow_forward/000000.flo")):]].count("syncfs") == 2
        assert not any(k == "dir" for k, _ in events)


def test_a_failed_frame_leaves_no_temp_file(tmp_path, monkeypatch):
    """A frame whose writing fails (a full disk) removes the temp files of its batch, written or not."""
    writer = DatasetWriter(tmp_path, CATEGORIES, previews=False)
    inst, cats = random_instance_map(3, 12, 14)
    write_all, calls = files_mod._write_all, []

    def full(fd, data):
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return write_all(fd, data)

    monkeypatch.setattr(files_mod, "_write_all", full)
    with pytest.raises(OSError):
        writer.write_frame(0, *make_frame(0, inst, cats))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_live_writers_temp_file_is_kept_whatever_its_pid(tmp_path):
    """Containers sharing a folder see each other's PIDs as unrelated numbers: a temp file is a
    killed writer's only when the writer's lock on it is gone."""
    import subprocess
    import sys

    code = ("import os, sys, time; from pathlib import Path; from simgen.io.files import _open_temp; "
            f"fd, tmp = _open_temp(Path({str(tmp_path / 'coco.json')!r})); os.write(fd, b'partial'); "
            "dead = tmp.with_name(tmp.name.replace(f'-{os.getpid()}-', '-999999-')); os.rename(tmp, dead); "
            "print(dead.name, flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        name = child.stdout.readline().strip()
        assert "-999999-" in name  # a PID that runs nowhere here
        assert files_mod.remove_stale_temps(tmp_path) == []
        assert (tmp_path / name).exists()
    finally:
        child.kill()
        child.wait()
    assert files_mod.remove_stale_temps(tmp_path) == [tmp_path / name]  # its writer is gone
    fd, fresh = files_mod._open_temp(tmp_path / "x.json")
    os.close(fd)  # empty and unlocked, as in the moment between creating and locking it
    assert files_mod.remove_stale_temps(tmp_path) == [] and fresh.exists()


def test_an_export_folder_s_temp_files_are_simgen_s_own_never_foreign(tmp_path):
    """In a folder written only under the dataset's lock: a killed writer's temp file, empty or
    not, is removed at once (any_age: a file written only under that lock), never called foreign; a folder replaced whole while a
    writer that may be live has a temp file there (held on this host, or another host's) is
    refused with a message that says so, and the file is left alone."""
    from simgen.io.files import live_temps, off_layout, rebuilt_folder

    folder = tmp_path / "yolo"
    folder.mkdir()
    fd, dead = files_mod._open_temp(folder / "data.yaml")
    os.close(fd)  # empty, unlocked: killed between creating and its first byte
    layout = re.compile(r"^data\.yaml$")
    assert off_layout(folder, layout) == [] and live_temps(folder) == []
    assert files_mod.remove_stale_temps(folder) == []  # young and empty: may be a writer before its lock
    assert files_mod.remove_stale_temps(folder, any_age=lambda name: name == "other.yaml") == []
    assert files_mod.remove_stale_temps(folder, any_age=lambda name: name == "data.yaml") == [dead]
    other = folder / ".data.yaml.otherhost-42-0123456789ab.tmp"
    other.write_bytes(b"")
    assert off_layout(folder, layout) == [] and files_mod.remove_stale_temps(folder, any_age=lambda name: True) == []
    with pytest.raises(SimgenError, match=r"being written by another simgen process \(\.data\.yaml\.otherhost-42-"
                                          r"0123456789ab\.tmp: host otherhost, PID 42\)"):
        with rebuilt_folder(tmp_path, "yolo", lambda f: off_layout(f, layout)):
            pass
    assert other.is_file()
    other.unlink()
    fd, held = files_mod._open_temp(folder / "data.yaml")  # this process's, locked: a live writer
    try:
        assert live_temps(folder) == [f"{held.name}: host {files_mod._HOST}, PID {os.getpid()}"]
    finally:
        os.close(fd)
    with rebuilt_folder(tmp_path, "yolo", lambda f: off_layout(f, layout)) as tmp:
        (tmp / "data.yaml").write_text("ok")  # its writer gone: replaced with the folder
    assert [p.name for p in folder.iterdir()] == ["data.yaml"]


def test_a_durable_batch_whose_block_fails_leaves_nothing(tmp_path):
    from simgen.io.files import DurableBatch

    with pytest.raises(RuntimeError):
        with DurableBatch() as batch:
            batch.add(tmp_path / "a.bin", b"a")
            batch.add(tmp_path / "b.bin", b"b")
            raise RuntimeError("an encoder failed")
    assert list(tmp_path.iterdir()) == []  # neither the temp files nor the final names
    with DurableBatch() as batch:
        batch.add(tmp_path / "a.bin", b"a")
        renamed = batch.commit()
    assert renamed == [tmp_path] and (tmp_path / "a.bin").read_bytes() == b"a"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]
