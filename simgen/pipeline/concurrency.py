"""Concurrency and signals of the frame loop: the worker thread that reads, labels and writes
frame i while frame i+1 renders, and the handling of SIGINT/SIGTERM (and signals someone else
handles) between frames, so that a stopped run still writes every frame it rendered."""

from __future__ import annotations

import logging
import queue
import signal
import threading
from typing import Any, Callable

log = logging.getLogger("simgen.pipeline")  # the package's one logger


class Worker:
    """Runs ``consume(item)`` for each submitted item, in order, on one thread, with at most
    ``depth`` items waiting (memory stays bounded: each holds one frame's EXR files); or
    right away on the calling thread when ``threaded`` is false.

    An exception in ``consume`` stops the worker; the next :meth:`submit` or :meth:`close`
    raises it on the calling thread. :meth:`close` waits until every submitted item is
    consumed, so frames rendered before a failure of the producer are still written."""

    STOP = object()

    def __init__(self, consume: Callable[[Any], None], threaded: bool = True, depth: int = 1):
        self.consume, self.threaded = consume, threaded
        self.error: BaseException | None = None
        if threaded:
            self.queue: queue.Queue = queue.Queue(maxsize=depth)
            self.thread = threading.Thread(target=self._loop, name="simgen-worker", daemon=True)
            self.thread.start()

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is self.STOP:
                    return
                if self.error is None:  # after a failure, drain without working
                    self.consume(item)
            except BaseException as e:  # re-raised on the producer's thread
                self.error = e
            finally:
                self.queue.task_done()

    def drain(self) -> None:
        """Wait until every submitted item is consumed (e.g. to time something alone)."""
        if self.threaded:
            self.queue.join()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def submit(self, item: Any) -> None:
        if not self.threaded:
            self.consume(item)
            return
        while True:
            self._raise()
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        if self.threaded:
            self.queue.put(self.STOP)
            self.thread.join()
        self._raise()


class StopRequest:
    """Signals during the frame loop (on the main thread), handled between frames.

    The first SIGINT or SIGTERM (what Slurm sends before preemption) asks the loop to stop
    after the frame being rendered; the handler that was there before comes back at once,
    so a second one stops the run the usual way. A signal that someone else already handles
    in Python (e.g. submitit's SIGUSR2, which requeues a Slurm job and exits) is held until
    the loop is between frames and then handed to that handler: run inside a Blender call,
    an exit it raises would end the process on the spot, without writing the frames already
    rendered; between frames, it unwinds the loop, which writes them."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
    DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}

    def __init__(self, event: Any = None) -> None:
        self.signum: int | None = None
        self.event = event
        """Set by the process that started this one (render.recycle_every): stop as on SIGTERM."""
        self.pending: list[int] = []
        self._old: dict[int, Any] = {}  # the handlers to restore
        self._held: dict[int, Any] = {}  # the handlers held signals are handed to

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                old = signal.getsignal(sig)
                if old is self.DEFAULTS.get(sig):
                    self._old[sig] = signal.signal(sig, self._stop)
                elif callable(old):
                    self._old[sig] = self._held[sig] = signal.signal(sig, self._hold)
        return self

    def _stop(self, signum: int, frame: Any) -> None:
        self.signum = signum
        signal.signal(signum, self._old.pop(signum))
        name = signal.Signals(signum).name
        log.warning("%s received: stopping once the frames already rendered are written (%s again: at once)",
                    name, name)

    def _hold(self, signum: int, frame: Any) -> None:
        self.pending.append(signum)

    def check(self) -> bool:
        """Between frames: hand held signals to their handlers (which may raise), and say
        whether the loop should stop."""
        while self.pending:
            sig = self.pending.pop(0)
            self._held[sig](sig, None)
        if self.signum is None and self.event is not None and self.event.is_set():
            self.signum = signal.SIGTERM
        return self.signum is not None

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}
        if exc[0] is None:
            self.check()

