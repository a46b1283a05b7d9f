"""A dependency-free progress bar for long runs: frames done, rate, time left."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """Redraws one line on a terminal; on a pipe or log prints a line every ``every`` s."""

    def __init__(self, total: int, label: str = "frames", stream: TextIO | None = None, every: float = 10.0,
                 done: int = 0):
        """``done``: what was done before this process started (a resume); the rate counts the rest."""
        self.total, self.label, self.done, self._first = total, label, done, done
        self.note = ""
        """Text shown after the figures (e.g. the best result so far)."""
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.every = every
        self.t0 = self._last = time.monotonic()
        self._draw(force=True)

    def line(self) -> str:
        elapsed = time.monotonic() - self.t0
        rate = (self.done - self._first) / elapsed if elapsed > 0 and self.done > self._first else 0.0
        left = (self.total - self.done) / rate if rate else float("nan")
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        eta = _hms(left) if rate else "?"
        return (f"{self.label} {self.done}/{self.total} [{'#' * filled}{'.' * (width - filled)}] "
                f"{rate:.2f}/s elapsed {_hms(elapsed)} left {eta}" + (f" {self.note}" if self.note else ""))

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + self.line() + ("\n" if self.done >= self.total else ""))
        elif force or now - self._last >= self.every or self.done >= self.total:
            self.stream.write(self.line() + "\n")
            self._last = now
        self.stream.flush()

    def update(self, n: int = 1) -> None:
        self.done += n
        self._draw()
