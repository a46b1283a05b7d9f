"""``simgen inspect`` on a dataset with people (issue 77, the diversity proof): the spread of their shape
parameters (age in years, height in metres, gender, weight, muscle, proportions), the poses and skin tones
drawn, as tables and plots; each person counted once a sequence (at its first step)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from simgen.report import mpl
from simgen.report.inspect import PEOPLE_SHAPE, Stats, _people_html, people_summary, people_table


def _meta(step: int, people: list[tuple[int, dict, str, int]]) -> dict:
    """A frame meta with one object a person: (instance id, person record's shape, pose name, skin tone)."""
    objects = [{"instance_id": 1, "category_id": 0}]
    records = []
    for iid, shape, pose, tone in people:
        phen = {k: shape[k] for k in ("gender", "weight", "muscle", "proportions")}
        objects.append({"instance_id": iid, "category_id": 2, "person": {
            "phenotype": {**phen, "age": 0.7, "height": 0.5}, "age_years": shape["age_years"],
            "height_m": shape["height_m"]}})
        records.append({"placed": True, "instance_id": iid, "pose": {"name": pose}, "look": {"skin": {"tone": tone}}})
    records.append({"placed": False, "pose": {"name": "sit"}})  # left out: no object, not counted
    return {"step": step, "objects": objects, "params": {"people": records}}


def _person(rng: np.random.Generator) -> dict:
    return {"age_years": float(rng.uniform(3, 80)), "height_m": float(rng.uniform(0.9, 2.0)),
            "gender": float(rng.uniform()), "weight": float(rng.uniform()), "muscle": float(rng.uniform()),
            "proportions": float(rng.uniform())}


def test_the_people_table_is_the_spread_of_their_shape_and_poses():
    rng = np.random.default_rng(0)
    drawn, stats = [], Stats()
    for frame in range(12):
        step = frame % 3  # sequences of 3 steps: people counted at step 0 only
        people = [(2 + k, _person(rng), ("wave", "stand", "T")[k % 3], 1 + (frame + k) % 10) for k in range(2)]
        if step == 0:
            drawn += people
        summary = {"index": frame, "cats": [], "boxes": [], "vis": [], "luma": 100.0, "white": 0.0}
        if step == 0:
            summary["people"] = people_summary(_meta(step, people))
        stats.add(summary)
    assert stats.people == len(drawn) == 8
    rows = {name: rest for name, *rest in people_table(stats)}
    for key, (name, edges) in PEOPLE_SHAPE.items():
        values = np.array([p[1][key] for p in drawn])
        n, lo, mean, sd, hi = rows[name]
        assert n == 8 and lo == values.min() and hi == values.max()
        assert mean == pytest.approx(values.mean()) and sd == pytest.approx(values.std())
        assert sum(stats.people_shape[key]) == 8
        counts, _ = np.histogram(np.clip(values, edges[0], edges[-1] - 1e-9), edges)
        assert stats.people_shape[key] == counts.tolist()
    assert stats.poses == {"wave": 4, "stand": 4}
    assert sum(stats.skins.values()) == 8
    page = "\n".join(_people_html(stats))
    assert 'id="people-shape"' in page and 'id="people-poses"' in page and 'id="people-skins"' in page
    assert "<td>wave</td><td>4</td>" in page and "<td>age (years)</td><td>8</td>" in page
    assert _people_html(Stats()) == []  # no people: no section


def test_people_summary_reads_each_person_of_a_frame():
    shape = {"age_years": 30.0, "height_m": 1.7, "gender": 1.0, "weight": 0.4, "muscle": 0.6, "proportions": 0.5}
    (got,) = people_summary(_meta(0, [(5, shape, "hands_on_hips", 7)]))
    assert got == {"shape": shape, "pose": "hands_on_hips", "skin": "7"}
    assert people_summary({"objects": [{"instance_id": 1}]}) == []


@pytest.mark.render
@pytest.mark.slow  # a 3-frame render with people: ~30 s on 2 cores
def test_simgen_inspect_shows_the_people_of_a_rendered_dataset(tmp_path, library):
    from conftest import simgen_cli

    out = tmp_path / "ds"
    r = simgen_cli("objects.people=[1,2]", "scene.camera_distance=[2.5,4]", "objects.count=[1,1]", "frames=3",
                   "seed=4", "render.width=64", "render.height=48", "render.samples=1", f"output.dir={out}",
                   cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    r = simgen_cli("inspect", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    page = (out / "inspect.html").read_text()
    metas = [json.loads(p.read_text()) for p in sorted((out / "meta").glob("*.json"))]
    people = [o["person"] for m in metas for o in m["objects"] if "person" in o]
    assert len(people) >= 3
    assert f'<p id="people-count">{len(people)} people' in page
    ages = np.array([p["age_years"] for p in people])
    heights = np.array([p["height_m"] for p in people])
    table = page[page.index('id="people-shape"'):]
    for name, values in (("age (years)", ages), ("height (m)", heights)):
        row = re.search(rf"<td>{re.escape(name)}</td><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>"
                        rf"<td>([^<]+)</td>", table)
        assert row is not None and int(row.group(1)) == len(people)
        assert float(row.group(2)) == pytest.approx(values.min(), rel=1e-2)
        assert float(row.group(3)) == pytest.approx(values.mean(), rel=1e-2)
        assert float(row.group(5)) == pytest.approx(values.max(), rel=1e-2)
    assert 0.8 < heights.min() and heights.max() < 2.2 and 2.5 < ages.min() and ages.max() < 81
    if mpl.available():
        assert 'id="people-plots"' in page and "People: age (years)" in page


@pytest.mark.render
@pytest.mark.slow  # four people rendered by the script: ~45 s on 2 cores
def test_the_people_sheet_script_draws_each_person_with_its_age_and_height(tmp_path, people_library):
    """scripts/people_sheet.py on 4 people: a 2x2 sheet of 96x128 tiles with a caption strip under each,
    each tile a person on the floor (the middle of the tile differs from its sky), each caption the
    person's drawn age and height as the script's own lines print them, the PNG well under 1 MB."""
    import os
    import subprocess
    import sys

    from PIL import Image

    from simgen.people.model import LIBRARY_ENV

    out = tmp_path / "sheet.png"
    env = {**os.environ, LIBRARY_ENV: str(people_library)}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[1] / "scripts" / "people_sheet.py"), "--count", "4", "--columns", "2",
                           "--samples", "2", "--out", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = re.findall(r"^\s*(\d+):\s+([\d.]+) years ([\d.]+) m gender ([\d.]+) pose (\S+) skin tone (\S+)$",
                       done.stdout, re.M)
    assert [int(x[0]) for x in lines] == [0, 1, 2, 3]
    for _, age, height, gender, pose, tone in lines:
        assert 3.0 <= float(age) <= 80.0 and 0.8 < float(height) < 2.2 and 0.0 <= float(gender) <= 1.0
        assert pose != "?" and 1 <= int(tone) <= 10
    assert out.stat().st_size < 1 << 20
    sheet = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert sheet.shape == (2 * (128 + 14), 2 * 96, 3)
    for k in range(4):
        x, y = (k % 2) * 96, (k // 2) * (128 + 14)
        tile = sheet[y:y + 128, x:x + 96]
        sky = tile[:8].reshape(-1, 3).mean(axis=0)
        body = tile[40:100, 38:58].reshape(-1, 3)
        assert (np.abs(body - sky).sum(axis=1) > 30).mean() > 0.5, f"no person in tile {k}"
        strip = sheet[y + 128:y + 142, x:x + 96]
        assert (strip < 128).any()  # its caption is written
