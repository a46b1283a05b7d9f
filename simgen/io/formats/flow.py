"""Optical-flow file formats: Middlebury ``.flo``, KITTI 16-bit PNG and the valid mask.

simgen's own lossless layout is a float32 (H, W, 2) ``.npy`` (``write_npy``) plus a
validity mask PNG (uint8, 255 = valid, 0 = invalid; :func:`write_valid_png`).
``.flo`` and KITTI PNGs are for other tools. Every writer is atomic
(:func:`simgen.io.files.atomic_write_bytes`).
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from simgen.image_header import check_pixels
from simgen.io.files import PNG_PARAMS_SMOOTH, atomic_write_bytes, encode_png, read_png

FLO_MAGIC = b"PIEH"
"""First 4 bytes of a .flo file: the float32 202021.25, little-endian."""
KITTI_SCALE = 64.0
KITTI_OFFSET = 2.0 ** 15


def _check_flow(flow: np.ndarray) -> np.ndarray:
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got shape {flow.shape}")
    if not np.issubdtype(flow.dtype, np.floating):
        raise ValueError(f"flow must be floating point, got {flow.dtype}")
    if flow.shape[0] == 0 or flow.shape[1] == 0:
        raise ValueError(f"cannot write an empty flow field {flow.shape}")
    return flow


# ------------------------------------------------------------------------ .flo


def encode_flo(flow: np.ndarray) -> bytes:
    """Middlebury .flo bytes: ``PIEH``, int32 width, int32 height, then float32 (u, v)
    pairs row by row, all little-endian. Values are stored as float32 as they are
    (nan/inf included)."""
    flow = _check_flow(flow)
    h, w = flow.shape[:2]
    header = FLO_MAGIC + np.array([w, h], "<i4").tobytes()
    return header + np.ascontiguousarray(flow, dtype="<f4").tobytes()


def write_flo(path: str | os.PathLike, flow: np.ndarray) -> None:
    """Atomically write a Middlebury .flo file (see :func:`encode_flo`)."""
    atomic_write_bytes(path, encode_flo(flow))


def read_flo(path: str | os.PathLike) -> np.ndarray:
    """Inverse of :func:`write_flo`: float32 (H, W, 2)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 12 or data[:4] != FLO_MAGIC:
        raise ValueError(f"{path} is not a .flo file (bad magic {data[:4]!r})")
    w, h = (int(x) for x in np.frombuffer(data, "<i4", count=2, offset=4))
    if w <= 0 or h <= 0:
        raise ValueError(f"{path}: bad .flo size {w}x{h}")
    expected = 12 + 8 * w * h
    if len(data) != expected:
        raise ValueError(f"{path}: .flo of {w}x{h} needs {expected} bytes, file has {len(data)}")
    return np.frombuffer(data, "<f4", offset=12).astype(np.float32).reshape(h, w, 2)


# ------------------------------------------------------------------ KITTI PNG


def encode_kitti_flow(flow: np.ndarray, valid: np.ndarray) -> bytes:
    """KITTI flow PNG bytes: 16-bit RGB with R = u * 64 + 2^15, G = v * 64 + 2^15
    (rounded to the nearest integer, clipped to 0..65535, i.e. |flow| up to 512 px at
    1/64 px steps) and B = 1 where ``valid``, 0 elsewhere. Flow is stored at every
    pixel (invalid ones too, KITTI readers ignore it there); non-finite flow is
    stored as 0 and must not be marked valid."""
    flow = _check_flow(flow)
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != flow.shape[:2]:
        raise ValueError(f"valid shape {valid.shape} does not match flow {flow.shape[:2]}")
    f = flow.astype(np.float64)
    finite = np.isfinite(f).all(axis=-1)
    if np.any(valid & ~finite):
        raise ValueError("flow is not finite at pixels marked valid")
    f[~finite] = 0.0
    enc = np.clip(np.rint(f * KITTI_SCALE + KITTI_OFFSET), 0, 65535).astype(np.uint16)
    # OpenCV writes BGR: channel order (B, G, R) = (valid, v, u) puts u in PNG's R.
    bgr = np.ascontiguousarray(np.stack([valid.astype(np.uint16), enc[..., 1], enc[..., 0]], axis=-1))
    ok, buf = cv2.imencode(".png", bgr, list(PNG_PARAMS_SMOOTH))
    if not ok:
        raise ValueError(f"PNG encoding failed for flow {flow.shape}")
    return buf.tobytes()


def write_kitti_flow(path: str | os.PathLike, flow: np.ndarray, valid: np.ndarray) -> None:
    """Atomically write a KITTI flow PNG (see :func:`encode_kitti_flow`)."""
    atomic_write_bytes(path, encode_kitti_flow(flow, valid))


def read_kitti_flow(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """KITTI flow PNG -> (flow float32 (H, W, 2), valid bool (H, W)).

    Flow is decoded at every pixel, ``valid`` is ``B != 0``."""
    buf = np.fromfile(str(path), dtype=np.uint8)
    check_pixels(buf[:4096].tobytes(), name=str(path))  # before decoding: a dataset's files are data
    bgr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if bgr is None:
        raise ValueError(f"{path} is not a readable PNG")
    if bgr.dtype != np.uint16 or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError(f"{path}: a KITTI flow PNG is 16-bit RGB, got {bgr.dtype} {bgr.shape}")
    flow = (bgr[..., [2, 1]].astype(np.float32) - np.float32(KITTI_OFFSET)) / np.float32(KITTI_SCALE)
    return flow, bgr[..., 0] != 0


# ----------------------------------------------------------------- valid mask


def encode_valid_png(valid: np.ndarray) -> bytes:
    """PNG bytes of a validity mask, uint8 (H, W): 255 = valid, 0 = invalid."""
    valid = np.asarray(valid)
    if valid.ndim != 2:
        raise ValueError(f"valid mask must be (H, W), got shape {valid.shape}")
    return encode_png(np.where(valid.astype(bool), 255, 0).astype(np.uint8))


def write_valid_png(path: str | os.PathLike, valid: np.ndarray) -> None:
    """Atomically write a validity mask as uint8 (H, W) PNG: 255 = valid, 0 = invalid."""
    atomic_write_bytes(path, encode_valid_png(valid))


def read_valid_png(path: str | os.PathLike) -> np.ndarray:
    """Inverse of :func:`write_valid_png`: bool (H, W)."""
    image = read_png(path)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"{path}: a valid mask is uint8 (H, W), got {image.dtype} {image.shape}")
    return image != 0
