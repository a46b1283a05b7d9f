"""``simgen fit target=DIR name=NAME [target_coco=FILE] [fit.KEY=VALUE ...] [simgen overrides ...]``:
search the randomization settings so that renders look like the target images (simgen.fit)."""

from __future__ import annotations

import logging
import sys

from simgen import SimgenError
from simgen.cli.errors import fail

USAGE = """usage: simgen fit target=DIR [name=NAME] [target_coco=FILE] [fit.KEY=VALUE ...] [simgen overrides ...]

Search the randomization settings (camera, lighting, objects, appearance, sensor effects) so that
simgen's renders look like your own images, and write fits/NAME/: best.yaml (render with it:
simgen --config-dir fits/NAME --config-name best), trials.csv and report.html. The same command
resumes a stopped fit. Keys: docs/config.md, section "Fits"; README: "Fit the randomization".

  simgen fit target=/data/real/images name=shop
  simgen fit target=/data/real/images target_coco=/data/real/val.json name=shop fit.trials=80
  simgen fit target=/data/real/images name=shop 'fit.space.camera.distance=[0.5,6]' objects.catalog=textured
"""


def fit_main(argv: list[str]) -> None:
    from simgen.cli.study import check_dataset
    from simgen.fit.config import load_fit, split_args
    from simgen.fit.plan import plan_fit
    from simgen.fit.runner import run_fit

    if not argv or any(a in ("-h", "--help") for a in argv):
        print(USAGE, end="", flush=True)
        return
    flags = [a for a in argv if a.startswith("-")]
    if flags:
        fail(f"simgen fit takes KEY=VALUE arguments only, not {flags[0]} (simgen fit --help)")
    logging.basicConfig(level=logging.INFO, format="simgen fit: %(message)s")
    fit_args, simgen_args = split_args(argv)
    try:
        fit = load_fit(fit_args)
        plan = plan_fit(fit, simgen_args, validate=check_dataset)
        out = run_fit(plan, say=lambda s: print(s, flush=True))
    except SimgenError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; run the same command again to go on (complete trials are kept)", 130)
    print(f"simgen fit: {out.trials} trial(s) complete in {out.folder}: distance to the target {out.default:.4f} "
          f"(default config) -> {out.best:.4f} (best)\n"
          f"  render with it: simgen --config-dir {out.folder} --config-name best [overrides]\n"
          f"  trials.csv best.yaml report.html", file=sys.stdout, flush=True)
