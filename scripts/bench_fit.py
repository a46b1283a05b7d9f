#!/usr/bin/env python3
"""How long does ``simgen fit`` take, and where does the time go? Renders a sim-to-sim target (labelled
images of a world with settings no doc names), runs the documented fit against it with every fit
setting at its default (40 trials of 16 frames at the target's 160x120), and prints the wall time of
each phase as the fit recorded it (its study's user attribute ``timing``, simgen.fit.plan.Plan.timed).

    python scripts/bench_fit.py                           # the default fit, from scratch (--out is emptied)
    python scripts/bench_fit.py --trials 10 --frames 8    # a shorter one
    python scripts/bench_fit.py -- fit.develop_trials=100 # more fit overrides after --

Run it on an idle machine: the figures are wall times. The target is kept and reused.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET = ["objects.count=[5,8]", "scene.camera_distance=[1.6,2.2]", "scene.camera_elevation=[40,60]",
          "lighting.world=[sky]", "camera.exposure=[0.5,1]", "effects.noise_probability=1",
          "effects.full_well=[60,120]", "effects.jpeg_probability=1", "effects.jpeg_quality=[30,50]"]
"""The target's world (over simgen's defaults): nearer, more objects, sky light, noise and JPEG."""
TARGET_SEED = 5151


def run(cmd: list[str], log: Path) -> float:
    t0 = time.monotonic()
    with open(log, "w", encoding="utf-8") as out:
        r = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if r.returncode:
        sys.exit(f"bench_fit.py: failed (exit {r.returncode}): {' '.join(cmd)}; see {log}")
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/simgen_bench_fit"))
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--frames", type=int, default=16, help="fit.frames")
    ap.add_argument("--target-frames", type=int, default=48)
    ap.add_argument("--size", default="160x120")
    ap.add_argument("fit", nargs="*", help="more fit overrides, after --")
    a = ap.parse_args()
    import optuna

    from simgen.fit.runner import PHASES, describe_timing

    w, h = (int(v) for v in a.size.split("x"))
    target = a.out / "target"
    a.out.mkdir(parents=True, exist_ok=True)
    if not (target / "coco.json").is_file():
        run([sys.executable, "-m", "simgen.cli", f"output.dir={target}", f"frames={a.target_frames}",
             f"seed={TARGET_SEED}", f"render.width={w}", f"render.height={h}", "output.previews=false", *TARGET],
            a.out / "target.log")
    fit = a.out / "fit"
    shutil.rmtree(fit, ignore_errors=True)
    load = os.getloadavg()[0]
    wall = run([sys.executable, "-m", "simgen.cli", "fit", f"target={target / 'images'}",
                f"target_coco={target / 'coco.json'}", "name=bench", f"fit.out={fit}", f"fit.trials={a.trials}",
                f"fit.frames={a.frames}", *a.fit], a.out / "fit.log")
    study = optuna.load_study(study_name="bench", storage=f"sqlite:///{fit / 'fit.db'}")
    timing = study.user_attrs["timing"][-1]
    trials = [t for t in study.trials if t.state.name == "COMPLETE"]
    skipped = [t for t in study.trials if t.state.name == "PRUNED"]
    print(f"simgen fit of {a.trials} trials of {a.frames} frames at {a.size} against {a.target_frames} labelled "
          f"images ({os.cpu_count()} cores, load average {load:.2f} before the fit): {wall / 60:.1f} min wall")
    print("| phase | seconds | share |\n|---|---|---|")
    for phase in (*PHASES, *sorted(k for k in timing if k not in PHASES)):
        if phase in timing:
            print(f"| {phase} | {timing[phase]:.0f} | {100 * timing[phase] / wall:.0f} % |")
    per = sum(t.user_attrs.get("seconds", 0.0) for t in trials) / max(len(trials), 1)
    print(f"\n{len(trials)} trials complete ({len(skipped)} skipped), {per:.1f} s a trial; "
          f"{describe_timing(timing)}")
    print((fit / "best.yaml").read_text().splitlines()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
