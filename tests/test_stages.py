"""The frame loop's stages and hooks: what scripts and tests time or instrument, and what a
run that fails leaves behind."""

from __future__ import annotations

import json

import pytest

from conftest import tiny_settings
from simgen.pipeline import STAGES, StageTimes, run


def test_stage_hooks_see_every_stage_in_order(tmp_path):
    """scripts and tests time the loop through Hooks, not by patching the pipeline."""
    calls: list[str] = []

    class Recorder(StageTimes):
        def wrap(self, stage, fn):
            calls.append(stage)
            return super().wrap(stage, fn)

    s = tiny_settings(tmp_path, frames=2, width=64, height=48, samples=1)
    s.sequence.length = 2
    hooks = Recorder()
    run(s, hooks=hooks)
    # the first sequence is sampled before the loop (bad scenes fail before Blender starts); frame 0's
    # forward flow needs frame 1, so both are rendered before frame 0 is written
    assert calls == ["build", "render", "labels"] * 2 + ["labels", "flow", "write"] * 2
    assert set(calls) <= set(STAGES)
    assert len(hooks.frames) == 2 and hooks.frames[0]["render"] > 0 and set(hooks.frames[1]) == {"labels", "flow",
                                                                                                   "write"}


class FailAtRender(StageTimes):
    """Hooks whose ``render`` stage fails at the n-th call (a stand-in for a crash in Blender)."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def wrap(self, stage, fn):
        if stage == "render":
            self.n -= 1
            if self.n == 0:
                def fail(*a):
                    raise RuntimeError("render failed")
                return fail
        return super().wrap(stage, fn)


def test_a_run_failing_before_its_first_frame_leaves_no_dataset_files(tmp_path):
    s = tiny_settings(tmp_path, frames=2, width=64, height=48, samples=1)
    with pytest.raises(RuntimeError, match="render failed"):
        run(s, hooks=FailAtRender(1))
    # no data (Blender's own output may be kept in logs/, to read why it failed)
    files = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]
    assert [f for f in files if not f.startswith("logs/")] == []
    with pytest.raises(RuntimeError, match="render failed"):
        run(s, hooks=FailAtRender(2))  # after one complete frame: its dataset.json guards the folder
    assert json.loads((tmp_path / "dataset.json").read_text())["frames"] == [0]
    assert run(s).rendered == [1]  # the same command resumes


def test_blender_output_is_kept_in_the_dataset(tmp_path):
    run(tiny_settings(tmp_path, frames=1, width=64, height=48, samples=1))
    log = (tmp_path / "logs" / "blender.log").read_text(errors="replace")
    assert "Saved:" in log  # what Blender printed while rendering: in the dataset, not on the terminal
