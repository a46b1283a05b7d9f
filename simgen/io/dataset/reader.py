"""A read-only view of a simgen dataset folder: its frames, their label maps, camera and COCO
annotations, read lazily with the readers the writer's layout defines (:mod:`simgen.io.dataset.layout`).

A dataset is data, possibly from anyone: every file is opened through
:func:`simgen.safe_paths.inside` (a relative path without ``..`` that no symbolic link leads out
of the folder), PNG headers are checked against the pixel limit before they are decoded
(:func:`simgen.io.files.read_png`), and the ``file_name`` of every image in ``coco.json`` is
checked the same way when :attr:`Dataset.coco` is read. A violation is one line
(:class:`simgen.SimgenError`).

::

    ds = Dataset("DIR")
    len(ds), ds.categories                 # complete frames on disk; COCO categories
    frame = ds[0]                          # or ds.frame(INDEX) by frame index
    frame.image                            # uint8 (H, W, 3) RGB
    frame.labels                           # ('rgb', 'instance', 'semantic', 'depth', 'normal', ...)
    frame.label("depth")                   # float32 (H, W), metres, inf = no hit
    frame.K, frame.world_to_camera         # (3, 3) and (4, 4), OpenCV camera axes
    frame.lens                             # the calibrated lens (simgen.optics.lens), None for a pinhole
    frame.annotations                      # its COCO annotations, as in coco.json
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Iterator, overload

import numpy as np

from simgen.errors import SimgenError
from simgen.optics.lens import Lens, lens_from_dict
from simgen.safe_paths import inside
from simgen.io.dataset.coco_index import video_fields
from simgen.io.dataset.layout import READERS, frame_name, frames_on_disk, kind_path, read_frame
from simgen.io.files import read_json, read_npy
from simgen.io.formats.flow import read_valid_png
from simgen.io.names import COCO_JSON, DATASET_JSON, META_DIR
from simgen.labels.kinds import LABEL_KINDS, LabelKind

FLOW_DIRECTIONS = ("forward", "backward")
"""The flow fields a frame of a sequence may have (``flow_<direction>`` and ``flow_<direction>_valid``)."""


class Frame:
    """One complete frame of a :class:`Dataset`; each file is read on first use and kept.

    Attributes:
        dataset: the dataset the frame belongs to.
        index: the frame index (``NNNNNN`` of its files; COCO image id = index + 1).
    """

    def __init__(self, dataset: "Dataset", index: int):
        self.dataset = dataset
        self.index = int(index)
        self._maps: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Frame({self.index} of {self.dataset.root})"

    @property
    def _where(self) -> str:
        return f"frame {self.index}"

    @functools.cached_property
    def meta(self) -> dict[str, Any]:
        """``meta/NNNNNN.json``: K, world_to_camera, every object's mesh, pose and 3D box, every
        random draw, the COCO image and annotations (docs/dataset.md)."""
        return read_json(inside(self.dataset.root, f"{META_DIR}/{frame_name(self.index)}.json", self._where))

    def _kinds(self) -> dict[str, tuple[LabelKind, Path]]:
        """The label kinds with a file of this frame, by name, with that file (checked)."""
        out = {}
        for kind in LABEL_KINDS.values():
            if kind.folder:
                path = inside(self.dataset.root, kind_path(Path(), kind, self.index).as_posix(), self._where)
                if kind.from_render or path.exists():
                    out[kind.name] = (kind, path)
        return out

    def _flows(self) -> dict[str, tuple[str, dict]]:
        """``flow_<direction>`` and ``flow_<direction>_valid`` -> (which file of the meta's flow entry, the entry)."""
        out = {}
        for direction, files in (self.meta.get("flow") or {}).items():
            if direction in FLOW_DIRECTIONS and files:  # none at the ends of a sequence
                out[f"flow_{direction}"] = ("flow", files)
                out[f"flow_{direction}_valid"] = ("valid", files)
        return out

    @property
    def labels(self) -> tuple[str, ...]:
        """The names :meth:`label` reads for this frame: the label kinds with a file (``rgb``,
        ``instance``, ``semantic``, ``depth``, ``normal``, and those of ``output.labels`` such as
        ``amodal``, ``linear``, ``lights``), then the flow fields of a sequence's frame
        (``flow_forward``, ``flow_forward_valid``, ``flow_backward``, ``flow_backward_valid``)."""
        return (*self._kinds(), *self._flows())

    def label(self, name: str) -> Any:
        """The array of label map ``name`` (one of :attr:`labels`; docs/dataset.md gives each one's
        dtype, shape and units): a label kind's file read with its codec (an ``.npz`` kind gives a
        dict of arrays), a flow field float32 (H, W, 2) OpenCV (dx, dy) in pixels, its validity
        bool (H, W). KeyError naming the available ones for another name."""
        if name not in self._maps:
            kinds = self._kinds()
            if name in kinds:
                kind, path = kinds[name]
                self._maps[name] = READERS[kind.suffix](path)
            else:
                flows = self._flows()
                if name not in flows:
                    raise KeyError(f"frame {self.index} of {self.dataset.root} has no label map {name!r}; it has "
                                   f"{', '.join((*kinds, *flows))}")
                which, files = flows[name]
                where = f"meta/{frame_name(self.index)}.json flow"
                path = inside(self.dataset.root, files.get(which), where)
                self._maps[name] = read_npy(path) if which == "flow" else read_valid_png(path)
        return self._maps[name]

    @property
    def image(self) -> np.ndarray:
        """The RGB image, uint8 (H, W, 3), 8-bit sRGB (``images/NNNNNN.png``)."""
        return self.label("rgb")

    @property
    def instance(self) -> np.ndarray:
        """uint16 (H, W) instance ids of the surface at each pixel centre, 0 = nothing hit."""
        return self.label("instance")

    @property
    def semantic(self) -> np.ndarray:
        """uint16 (H, W) COCO category ids, 0 = background / uncategorized."""
        return self.label("semantic")

    @property
    def depth(self) -> np.ndarray:
        """float32 (H, W) planar depth (z along the optical axis), metres, inf = no hit."""
        return self.label("depth")

    @property
    def normal(self) -> np.ndarray:
        """float32 (H, W, 3) unit normals in OpenCV camera axes, facing the camera; 0 = no hit."""
        return self.label("normal")

    @property
    def K(self) -> np.ndarray:  # noqa: N802 (the camera matrix's usual name)
        """float64 (3, 3) intrinsics, ``[[f, 0, cx], [0, f, cy], [0, 0, 1]]``, pixel centres at integers."""
        return np.asarray(self.meta["K"], dtype=np.float64)

    @property
    def lens(self) -> Lens | None:
        """The real lens the frame was rendered through (camera.calibration; docs/how-to/real-cameras.md),
        with ``project`` and ``unproject``; None for a pinhole camera (K alone)."""
        data = self.meta.get("lens")
        return None if data is None else lens_from_dict(data, f"{self._where}: lens")

    @property
    def lidar(self) -> dict[str, np.ndarray] | None:
        """sensor.lidar: the frame's scan, ``lidar/NNNNNN.ply`` read by field (x, y, z in the scanner's
        frame, range, intensity, instance, semantic, ring, time, azimuth, noise, and world_x, world_y,
        world_z; docs/how-to/sensors.md), None for a frame without one; the scanner's pose and the
        draws are the meta's ``sensor.lidar``."""
        from simgen.io.formats.lidar import read_ply

        if "lidar" not in (self.meta.get("sensor") or {}):
            return None
        return read_ply(inside(self.dataset.root, f"lidar/{frame_name(self.index)}.ply", self._where))

    @property
    def world_to_camera(self) -> np.ndarray:
        """float64 (4, 4) world-to-camera transform into OpenCV camera axes (x right, y down, z
        forward); world: Blender's, Z up, metres."""
        return np.asarray(self.meta["world_to_camera"], dtype=np.float64)

    @property
    def camera_to_world(self) -> np.ndarray:
        """float64 (4, 4): the camera's pose in the world, the inverse of :attr:`world_to_camera`."""
        return np.linalg.inv(self.world_to_camera)

    @property
    def image_info(self) -> dict[str, Any]:
        """The frame's COCO image entry (id = index + 1, width, height, file_name, simgen's fields;
        a frame of a sequence: COCO-video's too), as coco.json lists it."""
        return video_fields(self.meta, dict(self.meta["coco"]["image"]), [])[0]

    @property
    def annotations(self) -> list[dict[str, Any]]:
        """The frame's COCO annotations, by id: those coco.json lists for this image (it is built
        from the frames' metas), available before a run has written coco.json."""
        return video_fields(self.meta, {}, sorted(self.meta["coco"]["annotations"], key=lambda a: a["id"]))[1]

    @property
    def split(self) -> str | None:
        """The frame's split (``train``, ``val``, ``test``), or None in a dataset without splits."""
        return self.meta.get("split")

    def read(self) -> dict[str, Any]:
        """Every file of the frame at once (:func:`simgen.io.dataset.layout.read_frame`): each label
        kind with a file by name, and ``meta``."""
        return read_frame(self.dataset.root, self.index)


class Dataset:
    """The complete frames of the simgen dataset at ``root`` (a run's ``output.dir``), as a
    sequence of :class:`Frame` objects in frame-index order, read lazily.

    The frames are those complete on disk (with a meta file) when the dataset was opened;
    ``ds[i]`` is the i-th of them (a new Frame each time), ``ds.frame(index)`` the one of a frame
    index. A folder that is not a simgen dataset is a SimgenError.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser()
        """The dataset's folder."""
        if not (self.root / META_DIR).is_dir():
            raise SimgenError(f"{self.root} is not a simgen dataset folder (no meta/); give the folder a run "
                              "wrote (output.dir)")
        inside(self.root, META_DIR, "the frames' meta folder")  # not a link out of the dataset
        self.indices: list[int] = frames_on_disk(self.root)
        """The frame indices of the complete frames, sorted."""
        self._complete = frozenset(self.indices)

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}: {len(self)} frame(s))"

    def __len__(self) -> int:
        return len(self.indices)

    @overload
    def __getitem__(self, i: int) -> Frame: ...
    @overload
    def __getitem__(self, i: slice) -> list[Frame]: ...

    def __getitem__(self, i: int | slice) -> Frame | list[Frame]:
        if isinstance(i, slice):
            return [Frame(self, k) for k in self.indices[i]]
        return Frame(self, self.indices[i])

    def __iter__(self) -> Iterator[Frame]:
        return (Frame(self, k) for k in self.indices)

    def frame(self, index: int) -> Frame:
        """The frame of frame index ``index`` (KeyError when it is not a complete frame)."""
        if int(index) not in self._complete:
            raise KeyError(f"frame {index} is not a complete frame of {self.root} ({len(self)} frame(s))")
        return Frame(self, int(index))

    def _json(self, name: str, what: str) -> Any:
        path = inside(self.root, name, what)
        if not path.is_file():
            raise SimgenError(f"{self.root} has no {name}; a run writes it before its first frame ({what}), and "
                              "coco.json at its end: run the same command again to finish the dataset")
        return read_json(path)

    @functools.cached_property
    def info(self) -> dict[str, Any]:
        """``dataset.json``: simgen's and Blender's versions, the resolved config (``info["config"]``),
        seed, categories and frames on disk."""
        return self._json(DATASET_JSON, "the run's description")

    @functools.cached_property
    def coco(self) -> dict[str, Any]:
        """``coco.json`` parsed: images, categories, annotations of every frame on disk when its
        run ended. Every image's ``file_name`` is checked to stay inside the folder (no ``..``, no
        absolute path, no symbolic link out), so ``root / file_name`` is safe to open."""
        coco = self._json(COCO_JSON, "the COCO instances")
        for k, image in enumerate(coco.get("images") or ()):
            inside(self.root, image.get("file_name") if isinstance(image, dict) else None,
                   f"coco.json images[{k}].file_name")
        return coco

    @functools.cached_property
    def categories(self) -> list[dict[str, Any]]:
        """The COCO categories (``id``, ``name``, ``supercategory``; ``keypoints`` and ``skeleton``
        in a dataset made with keypoints): dataset.json's, else coco.json's."""
        for name in (DATASET_JSON, COCO_JSON):
            path = inside(self.root, name, "the dataset's categories")
            if path.is_file():
                cats = read_json(path).get("categories")
                if cats is not None:
                    return [dict(c) for c in cats]
        raise SimgenError(f"{self.root} has neither dataset.json nor coco.json with categories; is it a simgen "
                          "dataset folder (output.dir)?")
