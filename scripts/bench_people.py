#!/usr/bin/env python3
"""Benchmark people (simgen.people): what a body costs to build, and what people cost a rendered frame.

    python scripts/bench_people.py                 # bodies only: build, re-pose, memory
    python scripts/bench_people.py --runs 6        # also tabletop frames with 0, 1 and 4 people

Bodies (one torch thread, as the frame loop builds them): the first body of a process (loading
Anny's model data from the prepared library, ``$SIMGEN_PEOPLE_LIBRARY`` or ``--library``), then
the median milliseconds of ``--bodies`` new bodies (each another phenotype and pose drawn, so no
cache helps), of re-posing one body, and the process's peak memory (RSS).

With ``--runs N``, three runs of N tabletop frames at room scale (160x120, 8 samples, the camera
2.5 to 4 m away): without people, with one, with four (``objects.people``): the median milliseconds
a frame and per stage (the first frame left out), so a person's cost a frame is the difference.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_animation import per_frame  # noqa: E402


def bodies(count: int, library: str | None) -> None:
    import torch

    from simgen.people.body import PersonParams, body
    from simgen.people.poses import draw_pose
    from simgen.people.shape import draw_phenotype

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    body(PersonParams(phenotype=draw_phenotype(rng)), library)
    first = time.perf_counter() - t
    built, reposed = [], []
    shape = draw_phenotype(rng)
    for _ in range(count):
        params = PersonParams(phenotype=draw_phenotype(rng), pose=draw_pose(rng))
        t = time.perf_counter()
        body(params, library)
        built.append(time.perf_counter() - t)
        params = PersonParams(phenotype=shape, pose=draw_pose(rng))
        t = time.perf_counter()
        body(params, library)
        reposed.append(time.perf_counter() - t)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"first body (model loaded): {first:.2f} s")
    print(f"a new body: {1000 * statistics.median(built):.1f} ms (median of {count}; "
          f"{1000 * min(built):.1f}-{1000 * max(built):.1f})")
    print(f"the same body re-posed: {1000 * statistics.median(reposed):.1f} ms")
    print(f"peak memory (RSS): {rss:.0f} MiB")


def pipeline(runs: int, library: str | None) -> None:
    simgen = str(Path(sys.executable).with_name("simgen"))
    env = dict(os.environ)
    if library:
        env["SIMGEN_PEOPLE_LIBRARY"] = library
    cases = {"no people": "[0,0]", "1 person": "[1,1]", "4 people": "[4,4]"}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, people in cases.items():
            out = Path(tmp) / name.replace(" ", "_")
            r = subprocess.run([simgen, f"objects.people={people}", "scene.camera_distance=[2.5,4]", f"frames={runs}",
                                "render.width=160", "render.height=120", "render.samples=8", f"output.dir={out}"],
                               capture_output=True, text=True, env=env)
            if r.returncode != 0:
                sys.exit(f"bench_people: {name}: {r.stderr.strip().splitlines()[-1]}")
            results[name] = per_frame(out)
    stages = [s for s in results["no people"] if s != "seconds"]
    print(f"\ntabletop frames, 160x120, 8 samples, median of {runs - 1} (ms):")
    print(f"{'':>10s} {'frame':>8s} " + " ".join(f"{s:>9s}" for s in stages))
    for name, figures in results.items():
        print(f"{name:>10s} {figures['seconds']:8.0f} " + " ".join(f"{figures.get(s, 0.0):9.0f}" for s in stages))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bodies", type=int, default=20, help="new bodies timed (default 20)")
    ap.add_argument("--runs", type=int, default=0, help="tabletop frames rendered with 0, 1 and 4 people (0: none)")
    ap.add_argument("--library", help="the prepared people library (default: $SIMGEN_PEOPLE_LIBRARY or ~/.cache)")
    args = ap.parse_args()
    if args.bodies < 1 or args.runs == 1:
        sys.exit("bench_people: give --bodies >= 1 and --runs 0 or >= 2 (the first frame is left out)")
    bodies(args.bodies, args.library)
    if args.runs:
        pipeline(args.runs, args.library)


if __name__ == "__main__":
    main()
