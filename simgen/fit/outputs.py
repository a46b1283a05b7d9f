"""What a fit writes as it goes and at its end: trials.csv as the study stands, the fit's result
(:class:`Fitted`, with a trial's values as fitted) and the text of best.yaml, which is rendered once as a check
before it is written (simgen.fit.runner.write_best)."""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass, field
from typing import Any

from simgen.config.schema import override_text
from simgen.fit.final import final_record, finalists, round_record
from simgen.fit.plan import Plan, mkdir
from simgen.fit.renders import render_candidate
from simgen.fit.report import complete
from simgen.fit.space import values_of
from simgen.io.files import atomic_write_bytes

WORLD_EXCLUDED = ("render.", "output.", "shard.", "hydra.", "frames", "start", "seed")
"""Overrides that say how the fit rendered, not what the world is: left out of best.yaml."""


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
    return Fitted(trial_values(plan, best, final), f"trial {number}, the closest of {len(done)} trial(s) {on}: "
                  f"distance {d:.4f} to the target (the default config: {d0:.4f})", best, measured, final is not None,
                  shown, number)


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
        render_candidate(folder / "render", ["--config-dir", str(folder), "--config-name", "best", *how], 1, plan.fit.seed, 0,
               [])
    shutil.rmtree(folder)


def best_yaml(plan: Plan, result: Fitted) -> str:
    """A fit's ``result`` (:func:`fitted`) as a primary simgen config: ``simgen --config-dir FOLDER
    --config-name best [more overrides]`` renders with it. The base overrides that describe the
    world (not how the fit rendered: :data:`WORLD_EXCLUDED`) come with them."""
    import yaml

    values = result.values
    from simgen.compose.store import groups as setting_groups

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
            + "".join(f"# Not fitted, {h.describe()}: {h.key} ({h.why}).\n" for h in plan.held))
    body = "defaults:\n  - config\n" + "".join(f"  - {g}\n" for g in groups) + "  - _self_\n"
    return head + body + yaml.safe_dump(tree, sort_keys=False, default_flow_style=None)
