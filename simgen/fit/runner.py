"""Run a fit: render the default config and one candidate randomization per trial, develop each
trial's renders under the candidate camera settings of a search of its own (simgen.fit.post_render),
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

The orchestration is here; its parts are modules of their own: the renders and their measurement
(simgen.fit.renders), the study (simgen.fit.study), the trials (simgen.fit.trials), the final round's
finalists and polishing (simgen.fit.final) and what a fit writes (simgen.fit.outputs).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from simgen.errors import SimgenError
from simgen.config.schema import override_text
from simgen.fit.final import final_record, finalists, measured_in, polish, polishes, round_record
from simgen.fit.outputs import Fitted, best_yaml, check_best, development, fitted, write_outputs
from simgen.fit.plan import Plan, mkdir
from simgen.fit.renders import dataset_view, developed, evaluate, load_rendered, made, measure, render_thread, rendered
from simgen.fit.report import complete, report_current, write_report
from simgen.fit.space import values_of
from simgen.fit.study import open_study, start_from_defaults, start_from_prefit
from simgen.fit.study import opened, shared_storage  # noqa: F401  (re-exported: callers import them from here)
from simgen.fit.trials import Trials
from simgen.io.files import atomic_write_bytes
from simgen.io.locks import OwnerLock
from simgen.child_processes import SERVED

log = logging.getLogger("simgen.fit")


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
            groups.setdefault(h.why, []).append(h.key if h.value is None else f"{h.key}={override_text(h.value)}")
        say("simgen fit: held at the base config's values (or the one given), not searched: "
            + "; ".join(f"{' and '.join(keys)} ({why})" for why, keys in groups.items()))
    with render_thread() as renders:
        # one render at a time, beside the main thread's work: the default config's beside the prefit,
        # each trial's beside the development of the trial before (Trials)
        home = None
        if "default" not in study.user_attrs:
            say(f"simgen fit: rendering the default config ({fit.frames} frames) into {plan.folder / 'default'}")
            home = renders.submit(made, plan, plan.folder / "default", {})
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
        def ahead(key: str, values: dict[str, Any], part: str, wanted: Any = True) -> Future | None:
            return pool.submit(rendered, plan, mkdir(plan.folder / part) / key, values, part) if wanted else None

        home, queued = None, []
        for t in todo:
            key, values = t.user_attrs["key"], values_of(plan.rendered, t.params)
            polished = polishes(plan) and t.number in contenders
            more = ahead(key, values, "polish", polished and fit.polish_searched)
            home = home or ahead("default", {}, "final", "default" not in record)
            queued.append((t, polished, more, ahead(key, values, "held_out", polished and fit.held_out),
                           ahead(key, values, "final")))
        home = home or ahead("default", {}, "final", "default" not in record)

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
