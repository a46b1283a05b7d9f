"""The bpy boundary: the only package that imports bpy (or mathutils/bmesh).

Importing it imports Blender (about a second); everything else in simgen works
without it.
"""

from simgen.blender.backend import BlenderBackend, RawPasses

__all__ = ["BlenderBackend", "RawPasses"]
