"""Cost of the depth cameras' models per frame (issue 78): the time-of-flight model
(sensor.depth=azure_kinect_nfov) alone on a frame's exact depth, normals and reflectance at a few sizes,
and a whole run's seconds per frame with it and with the active stereo camera (sensor.depth=realsense_d435:
two more renders and StereoSGBM) against a plain run (Cycles, same scene and settings).

    python scripts/bench_sensor_depth.py                   # model at 160x120, 320x240, 640x576; runs at 160x120
    python scripts/bench_sensor_depth.py --size 320x240 --frames 4
    python scripts/bench_sensor_depth.py --model-only

``bench()`` prints the figures (scripts/bench_sensors.py joins the families' benches).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIMGEN = str(Path(sys.executable).with_name("simgen"))


def model_ms(width: int, height: int, repeats: int = 5) -> float:
    """Median milliseconds of :func:`simgen.sensors.tof.simulate` on a ``width`` x ``height`` frame of a tilted
    plane with a box in front of it (edges, grazing and dark pixels all present)."""
    from simgen.optics.camera import pixel_rays
    from simgen.sensors import tof

    fx = width / 2 / np.tan(np.radians(37.5))
    K = np.array([[fx, 0, width / 2 - 0.5], [0, fx, height / 2 - 0.5], [0, 0, 1]])
    rays = pixel_rays(K, width, height)
    n = np.array([0.5, 0.0, -np.sqrt(0.75)])
    depth = (n @ [0, 0, 2.0]) / (rays @ n)
    depth[height // 3:2 * height // 3, width // 3:2 * width // 3] = 1.2
    normal = np.broadcast_to(n, (height, width, 3)).copy()
    normal[height // 3:2 * height // 3, width // 3:2 * width // 3] = [0, 0, -1]
    rho = np.where(np.arange(width)[None, :] < width // 2, 0.05, 0.8) * np.ones((height, width))
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        tof.simulate(depth, normal, rho, K, np.random.default_rng(i), tof.ToFModel(), {"offset_m": 0.0, "scale": 0.0})
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def run_stages(out: Path, size: str, frames: int, extra: list[str]) -> dict[str, float]:
    """Seconds per frame of a run of ``frames`` frames and its render and labels stages' milliseconds per
    frame, as its log states them (the frame loop's own time: Blender's start left out)."""
    w, h = size.split("x")
    cmd = [SIMGEN, f"render.width={w}", f"render.height={h}", "render.samples=4", "seed=3", f"output.dir={out}",
           "output.formats=[]", f"frames={frames}", f"hydra.run.dir={out.parent / 'hydra'}", *extra]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=out.parent)
    log = done.stdout + done.stderr
    found = re.search(r"\(([0-9.]+) s/frame\); per frame: .*?render ([0-9.]+) ms, .*?labels ([0-9.]+) ms", log)
    if not found:
        raise SystemExit(f"no per-frame figures in the run's log: {log[-500:]}")
    return {"frame": float(found[1]), "render": float(found[2]), "labels": float(found[3])}


def bench(size: str = "160x120", frames: int = 4, model_only: bool = False) -> None:
    for w, h in ((160, 120), (320, 240), (640, 576)):
        print(f"time of flight model at {w}x{h}: {model_ms(w, h):7.1f} ms per frame")
    if model_only:
        return
    runs = {"plain": [], "sensor.depth=azure_kinect_nfov": ["sensor.depth=azure_kinect_nfov"],
            "sensor.depth=realsense_d435": ["sensor.depth=realsense_d435", "camera.focal_length=[18.97,18.97]"]}
    with tempfile.TemporaryDirectory(prefix="bench-sensor-depth-") as tmp:
        for i, (name, extra) in enumerate(runs.items()):
            r = run_stages(Path(tmp) / f"run{i}", size, frames, extra)
            print(f"{name:32s} at {size}, 4 samples: {r['frame']:.2f} s per frame (render stage {r['render']:.0f} ms, "
                  f"labels stage {r['labels']:.0f} ms)")
    print("(the time of flight adds to the labels stage only; the active stereo renders the infrared pair in the "
          "render stage and matches it in the labels stage)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="160x120", help="the runs' render size, WxH")
    p.add_argument("--frames", type=int, default=4, help="frames of each run")
    p.add_argument("--model-only", action="store_true", help="time the model alone, no runs")
    a = p.parse_args()
    bench(a.size, a.frames, a.model_only)


if __name__ == "__main__":
    main()
