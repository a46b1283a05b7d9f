"""The rolling-shutter picture of docs/how-to/sensors.md: docs/img/rolling_shutter.png.

A still camera looks at two upright bars before a wall; between step 0 and step 1 of the sequence the
right bar moves 3 m to the right. Left: the frame of step 0 with a global shutter. Middle: the same
frame read out row by row over 30 ms at 30 steps a second (0.9 of a step; one band a row, as
sensor.rolling_shutter_ms=30 renders it): the moving bar leans, the still one stays upright. Right: that
frame's instance label, leaning with it (each row's label is the scene's at the row's time).

    PYTHONPATH=. python scripts/rolling_shutter_picture.py                 # docs/img/rolling_shutter.png
    PYTHONPATH=. python scripts/rolling_shutter_picture.py --width 160 --height 120 --out /tmp/rs.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def box(scale, at) -> np.ndarray:
    m = np.diag([*scale, 1.0])
    m[:3, 3] = at
    return m


def scenes(width: int, height: int) -> list:
    """The sequence's two steps (plain scene data)."""
    from simgen.assets.catalog import BUNDLED_BOX
    from simgen.optics.camera import intrinsics, look_at
    from simgen.scene.data import Camera, Light, Material, Scene, SceneObject, World

    camera = Camera(K=intrinsics(35.0, 36.0, width, height), width=width, height=height,
                    world_to_camera=look_at(np.array([0.0, -6.0, 0.0]), np.zeros(3)))
    sun = np.eye(4)
    sun[:3, :3] = [[1, 0, 0], [0, 0.6, -0.8], [0, 0.8, 0.6]]  # shining along its -Z: towards +y and down
    out = []
    for x in (-1.0, 2.0):  # the moving bar's centre at step 0 and step 1
        objects = [
            SceneObject(name="wall", mesh=BUNDLED_BOX, mesh_to_world=box((20, 0.1, 20), (0, 2, 0)), instance_id=1,
                        category_id=0, material=Material(base_color=(0.5, 0.5, 0.5), roughness=0.8, metallic=0.0),
                        role="ground"),
            SceneObject(name="still_bar", mesh=BUNDLED_BOX, mesh_to_world=box((0.3, 0.3, 4), (-2.2, 0, 0)), instance_id=2,
                        category_id=1, material=Material(base_color=(0.1, 0.3, 0.8), roughness=0.5, metallic=0.0)),
            SceneObject(name="moving_bar", mesh=BUNDLED_BOX, mesh_to_world=box((0.3, 0.3, 4), (x, 0, 0)), instance_id=3,
                        category_id=1, material=Material(base_color=(0.8, 0.2, 0.1), roughness=0.5, metallic=0.0)),
        ]
        out.append(Scene(objects=objects, lights=[Light(kind="sun", light_to_world=sun, power=3.0, color=(1, 1, 1))],
                         camera=camera, world=World(color=(0.3, 0.3, 0.3), strength=1.0)))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--readout-ms", type=float, default=30.0)
    p.add_argument("--out", default=str(REPO / "docs" / "img" / "rolling_shutter.png"))
    a = p.parse_args()

    from PIL import Image, ImageDraw

    from simgen.blender import BlenderBackend
    from simgen.config import RenderConfig
    from simgen.labels.preview import colorize_ids
    from simgen.pipeline.rolling import BandedFrame
    from simgen.sensors import rolling_shutter as rs

    steps = scenes(a.width, a.height)
    rows = rs.timing(a.readout_ms, 30.0, 0, a.height)
    backend = BlenderBackend(RenderConfig(width=a.width, height=a.height, samples=a.samples, device="cpu",
                                          denoise=False, auto_exposure=False))
    try:
        backend.build(steps[0])
        still = backend.render_passes(seed=1)
        band_scenes = rs.band_scenes(steps, 0, rows)
        files = []
        for band, scene in zip(rows.bands, band_scenes):
            backend.move(scene)
            files.append(backend.render_band_to_files(1, band))
        rolled = BandedFrame(files, rows, [s.camera.world_to_camera for s in band_scenes],
                             steps[0].camera.world_to_camera).load()
    finally:
        backend.close()
    panels = [still["rgb"], rolled["rgb"], colorize_ids(rolled["index"].astype(np.uint16))]
    captions = ["global shutter", f"rolling shutter, {a.readout_ms:g} ms", "its instance label"]
    gap = 8
    sheet = Image.new("RGB", (3 * a.width + 2 * gap, a.height + 20), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, (panel, caption) in enumerate(zip(panels, captions)):
        sheet.paste(Image.fromarray(panel), (k * (a.width + gap), 20))
        draw.text((k * (a.width + gap) + 4, 4), caption, fill=(0, 0, 0))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(a.out, optimize=True)
    print(f"{a.out}: {sheet.size[0]}x{sheet.size[1]}; the moving bar's top row at step 0, its bottom row "
          f"{rows.row_times()[-1]:.3f} steps later")


if __name__ == "__main__":
    main()
