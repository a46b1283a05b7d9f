"""simgen fit: the search space against the settings' declarations, the fit's settings, the
target images and labels (every bad input one line before anything renders, nothing written to
the target folder), and a small fit end to end: its outputs, best.yaml rendered by simgen, resume."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from PIL import Image

from conftest import simgen_cli
from simgen import SimgenError
from simgen.config import Settings
from simgen.fit.config import DEFAULT_SPACE, FitConfig, load_fit, space_tree, split_args
from simgen.fit.space import Entry, params_of, parse_space, values_of
from simgen.fit.target import load_target, read_image, target_files
from simgen.scenes.tabletop import Config as Tabletop

ROOT = Path(__file__).resolve().parents[1]


def space(tree: dict) -> list[Entry]:
    return parse_space(tree, Tabletop)


# ------------------------------------------------------------------ the space


def test_the_default_space_parses_and_covers_the_documented_settings():
    entries = parse_space(space_tree(FitConfig(target="/x")), Tabletop)
    keys = {e.key for e in entries}
    for key in ("scene.camera_distance", "scene.camera_elevation", "camera.focal_length", "camera.exposure", "lighting.world",
                "lighting.temperature", "objects.count", "scene.object_scale", "materials.own_replace",
                "effects.full_well", "effects.blur", "effects.white_balance_temperature", "effects.vignetting",
                "effects.jpeg_quality", "effects.jpeg_probability"):
        assert key in keys, key
    kinds = {e.key: e.kind for e in entries}
    assert kinds["scene.camera_distance"] == "range" and kinds["effects.noise_probability"] == "value"
    assert kinds["lighting.world"] == "choice"
    assert DEFAULT_SPACE.read_text().startswith("# simgen fit's default search space")


@pytest.mark.parametrize("tree, message", [
    ({"scene": {"camera_distanse": [0.3, 3]}}, "did you mean 'scene.camera_distance'"),
    ({"camera": {"distance": [0.3, 3]}}, "camera.distance is now scene.camera_distance"),
    ({"scene": {"camera_elevation": [-100, 10]}}, "outside the setting's bounds"),
    ({"effects": {"jpeg_quality": [5, 101]}}, "outside the setting's bounds"),
    ({"scene": {"camera_distance": [3, 0.3]}}, "must be less than"),
    ({"camera": {"exposure": {"low": 0, "high": 2, "log": True}}}, "log=true needs low > 0"),
    ({"scene": {"camera_distance": [1, 2, 3]}}, "give [low, high]"),
    ({"lighting": {"world": {"choices": [["moon"]]}}}, "the choice [moon]"),
    ({"lighting": {"world": [0, 1]}}, "is not a number"),
    ({"effects": {"noise_probability": {"low": 0, "high": 1, "as": "range"}}}, "is a single value"),
    ({"objects": {"count": [1.5, 4]}}, "takes whole numbers"),
    ({"scene": {"camera_distance": {"low": 1, "high": 2, "step": 1}}}, "unknown key 'step'"),
    ({"camera": 3}, "fit.space.camera=3: give a range"),
    ({}, "fit.space is empty"),
])
def test_a_bad_space_entry_is_one_line_naming_it(tree, message):
    with pytest.raises(SimgenError) as e:
        space(tree)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_range_setting_is_fitted_as_a_range_and_maps_back_to_its_parameters():
    (e,) = space({"scene": {"camera_distance": {"low": 0.5, "high": 8.0, "log": True}}})
    assert e.params == ("scene.camera_distance.centre", "scene.camera_distance.width")
    p = e.params_of([1.0, 4.0])
    assert p is not None and np.isclose(p["scene.camera_distance.centre"], np.log(2.0))
    assert values_of([e], p)["scene.camera_distance"] == pytest.approx([1.0, 4.0])
    assert e.params_of([0.1, 4.0]) is None  # outside the searched bounds: not representable
    assert params_of([e], {"scene.camera_distance": [1.0, 4.0]}) == p  # values_of's inverse, for every entry
    assert params_of([e], {"scene.camera_distance": [0.1, 4.0]}) is None and params_of([e], {}) is None
    assert e.range_of(np.log(2.0), 1.0) == pytest.approx([0.5, 8.0])  # the widest range about its centre
    assert e.range_of(np.log(8.0), 1.0) == pytest.approx([8.0, 8.0])  # no room at a bound: never past it
    for v in ([0.5, 8.0], [0.5, 0.5], [0.6, 7.9], [3.0, 3.0]):  # every range within the bounds, one pair
        assert values_of([e], e.params_of(v))["scene.camera_distance"] == pytest.approx(v)
    # uniform draws of the two parameters (TPE's prior, the prefit's Latin hypercube) put no range's
    # end on a bound (clipping centre ± width * (high - low) / 2 put a quarter on each)
    rng = np.random.default_rng(0)
    ends = np.array([e.range_of(c, w) for c, w in zip(rng.uniform(np.log(0.5), np.log(8.0), 4000), rng.random(4000))])
    assert np.mean(np.isclose(ends, [0.5, 8.0]), axis=0).max() < 0.01
    assert ends[:, 0].min() < 0.6 and ends[:, 1].max() > 7  # yet ranges come close to both bounds
    (n,) = space({"objects": {"count": [1, 12]}})
    assert all(isinstance(v, int) for v in n.range_of(5.4, 0.3))
    (v,) = space({"effects": {"jpeg_quality": {"low": 5, "high": 100, "as": "value"}}})
    assert v.kind == "value" and v.integer


def test_space_overrides_replace_remove_and_add_entries():
    fit = load_fit(["target=/x", "space.scene.camera_distance=[0.5,6]", "space.lighting.world=null",
                    "space.materials.roughness=[0,1]"])
    entries = {e.key: e for e in parse_space(space_tree(fit), Tabletop)}
    assert (entries["scene.camera_distance"].low, entries["scene.camera_distance"].high, entries["scene.camera_distance"].log) == \
        (0.5, 6.0, False)
    assert "lighting.world" not in entries and "materials.roughness" in entries


# ------------------------------------------------------------------ the fit's settings


def test_the_command_line_splits_into_fit_keys_and_simgen_overrides():
    fit, rest = split_args(["target=/d", "name=shop", "fit.trials=3", "render.samples=8", "lighting=wide"])
    assert fit == ["target=/d", "name=shop", "trials=3"] and rest == ["render.samples=8", "lighting=wide"]


@pytest.mark.parametrize("args, message", [
    ([], "no target images"),
    (["target=/x", "trails=3"], "did you mean 'fit.trials'"),
    (["target=/x", "trials=0"], "fit.trials=0"),
    (["target=/x", "name=../up"], "fit.name='../up'"),
    (["target=/x", "target_coco=/no/such.json"], "no such file"),
    (["target=/x", "rename={a: b}"], "no target_coco"),
])
def test_bad_fit_settings_are_one_line(args, message):
    with pytest.raises(SimgenError) as e:
        load_fit(args)
    assert message in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------ the target


def save(path: Path, array: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kw)
    return path


def rgb(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_target_images_are_read_as_they_are_and_bad_ones_refused(tmp_path):
    good = save(tmp_path / "a.png", rgb())
    assert np.array_equal(read_image(good), rgb())
    opaque = np.dstack([rgb(), np.full((24, 32), 255, np.uint8)])
    assert np.array_equal(read_image(save(tmp_path / "opaque.png", opaque)), rgb())
    cases = {
        "greyscale": save(tmp_path / "grey.png", rgb()[..., 0]),
        "transparent": save(tmp_path / "alpha.png", np.dstack([rgb(), np.zeros((24, 32), np.uint8)])),
        "16-bit": save(tmp_path / "deep.png", (rgb()[..., 0].astype(np.uint16) * 257)),
    }
    truncated = tmp_path / "cut.jpg"
    save(tmp_path / "whole.jpg", rgb(240, 320))
    truncated.write_bytes((tmp_path / "whole.jpg").read_bytes()[:2000])
    cases["cannot read"] = truncated
    for word, path in cases.items():
        with pytest.raises(SimgenError) as e:
            read_image(path)
        assert (word in str(e.value) or (word == "16-bit" and "greyscale" in str(e.value))) and path.name in str(e.value)
    with pytest.raises(SimgenError, match="too large"):
        read_image(good, limit=100)


def test_target_folders_empty_missing_mixed_or_linked(tmp_path):
    with pytest.raises(SimgenError, match="no such folder"):
        target_files(str(tmp_path / "none"), 10)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(SimgenError, match="holds no images"):
        target_files(str(tmp_path / "empty"), 10)
    d = tmp_path / "mixed"
    save(d / "a.png", rgb())
    save(d / "b.png", rgb(48, 64))
    with pytest.raises(SimgenError, match="different sizes"):
        load_target(str(d), max_images=10, size=None, coco=None, categories=[], rename={}, cache=tmp_path / "c.npz")
    outside = save(tmp_path / "outside" / "x.png", rgb())
    d2 = tmp_path / "linked"
    save(d2 / "sub" / "a.png", rgb())
    (d2 / "link.png").symlink_to(outside)
    (d2 / "linkdir").symlink_to(outside.parent, target_is_directory=True)
    assert [p.name for p in target_files(str(d2), 10)] == ["a.png"]  # links are not followed out
    many = tmp_path / "many"
    for i in range(10):
        save(many / f"{i:02d}.png", rgb(seed=i))
    assert [p.name for p in target_files(str(many), 4)] == ["00.png", "03.png", "06.png", "09.png"]


def test_target_statistics_are_cached_and_the_target_folder_left_alone(tmp_path):
    d = tmp_path / "target"
    for i in range(3):
        save(d / f"{i}.png", rgb(seed=i))
    before = {p: p.stat().st_mtime_ns for p in d.rglob("*")}
    cache = tmp_path / "fit" / "target.npz"
    cache.parent.mkdir()
    a = load_target(str(d), max_images=10, size=None, coco=None, categories=[], rename={}, cache=cache)
    assert a.size == (32, 24) and a.files == ["0.png", "1.png", "2.png"] and not a.labelled
    assert all(len(v) == 3 for v in a.samples.values())
    stamp = cache.stat().st_mtime_ns
    b = load_target(str(d), max_images=10, size=None, coco=None, categories=[], rename={}, cache=cache)
    assert cache.stat().st_mtime_ns == stamp and all(np.array_equal(a.samples[k], b.samples[k]) for k in a.samples)
    save(d / "3.png", rgb(seed=3))  # the target changed: computed again
    c = load_target(str(d), max_images=10, size=None, coco=None, categories=[], rename={}, cache=cache)
    assert len(c.files) == 4
    assert {p: p.stat().st_mtime_ns for p in d.rglob("*") if p.name != "3.png"} == before
    with pytest.raises(SimgenError, match="another aspect"):
        load_target(str(d), max_images=10, size=(32, 32), coco=None, categories=[], rename={}, cache=cache)
    half = load_target(str(d), max_images=10, size=(24, 18), coco=None, categories=[], rename={}, cache=cache)
    assert half.size == (32, 24)  # resized to the renders' size for the statistics only


def coco_file(path: Path, categories: list[str]) -> Path:
    data = {"images": [{"id": 1, "file_name": "0.png", "width": 32, "height": 24}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 8], "area": 80,
                             "iscrowd": 0}],
            "categories": [{"id": i + 1, "name": n} for i, n in enumerate(categories)]}
    path.write_text(json.dumps(data))
    return path


def test_target_labels_must_name_the_catalogs_categories(tmp_path):
    d = tmp_path / "target"
    save(d / "0.png", rgb())
    kw = dict(max_images=10, size=None, categories=["mug", "box"], cache=tmp_path / "c.npz")
    with pytest.raises(SimgenError, match="'cup'.*fit.rename"):
        load_target(str(d), coco=str(coco_file(tmp_path / "a.json", ["cup"])), rename={}, **kw)
    t = load_target(str(d), coco=str(coco_file(tmp_path / "b.json", ["cup"])), rename={"cup": "mug"}, **kw)
    assert t.labelled and list(t.samples["objects"]) == [1.0]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SimgenError, match="fit.target_coco"):
        load_target(str(d), coco=str(tmp_path / "bad.json"), rename={}, **kw)


def test_each_other_choice_is_queued_at_the_prefits_geometry():
    """Beside the prefit's trial, the same parameters with each other choice of each rendered choice
    entry, each once (a world's kind is otherwise only a random draw of TPE's first trials)."""
    from types import SimpleNamespace

    from simgen.fit.study import other_choices

    entries = space({"scene": {"camera_distance": {"low": 0.3, "high": 4, "log": True}},
                     "lighting": {"world": {"choices": [["uniform"], ["sky"], ["hdri"]]}},
                     "objects": {"count": [1, 12]}})
    params = params_of(entries, {"scene.camera_distance": [0.5, 0.7], "lighting.world": ["uniform"],
                                 "objects.count": [2, 4]})
    others = other_choices(SimpleNamespace(rendered=entries), params)
    assert [origin for origin, _ in others] == ["lighting.world=[sky]", "lighting.world=[hdri]"]
    for (_, other), world in zip(others, (["sky"], ["hdri"])):
        assert values_of(entries, other) == {**values_of(entries, params), "lighting.world": world}
    assert other_choices(SimpleNamespace(rendered=entries[:1]), params) == []  # no choice entry: none


# ------------------------------------------------------------------ a fit end to end


simgen = simgen_cli


SMALL = ["render.samples=4", "render.denoise=false", "objects.count=[2,3]"]


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Path:
    """A target rendered by simgen: a far camera and heavy noise."""
    out = tmp_path_factory.mktemp("fit") / "target"
    r = simgen(f"output.dir={out}", "frames=4", "render.width=64", "render.height=48", *SMALL, "seed=900",
               "scene.camera_distance=[2.5,3]", "effects.noise_probability=1", "effects.full_well=[40,40]", cwd=out.parent)
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.render
@pytest.mark.slow  # four fits of a few trials, each with its final round: minutes
def test_a_small_fit_writes_its_results_resumes_and_best_yaml_renders(target, tmp_path):
    args = ["fit", f"target={target / 'images'}", f"target_coco={target / 'coco.json'}", "name=small",
            "fit.frames=2", "fit.trials=3", "fit.startup_trials=2", "fit.prefit_trials=12", "fit.polish_trials=24", *SMALL,
            "fit.space={scene: {camera_distance: {low: 0.5, high: 4, log: true}}, effects: {noise_probability: [0, 1]}}",
            "fit.space_file=" + str(write_space(tmp_path)), "fit.max_images=4"]
    r = simgen(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout
    fit = tmp_path / "fits" / "small"
    assert {"fit.db", "target.npz", "default", "trials", "trials.csv", "best.yaml", "report.html"} <= \
        {p.name for p in fit.iterdir()}
    rows = (fit / "trials.csv").read_text().splitlines()
    assert rows[0].startswith("trial,state,distance,") and sum(",COMPLETE," in r for r in rows) == 3
    assert "3 trial(s) complete" in r.stdout
    assert "Warning" not in r.stderr  # Optuna's experimental warnings stay off the terminal
    assert not (fit / "check").exists()  # best.yaml was rendered before it was written, and its render removed
    import optuna

    study = optuna.load_study(study_name="small", storage=f"sqlite:///{fit / 'fit.db'}")
    prefit = study.user_attrs["prefit"]  # the geometric entry (scene.camera_distance) searched on projected labels first
    # the defaults and 12 candidates, the 10 closest again on twice the scenes, a pattern search of 2 from 3 of them
    assert 13 + 10 <= prefit["evaluations"] <= 13 + 10 + 3 * 2 and set(prefit["values"]) == {"scene.camera_distance"}
    first = study.trials[0]
    assert first.user_attrs["from"] == "prefit"
    distance = space({"scene": {"camera_distance": {"low": 0.5, "high": 4, "log": True}}})
    assert values_of(distance, first.params)["scene.camera_distance"] == prefit["values"]["scene.camera_distance"]
    second = study.trials[1]  # then the default world, its camera settings searched
    assert second.user_attrs["from"] == "defaults"
    assert values_of(distance, second.params)["scene.camera_distance"] == pytest.approx(Tabletop().camera_distance)
    # the final round: the default config, the 2 closest trials and the default world's trial again, on 4 x 2
    # frames after the trials'
    final = study.user_attrs["final"]
    contenders = sorted((t for t in study.trials if t.state.name == "COMPLETE"), key=lambda t: t.value)[:2]
    closest = contenders + ([second] if second.number not in {t.number for t in contenders} else [])
    assert final["frames"] == 8 and set(final["trials"]) == {str(t.number) for t in closest}
    for key in ("default", *(t.user_attrs["key"] for t in closest)):
        metas = sorted((fit / "final" / key / "meta").glob("*.json"))
        assert [json.loads(m.read_text())["index"] for m in metas] == list(range(2, 10))
    chosen = min([("default", final["default"]["distance"]),
                  *((k, v["distance"]) for k, v in final["trials"].items())], key=lambda kv: kv[1])
    head = (fit / "best.yaml").read_text().splitlines()[0]
    assert "in the final round (8 new frames" in head and (f"trial {chosen[0]}," in head if chosen[0] != "default"
                                            else "default config's settings" in head)
    # each of the 2 closest was measured with its development polished on its trial's frames and 6 more after the
    # final round's, its search stopped by the 6 after those: best.yaml has that one; the default world's trial,
    # there for being the default's, with its trial's development
    assert final["polish"] == 24  # fit.polish_trials (200 by default: a fit's minutes, not a test's)
    assert all("effects.noise_probability" in v["develop"] for v in final["trials"].values())
    assert final["polish_frames"] == 12 and {p.name for p in (fit / "polish").iterdir() if p.is_dir()} == \
        {t.user_attrs["key"] for t in contenders}
    if second.number not in {t.number for t in contenders}:
        assert final["trials"][str(second.number)]["develop"] == second.user_attrs["develop"]
    for t in contenders:
        for part, indices in (("polish", range(10, 16)), ("held_out", range(16, 22))):
            metas = (fit / part / t.user_attrs["key"] / "meta").glob("*.json")
            assert sorted(json.loads(m.read_text())["index"] for m in metas) == list(indices)
    if chosen[0] != "default":
        best_noise = yaml.safe_load((fit / "best.yaml").read_text())["effects"]["noise_probability"]
        assert best_noise == final["trials"][chosen[0]]["develop"]["effects.noise_probability"]
    table = list(csv.DictReader((fit / "trials.csv").open()))
    assert {r["trial"] for r in table if r["final"]} == set(final["trials"])
    # the same command again: nothing rendered, the results as they were, the report not drawn again
    page = (fit / "report.html").stat().st_mtime_ns
    again = simgen(*args, cwd=tmp_path)
    assert again.returncode == 0 and "trial(s) to run" not in again.stdout and "final round" not in again.stdout
    assert (fit / "report.html").stat().st_mtime_ns == page
    # more trials: only the new ones run, numbered after the others; the final round measures only new finalists
    more = simgen(*[a for a in args if not a.startswith("fit.trials")], "fit.trials=4", cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    assert "1 trial(s) to run (3 complete)" in more.stdout
    assert (fit / "report.html").stat().st_mtime_ns != page and "4 complete of 4" in (fit / "report.html").read_text()
    assert "the final round: the default config" not in more.stdout
    rows = (fit / "trials.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows if ",COMPLETE," in r] == ["0", "1", "2", "3"]
    # fewer polish frames: the final round runs again, each finalist polished on the new frames (its old polish
    # render, of other frames, is not taken for them)
    repolish = simgen(*[a for a in args if not a.startswith("fit.trials")], "fit.trials=4", "fit.polish_frames=4",
                      cwd=tmp_path)
    assert repolish.returncode == 0, repolish.stderr
    study = optuna.load_study(study_name="small", storage=f"sqlite:///{fit / 'fit.db'}")
    final = study.user_attrs["final"]
    assert final["polish_frames"] == 4
    for t in sorted((t for t in study.trials if t.state.name == "COMPLETE"), key=lambda t: (t.value, t.number))[:2]:
        key = t.user_attrs["key"]
        for part, indices in (("polish", [10, 11]), ("held_out", [12, 13])):
            metas = (fit / part / key / "meta").glob("*.json")
            assert sorted(json.loads(m.read_text())["index"] for m in metas) == indices
    # another space under the same name is refused, naming the way out
    other = simgen(*args[:-1], "fit.space={scene: {camera_elevation: [10, 80]}}", "fit.max_images=4", cwd=tmp_path)
    assert other.returncode == 2 and "fit.overwrite=true" in other.stderr
    # best.yaml is a simgen config as it is, and other overrides compose with it
    best = simgen("--config-dir", str(fit), "--config-name", "best", "--cfg", "job", "frames=2", cwd=tmp_path)
    assert best.returncode == 0, best.stderr
    composed, written = yaml.safe_load(best.stdout), yaml.safe_load((fit / "best.yaml").read_text())
    assert composed["scene"]["camera_distance"] == written["scene"]["camera_distance"] and composed["frames"] == 2
    assert composed["objects"]["count"] == [2, 3]  # the fit's world settings come with it
    html = (fit / "report.html").read_text()
    assert html.count('data-kind="') == 3 and "Distance per statistic" in html
    # its final round lists the current finalists only (the round's record keeps those it measured before)
    study = optuna.load_study(study_name="small", storage=f"sqlite:///{fit / 'fit.db'}")
    ranked = sorted((t for t in study.trials if t.state.name == "COMPLETE"), key=lambda t: (t.value, t.number))
    current = [t.number for t in ranked if t.user_attrs["key"] not in
               {u.user_attrs["key"] for u in ranked if (u.value, u.number) < (t.value, t.number)}][:2]
    current += [second.number] if second.number not in current else []
    row = re.search(r"<td>final round</td><td>(.*?)</td>", html).group(1)
    assert sorted(int(n) for n in re.findall(r"trial (\d+) ", row)) == sorted(current)
    # a study arm from the fit renders with the same settings as --config-name best
    from simgen.experiment.config import load_study
    from simgen.experiment.runner import plan_datasets
    from simgen.experiment.from_fit import best_overrides

    fitted = best_overrides(fit, "from_fit")
    as_overrides = simgen("--cfg", "job", "frames=2", *fitted, cwd=tmp_path)
    assert as_overrides.returncode == 0, as_overrides.stderr
    assert yaml.safe_load(as_overrides.stdout) == composed
    study = load_study(ROOT / "configs" / "study" / "dr_gap.yaml", [f"study.arms.wide.from_fit={fit}"])
    sets = {d.name: d.overrides for d in plan_datasets(study, [], tmp_path / "study")}
    wide = sets["wide"]
    assert wide[len(study.simgen):len(study.simgen) + len(fitted)] == fitted  # after study.simgen, before the arm's
    assert wide[len(study.simgen) + len(fitted)] == study.arms["wide"].overrides[0]
    assert not set(fitted) & set(sets["narrow"])
    gap = load_study(ROOT / "configs" / "study" / "fit_gap.yaml", [f"study.arms.fitted.from_fit={fit}"])
    assert list(gap.arms) == ["default", "fitted", "truth"] and gap.arms["default"].overrides == []
    assert gap.arms["truth"].overrides == [o for o in gap.target.overrides if not o.startswith("seed=")]


OLDER_CPU = {"NPY_DISABLE_CPU_FEATURES": "AVX2 FMA3 AVX512F AVX512_SKX", "OPENCV_CPU_DISABLE": "AVX2,FMA3"}
"""numpy's and OpenCV's own switches that take their AVX2 and FMA kernels away: a CPU without them."""


@pytest.mark.render
@pytest.mark.slow  # three small fits, each in a process of its own: a few minutes
def test_the_same_fit_seed_finds_the_same_best_yaml_on_a_cpu_without_avx2(tmp_path):
    """simgen fit holds numpy's kernels at the baseline (fit.cpu_kernels): a fit where numpy and
    OpenCV have no AVX2 or FMA and Cycles renders on one thread (another machine, emulated) finds the
    best.yaml the fit on this CPU finds, its distances within 1e-5; with this CPU's own numpy kernels
    the target's statistics, as the fit measures them, differ in their last bits (so holding them is
    what makes it reproduce; whether that moves a small fit's 6-digit distances depends on the CPU:
    it did on one with AVX2, not on one with AVX-512)."""
    import numpy.core._multiarray_umath as npy

    if not npy.__cpu_features__.get("AVX2"):
        pytest.skip("this CPU has no AVX2 to take away")
    size = ["render.width=96", "render.height=72", "render.samples=4", "render.denoise=false"]
    target = tmp_path / "target"  # the default world: a fit of a few trials whose developments native kernels move
    assert simgen(f"output.dir={target}", "frames=16", *size, cwd=tmp_path).returncode == 0
    base = ["fit", f"target={target / 'images'}", f"target_coco={target / 'coco.json'}", "name=same",
            "fit.frames=2", "fit.trials=4", "fit.startup_trials=2", "fit.prefit_trials=12", "fit.polish_trials=24",
            "fit.develop_trials=30", *size]

    def fit(folder: str, *more: str, env: dict | None = None) -> tuple[list[str], list[float]]:
        clean = {k: v for k, v in os.environ.items() if k not in OLDER_CPU}
        r = subprocess.run([sys.executable, "-m", "simgen.cli", *base, f"fit.out={tmp_path / folder}", *more],
                           cwd=tmp_path, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stderr + r.stdout
        best = [line for line in (tmp_path / folder / "best.yaml").read_text().splitlines() if folder not in line]
        rows = list(csv.DictReader((tmp_path / folder / "trials.csv").open()))
        with np.load(tmp_path / folder / "target.npz") as z:  # the target's statistics, as the fit measured them
            stats = {k: z[k].tobytes() for k in z.files if k.startswith("s_")}
        return best, [float(row["distance"]) for row in rows], stats

    here, older = fit("here"), fit("older", "render.threads=1", env=OLDER_CPU)
    assert here[0] == older[0]
    assert older[1] == pytest.approx(here[1], rel=1e-5)
    native = fit("native", "fit.cpu_kernels=native")
    assert native[2].keys() == here[2].keys() and native[2] != here[2]


def test_the_recovery_script_measures_errors_in_each_entrys_searched_units():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from fit_recovery import CASES, error
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    e = {x.key: x for x in parse_space(space_tree(FitConfig(target="/tmp")), Tabletop)}
    # scene.camera_distance is log-scaled on [0.3, 4]: centres 1 and 2 are log(2) / log(4 / 0.3) apart
    assert error(e["scene.camera_distance"], [1, 1], [2, 2]) == pytest.approx(np.log(2) / np.log(4 / 0.3))
    assert error(e["effects.noise_probability"], 0.25, 1.0) == pytest.approx(0.75)
    assert error(e["lighting.world"], ["sky"], ["sky"]) == 0.0
    # a colour temperature in mireds (1e6 / K) on [3000, 12000] K: 9000 and 10000 K are 11.1 of 250 mireds apart
    assert error(e["effects.white_balance_temperature"], [9000.0, 9000.0], [10000.0, 10000.0]) == \
        pytest.approx((1e6 / 9000 - 1e6 / 10000) / (1e6 / 3000 - 1e6 / 12000))
    for case in CASES.values():  # every truth is a setting of the default space, within its bounds
        for key, value in case["truth"].items():
            assert e[key].params_of(value) is not None, key


@pytest.mark.slow
@pytest.mark.render
def test_a_fit_recovers_the_camera_of_a_target_from_its_images_alone(tmp_path):
    """Recovery of the developed settings: a target rendered with a brighter exposure, sensor
    noise and a camera balanced for 9000 K; the fit searches exactly those (the world's settings
    left at their defaults) and must land near each (within 0.15 of its searched interval, the
    temperature's in mireds, as scripts/fit_recovery.py states), cutting the distance at least 5-fold on the final round's
    frames. Not asserted: how often white balance happens (its probability trades against its
    temperature when the scenes' own colours vary this much: a cast on fewer images or a weaker
    one on more); vignetting is left out (at 64x48 its statistic is too noisy to tell strengths)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from fit_recovery import error, flat
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    # the target and the fit's renders denoised alike (a fit's renders would take the fast prefilter)
    render = ["render.width=64", "render.height=48", "render.samples=16", "objects.count=[2,3]",
              "render.denoise_prefilter=accurate"]
    truth = {"camera.exposure": [1.5, 1.5], "effects.noise_probability": 1.0, "effects.full_well": [60.0, 60.0],
             "effects.white_balance_probability": 1.0, "effects.white_balance_temperature": [9000.0, 9000.0]}
    target = tmp_path / "target"
    r = simgen(f"output.dir={target}", "frames=48", "seed=77", "output.previews=false", *render,
               *(f"{k}={v}" for k, v in truth.items()), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = simgen("fit", f"target={target / 'images'}", "name=camera", "fit.frames=8", "fit.trials=4",
               "fit.develop_trials=200", *render, "fit.space_file=" + str(ROOT / "configs" / "fit_space.yaml"),
               "fit.space={lighting: null, materials: null, objects: null, scene: null, camera: {"
               "focal_length: null}, effects: {blur_probability: null, blur: null, jpeg_probability: null,"
               " jpeg_quality: null, vignetting_probability: null, vignetting: null}}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    fit = tmp_path / "fits" / "camera"
    best = flat(yaml.safe_load((fit / "best.yaml").read_text()))
    entries = {e.key: e for e in parse_space(space_tree(FitConfig(target="/tmp")), Tabletop)}
    errors = {k: error(entries[k], best[k], v) for k, v in truth.items() if k != "effects.white_balance_probability"}
    assert all(e <= 0.15 for e in errors.values()), errors
    import optuna

    final = optuna.load_study(study_name="camera", storage=f"sqlite:///{fit / 'fit.db'}").user_attrs["final"]
    assert final["frames"] == 32
    assert final["default"]["distance"] >= 5 * min(v["distance"] for v in final["trials"].values()), final


def test_the_fit_gap_reproduction_states_the_fitted_arms_difference_and_the_seed_noise(tmp_path):
    study = tmp_path / "run" / "study"
    study.mkdir(parents=True)
    aps = {"default": [0.10, 0.12, 0.11], "fitted": [0.20, 0.22, 0.21], "truth": [0.25, 0.24, 0.26],
           "fitted1": [0.18, 0.17, 0.19], "fitted2": [0.23, 0.23, 0.23]}
    with open(study / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["arm", "frames", "seed", "AP"])
        w.writeheader()
        w.writerows({"arm": a, "frames": 256, "seed": k, "AP": v} for a, vs in aps.items() for k, v in enumerate(vs))
    for k, (distance, jpeg) in enumerate([("[0.5, 0.6]", True), ("[0.4, 0.9]", False), ("[0.45, 0.7]", True)]):
        fit = tmp_path / "run" / ("fit" if k == 0 else f"fit{k}")
        fit.mkdir()
        (fit / "best.yaml").write_text(f"defaults: [config, _self_]\nscene:\n  camera_distance: {distance}\n"
                                       + ("effects: {jpeg_probability: 1.0}\n" if jpeg else ""))
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "reproduce_fit_gap.py"), "--keep", "--fits", "3",
                        "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # each setting of the study's target, against what each fit's best.yaml holds
    assert "  scene.camera_distance: target [0.45,0.7]; fits [0.5, 0.6]; [0.4, 0.9]; [0.45, 0.7]" in r.stdout
    assert "  effects.jpeg_probability: target 1; fits 1.0; (the base config's); 1.0" in r.stdout
    # mean 0.21 vs 0.11, standard deviations 0.01: 2 standard errors of the difference 2*sqrt(2*0.01**2/3)
    assert "fitted - default = +0.100 AP; 2 standard errors of the difference: 0.016: beyond seed noise" in r.stdout
    assert "truth - fitted = +0.040 AP" in r.stdout
    # the gap is 0.25 - 0.11 = 0.14 AP: the fits close 0.10, 0.07 and 0.12 of it
    assert "fitted closes 71% of the default-to-truth gap (0.140 AP)" in r.stdout
    assert "fitted1 closes 50%" in r.stdout and "fitted2 closes 86%" in r.stdout
    assert "mean of 3 fits: 69% of the gap closed; the worst 50%; their standard deviation 18%" in r.stdout
    # seed noise: every arm's standard deviation 0.01 but fitted2's 0 -> pooled sqrt(4 * 0.01**2 / 5) = 0.0089,
    # over sqrt(3) seeds 0.0052, the difference of two arms sqrt(2) times that: 0.0073 = 5 % of the 0.14 gap
    assert ("seed noise (3 seeds): an arm's mean AP 0.0052 (pooled standard deviation 0.0089), a fitted arm's "
            "difference from the default arm 0.0073 AP = 5% of the gap; a third of the gap: 0.0467 AP (smaller)") \
        in r.stdout


def test_the_distance_against_ap_script_picks_trials_across_the_distances_and_ranks_them(tmp_path):
    fit = tmp_path / "fit"
    fit.mkdir()
    with open(fit / "trials.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["trial", "state", "distance", "final", "brightness", "seconds", "folder", "scene.camera_distance",
                    "objects.count"])
        for k, d in enumerate([0.9, 0.5, 0.7, 0.3, 0.8, 0.4]):
            w.writerow([k, "COMPLETE", d, "", 0.1, 3.0, f"trials/{k}", f"[{d},{d + 1}]", "[2,4]"])
        w.writerow([6, "FAIL", "", "", "", 1.0, "", "", ""])
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from fit_distance_vs_ap import spread, trials_of
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    trials = trials_of(fit)
    assert [t["trial"] for t in trials] == [0, 1, 2, 3, 4, 5]
    assert trials[3]["overrides"] == ["scene.camera_distance=[0.3,1.3]", "objects.count=[2,4]"]
    # four of six by rank of distance (0.3 0.4 0.5 0.7 0.8 0.9): ranks 0, 2, 3 and 5
    assert [t["trial"] for t in spread(trials, 4)] == [3, 1, 2, 0]
    out = tmp_path / "study"
    out.mkdir()
    ap = {3: 0.30, 1: 0.25, 2: 0.27, 0: 0.10}  # the closest trains best but trial 2 beats trial 1: one swap
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["arm", "frames", "seed", "AP"])
        w.writeheader()
        w.writerows({"arm": f"trial{t}", "frames": 256, "seed": s, "AP": v + 0.01 * s} for t, v in ap.items()
                    for s in (0, 1))
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "fit_distance_vs_ap.py"), "--fit", str(fit), "--keep",
                        "--out", str(out), "--trials", "4"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "trial   2  distance 0.7000  AP 0.2750" in r.stdout
    # ranks of distance 1 2 3 4 against ranks of AP 4 2 3 1 (descending): rho = 1 - 6 * (9 + 0 + 0 + 9) / 60 = -0.8
    assert "Spearman's rank correlation of distance and AP: -0.80 over 4 trials" in r.stdout


def test_the_development_search_tries_the_start_values_first_and_finds_the_optimum():
    from simgen.fit.post_render import search
    from simgen.fit.distance import Distance

    entries = space({"effects": {"jpeg_quality": {"low": 5, "high": 100, "as": "value"},
                                 "noise_probability": [0, 1]}})
    seen = []

    def evaluate(v):
        seen.append(v)
        return Distance(abs(v["effects.jpeg_quality"][0] - 70) / 95 + abs(v["effects.noise_probability"] - 0.3), {})

    start = {"effects.jpeg_quality": [90, 90], "effects.noise_probability": 0.5}
    found = search(entries, evaluate, 60, seed=3, start=[start, {"effects.jpeg_quality": [200, 200]}])
    assert seen[0] == start and len(seen) == len(found.history) <= 60  # the unrepresentable start is skipped
    assert len(seen) > 12  # TPE's 12, then the pattern search until its step is below 1 %
    assert abs(found.values["effects.jpeg_quality"][0] - 70) <= 8 and abs(found.values["effects.noise_probability"] - 0.3) < 0.1
    assert found.distance.total == min(h["value"] for h in found.history)
    assert search([], lambda v: Distance(len(v), {}), 60, seed=3).values == {}


def test_a_search_with_held_out_frames_stops_at_the_best_so_far_that_comes_closest_there():
    """Early stopping: the searched frames' optimum (quality 40) is not the held-out frames' (70).
    The search runs as without them, and hands back the one of its bests so far, in turn, that is
    closest on the held-out frames."""
    from simgen.fit.post_render import search
    from simgen.fit.distance import Distance

    entries = space({"effects": {"jpeg_quality": {"low": 5, "high": 100, "as": "value"}}})
    start = [{"effects.jpeg_quality": [100, 100]}]
    held = []

    def searched(v):
        return Distance(abs(v["effects.jpeg_quality"][0] - 40) / 95, {})

    def held_out(v):
        held.append(v)
        return Distance(abs(v["effects.jpeg_quality"][0] - 70) / 95, {})

    free = search(entries, searched, 60, seed=3, start=start)
    stopped = search(entries, searched, 60, seed=3, start=start, held_out=held_out)
    assert stopped.history == free.history and abs(free.values["effects.jpeg_quality"][0] - 40) <= 3
    values = [h["value"] for h in free.history]
    bests = [v for k, v in enumerate(values) if v < min(values[:k], default=np.inf)]
    assert len(stopped.held_out) == len(held) == len(bests) >= 2  # each best so far measured there once
    i = int(np.argmin(stopped.held_out))
    assert stopped.values == held[i] and stopped.held_out[i] < stopped.held_out[-1]
    assert stopped.distance.total == searched(stopped.values).total
    assert abs(stopped.values["effects.jpeg_quality"][0] - 70) < abs(free.values["effects.jpeg_quality"][0] - 70)



def test_the_pattern_search_leaves_a_valley_where_exposure_makes_up_for_vignetting():
    """Vignetting darkens the images, and a higher exposure makes up for it: from strong vignetting
    and a matching exposure, a move of either alone worsens the distance. Moves judged with the
    brightness held (the exposure re-matched) walk down the valley to the truth; without that,
    the search stays where it starts."""
    from simgen.fit import post_render
    from simgen.fit.distance import Distance

    entries = space({"camera": {"exposure": [-2.5, 2.5]}, "effects": {"vignetting_probability": [0, 1]}})
    calls = []

    def measure(params):  # the images' brightness follows exposure - 1.5 vignetting; the truth is 0, 0
        calls.append(params)
        c, v = params["camera.exposure.centre"], params["effects.vignetting_probability"]
        shift = (c - 1.5 * v) / 0.1
        return Distance(abs(shift) + v + abs(c) / 10, {"brightness": abs(shift)}, {"brightness": shift})

    start = {"camera.exposure.centre": 1.5, "camera.exposure.width": 0.0, "effects.vignetting_probability": 1.0}
    found = post_render.refine(entries, measure, start, measure(start), 120)
    assert len(calls) <= 121
    assert found["effects.vignetting_probability"] < 0.05 and abs(found["camera.exposure.centre"]) < 0.1
    stuck = post_render.refine(entries, measure, start, measure(start), 120, balance=None)
    assert stuck["effects.vignetting_probability"] > 0.9


def test_the_pattern_search_stays_inside_each_interval_at_its_ends():
    """A distance that falls towards the top of a log-scaled range's centre (world strength up to 2,
    whose log end lo + (hi - lo) misses by a bit) and the bottom of another: every candidate the
    search measures lies inside the optimizer's distributions, as the report's importances need."""
    from simgen.fit import post_render
    from simgen.fit.distance import Distance

    entries = space({"lighting": {"world_strength": {"low": 0.05, "high": 2.0, "log": True}},
                     "effects": {"jpeg_quality": [5, 100]}})
    dists = {k: d for e in entries for k, d in e.distributions().items()}
    seen = []

    def measure(params):
        seen.append(params)
        return Distance(-params["lighting.world_strength.centre"] + params["effects.jpeg_quality.centre"] / 100, {}, {})

    start = {k: (d.low + d.high) / 2 if not d.log else math.sqrt(d.low * d.high) for k, d in dists.items()}
    start = {k: int(v) if isinstance(dists[k], optuna.distributions.IntDistribution) else v for k, v in start.items()}
    found = post_render.refine(entries, measure, start, measure(start), 80)
    assert found["lighting.world_strength.centre"] == dists["lighting.world_strength.centre"].high
    assert all(dists[k]._contains(dists[k].to_internal_repr(v)) for p in seen for k, v in p.items())


def test_a_latin_hypercube_puts_one_candidate_in_each_stratum_of_every_parameter():
    from simgen.fit.post_render import latin_hypercube, to_unit

    entries = space({"scene": {"camera_distance": {"low": 0.3, "high": 4.0, "log": True}},
                     "objects": {"count": [1, 12]}, "lighting": {"world": {"choices": [["uniform"], ["sky"]]}}})
    dists = {k: d for e in entries for k, d in e.distributions().items()}
    params = latin_hypercube(entries, 40, np.random.default_rng(3))
    assert len(params) == 40 and all(set(p) == set(dists) for p in params)
    strata = sorted(int(to_unit(dists["scene.camera_distance.centre"], p["scene.camera_distance.centre"]) * 40)
                    for p in params)
    assert strata == list(range(40))  # a log-scaled parameter: one in each fortieth of its log interval
    assert all(dists[k]._contains(dists[k].to_internal_repr(v)) for p in params for k, v in p.items())
    assert {p["lighting.world"] for p in params} == {"[uniform]", "[sky]"}
    assert [p["lighting.world"] for p in params].count("[sky]") == 20  # a choice: equal shares


@pytest.mark.slow  # over 10 s on 2 cores
def test_the_prefit_finds_label_statistics_as_close_as_the_targets_own_settings():
    """A target whose labels are the projected boxes of known settings (a near camera, 2 to 4
    objects; as fit_gap's target) and a space where many objects far apart, seen from low and near,
    make a wrong valley: the prefit comes as close to the target as its own settings do (with the
    shipped 200 candidates it did on each of six seeds; with 80, on four of them, or five while a
    range's width was clipped at the bounds)."""
    from types import SimpleNamespace

    from simgen.cli.study import check_dataset
    from simgen.fit.distance import distance, scales
    from simgen.fit.geometry import Projector, prefit, with_values
    from simgen.fit.space import defaults_of

    settings = check_dataset(["render.width=96", "render.height=72", "output.dir=unused"])
    truth = {"scene.camera_distance": [0.45, 0.7], "objects.count": [2, 4]}
    target = Projector(with_values(settings, {"seed": 1000}), range(32)).samples(truth)
    entries = space({"scene": {"camera_distance": {"low": 0.3, "high": 4.0, "log": True}, "camera_elevation": [5, 85],
                               "area_radius": {"low": 0.15, "high": 1.5, "log": True}}, "objects": {"count": [1, 12]}})
    plan = SimpleNamespace(fit=SimpleNamespace(seed=0, frames=8, label_scenes=0), settings=settings, catalog=None,
                           rendered=entries,
                           defaults=defaults_of(entries, settings), target=SimpleNamespace(samples=target),
                           weights={n: 1.0 for n in target}, scale=scales(target))
    found = prefit(plan, FitConfig(target="/tmp").prefit_trials, 0)  # the shipped number of candidates
    own = distance(target, Projector(with_values(settings, {"seed": 0}), range(16)).samples(truth), plan.scale,
                   plan.weights)
    assert set(found.values) == {e.key for e in entries}
    assert found.distance.total <= own.total + 0.05, (found.distance.total, own.total, found.values)


def test_light_scales_weigh_each_drawn_lamp_and_the_world_and_leave_a_recipes_own_lamp():
    """Two lamps drawn by the lighting group (rendered white at the centre of the base ranges), a
    room's ceiling lamp after them, a uniform world: a candidate of fixed powers, a 3000 K colour
    and a dimmer world gives each its ratio; the ceiling lamp and the rest stay."""
    from simgen.config import LightingConfig
    from simgen.fit.post_render import light_scales
    from simgen.sampling.random import blackbody_rgb

    base = LightingConfig(point_power=[50.0, 150.0], area_power=[100.0, 100.0], world_strength=[0.2, 0.4])
    cand = LightingConfig(point_power=[400.0, 400.0], area_power=[50.0, 50.0], world_strength=[0.1, 0.1],
                          temperature_probability=1.0, temperature=[3000.0, 3000.0])
    meta = {"index": 7, "params": {"lights": [{}, {}]}, "world": {"kind": "uniform", "strength": 0.3},
            "lights": [{"kind": "point"}, {"kind": "area"}, {"kind": "area"}]}
    keys = frozenset({"lighting.point_power", "lighting.area_power", "lighting.world_strength",
                      "lighting.temperature_probability", "lighting.temperature"})
    s = light_scales(meta, base, cand, keys, seed=3)
    warm = np.asarray(blackbody_rgb(3000.0))
    assert s.shape == (5, 3)
    assert np.allclose(s[0], 4.0 * warm) and np.allclose(s[1], 0.5 * warm)
    assert np.allclose(s[2], 1.0) and np.allclose(s[3], 1 / 3) and np.allclose(s[4], 1.0)
    only_power = light_scales(meta, base, cand, frozenset({"lighting.point_power"}), seed=3)
    assert np.allclose(only_power[0], 4.0) and np.allclose(only_power[1:], 1.0)
    meta["world"] = {"kind": "uniform", "strength": 0.3, "plain_backdrop": [0.1, 0.1, 0.1]}
    assert np.allclose(light_scales(meta, base, cand, keys, seed=3)[3], 1.0)  # a backdrop is not the world's light


def test_relight_weighs_the_denoised_image_by_each_lights_share():
    """Two lights on the two halves of an image: tripled on the left, the left triples and the
    right stays (beyond the averaging box); all doubled, all doubles; where no light falls, the
    image is kept."""
    from simgen.fit.post_render import RATIO_BOX, relight

    rng = np.random.default_rng(0)
    linear = rng.uniform(0.2, 1.0, (20, 30, 3)).astype(np.float32)  # the denoised image
    lights = np.zeros((3, 20, 30, 3), np.float32)
    lights[0, :, :15] = linear[:, :15] * rng.uniform(0.8, 1.2, (20, 15, 3))  # noisy shares
    lights[1, :, 15:] = linear[:, 15:] * rng.uniform(0.8, 1.2, (20, 15, 3))
    out = relight(linear, lights, np.array([[3.0] * 3, [1.0] * 3, [1.0] * 3]))
    edge = RATIO_BOX // 2 + 1
    assert np.allclose(out[:, :15 - edge], 3 * linear[:, :15 - edge], rtol=2e-3)
    assert np.allclose(out[:, 15 + edge:], linear[:, 15 + edge:], rtol=2e-3)
    assert np.allclose(relight(linear, lights, np.full((3, 3), 2.0)), 2 * linear, rtol=2e-3)
    assert np.allclose(relight(linear, np.zeros_like(lights), np.full((3, 3), 5.0)), linear)


def test_neutral_renders_keep_the_light_shares_only_when_lighting_is_developed():
    from simgen.config import LightingConfig
    from simgen.fit.post_render import NEUTRAL, neutral

    assert neutral(["camera.exposure", "effects.jpeg_quality"]) == NEUTRAL
    got = neutral(["camera.exposure", "lighting.point_power", "lighting.world_strength"],
                  LightingConfig(point_power=[20.0, 200.0], world_strength=[0.1, 0.5]))
    assert "output.labels=[linear,lights]" in got and "output.labels=[linear]" not in got
    assert "lighting.point_power=[110.0,110.0]" in got and "lighting.world_strength=[0.3,0.3]" in got
    assert not any(o.startswith("lighting.saturation") for o in got)  # colours kept: not developed
    assert "lighting.saturation=[0,0]" in neutral(["lighting.temperature"], LightingConfig())


@pytest.mark.slow  # four renders at 32 samples (20 s)
@pytest.mark.render
def test_developed_lighting_gives_the_images_simgen_renders_with_that_lighting(tmp_path):
    """A neutral render (white lamps at the centre of their ranges, their shares kept) developed
    with other powers, a 3000 K colour and a dimmer world, against simgen's own render of those
    settings (the same scenes: every range fixed, so both draw alike): within a few levels, where
    the two renders differ by about thirty. Without the denoiser the shares sum to the image."""
    from simgen.config import EffectsConfig, LightingConfig
    from simgen.fit.post_render import Developer, load_frames, neutral
    from simgen.io.files import read_png

    scene = ["frames=3", "seed=5", "render.width=96", "render.height=72", "render.samples=32", "camera.exposure=[0,0]",
             "lighting.types=[point,area]", "lighting.count=[2,2]", "output.previews=false"]
    base = LightingConfig(types=["point", "area"], count=[2, 2], world_strength=[0.2, 0.4],
                          point_power=[50.0, 150.0], area_power=[100.0, 100.0])
    values = {"lighting.point_power": [500.0, 500.0], "lighting.area_power": [30.0, 30.0],
              "lighting.temperature_probability": 1.0, "lighting.temperature": [3000.0, 3000.0],
              "lighting.world_strength": [0.1, 0.1]}
    runs = {"neutral": [*neutral(list(values), base)],
            "truth": [f"{k}=[{v[0]},{v[1]}]" if isinstance(v, list) else f"{k}={v}" for k, v in values.items()],
            "plain": [*neutral(list(values), base), "render.denoise=false", "render.samples=8"]}
    for name, overrides in runs.items():
        r = simgen(*scene, *overrides, f"output.dir={tmp_path / name}", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    frames = load_frames(tmp_path / "neutral")
    develop = Developer(EffectsConfig(), (0.0, 0.0), "agx", seed=5, lighting=base, lit=frozenset(values))
    got = develop(frames, values)
    for i in range(3):
        truth = read_png(tmp_path / "truth" / "images" / f"{i:06d}.png").astype(float)
        rendered = read_png(tmp_path / "neutral" / "images" / f"{i:06d}.png").astype(float)
        assert np.abs(got[i] - truth).mean() < 4.0 < 20.0 < np.abs(rendered - truth).mean()
        assert np.abs(got[i].mean(axis=(0, 1)) - truth.mean(axis=(0, 1))).max() < 1.5
    plain = load_frames(tmp_path / "plain")
    for linear, lights in zip(plain.linear, plain.lights):
        assert lights.shape == (4, *linear.shape) and np.allclose(lights.sum(axis=0), linear, rtol=1e-4, atol=1e-6)
        assert np.abs(lights[-1]).max() < 1e-4 * linear.max()  # nothing but lamps and the world emits


@pytest.mark.render
def test_developing_a_neutral_render_gives_the_images_simgen_renders_with_those_settings(target, tmp_path):
    """The fit renders with the camera settings neutral and the linear images kept, then develops
    them: the target's own settings (noise of full well 40) give the target's images again, exactly."""
    from simgen.config import EffectsConfig
    from simgen.fit.post_render import NEUTRAL, Developer, load_frames
    from simgen.io.files import read_png

    out = tmp_path / "neutral"
    r = simgen(f"output.dir={out}", "frames=4", "render.width=64", "render.height=48", *SMALL, "seed=900",
               "scene.camera_distance=[2.5,3]", *NEUTRAL, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    frames = load_frames(out)
    assert frames.index == [0, 1, 2, 3] and all(x.dtype == np.float32 for x in frames.linear)
    develop = Developer(EffectsConfig(), (0.0, 0.0), "agx", seed=900)
    noisy = develop(frames, {"effects.noise_probability": 1.0, "effects.full_well": [40.0, 40.0]})
    plain = develop(frames, {})
    for i in range(4):
        want = read_png(target / "images" / f"{i:06d}.png")
        assert np.array_equal(noisy[i], want)
        assert np.abs(plain[i].astype(int) - want).mean() > 1  # the noise is what makes them alike


def test_a_fit_that_no_trial_improves_hands_back_the_default_config():
    import optuna
    from types import SimpleNamespace

    from simgen.fit.runner import fitted

    entries = space({"scene": {"camera_distance": {"low": 0.3, "high": 4, "log": True}}})
    plan = SimpleNamespace(defaults={"scene.camera_distance": [0.8, 1.5]}, rendered=entries, developed=[],
                           fit=SimpleNamespace(final=0, frames=16, finalists=2, polish_trials=0, polish=0))
    study = optuna.create_study()
    study.set_user_attr("default", {"distance": 0.5})
    dists = entries[0].distributions()

    def add(centre: float, value: float) -> None:
        study.add_trial(optuna.trial.create_trial(
            params={"scene.camera_distance.centre": centre, "scene.camera_distance.width": 0.2}, distributions=dists,  # log units
            value=value, user_attrs={"develop": {}, "key": f"k{centre}"}))

    def trial(k: int) -> dict:
        return values_of(entries, study.trials[k].params)

    add(0.0, 0.7)
    result = fitted(plan, study)
    assert result.values == plan.defaults and result.distance == 0.5 and "no trial of 1" in result.what
    add(0.5, 0.2)
    result = fitted(plan, study)
    assert result.distance == 0.2 and result.values == trial(1) and "trial 1" in result.what
    assert not result.final and "on the trials' 16 frames" in result.what
    # the final round decides, on its own frames: trial 0 is closer there than trial 1
    plan.fit.final = 64
    study.set_user_attr("final", {"frames": 64, "default": {"distance": 0.6},
                                  "trials": {"0": {"distance": 0.3}, "1": {"distance": 0.4}}})
    result = fitted(plan, study)
    assert result.final and result.best.number == 0 and result.values == trial(0)
    assert (result.distance, result.default) == (0.3, 0.6) and "final round" in result.what
    # a finalist measured with its development polished is fitted with that development
    plan.fit.polish_trials, plan.fit.polish = 300, 48
    assert not fitted(plan, study).final  # a round without polishing does not count when it is asked for
    polished = {"camera.exposure": [0.5, 0.5]}
    record = {"frames": 64, "polish": 300, "default": {"distance": 0.6},
              "trials": {"0": {"distance": 0.3, "develop": polished}, "1": {"distance": 0.4}}}
    study.set_user_attr("final", record)
    assert not fitted(plan, study).final  # ... nor one polished on the trials' frames alone
    study.set_user_attr("final", {**record, "polish_frames": 48})
    result = fitted(plan, study)
    assert result.final and result.values == {**trial(0), **polished}
    plan.fit.polish_trials, plan.fit.polish = 0, 0
    # ... and the default config wins when it is closest there
    study.set_user_attr("final", {"frames": 64, "default": {"distance": 0.25},
                                  "trials": {"0": {"distance": 0.3}, "1": {"distance": 0.4}}})
    result = fitted(plan, study)
    assert result.values == plan.defaults and result.distance == 0.25 and "default config's settings" in result.what
    # a round on other frames, or missing a finalist, does not count: the trials' frames decide
    add(1.0, 0.1)
    result = fitted(plan, study)
    assert not result.final and result.best.number == 2


@pytest.mark.render
def test_projected_boxes_hold_the_rendered_ones(target):
    """The prefit's boxes (each object's projected convex hull, no render) against the boxes of
    the rendered instance masks of the same scenes: every rendered object is there, its box
    inside the projected one and close to it (the rendered box is that of the pixel centres the
    object covers)."""
    from simgen.cli.study import check_dataset
    from simgen.fit.geometry import Projector

    settings = check_dataset([f"output.dir={target.parent / 'x'}", "render.width=64", "render.height=48", *SMALL,
                              "seed=900", "scene.camera_distance=[2.5,3]"])
    projected = Projector(settings, range(4)).coco({})
    rendered = json.loads((target / "coco.json").read_text())
    boxes = {(a["image_id"], a["simgen"]["instance_id"]): a["bbox"] for a in projected["annotations"]}
    index = {im["id"]: int(Path(im["file_name"]).stem) for im in rendered["images"]}  # projected: by frame index
    assert len(rendered["annotations"]) >= 8
    for a in rendered["annotations"]:
        x, y, w, h = a["bbox"]
        px, py, pw, ph = boxes[(index[a["image_id"]], a["simgen"]["instance_id"])]
        assert px <= x + 0.5 and py <= y + 0.5 and x + w <= px + pw + 0.5 and y + h <= py + ph + 0.5
        assert w * h >= 0.5 * pw * ph  # a convex hull's box, not a bigger one


# ------------------------------------------------------------------ objective kid

def test_kid_is_the_unbiased_squared_mmd_of_the_cubic_kernel():
    from simgen.fit.kid import kid

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 4)), rng.normal(size=(5, 4)) + 0.5
    k = lambda x, y: (sum(p * q for p, q in zip(x, y)) / 4 + 1) ** 3  # noqa: E731 (written out, pair by pair)
    xx = sum(k(a[i], a[j]) for i in range(6) for j in range(6) if i != j) / 30
    yy = sum(k(b[i], b[j]) for i in range(5) for j in range(5) if i != j) / 20
    xy = sum(k(x, y) for x in a for y in b) / 30
    assert kid(a, b) == pytest.approx(xx + yy - 2 * xy, rel=1e-12) == pytest.approx(kid(b, a), rel=1e-12)
    same = [kid(rng.normal(size=(200, 8)), rng.normal(size=(200, 8))) for _ in range(5)]
    apart = kid(rng.normal(size=(200, 8)), rng.normal(size=(200, 8)) + 0.3)
    assert max(abs(v) for v in same) < apart / 5
    with pytest.raises(ValueError, match="at least 2"):
        kid(a[:1], b)


@pytest.fixture(scope="module")
def backbone(tmp_path_factory) -> Path:
    """A resnet18 state dict of random weights saved to a local file (nothing downloaded)."""
    import torch
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("kid") / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def test_kid_features_come_from_a_local_weights_file_and_bad_ones_are_one_line(backbone, tmp_path):
    from simgen.fit.kid import Features

    f = Features("resnet18", backbone)
    images = [rgb(48, 64, seed=k) for k in range(3)]
    out = f(images)
    assert out.shape == (3, 512) and np.isfinite(out).all() and np.array_equal(out, f(images))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a model")
    with pytest.raises(SimgenError, match="fit.kid_weights=.*bad.pth: not a state dict of torchvision's resnet18"):
        Features("resnet18", bad)
    with pytest.raises(SimgenError, match="not a state dict of torchvision's resnet50"):
        Features("resnet50", backbone)
    with pytest.raises(SimgenError, match="needs fit.kid_weights=FILE"):
        load_fit(["target=/tmp", "objective=kid"])


@pytest.mark.slow  # a whole fit (a minute or more)
@pytest.mark.render
def test_a_kid_fit_measures_the_feature_distance(target, tmp_path, backbone):
    args = ["fit", f"target={target / 'images'}", "name=kid", "fit.frames=2", "fit.trials=2", "fit.startup_trials=1",
            "fit.objective=kid", f"fit.kid_weights={backbone}", "fit.develop_trials=12", *SMALL,
            "fit.final_frames=2", "fit.polish_trials=0",  # a final round (it measures KID too), unpolished
            "fit.space={scene: {camera_distance: {low: 0.5, high: 4, log: true}}, effects: {noise_probability: [0, 1]}}",
            "fit.space_file=" + str(write_space(tmp_path)), "fit.max_images=4"]
    r = simgen(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout
    assert "geometric settings" not in r.stdout  # no labels: no prefit, and none announced
    fit = tmp_path / "fits" / "kid"
    rows = (fit / "trials.csv").read_text().splitlines()
    assert rows[0].startswith("trial,state,distance,final,kid,seconds,") and sum(",COMPLETE," in r for r in rows) == 2
    import optuna

    study = optuna.load_study(study_name="kid", storage=f"sqlite:///{fit / 'fit.db'}")
    assert set(study.user_attrs["default"]["components"]) == {"kid"}
    assert set(study.user_attrs["final"]["default"]["components"]) == {"kid"}  # the final round measures KID too
    assert np.load(fit / "target.npz")["features"].shape == (4, 512)


# ------------------------------------------------------------------ objective ap

@pytest.mark.slow  # a whole fit (a minute or more)
@pytest.mark.render
def test_an_ap_fit_trains_a_detector_per_trial_and_scores_it_on_the_target(target, tmp_path):
    args = ["fit", f"target={target / 'images'}", f"target_coco={target / 'coco.json'}", "name=ap", "fit.frames=4",
            "fit.trials=2", "fit.startup_trials=1", "fit.objective=ap", "fit.trainer.steps=2",
            "fit.trainer.batch_size=2", "fit.trainer.warmup=1", *SMALL, "fit.max_images=4",
            "fit.space={scene: {camera_distance: {low: 0.5, high: 4, log: true}}, effects: {noise_probability: [0, 1]}}",
            "fit.space_file=" + str(write_space(tmp_path))]
    r = simgen(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout
    fit = tmp_path / "fits" / "ap"
    rows = list(csv.DictReader((fit / "trials.csv").open()))
    assert [row["state"] for row in rows] == ["COMPLETE", "COMPLETE"]
    for row in rows:  # 1 - AP, the AP being the trial's own study's COCOeval score
        score = json.loads((fit / row["folder"] / "runs" / "fit" / "n4" / "seed0" / "score.json").read_text())
        assert float(row["distance"]) == pytest.approx(1 - score["AP"], abs=1e-6) and float(row["AP"]) == pytest.approx(score["AP"], abs=1e-6)
        # the camera effects are rendered, not developed: the trial's own setting is in its dataset
        config = json.loads((fit / row["folder"] / "data" / "fit" / "dataset.json").read_text())["config"]
        assert config["effects"]["noise_probability"] == pytest.approx(float(row["effects.noise_probability"]), rel=1e-5)
    assert "report.html" in {p.name for p in fit.iterdir()} and "final" not in {p.name for p in fit.iterdir()}
    assert not any(row["final"] for row in rows)  # no final round: a training run per trial
    with pytest.raises(SimgenError, match="needs target_coco|give target_coco"):
        load_fit(["target=/tmp", "objective=ap"])


def write_space(tmp_path: Path) -> Path:
    p = tmp_path / "space.yaml"
    p.write_text("scene:\n  camera_distance: {low: 0.5, high: 4, log: true}\n")
    return p


def fit_args(target: Path, *more: str) -> list[str]:
    return ["fit", f"target={target / 'images'}", "fit.frames=2", "fit.startup_trials=2", "fit.max_images=4",
            *SMALL, "fit.space_file=" + str(ROOT / "configs" / "fit_space.yaml"),
            "fit.space={lighting: null, materials: null, objects: null, scene: {camera_elevation: null, "
            "object_scale: null}, camera: {focal_length: null, exposure: null}}", *more]


def test_a_trial_killed_before_it_drew_all_its_settings_is_failed_and_not_run_again(tmp_path):
    """A range draws two parameters (centre, width) one after the other: a trial killed between
    them has half its settings and no key. Resumed, it is failed and not queued again (a retry
    would draw the other half anew: other settings); a trial that drew them all is."""
    from types import SimpleNamespace

    from simgen.fit.runner import open_study

    fit = SimpleNamespace(name="k", overwrite=False, storage=None, seed=0, startup_trials=2)
    plan = SimpleNamespace(storage_url=f"sqlite:///{tmp_path / 'fit.db'}", fingerprint={"fit": 1}, folder=tmp_path,
                           fit=fit)
    study = open_study(plan)
    half = study.ask()
    half.suggest_float("scene.camera_distance.centre", 0.0, 1.0)
    whole = study.ask()
    whole.suggest_float("scene.camera_distance.centre", 0.0, 1.0)
    whole.suggest_float("scene.camera_distance.width", 0.0, 1.0)
    whole.set_user_attr("key", "abc")
    resumed = open_study(plan)
    states = {t.number: t.state.name for t in resumed.trials}
    assert states[half.number] == "FAIL" and states[whole.number] == "FAIL"
    queued = [t for t in resumed.trials if t.state.name == "WAITING"]
    assert [t.user_attrs["retry_of"] for t in queued] == [whole.number]


def trials_of(url: str, name: str) -> list:
    import optuna

    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


@pytest.mark.slow
@pytest.mark.render
def test_a_fit_killed_mid_trial_resumes_without_losing_or_repeating_a_finished_trial(target, tmp_path):
    import os
    import signal
    import time

    args = fit_args(target, "name=killed", "fit.trials=4", "fit.final_frames=0")  # the trials are what is killed
    url = f"sqlite:///{tmp_path / 'fits' / 'killed' / 'fit.db'}"
    log = open(tmp_path / "fit.log", "w")
    p = subprocess.Popen([sys.executable, "-m", "simgen.cli", *args], cwd=tmp_path, stdout=log, stderr=log,
                         start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            assert p.poll() is None, (tmp_path / "fit.log").read_text()
            try:
                states = [(t.number, t.state.name, "key" in t.user_attrs) for t in trials_of(url, "killed")]
            except Exception:  # noqa: BLE001 (the study is not there yet)
                states = []
            # a running trial that has drawn all its settings, its key set (killed before that, it has nothing
            # to run again; killed between a range's centre and width, its params were half drawn)
            if any(s == "COMPLETE" for _, s, _ in states) and any(n >= 1 and s == "RUNNING" and drawn
                                                                   for n, s, drawn in states):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the fit never had a complete and a running trial")
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # the fit and the render it started
        p.wait()
    before = {t.number: (t.value, t.params) for t in trials_of(url, "killed") if t.state.name == "COMPLETE"}
    # the trial developing, and the next one, drawn to render beside it (simgen.fit.runner.AHEAD)
    killed = [t for t in trials_of(url, "killed") if t.state.name == "RUNNING"]
    assert 1 <= len(killed) <= 2
    r = simgen(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    after = trials_of(url, "killed")
    done = {t.number: (t.value, t.params) for t in after if t.state.name == "COMPLETE"}
    assert len(done) == 4 and all(done[n] == before[n] for n in before)  # nothing lost, nothing changed
    assert any("key" in k.user_attrs for k in killed)
    for k in killed:
        retries = [t for t in after if t.user_attrs.get("retry_of") == k.number]
        assert [t.state.name for t in after if t.number == k.number] == ["FAIL"]
        if "key" not in k.user_attrs:  # the next trial, killed while it drew its settings: nothing to run again
            assert not retries
            continue
        (retry,) = retries
        assert retry.state.name == "COMPLETE" and retry.params == k.params  # each drawn killed trial ran again, once
    keys = [t.user_attrs["key"] for t in after if t.state.name == "COMPLETE"]
    assert len(set(keys)) == len(keys)  # no finished trial rendered twice


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.render
def test_two_workers_on_one_database_run_different_trials(target, tmp_path, postgres_url):
    import uuid

    import optuna

    name = f"two-{uuid.uuid4().hex[:8]}"
    args = fit_args(target, f"name={name}", "fit.trials=4", f"fit.storage={postgres_url}",
                    "fit.polish_trials=0")  # the final round shared, its polishing (a search in one process) not
    try:
        ps = [subprocess.Popen([sys.executable, "-m", "simgen.cli", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=900) for p in ps]
        assert all(p.returncode == 0 for p in ps), [o[1] for o in outs]
        done = [t for t in trials_of(postgres_url, name) if t.state.name == "COMPLETE"]
        assert len(done) >= 4
        assert len({t.number for t in done}) == len(done)
        assert len({t.user_attrs["key"] for t in done}) == len(done)  # different settings, each rendered once
        assert len({t.user_attrs["worker"] for t in done}) == 2  # both workers ran trials
    finally:
        if name in [s.study_name for s in optuna.get_all_study_summaries(postgres_url)]:
            optuna.delete_study(study_name=name, storage=postgres_url)


def test_development_statistics_are_the_developed_images_and_a_frame_is_developed_again_only_when_its_draws_change(
        monkeypatch):
    """Developer.stats with a memo gives the statistics of the images Developer gives, move after
    move of a search; a move that changes some frames' draws only (blur's range: the frames that
    draw blur) develops those frames only, and the same values twice develop nothing."""
    import dataclasses

    from simgen.config import EffectsConfig, LightingConfig
    from simgen.fit.post_render import Developer, Frames
    from simgen.fit.stats import image_stats

    rng = np.random.default_rng(4)
    n, h, w = 12, 24, 32
    lights = [rng.uniform(0.0, 0.5, (3, h, w, 3)).astype(np.float32) for _ in range(n)]
    meta = [{"index": i, "params": {"lights": [{}]}, "lights": [{"kind": "point"}],
             "world": {"kind": "uniform", "strength": 0.3}, "image": {"total_stops": 0.5}} for i in range(n)]
    frames = Frames([s.sum(axis=0) for s in lights], [np.array([[40.0, 0, 16], [0, 40.0, 12], [0, 0, 1]])] * n,
                    list(range(n)), list(range(n)), meta, lights)
    keys = frozenset({"lighting.point_power", "lighting.world_strength"})
    develop = Developer(EffectsConfig(), (-1.0, 1.0), "agx", seed=3, lighting=LightingConfig(), lit=keys)
    calls = []
    real = Developer._develop
    monkeypatch.setattr(Developer, "_develop", lambda self, frames, f, how, draws: calls.append(f) or real(
        self, frames, f, how, draws))
    base = {"effects.blur_probability": 0.5, "effects.blur": [0.5, 1.0], "effects.noise_probability": 1.0,
            "effects.full_well": [100.0, 200.0], "lighting.point_power": [20.0, 300.0]}
    memo: dict = {}
    moves = [base, {**base, "effects.blur": [0.5, 2.0]}, {**base, "lighting.point_power": [20.0, 30.0]},
             {**base, "camera.exposure": [0.0, 0.5]}, base]
    developed = []
    for values in moves:
        calls.clear()
        got = develop.stats(frames, values, memo)
        want = np.array([image_stats(im) for im in develop(frames, values)])
        assert np.array_equal(got, want)
        developed.append(len(calls) - n)  # develop() itself developed every frame once more
    blurred = sum(1 for f in range(n) if develop._draws(frames, f, develop._how(base))[2]["blur"])
    assert developed[0] == n and 0 < blurred < n
    assert developed[1] == blurred                  # only the frames that draw blur
    assert developed[2] == n and developed[3] == n  # every frame has a point lamp; exposure moves all
    assert developed[4] == 0                        # the base again: all from the memo
    other = dataclasses.replace(develop, seed=4)    # another developer's draws: not taken from this memo
    assert np.array_equal(other.stats(frames, base, memo), [image_stats(im) for im in other(frames, base)])


# ------------------------------------------------------------------ a result that renders


def test_the_final_round_drops_a_finalist_that_cannot_render_and_best_yaml_renders_before_it_is_written(
        tmp_path, monkeypatch):
    import contextlib
    from types import SimpleNamespace

    from simgen.fit import runner
    from simgen.fit.distance import Distance

    entries = space({"scene": {"camera_distance": {"low": 0.3, "high": 4, "log": True}}})
    fit = SimpleNamespace(final=8, frames=2, finalists=2, polish_trials=0, polish=0, polish_searched=0,
                          held_out=0, seed=0, name="drop")
    plan = SimpleNamespace(defaults={"scene.camera_distance": [0.8, 1.5]}, rendered=entries, developed=[], fit=fit,
                           folder=tmp_path, base=["objects.count=[2,3]", "render.samples=4"], entries=entries,
                           held=[], weights={}, timed=lambda phase: contextlib.nullcontext())
    study = optuna.create_study()
    study.set_user_attr("default", {"distance": 0.5})
    for centre, value in ((0.0, 0.1), (0.5, 0.2), (1.0, 0.3)):
        study.add_trial(optuna.trial.create_trial(
            params={"scene.camera_distance.centre": centre, "scene.camera_distance.width": 0.2},
            distributions=entries[0].distributions(), value=value, user_attrs={"develop": {}, "key": f"k{centre}"}))
    final_distance = {"default": 0.4, "k0.0": 0.05, "k0.5": 0.3}

    def rendered(plan, folder, overrides, part="trial"):  # trial 0, the closest, cannot render the round's frames
        if folder.name == "k0.0":
            raise SimgenError("rendering k0.0 failed (exit 2): boom")
        return folder.name

    monkeypatch.setattr(runner, "rendered", rendered)
    monkeypatch.setattr(runner, "measure", lambda plan, r, values: Distance(final_distance[r], {}))
    said: list[str] = []
    runner.final_round(plan, study, said.append)
    final = study.user_attrs["final"]
    assert final["dropped"] == {"0": "rendering k0.0 failed (exit 2): boom"} and set(final["trials"]) == {"1"}
    assert [line for line in said if "dropped" in line] == [
        "simgen fit: trial 0 dropped from the final round, its frames did not all render: rendering k0.0 failed "
        "(exit 2): boom"]
    result = runner.fitted(plan, study)  # the dropped finalist, closest on the trials' frames, is not the result
    assert result.final and result.number == 1 and result.distance == 0.3 and result.round == {1: 0.3}
    said.clear()
    runner.final_round(plan, study, said.append)  # a complete round: nothing rendered again
    assert said == []
    runner.write_outputs(plan, study)
    rows = {r["trial"]: r for r in csv.DictReader((tmp_path / "trials.csv").open())}
    assert rows["0"]["final"] == "dropped" and rows["1"]["final"] == "0.3"

    # best.yaml is rendered before it is written; a trial whose best.yaml does not render is left out for the next
    checked: list[str] = []

    def check_best(plan, text):
        checked.append(text)
        if "# simgen fit drop: trial 1, the closest" in text:
            raise SimgenError("rendering render failed (exit 2): cannot")

    monkeypatch.setattr(runner, "check_best", check_best)
    result = runner.write_best(plan, study, said.append)
    assert len(checked) == 2 and result.number is None and result.values == plan.defaults
    assert said == ["simgen fit: trial 1 left out of the result, its best.yaml did not render: rendering render "
                    "failed (exit 2): cannot"]
    assert (tmp_path / "best.yaml").read_text() == checked[-1] and "default config's settings" in checked[-1]
    # every finalist dropped: the default config's settings, said so
    study.set_user_attr("final", {**final, "trials": {}, "dropped": {"0": "x", "1": "y"}})
    result = runner.fitted(plan, study)
    assert result.best is None and result.values == plan.defaults and "no trial of 3 rendered every frame" in result.what


def test_a_candidate_whose_objects_cannot_be_placed_is_refused_before_it_renders():
    from types import SimpleNamespace

    from simgen.compose.settings import validate
    from simgen.fit.plan import Plan

    from simgen.compose.settings import catalog_for

    settings = validate(Settings())
    plan = Plan(SimpleNamespace(seed=0), Path("."), [], [], {}, None, {}, {}, settings, catalog=catalog_for(settings))
    plan.check_placement({"objects.count": [3, 5]})  # fits: nothing raised
    with pytest.raises(SimgenError, match=r"impossible placement: 40 objects .* in 9 of the 9 scenes drawn first"):
        plan.check_placement({"objects.count": [40, 40], "scene.area_radius": 0.2})
    # the default space has what makes counts and scales fit: the area the objects stand in
    assert "scene.area_radius" in {e.key for e in parse_space(space_tree(FitConfig(target="/x")), Tabletop)}


def test_settings_that_fix_one_image_quantity_are_fitted_in_ratio():
    from simgen.fit.space import untangle

    entries = parse_space(space_tree(FitConfig(target="/x")), Tabletop)
    searched, held = untangle(entries, {})
    keys = {e.key for e in searched}
    # object size in the image: the camera distance is fitted, focal length and object scale held; the lamps' power
    # in ratio to the world light's strength, held
    # the image's colour cast: the lamps' temperature fitted on every lamp (probability 1), the camera's white balance
    # held at the base config's (off); sensor noise: its full well fitted on every frame (probability 1)
    colour_and_noise = {"effects.white_balance_probability": None, "effects.white_balance_temperature": None,
                        "lighting.temperature_probability": 1.0, "effects.noise_probability": 1.0}
    assert {h.key: h.value for h in held} == {"camera.focal_length": None, "scene.object_scale": None,
                                              "lighting.world_strength": None, **colour_and_noise}
    assert {"scene.camera_distance", "scene.area_radius", "lighting.point_power", "lighting.area_power",
            "lighting.temperature", "effects.full_well"} <= keys
    assert not keys & {h.key for h in held}
    why = {h.key: h.why for h in held}
    assert "object size in the image" in why["scene.object_scale"] and "only the ratio; scene.camera_distance fitted" in why[
        "scene.object_scale"]
    assert why["effects.noise_probability"] == "sensor noise: the target determines only the combination; " \
                                               "effects.full_well fitted"
    assert why["effects.white_balance_temperature"].endswith("the combination; lighting.temperature fitted")
    # a known focal length (a calibration fixes it) counts as held: only the object scale is held besides
    pinned = [e for e in entries if e.key != "camera.focal_length"]
    searched, held = untangle(pinned, {})
    assert {h.key for h in held} == {"scene.object_scale", "lighting.world_strength", *colour_and_noise}
    searched, held = untangle(entries, {"camera.focal_length": "camera.calibration=c.yaml fixes it"})
    assert {h.key: h.why for h in held}["camera.focal_length"] == "camera.calibration=c.yaml fixes it"
    assert "scene.object_scale" in {h.key for h in held} and "scene.camera_distance" in {e.key for e in searched}
    # one member of a tie in the space is fitted: it alone fixes the quantity
    only = space({"camera": {"focal_length": [15, 100]}})
    assert untangle(only, {}) == (only, [])
    # without the lamps in the space the colour cast is the white balance's: its temperature fitted on every frame
    balance = space({"effects": {"white_balance_probability": [0, 1], "white_balance_temperature": [3000, 12000]}})
    searched, held = untangle(balance, {})
    assert [e.key for e in searched] == ["effects.white_balance_temperature"]
    assert [(h.key, h.value) for h in held] == [("effects.white_balance_probability", 1.0)]


def test_optunas_experimental_warnings_stay_off_the_terminal(tmp_path):
    import warnings
    from types import SimpleNamespace

    from simgen.fit.runner import open_study

    fit = SimpleNamespace(name="w", overwrite=False, storage=None, seed=0, startup_trials=2)
    plan = SimpleNamespace(storage_url=f"sqlite:///{tmp_path / 'fit.db'}", fingerprint={"fit": 1}, folder=tmp_path,
                           fit=fit)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = open_study(plan)
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        study.tell(trial, 0.5)
        study.ask().suggest_float("x", 0.0, 1.0)
    assert not [w for w in caught if issubclass(w.category, optuna.exceptions.ExperimentalWarning)]


def test_with_labels_a_plan_weighs_them_as_the_image_and_projects_their_scenes(tmp_path):
    """With target_coco the 6 label statistics weigh 11/6 each against the 11 image statistics' 1 unless
    fit.weights says; each part of the fit measures them on fit.label_scenes projected scenes of its own
    (0: none projected, the rendered frames' labels)."""
    from simgen.cli.study import check_dataset
    from simgen.fit.config import load_fit
    from simgen.fit.plan import LABEL_WEIGHT, plan_fit
    from simgen.fit.stats import IMAGE_STATS, LABEL_STATS

    assert LABEL_WEIGHT == len(IMAGE_STATS) / len(LABEL_STATS)
    for k in range(3):
        save(tmp_path / "target" / f"{k}.png", rgb(48, 64, k))
    coco = {"images": [{"id": k, "file_name": f"{k}.png", "width": 64, "height": 48} for k in range(3)],
            "annotations": [{"id": k, "image_id": k, "category_id": 1, "bbox": [10, 10, 20, 15], "area": 300,
                             "iscrowd": 0} for k in range(3)],
            "categories": [{"id": 1, "name": "box"}]}
    (tmp_path / "coco.json").write_text(json.dumps(coco))

    def plan(*more: str):
        return plan_fit(load_fit([f"target={tmp_path / 'target'}", f"target_coco={tmp_path / 'coco.json'}",
                                  "name=labels", f"out={tmp_path / 'fit'}", *more]), [], validate=check_dataset)

    p = plan("label_scenes=12", "weights={size: 3}")
    assert {n: p.weights[n] for n in LABEL_STATS} == {**dict.fromkeys(LABEL_STATS, LABEL_WEIGHT), "size": 3.0}
    assert all(p.weights[n] == 1.0 for n in IMAGE_STATS)
    values = {"scene.camera_distance": [0.6, 0.8], "objects.count": [2, 2]}
    trial, final = p.labels(values, "trial"), p.labels(values, "final")
    assert len(trial["objects"]) == len(final["objects"]) == 12 and set(trial) == set(LABEL_STATS)
    assert not np.array_equal(trial["x"], final["x"])  # other scenes
    assert np.array_equal(p.labels(values, "trial")["x"], trial["x"])  # the same ones again
    assert plan("label_scenes=0").labels(values, "trial") is None


def test_a_plan_renders_cheaply_unless_told_and_says_what_it_holds(tmp_path):
    from simgen.cli.study import check_dataset
    from simgen.fit.config import load_fit
    from simgen.fit.plan import FIT_RENDER, plan_fit

    for k in range(3):
        save(tmp_path / "target" / f"{k}.png", rgb(48, 64, k))
    fit = load_fit([f"target={tmp_path / 'target'}", "name=cheap", f"out={tmp_path / 'fit'}"])
    plan = plan_fit(fit, [], validate=check_dataset)
    assert {f"{k}={v}" for k, v in FIT_RENDER.items()} <= set(plan.base) and "render.samples=8" in plan.base
    assert {"render.width=64", "render.height=48"} <= set(plan.base)
    assert {h.key for h in plan.held} == {"camera.focal_length", "scene.object_scale", "lighting.world_strength",
                                          "effects.white_balance_probability", "effects.white_balance_temperature",
                                          "lighting.temperature_probability", "effects.noise_probability"}
    assert not {h.key for h in plan.held} & {e.key for e in plan.entries}
    # a member held at a value of its own renders with it, and best.yaml says so; the command line's value wins
    assert {"effects.noise_probability=1.0", "lighting.temperature_probability=1.0"} <= set(plan.base)
    from simgen.fit.outputs import Fitted, best_yaml

    text = best_yaml(plan, Fitted(values={}, what="test", best=None, measured={}, final=False))
    assert "# Not fitted, held at 1.0: effects.noise_probability (sensor noise: " in text
    assert "noise_probability: 1.0" in text
    noisy = plan_fit(fit, ["effects.noise_probability=0.25"], validate=check_dataset)
    assert "effects.noise_probability=1.0" not in noisy.base and "effects.noise_probability=0.25" in noisy.base
    assert {h.key: h.value for h in noisy.held}["effects.noise_probability"] is None
    from simgen.fit.report import determined  # the report's column: by the target, or in ratio only

    assert determined(plan, "objects.count") == "by the target"
    assert determined(plan, "scene.camera_distance").startswith("in ratio only: object size in the image, "
                                                               "scene.object_scale x camera.focal_length")
    assert determined(plan, "lighting.point_power").endswith("held: lighting.world_strength")
    told = plan_fit(fit, ["render.samples=64"], validate=check_dataset)
    assert "render.samples=64" in told.base and "render.samples=8" not in told.base
    untied = plan_fit(load_fit([f"target={tmp_path / 'target'}", "name=cheap", f"out={tmp_path / 'fit'}",
                                "tie=false"]), [], validate=check_dataset)
    assert untied.held == [] and {"camera.focal_length", "scene.object_scale"} <= {e.key for e in untied.entries}


@pytest.mark.slow  # a target and a fit of one trial, then two renders: a minute
@pytest.mark.render
def test_the_fit_time_and_render_samples_scripts_print_their_figures(tmp_path):
    bench = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_fit.py"), "--out", str(tmp_path / "bench"),
                            "--trials", "1", "--frames", "1", "--target-frames", "2", "--size", "32x24", "--",
                            "fit.final_frames=0", "fit.prefit_trials=0", "fit.develop_trials=10", "render.samples=1"],
                           capture_output=True, text=True, timeout=900)
    assert bench.returncode == 0, bench.stderr + bench.stdout
    rows = dict(re.findall(r"^\| ([a-z.: ]+) \| (\d+) \|", bench.stdout, re.M))
    assert {"default config", "trials", "best.yaml check", "render: trial", "develop: trial"} <= set(rows), bench.stdout
    assert "1 trials complete (0 skipped)" in bench.stdout and "# simgen fit bench:" in bench.stdout
    samples = subprocess.run([sys.executable, str(ROOT / "scripts" / "fit_render_samples.py"), "--out",
                              str(tmp_path / "samples"), "--frames", "2", "--size", "32x24", "--samples", "4,1"],
                             capture_output=True, text=True, timeout=600)
    assert samples.returncode == 0, samples.stderr + samples.stdout
    table = re.findall(r"^\| (\d+) \| ([\d.]+) \| ([\d.]+) \|", samples.stdout, re.M)
    assert [t[0] for t in table] == ["4", "1"] and float(table[0][2]) == 0.0
    assert "sampling the scenes: the first 1 frames at 4 samples against the other 1:" in samples.stdout


@pytest.mark.slow  # about 30 s: the prefit draws a few hundred room scenes
@pytest.mark.render  # the bundled room is read by Blender once (a child process), then cached
def test_a_fit_searches_an_environment_scene_its_default_space_and_its_prefit():
    """scene=environment: the default space's entries are the environment recipe's own keys too, and
    the prefit moves the projected label statistics of room scenes from the defaults' towards a
    target's made with other settings (a farther camera, fewer objects)."""
    from types import SimpleNamespace

    from simgen.cli.study import check_dataset
    from simgen.fit.config import space_tree
    from simgen.fit.distance import distance, scales
    from simgen.fit.geometry import Projector, prefit, with_values
    from simgen.fit.space import defaults_of
    from simgen.scenes.environment import Config as Environment

    settings = check_dataset(["scene=environment", "render.width=96", "render.height=72", "output.dir=unused"])
    assert {e.key for e in parse_space(space_tree(FitConfig()), Environment)} >= {
        "scene.camera_distance", "scene.camera_elevation", "scene.object_scale", "scene.area_radius"}
    truth = {"scene.camera_distance": [2.0, 2.5], "objects.count": [1, 2]}
    target = Projector(with_values(settings, {"seed": 1000}), range(24)).samples(truth)
    entries = parse_space({"scene": {"camera_distance": {"low": 0.5, "high": 3.0, "log": True}},
                           "objects": {"count": [1, 8]}}, Environment)
    plan = SimpleNamespace(fit=SimpleNamespace(seed=0, frames=8, label_scenes=0), settings=settings, catalog=None,
                           rendered=entries,
                           defaults=defaults_of(entries, settings), target=SimpleNamespace(samples=target),
                           weights={n: 1.0 for n in target}, scale=scales(target))
    found = prefit(plan, 16, 0)
    default = distance(target, Projector(with_values(settings, {"seed": 0}), range(16)).samples(plan.defaults),
                       plan.scale, plan.weights)
    assert found.distance.total < default.total - 0.2, (found.distance.total, default.total, found.values)
    assert found.values["scene.camera_distance"][0] > 1.2 and found.values["objects.count"][1] <= 4, found.values


def test_a_storage_that_cannot_be_opened_is_one_line_with_its_password_hidden(monkeypatch):
    """fit.storage: a server that does not answer, a driver that is not installed (naming the
    extra) and a URL that is none each end in one line; the password never shows."""
    import socket

    from optuna.storages import RDBStorage

    from simgen.fit.runner import opened

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg2://simgen:secret@127.0.0.1:{port}/nothing"
    with pytest.raises(SimgenError, match=r"cannot open the database \(.*refused") as e:
        opened(url, lambda: RDBStorage(url))
    assert "secret" not in str(e.value) and "\n" not in str(e.value) and "simgen:***@" in str(e.value)
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # the postgres extra not installed
    with pytest.raises(SimgenError, match=r"needs the psycopg2 module: pip install -e '\.\[postgres\]'") as e:
        opened(url, lambda: RDBStorage(url))
    assert "secret" not in str(e.value)
    with pytest.raises(SimgenError, match="is no database URL"):
        opened("nonsense", lambda: RDBStorage("nonsense"))
