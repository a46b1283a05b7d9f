"""Object draws shared by recipes: the objects (an articulated model posed), distractor meshes and object names."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np

from simgen.assets import Asset, Catalog
from simgen.assets import parametric
from simgen.config import ObjectsConfig
from simgen.core.mesh_ref import ArticulatedMesh, MeshRef, as_mesh_ref
from simgen.sampling.classes import pick_assets
from simgen.sampling.random import integer, pick, uniform


def pick_objects(o: ObjectsConfig, catalog: Catalog, n: int, rng: np.random.Generator
                 ) -> tuple[list[Asset], list[dict | None]]:
    """``n`` assets by class balance (:func:`pick_assets`); with ``objects.parametric`` > 0 each
    one of a category with a shape generator is replaced, with that chance, by a newly
    generated shape (an :class:`Asset` whose path is its
    :class:`~simgen.core.mesh_ref.GeneratedMesh`, scale 1, key ``<category>/gen_<seed>``). Returns the assets and, for each, its shape draws (None for a
    catalog mesh). An articulated model is posed (:func:`posed`), drawing its joint values; with
    ``objects.parametric`` = 0 and no articulated model nothing more is drawn from ``rng``."""
    picks = [posed(a, rng) for a in pick_assets(catalog, n, rng, o.weights, o.min_per_frame, o.max_per_frame)]
    draws: list[dict | None] = [None] * len(picks)
    if o.parametric <= 0:
        return picks, draws
    out = []
    for k, a in enumerate(picks):
        if a.category in parametric.GENERATORS and rng.uniform() < o.parametric:
            mesh, draws[k] = parametric.draw_shape(a.category, rng)
            a = Asset(key=mesh.key, category=a.category, category_id=a.category_id, path=mesh, scale=1.0)
        out.append(a)
    return out, draws


def posed(asset: Asset, rng: np.random.Generator) -> Asset:
    """``asset`` itself, or for an articulated model (a path that is an
    :class:`~simgen.core.mesh_ref.ArticulatedMesh` with no joint values) the model at joint values
    drawn from ``rng`` as its catalog entry says (:func:`simgen.assets.articulated.draw_configuration`), keyed
    ``<asset key>_<digest of the values>``: its ``models/`` file is that pose's mesh. Nothing is
    drawn for a rigid asset."""
    if not isinstance(asset.path, ArticulatedMesh) or asset.path.joints is not None:
        return asset
    from simgen.assets.articulated import draw_configuration, load_articulated

    model = load_articulated(asset.path.file, asset.path.package_dirs)
    ref = asset.path.posed(draw_configuration(model, rng, asset.path.draw))
    return dataclasses.replace(asset, key=f"{asset.key}_{ref.digest}", path=ref)


def draw_distractors(catalog: Catalog, count: Sequence[int], scale: Sequence[float], rng: np.random.Generator
                     ) -> tuple[list[Path], list[float]]:
    """Distractor meshes of the catalog and their scales: ``count`` of them (inclusive range),
    each scaled by a draw from ``scale``; nothing is drawn when there are none, so default
    scenes stay as they were."""
    n_d = integer(rng, count) if catalog.distractors and count[1] > 0 else 0
    paths = [pick(rng, catalog.distractors) for _ in range(n_d)]
    return paths, [uniform(rng, scale) for _ in range(n_d)]


def object_name(instance_id: int, asset_key: str, mesh: MeshRef) -> str:
    """obj007_mug_mug for a catalog asset, distractor007_knot for a distractor (no key)."""
    if asset_key:
        return f"obj{instance_id:03d}_{asset_key.replace('/', '_')}"
    return f"distractor{instance_id:03d}_{as_mesh_ref(mesh).stem}"
