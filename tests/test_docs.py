"""The configuration reference is generated from the schema and must be current; the README's
commands are the CI's, and the benchmark commands the docs show run; the README stays a front
door, every page of docs/ is in the site's nav, and the site builds with `mkdocs build --strict`."""

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250


def docs_text() -> str:
    """The README and every page of docs/, one after another: what the docs say, wherever it is."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return "\n".join(p.read_text() for p in pages)


def nav_pages(nav) -> list[str]:
    """The Markdown files that mkdocs.yml's nav names, in order."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for entry in nav for page in nav_pages(entry)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in nav_pages(value)]
    raise AssertionError(f"unexpected nav entry {nav!r}")


def test_config_reference_is_current():
    spec = importlib.util.spec_from_file_location("gen_config_docs", ROOT / "scripts" / "gen_config_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert (ROOT / "docs" / "config.md").read_text() == gen.render(), \
        "docs/config.md is stale: run python scripts/gen_config_docs.py"


def test_readme_commands_are_the_ci_commands():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = "python3.11 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest"
    assert test_cmd in readme and ci.rstrip().endswith(test_cmd)
    assert "python3.11 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/simgen" in readme


@pytest.mark.slow
def test_the_documented_benchmark_commands_run():
    """Each scripts/bench.py command the docs show (docs/explanation/performance.md), as written but
    on 3 tiny frames (argparse takes the last of a repeated option): it renders both passes and
    prints its figure."""
    commands = re.findall(r"^\.venv/bin/python scripts/bench\.py(.*?)(?:#.*)?$", docs_text(), re.M)
    assert len(commands) >= 4
    for args in commands:
        tiny = ["--frames", "3", "--warmup", "1", "--width", "64", "--height", "48", "--samples", "1"]
        r = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), *shlex.split(args), *tiny],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0 and re.search(r"^overhead_ratio=\d", r.stdout, re.M), (args, r.stdout[-500:], r.stderr[-500:])


@pytest.mark.slow
@pytest.mark.render
def test_the_documented_gpu_check_commands_run():
    """Each scripts/gpu_check.py command of docs/explanation/performance.md, as written but on tiny
    frames: on this CPU machine a GPU backend falls back to the CPU, so every device renders the
    same frames and the comparison must find every label equal."""
    commands = re.findall(r"^\.venv/bin/python scripts/gpu_check\.py(.*?)(?:#.*)?$", docs_text(), re.M)
    assert len(commands) >= 2
    for args in commands:
        tiny = ["--frames", "4", "--size", "64x48", "--", "render.samples=1"]
        r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_check.py"), *shlex.split(args), *tiny],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, (args, r.stdout[-500:], r.stderr[-500:])
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        assert rows and all(row["chosen"] and row["render_s"] > 0 for row in rows), rows
        for row in rows[1:]:
            if "ids_agree" in row:
                assert row["ids_agree"] == row["semantic_agree"] == 1.0 and row["depth_rel_max"] == 0.0, row
                assert row["box_diff_px"] == 0.0 and row["boxes_matched"].split("/")[0] != "0", row


def test_readme_is_a_front_door():
    """The README says what simgen is, how to set it up and run the tests, and where each page
    is; everything else is in docs/ (the site), so the README stays short."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move text into docs/"


def test_readme_links_resolve():
    """mkdocs checks the links of docs/ (below); the README is not part of the site, so its
    relative links are checked here: each names a file of the checkout."""
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    assert targets
    missing = [t for t in targets if "://" not in t and not (ROOT / t).exists()]
    assert missing == []


def test_every_page_is_in_the_nav():
    """Every Markdown file under docs/ is a page of mkdocs.yml's nav, and every nav entry exists."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed = nav_pages(config["nav"])
    on_disk = sorted(p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md"))
    assert sorted(set(listed)) == on_disk
    assert len(listed) == len(set(listed)), "a page is listed twice in nav"


def test_docs_site_builds_strictly(tmp_path):
    """`mkdocs build --strict` (the docs extra, which the test extra includes): no broken link or
    anchor, no page outside nav, every docstring of the API reference readable by griffe."""
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    site = tmp_path / "site"
    assert (site / "index.html").is_file() and (site / "reference" / "api" / "index.html").is_file()
