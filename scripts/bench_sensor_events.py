"""Cost of the event camera per frame (issue 78): the pure model (simgen.sensors.events) on a stack of
log intensities of a moving edge at a few sizes, and a whole run's seconds per frame with
sensor.events=true against the same run without it (Cycles, a sequence of the default scene).

    python scripts/bench_sensor_events.py                     # model at 160x120, 320x240, 640x480; runs at 160x120
    python scripts/bench_sensor_events.py --size 320x240 --frames 8 --substeps 4
    python scripts/bench_sensor_events.py --model-only

``bench()`` prints the figures (scripts/bench_sensors.py joins the families' benches).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIMGEN = str(Path(sys.executable).with_name("simgen"))


def model_ms(width: int, height: int, substeps: int = 8, repeats: int = 5) -> float:
    """Median milliseconds of :func:`simgen.sensors.events.events_between` over one frame interval of
    ``substeps`` renders of a ``width`` x ``height`` frame: an edge crossing a quarter of the image
    (a strong change: about 10 events a crossed pixel), with mismatch, refractory period and noise on."""
    from simgen.sensors.events import EventModel, draw_thresholds, events_between

    model = EventModel(refractory=1e-4, noise_rate=1.0)
    times = np.linspace(0.0, 1 / 30, substeps + 1)
    u = np.arange(width, dtype=np.float64)
    cover = np.clip(width / 4 + width / 4 * times[:, None] * 30 - (u[None, :] - 0.5), 0.0, 1.0)
    logs = np.repeat(np.log(0.1 + 0.7 * cover + 1e-3)[:, None, :], height, axis=1)
    pos, neg = draw_thresholds(np.random.default_rng(0), (height, width), model)
    out = []
    for i in range(repeats):
        t0 = time.perf_counter()
        events_between(logs, times, pos, neg, model, np.random.default_rng(i))
        out.append(time.perf_counter() - t0)
    return 1000 * float(np.median(out))


def run_seconds(out: Path, size: str, frames: int, extra: list[str]) -> float:
    """Seconds per frame of a run of sequences of 4 (Blender's start left out: a first run of one
    sequence, then the timed one)."""
    w, h = size.split("x")
    cmd = [SIMGEN, f"render.width={w}", f"render.height={h}", "render.samples=4", "seed=3", f"output.dir={out}",
           "output.formats=[]", "sequence.length=4", *extra]
    subprocess.run([*cmd, "frames=4"], check=True, capture_output=True, cwd=out.parent)
    t0 = time.monotonic()
    subprocess.run([*cmd, "output.overwrite=true", f"frames={frames}"], check=True, capture_output=True, cwd=out.parent)
    return (time.monotonic() - t0) / frames


def bench(size: str = "160x120", frames: int = 8, substeps: int = 8, model_only: bool = False) -> None:
    for w, h in ((160, 120), (320, 240), (640, 480)):
        print(f"event model at {w}x{h}, {substeps} sub-steps: {model_ms(w, h, substeps):7.1f} ms per frame")
    if model_only:
        return
    with tempfile.TemporaryDirectory(prefix="bench-sensor-events-") as tmp:
        plain = run_seconds(Path(tmp) / "plain", size, frames, [])
        events = run_seconds(Path(tmp) / "events", size, frames,
                             ["sensor.events=true", f"sensor.events_substeps={substeps}"])
    print(f"a run at {size}, 4 samples, sequences of 4: plain {plain:.2f} s per frame, with sensor.events=true "
          f"sensor.events_substeps={substeps} {events:.2f} s per frame (x{events / plain:.1f})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="160x120", help="the runs' render size, WxH")
    p.add_argument("--frames", type=int, default=8, help="frames timed per run (whole sequences of 4)")
    p.add_argument("--substeps", type=int, default=8, help="sensor.events_substeps")
    p.add_argument("--model-only", action="store_true", help="time the model alone, no runs")
    a = p.parse_args()
    bench(a.size, a.frames, a.substeps, a.model_only)


if __name__ == "__main__":
    main()
