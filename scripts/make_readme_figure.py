#!/usr/bin/env python3
"""The README's first picture: a few frames of the default job with their labels.

    python scripts/make_readme_figure.py                      # -> docs/img/frames.png
    python scripts/make_readme_figure.py --keep /tmp/ds -- lighting=sky materials=procedural

Renders ``--frames`` frames with the default config (any simgen overrides after ``--``),
then writes one row per frame: the image, its COCO boxes and masks drawn by simgen's own
preview code, depth and normals; each tile ``--tile`` pixels wide, the whole reduced to a
256-colour dithered palette so that it stays small (the pictures of the README and docs/ are kept under 150 KB).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "frames.png")
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--tile", type=int, default=220, help="width of each tile in pixels")
    ap.add_argument("--keep", type=Path, default=None, help="render the dataset here and keep it")
    ap.add_argument("overrides", nargs="*", help="simgen overrides (after --)")
    args = ap.parse_args()

    from simgen.io.files import read_npy, read_png
    from simgen.labels.preview import depth_preview, normal_preview, overlay

    with tempfile.TemporaryDirectory(prefix="simgen-figure-") as tmp:
        root = args.keep or Path(tmp) / "ds"
        cmd = [str(Path(sys.executable).with_name("simgen")), f"output.dir={root}", f"frames={args.frames}",
               f"seed={args.seed}", *args.overrides]
        subprocess.run(cmd, check=True, cwd=tmp)
        info = json.loads((root / "dataset.json").read_text())
        names = {c["id"]: c["name"] for c in info["categories"]}
        rows = []
        for index in info["frames"]:
            name = f"{index:06d}"
            meta = json.loads((root / "meta" / f"{name}.json").read_text())
            rgb = read_png(root / "images" / f"{name}.png")
            instance = read_png(root / "instance" / f"{name}.png")
            tiles = [rgb, overlay(rgb, instance, meta["coco"]["annotations"], names),
                     depth_preview(read_npy(root / "depth" / f"{name}.npy")),
                     normal_preview(read_npy(root / "normal" / f"{name}.npy"))]
            h = round(args.tile * rgb.shape[0] / rgb.shape[1])
            rows.append(np.concatenate([np.asarray(Image.fromarray(t).resize((args.tile, h), Image.LANCZOS))
                                        for t in tiles], axis=1))
        sheet = Image.fromarray(np.concatenate(rows, axis=0))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        sheet.quantize(colors=256, dither=Image.Dither.FLOYDSTEINBERG).save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB): image | boxes and masks | depth | normals")


if __name__ == "__main__":
    main()
