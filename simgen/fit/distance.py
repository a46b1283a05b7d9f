"""How far a render's statistics are from a target's (``simgen fit``): per statistic the
Wasserstein-1 distance of the two samples in units of the target's spread, and their weighted
mean. The samples are those of :mod:`simgen.fit.stats` ({name: 1-D array}).

A component of 1 means the render's distribution is, on average, one target spread (a robust
standard deviation, :func:`scales`) away from the target's: for two samples that differ by a
shift ``d``, the component is ``d / scale``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FLOOR: dict[str, float] = {
    # image statistics (simgen.fit.stats.IMAGE_STATS)
    "brightness": 0.02,        # mean luma / 255
    "contrast": 0.01,          # std of luma / 255
    "saturation": 0.02,        # mean HSV saturation
    "colourfulness": 0.02,     # Hasler & Suesstrunk M / 255
    "red_green": 0.02,         # log ratio of linear means: 2 % gain
    "blue_green": 0.02,
    "blur": 0.25,              # pixels
    "noise": 0.5,              # 8-bit levels
    "coarse_noise": 0.5,       # 8-bit levels
    "blockiness": 0.05,        # ratio, 1 = none
    "vignetting": 0.03,        # share of light lost at the corners
    # label statistics (simgen.fit.stats.LABEL_STATS)
    "objects": 0.5,            # objects per image
    "size": 0.02,              # sqrt(box area / image area)
    "aspect": 0.1,             # log(w / h)
    "x": 0.02,                 # box centre / image width
    "y": 0.02,                 # box centre / image height
    "truncated": 0.05,         # share of boxes touching the border
}
"""The smallest scale of each statistic, in its units: about the smallest difference that
matters. It keeps a target whose statistic barely varies (every image noise-free) from
making that component huge or infinite. A statistic not listed has floor
:data:`DEFAULT_FLOOR`."""

DEFAULT_FLOOR = 1e-6
"""The floor of a statistic that :data:`FLOOR` does not list."""

SQRT_HALF_PI = float(np.sqrt(np.pi / 2))
"""Mean absolute deviation to standard deviation, for a normal distribution."""

EMPTY_PENALTY = 10.0
"""The component of a statistic whose sample is empty on one side only (renders without any
object against a target with objects, for a per-object statistic): ten target spreads."""


@dataclass
class Distance:
    """A render's distance from the target."""

    total: float
    """Weighted mean of the components (0 when the samples agree)."""
    components: dict[str, float]
    """Per statistic: Wasserstein-1 distance / scale (dimensionless, >= 0), or EMPTY_PENALTY."""
    shift: dict[str, float] = field(default_factory=dict)
    """Per statistic with both samples non-empty: (mean of the renders - mean of the target) /
    scale, signed: which way the renders are off (brighter > 0), where a component says how far."""


def wasserstein1(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Wasserstein-1 distance of two 1-D empirical distributions.

    ``W1 = integral over q in (0, 1) of |Fa^-1(q) - Fb^-1(q)|``, each quantile function
    ``F^-1(q)`` the ``ceil(q n)``-th smallest of the ``n`` values: piecewise constant
    between the breakpoints ``i / n`` and ``j / m`` of the two samples.

    Parameters
    ----------
    a, b : 1-D samples, non-empty, any sizes.

    Returns
    -------
    The distance, in the samples' units (>= 0).
    """
    a, b = np.sort(np.asarray(a, np.float64).ravel()), np.sort(np.asarray(b, np.float64).ravel())
    q = np.union1d(np.arange(1, a.size + 1) / a.size, np.arange(1, b.size + 1) / b.size)
    dq = np.diff(q, prepend=0.0)
    mid = q - dq / 2                                   # inside each piece: the index is unambiguous
    return float(np.sum(dq * np.abs(a[(mid * a.size).astype(np.intp)] - b[(mid * b.size).astype(np.intp)])))


def scales(target: dict[str, np.ndarray]) -> dict[str, float]:
    """The normalizing scale of each statistic, from the target's sample.

    Parameters
    ----------
    target : {name: 1-D sample}.

    Returns
    -------
    {name: scale} for every name of ``target``: the sample's mean absolute deviation from its
    median times sqrt(pi / 2) (the standard deviation for a normal distribution; an outlier
    weighs linearly, not squared; unlike the interquartile range it changes smoothly with
    the share of a value in discrete samples such as ``truncated`` or ``objects``), at least
    ``FLOOR[name]`` (:data:`DEFAULT_FLOOR` for a name not in FLOOR); the floor for an empty
    sample.
    """
    out = {}
    for name, sample in target.items():
        sample = np.asarray(sample, np.float64)
        spread = SQRT_HALF_PI * float(np.mean(np.abs(sample - np.median(sample)))) if sample.size else 0.0
        out[name] = max(spread, FLOOR.get(name, DEFAULT_FLOOR))
    return out


def distance(target: dict[str, np.ndarray], renders: dict[str, np.ndarray], scale: dict[str, float],
             weights: dict[str, float] | None = None) -> Distance:
    """The distance of the renders' statistics from the target's.

    Parameters
    ----------
    target, renders : {name: 1-D sample}; a name of ``target`` missing from ``renders``
        counts as an empty render sample.
    scale : {name: scale > 0} for every name of ``target`` (:func:`scales` of the target).
    weights : {name: weight >= 0}; a name not given weighs 1.

    Returns
    -------
    Distance: per name of ``target``, the component ``wasserstein1(target, renders) /
    scale`` (0 when both samples are empty, EMPTY_PENALTY when only one is) and, where both
    samples have values, the shift ``(mean(renders) - mean(target)) / scale``; ``total``, the
    mean of the components weighted by ``weights`` (0 when no component weighs > 0). Never
    NaN for finite samples.
    """
    weights = weights or {}
    components, shift = {}, {}
    for name, t in target.items():
        t, r = np.asarray(t, np.float64), np.asarray(renders.get(name, ()), np.float64)
        if t.size and r.size:
            components[name] = wasserstein1(t, r) / scale[name]
            shift[name] = float(r.mean() - t.mean()) / scale[name]
        else:
            components[name] = EMPTY_PENALTY if t.size or r.size else 0.0
    w = np.array([weights.get(name, 1.0) for name in components], np.float64)
    c = np.array(list(components.values()), np.float64)
    return Distance(total=float(w @ c / w.sum()) if w.sum() > 0 else 0.0, components=components, shift=shift)
