"""report.html of a fit: one self-contained page (nothing loaded from elsewhere) with the target,
default and fitted images side by side, each statistic's distribution for the three, the distance
per trial, each component before and after, which settings mattered (Optuna's parameter
importances) and the fitted settings. Plots need matplotlib (extra ``report``); without it the page
says so and keeps the rest."""

from __future__ import annotations

import dataclasses
import hashlib
import html
import importlib.util
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simgen.version import __version__
from simgen.config.schema import override_text
from simgen.io.files import atomic_write_bytes
from simgen.report import mpl, svg
from simgen.report.inspect import CSS, image_data_uri

if TYPE_CHECKING:
    from simgen.fit.plan import Plan

log = logging.getLogger("simgen.fit")

SHOWN = 6
"""Images of each kind shown side by side."""


def _target_images(plan: "Plan", n: int) -> list[np.ndarray]:
    from simgen.fit.target import read_image

    root = Path(plan.fit.target).expanduser()
    picks = np.linspace(0, len(plan.target.files) - 1, min(n, len(plan.target.files))).round().astype(int)
    return [read_image(root / plan.target.files[i]) for i in sorted(set(picks))]


def complete(study: Any) -> list[Any]:
    """The study's complete trials."""
    import optuna

    return [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]


def importances(study: Any) -> dict[str, float]:
    """Optuna's parameter importances of the complete trials ({} with fewer than 3, without
    parameters, or when it cannot)."""
    import optuna

    if len(complete(study)) < 3 or not any(t.params for t in complete(study)):
        return {}
    try:
        return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError, ZeroDivisionError) as e:  # e.g. every trial the same value
        log.warning("parameter importances left out: %s", e)
        return {}


def develop_importances(plan: "Plan", trial: Any) -> dict[str, float]:
    """The parameter importances of a trial's development search (its ``develop_history``)."""
    import optuna

    dists = {k: d for e in plan.developed for k, d in e.distributions().items()}
    study = optuna.create_study(direction="minimize")
    for h in trial.user_attrs.get("develop_history", ()):
        try:
            study.add_trial(optuna.trial.create_trial(params=h["params"], distributions=dists, value=h["value"]))
        except ValueError:  # a value a bit past its interval's end, in a history recorded before that was clipped
            continue
    return importances(study)


def determined(plan: "Plan", key: str) -> str:
    """What the target determines of searched setting ``key``: the setting itself, or its ratio to
    the settings held with it (simgen.fit.space.TIES)."""
    from simgen.fit.space import TIES

    held = {h.key for h in plan.held}
    for tie in TIES:
        others = [k for k in tie.members if k in held]
        if key in tie.members and others:
            return f"in {tie.relation} only: {tie.name}, {tie.quantity}; held: {', '.join(others)}"
    return "by the target"


REPORT = "report.html"


def report_key(plan: "Plan", study: Any, result: Any) -> str:
    """A digest of everything report.html shows (the fit's settings and folder, the trials and the
    study's records, the result, whether plots can be drawn, simgen's version): the same key, the
    same page."""
    trials = [(t.number, t.state.name, t.value, t.params, t.user_attrs) for t in study.get_trials(deepcopy=False)]
    records = {k: v for k, v in study.user_attrs.items() if k != "timing"}  # a run's timing is not shown
    parts = [__version__, dataclasses.asdict(plan.fit), plan.fingerprint, str(plan.folder),
             [(h.key, h.why) for h in plan.held], trials, records, result.what if result else None,
             importlib.util.find_spec("matplotlib") is not None]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def report_current(plan: "Plan", study: Any, result: Any) -> bool:
    """Whether report.html shows what it would show if written now (:func:`report_key`): a fit run
    again with nothing to do leaves it, instead of drawing its pictures and plots again (seconds)."""
    path = plan.folder / REPORT
    return path.is_file() and _key_tag(report_key(plan, study, result)) in path.read_text(encoding="utf-8",
                                                                                         errors="replace")


def _key_tag(key: str) -> str:
    return f'<meta name="simgen-fit-report" content="{key}">'


def write_report(plan: "Plan", study: Any, views: dict[str, tuple[list[np.ndarray], dict[str, np.ndarray]]],
                 result: Any) -> Path:
    """Write ``report.html`` into the fit's folder; returns its path. ``views``: {"default", and
    "fitted" once a trial is complete: (developed images, statistics samples) of the closest trial};
    ``result``: the fit's simgen.fit.outputs.Fitted (None before a trial is complete)."""
    done = complete(study)
    best = study.best_trial if done else None
    default = study.user_attrs.get("default", {})
    final = study.user_attrs.get("final")
    pictures = {"target": _target_images(plan, SHOWN), **{k: v[0][:SHOWN] for k, v in views.items()}}
    samples = {"target": plan.target.samples, **{k: v[1] for k, v in views.items()}}
    title = f"simgen fit: {plan.fit.name}"
    rows = [("target", f"{plan.fit.target} ({len(plan.target.files)} images, {plan.target.size[0]}x{plan.target.size[1]})"
             + (f", labels {plan.fit.target_coco}" if plan.target.labelled else "")),
            ("trials", f"{len(done)} complete of {plan.fit.trials}, {plan.fit.frames} frames each"),
            ("distance", f"on the trials' frames: default config {default.get('distance', float('nan')):.4f}"
             + (f", best {best.value:.4f} (trial {best.number})" if best else "")),
            *([("final round", f"on {final['frames']} new frames: default config {final['default']['distance']:.4f}, "
                + ", ".join([*(f"trial {k} {v:.4f}" for k, v in result.round.items()),
                             *(f"trial {k} dropped ({why})" for k, why in final.get("dropped", {}).items())])
                + (f" (each trial's development polished first: {final['polish']} candidates on its own frames"
                   f" and {final.get('polish_frames', 0)} more)" if final.get("polish") else ""))]
              if result and result.final else []),
            *([("result (best.yaml)", result.what)] if result else []),
            *([("prefit", "{evaluations} evaluations of the geometric settings on projected labels: label distance "
                "{distance:.3f} ({seconds:.0f} s); trial 0 renders the best".format(**study.user_attrs["prefit"]))]
              if "prefit" in study.user_attrs else [])]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', _key_tag(report_key(plan, study, result)),
           f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>", '<table class="summary">',
           *(f"<tr><td>{k}</td><td>{html.escape(v)}</td></tr>" for k, v in rows), "</table>",
           "<h2>Images</h2>", '<div class="sheet" id="images">']
    for name, images in pictures.items():
        out.append(f'<div class="row" data-kind="{name}"><div class="cap">{name}</div>')
        out += [f'<figure><img src="{image_data_uri(im)}" alt="{name} {k}"></figure>' for k, im in enumerate(images)]
        out.append("</div>")
    out.append("</div>")
    comps = list(plan.weights)
    measured = result.measured if result else {"default": default, "best": {}}
    out += ["<h2>Distance per statistic</h2>", '<table class="summary" id="components"><tr><td>statistic</td>'
            f"<td>default</td><td>closest trial{f' (trial {result.best.number})' if result and result.best is not None else ''}</td>"
            "<td>weight</td></tr>"]
    for c in comps:
        d, f = (measured[k].get("components", {}).get(c) for k in ("default", "best"))
        out.append(f"<tr><td>{c}</td><td>{'' if d is None else f'{d:.3f}'}</td>"
                   f"<td>{'' if f is None else f'{f:.3f}'}</td><td>{plan.weights[c]:g}</td></tr>")
    out.append("</table>")
    plots = [svg.trials_plot("Distance per trial", [t.number for t in done], [t.value for t in done],
                             default.get("distance"))]
    plots += [svg.samples_plot(c, {k: s[c] for k, s in samples.items() if c in s}) for c in plan.target.samples]
    for what, weights in (("rendered settings mattered (over the trials)", importances(study)),
                          ("camera settings mattered (the best trial's development)",
                           develop_importances(plan, best) if best else {})):
        if weights:
            names = sorted(weights, key=weights.get, reverse=True)[:15]
            plots.append(svg.bar_chart(f"Which {what}", names, [weights[n] for n in names], ylabel="importance"))
    out += ["<h2>Plots</h2>", '<div class="plots" id="plots">', *(plots if mpl.available() else [svg.NO_PLOTS]),
            "</div>"]
    if best is not None:
        out += ["<h2>Fitted settings</h2>", '<table class="summary" id="settings"><tr><td>setting</td><td>default</td>'
                "<td>fitted</td><td>determined</td></tr>"]
        for e in plan.entries:
            d, f = override_text(plan.defaults[e.key]), override_text(result.values[e.key])
            out.append(f"<tr><td>{e.key}</td><td>{html.escape(d)}</td><td>{html.escape(f)}</td>"
                       f"<td>{html.escape(determined(plan, e.key))}</td></tr>")
        out += [f"<tr><td>{h.key}</td><td colspan=2>{html.escape(h.describe())}</td><td>{html.escape(h.why)}</td>"
                "</tr>" for h in plan.held]
        out.append("</table>")
        out.append(f"<p>Render with them: <code>simgen --config-dir {html.escape(str(plan.folder))} "
                   "--config-name best</code></p>")
    out.append("</body></html>")
    path = plan.folder / REPORT
    atomic_write_bytes(path, "\n".join(out).encode("utf-8"))
    return path
