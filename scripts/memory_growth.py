#!/usr/bin/env python3
"""Resident memory of a run over its frames, from its run log (``DIR/logs/run-*.jsonl``).

    simgen output.dir=/dev/shm/mem frames=5000 render.width=64 render.height=48 render.samples=1
    python scripts/memory_growth.py /dev/shm/mem

Prints the RSS after frames 20, 200, 1000, 2000, ... and the last, the peak, and the growth
per frame fitted over the second half of the run (a leak shows as a steady slope; allocator
warm-up as early growth that levels off), then the growth per frame from frame 20 to the last
(fitted, and end to end) and the largest steps up from one frame to the next: memory kept per
sequence grows in steps at the frames where sequences start (frame = k * sequence.length), which
a fit over a short run's second half catches one or two of. Then the lowest RSS of each stretch of
``--every`` frames (default 20) after the first, fitted: a frame's large short-lived arrays (a peak,
freed and given back) leave it, memory that stays raises it. Then what the run holds in use: the
C allocator's bytes (the run log's ``malloc_mib``) and Python's small objects (``py_blocks``), each
fitted from frame 20: the RSS adds the pages malloc keeps after they are freed (for the next frames,
or stranded behind a block still in use), which grow with the largest peak so far and then stop;
memory the run keeps raises these too. Every run log of the folder counts, in
time order: with render.recycle_every each Blender process writes its own.

Issue 76's check (a played animation, 200 frames, one command line): a skinned bar of 20,800
vertices an armature bends (the file scripts/bench_animation.py writes), or the cart file of
tests/test_environment_animation.py's ``write_blend`` (rigid, keyframed):

    python scripts/bench_animation.py --boxes 0 --bar 24 --blend /dev/shm/bar.blend
    simgen scene=environment scene.file=/dev/shm/bar.blend scene.animation=play 'scene.cameras=[Camera]'
           sequence.length=20 frames=200 render.width=64 render.height=48 render.samples=1 output.dir=/dev/shm/m
    python scripts/memory_growth.py /dev/shm/m
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

STEPS = 8
"""The largest steps up listed."""
STEP_MIB = 1.0
"""The least step up (MiB from one frame to the next) listed."""
EVERY = 20
"""Frames in a stretch whose lowest RSS is listed (``--every``): the frame loop gives freed memory back
at most once every 20 rendered frames (simgen.pipeline.memory.RELEASE_EVERY), at a sequence's start."""


def live(frames: list[dict]) -> None:
    """Print the growth per frame, fitted from frame 20, of what the run holds in use (``frames``: the
    run log's frame lines): the C allocator's bytes (``malloc_mib``: arrays, Blender's data) and
    Python's small objects (``py_blocks``); the RSS adds what malloc keeps freed, which a leak does not
    explain (run logs before these fields, or without glibc's mallinfo2: nothing)."""
    used, blocks = (np.array([r.get(k) for r in frames], float) for k in ("malloc_mib", "py_blocks"))  # None: nan
    after = np.arange(19, len(frames))
    if np.isnan(used[after]).any():
        return
    slope = np.polyfit(after, used[after], 1)[0]
    print(f"  in use (malloc): {used[19]:.1f} MiB after frame 20, {used[-1]:.1f} after the last (range "
          f"{used[after].min():.1f} to {used[after].max():.1f}); {1024 * slope:+.2f} KiB/frame fitted from frame 20")
    if not np.isnan(blocks[after]).any():
        print(f"  Python's small objects: {blocks[19]:.0f} blocks after frame 20, {blocks[-1]:.0f} after the last; "
              f"{np.polyfit(after, blocks[after], 1)[0]:+.1f} blocks/frame fitted from frame 20")


def main(root: str, every: int = 20) -> int:
    logs = sorted(Path(root, "logs").glob("run-*.jsonl"))
    if not logs:
        sys.exit(f"no run log in {root}/logs")
    rows = sorted((json.loads(line) for log in logs for line in log.read_text().splitlines()),
                  key=lambda r: r.get("time", float("inf")))  # the processes of a run, in time order
    frames = [r for r in rows if "frame" in r and r.get("rss_mib") is not None]
    rss = np.array([r["rss_mib"] for r in frames], float)
    n = len(rss)
    if n < 40:
        sys.exit(f"{root}/logs has {n} frames with RSS; run more frames")
    marks = [k for k in (20, 200, 1000, 2000, 3000, 4000, 5000, 10000) if k < n] + [n]
    print(f"{len(logs)} run log(s) (render.recycle_every: one per process): {n} frames")
    print("  " + ", ".join(f"after frame {k}: {rss[k - 1]:.1f} MiB" for k in marks))
    half = np.arange(n // 2, n)
    slope = np.polyfit(half, rss[half], 1)[0]
    print(f"  peak {rss.max():.1f} MiB; growth over the second half: {1024 * slope:+.2f} KiB/frame; "
          f"frame 20 -> last: {100 * (rss[-1] / rss[19] - 1):+.2f} %")
    after = np.arange(19, n)
    fitted = np.polyfit(after, rss[after], 1)[0]
    print(f"  from frame 20 to the last: {1024 * fitted:+.2f} KiB/frame fitted, "
          f"{1024 * (rss[-1] - rss[19]) / max(n - 20, 1):+.2f} KiB/frame end to end")
    lows = [(k + int(np.argmin(rss[k:k + every])), rss[k:k + every].min()) for k in range(every, n - every + 1, every)]
    if len(lows) >= 3:  # each stretch's lowest: what stays once freed memory is given back (a peak's arrays do not)
        at, low = np.array(lows).T
        print(f"  lowest of each {every} frames after the first {every}: " + " ".join(f"{x:.0f}" for x in low)
              + f" MiB; fitted {1024 * np.polyfit(at, low, 1)[0]:+.2f} KiB/frame")
    live(frames)
    steps = np.diff(rss)
    big = [k for k in np.argsort(steps)[::-1][:STEPS] if steps[k] >= STEP_MIB]
    print("  largest steps up: " + (", ".join(f"frame {k + 1} {steps[k]:+.1f} MiB" for k in sorted(big))
                                    or f"none of {STEP_MIB} MiB or more"))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] in (["-h"], ["--help"]):  # the docstring is the usage; nothing is written
        sys.exit(print(__doc__))
    args = sys.argv[1:]
    every = EVERY
    if "--every" in args:  # --every N: the stretches whose lowest RSS is listed
        k = args.index("--every")
        every = int(args[k + 1])
        del args[k:k + 2]
    sys.exit(main(args[0] if args else ".", every))
