"""The frame loop's part of a rolling shutter (sensor.rolling_shutter_ms; the model:
:mod:`simgen.sensors.rolling_shutter`): a frame rendered band by band, each band from the scene at its
own time, the bands' passes stacked into the frame's before any label is made."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from simgen.config import Settings
from simgen.errors import SimgenError
from simgen.io.exr import RenderedFiles
from simgen.pipeline.renderer import Passes, StereoFrame
from simgen.sampling.random import render_seed
from simgen.scene.data import Scene
from simgen.sensors import rolling_shutter as rs

log = logging.getLogger("simgen.pipeline")

RIGHT_SEED = 0x52494748
"""simgen.pipeline.loop.RIGHT_SEED (a stereo pair's right view's seed), which this module cannot import."""


def row_timing(settings: Settings) -> rs.RowTiming | None:
    """The run's row timing (None: a global shutter); says once that its bands are not denoised."""
    q = settings.sensor
    rows = rs.timing(q.rolling_shutter_ms, settings.sequence.fps, q.rolling_shutter_bands, settings.render.height)
    if rows is not None and settings.render.denoise:
        log.warning("sensor.rolling_shutter_ms renders each frame in bands, which are not denoised (the denoiser would "
                    "see one band at a time): render.denoise is ignored; raise render.samples for a cleaner image")
    return rows


@dataclass
class BandedFrame:
    """A rolling-shutter frame's band renders on their way to the worker: loaded, the bands' channels
    stacked into one frame's and decoded once (one metering and tone for the whole frame), the normal
    pass turned to each band's camera (:func:`simgen.sensors.rolling_shutter.carry_normals`)."""

    files: list[RenderedFiles]
    rows: rs.RowTiming
    band_w2c: list[np.ndarray]
    frame_w2c: np.ndarray

    def load(self, total_stops: float | None = None) -> Passes:
        channels = [f.channels() for f in self.files]
        parts = rs.stack_rows([c[0] for c in channels], self.rows)
        rgb = None if channels[0][1] is None else rs.stack_rows([c[1] for c in channels], self.rows)
        passes = self.files[0].decode(parts, rgb, total_stops)
        passes["normal"] = rs.carry_normals(passes["normal"], self.rows, self.band_w2c, self.frame_w2c)
        for f in self.files:
            f.delete()
        return passes


def render_rolling(loop: Any, index: int, scenes: Sequence[Scene], step: int) -> BandedFrame | StereoFrame:
    """Frame ``index`` (step ``step`` of the sequence ``scenes``) band by band: each band's scene
    built (stage ``build``) and its rows rendered (stage ``render``) with the frame's seed; a stereo rig's
    right camera renders the same rows at the same time (with the right view's seed). ``loop``: the
    :class:`simgen.pipeline.loop.FrameLoop` (its settings, rolling, backend, stage, build, forget_built)."""
    render_band = getattr(loop.backend, "render_band_to_files", None)
    if render_band is None:
        raise SimgenError(f"sensor.rolling_shutter_ms renders a frame in bands; the renderer "
                          f"{type(loop.backend).__name__} cannot (it has no render_band_to_files)")
    rows = loop.rolling
    seed = render_seed(loop.settings.seed, index)
    band_scenes = rs.band_scenes(scenes, step, rows)
    move = getattr(loop.backend, "move", None)
    files, right = [], []
    for b, (band, scene) in enumerate(zip(rows.bands, band_scenes)):
        if b == 0 or move is None:
            loop.stage("build", loop.build, scene)
        else:  # the same parts, moved: Cycles keeps its scene
            loop.stage("build", move, scene)
        files.append(loop.stage("render", render_band, seed, band))
        if scene.right is not None:
            loop.backend.view(scene.right)
            right.append(loop.stage("render", render_band, seed ^ RIGHT_SEED, band))
    loop.forget_built()  # the renderer holds the last band's poses
    left = BandedFrame(files, rows, [s.camera.world_to_camera for s in band_scenes], scenes[step].camera.world_to_camera)
    if not right:
        return left
    return StereoFrame(left, BandedFrame(right, rows, [s.right.world_to_camera for s in band_scenes],
                                        scenes[step].right.world_to_camera))


def note_rolling(meta: dict, rows: rs.RowTiming, step: int, settings: Settings) -> None:
    """Frame meta of a rolling-shutter frame: no flow (``flow`` says so for every direction, as at a
    sequence's end) and ``sensor.rolling_shutter`` (:func:`simgen.sensors.rolling_shutter.record`)."""
    q = settings.sensor
    meta["flow"] = {"forward": None, "backward": None}
    meta.setdefault("sensor", {})[rs.KEY] = rs.record(rows, step, q.rolling_shutter_ms, settings.sequence.fps)
