"""Cost of the rolling shutter per frame (issue 78): a flying-objects sequence run plain (a global shutter,
with its flow) against the same run with sensor.rolling_shutter_ms, one band a row (exact) and a few
bands, in one process each (the first frame, Blender's start, left out).

    python scripts/bench_sensor_rolling_shutter.py                    # 160x120, 4 samples, 0 and 16 bands
    python scripts/bench_sensor_rolling_shutter.py --size 320x240 --bands 0 8 32

``bench()`` prints the figures (scripts/bench_sensors.py joins the families' benches). A band is one more
Cycles render of its rows (the scene moved in place, Cycles keeping its scene), so the cost grows with
the bands, not with the pixels.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = ("build", "render", "read", "labels", "flow", "write")


def stage_seconds(out: Path, size: str, frames: int, readout_ms: float, bands: int) -> dict[str, float]:
    """Median seconds per frame of each stage of a run of ``frames`` + 1 frames (the first left out):
    flying objects, sequences of ``frames`` + 1 steps, 4 samples, no denoiser (a band is never denoised)."""
    from simgen.compose.settings import default_scene, validate
    from simgen.config import RenderConfig, Settings
    from simgen.pipeline import run
    from simgen.pipeline.loop import StageTimes

    w, h = (int(v) for v in size.split("x"))
    s = Settings(seed=3, frames=frames + 1)
    s.scene = default_scene("flying")
    s.sequence.length = frames + 1
    s.render = RenderConfig(width=w, height=h, samples=4, device="cpu", denoise=False)
    s.output.dir, s.output.formats = str(out), []
    s.sensor.rolling_shutter_ms, s.sensor.rolling_shutter_bands = readout_ms, bands
    times = StageTimes()
    run(validate(s), hooks=times)
    return {k: float(np.median([f.get(k, 0.0) for f in times.frames[1:]])) for k in STAGES}


def bench(size: str = "160x120", frames: int = 4, readout_ms: float = 31.98, bands: tuple[int, ...] = (0, 16)) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sensor-rolling-") as tmp:
        plain = stage_seconds(Path(tmp) / "plain", size, frames, 0.0, 0)
        rolled = {b: stage_seconds(Path(tmp) / f"bands{b}", size, frames, readout_ms, b) for b in bands}
    h = int(size.split("x")[1])
    base = sum(plain.values())
    print(f"a flying-objects sequence at {size}, 4 samples, no denoiser, CPU; sensor.rolling_shutter_ms={readout_ms:g}:")
    print(f"  plain (global shutter, with flow): {base:.3f} s per frame "
          + ", ".join(f"{k} {v:.3f}" for k, v in plain.items() if v))
    for b, t in rolled.items():
        total = sum(t.values())
        print(f"  {b or h} bands{' (one a row, exact)' if b == 0 else ''}: {total:.3f} s per frame "
              f"({total / base:.1f}x) " + ", ".join(f"{k} {v:.3f}" for k, v in t.items() if v))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="160x120", help="the runs' render size, WxH")
    p.add_argument("--frames", type=int, default=4, help="frames timed per run (after one more)")
    p.add_argument("--readout-ms", type=float, default=31.98, help="sensor.rolling_shutter_ms")
    p.add_argument("--bands", type=int, nargs="+", default=[0, 16], help="sensor.rolling_shutter_bands to time")
    a = p.parse_args()
    bench(a.size, a.frames, a.readout_ms, tuple(a.bands))


if __name__ == "__main__":
    main()
