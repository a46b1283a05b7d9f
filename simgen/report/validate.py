"""``simgen validate DIR``: every consistency check a user would otherwise write before
training on a dataset; exit status 0 when clean, 1 with a short report of the problems.

Checks (docs/dataset.md is the contract):

- ``dataset.json`` parses and lists exactly the frames on disk (those with a meta file);
- every frame has each file of its label kinds (simgen.labels.kinds: the core kinds and the
  optional ones of ``output.labels``) and the flow files its meta names, each readable with
  its documented dtype and shape (PNG: signature, IHDR size, bit depth and colour type, and
  an intact end; .npy: header dtype and shape, and the file as long as the header says);
- meta: its ``index`` is the file's, its size that of the COCO image and of dataset.json's
  ``render`` (unless the dataset was merged from runs of different configs);
- coco.json: parses; its categories are dataset.json's, with unique ids; one image per frame
  (unique ids, ``file_name`` the frame's image, existing; width and height those of the
  frame); annotation ids unique, each on a known image with a known category, ``iscrowd``
  0 or 1; the same annotation ids as the frame's meta;
- COCO against the label maps: each annotation's RLE is the image's size, its ``area`` and
  ``bbox`` are those of the RLE, and its mask is exactly the pixels of one instance id of
  ``instance/`` (every pixel of that id, no other); no id annotated twice in a frame;
- depth is finite and positive, or ``inf`` (no hit); no NaN;
- ``--full`` (the per-pixel checks): every PNG decodes; the semantic map is each annotated
  instance's category, and 0 on unannotated instances; every instance with a non-zero
  semantic id is annotated; depth is ``inf`` exactly where nothing was hit (instance 0);
  normals are unit length where hit and 0 elsewhere; flow is finite wherever its valid mask
  (values 0 or 255) says valid; amodal masks are (N, H, W) bool and hold the visible mask; each
  pixel's part (``parts/``) is of the object the instance map has there.

Frames are checked in worker processes, one frame in memory per worker.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zipfile
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_util

from simgen.io.dataset.layout import frame_name
from simgen.errors import SimgenError
from simgen.safe_paths import inside
from simgen.io.files import read_npy, read_npz, read_png
from simgen.io.names import COCO_JSON, DATASET_JSON, META_DIR
from simgen.labels.frame import annotation_rle, instances_of_parts, meta_part_of
from simgen.labels.kinds import LABEL_KINDS, LabelKind
from simgen.report.dataset import Dataset, annotations_of

SHOW = 5
"""Problems listed per kind in the report (the count is always given)."""
BATCH = 64
"""Frames per task of a worker process."""
UNIT_TOLERANCE = 1e-3
"""|length - 1| allowed for a normal (they are stored as float32, renormalized averages)."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_PNG_COLOR = {1: 0, 3: 2, 4: 6}  # channels -> IHDR colour type (grey, RGB, RGBA)


@dataclass
class Report:
    """Problems by kind: a count and the first :data:`SHOW` messages of each."""

    frames: int = 0
    counts: dict = field(default_factory=dict)
    first: dict = field(default_factory=lambda: defaultdict(list))

    def add(self, kind: str, message: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.first[kind]) < SHOW:
            self.first[kind].append(message)

    def merge(self, problems: list[tuple[str, str]]) -> None:
        for kind, message in problems:
            self.add(kind, message)

    @property
    def ok(self) -> bool:
        return not self.counts

    def text(self, root: Path, full: bool) -> str:
        checks = "all checks" if full else "default checks (--full adds the per-pixel ones)"
        if self.ok:
            return f"simgen validate: {root}: {self.frames} frame(s), no problems ({checks})"
        total = sum(self.counts.values())
        lines = [f"simgen validate: {root}: {self.frames} frame(s), {total} problem(s) of "
                 f"{len(self.counts)} kind(s) ({checks}):"]
        for kind in sorted(self.counts):
            n = self.counts[kind]
            lines.append(f"  {kind}: {n}")
            lines += [f"    {m}" for m in self.first[kind]]
            if n > len(self.first[kind]):
                lines.append(f"    ... and {n - len(self.first[kind])} more")
        return "\n".join(lines)


# ------------------------------------------------------------------ file checks


def _png_header(path: Path) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) of a PNG with an intact end; ValueError otherwise."""
    with open(path, "rb") as f:
        head = f.read(29)
        if len(head) < 29 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
            raise ValueError("not a PNG")
        f.seek(0, os.SEEK_END)
        if f.tell() < 29 + 12:
            raise ValueError("truncated PNG")
        f.seek(-12, os.SEEK_END)
        if f.read(12) != _PNG_END:
            raise ValueError("truncated PNG (no IEND at the end)")
    w, h, depth, color = struct.unpack(">IIBB", head[16:26])
    return w, h, depth, color


_NPY_HEADER = re.compile(rb"^\{'descr': '([<>|]?[a-z]\d+)', 'fortran_order': False, 'shape': \(([\d, ]*)\), \}\s*$")


def _npy_header(path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """(dtype, shape) of an .npy whose length matches its header; ValueError otherwise."""
    with open(path, "rb") as f:
        head = f.read(10)
        f.seek(0, os.SEEK_END)
        size = f.tell()
        m = None
        if head[:6] == b"\x93NUMPY" and head[6] == 1:  # numpy's usual header, parsed without eval
            offset = 10 + struct.unpack("<H", head[8:10])[0]
            f.seek(10)
            m = _NPY_HEADER.match(f.read(offset - 10))
        if m is not None:
            dtype = np.dtype(m.group(1).decode())
            shape = tuple(int(v) for v in m.group(2).decode().replace(" ", "").split(",") if v)
        else:
            f.seek(0)
            try:
                version = np.lib.format.read_magic(f)
                shape, fortran, dtype = np.lib.format._read_array_header(f, version)  # noqa: SLF001
            except Exception as e:  # numpy raises ValueError or others on garbage
                raise ValueError(f"not an .npy file ({e})") from None
            offset = f.tell()
    need = offset + dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    if size != need:
        raise ValueError(f"truncated .npy ({size} bytes, the header needs {need})")
    return dtype, tuple(shape)


def _shape_of(kind_channels: int, h: int, w: int) -> tuple[int, ...]:
    return (h, w) if kind_channels == 0 else (h, w, kind_channels)


class FrameCheck:
    """The checks of one frame; ``problems`` collects (kind, message)."""

    def __init__(self, root: Path, index: int, kinds: list[LabelKind], full: bool):
        self.root, self.index, self.kinds, self.full = root, index, kinds, full
        self.name = frame_name(index)
        self.problems: list[tuple[str, str]] = []

    def bad(self, kind: str, message: str) -> None:
        self.problems.append((kind, f"frame {self.index}: {message}"))

    def _file(self, rel: str) -> Path | None:
        try:
            path = inside(self.root, rel, f"frame {self.index}")
        except SimgenError as e:
            self.bad("path out of the dataset", str(e))
            return None
        if not path.is_file():
            self.bad("missing file", rel)
            return None
        return path

    def png(self, rel: str, h: int, w: int, dtype: str, channels: int) -> np.ndarray | None:
        """Header check of a PNG (and, with ``full``, its decoded array); None if bad."""
        path = self._file(rel)
        if path is None:
            return None
        try:
            pw, ph, depth, color = _png_header(path)
        except (OSError, ValueError) as e:
            self.bad("unreadable file", f"{rel}: {e}")
            return None
        want_depth = 16 if dtype == "uint16" else 8
        if (pw, ph) != (w, h) or depth != want_depth or color != _PNG_COLOR[max(channels, 1)]:
            self.bad("wrong shape or dtype", f"{rel}: {pw}x{ph} {depth}-bit colour type {color}, expected "
                     f"{w}x{h} {want_depth}-bit colour type {_PNG_COLOR[max(channels, 1)]}")
            return None
        return self.decode_png(rel, path, h, w, dtype, channels) if self.full else np.empty(0)

    def decode_png(self, rel: str, path: Path, h: int, w: int, dtype: str, channels: int) -> np.ndarray | None:
        try:
            a = read_png(path)
        except (OSError, ValueError) as e:
            self.bad("unreadable file", f"{rel}: {e}")
            return None
        if a.shape != _shape_of(channels, h, w) or a.dtype != np.dtype(dtype):
            self.bad("wrong shape or dtype", f"{rel}: decodes to {a.dtype} {a.shape}")
            return None
        return a

    def npy(self, rel: str, shape: tuple[int, ...] | None, dtype: str, load: bool) -> np.ndarray | None:
        """Header check of an .npy (``shape`` None: any; and with ``load``, the array); None if bad."""
        path = self._file(rel)
        if path is None:
            return None
        try:
            got_dtype, got_shape = _npy_header(path)
        except (OSError, ValueError) as e:
            self.bad("unreadable file", f"{rel}: {e}")
            return None
        if (shape is not None and got_shape != shape) or got_dtype != np.dtype(dtype):
            self.bad("wrong shape or dtype", f"{rel}: {got_dtype} {got_shape}, expected {dtype} {shape}")
            return None
        return read_npy(path) if load else np.empty(0)

    # ---------------------------------------------------------------- the frame
    def run(self, anns: list[dict], image: dict | None, size: tuple[int, int] | None) -> None:
        try:
            meta = json.loads((self.root / META_DIR / f"{self.name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            self.bad("unreadable file", f"meta/{self.name}.json: {e}")
            return
        if meta.get("index") != self.index:
            self.bad("meta", f"meta index {meta.get('index')!r} is not the file's {self.index}")
        try:
            h, w = int(meta["height"]), int(meta["width"])
        except (KeyError, TypeError, ValueError):
            self.bad("meta", "meta has no width/height")
            return
        if size is not None and (h, w) != size:
            self.bad("meta", f"meta size {w}x{h} is not dataset.json's render size {size[1]}x{size[0]}")
        if image is not None and (image.get("height"), image.get("width")) != (h, w):
            self.bad("COCO image", f"coco.json size {image.get('width')}x{image.get('height')} is not the frame's {w}x{h}")
        meta_ids = sorted(a.get("id") for a in annotations_of(meta))
        if image is not None and sorted(a.get("id") for a in anns) != meta_ids:
            self.bad("coco.json vs meta", f"annotation ids in coco.json {sorted(a.get('id') for a in anns)[:6]} "
                     f"are not those of the frame's meta {meta_ids[:6]}")

        arrays: dict[str, Any] = {}
        for kind in self.kinds:
            rel = f"{kind.folder}/{self.name}{kind.suffix}"
            if kind.suffix == ".png":
                arrays[kind.name] = self.png(rel, h, w, kind.dtype, kind.channels)
            elif kind.suffix == ".npy":
                shape = _shape_of(kind.channels, h, w) if kind.channels >= 0 else (
                    (len(meta.get("lights", [])) + 2, h, w, 3) if kind.name == "lights" else None)
                arrays[kind.name] = self.npy(rel, shape, kind.dtype, load=kind.name == "depth" or self.full)
            else:
                arrays[kind.name] = self.npz(rel)
        instance = arrays.get("instance")
        if instance is not None and instance.size == 0:  # header checked only: decode it (COCO checks)
            instance = self.decode_png(f"instance/{self.name}.png", self.root / "instance" / f"{self.name}.png",
                                       h, w, "uint16", 0)
        self.depth(arrays.get("depth"), instance)
        self.coco(anns, h, w, instance, arrays.get("semantic"))
        if self.full:
            self.normal(arrays.get("normal"), instance)
            self.amodal(arrays.get("amodal"), anns, h, w, instance)
            self.parts(arrays.get("parts"), instance, meta)
        self.flow(meta, h, w)
        self.lidar(meta)

    def lidar(self, meta: dict) -> None:
        """sensor.lidar: the scan's files (simgen.io.formats.lidar) hold the meta's points: the KITTI
        .bin 16 bytes a point, the PLY as many records; with ``full``, the same x, y, z and intensity in
        both, finite, within the scanner's range, on its rings."""
        from simgen.io.formats.lidar import read_ply, scan_files

        scan = (meta.get("sensor") or {}).get("lidar")
        if not isinstance(scan, dict):
            return
        files = scan_files(self.index)
        kitti, ply = self._file(files["kitti"]), self._file(files["ply"])
        if kitti is None or ply is None:
            return
        n = int(scan.get("points", -1))
        if kitti.stat().st_size != 16 * n:
            self.bad("lidar", f"{files['kitti']}: {kitti.stat().st_size} bytes, not 16 a point for the meta's {n}")
            return
        try:
            cloud = read_ply(ply)
        except (OSError, ValueError, AttributeError) as e:
            self.bad("unreadable file", f"{files['ply']}: {e}")
            return
        if len(cloud["x"]) != n:
            self.bad("lidar", f"{files['ply']}: {len(cloud['x'])} points, the meta says {n}")
            return
        if not self.full:
            return
        points = np.fromfile(kitti, "<f4").reshape(-1, 4)
        if not np.array_equal(points, np.stack([cloud[k] for k in ("x", "y", "z", "intensity")], -1)):
            self.bad("lidar", f"{files['kitti']} and {files['ply']} hold different points")
        far = float(scan.get("max_range", np.inf)) + 6 * float(scan.get("range_sigma", 0.0)) + 1e-3
        if not (np.isfinite(cloud["range"]).all() and (cloud["range"] <= far).all()
                and (cloud["ring"] < int(scan.get("rings", 0))).all()):
            self.bad("lidar", f"{files['ply']}: ranges past {far:g} m, not finite, or rings past the scanner's")

    def npz(self, rel: str) -> Any:
        path = self._file(rel)
        if path is None:
            return None
        try:
            if not self.full:
                with zipfile.ZipFile(path) as z:
                    z.namelist()
                return None
            return read_npz(path)
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            self.bad("unreadable file", f"{rel}: {e}")
            return None

    def parts(self, parts: np.ndarray | None, instance: np.ndarray | None, meta: dict) -> None:
        """Each pixel's part is of the object the instance map has there: a link's id (the meta's
        ``parts``) on its object's pixels, any other object's own instance id."""
        if parts is None or instance is None or not parts.size or not instance.size:
            return
        wrong = int(np.count_nonzero(instances_of_parts(parts, meta_part_of(meta)) != instance))
        if wrong:
            self.bad("parts vs instance", f"parts/{self.name}.png: {wrong} pixel(s) whose part is not of the object "
                     "the instance map has there (the meta's parts name each link's object)")

    def depth(self, depth: np.ndarray | None, instance: np.ndarray | None) -> None:
        if depth is None:
            return
        nan = int(np.count_nonzero(np.isnan(depth)))
        bad = int(np.count_nonzero(~np.isnan(depth) & ~(depth > 0)))  # <= 0 or -inf
        if nan or bad:
            self.bad("depth not finite", f"depth/{self.name}.npy: {nan} NaN and {bad} non-positive pixel(s) "
                     "(valid: finite > 0, or inf where nothing is hit)")
        if self.full and instance is not None:
            wrong = int(np.count_nonzero(np.isinf(depth) != (instance == 0)))
            if wrong:
                self.bad("depth vs instance", f"depth/{self.name}.npy: {wrong} pixel(s) where inf (no hit) "
                         "disagrees with instance 0")

    def coco(self, anns: list[dict], h: int, w: int, instance: np.ndarray | None,
             semantic: np.ndarray | None) -> None:
        """Each annotation against its RLE and the instance map: its mask must be exactly the
        pixels of one instance id (the id under its first pixel): the RLE of that id's pixels,
        encoded here, must be the annotation's, byte for byte."""
        pairs = None
        if self.full and instance is not None and semantic is not None and semantic.size:
            both = np.unique((instance.astype(np.int64) << 16) | semantic.astype(np.int64))
            pairs = (both >> 16, both & 0xFFFF)
        flat = instance.ravel(order="F") if instance is not None else None  # a copy: pixel k of the RLE
        todo: list[tuple[Any, dict, bytes, int, int]] = []
        for a in anns:
            aid = a.get("id")
            try:
                rle = annotation_rle(a, h, w)
                if [int(v) for v in rle["size"]] != [h, w]:
                    self.bad("COCO annotation", f"annotation {aid}: segmentation size {rle['size']} is not {h}x{w}")
                    continue
                area = int(mask_util.area(rle))
                box = [float(v) for v in mask_util.toBbox(rle)]
                first = first_count(rle["counts"])
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
                self.bad("COCO annotation", f"annotation {aid}: unreadable segmentation ({e})")
                continue
            if a.get("area") != area:
                self.bad("COCO area", f"annotation {aid}: area {a.get('area')} but its mask has {area} pixels")
            bbox = a.get("bbox")
            if not isinstance(bbox, list) or len(bbox) != 4 or any(abs(float(u) - v) > 1e-6 for u, v in zip(bbox, box)):
                self.bad("COCO bbox", f"annotation {aid}: bbox {bbox} but its mask's box is {box}")
            if a.get("iscrowd") not in (0, 1):
                self.bad("COCO annotation", f"annotation {aid}: iscrowd {a.get('iscrowd')!r} is not 0 or 1")
            if area == 0 or not 0 <= first < h * w:
                self.bad("COCO mask vs instance map", f"annotation {aid}: empty mask")
                continue
            if flat is not None:
                todo.append((aid, a, rle["counts"], area, int(flat[first])))
        if not todo or instance is None:
            return
        columns = np.ascontiguousarray(instance.T)  # column-major pixel order, as COCO's RLE
        stack = np.empty((len(todo), w, h), np.bool_)
        for k, t in enumerate(todo):
            np.equal(columns, t[4], out=stack[k])
        encoded = mask_util.encode(stack.view(np.uint8).transpose(2, 1, 0))  # (H, W, N), Fortran order: no copy
        seen: dict[int, Any] = {}
        for (aid, a, counts, area, iid), enc in zip(todo, encoded):
            if iid == 0 or enc["counts"] != counts:
                self.bad("COCO mask vs instance map", f"annotation {aid}: its mask ({area} px) is not the pixels "
                         f"of instance {iid} in the instance map ({int(mask_util.area(enc))} px)")
                continue
            if iid in seen:
                self.bad("duplicate instance", f"instance {iid} is annotated twice (annotations {seen[iid]}, {aid})")
            seen[iid] = aid
            if pairs is not None:
                cats = pairs[1][pairs[0] == iid]
                if cats.tolist() != [a.get("category_id")]:
                    self.bad("COCO category vs semantic map", f"annotation {aid}: category {a.get('category_id')} "
                             f"but the semantic map holds {cats[:6].tolist()} on its pixels")
        if pairs is not None:
            ids_, cats = pairs
            unannotated = sorted(set(ids_[(cats != 0) & (ids_ != 0)].tolist()) - set(seen))
            if unannotated:
                self.bad("unannotated instance", f"instance id(s) {unannotated[:6]} have a category in semantic/ "
                         "but no annotation")
            if np.count_nonzero((ids_ == 0) & (cats != 0)):
                self.bad("COCO category vs semantic map", "semantic ids where the instance map is 0")

    def normal(self, normal: np.ndarray | None, instance: np.ndarray | None) -> None:
        if normal is None or instance is None or normal.size == 0:
            return
        hit = instance != 0
        length = np.linalg.norm(normal, axis=-1)
        bad = int(np.count_nonzero(hit & ~(np.abs(length - 1) <= UNIT_TOLERANCE)))
        bad += int(np.count_nonzero(~hit & (length != 0)))
        if bad:
            self.bad("normal", f"normal/{self.name}.npy: {bad} pixel(s) not unit length where hit or not 0 elsewhere")

    def amodal(self, value: Any, anns: list[dict], h: int, w: int, instance: np.ndarray | None) -> None:
        if not isinstance(value, dict):
            return
        ids, masks = value.get("instance_ids"), value.get("masks")
        if ids is None or masks is None or masks.ndim != 3 or masks.shape[1:] != (h, w) or masks.dtype != bool \
                or len(ids) != masks.shape[0]:
            self.bad("amodal", f"amodal/{self.name}.npz: instance_ids and masks (N, {h}, {w}) bool expected")
            return
        if instance is not None:
            for k, iid in enumerate(ids.tolist()):
                if np.count_nonzero((instance == iid) & ~masks[k]):
                    self.bad("amodal", f"amodal/{self.name}.npz: the amodal mask of instance {iid} misses "
                             "visible pixels")

    def flow(self, meta: dict, h: int, w: int) -> None:
        for direction, files in (meta.get("flow") or {}).items():
            if files is None:  # the end of a sequence: no frame in that direction
                continue
            if not isinstance(files, dict) or "flow" not in files:
                self.bad("flow", f"meta flow entry {direction!r} names no file")
                continue
            flow = self.npy(files["flow"], (h, w, 2), "float32", load=self.full)
            valid = None
            if "valid" in files:
                valid = self.png(files["valid"], h, w, "uint8", 0)
            if not self.full or flow is None or valid is None:
                continue
            if not np.isin(valid, (0, 255)).all():
                self.bad("flow", f"{files['valid']}: values other than 0 and 255")
            bad = int(np.count_nonzero((valid != 0) & ~np.isfinite(flow).all(axis=-1)))
            if bad:
                self.bad("flow", f"{files['flow']}: {bad} valid pixel(s) with non-finite flow")


def first_count(s: bytes | str) -> int:
    """The first run length of a compressed COCO RLE string (pycocotools' rleFrString): the
    number of 0 pixels, column-major, before the mask's first pixel. 5-bit groups, least
    significant first; 0x20 = more to come; 0x10 in the last group = negative."""
    if isinstance(s, str):
        s = s.encode("ascii")
    x, k = 0, 0
    for byte in s:
        c = byte - 48
        if not 0 <= c < 64:
            raise ValueError("not a compressed RLE string")
        x |= (c & 0x1F) << (5 * k)
        k += 1
        if not c & 0x20:
            return x - (1 << (5 * k)) if c & 0x10 else x
    raise ValueError("not a compressed RLE string")


def check_batch(root: str, items: list[tuple[int, list[dict], dict | None]], kind_names: list[str],
                size: tuple[int, int] | None, full: bool) -> list[tuple[str, str]]:
    """The problems of a batch of frames (run in a worker process)."""
    kinds = [LABEL_KINDS[n] for n in kind_names]
    out: list[tuple[str, str]] = []
    for index, anns, image in items:
        c = FrameCheck(Path(root), index, kinds, full)
        try:
            c.run(anns, image, size)
        except Exception as e:  # a check must never stop the others: report it as a problem
            c.bad("unreadable file", f"{type(e).__name__}: {e}")
        out += c.problems
    return out


# ------------------------------------------------------------------ the dataset


def _frame_of_file(name: Any) -> int | None:
    stem = Path(str(name)).name
    if not stem.endswith(".png") or not stem[:-4].isdigit():
        return None
    return int(stem[:-4])


def validate(root: str | os.PathLike, full: bool = False, jobs: int = 0) -> Report:
    """Check the dataset at ``root``; a Report of every problem found (SimgenError if
    ``root`` is no dataset at all)."""
    ds = Dataset(root)
    report = Report(frames=len(ds.frames))
    listed = ds.info.get("frames")
    if listed is not None and list(listed) != ds.frames:
        extra, missing = sorted(set(listed) - set(ds.frames)), sorted(set(ds.frames) - set(listed))
        report.add(DATASET_JSON, f"dataset.json frames differ from the frames on disk: listed but not on disk "
                   f"{extra[:6]}, on disk but not listed {missing[:6]}")
    given: dict[str, str] = {}  # a kind's name -> how output.labels names it (a plugin's dotted path too)
    unknown = []
    for n in ds.labels:
        try:
            given[LABEL_KINDS.get(n).name] = n
        except SimgenError:
            unknown.append(n)
    if unknown:
        report.add(DATASET_JSON, f"unknown label kinds in output.labels: {unknown}")
    # as output.labels names them: the worker processes look them up again
    kinds = [given.get(k.name, k.name) for k in LABEL_KINDS.values() if k.folder and (k.from_render or k.name in given)]
    render = ds.config.get("render") or {}
    size = None
    if "merged_from" not in ds.info and isinstance(render.get("width"), int) and isinstance(render.get("height"), int):
        size = (render["height"], render["width"])

    per_frame, images = _check_coco(ds, report)
    frames = ds.frames
    items = [(i, per_frame.get(i, []), images.get(i)) for i in frames]
    batches = [items[k:k + BATCH] for k in range(0, len(items), BATCH)]
    jobs = jobs or (os.cpu_count() or 1)
    args = (str(ds.root), kinds, size, full)
    if jobs <= 1 or len(batches) <= 1:
        for b in batches:
            report.merge(check_batch(args[0], b, *args[1:]))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(check_batch, args[0], b, *args[1:]) for b in batches]
            for f in futures:
                report.merge(f.result())
    return report


def _check_coco(ds: Dataset, report: Report) -> tuple[dict[int, list[dict]], dict[int, dict]]:
    """Check coco.json as a whole; return its annotations and images by frame index."""
    candidates = [ds.root / COCO_JSON, *sorted((ds.root / "annotations").glob("instances*.json"))]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        report.add(COCO_JSON, "coco.json is missing")
        return {}, {}
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
        images, anns, categories = coco["images"], coco["annotations"], coco["categories"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        report.add(COCO_JSON, f"coco.json is not a COCO file: {e}")
        return {}, {}
    cat_ids = [c.get("id") for c in categories]
    if len(set(cat_ids)) != len(cat_ids):
        report.add(COCO_JSON, f"category ids are not unique: {cat_ids}")
    if [(c.get("id"), c.get("name")) for c in categories] != [(c["id"], c["name"]) for c in ds.categories]:
        report.add(COCO_JSON, "coco.json's categories are not dataset.json's")
    known_cats = set(cat_ids)
    by_id: dict[Any, int] = {}
    by_frame: dict[int, dict] = {}
    on_disk = set(ds.frames)
    for img in images:
        iid, name = img.get("id"), img.get("file_name")
        if iid in by_id:
            report.add("COCO image", f"image id {iid} is used twice")
            continue
        index = _frame_of_file(name)
        if index is None or index not in on_disk:
            report.add("COCO image", f"image {iid}: file_name {name!r} is not the image of a frame on disk")
            continue
        if index in by_frame:
            report.add("COCO image", f"frame {index} has two image records ({by_frame[index].get('id')}, {iid})")
            continue
        try:
            found = any(inside(base, name, f"{path.name} image {iid} file_name").is_file()
                        for base in (ds.root, path.parent, ds.root / "images"))
        except SimgenError as e:
            report.add("COCO image", str(e))
            continue
        if not found:
            report.add("COCO image", f"image {iid}: {name} does not exist")
        by_id[iid] = index
        by_frame[index] = img
    for i in ds.frames:
        if i not in by_frame:
            report.add("COCO image", f"frame {i} has no image in coco.json")
    per_frame: dict[int, list[dict]] = defaultdict(list)
    seen: set = set()
    for a in anns:
        aid = a.get("id")
        if aid in seen:
            report.add("duplicate annotation id", f"annotation id {aid} is used more than once")
        seen.add(aid)
        if a.get("category_id") not in known_cats:
            report.add("unknown category", f"annotation {aid}: category_id {a.get('category_id')!r} is not in categories")
        index = by_id.get(a.get("image_id"))
        if index is None:
            report.add("COCO annotation", f"annotation {aid}: image_id {a.get('image_id')!r} is not an image")
            continue
        per_frame[index].append(a)
    return per_frame, by_frame
