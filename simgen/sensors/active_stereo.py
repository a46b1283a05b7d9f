"""An active stereo depth camera (sensor.depth=realsense_d435): a near-infrared dot projector lights the
scene, two infrared cameras a baseline apart see it, and semi-global matching turns the pair into depth.

The device: Intel RealSense D435, from Intel's "Intel RealSense Product Family D400 Series Datasheet"
(document 337029, https://www.intelrealsense.com/wp-content/uploads/2022/03/Intel-RealSense-D400-Series-Datasheet-March-2022.pdf):
stereo baseline 50 mm; depth field of view 87 x 58 degrees (+-3, +-1) at up to 1280 x 720; the IR
projector's non-visible static pattern at 850 nm. The pattern itself is not published: simgen's is a
pseudo-random dot pattern (one dot in each cell of a jittered grid, :func:`simgen.blender.projector`), a few
pixels apart.

How simgen makes it (the Blender side: simgen/blender/projector.py; the frame loop: simgen/pipeline/active_stereo.py):

1. The left infrared camera is the frame's camera (its K and pose: the device's depth is the left imager's),
   the right one ``baseline`` to its right (a rectified pair, as simgen.optics.camera.stereo_offset), the
   projector halfway between them. The run keeps render.width x render.height: the device's field of view
   is kept by the focal length in pixels, fx = W / 2 / tan(87 deg / 2) (camera.focal_length=[18.97,18.97] on
   the default 36 mm sensor); another field of view is warned of once.
2. Both views are rendered by Cycles with the scene's materials lit by the projector alone (the scene's lights
   and world off: the sensor's narrow band sees its own light), and read as grey intensity (the Rec. 709
   luminance of the linear light).
3. Each image is exposed as an 8-bit Y8 image (auto exposure: the 99th percentile of the left image's lit
   pixels to 200 of 255, the same gain for the right), with Gaussian read noise of ``ir_noise`` grey levels,
   and written as ir_left/ and ir_right/.
4. OpenCV's StereoSGBM (:func:`sgbm_params`) matches the pair; depth = fx * baseline / disparity, 0 where
   SGBM finds no disparity (occluded in one camera, no pattern, outside the search range, or refused by its
   uniqueness, left-right and speckle checks).

Pure numpy and OpenCV; nothing here imports Blender.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True)
class StereoDevice:
    name: str
    baseline: float
    """Metres between the two infrared cameras' centres."""
    hfov_deg: float
    vfov_deg: float
    size: tuple[int, int]
    """The depth stream's largest width, height."""


DEVICES = {
    "realsense_d435": StereoDevice("realsense_d435", 0.050, 87.0, 58.0, (1280, 720)),
}
"""sensor.depth's active stereo devices, by name (figures: Intel's D400 series datasheet)."""
IR_STREAM = 7802
"""The child stream of the frame seed the IR images' read noise draws from."""
EXPOSE_TO = 200.0
"""Grey level the 99th percentile of the left image's lit pixels is exposed to."""


def device_focal(device: StereoDevice, width: int) -> float:
    """fx (pixels) that gives ``width`` pixels the device's horizontal field of view."""
    return width / 2 / math.tan(math.radians(device.hfov_deg) / 2)


def sgbm_params(fx: float, baseline: float, min_depth: float, block: int) -> dict[str, Any]:
    """StereoSGBM's parameters: disparities 0 .. fx * baseline / min_depth (rounded up to 16s), ``block`` x
    ``block`` windows, P1 = 8 block^2 and P2 = 32 block^2 (OpenCV's advice for one channel), uniqueness 10 %,
    left-right check 1 px, speckle filter of windows of 100 px within 2 px, 5-path SGBM mode."""
    num = max(16, 16 * int(math.ceil(fx * baseline / min_depth / 16)))
    return dict(minDisparity=0, numDisparities=num, blockSize=block, P1=8 * block * block, P2=32 * block * block,
                disp12MaxDiff=1, uniquenessRatio=10, speckleWindowSize=100, speckleRange=2, preFilterCap=63,
                mode=cv2.STEREO_SGBM_MODE_SGBM)


def grey(linear: np.ndarray) -> np.ndarray:
    """(H, W) float Rec. 709 luminance of (H, W, 3) linear light (or an (H, W) grey image as it is)."""
    a = np.asarray(linear, np.float64)
    return a if a.ndim == 2 else a[..., 0] * 0.2126 + a[..., 1] * 0.7152 + a[..., 2] * 0.0722


def exposure_gain(left: np.ndarray) -> float:
    """Grey levels per unit of light: the 99th percentile of the lit pixels to :data:`EXPOSE_TO`."""
    lit = left[left > 0]
    top = float(np.percentile(lit, 99)) if lit.size else 0.0
    return EXPOSE_TO / top if top > 0 else 1.0


def ir_image(light: np.ndarray, gain: float, noise: float, rng: np.random.Generator) -> np.ndarray:
    """(H, W) uint8: ``light`` times ``gain`` plus Gaussian read noise of std ``noise`` grey levels, rounded
    and clipped to 0..255."""
    a = np.asarray(light, np.float64) * gain
    if noise > 0:
        a = a + rng.standard_normal(a.shape) * noise
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def match(left: np.ndarray, right: np.ndarray, fx: float, baseline: float, params: dict[str, Any]) -> tuple[np.ndarray,
                                                                                                             np.ndarray]:
    """Depth (H, W) float32 metres, 0 = no match, and disparity (px, float32, 0 = none) of the left view by
    OpenCV's StereoSGBM with ``params``."""
    sgbm = cv2.StereoSGBM_create(**params)
    raw = sgbm.compute(np.ascontiguousarray(left), np.ascontiguousarray(right)).astype(np.float32) / 16.0
    d = np.where(raw > 0, raw, 0.0).astype(np.float32)
    with np.errstate(divide="ignore"):
        depth = np.where(d > 0, fx * baseline / np.where(d > 0, d, 1.0), 0.0).astype(np.float32)
    return depth, d
