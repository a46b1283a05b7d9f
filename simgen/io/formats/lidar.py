"""A LiDAR scan's files (sensor.lidar; :mod:`simgen.sensors.lidar` makes the points):

- ``lidar/NNNNNN.bin``: KITTI's Velodyne layout, as its devkit (``readme.txt`` of the object
  benchmark, ``velodyne/*.bin``) describes it: every point four little-endian float32 values
  ``x, y, z, reflectance`` one after the other, no header; the scanner's frame (x forward, y left,
  z up), metres; reflectance in [0, 1] (here the points' intensity). Read back with
  ``np.fromfile(path, "<f4").reshape(-1, 4)``.
- ``lidar/NNNNNN.ply``: every field of every point (:data:`simgen.sensors.lidar.FIELDS`): a PLY
  file (Paul Bourke's format, ``format binary_little_endian 1.0``) whose ASCII header names one
  ``vertex`` element with a property per field, its PLY type from the field's dtype.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simgen.io.exr import BACKGROUND_DEPTH, NORMAL_AOV, _channels
from simgen.io.files import DurableBatch
from simgen.sensors.lidar import FIELD_TYPES, FIELDS, Returns

FOLDER = "lidar"
"""The dataset folder of the scans' files (docs/how-to/sensors.md)."""

PLY_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(np.uint8): "uchar",
             np.dtype(np.uint16): "ushort", np.dtype(np.int32): "int", np.dtype(np.uint32): "uint"}
"""PLY's name of each numpy dtype a cloud's fields have."""


def encode_kitti_bin(cloud: dict[str, np.ndarray]) -> bytes:
    """KITTI's ``velodyne/*.bin`` bytes of ``cloud``: (N, 4) little-endian float32 x, y, z, intensity."""
    return np.stack([cloud[k] for k in ("x", "y", "z", "intensity")], axis=-1).astype("<f4").tobytes()


def ply_dtype() -> np.dtype:
    """The PLY body's record: one little-endian value per field, in :data:`FIELDS`' order."""
    return np.dtype([(k, np.dtype(FIELD_TYPES[k]).newbyteorder("<")) for k in FIELDS])


def encode_ply(cloud: dict[str, np.ndarray], comment: str = "simgen LiDAR scan") -> bytes:
    """Binary little-endian PLY bytes of ``cloud`` (every field of :data:`FIELDS`)."""
    n = len(cloud["x"])
    lines = ["ply", "format binary_little_endian 1.0", f"comment {comment}", f"element vertex {n}"]
    lines += [f"property {PLY_TYPES[np.dtype(FIELD_TYPES[k])]} {k}" for k in FIELDS]
    lines.append("end_header")
    body = np.empty(n, ply_dtype())
    for k in FIELDS:
        body[k] = cloud[k]
    return ("\n".join(lines) + "\n").encode("ascii") + body.tobytes()


def read_ply(path: str | Path) -> dict[str, np.ndarray]:
    """The fields of a PLY file :func:`encode_ply` wrote, by name."""
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii")
    n = int(re.search(r"element vertex (\d+)", header).group(1))
    names = re.findall(r"property \w+ (\w+)", header)
    if names != list(FIELDS):
        raise ValueError(f"{path}: PLY properties {names} are not simgen's LiDAR fields {list(FIELDS)}")
    body = np.frombuffer(data, ply_dtype(), count=n, offset=end)
    return {k: body[k].copy() for k in FIELDS}


def scan_files(index: int) -> dict[str, str]:
    """The files of frame ``index``'s scan, relative to the dataset root, by format."""
    return {"kitti": f"{FOLDER}/{index:06d}.bin", "ply": f"{FOLDER}/{index:06d}.ply"}


def write_scan(root: Path, index: int, cloud: dict[str, np.ndarray]) -> tuple[dict[str, str], list[Path]]:
    """Write frame ``index``'s scan under ``root`` (each file complete under its name: written to a
    temporary name and renamed); returns its files (:func:`scan_files`) and the folders whose
    entries the frame's commit must make durable."""
    rel = scan_files(index)
    (Path(root) / FOLDER).mkdir(parents=True, exist_ok=True)
    with DurableBatch() as batch:
        batch.add(Path(root) / rel["kitti"], encode_kitti_bin(cloud))
        batch.add(Path(root) / rel["ply"], encode_ply(cloud))
        folders = batch.commit(entries=False)
    return rel, list(folders)


ALBEDO_PASS = "Diffuse Color"
"""Cycles' Diffuse Color pass (the surface's diffuse albedo, linear RGB), as the EXR names it."""


@dataclass(frozen=True)
class ScanFiles:
    """A scan's render (:func:`simgen.blender.lidar_camera.render_scan`) as its EXR file; :meth:`load`
    reads it (no Blender needed: it may run on a worker thread) and deletes it."""

    exr: Path
    columns: tuple[int, int] | None = None
    """The columns ``[first, end)`` of the turn the render holds (a sector); None: all of them."""

    def load(self) -> Returns:
        parts = _channels(self.exr)
        self.exr.unlink()
        width = next(iter(parts.values())).shape[1]
        if self.columns is not None and width != self.columns[1] - self.columns[0]:
            raise ValueError(f"{self.exr.name}: a sector of columns {self.columns} rendered {width} columns")
        index = np.rint(parts["Object Index.X"]).astype(np.int32)
        distance = parts["Depth.Z"].astype(np.float64)  # through a custom camera: each ray's length
        distance[(distance > BACKGROUND_DEPTH) | (index == 0)] = np.inf
        normal = np.stack([parts[f"{NORMAL_AOV}.{c}"] for c in "RGB"], axis=-1).astype(np.float64)
        albedo = np.stack([parts[f"{ALBEDO_PASS}.{c}"] for c in "RGB"], axis=-1).astype(np.float64)
        return Returns(distance=distance, index=index, normal=normal, albedo=albedo)


def stack_sectors(sectors: list[Returns]) -> Returns:
    """One turn's returns from its sectors' (each a run of columns, in order)."""
    return Returns(*(np.concatenate([getattr(r, f) for r in sectors], axis=1)
                     for f in ("distance", "index", "normal", "albedo")))


@dataclass(frozen=True)
class SectorFiles:
    """A turn rendered sector by sector (:class:`ScanFiles` each): loaded, their returns side by side."""

    sectors: tuple

    def load(self) -> Returns:
        return stack_sectors([s.load() for s in self.sectors])
