"""The ``objects`` group: which assets, how many and their class balance (:class:`ObjectsConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from simgen.config.schema import setting, span
from simgen.config.sequence import MAX_SEQUENCE_LENGTH
from simgen.scene.data import MAX_INSTANCE_ID

MAX_WEIGHT = 1e9


@dataclass
class ObjectsConfig:
    """Objects from the bundled catalog (assets/catalog.yaml); add your own meshes with
    objects.dirs='{mug: /data/mugs, chair: /data/chairs}'."""

    catalog: Optional[str] = setting("bundled", example="bundled", common=True)
    """Asset catalog YAML ("bundled" = assets/catalog.yaml; "textured" = its assets that carry
    their own texture, assets/catalog_textured.yaml; null = none, use dirs only)."""
    dirs: Optional[dict[str, str]] = setting({}, example="{mug: /data/mugs}", common=True)
    """Your own meshes: {category name: folder}. Every OBJ/PLY/STL/GLB/GLTF/OFF file in
    the folder (recursively) becomes an asset of that category. null = none (read as {})."""
    dir_scale: float = setting(1.0, gt=0.0)
    """Metres per unit of the meshes in dirs."""
    count: list[int] = span([3, 8], ge=0, le=MAX_INSTANCE_ID, common=True)
    """Objects per frame, inclusive range."""
    weights: Optional[dict[str, float]] = setting({}, ge=0.0, le=MAX_WEIGHT, example="{mug: 4}")
    """Class balance: {category: weight}; each object's category is drawn with probability
    proportional to its weight (1 for categories not listed), then an asset of it uniformly."""
    min_per_frame: Optional[dict[str, int]] = setting({}, ge=0, le=MAX_INSTANCE_ID, example="{mug: 1}")
    """Class balance: {category: n}, at least n objects of the category in every frame."""
    max_per_frame: Optional[dict[str, int]] = setting({}, ge=0, le=MAX_INSTANCE_ID, example="{mug: 2}")
    """Class balance: {category: n}, at most n objects of the category in any frame."""
    parametric: float = setting(0.0, ge=0.0, le=1.0, common=True)
    """Chance that an object of a category with a shape generator (ball, bottle, box, can, cone,
    mug, ring) gets a newly generated shape (random proportions, rims, handles, bevels; UV
    mapped) instead of a catalog mesh: 0 = catalog meshes only, 1 = always generated
    (objects=parametric). The draws are in the frame's meta; models/ holds each mesh."""
    joint_motion: int = setting(0, ge=0, le=MAX_SEQUENCE_LENGTH)
    """In a sequence (sequence.length > 1), a robot's or other articulated object's joints move:
    from the configuration drawn for its first step to a new one drawn this many steps later, then
    on to the next, each joint easing in and out (no speed at each drawn configuration), so every
    link has its own exact flow and tracks. 0 = joints held still through the sequence."""
