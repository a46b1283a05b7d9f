"""Optical flow of rigidly moving objects from depth, instance ids and poses.

Pure numpy; nothing here imports Blender.

Conventions (as in :mod:`simgen.labels.frame`): OpenCV camera axes (x right, y down,
z forward), pixel centres at integer coordinates, planar depth (``np.inf`` = no hit),
instance id 0 = nothing hit. Every object moves rigidly (or, more generally, by an
affine map): a surface point of object ``j`` goes from frame ``t`` to frame ``o`` by
the world transform ``D_j = M_j(o) @ inv(M_j(t))`` where ``M_j`` is its
``mesh_to_world``.

The flow of frame ``t`` towards frame ``o`` at pixel (u, v), which sees instance ``j``
at depth ``z``: back-project ``X = z * inv(K_t) @ [u, v, 1]``, take it to the world
(``inv(w2c_t)``), move it (``D_j``), look at it from camera ``o`` (``w2c_o``, ``K_o``)
to get (u', v') and depth z'. Then ``flow = (u' - u, v' - v)`` in pixels along the
image axes, so ``(u + flow[..., 0], v + flow[..., 1])`` is where the point appears in
frame ``o``. Forward flow is ``o = t + g``, backward flow ``o = t - g``: same function,
other frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from simgen.optics.camera import pixel_rays, project_points
from simgen.optics.lens import Lens, cached_pixel_rays
from simgen.labels.amodal import ray_hits
from simgen.labels.frame import MAX_ID, _present_ids

DEFAULT_REL_TOL = 0.01
"""Default relative depth tolerance of :func:`flow_validity`."""


@dataclass(frozen=True)
class Deforming:
    """A surface that bends between frame t and frame o (a skinned, shape-keyed or simulated part):
    its triangles, with the same vertices at both frames. A point of it moves with its triangle: the
    point a pixel of frame t sees is its ray's hit on the triangles at ``at_t``
    (:func:`simgen.labels.amodal.ray_hits`), and in frame o it is the same barycentric mix of
    the triangle's vertices at ``at_o``."""

    faces: np.ndarray
    """(F, 3) vertex indices."""
    at_t: np.ndarray
    """(V, 3) world vertices at frame t."""
    at_o: np.ndarray
    """(V, 3) world vertices at frame o (the same vertices, moved)."""


# ------------------------------------------------------------------ geometry


def _check_matrix(name: str, m: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if m.shape != shape:
        raise ValueError(f"{name} must be {shape[0]}x{shape[1]}, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name} has non-finite entries")
    return m


def _check_K(name: str, K: np.ndarray) -> np.ndarray:
    K = _check_matrix(name, K, (3, 3))
    if not np.array_equal(K[2], [0.0, 0.0, 1.0]):
        raise ValueError(f"{name} must have last row [0, 0, 1], got {K[2].tolist()}")
    return K


def rigid_flow(depth: np.ndarray, instance: np.ndarray, K_t: np.ndarray, w2c_t: np.ndarray,
               K_o: np.ndarray, w2c_o: np.ndarray, motions: Mapping[int, np.ndarray],
               lens_t: Optional[Lens] = None, lens_o: Optional[Lens] = None,
               deforming: Optional[Mapping[int, Deforming]] = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flow of frame t towards frame o from frame t's depth and instance map.

    Args:
        depth: (H, W) planar depth of frame t (``inf`` = no hit).
        instance: (H, W) integer instance ids of frame t (0 = nothing hit).
        K_t, w2c_t: frame t's intrinsics (3x3) and world_to_camera (4x4).
        K_o, w2c_o: the same for frame o. Both frames share the image size (H, W).
        motions: instance id -> world motion ``D_j`` (4x4) from t to o, e.g. from
            :func:`object_motions`. Every id present in ``instance`` must be a key of it or of
            ``deforming`` (ValueError naming the missing ones); extra keys are ignored.
        lens_t, lens_o: the frames' real lenses (simgen.optics.lens), when their camera has one
            (camera.calibration): frame t's pixels are lifted along its lens's rays, and the
            moved points projected through frame o's lens (a point it does not see has no flow).
        deforming: instance id -> :class:`Deforming` for the surfaces that bend between the
            frames: each of their pixels follows the point of its triangle it sees (where its ray
            meets none of the triangles at t, at the very edge of a silhouette, it has no flow and
            is not ``in_view``). Ids here need no motion.

    Returns:
        ``(flow, z_other, in_view)``:

        - ``flow`` (H, W, 2) float32: ``(u' - u, v' - v)``. It is computed for every
          pixel that hit something, occluded or not (the flow of a hidden surface is
          still well defined and sometimes wanted); it is 0 where nothing was hit,
          where the point lies at or behind camera o's plane (z' <= 0) and where
          the result is not finite in float32. Use :func:`flow_validity` to know
          which values are backed by frame o.
        - ``z_other`` (H, W) float32: z' of the moved point in camera o (may be
          <= 0 for points behind camera o); ``inf`` where nothing was hit.
        - ``in_view`` (H, W) bool: something was hit, z' > 0 and the projection lies
          inside frame o, ``-0.5 <= u' < W - 0.5`` and ``-0.5 <= v' < H - 0.5``.

    Pixels with a nonzero id but a non-finite or non-positive depth are treated
    like pixels that hit nothing. Computed in float64, one gather per coefficient.
    """
    depth = np.asarray(depth)
    instance = np.asarray(instance)
    if depth.ndim != 2:
        raise ValueError(f"depth must be (H, W), got shape {depth.shape}")
    if instance.shape != depth.shape:
        raise ValueError(f"instance shape {instance.shape} does not match depth {depth.shape}")
    if not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(f"depth must be floating point, got {depth.dtype}")
    K_t = _check_K("K_t", K_t)
    K_o = _check_K("K_o", K_o)
    w2c_t = _check_matrix("w2c_t", w2c_t, (4, 4))
    w2c_o = _check_matrix("w2c_o", w2c_o, (4, 4))
    h, w = depth.shape

    ids, _ = _present_ids(instance)
    deforming = dict(deforming or {})
    missing = [int(i) for i in ids if int(i) not in motions and int(i) not in deforming]
    if missing:
        raise ValueError(f"instance ids {missing} appear in the image but have no motion "
                         f"(known ids: {sorted(int(k) for k in (*motions, *deforming))})")
    motions = {**{i: np.eye(4) for i in deforming}, **motions}  # a bending surface's pixels: replaced below

    # One 3x4 matrix per present id, mapping [z*u, z*v, z, 1] of frame t to the
    # homogeneous pixel [z'*u', z'*v', z'] of frame o. Row 0 stays zero (no hit).
    c2w_t = np.linalg.inv(w2c_t)
    from_pixels = np.zeros((4, 4))
    from_pixels[:3, :3] = np.linalg.inv(K_t)
    from_pixels[3, 3] = 1.0
    n = len(ids)
    coef = np.zeros((n + 1, 3, 4))
    for row, iid in enumerate(ids.tolist(), start=1):
        D = _check_matrix(f"motion of instance {iid}", motions[iid], (4, 4))
        coef[row] = K_o @ (w2c_o @ D @ c2w_t @ from_pixels)[:3]
    planes = np.ascontiguousarray(coef.reshape(n + 1, 12).T)  # (12, n+1)
    lut = np.zeros(MAX_ID + 1, np.intp)
    lut[ids] = np.arange(1, n + 1)

    hit = (instance != 0) & np.isfinite(depth) & (depth > 0)
    idx = np.where(hit, lut[instance], 0)
    z = np.where(hit, depth, 0.0).astype(np.float64)
    u = np.arange(w, dtype=np.float64)[None, :]
    v = np.arange(h, dtype=np.float64)[:, None]

    def row(r: int) -> np.ndarray:  # z * (c0 * u + c1 * v + c2) + c3, in place (the same roundings)
        c = planes[4 * r:4 * r + 4]
        out = np.take(c[0], idx)
        out *= u
        out += np.take(c[1], idx) * v
        out += np.take(c[2], idx)
        out *= z
        out += np.take(c[3], idx)
        return out

    if lens_t is None and lens_o is None:
        qu, qv, qz = row(0), row(1), row(2)
    else:
        qu, qv, qz = _through_lenses(depth, hit, idx, ids, motions, K_t, w2c_t, K_o, w2c_o, lens_t, lens_o)
    for iid, surface in deforming.items():
        at = np.nonzero(hit & (instance == iid))
        if len(at[0]):
            qu[at], qv[at], qz[at] = _deformed(surface, at, K_t, w2c_t, K_o, w2c_o, lens_t, lens_o)
    front = hit & (qz > 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        u2 = np.divide(qu, qz, out=qu)
        v2 = np.divide(qv, qz, out=qv)
    in_view = front & (u2 >= -0.5) & (u2 < w - 0.5) & (v2 >= -0.5) & (v2 < h - 0.5)

    flow = np.empty((h, w, 2), np.float32)
    for k, (to, at) in enumerate(((u2, u), (v2, v))):  # channel by channel, on planes
        with np.errstate(over="ignore", invalid="ignore"):
            d = np.subtract(to, at, out=to)
            np.copyto(d, 0.0, where=~front)
            d = d.astype(np.float32)
        np.copyto(d, 0.0, where=~np.isfinite(d))
        flow[..., k] = d
    z_other = np.where(hit, qz, np.inf).astype(np.float32)
    return flow, z_other, in_view


def _through_lenses(depth, hit, idx, ids, motions, K_t, w2c_t, K_o, w2c_o, lens_t, lens_o):
    """:func:`rigid_flow`'s ``z' u'``, ``z' v'``, ``z'`` of frame t's pixels when a frame has a
    real lens: each pixel lifted to its 3D point along its ray (planar depth over the ray's z),
    moved, and projected through frame o's lens (NaN where it sees nothing: no flow there)."""
    h, w = depth.shape
    if lens_t is not None:
        rays = cached_pixel_rays(lens_t)
        rays = rays / rays[..., 2:3]  # z = 1: times planar depth, the point
    else:
        rays = pixel_rays(K_t, w, h)
    z = np.where(hit, depth, 0.0).astype(np.float64)
    p = np.where(hit[..., None], rays * z[..., None], 0.0)
    q = np.zeros_like(p)
    c2w_t = np.linalg.inv(w2c_t)
    for row, iid in enumerate(ids.tolist(), start=1):
        at = idx == row
        M = (w2c_o @ motions[iid] @ c2w_t)[:3]
        q[at] = p[at] @ M[:, :3].T + M[:, 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        uv = lens_o.project(q.reshape(-1, 3)).reshape(h, w, 2) if lens_o is not None else \
            project_points(K_o, q, front_only=False)  # z' <= 0 kept: rigid_flow's z' > 0 test drops them
    qz = q[..., 2].copy()
    qz[~np.isfinite(uv).all(-1)] = 0.0  # the lens does not see it: no flow (taken as behind the camera)
    return uv[..., 0] * qz, uv[..., 1] * qz, qz


def _deformed(surface: Deforming, at: tuple[np.ndarray, np.ndarray], K_t, w2c_t, K_o, w2c_o, lens_t, lens_o
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`rigid_flow`'s ``z' u'``, ``z' v'``, ``z'`` of the pixels ``at`` (rows, columns) of a
    bending surface: each pixel centre's ray met on the surface's triangles at t, the hit moved with
    its triangle to o and projected there (z' = 0 where the ray meets no triangle: no flow)."""
    v, u = at
    if lens_t is not None:
        rays = cached_pixel_rays(lens_t)[v, u]
    else:
        rays = np.stack([u, v, np.ones(len(u))], 1).astype(float) @ np.linalg.inv(K_t).T
    cam_t = surface.at_t @ w2c_t[:3, :3].T + w2c_t[:3, 3]
    tri, bary, _ = ray_hits(cam_t, surface.faces, rays, 1e-9)
    met = tri >= 0
    moved = np.einsum("nk,nkj->nj", bary[met], surface.at_o[surface.faces[tri[met]]])
    q = np.zeros((len(u), 3))
    q[met] = moved @ w2c_o[:3, :3].T + w2c_o[:3, 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        uv = lens_o.project(q) if lens_o is not None else project_points(K_o, q, front_only=False)
    qz = q[:, 2].copy()
    qz[~met | ~np.isfinite(uv).all(-1)] = 0.0
    return uv[:, 0] * qz, uv[:, 1] * qz, qz


def flow_validity(flow: np.ndarray, z_other: np.ndarray, in_view: np.ndarray,
                  instance: np.ndarray, depth_other: np.ndarray, instance_other: np.ndarray,
                  rel_tol: float = DEFAULT_REL_TOL) -> np.ndarray:
    """Which flow vectors of :func:`rigid_flow` frame o confirms (H, W) bool, True = valid.

    A pixel is valid when it is ``in_view`` (hit, in front of camera o, inside the
    image) and nothing stands in front of it in frame o: frame o's depth at the nearest
    pixel, ``(floor(u' + 0.5), floor(v' + 0.5))``, carried to (u', v') along the local
    depth slope of the object seen there (``instance_other`` tells which neighbours
    belong to it), is at least ``(1 - rel_tol) * z'``. A surface seen behind the point
    (a silhouette edge) does not hide it; one in front, of any object, does. ``instance`` is frame t's
    instance map, ``depth_other``/``instance_other`` are frame o's; all maps share the
    size (H, W). Flow values of invalid pixels are left as they are.
    """
    flow = np.asarray(flow)
    instance = np.asarray(instance)
    if instance.ndim != 2:
        raise ValueError(f"instance must be (H, W), got shape {instance.shape}")
    h, w = instance.shape
    if flow.shape != (h, w, 2):
        raise ValueError(f"flow must be (H, W, 2) = {(h, w, 2)}, got shape {flow.shape}")
    arrays = {"z_other": z_other, "in_view": in_view, "depth_other": depth_other,
              "instance_other": instance_other}
    for name, arr in arrays.items():
        if np.shape(arr) != (h, w):
            raise ValueError(f"{name} shape {np.shape(arr)} does not match instance {(h, w)}")
    if not rel_tol >= 0:
        raise ValueError(f"rel_tol must be >= 0, got {rel_tol}")

    z_o = np.asarray(z_other, dtype=np.float64)
    valid = np.asarray(in_view, dtype=bool) & (instance != 0)
    u = np.arange(w, dtype=np.float64)[None, :] + flow[..., 0]
    v = np.arange(h, dtype=np.float64)[:, None] + flow[..., 1]
    seen_z = seen_depth(depth_other, instance_other, np.where(valid, u, 0.0), np.where(valid, v, 0.0))
    with np.errstate(invalid="ignore"):
        valid &= seen_z >= z_o * (1.0 - rel_tol)  # nothing stands in front of the point
    return valid


def seen_depth(depth: np.ndarray, instance: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The depth a frame sees at image points (u, v) (arrays of any one shape, inside the image):
    its depth at the nearest pixel centre, ``(floor(u + 0.5), floor(v + 0.5))``, carried to (u, v)
    along the local depth slope of the object seen there (``instance`` tells which neighbours
    belong to it; surfaces seen at a grazing angle change depth fast). float64; inf where
    nothing is seen. What hides a point of depth z there: a seen depth below ``(1 - rel_tol) * z``."""
    depth = np.asarray(depth, dtype=np.float64)
    h, w = depth.shape
    with np.errstate(invalid="ignore"):
        ui = np.clip(np.floor(np.asarray(u, np.float64) + 0.5), 0, w - 1).astype(np.intp)
        vi = np.clip(np.floor(np.asarray(v, np.float64) + 0.5), 0, h - 1).astype(np.intp)
    gx, gy = _depth_slopes(depth, np.asarray(instance))
    flat = vi * w + ui  # gathers from the flattened maps: one index for all three
    with np.errstate(invalid="ignore"):
        return np.take(depth, flat) + np.take(gx, flat) * (u - ui) + np.take(gy, flat) * (v - vi)


STEP_RATIO = 3.0
"""Of a pixel's two one-sided depth differences along an axis (to its neighbours on the same object),
one more than this many times the other is a step in the object's depth (a limb seen in front of the
torso, one fold of a sheet in front of another), not the slope of the surface the pixel sees: the
other side's difference is the slope there."""


def _depth_slopes(depth: np.ndarray, instance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel depth change per pixel along x and y, from neighbours on the same object.

    The mean of the backward and forward differences where both neighbours share the
    pixel's instance, the one available otherwise, 0 where neither does. Where both count but
    one is more than :data:`STEP_RATIO` times the other, that one crosses a step in depth within
    the object (a person's arm in front of its torso is one instance): the other is the slope.
    """
    def along(d: np.ndarray, ids: np.ndarray, axis: int) -> np.ndarray:
        def part(sl: slice) -> tuple:
            return (slice(None),) * axis + (sl,)
        lo, hi, mid = part(slice(None, -1)), part(slice(1, None)), part(slice(1, -1))
        with np.errstate(invalid="ignore"):  # inf - inf where neither neighbour hits: not on an object
            diff = d[hi] - d[lo]
        ok = (ids[hi] == ids[lo]) & (ids[hi] != 0) & np.isfinite(diff)
        np.copyto(diff, 0.0, where=~ok)
        total = np.zeros_like(d)
        total[hi] += diff
        total[lo] += diff
        # the mean where both neighbours count (total / 2 is total * 0.5 exactly), else the sum
        # of one difference and +0 (or two +0: no neighbour on the same object)
        both = ok[lo] & ok[hi]
        np.multiply(total[mid], 0.5, out=total[mid], where=both)
        back, ahead = np.abs(diff[lo]), np.abs(diff[hi])  # of the middle pixels: to the one before, after
        np.copyto(total[mid], diff[lo], where=both & (ahead > STEP_RATIO * back))  # a step ahead
        np.copyto(total[mid], diff[hi], where=both & (back > STEP_RATIO * ahead))  # a step behind
        return total

    depth = np.ascontiguousarray(depth)
    instance = np.ascontiguousarray(instance)
    return along(depth, instance, 1), along(depth, instance, 0)


def object_motions(objects_t: Sequence[Mapping], objects_o: Sequence[Mapping]) -> dict[int, np.ndarray]:
    """World motions ``D = M_o @ inv(M_t)`` (4x4 float64) by instance id.

    ``objects_t``/``objects_o`` are two frames' meta ``"objects"`` lists (dicts with
    at least ``"instance_id"`` and ``"mesh_to_world"``). Objects are matched by
    instance id; an id present in only one frame gets no motion (:func:`rigid_flow`
    then raises if it is visible in frame t). Duplicate ids within a frame, or a
    singular ``mesh_to_world`` in frame t, raise ValueError.
    """
    def by_id(objects: Sequence[Mapping], which: str) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        for obj in objects:
            iid = int(obj["instance_id"])
            if iid in out:
                raise ValueError(f"instance id {iid} appears twice in the objects of frame {which}")
            name = obj.get("name", iid)
            out[iid] = _check_matrix(f"mesh_to_world of {name!r} (frame {which})",
                                     obj["mesh_to_world"], (4, 4))
        return out

    m_t, m_o = by_id(objects_t, "t"), by_id(objects_o, "o")
    motions = {}
    for iid in sorted(m_t.keys() & m_o.keys()):
        try:
            inv_t = np.linalg.inv(m_t[iid])
        except np.linalg.LinAlgError as e:
            raise ValueError(f"mesh_to_world of instance {iid} in frame t is singular") from e
        motions[iid] = m_o[iid] @ inv_t
    return motions


# ------------------------------------------------------------- visualisation

# Colour wheel (Middlebury style): segment lengths between the key colours red,
# yellow, green, cyan, blue, magenta (and back to red). Finer steps where the eye
# tells hues apart more easily.
_WHEEL_SEGMENTS = ((15, (1, 0, 0)), (6, (1, 1, 0)), (4, (0, 1, 0)), (11, (0, 1, 1)),
                   (13, (0, 0, 1)), (6, (1, 0, 1)))


def _color_wheel() -> np.ndarray:
    """(N, 3) float64 colours in [0, 1] around the wheel, starting at red."""
    colors = []
    keys = [np.array(c, float) for _, c in _WHEEL_SEGMENTS] + [np.array([1.0, 0.0, 0.0])]
    for s, (steps, _) in enumerate(_WHEEL_SEGMENTS):
        t = np.arange(steps)[:, None] / steps
        colors.append((1 - t) * keys[s] + t * keys[s + 1])
    return np.concatenate(colors)


_WHEEL = _color_wheel()


def flow_to_color(flow: np.ndarray, valid: np.ndarray | None = None,
                  max_flow: float | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB picture of a flow field (a preview, never the data).

    Hue gives the direction on a Middlebury-style wheel (+x red, +y (down)
    orange/yellow, -x cyan/blue, -y (up) blue/magenta), saturation the magnitude
    ``min(|flow| / max_flow, 1)``: zero flow is white. Pixels that are not ``valid``
    (default: all) or whose flow is not finite are black. ``max_flow`` defaults to
    the 99th percentile of the valid magnitudes (robust to a few huge vectors), at
    least 1e-6.
    """
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got shape {flow.shape}")
    fu, fv = flow[..., 0], flow[..., 1]
    ok = np.isfinite(fu) & np.isfinite(fv)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != flow.shape[:2]:
            raise ValueError(f"valid shape {valid.shape} does not match flow {flow.shape[:2]}")
        ok &= valid
    fu = np.where(ok, fu, 0.0)
    fv = np.where(ok, fv, 0.0)
    mag = np.hypot(fu, fv)
    if max_flow is None:
        max_flow = float(np.percentile(mag[ok], 99)) if ok.any() else 0.0
    max_flow = max(float(max_flow), 1e-6)

    n = len(_WHEEL)
    pos = (np.arctan2(-fv, -fu) + np.pi) / (2 * np.pi) * n  # +x -> 0 (red)
    pos = np.mod(pos, n)
    k0 = np.floor(pos).astype(np.intp) % n
    k1 = (k0 + 1) % n
    frac = (pos - np.floor(pos))[..., None]
    hue = (1 - frac) * _WHEEL[k0] + frac * _WHEEL[k1]
    sat = np.minimum(mag / max_flow, 1.0)[..., None]
    rgb = 1.0 - sat * (1.0 - hue)
    out = np.rint(rgb * 255.0).astype(np.uint8)
    out[~ok] = 0
    return out


def flow_wheel_legend(size: int = 64) -> np.ndarray:
    """(size, size, 3) uint8 legend: the colour of a flow pointing from the centre to
    each pixel, full saturation at the rim; black outside the disc."""
    size = int(size)
    if size < 1:
        raise ValueError(f"legend size must be >= 1, got {size}")
    c = (size - 1) / 2.0
    radius = size / 2.0
    y, x = np.mgrid[:size, :size].astype(np.float64)
    flow = np.stack([x - c, y - c], axis=-1)
    inside = np.hypot(flow[..., 0], flow[..., 1]) <= radius
    return flow_to_color(flow, inside, max_flow=radius)
