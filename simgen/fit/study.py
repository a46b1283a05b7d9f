"""The fit's Optuna study: its storage opened (the fit's own SQLite file, or a database server that
workers share), a fit of other settings refused, a killed process's trial queued to run again, and the
first trials queued (the prefit's best, the default config's world)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
import warnings
from typing import Any, Callable

import numpy as np

from simgen.errors import SimgenError, install_hint
from simgen.fit.config import digest
from simgen.fit.plan import Plan
from simgen.fit.space import params_of

log = logging.getLogger("simgen.fit")

HEARTBEAT_S = 10
"""How often a worker's running trial says it is alive in the storage."""
GRACE_S = 60
"""A running trial silent this long belongs to a dead worker: it is failed and run again."""


def open_study(plan: Plan) -> Any:
    """The fit's Optuna study (created, or loaded to resume), refused when it holds a fit of other
    settings (unless fit.overwrite, which starts it over). With the fit's own SQLite file (one
    worker, holding the folder's lock), a trial left running by a killed process is failed and
    its settings, when it had drawn them, queued to run first; with a shared storage, a trial whose worker stopped
    beating is failed and retried once its heartbeat is :data:`GRACE_S` old."""
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
        raise SimgenError(f"fit.storage={shown} needs the {parsed.get_driver_name()} module: "
                          f"{install_hint('postgres')} for postgresql+psycopg2://") from None
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
    best, with every other rendered entry at its default, as the first trial; then the same with
    each other choice of each rendered choice entry (the world's kind: :func:`other_choices`)."""
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
    for origin, other in other_choices(plan, params):
        study.enqueue_trial(other, user_attrs={"from": f"prefit with {origin}"})
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


def other_choices(plan: Plan, params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``params`` (a trial's) with one rendered choice entry set to another of its choices, for each
    such entry and choice, each with what it changed (``key=choice``). Left to TPE, a choice is tried
    in its first, random trials only, and judged by their other settings: in a fit of fit_gap's, 2 of
    40 trials drew the sky (lighting.world), both with elevations far from the target's, and none
    after them. Queued beside the prefit's trial, each choice is measured once at its geometry."""
    out = []
    for e in plan.rendered:
        if e.kind != "choice" or e.key not in params:
            continue
        for choice in e.choices:
            p = e.params_of(choice)
            if p is not None and p[e.key] != params[e.key]:
                out.append((f"{e.key}={p[e.key]}", {**params, **p}))
    return out
