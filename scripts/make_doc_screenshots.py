#!/usr/bin/env python3
"""The browser screenshots of the docs: a fit's report (docs/img/fit_report.png, in the fit tutorial)
and ``simgen compare``'s page (docs/img/compare_page.png, in docs/how-to/compare.md), each opened in
headless Chromium as scripts/make_inspect_screenshot.py opens ``simgen inspect``'s, and saved small.

    python scripts/make_doc_screenshots.py                       # both pictures (a few minutes on 2 cores)
    python scripts/make_doc_screenshots.py --only compare        # one of them: fit or compare
    python scripts/make_doc_screenshots.py --keep /tmp/shots     # keep the datasets and the fit

The fit: a target of 16 frames rendered by simgen with a far camera and a noisy sensor, fitted by a
small ``simgen fit`` (12 trials of 8 frames at 160x120, a short final round); the compare page: two
datasets of 12 frames, ``lighting=narrow materials=plain`` against ``lighting=wide
materials=procedural``. Needs Chromium (``bash scripts/install_chromium.sh`` as root). Each PNG is
the top of its page, reduced to a 128-colour palette (the fit's about 170 KB, the compare page's 55 KB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SIMGEN = str(Path(sys.executable).with_name("simgen"))
SMALL = ["render.width=160", "render.height=120", "render.device=cpu"]
TARGET = [*SMALL, "frames=16", "seed=900", "render.samples=8", "scene.camera_distance=[2.5,3]",
          "effects.noise_probability=1", "effects.full_well=[100,100]"]
"""The fit's target: what the fit should find (a far camera, a noisy sensor)."""
FIT = ["name=shot", "fit.frames=8", "fit.trials=12", "fit.startup_trials=6", "fit.prefit_trials=60",
       "fit.develop_trials=60", "fit.polish_trials=60", "fit.final_frames=16", "fit.polish_frames=16",
       "fit.max_images=16", "render.samples=8"]
"""A fit that finishes in a few minutes on 2 cores (the defaults: 40 trials of 16 frames, an hour)."""
ARMS = {"narrow_plain": ["lighting=narrow", "materials=plain"],
        "wide_procedural": ["lighting=wide", "materials=procedural"]}
"""The two datasets ``simgen compare`` compares."""
PICTURES = {"fit": ("fit_report.png", "1390,1240"), "compare": ("compare_page.png", "1100,1190")}
"""Each picture's file in docs/img/ and its browser window, W,H in CSS px: the top of its page."""


def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        sys.exit("no chromium on PATH: run `bash scripts/install_chromium.sh` as root")
    return found


def simgen(*args: str, cwd: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([SIMGEN, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"simgen {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")


def screenshot(page: Path, out: Path, size: str, colours: int) -> None:
    """``page`` in headless Chromium at window ``size`` (W,H CSS px), palette-reduced into ``out``."""
    shot = page.with_suffix(".shot.png")
    subprocess.run([browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--force-device-scale-factor=1", "--virtual-time-budget=5000", f"--window-size={size}",
                    f"--screenshot={shot}", page.as_uri()], check=True, capture_output=True, timeout=180)
    img = Image.open(shot).convert("RGB")
    img = img.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out, optimize=True)
    print(f"{out}: {img.width}x{img.height}, {out.stat().st_size / 1024:.0f} KB", flush=True)


def fit_report(work: Path, out: Path, size: str) -> None:
    """A small fit of a rendered target; its report.html, screenshot."""
    target = work / "target"
    if not (target / "dataset.json").is_file():
        simgen(*TARGET, "output.dir=target", cwd=work)
    simgen("fit", "target=target/images", "target_coco=target/coco.json", *FIT, *SMALL[2:], cwd=work)  # relative:
    # the report names the target as it was given
    screenshot(work / "fits" / "shot" / "report.html", out, size, 128)


def compare_page(work: Path, out: Path, size: str) -> None:
    """Two small datasets, ``simgen compare`` of them, its page screenshot."""
    for name, overrides in ARMS.items():
        if not (work / name / "dataset.json").is_file():
            simgen(*SMALL, "frames=12", "seed=1", "render.samples=8", *overrides, f"output.dir={name}", cwd=work)
    page = work / "compare.html"
    simgen("compare", *ARMS, "--out", page.name, cwd=work)  # relative: the page's title names the two folders
    screenshot(page, out, size, 128)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=sorted(PICTURES), action="append", help="make only this picture (repeatable)")
    ap.add_argument("--out-dir", type=Path, default=REPO / "docs" / "img", help="where the PNGs go")
    ap.add_argument("--keep", type=Path, default=None, help="render and fit here, and keep it")
    ap.add_argument("--size", default=None, help="browser window W,H (CSS px; default: each picture's own)")
    args = ap.parse_args()
    browser()
    work = args.keep or Path(tempfile.mkdtemp(prefix="doc_shots_"))
    work.mkdir(parents=True, exist_ok=True)
    make = {"fit": fit_report, "compare": compare_page}
    try:
        for name in args.only or sorted(PICTURES):
            t0 = time.monotonic()
            file, size = PICTURES[name]
            make[name](work, args.out_dir / file, args.size or size)
            print(f"{name}: {time.monotonic() - t0:.0f} s", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
