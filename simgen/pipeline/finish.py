"""The end of a run: what is built from every frame on disk (the COCO index, dataset.json,
the export formats) under the dataset's lock, the renderer's log kept in the dataset, and
what an earlier run recorded in dataset.json."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Iterator

from simgen.io.dataset.coco_index import CocoIndex
from simgen.io.dataset.layout import DatasetWriter
from simgen.io.dataset.outdir import no_space
from simgen.io.dataset.remote import Remote
from simgen.io.formats.exporters import Exporter
from simgen.io.names import DATASET_JSON

log = logging.getLogger("simgen.pipeline")  # the package's one logger


def keep_log(log: Path, kept: Path) -> None:
    """Append Blender's own output of this run (``log``, in the backend's temporary folder) to
    ``kept`` in the dataset, so that a failed render can be read about after the run."""
    if log.is_file() and log.stat().st_size:
        kept.parent.mkdir(exist_ok=True)
        with open(kept, "ab") as f:
            f.write(log.read_bytes())


@contextlib.contextmanager
def unless_full(failing: BaseException | None) -> Iterator[None]:
    """Run the block; a full disk while the run is already failing (``failing``) is left
    unsaid, so that the run's own error is the one reported (the files the block would have
    rewritten stay as they were: every write is atomic)."""
    try:
        yield
    except OSError as e:
        if failing is None or not no_space(e):
            raise
        log.warning("skipped: %s", e)


def previous_info(out: Path) -> dict[str, str] | None:
    """The Blender version and device that dataset.json records, if it can be read."""
    try:
        old = json.loads((out / DATASET_JSON).read_text())
        return {"blender_version": str(old["blender_version"]), "device": str(old["device"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def recorded_library(out: Path) -> list[dict]:
    """The asset-library entries dataset.json names (none if it cannot be read)."""
    try:
        entries = json.loads((out / DATASET_JSON).read_text()).get("library", [])
        return [e for e in entries if isinstance(e, dict) and isinstance(e.get("key"), str)]
    except (OSError, ValueError, AttributeError):
        return []


def library_info(root: Path, drawn: dict[str, dict] | None = None) -> dict:
    """dataset.json's ``library`` key: the entries it names already (other shards, earlier runs)
    and ``drawn`` ({key: entry}, this run's), in key order; {} when there are none."""
    entries = {e["key"]: e for e in recorded_library(root)}
    entries.update(drawn or {})
    return {"library": [entries[k] for k in sorted(entries)]} if entries else {}


def finish_dataset(writer: DatasetWriter, info: dict, formats: list[Exporter],
                   complete_when: range | None = None, library: dict[str, dict] | None = None,
                   remote: Remote | None = None) -> tuple[list[int], CocoIndex | None]:
    """Rewrite what is built from every frame on disk under the dataset's lock, so that shards
    ending together do not build from a stale listing: the COCO index (only its chunks whose
    frames changed), dataset.json, and the export formats (coco.json: the whole dataset) unless
    ``complete_when`` names frames not all on disk yet (a shard that is not the last: the last
    one writes them). Returns the frames on disk and the index. A folder with no frame on disk
    (a run that failed before its first frame) is left as it is (index None).
    ``library``: the asset-library entries this run's frames drew, added to those dataset.json
    names already (other shards, earlier runs). ``remote``: output.upload's store, sent what it
    lacks of the streaming formats once they are exported, and dataset.json."""
    with writer.locked():
        on_disk = writer.frames_on_disk()
        if not on_disk:
            return on_disk, None
        index = writer.index()
        exported = complete_when is None or set(complete_when) <= set(on_disk)
        if exported:
            writer.export(formats, index)
        writer.write_dataset_json({**info, "frames": on_disk, "category_counts": index.category_counts(),
                                   **library_info(writer.root, library)})
    if exported and remote is not None:
        remote.sync(writer.root, [e.name for e in formats if e.shards])
    return on_disk, index
