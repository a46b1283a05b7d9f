"""A PyTorch Dataset over a simgen dataset folder (docs/dataset.md), with torchvision tv_tensors.

Every sample is ``(image, target)``:

- ``image``: ``tv_tensors.Image`` uint8 (3, H, W), the RGB of ``images/NNNNNN.png``.
- ``target["boxes"]``: ``tv_tensors.BoundingBoxes`` float32 (N, 4), XYXY, ``canvas_size`` (H, W):
  the tight box of each instance's visible pixels in pixel-edge coordinates,
  ``[left, top, right + 1, bottom + 1]`` for its leftmost/rightmost columns and top/bottom rows.
  That is COCO's ``bbox`` ``[x, y, w, h]`` of coco.json as ``[x, y, x + w, y + h]`` (what
  torchvision's CocoDetection wrapper makes of it), and a horizontal flip of the image maps it
  exactly onto the box of the flipped mask.
- ``target["masks"]``: ``tv_tensors.Mask`` uint8 (N, H, W): ``instance == instance_ids[k]``.
- ``target["labels"]``: int64 (N,) COCO category ids (those of coco.json / dataset.json).
- ``target["instance_ids"]`` int64 (N,), ``target["area"]`` float32 (N,) visible pixel counts,
  ``target["iscrowd"]`` int64 zeros, ``target["image_id"]`` (int, the COCO image id = frame
  index + 1) and ``target["frame_index"]`` (int).
- with ``extras`` (all present kinds by default): ``target["depth"]`` (:class:`DenseMap`
  float32 (1, H, W), metres, ``inf`` where nothing is hit), ``target["normal"]``
  (:class:`Normals` float32 (3, H, W)), and for frames of sequences
  ``target["flow_forward"]`` / ``target["flow_backward"]`` (:class:`Flow` float32 (2, H, W))
  with ``target["flow_forward_valid"]`` / ``target["flow_backward_valid"]`` (:class:`DenseMap`
  bool (H, W)); a direction a frame has no flow for (the ends of a sequence) is absent.
- with ``extras`` and a dataset made with ``output.labels=[keypoints]`` (its categories name
  keypoints): ``target["keypoints"]``, ``tv_tensors.KeyPoints`` float32 (N, K, 2),
  ``canvas_size`` (H, W), each instance's COCO ``keypoints`` (x, y) in simgen's pixel
  convention (pixel (u, v)'s centre at (u, v), docs/dataset.md), and
  ``target["keypoints_visibility"]`` int64 (N, K), COCO's v (0: outside the image or behind
  the camera, x = y = 0; 1: on a pixel but hidden; 2: visible). K is the most keypoints of a
  category; a category with fewer has its rows padded with v = 0 at (0, 0). These are the
  coordinates torchvision's own keypoint kernels take: its horizontal flip maps x to W - 1 - x,
  the centre of the mirrored pixel, so a keypoint stays on the same surface point (its clamp
  keeps points in [0, W - 1]; its resize scales x by the size ratio s, (s - 1) / 2 pixel short
  of the exact (x + 0.5) * s - 0.5). Transforms move the points, not the visibility: a
  crop that puts a point outside the image keeps its v (compare the points with the
  ``canvas_size``). A dataset without keypoints has neither key. ``tv_tensors.KeyPoints``
  needs torchvision 0.23 or later; with an older one, such a dataset is refused unless
  ``extras`` leaves "keypoints" out.

The N instances are those coco.json annotates: every object of the frame's meta with a
category (id != 0) and at least one pixel in ``instance/``, by increasing instance id. They
are derived from the label maps and the meta, not from coco.json.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torchvision
from torchvision import tv_tensors

from simgen.errors import SimgenError
from simgen.safe_paths import inside
from simgen.io.dataset.layout import frame_name, frames_on_disk, read_frame
from simgen.io.files import read_json, read_npy
from simgen.io.formats.flow import read_valid_png
from simgen.io.names import COCO_JSON, DATASET_JSON, META_DIR
from simgen.torch.tensors import DenseMap, Flow, Normals

EXTRAS = ("depth", "normal", "flow", "keypoints")
"""Optional parts of a sample: depth map, normal map, optical flow (+ validity) of sequences,
keypoints (+ visibility) of datasets made with them."""
KeyPoints = getattr(tv_tensors, "KeyPoints", None)
"""torchvision's keypoint tv_tensor (torchvision 0.23 and later; None before)."""


def _categories(root: Path) -> list[dict]:
    for name in (DATASET_JSON, COCO_JSON):
        path = root / name
        if path.is_file():
            cats = read_json(path).get("categories")
            if cats is not None:
                return [{"id": int(c["id"]), "name": str(c["name"]),
                         **({"keypoints": [str(n) for n in c["keypoints"]]} if c.get("keypoints") else {})}
                        for c in cats]
    raise SimgenError(f"{root} has neither dataset.json nor coco.json with categories; is it a simgen dataset "
                      "folder (output.dir)?")


def instances(instance: np.ndarray, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(instance_ids, category_ids)`` (int64) of the annotated objects of a frame: those of the
    meta with a category that cover a pixel of ``instance``, by increasing instance id."""
    category_of = {int(o["instance_id"]): int(o.get("category_id") or 0) for o in meta.get("objects", ())}
    present = np.unique(instance)
    present = present[present != 0]
    unknown = [int(i) for i in present if int(i) not in category_of]
    if unknown:
        raise SimgenError(f"frame {meta.get('index')}: instance ids {unknown} are in the instance map but not in "
                          "the meta's objects; the dataset is corrupt (run it again with output.overwrite=true)")
    ids = np.array([i for i in present.tolist() if category_of[i] != 0], dtype=np.int64)
    cats = np.array([category_of[i] for i in ids.tolist()], dtype=np.int64)
    return ids, cats


def keypoints_of(meta: dict, ids: np.ndarray, num_keypoints: int) -> tuple[np.ndarray, np.ndarray]:
    """The keypoints (N, K, 2) float32 and their visibility (N, K) int64 of the instances ``ids``
    (in that order), from the COCO annotations of the frame's meta (matched by their simgen
    instance id); K = ``num_keypoints``, shorter categories padded with v = 0 at (0, 0)."""
    xy = np.zeros((len(ids), num_keypoints, 2), np.float32)
    vis = np.zeros((len(ids), num_keypoints), np.int64)
    annotations = {int((a.get("simgen") or {}).get("instance_id", -1)): a
                   for a in (meta.get("coco") or {}).get("annotations", ())}
    for n, iid in enumerate(ids.tolist()):
        kp = (annotations.get(iid) or {}).get("keypoints")
        if kp is None or len(kp) % 3 or len(kp) > 3 * num_keypoints:
            raise SimgenError(f"frame {meta.get('index')}: instance {iid} has no keypoints (or more than the "
                              f"{num_keypoints} its categories name) in the meta's coco annotations, while the "
                              "dataset's categories name keypoints; render it again with output.labels=[keypoints] "
                              "(output.overwrite=true)")
        kp = np.asarray(kp, np.float64).reshape(-1, 3)
        xy[n, :len(kp)] = kp[:, :2]
        vis[n, :len(kp)] = kp[:, 2].astype(np.int64)
    return xy, vis


def masks_and_boxes(instance: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks (N, H, W) bool ``instance == ids[k]`` and their tight XYXY boxes (N, 4) float32 in
    pixel-edge coordinates (right = rightmost column + 1; COCO ``[x, y, x + w, y + h]``)."""
    h, w = instance.shape
    masks = instance[None, :, :] == ids.astype(instance.dtype)[:, None, None]
    if len(ids) == 0:
        return masks, np.zeros((0, 4), np.float32)
    cols, rows = masks.any(axis=1), masks.any(axis=2)
    x1 = cols.argmax(axis=1)
    x2 = w - cols[:, ::-1].argmax(axis=1)
    y1 = rows.argmax(axis=1)
    y2 = h - rows[:, ::-1].argmax(axis=1)
    return masks, np.stack([x1, y1, x2, y2], axis=1).astype(np.float32)


class SimgenDataset(torch.utils.data.Dataset):
    """The frames of the simgen dataset at ``root`` as ``(image, target)`` samples (module doc).

    Args:
        root: the dataset folder (``output.dir``).
        split: ``None`` for every frame; else only the frames whose meta has ``"split": split``
            (e.g. ``"train"``). A dataset without splits in its metas raises SimgenError.
        frames: the frame indices to use (default: every complete frame on disk, sorted).
        transforms: a ``torchvision.transforms.v2`` transform called as
            ``transforms(image, target)``; boxes, masks, keypoints, depth, normals and flow move
            with the image (simgen.torch.tensors).
        extras: which of ``EXTRAS`` ("depth", "normal", "flow", "keypoints") to load; ``()``
            for detection only (faster).
    """

    def __init__(self, root: str | os.PathLike, split: str | None = None, *, frames: Iterable[int] | None = None,
                 transforms: Callable | None = None, extras: Sequence[str] = EXTRAS):
        self.root = Path(root)
        if not (self.root / META_DIR).is_dir():
            raise SimgenError(f"{self.root} is not a simgen dataset folder (no meta/); give the folder a run "
                              "wrote (output.dir)")
        unknown = [e for e in extras if e not in EXTRAS]
        if unknown:
            raise SimgenError(f"unknown extras {unknown}; choose from {list(EXTRAS)}")
        self.extras = tuple(extras)
        self.transforms = transforms
        self.categories = _categories(self.root)
        """COCO categories ``[{"id", "name"}, ...]`` of the dataset (with ``"keypoints"``, their
        names, in a dataset made with them)."""
        self.num_keypoints = max((len(c.get("keypoints", ())) for c in self.categories), default=0)
        """K of ``target["keypoints"]``: the most keypoints of a category (0: a dataset without)."""
        if "keypoints" in self.extras and self.num_keypoints and KeyPoints is None:
            raise SimgenError(f"{self.root} has keypoints, and this torchvision ({torchvision.__version__}) has no "
                              "tv_tensors.KeyPoints to move them with the image; install torchvision>=0.23, or "
                              "leave them out: extras=('depth', 'normal', 'flow')")
        on_disk = frames_on_disk(self.root)
        if frames is None:
            self.frames = on_disk
        else:
            self.frames = [int(i) for i in frames]
            missing = sorted(set(self.frames) - set(on_disk))
            if missing:
                raise SimgenError(f"frames {missing[:10]} are not complete frames of {self.root} "
                                  f"({len(on_disk)} frames on disk)")
        self.split = split
        if split is not None:
            self.frames = self._in_split(split)

    def _in_split(self, split: str) -> list[int]:
        keep, seen = [], set()
        for i in self.frames:
            meta = read_json(self.root / META_DIR / f"{frame_name(i)}.json")
            if "split" in meta:
                seen.add(meta["split"])
                if meta["split"] == split:
                    keep.append(i)
        if not seen:
            raise SimgenError(f"{self.root}: no frame's meta has a split; render the dataset with splits, or use "
                              "split=None (every frame)")
        if not keep:
            raise SimgenError(f"{self.root}: no frame in split {split!r}; the splits there are {sorted(seen)}")
        return keep

    @property
    def num_classes(self) -> int:
        """Classes a torchvision detector needs: the largest category id + 1 (0 = background)."""
        return max((c["id"] for c in self.categories), default=0) + 1

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> tuple[tv_tensors.Image, dict[str, Any]]:
        index = self.frames[i]
        frame = read_frame(self.root, index)
        meta = frame["meta"]
        flows = {}
        if "flow" in self.extras:
            for direction, files in (meta.get("flow") or {}).items():
                if not files:  # an end of the sequence: no frame that way
                    continue
                where = f"meta/{frame_name(index)}.json flow.{direction}"
                flows[direction] = (read_npy(inside(self.root, files["flow"], where)),
                                    read_valid_png(inside(self.root, files["valid"], where)))
        return make_sample(index, Frame(rgb=frame["rgb"], instance=frame["instance"], meta=meta, depth=frame["depth"],
                                        normal=frame["normal"], flows=flows),
                           self.extras, self.num_keypoints, self.transforms)


@dataclass
class Frame:
    """What a sample is made of, read from a dataset folder or a streaming shard."""

    rgb: np.ndarray
    instance: np.ndarray
    meta: dict
    depth: np.ndarray | None = None
    normal: np.ndarray | None = None
    flows: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    """{direction: (flow (H, W, 2), valid bool (H, W))} of the directions the frame has."""


def make_sample(index: int, frame: Frame, extras: Sequence[str], num_keypoints: int,
                transforms: Callable | None = None) -> tuple[tv_tensors.Image, dict[str, Any]]:
    """Frame ``index``'s ``(image, target)`` (the module's doc) from its files' contents."""
    meta, instance = frame.meta, frame.instance
    h, w = instance.shape
    ids, cats = instances(instance, meta)
    masks, boxes = masks_and_boxes(instance, ids)
    image = tv_tensors.Image(torch.from_numpy(np.ascontiguousarray(frame.rgb.transpose(2, 0, 1))))
    target: dict[str, Any] = {
        "image_id": index + 1,
        "frame_index": index,
        "boxes": tv_tensors.BoundingBoxes(torch.from_numpy(boxes), format="XYXY", canvas_size=(h, w)),
        "masks": tv_tensors.Mask(torch.from_numpy(masks.astype(np.uint8))),
        "labels": torch.from_numpy(cats),
        "instance_ids": torch.from_numpy(ids),
        "area": torch.from_numpy(masks.sum(axis=(1, 2)).astype(np.float32)),
        "iscrowd": torch.zeros(len(ids), dtype=torch.int64),
    }
    if "depth" in extras and frame.depth is not None:
        target["depth"] = DenseMap(torch.from_numpy(frame.depth)[None])
    if "normal" in extras and frame.normal is not None:
        target["normal"] = Normals(torch.from_numpy(np.ascontiguousarray(frame.normal.transpose(2, 0, 1))))
    if "flow" in extras:
        for direction, (flow, valid) in frame.flows.items():
            target[f"flow_{direction}"] = Flow(torch.from_numpy(np.ascontiguousarray(flow.transpose(2, 0, 1))))
            target[f"flow_{direction}_valid"] = DenseMap(torch.from_numpy(valid))
    if "keypoints" in extras and num_keypoints:
        xy, vis = keypoints_of(meta, ids, num_keypoints)
        target["keypoints"] = KeyPoints(torch.from_numpy(xy), canvas_size=(h, w))
        target["keypoints_visibility"] = torch.from_numpy(vis)
    if transforms is not None:
        image, target = transforms(image, target)
    return image, target


def collate_detection(batch: Sequence[tuple[Any, dict]]) -> tuple[list, list[dict]]:
    """DataLoader ``collate_fn`` for detection: ``([image, ...], [target, ...])`` (images may differ
    in size; torchvision detectors take lists)."""
    images, targets = zip(*batch) if batch else ((), ())
    return list(images), list(targets)
