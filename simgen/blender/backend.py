"""Turns a :class:`simgen.scene.data.Scene` into Blender data, renders it with Cycles and
returns the raw passes as numpy arrays.

:class:`BlenderBackend` holds one Blender session and composes the modules of this package:
:mod:`~simgen.blender.session` (settings, device, Blender's output),
:mod:`~simgen.blender.datablocks` (meshes, images and own materials made once per file),
:mod:`~simgen.blender.objects` with :mod:`~simgen.blender.materials` (a frame's objects and
lights), :mod:`~simgen.blender.camera`, :mod:`~simgen.blender.world`,
:mod:`~simgen.blender.physics` and :mod:`~simgen.blender.render`; reading the render back
needs no Blender (:mod:`simgen.io.exr`).

Scenes are built through ``bpy.data`` (no ``bpy.ops`` in the frame loop). Meshes are
converted once per asset file and reused; everything a frame creates (objects,
materials, lights) is removed before the next frame, so memory stays flat over long runs.
An environment's parts (scene=environment) are the exception: their objects stay from frame to
frame, changed only where a frame differs.
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from simgen.errors import SimgenError
from simgen.blender import camera, cloth, lens_camera, objects, physics, render, session, world
from simgen.blender.datablocks import Datablocks
from simgen.blender.session import BlenderLog, pick_gpus
from simgen.assets.parts import parts_of
from simgen.config import RenderConfig
from simgen.optics.lens import Lens
from simgen.scene.cloth import ClothRun
from simgen.scene.meshes import ClothMesh, EnvironmentMesh
from simgen.color.ocio import view_processor
from simgen.scene.data import Camera, Scene
from simgen.color.tone import VIEWS
from simgen.io import scratch
from simgen.io.exr import RawPasses, RenderedFiles, read_linear, read_passes

# RawPasses ... read_passes: names this module held before the Blender layer was split by concern,
# still importable from here
__all__ = ["BlenderBackend", "RawPasses", "RenderedFiles", "pick_gpus", "read_linear", "read_passes"]

LAMP_BLOCK = 8
"""Lamps are made this many at a time (objects.keep_light), the ones no frame needs yet dark (a
dark lamp changes no pixel): with persistent data, lamps made after a frame rendered have Cycles
sync its scene anew, which the bundled lighting (at most 5 lamps a frame) then never needs."""


class BlenderBackend:
    """One Blender session configured for Cycles; renders many scenes in turn."""

    def __init__(self, settings: RenderConfig, workdir: str | Path | None = None, quiet: bool = True):
        """``workdir``: the folder to make the work folder in (simgen.io.scratch.choose picks
        one by free space when None)."""
        self.settings = settings
        self.quiet = quiet
        self.scratch_need = scratch.need_bytes(settings.width, settings.height, workers=0)  # one render at a time; the pipeline sets its own
        base = Path(workdir) if workdir else scratch.choose(self.scratch_need, settings.scratch_dir, None).folder
        self._work = scratch.WorkFolder(base)
        self.tmpdir = self._work.path
        self.blender_log = self.tmpdir / "blender.log"
        self._log = BlenderLog(self.blender_log, quiet)
        self._blocks = Datablocks(settings.max_image_pixels, self.tmpdir, self._log)
        self._frame_ids: list = []  # datablocks created for the current scene
        self._kept: dict = {}  # objects of environment parts, kept from frame to frame
        self._lamps: list = []  # the lamps' objects, kept from frame to frame (objects.keep_light)
        self._exposure = 0.0  # stops, of the built scene's camera
        self._renders = 0  # EXR files written, for their names
        self.keep_linear = False  # renders also return the exposed linear image (camera effects)
        self.light_groups = False  # renders also return each light's share of it (the lights label)
        self.scene = session.factory_scene(self._log)
        session.setup_scene(self.scene, settings)
        view_processor(VIEWS[settings.tone])  # the tone's colour management, made (or refused) before any render
        self.device = session.setup_device(self.scene, settings.device, settings.device_index, self._log)
        # OpenImageDenoise on the render's GPU (Blender: on the CPU)
        self.scene.cycles.denoising_use_gpu = self.device != "CPU"
        self.scene.render.use_persistent_data = settings.persistent_data
        self.blender_version: str = bpy.app.version_string
        self._camera = camera.new_camera(self.scene)
        # Cycles syncs (and lays out) the objects of these collections in this order: the lamps
        # first (objects.keep_light), then the kept objects, so that a frame's objects never move
        # the kept ones' triangles (objects.anchor)
        self._lamp_objects, self._kept_objects, self._frame_objects = (
            bpy.data.collections.new(name) for name in ("lamps", "kept", "frame"))
        for c in (self._lamp_objects, self._kept_objects, self._frame_objects):
            self.scene.collection.children.link(c)
        self._lens: Lens | None = None  # the built scene's real lens
        self._world = bpy.data.worlds.new("simgen_world")
        self.scene.world = self._world

    def configure_sampling(self, r: RenderConfig) -> None:
        """Samples, adaptive sampling, light-path clamping and the denoiser of ``r`` (all of
        them touch the Combined pass only: the label passes keep the first sample)."""
        session.configure_sampling(self.scene, r)

    # ------------------------------------------------------------------ scene
    def build(self, scene: Scene) -> None:
        """Replace whatever the previous frame built with ``scene``."""
        self.clear()
        scene.validate()
        self._drawn: list = []  # the Blender object of each drawn part, in order (for move)
        coll = self._frame_objects
        drawn = parts_of(scene).drawn  # an articulated object as its links, each with its own part id
        self._blocks.drop_generated({o.mesh for o in drawn})
        kept = set()
        for o in drawn:
            if isinstance(o.mesh, EnvironmentMesh) and o.material.own is not None:  # a part as the file has it: kept
                kept.add(key := objects.keep_object(self._kept_objects, o, self._blocks, self._kept))
                self._drawn.append(self._kept[key])
            else:
                objects.add_object(coll, o, self._blocks, self._frame_ids)
                self._drawn.append(self._frame_ids[-1])
        if self.scene.render.use_persistent_data:  # Cycles keeps its scene: each kept mesh an instance
            for key in list(kept):
                if (key[0], None) not in self._kept:
                    self._kept[(key[0], None)] = objects.anchor(self._kept_objects, self._kept[key])
            kept |= {(mesh, None) for mesh, _ in kept}
        for key in set(self._kept) - kept:
            objects.remove([self._kept.pop(key)])
        if self.light_groups:
            session.use_light_groups(self.scene, len(scene.lights))
        lights = list(scene.lights)
        lamps = len(self._lamps)
        if len(lights) > lamps:  # new lamps, dark until a frame needs them: a whole block of them
            lamps = -(-len(lights) // LAMP_BLOCK) * LAMP_BLOCK
            if self.scene.render.use_persistent_data:
                # a lamp made now would come after the world's light in Cycles' kept scene (Cycles
                # syncs the world's light after the objects), where a scene synced anew lists it before
                session.sync_anew(self.scene)
        for i, light in enumerate(lights + [None] * (lamps - len(lights))):
            objects.keep_light(self._lamp_objects, i, light, self._lamps,
                               session.light_group(i) if self.light_groups and light else "")
        self.view(scene.camera)
        r = self.scene.render
        if scene.world.kind == "file":  # the environment file's own world shader, as it is
            bw = self._blocks.world(Path(scene.world.file))
        else:
            bw = self._world
            world.set_world(bw, scene.world, self._blocks.image, r.resolution_x / r.resolution_y)
        if self.scene.world != bw:
            self.scene.world = bw
        group = session.WORLD_GROUP if self.light_groups else ""
        if bw.lightgroup != group:  # an unchanged world is not synced again
            bw.lightgroup = group

    def view(self, cam: Camera) -> None:
        """Look at the built scene through ``cam`` (the scene stays as it is)."""
        r = self.scene.render
        if cam.lens is None:
            camera.set_camera(self._camera, cam, (r.resolution_x, r.resolution_y), self.settings.exact_labels,
                              self.settings.filter_width)
        else:
            if self.device not in lens_camera.DEVICES:
                raise SimgenError(f"camera.calibration renders through an OSL camera shader, which Cycles runs on the "
                                  f"CPU and with OptiX only, not with {self.device}: use render.device=optix (NVIDIA) "
                                  "or render.device=cpu")
            lens_camera.set_lens_camera(self._camera, cam.lens, cam.camera_to_world, (cam.clip_start, cam.clip_end),
                                        self.settings.exact_labels, self.settings.filter_width)
        self._lens = cam.lens
        self._exposure = float(cam.exposure)

    def move(self, scene: Scene) -> None:
        """Put the built scene's parts, lights and camera where ``scene`` has them, nothing else changed:
        ``scene`` must be the built one but for those poses (a rolling shutter's bands,
        :mod:`simgen.sensors.rolling_shutter`); Cycles, keeping its scene, then moves them only."""
        drawn = parts_of(scene).drawn
        if len(drawn) != len(self._drawn) or len(scene.lights) > len(self._lamps):
            raise ValueError("move: the scene is not the built one but for its poses")
        for ob, o in zip(self._drawn, drawn):
            ob.matrix_world = Matrix(o.mesh_to_world.tolist())
        for lamp, light in zip(self._lamps, scene.lights):
            lamp.matrix_world = Matrix(light.light_to_world.tolist())
        self.view(scene.camera)

    def clear(self) -> None:
        """Remove every datablock the last :meth:`build` created (meshes stay cached)."""
        objects.remove(self._frame_ids)
        self._frame_ids.clear()

    # ---------------------------------------------------------------- physics
    def settle(self, scene: Scene) -> tuple[dict[int, np.ndarray], dict]:
        """The resting poses of ``scene.physics``'s bodies and a report
        (:func:`simgen.blender.physics.settle`); the built scene is left as it is."""
        return physics.settle(scene, self._blocks.mesh, self._log)

    def drape(self, scenes: list[Scene]) -> dict[int, ClothRun]:
        """The cloths of a sequence (its steps ``scenes``) simulated together by Blender's cloth solver
        (:func:`simgen.blender.cloth.simulate_together`: each collides with the others) over every other
        drawn object, moving as they move (:func:`simgen.sampling.cloth.colliders`), for their settling
        frames and a frame a step; by instance id. The built scene is left as it is."""
        from simgen.sampling.cloth import CLOTH_FPS, REST_SPEED, colliders

        cloths = [o for o in scenes[0].objects if isinstance(o.mesh, ClothMesh)]
        if not cloths:
            return {}
        settle = {o.mesh.settle for o in cloths}
        if len(settle) > 1:
            raise SimgenError(f"cloths of one scene settle for {sorted(settle)} frames: simulated together, they "
                              "must share one number (objects.cloth_settle)")
        with self._log():
            runs = cloth.simulate_together([(o.mesh.cloth, o.mesh_to_world) for o in cloths], colliders(scenes),
                                           len(scenes), settle.pop(), fps=CLOTH_FPS, ground=None,
                                           rest_speed=REST_SPEED)
        return {o.instance_id: run for o, run in zip(cloths, runs)}

    # ----------------------------------------------------------------- render
    def render_passes(self, seed: int = 0) -> RawPasses:
        """Render the built scene; return its passes (see :class:`RawPasses`)."""
        return self.render_to_files(seed).load()

    def render_to_files(self, seed: int = 0) -> RenderedFiles:
        """Render the built scene into EXR files of their own; reading them back (the
        returned :meth:`RenderedFiles.load`) needs no bpy, so another thread can do it while
        the next frame renders.

        With depth of field on, the labels come from a second render of one sample without
        it (a pinhole camera, as K says); the RGB keeps the blur."""
        tone = dict(tone=self.settings.tone, auto_exposure=self.settings.auto_exposure, keep_linear=self.keep_linear)
        tone["scratch_need"] = self.scratch_need
        if self._lens is not None:  # Cycles' Depth through the lens is each ray's length
            tone["depth_per_distance"] = lens_camera.depth_per_distance(self._lens)
        files = RenderedFiles(self._render_exr(seed), exposure=self._exposure, **tone)
        if not self._camera.data.dof.use_dof:
            return files
        with render.sharp(self.scene, self._camera):
            sharp = self._render_exr(seed)
        return RenderedFiles(sharp, exposure=self._exposure, rgb_from=files.exr, **tone)

    def render_band_to_files(self, seed: int, rows: tuple[int, int]) -> RenderedFiles:
        """:meth:`render_to_files` of image rows ``[first, end)`` only (row 0 at the top): its files
        hold those rows (a rolling shutter's band, :mod:`simgen.sensors.rolling_shutter`)."""
        with render.border(self.scene, rows):
            return self.render_to_files(seed)

    def _render_exr(self, seed: int) -> Path:
        self._renders += 1
        exr = self.tmpdir / f"passes-{self._renders:06d}.exr"
        return render.render_exr(self.scene, exr, seed, self.scratch_need, self._log)

    def render_scan(self, scanner, rpm: float, scanner_to_world: np.ndarray, seed: int = 0,
                    sector: tuple[int, int] | None = None):
        """sensor.lidar: render one turn of ``scanner`` (:class:`simgen.sensors.lidar.Scanner`) at
        ``rpm`` from ``scanner_to_world`` in the built scene (:mod:`simgen.blender.lidar_camera`), or its
        columns ``sector`` (``[first, end)``) only; reading it back (the returned ``load()``) needs no bpy."""
        from simgen.blender import lidar_camera

        if self.device not in lens_camera.DEVICES:
            raise SimgenError(f"sensor.lidar renders through an OSL camera shader, which Cycles runs on the CPU "
                              f"and with OptiX only, not with {self.device}: use render.device=optix (NVIDIA) "
                              "or render.device=cpu")
        self._renders += 1
        exr = self.tmpdir / f"scan-{self._renders:06d}.exr"
        return lidar_camera.render_scan(self.scene, scanner, rpm, scanner_to_world, exr, seed,
                                        self.settings.exact_labels, self.scratch_need, self._log, sector)

    def render_ir(self, left: Camera, right: Camera, projector_to_world: np.ndarray, dot_pitch: float, seed: int = 0):
        """sensor.depth's active stereo: the built scene lit by a dot projector at ``projector_to_world`` alone,
        rendered through ``left`` and ``right`` (:mod:`simgen.blender.projector`); reading it back (the
        returned ``load()``) needs no bpy. The scene's camera looks through ``left`` afterwards."""
        from simgen.blender import projector

        self._renders += 1
        exrs = (self.tmpdir / f"ir-left-{self._renders:06d}.exr", self.tmpdir / f"ir-right-{self._renders:06d}.exr")
        return projector.render_pair(self.scene, self._lamps, lambda: self.view(left), lambda: self.view(right),
                                     projector_to_world, dot_pitch, exrs, seed, self.scratch_need, self._log)

    def render_bare(self, seed: int = 0) -> float:
        """Render Combined only, write nothing, read nothing back; return seconds taken.

        The baseline of ``scripts/bench.py``: what Cycles alone costs for the built scene.
        """
        return render.render_bare(self.scene, seed, self._log)

    def close(self) -> None:
        self.clear()
        objects.remove([*self._kept.values(), *self._lamps, *(ob.data for ob in self._lamps)])
        self._kept.clear()
        self._lamps.clear()
        if self._blocks.images:
            world.release_images(self._world)
        self._blocks.close()
        self._work.cleanup()
