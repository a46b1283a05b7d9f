"""The trials of a fit: each draws its settings from the study, renders on the render thread while the
main thread develops the trial before it, and tells the study its distance; renders failing (or objects
that cannot be placed) too many times in a row stop the fit."""

from __future__ import annotations

import logging
import os
import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from simgen.errors import SimgenError
from simgen.config.schema import override_text
from simgen.fit.config import digest
from simgen.fit.outputs import write_outputs
from simgen.fit.plan import Plan, mkdir
from simgen.fit.renders import evaluate, made
from simgen.fit.report import complete
from simgen.fit.space import to_overrides

log = logging.getLogger("simgen.fit")

MAX_FAILED_IN_A_ROW = (3, 10)
"""Consecutive trials whose render failed before the fit stops: before any trial is complete (the
base config is likely bad), and after (a corner of the space that cannot render, e.g. more objects
than fit, is only skipped: the search learns to avoid it)."""
MAX_INFEASIBLE_IN_A_ROW = 50
"""Consecutive trials whose objects cannot be placed (each refused before it renders, without Blender:
:meth:`simgen.fit.plan.Plan.check_placement`) before the fit stops: the space is mostly infeasible."""
DEVELOP_STREAM = 0x44455645
"""Entropy word of a trial's development search's seed (with fit.seed and the trial number)."""


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
                                                              mkdir(plan.folder / "trials") / key, values), beat)

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
