"""The ``sensor_depth`` label kind: a depth camera's depth beside the exact one (sensor.depth).

Every frame of a run with sensor.depth set gets ``DIR/sensor_depth/NNNNNN.npy``: float32 metres of
planar depth as the named device returns it, 0 = invalid (no return), the same size, K and pixel grid
as the exact ``depth/`` (whose no-hit value is inf). Its draws go in the frame meta's ``sensor.depth``.
Pure numpy; nothing here imports Blender.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simgen.labels.kinds import FrameContext, LabelKind
from simgen.labels.preview import depth_preview
from simgen.optics.lens import cached_pixel_rays
from simgen.sensors import tof


def frame_rng(seed: int, key: int, stream: int, part: int) -> np.random.Generator:
    """The generator of ``part`` of a sensor's draws for frame or sequence ``key``: a pure function of
    the run's seed and these, apart from every other draw of the run."""
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=(int(key), stream, part)))


def reflectance_map(instance: np.ndarray, scene: Any, default: float) -> np.ndarray:
    """(H, W) reflectance of the surface at each pixel from its object's material (0 where nothing is hit)."""
    lut = np.zeros(int(instance.max(initial=0)) + 1, np.float64)
    for o in scene.objects:
        if o.instance_id < lut.size:
            lut[o.instance_id] = tof.reflectance_of(o.material, default)
    return lut[instance]


def time_of_flight(labels: Any, context: FrameContext) -> np.ndarray:
    """sensor.depth=azure_kinect_nfov: the frame's depth through :func:`simgen.sensors.tof.simulate`; its
    draws (the systematic error of the sequence, the invalid pixels by cause, the reflectance used of each
    object) go in ``context.sensor["depth"]``."""
    cfg = context.settings.sensor
    model = tof.model_of(cfg)
    seed = context.settings.seed
    systematic = tof.systematic_draws(frame_rng(seed, context.sequence, tof.TOF_STREAM, 1), model)
    cam = context.scene.camera
    rays = cached_pixel_rays(cam.lens) if cam.lens is not None else None
    reflectance = reflectance_map(labels.instance, context.scene, cfg.depth_albedo)
    depth, invalid = tof.simulate(labels.depth, labels.normal, reflectance, cam.K,
                                  frame_rng(seed, context.index, tof.TOF_STREAM, 0), model, systematic, rays)
    context.sensor["depth"] = {
        "device": tof.DEVICE, "systematic": systematic, "invalid": invalid,
        "reflectance": {str(o.instance_id): tof.reflectance_of(o.material, cfg.depth_albedo)
                        for o in context.scene.objects},
        "pixels_per_device_pixel": float(cam.K[0, 0] / tof.DEVICE_FX),
    }
    return depth


MODELS = {tof.DEVICE: time_of_flight}
"""sensor.depth's models by name."""


def _sensor_depth(labels: Any, context: FrameContext) -> np.ndarray:
    return MODELS[context.settings.sensor.depth](labels, context)


def sensor_depth_preview(d: np.ndarray) -> np.ndarray:
    """As the exact depth's preview; invalid pixels (0) black."""
    d = np.asarray(d, np.float64)
    return depth_preview(np.where(d > 0, d, np.inf))


SENSOR_DEPTH = LabelKind(
    "sensor_depth", "sensor.depth: planar depth as the named depth camera returns it (noise, systematic error, "
    "holes), metres, 0 = invalid; beside the exact depth", "float32", 0, "sensor_depth", ".npy",
    compute=_sensor_depth, preview=sensor_depth_preview)
"""Written on every frame of a run with sensor.depth set (simgen.config.sensor.DEPTH_LABELS)."""
