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


def project(K: np.ndarray, world_to_camera: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project world points (N, 3) to pixel coordinates (N, 2); also returns z (N,)."""
    pts = np.asarray(points, float)
    cam = pts @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
    z = cam[:, 2]
    uv = (cam @ K.T)[:, :2] / z[:, None]
    return uv, z


def pixel_rays(K: np.ndarray, width: int, height: int) -> np.ndarray:
    """Camera-frame directions (H, W, 3) through every pixel centre, with z = 1."""
    u, v = np.meshgrid(np.arange(width, dtype=float), np.arange(height, dtype=float))
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
