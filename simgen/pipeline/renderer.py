"""What the frame loop needs from a renderer, as protocols: the loop is written against
these, not against Blender. :class:`simgen.blender.BlenderBackend` is the renderer of a real
run (see :func:`simgen.pipeline.runner.blender_renderer`); a test can hand
:func:`simgen.pipeline.run` any other (``tests/fake_renderer.py`` draws passes from the
scene without bpy). Nothing here imports Blender."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from simgen.config import RenderConfig
from simgen.scene.cloth import ClothRun
from simgen.scene.data import Camera, Scene
from simgen.io.exr import RawPasses

Passes = RawPasses
"""A rendered frame's passes by name (:meth:`RenderedFrame.load`): what Cycles' EXR decodes to
(:class:`simgen.io.exr.RawPasses`, no Blender needed), any other renderer returns the same."""


class RenderedFrame(Protocol):
    """One rendered frame on its way to the worker thread (the Blender renderer's
    ``RenderedFiles``: EXR files in its scratch folder)."""

    def load(self, total_stops: float | None = None) -> Passes:
        """The frame's passes (the loop's ``read`` stage; may run on the worker thread while
        the next frame renders): ``rgb`` (H, W, 3) uint8, ``index`` (H, W) int32 instance
        ids (0: no hit), ``depth`` (H, W) float32 planar metres (inf: no hit), ``normal``
        (H, W, 3) float32 world-space (0: no hit), ``image`` (how rgb was exposed and tone
        mapped, :func:`simgen.color.tone.expose`), and ``linear`` (H, W, 3) float32, the exposed
        linear image, when the renderer was made with ``keep_linear``. ``total_stops``: expose
        the linear image by these stops instead of metering it (the right view of a stereo pair
        takes its left view's). Frees what the frame held (the Blender renderer deletes its EXR
        files)."""
        ...


@dataclass
class StereoFrame:
    """A stereo pair's two renders (:class:`RenderedFrame`; a rolling shutter's banded frames too): loaded, the
    left view's passes with the right view's as ``passes["right"]``, exposed as the left's (one
    rig meters once)."""

    left: RenderedFrame
    right: RenderedFrame

    def load(self, total_stops: float | None = None) -> Passes:
        passes = self.left.load(total_stops)
        passes["right"] = self.right.load(passes["image"]["total_stops"])
        return passes


class Renderer(Protocol):
    """A session that renders many scenes in turn, one at a time (the frame loop's
    ``backend``: ``settle``, ``build`` and ``render_to_files`` run on the loop's thread)."""

    blender_version: str
    """Recorded in dataset.json (``blender_version``)."""
    device: str
    """What renders, recorded in dataset.json (``device``): e.g. ``CPU`` or a GPU's name."""
    blender_log: Path
    """The renderer's own output of this session (kept in the dataset's logs/blender.log when
    it is a file)."""

    def settle(self, scene: Scene) -> tuple[dict[int, np.ndarray], dict]:
        """scene.placement=physics: the resting poses of ``scene.physics``' bodies (instance id ->
        mesh_to_world) and a report (steps, seconds, speed, at_rest); see
        :meth:`simgen.scene.data.Scene.settled`."""
        ...

    def drape(self, scenes: list[Scene]) -> dict[int, ClothRun]:
        """objects.cloth: the cloths of a sequence (its steps ``scenes``; by instance id) simulated
        together (each colliding with the others) over its objects for their settling frames, then a
        frame a step
        (:class:`simgen.scene.cloth.ClothRun`; the steps then take its vertices:
        :func:`simgen.sampling.cloth.draped`)."""
        ...

    def build(self, scene: Scene) -> None:
        """Replace whatever the previous frame built with ``scene``."""
        ...

    def view(self, camera: Camera) -> None:
        """Look at the built scene through ``camera`` instead (camera.rig=stereo: the right
        camera, after the left view rendered); the next :meth:`build` replaces it."""
        ...

    def render_to_files(self, seed: int = 0) -> RenderedFrame:
        """Render the built scene with sampling seed ``seed``; the passes are read later
        (:meth:`RenderedFrame.load`), possibly on another thread."""
        ...

    def close(self) -> None:
        """End the session and free what it holds (its scratch files too)."""
        ...


class RendererFactory(Protocol):
    """Makes the run's renderer once the input is known good (``simgen.pipeline.run``'s
    ``make_renderer``). A factory a run with ``render.recycle_every`` hands to its batches
    must pickle (a module-level function or class)."""

    def __call__(self, render: RenderConfig, workdir: Path, *, scratch_need: int, keep_linear: bool,
                 light_groups: bool = False) -> Renderer:
        """``workdir``: the folder to make a scratch folder in (chosen by free space);
        ``scratch_need``: the bytes the renders in flight need there (for the error when it is
        full); ``keep_linear``: passes also hold ``linear`` (the camera effects are
        on, or output.labels has linear); ``light_groups`` (passed only when output.labels has
        lights, so a factory without it still serves every other run): passes also hold
        ``lights``."""
        ...
