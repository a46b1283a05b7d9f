#!/usr/bin/env python3
"""Exposure over every shipped lighting and materials option: clipped and nearly black frames.

    python scripts/exposure_table.py                       # 50 frames per option, 120x90, 8 samples
    python scripts/exposure_table.py --frames 20 --cache /tmp/expo   # keep the linear renders
    python scripts/exposure_table.py --options lighting=sky materials=procedural

For each option (``lighting=<each option>`` with the default materials,
``materials=<each option>`` with the default lighting, and the worst
combination ``materials=procedural lighting=sky``) frames 0..N-1 of the default tabletop
recipe (seed 0) are rendered ONCE with Cycles at a small size (default 120x90, 8 samples,
no denoiser, no adaptive sampling: exposure statistics hardly depend on size or noise, and this keeps the whole
table to minutes on a CPU). The linear Combined pass (the scene's drawn camera exposure
applied, as the backend does) is then turned into the 8-bit image twice:

**before**: ``render.tone=standard`` -- the old conversion: Blender's "Standard" view
transform (clip to [0, 1], sRGB curve), no metering.

**after**: ``render.tone`` and ``render.auto_exposure`` as the config composes them (the new
defaults), through the same function the backend uses (:func:`simgen.color.tone.tone_map`).

Both sides see the very same linear pixels, so the table isolates the exposure policy.

Columns: frames; ``clipped>1%``: frames with more than 1 % of pixels clipped to white (all
three channels 255); ``black``: nearly black frames, 99th percentile of the 8-bit luma
(Rec.709 weights on the sRGB values, /255) below 0.2, or mean luma below 0.05; ``median luma``:
the median over frames of the mean 8-bit luma /255. The requirement: at most 1 frame in 20
(5 %) clipped, at most 1 in 20 black.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CLIP_FRACTION = 0.01
"""A frame is 'clipped' with more than this fraction of pixels at (255, 255, 255)."""
BLACK_P99 = 0.2
BLACK_MEAN = 0.05
"""A frame is 'nearly black' when the 99th percentile of its luma is below BLACK_P99 or its
mean luma is below BLACK_MEAN (luma of the 8-bit sRGB image, 0..1)."""


def default_options() -> list[list[str]]:
    from simgen.compose.store import options

    found = options(["lighting", "materials"])
    lighting, materials = found["lighting"], found["materials"]
    opts = [[f"lighting={x}"] for x in lighting] + [[f"materials={x}"] for x in materials if x != "plain"]
    return opts + [["materials=procedural", "lighting=sky"]]


def compose(overrides: list[str]):
    from simgen.compose.store import compose as compose_config
    from simgen.compose.settings import to_settings

    cfg = compose_config([*overrides, "output.dir=/nonexistent-unused"])
    return to_settings(cfg)


def luma(rgb8: np.ndarray) -> np.ndarray:
    return (rgb8.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)) / 255.0


def frame_stats(rgb8: np.ndarray) -> tuple[float, bool, float]:
    """(fraction of pixels clipped to white, nearly black?, mean luma)."""
    clipped = float(np.mean(np.all(rgb8 == 255, axis=-1)))
    y = luma(rgb8)
    black = bool(np.percentile(y, 99) < BLACK_P99 or y.mean() < BLACK_MEAN)
    return clipped, black, float(y.mean())


def render_linear(overrides: list[str], frames: int, width: int, height: int, samples: int,
                  cache: Path | None) -> list[np.ndarray]:
    """The linear Combined pass (camera exposure applied) of frames 0..frames-1; from
    ``cache`` when it holds them."""
    tag = "_".join(o.replace("=", "-") for o in overrides) + f"_{width}x{height}_{samples}spp"
    path = cache / f"{tag}_{frames}.npz" if cache else None
    if path is not None and path.is_file():
        with np.load(path) as z:
            return [z[f"f{i}"] for i in range(frames)]
    from simgen.blender import BlenderBackend
    from simgen.io.exr import read_linear
    from simgen.pipeline import catalog_for, load_recipe, make_frame_scene
    from simgen.sampling.random import render_seed

    settings = compose([*overrides, f"render.width={width}", f"render.height={height}",
                        f"render.samples={samples}", "render.device=cpu", "render.denoise=false",
                        "render.adaptive_threshold=0"])
    recipe, catalog = load_recipe(settings.scene.recipe), catalog_for(settings)
    backend = BlenderBackend(settings.render)
    out = []
    try:
        for index in range(frames):
            backend.build(make_frame_scene(recipe, settings, catalog, index))
            files = backend.render_to_files(seed=render_seed(settings.seed, index))
            out.append(read_linear(files.rgb_from or files.exr, files.exposure))
            for p in (files.exr, files.rgb_from):
                if p is not None:
                    p.unlink()
    finally:
        backend.close()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{f"f{i}": a for i, a in enumerate(out)})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--width", type=int, default=120)
    ap.add_argument("--height", type=int, default=90)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--cache", type=Path, default=None, help="folder to keep/reuse the linear renders in")
    ap.add_argument("--options", nargs="*", default=None,
                    help="one option per argument, overrides joined by spaces, e.g. 'materials=procedural lighting=sky'")
    args = ap.parse_args(argv)
    from simgen.color.tone import tone_map

    options = [o.split() for o in args.options] if args.options else default_options()
    header = f"{'option':<38} {'frames':>6} | {'clipped>1%':>10} {'black':>5} {'median luma':>11} | " \
             f"{'clipped>1%':>10} {'black':>5} {'median luma':>11}"
    rows = []
    t0 = time.perf_counter()
    for overrides in options:
        linear = render_linear(overrides, args.frames, args.width, args.height, args.samples, args.cache)
        render = compose(overrides).render
        cells = []
        for tone, auto in (("standard", False), (render.tone, render.auto_exposure)):
            stats = [frame_stats(tone_map(lin, tone=tone, auto_exposure=auto)[0]) for lin in linear]
            clipped = sum(c > CLIP_FRACTION for c, _, _ in stats)
            black = sum(b for _, b, _ in stats)
            cells.append(f"{clipped:>10} {black:>5} {np.median([m for _, _, m in stats]):>11.3f}")
        rows.append(f"{' '.join(overrides):<38} {len(linear):>6} | " + " | ".join(cells))
        print(rows[-1], file=sys.stderr, flush=True)
    print(f"{args.frames} frames per option, {args.width}x{args.height}, {args.samples} samples, seed 0; "
          f"clipped>1%: frames with >1 % of pixels at (255,255,255); black: luma p99 < {BLACK_P99} or "
          f"mean < {BLACK_MEAN}; median luma: median of the frames' mean luma ({time.perf_counter() - t0:.0f} s)")
    print(f"{'':<38} {'':>6} | {'before (standard, no metering)':^28} | {'after (defaults)':^28}")
    print(header)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
