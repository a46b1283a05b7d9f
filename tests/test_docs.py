"""The configuration reference is generated from the schema and must be current; the README's
commands are the CI's, and the benchmark commands the docs show run; the README stays a front
door, every page of docs/ is in the site's nav, and the site builds with `mkdocs build --strict`;
what the pages state is true where a test can read it: every setting they name is declared, every
default they state is the declared one, every extra they name is pyproject's."""

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


def pages() -> list[Path]:
    """The README and every page of docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def docs_text() -> str:
    """The README and every page of docs/, one after another: what the docs say, wherever it is."""
    return "\n".join(p.read_text() for p in pages())


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
    import tomllib

    text = (ROOT / "README.md").read_text()
    lines = text.splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move text into docs/"
    repo = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    first_screen = "\n".join(lines[:50])
    assert f"git clone {repo}.git" in first_screen and "pip install -e . && .venv/bin/simgen" in first_screen
    assert "![" in first_screen and "Python 3.11" in first_screen and "Linux" in first_screen
    assert re.search(r"\*\*Where next\*\*", first_screen)
    glossary = text.split("## Glossary", 1)[1].split("\n## ", 1)[0]
    for term in ("recipe", "arm", "trial", "shard", "step", "view", "part"):
        assert f"- **{term}**" in glossary, term
    assert text.count("- **", text.index("## FAQ")) >= 6
    assert "](docs/contributing.md)" in "\n".join(lines[-3:]), "the README ends by linking the contributing page"


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


# ------------------------------------------------------------------ what the pages state, checked


def _roots() -> dict[str, list[type]]:
    """The first word of a setting's key -> the dataclasses that may declare the rest: each group
    of Settings, ``scene`` (every shipped recipe's Config), ``fit`` and ``study``."""
    import typing

    from simgen.config import Settings
    from simgen.experiment.config import StudyConfig
    from simgen.fit.config import FitConfig
    from simgen.recipes import BUILTIN, load_recipe

    hints = typing.get_type_hints(Settings)
    roots = {name: [hint] for name, hint in hints.items() if isinstance(hint, type) and hasattr(hint, "__dataclass_fields__")}
    roots["scene"] = [load_recipe(name).Config for name in BUILTIN]
    roots["fit"], roots["study"] = [FitConfig], [StudyConfig]
    return roots


def _declared(cls: type, parts: list[str]) -> tuple[bool, object]:
    """(whether ``cls`` declares the key ``parts``, its default); a {name: value} or free-form
    setting (a dict or Any) declares every key under it."""
    import dataclasses
    import typing

    from simgen.config.schema import default_of, type_hints, unwrap_optional

    for i, part in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
        if part not in fields:
            return False, None
        rest = parts[i + 1:]
        if not rest:
            return True, default_of(fields[part])
        inner = unwrap_optional(type_hints(cls)[part])[0]
        if dataclasses.is_dataclass(inner):
            cls = inner
            continue
        return (inner is typing.Any or typing.get_origin(inner) is dict or inner is dict), None
    return False, None


KEY = re.compile(r"`((?:render|camera|lighting|materials|objects|output|sequence|effects|shard|scene|fit|study)"
                 r"(?:\.[a-z_0-9]+)+)(?:=([^`]*))?`")
"""A setting in backticks, ``key`` or ``key=value``, as the pages write them (a file name such as
``camera.json`` is none: :data:`FILE_TYPES`)."""
FILE_TYPES = {"json", "yaml", "yml", "png", "jpg", "csv", "txt", "html", "md", "npz", "npy", "exr", "tar", "parquet"}


def _named_settings():
    """(page, line number, line, key, value or None) for every setting a page names in backticks."""
    for page in pages():
        for n, line in enumerate(page.read_text().splitlines(), 1):
            for m in KEY.finditer(line):
                if m.group(1).rsplit(".", 1)[1] in FILE_TYPES:
                    continue
                yield page.relative_to(ROOT).as_posix(), n, line, m.group(1), m.group(2)


def test_every_setting_a_page_names_exists():
    """Every ``group.key`` a page names in backticks is declared (by Settings, a shipped recipe, the
    fit or the study), or is a key that moved and the line says so (its old name, for those who
    knew it)."""
    from simgen.config.schema import RENAMED

    roots = _roots()
    unknown = []
    for page, n, line, key, _ in _named_settings():
        first, *rest = key.split(".")
        if any(_declared(cls, rest)[0] for cls in roots[first]):
            continue
        if key in RENAMED and re.search(r"\b(old|moved|renamed)\b", line):
            continue
        unknown.append(f"{page}:{n}: {key}")
    assert not unknown, "pages name settings that nothing declares:\n" + "\n".join(unknown)


DEFAULT_STATED = [
    re.compile(r"`(?P<key>[a-z_.0-9]+)=(?P<value>[^`]+)`,? (?:\(?the default|is the default|by default)"),
    re.compile(r"`(?P<key>[a-z_.0-9]+)` \((?:default )?(?P<value>-?[0-9][0-9.]*)\)"),
]
"""How the pages state a default: ``key=value``, the default; ``key`` (16)."""


def test_every_default_a_page_states_is_the_declared_one():
    """Where a page says a setting's default (``render.overlap=true``, the default; ``fit.frames``
    (16)), it is the declared default, written as an override would write it. A fit's renders
    have defaults of their own (simgen.fit.plan.FIT_RENDER): a line about a fit's renders may
    state those."""
    from simgen.config.schema import override_text
    from simgen.fit.plan import FIT_RENDER

    roots = _roots()
    wrong, stated = [], 0
    for page in pages():
        for n, line in enumerate(page.read_text().splitlines(), 1):
            for pattern in DEFAULT_STATED:
                for m in pattern.finditer(line):
                    key, value = m.group("key"), m.group("value")
                    first, *rest = key.split(".")
                    found = [d for cls in roots.get(first, []) for ok, d in [_declared(cls, rest)] if ok]
                    if not found:
                        continue
                    stated += 1
                    said = [override_text(d) for d in found]
                    if key in FIT_RENDER and "fit" in page.name:
                        said.append(override_text(FIT_RENDER[key]))
                    if value not in said and not any(_same_number(value, s) for s in said):
                        wrong.append(f"{page.relative_to(ROOT)}:{n}: {key} stated {value}, declared {said}")
    assert stated >= 5, "the patterns no longer find the pages' defaults"
    assert not wrong, "pages state defaults that are not the declared ones:\n" + "\n".join(wrong)


def _same_number(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return False


EXTRA = re.compile(r"(?:\.|simgen)\[([a-z0-9_,\- ]+)\]")
"""An extra as install commands name it: ``.[report]``, ``'.[torch,report]'``, ``simgen[stream]``."""


def test_every_extra_a_page_names_is_declared():
    """Every extra a page or the README names in an install command is in pyproject.toml."""
    import tomllib

    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = {}
    for page in pages():
        for n, line in enumerate(page.read_text().splitlines(), 1):
            for m in EXTRA.finditer(line):
                for name in m.group(1).split(","):
                    named.setdefault(name.strip(), f"{page.relative_to(ROOT)}:{n}")
    assert {"report", "stream", "cloud", "torch", "test"} <= set(named), named
    assert set(named) <= declared, {k: v for k, v in named.items() if k not in declared}


def test_the_changelog_names_every_moved_key_and_says_which_files_are_stable():
    """CHANGELOG.md lists each setting that moved with its new name (simgen.config.schema.RENAMED,
    what the command tells a user of the old one) and holds the dataset's stability policy."""
    from simgen.config.schema import RENAMED

    text = (ROOT / "CHANGELOG.md").read_text()
    missing = [old for old in RENAMED if f"`{old}`" not in text and f"`{old}." not in text]
    assert not missing, f"moved keys the changelog does not name: {missing}"
    assert all(f"`{new}`" in text or f"`{new.rsplit('.', 1)[0]}.*`" in text for new in set(RENAMED.values()))
    assert "## Which dataset files are stable" in text and "**Stable**" in text and "**Not stable**" in text


COMMIT = re.compile(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")
"""A git commit as the pages would name one: a word of 7-40 hex digits with at least one digit and
one letter a-f (``b3d5837``), so that numbers such as 1000000 are none."""
ISSUE = re.compile(r"\b(?:issues?|pull requests?|PR)\s*#?\d+", re.IGNORECASE)
"""An issue or pull request by its number: ``issue 31``, ``issues #30``, ``PR 12``."""


def test_no_page_names_a_commit_or_an_issue():
    """The pages teach what the code does now; a measured figure carries its date and the command
    that prints it (docs/explanation/benchmarks.md), never a commit or an issue as its history."""
    assert COMMIT.search("as of commit b3d5837") and ISSUE.search("(issue 31)")
    assert not COMMIT.search("integer in [1, 1000000] 0.2963 x6.8 decade")
    named = [f"{page.relative_to(ROOT)}:{n}: {m.group(0)}"
             for page in pages()
             for n, line in enumerate(page.read_text().splitlines(), 1)
             for m in [*COMMIT.finditer(line), *ISSUE.finditer(line)]]
    assert not named, "pages name commits or issues (give a date and a command instead):\n" + "\n".join(named)


def test_a_frames_path_names_modules_and_functions_that_exist():
    """docs/explanation/architecture.md, "A frame's path": every module it names is a file of the
    package (``scenes/NAME.py``: a recipe; ``io/formats/*.py``: that folder), and every function
    ``name()`` of a step is defined in one of the modules that step names."""
    import re

    page = (ROOT / "docs" / "explanation" / "architecture.md").read_text()
    section = page.split("## A frame's path", 1)[1].split("\n## ", 1)[0]
    steps = re.split(r"\n\d+\. ", section)[1:]
    assert len(steps) >= 10
    for step in steps:
        files = []
        for ref in re.findall(r"`((?:simgen/|scenes/)?[\w/*.]+\.py)`", step):
            rel = ref if ref.startswith(("simgen/", "scenes/")) else f"simgen/{ref}"
            if "*" in rel or "NAME" in rel:
                assert list(ROOT.glob(rel.replace("NAME", "*"))), ref
                continue
            assert (ROOT / rel).is_file(), ref
            files.append(ROOT / rel)
        for name in re.findall(r"`(\w+)\(\)`", step):
            assert any(re.search(rf"^\s*def {name}\(", f.read_text(), re.M) for f in files), (name, step[:60])
