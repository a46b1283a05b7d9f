#!/usr/bin/env python3
"""Reproduce the shipped study's statistical claim (docs/tutorials/study.md, "Measure what a
randomization setting is worth"): run ``simgen study dr_gap`` at its shipped size and state
its figures.

    python scripts/reproduce_dr_gap.py                      # as shipped: about 7 minutes on 2 CPU cores
    python scripts/reproduce_dr_gap.py --out /data/dr_gap   # elsewhere (default: experiments/dr_gap here)
    python scripts/reproduce_dr_gap.py --keep               # only the figures of a study already on disk
    python scripts/reproduce_dr_gap.py -- 'study.frames=[256,1024]' study.trainer.steps=1500   # the longer run

After the study (a second run keeps the datasets and training runs on disk), the figures are
computed again from its results.csv, not taken from its summary: at the largest training size,
every arm's AP per seed and its mean ± standard deviation over the seeds, the difference of the
two best arms, twice the standard error of that difference (the seed noise) and whether the
difference is beyond it. Then the study's own headline (results.json) is checked against them:
exit status 1 if it says otherwise.

The figures are the study's finding on the machine that ran it, not a property of the code:
with 3 seeds and 256 frames the two arms sit near the edge of seed noise, and another CPU's last
bits in the renders can move them across it (docs/tutorials/study.md). The tests run the same study at a size
that checks its machinery only (tests/test_experiment.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def figures(rows: list[dict]) -> tuple[int, dict[str, list[float]]]:
    """The largest training size and {arm: [AP per seed]} at it, arms in the table's order."""
    top = max(int(w["frames"]) for w in rows)
    ap: dict[str, list[float]] = {}
    for w in rows:
        if int(w["frames"]) == top:
            ap.setdefault(w["arm"], []).append(float(w["AP"]))
    return top, ap


def mean_std(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    var = sum((v - m) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
    return m, math.sqrt(var)


def study_results(study: str, out: Path, overrides: list[str], keep: bool) -> bool:
    """Run ``simgen study STUDY`` into ``out`` (unless ``keep``: a study already there) and say whether
    its results.csv is there; where not, why on stderr, in the calling script's name."""
    me = Path(sys.argv[0]).name
    if not keep:
        cmd = [sys.executable, "-m", "simgen.cli", "study", study, f"study.out={out}", *overrides]
        print("running:", " ".join(cmd), flush=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
        if subprocess.run(cmd, env=env).returncode != 0:
            print(f"{me}: the study failed (its error is above)", file=sys.stderr)
            return False
    if not (out / "results.csv").is_file():
        print(f"{me}: no results.csv in {out}", file=sys.stderr)
        return False
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("experiments/dr_gap"), help="the study's folder (study.out)")
    ap.add_argument("--keep", action="store_true", help="do not run the study: read the one in --out")
    ap.add_argument("overrides", nargs="*", help="more simgen/study overrides, after --")
    a = ap.parse_args()
    out = a.out.resolve()
    if not study_results("dr_gap", out, a.overrides, a.keep):
        return 2
    rows = list(csv.DictReader((out / "results.csv").open()))
    top, aps = figures(rows)
    seeds = max(len(v) for v in aps.values())
    print(f"\n{out.name} at {top} training frames, {seeds} seed(s), from {out / 'results.csv'}:")
    print(f"  {'arm':<8} AP mean ± std   AP per seed")
    stats = {arm: mean_std(v) for arm, v in aps.items()}
    for arm, v in aps.items():
        m, s = stats[arm]
        print(f"  {arm:<8} {m:.3f} ± {s:.3f}   {' '.join(f'{x:.4f}' for x in v)}")
    results = json.loads((out / "results.json").read_text())
    headline = results["headline"]
    print(f"\nheadline (results.json): {headline}")
    ranked = sorted(aps, key=lambda arm: -stats[arm][0])
    if len(ranked) < 2:
        print("one arm: nothing to compare")
        return 0
    best, second = ranked[:2]
    diff = stats[best][0] - stats[second][0]
    if min(len(aps[best]), len(aps[second])) < 2:
        print(f"{best} - {second} = {diff:+.3f} AP; one seed each: no estimate of seed noise")
        return 0
    noise = 2 * math.sqrt(stats[best][1] ** 2 / len(aps[best]) + stats[second][1] ** 2 / len(aps[second]))
    verdict = "beyond" if diff > noise else "within"
    print(f"{best} - {second} = {diff:+.3f} AP; 2 standard errors of the difference: {noise:.3f}: "
          f"{verdict} seed noise")
    return check_headline(headline, best, diff, noise)


def check_headline(headline: str, best: str, lead: float, noise: float) -> int:
    """Print whether the study's headline (results.json) agrees with results.csv's figures: the
    best arm ``best``, its ``lead`` (>= 0) over the next and twice that difference's standard error
    ``noise``. 0 when it agrees, 1 when it does not."""
    verdict = "beyond" if lead > noise else "within"
    said = re.search(r"^(\S+) helped most: .*\(\+([0-9.]+) AP,.*, (beyond|within) seed noise "
                     r"\(2 standard errors: ([0-9.]+)\)", headline)
    problems = []
    if not said:
        problems.append("the headline does not state a difference and seed noise")
    else:
        if said[1] != best and lead > 6e-4:  # a tie may be ranked either way
            problems.append(f"it names {said[1]} best, results.csv {best}")
        if abs(float(said[2]) - lead) > 6e-4 or abs(float(said[4]) - noise) > 6e-4:
            problems.append(f"its figures (+{said[2]}, {said[4]}) are not results.csv's (+{lead:.3f}, {noise:.3f})")
        if abs(lead - noise) > 1e-3 and said[3] != verdict:  # the CSV's rounded APs cannot flip it
            problems.append(f"it says {said[3]} seed noise, results.csv {verdict}")
    if problems:
        print("the headline DISAGREES with results.csv: " + "; ".join(problems))
        return 1
    print("the headline agrees with results.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
