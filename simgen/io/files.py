"""Atomic file writers and their readers.

Every writer serialises fully in memory first, writes to a temporary file in the
destination directory (``.<name>.<host>-<pid>-<random>.tmp``) and then ``os.replace``-s
it onto the final name: a file under a final name is always complete, an existing file is
never clobbered by a failed write, and the temporary file is removed on failure (or, after
a kill, by the next run: :func:`remove_stale_temps`, which tells a killed writer's file by
the writer's lock on it being gone).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import secrets
import socket
import time
from dataclasses import fields
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

import cv2
import numpy as np

from simgen import SimgenError
from simgen.core.scene import MAX_IMAGE_PIXELS
from simgen.core.image_header import check_pixels
from simgen.io.locks import is_held

TMP_SUFFIX = ".tmp"
_HOST = socket.gethostname().replace(".", "_") or "host"
_TEMP_NAME = re.compile(r"^\..+\.(?P<host>[^.]+)-(?P<pid>\d+)-[0-9a-f]{12}" + re.escape(TMP_SUFFIX) + "$")


STALE_AFTER = 60.0
"""Seconds before an empty unlocked temp file counts as a killed writer's: a writer locks its
temp file just after creating it, and in that moment the file is empty and unlocked. A
non-empty one is unlocked only when its writer is gone (the lock holds until the rename)."""


def _open_temp(final: Path) -> tuple[int, Path]:
    """Create and open (O_EXCL) a fresh temp file next to ``final``; mode follows the umask.
    Its name, ``.NAME.HOST-PID-RANDOM.tmp``, says which host made it; the writer holds an
    exclusive ``flock`` on it while it writes (:func:`remove_stale_temps` leaves it alone)."""
    while True:
        tmp = final.with_name(f".{final.name}.{_HOST}-{os.getpid()}-{secrets.token_hex(6)}{TMP_SUFFIX}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a file nobody else has seen yet: never blocks
        return fd, tmp


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same dir + os.replace)."""
    final = Path(path)
    data = memoryview(data)
    fd, tmp = _open_temp(final)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, final)  # still open: the lock holds until the temp name is gone
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def remove_stale_temps(root: str | os.PathLike) -> list[Path]:
    """Delete the temp files that killed writers left anywhere under ``root``: those made on
    this host whose writer's lock is gone (the kernel drops it when the writer dies), and which
    hold data or are :data:`STALE_AFTER` s old. Temp files of live writers, whatever their PID namespace, and of
    writers on other hosts sharing the folder (whose locks may not reach this one), are left
    alone. Returns what was deleted."""
    removed = []
    now = time.time()
    for folder, _, names in os.walk(root):
        for name in names:
            m = _TEMP_NAME.match(name) if name.startswith(".") else None
            path = Path(folder) / name
            if not m or m["host"] != _HOST or is_held(path):
                continue
            try:
                st = path.lstat()
                if st.st_size > 0 or now - st.st_mtime >= STALE_AFTER:
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:
                pass
    return removed


def fsync_dirs(folders: Iterable[str | os.PathLike]) -> None:
    """Make the entries of ``folders`` durable (fsync of each directory): files renamed into
    them survive a power cut."""
    for folder in folders:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[IO[str]]:
    """A text file (UTF-8) to write ``path`` through, for files too big to hold in memory:
    under its final name it is complete or absent (a temp file, fsync, os.replace)."""
    final = Path(path)
    fd, tmp = _open_temp(final)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, final)  # still open: the lock holds until the temp name is gone
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------- PNG


PNG_PARAMS: tuple[int, ...] = ()
"""``cv2.imencode`` parameters of simgen's PNGs, chosen by measurement (``scripts/bench_png.py`` on
real frames; the table is in its commit): none, i.e. OpenCV's setting for speed, libpng's SUB
filter, zlib level 1 and Z_RLE. It is the fastest setting for every picture and label map simgen
writes and the smallest of the fast ones; naming a level (``IMWRITE_PNG_COMPRESSION``) switches
libpng to choosing a filter per row, which doubles the time already at level 1 (640x480 RGB
5.0 -> 10 ms) and saves 13-20 % of the bytes only from level 6 on, at 6-60 times the time."""
PNG_PARAMS_SMOOTH: tuple[int, ...] = (cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_DEFAULT)
"""For smooth fields of several channels (KITTI flow, flow pictures): the same SUB filter and level
1 with zlib's own matching instead of runs only: a quarter less time and 25-40 % fewer bytes there
(a KITTI flow PNG at 320x240: 3.3 -> 2.4 ms, 109 -> 65 KB)."""


def encode_png(image: np.ndarray, params: tuple[int, ...] = PNG_PARAMS) -> bytes:
    """Lossless PNG bytes of uint8 (H, W, 3) RGB, uint8 (H, W) or uint16 (H, W); ``params`` are
    ``cv2.imencode``'s (:data:`PNG_PARAMS`: they change the bytes, never the pixels)."""
    image = np.asarray(image)
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        if image.shape[0] and image.shape[1]:  # RGB -> BGR for OpenCV (a copy by slicing costs 100x more)
            image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    elif image.ndim == 2 and image.dtype in (np.uint8, np.uint16):
        image = np.ascontiguousarray(image)
    else:
        raise ValueError("write_png takes uint8 (H, W, 3) RGB, uint8 (H, W) or uint16 (H, W); "
                         f"got {image.dtype} {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"cannot write an empty image {image.shape} as PNG")
    ok, buf = cv2.imencode(".png", image, list(params))
    if not ok:
        raise ValueError(f"PNG encoding failed for {image.dtype} {image.shape}")
    return buf.tobytes()


def write_png(path: str | os.PathLike, image: np.ndarray, params: tuple[int, ...] = PNG_PARAMS) -> None:
    """Atomically write a lossless PNG (see :func:`encode_png` for accepted arrays and ``params``)."""
    atomic_write_bytes(path, encode_png(image, params))


def read_png(path: str | os.PathLike, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Inverse of :func:`write_png`: same dtype and shape back (3-channel images as RGB). A file
    whose header states more than ``max_pixels`` pixels (or no known image header) is refused
    before it is decoded: a one-line SimgenError that is also a ValueError."""
    buf = np.fromfile(str(path), dtype=np.uint8)
    check_pixels(memoryview(buf), max_pixels, name=str(path))
    image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{path} is not a readable PNG")
    if image.ndim == 3:
        if image.shape[2] == 3:
            image = image[..., ::-1]
        elif image.shape[2] == 4:
            image = image[..., [2, 1, 0, 3]]
        image = np.ascontiguousarray(image)
    return image


# ------------------------------------------------------------------------- NPY


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Atomically write ``array`` in .npy format (no pickles)."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getbuffer())


def read_npy(path: str | os.PathLike) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def write_npz(path: str | os.PathLike, value: Any) -> None:
    """Atomically write the arrays of ``value`` (a dict, or a dataclass of arrays) as a
    compressed .npz, one member per name (no pickles)."""
    arrays = value if isinstance(value, dict) else {f.name: getattr(value, f.name) for f in fields(value)}
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write_bytes(path, buf.getbuffer())


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of an .npz written by :func:`write_npz`, by name."""
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


# ------------------------------------------------------------------------ JSON


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return obj.as_posix()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def dumps_json(obj: Any, indent: int | None = None) -> str:
    """JSON text: insertion order kept, numpy scalars/arrays as plain values,
    inf/nan as ``Infinity``/``NaN`` (Python's json dialect), ASCII, trailing newline."""
    return json.dumps(obj, indent=indent, default=_json_default) + "\n"


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = None) -> None:
    """Atomically write ``obj`` as JSON (UTF-8). Identical input gives identical bytes."""
    atomic_write_bytes(path, dumps_json(obj, indent=indent).encode("utf-8"))


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------- dirs


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) and prove it is writable; SimgenError otherwise."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
        if not p.is_dir():
            raise NotADirectoryError(f"{p} is not a directory")
        fd, probe = _open_temp(p / ".simgen-write-probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        reason = e.strerror or str(e)
        raise SimgenError(f"cannot write to output dir {p}: {reason}; choose another output.dir") from e
    return p
