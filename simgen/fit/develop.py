"""The settings a fit searches without rendering: exposure and the camera effects.

Exposure compensation (``camera.exposure``) and the camera and sensor effects (lens blur,
vignetting, noise, white balance, JPEG: :mod:`simgen.imaging.effects`) work on the exposed
linear image after the render, in numpy. So a fit renders each candidate scene randomization
once with them neutral (:data:`NEUTRAL`), keeping the exposed linear images
(``output.labels=[linear]``), and then *develops* those images under many candidate values of
these settings, in milliseconds each, with the functions simgen itself applies
(:func:`develop`; an inner TPE search per trial, :func:`search`). A trial's distance is the best
developed one: the search over what needs a render sees, for each scene randomization, how close
it can come with the best camera.

Developed images are the ones ``simgen`` renders with those settings, pixel for pixel, but for
the exposure: the render draws each frame's exposure from the scene's generator, development
from a generator of its own (the same range, other draws). Motion blur needs a sequence's optical
flow: it is not developed (a fit renders single frames), and is searched, if at all, by render.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from simgen.config import EffectsConfig
from simgen.fit.distance import Distance
from simgen.fit.space import Entry, params_of, values_of
from simgen.io.files import read_json

MOTION_BLUR_KEYS = ("motion_blur_probability", "shutter")
"""The settings of ``effects`` that need a sequence's optical flow: rendered, not developed."""
EFFECT_KEYS = tuple(f.name for f in dataclasses.fields(EffectsConfig) if f.name not in MOTION_BLUR_KEYS)
"""The settings of ``effects`` that development applies (all but motion blur)."""
DEVELOPED = frozenset({"camera.exposure", *(f"effects.{k}" for k in EFFECT_KEYS)})
"""The settings searched by development rather than by render."""
NEUTRAL = ["camera.exposure=[0,0]", *(f"effects.{k}=0" for k in EFFECT_KEYS if k.endswith("_probability")),
           "output.labels=[linear]"]
"""Overrides of a fit's renders: no exposure compensation or effects, the exposed linear image kept."""
EXPOSURE_STREAM = 0x45585053
"""Spawn key of the generator of a frame's developed exposure (apart from the render's streams)."""


@dataclass
class Frames:
    """A render's frames as development needs them, in frame order."""

    linear: list[np.ndarray]
    """(H, W, 3) float32 exposed linear images (camera.exposure 0, no effects: the linear label)."""
    K: list[np.ndarray]
    index: list[int]
    sequence: list[int]


def load_frames(folder: Path) -> Frames:
    """The frames of a fit's render in ``folder`` (a simgen dataset with the linear label)."""
    images = read_json(folder / "coco.json")["images"]
    out = Frames([], [], [], [])
    for im in images:
        name = Path(im["file_name"]).stem
        meta = read_json(folder / "meta" / f"{name}.json")
        out.linear.append(np.load(folder / "linear" / f"{name}.npy"))
        out.K.append(np.asarray(meta["K"], np.float64))
        out.index.append(int(meta["index"]))
        out.sequence.append(int(meta["sequence"]))
    return out


@dataclass(frozen=True)
class Developer:
    """Develops a render's frames under values of :data:`DEVELOPED` settings."""

    effects: EffectsConfig
    """The base config's effects (those the space does not search stay at these)."""
    exposure: Sequence[float]
    """The base config's camera.exposure range."""
    tone: str
    seed: int

    def __call__(self, frames: Frames, values: dict[str, Any]) -> list[np.ndarray]:
        """The (H, W, 3) uint8 images of ``frames`` with ``values`` ({setting key: value}) of
        developed settings over the base config's."""
        from simgen.imaging import apply_effects, effects_enabled, effects_rngs
        from simgen.tone import WHITE, display

        cfg = dataclasses.replace(self.effects, **{k.split(".", 1)[1]: v for k, v in values.items()
                                                   if k.startswith("effects.")})
        lo, hi = values.get("camera.exposure", self.exposure)
        on = effects_enabled(cfg)
        out = []
        for linear, K, index, sequence in zip(frames.linear, frames.K, frames.index, frames.sequence):
            u = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(index, EXPOSURE_STREAM))).random()
            x = linear * np.float32(2.0 ** (lo + u * (hi - lo))) if hi > lo or lo else linear
            if on:  # the tone curve once: of the effects' result, or of x when the frame draws none
                rgb, _ = apply_effects(x, None, cfg, effects_rngs(self.seed, sequence, index), K,
                                       to_display=lambda y: display(y, self.tone), white=WHITE[self.tone])
            else:
                rgb = display(x, self.tone)
            out.append(rgb)
        return out


@dataclass
class Search:
    """The outcome of one trial's development search."""

    values: dict[str, Any]
    """The best values of the developed entries ({} when the space has none)."""
    distance: Distance
    history: list[dict]
    """Every evaluation: {"params": the optimizer's, "value": distance}."""


TPE_SHARE = 0.2
"""Share of a development search's evaluations that TPE makes (at least 10); a pattern search from
the best of them makes the rest (:func:`refine`)."""
FIRST_STEP, LAST_STEP = 0.25, 0.01
"""The pattern search's first and smallest step, as a fraction of each parameter's interval."""
BALANCE = ("camera.exposure", "brightness")
"""The developed setting that holds a statistic while the pattern search moves another one, and
that statistic: a move of vignetting, white balance or noise also changes how bright the images
are, and is judged both as it is and with the exposure's centre re-matched to the brightness
before the move (:func:`refine`). Without it, strong vignetting and a high exposure (or none and
a lower one) are a valley that no single move leaves."""
PROBE = 0.05
"""The exposure step, as a fraction of its interval, that first measures how brightness follows it."""


def search(entries: Sequence[Entry], evaluate: Callable[[dict[str, Any]], Distance], trials: int, seed: int,
           start: Sequence[dict[str, Any]] = ()) -> Search:
    """Minimise ``evaluate(values)`` over the developed ``entries`` with ``trials`` evaluations:
    a seeded TPE (``start``: values it tries first, e.g. the best so far and the defaults; those
    the entries cannot represent are skipped), then a pattern search from its best
    (:data:`TPE_SHARE`, :func:`refine`). With no entries, one evaluation of ``{}``."""
    if not entries:
        return Search({}, evaluate({}), [])
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    first = min(trials, max(10, round(trials * TPE_SHARE)))
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=min(10, max(first // 2, 1)))
    study = optuna.create_study(sampler=sampler, direction="minimize")
    queued: list[dict] = []
    for values in start:
        params = params_of(entries, values)
        if params is not None and params not in queued:
            queued.append(params)
            study.enqueue_trial(params)
    history: list[dict] = []
    found: dict[str, Any] = {}

    def measure(params: dict[str, Any]) -> Distance:
        values = values_of(entries, params)
        d = evaluate(values)
        history.append({"params": dict(params), "value": d.total})
        if not found or d.total < found["distance"].total:
            found.update(params=dict(params), values=values, distance=d)
        return d

    study.optimize(lambda trial: measure(_suggest_all(entries, trial)).total, n_trials=first)
    refine(entries, measure, found["params"], found["distance"], trials - first)
    return Search(found["values"], found["distance"], history)


def _suggest_all(entries: Sequence[Entry], trial: Any) -> dict[str, Any]:
    for e in entries:
        e.suggest(trial)
    return dict(trial.params)


def refine(entries: Sequence[Entry], measure: Callable[[dict[str, Any]], Distance], params: dict[str, Any],
           start: Distance, budget: int, balance: tuple[str, str] | None = BALANCE) -> dict[str, Any]:
    """A pattern search of ``budget`` evaluations ``measure(params)`` from ``params`` (of distance
    ``start``): each numeric parameter in turn is moved up, then down, by the step (a fraction of
    its interval, in log units for a log-scaled one); a move that lowers the distance is kept, and
    the step halves after a round with none, from :data:`FIRST_STEP` to :data:`LAST_STEP`. A move
    that does not lower it but shifts the ``balance`` statistic (:data:`BALANCE`; None: no
    balancing) is tried once more with the balancing setting's centre moved to shift it back: a
    secant step on the statistic's :attr:`Distance.shift`, its slope measured by a :data:`PROBE`
    step first and updated by every such try. The best params."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    dists = {k: d for e in entries for k, d in e.distributions().items()}
    numeric = [k for k, d in dists.items() if not isinstance(d, CategoricalDistribution)]
    key, stat = balance or ("", "")
    lever = next((p for e in entries if e.key == key for p in e.params if p in numeric and not p.endswith(".width")), None)

    def unit(k: str, x: float) -> float:
        d = dists[k]
        lo, hi, x = (math.log(d.low), math.log(d.high), math.log(x)) if d.log else (d.low, d.high, x)
        return (x - lo) / (hi - lo)

    def value(k: str, u: float) -> float:
        d = dists[k]
        lo, hi = (math.log(d.low), math.log(d.high)) if d.log else (d.low, d.high)
        x = lo + min(max(u, 0.0), 1.0) * (hi - lo)
        x = math.exp(x) if d.log else x
        return int(round(x)) if isinstance(d, IntDistribution) else x

    best, best_d = dict(params), start
    step, spent = FIRST_STEP, 0
    slope: float | None = None  # how far the statistic moves per unit of the lever; 0: it does not

    def attempt(candidate: dict[str, Any]) -> Distance:
        nonlocal best, best_d, spent
        d, spent = measure(candidate), spent + 1
        if d.total < best_d.total:
            best, best_d = candidate, d
        return d

    def balanced(candidate: dict[str, Any], d: Distance) -> bool:
        """Try ``candidate`` (of distance ``d``) with the lever moved to bring the statistic back
        to the best's; True when that is better than the best."""
        nonlocal slope
        if lever is None or slope == 0 or stat not in d.shift or stat not in best_d.shift or spent >= budget:
            return False
        off = d.shift[stat] - best_d.shift[stat]
        if abs(off) < 0.25:                    # the move kept the statistic within a quarter spread
            return False
        if slope is None:
            u, base = unit(lever, best[lever]), best_d.shift[stat]
            probe = {**best, lever: value(lever, u + (PROBE if u < 0.5 else -PROBE))}
            p = attempt(probe)
            du = unit(lever, probe[lever]) - u
            slope = max(0.0, (p.shift.get(stat, base) - base) / du) if du else 0.0
            if slope == 0 or spent >= budget or best is probe:
                return best is probe
        u = unit(lever, candidate[lever])
        held = {**candidate, lever: value(lever, u - off / slope)}
        if held[lever] == candidate[lever]:
            return False
        before = best
        m = attempt(held)
        du = unit(lever, held[lever]) - u
        if stat in m.shift and du:
            s = (m.shift[stat] - d.shift[stat]) / du
            slope = s if s > 0 else slope
        return best is not before

    while spent < budget and step >= LAST_STEP:
        moved = False
        for k in numeric:
            for sign in (1, -1):
                candidate = {**best, k: value(k, unit(k, best[k]) + sign * step)}
                if candidate[k] == best[k] or spent >= budget:
                    continue
                before = best
                d = attempt(candidate)
                if best is not before or (k != lever and balanced(candidate, d)):
                    moved = True
                    break
        if not moved:
            step /= 2
    return best
