"""Body shapes drawn from an explicit numpy Generator: a port of Anny's
``anny.shape_distribution.SimpleShapeDistribution`` (NAVER, Apache-2.0) to numpy.

Anny calibrated it to the WHO's height-for-age data: an age in years maps piecewise-linearly to Anny's
``age`` phenotype; given it and the sex (gender <= 0.5 draws from the boys' table), height, weight and
muscle are Beta(alpha, beta) draws whose alpha and beta are interpolated over Anny's age; proportions
are Beta(1, 1). The anchors are read at run time from Anny's own calibration files
(``anny/data/shape_calibration/{boys,girls}.pth``, torch.load), so they are Anny's exact numbers.
Unlike Anny's sampler (torch's global RNG, ages U(0, 90)), every draw here comes from the Generator
given, and the age range, gender range and the height and weight spread are the caller's
(:class:`simgen.config.people.PeopleConfig`).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from simgen.errors import SimgenError, install_hint

FIELDS = ("height", "weight", "muscle", "proportions")
"""The phenotype labels drawn from the age- and sex-conditioned Beta distributions."""

MAX_YEARS = 110.0
"""The oldest age in years Anny's age mapping reaches (Anny age 1)."""


def _calibration_dir() -> Path:
    spec = importlib.util.find_spec("anny")
    if spec is None or spec.origin is None:
        raise SimgenError("people's shapes need Anny's calibration data (anny is not installed): "
                          + install_hint("people"))
    return Path(spec.origin).parent / "data" / "shape_calibration"


@functools.lru_cache(maxsize=1)
def calibration() -> dict:
    """Anny's shape calibration as numpy: {"age": (anny_age_anchors, years_anchors),
    "boys"/"girls": {field: (age_anchors, alpha_anchors, beta_anchors)}}."""
    try:
        import torch
    except ImportError:
        raise SimgenError("people's shapes need torch to read Anny's calibration: " + install_hint("people")) from None
    out: dict = {}
    for sex in ("boys", "girls"):
        table = torch.load(_calibration_dir() / f"{sex}.pth", weights_only=True, map_location="cpu")
        mapping = table["morphological_age_mapping"]
        out["age"] = (mapping["anny_age_anchors"].double().numpy(), mapping["morphological_age_anchors"].double().numpy())
        out[sex] = {f: tuple(table[f"conditional_{f}_distribution"][k].double().numpy()
                             for k in ("age_anchors", "alpha_anchors", "beta_anchors")) for f in FIELDS}
    return out


def anny_age(years: float) -> float:
    """Anny's ``age`` phenotype for an age in years (0 -> 0, 1 -> 0.05, 4 -> 0.215, 11 -> 0.415,
    16 -> 0.67, 18 -> 0.77, 64 -> 0.83, 110 -> 1)."""
    anny_anchors, year_anchors = calibration()["age"]
    return float(np.interp(years, year_anchors, anny_anchors))


def years(age: float) -> float:
    """The age in years of Anny's ``age`` phenotype (the inverse of :func:`anny_age`)."""
    anny_anchors, year_anchors = calibration()["age"]
    return float(np.interp(age, anny_anchors, year_anchors))


def beta_params(field: str, age: float, female: bool) -> tuple[float, float]:
    """Alpha and beta of ``field``'s Beta distribution at Anny age ``age`` (clamped to its anchors)."""
    ages, alphas, betas = calibration()["girls" if female else "boys"][field]
    return float(np.interp(age, ages, alphas)), float(np.interp(age, ages, betas))


def _check_range(name: str, r, lo: float, hi: float) -> tuple[float, float]:
    a, b = (float(x) for x in r)
    if not (lo <= a <= b <= hi):
        raise SimgenError(f"people's {name}={[a, b]} must be a range [low, high] within [{lo:g}, {hi:g}]")
    return a, b


def draw_phenotype(rng: np.random.Generator, age_years=(3.0, 80.0), gender=(0.0, 1.0),
                   height_spread: float = 1.0, weight_spread: float = 1.0) -> tuple[tuple[str, float], ...]:
    """One body's phenotype, drawn from ``rng``: age uniformly in ``age_years`` (years), gender
    uniformly in ``gender`` (0 male .. 1 female), then height, weight, muscle and proportions from
    Anny's WHO-calibrated Beta distributions for that age and sex. ``height_spread`` and
    ``weight_spread`` scale each draw's distance from its distribution's mean (1 = Anny's
    calibration, 0 = always the mean); the result is clipped to [0, 1]. Returns the phenotype as
    :class:`simgen.people.body.PersonParams` takes it: (label, value) pairs sorted by label."""
    lo, hi = _check_range("age_years", age_years, 0.0, MAX_YEARS)
    g0, g1 = _check_range("gender", gender, 0.0, 1.0)
    for name, spread in (("height_spread", height_spread), ("weight_spread", weight_spread)):
        if not (0.0 <= float(spread) <= 10.0):
            raise SimgenError(f"people's {name}={spread} must be within [0, 10] (1 = Anny's calibration)")
    age = anny_age(rng.uniform(lo, hi))
    g = float(rng.uniform(g0, g1))
    female = g > 0.5
    out = {"age": age, "gender": g}
    for field in FIELDS:
        a, b = beta_params(field, age, female)
        value = float(rng.beta(a, b))
        spread = {"height": height_spread, "weight": weight_spread}.get(field, 1.0)
        if spread != 1.0:
            value = a / (a + b) + float(spread) * (value - a / (a + b))
        out[field] = float(np.clip(np.nan_to_num(value, nan=a / (a + b)), 0.0, 1.0))
    return tuple(sorted(out.items()))
