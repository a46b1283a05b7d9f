"""The run's log file: ``<output.dir>/logs/simgen.log``, written once the dataset exists (so a
rejected run leaves nothing behind)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from simgen.io.names import DATASET_JSON, LOGS_DIR

LOG_FILE = Path(LOGS_DIR) / "simgen.log"
"""The run's log, relative to the dataset folder."""


class DatasetLog(logging.Handler):
    """Keeps the run's log records in memory until ``<out>/dataset.json`` exists, then writes
    them, and every later one, to ``<out>/logs/simgen.log``: a run rejected before it wrote a
    dataset leaves no log file behind (its error went to stderr)."""

    def __init__(self, out: Path, formatter: logging.Formatter | None = None) -> None:
        super().__init__(logging.NOTSET)
        self.out = out
        self.buffer: list[logging.LogRecord] = []
        self.stream: Any = None
        self.broken = False  # writing the file failed (full disk): the file is given up
        self.setFormatter(formatter or logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))

    def _open(self) -> bool:
        if self.stream is None and (self.out / DATASET_JSON).is_file():
            path = self.out / LOG_FILE
            path.parent.mkdir(exist_ok=True)
            self.stream = open(path, "a", encoding="utf-8")
            for record in self.buffer:
                self.stream.write(self.format(record) + "\n")
            self.buffer.clear()
        return self.stream is not None

    def emit(self, record: logging.LogRecord) -> None:
        if self.broken:
            return
        try:
            if self._open():
                self.stream.write(self.format(record) + "\n")
                self.stream.flush()
            else:
                self.buffer.append(record)
        except OSError:  # a full disk: the console still has the record; the run reports the disk
            self.broken = True
        except Exception:  # logging must never end a run
            self.handleError(record)

    def close(self) -> None:
        try:
            if not self.broken and self._open():
                self.stream.close()
            elif self.stream is not None:
                self.stream.close()
        except OSError:
            pass
        self.stream, self.buffer = None, []
        super().close()
