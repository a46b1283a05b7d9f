#!/usr/bin/env python3
"""Memory, time and file count of a dataset of 200,000 frames in the streaming formats: does
anything grow with the dataset that should not?

    python scripts/bench_scale.py                  # 200,000 frames (about two hours on 2 cores, 30 GB)
    python scripts/bench_scale.py --steps 2000,6000 --loop-frames 300 --out /tmp/scale   # a quick look

1. **The frame loop**: ``--loop-frames`` frames rendered by the test suite's fake renderer
   (tests/fake_renderer.py: no Blender, 64x48) with ``output.formats=[coco, webdataset,
   parquet]``, the shards built as their ranges complete (``output.shard_size`` 1000): seconds
   per frame, and the loop's resident memory over its frames (scripts/memory_growth.py).
2. **The dataset grown** step by step to each of ``--steps`` frames, the new frames cloned from
   the loop's (scripts/bench_exports.py: hard links, each its own meta). After each step, each in
   a fresh process (peak RSS: its ru_maxrss), what the end of a run does: the COCO index, the
   webdataset and parquet shards, and the coco and yolo exports brought up to date for the frames
   added. Printed: seconds per frame added and peak RSS; flat memory is the same peak at every
   step.
3. **simgen merge** of the whole dataset into a new folder (frames hard-linked, its index and
   coco.json built) at the first and the last step: seconds per frame and peak RSS.
4. **Files on disk** at the last step, per folder.

Everything is written under ``--out`` (deleted at the end unless ``--keep``); at 200,000 frames
it needs about 30 GB (the shards hold copies of the frames' bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "scripts"), str(REPO / "tests")]

from bench_exports import clone, measure  # noqa: E402

STAGES = ("index", "webdataset", "parquet", "coco", "yolo")
"""What the end of a run brings up to date (index: the COCO index every format reads)."""


def frame_loop(root: Path, frames: int) -> float:
    """Render ``frames`` frames with the fake renderer into ``root``; seconds per frame."""
    from conftest import set_settings, tiny_settings
    from fake_renderer import FakeRenderer
    from simgen.pipeline import run

    settings = set_settings(tiny_settings(root, frames=frames, width=64, height=48),
                            output__formats=["coco", "webdataset", "parquet"])
    t = time.perf_counter()
    run(settings, make_renderer=FakeRenderer)
    return (time.perf_counter() - t) / frames


def merge_child(root: Path, out: Path) -> dict:
    from simgen.io.dataset.merge import merge

    t = time.perf_counter()
    merge(out, [root])
    return {"s": time.perf_counter() - t, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--_child", *args], capture_output=True, text=True)
    if out.returncode:
        sys.exit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def file_count(root: Path) -> dict[str, int]:
    """Files under each top-level folder of ``root`` (``.``: those directly in it)."""
    counts: dict[str, int] = {}
    for top in sorted(root.iterdir()):
        counts[top.name if top.is_dir() else "."] = counts.get(top.name if top.is_dir() else ".", 0) + (
            sum(len(files) for _, _, files in os.walk(top)) if top.is_dir() else 1)
    return counts


def row(*cells) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", default="25000,50000,100000,200000", help="dataset sizes, comma-separated, rising")
    ap.add_argument("--loop-frames", type=int, default=3000, help="frames through the frame loop (and clone sources)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/simgen_scale"))
    ap.add_argument("--keep", action="store_true", help="keep --out")
    ap.add_argument("--_child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._child:
        what, *rest = a._child
        result = ({"s_per_frame": frame_loop(Path(rest[0]), int(rest[1]))} if what == "loop"
                  else merge_child(Path(rest[0]), Path(rest[1])))
        print(json.dumps(result))
        return 0
    steps = [int(n) for n in a.steps.split(",")]
    if steps != sorted(set(steps)) or steps[0] < 1:
        sys.exit("--steps: dataset sizes, rising")
    shutil.rmtree(a.out, ignore_errors=True)
    a.out.mkdir(parents=True)
    seed, big = a.out / "loop", a.out / "big"
    try:
        loop = child("loop", str(seed), str(a.loop_frames))
        print(f"frame loop, {a.loop_frames} frames (fake renderer, 64x48, formats coco, webdataset, parquet): "
              f"{1000 * loop['s_per_frame']:.1f} ms per frame", flush=True)
        subprocess.run([sys.executable, str(REPO / "scripts" / "memory_growth.py"), str(seed)], check=True)

        row("frames", "stage", "frames added", "s", "ms per frame added", "peak RSS MiB")
        row(*["---"] * 6)
        done = 0
        for n in steps:
            clone(seed, big, range(done, n), a.loop_frames)
            if not done:  # the merge's formats: coco (the streaming formats' cost is measured apart)
                info = json.loads((big / "dataset.json").read_text())
                info["config"]["output"]["formats"] = ["coco"]
                (big / "dataset.json").write_text(json.dumps(info))
            for stage in STAGES:
                r = measure(big, stage)
                s = r["index_s"] if stage == "index" else r["export_s"]
                row(n, stage, n - done, f"{s:.1f}", f"{1000 * s / (n - done):.2f}", f"{r['peak_mib']:.0f}")
            if n in (steps[0], steps[-1]):
                merged = a.out / "merged"
                m = child("merge", str(big), str(merged))
                shutil.rmtree(merged)
                row(n, "merge (whole dataset)", n, f"{m['s']:.1f}", f"{1000 * m['s'] / n:.2f}", f"{m['peak_mib']:.0f}")
            done = n
        counts = file_count(big)
        print(f"files on disk at {done} frames: {sum(counts.values())} "
              f"({', '.join(f'{k}: {v}' for k, v in counts.items())})", flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(a.out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
