"""The Hydra app and :func:`main`, the ``simgen`` command: dispatch (subcommands, ``simgen study``
among them, ``--help``), the overrides checked before Hydra composes, Hydra's run folder out of
the working directory, Hydra's errors worded as simgen's, and the run's summary."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import hydra
from omegaconf import DictConfig, OmegaConf

from simgen.errors import Interrupted, SimgenError
from simgen.cli.commands import SUBCOMMANDS
from simgen.cli.datasetlog import DatasetLog
from simgen.cli.errors import fail
from simgen.cli.overrides import check_overrides, quote, refuse_studies
from simgen.cli.usage import HELP_FLAGS, usage
from simgen.paths import CONFIG_DIR
from simgen.io.names import LOGS_DIR
from simgen.io.scratch import WorkFolder
from simgen.child_processes import die_with_parent

PLAIN_FLAGS = ("-m", "--multirun", "-r", "--run")
"""Hydra flags that take no value; with any other flag simgen leaves the command to Hydra."""
CONFIG_FLAGS = ("--config-dir", "-cd", "--config-name", "-cn")
"""Hydra flags that take a value and that simgen passes on with its own checks: another primary
config, e.g. a fit's best.yaml (``--config-dir fits/shop --config-name best``)."""


def config_flags(args: list[str]) -> tuple[list[str], list[str]]:
    """(the :data:`CONFIG_FLAGS` with their values, the other arguments)."""
    flags, rest, i = [], [], 0
    while i < len(args):
        a = args[i]
        if a in CONFIG_FLAGS and i + 1 < len(args):
            flags += args[i:i + 2]
            i += 2
            continue
        (flags if a.partition("=")[0] in CONFIG_FLAGS else rest).append(a)
        i += 1
    return flags, rest


_full_error = False


@hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    from simgen.pipeline import run
    from simgen.compose.settings import to_settings

    handler = None
    root = logging.getLogger()
    try:
        settings = to_settings(cfg)
        console = next((h.formatter for h in root.handlers if h.formatter is not None), None)
        handler = DatasetLog(Path(settings.output.dir).expanduser().resolve(), console)
        root.addHandler(handler)
        summary = run(settings, OmegaConf.to_container(cfg, resolve=True))
    except SimgenError as e:
        if _full_error:
            raise
        fail(str(e))
    except Interrupted as e:
        s = e.summary
        print(f"simgen: stopped by {e.signal_name}: rendered {len(s.rendered)} frame(s); {s.frames_on_disk} "
              f"frame(s) complete in {s.out_dir}, all in coco.json and dataset.json (run the same command "
              "again to render the rest)", file=sys.stderr, flush=True)
        sys.exit(128 + e.signum)
    except KeyboardInterrupt:
        fail("interrupted; the frames finished so far are complete on disk and in coco.json "
             "(run the same command again to render the rest)", 130)
    finally:
        if handler is not None:
            root.removeHandler(handler)
            handler.close()
    s = summary
    held = sorted(p.name + ("/" if p.is_dir() else "") for p in s.out_dir.iterdir() if not p.name.startswith("."))
    print(f"simgen: dataset in {s.out_dir}\n"
          f"  rendered {len(s.rendered)} frame(s)"
          + (f", kept {len(s.skipped)} already on disk" if s.skipped else "")
          + f"; {s.frames_on_disk} frame(s) on disk, {s.annotations} COCO annotation(s)\n"
          f"  {' '.join(held)} (layout: docs/dataset.md)", flush=True)
    if s.short:
        print(f"  {len(s.short)} frame(s) hold fewer objects than objects.count[0] (a draw that could not place "
              f"them all: the meta's params.shortfall says what and how to avoid it): {_frames(s.short)}", flush=True)
    total = sum(s.category_counts.values())
    if total:
        shares = ", ".join(f"{name} {n} ({100 * n / total:.0f} %)" for name, n in s.category_counts.items())
        print(f"  visible objects per category: {shares}", flush=True)


def _frames(indices: list[int], most: int = 10) -> str:
    shown = ", ".join(map(str, indices[:most]))
    return shown + (f" and {len(indices) - most} more" if len(indices) > most else "")


def _run_dir_overrides(parsed: list[Any], multirun: bool) -> tuple[list[str], WorkFolder | None]:
    """With output.dir on the command line: no .hydra folder, and nothing in the working
    directory. Hydra's run folder goes to a temporary folder (removed afterwards; one a killed
    command left is removed by the next, as a scratch folder: simgen.io.scratch.WorkFolder);
    so does its sweep folder, except in a multirun into one output.dir (shards), where it is
    ``<output.dir>/logs/multirun``: launchers keep their jobs' files and logs there
    (submitit's must be on a file system the compute nodes share, as the dataset is)."""
    keys = {o.key_or_group for o in parsed}
    if "output.dir" not in keys or keys & {"hydra.run.dir", "hydra.sweep.dir"}:
        return [], None
    work = WorkFolder(Path(tempfile.gettempdir()))
    tmp = str(work.path)
    sweep = tmp
    out = next(o for o in parsed if o.key_or_group == "output.dir")
    if multirun and not out.is_sweep_override():
        sweep = str(Path(str(out.value())).expanduser().absolute() / LOGS_DIR / "multirun")
    extra = [f"hydra.run.dir={quote(tmp)}", f"hydra.sweep.dir={quote(sweep)}"]
    if "hydra.output_subdir" not in keys:
        extra.append("hydra.output_subdir=null")
    return extra, work


MODE_KEYS = ("hydra", "hydra.mode")
"""Overrides that could set ``hydra.mode`` themselves; ``hydra.searchpath`` (a config folder of the
user's) could too, through a file."""


@contextmanager
def _mode_unset(primary: list[str], overrides: list[str]) -> Iterator[None]:
    """Hydra composes the whole config once only to read ``hydra.mode`` (``Hydra.get_mode``), then
    composes it again to run: a third of a short command's start-up. When nothing on the command
    line can set that mode (no config of the user's, no ``hydra.mode`` or ``hydra.searchpath``
    override) and no shipped config sets it (tests/test_cli.py checks configs/), it is unset,
    as Hydra would find: the run or the multirun is chosen by ``-m`` alone, without that first
    composition. Otherwise Hydra composes as it always does."""
    from hydra._internal.hydra import Hydra

    keys = {o.partition("=")[0].lstrip("+~") for o in overrides}
    if primary or any(k in MODE_KEYS or k.startswith("hydra.searchpath") for k in keys):
        yield
        return
    composing = Hydra.get_mode
    Hydra.get_mode = lambda self, config_name, overrides: None
    try:
        yield
    finally:
        Hydra.get_mode = composing


def main() -> None:
    """The ``simgen`` command. A reader of its output that goes away (``simgen --help | head``) ends
    it quietly, as it ends a Unix tool, not with a traceback (Python's documented way: stdout
    pointed at /dev/null, exit status 1)."""
    try:
        _main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


def _main() -> None:
    global _full_error
    die_with_parent()  # a fit's or a study's render child stops with the process that started it
    if not (CONFIG_DIR / "config.yaml").is_file():
        fail(f"config folder {CONFIG_DIR} not found: this simgen install is incomplete; reinstall it "
             "(`pip install simgen-*.whl`, or `pip install -e .` in a checkout)")
    args = sys.argv[1:]
    if args and args[0] in SUBCOMMANDS:  # those that compose a config store it themselves (simgen.compose.store.compose)
        SUBCOMMANDS[args[0]](args[1:])
        return
    from simgen.compose.store import register

    register()  # the config groups' defaults are the declared dataclasses: stored before Hydra composes
    if any(a in HELP_FLAGS for a in args):
        print(usage(), flush=True)
        return
    _full_error = os.environ.get("HYDRA_FULL_ERROR") == "1"
    primary, args = config_flags(args)
    flags = [a for a in args if a.startswith("-")]
    if any(f not in PLAIN_FLAGS for f in flags):  # Hydra's own flags (--cfg, --info, ...): Hydra's own behaviour
        if not any(a.partition("=")[0].lstrip("+") == "hydra.searchpath" for a in args):
            try:  # as check_overrides refuses on a run: a study is not an overlay
                refuse_studies(args)
            except SimgenError as e:
                fail(str(e))
        try:
            _app()
        except ValueError as e:  # e.g. "Only one of --run, --multirun, --cfg ... can be specified"
            if _full_error:
                raise
            fail(str(e))
        return
    overrides = [a for a in args if not a.startswith("-")]
    run_dir = None
    try:
        try:
            parsed = check_overrides(overrides)
        except SimgenError as e:
            if _full_error:  # Hydra's own report of the same problem, with its traceback
                _app()
                return
            fail(str(e))
        extra, run_dir = _run_dir_overrides(parsed, multirun=bool({"-m", "--multirun"} & set(flags)))
        sys.argv = [sys.argv[0], *primary, *flags, *overrides, *extra]
        if _full_error:
            with _mode_unset(primary, overrides):
                _app()
            return
        os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises instead of printing; we word it
        try:
            with _mode_unset(primary, overrides):
                _app()
        except Exception as e:
            from hydra.errors import HydraException
            from omegaconf.errors import OmegaConfBaseException

            if not isinstance(e, (HydraException, OmegaConfBaseException)):
                raise
            from simgen.compose.store import composition_error

            fail(str(composition_error(e, details="HYDRA_FULL_ERROR=1 shows the details")))
        finally:
            os.environ.pop("HYDRA_FULL_ERROR", None)
    finally:
        if run_dir is not None:
            run_dir.cleanup()
