"""Long-range point tracks: points on the surfaces a sequence sees, followed through every step.

Pure numpy; nothing here imports Blender. Conventions as in :mod:`simgen.labels.frame`: OpenCV
camera axes, the centre of pixel (u, v) at integer (u, v), planar depth, instance id 0 = nothing
hit, normals in camera axes facing the camera.

A track starts at a **query point**: the centre of a pixel (u, v) of its query step q where a
surface was hit, lifted to 3D along that pixel's ray (the lens's, when the camera has one) at the
frame's planar depth, and kept in its object's own coordinates (``inv(mesh_to_world(q))``) with
the surface normal the frame saw there. A point on a moving object therefore follows its own
surface point, not a pixel. At every step t the point is moved by its object's
``mesh_to_world(t)`` (the normal by its inverse transpose) and seen from camera t:

- ``uv``: where it projects (K, or the lens's model), in simgen's pixel convention; NaN where the
  lens cannot say (behind a perspective camera, past a fisheye's field);
- ``camera``: its camera coordinates (metres);
- ``visible``: all of
  1. **in view**: in front of the camera, between clip_start and clip_end (planar z), on a pixel
     of the image (``-0.5 <= u < W - 0.5``, the same for v);
  2. **facing**: its surface turns towards the camera (normal . point < 0 in camera axes: the
     side the query frame saw; a thin sheet seen from its other side counts as turned away);
  3. **not hidden**: the frame's depth at its position (the depth at the nearest pixel centre,
     ``(floor(u + 0.5), floor(v + 0.5))``, carried to (u, v) along the local slope of the object
     seen there: :func:`simgen.labels.flow.seen_depth`) is not nearer than the point's own z by
     more than :data:`HIDDEN_TOLERANCE` ``* z``: the rule by which a flow vector is valid.

Decided against the frame's own depth and instance maps (not by a second ray cast), so within a
pixel of an occlusion edge the nearest pixel centre may fall on the other side of the edge; a
point at its own object's silhouette with the background behind it stays visible.

A sequence's tracks are made here, whole (:func:`track_sequence`): how many query points each
step draws (:func:`query_counts`), drawn (:func:`sample_queries`), followed (:func:`locate`,
:func:`visible`) and kept (output.track_min_visible), as the arrays of its tracks file. The frames
come through :class:`StepFrame` and the draws from the generator given: simgen.io.formats.tracks
reads the frames on disk, gives the sequence's own random stream and writes the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Protocol, Sequence

import numpy as np

from simgen.optics.camera import project_points
from simgen.optics.lens import Lens, cached_pixel_rays
from simgen.labels.amodal import ray_hits
from simgen.labels.frame import meta_part_of
from simgen.labels.flow import DEFAULT_REL_TOL, seen_depth
from simgen.labels.kinds import LabelKind

HIDDEN_TOLERANCE = DEFAULT_REL_TOL
"""A track is hidden at a step where the depth the frame sees at its position is nearer than its
own depth z by more than this fraction of z: the rule (and tolerance) of a flow vector's validity,
so that a track visible at the next step is exactly a valid forward flow vector of its query pixel."""

TRACKS = LabelKind("tracks", "point tracks of each sequence (DIR/tracks/SSSSSS.npz, built at the end of a run "
                   "from the frames on disk): query points on the surfaces it sees and their position and "
                   "visibility at every step (output.track_*)", "float32", -1, sequence=True)
"""The label kind ``output.labels=[tracks]`` names (a kind made per sequence: no per-frame files)."""


@dataclass(frozen=True)
class TrackParams:
    """How a run's tracks are drawn (output.track_* and the run's seed)."""

    points: int = 256
    query_step: Optional[int] = None
    background: float = 0.2
    min_visible: float = 0.0
    seed: int = 0


OVERSAMPLE = 4
"""With a minimum visible fraction, candidates drawn per point asked for: tracks visible too
rarely are dropped and the first ``points`` of the others kept."""


@dataclass(frozen=True)
class View:
    """What one step's frame says that tracks need: its camera and its objects' poses (a frame's
    meta: K, world_to_camera, the lens, clip_start/clip_end, each object's mesh_to_world)."""

    K: np.ndarray
    world_to_camera: np.ndarray
    width: int
    height: int
    mesh_to_world: Mapping[int, np.ndarray]
    """part id -> the part's (4, 4) mesh_to_world at this step: each object's by its instance id,
    each link of an articulated object's by its part id (the ``parts`` label's)."""
    lens: Optional[Lens] = None
    clip_start: float = 0.0
    clip_end: float = np.inf
    shapes: Mapping[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    """part id -> ((V, 3) vertices in its own coordinates, (F, 3) triangles) at this step, for each
    part that bends (the meta's ``deforms``: its mesh is the step's own ``models/`` file)."""

    @classmethod
    def from_meta(cls, meta: Mapping, lens: Optional[Lens] = None,
                  shapes: Optional[Mapping[int, tuple[np.ndarray, np.ndarray]]] = None) -> "View":
        """The view of a frame's meta (simgen's meta/NNNNNN.json, read as JSON), with the shapes of
        its parts that bend (:attr:`shapes`: the caller reads their mesh files, :func:`bending_ids`)."""
        return cls(K=np.asarray(meta["K"], float), world_to_camera=np.asarray(meta["world_to_camera"], float),
                   width=int(meta["width"]), height=int(meta["height"]),
                   mesh_to_world={int(b.get("id", b.get("instance_id"))): np.asarray(b["mesh_to_world"], float)
                                  for o in meta["objects"] for b in (o, *o.get("parts", ()))},
                   lens=lens, clip_start=float(meta.get("clip_start", 0.0)),
                   clip_end=float(meta.get("clip_end", np.inf)), shapes=dict(shapes or {}))


def bending_ids(meta: Mapping) -> dict[int, str]:
    """The objects of a frame's meta that bend (``deforms``), by instance id: their mesh file
    (relative to the dataset), the step's own shape."""
    return {int(o["instance_id"]): o["mesh"] for o in meta["objects"] if o.get("deforms")}


@dataclass
class Queries:
    """Query points: where each track starts."""

    step: np.ndarray
    """(N,) int: the query step."""
    uv: np.ndarray
    """(N, 2) float: the query pixel centre (u, v)."""
    instance: np.ndarray
    """(N,) int: the id of the rigid body the point lies on: its object's instance id, or the part id
    of an articulated object's link (:attr:`View.mesh_to_world`'s keys)."""
    points: np.ndarray
    """(N, 3) float: the point in its object's own coordinates (the mesh's, unscaled)."""
    normals: np.ndarray
    """(N, 3) float: the surface normal there, in the object's own coordinates (the side the query
    frame saw)."""
    triangle: np.ndarray = None
    """(N,) int: on a part that bends (:attr:`View.shapes`), the triangle the point lies on; -1 on a
    rigid one. The point rides its triangle: at every step it is :attr:`barycentric`'s mix of the
    triangle's vertices there, and its normal the triangle's, on the side the query frame saw."""
    barycentric: np.ndarray = None
    """(N, 3) float: its barycentric coordinates on :attr:`triangle` (NaN on a rigid part)."""
    side: np.ndarray = None
    """(N,) float: on a part that bends, 1 where the query frame saw its triangle's front (the
    right-hand rule's normal), -1 its back; 1 on a rigid part."""

    def __post_init__(self) -> None:
        n = len(self.step)
        if self.triangle is None:
            self.triangle = np.full(n, -1, np.int64)
        if self.barycentric is None:
            self.barycentric = np.full((n, 3), np.nan)
        if self.side is None:
            self.side = np.ones(n)

    FIELDS = ("step", "uv", "instance", "points", "normals", "triangle", "barycentric", "side")

    def __len__(self) -> int:
        return len(self.step)

    @staticmethod
    def concat(parts: list["Queries"]) -> "Queries":
        if not parts:
            return Queries(np.zeros(0, int), np.zeros((0, 2)), np.zeros(0, int), np.zeros((0, 3)), np.zeros((0, 3)))
        return Queries(*(np.concatenate([getattr(p, f) for p in parts]) for f in Queries.FIELDS))

    def take(self, keep: np.ndarray) -> "Queries":
        return Queries(*(getattr(self, f)[keep] for f in Queries.FIELDS))


def spread(counts: Mapping[int, int], n: int) -> dict[int, int]:
    """``n`` points spread over groups of ``counts`` candidates each (id -> count): as evenly as
    the groups allow, smallest group first, each taking at most its own count (Kubric's way of
    sharing a clip's points among its objects). Fewer than ``n`` when the groups hold fewer."""
    out, left = {}, n
    order = sorted(counts, key=lambda k: (counts[k], k))
    for i, k in enumerate(order):
        share = -(-left // (len(order) - i))  # ceil: the larger groups after it take the rest
        out[k] = min(counts[k], share)
        left -= out[k]
    return out


def lift(view: View, u: np.ndarray, v: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """(N, 3) camera coordinates of the surface seen at pixel centres (u, v) (integers) at planar
    ``depth``: along the lens's ray when the camera has one, else ``z * inv(K) @ [u, v, 1]``."""
    if view.lens is not None:
        rays = cached_pixel_rays(view.lens)[v, u]
        rays = rays / rays[:, 2:3]
    else:
        K = view.K
        y = (v - K[1, 2]) / K[1, 1]
        x = (u - K[0, 2] - K[0, 1] * y) / K[0, 0]
        rays = np.stack([x, y, np.ones_like(x)], 1)
    return rays * np.asarray(depth, float)[:, None]


def sample_queries(rng: np.random.Generator, step: int, view: View, depth: np.ndarray, instance: np.ndarray,
                   normal: np.ndarray, objects: int, background: int, background_ids: set[int]) -> Queries:
    """Query points at ``step``: ``objects`` pixel centres on the objects the frame sees (spread
    over them by :func:`spread`, uniform within each, no pixel twice) and ``background`` on the
    surfaces of ``background_ids`` (category 0: ground, room, distractors), each lifted to its
    object's own coordinates; where the frame shows too few pixels of one kind, the other kind takes
    the rest. Only pixels that hit a surface with a finite, positive depth and a normal count;
    fewer points when the frame shows fewer such pixels."""
    hit = (instance != 0) & np.isfinite(depth) & (depth > 0) & np.any(normal != 0, axis=-1)
    ids = instance[hit].astype(np.int64)
    flat = np.flatnonzero(hit)
    is_bg = np.isin(ids, sorted(background_ids))
    on_objects = min(objects, int((~is_bg).sum()))  # what one kind of surface cannot take, the other does
    on_background = min(objects + background - on_objects, int(is_bg.sum()))
    on_objects = min(objects + background - on_background, int((~is_bg).sum()))
    chosen: list[np.ndarray] = []
    for want, mask in ((on_objects, ~is_bg), (on_background, is_bg)):
        if want <= 0:
            continue
        groups = {int(k): int(c) for k, c in zip(*np.unique(ids[mask], return_counts=True))}
        for iid, n in spread(groups, want).items():
            pixels = flat[mask][ids[mask] == iid]
            chosen.append(rng.choice(pixels, size=n, replace=False))
    pick = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)
    v, u = np.divmod(pick, instance.shape[1])
    iid = instance.reshape(-1)[pick].astype(np.int64)
    cam = lift(view, u, v, depth.reshape(-1)[pick])
    n_cam = normal.reshape(-1, 3)[pick].astype(float)
    c2w = np.linalg.inv(view.world_to_camera)
    world = cam @ c2w[:3, :3].T + c2w[:3, 3]
    n_world = n_cam @ c2w[:3, :3].T
    points, normals = np.empty((len(pick), 3)), np.empty((len(pick), 3))
    triangle, barycentric = np.full(len(pick), -1, np.int64), np.full((len(pick), 3), np.nan)
    side = np.ones(len(pick))
    for k in np.unique(iid):
        sel = iid == k
        m = view.mesh_to_world[int(k)]
        inv = np.linalg.inv(m)
        points[sel] = world[sel] @ inv[:3, :3].T + inv[:3, 3]
        normals[sel] = n_world[sel] @ m[:3, :3]  # n_obj ~ A^T n_world: the inverse transpose's inverse
        if int(k) in view.shapes:  # it bends: the point is where its pixel's ray meets its triangles
            vertices, faces = view.shapes[int(k)]
            to_cam = view.world_to_camera @ m
            tri, bary, _ = ray_hits(vertices @ to_cam[:3, :3].T + to_cam[:3, 3], faces, cam[sel], 1e-9)
            triangle[sel], barycentric[sel] = tri, bary
            met = np.flatnonzero(sel)[tri >= 0]
            points[met] = np.einsum("nk,nkj->nj", barycentric[met], vertices[faces[triangle[met]]])
            face = _face_normals(vertices, faces[triangle[met]])
            side[met] = np.where(np.einsum("ij,ij->i", face, normals[met]) < 0, -1.0, 1.0)  # the side it saw
            normals[met] = face * side[met, None]
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    keep = np.array([int(i) not in view.shapes for i in iid], bool) | (triangle >= 0)  # a silhouette's edge: none
    return Queries(np.full(len(pick), step, np.int64), np.stack([u, v], 1).astype(float), iid, points, normals,
                   triangle, barycentric, side).take(keep)


def _face_normals(vertices: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """(N, 3) unit normals of the triangles ``corners`` (N, 3) (vertex indices; the right-hand
    rule: (b - a) x (c - a))."""
    a, b, c = (vertices[corners[:, k]] for k in range(3))
    n = np.cross(b - a, c - a)
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def locate(queries: Queries, view: View) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the query points are at ``view``'s step: ``(uv (N, 2), camera (N, 3), facing (N,))``:
    pixel coordinates (NaN where the lens cannot project; a point not in front of a pinhole
    camera), camera coordinates, and whether its surface turns towards the camera. A point whose
    object the frame does not list gets NaN everywhere."""
    n = len(queries)
    camera = np.full((n, 3), np.nan)
    normal = np.full((n, 3), np.nan)
    w2c = view.world_to_camera
    for k in np.unique(queries.instance):
        m = view.mesh_to_world.get(int(k))
        if m is None:
            continue
        sel = queries.instance == k
        points, normals = queries.points[sel], queries.normals[sel]
        if int(k) in view.shapes:  # it bends: each point rides its triangle (the side kept)
            vertices, faces = view.shapes[int(k)]
            corners = faces[queries.triangle[sel]]
            points = np.einsum("nk,nkj->nj", queries.barycentric[sel], vertices[corners])
            normals = _face_normals(vertices, corners) * queries.side[sel, None]
        to_cam = w2c @ m
        camera[sel] = points @ to_cam[:3, :3].T + to_cam[:3, 3]
        normal[sel] = normals @ np.linalg.inv(m[:3, :3]) @ w2c[:3, :3].T
    with np.errstate(invalid="ignore"):
        uv = view.lens.project(camera) if view.lens is not None else project_points(view.K, camera)
        facing = np.einsum("ij,ij->i", normal, camera) < 0
    return uv, camera, facing


def visible(uv: np.ndarray, camera: np.ndarray, facing: np.ndarray, view: View, depth: np.ndarray,
            instance: np.ndarray) -> np.ndarray:
    """(N,) bool: the tracks visible at ``view``'s step (the module's rules: in view, facing, and
    nothing in front of them in the frame's depth, as a flow vector's validity is decided)."""
    h, w = depth.shape
    z = camera[:, 2]
    with np.errstate(invalid="ignore"):
        ok = (np.isfinite(uv).all(axis=1) & (z > 0) & (z >= view.clip_start) & (z <= view.clip_end)
              & (uv[:, 0] >= -0.5) & (uv[:, 0] < w - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < h - 0.5) & facing)
    seen_z = seen_depth(depth, instance, np.where(ok, uv[:, 0], 0.0), np.where(ok, uv[:, 1], 0.0))
    with np.errstate(invalid="ignore"):
        return ok & (seen_z >= z * (1.0 - HIDDEN_TOLERANCE))


class StepFrame(Protocol):
    """One step's frame as :func:`track_sequence` reads it: its meta (simgen's meta/NNNNNN.json),
    its :class:`View` and its maps, each read when asked for (simgen.io.formats.tracks reads them
    from the dataset on disk, one frame's maps in memory at a time)."""

    @property
    def meta(self) -> Mapping: ...

    def view(self) -> View: ...

    def depth(self) -> np.ndarray:
        """(H, W) planar depth."""
        ...

    def bodies(self) -> np.ndarray:
        """(H, W) the id of the rigid body at each pixel (:attr:`Queries.instance`'s ids)."""
        ...

    def normal(self) -> np.ndarray:
        """(H, W, 3) normals in camera axes."""
        ...


def background_ids(meta: Mapping) -> set[int]:
    """The ids of a frame's background surfaces (category 0: ground, room, distractors), an
    articulated one's links' part ids included: where output.track_background's points lie."""
    background = {int(o["instance_id"]) for o in meta["objects"] if int(o.get("category_id", 0)) == 0}
    return background | {p for p, i in meta_part_of(meta).items() if i in background}


def query_counts(rng: np.random.Generator, params: TrackParams, steps: int) -> dict[int, tuple[int, int]]:
    """{query step: (points on objects, points on the background)} of one sequence: every point
    at output.track_query_step, or each at a step drawn uniformly; each on the background with
    probability output.track_background. With a minimum visible fraction, OVERSAMPLE candidates
    per point asked for."""
    n = params.points * (OVERSAMPLE if params.min_visible > 0 else 1)
    if params.query_step is not None:
        per_step = {params.query_step: n}
    else:
        per_step = {t: int(c) for t, c in enumerate(rng.multinomial(n, np.full(steps, 1.0 / steps))) if c}
    out = {}
    for t, c in per_step.items():
        bg = int(rng.binomial(c, params.background))
        out[t] = (c - bg, bg)
    return out


def track_sequence(rng: np.random.Generator, steps: Sequence[StepFrame], params: TrackParams
                   ) -> dict[str, np.ndarray]:
    """The arrays of one complete sequence's tracks file (DIR/tracks/SSSSSS.npz: the table of
    simgen.io.formats.tracks) from its steps' frames in order, drawn with ``rng``: its query steps'
    frames read once to draw the points, then every step's frame once to follow them."""
    parts = []
    for t, (on_objects, on_background) in sorted(query_counts(rng, params, len(steps)).items()):
        f = steps[t]
        parts.append(sample_queries(rng, t, f.view(), f.depth(), f.bodies(), f.normal(), on_objects,
                                    on_background, background_ids(f.meta)))
    queries = Queries.concat(parts)
    n, length = len(queries), len(steps)
    uv = np.full((n, length, 2), np.nan, np.float32)
    camera = np.full((n, length, 3), np.nan, np.float32)
    seen = np.zeros((n, length), bool)
    for t, f in enumerate(steps):
        view = f.view()
        p, c, facing = locate(queries, view)
        uv[:, t], camera[:, t] = p, c
        seen[:, t] = visible(p, c, facing, view, f.depth(), f.bodies())
    if params.min_visible > 0:  # the first `points` of the candidates in a random order seen often enough
        order = rng.permutation(n)
        keep = np.sort(order[seen[order].mean(axis=1) >= params.min_visible][:params.points])
        queries, uv, camera, seen = queries.take(keep), uv[keep], camera[keep], seen[keep]
    owner = {p: i for f in steps for p, i in meta_part_of(f.meta).items()}
    categories = {int(o["instance_id"]): int(o.get("category_id", 0))
                  for f in steps for o in f.meta["objects"]}
    instance = np.array([owner.get(int(i), int(i)) for i in queries.instance], np.int32)
    raster = uv + 0.5  # MOVi's raster pixels, in place of a copy (no second (N, T, 2) array)
    np.nan_to_num(raster, copy=False, nan=0.0)
    return {
        "frames": np.array([int(f.meta["index"]) for f in steps], np.int64),
        "query_step": queries.step.astype(np.int32),
        "query_uv": queries.uv.astype(np.float32),
        "instance_id": instance,
        "part_id": queries.instance.astype(np.int32),
        "category_id": np.array([categories[int(i)] for i in instance], np.int32),
        "points_object": queries.points.astype(np.float32),
        "triangle": queries.triangle.astype(np.int32),
        "barycentric": queries.barycentric.astype(np.float32),
        "uv": uv,
        "points_camera": camera,
        "visible": seen,
        "query_points": np.stack([queries.step, queries.uv[:, 1] + 0.5, queries.uv[:, 0] + 0.5], 1).astype(np.float32),
        "target_points": raster,
        "occluded": ~seen,
    }
