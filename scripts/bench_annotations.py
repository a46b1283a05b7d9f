#!/usr/bin/env python3
"""How long COCO annotations (RLE masks, boxes, areas) of one frame take: a 640x480 instance
map with 20 rectangles of 10-150 px, best of 5 after a warm-up: about 3 ms on a 2-core machine,
a small part of a frame's budget (the tests check the annotations, not their speed).

    python scripts/bench_annotations.py
    python scripts/bench_annotations.py --width 1920 --height 1080 --objects 100
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from simgen.labels import coco_annotations


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--objects", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    inst = np.zeros((a.height, a.width), np.uint16)
    for i in range(1, a.objects + 1):
        x, y = rng.integers(0, max(1, a.width - 100)), rng.integers(0, max(1, a.height - 100))
        inst[y:y + rng.integers(10, 150), x:x + rng.integers(10, 150)] = i
    cats = {i: 1 + i % 5 for i in range(1, a.objects + 1)}
    coco_annotations(inst, cats, 0)  # warm-up
    times = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        anns = coco_annotations(inst, cats, 0)
        times.append(time.perf_counter() - t)
    print(f"{a.width}x{a.height}, {len(anns)} annotations: best {min(times) * 1e3:.1f} ms, "
          f"median {np.median(times) * 1e3:.1f} ms over {a.repeat}")


if __name__ == "__main__":
    main()
