"""sensor.lidar in the frame loop (``loop``: its :class:`simgen.pipeline.loop.FrameLoop`): each
frame's scanner turn rendered after the frame (by the renderer's ``render_scan``), its points made
on the worker (:mod:`simgen.sensors.lidar`) and written beside the frame's files
(:mod:`simgen.io.formats.lidar`), what was drawn in the meta's ``sensor.lidar``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from simgen.errors import SimgenError
from simgen.io.formats.lidar import write_scan
from simgen.pipeline.frames import frame_position
from simgen.pipeline.renderer import Passes, RenderedFrame
from simgen.scene.data import Scene
from simgen.sensors.lidar import lidar_rng, point_cloud, scanner, scanner_to_world

SCAN_SEED = 0x4C494452
"""XOR'ed into a frame's sampling seed for its scan's render."""


@dataclass
class ScannedFrame:
    """A frame's render and its scanner's (loaded: the frame's passes with the scan's returns as
    ``passes["lidar"]``, :class:`simgen.sensors.lidar.Returns`)."""

    frame: RenderedFrame
    scan: Any
    """The renderer's scan (``load()`` -> Returns)."""

    def load(self, total_stops: float | None = None) -> Passes:
        passes = self.frame.load(total_stops)
        passes["lidar"] = self.scan.load()
        return passes


def scan_frame(loop: Any, index: int, scene: Scene | None, files: RenderedFrame, seed: int) -> RenderedFrame:
    """``files`` with frame ``index``'s scan rendered beside them when sensor.lidar is on (else ``files``)."""
    s = loop.settings.sensor
    if not s.lidar or scene is None:
        return files
    render_scan = getattr(loop.backend, "render_scan", None)
    if render_scan is None:
        raise SimgenError(f"sensor.lidar={s.lidar} needs a renderer that renders scans (simgen's Blender one); "
                          f"{type(loop.backend).__name__} does not: drop sensor.lidar")
    pose = scanner_to_world(scene.camera.camera_to_world, s.lidar_offset)
    return ScannedFrame(files, render_scan(scanner(s.lidar), s.lidar_rpm, pose, seed=seed ^ SCAN_SEED))


@dataclass
class Scan:
    """A frame's points and what the meta records of them."""

    cloud: dict[str, np.ndarray]
    meta: dict


def make_scan(loop: Any, index: int, scene: Scene, raw: Passes) -> Scan | None:
    """Frame ``index``'s points from its scan's returns (None when it has none)."""
    returns = raw.get("lidar")
    if returns is None:
        return None
    s = loop.settings.sensor
    device = scanner(s.lidar)
    pose = scanner_to_world(scene.camera.camera_to_world, s.lidar_offset)
    category_of = {o.instance_id: o.category_id for o in scene.objects}
    rng = lidar_rng(loop.settings.seed, index) if s.lidar_noise else None
    cloud, report = point_cloud(returns, device, s.lidar_rpm, pose, category_of, rng, s.lidar_grazing,
                                s.lidar_min_reflectivity)
    period = 60.0 / s.lidar_rpm
    step = frame_position(loop.settings, index)[1]
    cloud["time"] = cloud["time"] + step * period  # a sequence's step k is the scanner's turn k
    elevations = [float(e) for e in device.elevations]
    meta = {
        "scanner": device.name, "model": device.model, "rpm": float(s.lidar_rpm), "period": period,
        "turn_start": step * period, "rings": len(elevations), "columns": device.columns(s.lidar_rpm),
        "elevations": elevations, "azimuth_step": device.azimuth_step(s.lidar_rpm),
        "max_range": device.max_range, "scanner_to_world": [[float(v) for v in row] for row in pose],
        "frame": "x forward, y left, z up (KITTI); azimuth clockwise from x seen from above",
        "noise": bool(s.lidar_noise), "grazing": float(s.lidar_grazing),
        "min_reflectivity": float(s.lidar_min_reflectivity), **report,
    }
    return Scan(cloud, meta)


def write_frame_scan(loop: Any, out: Any, scan: Scan) -> None:
    """Write frame ``out``'s scan files (lidar/NNNNNN.bin and .ply, named by the frame's index alone, as
    every label file is) and record the scan in its meta's ``sensor.lidar``."""
    _, folders = write_scan(loop.writer.root, out.index, scan.cloud)
    loop.writer._touched(*folders)  # the frame's commit makes their entries durable before its meta
    out.meta.setdefault("sensor", {})["lidar"] = scan.meta
