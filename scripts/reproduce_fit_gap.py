#!/usr/bin/env python3
"""Reproduce the claim of the shipped fit study (docs/tutorials/fit.md, "Fit the randomization to your images"):
is the randomization ``simgen fit`` finds worth more than the default one?

    python scripts/reproduce_fit_gap.py                        # as shipped (figures in docs/explanation/benchmarks.md)
    python scripts/reproduce_fit_gap.py --out /data/fit_gap    # elsewhere (default: experiments/fit_gap_run)
    python scripts/reproduce_fit_gap.py --keep                 # only the figures of a run on disk
    python scripts/reproduce_fit_gap.py --fits 3               # three independent fits (fit.seed 0, 1, 2)

Three steps, each kept on disk and resumed by a second run:

1. the "user's images": 64 frames rendered in the target's world of ``configs/study/fit_gap.yaml``
   (its study.target.overrides) with another seed than the study's test set (``images/``);
2. ``simgen fit`` against them (their COCO labels as target_coco), with the study's simgen settings,
   40 trials of 16 frames (``fit/``); with ``--fits N``, N fits with fit.seed 0..N-1 (``fit/``,
   ``fit1/``, ...);
3. ``simgen study fit_gap`` with ``study.arms.fitted.from_fit`` set to that fit (``study/``), and an
   arm ``fitted1``, ... for each further fit: every fitted arm is trained and scored on the same
   seeds against the same default and truth arms.

Then, from the study's results.csv: every arm's AP per seed and mean ± standard deviation at the
largest training size, the fitted arm's difference from the default arm against twice the
standard error of that difference (the seed noise), and the share of the default-to-truth gap each
fitted arm closes, with their mean and the worst. The figures are the finding on the machine that
ran it, not a property of the code.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reproduce_dr_gap import figures, mean_std  # noqa: E402
from simgen.child_processes import NUMPY_DISPATCH, NUMPY_KERNELS  # noqa: E402

STUDY = REPO / "configs" / "study" / "fit_gap.yaml"
IMAGES_SEED = 2000
"""The seed of the user's images (the study's target uses its own, 1000; the arms 0)."""


def run(cmd: list[str]) -> None:
    """Run a simgen command; numpy's kernels held at the baseline (simgen.child_processes), for the images
    too: rendered with this CPU's, a few of their pixels would differ on another, and the fits with them."""
    print("running:", " ".join(cmd), flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
           NUMPY_KERNELS: NUMPY_DISPATCH}
    if subprocess.run(cmd, env=env).returncode != 0:
        sys.exit(f"reproduce_fit_gap.py: failed: {' '.join(cmd)} (its error is above)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("experiments/fit_gap_run"))
    ap.add_argument("--keep", action="store_true", help="run nothing: read the run in --out")
    ap.add_argument("--trials", type=int, default=40, help="fit.trials")
    ap.add_argument("--fits", type=int, default=1, help="independent fits, fit.seed 0..N-1, each an arm of the study")
    ap.add_argument("overrides", nargs="*", help="more study overrides, after --")
    a = ap.parse_args()
    out = a.out.resolve()
    study = yaml.safe_load(STUDY.read_text())["study"]
    base = [str(o) for o in study["simgen"]]
    world = [str(o) for o in study["target"]["overrides"] if not str(o).startswith("seed=")]
    py = [sys.executable, "-m", "simgen.cli"]
    if not a.keep:
        images = out / "images"
        if not (images / "coco.json").is_file():
            run([*py, *base, *world, f"seed={IMAGES_SEED}", "frames=64", f"output.dir={images}",
                 "output.previews=false"])
        arms = []
        for k in range(a.fits):
            run([*py, "fit", f"target={images / 'images'}", f"target_coco={images / 'coco.json'}", "name=fit_gap",
                 f"fit.out={out / fit_folder(k)}", f"fit.trials={a.trials}", f"fit.seed={k}", *base])
            arms.append(f"study.arms.{fitted_arm(k)}.from_fit={out / fit_folder(k)}")
        run([*py, "study", "fit_gap", f"study.out={out / 'study'}", *arms, *a.overrides])
    results = out / "study" / "results.csv"
    if not results.is_file():
        print(f"reproduce_fit_gap.py: no results.csv in {results.parent}", file=sys.stderr)
        return 2
    top, aps = figures(list(csv.DictReader(results.open())))
    print(f"\nfit_gap at {top} training frames, from {results}:")
    stats = {arm: mean_std(v) for arm, v in aps.items()}
    for arm, v in aps.items():
        print(f"  {arm:<8} {stats[arm][0]:.3f} ± {stats[arm][1]:.3f}   {' '.join(f'{x:.4f}' for x in v)}")
    if not {"fitted", "default"} <= set(aps):
        print("no fitted and default arms to compare")
        return 2
    diff = stats["fitted"][0] - stats["default"][0]
    noise = 2 * math.sqrt(stats["fitted"][1] ** 2 / len(aps["fitted"]) + stats["default"][1] ** 2 / len(aps["default"]))
    verdict = "beyond" if abs(diff) > noise else "within"
    print(f"fitted - default = {diff:+.3f} AP; 2 standard errors of the difference: {noise:.3f}: {verdict} seed noise")
    if "truth" in aps:
        print(f"truth - fitted = {stats['truth'][0] - stats['fitted'][0]:+.3f} AP (what the fit left on the table)")
        gap = stats["truth"][0] - stats["default"][0]
        fitted = [arm for arm in aps if arm == "fitted" or (arm.startswith("fitted") and arm[6:].isdigit())]
        closed = {arm: (stats[arm][0] - stats["default"][0]) / gap for arm in fitted} if gap > 0 else {}
        for arm, c in closed.items():
            print(f"  {arm} closes {c:.0%} of the default-to-truth gap ({gap:.3f} AP)")
        if len(closed) > 1:
            shares = list(closed.values())
            print(f"mean of {len(closed)} fits: {sum(shares) / len(shares):.0%} of the gap closed; "
                  f"the worst {min(shares):.0%}; their standard deviation {mean_std(shares)[1]:.0%}")
        if gap > 0:
            seed_noise(aps, gap)
    fitted_settings(out, study, a.fits)
    return 0


def seed_noise(aps: dict[str, list[float]], gap: float) -> None:
    """Print the seed noise: the standard error of an arm's mean AP (the arms' pooled standard
    deviation over the square root of the seeds), that of a fitted arm's difference from the default
    arm (sqrt 2 times it) as points of the gap's share, and how it compares with a third of the gap."""
    seeds = min(len(v) for v in aps.values())
    if seeds < 2:
        return
    pooled = math.sqrt(sum(mean_std(v)[1] ** 2 for v in aps.values()) / len(aps))
    arm = pooled / math.sqrt(seeds)
    difference = math.sqrt(2) * arm
    print(f"seed noise ({seeds} seeds): an arm's mean AP {arm:.4f} (pooled standard deviation {pooled:.4f}), a fitted "
          f"arm's difference from the default arm {difference:.4f} AP = {difference / gap:.0%} of the gap; "
          f"a third of the gap: {gap / 3:.4f} AP ({'larger' if difference >= gap / 3 else 'smaller'})")


def fitted_settings(out: Path, study: dict, fits: int) -> None:
    """Print, for each setting the study's target sets, the target's value and each fit's (its
    best.yaml), where the fits are on disk."""
    folders = [out / fit_folder(k) / "best.yaml" for k in range(max(fits, 1))]
    folders = [f for f in folders if f.is_file()]
    if not folders:
        return
    bests = [yaml.safe_load(f.read_text()) or {} for f in folders]

    def value(tree: dict, key: str) -> str:
        for part in key.split("."):
            tree = tree.get(part, {}) if isinstance(tree, dict) else {}
        return "(the base config's)" if tree == {} else str(tree)

    print("\nwhat the fits found (best.yaml) against the target's settings:")
    for o in study["target"]["overrides"]:
        key, _, truth = str(o).partition("=")
        if key != "seed":
            print(f"  {key}: target {truth}; fits {'; '.join(value(b, key) for b in bests)}")


def fit_folder(k: int) -> str:
    """The folder of fit ``k`` (fit.seed k) in the run's folder."""
    return "fit" if k == 0 else f"fit{k}"


def fitted_arm(k: int) -> str:
    """The study arm of fit ``k``."""
    return "fitted" if k == 0 else f"fitted{k}"


if __name__ == "__main__":
    sys.exit(main())
