"""Streaming formats (``webdataset``, ``parquet``): the frames packed into a few large files that
a training job reads front to back, locally or from object storage, instead of millions of
small ones.

::

    DIR/<format>/<split>-<SSSSSS><suffix>   the frames S*N .. S*N+N-1 of that split on disk
                                            (N: output.shard_size; one file per split present)
    DIR/<format>/shards.json                the index: per range S, its frames, and per file its
                                            split, samples, bytes and SHA-256

A shard is a fixed range of frame indices, so a frame lands in one shard whichever run renders
it (a resumed run, a shard of a Slurm array, a batch process). A range's files are built from
the frame files on disk, never appended to in place: during a run as soon as every frame of
the range is on disk (:class:`RangeWatch`: the shards reach the disk, and a bucket, as the run
goes), and at the end of a run for every range whose frames changed since its files were built
(a run's last, partial range; what a killed run left). Each file is written to a temporary name
and renamed once durable, so a kill never leaves a truncated shard, and a file whose size is
not the one the index records is built again. The build is deterministic (members in frame
order, fixed times and owners), so a resumed run's shards are byte for byte an uninterrupted
run's.

Each sample is one frame under the key ``NNNNNN``, its files named by field: ``rgb.png``,
``instance.png``, ``semantic.png``, ``depth.npy``, ``normal.npy``, each optional label kind's
``<name><suffix>``, ``flow_forward.npy`` and ``flow_forward_valid.png`` (and backward) in a
sequence, and ``json``, the frame's meta file. The bytes are the frame files' own.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterable

import numpy as np

from simgen.errors import SimgenError, install_hint
from simgen.safe_paths import regular_file
from simgen.io.files import atomic_open, off_layout, read_json, recorded_setting, remove_stale_temps, write_json
from simgen.io.formats.coco import image_split
from simgen.io.names import DATASET_JSON, META_DIR
from simgen.labels.kinds import LABEL_KINDS

SHARD_SIZE = 1000
"""Default frames per shard range (output.shard_size)."""
INDEX = "shards.json"
"""The index of a format's shards, in DIR/<format>/."""
UPLOADED = "uploaded.json"
"""In DIR/<format>/ with output.upload: {file name: SHA-256} of the files delivered to the store
(simgen.io.dataset.remote)."""
FLOW_DIRECTIONS = ("forward", "backward")


@dataclass(frozen=True)
class Field:
    """One file of a sample."""

    name: str
    """The field's name in the sample (webdataset's extension, parquet's column): ``depth.npy``."""
    rel: str
    """The file, relative to the dataset root (posix)."""


def frame_fields(root: Path, index: int, meta: dict) -> list[Field]:
    """Frame ``index``'s files that go into a sample, in a fixed order: each label kind's on disk
    (simgen.labels.kinds), then the flow fields its meta names (the lossless .npy and the
    validity PNG; the extra flow formats are the same data again). Paths are data: a file that
    leaves the dataset or is a symbolic link is refused (simgen.safe_paths)."""
    name = f"{index:06d}"
    fields = []
    for kind in LABEL_KINDS.values():
        if kind.folder:
            rel = f"{kind.folder}/{name}{kind.suffix}"
            if regular_file(root, rel, f"frame {index}").is_file():
                fields.append(Field(f"{kind.name}{kind.suffix}", rel))
    for direction, files in sorted((meta.get("flow") or {}).items()):
        if direction not in FLOW_DIRECTIONS or not isinstance(files, dict):
            continue
        for part, suffix, rel in (("", ".npy", files.get("flow")), ("_valid", ".png", files.get("valid"))):
            if isinstance(rel, str):
                regular_file(root, rel, f"frame {index}'s meta flow")
                fields.append(Field(f"flow_{direction}{part}{suffix}", rel))
    return fields


@dataclass(frozen=True)
class Sample:
    index: int
    meta_bytes: bytes
    meta: dict
    fields: list[Field]

    @property
    def key(self) -> str:
        return f"{self.index:06d}"


def read_sample(root: Path, index: int) -> Sample:
    data = regular_file(root, f"{META_DIR}/{index:06d}.json", f"frame {index}").read_bytes()
    meta = json.loads(data)
    return Sample(index, data, meta, frame_fields(root, index, meta))


# ------------------------------------------------------------------------------- formats


def write_tar(f: IO[bytes], root: Path, samples: list[Sample]) -> None:
    """WebDataset: a plain tar of the samples in order, each sample's files consecutive and named
    ``<key>.<field>`` (the key has no dot: the ``webdataset`` library groups a sample's files by
    the name up to the first dot and names each by the rest), the meta as ``<key>.json``.
    Members are regular files, mode 0644, owner 0, time 0: the same frames give the same bytes."""
    with tarfile.open(fileobj=f, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for s in samples:
            members = [(fld.name, root / fld.rel) for fld in s.fields]
            for name, data in [("json", s.meta_bytes)] + members:
                info = tarfile.TarInfo(f"{s.key}.{name}")
                info.mode, info.mtime = 0o644, 0
                if isinstance(data, bytes):
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                else:
                    with open(data, "rb") as src:
                        info.size = os.fstat(src.fileno()).st_size
                        tar.addfile(info, src)


PARQUET_BATCH = 16
"""Frames per Parquet row group: the writer holds one group's arrays at a time."""


def _npy_type(path: Path):
    """The Arrow type of an .npy file's array as fixed-size nested lists (its header only)."""
    import pyarrow as pa

    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = header(f)
    if dtype.names:  # a table of records (sensor.events' events): a list of structs, its length the frame's
        return pa.list_(pa.struct([(n, pa.from_numpy_dtype(dtype[n])) for n in dtype.names]))
    t = pa.from_numpy_dtype(dtype)
    for n in reversed(shape):
        t = pa.list_(t, n)
    return t


def _flow_type():
    """A flow column's type: lists of any length, so that a frame without that flow is a null row
    (pyarrow's Parquet reader refuses a null fixed-size list)."""
    import pyarrow as pa

    return pa.list_(pa.list_(pa.list_(pa.float32())))


def _arrays(arrays: list[np.ndarray | None], t):
    """One Arrow column of nested lists of type ``t`` from ``arrays`` (None: a null row, only
    where ``t`` is a variable-size list)."""
    import pyarrow as pa

    if pa.types.is_fixed_size_list(t):
        shape, inner = [], t
        while pa.types.is_fixed_size_list(inner):
            shape.append(inner.list_size)
            inner = inner.value_type
        values = pa.array(np.stack(arrays).ravel()).cast(inner, safe=False)  # as numpy's astype; no pandas
        for n in reversed(shape):
            values = pa.FixedSizeListArray.from_arrays(values, n)
        return values
    present = [a for a in arrays if a is not None]
    if pa.types.is_struct(t.value_type):  # records: one struct a row of the array, the rows a list
        rows = np.concatenate(present) if present else np.zeros(0, np.dtype([(f.name, f.type.to_pandas_dtype())
                                                                             for f in t.value_type]))
        values = pa.StructArray.from_arrays([pa.array(rows[f.name]).cast(f.type) for f in t.value_type],
                                            fields=list(t.value_type))
        sizes = np.array([0 if a is None else len(a) for a in arrays], np.int32)
        offsets = pa.array(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32))
        return pa.ListArray.from_arrays(offsets, values, mask=pa.array([a is None for a in arrays]))
    values = pa.array(np.concatenate([a.ravel() for a in present]) if present else np.zeros(0, np.float32))
    shape = present[0].shape if present else (0, 0, 0)
    for n in reversed(shape[1:]):  # the inner levels: every list full
        values = pa.ListArray.from_arrays(pa.array(np.arange(0, len(values) + 1, n, dtype=np.int32)), values)
    sizes = np.array([0 if a is None else a.shape[0] for a in arrays], np.int32)
    offsets = pa.array(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32))
    return pa.ListArray.from_arrays(offsets, values, mask=pa.array([a is None for a in arrays]))


def _columns(root: Path, samples: list[Sample]) -> dict[str, object]:
    """The file's columns of fields (name with suffix -> Arrow type): the label kinds' of the
    first sample (every frame of a dataset has the same), and in a dataset of sequences
    (sequence.length > 1) all four flow fields, whichever this file's frames have, so that
    every file of a dataset has one schema."""
    import pyarrow as pa

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    kind = {"png": lambda fld: image, "npy": lambda fld: _npy_type(root / fld.rel), "npz": lambda fld: pa.binary()}
    columns = {fld.name: kind[fld.name.rsplit(".", 1)[1]](fld) for fld in samples[0].fields
               if not fld.name.startswith("flow_")}
    if (recorded_setting(root, "sequence.length") or 1) > 1:
        for d in FLOW_DIRECTIONS:
            columns[f"flow_{d}.npy"], columns[f"flow_{d}_valid.png"] = _flow_type(), image
    return columns


def write_parquet(f: IO[bytes], root: Path, samples: list[Sample]) -> None:
    """Parquet (zstd), a row per frame, that Hugging Face ``datasets`` loads with typed features:
    ``key`` (NNNNNN), ``frame``, ``split`` and ``meta`` (the meta file's JSON text); each PNG
    field an ``Image`` (its bytes and path; 16-bit label maps stay 16-bit); each .npy label map
    its array as fixed-size nested lists of its dtype (a (H, W) depth is List(List(float32, W),
    H): NumPy, torch and pandas formats give the array back); each .npz field its bytes; in a
    dataset of sequences the four flow fields, each flow as nested float32 lists of (H, W, 2),
    null in a frame without it (a sequence's first and last steps). The features are recorded
    in the schema's ``huggingface`` metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = _columns(root, samples)
    stem = {n: n.rsplit(".", 1)[0] for n in columns}
    base = [("key", pa.string()), ("frame", pa.int64()), ("split", pa.string()), ("meta", pa.string())]
    schema = pa.schema(base + [(stem[n], t) for n, t in columns.items()])
    features = {n: {"dtype": "int64" if t == pa.int64() else "string", "_type": "Value"} for n, t in base}
    features.update({stem[n]: {"_type": "Image"} if n.endswith(".png") else {"dtype": "binary", "_type": "Value"}
                     for n in columns if not n.endswith(".npy")})
    schema = schema.with_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    with pq.ParquetWriter(f, schema, compression="zstd") as writer:
        for start in range(0, len(samples), PARQUET_BATCH):
            batch = samples[start:start + PARQUET_BATCH]
            by_name = [{fld.name: fld for fld in s.fields} for s in batch]
            data = {"key": [s.key for s in batch], "frame": [s.index for s in batch],
                    "split": [image_split(s.meta["coco"]["image"]) for s in batch],
                    "meta": [s.meta_bytes.decode("utf-8") for s in batch]}
            for name, t in columns.items():
                files = [fields.get(name) for fields in by_name]
                if name.endswith(".npy"):
                    data[stem[name]] = _arrays([np.load(root / x.rel, allow_pickle=False) if x else None
                                                for x in files], t)
                elif name.endswith(".png"):
                    data[stem[name]] = pa.array([{"bytes": (root / x.rel).read_bytes(), "path": x.rel} if x else None
                                                 for x in files], t)
                else:
                    data[stem[name]] = pa.array([(root / x.rel).read_bytes() if x else None for x in files], t)
            writer.write_table(pa.Table.from_pydict(data, schema=schema))


@dataclass(frozen=True)
class ShardFormat:
    """A streaming format: what a shard file is and how it is written."""

    name: str
    suffix: str
    write: Callable[[IO[bytes], Path, list[Sample]], None]
    requires: str = ""
    """A module the writer imports; the run is refused before its first frame without it."""
    extra: str = ""
    """The pip extra that installs it."""

    def missing(self) -> str:
        """One line naming what to install when :attr:`requires` cannot be imported; else ''."""
        if not self.requires:
            return ""
        try:
            __import__(self.requires)
        except ImportError:
            return (f"output.formats=[{self.name}] needs the {self.requires} module: "
                    + install_hint(self.extra))
        return ""


WEBDATASET = ShardFormat("webdataset", ".tar", write_tar)
PARQUET = ShardFormat("parquet", ".parquet", write_parquet, requires="pyarrow", extra="stream")


# --------------------------------------------------------------------------- the index


def shard_size(root: Path) -> int:
    """output.shard_size of DIR/dataset.json's config, else :data:`SHARD_SIZE`."""
    size = recorded_setting(root, "output.shard_size")
    if size is None:
        return SHARD_SIZE
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise SimgenError(f"{root / DATASET_JSON}: output.shard_size={size!r} is not a whole number >= 1")
    return size


def runs(frames: Iterable[int]) -> list[list[int]]:
    """Sorted frame indices as [first, last] runs: [0, 1, 2, 5] -> [[0, 2], [5, 5]]."""
    out: list[list[int]] = []
    for i in sorted(frames):
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def file_name(split: str, r: int, fmt: ShardFormat) -> str:
    return f"{split}-{r:06d}{fmt.suffix}"


def layout(fmt: ShardFormat) -> re.Pattern:
    """Every file a format's folder holds, relative to it."""
    return re.compile(rf"^({re.escape(INDEX)}|{re.escape(UPLOADED)}|[A-Za-z0-9_-]+-\d{{6,}}{re.escape(fmt.suffix)})$")


def read_index(folder: Path, fmt: ShardFormat, size: int) -> dict[str, dict]:
    """The ranges shards.json records ({} when it is missing, unreadable, another format's or of
    another shard size: every range is then built again)."""
    try:
        index = read_json(folder / INDEX)
        if index.get("format") == fmt.name and index.get("shard_size") == size and isinstance(index["ranges"], dict):
            return index["ranges"]
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        pass
    return {}


def _intact(folder: Path, entry: dict) -> bool:
    try:
        return all((folder / name).stat().st_size == f["bytes"] for name, f in entry["files"].items())
    except (OSError, KeyError, TypeError, AttributeError):
        return False


def _build(root: Path, folder: Path, fmt: ShardFormat, r: int, frames: list[int], old: dict | None) -> dict:
    """Write range ``r``'s files from ``frames`` (on disk); remove the range's files it no longer has."""
    by_split: dict[str, list[Sample]] = {}
    for i in frames:
        s = read_sample(root, i)
        by_split.setdefault(image_split(s.meta["coco"]["image"]), []).append(s)
    files = {}
    for split, samples in sorted(by_split.items()):
        name = file_name(split, r, fmt)
        digest = hashlib.sha256()
        with atomic_open(folder / name, binary=True) as f:
            fmt.write(_Hashing(f, digest), root, samples)
        files[name] = {"split": split, "samples": len(samples), "frames": runs(s.index for s in samples),
                       "bytes": (folder / name).stat().st_size, "sha256": digest.hexdigest()}
    for name in set((old or {}).get("files", {})) - set(files):
        (folder / name).unlink(missing_ok=True)
    return {"frames": runs(frames), "files": files}


class _Hashing(io.RawIOBase):
    """A write-only file that hashes what goes through it (tarfile's stream mode and Parquet's
    writer write front to back)."""

    def __init__(self, f: IO[bytes], digest) -> None:
        self.f, self.digest, self.pos = f, digest, 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.digest.update(b)
        self.f.write(b)
        n = memoryview(b).nbytes
        self.pos += n
        return n

    def tell(self) -> int:
        return self.pos


def update(root: Path, fmt: ShardFormat, frames: list[int], only: Iterable[int] | None = None,
           size: int | None = None) -> int:
    """Bring DIR/<format>/ up to date with ``frames`` (the complete frames on disk): build each
    range whose frames differ from the index's (or whose files are not the recorded size); with
    ``only``, just those ranges (else ranges with no frame left are removed). Call under the
    dataset's lock. Returns how many ranges were built."""
    size = size or shard_size(root)
    folder = root / fmt.name
    folder.mkdir(exist_ok=True)
    # a killed writer's temp files, even one killed before its first byte: the shards and the index
    # are written only under the dataset's lock (the upload's record, outside it, keeps the 60 s rule)
    remove_stale_temps(folder, any_age=lambda name: name != UPLOADED)
    old = read_index(folder, fmt, size)
    by_range: dict[int, list[int]] = {}
    for i in frames:
        by_range.setdefault(i // size, []).append(i)
    wanted = set(by_range) if only is None else set(only) & set(by_range)
    ranges = dict(old)
    built = 0
    for r in sorted(wanted):
        entry = old.get(str(r))
        if entry is not None and entry.get("frames") == runs(by_range[r]) and _intact(folder, entry):
            continue
        ranges[str(r)] = _build(root, folder, fmt, r, by_range[r], entry)
        built += 1
    if only is None:
        for key in set(old) - {str(r) for r in by_range}:
            for name in old[key].get("files", {}) if isinstance(old[key], dict) else ():
                (folder / name).unlink(missing_ok=True)
            ranges.pop(key)
    if built or ranges.keys() != old.keys() or not (folder / INDEX).is_file():
        write_json(folder / INDEX, {"format": fmt.name, "shard_size": size,
                                    "ranges": {k: ranges[k] for k in sorted(ranges, key=int)}}, indent=1)
    return built


def foreign_files(fmt: ShardFormat) -> Callable[[Path], list[str]]:
    return lambda folder: off_layout(folder, layout(fmt))


def shard_urls(folder: str | os.PathLike, split: str | None = None) -> list[str]:
    """The shard files that DIR/<format>/shards.json lists (of ``split``, or all), in frame order,
    as paths under ``folder``: what a reader (``webdataset.WebDataset``, ``datasets``'s
    ``data_files``) is given."""
    index = read_json(Path(folder) / INDEX)
    names = [name for r in sorted(index["ranges"], key=int) for name, f in index["ranges"][r]["files"].items()
             if split is None or f["split"] == split]
    return [str(Path(folder) / name) for name in names]


class RangeWatch:
    """Builds a range's shards during a run, as soon as all of its frames are on disk (the
    run's last, partial range is left to the end of the run), then calls ``built(format name,
    file names)`` (the upload, simgen.io.dataset.remote). Call :meth:`frame_done` after each
    frame's commit, with the dataset's lock available."""

    def __init__(self, root: Path, formats: list[ShardFormat], size: int, todo: Iterable[int], lock,
                 built: Callable[[str, set[str]], None] | None = None) -> None:
        self.root, self.formats, self.size, self.lock, self.built = root, formats, size, lock, built
        self.pending: dict[int, int] = {}
        for i in todo:
            self.pending[i // size] = self.pending.get(i // size, 0) + 1

    def frame_done(self, index: int) -> None:
        r = index // self.size
        self.pending[r] = self.pending.get(r, 1) - 1
        if self.pending[r]:
            return
        meta = self.root / META_DIR
        frames = [i for i in range(r * self.size, (r + 1) * self.size) if (meta / f"{i:06d}.json").is_file()]
        if len(frames) < self.size:
            return  # another run renders the rest, or the dataset ends inside the range: the end of a run builds it
        with self.lock():
            for fmt in self.formats:
                update(self.root, fmt, frames, only=[r], size=self.size)
        if self.built is not None:
            for fmt in self.formats:
                index = read_index(self.root / fmt.name, fmt, self.size)
                self.built(fmt.name, set(index.get(str(r), {}).get("files", {})))
