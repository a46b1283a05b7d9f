"""The scene's camera: one Blender camera per backend, placed and shaped per frame from the
pinhole model of :class:`simgen.scene.data.Camera` (K, pose, clipping, depth of field)."""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from simgen.optics.camera import BLENDER_TO_OPENCV, blender_lens
from simgen.scene.data import Camera

FIRST_SAMPLE_OFFSET = 3.5103e-4
"""Where Cycles traces a pixel's first sample, the one its Depth, Object Index and (mostly)
Normal passes keep: this many filter widths right of and above the pixel centre (+u, -v in
OpenCV axes), the same for every pixel, seed and sample count. Its filter is sampled through
a 1024-entry inverse-CDF table symmetric about entry 511 but read at 511.5 for the first
sample: half the table's first step, 0.35875 / 1022 of the width for the Blackman-Harris
filter. Measured 3.51e-4 (+-1e-6) at widths 0.5 to 3 by tests/test_exact_labels.py."""


def new_camera(scene: bpy.types.Scene) -> bpy.types.Object:
    """A camera object (horizontal sensor fit) linked to ``scene`` as its camera."""
    cam = bpy.data.cameras.new("simgen_camera")
    cam.sensor_fit = "HORIZONTAL"
    ob = bpy.data.objects.new("simgen_camera", cam)
    scene.collection.objects.link(ob)
    scene.camera = ob
    return ob


def set_camera(ob: bpy.types.Object, cam: Camera, resolution: tuple[int, int], exact_labels: bool,
               filter_width: float) -> None:
    """Shape and place camera object ``ob`` as ``cam`` says. ``resolution``: the render's
    (width, height), which must be the camera's; ``exact_labels`` (render.exact_labels): shift
    the lens so that the first sample of each pixel (the labels') lands on the pixel centre of
    K, by :data:`FIRST_SAMPLE_OFFSET` of ``filter_width``."""
    if (cam.width, cam.height) != tuple(resolution):
        raise ValueError(f"scene camera is {cam.width}x{cam.height} but the renderer is set up for "
                         f"{resolution[0]}x{resolution[1]}")
    data = ob.data
    data.type = "PERSP"  # after a lens camera (simgen.blender.lens_camera), Cycles' own pinhole again
    K = cam.K
    if exact_labels:  # move the first sample onto the pixel centre of K
        K = K + np.array([[0, 0, 1], [0, 0, -1], [0, 0, 0]]) * FIRST_SAMPLE_OFFSET * filter_width
    lens = blender_lens(K, cam.width, cam.height, cam.sensor_width)
    data.lens, data.sensor_width = lens["lens"], lens["sensor_width"]
    data.shift_x, data.shift_y = lens["shift_x"], lens["shift_y"]
    data.clip_start, data.clip_end = cam.clip_start, cam.clip_end
    data.dof.use_dof = cam.fstop > 0
    if cam.fstop > 0:
        data.dof.aperture_fstop, data.dof.focus_distance = cam.fstop, cam.focus_distance
    ob.matrix_world = Matrix((cam.camera_to_world @ BLENDER_TO_OPENCV).tolist())
