"""The pose prior's self-intersection check (issue 77, item 3's proof): draws N poses, each for a
body drawn by simgen.people.shape.draw_phenotype (ages 3-80), and prints the rate of poses whose
mesh crosses itself (Anny's SelfInterpenetrationModule) as drawn (draw_pose) and after the
redraw/repair (draw_free_pose), the draws and repairs it took, the time per pose, and the joint
limit violations (0).

    SIMGEN_PEOPLE_LIBRARY=DIR python scripts/pose_prior_check.py --poses 1000 [--seed 0]

warp compiles its kernel once into ``$SIMGEN_WARP_CACHE`` (else the library's ``warp`` folder).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--poses", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--library", default=None, help="the prepared people library (default: $SIMGEN_PEOPLE_LIBRARY)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from simgen.people import poses as P
    from simgen.people.shape import draw_phenotype

    P.self_intersections((), (), args.library)  # compile / load the kernel outside the timings
    shape_rng, raw_rng, free_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(args.seed).spawn(3))
    crossed_raw = crossed_free = draws = repaired = violations = 0
    by_name: dict[str, list[int]] = {name: [0, 0] for name in P.pose_names()}  # drawn, crossing as drawn
    t_raw = t_free = 0.0
    for _ in range(args.poses):
        phenotype = draw_phenotype(shape_rng, age_years=(3.0, 80.0))
        t0 = time.perf_counter()
        name, raw = P.draw_named_pose(raw_rng)
        crossed = P.self_intersections(raw, phenotype, args.library) > 0
        crossed_raw += crossed
        by_name[name][0] += 1
        by_name[name][1] += crossed
        t1 = time.perf_counter()
        free = P.draw_free_pose(free_rng, phenotype, library=args.library)
        t_free += time.perf_counter() - t1
        t_raw += t1 - t0
        crossed_free += free.collisions > 0
        draws += free.draws
        repaired += free.repaired
        violations += len(P.violations(raw)) + len(P.violations(free.pose))
    n = args.poses
    out = {"poses": n, "crossing_as_drawn": crossed_raw / n, "crossing_after": crossed_free / n,
           "draws_per_pose": draws / n, "repaired": repaired, "limit_violations": violations,
           "ms_per_check": 1000 * t_raw / n, "ms_per_free_pose": 1000 * t_free / n,
           "crossing_as_drawn_by_pose": {k: (c / d if d else None) for k, (d, c) in by_name.items()}}
    print(f"{n} poses (seed {args.seed}), bodies aged 3-80 (draw_phenotype), named poses uniform, "
          f"jitter {P.JITTER_DEG} deg, at most {P.TRIES} draws then repair:")
    print(f"  crossing themselves as drawn (draw_pose):   {crossed_raw} ({100 * crossed_raw / n:.1f} %)")
    print("  as drawn, by named pose: " + ", ".join(f"{k} {c}/{d}" for k, (d, c) in by_name.items()))
    print(f"  crossing themselves after (draw_free_pose): {crossed_free} ({100 * crossed_free / n:.1f} %); "
          f"{draws / n:.2f} draws a pose, {repaired} repaired")
    print(f"  joint limit violations: {violations}")
    print(f"  time: {out['ms_per_check']:.0f} ms a draw + body + check; {out['ms_per_free_pose']:.0f} ms a free pose")
    return out


if __name__ == "__main__":
    main()
