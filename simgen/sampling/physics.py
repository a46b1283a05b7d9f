"""Drop poses and supports for physics placement (pure numpy; Blender settles them).

Objects start as a column of bounding spheres above a support: each sphere's centre is
drawn over the support's drop region, then lowered until it sits ``gap`` above the
support or above an earlier sphere, so no two objects touch at the start. Supports
(table, bin) are built from scaled copies of a unit cube centred at the origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from simgen.scene.meshes import MeshRef
from simgen.scene.data import Physics, RigidBody
from simgen.sampling.random import uniform

FALL = 0.5
"""m below a world's lowest point: a body there has fallen off its geometry (Physics.floor)."""
DENSITY = 300.0
"""kg/m^3 over an object's bounding box: only mass ratios matter when objects stack."""
MASS_RATIO = 10.0
"""No body is lighter than the heaviest / this: Bullet lets a crate push a 25 g washer
through a bin's floor (mass ratio 270) but not a 10:1 one."""

TABLE_TOP = 0.04
"""Thickness (m) of a table top."""
TABLE_LEG = 0.05
"""Edge (m) of a table leg's square section."""
BIN_WALL = 0.015
"""Thickness (m) of a bin's walls and floor."""


@dataclass(frozen=True)
class Support:
    """Where objects are dropped: over a disk (``radius``) or a rectangle (``half``) centred
    on the origin, onto the surface at height ``floor``; ``boxes`` are the unit-cube poses
    (4x4, scale included) of the support's solid parts."""

    kind: str
    floor: float
    radius: float | None = None
    half: tuple[float, float] | None = None
    boxes: tuple[tuple[str, np.ndarray], ...] = ()
    params: dict | None = None

    def sample_xy(self, rng: np.random.Generator, r: float) -> np.ndarray:
        """A point over the drop region at which a sphere of radius ``r`` lies inside it
        (the region's centre when the sphere is wider than the region)."""
        if self.radius is not None:
            rho = max(self.radius - r, 0.0) * np.sqrt(rng.uniform())
            phi = rng.uniform(0.0, 2 * np.pi)
            return np.array([rho * np.cos(phi), rho * np.sin(phi)])
        hx, hy = (max(h - r, 0.0) for h in self.half)
        return np.array([rng.uniform(-hx, hx), rng.uniform(-hy, hy)])

    def corners(self) -> list[np.ndarray]:
        """The corners of every box (world points), e.g. to keep walls outside the support."""
        unit = np.array([[x, y, z, 1.0] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
        return [p[:3] for _, m in self.boxes for p in unit @ m.T]


def box_pose(center: tuple[float, float, float], size: tuple[float, float, float]) -> np.ndarray:
    """The pose of the unit cube scaled to ``size`` and centred at ``center``."""
    m = np.diag([*size, 1.0])
    m[:3, 3] = center
    return m


def box_collider(mesh: Any, matrix: np.ndarray) -> np.ndarray | None:
    """The unit-cube pose (world) of a mesh (trimesh) posed by ``matrix`` when it is a closed box
    (every vertex on a face of its bounding box, its area the box's), which Bullet then collides as a
    solid; None for any other mesh, which collides as its triangles (a surface: what others press
    on may pass through it)."""
    lo, hi = mesh.bounds
    a, b, c = size = hi - lo
    on_a_face = (np.isclose(mesh.vertices, lo, atol=1e-6) | np.isclose(mesh.vertices, hi, atol=1e-6)).any(axis=1)
    if min(size) > 0 and on_a_face.all() and np.isclose(mesh.area, 2 * (a * b + b * c + c * a), rtol=1e-4):
        return matrix @ box_pose((lo + hi) / 2, size)
    return None


def world_colliders(parts: Sequence[tuple[MeshRef, np.ndarray, Any]]
                    ) -> tuple[list[np.ndarray], list[tuple[MeshRef, np.ndarray]]]:
    """A world's parts ((mesh ref, mesh_to_world, trimesh) each) as the simulation holds them: the
    closed boxes as solid box colliders (:func:`box_collider`), the others as static meshes."""
    boxes, static = [], []
    for ref, matrix, mesh in parts:
        box = box_collider(mesh, matrix)
        if box is None:
            static.append((ref, matrix))
        else:
            boxes.append(box)
    return boxes, static


def sample_support(kind: str, rng: np.random.Generator, area_radius: float, pile_radius: float,
                   table_size: list[float], table_height: list[float], bin_size: list[float],
                   bin_height: list[float]) -> Support:
    """A support of ``kind`` (ground, pile, table or bin) with its sizes drawn from the ranges.
    Objects are dropped within ``area_radius`` of the centre (and, on a table, no further
    out than its top's edges; in a bin, inside its walls)."""
    if kind == "ground":
        return Support(kind, 0.0, radius=area_radius, params={"kind": kind, "radius": area_radius})
    if kind == "pile":
        return Support(kind, 0.0, radius=pile_radius, params={"kind": kind, "radius": pile_radius})
    if kind == "table":
        a, b, h = uniform(rng, table_size), uniform(rng, table_size), uniform(rng, table_height)
        boxes = [("table_top", box_pose((0.0, 0.0, h - TABLE_TOP / 2), (a, b, TABLE_TOP)))]
        leg_h = h - TABLE_TOP
        for k, (sx, sy) in enumerate(((-1, -1), (1, -1), (1, 1), (-1, 1))):
            c = (sx * (a / 2 - TABLE_LEG), sy * (b / 2 - TABLE_LEG), leg_h / 2)
            boxes.append((f"table_leg{k}", box_pose(c, (TABLE_LEG, TABLE_LEG, leg_h))))
        half = (min(a / 2, area_radius), min(b / 2, area_radius))  # where the camera looks
        return Support(kind, h, half=half, boxes=tuple(boxes),
                       params={"kind": kind, "size": [a, b], "height": h, "drop_half_size": list(half)})
    if kind == "bin":
        a, b, h = uniform(rng, bin_size), uniform(rng, bin_size), uniform(rng, bin_height)
        w = BIN_WALL
        boxes = [("bin_floor", box_pose((0.0, 0.0, w / 2), (a + 2 * w, b + 2 * w, w)))]
        for k, s in enumerate((-1, 1)):
            boxes.append((f"bin_wall_x{k}", box_pose((s * (a + w) / 2, 0.0, w + h / 2), (w, b + 2 * w, h))))
            boxes.append((f"bin_wall_y{k}", box_pose((0.0, s * (b + w) / 2, w + h / 2), (a, w, h))))
        return Support(kind, w, half=(min(a / 2, area_radius), min(b / 2, area_radius)), boxes=tuple(boxes),
                       params={"kind": kind, "inner_size": [a, b], "wall_height": h, "wall": w})
    raise ValueError(f"unknown support kind {kind!r}")


def slab_behind(plane_to_world: np.ndarray, thickness: float) -> np.ndarray:
    """The unit-cube pose of a solid ``thickness`` thick behind a placed unit square (the
    ground mesh, placed by ``plane_to_world``): flush with its face, on the side away from
    its normal, so that nothing dropped in front of it can pass through."""
    m = np.asarray(plane_to_world, float)
    n = np.cross(m[:3, 0], m[:3, 1])
    n /= np.linalg.norm(n)
    box = np.eye(4)
    box[:3, 0], box[:3, 1], box[:3, 2] = m[:3, 0], m[:3, 1], n * thickness
    box[:3, 3] = m[:3, 3] - n * (thickness / 2.0)
    return box


def bounding_sphere(vertices: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """(centre in mesh coordinates, radius after ``scale``): the bounding box's centre and the
    farthest vertex from it."""
    v = np.asarray(vertices, float)
    c = (v.min(axis=0) + v.max(axis=0)) / 2.0
    return c, float(np.linalg.norm(v - c, axis=1).max()) * scale


def box_volume(vertices: np.ndarray, scale: float) -> float:
    """m^3 of a mesh's bounding box at ``scale``."""
    return float(np.prod(np.ptp(np.asarray(vertices, float), axis=0) * scale))


def rigid_body(instance_id: int, volume: float, largest: float, pc: Any, rng: np.random.Generator) -> RigidBody:
    """The body of an object of bounding-box ``volume`` among objects whose largest is ``largest``:
    its mass (:data:`DENSITY`, no lighter than the heaviest / :data:`MASS_RATIO`), and its friction
    and restitution drawn from ``pc`` (a :class:`simgen.config.SettleConfig`)."""
    return RigidBody(instance_id=instance_id, mass=max(DENSITY * volume, DENSITY * largest / MASS_RATIO),
                     friction=uniform(rng, pc.friction), restitution=uniform(rng, pc.restitution))


def settling(pc: Any, bodies: Sequence[RigidBody], colliders: Sequence[np.ndarray] = (),
             static: Sequence[tuple[MeshRef, np.ndarray]] = (), floor: float | None = None) -> Physics:
    """The simulation of ``bodies`` among box ``colliders`` and ``static`` meshes, as ``pc`` (a
    :class:`simgen.config.SettleConfig`) runs it; below ``floor`` a body has fallen off the world."""
    return Physics(bodies=tuple(bodies), colliders=tuple(colliders), max_seconds=pc.max_seconds,
                   rest_speed=pc.rest_speed, substeps=pc.substeps, margin=pc.margin, static=tuple(static), floor=floor)


def drop_centres(radii: list[float], gaps: list[float], support: Support,
                 rng: np.random.Generator) -> list[np.ndarray]:
    """Centres of spheres of ``radii`` dropped in turn over ``support``: each is lowered until
    it is ``gap`` above the support or above an earlier sphere (the first it would touch)."""
    placed: list[tuple[np.ndarray, float]] = []
    for r, gap in zip(radii, gaps):
        xy = support.sample_xy(rng, r)
        z = support.floor + r + gap
        for c, rc in placed:
            reach = r + rc + gap
            d = float(np.hypot(*(xy - c[:2])))
            if d < reach:
                z = max(z, c[2] + np.sqrt(reach * reach - d * d))
        placed.append((np.array([xy[0], xy[1], z]), r))
    return [c for c, _ in placed]


def drop_pose(center_mesh: np.ndarray, scale: float, rotation: np.ndarray, position: np.ndarray) -> np.ndarray:
    """mesh_to_world = T(position) R S(scale) T(-center_mesh): the mesh's bounding-box centre
    at ``position``."""
    m = np.eye(4)
    m[:3, :3] = rotation * scale
    m[:3, 3] = np.asarray(position, float) - m[:3, :3] @ np.asarray(center_mesh, float)
    return m
