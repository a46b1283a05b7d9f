"""A renderer without Blender, for running the frame loop in tests
(:class:`simgen.pipeline.Renderer`; the class is its own
:class:`simgen.pipeline.RendererFactory`: ``run(settings, make_renderer=FakeRenderer)``).

Its passes are a simple function of the built scene (:func:`passes_of`), in the format of
Blender's (``simgen.blender.RawPasses``): each object is a square of side ``2 * half + 1``
pixels centred on the projection of its origin, ``half`` shrinking with distance; nearer
squares cover farther ones; depth is the planar depth of the object's origin over its whole
square; normals face the camera; the colour is a function of the instance id, exposed and
tone mapped by simgen.color.tone as a render's Combined pass is (Blender's view transforms through
OpenColorIO, which needs the bpy wheel installed but not imported). Imports no Blender.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from simgen.assets.parts import parts_of
from simgen.config import RenderConfig
from simgen.scene.data import Scene
from simgen.color.tone import display, expose
from simgen.io import scratch

BACKGROUND = np.float32(0.05)
"""Linear grey of pixels that hit nothing."""
HALF_AT_ONE_METRE = 0.06
"""Half the side of an object's square at 1 m, in metres on the image plane (times fx px)."""


def colour_of(instance_id: int) -> np.ndarray:
    """Linear RGB of instance ``instance_id``."""
    return np.array([(instance_id * 37) % 97, (instance_id * 53) % 89, (instance_id * 71) % 83], np.float32) / 100 + 0.1


def squares(scene: Scene) -> list[tuple[int, float, int, int, int]]:
    """(instance id, planar depth, u, v, half) of every object in front of the camera,
    farthest first (the order they are painted in); an articulated object's links each drawn as
    an object with its part id, as a renderer draws them (simgen.assets.parts.SceneParts.drawn)."""
    cam = scene.camera
    out = []
    for o in parts_of(scene).drawn:
        p = cam.world_to_camera @ np.append(np.asarray(o.mesh_to_world)[:3, 3], 1.0)
        z = float(p[2])
        if z <= cam.clip_start:
            continue
        u, v, _ = cam.K @ (p[:3] / z)
        half = max(1, int(round(cam.K[0, 0] * HALF_AT_ONE_METRE / z)))
        out.append((o.instance_id, z, int(round(u)), int(round(v)), half))
    return sorted(out, key=lambda s: -s[1])


def passes_of(scene: Scene, tone: str = "standard", auto_exposure: bool = False, keep_linear: bool = False,
              light_groups: bool = False) -> dict:
    """The fake's passes of ``scene`` (see the module's docstring); with ``light_groups`` all of
    its light is the world's (the lamps' and the rest's shares are black)."""
    cam = scene.camera
    h, w = cam.height, cam.width
    index = np.zeros((h, w), np.int32)
    depth = np.full((h, w), np.inf, np.float32)
    linear = np.full((h, w, 3), BACKGROUND, np.float32)
    for iid, z, u, v, half in squares(scene):
        rows, cols = slice(max(0, v - half), max(0, v + half + 1)), slice(max(0, u - half), max(0, u + half + 1))
        index[rows, cols], depth[rows, cols], linear[rows, cols] = iid, z, colour_of(iid)
    towards_camera = np.asarray(cam.world_to_camera)[:3, :3].T @ np.array([0.0, 0.0, -1.0])
    normal = np.where((index > 0)[..., None], towards_camera, 0.0).astype(np.float32)
    exposed, image = expose(linear, tone=tone, auto_exposure=auto_exposure, exposure=cam.exposure)
    passes = {"rgb": display(exposed, tone), "index": index, "depth": depth, "normal": normal, "image": image}
    if keep_linear:
        passes["linear"] = exposed
    if light_groups:
        lights = np.zeros((len(scene.lights) + 2, h, w, 3), np.float32)
        lights[-2] = exposed
        passes["lights"] = lights
    return passes


class FakeFrame:
    """A rendered frame (:class:`simgen.pipeline.RenderedFrame`): passes made at render time."""

    def __init__(self, passes: dict):
        self.passes = passes

    def load(self, total_stops: float | None = None) -> dict:
        """The passes made at render time (``total_stops`` is not honoured: a fake's colours)."""
        return self.passes


class FakeRenderer:
    """The fake renderer; ``made`` holds every one made in this process, in order."""

    made: list["FakeRenderer"] = []
    blender_version = "fake"
    device = "fake renderer"

    def __init__(self, render: RenderConfig, workdir: Path, *, scratch_need: int, keep_linear: bool,
                 light_groups: bool = False):
        self.settings, self.keep_linear, self.scratch_need = render, keep_linear, scratch_need
        self.light_groups = light_groups
        # a work folder as Blender's (simgen.io.scratch): marked by this process's lock, so that the
        # folder of a killed run (a kill -9 test) is removed by the next run in the same place
        self._work = scratch.WorkFolder(Path(workdir))
        self.folder = self._work.path
        self.blender_log = self.folder / "blender.log"
        self.scene: Scene | None = None
        self.built: list[Scene] = []
        self.seeds: list[int] = []
        self.settled: list[Scene] = []
        self.closed = False
        type(self).made.append(self)

    def _log(self, line: str) -> None:
        with open(self.blender_log, "a") as f:
            f.write(line + "\n")

    def settle(self, scene: Scene) -> tuple[dict[int, np.ndarray], dict]:
        """Every body rests where it starts."""
        self.settled.append(scene)
        by_id = {o.instance_id: o for o in scene.objects}
        bodies = scene.physics.bodies if scene.physics is not None else []
        return ({b.instance_id: np.array(by_id[b.instance_id].mesh_to_world, float) for b in bodies},
                {"steps": 0, "seconds": 0.0, "speed": 0.0, "at_rest": True})

    def build(self, scene: Scene) -> None:
        self.scene = scene
        self.built.append(scene)
        self._log(f"fake: built {len(scene.objects)} objects")

    def view(self, camera) -> None:
        self.scene = dataclasses.replace(self.scene, camera=camera)

    def render_to_files(self, seed: int = 0) -> FakeFrame:
        self.seeds.append(seed)
        self._log(f"fake: rendered with seed {seed}")
        return FakeFrame(passes_of(self.scene, self.settings.tone, self.settings.auto_exposure, self.keep_linear,
                                   self.light_groups))

    def close(self) -> None:
        self.closed = True
        self._work.cleanup()
