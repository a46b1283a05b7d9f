"""``simgen inspect``: the HTML report of a rendered dataset, opened in headless Chromium.

The page is screenshotted and its DOM dumped after load: every picture decoded (the page's
own script checks ``img.complete && img.naturalWidth > 0`` and writes the count), the
contact sheet's region of the screenshot holds real pictures, the headings and the
warnings are there, the statistics agree with coco.json, and nothing is loaded from outside
the file. Chromium is Debian's, installed beforehand by scripts/install_chromium.sh (apt-get,
root; .ci/run does it): the test installs nothing; without Chromium it is skipped, and fails
with CI=true.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import require, simgen_cli
from simgen.io.files import read_png, write_png

pytestmark = [pytest.mark.render, pytest.mark.slow]
RUN = ["frames=6", "sequence.length=3", "output.labels=[visibility]", "render.width=96", "render.height=72",
       "render.samples=2", "render.device=cpu", "seed=5"]
WINDOW = (1100, 1500)


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _browser()
    require("headless Chromium (chromium on PATH)", path is not None, "sudo bash scripts/install_chromium.sh")
    return path


def run_chromium(browser: str, html: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
           f"--window-size={WINDOW[0]},{WINDOW[1]}", *args, html.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """6 frames in 2 sequences (flow), visibility; frame 1 made pure white, frame 4 black and
    frame 3 left without annotations, so the report must warn about each."""
    root = tmp_path_factory.mktemp("inspect") / "ds"
    out = simgen_cli(*RUN, f"output.dir={root}", cwd=root.parent)
    assert out.returncode == 0, out.stderr
    rgb = read_png(root / "images/000001.png")
    write_png(root / "images/000001.png", np.full_like(rgb, 255))
    write_png(root / "images/000004.png", np.full_like(rgb, 3))
    # frame 3 without annotations (its objects dropped from meta and coco.json alike)
    meta = json.loads((root / "meta/000003.json").read_text())
    meta["coco"]["annotations"] = []
    (root / "meta/000003.json").write_text(json.dumps(meta))
    coco = json.loads((root / "coco.json").read_text())
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] != meta["coco"]["image"]["id"]]
    (root / "coco.json").write_text(json.dumps(coco))
    return root


class Refs(HTMLParser):
    """Every URL-valued attribute and the text of <h1>/<h2> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.headings: list[str] = []
        self.tags: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href", "srcset", "xlink:href", "poster", "data", "action"):
                self.urls.append(v or "")
        self._in = tag if tag in ("h1", "h2") else None

    def handle_data(self, data):
        if self._in:
            self.headings.append(data.strip())

    def handle_endtag(self, tag):
        self._in = None


def plot_values(page: str, title: str) -> dict[str, str]:
    """label -> value of the plot titled ``title``: its alt text lists every bar."""
    m = re.search(r'<img class="plot"[^>]* alt="' + re.escape(html.escape(title)) + r' \([^)]*\): ([^"]*)"', page)
    assert m, f"no plot {title!r}"
    return dict(item.rsplit(": ", 1) for item in html.unescape(m.group(1)).split("; "))


def test_the_report_renders_in_chromium(dataset, chromium, tmp_path):
    report = tmp_path / "report.html"
    out = simgen_cli("inspect", str(dataset), "--out", str(report), "--frames", "4", "--jobs", "1", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    page = report.read_text()

    # self-contained: no URL but data: URIs, no CSS url()/@import, no external script
    refs = Refs()
    refs.feed(page)
    assert refs.urls and all(u.startswith("data:image/") for u in refs.urls), [u[:40] for u in refs.urls]
    assert not re.search(r"url\(|@import|https?://|//cdn", page)
    assert "<script src" not in page

    dom = run_chromium(chromium, report, "--virtual-time-budget=5000", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout).group(1)
    attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', body))
    # the frames' pictures and the plots (SVG drawn by matplotlib): every one decoded
    plots = page.count('<img class="plot"')
    assert plots >= 7  # categories, objects, box size, aspect, visibility, brightness, clipping
    assert dom.stdout.count('<img class="plot"') == plots
    # 4 frames x (overlay, depth, normals, flow) + the 3D boxes of each frame with objects
    with_objects = page.count("<figcaption>3D boxes and keypoints</figcaption>")
    assert 1 <= with_objects <= 4
    assert attrs["data-images"] == str(16 + with_objects + plots) and attrs["data-broken-images"] == "0", attrs
    assert "<title>images ok: simgen inspect: ds</title>" in dom.stdout
    for h in ("simgen inspect: ds", "Warnings", "Contact sheet", "Statistics"):
        assert h in refs.headings

    # the page's check can fail: a picture that does not decode is counted
    broken = tmp_path / "broken.html"
    broken.write_text(page.replace('src="data:image/jpeg;base64,', 'src="data:image/jpeg;base64,AAAA', 1))
    dom = run_chromium(chromium, broken, "--virtual-time-budget=5000", "--dump-dom")
    assert 'data-broken-images="1"' in dom.stdout and "<title>BROKEN IMAGES: " in dom.stdout

    shot = tmp_path / "shot.png"
    run = run_chromium(chromium, report, f"--screenshot={shot}")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    img = cv2.imread(str(shot))
    assert img.shape[:2] == (WINDOW[1], WINDOW[0])
    assert img.std() > 20  # not a blank page
    x, y, w, h = (int(v) for v in attrs["data-sheet-rect"].split(","))
    assert w > 600 and h > 200
    sheet = img[y:min(y + h, img.shape[0]), x:x + w]
    assert sheet.shape[0] > 200
    colours = np.unique(sheet.reshape(-1, 3), axis=0)
    assert len(colours) > 2000, len(colours)  # pictures, not text on white
    # the depth picture of the first row: TURBO colours, i.e. strongly saturated pixels
    hsv = cv2.cvtColor(sheet, cv2.COLOR_BGR2HSV)
    assert np.count_nonzero(hsv[..., 1] > 150) > 0.05 * hsv[..., 1].size


def test_the_statistics_and_warnings_are_the_datasets(dataset, tmp_path):
    """Counts against coco.json read independently; the white and the black frame, and the
    categories that never appear, are warned about; frames sampled evenly, first and last."""
    report = tmp_path / "r.html"
    out = simgen_cli("inspect", str(dataset), "--out", str(report), "--frames", "3", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    page = report.read_text()
    coco = json.loads((dataset / "coco.json").read_text())
    per_cat = {c["name"]: sum(a["category_id"] == c["id"] for a in coco["annotations"]) for c in coco["categories"]}
    assert plot_values(page, "Annotations per category") == {name: str(n) for name, n in per_cat.items()}
    never = [name for name, n in per_cat.items() if n == 0]
    assert never, "the fixture should leave some category out"
    assert f"categories never visible</b> ({len(never)}): {', '.join(never)}" in page
    warnings = page[page.index('id="warnings"'):page.index("Contact sheet")]
    assert re.search(r"clipped to white</b>: \d+ of 6 &mdash; frames [^<]*\b1 \(100\.0 %\)", warnings), warnings
    per_image = {}
    for a in coco["annotations"]:
        per_image[a["image_id"]] = per_image.get(a["image_id"], 0) + 1
    objects = [per_image.get(img["id"], 0) for img in coco["images"]]
    per_frame = plot_values(page, "Objects per frame")  # the objects-per-frame bars, 0 .. the most
    assert per_frame == {str(n): str(objects.count(n)) for n in range(max(objects) + 1)}
    assert "frames without annotations</b>: 1 of 6 &mdash; frames 3<" in warnings, warnings
    assert re.search(r"nearly black frames[^<]*</b>: 1 of 6 &mdash; frames 4 \(mean 3\.0\)", warnings), warnings
    assert re.findall(r'data-frame="(\d+)"', page) == ["0", "2", "5"] or \
        re.findall(r'data-frame="(\d+)"', page) == ["0", "3", "5"]
    assert f"<tr><td>annotations</td><td>{len(coco['annotations'])} " in page
    vis = [a["visibility"] for a in coco["annotations"] if "visibility" in a] or \
        [v["visibility"] for a in coco["annotations"] for v in a.values() if isinstance(v, dict) and "visibility" in v]
    assert vis and sum(int(v) for v in plot_values(page, "Visibility").values()) == len(vis)


def test_without_matplotlib_the_report_says_so(dataset, tmp_path, no_matplotlib, caplog):
    """An install without the `report` extra: one warning, a line in place of the plots, the rest
    of the report as usual."""
    import logging

    from simgen.report import mpl, svg
    from simgen.report.inspect import inspect

    with caplog.at_level(logging.WARNING):
        path, stats = inspect(dataset, tmp_path / "r.html", frames=2, jobs=1)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [mpl.MISSING]
    page = path.read_text()
    assert svg.NO_PLOTS in page and '<img class="plot"' not in page
    assert page.count("<figure>") >= 2 * 4 and "frames without annotations" in page and stats.frames == 6


def _tiles(page: str) -> dict[tuple[int, str], np.ndarray]:
    """(frame, caption) -> the contact sheet's picture, decoded (RGB)."""
    import base64

    tiles = {}
    for uri, index, label in re.findall(r'<img src="data:image/jpeg;base64,([^"]+)" alt="frame (\d+) ([^"]*)"', page):
        bgr = cv2.imdecode(np.frombuffer(base64.b64decode(uri), np.uint8), cv2.IMREAD_COLOR)
        tiles[(int(index), html.unescape(label))] = bgr[..., ::-1]
    return tiles


def test_a_dataset_with_parts_shows_each_link_in_the_contact_sheet(dataset, tmp_path):
    """output.labels=[parts] with the bundled arm as a catalog's object: each frame's row has a
    parts picture whose pixels follow parts/ (each part id's pixels in its own colour, so the links
    of one arm differ), captioned with the links the frame shows in part-id order as the meta names
    them; a dataset without the parts label has no such picture."""
    from simgen.labels.preview import id_colors
    from simgen.paths import ASSET_DIR
    from simgen.report.inspect import TILE_WIDTH, inspect

    (tmp_path / "robots").mkdir()
    shutil.copy(ASSET_DIR / "robots" / "arm.urdf", tmp_path / "robots" / "arm.urdf")
    (tmp_path / "robots" / "robots.yaml").write_text(
        "categories: [robot]\nassets:\n  - {mesh: arm.urdf, category: robot, scale: 0.6}\n")
    root = tmp_path / "ds"
    out = simgen_cli("objects.catalog=robots/robots.yaml", "objects.count=[1,2]", "output.labels=[parts]", "frames=2",
                     "render.width=96", "render.height=72", "render.samples=1", "seed=1", f"output.dir={root}",
                     cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    page = inspect(root, tmp_path / "r.html", frames=2, jobs=1)[0].read_text()
    tiles = _tiles(page)
    links_seen = 0
    for index in (0, 1):
        parts = read_png(root / f"parts/{index:06d}.png")
        meta = json.loads((root / f"meta/{index:06d}.json").read_text())
        links = {int(p["id"]): p["link"] for o in meta["objects"] for p in o.get("parts", ())}
        present = [pid for pid in sorted(links) if np.count_nonzero(parts == pid)]
        caption = "parts: " + ", ".join(links[pid] for pid in present)
        assert (index, caption) in tiles, (caption, [k for k in tiles if k[0] == index])
        picture = tiles[(index, caption)]
        scale = max(1, TILE_WIDTH // parts.shape[1])
        assert picture.shape[:2] == (parts.shape[0] * scale, parts.shape[1] * scale)
        centres = picture[scale // 2::scale, scale // 2::scale].astype(int)  # one pixel per label pixel
        ids, counts = np.unique(parts, return_counts=True)
        colours = dict(zip(ids.tolist(), id_colors(ids).astype(int)))
        far = np.abs(centres - np.stack([colours[i] for i in parts.ravel().tolist()]).reshape(centres.shape)).max(-1)
        assert np.mean(far <= 40) > 0.85, np.mean(far <= 40)  # all but the names written on it and JPEG's edges
        medians = {}
        for pid, n in zip(ids.tolist(), counts.tolist()):
            if n >= 12:
                medians[pid] = np.median(centres[parts == pid], axis=0)
                assert np.abs(medians[pid] - colours[pid]).max() <= 30, (pid, medians[pid], colours[pid])
        owners = {int(p["id"]): int(o["instance_id"]) for o in meta["objects"] for p in o.get("parts", ())}
        # a link whose colour is far from its arm's instance colour shows the parts label, not the instance's
        links_seen += sum(1 for pid in medians if pid in links
                          and np.abs(colours[pid] - id_colors([owners[pid]])[0].astype(int)).max() > 60)
    assert links_seen >= 4
    plain = inspect(dataset, tmp_path / "plain.html", frames=2, jobs=1)[0].read_text()
    assert not (dataset / "parts").exists() and not any(label.startswith("parts") for _, label in _tiles(plain))
