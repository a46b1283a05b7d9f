#!/usr/bin/env python3
"""The backgrounds picture of docs/how-to/backgrounds.md: docs/img/backgrounds.png.

    python scripts/make_background_figure.py [WORKDIR]

Renders one frame each (200x150, 32 samples) of scene.background=[room], [walls],
the same [walls] with scene.background_dir, and [ground] with scene.background_dir seen from a low
camera (the photo as the backdrop), into WORKDIR (default /tmp/simgen-backgrounds), and
puts them side by side. The "photos" are made here, no downloads: the bundled procedural
sky (assets/hdri/default_sky.hdr) tone-mapped to a PNG, and a colour gradient with a checker.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SIMGEN = str(Path(sys.executable).with_name("simgen"))
CASES = {
    "room": ["seed=2", "scene.background=[room]"],
    "walls": ["seed=6", "scene.background=[walls]"],
    "walls_photos": ["seed=6", "scene.background=[walls]", "scene.background_dir={photos}"],
    "backdrop": ["seed=3", "scene.background=[ground]", "scene.background_dir={photos}", "scene.camera_elevation=[4,8]",
                 "camera.focal_length=[24,28]"],
}
"""Tile name -> overrides: a room, walls, the same walls with photos, a photo backdrop."""


def make_photos(folder: Path) -> Path:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    sky = cv2.imread(str(REPO / "assets" / "hdri" / "default_sky.hdr"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    sky = sky[: sky.shape[0] * 3 // 5]  # above the horizon, and a little below
    srgb = np.clip(sky / (1.0 + sky), 0, 1) ** (1 / 2.2)
    Image.fromarray((255 * srgb).astype(np.uint8)).resize((480, 240)).save(folder / "sky.png")
    y, x = np.mgrid[0:180, 0:320]
    img = np.stack([255 * x / 319, 255 * y / 179, np.where((x // 40 + y // 30) % 2 == 0, 235, 20)], -1)
    Image.fromarray(img.astype(np.uint8)).save(folder / "gradient.png")
    return folder


def main(work: str = "/tmp/simgen-backgrounds") -> int:
    work_dir = Path(work)
    photos = make_photos(work_dir / "photos")
    tiles = []
    for name, overrides in CASES.items():
        out = work_dir / name
        if not (out / "images" / "000000.png").exists():
            cmd = [SIMGEN, f"output.dir={out}", "frames=1", "render.width=200", "render.height=150",
                   "render.samples=32", *(o.format(photos=photos) for o in overrides)]
            subprocess.run(cmd, check=True, capture_output=True)
        tiles.append(Image.open(out / "images" / "000000.png").convert("RGB"))
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + 4 * (len(tiles) - 1), tiles[0].height), "white")
    x = 0
    for t in tiles:
        sheet.paste(t, (x, 0))
        x += t.width + 4
    dest = REPO / "docs" / "img" / "backgrounds.png"
    dest.parent.mkdir(parents=True, exist_ok=True)
    sheet.quantize(256, dither=Image.Dither.NONE).save(dest, optimize=True)  # < 150 KB
    print(f"wrote {dest} ({dest.stat().st_size // 1024} KiB): {', '.join(CASES)}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] in (["-h"], ["--help"]):  # the docstring is the usage; nothing is written
        sys.exit(print(__doc__))
    sys.exit(main(*sys.argv[1:]))
