"""``simgen experiment=NAME``: a study (an experiment file with a ``study:`` node) runs through
simgen.experiment, which renders its arms as simgen runs checked by :func:`check_dataset`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simgen import SimgenError
from simgen.cli.errors import fail
from simgen.cli.overrides import check_overrides
from simgen.core.paths import CONFIG_DIR


def study_file(args: list[str]) -> Path | None:
    """The study named by an ``experiment=NAME`` (configs/experiment/NAME.yaml) or
    ``experiment=FILE.yaml`` argument, if that file describes a study (a ``study:`` node)."""
    from simgen.experiment.config import is_study_file

    for a in args:
        key, eq, value = a.partition("=")
        if key == "experiment" and eq and value and "," not in value:
            path = Path(value).expanduser() if value.endswith((".yaml", ".yml")) else \
                CONFIG_DIR / "experiment" / f"{value}.yaml"
            if is_study_file(path):
                return path
    return None


def check_dataset(overrides: list[str]) -> Any:
    """Check a simgen command line as a run would (keys, options, every value) without rendering;
    its Settings."""
    from simgen.configstore import compose
    from simgen.settings import to_settings

    check_overrides(overrides)
    return to_settings(compose(overrides))


def run_study_file(path: Path, args: list[str]) -> dict[str, Any]:
    """Run the study of file ``path`` with the ``study.KEY=VALUE`` overrides of ``args`` and its
    other overrides (an ``experiment=`` one left out) as simgen overrides of every dataset it
    renders, each dataset's overrides checked (:func:`check_dataset`) before anything renders. The
    results (what results.json holds); bad input is a SimgenError."""
    from simgen.experiment.config import load_study
    from simgen.experiment.runner import run_study

    rest = [a for a in args if a.partition("=")[0] != "experiment"]
    study = load_study(path, [a for a in rest if a.startswith("study.")])
    return run_study(study, [a for a in rest if not a.startswith("study.")], name=path.stem, validate=check_dataset)


def study_main(path: Path, args: list[str]) -> None:
    """``simgen experiment=NAME [study.KEY=VALUE ...] [simgen overrides ...]``: run a study
    (simgen.experiment); the simgen overrides apply to every dataset it renders."""
    flags = [a for a in args if a.startswith("-")]
    if flags:
        fail(f"{path.stem} is a study, run as one command: drop {flags[0]} (study.launch=[-m,...] gives "
             "flags such as a launcher to the renders)")
    try:
        run_study_file(path, args)
    except SimgenError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; run the same command again to go on (finished datasets and training runs are kept)",
             130)
