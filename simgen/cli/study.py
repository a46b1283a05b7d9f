"""``simgen study NAME|FILE [study.KEY=VALUE ...] [simgen overrides ...]``: run a study (a YAML file
with a ``study:`` node: one of simgen's, configs/study/NAME.yaml, or a FILE of one's own) through
simgen.experiment, which renders its arms as simgen runs checked by :func:`check_dataset`.

``experiment=`` is a Hydra overlay group only (configs/experiment/, ``# @package _global_``): an
``experiment=`` override that names a study is a one-line error saying the command that runs it
(:func:`simgen.cli.overrides.study_hint`)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

from simgen.errors import SimgenError, did_you_mean
from simgen.cli.errors import fail
from simgen.cli.overrides import check_overrides, refuse_studies

USAGE = """usage: simgen study NAME|FILE [study.KEY=VALUE ...] [simgen overrides ...]

Measure what a randomization setting is worth: render every arm of a study and its target set,
train a detector per arm, training-set size and seed, score each with COCOeval on the target, and
write results.csv, results.json, plots and summary.md to study.out (default experiments/NAME). The
same command resumes a stopped study (the datasets and training runs on disk are kept).
study.KEY=VALUE sets a key of the study (docs/config.md, section "Studies"); any other override is
a simgen setting of every dataset the study renders. How it works: docs/how-to/study-file.md.

Studies (NAME: configs/study/NAME.yaml; FILE: a YAML file of your own with a study: node):
{studies}

Examples:
  simgen study dr_gap                                      # about 7 minutes on 2 CPU cores
  simgen study dr_gap 'study.frames=[256,1024]' study.trainer.steps=1500   # a learning curve
  simgen study dr_gap study.seeds=[0] render.samples=4     # simgen overrides: every dataset
  simgen study /path/my_study.yaml                         # a study file of your own
"""


def resolve_study(name_or_path: str) -> Path:
    """The study file of ``simgen study NAME|FILE``: configs/study/NAME.yaml, or FILE (a path:
    it ends with .yaml or .yml, or holds a '/') with a ``study:`` node. A one-line SimgenError
    (with a "did you mean") otherwise."""
    from simgen.experiment.config import is_file_argument, is_study_file, studies

    known = studies()
    if not is_file_argument(name_or_path):
        if name_or_path in known:
            return known[name_or_path]
        guess = did_you_mean(name_or_path, list(known))
        raise SimgenError(f"unknown study {name_or_path!r}; {guess + ' ' if guess else ''}simgen's studies are "
                          f"{', '.join(known)} (configs/study/), or give the path of a study file (*.yaml with a "
                          "study: node)")
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise SimgenError(f"study file {name_or_path} not found" + (" (a name of simgen's studies has no '/' or "
                          f".yaml: {', '.join(known)})" if "/" not in name_or_path else ""))
    if not is_study_file(path):
        raise SimgenError(f"{name_or_path} is not a study: a study file has a top-level study: node "
                          "(docs/tutorials/study.md)")
    return path


def check_dataset(overrides: list[str]) -> Any:
    """Check a simgen command line as a run would (keys, options, every value) without rendering;
    its Settings."""
    from simgen.compose.store import compose
    from simgen.compose.settings import to_settings

    check_overrides(overrides)
    return to_settings(compose(overrides))


def run_study_file(path: Path, args: list[str]) -> dict[str, Any]:
    """Run the study of file ``path`` with the ``study.KEY=VALUE`` overrides of ``args`` and its
    other overrides as simgen overrides of every dataset it renders, each dataset's overrides
    checked (:func:`check_dataset`) before anything renders. The results (what results.json
    holds); bad input is a SimgenError."""
    from simgen.experiment.config import load_study
    from simgen.experiment.runner import run_study

    study = load_study(path, [a for a in args if a.startswith("study.")])
    rest = [a for a in args if not a.startswith("study.")]
    refuse_studies(rest)
    return run_study(study, rest, name=path.stem, validate=check_dataset)


def _summary(path: Path) -> str:
    """The first sentence of a study file's top comment (up to '. ' or '? ')."""
    from simgen.cli.usage import top_comment

    text = top_comment(path)
    m = re.search(r"(?<=[\w)\]}][.?]) ", text)
    return text[:m.start()] if m else text


def usage() -> str:
    """``simgen study --help``: the usage, simgen's studies with what each asks, examples."""
    from simgen.experiment.config import studies

    known = studies()
    width = max((len(n) for n in known), default=0) + 2
    lines = []
    for name, path in known.items():
        lines += textwrap.wrap(_summary(path), width=100, initial_indent=f"  {name:<{width}}",
                               subsequent_indent=" " * (2 + width))
    return USAGE.format(studies="\n".join(lines) or "  (none)")


def study_main(argv: list[str]) -> None:
    """``simgen study NAME|FILE [study.KEY=VALUE ...] [simgen overrides ...]``: run a study
    (simgen.experiment); the simgen overrides apply to every dataset it renders. No argument,
    ``-h`` or ``--help``: the usage, listing simgen's studies."""
    if not argv or any(a in ("-h", "--help") for a in argv):
        print(usage(), end="", flush=True)
        return
    name, args = argv[0], argv[1:]
    if name.startswith("-"):
        fail(f"simgen study takes the study first, then KEY=VALUE arguments, not {name} (simgen study --help)")
    if "=" in name and not Path(name).expanduser().is_file():  # the study forgotten: study.seeds=[0]
        fail(f"simgen study takes the study's name or file first, e.g. simgen study dr_gap {name} "
             "(simgen study --help lists the studies)")
    flags = [a for a in args if a.startswith("-")]
    if flags:
        fail(f"a study runs as one command: drop {flags[0]} (study.launch=[-m,...] gives flags such as a "
             "launcher to the renders)")
    try:
        run_study_file(resolve_study(name), args)
    except SimgenError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; run the same command again to go on (finished datasets and training runs are kept)",
             130)
