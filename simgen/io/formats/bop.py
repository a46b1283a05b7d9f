"""The BOP export (``output.formats=[..., bop]``): the BOP toolkit's scene-wise layout under DIR/bop/.

Written from the BOP toolkit's own description of its format (docs/bop_datasets_format.md of
thodan/bop_toolkit) and the definitions of its scripts (scene_gt_info: calc_gt_info.py;
models_info: calc_model_info.py; scene_gt_coco: calc_gt_coco.py)::

    DIR/bop/camera.json                       width, height, fx, fy, cx, cy, depth_scale (the first frame's)
    DIR/bop/dataset_info.md                   what made the dataset, in words
    DIR/bop/simgen_index.json                 what the export was built from (the next export's record)
    DIR/bop/models/obj_OOOOOO.ply             one model per (model file, scale): mm, origin at its box centre
    DIR/bop/models/models_info.json           diameter, min_x/y/z, size_x/y/z per obj_id (mm)
    DIR/bop/models/models_simgen.json         obj_id -> mesh, scale, origin, category_id, category (link)
    DIR/bop/<split>_pbr/SSSSSS/rgb/IIIIII.png hard links to DIR/images/NNNNNN.png (copies where links fail)
        depth/IIIIII.png                      uint16: depth in mm = value * depth_scale, 0 = no depth
        mask/IIIIII_GGGGGG.png                amodal silhouette of gt GGGGGG (255 in), from DIR/amodal/
        mask_visib/IIIIII_GGGGGG.png          its visible pixels (instance == its id), from DIR/instance/
                                              (an articulated object's links: parts == the link's id, DIR/parts/)
        scene_camera.json                     per im_id: cam_K, cam_R_w2c, cam_t_w2c (mm), depth_scale
        scene_gt.json                         per im_id: [{obj_id, cam_R_m2c, cam_t_m2c (mm)}]
        scene_gt_info.json                    per im_id: [{bbox_obj, bbox_visib, px_count_all, px_count_valid,
                                              px_count_visib, visib_fract}]
        scene_gt_coco.json                    the scene's COCO file (BOP's 2D tasks)

An articulated object (a URDF or MJCF model) is its links, each a rigid BOP object with its own
model (``models/<key>/<link>.ply``), pose and masks. Every choice (scenes, models and their
scale, the depth scale, which objects, the boxes) is stated in docs/dataset.md, "BOP". The
export is a pure function of the files on disk (meta/, models/, instance/, parts/, depth/,
amodal/, images/ and dataset.json's config): shards, resumed runs
and ``simgen merge`` give the same export. ``DIR/bop/simgen_index.json`` records what it was
built from, so that the next export writes only the scenes whose frames changed
(:func:`write_bop`); otherwise it is built beside DIR/bop and swapped in whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from simgen.errors import SimgenError
from simgen.safe_paths import SPLIT_NAME, regular_file
from simgen.io.files import (encode_png, link_or_copy, off_layout, read_json, read_npy, read_npz, read_png,
                             rebuilt_folder, recorded_setting, remove_stale_rebuilds, write_json)
from simgen.io.formats.coco import CocoSource, image_split
from simgen.io.names import DATASET_JSON, META_DIR
from simgen.labels.amodal import silhouette_outside
from simgen.labels.geometry import model_pose
from simgen.child_processes import usable_cores
from simgen.progress import Progress


log = logging.getLogger(__name__)

FOLDER = "bop"
SCENE_SIZE = 1000
"""Default frames per BOP scene for independent frames (output.bop_scene_size): BOP's PBR
training sets hold 1000 images per scene."""
SPLIT_SUFFIX = "_pbr"
"""A simgen split ``train`` is the BOP split folder ``train_pbr``: BOP's name for photorealistic
synthetic renders (the split type of every BOP dataset's train_pbr set)."""
BASE_DEPTH_SCALE = 0.1
"""The finest depth step (mm): depth_scale is the smallest 0.1 * 2^k (k >= 0) that holds the
frame's farthest finite depth in 16 bits."""
SCALE_DIGITS = 7
"""Significant digits of an object's scale in its BOP model's key: equal draws up to float
noise (5e-7 relative) share one model."""
PROGRESS_FROM = 1000
"""Frames from which the export draws a progress line."""
MAX_THREADS = 8
"""Threads writing images: one per usable core, at most this many."""
MANIFEST = "simgen_index.json"
"""In DIR/bop: what the export was built from (:func:`write_bop`), so that the next export writes
only the scenes whose images changed."""

_ID = r"\d{6}"
_SCENE = re.compile(rf"^[A-Za-z0-9_-]+{SPLIT_SUFFIX}/{_ID}$")
"""A scene's folder, relative to DIR/bop."""
_LAYOUT = re.compile(rf"^(camera\.json|dataset_info\.md|simgen_index\.json|models/(models_info|models_simgen)\.json|models/obj_{_ID}\.ply"
                     rf"|[A-Za-z0-9_-]+{SPLIT_SUFFIX}/{_ID}/(scene_camera|scene_gt|scene_gt_info|scene_gt_coco)\.json"
                     rf"|[A-Za-z0-9_-]+{SPLIT_SUFFIX}/{_ID}/(rgb|depth)/{_ID}\.png"
                     rf"|[A-Za-z0-9_-]+{SPLIT_SUFFIX}/{_ID}/mask(_visib)?/{_ID}_{_ID}\.png)$")
"""Every file the export writes, relative to DIR/bop."""


# ---------------------------------------------------------------------------- settings


def scene_size(root: Path) -> int:
    """output.bop_scene_size of DIR/dataset.json's config (a merge of different runs: the first
    input's), else :data:`SCENE_SIZE`."""
    size = recorded_setting(root, "output.bop_scene_size")
    if size is None:
        return SCENE_SIZE
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise SimgenError(f"{root / DATASET_JSON}: output.bop_scene_size={size!r} is not a whole number "
                          ">= 1; render with output.bop_scene_size=1000 (or another size)")
    return size


def advice(settings) -> str:
    """A one-line warning when the run's settings make a BOP object of each object it draws:
    a drawn scale (scene.object_scale a range) or generated shapes (objects.parametric > 0) give
    every object a model of its own, while BOP's pose methods learn a few fixed models."""
    o, scale = settings.objects, getattr(settings.scene, "object_scale", None)  # tabletop's key
    why = []
    if scale is not None and scale[0] != scale[1]:
        why.append(f"scene.object_scale={list(scale)} draws a size per object")
    if o.parametric > 0:
        why.append(f"objects.parametric={o.parametric} generates a shape per object")
    if not why:
        return ""
    return ("bop: " + " and ".join(why) + ", so each such object is a BOP model of its own (BOP models are fixed "
            "in size); scene.object_scale=[1,1] objects.parametric=0 gives one model per asset")


# ---------------------------------------------------------------------------- pixels


def depth_scale(depth_m: np.ndarray) -> float:
    """The frame's depth_scale (mm per unit): the smallest 0.1 * 2^k, k >= 0, with which its
    farthest finite depth fits in 16 bits."""
    finite = depth_m[np.isfinite(depth_m) & (depth_m > 0)]
    far = float(finite.max()) * 1000.0 if finite.size else 0.0
    k = 0
    while np.rint(far / (BASE_DEPTH_SCALE * 2 ** k)) > 65535:
        k += 1
    return BASE_DEPTH_SCALE * 2 ** k


def depth_png(depth_m: np.ndarray) -> tuple[np.ndarray, float]:
    """(uint16 depth image, depth_scale): value = round(depth in mm / depth_scale), 0 where
    simgen's depth is not a finite positive number (no hit)."""
    scale = depth_scale(depth_m)
    valid = np.isfinite(depth_m) & (depth_m > 0)
    out = np.zeros(depth_m.shape, np.uint16)
    out[valid] = np.clip(np.rint(depth_m[valid].astype(np.float64) * 1000.0 / scale), 1, 65535).astype(np.uint16)
    return out, scale


def _extent(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(leftmost column, top row, rightmost column, bottom row) of a mask's pixels; None if empty
    (from the row and column projections: a tenth of the time of listing the pixels)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def bbox_bop(mask: np.ndarray, offset: tuple[int, int] = (0, 0)) -> list[int]:
    """BOP's box of a mask's pixels (calc_gt_info's): [x, y, x_max - x, y_max - y] in pixel
    indices (a one-pixel mask is [x, y, 0, 0]), shifted by ``offset`` (x, y); [-1, -1, -1, -1]
    for an empty mask."""
    e = _extent(mask)
    if e is None:
        return [-1, -1, -1, -1]
    x0, y0, x1, y1 = e
    return [x0 - offset[0], y0 - offset[1], x1 - x0, y1 - y0]


def bbox_coco(mask: np.ndarray) -> list[int]:
    """COCO's tight box [x, y, w, h] of a non-empty mask (pixel edges: w = x_max - x + 1)."""
    x0, y0, x1, y1 = _extent(mask)
    return [x0, y0, x1 - x0 + 1, y1 - y0 + 1]


def rle_counts(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of a mask (column-major runs, starting with a run of 0s)."""
    flat = np.asarray(mask, bool).ravel(order="F")
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], edges, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0] + runs
    return {"counts": runs, "size": [int(mask.shape[0]), int(mask.shape[1])]}


def count_all_and_box(vertices_cam: np.ndarray, faces: np.ndarray, K: np.ndarray, width: int, height: int,
                      near: float, inside_mask: np.ndarray) -> tuple[int, list[int]]:
    """(px_count_all, bbox_obj): the pixel count and BOP box of an object's whole silhouette, the
    part outside the image included (:func:`simgen.labels.amodal.silhouette_outside`: calc_gt_info's
    canvas 3x the image, its middle ``inside_mask``, the frame's amodal mask), so the counts agree
    with mask/."""
    whole, offset = silhouette_outside(vertices_cam, faces, K, width, height, near, inside_mask)
    return int(whole.sum()), bbox_bop(whole, offset)


# ---------------------------------------------------------------------------- models


def diameter(points: np.ndarray) -> float:
    """The largest distance between two of ``points`` (N, 3) (calc_model_info's diameter),
    exact: points that cannot be an end of a longer pair than the best found so far are left
    out, the rest compared in blocks."""
    p = np.unique(np.asarray(points, np.float64), axis=0)
    if len(p) < 2:
        return 0.0
    c = (p.min(0) + p.max(0)) / 2
    r = np.linalg.norm(p - c, axis=1)
    dirs = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1],
                     [1, 1, 0], [1, -1, 0], [1, 0, 1], [1, 0, -1], [0, 1, 1], [0, 1, -1]], float)
    proj = p @ dirs.T
    ends = p[np.unique(np.r_[proj.argmin(0), proj.argmax(0)])]
    best = float(np.sqrt(((ends[:, None] - ends[None]) ** 2).sum(-1)).max())
    keep = p[r + r.max() >= best - 1e-12]
    for i in range(0, len(keep), 1024):
        d = ((keep[i:i + 1024, None, :] - keep[None, :, :]) ** 2).sum(-1)
        best = max(best, float(np.sqrt(d.max())))
    return best


def ply_bytes(vertices: np.ndarray, normals: np.ndarray, faces: np.ndarray) -> bytes:
    """A binary little-endian PLY with float x, y, z, nx, ny, nz and uchar/int triangles (the
    types the BOP toolkit's load_ply reads)."""
    header = ("ply\nformat binary_little_endian 1.0\ncomment simgen BOP model (mm)\n"
              f"element vertex {len(vertices)}\n"
              "property float x\nproperty float y\nproperty float z\n"
              "property float nx\nproperty float ny\nproperty float nz\n"
              f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n")
    verts = np.hstack([vertices, normals]).astype("<f4")
    tri = np.zeros(len(faces), dtype=[("n", "u1"), ("i", "<i4", (3,))])
    tri["n"], tri["i"] = 3, faces
    return header.encode("ascii") + verts.tobytes() + tri.tobytes()


def bop_symmetries(symmetries: dict | None, centre: np.ndarray, scale) -> dict:
    """The models_info symmetry keys of a BOP model made from a simgen model whose catalog
    declares ``symmetries`` (model units, simgen.assets.catalog): the BOP model's points are
    ``p = 1000 S (v - centre)`` with ``S = diag(scale)``, so a map ``v -> R v + t`` becomes
    ``p -> S R S^-1 p + 1000 S (R centre + t - centre)`` and a rotation axis through ``o``
    runs through ``1000 S (o - centre)``. A symmetry the object's scale breaks (a stretch
    across it) is left out. Empty without symmetries."""
    if not symmetries:
        return {}
    S = np.diag(np.asarray(scale, float))
    S_inv = np.linalg.inv(S)
    out: dict[str, list] = {}
    for m in symmetries.get("discrete", []):
        T = np.asarray(m, float).reshape(4, 4)
        R = S @ T[:3, :3] @ S_inv
        if np.abs(R @ R.T - np.eye(3)).max() > 1e-6:
            continue
        t = 1000.0 * S @ (T[:3, :3] @ centre + T[:3, 3] - centre)
        out.setdefault("symmetries_discrete", []).append(np.vstack([np.c_[R, t], [0, 0, 0, 1]]).ravel().tolist())
    for sym in symmetries.get("continuous", []):
        a = np.asarray(sym["axis"], float)
        quarter = _rotation(a, np.pi / 2)
        if np.abs(S @ quarter @ S_inv - quarter).max() > 1e-6:  # the stretch does not commute with the turns
            continue
        out.setdefault("symmetries_continuous", []).append(
            {"axis": a.tolist(), "offset": (1000.0 * S @ (np.asarray(sym["offset"], float) - centre)).tolist()})
    return out


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """The rotation by ``angle`` about the unit ``axis`` (Rodrigues)."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _scale_key(scale: list[float]) -> tuple[float, ...]:
    return tuple(float(f"{s:.{SCALE_DIGITS}g}") for s in scale)


# ---------------------------------------------------------------------------- export


def foreign_files(folder: Path) -> list[str]:
    """Files (and links) under DIR/bop that are not of the export's layout, relative to it."""
    return off_layout(folder, _LAYOUT)


def _dump_by_id(path: Path, by_id: dict[int, object]) -> None:
    """A BOP JSON file keyed by id: one line per id, ids in numeric order (as the toolkit writes them)."""
    lines = [f'  "{k}": {json.dumps(by_id[k], sort_keys=True)}' for k in sorted(by_id)]
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n")


class _Scene:
    """The scene-level files of one BOP scene, filled image by image."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.camera: dict[int, dict] = {}
        self.gt: dict[int, list] = {}
        self.info: dict[int, list] = {}
        self.images: list[dict] = []
        self.annotations: list[dict] = []
        for sub in ("rgb", "depth", "mask", "mask_visib"):
            (folder / sub).mkdir(parents=True)

    def add(self, im_id: int, records: dict) -> None:
        """One image's records (what :func:`_write_image` returns), in image order."""
        self.camera[im_id], self.gt[im_id], self.info[im_id] = records["camera"], records["gt"], records["info"]
        self.images.append(records["image"])
        for a in records["annotations"]:
            self.annotations.append({"id": len(self.annotations) + 1, **a})

    def close(self, categories: list[dict]) -> None:
        _dump_by_id(self.folder / "scene_camera.json", self.camera)
        _dump_by_id(self.folder / "scene_gt.json", self.gt)
        _dump_by_id(self.folder / "scene_gt_info.json", self.info)
        coco = {"info": {"description": "simgen synthetic dataset, BOP export (docs/dataset.md)"}, "licenses": [],
                "categories": categories, "images": self.images, "annotations": self.annotations}
        (self.folder / "scene_gt_coco.json").write_text(json.dumps(coco))


class _OldScene:
    """A scene folder of the export as it was: its images' records and files, for the images a
    rebuilt scene keeps (the same frame at the same place)."""

    def __init__(self, folder: Path):
        self.folder = folder
        try:
            self.camera, self.gt, self.info = (read_json(folder / f"{name}.json") for name in
                                               ("scene_camera", "scene_gt", "scene_gt_info"))
            coco = read_json(folder / "scene_gt_coco.json")
        except (OSError, ValueError):
            self.camera = self.gt = self.info = {}
            coco = {"images": [], "annotations": []}
        self.images = {im["id"]: im for im in coco["images"]}
        self.annotations: dict[int, list] = {}
        for a in coco["annotations"]:
            self.annotations.setdefault(a["image_id"], []).append({k: v for k, v in a.items() if k != "id"})

    def image(self, im_id: int, to: Path) -> dict | None:
        """Image ``im_id``'s records (as :func:`_write_image` returns them), its files hard-linked
        into the scene folder ``to``; None when the old folder lacks any of them."""
        key = str(im_id)
        if key not in self.camera or key not in self.gt or key not in self.info or im_id not in self.images:
            return None
        name = f"{im_id:06d}"
        files = [f"rgb/{name}.png", f"depth/{name}.png"] + [f"{sub}/{name}_{g:06d}.png" for g in
                                                          range(len(self.gt[key])) for sub in ("mask", "mask_visib")]
        if not all((self.folder / f).is_file() and not (self.folder / f).is_symlink() for f in files):
            return None
        for f in files:
            link_or_copy(self.folder / f, to / f)
        return {"camera": self.camera[key], "gt": self.gt[key], "info": self.info[key],
                "annotations": self.annotations.get(im_id, []), "image": self.images[im_id]}


def _chunk_record(root: Path, index: CocoSource, c: int, sha: str) -> dict:
    """What the export needs to know of chunk ``c`` of the COCO index before it writes an image
    (its :data:`MANIFEST` entry, reused while the chunk's SHA-256 is ``sha``): each frame's
    ``[index, split, in a sequence, sequence, step, digest]`` (the digest of its COCO image and
    annotations: a frame rendered again is another frame), the models its objects' bodies need
    (``[model file, scale, category id, category, symmetries, link]``, each model once: the
    smallest category; :func:`_bodies`) and its first frame's ``[index, {K, width, height}]``."""
    frames, models, first = [], {}, None
    chunk = index.chunk(c)
    annotations: dict[int, list] = {}
    for a in chunk["annotations"]:
        annotations.setdefault(a["image_id"], []).append(a)
    for im in chunk["images"]:
        i = int(im["simgen"]["frame_index"])
        meta = read_json(regular_file(root, f"{META_DIR}/{i:06d}.json", f"frame {i}"))
        if first is None or i < first[0]:
            first = [i, {k: meta[k] for k in ("K", "width", "height")}]
        digest = hashlib.sha256(json.dumps([im, annotations.get(im["id"], [])]).encode()).hexdigest()[:20]
        frames.append([i, image_split(im), int(meta.get("sequence_length", 1)) > 1, int(meta["sequence"]),
                       int(meta["step"]), digest])
        w2c = np.asarray(meta["world_to_camera"], float)
        for o in meta["objects"]:
            if not o.get("category_id"):
                continue
            cat = [int(o["category_id"]), str(o.get("category", ""))]
            for body in _bodies(o):
                key = (body.mesh, _scale_key(model_pose(w2c, body.mesh_to_world)["scale"]))
                have = models.setdefault(key, [key[0], list(key[1]), *cat, body.symmetries, body.link])
                have[2:4] = min(have[2:4], cat)
    return {"sha256": sha, "frames": frames, "models": list(models.values()), "first": first}


def _reusable(record: object) -> bool:
    """Whether a chunk's record read from :data:`MANIFEST` has the shape :func:`_chunk_record`
    gives (its split names name folders: a crafted one must not reach the file system)."""
    try:
        return isinstance(record["sha256"], str) and all(
            type(i) is int and SPLIT_NAME.match(split) and type(seq) is bool and type(a) is int and type(b) is int
            and isinstance(d, str) for i, split, seq, a, b, d in record["frames"]) and all(
            isinstance(m[0], str) and isinstance(m[1], list) and type(m[2]) is int and len(m) == 6
            and (m[5] is None or isinstance(m[5], str)) for m in record["models"]) \
            and (record["first"] is None or type(record["first"][0]) is int)
    except (TypeError, KeyError, ValueError, IndexError):
        return False


def _registry(chunks: list[dict]) -> list[list]:
    """Every BOP model of the chunks' frames in obj_id order (obj_id = place + 1): ``[model file,
    scale, category id, category, symmetries, link]``, sorted by (model file, scale); a model's
    category is the smallest its objects have, its symmetries the first frame's."""
    models: dict[tuple, list] = {}
    for chunk in chunks:
        for m in chunk["models"]:
            have = models.setdefault((m[0], tuple(m[1])), list(m))
            have[2:4] = min(have[2:4], m[2:4])
    return [models[key] for key in sorted(models)]


def _placed(root: Path, chunks: list[dict], splits: list[str], size: int) -> dict[tuple[str, int], list[tuple[int, int]]]:
    """Each BOP scene's images: ``{(split, scene id): [(im_id, frame index), ...]}`` in image
    order, the scenes in split order (``splits`` first) and number order. A sequence is a scene
    (its steps the images); independent frames are scenes of ``size`` after the sequences'."""
    frames = [f for chunk in chunks for f in chunk["frames"]]
    base = max((f[3] for f in frames if f[2]), default=-1) + 1  # single frames' scenes after the sequences'
    names = list(splits) + sorted({f[1] for f in frames} - set(splits))
    rank = {s: k for k, s in enumerate(names)}
    placed = sorted((rank[f[1]], f[3] if f[2] else base + f[0] // size, f[4] if f[2] else f[0] % size, f[0], f[1])
                    for f in frames)
    scenes: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for a, b in zip(placed, placed[1:]):
        if a[:3] == b[:3]:
            raise SimgenError(f"{root}: frames {a[3]} and {b[3]} would be the same BOP image (split {a[4]}, scene "
                              f"{a[1]}, image {a[2]}): their meta files record the same sequence and step")
    for _, scene_id, im_id, i, split in placed:
        scenes.setdefault((split, scene_id), []).append((im_id, i))
    return scenes


def _scene_folder(split: str, scene_id: int) -> str:
    return f"{split}{SPLIT_SUFFIX}/{scene_id:06d}"


def write_bop(root: Path, index: CocoSource, splits: list[str]) -> Path:
    """Write the BOP export of every indexed frame to DIR/bop; returns its path.

    The export records what it was built from (:data:`MANIFEST`): per chunk of the COCO index
    what its frames need (:func:`_chunk_record`), the models, and each scene's images (im_id,
    frame, the frame's digest). While the models and the scene size are unchanged, only the
    scenes whose images changed since (frames added, removed or rendered again: a resumed run, a
    new shard) are written again, each built beside its folder and swapped in with the images it
    already held taken from the old folder, and only the changed chunks' meta files are read, so
    an export costs in proportion to the frames that changed. A new model
    would renumber the obj_ids (sorted by model file and scale, so that the export stays a pure
    function of the frames on disk): then, and for an export without a manifest, the export is
    rebuilt beside DIR/bop and swapped in whole. A kill in the middle leaves the old manifest, and
    the next export writes the scenes that differ from it again."""
    root = Path(root)
    final = root / FOLDER
    size = scene_size(root)
    old = _read_manifest(final)
    chunks = _chunk_records(root, index, old)
    firsts = [c["first"] for c in chunks if c["first"]]
    if not firsts:
        return final
    export = _plan_export(root, final, old, chunks, splits, size)
    mesh = _mesh_reader(root)
    scenes = _SceneWriter(root, final, old, export, mesh)
    camera = min(firsts, key=lambda f: f[0])[1]
    with ThreadPoolExecutor(max_workers=usable_cores(MAX_THREADS), thread_name_prefix="simgen-bop") as pool:
        if export.whole:
            _rebuild_whole(root, pool, export, mesh, scenes, camera)
        else:
            _update_scenes(root, final, pool, old, export, scenes, camera)
    log.info("bop: %d frame(s) in %d scene(s) (%d written), %d model(s) -> %s", sum(map(len, export.scenes.values())),
             len(export.scenes), len(export.todo), len(export.registry), final)
    return final


def _read_manifest(final: Path) -> dict:
    """The export's :data:`MANIFEST` in ``final`` (DIR/bop) as the last export wrote it; {} where
    there is none, or it is not one this export wrote (damaged or crafted: the export is rebuilt whole)."""
    try:
        old = read_json(final / MANIFEST)
        old = old if isinstance(old, dict) else {}
    except (OSError, ValueError):
        old = {}
    if not (isinstance(old.get("scenes"), dict) and all(map(_SCENE.match, old["scenes"]))
            and all(isinstance(v, list) and all(isinstance(x, list) and len(x) == 3 for x in v)
                    for v in old["scenes"].values())
            and isinstance(old.get("chunks"), list) and all(map(_reusable, old["chunks"]))):
        old = {}  # not a manifest this export wrote (damaged or crafted): rebuilt whole
    return old


def _chunk_records(root: Path, index: CocoSource, old: dict) -> list[dict]:
    """Every chunk's record (:func:`_chunk_record`) in chunk order: the old manifest's where the
    chunk's SHA-256 is unchanged, else read from the chunk's meta files."""
    known = {c["sha256"]: c for c in old.get("chunks", [])}
    return [known.get(sha) or _chunk_record(root, index, c, sha)
            for c, (sha, _) in sorted(index.chunk_digests().items())]


class _Export(NamedTuple):
    """What one export writes (:func:`_plan_export`)."""

    registry: list[list]
    """Every BOP model in obj_id order (:func:`_registry`)."""
    obj_ids: dict[tuple, int]
    """(model file, scale) -> obj_id."""
    categories: list[dict]
    """The scenes' COCO categories: one per obj_id."""
    scenes: dict[tuple[str, int], list[tuple[int, int]]]
    """Each scene's images (:func:`_placed`)."""
    recorded: dict[str, list[list]]
    """Each scene's folder -> its images as the manifest records them: [im_id, frame, digest]."""
    manifest: dict
    """The new :data:`MANIFEST`."""
    whole: bool
    """Whether the export is rebuilt beside DIR/bop and swapped in whole."""
    todo: list[tuple[str, int]]
    """The scenes written (again)."""


def _plan_export(root: Path, final: Path, old: dict, chunks: list[dict], splits: list[str], size: int) -> _Export:
    """What the export of the chunks' frames writes: its models, scenes and new manifest, whether
    it is rebuilt whole and which scenes it writes, given the ``old`` manifest."""
    registry = _registry(chunks)
    obj_ids = {(m[0], tuple(m[1])): k + 1 for k, m in enumerate(registry)}
    categories = [{"id": k + 1, "name": str(k + 1), "supercategory": m[3]} for k, m in enumerate(registry)]
    scenes = _placed(root, chunks, splits, size)
    digest = {f[0]: f[5] for c in chunks for f in c["frames"]}
    recorded = {_scene_folder(*key): [[im_id, i, digest[i]] for im_id, i in images] for key, images in scenes.items()}
    manifest = {"scene_size": size, "models": registry, "scenes": recorded, "chunks": chunks}
    whole = _rebuilt_whole(final, old, size, registry)
    todo = _scenes_to_write(final, old, scenes, recorded, whole)
    return _Export(registry, obj_ids, categories, scenes, recorded, manifest, whole, todo)


def _rebuilt_whole(final: Path, old: dict, size: int, registry: list[list]) -> bool:
    """Whether the export is rebuilt whole: no usable old manifest, another scene size, other
    models (they would renumber the obj_ids), no models folder, or files not of the layout."""
    return not old or old.get("scene_size") != size or old.get("models") != registry \
        or not (final / "models").is_dir() or bool(foreign_files(final))


def _scenes_to_write(final: Path, old: dict, scenes: dict, recorded: dict, whole: bool) -> list[tuple[str, int]]:
    """The scenes the export writes: all for a whole rebuild, else those whose images differ from
    the old manifest's record or whose folder is gone."""
    return [key for key in scenes if whole or old["scenes"].get(_scene_folder(*key)) != recorded[_scene_folder(*key)]
            or not (final / _scene_folder(*key)).is_dir()]


def _mesh_reader(root: Path) -> Callable[[str], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The export's reader of the dataset's model files (``mesh(rel)``), the last 32 read kept."""
    import trimesh

    reading = threading.Lock()

    @lru_cache(maxsize=32)
    def mesh(rel: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(vertices in the model file's units, triangles, the centre of their box). One file at a
        time: trimesh's PLY reader parses numpy dtype strings with ``ast``, whose state CPython 3.11
        shares between threads (two parses at once can fail with "AST constructor recursion depth
        mismatch", python/cpython#106905)."""
        with reading:
            m = trimesh.load(regular_file(root, rel, "a frame's meta (objects' mesh)"), force="mesh",
                             process=False)
        v, f = np.asarray(m.vertices, np.float64), np.asarray(m.faces, np.int64)
        return v, f, (v.min(0) + v.max(0)) / 2 if len(v) else np.zeros(3)

    return mesh


def _write_model(mesh: Callable, m: list, obj_id: int, folder: Path) -> dict:
    """Write BOP model ``obj_id`` (a :func:`_registry` entry) to ``folder``; returns its models_info entry."""
    import trimesh

    rel, scale = m[0], tuple(m[1])
    v, f, centre = mesh(rel)
    verts = (v - centre) * np.asarray(scale) * 1000.0  # mm, origin at the centre of its box (BOP's model frame)
    normals = trimesh.Trimesh(verts, f, process=False).vertex_normals if len(f) else np.zeros_like(verts)
    (folder / f"obj_{obj_id:06d}.ply").write_bytes(ply_bytes(verts, normals, f))
    lo, hi = (verts.min(0), verts.max(0)) if len(verts) else (np.zeros(3), np.zeros(3))
    return {"diameter": diameter(verts), **{f"min_{a}": float(lo[k]) for k, a in enumerate("xyz")},
            **{f"size_{a}": float(hi[k] - lo[k]) for k, a in enumerate("xyz")},
            **bop_symmetries(m[4], centre, scale)}


def _write_models(pool: ThreadPoolExecutor, folder: Path, export: _Export, mesh: Callable) -> None:
    """The models folder (``folder``, made here): every model's PLY (on the pool's threads),
    models_info.json and models_simgen.json; a warning where one model file is several models."""
    registry, obj_ids = export.registry, export.obj_ids
    folder.mkdir()
    info = dict(zip(obj_ids.values(), pool.map(partial(_write_model, mesh), registry, obj_ids.values(),
                                               [folder] * len(registry))))
    _dump_by_id(folder / "models_info.json", info)
    _dump_by_id(folder / "models_simgen.json", {
        k + 1: {"mesh": m[0], "scale": m[1], "origin": mesh(m[0])[2].tolist(), "category_id": m[2],
                "category": m[3], **({"link": m[5]} if m[5] is not None else {})}
        for k, m in enumerate(registry)})
    files = len({m[0] for m in registry})
    if len(registry) > files:
        log.warning("bop: %d BOP models from %d model files: BOP models are fixed in size, so each object "
                    "scale drawn is a model of its own (bop/models/models_simgen.json); "
                    "scene.object_scale=[1,1] gives one model per asset", len(registry), files)


class _SceneWriter:
    """Writes the export's scenes, with one progress line for all of them (from :data:`PROGRESS_FROM` images)."""

    def __init__(self, root: Path, final: Path, old: dict, export: _Export, mesh: Callable):
        self.root, self.final, self.old, self.export, self.mesh = root, final, old, export, mesh
        to_write = sum(len(export.scenes[k]) for k in export.todo)
        self.progress = Progress(to_write, label="bop export") if to_write >= PROGRESS_FROM else None

    def write(self, pool: ThreadPoolExecutor, folder: Path, key: tuple[str, int]) -> None:
        """Scene ``key``'s files in ``folder`` (images on the pool's threads: numpy, PNG coding and
        file I/O release the GIL), assembled in image order. An image the export's old folder holds
        of the same frame (:data:`MANIFEST`'s record) is taken from there: its files hard-linked,
        its records read back from the old scene's files."""
        root, export, progress = self.root, self.export, self.progress
        rel = _scene_folder(*key)
        scene, images = _Scene(folder), export.recorded[rel]
        kept = set(map(tuple, self.old["scenes"].get(rel, []))) & set(map(tuple, images)) if not export.whole \
            else set()
        previous = _OldScene(self.final / rel) if kept else None

        def image(place: list) -> dict:
            im_id, i, _ = place
            if tuple(place) in kept:
                found = previous.image(im_id, folder)
                if found is not None:
                    return found
            meta = read_json(regular_file(root, f"{META_DIR}/{i:06d}.json", f"frame {i}"))
            return _write_image(root, folder, meta, i, im_id, export.obj_ids, self.mesh)

        try:
            for (im_id, _, _), records in zip(images, pool.map(image, images)):
                scene.add(im_id, records)
                if progress is not None:
                    progress.update()
        except BaseException:  # a frame it cannot export: the images not yet begun are cancelled
            pool.shutdown(cancel_futures=True)
            raise
        scene.close(export.categories)


def _rebuild_whole(root: Path, pool: ThreadPoolExecutor, export: _Export, mesh: Callable, scenes: _SceneWriter,
                   camera: dict) -> None:
    """Build the whole export beside DIR/bop and swap it in (:func:`rebuilt_folder`): the models,
    every scene, camera.json, dataset_info.md and, last, the manifest."""
    with rebuilt_folder(root, FOLDER, foreign_files) as tmp:
        _write_models(pool, tmp / "models", export, mesh)
        for key in export.todo:
            scenes.write(pool, tmp / _scene_folder(*key), key)
        write_camera(tmp / "camera.json", camera)
        (tmp / "dataset_info.md").write_text(
            "# simgen BOP export\n\nRendered by simgen (photorealistic synthetic images, Cycles). Models: "
            "models/models_simgen.json names each obj_id's simgen model file and scale. Conventions: "
            "simgen's docs/dataset.md, section \"BOP\".\n")
        write_json(tmp / MANIFEST, export.manifest)


def _update_scenes(root: Path, final: Path, pool: ThreadPoolExecutor, old: dict, export: _Export,
                   scenes: _SceneWriter, camera: dict) -> None:
    """Update DIR/bop in place: remove the scenes and splits without a frame on disk now, swap in
    each scene to write again, then write camera.json and, last, the manifest."""
    remove_stale_rebuilds(root, FOLDER)
    for rel in set(old["scenes"]) - set(export.recorded):  # scenes without a frame on disk now
        shutil.rmtree(final / rel, ignore_errors=True)
    for key in export.todo:  # each built beside its folder and swapped in: the old scene or the new
        _swap_in_scene(root, final, pool, key, scenes)
    for split in set(final.glob(f"*{SPLIT_SUFFIX}")) - {final / f"{k[0]}{SPLIT_SUFFIX}" for k in export.scenes}:
        shutil.rmtree(split, ignore_errors=True)  # a split without a frame on disk now
    write_camera(final / "camera.json", camera)
    write_json(final / MANIFEST, export.manifest)


def _swap_in_scene(root: Path, final: Path, pool: ThreadPoolExecutor, key: tuple[str, int],
                   scenes: _SceneWriter) -> None:
    """Build scene ``key`` beside DIR/bop and swap it in for its folder: a kill leaves the old
    scene or the new, never a part of one."""
    tmp = root / f".{FOLDER}.{os.getpid()}-scene.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        scenes.write(pool, tmp, key)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    dest = final / _scene_folder(*key)
    if dest.exists():
        os.replace(dest, tmp.with_suffix(".old"))
    dest.parent.mkdir(exist_ok=True)
    os.replace(tmp, dest)
    shutil.rmtree(tmp.with_suffix(".old"), ignore_errors=True)


def write_camera(path: Path, meta: dict) -> None:
    """camera.json: a frame's image size and intrinsics, and the finest depth_scale."""
    K = np.asarray(meta["K"], float)
    path.write_text(json.dumps({"width": int(meta["width"]), "height": int(meta["height"]), "fx": K[0, 0],
                                "fy": K[1, 1], "cx": K[0, 2], "cy": K[1, 2], "depth_scale": BASE_DEPTH_SCALE},
                               indent=2) + "\n")


class _Body(NamedTuple):
    """One BOP object of a frame's object: the object itself, or each link of an articulated one."""

    mesh: str
    """Its model file in the dataset (the meta's ``mesh``)."""
    mesh_to_world: list
    id: int
    """Its id in the label that shows its pixels: the instance id, or the part id (parts/)."""
    link: str | None
    """The link's name; None for a whole object."""
    symmetries: dict | None


def _bodies(o: dict) -> list[_Body]:
    """The BOP objects of meta object ``o``: an articulated object (one with ``parts``) is its links,
    each rigid, since BOP's models are (its pose and masks per link, from parts/ and amodal/'s
    part masks); any other object is one."""
    if "parts" in o:
        return [_Body(str(p["mesh"]), p["mesh_to_world"], int(p["id"]), str(p["link"]), None)
                for p in sorted(o["parts"], key=lambda p: int(p["id"]))]
    return [_Body(str(o["mesh"]), o["mesh_to_world"], int(o["instance_id"]), None, o.get("symmetries"))]


def _write_image(root: Path, folder: Path, meta: dict, i: int, im_id: int, obj_ids: dict, mesh) -> dict:
    """Write frame ``i``'s files as image ``im_id`` of the scene in ``folder`` (rgb, depth,
    masks) and return its records for the scene's files: ``camera``, ``gt``, ``info``, its
    COCO ``image`` and ``annotations`` (ids given by the scene)."""
    name, where = f"{i:06d}", f"frame {i}"
    width, height = int(meta["width"]), int(meta["height"])
    K = np.asarray(meta["K"], float)
    w2c = np.asarray(meta["world_to_camera"], float)
    instance = read_png(regular_file(root, f"instance/{name}.png", where))
    depth = read_npy(regular_file(root, f"depth/{name}.npy", where))
    amodal_file = root / "amodal" / f"{name}.npz"
    if not amodal_file.is_file():
        raise SimgenError(f"{root}: frame {i} has no amodal/{name}.npz; the bop format is made from the amodal label "
                          "kind: render with output.labels=[amodal] (a new output.dir, or output.overwrite=true)")
    amodal = read_npz(regular_file(root, f"amodal/{name}.npz", where))
    full_of = {int(k): m for k, m in zip(amodal["instance_ids"], amodal["masks"])}
    objects = sorted((o for o in meta["objects"] if o.get("category_id")), key=lambda o: int(o["instance_id"]))
    bodies = [b for o in objects for b in _bodies(o)]
    parts = None
    if any(b.link is not None for b in bodies):
        if not (root / "parts" / f"{name}.png").is_file():
            raise SimgenError(f"{root}: frame {i} has articulated objects and no parts/{name}.png; the bop format "
                              "makes each link a BOP object from the parts label kind: render with "
                              "output.labels=[amodal,parts] (a new output.dir, or output.overwrite=true)")
        parts = read_png(regular_file(root, f"parts/{name}.png", where))
        full_of.update((int(k), m) for k, m in zip(amodal.get("part_ids", ()), amodal.get("part_masks", ())))

    d16, scale = depth_png(depth)
    (folder / "depth" / f"{im_id:06d}.png").write_bytes(encode_png(d16))
    link_or_copy(regular_file(root, f"images/{name}.png", where), folder / "rgb" / f"{im_id:06d}.png")
    camera = {"cam_K": K.ravel().tolist(), "cam_R_w2c": w2c[:3, :3].ravel().tolist(),
              "cam_t_w2c": (w2c[:3, 3] * 1000.0).tolist(), "depth_scale": scale}
    gts, infos, annotations = [], [], []
    near = float(meta.get("clip_start", 0.0))
    for gt_id, body in enumerate(bodies):
        pose = model_pose(w2c, body.mesh_to_world)
        R, t = np.asarray(pose["R"]), np.asarray(pose["t"])
        skey = _scale_key(pose["scale"])
        obj_id = obj_ids[(body.mesh, skey)]
        v, f, centre = mesh(body.mesh)
        t_mm = (t + R @ (np.asarray(skey) * centre)) * 1000.0
        gts.append({"obj_id": obj_id, "cam_R_m2c": R.ravel().tolist(), "cam_t_m2c": t_mm.tolist()})

        visib = (instance if body.link is None else parts) == body.id
        full = full_of.get(body.id)
        full = np.zeros_like(visib) if full is None else full.astype(bool)
        stem = f"{im_id:06d}_{gt_id:06d}.png"
        (folder / "mask" / stem).write_bytes(encode_png(full.astype(np.uint8) * 255))
        (folder / "mask_visib" / stem).write_bytes(encode_png(visib.astype(np.uint8) * 255))
        v_cam = (v * np.asarray(pose["scale"])) @ R.T + t
        count_all, box_all = count_all_and_box(v_cam, f, K, width, height, near, full)
        count_visib = int(visib.sum())
        infos.append({"bbox_obj": box_all if count_visib else [-1, -1, -1, -1],
                      "bbox_visib": bbox_bop(visib),
                      "px_count_all": count_all,
                      "px_count_valid": int((full & (d16 > 0)).sum()),
                      "px_count_visib": count_visib,
                      "visib_fract": count_visib / count_all if count_all else 0.0})
        if count_visib:
            annotations.append({
                "image_id": im_id, "category_id": obj_id, "iscrowd": 0,
                "area": count_visib, "bbox": bbox_coco(full), "segmentation": rle_counts(visib),
                "width": width, "height": height, "ignore": bool(infos[-1]["visib_fract"] < 0.1)})
    return {"camera": camera, "gt": gts, "info": infos, "annotations": annotations,
            "image": {"id": im_id, "file_name": f"rgb/{im_id:06d}.png", "width": width, "height": height}}
