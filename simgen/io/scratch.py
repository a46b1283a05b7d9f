"""Scratch space for the renders in flight: where, how much, and whose.

Each frame is rendered into a multilayer EXR (float32, uncompressed: every pass simgen reads)
that the worker reads back and deletes. A run keeps up to :func:`frames_in_flight` of them
at once, so the folder must hold that many at the configured resolution. RAM-backed
``/dev/shm`` is the fastest place, but containers give it 64 MB by default (Docker,
Kubernetes), less than one 1920x1080 frame; :func:`choose` takes the first candidate with
room: ``/dev/shm``, the system's temp folder, then the output's own file system.

A work folder is ``simgen-<pid>-<random>/`` with an ``owner.lock`` its process holds for its
life (:class:`simgen.io.locks.OwnerLock`); a folder whose lock is free was left by a killed
run and is removed (:func:`remove_stale`). Process ids are never used to judge: containers
sharing /dev/shm (``--ipc=host``) or nodes sharing a TMPDIR see each other's PIDs.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from simgen.errors import SimgenError
from simgen.io.locks import OwnerLock, is_held

log = logging.getLogger(__name__)

EXR_BYTES_PER_PIXEL = 61
"""Bytes per pixel of one render's EXR: 60.42 measured at 320x240 (15 float32 channels with the
Material Index pass, uncompressed: 4640148 bytes at 320x240; 56.35 with the 14 before it), rounded up."""
EXR_HEADER_BYTES = 64 * 1024
"""Per file, beyond the pixels (7 KB measured), rounded up."""
MARGIN = 1.25
"""Room asked beyond the estimate (textures unpacked on the way, the file system's blocks)."""
FULL_BELOW = 2**20
"""Free bytes below which a scratch folder that was just written to counts as full: the
write ran out of room (Blender reports that only in its log, and leaves a truncated file)."""
LOCK_NAME = "owner.lock"
RAM_DISK = Path("/dev/shm")


def frames_in_flight(workers: int) -> int:
    """EXR files that can exist at once with ``workers`` worker threads
    (:func:`simgen.pipeline.concurrency.worker_count`): the one rendering and the workers + 1
    frames in flight; without workers (render.overlap false), one."""
    return workers + 2 if workers else 1


def need_bytes(width: int, height: int, workers: int, depth_of_field: bool = True) -> int:
    """Scratch bytes a run at ``width`` x ``height`` with ``workers`` worker threads needs (with
    depth of field a frame is two renders: the blurred RGB and the sharp labels)."""
    per_render = width * height * EXR_BYTES_PER_PIXEL + EXR_HEADER_BYTES
    return int(frames_in_flight(workers) * (2 if depth_of_field else 1) * per_render * MARGIN)


@dataclass(frozen=True)
class Choice:
    folder: Path
    why: str


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def candidates(fallback: Path | None) -> list[Path]:
    """Where scratch may go, fastest first: the RAM disk, the system's temp folder, and
    ``fallback`` (a folder on the output's file system)."""
    out = [RAM_DISK, Path(tempfile.gettempdir())]
    if fallback is not None:
        out.append(fallback)
    return out


def _usable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def choose(need: int, explicit: str | None, fallback: Path | None,
           free: Callable[[Path], int] = free_bytes, places: list[Path] | None = None) -> Choice:
    """The folder to make the work folder in: ``explicit`` (render.scratch_dir) when set, else
    the first of ``places`` (default :func:`candidates`) that is writable and has ``need``
    bytes free; with none, the one with the most room (a warning)."""
    if explicit:
        folder = Path(explicit).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SimgenError(f"render.scratch_dir={explicit} cannot be made ({e.strerror}); choose another "
                              "folder or leave it unset (null) to pick one by free space") from None
        if not _usable(folder):
            raise SimgenError(f"render.scratch_dir={explicit} is not a writable folder; choose another folder or "
                              "leave it unset (null) to pick one by free space")
        room = free(folder)
        if room < need:
            log.warning("render.scratch_dir=%s has %s free, and the renders in flight need about %s: a write may "
                        "fail", folder, _mb(room), _mb(need))
        return Choice(folder, "render.scratch_dir")
    seen, room = [], {}
    for folder in places if places is not None else candidates(fallback):
        if folder in room or not _make(folder) or not _usable(folder):
            continue
        room[folder] = free(folder)
        if room[folder] >= need:
            return Choice(folder, f"{_mb(room[folder])} free, {_mb(need)} needed"
                          + (f"; too little in {', '.join(seen)}" if seen else ""))
        seen.append(f"{folder} ({_mb(room[folder])})")
    if not room:
        raise SimgenError("no writable scratch folder (/dev/shm, the temp folder, the output folder); set "
                          "render.scratch_dir to a writable folder")
    best = max(room, key=room.get)
    log.warning("no scratch folder has the %s the renders in flight need (%s); using %s", _mb(need),
                ", ".join(seen), best)
    return Choice(best, "the most room")


def _make(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return True


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB"


class WorkFolder:
    """A fresh ``simgen-<pid>-<random>/`` in ``base`` marked by its owner's lock; removed (with
    what is in it) by :meth:`cleanup`. Stale folders of killed runs in ``base`` go first."""

    def __init__(self, base: Path):
        remove_stale(base)
        self.path = Path(tempfile.mkdtemp(prefix=f"simgen-{os.getpid()}-", dir=base))
        self._lock: OwnerLock | None = OwnerLock.fresh(self.path / LOCK_NAME)

    def cleanup(self) -> None:
        if self._lock is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self._lock.release()
            self._lock = None


def remove_stale(base: Path) -> list[Path]:
    """Remove the work folders in ``base`` whose owner is gone (its lock is free). Folders
    without a lock file are left alone: one being made right now, or one of an older simgen."""
    removed = []
    for d in sorted(base.glob("simgen-*")):
        lock = d / LOCK_NAME
        if d.is_dir() and not d.is_symlink() and lock.is_file() and not is_held(lock):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
            log.info("removed %s, left by a killed run", d)
    return removed


def full_scratch_error(folder: Path, need: int, error: BaseException,
                       free: Callable[[Path], int] = free_bytes) -> SimgenError | None:
    """The one-line error for a render that could not be written or read back because its
    scratch folder is full (None when it has room: another cause)."""
    try:
        room = free(folder)
    except OSError:
        return None
    if room >= need:
        return None
    return SimgenError(f"the scratch folder {folder} is full ({_mb(room)} free; the renders in flight need about "
                       f"{_mb(need)}), so a frame's passes could not be written whole ({error}); set "
                       "render.scratch_dir to a folder with room (a RAM disk, or local disk)")
