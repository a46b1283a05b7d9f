"""A rolling shutter (sensor.rolling_shutter_ms; docs/how-to/sensors.md): the rows of a sequence's frame
read out one after another, each row's labels exact for its own time. Pure: no Blender, no files.

Time is counted in the sequence's steps: frame (step) t of a sequence is taken at time t, a step lasts
``1 / fps`` seconds (sequence.fps), and with a readout of ``rho`` steps
(``readout_ms / 1000 * fps``) row r of an H-row frame is exposed at time ``t + r / H * rho``: the top row
at the frame's own time t (so the meta's camera and poses are the top row's), the bottom row
``(H - 1) / H * rho`` later. Between two steps the scene moves as :func:`simgen.sensors.motion.scene_at`
defines it: each rigid part (object, light, camera) along the interpolation of its two poses (position
linear, rotation at a constant rate about one axis, scale linear); after a sequence's last step its last
interval's motion goes on. The frame is rendered in horizontal bands (:func:`bands`), each band as the
whole scene at its middle row's time (:meth:`RowTiming.band_times`) and cropped to its rows; the bands'
passes stacked (:func:`stack_rows`) are the frame's, so every label made from the passes (RGB, ids, depth,
normals, masks, boxes) holds for the time the meta states for its row. With one band a row
(``rolling_shutter_bands`` 0) that time is the row's own; with fewer a row's time is off by at most half a band's readout
(:attr:`RowTiming.max_error`). Labels made from a frame's poses rather than its pixels (flow, tracks,
keypoints, amodal masks) are refused (:data:`REFUSED_LABELS`). A stereo pair (camera.rig=stereo) is read
as two rolling shutters in step, row r of both cameras at the same time: the pair is rectified, so a left
pixel's match lies on the same row of the right image and the disparity and occlusion labels hold too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from simgen.errors import SimgenError
from simgen.scene.data import Scene
from simgen.sensors.motion import check_steps, scene_at

KEY = "rolling_shutter"
"""The frame meta's ``sensor`` key of this sensor's record (:func:`record`)."""
REFUSED_LABELS = ("visibility", "amodal", "keypoints", "tracks")
"""output.labels kinds a rolling-shutter run refuses: made from the frame's scene at one time (its poses,
the sequence's flow), not from the stacked rows, so no row's time would hold for them."""
REFUSED_FORMATS = ("bop", "nerfstudio", "yolo_pose", "tracks", "tapvid")
"""output.formats a rolling-shutter run refuses: they pair each frame with one pose of its objects or camera
(BOP's object poses, nerfstudio's camera), with keypoints or point tracks, which no single time of a
rolling-shutter frame makes."""


@dataclass(frozen=True)
class RowTiming:
    """When each row of an H-row frame is exposed, in steps after the frame's own time, and the bands
    it is rendered in."""

    height: int
    readout: float
    """Readout of the whole frame, in steps (sensor.rolling_shutter_ms / 1000 * sequence.fps)."""
    bands: tuple[tuple[int, int], ...]
    """Each band's rows ``[first, end)``, top first, covering 0..height."""

    def row_times(self) -> np.ndarray:
        """(H,) float64: row r's own exposure time, ``r / H * readout`` steps after the frame's."""
        return np.arange(self.height, dtype=np.float64) / self.height * self.readout

    def band_times(self) -> list[float]:
        """Each band's render time, in steps after the frame's: its middle row's (between two rows
        for an even band)."""
        return [(first + end - 1) / 2.0 / self.height * self.readout for first, end in self.bands]

    @property
    def max_error(self) -> float:
        """Largest difference, in steps, between a row's own time and its band's render time: 0 with
        one band a row, else half the tallest band's readout less half a row's."""
        return max((end - first - 1) / 2.0 for first, end in self.bands) / self.height * self.readout


def bands(height: int, count: int) -> tuple[tuple[int, int], ...]:
    """``count`` contiguous bands of near-equal height covering rows 0..height (0 or more than height:
    one band a row)."""
    n = height if count <= 0 or count > height else count
    edges = [k * height // n for k in range(n + 1)]
    return tuple((edges[k], edges[k + 1]) for k in range(n))


def timing(readout_ms: float, fps: float, band_count: int, height: int) -> RowTiming | None:
    """The row timing of sensor.rolling_shutter_ms ``readout_ms`` at ``fps`` steps a second with
    ``band_count`` bands (0: one a row), for frames ``height`` rows tall; None for a global shutter."""
    if readout_ms <= 0:
        return None
    return RowTiming(height=height, readout=readout_ms / 1000.0 * fps, bands=bands(height, band_count))


def check(settings: Any) -> None:
    """Refuse, in one line naming the key and the fix, what a rolling shutter cannot make exact
    (``settings``: the run's :class:`simgen.config.Settings`)."""
    q = settings.sensor
    readout_ms, fps = q.rolling_shutter_ms, settings.sequence.fps
    if readout_ms <= 0:
        return
    what = f"sensor.rolling_shutter_ms={readout_ms:g}"
    if settings.sequence.length < 2:
        raise SimgenError(f"{what} reads rows at different times, but sequence.length=1 renders still frames where "
                          "nothing moves: set sequence.length=2 or more, or sensor.rolling_shutter_ms=0")
    step_ms = 1000.0 / fps
    if readout_ms > step_ms * (1 + 1e-9):
        raise SimgenError(f"{what} is longer than one step at sequence.fps={fps:g} ({step_ms:.6g} ms): "
                          "a frame must be read out before the next begins; lower the readout or the fps")
    rig = settings.camera.rig
    if rig not in ("mono", "stereo"):
        raise SimgenError(f"{what} reads a moving camera's rows (one, or a stereo pair in step); camera.rig={rig} "
                          "is not supported with it: use camera.rig=mono or stereo")
    refused = [k for k in settings.output.labels if k in REFUSED_LABELS]
    if refused:
        raise SimgenError(f"{what}: output.labels={refused} come from the frame's scene at one time, not from its "
                          "rows' times, so they would not hold for a rolling shutter: drop them")
    refused = [f for f in settings.output.formats if f in REFUSED_FORMATS]
    if refused:
        raise SimgenError(f"{what}: output.formats={refused} pair a frame with one pose, keypoints or tracks, "
                          "which no single time of a rolling-shutter frame makes: drop them")
    if settings.sequence.formats:
        raise SimgenError(f"{what}: sequence.formats={list(settings.sequence.formats)} are flow files, and a "
                          "rolling-shutter run writes no flow: set sequence.formats=[]")
    blur = settings.effects.motion_blur_probability
    if blur > 0:
        raise SimgenError(f"{what}: effects.motion_blur_probability={blur:g} blurs along the flow, which a "
                          "rolling-shutter run does not make: set it to 0")
    o = settings.objects
    bending = [f"objects.cloth={o.cloth:g}"] if o.cloth > 0 else []
    bending += [f"objects.joint_motion={o.joint_motion}"] if o.joint_motion > 0 else []
    if o.people[1] > 0 and [m for m in settings.people.motion if m != "still"]:
        bending.append(f"people.motion={list(settings.people.motion)}")
    if bending:
        raise SimgenError(f"{what} moves rigid parts between steps; {', '.join(bending)} makes parts that bend, "
                          "whose in-between shapes simgen does not define: turn them off or set sensor.rolling_shutter_ms=0")


# ----------------------------------------------------------------- the scene between steps
SETTING, OFF = "sensor.rolling_shutter_ms", "0"
"""The setting the refusals of the scene between steps (:mod:`simgen.sensors.motion`) name, and its off value."""


def band_scenes(scenes: Sequence[Scene], step: int, rows: RowTiming) -> list[Scene]:
    """The scene each band of step ``step``'s frame is rendered from (:func:`simgen.sensors.motion.scene_at`
    its time; each pair of steps checked once)."""
    checked: set[int] = set()
    out = []
    for t in rows.band_times():
        k = min(int(np.floor(step + t)), len(scenes) - 2)
        if k not in checked and len(scenes) >= 2:
            check_steps(scenes[k], scenes[k + 1], k, SETTING, OFF)
            checked.add(k)
        out.append(scene_at(scenes, step + t, SETTING, OFF, checked=True))
    return out


# ----------------------------------------------------------------- the bands stacked


def stack_rows(parts: Sequence[dict[str, np.ndarray]], rows: RowTiming) -> dict[str, np.ndarray]:
    """One frame's channels (by name, each (H, W[, ...]) rows top first) from its bands' (each band's
    own rows only, in :attr:`RowTiming.bands` order)."""
    if len(parts) != len(rows.bands):
        raise ValueError(f"{len(parts)} bands rendered for {len(rows.bands)} bands")
    out = {}
    for name in parts[0]:
        pieces = []
        for (first, end), p in zip(rows.bands, parts):
            a = p[name]
            if a.shape[0] != end - first:
                raise ValueError(f"band rows {first}..{end}: channel {name} has {a.shape[0]} rows")
            pieces.append(a)
        out[name] = np.concatenate(pieces, axis=0)
    return out


def carry_normals(normal: np.ndarray, rows: RowTiming, band_w2c: Sequence[np.ndarray],
                  frame_w2c: np.ndarray) -> np.ndarray:
    """The stacked world-space normal pass turned so that the frame's camera (``frame_w2c``) gives each
    row the camera-axes normal its band's camera (``band_w2c``) sees: a moving camera turns between
    bands, and the normal label is in the camera's axes at the row's time."""
    out = np.array(normal, dtype=np.float32, copy=True)
    r_frame = np.asarray(frame_w2c, dtype=np.float64)[:3, :3]
    for (first, end), w2c in zip(rows.bands, band_w2c):
        turn = (r_frame.T @ np.asarray(w2c, dtype=np.float64)[:3, :3]).astype(np.float32)
        out[first:end] = out[first:end] @ turn.T
    return out


def record(rows: RowTiming, step: int, readout_ms: float, fps: float) -> dict:
    """The frame meta's ``sensor.rolling_shutter``: the convention, the readout and each band's rows
    and time (in steps of the sequence and in seconds from its step 0)."""
    return {
        "readout_ms": float(readout_ms),
        "fps": float(fps),
        "readout_steps": rows.readout,
        "row_time": "row r is exposed at step + r / height * readout_steps (steps; top row first, seconds = "
                    "steps / fps); each band is rendered at its time, its middle row's",
        "height": rows.height,
        "bands": [{"rows": [first, end], "step": step + t, "seconds": (step + t) / fps}
                  for (first, end), t in zip(rows.bands, rows.band_times())],
        "max_row_time_error_steps": rows.max_error,
        "flow": "not written: a rolling-shutter frame's rows have their own times",
        "denoised": False,
    }
