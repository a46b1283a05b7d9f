#!/usr/bin/env python3
"""Which real robots simgen loads, as their packages ship them: a sweep of two packages' model files.

For each package (pybullet_data, in the test extra; dm_control's models, fetched by
``python scripts/fetch_robots.py --out .robots/dm_control``), every articulated model file (a
``.urdf``, or an ``.xml``/``.mjcf`` whose root is ``<mujoco>`` with a ``<worldbody>``) is loaded
with :func:`simgen.assets.articulated.load_articulated` and posed once at a drawn configuration
(parsing and forward kinematics; nothing is rendered). Prints, per package, how many load and
each refusal's one line::

    python scripts/sweep_robots.py                       # both packages (dm_control where fetched)
    python scripts/sweep_robots.py --dm-control DIR      # dm_control's models from another folder

A URDF's ``package://NAME/...`` paths are looked up in its own folder, the one above, and the
package's root (as a user pointing simgen at the package would). tests/test_robot_sweep.py runs
the same sweep and asserts on it.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DM_CONTROL = ROOT / ".robots" / "dm_control"
"""Where ``python scripts/fetch_robots.py --out .robots/dm_control`` puts dm_control's models."""
_MUJOCO = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<mujoco\b", re.DOTALL)
_MOVING = re.compile(rb"<joint\b(?![^>]*type=[\"']fixed[\"'])|<freejoint\b")
"""A joint that moves (not ``type="fixed"``), or an MJCF free joint: the file is articulated."""


@dataclass
class Sweep:
    """One package's sweep: the files that load and, for the others, their one-line refusal."""

    package: str
    root: Path
    loaded: list[Path] = field(default_factory=list)
    refused: dict[Path, str] = field(default_factory=dict)
    warnings: dict[Path, list[str]] = field(default_factory=dict)
    crashed: dict[Path, str] = field(default_factory=dict)
    """Files whose load raised something else than a SimgenError (a bug)."""

    @property
    def files(self) -> int:
        return len(self.loaded) + len(self.refused) + len(self.crashed)


def model_files(root: Path) -> list[Path]:
    """Every articulated model file under ``root``: each ``.urdf``, and each ``.xml``/``.mjcf``
    whose root element is ``<mujoco>`` and that has a ``<worldbody>`` (an include of defaults or
    assets alone is no model), that names a joint that moves (a rigid object's URDF is no robot;
    pybullet_data's thousand random_urdfs are such), sorted."""
    out = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.is_symlink():
            continue
        suffix = p.suffix.lower()
        if suffix not in (".urdf", ".xml", ".mjcf"):
            continue
        data = p.read_bytes()
        if suffix != ".urdf" and not (_MUJOCO.match(data) and b"<worldbody" in data):
            continue
        if _MOVING.search(data):
            out.append(p)
    return out


def sweep(package: str, root: Path, package_dirs=None) -> Sweep:
    """Load and pose each model file under ``root``; a :class:`~simgen.SimgenError` is a refusal
    (its message kept), anything else a crash (a bug, not a refusal)."""
    import numpy as np

    from simgen import SimgenError
    from simgen.assets.articulated import draw_configuration, link_poses, load_articulated

    out = Sweep(package, root)
    for p in model_files(root):
        dirs = package_dirs(p) if package_dirs else ()
        try:
            model = load_articulated(p, dirs)
            link_poses(model, draw_configuration(model, np.random.default_rng(0)))
        except SimgenError as e:
            out.refused[p] = str(e)
            continue
        except Exception as e:  # a bug of simgen's, not a refusal: kept apart, so that the test fails on it
            out.crashed[p] = f"{p}: {type(e).__name__}: {' '.join(str(e).split())}"
            continue
        out.loaded.append(p)
        if model.notes:  # what it left out (warned of once per process, recorded with the model)
            out.warnings[p] = [f"{p}: {note}" for note in model.notes]
    return out


def pybullet_sweep() -> Sweep | None:
    try:
        import pybullet_data
    except ImportError:
        return None
    root = Path(pybullet_data.getDataPath()).resolve()
    return sweep("pybullet_data", root, lambda p: (p.parent, p.parent.parent, root))


def dm_control_sweep(root: Path = DM_CONTROL) -> Sweep | None:
    return sweep("dm_control", root.resolve()) if (root / "entry.json").is_file() else None


def report(s: Sweep) -> str:
    lines = [f"{s.package} ({s.root}): {len(s.loaded)} of {s.files} model files load, {len(s.refused)} refused"
             + (f", {len(s.crashed)} crashed (a bug)" if s.crashed else "")]
    for p in s.loaded:
        for w in s.warnings.get(p, ()):
            lines.append(f"  warned: {w}")
    for p, why in s.refused.items():
        lines.append(f"  refused: {why}")
    for p, why in s.crashed.items():
        lines.append(f"  CRASHED: {why}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python scripts/sweep_robots.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dm-control", type=Path, default=DM_CONTROL, metavar="DIR",
                    help=f"dm_control's fetched models (default {DM_CONTROL.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    import logging

    logging.getLogger("simgen.assets.articulated").setLevel(logging.ERROR)  # its notes are printed per file below
    done = 0
    for s, absent in ((pybullet_sweep(), "pybullet_data is not installed (pip install -e '.[test]')"),
                      (dm_control_sweep(args.dm_control), f"no dm_control models in {args.dm_control}: run "
                       f"`python scripts/fetch_robots.py --out {args.dm_control}` first")):
        if s is None:
            print(f"skipped: {absent}")
            continue
        print(report(s))
        done += 1
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
