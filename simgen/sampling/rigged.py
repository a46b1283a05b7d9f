"""The clip and frame each rigged catalog model shows (a catalog entry with ``animation: true``:
:mod:`simgen.assets.rigged`), drawn after the recipe on a stream of their own.

A recipe places a rigged model as the catalog lists it (:class:`~simgen.scene.meshes.RiggedMesh`
with no frame: the file as Blender reads it); :func:`with_clips` then gives each one a clip, drawn
uniformly among its entry's, and a frame, drawn uniformly in that clip's range, keeping its pose
(mesh_to_world). A sequence plays the clip on from there, one file frame a step, turning back at
either end; the views of a still scene all show the drawn frame.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from simgen.scene.data import Scene
from simgen.scene.meshes import RiggedMesh
from simgen.sampling.random import back_and_forth

CLIP_STREAM = 0x434C50
"""The random stream of the rigged models' clips and frames (:func:`simgen.sampling.random.stream_rng`):
drawing them changes no other draw."""


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
    with every rigged model the recipe placed (a :class:`~simgen.scene.meshes.RiggedMesh` with no
    frame) at a clip and frame drawn from ``rng`` (:func:`draw_clip`, in the order of the instance
    ids), played on one file frame a step in a sequence
    (:func:`~simgen.sampling.random.back_and_forth`: turning back at the clip's ends). Its asset key
    and ``models/`` file follow the frame (:meth:`~simgen.scene.meshes.RiggedMesh.key_of`); its pose
    and name stay. No rigged model: ``scenes`` as they are, nothing drawn."""
    if not scenes:
        return scenes
    frames: dict[int, tuple[str | None, list[int]]] = {}
    for o in sorted(scenes[0].objects, key=lambda o: o.instance_id):
        if not isinstance(o.mesh, RiggedMesh) or o.mesh.frame is not None:
            continue
        clip, frame, (lo, hi) = draw_clip(o.mesh, rng)
        steps = [lo + k for k in back_and_forth(frame - lo, len(scenes), hi - lo + 1)] if length > 1 \
            else [frame] * len(scenes)
        frames[o.instance_id] = clip, steps
    if not frames:
        return scenes
    out = []
    for step, scene in enumerate(scenes):
        objects = []
        for o in scene.objects:
            if o.instance_id in frames and isinstance(o.mesh, RiggedMesh) and o.mesh.frame is None:
                clip, steps = frames[o.instance_id]
                ref = o.mesh.at(clip, steps[step])
                o = dataclasses.replace(o, mesh=ref, asset_id=o.asset_id and ref.key_of(o.asset_id))
            objects.append(o)
        out.append(dataclasses.replace(scene, objects=objects))
    return out
