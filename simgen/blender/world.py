"""The world's nodes: what lights the scene from afar and what the camera sees where it hits
nothing.

One Blender world per backend, its nodes made once and relinked per frame: a uniform colour,
a physical sky or an HDRI (rotated about the vertical) feeds the Background; optionally a
backdrop (a photo fitted to the frame, or a plain colour) is shown to camera rays only, so the
world still lights the scene with its own light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import bpy

from simgen.scene.data import World


def world_nodes(bw: bpy.types.World):
    """The world's Background node plus a sky, an environment texture and its Z-rotation
    mapping, created once; :func:`set_world` links the one a frame needs."""
    nt = bw.node_tree
    nodes = nt.nodes
    if "simgen_sky" not in nodes:
        sky = nodes.new("ShaderNodeTexSky")
        sky.name = "simgen_sky"
        types = sky.bl_rna.properties["sky_type"].enum_items.keys()
        # Blender 5 renamed NISHITA to MULTIPLE_SCATTERING (SINGLE_SCATTERING is the cheap one)
        sky.sky_type = next(t for t in ("MULTIPLE_SCATTERING", "NISHITA", "HOSEK_WILKIE") if t in types)
        coord = nodes.new("ShaderNodeTexCoord")
        coord.name = "simgen_coord"
        mapping = nodes.new("ShaderNodeMapping")
        mapping.name = "simgen_mapping"
        env = nodes.new("ShaderNodeTexEnvironment")
        env.name = "simgen_env"
        env.projection = "EQUIRECTANGULAR"
        nt.links.new(coord.outputs["Generated"], mapping.inputs["Vector"])
        nt.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
    return nodes["Background"], nodes["simgen_sky"], nodes["simgen_mapping"], nodes["simgen_env"]


def backdrop_nodes(bw: bpy.types.World):
    """Nodes showing a photo to camera rays only: Light Path's Is Camera Ray mixes the
    world's Background (every other ray) with a second Background holding the image,
    addressed by window (screen) coordinates; created once."""
    nt = bw.node_tree
    nodes = nt.nodes
    if "simgen_backdrop" not in nodes:
        coord = nodes.new("ShaderNodeTexCoord")
        coord.name = "simgen_window"
        fit = nodes.new("ShaderNodeMapping")
        fit.name = "simgen_backdrop_fit"
        tex = nodes.new("ShaderNodeTexImage")
        tex.name = "simgen_backdrop_image"
        tex.extension = "EXTEND"
        bg = nodes.new("ShaderNodeBackground")
        bg.name = "simgen_backdrop"
        bg.inputs["Strength"].default_value = 1.0
        path = nodes.new("ShaderNodeLightPath")
        path.name = "simgen_light_path"
        mix = nodes.new("ShaderNodeMixShader")
        mix.name = "simgen_backdrop_mix"
        nt.links.new(coord.outputs["Window"], fit.inputs["Vector"])
        nt.links.new(fit.outputs["Vector"], tex.inputs["Vector"])
        nt.links.new(tex.outputs["Color"], bg.inputs["Color"])
        nt.links.new(path.outputs["Is Camera Ray"], mix.inputs[0])
        nt.links.new(nodes["Background"].outputs["Background"], mix.inputs[1])
        nt.links.new(bg.outputs["Background"], mix.inputs[2])
    return nodes["simgen_backdrop_image"], nodes["simgen_backdrop_fit"], nodes["simgen_backdrop_mix"]


def set_world(bw: bpy.types.World, world: World, image: Callable[[Path], bpy.types.Image],
              frame_aspect: float) -> None:
    """Link ``bw``'s nodes for ``world``; ``image(path)`` loads an HDRI or a photo once;
    ``frame_aspect``: the render's width / height (a backdrop photo covers the frame)."""
    bg, sky, mapping, env = world_nodes(bw)
    links = bw.node_tree.links
    for link in list(bg.inputs["Color"].links):
        links.remove(link)
    if world.kind == "sky":
        sky.sun_elevation, sky.sun_rotation = world.sun_elevation, world.sun_azimuth
        links.new(sky.outputs["Color"], bg.inputs["Color"])
    elif world.kind == "hdri":
        env.image = image(Path(world.hdri_path))
        mapping.inputs["Rotation"].default_value = (0.0, 0.0, world.rotation)
        links.new(env.outputs["Color"], bg.inputs["Color"])
    else:
        bg.inputs["Color"].default_value = (*world.color, 1.0)
    bg.inputs["Strength"].default_value = world.strength
    out = next(n for n in bw.node_tree.nodes if n.bl_idname == "ShaderNodeOutputWorld")
    for link in list(out.inputs["Surface"].links):
        links.remove(link)
    if world.backdrop is None and world.plain_backdrop is None:
        links.new(bg.outputs["Background"], out.inputs["Surface"])
        return
    tex, fit, mix = backdrop_nodes(bw)
    seen = bw.node_tree.nodes["simgen_backdrop"]
    for link in list(seen.inputs["Color"].links):
        links.remove(link)
    links.new(mix.outputs["Shader"], out.inputs["Surface"])
    if world.backdrop is None:  # a plain colour for camera rays; the world lights the rest
        seen.inputs["Color"].default_value = (*world.plain_backdrop, 1.0)
        return
    links.new(tex.outputs["Color"], seen.inputs["Color"])
    tex.image = image(Path(world.backdrop))
    w, h = tex.image.size
    sx, sy = (frame_aspect / (w / h), 1.0) if w / h > frame_aspect else (1.0, (w / h) / frame_aspect)  # cover
    fit.inputs["Scale"].default_value = (sx, sy, 1.0)
    fit.inputs["Location"].default_value = (0.5 - 0.5 * sx, 0.5 - 0.5 * sy, 0.0)


def release_images(bw: bpy.types.World) -> None:
    """Unlink the HDRI and the backdrop photo from ``bw``'s nodes (before the images go)."""
    world_nodes(bw)[3].image = None
    if "simgen_backdrop" in bw.node_tree.nodes:
        backdrop_nodes(bw)[0].image = None
