#!/usr/bin/env python3
"""The picture of ``simgen inspect`` in docs/how-to/inspect.md: render a small dataset, write its report, and
screenshot the page in headless Chromium (as tests/test_inspect.py does), saved small.

    python scripts/make_inspect_screenshot.py                 # -> docs/img/inspect.png
    python scripts/make_inspect_screenshot.py --out /tmp/x.png --keep /tmp/ds

Needs Chromium (``bash scripts/install_chromium.sh`` as root). The PNG is cropped to the
top of the page (summary, warnings, contact sheet, first plots) and reduced to a 96-colour
palette so that it stays under 150 KB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SIMGEN = str(Path(sys.executable).with_name("simgen"))
RUN = ["frames=8", "sequence.length=4", "output.labels=[visibility]", "render.width=320", "render.height=240",
       "render.samples=16", "render.device=cpu", "seed=11"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "inspect.png")
    ap.add_argument("--keep", type=Path, default=None, help="render the dataset here and keep it")
    ap.add_argument("--size", default="1100,1250", help="browser window W,H (CSS px)")
    args = ap.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("no chromium on PATH: run `bash scripts/install_chromium.sh` as root")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    tmp = Path(tempfile.mkdtemp(prefix="inspect_shot_"))
    try:
        ds = args.keep or tmp / "ds"
        if not (ds / "dataset.json").is_file():
            subprocess.run([SIMGEN, *RUN, f"output.dir={ds}"], check=True, env=env, stdout=subprocess.DEVNULL)
        report = tmp / "report.html"
        subprocess.run([SIMGEN, "inspect", str(ds), "--out", str(report), "--frames", "3"], check=True, env=env)
        shot = tmp / "shot.png"
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--force-device-scale-factor=1", f"--window-size={args.size}", f"--screenshot={shot}",
                        report.as_uri()], check=True, capture_output=True, timeout=120)
        img = Image.open(shot).convert("RGB")
        img = img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        img.save(args.out, optimize=True)
        print(f"{args.out}: {img.width}x{img.height}, {args.out.stat().st_size / 1024:.0f} KB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
