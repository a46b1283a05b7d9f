"""A run's machine-readable log: one JSON line per written frame with the seconds of each
stage of the frame loop, and a summary line at the end (``DIR/logs/run-*.jsonl``)."""

from __future__ import annotations

import ctypes
import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from simgen.io.names import LOGS_DIR


def rss_mib() -> float | None:
    """This process's resident memory (Linux /proc), MiB; None where it cannot be read."""
    try:
        with open("/proc/self/statm") as f:
            return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return None


class _Mallinfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (malloc.h, glibc 2.33 and later), field by field."""

    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


@functools.lru_cache(maxsize=1)
def _mallinfo2():
    """glibc's ``mallinfo2`` with its result type set, or None (another C library, an older glibc)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        f = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    f.argtypes, f.restype = [], _Mallinfo2
    return f


def malloc_mib() -> float | None:
    """The bytes this process's C allocator holds in use, MiB: glibc's ``mallinfo2`` over every
    arena, the blocks handed out from its heaps (``uordblks``) and those mapped on their own
    (``hblkhd``): numpy's arrays, Blender's data and Python's larger objects (its small ones live in
    arenas of its own allocator, which ``sys.getallocatedblocks()`` counts: the run log's
    ``py_blocks``). What malloc keeps after a block is freed (for the next frames, or stranded
    behind a block still in use) is not in it, though it is resident: memory a run keeps raises
    this, the allocator's keeping only the RSS. None where the C library has no ``mallinfo2``
    (musl, macOS, glibc before 2.33)."""
    f = _mallinfo2()
    if f is None:
        return None
    m = f()
    return round((m.uordblks + m.hblkhd) / 2**20, 1)


class RunLog:
    """Per-frame stage timings of one run, appended to ``logs/run-<UTC time>-<pid>.jsonl``
    in the dataset (created with the first frame). Each line is flushed as it is written,
    so a killed run keeps the lines of its finished frames.

    Frame lines: ``{"frame": i, "time": unix seconds, "seconds": wall time since the previous
    frame (or the loop's start), "stages": {stage: seconds}, "rss_mib": resident memory,
    "malloc_mib": the C allocator's bytes in use (:func:`malloc_mib`), "py_blocks": Python's small
    objects}``. The last line:
    ``{"summary": {"frames", "seconds", "seconds_per_frame", "stages": {stage: mean seconds}}}``.
    """

    def __init__(self, root: str | os.PathLike, stages: Sequence[str]):
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.path = Path(root) / LOGS_DIR / f"run-{stamp}-{os.getpid()}.jsonl"
        self.stages = tuple(stages)
        self.t0 = self._last = time.time()
        self.frames = 0
        self.totals: dict[str, float] = {}
        self._file = None

    def start(self) -> None:
        """The frame loop starts now: the first frame's wall time counts from here."""
        self.t0 = self._last = time.time()

    def frame(self, index: int, times: dict[str, float]) -> None:
        now = time.time()
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
        stages = {s: round(times[s], 6) for s in self.stages if s in times}
        self._write({"frame": index, "time": round(now, 3), "seconds": round(now - self._last, 6), "stages": stages,
                     "rss_mib": rss_mib(), "malloc_mib": malloc_mib(),
                     "py_blocks": sys.getallocatedblocks()})
        self._last = now
        self.frames += 1
        for s, v in times.items():
            self.totals[s] = self.totals.get(s, 0.0) + v

    def _write(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def summary(self) -> dict:
        seconds = self._last - self.t0
        n = max(self.frames, 1)
        return {"frames": self.frames, "seconds": round(seconds, 3), "seconds_per_frame": round(seconds / n, 6),
                "stages": {s: round(self.totals[s] / n, 6) for s in self.stages if s in self.totals}}

    def close(self) -> dict | None:
        """Write the summary line; return the summary (None if no frame was written)."""
        if self._file is None:
            return None
        summary = self.summary()
        self._write({"summary": summary})
        self._file.close()
        self._file = None
        return summary


def describe(summary: dict) -> str:
    """One line for the console: frames, seconds per frame and the mean of each stage."""
    stages = ", ".join(f"{s} {1000 * v:.0f} ms" for s, v in summary["stages"].items())
    return (f"{summary['frames']} frames in {summary['seconds']:.1f} s ({summary['seconds_per_frame']:.3f} s/frame); "
            f"per frame: {stages}")
