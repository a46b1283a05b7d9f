"""Finding scene recipes: modules under ``scenes/`` with a ``Config`` dataclass and
``make_scene(settings, catalog, rng)`` (and ``make_sequence`` for moving scenes)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from simgen import SimgenError


def available() -> list[str]:
    import scenes

    return sorted(p.stem for p in Path(scenes.__file__).parent.glob("*.py") if not p.stem.startswith("_"))


def load_recipe(name: str) -> ModuleType:
    """The recipe module ``scenes.<name>``; SimgenError naming the choices if there is none."""
    try:
        module = importlib.import_module(f"scenes.{name}")
    except ModuleNotFoundError as e:
        if e.name not in (f"scenes.{name}", "scenes"):
            raise
        raise SimgenError(f"unknown scene recipe '{name}'; choose one of {available()} "
                          f"(scene=<name>) or add scenes/{name}.py") from None
    for attr in ("Config", "make_scene"):
        if not hasattr(module, attr):
            raise SimgenError(f"scene recipe scenes/{name}.py has no {attr}; a recipe defines a Config dataclass "
                              "and make_scene(settings, catalog, rng)")
    return module
