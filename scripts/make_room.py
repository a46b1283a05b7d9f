#!/usr/bin/env python3
"""Generate the bundled environment of ``scene=environment``: a small room as one GLB.

A 4 x 4 m floor, a back and a left wall (2.5 m), a table (1.2 x 0.7 m, 0.75 m high, four legs)
and a shelf unit (two side boards, three shelves at 0.05, 0.45 and 0.85 m) against the back
wall, each part a named glTF node with a plain PBR colour of its own. Everything is built here
from boxes (our own work, CC0). The output is committed; run this only to change it::

    python scripts/make_room.py                  # writes <repo>/assets/environments/room.glb
    python scripts/make_room.py --out /tmp/room.glb

glTF is Y up: a box built in Blender's axes (Z up) is written as (x, z, -y), which Blender's
importer turns back.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import trimesh

REPO = Path(__file__).resolve().parents[1]

PARTS = {  # name: ((lo), (hi), linear RGB)
    "floor": ((-2.0, -2.0, -0.05), (2.0, 2.0, 0.0), (0.35, 0.3, 0.25)),
    "wall_back": ((-2.0, 2.0, 0.0), (2.0, 2.1, 2.5), (0.7, 0.7, 0.65)),
    "wall_left": ((-2.1, -2.0, 0.0), (-2.0, 2.0, 2.5), (0.6, 0.65, 0.7)),
    "table_top": ((-0.6, -0.35, 0.72), (0.6, 0.35, 0.75), (0.45, 0.28, 0.15)),
    **{f"table_leg{i}": ((x - 0.025, y - 0.025, 0.0), (x + 0.025, y + 0.025, 0.72), (0.2, 0.2, 0.2))
       for i, (x, y) in enumerate([(-0.55, -0.3), (0.55, -0.3), (-0.55, 0.3), (0.55, 0.3)])},
    "shelf_side0": ((-1.9, 1.6, 0.0), (-1.88, 1.98, 1.2), (0.5, 0.4, 0.3)),
    "shelf_side1": ((-0.9, 1.6, 0.0), (-0.88, 1.98, 1.2), (0.5, 0.4, 0.3)),
    **{f"shelf_board{i}": ((-1.88, 1.6, z - 0.02), (-0.9, 1.98, z), (0.55, 0.45, 0.35))
       for i, z in enumerate((0.05, 0.45, 0.85))},
}


def boxes_scene(parts: dict, roughness: float) -> trimesh.Scene:
    """A glTF scene (Y up) of named boxes: ``parts`` {name: (lo, hi, linear RGB)} in Blender's axes
    (Z up, metres), each its own node with a material of its colour."""
    scene = trimesh.Scene()
    for name, (lo, hi, rgb) in parts.items():
        b = trimesh.creation.box(extents=np.subtract(hi, lo))
        b.apply_translation(np.add(lo, hi) / 2)
        v = b.vertices
        mesh = trimesh.Trimesh(np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1), b.faces, process=False)
        mesh.visual = trimesh.visual.TextureVisuals(material=trimesh.visual.material.PBRMaterial(
            name=name, baseColorFactor=[*rgb, 1.0], roughnessFactor=roughness, metallicFactor=0.0))
        scene.add_geometry(mesh, node_name=name, geom_name=name)
    return scene


def room() -> trimesh.Scene:
    return boxes_scene(PARTS, roughness=0.7)


def write(scene: trimesh.Scene, default: Path, description: str) -> None:
    """Write ``scene`` as a GLB to --out (default ``default``)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--out", type=Path, default=default)
    a = ap.parse_args()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_bytes(scene.export(file_type="glb"))
    print(f"wrote {a.out} ({len(scene.geometry)} parts)")


def main() -> None:
    write(room(), REPO / "assets" / "environments" / "room.glb", __doc__.splitlines()[0])

if __name__ == "__main__":
    main()
