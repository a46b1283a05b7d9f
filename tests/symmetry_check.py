"""How far a rigid map moves a mesh off itself, computed with trimesh alone (no simgen code):
the largest distance from a moved surface sample to the mesh's surface."""

from __future__ import annotations

import numpy as np
import trimesh
from scipy.spatial import cKDTree


def rotation(axis, angle: float) -> np.ndarray:
    """The rotation by ``angle`` about ``axis`` (trimesh's own formula)."""
    return trimesh.transformations.rotation_matrix(angle, np.asarray(axis, float))[:3, :3]


def surface_distance(mesh: trimesh.Trimesh, points: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Each point's distance to the surface: the nearest of trimesh's closest points on the faces
    that can hold it (those whose box meets the point's box out to its nearest vertex or face
    centre, both on the surface). trimesh.proximity.closest_point finds its candidates the same
    way, but with this environment's numpy<2 rtree's batch query fails and trimesh asks the tree
    point by point (most of the check's time), and it overstates some distances by up to 3e-5 m
    on the catalog's cans and cones (this equals a search of every face:
    test_symmetries.py::test_the_checks_distance_is_a_search_of_every_face)."""
    points = np.asarray(points, float)
    tri = mesh.triangles.view(np.ndarray)
    lo, hi = tri.min(axis=1), tri.max(axis=1)
    on_surface = np.concatenate([mesh.vertices, tri.mean(axis=1)])
    reach = cKDTree(on_surface).query(points)[0] * (1 + 1e-9) + 1e-12
    best = np.full(len(points), np.inf)
    for s in range(0, len(points), chunk):
        p, r = points[s:s + chunk], reach[s:s + chunk, None]
        near = np.ones((len(p), len(tri)), bool)
        for k in range(3):
            near &= (lo[:, k] <= p[:, k, None] + r) & (hi[:, k] >= p[:, k, None] - r)
        pi, fi = np.nonzero(near)
        d = np.linalg.norm(trimesh.triangles.closest_point(tri[fi], p[pi]) - p[pi], axis=1)
        np.minimum.at(best, s + pi, d)
    return best


def off_surface(mesh: trimesh.Trimesh, R: np.ndarray, t: np.ndarray, samples: int = 1500) -> float:
    """Largest distance between ``R p + t`` and the surface, over surface samples ``p``."""
    points, _ = trimesh.sample.sample_surface(mesh, samples, seed=0)
    moved = np.asarray(points) @ np.asarray(R, float).T + np.asarray(t, float)
    return float(surface_distance(mesh, moved).max())


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
