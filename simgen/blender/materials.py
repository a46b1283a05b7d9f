"""Blender materials of a scene's drawn materials (:class:`simgen.scene.data.Material`).

A Principled BSDF with the material's colour, roughness, metalness, specular and
transmission, and its base colour from one of: a photo fitted to a flat mesh, a tiled image,
a procedural pattern mixing two colours (:data:`TEXTURE_NODES`), or a PBR set
(:mod:`simgen.blender.pbr`). Every material, these and a mesh's own ones
(:mod:`simgen.blender.own_appearance`), also writes the normal label (:func:`add_normal_aov`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import bpy
import numpy as np

from simgen.assets.meshes import load_asset
from simgen.blender.own_appearance import UV_MAP
from simgen.blender.pbr import pbr_nodes
from simgen.scene.meshes import GeneratedMesh
from simgen.scene.data import Material, SceneObject, Texture
from simgen.io.exr import NORMAL_AOV

TEXTURE_NODES = {"checker": ("ShaderNodeTexChecker", "Fac", None),
                 "noise": ("ShaderNodeTexNoise", "Fac", (0.3, 0.7)),
                 "wave": ("ShaderNodeTexWave", "Fac", None),
                 "voronoi": ("ShaderNodeTexVoronoi", "Distance", (0.05, 0.75)),
                 "magic": ("ShaderNodeTexMagic", "Fac", None),
                 "brick": ("ShaderNodeTexBrick", "Fac", None),
                 "gradient": ("ShaderNodeTexGradient", "Fac", None)}
"""For each texture kind (simgen.scene.data.Texture): the Blender node, the output used as
the mixing factor and the range of it stretched to [0, 1] (None: used as it is). The image
kind is no mix: its colour is the base colour."""

Image = Callable[[Path], "bpy.types.Image"]
"""Loads an image file once (:meth:`simgen.blender.datablocks.Datablocks.image`)."""


def add_normal_aov(tree) -> None:
    """Write the surface's geometric normal (Geometry node's True Normal, world space, facing
    the ray) to the :data:`~simgen.io.exr.NORMAL_AOV` of a material's node tree: the normal
    label stays the geometry's whatever the material does to the shading normal."""
    geometry = tree.nodes.new("ShaderNodeNewGeometry")
    out = tree.nodes.new("ShaderNodeOutputAOV")
    out.aov_name = NORMAL_AOV
    tree.links.new(geometry.outputs["True Normal"], out.inputs["Color"])


def scene_material(name: str, m: Material, image: Image, pbr_map: Callable[[str, bool], "bpy.types.Image"],
                   uv: bool = False, pbr_metres: np.ndarray | None = None,
                   pbr_uv: bool = False) -> bpy.types.Material:
    """A new material ``name`` of ``m``. ``image(path)`` and ``pbr_map(path, is_colour)`` load
    image files. ``uv``: textures follow the mesh's UV map (generated shapes) instead of its
    generated (bounding-box) coordinates. A PBR set (``m.pbr``) follows the UV map when
    ``pbr_uv``, else box-projected object coordinates; ``pbr_metres``: metres per unit of those
    coordinates (see :func:`simgen.blender.pbr.pbr_nodes`)."""
    mat = bpy.data.materials.new(name)
    try:
        nodes = mat.node_tree.nodes
        bsdf = nodes["Principled BSDF"]
        bsdf.inputs["Base Color"].default_value = (*m.base_color, 1.0)
        bsdf.inputs["Roughness"].default_value = m.roughness
        bsdf.inputs["Metallic"].default_value = m.metallic
        bsdf.inputs["Specular IOR Level"].default_value = m.specular
        bsdf.inputs["Transmission Weight"].default_value = m.transmission
        add_normal_aov(mat.node_tree)
        if m.pbr is not None:
            pbr_nodes(mat.node_tree, bsdf, m.pbr, pbr_map, UV_MAP if pbr_uv else None,
                      np.ones(3) if pbr_metres is None else pbr_metres)
            return mat
        t = m.texture
        if t is not None and t.kind == "image" and t.repeat is not None:
            _photo(mat.node_tree, bsdf, t, image)
        elif t is not None and t.kind == "image":
            _tiled_image(mat.node_tree, bsdf, t, image, uv)
        elif t is not None:
            _pattern(mat.node_tree, bsdf, t, m.base_color, uv)
    except BaseException:
        bpy.data.materials.remove(mat, do_unlink=True)
        raise
    return mat


def _photo(tree, bsdf, t: Texture, image: Image) -> None:
    """A photo on a flat mesh, its aspect kept: (s, t) = ((x - 0.5) * rx + 0.5, y * ry) of the
    generated coordinates, mirrored beyond the image."""
    nodes, links = tree.nodes, tree.links
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = image(Path(t.image))
    tex.projection, tex.extension = "FLAT", "MIRROR"
    fit = nodes.new("ShaderNodeMapping")
    rx, ry = t.repeat
    fit.inputs["Scale"].default_value = (rx, ry, 1.0)
    fit.inputs["Location"].default_value = (0.5 - 0.5 * rx, 0.0, 0.0)
    links.new(nodes.new("ShaderNodeTexCoord").outputs["Generated"], fit.inputs["Vector"])
    links.new(fit.outputs["Vector"], tex.inputs["Vector"])
    links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])


def _tiled_image(tree, bsdf, t: Texture, image: Image, uv: bool) -> None:
    """Base colour = the image, tiled ``t.scale`` times: along the UVs, else box-projected."""
    nodes, links = tree.nodes, tree.links
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = image(Path(t.image))
    tex.projection, tex.projection_blend, tex.extension = ("FLAT" if uv else "BOX"), 0.2, "REPEAT"
    tile = nodes.new("ShaderNodeVectorMath")
    tile.operation = "SCALE"
    tile.inputs["Scale"].default_value = t.scale
    links.new(nodes.new("ShaderNodeTexCoord").outputs["UV" if uv else "Generated"], tile.inputs[0])
    links.new(tile.outputs["Vector"], tex.inputs["Vector"])
    links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])


def _pattern(tree, bsdf, t: Texture, base_color, uv: bool) -> None:
    """Base colour = mix(base_color, t.color2, pattern of the UVs or generated coordinates)."""
    nodes, links = tree.nodes, tree.links
    node_type, fac, stretch_range = TEXTURE_NODES[t.kind]
    tex = nodes.new(node_type)
    links.new(nodes.new("ShaderNodeTexCoord").outputs["UV" if uv else "Generated"], tex.inputs["Vector"])
    if t.kind == "gradient":  # spans the object once: no scale
        tex.gradient_type = t.variant.upper()
    else:
        tex.inputs["Scale"].default_value = t.scale
    if t.kind in ("noise", "wave", "magic"):
        tex.inputs["Distortion"].default_value = t.distortion
    if t.kind in ("noise", "wave"):
        tex.inputs["Detail"].default_value = t.detail
    if t.kind == "wave":
        tex.bands_direction = "DIAGONAL"
    mix = nodes.new("ShaderNodeMix")
    mix.data_type = "RGBA"
    sockets = {s.identifier: s for s in mix.inputs}
    sockets["A_Color"].default_value = (*base_color, 1.0)
    sockets["B_Color"].default_value = (*t.color2, 1.0)
    factor = tex.outputs[fac]
    if stretch_range is not None:  # e.g. noise varies little around 0.5: use both colours fully
        stretch = nodes.new("ShaderNodeMapRange")  # clamps to [0, 1] by default
        stretch.inputs["From Min"].default_value, stretch.inputs["From Max"].default_value = stretch_range
        links.new(factor, stretch.inputs["Value"])
        factor = stretch.outputs["Result"]
    links.new(factor, sockets["Factor_Float"])
    links.new(next(s for s in mix.outputs if s.identifier == "Result_Color"), bsdf.inputs["Base Color"])


def pbr_coordinates(o: SceneObject, me: bpy.types.Mesh) -> tuple[bool, np.ndarray]:
    """(whether a PBR set follows the mesh's UVs, metres per unit of its coordinates): a
    generated shape's UVs are in mesh units, a file's UVs span its mesh (0..1) once; other
    meshes use their object coordinates, in metres by the object's scale per axis."""
    scale = np.linalg.norm(np.asarray(o.mesh_to_world)[:3, :3], axis=0)
    if not me.uv_layers:
        return False, scale
    if isinstance(o.mesh, GeneratedMesh):
        return True, np.full(3, scale.mean())
    extent = float(np.ptp(np.asarray(load_asset(o.mesh).mesh.vertices), axis=0).max())
    return True, np.full(3, scale.mean() * extent)
