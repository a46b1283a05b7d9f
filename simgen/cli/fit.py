"""``simgen fit target=DIR name=NAME [target_coco=FILE] [fit.KEY=VALUE ...] [simgen overrides ...]``:
search the randomization settings so that renders look like the target images (simgen.fit)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Callable

from simgen.errors import SimgenError
from simgen.cli.errors import fail

USAGE = """usage: simgen fit target=DIR [name=NAME] [target_coco=FILE] [fit.KEY=VALUE ...] [simgen overrides ...]

Search the randomization settings (camera, lighting, objects, appearance, sensor effects) so that
simgen's renders look like your own images, and write fits/NAME/: best.yaml (render with it:
simgen --config-dir fits/NAME --config-name best), trials.csv and report.html. The same command
resumes a stopped fit. Keys: docs/config.md, section "Fits"; how it works: docs/explanation/fit.md.

  simgen fit target=/data/real/images name=shop
  simgen fit target=/data/real/images target_coco=/data/real/val.json name=shop fit.trials=80
  simgen fit target=/data/real/images name=shop 'fit.space.scene.camera_distance=[0.5,6]' objects.catalog=textured
"""


def run_fit_args(argv: list[str], say: Callable[[str], None]) -> Any:
    """Run (or resume, or finish) the fit of the ``simgen fit`` arguments ``argv`` (``target=``,
    ``name=``, ``target_coco=``, ``fit.KEY=VALUE`` and simgen overrides): its plan checked before
    anything renders (:func:`simgen.fit.plan.plan_fit`, every render's overrides checked by
    :func:`~simgen.cli.study.check_dataset`), then :func:`simgen.fit.runner.run_fit`, whose lines
    go to ``say``. Its :class:`simgen.fit.runner.Outcome`; bad input is a SimgenError."""
    from simgen.cli.study import check_dataset
    from simgen.fit.config import load_fit, split_args
    from simgen.fit.plan import plan_fit
    from simgen.fit.runner import run_fit

    fit_args, simgen_args = split_args(argv)
    plan = plan_fit(load_fit(fit_args), simgen_args, validate=check_dataset)
    return run_fit(plan, say=say)


NUMPY_DISPATCH = ("SSSE3 SSE41 POPCNT SSE42 AVX F16C FMA3 AVX2 AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX "
                  "AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR VSX2 VSX3 VSX4 ASIMDHP ASIMDDP ASIMDFHM SVE")
"""numpy's dispatched vector extensions above each architecture's baseline (x86-64, POWER, ARM64):
NPY_DISABLE_CPU_FEATURES set to them leaves the baseline's kernels (numpy ignores the names of
other architectures)."""


def hold_numpy_kernels(argv: list[str]) -> str:
    """Have numpy compute with its baseline kernels in this process and its children (fit.cpu_kernels,
    the default baseline) by setting NPY_DISABLE_CPU_FEATURES before numpy loads (over a value the
    environment has). Returns what the fit computes with, for its log: with fit.cpu_kernels=native
    this CPU's (less what the environment's NPY_DISABLE_CPU_FEATURES takes away), and with numpy
    loaded already (the Python API) this CPU's too."""
    if any(a.replace(" ", "") == "fit.cpu_kernels=native" for a in argv):
        return "this CPU's (fit.cpu_kernels=native)"
    if "numpy" in sys.modules and os.environ.get("NPY_DISABLE_CPU_FEATURES") != NUMPY_DISPATCH:
        return ("this CPU's: numpy was loaded before the fit began (to compute as on every CPU, set "
                f"NPY_DISABLE_CPU_FEATURES='{NUMPY_DISPATCH}' before Python starts)")
    os.environ["NPY_DISABLE_CPU_FEATURES"] = NUMPY_DISPATCH
    return "the CPU architecture's baseline, the same on every CPU (fit.cpu_kernels)"


def fit_main(argv: list[str]) -> None:
    if not argv or any(a in ("-h", "--help") for a in argv):
        print(USAGE, end="", flush=True)
        return
    kernels = hold_numpy_kernels(argv)  # before anything loads numpy
    flags = [a for a in argv if a.startswith("-")]
    if flags:
        fail(f"simgen fit takes KEY=VALUE arguments only, not {flags[0]} (simgen fit --help)")
    logging.basicConfig(level=logging.INFO, format="simgen fit: %(message)s")
    logging.getLogger("simgen.fit").info("numpy's kernels: %s", kernels)
    try:
        out = run_fit_args(argv, say=lambda s: print(s, flush=True))
    except SimgenError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; run the same command again to go on (complete trials are kept)", 130)
    print(f"simgen fit: {out.trials} trial(s) complete in {out.folder}: distance to the target {out.default:.4f} "
          f"(default config) -> {out.best:.4f} (best)\n"
          f"  render with it: simgen --config-dir {out.folder} --config-name best [overrides]\n"
          f"  trials.csv best.yaml report.html", file=sys.stdout, flush=True)
