"""The fit's final round, apart from the round itself (simgen.fit.runner.final_round): its finalists (the
closest trials and the default config's world), its record in the study and what that has measured, and
the polishing of a finalist's development on more frames."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any

import numpy as np

from simgen.fit.post_render import search
from simgen.fit.plan import Plan
from simgen.fit.renders import joined, load_rendered, measure
from simgen.fit.report import complete
from simgen.fit.space import params_of

log = logging.getLogger("simgen.fit")

POLISH_STREAM = 0x504F4C49
"""Entropy word of a finalist's polishing search's seed (with fit.seed and the trial number)."""
POLISH_STARTS = 10
"""The closest trials whose developments a finalist's polishing search tries first."""


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
