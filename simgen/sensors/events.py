"""An event camera from finely spaced renders (``sensor.events``): pure numpy, no Blender.

The model is ESIM's (Rebecq, Gehrig, Scaramuzza, "ESIM: an Open Event Camera Simulator", CoRL
2018) with v2e's non-idealities (Hu, Liu, Delbruck, "v2e: From Video Frames to Realistic DVS
Events", CVPR Workshops 2021, arXiv 2006.07722): each render is turned into a log intensity
``ln(Y + eps)``, ``Y = 0.2126 R + 0.7152 G + 0.0722 B`` the Rec. 709 luminance of the linear light
(Blender's scene-linear space has Rec. 709 primaries); between two renders the log intensity of a
pixel is taken as linear in time; a pixel fires an event each time it crosses its last event's
level (at first, the interval's first render) by its threshold, ``threshold_pos`` up (p = 1, ON)
or ``threshold_neg`` down (p = 0, OFF), at the time that linear interpolation gives; its new level
is the crossed one. Non-idealities: each pixel's thresholds drawn around their means (mismatch),
a refractory period (a crossing within it of the pixel's last event is dropped, its level still
passed), and shot noise (events at uniform times with either polarity, at a rate per pixel).

The events come as a NumPy structured array with fields ``x``, ``y``, ``t`` (integer
microseconds), ``p`` (:data:`EVENT_DTYPE`): the names, order and meanings of tonic's event
arrays (tonic.readthedocs.io, "How do I wrap my own recordings?": ``np.dtype([("x", int), ("y",
int), ("t", int), ("p", int)])``, t in microseconds), sorted by time.

How far an event's time can be from the true crossing: the renders bracket each crossing (the
log intensity is monotone between two renders wherever the scene's light changes monotonically
there), so an event lies in the sub-step interval of its crossing: within one sub-step
(``1 / (fps * substeps)`` seconds), plus half a microsecond of rounding; a log intensity that really
is linear in time gives the exact time. The scenes of the sub-steps are
:func:`simgen.sensors.motion.scene_at`'s (rigid poses interpolated; anything else that changes between
two steps refused in one line).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")])
"""One event: pixel column x and row y (OpenCV's, top-left 0), time t in integer microseconds,
polarity p (1 = brighter, ON; 0 = darker, OFF): tonic's field names and order."""

LUMA = np.array([0.2126, 0.7152, 0.0722], np.float64)
"""Rec. 709 luminance weights of linear R, G, B."""

MIN_THRESHOLD = 0.01
"""A pixel's drawn threshold is kept at this or more (a draw of 0 or below would fire forever)."""


@dataclass(frozen=True)
class EventModel:
    """An event camera's settings (sensor.events_*): mean thresholds, their spread, refractory
    period (seconds), shot-noise rate (events per pixel per second), the log's epsilon."""

    threshold_pos: float = 0.2
    threshold_neg: float = 0.2
    threshold_sigma: float = 0.03
    refractory: float = 0.0
    noise_rate: float = 0.0
    log_eps: float = 1e-3

    @classmethod
    def from_settings(cls, sensor) -> "EventModel":
        return cls(sensor.events_threshold_pos, sensor.events_threshold_neg, sensor.events_threshold_sigma,
                   sensor.events_refractory, sensor.events_noise_rate, sensor.events_log_eps)


def log_intensity(linear: np.ndarray, eps: float) -> np.ndarray:
    """(H, W) float64 ``ln(Y + eps)`` of an (H, W, 3) linear RGB image (negative Y taken as 0)."""
    y = np.asarray(linear, np.float64) @ LUMA
    return np.log(np.maximum(y, 0.0) + eps)


def draw_thresholds(rng: np.random.Generator, shape: tuple[int, int], model: EventModel
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's (ON, OFF) thresholds: normal around the model's means with its sigma, at least
    :data:`MIN_THRESHOLD` (both (H, W) float64)."""
    pos = model.threshold_pos + model.threshold_sigma * rng.standard_normal(shape)
    neg = model.threshold_neg + model.threshold_sigma * rng.standard_normal(shape)
    return np.maximum(pos, MIN_THRESHOLD), np.maximum(neg, MIN_THRESHOLD)


def _ragged(counts: np.ndarray) -> np.ndarray:
    """1..c for each c of ``counts``, concatenated."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts + 1


def crossings(logs: np.ndarray, times: np.ndarray, pos: np.ndarray, neg: np.ndarray,
              ref: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ideal events of a log-intensity stack ``logs`` (M+1, H, W) at ``times`` (M+1,) seconds,
    increasing, with per-pixel thresholds ``pos``, ``neg`` (H, W): (flat pixel index, t seconds,
    polarity 1/0, level crossed, the final reference levels (H, W)). ``ref``: each pixel's level at
    the start (default: ``logs[0]``). Linear interpolation between the renders times each crossing."""
    logs = np.asarray(logs, np.float64)
    times = np.asarray(times, np.float64)
    if logs.ndim != 3 or len(times) != len(logs) or np.any(np.diff(times) <= 0):
        raise ValueError("logs must be (M+1, H, W) with M+1 increasing times")
    ref = (logs[0] if ref is None else np.asarray(ref, np.float64)).ravel().copy()
    pos, neg = np.broadcast_to(pos, logs.shape[1:]).ravel(), np.broadcast_to(neg, logs.shape[1:]).ravel()
    out_pix, out_t, out_p, out_level = [], [], [], []
    for i in range(len(logs) - 1):
        l0, l1 = logs[i].ravel(), logs[i + 1].ravel()
        t0, dt = times[i], times[i + 1] - times[i]
        for polarity, sign, c in ((1, 1.0, pos), (0, -1.0, neg)):
            n = np.floor(np.maximum(sign * (l1 - ref), 0.0) / c).astype(np.int64)
            pix = np.flatnonzero(n)
            if not len(pix):
                continue
            counts = n[pix]
            rep = np.repeat(pix, counts)
            level = ref[rep] + sign * _ragged(counts) * c[rep]
            frac = np.clip((level - l0[rep]) / (l1[rep] - l0[rep]), 0.0, 1.0)
            out_pix.append(rep)
            out_t.append(t0 + frac * dt)
            out_p.append(np.full(len(rep), polarity, np.uint8))
            out_level.append(level)
            ref[pix] += sign * counts * c[pix]
    if not out_pix:
        empty = np.zeros(0)
        return empty.astype(np.int64), empty, empty.astype(np.uint8), empty, ref.reshape(logs.shape[1:])
    return (np.concatenate(out_pix), np.concatenate(out_t), np.concatenate(out_p), np.concatenate(out_level),
            ref.reshape(logs.shape[1:]))


def shot_noise(rng: np.random.Generator, shape: tuple[int, int], t0: float, t1: float, rate: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shot-noise events of ``rate`` per pixel per second over [t0, t1): (flat pixel, t, p): a
    Poisson count per pixel, times uniform, polarity 1 or 0 with equal chance."""
    if rate <= 0:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.uint8)
    counts = rng.poisson(rate * (t1 - t0), size=shape[0] * shape[1])
    pix = np.repeat(np.arange(len(counts)), counts)
    return pix, rng.uniform(t0, t1, size=len(pix)), rng.integers(0, 2, size=len(pix)).astype(np.uint8)


def refractory_keep(pix: np.ndarray, t: np.ndarray, period: float,
                    last: np.ndarray | None = None) -> np.ndarray:
    """Which events (pixel ``pix``, time ``t``) a refractory ``period`` keeps: an event within
    ``period`` after its pixel's last kept one (or ``last[pix]``, the time of the pixel's event
    before these) is dropped. A bool mask in the given order."""
    keep = np.ones(len(pix), bool)
    if period <= 0 or not len(pix):
        return keep
    order = np.argsort(t, kind="stable")
    order = order[np.argsort(pix[order], kind="stable")]  # by pixel, then time (lexsort is slower)
    sp, st = pix[order], t[order]
    starts = np.flatnonzero(np.r_[True, sp[1:] != sp[:-1]])  # each pixel's first event, in time order
    counts = np.diff(np.r_[starts, len(sp)])
    kept_at = np.full(len(starts), -np.inf) if last is None else np.asarray(last, np.float64).ravel()[sp[starts]]
    sorted_keep = np.zeros(len(sp), bool)
    alive = np.arange(len(starts))  # the pixels with an r-th event
    for r in range(int(counts.max())):
        alive = alive[counts[alive] > r]
        at = starts[alive] + r
        ok = st[at] - kept_at[alive] >= period
        sorted_keep[at[ok]] = True
        kept_at[alive[ok]] = st[at[ok]]
    keep[order] = sorted_keep
    return keep


def as_events(pix: np.ndarray, t: np.ndarray, p: np.ndarray, width: int) -> np.ndarray:
    """The structured array (:data:`EVENT_DTYPE`) of events at flat pixels ``pix`` (row-major,
    ``width`` columns), times ``t`` in seconds (rounded to microseconds) and polarities ``p``,
    sorted by time (then row, column)."""
    pix = np.asarray(pix, np.int64)
    t_us = np.rint(np.asarray(t, np.float64) * 1e6).astype(np.int64)
    order = np.argsort(t_us * (int(pix.max()) + 1 if len(pix) else 1) + pix, kind="stable")  # by t, then row, column
    out = np.zeros(len(pix), EVENT_DTYPE)
    out["y"], out["x"] = np.divmod(pix[order], width)
    out["t"] = t_us[order]
    out["p"] = np.asarray(p)[order]
    return out


def events_between(logs: np.ndarray, times: np.ndarray, pos: np.ndarray, neg: np.ndarray, model: EventModel,
                   rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The events of a log-intensity stack ``logs`` (M+1, H, W) at ``times`` (seconds): the ideal
    crossings (:func:`crossings`, from ``logs[0]``), shot noise over [times[0], times[-1]) drawn
    from ``rng``, then the refractory period; (structured array, counts for the meta)."""
    h, w = logs.shape[1:]
    pix, t, p, _, _ = crossings(logs, times, pos, neg)
    npix, nt, np_ = shot_noise(rng, (h, w), float(times[0]), float(times[-1]), model.noise_rate)
    pix, t, p = np.r_[pix, npix], np.r_[t, nt], np.r_[p, np_].astype(np.uint8)
    keep = refractory_keep(pix, t, model.refractory)
    events = as_events(pix[keep], t[keep], p[keep], w)
    return events, {"events": int(len(events)), "on": int(events["p"].sum()), "noise_drawn": int(len(npix)),
                    "refractory_dropped": int((~keep).sum())}
