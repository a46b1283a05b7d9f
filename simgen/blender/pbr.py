"""Blender nodes of a PBR material set (:class:`simgen.scene.data.PbrTexture`).

Coordinates: where the mesh has a UV map, its UVs (scaled so that one repeat spans
``scale`` metres, from the mesh's size); elsewhere the object's own coordinates, scaled by
the object's scale into metres and box-projected (each face takes the map along its main
axis, blended at the edges), so the maps keep their size in metres on a 6 m ground and a
20 cm distractor alike and move with the object. The colour map (sRGB) is multiplied by the
tint; roughness, metalness (or Poly Haven's packed ``arm``: roughness in G, metalness in B)
are data; the normal map (tangent space, DirectX's green flipped to OpenGL's) needs UVs and
is used only with them; the displacement map is a bump (shading only: the geometry, and so
every label, never moves). AO maps are read but not applied: Cycles traces occlusion.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from simgen.scene.data import PbrTexture


def pbr_nodes(tree, bsdf, pbr: PbrTexture, image: Callable[[str, bool], object], uv_map: str | None,
              metres: np.ndarray) -> None:
    """Wire ``pbr`` into ``bsdf`` of node ``tree``. ``image(path, is_colour)`` loads a map;
    ``uv_map``: the mesh's UV map name (None: box projection of object coordinates);
    ``metres``: (3,) metres per unit of the coordinates used (per object axis; for UVs, all
    three the metres one UV unit spans)."""
    nodes, links = tree.nodes, tree.links
    mapping = nodes.new("ShaderNodeMapping")
    mapping.inputs["Scale"].default_value = tuple(float(m) / pbr.scale for m in metres)
    mapping.inputs["Rotation"].default_value = (0.0, 0.0, pbr.rotation)
    if uv_map is not None:
        coords = nodes.new("ShaderNodeUVMap")
        coords.uv_map = uv_map
        links.new(coords.outputs["UV"], mapping.inputs["Vector"])
    else:
        links.new(nodes.new("ShaderNodeTexCoord").outputs["Object"], mapping.inputs["Vector"])

    def tex(path: str, colour: bool):
        n = nodes.new("ShaderNodeTexImage")
        n.image = image(path, colour)
        n.extension = "REPEAT"
        if uv_map is None:
            n.projection, n.projection_blend = "BOX", 0.25
        links.new(mapping.outputs["Vector"], n.inputs["Vector"])
        return n.outputs["Color"]

    s = pbr.set
    tint = nodes.new("ShaderNodeMix")
    tint.data_type, tint.blend_type = "RGBA", "MULTIPLY"
    sockets = {x.identifier: x for x in tint.inputs}
    sockets["Factor_Float"].default_value = 1.0
    links.new(tex(s.color, True), sockets["A_Color"])
    sockets["B_Color"].default_value = (*pbr.tint, 1.0)
    links.new(next(x for x in tint.outputs if x.identifier == "Result_Color"), bsdf.inputs["Base Color"])
    rough = metal = None
    if s.arm is not None:
        sep = nodes.new("ShaderNodeSeparateColor")
        links.new(tex(s.arm, False), sep.inputs["Color"])
        rough, metal = sep.outputs["Green"], sep.outputs["Blue"]
    if s.roughness is not None:
        rough = tex(s.roughness, False)
    if s.metalness is not None:
        metal = tex(s.metalness, False)
    if rough is not None:
        links.new(rough, bsdf.inputs["Roughness"])
    bsdf.inputs["Metallic"].default_value = 0.0
    if metal is not None:
        links.new(metal, bsdf.inputs["Metallic"])
    normal = None
    if s.normal is not None and uv_map is not None:
        colour = tex(s.normal, False)
        if s.normal_convention == "directx":  # DirectX: green points down; OpenGL (Blender): up
            sep = nodes.new("ShaderNodeSeparateColor")
            links.new(colour, sep.inputs["Color"])
            flip = nodes.new("ShaderNodeMath")
            flip.operation = "SUBTRACT"
            flip.inputs[0].default_value = 1.0
            links.new(sep.outputs["Green"], flip.inputs[1])
            join = nodes.new("ShaderNodeCombineColor")
            links.new(sep.outputs["Red"], join.inputs["Red"])
            links.new(flip.outputs[0], join.inputs["Green"])
            links.new(sep.outputs["Blue"], join.inputs["Blue"])
            colour = join.outputs["Color"]
        nm = nodes.new("ShaderNodeNormalMap")
        nm.space, nm.uv_map = "TANGENT", uv_map
        links.new(colour, nm.inputs["Color"])
        normal = nm.outputs["Normal"]
    if s.displacement is not None and pbr.bump > 0:
        bump = nodes.new("ShaderNodeBump")
        bump.inputs["Strength"].default_value = pbr.bump
        bump.inputs["Distance"].default_value = 0.01 * pbr.scale
        links.new(tex(s.displacement, False), bump.inputs["Height"])
        if normal is not None:
            links.new(normal, bump.inputs["Normal"])
        normal = bump.outputs["Normal"]
    if normal is not None:
        links.new(normal, bsdf.inputs["Normal"])
