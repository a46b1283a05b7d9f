"""The frame loop: recipe -> Blender -> labels -> writers, for frames start..start+frames-1."""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import queue
import re
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

import simgen
from simgen import Interrupted, SimgenError
from simgen.assets.library import entries_of
from simgen.assets import BUNDLED_CATALOGS, Catalog, build_catalog, load_mesh, validate_catalog
from simgen.config import Settings
from simgen.core.scene import Scene
from simgen.core.splits import frame_split
from simgen.imaging import apply_effects, effects_enabled, effects_rngs
from simgen.io.coco_index import CocoIndex
from simgen.io.dataset import DatasetWriter, config_fingerprint, frames_on_disk
from simgen.io.outdir import claim, local_locks, no_space
from simgen.io.exporters import resolve as resolve_formats
from simgen.io import scratch
from simgen.io.runlog import RunLog, describe
from simgen.labels import FrameLabels, annotation_id, coco_annotations, coco_image, make_labels
from simgen.labels.flow import flow_validity, object_motions, rigid_flow
from simgen.labels.kinds import FrameContext, LabelKind, resolve
from simgen.procs import safe_path_children
from simgen.progress import Progress
from simgen.recipes import Recipe, load_recipe
from simgen.sampling.classes import check_balance
from simgen.sampling.materials import OWN_STREAM, PBR_STREAM, with_own_appearance, with_pbr
from simgen.sampling.random import frame_rng, render_seed, stream_rng
from simgen.tone import WHITE, display

log = logging.getLogger(__name__)

@dataclass
class RunSummary:
    out_dir: Path
    rendered: list[int]
    skipped: list[int]
    frames_on_disk: int
    annotations: int
    images: int
    category_counts: dict[str, int]
    """Visible annotated objects per category over every frame on disk: the achieved class balance."""


def catalog_for(settings: Settings) -> Catalog:
    o = settings.objects
    path = BUNDLED_CATALOGS.get(o.catalog, o.catalog)
    catalog = build_catalog(catalog=path, dirs=o.dirs, dir_scale=o.dir_scale)
    if not catalog.assets:
        raise SimgenError("the asset catalog has no meshes; check objects.catalog and objects.dirs")
    validate_catalog(catalog, settings.render.max_image_pixels)
    check_balance(catalog, o.weights, o.min_per_frame, o.max_per_frame, o.count)
    return catalog


def frame_position(settings: Settings, index: int) -> tuple[int, int]:
    """(sequence, step) of frame ``index``: frame i is step i % L of sequence i // L."""
    return divmod(index, settings.sequence.length)


def shard_frames(settings: Settings) -> list[int]:
    """The frames of ``start..start+frames-1`` that shard ``shard.index`` of ``shard.count``
    renders: the sequences those frames touch, cut into ``count`` contiguous runs of
    near-equal length (whole sequences, so no shard renders another's frames for its flow).
    Shards are disjoint and together cover every frame; a frame is the same whichever
    shard renders it, since it is a function of (config, seed, index) only."""
    first, last = settings.start, settings.start + settings.frames - 1
    length, (count, index) = settings.sequence.length, (settings.shard.count, settings.shard.index)
    s0, s1 = first // length, last // length
    n = s1 - s0 + 1
    lo, hi = s0 + index * n // count, s0 + (index + 1) * n // count  # sequences lo .. hi-1
    return list(range(max(first, lo * length), min(last + 1, hi * length)))


def make_sequence_scenes(recipe: Recipe, settings: Settings, catalog: Catalog, sequence: int) -> list[Scene]:
    """Every step of one sequence: a pure function of (settings, seed, sequence).

    With sequence.length 1 a sequence is a single frame and its index is the frame's.
    """
    scenes = recipe.make_sequence(settings, catalog, frame_rng(settings.seed, sequence), settings.sequence.length)
    scenes = with_own_appearance(scenes, settings.materials, stream_rng(settings.seed, sequence, OWN_STREAM))
    scenes = with_pbr(scenes, settings.materials, stream_rng(settings.seed, sequence, PBR_STREAM))
    for scene in scenes:
        scene.validate()
    return scenes


def make_frame_scene(recipe: Recipe, settings: Settings, catalog: Catalog, index: int) -> Scene:
    """Frame ``index``'s scene: a pure function of (settings, seed, index)."""
    sequence, step = frame_position(settings, index)
    return make_sequence_scenes(recipe, settings, catalog, sequence)[step]


def _mat(a: np.ndarray) -> list:
    return np.asarray(a, float).tolist()


def model_relpath(obj_asset_id: str, mesh_path: Path) -> str:
    return f"models/{obj_asset_id or 'stuff/' + Path(mesh_path).stem}.ply"


def frame_meta(scene: Scene, settings: Settings, catalog: Catalog, index: int, annotations: list[dict],
               flow: dict[str, dict[str, str] | None] | None = None) -> dict:
    """Everything about a frame that is not pixels: camera, objects, lights, draws, COCO records."""
    cam = scene.camera
    names = {c.id: c.name for c in catalog.categories}
    sequence, step = frame_position(settings, index)
    split = frame_split(settings.seed, index, sequence, settings.output.splits, settings.output.split_by)
    meta = {
        "index": index,
        "seed": settings.seed,
        "sequence": sequence,
        "step": step,
        "split": split,
        "sequence_length": settings.sequence.length,
        "flow": flow or {},
        "width": cam.width,
        "height": cam.height,
        "K": _mat(cam.K),
        "world_to_camera": _mat(cam.world_to_camera),
        "clip_start": cam.clip_start,
        "clip_end": cam.clip_end,
        "objects": [{
            "name": o.name,
            "instance_id": o.instance_id,
            "category_id": o.category_id,
            "category": names.get(o.category_id, ""),
            "asset": o.asset_id,
            "mesh": model_relpath(o.asset_id, o.mesh_path),
            "mesh_to_world": _mat(o.mesh_to_world),
            "material": o.material.to_dict(),
        } for o in scene.objects],
        "lights": [{"kind": li.kind, "light_to_world": _mat(li.light_to_world), "power": li.power,
                    "color": list(li.color), "size": li.size, "spot_angle": li.spot_angle} for li in scene.lights],
        "world": scene.world.to_dict(),
        "params": scene.params,
        "coco": {"image": coco_image(index, cam.width, cam.height, f"images/{index:06d}.png", split),
                 "annotations": annotations},
    }
    library = entries_of(scene.files())
    if library:  # the asset-library entries (simgen fetch) the frame drew: source, id, version, licence
        meta["library"] = library
    return meta


def flow_between(scene: Scene, labels: FrameLabels, other: Scene, other_labels: FrameLabels):
    """Flow of ``scene``'s frame towards ``other``'s, and its validity (see simgen.labels.flow)."""
    motions = object_motions(*[[{"instance_id": o.instance_id, "mesh_to_world": o.mesh_to_world}
                                for o in s.objects] for s in (scene, other)])
    flow, z_other, in_view = rigid_flow(labels.depth, labels.instance, scene.camera.K,
                                        scene.camera.world_to_camera, other.camera.K,
                                        other.camera.world_to_camera, motions)
    valid = flow_validity(flow, z_other, in_view, labels.instance, other_labels.depth, other_labels.instance)
    return flow, valid


def _group_by_sequence(settings: Settings, indices: list[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for i in indices:
        sequence, step = frame_position(settings, i)
        groups.setdefault(sequence, []).append(step)
    return groups


STAGES = ("sample", "settle", "build", "render", "read", "labels", "flow", "write")
"""The stages of the frame loop, in order. Per sequence: ``sample`` (the recipe draws every
step's scene) and ``settle`` (placement=physics only). Per rendered frame (a frame whose flow
needs a neighbour outside the run renders that neighbour too): ``build`` (the scene into
Blender), ``render`` (Cycles, passes written to EXR files), ``read`` (the EXR files read
back) and ``labels`` (passes -> label maps). Per written frame: ``labels`` again
(annotations, optional label kinds, meta), ``flow`` (sequences only: forward and backward
flow computed and their files written) and ``write`` (the frame's other files, meta last).

``sample`` to ``render`` run on the calling thread (they drive Blender); with
``render.overlap`` (the default) ``read`` to ``write`` run on a worker thread, frame i's
while frame i+1 renders (Cycles releases the GIL while it renders)."""
PRODUCER_STAGES = ("sample", "settle", "build", "render")


class Hooks:
    """Callbacks into the frame loop, for timing, profiling or instrumenting a run without
    patching the pipeline: subclass and override, then ``run(settings, config, hooks)``.

    ``wrap(stage, fn)`` is called once per stage call with the function about to run and
    returns the function to run instead (the default runs it as it is); the stages of
    :data:`PRODUCER_STAGES` run on the thread that called :func:`run`, the others on the
    worker thread when ``render.overlap`` is on. ``frame_done(index, times)`` is called after
    each written frame (on the worker thread) with the seconds of each stage spent on it (the
    work of sequence-level stages and of neighbour renders counts towards the frame written
    next); ``loop_started`` before the first stage of the loop with the loop (its ``backend``
    is the Blender session) and the frames to render."""

    def wrap(self, stage: str, fn: Callable) -> Callable:
        return fn

    def loop_started(self, loop: "FrameLoop", todo: list[int]) -> None:
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


@dataclass
class FrameOutput:
    """Everything written for one frame, made by the ``labels`` stage."""

    index: int
    labels: FrameLabels
    meta: dict
    models: list[tuple[str, Path]]
    flows: dict[str, np.ndarray] = field(default_factory=dict)
    """Sequences: the frame's forward and backward flow ((H, W, 2)), for motion blur."""


class SequenceWindow:
    """Which steps of a sequence to render for the requested ``steps``, and when each
    requested step can be written.

    Steps are rendered in order and a frame is written as soon as the frames its flow
    looks at are rendered; only that window of label maps is held in memory. A frame
    whose neighbour lies outside the requested steps (a shard boundary) renders that
    neighbour too, so it comes out the same as in a full run.
    """

    def __init__(self, settings: Settings, sequence: int, steps: list[int], scenes: list[Scene]):
        self.length, self.gap = settings.sequence.length, settings.sequence.gap
        self.base, self.scenes = sequence * self.length, scenes
        self.needed = sorted(set(steps).union(*(self.partners(k) for k in steps)))
        self.pending = sorted(steps)
        self.labels: dict[int, FrameLabels] = {}

    def partners(self, k: int) -> list[int]:
        return [o for o in (k - self.gap, k + self.gap) if self.length > 1 and 0 <= o < self.length]

    def add(self, k: int, labels: FrameLabels) -> list[int]:
        """Step ``k``'s labels are in: the steps that can be written now, in order."""
        self.labels[k] = labels
        ready = []
        while self.pending and all(o in self.labels for o in [self.pending[0], *self.partners(self.pending[0])]):
            ready.append(self.pending.pop(0))
        return ready

    def forget_before(self, k: int) -> None:
        """Drop the label maps no frame still to be written needs (after step ``k``'s writes)."""
        keep_from = min(self.pending[0] if self.pending else k, k) - self.gap
        for old in [j for j in self.labels if j < keep_from]:
            del self.labels[old]


@dataclass
class Rendered:
    """A rendered step on its way from the render thread to the worker."""

    window: SequenceWindow
    step: int
    files: Any
    """The backend's rendered files (``load()`` -> raw passes)."""
    times: dict[str, float]
    """Seconds of the producer stages that led to it."""


class Worker:
    """Runs ``consume(item)`` for each submitted item, in order, on one thread, with at most
    ``depth`` items waiting (memory stays bounded: each holds one frame's EXR files); or
    right away on the calling thread when ``threaded`` is false.

    An exception in ``consume`` stops the worker; the next :meth:`submit` or :meth:`close`
    raises it on the calling thread. :meth:`close` waits until every submitted item is
    consumed, so frames rendered before a failure of the producer are still written."""

    STOP = object()

    def __init__(self, consume: Callable[[Any], None], threaded: bool = True, depth: int = 1):
        self.consume, self.threaded = consume, threaded
        self.error: BaseException | None = None
        if threaded:
            self.queue: queue.Queue = queue.Queue(maxsize=depth)
            self.thread = threading.Thread(target=self._loop, name="simgen-worker", daemon=True)
            self.thread.start()

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is self.STOP:
                    return
                if self.error is None:  # after a failure, drain without working
                    self.consume(item)
            except BaseException as e:  # re-raised on the producer's thread
                self.error = e
            finally:
                self.queue.task_done()

    def drain(self) -> None:
        """Wait until every submitted item is consumed (e.g. to time something alone)."""
        if self.threaded:
            self.queue.join()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def submit(self, item: Any) -> None:
        if not self.threaded:
            self.consume(item)
            return
        while True:
            self._raise()
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        if self.threaded:
            self.queue.put(self.STOP)
            self.thread.join()
        self._raise()


class StopRequest:
    """Signals during the frame loop (on the main thread), handled between frames.

    The first SIGINT or SIGTERM (what Slurm sends before preemption) asks the loop to stop
    after the frame being rendered; the handler that was there before comes back at once,
    so a second one stops the run the usual way. A signal that someone else already handles
    in Python (e.g. submitit's SIGUSR2, which requeues a Slurm job and exits) is held until
    the loop is between frames and then handed to that handler: run inside a Blender call,
    an exit it raises would end the process on the spot, without writing the frames already
    rendered; between frames, it unwinds the loop, which writes them."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
    DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}

    def __init__(self, event: Any = None) -> None:
        self.signum: int | None = None
        self.event = event
        """Set by the process that started this one (render.recycle_every): stop as on SIGTERM."""
        self.pending: list[int] = []
        self._old: dict[int, Any] = {}  # the handlers to restore
        self._held: dict[int, Any] = {}  # the handlers held signals are handed to

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                old = signal.getsignal(sig)
                if old is self.DEFAULTS.get(sig):
                    self._old[sig] = signal.signal(sig, self._stop)
                elif callable(old):
                    self._old[sig] = self._held[sig] = signal.signal(sig, self._hold)
        return self

    def _stop(self, signum: int, frame: Any) -> None:
        self.signum = signum
        signal.signal(signum, self._old.pop(signum))
        name = signal.Signals(signum).name
        log.warning("%s received: stopping once the frames already rendered are written (%s again: at once)",
                    name, name)

    def _hold(self, signum: int, frame: Any) -> None:
        self.pending.append(signum)

    def check(self) -> bool:
        """Between frames: hand held signals to their handlers (which may raise), and say
        whether the loop should stop."""
        while self.pending:
            sig = self.pending.pop(0)
            self._held[sig](sig, None)
        if self.signum is None and self.event is not None and self.event.is_set():
            self.signum = signal.SIGTERM
        return self.signum is not None

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}
        if exc[0] is None:
            self.check()


class FrameLoop:
    """The stages of one run: each is a method, called through the run's hooks."""

    def __init__(self, settings: Settings, recipe: Recipe, catalog: Catalog, writer: DatasetWriter,
                 kinds: list[LabelKind], hooks: Hooks, run_log: RunLog | None = None):
        self.settings, self.recipe, self.catalog, self.writer = settings, recipe, catalog, writer
        self.kinds, self.hooks, self.run_log = kinds, hooks, run_log
        self.backend: Any = None
        self.worker: Worker | None = None
        self.progress: Progress | None = None
        self.dataset_info: dict | None = None
        """dataset.json's content: the claim (simgen.io.outdir) wrote it without the Blender
        version and device before the first frame; rewritten with them once the run's first
        frame is complete, and at the end of the run."""
        self.written_models: set[str] = set()
        self.library: dict[str, dict] = {}
        """The asset-library entries the frames of this run drew, by key (for dataset.json)."""
        self.rendered: list[int] = []
        self._times = threading.local()  # per thread: {stage: seconds} not yet given to a frame

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
        return [s.settled(poses, report) for s in scenes]

    def build(self, scene: Scene) -> None:
        self.backend.build(scene)

    def render(self, index: int):
        return self.backend.render_to_files(seed=render_seed(self.settings.seed, index))

    def read(self, files) -> dict:
        return files.load()

    def frame_labels(self, raw: dict, scene: Scene) -> FrameLabels:
        return make_labels(raw, {o.instance_id: o.category_id for o in scene.objects},
                           scene.camera.world_to_camera, scene.camera.K)

    def frame_output(self, index: int, scenes: list[Scene], labels: dict[int, FrameLabels]) -> FrameOutput:
        """Annotations, the optional label kinds and the meta of frame ``index`` (flow: :meth:`flow`)."""
        settings = self.settings
        sequence, step = frame_position(settings, index)
        scene, own = scenes[step], labels[step]
        category_of = {o.instance_id: o.category_id for o in scene.objects}
        annotations = coco_annotations(own.instance, category_of, index)
        for a in annotations:  # one object keeps its track id through a sequence
            a["simgen"]["track_id"] = annotation_id(sequence, a["simgen"]["instance_id"])
        computed: dict[Callable, Any] = {}  # kinds that share a computation run it once
        for kind in self.kinds:
            if kind.compute is None:
                continue
            if kind.compute not in computed:
                computed[kind.compute] = kind.compute(own, FrameContext(scene=scene))
            own.extra[kind.name] = computed[kind.compute]
            if kind.annotate:
                kind.annotate(own.extra[kind.name], annotations)
        models = [(model_relpath(o.asset_id, o.mesh_path), o.mesh_path) for o in scene.objects]
        meta = frame_meta(scene, settings, self.catalog, index, annotations)
        meta["image"] = own.image  # exposure metering and tone (simgen.tone)
        return FrameOutput(index=index, labels=own, meta=meta, models=models)

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
            files[direction] = self.writer.write_flow(index, direction, flow, valid, q.formats)
            if keep is not None:
                keep[direction] = flow
        return files

    def write(self, out: FrameOutput) -> None:
        """The frame's new models and label files; the meta file last. Camera effects (if any
        are on) change the RGB only, after every label is computed, and go into the meta."""
        linear, out.labels.linear = out.labels.linear, None  # needed here only: not kept in the window
        if effects_enabled(self.settings.effects):
            rngs = effects_rngs(self.settings.seed, out.meta["sequence"], out.index)
            tone, lut = self.settings.render.tone, self.backend.tone_lut
            rgb, out.meta["effects"] = apply_effects(
                linear, out.labels.rgb, self.settings.effects, rngs, out.meta["K"], out.flows,
                self.settings.sequence.gap, out.labels.depth, to_display=lambda x: display(x, tone, lut),
                white=WHITE[tone])
            out.labels = replace(out.labels, rgb=rgb)
        self.library.update((e["key"], e) for e in out.meta.get("library", ()))
        for rel, path in out.models:
            if rel not in self.written_models:
                self.writer.write_model(rel, load_mesh(path))
                self.written_models.add(rel)
        self.writer.write_frame(out.index, out.labels, out.meta)

    # ---------------------------------------------------------------- the loop
    def consume(self, item: Rendered) -> None:
        """The worker's part of a rendered step: its labels, then every frame it completes."""
        w, k = item.window, item.step
        times = self._pending_times()
        for stage, seconds in item.times.items():
            times[stage] = times.get(stage, 0.0) + seconds
        raw = self.stage("read", self.read, item.files)
        for step in w.add(k, self.stage("labels", self.frame_labels, raw, w.scenes[k])):
            self.write_frame(w.base + step, w.scenes, w.labels)
        w.forget_before(k)

    def write_frame(self, index: int, scenes: list[Scene], labels: dict[int, FrameLabels]) -> None:
        out = self.stage("labels", self.frame_output, index, scenes, labels)
        if self.settings.sequence.length > 1:
            out.meta["flow"] = self.stage("flow", self.flow, index, scenes, labels, out.flows)
        self.stage("write", self.write, out)
        if not self.rendered and self.dataset_info is not None:
            with self.writer.locked():
                self.writer.write_dataset_json({**self.dataset_info, "frames": self.writer.frames_on_disk()})
        self.rendered.append(index)
        times = self._take_times()
        if self.run_log is not None:
            self.run_log.frame(index, times)
        if self.progress is not None:
            self.progress.update()
        self.hooks.frame_done(index, times)

    def run(self, todo: list[int], first: tuple[int, list[Scene]], stop: StopRequest | None = None) -> None:
        """Render ``todo``; with render.overlap the worker thread reads, labels and writes frame
        i while frame i+1 renders. Returns (or raises) once every rendered frame is written;
        early once ``stop`` has a signal."""
        self.worker = worker = Worker(self.consume, threaded=self.settings.render.overlap)
        self.hooks.loop_started(self, todo)
        if self.run_log is not None:
            self.run_log.start()
        try:
            for sequence, steps in _group_by_sequence(self.settings, todo).items():
                scenes = first[1] if sequence == first[0] else self.stage("sample", self.sample, sequence)
                if scenes[0].physics is not None:  # placement=physics: settle once, the objects stay put
                    scenes = self.stage("settle", self.settle, scenes)
                window = SequenceWindow(self.settings, sequence, steps, scenes)
                for k in window.needed:
                    if stop is not None and stop.check():
                        return  # the worker writes what is rendered (finally)
                    self.stage("build", self.build, scenes[k])
                    files = self.stage("render", self.render, window.base + k)
                    worker.submit(Rendered(window, k, files, self._take_times()))
        finally:
            worker.close()  # what was rendered is written, failure or not; a worker error is raised here


def keep_log(log: Path, kept: Path) -> None:
    """Append Blender's own output of this run (``log``, in the backend's temporary folder) to
    ``kept`` in the dataset, so that a failed render can be read about after the run."""
    if log.is_file() and log.stat().st_size:
        kept.parent.mkdir(exist_ok=True)
        with open(kept, "ab") as f:
            f.write(log.read_bytes())


def registered(key: str, resolve_names: Callable, names: list[str], **kw) -> list:
    """The registry entries (label kinds, formats) that config key ``key`` names; one-line
    SimgenError naming the key and the choices for an unknown name."""
    try:
        return resolve_names(names, **kw)
    except ValueError as e:
        raise SimgenError(f"{key}={list(names)}: {e}") from None


def run(settings: Settings, config: dict[str, Any] | None = None, hooks: Hooks | None = None,
        stop_event: Any = None) -> RunSummary:
    """Render frames ``start..start+frames-1`` into ``settings.output.dir``.

    Every check that can fail on bad input (assets, recipe, placement, output folder)
    runs before Blender starts. Frames already complete on disk are kept, not redone.
    ``hooks`` (see :class:`Hooks`) can time or instrument the stages of the loop. More than
    ``render.recycle_every`` frames to render: batches, each in a fresh process (see
    :func:`_run_in_batches`); ``stop_event`` is how such a parent asks its batch to stop.
    """
    config = config if config is not None else asdict(settings)
    config = {k: v for k, v in config.items() if k != "shard"}  # the dataset's config: the same for every shard
    hooks = hooks if hooks is not None else Hooks()
    recipe = load_recipe(settings.scene.recipe)
    catalog = catalog_for(settings)
    kinds = registered("output.labels", resolve, settings.output.labels)
    registered("output.formats", resolve_formats, settings.output.formats, flow=False)
    registered("sequence.formats", resolve_formats, settings.sequence.formats, flow=True)
    out = Path(settings.output.dir).expanduser().resolve()
    indices = shard_frames(settings)
    if not indices:
        log.info("shard %d of %d has no frames: frames %d..%d hold fewer sequences than there are shards",
                 settings.shard.index, settings.shard.count, settings.start, settings.start + settings.frames - 1)
        return RunSummary(out_dir=out, rendered=[], skipped=[], frames_on_disk=0, annotations=0, images=0,
                          category_counts={})
    first_sequence = frame_position(settings, indices[0])[0]
    first_scenes = make_sequence_scenes(recipe, settings, catalog, first_sequence)  # fails fast on bad scenes
    record = {"simgen_version": simgen.__version__, "python_version": platform.python_version(),
              "seed": settings.seed, "categories": catalog.to_json()}
    local = local_locks(out) if settings.shard.count > 1 else None
    if local:
        log.warning("output.dir=%s is on %s: its file locks reach this node only, so shards on other nodes can "
                    "claim it or rebuild coco.json from a stale listing at the same time; render each node's shards "
                    "into a folder of its own and join them with simgen merge, or mount with shared locks", out, local)
    try:
        hold = claim(out, config, config_fingerprint, settings.output.overwrite, record)  # before the first frame
        try:
            return _run_claimed(settings, config, hooks, stop_event, recipe, catalog, kinds, out, indices,
                                (first_sequence, first_scenes), record)
        finally:
            hold.release()
    except OSError as e:
        if not no_space(e):
            raise
        done = len(frames_on_disk(out))
        raise SimgenError(f"no space left on the device of {out} ({e.strerror}"
                          + (f": {e.filename}" if e.filename else "") + f"); the {done} frame(s) on disk are "
                          "complete; free some space and run the same command again to render the rest") from None


def _run_claimed(settings: Settings, config: dict, hooks: Hooks, stop_event: Any, recipe: Recipe, catalog: Catalog,
                 kinds: list, out: Path, indices: list[int], first: tuple[int, list[Scene]], record: dict
                 ) -> RunSummary:
    """run() once the output folder is this config's dataset."""
    writer = DatasetWriter(out, catalog.to_json(), previews=settings.output.previews, labels=settings.output.labels)
    done = set(writer.frames_on_disk())
    todo = [i for i in indices if i not in done]
    skipped = [i for i in indices if i in done]
    if skipped:
        log.info("%d of %d frames are already complete in %s; rendering the other %d",
                 len(skipped), len(indices), out, len(todo))

    def info(blender_version: str, device: str) -> dict:
        return {**record, "blender_version": blender_version, "config": config, "device": device}

    def summary(rendered: list[int], on_disk: list[int], index: CocoIndex | None) -> RunSummary:
        return RunSummary(out_dir=out, rendered=rendered, skipped=skipped, frames_on_disk=len(on_disk),
                          annotations=index.annotations if index else 0, images=index.images if index else 0,
                          category_counts=index.category_counts() if index else {})

    # a shard that is not the last leaves the exports (O(frames on disk)) to the last one
    run_frames = range(settings.start, settings.start + settings.frames) if settings.shard.count > 1 else None
    previous = _previous_info(out) if not todo else None
    if previous is not None:  # nothing to render: only bring the index and dataset.json up to date
        return summary([], *_finish(writer, info(**previous), settings.output.formats, run_frames))

    if 0 < settings.render.recycle_every < len(todo):
        if hooks is not None and type(hooks) is not Hooks:
            raise SimgenError(f"render.recycle_every={settings.render.recycle_every} renders {len(todo)} frames in "
                              "batches in other processes, where hooks cannot follow; set render.recycle_every=0")
        rendered, signum = _run_in_batches(settings, config, todo, out)
        previous = _previous_info(out)
        if previous is None:  # no batch got as far as its first frame
            raise SimgenError(f"no frame was rendered; see {out / 'logs'}")
        result = summary(rendered, *_finish(writer, info(**previous), settings.output.formats,
                                            run_frames if signum is None else None))
        if signum is not None:
            raise Interrupted(signum, result)
        return result

    from simgen.blender import BlenderBackend  # imports bpy: only now that the input is known good

    run_log = RunLog(out, STAGES)
    loop = FrameLoop(settings, recipe, catalog, writer, kinds, hooks, run_log)
    r = settings.render
    need = scratch.need_bytes(r.width, r.height, r.overlap, depth_of_field=settings.camera.dof_probability > 0)
    where = scratch.choose(need, r.scratch_dir, out / "logs" / "scratch")
    log.info("scratch folder for the renders in flight: %s (%s)", where.folder, where.why)
    loop.backend = backend = BlenderBackend(r, workdir=where.folder)
    backend.scratch_need = need
    backend.keep_linear = effects_enabled(settings.effects)  # the camera effects work in linear light
    loop.dataset_info = info(backend.blender_version, backend.device)
    loop.progress = Progress(len(todo))
    stop = StopRequest(stop_event)
    try:
        with stop:
            loop.run(todo, first, stop)
    finally:
        failing = sys.exc_info()[1]
        with unless_full(failing):
            keep_log(backend.blender_log, out / "logs" / "blender.log")
        backend.close()
        with unless_full(failing):
            timing = run_log.close()
            if timing is not None:
                log.info("%s (%s)", describe(timing), run_log.path)
        ended = stop.signum is None and failing is None  # else: export what there is now
        on_disk, index = frames_on_disk(out), None
        with unless_full(failing):
            on_disk, index = _finish(writer, loop.dataset_info, settings.output.formats,
                                     run_frames if ended else None, loop.library)
    result = summary(loop.rendered, on_disk, index)
    if stop.signum is not None:
        raise Interrupted(stop.signum, result)
    return result


@contextlib.contextmanager
def unless_full(failing: BaseException | None) -> Iterator[None]:
    """Run the block; a full disk while the run is already failing (``failing``) is left
    unsaid, so that the run's own error is the one reported (the files the block would have
    rewritten stay as they were: every write is atomic)."""
    try:
        yield
    except OSError as e:
        if failing is None or not no_space(e):
            raise
        log.warning("skipped: %s", e)


def _batches(settings: Settings, todo: list[int], size: int) -> list[list[int]]:
    """``todo`` in runs of whole sequences, each at most ``size`` frames (or one sequence)."""
    out: list[list[int]] = []
    for sequence, steps in _group_by_sequence(settings, todo).items():
        frames = [sequence * settings.sequence.length + k for k in steps]
        if out and len(out[-1]) + len(frames) <= size:
            out[-1] += frames
        else:
            out.append(frames)
    return out


def _run_batch(settings: Settings, config: dict, stop_event: Any) -> None:
    """A batch's process: run() on its frames; exit status 128+signal when stopped, 2 on bad input."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a child of spawn may inherit SIG_IGN
    # spawn copies the parent's sys.path, which holds Blender's script folders once bpy is
    # imported there; with them first, "import bpy" would find Blender's own bpy package
    sys.path[:] = [p for p in sys.path if not re.search(r"[/\\]bpy[/\\][0-9.]+[/\\]scripts", p)]
    try:
        run(settings, config, stop_event=stop_event)
    except Interrupted as e:
        sys.exit(128 + e.signum)
    except SimgenError as e:
        print(f"simgen: error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


def _run_in_batches(settings: Settings, config: dict, todo: list[int], out: Path) -> tuple[list[int], int | None]:
    """Render ``todo`` in batches of at most render.recycle_every frames, each in a fresh
    process (Blender's memory grows with every new scene; a process that ends gives it all
    back). Each batch is an ordinary run of its frames into the same folder, recording this
    run's config. A SIGINT or SIGTERM to this process stops the batch running (after its
    frame, through an event: the batch may get the same signal itself) and the run.
    Returns the frames rendered and the signal that stopped the run, if one did."""
    import multiprocessing
    from dataclasses import replace

    from simgen.config import ShardConfig

    ctx = multiprocessing.get_context("spawn")
    with safe_path_children():
        event = ctx.Event()  # starts multiprocessing's resource tracker, a child process too
    signum: list[int] = []

    def ask_stop(sig: int, frame: Any) -> None:
        signum.append(sig)
        event.set()

    batches = _batches(settings, todo, settings.render.recycle_every)
    log.info("rendering %d frames in %d batches of at most %d (render.recycle_every), a process each",
             len(todo), len(batches), settings.render.recycle_every)
    main = threading.current_thread() is threading.main_thread()
    old = {sig: signal.signal(sig, ask_stop) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
    rendered: list[int] = []
    try:
        for batch in batches:
            if signum:
                break
            child = replace(settings, start=batch[0], frames=batch[-1] - batch[0] + 1, shard=ShardConfig(),
                            render=replace(settings.render, recycle_every=0))
            p = ctx.Process(target=_run_batch, args=(child, config, event), name=f"simgen-frames-{batch[0]}")
            with safe_path_children():
                p.start()
            p.join()
            done = set(frames_on_disk(out))
            rendered += [i for i in batch if i in done]
            if p.exitcode in (128 + signal.SIGINT, 128 + signal.SIGTERM):
                signum.append(p.exitcode - 128)
            elif p.exitcode != 0:
                raise SimgenError(f"the process rendering frames {batch[0]}..{batch[-1]} failed (exit status "
                                  f"{p.exitcode}); see {out / 'logs'}; the same command resumes")
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return rendered, (signum[0] if signum else None)


def _previous_info(out: Path) -> dict[str, str] | None:
    """The Blender version and device that dataset.json records, if it can be read."""
    try:
        old = json.loads((out / "dataset.json").read_text())
        return {"blender_version": str(old["blender_version"]), "device": str(old["device"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _recorded_library(out: Path) -> list[dict]:
    """The asset-library entries dataset.json names (none if it cannot be read)."""
    try:
        entries = json.loads((out / "dataset.json").read_text()).get("library", [])
        return [e for e in entries if isinstance(e, dict) and isinstance(e.get("key"), str)]
    except (OSError, ValueError, AttributeError):
        return []


def _finish(writer: DatasetWriter, info: dict, formats: list[str],
            complete_when: range | None = None, library: dict[str, dict] | None = None
            ) -> tuple[list[int], CocoIndex | None]:
    """Rewrite what is built from every frame on disk under the dataset's lock, so that shards
    ending together do not build from a stale listing: the COCO index (only its chunks whose
    frames changed), dataset.json, and the export formats (coco.json: the whole dataset) unless
    ``complete_when`` names frames not all on disk yet (a shard that is not the last: the last
    one writes them). Returns the frames on disk and the index. A folder with no frame on disk
    (a run that failed before its first frame) is left as it is (index None).
    ``library``: the asset-library entries this run's frames drew, added to those dataset.json
    names already (other shards, earlier runs)."""
    with writer.locked():
        on_disk = writer.frames_on_disk()
        if not on_disk:
            return on_disk, None
        index = writer.index()
        if complete_when is None or set(complete_when) <= set(on_disk):
            writer.export(formats, index)
        drawn = {e["key"]: e for e in _recorded_library(writer.root)}
        drawn.update(library or {})
        extra = {"library": [drawn[k] for k in sorted(drawn)]} if drawn else {}
        writer.write_dataset_json({**info, "frames": on_disk, "category_counts": index.category_counts(), **extra})
    return on_disk, index
