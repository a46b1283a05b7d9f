#!/usr/bin/env python3
"""Frames per second of a multi-view run (scene.views=K) against single views (K = 1): what
building each scene once for its K views saves.

    python scripts/bench_views.py                    # K=8 vs K=1, 32 frames each, 64x48, 4 samples
    python scripts/bench_views.py --views 4 --frames 48 --size 160x120 --rounds 3
    python scripts/bench_views.py -- render.persistent_data=false  # Cycles syncs every render anew

Both configs render the same number of frames of the default recipe (simgen.render, as the CLI
does), one after the other, ``--rounds`` times alternately (a shared machine drifts over
minutes); each run's own log (logs/run-*.jsonl) gives the wall seconds of its frame loop, from
before its first frame to after its last, without the start-up (bpy, the catalog) and the
end-of-run exports, and the mean seconds of each stage a frame (``sample`` is the recipe's
draw of a scene, ``build`` putting it into Blender). Prints one row per run and the ratio of
the frame rates.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one_run(out: Path, views: int, frames: int, width: int, height: int, samples: int, seed: int,
            more: list[str]) -> dict:
    import simgen

    simgen.render([f"render.width={width}", f"render.height={height}", f"render.samples={samples}",
                   f"scene.views={views}", f"seed={seed}", "output.formats=[]", *more], out=str(out), frames=frames)
    [log] = sorted((out / "logs").glob("run-*.jsonl"))
    return json.loads(log.read_text().splitlines()[-1])["summary"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--frames", type=int, default=32, help="frames of each run (a multiple of --views)")
    ap.add_argument("--size", default="64x48")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("overrides", nargs="*", help="more simgen overrides, after -- (e.g. render.denoise=false)")
    args = ap.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="simgen-views-") as tmp:
        for r in range(args.rounds):
            for views in (args.views, 1) if r % 2 else (1, args.views):
                s = one_run(Path(tmp) / f"r{r}-k{views}", views, args.frames, width, height, args.samples, seed=r,
                             more=args.overrides)
                rows.append((views, s))
                stages = "  ".join(f"{k} {v * 1000:.0f}" for k, v in s["stages"].items())
                print(f"K={views:<3d} {s['frames']} frames in {s['seconds']:.2f} s: {s['frames'] / s['seconds']:.2f} "
                      f"frames/s  (ms a frame: {stages})", flush=True)
    fps = {k: sum(s["frames"] for v, s in rows if v == k) / sum(s["seconds"] for v, s in rows if v == k)
           for k in (1, args.views)}
    print(f"K={args.views}: {fps[args.views]:.2f} frames/s, K=1: {fps[1]:.2f} frames/s, "
          f"x{fps[args.views] / fps[1]:.2f} ({args.size}, {args.samples} samples, {args.rounds} rounds)")


if __name__ == "__main__":
    main()
