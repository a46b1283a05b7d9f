"""The registry of export formats: one record per format, run by the writer and the pipeline.

Two kinds of format:

- dataset formats (``output.formats``) run once over the finished frames at the end of a
  run, from what is on disk (so shards and resumed runs export every frame): ``coco``
  writes DIR/coco.json (and DIR/coco_<split>.json per split), ``yolo``, ``yolo_seg`` and
  ``yolo_pose`` Ultralytics' layout under DIR/yolo/, DIR/yolo_seg/ and DIR/yolo_pose/
  (simgen.io.formats.yolo; yolo_pose needs the keypoints label kind), ``bop`` the BOP toolkit's
  scene-wise layout under DIR/bop/ (simgen.io.formats.bop);
- flow formats (``sequence.formats``) write each flow field in another file format beside
  simgen's lossless .npy: ``flo`` (Middlebury) and ``kitti`` (16-bit PNG).

:data:`EXPORTERS` is a :class:`simgen.registry.Registry`: adding a format is one module
defining an :class:`Exporter` plus its registration (simgen's own at the end of this module; a
user's package by an entry point in the group ``simgen.exporters``, ``npz_boxes =
"mypkg.formats:NPZ_BOXES"``, or by naming it with its dotted path,
``output.formats=[coco,mypkg.formats:NPZ_BOXES]``) and its name in the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from simgen.errors import SimgenError, did_you_mean, install_hint
from simgen.optics.camera import STEREO_LABELS
from simgen.registry import PLAIN_NAME, Registry, UnknownName, is_dotted
from simgen.io.formats.bop import advice as bop_advice, foreign_files as bop_foreign_files, write_bop
from simgen.io.formats.coco import CocoSource, write_coco
from simgen.io.formats.flow import write_flo, write_kitti_flow
from simgen.io.formats.mot import foreign_files as mot_foreign_files, write_mot
from simgen.io.formats.nerfstudio import foreign_files as nerfstudio_foreign_files, write_nerfstudio
from simgen.io.formats.stereo import kitti_foreign_files, middlebury_foreign_files, write_kitti_stereo, write_middlebury
from simgen.io.formats.shards import PARQUET, WEBDATASET, ShardFormat, foreign_files as shard_foreign_files, update
from simgen.io.formats.tracks import foreign_tapvid_files, foreign_track_files, write_tapvid, write_tracks
from simgen.io.formats.yolo import write_yolo
from simgen.io.names import LOGS_DIR, META_DIR
from simgen.labels.kinds import ALWAYS_KINDS


@dataclass(frozen=True)
class Exporter:
    name: str
    doc: str
    """One line for the docs: what the format writes and where."""
    finish: Optional[Callable[[Path, CocoSource, list[str]], None]] = None
    """Dataset format: finish(root, index, splits) writes the export of every frame on disk;
    ``index`` is the dataset's COCO index (simgen.io.dataset.coco_index: its chunks, one in memory at a
    time, or the whole COCO dictionary for small datasets; each image records its split),
    ``splits`` the names of the dataset's splits (output.splits), in order."""
    flow_file: Optional[str] = None
    """Flow format: the file of one flow field, relative to the dataset root, with {flow}
    (flow_forward or flow_backward) and {name} (the frame's file stem)."""
    write_flow: Optional[Callable[[Path, np.ndarray, np.ndarray], None]] = None
    """Flow format: write_flow(path, flow, valid)."""
    labels: tuple[str, ...] = ()
    """Optional label kinds (output.labels) the format is made from: a run that asks for the
    format without them is refused before it starts, with the one-line fix."""
    foreign_files: Optional[Callable[[Path], list[str]]] = None
    """Dataset format: foreign_files(DIR/<name>) lists the files there (relative to it) that are
    not of the format's layout, which a run refuses to delete; None: the YOLO layout's
    (simgen.io.formats.yolo.foreign_files)."""
    shards: Optional[ShardFormat] = None
    """Streaming format (simgen.io.formats.shards): its shards are also built during a run, a
    range as soon as its frames are all on disk, and ``finish`` builds the ranges that changed."""
    advice: Optional[Callable[[Any], str]] = None
    """Dataset format: advice(settings) is one line the run logs as a warning before its first
    frame when the settings will make a poor export of this format (empty: nothing to say)."""


RESERVED = (LOGS_DIR, "models", "index", "previews", META_DIR, *(k.folder for k in ALWAYS_KINDS if k.folder))
"""Names a format may not take: a dataset format other than coco rebuilds DIR/<name>/ whole (so
not a folder of simgen's own, nor flow_*)."""


def _check(exporter: Exporter, where: str) -> None:
    """One-line SimgenError naming ``where`` unless ``exporter`` is a well-formed export format."""
    if (exporter.finish is None) == (exporter.write_flow is None):
        raise SimgenError(f"{where} must be a dataset format (finish) or a flow format (write_flow)")
    if exporter.write_flow is not None and not exporter.flow_file:
        raise SimgenError(f"{where}: a flow format needs its flow_file")
    if not PLAIN_NAME.match(exporter.name) or exporter.name in RESERVED or exporter.name.startswith("flow_"):
        raise SimgenError(f"{where}: name {exporter.name!r} must be letters, digits, '_' or '-' and not one of "
                          f"{', '.join(RESERVED)}, flow_* (a dataset format writes DIR/<name>/)")


EXPORTERS: Registry[Exporter] = Registry("export format", "simgen.exporters", name_of=lambda e: e.name,
                                         cls=Exporter, check=_check)
"""Every export format by name: simgen's own (registered below), then a user's package's (entry
points in the group ``simgen.exporters``, or dotted paths in output.formats / sequence.formats)."""


def _names(flow: bool) -> list[str]:
    return [n for n in EXPORTERS.names() if (EXPORTERS.get(n).write_flow is not None) == flow]


def resolve(names: list[str] | tuple[str, ...], flow: bool) -> list[Exporter]:
    """The dataset (or flow) formats named (names or dotted paths), in registry order; ValueError
    naming the choices (a plugin that fails to load: its SimgenError)."""
    what = "flow" if flow else "dataset"
    wanted, unknown = set(), []
    for n in names:
        try:
            e = EXPORTERS.get(n)
        except UnknownName as err:
            if is_dotted(n):
                raise ValueError(str(err)) from None  # names the module that is not there
            unknown.append(n)
            continue
        if (e.write_flow is not None) != flow:
            unknown.append(n)
        else:
            wanted.add(e.name)
    if unknown:
        known = _names(flow)
        guess = did_you_mean(unknown[0], known)
        raise ValueError(f"unknown {what} format(s) {unknown}; choose from {known}" + (f"; {guess}" if guess else "")
                         + f" ({EXPORTERS.hint})")
    return [e for e in EXPORTERS.values() if e.name in wanted]


def missing_labels(exporters: list[Exporter], written: Sequence[str], asked: Sequence[str] | None = None) -> str:
    """A one-line reason and fix when a format in ``exporters`` needs a label kind that the run
    does not write (``written``: simgen.config.labels_written); the fix adds it to ``asked``
    (output.labels; by default ``written``). Empty when none does."""
    for e in exporters:
        missing = [k for k in e.labels if k not in written]
        if missing:
            return (f"the {e.name} format is made from the {', '.join(missing)} label kind(s); add them: "
                    f"output.labels={sorted({*(written if asked is None else asked), *missing})}")
    return ""


EXPORTERS.register(Exporter("coco", "DIR/coco.json: COCO instances of every frame on disk (RLE masks; docs/dataset.md), "
                            "and DIR/coco_<split>.json of each split's frames when output.splits has more than one",
                            finish=write_coco))
EXPORTERS.register(Exporter("yolo", "DIR/yolo/: Ultralytics detection layout, data.yaml, images/<split>/ (hard links), "
                            "labels/<split>/NNNNNN.txt (class cx cy w h)",
                            finish=lambda root, index, splits: write_yolo(root, index, splits, "yolo", task="detect")))
EXPORTERS.register(Exporter("yolo_seg", "DIR/yolo_seg/: Ultralytics segmentation layout, as yolo with one polygon per "
                            "object (holes bridged in)",
                            finish=lambda root, index, splits: write_yolo(root, index, splits, "yolo_seg", task="segment")))
EXPORTERS.register(Exporter("yolo_pose", "DIR/yolo_pose/: Ultralytics pose layout, as yolo with each object's "
                            "keypoints (x y v; kpt_shape, flip_idx in data.yaml); needs output.labels=[keypoints]",
                            finish=lambda root, index, splits: write_yolo(root, index, splits, "yolo_pose", task="pose"),
                            labels=("keypoints",)))
EXPORTERS.register(Exporter("bop", "DIR/bop/: the BOP toolkit's scene-wise layout (<split>_pbr/SSSSSS/ rgb, depth, "
                            "mask, mask_visib, scene_camera/scene_gt/scene_gt_info/scene_gt_coco.json; models/ in mm; "
                            "docs/dataset.md, BOP; an articulated object's links each a BOP object); needs output.labels=[amodal] "
                            "(the run writes parts too)",
                            finish=lambda root, index, splits: write_bop(root, index, splits), labels=("amodal",),
                            foreign_files=bop_foreign_files, advice=bop_advice))
EXPORTERS.register(Exporter("kitti_stereo", "DIR/kitti_stereo/<split>/: KITTI 2015's stereo layout (image_2, image_3, "
                            "disp_occ_0, disp_noc_0 as 16-bit PNG d x 256, calib_cam_to_cam); needs camera.rig=stereo",
                            finish=write_kitti_stereo, labels=STEREO_LABELS, foreign_files=kitti_foreign_files))
EXPORTERS.register(Exporter("middlebury", "DIR/middlebury/<split>/NNNNNN/: Middlebury 2014's layout (im0, im1, "
                            "disp0.pfm, mask0nocc.png, calib.txt); needs camera.rig=stereo",
                            finish=write_middlebury, labels=STEREO_LABELS, foreign_files=middlebury_foreign_files))
EXPORTERS.register(Exporter("nerfstudio", "DIR/nerfstudio/SSSSSS/: each multi-view scene (scene.views) or sequence "
                            "as nerfstudio's transforms.json and images/ (hard links), for reconstruction tools",
                            finish=write_nerfstudio, foreign_files=nerfstudio_foreign_files))

EXPORTERS.register(Exporter("mot", "DIR/mot/SIMGEN-<split>/SSSSSS/: each sequence as a MOT Challenge sequence "
                            "(seqinfo.ini, gt/gt.txt with each object's box and visible fraction, img1/) and "
                            "seqmaps/, where TrackEval's MOTChallenge reader looks; needs output.labels=[visibility]",
                            finish=write_mot, labels=("visibility",), foreign_files=mot_foreign_files))
EXPORTERS.register(Exporter("tracks", "DIR/tracks/SSSSSS.npz: the point tracks of each sequence (simgen.io.formats.tracks); "
                            "made whenever output.labels has tracks, which it needs",
                            finish=write_tracks, labels=("tracks",), foreign_files=foreign_track_files))
EXPORTERS.register(Exporter("tapvid", "DIR/tapvid/SSSSSS.pkl: each sequence as TAP-Vid's evaluation pickles hold a "
                            "video (video, points normalized (x, y), occluded); needs output.labels=[tracks]",
                            finish=write_tapvid, labels=("tracks",), foreign_files=foreign_tapvid_files))


def _streaming(fmt: ShardFormat, doc: str) -> Exporter:
    def finish(root: Path, index: CocoSource, splits: list[str]) -> None:
        update(root, fmt, index.frames())  # the ranges whose frames changed

    return Exporter(fmt.name, doc, finish=finish, foreign_files=shard_foreign_files(fmt), shards=fmt)


EXPORTERS.register(_streaming(WEBDATASET, "DIR/webdataset/<split>-SSSSSS.tar: WebDataset tar shards of output.shard_size "
                              "frames' range, a sample per frame (its files and meta under the key NNNNNN), built as "
                              "ranges complete; shards.json indexes them"))
EXPORTERS.register(_streaming(PARQUET, "DIR/parquet/<split>-SSSSSS.parquet: a row per frame with Hugging Face datasets' "
                              "typed features (Image, fixed-shape arrays), in ranges as webdataset; needs "
                              + install_hint("stream")))
EXPORTERS.register(Exporter("flo", "flow_*/NNNNNN.flo: Middlebury .flo (float32, no validity)",
                            flow_file="{flow}/{name}.flo", write_flow=lambda path, flow, valid: write_flo(path, flow)))
EXPORTERS.register(Exporter("kitti", "flow_*_kitti/NNNNNN.png: KITTI 16-bit PNG flow with its validity bit",
                            flow_file="{flow}_kitti/{name}.png", write_flow=write_kitti_flow))
