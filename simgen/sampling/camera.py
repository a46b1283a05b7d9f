"""Cameras drawn from the ``camera`` group (lens, sensor, exposure) and a recipe's shell: the camera
around a look-at point."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from simgen.errors import SimgenError
from simgen.config import CameraConfig, RenderConfig
from simgen.optics.calibration import check_size, read_calibration
from simgen.optics.camera import intrinsics, look_at, stereo_offset
from simgen.optics.lens import Lens, cached_pixel_rays
from simgen.scene.data import Camera, Scene
from simgen.sampling.random import chance, direction, uniform


def draw_camera(settings: Any, draw: dict) -> Camera:
    """The camera of a shell draw (:func:`sample_shell`'s record) for ``settings`` (its camera and
    render groups): at ``distance``/``elevation_deg``/``azimuth_deg`` around ``target``, looking
    at it; ``principal_point_offset_px`` is the (cx, cy) offset in pixels from the image centre,
    made by Blender's lens shift; with ``fstop`` > 0, depth of field focused on ``target``. With
    camera.calibration, its lens and K instead of ``focal_length_mm``, its focal lengths times
    ``focal_scale`` and its principal point moved by the offset."""
    c, r = settings.camera, settings.render
    target, dist = np.array(draw["target"]), draw["distance"]
    principal_point = tuple(draw.get("principal_point_offset_px", (0.0, 0.0)))
    fstop = draw.get("fstop", 0.0)
    eye = target + dist * direction(draw["azimuth_deg"], draw["elevation_deg"])
    if c.rig == "stereo" and c.calibration is not None:  # the calibrated rig's rectified pair: a pinhole
        lens, K = None, rectified_pair(str(c.calibration), r.width, r.height)[0]
    else:
        lens = calibrated_lens(c, r)
        if lens is not None:
            lens = jittered(lens, draw.get("focal_scale", 1.0), principal_point)
        K = lens.K if lens is not None else intrinsics(draw["focal_length_mm"], c.sensor_width, r.width, r.height,
                                                       shift_x=-principal_point[0] / r.width,
                                                       shift_y=principal_point[1] / r.width)
    return Camera(width=r.width, height=r.height, K=K, world_to_camera=look_at(eye, target),
                  clip_start=c.clip_start, clip_end=c.clip_end, exposure=draw.get("exposure_stops", 0.0),
                  sensor_width=c.sensor_width, fstop=fstop, focus_distance=dist if fstop > 0 else 0.0, lens=lens)


def sample_shell(c: CameraConfig, shell: Any, center: np.ndarray, rng: np.random.Generator) -> dict:
    """Draw a camera on its shell around ``center``; returns the draws (see :func:`draw_camera`).
    ``shell``: the recipe's settings of where the camera stands (``camera_distance``,
    ``camera_elevation``, ``camera_azimuth`` ranges and ``look_at_jitter``: tabletop's Config);
    ``c``: its lens, sensor and exposure."""
    jitter = shell.look_at_jitter
    target = center + rng.normal(0.0, jitter, size=3) if jitter > 0 else center.copy()
    draw = {"distance": uniform(rng, shell.camera_distance), "elevation_deg": uniform(rng, shell.camera_elevation),
            "azimuth_deg": uniform(rng, shell.camera_azimuth),
            # a calibration's lens has its own focal length: nothing drawn (null in the meta)
            "focal_length_mm": uniform(rng, c.focal_length) if c.calibration is None else None,
            "sensor_width_mm": c.sensor_width, "target": target.tolist()}
    # nothing is drawn for switched-off features, so default scenes stay as they were
    pp = rng.normal(0.0, c.principal_point_jitter, size=2) if c.principal_point_jitter > 0 else np.zeros(2)
    if c.calibration is not None:  # within the spread check_calibration checked the lens for
        pp = np.clip(pp, -JITTER_SIGMAS * c.principal_point_jitter, JITTER_SIGMAS * c.principal_point_jitter)
        if c.focal_jitter > 0:
            draw["focal_scale"] = 1.0 + float(np.clip(rng.normal(0.0, c.focal_jitter), -JITTER_SIGMAS * c.focal_jitter,
                                                      JITTER_SIGMAS * c.focal_jitter))
    draw["principal_point_offset_px"] = pp.tolist()
    draw["exposure_stops"] = uniform(rng, c.exposure)
    if chance(rng, c.dof_probability):
        draw["fstop"] = uniform(rng, c.fstop)
    return draw


JITTER_SIGMAS = 3.0
"""A calibration's focal and principal point jitter are kept within this many std-devs, the
spread check_calibration checks the lens over (no draw can fold it over inside the image)."""


def jittered(lens: Lens, focal_scale: float, principal_point: tuple[float, float] | list[float]) -> Lens:
    """``lens`` with its focal lengths times ``focal_scale`` and its principal point moved by
    ``principal_point`` (pixels)."""
    if focal_scale == 1.0 and not any(principal_point):
        return lens
    return dataclasses.replace(lens, fx=lens.fx * focal_scale, fy=lens.fy * focal_scale,
                               cx=lens.cx + principal_point[0], cy=lens.cy + principal_point[1])


@functools.lru_cache(maxsize=8)
def _calibrated_cameras(path: str, width: int, height: int) -> tuple:
    """The cameras of calibration file ``path`` (read once per process), checked against the render size."""
    calibration = read_calibration(path)
    check_size(calibration, width, height)
    return calibration.cameras


LENS_UNSUPPORTED = {"nerfstudio": "output.formats=[nerfstudio]", "bop": "output.formats=[bop]"}
"""What does not follow a real lens: BOP's and nerfstudio's files are written without distortion
(a pinhole camera)."""


def calibrated_lens(c: CameraConfig, r: RenderConfig) -> Lens | None:
    """The lens of ``c.calibration`` (read once per process), checked against the render size;
    None without a calibration."""
    if c.calibration is None:
        return None
    return _calibrated_cameras(str(c.calibration), r.width, r.height)[0].lens


@functools.lru_cache(maxsize=8)
def rectified_pair(path: str, width: int, height: int) -> tuple[np.ndarray, float, dict]:
    """``(K, baseline, record)`` of the rectified stereo pair of a calibration's first two cameras
    (camera.rig=stereo with camera.calibration): OpenCV's rectification of the rig,
    ``cv2.stereoRectify`` (``cv2.fisheye.stereoRectify`` for fisheye lenses) with its default
    arguments (zero disparity at infinity), so that real images rectified with the same call look
    through the same cameras. K is its P1's, the baseline (m for Kalibr) -P2[0, 3] / P2[0, 0];
    ``record`` holds R1, R2, P1, P2 (raw camera -> rectified) for the frame meta. One line for a
    file of one camera, a vertical rig, a right camera on the left, lenses OpenCV cannot rectify."""
    import cv2

    cameras = _calibrated_cameras(path, width, height)
    where = f"camera.rig=stereo with camera.calibration={path}"
    if len(cameras) < 2:
        raise SimgenError(f"{where}: the file has one camera; a stereo rig needs two (a Kalibr camchain's cam0 and "
                          "cam1), or camera.baseline without a calibration")
    first, second = cameras[:2]
    to_second = np.linalg.inv(second.to_first)  # first camera's coordinates -> the second's
    R, T = to_second[:3, :3], to_second[:3, 3]
    models = {first.lens.model, second.lens.model}
    size = (width, height)

    def coefficients(lens: Lens) -> np.ndarray:
        d = lens.distortion_coefficients()
        return d if d.size else np.zeros(5)
    if models <= {"pinhole", "radtan"}:
        R1, R2, P1, P2 = cv2.stereoRectify(first.lens.K, coefficients(first.lens), second.lens.K,
                                           coefficients(second.lens), size, R, T)[:4]
    elif models == {"fisheye"}:
        R1, R2, P1, P2 = cv2.fisheye.stereoRectify(first.lens.K, coefficients(first.lens), second.lens.K,
                                                   coefficients(second.lens), size, R, T.reshape(3, 1),
                                                   flags=cv2.CALIB_ZERO_DISPARITY)[:4]
    else:
        raise SimgenError(f"{where}: OpenCV rectifies a pair of pinhole/radtan or of fisheye lenses, not "
                          f"{' and '.join(sorted(models))}")
    if abs(P2[1, 3]) > abs(P2[0, 3]):
        raise SimgenError(f"{where}: {second.name} sits above or below {first.name} (a vertical rig); simgen renders "
                          "horizontal pairs")
    baseline = -float(P2[0, 3]) / float(P2[0, 0])
    if baseline <= 0:
        raise SimgenError(f"{where}: {second.name} sits to the left of {first.name}; the first camera of the file is "
                          "the left one: swap them")
    record = {"calibration": str(path), "cameras": [first.name, second.name],
              **{name: np.asarray(m, float).tolist() for name, m in (("R1", R1), ("R2", R2), ("P1", P1), ("P2", P2))}}
    return np.asarray(P1, float)[:, :3].copy(), baseline, record


def check_calibration(settings: Any) -> None:
    """Refuse what a real lens (camera.calibration) does not support yet, in one line each."""
    c = settings.camera
    if c.calibration is None:
        if c.focal_jitter > 0:
            raise SimgenError(f"camera.focal_jitter={c.focal_jitter} varies a calibration's focal lengths: give "
                              "camera.calibration=FILE, or vary camera.focal_length instead")
        return
    if c.rig == "calibration" and (c.focal_jitter > 0 or c.principal_point_jitter > 0):
        raise SimgenError(f"camera.rig=calibration renders every camera of {c.calibration} as the file has it: "
                          "camera.focal_jitter and camera.principal_point_jitter do not apply; set them to 0")
    if c.rig == "stereo":  # the rig's rectified pair is rendered, through pinholes
        rectified_pair(str(c.calibration), settings.render.width, settings.render.height)
        if c.focal_jitter > 0 or c.principal_point_jitter > 0:
            raise SimgenError(f"camera.rig=stereo with camera.calibration={c.calibration} renders the calibration's "
                              "rectified pair as it is: camera.focal_jitter and camera.principal_point_jitter do not "
                              "apply; set them to 0")
        return
    lens = calibrated_lens(c, settings.render)
    s, p = JITTER_SIGMAS * c.focal_jitter, JITTER_SIGMAS * c.principal_point_jitter
    for scale in {1.0 - s, 1.0 + s}:  # the spread's extremes: the lens must not fold over in any draw
        for dx in {-p, p}:
            for dy in {-p, p}:
                jittered(lens, scale, (dx, dy)).check(
                    f"camera.calibration={c.calibration} with camera.focal_jitter={c.focal_jitter} and "
                    f"camera.principal_point_jitter={c.principal_point_jitter} (the spread's extremes)")
    amodal = [k for k in settings.output.labels if k in ("amodal", "visibility")]
    if amodal and not (cached_pixel_rays(lens)[..., 2] > 0).all():  # NaN (no direction) fails too
        raise SimgenError(f"camera.calibration={c.calibration} sees 90 degrees or more from its axis inside the "
                          f"image; output.labels={amodal} are made for rays that go forward: drop them")
    wants = [LENS_UNSUPPORTED[k] for k in (*settings.output.labels, *settings.output.formats) if k in LENS_UNSUPPORTED]
    if c.dof_probability > 0:
        wants.append(f"camera.dof_probability={c.dof_probability}")
    if settings.render.device not in ("auto", "cpu", "optix"):  # Cycles runs OSL (the lens) on these only
        wants.append(f"render.device={settings.render.device} (no OSL: use optix or cpu)")
    if wants:
        raise SimgenError(f"camera.calibration={c.calibration}: {', '.join(wants)} do(es) not follow a real lens "
                          "(a pinhole's projection or format); drop them or camera.calibration")


RIG_STREAM = 0x524947
"""The camera rig's draws' stream (:func:`simgen.sampling.random.stream_rng`): a stereo rig
changes no other draw of the scene, so its left view is the mono run's frame."""


def rig_size(c: CameraConfig, r: RenderConfig) -> int:
    """Frames each drawn scene gives per camera.rig: the calibration's cameras for ``calibration``, else 1."""
    return len(_calibrated_cameras(str(c.calibration), r.width, r.height)) if c.rig == "calibration" else 1


def with_rig(scenes: list[Scene], c: CameraConfig, rng: np.random.Generator) -> list[Scene]:
    """The steps of one sequence as camera.rig films them: unchanged for ``mono``; for
    ``stereo`` each step gets the pair's right camera (:func:`simgen.optics.camera.stereo_offset`
    of its camera, the baseline drawn once per sequence from ``rng``) and ``params["stereo"]``;
    for ``calibration`` each step becomes one scene per camera of the file, in its order: the
    drawn camera is the first one's (cam0, through its lens), camera k looks through its own lens
    from where the file's extrinsics put it (``world_to_camera = inverse(to_first) @ cam0's``),
    ``params["rig"]`` names it."""
    if c.rig == "mono":
        return scenes
    if c.rig == "calibration":
        first = scenes[0].camera
        cameras = _calibrated_cameras(str(c.calibration), first.width, first.height)
        def through(s: Scene, k: int, cam: Any) -> Scene:
            w2c = np.linalg.inv(cam.to_first) @ s.camera.world_to_camera  # cam0's coordinates -> camera k's
            return dataclasses.replace(s, camera=dataclasses.replace(s.camera, K=cam.lens.K, lens=cam.lens,
                                                                     world_to_camera=w2c),
                                       params={**s.params, "rig": {"camera": cam.name, "index": k, "of": len(cameras)}})
        return [through(s, k, cam) for s in scenes for k, cam in enumerate(cameras)]
    if c.calibration is not None:  # the calibrated rig's rectified pair (its K is the scenes' already)
        _, baseline, record = rectified_pair(str(c.calibration), scenes[0].camera.width, scenes[0].camera.height)
        stereo: dict[str, Any] = {"baseline": baseline, "rectification": record}
    else:
        stereo = {"baseline": uniform(rng, c.baseline)}
    return [dataclasses.replace(s, right=dataclasses.replace(s.camera, world_to_camera=stereo_offset(
        s.camera.world_to_camera, stereo["baseline"])), params={**s.params, "stereo": stereo}) for s in scenes]
