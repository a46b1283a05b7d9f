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
import ctypes
import fcntl
import io
import json
import os
import re
import secrets
import shutil
import socket
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

import cv2
import numpy as np

from simgen.errors import SimgenError
from simgen.scene.data import MAX_IMAGE_PIXELS
from simgen.image_header import check_pixels
from simgen.io.locks import is_held
from simgen.io.names import DATASET_JSON

TMP_SUFFIX = ".tmp"
_HOST = socket.gethostname().replace(".", "_") or "host"
_TEMP_NAME = re.compile(r"^\.(?P<final>.+)\.(?P<host>[^.]+)-(?P<pid>\d+)-[0-9a-f]{12}" + re.escape(TMP_SUFFIX) + "$")


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


def link_or_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Hard-link ``src`` to ``dst`` (exports' images: no second copy of the bytes), or copy it
    where no hard link can be made (another file system, or one without hard links)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _temp_name(name: str) -> re.Match | None:
    """The parts (final, host, pid) of ``name`` when it is one of simgen's writers' temp files
    (``.NAME.HOST-PID-RANDOM.tmp``); None otherwise."""
    return _TEMP_NAME.match(name) if name.startswith(".") else None


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of simgen's writers' temp files (``.NAME.HOST-PID-RANDOM.tmp``)."""
    return _temp_name(name) is not None


def off_layout(folder: Path, layout: re.Pattern) -> list[str]:
    """The files under an export folder whose path relative to it ``layout`` does not match, and
    its links to folders (``NAME/``), sorted: what :func:`rebuilt_folder` must not delete. simgen's
    own writers' temp files are never among them (:func:`remove_stale_temps` deals with those)."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    found = []
    for here, dirs, files in os.walk(folder):
        rel = Path(here).relative_to(folder)
        found += [(rel / n).as_posix() for n in files if not layout.match((rel / n).as_posix()) and not is_temp_name(n)]
        found += [(rel / d).as_posix() + "/" for d in dirs if (Path(here) / d).is_symlink()]
    return sorted(found)


def remove_stale_rebuilds(root: Path, folder: str) -> None:
    """Remove the folders a killed :func:`rebuilt_folder` of ``root/folder`` left (call under the
    dataset's lock)."""
    for stale in [*root.glob(f".{folder}.*.tmp"), *root.glob(f".{folder}.*.old")]:
        shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def rebuilt_folder(root: str | os.PathLike, folder: str, foreign_files: Callable[[Path], list[str]]) -> Iterator[Path]:
    """Build ``root/folder`` anew (a dataset format's export): yields an empty temporary folder
    beside it to fill; when the block ends it replaces ``root/folder`` whole, so the folder is
    the old export or the new one, never half of each, and when the block raises it is removed.
    Refused (SimgenError) while ``root/folder`` holds files ``foreign_files`` says simgen did not
    write; folders a killed rebuild left are removed first (exports run under the dataset lock)."""
    root = Path(root)
    final = root / folder
    foreign = foreign_files(final)
    if foreign:  # the swap replaces the folder whole: it must hold only what simgen wrote
        raise SimgenError(f"{final} holds files simgen did not write ({', '.join(foreign[:5])}); move them out "
                          f"and run the same command again to write the {folder} export")
    live = live_temps(final) if final.is_dir() else []
    if live:  # another writer's file in a folder this run would replace: wait, never take it away
        raise SimgenError(f"{final} is being written by another simgen process ({', '.join(live[:3])}), which "
                          f"does not hold this dataset's lock (on another host sharing the folder?); let it end, "
                          f"then run the same command again to write the {folder} export")
    remove_stale_rebuilds(root, folder)
    tmp = root / f".{folder}.{os.getpid()}.tmp"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:  # nothing is left half-written
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = root / f".{folder}.{os.getpid()}.old"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)


def remove_stale_temps(root: str | os.PathLike, any_age: Callable[[str], bool] | None = None) -> list[Path]:
    """Delete the temp files that killed writers left anywhere under ``root``: those made on
    this host whose writer's lock is gone (the kernel drops it when the writer dies), and which
    hold data or are :data:`STALE_AFTER` s old. Temp files of live writers, whatever their PID namespace, and of
    writers on other hosts sharing the folder (whose locks may not reach this one), are left
    alone. ``any_age(final name)``: true for the files written only under the dataset's lock,
    whose empty temp files are removed at any age when called under it (no writer can be between
    creating and locking such a file's temp file then). Returns what was deleted."""
    removed = []
    now = time.time()
    for folder, _, names in os.walk(root):
        for name in names:
            m = _temp_name(name)
            path = Path(folder) / name
            if not m or m["host"] != _HOST or is_held(path):
                continue
            try:
                st = path.lstat()
                if st.st_size > 0 or now - st.st_mtime >= STALE_AFTER or (any_age is not None and any_age(m["final"])):
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:
                pass
    return removed


def live_temps(root: str | os.PathLike) -> list[str]:
    """The temp files under ``root`` whose writer may still be writing, each with its host and
    PID: those of this host whose writer holds its lock, and every other host's (whose locks may
    not reach this one)."""
    out = []
    for folder, _, names in os.walk(root):
        for name in names:
            m = _temp_name(name)
            if m and (m["host"] != _HOST or is_held(Path(folder) / name)):
                out.append(f"{name}: host {m['host']}, PID {m['pid']}")
    return sorted(out)


def fsync_dirs(folders: Iterable[str | os.PathLike]) -> None:
    """Make the entries of ``folders`` durable (fsync of each directory): files renamed into
    them survive a power cut."""
    for folder in folders:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ------------------------------------------------------------------ batches


SYNCFS_TYPES = {0xEF53: "ext2/3/4", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs",
                0x794C7630: "overlayfs"}
"""File systems (``statfs`` f_type) whose ``syncfs(2)`` makes everything written to them durable,
file data and folder entries alike (their sync_fs commits the journal or log after writing
back every dirty file; tmpfs has nothing to make durable). On others (NFS, FUSE, ...) a
:class:`DurableBatch` fsyncs each file and folder: there syncfs may not reach the storage."""


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc if hasattr(libc, "syncfs") and hasattr(libc, "fstatfs") else None
    except OSError:
        return None


_LIBC = _libc()


def _syncable(fd: int) -> bool:
    """Whether ``fd``'s file system is one of :data:`SYNCFS_TYPES` (False where that cannot be told)."""
    if _LIBC is None:
        return False
    buf = ctypes.create_string_buffer(256)  # struct statfs (120 bytes on 64-bit Linux)
    if _LIBC.fstatfs(fd, buf) != 0:
        return False
    return ctypes.c_long.from_buffer(buf).value in SYNCFS_TYPES  # f_type: its first member


def _syncfs(fd: int) -> None:
    """syncfs(2): write back and commit everything of ``fd``'s file system; OSError on failure
    (a write-back error included, since Linux 5.8)."""
    if _LIBC.syncfs(fd) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view):]


class DurableBatch:
    """Files written together and made durable together (a frame's): :meth:`add` writes each to
    its temp file at once (complete, locked, as :func:`atomic_write_bytes` does); :meth:`commit`
    makes their data durable, renames them onto their final names, makes the renames (and any
    other ``folders`` given) durable, and only then renames in its ``last`` file, the commit
    mark. So every file under its final name is complete, and once ``last`` is there every
    other file is, even after a power cut.

    On a file system of :data:`SYNCFS_TYPES` the batch costs two ``syncfs`` calls (the data
    before the renames, the entries after them) instead of an fsync per file and one per folder
    (what it does elsewhere). syncfs also writes back what else is dirty on that file system:
    the run's own other files mostly. :meth:`abort` (also on any error in :meth:`add` or
    :meth:`commit`, and when a ``with DurableBatch() as batch:`` block raises) removes the temp
    files not yet renamed."""

    def __init__(self) -> None:
        self._files: list[tuple[int, Path, Path]] = []  # (fd, temp, final)

    def __enter__(self) -> "DurableBatch":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:  # what the block added is not to be committed
            self.abort()

    def add(self, path: str | os.PathLike, data: bytes | memoryview) -> None:
        """Write ``data`` to a temp file of ``path`` now (on failure the whole batch is aborted)."""
        try:
            final = Path(path)
            fd, tmp = _open_temp(final)
            self._files.append((fd, tmp, final))
            _write_all(fd, data)
        except BaseException:
            self.abort()
            raise

    def commit(self, folders: Iterable[str | os.PathLike] = (), last: tuple[str | os.PathLike, bytes] | None = None,
               entries: bool = True) -> list[Path]:
        """Make the batch durable under its final names (see the class); ``entries=False`` leaves
        the renames' durability to a later commit (that gets their folders: the return value,
        the folders renamed into). ``last``: (path, bytes) renamed in after everything else is
        durable."""
        try:
            if last is not None:
                self.add(*last)
            files, mark = (self._files[:-1], self._files[-1]) if last is not None else (self._files, None)
            synced = self._sync([fd for fd, _, _ in self._files])
            for fd, tmp, final in files:
                os.replace(tmp, final)  # still open: the lock holds until the temp name is gone
            renamed = sorted({final.parent for _, _, final in files})
            # ``folders`` got their entries before the data sync: a syncfs of theirs made them durable
            earlier = [Path(f) for f in folders if os.stat(f).st_dev not in synced]
            if entries or earlier:
                self._sync_folders([*(renamed if entries else []), *earlier], synced)
            if mark is not None:
                os.replace(mark[1], mark[2])
            self._close()
            return renamed
        except BaseException:
            self.abort()
            raise

    @staticmethod
    def _sync(fds: list[int]) -> dict[int, int]:
        """Make what was written to ``fds`` durable: one syncfs per file system that has it, an
        fsync per fd elsewhere. Returns {device: an fd on it} of the file systems synced by syncfs."""
        by_dev: dict[int, list[int]] = {}
        for fd in fds:
            by_dev.setdefault(os.fstat(fd).st_dev, []).append(fd)
        synced = {}
        for dev, group in by_dev.items():
            if _syncable(group[0]):
                _syncfs(group[0])
                synced[dev] = group[0]
            else:
                for fd in group:
                    os.fsync(fd)
        return synced

    def _sync_folders(self, folders: list[Path], synced: dict[int, int]) -> None:
        """Make the entries of ``folders`` durable: syncfs again on the file systems synced so
        (every rename since is then durable), fsync of each other folder."""
        again, rest = set(), []
        for folder in dict.fromkeys(folders):
            dev = os.stat(folder).st_dev
            if dev in synced:
                again.add(dev)
            else:
                rest.append(folder)
        for dev in again:
            _syncfs(synced[dev])
        fds = []
        try:
            for folder in rest:
                fds.append(os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
            self._sync(fds)
        finally:
            for fd in fds:
                os.close(fd)

    def _close(self) -> None:
        for fd, _, _ in self._files:
            os.close(fd)
        self._files = []

    def abort(self) -> None:
        """Remove the temp files not renamed yet and close them."""
        for fd, tmp, _ in self._files:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            os.close(fd)
        self._files = []


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, binary: bool = False) -> Iterator[IO]:
    """A text file (UTF-8; ``binary``: a binary one) to write ``path`` through, for files too big
    to hold in memory: under its final name it is complete or absent (a temp file, fsync,
    os.replace)."""
    final = Path(path)
    fd, tmp = _open_temp(final)
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")) as f:
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
    return decode_png(np.fromfile(str(path), dtype=np.uint8), str(path), max_pixels)


def decode_png(buf: np.ndarray, name: str, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """:func:`read_png` of a PNG's bytes (uint8 array) already in memory; ``name`` says where
    they come from in errors."""
    check_pixels(memoryview(buf), max_pixels, name=name)
    image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{name} is not a readable PNG")
    if image.ndim == 3:
        if image.shape[2] == 3:
            image = image[..., ::-1]
        elif image.shape[2] == 4:
            image = image[..., [2, 1, 0, 3]]
        image = np.ascontiguousarray(image)
    return image


# ------------------------------------------------------------------------- NPY


def encode_npy(array: np.ndarray) -> memoryview:
    """The .npy bytes of ``array`` (no pickles)."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getbuffer()


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Atomically write ``array`` in .npy format (no pickles)."""
    atomic_write_bytes(path, encode_npy(array))


def read_npy(path: str | os.PathLike) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def encode_npz(value: Any) -> memoryview:
    """The compressed .npz bytes of the arrays of ``value`` (a dict, or a dataclass of arrays),
    one member per name (no pickles; a None is left out)."""
    arrays = value if isinstance(value, dict) else {f.name: getattr(value, f.name) for f in fields(value)}
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items() if v is not None})
    return buf.getbuffer()


def write_npz(path: str | os.PathLike, value: Any) -> None:
    """Atomically write the arrays of ``value`` as a compressed .npz (see :func:`encode_npz`)."""
    atomic_write_bytes(path, encode_npz(value))


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


def recorded_setting(root: str | os.PathLike, key: str) -> Any:
    """The setting ``key`` (dotted: ``output.shard_size``) as DIR/dataset.json's config records it
    (a merge of different runs: the first input's that records it); None when it is not recorded
    or dataset.json cannot be read."""
    try:
        info = read_json(Path(root) / DATASET_JSON)
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    configs = [info.get("config")] if info.get("config") else [m.get("config") for m in info.get("merged_from") or []
                                                                  if isinstance(m, dict)]
    for value in configs:
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


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
