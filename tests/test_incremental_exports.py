"""Exports that grow with the dataset: the YOLO exports and the streaming formats rewrite only
what changed since the last export (frames added by a resumed run or a shard, frames gone,
frames rendered again), and the result is byte for byte a from-scratch export's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import set_settings, tiny_settings
from fake_renderer import FakeRenderer
from simgen.io.dataset import coco_index
from simgen.io.dataset.layout import DatasetWriter
from simgen.io.files import read_json
from simgen.io.formats.exporters import resolve
from simgen.pipeline import run

FORMATS = ["coco", "yolo", "yolo_seg"]


def settings(out: Path, frames: int):
    return set_settings(tiny_settings(out, frames=frames, width=64, height=48), output__formats=FORMATS)


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def mtimes(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def from_scratch(root: Path, tmp: Path) -> dict[str, dict[str, bytes]]:
    """The exports of a copy of ``root`` built with no earlier export or index."""
    copy = tmp / "scratch"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("yolo", "yolo_seg", "index"))
    writer = DatasetWriter(copy, read_json(copy / "dataset.json")["categories"], previews=False)
    writer.export(resolve(FORMATS, flow=False))
    return {f: {k: v for k, v in files(copy / f).items() if k != "data.yaml"} for f in ("yolo", "yolo_seg")}


def exports(root: Path) -> dict[str, dict[str, bytes]]:
    return {f: {k: v for k, v in files(root / f).items() if k != "data.yaml"} for f in ("yolo", "yolo_seg")}


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(coco_index, "CHUNK", 2)  # chunks of 2 frames: a few frames span several


def test_more_frames_rewrite_only_their_chunks_and_equal_a_fresh_export(tmp_path, small_chunks):
    out = tmp_path / "data"
    run(settings(out, 4), make_renderer=FakeRenderer)  # chunks 0 and 1
    before = mtimes(out / "yolo")
    run(settings(out, 7), make_renderer=FakeRenderer)  # frames 4..6: chunks 2 and 3
    after = mtimes(out / "yolo")
    untouched = [k for k in before if k.split("/")[-1][:6] in ("000000", "000001", "000002", "000003")]
    assert untouched and all(after[k] == before[k] for k in untouched)
    assert exports(out) == from_scratch(out, tmp_path)


def test_a_frame_gone_or_rendered_again_is_followed_by_the_export(tmp_path, small_chunks):
    out = tmp_path / "data"
    run(settings(out, 6), make_renderer=FakeRenderer)
    (out / "meta" / "000003.json").unlink()  # frame 3 is gone (its other files stay: not a frame)
    writer = DatasetWriter(out, read_json(out / "dataset.json")["categories"], previews=False)
    writer.export(resolve(FORMATS, flow=False))
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
    writer = DatasetWriter(out, read_json(out / "dataset.json")["categories"], previews=False)
    writer.export(resolve(FORMATS, flow=False))
    assert exports(out) == from_scratch(out, tmp_path)


def test_a_moved_dataset_keeps_its_export_and_data_yaml_names_the_new_place(tmp_path, small_chunks):
    out = tmp_path / "data"
    run(settings(out, 4), make_renderer=FakeRenderer)
    moved = tmp_path / "moved"
    shutil.move(out, moved)
    before = mtimes(moved / "yolo" / "labels")
    writer = DatasetWriter(moved, read_json(moved / "dataset.json")["categories"], previews=False)
    writer.export(resolve(FORMATS, flow=False))
    assert mtimes(moved / "yolo" / "labels") == before  # not rebuilt
    assert f"path: '{(moved / 'yolo').resolve()}'" in (moved / "yolo" / "data.yaml").read_text()
