"""The registry of label kinds: one record per kind, read by everything that handles labels.

A label kind says what one per-frame array is (name, dtype, shape, meaning), where it is
stored (``DIR/<folder>/NNNNNN<suffix>`` with the codec of its suffix), how it is made from
a frame's core labels (``compute``, None for the kinds the render itself gives), what
it adds to each COCO annotation (``annotate``), and its preview picture. The writer, the
reader (:func:`simgen.io.dataset.layout.read_frame`), the label checks, the previews and the dataset
reference in docs/dataset.md all iterate over :data:`LABEL_KINDS`
(a :class:`simgen.registry.Registry`), so adding a kind is one module defining a
:class:`LabelKind` plus its registration: simgen's own in ``simgen/labels/__init__.py``, a
user's package by an entry point in the group ``simgen.label_kinds`` (``edges =
"mypkg.kinds:EDGES"``) or by naming it with its dotted path (``output.labels=[mypkg.kinds:EDGES]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

import numpy as np

from simgen.errors import SimgenError, did_you_mean
from simgen.registry import PLAIN_NAME, Registry, UnknownName, is_dotted
from simgen.labels.preview import colorize_ids, depth_preview, normal_preview

CODECS = (".png", ".npy", ".npz")
"""File suffixes the writer and reader know (simgen.io.files): lossless PNG (uint8 RGB, uint8 or
uint16 maps), .npy (one array), compressed .npz (several named arrays)."""


@dataclass(frozen=True)
class FrameContext:
    """What a kind's ``compute`` may look at besides the core labels: the frame's scene
    (plain data: camera K and world_to_camera, objects with mesh paths and poses), the run's
    settings and its asset catalog."""

    scene: Any
    """simgen.scene.data.Scene of the frame."""
    settings: Any = None
    """simgen.config.Settings of the run (a kind's own settings, e.g. output.keypoints)."""
    catalog: Any = None
    """simgen.assets.Catalog of the run (its categories and assets, e.g. their keypoints)."""
    index: int = 0
    """The frame's index (a kind that draws noise seeds it from the run's seed and this)."""
    sequence: int = 0
    """The frame's sequence (draws made once per sequence, e.g. a sensor's calibration error)."""
    sensor: dict = field(default_factory=dict)
    """What a sensor model's kind records of the frame (its draws), by family (``depth``, ...): the frame
    meta's ``sensor`` (docs/how-to/sensors.md)."""


class CoreLabels(Protocol):
    """What a kind's ``compute`` gets: a frame's core labels (simgen.labels.frame.FrameLabels)."""

    rgb: np.ndarray
    instance: np.ndarray
    semantic: np.ndarray
    depth: np.ndarray
    normal: np.ndarray

    def __getitem__(self, name: str) -> Any: ...


@dataclass(frozen=True)
class LabelKind:
    name: str
    """Key in FrameLabels and in ``output.labels``."""
    doc: str
    """One line for docs/dataset.md: what the array holds, its units and conventions."""
    dtype: str
    """numpy dtype name of the array (for a file of several arrays, of its main one)."""
    channels: int = 0
    """0: an (H, W) map; C: (H, W, C); -1: not an image (e.g. a stack of masks in an .npz)."""
    folder: Optional[str] = None
    """Folder under the dataset root; None: nothing is written per frame (annotation fields only)."""
    suffix: str = ".npy"
    """File suffix, one of CODECS."""
    from_render: bool = False
    """Made by every render (rgb, instance, semantic, depth, normal); always computed."""
    compute: Optional[Callable[[CoreLabels, FrameContext], Any]] = None
    """The kind's value from a frame's core labels and context (None for the kinds the render makes)."""
    annotate: Optional[Callable[[Any, list[dict]], None]] = None
    """annotate(value, annotations): add this kind's fields to the frame's COCO annotations."""
    preview: Optional[Callable[[Any], np.ndarray]] = None
    """A uint8 RGB picture of the value for DIR/previews/<name>/, or None."""
    sequence: bool = False
    """Made per sequence at the end of a run from the frames on disk, not per frame (no compute):
    simgen's point tracks (simgen.labels.tracks: DIR/tracks/SSSSSS.npz, built like a dataset format).
    Its folder is None: nothing of it is written per frame."""

    def check(self, value: Any, height: int, width: int) -> None:
        """Raise ValueError unless an image kind's array has its documented dtype and shape."""
        if self.channels < 0:
            return
        shape = (height, width) if self.channels == 0 else (height, width, self.channels)
        if not isinstance(value, np.ndarray) or value.shape != shape or value.dtype != np.dtype(self.dtype):
            got = (getattr(value, "dtype", type(value).__name__), getattr(value, "shape", None))
            raise ValueError(f"label {self.name} must be {self.dtype} {shape}, got {got[0]} {got[1]}")


ALWAYS_KINDS = (
    LabelKind("rgb", "8-bit sRGB image (the usual anti-aliased render)", "uint8", 3, "images", ".png", from_render=True),
    LabelKind("instance", "instance id of the surface at the pixel centre, 0 = nothing hit", "uint16", 0,
              "instance", ".png", from_render=True, preview=colorize_ids),
    LabelKind("semantic", "COCO category id of that surface, 0 = background / uncategorized", "uint16", 0,
              "semantic", ".png", from_render=True, preview=colorize_ids),
    LabelKind("depth", "planar depth (z along the optical axis) at the pixel centre, metres, inf = no hit",
              "float32", 0, "depth", ".npy", from_render=True, preview=depth_preview),
    LabelKind("normal", "unit surface normal in OpenCV camera axes, facing the camera; 0 = no hit", "float32", 3,
              "normal", ".npy", from_render=True, preview=normal_preview),
)
"""The kinds every render makes."""

RESERVED_FOLDERS = ("meta", "models", "logs", "previews", "index", "yolo", "yolo_seg", "yolo_pose")
"""Folders of the dataset that are not a label kind's (flow_* too)."""


def _check(kind: LabelKind, where: str) -> None:
    """One-line SimgenError naming ``where`` unless ``kind`` is a well-formed label kind."""
    if not PLAIN_NAME.match(kind.name):
        raise SimgenError(f"{where}: name {kind.name!r} must be letters, digits, '_' or '-' (it names folders)")
    if kind.from_render and kind not in ALWAYS_KINDS:
        raise SimgenError(f"{where}: only the render's own kinds come from the render; give it a compute function")
    if not kind.from_render and kind.compute is None and not kind.sequence:
        raise SimgenError(f"{where} needs a compute function (only the render's own kinds come from it)")
    if kind.sequence and (kind.compute is not None or kind.folder is not None):
        raise SimgenError(f"{where}: a kind made per sequence has no per-frame compute function or folder")
    if kind.folder is not None:
        if kind.suffix not in CODECS:
            raise SimgenError(f"{where}: suffix {kind.suffix!r} is not one of {CODECS}")
        taken = [k.folder for k in ALWAYS_KINDS if k.name != kind.name] + list(RESERVED_FOLDERS)
        if not PLAIN_NAME.match(kind.folder) or kind.folder in taken or kind.folder.startswith("flow_"):
            raise SimgenError(f"{where}: folder {kind.folder!r} must be a plain name that is not one of simgen's "
                              f"own ({', '.join(taken)}, flow_*)")


LABEL_KINDS: Registry[LabelKind] = Registry("label kind", "simgen.label_kinds", name_of=lambda k: k.name,
                                            cls=LabelKind, check=_check)
"""Every label kind by name, in registration order (the kinds the render makes first): simgen's own (the
optional ones are registered in ``simgen/labels/__init__.py``), then a user's package's (entry
points in the group ``simgen.label_kinds``, or dotted paths in ``output.labels``)."""
for _kind in ALWAYS_KINDS:
    LABEL_KINDS.register(_kind)


def resolve(names: list[str] | tuple[str, ...]) -> list[LabelKind]:
    """The kinds named by ``output.labels`` (names or dotted paths) plus every kind the render makes, in
    registry order; a ValueError naming the choices for an unknown name (a plugin that fails to
    load: its SimgenError)."""
    wanted, unknown = set(), []
    for n in names:
        try:
            wanted.add(LABEL_KINDS.get(n).name)
        except UnknownName as e:
            if is_dotted(n):
                raise ValueError(str(e)) from None  # names the module that is not there
            unknown.append(n)
    if unknown:
        choices = LABEL_KINDS.names()
        guess = did_you_mean(unknown[0], choices)
        raise ValueError(f"unknown label kind(s) {unknown}; choose from {choices}" + (f"; {guess}" if guess else "")
                         + f" ({LABEL_KINDS.hint})")
    return [k for k in LABEL_KINDS.values() if k.from_render or k.name in wanted]
