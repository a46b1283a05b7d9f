"""The frame loop: recipe -> renderer -> labels -> writers, for frames start..start+frames-1.

A module per concern, lowest first (each imports only those above it in this list):

- ``renderer``: what the loop needs from a renderer (:class:`Renderer`, a protocol; the
  Blender session is one, a test's fake another); imports no Blender.
- ``frames``: the asset catalog, which frames a run or shard renders, the scenes of a
  sequence, and which steps to render so that every flow has its neighbour.
- ``meta``: what is written for a frame besides pixels: annotations, label kinds, flow, meta.
- ``concurrency``: the worker threads and the signals handled between frames.
- ``loop``: :class:`FrameLoop`, its stages (:data:`STAGES`) and :class:`Hooks`.
- ``batches``: render.recycle_every, batches of frames in fresh processes.
- ``finish``: the end of a run: index, exports and dataset.json from the frames on disk.
- ``runner``: :func:`run`, from the checks of the input to the summary.
"""

from simgen.pipeline.concurrency import FramePool, StopRequest, worker_count
from simgen.pipeline.finish import finish_dataset, keep_log, unless_full
from simgen.compose.settings import catalog_for
from simgen.pipeline.frames import (SequenceWindow, frame_position, make_frame_scene, make_sequence_scenes,
                                    shard_frames)
from simgen.pipeline.loop import PRODUCER_STAGES, STAGES, FrameLoop, Hooks, Rendered, StageTimes
from simgen.pipeline.meta import FrameOutput, flow_between, frame_meta, model_relpath
from simgen.pipeline.renderer import Passes, RenderedFrame, Renderer, RendererFactory
from simgen.pipeline.runner import RunSummary, blender_renderer, run
from simgen.recipes import load_recipe

__all__ = [
    "FramePool", "PRODUCER_STAGES", "STAGES", "FrameLoop", "FrameOutput", "Hooks", "Passes", "RenderedFrame", "Renderer",
    "RendererFactory", "Rendered", "RunSummary", "SequenceWindow", "StageTimes", "StopRequest",
    "blender_renderer", "catalog_for", "finish_dataset", "flow_between", "frame_meta", "frame_position", "keep_log",
    "load_recipe", "make_frame_scene", "make_sequence_scenes", "model_relpath", "run", "shard_frames",
    "unless_full", "worker_count",
]
