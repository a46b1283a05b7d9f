"""Object draws shared by recipes: the objects (an articulated model posed), distractor meshes and object names."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from simgen.assets import Asset, Catalog
from simgen.assets import parametric
from simgen.config import ObjectsConfig
from simgen.scene.meshes import ArticulatedMesh, JointDraw, MeshRef, RiggedMesh, as_mesh_ref
from simgen.scene.data import Scene
from simgen.sampling.classes import pick_assets
from simgen.sampling.random import back_and_forth, integer, pick, uniform

if TYPE_CHECKING:
    from simgen.assets.articulated import ArticulatedModel


def pick_objects(o: ObjectsConfig, catalog: Catalog, n: int, rng: np.random.Generator
                 ) -> tuple[list[Asset], list[dict | None]]:
    """``n`` assets by class balance (:func:`pick_assets`); with ``objects.parametric`` > 0 each
    one of a category with a shape generator is replaced, with that chance, by a newly
    generated shape (an :class:`Asset` whose path is its
    :class:`~simgen.scene.meshes.GeneratedMesh`, scale 1, key ``<category>/gen_<seed>``). Returns the assets and, for each, its shape draws (None for a
    catalog mesh). An articulated model is posed (:func:`posed`), drawing its joint values, a rigged
    model its clip and frame; with ``objects.parametric`` = 0 and neither nothing more is drawn from ``rng``."""
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
    :class:`~simgen.scene.meshes.ArticulatedMesh` with no joint values) the model at joint values
    drawn from ``rng`` as its catalog entry says (:func:`simgen.assets.articulated.draw_configuration`), keyed
    ``<asset key>_<digest of the values>``: its ``models/`` file is that pose's mesh; for a rigged
    model (a :class:`~simgen.scene.meshes.RiggedMesh` with no frame) the model at a clip and a frame
    drawn from ``rng`` (:func:`simgen.sampling.rigged.draw_clip`), keyed ``<asset key>_<clip>_f<frame>``.
    Either way the recipe then places the pose it will render (its footprint, its lowest point, its
    collision shape: :func:`simgen.assets.meshes.load_mesh` of it). Nothing is drawn for a rigid asset."""
    if isinstance(asset.path, RiggedMesh) and asset.path.frame is None:
        from simgen.sampling.rigged import draw_clip

        clip, frame, _ = draw_clip(asset.path, rng)
        ref = asset.path.at(clip, frame)
        return dataclasses.replace(asset, key=ref.key_of(asset.key), path=ref)
    if not isinstance(asset.path, ArticulatedMesh) or asset.path.joints is not None:
        return asset
    ref = posed_model(asset.path, rng)
    return dataclasses.replace(asset, key=ref.key_of(asset.key), path=ref)


def posed_model(model: ArticulatedMesh, rng: np.random.Generator) -> ArticulatedMesh:
    """An articulated model (a URDF or MJCF file: ``ArticulatedMesh(path)``) at joint values drawn
    from ``rng`` as its ``draw`` says (:func:`simgen.assets.articulated.draw_configuration`; by
    default each joint uniformly within its limits): a scene object's mesh."""
    from simgen.assets.articulated import draw_configuration, load_articulated

    loaded = load_articulated(model.file, model.package_dirs)
    return model.posed(draw_configuration(loaded, rng, model.draw))


JOINT_STREAM = 0x4A4E54
"""The random stream of the joint configurations a sequence's articulated objects move through
(simgen.sampling.random.stream_rng): drawing them changes no other draw."""


def smoothstep(t: float) -> float:
    """3t² - 2t³: from 0 to 1 as t goes from 0 to 1, with no speed at either end."""
    return t * t * (3.0 - 2.0 * t)


def with_joint_motion(scenes: list[Scene], period: int, rng: np.random.Generator) -> list[Scene]:
    """``scenes`` (a sequence's steps) with each articulated object's joints moving (its asset key
    and ``models/`` file following the configuration of each step): along its catalog entry's
    trajectory (:func:`played`), else, with ``period`` > 0, through configurations drawn from
    ``rng`` (:func:`eased`). A single step, or ``period`` 0 and no trajectory: ``scenes`` as they
    are, nothing drawn."""
    if len(scenes) < 2:
        return scenes
    from simgen.assets.articulated import load_articulated

    paths: dict[int, list[dict[str, float]]] = {}  # instance id -> its configuration at each step
    for o in scenes[0].objects:
        if not isinstance(o.mesh, ArticulatedMesh) or o.mesh.joints is None:
            continue
        if o.mesh.draw.trajectory is not None:
            paths[o.instance_id] = played(dict(o.mesh.joints), o.mesh.draw.trajectory, len(scenes))
        elif period > 0:
            model = load_articulated(o.mesh.file, o.mesh.package_dirs)
            paths[o.instance_id] = eased(model, dict(o.mesh.joints), o.mesh.draw, len(scenes), period, rng)
    if not paths:
        return scenes
    out = [scenes[0]]
    for step, scene in enumerate(scenes[1:], start=1):
        objects = []
        for o in scene.objects:
            if o.instance_id in paths:
                ref = o.mesh.posed(paths[o.instance_id][step])
                o = dataclasses.replace(o, mesh=ref, asset_id=o.asset_id and ref.key_of(o.mesh.model_key(o.asset_id)))
            objects.append(o)
        out.append(dataclasses.replace(scene, objects=objects))
    return out


def eased(model: ArticulatedModel, first: dict[str, float], draw: JointDraw, steps: int, period: int,
          rng: np.random.Generator) -> list[dict[str, float]]:
    """``steps`` configurations: from ``first`` to a new one drawn from ``rng`` (as ``draw`` says)
    ``period`` steps later, then on to the next, each joint eased in and out between them
    (:func:`smoothstep`: it stops at each drawn configuration)."""
    from simgen.assets.articulated import draw_configuration

    keys = [first] + [draw_configuration(model, rng, draw) for _ in range((steps - 1) // period + 1)]
    out = []
    for step in range(steps):
        k, t = divmod(step, period)
        w, a, b = smoothstep(t / period), keys[k], keys[k + 1]
        out.append({j: min(max(a[j] + w * (b[j] - a[j]), min(a[j], b[j])), max(a[j], b[j])) for j in a})
    return out


def played(first: dict[str, float], trajectory: Path, steps: int) -> list[dict[str, float]]:
    """``steps`` configurations along a trajectory file: ``first`` holds one of its rows (the scene
    drew it: :func:`simgen.assets.articulated.draw_configuration`); each step takes the next row,
    turning back at the last and the first (no jump), for the joints the file names."""
    from simgen.assets.articulated import read_trajectory

    names, values = read_trajectory(trajectory)
    start = int(np.flatnonzero((values == [first[n] for n in names]).all(axis=1))[0])
    return [{**first, **dict(zip(names, values[k].tolist()))} for k in back_and_forth(start, steps, len(values))]


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
