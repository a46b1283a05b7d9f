"""Objects standing on the flat, upward-facing surfaces of an environment, touching nothing.

A *surface* is a set of level triangles (each flat within :data:`FLAT` and facing up) at one
height ``z``, rasterized on a grid of ``cell`` metres: ``support`` marks the cells whose centres
lie on it, and ``headroom`` holds, per cell, how high above ``z`` the lowest environment geometry
over that cell starts (a table top over a floor, a shelf board, a wall: 0). An object of footprint
radius ``r`` (:func:`simgen.sampling.placement.footprint`, any yaw) and height ``h`` may stand
with its footprint centre at a cell when every cell within ``r`` (plus the clearance and one cell)
is support and has headroom of at least ``h`` plus the clearance. So a placed object rests on the
surface (its lowest point at ``z``), stays within it, and meets no environment geometry, whatever
its shape inside its footprint cylinder (what stands on the surface is seen from above by its
outline and its downward faces there: a closed box's bottom, so its inside is no room); two objects on one surface keep their footprints apart.
Objects on different surfaces cannot meet either: where one surface lies over another, the upper
one's triangles are headroom of the lower.

Pure numpy and OpenCV; samplers take an explicit generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

FLAT = 0.001
"""m: how much a triangle's corners may differ in height for it to count as level."""
MAX_CELLS = 2048
"""The most cells along either side of a surface's grid (the cell grows for large surfaces)."""
NO_LIMIT = 1e9
"""Headroom where nothing is above."""
FIRST_LEVEL = 4
""":meth:`Obstacles.blocked` tests a segment against the 2^FIRST_LEVEL boxes of that level of the
hierarchy at once (fewer, larger steps than from the root)."""


@dataclass(frozen=True)
class Surface:
    """Level, upward-facing area of an environment at one height, on a grid of cells (see the module
    doc): where objects may stand (:meth:`stands`), and how much room there is over each cell."""

    z: float
    """Height of the surface (world Z, metres)."""
    origin: np.ndarray
    """World XY of the centre of cell (row 0, column 0); column = x, row = y."""
    cell: float
    support: np.ndarray
    """(H, W) bool."""
    headroom: np.ndarray
    """(H, W) float32 metres (:data:`NO_LIMIT` where nothing is above)."""
    parts: tuple[str, ...] = ()
    """Names of the environment parts it lies on."""
    memo: dict = field(default_factory=dict, compare=False, repr=False)
    """What :meth:`room`, :meth:`clear` and :func:`draw_point` computed, kept for the next objects
    and frames."""

    @property
    def area(self) -> float:
        return float(self.support.sum()) * self.cell ** 2

    def xy(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.stack([self.origin[0] + cols * self.cell, self.origin[1] + rows * self.cell], axis=-1)

    def room(self) -> np.ndarray:
        """(H, W) float32: metres from each support cell's centre to the nearest cell off the
        surface (computed once)."""
        if "room" not in self.memo:
            inside = np.pad(self.support.astype(np.uint8), 1)  # the grid's edge is off the surface
            self.memo["room"] = cv2.distanceTransform(inside, cv2.DIST_L2, 5)[1:-1, 1:-1] * self.cell
        return self.memo["room"]

    def clear(self, need: float) -> np.ndarray:
        """(H, W) float32: metres from each cell's centre to the nearest cell's centre with less than
        ``need`` metres of headroom (:data:`NO_LIMIT` where there is none). One exact distance
        transform per set of such cells (the headroom takes few values: 1 cm steps), kept."""
        if "levels" not in self.memo:
            self.memo["levels"] = np.unique(self.headroom)
        levels = self.memo["levels"]
        below = int(np.searchsorted(levels, need, side="left"))  # the levels under ``need``
        if ("clear", below) not in self.memo:
            if below == 0:
                far = np.full(self.headroom.shape, NO_LIMIT, np.float32)
            else:
                ok = (self.headroom > levels[below - 1]).astype(np.uint8)  # 0 where there is too little room
                far = cv2.distanceTransform(ok, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) * np.float32(self.cell)
            self.memo[("clear", below)] = far
        return self.memo[("clear", below)]

    def stands(self, radius: float, height: float, clearance: float,
               window: tuple[slice, slice] = (slice(None), slice(None))) -> np.ndarray:
        """The cells (of ``window``, rows and columns) an object of footprint ``radius`` and
        ``height`` may be centred on (bool): the surface reaches ``radius`` plus the clearance and
        one cell around it, and no cell within that reach has less headroom than ``height`` plus the
        clearance."""
        reach = radius + clearance + self.cell
        return (self.room()[window] >= reach) & (self.clear(height + clearance)[window] > reach)


def within(surfaces: list[Surface], boxes: np.ndarray) -> list[Surface]:
    """The parts of ``surfaces`` inside any of ``boxes`` ((B, 2, 3) world lo/hi corners: a bin, a
    compartment): the support cells whose centres lie within a box seen from above, on surfaces at
    a height inside it (below its top by more than :data:`FLAT`, so its rim is not one). A footprint
    on them stays inside the box, as it stays on its surface."""
    out = []
    for s in surfaces:
        rows, cols = np.indices(s.support.shape)
        xy = s.xy(rows, cols)
        inside = np.zeros_like(s.support)
        for lo, hi in boxes:
            if lo[2] - FLAT <= s.z < hi[2] - FLAT:
                inside |= np.all((xy >= lo[:2]) & (xy <= hi[:2]), axis=-1)
        support = s.support & inside
        if support.any():
            out.append(Surface(z=s.z, origin=s.origin, cell=s.cell, support=support, headroom=s.headroom, parts=s.parts))
    return out


def level_triangles(triangles: np.ndarray, up: float = np.cos(np.radians(1.0))) -> np.ndarray:
    """The indices of ``triangles`` ((T, 3, 3) world) that are level (:data:`FLAT`) and face up
    (their normal's Z at least ``up``; a triangle of no area is not)."""
    n = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    norm = np.linalg.norm(n, axis=1)
    z = triangles[:, :, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        facing = n[:, 2] / norm >= up
    return np.flatnonzero(facing & (norm > 0) & (z.max(axis=1) - z.min(axis=1) <= FLAT))


def _grid(lo: np.ndarray, hi: np.ndarray, cell: float) -> tuple[np.ndarray, float, tuple[int, int]]:
    cell = max(cell, float((hi - lo).max()) / (MAX_CELLS - 4))
    origin = lo - cell  # a cell of margin all round
    shape = (int(np.ceil((hi[1] - lo[1]) / cell)) + 3, int(np.ceil((hi[0] - lo[0]) / cell)) + 3)
    return origin, cell, shape


def _fill(img: np.ndarray, polys: np.ndarray, value: float, origin: np.ndarray, cell: float,
          outline: bool) -> None:
    """Draw ``polys`` ((N, K, 3) world; their XY) into ``img`` (cells of ``cell`` from ``origin``)."""
    shift = 8  # sub-cell precision of OpenCV's drawing: coordinates in 1/256 cells
    pts = list(np.round(((polys[:, :, :2] - origin) / cell) * (1 << shift)).astype(np.int32))
    cv2.fillPoly(img, pts, value, lineType=cv2.LINE_8, shift=shift)
    if outline:  # a wall seen from above is a line, which fillPoly may leave out
        cv2.polylines(img, pts, True, value, thickness=1, lineType=cv2.LINE_8, shift=shift)


def find_surfaces(support: np.ndarray, everything: np.ndarray, min_area: float, cell: float = 0.005,
                  names: list[str] | None = None) -> list[Surface]:
    """The surfaces of ``support`` ((T, 3, 3) world triangles; their level ones, grouped by height
    within :data:`FLAT`) whose connected areas of at least ``min_area`` m^2 remain, with the
    headroom ``everything`` (every environment triangle) leaves above them. ``names``: the part
    each support triangle belongs to (recorded per surface)."""
    level = level_triangles(support)
    if not len(level):
        return []
    tz = support[level, :, 2].mean(axis=1)
    order = level[np.argsort(tz)]
    tz = np.sort(tz)
    breaks = np.flatnonzero(np.diff(tz) > FLAT) + 1
    out = []
    e_lo, e_hi = everything[:, :, 2].min(axis=1), everything[:, :, 2].max(axis=1)
    e_down = np.cross(everything[:, 1] - everything[:, 0], everything[:, 2] - everything[:, 0])[:, 2]
    for group in np.split(order, breaks):
        tris = support[group]
        z = float(tris[:, :, 2].max())  # the highest of triangles level within FLAT: nothing stands sunk in one
        lo, hi = tris[:, :, :2].reshape(-1, 2).min(axis=0), tris[:, :, :2].reshape(-1, 2).max(axis=0)
        origin, c, shape = _grid(lo, hi, cell)
        mask = np.zeros(shape, np.uint8)
        _fill(mask, tris, 1, origin, c, outline=False)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
        keep = [k for k in range(1, count) if stats[k, cv2.CC_STAT_AREA] * c * c >= min_area]
        if not keep:
            continue
        mask = np.isin(labels, keep)
        head = np.full(shape, NO_LIMIT, np.float32)
        xy = everything[:, :, :2]
        # what rises above the surface, and the bottoms of what stands on it (a box on the floor
        # faces down at the floor's level: its inside is no room, though its sides are lines from above)
        rises = (e_hi > z + FLAT) | ((e_lo >= z - FLAT) & (e_hi <= z + FLAT) & (e_down < 0))
        near = rises & (xy.max(axis=1) >= origin - c).all(axis=1) & \
               (xy.min(axis=1) <= origin + c * np.array(shape[::-1])).all(axis=1)
        idx = np.flatnonzero(near)
        if len(idx):
            above = np.maximum(e_lo[idx] - z, 0.0)
            bins = np.floor(above / 0.01) * 0.01  # 1 cm steps, rounded down: never more room than there is
            for b in np.unique(bins)[::-1]:  # the lowest last: it wins
                _fill(head, everything[idx[bins == b]], float(b), origin, c, outline=True)
        parts = tuple(sorted({names[i] for i in group})) if names is not None else ()
        out.append(Surface(z=z, origin=origin, cell=c, support=mask, headroom=head, parts=parts))
    return out


def draw_point(surfaces: list[Surface], rng: np.random.Generator,
               keep: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray | None:
    """A point drawn uniformly over the surfaces' area (world XYZ of a cell centre); ``keep``:
    only among the cells whose centres ((N, 3) world) it keeps (a bool per cell). None when
    there is no such cell."""
    cells = []
    for s in surfaces:
        if "centres" not in s.memo:
            rows, cols = np.nonzero(s.support)
            s.memo["centres"] = np.column_stack([s.xy(rows, cols), np.full(len(rows), s.z)])
        xyz = s.memo["centres"]
        cells.append(xyz if keep is None else xyz[keep(xyz)])
    sizes = np.array([len(c) for c in cells], float)
    if sizes.sum() == 0:
        return None
    k = int(rng.choice(len(surfaces), p=sizes / sizes.sum()))
    return cells[k][rng.integers(len(cells[k]))]


def place_on_surfaces(surfaces: list[Surface], radii: list[float], heights: list[float], clearance: float,
                      max_tries: int, rng: np.random.Generator, region: tuple[np.ndarray, float] | None = None
                      ) -> list[tuple[int, np.ndarray] | None]:
    """For each object (footprint radius, height), in order: the surface (index) and the world
    XY of its footprint centre, or None where none of ``max_tries`` draws fits. A draw picks a
    surface by the area it leaves this object, then a cell of it uniformly (and a point in the
    cell); it fits when its footprint, grown by ``clearance``, meets no other placed on the surface.
    ``region`` (XY centre, radius): every footprint lies within that circle, seen from above."""
    placed: list[tuple[int, np.ndarray, float]] = []
    out: list[tuple[int, np.ndarray] | None] = []
    windows = [_window(s, region) for s in surfaces]
    for r, h in zip(radii, heights):
        cells = []
        for s, (window, far) in zip(surfaces, windows):
            fits = s.stands(r, h, clearance, window)
            if far is not None:  # the whole footprint within the region's circle
                fits &= far + r + s.cell <= region[1]
            cells.append(_Cells(fits, window[0].start or 0, window[1].start or 0))
        sizes = np.array([c.count for c in cells], float)
        spot = None
        if sizes.sum() > 0:
            for _ in range(max_tries):
                k = int(rng.choice(len(surfaces), p=sizes / sizes.sum()))
                s = surfaces[k]
                row, col = cells[k].nth(int(rng.integers(cells[k].count)))
                xy = s.xy(np.array(row), np.array(col)) + rng.uniform(-0.5, 0.5, 2) * s.cell
                if all(j != k or np.linalg.norm(xy - q) >= r + rj + clearance for j, q, rj in placed):
                    spot = (k, xy)
                    placed.append((k, xy, r))
                    break
        out.append(spot)
    return out


def _window(s: Surface, region: tuple[np.ndarray, float] | None) -> tuple[tuple[slice, slice], np.ndarray | None]:
    """The rows and columns of ``s`` under the region's circle (all without a region), and each of
    their cells' distance from the circle's centre (None without a region)."""
    if region is None:
        return (slice(None), slice(None)), None
    centre = np.asarray(region[0], float)[:2]
    lo = np.floor((centre - region[1] - s.origin) / s.cell).astype(int)
    hi = np.ceil((centre + region[1] - s.origin) / s.cell).astype(int) + 1
    (h, w), (r0, c0) = s.support.shape, np.maximum(lo[::-1], 0)
    window = (slice(r0, max(min(hi[1], h), r0)), slice(c0, max(min(hi[0], w), c0)))
    rows, cols = np.ogrid[window[0], window[1]]
    dx, dy = s.origin[0] + cols * s.cell - centre[0], s.origin[1] + rows * s.cell - centre[1]
    return window, np.sqrt(dx * dx + dy * dy)


class _Cells:
    """The cells where an object fits (a bool mask of a window of the surface): how many, and the
    n-th in row-major order, without listing them all."""

    def __init__(self, fits: np.ndarray, row0: int, col0: int):
        self.fits, self.row0, self.col0 = fits, row0, col0
        self.per_row = np.cumsum(fits.sum(axis=1))
        self.count = int(self.per_row[-1]) if len(self.per_row) else 0

    def nth(self, n: int) -> tuple[int, int]:
        row = int(np.searchsorted(self.per_row, n, side="right"))
        before = int(self.per_row[row - 1]) if row else 0
        return self.row0 + row, self.col0 + int(np.flatnonzero(self.fits[row])[n - before])


def _crossings(v0: np.ndarray, e1: np.ndarray, e2: np.ndarray, a: np.ndarray, d: np.ndarray,
               eps: float = 1e-9) -> np.ndarray:
    """Whether each open segment ``a + t d`` (0 < t < 1) crosses its triangle (corner ``v0``, edges
    ``e1``, ``e2``): the Moller-Trumbore test, pair by pair (the arrays broadcast against each other).
    Written out by component, a third of the time of whole-vector cross and dot products, with the
    same values to the bit (the same products, summed in the same order)."""
    s0, s1, s2 = a[..., 0] - v0[..., 0], a[..., 1] - v0[..., 1], a[..., 2] - v0[..., 2]
    f0, f1, f2 = e1[..., 0], e1[..., 1], e1[..., 2]
    g0, g1, g2 = e2[..., 0], e2[..., 1], e2[..., 2]
    d0, d1, d2 = d[..., 0], d[..., 1], d[..., 2]
    q0, q1, q2 = s1 * f2 - s2 * f1, s2 * f0 - s0 * f2, s0 * f1 - s1 * f0  # s x e1
    p0, p1, p2 = d1 * g2 - d2 * g1, d2 * g0 - d0 * g2, d0 * g1 - d1 * g0  # d x e2
    det = f0 * p0 + f1 * p1 + f2 * p2
    ok = np.abs(det) > eps
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    u = (s0 * p0 + s1 * p1 + s2 * p2) * inv
    v = (d0 * q0 + d1 * q1 + d2 * q2) * inv
    t = (g0 * q0 + g1 * q1 + g2 * q2) * inv
    return ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-6) & (t < 1 - 1e-6)


def segment_hits(triangles: np.ndarray, a: np.ndarray, b: np.ndarray, eps: float = 1e-9) -> bool:
    """Whether the open segment from ``a`` to ``b`` crosses any of ``triangles`` ((T, 3, 3))."""
    return bool(segments_hit(triangles, a, np.asarray(b, float)[None], eps)[0])


def segments_hit(triangles: np.ndarray, a: np.ndarray, ends: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """(B,) bool: whether each open segment from ``a`` to one of ``ends`` ((B, 3)) crosses any of
    ``triangles`` ((T, 3, 3)), every segment against every triangle (:class:`Obstacles` tests only
    the triangles near each segment)."""
    if not len(triangles) or not len(ends):
        return np.zeros(len(ends), bool)
    a = np.asarray(a, float)
    d = (np.asarray(ends, float) - a)[:, None, :]  # (B, 1, 3) against (T, 3)
    e1, e2 = triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]
    return np.any(_crossings(triangles[:, 0], e1, e2, a, d, eps), axis=1)


def _morton(cells: np.ndarray) -> np.ndarray:
    """(N,) uint64 Morton codes of (N, 3) integer cells in [0, 2^21): the bits of x, y, z interleaved."""
    out = np.zeros(len(cells), np.uint64)
    for axis in range(3):
        v = cells[:, axis].astype(np.uint64)
        for shift, mask in ((32, 0x1F00000000FFFF), (16, 0x1F0000FF0000FF), (8, 0x100F00F00F00F00F),
                            (4, 0x10C30C30C30C30C3), (2, 0x1249249249249249)):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        out |= v << np.uint64(axis)
    return out


@dataclass(frozen=True)
class Obstacles:
    """Triangles in a bounding-volume hierarchy, built once: sorted along a Morton curve of their
    centres, cut into leaves of ``leaf`` neighbours, each pair of boxes boxed again up to one root
    (leaves of 8 cast the sight of scripts/bench_environment.py's million triangles fastest: 4.8 ms
    for 100 segments, against 6.3 for 16 and 8.4 for 32).
    A segment goes down only into the boxes it passes through and is tested against the triangles of
    the leaves it reaches, so a ray cast costs about the logarithm of the triangle count."""

    corner: np.ndarray
    edge1: np.ndarray
    edge2: np.ndarray
    """(T, 3) each: the triangles in leaf order, as a corner and the two edges from it."""
    starts: np.ndarray
    """(L + 1,) where each leaf starts in ``triangles`` (L a power of two; empty leaves pad it)."""
    lo: tuple[np.ndarray, ...]
    hi: tuple[np.ndarray, ...]
    """Each level's boxes, the root's first ((1, 3)) and the leaves' last ((L, 3)); an empty box is
    +inf / -inf."""

    @classmethod
    def of(cls, triangles: np.ndarray, leaf: int = 8) -> "Obstacles":
        triangles = np.asarray(triangles, float).reshape(-1, 3, 3)
        c = triangles.mean(axis=1)
        lo, hi = (c.min(axis=0), c.max(axis=0)) if len(c) else (np.zeros(3), np.ones(3))
        cells = ((c - lo) / np.maximum(hi - lo, 1e-12) * (2 ** 21 - 1)).astype(np.int64)
        t = triangles[np.argsort(_morton(cells), kind="stable")]
        size = 1 << int(np.ceil(np.log2(max(1, -(-len(t) // leaf)))))
        starts = np.minimum(np.arange(size + 1) * leaf, len(t))
        box_lo, box_hi = np.full((size, 3), np.inf), np.full((size, 3), -np.inf)
        full = np.flatnonzero(starts[:-1] < len(t))
        if len(full):
            box_lo[full] = np.minimum.reduceat(t.min(axis=1), starts[full])
            box_hi[full] = np.maximum.reduceat(t.max(axis=1), starts[full])
        los, his = [box_lo], [box_hi]
        while len(los[0]) > 1:
            los.insert(0, np.minimum(los[0][0::2], los[0][1::2]))
            his.insert(0, np.maximum(his[0][0::2], his[0][1::2]))
        return cls(t[:, 0], t[:, 1] - t[:, 0], t[:, 2] - t[:, 0], starts, tuple(los), tuple(his))

    def blocks(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether the open segment from ``a`` to ``b`` crosses a triangle (:func:`segment_hits`)."""
        return bool(self.blocked(a, np.asarray(b, float)[None])[0])

    def blocked(self, a: np.ndarray, ends: np.ndarray, batch: int = 1 << 18) -> np.ndarray:
        """(B,) bool: whether each open segment from ``a`` to one of ``ends`` ((B, 3)) crosses a
        triangle, the same as :func:`segments_hit` on every triangle; about ``batch``
        segment-triangle pairs are tested at a time."""
        a, ends = np.asarray(a, float), np.asarray(ends, float).reshape(-1, 3)
        out = np.zeros(len(ends), bool)
        if not len(ends) or not len(self.corner):
            return out
        d = ends - a
        with np.errstate(divide="ignore"):
            inv = 1.0 / d  # +-inf along an axis the segment does not move on
        start = min(FIRST_LEVEL, len(self.lo) - 1)  # every box of this level at once, then down two by two
        seg = np.repeat(np.arange(len(ends)), len(self.lo[start]))
        node = np.tile(np.arange(len(self.lo[start])), len(ends))
        for level in range(start, len(self.lo)):
            if level > start:  # each box's two children
                seg, node = np.repeat(seg, 2), np.repeat(node << 1, 2)
                node[1::2] += 1
            keep = _through(a, inv[seg], self.lo[level][node], self.hi[level][node])
            seg, node = seg[keep], node[keep]
        counts = self.starts[node + 1] - self.starts[node]
        pair_seg = np.repeat(seg, counts)
        pair_tri = np.repeat(self.starts[node] - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        for i in range(0, len(pair_seg), batch):
            sg, tr = pair_seg[i:i + batch], pair_tri[i:i + batch]
            hit = _crossings(self.corner[tr], self.edge1[tr], self.edge2[tr], a, d[sg])
            out[sg[hit]] = True
        return out


def _through(a: np.ndarray, inv: np.ndarray, lo: np.ndarray, hi: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """(N,) bool: whether the segment from ``a`` (0 <= t <= 1, ``inv`` the reciprocal of its
    direction) meets the box ``lo``..``hi``: the slab test, a little generous, since it only decides
    which triangles are tested. Where the segment does not move along an axis, that axis' bounds are
    +-inf (inside the slab) or both the same infinity (outside: never), and a NaN (0 x inf, the segment
    on the slab's face) is ignored; an empty box (+inf..-inf) is never met."""
    with np.errstate(invalid="ignore"):
        t0, t1 = (lo - a) * inv, (hi - a) * inv
    near, far = np.fmin(t0, t1), np.fmax(t0, t1)
    enter = np.fmax(np.fmax(near[:, 0], near[:, 1]), near[:, 2])  # not .reduce(axis=1): slow on 3 columns
    leave = np.fmin(np.fmin(far[:, 0], far[:, 1]), far[:, 2])
    return (enter <= leave + eps) & (leave >= -eps) & (enter <= 1 + eps) & (lo[:, 0] <= hi[:, 0])
