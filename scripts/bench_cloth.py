#!/usr/bin/env python3
"""Benchmark Blender's cloth solver as simgen runs it (simgen.blender.cloth.simulate): a square
1 m sheet dropped from 0.5 m onto a 0.3 m box on the ground, per resolution.

    python scripts/bench_cloth.py                        # 20x20 and 60x60 quads, 48 frames each
    python scripts/bench_cloth.py --sizes 20 60 100 --frames 96

Printed per sheet: its quads and vertices, frames simulated, wall seconds in all and per frame
(building the scratch scene, every frame and cleaning up included), and whether it had come to
rest by the last frame (its fastest vertex under simgen.blender.cloth.REST_SPEED).

    python scripts/bench_cloth.py --runs 6               # also: tabletop frames with and without a cloth

With ``--runs N``, two runs of N tabletop frames (160x120, 8 samples) with ``objects.cloth=1`` and
without: the median milliseconds a frame and per stage (the first frame left out); the cloth's
simulation is the ``settle`` stage.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_animation import per_frame  # noqa: E402


def box(half: float, height: float) -> tuple[np.ndarray, np.ndarray]:
    """A closed box on z = 0 (outward triangles)."""
    import trimesh

    m = trimesh.creation.box(extents=(2 * half, 2 * half, height))
    m.apply_translation((0, 0, height / 2))
    return np.asarray(m.vertices), np.asarray(m.faces)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 60], help="quads per side (default 20 60)")
    ap.add_argument("--frames", type=int, default=48, help="frames simulated per sheet (default 48: 2 s at 24 fps)")
    ap.add_argument("--runs", type=int, default=0, help="tabletop frames rendered with and without a cloth (0: none)")
    args = ap.parse_args()

    from simgen.blender.cloth import simulate
    from simgen.scene.cloth import Cloth

    pose = np.eye(4)
    pose[2, 3] = 0.5
    colliders = [box(0.15, 0.3)]
    print(f"{'sheet':>9s} {'vertices':>8s} {'frames':>6s} {'seconds':>8s} {'s/frame':>8s} {'at rest':>7s}")
    for n in args.sizes:
        cloth = Cloth(size=(1.0, 1.0), resolution=n)
        run = simulate(cloth, pose, colliders, steps=1, settle=args.frames)
        print(f"{f'{n}x{n}':>9s} {cloth.vertex_count:8d} {run.frames:6d} {run.seconds:8.3f} "
              f"{run.seconds / max(run.frames, 1):8.4f} {'yes' if run.settled else 'no':>7s}")
    if args.runs:
        pipeline(args.runs)


def pipeline(frames: int) -> None:
    """Tabletop frames with a cloth and without: median ms a frame and per stage."""
    simgen = str(Path(sys.executable).with_name("simgen"))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for cloth in (0, 1):
            out = Path(tmp) / f"cloth{cloth}"
            r = subprocess.run([simgen, f"objects.cloth={cloth}", f"frames={frames}", "render.width=160",
                                "render.height=120", "render.samples=8", "render.device=cpu", f"output.dir={out}"],
                               capture_output=True, text=True, env=os.environ)
            if r.returncode:
                sys.exit(f"objects.cloth={cloth} failed: {r.stderr[-2000:]}")
            results[cloth] = per_frame(out)
    print(f"tabletop per frame, ms (median of {frames - 1}; 160x120, 8 samples; the cloth's simulation is settle):")
    print(f"{'stage':<8} {'no cloth':>9} {'cloth':>9}")
    for s in {k: None for r in results.values() for k in r}:
        print(f"{'frame' if s == 'seconds' else s:<8} {results[0].get(s, float('nan')):9.1f} "
              f"{results[1].get(s, float('nan')):9.1f}")


if __name__ == "__main__":
    main()
