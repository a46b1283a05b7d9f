#!/usr/bin/env python3
"""The picture of pose labels in docs/tutorials/pose.md: 3D boxes and keypoints drawn over rendered frames.

Renders a few frames of the default tabletop scene with keypoints on, then draws each COCO
annotation's projected 3D box (front face thicker, centre dot) and its keypoints (filled:
visible, ring: hidden; joined by the category's skeleton) with the same function as
``previews/pose/`` (simgen.labels.preview.pose_overlay), one column per frame and one row per
keypoint source::

    python scripts/make_pose_figure.py                  # docs/img/pose_labels.png
    python scripts/make_pose_figure.py --frames 2 --samples 16
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from figure_sheet import REPO, render, save, sheet

ROWS = {"box: the 3D box's corners and centre": ["output.keypoints=box"],
        "farthest: 8 farthest-point samples of the surface": ["output.keypoints=farthest", "output.keypoint_count=8"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--samples", type=int, default=48)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "pose_labels.png")
    args = ap.parse_args()
    from simgen.io.files import read_png
    from simgen.labels.preview import pose_overlay

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, overrides in enumerate(ROWS.values()):
            out = render(Path(tmp) / f"row{k}", args.seed, args.frames, args.width, args.height, args.samples,
                         "objects.count=[3,5]", "output.labels=[keypoints]", *overrides)
            coco = json.loads((out / "coco.json").read_text())
            skeletons = {c["id"]: c.get("skeleton", []) for c in coco["categories"]}
            rows.append([pose_overlay(read_png(out / image["file_name"]),
                                      [a for a in coco["annotations"] if a["image_id"] == image["id"]], skeletons)
                         for image in coco["images"]])
    save(sheet(rows), args.out, "rows: " + "; ".join(ROWS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
