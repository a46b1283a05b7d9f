"""``simgen study NAME``: a study renders its arms and target, trains a detector per arm,
size and seed, scores each with COCOeval and writes the table, plots and summary; bad studies
fail before anything renders; a second run reuses what is on disk; real images mix in."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import simgen_cli
from simgen import SimgenError
from simgen.experiment.config import load_study
from simgen.io.files import read_json, write_json

REPO = Path(__file__).resolve().parents[1]
DR_GAP = REPO / "configs" / "study" / "dr_gap.yaml"
TINY = ["render.width=64", "render.height=48", "render.samples=2", "render.denoise=false",
        "'scene.camera_distance=[0.5,0.9]'"]


simgen = simgen_cli


def tiny_study(tmp_path: Path, *extra: str) -> list[str]:
    return ["study", "dr_gap", f"study.out={tmp_path / 'study'}", "study.frames=[4]", "study.seeds=[0]",
            "study.target.frames=3", "study.trainer.steps=2", "study.trainer.batch_size=2", "study.trainer.warmup=1",
            f"study.simgen=[{','.join(TINY)}]", *extra]


# ------------------------------------------------------------------ the study's declaration


@pytest.mark.parametrize("overrides, words", [
    (["study.trainer.stepz=3"], "unknown key 'study.trainer.stepz'; did you mean 'study.trainer.steps'"),
    (["study.arms.wide.overides=[]"], "unknown arm key 'overides'; did you mean 'overrides'"),
    (["study.seeds=[0,0]"], "must not repeat"),
    (["study.frames=[0]"], "study.frames=[0]"),
    (["study.trainer.name=keras"], "study.trainer.name='keras': unknown value; use one of torchvision, ultralytics"),
    (["study.arms.wide.real=0.5"], "study.real.coco is not set"),
    (["study.arms.target={overrides: []}"], "bad arm name 'target'"),
    (["study.target.coco=/no/such.json"], "study.target.coco=/no/such.json: no such file"),
    (["study.trainer.weights=/no/model.pt"], "never downloaded"),
    (["study.arms.wide.from_fit=/no/fit"], "study.arms.wide.from_fit=/no/fit: cannot read /no/fit/best.yaml"),
    (["trainer.steps=3"], "write study.KEY=VALUE"),
    (["study.simgen=[scene.camera_distance=[0.5,0.9]]"], "quote list items holding brackets"),
])
def test_bad_studies_are_one_clear_error(overrides, words):
    with pytest.raises(SimgenError, match=words.replace("[", r"\[").replace("(", r"\(")):
        load_study(DR_GAP, overrides)


def test_the_shipped_study_loads_with_two_arms_that_differ_in_randomization():
    s = load_study(DR_GAP, [])
    assert list(s.arms) == ["narrow", "wide"] and len(s.seeds) == 3 and s.target.coco is None
    assert s.arms["narrow"].overrides != s.arms["wide"].overrides
    assert any(o.startswith("seed=") for o in s.target.overrides)  # the target shares no frame with the arms


OWN_LOOK = REPO / "configs" / "study" / "own_look.yaml"


@pytest.mark.slow
def test_the_appearance_study_differs_only_in_own_replace(tmp_path):
    """simgen study own_look: arms own / random / mix differ in materials.own_replace alone, on the
    bundled textured assets, against a target of them under other lighting; a tiny run of it
    renders its arms with the meshes' own looks (meta) and scores every arm."""
    s = load_study(OWN_LOOK, [])
    assert {k: a.overrides for k, a in s.arms.items()} == {
        "own": ["materials.own_replace=0"], "random": ["materials.own_replace=1"], "mix": ["materials.own_replace=0.5"]}
    assert "objects.catalog=textured" in s.simgen and "lighting=sky" in s.target.overrides
    args = ["study", "own_look", f"study.out={tmp_path / 'study'}", "study.frames=[4]", "study.seeds=[0]",
            "study.target.frames=2", "study.trainer.steps=2", "study.trainer.batch_size=2", "study.trainer.warmup=1",
            f"study.simgen=[{','.join(TINY)},objects.catalog=textured,materials=procedural]"]
    r = simgen(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / "study"
    looks = {}
    for arm in ("own", "random", "mix", "target"):
        metas = [read_json(p) for p in sorted((out / "data" / arm / "meta").glob("*.json"))]
        looks[arm] = [("own" in o["material"]) for m in metas for o in m["objects"] if o["category_id"] > 0]
    assert all(looks["own"]) and all(looks["target"]) and not any(looks["random"])
    assert [r["arm"] for r in read_json(out / "results.json")["runs"]] == ["own", "random", "mix"]


def test_bad_simgen_settings_of_any_dataset_fail_before_rendering(tmp_path):
    # a typo in one arm's overrides is found before the other arm renders
    r = simgen(*tiny_study(tmp_path, "study.arms.wide.overrides=[lighting=wid]"), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "simgen: error: dataset wide of the study: unknown option lighting=wid" in r.stderr
    assert not (tmp_path / "study").exists()
    r = simgen(*tiny_study(tmp_path), "render.width=100000", cwd=tmp_path)  # a simgen override: every dataset
    assert r.returncode == 2 and "render.width=100000" in r.stderr and not (tmp_path / "study").exists()
    r = simgen(*tiny_study(tmp_path), "-m", cwd=tmp_path)
    assert r.returncode == 2 and "drop -m" in r.stderr


# ------------------------------------------------------------------ the shipped study, at a size that checks its machinery

SMALL = ["study.frames=[6]", "study.seeds=[0,1]", "study.target.frames=4", "study.trainer.steps=4",
         "study.trainer.batch_size=2", "study.trainer.warmup=1"]
"""The shipped study's arms, target, render settings and trainer, with 6 frames per arm, 4 target
frames, 2 seeds (the smallest spread: seed noise is estimated and reported) and 4 training steps.
Its statistical claim at the shipped size is not a test's: ``python scripts/reproduce_dr_gap.py``
(docs/tutorials/study.md, "Measure what a randomization setting is worth")."""


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """``simgen study dr_gap`` at the SMALL size."""
    tmp = tmp_path_factory.mktemp("dr_gap")
    r = simgen("study", "dr_gap", *SMALL, cwd=tmp)
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp / "experiments" / "dr_gap", r


@pytest.mark.slow
def test_the_shipped_study_renders_trains_scores_and_reports_every_arm_consistently(shipped):
    """Every arm and the target render, every arm and seed trains and is scored, and the table,
    results.json, the summary, the headline and the plots agree with the runs (scored again
    here with COCOeval). Which arm wins, and whether by more than seed noise, is the study's
    finding at its shipped size, not the code's, and is not asserted."""
    out, r = shipped
    for name, frames in (("narrow", 6), ("wide", 6), ("target", 4)):
        assert len(read_json(out / "data" / name / "coco.json")["images"]) == frames, name
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert sorted((w["arm"], w["frames"], w["seed"]) for w in rows) == [(a, "6", s) for a in ("narrow", "wide")
                                                                        for s in "01"]
    ap = {arm: np.array([float(w["AP"]) for w in rows if w["arm"] == arm]) for arm in ("narrow", "wide")}
    # the table's APs are COCOeval's on the run's own detections (scored again here), and results.json's
    from pycocotools.coco import COCO
    from simgen.experiment.evaluate import match_categories, score

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(out / "data" / "target" / "coco.json"))
    results = read_json(out / "results.json")
    assert [(x["arm"], x["seed"]) for x in results["runs"]] == [(w["arm"], int(w["seed"])) for w in rows]
    for w, x in zip(rows, results["runs"]):
        run = out / "runs" / w["arm"] / f"n{w['frames']}" / f"seed{w['seed']}"
        assert {"spec.json", "result.json", "score.json"} <= {p.name for p in run.iterdir()}
        result = read_json(run / "result.json")
        assert result["train_seconds"] > 0
        cats = match_categories(gt.loadCats(gt.getCatIds()), result["names"])
        again = score(gt, result["detections"], cats)
        assert again["AP"] == pytest.approx(float(w["AP"]), abs=1e-4) == x["AP"]
        assert read_json(run / "score.json")["AP"] == x["AP"] and 0 <= x["AP"] <= x["AP50"] <= 1
    for g in results["summary"]:
        assert g["AP"]["mean"] == pytest.approx(ap[g["arm"]].mean(), abs=1e-4)
        assert g["AP"]["std"] == pytest.approx(ap[g["arm"]].std(ddof=1), abs=1e-4)
    # independently of the runner's summary: whether the arms' mean APs differ by more than twice the
    # standard error of the difference over the seeds, and the headline says which
    best, other = sorted(ap, key=lambda a: -ap[a].mean())
    diff = ap[best].mean() - ap[other].mean()
    noise = 2 * np.sqrt(ap[best].var(ddof=1) / 2 + ap[other].var(ddof=1) / 2)
    assert results["ranking"] == [best, other]
    said = re.search(r"\(\+([0-9.]+) AP,.*, (beyond|within) seed noise \(2 standard errors: ([0-9.]+)\)",
                     results["headline"])
    assert said, results["headline"]
    assert float(said[1]) == pytest.approx(diff, abs=6e-4) and float(said[3]) == pytest.approx(noise, abs=6e-4)
    if abs(diff - noise) > 1e-3:  # the CSV's rounded APs cannot flip it
        assert said[2] == ("beyond" if diff > noise else "within"), (results["headline"], diff, noise)
    assert results["headline"].startswith(f"{best} helped most") and results["headline"] in r.stdout
    summary = (out / "summary.md").read_text()
    assert results["headline"] in summary
    for png in ("ap_per_arm.png", "ap_per_category.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({png})" in summary


@pytest.mark.slow
def test_a_second_run_keeps_every_dataset_and_training_run(shipped, tmp_path):
    out, _ = shipped
    before = read_json(out / "results.json")
    r = simgen("study", "dr_gap", *SMALL, f"study.out={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr.count(", kept") == 3 + 4 and "training (" not in r.stderr  # 3 datasets, 4 training runs
    assert [x["AP"] for x in read_json(out / "results.json")["runs"]] == [x["AP"] for x in before["runs"]]


@pytest.mark.slow
def test_the_reproduction_script_reads_a_study_and_states_its_figures(shipped):
    """scripts/reproduce_dr_gap.py --keep: the figures of a study already on disk (here the
    small one), computed from results.csv, agree with its headline."""
    out, _ = shipped
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "reproduce_dr_gap.py"), "--out", str(out), "--keep"],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr[-3000:]
    assert read_json(out / "results.json")["headline"] in r.stdout and "the headline agrees with results.csv" in r.stdout
    rows = list(csv.DictReader((out / "results.csv").open()))
    for arm in ("narrow", "wide"):  # every seed's AP, as in the table
        seeds = " ".join(w["AP"] for w in rows if w["arm"] == arm)
        assert re.search(rf"^  {arm} +[0-9.]+ ± [0-9.]+   {seeds}$", r.stdout, re.M), r.stdout


# ------------------------------------------------------------------ tiny studies: sizes, mixing, launchers


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study")
    args = tiny_study(tmp, "study.frames=[2,4]")
    r = simgen(*args, cwd=tmp)
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp, args, r


@pytest.mark.slow
def test_several_sizes_give_a_learning_curve(study_run):
    tmp, args, r = study_run
    out = tmp / "study"
    for name in ("narrow", "wide", "target"):
        assert len(read_json(out / "data" / name / "coco.json")["images"]) == (3 if name == "target" else 4)
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(w["arm"], w["frames"], w["seed"]) for w in rows] == [
        ("narrow", "2", "0"), ("wide", "2", "0"), ("narrow", "4", "0"), ("wide", "4", "0")]
    results = read_json(out / "results.json")
    target = read_json(out / "data" / "target" / "coco.json")
    for row, w in zip(results["runs"], rows):
        assert 0 <= row["AP"] <= row["AP50"] <= 1 and float(w["AP"]) == pytest.approx(row["AP"], abs=1e-4)
        assert row["train_seconds"] > 0 and row["render_seconds"] > 0
        assert set(row["per_category"]) == {c["name"] for c in target["categories"]}
        spec = read_json(out / "runs" / row["arm"] / f"n{row['frames']}" / "seed0" / "spec.json")
        assert [p["image_ids"] for p in spec["train"]] == [list(range(1, row["frames"] + 1))]  # the first N frames
    assert {(g["arm"], g["frames"]) for g in results["summary"]} == {(a, n) for a in ("narrow", "wide") for n in (2, 4)}
    assert "one seed each: no estimate of seed noise" in results["headline"]
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert "](learning_curve.png)" in (out / "summary.md").read_text()
    # a changed training setting trains again; the datasets are kept
    r = simgen(*args, "study.trainer.lr=0.002", cwd=tmp)
    assert r.returncode == 0 and r.stderr.count("training (torchvision") == 4 and r.stderr.count(", kept") == 3


@pytest.mark.slow
def test_real_images_mix_in_and_a_real_target_matches_categories_by_name(study_run, tmp_path):
    tmp, args, _ = study_run
    out = tmp / "study"
    # a "real" COCO set: the rendered target with other category ids, a renamed category and
    # file names relative to another folder
    coco = read_json(out / "data" / "target" / "coco.json")
    new_id = {c["id"]: 100 + k for k, c in enumerate(coco["categories"])}
    for c in coco["categories"]:
        c["id"] = new_id[c["id"]]
        c["name"] = "cup" if c["name"] == "mug" else c["name"]
    for a in coco["annotations"]:
        a["category_id"] = new_id[a["category_id"]]
    real = tmp_path / "real.json"
    write_json(real, coco)
    common = [f"study.target.coco={real}", f"study.target.images={out / 'data' / 'target'}",
              f"study.real.coco={real}", f"study.real.images={out / 'data' / 'target'}"]
    # each arm rendered by two shards in joblib worker processes (a launcher, as on a cluster)
    launch = "study.launch=[-m,hydra/launcher=local,'shard.index=range(2)',shard.count=2]"
    r = simgen(*args, *common, "study.out=" + str(tmp_path / "s2"), launch, cwd=tmp)
    assert r.returncode == 2 and "target category 'cup' not in the training data" in r.stderr
    assert "study.target.rename" in r.stderr
    r = simgen(*args, *common, f"study.out={tmp_path / 's2'}", "study.target.rename={cup: mug}",
               "study.arms.wide.real=0.7", "study.frames=[4]", launch, cwd=tmp)
    assert r.returncode == 0, r.stderr[-3000:]
    for arm in ("narrow", "wide"):
        assert len(list((tmp_path / "s2" / "data" / arm / "logs").glob("run-*.jsonl"))) == 2  # one per shard
        assert len(read_json(tmp_path / "s2" / "data" / arm / "coco.json")["images"]) == 4
    results = read_json(tmp_path / "s2" / "results.json")
    assert {x["arm"]: x["real_images"] for x in results["runs"]} == {"narrow": 0, "wide": 2}  # round(0.7 * 3)
    spec = read_json(tmp_path / "s2" / "runs" / "wide" / "n4" / "seed0" / "spec.json")
    assert [len(p["image_ids"]) for p in spec["train"]] == [4, 2] and spec["train"][1]["coco"] == str(real)
    assert "cup" in results["runs"][0]["per_category"]  # reported under the target's own names
    assert not (tmp_path / "s2" / "data" / "target").exists()  # a target on disk is not rendered
