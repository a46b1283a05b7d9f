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
    """What :meth:`room`, :meth:`lowest` and :func:`draw_point` computed, kept for the next objects
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

    def lowest(self, k: int) -> np.ndarray:
        """(H, W) float32: the least headroom within ``k`` cells of each cell (computed once per k)."""
        if ("lowest", k) not in self.memo:
            disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
            self.memo[("lowest", k)] = cv2.erode(self.headroom, disk, borderType=cv2.BORDER_CONSTANT,
                                                 borderValue=0.0)
        return self.memo[("lowest", k)]

    def stands(self, radius: float, height: float, clearance: float,
               window: tuple[slice, slice] = (slice(None), slice(None))) -> np.ndarray:
        """The cells (of ``window``, rows and columns) an object of footprint ``radius`` and
        ``height`` may be centred on (bool). The headroom is measured within a disk of a whole
        number of cells, rounded up to a step of :func:`kernel_cells` (never less room)."""
        reach = radius + clearance + self.cell
        low = self.lowest(kernel_cells(int(np.ceil(reach / self.cell))))
        return (self.room()[window] >= reach) & (low[window] >= height + clearance)


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


def kernel_cells(k: int) -> int:
    """``k`` rounded up to one of few sizes (1, 2, ..., 8, then steps of an eighth): the erosions a
    surface keeps stay few whatever the objects' sizes."""
    if k <= 8:
        return max(k, 1)
    step = 2 ** (int(np.log2(k)) - 3)
    return -(-k // step) * step


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


def _fill(img: np.ndarray, polys: list[np.ndarray], value: float, origin: np.ndarray, cell: float,
          outline: bool) -> None:
    shift = 8  # sub-cell precision of OpenCV's drawing: coordinates in 1/256 cells
    pts = [np.round(((p[:, :2] - origin) / cell) * (1 << shift)).astype(np.int32) for p in polys]
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
        _fill(mask, list(tris), 1, origin, c, outline=False)
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
                _fill(head, list(everything[idx[bins == b]]), float(b), origin, c, outline=True)
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
    cache: dict[tuple[int, float, float], np.ndarray] = {}
    for r, h in zip(radii, heights):
        cells = []
        for k, s in enumerate(surfaces):
            key = (k, round(r, 4), round(h, 4))
            if key not in cache:
                window = (slice(None), slice(None))
                if region is not None:  # only the cells under the region's circle
                    lo = np.floor((np.asarray(region[0][:2], float) - region[1] - s.origin) / s.cell).astype(int)
                    hi = np.ceil((np.asarray(region[0][:2], float) + region[1] - s.origin) / s.cell).astype(int) + 1
                    window = (slice(max(lo[1], 0), max(hi[1], 0)), slice(max(lo[0], 0), max(hi[0], 0)))
                rows, cols = np.nonzero(s.stands(r, h, clearance, window))
                rows, cols = rows + (window[0].start or 0), cols + (window[1].start or 0)
                if region is not None:
                    d = np.linalg.norm(s.xy(rows, cols) - np.asarray(region[0], float)[:2], axis=-1)
                    rows, cols = rows[d + r + s.cell <= region[1]], cols[d + r + s.cell <= region[1]]
                cache[key] = rows * s.support.shape[1] + cols
            cells.append(cache[key])
        sizes = np.array([len(c) for c in cells], float)
        spot = None
        if sizes.sum() > 0:
            for _ in range(max_tries):
                k = int(rng.choice(len(surfaces), p=sizes / sizes.sum()))
                s = surfaces[k]
                flat = int(cells[k][rng.integers(len(cells[k]))])
                row, col = divmod(flat, s.support.shape[1])
                xy = s.xy(np.array(row), np.array(col)) + rng.uniform(-0.5, 0.5, 2) * s.cell
                if all(j != k or np.linalg.norm(xy - q) >= r + rj + clearance for j, q, rj in placed):
                    spot = (k, xy)
                    placed.append((k, xy, r))
                    break
        out.append(spot)
    return out


def segment_hits(triangles: np.ndarray, a: np.ndarray, b: np.ndarray, eps: float = 1e-9) -> bool:
    """Whether the open segment from ``a`` to ``b`` crosses any of ``triangles`` ((T, 3, 3); the
    Moller-Trumbore test, vectorised)."""
    return bool(segments_hit(triangles, a, np.asarray(b, float)[None], eps)[0])


def segments_hit(triangles: np.ndarray, a: np.ndarray, ends: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """(B,) bool: whether each open segment from ``a`` to one of ``ends`` ((B, 3)) crosses any of
    ``triangles`` ((T, 3, 3); the Moller-Trumbore test, vectorised over both)."""
    if not len(triangles) or not len(ends):
        return np.zeros(len(ends), bool)
    a = np.asarray(a, float)
    d = np.asarray(ends, float) - a  # (B, 3)
    e1, e2 = triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]  # (T, 3)
    s = a - triangles[:, 0]
    q = np.cross(s, e1)  # (T, 3): the same for every segment (they share a)
    p = np.cross(d[:, None, :], e2[None, :, :])  # (B, T, 3)
    det = np.einsum("tj,btj->bt", e1, p)
    ok = np.abs(det) > eps
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    u = np.einsum("tj,btj->bt", s, p) * inv
    v = (d @ q.T) * inv
    t = (e2 * q).sum(axis=1)[None, :] * inv
    return np.any(ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-6) & (t < 1 - 1e-6), axis=1)


@dataclass(frozen=True)
class Obstacles:
    """Triangles sorted into chunks of neighbours (by a coarse 3D grid of their centres), each chunk
    with its box, so that a segment is tested against the few chunks its own box meets."""

    triangles: np.ndarray
    starts: np.ndarray
    """(C + 1,) where each chunk starts in ``triangles`` (and where the last ends)."""
    lo: np.ndarray
    hi: np.ndarray
    """(C, 3) each chunk's box."""

    @classmethod
    def of(cls, triangles: np.ndarray, grid: int = 16, chunk: int = 2048) -> "Obstacles":
        c = triangles.mean(axis=1)
        lo, hi = c.min(axis=0), c.max(axis=0)
        cell = np.minimum(((c - lo) / np.maximum(hi - lo, 1e-9) * grid).astype(np.int64), grid - 1)
        key = (cell[:, 0] * grid + cell[:, 1]) * grid + cell[:, 2]
        order = np.argsort(key, kind="stable")
        t, key = triangles[order], key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        starts = np.unique(np.concatenate([np.arange(a, b, chunk) for a, b in zip(starts, [*starts[1:], len(t)])]
                                          or [np.zeros(0, np.int64)]))
        bounds = [(t[a:b].min(axis=(0, 1)), t[a:b].max(axis=(0, 1))) for a, b in zip(starts, [*starts[1:], len(t)])]
        lo_c = np.array([b[0] for b in bounds]).reshape(-1, 3)
        hi_c = np.array([b[1] for b in bounds]).reshape(-1, 3)
        return cls(t, np.r_[starts, len(t)], lo_c, hi_c)

    def blocks(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether the open segment from ``a`` to ``b`` crosses a triangle (:func:`segment_hits`)."""
        return bool(self.blocked(a, np.asarray(b, float)[None])[0])

    def blocked(self, a: np.ndarray, ends: np.ndarray, batch: int = 1 << 18) -> np.ndarray:
        """(B,) bool: whether each open segment from ``a`` to one of ``ends`` ((B, 3)) crosses a
        triangle; each chunk is tested against the segments whose boxes meet its box, about ``batch``
        segment-triangle pairs at a time."""
        a, ends = np.asarray(a, float), np.asarray(ends, float).reshape(-1, 3)
        lo, hi = np.minimum(a, ends), np.maximum(a, ends)  # (B, 3) each segment's box
        out = np.zeros(len(ends), bool)
        for k in range(len(self.lo)):
            near = np.flatnonzero(~out & np.all(hi >= self.lo[k], axis=1) & np.all(lo <= self.hi[k], axis=1))
            tris = self.triangles[self.starts[k]:self.starts[k + 1]]
            step = max(1, batch // max(len(tris), 1))
            for i in range(0, len(near), step):
                idx = near[i:i + step]
                out[idx] |= segments_hit(tris, a, ends[idx])
        return out
