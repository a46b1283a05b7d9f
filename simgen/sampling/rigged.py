"""The clip and frame each rigged catalog model shows (a catalog entry with ``animation: true``:
:mod:`simgen.assets.rigged`), and a sequence playing them on.

A recipe picks a rigged model through :func:`simgen.sampling.objects.pick_objects`, which draws its
clip and frame (:func:`draw_clip`, from the recipe's generator, as an articulated model's joints are
drawn) before it is placed: its footprint, its lowest point and its collision shape are those of the
pose it is rendered in. :func:`with_clips` then plays a sequence on from that frame, one file frame a
step, turning back at either end, keeping its pose (mesh_to_world): the first step's shape placed it
and the clip moves it from there. The views of a still scene all show the drawn frame. A recipe that
places a rigged model itself with no frame (a :class:`~simgen.scene.meshes.RiggedMesh` straight from
the catalog) placed it by the file as read; :func:`with_clips` draws its clip and frame afterwards, on
a stream of its own (:data:`CLIP_STREAM`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from simgen.scene.data import Scene
from simgen.scene.meshes import RiggedMesh
from simgen.sampling.random import back_and_forth

CLIP_STREAM = 0x434C50
"""The random stream of the clips and frames of rigged models a recipe placed with no frame
(:func:`simgen.sampling.random.stream_rng`): drawing them changes no other draw. A model picked
through :func:`~simgen.sampling.objects.pick_objects` draws its own from the recipe's generator."""


def draw_clip(ref: RiggedMesh, rng: np.random.Generator) -> tuple[str | None, int, tuple[int, int]]:
    """(clip, frame, the clip's frame range) of a rigged model: a clip drawn uniformly among those its
    catalog entry draws from (:func:`simgen.assets.rigged.clips_of`; one-line SimgenError for a file that
    moves nothing or lacks a clip the entry names), then a frame uniformly in its range."""
    from simgen.assets.rigged import clips_of

    clips = clips_of(ref)
    a = clips[int(rng.integers(len(clips)))]
    lo, hi = a.frames
    return a.clip, int(rng.integers(lo, hi + 1)), (lo, hi)


def with_clips(scenes: list[Scene], length: int, rng: np.random.Generator) -> list[Scene]:
    """``scenes`` (a sequence's ``length`` steps, or the views of one still scene with ``length`` 1)
    with every rigged model at a frame of a clip at each step: one the recipe posed (its first step's
    :class:`~simgen.scene.meshes.RiggedMesh` at a frame, the same at every step) plays on from that
    frame one file frame a step in a sequence (:func:`~simgen.sampling.random.back_and_forth`: turning
    back at the clip's ends); one the recipe placed with no frame first gets a clip and frame drawn
    from ``rng`` (:func:`draw_clip`, in the order of the instance ids). Its asset key and ``models/``
    file follow the frame (:meth:`~simgen.scene.meshes.RiggedMesh.key_of`); its pose and name stay.
    No rigged model: ``scenes`` as they are, nothing drawn."""
    from simgen.assets.rigged import clip_of

    if not scenes:
        return scenes
    played: dict[int, tuple[RiggedMesh, str | None, list[int]]] = {}  # instance id -> first step's mesh, clip, frames
    for o in sorted(scenes[0].objects, key=lambda o: o.instance_id):
        if not isinstance(o.mesh, RiggedMesh):
            continue
        if o.mesh.frame is None:
            clip, frame, (lo, hi) = draw_clip(o.mesh, rng)
        elif all(_mesh_of(s, o.instance_id) == o.mesh for s in scenes[1:]):
            clip, frame, (lo, hi) = o.mesh.clip, o.mesh.frame, clip_of(o.mesh).frames
        else:
            continue  # the recipe moves its frames itself
        steps = [lo + k for k in back_and_forth(frame - lo, len(scenes), hi - lo + 1)] if length > 1 \
            else [frame] * len(scenes)
        played[o.instance_id] = o.mesh, clip, steps
    if not played:
        return scenes
    out = []
    for step, scene in enumerate(scenes):
        objects = []
        for o in scene.objects:
            if o.instance_id in played and o.mesh == played[o.instance_id][0]:
                first, clip, steps = played[o.instance_id]
                ref = first.at(clip, steps[step])
                o = dataclasses.replace(o, mesh=ref, asset_id=o.asset_id and ref.key_of(first.model_key(o.asset_id)))
            objects.append(o)
        out.append(dataclasses.replace(scene, objects=objects))
    return out


def _mesh_of(scene: Scene, instance_id: int) -> object:
    """The mesh of ``scene``'s object ``instance_id`` (None where it has none)."""
    return next((o.mesh for o in scene.objects if o.instance_id == instance_id), None)
