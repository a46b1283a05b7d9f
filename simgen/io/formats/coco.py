"""What the export formats read of a dataset: its COCO index (:class:`CocoSource`, the Protocol
that simgen.io.dataset.coco_index's CocoIndex meets) and the split an image entry records;
and the ``coco`` format itself (:func:`write_coco`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Protocol

from simgen.safe_paths import regular_file, split_name
from simgen.io.files import read_json
from simgen.io.names import COCO_JSON, META_DIR

DEFAULT_SPLIT = "train"
"""The split of a frame that records none (datasets written before splits existed)."""


class CocoSource(Protocol):
    """The COCO index of the frames on disk, as the formats read it: its chunks (one in memory at
    a time), its split names, and the COCO files it streams."""

    categories: list[dict]

    def chunks(self) -> Iterator[dict[str, list]]: ...

    def frames(self) -> list[int]: ...

    def chunk_digests(self) -> dict[int, tuple[str, list[int]]]: ...

    def chunk(self, c: int) -> dict[str, list]: ...

    def split_names(self) -> list[str]: ...

    def write_coco(self, path: str | os.PathLike, info: dict | None = None, split: str | None = None) -> None: ...

    def write_split_cocos(self, paths: dict[str, str | os.PathLike], info: dict | None = None) -> None: ...

    def coco(self, info: dict | None = None) -> dict[str, Any]: ...


def image_split(image: dict) -> str:
    """The split recorded in a COCO image entry simgen wrote (its ``"simgen"`` fields); it names
    files, so anything but letters, digits, _ and - is refused (simgen.safe_paths.split_name)."""
    name = (image.get("simgen") or {}).get("split") or DEFAULT_SPLIT
    return split_name("the dataset", name, f"image {image.get('id')}'s meta")


def sequence_frames(root: Path, index: CocoSource) -> Iterator[tuple[int, list[tuple[str, dict]]]]:
    """(sequence, [(frame stem, meta), ...]) of the indexed frames, one sequence at a time (the
    frames of a sequence are contiguous in frame order), each frame's meta as read from
    DIR/meta/NNNNNN.json."""
    current, frames = None, []
    for chunk in index.chunks():
        for im in chunk["images"]:
            stem = Path(im["file_name"]).stem
            meta = read_json(regular_file(root, f"{META_DIR}/{stem}.json", f"frame {stem}"))
            if current is not None and meta["sequence"] != current:
                yield current, frames
                frames = []
            current = meta["sequence"]
            frames.append((stem, meta))
    if frames:
        yield current, frames


def write_coco(root: Path, index: CocoSource, splits: list[str]) -> None:
    """The ``coco`` format: DIR/coco.json, and DIR/coco_<split>.json per split when there are several."""
    index.write_coco(root / COCO_JSON)
    names = list(splits) + [s for s in index.split_names() if s not in splits]
    if len(names) > 1:  # one split: coco.json is that split
        index.write_split_cocos({name: root / f"coco_{name}.json" for name in names})
