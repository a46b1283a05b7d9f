"""``simgen study people_diversity`` (issue 77, "what diversity is worth"): a person detector trained on
people from narrow ranges (adults of one sex and build, one pose, one skin tone) against the full ranges,
scored on a held-out set from the full ranges; and people.skin_tones, the setting its narrow arm needs.
What the study finds at its shipped size is not a test's: ``python scripts/reproduce_people_diversity.py``
(docs/how-to/people.md, "What diversity is worth")."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import people_cli
from simgen.errors import SimgenError
from simgen.experiment.config import load_study
from simgen.io.files import read_json

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "configs" / "study" / "people_diversity.yaml"


def _check(tmp_path, overrides):
    from simgen.cli.study import check_dataset

    return check_dataset([*overrides, f"output.dir={tmp_path / 'out'}"])


def test_the_study_narrows_who_is_drawn_and_holds_out_a_target_of_the_full_ranges():
    s = load_study(STUDY, [])
    assert list(s.arms) == ["narrow", "full"] and len(s.seeds) == 3
    assert s.arms["full"].overrides == []  # the full arm is simgen's defaults
    narrow = s.arms["narrow"].overrides
    for key in ("people.age_years", "people.gender", "people.height_spread", "people.weight_spread",
                "people.poses", "people.skin_tones"):
        assert sum(o.startswith(key + "=") for o in narrow) == 1, key
    assert "objects.count=[0,0]" in s.simgen and any(o.startswith("objects.people=") for o in s.simgen)
    assert s.target.coco is None and s.target.categories == ["person"]
    assert [o for o in s.target.overrides if not o.startswith("seed=")] == []  # full ranges, other seeds
    assert any(o.startswith("seed=") for o in s.target.overrides)


def test_skin_tones_draw_only_the_named_tones_and_every_tone_draws_as_before():
    from simgen.sampling.people import SKIN_TONES_SRGB, draw_skin

    a, b = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(50):  # the default (None) is the same draw as naming every tone
        assert draw_skin(a) == draw_skin(b, range(1, 11))
    rng = np.random.default_rng(0)
    drawn = {draw_skin(rng, [3, 9])[1]["tone"] for _ in range(100)}
    assert drawn == {3, 9}
    _, record = draw_skin(rng, [3])
    assert record["tone"] == 3 and record["tone_srgb"] == SKIN_TONES_SRGB[2]


def test_bad_skin_tones_are_one_line(tmp_path):
    assert _check(tmp_path, ["people.skin_tones=[3]"]).people.skin_tones == [3]
    for value, words in (("[]", "people.skin_tones=[] names no skin tone"),
                         ("[11]", "people.skin_tones=[11]: item 11 must be in [1, 10]"),
                         ("[0,3]", "item 0 must be in [1, 10]")):
        with pytest.raises(SimgenError) as e:
            _check(tmp_path, [f"people.skin_tones={value}"])
        assert "\n" not in str(e.value) and words in str(e.value), str(e.value)


@pytest.mark.slow
@pytest.mark.usefixtures("warp_cache")
def test_the_narrow_arm_draws_adults_of_one_build_pose_and_skin(tmp_path, library):
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe

    s = load_study(STUDY, [])
    settings = _check(tmp_path, [*s.simgen, *s.arms["narrow"].overrides, "people.self_intersection=false"])
    people = []
    for sequence in range(3):
        scenes = make_sequence_scenes(load_recipe(settings.scene.recipe), settings, catalog_for(settings), sequence)
        people += scenes[0].params["people"]
    assert len(people) >= 3
    shapes = [dict(p["params"]["phenotype"]) for p in people]
    assert {p["look"]["skin"]["tone"] for p in people} == {3}
    assert {p["pose"]["name"] for p in people} == {"stand"}
    assert {round(x["gender"], 9) for x in shapes} == {0.0}
    for key in ("height", "weight"):  # spreads of 0: the mean for the age and sex, nearly the same for all
        assert np.ptp([x[key] for x in shapes]) < 0.05, (key, [x[key] for x in shapes])


SMALL = ["study.frames=[4]", "study.seeds=[0,1]", "study.target.frames=3", "study.trainer.steps=3",
         "study.trainer.batch_size=2", "study.trainer.warmup=1", "render.width=64", "render.height=48",
         "render.samples=2", "people.self_intersection=false"]
"""The shipped study's arms, target and trainer at a size that checks its machinery: 4 frames per arm,
3 target frames, 2 seeds (seed noise is estimated), 3 training steps, 64x48 frames."""


@pytest.mark.slow
def test_the_people_study_renders_trains_and_scores_both_arms(tmp_path, people_library):
    """Every arm and the target render with people only, every arm and seed trains and is scored on the
    target's people, and the table and results.json hold both arms. Which arm wins is the study's finding
    at its shipped size, not the code's, and is not asserted."""
    out = tmp_path / "study"
    r = people_cli(people_library, "study", "people_diversity", f"study.out={out}", *SMALL, cwd=tmp_path)
    tones = {}
    for name, frames in (("narrow", 4), ("full", 4), ("target", 3)):
        coco = read_json(out / "data" / name / "coco.json")
        assert len(coco["images"]) == frames, name
        person = [c["id"] for c in coco["categories"] if c["name"] == "person"]
        assert {a["category_id"] for a in coco["annotations"]} <= set(person), name  # people are the only objects
        metas = [read_json(p) for p in sorted((out / "data" / name / "meta").glob("*.json"))]
        tones[name] = {p["look"]["skin"]["tone"] for m in metas for p in m["params"]["people"]}
    assert tones["narrow"] == {3}
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert sorted((w["arm"], w["frames"], w["seed"]) for w in rows) == [(a, "4", s) for a in ("full", "narrow")
                                                                        for s in "01"]
    assert all(0 <= float(w["AP"]) <= 1 for w in rows)
    results = read_json(out / "results.json")
    assert sorted(results["ranking"]) == ["full", "narrow"]
    assert {c for x in results["runs"] for c in x["per_category"]} == {"person"}  # scored on people only
    assert results["headline"] in r.stdout and "seed noise" in results["headline"]
    # the reproduction script's figures, from results.csv, agree with the headline
    script = REPO / "scripts" / "reproduce_people_diversity.py"
    done = subprocess.run([sys.executable, str(script), "--out", str(out), "--keep"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "the headline agrees with results.csv" in done.stdout
    for arm in ("narrow", "full"):  # every seed's AP, as in the table
        seeds = " ".join(w["AP"] for w in rows if w["arm"] == arm)
        assert re.search(rf"^  {arm} +[0-9.]+ ± [0-9.]+   {seeds}$", done.stdout, re.M), done.stdout
    ap = {arm: np.array([float(w["AP"]) for w in rows if w["arm"] == arm]) for arm in ("narrow", "full")}
    gain = ap["full"].mean() - ap["narrow"].mean()
    noise = 2 * np.sqrt(ap["full"].var(ddof=1) / 2 + ap["narrow"].var(ddof=1) / 2)
    said = re.search(r"full - narrow\): ([-+][0-9.]+) AP; 2 standard errors of the difference: ([0-9.]+)", done.stdout)
    assert said and float(said[1]) == pytest.approx(gain, abs=6e-4) and float(said[2]) == pytest.approx(noise, abs=6e-4)
