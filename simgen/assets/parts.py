"""A scene's parts: each link of an articulated object is a rigid body of its own in the render,
with its own part id; each body part of a person (:data:`simgen.people.body.PARTS`) has a part id
too, but the person stays one body (one mesh, one instance: it bends as a whole). :func:`parts_of` is
their one owner: it makes a scene's :class:`SceneParts` once and gives the same one to everything that
asks after (the renderer, the frame's labels, meta, flow and amodal masks), instead of each computing
them again.

How a person's body parts reach the ``parts`` label: the person is drawn as one mesh (its shading and
its steps' vertices as they are) whose faces of each body part wear materials of their own (copies of
the region's: skin, shirt, ...), each with the part's :func:`body_part_pass` as its material pass index;
Cycles' Material Index pass, like its Object Index pass, is written from the first sample only (never
blended at edges), so at each pixel the object index (the person) and the material index (its part)
give the part id exactly (:attr:`SceneParts.body_lut`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import numpy as np

from simgen.errors import SimgenError
from simgen.scene.data import MAX_INSTANCE_ID, Scene, SceneObject
from simgen.assets.meshes import model_parts
from simgen.scene.meshes import ArticulatedMesh, LinkMesh, PersonMesh


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


@dataclass(frozen=True)
class BodyPart:
    """One body part of a person in a scene (:data:`simgen.people.body.PARTS`): a part id of its own in
    the ``parts`` label; not a body of its own (the person bends as one mesh: every other label sees
    the person)."""

    id: int
    """Its part id: the value of the ``parts`` label on its pixels (after every instance id and every
    link's part id of the scene)."""
    instance_id: int
    """The person it is part of."""
    index: int
    """Its index in :data:`simgen.people.body.PARTS`."""
    name: str
    """Its name (:data:`simgen.people.body.PARTS`: head, torso, upper_arm_left, ...; the person's left)."""


def body_part_pass(index: int) -> int:
    """The material pass index the faces of body part ``index`` (of :data:`simgen.people.body.PARTS`)
    are drawn with: index + 1 (0, every other material's, is no body part)."""
    return index + 1


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
    """Part id of each link (:attr:`parts`) -> the instance id of its object: the ids the render's
    object index pass holds besides instance ids (a person's body parts are not here: :attr:`body_lut`)."""
    drawn: tuple[SceneObject, ...]
    """The objects a renderer draws: each as it is, but an articulated one as its parts, each an
    object ``<name>:<link>`` whose instance id is the part id, with the object's material and shadow."""
    body_parts: tuple[BodyPart, ...] = ()
    """The body parts of every person (an object whose mesh is a :class:`~simgen.scene.meshes.PersonMesh`),
    in the order of the scene's objects, each person's in :data:`simgen.people.body.PARTS`' order: ids
    from one more than the largest instance or link part id up."""
    body_parts_by_object: Mapping[int, tuple[BodyPart, ...]] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    """:attr:`body_parts` by the instance id of the person each is part of."""

    @property
    def body_lut(self) -> dict[int, np.ndarray]:
        """Instance id of each person -> (1 + len(PARTS),) uint16: at a material pass index
        (:func:`body_part_pass`), the part id of the body part drawn with it; at 0 (a material of no
        body part) the person's instance id."""
        out = {}
        for iid, parts in self.body_parts_by_object.items():
            lut = np.full(1 + max(body_part_pass(p.index) for p in parts), iid, np.uint16)
            for p in parts:
                lut[body_part_pass(p.index)] = p.id
            out[iid] = lut
        return out

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
        people = [o for o in objects if isinstance(o.mesh, PersonMesh)]
        body_parts: list[BodyPart] = []
        if people:
            from simgen.people.body import PARTS

            for o in people:
                for k, name in enumerate(PARTS):
                    body_parts.append(BodyPart(next_id, o.instance_id, k, name))
                    next_id += 1
        last = max(parts[-1].id if parts else 0, body_parts[-1].id if body_parts else 0)
        if last > MAX_INSTANCE_ID:
            raise SimgenError(f"the scene's objects and their {len(parts) + len(body_parts)} parts need ids up to "
                              f"{last}, more than the {MAX_INSTANCE_ID} a 16-bit label holds; draw fewer objects")
        by_object: dict[int, tuple[Part, ...]] = {}
        for p in parts:
            by_object[p.instance_id] = (*by_object.get(p.instance_id, ()), p)
        drawn: list[SceneObject] = []
        for o in objects:
            drawn += [dataclasses.replace(o, name=f"{o.name}:{p.mesh.link}", mesh=p.mesh, mesh_to_world=p.mesh_to_world,
                                          instance_id=p.id) for p in by_object[o.instance_id]] \
                if o.instance_id in by_object else [o]
        by_person: dict[int, tuple[BodyPart, ...]] = {}
        for b in body_parts:
            by_person[b.instance_id] = (*by_person.get(b.instance_id, ()), b)
        return cls(tuple(parts), MappingProxyType(by_object), MappingProxyType({p.id: p.instance_id for p in parts}),
                   tuple(drawn), tuple(body_parts), MappingProxyType(by_person))


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
