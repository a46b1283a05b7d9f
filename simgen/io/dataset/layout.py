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
    DIR/<folder>/NNNNNN<suffix>      each optional label kind of output.labels that has a file
    DIR/previews/{instance,semantic,depth,normal,overlay,...}/NNNNNN.png   optional pictures

NNNNNN is the frame index zero-padded to 6 digits (more digits when larger). The per-frame
files are those of the label kinds (simgen.labels.kinds): the writer and read_frame iterate
over the registry.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from simgen.io.files import (
    PNG_PARAMS_SMOOTH,
    DurableBatch,
    atomic_write_bytes,
    dumps_json,
    encode_npy,
    encode_npz,
    encode_png,
    ensure_writable_dir,
    remove_stale_temps,
    read_json,
    read_npy,
    read_npz,
    read_png,
    write_json,
)
from simgen.safe_paths import inside, split_name
from simgen.io.names import COCO_JSON, DATASET_JSON, META_DIR
from simgen.io.dataset.coco_index import CocoIndex
from simgen.io.dataset.outdir import dataset_lock, frames_on_disk  # noqa: F401  (frames_on_disk: part of this module's API)
from simgen.io.formats.flow import encode_valid_png
from simgen.labels.frame import FrameLabels
from simgen.labels.flow import flow_to_color
from simgen.labels.kinds import ALWAYS_KINDS, LABEL_KINDS, LabelKind
from simgen.labels.preview import FRAME_PICTURES, overlay, pose_overlay

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import trimesh

    from simgen.io.formats.exporters import Exporter

FRAME_DIRS = (*(k.folder for k in ALWAYS_KINDS), META_DIR)
"""The folders every frame has a file in."""
ENCODERS = {".png": encode_png, ".npy": encode_npy, ".npz": encode_npz}
READERS = {".png": read_png, ".npy": read_npy, ".npz": read_npz}
"""Codec of each label-kind file suffix (simgen.labels.kinds.CODECS)."""


def frame_name(index: int) -> str:
    """Zero-padded file stem of frame ``index``: ``frame_name(42) == "000042"``."""
    index = int(index)
    if index < 0:
        raise ValueError(f"frame index must be >= 0, got {index}")
    return f"{index:06d}"


def kind_path(root: Path, kind: LabelKind, index: int) -> Path:
    """DIR/<folder>/NNNNNN<suffix> of label kind ``kind`` in frame ``index``."""
    return root / str(kind.folder) / f"{frame_name(index)}{kind.suffix}"


class DatasetWriter:
    """Writes frames, meshes and the COCO file of one dataset directory.

    Several writers (shards, resumed runs) may write disjoint frame indices into
    the same directory; :meth:`export` indexes whatever is on disk.
    """

    def __init__(self, root: str | os.PathLike, categories: list[dict], previews: bool = True,
                 kinds: Sequence[LabelKind] = ALWAYS_KINDS):
        self.root = ensure_writable_dir(root)
        stale = remove_stale_temps(self.root)
        if stale:
            log.info("removed %d temp file(s) that killed runs left in %s", len(stale), self.root)
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
        self.skeletons = {int(c["id"]): c.get("skeleton", []) for c in self.categories}
        self.previews = bool(previews)
        self._unsynced: set[Path] = set()
        """Folders that got a file since the last frame's meta (synced before the next meta)."""
        self._unsynced_lock = threading.Lock()  # frames are written on several threads
        self.kinds = list(kinds)
        """The label kinds written: the core ones and the optional ones of output.labels, resolved
        by the caller (simgen.labels.kinds.resolve)."""
        for d in (*(k.folder for k in self.kinds if k.folder), META_DIR, "models"):
            (self.root / d).mkdir(exist_ok=True)
        if self.previews:
            for name in self.preview_names:
                (self.root / "previews" / name).mkdir(parents=True, exist_ok=True)

    @property
    def preview_names(self) -> list[str]:
        return [k.name for k in self.kinds if k.preview] + list(FRAME_PICTURES)

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
        """Write every file of frame ``index``; the meta file goes last, once the others (and the
        folder entries of its flow fields and models) are durable: a frame with a meta file is
        complete even after a power cut. The same as :meth:`write_frame_files` then
        :meth:`commit_frame`."""
        self.write_frame_files(index, labels, meta)
        self.commit_frame(index, meta)

    def write_frame_files(self, index: int, labels: FrameLabels, meta: dict) -> None:
        """Every file of frame ``index`` but its meta (checked here; written by
        :meth:`commit_frame`), as one :class:`DurableBatch` whose data is durable before the
        renames (two syncfs calls on the usual local file systems, an fsync per file elsewhere).
        Frames may be written on several threads at once."""
        index = int(index)
        labels.check()
        self._check_meta(index, labels, meta)
        with DurableBatch() as batch:
            for kind in self.kinds:
                if kind.folder:
                    batch.add(kind_path(self.root, kind, index), ENCODERS[kind.suffix](labels[kind.name]))
            if self.previews:
                self._write_previews(batch, index, labels, meta["coco"]["annotations"])
            self._touched(*batch.commit(entries=False))

    def commit_frame(self, index: int, meta: dict) -> None:
        """Frame ``index``'s meta file, once the folder entries of every file renamed so far (its
        own among them) are durable: the frame is complete. Call in index order, on one thread
        at a time, after :meth:`write_frame_files` of the frame returned."""
        with self._unsynced_lock:
            folders, self._unsynced = sorted(self._unsynced), set()
        DurableBatch().commit(folders, last=(self.root / META_DIR / f"{frame_name(int(index))}.json",
                                             dumps_json(meta).encode("utf-8")))

    def _touched(self, *folders: Path) -> None:
        """Files were renamed into ``folders``: their entries are made durable before the next
        meta (:meth:`commit_frame`). Called after the renames, so a commit that misses a folder
        comes after them."""
        with self._unsynced_lock:
            self._unsynced.update(folders)

    def _write_previews(self, batch: DurableBatch, index: int, labels: FrameLabels, annotations: list[dict]) -> None:
        name = frame_name(index)
        pics = {k.name: k.preview(labels[k.name]) for k in self.kinds if k.preview}
        pics["overlay"] = overlay(labels.rgb, labels.instance, annotations, self.category_names)
        pics["pose"] = pose_overlay(labels.rgb, annotations, self.skeletons)
        for kind, pic in pics.items():
            batch.add(self.root / "previews" / kind / f"{name}.png", encode_png(pic))

    def write_flow(self, index: int, direction: str, flow: np.ndarray, valid: np.ndarray,
                   formats: Sequence[Exporter] = ()) -> dict[str, str]:
        """Write one flow field of frame ``index`` (call before :meth:`write_frame`).

        ``direction`` is "forward" or "backward". Always writes the lossless
        ``flow_<direction>/NNNNNN.npy`` (float32 H x W x 2) and
        ``flow_<direction>_valid/NNNNNN.png`` (255 = valid); ``formats`` adds the flow
        formats given, resolved by the caller (simgen.io.formats.exporters: ``flo``, ``kitti``);
        previews add a colour-wheel picture.
        Returns the written paths relative to the dataset root, by kind.
        """
        if direction not in ("forward", "backward"):
            raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
        name, d = frame_name(index), f"flow_{direction}"
        rel = {"flow": f"{d}/{name}.npy", "valid": f"{d}_valid/{name}.png"}
        exporters = list(formats)
        rel.update({e.name: str(e.flow_file).format(flow=d, name=name) for e in exporters})
        for r in rel.values():
            (self.root / r).parent.mkdir(parents=True, exist_ok=True)
        with DurableBatch() as batch:  # the frame's commit (write_frame) makes the renames durable
            batch.add(self.root / rel["flow"], encode_npy(np.asarray(flow, dtype=np.float32)))
            batch.add(self.root / rel["valid"], encode_valid_png(valid))
            if self.previews:
                (self.root / "previews" / d).mkdir(parents=True, exist_ok=True)
                batch.add(self.root / "previews" / d / f"{name}.png",
                          encode_png(flow_to_color(flow, valid), PNG_PARAMS_SMOOTH))
            self._touched(*batch.commit(entries=False))
        for e in exporters:  # each format writes its own file (an fsync each)
            e.write_flow(self.root / rel[e.name], flow, valid)
        self._touched(*((self.root / r).parent for r in rel.values()))
        return rel

    def frames_on_disk(self) -> list[int]:
        """Sorted indices of the complete frames (those with a meta file)."""
        return frames_on_disk(self.root)

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
            self._touched(target.parent)
        return rel.as_posix()

    # ------------------------------------------------------------------ indexes

    def index(self) -> CocoIndex:
        """The COCO index brought up to date with the frames on disk (see simgen.io.dataset.coco_index)."""
        index = CocoIndex(self.root, self.categories)
        index.update(self.frames_on_disk())
        return index

    def write_coco(self, info: dict | None = None) -> dict:
        """Write DIR/coco.json of every frame on disk and return its dictionary."""
        index = self.index()
        index.write_coco(self.root / COCO_JSON, info)
        return index.coco(info)

    def export(self, formats: Sequence[Exporter], index: CocoIndex | None = None,
               splits: Sequence[str] | None = None) -> CocoIndex:
        """Run the dataset formats given (simgen.io.formats.exporters.resolve: e.g. coco) over every
        frame on disk (``index``: an up-to-date index, else it is brought up to date); ``splits``: the
        dataset's split names in order (default: output.splits of DIR/dataset.json's config, then
        any other split a frame records). Returns the index they were given."""
        index = index if index is not None else self.index()
        if splits is None:
            splits = self.split_names()
        for e in formats:
            e.finish(self.root, index, list(splits))
        return index

    def split_names(self) -> list[str]:
        """The split names of output.splits in DIR/dataset.json's config, those of fraction 0 left
        out ([] if none)."""
        try:
            config = read_json(self.root / DATASET_JSON).get("config") or {}
        except (FileNotFoundError, ValueError):
            return []
        splits = (config.get("output") or {}).get("splits") or {}
        return [split_name(self.root, name, "dataset.json output.splits") for name, fraction in splits.items()
                if fraction]

    def build_coco(self, info: dict | None = None) -> dict:
        """The COCO dictionary of every complete frame on disk (for small datasets)."""
        return self.index().coco(info)

    def write_dataset_json(self, info: dict) -> None:
        write_json(self.root / DATASET_JSON, info, indent=2)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the dataset's lock (``DIR/logs/dataset.lock``, an exclusive ``flock``) while the
        block runs.

        Writers into one folder (shards, resumed runs) take it to list the frames on disk and
        rewrite the files built from that listing (coco.json, dataset.json), so the last
        writer's files list every frame and none is built from a stale listing. Frame files
        need no lock: each shard writes its own frames, atomically."""
        with dataset_lock(self.root):
            yield


RUN_KEYS = frozenset({"start", "frames", "output.dir", "output.upload", "output.previews", "output.overwrite",
                      "render.device", "render.device_index", "render.threads", "render.persistent_data",
                      "render.overlap", "render.recycle_every", "render.scratch_dir", "render.max_image_pixels"})
"""Config keys that may differ between runs writing into one dataset (shards, resumes, parts
merged as one run): which frames, where, on which device, how the work is spread."""


def config_fingerprint(config: dict) -> dict:
    """``config`` without :data:`RUN_KEYS` (and Hydra's own): what must be equal for two
    runs to write one dataset."""
    def strip(d: dict, prefix: str = "") -> dict:
        return {k: strip(v, f"{prefix}{k}.") if isinstance(v, dict) else v
                for k, v in d.items() if f"{prefix}{k}" not in RUN_KEYS}
    return strip({k: v for k, v in config.items() if k != "hydra"})


def read_frame(root: str | os.PathLike, index: int) -> dict[str, Any]:
    """Load every file of frame ``index``: each label kind with a file on disk (rgb, instance,
    semantic, depth, normal, and the optional kinds written) by name, and its meta."""
    root = Path(root)
    out: dict[str, Any] = {}
    where = f"frame {index}"  # a dataset given to read is data: its files stay inside it (simgen.safe_paths)
    for kind in LABEL_KINDS.values():
        path = inside(root, kind_path(Path(), kind, index).as_posix(), where) if kind.folder else None
        if path is not None and (kind.from_render or path.exists()):
            out[kind.name] = READERS[kind.suffix](path)
    out["meta"] = read_json(inside(root, f"{META_DIR}/{frame_name(index)}.json", where))
    return out
