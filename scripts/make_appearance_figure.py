#!/usr/bin/env python3
"""The picture of appearance in docs/how-to/own-meshes.md: the same frames of the bundled textured assets
(objects.catalog=textured) with random materials, with the meshes' own looks, and with
their own looks on PBR ground and walls.

Renders frames 0..N-1 of one seed three times (the scenes are the same: appearance draws come
from streams of their own) and stacks them: a row per setting, a column per frame::

    python scripts/make_appearance_figure.py                  # docs/img/appearance.png
    python scripts/make_appearance_figure.py --frames 4 --samples 64
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from figure_sheet import REPO, render, save, sheet

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
    from simgen.io.files import read_png

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, overrides in enumerate(ROWS.values()):
            out = render(Path(tmp) / f"row{k}", args.seed, args.frames, args.width, args.height, args.samples,
                         "objects.count=[4,7]", "objects.catalog=textured", *overrides)
            rows.append([read_png(out / "images" / f"{i:06d}.png") for i in range(args.frames)])
    save(sheet(rows), args.out, "rows: " + "; ".join(ROWS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
