"""Giving the memory a sequence's sampling freed back to the system (Linux glibc; nothing elsewhere).

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
"""

from __future__ import annotations

import ctypes
import sys

RELEASE_EVERY = 20
"""Rendered frames at least between two :func:`release_freed_memory` calls of the frame loop (each
sequence of the default length; every 20th sequence of one frame)."""


def release_freed_memory() -> bool:
    """Return the free pages of every malloc heap to the system (glibc's ``malloc_trim(0)``); whether
    anything was returned (False where there is no such call)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # another C library (musl)
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return bool(trim(0))
