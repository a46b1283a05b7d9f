"""The registry of export formats: one record per format, run by the writer and the pipeline.

Two kinds of format:

- dataset formats (``output.formats``) run once over the finished frames at the end of a
  run, from what is on disk (so shards and resumed runs export every frame): ``coco``
  writes DIR/coco.json (and DIR/coco_<split>.json per split), ``yolo`` and ``yolo_seg``
  Ultralytics' layout under DIR/yolo/ and DIR/yolo_seg/ (simgen.io.yolo);
- flow formats (``sequence.formats``) write each flow field in another file format beside
  simgen's lossless .npy: ``flo`` (Middlebury) and ``kitti`` (16-bit PNG).

Adding a format is one module that calls :func:`register` plus its name in the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

from simgen.io.flow_formats import write_flo, write_kitti_flow
from simgen.io.yolo import write_yolo

if TYPE_CHECKING:
    from simgen.io.coco_index import CocoIndex


@dataclass(frozen=True)
class Exporter:
    name: str
    doc: str
    """One line for the docs: what the format writes and where."""
    finish: Optional[Callable[[Path, "CocoIndex", list[str]], None]] = None
    """Dataset format: finish(root, index, splits) writes the export of every frame on disk;
    ``index`` is the dataset's COCO index (simgen.io.coco_index: its chunks, one in memory at a
    time, or the whole COCO dictionary for small datasets; each image records its split),
    ``splits`` the names of the dataset's splits (output.splits), in order."""
    flow_file: Optional[str] = None
    """Flow format: the file of one flow field, relative to the dataset root, with {flow}
    (flow_forward or flow_backward) and {name} (the frame's file stem)."""
    write_flow: Optional[Callable[[Path, np.ndarray, np.ndarray], None]] = None
    """Flow format: write_flow(path, flow, valid)."""


EXPORTERS: dict[str, Exporter] = {}


def register(exporter: Exporter) -> Exporter:
    if (exporter.finish is None) == (exporter.write_flow is None):
        raise ValueError(f"exporter {exporter.name!r} must be a dataset format (finish) or a flow format (write_flow)")
    EXPORTERS[exporter.name] = exporter
    return exporter


def _names(flow: bool) -> list[str]:
    return [e.name for e in EXPORTERS.values() if (e.write_flow is not None) == flow]


def resolve(names: list[str] | tuple[str, ...], flow: bool) -> list[Exporter]:
    """The dataset (or flow) formats named, in registry order; ValueError naming the choices."""
    known = _names(flow)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown {'flow' if flow else 'dataset'} format(s) {unknown}; choose from {known}")
    return [EXPORTERS[n] for n in known if n in names]


def _write_coco(root: Path, index: "CocoIndex", splits: list[str]) -> None:
    index.write_coco(root / "coco.json")
    names = list(splits) + [s for s in index.split_names() if s not in splits]
    if len(names) > 1:  # one split: coco.json is that split
        index.write_split_cocos({name: root / f"coco_{name}.json" for name in names})


register(Exporter("coco", "DIR/coco.json: COCO instances of every frame on disk (RLE masks; docs/dataset.md), "
                  "and DIR/coco_<split>.json of each split's frames when output.splits has more than one",
                  finish=_write_coco))
register(Exporter("yolo", "DIR/yolo/: Ultralytics detection layout, data.yaml, images/<split>/ (hard links), "
                  "labels/<split>/NNNNNN.txt (class cx cy w h)",
                  finish=lambda root, index, splits: write_yolo(root, index, splits, "yolo", segments=False)))
register(Exporter("yolo_seg", "DIR/yolo_seg/: Ultralytics segmentation layout, as yolo with one polygon per "
                  "object (holes bridged in)",
                  finish=lambda root, index, splits: write_yolo(root, index, splits, "yolo_seg", segments=True)))
register(Exporter("flo", "flow_*/NNNNNN.flo: Middlebury .flo (float32, no validity)",
                  flow_file="{flow}/{name}.flo", write_flow=lambda path, flow, valid: write_flo(path, flow)))
register(Exporter("kitti", "flow_*_kitti/NNNNNN.png: KITTI 16-bit PNG flow with its validity bit",
                  flow_file="{flow}_kitti/{name}.png", write_flow=write_kitti_flow))
