"""The command line's overrides checked before Hydra composes: parsed as Hydra will, every key
and group option (every value of a sweep) checked, and a one-line error with a "did you mean"
for the first bad one, worded as simgen's own checks word theirs; a study named as an
``experiment=`` overlay is one line saying ``simgen study NAME``."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Iterable

from simgen.errors import SimgenError


def quote(value: str) -> str:
    """``value`` as a Hydra override's quoted string: a path holding ``:``, spaces, brackets or
    quotes stays one value (``output.dir='/data/a b'``)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _schema(recipes: list[str | None]) -> dict[str, Any]:
    """Top-level key -> its type (a dataclass for groups); ``scene`` -> the union of the
    recipes' Config fields (Any, unchecked, when an option's recipe is not known here)."""
    from simgen.config import Settings

    hints = typing.get_type_hints(Settings)
    out: dict[str, Any] = {f.name: hints[f.name] for f in dataclasses.fields(Settings)}
    scene: dict[str, Any] = {}
    for name in recipes:
        if name is None:
            out["scene"] = Any  # a scene option of the user's own (hydra.searchpath): Hydra checks its keys
            return out
        try:
            from simgen.recipes import load_recipe

            config = load_recipe(name).Config
        except SimgenError:
            continue  # an unknown recipe is reported with its choices later
        scene.update(typing.get_type_hints(config))
    out["scene"] = scene
    return out


def _parse_fix(text: str) -> str:
    """How to fix an override Hydra cannot parse: quote a plain value, else check the syntax."""
    key, _, value = text.partition("=")
    if value and not any(c in value for c in "'\"[]{}(),"):
        return "quote the value for Hydra, e.g. simgen \"" + f"{key}='{value}'" + '"'
    return ("check its brackets and quotes (Hydra's override syntax: key=value, key=[a,b], "
            "key={name: value}, key='quoted text')")


def study_hint(key: str, value: str) -> str | None:
    """The one-line message for an override ``key=value`` that names a study where only an overlay
    can be (``experiment=dr_gap``, ``experiment=FILE.yaml`` with a study: node, ``study=dr_gap``),
    saying the command that runs it; None for anything else (an overlay of configs/experiment/)."""
    from simgen.paths import CONFIG_DIR
    from simgen.experiment.config import is_file_argument, study_named

    key = key.lstrip("+~")
    if key not in ("experiment", "study") or not value:
        return None
    if key == "experiment" and not is_file_argument(value) and (CONFIG_DIR / "experiment" / f"{value}.yaml").is_file():
        return None
    if study_named(value) is None:
        return None
    what = "a study, not an overlay" if key == "experiment" else "a study"
    return (f"{key}={value} is {what}: studies run with simgen study {value} (followed by the same "
            "study.KEY=VALUE and simgen overrides; simgen study --help lists the studies)")


def named_study(overrides: Iterable[str]) -> tuple[str, str] | None:
    """(the key=value, the study) of the first override that names a study where only an overlay
    can be (:func:`study_hint`; a sweep's values too: ``experiment=dr_ablation,dr_gap``), or None."""
    for a in overrides:
        key, eq, value = a.partition("=")
        if not eq or key.lstrip("+~") not in ("experiment", "study"):
            continue
        for v in value.split(","):
            v = v.strip().strip("'\"")
            if study_hint(key, v) is not None:
                return f"{key.lstrip('+~')}={v}", v
    return None


def refuse_studies(overrides: Iterable[str]) -> None:
    """A one-line SimgenError (:func:`study_hint`) for the first override that names a study where
    only an overlay can be (:func:`named_study`), for a command that checks its overrides later
    (``simgen study``; a run's are checked by :func:`check_overrides`)."""
    found = named_study(overrides)
    if found is not None:
        key, _, value = found[0].partition("=")
        raise SimgenError(str(study_hint(key, value)))


def _values(o: Any) -> list[Any]:
    """The values of a parsed override: each of a sweep's, or its one."""
    return list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.value()]


def check_overrides(overrides: list[str]) -> list[Any]:
    """Parse the command-line overrides as Hydra will and check every key and group option
    (every value of a sweep, before its first job runs); a one-line SimgenError with a "did you
    mean" for the first bad one. Returns the parsed overrides. The values are checked when the
    config is composed and converted (simgen.compose.settings.to_settings)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from simgen.compose.store import options as group_options
    from simgen.compose.store import registered
    from simgen.config.schema import UnknownKey, check_key, did_you_mean, renamed

    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            parsed.append(parser.parse_override(text))
        except HydraException as e:
            reason = " ".join(str(e).split())
            raise SimgenError(f"cannot parse the override {text!r} ({reason}); {_parse_fix(text)}") from None
    options = group_options(overrides=overrides)
    for o in parsed:  # experiment= is a Hydra overlay group only: a study runs as `simgen study NAME`
        if o.key_or_group in ("experiment", "study") and o.package is None and not o.is_delete():
            for v in map(str, (v for v in _values(o) if v is not None)):
                hint = None if o.key_or_group == "experiment" and v in options["experiment"] else study_hint(
                    o.key_or_group, v)
                if hint is not None:
                    raise SimgenError(hint)
    recipes: list[str | None] = []
    for o in parsed:
        if o.key_or_group == "scene" and o.package is None and not o.is_delete():
            for v in map(str, (v for v in _values(o) if v is not None)):
                if registered("scene", v):
                    recipes.append(v)
                elif v in options["scene"]:
                    recipes.append(None)  # a scene option file of the user's own: its recipe is known after composing
        if o.key_or_group == "scene.recipe" and not o.is_sweep_override():
            recipes.append(str(o.value()))
    if not any(o.key_or_group == "scene" for o in parsed):
        from simgen.config import DEFAULT_RECIPE

        recipes.append(DEFAULT_RECIPE)
    schema = _schema(recipes)
    for o in parsed:
        key = o.key_or_group
        if key.startswith("hydra") or o.is_add() or o.is_force_add() or o.package is not None:
            continue  # Hydra's own settings; '+' keys are checked against the schema after composing
        if key in options:
            if o.is_delete():
                continue
            for v in _values(o):
                if v is not None and str(v) not in options[key]:
                    guess = did_you_mean(str(v), options[key], prefix=f"{key}=")
                    raise SimgenError(f"unknown option {key}={v}; {guess + ' ' if guess else ''}"
                                      f"the options of {key} are {', '.join(options[key])}")
            continue
        if "/" in key:
            continue  # a group path Hydra resolves (e.g. a nested group); it reports unknown ones itself
        try:
            check_key(key, schema)
        except UnknownKey as e:
            owners = _recipes_with(key) if key.startswith("scene.") and not renamed(key) else []
            if not owners:
                raise
            chosen = ", ".join(f"scene={r}" for r in recipes if r is not None)
            names = [f"scene={r}" for r in owners]
            listed = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
            raise SimgenError(f"{key} is a setting of {listed}; "
                              f"{chosen} has no such key (simgen --help lists the keys)") from e
    return parsed


def _recipes_with(key: str) -> list[str]:
    """The known recipes whose Config declares the scene key ``key`` (``scene.camera_distance``)."""
    from simgen.recipes import available, load_recipe

    field = key.split(".")[1]
    out = []
    for name in available():
        try:
            config = load_recipe(name).Config
        except SimgenError:
            continue
        if field in {f.name for f in dataclasses.fields(config)}:
            out.append(name)
    return out
