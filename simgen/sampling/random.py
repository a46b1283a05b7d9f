"""Elementary samplers and the per-frame generator. No global RNG anywhere."""

from __future__ import annotations

import colorsys
from typing import Sequence

import numpy as np

from simgen.color.tone import srgb_to_linear
from simgen.scene.transforms import quaternion_matrix


def frame_seed_sequence(seed: int, index: int) -> np.random.SeedSequence:
    """The seed sequence of frame ``index``: a pure function of (seed, index)."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(index,))


def frame_rng(seed: int, index: int) -> np.random.Generator:
    """Generator for frame ``index``; the same whether the frame is rendered alone or in a run."""
    return np.random.default_rng(frame_seed_sequence(seed, index))


def render_seed(seed: int, index: int) -> int:
    """Cycles' sampling seed for a frame (decorrelates noise between frames)."""
    return int(frame_seed_sequence(seed, index).generate_state(1)[0] & 0x7FFFFFFF)


def stream_rng(seed: int, sequence: int, stream: int) -> np.random.Generator:
    """The generator of one concern's draws for a sequence (``SeedSequence(seed, spawn_key=
    (sequence, stream))``), apart from the scene's own ``spawn_key=(sequence,)``: turning a
    feature with its own stream on changes no other draw."""
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(sequence, stream)))


def uniform(rng: np.random.Generator, r: Sequence[float]) -> float:
    """One draw from the closed range ``[r[0], r[1]]`` (a degenerate range returns r[0])."""
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def integer(rng: np.random.Generator, r: Sequence[int]) -> int:
    """One integer from the inclusive range ``[r[0], r[1]]``."""
    return int(rng.integers(int(r[0]), int(r[1]) + 1))


def chance(rng: np.random.Generator, probability: float) -> bool:
    """True with ``probability``; draws nothing when it is 0, so that a feature switched
    off leaves every later draw (and so every frame) exactly as without the feature."""
    return probability > 0 and bool(rng.uniform() < probability)


def pick(rng: np.random.Generator, options: Sequence):
    """One element of ``options``, uniformly."""
    return options[int(rng.integers(len(options)))]


def choose(rng: np.random.Generator, options: Sequence):
    """One element of ``options``, uniformly; draws nothing when there is only one, so that a
    list of one kind leaves every later draw as it was before the list existed."""
    return options[0] if len(options) == 1 else pick(rng, options)


def back_and_forth(start: int, steps: int, n: int) -> list[int]:
    """``steps`` indices into ``n`` rows (a recording, a file's frames) from ``start`` on, one a step,
    turning back at the last and at the first, so that consecutive indices never jump."""
    period = 2 * n - 2
    out = []
    for step in range(steps):
        k = (start + step) % period if period else 0
        out.append(k if k < n else period - k)
    return out


def unit_vector(rng: np.random.Generator, dim: int = 3) -> np.ndarray:
    """A direction uniform on the unit sphere in ``dim`` dimensions."""
    v = rng.normal(size=dim)
    while np.linalg.norm(v) < 1e-9:
        v = rng.normal(size=dim)
    return v / np.linalg.norm(v)


def random_quaternion(rng: np.random.Generator) -> np.ndarray:
    """A unit quaternion (w, x, y, z) of a rotation uniform over SO(3), with w >= 0."""
    q = unit_vector(rng, 4)
    return -q if q[0] < 0 else q


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A 3x3 rotation matrix uniform over SO(3) (a normalized Gaussian quaternion)."""
    return quaternion_matrix(unit_vector(rng, 4))


def hsv_color(rng: np.random.Generator, hue: Sequence[float], saturation: Sequence[float],
              value: Sequence[float]) -> dict:
    """A colour drawn in HSV (sRGB-encoded); returns the draws and the linear RGB."""
    h, s, v = uniform(rng, hue), uniform(rng, saturation), uniform(rng, value)
    srgb = colorsys.hsv_to_rgb(h, s, v)
    return {"hsv": [h, s, v], "linear_rgb": [float(x) for x in srgb_to_linear(srgb)]}


def direction(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Unit vector for an azimuth (from +X towards +Y) and elevation (above the XY plane)."""
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    return np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])


# ------------------------------------------------------------------ blackbody colours

_WAVELENGTHS_NM = np.arange(360.0, 831.0, 1.0)


def _lobe(wl: np.ndarray, mu: float, sigma_below: float, sigma_above: float) -> np.ndarray:
    sigma = np.where(wl < mu, sigma_below, sigma_above)
    return np.exp(-0.5 * ((wl - mu) / sigma) ** 2)


def _cie_1931_cmfs(wl: np.ndarray) -> np.ndarray:
    """(3, n) CIE 1931 2-degree colour matching functions x, y, z at wavelengths ``wl`` (nm):
    the multi-lobe piecewise-Gaussian fit of Wyman, Sloan and Shirley, "Simple Analytic
    Approximations to the CIE XYZ Color Matching Functions", JCGT 2(2), 2013 (error well
    under the spread between observers)."""
    x = 1.056 * _lobe(wl, 599.8, 37.9, 31.0) + 0.362 * _lobe(wl, 442.0, 16.0, 26.7) \
        - 0.065 * _lobe(wl, 501.1, 20.4, 26.2)
    y = 0.821 * _lobe(wl, 568.8, 46.9, 40.5) + 0.286 * _lobe(wl, 530.9, 16.3, 31.1)
    z = 1.217 * _lobe(wl, 437.0, 11.8, 36.0) + 0.681 * _lobe(wl, 459.0, 26.0, 13.8)
    return np.stack([x, y, z])


_CMFS = _cie_1931_cmfs(_WAVELENGTHS_NM)
_XYZ_TO_LINEAR_SRGB = np.array([[3.2404542, -1.5371385, -0.4985314],
                                [-0.9692660, 1.8760108, 0.0415560],
                                [0.0556434, -0.2040259, 1.0572252]])
"""XYZ to linear sRGB / Rec. 709 primaries, D65 white (IEC 61966-2-1)."""
_C2 = 1.438777e-2
"""Planck's second radiation constant h c / k_B, metre kelvin."""


def blackbody_rgb(kelvin: float) -> tuple[float, float, float]:
    """The colour of a blackbody radiator at ``kelvin`` as linear sRGB, brightest channel 1.

    Planck's spectral radiance B(lambda, T) ~ lambda^-5 / (exp(c2 / (lambda T)) - 1) is
    integrated (360-830 nm, 1 nm steps) against the analytic CIE 1931 colour matching
    functions of :func:`_cie_1931_cmfs`, converted from XYZ to linear sRGB (D65 white),
    clipped at 0 (below ~1900 K blue falls outside the sRGB gamut) and scaled so that the
    largest channel is 1, like an HSV colour of value 1: 2700 K is (1, 0.42, 0.10), orange;
    6500 K (1, 0.94, 0.99), white within 6 % (D65 lies just off the blackbody locus);
    9000 K (0.67, 0.74, 1), bluish. From 1900 K to 12000 K it agrees with Blender's own
    light temperature colour (``Light.temperature_color``, same scaling) to 0.01 per channel.
    """
    if not kelvin > 0:
        raise ValueError(f"temperature must be > 0 K (got {kelvin})")
    wl_m = _WAVELENGTHS_NM * 1e-9
    radiance = 1.0 / (wl_m ** 5 * np.expm1(_C2 / (wl_m * kelvin)))
    # einsum, not @ (BLAS): waking OpenBLAS's threads for a 3-vector costs more than the product
    rgb = np.clip(np.einsum("ij,j->i", _XYZ_TO_LINEAR_SRGB, np.einsum("jk,k->j", _CMFS, radiance)), 0.0, None)
    rgb = rgb / rgb.max()
    return float(rgb[0]), float(rgb[1]), float(rgb[2])
