"""A cloth sheet as plain data (what a recipe draws), its flat triangle mesh, and what a cloth
simulation returns. No Blender: :func:`simgen.blender.cloth.simulate` runs Blender's own cloth
solver on it.

The sheet is a rectangle of ``size`` metres in its local XY plane, centred on its origin, with
its normal along local +Z. :func:`sheet` gives its vertices and triangles in a fixed order, and
the simulation returns the vertices in that same order at every step, so a surface point (a
triangle and barycentric coordinates on it) can be followed exactly through the sequence.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from simgen.errors import SimgenError

MAX_VERTICES = 40_000
"""The most vertices a sheet may have (a 199x199-quad square): Blender's cloth solver costs
about linearly in vertices and a bigger sheet takes minutes a scene."""

SHAPES = ("sheet", "pouch", "cable")
"""What a cloth is: :attr:`Cloth.shape`."""

CABLE_SIDES = 8
"""Vertices around a cable's ring."""

POUCH_BULGE = 0.15
"""A pouch starts as two sheets bulging apart by this fraction of its shorter side at the middle
(the edges sewn): the pressure fills it from there."""

EXPLODED_FACTOR = 100.0
"""A simulation has exploded when a vertex is non-finite or farther than this many times the
sheet's longer side from where it started."""


BOUNDS = {  # field: (least, most, least excluded, what it is) -- Blender's own limits, so nothing is clamped
    "mass": (0.0, 1e6, True, "kg per vertex, e.g. 0.3"),
    "tension": (0.0, 10_000.0, True, "stretch stiffness; cotton is 15, denim 40"),
    "bending": (0.0, 10_000.0, False, "bending stiffness; cotton is 0.5, denim 10"),
    "shear": (0.0, 10_000.0, False, "shear stiffness; Blender's default is 5"),
    "air_damping": (0.0, 10.0, False, "air drag; Blender's default is 1"),
    "friction": (0.0, 80.0, False, "Blender's cloth friction scale; its default is 5"),
    "thickness": (0.001, 1.0, False, "the collision distance in metres, e.g. 0.015"),
}


@dataclass(frozen=True)
class Cloth:
    """A rectangular cloth sheet and the cloth solver's material settings (Blender's names in
    brackets; see Blender's manual, Physics > Cloth)."""

    size: tuple[float, float] = (1.0, 1.0)
    """The sheet's sides along its local X and Y, metres."""
    resolution: int = 20
    """Quads along the longer side; the shorter side gets ``max(1, round(resolution * short /
    long))``, so the quads are as square as the sides allow. Vertices: ``(nx + 1) * (ny + 1)``
    (:func:`grid`), at most :data:`MAX_VERTICES`."""
    mass: float = 0.3
    """kg per vertex (``settings.mass``): a finer sheet of the same mass per vertex is heavier."""
    tension: float = 15.0
    """Stiffness against stretching and compression (``tension_stiffness`` and
    ``compression_stiffness``); Blender's cotton is 15, denim 40, silk 5."""
    bending: float = 0.5
    """Stiffness against bending (``bending_stiffness``): 0.5 cotton, 10 denim, 0.05 silk."""
    shear: float = 5.0
    """Stiffness against shearing (``shear_stiffness``)."""
    air_damping: float = 1.0
    """Air's drag on the moving sheet (``air_damping``): higher falls and settles slower."""
    friction: float = 5.0
    """Friction against colliders (the cloth's ``collision_settings.friction`` and each
    collider's ``collision.cloth_friction``, Blender's 0..80 scale; 5 is Blender's default)."""
    thickness: float = 0.015
    """The distance the sheet keeps from a collider's surface, metres (the cloth's
    ``collision_settings.distance_min``; colliders add :data:`~simgen.blender.cloth.COLLIDER_THICKNESS`)."""
    quality: int = 5
    """Solver steps per frame (``quality``): raise it for stiff or fast cloth that explodes."""
    collision_quality: int = 5
    """Collision passes per solver step (``collision_settings.collision_quality``): at Blender's
    default of 2 the corners of a 1 m sheet dropped from 0.5 m went through the ground."""
    shape: str = "sheet"
    """``sheet``: a flat sheet (a towel, a tarp); ``pouch``: a closed soft package (a bag, a
    pillow, a pouch), two such sheets sewn at their edges and filled by :attr:`pressure`;
    ``cable``: a thin closed tube (a cable, a hose, a rope) along local X, ``size`` its length and
    diameter, :attr:`resolution` rings along it, kept round by :attr:`pressure` (:func:`sheet`
    gives each)."""
    pressure: float = 5.0
    """A pouch's inner pressure (``uniform_pressure_force``, Blender's units): 0 lies flat, higher
    fills it rounder and stiffer."""
    self_collision: bool = False
    """Whether the cloth collides with itself (``collision_settings.use_self_collision``, at
    ``self_distance_min`` = :attr:`thickness` and ``self_friction`` = :attr:`friction`): a sheet that
    folds onto itself then never passes through its own folds; off, its folds may cross. A sheet's
    only: a pouch's or a cable's walls meet at its seams and ends, which self-collision pushes apart
    (a pouch with it fell through the box it was dropped on, and took 30 times as long)."""

    def __post_init__(self) -> None:
        size = self.size
        if not (isinstance(size, (tuple, list)) and len(size) == 2):
            raise ValueError(f"cloth.size={size!r}: must be two side lengths in metres, e.g. (1.0, 0.6)")
        if not all(isinstance(s, (int, float, np.number)) and not isinstance(s, bool) and math.isfinite(s)
                   and 0 < s <= 1000 for s in size):
            raise ValueError(f"cloth.size={tuple(size)!r}: each side must be a number of metres > 0 and <= 1000, "
                             f"e.g. (1.0, 0.6)")
        object.__setattr__(self, "size", (float(size[0]), float(size[1])))
        res = self.resolution
        if isinstance(res, bool) or not isinstance(res, (int, np.integer)) or res < 1:
            raise ValueError(f"cloth.resolution={res!r}: must be an integer >= 1 (quads along the longer side)")
        object.__setattr__(self, "resolution", int(res))
        nx, ny = grid(self)
        if (nx + 1) * (ny + 1) > MAX_VERTICES:
            raise ValueError(f"cloth.resolution={res}: the sheet would have {(nx + 1) * (ny + 1)} vertices, more than "
                             f"{MAX_VERTICES}; use a resolution of at most {max_resolution(self.size)}")
        for name, (low, high, positive, hint) in BOUNDS.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not math.isfinite(v) \
                    or v < low or v > high or (positive and v == low):
                raise ValueError(f"cloth.{name}={v!r}: must be a number {'>' if positive else '>='} {low:g} and "
                                 f"<= {high:g} ({hint})")
            object.__setattr__(self, name, float(v))
        for name, high, what in (("quality", 80, "solver steps per frame"),
                                 ("collision_quality", 20, "collision passes per solver step")):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= high:
                raise ValueError(f"cloth.{name}={v!r}: must be an integer from 1 to {high} ({what})")
            object.__setattr__(self, name, int(v))

        if self.shape not in SHAPES:
            raise ValueError(f"cloth.shape={self.shape!r}: must be one of {', '.join(SHAPES)}")
        if self.shape == "pouch" and min(nx, ny) < 2:
            raise ValueError(f"cloth.resolution={res}: a pouch of size {self.size} would have {min(nx, ny)} quad "
                             "across its shorter side; it needs at least 2 (raise the resolution)")
        p = self.pressure
        if isinstance(p, bool) or not isinstance(p, (int, float, np.number)) or not 0 <= p <= 10_000:
            raise ValueError(f"cloth.pressure={p!r}: must be a number >= 0 and <= 10000 (a pouch's inner pressure)")
        object.__setattr__(self, "pressure", float(p))
        if not isinstance(self.self_collision, (bool, np.bool_)):
            raise ValueError(f"cloth.self_collision={self.self_collision!r}: must be true or false")
        object.__setattr__(self, "self_collision", bool(self.self_collision))
        if self.self_collision and self.shape != "sheet":
            raise ValueError(f"cloth.self_collision=True: a {self.shape} cannot collide with itself (its walls meet at "
                             "its seams); use it with shape='sheet' only")

    def to_dict(self) -> dict:
        """Every field, JSON-ready (the frame's meta)."""
        d = dataclasses.asdict(self)
        d["size"] = list(self.size)
        return d

    @property
    def vertex_count(self) -> int:
        nx, ny = grid(self)
        if self.shape == "cable":
            return (nx + 1) * ny + 2
        return (nx + 1) * (ny + 1) + (self.shape == "pouch") * (nx - 1) * (ny - 1)


def grid(cloth: Cloth) -> tuple[int, int]:
    """Quads along the sheet's local X and Y (a cable's: along its length, around it)."""
    if cloth.shape == "cable":
        return cloth.resolution, CABLE_SIDES
    sx, sy = cloth.size
    long, short = max(sx, sy), min(sx, sy)
    n_short = max(1, round(cloth.resolution * short / long))
    return (cloth.resolution, n_short) if sx >= sy else (n_short, cloth.resolution)


def max_resolution(size: tuple[float, float]) -> int:
    """The largest resolution whose sheet of ``size`` has at most :data:`MAX_VERTICES` vertices."""
    long, short = max(size), min(size)

    def count(r: int) -> int:
        return (r + 1) * (max(1, round(r * short / long)) + 1)

    low, high = 1, MAX_VERTICES  # count(low) <= MAX_VERTICES < count(high); count grows with r
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if count(mid) <= MAX_VERTICES else (low, mid)
    return low


def sheet(cloth: Cloth) -> tuple[np.ndarray, np.ndarray]:
    """The flat sheet: vertices (V, 3) float64 in its local frame (z = 0) and triangles (F, 3)
    int64, counter-clockwise seen from +Z (normals along +Z); a pouch (:attr:`Cloth.shape`) adds a
    second sheet under it, sewn at the edges (:func:`_pouch`).

    Vertex ``j * (nx + 1) + i`` is at ``x = -sx/2 + i * sx/nx``, ``y = -sy/2 + j * sy/ny``
    (row-major from the -X,-Y corner, X fastest; ``(nx, ny) = grid(cloth)``). Quad ``(i, j)``
    with corners ``a`` (i, j), ``b`` (i+1, j), ``c`` (i, j+1), ``d`` (i+1, j+1) is the two
    triangles ``(a, b, d)`` and ``(a, d, c)`` (triangles ``2 * (j * nx + i)`` and the next):
    one fixed diagonal, so the pure side and Cycles agree on the surface.
    """
    if cloth.shape == "cable":
        return _cable(cloth)
    nx, ny = grid(cloth)
    sx, sy = cloth.size
    x = np.linspace(-sx / 2, sx / 2, nx + 1)
    y = np.linspace(-sy / 2, sy / 2, ny + 1)
    xx, yy = np.meshgrid(x, y)  # (ny+1, nx+1): row j, column i
    vertices = np.stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)], axis=1)
    i, j = np.meshgrid(np.arange(nx), np.arange(ny))
    a = (j * (nx + 1) + i).ravel()
    b, c = a + 1, a + nx + 1
    d = c + 1
    faces = np.stack([np.stack([a, b, d], 1), np.stack([a, d, c], 1)], axis=1).reshape(-1, 3)
    if cloth.shape == "pouch":
        return _pouch(vertices, faces.astype(np.int64), nx, ny, cloth)
    return vertices, faces.astype(np.int64)


def _pouch(top: np.ndarray, faces: np.ndarray, nx: int, ny: int, cloth: Cloth) -> tuple[np.ndarray, np.ndarray]:
    """A closed pouch from the sheet ``top``/``faces``: the sheet bulged up (the first vertices, in
    its order), then the interior vertices of a second sheet bulged down (row-major, X fastest),
    whose triangles turn the other way (normals outward) and share the first sheet's edge."""
    sx, sy = cloth.size
    bulge = POUCH_BULGE * min(sx, sy) * (1 - (2 * top[:, 0] / sx) ** 2) * (1 - (2 * top[:, 1] / sy) ** 2)
    up = top.copy()
    up[:, 2] = bulge
    inner = np.zeros((ny + 1, nx + 1), bool)
    inner[1:-1, 1:-1] = True
    inner = inner.ravel()
    down = top[inner].copy()
    down[:, 2] = -bulge[inner]
    index = np.arange(len(top))  # a vertex of the second sheet: the first's on the edge, its own inside
    index[inner] = len(top) + np.arange(int(inner.sum()))
    under = faces.reshape(-1, 2, 3).copy()  # per quad: (a, b, d), (a, d, c)
    a, b, d, c = (under[:, k, m].copy() for k, m in ((0, 0), (0, 1), (0, 2), (1, 2)))
    edge = ~inner[a] & ~inner[d]  # a corner quad whose diagonal runs along the seam: the other one below
    under[edge, 0] = np.stack([a[edge], b[edge], c[edge]], 1)
    under[edge, 1] = np.stack([b[edge], d[edge], c[edge]], 1)
    return np.concatenate([up, down]), np.concatenate([faces, index[under.reshape(-1, 3)][:, ::-1]])


def _cable(cloth: Cloth) -> tuple[np.ndarray, np.ndarray]:
    """A closed tube along local X: ``resolution + 1`` rings of :data:`CABLE_SIDES` vertices (ring
    ``i``'s vertex ``k`` is ``i * CABLE_SIDES + k``, at angle ``2 pi k / CABLE_SIDES`` about X from +Y
    towards +Z), then the two end caps' centres; triangles outward."""
    n, sides = cloth.resolution, CABLE_SIDES
    length, radius = cloth.size[0], cloth.size[1] / 2
    x = np.linspace(-length / 2, length / 2, n + 1)
    angle = 2 * np.pi * np.arange(sides) / sides
    rings = np.stack([np.repeat(x, sides), np.tile(radius * np.cos(angle), n + 1),
                      np.tile(radius * np.sin(angle), n + 1)], axis=1)
    vertices = np.concatenate([rings, [[-length / 2, 0.0, 0.0], [length / 2, 0.0, 0.0]]])
    i, k = np.meshgrid(np.arange(n), np.arange(sides), indexing="ij")
    a = (i * sides + k).ravel()
    b = (i * sides + (k + 1) % sides).ravel()
    c, d = a + sides, b + sides
    side = np.stack([np.stack([a, b, d], 1), np.stack([a, d, c], 1)], axis=1).reshape(-1, 3)
    ring = np.arange(sides)
    start, end = len(rings), len(rings) + 1
    caps = np.concatenate([np.stack([np.full(sides, start), (ring + 1) % sides, ring], 1),
                           np.stack([np.full(sides, end), n * sides + ring, n * sides + (ring + 1) % sides], 1)])
    return vertices, np.concatenate([side, caps]).astype(np.int64)


@dataclass(frozen=True)
class ClothRun:
    """What a cloth simulation returns (:func:`simgen.blender.cloth.simulate`)."""

    vertices: np.ndarray
    """(steps, V, 3) float64, world coordinates, in :func:`sheet`'s vertex order: step 0 after the
    settling frames, then one per frame."""
    settled: bool
    """Whether the fastest vertex moved slower than the rest speed at the end of settling."""
    max_speed: float
    """m/s of the fastest vertex over the last settling frame (``inf`` with no settling frame)."""
    seconds: float
    """Wall-clock seconds the simulation took (building, settling, the steps and cleaning up): for
    cloths simulated together (:func:`simgen.blender.cloth.simulate_together`), their joint run's."""
    frames: int = 0
    """Frames simulated (settle + steps - 1)."""

    def to_dict(self) -> dict:
        """The run's figures, JSON-ready (not its vertices)."""
        return {"steps": int(self.vertices.shape[0]), "vertices": int(self.vertices.shape[1]),
                "settled": bool(self.settled), "max_speed": float(self.max_speed),
                "seconds": float(self.seconds), "frames": int(self.frames)}


def check_exploded(vertices: np.ndarray, start: np.ndarray, cloth: Cloth, where: str) -> None:
    """Raise when any vertex of ``vertices`` (V, 3) is non-finite or farther than
    :data:`EXPLODED_FACTOR` times the sheet's longer side from ``start`` (V, 3); ``where`` names
    the step in the message."""
    limit = EXPLODED_FACTOR * max(cloth.size)
    bad = ~np.isfinite(vertices).all(axis=1)
    if not bad.any():
        bad = np.linalg.norm(vertices - start, axis=1) > limit
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise SimgenError(
            f"cloth simulation exploded at {where}: vertex {k} (of {len(vertices)}) is "
            f"{'not finite' if not np.isfinite(vertices[k]).all() else f'over {limit:g} m from its start'}; "
            f"raise cloth.quality (now {cloth.quality}) or lower its stiffness, or drop it from lower")
