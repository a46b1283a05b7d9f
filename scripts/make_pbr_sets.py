#!/usr/bin/env python3
"""Generate simgen's bundled PBR material sets (assets/materials), our own work (CC0).

Two small sets in ambientCG's file naming (``<Id>_1K-PNG_<Map>.png``, 256x256): ceramic
tiles and wooden planks, each with a colour, roughness, displacement and OpenGL normal map
(the normal map is the displacement's gradient: green up, as ambientCG's NormalGL). They
make ``materials=pbr`` work out of the box; real sets come from a library (``simgen fetch
ambientcg materials``) or a folder of your own. Deterministic: the same numpy and Pillow give
the same bytes::

    python scripts/make_pbr_sets.py            # writes <repo>/assets/materials
    python scripts/make_pbr_sets.py --out /tmp/m
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SIZE = 256


def normal_gl(height: np.ndarray, strength: float) -> np.ndarray:
    """OpenGL tangent-space normal map (R = +x right, G = +y up) of a height map (row 0 at the top)."""
    h = height.astype(np.float64)
    dx = (np.roll(h, -1, axis=1) - np.roll(h, 1, axis=1)) / 2.0
    dy_up = -(np.roll(h, -1, axis=0) - np.roll(h, 1, axis=0)) / 2.0  # image rows go down, +y goes up
    n = np.stack([-dx * strength, -dy_up * strength, np.ones_like(h)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return np.rint((n * 0.5 + 0.5) * 255).astype(np.uint8)


def tiles() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    n, grout = 4, 6
    cell = SIZE // n
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    in_tile = ((x % cell) >= grout // 2) & ((x % cell) < cell - grout // 2) & \
              ((y % cell) >= grout // 2) & ((y % cell) < cell - grout // 2)
    shade = rng.uniform(0.85, 1.1, (n, n))[y // cell, x // cell]
    base = np.array([196, 110, 70.0]) * shade[..., None]
    colour = np.where(in_tile[..., None], base, np.array([170, 166, 158.0]))
    colour += rng.normal(0, 4, colour.shape)
    height = np.where(in_tile, 1.0, 0.0)
    rough = np.where(in_tile, 0.3, 0.9)
    return {"Color": np.clip(colour, 0, 255).astype(np.uint8), "Displacement": (height * 255).astype(np.uint8),
            "Roughness": (rough * 255).astype(np.uint8), "NormalGL": normal_gl(height * 4.0, 1.0)}


def planks() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(12)
    n = 6
    width = SIZE // n
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    plank = np.minimum(x // width, n - 1)
    phase = rng.uniform(0, 2 * np.pi, n)[plank]
    grain = 0.5 + 0.5 * np.sin(x / width * 2 * np.pi * 3 + 0.8 * np.sin(y / SIZE * 2 * np.pi * 2 + phase) + phase)
    tone = rng.uniform(0.8, 1.1, n)[plank]
    colour = np.array([138, 92, 52.0]) * (0.75 + 0.25 * grain[..., None]) * tone[..., None]
    gap = (x % width) < 2
    colour[gap] = (60, 40, 25)
    height = np.where(gap, 0.0, 0.8 + 0.2 * grain)
    rough = np.where(gap, 0.95, 0.55 + 0.15 * grain)
    return {"Color": np.clip(colour, 0, 255).astype(np.uint8), "Displacement": (height * 255).astype(np.uint8),
            "Roughness": (rough * 255).astype(np.uint8), "NormalGL": normal_gl(height * 4.0, 1.0)}


SETS = {"SimgenTiles001": tiles, "SimgenPlanks001": planks}


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def build_files() -> dict[str, bytes]:
    """{path relative to the materials folder: bytes} of every bundled set."""
    return {f"{name}/{name}_1K-PNG_{kind}.png": _png(img) for name, make in SETS.items()
            for kind, img in make().items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "assets" / "materials")
    args = ap.parse_args(argv)
    for rel, data in sorted(build_files().items()):
        path = args.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
