"""Exports that grow with the dataset: the YOLO and BOP exports rewrite only what changed since
the last export (frames added by a resumed run or a shard, frames gone, frames rendered again),
and the result is byte for byte a from-scratch export's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import set_settings, tiny_settings
from fake_renderer import FakeRenderer
from simgen import SimgenError
from simgen.io.dataset import coco_index
from simgen.io.dataset.layout import DatasetWriter
from simgen.io.files import read_json
from simgen.io.formats.exporters import resolve
from simgen.pipeline import run

FORMATS = ["coco", "yolo", "yolo_seg", "bop"]
FOLDERS = ("yolo", "yolo_seg", "bop")


def settings(out: Path, frames: int):
    s = set_settings(tiny_settings(out, frames=frames, width=64, height=48), output__formats=FORMATS,
                     output__labels=["amodal"], output__bop_scene_size=4)  # BOP scenes of 4 frames
    s.scene.object_scale = [1.0, 1.0]  # a BOP model per asset
    return s


def export(root: Path) -> None:
    DatasetWriter(root, read_json(root / "dataset.json")["categories"], previews=False).export(resolve(FORMATS, flow=False))


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def inodes(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_ino for p in folder.rglob("*") if p.is_file()}


def mtimes(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def from_scratch(root: Path, tmp: Path) -> dict[str, dict[str, bytes]]:
    """The exports of a copy of ``root`` built with no earlier export or index."""
    copy = tmp / "scratch"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns(*FOLDERS, "index"))
    export(copy)
    return exports(copy)


def exports(root: Path) -> dict[str, dict[str, bytes]]:
    return {f: {k: v for k, v in files(root / f).items() if k != "data.yaml"} for f in FOLDERS}


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(coco_index, "CHUNK", 2)  # chunks of 2 frames: a few frames span several


def test_more_frames_rewrite_only_their_chunks_and_equal_a_fresh_export(tmp_path, small_chunks):
    out = tmp_path / "data"
    run(settings(out, 10), make_renderer=FakeRenderer)  # chunks 0..4; every model of frames 0..10 appears
    before, bop = mtimes(out / "yolo"), inodes(out / "bop")
    run(settings(out, 13), make_renderer=FakeRenderer)  # frames 10..12: chunks 5 and 6
    after = mtimes(out / "yolo")
    untouched = [k for k in before if k.count("/") == 2 and int(k.split("/")[-1][:6]) < 10]
    assert untouched and all(after[k] == before[k] for k in untouched)
    # BOP (scenes of 4): the models and scenes 0 and 1 (frames 0..7) are not written again; scene 2
    # (frames 8, 9, then 10 and 11) is, its images of frames 8 and 9 taken from the old folder
    after = inodes(out / "bop")
    assert {k.split("/")[1] for k in bop if "_pbr/" in k} == {"000000", "000001", "000002"}
    assert all(after[k] == n for k, n in bop.items() if k.startswith("models/") or "/000000/" in k or "/000001/" in k)
    kept = [k for k in bop if "/000002/" in k and k.rsplit("/", 1)[-1][:6] in ("000000", "000001")
            and "/rgb/" not in k]  # the depth and mask files of images 0 and 1 (frames 8 and 9)
    assert kept and all(after[k] == bop[k] for k in kept)
    assert all(after[k] != n for k, n in bop.items() if "/000002/scene_" in k)  # the scene's files: rewritten
    assert exports(out) == from_scratch(out, tmp_path)


def test_a_frame_gone_or_rendered_again_is_followed_by_the_export(tmp_path, small_chunks):
    out = tmp_path / "data"
    run(settings(out, 6), make_renderer=FakeRenderer)
    (out / "meta" / "000003.json").unlink()  # frame 3 is gone (its other files stay: not a frame)
    export(out)
    assert not any("000003" in k for k in files(out / "yolo"))
    assert exports(out) == from_scratch(out, tmp_path)
    run(settings(out, 6), make_renderer=FakeRenderer)  # renders frame 3 again
    assert any("000003" in k for k in files(out / "yolo"))
    assert exports(out) == from_scratch(out, tmp_path)


def test_an_export_of_another_kind_is_rebuilt_whole(tmp_path, small_chunks):
    """A manifest that does not match (another split set, a hand-edited one) rebuilds the export."""
    out = tmp_path / "data"
    run(settings(out, 4), make_renderer=FakeRenderer)
    manifest = out / "yolo" / "simgen_index.json"
    manifest.write_text(manifest.read_text().replace('"detect"', '"segment"'))
    (out / "yolo" / "labels" / "train" / "000000.txt").write_text("damaged\n")
    export(out)
    assert exports(out) == from_scratch(out, tmp_path)


def test_a_moved_dataset_keeps_its_export_and_data_yaml_names_the_new_place(tmp_path, small_chunks):
    out = tmp_path / "data"
    run(settings(out, 4), make_renderer=FakeRenderer)
    moved = tmp_path / "moved"
    shutil.move(out, moved)
    before = mtimes(moved / "yolo" / "labels")
    export(moved)
    assert mtimes(moved / "yolo" / "labels") == before  # not rebuilt
    assert f"path: '{(moved / 'yolo').resolve()}'" in (moved / "yolo" / "data.yaml").read_text()


def test_bop_is_rebuilt_whole_when_its_models_would_be_numbered_otherwise(tmp_path, small_chunks):
    """obj_ids are the models in sorted order (a pure function of the frames on disk): a record of
    other models (a new one would renumber them) rebuilds the export whole, as does a record that
    names a folder outside the export (crafted), which nothing follows."""
    out = tmp_path / "data"
    run(settings(out, 4), make_renderer=FakeRenderer)
    manifest = out / "bop" / "simgen_index.json"
    record = read_json(manifest)
    assert [m[0] for m in record["models"]] == sorted(m[0] for m in record["models"])
    folder = (out / "bop").stat().st_ino
    record["models"] = record["models"][1:]
    manifest.write_text(json.dumps(record))
    export(out)
    assert (out / "bop").stat().st_ino != folder  # built beside it and swapped in
    assert exports(out) == from_scratch(out, tmp_path)

    outside = tmp_path / "outside" / "000000"
    outside.mkdir(parents=True)
    record = read_json(manifest)
    record["scenes"]["../../outside/000000"] = "0" * 64
    manifest.write_text(json.dumps(record))
    folder = (out / "bop").stat().st_ino
    export(out)
    assert (out / "bop").stat().st_ino != folder and outside.is_dir()
    assert exports(out) == from_scratch(out, tmp_path)


def test_a_bop_scene_it_cannot_write_again_keeps_the_old_one(tmp_path, small_chunks):
    out = tmp_path / "data"
    run(settings(out, 4), make_renderer=FakeRenderer)
    meta = (out / "meta" / "000003.json").read_bytes()
    (out / "meta" / "000003.json").unlink()  # frame 3 gone: its scene is written again, frames 0..2 kept
    export(out)
    assert exports(out) == from_scratch(out, tmp_path)
    before = files(out / "bop")
    (out / "meta" / "000003.json").write_bytes(meta)  # frame 3 back, but it cannot be exported
    (out / "amodal" / "000003.npz").unlink()
    with pytest.raises(SimgenError, match="frame 3 has no amodal/000003.npz"):
        export(out)
    assert files(out / "bop") == before and not list(out.glob(".bop.*"))
