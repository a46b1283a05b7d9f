"""Cost of the LiDAR per frame (issue 78): a run's render stage (Cycles: the frame, and with
sensor.lidar the scanner's turn too), its labels stage (the scan read back, its points made) and
its write stage (the .bin and .ply) against a plain run of the same scene and settings, in one
process (the first frame, Blender's start, left out).

    python scripts/bench_sensor_lidar.py                       # 160x120, 4 samples, VLP-16 at 600 rpm
    python scripts/bench_sensor_lidar.py --size 320x240 --frames 6 --rpm 1200

``bench()`` prints the figures (scripts/bench_sensors.py joins the families' benches). Cycles runs the
scan's OSL camera on the CPU (or with OptiX on an NVIDIA GPU: render.device=optix).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def stage_seconds(out: Path, size: str, frames: int, lidar: str | None, rpm: float) -> dict[str, float]:
    """Median seconds per frame of each stage of a run of ``frames`` + 1 frames (the first left out)."""
    from simgen.compose.settings import validate
    from simgen.config import RenderConfig, Settings
    from simgen.pipeline import run
    from simgen.pipeline.loop import StageTimes

    w, h = (int(v) for v in size.split("x"))
    s = Settings(seed=3, frames=frames + 1)
    s.render = RenderConfig(width=w, height=h, samples=4, device="cpu", denoise_prefilter="fast")
    s.output.dir, s.output.formats = str(out), []
    s.sensor.lidar, s.sensor.lidar_rpm = lidar, rpm
    times = StageTimes()
    run(validate(s), hooks=times)
    frames_ = times.frames[1:]
    return {k: float(np.median([f.get(k, 0.0) for f in frames_])) for k in ("render", "read", "labels", "write")}


def bench(size: str = "160x120", frames: int = 4, rpm: float = 600.0) -> None:
    from simgen.sensors.lidar import VLP16

    with tempfile.TemporaryDirectory(prefix="bench-sensor-lidar-") as tmp:
        plain = stage_seconds(Path(tmp) / "plain", size, frames, None, rpm)
        lidar = stage_seconds(Path(tmp) / "lidar", size, frames, "velodyne_vlp16", rpm)
    beams = VLP16.columns(rpm) * len(VLP16.elevations)
    total = {k: sum(v.values()) for k, v in (("plain", plain), ("lidar", lidar))}
    print(f"a run at {size}, 4 samples, CPU; sensor.lidar=velodyne_vlp16 at {rpm:g} rpm ({beams} beams a turn):")
    for stage in ("render", "read", "labels", "write"):
        print(f"  {stage:7s} plain {plain[stage]:.3f} s, with the LiDAR {lidar[stage]:.3f} s per frame")
    print(f"  all     plain {total['plain']:.3f} s, with the LiDAR {total['lidar']:.3f} s per frame "
          f"({100 * (total['lidar'] / total['plain'] - 1):+.0f} %)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="160x120", help="the runs' render size, WxH")
    p.add_argument("--frames", type=int, default=4, help="frames timed per run (after one more)")
    p.add_argument("--rpm", type=float, default=600.0, help="sensor.lidar_rpm (300-1200)")
    a = p.parse_args()
    bench(a.size, a.frames, a.rpm)


if __name__ == "__main__":
    main()
