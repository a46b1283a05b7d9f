#!/usr/bin/env python3
"""The README picture of appearance: the same frames of the bundled textured assets
(objects.catalog=textured) with random materials, with the meshes' own looks, and with
their own looks on PBR ground and walls.

Renders frames 0..N-1 of one seed three times (the scenes are the same: appearance draws come
from streams of their own) and stacks them: a row per setting, a column per frame::

    python scripts/make_appearance_figure.py                  # docs/img/appearance.png
    python scripts/make_appearance_figure.py --frames 4 --samples 64
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ROWS = {"random materials (materials.own_replace=1)": ["materials.own_replace=1"],
        "own appearance (the default)": [],
        "own appearance, materials=pbr, walls": ["materials=pbr", "scene.background=[walls]"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--width", type=int, default=240)
    ap.add_argument("--height", type=int, default=180)
    ap.add_argument("--samples", type=int, default=48)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "appearance.png")
    args = ap.parse_args()
    from PIL import Image

    from simgen.io.files import read_png

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, overrides in enumerate(ROWS.values()):
            out = Path(tmp) / f"row{k}"
            subprocess.run([sys.executable, "-m", "simgen.cli", f"output.dir={out}", f"seed={args.seed}",
                            f"frames={args.frames}", f"render.width={args.width}", f"render.height={args.height}",
                            f"render.samples={args.samples}", "objects.count=[4,7]", "objects.catalog=textured",
                            *overrides],
                           cwd=REPO, check=True, capture_output=True)
            frames = [read_png(out / "images" / f"{i:06d}.png") for i in range(args.frames)]
            gap = np.full((args.height, 2, 3), 255, np.uint8)
            rows.append(np.concatenate([x for f in frames for x in (f, gap)][:-1], axis=1))
    sep = np.full((2, rows[0].shape[1], 3), 255, np.uint8)
    picture = np.concatenate([x for r in rows for x in (r, sep)][:-1], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB); rows: " + "; ".join(ROWS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
