#!/usr/bin/env python3
"""Generate the bundled world of ``scene=bin_picking``: an open bin on a table, as one GLB.

A bin 0.4 x 0.3 m inside with walls 0.15 m high, its floor and walls 1 cm thick (five named
parts: ``bin_floor``, ``bin_wall_x0``/``x1`` across X, ``bin_wall_y0``/``y1`` across Y), standing
centred on a table top of 1.2 x 0.9 m whose upper face is at z = 0 (``table``). Each part is a
named glTF node with a plain PBR colour of its own. Everything is built here from boxes (our own
work, CC0). The output is committed; run this only to change it::

    python scripts/make_bin.py                  # writes <repo>/assets/environments/bin.glb
    python scripts/make_bin.py --out /tmp/bin.glb

glTF is Y up: a box built in Blender's axes (Z up) is written as (x, z, -y), which Blender's
importer turns back (as scripts/make_room.py does).
"""

from __future__ import annotations

import sys
from pathlib import Path

import trimesh

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_room import REPO, boxes_scene, write  # noqa: E402  (the scripts' folder, as when run)

INNER = (0.4, 0.3)
"""m: the bin's inside along X and Y."""
DEPTH = 0.15
"""m: its walls' height above its floor."""
WALL = 0.01
"""m: the thickness of its floor and walls."""

_X, _Y, _W = INNER[0] / 2, INNER[1] / 2, WALL
PARTS = {  # name: ((lo), (hi), linear RGB), Blender's axes (Z up), metres
    "table": ((-0.6, -0.45, -0.04), (0.6, 0.45, 0.0), (0.45, 0.33, 0.22)),
    "bin_floor": ((-_X - _W, -_Y - _W, 0.0), (_X + _W, _Y + _W, _W), (0.08, 0.2, 0.5)),
    "bin_wall_x0": ((-_X - _W, -_Y - _W, _W), (-_X, _Y + _W, _W + DEPTH), (0.1, 0.25, 0.6)),
    "bin_wall_x1": ((_X, -_Y - _W, _W), (_X + _W, _Y + _W, _W + DEPTH), (0.1, 0.25, 0.6)),
    "bin_wall_y0": ((-_X, -_Y - _W, _W), (_X, -_Y, _W + DEPTH), (0.1, 0.25, 0.6)),
    "bin_wall_y1": ((-_X, _Y, _W), (_X, _Y + _W, _W + DEPTH), (0.1, 0.25, 0.6)),
}
"""The boxes (lo and hi corners) and colours; the bin's inside is x in [-0.2, 0.2], y in
[-0.15, 0.15], z in [0.01, 0.16]."""


def bin_scene() -> trimesh.Scene:
    return boxes_scene(PARTS, roughness=0.6)


def main() -> None:
    write(bin_scene(), REPO / "assets" / "environments" / "bin.glb", __doc__.splitlines()[0])

if __name__ == "__main__":
    main()
