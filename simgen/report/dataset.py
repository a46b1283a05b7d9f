"""Reading a finished dataset for the report and the checks: its description, its frames,
each frame's COCO annotations (simgen's own fields under their ``simgen`` key) and the
per-frame files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from simgen.errors import SimgenError
from simgen.config import labels_written
from simgen.safe_paths import inside
from simgen.io.dataset.layout import frame_name, frames_on_disk
from simgen.io.names import DATASET_JSON, META_DIR
from simgen.labels.frame import SIMGEN_KEY

class Dataset:
    """A dataset folder: ``dataset.json`` (categories, config) and the frames on disk."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise SimgenError(f"{root}: no such folder (give the output.dir of a simgen run)")
        path = self.root / DATASET_JSON
        if not path.is_file():
            raise SimgenError(f"{root}: not a simgen dataset (no dataset.json; give the output.dir of a simgen run)")
        try:
            self.info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise SimgenError(f"{path}: not valid JSON ({e})") from None
        self.categories: list[dict] = list(self.info.get("categories") or [])
        self.category_names = {int(c["id"]): str(c["name"]) for c in self.categories}
        self.config: dict = self.info.get("config") or {}
        self.frames = frames_on_disk(self.root)

    @property
    def labels(self) -> list[str]:
        """The optional label kinds written: those of ``output.labels`` and those the run's
        rig, labels and formats bring (:func:`simgen.config.labels_written`)."""
        output = self.config.get("output") or {}
        return labels_written(output.get("labels") or [], (self.config.get("camera") or {}).get("rig", "mono"),
                              output.get("formats") or [], self.config.get("sensor"))

    def meta_path(self, index: int) -> Path:
        return inside(self.root, f"{META_DIR}/{frame_name(index)}.json", f"frame {index}")

    def meta(self, index: int) -> dict:
        return json.loads(self.meta_path(index).read_text(encoding="utf-8"))


def annotations_of(meta: dict) -> list[dict]:
    """The frame's COCO annotations from its meta (empty if it has none)."""
    return list(((meta.get("coco") or {}).get("annotations")) or [])


def extra(ann: dict, key: str) -> Any:
    """One of simgen's own fields of an annotation (e.g. ``visibility``), None if absent."""
    return (ann.get(SIMGEN_KEY) or {}).get(key)


