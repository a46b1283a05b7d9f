"""Decoding the user's images (HDRIs, texture images) before rendering, so that a truncated or
garbage file is one clear error instead of a black or magenta world in every frame.

Every file is decoded completely (Pillow for PNG/JPEG/TIFF/BMP/TGA, OpenCV for Radiance .hdr,
the OpenEXR package for .exr) and its pixels must be finite and not empty. A file is decoded
once per process while its size and modification time stay the same. The C libraries'
own complaints on stderr are captured and folded into the one-line error.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from simgen import SimgenError


def check_images(paths: Iterable[Path], key: str) -> None:
    """Decode every image of ``paths`` (named by config key ``key``); SimgenError naming the
    first file that cannot be used, and how to fix it."""
    for path in paths:
        p = Path(path)
        try:
            st = p.stat()
        except OSError as e:
            raise SimgenError(f"cannot read image {p} ({key}): {e.strerror or e}; fix or remove the file") from None
        problem = _problem(str(p), st.st_size, st.st_mtime_ns)
        if problem:
            raise SimgenError(f"cannot use image {p} ({key}): {problem}; re-export the file or remove it "
                              "from the folder")


@functools.lru_cache(maxsize=256)
def _problem(path: str, size: int, mtime_ns: int) -> str | None:
    """Why the image at ``path`` is unusable, or None (cached per size and mtime)."""
    if size == 0:
        return "the file is empty"
    if not os.access(path, os.R_OK):
        return "permission denied (make it readable)"
    suffix = Path(path).suffix.lower()
    with _captured_stderr() as noise:
        try:
            pixels = _decode(path, suffix)
            error = None
        except Exception as e:  # every decoder raises its own types for bad files
            pixels, error = None, " ".join(f"{type(e).__name__}: {e}".split())
    if pixels is None:
        said = " ".join(noise.read().split())
        return f"it does not decode ({error or said or 'unknown format or corrupt data'})"
    if pixels.size == 0:
        return "it holds no pixels"
    if np.issubdtype(pixels.dtype, np.floating) and not np.isfinite(pixels).all():
        return "its pixels are not all finite (NaN or inf)"
    return None


def _decode(path: str, suffix: str) -> np.ndarray | None:
    if suffix == ".hdr":
        import cv2

        cv2.setLogLevel(0)  # silent: failures come back as None
        return cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if suffix == ".exr":
        import OpenEXR

        arrays = []
        with OpenEXR.File(path) as f:
            if not f.parts:
                return None
            for part in f.parts:
                arrays += [np.asarray(c.pixels).ravel() for c in part.channels.values()]
        return np.concatenate(arrays) if arrays else np.zeros(0)
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # a large texture is fine: decode it like Blender would
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im)
    finally:
        Image.MAX_IMAGE_PIXELS = limit


@contextlib.contextmanager
def _captured_stderr() -> Iterator:
    """Collect what C libraries write to file descriptor 2 meanwhile (readable afterwards)."""
    import sys

    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as f:
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        reader = _Reader(f)
        try:
            yield reader
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            f.seek(0)
            reader.text = f.read().decode("utf-8", "replace")


class _Reader:
    def __init__(self, f) -> None:
        self.f, self.text = f, None

    def read(self) -> str:
        if self.text is None:  # still inside the block
            self.f.flush()
            self.f.seek(0)
            return self.f.read().decode("utf-8", "replace")
        return self.text
