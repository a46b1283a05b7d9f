"""The registry of label kinds: one record per kind, read by everything that handles labels.

A label kind says what one per-frame array is (name, dtype, shape, meaning), where it is
stored (``DIR/<folder>/NNNNNN<suffix>`` with the codec of its suffix), how it is made from
a frame's core labels (``compute``, None for the core kinds the render itself gives), what
it adds to each COCO annotation (``annotate``), and its preview picture. The writer, the
reader (:func:`simgen.io.read_frame`), the label checks, the previews and the dataset
reference in docs/dataset.md all iterate over :data:`LABEL_KINDS`, so adding a kind is one
module that calls :func:`register` plus its name in ``output.labels``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np

from simgen.labels.preview import colorize_ids, depth_preview, normal_preview

if TYPE_CHECKING:
    from simgen.labels.core import FrameLabels

CODECS = (".png", ".npy", ".npz")
"""File suffixes the writer and reader know (simgen.io.files): lossless PNG (uint8 RGB, uint8 or
uint16 maps), .npy (one array), compressed .npz (several named arrays)."""


@dataclass(frozen=True)
class FrameContext:
    """What a kind's ``compute`` may look at besides the core labels: the frame's scene
    (plain data: camera K and world_to_camera, objects with mesh paths and poses)."""

    scene: Any
    """simgen.core.scene.Scene of the frame."""


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
    core: bool = False
    """Made by every render (rgb, instance, semantic, depth, normal); always computed."""
    compute: Optional[Callable[["FrameLabels", FrameContext], Any]] = None
    """The kind's value from a frame's core labels and context (None for core kinds)."""
    annotate: Optional[Callable[[Any, list[dict]], None]] = None
    """annotate(value, annotations): add this kind's fields to the frame's COCO annotations."""
    preview: Optional[Callable[[Any], np.ndarray]] = None
    """A uint8 RGB picture of the value for DIR/previews/<name>/, or None."""

    def check(self, value: Any, height: int, width: int) -> None:
        """Raise ValueError unless an image kind's array has its documented dtype and shape."""
        if self.channels < 0:
            return
        shape = (height, width) if self.channels == 0 else (height, width, self.channels)
        if not isinstance(value, np.ndarray) or value.shape != shape or value.dtype != np.dtype(self.dtype):
            got = (getattr(value, "dtype", type(value).__name__), getattr(value, "shape", None))
            raise ValueError(f"label {self.name} must be {self.dtype} {shape}, got {got[0]} {got[1]}")


LABEL_KINDS: dict[str, LabelKind] = {}
"""Every registered kind by name, in registration order (the core kinds first)."""


def register(kind: LabelKind) -> LabelKind:
    """Add ``kind`` to :data:`LABEL_KINDS` (a module-level call in the kind's module)."""
    if kind.name in LABEL_KINDS and LABEL_KINDS[kind.name] != kind:
        raise ValueError(f"label kind {kind.name!r} is registered twice")
    if kind.folder is not None and kind.suffix not in CODECS:
        raise ValueError(f"label kind {kind.name!r}: suffix {kind.suffix!r} is not one of {CODECS}")
    if not kind.core and kind.compute is None:
        raise ValueError(f"label kind {kind.name!r} needs a compute function (only core kinds come from the render)")
    LABEL_KINDS[kind.name] = kind
    return kind


CORE_KINDS = tuple(register(k) for k in (
    LabelKind("rgb", "8-bit sRGB image (the usual anti-aliased render)", "uint8", 3, "images", ".png", core=True),
    LabelKind("instance", "instance id of the surface at the pixel centre, 0 = nothing hit", "uint16", 0,
              "instance", ".png", core=True, preview=colorize_ids),
    LabelKind("semantic", "COCO category id of that surface, 0 = background / uncategorized", "uint16", 0,
              "semantic", ".png", core=True, preview=colorize_ids),
    LabelKind("depth", "planar depth (z along the optical axis) at the pixel centre, metres, inf = no hit",
              "float32", 0, "depth", ".npy", core=True, preview=depth_preview),
    LabelKind("normal", "unit surface normal in OpenCV camera axes, facing the camera; 0 = no hit", "float32", 3,
              "normal", ".npy", core=True, preview=normal_preview),
))


def resolve(names: list[str] | tuple[str, ...]) -> list[LabelKind]:
    """The kinds named by ``output.labels`` plus every core kind, in registry order; a
    ValueError naming the choices for an unknown name."""
    kinds = LABEL_KINDS  # the built-in optional kinds register when simgen.labels is imported
    unknown = [n for n in names if n not in kinds]
    if unknown:
        raise ValueError(f"unknown label kind(s) {unknown}; choose from {list(kinds)}")
    return [k for k in kinds.values() if k.core or k.name in names]
