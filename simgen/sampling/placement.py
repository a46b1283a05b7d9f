"""Analytic placement on a ground plane without interpenetration.

Each object stands upright (it may only turn about the vertical axis), its lowest
point on the ground (z = 0). Its footprint is the smallest circle about its
vertical axis that holds its whole outline, so two objects whose footprints are
disjoint cannot intersect whatever their yaw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simgen.scene.transforms import rot_z


@dataclass(frozen=True)
class Footprint:
    center: np.ndarray
    """XY centre of the footprint in (scaled, unrotated) mesh coordinates."""
    radius: float
    z_min: float
    height: float


def footprint(vertices: np.ndarray, scale: float) -> Footprint:
    v = np.asarray(vertices, float) * scale
    lo, hi = v.min(axis=0), v.max(axis=0)
    center = (lo[:2] + hi[:2]) / 2.0
    radius = float(np.sqrt(((v[:, :2] - center) ** 2).sum(axis=1).max()))
    return Footprint(center=center, radius=radius, z_min=float(lo[2]), height=float(hi[2] - lo[2]))


def standing_pose(fp: Footprint, scale: float, yaw: float, xy: np.ndarray) -> np.ndarray:
    """mesh_to_world that scales, turns by ``yaw`` and stands the footprint centre at ``xy``."""
    R = rot_z(yaw)
    m = np.eye(4)
    m[:3, :3] = R * scale
    m[:2, 3] = np.asarray(xy, float) - (R[:2, :2] @ fp.center)
    m[2, 3] = -fp.z_min
    return m


FIRST_TRIES = 4
"""The tries :func:`pack_disks` draws at once for a disk first (then all the rest at once)."""


def pack_disks(radii: list[float], area_radius: float, clearance: float, max_tries: int,
               rng: np.random.Generator, need: int = 0,
               priority: list[int] | None = None) -> list[np.ndarray | None]:
    """Rejection-sample disk centres inside a circle of ``area_radius``, largest disk first.

    Returns a centre per disk (in the order given), or None for a disk that did not fit
    in ``max_tries``. Gives up early (all None) once fewer than ``need`` disks can fit.
    ``priority`` (one int per disk, lower first) places whole groups before others, e.g.
    annotated objects before clutter; within a group the largest disk goes first.
    """
    prio = priority if priority is not None else [0] * len(radii)
    centres = np.zeros((len(radii), 2))  # of the disks placed so far, the first n rows
    sizes = np.zeros(len(radii))         # and their radii
    n = 0
    out: list[np.ndarray | None] = [None] * len(radii)
    misses = 0
    for i in sorted(range(len(radii)), key=lambda k: (prio[k], -radii[k])):
        r = radii[i]
        room = area_radius - r
        tried = 0
        while tried < (max_tries if room >= 0 else 0):
            # a try draws u, v from rng: the centre at radius room * sqrt(u), angle 2 pi v. Tries are
            # drawn in batches (a few first: most disks fit at once) and the stream is then moved to
            # just after the try that fitted, so that rng ends where drawing one try at a time would
            batch = min(FIRST_TRIES if not tried else max_tries, max_tries - tried)
            state = rng.bit_generator.state
            uv = rng.random((batch, 2))
            rho, phi = room * np.sqrt(uv[:, 0]), 2 * np.pi * uv[:, 1]
            p = np.stack([rho * np.cos(phi), rho * np.sin(phi)], axis=1)
            fits = (np.hypot(p[:, :1] - centres[:n, 0], p[:, 1:] - centres[:n, 1]) >= r + sizes[:n] + clearance).all(axis=1)
            if fits.any():
                j = int(fits.argmax())
                rng.bit_generator.state = state
                rng.random((j + 1, 2))
                centres[n], sizes[n] = p[j], r
                n += 1
                out[i] = p[j].copy()
                break
            tried += batch
        if out[i] is None:
            misses += 1
            if len(radii) - misses < need:
                return [None] * len(radii)
    return out


def impossible_placement(n_min: int, radii: list[float], area_radius: float, attempts: int) -> str:
    """What a scene that cannot place its objects records (and a refusal says), with the fix."""
    return (f"impossible placement: {n_min} objects (objects.count[0]) with footprint radii up to "
            f"{max(radii, default=0.0):.3f} m did not fit in scene.area_radius={area_radius} m in {attempts} "
            "attempts; lower objects.count or scene.object_scale, or raise scene.area_radius")
