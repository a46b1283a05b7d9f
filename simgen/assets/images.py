"""Decoding the user's images (HDRIs, texture images) before rendering, so that a truncated or
garbage file is one clear error instead of a black or magenta world in every frame.

First its header is read (:mod:`simgen.image_header`, no decoding) and its width x height
checked against render.max_image_pixels, so that a decompression bomb (a small file stating a
huge size) is refused in one line before any decoder allocates its pixels. Then every file is
decoded completely (Pillow for PNG/JPEG/TIFF/BMP/TGA, OpenCV for Radiance .hdr,
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

from simgen.errors import SimgenError
from simgen.scene.data import IMAGE_SUFFIXES, MAX_IMAGE_PIXELS
from simgen.paths import ASSET_DIR
from simgen.image_header import LIMIT_KEY, ImageHeaderError, image_size, pixel_problem


def check_images(paths: Iterable[Path], key: str, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Decode every image of ``paths`` (named by config key ``key``) whose header states at most
    ``max_pixels`` (render.max_image_pixels) pixels; SimgenError naming the first file that
    cannot be used, and how to fix it (a file over the limit is never decoded)."""
    for path in paths:
        p = Path(path)
        try:
            st = p.stat()
        except OSError as e:
            raise SimgenError(f"cannot read image {p} ({key}): {e.strerror or e}; fix or remove the file") from None
        problem = _problem(str(p), st.st_size, st.st_mtime_ns, max_pixels)
        if problem:
            fix = "" if LIMIT_KEY in problem else "; re-export the file or remove it from the folder"
            raise SimgenError(f"cannot use image {p} ({key}): {problem}{fix}")


@functools.lru_cache(maxsize=256)
def _problem(path: str, size: int, mtime_ns: int, max_pixels: int = MAX_IMAGE_PIXELS) -> str | None:
    """Why the image at ``path`` is unusable, or None (cached per size, mtime and limit)."""
    if size == 0:
        return "the file is empty"
    if not os.access(path, os.R_OK):
        return "permission denied (make it readable)"
    try:  # the header alone: a file over the limit (or with no image header) is never decoded
        too_large = pixel_problem(path, max_pixels)
    except ImageHeaderError as e:
        return f"it does not decode ({e.reason})"
    if too_large:
        return too_large
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


# ------------------------------------------------------------------ the folders the config names

DEFAULT_HDRI: Path = ASSET_DIR / "hdri" / "default_sky.hdr"
"""The bundled procedural sky (scripts/make_hdri.py), used when lighting.hdri_dir is null."""
HDRI_SUFFIXES = (".hdr", ".exr")


def folder_files(key: str, folder: str, suffixes: tuple[str, ...], what: str, instead: str,
                 recursive: bool = False) -> tuple[Path, ...]:
    """The sorted files of ``folder`` (the value of config key ``key``) whose suffix is one of
    ``suffixes``; a SimgenError naming ``what`` it should hold, or ``instead``, when it is no
    folder or holds none. ``recursive``: also in its subfolders (hidden ones and symlinked
    folders skipped), as an asset library (simgen fetch) holds them: LIB/hdris/SOURCE/ID/."""
    d = Path(folder).expanduser()
    if not d.is_dir():
        raise SimgenError(f"{key}={folder} is not a folder; set it to a folder of {what} or {instead}")
    found = _walk(d) if recursive else list(d.iterdir())
    files = tuple(sorted(p.resolve() for p in found if p.is_file() and p.suffix.lower() in suffixes))
    if not files:
        raise SimgenError(f"{key}={folder} holds no {what}; add some or set {instead}")
    return files


def _walk(folder: Path) -> list[Path]:
    """Every file under ``folder`` but hidden ones (``.part`` downloads, lock files); symlinked
    folders are not entered."""
    out = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        out += [Path(root) / n for n in names if not n.startswith(".")]
    return out


@functools.lru_cache(maxsize=8)
def hdri_files(hdri_dir: str | None) -> tuple[Path, ...]:
    """The sorted .hdr/.exr files of ``hdri_dir`` and its subfolders (an HDRI library's
    LIB/hdris works as it is); the bundled default sky when None."""
    if hdri_dir is None:
        return (DEFAULT_HDRI,)
    return folder_files("lighting.hdri_dir", hdri_dir, HDRI_SUFFIXES, ".hdr or .exr files",
                        "lighting.hdri_dir=null for the bundled sky", recursive=True)


@functools.lru_cache(maxsize=8)
def texture_images(image_dir: str | None) -> tuple[Path, ...]:
    """The sorted image files of ``image_dir`` (materials.image_dir); () when it is None."""
    if image_dir is None:
        return ()
    return folder_files("materials.image_dir", image_dir, IMAGE_SUFFIXES, f"images ({' '.join(IMAGE_SUFFIXES)})",
                        "materials.image_dir=null")


def check_image_textures(name: str, kinds: list[str], image_dir: str | None,
                         max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """The image texture kind in ``kinds`` (the config key ``name``) and materials.image_dir
    come together; the folder's images are at most ``max_pixels`` (render.max_image_pixels)
    and all decode."""
    if "image" in kinds and image_dir is None:
        raise SimgenError(f"{name} has image but materials.image_dir is null; set materials.image_dir=/path/to/images")
    check_images(texture_images(image_dir), "materials.image_dir", max_pixels)


PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".tga")
"""Photos (8- or 16-bit images that Pillow and Blender both read) for backgrounds."""


@functools.lru_cache(maxsize=8)
def photo_files(key: str, folder: str, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[Path, ...]:
    """The sorted image files of ``folder`` (the value of config key ``key``, e.g.
    scene.background_dir), every one checked against ``max_pixels`` (render.max_image_pixels)
    from its header, then decoded once (SimgenError naming the first bad one, or the folder
    when it is missing or holds no image)."""
    files = folder_files(key, folder, PHOTO_SUFFIXES, f"photos ({' '.join(PHOTO_SUFFIXES)})", f"{key}=null")
    check_images(files, key, max_pixels)
    return files


@functools.lru_cache(maxsize=256)
def image_aspect(path: Path) -> float:
    """Width / height of the photo at ``path`` (one of PHOTO_SUFFIXES; read from its header)."""
    w, h = image_size(path)
    return w / h
