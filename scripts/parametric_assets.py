#!/usr/bin/env python3
"""Parametric shapes (objects.parametric): what they cost per frame, and a contact sheet.

    python scripts/parametric_assets.py --bench           # ms per shape and per frame
    python scripts/parametric_assets.py --sheet docs/img/parametric_shapes.png

--bench prints, per category, the milliseconds to generate one shape (numpy) and to hand it
to Blender (mesh + UV map), then the Blender build time of whole tabletop frames with catalog
meshes and with generated ones (objects=parametric), and the count of Blender meshes after
many frames (bounded: old shapes are removed).
--sheet renders close-ups of one generated object per category and whole frames of
scene=tabletop objects=parametric (procedural textures on, so the UV mapping shows) at
160x120 and tiles them into one 256-colour PNG.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def settings(parametric: float, width: int = 160, height: int = 120, samples: int = 16, out: str = ""):
    from simgen.config import RenderConfig, Settings
    from simgen.compose.settings import validate

    s = Settings(seed=11)
    s.render = RenderConfig(width=width, height=height, samples=samples, device="cpu")
    s.objects = dataclasses.replace(s.objects, parametric=parametric, count=[4, 7])
    s.materials = dataclasses.replace(s.materials, texture_probability=0.8)
    s.output.dir = out or tempfile.mkdtemp(prefix="simgen-parametric-")
    return validate(s)


def bench(frames: int) -> None:
    import bpy

    from simgen.assets import parametric as P
    from simgen.blender import BlenderBackend
    from simgen.scene.meshes import GeneratedMesh
    from simgen.pipeline import catalog_for, load_recipe, make_frame_scene

    print("category  generate_ms  to_blender_ms  faces")
    s = settings(1.0, 32, 24, 1)
    backend = BlenderBackend(s.render)
    try:
        for cat in sorted(P.GENERATORS):
            gen, put, faces = [], [], 0
            for i in range(20):
                t0 = time.perf_counter()
                ref = GeneratedMesh(cat, 10_000 + i)
                shape = P.shape_of(ref)
                t1 = time.perf_counter()
                backend._blocks.mesh(ref)
                t2 = time.perf_counter()
                gen.append(t1 - t0)
                put.append(t2 - t1)
                faces = len(shape.faces)
            backend._blocks.drop_generated(set())
            print(f"{cat:8s}  {1e3 * statistics.median(gen):11.2f}  {1e3 * statistics.median(put):13.2f}  {faces:5d}")
        recipe = load_recipe("tabletop")
        for p in (0.0, 1.0):
            s = settings(p, 32, 24, 1)
            catalog = catalog_for(s)
            times, sample_t = [], []
            for index in range(frames):
                t0 = time.perf_counter()
                scene = make_frame_scene(recipe, s, catalog, index)
                t1 = time.perf_counter()
                backend.build(scene)
                t2 = time.perf_counter()
                sample_t.append(t1 - t0)
                times.append(t2 - t1)
            print(f"objects.parametric={p}: scene draw {1e3 * statistics.median(sample_t):.1f} ms, "
                  f"Blender build {1e3 * statistics.median(times):.1f} ms per frame (median of {frames}); "
                  f"Blender meshes after {frames} frames: {len(bpy.data.meshes)}")
    finally:
        backend.close()


CLOSE_UPS = ("mug", "mug", "bottle", "can", "cone", "box", "ring", "ball")
"""The categories of the sheet's close-ups (one generated object each), then whole scenes."""


def _render(s, out: Path) -> list:
    from PIL import Image

    from simgen.pipeline import run

    run(s)
    return [Image.open(out / "images" / f"{i:06d}.png").convert("RGB") for i in range(s.frames)]


def sheet(out: Path, frames: int, cols: int) -> None:
    from PIL import Image

    from simgen.assets import build_catalog

    names = build_catalog().category_names
    tiles = []
    with tempfile.TemporaryDirectory(prefix="simgen-sheet-") as tmp:
        for k, cat in enumerate(CLOSE_UPS):  # one object, close
            s = settings(1.0, out=f"{tmp}/close{k}")
            s = dataclasses.replace(
                s, seed=100 + k, frames=1,
                objects=dataclasses.replace(s.objects, count=[1, 1], weights={n: float(n == cat) for n in names}),
                scene=dataclasses.replace(s.scene, camera_distance=[0.3, 0.4], camera_elevation=[15.0, 35.0]))
            tiles += _render(s, Path(s.output.dir))
        s = settings(1.0, out=f"{tmp}/scenes")  # whole scenes, a little closer than the default camera
        s = dataclasses.replace(s, frames=frames, scene=dataclasses.replace(s.scene, camera_distance=[0.55, 0.8]))
        tiles += _render(s, Path(s.output.dir))
    w, h = tiles[0].size
    rows = (len(tiles) + cols - 1) // cols
    grid = Image.new("RGB", (cols * w, rows * h))
    for i, t in enumerate(tiles):
        grid.paste(t, ((i % cols) * w, (i // cols) * h))
    out.parent.mkdir(parents=True, exist_ok=True)
    grid = grid.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    grid.save(out, optimize=True)  # a 256-colour PNG: small enough to commit
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB: {len(CLOSE_UPS)} close-ups and {frames} scenes "
          f"at {w}x{h})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--frames", type=int, default=4, help="--sheet: whole scenes after the close-ups")
    ap.add_argument("--sheet", type=Path)
    ap.add_argument("--cols", type=int, default=4)
    a = ap.parse_args()
    if a.bench:
        bench(max(a.frames, 10))
    if a.sheet:
        sheet(a.sheet, a.frames, a.cols)
    if not (a.bench or a.sheet):
        ap.error("give --bench and/or --sheet PATH")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
