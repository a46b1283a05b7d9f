"""The frame loop: its stages, each a method called through the run's :class:`Hooks`, against
a :class:`~simgen.pipeline.renderer.Renderer` handed in from outside (no Blender here)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from functools import partial
from typing import Callable, Sequence

import numpy as np

from simgen.assets import Catalog, load_mesh
from simgen.assets.parts import parts_of
from simgen.config import Settings
from simgen.scene.data import Scene
from simgen.color.tone import WHITE, display
from simgen.imaging.effects import apply_effects, effects_enabled, effects_rngs
from simgen.io.dataset.layout import DatasetWriter
from simgen.io.dataset.runlog import RunLog
from simgen.io.formats.exporters import Exporter
from simgen.io.formats.shards import RangeWatch
from simgen.labels import FrameLabels, make_labels
from simgen.labels.kinds import LabelKind
from simgen.pipeline.active_stereo import ir_frame
from simgen.pipeline.concurrency import FramePool, Job, StopRequest, worker_count
from simgen.pipeline.events import EventRenders, FrameEvents
from simgen.pipeline.finish import library_info
from simgen.pipeline.frames import SequenceWindow, frame_position, group_by_sequence, make_sequence_scenes
from simgen.pipeline.lidar import make_scan, scan_frame, write_frame_scan
from simgen.pipeline.memory import RELEASE_EVERY, release_freed_memory
from simgen.pipeline.meta import FrameOutput, flow_between, frame_output
from simgen.pipeline.renderer import Passes, RenderedFrame, Renderer, StereoFrame
from simgen.pipeline.rolling import note_rolling, render_rolling, row_timing
from simgen.progress import Progress
from simgen.recipes import SHORTFALL, Recipe
from simgen.sampling.cloth import draped, dropped, has_cloth
from simgen.sampling.random import render_seed

log = logging.getLogger("simgen.pipeline")

STAGES = ("sample", "settle", "build", "render", "read", "labels", "flow", "write")
"""The stages of the frame loop, in order. Per sequence: ``sample`` (the recipe draws every
step's scene) and ``settle`` (scene.placement=physics only). Per rendered frame (a frame whose flow
needs a neighbour outside the run renders that neighbour too): ``build`` (the scene into
the renderer), ``render`` (Cycles, passes written to EXR files), ``read`` (the EXR files read
back) and ``labels`` (passes -> label maps). Per written frame: ``labels`` again
(annotations, optional label kinds, meta), ``flow`` (sequences only: forward and backward
flow computed and their files written) and ``write`` (the frame's other files, meta last).

``sample`` to ``render`` run on the calling thread (they drive Blender); with
``render.overlap`` (the default) ``read`` to ``write`` run on ``render.workers`` worker threads
(:class:`~simgen.pipeline.concurrency.FramePool`) while the next frames render (Cycles releases
the GIL while it renders; so do numpy, OpenColorIO and OpenCV for most of their work), and the
frames are completed (their meta files written) one by one in index order."""
PRODUCER_STAGES = ("sample", "settle", "build", "render")


class Hooks:
    """Callbacks into the frame loop, for timing, profiling or instrumenting a run without
    patching the pipeline: subclass and override, then ``run(settings, config, hooks)``.

    ``wrap(stage, fn)`` is called once per stage call with the function about to run and
    returns the function to run instead (the default runs it as it is); the stages of
    :data:`PRODUCER_STAGES` run on the thread that called :func:`run`, the others on the
    worker threads when ``render.overlap`` is on (several frames at once: a hook that keeps
    state must be thread-safe). ``frame_done(index, times)`` is called after each written
    frame, in index order, on one thread (the pool's committing thread) with the seconds of
    each stage spent on it (the work of sequence-level stages and of neighbour renders counts
    towards the frame written next); ``loop_started`` before the first stage of the loop with the loop (its ``backend``
    is the renderer, a Blender session in a real run) and the frames to render."""

    def wrap(self, stage: str, fn: Callable) -> Callable:
        return fn

    def loop_started(self, loop: FrameLoop, todo: list[int]) -> None:
        pass

    def frame_done(self, index: int, times: dict[str, float]) -> None:
        pass


class StageTimes(Hooks):
    """Hooks that keep every written frame's stage times: ``frames[i]`` is {stage: seconds}
    of the i-th written frame (see :meth:`Hooks.frame_done`)."""

    def __init__(self) -> None:
        self.frames: list[dict[str, float]] = []

    def frame_done(self, index: int, times: dict[str, float]) -> None:
        self.frames.append(times)


RIGHT_SEED = 0x52494748
"""XOR'ed into a frame's sampling seed for a stereo pair's right view (its own render noise)."""


@dataclass
class Rendered:
    """A rendered step on its way from the render thread to the worker."""

    window: SequenceWindow
    step: int
    files: RenderedFrame
    """The renderer's rendered frame (``load()`` -> raw passes)."""
    times: dict[str, float]
    """Seconds of the producer stages that led to it."""
    events: FrameEvents | None = None
    """sensor.events: the step's events (simgen.pipeline.events), rendered after it."""


class FrameLoop:
    """The stages of one run: each is a method, called through the run's hooks."""

    def __init__(self, *, settings: Settings, recipe: Recipe, catalog: Catalog, writer: DatasetWriter,
                 kinds: list[LabelKind], hooks: Hooks, run_log: RunLog | None = None,
                 backend: Renderer | None = None, flow_formats: Sequence[Exporter] = ()):
        self.settings, self.recipe, self.catalog, self.writer = settings, recipe, catalog, writer
        self.kinds, self.hooks, self.run_log = kinds, hooks, run_log
        self.flow_formats = list(flow_formats)
        """The flow formats of sequence.formats, resolved (simgen.io.formats.exporters.resolve)."""
        self.backend: Renderer | None = backend
        """The renderer the stages drive (given here or set before :meth:`run`)."""
        self.worker: FramePool | None = None
        self.progress: Progress | None = None
        self.dataset_info: dict | None = None
        """dataset.json's content: the claim (simgen.io.dataset.outdir) wrote it without the Blender
        version and device before the first frame; rewritten with them once the run's first
        frame is complete, and at the end of the run."""
        self.written_models: set[str] = set()
        self.library: dict[str, dict] = {}
        """The asset-library entries the frames of this run drew, by key (for dataset.json)."""
        self.rendered: list[int] = []
        self.unsettled = 0
        """Cloths of this loop still moving after their settling frames (objects.cloth_settle)."""
        self.short: list[int] = []
        """Frames of this loop whose scene could not hold all it drew (simgen.recipes.SHORTFALL)."""
        self.shards: RangeWatch | None = None
        """Builds the streaming formats' shards of a range once its frames are all on disk."""
        self._built: tuple | None = None  # (renderer, Scene.stage_key) of what the renderer holds
        self.steps: list[Scene] = []
        """The steps of the sequence being rendered (sensor.lidar_sectors: a turn from one step to the next)."""
        self._times = threading.local()  # per thread: {stage: seconds} not yet given to a frame
        self._models = threading.Lock()  # frames on several workers may share a model
        self.events = EventRenders(self) if settings.sensor.events else None
        """sensor.events: the renders of each frame interval's events (simgen.pipeline.events)."""
        self.rolling = row_timing(settings)
        """sensor.rolling_shutter_ms: when each row is exposed (frames render band by band); None: a global shutter."""

    def stage(self, name: str, fn: Callable, *args):
        """Run stage ``name`` through the hooks; its own time (not that of a hook's wrapper)
        goes to the frame it works for."""
        def timed(*a):
            t0 = time.perf_counter()
            try:
                return fn(*a)
            finally:
                times = self._pending_times()
                times[name] = times.get(name, 0.0) + time.perf_counter() - t0
        return self.hooks.wrap(name, timed)(*args)

    def _pending_times(self) -> dict[str, float]:
        if not hasattr(self._times, "d"):
            self._times.d = {}
        return self._times.d

    def _take_times(self) -> dict[str, float]:
        times, self._times.d = self._pending_times(), {}
        return times

    # ---------------------------------------------------------------- the stages
    def sample(self, sequence: int) -> list[Scene]:
        return make_sequence_scenes(self.recipe, self.settings, self.catalog, sequence)

    def settle(self, scenes: list[Scene]) -> list[Scene]:
        # Blender's operators with a context override (the rigid-body setup) are not safe while
        # another Python thread runs: one crashed (SIGSEGV) in a full test run. Only the render
        # call overlaps the worker.
        if self.worker is not None:
            self.worker.drain()
        poses, report = self.backend.settle(scenes[0])
        self._built = None  # what the renderer holds is not taken on trust after a simulation
        return [s.settled(poses, report) for s in scenes]

    def drape(self, scenes: list[Scene]) -> list[Scene]:
        """The sequence's cloths simulated together by the renderer (Blender's cloth solver) over its
        objects, where they rest and as they move: each step with each sheet where the simulation has it."""
        if self.worker is not None:
            self.worker.drain()  # as settle: no Blender evaluation while a worker thread runs
        scenes = dropped(scenes)  # over the objects where they rest (scene.placement=physics settled them)
        runs = self.backend.drape(scenes)
        self._built = None
        for o in scenes[0].objects:
            run = runs.get(o.instance_id)
            if run is not None and not run.settled and o.mesh.settle > 0:
                self.unsettled += 1
                (log.warning if self.unsettled == 1 else log.debug)(
                    "cloth %s still moves at %.3g m/s after its %d settling frames (objects.cloth_settle): the "
                    "first step shows it moving (the meta's params.cloth records it; later ones are logged at "
                    "debug level)", o.name, run.max_speed, o.mesh.settle)
        return draped(scenes, runs)

    def build(self, scene: Scene) -> None:
        """Build ``scene``, or only look at it through its camera where the renderer holds the same
        objects, lights and world already (a still scene's steps or views: it is built once)."""
        key = (id(self.backend), scene.stage_key())
        if key == self._built:
            self.backend.view(scene.camera)
        else:
            self.backend.build(scene)
            self._built = key

    def forget_built(self) -> None:
        """The renderer's scene is no longer what :meth:`build` last built (a rolling shutter's bands moved it)."""
        self._built = None

    def render_frame(self, index: int, scene: Scene | None = None) -> RenderedFrame:
        """Render the built scene; a stereo rig (``scene.right``) renders its right view too."""
        seed = render_seed(self.settings.seed, index)
        files = self.backend.render_to_files(seed=seed)
        if scene is not None and scene.right is not None:
            self.backend.view(scene.right)
            files = StereoFrame(files, self.backend.render_to_files(seed=seed ^ RIGHT_SEED))
        files = ir_frame(self, scene, files, seed)  # sensor.depth's active stereo: its infrared pair
        return scan_frame(self, index, scene, files, seed)  # sensor.lidar: the scanner's turn too

    def read(self, files: RenderedFrame) -> Passes:
        return files.load()

    def frame_labels(self, raw: Passes, scene: Scene) -> FrameLabels:
        category_of = {o.instance_id: o.category_id for o in scene.objects}
        parts = parts_of(scene)
        part_of, body_lut = parts.part_of, parts.body_lut  # links in the index pass; people's body parts
        labels = make_labels(raw, category_of, scene.camera.world_to_camera, scene.camera.K, scene.camera.lens,
                             part_of, body_lut)
        if scene.right is not None:
            labels.right = make_labels(raw["right"], category_of, scene.right.world_to_camera, scene.right.K,
                                       part_of=part_of, body_lut=body_lut)
        labels.ir = raw.get("ir")  # sensor.depth's active stereo (simgen.pipeline.active_stereo)
        return labels

    def frame_output(self, index: int, scenes: list[Scene], labels: dict[int, FrameLabels]) -> FrameOutput:
        """Annotations, the optional label kinds and the meta of frame ``index`` (flow: :meth:`flow`)."""
        step = frame_position(self.settings, index)[1]
        events = labels[step].extra.get("events")  # sensor.events: before its kind takes the array out
        out = frame_output(self.settings, self.catalog, self.kinds, index, scenes[step], labels[step])
        if isinstance(events, FrameEvents):
            out.meta.setdefault("sensor", {})["events"] = events.meta
        return out

    def flow(self, index: int, scenes: list[Scene], labels: dict[int, FrameLabels],
             keep: dict[str, np.ndarray] | None = None) -> dict[str, dict | None]:
        """Forward and backward flow of frame ``index``, written (and kept in ``keep`` by
        direction); the files by direction (None: the sequence has no frame there)."""
        q = self.settings.sequence
        step = frame_position(self.settings, index)[1]
        files: dict[str, dict | None] = {}
        for direction, other in (("forward", step + q.gap), ("backward", step - q.gap)):
            if not 0 <= other < q.length:
                files[direction] = None
                continue
            flow, valid = flow_between(scenes[step], labels[step], scenes[other], labels[other])
            files[direction] = self.writer.write_flow(index, direction, flow, valid, self.flow_formats)
            if keep is not None:
                keep[direction] = flow
        return files

    def write(self, out: FrameOutput) -> None:
        """The frame's new models and label files (its meta: :meth:`commit`). Camera effects (if any
        are on) change the RGB only, after every label is computed, and go into the meta."""
        linear, out.labels.linear = out.labels.linear, None  # needed here only: not kept in the window
        if effects_enabled(self.settings.effects):
            tone = self.settings.render.tone

            def develop(linear: np.ndarray, rgb: np.ndarray, view: int) -> tuple[np.ndarray, dict]:
                rngs = effects_rngs(self.settings.seed, out.meta["sequence"], out.index, view)
                return apply_effects(linear, rgb, self.settings.effects, rngs, out.meta["K"], out.flows,
                                     self.settings.sequence.gap, out.labels.depth,
                                     to_display=lambda x: display(x, tone), white=WHITE[tone])

            rgb, out.meta["effects"] = develop(linear, out.labels.rgb, 0)
            if "right" in out.labels.extra:  # the same draws (one camera model), its own noise
                out.labels.extra["right"] = develop(out.labels.right.linear, out.labels.extra["right"], 1)[0]
            out.labels = replace(out.labels, rgb=rgb)
        with self._models:
            self.library.update((e["key"], e) for e in out.meta.get("library", ()))
            for rel, mesh in out.models:
                if rel not in self.written_models:
                    self.writer.write_model(rel, load_mesh(mesh))
                    self.written_models.add(rel)
        self.writer.write_frame_files(out.index, out.labels, out.meta)

    # ---------------------------------------------------------------- the loop
    def prepare(self, item: Rendered) -> tuple[FrameLabels, dict[str, float]]:
        """A worker's part of a rendered step: its passes read and turned into label maps."""
        raw = self.stage("read", self.read, item.files)
        labels = self.stage("labels", self.frame_labels, raw, item.window.scenes[item.step])
        if "lidar" in raw:  # sensor.lidar: the scan's points (simgen.pipeline.lidar)
            labels.scan = self.stage("labels", make_scan, self, item.window.base + item.step,
                                     item.window.scenes[item.step], raw)
        if item.events is not None:  # the events kind (simgen.labels.sensors) takes them from here
            labels.extra["events"] = item.events
        return labels, self._take_times()

    def arrange(self, item: Rendered, prepared: tuple[FrameLabels, dict[str, float]]) -> list[Job]:
        """In render order: a step's labels join its sequence's window; a job for every frame
        that completes (each with the label maps it reads, so the window may forget them)."""
        labels, times = prepared
        w, k = item.window, item.step
        self._carry(item.times)
        self._carry(times)
        jobs: list[Job] = []
        for step in w.add(k, labels):
            needed = {s: w.labels[s] for s in (step, *w.partners(step))}
            jobs.append((w.base + step, partial(self.finish_frame, w.base + step, w.scenes, needed,
                                                self._take_times())))
        w.forget_before(k)
        return jobs

    def finish_frame(self, index: int, scenes: list[Scene], labels: dict[int, FrameLabels],
                     times: dict[str, float]) -> tuple[FrameOutput, dict[str, float]]:
        """A worker's part of a written frame: annotations, flow and every file but its meta."""
        self._carry(times)
        out = self.stage("labels", self.frame_output, index, scenes, labels)
        if self.rolling is not None:  # no flow: the rows have their own times
            note_rolling(out.meta, self.rolling, frame_position(self.settings, index)[1], self.settings)
        elif self.settings.sequence.length > 1:
            out.meta["flow"] = self.stage("flow", self.flow, index, scenes, labels, out.flows)
        self.stage("write", self.write, out)
        if out.labels.scan is not None:
            self.stage("write", write_frame_scan, self, out, out.labels.scan)
        return out, self._take_times()

    def commit(self, index: int, finished: tuple[FrameOutput, dict[str, float]]) -> None:
        """In index order: the frame's meta file (the frame is complete), then the run's records."""
        out, times = finished
        t0 = time.perf_counter()
        self.writer.commit_frame(out.index, out.meta)
        times["write"] = times.get("write", 0.0) + time.perf_counter() - t0
        if not self.rendered and self.dataset_info is not None:
            with self.writer.locked():  # the library entries earlier runs drew stay listed
                self.writer.write_dataset_json({**self.dataset_info, "frames": self.writer.frames_on_disk(),
                                                **library_info(self.writer.root)})
        self.rendered.append(index)
        if self.shards is not None:
            self.shards.frame_done(index)
        if self.run_log is not None:
            self.run_log.frame(index, times)
        if self.progress is not None:
            self.progress.update()
        self.hooks.frame_done(index, times)

    def _carry(self, times: dict[str, float]) -> None:
        """Add ``times`` to this thread's times not yet given to a frame."""
        pending = self._pending_times()
        for stage, seconds in times.items():
            pending[stage] = pending.get(stage, 0.0) + seconds

    def note_shortfall(self, base: int, steps: list[int], scenes: list[Scene]) -> None:
        """Count and log the frames ``base + k`` (``k`` in ``steps``) whose scene fell short."""
        frames = [base + k for k in steps if SHORTFALL in scenes[k].params]
        if frames:
            record = scenes[steps[0]].params[SHORTFALL]
            self.short += frames
            log.warning("frame(s) %s hold %d of at least %d objects: %s (recorded in the meta's params.%s)",
                        ", ".join(map(str, frames)), record["placed"], record["wanted"],
                        record["message"].partition("; ")[0], SHORTFALL)

    def run(self, todo: list[int], first: tuple[int, list[Scene]], stop: StopRequest | None = None) -> None:
        """Render ``todo``; with render.overlap the worker threads read, label and write frames
        while the next ones render. Returns (or raises) once every rendered frame is written;
        early once ``stop`` has a signal."""
        self.worker = worker = FramePool(self.prepare, self.arrange, self.commit, worker_count(self.settings.render))
        self.hooks.loop_started(self, todo)
        if self.run_log is not None:
            self.run_log.start()
        unreleased = 0  # frames rendered since the memory sampling freed was last given back
        try:
            for sequence, steps in group_by_sequence(self.settings, todo).items():
                scenes = first[1] if sequence == first[0] else self.stage("sample", self.sample, sequence)
                if scenes[0].physics is not None:  # scene.placement=physics: settle once, the objects stay put
                    scenes = self.stage("settle", self.settle, scenes)
                if has_cloth(scenes[0]):  # objects.cloth: dropped on them where they rest, then simulated on
                    scenes = self.stage("settle", self.drape, scenes)
                if unreleased >= RELEASE_EVERY:  # what drawing the sequence freed (simgen.pipeline.memory)
                    release_freed_memory()
                    unreleased = 0
                window = SequenceWindow(self.settings, sequence, steps, scenes)
                self.steps = scenes
                unreleased += len(window.needed)
                self.note_shortfall(window.base, steps, scenes)
                for k in window.needed:
                    if stop is not None and stop.check():
                        return  # the workers write what is rendered (finally)
                    if self.rolling is not None:  # band by band, each at its time (build and render stages)
                        files = render_rolling(self, window.base + k, scenes, k)
                    else:
                        self.stage("build", self.build, scenes[k])
                        files = self.stage("render", self.render_frame, window.base + k, scenes[k])
                    events = None
                    if self.events is not None and k in steps:  # the interval to the next step, rendered now
                        events = self.stage("render", self.events.frame, window, k)
                    worker.submit(Rendered(window, k, files, self._take_times(), events))
        finally:
            worker.close()  # what was rendered is written, failure or not; a worker error is raised here
