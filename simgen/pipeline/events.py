"""The event camera's renders (sensor.events): the sub-steps of a frame interval, rendered on the
loop's thread right after the frame, turned into the interval's events (simgen.sensors.events).

Frame ``k`` of a sequence gets the events of the interval from step ``k`` to step ``k+1``: the
scene at ``k + j / N`` (``N`` = sensor.events_substeps, j = 0 .. N-1;
:func:`simgen.sensors.motion.scene_at`, the left camera's view) and at
step ``k+1`` are rendered with one sampling seed for the whole sequence (so the render noise of a
pixel that does not change is the same in every render and fires nothing), their linear light
exposed by the camera's exposure alone (no metering, which would change between renders), and the
interval's end is kept as the next interval's start when the next step follows. The last step of a
sequence has no interval: its file holds no events. Each interval starts from its first render's
levels and each frame's events are a pure function of (config, seed, index): the thresholds are
drawn per sequence, the noise per frame, each from its own stream.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simgen.io.exr import RenderedFiles, read_linear
from simgen.sampling.random import render_seed, stream_rng
from simgen.sensors.events import EVENT_DTYPE, EventModel, draw_thresholds, events_between, log_intensity
from simgen.sensors.motion import check_steps, scene_at

THRESHOLD_STREAM = 0x45565448
"""The stream of a sequence's per-pixel thresholds (stream_rng(seed, sequence, this))."""
NOISE_STREAM = 0x45564E53
"""The stream of a frame's shot noise (stream_rng(seed, frame index, this))."""
SEED_XOR = 0x45564E54
"""XOR'ed into the sequence's first frame's sampling seed for every render of its events."""
SETTING, OFF = "sensor.events", "false"
"""The setting the refusals of the scene between steps (:mod:`simgen.sensors.motion`) name, and its off value."""


def substep_scene(scenes, time: float):
    """The sequence ``scenes`` at ``time`` steps (:func:`simgen.sensors.motion.scene_at`) as the event
    camera sees it: the left camera alone (no right camera)."""
    return dataclasses.replace(scene_at(scenes, time, SETTING, OFF, checked=True), right=None)


@dataclass
class FrameEvents:
    """One frame's events on their way from the render thread to the worker: the structured array
    (:data:`simgen.sensors.events.EVENT_DTYPE`) and its record for the frame meta's sensor.events."""

    events: np.ndarray
    meta: dict = field(default_factory=dict)


class EventRenders:
    """The renders of one run's events: it keeps the last interval's end (its log intensity) and the
    current sequence's thresholds between frames. ``loop``: the run's simgen.pipeline.loop.FrameLoop
    (its settings, its ``build`` stage and its renderer)."""

    def __init__(self, loop: Any):
        self.loop = loop
        sensor = loop.settings.sensor
        self.model = EventModel.from_settings(sensor)
        self.substeps, self.frame_time = int(sensor.events_substeps), 1.0 / float(loop.settings.sequence.fps)
        self._end: tuple[int, int, np.ndarray] | None = None  # (sequence, step, log intensity there)
        self._thresholds: tuple[int, np.ndarray, np.ndarray] | None = None
        self.renders = 0
        """Renders made for events so far (for the cost per frame)."""

    def _log_at(self, scene, seed: int, exposure: float, move=None) -> np.ndarray:
        """The log intensity of ``scene`` rendered; ``move``: the renderer's ``move``, to put the built
        scene's parts where ``scene`` has them instead of building it (the loop then forgets what it
        built)."""
        loop = self.loop
        if move is None:
            loop.build(scene)
        else:
            move(scene)
            loop.forget_built()
        files = loop.backend.render_to_files(seed=seed)
        if isinstance(files, RenderedFiles) and files.rgb_from is None:  # Blender's: the Combined pass alone
            try:
                linear = read_linear(files.exr, exposure)
            finally:
                files.exr.unlink(missing_ok=True)
        else:
            linear = files.load(exposure)["linear"]
        self.renders += 1
        return log_intensity(linear, self.model.log_eps)

    def frame(self, window: Any, k: int) -> FrameEvents:
        """Step ``k``'s events: the renders of its interval (none for a sequence's last step); ``window``:
        its sequence's simgen.pipeline.frames.SequenceWindow."""
        settings = self.loop.settings
        sequence, index = window.base // window.length, window.base + k
        scenes = window.scenes
        cam = scenes[k].camera
        t0_us = round(k * self.frame_time * 1e6)
        meta = {"substeps": self.substeps, "fps": float(settings.sequence.fps), "frame_time": self.frame_time,
                "t_start_us": t0_us,
                "t_end_us": round((k + 1) * self.frame_time * 1e6) if k + 1 < window.length else t0_us,
                "luminance": "0.2126 R + 0.7152 G + 0.0722 B of linear light", "log_eps": self.model.log_eps,
                "refractory": self.model.refractory, "noise_rate": self.model.noise_rate}
        if k + 1 >= window.length:  # the sequence's last step: no interval after it
            return FrameEvents(np.zeros(0, EVENT_DTYPE), {**meta, "events": 0, "on": 0, "renders": 0})
        if self._thresholds is None or self._thresholds[0] != sequence:
            pos, neg = draw_thresholds(stream_rng(settings.seed, sequence, THRESHOLD_STREAM),
                                       (cam.height, cam.width), self.model)
            self._thresholds = (sequence, pos, neg)
        _, pos, neg = self._thresholds
        seed = render_seed(settings.seed, window.base) ^ SEED_XOR
        exposure = float(scenes[0].camera.exposure)
        before = self.renders
        times = (k + np.arange(self.substeps + 1) / self.substeps) * self.frame_time
        # the step's scene is built (its frame just rendered): the sub-steps move its parts where the
        # renderer can (Cycles keeps its scene); only poses change between the steps (check_steps)
        check_steps(scenes[k], scenes[k + 1], k, SETTING, OFF)
        move = getattr(self.loop.backend, "move", None)
        logs = []
        for j in range(self.substeps):
            if j == 0 and self._end is not None and self._end[:2] == (sequence, k):
                logs.append(self._end[2])
            else:
                logs.append(self._log_at(substep_scene(scenes, k + j / self.substeps), seed, exposure,
                                         move if j else None))
        end = self._log_at(substep_scene(scenes, k + 1), seed, exposure, move)
        logs.append(end)
        self._end = (sequence, k + 1, end)
        events, counts = events_between(np.stack(logs), times, pos, neg, self.model,
                                        stream_rng(settings.seed, index, NOISE_STREAM))
        meta.update(counts, renders=self.renders - before,
                    threshold_pos={"mean": float(pos.mean()), "std": float(pos.std()), "min": float(pos.min()),
                                   "max": float(pos.max())},
                    threshold_neg={"mean": float(neg.mean()), "std": float(neg.std()), "min": float(neg.min()),
                                   "max": float(neg.max())})
        return FrameEvents(events, meta)
