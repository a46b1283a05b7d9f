"""How far a rigid map moves a mesh off itself, computed with trimesh alone (no simgen code):
the largest distance from a moved surface sample to the mesh's surface."""

from __future__ import annotations

import numpy as np
import trimesh


def rotation(axis, angle: float) -> np.ndarray:
    """The rotation by ``angle`` about ``axis`` (trimesh's own formula)."""
    return trimesh.transformations.rotation_matrix(angle, np.asarray(axis, float))[:3, :3]


def off_surface(mesh: trimesh.Trimesh, R: np.ndarray, t: np.ndarray, samples: int = 1500) -> float:
    """Largest distance between ``R p + t`` and the surface, over surface samples ``p``."""
    points, _ = trimesh.sample.sample_surface(mesh, samples, seed=0)
    moved = np.asarray(points) @ np.asarray(R, float).T + np.asarray(t, float)
    _, dist, _ = trimesh.proximity.closest_point(mesh, moved)
    return float(dist.max())


def worst_symmetry_error(mesh: trimesh.Trimesh, discrete: list, continuous: list) -> float:
    """The largest :func:`off_surface` over BOP-style symmetries: each discrete 4x4 (row-major,
    16 numbers), and each continuous {axis, offset} turned by 5 angles that are no multiple of
    any polygon section (a turn about an axis through ``offset``)."""
    worst = 0.0
    for m in discrete:
        T = np.asarray(m, float).reshape(4, 4)
        worst = max(worst, off_surface(mesh, T[:3, :3], T[:3, 3]))
    for sym in continuous:
        offset = np.asarray(sym["offset"], float)
        for angle in (0.37, 1.1, 2.0, 3.3, 5.1):
            R = rotation(sym["axis"], angle)
            worst = max(worst, off_surface(mesh, R, offset - R @ offset))
    return worst
