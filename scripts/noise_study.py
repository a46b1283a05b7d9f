#!/usr/bin/env python3
"""Choose the render defaults for noise: samples, adaptive sampling, clamping, denoiser.

    nice python scripts/noise_study.py --cache /tmp/noise            # 4 scenes, 160x120, 1024-spp reference
    python scripts/noise_study.py --cache /tmp/noise --scenes 0 1    # fill the cache for scenes 0, 1 only
    python scripts/noise_study.py --scenes-n 6 --width 320 --height 240 --reference 2048

Several processes may fill one cache at once (``--scenes 0``, ``--scenes 1``, ...); the last
call without ``--scenes`` then only reads the cache and prints the table.

Scenes: frames 0..N-1 of the default tabletop recipe (seed 0), alternately with the default
config and with ``materials=procedural lighting=wide`` (textures, glass, metal, coloured
lights: the hard cases for noise). Each scene is rendered by the backend exactly as the
pipeline does (every pass, EXR written and read) with a **reference** setting (default 1024
samples, no adaptive sampling, no clamping, no denoiser) and with each **candidate** of
:data:`CANDIDATES`. Every render's linear Combined pass is tone mapped the same way (AgX,
the exposure metered on the reference), and the 8-bit sRGB images are compared:

* ``PSNR`` (dB) of the candidate against the reference, over all pixels and channels;
* ``SSIM`` (Wang et al. 2004: Gaussian window sigma 1.5, K1 0.01, K2 0.03, on luma),
  implemented here with numpy + OpenCV's Gaussian blur;
* ``cpu_s``: CPU seconds of the render call per frame (the process's CPU time: every render
  thread, the EXR write and read), not wall time, because the machine is shared and wall
  time there says more about the other users than about the setting. On an idle machine
  the wall time is about cpu_s / cores.

**Rule** (fixed before measuring): Monte-Carlo efficiency, ``PSNR - 10*log10(cpu_s)`` (a
setting that halves the squared error at the same cost gains 3 dB, as does one that halves
the cost at the same error), among the candidates whose mean SSIM is at least
:data:`SSIM_FLOOR` (no visible grain). The winner's values are the defaults of
simgen.config.RenderConfig (render=cycles).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SSIM_FLOOR = 0.95
CANDIDATES: dict[str, dict] = {
    "16spp clamp10 (old default)": dict(samples=16, clamp_indirect=10.0),
    "16spp": dict(samples=16, clamp_indirect=0.0),
    "64spp clamp10": dict(samples=64, clamp_indirect=10.0),
    "128spp clamp10": dict(samples=128, clamp_indirect=10.0),
    "4spp oidn": dict(samples=4, denoise=True, clamp_indirect=10.0),
    "8spp oidn": dict(samples=8, denoise=True, clamp_indirect=10.0),
    "16spp oidn": dict(samples=16, denoise=True, clamp_indirect=10.0),
    "16spp oidn noclamp": dict(samples=16, denoise=True, clamp_indirect=0.0),
    "16spp oidn clamp1": dict(samples=16, denoise=True, clamp_direct=10.0, clamp_indirect=1.0),
    "32spp oidn": dict(samples=32, denoise=True, clamp_indirect=10.0),
    "64spp oidn": dict(samples=64, denoise=True, clamp_indirect=10.0),
    "64spp adaptive0.05 oidn": dict(samples=64, adaptive_threshold=0.05, denoise=True, clamp_indirect=10.0),
    "128spp adaptive0.02 oidn": dict(samples=128, adaptive_threshold=0.02, denoise=True, clamp_indirect=10.0),
    "16spp oidn fast": dict(samples=16, denoise=True, denoise_prefilter="fast", clamp_indirect=10.0),
    "128spp adaptive0.02 oidn fast": dict(samples=128, adaptive_threshold=0.02, denoise=True,
                                          denoise_prefilter="fast", clamp_indirect=10.0),
}
"""name -> RenderConfig fields that differ from the reference (clamping off, no denoiser)."""
HARD = ["materials=procedural", "lighting=wide"]


def scene_overrides(k: int) -> list[str]:
    return HARD if k % 2 else []


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two luma images in [0, 1] (Gaussian 11x11 window, sigma 1.5)."""
    import cv2

    c1, c2 = 0.01 ** 2, 0.03 ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    a, b = a.astype(np.float64), b.astype(np.float64)
    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma * ma, blur(b * b) - mb * mb, blur(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return float(s.mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def compose(overrides: list[str]):
    from simgen.compose.store import compose as compose_config
    from simgen.compose.settings import to_settings

    cfg = compose_config([*overrides, "output.dir=/nonexistent-unused"])
    return to_settings(cfg)


def render_all(k: int, names: list[str], args, cache: Path) -> None:
    """Render scene ``k`` with the reference and every named candidate not yet in ``cache``."""
    todo = [n for n in names if not (cache / f"s{k}_{slug(n)}.npz").is_file()]
    if not todo:
        return
    from simgen.blender import BlenderBackend
    from simgen.io.exr import read_linear
    from simgen.pipeline import catalog_for, load_recipe, make_frame_scene
    from simgen.sampling.random import render_seed

    settings = compose([*scene_overrides(k), f"render.width={args.width}", f"render.height={args.height}",
                        "render.device=cpu"])
    recipe, catalog = load_recipe(settings.scene.recipe), catalog_for(settings)
    base = dataclasses.replace(settings.render, samples=args.reference, adaptive_threshold=0.0, clamp_direct=0.0,
                               clamp_indirect=0.0, denoise=False)
    backend = BlenderBackend(base)
    try:
        backend.build(make_frame_scene(recipe, settings, catalog, k))
        for name in todo:
            r = base if name == "reference" else dataclasses.replace(base, **CANDIDATES[name])
            backend.configure_sampling(r)
            c0, t0 = time.process_time(), time.perf_counter()
            files = backend.render_to_files(seed=render_seed(settings.seed, k))
            linear = read_linear(files.exr)
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
            files.exr.unlink()
            np.savez(cache / f"s{k}_{slug(name)}.npz", linear=linear, cpu=cpu, wall=wall)
            print(f"scene {k} {name}: {cpu:.1f} cpu-s {wall:.1f} s", file=sys.stderr, flush=True)
    finally:
        backend.close()


def slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes-n", type=int, default=4)
    ap.add_argument("--scenes", type=int, nargs="*", default=None, help="render only these scenes (fill the cache)")
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--height", type=int, default=120)
    ap.add_argument("--reference", type=int, default=1024, help="reference samples")
    ap.add_argument("--cache", type=Path, required=True, help="folder for the renders (reused when present)")
    args = ap.parse_args(argv)
    cache = args.cache / f"{args.width}x{args.height}_ref{args.reference}"
    cache.mkdir(parents=True, exist_ok=True)
    names = ["reference", *CANDIDATES]
    scenes = args.scenes if args.scenes is not None else range(args.scenes_n)
    for k in scenes:
        render_all(k, names, args, cache)
    if args.scenes is not None:
        return 0
    from simgen.color.tone import tone_map, meter

    luma = np.array([0.2126, 0.7152, 0.0722])
    rows = {n: {"psnr": [], "ssim": [], "cpu": [], "wall": []} for n in CANDIDATES}
    for k in scenes:
        with np.load(cache / f"s{k}_reference.npz") as z:
            ref_lin = z["linear"]
        stops = meter(ref_lin, "agx")
        ref = tone_map(ref_lin, "agx", auto_exposure=False, exposure=stops)[0] / 255.0
        for n in CANDIDATES:
            with np.load(cache / f"s{k}_{slug(n)}.npz") as z:
                img = tone_map(z["linear"], "agx", auto_exposure=False, exposure=stops)[0] / 255.0
                rows[n]["cpu"].append(float(z["cpu"]))
                rows[n]["wall"].append(float(z["wall"]))
            rows[n]["psnr"].append(psnr(img, ref))
            rows[n]["ssim"].append(ssim(img @ luma, ref @ luma))
    print(f"{len(scenes)} scenes at {args.width}x{args.height} (default recipe; odd scenes with {' '.join(HARD)}); "
          f"reference {args.reference} spp, no adaptive sampling, no clamping, no denoiser; images tone mapped "
          f"(AgX, exposure metered on the reference) before comparing")
    print(f"{'candidate':<30} {'PSNR dB':>8} {'SSIM':>7} {'cpu-s/frame':>11} {'wall s':>7} {'efficiency':>10}")
    best, best_eff = None, -np.inf
    for n, r in rows.items():
        p, s, c, w = (float(np.mean(r[key])) for key in ("psnr", "ssim", "cpu", "wall"))
        eff = p - 10 * np.log10(c)
        ok = s >= SSIM_FLOOR
        if ok and eff > best_eff:
            best, best_eff = n, eff
        print(f"{n:<30} {p:>8.2f} {s:>7.4f} {c:>11.2f} {w:>7.2f} {eff:>10.2f}{'' if ok else '  (SSIM < floor)'}")
    print(f"efficiency = PSNR - 10*log10(cpu-s); best among SSIM >= {SSIM_FLOOR}: {best} -> {CANDIDATES.get(best)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
