"""``python -m simgen.cli.serve``: ``simgen`` commands run one after another in one process, for a
parent that runs many small ones (a fit's trials, a study's datasets, the tests' commands; the
parent's side is :class:`simgen.child_processes.ServedCommands`). Each command does what ``simgen ARGS``
does, without starting Python, Hydra, trimesh and Blender again: about 2-3 s of every short
command on 2 cores.

One JSON line each way: the parent writes ``{"args": [...], "log": PATH}`` (``"log": null``: the
command's output goes to the child's stderr, which it shares with its parent; ``"err": PATH``: its
stderr to a file of its own; ``"cwd": FOLDER``: run it in another folder than the child's) and
reads ``{"code": N}``, N the exit status ``simgen ARGS`` would have had. The process ends at the
end of its input, and after a command that a SIGINT or SIGTERM stopped: its parent is stopping,
or has died (:func:`watch_parent`): the render in flight stops after its frame, as in a fit's
``simgen`` children before (tied, :func:`simgen.child_processes.child_env`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from typing import Iterator, TextIO

STOPPED = {128 + signal.SIGINT, 128 + signal.SIGTERM}
"""Exit statuses of a command stopped by a signal: the process ends after it."""


def run_command(args: list[str]) -> int:
    """``simgen ARGS`` in this process; its exit status."""
    from simgen.cli.app import main

    sys.argv = ["simgen", *args]
    try:
        main()
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Exception:  # noqa: BLE001 (a bug: its traceback goes to the command's log, the status says it failed)
        traceback.print_exc()
        return 1


def watch_parent(every: float = 0.5) -> None:
    """Send this process SIGTERM when its parent has died (it is given another; a thread looks
    every ``every`` s). Not prctl's PDEATHSIG (:func:`simgen.child_processes.tie_to`): that follows the
    thread that started this process, and a fit starts it from a render thread that ends before
    the fit does."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGTERM)  # handled as any SIGTERM: a command stops after its frame

    threading.Thread(target=watch, name="simgen-serve-parent", daemon=True).start()


@contextlib.contextmanager
def output_to(log: str | None, err: str | None = None) -> Iterator[None]:
    """A command's stdout (file descriptor 1) to the file ``log`` and its stderr (2) to ``err``
    (None: to ``log`` too), each begun empty, as ``simgen ARGS > LOG 2> ERR`` would; ``log`` None:
    both to this process's stderr (its stdout carries the replies)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    files = [open(path, "wb") for path in (log, err) if path is not None]
    try:
        if log is None:
            os.dup2(2, 1)
        else:
            os.dup2(files[0].fileno(), 1)
            os.dup2(files[-1].fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved_fd in ((1, saved[0]), (2, saved[1])):
            os.dup2(saved_fd, fd)
            os.close(saved_fd)
        for f in files:
            f.close()


def serve(requests: TextIO, replies: TextIO) -> None:
    """Run each request of ``requests`` (one JSON line each) and answer it on ``replies``."""
    watch_parent()
    try:
        for line in requests:
            request = json.loads(line)
            home = os.getcwd()
            try:
                os.chdir(request.get("cwd") or home)
                with output_to(request.get("log"), request.get("err")):
                    code = run_command([str(a) for a in request["args"]])
            finally:
                os.chdir(home)
            replies.write(json.dumps({"code": code}) + "\n")
            replies.flush()
            if code in STOPPED:
                return
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C between two commands, or the parent has gone
        return


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
