"""The search space of ``simgen fit``: which settings it varies, within which bounds, and how.

The space is a tree whose paths are simgen setting keys (``fit.space.scene.camera_distance``) and
whose leaves say how to search that setting::

    scene:
      camera_distance: {low: 0.3, high: 3.0, log: true}  # a range setting: fitted as a range
    camera:
      exposure: [-2, 2]                            # shorthand for {low: -2, high: 2}
    effects:
      noise_probability: [0, 1]                    # a single value
      jpeg_quality: {low: 5, high: 100, as: value} # a range setting fitted as one value [q, q]
    lighting:
      world: {choices: [[uniform], [sky]]}         # one of these values

A setting that is itself a range (``scene.camera_distance=[lo,hi]``, declared with
:func:`simgen.config.schema.span`) is fitted as a range, because the result is a randomization: the
search draws its centre within ``[low, high]`` and its width as a fraction (0 to 1) of the widest
range about that centre that stays within ``[low, high]`` (both in log space with ``log: true``):
the fitted range is ``centre ± width * min(centre - low, high - centre)`` (:data:`RANGES`), so every
range within the bounds has one pair of parameters and none piles onto a bound. ``as: value`` fits
it as a single value instead. Every entry is checked against
the setting's declared type and bounds (:mod:`simgen.config`) before anything renders.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from simgen.errors import SimgenError
from simgen.config.schema import Rule, UnknownKey, check_key, check_value, override_text, rule_of

RANGES = "centre within [low, high], width a share of the widest range about it within them"
"""How a range entry's two parameters make its range (part of a fit's fingerprint, so that a fit
resumed under another encoding is refused, not read wrongly). An encoding that clipped
``centre ± width * (high - low) / 2`` to the bounds put a quarter of a uniform draw's ranges on
each bound: on fit_gap's target most prefits then ended on the camera's nearest distance (0.3 m
where the target's range starts at 0.45) or an elevation up to 85 degrees (the target's: 25-70),
which the label statistics cannot tell apart from the target's."""

LEAF_KEYS = {"low", "high", "log", "as", "choices"}
"""The keys of a leaf written as a mapping."""
HOW = ("range", "value")


@dataclass(frozen=True)
class Entry:
    """One searched setting."""

    key: str
    """The simgen setting, e.g. ``scene.camera_distance``."""
    kind: str
    """``range`` (a span setting fitted as [lo, hi]), ``value`` (one number) or ``choice``."""
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    integer: bool = False
    choices: tuple = ()
    """The values of a ``choice`` entry (any YAML value, e.g. ``[uniform]``)."""
    span: bool = False
    """The setting is a range: a ``value`` entry of it is the range ``[v, v]``."""

    @property
    def params(self) -> tuple[str, ...]:
        """The names of the optimizer's parameters for this entry."""
        return (f"{self.key}.centre", f"{self.key}.width") if self.kind == "range" else (self.key,)

    def suggest(self, trial: Any) -> Any:
        """This entry's value for an Optuna ``trial`` (its parameters drawn by the trial)."""
        if self.kind == "choice":
            texts = [override_text(c) for c in self.choices]
            return self.choices[texts.index(trial.suggest_categorical(self.key, texts))]
        if self.kind == "value":
            if self.integer:
                return self.value_of(trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log))
            return self.value_of(trial.suggest_float(self.key, self.low, self.high, log=self.log))
        lo, hi = self._u(self.low), self._u(self.high)
        centre = trial.suggest_float(f"{self.key}.centre", lo, hi)
        width = trial.suggest_float(f"{self.key}.width", 0.0, 1.0)
        return self.range_of(centre, width)

    def distributions(self) -> dict[str, Any]:
        """Optuna's distribution of each of this entry's parameters (as :meth:`suggest` draws them)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "choice":
            return {self.key: CategoricalDistribution([override_text(c) for c in self.choices])}
        if self.kind == "value":
            cls = IntDistribution if self.integer else FloatDistribution
            low, high = (int(self.low), int(self.high)) if self.integer else (self.low, self.high)
            return {self.key: cls(low, high, log=self.log)}
        return {f"{self.key}.centre": FloatDistribution(self._u(self.low), self._u(self.high)),
                f"{self.key}.width": FloatDistribution(0.0, 1.0)}

    def value_of(self, v: Any) -> Any:
        """The setting's value of a ``value`` entry's parameter ``v``: ``[v, v]`` for a range setting."""
        v = v if self.integer else _tidy(v)
        return [v, v] if self.span else v

    def _u(self, x: float) -> float:
        return math.log(x) if self.log else float(x)

    def _room(self, centre: float) -> float:
        """Half the widest range about ``centre`` (in the searched units) within the bounds: what a
        range entry's width of 1 spans on each side (:data:`RANGES`)."""
        return min(centre - self._u(self.low), self._u(self.high) - centre)

    def range_of(self, centre: float, width: float) -> list:
        """The range ``[lo, hi]`` of a range entry's parameters (:data:`RANGES`): ``centre ± width
        * min(centre - low, high - centre)`` (in log space with ``log``)."""
        lo, hi = self._u(self.low), self._u(self.high)
        centre = min(max(centre, lo), hi)
        half = min(max(width, 0.0), 1.0) * self._room(centre)
        ends = [max(centre - half, lo), min(centre + half, hi)]  # within them but for rounding
        values = [math.exp(e) for e in ends] if self.log else ends
        if self.integer:
            a, b = (int(round(v)) for v in values)
            return [a, max(a, b)]
        return [_tidy(v) for v in values]

    def params_of(self, value: Any) -> dict[str, Any] | None:
        """The optimizer's parameters that give ``value`` (e.g. the setting's default), or None
        when the space cannot represent it (outside the bounds, not a choice)."""
        if self.kind == "choice":
            text = override_text(value)
            return {self.key: text} if text in [override_text(c) for c in self.choices] else None
        if self.kind == "value":
            if self.span:
                if not (isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == value[1]):
                    return None
                value = value[0]
            ok = isinstance(value, (int, float)) and self.low <= value <= self.high
            return {self.key: value} if ok else None
        if not (isinstance(value, (list, tuple)) and len(value) == 2 and self.low <= value[0] <= value[1] <= self.high):
            return None
        if self.log and value[0] <= 0:
            return None
        a, b = self._u(value[0]), self._u(value[1])
        centre = (a + b) / 2
        room = self._room(centre)
        return {f"{self.key}.centre": centre, f"{self.key}.width": min((b - a) / 2 / room, 1.0) if room > 0 else 0.0}

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.key}: one of {', '.join(override_text(c) for c in self.choices)}"
        what = "a range within" if self.kind == "range" else "a value in"
        return f"{self.key}: {what} [{_num(self.low)}, {_num(self.high)}]{' (log scale)' if self.log else ''}"


def _tidy(x: float) -> float:
    return float(f"{x:.6g}")


def _num(x: float) -> str:
    return f"{x:g}"


def is_leaf(value: Any) -> bool:
    """Whether a node of a space tree is an entry (or None, an entry removed) rather than a level."""
    return value is None or isinstance(value, (list, tuple)) or (isinstance(value, Mapping) and bool(value)
                                                                 and set(value) <= LEAF_KEYS)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{dotted key: leaf}`` of a space tree; a leaf is a list, a mapping of :data:`LEAF_KEYS`,
    or None (an entry removed by an override, ``fit.space.scene.camera_distance=null``)."""
    if not isinstance(tree, Mapping):
        raise SimgenError(f"fit.space{'.' + prefix.rstrip('.') if prefix else ''} must be a mapping of setting "
                          f"keys, got {override_text(tree)}; e.g. fit.space.scene.camera_distance=[0.3,3]")
    out: dict[str, Any] = {}
    for name, value in tree.items():
        key = f"{prefix}{name}"
        if is_leaf(value):
            out[key] = value
        elif isinstance(value, Mapping) and set(value) & LEAF_KEYS:
            odd = sorted(map(str, set(value) - LEAF_KEYS))[0]
            raise SimgenError(f"fit.space.{key}: unknown key {odd!r} (an entry has {', '.join(sorted(LEAF_KEYS))})")
        elif isinstance(value, Mapping):
            out.update(flatten(value, key + "."))
        else:
            raise SimgenError(f"fit.space.{key}={override_text(value)}: give a range [low, high], "
                              "{low: L, high: H, log: true, as: value} or {choices: [...]}")
    return out


def _field(key: str, root: type) -> tuple[Any, Rule]:
    """The declared type and rule of setting ``key`` of ``root`` (Settings, with ``scene`` typed
    by the recipe's Config)."""
    level: Any = root
    f = None
    for part in key.split("."):
        hints = typing.get_type_hints(level)
        f = next(x for x in dataclasses.fields(level) if x.name == part)
        level = hints[part]
    assert f is not None
    return level, rule_of(f)


def _settings_root(recipe_config: type) -> type:
    from simgen.config import Settings

    return dataclasses.make_dataclass("FitSettings", [("scene", recipe_config, dataclasses.field(default=None))],
                                      bases=(Settings,))


def parse_space(tree: Any, recipe_config: type) -> list[Entry]:
    """The entries of a space tree, each checked against the declared setting it names (its
    type and bounds; ``recipe_config``: the recipe's Config, for ``scene.*`` keys). A one-line
    SimgenError naming the entry and a fix for the first bad one."""
    root = _settings_root(recipe_config)
    entries = []
    for key, leaf in flatten(tree).items():
        if leaf is None:
            continue
        where = f"fit.space.{key}"
        try:
            check_key(key, root, where="docs/config.md lists the settings")
        except UnknownKey as e:
            raise SimgenError(f"{where}: {e}") from None
        try:
            tp, rule = _field(key, root)
        except StopIteration:
            raise SimgenError(f"{where}: only a whole setting can be searched (not a part of one)") from None
        entries.append(_entry(key, where, leaf, tp, rule))
    if not entries:
        raise SimgenError("fit.space is empty: name at least one setting to search, e.g. fit.space.scene.camera_distance=[0.3,3]")
    return entries


def _entry(key: str, where: str, leaf: Any, tp: Any, rule: Rule) -> Entry:
    spec = dict(leaf) if isinstance(leaf, Mapping) else None
    if spec is not None and "choices" in spec:
        extra = set(spec) - {"choices"}
        choices = spec["choices"]
        if extra or not isinstance(choices, (list, tuple)) or not choices:
            raise SimgenError(f"{where}: a choice entry is {{choices: [value, ...]}} with at least one value")
        for c in choices:
            problem = check_value(c, tp, rule)
            if problem:
                raise SimgenError(f"{where}: the choice {override_text(c)} {problem}")
        return Entry(key, "choice", choices=tuple(choices))
    if spec is None:
        if len(leaf) != 2:
            raise SimgenError(f"{where}={override_text(list(leaf))}: give [low, high], or {{choices: [...]}} to pick "
                              "one of several values")
        spec = {"low": leaf[0], "high": leaf[1]}
    unknown = set(spec) - LEAF_KEYS
    if unknown or "low" not in spec or "high" not in spec:
        raise SimgenError(f"{where}: an entry is [low, high] or {{low: L, high: H, log: true|false, as: range|value}}")
    low, high, log, how = spec["low"], spec["high"], bool(spec.get("log", False)), spec.get("as")
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    is_span = rule.span and origin is list
    base = args[0] if is_span else _unwrap(tp)
    if base not in (int, float):
        raise SimgenError(f"{where}: {key} is not a number (it is a {getattr(base, '__name__', base)}); search it "
                          f"with {{choices: [...]}}")
    if how is not None and how not in HOW:
        raise SimgenError(f"{where}: as={how}; use as=range or as=value")
    if how == "range" and not is_span:
        raise SimgenError(f"{where}: as=range, but {key} is a single value, not a range")
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise SimgenError(f"{where}: {name}={override_text(v)} must be a finite number")
        if base is int and float(v) != int(v):
            raise SimgenError(f"{where}: {name}={v}, but {key} takes whole numbers")
        v = int(v) if base is int else float(v)
        problem = check_value([v, v] if is_span else v, tp, rule)
        if problem:
            raise SimgenError(f"{where}: {name}={_num(v)} is outside the setting's bounds: {key} {problem}")
    if not low < high:
        raise SimgenError(f"{where}: low={_num(low)} must be less than high={_num(high)}")
    if log and low <= 0:
        raise SimgenError(f"{where}: log=true needs low > 0 (got {_num(low)})")
    kind = "range" if is_span and how != "value" else "value"
    return Entry(key, kind, float(low), float(high), log, base is int, span=is_span)


def _unwrap(tp: Any) -> Any:
    """``X`` of ``Optional[X]``; other types as they are."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1 else tp


def values_of(entries: Sequence[Entry], params: Mapping[str, Any]) -> dict[str, Any]:
    """{setting key: value} of the optimizer's ``params`` (a finished trial's)."""
    out: dict[str, Any] = {}
    for e in entries:
        if e.kind == "range":
            out[e.key] = e.range_of(params[f"{e.key}.centre"], params[f"{e.key}.width"])
        elif e.kind == "choice":
            texts = [override_text(c) for c in e.choices]
            out[e.key] = e.choices[texts.index(params[e.key])]
        else:
            out[e.key] = e.value_of(params[e.key])
    return out


def params_of(entries: Sequence[Entry], values: Mapping[str, Any]) -> dict[str, Any] | None:
    """The optimizer's parameters that give ``values`` ({setting key: value}) for every entry: the
    inverse of :func:`values_of`; None when a value is missing or the space cannot represent it."""
    params: dict[str, Any] = {}
    for e in entries:
        p = e.params_of(values[e.key]) if e.key in values else None
        if p is None:
            return None
        params.update(p)
    return params


def to_overrides(values: Mapping[str, Any]) -> list[str]:
    """simgen command-line overrides of {setting key: value}."""
    return [f"{k}={override_text(v)}" for k, v in values.items()]


def defaults_of(entries: Sequence[Entry], settings: Any) -> dict[str, Any]:
    """{setting key: its value in ``settings``} (e.g. the default randomization's) for each entry."""
    out = {}
    for e in entries:
        value: Any = settings
        for part in e.key.split("."):
            value = getattr(value, part)
        out[e.key] = value
    return out


# ------------------------------------------------------------------ what the target determines

@dataclass(frozen=True)
class Tie:
    """Settings that fix one image quantity together, so that images (and any statistic of them)
    determine only a combination of them: fitting each would trade one against the others and present
    noise as a finding. ``members`` are in the order they are held (kept at the base config's value):
    the first ``hold`` of them in the space (fewer where the user or the config already fixes some),
    the others fitted, in ratio to those held."""

    name: str
    quantity: str
    """The combination the target determines, in words."""
    members: tuple[str, ...]
    hold: int
    relation: str = "ratio"
    """What of the members the target determines, in a word: their ratio, or their combination."""
    at: tuple[tuple[str, Any, str], ...] = ()
    """(member, value, partner): the member, when held while its partner is fitted, is held at this
    value rather than the base config's: an effect's probability at 1 (on every frame) when its
    strength is fitted, since an effect on some frames and a weaker one on all of them give the same
    statistics."""


TIES = (
    Tie("object size in the image", "scene.object_scale x camera.focal_length / scene.camera_distance (with "
        "scene.area_radius, the spread; the world scaled as a whole, or the camera zoomed and moved back, gives "
        "the same image)", ("camera.focal_length", "scene.object_scale", "scene.camera_distance"), 2),
    Tie("the lamps against the world light", "each lamp's power / lighting.world_strength (the exposure is "
        "metered on the image, so scaling every light at once changes nothing)",
        ("lighting.world_strength", "lighting.point_power", "lighting.area_power", "lighting.spot_power",
         "lighting.sun_strength"), 1),
    Tie("the image's colour cast", "the lamps' blackbody temperature against the temperature the camera balances "
        "for (a warmer lamp and a camera balanced for a cooler light give the same cast), each on the share of "
        "lamps or frames its probability gives", ("effects.white_balance_probability", "effects.white_balance_temperature",
                                                 "lighting.temperature_probability", "lighting.temperature"), 3,
        relation="combination", at=(("effects.white_balance_probability", 1.0, "effects.white_balance_temperature"),
                                    ("lighting.temperature_probability", 1.0, "lighting.temperature"))),
    Tie("sensor noise", "how noisy the frames are: the chance a frame gets sensor noise against its full well (noise "
        "on half the frames or weaker noise on all of them give the same statistics)",
        ("effects.noise_probability", "effects.full_well"), 1, relation="combination",
        at=(("effects.noise_probability", 1.0, "effects.full_well"),)),
)
"""The ties simgen fit knows (docs/explanation/fit.md, "What the target determines")."""


@dataclass(frozen=True)
class Held:
    """A setting of the space that the fit does not search, and why."""

    key: str
    why: str
    value: Any = None
    """The value it is held at (:attr:`Tie.at`); None: the base config's."""

    def describe(self) -> str:
        """"held at the base config's value" or "held at VALUE"."""
        return "held at the base config's value" if self.value is None else f"held at {override_text(self.value)}"


def untangle(entries: Sequence[Entry], known: Mapping[str, str],
             ties: Sequence[Tie] = TIES) -> tuple[list[Entry], list[Held]]:
    """The entries to search and those held: each of ``known`` ({key: why}, e.g. a focal length that a
    camera.calibration fixes), then of each of ``ties`` (fit.tie=false: none), walking its members in
    order, those in the space until the tie holds as many as it should, a member outside the space
    (left out by the user, or fixed by the config) counting as held already; at least one member in
    the space is fitted."""
    held = [Held(e.key, known[e.key]) for e in entries if e.key in known]
    keys = [e.key for e in entries if e.key not in known]
    for tie in ties:
        fixed, hold = 0, []
        for k in tie.members:
            if fixed + len(hold) >= tie.hold:
                break
            if k in keys:
                hold.append(k)
            else:
                fixed += 1
        free = [k for k in tie.members if k in keys]
        hold = hold[:max(0, len(free) - 1)]  # a tie with one member in the space fits it: it fixes the quantity
        fitted = [k for k in free if k not in hold]
        at = {k: value for k, value, partner in tie.at if partner in fitted}
        held += [Held(k, f"{tie.name}: the target determines only the {tie.relation}; {', '.join(fitted)} fitted",
                      at.get(k)) for k in hold]
    out = {h.key for h in held}
    return [e for e in entries if e.key not in out], held
