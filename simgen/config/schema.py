"""The vocabulary settings are declared in: each field's bounds next to its type and docstring.

A config dataclass declares every field once::

    @dataclass
    class CameraConfig:
        distance: list[float] = span([0.8, 1.5], gt=0)
        \"\"\"Distance from the look-at point, metres.\"\"\"
        dof_probability: float = setting(0.0, ge=0, le=1)
        \"\"\"Chance that a scene's RGB has depth of field.\"\"\"

and :func:`check_fields` (the one validator) walks any tree of such dataclasses and checks
each value against its type annotation and its :class:`Rule`: numbers finite (floats
always), ``gt``/``ge``/``lt``/``le`` bounds, ranges ``[low, high]`` (exactly two values,
``low <= high``, the bounds on both ends), string choices and lists of choices, non-empty
strings. The docs generator (``scripts/gen_config_docs.py``) and ``simgen --help`` read the
same rules (:meth:`Rule.describe`) and the docstrings (:func:`field_docs`).

Errors are one line naming the key, the value and a fix, e.g.
``scene.camera_distance=[nan, 1.0]: values must be finite numbers; e.g. scene.camera_distance=[0.8,1.5]``.
This module imports nothing from simgen but the error type (and did_you_mean): every layer may use it.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import functools
import inspect
import math
import textwrap
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from simgen.errors import SimgenError, did_you_mean  # noqa: F401  (did_you_mean: re-exported)

KEY = "simgen"
"""The key of a field's :class:`Rule` in ``dataclasses.Field.metadata``."""


@dataclass(frozen=True)
class Rule:
    """What a field's value must satisfy besides its type annotation."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    choices: tuple[str, ...] | None = None
    """A string must be one of these; a list of strings a non-empty subset of them. A registry
    (simgen.registry.Registry) may stand here: its names, plugins included, are the choices."""
    span: bool = False
    """A range ``[low, high]``: two values, low <= high, the bounds apply to both."""
    empty_ok: bool = False
    """A list of choices may be empty (e.g. no extra flow formats)."""
    example: str | None = None
    """The fix's example value in override syntax; default: the field's default."""
    common: bool = False
    """Listed among the common keys of ``simgen --help``."""

    def bounds(self) -> str:
        """The numeric bounds as text: ``> 0``, ``[0, 1]``, ``[1, 65536]``, ``(0, 0.001)``."""
        lo = (self.ge, "[") if self.ge is not None else (self.gt, "(") if self.gt is not None else None
        hi = (self.le, "]") if self.le is not None else (self.lt, ")") if self.lt is not None else None
        if lo and hi:
            return f"{lo[1]}{_num(lo[0])}, {_num(hi[0])}{hi[1]}"
        if lo:
            return f"{'>=' if lo[1] == '[' else '>'} {_num(lo[0])}"
        if hi:
            return f"{'<=' if hi[1] == ']' else '<'} {_num(hi[0])}"
        return ""

    _listy: bool = False  # set by setting() for list-of-choices fields (docs wording only)


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def setting(default: Any, **rule: Any) -> Any:
    """A dataclass field with ``default`` (copied per instance if mutable) and a :class:`Rule`."""
    r = Rule(**rule)
    if isinstance(default, list) and r.choices is not None:
        r = dataclasses.replace(r, _listy=True)
    meta = {KEY: r}
    if isinstance(default, (list, dict)):
        return field(default_factory=functools.partial(copy.deepcopy, default), metadata=meta)
    return field(default=default, metadata=meta)


def span(default: list, **rule: Any) -> Any:
    """A range ``[low, high]`` field (list[float] or list[int]) with a :class:`Rule`."""
    return setting(list(default), span=True, **rule)


def rule_of(f: dataclasses.Field) -> Rule:
    return f.metadata.get(KEY, Rule())


def default_of(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None if f.default is dataclasses.MISSING else f.default


def override_text(value: Any) -> str:
    """``value`` in Hydra's override syntax: ``[0.8,1.5]``, ``true``, ``null``, ``{mug: 4}``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(override_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {override_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def example(key: str, f: dataclasses.Field) -> str:
    """``key=<a good value>`` for field ``f``."""
    r = rule_of(f)
    if r.example is not None:
        return f"{key}={r.example}"
    return f"{key}={override_text(default_of(f))}"


# ------------------------------------------------------------------ the validator


@functools.lru_cache(maxsize=None)
def type_hints(cls: type) -> dict[str, Any]:
    """``cls``'s annotations resolved (once per class)."""
    return typing.get_type_hints(cls)


def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(X, True) for Optional[X] or X | None, else (tp, False)."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def mapping_fields(cls: type) -> list[str]:
    """The {name: value} settings of dataclass ``cls``: its fields typed dict (or Optional dict)."""
    return [f.name for f in dataclasses.fields(cls) if typing.get_origin(unwrap_optional(type_hints(cls)[f.name])[0]) is dict]


def _is_number(v: Any, kind: type) -> bool:
    if isinstance(v, bool):
        return False
    return isinstance(v, int) if kind is int else isinstance(v, (int, float))


def _show(value: Any) -> str:
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def check_fields(obj: Any, prefix: str = "") -> None:
    """Check every declared field of dataclass ``obj`` (and of nested dataclasses) against its
    annotation and :class:`Rule`; raise a one-line SimgenError at the first bad value."""
    hints = type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_fields(value, key + ".")
            continue
        problem = check_value(value, hints[f.name], rule_of(f))
        if problem:
            raise SimgenError(f"{key}={_show(value)}: {problem}; e.g. {example(key, f)}")


def check_value(value: Any, tp: Any, rule: Rule) -> str | None:
    """Why ``value`` does not fit type ``tp`` and ``rule``, or None."""
    tp, optional = unwrap_optional(tp)
    if value is None:
        return None if optional else "must be set (null is not allowed)"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return None
    if tp is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if tp in (int, float):
        return _check_number(value, tp, rule)
    if tp is str:
        if not isinstance(value, str):
            return "must be a string"
        if not value.strip():
            return "must not be empty"
        if rule.choices is not None and value not in rule.choices:
            return f"unknown value; use one of {', '.join(rule.choices)}"
        return None
    if origin is list:
        if not isinstance(value, (list, tuple)):
            return "must be a list"
        (item,) = args or (Any,)
        if rule.span:
            return _check_span(list(value), item, rule)
        if rule.choices is not None:
            bad = [v for v in value if v not in rule.choices]
            if bad:
                return f"unknown {_show(bad[0])}; use any of {', '.join(rule.choices)}"
            if not value and not rule.empty_ok:
                return f"must name at least one of {', '.join(rule.choices)}"
            return None
        for v in value:
            problem = check_value(v, item, dataclasses.replace(rule, choices=None))
            if problem:
                return f"item {_show(v)} {problem}"
        return None
    if origin is dict:
        if not isinstance(value, dict):
            return "must be a mapping {name: value}"
        key_type, item = args or (Any, Any)
        for k, v in value.items():
            if not isinstance(k, str) or not k.strip():
                return f"key {k!r} must be a non-empty name"
            problem = check_value(v, item, rule)
            if problem:
                return f"{k}={_show(v)} {problem}"
        return None
    return None


def _check_number(value: Any, kind: type, rule: Rule, what: str = "must be") -> str | None:
    if not _is_number(value, kind):
        return f"{what} {'an integer' if kind is int else 'a number'}"
    if not math.isfinite(value):
        return f"{what} a finite number"
    if ((rule.gt is not None and not value > rule.gt) or (rule.ge is not None and not value >= rule.ge)
            or (rule.lt is not None and not value < rule.lt) or (rule.le is not None and not value <= rule.le)):
        b = rule.bounds()
        return f"{what} {'in ' if b[0] in '[(' else ''}{b}"
    return None


def _check_span(value: list, item: Any, rule: Rule) -> str | None:
    kind = int if item is int else float
    noun = "integers" if kind is int else "numbers"
    if len(value) != 2 or not all(_is_number(v, kind) for v in value):
        return f"must be a range [low, high] of 2 {noun}"
    if not all(math.isfinite(v) for v in value):
        return "values must be finite numbers"
    if value[0] > value[1]:
        return "low must be <= high"
    b = rule.bounds()
    if b and any(_check_number(v, kind, rule) for v in value):
        return f"both ends must be {'in ' if b[0] in '[(' else ''}{b}"
    return None


# ------------------------------------------------------------------ docstrings


@functools.lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of dataclass ``cls`` (whitespace collapsed), those of the
    fields it inherits from dataclass bases too."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is not cls and dataclasses.is_dataclass(klass):
            docs.update(field_docs(klass))
    docs.update(_own_field_docs(cls))
    return docs


def _own_field_docs(cls: type) -> dict[str, str]:
    """The docstrings under the fields written in ``cls``'s own class body."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    node = ast.parse(source).body[0]
    docs: dict[str, str] = {}
    last: Optional[str] = None
    for stmt in getattr(node, "body", []):
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            last = stmt.target.id
        elif (last and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
              and isinstance(stmt.value.value, str)):
            docs[last] = " ".join(stmt.value.value.split())
            last = None
        else:
            last = None
    return docs


def first_sentence(text: str) -> str:
    """The first sentence of ``text``: up to a word's '.' followed by a space (not e.g., i.e.)."""
    import re

    head = re.split(r"(?<!e\.g)(?<!i\.e)(?<=[\w)\]}])\. ", text.strip(), maxsplit=1)[0].strip()
    return head if head.endswith(".") else head + "."


# ------------------------------------------------------------------ override keys


RENAMED: dict[str, str] = {
    "camera.distance": "scene.camera_distance", "camera.elevation": "scene.camera_elevation",
    "camera.azimuth": "scene.camera_azimuth", "camera.look_at_jitter": "scene.look_at_jitter",
    "objects.scale": "scene.object_scale", "placement": "scene.placement", "placement.mode": "scene.placement",
    **{f"placement.{k}": f"scene.physics.{k}" for k in (
        "supports", "drop_gap", "pile_radius", "table_size", "table_height", "bin_size", "bin_height", "friction",
        "restitution", "max_seconds", "rest_speed", "substeps", "margin")},
}
"""Keys that moved: old key -> new key. Where the shell camera stands, how objects are scaled and
how they come to rest (the placement group, ``placement=physics``) are the tabletop recipe's own
settings (the flying recipe reads none of them)."""


def renamed(key: str) -> str | None:
    """The hint for a key that moved (:data:`RENAMED`), e.g. "camera.distance is now
    scene.camera_distance (a setting of scene=tabletop)"; None for any other key."""
    new = RENAMED.get(key)
    return None if new is None else f"{key} is now {new} (a setting of scene=tabletop)"


class UnknownKey(SimgenError):
    """A key names no setting: ``part`` is the unknown name, ``options`` the names that exist
    where it stands, ``owner`` the dataclass (or None: a plain mapping) that lacks it."""

    def __init__(self, message: str, part: str, options: list[str], owner: Optional[type]) -> None:
        super().__init__(message)
        self.part, self.options, self.owner = part, options, owner


def check_key(key: str, root: Any, under: str = "", where: str = "simgen --help lists the keys") -> None:
    """The one check of an override's key (``render.width``, ``study.trainer.steps``): a
    one-line SimgenError with a "did you mean" unless the dotted ``key`` names a setting of
    ``root`` (a dataclass type, or a mapping {name: type} whose dataclass values are walked the
    same way). ``under`` is the key's own prefix in messages (``study``); ``where`` says where
    the keys are listed. A key inside a {name: value} setting (``objects.dirs.mug``), under a
    {name: dataclass} one (``study.arms.NAME.real``: the name is free, the field is checked), a
    list index or an untyped value is accepted; a key under a single value is refused."""
    parts = key.split(".")
    level, owner = root, None
    for i, part in enumerate(parts):
        parent = ".".join([*([under] if under else []), *parts[:i]])
        if isinstance(level, type) and dataclasses.is_dataclass(level):
            level, owner = type_hints(level), level
        if isinstance(level, dict):
            if part not in level:
                whole = f"{under}.{key}" if under else key
                guess = renamed(whole) or did_you_mean(part, list(level), prefix=f"{parent}." if parent else "")
                raise UnknownKey(f"unknown key '{whole}'; {guess + ' ' if guess else ''}({where})",
                                 part, list(level), owner)
            level = level[part]
            continue
        tp, _ = unwrap_optional(level)
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is dict:
            item = args[1] if len(args) == 2 else Any
            if not (isinstance(item, type) and dataclasses.is_dataclass(item)):
                return  # a key inside a {name: value} setting, e.g. objects.dirs.mug
            level, owner = item, None  # this part is a name (study.arms.NAME): its fields come next
            continue
        if tp is Any or (origin is list and part.isdigit()):
            return
        raise SimgenError(f"'{parent}' has no key '{part}': it is a single value; set it with {parent}=VALUE")


def merge_overrides(cls: type, data: Any, overrides: list[str], under: str, check: Callable[[str], None],
                    parse_hint: str) -> Any:
    """An instance of dataclass ``cls``: its defaults, then ``data`` (a mapping or None), then each
    ``UNDER.KEY=VALUE`` of ``overrides`` merged over them as OmegaConf types them; ``check(KEY)``
    refuses an unknown key before its value is read. A one-line SimgenError for an override that
    is not ``UNDER.KEY=VALUE``, one that does not parse (``parse_hint`` says how to quote), or a
    value of the wrong type. The values' bounds are for :func:`check_fields`."""
    import yaml
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        cfg = OmegaConf.merge(OmegaConf.structured(cls), data or {})
        for text in overrides:
            key, eq, value = text.partition("=")
            if not eq or not key.startswith(f"{under}."):
                raise SimgenError(f"bad {under} override {text!r}; write {under}.KEY=VALUE")
            key = key[len(under) + 1:]
            check(key)
            try:
                dot = OmegaConf.from_dotlist([f"{key}={value}"])
            except yaml.YAMLError as e:
                raise SimgenError(f"cannot parse the override {text!r} ({' '.join(str(e).split()[:12])}...); "
                                  f"{parse_hint}") from None
            cfg = OmegaConf.merge(cfg, dot)
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "?"
        msg = " ".join(str(e).splitlines()[0].rstrip(".").split())
        raise SimgenError(f"bad {under} value for '{under}.{key}': {msg}") from None


def type_name(tp: Any) -> str:
    """A few words for a field's type annotation: ``integer``, ``number``, ``range of integers``."""
    tp, optional = unwrap_optional(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool:
        name = "true/false"
    elif tp is int:
        name = "integer"
    elif tp is float:
        name = "number"
    elif tp is str:
        name = "text"
    elif origin is list:
        name = f"list of {type_name(args[0]) if args else 'values'}"
    elif origin is dict:
        name = f"{{name: {type_name(args[1]) if len(args) == 2 else 'value'}}}"
    else:
        name = "value"
    return f"{name} or null" if optional else name


def allowed(f: dataclasses.Field, tp: Any) -> str:
    """The type and rule of a field in a few words, e.g. ``integer in [1, 65536]`` or
    ``range [low, high] of numbers, ends in [0, 1]``."""
    r = rule_of(f)
    b = r.bounds()
    within = f" {'in ' if b[:1] in ('[', '(') else ''}{b}" if b else ""
    base, optional = unwrap_optional(tp)
    args = typing.get_args(base)
    if r.span:
        noun = "integers" if args and args[0] is int else "numbers"
        return f"range [low, high] of {noun}" + (f", ends{within}" if b else "")
    if r.choices:
        if r._listy:
            return f"list of any of {', '.join(r.choices)} ({'may be empty' if r.empty_ok else 'at least one'})"
        return "one of " + ", ".join(r.choices)
    if typing.get_origin(base) is dict and len(args) == 2:
        return f"{{name: {type_name(args[1])}{within}}}" + (" or null" if optional else "")
    return type_name(tp) + within
