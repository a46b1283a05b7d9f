#!/usr/bin/env python3
"""Benchmark physics placement: how long settling takes, per support kind, and how often
the simulation comes to rest within scene.physics.max_seconds.

    python scripts/bench_physics.py                 # 20 scenes per support kind, seed 0
    python scripts/bench_physics.py --scenes 50 scene.physics.max_seconds=12 objects.count=[8,12]

Scenes come from the CLI's config (``configs/``) with ``scene.placement=physics`` and one
support kind at a time, plus any Hydra overrides given; sequence ``i`` of the run is the
scene the pipeline would settle for it. Only ``BlenderBackend.settle`` is timed (nothing is
rendered). Printed per kind: scenes, bodies per scene, wall seconds per settle (mean,
median, max), simulated seconds (mean, max) and how many came to rest.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", type=int, default=20, help="scenes settled per support kind (default 20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. scene.physics.substeps=20")
    args = ap.parse_args()

    from hydra import compose, initialize_config_dir

    from simgen.blender import BlenderBackend
    from simgen.config import SUPPORTS
    from simgen.pipeline import catalog_for, load_recipe, make_sequence_scenes
    from simgen.compose.settings import to_settings

    backend = None
    print(f"{'support':8s} {'scenes':>6s} {'bodies':>6s} {'settle s mean':>13s} {'median':>7s} {'max':>6s} "
          f"{'sim s mean':>10s} {'max':>6s} {'at rest':>8s}")
    try:
        for kind in SUPPORTS:
            with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
                cfg = compose(config_name="config", overrides=[
                    "scene.placement=physics", f"scene.physics.supports=[{kind}]", f"seed={args.seed}",
                    "render.device=cpu", "output.dir=/nonexistent-unused", *args.overrides])
            settings = to_settings(cfg)
            catalog, recipe = catalog_for(settings), load_recipe(settings.scene.recipe)
            backend = backend or BlenderBackend(settings.render)
            wall, sim, bodies, rest = [], [], [], 0
            for i in range(args.scenes):
                scene = make_sequence_scenes(recipe, settings, catalog, i)[0]
                t0 = time.perf_counter()
                _, report = backend.settle(scene)
                wall.append(time.perf_counter() - t0)
                sim.append(report["seconds"])
                bodies.append(len(scene.physics.bodies))
                rest += report["at_rest"]
            print(f"{kind:8s} {args.scenes:6d} {statistics.mean(bodies):6.1f} {statistics.mean(wall):13.3f} "
                  f"{statistics.median(wall):7.3f} {max(wall):6.3f} {statistics.mean(sim):10.2f} {max(sim):6.2f} "
                  f"{rest:4d}/{args.scenes:<3d}", flush=True)
    finally:
        if backend is not None:
            backend.close()


if __name__ == "__main__":
    main()
