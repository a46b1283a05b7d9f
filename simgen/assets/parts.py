"""A scene's parts: each link of an articulated object is a rigid body of its own in the render,
with its own part id. :func:`parts_of` is their one owner: it makes a scene's
:class:`SceneParts` once and gives the same one to everything that asks after (the renderer, the
frame's labels, meta, flow and amodal masks), instead of each computing them again."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import numpy as np

from simgen.errors import SimgenError
from simgen.scene.data import MAX_INSTANCE_ID, Scene, SceneObject
from simgen.assets.meshes import model_parts
from simgen.scene.meshes import ArticulatedMesh, LinkMesh


@dataclass(frozen=True, eq=False)
class Part:
    """One link of an articulated object in a scene: a rigid body of its own in the render."""

    id: int
    """Its part id: the render's pass index, the value of the ``parts`` label (after every
    instance id of the scene, so it never takes one)."""
    instance_id: int
    """The object it is part of."""
    mesh: LinkMesh
    mesh_to_world: np.ndarray
    """4x4: the link's mesh (its frame) to the world: the object's mesh_to_world times the link's
    pose in the model."""


@dataclass(frozen=True, eq=False)
class SceneParts:
    """The parts of a scene's objects, and the objects a renderer draws for it (:func:`parts_of`;
    read-only: do not mutate what it holds)."""

    parts: tuple[Part, ...]
    """The parts of every articulated object (:func:`~simgen.assets.meshes.model_parts`), in the
    order of the scene's objects: ids from one more than the largest instance id up, so the same
    objects at other joint values (a sequence's steps) give the same ids."""
    by_object: Mapping[int, tuple[Part, ...]]
    """:attr:`parts` by the instance id of the object each is part of (an object with none is not a key)."""
    part_of: Mapping[int, int]
    """Part id -> the instance id of its object."""
    drawn: tuple[SceneObject, ...]
    """The objects a renderer draws: each as it is, but an articulated one as its parts, each an
    object ``<name>:<link>`` whose instance id is the part id, with the object's material and shadow."""

    @classmethod
    def of(cls, objects: list[SceneObject]) -> "SceneParts":
        """The parts of ``objects`` (a scene's). SimgenError where their ids would pass
        :data:`~simgen.scene.data.MAX_INSTANCE_ID`, or for a model's joint values it cannot take."""
        parts: list[Part] = []
        models = [o for o in objects if isinstance(o.mesh, ArticulatedMesh)]
        next_id = max((o.instance_id for o in objects), default=0) + 1
        for o in models:
            for mesh, pose in model_parts(o.mesh):
                parts.append(Part(next_id, o.instance_id, mesh, o.mesh_to_world @ pose))
                next_id += 1
        if parts and parts[-1].id > MAX_INSTANCE_ID:
            raise SimgenError(f"the scene's objects and their {len(parts)} parts need ids up to {parts[-1].id}, more "
                              f"than the {MAX_INSTANCE_ID} a 16-bit label holds; draw fewer objects")
        by_object: dict[int, tuple[Part, ...]] = {}
        for p in parts:
            by_object[p.instance_id] = (*by_object.get(p.instance_id, ()), p)
        drawn: list[SceneObject] = []
        for o in objects:
            drawn += [dataclasses.replace(o, name=f"{o.name}:{p.mesh.link}", mesh=p.mesh, mesh_to_world=p.mesh_to_world,
                                          instance_id=p.id) for p in by_object[o.instance_id]] \
                if o.instance_id in by_object else [o]
        return cls(tuple(parts), MappingProxyType(by_object), MappingProxyType({p.id: p.instance_id for p in parts}),
                   tuple(drawn))


def parts_of(scene: Scene) -> SceneParts:
    """The parts of ``scene`` (:class:`SceneParts`), made once per scene and kept on it.

    Where it is kept: on the scene itself (its private ``_parts``, out of its repr and
    comparisons), with what they were made from: the list of its objects, each with its mesh and
    instance id (which parts there are, and their ids), and an object that has parts with every
    field (by identity) and its pose's values too (its drawn links copy them; an object without
    parts is drawn as itself, so none of its other fields can go stale). Each call checks these
    and makes the parts anew where any differ, so they cannot go stale: a scene made from another
    (``dataclasses.replace``, :meth:`~simgen.scene.data.Scene.settled`, a sequence's next step)
    starts without them, and objects replaced, added, removed or changed in place are seen.
    Kept on the scene, they go with it: no table outlives a scene or holds it alive (the scene is
    unhashable, so no weak table could key it), and the scene module stays plain data (it names no
    part of simgen.assets). Two threads asking at once may both make them: each stores a whole
    (made from, parts) pair, never half of one. A failure (too many ids) keeps nothing."""
    kept = scene._parts
    if kept is not None and _unchanged(kept[0], scene.objects):
        return kept[1]
    parts = SceneParts.of(scene.objects)
    scene._parts = (_made_from(scene.objects, parts), parts)
    return parts


def _made_from(objects: list[SceneObject], parts: SceneParts) -> tuple:
    """What ``parts`` of ``objects`` depend on (:func:`parts_of`): each object, its mesh and instance id,
    and for one with parts its fields and its pose's bytes (else None)."""
    return tuple((o, o.mesh, o.instance_id, _state(o) if o.instance_id in parts.by_object else None) for o in objects)


def _state(o: SceneObject) -> tuple:
    return tuple(vars(o).values()), np.asarray(o.mesh_to_world).tobytes()


def _unchanged(made_from: tuple, objects: list[SceneObject]) -> bool:
    """Whether ``objects`` are still what :func:`_made_from` saw (fields by identity, poses by value)."""
    return len(made_from) == len(objects) and all(
        o is now and mesh is now.mesh and iid == now.instance_id and (
            state is None or (_same_fields(state[0], now) and state[1] == np.asarray(now.mesh_to_world).tobytes()))
        for (o, mesh, iid, state), now in zip(made_from, objects))


def _same_fields(fields: tuple, o: SceneObject) -> bool:
    now = tuple(vars(o).values())
    return len(fields) == len(now) and all(a is b for a, b in zip(fields, now))
