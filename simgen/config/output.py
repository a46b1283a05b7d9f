"""The ``output`` group: the dataset folder and what goes into it (:class:`OutputConfig`), the label
kinds a run writes (:func:`labels_written`) and the output folder's check (:func:`check_output_dir`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from simgen.errors import SimgenError
from simgen.config.schema import setting
from simgen.optics.camera import STEREO_LABELS
from simgen.config.sensor import sensor_labels

RUN_FOLDER = "${hydra:runtime.output_dir}"
"""``output.dir`` as Hydra composes it: Hydra's run folder (outputs/DATE/TIME, or multirun/DATE/TIME/N_OVERRIDES
for each job of a sweep), which exists only inside a Hydra run, so it cannot be the dataclass default."""

KEYPOINT_SOURCES = ("box", "farthest", "catalog")
MAX_KEYPOINTS = 64
"""Most keypoints output.keypoints=farthest places on a model (output.keypoint_count)."""


def labels_written(labels: Sequence[str], rig: str, formats: Sequence[str] = (), sensor: Any = None) -> list[str]:
    """The optional label kinds a run writes: output.labels ``labels``, with camera.rig=stereo
    the pair's own (:data:`STEREO_LABELS`), and with tracks or the bop format (output.formats
    ``formats``) the parts: an articulated object's links move each on its own, and each is a
    BOP object of its own; and the sensor models' (the ``sensor`` settings, or their dict:
    :func:`simgen.config.sensor.sensor_labels`)."""
    linked = "tracks" in labels or "bop" in formats
    extra = [*(STEREO_LABELS if rig == "stereo" else ()), *(("parts",) if linked else ()), *sensor_labels(sensor)]
    return [*labels, *(k for k in extra if k not in labels)]


@dataclass
class OutputConfig:
    """The dataset folder (on the command line Hydra's run folder by default) and what goes into it."""

    dir: str = setting("outputs/dataset", example="/data/run1", common=True)
    """Dataset folder (created). Relative paths are relative to the working directory. On the
    command line the default is Hydra's run folder, ${hydra:runtime.output_dir}: outputs/DATE/TIME,
    or multirun/DATE/TIME/N_OVERRIDES for each job of a sweep."""
    previews: bool = setting(False)
    """Also write colourized pictures under previews/ (never instead of the data). Off by default:
    at 640x480 they cost ~85 ms of CPU per frame, which on a GPU node outweighs the render."""
    overwrite: bool = setting(False)
    """Replace a dataset made with another config in output.dir: its files (frames, labels,
    exports, dataset.json; only what simgen wrote) are deleted before the first frame, and the
    folder becomes this config's dataset. Refused while another run still writes it. false: a
    folder holding another config's dataset is refused."""
    formats: list[str] = setting(["coco"])
    """Dataset export formats brought up to date with every frame on disk at the end of each run
    (coco, the yolo ones and the streaming ones only for the frames that changed; bop whole)
    (simgen.io.formats.exporters): coco (DIR/coco.json, and DIR/coco_<split>.json per split when
    output.splits has more than one), yolo (DIR/yolo/: YOLO boxes), yolo_seg (DIR/yolo_seg/:
    YOLO polygons, holes kept), yolo_pose (DIR/yolo_pose/: YOLO boxes and keypoints; needs
    output.labels=[keypoints]), bop (DIR/bop/: the BOP toolkit's scene-wise layout for 6D pose,
    each link of an articulated object a BOP object of its own; needs output.labels=[amodal], and
    writes the parts label too), kitti_stereo and middlebury (DIR/kitti_stereo/, DIR/middlebury/:
    KITTI 2015's and Middlebury 2014's stereo layouts; need camera.rig=stereo), nerfstudio
    (DIR/nerfstudio/SSSSSS/: each multi-view scene or sequence as nerfstudio's transforms.json),
    mot (DIR/mot/SIMGEN-<split>/SSSSSS/: each sequence as MOT Challenge's seqinfo.ini, gt/gt.txt
    and img1/, with seqmaps/ for TrackEval; needs output.labels=[visibility]), tapvid
    (DIR/tapvid/SSSSSS.pkl: each sequence's video and point tracks as TAP-Vid's pickles; needs
    output.labels=[tracks]),
    webdataset and parquet (DIR/webdataset/, DIR/parquet/: streaming shards of output.shard_size
    frames, built while the run goes; parquet needs the stream extra: pip install -e '.[stream]'). [] writes none."""
    upload: Optional[str] = setting(None, example="s3://bucket/run1")
    """Object storage the streaming formats (webdataset, parquet) are delivered to as their shards
    are built (s3://bucket/prefix; gs:// or any fsspec URL with its package installed): each shard,
    then its format's shards.json, and dataset.json at the end of the run; a shard already there
    with the same SHA-256 is not sent again, and the same command sends what a failed or killed
    run did not. Credentials and endpoint come from the store's own configuration (for S3:
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL), never from the config. Needs
    the cloud extra (pip install -e '.[cloud]') for s3://. null: the shards stay on disk only."""
    shard_size: int = setting(1000, ge=1, le=10_000_000)
    """webdataset and parquet formats: frames per shard range. Range S (frames S*N .. S*N+N-1)
    is one file per split (DIR/webdataset/<split>-SSSSSS.tar), built as soon as its frames are
    all on disk. Pick N for files of a few hundred MB to a few GB: at 640x480 a frame with the
    default labels is about 5 MB (depth 1.2 MB and normals 3.7 MB of it, as float32)."""
    bop_scene_size: int = setting(1000, ge=1)
    """bop export: frames per BOP scene when frames are independent (sequence.length 1): frame i is
    image i % size of scene i // size (BOP's PBR training sets hold 1000 per scene). A sequence
    (sequence.length > 1) is a BOP scene of its own whatever this is."""
    splits: Optional[dict[str, float]] = setting({"train": 0.8, "val": 0.1, "test": 0.1}, ge=0.0, le=1.0,
                                       example="{train: 0.8, val: 0.1, test: 0.1}")
    """Train/val/test splits: {name: fraction}, fractions summing to 1. Each sequence (or frame,
    output.split_by) is drawn into a split from a hash of (seed, its index): the same whatever
    the run's length or shards. Recorded per frame (meta split); each split also gets its own
    COCO file and YOLO folders (a split of 0: none). Set each key (output.splits.test=0): a {...}
    override is merged into these keys."""
    split_by: str = setting("sequence", choices=("sequence", "frame"))
    """Unit of the splits: sequence (a sequence's frames share a split; with sequence.length=1
    the same as frame) or frame (the frames of one sequence may land in different splits)."""
    labels: list[str] = setting([])
    """Optional label kinds added to every frame (simgen.labels.kinds; docs/dataset.md):
    parts (each link of a robot or other articulated object its own id, any other object its
    instance id, DIR/parts/NNNNNN.png; the meta's objects' parts name the links),
    visibility (each COCO annotation gets visibility = visible / amodal pixels and
    amodal_area), amodal (amodal masks of the annotated objects, DIR/amodal/NNNNNN.npz),
    keypoints (COCO keypoints of every annotation, output.keypoints), distance (from the camera
    centre along each pixel's ray, metres, DIR/distance/NNNNNN.npy, where depth is planar z),
    linear (the exposed linear image before the camera effects and the tone curve, float32 HDR,
    DIR/linear/NNNNNN.npy), lights (each light's share of the linear image, DIR/lights/NNNNNN.npy:
    relight a frame after the render), tracks (point tracks of each sequence, DIR/tracks/SSSSSS.npz,
    output.track_*; needs sequence.length > 1). camera.rig=stereo adds right, disparity and
    occluded by itself; sensor.events=true adds events (the event camera's, DIR/events/NNNNNN.npy);
    sensor.depth adds sensor_depth (the depth camera's depth, DIR/sensor_depth/NNNNNN.npy), and an
    active stereo one ir_left and ir_right (its infrared pair, DIR/ir_left/, DIR/ir_right/)."""
    keypoints: str = setting("box", choices=KEYPOINT_SOURCES)
    """With output.labels=[keypoints], the 3D keypoints of each model (docs/dataset.md,
    "Keypoints"): box (the 8 corners of its 3D box in DOPE/NDDS order, then the centre; the 12
    edges as skeleton), farthest (output.keypoint_count farthest-point samples of its surface,
    p0, p1, ...; no skeleton) or catalog (the named points its catalog declares per category)."""
    keypoint_count: int = setting(8, ge=1, le=MAX_KEYPOINTS)
    """output.keypoints=farthest: keypoints per model."""
    track_points: int = setting(256, ge=1, le=1_000_000)
    """With output.labels=[tracks]: query points per sequence (fewer where its frames show fewer
    surface pixels), each followed through every step (docs/dataset.md, "Point tracks")."""
    track_query_step: Optional[int] = setting(None, ge=0, example=0)
    """Tracks: the step every query point is drawn at; null: each point at a step drawn uniformly
    from the sequence's."""
    track_background: float = setting(0.2, ge=0.0, le=1.0)
    """Tracks: the chance that a query point lies on the background (category 0: the ground, a
    room) rather than on an object; the object points are spread evenly over the objects the
    query frame shows, uniformly within each."""
    track_min_visible: float = setting(0.0, ge=0.0, le=1.0)
    """Tracks: the least fraction of the sequence's steps a track is visible in; tracks seen less
    are dropped for others (4 candidates drawn per point asked for, so fewer points when too few
    qualify)."""


def check_output_dir(folder: str) -> None:
    """output.dir can be created and written: it is a folder, or its nearest existing parent is
    a writable folder. Nothing is created here."""
    p = Path(folder).expanduser().absolute()
    if p.exists() and not p.is_dir():
        raise SimgenError(f"output.dir={folder} is a file, not a folder; choose another output.dir")
    parent = p
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise SimgenError(f"output.dir={folder} cannot be created: {parent} is a file; choose another output.dir")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SimgenError(f"output.dir={folder} is not writable ({parent}: permission denied); "
                          "choose another output.dir")
