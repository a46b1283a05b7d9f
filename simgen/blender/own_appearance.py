"""Blender materials for a mesh's own appearance (:mod:`simgen.assets.appearance`).

One material per slot of an asset, built once per process and shared by every object of
that asset. What varies per object (the jitter of :class:`simgen.scene.data.OwnLook`) is
read from the object's custom properties by Attribute nodes, so no material is rebuilt per
frame: :data:`JITTER_PROPS` name them.
"""

from __future__ import annotations

from typing import Callable

import bpy

from simgen.assets.appearance import SurfaceMaterial, TextureImage

UV_MAP = "UVMap"
COLOR_ATTRIBUTE = "simgen_color"
JITTER_PROPS = {"hue": ("simgen_hue", 0.0), "saturation": ("simgen_saturation", 1.0),
                "value": ("simgen_value", 1.0), "roughness": ("simgen_roughness", 1.0)}
"""OwnLook field -> (object custom property, its neutral value)."""


def _math(nodes, links, op: str, a, b=None, clamp: bool = False):
    n = nodes.new("ShaderNodeMath")
    n.operation, n.use_clamp = op, clamp
    for i, v in enumerate((a, b)):
        if v is None:
            continue
        if isinstance(v, (int, float)):
            n.inputs[i].default_value = float(v)
        else:
            links.new(v, n.inputs[i])
    return n.outputs[0]


def _rgb_multiply(nodes, links, a, b):
    n = nodes.new("ShaderNodeMix")
    n.data_type, n.blend_type = "RGBA", "MULTIPLY"
    sockets = {s.identifier: s for s in n.inputs}
    sockets["Factor_Float"].default_value = 1.0
    for key, v in (("A_Color", a), ("B_Color", b)):
        if isinstance(v, tuple):
            sockets[key].default_value = (*v[:3], 1.0)
        else:
            links.new(v, sockets[key])
    return next(s for s in n.outputs if s.identifier == "Result_Color")


def _prop(nodes, field: str):
    """The object's jitter property ``field`` (:data:`JITTER_PROPS`) as a shader socket."""
    n = nodes.new("ShaderNodeAttribute")
    n.attribute_type, n.attribute_name = "OBJECT", JITTER_PROPS[field][0]
    return n.outputs["Fac"]


def _jitter(nodes, links, color, base, rough, roughness) -> None:
    """``color`` (a socket, or an RGB or RGBA value) through the object's hue/saturation/value
    jitter into the socket ``base``, and ``rough`` (a socket or a value) times its roughness jitter
    (clamped) into the socket ``roughness``."""
    hsv = nodes.new("ShaderNodeHueSaturation")
    hsv.inputs["Fac"].default_value = 1.0
    links.new(_math(nodes, links, "ADD", _prop(nodes, "hue"), 0.5), hsv.inputs["Hue"])
    links.new(_prop(nodes, "saturation"), hsv.inputs["Saturation"])
    links.new(_prop(nodes, "value"), hsv.inputs["Value"])
    if isinstance(color, bpy.types.NodeSocket):
        links.new(color, hsv.inputs["Color"])
    else:
        hsv.inputs["Color"].default_value = (*tuple(color)[:3], 1.0) if len(color) == 3 else tuple(color)
    links.new(hsv.outputs["Color"], base)
    links.new(_math(nodes, links, "MULTIPLY", rough, _prop(nodes, "roughness"), clamp=True), roughness)


def own_material(name: str, sm: SurfaceMaterial, has_uv: bool,
                 image: Callable[[TextureImage, bool], "bpy.types.Image"],
                 finish: Callable[[object], None]) -> "bpy.types.Material":
    """The Principled material of slot ``sm``. ``image(texture, is_colour)`` gives the image
    datablock (sRGB for colour maps, Non-Color for data); ``finish(node_tree)`` adds what every
    simgen material has (the normal label's AOV)."""
    mat = bpy.data.materials.new(name)
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = nodes["Principled BSDF"]
    uv = None
    if has_uv:
        uv_node = nodes.new("ShaderNodeUVMap")
        uv_node.uv_map = UV_MAP
        uv = uv_node.outputs["UV"]

    def tex(t: TextureImage, colour: bool):
        n = nodes.new("ShaderNodeTexImage")
        n.image = image(t, colour)
        n.extension = t.wrap
        if uv is not None:
            links.new(uv, n.inputs["Vector"])
        return n

    # base colour: factor x texture x vertex colours, then the object's hue/saturation/value jitter
    color = sm.base_color
    alpha_tex = None
    if sm.base_color_map is not None:
        t = tex(sm.base_color_map, True)
        color = _rgb_multiply(nodes, links, t.outputs["Color"], sm.base_color)
        alpha_tex = t.outputs["Alpha"]
    if sm.vertex_colors:
        attr = nodes.new("ShaderNodeAttribute")
        attr.attribute_type, attr.attribute_name = "GEOMETRY", COLOR_ATTRIBUTE
        color = _rgb_multiply(nodes, links, attr.outputs["Color"], color)

    # roughness and metallic: factors x maps (glTF packs roughness in G, metallic in B)
    rough, metal = sm.roughness, sm.metallic
    if sm.metallic_roughness_map is not None:
        sep = nodes.new("ShaderNodeSeparateColor")
        links.new(tex(sm.metallic_roughness_map, False).outputs["Color"], sep.inputs["Color"])
        rough = _math(nodes, links, "MULTIPLY", sep.outputs["Green"], sm.roughness)
        metal = _math(nodes, links, "MULTIPLY", sep.outputs["Blue"], sm.metallic)
    if sm.roughness_map is not None:
        rough = _math(nodes, links, "MULTIPLY", tex(sm.roughness_map, False).outputs["Color"], 1.0)
    if sm.metallic_map is not None:
        metal = _math(nodes, links, "MULTIPLY", tex(sm.metallic_map, False).outputs["Color"], 1.0)
    _jitter(nodes, links, color, bsdf.inputs["Base Color"], rough, bsdf.inputs["Roughness"])
    if isinstance(metal, float):
        bsdf.inputs["Metallic"].default_value = metal
    else:
        links.new(metal, bsdf.inputs["Metallic"])
    bsdf.inputs["Specular IOR Level"].default_value = sm.specular
    if sm.subsurface > 0:  # skin (a person's): no mesh file states it
        bsdf.inputs["Subsurface Weight"].default_value = sm.subsurface
        bsdf.inputs["Subsurface Scale"].default_value = sm.subsurface_scale

    # surface detail: a tangent-space normal map and/or a height (bump) map
    normal = None
    if sm.normal_map is not None and has_uv:
        nm = nodes.new("ShaderNodeNormalMap")
        nm.space, nm.uv_map = "TANGENT", UV_MAP
        nm.inputs["Strength"].default_value = sm.normal_scale
        links.new(tex(sm.normal_map, False).outputs["Color"], nm.inputs["Color"])
        normal = nm.outputs["Normal"]
    if sm.bump_map is not None:
        bump = nodes.new("ShaderNodeBump")
        bump.inputs["Strength"].default_value = min(max(sm.bump_scale, 0.0), 1.0)
        links.new(tex(sm.bump_map, False).outputs["Color"], bump.inputs["Height"])
        if normal is not None:
            links.new(normal, bump.inputs["Normal"])
        normal = bump.outputs["Normal"]
    if normal is not None:
        links.new(normal, bsdf.inputs["Normal"])

    # emission
    if any(sm.emission) or sm.emission_map is not None:
        em = sm.emission
        if sm.emission_map is not None:
            em = _rgb_multiply(nodes, links, tex(sm.emission_map, True).outputs["Color"],
                               sm.emission if any(sm.emission) else (1.0, 1.0, 1.0))
        if isinstance(em, tuple):
            bsdf.inputs["Emission Color"].default_value = (*em, 1.0)
        else:
            links.new(em, bsdf.inputs["Emission Color"])
        bsdf.inputs["Emission Strength"].default_value = 1.0

    # opacity: OPAQUE ignores alpha; MASK cuts out below the cutoff; BLEND blends
    if sm.alpha_mode != "OPAQUE":
        alpha = sm.alpha
        if sm.alpha_map is not None:
            alpha_tex = tex(sm.alpha_map, False).outputs["Color"]
        if alpha_tex is not None:
            alpha = _math(nodes, links, "MULTIPLY", alpha_tex, sm.alpha)
        if sm.alpha_mode == "MASK":
            alpha = _math(nodes, links, "GREATER_THAN", alpha, sm.alpha_cutoff - 1e-6) if not isinstance(alpha, float) \
                else float(alpha >= sm.alpha_cutoff)
        if isinstance(alpha, float):
            bsdf.inputs["Alpha"].default_value = alpha
        else:
            links.new(alpha, bsdf.inputs["Alpha"])
    finish(mat.node_tree)
    return mat


def jittered(mat: "bpy.types.Material", name: str) -> "bpy.types.Material":
    """A copy ``name`` of a material a file's importer made (a rigged model's: Blender's glTF or FBX
    importer, its textures and nodes as it made them) that reads the object's jitter as
    :func:`own_material` does: each Principled BSDF's base colour (its texture, or its colour)
    through the hue/saturation/value of :data:`JITTER_PROPS`, its roughness times theirs (clamped).
    The original is left as it is."""
    out = mat.copy()
    out.name = name
    nodes, links = out.node_tree.nodes, out.node_tree.links
    for bsdf in [n for n in nodes if n.type == "BSDF_PRINCIPLED"]:
        base, rough = bsdf.inputs["Base Color"], bsdf.inputs["Roughness"]
        _jitter(nodes, links, base.links[0].from_socket if base.is_linked else base.default_value, base,
                rough.links[0].from_socket if rough.is_linked else float(rough.default_value), rough)
    return out
