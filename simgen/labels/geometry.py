"""An object's model geometry seen by the camera: its 6D pose, its 3D box with corners in the
DOPE/NDDS order, and points of the model projected with simgen's pixel convention.

The 3D box of a model is the axis-aligned box ``[lo, hi]`` of its vertices in its own
coordinates (the mesh under ``models/``, in its own units). Its 8 corners and centre are
numbered as NVIDIA's DOPE and NDDS number a cuboid's vertices, on the model's own axes read as
DOPE's object frame (x right, y down, z front):

====  =====================  =======================
  k   name                   (x, y, z)
====  =====================  =======================
  0   ``front_top_right``    (hi, lo, hi)
  1   ``front_top_left``     (lo, lo, hi)
  2   ``front_bottom_left``  (lo, hi, hi)
  3   ``front_bottom_right`` (hi, hi, hi)
  4   ``rear_top_right``     (hi, lo, lo)
  5   ``rear_top_left``      (lo, lo, lo)
  6   ``rear_bottom_left``   (lo, hi, lo)
  7   ``rear_bottom_right``  (hi, hi, lo)
  8   ``center``             (lo + hi) / 2
====  =====================  =======================

Pure numpy: the meshes come from :func:`simgen.assets.meshes.load_mesh` (cached per file).
"""

from __future__ import annotations

import functools
from typing import Optional

import numpy as np

from simgen.assets.meshes import load_mesh
from simgen.optics.camera import project_points
from simgen.optics.camera import project_points as project  # noqa: F401  (its old name here, which tests import)
from simgen.optics.lens import Lens
from simgen.scene.meshes import MeshRef

CUBOID_NAMES = ("front_top_right", "front_top_left", "front_bottom_left", "front_bottom_right",
                "rear_top_right", "rear_top_left", "rear_bottom_left", "rear_bottom_right", "center")
"""The 9 points of a 3D box, in order: 8 corners (DOPE/NDDS order), then the centre."""

CUBOID_EDGES = ((1, 0), (0, 3), (3, 2), (2, 1), (5, 4), (4, 7), (7, 6), (6, 5), (2, 6), (1, 5), (3, 7), (0, 4))
"""The 12 edges of the box as pairs of corner numbers (0-based): front face, rear face, then
the four edges joining them."""

_CORNER_HI = np.array([[1, 0, 1], [0, 0, 1], [0, 1, 1], [1, 1, 1], [1, 0, 0], [0, 0, 0], [0, 1, 0], [1, 1, 0]], bool)
"""Per corner and axis: whether the corner takes ``hi`` (else ``lo``) on that axis."""


def cuboid_points(lo, hi) -> np.ndarray:
    """(9, 3): the 8 corners of the box ``[lo, hi]`` in the DOPE/NDDS order, then its centre."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return np.vstack([np.where(_CORNER_HI, hi, lo), (lo + hi) / 2])


@functools.lru_cache(maxsize=4096)
def model_bounds(mesh: MeshRef) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi): the axis-aligned bounds of a model's vertices in its own coordinates (cached
    per mesh: every frame asks for every object's; read-only arrays)."""
    bounds = np.array(load_mesh(mesh).bounds, float)
    bounds.flags.writeable = False
    return bounds[0], bounds[1]


def model_pose(world_to_camera: np.ndarray, mesh_to_world: np.ndarray) -> dict:
    """An object's 6D pose in OpenCV camera axes, with the scale of its model (the mesh file
    under models/, in its own units): ``camera = R @ (scale * v) + t`` for a model vertex ``v``
    (``R`` 3x3 rotation, ``t`` metres, ``scale`` per model axis)."""
    m = np.asarray(world_to_camera, float) @ np.asarray(mesh_to_world, float)
    scale = np.linalg.norm(m[:3, :3], axis=0)
    return {"R": (m[:3, :3] / scale).tolist(), "t": [float(x) for x in m[:3, 3]],
            "scale": [float(x) for x in scale]}


def to_camera(pose: dict, points: np.ndarray) -> np.ndarray:
    """Model points (N, 3), in the model's own units, in camera coordinates (metres) by ``pose``
    (:func:`model_pose`)."""
    R, t, s = (np.asarray(pose[k], float) for k in ("R", "t", "scale"))
    return (np.asarray(points, float) * s) @ R.T + t


def _pairs(a: np.ndarray) -> list[Optional[list[float]]]:
    """Rows of ``a`` as JSON lists, a row with a NaN as null."""
    return [None if np.isnan(r).any() else [float(x) for x in r] for r in a]


def box3d(pose: dict, lo, hi, K: np.ndarray, lens: Optional[Lens] = None) -> dict:
    """The 3D box record of an object (docs/dataset.md, "3D boxes"): ``min``/``max`` in the
    model's own coordinates, ``size`` in metres along the model's axes, ``center`` and the 8
    ``corners`` in camera coordinates (metres), and ``projected``: the 8 corners and the
    centre in pixels (null for a point not in front of the camera, or that ``lens``, when the
    camera has one, does not see)."""
    points = to_camera(pose, cuboid_points(lo, hi))
    size = (np.asarray(hi, float) - np.asarray(lo, float)) * np.asarray(pose["scale"], float)
    return {"min": [float(x) for x in lo], "max": [float(x) for x in hi], "size": [float(x) for x in size],
            "center": [float(x) for x in points[8]], "corners": points[:8].tolist(),
            "projected": _pairs(lens.project(points) if lens is not None else project_points(K, points))}
