"""Scene recipes: the declared protocol and the loader.

A recipe is a module (``scenes/<name>.py``, or any importable module named by its dotted
path) that declares ``RECIPE = Recipe(...)``: its name, its typed config (the dataclass of
the ``scene`` group) and the functions the pipeline calls. :func:`load_recipe` checks the
declaration when the recipe is loaded, so a malformed recipe fails with one line naming
what is wrong before anything renders.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from simgen import SimgenError

if TYPE_CHECKING:
    import numpy as np

    from simgen.assets import Catalog
    from simgen.config import Settings
    from simgen.core.scene import Scene

PACKAGE = "simgen.scenes"
"""The package of the bundled recipes: the repository's ``scenes/`` folder (pyproject.toml maps it)."""


@dataclass(frozen=True)
class Recipe:
    """What a recipe module declares as ``RECIPE``."""

    name: str
    """The recipe's name: ``scene=<name>`` picks it; its Config's ``recipe`` field defaults to it."""
    Config: type
    """The dataclass that types the ``scene`` config group (fields with docstrings and bounds)."""
    make_sequence: Callable[["Settings", "Catalog", "np.random.Generator", int], list["Scene"]]
    """``make_sequence(settings, catalog, rng, length)``: the ``length`` steps of one scene, plain
    data drawn from ``rng`` only (length 1 for independent frames)."""
    check: Optional[Callable[["Settings"], None]] = None
    """``check(settings)``: cross-group rules the declared bounds cannot say; raises SimgenError."""

    def validate(self, where: str) -> "Recipe":
        """Check the declaration; a SimgenError naming ``where`` (the module) when it is off."""
        def bad(what: str) -> SimgenError:
            return SimgenError(f"scene recipe {where}: {what}")

        if not (isinstance(self.Config, type) and dataclasses.is_dataclass(self.Config)):
            raise bad("RECIPE.Config must be a dataclass (the scene group's schema)")
        fields = {f.name: f for f in dataclasses.fields(self.Config)}
        if "recipe" not in fields or fields["recipe"].default != self.name:
            raise bad(f"RECIPE.Config needs a field `recipe: str = {self.name!r}`")
        for attr, arity in (("make_sequence", 4), ("check", 1)):
            fn = getattr(self, attr)
            if fn is None and attr == "check":
                continue
            if not callable(fn) or len(inspect.signature(fn).parameters) != arity:
                raise bad(f"RECIPE.{attr} must be a function of {arity} argument(s)")
        return self


def available() -> list[str]:
    """The recipes shipped with simgen (``scenes/``, the package ``simgen.scenes``; found on
    disk: loading happens in load_recipe)."""
    spec = importlib.util.find_spec(PACKAGE)
    folders = spec.submodule_search_locations if spec is not None else None
    return sorted({p.stem for d in folders or [] for p in Path(d).glob("*.py") if not p.stem.startswith("_")})


def load_recipe(name: str) -> Recipe:
    """The recipe ``name``: ``simgen.scenes.<name>``, or the module of that dotted path;
    SimgenError naming the choices if there is none, or what is wrong with its declaration."""
    module_name = name if "." in name else f"{PACKAGE}.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if not module_name.startswith(str(e.name)):
            raise
        raise SimgenError(f"unknown scene recipe '{name}'; choose one of {available()} "
                          f"(scene=<name>), add scenes/{name}.py to a checkout, or name your own module by its "
                          "dotted path (scene.recipe=mypackage.myscene)") from None
    recipe: Any = getattr(module, "RECIPE", None)
    if not isinstance(recipe, Recipe):
        raise SimgenError(f"scene recipe {module_name} declares no RECIPE = simgen.recipes.Recipe(...); "
                          "see scenes/tabletop.py for the form")
    if recipe.name != name:
        raise SimgenError(f"scene recipe {module_name} declares the name {recipe.name!r}, not {name!r}")
    return recipe.validate(module_name)
