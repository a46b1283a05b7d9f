#!/usr/bin/env python3
"""Benchmark Blender's cloth solver as simgen runs it (simgen.blender.cloth.simulate): a square
1 m sheet dropped from 0.5 m onto a 0.3 m box on the ground, per resolution, with and without
self-collision, and several sheets dropped together.

    python scripts/bench_cloth.py                        # 20x20 and 60x60 quads, 48 frames each
    python scripts/bench_cloth.py --sizes 20 60 100 --frames 96

Printed per sheet: its quads and vertices, frames simulated, wall seconds in all and per frame
(building the scratch scene, every frame and cleaning up included), whether it had come to
rest by the last frame (its fastest vertex under simgen.blender.cloth.REST_SPEED), and the
seconds per frame of the same drop with self-collision on (cloth.self_collision).

Then ``--cloths N`` (default 3) sheets of the first size, 0.6 m square, turned a different way
each and stacked 5 cm apart over the box, simulated together
(simgen.blender.cloth.simulate_together): colliding with each other, and not (they pass through).

    python scripts/bench_cloth.py --runs 6               # also: tabletop frames with and without cloths

With ``--runs N``, three runs of N tabletop frames (160x120, 8 samples): without a cloth, with
``objects.cloth=1``, and with ``--cloths`` of them (``objects.cloth_count``): the median milliseconds a
frame and per stage (the first frame left out); the cloths' simulation is the ``settle`` stage.
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
    ap.add_argument("--cloths", type=int, default=3, help="sheets simulated together (default 3)")
    ap.add_argument("--runs", type=int, default=0, help="tabletop frames rendered with and without cloths (0: none)")
    args = ap.parse_args()

    from simgen.blender.cloth import simulate, simulate_together
    from simgen.scene.cloth import Cloth

    pose = np.eye(4)
    pose[2, 3] = 0.5
    colliders = [box(0.15, 0.3)]
    print(f"{'sheet':>9s} {'vertices':>8s} {'frames':>6s} {'seconds':>8s} {'s/frame':>8s} {'at rest':>7s} "
          f"{'self s/frame':>12s}")
    for n in args.sizes:
        cloth = Cloth(size=(1.0, 1.0), resolution=n)
        run = simulate(cloth, pose, colliders, steps=1, settle=args.frames)
        itself = simulate(Cloth(size=(1.0, 1.0), resolution=n, self_collision=True), pose, colliders, steps=1,
                          settle=args.frames)
        print(f"{f'{n}x{n}':>9s} {cloth.vertex_count:8d} {run.frames:6d} {run.seconds:8.3f} "
              f"{run.seconds / max(run.frames, 1):8.4f} {'yes' if run.settled else 'no':>7s} "
              f"{itself.seconds / max(itself.frames, 1):12.4f}")
    n = args.sizes[0]
    sheets = []
    for k in range(args.cloths):
        turn = 0.7 * k
        p = np.eye(4)
        p[:2, :2] = [[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]]
        p[:3, 3] = (0.02 * k, 0.0, 0.35 + 0.05 * k)
        sheets.append((Cloth(size=(0.6, 0.6), resolution=n), p))
    vertices = sum(c.vertex_count for c, _ in sheets)
    print(f"{'cloths':>9s} {'vertices':>8s} {'frames':>6s} {'seconds':>8s} {'s/frame':>8s} {'collide':>7s}")
    for collide in (True, False):
        runs = simulate_together(sheets, colliders, steps=1, settle=args.frames, collide=collide)
        print(f"{f'{args.cloths}x{n}x{n}':>9s} {vertices:8d} {runs[0].frames:6d} {runs[0].seconds:8.3f} "
              f"{runs[0].seconds / max(runs[0].frames, 1):8.4f} {'yes' if collide else 'no':>7s}")
    if args.runs:
        pipeline(args.runs, args.cloths)


def pipeline(frames: int, cloths: int) -> None:
    """Tabletop frames without a cloth, with one and with ``cloths``: median ms a frame and per stage."""
    simgen = str(Path(sys.executable).with_name("simgen"))
    results = {}
    runs = {"no cloth": ["objects.cloth=0"], "cloth": ["objects.cloth=1"],
            f"{cloths} cloths": ["objects.cloth=1", f"objects.cloth_count=[{cloths},{cloths}]"]}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, overrides) in enumerate(runs.items()):
            out = Path(tmp) / f"run{k}"
            r = subprocess.run([simgen, *overrides, f"frames={frames}", "render.width=160",
                                "render.height=120", "render.samples=8", "render.device=cpu", f"output.dir={out}"],
                               capture_output=True, text=True, env=os.environ)
            if r.returncode:
                sys.exit(f"{' '.join(overrides)} failed: {r.stderr[-2000:]}")
            results[name] = per_frame(out)
    print(f"tabletop per frame, ms (median of {frames - 1}; 160x120, 8 samples; the cloths' simulation is settle):")
    print(f"{'stage':<8}" + "".join(f" {name:>9}" for name in results))
    for s in {k: None for r in results.values() for k in r}:
        print(f"{'frame' if s == 'seconds' else s:<8}" + "".join(f" {r.get(s, float('nan')):9.1f}"
                                                                for r in results.values()))


if __name__ == "__main__":
    main()
