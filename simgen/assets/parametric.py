"""Parametric shapes: a new mesh of a bundled category for every draw (no files, no downloads).

Each generator turns a ``numpy.random.Generator`` into a :class:`Shape`: vertices (metres,
Z up, resting on z = 0, centred on the Z axis like the bundled meshes), triangles wound
counter-clockwise seen from outside, per-corner UVs, and the JSON-ready draws (``params``).

- Surfaces of revolution (``ball``, ``bottle``, ``can``, ``cone``, ``mug``, ``ring``) are
  lathed from a random profile. Their UVs are u = angle x radius, v = arc length along the
  profile (a sinusoidal unrolling): every triangle keeps its area in UV space, so a texture
  keeps its scale everywhere on the surface. A mug is hollow (wall, rounded rim, floor) and
  has a handle: a tube swept along a C-shaped curve whose capped ends sit inside the wall.
- ``box``: a box of random proportions with rounded (bevelled) edges; UVs are projected per
  face along the triangle's dominant axis (per-face box mapping).

UV units are metres divided by the shape's largest extent, so a texture's ``scale`` means
roughly "features across the object", as with the generated coordinates of catalog meshes.

Every part of a shape is closed (watertight) with shared vertices (UV seams live in the
per-corner UVs only); a mug's handle is a second closed part overlapping the wall.

A drawn shape is referred to by a :class:`~simgen.scene.meshes.GeneratedMesh` (its category
and seed; no file holds it): :func:`simgen.assets.load_mesh` regenerates the mesh from it
(:func:`shape_of`), so scenes stay plain data and ``models/`` gets the exact mesh rendered.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

from simgen.errors import SimgenError
from simgen.assets.appearance import Appearance, LoadedAsset
from simgen.scene.meshes import GeneratedMesh

if TYPE_CHECKING:
    import trimesh

SEGMENTS = 48
"""Lathe segments around the axis."""
CACHE_SHAPES = 256
"""Shapes kept in memory; an evicted one is regenerated (same seed, same mesh) when asked for."""


@dataclass(frozen=True, eq=False)
class Shape:
    category: str
    params: dict
    """The draws: JSON-ready numbers that, with the generator, define the mesh."""
    vertices: np.ndarray
    """(V, 3) float64, metres."""
    faces: np.ndarray
    """(F, 3) int64, counter-clockwise seen from outside."""
    uv: np.ndarray
    """(F, 3, 2) float32: texture coordinates per face corner."""
    parts: int = 1
    """Closed parts the mesh is made of (a mug: body and handle)."""
    _mesh: list = field(default_factory=list, repr=False)
    _loaded: list = field(default_factory=list, repr=False)

    @property
    def mesh(self) -> trimesh.Trimesh:
        """The shape as a trimesh (made once; do not mutate it)."""
        import trimesh
        if not self._mesh:
            self._mesh.append(trimesh.Trimesh(self.vertices, self.faces, process=False))
        return self._mesh[0]

    @property
    def loaded(self) -> LoadedAsset:
        """The shape as :func:`simgen.assets.meshes.load_asset` gives it (made once): its mesh and
        an appearance of its UVs only (no material of its own: a drawn material dresses it,
        following the UVs)."""
        if not self._loaded:
            look = Appearance(materials=(), face_material=np.zeros(len(self.faces), np.int32), uv=self.uv)
            self._loaded.append(LoadedAsset(self.mesh, look))
        return self._loaded[0]


# --------------------------------------------------------------------------- building blocks


class _Builder:
    """Collects closed parts: vertices, faces and per-corner UVs (in metres until finished)."""

    def __init__(self) -> None:
        self.v: list[np.ndarray] = []
        self.f: list[np.ndarray] = []
        self.uv: list[np.ndarray] = []
        self.n = 0

    def add(self, v: np.ndarray, f: np.ndarray, uv: np.ndarray) -> None:
        self.v.append(v)
        self.f.append(f + self.n)
        self.uv.append(uv)
        self.n += len(v)

    def finish(self, category: str, params: dict) -> Shape:
        v = np.concatenate(self.v)
        f = np.concatenate(self.f).astype(np.int64)
        uv = np.concatenate(self.uv)
        v[:, 2] -= v[:, 2].min()  # rests on z = 0
        uv = uv / float(np.ptp(v, axis=0).max())
        return Shape(category=category, params=params, vertices=v, faces=f, uv=uv.astype(np.float32),
                     parts=len(self.v))


def _orient(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``f`` flipped if the closed part it describes has negative volume (inward normals)."""
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    volume = float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum())
    return f if volume > 0 else f[:, ::-1].copy()


def _flip_uv(uv: np.ndarray, flipped: bool) -> np.ndarray:
    return uv[:, ::-1].copy() if flipped else uv


def lathe(r: np.ndarray, z: np.ndarray, segments: int = SEGMENTS, closed: bool = False
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A closed surface of revolution about Z of the profile (r, z).

    Open profiles must start and end on the axis (r = 0, each becomes one pole vertex) with
    r > 0 between; ``closed`` profiles (a ring's cross-section) stay off the axis. Returns
    vertices, faces (outward) and per-corner UVs (u = angle x radius, v = arc length)."""
    r, z = np.asarray(r, float), np.asarray(z, float)
    keep = np.r_[True, np.hypot(np.diff(r), np.diff(z)) > 1e-9]
    r, z = r[keep], z[keep]
    seg = np.hypot(np.diff(np.r_[r, r[:1]] if closed else r), np.diff(np.r_[z, z[:1]] if closed else z))
    s = np.r_[0.0, np.cumsum(seg)]  # arc length at each profile point (closed: one extra, the loop's end)
    theta = np.linspace(-np.pi, np.pi, segments + 1)  # seam at the back (-x)
    ct, st = np.cos(theta[:-1]), np.sin(theta[:-1])
    n = len(r)
    if closed:
        pole = [False] * n
    else:
        if r[0] > 1e-12 or r[-1] > 1e-12 or (r[1:-1] <= 1e-12).any():
            raise ValueError("an open lathe profile starts and ends on the axis and stays off it between")
        pole = [True] + [False] * (n - 2) + [True]
    # vertex index of (profile point i, segment j): a pole is one vertex for every j
    pole_arr = np.array(pole)
    counts = np.where(pole_arr, 1, segments)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    idx = first[:, None] + np.where(pole_arr[:, None], 0, np.arange(segments)[None, :])
    rings = np.stack([r[:, None] * ct, r[:, None] * st, np.repeat(z[:, None], segments, axis=1)], axis=-1)
    v = (rings.reshape(-1, 3) if closed else
         np.concatenate([[[0.0, 0.0, z[0]]], rings[1:-1].reshape(-1, 3), [[0.0, 0.0, z[-1]]]]))
    rows = np.arange(n if closed else n - 1)
    i2 = (rows + 1) % n
    jb = (np.arange(segments) + 1) % segments
    a, a_b, b, b_b = idx[rows], idx[rows][:, jb], idx[i2], idx[i2][:, jb]
    shape = (len(rows), segments)
    u00 = np.broadcast_to(r[rows][:, None] * theta[None, :-1], shape)  # (row i, j)
    u01 = np.broadcast_to(r[rows][:, None] * theta[None, 1:], shape)  # (row i, j + 1)
    u10 = np.broadcast_to(r[i2][:, None] * theta[None, :-1], shape)  # (row i2, j)
    u11 = np.broadcast_to(r[i2][:, None] * theta[None, 1:], shape)  # (row i2, j + 1)
    s0 = np.broadcast_to(s[rows][:, None], shape)
    s1 = np.broadcast_to(s[rows + 1][:, None], shape)
    p0, p1 = pole_arr[rows], pole_arr[i2]
    faces, uvs = [], []

    def emit(mask: np.ndarray, corners: list, uv: list) -> None:
        faces.append(np.stack(corners, axis=-1)[mask].reshape(-1, 3))
        uvs.append(np.stack([np.stack(c, axis=-1) for c in uv], axis=-2)[mask].reshape(-1, 3, 2))

    emit(~p0 & ~p1, [a, a_b, b_b], [(u00, s0), (u01, s0), (u11, s1)])  # (i, j) (i, j+1) (i2, j+1)
    emit(~p1, [a, b_b, b], [(u00, s0), (u11, s1), (u10, s1)])  # (i, j) (i2, j+1) (i2, j)
    emit(p1 & ~p0, [a, a_b, b], [(u00, s0), (u01, s0), (np.zeros(shape), s1)])  # fan into the top pole
    f = np.concatenate(faces).astype(np.int64)
    uv = np.concatenate(uvs)
    f2 = _orient(v, f)
    return v, f2, _flip_uv(uv, f2 is not f)


def sweep_tube(path: np.ndarray, radius: float, sides: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A closed tube of ``radius`` along a planar ``path`` (N, 3) in the XZ plane, capped at both
    ends. UVs: u = angle x radius, v = arc length along the surface."""
    t = np.gradient(path, axis=0)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    b = np.tile([0.0, 1.0, 0.0], (len(path), 1))
    nrm = np.cross(b, t)
    phi = np.linspace(0.0, 2 * np.pi, sides + 1)
    cp, sp = np.cos(phi[:-1]), np.sin(phi[:-1])
    rings = path[:, None, :] + radius * (cp[None, :, None] * nrm[:, None, :] + sp[None, :, None] * b[:, None, :])
    n = len(path)
    v = np.concatenate([rings.reshape(-1, 3), path[[0, -1]]])
    c0, c1 = n * sides, n * sides + 1
    # v: arc length along each line of the surface (shorter inside the bend), so no stretch there
    s = np.vstack([np.zeros(sides), np.cumsum(np.linalg.norm(np.diff(rings, axis=0), axis=2), axis=0)])
    i = np.arange(n - 1)[:, None]
    j = np.arange(sides)[None, :]
    j2 = (j + 1) % sides
    a0, a1, b0, b1 = i * sides + j, i * sides + j2, (i + 1) * sides + j, (i + 1) * sides + j2
    shape = (n - 1, sides)
    u0 = np.broadcast_to(radius * phi[None, :-1], shape)
    u1 = np.broadcast_to(radius * phi[None, 1:], shape)
    sa0, sa1, sb0, sb1 = s[:-1][:, j[0]], s[:-1][:, j2[0]], s[1:][:, j[0]], s[1:][:, j2[0]]

    def corners(*c):
        return np.stack(c, axis=-1).reshape(-1, 3)

    def uv3(*c):
        return np.stack([np.stack(x, axis=-1) for x in c], axis=-2).reshape(-1, 3, 2)

    faces = [corners(a0, a1, b1), corners(a0, b1, b0)]
    uvs = [uv3((u0, sa0), (u1, sa1), (u1, sb1)), uv3((u0, sa0), (u1, sb1), (u0, sb0))]
    jj, jn = np.arange(sides), (np.arange(sides) + 1) % sides  # caps: flat discs, UVs in the cap's plane
    last = (n - 1) * sides
    zero = np.zeros(sides)
    faces += [np.column_stack([np.full(sides, c0), jn, jj]), np.column_stack([np.full(sides, c1), last + jj, last + jn])]
    uvs += [np.stack([np.column_stack([zero, zero]), radius * np.column_stack([cp[jn], sp[jn]]),
                      radius * np.column_stack([cp[jj], sp[jj]])], axis=1),
            np.stack([np.column_stack([zero, zero]), radius * np.column_stack([cp[jj], sp[jj]]),
                      radius * np.column_stack([cp[jn], sp[jn]])], axis=1)]
    f = np.concatenate(faces).astype(np.int64)
    uv = np.concatenate(uvs)
    f2 = _orient(v, f)
    return v, f2, _flip_uv(uv, f2 is not f)


def _arc(cx: float, cz: float, rad: float, a0: float, a1: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Points of a circular arc in the (r, z) plane from angle a0 to a1 (radians), both ends included."""
    a = np.linspace(a0, a1, n)
    return cx + rad * np.cos(a), cz + rad * np.sin(a)


def _profile(*pieces: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate (r, z) pieces (arrays or scalars) into one profile."""
    r = np.concatenate([np.atleast_1d(np.asarray(p[0], float)) for p in pieces])
    z = np.concatenate([np.atleast_1d(np.asarray(p[1], float)) for p in pieces])
    return r, z


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


# --------------------------------------------------------------------------- generators


def ball(rng: np.random.Generator) -> Shape:
    """A sphere, sometimes slightly squashed (a rubber or sports ball)."""
    p = {"radius": _u(rng, 0.03, 0.11), "squash": _u(rng, 0.85, 1.0) if rng.uniform() < 0.4 else 1.0}
    a = np.linspace(-np.pi / 2, np.pi / 2, 25)
    r, z = p["radius"] * np.cos(a), p["radius"] * p["squash"] * np.sin(a)
    r[0] = r[-1] = 0.0
    b = _Builder()
    b.add(*lathe(r, z, segments=40))
    return b.finish("ball", p)


def bottle(rng: np.random.Generator) -> Shape:
    """A bottle: body, curved shoulder, neck and a lip or cap; closed at the top."""
    p = {"height": _u(rng, 0.16, 0.32), "radius": _u(rng, 0.025, 0.05), "shoulder": _u(rng, 0.45, 0.7),
         "shoulder_length": _u(rng, 0.1, 0.25), "neck_radius": 0.0, "lip": _u(rng, 0.0015, 0.004),
         "lip_height": _u(rng, 0.006, 0.02), "base_round": _u(rng, 0.002, 0.008)}
    p["neck_radius"] = _u(rng, 0.25, 0.5) * p["radius"]
    h, rad, rn = p["height"], p["radius"], p["neck_radius"]
    z_sh0 = p["shoulder"] * h
    z_sh1 = min(z_sh0 + p["shoulder_length"] * h, h - p["lip_height"] - 0.01)
    br = min(p["base_round"], rad / 3)
    base_r, base_z = _arc(rad - br, br, br, -np.pi / 2, 0.0, 6)
    t = np.linspace(0.0, 1.0, 14)[1:]
    sh_r = rn + (rad - rn) * (0.5 + 0.5 * np.cos(np.pi * t))  # smooth S-shaped shoulder
    sh_z = z_sh0 + (z_sh1 - z_sh0) * t
    lip_top = h
    lip_bot = h - p["lip_height"]
    rl = rn + p["lip"]
    r, z = _profile((0.0, 0.0), (base_r, base_z), (rad, z_sh0), (sh_r, sh_z), (rn, lip_bot - 0.002),
                    (rl, lip_bot), (rl, lip_top), (0.0, lip_top))
    b = _Builder()
    b.add(*lathe(r, z))
    return b.finish("bottle", p)


def can(rng: np.random.Generator) -> Shape:
    """A can: cylinder with a necked-in top, a rolled rim and a recessed lid, a bevelled base."""
    p = {"height": _u(rng, 0.045, 0.17), "radius": _u(rng, 0.025, 0.055), "neck": _u(rng, 0.002, 0.006),
         "neck_height": _u(rng, 0.005, 0.015), "rim": _u(rng, 0.001, 0.0025), "lid_depth": _u(rng, 0.002, 0.006),
         "base_bevel": _u(rng, 0.002, 0.008)}
    h, rad = p["height"], p["radius"]
    rt = rad - p["neck"]  # top radius
    rim = p["rim"]
    bb = min(p["base_bevel"], rad / 4)
    rim_r, rim_z = _arc(rt - rim, h - rim, rim, 0.0, np.pi, 7)  # rolled rim, outside to inside
    r, z = _profile((0.0, 0.0), (rad - bb, 0.0), (rad, bb), (rad, h - p["neck_height"] - 2 * rim),
                    (rt, h - 2 * rim), (rim_r, rim_z), (rt - 2 * rim, h - 2 * rim - p["lid_depth"]),
                    (0.0, h - 2 * rim - p["lid_depth"]))
    b = _Builder()
    b.add(*lathe(r, z))
    return b.finish("can", p)


def cone(rng: np.random.Generator) -> Shape:
    """A cone: pointed or truncated, sometimes on a flat flange (a traffic cone)."""
    p = {"height": _u(rng, 0.08, 0.3), "radius": 0.0, "top_ratio": _u(rng, 0.05, 0.35) if rng.uniform() < 0.5 else 0.0,
         "flange": _u(rng, 1.15, 1.5) if rng.uniform() < 0.4 else 1.0, "flange_height": _u(rng, 0.004, 0.012)}
    p["radius"] = p["height"] * _u(rng, 0.25, 0.45)
    h, rad = p["height"], p["radius"]
    rt = p["top_ratio"] * rad
    pieces = [(0.0, 0.0)]
    z0 = 0.0
    if p["flange"] > 1.0:
        fh = p["flange_height"]
        pieces += [(rad * p["flange"], 0.0), (rad * p["flange"], fh), (rad, fh)]
        z0 = fh
    else:
        pieces += [(rad, 0.0)]
    k = np.linspace(0.0, 1.0, 12)[1:]
    side_r, side_z = rad + (rt - rad) * k, z0 + (h - z0) * k
    if rt > 0:
        pieces += [(side_r, side_z), (0.0, h)]
    else:
        pieces += [(side_r[:-1], side_z[:-1]), (0.0, h)]
    r, z = _profile(*pieces)
    b = _Builder()
    b.add(*lathe(r, z))
    return b.finish("cone", p)


def ring(rng: np.random.Generator) -> Shape:
    """A ring: a torus whose cross-section runs from round (a torus) to square-ish (a washer)."""
    p = {"radius": _u(rng, 0.02, 0.09), "width": 0.0, "thickness": 0.0, "squareness": _u(rng, 2.0, 6.0)}
    p["width"] = p["radius"] * _u(rng, 0.15, 0.6)  # radial half-width of the cross-section
    p["thickness"] = p["width"] * _u(rng, 0.3, 1.2)  # vertical half-height
    a = np.linspace(0.0, 2 * np.pi, 33)[:-1]
    e = 2.0 / p["squareness"]
    c, s = np.cos(a), np.sin(a)
    r = p["radius"] + p["width"] * np.sign(c) * np.abs(c) ** e
    z = p["thickness"] * np.sign(s) * np.abs(s) ** e
    b = _Builder()
    b.add(*lathe(r, z, closed=True))
    return b.finish("ring", p)


def mug(rng: np.random.Generator) -> Shape:
    """A mug: a hollow, slightly tapered body (wall, rounded rim, floor) and a C-shaped handle."""
    p = {"height": _u(rng, 0.065, 0.12), "radius": _u(rng, 0.03, 0.048), "taper": _u(rng, 0.8, 1.05),
         "wall": _u(rng, 0.003, 0.006), "floor": _u(rng, 0.005, 0.012), "handle_reach": _u(rng, 0.018, 0.035),
         "handle_span": _u(rng, 0.45, 0.75), "handle_center": _u(rng, 0.45, 0.6), "handle_radius": _u(rng, 0.003, 0.005)}
    h, rt, w = p["height"], p["radius"], p["wall"]
    rb = rt * p["taper"]
    half = w / 2
    rim_r, rim_z = _arc(rt - half, h - half, half, 0.0, np.pi, 7)
    k = np.linspace(0.0, 1.0, 8)[1:-1]
    outer_r, outer_z = rb + (rt - rb) * k, (h - half) * k
    inner_r = (rt - w) + (rb - w - (rt - w)) * k
    inner_z = (h - half) + (p["floor"] - (h - half)) * k
    r, z = _profile((0.0, 0.0), (rb, 0.0), (outer_r, outer_z), (rt, h - half), (rim_r, rim_z), (rt - w, h - half),
                    (inner_r, inner_z), (rb - w, p["floor"]), (0.0, p["floor"]))
    b = _Builder()
    b.add(*lathe(r, z))
    # the handle: a cubic Bezier in the XZ plane from inside the wall out and back, ends radial
    zc, span = p["handle_center"] * h, p["handle_span"] * h / 2
    hr = p["handle_radius"]
    z_lo, z_hi = max(zc - span, p["floor"] + hr), min(zc + span, h - w - hr - 0.003)
    wall_at = lambda zz: rb + (rt - rb) * zz / (h - half) - half  # noqa: E731 middle of the wall
    d0, d1 = wall_at(z_lo), wall_at(z_hi)
    out = max(rb, rt) + p["handle_reach"] * 4.0 / 3.0
    t = np.linspace(0.0, 1.0, 28)[:, None]
    ctrl = np.array([[d0, 0.0, z_lo], [out, 0.0, z_lo], [out, 0.0, z_hi], [d1, 0.0, z_hi]])
    path = ((1 - t) ** 3 * ctrl[0] + 3 * (1 - t) ** 2 * t * ctrl[1] + 3 * (1 - t) * t ** 2 * ctrl[2]
            + t ** 3 * ctrl[3])
    b.add(*sweep_tube(path, p["handle_radius"]))
    return b.finish("mug", p)


def box(rng: np.random.Generator) -> Shape:
    """A box of random proportions (cube, carton, crate, slab) with rounded edges."""
    size = sorted([_u(rng, 0.04, 0.3), _u(rng, 0.04, 0.3), _u(rng, 0.04, 0.3)], reverse=True)
    if rng.uniform() < 0.3:  # a cube-ish one
        size = [size[1] * _u(rng, 0.9, 1.1) for _ in range(3)]
    p = {"size": [float(x) for x in rng.permutation(size)], "bevel": _u(rng, 0.05, 0.25),
         "bevel_segments": int(rng.integers(1, 4))}
    half = np.array(p["size"]) / 2
    rad = p["bevel"] * float(half.min())
    k = p["bevel_segments"]
    ang = np.linspace(0.0, np.pi / 4, k + 1)[1:]
    band = rad * np.tan(ang)

    def axis(hh: float) -> np.ndarray:
        core = hh - rad
        return np.r_[-(core + band[::-1]), -core, core, core + band]

    grids = [axis(hh) for hh in half]
    points, faces, n_points = [], [], 0
    for ax in range(3):  # each side a grid; the points edges share are merged below
        a1, a2 = (ax + 1) % 3, (ax + 2) % 3
        for sign in (-1.0, 1.0):
            g1, g2 = np.meshgrid(grids[a1], grids[a2], indexing="ij")
            q = np.empty(g1.shape + (3,))
            q[..., ax], q[..., a1], q[..., a2] = sign * half[ax], g1, g2
            ids = n_points + np.arange(g1.size).reshape(g1.shape)
            points.append(q.reshape(-1, 3))
            n_points += g1.size
            c00, c10, c11, c01 = ids[:-1, :-1], ids[1:, :-1], ids[1:, 1:], ids[:-1, 1:]
            tris = np.concatenate([np.stack([c00, c10, c11], -1).reshape(-1, 3),
                                   np.stack([c00, c11, c01], -1).reshape(-1, 3)])
            faces.append(tris if sign > 0 else tris[:, ::-1])
    _, first_index, inverse = np.unique(np.round(np.concatenate(points), 9), axis=0, return_index=True,
                                        return_inverse=True)
    order = np.argsort(first_index)  # vertices in order of first appearance: deterministic and tidy
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    verts = np.concatenate(points)[np.sort(first_index)]
    faces = rank[inverse.ravel()][np.concatenate(faces)]
    q = np.array(verts)
    core = np.clip(q, -(half - rad), half - rad)
    d = q - core
    v = core + rad * d / np.linalg.norm(d, axis=1, keepdims=True)
    f = np.array(faces, dtype=np.int64)
    # per-face box UVs: each triangle projected along its normal's dominant axis, not mirrored
    tri = v[f]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    dom = np.abs(n).argmax(axis=1)
    sgn = np.sign(n[np.arange(len(n)), dom])
    uv = np.empty((len(f), 3, 2))
    for ax in range(3):
        a1, a2 = (ax + 1) % 3, (ax + 2) % 3
        m = dom == ax
        uv[m, :, 0] = tri[m][:, :, a1] * sgn[m, None]
        uv[m, :, 1] = tri[m][:, :, a2]
    v[:, 2] += half[2]
    b = _Builder()
    f2 = _orient(v, f)
    b.add(v, f2, _flip_uv(uv, f2 is not f))
    return b.finish("box", p)


GENERATORS: dict[str, Callable[[np.random.Generator], Shape]] = {
    "ball": ball, "bottle": bottle, "box": box, "can": can, "cone": cone, "mug": mug, "ring": ring}
"""Category name -> generator. Objects of other categories keep their catalog meshes."""

SIZE_RANGES: dict[str, tuple[float, float]] = {
    "ball": (0.05, 0.23), "bottle": (0.15, 0.33), "box": (0.035, 0.34), "can": (0.045, 0.18),
    "cone": (0.07, 0.42), "mug": (0.06, 0.14), "ring": (0.04, 0.3)}
"""Category -> (smallest, largest) largest extent (m) a generated shape can have."""


# --------------------------------------------------------------------------- generating and caching


def shape_of(ref: GeneratedMesh) -> Shape:
    """The shape ``ref`` names, generated (or taken from the cache)."""
    if ref.category not in GENERATORS:
        raise SimgenError(f"no shape generator for category {ref.category!r}; generators exist for "
                          f"{', '.join(sorted(GENERATORS))}")
    return _generate(ref.category, ref.seed)


@functools.lru_cache(maxsize=CACHE_SHAPES)
def _generate(category: str, seed: int) -> Shape:
    shape = GENERATORS[category](np.random.default_rng(seed))
    shape.params["seed"] = seed
    return shape


def draw_shape(category: str, rng: np.random.Generator) -> tuple[GeneratedMesh, dict]:
    """A new shape of ``category``: its reference and draws. Takes exactly one integer from
    ``rng`` (the shape's own seed), whatever the generator draws."""
    ref = GeneratedMesh(category, int(rng.integers(0, 2 ** 63)))
    shape = shape_of(ref)
    return ref, {"generator": category, **shape.params}
