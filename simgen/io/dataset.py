"""The dataset layout on disk.

::

    DIR/dataset.json                 run description (written by the caller)
    DIR/coco.json                    COCO instances file assembled from every meta/*.json
    DIR/images/NNNNNN.png            RGB 8-bit
    DIR/instance/NNNNNN.png          uint16 instance ids (0 = nothing hit)
    DIR/semantic/NNNNNN.png          uint16 COCO category ids (0 = background)
    DIR/depth/NNNNNN.npy             float32 (H, W) planar depth, inf = no hit
    DIR/normal/NNNNNN.npy            float32 (H, W, 3) camera-frame normals
    DIR/meta/NNNNNN.json             per-frame meta; written last, so its presence
                                     means the frame is complete
    DIR/models/...                   meshes (binary PLY)
    DIR/previews/{instance,semantic,depth,normal,overlay}/NNNNNN.png   optional pictures

NNNNNN is the frame index zero-padded to 6 digits (more digits when larger).
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from simgen import __version__
from simgen.io.files import (
    atomic_write_bytes,
    ensure_writable_dir,
    read_json,
    read_npy,
    read_png,
    write_json,
    write_npy,
    write_png,
)
from simgen.io.flow_formats import write_flo, write_kitti_flow, write_valid_png
from simgen.labels.core import FrameLabels
from simgen.labels.flow import flow_to_color
from simgen.labels.preview import colorize_ids, depth_preview, normal_preview, overlay

if TYPE_CHECKING:
    import trimesh

FRAME_DIRS = ("images", "instance", "semantic", "depth", "normal", "meta")
PREVIEW_KINDS = ("instance", "semantic", "depth", "normal", "overlay")
_FRAME_FILE = re.compile(r"^(\d{6,})\.json$")


def frame_name(index: int) -> str:
    """Zero-padded file stem of frame ``index``: ``frame_name(42) == "000042"``."""
    index = int(index)
    if index < 0:
        raise ValueError(f"frame index must be >= 0, got {index}")
    return f"{index:06d}"


def _frame_paths(root: Path, index: int) -> dict[str, Path]:
    name = frame_name(index)
    return {
        "rgb": root / "images" / f"{name}.png",
        "instance": root / "instance" / f"{name}.png",
        "semantic": root / "semantic" / f"{name}.png",
        "depth": root / "depth" / f"{name}.npy",
        "normal": root / "normal" / f"{name}.npy",
        "meta": root / "meta" / f"{name}.json",
    }


class DatasetWriter:
    """Writes frames, meshes and the COCO file of one dataset directory.

    Several writers (shards, resumed runs) may write disjoint frame indices into
    the same directory; :meth:`write_coco` assembles from whatever is on disk.
    """

    def __init__(self, root: str | os.PathLike, categories: list[dict], previews: bool = True):
        self.root = ensure_writable_dir(root)
        self.categories = [dict(c) for c in categories]
        ids = []
        for c in self.categories:
            if "id" not in c or "name" not in c:
                raise ValueError(f"category {c} needs an 'id' and a 'name'")
            if int(c["id"]) < 1:
                raise ValueError(f"category {c} must have an id >= 1 (0 means background)")
            ids.append(int(c["id"]))
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate category ids: {sorted(ids)}")
        self.category_names = {int(c["id"]): str(c["name"]) for c in self.categories}
        self.previews = bool(previews)
        for d in FRAME_DIRS + ("models",):
            (self.root / d).mkdir(exist_ok=True)
        if self.previews:
            for kind in PREVIEW_KINDS:
                (self.root / "previews" / kind).mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ frames

    def _check_meta(self, index: int, labels: FrameLabels, meta: dict) -> None:
        coco = meta.get("coco") if isinstance(meta, dict) else None
        if not isinstance(coco, dict) or "image" not in coco or "annotations" not in coco:
            raise ValueError('frame meta needs a "coco" entry {"image": ..., "annotations": [...]}')
        image = coco["image"]
        if int(image["id"]) != index + 1:
            raise ValueError(f"frame {index}: coco image id must be {index + 1}, got {image['id']}")
        if (int(image["width"]), int(image["height"])) != (labels.width, labels.height):
            raise ValueError(f"frame {index}: coco image size {image['width']}x{image['height']} "
                             f"does not match the labels' {labels.width}x{labels.height}")
        for ann in coco["annotations"]:
            if int(ann["image_id"]) != index + 1:
                raise ValueError(f"frame {index}: annotation {ann['id']} has image_id {ann['image_id']}")
            if int(ann["category_id"]) not in self.category_names:
                raise ValueError(f"frame {index}: annotation {ann['id']} has unknown category "
                                 f"{ann['category_id']} (known: {sorted(self.category_names)})")

    def write_frame(self, index: int, labels: FrameLabels, meta: dict) -> None:
        """Write every file of frame ``index``; the meta file goes last."""
        index = int(index)
        labels.check()
        self._check_meta(index, labels, meta)
        paths = _frame_paths(self.root, index)
        write_png(paths["rgb"], labels.rgb)
        write_png(paths["instance"], labels.instance)
        write_png(paths["semantic"], labels.semantic)
        write_npy(paths["depth"], labels.depth)
        write_npy(paths["normal"], labels.normal)
        if self.previews:
            self._write_previews(index, labels, meta["coco"]["annotations"])
        write_json(paths["meta"], meta)

    def _write_previews(self, index: int, labels: FrameLabels, annotations: list[dict]) -> None:
        name = frame_name(index)
        pics = {
            "instance": colorize_ids(labels.instance),
            "semantic": colorize_ids(labels.semantic),
            "depth": depth_preview(labels.depth),
            "normal": normal_preview(labels.normal),
            "overlay": overlay(labels.rgb, labels.instance, annotations, self.category_names),
        }
        for kind, pic in pics.items():
            write_png(self.root / "previews" / kind / f"{name}.png", pic)

    def write_flow(self, index: int, direction: str, flow: np.ndarray, valid: np.ndarray,
                   formats: Sequence[str] = ()) -> dict[str, str]:
        """Write one flow field of frame ``index`` (call before :meth:`write_frame`).

        ``direction`` is "forward" or "backward". Always writes the lossless
        ``flow_<direction>/NNNNNN.npy`` (float32 H x W x 2) and
        ``flow_<direction>_valid/NNNNNN.png`` (255 = valid); ``formats`` adds
        ``flo`` (``flow_<direction>/NNNNNN.flo``) and ``kitti``
        (``flow_<direction>_kitti/NNNNNN.png``); previews add a colour-wheel picture.
        Returns the written paths relative to the dataset root, by kind.
        """
        if direction not in ("forward", "backward"):
            raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
        name, d = frame_name(index), f"flow_{direction}"
        rel = {"flow": f"{d}/{name}.npy", "valid": f"{d}_valid/{name}.png"}
        if "flo" in formats:
            rel["flo"] = f"{d}/{name}.flo"
        if "kitti" in formats:
            rel["kitti"] = f"{d}_kitti/{name}.png"
        for r in rel.values():
            (self.root / r).parent.mkdir(parents=True, exist_ok=True)
        write_npy(self.root / rel["flow"], np.asarray(flow, dtype=np.float32))
        write_valid_png(self.root / rel["valid"], valid)
        if "flo" in rel:
            write_flo(self.root / rel["flo"], flow)
        if "kitti" in rel:
            write_kitti_flow(self.root / rel["kitti"], flow, valid)
        if self.previews:
            (self.root / "previews" / d).mkdir(parents=True, exist_ok=True)
            write_png(self.root / "previews" / d / f"{name}.png", flow_to_color(flow, valid))
        return rel

    def frames_on_disk(self) -> list[int]:
        """Sorted indices of the complete frames (those with a meta file)."""
        meta_dir = self.root / "meta"
        if not meta_dir.is_dir():
            return []
        out = []
        for entry in os.scandir(meta_dir):
            m = _FRAME_FILE.match(entry.name)
            if m and entry.is_file():
                out.append(int(m.group(1)))
        return sorted(out)

    # ------------------------------------------------------------------ models

    def write_model(self, relpath: str, mesh: trimesh.Trimesh) -> str:
        """Export ``mesh`` as binary PLY to DIR/relpath unless that file exists; returns relpath (posix)."""
        rel = PurePosixPath(str(relpath).replace("\\", "/"))
        if rel.is_absolute() or not rel.parts or ".." in rel.parts:
            raise ValueError(f"model path must be relative and inside the dataset dir, got {relpath!r}")
        target = self.root.joinpath(*rel.parts)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            data = mesh.export(file_type="ply", encoding="binary")
            atomic_write_bytes(target, data)
        return rel.as_posix()

    # ------------------------------------------------------------------ indexes

    def write_coco(self, info: dict | None = None) -> dict:
        """Assemble DIR/coco.json from every meta/*.json on disk and return it."""
        images, annotations = [], []
        for index in self.frames_on_disk():
            meta = read_json(self.root / "meta" / f"{frame_name(index)}.json")
            coco = meta["coco"]
            image = dict(coco["image"])
            image["file_name"] = f"images/{frame_name(index)}.png"
            images.append(image)
            annotations.extend(coco["annotations"])
        images.sort(key=lambda im: im["id"])
        annotations.sort(key=lambda a: a["id"])
        for what, items in (("image", images), ("annotation", annotations)):
            ids = [it["id"] for it in items]
            dup = sorted({i for i, j in zip(ids, ids[1:]) if i == j})
            if dup:
                raise ValueError(f"duplicate {what} ids in {self.root / 'meta'}: {dup[:10]}")
        if info is None:
            info = {"description": "simgen synthetic dataset", "version": __version__}
        coco = {
            "info": dict(info),
            "licenses": [],
            "images": images,
            "annotations": annotations,
            "categories": self.categories,
        }
        write_json(self.root / "coco.json", coco)
        return coco

    def write_dataset_json(self, info: dict) -> None:
        write_json(self.root / "dataset.json", info, indent=2)


def read_frame(root: str | os.PathLike, index: int) -> dict[str, Any]:
    """Load every file of frame ``index``: rgb, instance, semantic, depth, normal, meta."""
    paths = _frame_paths(Path(root), int(index))
    return {
        "rgb": read_png(paths["rgb"]),
        "instance": read_png(paths["instance"]),
        "semantic": read_png(paths["semantic"]),
        "depth": read_npy(paths["depth"]),
        "normal": read_npy(paths["normal"]),
        "meta": read_json(paths["meta"]),
    }
