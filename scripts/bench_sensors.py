#!/usr/bin/env python
"""What each sensor of the ``sensor`` group costs a frame, against a plain frame: the four families'
benches (scripts/bench_sensor_depth.py, _lidar.py, _rolling_shutter.py, _events.py) in one command.

    python scripts/bench_sensors.py                    # every family at 160x120 (a few minutes on 2 cores)
    python scripts/bench_sensors.py --only depth events --model-only   # the pure models alone (seconds)

Figures only: nothing is asserted about them (docs/how-to/sensors.md quotes them with their command).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

FAMILIES = ("depth", "lidar", "rolling_shutter", "events")
MODELS = ("depth", "events")
"""The families whose bench can time their pure model alone (--model-only); the others time renders."""


def family(name: str):
    path = Path(__file__).resolve().parent / f"bench_sensor_{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_sensor_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=FAMILIES, default=list(FAMILIES), help="the families to time")
    p.add_argument("--size", default="160x120", help="the runs' render size, WxH")
    p.add_argument("--frames", type=int, default=4, help="frames timed per run")
    p.add_argument("--model-only", action="store_true",
                   help=f"time the pure models alone, no renders (families {', '.join(MODELS)})")
    a = p.parse_args(argv)
    if a.model_only and not set(a.only) <= set(MODELS):
        p.error(f"--model-only times the models of {' and '.join(MODELS)} only; drop "
                f"{' '.join(sorted(set(a.only) - set(MODELS)))} from --only")
    for name in a.only:
        print(f"== {name}", flush=True)
        bench = family(name).bench
        if name in MODELS:
            bench(size=a.size, frames=a.frames, model_only=a.model_only)
        else:
            bench(size=a.size, frames=a.frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
