#!/usr/bin/env python3
"""How long the COCO index and coco.json take over a big dataset, and their peak RSS.

    python scripts/bench_coco.py --frames 100000 --objects 10     # ~1M annotations
    python scripts/bench_coco.py --frames 20000 --keep /dev/shm/x # keep the synthetic dataset

Writes synthetic frames into a fresh folder: only what the index is built from (a meta file
per frame with its COCO image record and ``--objects`` annotations with RLE masks of a
realistic length, 64x48 px), no pixels. Then, each in a fresh child process:

- ``from scratch``: the index built from every meta file (a dataset from an older simgen,
  or a first run), then coco.json streamed from it;
- ``end of a run``: ``--new`` more frames appear (what one run or shard wrote), and the index
  is brought up to date (only the chunks they fall in are rebuilt), then coco.json is
  streamed again.

Prints seconds of each step and the child's peak RSS (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CATEGORIES = [{"id": i, "name": f"c{i}", "supercategory": "object"} for i in range(1, 11)]


def synthesize(root: Path, frames: range, objects: int) -> None:
    (root / "meta").mkdir(parents=True, exist_ok=True)
    counts = "R5d0g1Y2f0a0O100O1O00010O01N1O1N2O0O2N1N3M2O001O0O2N1O1O001N2N1M3K5N2OO001O0000L4M3lQ2"
    for i in frames:
        anns = [{"id": i * 65536 + k + 1, "image_id": i + 1, "category_id": k % 10 + 1,
                 "iscrowd": 0, "area": 120 + k, "bbox": [1.0 + k, 2.0, 12.0, 9.0],
                 "segmentation": {"size": [48, 64], "counts": counts},
                 "simgen": {"instance_id": k + 1, "track_id": i * 65536 + k + 1}}
                for k in range(objects)]
        split = ("train", "train", "train", "train", "train", "train", "train", "train", "val", "test")[i % 10]
        meta = {"index": i, "coco": {"image": {"id": i + 1, "file_name": f"images/{i:06d}.png", "width": 64,
                                               "height": 48, "simgen": {"frame_index": i, "split": split}},
                                     "annotations": anns}}
        (root / "meta" / f"{i:06d}.json").write_text(json.dumps(meta))


def child(root: Path) -> dict:
    sys.path.insert(0, str(REPO))
    from simgen.io.dataset.coco_index import CocoIndex
    from simgen.io.dataset.layout import frames_on_disk

    t0 = time.perf_counter()
    index = CocoIndex(root, CATEGORIES)
    rebuilt = index.update(frames_on_disk(root))
    t1 = time.perf_counter()
    index.write_coco(root / "coco.json")
    t2 = time.perf_counter()
    index.write_split_cocos({s: root / f"coco_{s}.json" for s in index.split_names()})  # the coco exporter's
    t3 = time.perf_counter()
    return {"index_s": t1 - t0, "rebuilt": rebuilt, "coco_s": t2 - t1, "splits_s": t3 - t2,
            "annotations": index.annotations,
            "images": index.images, "coco_mib": (root / "coco.json").stat().st_size / 2**20,
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_child(root: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--_child", str(root)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(label: str, r: dict) -> None:
    print(f"{label}: index {r['index_s']:.2f} s ({r['rebuilt']} chunk(s) rebuilt), coco.json {r['coco_s']:.2f} s "
          f"({r['images']} images, {r['annotations']} annotations, {r['coco_mib']:.0f} MiB), "
          f"coco_<split>.json (80/10/10 %) {r['splits_s']:.2f} s, "
          f"peak RSS {r['peak_mib']:.0f} MiB", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--objects", type=int, default=10, help="annotations per frame")
    ap.add_argument("--new", type=int, default=100, help="frames the timed run wrote (default 100)")
    ap.add_argument("--keep", help="synthesize into this folder and keep it")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        print(json.dumps(child(Path(args._child))))
        return 0
    shm = Path("/dev/shm")
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(
        prefix="simgen-bench-coco-", dir=str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None))
    try:
        t0 = time.perf_counter()
        synthesize(root, range(args.frames - args.new), args.objects)
        print(f"synthesized {args.frames - args.new} frames x {args.objects} annotations in "
              f"{time.perf_counter() - t0:.1f} s ({root})", flush=True)
        report("from scratch", run_child(root))
        synthesize(root, range(args.frames - args.new, args.frames), args.objects)
        report(f"end of a run that wrote {args.new} frames", run_child(root))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
