"""Ground truth computed without Blender and without simgen's label code.

A ray caster (float64 Moller-Trumbore in numpy, on meshes loaded with trimesh) shoots one
ray through every pixel centre (OpenCV convention: pixel (u, v) centred at integer
coordinates) of a frame described only by its exported meta/NNNNNN.json and models/, and
reports what each ray hits first.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import trimesh


def pixel_centre_rays(K: np.ndarray, world_to_camera: np.ndarray, width: int, height: int):
    """World-space origin and unit-z camera directions (H*W, 3) through pixel centres."""
    u, v = np.meshgrid(np.arange(width, dtype=float), np.arange(height, dtype=float))
    cam_dirs = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)
    R, t = world_to_camera[:3, :3], world_to_camera[:3, 3]
    origin = -R.T @ t
    world_dirs = cam_dirs.reshape(-1, 3) @ R  # = (R.T @ d) for each row
    return origin, world_dirs, cam_dirs.reshape(-1, 3)


@functools.lru_cache(maxsize=256)
def _model(path: str, mtime_ns: int, size: int) -> trimesh.Trimesh:
    """The model file ``path`` as trimesh reads it, read once per version of the file (``mtime_ns``,
    ``size``): the frames of a dataset and the rays cast into one frame again share their models'
    files. Callers copy it (they move their copy)."""
    return trimesh.load(path, force="mesh")


def load_world_meshes(root: Path, meta: dict) -> list[tuple[int, trimesh.Trimesh]]:
    """Every object of a frame in world coordinates, with its instance id."""
    out = []
    for o in meta["objects"]:
        st = (Path(root) / o["mesh"]).stat()
        m = _model(str(Path(root) / o["mesh"]), st.st_mtime_ns, st.st_size).copy()
        m.apply_transform(np.array(o["mesh_to_world"]))
        out.append((o["instance_id"], m))
    return out


def intersect(origin: np.ndarray, dirs: np.ndarray, triangles: np.ndarray, chunk: int = 256):
    """Nearest hit of rays ``origin + t * dirs`` (N, 3) with triangles (T, 3, 3).

    Moller-Trumbore written with the shared origin folded into per-triangle vectors, so
    each step is a (N, 3) @ (3, chunk) product. Returns t (N,) (inf = miss) and the
    triangle index (N,) (-1 = miss). Edges count as inside (closed triangles).
    """
    n = len(dirs)
    best_t = np.full(n, np.inf)
    best_i = np.full(n, -1)
    for s in range(0, len(triangles), chunk):
        v0, v1, v2 = (triangles[s:s + chunk, k] for k in range(3))
        e1, e2, tv = v1 - v0, v2 - v0, origin - v0
        q = np.cross(tv, e1)
        det = dirs @ np.cross(e1, e2).T * -1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / det
            u = (dirs @ np.cross(e2, tv).T) * inv
            v = (dirs @ q.T) * inv
            t = np.einsum("ij,ij->i", e2, q)[None, :] * inv
        ok = (np.abs(det) > 1e-300) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        t = np.where(ok, t, np.inf)
        j = np.argmin(t, axis=1)
        tj = t[np.arange(n), j]
        better = tj < best_t
        best_t[better], best_i[better] = tj[better], s + j[better]
    return best_t, best_i


def _meta(root: Path, index: int) -> dict:
    return json.loads((Path(root) / "meta" / f"{index:06d}.json").read_text())


def cast_rays(root: str | Path, meta: dict, u: np.ndarray, v: np.ndarray) -> dict[str, np.ndarray]:
    """First hit of the rays through image points (u, v) (any real coordinates) of a frame.

    Returns per ray ``instance`` (0 = no hit), planar ``depth`` (inf = no hit), ``distance``
    (the hit point's Euclidean distance from the camera centre, in the world; inf = no hit) and
    the hit face's ``normal`` in the OpenCV camera frame, flipped to face the camera.
    """
    root = Path(root)
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    u, v = np.asarray(u, float).ravel(), np.asarray(v, float).ravel()
    cam_dirs = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)
    R, t = w2c[:3, :3], w2c[:3, 3]
    origin, dirs = -R.T @ t, cam_dirs @ R  # cam_dirs have z = 1: the ray parameter is planar depth
    n = len(u)
    depth, instance, normal = np.full(n, np.inf), np.zeros(n, np.int64), np.zeros((n, 3))
    for iid, mesh in load_world_meshes(root, meta):
        # only rays inside the object's projected bounding box can hit it
        cam = mesh.vertices @ R.T + t
        rays = np.arange(n)
        if np.all(cam[:, 2] > 0):
            uv = cam[:, :2] / cam[:, 2:] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
            (u0, v0), (u1, v1) = uv.min(axis=0) - 1, uv.max(axis=0) + 1
            rays = rays[(u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)]
        if not len(rays):
            continue
        hit_t, tri = intersect(origin, dirs[rays], mesh.triangles)
        closer = hit_t < depth[rays]
        hit = rays[closer]
        depth[hit] = hit_t[closer]
        instance[hit] = iid
        normal[hit] = mesh.face_normals[tri[closer]] @ R.T
    flip = np.einsum("ij,ij->i", normal, cam_dirs) > 0
    normal[flip] *= -1
    distance = np.full(n, np.inf)
    hit = np.isfinite(depth)
    points = origin + dirs[hit] * depth[hit, None]  # the hit points, world
    distance[hit] = np.linalg.norm(points - origin, axis=-1)
    return {"instance": instance, "depth": depth, "distance": distance, "normal": normal}


def raycast_frame(root: str | Path, index: int) -> dict[str, np.ndarray]:
    """Ray-cast frame ``index`` of the dataset at ``root`` through every pixel centre.

    Returns ``instance`` (H, W) int64 (0 = no hit), ``depth`` (H, W) planar z and
    ``distance`` (H, W) from the camera centre (inf = no hit) and ``normal`` (H, W, 3)
    geometric face normals in the OpenCV camera frame, flipped to face the camera.
    """
    meta = _meta(root, index)
    W, H = meta["width"], meta["height"]
    u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    hits = cast_rays(root, meta, u, v)
    return {k: a.reshape(H, W, *a.shape[1:]) for k, a in hits.items()}


def reference_flow(root: str | Path, index: int, other: int, rel_tol: float = 1e-3):
    """Flow of frame ``index`` towards frame ``other`` from the exported meta alone.

    Each pixel centre's surface point is found by the ray caster, moved with its object's
    exported poses (mesh_to_world in both metas) and projected with the other frame's
    camera. It is visible there when a ray cast through its exact projected position
    hits the same object at its depth. Returns flow (H, W, 2), visible (H, W) bool and
    the ray-cast instance map of frame ``index``.
    """
    return reference_correspondence(root, _meta(root, index), _meta(root, other))


def reference_correspondence(root: str | Path, meta: dict, meta_o: dict, rel_tol: float = 1e-3):
    """:func:`reference_flow` between the frames of two metas (e.g. a stereo pair's left meta and
    the same meta with the right camera's world_to_camera)."""
    W, H = meta["width"], meta["height"]
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    K_o, w2c_o = np.array(meta_o["K"]), np.array(meta_o["world_to_camera"])
    u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    gt = {k: a.reshape(H, W, *a.shape[1:]) for k, a in cast_rays(root, meta, u, v).items()}
    u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    z = np.where(gt["instance"] > 0, gt["depth"], 1.0)
    cam = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], axis=-1)
    world = (cam - w2c[:3, 3]) @ w2c[:3, :3]  # inverse of the rigid world_to_camera
    poses_o = {o["instance_id"]: np.array(o["mesh_to_world"]) for o in meta_o["objects"]}
    moved = world.copy()
    for o in meta["objects"]:
        sel = gt["instance"] == o["instance_id"]
        D = poses_o[o["instance_id"]] @ np.linalg.inv(np.array(o["mesh_to_world"]))
        moved[sel] = world[sel] @ D[:3, :3].T + D[:3, 3]
    cam_o = moved @ w2c_o[:3, :3].T + w2c_o[:3, 3]
    uo = cam_o[..., 0] / cam_o[..., 2] * K_o[0, 0] + K_o[0, 2]
    vo = cam_o[..., 1] / cam_o[..., 2] * K_o[1, 1] + K_o[1, 2]
    flow = np.stack([uo - u, vo - v], axis=-1)
    inside = (gt["instance"] > 0) & (cam_o[..., 2] > 0) & (uo >= -0.5) & (uo < W - 0.5) & (vo >= -0.5) & (vo < H - 0.5)
    seen = cast_rays(root, meta_o, np.where(inside, uo, 0.0), np.where(inside, vo, 0.0))
    visible = inside & (seen["instance"].reshape(H, W) == gt["instance"]) & \
        (np.abs(seen["depth"].reshape(H, W) - cam_o[..., 2]) <= rel_tol * cam_o[..., 2])
    return flow, visible, gt["instance"]


def uniform_neighbourhood(ids: np.ndarray, radius: int = 1) -> np.ndarray:
    """True where the pixel's (2r+1)^2 neighbourhood (clipped at the border) holds one id."""
    p = np.pad(ids, radius, mode="edge")
    H, W = ids.shape
    same = np.ones_like(ids, dtype=bool)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            same &= p[dy:dy + H, dx:dx + W] == ids
    return same


def incidence_cos(K: np.ndarray, normal_cam: np.ndarray) -> np.ndarray:
    """|cos| of the angle between each pixel-centre ray and the camera-frame normal."""
    H, W = normal_cam.shape[:2]
    u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    return np.abs((rays * normal_cam).sum(axis=-1))


# ------------------------------------------------------------------ physics placement


def box_distance(points: np.ndarray, box_to_world: np.ndarray) -> np.ndarray:
    """Signed distance (m) of world ``points`` (N, 3) to the solid unit cube centred at the
    origin, placed by ``box_to_world`` (axis scales only, no shear): < 0 inside."""
    half = np.linalg.norm(box_to_world[:3, :3], axis=0) / 2.0
    local = (points - box_to_world[:3, 3]) @ (box_to_world[:3, :3] / (2.0 * half))  # rotate into the box
    q = np.abs(local) - half
    outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
    return outside + np.minimum(q.max(axis=1), 0.0)


def resting_contacts(bodies: dict[str, trimesh.Trimesh], boxes: dict[str, np.ndarray],
                     samples: int = 3000, touch: float = 1e-3) -> dict[str, dict[str, float]]:
    """How every body (a watertight world mesh) lies among the others, the boxes and the
    ground plane z = 0, from its vertices and ``samples`` points on its surface:

    * ``penetration``: how deep (m) the body reaches into another body, a box or the ground;
    * ``lowest_gap``: distance from its lowest point to the nearest surface;
    * ``support_gap``: distance from the nearest of its points below its centre of mass to a
      surface: <= ``touch`` means it is held from below (a ball wedged between two cans
      rests on their sides, its lowest point in the air).

    Surfaces are the ground plane, the boxes and the other bodies' convex hulls (bodies
    collide as their hulls)."""
    rng = np.random.default_rng(0)
    out = {}
    for name, m in bodies.items():
        pts = np.vstack([m.vertices, trimesh.sample.sample_surface(m, samples, seed=int(rng.integers(1 << 31)))[0]])
        low = pts[:, 2] < m.center_mass[2]
        gap = np.abs(pts[:, 2])  # to the ground plane
        depth = [max(0.0, -float(pts[:, 2].min()))]
        for b in boxes.values():
            d = box_distance(pts, b)
            depth.append(max(0.0, -float(d.min())))
            gap = np.minimum(gap, np.abs(d))
        for other, o in bodies.items():
            if other == name:
                continue
            lo, hi = o.bounds
            near = np.all((pts >= lo - touch) & (pts <= hi + touch), axis=1)
            if near.any():
                depth.append(max(0.0, float(trimesh.proximity.signed_distance(o, pts[near]).max())))
                gap[near] = np.minimum(gap[near], np.abs(trimesh.proximity.signed_distance(o.convex_hull, pts[near])))
        out[name] = {"penetration": max(depth), "lowest_gap": float(gap[np.argmin(pts[:, 2])]),
                     "support_gap": float(gap[low].min())}
    return out


def amodal_raycast(root: str | Path, index: int, cam_dirs: np.ndarray | None = None) -> dict[int, np.ndarray]:
    """{instance id: (H, W) bool} of every annotated object (category != 0) of frame ``index``:
    the pixel centres whose ray meets the object's own mesh (nearer than nothing else
    required: other objects are ignored), at a planar depth of at least clip_start.
    ``cam_dirs`` (H*W, 3): each pixel's ray in camera coordinates with z = 1 (a lens's, e.g.
    from cv2.undistortPoints); default the pinhole rays of the meta's K."""
    meta = _meta(root, index)
    W, H = meta["width"], meta["height"]
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    origin, dirs, _ = pixel_centre_rays(K, w2c, W, H)
    if cam_dirs is not None:
        dirs = np.asarray(cam_dirs, float) @ w2c[:3, :3]
    categories = {o["instance_id"]: o["category_id"] for o in meta["objects"]}
    out = {}
    for iid, mesh in load_world_meshes(Path(root), meta):
        if categories[iid] == 0:
            continue
        t, _ = intersect(origin, dirs, mesh.triangles)
        out[iid] = (np.isfinite(t) & (t >= meta["clip_start"])).reshape(H, W)
    return out


# ------------------------------------------------------------------ a deforming part, by Blender's own exporter


EXPORT_SCRIPT = """
import json, sys, bpy, addon_utils
source, name, wanted, every_clip = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4] == "1"
if source.endswith(".blend"):
    bpy.ops.wm.open_mainfile(filepath=source)
else:  # a glTF or FBX: read by Blender's own importer with its defaults, as a user's Blender reads it
    bpy.ops.wm.read_factory_settings(use_empty=True)
    gltf = source.endswith((".glb", ".gltf"))
    addon_utils.enable("io_scene_gltf2" if gltf else "io_scene_fbx", default_set=False)
    if not gltf:  # bpy 5.0.1's FBX importer sets Cycles' light cast_shadow, gone in 5.0 (as simgen does)
        probe = bpy.data.lights.new("probe", "POINT")
        settings = type(probe.cycles)
        bpy.data.lights.remove(probe)
        if "cast_shadow" not in settings.bl_rna.properties:
            settings.cast_shadow = bpy.props.BoolProperty(default=True)
    (bpy.ops.import_scene.gltf if gltf else bpy.ops.import_scene.fbx)(filepath=source)
assert name in bpy.context.view_layer.objects, sorted(bpy.context.view_layer.objects.keys())
if every_clip:  # every glTF animation at once: no active action, every NLA track the importer made playing
    for ob in bpy.data.objects:
        if ob.animation_data is not None:
            ob.animation_data.action = None
            for track in ob.animation_data.nla_tracks:
                track.mute = False
for frame, out in wanted:
    bpy.context.scene.frame_set(frame)
    for ob in bpy.context.view_layer.objects:
        ob.select_set(ob.name == name)
    bpy.ops.wm.obj_export(filepath=out, export_selected_objects=True, apply_modifiers=True, export_materials=False,
                          forward_axis="Y", up_axis="Z", export_normals=False, export_uv=False)
"""
"""A bpy script for a child Python: the object NAME of a .blend, glTF or FBX file at each frame
wanted, as Blender's own OBJ exporter writes it (world coordinates, modifiers such as an armature
applied), one OBJ a frame."""


def exported_meshes(source: str | Path, name: str, frames: list[int], folder: str | Path,
                    every_clip: bool = False) -> dict[int, trimesh.Trimesh]:
    """The object ``name`` of ``source`` (a .blend, or a glTF or FBX file that Blender's own importer
    reads with its defaults) at each of ``frames``, in world coordinates, by a second path beside
    simgen's: Blender's own OBJ exporter in a child Python, its modifiers (an armature's skinning,
    shape keys) applied. One child for all the frames; the OBJs are written into ``folder``.
    ``every_clip``: a glTF's animations all playing at once (every NLA track the importer made
    unmuted, no active action), as scene.animation_clip=all plays them."""
    import subprocess
    import sys

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = [(int(f), str(folder / f"export_{int(f)}.obj")) for f in dict.fromkeys(frames)]
    r = subprocess.run([sys.executable, "-c", EXPORT_SCRIPT, str(source), name, json.dumps(wanted),
                        "1" if every_clip else "0"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and all(Path(out).is_file() for _, out in wanted), r.stderr[-2000:]
    return {f: trimesh.load(out, force="mesh", process=False) for f, out in wanted}


# ------------------------------------------------------------------ a surface that bends: points ride their triangles


def surface_hits(meta: dict, mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel centre of ``meta``'s camera: the ray's parameter t (planar depth; inf: no hit) on
    ``mesh`` (world), the triangle it meets first (-1: none) and the hit's barycentric coordinates
    there (trimesh's, from the hit point; NaN: no hit)."""
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    origin, dirs, _ = pixel_centre_rays(K, w2c, meta["width"], meta["height"])
    t, tri = intersect(origin, dirs, mesh.triangles)
    met = tri >= 0
    bary = np.full((len(tri), 3), np.nan)
    bary[met] = trimesh.triangles.points_to_barycentric(mesh.triangles[tri[met]], origin + t[met, None] * dirs[met])
    return t, tri, bary


def _project(meta: dict, points: np.ndarray) -> np.ndarray:
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    cam = points @ w2c[:3, :3].T + w2c[:3, 3]
    return (cam @ K.T)[..., :2] / cam[..., 2:]


def bending_flow(meta: dict, meta_o: dict, mesh: trimesh.Trimesh, mesh_o: trimesh.Trimesh
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The flow of a surface that bends from ``meta``'s frame to ``meta_o``'s, by the surface's meshes
    at each (world; the same vertices and triangles, moved): each pixel centre's hit on ``mesh``
    (:func:`surface_hits`), that barycentric mix of its triangle's corners in ``mesh_o``, projected
    by ``meta_o``'s camera. Returns (flow (H, W, 2), the pixels whose ray meets ``mesh`` (H, W))."""
    h, w = meta["height"], meta["width"]
    _, tri, bary = surface_hits(meta, mesh)
    moved = np.einsum("nk,nkj->nj", np.nan_to_num(bary), mesh_o.vertices[mesh_o.faces[np.maximum(tri, 0)]])
    pixels = np.stack(np.meshgrid(np.arange(w, dtype=float), np.arange(h, dtype=float)), -1)
    return _project(meta_o, moved).reshape(h, w, 2) - pixels, (tri >= 0).reshape(h, w)


def ridden_track(metas: list[dict], meshes: list[trimesh.Trimesh], step: int, uv: np.ndarray,
                 occluders=lambda step: []) -> list[tuple[np.ndarray, bool | None]]:
    """A track on a surface that bends (``meshes``: the surface at each step, world), from its query
    pixel ``uv`` at ``step``: the triangle that pixel's ray meets there and the hit's barycentric
    coordinates, and at each step that mix of the triangle's corners: its (u, v) and whether a ray
    cast sees it (in the image, facing the camera on the side first seen, and nothing of the surface
    or of ``occluders(step)`` (world meshes) in front of it), None where the surface is seen at a
    grazing angle (beyond 84 degrees: there simgen decides by the frame's depth, simgen.labels.tracks)."""
    meta = metas[step]
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    origin = -w2c[:3, :3].T @ w2c[:3, 3]
    ray = w2c[:3, :3].T @ np.linalg.solve(K, [*np.asarray(uv, float), 1.0])
    t, tri = intersect(origin, ray[None], meshes[step].triangles)
    assert tri[0] >= 0, "a track's query pixel does not see the surface"
    bary = trimesh.triangles.points_to_barycentric(meshes[step].triangles[tri], origin + t[:, None] * ray)[0]
    side = np.sign(meshes[step].face_normals[tri[0]] @ (origin - meshes[step].triangles[tri[0]].mean(0)))
    out = []
    for k, later in enumerate(metas):
        corners = meshes[k].vertices[meshes[k].faces[tri[0]]]
        point = bary @ corners
        at = _project(later, point)
        w2 = np.array(later["world_to_camera"])
        eye = -w2[:3, :3].T @ w2[:3, 3]
        normal = np.cross(corners[1] - corners[0], corners[2] - corners[0])
        if abs(normal @ (eye - point)) < 0.1 * np.linalg.norm(normal) * np.linalg.norm(eye - point):
            out.append((at, None))
            continue
        inside = -0.5 <= at[0] < later["width"] - 0.5 and -0.5 <= at[1] < later["height"] - 0.5
        first = min(intersect(eye, (point - eye)[None], m.triangles)[0][0] for m in (meshes[k], *occluders(k)))
        out.append((at, bool(inside and first >= 1 - 1e-3 and side * normal @ (eye - point) > 0)))  # t = 1: the point
    return out


def bending_flow_errors(root: Path, metas: list[dict], meshes: list[trimesh.Trimesh], instances: list[np.ndarray],
                        iid: int, pairs) -> list[dict]:
    """Per (step, other step, direction) of ``pairs``: the dataset's flow file of that step against
    :func:`bending_flow` on the pixels of instance ``iid`` whose ray meets its mesh there: how many
    such pixels (``met``), the share of them the flow's validity keeps (``valid_share``), how many it
    keeps (``valid``), the largest expected motion (``motion``, px) and end-point error (``epe``,
    px) on those it keeps."""
    from simgen.io.files import read_png

    out = []
    for k, other, direction in pairs:
        expected, met = bending_flow(metas[k], metas[other], meshes[k], meshes[other])
        flow = np.load(Path(root) / f"flow_{direction}" / f"{k:06d}.npy")
        valid = read_png(Path(root) / f"flow_{direction}_valid" / f"{k:06d}.png") > 0
        on = met & (instances[k] == iid)
        kept = on & valid
        out.append({"met": int(on.sum()), "valid_share": float(valid[on].mean()) if on.any() else 0.0,
                    "valid": int(kept.sum()),
                    "motion": float(np.abs(expected[kept]).max()) if kept.any() else 0.0,
                    "epe": float(np.linalg.norm(flow[kept] - expected[kept], axis=-1).max()) if kept.any() else 0.0})
    return out


def two_bone_bar(half: float) -> str:
    """bpy lines for a child script's ``rig`` (an armature object already linked to ``scene``): two
    bones up Z, ``lower`` 0 to 0.3 m and ``upper`` 0.3 to 0.6 m, and ``bar``, a square tube of half
    width ``half`` m from z 0 to 0.6 m in rings 0.15 m apart, parented to the rig and skinned to
    the bones by weights that blend over its middle (an Armature modifier)."""
    return f"""
bpy.context.view_layer.objects.active = rig
bpy.ops.object.mode_set(mode="EDIT")
lower = rig.data.edit_bones.new("lower")
lower.head, lower.tail = (0.0, 0.0, 0.0), (0.0, 0.0, 0.3)
upper = rig.data.edit_bones.new("upper")
upper.head, upper.tail = (0.0, 0.0, 0.3), (0.0, 0.0, 0.6)
upper.parent, upper.use_connect = lower, True
bpy.ops.object.mode_set(mode="OBJECT")
rings = [z * 0.15 for z in range(5)]
verts = [(x, y, z) for z in rings for x, y in ((-{half}, -{half}), ({half}, -{half}), ({half}, {half}), (-{half}, {half}))]
faces = [(4 * k + i, 4 * k + (i + 1) % 4, 4 * k + 4 + (i + 1) % 4, 4 * k + 4 + i) for k in range(4) for i in range(4)]
faces += [(3, 2, 1, 0), (16, 17, 18, 19)]
me = bpy.data.meshes.new("bar")
me.from_pydata(verts, [], faces)
bar = bpy.data.objects.new("bar", me)
scene.collection.objects.link(bar)
bar.parent = rig
groups = bar.vertex_groups.new(name="lower"), bar.vertex_groups.new(name="upper")
for k, z in enumerate(rings):
    w = min(1.0, max(0.0, (z - 0.15) / 0.3))
    groups[0].add([4 * k + i for i in range(4)], 1.0 - w, "REPLACE")
    groups[1].add([4 * k + i for i in range(4)], w, "REPLACE")
bar.modifiers.new("skin", "ARMATURE").object = rig
"""
