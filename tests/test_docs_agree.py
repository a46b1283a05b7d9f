"""The pages agree with the code and with each other, in the ways a reader was misled before: a
preset's values as its file has them, commands the CLI has, list overrides a shell other than bash
reads, the nav's titles the pages' own, dated measurements in one page only, every setting in the
settings reference, and no install command for the other project that owns the name on PyPI.

Each test is fast: it reads the pages, the config files and the code's declarations.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import yaml

from docblocks import collect
from test_docs import ROOT, _roots, nav_pages, pages

BENCHMARKS = ROOT / "docs" / "explanation" / "benchmarks.md"
DATE = re.compile(r"(?<![\w/])20\d\d-[01]\d-[0-3]\d\b")
"""A calendar date as a measurement's would be written; a Hydra run folder (``outputs/2026-11-22/``)
is a path, not a date the page tells."""


def _rel(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _paragraphs(text: str) -> list[str]:
    """A page cut into what one statement can span: paragraphs, and each list item of its own."""
    return [p for block in re.split(r"\n\s*\n", text) for p in re.split(r"\n(?=\s*[-*] |\s*\d+\. )", block)]


def _same(a: object, b: object) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


def _presets() -> dict[tuple[str, str], dict]:
    """(group, option) -> the keys its file in configs/GROUP/ sets (its own, not its defaults')."""
    out = {}
    for path in sorted((ROOT / "configs").glob("*/*.yaml")):
        data = yaml.safe_load(path.read_text()) or {}
        out[(path.parent.name, path.stem)] = {k: v for k, v in data.items() if k != "defaults"}
    return out


def _parenthetical(text: str, at: int) -> str:
    """The balanced ``( ... )`` that starts at ``text[at:]`` after a space, or ""."""
    if not text.startswith(" (", at):
        return ""
    depth = 0
    for i in range(at + 1, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[at + 2:i]
    return ""


def test_every_value_a_page_gives_a_preset_is_the_presets():
    """Where a page describes an option in parentheses after its name (``lighting=wide`` (...,
    ``lighting.temperature=[1900,12000]``)), each value it gives a key that option's file sets is
    the file's."""
    presets = _presets()
    checked, wrong = 0, []
    for page in pages():
        for para in _paragraphs(page.read_text()):
            groups = set(re.findall(r"`(\w+)=\w+`", para))
            for m in re.finditer(r"`(?:(\w+)=)?(\w+)`", para):
                options = [(g, m.group(2)) for g in ([m.group(1)] if m.group(1) else groups) if (g, m.group(2)) in presets]
                for group, option in options:
                    said = _parenthetical(para, m.end())
                    for key, value in re.findall(rf"`{group}\.(\w+)=([^`]+)`", said):
                        if key in presets[(group, option)]:
                            checked += 1
                            if not _same(yaml.safe_load(value), presets[(group, option)][key]):
                                wrong.append(f"{_rel(page)}: `{group}={option}` (`{group}.{key}={value}`), "
                                             f"configs/{group}/{option}.yaml: {presets[(group, option)][key]}")
    assert checked >= 1, "the pattern no longer finds a preset's value on the pages"
    assert not wrong, "pages give presets values their files do not have:\n" + "\n".join(wrong)


def _code_lines():
    """(page, line, text) of every command the pages show: each line of a shell block, and each
    inline code span that starts with ``simgen``."""
    for b in collect():
        if b.is_shell:
            for n, line in enumerate(b.text.splitlines(), b.line + 1):
                yield b.page, n, line
    for page in pages():
        for n, line in enumerate(page.read_text().splitlines(), 1):
            for span in re.findall(r"`(simgen [^`]+)`", line):
                yield _rel(page), n, span


def test_every_command_a_page_shows_is_one_the_cli_has():
    """``simgen WORD`` names a subcommand of simgen's (an override has ``=``, a flag ``-``), and a
    console script a page names is one pyproject.toml installs (there is no ``simgen-merge``)."""
    from simgen.cli.commands import SUBCOMMANDS

    scripts = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])
    wrong = []
    for page in pages():
        for n, line in enumerate(page.read_text().splitlines(), 1):
            wrong += [f"{_rel(page)}:{n}: {m}" for m in re.findall(r'(?<![#\w/"-])simgen-[a-z]+\b', line)
                      if m not in scripts and not re.search(rf"{m}[-.\w]*\.(whl|tar\.gz)|/{m}", line)]
    subcommand = re.compile(r"(?:^|\s|`|\.venv/bin/)simgen\s+([a-z][a-z_]*)(?=\s|$|`)")
    for page, n, line in _code_lines():
        code = line.split(" #", 1)[0]
        wrong += [f"{page}:{n}: simgen {w}" for w in subcommand.findall(code) if w not in SUBCOMMANDS]
    assert not wrong, "pages show commands simgen does not have:\n" + "\n".join(wrong)


def _unquoted_brackets(line: str) -> list[str]:
    """The words of a command line that carry ``[``, ``{`` or ``(`` outside quotes after an ``=``:
    zsh takes them for a glob pattern and stops (``no matches found``)."""
    found, word, quote, seen_eq, bad = [], "", "", False, False
    for c in line + " ":
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and not word:
            break
        elif c.isspace():
            if bad:
                found.append(word)
            word, seen_eq, bad = "", False, False
            continue
        elif c == "=":
            seen_eq = True
        elif c in "[{(" and seen_eq:
            bad = True
        word += c
    return found


def test_list_overrides_in_commands_are_quoted():
    """Every ``key=[a,b]`` (or ``{...}``, ``range(...)``) of a command a page shows is quoted, so
    that the line runs in zsh (macOS' shell) as in bash."""
    assert _unquoted_brackets("simgen study.frames=[256,1024] 'a=[1]' b=2  # c=[3]") == ["study.frames=[256,1024]"]
    wrong = [f"{page}:{n}: {w}" for page, n, line in _code_lines()
             if line.lstrip().startswith(("simgen", ".venv/bin/simgen", "python", ".venv/bin/python", "nice"))
             or "simgen " in line for w in _unquoted_brackets(line)]
    assert not wrong, "commands with unquoted list overrides (quote them: 'key=[a,b]'):\n" + "\n".join(wrong)


def test_the_navs_titles_are_the_pages_own():
    """Each page's title in mkdocs.yml's nav is its first heading, so the site's menu and the page
    say the same."""
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]

    def titled(entry):
        if isinstance(entry, list):
            for e in entry:
                yield from titled(e)
        elif isinstance(entry, dict):
            for title, value in entry.items():
                if isinstance(value, str):
                    yield title, value
                else:
                    yield from titled(value)

    wrong = []
    for title, page in titled(nav):
        heading = re.search(r"^# (.+)$", (ROOT / "docs" / page).read_text(), re.M)
        if page != "index.md" and (heading is None or heading.group(1).strip() != title):
            wrong.append(f"{page}: nav {title!r}, page {heading and heading.group(1)!r}")
    assert len(list(titled(nav))) == len(nav_pages(nav))
    assert not wrong, "\n".join(wrong)


def test_dated_measurements_live_in_the_benchmarks_page_only():
    """A page teaches what the code does now; a figure's date, and the history of how it changed,
    are in docs/explanation/benchmarks.md, each with its command and machine."""
    assert DATE.search("run of 2026-11-24") and not DATE.search("outputs/2026-11-22/03-12-40")
    dated = [f"{_rel(p)}:{n}: {line.strip()[:100]}" for p in pages() if p != BENCHMARKS
             for n, line in enumerate(p.read_text().splitlines(), 1) if DATE.search(line)]
    assert not dated, "dates outside docs/explanation/benchmarks.md:\n" + "\n".join(dated)
    assert len(DATE.findall(BENCHMARKS.read_text())) >= 5


def test_nothing_installs_the_other_project_named_simgen():
    """The name simgen on PyPI is another project's: no page and no message of the code says
    ``pip install simgen`` or ``'simgen[extra]'``; they install from the checkout (``-e '.[extra]'``)
    or the wheel (simgen.errors.install_hint)."""
    from simgen.errors import install_hint

    assert install_hint("stream").startswith("pip install -e '.[stream]'")
    pattern = re.compile(r"pip install (?:-U |--upgrade )?['\"]?simgen\b(?![-\w*.]*\.whl)")
    texts = [*pages(), *sorted((ROOT / "simgen").rglob("*.py")), *sorted((ROOT / "scripts").glob("*"))]
    wrong = [f"{_rel(p)}:{n}: {line.strip()[:100]}" for p in texts if p.is_file()
             for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
             if pattern.search(line) and not re.search(r"another project|never says", line)]
    assert not wrong, "\n".join(wrong)


def _leaf_keys(prefix: str, cls: type) -> list[str]:
    """The settings ``cls`` declares under ``prefix``, a nested dataclass's as its own keys."""
    from simgen.config.schema import type_hints, unwrap_optional

    keys = []
    for f in dataclasses.fields(cls):
        inner = unwrap_optional(type_hints(cls)[f.name])[0]
        if dataclasses.is_dataclass(inner):
            keys += _leaf_keys(f"{prefix}{f.name}.", inner)
        else:
            keys.append(prefix + f.name)
    return keys


def test_the_settings_reference_has_a_row_for_every_setting():
    """docs/config.md (index.md: "every setting") has a row for each key of every group, every
    shipped recipe, a study (an arm's as ``study.arms.NAME.*``) and a fit (``fit.trainer.*`` too)."""
    from simgen.experiment.config import ArmConfig

    rows = set(re.findall(r"^\| `([\w.]+)` \|", (ROOT / "docs" / "config.md").read_text(), re.M))
    roots = _roots()
    wanted = set()
    for first, classes in roots.items():
        for cls in classes:
            wanted |= {k for k in _leaf_keys(f"{first}.", cls) if k not in ("scene.recipe",)}
    wanted = {k for k in wanted if not k.startswith("study.arms")} | set(_leaf_keys("study.arms.NAME.", ArmConfig))
    missing = sorted(wanted - rows)
    assert {"fit.trainer.steps", "study.trainer.steps", "scene.physics.substeps"} <= wanted and len(rows) > 100
    assert not missing, "settings without a row in docs/config.md (scripts/gen_config_docs.py):\n" + "\n".join(missing)


def test_index_promises_what_the_gallery_and_the_reference_hold():
    """docs/index.md says what the gallery shows in the words its test checks (tests/test_gallery.py:
    every recipe and every option of the groups of several options) and that config.md has every
    setting (the test above)."""
    index = (ROOT / "docs" / "index.md").read_text()
    gallery = re.search(r"[^.]*\[gallery\]\(gallery\.md\)[^.]*\.", index)
    assert gallery and "every recipe" in gallery.group(0) and "every option" in gallery.group(0), gallery
    assert re.search(r"every \[setting\]\(config\.md\)", index)



SEES = re.compile(r"```text|!\[|\b(prints?|shows?|you see|see|open|opens|looks? like|ends with|lists?)\b", re.I)
"""What a step says the reader sees: an output sample, a picture, or a sentence saying what appears."""


def test_every_tutorial_is_a_lesson():
    """Each page of docs/tutorials/ is a lesson: numbered steps (``## 1. ...``, at least three), each
    with something to run or write and what the reader sees, in folders the reader owns (no
    ``/data/`` or ``/shared/`` in its blocks), ending with ``## Where next`` and its links."""
    wrong = []
    tutorials = sorted((ROOT / "docs" / "tutorials").glob("*.md"))
    assert len(tutorials) >= 9
    for page in tutorials:
        text = page.read_text()
        sections = re.split(r"^## ", text, flags=re.M)[1:]
        titles = [s.splitlines()[0] for s in sections]
        steps = [s for s in sections if re.match(r"\d+\. ", s)]
        numbers = [int(re.match(r"(\d+)\.", s).group(1)) for s in steps]
        if len(steps) < 3 or numbers != list(range(1, len(steps) + 1)):
            wrong.append(f"{_rel(page)}: steps numbered {numbers}, at least 3 from 1 wanted")
        if not titles or titles[-1] != "Where next" or sections[-1].count("](") < 2:
            wrong.append(f"{_rel(page)}: does not end with '## Where next' and its links")
        for s in steps:
            if "```" not in s and "![" not in s:
                wrong.append(f"{_rel(page)}: step '{s.splitlines()[0]}' has nothing to run or look at")
            elif not SEES.search(s):
                wrong.append(f"{_rel(page)}: step '{s.splitlines()[0]}' does not say what the reader sees")
    for b in collect():
        if b.page.startswith("docs/tutorials/") and re.search(r"(?<![\w.])/(data|shared)/", b.text):
            wrong.append(f"{b.page}:{b.line}: a block writes or reads /data or /shared, not the reader's folder")
    assert not wrong, "tutorials that are not lessons:\n" + "\n".join(wrong)


def test_every_label_kind_a_page_names_is_one():
    """``output.labels=[...]`` and "the `KIND` label" on any page, the README or the changelog name
    label kinds simgen has (there is no point-cloud label)."""
    from simgen.labels.kinds import LABEL_KINDS

    kinds = set(LABEL_KINDS.names())
    wrong, named = [], 0
    for page in [*pages(), ROOT / "CHANGELOG.md"]:
        for n, line in enumerate(page.read_text().splitlines(), 1):
            lists = re.findall(r"output\.labels=\[([^\]]*)\]", line)
            words = [w.strip(" '\"") for lst in lists for w in lst.split(",") if w.strip(" '\"")]
            words += re.findall(r"`([a-z_]+)` labels?\b", line)
            named += len(words)
            plugin = "mypkg" in line  # the docs' example of a plugin's own kind
            wrong += [f"{_rel(page)}:{n}: {w}" for w in words if w not in kinds and not plugin]
    assert named >= 10
    assert not wrong, "pages name label kinds simgen does not have:\n" + "\n".join(wrong)


def test_a_sweeps_folder_is_named_one_way():
    """Where a page names a sweep job's folder it is Hydra's as configs/config.yaml sets it:
    ``multirun/DATE/TIME/N_OVERRIDES`` (``${hydra.job.num}_${hydra.job.override_dirname}``)."""
    assert "${hydra.job.num}_${hydra.job.override_dirname}" in (ROOT / "configs" / "config.yaml").read_text()
    named = [(f"{_rel(p)}:{n}", m) for p in pages() for n, line in enumerate(p.read_text().splitlines(), 1)
             for m in re.findall(r"multirun/DATE/TIME/([\w_]*)", line)]
    assert named and all(m in ("N_OVERRIDES", "") for _, m in named), named  # "" : a folder under it


# ---- what a page says, against the code and the other pages (contradictions a review found) ----


def _page(rel: str) -> str:
    return (ROOT / rel).read_text()


def _section(text: str, heading: str) -> str:
    """The text under ``heading`` (a line ``## heading`` or ``### heading``) up to the next heading."""
    return re.split(r"\n#{2,3} ", text.split(f"\n{heading}\n", 1)[1], maxsplit=1)[0]


def test_what_the_pages_say_simgen_lacks_it_lacks():
    """A list of what simgen does not have (yet) names nothing simgen has: the BOP export names links
    (simgen.io.formats.bop reads the meta's parts), and URDF and MJCF models load as catalog entries,
    so coming-from.md's loaders name them among what simgen reads."""
    from simgen.assets.catalog import ARTICULATED_SUFFIXES

    assert '"parts" in o' in (ROOT / "simgen" / "io" / "formats" / "bop.py").read_text()
    not_yet = [p for p in _paragraphs(_page("docs/how-to/own-meshes.md")) if "**Not yet**" in p]
    assert not_yet and not any("BOP" in p for p in not_yet), not_yet
    lacks = _section(_page("docs/explanation/coming-from.md"), "## What simgen does not have")
    loaders = next(p for p in _paragraphs(lacks) if "**Dataset loaders.**" in p)
    reads = loaders.split("simgen reads", 1)[1]
    assert ".urdf" in ARTICULATED_SUFFIXES and "URDF" in reads and "MJCF" in reads, reads


def test_a_page_that_says_objects_move_rigidly_names_the_joints_and_the_files_animation():
    """Where a page says what moves in a sequence ("rigid motions drawn per sequence"), it names the
    other motions simgen has too: a robot's joints (objects.joint_motion) and a scene file's own
    animation (scene.animation)."""
    from simgen.config.objects import ObjectsConfig
    from scenes.environment import Config as EnvironmentConfig

    assert "joint_motion" in ObjectsConfig.__dataclass_fields__ and "animation" in EnvironmentConfig.__dataclass_fields__
    said, wrong = 0, []
    for page in pages():
        for para in _paragraphs(page.read_text()):
            if re.search(r"rigid motions?\s+drawn|drawn\s+rigid motions?", para):
                said += 1
                if "`objects.joint_motion`" not in para or "`scene.animation" not in para:
                    wrong.append(f"{_rel(page)}: {para.strip()[:90]}")
    assert said >= 3
    assert not wrong, "pages that say objects move only rigidly:\n" + "\n".join(wrong)


def test_the_shipped_bin_picking_is_said_to_stand_a_robot_only_when_asked():
    """scene=bin_picking stands no robot unless scene.robot names one (its default is null): a
    paragraph that gives bin_picking a robot names scene.robot."""
    from simgen.recipes import load_recipe

    assert load_recipe("bin_picking").Config().robot is None
    wrong = []
    for page in pages():
        for para in _paragraphs(page.read_text()):
            if re.search(r"`(?:scene=)?bin_picking`", para) and re.search(r"\brobot\b", para) \
                    and "scene.robot" not in para:
                wrong.append(f"{_rel(page)}: {para.strip()[:100]}")
    assert not wrong, "paragraphs that give scene=bin_picking a robot without scene.robot:\n" + "\n".join(wrong)


def test_the_output_labels_setting_names_every_label_kind_one_can_ask_for():
    """output.labels' description (docs/config.md's row, generated from it) names every optional
    label kind simgen registers, the ones camera.rig=stereo adds by itself included."""
    from simgen.labels.kinds import ALWAYS_KINDS, LABEL_KINDS

    row = re.search(r"^\| `output\.labels` \|.*$", _page("docs/config.md"), re.M).group(0)
    optional = [n for n in LABEL_KINDS.names() if n not in {k.name for k in ALWAYS_KINDS}]
    assert {"parts", "lights", "tracks"} <= set(optional)
    missing = [n for n in optional if not re.search(rf"\b{n} \(|\b{n}\b[,.]? ", row)]
    assert not missing, f"output.labels does not name {missing}"


def test_the_fit_tutorial_looks_for_searched_settings_only():
    """docs/tutorials/fit.md prints the settings the fit holds (its first line, as simgen fit says it
    for the tutorial's space) and then tells the reader which fitted settings to look for: none of
    those is held."""
    from simgen.fit.config import FitConfig
    from simgen.fit.plan import space_tree
    from simgen.fit.space import TIES, parse_space, untangle
    from simgen.recipes import load_recipe

    searched, held = untangle(parse_space(space_tree(FitConfig()), load_recipe("tabletop").Config), {}, TIES)
    text = _page("docs/tutorials/fit.md")
    line = next(ln for ln in text.splitlines() if ln.startswith("simgen fit: held at"))
    printed = set(re.findall(r"\b((?:camera|scene|lighting|effects|objects|materials)\.\w+)(?==|\s\(|\sand\s|$)",
                             line.split("not searched:", 1)[1].replace(";", " ;")))
    printed = {k for k in printed if not re.search(rf"{re.escape(k)} fitted", line)}
    assert printed == {h.key for h in held}, (printed, [h.key for h in held])
    bullet = next(p for p in _paragraphs(text) if "**Fitted settings**" in p)
    look_for = set(re.findall(r"`((?:camera|scene|lighting|effects|objects|materials)\.\w+)`",
                              bullet.split("Look for", 1)[1].split(":", 1)[0]))
    assert look_for and look_for <= {e.key for e in searched}, look_for


def test_a_page_cites_each_benchmark_command_in_one_paragraph():
    """A measurement a page gives is stated once: two paragraphs of one page citing the same
    ``python scripts/bench*.py`` command would give two figures for one thing."""
    wrong = []
    for page in pages():
        seen: dict[str, int] = {}
        for para in re.split(r"\n\s*\n", page.read_text()):
            if "```" in para:
                continue
            for cmd in set(re.findall(r"`python (scripts/bench\w*\.py[^`]*)`", para)):
                seen[cmd] = seen.get(cmd, 0) + 1
        wrong += [f"{_rel(page)}: {cmd} in {n} paragraphs" for cmd, n in seen.items() if n > 1]
    assert not wrong, "\n".join(wrong)


def test_the_map_of_the_code_names_each_module_of_the_settings():
    """docs/explanation/architecture.md's entry for simgen/config/ names each of its modules."""
    page = _page("docs/explanation/architecture.md")
    entry = page.split("\nsimgen/config/", 1)[1].split("\nsimgen/", 1)[0]
    modules = sorted(p.name for p in (ROOT / "simgen" / "config").glob("*.py"))
    assert len(modules) >= 10
    assert [m for m in modules if m not in entry] == []


def test_a_part_means_one_thing():
    """The README's glossary and the scene-file page say what a part is in the same words: a piece
    with a pose of its own in the parts label, a robot's link or any other object (a scene file's part),
    whose part id is then its instance id, as simgen.labels' parts kind describes it."""
    from simgen.labels.frame import PARTS

    assert "any other object is one part whose id is its instance id" in PARTS.doc
    readme = _page("README.md")
    glossary = readme.split("## Glossary", 1)[1].split("\n## ", 1)[0]
    part = glossary.split("- **part**", 1)[1].split("\n- **", 1)[0]
    env = next(p for p in _paragraphs(_page("docs/how-to/environment.md")) if p.lstrip().startswith("- **Parts.**"))
    for said in (part, env):
        assert "pose of its own" in said and "instance id" in said and "link" in said and "parts" in said, said


def test_the_wall_redraw_is_told_the_same_way_on_both_pages():
    """How the camera is drawn again to see a wall (scenes.tabletop.WALL_VIEW_TRIES draws, the best
    kept, its place and lens drawn anew) is told in the same words by docs/how-to/backgrounds.md and
    the setting's description (docs/config.md)."""
    from scenes.tabletop import WALL_VIEW_TRIES

    row = re.search(r"^\| `scene\.wall_view` \|.*$", _page("docs/config.md"), re.M).group(0)
    para = next(p for p in _paragraphs(_page("docs/how-to/backgrounds.md")) if "`scene.wall_view`" in p)
    for said in (row, " ".join(para.split())):
        assert f"up to {WALL_VIEW_TRIES} times, the best draw kept" in said and "camera group" in said, said


def test_the_ultralytics_interpreter_is_told_the_same_way():
    """study.trainer.python's default (null: simgen's own interpreter, which has no Ultralytics as the
    README installs it) and where to get one: the settings' row and docs/how-to/study-file.md agree."""
    from simgen.experiment.config import TrainerConfig

    assert TrainerConfig().python is None
    row = re.search(r"^\| `study\.trainer\.python` \|.*$", _page("docs/config.md"), re.M).group(0)
    page = " ".join(_page("docs/how-to/study-file.md").split())
    for said in (row, page):
        assert "scripts/client_env.sh" in said and ".venv-clients/bin/python" in said and "simgen's own" in said


def test_a_page_that_sends_the_reader_to_a_recipe_names_what_the_recipe_calls():
    """Where the robots' page says how the recipe tutorial stands a robot, it names the call the
    tutorial makes (``build.stand(...)``), which the scene builder has."""
    from simgen.recipes import SceneBuilder

    para = next(p for p in _paragraphs(_page("docs/how-to/own-meshes.md")) if "**A robot in the cell**" in p)
    calls = re.findall(r"`(build\.\w+)\(", para)
    assert calls, para
    tutorial = _page("docs/tutorials/own-recipe.md")
    assert all(f"{c}(" in tutorial and hasattr(SceneBuilder, c.split(".")[1]) for c in calls), calls


def test_a_command_reads_the_bundled_files_where_the_checkout_has_them():
    """A command a page shows reads files the reader has: where the checkout ships the file a
    ``/data/...`` path names (the bundled room, the bundled arm), the page names the checkout's."""
    bundled = {p.name for p in (ROOT / "assets").rglob("*") if p.is_file()}
    wrong = [f"{page}:{n}: {path}" for page, n, line in _code_lines()
             for path in re.findall(r"(?<![\w.])/data/[\w./-]+", line) if Path(path).name in bundled]
    assert "room.glb" in bundled and "arm.urdf" in bundled
    assert not wrong, "commands that name /data/ files the checkout has (name assets/...):\n" + "\n".join(wrong)
