"""Run a fit: render the default config and one candidate randomization per trial, develop each
trial's renders under the candidate camera settings of a search of its own (simgen.fit.develop),
measure them against the target, and let Optuna's TPE choose the next candidates.

Layout of the fit's folder (``fits/NAME`` by default)::

    fit.db            the Optuna study (SQLite; fit.storage names a database server instead)
    target.npz        the target's statistics samples, cached (recomputed when the target changes)
    default/          the default config's renders: linear images, meta, COCO, label statistics
    trials/KEY/       one trial's renders, KEY a digest of its rendered settings (a retried trial resumes them)
    final/KEY/        the final round's renders of the default config and the finalists (new frames)
    polish/KEY/       more frames of a finalist that its development is polished on (after the final round's)
    held_out/KEY/     and the frames after those, held out to stop that polishing search
    trials.csv        one row per trial: its state, distance and components, its settings
    best.yaml         the fit's result as a simgen config: the best trial's settings, or the default
                      config's when no trial beat it (docs/explanation/fit.md)
    report.html       target, default and fitted images side by side, the statistics, the search

Resumable: the study lives in its storage, so the same command after any stop (even ``kill -9``)
goes on until fit.trials trials are complete; a trial whose process died is failed once its
heartbeat is stale and run again with the same settings (its renders resume). Renders run as
``simgen`` child processes, so this module imports no bpy.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import socket
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from simgen import SimgenError
from simgen.config.schema import override_text
from simgen.fit.config import digest
from simgen.fit.develop import Frames, Search, load_frames, search
from simgen.fit.distance import Distance, distance
from simgen.fit.kid import kid
from simgen.fit.plan import Plan, mkdir
from simgen.fit.report import complete, report_current, write_report
from simgen.fit.space import Entry, params_of, to_overrides, values_of
from simgen.io.files import atomic_write_bytes, read_json, read_npz, write_npz
from simgen.io.locks import OwnerLock
from simgen.io.names import COCO_JSON, DATASET_JSON, META_DIR
from simgen.procs import SERVED, quiet_fds

log = logging.getLogger("simgen.fit")

HEARTBEAT_S = 10
"""How often a worker's running trial says it is alive in the storage."""
GRACE_S = 60
"""A running trial silent this long belongs to a dead worker: it is failed and run again."""
MAX_FAILED_IN_A_ROW = (3, 10)
"""Consecutive trials whose render failed before the fit stops: before any trial is complete (the
base config is likely bad), and after (a corner of the space that cannot render, e.g. more objects
than fit, is only skipped: the search learns to avoid it)."""
MAX_INFEASIBLE_IN_A_ROW = 50
"""Consecutive trials whose objects cannot be placed (each refused before it renders, without Blender:
:meth:`simgen.fit.plan.Plan.check_placement`) before the fit stops: the space is mostly infeasible."""
KEEP = ("linear", "lights", META_DIR, COCO_JSON, DATASET_JSON, "labels.npz")
"""What a render folder keeps for development (images, depth, normals ... are removed)."""
DEVELOP_STREAM = 0x44455645
"""Entropy word of a trial's development search's seed (with fit.seed and the trial number)."""
POLISH_STREAM = 0x504F4C49
"""Entropy word of a finalist's polishing search's seed (with fit.seed and the trial number)."""
FIRST_DEVELOP = 3
"""How many times fit.develop_trials the first trial's development search tries: it starts from the
defaults alone (every later one from the closest trial's development so far). In a fit of 200
candidates a trial, the first trial's search was at 0.455 by its 100th candidate and 0.333 by its
200th, and won the final round; in the same fit with 100 it was not among the finalists."""
POLISH_STARTS = 10
"""The closest trials whose developments a finalist's polishing search tries first."""
WORLD_EXCLUDED = ("render.", "output.", "shard.", "hydra.", "frames", "start", "seed")
"""Overrides that say how the fit rendered, not what the world is: left out of best.yaml."""


# ------------------------------------------------------------------ rendering and measuring


def render(folder: Path, overrides: list[str], frames: int, seed: int, start: int,
           neutral: Sequence[str]) -> None:
    """Render (or resume) frames ``start`` .. ``start + frames - 1`` into ``folder`` with the simgen
    command line (in the render child, :data:`simgen.procs.SERVED`: Python, Hydra, trimesh and
    Blender start once, not for every trial), the developed settings ``neutral`` (simgen.fit.develop.neutral)
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


def rendered(plan: Plan, folder: Path, overrides: list[str], part: str = "trial") -> Rendered:
    """Render ``overrides`` into ``folder`` unless done before (a resume, another worker): the
    frames of a ``part`` of the fit (:func:`frame_span`); the folder keeps what development needs
    only (:data:`KEEP`)."""
    from simgen.fit.stats import label_stats

    labels = folder / "labels.npz"
    frames, start = frame_span(plan, part)
    with OwnerLock(folder.with_name(folder.name + ".lock"), wait=True):  # workers sharing fits/NAME render it once
        if labels.is_file():
            done = load_rendered(folder)
            if sorted(done.frames.index) == list(range(start, start + frames)):
                return done
            shutil.rmtree(folder)  # rendered for other frames (fit.polish_frames or fit.final_frames changed since)
        with plan.timed(f"render: {part}"):
            render(folder, [*plan.base, *overrides], frames, plan.fit.seed, start, plan.neutral)
        for p in folder.iterdir():
            if p.name not in KEEP:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        write_npz(labels, label_stats(read_json(folder / COCO_JSON)) if plan.target.labelled else {})
    return load_rendered(folder)


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


def made(plan: Plan, folder: Path, overrides: list[str], part: str = "trial") -> Rendered | Distance:
    """What measuring ``overrides`` starts from: their render into ``folder`` (:func:`rendered`),
    or with fit.objective=ap their distance (a study of one arm: :func:`ap_distance`). Run on the
    fit's render thread while the main thread develops the trial before."""
    if plan.fit.objective == "ap":
        return ap_distance(plan, folder, overrides)
    return rendered(plan, folder, overrides, part)


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


def trial_values(plan: Plan, trial: Any, final: dict[str, Any] | None = None) -> dict[str, Any]:
    """{setting key: value} of every entry of a trial ({} for one that never measured): its
    development polished in the ``final`` round's record when that measured it (:func:`final_round`)."""
    if "develop" not in trial.user_attrs or not set(trial.params) >= {p for e in plan.rendered for p in e.params}:
        return {}
    return {**values_of(plan.rendered, trial.params), **development(trial, final)}


def development(trial: Any, final: dict[str, Any] | None) -> dict[str, Any]:
    """The developed settings of a trial: polished by the ``final`` round (a record of
    :func:`final_round`, or None) when it measured the trial, else the trial's own search's."""
    return (final or {}).get("trials", {}).get(str(trial.number), {}).get("develop", trial.user_attrs["develop"])


# ------------------------------------------------------------------ the study

def open_study(plan: Plan) -> Any:
    """The fit's Optuna study (created, or loaded to resume), refused when it holds a fit of other
    settings (unless fit.overwrite, which starts it over). With the fit's own SQLite file (one
    worker, holding the folder's lock), a trial left running by a killed process is failed and
    its settings, when it had drawn them, queued to run first; with a shared storage, a trial whose worker stopped beating
    is failed and retried once its heartbeat is :data:`GRACE_S` old."""
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # the features the fit relies on (multivariate TPE, the constant liar, heartbeats and their retry) are
    # marked experimental: said once per process in a warning that is noise to a fit's user
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # ... and one that study.ask() gives with a heartbeat: the fit's trials beat themselves (Trials.begin)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    storage = opened(plan.storage_url, lambda: shared_storage(lambda: RDBStorage(
        plan.storage_url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
        heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=2))))
    name = plan.fit.name
    fingerprint = json.loads(json.dumps(plan.fingerprint))
    existing = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    started = 0
    if name in existing:
        old = optuna.load_study(study_name=name, storage=storage)
        started = len(old.trials)
        if old.user_attrs.get("fit") != fingerprint:
            if not plan.fit.overwrite:
                raise SimgenError(f"{plan.folder} holds fit {name!r} of other settings "
                                  f"({_first_change(old.user_attrs.get('fit'), fingerprint)});"
                                  " give another fit.name, or fit.overwrite=true to start it over")
            optuna.delete_study(study_name=name, storage=storage)
            for sub in ("default", "trials"):
                shutil.rmtree(plan.folder / sub, ignore_errors=True)
            started = 0
    shared = plan.fit.storage is not None
    entropy = [plan.fit.seed, started] + ([os.getpid(), int(digest(socket.gethostname()), 16)] if shared else [])
    seed = int(np.random.SeedSequence(entropy).generate_state(1)[0])
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=plan.fit.startup_trials, multivariate=True,
                                         constant_liar=shared)
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, direction="minimize",
                                load_if_exists=True)
    if "fit" not in study.user_attrs:
        study.set_user_attr("fit", fingerprint)
    if not shared:  # this process holds the folder's lock: a running trial is a killed process's
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            storage.set_trial_state_values(t._trial_id, state=optuna.trial.TrialState.FAIL)
            if "key" not in t.user_attrs:  # stopped before it drew all its settings (a range draws two
                # parameters, centre and width, one after the other): nothing of it to run again
                log.info("trial %d was stopped before it drew its settings", t.number)
                continue
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
            log.info("trial %d was stopped by its process's end: it runs again first, with its renders so far",
                     t.number)
    return study


SCHEMA_TRIES = 5
"""Attempts at opening the study's storage: workers that start at once on a new database each create
Optuna's tables, and all but one fail with a duplicate key (PostgreSQL's catalogue): they try again."""


def opened(url: str, make: Callable[[], Any]) -> Any:
    """``make()``, the study's storage at ``url``; a database that cannot be reached or a driver
    that is not installed is one line naming fit.storage (its password hidden) and the fix."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    try:
        parsed = make_url(url)
        shown = parsed.render_as_string(hide_password=True)
    except ArgumentError:
        raise SimgenError(f"fit.storage={url!r} is no database URL; give e.g. "
                          "postgresql+psycopg2://user:pw@host/db") from None
    try:
        return make()
    except ImportError:  # the URL's driver (Optuna words it as its own)
        raise SimgenError(f"fit.storage={shown} needs the {parsed.get_driver_name()} module: pip install "
                          "'simgen[postgres]' (or pip install -e '.[postgres]' in a checkout) for "
                          "postgresql+psycopg2://") from None
    except NoSuchModuleError as e:
        raise SimgenError(f"fit.storage={shown}: {e}") from None
    except OperationalError as e:
        reason = " ".join(str(getattr(e, "orig", None) or e).split())
        raise SimgenError(f"fit.storage={shown}: cannot open the database ({reason}); check that its server runs "
                          "and the URL's host, port, user and database") from None


def shared_storage(make: Callable[[], Any]) -> Any:
    """``make()``, an Optuna RDBStorage, tried again (after a short wait) when creating its schema
    collides with another worker doing the same: the tables are then there. Any other failure, or
    the last attempt's, is raised."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(1, SCHEMA_TRIES + 1):
        try:
            return make()
        except (IntegrityError, ProgrammingError):  # duplicate type, table or version row
            if attempt == SCHEMA_TRIES:
                raise
            time.sleep(0.2 * attempt)


def _first_change(old: Any, new: dict) -> str:
    if not isinstance(old, dict):
        return "no record of its settings"
    for k in new:
        if old.get(k) != new[k]:
            return f"its {k} differs"
    return "its settings differ"


def start_from_prefit(plan: Plan, study: Any, say: Callable[[str], None]) -> None:
    """Search the geometric entries on projected labels (simgen.fit.geometry.prefit) and queue the
    best, with every other rendered entry at its default, as the first trial."""
    from simgen.fit.geometry import prefit, prefit_scope

    if not all(prefit_scope(plan)):  # no geometric entry, or no label statistics to match
        return
    t0 = time.monotonic()
    say(f"simgen fit: {plan.fit.prefit_trials} candidate(s) of the geometric settings on projected labels")
    with plan.timed("prefit"):
        found = prefit(plan, plan.fit.prefit_trials, plan.fit.seed)
    if found is None:
        return
    params: dict[str, Any] = {}
    for e in plan.rendered:
        p = e.params_of(found.values[e.key] if e.key in found.values else plan.defaults[e.key])
        params.update(p or {})
    study.enqueue_trial(params, user_attrs={"from": "prefit"})
    study.set_user_attr("prefit", {"values": found.values, "distance": found.distance.total,
                                   "evaluations": len(found.history), "seconds": time.monotonic() - t0})
    log.info("prefit: label distance %.3f with %s (%.0f s)", found.distance.total, found.values,
             time.monotonic() - t0)


def start_from_defaults(plan: Plan, study: Any) -> None:
    """Queue the default config's rendered settings as a trial: the world the user starts from,
    with its camera settings searched (development). Not when nothing is developed (the trial would
    be the default config itself) or a default is outside the space."""
    if not plan.developed:
        return
    params = params_of(plan.rendered, plan.defaults)
    if params is None:
        log.info("the default config's settings are not all inside the space: no trial starts from the defaults")
        return
    study.enqueue_trial(params, user_attrs={"from": "defaults"}, skip_if_exists=True)


@dataclass
class Outcome:
    folder: Path
    trials: int
    default: float
    best: float


def run_fit(plan: Plan, say: Callable[[str], None] = print) -> Outcome:
    """Run (or resume, or finish) the fit of ``plan``: the default config first, then trials until
    fit.trials are complete; then trials.csv, best.yaml and report.html."""
    fit = plan.fit
    lock = None
    if fit.storage is None:  # the fit's own SQLite file: one process at a time
        try:
            lock = OwnerLock(mkdir(plan.folder) / "fit.lock")
        except BlockingIOError:
            raise SimgenError(f"another simgen fit runs in {plan.folder}; wait for it, or run several workers on "
                              "one study with fit.storage=postgresql+psycopg2://... (a database server)") from None
    try:
        return _run(plan, say)
    finally:
        SERVED.close()
        if lock is not None:
            lock.release()


def _run(plan: Plan, say: Callable[[str], None]) -> Outcome:
    fit = plan.fit
    study = open_study(plan)
    if plan.held:
        groups: dict[str, list[str]] = {}
        for h in plan.held:
            groups.setdefault(h.why, []).append(h.key)
        say("simgen fit: held at the base config's values, not searched: "
            + "; ".join(f"{' and '.join(keys)} ({why})" for why, keys in groups.items()))
    with render_thread() as renders:
        # one render at a time, beside the main thread's work: the default config's beside the prefit,
        # each trial's beside the development of the trial before (Trials)
        home = None
        if "default" not in study.user_attrs:
            say(f"simgen fit: rendering the default config ({fit.frames} frames) into {plan.folder / 'default'}")
            home = renders.submit(made, plan, plan.folder / "default", [])
        if not study.trials:
            if fit.prefit_trials and "prefit" not in study.user_attrs:
                start_from_prefit(plan, study, say)
            start_from_defaults(plan, study)
        if home is not None:
            with plan.timed("default config"):
                d = evaluate(plan, home.result(), [], fit.seed, []).distance
            study.set_user_attr("default", {"distance": d.total, "components": d.components})
        default = study.user_attrs["default"]["distance"]
        done = len(complete(study))
        if done < fit.trials:
            say(f"simgen fit: {fit.trials - done} trial(s) to run ({done} complete) against "
                f"{len(plan.target.files)} target image(s){' with labels' if plan.target.labelled else ''}; "
                f"default config: distance {default:.3f}")
            with plan.timed("trials"):
                Trials(plan, study, renders, default, done).run()
    final_round(plan, study, say)
    write_outputs(plan, study)

    def view(folder: Path, values: dict[str, Any]) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        return dataset_view(plan, folder) if fit.objective == "ap" else developed(plan, load_rendered(folder), values)

    result = write_best(plan, study, say) if complete(study) else None
    if not report_current(plan, study, result):
        final = result is not None and result.final  # the views of the final round's renders: more frames
        views = {"default": view(plan.folder / ("final" if final else "") / "default", {})}
        if result and result.best is not None:
            views["fitted"] = view(plan.folder / ("final" if final else "trials") / result.best.user_attrs["key"],
                                   development(result.best, final_record(plan, study)))
        write_report(plan, study, views, result)
    if plan.timing:
        study.set_user_attr("timing", [*study.user_attrs.get("timing", []), plan.timing])
        say(f"simgen fit: this run's time: {describe_timing(plan.timing)}")
    return Outcome(plan.folder, len(complete(study)), result.default if result else default,
                   result.distance if result else default)


@dataclass
class InFlight:
    """A trial whose settings are drawn and whose render is on the render thread."""

    trial: Any
    overrides: list[str]
    render: Future
    beat: Any
    """Its heartbeat in the storage (a context entered when it began, left when it ends)."""


class Trials:
    """The trials of a fit, until fit.trials are complete (a trial that could not render does not
    count; the failures in a row stop it: :data:`MAX_FAILED_IN_A_ROW`). A trial renders on the
    render thread while the main thread develops the one before (:data:`AHEAD`): it is drawn once
    every trial before that one is told, so a fit draws the same trials, in the same order, however
    long each step takes."""

    def __init__(self, plan: Plan, study: Any, renders: ThreadPoolExecutor, default: float, done: int) -> None:
        from simgen.progress import Progress

        self.plan, self.study, self.renders = plan, study, renders
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.default = default
        self.progress = Progress(plan.fit.trials, "trials", done=done)
        self.failed_in_a_row = self.infeasible_in_a_row = 0

    def run(self) -> None:
        from optuna.storages import fail_stale_trials

        ahead = AHEAD if self.plan.developed else 0  # nothing to do beside a render but wait for it
        pending: list[InFlight] = []
        try:
            while True:
                while len(pending) <= ahead and len(complete(self.study)) + len(pending) < self.plan.fit.trials:
                    fail_stale_trials(self.study)  # a dead worker's trial (shared storage) is run again
                    started = self.begin(self.study.ask())
                    if started is not None:
                        pending.append(started)
                if not pending:
                    return
                self.finish(pending.pop(0))
        finally:  # stopped: a drawn trial is left running, for a resume (or another worker) to run again
            for f in pending:
                f.beat.__exit__(None, None, None)

    def begin(self, trial: Any) -> InFlight | None:
        """Draw ``trial``'s settings and queue its render; None when it is skipped (told so)."""
        import optuna
        from optuna.storages._heartbeat import get_heartbeat_thread

        study, plan = self.study, self.plan
        origin = trial.user_attrs.get("from")
        if origin and any(t.user_attrs.get("from") == origin and t.number < trial.number for t in
                          study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,
                                                                    optuna.trial.TrialState.COMPLETE))):
            # workers sharing a storage that started at once each queued the prefit's and the defaults' trial
            log.info("trial %d repeats the %s trial another worker runs: skipped", trial.number, origin)
            return self.skip(trial)
        values = {e.key: e.suggest(trial) for e in plan.rendered}
        overrides = to_overrides(values)
        key = digest(overrides)
        trial.set_user_attr("key", key)  # also says that every parameter is drawn (open_study's resume)
        trial.set_user_attr("worker", self.worker)
        try:
            plan.check_placement(values)
        except SimgenError as e:  # decided without rendering: the search learns to avoid that corner
            trial.set_user_attr("error", str(e))
            self.infeasible_in_a_row += 1
            named = [f"{k}={override_text(v)}" for k, v in values.items() if k in str(e)]  # the settings the fix names
            log.warning("trial %d skipped before rendering: %s (it drew %s)", trial.number, e,
                        ", ".join(named or overrides))
            if self.infeasible_in_a_row >= MAX_INFEASIBLE_IN_A_ROW:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                raise SimgenError(f"{MAX_INFEASIBLE_IN_A_ROW} trials in a row drew settings whose objects cannot be "
                                  f"placed; the last: {e}; narrow fit.space so that they fit") from None
            return self.skip(trial)
        self.infeasible_in_a_row = 0
        beat = get_heartbeat_thread(trial._trial_id, study._storage)
        beat.__enter__()
        return InFlight(trial, overrides, self.renders.submit(timed_call, made, plan,
                                                              mkdir(plan.folder / "trials") / key, overrides), beat)

    def skip(self, trial: Any) -> None:
        import optuna

        self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        self.tick(False)

    def finish(self, f: InFlight) -> None:
        """Wait for ``f``'s render, search its development and tell the study its distance."""
        import optuna

        study, plan, trial = self.study, self.plan, f.trial
        try:
            try:
                r, seconds = f.render.result()
                t0 = time.monotonic()
                finished = complete(study)
                start = [min(finished, key=lambda t: t.value).user_attrs["develop"]] if finished else []
                seed = int(np.random.SeedSequence([plan.fit.seed, trial.number, DEVELOP_STREAM]).generate_state(1)[0])
                found = evaluate(plan, r, plan.developed, seed, [*start, plan.defaults])
            except SimgenError as e:
                self.failed_in_a_row += 1
                trial.set_user_attr("error", str(e))
                log.warning("trial %d failed: %s (its settings: %s)", trial.number, e, ", ".join(f.overrides))
                most = MAX_FAILED_IN_A_ROW[bool(complete(study))]
                if self.failed_in_a_row >= most:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    raise SimgenError(f"{most} trials in a row failed to render; the last: {e}") from None
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)  # not complete; the search goes on
                return self.tick(False)
            except BaseException:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                raise
        finally:
            f.beat.__exit__(None, None, None)
        self.failed_in_a_row = 0
        trial.set_user_attr("develop", found.values)
        trial.set_user_attr("develop_history", found.history)
        trial.set_user_attr("components", found.distance.components)
        trial.set_user_attr("seconds", seconds + time.monotonic() - t0)
        study.tell(trial, found.distance.total)
        self.tick(True)

    def tick(self, completed: bool) -> None:
        if completed:
            self.progress.note = f"best {self.study.best_value:.3f} (default {self.default:.3f})"
            self.progress.update(1)
        write_outputs(self.plan, self.study)


AHEAD = 1
"""Trials drawn ahead of the one developing: the next trial renders while this one is developed
(a render keeps about 1.5 of 2 cores busy, development as much: side by side they share them)."""


def timed_call(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """(``fn(*args)``, its wall seconds)."""
    t0 = time.monotonic()
    return fn(*args), time.monotonic() - t0


PHASES = ("prefit", "default config", "trials", "final round", "best.yaml check")
"""The phases of a fit that :func:`describe_timing` lists, in order (the others are parts of them)."""


def describe_timing(timing: dict[str, float]) -> str:
    """One line of a run's :attr:`Plan.timing`: its phases, then their parts (renders, developments)."""
    def t(s: float) -> str:
        return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"

    phases = [f"{p} {t(timing[p])}" for p in PHASES if p in timing]
    parts = [f"{k} {t(v)}" for k, v in sorted(timing.items()) if k not in PHASES]
    return ", ".join(phases) + (f" (of which {', '.join(parts)})" if parts else "")


# ------------------------------------------------------------------ the final round

def finalists(plan: Plan, study: Any) -> list[Any]:
    """The fit.finalists complete trials closest to the target on the trials' frames, one per
    rendered setting (a trial run again counts once), and the default config's world with its
    development searched (:func:`start_from_defaults`) when it is not one of them: a trial's few
    frames rank worlds only coarsely, and the world the user starts from gets a measurement on
    the final round's frames whatever its luck on the trials' (with its trial's development: the
    final round polishes the fit.finalists closest only)."""
    ranked, keys = [], set()
    for t in sorted(complete(study), key=lambda t: (t.value, t.number)):
        if t.user_attrs["key"] not in keys:
            keys.add(t.user_attrs["key"])
            ranked.append(t)
    out = ranked[:plan.fit.finalists]
    home = params_of(plan.rendered, plan.defaults) if plan.developed else None
    if home is not None:
        world = next((t for t in ranked if t.params == home), None)
        if world is not None and all(t.number != world.number for t in out):
            out.append(world)
    return out


def final_record(plan: Plan, study: Any) -> dict[str, Any] | None:
    """The final round's measurements, ``{"frames": N, "polish": P, "default": M, "trials": {number:
    M}}`` with M ``{"distance", "components"}`` (and a trial's ``"develop"``: its polished
    development), when it has measured the default config and every current finalist on
    fit.final frames after fit.polish_trials; None before (or without a final round)."""
    r = round_record(plan, study)
    return r if r and "default" in r and all(measured_in(r, t.number) for t in finalists(plan, study)) else None


def measured_in(record: dict[str, Any], number: int) -> bool:
    """Whether a final round's ``record`` has measured trial ``number``, or dropped it (its render failed)."""
    return str(number) in record["trials"] or str(number) in record.get("dropped", {})


def round_record(plan: Plan, study: Any) -> dict[str, Any] | None:
    """The final round's record as far as it got (:func:`final_record`), when it is of the current
    fit.final_frames, fit.polish_trials and fit.polish_frames; None before or without a final round."""
    r = study.user_attrs.get("final")
    fit = plan.fit
    if not fit.final or not r or _round_of(r) != (fit.final, fit.polish_trials, fit.polish):
        return None
    return r


def _round_of(record: dict[str, Any]) -> tuple[int, int, int]:
    """(frames, polish candidates, polish frames) of a final round's record (older records: none)."""
    return record.get("frames", 0), record.get("polish", 0), record.get("polish_frames", 0)


def polish(plan: Plan, study: Any, t: Any, more: Future | None, held: Future | None) -> dict[str, Any]:
    """Finalist ``t``'s development searched again on its trial's frames and the first half of
    fit.polish_frames more (``more``: their render into ``polish/KEY``, on the render thread) with
    fit.polish_trials candidates (its own first, then those of the :data:`POLISH_STARTS` closest
    trials and the defaults): each trial's search started from the best so far, found on another
    render, ends in a local optimum of its own, and fits its few frames' draws. The second half
    (``held``: ``held_out/KEY``) stops it: the result is the search's best so far that came closest
    there (:func:`search`). Called only where :func:`polishes`."""
    own = t.user_attrs["develop"]
    closest = sorted(complete(study), key=lambda u: (u.value, u.number))[:POLISH_STARTS]
    seed = int(np.random.SeedSequence([plan.fit.seed, t.number, POLISH_STREAM]).generate_state(1)[0])
    r = load_rendered(plan.folder / "trials" / t.user_attrs["key"])
    if more is not None:
        r = joined(r, more.result())
    # the held-out frames are measured when the search ends: they may still be rendering as it starts
    check = None if held is None else lambda v: measure(plan, held.result(), v)  # noqa: E731
    with plan.timed("develop: polish"):
        found = search(plan.developed, lambda v: measure(plan, r, v), plan.fit.polish_trials, seed,
                       [own, *(u.user_attrs["develop"] for u in closest), plan.defaults], held_out=check)
    if found.held_out:
        log.info("trial %d polished: of %d improvements, number %d came closest on %d held-out frames (%.4f; the "
                 "last %.4f)", t.number, len(found.held_out), int(np.argmin(found.held_out)) + 1, plan.fit.held_out,
                 min(found.held_out), found.held_out[-1])
    return found.values


def polishes(plan: Plan) -> bool:
    """Whether the final round polishes its finalists' developments (:func:`polish`)."""
    return bool(plan.developed and plan.fit.polish_trials)


def final_round(plan: Plan, study: Any, say: Callable[[str], None]) -> None:
    """Measure the default config and the finalists again on fit.final new frames (frame indices
    after the trials'), unless done: ``final/default`` and ``final/KEY`` hold their renders, the
    study's user attribute ``final`` the measurements (:func:`final_record`). A finalist is
    measured with its development polished first (:func:`polish`)."""
    fit = plan.fit
    if not fit.final or not complete(study) or final_record(plan, study) is not None:
        return
    with plan.timed("final round"):
        _final_round(plan, study, say)


def _final_round(plan: Plan, study: Any, say: Callable[[str], None]) -> None:
    from simgen.progress import Progress

    fit = plan.fit
    record = round_record(plan, study) or {"frames": fit.final, "polish": fit.polish_trials,
                                            "polish_frames": fit.polish, "trials": {}}
    ranked = finalists(plan, study)
    contenders = {t.number for t in ranked[:fit.finalists]}  # the rest: the default config's world, far behind
    todo = [t for t in ranked if not measured_in(record, t.number)]
    renders = len(todo) + ("default" not in record)
    say(f"simgen fit: the final round: {'the default config and ' if 'default' not in record else ''}"
        f"{len(todo)} trial(s) (the closest, and the default config's world) measured again on {fit.final} new "
        "frames" + (f", the {fit.finalists} closest trials' developments polished first ({fit.polish_trials} "
                    f"candidates on its own frames"
                    f"{f' and {fit.polish_searched} more, stopped by {fit.held_out} held out' if fit.polish else ''})"
                    if contenders & {t.number for t in todo} and polishes(plan) else ""))
    progress = Progress(renders, "final renders")
    with render_thread() as pool:
        # every render of the round queued at once, in the order they are needed: each renders while
        # the main thread polishes and measures with those before it. The first polishing search waits
        # for its frames only (its held-out frames are read when it ends): the default config's render
        # comes after them, and is measured last
        def ahead(key: str, overrides: list[str], part: str, wanted: Any = True) -> Future | None:
            return pool.submit(rendered, plan, mkdir(plan.folder / part) / key, overrides, part) if wanted else None

        home, queued = None, []
        for t in todo:
            key, overrides = t.user_attrs["key"], to_overrides(values_of(plan.rendered, t.params))
            polished = polishes(plan) and t.number in contenders
            more = ahead(key, overrides, "polish", polished and fit.polish_searched)
            home = home or ahead("default", [], "final", "default" not in record)
            queued.append((t, polished, more, ahead(key, overrides, "held_out", polished and fit.held_out),
                           ahead(key, overrides, "final")))
        home = home or ahead("default", [], "final", "default" not in record)

        def measured(render: Future, values: dict[str, Any]) -> dict[str, Any]:
            d = measure(plan, render.result(), values)
            progress.update(1)
            return {"distance": d.total, "components": d.components}

        for t, polished, more, held, final in queued:
            try:
                values = polish(plan, study, t, more, held) if polished else t.user_attrs["develop"]
                record["trials"][str(t.number)] = {**measured(final, values), "develop": values}
            except SimgenError as e:  # one finalist that cannot render its frames does not end the fit
                for f in (more, held, final):
                    f and f.cancel()
                record.setdefault("dropped", {})[str(t.number)] = str(e)
                progress.update(1)
                say(f"simgen fit: trial {t.number} dropped from the final round, its frames did not all render: {e}")
            study.set_user_attr("final", record)
        if home is not None:
            record["default"] = measured(home, {})
            study.set_user_attr("final", record)
    log.info("final round on %d frames: default config %.4f, %s", fit.final, record["default"]["distance"],
             ", ".join([*(f"trial {k} {v['distance']:.4f}" for k, v in record["trials"].items()),
                        *(f"trial {k} dropped" for k in record.get("dropped", {}))]))


# ------------------------------------------------------------------ results

def write_outputs(plan: Plan, study: Any) -> None:
    """trials.csv as the study stands (``final``: a finalist's distance on the final round's frames,
    or ``dropped``)."""
    trials = study.get_trials(deepcopy=False)
    comps = list(plan.weights)
    final = round_record(plan, study)
    again = (final or {}).get("trials", {})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["trial", "state", "distance", "final", *comps, "seconds", "folder", *(e.key for e in plan.entries)])
    for t in trials:
        values = trial_values(plan, t, final)
        c = t.user_attrs.get("components", {})
        f = again.get(str(t.number), {}).get("distance")
        dropped = str(t.number) in (final or {}).get("dropped", {})
        w.writerow([t.number, t.state.name, "" if t.value is None else f"{t.value:.6g}",
                    "dropped" if dropped else "" if f is None else f"{f:.6g}",
                    *(f"{c[k]:.6g}" if k in c else "" for k in comps), f"{t.user_attrs.get('seconds', 0):.1f}",
                    f"trials/{t.user_attrs['key']}" if "key" in t.user_attrs else "",
                    *(override_text(values[e.key]) if e.key in values else "" for e in plan.entries)])
    atomic_write_bytes(plan.folder / "trials.csv", buf.getvalue().encode())


@dataclass
class Fitted:
    """What a fit found: the closest trial's settings, or the default config's when no trial came
    closer to the target (a fit never hands back a randomization worse than where it started).
    Measured on the final round's frames when it ran (:func:`final_round`), else on the trials'."""

    values: dict[str, Any]
    what: str
    """One line: where the values come from and how close they are."""
    best: Any
    """The closest trial (optuna FrozenTrial), even when the default config is closer still; None when
    no trial rendered every frame it was measured on."""
    measured: dict[str, dict[str, Any]]
    """{"default", "best": {"distance", "components"}}, on the same frames."""
    final: bool
    """Measured on the final round's frames."""
    round: dict[int, float] = field(default_factory=dict)
    """The final round's distance of each current finalist ({trial number: distance}; {} without)."""
    number: int | None = None
    """The trial whose settings these are; None: the default config's."""

    @property
    def default(self) -> float:
        return self.measured["default"]["distance"]

    @property
    def distance(self) -> float:
        """The result's distance: the best trial's, or the default config's when that is closer."""
        return min(self.default, self.measured["best"]["distance"])


def fitted(plan: Plan, study: Any, refused: frozenset[int] = frozenset()) -> Fitted:
    """The fit's result from a study with a complete trial: the closest candidate that rendered every
    frame it was measured on (a finalist dropped from the final round is none), leaving out the
    trials ``refused`` (their best.yaml did not render: :func:`write_best`)."""
    done = {t.number: t for t in complete(study)}
    final = final_record(plan, study)
    if final is None:
        default = study.user_attrs["default"]
        scores = {k: {"distance": t.value, "components": t.user_attrs.get("components", {})} for k, t in done.items()}
        on = f"on the trials' {plan.fit.frames} frames"
    else:
        default = final["default"]
        scores = {t.number: final["trials"][str(t.number)] for t in finalists(plan, study)
                  if str(t.number) in final["trials"]}
        on = f"in the final round ({plan.fit.final} new frames, {len(scores)} of the closest trial(s) measured again)"
    shown = {k: v["distance"] for k, v in scores.items()} if final is not None else {}
    scores = {k: v for k, v in scores.items() if k not in refused}
    if not scores:
        return Fitted(dict(plan.defaults), f"no trial of {len(done)} rendered every frame {on} and a best.yaml "
                      f"that renders; these are the default config's settings (distance {default['distance']:.4f})",
                      None, {"default": default, "best": default}, final is not None, shown)
    number = min(scores, key=lambda k: (scores[k]["distance"], k))
    best, d0, d = done[number], default["distance"], scores[number]["distance"]
    measured = {"default": default, "best": scores[number]}
    if d0 <= d:
        return Fitted(dict(plan.defaults), f"no trial of {len(done)} came closer to the target than the default "
                      f"config {on}: distance {d0:.4f}, the closest trial ({number}) {d:.4f}; these are the "
                      "default config's settings", best, measured, final is not None, shown)
    return Fitted(trial_values(plan, best, final), f"trial {number}, the closest of {len(done)} trial(s) {on}: distance "
                  f"{d:.4f} to the target (the default config: {d0:.4f})", best, measured, final is not None, shown,
                  number)


def write_best(plan: Plan, study: Any, say: Callable[[str], None]) -> Fitted:
    """best.yaml: the fit's result (:func:`fitted`), written once a render of it as written (one frame,
    the fit's render settings, :func:`check_best`) succeeded. A trial whose best.yaml does not render
    is refused, with one line, and the next closest candidate taken."""
    refused: set[int] = set()
    with OwnerLock(plan.folder / "best.lock", wait=True):  # workers sharing the folder check it once
        while True:
            result = fitted(plan, study, frozenset(refused))
            text = best_yaml(plan, result)
            try:
                check_best(plan, text)
            except SimgenError as e:
                if result.number is None:
                    raise SimgenError(f"best.yaml with the default config's settings does not render: {e}") from None
                say(f"simgen fit: trial {result.number} left out of the result, its best.yaml did not render: {e}")
                refused.add(result.number)
                continue
            atomic_write_bytes(plan.folder / "best.yaml", text.encode())
            return result


CHECK = "check"
"""The folder (in the fit's) where best.yaml is rendered before it is written; removed once it rendered."""


def check_best(plan: Plan, text: str) -> None:
    """Render ``text``, a best.yaml, as a user would (``simgen --config-dir DIR --config-name best``)
    with the fit's render settings, one frame; a SimgenError with its output's end when it fails.
    Nothing to do when best.yaml already holds ``text`` (it was checked before it was written)."""
    path = plan.folder / "best.yaml"
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    folder = plan.folder / CHECK
    shutil.rmtree(folder, ignore_errors=True)
    mkdir(folder)
    (folder / "best.yaml").write_text(text, encoding="utf-8")
    how = [o for o in plan.base if o.startswith("render.")]  # left out of best.yaml (WORLD_EXCLUDED)
    with plan.timed("best.yaml check"):
        render(folder / "render", ["--config-dir", str(folder), "--config-name", "best", *how], 1, plan.fit.seed, 0,
               [])
    shutil.rmtree(folder)


def best_yaml(plan: Plan, result: Fitted) -> str:
    """A fit's ``result`` (:func:`fitted`) as a primary simgen config: ``simgen --config-dir FOLDER
    --config-name best [more overrides]`` renders with it. The base overrides that describe the
    world (not how the fit rendered: :data:`WORLD_EXCLUDED`) come with them."""
    import yaml

    values = result.values
    from simgen.configure.store import groups as setting_groups

    known = {"scene", "experiment", *setting_groups()}
    groups, keys = [], {}
    for o in plan.base:
        k, _, v = o.partition("=")
        if k.startswith(WORLD_EXCLUDED) or k.startswith(("+", "~")):
            continue
        if k in known:
            groups.append(f"override {k}: {v}")
        else:
            keys[k] = yaml.safe_load(v)
    keys.update(values)
    tree: dict[str, Any] = {}
    for k, v in keys.items():
        node = tree
        *parents, leaf = k.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = v
    head = (f"# simgen fit {plan.fit.name}: {result.what}.\n"
            f"# Render with it:  simgen --config-dir {plan.folder} --config-name best [more overrides]\n"
            "# (values on the command line win over these; group options keep these values on top).\n"
            + "".join(f"# Not fitted, held at the base config's value: {h.key} ({h.why}).\n" for h in plan.held))
    body = "defaults:\n  - config\n" + "".join(f"  - {g}\n" for g in groups) + "  - _self_\n"
    return head + body + yaml.safe_dump(tree, sort_keys=False, default_flow_style=None)
