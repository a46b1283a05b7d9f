"""A time-of-flight depth camera's noise: what an Azure Kinect DK (its depth camera in the NFOV unbinned
mode) returns for a frame whose exact depth, normals and surfaces simgen knows (sensor.depth=azure_kinect_nfov).

The device (Microsoft, "Azure Kinect DK hardware specifications",
https://learn.microsoft.com/azure/kinect-dk/hardware-specification, and "Azure Kinect DK depth camera",
https://learn.microsoft.com/azure/kinect-dk/depth-camera): an amplitude-modulated continuous-wave ToF camera;
NFOV unbinned is 640 x 576 pixels over 75 x 65 degrees, operating range 0.5-3.86 m for surfaces of 15-95 %
reflectivity at 850 nm, random error std <= 17 mm, systematic error < 11 mm + 0.1 % of distance (without
multi-path interference), depth in whole millimetres, 0 = invalid. Its depth engine invalidates pixels whose
return is too weak and mixed pixels at object edges (the flying pixels of a ToF camera) instead of returning
them. Tölgyessy et al. 2021, "Evaluation of the Azure Kinect and its comparison to Kinect V1 and Kinect V2",
Sensors 21(2):413 (doi:10.3390/s21020413) confirm the figures (std <= 17 mm, error < 11 mm up to 3.5 m).

The model, per pixel, in this order (every figure a setting of the ``sensor`` group):

1. Lateral noise: the pixel sees the surface point of a neighbour, its centre moved by a Gaussian shift
   (du, dv) of std ``sigma_L(theta) = l0 + l1 * theta / (pi/2 - theta)`` device pixels (the form and figures
   of Nguyen, Izadi and Lovell 2012, "Modeling Kinect sensor noise for improved 3D reconstruction and
   tracking", 3DIMPVT; no Azure Kinect figure was found), rounded to the nearest pixel centre. The run keeps
   its own render.width x render.height and K: device pixels become the run's by the ratio of focal
   lengths (``fx / 417.0``; the device's NFOV fx is ``320 / tan(37.5 deg)``), so the shift's angle is the
   device's at any resolution.
2. Axial noise: Gaussian, std ``sigma_z(z, theta) = a0 + a1 z + a2 z^2 + a3 z^1.5 theta^2 / (pi/2 - theta)^2``
   millimetres (z in metres, theta the angle of incidence between the ray and the surface normal): the form
   and figures of the Kinect v2 time-of-flight camera's model (Fankhauser et al. 2015, "Kinect v2 for mobile
   robot navigation: evaluation and modeling", ICAR), 1.5-4.0 mm head-on over the operating range, within
   the Azure Kinect's <= 17 mm.
3. Systematic error: ``b0 + b1 z`` with ``b0`` uniform in +-11 mm and ``b1`` in +-0.1 %, both scaled by the
   setting ``systematic`` and drawn once per sequence (one device films a clip): the data sheet's bound.
4. Whole millimetres, as the device returns them.
5. Invalid (0): no surface; depth outside the operating range; a weak return
   ``rho cos(theta) / z^2 < min_return`` (rho: the surface's reflectance, from its material), by default the
   data sheet's weakest case, a 15 % reflective surface facing the camera at 3.86 m; and every pixel within
   ``edge_width`` device pixels of a depth discontinuity (a neighbour's depth differs by more than ``edge``
   times the nearer one, or a neighbour sees nothing): the mixed pixels the depth engine removes (with
   ``edge_width`` 1, the pixel on each side of the step).

Pure numpy; nothing here imports Blender.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from simgen.optics.camera import pixel_rays

DEVICE = "azure_kinect_nfov"
"""sensor.depth's name of the model."""
DEVICE_SIZE = (640, 576)
"""NFOV unbinned: width, height (pixels)."""
DEVICE_FOV_DEG = (75.0, 65.0)
"""NFOV: horizontal, vertical field of view (degrees)."""
DEVICE_FX = DEVICE_SIZE[0] / 2 / math.tan(math.radians(DEVICE_FOV_DEG[0] / 2))
"""The device's focal length in its own pixels (~417.0), from its width and horizontal field of view."""
SYSTEMATIC_OFFSET_M = 0.011
SYSTEMATIC_SCALE = 0.001
"""Systematic error < 11 mm + 0.1 % of distance (the data sheet)."""
TOF_STREAM = 7801
"""The child stream of the frame seed the ToF noise draws from (a key no other draw uses)."""


@dataclass(frozen=True)
class ToFModel:
    """The model's figures (module docstring); the defaults are the Azure Kinect's NFOV unbinned mode's."""

    axial: tuple[float, float, float, float] = (1.5, -0.5, 0.3, 0.1)
    """a0..a3 of sigma_z, millimetres (z in metres)."""
    lateral: tuple[float, float] = (0.8, 0.035)
    """l0, l1 of sigma_L, device pixels."""
    range: tuple[float, float] = (0.5, 3.86)
    """Operating range, metres (planar depth)."""
    min_return: float = 0.15 / 3.86 ** 2
    """Weakest return kept: reflectance * cos(incidence) / depth^2, 1/m^2."""
    systematic: float = 1.0
    """Share of the data sheet's systematic error bound drawn (0: none)."""
    edge: float = 0.05
    """A depth discontinuity: neighbours' depths differ by more than this share of the nearer."""
    edge_width: float = 1.0
    """Device pixels on each side of a discontinuity that are invalid (0: none)."""


def model_of(cfg: Any) -> ToFModel:
    """The model of the ``sensor`` settings ``cfg`` (simgen.config.SensorConfig)."""
    return ToFModel(axial=tuple(float(x) for x in cfg.depth_axial), lateral=tuple(float(x) for x in cfg.depth_lateral),
                    range=tuple(float(x) for x in cfg.depth_range), min_return=float(cfg.depth_min_return),
                    systematic=float(cfg.depth_systematic), edge=float(cfg.depth_edge),
                    edge_width=float(cfg.depth_edge_width))


def _angle_term(theta: np.ndarray) -> np.ndarray:
    """theta / (pi/2 - theta), inf at grazing incidence."""
    with np.errstate(divide="ignore"):
        return theta / np.maximum(np.pi / 2 - theta, 0.0)


def axial_std(z: np.ndarray, theta: np.ndarray, model: ToFModel = ToFModel()) -> np.ndarray:
    """sigma_z in metres at planar depth ``z`` (m) and incidence ``theta`` (rad)."""
    a0, a1, a2, a3 = model.axial
    z = np.asarray(z, np.float64)
    t = _angle_term(np.asarray(theta, np.float64))
    with np.errstate(invalid="ignore", over="ignore"):
        return (a0 + a1 * z + a2 * z * z + a3 * z ** 1.5 * t * t) * 1e-3


def lateral_std(theta: np.ndarray, model: ToFModel = ToFModel()) -> np.ndarray:
    """sigma_L in device pixels at incidence ``theta`` (rad)."""
    l0, l1 = model.lateral
    return l0 + l1 * _angle_term(np.asarray(theta, np.float64))


def incidence(normal: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """(H, W) angle (rad) between each pixel's ray and its surface normal (camera frame); pi/2 where the
    normal is 0 (nothing hit)."""
    r = rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    c = np.abs(np.einsum("hwc,hwc->hw", np.asarray(normal, np.float64), r))
    return np.arccos(np.clip(c, 0.0, 1.0))


def reflectance_of(material: Any, default: float) -> float:
    """A surface's diffuse reflectance at the sensor's wavelength from its material (plain data): the
    luminance of its linear base colour (the mean of its texture's two colours), times (1 - metallic) and
    (1 - transmission), since metal and glass return little diffuse light; ``default`` for a mesh's own
    or a PBR material, whose colour simgen does not hold as one number. (Visible luminance stands for
    the 850 nm reflectance, which no material here states.)"""
    if material is None or getattr(material, "own", None) is not None or getattr(material, "pbr", None) is not None:
        return float(default)
    colors = [material.base_color]
    if material.texture is not None and getattr(material.texture, "color2", None) is not None:
        colors.append(material.texture.color2)
    lum = float(np.mean([0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2] for c in colors]))
    return float(np.clip(lum * (1.0 - material.metallic) * (1.0 - material.transmission), 0.0, 1.0))


def discontinuities(depth: np.ndarray, edge: float) -> np.ndarray:
    """(H, W) bool: pixels with a surface whose 4-neighbour sees nothing or a depth that differs by more than
    ``edge`` times the nearer of the two."""
    z = np.asarray(depth, np.float64)
    hit = np.isfinite(z) & (z > 0)
    out = np.zeros(z.shape, bool)
    for axis in (0, 1):
        a = np.take(z, range(z.shape[axis] - 1), axis=axis)
        b = np.take(z, range(1, z.shape[axis]), axis=axis)
        ha = np.take(hit, range(z.shape[axis] - 1), axis=axis)
        hb = np.take(hit, range(1, z.shape[axis]), axis=axis)
        with np.errstate(invalid="ignore"):
            jump = (ha != hb) | (ha & hb & (np.abs(a - b) > edge * np.minimum(a, b)))
        lo = [slice(None)] * 2
        hi = [slice(None)] * 2
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        out[tuple(lo)] |= jump
        out[tuple(hi)] |= jump
    return out & hit


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` grown by ``radius`` pixels (a square neighbourhood)."""
    out = mask.copy()
    h, w = mask.shape
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dx == 0 and dy == 0:
                continue
            src = mask[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
            out[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)] |= src
    return out


def edge_band(width: float) -> int:
    """Pixels invalid on each side of a depth step for a band ``width`` run pixels wide: those whose centre
    (0.5, 1.5, ... pixels from the step) lies within it, at least the one next to it (a pixel that
    straddles the step mixes its two depths whatever its size)."""
    return max(1, int(math.floor(width - 0.5 + 1e-9)) + 1)


def systematic_draws(rng: np.random.Generator, model: ToFModel) -> dict[str, float]:
    """One device's systematic error ``offset_m + scale * z`` (drawn per sequence)."""
    u = rng.uniform(-1.0, 1.0, size=2) * model.systematic
    return {"offset_m": float(u[0] * SYSTEMATIC_OFFSET_M), "scale": float(u[1] * SYSTEMATIC_SCALE)}


def simulate(depth: np.ndarray, normal: np.ndarray, reflectance: np.ndarray, K: np.ndarray,
             rng: np.random.Generator, model: ToFModel = ToFModel(), systematic: Mapping[str, float] | None = None,
             rays: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, int]]:
    """The sensor's depth of a frame: (H, W) float32 metres, 0 = invalid, and the count of invalid pixels
    by cause (``no_surface``, ``range``, ``low_return``, ``edge``; a pixel counts once, in that order).

    ``depth``: exact planar depth (inf = nothing hit); ``normal``: camera-frame unit normals (0 = nothing
    hit); ``reflectance``: (H, W) diffuse reflectance of the surface at each pixel; ``K``: the run's
    intrinsics (its fx scales the device's pixels); ``rng``: this frame's noise; ``systematic``:
    :func:`systematic_draws` (None: no systematic error); ``rays``: camera-frame pixel rays of a real lens
    (None: K's pinhole)."""
    z = np.asarray(depth, np.float64)
    h, w = z.shape
    if rays is None:
        rays = pixel_rays(np.asarray(K, float), w, h)
    theta = incidence(normal, rays)
    scale = float(K[0, 0]) / DEVICE_FX  # run pixels per device pixel
    # 1. lateral: each pixel sees the point at its centre moved by a rounded Gaussian shift
    sigma_l = lateral_std(theta, model) * scale
    finite_l = np.where(np.isfinite(sigma_l), sigma_l, 0.0)
    du = np.rint(rng.standard_normal((h, w)) * finite_l).astype(np.int64)
    dv = np.rint(rng.standard_normal((h, w)) * finite_l).astype(np.int64)
    vv, uu = np.mgrid[0:h, 0:w]
    su, sv = np.clip(uu + du, 0, w - 1), np.clip(vv + dv, 0, h - 1)
    zs, ts, rs = z[sv, su], theta[sv, su], np.asarray(reflectance, np.float64)[sv, su]
    hit = np.isfinite(zs) & (zs > 0)
    zh = np.where(hit, zs, 1.0)
    # 2. axial noise, 3. the device's systematic error, 4. whole millimetres
    sigma_z = np.where(hit, axial_std(zh, ts, model), 0.0)
    sigma_z = np.where(np.isfinite(sigma_z), sigma_z, 0.0)
    out = zh + rng.standard_normal((h, w)) * sigma_z
    if systematic is not None:
        out = out + systematic["offset_m"] + systematic["scale"] * zh
    out = np.rint(out * 1000.0) / 1000.0
    # 5. invalid pixels
    lo, hi = model.range
    in_range = hit & (zs >= lo) & (zs <= hi)
    returned = in_range & (rs * np.cos(ts) / (zh * zh) >= model.min_return)
    edges = _dilate(discontinuities(z, model.edge), edge_band(model.edge_width * scale) - 1) \
        if model.edge_width > 0 else np.zeros((h, w), bool)
    valid = returned & ~edges & (out > 0)
    counts = {"no_surface": int((~hit).sum()), "range": int((hit & ~in_range).sum()),
              "low_return": int((in_range & ~returned).sum()), "edge": int((returned & ~valid).sum())}
    return np.where(valid, out, 0.0).astype(np.float32), counts
