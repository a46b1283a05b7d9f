"""An active stereo camera's infrared pair (sensor.depth=realsense_d435, :mod:`simgen.sensors.active_stereo`):
a dot projector, a spot light whose emission is masked by a dot pattern, lights the built scene alone (its
lamps hidden, a black world: the sensor's narrow near-infrared band sees its own light), and Cycles renders
the left and right infrared views with the scene's materials. Everything is as before once they are
rendered (lamps, world, denoiser; the frame's camera looks through the left view).

The pattern: in the projector's own axes a ray's direction (x, y, z) meets the plane z = 1 at (x/z, y/z);
a Voronoi texture of scale ``1 / pitch`` there (one feature point, at a random place, in each cell of a
grid ``pitch`` apart) is lit where a point is nearer than a quarter of the pitch: a fixed pseudo-random dot
pattern, the same in every frame, as a real projector's diffractive element makes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import bpy
import numpy as np
from mathutils import Matrix

from simgen.blender import render
from simgen.io.exr import read_linear
from simgen.optics.camera import BLENDER_TO_OPENCV

PROJECTOR = "simgen_projector"
IR_WORLD = "simgen_ir_world"
ENERGY_W = 100.0
"""The spot light's power (the IR images are exposed automatically: only ratios matter)."""
DOT_RADIUS = 0.25
"""A dot's radius in cells of the pattern's grid."""


def projector(scene: bpy.types.Scene) -> bpy.types.Object:
    """The projector's spot light (made once, linked to ``scene``, hidden from renders until used)."""
    ob = bpy.data.objects.get(PROJECTOR)
    if ob is not None:
        return ob
    light = bpy.data.lights.new(PROJECTOR, "SPOT")
    light.spot_size, light.spot_blend, light.energy, light.shadow_soft_size = math.radians(150), 0.0, ENERGY_W, 0.0
    light.use_nodes = True
    nt = light.node_tree
    nodes = nt.nodes
    emission = next(n for n in nodes if n.type == "EMISSION")
    for n in [n for n in nodes if n.type not in ("OUTPUT_LIGHT", "EMISSION")]:
        nodes.remove(n)
    coords = nodes.new("ShaderNodeTexCoord")
    xyz = nodes.new("ShaderNodeSeparateXYZ")
    nt.links.new(coords.outputs["Normal"], xyz.inputs[0])
    plane = nodes.new("ShaderNodeCombineXYZ")
    for axis in (0, 1):
        ratio = nodes.new("ShaderNodeMath")
        ratio.operation = "DIVIDE"
        nt.links.new(xyz.outputs[axis], ratio.inputs[0])
        nt.links.new(xyz.outputs[2], ratio.inputs[1])
        nt.links.new(ratio.outputs[0], plane.inputs[axis])
    dots = nodes.new("ShaderNodeTexVoronoi")
    dots.name = "dots"
    nt.links.new(plane.outputs[0], dots.inputs["Vector"])
    lit = nodes.new("ShaderNodeMath")
    lit.operation = "LESS_THAN"
    lit.inputs[1].default_value = DOT_RADIUS
    nt.links.new(dots.outputs["Distance"], lit.inputs[0])
    nt.links.new(lit.outputs[0], emission.inputs["Strength"])
    ob = bpy.data.objects.new(PROJECTOR, light)
    scene.collection.objects.link(ob)
    ob.hide_render = True
    return ob


def dark_world() -> bpy.types.World:
    world = bpy.data.worlds.get(IR_WORLD)
    if world is None:
        world = bpy.data.worlds.new(IR_WORLD)  # with a node tree (Blender 5)
        bg = world.node_tree.nodes["Background"]
        bg.inputs["Color"].default_value = (0.0, 0.0, 0.0, 1.0)
        bg.inputs["Strength"].default_value = 0.0
    return world


@dataclass
class IRFiles:
    """The infrared pair's renders; :meth:`load` reads them (no Blender: a worker thread may) and deletes them."""

    left: Path
    right: Path

    def load(self) -> np.ndarray:
        """(2, H, W) float32 linear grey (Rec. 709 luminance) of the left and right views."""
        out = []
        for path in (self.left, self.right):
            rgb = read_linear(path)
            out.append(rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722)
            path.unlink()
        return np.stack(out).astype(np.float32)


def render_pair(scene: bpy.types.Scene, lamps: list, view_left: Callable[[], None], view_right: Callable[[], None],
                projector_to_world: np.ndarray, dot_pitch: float, exrs: tuple[Path, Path], seed: int,
                scratch_need: int, blender_log) -> IRFiles:
    """Render the built ``scene`` lit by the projector alone at ``projector_to_world`` (4x4, OpenCV camera
    axes: it shines along +z) through the left view, then the right (``view_left``/``view_right`` put the
    scene's camera there), into ``exrs``; ``dot_pitch``: the pattern's grid spacing in the tangent plane
    (radians near the axis)."""
    ob = projector(scene)
    ob.matrix_world = Matrix((np.asarray(projector_to_world, float) @ BLENDER_TO_OPENCV).tolist())
    ob.data.node_tree.nodes["dots"].inputs["Scale"].default_value = 1.0 / float(dot_pitch)
    c = scene.cycles
    saved = (scene.world, [lamp.hide_render for lamp in lamps], c.use_denoising)
    scene.world = dark_world()
    for lamp in lamps:
        lamp.hide_render = True
    ob.hide_render, c.use_denoising = False, False  # a camera's IR image is not denoised
    try:
        view_left()
        render.render_exr(scene, exrs[0], seed, scratch_need, blender_log)
        view_right()
        render.render_exr(scene, exrs[1], seed, scratch_need, blender_log)
    finally:
        ob.hide_render = True
        scene.world, c.use_denoising = saved[0], saved[2]
        for lamp, hidden in zip(lamps, saved[1]):
            lamp.hide_render = hidden
        view_left()
    return IRFiles(*exrs)
