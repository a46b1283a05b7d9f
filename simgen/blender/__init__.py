"""The bpy boundary: the only package that imports bpy (or mathutils/bmesh).

Importing it imports Blender (about a second); everything else in simgen works
without it, reading a render back included (:mod:`simgen.io.exr`).

Modules by concern: ``backend`` (:class:`BlenderBackend`, the façade the pipeline uses),
``session`` (render settings, device, Blender's output), ``datablocks``
(meshes and images made once per file), ``objects`` and ``materials`` (with ``own`` and
``pbr``: a frame's objects, lights and material node graphs), ``camera``, ``world`` (world
and backdrop nodes), ``physics`` (rigid-body settling) and ``render`` (Cycles into an EXR).
"""

from simgen.blender.backend import BlenderBackend
from simgen.io.exr import RawPasses

__all__ = ["BlenderBackend", "RawPasses"]
