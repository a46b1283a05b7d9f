#!/usr/bin/env python3
"""Reproduce the people study's figures (docs/how-to/people.md, "What diversity is worth"): run
``simgen study people_diversity`` at its shipped size and state what the full ranges of people are
worth over narrow ones.

    python scripts/reproduce_people_diversity.py                     # as shipped: about 25 min on 2 CPU cores
    python scripts/reproduce_people_diversity.py --out /data/pd      # elsewhere (default: experiments/people_diversity)
    python scripts/reproduce_people_diversity.py --keep              # only the figures of a study already on disk
    python scripts/reproduce_people_diversity.py -- 'study.frames=[512]' 'study.seeds=[0,1,2,3,4]'   # a longer run

It needs the [people] extra and a prepared library ($SIMGEN_PEOPLE_LIBRARY; simgen people prepare).
After the study (a second run keeps the datasets and training runs on disk), the figures are computed
again from its results.csv, not taken from its summary: at the largest training size, each arm's AP
per seed and its mean ± standard deviation over the seeds, the gain of the full ranges over the narrow
ones (full - narrow: negative if narrow did better), twice the standard error of that gain (the seed
noise) and whether the gain is beyond it. Then the study's own headline (results.json) is checked
against them: exit status 1 if it says otherwise.

The figures are the study's finding on the machine that ran it, not a property of the code. The
tests run the same study at a size that checks its machinery only (tests/test_people_study.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reproduce_dr_gap import check_headline, figures, mean_std, study_results  # noqa: E402

STUDY = "people_diversity"
NARROW, FULL = "narrow", "full"


def gain(aps: dict[str, list[float]]) -> tuple[float, float | None]:
    """full - narrow in mean AP, and twice the standard error of that difference (None with one seed)."""
    (mf, sf), (mn, sn) = mean_std(aps[FULL]), mean_std(aps[NARROW])
    if min(len(aps[FULL]), len(aps[NARROW])) < 2:
        return mf - mn, None
    return mf - mn, 2 * math.sqrt(sf ** 2 / len(aps[FULL]) + sn ** 2 / len(aps[NARROW]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(f"experiments/{STUDY}"), help="the study's folder (study.out)")
    ap.add_argument("--keep", action="store_true", help="do not run the study: read the one in --out")
    ap.add_argument("overrides", nargs="*", help="more simgen/study overrides, after --")
    a = ap.parse_args()
    out = a.out.resolve()
    if not study_results(STUDY, out, a.overrides, a.keep):
        return 2
    top, aps = figures(list(csv.DictReader((out / "results.csv").open())))
    if set(aps) != {NARROW, FULL}:
        print(f"reproduce_people_diversity.py: {out / 'results.csv'} has arms {sorted(aps)}, not "
              f"{NARROW} and {FULL}", file=sys.stderr)
        return 2
    seeds = max(len(v) for v in aps.values())
    print(f"\n{out.name} at {top} training frames, {seeds} seed(s), from {out / 'results.csv'}:")
    print(f"  {'arm':<8} AP mean ± std   AP per seed")
    for arm in (NARROW, FULL):
        m, s = mean_std(aps[arm])
        print(f"  {arm:<8} {m:.3f} ± {s:.3f}   {' '.join(f'{x:.4f}' for x in aps[arm])}")
    headline = json.loads((out / "results.json").read_text())["headline"]
    print(f"\nheadline (results.json): {headline}")
    diff, noise = gain(aps)
    if noise is None:
        print(f"gain of the full ranges: {diff:+.3f} AP; one seed each: no estimate of seed noise")
        return 0
    verdict = "beyond" if abs(diff) > noise else "within"
    print(f"gain of the full ranges (full - narrow): {diff:+.3f} AP; 2 standard errors of the difference: "
          f"{noise:.3f}: {verdict} seed noise")
    return check_headline(headline, FULL if diff > 0 else NARROW, abs(diff), noise)

if __name__ == "__main__":
    sys.exit(main())
