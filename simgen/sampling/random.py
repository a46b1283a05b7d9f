"""Elementary samplers and the per-frame generator. No global RNG anywhere."""

from __future__ import annotations

import colorsys
from typing import Sequence

import numpy as np


def frame_seed_sequence(seed: int, index: int) -> np.random.SeedSequence:
    """The seed sequence of frame ``index``: a pure function of (seed, index)."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(index,))


def frame_rng(seed: int, index: int) -> np.random.Generator:
    """Generator for frame ``index``; the same whether the frame is rendered alone or in a run."""
    return np.random.default_rng(frame_seed_sequence(seed, index))


def render_seed(seed: int, index: int) -> int:
    """Cycles' sampling seed for a frame (decorrelates noise between frames)."""
    return int(frame_seed_sequence(seed, index).generate_state(1)[0] & 0x7FFFFFFF)


def uniform(rng: np.random.Generator, r: Sequence[float]) -> float:
    """One draw from the closed range ``[r[0], r[1]]`` (a degenerate range returns r[0])."""
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def integer(rng: np.random.Generator, r: Sequence[int]) -> int:
    """One integer from the inclusive range ``[r[0], r[1]]``."""
    return int(rng.integers(int(r[0]), int(r[1]) + 1))


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, float)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


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
