"""Keypoints: named 3D points of each model, projected into the frame with a visibility.

Where the points come from (``output.keypoints``), in the model's own coordinates (the mesh
under ``models/``, in its own units; :func:`simgen.labels.geometry.model_pose` takes them to
the camera):

- ``box``: the 9 points of its 3D box (:data:`~simgen.labels.geometry.CUBOID_NAMES`: the 8
  corners in DOPE/NDDS order, then the centre), skeleton the box's 12 edges;
- ``farthest``: ``output.keypoint_count`` points of its surface spread by farthest-point
  sampling, named ``p0``, ``p1``, ...; no skeleton. :data:`SURFACE_SAMPLES` area-weighted
  samples of the surface are drawn with a fixed seed, then the sample farthest from their mean
  starts a greedy farthest-point sampling: the same points for the same mesh in every run;
- ``catalog``: the named points the catalog declares for the object's category
  (:mod:`simgen.assets.catalog`), skeleton as declared.

Each point is projected with simgen's pixel convention (the centre of pixel (u, v) at (u, v),
which is also COCO's: a COCO keypoint is a pixel index) and gets COCO's visibility flag:

- ``v = 0``, not in view: behind the camera or nearer than ``clip_start``, beyond
  ``clip_end``, or on no pixel (``u < -0.5`` or ``u >= W - 0.5``, the same for ``v``); then
  ``x = y = 0``;
- ``v = 1``, on a pixel but hidden: the frame's depth at the nearest pixel centre
  (``floor(u + 0.5)``, ``floor(v + 0.5)``) is nearer than the point's own depth ``z`` by more
  than :data:`HIDDEN_TOLERANCE` ``* z``;
- ``v = 2``, visible.

Pure numpy.
"""

from __future__ import annotations

import functools
from typing import Any, Iterable, Optional

import numpy as np

from simgen.errors import SimgenError
from simgen.assets.meshes import load_mesh
from simgen.assets.parametric import GENERATORS
from simgen.optics.camera import project_points
from simgen.optics.lens import Lens
from simgen.scene.meshes import ArticulatedMesh, MeshRef, PersonMesh
from simgen.labels.geometry import CUBOID_EDGES, CUBOID_NAMES, cuboid_points, model_bounds, model_pose, to_camera
from simgen.labels.kinds import FrameContext, LabelKind

HIDDEN_TOLERANCE = 0.01
"""A keypoint is hidden when the surface seen at its nearest pixel centre is nearer than it by
more than this fraction of its depth z. A point on a surface is not hidden by that surface
itself: the pixel centre lies up to 0.5 px (0.5 z / f metres) beside the point, where a
surface tilted by theta from facing the camera is nearer or farther by up to 0.5 z tan(theta)
/ f, i.e. 0.5 tan(theta) / f of z; 1 % covers tan(theta) < 0.02 f: up to 63 degrees at f = 100
px (128 px wide images), 84 degrees at f = 450 px (640 px). The price: something less than 1 %
of z in front of a point (1 cm at 1 m) does not hide it, so a point on the far side of a part
thinner than that (a thin handle or rim seen from its other side) counts as visible."""

SURFACE_SAMPLES = 4096
"""Area-weighted surface samples output.keypoints=farthest chooses its points from."""

SAMPLE_SEED = 0
"""Seed of those samples: the points of a mesh are the same in every run."""


def surface_samples(mesh: MeshRef, n: int = SURFACE_SAMPLES, seed: int = SAMPLE_SEED) -> np.ndarray:
    """(n, 3) points uniformly distributed over the mesh's surface (area-weighted faces,
    uniform barycentric coordinates), from ``numpy.random.default_rng(seed)``."""
    m = load_mesh(mesh)
    tri = np.asarray(m.vertices, float)[np.asarray(m.faces)]
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if not area.sum() > 0:
        raise SimgenError(f"mesh {mesh} has no surface area: output.keypoints=farthest cannot sample it; "
                          "use output.keypoints=box")
    rng = np.random.default_rng(seed)
    face = rng.choice(len(tri), size=n, p=area / area.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)  # uniform over the triangle: (1 - s, s (1 - r2), s r2)
    w = np.stack([1 - s, s * (1 - r2), s * r2], 1)
    return np.einsum("nk,nkd->nd", w, tri[face])


def farthest_points(points: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` of ``points`` (N, 3) chosen greedily, each the farthest from those
    chosen before; the first is the point farthest from their mean. Fewer than ``k`` points:
    all of them, in the same order rule."""
    points = np.asarray(points, float)
    first = int(np.argmax(np.linalg.norm(points - points.mean(0), axis=1)))
    chosen = [first]
    dist = np.linalg.norm(points - points[first], axis=1)
    for _ in range(min(k, len(points)) - 1):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(points - points[nxt], axis=1))
    return np.array(chosen, int)


@functools.lru_cache(maxsize=1024)
def _farthest(mesh: MeshRef, k: int) -> np.ndarray:
    samples = surface_samples(mesh)
    out = samples[farthest_points(samples, k)]
    out.flags.writeable = False
    return out


def farthest_keypoints(mesh: MeshRef, k: int) -> np.ndarray:
    """(k, 3): ``k`` farthest-point samples of the surface of ``mesh``, in its own
    coordinates; cached per mesh (read-only)."""
    return _farthest(mesh, int(k))


def keypoint_schema(source: str, count: int, category: Any = None) -> tuple[list[str], list[list[int]]]:
    """(names, skeleton) of the keypoints of ``source`` (output.keypoints): the skeleton as
    0-based pairs of indices into names; ``category`` (simgen.assets.catalog.Category) for
    ``catalog``."""
    if category is not None and _is_person(category):  # a person's are COCO's 17, whatever the source
        return _named(category)
    if source == "box":
        return list(CUBOID_NAMES), [list(e) for e in CUBOID_EDGES]
    if source == "farthest":
        return [f"p{i}" for i in range(count)], []
    if source == "catalog":
        return _named(category)
    raise ValueError(f"unknown keypoint source {source!r}")


def _named(category: Any) -> tuple[list[str], list[list[int]]]:
    names = list(category.keypoints) if category is not None else []
    return names, [[names.index(a), names.index(b)] for a, b in (category.skeleton if names else ())]


def _is_person(category: Any) -> bool:
    """Whether ``category`` labels people (:meth:`simgen.assets.catalog.Catalog.with_people`)."""
    from simgen.people.body import KEYPOINT_NAMES

    return tuple(category.keypoints) == KEYPOINT_NAMES


def coco_categories(categories: list[dict], source: str, count: int, catalog: Any) -> list[dict]:
    """The COCO ``categories`` (``catalog.to_json()``) with each category's ``keypoints``
    (names) and ``skeleton`` (1-based index pairs, COCO's convention) for keypoint source
    ``source`` (a category that declares none under ``catalog``: both empty)."""
    by_id = {c.id: c for c in catalog.categories}
    out = []
    for c in categories:
        names, skeleton = keypoint_schema(source, count, by_id.get(int(c["id"])))
        out.append({**c, "keypoints": names, "skeleton": [[a + 1, b + 1] for a, b in skeleton]})
    return out


def check_sources(source: str, catalog: Any, drawn: list[str], parametric: float) -> str:
    """A one-line reason and fix when keypoint source ``source`` cannot give keypoints to every
    object of the categories ``drawn`` (with ``parametric``, objects.parametric); empty when it
    can. Only ``catalog`` can fail: a drawn category that declares no keypoints, an asset of it
    without them (one from objects.dirs), or generated shapes, which have none."""
    if source != "catalog":
        return ""
    by_name = {c.name: c for c in catalog.categories}
    bare = [c for c in drawn if not by_name[c].keypoints]
    if bare:
        return (f"output.keypoints=catalog, but the catalog declares no keypoints for {bare}; declare them "
                f"(catalog file: keypoints: {{{bare[0]}: {{names: [...]}}}} and each asset's keypoints: "
                "{name: [x, y, z]}), leave those categories out (objects.weights) or use output.keypoints=box")
    lacking = [a.key for a in catalog.assets if a.category in drawn and not a.has_keypoints]
    if lacking:
        return (f"output.keypoints=catalog, but asset(s) {lacking[:3]} have no keypoints (meshes from objects.dirs "
                "have none); list them in the catalog file with their keypoints, or use output.keypoints=box")
    shaped = [c for c in drawn if c in GENERATORS]
    if parametric > 0 and shaped:
        return (f"output.keypoints=catalog gives generated shapes no keypoints (objects.parametric={parametric} "
                f"draws them for {shaped}); set objects.parametric=0 or use output.keypoints=box")
    return ""


def model_keypoints(source: str, count: int, mesh: MeshRef, asset: Any = None) -> np.ndarray:
    """(K, 3) keypoints of a model in its own coordinates (``asset``, the catalog's
    simgen.assets.catalog.Asset, for ``catalog``)."""
    if source == "box":
        return cuboid_points(*model_bounds(mesh))
    if source == "farthest":
        return farthest_keypoints(mesh, count)
    if source == "catalog" and isinstance(mesh, ArticulatedMesh):  # on its links, where its joints put them
        from simgen.assets.articulated import link_poses, load_articulated

        poses = link_poses(load_articulated(mesh.file, mesh.package_dirs), dict(mesh.joints or ()))
        return np.array([poses[link][:3, :3] @ at + poses[link][:3, 3] for link, at in mesh.keypoints]).reshape(-1, 3)
    if source == "catalog":
        return np.array(asset.keypoints, float).reshape(-1, 3)
    raise ValueError(f"unknown keypoint source {source!r}")


def project_keypoints(points_cam: np.ndarray, K: np.ndarray, depth: np.ndarray, clip_start: float = 0.0,
                      clip_end: float = np.inf, tolerance: float = HIDDEN_TOLERANCE,
                      lens: Optional[Lens] = None) -> np.ndarray:
    """(K, 3) ``[x, y, v]`` of camera points (K, 3) in a frame of planar ``depth`` (H, W)
    (inf = nothing hit): their pixel positions (through ``lens`` when the camera has one, else
    K) and COCO visibility (module docstring)."""
    p = np.asarray(points_cam, float).reshape(-1, 3)
    h, w = depth.shape
    uv = lens.project(p) if lens is not None else project_points(K, p)
    z = p[:, 2]
    with np.errstate(invalid="ignore"):
        on = (z > 0) & (z >= clip_start) & (z <= clip_end) & (uv[:, 0] >= -0.5) & (uv[:, 0] < w - 0.5) \
            & (uv[:, 1] >= -0.5) & (uv[:, 1] < h - 0.5)
    out = np.zeros((len(p), 3))
    col = np.floor(uv[on, 0] + 0.5).astype(int)
    row = np.floor(uv[on, 1] + 0.5).astype(int)
    hidden = depth[row, col] < z[on] * (1.0 - tolerance)
    out[on, :2] = uv[on]
    out[on, 2] = np.where(hidden, 1, 2)
    return out


PERSON_REACH = (2.0, 0.05)
"""A person's keypoint lies inside the body (a shoulder about 35 mm under the skin, a hip 73 mm) or
just outside it (an ear, 1 mm): it counts as seen where the first surface of the person its ray
meets lies within ``a * d + b`` metres of it, ``d`` its distance to the nearest vertex of the body
and ``(a, b)`` this pair: a hip seen from the front or from behind (about 10 cm), a wrist behind
the back of its own hand (6 cm), yes; the back of the head in front of the nose (about 20 cm), a
shin pointing at the camera in front of its knee, no."""


def _person_keypoint_parts() -> dict[str, tuple[str, ...]]:
    """Each COCO person keypoint's parts (:data:`simgen.people.body.PARTS`): the ones it joins."""
    out: dict[str, tuple[str, ...]] = {"nose": ("head",)}
    for side in ("left", "right"):
        out.update({f"{side}_eye": ("head",), f"{side}_ear": ("head",),
                    f"{side}_shoulder": ("torso", f"upper_arm_{side}"),
                    f"{side}_elbow": (f"upper_arm_{side}", f"lower_arm_{side}"),
                    f"{side}_wrist": (f"lower_arm_{side}", f"hand_{side}"),
                    f"{side}_hip": ("torso", f"upper_leg_{side}"),
                    f"{side}_knee": (f"upper_leg_{side}", f"lower_leg_{side}"),
                    f"{side}_ankle": (f"lower_leg_{side}", f"foot_{side}")})
    return out


PERSON_KEYPOINT_PARTS: dict[str, tuple[str, ...]] = _person_keypoint_parts()
"""The body parts each COCO person keypoint joins: its ray must first meet the person on one of them."""


def person_keypoints(points_cam: np.ndarray, vertices_cam: np.ndarray, faces: np.ndarray, face_part: np.ndarray,
                     K: np.ndarray, width: int, height: int, others: Iterable[tuple[np.ndarray, np.ndarray]] = (),
                     clip_start: float = 0.0, clip_end: float = np.inf, lens: Optional[Lens] = None) -> np.ndarray:
    """(17, 3) ``[x, y, v]`` of a person's COCO keypoints (``points_cam``, camera coordinates, in
    :data:`simgen.people.body.KEYPOINT_NAMES`' order) on the posed body (``vertices_cam``, ``faces``,
    ``face_part`` indexing :data:`simgen.people.body.PARTS`) in a ``width`` x ``height`` frame:
    positions and ``v = 0`` as :func:`project_keypoints`; in view, ``v = 2`` (seen) where the ray
    from the camera's centre through the point first meets the person on a part the keypoint joins
    (:data:`PERSON_KEYPOINT_PARTS`) within :data:`PERSON_REACH` of it, or meets the person nowhere
    (a point just outside the skin, at the silhouette), and meets no other surface of the frame
    (``others``: each a mesh's (vertices in camera coordinates, faces)) before that; else ``v = 1``
    (an arm in front of the hip, the back of the head in front of the nose, another object in
    front). Exact along the point's own ray, not at a pixel's."""
    from simgen.labels.amodal import ray_hits
    from simgen.people.body import KEYPOINT_NAMES, PARTS

    p = np.asarray(points_cam, float).reshape(-1, 3)
    out = project_keypoints(p, K, np.full((height, width), np.inf), clip_start, clip_end, lens=lens)
    on = out[:, 2] > 0
    if not on.any():
        return out
    v = np.asarray(vertices_cam, float)
    tri, _, t = ray_hits(v, faces, p, clip_start)  # each ray is the point's own: t = 1 at the point
    hit = tri >= 0
    t = np.where(hit, t, 1.0)  # where the person's first surface is, or the point itself
    reach = PERSON_REACH[0] * np.sqrt(((v[None] - p[:, None]) ** 2).sum(-1).min(1)) + PERSON_REACH[1]
    joins = np.array([np.isin(face_part[tri[k]], [PARTS.index(q) for q in PERSON_KEYPOINT_PARTS[name]])
                      if hit[k] else True for k, name in enumerate(KEYPOINT_NAMES)])
    own = ~hit | (joins & (np.abs(t - 1.0) * np.linalg.norm(p, axis=1) <= reach))
    for vertices, tris in others:
        _, _, t_other = ray_hits(np.asarray(vertices, float), tris, p[on], clip_start)
        own[on] &= ~(t_other < t[on])  # NaN (no hit) is never nearer
    out[on, 2] = np.where(own[on], 2, 1)
    return out


def frame_keypoints(labels, ctx: FrameContext) -> dict[int, np.ndarray]:
    """``{instance id: (K, 3) [x, y, v]}`` of every annotated object of the frame (category
    != 0), with the keypoints ``ctx.settings.output.keypoints`` gives its model; a person of a
    people category (:meth:`~simgen.assets.catalog.Catalog.with_people`), COCO's 17
    (:func:`person_keypoints`)."""
    out = ctx.settings.output
    source, count = out.keypoints, out.keypoint_count
    cam = ctx.scene.camera
    assets = {a.key: a for a in ctx.catalog.assets} if source == "catalog" else {}
    people = {c.id for c in (ctx.catalog.categories if ctx.catalog is not None else ()) if _is_person(c)}
    result = {}
    for o in ctx.scene.objects:
        if o.category_id == 0:
            continue
        if isinstance(o.mesh, PersonMesh) and o.category_id in people:  # COCO's 17, by the person's own rule
            result[o.instance_id] = _person_frame_keypoints(o, ctx.scene)
            continue
        asset: Optional[Any] = assets.get(o.asset_id)
        on_links = isinstance(o.mesh, ArticulatedMesh) and bool(o.mesh.keypoints)
        if source == "catalog" and not on_links and (asset is None or not asset.keypoints):
            raise SimgenError(f"object {o.name} (asset {o.asset_id or 'none'}) has no catalog keypoints; give its "
                              "asset keypoints in the catalog file or use output.keypoints=box")
        points = to_camera(model_pose(cam.world_to_camera, o.mesh_to_world), model_keypoints(source, count, o.mesh,
                                                                                             asset))
        result[o.instance_id] = project_keypoints(points, cam.K, labels.depth, cam.clip_start, cam.clip_end,
                                                  lens=cam.lens)
    return result


def _person_frame_keypoints(o, scene) -> np.ndarray:
    """:func:`person_keypoints` of the person ``o`` (a scene object whose mesh is a PersonMesh) of
    ``scene``, whose every other object may hide its points."""
    from simgen.assets.parts import parts_of
    from simgen.people.body import body

    cam = scene.camera

    def in_camera(points: np.ndarray, mesh_to_world: np.ndarray) -> np.ndarray:
        return to_camera(model_pose(cam.world_to_camera, mesh_to_world), points)

    b = body(o.mesh.params, o.mesh.library)  # its own garments (people.garments) hide none of its points, as
    others = []                                # COCO marks a clothed shoulder seen; another person's do (others)
    for other in parts_of(scene).drawn:  # an articulated object's links where its joints put them
        if other.instance_id != o.instance_id:
            mesh = load_mesh(other.mesh)
            others.append((in_camera(np.asarray(mesh.vertices, float), other.mesh_to_world), np.asarray(mesh.faces)))
    return person_keypoints(in_camera(b.keypoints, o.mesh_to_world), in_camera(b.vertices, o.mesh_to_world), b.faces,
                            b.face_part, cam.K, cam.width, cam.height, others, cam.clip_start, cam.clip_end,
                            lens=cam.lens)


def add_keypoints(value: dict[int, np.ndarray], annotations: list[dict]) -> None:
    """COCO's ``keypoints`` ([x1, y1, v1, ...]) and ``num_keypoints`` (count of v > 0) on each
    annotation of an object with keypoints."""
    for a in annotations:
        kp = value.get(a["simgen"]["instance_id"])
        if kp is None:
            continue
        a["keypoints"] = [float(x) if k % 3 < 2 else int(x) for k, x in enumerate(kp.ravel())]
        a["num_keypoints"] = int((kp[:, 2] > 0).sum())


KEYPOINTS = LabelKind(
    "keypoints", "per COCO annotation: keypoints [x, y, v, ...] and num_keypoints of the model's 3D keypoints "
    "(output.keypoints: box, farthest or catalog); categories get their names and skeleton",
    "float64", -1, compute=frame_keypoints, annotate=add_keypoints)
"""The ``keypoints`` label kind (docs/dataset.md, "Keypoints")."""
