"""Giving the memory a run freed back to the system: the garbage of reference cycles collected, then
the free pages of every malloc heap returned (Linux glibc; the trim does nothing elsewhere).

Sampling a sequence can make large short-lived arrays: the environment recipe's support surfaces of a
played file's frame are grids of tens of MB, with as much again in arrays made while placing objects
on them (the tests' keyframed cart: 23 MB kept, 35 to 60 MB at the peak). They come from the heap
(:func:`simgen.pipeline.runner.keep_freed_memory` keeps blocks under 32 MB there), and once freed
their pages stay mapped wherever a small block made meanwhile lives above them: over a played
animation the process's memory grew by the freed space, about 100 KiB a frame on top of what it
used (issue 76). :func:`release_freed_memory` returns the free pages of every heap
(``malloc_trim``: about 2 ms). The frame loop calls it after a sequence's scenes are drawn, at most
once every :data:`RELEASE_EVERY` rendered frames: the frames' own freed blocks, which
keep_freed_memory keeps for the next frames, are then given back that seldom.

Some of what a frame lets go is not freed when it is let go: a ``trimesh.Trimesh`` is a reference
cycle (its visuals, ray and proximity helpers point back at it), so a played deforming part's mesh of
a frame (:meth:`simgen.assets.environment.Environment.at` makes one per frame and keeps the last 32),
with the arrays its cache computed, waits for Python's collector of cycles, and only a full
collection reaches it once it has lived a few frames. A run holds about 150,000 objects from its
imports, and CPython (3.11) collects fully only once the objects that survived since the last full
collection number a quarter of those: about every 200 frames of a played skinned bar, whose memory
grew meanwhile by 0.3 to 0.6 MiB a frame (issue 76). So :func:`release_freed_memory` collects the
cycles first, and the frame loop runs within :func:`frozen_before`, which sets the objects alive at
its start aside from the collector (``gc.freeze``): a collection then walks only what the run made
since (about 3,000 objects: 1 to 5 ms, not 100 to 300 ms), and the collector's own full collections
come that much sooner.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import sys
from collections.abc import Iterator

RELEASE_EVERY = 20
"""Rendered frames at least between two :func:`release_freed_memory` calls of the frame loop (each
sequence of the default length; every 20th sequence of one frame)."""


def release_freed_memory() -> bool:
    """Collect the garbage of reference cycles (``gc.collect``), then return the free pages of every
    malloc heap to the system (glibc's ``malloc_trim(0)``); whether the trim returned anything (False
    where there is no such call)."""
    gc.collect()
    if not sys.platform.startswith("linux"):
        return False
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # another C library (musl)
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return bool(trim(0))


@contextlib.contextmanager
def frozen_before() -> Iterator[None]:
    """Within the block, Python's collector of reference cycles leaves alone the objects alive at its
    start (``gc.freeze``: they are still freed when nothing refers to them; a cycle among them that
    becomes garbage meanwhile is collected after the block); afterwards they are its again
    (``gc.unfreeze``). Nothing is collected on entry (a full collection costs 100 ms and more). Where
    objects are set aside already (a caller's own ``gc.freeze``), nothing changes, within or after."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
