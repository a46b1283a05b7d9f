"""Settings with their recipe: the layer above :mod:`simgen.config` that knows scene recipes.

:mod:`simgen.config` declares the groups and checks them without knowing any recipe. Here a
composed Hydra config becomes :class:`~simgen.config.Settings` whose ``scene`` is typed by the
chosen recipe's own ``Config`` (:func:`to_settings`), and :func:`validate` adds the recipe's
own ``check`` to the declared checks. ``default_settings()`` is the validated default.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import fields
from typing import Any

from simgen import SimgenError
from simgen.assets.images import check_image_textures, check_images, hdri_files
from simgen.config import DEFAULT_RECIPE, RenderConfig, Settings, check_settings
from simgen.recipes import load_recipe
from simgen.schema import did_you_mean, override_text

__all__ = ["RenderConfig", "Settings", "default_scene", "default_settings", "to_settings", "validate"]


def default_scene(recipe: str = DEFAULT_RECIPE) -> Any:
    """The default Config of scene recipe ``recipe``."""
    return load_recipe(recipe).Config()


def default_settings(**top: Any) -> Settings:
    """Validated default Settings (the default recipe's scene); ``top`` sets top-level fields,
    e.g. ``default_settings(seed=7, frames=2)``."""
    return validate(Settings(**top))


def validate(s: Settings) -> Settings:
    """Check ``s``: every declared bound (:func:`simgen.config.check_settings`), the HDRIs and
    texture images it names (their headers
    against render.max_image_pixels, then decoded), then the recipe's own cross-field checks. ``s.scene = None`` becomes the default recipe's Config."""
    if s.scene is None:
        s.scene = default_scene()
    if not dataclasses.is_dataclass(s.scene) or not isinstance(getattr(s.scene, "recipe", None), str):
        raise SimgenError(f"scene must be a recipe's Config with a recipe name, got {s.scene!r}")
    recipe = load_recipe(s.scene.recipe)
    if not isinstance(s.scene, recipe.Config):
        raise SimgenError(f"scene.recipe={s.scene.recipe} but the scene settings are a "
                          f"{type(s.scene).__module__}.{type(s.scene).__name__}; pick the scene with scene=NAME")
    check_settings(s)
    limit = s.render.max_image_pixels  # every image: its header against the limit, then decoded
    if "hdri" in s.lighting.world:
        check_images(hdri_files(s.lighting.hdri_dir), "lighting.hdri_dir", limit)
    if s.materials.image_dir is not None or "image" in s.materials.textures:
        check_image_textures("materials.textures", s.materials.textures, s.materials.image_dir, limit)
    if s.materials.pbr_dir is not None:
        from simgen.assets.pbr import pbr_sets, resolve_pbr_dir

        pbr_sets(resolve_pbr_dir(s.materials.pbr_dir), max_pixels=limit)  # every set's maps decode
    if getattr(recipe, "check", None) is not None:
        recipe.check(s)
    return s


def to_settings(cfg: Any) -> Settings:
    """Check a composed DictConfig against the schema and return plain, validated Settings."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    names = [f.name for f in fields(Settings)]
    unknown = [k for k in cfg if k not in names and k != "hydra"]  # e.g. +frmaes=3, else silently dropped
    if unknown:
        fix = did_you_mean(unknown[0], names) or "remove it"
        raise SimgenError(f"unknown config key '{unknown[0]}'; {fix} (simgen --help lists the keys)")
    if "scene" not in cfg or "recipe" not in cfg.scene:
        raise SimgenError("the config has no scene.recipe; pick a scene, e.g. scene=tabletop")
    recipe = load_recipe(str(cfg.scene.recipe))
    try:
        # the scene group is typed by its recipe's own Config dataclass
        scene = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(recipe.Config), cfg.scene))
        rest = OmegaConf.masked_copy(cfg, [n for n in names if n != "scene"])
        settings = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Settings), rest))
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "?"
        if getattr(e, "object_type", None) is recipe.Config and not key.startswith("scene."):
            key = f"scene.{key}"
        msg = " ".join(str(e).splitlines()[0].rstrip(".").split())
        raise SimgenError(f"bad config value for '{key}': {msg}; {_fix_hint(key, recipe.Config())}") from e
    settings.scene = scene
    assert isinstance(settings, Settings)
    o = settings.objects
    o.dirs, o.weights, o.min_per_frame, o.max_per_frame = (  # null (the YAML default) means none
        o.dirs or {}, o.weights or {}, o.min_per_frame or {}, o.max_per_frame or {})
    return validate(settings)


def _fix_hint(key: str, scene: Any) -> str:
    """An example of a well-typed value for a schema key (list indices dropped), else where to look."""
    path = re.sub(r"\[\d+\]", "", key)
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
