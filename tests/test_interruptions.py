"""Nothing lost when a run is stopped: SIGTERM and Ctrl-C stop it cleanly after the frames
already rendered are written; kill -9 at random moments, then the same command again, gives
the same dataset as an uninterrupted run, dataset.json included, with no temp file left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import SIMGEN, assert_same_dataset, simgen_cli, wait_for_frames

pytestmark = pytest.mark.render
ARGS = ["frames=40", "render.width=64", "render.height=48", "render.samples=1", "render.device=cpu",
        "sequence.length=4"]


def start(out: Path, cwd: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([SIMGEN, *ARGS, *extra, f"output.dir={out}"], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def leftovers(out: Path, pids: list[int]) -> list[str]:
    """Temp files in the dataset, and Blender work folders of the stopped processes ``pids``."""
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
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 10, "stopping took too long"
    assert proc.returncode == 128 + sig, err
    name = signal.Signals(sig).name
    lines = [line for line in err.splitlines() if line.startswith("simgen:")]
    assert len(lines) == 1 and lines[0].startswith(f"simgen: stopped by {name}: rendered ") \
        and "run the same command again" in lines[0], err
    assert "Traceback" not in err
    on_disk = sorted(int(p.stem) for p in (out / "meta").glob("*.json"))
    assert 3 <= len(on_disk) < 40
    assert json.loads((out / "dataset.json").read_text())["frames"] == on_disk
    assert len(json.loads((out / "coco.json").read_text())["images"]) == len(on_disk)
    assert leftovers(out, [proc.pid]) == []
    again = simgen_cli(*ARGS, f"output.dir={out}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert_same_dataset(reference, out)


def test_kill_9_at_random_moments_then_resume_gives_the_same_dataset(tmp_path, reference):
    """4 folders; in each the command is killed (SIGKILL) twice at random moments of its
    run (start-up, rendering, final writes), then run to its end."""
    reference, seconds = reference
    rng = np.random.default_rng(0)
    kills = 0
    for trial in range(4):
        out = tmp_path / f"data{trial}"
        killed = []
        left = seconds  # the second kill falls in what the first run had left, so the resume
        for _ in range(2):  # (start-up + those frames) is nearly always still running
            proc = start(out, tmp_path)
            moment = float(rng.uniform(0.0, left))
            left -= moment
            time.sleep(moment)
            if proc.poll() is None:
                proc.kill()
                killed.append(proc.pid)
            proc.communicate(timeout=60)
        kills += len(killed)
        again = simgen_cli(*ARGS, f"output.dir={out}", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert_same_dataset(reference, out)
        assert leftovers(out, killed) == []  # the resume removed what the killed runs left
    assert kills >= 6, "most runs ended before their kill: the test no longer tests anything"


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
