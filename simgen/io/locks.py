"""Liveness by lock, never by process id.

A process that owns something other processes may find (a scratch folder, a temp file in
a shared dataset folder) holds an exclusive ``flock`` on a lock file for as long as it
lives; the kernel drops the lock when the process dies, however it dies. Whether the owner
is alive is then "is the lock held?", which holds across PID namespaces: containers that
share /dev/shm (``--ipc=host``) or a TMPDIR see each other's process ids as unrelated
numbers, but share one kernel's locks.

``flock`` is per open file description, so a second open of the same file in the owner's
own process also sees the lock as held.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from pathlib import Path


class OwnerLock:
    """An exclusive ``flock`` on ``path`` (created if missing) held until :meth:`release`
    or the process ends. Raises ``BlockingIOError`` if another owner holds it, or with
    ``wait`` waits until it is free."""

    def __init__(self, path: str | os.PathLike, wait: bool = False):
        self.path = Path(path)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BaseException:
            os.close(self._fd)
            self._fd = None
            raise

    @classmethod
    def fresh(cls, path: str | os.PathLike) -> "OwnerLock":
        """A lock file that appears at ``path`` already locked: made under a temporary name,
        locked, then hard-linked to ``path`` (FileExistsError if it exists). Another process
        checking :func:`is_held` never sees it unlocked, so a folder marked by it cannot be
        taken for a dead owner's in the moment between creating the file and locking it."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(6)}.tmp")
        lock = cls(tmp)
        try:
            os.link(tmp, path)
        except BaseException:
            lock.release()
            raise
        finally:
            tmp.unlink(missing_ok=True)
        lock.path = path
        return lock

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the lock
            self._fd = None

    def __enter__(self) -> "OwnerLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def is_held(path: str | os.PathLike) -> bool:
    """Whether a live owner holds ``path``'s lock (False when the file does not exist).
    Never creates the file; briefly takes the lock itself when nobody holds it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:  # a symlink (O_NOFOLLOW) or unreadable: not ours to judge, treat as alive
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
