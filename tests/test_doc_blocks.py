"""The docs as tests (issue 30): every fenced code block of the README and of docs/ is run here at a
tiny size, run by another test that its marker names, or marked with the reason it is not run
(tests/docblocks.py: the collector and the marker syntax). ``pytest tests/test_doc_blocks.py -v``
lists every block with its verdict (``README.md:19-bash-by``); ``python tests/docblocks.py`` prints
the same list with every reason.

- test_every_block_is_run_or_marked (fast): each block has a verdict; each line to run is one this
  module can run; each named test exists; each ``text`` block in a data language parses.
- test_the_block_runs (slow): each block with lines to run, top to bottom in a folder of its own,
  ``/data/...`` and ``/shared/...`` moved into it and ``DIR`` a dataset rendered once; a ``simgen``
  render at 64x48, 1 sample and 1 frame (a sequence: 2 or 3 steps; shards: one frame each;
  Hydra takes the last of a repeated override; run by conftest's simgen_cli, in the worker's served
  child), a script with the tiny options of TINY_SCRIPT_ARGS
  (argparse takes the last of a repeated option), a Python block with ``python -c``.
- test_the_scripts_the_docs_name_run (fast): every scripts/NAME.py the docs name answers --help
  with its usage; every shell script passes ``bash -n``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import simgen_cli
from docblocks import ROOT, Block, Command, collect, pages

BLOCKS = collect()
SUBCOMMANDS = {"merge", "inspect", "validate", "compare", "fetch", "catalog", "fit", "study"}
"""``simgen`` commands that render nothing; anything else is a render (a multirun, ``--cfg`` too)."""
TINY = ["render.width=64", "render.height=48", "render.samples=1", "render.denoise_prefilter=fast"]
TINY_SCRIPT_ARGS = {
    "train_detector.py": ["--steps", "2", "--batch-size", "2"],
    "bench_ceiling.py": ["--res", "64x48", "--frames", "3", "--warmup", "1", "--repeats", "1"],
}
"""What makes each script the docs run tiny, appended to the line (with a cache and output
folder of the block's own where the script takes one: CACHE_ARGS)."""
CACHE_ARGS = {"bench_ceiling.py": lambda world: ["--cache", str(world / "cache"), "--out-dir", str(made(world / "out"))]}
PLACEHOLDER_ROOTS = ("/data/", "/shared/", "/path/")
MESH_DIRS = {"ducks": "cone", "mugs": "mug", "chairs": "box"}
"""The folders of one's own meshes the docs name, and the bundled category that stands in."""


def made(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def argv_of(cmd: str) -> tuple[str, list[str]] | None:
    """("simgen" | "script", its arguments) of a command line this module runs, or None."""
    try:
        words = shlex.split(cmd, comments=True)
    except ValueError:
        return None
    if words[:1] == ["nice"]:
        words = words[1:]
    if not words or any(w in ("&&", "||", "|", ";") for w in words):
        return None
    if words[0] in ("simgen", ".venv/bin/simgen"):
        return "simgen", words[1:]
    if words[0] in ("python", "python3", ".venv/bin/python") and len(words) > 1:
        if words[1:3] == ["-m", "simgen.cli"]:
            return "simgen", words[3:]
        if re.fullmatch(r"scripts/\w+\.py", words[1]) and Path(words[1]).name in TINY_SCRIPT_ARGS:
            return "script", words[1:]
    return None


def is_render(args: list[str]) -> bool:
    first = next((a for a in args if not a.startswith("-")), None)
    return first not in SUBCOMMANDS


def tiny_render(args: list[str]) -> list[str]:
    """What a render line gets appended: the tiny size and as few frames as it can have."""
    last = {}
    for a in args:
        key, eq, value = a.partition("=")
        if eq:
            last[key] = value
    length = int(last.get("sequence.length", 1))
    gap = int(last.get("sequence.gap", 1))
    shards = int(last.get("shard.count", 1))
    extra = list(TINY)
    per = 1
    if length > 1:
        per = min(length, max(2, gap + 1))
        extra.append(f"sequence.length={per}")
    return extra + [f"frames={per * shards}"]


def test_the_collector_finds_every_fence():
    """Each page's fence lines are two per block found: no block is left out of the list."""
    for page in pages():
        fences = sum(1 for ln in page.read_text().splitlines() if re.match(r"^ *(```|~~~)", ln))
        found = [b for b in BLOCKS if b.page == page.relative_to(ROOT).as_posix()]
        assert fences == 2 * len(found), page
    assert len(BLOCKS) >= 50


def summary(b: Block) -> str:
    kinds = sorted({c.verdict.kind for c in b.commands}) or [b.verdict.kind if b.verdict else "unmarked"]
    return "+".join(kinds)


def names_a_test(ref: str) -> bool:
    path, _, name = ref.partition("::")
    f = ROOT / path
    return f.is_file() and re.search(rf"^(?:async )?def {re.escape(name)}\(", f.read_text(), re.M) is not None


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.id}-{summary(b)}" for b in BLOCKS])
def test_every_block_is_run_or_marked(block: Block):
    assert not block.marker_errors, f"{block.id}: {block.marker_errors}"
    assert block.verdict is not None or block.commands, \
        f"{block.id}: a ```{block.lang or ''} block needs a marker (tests/docblocks.py): run, text, skip or by"
    prefixes = [c.prefix for c in block.clauses if c.prefix is not None]
    for p in prefixes:
        assert any(c.text.startswith(p) for c in block.commands), f"{block.id}: `{p}` starts no line"
    verdicts = [block.verdict] if not block.commands else [c.verdict for c in block.commands]
    for v in verdicts:
        if v.kind == "by":
            assert names_a_test(v.test), f"{block.id}: {v.test} is no test"
        if v.kind in ("text", "skip"):
            assert v.reason, block.id
    for c in block.commands:
        if c.verdict.kind == "run" and block.is_shell:
            assert argv_of(c.text) is not None, \
                f"{block.page}:{c.line}: {c.text!r} is no command tests/test_doc_blocks.py runs: mark it (skip/by)"
    if block.verdict and block.verdict.kind == "text":  # a data fragment shown: at least it parses
        if block.lang == "yaml":
            yaml.safe_load(block.text)
        elif block.lang == "toml":
            tomllib.loads(block.text)
        elif block.lang == "json":
            json.loads(block.text if block.text.lstrip()[:1] in "{[" else "{" + block.text + "}")
    print(f"{block.id}: {block.verdict}" + "".join(f"\n  line {c.line}: {c.verdict}" for c in block.commands
                                                     if c.verdict != block.verdict))


# ---- running them ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def docs_dataset(tmp_path_factory) -> Path:
    """DIR of the docs: two sequences of 2 steps (optical flow) at 64x48, 1 sample, amodal masks."""
    out = tmp_path_factory.mktemp("docs") / "dataset"
    done = simgen_cli(*TINY, "seed=5", "sequence.length=2", "frames=4", "output.labels=[amodal]",
                      f"output.dir={out}", cwd=out.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def link_copy(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, copy_function=os.link)


def populate(block: Block, world: Path, dataset: Path) -> None:
    """What the block's lines read and no line of it writes: datasets (copies of DIR's), a COCO
    file with its images standing in for real ones, photos, mesh folders, a config folder."""
    text = block.text
    written = set(re.findall(r"output\.dir=(\S+)", text))
    for m in sorted(set(re.findall(r"/data/(?:run\d|shard\d|sweep/[^\s'\"]+)", text)) - written):
        link_copy(dataset, world / m.lstrip("/"))
    if "/data/real/" in text:
        real = world / "data" / "real"
        shutil.copytree(dataset / "images", real / "images")
        coco = json.loads((dataset / "coco.json").read_text())
        for im in coco["images"]:  # as real COCO files have it: file_name relative to the images
            im["file_name"] = Path(im["file_name"]).name
        (real / "annotations.json").write_text(json.dumps(coco))
    if "/data/photos" in text:
        shutil.copytree(dataset / "images", world / "data" / "photos")
    for name, category in MESH_DIRS.items():
        if f"/data/{name}" in text:
            shutil.copytree(ROOT / "assets" / "meshes" / category, world / "data" / name)
    for bundled in sorted(set(re.findall(r"(?<![\w/.])assets/[\w./-]+\.\w+", text))):  # a file of the checkout
        made((world / bundled).parent)
        shutil.copy(ROOT / bundled, world / bundled)
    if "/data/kitchen_counter/" in text:  # a real environment, fetched once (docs/contributing.md, "Tests that need a service"): skipped
        from test_real_environment import kitchen_counter  # when absent, a failure with CI=true

        (world / "data" / "kitchen_counter").mkdir(parents=True, exist_ok=True)
        shutil.copy(kitchen_counter(), world / "data" / "kitchen_counter" / "kitchen_counter.glb")
    if "/data/my_configs" in text:  # what the block's comment says the file holds
        warm = world / "data" / "my_configs" / "lighting" / "warm.yaml"
        warm.parent.mkdir(parents=True)
        warm.write_text("defaults: [random, _self_]\ntemperature_probability: 1.0\n")


def moved(text: str, world: Path, dataset: Path) -> str:
    for root in PLACEHOLDER_ROOTS:
        text = text.replace(f"file://{root}", f"file://{world}{root}")  # hydra.searchpath=[file:///data/...]
        text = re.sub(rf"(?<![\w/.]){re.escape(root)}", f"{world}{root}", text)
    return re.sub(r"(?<![{\w])DIR(?![}\w])", str(dataset), text)


def run_line(c: Command, world: Path, dataset: Path) -> subprocess.CompletedProcess:
    kind, args = argv_of(moved(c.text, world, dataset))
    if kind == "simgen":
        return simgen_cli(*args, *(tiny_render(args) if is_render(args) else []), cwd=world)
    name = Path(args[0]).name
    argv = [sys.executable, str(ROOT / args[0]), *args[1:], *TINY_SCRIPT_ARGS[name],
            *CACHE_ARGS.get(name, lambda w: [])(world)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(argv, cwd=world, env=env, capture_output=True, text=True, timeout=600)


def run_python(block: Block, world: Path, dataset: Path) -> subprocess.CompletedProcess:
    source = f"DIR = {str(dataset)!r}\n" + moved(block.text, world, dataset)
    return subprocess.run([sys.executable, "-c", source], cwd=world, capture_output=True, text=True, timeout=600)


RUN = [b for b in BLOCKS if any(c.verdict.kind == "run" for c in b.commands)]


@pytest.mark.slow
@pytest.mark.render
@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
def test_the_block_runs(block: Block, docs_dataset, tmp_path):
    populate(block, tmp_path, docs_dataset)
    if not block.is_shell:
        done = run_python(block, tmp_path, docs_dataset)
        assert done.returncode == 0, f"{block.id}:\n{done.stderr[-3000:]}"
        return
    for c in block.commands:
        if c.verdict.kind != "run":
            continue
        done = run_line(c, tmp_path, docs_dataset)
        assert done.returncode == 0, f"{block.page}:{c.line}: {c.text}\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}"


# ---- the scripts the docs name -----------------------------------------------------------

NAMED_SCRIPTS = sorted(set(re.findall(r"scripts/\w+\.(?:py|sh)",
                                      "\n".join(p.read_text() for p in pages()))))


@pytest.mark.parametrize("script", NAMED_SCRIPTS)
def test_the_scripts_the_docs_name_run(script: str, tmp_path):
    """--help (in an empty folder, so that a script that took it for a path would show): exit 0 and
    a usage; a shell script is checked by ``bash -n`` (each sets up a machine, as root)."""
    path = ROOT / script
    assert path.is_file(), f"the docs name {script}, which is not there"
    if script.endswith(".sh"):
        done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return
    done = subprocess.run([sys.executable, str(path), "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"usage|python scripts/", done.stdout, re.I), done.stdout[:500]
    assert list(tmp_path.iterdir()) == [], f"{script} --help wrote {list(tmp_path.iterdir())}"
