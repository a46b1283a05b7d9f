"""simgen compare: distances with known answers on hand-made COCO datasets, and a run on a
tiny rendered simgen dataset against itself and against a COCO copy of it."""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

from simgen import SimgenError
from simgen.report import mpl, svg
from simgen.report.compare import compare, js_distance, wasserstein1

from conftest import simgen_cli, tiny_settings


def make_coco(root: Path, *, n: int = 6, seed: int = 0, gain: float = 1.0, tint: bool = False,
              box: tuple[float, float] | None = None, names: tuple[str, ...] = ("cube", "ball"),
              vis: float | None = None) -> Path:
    """A tiny COCO dataset: ``n`` 64x48 noise-and-gradient images (brightness times ``gain``;
    with ``tint`` red +30 and green -30*0.299/0.587: other colours, the same Rec. 601 luma),
    two boxes each (size ``box`` = (w, h), else varied)."""
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True)
    images, anns = [], []
    for i in range(n):
        base = np.linspace(30, 140, 64)[None, :, None] + rng.uniform(0, 60, (48, 64, 3))
        base[..., 0] *= 0.6                                  # BGR order: blue lower
        if tint:
            base[..., 2] += 30.0
            base[..., 1] -= 30.0 * 0.299 / 0.587
        bgr = np.clip(np.round(base * gain), 0, 255).astype(np.uint8)
        cv2.imwrite(str(root / "img" / f"{i}.png"), bgr)
        images.append({"id": i + 1, "file_name": f"{i}.png", "width": 64, "height": 48})
        for k in range(2):
            w, h = box if box else (6 + 5 * ((i + k) % 4), 5 + 4 * ((i * k) % 3))
            a = {"id": len(anns) + 1, "image_id": i + 1, "category_id": k + 1, "bbox": [10 + k * 20, 8, w, h],
                 "area": w * h, "iscrowd": 0, "segmentation": []}
            if vis is not None:
                a["simgen"] = {"visibility": vis}
            anns.append(a)
    cats = [{"id": k + 1, "name": nm} for k, nm in enumerate(names)]
    path = root / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def rows_of(tmp: Path, a: Path, b: Path, **kw) -> dict[str, float]:
    _, jpath, _ = compare(a, b, tmp / "cmp.html", frames=kw.pop("frames", 10),
                          images_a=a.parent / "img", images_b=b.parent / "img", **kw)
    doc = json.loads(jpath.read_text())
    return {s["name"]: s["js"] for s in doc["statistics"]}


def check_plots(page: str, rows: int) -> None:
    """The page's plots: ``rows`` <img> elements, each an SVG document inline as a data: URI that
    refers to nothing outside itself, and nothing else with a URL."""
    srcs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert len(srcs) == page.count('<img class="plot"') == rows, len(srcs)
    prefix = "data:image/svg+xml;base64,"
    for src in srcs:
        assert src.startswith(prefix)
        root = ET.fromstring(base64.b64decode(src[len(prefix):]))
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        for el in root.iter():
            for k, v in el.attrib.items():
                assert not k.endswith("href") or v.startswith("#"), (k, v)


NUMBERS_ONLY = pytest.mark.usefixtures("no_matplotlib")
"""For a test of the numbers alone (distances, notes): compare() without matplotlib, as in an
install without the `report` extra. The numbers do not depend on the plots, which took nearly all of
a compare() (13 matplotlib figures, about 0.3 s each on 2 cores); the plots are checked by
test_the_page_plots_each_statistic_of_both_sides and test_rendered_vs_itself_and_its_coco_copy."""


def test_distances_by_hand():
    p, q = np.array([1.0, 0, 0, 0]), np.array([0, 0, 0, 1.0])
    assert js_distance(p, p) == 0.0
    assert js_distance(p, q) == pytest.approx(1.0)
    # JS divergence of (1,0) vs (.5,.5): 0.5*KL(p|m) + 0.5*KL(q|m), m = (.75,.25)
    div = 0.5 * math.log2(1 / 0.75) + 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25))
    assert js_distance(np.array([1.0, 0]), np.array([0.5, 0.5])) == pytest.approx(math.sqrt(div))
    edges = np.arange(5.0)                                  # bin centres 0.5 .. 3.5
    assert wasserstein1(edges, p, q) == pytest.approx(3.0)  # all mass moved 3 bins
    assert wasserstein1(edges, p, p) == 0.0


@NUMBERS_ONLY
def test_identical_datasets_distance_zero(tmp_path):
    a = make_coco(tmp_path / "a", vis=0.7)
    b = make_coco(tmp_path / "b", vis=0.7)
    d = rows_of(tmp_path, a, b)
    expected = {"colour red", "colour green", "colour blue", "brightness", "power spectrum", "edge density",
                "categories", "box size", "box centre", "aspect ratio", "objects per image", "visibility"}
    assert set(d) == expected
    assert all(v == 0.0 for v in d.values()), d


@NUMBERS_ONLY
def test_brightness_beats_colour_neutral_change(tmp_path):
    a = make_coco(tmp_path / "a")
    brighter = make_coco(tmp_path / "bright", gain=1.6)
    tinted = make_coco(tmp_path / "tint", tint=True)       # other colours, the same luma
    db = rows_of(tmp_path, a, brighter)
    ds = rows_of(tmp_path, a, tinted)
    assert db["brightness"] > 0.3
    assert ds["brightness"] < 0.1 < db["brightness"] - ds["brightness"]
    assert ds["colour red"] > 0.3 and ds["colour blue"] == 0.0     # the tint is seen per channel
    assert db["categories"] == 0.0 and db["box size"] == 0.0        # labels untouched


@NUMBERS_ONLY
def test_big_vs_small_boxes_and_category_mismatch(tmp_path, capsys):
    small = make_coco(tmp_path / "small", box=(4, 4))
    big = make_coco(tmp_path / "big", box=(50, 40), names=("cube", "cone"))
    _, jpath, rows = compare(small, big, tmp_path / "r.html", frames=2, images_a=small.parent / "img",
                             images_b=big.parent / "img")
    d = {r.name: r for r in rows}
    assert d["box size"].distance == pytest.approx(1.0)           # disjoint bins: the maximum
    # sqrt(area) / diagonal: 4/80 vs sqrt(2000)/80, W1 between the bin centres
    assert d["box size"].w1 == pytest.approx(math.sqrt(2000) / 80 - 4 / 80, abs=0.04)
    assert d["categories"].distance == pytest.approx(math.sqrt(0.5))  # half the mass on a category of its own
    assert "only in A: ball" in d["categories"].note and "only in B: cone" in d["categories"].note
    assert rows[0].distance >= rows[-1].distance or math.isnan(rows[-1].distance)
    assert [r.name for r in rows][:1] in (["box size"], ["aspect ratio"], ["box centre"])  # sorted, largest first
    assert d["visibility"].note.startswith("not on both sides")


def test_bad_input(tmp_path):
    with pytest.raises(SimgenError, match="no such file or folder"):
        compare(tmp_path / "nope.json", tmp_path / "nope.json", tmp_path / "r.html")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(SimgenError, match="not a COCO json file"):
        compare(tmp_path / "x.json", tmp_path / "x.json", tmp_path / "r.html")
    a = make_coco(tmp_path / "a")
    with pytest.raises(SimgenError, match="unreadable"):
        compare(a, a, tmp_path / "r.html")                       # images in img/, not beside the json


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from simgen.pipeline import run

    root = tmp_path_factory.mktemp("cmp_tiny")
    run(tiny_settings(root, frames=3, width=64, height=48, samples=2))
    return root


@pytest.mark.slow  # over 10 s on 2 cores
def test_rendered_vs_itself_and_its_coco_copy(tiny, tmp_path):
    out = tmp_path / "self.html"
    res = simgen_cli("compare", str(tiny), str(tiny), "--out", str(out), "--frames", "3", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "categories" in res.stdout and "brightness" in res.stdout
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["a"]["images"] == 3 and doc["a"]["sampled"] == 3 and doc["a"]["annotations"] > 0
    assert all(s["js"] in (0.0, None) for s in doc["statistics"]), doc
    page = out.read_text()
    assert "http://" not in page and "https://" not in page and "<link" not in page
    check_plots(page, rows=12)   # 6 image statistics, categories, box size, box centre x and y, aspect, objects

    # the same dataset as plain COCO: coco.json with file_name relative to the dataset folder
    coco = json.loads((tiny / "coco.json").read_text())
    copy = tmp_path / "copy"
    shutil.copytree(tiny / "images", copy / "pics")
    for im in coco["images"]:
        im["file_name"] = Path(im["file_name"]).name
    (copy / "coco.json").write_text(json.dumps(coco))
    res = simgen_cli("compare", str(tiny), str(copy / "coco.json"), "--images-b", str(copy / "pics"),
                     "--out", str(tmp_path / "coco.html"), "--frames", "3", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / "coco.json").read_text())
    assert doc["b"]["kind"] == "coco" and doc["b"]["annotations"] == doc["a"]["annotations"]
    assert all(s["js"] in (0.0, None) for s in doc["statistics"]), doc

    # the dataset's own coco.json, its file_name (images/NNNNNN.png) relative to the json's folder
    _, jpath, rows = compare(tiny, tiny / "coco.json", tmp_path / "own.html", frames=3)
    assert all(r.distance == 0.0 or math.isnan(r.distance) for r in rows)
    assert json.loads(jpath.read_text())["b"]["sampled"] == 3


def test_cli_bad_input_one_line(tmp_path):
    res = simgen_cli("compare", str(tmp_path / "missing"), str(tmp_path / "missing"), cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().startswith("simgen: error:") and len(res.stderr.strip().splitlines()) == 1


@NUMBERS_ONLY
def test_visibility_under_the_simgen_key(tmp_path):
    a = make_coco(tmp_path / "a", vis=0.22)
    b = make_coco(tmp_path / "b", vis=0.92)
    _, _, rows = compare(a, b, tmp_path / "r.html", frames=0, images_a=a.parent / "img", images_b=b.parent / "img")
    d = {r.name: r for r in rows}
    assert d["visibility"].distance == pytest.approx(1.0)
    assert d["visibility"].w1 == pytest.approx(0.7, abs=0.05)    # bin centres 0.225 and 0.925
    assert "brightness" not in d                                 # --frames 0: no image statistics
    assert rows[0].name == "visibility"


@NUMBERS_ONLY
def test_no_annotations_on_one_side(tmp_path):
    a = make_coco(tmp_path / "a")
    b = make_coco(tmp_path / "b")
    doc = json.loads(b.read_text())
    doc["annotations"] = []
    b.write_text(json.dumps(doc))
    _, _, rows = compare(a, b, tmp_path / "r.html", frames=2, images_a=a.parent / "img", images_b=b.parent / "img")
    d = {r.name: r for r in rows}
    assert d["categories and boxes"].note == "no annotations in B" and math.isnan(d["categories and boxes"].distance)
    assert d["objects per image"].distance == pytest.approx(1.0)  # two per image vs none


def test_the_page_plots_each_statistic_of_both_sides(tmp_path):
    a = make_coco(tmp_path / "a", vis=0.7)
    b = make_coco(tmp_path / "b", gain=1.6, vis=0.7)
    path, _, rows = compare(a, b, tmp_path / "r.html", frames=3, images_a=a.parent / "img", images_b=b.parent / "img")
    page = path.read_text()
    check_plots(page, rows=13)                          # the 12 above and visibility
    alts = re.findall(r'<img class="plot"[^>]* alt="([^"]*)"', page)
    for r in rows:
        names = [r.name] if r.name != "box centre" else ["box centre x", "box centre y"]
        for name in names:
            title = "power spectrum (radial average)" if name == "power spectrum" else \
                "categories (matched by name)" if name == "categories" else name
            assert sum(alt.startswith(f"{title} (") and "A / B" in alt for alt in alts) == 1, name
    # the plots come in the order of the table: largest distance first
    assert alts[0].startswith(rows[0].name)


def test_without_matplotlib_the_page_says_so_and_the_numbers_stay(tmp_path, no_matplotlib, caplog):
    a = make_coco(tmp_path / "a")
    b = make_coco(tmp_path / "b", gain=1.6)
    with caplog.at_level(logging.WARNING):
        path, jpath, rows = compare(a, b, tmp_path / "r.html", frames=3, images_a=a.parent / "img",
                                    images_b=b.parent / "img")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [mpl.MISSING]
    page = path.read_text()
    assert svg.NO_PLOTS in page and "<img" not in page and "pip install -e &#x27;.[report]&#x27;" not in page
    assert "pip install -e '.[report]'" in page
    assert {s["name"] for s in json.loads(jpath.read_text())["statistics"]} == {r.name for r in rows}
    assert {r.name: r.distance for r in rows}["brightness"] > 0.3
