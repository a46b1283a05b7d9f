"""Run a study: render every arm and the target, train one detector per arm x training-set size x
seed, score each on the target with COCOeval, write the results table, plots and a summary.

Layout of ``study.out``::

    data/ARM/            one simgen dataset per arm (its largest training-set size)
    data/target/         the rendered target set (when study.target.coco is not given)
    runs/ARM/nN/seedS/   spec.json (what was trained), result.json (detections by name, times),
                         score.json (COCOeval); with the ultralytics trainer also work/ (its own files)
    runs/predict.json    the target's images, for a trainer that reads them so (ultralytics: its --predict)
    results.csv          one row per training run
    results.json         the study, every run, and the mean / spread per arm and size
    summary.md           the table and what helped, with the plots (matplotlib, extra ``report``):
    ap_per_arm.png, learning_curve.png, ap_per_category.png

Everything is resumable: datasets are simgen datasets (a second run keeps their frames), and a
training run whose spec.json is unchanged and whose result.json exists is not run again.
Rendering and training run in child processes (``python -m simgen.cli``, ``python -m
simgen.torch.job`` or the Ultralytics script), so this module imports neither bpy nor torch.
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from simgen.errors import SimgenError
from simgen.experiment.config import StudyConfig
from simgen.experiment.evaluate import collapsed, match_categories, score
from simgen.experiment.from_fit import best_overrides
from simgen.experiment.trainers import TRAINERS, TrainingRun, write_predict_list
from simgen.io.files import atomic_write_bytes, read_json, write_json
from simgen.io.names import COCO_JSON, LOGS_DIR
from simgen.child_processes import SERVED, child_env, children_numpy_kernels

STATS = ("AP", "AP50", "AP75")


@dataclass
class Dataset:
    """One dataset the study renders: an arm (its largest size) or the target."""

    name: str
    folder: Path
    frames: int
    overrides: list[str]


def plan_datasets(study: StudyConfig, cli: list[str], out: Path) -> list[Dataset]:
    """The simgen datasets of the study, each with its full override list (study.simgen, then the
    command line's simgen overrides, then an arm's fit (from_fit), then the arm's or target's own,
    then what the study fixes)."""
    base = [*study.simgen, *cli]
    extra = list(TRAINERS.get(study.trainer.name).dataset_overrides)
    # every frame of an arm is a training frame: one split
    one_split = ["output.splits.train=1", "output.splits.val=0", "output.splits.test=0"]
    sets = []
    for name, arm in study.arms.items():
        folder = out / "data" / name
        fitted = best_overrides(arm.from_fit, f"study.arms.{name}.from_fit") if arm.from_fit is not None else []
        sets.append(Dataset(name, folder, max(study.frames), [*base, *fitted, *arm.overrides, *one_split, *extra,
                                                              f"frames={max(study.frames)}", f"output.dir={folder}"]))
    if study.target.coco is None:
        folder = out / "data" / "target"
        sets.append(Dataset("target", folder, study.target.frames,
                            [*base, *study.target.overrides, f"frames={study.target.frames}", f"output.dir={folder}"]))
    return sets


def frames_on_disk(folder: Path) -> int:
    try:
        return len(read_json(folder / COCO_JSON)["images"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def frame_seconds(folder: Path) -> dict[int, float]:
    """Frame index -> the frame loop's wall seconds for it, from a dataset's run logs, over every
    process that wrote them (shards, resumes; the last record of a frame counts)."""
    seen: dict[int, float] = {}
    for path in sorted((folder / LOGS_DIR).glob("run-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and "frame" in rec:
                seen[int(rec["frame"])] = float(rec.get("seconds", 0.0))
    return seen


def render_seconds(seconds: dict[int, float], frames: int) -> float:
    """The frame loop's seconds for frames 0..frames-1 (from :func:`frame_seconds`)."""
    return sum(v for f, v in seconds.items() if f < frames)


@dataclass
class ArmData:
    """What the training runs need of an arm's dataset, read once from its coco.json and logs."""

    image_ids: list[int]
    image_size: tuple[int, int]
    """(height, width) of its frames."""
    categories: list[str]
    frame_seconds: dict[int, float]

    @classmethod
    def read(cls, folder: Path) -> "ArmData":
        coco = read_json(folder / COCO_JSON)
        first = coco["images"][0]
        return cls(sorted(int(im["id"]) for im in coco["images"]), (int(first["height"]), int(first["width"])),
                   [str(c["name"]) for c in coco["categories"]], frame_seconds(folder))


def render_dataset(ds: Dataset, launch: list[str], say: Callable[[str], None]) -> dict[str, Any]:
    """Render (or resume, or keep) one dataset with the simgen command line, in the render child
    (:data:`simgen.child_processes.SERVED`: Python, Hydra and Blender start once for the study's datasets);
    its output goes to stderr."""
    before = frames_on_disk(ds.folder)
    if before >= ds.frames:
        say(f"dataset {ds.name}: {before} frame(s) on disk in {ds.folder}, kept")
        return {"name": ds.name, "frames": ds.frames, "reused": True,
                "seconds": render_seconds(frame_seconds(ds.folder), ds.frames)}
    say(f"dataset {ds.name}: rendering {ds.frames - before} of {ds.frames} frame(s) into {ds.folder}")
    args = [*launch, *ds.overrides]
    code = SERVED.run(args, None)
    if code != 0:
        raise SimgenError(f"rendering dataset {ds.name} failed (exit {code}; its error is above); "
                          f"the command was: simgen {' '.join(args)}")
    got = frames_on_disk(ds.folder)
    if got < ds.frames:
        raise SimgenError(f"dataset {ds.name}: {got} of {ds.frames} frame(s) in {ds.folder} after rendering")
    return {"name": ds.name, "frames": ds.frames, "reused": False,
            "seconds": render_seconds(frame_seconds(ds.folder), ds.frames)}


def image_ids(coco: Path) -> list[int]:
    return sorted(int(im["id"]) for im in read_json(coco)["images"])


def _load_gt(path: Path) -> Any:
    import contextlib

    from pycocotools.coco import COCO

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return COCO(str(path))
    except Exception as e:  # noqa: BLE001 (pycocotools raises plain errors for bad files)
        raise SimgenError(f"cannot read the target COCO json {path}: {e}") from None


@dataclass(frozen=True)
class TrainingInputs:
    """What every training run of a study shares, worked out once before the first."""

    study: StudyConfig
    out: Path
    """The study's folder (data/ARM: the arms' datasets, runs/: the training runs)."""
    labels: list[str]
    """The category names of the arms' datasets, sorted."""
    real_ids: list[int]
    """The image ids of study.real (sorted; [] when no arm mixes real images in)."""
    target_coco: Path
    target_images: Path | None
    """Folder the target's file_name entries are relative to (None: the json's folder)."""
    predict_list: Path
    """The target's images as runs/predict.json lists them (see
    :func:`~simgen.experiment.trainers.write_predict_list`)."""


def train_command(shared: TrainingInputs, *, arm: str, frames: int, seed: int, folder: Path,
                  data: ArmData) -> tuple[list[str], dict]:
    """The child command of one training run (arm ``arm``'s first ``frames`` images, seed
    ``seed``, writing into ``folder``; ``data``: the arm's dataset) and the spec that identifies
    it, from the study's trainer (simgen.experiment.trainers)."""
    return TRAINERS.get(shared.study.trainer.name).command(TrainingRun(
        study=shared.study, arm=arm, frames=frames, seed=seed, folder=folder, dataset=shared.out / "data" / arm,
        labels=shared.labels, image_ids=data.image_ids, image_size=data.image_size, real_ids=shared.real_ids,
        target_coco=shared.target_coco, target_images=shared.target_images, predict_list=shared.predict_list))


def run_study(study: StudyConfig, cli_overrides: list[str], *, name: str = "study",
              validate: Callable[[list[str]], None] | None = None) -> dict[str, Any]:
    """Run ``study`` (see the module doc); ``cli_overrides``: simgen overrides from the command
    line, applied to every dataset; ``validate(overrides)`` checks a dataset's overrides before
    anything renders. Its renders and training runs compute with the numpy kernels of
    study.cpu_kernels (:func:`simgen.child_processes.children_numpy_kernels`). Returns the results
    (what results.json holds)."""
    with children_numpy_kernels(study.cpu_kernels == "baseline"):
        return _run_study(study, cli_overrides, name, validate)


def _run_study(study: StudyConfig, cli_overrides: list[str], name: str,
               validate: Callable[[list[str]], None] | None) -> dict[str, Any]:
    out = Path(study.out or f"experiments/{name}").expanduser().absolute()
    t = study.trainer
    trainer = TRAINERS.get(t.name)
    if trainer.check is not None:
        trainer.check(study)
    datasets = plan_datasets(study, cli_overrides, out)
    if validate is not None:
        for ds in datasets:
            try:
                validate(ds.overrides)
            except SimgenError as e:
                raise SimgenError(f"dataset {ds.name} of the study: {e}") from None
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    def say(text: str) -> None:
        print(f"simgen experiment: {text}", file=sys.stderr, flush=True)

    try:
        rendered = {ds.name: render_dataset(ds, study.launch, say) for ds in datasets}
    finally:
        SERVED.close()
    if study.target.coco is not None:
        target_coco = Path(study.target.coco).expanduser().absolute()
        target_images = Path(study.target.images).expanduser().absolute() if study.target.images else None
    else:
        target_coco, target_images = out / "data" / "target" / COCO_JSON, None
    arm_data = {arm: ArmData.read(out / "data" / arm) for arm in study.arms}
    labels = sorted({n for data in arm_data.values() for n in data.categories})
    real_ids = image_ids(Path(study.real.coco).expanduser()) if any(a.real > 0 for a in study.arms.values()) else []
    gt = _load_gt(target_coco)
    cats = match_categories(gt.loadCats(gt.getCatIds()), labels, rename=study.target.rename,
                            only=study.target.categories)
    if not gt.getAnnIds(catIds=sorted(cats)):
        raise SimgenError(f"the target set {target_coco} has no annotations of the evaluated categories")
    predict_list = out / "runs" / "predict.json"
    if trainer.predict_list:
        (out / "runs").mkdir(exist_ok=True)
        write_predict_list(predict_list, gt, target_images or target_coco.parent)
    shared = TrainingInputs(study=study, out=out, labels=labels, real_ids=real_ids, target_coco=target_coco,
                            target_images=target_images, predict_list=predict_list)
    runs = [(arm, n, seed) for n in sorted(study.frames) for arm in study.arms for seed in study.seeds]
    rows = []
    for k, (arm, n, seed) in enumerate(runs, 1):
        run = out / "runs" / arm / f"n{n}" / f"seed{seed}"
        run.mkdir(parents=True, exist_ok=True)
        cmd, spec = train_command(shared, arm=arm, frames=n, seed=seed, folder=run, data=arm_data[arm])
        what = f"[{k}/{len(runs)}] {arm}, {n} frames, seed {seed}"
        result_file = run / "result.json"
        old = read_json(run / "spec.json") if (run / "spec.json").is_file() else None
        if old == spec and result_file.is_file():
            say(f"{what}: trained before, kept")
        else:
            result_file.unlink(missing_ok=True)
            write_json(run / "spec.json", spec, indent=1)
            say(f"{what}: training ({' '.join(w for w in (trainer.name, trainer.model(t)) if w)})")
            r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=None, env=child_env())
            if r.returncode != 0 or not result_file.is_file():
                raise SimgenError(f"training run {arm}/n{n}/seed{seed} failed (exit {r.returncode}; its error "
                                  f"is above); the command was: {' '.join(cmd)}")
        result = read_json(result_file)
        sc = score(gt, result["detections"], cats)
        write_json(run / "score.json", sc, indent=1)
        real_images = sum(len(p["image_ids"]) for p in spec.get("train", [])[1:])
        rows.append({"arm": arm, "frames": n, "real_images": real_images, "seed": seed,
                     **{s: sc[s] for s in STATS}, "per_category": sc["per_category"],
                     "train_seconds": float(result["train_seconds"]),
                     "render_seconds": render_seconds(arm_data[arm].frame_seconds, n),
                     "device": result.get("device", "?")})
        say(f"{what}: AP {sc['AP']:.3f}, AP50 {sc['AP50']:.3f} ({result['train_seconds']:.0f} s training)")
        if collapsed(result["detections"]):
            say(f"warning: {what}: every detection is a box of no area: the detector's box regression died in "
                f"training ({run}), so its AP says nothing of the arm's data; another seed trains it")
    results = summarize(study, name, rows, rendered, target_coco, time.perf_counter() - t_start)
    write_outputs(out, results)
    say(f"results in {out}: results.csv, results.json, summary.md and plots")
    print(results["headline"], flush=True)
    return results


def _spread(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, float)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
            "min": float(a.min()), "max": float(a.max()), "n": int(a.size)}


def summarize(study: StudyConfig, name: str, rows: list[dict], rendered: dict, target: Path,
              seconds: float) -> dict[str, Any]:
    """Mean and spread over seeds per arm and size, and the headline: which arm helped, by how
    much, and whether the difference is beyond seed noise (more than twice the standard error of
    the difference of the two means)."""
    groups = []
    for n in sorted(study.frames):
        for arm in study.arms:
            mine = [r for r in rows if r["arm"] == arm and r["frames"] == n]
            cats = sorted({c for r in mine for c in r["per_category"]})
            groups.append({"arm": arm, "frames": n, "real_images": mine[0]["real_images"],
                           **{s: _spread([r[s] for r in mine]) for s in STATS},
                           "per_category": {c: _spread([r["per_category"][c] for r in mine])
                                            for c in cats if all(r["per_category"].get(c) is not None for r in mine)},
                           "train_seconds": sum(r["train_seconds"] for r in mine) / len(mine)})
    top = max(study.frames)
    ranked = sorted((g for g in groups if g["frames"] == top), key=lambda g: -g["AP"]["mean"])
    headline = _headline(ranked, top, len(study.seeds))
    return {"study": name, "config": asdict(study), "target": str(target), "datasets": list(rendered.values()),
            "runs": rows, "summary": groups, "ranking": [g["arm"] for g in ranked], "headline": headline,
            "seconds": seconds}


def _headline(ranked: list[dict], frames: int, seeds: int) -> str:
    best = ranked[0]
    ap = best["AP"]
    if len(ranked) == 1:
        return f"{best['arm']}: AP {ap['mean']:.3f} ± {ap['std']:.3f} on the target ({frames} frames, {seeds} seed(s))."
    second = ranked[1]
    diff = ap["mean"] - second["AP"]["mean"]
    if ap["n"] < 2 or second["AP"]["n"] < 2:
        verdict = "one seed each: no estimate of seed noise (use study.seeds=[0,1,2])"
    else:
        noise = 2 * math.sqrt(ap["std"] ** 2 / ap["n"] + second["AP"]["std"] ** 2 / second["AP"]["n"])
        verdict = (f"beyond seed noise (2 standard errors: {noise:.3f})" if diff > noise
                   else f"within seed noise (2 standard errors: {noise:.3f}); more seeds or frames may separate them")
    return (f"{best['arm']} helped most: AP {ap['mean']:.3f} ± {ap['std']:.3f} vs {second['arm']} "
            f"{second['AP']['mean']:.3f} ± {second['AP']['std']:.3f} (+{diff:.3f} AP, mean ± std over {seeds} seeds, "
            f"{frames} training frames), {verdict}.")


def write_outputs(out: Path, results: dict[str, Any]) -> None:
    """results.csv, results.json, summary.md and the plots."""
    rows = results["runs"]
    cats = sorted({c for r in rows for c in r["per_category"]})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["arm", "frames", "real_images", "seed", *STATS, *(f"AP[{c}]" for c in cats), "train_seconds",
                "render_seconds", "device"])
    for r in rows:
        pc = [("" if r["per_category"].get(c) is None else f"{r['per_category'][c]:.4f}") for c in cats]
        w.writerow([r["arm"], r["frames"], r["real_images"], r["seed"], *(f"{r[s]:.4f}" for s in STATS), *pc,
                    f"{r['train_seconds']:.1f}", f"{r['render_seconds']:.1f}", r["device"]])
    atomic_write_bytes(out / "results.csv", buf.getvalue().encode())
    write_json(out / "results.json", results, indent=1)
    pictures = plot(out, results)
    atomic_write_bytes(out / "summary.md", summary_markdown(results, pictures).encode())


def plot(out: Path, results: dict[str, Any]) -> list[str]:
    """The charts of the results as PNG files in ``out``; returns the names written (none, with
    one warning, when matplotlib is missing: the tables carry the numbers)."""
    from simgen.report.png import bar_chart, line_chart

    groups = results["summary"]
    arms = list(dict.fromkeys(g["arm"] for g in groups))
    sizes = sorted({g["frames"] for g in groups})
    top = sizes[-1]
    rows = results["runs"]
    seeds = len({r["seed"] for r in rows})
    at_top = {g["arm"]: [r["AP"] for r in rows if r["arm"] == g["arm"] and r["frames"] == top] for g in groups}
    written = [bar_chart(out / "ap_per_arm.png", arms, ["AP"], [[at_top[a]] for a in arms],
                         title=f"{results['study']}: AP on the target per arm ({top} training frames, {seeds} seeds)",
                         ylabel="COCO AP (IoU 0.50:0.95)")]
    if len(sizes) > 1:
        series = {a: [(n, [r["AP"] for r in rows if r["arm"] == a and r["frames"] == n]) for n in sizes] for a in arms}
        written.append(line_chart(out / "learning_curve.png", series,
                                  title=f"{results['study']}: AP against training frames",
                                  xlabel="training frames per arm", ylabel="COCO AP (IoU 0.50:0.95)", log_x=True))
    cats = sorted({c for r in rows for c in r["per_category"]})
    values = [[[r["per_category"][c] for r in rows if r["arm"] == a and r["frames"] == top
                and r["per_category"].get(c) is not None] for a in arms] for c in cats]
    written.append(bar_chart(out / "ap_per_category.png", cats, arms, values,
                             title=f"{results['study']}: AP per target category ({top} training frames)",
                             ylabel="COCO AP"))
    return [p.name for p in written if p is not None]


def summary_markdown(results: dict[str, Any], pictures: list[str]) -> str:
    lines = [f"# {results['study']}: results", "", f"**{results['headline']}**", "",
             f"Target: `{results['target']}`. Every number is pycocotools COCOeval (bbox) on the target set; "
             "mean ± standard deviation over the training seeds (min..max in brackets).", "",
             "| arm | frames | real images | AP | AP50 | AP75 | train s/run |", "|---|---|---|---|---|---|---|"]
    for g in results["summary"]:
        cells = [f"{g[s]['mean']:.3f} ± {g[s]['std']:.3f} [{g[s]['min']:.3f}..{g[s]['max']:.3f}]" for s in STATS]
        lines.append(f"| {g['arm']} | {g['frames']} | {g['real_images']} | {' | '.join(cells)} | "
                     f"{g['train_seconds']:.0f} |")
    lines += ["", "| dataset | frames | render s (sum over frames) | reused |", "|---|---|---|---|"]
    for d in results["datasets"]:
        lines.append(f"| {d['name']} | {d['frames']} | {d['seconds']:.0f} | {'yes' if d['reused'] else 'no'} |")
    lines += [""] + [f"![{p[:-4].replace('_', ' ')}]({p})" for p in pictures] + [""]
    return "\n".join(lines)
