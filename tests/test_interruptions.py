"""Nothing lost when a run is stopped: SIGTERM and Ctrl-C stop it cleanly after the frames
already rendered are written; kill -9 at random moments, then the same command again, gives
the same dataset as an uninterrupted run, dataset.json included, with no temp file left."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import SIMGEN, assert_same_dataset, simgen_cli, wait_for_frames

pytestmark = [pytest.mark.render, pytest.mark.slow]
ARGS = ["frames=24", "render.width=64", "render.height=48", "render.samples=1", "render.device=cpu",
        "sequence.length=4"]
STOP_GUARD = 120
"""Seconds a stopped run may take to end: a hang guard, not a speed claim (it ends after one
frame of a fraction of a second plus its writes, ~1-2 s; the test's own check is how many
frames it wrote after the signal)."""


def start(out: Path, cwd: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([SIMGEN, *ARGS, *extra, f"output.dir={out}"], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def leftovers(out: Path, pids: list[int]) -> list[str]:
    """Temp files in the dataset, and Blender work folders of the stopped processes ``pids``. An
    empty temp file a writer was killed with before it wrote a byte is left by the next run for
    simgen.io.files.STALE_AFTER seconds (a live writer's is empty, unlocked, in the moment between
    creating and locking it): such a file must be removed by a run after that time (its age is
    set back here to show it), and is not a leftover before it."""
    from simgen.io.files import STALE_AFTER, remove_stale_temps

    young = [p for p in out.rglob(".*.tmp") if p.stat().st_size == 0 and time.time() - p.stat().st_mtime < STALE_AFTER]
    for p in young:
        os.utime(p, (time.time() - STALE_AFTER - 1,) * 2)
    assert sorted(remove_stale_temps(out)) == sorted(young)
    temps = [p.name for p in out.rglob(".*.tmp")]
    shm = Path("/dev/shm")
    work = [d.name for pid in pids for d in shm.glob(f"simgen-{pid}-*")] if shm.is_dir() else []
    return temps + work


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, float]:
    """The same frames, rendered without interruption; and how long the command took."""
    root = tmp_path_factory.mktemp("reference")
    t0 = time.monotonic()
    done = simgen_cli(*ARGS, f"output.dir={root / 'data'}", cwd=root)
    assert done.returncode == 0, done.stderr
    return root / "data", time.monotonic() - t0


@pytest.mark.parametrize("sig,recycle", [(signal.SIGTERM, 0), (signal.SIGINT, 0), (signal.SIGTERM, 8)])
def test_a_signal_stops_the_run_cleanly_and_the_same_command_resumes(tmp_path, reference, sig, recycle):
    """recycle 8: the frames render in batches of 8 in child processes; the signal goes to the
    parent only (kill PID), which has the batch stop after its frame."""
    reference = reference[0]
    out = tmp_path / "data"
    proc = start(out, tmp_path, f"render.recycle_every={recycle}")
    wait_for_frames(out, 3, proc)
    proc.send_signal(sig)
    at_signal = len(list((out / "meta").glob("*.json")))  # frames written when the signal was sent (or later)
    _, err = proc.communicate(timeout=STOP_GUARD)
    assert proc.returncode == 128 + sig, err
    name = signal.Signals(sig).name
    lines = [line for line in err.splitlines() if line.startswith("simgen:")]
    assert len(lines) == 1 and lines[0].startswith(f"simgen: stopped by {name}: rendered ") \
        and "run the same command again" in lines[0], err
    assert "Traceback" not in err
    on_disk = sorted(int(p.stem) for p in (out / "meta").glob("*.json"))
    # it stopped after the frame it was rendering, however busy the machine: past the frames
    # already written, at most that frame, the one waiting for the writer and the one being written
    assert at_signal <= len(on_disk) <= at_signal + 3, (at_signal, on_disk)
    assert json.loads((out / "dataset.json").read_text())["frames"] == on_disk
    assert len(json.loads((out / "coco.json").read_text())["images"]) == len(on_disk)
    assert leftovers(out, [proc.pid]) == []
    again = simgen_cli(*ARGS, f"output.dir={out}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert_same_dataset(reference, out)


def test_kill_9_at_random_moments_then_resume_gives_the_same_dataset(tmp_path, reference):
    """4 folders; in each the command is killed (SIGKILL) twice at random moments of its
    run (start-up, rendering, final writes), then run to its end.

    The moments are drawn within the time the uninterrupted command took; when a run ends
    before its kill (the machine got faster than when that was measured), the folder starts
    over with the window shrunk to what that run took, so every folder gets its two kills
    however busy the machine is."""
    reference, seconds = reference
    rng = np.random.default_rng(0)
    for trial in range(4):
        out = tmp_path / f"data{trial}"
        killed: list[int] = []  # every killed process, for the leftovers check
        for attempt in range(12):
            kills, left = 0, seconds  # the second kill falls in what the first run had left, so the
            for _ in range(2):        # resume (start-up + those frames) is nearly always still running
                proc = start(out, tmp_path)
                t0 = time.monotonic()
                moment = float(rng.uniform(0.0, left))
                left -= moment
                try:
                    proc.wait(timeout=moment)  # ended before its moment: no kill
                except subprocess.TimeoutExpired:
                    proc.kill()
                    killed.append(proc.pid)
                    kills += 1
                proc.communicate(timeout=STOP_GUARD)
                if proc.pid not in killed:
                    break
            if kills == 2:
                break
            seconds = min(seconds, time.monotonic() - t0)  # the run that ended took this long
            shutil.rmtree(out, ignore_errors=True)  # start this folder over
        assert kills == 2, f"folder {trial}: no two kills in {attempt + 1} attempts (window {seconds:.2f} s)"
        again = simgen_cli(*ARGS, f"output.dir={out}", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert_same_dataset(reference, out)
        assert leftovers(out, killed) == []  # the resume removed what the killed runs left


def test_a_foreign_signal_handler_runs_between_frames_and_its_exit_keeps_the_rendered_frames(tmp_path):
    """submitit's SIGUSR2 handler requeues the job and exits. Raised inside a Blender call
    that exit would end the process on the spot; simgen holds the signal until the frame
    being rendered is done, then calls the handler, and its exit unwinds the loop, which
    writes every frame already rendered."""
    from conftest import tiny_settings
    from simgen.pipeline import Hooks, run

    calls = []

    def requeue_and_exit(signum, frame):
        calls.append(signum)
        raise SystemExit(-1)

    class SignalDuringRender(Hooks):
        renders = 0

        def wrap(self, stage, fn):
            if stage != "render":
                return fn

            def render(*a):
                self.renders += 1
                if self.renders == 3:  # the signal arrives while frame 2 renders
                    os.kill(os.getpid(), signal.SIGUSR2)
                return fn(*a)
            return render

    old = signal.signal(signal.SIGUSR2, requeue_and_exit)
    try:
        with pytest.raises(SystemExit):
            run(tiny_settings(tmp_path, frames=10, width=64, height=48, samples=1), hooks=SignalDuringRender())
    finally:
        signal.signal(signal.SIGUSR2, old)
    assert calls == [signal.SIGUSR2]
    assert json.loads((tmp_path / "dataset.json").read_text())["frames"] == [0, 1, 2]
    assert len(json.loads((tmp_path / "coco.json").read_text())["images"]) == 3
