"""The sensor group's label kinds (docs/how-to/sensors.md): ``sensor_depth`` (a depth camera's depth beside
the exact one, sensor.depth), ``ir_left`` and ``ir_right`` (an active stereo camera's infrared pair) and
``events`` (an event camera's events, sensor.events). The sensors' models are simgen.sensors' (below this
package: it never imports simgen.labels); this module turns them into label files.

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
from simgen.sensors import active_stereo, tof
from simgen.sensors.events import EVENT_DTYPE


def sensor_rng(seed: int, key: int, stream: int, part: int) -> np.random.Generator:
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
    systematic = tof.systematic_draws(sensor_rng(seed, context.sequence, tof.TOF_STREAM, 1), model)
    cam = context.scene.camera
    rays = cached_pixel_rays(cam.lens) if cam.lens is not None else None
    reflectance = reflectance_map(labels.instance, context.scene, cfg.depth_albedo)
    depth, invalid = tof.simulate(labels.depth, labels.normal, reflectance, cam.K,
                                  sensor_rng(seed, context.index, tof.TOF_STREAM, 0), model, systematic, rays)
    context.sensor["depth"] = {
        "device": tof.DEVICE, "systematic": systematic, "invalid": invalid,
        "reflectance": {str(o.instance_id): tof.reflectance_of(o.material, cfg.depth_albedo)
                        for o in context.scene.objects},
        "pixels_per_device_pixel": float(cam.K[0, 0] / tof.DEVICE_FX),
    }
    return depth


def ir_pair(labels: Any, context: FrameContext) -> tuple[np.ndarray, np.ndarray, float]:
    """The 8-bit infrared pair of an active stereo frame (:func:`simgen.sensors.active_stereo.ir_image`) from its
    rendered light (``labels.ir``) and the exposure gain: a pure function of the frame, so each kind that
    needs them makes the same images."""
    if labels.ir is None:
        raise ValueError("sensor.depth's active stereo needs the frame's infrared renders (FrameLabels.ir): "
                         "the renderer made none")
    cfg, seed = context.settings.sensor, context.settings.seed
    gain = active_stereo.exposure_gain(labels.ir[0])
    return (*(active_stereo.ir_image(labels.ir[v], gain, cfg.depth_ir_noise,
                                     sensor_rng(seed, context.index, active_stereo.IR_STREAM, v)) for v in (0, 1)), gain)


def stereo_depth(labels: Any, context: FrameContext) -> np.ndarray:
    """sensor.depth=realsense_d435: the infrared pair matched by StereoSGBM (simgen.sensors.active_stereo);
    what it did goes in ``context.sensor["depth"]``."""
    cfg = context.settings.sensor
    device = active_stereo.DEVICES[cfg.depth]
    left, right, gain = ir_pair(labels, context)
    fx = float(context.scene.camera.K[0, 0])
    params = active_stereo.sgbm_params(fx, device.baseline, cfg.depth_stereo_min, cfg.depth_sgbm_block)
    depth, _ = active_stereo.match(left, right, fx, device.baseline, params)
    hit = np.isfinite(labels.depth)
    w = context.scene.camera.width
    context.sensor["depth"] = {
        "device": device.name, "baseline": device.baseline, "fx": fx,
        "hfov_deg": float(np.degrees(2 * np.arctan(w / 2 / fx))), "ir_gain": float(gain),
        "ir_noise": float(cfg.depth_ir_noise), "dot_pitch_px": float(cfg.depth_dot_pitch),
        "sgbm": {k: (int(v) if k != "mode" else "SGBM") for k, v in params.items()},
        "holes": int((hit & (depth == 0)).sum()), "surface_pixels": int(hit.sum()),
    }
    return depth


MODELS = {tof.DEVICE: time_of_flight, **{name: stereo_depth for name in active_stereo.DEVICES}}
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


def _ir_left(labels: Any, context: FrameContext) -> np.ndarray:
    return ir_pair(labels, context)[0]


def _ir_right(labels: Any, context: FrameContext) -> np.ndarray:
    return ir_pair(labels, context)[1]


def _grey_preview(img: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(img, np.uint8)[..., None], 3, axis=-1)


IR_LEFT = LabelKind(
    "ir_left", "sensor.depth=realsense_d435: the left infrared camera's 8-bit image (the frame's camera) lit by "
    "the dot projector alone, auto exposed, with read noise; the sensor's depth is matched from it",
    "uint8", 0, "ir_left", ".png", compute=_ir_left, preview=_grey_preview)
IR_RIGHT = LabelKind(
    "ir_right", "sensor.depth=realsense_d435: the right infrared camera's 8-bit image, the device's baseline to "
    "the right of the left one (a rectified pair), exposed as the left", "uint8", 0, "ir_right", ".png",
    compute=_ir_right, preview=_grey_preview)
"""Written on every frame of a run with an active stereo sensor.depth (simgen.config.sensor.IR_LABELS)."""


def _events(labels: Any, context: FrameContext) -> np.ndarray:
    """The frame's events, which the frame loop's renders put in its labels (simgen.pipeline.events;
    the loop puts their record in the frame meta's sensor.events)."""
    got = labels.extra.get("events")
    if got is None or not hasattr(got, "events"):
        raise ValueError("the events label is made by the event camera's renders: set sensor.events=true "
                         "(with sequence.length 2 or more)")
    return got.events


EVENTS = LabelKind(
    "events", "sensor.events=true: the events (x, y, t microseconds from the sequence's start, p 1 = brighter / "
    "0 = darker; tonic's fields) of the interval from this frame to the next of its sequence, sorted by t; "
    "none after a sequence's last frame", EVENT_DTYPE, -1, "events", ".npy", compute=_events)
"""The event camera's label kind: ``DIR/events/NNNNNN.npy``, one structured array per frame."""
