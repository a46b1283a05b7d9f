#!/usr/bin/env python3
"""Does a fit's distance rank its trials as the detector trained on their renders does?

    python scripts/fit_distance_vs_ap.py --fit experiments/fit_gap_run/fit   # after reproduce_fit_gap.py
    python scripts/fit_distance_vs_ap.py --fit fits/mine --trials 8 --seeds 0,1,2 --out /data/dist_ap

Takes ``--trials`` complete trials of a fit, spread over its distances (the closest, the farthest and
evenly between, by rank), and runs a study of ``--study`` (default: simgen's fit_gap, the study
whose target the fit was made against by ``scripts/reproduce_fit_gap.py``) with one arm per trial:
the fit's best.yaml (its base world and held settings) with the trial's values on top. Then prints,
per trial, its distance and the AP of the detector trained on its renders (mean over ``--seeds``),
and Spearman's rank correlation between the two: -1 when a closer trial always trains a better
detector, 0 when the distance says nothing of AP. The figure is the finding of that fit and
machine, not a property of the code.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]


def trials_of(fit: Path) -> list[dict]:
    """The complete trials of ``fit``'s trials.csv: {"trial", "distance", "overrides"} each."""
    rows = list(csv.DictReader((fit / "trials.csv").open()))
    keys = list(rows[0])[list(rows[0]).index("folder") + 1:] if rows else []
    return [{"trial": int(r["trial"]), "distance": float(r["distance"]),
             "overrides": [f"{k}={r[k]}" for k in keys if r[k]]}
            for r in rows if r["state"] == "COMPLETE" and r["distance"]]


def spread(trials: list[dict], n: int) -> list[dict]:
    """``n`` of ``trials`` evenly spaced by rank of distance, the closest and the farthest included."""
    ranked = sorted(trials, key=lambda t: t["distance"])
    if len(ranked) <= n:
        return ranked
    return [ranked[i] for i in sorted({round(k * (len(ranked) - 1) / (n - 1)) for k in range(n)})]


def arm(trial: dict) -> str:
    """The study arm of a trial."""
    return f"trial{trial['trial']}"


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation of ``x`` and ``y`` (ties given their mean rank)."""
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", type=Path, required=True, help="a fit's folder (fits/NAME)")
    ap.add_argument("--study", type=Path, default=REPO / "configs" / "study" / "fit_gap.yaml")
    ap.add_argument("--trials", type=int, default=6, help="trials to train on, spread over the distances")
    ap.add_argument("--seeds", default="0,1", help="training seeds, comma separated")
    ap.add_argument("--out", type=Path, help="the study's folder (default: FIT/distance_vs_ap)")
    ap.add_argument("--keep", action="store_true", help="run nothing: read the study in --out")
    a = ap.parse_args()
    fit = a.fit.resolve()
    out = (a.out or fit / "distance_vs_ap").resolve()
    chosen = spread(trials_of(fit), a.trials)
    if len(chosen) < 3:
        print(f"fit_distance_vs_ap.py: {fit} has {len(chosen)} complete trial(s); 3 at least", file=sys.stderr)
        return 2
    arms = {arm(t): {"from_fit": str(fit), "overrides": t["overrides"]} for t in chosen}
    if not a.keep:
        study = yaml.safe_load(a.study.read_text())["study"]
        study.update(arms=arms, seeds=[int(s) for s in a.seeds.split(",")])
        out.mkdir(parents=True, exist_ok=True)
        (out / "study.yaml").write_text(yaml.safe_dump({"study": study}, sort_keys=False))
        cmd = [sys.executable, "-m", "simgen.cli", "study", str(out / "study.yaml"), f"study.out={out}"]
        print("running:", " ".join(cmd), flush=True)
        if subprocess.run(cmd, cwd=REPO).returncode != 0:
            sys.exit("fit_distance_vs_ap.py: the study failed (its error is above)")
    rows = list(csv.DictReader((out / "results.csv").open()))
    top = max(int(r["frames"]) for r in rows)
    ap_of = {arm: float(np.mean([float(r["AP"]) for r in rows if r["arm"] == arm and int(r["frames"]) == top]))
             for arm in arms}
    print(f"\n{fit.name}: {len(chosen)} trials, AP at {top} training frames (mean over seeds {a.seeds}):")
    for t in chosen:
        print(f"  trial {t['trial']:>3}  distance {t['distance']:.4f}  AP {ap_of[arm(t)]:.4f}")
    rho = spearman([t["distance"] for t in chosen], [ap_of[arm(t)] for t in chosen])
    print(f"Spearman's rank correlation of distance and AP: {rho:+.2f} over {len(chosen)} trials "
          "(-1: the closer trial always trains the better detector)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
