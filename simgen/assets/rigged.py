"""A rigged catalog model on the pure side: a glTF or FBX file whose armature, shape keys or
keyframes move or bend its parts (a catalog entry with ``animation: true``), placed like any object.

Blender reads the file once, as it reads a scene file (:func:`simgen.assets.environment.load_environment`:
its parts, and per clip each deforming part's vertices and each moving part's matrix at every frame);
nothing here imports bpy. The model's mesh (:func:`rigged_mesh`) is every part of the file placed by
its world matrix, concatenated in the file's part order: the same vertices in the same order at every
frame, so a surface point keeps its triangle and barycentric coordinates from step to step and every
label follows it (:func:`simgen.scene.meshes.deforms`). :func:`clips_of` gives the clips a scene
draws from (:func:`simgen.sampling.rigged.with_clips`), each checked: one line for a file in which
nothing moves, a clip the file lacks, or a part whose number of vertices changes.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from simgen.errors import SimgenError
from simgen.scene.meshes import RiggedMesh

if TYPE_CHECKING:
    import trimesh

    from simgen.assets.environment import Animation


def _named(a: "Animation") -> str:
    return "its animation" if a.clip is None else f"its clip {a.clip!r}"


def clips_of(ref: RiggedMesh) -> tuple["Animation", ...]:
    """The clips a scene draws ``ref``'s frames from: its catalog entry's ``clips`` (:attr:`RiggedMesh.clips`),
    else every clip of the file that moves something (a glTF's animations, in the importer's order;
    an FBX's one animation). One-line SimgenError for a file in which nothing moves, a clip it lacks
    (its clips listed) or one that moves nothing, and a part whose number of vertices changes in a clip."""
    from simgen.assets.environment import load_environment

    env = load_environment(ref.file)
    if ref.clips:
        if not env.clips:
            raise SimgenError(f"{ref.file}: its catalog entry names clips {list(ref.clips)}, and the file has no named "
                              "animations (a glTF's animations are its clips; an FBX has one); remove 'clips'")
        named = {a.clip: a for a in env.clips}
        missing = [c for c in ref.clips if c not in named]
        if missing:
            raise SimgenError(f"{ref.file}: no clip {missing[0]!r} in it (its clips: {', '.join(named)}); fix 'clips' "
                              "of its catalog entry")
        chosen = [named[c] for c in ref.clips]
        still = [a.clip for a in chosen if not a.moves]
        if still:
            raise SimgenError(f"{ref.file}: its clip {still[0]!r} moves nothing; remove it from 'clips' of its "
                              "catalog entry")
    else:
        chosen = [a for a in env.clips if a.moves] if env.clips else [env.animation] if env.animation else []
        if not chosen:
            raise SimgenError(f"{ref.file}: its catalog entry says animation: true, and nothing moves in it (no "
                              "armature, shape key or keyframe animated over its frames); export the file with its "
                              "animation, or list it without animation: true")
    for a in chosen:
        if a.changing:
            raise SimgenError(f"{ref.file}: part {a.changing[0]!r} changes its number of vertices in {_named(a)} (a "
                              "remesh, a boolean, a fracture), which no label can follow; remove it from the file"
                              + (" or the clip from 'clips' of its catalog entry" if a.clip is not None else ""))
    return tuple(chosen)


def clip_of(ref: RiggedMesh) -> "Animation":
    """The clip ``ref`` (at a frame) is in, with ``ref.frame`` checked against its range."""
    clips = clips_of(ref)
    a = next((a for a in clips if a.clip == ref.clip), None)
    if a is None:
        raise SimgenError(f"{ref.file}: no clip {ref.clip!r} among those its catalog entry draws from "
                          f"({', '.join(str(c.clip) for c in clips)})")
    if not a.frames[0] <= ref.frame <= a.frames[1]:
        raise SimgenError(f"{ref.file}: frame {ref.frame} lies outside {_named(a)}'s range "
                          f"{a.frames[0]}..{a.frames[1]}")
    return a


def own_materials(ref: RiggedMesh) -> tuple[str, ...]:
    """The names of the materials the model's file gives its parts (as Blender's importer names them:
    a glTF's materials, an FBX's), each once, in the file's part order: the model's own look, which it
    is rendered with as any catalog mesh with materials of its own is
    (:func:`simgen.sampling.materials.with_own_appearance`; the Blender layer keeps the importer's
    materials, textures and all). (): the file gives it none (it is drawn a material)."""
    from simgen.assets.environment import load_environment

    return tuple(dict.fromkeys(m for p in load_environment(ref.file).parts for m in p.materials))


@functools.lru_cache(maxsize=32)
def rigged_mesh(ref: RiggedMesh) -> "trimesh.Trimesh":
    """The model ``ref`` as one mesh in the file's world frame (metres of the file, Blender's axes):
    each part's local mesh placed by its world matrix, in the file's part order, at ``ref.frame`` of
    its clip (None: as the file is read). Cached for the few frames in flight: do not mutate it. A
    one-line SimgenError for a part whose number of vertices at the frame differs from the file's."""
    import trimesh

    from simgen.assets.environment import load_environment

    rest = load_environment(ref.file)
    env = rest
    if ref.frame is not None:
        a = clip_of(ref)
        env = (rest.clip(a.clip) if a.clip is not None else rest).at(ref.frame)
    if not env.parts:
        raise SimgenError(f"{ref.file}: no mesh in it to render; give the rigged model its meshes")
    vertices, faces, n = [], [], 0
    for p, r in zip(env.parts, rest.parts):
        m = env.meshes[p.mesh.key]
        if len(m.vertices) != len(rest.meshes[r.mesh.key].vertices):
            raise SimgenError(f"{ref.file}: part {p.name!r} has {len(rest.meshes[r.mesh.key].vertices)} vertices as "
                              f"the file is read and {len(m.vertices)} at frame {ref.frame}, which no label can "
                              "follow; remove it from the file")
        matrix = np.asarray(p.matrix, float)
        vertices.append(np.asarray(m.vertices, float) @ matrix[:3, :3].T + matrix[:3, 3])
        faces.append(np.asarray(m.faces, np.int64) + n)
        n += len(m.vertices)
    return trimesh.Trimesh(np.concatenate(vertices), np.concatenate(faces), process=False)
