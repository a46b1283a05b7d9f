"""The frame loop's stages and hooks: what scripts and tests time or instrument, and what a
run that fails leaves behind."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from conftest import tiny_settings
from simgen.io.dataset.runlog import malloc_mib
from simgen.pipeline import PRODUCER_STAGES, STAGES, StageTimes, run
from simgen.pipeline.runner import keep_freed_memory


def test_stage_hooks_see_every_stage_in_order(tmp_path):
    """scripts and tests time the loop through Hooks, not by patching the pipeline."""
    calls: list[str] = []

    class Recorder(StageTimes):
        def wrap(self, stage, fn):
            calls.append(stage)
            return super().wrap(stage, fn)

    s = tiny_settings(tmp_path, frames=2, width=64, height=48, samples=1)
    s.sequence.length = 2
    s.render.overlap = False  # one thread: the calls come in one order
    hooks = Recorder()
    run(s, hooks=hooks)
    # the first sequence is sampled before the loop (bad scenes fail before Blender starts); frame 0's
    # forward flow needs frame 1, so both are rendered before frame 0 is written
    assert calls == ["build", "render", "read", "labels"] * 2 + ["labels", "flow", "write"] * 2
    assert set(calls) <= set(STAGES)
    assert len(hooks.frames) == 2 and hooks.frames[0]["render"] > 0 and set(hooks.frames[1]) == {"labels", "flow",
                                                                                                   "write"}


def test_overlapped_stages_run_on_worker_threads_and_write_the_same_files(tmp_path):
    """render.overlap: Blender's stages on the calling thread, the rest on the worker threads
    (with one worker in the same order as without overlap); frames are completed in index
    order; the files are byte-identical whatever the number of workers."""
    calls: dict[str, list[tuple[str, str]]] = {}

    class Recorder(StageTimes):
        def __init__(self, calls):
            super().__init__()
            self.calls, self.done = calls, []

        def wrap(self, stage, fn):
            self.calls.append((stage, threading.current_thread().name))
            return super().wrap(stage, fn)

        def frame_done(self, index, times):
            self.done.append(index)
            super().frame_done(index, times)

    roots = {}
    for name, overlap, workers in (("serial", False, 0), ("one", True, 1), ("three", True, 3)):
        s = tiny_settings(tmp_path / name, frames=6, width=64, height=48, samples=1)
        s.sequence.length = 2
        s.render.overlap, s.render.workers = overlap, workers
        hooks = Recorder(calls.setdefault(name, []))
        run(s, hooks=hooks)
        roots[name] = tmp_path / name
        assert hooks.done == list(range(6)) and all(f["render"] > 0 for f in hooks.frames[::2])
    main = threading.current_thread().name
    for name in ("one", "three"):
        assert {t for st, t in calls[name] if st in PRODUCER_STAGES} == {main}
        assert {t for st, t in calls[name] if st not in PRODUCER_STAGES} <= {f"simgen-worker_{i}" for i in range(3)}
    assert [st for st, t in calls["one"] if t == "simgen-worker_0"] == [st for st, _ in calls["serial"]
                                                                       if st not in PRODUCER_STAGES]
    files = {o: sorted(p.relative_to(r) for p in r.rglob("*") if p.is_file() and "logs" not in p.parts)
             for o, r in roots.items()}
    assert files["serial"] == files["one"] == files["three"] and len(files["serial"]) > 20
    for rel in files["serial"]:
        if rel.name != "dataset.json":  # holds the config, which differs in render.overlap
            for name in ("one", "three"):
                assert (roots[name] / rel).read_bytes() == (roots["serial"] / rel).read_bytes(), (name, rel)


def test_run_log_has_a_line_per_frame_and_a_summary(tmp_path):
    run(tiny_settings(tmp_path, frames=3, width=64, height=48, samples=1))
    logs = list((tmp_path / "logs").glob("run-*.jsonl"))
    assert len(logs) == 1
    lines = [json.loads(line) for line in logs[0].read_text().splitlines()]
    assert [line["frame"] for line in lines[:-1]] == [0, 1, 2]
    for line in lines[:-1]:
        assert {"build", "render", "read", "labels", "write"} <= set(line["stages"]) <= set(STAGES)
        assert line["seconds"] > 0 and all(v >= 0 for v in line["stages"].values()) and line["rss_mib"] > 50
        # Blender and numpy alone hold more than 20 MiB through malloc; Python's imports, many small objects
        assert (line["malloc_mib"] is None or 20 < line["malloc_mib"] < line["rss_mib"]) and line["py_blocks"] > 10_000
    summary = lines[-1]["summary"]
    assert summary["frames"] == 3 and summary["stages"]["render"] > 0
    assert summary["seconds_per_frame"] == pytest.approx(summary["seconds"] / 3, abs=1e-3)


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


@pytest.mark.skipif(malloc_mib() is None, reason="glibc's mallinfo2 only (Linux, glibc 2.33 and later)")
def test_malloc_mib_counts_an_array_while_it_is_held():
    """An array of known size, from a heap (below keep_freed_memory's mmap threshold) or mapped on its
    own (above it), is counted while it lives and not once it is freed, though the heap keeps it."""
    keep_freed_memory()
    for mib in (8, 48):
        before = malloc_mib()
        a = np.ones(mib * 2**20 // 8)
        held = malloc_mib()
        del a
        after = malloc_mib()
        assert held - before == pytest.approx(mib, abs=1.0), mib
        assert after - before == pytest.approx(0, abs=1.0), mib
