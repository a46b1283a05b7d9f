"""What a scene object's mesh is: a file, or a shape drawn by a generator.

A :data:`MeshRef` is a :class:`pathlib.Path` (a mesh file: OBJ, PLY, glTF, ...) or a
:class:`GeneratedMesh` (a shape of :mod:`simgen.assets.parametric`, made from its category and
seed; no file holds it). Code that needs to tell them apart tests the type, never the text of
a path: loading dispatches on it (:func:`simgen.assets.meshes.load_asset`), the Blender layer
keys its meshes by the reference (both kinds are hashable) and drops generated ones once no
frame uses them.

Both kinds are named alike: a GeneratedMesh has a Path's ``stem`` and ``name``, so object
names, the ``models/`` file and the frame's meta are made the same way for either.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

SEED_LIMIT = 2 ** 64
"""Seeds of generated shapes lie in [0, SEED_LIMIT): 16 hexadecimal digits in their name."""


@dataclass(frozen=True)
class GeneratedMesh:
    """The shape that the generator of ``category`` draws from ``numpy.random.default_rng(seed)``
    (:func:`simgen.assets.parametric.shape_of` makes it, the same mesh every time)."""

    category: str
    """The generator: a key of :data:`simgen.assets.parametric.GENERATORS` (e.g. ``"mug"``)."""
    seed: int
    """The generator's seed, 0 <= seed < 2**64."""

    def __post_init__(self) -> None:
        if not isinstance(self.category, str) or not self.category or "/" in self.category:
            raise ValueError(f"GeneratedMesh category must be a category name, not {self.category!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < SEED_LIMIT:
            raise ValueError(f"GeneratedMesh seed must be an integer in [0, 2**64), not {self.seed!r}")

    @property
    def stem(self) -> str:
        """``gen_<seed as 16 hex digits>``, as a Path's stem: the shape's name in object names."""
        return f"gen_{self.seed:016x}"

    @property
    def name(self) -> str:
        """``gen_<seed>.ply``, as a Path's name: the file its mesh is written to in ``models/``."""
        return f"{self.stem}.ply"

    @property
    def key(self) -> str:
        """The asset key of the shape, ``<category>/gen_<seed>``: its model is ``models/<key>.ply``."""
        return f"{self.category}/{self.stem}"


MeshRef = Union[Path, "GeneratedMesh", "EnvironmentMesh"]
"""A mesh file, a generated shape or an environment file's object."""


def as_mesh_ref(mesh: MeshRef | str | os.PathLike, what: str = "mesh") -> MeshRef:
    """``mesh`` as a :data:`MeshRef`: a GeneratedMesh as it is, a file name as a Path."""
    if isinstance(mesh, (GeneratedMesh, EnvironmentMesh, Path)):
        return mesh
    if isinstance(mesh, (str, os.PathLike)):
        return Path(mesh)
    raise TypeError(f"{what} must be a mesh file path or a GeneratedMesh, not {type(mesh).__name__}")


@dataclass(frozen=True)
class EnvironmentMesh:
    """The mesh of one object of an environment file (a user's world: :mod:`simgen.assets.environment`),
    in the object's local coordinates, as Blender evaluates it (modifiers applied), with the file's
    own materials. The pure side reads it from the environment's extraction; the Blender layer from
    the file, loaded once per process."""

    file: Path
    """The environment file, absolute."""
    key: str
    """The object's name in the file (its instances share the mesh)."""

    @property
    def stem(self) -> str:
        """``<file stem>_<object name>`` (characters outside [A-Za-z0-9._-] as ``_``)."""
        return "".join(c if c.isalnum() or c in "._-" else "_" for c in f"{self.file.stem}_{self.key}")

    @property
    def name(self) -> str:
        return f"{self.stem}.ply"
