"""``simgen fit target=DIR name=NAME [target_coco=FILE] [fit.KEY=VALUE ...] [simgen overrides ...]``:
search the randomization settings so that renders look like the target images (simgen.fit)."""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable

from simgen.errors import SimgenError
from simgen.cli.errors import fail
from simgen.cli.kernels import hold_numpy_kernels

USAGE = """usage: simgen fit target=DIR [name=NAME] [target_coco=FILE] [fit.KEY=VALUE ...] [simgen overrides ...]

Search the randomization settings (camera, lighting, objects, appearance, sensor effects) so that
simgen's renders look like your own images, and write fits/NAME/: best.yaml (render with it:
simgen --config-dir fits/NAME --config-name best), trials.csv and report.html. The same command
resumes a stopped fit. Keys: docs/config.md, section "Fits"; how it works: docs/explanation/fit.md.

  simgen fit target=/data/real/images name=shop
  simgen fit target=/data/real/images target_coco=/data/real/val.json name=shop fit.trials=80
  simgen fit target=/data/real/images name=shop 'fit.space.scene.camera_distance=[0.5,6]' objects.catalog=textured
"""


def run_fit_args(argv: list[str], say: Callable[[str], None], kernels: str | None = None) -> Any:
    """Run (or resume, or finish) the fit of the ``simgen fit`` arguments ``argv`` (``target=``,
    ``name=``, ``target_coco=``, ``fit.KEY=VALUE`` and simgen overrides): its plan checked before
    anything renders (:func:`simgen.fit.plan.plan_fit`, every render's overrides checked by
    :func:`~simgen.cli.study.check_dataset`), then :func:`simgen.fit.runner.run_fit`, whose lines
    go to ``say`` (first ``kernels``, what numpy computes with: simgen.cli.kernels). Its
    :class:`simgen.fit.runner.Outcome`; bad input is a SimgenError."""
    from simgen.cli.study import check_dataset
    from simgen.fit.config import load_fit, split_args
    from simgen.fit.plan import plan_fit
    from simgen.fit.runner import run_fit

    fit_args, simgen_args = split_args(argv)
    plan = plan_fit(load_fit(fit_args), simgen_args, validate=check_dataset)
    if kernels is not None:
        say(f"simgen fit: numpy's kernels: {kernels}")
    return run_fit(plan, say=say)


def fit_main(argv: list[str]) -> None:
    if not argv or any(a in ("-h", "--help") for a in argv):
        print(USAGE, end="", flush=True)
        return
    kernels = hold_numpy_kernels(argv)  # before anything loads numpy
    flags = [a for a in argv if a.startswith("-")]
    if flags:
        fail(f"simgen fit takes KEY=VALUE arguments only, not {flags[0]} (simgen fit --help)")
    logging.basicConfig(level=logging.INFO, format="simgen fit: %(message)s")
    try:
        out = run_fit_args(argv, say=lambda s: print(s, flush=True), kernels=kernels)
    except SimgenError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; run the same command again to go on (complete trials are kept)", 130)
    print(f"simgen fit: {out.trials} trial(s) complete in {out.folder}: distance to the target {out.default:.4f} "
          f"(default config) -> {out.best:.4f} (best)\n"
          f"  render with it: simgen --config-dir {out.folder} --config-name best [overrides]\n"
          f"  trials.csv best.yaml report.html", file=sys.stdout, flush=True)
