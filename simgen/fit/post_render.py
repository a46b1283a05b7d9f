"""The settings a fit searches without rendering: exposure, the camera effects and the lights'
power and colour.

Exposure compensation (``camera.exposure``) and the camera and sensor effects (lens blur,
vignetting, noise, white balance, JPEG: :mod:`simgen.imaging.effects`) work on the exposed
linear image after the render, in numpy. So a fit renders each candidate scene randomization
once with them neutral (:func:`neutral`), keeping the exposed linear images
(``output.labels=[linear]``), and then *develops* those images under many candidate values of
these settings, in milliseconds each, with the functions simgen itself applies
(:class:`Developer`; an inner TPE search per trial, :func:`search`). A trial's distance is the best
developed one: the search over what needs a render sees, for each scene randomization, how close
it can come with the best camera.

Light is additive, so the lights' power and colour are developed too (:data:`LIGHT_KEYS`): the
render keeps each light's share of the image (``output.labels=[lights]``, Cycles' light groups),
its lamps white when their colour is searched, and development draws each lamp's power and
colour (and a uniform world's strength) as simgen would, weighs the shares by the ratio to the
rendered ones, and meters the exposure again (:func:`relight`).

Developed images are the ones ``simgen`` renders with those settings, pixel for pixel, but for
the draws: the render draws each frame's exposure, and each light's power and colour, from the
scene's generator, development from generators of its own (the same ranges, other draws); and
relit images keep the render's denoising, weighed by the relit light before it (not denoised
again). Motion blur needs a sequence's optical flow: it is not developed (a fit renders single
frames), and is searched, if at all, by render.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from simgen.config import EffectsConfig, LightingConfig
from simgen.fit.distance import Distance
from simgen.fit.space import Entry, params_of, values_of
from simgen.io.files import read_json
from simgen.io.names import COCO_JSON, META_DIR
from simgen.child_processes import thread_map
from simgen.sampling.lighting import POWER_RANGE, light_color
from simgen.sampling.random import uniform

MOTION_BLUR_KEYS = ("motion_blur_probability", "shutter")
"""The settings of ``effects`` that need a sequence's optical flow: rendered, not developed."""
EFFECT_KEYS = tuple(f.name for f in dataclasses.fields(EffectsConfig) if f.name not in MOTION_BLUR_KEYS)
"""The settings of ``effects`` that development applies (all but motion blur)."""
POWER_KEYS = tuple(f"lighting.{name}" for name in POWER_RANGE.values())
"""The lamps' power ranges, one per lamp type (simgen.sampling.lighting.POWER_RANGE)."""
COLOR_KEYS = ("lighting.temperature_probability", "lighting.temperature", "lighting.saturation")
"""The settings a lamp's colour is drawn with (simgen.sampling.lighting.light_color)."""
LIGHT_KEYS = (*POWER_KEYS, *COLOR_KEYS, "lighting.world_strength")
"""The lighting settings development applies (:func:`relight`): how strong and what colour the
lights are, not how many or where (those change shadows: rendered)."""
DEVELOPED = frozenset({"camera.exposure", *(f"effects.{k}" for k in EFFECT_KEYS), *LIGHT_KEYS})
"""The settings searched by development rather than by render."""
NEUTRAL = ["camera.exposure=[0,0]", *(f"effects.{k}=0" for k in EFFECT_KEYS if k.endswith("_probability")),
           "output.labels=[linear]"]
"""Overrides of a fit's renders: no exposure compensation or effects, the exposed linear image kept
(with developed lighting, more: :func:`neutral`)."""
EXPOSURE_STREAM = 0x45585053
"""Spawn key of the generator of a frame's developed exposure (apart from the render's streams)."""
LIGHT_STREAM = 0x4C495445
"""Spawn key of the generators of a frame's developed lights (one per light, after the frame's index)."""
RATIO_BOX = 5
"""Side (px) of the box over which relit and rendered light are averaged before their ratio
weighs the denoised image (:func:`relight`): the shares are the render's noisy samples."""


def neutral(keys: Sequence[str], lighting: LightingConfig | None = None) -> list[str]:
    """Overrides of a fit's renders when ``keys`` are developed: :data:`NEUTRAL`, and with any of
    :data:`LIGHT_KEYS` the lights' shares kept (``output.labels=[linear,lights]``), each developed
    power (and the world's strength) fixed at the centre of ``lighting``'s range (the base
    config's: :func:`rendered_power`), the lamps white when their colour is developed
    (:data:`COLOR_KEYS`)."""
    if not set(keys) & set(LIGHT_KEYS):
        return list(NEUTRAL)
    base = lighting or LightingConfig()
    powers = {k: rendered_power(base, k) for k in keys if k in POWER_KEYS or k == "lighting.world_strength"}
    fixed = [f"{k}=[{p!r},{p!r}]" for k, p in powers.items()]
    white = ["lighting.temperature_probability=0", "lighting.saturation=[0,0]"] if set(keys) & set(COLOR_KEYS) else []
    return [*NEUTRAL[:-1], "output.labels=[linear,lights]", *fixed, *white]


def rendered_power(lighting: LightingConfig, key: str) -> float:
    """The power (or strength) a fit renders every light of range ``key`` (``lighting.<name>``)
    with when it develops it: the centre of the base config's range. Development weighs a light by
    its drawn power over this one, so a recipe that scales the drawn power (flying's light_scale)
    scales both alike."""
    lo, hi = getattr(lighting, key.split(".", 1)[1])
    return (float(lo) + float(hi)) / 2


@dataclass
class Frames:
    """A render's frames as development needs them, in frame order."""

    linear: list[np.ndarray]
    """(H, W, 3) float32 exposed linear images (camera.exposure 0, no effects: the linear label)."""
    K: list[np.ndarray]
    index: list[int]
    sequence: list[int]
    meta: list[dict] = dataclasses.field(default_factory=list)
    """Each frame's meta (its ``lights``, ``world`` and ``image``: what was rendered)."""
    lights: list[np.ndarray | None] = dataclasses.field(default_factory=list)
    """Each frame's lights label, when the render kept it (None otherwise)."""

    def __add__(self, other: Frames) -> Frames:
        """These frames, then ``other``'s."""
        return Frames(*(getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(self)))


def load_frames(folder: Path) -> Frames:
    """The frames of a fit's render in ``folder`` (a simgen dataset with the linear label, and
    the lights label when lighting is developed)."""
    images = read_json(folder / COCO_JSON)["images"]
    out = Frames([], [], [], [])
    for im in images:
        name = Path(im["file_name"]).stem
        meta = read_json(folder / META_DIR / f"{name}.json")
        out.linear.append(np.load(folder / "linear" / f"{name}.npy"))
        out.K.append(np.asarray(meta["K"], np.float64))
        out.index.append(int(meta["index"]))
        out.sequence.append(int(meta["sequence"]))
        out.meta.append(meta)
        lights = folder / "lights" / f"{name}.npy"
        out.lights.append(np.load(lights) if lights.is_file() else None)
    return out


def light_scales(meta: dict, base: LightingConfig, lighting: LightingConfig, keys: frozenset[str],
                 seed: int) -> np.ndarray:
    """(L + 2, 3) factors of a frame's light shares (its lamps, the world, the rest: the lights
    label) that turn a render with developed ``keys`` neutral (:func:`neutral` of ``base``) into
    one with lights drawn from ``lighting``: a lamp's power drawn from its type's range over the
    rendered one (:func:`rendered_power`), its colour drawn as simgen draws it (the rendered one is
    white), a uniform world's strength over the rendered one. Only the lamps the lighting group
    drew (``meta``'s params.lights, first in its lights) change: a recipe's own (a room's ceiling
    light) stay. Each light draws from a generator of its own (:data:`LIGHT_STREAM`), power first,
    so candidates share their draws where they can. Not relit: an hdri world's plain backdrop (its
    grey is drawn from world_strength); and light the render clamped (render.clamp_indirect) is
    scaled with its share, not clamped again."""
    lamps, world = meta["lights"], meta["world"]
    out = np.ones((len(lamps) + 2, 3))

    def rng(i: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(meta["index"]), LIGHT_STREAM, i)))

    for i in range(min(len(lamps), len(meta.get("params", {}).get("lights", [])))):
        r, key = rng(i), f"lighting.{POWER_RANGE[lamps[i]['kind']]}"
        power, rendered = uniform(r, getattr(lighting, key.split(".", 1)[1])), rendered_power(base, key)
        if key in keys and rendered > 0:
            out[i] *= power / rendered
        if keys & set(COLOR_KEYS):
            out[i] *= light_color(lighting, r)[0]
    strength = rendered_power(base, "lighting.world_strength")
    plain = world["kind"] == "uniform" and "backdrop" not in world and "plain_backdrop" not in world
    if "lighting.world_strength" in keys and plain and strength > 0:
        out[-2] = uniform(rng(len(lamps)), lighting.world_strength) / strength
    return out


def relight(linear: np.ndarray, lights: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """The (denoised) exposed linear image ``linear`` with each light's share in ``lights``
    ((G, H, W, 3), before denoising) weighed by ``scales`` ((G, 3)): ``linear`` times the ratio of
    the relit light to the rendered one, each averaged over :data:`RATIO_BOX` px first (the shares
    are noisy; where no light falls, the image is left as it is)."""
    import cv2

    relit = np.einsum("ghwc,gc->hwc", lights, scales.astype(np.float32), dtype=np.float32)
    rendered = lights.sum(axis=0, dtype=np.float32)
    box = (RATIO_BOX, RATIO_BOX)
    eps = np.float32(1e-3 * max(float(rendered.mean()), 1e-6))
    return linear * ((cv2.blur(relit, box) + eps) / (cv2.blur(rendered, box) + eps))


@dataclass(frozen=True)
class Developer:
    """Develops a render's frames under values of :data:`DEVELOPED` settings."""

    effects: EffectsConfig
    """The base config's effects (those the space does not search stay at these)."""
    exposure: Sequence[float]
    """The base config's camera.exposure range."""
    tone: str
    seed: int
    lighting: LightingConfig = dataclasses.field(default_factory=LightingConfig)
    """The base config's lighting (the developed lighting settings are over it)."""
    auto_exposure: bool = True
    """render.auto_exposure: whether relit images are metered again."""
    lit: frozenset[str] = frozenset()
    """The lighting settings the renders left neutral (:func:`neutral`): every development relights
    them, with the values given or else the base config's."""

    def __call__(self, frames: Frames, values: dict[str, Any]) -> list[np.ndarray]:
        """The (H, W, 3) uint8 images of ``frames`` with ``values`` ({setting key: value}) of
        developed settings over the base config's."""
        how = self._how(values)
        return thread_map(lambda f: self._develop(frames, f, how, self._draws(frames, f, how)), range(len(frames.linear)))

    def stats(self, frames: Frames, values: dict[str, Any], memo: dict) -> np.ndarray:
        """(N, len(IMAGE_STATS)) float64: the image statistics (:func:`simgen.fit.stats.image_stats`)
        of ``frames`` developed with ``values``, as of the images of ``__call__``. ``memo``: a dict
        kept with these frames between calls; a frame whose draws (its exposure, lights and effects)
        are those of an earlier call is not developed again. A search that moves one setting at a
        time changes few frames' draws with most moves (a lamp type's power: the frames with such a
        lamp; blur's range: the frames that draw blur): a polishing search of 300 candidates (the default then) developed
        12,021 of its 19,200 frames. The memo holds :data:`MEMO_LIMIT` frames at most (it is emptied
        beyond) and belongs to one developer (another one empties it)."""
        from simgen.fit.stats import image_stats

        owner = repr(self)
        if memo.get("developer") != owner:
            memo.clear()
            memo["developer"] = owner
        how = self._how(values)
        draws = [self._draws(frames, f, how) for f in range(len(frames.linear))]
        keys = [(f, stops, None if scales is None else scales.tobytes(), repr(record))
                for f, (stops, scales, record) in enumerate(draws)]
        todo = [f for f, k in enumerate(keys) if k not in memo]
        if len(memo) + len(todo) > MEMO_LIMIT:
            memo.clear()
            todo = list(range(len(keys)))
        rows = thread_map(lambda f: image_stats(self._develop(frames, f, how, draws[f])), todo)
        memo.update({keys[f]: row for f, row in zip(todo, rows)})
        return np.array([memo[k] for k in keys], np.float64)

    def _how(self, values: dict[str, Any]) -> tuple[EffectsConfig, LightingConfig, float, float]:
        """(effects, lighting, exposure's low and high) with ``values`` over the base config's."""
        cfg = dataclasses.replace(self.effects, **{k.split(".", 1)[1]: v for k, v in values.items()
                                                   if k.startswith("effects.")})
        lighting = dataclasses.replace(self.lighting, **{k.split(".", 1)[1]: values[k] for k in self.lit & values.keys()})
        lo, hi = values.get("camera.exposure", self.exposure)
        return cfg, lighting, lo, hi

    def _draws(self, frames: Frames, f: int, how: tuple) -> tuple:
        """What frame ``f``'s developed image depends on besides the frame: its exposure's stops,
        its lights' scales (:func:`light_scales`; None when not relit), its effects' record
        (:func:`simgen.imaging.draw_effects`; None when no effect can happen)."""
        from simgen.imaging import draw_effects, effects_enabled, effects_rngs

        cfg, lighting, lo, hi = how
        index = frames.index[f]
        u = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(index, EXPOSURE_STREAM))).random()
        relit = self.lit and frames.lights and frames.lights[f] is not None
        scales = light_scales(frames.meta[f], self.lighting, lighting, self.lit, self.seed) if relit else None
        record = (draw_effects(cfg, effects_rngs(self.seed, frames.sequence[f], index)[0], sequence=False)
                  if effects_enabled(cfg) else None)
        return lo + u * (hi - lo), scales, record

    def _develop(self, frames: Frames, f: int, how: tuple, draws: tuple) -> np.ndarray:
        """Frame ``f`` developed with ``how`` (:meth:`_how`) and its ``draws`` (:meth:`_draws`)."""
        from simgen.imaging import apply_effects, effects_rngs
        from simgen.color.tone import WHITE, display, expose

        cfg, _, lo, hi = how
        stops, scales, record = draws
        linear, index = frames.linear[f], frames.index[f]
        if scales is not None:  # metered again, as simgen meters the relit render
            meta = frames.meta[f]
            raw = relight(linear, frames.lights[f], scales) * np.float32(2.0 ** -meta["image"]["total_stops"])
            x = expose(raw, self.tone, self.auto_exposure, stops)[0]
        else:
            x = linear * np.float32(2.0 ** stops) if hi > lo or lo else linear
        if record is None:
            return display(x, self.tone)
        # the tone curve once: of the effects' result, or of x when the frame draws none
        return apply_effects(x, None, cfg, effects_rngs(self.seed, frames.sequence[f], index), frames.K[f],
                             to_display=lambda y: display(y, self.tone), white=WHITE[self.tone])[0]


MEMO_LIMIT = 100_000
"""Most frames' statistics a :meth:`Developer.stats` memo keeps (about 60 MB)."""


@dataclass
class Search:
    """The outcome of one trial's development search."""

    values: dict[str, Any]
    """The best values of the developed entries ({} when the space has none); with held-out frames,
    those of the search's best so far that came closest on them."""
    distance: Distance
    """The distance of ``values`` on the searched frames."""
    history: list[dict]
    """Every evaluation: {"params": the optimizer's, "value": distance}."""
    held_out: list[float] = dataclasses.field(default_factory=list)
    """With held-out frames: the distance there of each best so far, in the search's order."""


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
           start: Sequence[dict[str, Any]] = (),
           held_out: Callable[[dict[str, Any]], Distance] | None = None) -> Search:
    """Minimise ``evaluate(values)`` over the developed ``entries`` with ``trials`` evaluations:
    a seeded TPE (``start``: values it tries first, e.g. the best so far and the defaults; those
    the entries cannot represent are skipped), then a pattern search from its best
    (:data:`TPE_SHARE`, :func:`refine`). With no entries, one evaluation of ``{}``.

    ``held_out``: the distance on other frames than ``evaluate``'s. Then the result is not the
    search's last best but the best so far that came closest there: early stopping, since many
    developed settings fit a few frames' draws (which frames get noise, how much) as the search
    goes on, rather than the target."""
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
    path: list[tuple[dict[str, Any], Distance]] = []  # each best so far

    def measure(params: dict[str, Any]) -> Distance:
        values = values_of(entries, params)
        d = evaluate(values)
        history.append({"params": dict(params), "value": d.total})
        if not found or d.total < found["distance"].total:
            found.update(params=dict(params), values=values, distance=d)
            path.append((values, d))
        return d

    study.optimize(lambda trial: measure(_suggest_all(entries, trial)).total, n_trials=first)
    refine(entries, measure, found["params"], found["distance"], trials - first)
    if held_out is None:
        return Search(found["values"], found["distance"], history)
    checked = [held_out(values).total for values, _ in path]
    values, d = path[int(np.argmin(checked))]  # the first of equals: the earlier, the less fitted
    return Search(values, d, history, checked)


def _suggest_all(entries: Sequence[Entry], trial: Any) -> dict[str, Any]:
    for e in entries:
        e.suggest(trial)
    return dict(trial.params)


def to_unit(d: Any, x: float) -> float:
    """Where ``x`` lies in a numeric optuna distribution ``d``'s interval, 0 to 1 (in log units for
    a log-scaled one)."""
    lo, hi, x = (math.log(d.low), math.log(d.high), math.log(x)) if d.log else (d.low, d.high, x)
    return (x - lo) / (hi - lo)


def from_unit(d: Any, u: float) -> Any:
    """The value of a distribution ``d`` at ``u`` (0 to 1, clipped): the inverse of :func:`to_unit`
    (rounded for an integer one); for a categorical one, the choice whose equal share of [0, 1]
    holds ``u``."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    u = min(max(u, 0.0), 1.0)
    if isinstance(d, CategoricalDistribution):
        return d.choices[min(int(u * len(d.choices)), len(d.choices) - 1)]
    lo, hi = (math.log(d.low), math.log(d.high)) if d.log else (d.low, d.high)
    x = lo + u * (hi - lo)
    x = min(max(math.exp(x) if d.log else x, d.low), d.high)  # lo + (hi - lo) can miss hi by a bit
    return int(round(x)) if isinstance(d, IntDistribution) else x


def latin_hypercube(entries: Sequence[Entry], n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``n`` optimizer params of ``entries`` spread over the space as a Latin hypercube: each
    parameter's interval cut into ``n`` equal strata (in its own units: log for a log-scaled one),
    one draw in each, the strata of different parameters paired at random. Every part of each
    interval is tried, unlike ``n`` independent draws, with numpy alone."""
    dists = {k: d for e in entries for k, d in e.distributions().items()}
    units = {k: (rng.permutation(n) + rng.random(n)) / n for k in dists}
    return [{k: from_unit(d, float(units[k][i])) for k, d in dists.items()} for i in range(n)]


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
    from optuna.distributions import CategoricalDistribution

    dists = {k: d for e in entries for k, d in e.distributions().items()}
    numeric = [k for k, d in dists.items() if not isinstance(d, CategoricalDistribution)]
    key, stat = balance or ("", "")
    lever = next((p for e in entries if e.key == key for p in e.params if p in numeric and not p.endswith(".width")), None)

    def unit(k: str, x: float) -> float:
        return to_unit(dists[k], x)

    def value(k: str, u: float) -> float:
        return from_unit(dists[k], u)

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
