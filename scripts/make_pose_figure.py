#!/usr/bin/env python3
"""The README picture of pose labels: 3D boxes and keypoints drawn over rendered frames.

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
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
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
    from PIL import Image

    from simgen.io.files import read_png
    from simgen.labels.preview import pose_overlay

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, overrides in enumerate(ROWS.values()):
            out = Path(tmp) / f"row{k}"
            subprocess.run([sys.executable, "-m", "simgen.cli", f"output.dir={out}", f"seed={args.seed}",
                            f"frames={args.frames}", f"render.width={args.width}", f"render.height={args.height}",
                            f"render.samples={args.samples}", "objects.count=[3,5]", "output.labels=[keypoints]",
                            *overrides], cwd=REPO, check=True, capture_output=True)
            coco = json.loads((out / "coco.json").read_text())
            skeletons = {c["id"]: c.get("skeleton", []) for c in coco["categories"]}
            pics = []
            for image in coco["images"]:
                anns = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
                pics.append(pose_overlay(read_png(out / image["file_name"]), anns, skeletons))
            gap = np.full((args.height, 2, 3), 255, np.uint8)
            rows.append(np.concatenate([x for f in pics for x in (f, gap)][:-1], axis=1))
    sep = np.full((2, rows[0].shape[1], 3), 255, np.uint8)
    picture = np.concatenate([x for r in rows for x in (r, sep)][:-1], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB); rows: " + "; ".join(ROWS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
