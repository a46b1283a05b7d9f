"""Child processes import simgen and the installed packages, never a module that happens to
lie in the working directory.

``python -m MODULE`` and ``python -c CODE`` put the working directory first on ``sys.path``,
so a file such as ``multiprocessing/__init__.py`` or ``simgen.py`` in the folder a user runs
simgen from (a dataset, a download folder) would run as code in the child. Python 3.11's
``PYTHONSAFEPATH`` leaves it off the path; the children's own ``PYTHONPATH`` still counts.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")
MAP_THREADS = 8
"""The most threads :func:`thread_map` runs."""


NUMPY_KERNELS = "NPY_DISABLE_CPU_FEATURES"
"""numpy's own switch, read when numpy loads: the vector extensions it leaves out."""

NUMPY_DISPATCH = ("SSSE3 SSE41 POPCNT SSE42 AVX F16C FMA3 AVX2 AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX "
                  "AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR VSX2 VSX3 VSX4 ASIMDHP ASIMDDP ASIMDFHM SVE")
"""numpy's dispatched vector extensions above each architecture's baseline (x86-64, POWER, ARM64):
:data:`NUMPY_KERNELS` set to them leaves the baseline's kernels, the same on every CPU of the
architecture (numpy ignores the names of other architectures). With AVX2 or AVX-512, numpy's exp,
log, power and sine round differently, and those last bits moved a fit's choices and a few pixels
of a study's renders from one CPU to another (docs/explanation/fit.md)."""


@contextlib.contextmanager
def children_numpy_kernels(baseline: bool) -> Iterator[None]:
    """Within it, the children this process starts compute with numpy's baseline kernels
    (``baseline``) or this CPU's (a baseline simgen set is taken away; a value of the user's own is
    kept); afterwards the environment is as it was. :data:`SERVED`'s child, when its environment
    changes, is ended, so the next command starts one with the new."""
    before = os.environ.get(NUMPY_KERNELS)
    if baseline:
        os.environ[NUMPY_KERNELS] = NUMPY_DISPATCH
    elif before == NUMPY_DISPATCH:
        del os.environ[NUMPY_KERNELS]
    changed = os.environ.get(NUMPY_KERNELS) != before
    if changed:
        SERVED.close()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(NUMPY_KERNELS, None)
        else:
            os.environ[NUMPY_KERNELS] = before
        if changed:
            SERVED.close()


PARENT_ENV = "SIMGEN_PARENT_PID"
"""Set by :func:`child_env` with ``tied``: the child stops when this process dies (:func:`die_with_parent`)."""


def child_env(base: Mapping[str, str] | None = None, tied: bool = False) -> dict[str, str]:
    """The environment of a Python child process: ``base`` (default: this process's) with
    ``PYTHONSAFEPATH=1``; ``tied``: a ``simgen`` child stops when this process dies, even by
    ``kill -9`` (:func:`die_with_parent`), instead of rendering on into a folder that the same
    command, run again, renders into too."""
    env = {**(os.environ if base is None else base), "PYTHONSAFEPATH": "1"}
    if tied:
        env[PARENT_ENV] = str(os.getpid())
    else:
        env.pop(PARENT_ENV, None)
    return env


def die_with_parent() -> None:
    """In a child started with :func:`child_env` ``tied``: have Linux send it SIGTERM when its
    parent dies (``prctl(PR_SET_PDEATHSIG)``), which simgen handles as any SIGTERM (the frames
    rendered are written and listed; the same command resumes), and stop at once when the parent
    has died already. The mark is removed from the environment, so the child's own children are
    not tied to it. Elsewhere (no mark, or not Linux) nothing happens."""
    parent = os.environ.pop(PARENT_ENV, None)
    if parent:
        tie_to(int(parent))


def tie_to(parent: int) -> None:
    """Have Linux send this process SIGTERM when ``parent`` (its parent process) dies, and send it
    now if it has died already; elsewhere nothing happens. A child of :func:`child_env` ``tied``
    (:func:`die_with_parent`) and each render.recycle_every batch of a run call it."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request: nothing would send it
        os.kill(os.getpid(), signal.SIGTERM)


@contextlib.contextmanager
def safe_path_children() -> Iterator[None]:
    """``PYTHONSAFEPATH=1`` in this process's environment while the block runs, for children
    that are started from it (multiprocessing's spawn, which takes no environment argument)."""
    old = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONSAFEPATH", None)
        else:
            os.environ["PYTHONSAFEPATH"] = old


def usable_cores(limit: int) -> int:
    """Cores this process may run on (its CPU affinity, which Slurm and containers narrow), at
    least 1 and at most ``limit``: the thread count of CPU-bound work that sizes itself."""
    return max(1, min(limit, len(os.sched_getaffinity(0))))


_POOL: list[ThreadPoolExecutor] = []


def thread_map(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]`` on a pool of :func:`usable_cores` threads (at most
    :data:`MAP_THREADS`), for work that numpy and OpenCV do without holding the GIL (developing
    and measuring images). Each item's result is the same as in a loop: give each its own
    random generators."""
    if len(items) < 2 or usable_cores(MAP_THREADS) < 2:
        return [fn(x) for x in items]
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(usable_cores(MAP_THREADS), thread_name_prefix="simgen-map"))
    return list(_POOL[0].map(fn, items))


@contextlib.contextmanager
def quiet_fds(log_path: Path) -> Iterator[None]:
    """Send everything written to file descriptors 1 and 2 meanwhile (C libraries' chatter such as
    Blender's ``Fra:1 Mem:...``, child processes that inherit them, this process's own prints)
    to the end of a log file."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log_path, "ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


MULTIRUN = {"-m", "--multirun"}
"""The flags of a ``simgen`` sweep: :class:`ServedCommands` runs it in a process of its own."""


class ServedCommands:
    """``simgen`` commands run one after another in one child process (``python -m
    simgen.cli.serve``), for a parent that runs many small ones (a fit's trials, a study's
    datasets): Python, Hydra, trimesh and Blender start once, not for every command (about 3 s each
    on 2 cores); a sweep (``-m``) runs in a process of its own. The child stops when its parent is
    killed (``simgen.cli.serve.watch_parent``) and is started again after :attr:`RESTART` commands
    (Blender's memory grows with every scene) or when one crashed it. Thread-safe: one command at
    a time."""

    RESTART = 16

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.served = 0
        self.lock = threading.Lock()

    def run(self, args: list[str], logfile: Path | None, cwd: Path | None = None, errfile: Path | None = None,
            timeout: float | None = None) -> int:
        """``simgen ARGS`` (in ``cwd``, default this process's), its output to ``logfile`` (None:
        to this process's stderr; ``errfile``: its stderr apart); its exit status. After
        ``timeout`` s the child is killed (the status is then -9)."""
        if MULTIRUN & set(args):
            return self._alone(args, logfile, cwd, errfile, timeout)
        request = {"args": [str(a) for a in args], "log": None if logfile is None else str(logfile),
                   **({"cwd": str(cwd)} if cwd else {}), **({"err": str(errfile)} if errfile else {})}
        with self.lock:
            if self.proc is None or self.proc.poll() is not None or self.served >= self.RESTART:
                self.close()
                self.proc = subprocess.Popen([sys.executable, "-m", "simgen.cli.serve"], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, env=child_env(), text=True)
                self.served = 0
            self.served += 1
            watchdog = threading.Timer(timeout, self.proc.kill) if timeout else None
            try:
                if watchdog:
                    watchdog.start()
                self.proc.stdin.write(json.dumps(request) + "\n")
                self.proc.stdin.flush()
                reply = self.proc.stdout.readline()
            except BrokenPipeError:
                reply = ""
            finally:
                if watchdog:
                    watchdog.cancel()
            if reply:
                return int(json.loads(reply)["code"])
            code = self.proc.wait()  # it died in the command (a crash in Blender, a signal): the next starts another
            self.proc = None
            return code if code else 1

    @staticmethod
    def _alone(args: list[str], logfile: Path | None, cwd: Path | None, errfile: Path | None,
               timeout: float | None) -> int:
        """A sweep (``-m``) in a ``simgen`` process of its own: its launcher's workers (joblib,
        Slurm) take the job from the process that sweeps, and one that has imported Blender for an
        earlier command cannot give it them."""
        with contextlib.ExitStack() as files:
            out = files.enter_context(open(logfile, "wb")) if logfile is not None else sys.stderr
            err = files.enter_context(open(errfile, "wb")) if errfile is not None else out
            try:
                return subprocess.run([sys.executable, "-m", "simgen.cli", *map(str, args)], cwd=cwd, stdout=out,
                                      stderr=err, env=child_env(tied=True), timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                return -9

    def close(self) -> None:
        """End the child (after the command it is running, if any)."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            proc.stdin.close()
            proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        proc.stdout.close()


SERVED = ServedCommands()
"""This process's child for ``simgen`` commands: a fit's renders and a study's datasets (a fit
with ``fit.objective=ap`` runs studies: one child for both). Each command that uses it ends it
when it ends."""
