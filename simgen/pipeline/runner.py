"""A run from start to end: check the input, claim the output folder, render what is not on
disk yet (in this process, or in batches of fresh processes), and finish the dataset."""

from __future__ import annotations

import ctypes
import logging
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from simgen.errors import Interrupted, SimgenError
from simgen.assets import Catalog
from simgen.assets.meshes import asset_problems
from simgen.config import RenderConfig, Settings
from simgen.compose.settings import catalog_for, outputs
from simgen.scene.data import Scene
from simgen.version import __version__
from simgen.imaging.effects import effects_enabled
from simgen.io import scratch
from simgen.io.dataset.coco_index import CocoIndex
from simgen.io.dataset.layout import DatasetWriter, config_fingerprint, frames_on_disk
from simgen.io.formats.exporters import Exporter
from simgen.io.formats.shards import RangeWatch
from simgen.io.dataset.outdir import claim, local_locks, no_space
from simgen.io.dataset.remote import Remote
from simgen.io.dataset.runlog import RunLog, describe
from simgen.labels.keypoints import KEYPOINTS, coco_categories
from simgen.labels.kinds import LabelKind
from simgen.pipeline.batches import run_in_batches
from simgen.pipeline.concurrency import StopRequest, worker_count
from simgen.pipeline.finish import finish_dataset, keep_log, previous_info, unless_full
from simgen.pipeline.frames import (check_placement, frame_position, make_sequence_scenes, shard_frames,
                                    short_frames)
from simgen.pipeline.loop import STAGES, FrameLoop, Hooks
from simgen.pipeline.memory import frozen_before
from simgen.pipeline.renderer import Renderer, RendererFactory
from simgen.progress import Progress
from simgen.recipes import Recipe, load_recipe

log = logging.getLogger("simgen.pipeline")  # the package's one logger


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
    short: list[int] = field(default_factory=list)
    """Frames this run rendered whose scene could not hold all it drew (simgen.recipes.SHORTFALL)."""


@dataclass(frozen=True)
class RunPlan:
    """A run's inputs, checked, and the names in its config resolved, once (:func:`run`, before
    the output folder is claimed): what the claimed run renders and writes."""

    settings: Settings
    config: dict
    """The dataset's config: the same for every shard (``shard`` left out)."""
    hooks: Hooks
    stop_event: Any
    make_renderer: RendererFactory | None
    recipe: Recipe
    catalog: Catalog
    kinds: list[LabelKind]
    """output.labels resolved: the core label kinds and the optional ones named."""
    formats: list[Exporter]
    """output.formats resolved: the dataset formats written at the end."""
    flow_formats: list[Exporter]
    """sequence.formats resolved: the flow files written beside each flow field's .npy."""
    out: Path
    indices: list[int]
    """This shard's frames."""
    first: tuple[int, list[Scene]]
    """The first sequence's index and scenes (made before the claim: bad scenes fail fast)."""
    record: dict
    """What dataset.json records before the run's first frame (versions, seed, categories)."""
    remote: Remote | None = None
    """output.upload's store (checked writable before the claim), or None."""


def blender_renderer() -> RendererFactory:
    """The factory of a real run's renderer: a Blender session
    (:class:`simgen.blender.BlenderBackend`). Imports bpy, so it is called only once the input
    is known good."""
    from simgen.blender import BlenderBackend

    def make(render: RenderConfig, workdir: Path, *, scratch_need: int, keep_linear: bool,
             light_groups: bool = False) -> Renderer:
        backend = BlenderBackend(render, workdir=workdir)
        backend.scratch_need = scratch_need
        backend.keep_linear = keep_linear  # the camera effects work in linear light
        backend.light_groups = light_groups
        return backend
    return make


MALLOC_MMAP_THRESHOLD = 32 << 20
MALLOC_TRIM_THRESHOLD = 128 << 20


def keep_freed_memory() -> None:
    """Have glibc's malloc keep freed frame-sized blocks for the next frame (Linux; nothing elsewhere).

    By default glibc gives a block of more than 128 KB (a threshold it raises up to 32 MB as it
    sees such blocks freed) its own mapping and unmaps it when freed, and trims its heaps' tops
    past 128 KB: every frame's arrays then come back as fresh pages the kernel must zero and map
    one fault at a time. Measured with the ceiling benchmark (640x480, default labels): 13 of
    92 CPU ms per frame (the read stage 71 -> 58 ms), peak RSS +4 MB. Blocks under
    MALLOC_MMAP_THRESHOLD now stay in the heaps, which keep up to MALLOC_TRIM_THRESHOLD free at
    their top (per arena, so per worker thread) before they are trimmed."""
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(-3, MALLOC_MMAP_THRESHOLD)  # M_MMAP_THRESHOLD (also turns off its dynamic raising)
    mallopt(-1, MALLOC_TRIM_THRESHOLD)  # M_TRIM_THRESHOLD


def run(settings: Settings, config: dict[str, Any] | None = None, hooks: Hooks | None = None,
        stop_event: Any = None, make_renderer: RendererFactory | None = None) -> RunSummary:
    """Render frames ``start..start+frames-1`` into ``settings.output.dir``.

    Every check that can fail on bad input (assets, recipe, placement, output folder)
    runs before Blender starts. Frames already complete on disk are kept, not redone.
    ``hooks`` (see :class:`Hooks`) can time or instrument the stages of the loop. More than
    ``render.recycle_every`` frames to render: batches, each in a fresh process (see
    :func:`simgen.pipeline.batches.run_in_batches`); ``stop_event`` is how such a parent
    asks its batch to stop. ``make_renderer`` makes the renderer
    (:class:`~simgen.pipeline.renderer.RendererFactory`; default: :func:`blender_renderer`'s).
    """
    keep_freed_memory()
    config = config if config is not None else asdict(settings)
    config = {k: v for k, v in config.items() if k != "shard"}  # the dataset's config: the same for every shard
    hooks = hooks if hooks is not None else Hooks()
    recipe = load_recipe(settings.scene.recipe)  # once: the catalog, the first scenes and the frame loop take it
    catalog = catalog_for(settings, recipe)
    asked = outputs(settings)  # checked by validate: here only resolved
    kinds, formats, flow_formats, remote = asked.kinds, asked.formats, asked.flow_formats, asked.remote
    if remote is not None:
        remote.check()  # the store itself: it may be written to, before the first frame
    for advice in filter(None, (e.advice(settings) for e in formats if e.advice)):
        log.warning("%s", advice)
    categories = catalog.to_json()
    if KEYPOINTS in kinds:  # every category gets its keypoint names and skeleton (COCO keypoints)
        o = settings.output
        categories = coco_categories(categories, o.keypoints, o.keypoint_count, catalog)
    out = Path(settings.output.dir).expanduser().resolve()
    indices = shard_frames(settings)
    if not indices:
        log.info("shard %d of %d has no frames: frames %d..%d hold fewer sequences than there are shards",
                 settings.shard.index, settings.shard.count, settings.start, settings.start + settings.frames - 1)
        return RunSummary(out_dir=out, rendered=[], skipped=[], frames_on_disk=0, annotations=0, images=0,
                          category_counts={})
    first_sequence = frame_position(settings, indices[0])[0]
    first_scenes = make_sequence_scenes(recipe, settings, catalog, first_sequence)  # fails fast on bad scenes
    check_placement(recipe, settings, catalog, first_sequence)
    record = {"simgen_version": __version__, "python_version": platform.python_version(),
              "seed": settings.seed, "categories": categories}
    problems = asset_problems(catalog)
    if problems:
        record["asset_problems"] = problems  # what validate_catalog warned about: files of a mesh's look left out
    local = local_locks(out) if settings.shard.count > 1 else None
    if local:
        log.warning("output.dir=%s is on %s: its file locks reach this node only, so shards on other nodes can "
                    "claim it or rebuild coco.json from a stale listing at the same time; render each node's shards "
                    "into a folder of its own and join them with simgen merge, or mount with shared locks", out, local)
    try:
        hold = claim(out, config, config_fingerprint, settings.output.overwrite, record)  # before the first frame
        try:
            return _run_claimed(RunPlan(
                settings=settings, config=config, hooks=hooks, stop_event=stop_event, make_renderer=make_renderer,
                recipe=recipe, catalog=catalog, kinds=kinds, formats=formats, flow_formats=flow_formats, out=out,
                indices=indices, first=(first_sequence, first_scenes), record=record, remote=remote))
        finally:
            hold.release()
    except OSError as e:
        if not no_space(e):
            raise
        done = len(frames_on_disk(out))
        raise SimgenError(f"no space left on the device of {out} ({e.strerror}"
                          + (f": {e.filename}" if e.filename else "") + f"); the {done} frame(s) on disk are "
                          "complete; free some space and run the same command again to render the rest") from None


def _run_claimed(plan: RunPlan) -> RunSummary:
    """run() once the output folder is this config's dataset."""
    settings, config, hooks, out, indices, record = \
        plan.settings, plan.config, plan.hooks, plan.out, plan.indices, plan.record
    writer = DatasetWriter(out, record["categories"], previews=settings.output.previews, kinds=plan.kinds)
    done = set(writer.frames_on_disk())
    todo = [i for i in indices if i not in done]
    skipped = [i for i in indices if i in done]
    if skipped:
        log.info("%d of %d frames are already complete in %s; rendering the other %d",
                 len(skipped), len(indices), out, len(todo))

    def info(blender_version: str, device: str) -> dict:
        return {**record, "blender_version": blender_version, "config": config, "device": device}

    def summary(rendered: list[int], on_disk: list[int], index: CocoIndex | None, short: list[int]) -> RunSummary:
        return RunSummary(out_dir=out, rendered=rendered, skipped=skipped, frames_on_disk=len(on_disk),
                          annotations=index.annotations if index else 0, images=index.images if index else 0,
                          category_counts=index.category_counts() if index else {}, short=short)

    # a shard that is not the last leaves the exports (O(frames on disk)) to the last one
    run_frames = range(settings.start, settings.start + settings.frames) if settings.shard.count > 1 else None
    previous = previous_info(out) if not todo else None
    if previous is not None:  # nothing to render: only bring the index and dataset.json up to date
        return summary([], *finish_dataset(writer, info(**previous), plan.formats, run_frames, remote=plan.remote), [])

    if 0 < settings.render.recycle_every < len(todo):
        if hooks is not None and type(hooks) is not Hooks:
            raise SimgenError(f"render.recycle_every={settings.render.recycle_every} renders {len(todo)} frames in "
                              "batches in other processes, where hooks cannot follow; set render.recycle_every=0")
        rendered, signum = run_in_batches(run, settings, config, todo, out, plan.make_renderer)
        previous = previous_info(out)
        if previous is None:  # no batch got as far as its first frame
            raise SimgenError(f"no frame was rendered; see {out / 'logs'}")
        result = summary(rendered, *finish_dataset(writer, info(**previous), plan.formats,
                                                   run_frames if signum is None else None,
                                                   remote=plan.remote if signum is None else None),
                         short_frames(out, rendered))
        if signum is not None:
            raise Interrupted(signum, result)
        return result

    make_renderer = plan.make_renderer
    if make_renderer is None:
        make_renderer = blender_renderer()  # imports bpy: only now that the input is known good
    run_log = RunLog(out, STAGES)
    r = settings.render
    need = scratch.need_bytes(r.width, r.height, worker_count(r), depth_of_field=settings.camera.dof_probability > 0)
    where = scratch.choose(need, r.scratch_dir, out / "logs" / "scratch")
    log.info("scratch folder for the renders in flight: %s (%s)", where.folder, where.why)
    keep_linear = effects_enabled(settings.effects) or any(k.name == "linear" for k in plan.kinds) or settings.sensor.events
    backend = make_renderer(r, where.folder, scratch_need=need, keep_linear=keep_linear,
                            **({"light_groups": True} if any(k.name == "lights" for k in plan.kinds) else {}))
    loop = FrameLoop(settings=settings, recipe=plan.recipe, catalog=plan.catalog, writer=writer, kinds=plan.kinds,
                     hooks=hooks, run_log=run_log, backend=backend, flow_formats=plan.flow_formats)
    loop.dataset_info = info(backend.blender_version, backend.device)
    streaming = [e.shards for e in plan.formats if e.shards]
    if streaming:
        loop.shards = RangeWatch(out, streaming, settings.output.shard_size, todo, writer.locked,
                                 plan.remote.send_built(out) if plan.remote else None)
    loop.progress = Progress(len(todo))
    stop = StopRequest(plan.stop_event)
    try:
        with stop, frozen_before():  # the run's collections of cycles walk only what it makes (pipeline.memory)
            loop.run(todo, plan.first, stop)
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
            on_disk, index = finish_dataset(writer, loop.dataset_info, plan.formats, run_frames if ended else None,
                                            loop.library, remote=plan.remote if ended else None)
    result = summary(loop.rendered, on_disk, index, sorted(set(loop.short) & set(loop.rendered)))
    if stop.signum is not None:
        raise Interrupted(stop.signum, result)
    return result
