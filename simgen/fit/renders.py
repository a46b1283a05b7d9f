"""A fit's renders and their measurement: a candidate's frames rendered by a ``simgen`` child process
into a folder that keeps only what development needs, developed and measured against the target (or, with
fit.objective=ap, scored by a study of one arm), and the render thread the renders queue on."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from simgen.errors import SimgenError
from simgen.fit.post_render import Frames, Search, load_frames, search
from simgen.fit.distance import Distance, distance
from simgen.fit.kid import kid
from simgen.fit.plan import Plan
from simgen.fit.space import Entry, to_overrides
from simgen.io.files import read_json, read_npz, write_npz
from simgen.io.locks import OwnerLock
from simgen.io.names import COCO_JSON, DATASET_JSON, META_DIR
from simgen.child_processes import SERVED, quiet_fds

KEEP = ("linear", "lights", META_DIR, COCO_JSON, DATASET_JSON, "labels.npz")
"""What a render folder keeps for development (images, depth, normals ... are removed)."""
FIRST_DEVELOP = 3
"""How many times fit.develop_trials the first trial's development search tries: it starts from the
defaults alone (every later one from the closest trial's development so far). In a fit of 200
candidates a trial, the first trial's search was at 0.455 by its 100th candidate and 0.333 by its
200th, and won the final round; in the same fit with 100 it was not among the finalists."""


def render_candidate(folder: Path, overrides: list[str], frames: int, seed: int, start: int,
           neutral: Sequence[str]) -> None:
    """Render (or resume) frames ``start`` .. ``start + frames - 1`` into ``folder`` with the simgen
    command line (in the render child, :data:`simgen.child_processes.SERVED`: Python, Hydra, trimesh and
    Blender start once, not for every trial), the developed settings ``neutral`` (simgen.fit.post_render.neutral)
    and the linear images kept; its output goes to ``folder``.log."""
    args = [*overrides, *neutral, f"frames={frames}", f"start={start}", f"seed={seed}", f"output.dir={folder}",
            "output.formats=[coco]", "output.previews=false"]
    logfile = folder.with_name(folder.name + ".log")
    code = SERVED.run(args, logfile)
    if code != 0:
        tail = logfile.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:] \
            if logfile.is_file() else ["no output (the render child ended before the render began)"]
        raise SimgenError(f"rendering {folder.name} failed (exit {code}): {' | '.join(tail)} "
                          f"(the whole output: {logfile})")


@dataclass
class Rendered:
    """A render of the fit (the default config's, a trial's), ready to develop."""

    frames: Frames
    labels: dict[str, np.ndarray]
    """Its label statistics samples ({} when the target has no labels)."""
    memo: dict = field(default_factory=dict, repr=False, compare=False)
    """Its frames' image statistics under the draws developed so far (:meth:`Developer.stats`)."""


def rendered(plan: Plan, folder: Path, values: dict[str, Any], part: str = "trial") -> Rendered:
    """Render the rendered entries' ``values`` into ``folder`` unless done before (a resume, another
    worker): the frames of a ``part`` of the fit (:func:`frame_span`); the folder keeps what
    development needs only (:data:`KEEP`). Its label statistics are those of its projected scenes
    (:meth:`Plan.labels`) where the fit projects them, else of the rendered frames."""
    from simgen.fit.stats import label_stats

    labels = folder / "labels.npz"
    frames, start = frame_span(plan, part)
    projected = plan.labels(values, part)
    with OwnerLock(folder.with_name(folder.name + ".lock"), wait=True):  # workers sharing fits/NAME render it once
        done = load_rendered(folder) if labels.is_file() else None
        if done is not None and sorted(done.frames.index) != list(range(start, start + frames)):
            shutil.rmtree(folder)  # rendered for other frames (fit.polish_frames or fit.final_frames changed since)
            done = None
        if done is None:
            with plan.timed(f"render: {part}"):
                render_candidate(folder, [*plan.base, *to_overrides(values)], frames, plan.fit.seed, start,
                                 plan.neutral)
            for p in folder.iterdir():
                if p.name not in KEEP:
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            write_npz(labels, label_stats(read_json(folder / COCO_JSON)) if plan.target.labelled else {})
            done = load_rendered(folder)
    return done if projected is None else Rendered(done.frames, projected)


def frame_span(plan: Plan, part: str) -> tuple[int, int]:
    """(frames, first frame index) of a part of the fit: a ``trial``'s frames, the ``final``
    round's after them, a finalist's ``polish`` frames after those and its ``held_out`` frames
    last (the second half of fit.polish_frames): no frame is in two parts."""
    fit = plan.fit
    return {"trial": (fit.frames, 0), "final": (fit.final, fit.frames),
            "polish": (fit.polish_searched, fit.frames + fit.final),
            "held_out": (fit.held_out, fit.frames + fit.final + fit.polish_searched)}[part]


def load_rendered(folder: Path) -> Rendered:
    """A render of the fit made before (:func:`rendered`)."""
    return Rendered(load_frames(folder), read_npz(folder / "labels.npz"))


def joined(a: Rendered, b: Rendered) -> Rendered:
    """The frames of ``a`` and then ``b`` as one render."""
    return Rendered(a.frames + b.frames, {k: np.concatenate([v, b.labels[k]]) for k, v in a.labels.items()})


def developed(plan: Plan, r: Rendered, values: dict[str, Any]) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """The images of render ``r`` developed with ``values``, and their statistics samples."""
    from simgen.fit.stats import image_samples

    images = plan.developer(r.frames, values)
    return images, {**image_samples(images), **r.labels}


def measure(plan: Plan, r: Rendered, values: dict[str, Any]) -> Distance:
    """The distance to the target of render ``r`` developed with ``values``: of their statistics,
    or with fit.objective=kid their KID."""
    if plan.features is not None:
        value = kid(plan.target.features, plan.features(plan.developer(r.frames, values)))
        return Distance(value, {"kid": value})
    from simgen.fit.stats import samples_of

    samples = {**samples_of(plan.developer.stats(r.frames, values, r.memo)), **r.labels}
    return distance({n: plan.target.samples[n] for n in plan.weights},
                    {n: samples.get(n, np.zeros(0)) for n in plan.weights}, plan.scale, plan.weights)


ARM = "fit"
"""The one arm of the study a trial of fit.objective=ap runs (its dataset: FOLDER/data/fit)."""


def ap_distance(plan: Plan, folder: Path, overrides: list[str]) -> Distance:
    """fit.objective=ap: 1 - AP of fit.trainer's detector trained on fit.frames frames rendered
    with ``overrides`` and scored on the target, by a study of one arm in ``folder`` (resumed:
    its dataset and training run are kept)."""
    from simgen.experiment.config import ArmConfig, StudyConfig, TargetConfig, check_study
    from simgen.experiment.runner import run_study

    fit = plan.fit
    study = StudyConfig(out=str(folder), simgen=[*plan.base, f"seed={fit.seed}"],
                        arms={ARM: ArmConfig(overrides=list(overrides))}, frames=[fit.frames], seeds=[fit.seed],
                        target=TargetConfig(coco=fit.target_coco, rename=dict(fit.rename)), trainer=fit.trainer)
    with OwnerLock(folder.with_name(folder.name + ".lock"), wait=True), \
            quiet_fds(folder.with_name(folder.name + ".log")):  # the study's and its children's output
        results = run_study(check_study(study), [], name=folder.name)
    ap = float(results["runs"][0]["AP"])
    return Distance(1.0 - ap, {"AP": ap})


def dataset_view(plan: Plan, folder: Path) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """fit.objective=ap: the images of a trial's training set and their statistics samples."""
    from simgen.fit.stats import image_samples, label_stats
    from simgen.io.files import read_png

    data = folder / "data" / ARM
    coco = read_json(data / COCO_JSON)
    images = [read_png(data / im["file_name"]) for im in coco["images"]]
    return images, {**image_samples(images), **(label_stats(coco) if plan.target.labelled else {})}


@contextmanager
def render_thread() -> Iterator[ThreadPoolExecutor]:
    """The fit's render thread: renders queued on it run one at a time (each a simgen process using
    every core) beside the main thread's development. Left early (an error, Ctrl-C), the renders still
    queued are cancelled; the one running ends first."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="simgen-fit-render")
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def made(plan: Plan, folder: Path, values: dict[str, Any], part: str = "trial") -> Rendered | Distance:
    """What measuring the rendered entries' ``values`` starts from: their render into ``folder``
    (:func:`rendered`), or with fit.objective=ap their distance (a study of one arm:
    :func:`ap_distance`). Run on the fit's render thread while the main thread develops the trial before."""
    if plan.fit.objective == "ap":
        return ap_distance(plan, folder, to_overrides(values))
    return rendered(plan, folder, values, part)


def evaluate(plan: Plan, r: Rendered | Distance, developed: list[Entry], seed: int,
             start: list[dict[str, Any]]) -> Search:
    """Search the ``developed`` entries on render ``r`` (:func:`made`; :func:`search`, seeded, from
    ``start``, the closest trial's development so far and the defaults, or the defaults alone: then
    with :data:`FIRST_DEVELOP` times fit.develop_trials candidates; [] for the default config: one
    development); a Distance (fit.objective=ap) as it is."""
    if isinstance(r, Distance):
        return Search({}, r, [])
    budget = plan.fit.develop_trials * (1 if len(start) > 1 else FIRST_DEVELOP)
    with plan.timed("develop: trial"):
        return search(developed, lambda v: measure(plan, r, v), budget, seed, start)
