"""How well YOLO segmentation polygons (output.formats=[yolo_seg]) reproduce the instance masks.

Renders N frames full of rings (the bundled category with a hole: a polygon that drops the
hole loses about a third of the ring), reads back every line of DIR/yolo_seg/labels/*/*.txt,
fills its polygon and compares it with the object's mask in DIR/instance/NNNNNN.png:

- centre: ``cv2.fillPoly`` at the pixel centres (vertices at x * W - 0.5, sub-pixel, see
  simgen.io.formats.yolo.rasterize_polygon);
- ultralytics: what Ultralytics does when it trains (``polygon2mask``: vertices x * W cast to
  int32, then ``cv2.fillPoly``).

Prints the mean and min IoU per category and for rings, and the instances measured.

    PYTHONPATH=. python scripts/yolo_polygon_iou.py --frames 20           # 20 frames at 320x240
    PYTHONPATH=. python scripts/yolo_polygon_iou.py --dataset DIR         # an existing dataset
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
RING_OVERRIDES = ["objects.weights={ring: 1000}", "objects.count=[2,4]", "scene.camera_distance=[0.6,0.9]"]
"""Frames where rings are most objects and large."""


def render(out: Path, frames: int, width: int, height: int, samples: int, seed: int) -> None:
    cmd = [sys.executable, "-m", "simgen.cli", f"output.dir={out}", f"frames={frames}", f"seed={seed}",
           f"render.width={width}", f"render.height={height}", f"render.samples={samples}",
           "render.device=cpu", "output.formats=[coco,yolo_seg]", *RING_OVERRIDES]
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


def measure(root: Path) -> list[dict]:
    """One record per object: category, pixels, and the IoU of its polygon filled both ways."""
    from simgen.io.files import read_png
    from simgen.io.formats.yolo import rasterize_polygon

    coco = json.loads((root / "coco.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    by_image: dict[int, list[dict]] = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    out = []
    for im in coco["images"]:
        stem = Path(im["file_name"]).stem
        label = root / "yolo_seg" / "labels" / im["simgen"]["split"] / f"{stem}.txt"
        lines = [ln.split() for ln in label.read_text().splitlines() if ln.strip()]
        anns = sorted(by_image.get(im["id"], []), key=lambda a: a["id"])  # the label file's order
        if len(lines) != len(anns):
            raise SystemExit(f"{label}: {len(lines)} lines for {len(anns)} annotations")
        inst = read_png(root / "instance" / f"{stem}.png")
        w, h = im["width"], im["height"]
        for a, line in zip(anns, lines):
            truth = inst == a["simgen"]["instance_id"]
            poly = np.array(line[1:], np.float64).reshape(-1, 2)
            ultra = np.zeros((h, w), np.uint8)
            cv2.fillPoly(ultra, [(poly * [w, h]).astype(np.int32).reshape(-1, 1, 2)], 1)
            out.append({"category": names[a["category_id"]], "pixels": int(truth.sum()),
                        "centre": iou(rasterize_polygon(poly, w, h), truth),
                        "ultralytics": iou(ultra.astype(bool), truth)})
    return out


def report(records: list[dict]) -> str:
    rows = ["category      n   centre mean   centre min   ultralytics mean   ultralytics min"]
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(r["category"], []).append(r)
    for name, rs in [*sorted(groups.items()), ("all", records)]:
        c, u = [r["centre"] for r in rs], [r["ultralytics"] for r in rs]
        rows.append(f"{name:<10} {len(rs):>4}   {np.mean(c):11.4f}   {min(c):10.4f}   "
                    f"{np.mean(u):16.4f}   {min(u):15.4f}")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", type=Path, help="measure this dataset (rendered with yolo_seg) instead")
    a = p.parse_args()
    if a.dataset:
        records = measure(a.dataset)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            render(Path(tmp) / "ds", a.frames, a.width, a.height, a.samples, a.seed)
            records = measure(Path(tmp) / "ds")
    print(report(records))
    rings = [r["centre"] for r in records if r["category"] == "ring"]
    if rings:
        print(f"ring IoU over {len(rings)} instances: mean {np.mean(rings):.4f}, min {min(rings):.4f}")


if __name__ == "__main__":
    main()
