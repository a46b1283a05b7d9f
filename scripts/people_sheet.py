#!/usr/bin/env python3
"""A contact sheet of the people simgen draws (issue 77, the diversity proof): docs/img/people_sheet.png.

    SIMGEN_PEOPLE_LIBRARY=DIR python scripts/people_sheet.py [--count 64] [--seed 0] [--out PNG]
        [--columns 8] [--size 96x128] [--samples 16] [OVERRIDE ...]

Each person is drawn as a run draws it: the first scene of sequence k (k = 0 .. count-1) of simgen's
tabletop recipe with objects.people=[1,1] and objects.count=[0,0] (its phenotype, pose, sleeves, skin
and clothes, and the material treatment of its look, all from the run's own streams; OVERRIDEs are
more simgen settings, e.g. people.age_years=[3,12]). Then the person alone is rendered by simgen's
renderer (BlenderBackend, Cycles) in a neutral setup: facing the camera on a grey floor under a sun and
a uniform grey sky, the camera the same for everyone (2 m wide at the person, 4.5 m away), so a child
stands smaller than an adult. The tiles are laid out in ``--columns``, each with the person's age in
years and standing height in metres written under it (the meta's ``person`` record:
simgen.pipeline.meta.person_record), and the sheet is written as an optimised PNG (256 colours).
Prints one line per person (age, height, gender, pose, skin tone) and the file's size.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "docs" / "img" / "people_sheet.png"
DISTANCE = 4.5
"""m from the camera to the person's axis."""
VIEW_HEIGHT = 2.25
"""m of the person's plane the image shows from top to bottom (the floor to above the tallest)."""
LABEL_HEIGHT = 14
"""Pixels under each tile for its caption."""


def draw_people(count: int, seed: int, overrides: list[str]) -> list[tuple[object, dict]]:
    """(the person's scene object, its record) of the first scene of sequences 0 .. count-1, as a run
    with ``overrides`` draws them; a sequence whose person found no place is skipped (the next taken)."""
    from simgen.compose.settings import catalog_for, to_settings
    from simgen.compose.store import compose
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe
    from simgen.scene.meshes import PersonMesh

    settings = to_settings(compose(["objects.people=[1,1]", "objects.count=[0,0]", "scene.camera_distance=[2.5,4]",
                                    f"seed={seed}", *overrides, "output.dir=unused"]))
    recipe = load_recipe(settings.scene.recipe)
    catalog = catalog_for(settings, recipe)
    people, k = [], 0
    while len(people) < count and k < 4 * count:
        scene = make_sequence_scenes(recipe, settings, catalog, k)[0]
        k += 1
        person = next((o for o in scene.objects if isinstance(o.mesh, PersonMesh)), None)
        if person is not None:
            record = next(r for r in scene.params["people"] if r.get("instance_id") == person.instance_id)
            people.append((person, record))
    if len(people) < count:
        raise SystemExit(f"only {len(people)} of {count} people found a place in {k} scenes")
    return people


def neutral_scene(person, width: int, height: int, ground: Path):
    """The person alone, facing the camera at the origin on a grey floor, under a sun and a grey sky."""
    from simgen.scene.data import Camera, Light, Material, Scene, SceneObject, World
    from simgen.optics.camera import look_at

    f = height / VIEW_HEIGHT * DISTANCE
    K = np.array([[f, 0.0, width / 2 - 0.5], [0.0, f, height / 2 - 0.5], [0.0, 0.0, 1.0]])
    w2c = look_at(np.array([0.0, -DISTANCE, VIEW_HEIGHT / 2]), np.array([0.0, 0.0, VIEW_HEIGHT / 2]))
    cam = Camera(width, height, K, w2c)
    body = dataclasses.replace(person, mesh_to_world=np.eye(4), instance_id=2)
    floor = SceneObject("floor", ground, np.eye(4), 1, 0, Material((0.55, 0.55, 0.55), 0.8, 0.0), role="ground")
    sun = np.eye(4)
    sun[:3, :3] = _rot_z(np.radians(25.0)) @ _rot_x(np.radians(40.0))  # shining from in front, above
    light = Light("sun", sun, 3.0, (1.0, 0.97, 0.92), size=0.05)
    world = World(kind="uniform", color=(0.6, 0.62, 0.65), strength=0.6)
    return Scene([floor, body], [light], cam, world=world)


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def caption(record: dict) -> str:
    return f"{record['age_years']:.0f} y {record['height_m']:.2f} m"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--count", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--columns", type=int, default=8)
    p.add_argument("--size", default="96x128", help="WIDTHxHEIGHT of a tile")
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("overrides", nargs="*", help="simgen settings, e.g. people.age_years=[3,12]")
    args = p.parse_args(argv)
    width, height = (int(x) for x in args.size.lower().split("x"))

    import trimesh
    from PIL import Image, ImageDraw

    from simgen.blender import BlenderBackend
    from simgen.config import RenderConfig
    from simgen.pipeline.meta import person_record

    people = draw_people(args.count, args.seed, args.overrides)
    with tempfile.TemporaryDirectory(prefix="simgen-people-sheet-") as tmp:
        ground = Path(tmp) / "floor.ply"
        trimesh.Trimesh([[-20, -20, 0], [20, -20, 0], [20, 20, 0], [-20, 20, 0]], [[0, 1, 2], [0, 2, 3]],
                        process=False).export(ground)
        backend = BlenderBackend(RenderConfig(width=width, height=height, samples=args.samples, device="cpu",
                                              denoise=True), workdir=tmp)
        tiles = []
        try:
            for k, (person, record) in enumerate(people):
                backend.build(neutral_scene(person, width, height, ground))
                rgb = backend.render_to_files(seed=k).load()["rgb"]
                rec = person_record(dataclasses.replace(person, mesh_to_world=np.eye(4)))
                look = record.get("look", {}).get("skin", {})
                print(f"{k:3d}: {rec['age_years']:5.1f} years {rec['height_m']:.2f} m gender "
                      f"{rec['phenotype']['gender']:.2f} pose {(record.get('pose') or {}).get('name', '?')} "
                      f"skin tone {look.get('tone', '?')}")
                tiles.append((rgb, caption(rec)))
        finally:
            backend.close()
    columns = min(args.columns, len(tiles))
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * width, rows * (height + LABEL_HEIGHT)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (rgb, text) in enumerate(tiles):
        x, y = (k % columns) * width, (k // columns) * (height + LABEL_HEIGHT)
        sheet.paste(Image.fromarray(rgb), (x, y))
        draw.text((x + 3, y + height + 1), text, fill=(30, 30, 30))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.quantize(256, dither=Image.Dither.NONE).save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB): {len(tiles)} people, {columns}x{rows} tiles "
          f"of {width}x{height}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
