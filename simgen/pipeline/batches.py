"""render.recycle_every: a run's frames rendered in batches, each an ordinary run of its
frames in a fresh process (Blender's memory grows with every new scene; a process that ends
gives it all back)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from simgen.errors import Interrupted, SimgenError
from simgen.config import Settings, ShardConfig
from simgen.io.dataset.layout import frames_on_disk
from simgen.io.names import LOGS_DIR
from simgen.pipeline.frames import group_by_sequence, group_length
from simgen.pipeline.renderer import RendererFactory
from simgen.child_processes import safe_path_children, tie_to

log = logging.getLogger("simgen.pipeline")  # the package's one logger


def batches(settings: Settings, todo: list[int], size: int) -> list[list[int]]:
    """``todo`` in runs of whole sequences, each at most ``size`` frames (or one sequence)."""
    out: list[list[int]] = []
    for sequence, steps in group_by_sequence(settings, todo).items():
        frames = [sequence * group_length(settings) + k for k in steps]
        if out and len(out[-1]) + len(frames) <= size:
            out[-1] += frames
        else:
            out.append(frames)
    return out


def run_batch(run: Callable, settings: Settings, config: dict, stop_event: Any,
              make_renderer: RendererFactory | None, parent: int) -> None:
    """A batch's process: ``run`` (:func:`simgen.pipeline.run`) on its frames; exit status
    128+signal when stopped, 2 on bad input. It stops (a SIGTERM: its frames listed) when the
    run's process, ``parent``, dies, even by ``kill -9``: it would render on into the folder that
    the same command, run again, renders into too."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a child of spawn may inherit SIG_IGN
    tie_to(parent)
    # spawn copies the parent's sys.path, which holds Blender's script folders once bpy is
    # imported there; with them first, "import bpy" would find Blender's own bpy package
    sys.path[:] = [p for p in sys.path if not re.search(r"[/\\]bpy[/\\][0-9.]+[/\\]scripts", p)]
    try:
        run(settings, config, stop_event=stop_event, make_renderer=make_renderer)
    except Interrupted as e:
        sys.exit(128 + e.signum)
    except SimgenError as e:
        print(f"simgen: error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


def run_in_batches(run: Callable, settings: Settings, config: dict, todo: list[int], out: Path,
                   make_renderer: RendererFactory | None = None) -> tuple[list[int], int | None]:
    """Render ``todo`` in batches of at most render.recycle_every frames, each in a fresh
    process calling ``run`` (:func:`simgen.pipeline.run`, with ``make_renderer``: both must
    pickle). Each batch is an ordinary run of its frames into the same folder, recording this
    run's config. A SIGINT or SIGTERM to this process stops the batch running (after its
    frame, through an event: the batch may get the same signal itself) and the run.
    Returns the frames rendered and the signal that stopped the run, if one did."""
    ctx = multiprocessing.get_context("spawn")
    with safe_path_children():
        event = ctx.Event()  # starts multiprocessing's resource tracker, a child process too
    signum: list[int] = []

    def ask_stop(sig: int, frame: Any) -> None:
        signum.append(sig)
        event.set()

    planned = batches(settings, todo, settings.render.recycle_every)
    log.info("rendering %d frames in %d batches of at most %d (render.recycle_every), a process each",
             len(todo), len(planned), settings.render.recycle_every)
    main = threading.current_thread() is threading.main_thread()
    old = {sig: signal.signal(sig, ask_stop) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
    rendered: list[int] = []
    try:
        for batch in planned:
            if signum:
                break
            child = replace(settings, start=batch[0], frames=batch[-1] - batch[0] + 1, shard=ShardConfig(),
                            render=replace(settings.render, recycle_every=0))
            p = ctx.Process(target=run_batch, args=(run, child, config, event, make_renderer, os.getpid()),
                            name=f"simgen-frames-{batch[0]}")
            with safe_path_children():
                p.start()
            p.join()
            done = set(frames_on_disk(out))
            rendered += [i for i in batch if i in done]
            if p.exitcode in (128 + signal.SIGINT, 128 + signal.SIGTERM):
                signum.append(p.exitcode - 128)
            elif p.exitcode != 0:
                raise SimgenError(f"the process rendering frames {batch[0]}..{batch[-1]} failed (exit status "
                                  f"{p.exitcode}); see {out / LOGS_DIR}; the same command resumes")
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return rendered, (signum[0] if signum else None)
