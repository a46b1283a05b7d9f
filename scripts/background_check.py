#!/usr/bin/env python3
"""How much of each frame walls and rooms fill, and how bright they are.

    python scripts/background_check.py DIR [FRAMES] [OVERRIDES...]

Renders FRAMES (default 20) tiny frames (80x60, 4 samples) of the default tabletop scene with
scene.background=[walls] and then [room] into DIR/walls and DIR/room (extra Hydra-style
overrides, e.g. scene.camera_elevation=[60,70], apply to both) and prints, per kind, every frame's
fraction of wall/ceiling pixels in the instance map and those pixels' mean sRGB brightness
(0-255, images/), then the minimum, median and maximum of each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SIMGEN = str(Path(sys.executable).with_name("simgen"))


def wall_stats(root: Path) -> list[tuple[float, float]]:
    """(wall/ceiling pixel fraction, their mean sRGB value) of every frame under ``root``."""
    out = []
    for meta_path in sorted((root / "meta").glob("*.json")):
        meta = json.loads(meta_path.read_text())
        ids = [o["instance_id"] for o in meta["objects"] if o["name"].startswith(("wall", "ceiling"))]
        inst = np.asarray(Image.open(root / "instance" / f"{meta_path.stem}.png"))
        rgb = np.asarray(Image.open(root / "images" / f"{meta_path.stem}.png").convert("RGB"), float)
        mask = np.isin(inst, ids)
        out.append((float(mask.mean()), float(rgb[mask].mean()) if mask.any() else 0.0))
    return out


def main(args: list[str]) -> int:
    if not args:
        sys.exit(__doc__)
    root = Path(args[0])
    frames = int(args[1]) if len(args) > 1 and args[1].isdigit() else 20
    extra = args[2:] if len(args) > 1 and args[1].isdigit() else args[1:]
    for kind in ("walls", "room"):
        out = root / kind
        cmd = [SIMGEN, f"output.dir={out}", f"frames={frames}", "render.width=80", "render.height=60",
               "render.samples=4", f"scene.background=[{kind}]", *extra]
        if out.exists():
            sys.exit(f"{out} exists; give a new DIR")
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            sys.exit(done.stderr[-2000:])
        stats = np.array(wall_stats(out))
        print(f"{kind}: {len(stats)} frames ({' '.join(extra) or 'defaults'})")
        print("  wall fraction: " + " ".join(f"{f:.2f}" for f in stats[:, 0]))
        print("  wall mean sRGB: " + " ".join(f"{b:.0f}" for b in stats[:, 1]))
        for name, col in (("fraction", 0), ("brightness", 1)):
            v = stats[:, col]
            print(f"  {name}: min {v.min():.3g} median {np.median(v):.3g} max {v.max():.3g}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] in (["-h"], ["--help"]):  # the docstring is the usage; nothing is written
        sys.exit(print(__doc__))
    sys.exit(main(sys.argv[1:]))
