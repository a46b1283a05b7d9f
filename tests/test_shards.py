"""Shards: ``shard.count=C shard.index=i`` renders a disjoint share of the frames, and C
shards writing into one folder (one after another, or at once through a Hydra launcher)
give the same files as one process rendering every frame."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import assert_same_dataset, simgen_cli, tiny_settings
from simgen.config import Settings
from simgen.pipeline import run, shard_frames


def frames_of(start: int, frames: int, length: int, count: int, index: int) -> list[int]:
    s = Settings(start=start, frames=frames)
    s.sequence.length, s.shard.count, s.shard.index = length, count, index
    return shard_frames(s)


@pytest.mark.parametrize("start,frames,length,count", [
    (0, 10, 1, 3), (5, 17, 4, 3), (1, 6, 2, 3), (0, 4, 1, 8), (3, 1, 5, 2), (0, 1000, 10, 7)])
def test_shards_are_disjoint_whole_sequences_covering_every_frame(start, frames, length, count):
    shares = [frames_of(start, frames, length, count, i) for i in range(count)]
    flat = [f for share in shares for f in share]
    assert flat == list(range(start, start + frames))  # disjoint, in order, nothing missing
    sequences = [{f // length for f in share} for share in shares]
    for a in range(count):  # no sequence is split between shards
        for b in range(a + 1, count):
            assert not sequences[a] & sequences[b]
    sizes = [len(s) for s in sequences]
    assert max(sizes) - min(sizes) <= 1  # near-equal numbers of sequences


@pytest.mark.render
@pytest.mark.slow
def test_shards_in_one_folder_equal_one_run(tmp_path):
    """Frames 1..6 in sequences of 2 (frame 1's backward flow looks at frame 0, outside the
    run), in 3 shards, one after another into one folder."""
    def settings(out: Path, count: int = 1, index: int = 0):
        s = tiny_settings(out, start=1, frames=6, width=64, height=48, samples=1)
        s.sequence.length = 2
        s.shard.count, s.shard.index = count, index
        return s

    whole = run(settings(tmp_path / "whole"))
    assert whole.rendered == [1, 2, 3, 4, 5, 6]
    rendered = []
    for i in range(3):
        rendered.append(run(settings(tmp_path / "shards", 3, i)).rendered)
        # coco.json (O(frames on disk)) is written by the shard that completes the run's frames
        assert (tmp_path / "shards" / "coco.json").exists() == (i == 2)
    assert rendered == [[1], [2, 3], [4, 5, 6]]  # sequences 0 | 1 | 2, 3
    assert_same_dataset(tmp_path / "whole", tmp_path / "shards")


COMMON = ["frames=5", "render.width=64", "render.height=48", "render.samples=1", "render.device=cpu"]


@pytest.mark.render
@pytest.mark.slow
def test_joblib_launcher_shards_equal_one_run(tmp_path):
    """`simgen -m hydra/launcher=local 'shard.index=range(3)' shard.count=3` (joblib): three processes
    at once, one folder; the same files as one process (dataset.json and coco.json too)."""
    one = simgen_cli(*COMMON, f"output.dir={tmp_path / 'one'}", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    many = simgen_cli("-m", "hydra/launcher=local", "hydra.launcher.n_jobs=3", "shard.index=range(3)",
                      "shard.count=3", *COMMON, f"output.dir={tmp_path / 'many'}", cwd=tmp_path)
    assert many.returncode == 0, many.stderr
    assert_same_dataset(tmp_path / "one", tmp_path / "many")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many", "one"]  # nothing in the working directory


@pytest.mark.render
@pytest.mark.slow
def test_recycled_blender_processes_write_what_one_process_writes(tmp_path):
    """render.recycle_every=2: 5 frames in sequences of 2 -> batches of whole sequences
    {0, 1}, {2, 3}, {4}, each in a fresh process; the files equal one process's."""
    def settings(out: Path, recycle: int):
        s = tiny_settings(out, frames=5, width=64, height=48, samples=1)
        s.sequence.length, s.render.recycle_every = 2, recycle
        return s

    one = run(settings(tmp_path / "one", 0))
    many = run(settings(tmp_path / "many", 2))
    assert many.rendered == one.rendered == [0, 1, 2, 3, 4] and many.annotations == one.annotations
    for root in (tmp_path / "one", tmp_path / "many"):  # the configs differ in this key only
        info = json.loads((root / "dataset.json").read_text())
        del info["config"]["render"]["recycle_every"]
        (root / "dataset.json").write_text(json.dumps(info))
    assert_same_dataset(tmp_path / "one", tmp_path / "many")
    pids = {p.stem.rsplit("-", 1)[1] for p in (tmp_path / "many" / "logs").glob("run-*.jsonl")}
    assert len(pids) == 3 and str(os.getpid()) not in pids  # three processes, none of them this one
