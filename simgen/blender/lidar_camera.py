"""A LiDAR scan through Cycles (sensor.lidar): a custom camera whose OSL shader gives each pixel
of a (rings x columns) render one beam of a spinning scanner (:mod:`simgen.sensors.lidar`), the
route of the calibrated lenses (:mod:`simgen.blender.lens_camera`). One sample, no denoiser: the
label passes keep the first sample, moved onto the pixel centre as the lenses' is. Each beam gets
its ray length (Cycles' Depth pass through a custom camera), object index, geometric normal (the
normal AOV every material writes) and diffuse albedo (the Diffuse Color pass).

The scan has a camera object of its own (the frame's camera keeps its shader and settings); the
scene's camera, resolution and sampling are the frame's again once the scan is rendered. Cycles
runs OSL on the CPU and, on GPUs, with OptiX only (:data:`simgen.blender.lens_camera.DEVICES`).
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from simgen.blender import render
from simgen.blender.camera import FIRST_SAMPLE_OFFSET
from simgen.blender.lens_camera import _cycles_osl
from simgen.blender.session import BlenderLog
from simgen.errors import SimgenError
from simgen.io.formats.lidar import ScanFiles
from simgen.optics.camera import BLENDER_TO_OPENCV
from simgen.sensors.lidar import SCANNER_TO_CAMERA, Scanner

SHADER_NAME = "simgen_lidar.osl"

SHADER = r"""
shader simgen_lidar(
    float W = 1, float H = 1, float du = 0, float dv = 0, float e0 = 0, float de = 1, float da = 1,
    output point position = 0, output vector direction = 0, output color throughput = 1)
{
    point r = camera_shader_raster_position();                  // 0..1 across the image, y up
    float pu = r[0] * W - 0.5 - du, pv = (1 - r[1]) * H - 0.5 + dv;  // column, ring: centres at integers
    float e = radians(e0 + pv * de), a = radians(pu * da);     // elevation, azimuth (clockwise from ahead)
    position = point(0, 0, 0);
    direction = vector(cos(e) * sin(a), sin(e), cos(e) * cos(a));  // OSL camera axes: x right, y up, z ahead
}
"""


def lidar_camera(scene: bpy.types.Scene) -> bpy.types.Object:
    """The scan's camera object (made once, linked to ``scene``), running :data:`SHADER`."""
    ob = bpy.data.objects.get("simgen_lidar")
    if ob is None:
        ob = bpy.data.objects.new("simgen_lidar", bpy.data.cameras.new("simgen_lidar"))
        scene.collection.objects.link(ob)
    data = ob.data
    osl = _cycles_osl()
    text = bpy.data.texts.get(SHADER_NAME) or bpy.data.texts.new(SHADER_NAME)
    if text.as_string() != SHADER:
        text.from_string(SHADER)
    data.type, data.custom_mode, data.custom_shader = "CUSTOM", "INTERNAL", text
    if not data.custom_bytecode:
        messages: list[str] = []
        osl.update_custom_camera_shader(data, lambda kind, message: messages.append(f"{kind}: {message}"))
        if not data.custom_bytecode:
            raise SimgenError("Cycles could not compile the LiDAR shader: " + ("; ".join(messages) or "no message"))
    return ob


def render_scan(scene: bpy.types.Scene, scanner: Scanner, rpm: float, scanner_to_world: np.ndarray, exr: Path,
                seed: int, exact_labels: bool, scratch_need: int, blender_log: BlenderLog,
                sector: tuple[int, int] | None = None) -> ScanFiles:
    """Render one turn of ``scanner`` at ``rpm`` from ``scanner_to_world`` (4x4, the scanner's
    axes: x forward, y left, z up) into ``exr``, or only the columns ``sector`` (``[first, end)``: a
    part of the turn; Blender's render border, cropped); the scene's camera, resolution, sampling and
    border are restored afterwards."""
    ob = lidar_camera(scene)
    columns, rings = scanner.columns(rpm), len(scanner.elevations)
    off = FIRST_SAMPLE_OFFSET * scene.cycles.filter_width if exact_labels else 0.0
    params = ob.data.cycles_custom
    for key, value in {"W": columns, "H": rings, "du": off, "dv": off, "e0": scanner.elevations[0],
                       "de": scanner.elevation_step, "da": scanner.azimuth_step(rpm)}.items():
        params[key] = float(value)
    ob.data.clip_start, ob.data.clip_end = 1e-4, 2.0 * scanner.max_range
    camera_to_world = np.asarray(scanner_to_world, float).copy()
    camera_to_world[:3, :3] = camera_to_world[:3, :3] @ SCANNER_TO_CAMERA.T  # the OpenCV camera of the shader
    ob.matrix_world = Matrix((camera_to_world @ BLENDER_TO_OPENCV).tolist())
    r, c, vl = scene.render, scene.cycles, scene.view_layers[0]
    saved = (scene.camera, r.resolution_x, r.resolution_y, c.samples, c.use_denoising, c.use_adaptive_sampling,
             r.use_border, r.use_crop_to_border, r.border_min_x, r.border_max_x, r.border_min_y, r.border_max_y)
    vl.use_pass_diffuse_color = True  # stays on: toggling passes would have Cycles sync its kept scene anew
    scene.camera, r.resolution_x, r.resolution_y = ob, columns, rings
    c.samples, c.use_denoising, c.use_adaptive_sampling = 1, False, False
    if sector is not None:  # Blender makes whole pixels of the border's float32 fractions: a quarter
        first, end = sector  # column's margin lands either way on the sector's own columns
        r.use_border, r.use_crop_to_border = True, True
        r.border_min_x, r.border_max_x = (first + 0.25) / columns, min(1.0, (end + 0.25) / columns)
        r.border_min_y, r.border_max_y = 0.0, 1.0
    try:
        render.render_exr(scene, exr, seed, scratch_need, blender_log)
    finally:
        (scene.camera, r.resolution_x, r.resolution_y, c.samples, c.use_denoising, c.use_adaptive_sampling,
         r.use_border, r.use_crop_to_border, r.border_min_x, r.border_max_x, r.border_min_y, r.border_max_y) = saved
    return ScanFiles(exr, sector)
