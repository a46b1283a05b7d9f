"""Ground truth computed without Blender and without simgen's label code.

A ray caster (float64 Moller-Trumbore in numpy, on meshes loaded with trimesh) shoots one
ray through every pixel centre (OpenCV convention: pixel (u, v) centred at integer
coordinates) of a frame described only by its exported meta/NNNNNN.json and models/, and
reports what each ray hits first.
"""

from __future__ import annotations

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


def load_world_meshes(root: Path, meta: dict) -> list[tuple[int, trimesh.Trimesh]]:
    """Every object of a frame in world coordinates, with its instance id."""
    out = []
    for o in meta["objects"]:
        m = trimesh.load(root / o["mesh"], force="mesh").copy()
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


def raycast_frame(root: str | Path, index: int) -> dict[str, np.ndarray]:
    """Ray-cast frame ``index`` of the dataset at ``root``.

    Returns ``instance`` (H, W) int64 (0 = no hit), ``depth`` (H, W) planar z (inf = no
    hit) and ``normal`` (H, W, 3) geometric face normals in the OpenCV camera frame,
    flipped to face the camera.
    """
    root = Path(root)
    meta = json.loads((root / "meta" / f"{index:06d}.json").read_text())
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    W, H = meta["width"], meta["height"]
    origin, dirs, cam_dirs = pixel_centre_rays(K, w2c, W, H)
    depth = np.full(H * W, np.inf)  # cam_dirs have z = 1, so the ray parameter is planar depth
    instance = np.zeros(H * W, np.int64)
    normal = np.zeros((H * W, 3))
    for iid, mesh in load_world_meshes(root, meta):
        # only rays inside the object's projected bounding box can hit it
        cam = mesh.vertices @ w2c[:3, :3].T + w2c[:3, 3]
        rays = np.arange(H * W)
        if np.all(cam[:, 2] > 0):
            uv = cam[:, :2] / cam[:, 2:] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
            u, v = rays % W, rays // W
            (u0, v0), (u1, v1) = uv.min(axis=0) - 1, uv.max(axis=0) + 1
            rays = rays[(u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)]
        if not len(rays):
            continue
        t, tri = intersect(origin, dirs[rays], mesh.triangles)
        closer = t < depth[rays]
        hit = rays[closer]
        depth[hit] = t[closer]
        instance[hit] = iid
        normal[hit] = mesh.face_normals[tri[closer]] @ w2c[:3, :3].T
    flip = np.einsum("ij,ij->i", normal, cam_dirs) > 0
    normal[flip] *= -1
    return {"instance": instance.reshape(H, W), "depth": depth.reshape(H, W), "normal": normal.reshape(H, W, 3)}


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
