"""Ground truth computed without Blender and without simgen's label code.

A trimesh ray caster shoots one ray through every pixel centre (OpenCV convention:
pixel (u, v) centred at integer coordinates) of a frame described only by its exported
meta/NNNNNN.json and models/, and reports what each ray hits first.
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


def load_world_meshes(root: Path, meta: dict) -> tuple[trimesh.Trimesh, np.ndarray]:
    """All objects of a frame in world coordinates as one mesh, plus each face's instance id."""
    meshes, face_ids = [], []
    for o in meta["objects"]:
        m = trimesh.load(root / o["mesh"], force="mesh")
        m = m.copy()
        m.apply_transform(np.array(o["mesh_to_world"]))
        meshes.append(m)
        face_ids.append(np.full(len(m.faces), o["instance_id"], dtype=np.int64))
    return trimesh.util.concatenate(meshes), np.concatenate(face_ids)


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
    mesh, face_ids = load_world_meshes(root, meta)
    origin, dirs, cam_dirs = pixel_centre_rays(K, w2c, W, H)
    origins = np.broadcast_to(origin, dirs.shape)
    caster = trimesh.ray.ray_triangle.RayMeshIntersector(mesh)
    tri, ray, loc = caster.intersects_id(origins, dirs, multiple_hits=False, return_locations=True)
    instance = np.zeros(H * W, np.int64)
    depth = np.full(H * W, np.inf)
    normal = np.zeros((H * W, 3))
    # planar depth: the hit's z in camera coordinates
    z = (loc @ w2c[:3, :3].T + w2c[:3, 3])[:, 2]
    instance[ray] = face_ids[tri]
    depth[ray] = z
    n_cam = mesh.face_normals[tri] @ w2c[:3, :3].T
    flip = np.einsum("ij,ij->i", n_cam, cam_dirs[ray]) > 0
    n_cam[flip] *= -1
    normal[ray] = n_cam
    return {"instance": instance.reshape(H, W), "depth": depth.reshape(H, W), "normal": normal.reshape(H, W, 3)}


def uniform_neighbourhood(ids: np.ndarray) -> np.ndarray:
    """True where the pixel's 3x3 neighbourhood (clipped at the border) holds one id."""
    p = np.pad(ids, 1, mode="edge")
    H, W = ids.shape
    same = np.ones_like(ids, dtype=bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            same &= p[dy:dy + H, dx:dx + W] == ids
    return same
