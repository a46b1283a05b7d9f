"""Camera maths in one convention: OpenCV axes, pixel centres at integer coordinates.

Blender cameras look down local -Z with +Y up; OpenCV cameras look down +Z with +Y
down, so ``camera_to_world_opencv = blender_camera.matrix_world @ BLENDER_TO_OPENCV``.
"""

from __future__ import annotations

import numpy as np

BLENDER_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
"""Right-multiply a Blender camera's matrix_world by this to get OpenCV camera-to-world
(it is its own inverse)."""


def intrinsics(focal_mm: float, sensor_width_mm: float, width: int, height: int,
               shift_x: float = 0.0, shift_y: float = 0.0) -> np.ndarray:
    """K for a camera with horizontal sensor fit and square pixels.

    ``shift_x``/``shift_y`` are Blender's lens shift (in units of the image width,
    since the sensor fit is horizontal); shift 0 puts the principal point at the
    image centre, (W/2 - 0.5, H/2 - 0.5) in pixel-centre coordinates.
    """
    f = focal_mm / sensor_width_mm * width
    cx = width / 2.0 - 0.5 - shift_x * width
    cy = height / 2.0 - 0.5 + shift_y * width
    return np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])


def blender_lens(K: np.ndarray, width: int, height: int,
                 sensor_width_mm: float = 36.0) -> dict[str, float]:
    """Inverse of :func:`intrinsics`: the Blender lens, sensor and shift for K."""
    fx, fy = float(K[0, 0]), float(K[1, 1])
    if not np.isclose(fx, fy, rtol=1e-9):
        raise ValueError(f"non-square pixels are not supported (fx={fx}, fy={fy})")
    return {
        "lens": fx * sensor_width_mm / width,
        "sensor_width": sensor_width_mm,
        "shift_x": (width / 2.0 - 0.5 - float(K[0, 2])) / width,
        "shift_y": (float(K[1, 2]) - (height / 2.0 - 0.5)) / width,
    }


def look_at(eye: np.ndarray, target: np.ndarray,
            up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """World-to-camera (OpenCV axes) for a camera at ``eye`` looking at ``target``.

    The image's "up" (-y) is the projection of ``up``; if the view is parallel to
    ``up`` another up vector is chosen.
    """
    eye = np.asarray(eye, float)
    z = np.asarray(target, float) - eye
    n = np.linalg.norm(z)
    if n == 0:
        raise ValueError("camera eye and target coincide")
    z /= n
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:
        x = np.cross(z, np.array([0.0, 1.0, 0.0]))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])  # rows: camera axes in world coordinates
    w2c = np.eye(4)
    w2c[:3, :3] = R
    w2c[:3, 3] = -R @ eye
    return w2c


def project_points(K: np.ndarray, points_cam: np.ndarray, front_only: bool = True) -> np.ndarray:
    """Pixel coordinates (..., 2) of points (..., 3) in camera coordinates (OpenCV axes) through the
    pinhole intrinsics ``K``, skew included: ``u = (fx x + s y) / z + cx``, ``v = fy y / z + cy``
    with ``s = K[0, 1]``; the centre of pixel (u, v) at integer (u, v) (docs/dataset.md).

    Points at or behind the camera (z <= 0, or z NaN) give NaN. With ``front_only=False`` the
    formula is applied as it stands instead: a point behind the camera lands where its mirror
    image through the camera centre would, and z = 0 gives inf or NaN (numpy warns of the division
    unless the caller silences it). This is simgen's pinhole projection for labels (3D boxes,
    keypoints, tracks, flow), of :func:`project` and of the pinhole lens
    (:meth:`simgen.optics.lens.Pinhole.project`)."""
    K = np.asarray(K, float)
    p = np.asarray(points_cam, float)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    if front_only:
        front = z > 0
        z = np.where(front, z, 1.0)
    uv = np.stack([(K[0, 0] * x + K[0, 1] * y) / z + K[0, 2], K[1, 1] * y / z + K[1, 2]], -1)
    if front_only:
        uv[~front] = np.nan
    return uv


def project(K: np.ndarray, world_to_camera: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project world points (N, 3) to pixel coordinates (N, 2); also returns z (N,).

    No check of z (:func:`project_points` with ``front_only=False``): a point behind the camera
    gives the pixel of its mirror image through the camera centre, z = 0 gives inf or NaN; callers
    test z themselves (the scenes' "in view")."""
    pts = np.asarray(points, float)
    cam = pts @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
    return project_points(K, cam, front_only=False), cam[:, 2]


def pixel_centres(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(u, v): the pixel coordinates of every pixel centre, each (H, W) float64: u the column,
    v the row (0 at the top-left pixel's centre: pixel centres sit at integer coordinates)."""
    u, v = np.meshgrid(np.arange(width, dtype=float), np.arange(height, dtype=float))
    return u, v


def pixel_rays(K: np.ndarray, width: int, height: int) -> np.ndarray:
    """Camera-frame directions (H, W, 3) through every pixel centre, with z = 1: ``x = (u - cx) /
    fx``, ``y = (v - cy) / fy`` (K's skew ``K[0, 1]`` is not used). The one definition of pinhole
    pixel rays; :meth:`simgen.optics.lens.Pinhole.pixel_rays` is these made unit length."""
    u, v = pixel_centres(width, height)
    x = (u - K[0, 2]) / K[0, 0]
    y = (v - K[1, 2]) / K[1, 1]
    return np.stack([x, y, np.ones_like(x)], axis=-1)


STEREO_LABELS = ("right", "disparity", "occluded")
"""The label kinds every frame of a stereo rig gets (camera.rig=stereo; simgen.labels.stereo), and
the stereo formats are made from."""


def stereo_offset(world_to_camera: np.ndarray, baseline: float) -> np.ndarray:
    """world_to_camera of the right camera of a rectified stereo pair whose left camera is
    ``world_to_camera``: the same orientation, its centre ``baseline`` metres along the left
    camera's +x axis (to the right in the image). A point at planar depth z seen at column u
    on the left is seen at column ``u - fx * baseline / z`` on the right, on the same row."""
    shift = np.eye(4)
    shift[0, 3] = -float(baseline)
    return shift @ np.asarray(world_to_camera, float)
