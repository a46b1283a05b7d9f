"""sensor.lidar in the frame loop (``loop``: its :class:`simgen.pipeline.loop.FrameLoop`): each
frame's scanner turn rendered after the frame (by the renderer's ``render_scan``), its points made
on the worker (:mod:`simgen.sensors.lidar`) and written beside the frame's files
(:mod:`simgen.io.formats.lidar`), what was drawn in the meta's ``sensor.lidar``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from simgen.errors import SimgenError
from simgen.io.formats.lidar import SectorFiles, write_scan
from simgen.pipeline.frames import frame_position
from simgen.pipeline.renderer import Passes, RenderedFrame
from simgen.scene.data import Scene
from simgen.sensors.lidar import lidar_rng, point_cloud, scanner, scanner_to_world
from simgen.sensors.motion import scene_at

SCAN_SEED = 0x4C494452
"""XOR'ed into a frame's sampling seed for its scan's render."""


@dataclass(frozen=True)
class Sector:
    """A run of columns of a turn rendered from the scene at one time (sensor.lidar_sectors)."""

    columns: tuple[int, int]
    """``[first, end)``."""
    time: float
    """Seconds from the start of the turn: when the sector's middle column fires."""
    scanner_to_world: np.ndarray
    """(4, 4) the scanner's pose then."""

    def to_dict(self) -> dict:
        return {"columns": list(self.columns), "time": self.time,
                "scanner_to_world": [[float(v) for v in row] for row in self.scanner_to_world]}


@dataclass
class ScannedFrame:
    """A frame's render and its scanner's (loaded: the frame's passes with the scan's returns as
    ``passes["lidar"]``, :class:`simgen.sensors.lidar.Returns`, and its sectors as
    ``passes["lidar_sectors"]``)."""

    frame: RenderedFrame
    scan: Any
    """The renderer's scan (``load()`` -> Returns)."""
    sectors: tuple[Sector, ...]

    def load(self, total_stops: float | None = None) -> Passes:
        passes = self.frame.load(total_stops)
        passes["lidar"] = self.scan.load()
        passes["lidar_sectors"] = self.sectors
        return passes


def sector_columns(columns: int, count: int) -> list[tuple[int, int]]:
    """``count`` runs of columns, as even as whole columns make them, covering ``columns``."""
    edges = np.linspace(0, columns, min(count, columns) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


SETTING, OFF = "sensor.lidar_sectors", "1"
"""The setting the refusals of the scene between steps (:mod:`simgen.sensors.motion`) name, and its off value."""


def turn_start(settings: Any, step: int) -> float:
    """Seconds from a sequence's start to step ``step``'s turn: the step's time, step / sequence.fps."""
    return step / float(settings.sequence.fps)


def scan_frame(loop: Any, index: int, scene: Scene | None, files: RenderedFrame, seed: int) -> RenderedFrame:
    """``files`` with frame ``index``'s scan rendered beside them when sensor.lidar is on (else ``files``).
    With sensor.lidar_sectors > 1 the turn is rendered sector by sector, each from the sequence's scene at
    its middle column's time (step k's turn starts at step k, k / sequence.fps seconds, and lasts one period,
    60 / rpm seconds: a sector at a share u of the turn sees the scene at step k + u x period x fps,
    :func:`simgen.sensors.motion.scene_at`, which goes on past the last step as the last interval moved),
    the renderer's scene moved there (its ``move``) and back."""
    s = loop.settings.sensor
    if not s.lidar or scene is None:
        return files
    render_scan = getattr(loop.backend, "render_scan", None)
    if render_scan is None:
        raise SimgenError(f"sensor.lidar={s.lidar} needs a renderer that renders scans (simgen's Blender one); "
                          f"{type(loop.backend).__name__} does not: drop sensor.lidar")
    device, rpm = scanner(s.lidar), s.lidar_rpm
    columns = device.columns(rpm)
    steps = getattr(loop, "steps", None) or [scene]
    if s.lidar_sectors <= 1 or len(steps) < 2:
        pose = scanner_to_world(scene.camera.camera_to_world, s.lidar_offset)
        sector = Sector((0, columns), 0.0, pose)
        return ScannedFrame(files, render_scan(device, rpm, pose, seed=seed ^ SCAN_SEED), (sector,))
    step = frame_position(loop.settings, index)[1]
    period = 60.0 / rpm
    sectors, scans = [], []
    try:
        for first, end in sector_columns(columns, s.lidar_sectors):
            share = (first + end - 1) / 2 / columns  # the middle column's share of the turn
            at = scene_at(steps, step + share * period * loop.settings.sequence.fps, SETTING, OFF)
            loop.backend.move(at)
            pose = scanner_to_world(at.camera.camera_to_world, s.lidar_offset)
            sectors.append(Sector((first, end), share * period, pose))
            scans.append(render_scan(device, rpm, pose, seed=seed ^ SCAN_SEED, sector=(first, end)))
    finally:
        loop.backend.move(scene)  # the renderer holds the step's scene again
    return ScannedFrame(files, SectorFiles(tuple(scans)), tuple(sectors))


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
    sectors = raw["lidar_sectors"]
    pose = scanner_to_world(scene.camera.camera_to_world, s.lidar_offset)
    poses = np.empty((device.columns(s.lidar_rpm), 4, 4))
    for sector in sectors:
        poses[sector.columns[0]:sector.columns[1]] = sector.scanner_to_world
    category_of = {o.instance_id: o.category_id for o in scene.objects}
    rng = lidar_rng(loop.settings.seed, index) if s.lidar_noise else None
    cloud, report = point_cloud(returns, device, s.lidar_rpm, poses, category_of, rng, s.lidar_grazing,
                                s.lidar_min_reflectivity)
    period = 60.0 / s.lidar_rpm
    step = frame_position(loop.settings, index)[1]
    start = turn_start(loop.settings, step)
    cloud["time"] = cloud["time"] + start  # step k's turn starts at the step's time
    elevations = [float(e) for e in device.elevations]
    meta = {
        "scanner": device.name, "model": device.model, "rpm": float(s.lidar_rpm), "period": period,
        "turn_start": start, "rings": len(elevations), "columns": device.columns(s.lidar_rpm),
        "elevations": elevations, "azimuth_step": device.azimuth_step(s.lidar_rpm),
        "max_range": device.max_range, "scanner_to_world": [[float(v) for v in row] for row in pose],
        "frame": "x forward, y left, z up (KITTI); azimuth clockwise from x seen from above",
        **({"sectors": [sector.to_dict() for sector in sectors]} if len(sectors) > 1 else {}),
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
