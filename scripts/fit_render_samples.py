#!/usr/bin/env python3
"""How many render samples does a fit need? ``simgen fit`` measures its renders by image statistics
(simgen.fit.stats), not by eye: renders of the same frames at fewer samples are cheaper, and they
are as good to it as long as their statistics stay much closer to the many-sample render's than
two sets of frames are to each other (the noise of sampling the scenes, which no sample count removes).

    python scripts/fit_render_samples.py                       # 24 frames at 160x120: 128, 32, 16 and 8 samples
    python scripts/fit_render_samples.py --frames 8 --samples 128,16 --size 64x48

Renders the same frames (the fit's neutral camera: no effects) at each sample count, the first the
reference, and prints each one's time per frame and its statistics' distance from the reference
(simgen.fit.distance, in units of the reference's own spread), then the distance between the
reference's first and second half of frames.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/simgen_fit_samples"))
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--size", default="160x120")
    ap.add_argument("--samples", default="128,32,16,8", help="sample counts, the reference first")
    a = ap.parse_args()
    from simgen.fit.distance import distance, scales
    from simgen.fit.stats import IMAGE_STATS, image_samples
    from simgen.io.files import read_png

    w, h = (int(v) for v in a.size.split("x"))
    counts = [int(s) for s in a.samples.split(",")]
    stats, per_frame = {}, {}
    for n in counts:
        out = a.out / f"samples{n}"
        r = subprocess.run([sys.executable, "-m", "simgen.cli", f"output.dir={out}", f"frames={a.frames}", "seed=3",
                            f"render.width={w}", f"render.height={h}", f"render.samples={n}",
                            "render.denoise_prefilter=fast", "output.formats=[coco]", "output.previews=false",
                            "output.overwrite=true"], capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"fit_render_samples.py: the render at {n} samples failed: {r.stderr.strip()[-500:]}")
        m = re.search(r"\(([\d.]+) s/frame\)", r.stderr + r.stdout)
        per_frame[n] = float(m[1]) if m else float("nan")
        stats[n] = [read_png(p) for p in sorted((out / "images").glob("*.png"))]
    ref = counts[0]
    reference = image_samples(stats[ref])
    scale = scales(reference)
    weights = {name: 1.0 for name in IMAGE_STATS}
    print(f"{a.frames} frames at {a.size}; distance of each sample count's statistics from {ref} samples'")
    print("| samples | s/frame | distance | largest component |\n|---|---|---|---|")
    for n in counts:
        d = distance(reference, image_samples(stats[n]), scale, weights)
        top = max(d.components, key=d.components.get)
        print(f"| {n} | {per_frame[n]:.2f} | {d.total:.4f} | {top} {d.components[top]:.3f} |")
    half = a.frames // 2
    noise = distance(image_samples(stats[ref][:half]), image_samples(stats[ref][half:]), scale, weights).total
    print(f"\nsampling the scenes: the first {half} frames at {ref} samples against the other {a.frames - half}: {noise:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
