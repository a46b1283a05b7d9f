"""Scene recipes: what a recipe is written with, the declared protocol and their registry.

A recipe imports what it needs from here (the recipe's vocabulary)::

    from simgen.recipes import ASSET_DIR, Recipe, SceneBuilder, SettleConfig, bin_floor, setting, span

- :class:`SceneBuilder` builds a recipe's scenes: ``load_world`` (a scene file's parts),
  ``pick_objects``, ``drop`` (into a :func:`bin_floor`), ``stand`` (a robot), ``add`` (any
  :class:`SceneObject`), ``light``, ``camera_around`` and ``scenes``; it gives the ids, holds the
  simulation's bodies and records every draw in ``params`` (:mod:`simgen.sampling.build`);
- :func:`setting`, :func:`span` and :class:`SettleConfig` declare the recipe's Config (the
  ``scene`` group), :data:`ASSET_DIR` is simgen's bundled assets, :class:`ArticulatedMesh` a URDF
  or MJCF model, :class:`Scene`, :class:`SceneObject` and :class:`Material` the plain data a scene is,
  :class:`SimgenError` the one-line error for bad input;
- :class:`Recipe` is the declaration a recipe module ends with (``RECIPE = Recipe(...)``).

A recipe is a module that declares ``RECIPE = Recipe(...)``: its name, its typed config (the
dataclass of the ``scene`` group) and the functions the pipeline calls. :data:`RECIPES` (a
:class:`simgen.registry.Registry`) holds the recipes shipped in ``scenes/`` (the package
``simgen.scenes``), registered here by name and imported when first used; a user's package adds
its own by an entry point in the group ``simgen.recipes`` (``myscene = "mypkg.myscene"``) or
names one by its dotted path (``scene.recipe=mypkg.myscene``). The declaration is checked when
the recipe is loaded, so a malformed recipe fails with one line naming what is wrong before
anything renders.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from simgen.errors import SimgenError
from simgen.config import SettleConfig
from simgen.config.schema import setting, span
from simgen.scene.meshes import ArticulatedMesh
from simgen.paths import ASSET_DIR
from simgen.registry import Registry
from simgen.scene.data import Material, Scene, SceneObject
from simgen.sampling.build import SHORTFALL, BinFloor, Pick, SceneBuilder, bin_floor

__all__ = ["ASSET_DIR", "ArticulatedMesh", "BinFloor", "Material", "Pick", "Recipe", "SHORTFALL", "Scene",
           "SceneBuilder", "SceneObject", "SettleConfig", "SimgenError", "bin_floor", "setting", "span",
           "RECIPES", "available", "load_recipe", "refuse_ignored"]

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

    from simgen.assets import Catalog
    from simgen.config import Settings

PACKAGE = "simgen.scenes"
"""The package of the bundled recipes: the repository's ``scenes/`` folder (pyproject.toml maps it)."""
BUILTIN = ("bin_picking", "environment", "flying", "tabletop")
"""The recipes shipped in ``scenes/``: ``scenes/<name>.py`` declares RECIPE (registered below)."""


@dataclass(frozen=True)
class Recipe:
    """What a recipe module declares as ``RECIPE``."""

    name: str
    """The recipe's name: ``scene=<name>`` picks it; its Config's ``recipe`` field defaults to it."""
    Config: type
    """The dataclass that types the ``scene`` config group (fields with docstrings and bounds)."""
    make_sequence: Callable[["Settings", "Catalog", "np.random.Generator", int], list["Scene"]]
    """``make_sequence(settings, catalog, rng, length)``: the ``length`` steps of one scene, plain
    data drawn from ``rng`` only (length 1 for independent frames). A scene that cannot hold all it
    drew records it under ``params[SHORTFALL]`` (:data:`SHORTFALL`) instead of raising."""
    check: Optional[Callable[["Settings"], None]] = None
    """``check(settings)``: cross-group rules the declared bounds cannot say; raises SimgenError."""
    categories: Optional[Callable[["Settings"], "Sequence[str]"]] = None
    """``categories(settings)``: names of the categories its scenes label beyond the catalog's (a
    world's parts: scene.labels); the catalog gains those it lacks, after its own
    (:meth:`simgen.assets.Catalog.with_categories`), and the recipe finds their ids there."""
    ignores: tuple[str, ...] = ()
    """Settings of the other groups (``camera.exposure``) that this recipe does not read: one set
    to anything but its declared default is refused in one line (:func:`refuse_ignored`), so that
    a key that does nothing for the chosen scene is never silently dropped."""

    def validate(self, where: str) -> "Recipe":
        """Check the declaration; a SimgenError naming ``where`` (e.g. ``scene recipe mypkg.myscene``)
        when it is off."""
        def bad(what: str) -> SimgenError:
            return SimgenError(f"{where}: {what}")

        if not (isinstance(self.Config, type) and dataclasses.is_dataclass(self.Config)):
            raise bad("RECIPE.Config must be a dataclass (the scene group's schema)")
        fields = {f.name: f for f in dataclasses.fields(self.Config)}
        if "recipe" not in fields or fields["recipe"].default != self.name:
            raise bad(f"RECIPE.Config needs a field `recipe: str = {self.name!r}`")
        from simgen.config import Settings
        from simgen.config.schema import check_key

        for key in self.ignores:  # each a declared setting of another group
            if not isinstance(key, str) or key.split(".")[0] in ("scene", key):
                raise bad(f"RECIPE.ignores names settings of other groups (e.g. 'camera.exposure'), not {key!r}")
            try:
                check_key(key, Settings)
            except SimgenError as e:
                raise bad(f"RECIPE.ignores: {e}") from None
        for attr, arity in (("make_sequence", 4), ("check", 1), ("categories", 1)):
            fn = getattr(self, attr)
            if fn is None and attr != "make_sequence":
                continue
            if not callable(fn) or len(inspect.signature(fn).parameters) != arity:
                raise bad(f"RECIPE.{attr} must be a function of {arity} argument(s)")
        return self


def refuse_ignored(recipe: Recipe, s: "Settings") -> None:
    """A one-line SimgenError for the first of ``recipe.ignores`` that ``s`` sets to anything but
    its declared default (by the command line, a config group, a fit's space or a study's arm)."""
    from simgen.config import Settings
    from simgen.config.schema import override_text

    def get(obj: Any, key: str) -> Any:
        for part in key.split("."):
            obj = getattr(obj, part)
        return list(obj) if isinstance(obj, (list, tuple)) else obj

    default = Settings()
    for key in recipe.ignores:
        value, base = get(s, key), get(default, key)
        if value != base:
            raise SimgenError(f"{key}={override_text(value)} does nothing with scene={recipe.name}: the "
                              f"{recipe.name} recipe does not read it; leave it at its default "
                              f"({override_text(base)})")


def _check(recipe: Any, where: str) -> None:
    if not isinstance(recipe, Recipe):
        raise SimgenError(f"{where} declares no RECIPE = simgen.recipes.Recipe(...); see scenes/tabletop.py "
                          "for the form")
    recipe.validate(where)


RECIPES: Registry[Recipe] = Registry(
    "scene recipe", "simgen.recipes", check=_check, attr="RECIPE",
    hint="scene=<name> picks one; your own module: ~scene +scene.recipe=mypkg.myscene, or an entry point "
         "in the group simgen.recipes (then scene=<its name>)")
"""The scene recipes by name (``scene.recipe``): simgen's own, then a user's (entry points in the
group ``simgen.recipes``, or a module's dotted path)."""
for _name in BUILTIN:
    RECIPES.register(_name, lazy=f"{PACKAGE}.{_name}")


def available() -> list[str]:
    """The names of the recipes there are: simgen's own (``scenes/``) and those of installed
    plugins (entry points in the group ``simgen.recipes``). Nothing is imported."""
    return RECIPES.names()


def load_recipe(name: str) -> Recipe:
    """The recipe ``name`` (a registered name or a module's dotted path); a one-line SimgenError
    naming the choices if there is none, or what is wrong with its declaration."""
    recipe = RECIPES.get(name)
    if recipe.name != name:
        raise SimgenError(f"scene recipe {name} declares the name {recipe.name!r}, not {name!r}")
    return recipe
