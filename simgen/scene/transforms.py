"""Rigid transforms and rotations as 3x3 / 4x4 numpy arrays (no randomness, no Blender)."""

from __future__ import annotations

import numpy as np


def axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """3x3 rotation by ``angle`` radians about the unit vector ``axis`` (Rodrigues)."""
    x, y, z = axis
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def quaternion_matrix(q: np.ndarray) -> np.ndarray:
    """3x3 rotation of the unit quaternion ``q`` = (w, x, y, z)."""
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def rot_z(yaw: float) -> np.ndarray:
    """3x3 rotation by ``yaw`` radians about +Z."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rigid(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """The 4x4 transform x -> rotation @ x + translation."""
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = rotation, translation
    return m


def invert_rigid(m: np.ndarray) -> np.ndarray:
    """The inverse of a rigid 4x4 transform (exact transpose, no general inverse)."""
    return rigid(m[:3, :3].T, -m[:3, :3].T @ m[:3, 3])


def plane_pose(center: np.ndarray, u: np.ndarray, v: np.ndarray, width: float, height: float) -> np.ndarray:
    """mesh_to_world putting the 1x1 ground square (XY, normal +Z) at ``center``, its x along
    ``u`` (width) and y along ``v`` (height); its normal is u x v."""
    m = np.eye(4)
    n = np.cross(u, v)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = width * u, height * v, n, center
    return m
