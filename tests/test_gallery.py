"""The gallery (docs/gallery.md, written by scripts/make_gallery.py with its pictures in
docs/img/gallery/): an entry for every registered scene recipe and every option of each config
group of several options (but the experiment presets), backgrounds, meshes' own look and the extra labels, the committed page what the script writes, its pictures small; the script
itself, run at a tiny size into a temporary folder (slow), renders every entry. And the diagrams
of scripts/make_diagrams.py are current.

- test_the_gallery_has_an_entry_for_every_recipe_and_option (fast): the script's entries against
  the registry (simgen.recipes.RECIPES) and the option files of configs/: a new recipe or option
  gets an entry.
- test_the_committed_page_is_what_the_script_writes (fast): docs/gallery.md is the script's page,
  so a recipe or option without a picture and its command there fails ("run python
  scripts/make_gallery.py"); every entry's picture is there, no other, each small.
- test_the_script_renders_every_entry_at_a_tiny_size (slow): the page and a picture for every
  entry, each its columns side by side; the calibrated lens's command (which the docs blocks'
  test cannot run at its own size) among them.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_gallery.py"
PAGE = ROOT / "docs" / "gallery.md"
PICTURES = ROOT / "docs" / "img" / "gallery"
ENTRY = re.compile(r"^### .+ \{#([\w-]+)\}$", re.M)
"""An entry's heading on the page, its anchor the entry's name."""
MAX_PICTURE = 64 * 1024
MAX_TOTAL = 1536 * 1024


def script(path: Path):
    """A script of scripts/ as a module (in sys.modules while it runs: its dataclasses need that)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[path.stem]
    return module


def gallery():
    return script(SCRIPT)


@pytest.fixture(scope="module")
def g():
    return gallery()


def test_the_gallery_has_an_entry_for_every_recipe_and_option(g):
    from simgen.compose.store import registered
    from simgen.recipes import RECIPES

    names = [e.name for e in g.entries()]
    assert len(names) == len(set(names))
    from simgen.compose.store import options

    several = {group for group, opts in options().items() if len(opts) > 1 and group != "experiment"}
    assert several <= set(g.GROUPS), f"groups of several options without gallery entries: {several - set(g.GROUPS)}"
    wanted = {f"scene-{r}" for r in RECIPES.names()}
    for group in g.GROUPS[1:]:
        wanted |= {f"{group}-{f.stem}" for f in (ROOT / "configs" / group).glob("*.yaml")}
        wanted |= {f"{group}-{opt}" for opt in ("random", "plain", "default", "bundled")
                   if registered(group, opt) is not None}  # the group's default: its dataclass
    assert wanted <= set(names), f"no gallery entry for {sorted(wanted - set(names))}"
    assert {"lens-fisheye", "stereo", "views", "flying-sequence", "robot-cell", "background-walls", "background-room",
            "own-look", "labels-amodal", "labels-keypoints"} <= set(names)
    assert {"scene-tabletop", "scene-flying", "lighting-random", "materials-plain"} <= wanted


def test_the_committed_page_is_what_the_script_writes(g):
    page = PAGE.read_text()
    assert page == g.page(), "docs/gallery.md is stale: run python scripts/make_gallery.py"
    listed = ENTRY.findall(page)
    assert listed == [e.name for e in g.entries()]
    assert "generated" in page.split("\n## ")[0] and "python scripts/make_gallery.py" in page.split("\n## ")[0]
    pictures = sorted(PICTURES.glob("*.png"))
    assert sorted(p.stem for p in pictures) == sorted(listed), \
        "docs/img/gallery/ holds a picture for each entry and no other: run python scripts/make_gallery.py"
    sizes = {p.name: p.stat().st_size for p in pictures}
    assert max(sizes.values()) <= MAX_PICTURE, sizes
    assert sum(sizes.values()) <= MAX_TOTAL, sum(sizes.values())
    for name in listed:  # each entry shows its picture and the command that made it
        assert f"](img/gallery/{name}.png)" in page and f"output.dir={g.PLACE}/{name}" in page


def test_an_unknown_entry_is_one_line_naming_the_entries(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--only", "scene-nowhere"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no entry scene-nowhere" in done.stderr and "scene-tabletop" in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.render
def test_the_script_renders_every_entry_at_a_tiny_size(g, tmp_path):
    from PIL import Image

    w, h = 64, 48
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--size", f"{w}x{h}",
                           "--samples", "1"], capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    page = (tmp_path / "gallery.md").read_text()
    assert page == g.page((w, h), 1)
    assert ENTRY.findall(page) == [e.name for e in g.entries()]
    assert "render.width=64 render.height=48 render.samples=1" in page
    for e in g.entries():
        picture = Image.open(tmp_path / "img" / "gallery" / f"{e.name}.png")
        assert picture.size == (len(e.columns) * (w + 2) - 2, h), e.name
        columns = [picture.convert("RGB").crop((k * (w + 2), 0, k * (w + 2) + w, h)) for k in range(len(e.columns))]
        assert all(c.getextrema() != ((0, 0), (0, 0), (0, 0)) for c in columns), f"{e.name}: a black column"


def test_the_diagrams_are_what_their_script_draws():
    """docs/img/frame_flow.svg and shards.svg are scripts/make_diagrams.py's, well-formed SVG, each
    shown by a page."""
    import xml.etree.ElementTree as ET

    diagrams = script(ROOT / "scripts" / "make_diagrams.py")
    docs = "\n".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    for name, draw in diagrams.DIAGRAMS.items():
        svg = (ROOT / "docs" / "img" / name).read_text()
        assert svg == draw(), f"docs/img/{name} is stale: run python scripts/make_diagrams.py"
        assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"
        assert f"../img/{name})" in docs, f"no page shows docs/img/{name}"
