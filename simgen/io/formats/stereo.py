"""The formats of a stereo pair (camera.rig=stereo), written from the frames on disk at the end of
a run like the other dataset formats (simgen.io.formats.exporters):

- ``kitti_stereo``: KITTI 2015's stereo layout under ``DIR/kitti_stereo/<split>/``:
  ``image_2/NNNNNN_10.png`` (left) and ``image_3/NNNNNN_10.png`` (right), hard links to the
  dataset's images; ``disp_occ_0/NNNNNN_10.png`` (the left view's disparity of every pixel that hits
  a surface, occluded ones too) and ``disp_noc_0/NNNNNN_10.png`` (only those the right camera
  sees): 16-bit grey PNG, ``round(d * 256)``, 0 = no value (a disparity of 256 px or more has
  none: the PNG cannot hold it); ``calib_cam_to_cam/NNNNNN.txt``: ``P_rect_02`` = K [I | 0] and
  ``P_rect_03`` = K [I | (-baseline, 0, 0)] (3x4, row-major, the left camera's frame) and
  ``S_rect_02``/``S_rect_03`` (width height).
- ``middlebury``: Middlebury 2014's layout under ``DIR/middlebury/<split>/NNNNNN/``: ``im0.png``
  and ``im1.png`` (left, right), ``disp0.pfm`` (the left view's disparity, float32 PFM: rows bottom
  to top, little-endian; inf = no value), ``mask0nocc.png`` (255 = seen by both cameras, 128 =
  occluded, 0 = no value) and ``calib.txt`` (cam0, cam1, doffs 0, baseline in mm, width, height,
  ndisp, isint 0, vmin, vmax, dyavg 0, dymax 0).

Nothing here imports Blender.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np

from simgen.safe_paths import regular_file
from simgen.io.files import encode_png, link_or_copy, off_layout, read_json, read_npy, read_png, rebuilt_folder
from simgen.io.formats.coco import CocoSource, image_split
from simgen.io.names import META_DIR

log = logging.getLogger(__name__)

KITTI_SCALE = 256.0
"""KITTI's disparity PNG holds d * 256."""
KITTI_FILES = re.compile(r"^[\w-]+/((image_2|image_3|disp_occ_0|disp_noc_0)/\d{6,}_10\.png|calib_cam_to_cam/\d{6,}\.txt)$")
"""Every file the kitti_stereo export writes, relative to DIR/kitti_stereo (<split>/...)."""
MIDDLEBURY_FILES = re.compile(r"^[\w-]+/\d{6,}/(im0\.png|im1\.png|disp0\.pfm|mask0nocc\.png|calib\.txt)$")
"""Every file the middlebury export writes, relative to DIR/middlebury (<split>/NNNNNN/...)."""


def kitti_foreign_files(folder: Path) -> list[str]:
    """Files (and links) under DIR/kitti_stereo that are not of its layout."""
    return off_layout(folder, KITTI_FILES)


def middlebury_foreign_files(folder: Path) -> list[str]:
    """Files (and links) under DIR/middlebury that are not of its layout."""
    return off_layout(folder, MIDDLEBURY_FILES)


def encode_kitti_disparity(d: np.ndarray, valid: np.ndarray) -> tuple[bytes, int]:
    """KITTI disparity PNG bytes of ``d`` where ``valid`` (16-bit grey, round(d * 256), 0 = no
    value; a valid pixel keeps at least 1), and how many valid pixels had to go without (d * 256
    rounds above 65535)."""
    scaled = np.rint(np.where(valid, np.asarray(d, np.float64), 0.0) * KITTI_SCALE)
    over = valid & (scaled > 65535)
    out = np.where(valid & ~over, np.maximum(scaled, 1.0), 0.0).astype(np.uint16)
    return encode_png(out), int(over.sum())


def encode_pfm(a: np.ndarray) -> bytes:
    """A float32 (H, W) array as a grey PFM file: ``Pf``, ``W H``, scale -1 (little-endian), the
    rows from the bottom one up."""
    a = np.asarray(a, np.float32)
    h, w = a.shape
    return f"Pf\n{w} {h}\n-1\n".encode("ascii") + np.ascontiguousarray(a[::-1]).astype("<f4").tobytes()


def _row(m: np.ndarray) -> str:
    return " ".join(f"{x:.12e}" for x in np.asarray(m, float).ravel())


def _matrix(K: np.ndarray) -> str:
    return "[" + "; ".join(" ".join(f"{x:.10g}" for x in row) for row in np.asarray(K, float)) + "]"


def _frames(root: Path, index: CocoSource):
    """(split, stem, meta, left image path, right image path, disparity, occluded) of every indexed frame."""
    for chunk in index.chunks():
        for im in chunk["images"]:
            stem = Path(im["file_name"]).stem
            where = f"frame {stem}"
            meta = read_json(regular_file(root, f"{META_DIR}/{stem}.json", where))
            if "stereo" not in meta:
                raise ValueError(f"frame {stem} is not a stereo pair's (no meta 'stereo'): render with camera.rig=stereo")
            yield (image_split(im), stem, meta, regular_file(root, im["file_name"], where),
                   regular_file(root, f"right/{stem}.png", where),
                   read_npy(regular_file(root, f"disparity/{stem}.npy", where)),
                   read_png(regular_file(root, f"occluded/{stem}.png", where)).astype(bool))


def write_kitti_stereo(root: Path, index: CocoSource, splits: list[str]) -> None:
    """The ``kitti_stereo`` format (see the module's docstring)."""
    root, lost = Path(root), 0
    with rebuilt_folder(root, "kitti_stereo", kitti_foreign_files) as tmp:
        for split, stem, meta, left, right, d, occluded in _frames(root, index):
            out = tmp / split
            if not out.exists():
                for sub in ("image_2", "image_3", "disp_occ_0", "disp_noc_0", "calib_cam_to_cam"):
                    (out / sub).mkdir(parents=True)
            link_or_copy(left, out / "image_2" / f"{stem}_10.png")
            link_or_copy(right, out / "image_3" / f"{stem}_10.png")
            hit = d > 0
            for sub, valid in (("disp_occ_0", hit), ("disp_noc_0", hit & ~occluded)):
                data, over = encode_kitti_disparity(d, valid)
                (out / sub / f"{stem}_10.png").write_bytes(data)
                lost += over if sub == "disp_occ_0" else 0
            K, b = np.array(meta["K"], float), float(meta["stereo"]["baseline"])
            P2, P3 = np.hstack([K, np.zeros((3, 1))]), np.hstack([K, K @ np.array([[-b], [0.0], [0.0]])])
            size = f"{float(meta['width']):.6e} {float(meta['height']):.6e}"
            (out / "calib_cam_to_cam" / f"{stem}.txt").write_text(
                f"S_rect_02: {size}\nP_rect_02: {_row(P2)}\nS_rect_03: {size}\nP_rect_03: {_row(P3)}\n")
    if lost:
        log.warning("kitti_stereo: %d pixel(s) with a disparity of 256 px or more have no value in disp_*_0/ "
                    "(KITTI's 16-bit PNG holds d * 256); disparity/ holds them", lost)


def write_middlebury(root: Path, index: CocoSource, splits: list[str]) -> None:
    """The ``middlebury`` format (see the module's docstring)."""
    root = Path(root)
    with rebuilt_folder(root, "middlebury", middlebury_foreign_files) as tmp:
        for split, stem, meta, left, right, d, occluded in _frames(root, index):
            out = tmp / split / stem
            out.mkdir(parents=True)
            link_or_copy(left, out / "im0.png")
            link_or_copy(right, out / "im1.png")
            hit = d > 0
            (out / "disp0.pfm").write_bytes(encode_pfm(np.where(hit, d, np.float32(np.inf))))
            (out / "mask0nocc.png").write_bytes(encode_png(np.where(hit, np.where(occluded, 128, 255), 0).astype(np.uint8)))
            K, b = np.array(meta["K"], float), float(meta["stereo"]["baseline"])
            seen = d[hit]
            lo, hi = (math.floor(float(seen.min())), math.ceil(float(seen.max()))) if seen.size else (0, 0)
            (out / "calib.txt").write_text("\n".join([
                f"cam0={_matrix(K)}", f"cam1={_matrix(K)}", "doffs=0", f"baseline={b * 1000.0:.10g}",
                f"width={meta['width']}", f"height={meta['height']}", f"ndisp={max(1, hi)}", "isint=0",
                f"vmin={lo}", f"vmax={hi}", "dyavg=0", "dymax=0"]) + "\n")
