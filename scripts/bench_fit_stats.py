#!/usr/bin/env python3
"""Time of ``simgen.fit.stats.image_stats`` per image, on one core.

    python scripts/bench_fit_stats.py                  # 50 images of 640x480
    python scripts/bench_fit_stats.py --size 1920x1080 --images 20

The images are synthetic and varied (random shapes, fine texture, smooth ramps; some blurred,
noisy, vignetted or JPEG-compressed), made before timing. OpenCV runs on one thread and the
BLAS on one (set before numpy loads). Printed: the median milliseconds per image of
``image_stats``, then the median of each stage inside it (the same steps, timed one after the
other on each image; stages shared by several statistics are named for them).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import math
import time

import cv2
import numpy as np

from simgen.fit import stats as S


def picture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """One (h, w, 3) uint8 test image."""
    kind = rng.integers(3)
    if kind == 0:
        img = np.empty((h, w, 3), np.uint8)
        img[:] = rng.integers(40, 200, 3)
        for _ in range(15):
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.circle(img, centre, int(rng.integers(5, max(h, w) // 6)), colour, -1, cv2.LINE_AA)
    elif kind == 1:
        img = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.float32), (0, 0), 1.5)
        img = np.clip(img * 2 - 128, 0, 255).astype(np.uint8)
    else:
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        img = np.clip(np.stack([60 + 90 * xx, 80 + 60 * yy, 70 + 40 * xx * yy], -1), 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 3))
    if rng.random() < 0.5:
        img = np.clip(img + rng.normal(0, rng.uniform(1, 8), img.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(10, 95))])
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(img)


def stages(rgb: np.ndarray) -> dict[str, float]:
    """image_stats' steps one after the other: seconds per stage."""
    out, t = {}, time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        out[name], t = now - t, now

    f = rgb.astype(np.float32)
    scratch3 = cv2.transform(f, S.LUMA_OPPONENT)
    y = cv2.extractChannel(scratch3, 0)
    lap("float + luma (shared)")
    mean, std = (v.ravel() for v in cv2.meanStdDev(scratch3))
    math.hypot(*std[1:]) + 0.3 * math.hypot(*mean[1:])
    lap("brightness, contrast, colourfulness")
    cv2.mean(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV))
    lap("saturation")
    cv2.mean(cv2.LUT(rgb, S.SRGB_TO_LINEAR, dst=scratch3))
    lap("red_green, blue_green")
    scratch1 = cv2.GaussianBlur(y, (0, 0), S.BLUR_INNER)
    gradient = S._gradient(scratch1)
    lap("gradient (blur, noise)")
    S._blur(y, gradient, scratch1)
    lap("blur")
    S._noise(rgb, gradient, scratch3)
    lap("noise")
    S._blockiness(y)
    lap("blockiness")
    S._vignetting(f)
    lap("vignetting")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="640x480", help="image size WxH (default 640x480)")
    ap.add_argument("--images", type=int, default=50, help="images to time (default 50)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    cv2.setNumThreads(1)
    rng = np.random.default_rng(args.seed)
    images = [picture(rng, h, w) for _ in range(args.images)]
    for img in images[:3]:                                     # warm up: caches, lazy initialisation
        S.image_stats(img)
    total = []
    for img in images:
        t = time.perf_counter()
        S.image_stats(img)
        total.append(time.perf_counter() - t)
    parts = [stages(img) for img in images]
    print(f"image_stats on {w}x{h}, {len(images)} images, one core: median {1e3 * np.median(total):.2f} ms per image "
          f"(min {1e3 * np.min(total):.2f}, max {1e3 * np.max(total):.2f})")
    medians = {name: 1e3 * np.median([p[name] for p in parts]) for name in parts[0]}
    for name, ms in medians.items():
        print(f"  {name:38s} {ms:6.2f} ms")
    print(f"  {'(sum of the stage medians)':38s} {sum(medians.values()):6.2f} ms")


if __name__ == "__main__":
    main()
