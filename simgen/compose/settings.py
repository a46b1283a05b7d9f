"""Settings with their recipe: a composed config made Settings, and the one validator.

:mod:`simgen.config` declares the groups and checks them without knowing any recipe. Here a
composed Hydra config becomes :class:`~simgen.config.Settings` whose ``scene`` is typed by the
chosen recipe's own ``Config`` (:func:`to_settings`), and :func:`validate` adds to the declared
checks every rule that needs more than the declarations: the images a setting names, the lens
(:func:`simgen.sampling.camera.check_calibration`), what the outputs ask (:func:`outputs`:
formats and the labels they need, stereo rigs, uploads, optional modules, keypoint sources) and
the recipe's own keys and ``check``. :func:`validate` is the one check of a Settings tree: the
``simgen`` command, ``simgen validate KEY=VALUE ...``, ``simgen.cli.check_dataset`` (a study's
arms, a fit's base and space), the API and the tests all end in it, and the pipeline checks
nothing of its own (it asks :func:`outputs` for the resolved kinds and formats);
:func:`value_error` words what OmegaConf refuses on the way, whether Hydra composing the config
or :func:`to_settings` converting it raised it. ``default_settings()`` is the validated default.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from dataclasses import dataclass, fields
from typing import Any, Callable

from simgen.errors import SimgenError
from simgen.assets import BUNDLED_CATALOGS, Catalog, build_catalog, validate_catalog
from simgen.assets.images import check_image_textures, check_images, hdri_files
from simgen.config import DEFAULT_RECIPE, RUN_FOLDER, STEREO_LABELS, RenderConfig, Settings, check_settings, labels_written
from simgen.config.schema import did_you_mean, mapping_fields, override_text, renamed, type_hints, unwrap_optional
from simgen.io.dataset.remote import Remote
from simgen.io.formats.exporters import Exporter, missing_labels, resolve as resolve_formats
from simgen.labels.keypoints import KEYPOINTS, check_sources
from simgen.labels.kinds import LabelKind, resolve as resolve_kinds
from simgen.labels.tracks import TRACKS
from simgen.recipes import Recipe, load_recipe, refuse_ignored
from simgen.sampling.camera import check_calibration
from simgen.sampling.classes import check_balance, drawn_categories
from simgen.sensors import rolling_shutter

__all__ = ["Outputs", "RenderConfig", "Settings", "catalog_for", "default_scene", "default_settings", "outputs", "to_settings",
           "validate"]


def default_scene(recipe: str = DEFAULT_RECIPE) -> Any:
    """The default Config of scene recipe ``recipe``."""
    return load_recipe(recipe).Config()


def default_settings(**top: Any) -> Settings:
    """Validated default Settings (the default recipe's scene); ``top`` sets top-level fields,
    e.g. ``default_settings(seed=7, frames=2)``."""
    return validate(Settings(**top))


def recipe_of(s: Settings, recipe: Recipe | None = None) -> Recipe:
    """The recipe of ``s`` (scene.recipe): ``recipe`` when the caller has it loaded already (a run
    loads it once and passes it on), else loaded (:func:`simgen.recipes.load_recipe`)."""
    if recipe is not None and recipe.name == s.scene.recipe:
        return recipe
    return load_recipe(s.scene.recipe)


def validate(s: Settings, recipe: Recipe | None = None) -> Settings:
    """Check ``s``: every declared bound (:func:`simgen.config.check_settings`), the HDRIs and
    texture images it names (their headers against render.max_image_pixels, then decoded), the
    settings its recipe does not read, the lens, what the outputs ask (:func:`outputs`) and the
    keypoint sources, then the recipe's own cross-field checks. ``s.scene = None`` becomes the
    default recipe's Config. ``recipe``: scene.recipe's, when the caller has loaded it
    (:func:`recipe_of`). Returns ``s``, unchanged otherwise."""
    if s.scene is None:
        s.scene = default_scene()
    if not dataclasses.is_dataclass(s.scene) or not isinstance(getattr(s.scene, "recipe", None), str):
        raise SimgenError(f"scene must be a recipe's Config with a recipe name, got {s.scene!r}")
    recipe = recipe_of(s, recipe)
    if not isinstance(s.scene, recipe.Config):
        raise SimgenError(f"scene.recipe={s.scene.recipe} but the scene settings are a "
                          f"{type(s.scene).__module__}.{type(s.scene).__name__}; pick the scene with scene=NAME")
    check_settings(s)
    rolling_shutter.check(s)
    limit = s.render.max_image_pixels  # every image: its header against the limit, then decoded
    if "hdri" in s.lighting.world:
        check_images(hdri_files(s.lighting.hdri_dir), "lighting.hdri_dir", limit)
    if s.materials.image_dir is not None or "image" in s.materials.textures:
        check_image_textures("materials.textures", s.materials.textures, s.materials.image_dir, limit)
    if s.materials.pbr_dir is not None:
        from simgen.assets.pbr import pbr_sets, resolve_pbr_dir

        pbr_sets(resolve_pbr_dir(s.materials.pbr_dir), max_pixels=limit)  # every set's maps decode
    refuse_ignored(recipe, s)
    check_calibration(s)
    if KEYPOINTS in outputs(s).kinds:
        catalog = catalog_for(s, recipe)
        problem = check_sources(s.output.keypoints, catalog, drawn_categories(catalog, s.objects),
                                s.objects.parametric)
        if problem:
            raise SimgenError(problem)
    if s.objects.people[1] > 0:  # people: the [people] extra and a prepared body library, before anything renders
        from simgen.people.model import load_model

        load_model(s.people.library)
    if getattr(recipe, "check", None) is not None:
        recipe.check(s)
    return s


@dataclass(frozen=True)
class Outputs:
    """What a run writes, resolved from output.* and sequence.formats (:func:`outputs`)."""

    kinds: list[LabelKind]
    """The label kinds written: output.labels, and a stereo rig's own."""
    formats: list[Exporter]
    """output.formats (and tracks, which output.labels=[tracks] is built as)."""
    flow_formats: list[Exporter]
    """sequence.formats: the flow files' formats."""
    remote: Remote | None
    """output.upload's store (not yet written to: :meth:`Remote.check` probes it), or None."""


def registered(key: str, resolve_names: Callable, names: list[str], **kw) -> list:
    """The registry entries (label kinds, formats) that config key ``key`` names; one-line
    SimgenError naming the key and the choices for an unknown name."""
    try:
        return resolve_names(names, **kw)
    except (ValueError, SimgenError) as e:  # an unknown name; a plugin that cannot be loaded
        raise SimgenError(f"{key}={list(names)}: {e}") from None


def outputs(s: Settings) -> Outputs:
    """The label kinds, formats and upload store ``s`` asks for, each rule about them checked in
    one line: every name registered, a stereo format only with camera.rig=stereo, every format's
    labels written, a format's optional module installed (naming its extra), an upload only of
    streaming shards, to a URL whose store's module is installed."""
    written = labels_written(s.output.labels, s.camera.rig, s.output.formats, s.sensor)
    kinds = registered("output.labels", resolve_kinds, written)
    formats = registered("output.formats", resolve_formats, s.output.formats, flow=False)
    stereo = [e.name for e in formats if set(e.labels) & set(STEREO_LABELS)]
    if stereo and s.camera.rig != "stereo":
        raise SimgenError(f"output.formats={stereo} write stereo pairs: set camera.rig=stereo")
    problem = missing_labels(formats, written, s.output.labels) or next(filter(None, (e.shards.missing() for e in formats if e.shards)), "")
    if problem:
        raise SimgenError(f"output.formats={list(s.output.formats)}: {problem}")
    if TRACKS in kinds:
        check_tracks(s)
        if TRACKS.name not in (e.name for e in formats):  # the tracks' files are built as a format is
            formats = registered("output.formats", resolve_formats, [*s.output.formats, TRACKS.name], flow=False)
    remote = None
    if s.output.upload:
        if not any(e.shards for e in formats):
            raise SimgenError(f"output.upload sends the streaming formats' shards; output.formats="
                              f"{list(s.output.formats)} has none: add webdataset or parquet")
        remote = Remote(s.output.upload)
    flow_formats = registered("sequence.formats", resolve_formats, s.sequence.formats, flow=True)
    return Outputs(kinds, formats, flow_formats, remote)


def check_tracks(s: Settings) -> None:
    """output.labels=[tracks] asks for a sequence of one camera (a stereo pair's left one), with its
    query step in it."""
    if s.sequence.length < 2:
        raise SimgenError(f"output.labels=[tracks] follows points through a sequence, and sequence.length="
                          f"{s.sequence.length} has one step: set sequence.length=24 (or more than 1)")
    if s.camera.rig == "calibration":
        raise SimgenError("output.labels=[tracks] follows points through one camera's steps; camera.rig="
                          "calibration renders every camera of the file at each step: use camera.rig=mono "
                          "(or stereo: tracks in its left camera)")
    step = s.output.track_query_step
    if step is not None and step >= s.sequence.length:
        raise SimgenError(f"output.track_query_step={step} is outside the sequence (steps 0..{s.sequence.length - 1} "
                          f"of sequence.length={s.sequence.length}): choose a step in it, or null for random steps")


@functools.lru_cache(maxsize=None)
def _declared(scene: type) -> Any:
    """The declarations of Settings with ``scene`` (a recipe's Config) as OmegaConf builds them:
    once per recipe and process; OmegaConf.merge copies it."""
    from omegaconf import OmegaConf

    return OmegaConf.structured(Settings(scene=scene()))


def to_settings(cfg: Any) -> Settings:
    """A composed config (DictConfig) as plain Settings, checked by :func:`validate`: the one way
    from a config to Settings (the ``simgen`` command, studies, tests). A value OmegaConf cannot
    convert, or a key no declaration has, is one line (:func:`value_error`).

    A config whose every value already has its declared type (as composed from the dataclasses
    and typed overrides, nearly always) is built directly (:func:`_typed`); any other goes through
    OmegaConf's merge into the declarations, which converts ("5" for an int) or refuses in its words.
    Both give the same Settings (tests/test_config.py checks); the first takes a tenth of the time."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if "scene" not in cfg or not OmegaConf.is_dict(cfg.scene) or "recipe" not in cfg.scene:
        raise SimgenError("the config has no scene.recipe; pick a scene, e.g. scene=tabletop")
    recipe = load_recipe(str(cfg.scene.recipe))
    values = OmegaConf.to_container(cfg)
    values.pop("hydra", None)
    settings = _typed(values, recipe.Config)
    if settings is None:
        try:
            # plain values (the composed nodes' types are Hydra's), merged into the declarations: the
            # scene group typed by its recipe's own Config dataclass
            merged = OmegaConf.merge(_declared(recipe.Config), values)
            settings = OmegaConf.to_object(merged)
        except OmegaConfBaseException as e:
            raise value_error(e) from e
    assert isinstance(settings, Settings)
    for group in (settings.objects, settings.scene, settings.people):  # a null {name: value} setting (as Hydra composes it) is none
        for name in mapping_fields(type(group)):
            if getattr(group, name) is None:
                setattr(group, name, {})
    return validate(settings, recipe)


class _Untyped(Exception):
    """A value :func:`_typed` leaves to OmegaConf."""


def _typed(values: dict, scene: type) -> Settings | None:
    """``values`` (a composed config as plain containers) as Settings when every value is of its
    declared type (an int where a float is declared made a float, as OmegaConf does) and every key
    declared; the one interpolation Hydra's own config puts in, output.dir's run folder, is read as
    OmegaConf would resolve it. None for anything else: a value OmegaConf would convert or refuse,
    another interpolation, a type of a plugin's that this does not know."""
    try:
        return _build(Settings, values, scene)
    except _Untyped:
        return None


def _build(cls: type, values: Any, scene: type | None = None) -> Any:
    if not isinstance(values, dict):
        raise _Untyped
    hints = type_hints(cls)
    names = {f.name for f in fields(cls) if f.init}
    if not set(values) <= names:
        raise _Untyped
    kwargs = {}
    for name, value in values.items():
        hint = scene if name == "scene" and scene is not None else hints[name]
        kwargs[name] = _build(hint, value) if dataclasses.is_dataclass(hint) else _value(hint, value)
    return cls(**kwargs)


def _value(hint: Any, value: Any) -> Any:
    inner, optional = unwrap_optional(hint)
    if optional:
        return None if value is None else _value(inner, value)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list and isinstance(value, list) and len(args) == 1:
        return [_value(args[0], v) for v in value]
    if origin is dict and isinstance(value, dict) and len(args) == 2 and args[0] is str:
        if not all(isinstance(k, str) for k in value):
            raise _Untyped
        return {k: _value(args[1], v) for k, v in value.items()}
    if hint is str and isinstance(value, str):
        if value == RUN_FOLDER:
            from hydra.core.hydra_config import HydraConfig

            if not HydraConfig.initialized():
                raise _Untyped
            return HydraConfig.get().runtime.output_dir
        if "${" in value or value == "???":  # an interpolation, OmegaConf's missing value
            raise _Untyped
        return value
    if hint is float and type(value) in (int, float):
        return float(value)
    if hint in (int, bool) and type(value) is hint:
        return value
    raise _Untyped


def value_error(e: Any) -> SimgenError:
    """One line for an OmegaConf error on a setting (a value of the wrong type, a key no
    declaration has), raised composing the config or converting it: the key, what is wrong and
    a fix (an example value, or the key it resembles)."""
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    key = getattr(e, "full_key", None) or "?"
    owner = getattr(e, "object_type", None)
    scene = owner() if key.startswith("scene.") and dataclasses.is_dataclass(owner) and \
        isinstance(getattr(owner, "recipe", None), str) else default_scene()
    if isinstance(e, (ConfigKeyError, ConfigAttributeError)) and "." not in key and key != "?":
        names = [f.name for f in fields(Settings)]
        fix = did_you_mean(key, names) or "remove it"
        return SimgenError(f"unknown config key '{key}'; {fix} (simgen --help lists the keys)")
    msg = " ".join(str(e).splitlines()[0].rstrip(".").split())
    return SimgenError(f"bad config value for '{key}': {msg}; {_fix_hint(key, scene)}")


def _fix_hint(key: str, scene: Any) -> str:
    """An example of a well-typed value for a schema key (list indices dropped), else where to look."""
    path = re.sub(r"\[\d+\]", "", key)
    if hint := renamed(path):
        return hint
    value: Any = Settings(scene=scene)
    parent = ""
    for part in path.split("."):
        if not (dataclasses.is_dataclass(value) and hasattr(value, part)):
            options = [f.name for f in fields(value)] if dataclasses.is_dataclass(value) else []
            guess = did_you_mean(part, options, prefix=parent)
            return f"{guess} (simgen --help lists the keys)" if guess else "simgen --help lists the keys"
        value, parent = getattr(value, part), f"{parent}{part}."
    shown = "{name: value}" if isinstance(value, dict) else override_text(value)
    return f"write it like {path}={shown}"


def catalog_for(settings: Settings, recipe: Recipe | None = None) -> Catalog:
    """The asset catalog ``settings`` name (objects.catalog and objects.dirs, with the categories
    its recipe adds), every mesh and image of it checked, and its class balance feasible.
    ``recipe``: scene.recipe's, when the caller has loaded it (:func:`recipe_of`)."""
    o = settings.objects
    path = BUNDLED_CATALOGS.get(o.catalog, o.catalog)
    catalog = build_catalog(catalog=path, dirs=o.dirs, dir_scale=o.dir_scale)
    recipe = recipe_of(settings, recipe)
    if recipe.categories is not None:
        catalog = catalog.with_categories(recipe.categories(settings))
    if o.people[1] > 0:  # people (simgen.sampling.people) are labelled with a category of their own
        catalog = catalog.with_people(o.people_category)
    if not catalog.assets:
        raise SimgenError("the asset catalog has no meshes; check objects.catalog and objects.dirs")
    validate_catalog(catalog, settings.render.max_image_pixels, settings.materials.own_strict)
    check_balance(catalog, o.weights, o.min_per_frame, o.max_per_frame, o.count)
    return catalog
