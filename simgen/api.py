"""simgen's Python API: render a dataset, read one, run a study or a fit, from Python.

Each function does what one ``simgen`` command does, through the same code, and raises
:class:`simgen.SimgenError` with the command's one-line message where the command would print
``simgen: error: ...``. The names are re-exported by :mod:`simgen` itself (``simgen.render``,
``simgen.open_dataset``, ...), imported on first use: ``import simgen`` still imports neither
Blender, nor Hydra, nor torch.

| Python | the same as |
|---|---|
| `simgen.render(OVERRIDES, out=DIR, frames=N)` | `simgen OVERRIDES output.dir=DIR frames=N` |
| `simgen.render(..., config_dir=D, config_name=N)` | `simgen --config-dir D --config-name N ...` (a fit's best.yaml) |
| `simgen.open_dataset(DIR)` | reading DIR as docs/dataset.md describes it |
| `simgen.run_study(NAME, OVERRIDES)` | `simgen study NAME OVERRIDES` |
| `simgen.run_fit(TARGET, name=NAME, overrides=OVERRIDES)` | `simgen fit target=TARGET name=NAME OVERRIDES` |

Example (a complete script; 2 frames of 64x48 take a few seconds on a CPU):

```python
import simgen

ds = simgen.render(["render.width=64", "render.height=48", "render.samples=4", "seed=3"],
                   out="/tmp/simgen-demo", frames=2)
print(ds)                                   # Dataset('/tmp/simgen-demo': 2 frame(s))
print([c["name"] for c in ds.categories])   # the COCO categories
for frame in ds:                            # or ds[0], ds.frame(INDEX)
    rgb = frame.image                       # uint8 (48, 64, 3)
    depth = frame.depth                     # float32 (48, 64), metres, inf = no hit
    ids = frame.instance                    # uint16 (48, 64), 0 = nothing hit
    print(frame.index, frame.labels)        # ('rgb', 'instance', 'semantic', 'depth', 'normal')
    print(frame.K, frame.world_to_camera)   # (3, 3) intrinsics, (4, 4) pose, OpenCV camera axes
    for ann in frame.annotations:           # COCO: bbox [x, y, w, h], area, RLE segmentation
        mask = ids == ann["simgen"]["instance_id"]
        assert mask.sum() == ann["area"]
coco = ds.coco                              # coco.json, parsed

try:
    simgen.render(["frmaes=3"], out="/tmp/simgen-bad")
except simgen.SimgenError as e:
    print(e)   # unknown key 'frmaes'; did you mean 'frames'? (simgen --help lists the keys)

# with a fit's result (simgen fit writes fits/NAME/best.yaml), a study, a fit:
# simgen.render(["frames=100"], out="/data/shop", config_dir="fits/shop", config_name="best")
# results = simgen.run_study("dr_gap", ["study.seeds=[0]", "render.width=160", "render.height=120"])
# outcome = simgen.run_fit("/data/real/images", name="shop", overrides=["fit.trials=20"])
# print(outcome.default, "->", outcome.best, "in", outcome.folder)
```

How it runs: :func:`render` runs the ``simgen`` command (``python -m simgen.cli``) as a child
process and waits for it. Blender is a module that cannot be unloaded or loaded twice, keeps global
state between renders and brings its own copies of libraries that other modules of your process
(torch, OpenCV) may load in other versions; Hydra configures the root logger and reads
``sys.argv``; a run handles SIGINT and SIGTERM itself, which only the main thread of a process can.
A child keeps all of that out of your process, and makes the dataset the one the command writes,
byte for byte. The child is tied to your process (it stops, its frames written, when your process
dies, even by ``kill -9``), and Ctrl-C in your process asks it to stop as Ctrl-C stops the command:
the frame in flight is written, coco.json lists every complete frame, and KeyboardInterrupt is
raised once it has stopped (a second Ctrl-C stops it at once); calling :func:`render` again resumes.
:func:`run_study` and :func:`run_fit` run in your process, as the commands do: they render and
train in child processes of their own.
"""

from __future__ import annotations

import codecs
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any, Callable, Iterable

from simgen.errors import SimgenError
from simgen.io.dataset.reader import Dataset, Frame

__all__ = ["Dataset", "Frame", "open_dataset", "render", "run_fit", "run_study"]

_TAIL = 1 << 16
"""The end of the child's stderr kept to find its error line (bytes)."""


def _args(overrides: Iterable[str] | None, what: str) -> list[str]:
    """``overrides`` as a list of strings (one string is a mistake: a list of one is meant)."""
    if overrides is None:
        return []
    if isinstance(overrides, (str, bytes)):
        raise TypeError(f"{what}: overrides is a list of KEY=VALUE strings, e.g. [{overrides!r}], not one string")
    args = list(overrides)
    bad = [a for a in args if not isinstance(a, str)]
    if bad:
        raise TypeError(f"{what}: overrides are KEY=VALUE strings; got {bad[0]!r}")
    return args


def _key(arg: str) -> str:
    return arg.partition("=")[0].lstrip("+~")


def _refuse(args: list[str], what: str, keys: dict[str, str]) -> None:
    """A SimgenError for a flag among ``args``, or an override of a key of ``keys`` (key -> the
    argument that sets it instead)."""
    flags = [a for a in args if a.startswith("-")]
    if flags:
        raise SimgenError(f"{what} takes KEY=VALUE overrides only, not the flag {flags[0]}")
    for a in args:
        if _key(a) in keys:
            raise SimgenError(f"{what}: give {_key(a)} as {keys[_key(a)]}, not as the override {a!r}")


def open_dataset(path: str | os.PathLike) -> Dataset:
    """Open the simgen dataset in folder ``path`` (a run's ``output.dir``) to read it.

    Args:
        path: the dataset's folder.

    Returns:
        A :class:`~simgen.io.dataset.reader.Dataset`: ``len(ds)`` complete frames; ``ds[i]`` (and
        iteration) gives :class:`~simgen.io.dataset.reader.Frame` objects, whose ``image``, label maps
        (``label(name)``, ``instance``, ``depth``, ...), ``meta``, ``K``, ``world_to_camera`` and
        ``annotations`` are read on first use; ``ds.categories``, ``ds.coco`` (coco.json),
        ``ds.info`` (dataset.json). Every path read stays inside the folder (no ``..``, no
        symbolic link out of it): a dataset that breaks that is a SimgenError naming the file.

    Raises:
        SimgenError: ``path`` is not a simgen dataset folder.

    The command line's nearest equivalent is ``simgen validate DIR``, which reads every file.
    """
    return Dataset(path)


def render(overrides: Iterable[str] | None = None, *, out: str | os.PathLike, frames: int | None = None,
           config_dir: str | os.PathLike | None = None, config_name: str | None = None,
           quiet: bool = False) -> Dataset:
    """Render a dataset exactly as ``simgen OVERRIDES output.dir=OUT [frames=N]`` does.

    The ``simgen`` command runs as a child process (the module's doc says why) with these
    arguments; the dataset is the one it writes. Rendering into a folder that holds part of the
    same dataset resumes it (complete frames are kept), as the command does.

    Args:
        overrides: simgen's Hydra overrides, e.g. ``["render.width=320", "seed=3",
            "scene=flying"]`` (docs/config.md lists every key). Not ``output.dir`` (give ``out``),
            no study (``experiment=`` takes overlays only; a study is :func:`run_study`), no flags.
        out: the dataset's folder (``output.dir``): new, empty or this config's dataset.
        frames: how many frames (``frames=N``; default: the config's).
        config_dir: a folder of configs to compose from (``--config-dir``), e.g. ``fits/NAME``.
        config_name: the primary config's name (``--config-name``), e.g. ``best``.
        quiet: True: the command's output (its summary, warnings and progress lines) is not
            passed on to ``sys.stdout`` / ``sys.stderr``.

    Returns:
        The dataset, opened (:func:`open_dataset`).

    Raises:
        SimgenError: bad input or a failed run, with the command's one-line message (e.g.
            ``unknown key 'frmaes'; did you mean 'frames'? ...``); nothing is written for bad input.
        KeyboardInterrupt: Ctrl-C stopped the run once its frame in flight was written.
    """
    from simgen.cli.overrides import named_study, quote

    args = _args(overrides, "render")
    _refuse(args, "render", {"output.dir": "out=...", **({"frames": "frames=..."} if frames is not None else {})})
    study = named_study(args)
    if study is not None:
        raise SimgenError(f"render: {study[0]} is a study; run it with simgen.run_study({study[1]!r}, overrides)")
    if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int)):
        raise TypeError(f"render: frames is an integer, got {frames!r}")
    folder = Path(out).expanduser().absolute()
    primary = [*(["--config-dir", str(Path(config_dir).expanduser().absolute())] if config_dir is not None else []),
               *(["--config-name", str(config_name)] if config_name is not None else [])]
    extra = [f"output.dir={quote(str(folder))}", *([f"frames={frames}"] if frames is not None else [])]
    _run_command([sys.executable, "-m", "simgen.cli", *primary, *args, *extra], quiet)
    return Dataset(folder)


def _pump(pipe: IO[bytes], to: Any, tail: bytearray | None) -> None:
    """Copy a child's output pipe to the text stream ``to`` (None: drop it) as it comes, keeping
    its last :data:`_TAIL` bytes in ``tail``."""
    decode = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for chunk in iter(lambda: pipe.read1(1 << 14), b""):  # type: ignore[attr-defined]
        if tail is not None:
            tail += chunk
            del tail[:-_TAIL]
        if to is not None:
            try:
                to.write(decode.decode(chunk))
                to.flush()
            except (OSError, ValueError):  # a closed stream: keep draining the pipe
                to = None
    pipe.close()


def _error_line(stderr: bytes, code: int) -> str:
    """The command's one-line message from its stderr: its ``simgen: error: ...`` line, else its
    last ``simgen: ...`` line (a run stopped by a signal), else its last line."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").replace("\r", "\n").splitlines()
             if line.strip()]
    for prefix in ("simgen: error: ", "simgen: "):
        found = [line[len(prefix):] for line in lines if line.startswith(prefix)]
        if found:
            return found[-1]
    return f"the simgen command ended with exit status {code}" + (f": {lines[-1]}" if lines else "")


def _run_command(argv: list[str], quiet: bool) -> None:
    """Run the ``simgen`` command ``argv`` to its end (module doc: Ctrl-C, a child tied to this
    process); a SimgenError with its one-line message when it fails."""
    from simgen.child_processes import child_env

    env = child_env(tied=True)  # HYDRA_FULL_ERROR=1 passes on: the command then prints the traceback
    # a session of its own: Ctrl-C at a terminal reaches this process only, which passes one SIGINT on
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    tail = bytearray()
    pumps = [threading.Thread(target=_pump, args=(proc.stdout, None if quiet else sys.stdout, None), daemon=True),
             threading.Thread(target=_pump, args=(proc.stderr, None if quiet else sys.stderr, tail), daemon=True)]
    for t in pumps:
        t.start()
    interrupted = False
    while True:
        try:
            code = proc.wait()
            break
        except KeyboardInterrupt:
            interrupted = True
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # the first stops after the frame in flight, a second at once
    for t in pumps:
        t.join()
    if interrupted:
        raise KeyboardInterrupt(_error_line(bytes(tail), code))
    if code != 0:
        raise SimgenError(_error_line(bytes(tail), code))


def run_study(name_or_path: str | os.PathLike, overrides: Iterable[str] | None = None) -> dict[str, Any]:
    """Run a study, as ``simgen study NAME OVERRIDES`` does: render every arm and the target,
    train a detector per arm, training-set size and seed, score each with COCOeval on the target,
    and write results.csv, results.json and summary.md to ``study.out`` (default
    ``experiments/NAME``, relative to the working directory). Resumable: datasets and training runs
    done before are kept.

    Runs in this process, as the command does; the renders and training runs are child processes.
    Progress lines go to stderr, the headline to stdout.

    Args:
        name_or_path: a study of simgen's (``dr_gap``, ``fit_gap``, ``own_look``, ``people_diversity``:
            ``configs/study/NAME.yaml``), or the path of a study file (``*.yaml`` with a
            ``study:`` node).
        overrides: ``study.KEY=VALUE`` settings of the study (docs/config.md, "Studies") and
            simgen overrides applied to every dataset it renders, e.g.
            ``["study.seeds=[0]", "render.width=160", "render.height=120"]``.

    Returns:
        The results, what results.json holds: the study, every training run's scores (``runs``),
        the mean and spread per arm and size, and the ``headline``.

    Raises:
        SimgenError: not a study (an unknown name: with a "did you mean"), bad settings (every
            dataset's overrides are checked before anything renders), or a render or training run
            that failed; the command's one line.
    """
    from simgen.cli.study import resolve_study, run_study_file

    args = _args(overrides, "run_study")
    _refuse(args, "run_study", {})
    try:
        path = resolve_study(os.fspath(name_or_path))
    except SimgenError as e:
        raise SimgenError(f"run_study: {e}") from None
    return run_study_file(path, args)


def _yaml_text(value: str | os.PathLike) -> str:
    """A ``fit`` argument's value as one YAML string (a path may hold ``:`` or spaces)."""
    return "'" + os.fspath(value).replace("'", "''") + "'"


def run_fit(target: str | os.PathLike, *, name: str = "fit", target_coco: str | os.PathLike | None = None,
            overrides: Iterable[str] | None = None, say: Callable[[str], None] = print) -> Any:
    """Fit the randomization to your images, as ``simgen fit target=TARGET name=NAME
    [target_coco=FILE] OVERRIDES`` does: search the settings so that renders look like the
    target images, and write ``fits/NAME/`` (``fit.out`` elsewhere): ``best.yaml`` (render with it:
    ``render(..., config_dir="fits/NAME", config_name="best")``), ``trials.csv``, ``report.html``.
    Resumable: the same call after any stop goes on to ``fit.trials`` complete trials.

    Runs in this process, as the command does; its renders are child processes. Its log records
    go to the ``simgen.fit`` logger (this process's logging configuration; the command prints them).

    Args:
        target: the folder of the target images (8-bit RGB of one size).
        name: the fit's name (``fit.name``): its folder is ``fits/NAME`` under the working directory.
        target_coco: a COCO json of (some of) the target images, adding label statistics.
        overrides: ``fit.KEY=VALUE`` settings of the fit (docs/config.md, "Fits"; e.g.
            ``fit.trials=20``, ``fit.space.scene.camera_distance=[0.5,6]``) and simgen overrides applied to
            every render (e.g. ``objects.catalog=textured``).
        say: called with each line the command prints (trial results, the final round).

    Returns:
        The fit's :class:`simgen.fit.runner.Outcome`: ``folder``, ``trials`` complete, the distance
        to the target of the ``default`` config and of the ``best`` settings.

    Raises:
        SimgenError: bad settings or target (found before anything renders), or too many failed
            renders; the command's one line.
    """
    from simgen.cli.fit import run_fit_args

    args = _args(overrides, "run_fit")
    _refuse(args, "run_fit", {**{k: f"{k}=..." for k in ("target", "name", "target_coco")},
                              **{f"fit.{k}": f"{k}=..." for k in ("target", "name", "target_coco")}})
    given = [f"target={_yaml_text(target)}", f"name={_yaml_text(name)}",
             *([f"target_coco={_yaml_text(target_coco)}"] if target_coco is not None else [])]
    return run_fit_args([*given, *args], say=say)
