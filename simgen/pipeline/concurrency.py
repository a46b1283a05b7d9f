"""Concurrency and signals of the frame loop: the worker threads that read, label and write
frames while the next ones render, and the handling of SIGINT/SIGTERM (and signals someone else
handles) between frames, so that a stopped run still writes every frame it rendered."""

from __future__ import annotations

import collections
import logging
import queue
import signal
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable

from simgen.child_processes import usable_cores

log = logging.getLogger("simgen.pipeline")  # the package's one logger


MAX_AUTO_WORKERS = 8
"""render.workers=0 starts one worker thread per usable core, at most this many."""


def worker_count(render: Any) -> int:
    """Worker threads of a run's frame loop: 0 without render.overlap (everything on the
    calling thread), render.workers when set, else one per core this process may use (its CPU
    affinity, which Slurm and containers narrow), at most :data:`MAX_AUTO_WORKERS`."""
    if not render.overlap:
        return 0
    if render.workers:
        return int(render.workers)
    return usable_cores(MAX_AUTO_WORKERS)


Job = tuple[Any, Callable[[], Any]]
"""(key, work): a unit of :meth:`FramePool.arrange`'s output; ``work()`` runs on a worker and
its result goes to ``commit(key, result)``."""


class FramePool:
    """The CPU work of frames on ``workers`` threads, each frame finished in the order its
    renders were submitted.

    Each submitted item goes through ``prepare(item)`` on a worker thread (items prepare in
    parallel); then, in submission order on one committing thread, ``arrange(item, prepared)``
    returns the jobs the item makes ready (a sequence's frame waits for its neighbours), whose
    ``work()`` runs on a worker thread again; ``commit(key, result)`` is called on the
    committing thread in the order the jobs were arranged. With ``workers=0`` every call runs
    at once on the calling thread, one item at a time.

    At most ``depth`` items (default ``workers + 1``) are in flight, from :meth:`submit` until
    their jobs are committed: :meth:`submit` waits for room, so memory stays bounded (each
    holds one frame's render and labels).

    An exception in any call stops the pool once the committing thread reaches it in order:
    everything before it is committed, nothing after it (work not yet started is skipped), and
    the next :meth:`submit` or :meth:`close` raises it on the calling thread. :meth:`close`
    waits until every submitted item is committed (or skipped after a failure), so frames
    rendered before a failure of the producer are still written."""

    STOP = object()

    def __init__(self, prepare: Callable[[Any], Any], arrange: Callable[[Any, Any], list[Job]],
                 commit: Callable[[Any, Any], None], workers: int = 1, depth: int | None = None):
        self.prepare, self.arrange, self.commit = prepare, arrange, commit
        self.workers = int(workers)
        self.error: BaseException | None = None
        if self.workers:
            self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="simgen-worker")
            self.slots = threading.Semaphore(depth or self.workers + 1)
            self.order: queue.Queue = queue.Queue()
            self.idle = threading.Condition()
            self.in_flight = 0
            self.thread = threading.Thread(target=self._commit_loop, name="simgen-commit", daemon=True)
            self.thread.start()

    # ------------------------------------------------------------- the calling thread
    def submit(self, item: Any) -> None:
        self._raise()
        if not self.workers:
            for key, work in self.arrange(item, self.prepare(item)):
                self.commit(key, work())
            return
        while not self.slots.acquire(timeout=0.1):
            self._raise()
        with self.idle:
            self.in_flight += 1
        self.order.put((item, self.pool.submit(self._guarded, self.prepare, item)))

    def drain(self) -> None:
        """Wait until every submitted item is committed (e.g. before Blender runs an operator
        that is not safe beside other Python threads, or to time something alone)."""
        if self.workers:
            with self.idle:
                self.idle.wait_for(lambda: self.in_flight == 0)

    def close(self) -> None:
        if self.workers:
            self.order.put(self.STOP)
            self.thread.join()
            self.pool.shutdown(wait=True)
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    # ------------------------------------------------------------- the worker threads
    def _guarded(self, fn: Callable, *args: Any) -> Any:
        if self.error is not None:  # the committer reached a failure: this work comes after it
            return None
        return fn(*args)

    def _fail(self, e: BaseException) -> None:
        """A failure, met by the committing thread in order: what comes before it is committed."""
        if self.error is None:
            self.error = e

    # ------------------------------------------------------------- the committing thread
    def _commit_loop(self) -> None:
        pending: collections.deque = collections.deque()  # (key, future, [jobs of its item left])
        failing: Future | None = None  # an item failed: later items are not arranged
        while True:
            while pending and self.order.empty():  # nothing new to arrange: commit in order
                self._commit_head(pending)
            entry = self.order.get()
            if entry is self.STOP:
                while pending:
                    self._commit_head(pending)
                return
            item, prepared = entry
            while pending and not prepared.done():  # commit what is done while the item prepares
                wait([prepared, pending[0][1]], return_when=FIRST_COMPLETED)
                while pending and pending[0][1].done():
                    self._commit_head(pending)
            jobs: list[Job] = []
            if failing is None:
                try:
                    jobs = self.arrange(item, prepared.result())
                except BaseException as e:  # committed jobs before it first: a failure in line
                    failing = Future()
                    failing.set_exception(e)
                    jobs = [(None, failing)]
            left = [len(jobs)]
            if not jobs:
                self._item_done()
            for key, work in jobs:
                future = work if isinstance(work, Future) else self.pool.submit(self._guarded, work)
                pending.append((key, future, left))

    def _commit_head(self, pending: collections.deque) -> None:
        key, future, left = pending.popleft()
        try:
            result = future.result()
            if self.error is None:
                self.commit(key, result)
        except BaseException as e:
            self._fail(e)
        left[0] -= 1
        if left[0] == 0:
            self._item_done()

    def _item_done(self) -> None:
        self.slots.release()
        with self.idle:
            self.in_flight -= 1
            self.idle.notify_all()


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

