"""Time the test suite as CI runs it: the fast tier, the whole suite, or both, one after another.

Prints each run's wall time, its test count and outcome, and the 30 slowest tests (pytest's own
--durations). Run it on idle cores: the figures are what the README and
docs/explanation/benchmarks.md state. Extra arguments after ``--`` go to pytest
(e.g. ``-- tests/test_environment.py``)::

    python scripts/bench_suite.py --tier fast
    python scripts/bench_suite.py --tier both -- -x
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIERS = {"fast": ["-m", "not slow"], "all": []}
SLOWEST = 30


def run_tier(name: str, extra: list[str]) -> tuple[float, str]:
    """Run one tier; return its wall time (s) and pytest's output."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--durations={SLOWEST}",
           *TIERS[name], *extra]
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    return time.monotonic() - t0, r.stdout + r.stderr


def summary(output: str) -> str:
    """pytest's last line (``N passed, M skipped in ...``), without its own timing."""
    lines = [ln for ln in output.splitlines() if re.search(r"\b(passed|failed|error)", ln)]
    return re.sub(r"\s+in [\d.]+s.*$", "", lines[-1].strip("= ")) if lines else "no summary (see pytest's output)"


def slowest(output: str) -> list[str]:
    """The --durations table's rows."""
    rows, inside = [], False
    for ln in output.splitlines():
        if "slowest" in ln and "durations" in ln:
            inside = True
            continue
        if inside:
            if not re.match(r"^\d+\.\d+s ", ln):
                if rows:
                    break
                continue
            rows.append(ln)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tier", choices=["fast", "all", "both"], default="both")
    ap.add_argument("pytest_args", nargs="*", help="after --: passed to pytest")
    a = ap.parse_args()
    for name in (["fast", "all"] if a.tier == "both" else [a.tier]):
        seconds, output = run_tier(name, a.pytest_args)
        print(f"{'fast tier' if name == 'fast' else 'whole suite'}: {summary(output)} in "
              f"{seconds / 60:.1f} min ({seconds:.0f} s)")
        print(f"  the {SLOWEST} slowest (setup, call or teardown):")
        for row in slowest(output):
            print(f"    {row}")


if __name__ == "__main__":
    main()
