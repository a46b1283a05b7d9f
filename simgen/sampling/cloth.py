"""Cloths dropped over a scene's objects (objects.cloth, objects.cloth_count): drawn on the pure side,
simulated together by the renderer (Blender's cloth solver: :func:`simgen.blender.cloth.simulate_together`,
each colliding with the others), then each step of the sequence holds each sheet where the
simulation has it (:func:`draped`).

Before the simulation a cloth is a :class:`~simgen.scene.meshes.ClothMesh` without vertices: the
flat sheet, its object's mesh_to_world the drop pose; after it, each step's ClothMesh holds the
sheet's world vertices at that step (its object's mesh_to_world the identity), and every label
follows them: a surface that bends (:func:`simgen.scene.meshes.deforms`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from simgen.errors import SimgenError
from simgen.sampling.materials import sample_material
from simgen.sampling.random import integer, uniform
from simgen.scene.cloth import POUCH_BULGE, Cloth, ClothRun
from simgen.scene.data import MAX_INSTANCE_ID, Scene, SceneObject
from simgen.scene.meshes import ClothMesh
from simgen.scene.transforms import rigid, rot_z

CLOTH_STREAM = 0x434C54
"""The cloth draws' stream (:func:`simgen.sampling.random.stream_rng`): a cloth changes no other draw."""

CLOTH_FPS = 24.0
"""Simulated frames a second: one a sequence step."""

REST_SPEED = 0.05
"""A cloth whose fastest vertex moves slower than this (m/s) after its settling frames has come to rest."""


def has_cloth(scene: Scene) -> bool:
    """Whether ``scene`` holds a cloth not yet simulated."""
    return any(isinstance(o.mesh, ClothMesh) and o.mesh.vertices is None for o in scene.objects)


def with_cloth(scenes: list[Scene], settings, catalog, rng: np.random.Generator) -> list[Scene]:
    """``scenes`` (a sequence's steps) with cloths over their objects, with chance objects.cloth:
    their number drawn from objects.cloth_count, each one's shape, size, stiffness, mass, friction
    and material drawn from ``rng`` in turn, each dropped flat (a turn about the vertical drawn)
    objects.cloth_drop above the highest annotated object, over their centre, each above the one
    before (:func:`dropped`); unsimulated (the loop's settle stage simulates them together).
    ``params["cloth"]`` is a list with a record a cloth. Nothing drawn when objects.cloth is 0; a
    one-line SimgenError for a cloth_category the catalog lacks."""
    o = settings.objects
    if o.cloth <= 0 or rng.uniform() >= o.cloth:
        return scenes
    category = 0
    if o.cloth_category is not None:
        try:
            category = catalog.category_id(o.cloth_category)
        except SimgenError:
            raise SimgenError(f"objects.cloth_category={o.cloth_category}: no such category in the catalog "
                              f"({', '.join(catalog.category_names)}); add it to the catalog or set "
                              "objects.cloth_category=null") from None
    low, high = o.cloth_count
    count = integer(rng, o.cloth_count) if high > low else int(low)  # one number: nothing drawn
    added, records = [], []
    first = scenes[0].objects
    for k in range(count):
        bending = math.exp(uniform(rng, [math.log(max(b, 1e-6)) for b in o.cloth_bending]))
        shapes = list(o.cloth_shapes)
        shape = shapes[int(rng.integers(len(shapes)))] if len(shapes) > 1 else shapes[0]  # one: nothing drawn
        along = uniform(rng, o.cloth_size)
        across = uniform(rng, o.cloth_cable_diameter if shape == "cable" else o.cloth_size)  # a cable's: its diameter
        cloth = Cloth(size=(along, across), resolution=o.cloth_resolution,
                      mass=uniform(rng, o.cloth_mass), tension=uniform(rng, o.cloth_tension), bending=bending,
                      friction=uniform(rng, o.cloth_friction), shape=shape,
                      pressure=uniform(rng, o.cloth_pressure) if shape != "sheet" else 0.0,
                      thickness=min(Cloth.thickness, across / 2) if shape == "cable" else Cloth.thickness,
                      self_collision=o.cloth_self_collision and shape == "sheet")  # a sheet's only
        material = sample_material(settings.materials, rng)
        if not first:
            return scenes
        drop, turn = uniform(rng, o.cloth_drop), rng.uniform(0.0, 2.0 * np.pi)
        iid = max(x.instance_id for x in first) + 1 + k
        if iid > MAX_INSTANCE_ID:
            raise SimgenError(f"cloth {k + 1} of {count} needs instance id {iid}, more than the {MAX_INSTANCE_ID} a "
                              "frame holds; lower objects.count or objects.cloth_count")
        key = f"cloth_{int(rng.integers(0, 2 ** 32)):08x}"
        records.append({**cloth.to_dict(), "key": key, "instance_id": iid, "drop": drop,
                        "turn_deg": float(np.degrees(turn)), "settle_frames": o.cloth_settle, "fps": CLOTH_FPS})
        added.append(SceneObject(name=key, mesh=ClothMesh(cloth, key, settle=o.cloth_settle), mesh_to_world=np.eye(4),
                                 instance_id=iid, category_id=category, material=material, role="cloth"))
    return dropped([dataclasses.replace(s, objects=[*s.objects, *added], params={**s.params, "cloth": records})
                    for s in scenes])


STACK_GAP = 0.02
"""Metres between one dropped cloth's lowest point and the top of the one dropped before it (each
keeping its collision distance besides): they start apart and fall together."""


def dropped(scenes: list[Scene]) -> list[Scene]:
    """``scenes`` with their unsimulated cloths where they are dropped from (each record's ``drop``
    and ``turn_deg``): flat, over the centre of the annotated objects of the first step (every
    object but the environment's, the walls and the cloths where none is annotated), ``drop``
    metres above the highest one's top (a pouch's underside hanging below it), and each cloth after
    the first at least :data:`STACK_GAP` above the one before it (its collision distance and that
    one's besides), so none starts inside another. Made again once scene.placement=physics has
    settled the objects, so the cloths fall on them where they rest; each record gets its pose."""
    records = {r["instance_id"]: r for r in scenes[0].params["cloth"]}
    cloths = [x for x in scenes[0].objects if isinstance(x.mesh, ClothMesh)]
    others = [x for x in scenes[0].objects if not isinstance(x.mesh, ClothMesh)]
    under = [x for x in others if x.category_id != 0] or [x for x in others if x.role not in ("environment", "wall")]
    centre = np.mean([x.mesh_to_world[:3, 3] for x in under], axis=0) if under else np.zeros(3)
    top = max((_top(x) for x in under), default=0.0)
    placed, ceiling = {}, None  # ceiling: the top of the cloth dropped before, its collision distance included
    for cloth in cloths:
        record, sheet = records[cloth.instance_id], cloth.mesh.cloth
        bulge = {"pouch": POUCH_BULGE * min(sheet.size), "cable": sheet.size[1] / 2}.get(sheet.shape, 0.0)  # below it
        z = top + record["drop"] + sheet.thickness + bulge
        if ceiling is not None:
            z = max(z, ceiling + STACK_GAP + sheet.thickness + bulge)
        ceiling = z + bulge + sheet.thickness
        placed[cloth.instance_id] = rigid(rot_z(np.radians(record["turn_deg"])), [centre[0], centre[1], z])
    out = [{**r, "mesh_to_world": placed[r["instance_id"]].tolist()} for r in scenes[0].params["cloth"]]
    return [dataclasses.replace(s, objects=[dataclasses.replace(x, mesh_to_world=placed[x.instance_id])
                                            if x.instance_id in placed else x for x in s.objects],
                                params={**s.params, "cloth": out})
            for s in scenes]


def _top(obj: SceneObject) -> float:
    """The highest z of ``obj``'s mesh in the world."""
    from simgen.assets.meshes import load_mesh

    v = np.asarray(load_mesh(obj.mesh).vertices, float)
    return float((v @ obj.mesh_to_world[:3, :3].T + obj.mesh_to_world[:3, 3])[:, 2].max())


def draped(scenes: list[Scene], runs: dict[int, ClothRun]) -> list[Scene]:
    """``scenes`` with each cloth (by instance id in ``runs``) where its simulation has it at each
    step (mesh_to_world the identity), each simulation's report in its record of ``params["cloth"]``."""
    records = [{**r, **runs[r["instance_id"]].to_dict()} if r.get("instance_id") in runs else r
               for r in scenes[0].params.get("cloth", [])]
    out = []
    for step, scene in enumerate(scenes):
        objects = [dataclasses.replace(x, mesh=dataclasses.replace(x.mesh, vertices=runs[x.instance_id].vertices[step],
                                                                      step=step), mesh_to_world=np.eye(4))
                   if x.instance_id in runs else x for x in scene.objects]
        out.append(dataclasses.replace(scene, objects=objects,
                                       params={**scene.params, "cloth": records} if records else scene.params))
    return out


def colliders(scenes: list[Scene]) -> list[tuple]:
    """What a cloth of a sequence (its steps ``scenes``) falls on: every drawn object of its first
    step but the cloths, as (world vertices, triangles), or, for one that moves in the sequence,
    (its mesh's vertices, triangles, its (steps, 4, 4) mesh_to_world at each step); a part that
    bends collides as its first step's shape."""
    from simgen.assets.meshes import load_mesh
    from simgen.assets.parts import parts_of

    poses = [{x.instance_id: x.mesh_to_world for x in parts_of(s).drawn} for s in scenes]
    out = []
    for x in parts_of(scenes[0]).drawn:
        if isinstance(x.mesh, ClothMesh):
            continue
        m = load_mesh(x.mesh)
        v, f = np.asarray(m.vertices, float), np.asarray(m.faces)
        path = np.stack([p.get(x.instance_id, x.mesh_to_world) for p in poses])
        if np.array_equal(path, np.broadcast_to(x.mesh_to_world, path.shape)):
            out.append((v @ x.mesh_to_world[:3, :3].T + x.mesh_to_world[:3, 3], f))
        else:
            out.append((v, f, path))
    return out
