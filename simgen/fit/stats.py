"""The statistics that say what a set of images and its labels "look like" (``simgen fit``).

Each image statistic is one scalar per image (:func:`image_stats`); a set of images gives one
sample per statistic (:func:`image_samples`), and :mod:`simgen.fit.distance` compares a
target's samples with a render's. Label statistics (:func:`label_stats`) are samples drawn
from a COCO file: one value per image or per object. Pure numpy and OpenCV.

Image statistics, in the order of :data:`IMAGE_STATS` (``Y`` is the luma ``0.2126 R +
0.7152 G + 0.0722 B`` of the 8-bit sRGB values, in levels 0..255; "linear" values decode the
sRGB curve to [0, 1]):

``brightness``
    mean of ``Y`` / 255: 0 black, 1 white.
``contrast``
    RMS contrast: standard deviation of ``Y`` over the pixels / 255.
``saturation``
    mean over the pixels of the HSV saturation ``(max - min) / max`` of R, G, B (0 where
    max is 0; OpenCV's 8-bit HSV, rounded to 1/255 per pixel), in [0, 1].
``colourfulness``
    Hasler & Suesstrunk (2003) M on the 8-bit values, / 255: with ``rg = R - G`` and
    ``yb = (R + G) / 2 - B`` over the pixels, ``sqrt(std(rg)^2 + std(yb)^2) + 0.3 *
    sqrt(mean(rg)^2 + mean(yb)^2)``; 0 for a grey image.
``red_green``, ``blue_green``
    gray-world colour cast: ``log(mean R / mean G)`` and ``log(mean B / mean G)`` of the
    linear values (means + 1e-6); a neutral scene under per-channel gains ``g`` gives
    ``log(g_R / g_G)``, ``log(g_B / g_G)``; 0 for a grey image.
``blur``
    edge width, pixels: the sigma ``b`` of the Gaussian blur that, applied to pixel-sharp
    step edges, gives the image's strongest edges (about 0 for pixel-sharp steps), by
    re-blurring (:func:`_blur`); at most :data:`BLUR_MAX`, which is also the value of an
    image with no strong edge. Within 10 % for Gaussian blurs of sigma 1 to 4 of random
    shapes, also under noise of sigma 5 levels; on a fine texture it is the texture's own
    grain.
``noise``
    sigma of additive Gaussian noise per colour channel, 8-bit levels: Immerkaer's (1996)
    estimator per channel away from edges, ``sqrt(max(0, mean_c sigma_c^2 - 1/12))``: the
    RMS over R, G, B with 8-bit rounding's variance taken out (:func:`_noise`). Within 2 %
    for sigma 2 to 10 on smooth or edged pictures; about 0 for a clean image.
``coarse_noise``
    the noise that survives JPEG: :func:`_noise`'s estimator on the image averaged over
    :data:`COARSE` x :data:`COARSE` blocks, the median of its per-pixel response instead of a
    mean away from edges (at a quarter of the resolution most pixels are near one), in
    full-resolution levels: white noise of sigma ``s`` reads ``s`` (within 10 % for sigma 5 to
    20 on smooth pictures). JPEG's quantization removes the fine noise that ``noise`` reads,
    leaving blotches a few pixels wide that this still sees: on fit_gap's target (JPEG quality
    10-25), renders developed with its sensor noise (full well 30-100) measured 0.48 target
    spreads from it, with a full well of 1,000-20,000 1.11; ``noise`` read 0.53 and 0.92.
``blockiness``
    JPEG 8x8 blocking: mean ``|dY|`` between neighbouring pixels across the block
    boundaries of JPEG's grid (columns and rows 8k-1 | 8k, k >= 1), divided by the mean
    ``|dY|`` between all other neighbouring pixels, each mean + :data:`BLOCK_EPS` levels:
    1 without blocking (a flat image too), rising as JPEG quality falls. With OpenCV's
    encoder at quality 95, 50, 20, 5: 1.04, 1.34, 1.8, 4.5 on a fine random texture (1.0 as
    PNG); 1.6, 5.4, 8.7, 16 on smooth ramps, where JPEG's blocks are flat. A crop or resize
    after the encoding moves the grid and hides the blocking (then below 1). On images whose
    detail is a few strong straight edges (flat CG shapes), where those edges fall relative
    to the grid decides it: 0.7 to 2 without any JPEG; a sample of many images averages
    that out.
``vignetting``
    light fall-off towards the corners: ``1 - exp(c)``, ``c`` the slope of the least-squares
    line of ``log Yl`` against ``r^2`` (:func:`_vignetting`); ``Yl`` linear luminance, ``r``
    the distance to the image centre over the half-diagonal. 0 without vignetting, 0.3 when
    the corners get 30 % less light than the centre, negative when they get more. Exact for
    a fall-off ``exp(c r^2)``; for the cos^4 law ``(1 + r^2 tan^2 theta_max)^(-2 strength)``
    (:func:`simgen.imaging.effects.vignetting_map`) within 0.02 of the map's ``1 - corner
    value`` for tan theta_max <= 0.8.
"""

from __future__ import annotations

import functools
import math
from typing import Iterable

import cv2
import numpy as np

from simgen.color import tone
from simgen.color.tone import srgb_to_linear
from simgen.child_processes import thread_map

IMAGE_STATS: tuple[str, ...] = ("brightness", "contrast", "saturation", "colourfulness", "red_green",
                                "blue_green", "blur", "noise", "coarse_noise", "blockiness", "vignetting")
"""The image statistics, in the order of :func:`image_stats`' vector (module docstring)."""

LABEL_STATS: tuple[str, ...] = ("objects", "size", "aspect", "x", "y", "truncated")
"""The label statistics of :func:`label_stats`: ``objects`` one value per image, the rest one
per object."""

LUMA = tone.LUMA[None]
"""Rec.709 luma weights as a 1x3 float32 matrix (the shape ``cv2.transform`` takes): the one row is
:data:`simgen.color.tone.LUMA`."""

LUMA_OPPONENT = np.array([LUMA[0], [1.0, -1.0, 0.0], [0.5, 0.5, -1.0]], np.float32)
"""Luma, then rg and yb of Hasler & Suesstrunk's colourfulness (3x3, ``cv2.transform``)."""

SECOND_DIFFERENCE = np.array([1, -2, 1], np.float32)
"""Immerkaer's noise mask is its outer product ``[[1, -2, 1], [-2, 4, -2], [1, -2, 1]]``: blind
to planes and to quadratics in x or in y; on white noise of sigma s its response has sigma
6 s."""

BLUR_INNER, BLUR_OUTER = 1.5, 3.0
"""The two known blurs (Gaussian sigma, pixels) of :func:`_blur`."""

BLUR_KERNEL = 0.25
"""Variance (px^2) that the central-difference gradient and the pixel grid add to an edge's
measured width: 0.23 to 0.27 measured on pixel-sharp steps, bare and under Gaussian blurs of
sigma 1 to 3."""

BLUR_POINTS = 10000
"""At most this many strong pixels (an even subsample) are tested as ridges by :func:`_blur`:
a fine texture has ten times more at 640x480, and the median needs far fewer."""

BLUR_MAX = 10.0
"""The largest :func:`_blur` reports (pixels), and its value without strong edges."""

EDGE_SHARE = 0.5
"""Strong edges: ridge pixels whose gradient is at least this share of the 99.5th
percentile of the image's gradient magnitude (of every 4th pixel in x and y), and at least 1
level per pixel."""

NOISE_EDGES = 0.1
"""The share of pixels, those of largest gradient, that :func:`_noise` leaves out."""

COARSE = 4
"""The block size (pixels) that ``coarse_noise`` averages over before it reads the noise."""

MEDIAN_ABS = 0.6744897501960817
"""The median of ``|x|`` for a standard normal ``x``: the median absolute response over sigma."""

BLOCK_EPS = 0.1
"""Added to both means of ``blockiness`` (8-bit levels): flat images give 1, not 0/0."""

VIGNETTE_SIZE = 64
""":func:`_vignetting` works on a copy whose longer side is at most this (pixels): it is a
fall-off over the whole frame, and averaging areas quiets the texture."""

VIGNETTE_RINGS = 10
"""Equal-width bins of ``r^2`` in [0, 1] (equal-area rings where they are whole)."""


SRGB_TO_LINEAR = srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)
"""The sRGB decoding curve per 8-bit value (a cv2.LUT table)."""


# ------------------------------------------------------------------ image statistics


def image_stats(rgb: np.ndarray) -> np.ndarray:
    """The statistics of one image.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 sRGB, H and W at least 16.

    Returns
    -------
    float64 vector of len(IMAGE_STATS), in that order; every value finite. The definitions
    and units are in this module's docstring.
    """
    rgb = np.ascontiguousarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 16:
        raise ValueError(f"image_stats wants an (H, W, 3) uint8 RGB image of at least 16x16, got "
                         f"{rgb.dtype} {rgb.shape}")
    # fresh pages cost as much as the arithmetic here: the large arrays are reused (dst=)
    f = rgb.astype(np.float32)
    scratch3 = cv2.transform(f, LUMA_OPPONENT)
    mean, std = (v.ravel() for v in cv2.meanStdDev(scratch3))
    y = cv2.extractChannel(scratch3, 0)
    saturation = cv2.mean(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV))[1] / 255.0
    r, g, b = (v + 1e-6 for v in cv2.mean(cv2.LUT(rgb, SRGB_TO_LINEAR, dst=scratch3))[:3])
    scratch1 = cv2.GaussianBlur(y, (0, 0), BLUR_INNER)
    gradient = _gradient(scratch1)
    return np.array([
        mean[0] / 255.0,
        std[0] / 255.0,
        saturation,
        (math.hypot(*std[1:]) + 0.3 * math.hypot(*mean[1:])) / 255.0,
        math.log(r / g),
        math.log(b / g),
        _blur(y, gradient, scratch1),
        _noise(rgb, gradient, scratch3),
        _coarse_noise(f),
        _blockiness(y),
        _vignetting(f),
    ], np.float64)


def image_samples(images: Iterable[np.ndarray]) -> dict[str, np.ndarray]:
    """The image statistics of a set of images.

    Parameters
    ----------
    images : iterable of (H, W, 3) uint8 sRGB images (:func:`image_stats`).

    Returns
    -------
    {name: float64 1-D array} for every name in IMAGE_STATS, one value per image, in the
    order of ``images`` (empty arrays for no images).
    """
    return samples_of(np.array(thread_map(image_stats, list(images)), np.float64))


def samples_of(rows: np.ndarray) -> dict[str, np.ndarray]:
    """{name: 1-D sample} of IMAGE_STATS from rows of :func:`image_stats` ((N, len(IMAGE_STATS)))."""
    rows = np.asarray(rows, np.float64).reshape(-1, len(IMAGE_STATS))
    return {name: rows[:, k].copy() for k, name in enumerate(IMAGE_STATS)}


def _quantile(a: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``a``'s values (the lower one, no interpolation)."""
    a = a.ravel()
    k = min(int(q * a.size), a.size - 1)
    return float(np.partition(a, k)[k])


def _gradient(a: np.ndarray) -> np.ndarray:
    """Gradient magnitude of a float32 image by central differences, levels per pixel."""
    gx = cv2.Sobel(a, cv2.CV_32F, 1, 0, ksize=1, scale=0.5)
    return cv2.magnitude(gx, cv2.Sobel(a, cv2.CV_32F, 0, 1, ksize=1, scale=0.5), gx)


def _blur(y: np.ndarray, gradient: np.ndarray, scratch: np.ndarray) -> float:
    """Edge width by re-blurring.

    A step edge under a Gaussian blur of sigma ``b`` has a Gaussian gradient profile whose
    peak falls as ``1 / sqrt(b^2 + s^2)`` when the image is blurred again with sigma ``s``.
    With ``s`` = :data:`BLUR_INNER` (which also quiets noise) and :data:`BLUR_OUTER`, the
    ratio ``R`` of the two peaks at the strong edges (ridge pixels of the inner gradient,
    :data:`EDGE_SHARE`, at most :data:`BLUR_POINTS` tested; each peak interpolated to
    sub-pixel position by a parabola through the log gradient along the ridge's axis, exact
    for a Gaussian profile; the median log ratio over the ridge pixels) gives
    ``b^2 + k = (s_o^2 - R^2 s_i^2) / (R^2 - 1)``, ``k`` = :data:`BLUR_KERNEL` the width
    that the measurement itself adds.

    Parameters
    ----------
    y : (H, W) float32 luma, 8-bit levels.
    gradient : (H, W) float32 gradient magnitude of ``y`` blurred by BLUR_INNER.
    scratch : (H, W) float32, overwritten.

    Returns
    -------
    ``b`` in pixels, in [0, BLUR_MAX]; BLUR_MAX when fewer than 16 strong edge pixels.
    """
    g = gradient
    strong = cv2.compare(g, max(EDGE_SHARE * _quantile(g[::4, ::4], 0.995), 1.0), cv2.CMP_GE)
    strong[[0, 1, -2, -1]] = 0                                           # room for the +-1 samples
    strong[:, [0, 1, -2, -1]] = 0
    found = cv2.findNonZero(strong)
    if found is None:
        return BLUR_MAX
    found = found.reshape(-1, 2)[::-(-len(found) // BLUR_POINTS)]        # an even subsample of many
    xx, yy = found.T
    c = g[yy, xx]
    along_x = (c >= g[yy, xx - 1]) & (c > g[yy, xx + 1])                 # a ridge across x
    ridge = along_x | ((c >= g[yy - 1, xx]) & (c > g[yy + 1, xx]))
    if ridge.sum() < 16:
        return BLUR_MAX
    yy, xx, along_x = yy[ridge], xx[ridge], along_x[ridge]
    dy, dx = (~along_x).astype(np.intp), along_x.astype(np.intp)
    outer = cv2.GaussianBlur(y, (0, 0), BLUR_OUTER, dst=scratch)

    def outer_gradient(py: np.ndarray, px: np.ndarray) -> np.ndarray:
        return 0.5 * np.hypot(outer[py, px + 1] - outer[py, px - 1], outer[py + 1, px] - outer[py - 1, px])

    def log_peak(magnitude) -> np.ndarray:
        lo, mid, hi = (np.log(magnitude(yy + k * dy, xx + k * dx) + 1e-3) for k in (-1, 0, 1))
        return mid + (hi - lo) ** 2 / (8.0 * np.maximum(2.0 * mid - lo - hi, 1e-6))

    r2 = math.exp(2.0 * float(np.median(log_peak(lambda py, px: g[py, px]) - log_peak(outer_gradient))))
    if r2 <= 1.0:
        return BLUR_MAX
    b2 = (BLUR_OUTER ** 2 - r2 * BLUR_INNER ** 2) / (r2 - 1.0) - BLUR_KERNEL
    return float(min(math.sqrt(max(b2, 0.0)), BLUR_MAX))


def _noise(rgb: np.ndarray, gradient: np.ndarray, scratch: np.ndarray) -> float:
    """Sigma of additive Gaussian noise (Immerkaer 1996, away from edges).

    Per channel, ``sigma_c = sqrt(pi / 2) / 6 * mean |I_c * N|`` (N: Immerkaer's mask, the
    outer product of :data:`SECOND_DIFFERENCE`) over the pixels off the image border and
    outside the :data:`NOISE_EDGES` share of largest ``gradient``; then
    ``sqrt(max(0, mean_c sigma_c^2 - 1/12))``: 1/12 level^2 is the variance that rounding to
    8 bits adds.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 RGB.
    gradient : (H, W) float32, where edges are (large values).
    scratch : (H, W, 3) float32, overwritten.

    Returns
    -------
    The noise sigma, 8-bit levels (>= 0).
    """
    keep = cv2.compare(gradient, _quantile(gradient[::3, ::3], 1.0 - NOISE_EDGES), cv2.CMP_LE)
    keep[[0, -1]] = 0
    keep[:, [0, -1]] = 0
    response = cv2.sepFilter2D(rgb, cv2.CV_32F, SECOND_DIFFERENCE, SECOND_DIFFERENCE, dst=scratch)
    response = cv2.mean(np.abs(response, out=response), mask=keep)[:3]
    var = float(np.mean(np.square(response))) * (math.pi / 2.0) / 36.0
    return math.sqrt(max(var - 1.0 / 12.0, 0.0))


def _coarse_noise(f: np.ndarray) -> float:
    """Noise sigma read at :data:`COARSE` times less resolution (module docstring, ``coarse_noise``).

    Parameters
    ----------
    f : (H, W, 3) float32 RGB, 8-bit levels, H and W at least 16.

    Returns
    -------
    ``COARSE * median |I_c * N| / (6 * MEDIAN_ABS)``, the RMS over the channels (``I_c`` the
    channel averaged over COARSE x COARSE blocks, N Immerkaer's mask, the median over the
    pixels off the small image's border): sigma in full-resolution 8-bit levels (>= 0).
    """
    h, w = (n // COARSE for n in f.shape[:2])
    small = cv2.resize(f[:h * COARSE, :w * COARSE], (w, h), interpolation=cv2.INTER_AREA)
    response = cv2.sepFilter2D(small, cv2.CV_32F, SECOND_DIFFERENCE, SECOND_DIFFERENCE)[1:-1, 1:-1]
    median = np.median(np.abs(response).reshape(-1, 3), axis=0)
    return float(COARSE * math.sqrt(float(np.mean(np.square(median)))) / (6.0 * MEDIAN_ABS))


def _blockiness(y: np.ndarray) -> float:
    """JPEG blocking: the mean |difference| of neighbouring luma values across the 8x8 block
    boundaries over that across the other neighbours, each + BLOCK_EPS.

    Parameters
    ----------
    y : (H, W) float32 luma, 8-bit levels.

    Returns
    -------
    The ratio: 1 without blocking, larger with it.
    """
    h, w = y.shape
    total = cv2.norm(y[:, 1:], y[:, :-1], cv2.NORM_L1) + cv2.norm(y[1:], y[:-1], cv2.NORM_L1)
    across = (cv2.norm(np.ascontiguousarray(y[:, 8::8]), np.ascontiguousarray(y[:, 7:-1:8]), cv2.NORM_L1)
              + cv2.norm(y[8::8], y[7:-1:8], cv2.NORM_L1))
    n_across = h * ((w - 1) // 8) + w * ((h - 1) // 8)
    n_other = h * (w - 1) + w * (h - 1) - n_across
    return (across / n_across + BLOCK_EPS) / ((total - across) / n_other + BLOCK_EPS)


def _vignetting(f: np.ndarray) -> float:
    """Radial light fall-off.

    The image is area-averaged to a longer side of at most :data:`VIGNETTE_SIZE` (in 8-bit
    values: a bias of textured areas, the same in every ring) and decoded by the sRGB curve;
    per pixel ``Yl`` = Rec.709 luminance (floored at 1e-4) and ``r^2`` = squared distance of the
    pixel centre to the image centre over the squared half-diagonal. In each of
    :data:`VIGNETTE_RINGS` equal-width bins of ``r^2`` with at least 4 pixels, the median of
    ``log Yl`` (robust to bright or dark objects) and the mean ``r^2``; ``c`` is the slope of
    the least-squares line through these points, each weighted by its bin's pixel count.
    Scene content that is brighter or darker towards the corners reads as vignetting: on
    one image of random shapes the value scatters by about 0.25, on a fine texture by 0.02;
    a sample of many images averages that out.

    Parameters
    ----------
    f : (H, W, 3) float32 sRGB, 8-bit levels.

    Returns
    -------
    ``1 - exp(c)``: the share of the centre's light missing at the corners (r = 1) by the
    fitted line; 0 for none.
    """
    h, w = f.shape[:2]
    k = max(h, w) / VIGNETTE_SIZE
    if k > 1:
        f = cv2.resize(f, (max(round(w / k), 4), max(round(h / k), 4)), interpolation=cv2.INTER_AREA)
    # einsum, not @: a BLAS call wakes OpenBLAS's threads, which then spin on the other cores
    log_y = np.log(np.maximum(np.einsum("nc,c->n", srgb_to_linear(f.reshape(-1, 3) / 255.0), LUMA[0]), 1e-4))
    order, bounds, xs, ns = _rings(*f.shape[:2])
    if len(bounds) < 2:
        return 0.0
    by_ring = log_y[order]
    ys = np.array([np.median(by_ring[a:b]) for a, b in bounds])
    # the weighted least-squares line's slope, weights ns (np.polyfit's with w = sqrt(ns)), in closed form
    dx = xs - (ns @ xs) / ns.sum()
    return float(1.0 - math.exp((ns * dx) @ ys / ((ns * dx) @ dx)))


@functools.lru_cache(maxsize=16)
def _rings(h: int, w: int) -> tuple[np.ndarray, list[tuple[int, int]], np.ndarray, np.ndarray]:
    """The rings of an h x w image (:func:`_vignetting`): the pixels (raveled) in ring order, and
    for each ring of at least 4 pixels its span in that order, then all such rings' mean r^2 (over
    the half-diagonal squared) and pixel counts."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r2 = (((xx + 0.5 - w / 2) ** 2 + (yy + 0.5 - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)).ravel()
    ring = np.minimum((r2 * VIGNETTE_RINGS).astype(np.intp), VIGNETTE_RINGS - 1)
    order = np.argsort(ring, kind="stable")
    ends = np.cumsum(np.bincount(ring, minlength=VIGNETTE_RINGS))
    bounds = [(int(a), int(b)) for a, b in zip([0, *ends[:-1]], ends) if b - a >= 4]
    xs = np.array([r2[order[a:b]].mean() for a, b in bounds])
    return order, bounds, xs, np.array([b - a for a, b in bounds], np.float64)


# ------------------------------------------------------------------ label statistics


def label_stats(coco: dict) -> dict[str, np.ndarray]:
    """Label statistics of a COCO dataset.

    Categories are ignored; crowd annotations (``iscrowd`` true) and boxes with ``w <= 0`` or
    ``h <= 0`` are left out. ``W``, ``H``: the box's image's width and height.

    Parameters
    ----------
    coco : a COCO dict: ``images`` (``id``, ``width``, ``height``) and ``annotations``
        (``image_id``, ``bbox`` = [x, y, w, h] in pixels).

    Returns
    -------
    {name: float64 1-D array} for every name in LABEL_STATS:

    - ``objects``: the number of boxes of each image, in the order of ``images`` (0 for an
      image without any);
    - per box, in the order of ``annotations``: ``size`` = sqrt(w h) / sqrt(W H), ``aspect`` =
      log(w / h), ``x`` = (x + w/2) / W, ``y`` = (y + h/2) / H, ``truncated`` = 1.0 if the box
      touches the image border (x <= 0.5, y <= 0.5, x + w >= W - 0.5 or y + h >= H - 0.5)
      else 0.0.

    Raises
    ------
    ValueError
        An annotation refers to an image the file does not list.
    """
    sizes = {im["id"]: (float(im["width"]), float(im["height"])) for im in coco.get("images") or []}
    counts = dict.fromkeys(sizes, 0)
    boxes = []
    for a in coco.get("annotations") or []:
        if a.get("iscrowd"):
            continue
        if a["image_id"] not in sizes:
            raise ValueError(f"annotation {a.get('id')} refers to image {a['image_id']!r}, which the COCO "
                             f"file's images do not list")
        x, y, w, h = (float(v) for v in a["bbox"])
        if w > 0 and h > 0:
            counts[a["image_id"]] += 1
            boxes.append((x, y, w, h, *sizes[a["image_id"]]))
    x, y, w, h, iw, ih = np.array(boxes, np.float64).reshape(-1, 6).T
    return {
        "objects": np.array(list(counts.values()), np.float64),
        "size": np.sqrt(w * h / (iw * ih)),
        "aspect": np.log(w / h),
        "x": (x + w / 2) / iw,
        "y": (y + h / 2) / ih,
        "truncated": ((x <= 0.5) | (y <= 0.5) | (x + w >= iw - 0.5) | (y + h >= ih - 0.5)).astype(np.float64),
    }
