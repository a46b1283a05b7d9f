"""Amodal masks and visibility: what each object would cover if nothing occluded it.

The amodal mask of an object is the set of pixels whose centre ray meets the object's
surface, other objects ignored; it is computed by rasterizing the object's triangles
(world vertices from the frame's scene, projected with its K and world_to_camera) at
pixel centres: a pixel is in if its centre lies inside the projection of a triangle, or
on its edge, with the part of a triangle nearer than camera.clip_start clipped away.
Through a real lens (camera.calibration) the test is the same, on the plane z = 1 at the
point each pixel centre's ray meets it (:func:`rasterize_rays`).
Every visible pixel of the object (instance label == its id) counts as in, so the
visible pixels are always a subset of the amodal ones. :func:`silhouette_outside` goes on past
the image's edges (the BOP export's px_count_all and bbox_obj count the whole silhouette).

Two label kinds (simgen.labels.kinds; registered in simgen/labels/__init__.py):

- ``visibility``: adds ``visibility`` (visible pixels / amodal pixels, 0..1) and
  ``amodal_area`` to every COCO annotation (under its ``"simgen"`` key). No file.
- ``amodal``: ``DIR/amodal/NNNNNN.npz`` with ``instance_ids`` (N,) uint16 and ``masks``
  (N, H, W) bool, one mask per annotated object (category != 0) that covers a pixel; where such
  an object is articulated, ``part_ids`` (M,) uint16 and ``part_masks`` (M, H, W) bool too, one
  per link (its part id, the ``parts`` label's) that covers a pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simgen.optics.camera import project_points
from simgen.optics.lens import cached_pixel_rays
from simgen.labels.kinds import FrameContext, LabelKind
from simgen.labels.preview import id_colors


@dataclass(frozen=True)
class AmodalMasks:
    """The amodal masks of one frame's annotated objects."""

    instance_ids: np.ndarray
    """(N,) uint16, sorted."""
    masks: np.ndarray
    """(N, H, W) bool."""
    part_ids: np.ndarray | None = None
    """(M,) uint16, sorted: the part ids (the ``parts`` label's) of the links of the annotated
    articulated objects that cover a pixel; None (not written) where the frame has none."""
    part_masks: np.ndarray | None = None
    """(M, H, W) bool: each link's own amodal mask (every other link and object ignored)."""

    def area(self, instance_id: int) -> int:
        hit = np.flatnonzero(self.instance_ids == instance_id)
        return int(np.count_nonzero(self.masks[hit[0]])) if hit.size else 0


def _clip_near(tri: np.ndarray, near: float) -> list[np.ndarray]:
    """The parts (triangles, camera coordinates) of ``tri`` (3, 3) with z >= near."""
    inside = tri[:, 2] >= near
    if inside.all():
        return [tri]
    if not inside.any():
        return []
    poly = []
    for i in range(3):
        a, b = tri[i], tri[(i + 1) % 3]
        if a[2] >= near:
            poly.append(a)
        if (a[2] >= near) != (b[2] >= near):
            t = (near - a[2]) / (b[2] - a[2])
            poly.append(a + t * (b - a))
    return [np.array([poly[0], poly[k], poly[k + 1]]) for k in range(1, len(poly) - 1)]


def _clipped(tris: np.ndarray, near: float) -> np.ndarray:
    """Triangles (F, 3, 3) in camera coordinates -> the parts with z >= near (:func:`_clip_near`)."""
    return _clipped_from(tris, near)[0]


def _clipped_from(tris: np.ndarray, near: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_clipped`'s parts and, for each, the index in ``tris`` of the triangle it is part of."""
    crossing = (tris[:, :, 2] < near).any(axis=1)
    whole = np.flatnonzero(~crossing & (tris[:, :, 2] >= near).all(axis=1))
    parts, source = [tris[whole]], [whole]
    for k in np.flatnonzero(crossing):
        pieces = _clip_near(tris[k], near)
        parts.extend(p[None] for p in pieces)
        source.append(np.full(len(pieces), k))
    return np.concatenate(parts), np.concatenate(source).astype(np.int64)


def rasterize(vertices_cam: np.ndarray, faces: np.ndarray, K: np.ndarray, width: int, height: int,
              near: float) -> np.ndarray:
    """(H, W) bool: pixel centres inside the projection of any triangle (edges included)."""
    mask = np.zeros((height, width), bool)
    tris = _clipped(vertices_cam[faces], near)  # (F, 3, 3)
    if not len(tris):
        return mask
    uv = tris[:, :, :2] / tris[:, :, 2:3] * np.array([K[0, 0], K[1, 1]]) + np.array([K[0, 2], K[1, 2]])
    lo = np.clip(np.ceil(uv.min(axis=1) - 1e-9), 0, [width, height]).astype(int)
    hi = np.clip(np.floor(uv.max(axis=1) + 1e-9), -1, [width - 1, height - 1]).astype(int)
    keep = (hi >= lo).all(axis=1)
    lo, hi, uv = lo[keep], hi[keep], uv[keep]
    size = hi - lo + 1  # (T, 2) bounding-box columns and rows of each triangle
    count = size[:, 0] * size[:, 1]
    total, start = np.cumsum(count), 0
    while start < len(uv):  # chunks of triangles with fewer than MAX_CANDIDATES pixel centres (or one)
        done = int(total[start - 1]) if start else 0
        stop = max(start + 1, int(np.searchsorted(total, done + MAX_CANDIDATES)))
        _fill(mask, lo[start:stop], size[start:stop], count[start:stop], uv[start:stop])
        start = stop
    return mask


def silhouette_outside(vertices_cam: np.ndarray, faces: np.ndarray, K: np.ndarray, width: int, height: int,
                       near: float, inside_mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """(mask, offset) of an object's whole silhouette, the part outside the image included:
    ``offset`` (x, y) is where the image's top-left pixel lies in ``mask``. As BOP's calc_gt_info
    renders it, on a canvas 3x the image each way, centred on it: here the same canvas is
    rasterized (:func:`rasterize`: pixel centres, edges in) and its middle is ``inside_mask`` (the
    frame's amodal mask), so its pixels in the image are the amodal mask's. When nothing reaches
    past the image, ``inside_mask`` itself at offset (0, 0)."""
    z = vertices_cam[:, 2]
    if len(z) and (z >= near).all():
        u, v = project_points(K, vertices_cam).T
        if u.min() > -0.5 and v.min() > -0.5 and u.max() < width - 0.5 and v.max() < height - 0.5:
            return inside_mask, (0, 0)  # nothing reaches past the image
    big = K.astype(float).copy()
    big[0, 2] += width
    big[1, 2] += height
    canvas = rasterize(vertices_cam, faces, big, 3 * width, 3 * height, near)
    canvas[height:2 * height, width:2 * width] = inside_mask
    return canvas, (width, height)


MAX_CANDIDATES = 200_000
"""Candidate pixel centres tested at once by :func:`rasterize`: bounds its memory, and its
arrays (1.6 MB each) stay in the CPU's caches: 2M at once took twice the time."""


def _fill(mask: np.ndarray, lo: np.ndarray, size: np.ndarray, count: np.ndarray, uv: np.ndarray) -> None:
    """Set the pixel centres of ``mask`` inside the triangles ``uv`` (T, 3, 2), each tested
    over its bounding box (origin ``lo``, columns and rows ``size``, ``count`` pixels).

    The candidates are laid out triangle by triangle, row by row: each triangle's terms are
    repeated over its candidates (np.repeat) rather than gathered per candidate."""
    w, h = size[:, 0], size[:, 1]
    rows = np.repeat(np.arange(len(uv)), h)  # one entry per (triangle, bounding-box row)
    row_in = np.arange(len(rows)) - np.repeat(np.cumsum(h) - h, h)
    per_row = w[rows]
    yi = np.repeat(lo[rows, 1] + row_in, per_row)
    xi = np.arange(int(per_row.sum())) - np.repeat(np.cumsum(per_row) - per_row - lo[rows, 0], per_row)
    a, b, c = (np.repeat(uv[:, k], count, axis=0) for k in range(3))
    inside = _inside(a, b, c, xi.astype(float), yi.astype(float))
    mask[yi[inside], xi[inside]] = True


def _inside(a: np.ndarray, b: np.ndarray, c: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether each point (x, y) lies inside, or on an edge of, its triangle (a, b, c) (each (N, 2),
    a row per point): the signed areas against the three edges are all of one sign (or 0)."""
    def edge(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """(q_x - p_x) * (y - p_y) - (q_y - p_y) * (x - p_x)."""
        e = (q[:, 0] - p[:, 0]) * (y - p[:, 1])
        e -= (q[:, 1] - p[:, 1]) * (x - p[:, 0])
        return e

    e0, e1, e2 = edge(a, b), edge(b, c), edge(c, a)
    return ((e0 >= 0) & (e1 >= 0) & (e2 >= 0)) | ((e0 <= 0) & (e1 <= 0) & (e2 <= 0))


def rasterize_rays(vertices_cam: np.ndarray, faces: np.ndarray, rays: np.ndarray, near: float) -> np.ndarray:
    """(H, W) bool: the pixels whose centre ray (``rays`` (H, W, 3), camera coordinates: a real
    lens's, :func:`simgen.optics.lens.cached_pixel_rays`) passes through a triangle, edges included,
    with the part of a triangle nearer than ``near`` clipped away.

    A ray that goes forward (z > 0) meets the plane z = 1 at (x / z, y / z), and so does every
    line of sight to a point in front of the camera: the ray passes through a triangle exactly
    when that point of the plane lies inside the triangle's projection onto it (straight edges
    stay straight there, whatever the lens). So :func:`rasterize`'s inside test runs on the
    plane, at each pixel's own point instead of a grid's (:func:`_ray_pairs`). A ray that does not
    go forward (a fisheye's at 90 degrees and beyond) is never in."""
    h, w = rays.shape[:2]
    mask = np.zeros(h * w, bool)
    for _, point in _ray_pairs(_clipped(vertices_cam[faces], near), rays.reshape(-1, 3)):
        mask[point] = True
    return mask.reshape(h, w)


def _ray_pairs(tris: np.ndarray, rays: np.ndarray):
    """Yield (triangle, ray) index pairs, in chunks, of the forward rays (``rays`` (N, 3), z > 0)
    that pass through a triangle of ``tris`` (T, 3, 3) (camera coordinates, all in front of the
    camera), edges included: the rays' points on the plane z = 1 are bucketed in square cells about
    a point apart, and each triangle tests the points of the cells its projection's bounding box
    covers (:func:`_inside`)."""
    z = rays[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        forward = np.flatnonzero(z > 0)  # NaN rays (no direction) compare False
    if not len(tris) or not len(forward):
        return
    pts = rays[forward, :2] / z[forward, None]
    lo_pt = pts.min(axis=0)
    cell = max(float(np.sqrt(np.prod(pts.max(axis=0) - lo_pt + 1e-12) / len(pts))), 1e-12)
    grid = np.floor((pts - lo_pt) / cell).astype(np.int64)
    cols, rows = int(grid[:, 0].max()) + 1, int(grid[:, 1].max()) + 1
    key = grid[:, 1] * cols + grid[:, 0]
    order = np.argsort(key, kind="stable")
    starts = np.searchsorted(key[order], np.arange(cols * rows + 1))  # CSR: cell c's points order[starts[c]:starts[c+1]]
    uv = tris[:, :, :2] / tris[:, :, 2:3]
    c_lo = np.clip(np.floor((uv.min(axis=1) - lo_pt) / cell - 1e-9), 0, [cols, rows]).astype(np.int64)
    c_hi = np.clip(np.floor((uv.max(axis=1) - lo_pt) / cell + 1e-9), -1, [cols - 1, rows - 1]).astype(np.int64)
    keep = np.flatnonzero((c_hi >= c_lo).all(axis=1))
    uv, c_lo, size = uv[keep], c_lo[keep], (c_hi - c_lo + 1)[keep]
    total, s = np.cumsum(size[:, 0] * size[:, 1]), 0
    while s < len(uv):  # chunks of at most TRIANGLES_AT_ONCE triangles and MAX_CANDIDATES cells (or one triangle)
        done = int(total[s - 1]) if s else 0
        e = min(s + TRIANGLES_AT_ONCE, max(s + 1, int(np.searchsorted(total, done + MAX_CANDIDATES))))
        t_uv, t_lo, t_size = uv[s:e], c_lo[s:e], size[s:e]
        s0, s = s, e
        n_cells = t_size[:, 0] * t_size[:, 1]
        tri_of_cell = np.repeat(np.arange(len(t_uv)), n_cells)
        k = np.arange(len(tri_of_cell)) - np.repeat(np.cumsum(n_cells) - n_cells, n_cells)
        cx = t_lo[tri_of_cell, 0] + k % t_size[tri_of_cell, 0]
        cy = t_lo[tri_of_cell, 1] + k // t_size[tri_of_cell, 0]
        c = cy * cols + cx
        n_pts = starts[c + 1] - starts[c]
        tri = np.repeat(tri_of_cell, n_pts)
        j = np.arange(len(tri)) - np.repeat(np.cumsum(n_pts) - n_pts, n_pts) + np.repeat(starts[c], n_pts)
        point = order[j]
        inside = _inside(t_uv[tri, 0], t_uv[tri, 1], t_uv[tri, 2], pts[point, 0], pts[point, 1])
        yield keep[s0 + tri[inside]], forward[point[inside]]


def ray_hits(vertices_cam: np.ndarray, faces: np.ndarray, rays: np.ndarray, near: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each ray from the camera's centre (``rays`` (N, 3), camera coordinates: a pixel
    centre's, :func:`simgen.optics.camera.pixel_rays` or a lens's) first meets the mesh
    (``vertices_cam`` (V, 3) in camera coordinates, ``faces`` (F, 3)), the part nearer than
    ``near`` (planar z) clipped away: ``(triangle (N,) int64, barycentric (N, 3), distance (N,))``,
    the hit point being ``sum_k barycentric[k] * vertices_cam[faces[triangle, k]]`` and
    ``distance`` its multiple of the ray; triangle -1 (barycentric and distance NaN) where the ray
    meets none. The candidates are :func:`rasterize_rays`'s (edges included); each one's hit is the
    ray's intersection with its triangle's plane (Moller and Trumbore's solution), the nearest kept."""
    rays = np.asarray(rays, float).reshape(-1, 3)
    n = len(rays)
    best = np.full(n, np.inf)
    tri_of = np.full(n, -1, np.int64)
    bary = np.full((n, 3), np.nan)
    tris = np.asarray(vertices_cam, float)[np.asarray(faces)]
    pieces, source = _clipped_from(tris, near)
    for piece, ray in _ray_pairs(pieces, rays):
        k = source[piece]
        a, e1, e2 = tris[k, 0], tris[k, 1] - tris[k, 0], tris[k, 2] - tris[k, 0]
        d = rays[ray]
        p = np.cross(d, e2)
        det = np.einsum("ij,ij->i", e1, p)
        s = -a
        q = np.cross(s, e1)
        with np.errstate(divide="ignore", invalid="ignore"):
            b1 = np.einsum("ij,ij->i", s, p) / det
            b2 = np.einsum("ij,ij->i", d, q) / det
            t = np.einsum("ij,ij->i", e2, q) / det
        ok = np.isfinite(t) & (t > 0)  # a degenerate (zero-area) triangle meets no ray
        if not ok.any():
            continue
        ray, k, t, b1, b2 = ray[ok], k[ok], t[ok], b1[ok], b2[ok]
        order = np.lexsort((t, ray))  # per ray, its nearest candidate first
        ray, k, t, b1, b2 = ray[order], k[order], t[order], b1[order], b2[order]
        first = np.r_[True, ray[1:] != ray[:-1]]
        ray, k, t, b1, b2 = ray[first], k[first], t[first], b1[first], b2[first]
        closer = t < best[ray]
        ray, k, t, b1, b2 = ray[closer], k[closer], t[closer], b1[closer], b2[closer]
        best[ray], tri_of[ray] = t, k
        b1, b2 = np.clip(b1, 0.0, 1.0), np.clip(b2, 0.0, 1.0)  # on an edge: rounding may step outside
        bary[ray] = np.stack([1.0 - b1 - b2, b1, b2], 1)
    best[tri_of < 0] = np.nan
    return tri_of, bary, best


TRIANGLES_AT_ONCE = 2048
"""Triangles :func:`rasterize_rays` tests at once (their cells' points: a few per cell), fewer where their
cells pass :data:`MAX_CANDIDATES`: 2,048 triangles that each span the image (a played skinned bar's, seen
close) gave 5 million cells at once at 64x48, and the flow stage's arrays 300 MB (issue 76)."""


def amodal_masks(labels, ctx: FrameContext) -> AmodalMasks:
    """The amodal mask of every annotated object of the frame that covers a pixel."""
    from simgen.assets.meshes import load_mesh  # trimesh: imported where meshes are drawn, not by readers
    from simgen.assets.parts import parts_of

    cam = ctx.scene.camera

    def covered(mesh_ref, mesh_to_world: np.ndarray) -> np.ndarray:
        mesh = load_mesh(mesh_ref)
        v = np.c_[mesh.vertices, np.ones(len(mesh.vertices))] @ (cam.world_to_camera @ mesh_to_world).T
        if cam.lens is None:
            return rasterize(v[:, :3], np.asarray(mesh.faces), cam.K, cam.width, cam.height, cam.clip_start)
        # through the real lens: each pixel's own ray
        return rasterize_rays(v[:, :3], np.asarray(mesh.faces), cached_pixel_rays(cam.lens), cam.clip_start)

    ids, masks = [], []
    annotated = set()
    for o in sorted(ctx.scene.objects, key=lambda o: o.instance_id):
        if o.category_id == 0:
            continue
        annotated.add(o.instance_id)
        mask = covered(o.mesh, o.mesh_to_world) | (labels.instance == o.instance_id)
        if mask.any():
            ids.append(o.instance_id)
            masks.append(mask)
    part_ids, part_masks = [], []
    for p in parts_of(ctx.scene).parts:  # in the order of their ids
        if p.instance_id in annotated:
            mask = covered(p.mesh, p.mesh_to_world) | (labels.bodies == p.id)
            if mask.any():
                part_ids.append(p.id)
                part_masks.append(mask)
    h, w = labels.instance.shape
    links = (np.array(part_ids, np.uint16), np.array(part_masks, bool)) if part_ids else (None, None)
    return AmodalMasks(np.array(ids, np.uint16), np.array(masks, bool).reshape(len(ids), h, w), *links)


def add_visibility(value: AmodalMasks, annotations: list[dict]) -> None:
    """visibility = visible pixels / amodal pixels; amodal_area = the amodal pixel count."""
    for a in annotations:
        own = a["simgen"]  # simgen's own fields (simgen.labels.frame.SIMGEN_KEY)
        full = value.area(own["instance_id"])
        own["amodal_area"] = full
        own["visibility"] = float(a["area"]) / full if full else 0.0


def amodal_preview(value: AmodalMasks) -> np.ndarray:
    """Each object's amodal mask outline-free in its instance colour, overlaps blended."""
    n, h, w = value.masks.shape
    out = np.zeros((h, w, 3), np.float32)
    count = value.masks.sum(axis=0)
    for iid, m, col in zip(value.instance_ids, value.masks, id_colors(value.instance_ids) if n else []):
        out[m] += col.astype(np.float32)
    out /= np.maximum(count, 1)[..., None]
    return out.astype(np.uint8)


VISIBILITY = LabelKind(
    "visibility", "per COCO annotation: visibility = visible pixels / amodal (unoccluded) pixels, and amodal_area",
    "float32", -1, compute=amodal_masks, annotate=add_visibility)
AMODAL = LabelKind(
    "amodal", "amodal masks: instance_ids (N,) uint16 and masks (N, H, W) bool of every annotated object, "
    "occluders ignored; for an articulated one's links, part_ids (M,) uint16 and part_masks (M, H, W) bool too",
    "bool", -1, "amodal", ".npz", compute=amodal_masks, preview=amodal_preview)
