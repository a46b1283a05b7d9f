"""Point-track files: simgen's own per sequence (``output.labels=[tracks]``) and TAP-Vid's
(``output.formats=[tapvid]``), built at the end of a run from the frames on disk, one frame's
label maps in memory at a time. simgen.labels.tracks says what a track is and makes a sequence's
tracks (:func:`simgen.labels.tracks.track_sequence`); this module reads the frames for it, gives
it the sequence's random stream and writes the files.

``DIR/tracks/SSSSSS.npz`` (S: the sequence), for N tracks over the sequence's T steps:

================  ===============  ===========================================================
``frames``        (T,) int64       the frame index of each step
``query_step``    (N,) int32       the step each track was drawn at
``query_uv``      (N, 2) float32   its pixel centre there (u, v)
``instance_id``   (N,) int32       the object it lies on (its instance id)
``part_id``       (N,) int32       the part it lies on (the ``parts`` label's id: an articulated
                                   object's link, else the instance id)
``category_id``   (N,) int32       that object's COCO category (0: the background)
``points_object`` (N, 3) float32   the point in the part's own (mesh) coordinates: the object's
                                   mesh, or the link's (``models/`` holds both); on a part that
                                   bends (the meta's ``deforms``), where it is at its query step
``triangle``      (N,) int32       on a part that bends, the triangle (of the step's ``models/``
                                   file, the same at every step) the point rides; -1 on a rigid one
``barycentric``   (N, 3) float32   its barycentric coordinates there: at step t the point is their
                                   mix of the triangle's vertices in step t's mesh (NaN: rigid)
``uv``            (N, T, 2) f32    its position at every step, simgen's pixel convention (the
                                   centre of pixel (u, v) at integer (u, v)); NaN where the lens
                                   cannot project it
``points_camera`` (N, T, 3) f32    its camera coordinates at every step (OpenCV axes, metres)
``visible``       (N, T) bool      in view, facing the camera and not hidden
``query_points``  (N, 3) float32   Kubric MOVi's query (t, y, x), raster pixels (centre of pixel
                                   (u, v) at (u + 0.5, v + 0.5))
``target_points`` (N, T, 2) f32    Kubric MOVi's positions (x, y), raster pixels; 0 where ``uv`` is NaN
``occluded``      (N, T) bool      Kubric MOVi's and TAP-Vid's: not visible
================  ===============  ===========================================================

``DIR/tapvid/SSSSSS.pkl``: the sequence as TAP-Vid's evaluation pickles hold a video (as its
DAVIS file does: a dict from the video's name, here SSSSSS, to ``video`` uint8 (T, H, W, 3),
``points`` float32 (N, T, 2) (x, y) divided by the image's width and height (raster: the centre
of pixel (u, v) at ((u + 0.5) / W, (v + 0.5) / H)) and ``occluded`` bool (N, T)). A pickle, as
TAP-Vid's files are: simgen writes it and never reads one.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Optional

import numpy as np

from simgen.optics.lens import lens_from_dict
from simgen.safe_paths import regular_file
from simgen.io.files import (atomic_write_bytes, off_layout, read_json, read_npy, read_npz, read_png, rebuilt_folder,
                             write_npz)
from simgen.io.formats.coco import CocoSource, sequence_frames
from simgen.labels.frame import instances_of_parts, meta_body_part_of
from simgen.labels.tracks import TrackParams, View, bending_ids, track_sequence
from simgen.io.names import DATASET_JSON
from simgen.sampling.random import stream_rng

TRACKS_STREAM = 0x54524B
"""The random stream of a sequence's query points (simgen.sampling.random.stream_rng): drawing
them changes no other draw."""

TRACK_FILES = re.compile(r"^\d{6,}\.npz$")
TAPVID_FILES = re.compile(r"^\d{6,}\.pkl$")


def foreign_track_files(folder: Path) -> list[str]:
    """Files under DIR/tracks/ that are not of its layout."""
    return off_layout(folder, TRACK_FILES)


def foreign_tapvid_files(folder: Path) -> list[str]:
    """Files under DIR/tapvid/ that are not of its layout."""
    return off_layout(folder, TAPVID_FILES)


class _Frame:
    """One step's files, read on first use (``root``-confined paths): a
    :class:`simgen.labels.tracks.StepFrame`."""

    def __init__(self, root: Path, stem: str, meta: dict):
        self.root, self.stem, self.meta = root, stem, meta

    def _path(self, folder: str, suffix: str) -> Path:
        return regular_file(self.root, f"{folder}/{self.stem}{suffix}", f"frame {self.stem}")

    def view(self) -> View:
        lens = self.meta.get("lens")
        shapes = {}
        for iid, rel in bending_ids(self.meta).items():  # a part that bends: its mesh at this step
            import trimesh

            mesh = trimesh.load(regular_file(self.root, rel, f"frame {self.stem}: mesh"), force="mesh", process=False)
            shapes[iid] = np.asarray(mesh.vertices, float), np.asarray(mesh.faces, np.int64)
        return View.from_meta(self.meta, None if lens is None else lens_from_dict(lens, f"frame {self.stem}: lens"),
                              shapes)

    def depth(self) -> np.ndarray:
        return read_npy(self._path("depth", ".npy"))

    def has_parts(self) -> bool:
        return any("parts" in o for o in self.meta["objects"])

    def bodies(self) -> np.ndarray:
        """The id of the rigid body at each pixel: the parts label where the frame has articulated
        objects (their links move each on its own; a person's body parts there are its instance id:
        it bends as one), else the instance label."""
        if self.has_parts():
            parts = read_png(self._path("parts", ".png"))
            people = meta_body_part_of(self.meta)
            return instances_of_parts(parts, people) if people else parts
        return read_png(self._path("instance", ".png"))

    def normal(self) -> np.ndarray:
        return read_npy(self._path("normal", ".npy"))


def complete(frames: list[tuple[str, dict]]) -> bool:
    """Every step of the sequence is on disk, in order (a shard's or an interrupted run's
    sequence may not be yet: its tracks come when it is)."""
    length = int(frames[0][1].get("sequence_length", len(frames)))
    return [int(m["step"]) for _, m in frames] == list(range(length))


def sequence_tracks(root: Path, sequence: int, frames: list[tuple[str, dict]], params: TrackParams
                    ) -> dict[str, np.ndarray]:
    """The arrays of DIR/tracks/SSSSSS.npz (the module's table) for one complete sequence:
    :func:`simgen.labels.tracks.track_sequence` over its frames on disk, each step's files read
    when it asks for them, drawn with the sequence's own stream (:data:`TRACKS_STREAM`)."""
    steps = [_Frame(root, stem, meta) for stem, meta in frames]
    return track_sequence(stream_rng(params.seed, sequence, TRACKS_STREAM), steps, params)


def track_params(root: Path) -> TrackParams:
    """The run's output.track_* and seed, as DIR/dataset.json's config records them (as the
    splits are read: every shard and resumed run of a dataset has the same config)."""
    config = read_json(regular_file(root, DATASET_JSON, "the dataset")).get("config") or {}
    output = config.get("output") or {}
    defaults = TrackParams()
    return TrackParams(points=int(output.get("track_points", defaults.points)),
                       query_step=output.get("track_query_step", defaults.query_step),
                       background=float(output.get("track_background", defaults.background)),
                       min_visible=float(output.get("track_min_visible", defaults.min_visible)),
                       seed=int(config.get("seed", defaults.seed)))


def write_tracks(root: Path, index: CocoSource, splits: list[str]) -> None:
    """DIR/tracks/: one file per complete sequence on disk (the module's table), built anew with
    the run's output.track_* (:func:`track_params`)."""
    root = Path(root)
    params = track_params(root)
    with rebuilt_folder(root, "tracks", foreign_track_files) as tmp:
        for sequence, frames in sequence_frames(root, index):
            if complete(frames):
                write_npz(tmp / f"{int(sequence):06d}.npz", sequence_tracks(root, int(sequence), frames, params))


def tapvid_video(root: Path, name: str, frames: list[tuple[str, dict]], tracks: dict[str, np.ndarray]) -> dict:
    """One sequence as TAP-Vid's pickles hold a video (the module's docstring)."""
    video: Optional[np.ndarray] = None
    for t, (stem, _) in enumerate(frames):
        image = read_png(regular_file(root, f"images/{stem}.png", f"frame {stem}"))
        if video is None:
            video = np.empty((len(frames), *image.shape), np.uint8)
        video[t] = image
    assert video is not None
    h, w = video.shape[1:3]
    points = tracks["target_points"] / np.array([w, h], np.float32)
    return {name: {"video": video, "points": points.astype(np.float32), "occluded": tracks["occluded"].astype(bool)}}


def write_tapvid(root: Path, index: CocoSource, splits: list[str]) -> None:
    """DIR/tapvid/: each sequence with tracks (DIR/tracks/, written first) as TAP-Vid's pickle."""
    root = Path(root)
    with rebuilt_folder(root, "tapvid", foreign_tapvid_files) as tmp:
        for sequence, frames in sequence_frames(root, index):
            name = f"{int(sequence):06d}"
            path = root / "tracks" / f"{name}.npz"
            if complete(frames) and path.is_file():
                data = tapvid_video(root, name, frames, read_npz(regular_file(root, f"tracks/{name}.npz", "tracks")))
                atomic_write_bytes(tmp / f"{name}.pkl", pickle.dumps(data, protocol=4))
