"""The ``simgen`` command: the project's only Hydra entry point.

    simgen output.dir=/data/run1 frames=200 seed=3 render.width=640 render.height=480

It turns the composed config into typed :class:`simgen.config.Settings` and calls the
pipeline; nothing below it sees a DictConfig. Bad input ends with one line on stderr
(``simgen: error: ...``) and exit status 2 (set HYDRA_FULL_ERROR=1 for the traceback):
simgen's own checks, and Hydra's (a misspelt key, an unknown group option, an override it
cannot parse), which :func:`main` checks before Hydra composes and words the same way.
``simgen --help`` prints simgen's usage, derived from the config declarations.

With ``output.dir`` set on the command line nothing is written to the working directory:
Hydra's own run folder becomes a temporary one, and the run's log is
``<output.dir>/logs/simgen.log`` (written once the dataset exists, so a rejected run leaves
nothing behind).

The modules, one concern each:

- :mod:`simgen.cli.app`: the Hydra app and :func:`main` (dispatch, Hydra's run folder, Hydra's
  errors worded as simgen's, the run's summary);
- :mod:`simgen.cli.overrides`: the overrides checked before Hydra composes;
- :mod:`simgen.cli.usage`: ``simgen --help``;
- :mod:`simgen.cli.commands`: ``simgen merge``, ``inspect``, ``validate``, ``compare``,
  ``fetch``, ``catalog`` (and the table of subcommands, ``fit`` and ``study`` among them);
- :mod:`simgen.cli.fit`: ``simgen fit``;
- :mod:`simgen.cli.study`: ``simgen study NAME``, a study (``experiment=`` is a Hydra overlay only);
- :mod:`simgen.cli.datasetlog`: the run's log file;
- :mod:`simgen.cli.errors`: the one-line error and its exit status.
"""

from __future__ import annotations

from simgen.cli.app import PLAIN_FLAGS, main
from simgen.cli.commands import (
    SUBCOMMANDS,
    catalog_main,
    compare_main,
    fetch_main,
    inspect_main,
    merge_main,
    validate_main,
)
from simgen.cli.datasetlog import LOG_FILE, DatasetLog
from simgen.cli.overrides import check_overrides
from simgen.cli.study import check_dataset, resolve_study, study_main
from simgen.cli.usage import HELP_FLAGS, describe, usage
from simgen.paths import CONFIG_DIR

__all__ = [
    "CONFIG_DIR", "HELP_FLAGS", "LOG_FILE", "PLAIN_FLAGS", "SUBCOMMANDS", "DatasetLog", "catalog_main",
    "check_dataset", "check_overrides", "compare_main", "describe", "fetch_main", "inspect_main", "main",
    "merge_main", "resolve_study", "study_main", "usage", "validate_main",
]
