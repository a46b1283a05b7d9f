#!/usr/bin/env python3
"""The picture of docs/how-to/real-cameras.md: one scene through a pinhole, a wide-angle OpenCV
lens and a fisheye (camera.calibration), each image above its labels (instance masks and boxes,
the dataset's overlay preview), and the right view of a stereo pair (camera.rig=stereo) whose
left view is the pinhole's, above the left view's disparity.

Renders frame 0 of one seed four times (the scene is the same: only the camera changes) and
stacks them, a column per camera::

    python scripts/make_lens_figure.py                  # docs/img/lenses.png
    python scripts/make_lens_figure.py --samples 64
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from figure_sheet import REPO, render, save, sheet


def calibration(path: Path, width: int, height: int, f: float, dist: list[float], model: str) -> str:
    """An OpenCV FileStorage YAML calibration of a centred lens of focal ``f`` pixels."""
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    fs.write("image_width", width)
    fs.write("image_height", height)
    fs.write("camera_matrix", np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]]))
    fs.write("distortion_coefficients", np.array([dist], float))
    fs.write("distortion_model", model)
    fs.release()
    return f"camera.calibration={path}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--width", type=int, default=240)
    ap.add_argument("--height", type=int, default=180)
    ap.add_argument("--samples", type=int, default=48)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "lenses.png")
    args = ap.parse_args()
    from simgen.io.files import read_png

    w, h = args.width, args.height
    columns = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        lenses = {"pinhole": [f"camera.focal_length=[{36 * 0.55},{36 * 0.55}]"],  # fx = 0.55 w
                  "wide-angle radtan": [calibration(t / "wide.yaml", w, h, 0.55 * w, [-0.22, 0.04, 0, 0, 0],
                                                    "radtan")],
                  "fisheye (Kannala-Brandt)": [calibration(t / "fisheye.yaml", w, h, 0.3 * w,
                                                           [0.04, -0.01, 0.002, 0.0], "fisheye")]}
        for k, overrides in enumerate(lenses.values()):
            out = render(t / f"lens{k}", args.seed, 1, w, h, args.samples, "output.previews=true", *overrides)
            columns.append([read_png(out / "images" / "000000.png"), read_png(out / "previews" / "overlay" / "000000.png")])
        out = render(t / "stereo", args.seed, 1, w, h, args.samples, "output.previews=true", *lenses["pinhole"],
                     "camera.rig=stereo", "camera.baseline=[0.12,0.12]")
        columns.append([read_png(out / "right" / "000000.png"), read_png(out / "previews" / "disparity" / "000000.png")])
    rows = [[c[0] for c in columns], [c[1] for c in columns]]
    save(sheet(rows), args.out, "columns: " + "; ".join(lenses) + "; stereo pair (0.12 m) of the pinhole's view: "
         "right image, left disparity; rows: image, labels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
