"""YOLO exports: Ultralytics' detection (``yolo``), segmentation (``yolo_seg``) and pose
(``yolo_pose``) layouts.

::

    DIR/yolo/data.yaml                      path, one entry per split (images/<split>), names
                                            (pose: also kpt_shape, flip_idx, kpt_names)
    DIR/yolo/images/<split>/NNNNNN.png      hard links to DIR/images/NNNNNN.png (a copy where
                                            the file system has no hard links)
    DIR/yolo/labels/<split>/NNNNNN.txt      one line per COCO annotation:
                                            "class cx cy w h" (yolo),
                                            "class x1 y1 x2 y2 ..." (yolo_seg),
                                            "class cx cy w h x1 y1 v1 ... xK yK vK" (yolo_pose)

``yolo_seg`` and ``yolo_pose`` write the same under ``DIR/yolo_seg/`` and ``DIR/yolo_pose/``.
Classes are the dataset's categories in order, numbered from 0 (``names`` in data.yaml).
Coordinates are normalized by the image size, with COCO's pixel-edge convention: pixel (u, v)
covers [u, u+1] x [v, v+1] before dividing by (W, H), so a box is the COCO bbox. A polygon runs
through the centres (u + 0.5, v + 0.5) of the instance's boundary pixels (OpenCV's contour of
the mask); holes (a ring's opening) and parts split by an occluder are joined into the one
polygon a YOLO line holds by zero-width bridges (each walked there and back), so filling the
polygon with OpenCV's ``fillPoly`` (what Ultralytics does) gives back the mask with its holes.
``scripts/yolo_polygon_iou.py`` measures that on rendered frames.

Pose (the ``keypoints`` label kind): a keypoint at simgen's pixel position (x, y) (the centre of
pixel (u, v) at (u, v)) is written at ((x + 0.5) / W, (y + 0.5) / H), the same pixel-edge
convention as the box, with COCO's visibility, which Ultralytics reads as it is (0: not labelled,
1: labelled but hidden, 2: visible; its loss and OKS use every point with v != 0); a point
outside the image or behind the camera (v = 0) is ``0 0 0``. ``kpt_shape`` is [K, 3] with K the
largest keypoint count of the dataset's categories; a category with fewer keypoints has its line
padded with ``0 0 0``. ``flip_idx`` (:func:`flip_index`) swaps a ``left_*`` point with its
``right_*`` (a person's COCO keypoints: a mirrored person's left shoulder is where a right one would
be) and keeps every other at its index (a box corner, a catalog point: points of the model); where
categories disagree on a slot (people and boxes in one dataset) it is left out, and Ultralytics then
turns its left-right flip augmentation off. ``kpt_names`` gives each class its category's keypoint
names (padding: ``(none)``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np

from simgen.errors import SimgenError
from simgen.safe_paths import regular_file
from simgen.io.files import (atomic_write_bytes, link_or_copy, read_json, rebuilt_folder, remove_stale_rebuilds,
                             write_json)
from simgen.io.formats.coco import CocoSource, image_split
from simgen.labels.frame import annotation_mask


_EXPORT_FILE = re.compile(r"^\d{6,}\.(png|txt)$")
"""An image or label file of the export (NNNNNN and its suffix)."""
DIGITS = 6
"""Decimals of the normalized coordinates (1e-6 of the image: well below a pixel)."""
TASKS = ("detect", "segment", "pose")
"""Ultralytics' names of the layouts write_yolo writes (yolo, yolo_seg, yolo_pose)."""


# ---------------------------------------------------------------------------- geometry


def yolo_box(bbox: list[float], width: int, height: int) -> tuple[float, float, float, float]:
    """COCO [x, y, w, h] (pixel edges) -> YOLO normalized (cx, cy, w, h)."""
    x, y, w, h = (float(v) for v in bbox)
    return (x + w / 2) / width, (y + h / 2) / height, w / width, h / height


def _bridge(ring: np.ndarray, other: np.ndarray) -> np.ndarray:
    """One ring that walks ``ring``, crosses at the nearest pair of vertices to ``other``, walks
    all of it and comes back the same way: filling it (even-odd or non-zero with an opposite
    orientation) fills ``ring`` xor ``other``, and the bridge adds no area."""
    d = ((ring[:, None, :].astype(np.int64) - other[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    return np.concatenate([ring[: i + 1], other[j:], other[: j + 1], ring[i:]])


def mask_polygon(mask: np.ndarray) -> np.ndarray:
    """The one polygon (N, 2) of a binary mask: vertices at the centres of its boundary pixels,
    in pixel-index coordinates (column, row), holes and separate parts bridged in (see the
    module's doc). Empty (0, 2) for an empty mask."""
    m = np.ascontiguousarray(mask, dtype=np.uint8)
    contours, hierarchy = cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.zeros((0, 2), np.int32)
    hierarchy = hierarchy[0]
    parts: list[np.ndarray] = []
    for k, c in enumerate(contours):
        if hierarchy[k][3] >= 0:  # a hole: joined to its outer contour below
            continue
        ring = c[:, 0, :]
        h = hierarchy[k][2]  # first hole of this outer contour, then its siblings
        holes = []
        while h >= 0:
            holes.append(contours[h][:, 0, :])
            h = hierarchy[h][0]
        for hole in sorted(holes, key=len, reverse=True):
            ring = _bridge(ring, hole)
        parts.append(ring)
    parts.sort(key=lambda r: cv2.contourArea(r.astype(np.float32)), reverse=True)
    poly = parts[0]
    rest = parts[1:]
    while rest:  # attach the nearest remaining part each time
        dists = [((poly[:, None, :].astype(np.int64) - r[None]) ** 2).sum(-1).min() for r in rest]
        poly = _bridge(poly, rest.pop(int(np.argmin(dists))))
    return poly.astype(np.int32)


def yolo_polygon(mask: np.ndarray) -> np.ndarray:
    """:func:`mask_polygon` in YOLO's normalized coordinates (N, 2), N >= 3 (a one-pixel part is
    its centre repeated)."""
    poly = mask_polygon(mask).astype(np.float64)
    if len(poly) == 0:
        return poly
    while len(poly) < 3:
        poly = np.concatenate([poly, poly[-1:]])
    h, w = mask.shape
    return (poly + 0.5) / np.array([w, h], np.float64)


def rasterize_polygon(poly: np.ndarray, width: int, height: int) -> np.ndarray:
    """Fill a normalized YOLO polygon (N, 2) at the pixel centres: ``cv2.fillPoly`` on the vertex
    coordinates in pixel-index units (x * W - 0.5), 8 fractional bits. bool (H, W)."""
    out = np.zeros((height, width), np.uint8)
    if len(poly):
        pts = (np.asarray(poly, np.float64) * np.array([width, height]) - 0.5) * 256.0
        cv2.fillPoly(out, [np.round(pts).astype(np.int32).reshape(-1, 1, 2)], 1, lineType=cv2.LINE_8, shift=8)
    return out.astype(bool)


# ---------------------------------------------------------------------------- export


def _fmt(values) -> str:
    return " ".join(f"{v:.{DIGITS}f}" for v in values)


def yolo_keypoints(keypoints: list[float], width: int, height: int, kpts: int) -> str:
    """COCO ``keypoints`` [x1, y1, v1, ...] (simgen's pixel positions) -> the ``x y v`` triples of a
    YOLO pose line, normalized with the pixel-edge convention ((x + 0.5) / W), ``0 0 0`` where
    v = 0 and for the padding up to ``kpts`` points."""
    out = []
    for k in range(0, len(keypoints), 3):
        x, y, v = keypoints[k:k + 3]
        out.append("0 0 0" if int(v) == 0 else f"{_fmt(((x + 0.5) / width, (y + 0.5) / height))} {int(v)}")
    out += ["0 0 0"] * (kpts - len(out))
    return " ".join(out)


def _keypoint_names(categories: list[dict]) -> dict[int, list[str]]:
    """Category id -> its keypoint names; SimgenError when the categories have none."""
    names = {int(c["id"]): [str(n) for n in c["keypoints"]] for c in categories if c.get("keypoints")}
    if not names:
        raise SimgenError("the yolo_pose export needs keypoints, and the dataset's categories name none; render "
                          "the dataset with them: output.labels=[keypoints]")
    return names


def label_lines(annotations: list[dict], width: int, height: int, classes: dict[int, int],
                task: str, kpts: int = 0) -> list[str]:
    """The lines of one image's label file (``classes``: category id -> YOLO class; ``task`` one
    of TASKS; ``kpts``: the K of kpt_shape, for pose)."""
    lines = []
    for a in annotations:
        cls = classes[int(a["category_id"])]
        if task == "segment":
            poly = yolo_polygon(annotation_mask(a, height, width))
            if len(poly):
                lines.append(f"{cls} {_fmt(poly.ravel())}")
        elif task == "pose":
            kp = a.get("keypoints")
            if kp is None or len(kp) % 3 or len(kp) > 3 * kpts:
                raise SimgenError(f"annotation {a.get('id')} (image {a.get('image_id')}) has "
                                  f"{'no keypoints' if kp is None else f'{len(kp)} keypoint values'} where the "
                                  f"yolo_pose export needs up to {kpts} (x, y, v) triples; the frame was rendered "
                                  "without output.labels=[keypoints]: render it again with them")
            lines.append(f"{cls} {_fmt(yolo_box(a['bbox'], width, height))} {yolo_keypoints(kp, width, height, kpts)}")
        else:
            lines.append(f"{cls} {_fmt(yolo_box(a['bbox'], width, height))}")
    return lines


def _yaml_str(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


MANIFEST = "simgen_index.json"
"""In the export folder: what it was built from ({"task", "classes", "keypoints", "splits",
"chunks": {C: {"sha256", "frames"}}}, the COCO index's chunks), so that the next export rewrites
only the chunks that changed (data.yaml, which names the folder, is written every time)."""


def foreign_files(folder: Path) -> list[str]:
    """Files under an export folder that are not of simgen's export layout (data.yaml, its
    manifest, images/<split>/NNNNNN.png, labels/<split>/NNNNNN.txt), relative to it."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    found = []
    for here, dirs, files in os.walk(folder):
        rel = Path(here).relative_to(folder)
        for name in files:
            ok = (rel.parts == () and name in ("data.yaml", MANIFEST)) or (
                len(rel.parts) == 2 and rel.parts[0] in ("images", "labels") and _EXPORT_FILE.match(name))
            if not ok:
                found.append((rel / name).as_posix())
        found += [(rel / d).as_posix() + "/" for d in dirs if (Path(here) / d).is_symlink()]
        if len(rel.parts) >= 2:
            found += [(rel / d).as_posix() + "/" for d in dirs]
            dirs.clear()
    return sorted(found)


def _write_chunk(folder: Path, root: Path, chunk: dict, classes: dict[int, int], task: str, kpts: int) -> None:
    """The images (hard links to the dataset's, which must be regular files) and label files of
    one chunk of the COCO index."""
    by_image: dict[int, list[dict]] = {}
    for a in chunk["annotations"]:
        by_image.setdefault(int(a["image_id"]), []).append(a)
    for im in chunk["images"]:
        split, name = image_split(im), Path(im["file_name"])
        image = folder / "images" / split / name.name
        image.unlink(missing_ok=True)
        link_or_copy(regular_file(root, name.as_posix(), f"image {im['id']}"), image)
        lines = label_lines(by_image.get(int(im["id"]), []), int(im["width"]), int(im["height"]), classes, task, kpts)
        (folder / "labels" / split / f"{name.stem}.txt").write_text("".join(f"{x}\n" for x in lines))


def _remove_frames(folder: Path, frames: list[int], splits: list[str]) -> None:
    for i in frames:
        for s in splits:
            (folder / "images" / s / f"{i:06d}.png").unlink(missing_ok=True)
            (folder / "labels" / s / f"{i:06d}.txt").unlink(missing_ok=True)


def flip_index(kpt_names: dict[int, list[str]], kpts: int) -> list[int] | None:
    """Ultralytics' ``flip_idx``: where a mirror image puts each of the ``kpts`` keypoint slots,
    the same for every category (``kpt_names``: category id -> its names): a ``left_*`` name
    and the category's ``right_*`` of the same point trade places (a person's COCO keypoints), any
    other keeps its own (a box corner, a catalog point). None where categories disagree (a person's
    slot 1 is left_eye, a box's is a corner): no one flip_idx serves both."""
    chosen: list[int] | None = None
    for names in kpt_names.values():
        own = list(range(kpts))
        for k, name in enumerate(names):
            for a, b in (("left_", "right_"), ("right_", "left_")):
                if name.startswith(a) and b + name[len(a):] in names:
                    own[k] = names.index(b + name[len(a):])
        if chosen is not None and own != chosen:
            return None
        chosen = own
    return chosen if chosen is not None else list(range(kpts))


def _data_yaml(final: Path, names: list[str], categories: list[dict], task: str, kpts: int,
               kpt_names: dict[int, list[str]]) -> str:
    val = "val" if "val" in names else names[0]  # Ultralytics needs a val entry
    what = {"detect": "detection", "segment": "segmentation", "pose": "pose"}[task]
    yaml = [f"# simgen YOLO {what} export (docs/dataset.md)",
            f"path: {_yaml_str(final.resolve())}"]
    yaml += [f"{s}: images/{s}" for s in names]
    if "val" not in names:
        yaml.append(f"val: images/{val}  # no val split: Ultralytics needs one")
    yaml.append("names:")
    yaml += [f"  {k}: {_yaml_str(c['name'])}" for k, c in enumerate(categories)]
    if task == "pose":
        yaml.append(f"kpt_shape: [{kpts}, 3]  # the most keypoints of a category; fewer: padded with 0 0 0")
        flip = flip_index(kpt_names, kpts)
        if flip is None:
            yaml.append("# no flip_idx: a person's left and right swap in a mirror, other categories' points do "
                        "not; Ultralytics then turns fliplr off")
        elif flip == list(range(kpts)):
            yaml.append(f"flip_idx: [{', '.join(map(str, flip))}]  # points of the model: a mirror keeps them")
        else:
            yaml.append(f"flip_idx: [{', '.join(map(str, flip))}]  # a mirror swaps left_* and right_*")
        yaml.append("kpt_names:")
        for k, c in enumerate(categories):
            own = kpt_names.get(int(c["id"]), [])
            yaml.append(f"  {k}:")
            yaml += [f"    - {_yaml_str(n)}" for n in own + ["(none)"] * (kpts - len(own))]
    return "\n".join(yaml) + "\n"


def write_yolo(root: Path, index: CocoSource, splits: list[str], folder: str, task: str = "detect") -> Path:
    """Write the YOLO export (``task``: one of TASKS) of every indexed frame to ``root/folder``;
    returns the path of its data.yaml.

    The export records what it was built from (:data:`MANIFEST`). When the task, the categories,
    the splits and the folder's place are unchanged, only the chunks of the COCO index that changed
    since (frames added, removed or rendered again: a resumed run, a new shard) are written again,
    so an export costs in proportion to the frames that changed; a kill in the middle leaves the
    manifest as it was, and the next export writes those chunks again. Otherwise the export is
    rebuilt beside the folder and swapped in whole. data.yaml names the folder: it is written
    every time (a dataset moved elsewhere keeps its export)."""
    if task not in TASKS:
        raise ValueError(f"unknown YOLO task {task!r}; choose from {TASKS}")
    root = Path(root)
    categories = sorted(index.categories, key=lambda c: int(c["id"]))
    kpt_names = _keypoint_names(categories) if task == "pose" else {}
    kpts = max((len(n) for n in kpt_names.values()), default=0)
    final = root / folder
    names = list(splits) + [s for s in index.split_names() if s not in splits]
    classes = {int(c["id"]): k for k, c in enumerate(categories)}
    built = {"task": task, "classes": list(classes), "keypoints": kpt_names and {str(k): v for k, v in kpt_names.items()},
             "splits": names}
    digests = index.chunk_digests()
    chunks = {str(c): {"sha256": sha, "frames": frames} for c, (sha, frames) in sorted(digests.items())}
    try:
        old = read_json(final / MANIFEST)
        same = isinstance(old, dict) and all(old.get(k) == v for k, v in built.items()) and not foreign_files(final) \
            and all((final / sub / s).is_dir() for sub in ("images", "labels") for s in names)
    except (OSError, ValueError):
        same = False
    if not same:
        with rebuilt_folder(root, folder, foreign_files) as tmp:
            for s in names:
                (tmp / "images" / s).mkdir(parents=True)
                (tmp / "labels" / s).mkdir(parents=True)
            for c in digests:
                _write_chunk(tmp, root, index.chunk(c), classes, task, kpts)
            (tmp / "data.yaml").write_text(_data_yaml(final, names, categories, task, kpts, kpt_names))
            write_json(tmp / MANIFEST, {**built, "chunks": chunks})
        return final / "data.yaml"
    remove_stale_rebuilds(root, folder)
    indexed = {f"{i:06d}" for i in index.frames()}
    for sub in ("images", "labels"):  # a frame's files that are not of a frame on disk (a frame removed)
        for s in names:
            for entry in os.scandir(final / sub / s):
                if entry.name.split(".", 1)[0] not in indexed:
                    os.unlink(entry.path)
    previous = old.get("chunks") if isinstance(old.get("chunks"), dict) else {}
    for c, entry in previous.items():
        if chunks.get(c) != entry:
            _remove_frames(final, [int(i) for i in entry.get("frames", [])], names)
    for c, entry in chunks.items():
        if previous.get(c) != entry:
            _write_chunk(final, root, index.chunk(int(c)), classes, task, kpts)
    atomic_write_bytes(final / "data.yaml", _data_yaml(final, names, categories, task, kpts, kpt_names).encode())
    write_json(final / MANIFEST, {**built, "chunks": chunks})  # names the folder nowhere: a dataset moved keeps it
    return final / "data.yaml"
