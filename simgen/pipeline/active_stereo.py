"""sensor.depth's active stereo in the frame loop (``loop``: its :class:`simgen.pipeline.loop.FrameLoop`):
after each frame's render the renderer's ``render_ir`` renders the dot projector's infrared pair
(:mod:`simgen.blender.projector`); the worker reads it into the frame's labels (``FrameLabels.ir``), and the
``ir_left``, ``ir_right`` and ``sensor_depth`` kinds (:mod:`simgen.labels.sensors`) make the 8-bit images and
the matched depth from it."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from simgen.errors import SimgenError
from simgen.optics.camera import stereo_offset
from simgen.pipeline.renderer import Passes, RenderedFrame
from simgen.scene.data import Scene
from simgen.sensors.active_stereo import DEVICES, StereoDevice

log = logging.getLogger(__name__)

IR_SEED = 0x49524952
"""XOR'ed into a frame's sampling seed for its infrared pair's renders."""
_warned: set[int] = set()


@dataclass
class IRFrame:
    """A frame's render and its infrared pair's (loaded: the frame's passes with ``passes["ir"]``, (2, H, W)
    float32 linear grey of the left and right views)."""

    frame: RenderedFrame
    ir: Any

    def load(self, total_stops: float | None = None) -> Passes:
        passes = self.frame.load(total_stops)
        passes["ir"] = self.ir.load()
        return passes


def projector_pose(left_camera_to_world: np.ndarray, baseline: float) -> np.ndarray:
    """The projector's pose (OpenCV axes, shining along +z): the left camera's, moved half the baseline along
    its x axis (halfway between the two infrared cameras)."""
    shift = np.eye(4)
    shift[0, 3] = baseline / 2
    return np.asarray(left_camera_to_world, float) @ shift


def ir_cameras(scene: Scene, device: StereoDevice):
    """The infrared pair: the frame's camera on the left, the right one ``device.baseline`` to its right."""
    left = scene.camera
    return left, dataclasses.replace(left, world_to_camera=stereo_offset(left.world_to_camera, device.baseline))


def ir_frame(loop: Any, scene: Scene | None, files: RenderedFrame, seed: int) -> RenderedFrame:
    """``files`` with the frame's infrared pair rendered beside them when sensor.depth is an active stereo
    camera (else ``files``)."""
    s = loop.settings.sensor
    if scene is None or s.depth not in DEVICES:
        return files
    render_ir = getattr(loop.backend, "render_ir", None)
    if render_ir is None:
        raise SimgenError(f"sensor.depth={s.depth} renders an infrared pair, which needs simgen's Blender renderer; "
                          f"{type(loop.backend).__name__} does not render one: drop sensor.depth")
    device = DEVICES[s.depth]
    left, right = ir_cameras(scene, device)
    fx, width = float(left.K[0, 0]), left.width
    hfov = math.degrees(2 * math.atan(width / 2 / fx))
    if abs(hfov - device.hfov_deg) > 1.0 and id(loop) not in _warned:
        _warned.add(id(loop))
        log.warning("sensor.depth=%s: the camera's horizontal field of view is %.1f deg, the device's %.0f deg; "
                    "for the device's, set camera.focal_length=[%.2f,%.2f] (with camera.sensor_width=36)",
                    s.depth, hfov, device.hfov_deg, 18 / math.tan(math.radians(device.hfov_deg / 2)),
                    18 / math.tan(math.radians(device.hfov_deg / 2)))
    pitch = float(s.depth_dot_pitch) / fx  # the pattern's spacing in the tangent plane
    ir = render_ir(left, right, projector_pose(left.camera_to_world, device.baseline), pitch, seed=seed ^ IR_SEED)
    return IRFrame(files, ir)
