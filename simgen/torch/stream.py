"""Training straight from WebDataset shards (``output.formats=[webdataset]``), on disk or in object
storage (``output.upload``): a torch ``IterableDataset`` that reads each shard front to back and
gives the samples :class:`simgen.torch.SimgenDataset` gives for the same frames.

    from simgen.torch import ShardStream, collate_detection
    ds = ShardStream("s3://bucket/run1/webdataset", split="train")   # or "DIR/webdataset"
    loader = DataLoader(ds, batch_size=8, num_workers=4, collate_fn=collate_detection)

The shards are those the format's ``shards.json`` lists (of ``split``); each DataLoader worker,
and each process of a ``torch.distributed`` job, reads its own share of them (shard k goes to
reader k mod readers), so an epoch gives every sample once. ``shuffle=True`` shuffles the
shards' order per epoch (:meth:`ShardStream.set_epoch`). Each shard's SHA-256 is checked
against the index as it is read: a damaged or truncated shard stops the epoch with one line
naming it, after the samples before the damage.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import tarfile
from typing import Any, BinaryIO, Callable, Iterator, Sequence

import cv2
import numpy as np
import torch

from simgen.errors import SimgenError
from simgen.io.files import decode_png
from simgen.io.names import DATASET_JSON
from simgen.torch.dataset import EXTRAS, KeyPoints, Frame, make_sample


def _rank_world() -> tuple[int, int] | None:
    """(rank, world size) of this process's torch.distributed process group; None outside one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return None


def _open(url: str) -> BinaryIO:
    import fsspec

    return fsspec.open(url, "rb").open()


def _read_json(url: str) -> Any:
    with _open(url) as f:
        return json.loads(f.read())


class _Hashing(io.RawIOBase):
    """Reads through ``f`` and hashes every byte read."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.digest = f, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.f.read(len(b))
        n = len(data)
        b[:n] = data
        self.digest.update(data)
        return n

    def drain(self) -> str:
        while self.read(1 << 20):
            pass
        return self.digest.hexdigest()


def _png(data: bytes, name: str) -> np.ndarray:
    return decode_png(np.frombuffer(data, np.uint8), name)


def decode(files: dict[str, bytes], where: str) -> Frame:
    """A sample's files (field -> bytes, simgen.io.formats.shards) as a :class:`Frame`."""
    def npy(field: str) -> np.ndarray:
        return np.load(io.BytesIO(files[field]), allow_pickle=False)

    try:
        meta = json.loads(files["json"])
        flows = {d: (npy(f"flow_{d}.npy"), _png(files[f"flow_{d}_valid.png"], where) != 0)
                 for d in ("forward", "backward") if f"flow_{d}.npy" in files}
        return Frame(rgb=_png(files["rgb.png"], where), instance=_png(files["instance.png"], where), meta=meta,
                     depth=npy("depth.npy") if "depth.npy" in files else None,
                     normal=npy("normal.npy") if "normal.npy" in files else None, flows=flows)
    except KeyError as e:
        raise SimgenError(f"{where} has no {e.args[0]} file: is it a simgen webdataset shard?") from None
    except (ValueError, OSError, cv2.error) as e:  # json, numpy and OpenCV's decoders: the bytes are not the file's
        raise SimgenError(f"{where} cannot be decoded ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}): "
                          "is the shard damaged? build it again (the same simgen command) and upload it") from None


class ShardStream(torch.utils.data.IterableDataset):
    """The samples of the WebDataset shards at ``url`` (the format's folder, ``DIR/webdataset`` or
    ``s3://bucket/prefix/webdataset``; any fsspec URL) as ``(image, target)`` (the module doc).

    Args:
        url: the folder holding ``shards.json`` and the shards.
        split: the split's shards only (``None``: every shard).
        transforms, extras: as :class:`simgen.torch.SimgenDataset`'s.
        shuffle: shuffle the shards' order each epoch (seeded by ``seed`` and the epoch).
        categories: the dataset's COCO categories (for keypoints); default: ``dataset.json``
            beside the folder when it can be read.
    """

    def __init__(self, url: str | os.PathLike, split: str | None = None, *, transforms: Callable | None = None,
                 extras: Sequence[str] = EXTRAS, shuffle: bool = False, seed: int = 0,
                 categories: list[dict] | None = None) -> None:
        self.url = str(url).rstrip("/")
        try:
            index = _read_json(f"{self.url}/shards.json")
        except (OSError, ValueError) as e:
            raise SimgenError(f"{self.url}/shards.json cannot be read ({type(e).__name__}: {e}); give the folder of "
                              "a dataset's webdataset format (DIR/webdataset, or where output.upload put it)") from None
        if index.get("format") != "webdataset":
            raise SimgenError(f"{self.url}/shards.json indexes the {index.get('format')!r} format; ShardStream reads "
                              "webdataset shards")
        unknown = [e for e in extras if e not in EXTRAS]
        if unknown:
            raise SimgenError(f"unknown extras {unknown}; choose from {list(EXTRAS)}")
        self.shards = [(name, f["sha256"], f["samples"]) for r in sorted(index["ranges"], key=int)
                       for name, f in index["ranges"][r]["files"].items() if split is None or f["split"] == split]
        if not self.shards:
            splits = sorted({f["split"] for r in index["ranges"].values() for f in r["files"].values()})
            raise SimgenError(f"{self.url}: no shard of split {split!r}; the splits there are {splits}")
        if categories is None:
            try:
                categories = _read_json(self.url.rsplit("/", 1)[0] + "/" + DATASET_JSON).get("categories", [])
            except (OSError, ValueError):
                categories = []
        self.categories = categories
        self.num_keypoints = max((len(c.get("keypoints", ())) for c in categories), default=0)
        if "keypoints" in extras and self.num_keypoints and KeyPoints is None:
            raise SimgenError("the dataset has keypoints and this torchvision has no tv_tensors.KeyPoints; install "
                              "torchvision>=0.23, or leave them out of extras")
        self.extras, self.transforms, self.shuffle, self.seed, self.epoch = tuple(extras), transforms, shuffle, seed, 0

    def __getstate__(self) -> dict:
        # A DataLoader worker started by spawn or forkserver gets this object pickled in the job's
        # process and is no member of its process group: the rank travels with it.
        return {**self.__dict__, "_rank_world": _rank_world()}

    def __len__(self) -> int:
        return sum(n for _, _, n in self.shards)

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose shard order ``shuffle`` draws (call before each epoch's iteration)."""
        self.epoch = int(epoch)

    def my_shards(self) -> list[tuple[str, str, int]]:
        """This reader's share of the shards (its worker of its process's DataLoader)."""
        shards = list(self.shards)
        if self.shuffle:
            random.Random(self.seed * 1_000_003 + self.epoch).shuffle(shards)
        rank, world = _rank_world() or self.__dict__.get("_rank_world") or (0, 1)
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return shards[rank * workers + worker::world * workers]

    def __iter__(self) -> Iterator[tuple[Any, dict]]:
        for name, sha, _ in self.my_shards():
            for files in self.samples(name, sha):
                frame = decode(files, f"{self.url}/{name} sample {files['__key__']}")
                yield make_sample(int(files["__key__"]), frame, self.extras, self.num_keypoints, self.transforms)

    def samples(self, name: str, sha: str) -> Iterator[dict[str, bytes]]:
        """The raw samples of shard ``name`` ({field: bytes, "__key__": key}), its SHA-256 checked
        against ``sha`` once read."""
        url = f"{self.url}/{name}"
        with _open(url) as f:
            reader = _Hashing(f)
            current: dict[str, Any] = {}
            try:
                with tarfile.open(fileobj=reader, mode="r|") as tar:
                    for member in tar:
                        if not member.isfile():
                            continue
                        key, _, field = member.name.partition(".")
                        if current and key != current["__key__"]:
                            yield current
                            current = {}
                        current["__key__"] = key
                        current[field] = tar.extractfile(member).read()
            except tarfile.TarError as e:
                raise SimgenError(f"{url} is damaged ({e}); build it again (the same simgen command) and upload it") \
                    from None
            got = reader.drain()
            if got != sha:
                raise SimgenError(f"{url} is damaged: its SHA-256 {got[:12]}... is not the {sha[:12]}... shards.json "
                                  "records; build it again (the same simgen command) and upload it")
            if current:
                yield current
