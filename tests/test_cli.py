"""The ``simgen`` console script, run in a subprocess from a foreign working directory (the bad-input
cases: its entry point in this process, test_bad_inputs.run_in_process).

Bad input must end before rendering (Blender never imported, nothing written) with a
clear message on stderr, a non-zero exit status and no traceback, unless
HYDRA_FULL_ERROR=1 asks for one (tests/test_bad_inputs.py holds the full corpus). Tiny
renders check the happy paths: a run with output.dir leaves nothing in the working directory
and keeps its log in the dataset; ``simgen --help`` is simgen's own usage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trimesh

SCRIPT = Path(sys.executable).with_name("simgen")
COMMAND = [str(SCRIPT)] if SCRIPT.is_file() else [sys.executable, "-m", "simgen.cli"]
TINY = ["render.width=64", "render.height=48", "render.samples=1", "frames=1"]


def q(value: object) -> str:
    """A Hydra override value: a single-quoted string (paths may hold ':' or spaces)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


class Cli:
    """Runs ``simgen`` with cwd=tmp_path/cwd and Hydra's run folder under tmp_path.

    With ``guard=True`` a stand-in ``bpy`` module comes first on PYTHONPATH: importing
    it leaves a marker file (and fails), so ``bpy_imported`` tells whether the run got
    as far as starting Blender.
    """

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.cwd = tmp_path / "cwd"
        self.cwd.mkdir()
        self.out = tmp_path / "out"
        self.guard = tmp_path / "guard"
        self.guard.mkdir()
        self.marker = tmp_path / "bpy-was-imported"
        (self.guard / "bpy.py").write_text(
            f"open({str(self.marker)!r}, 'w').close()\n"
            "raise ImportError('test guard: bpy must not be imported for bad input')\n")

    def __call__(self, *args: str, guard: bool = True, full_error: bool = False,
                 output: bool = True, run_dir: bool = True) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
        if full_error:
            env["HYDRA_FULL_ERROR"] = "1"
        if guard:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.guard), env.get("PYTHONPATH")) if p)
        flags = [a for a in args if a.startswith("-")]  # Hydra wants flags before overrides
        argv = [*COMMAND, *flags, *([f"hydra.run.dir={q(self.tmp / 'hydra')}"] if run_dir else []),
                *([f"output.dir={q(self.out)}"] if output else []), *(a for a in args if a not in flags)]
        return subprocess.run(argv, cwd=self.cwd, env=env, capture_output=True, text=True, timeout=300)

    @property
    def bpy_imported(self) -> bool:
        return self.marker.exists()


@pytest.fixture
def cli(tmp_path) -> Cli:
    return Cli(tmp_path)


def _catalog(path: Path, mesh: Path | str) -> Path:
    path.write_text(f"categories: [thing]\nassets:\n  - mesh: {json.dumps(str(mesh))}\n    category: thing\n")
    return path


def _box(path: Path, size: float = 0.1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.creation.box(extents=(size, size, size)).export(path)
    return path


# ------------------------------------------------------------------ bad input

# name -> (setup(tmp_path) -> extra overrides, text every message must contain)
def _missing_asset(t: Path):
    return [f"objects.catalog={q(_catalog(t / 'catalog.yaml', t / 'nowhere' / 'gone.obj'))}"]


def _missing_catalog(t: Path):
    return [f"objects.catalog={q(t / 'no-such-catalog.yaml')}"]


def _asset_is_a_folder(t: Path):
    (t / "looks_like.obj").mkdir()
    return [f"objects.catalog={q(_catalog(t / 'catalog.yaml', t / 'looks_like.obj'))}"]


def _unreadable_asset(t: Path):
    mesh = _box(t / "meshes" / "secret.obj")
    mesh.chmod(0)
    return [f"objects.catalog={q(_catalog(t / 'catalog.yaml', mesh))}"]


def _undecodable_catalog(t: Path):
    (t / "catalog.yaml").write_bytes(b"categories: [\xff\xfe\x00]\n")
    return [f"objects.catalog={q(t / 'catalog.yaml')}"]


def _corrupt_mesh(t: Path):
    junk = t / "junk" / "noise.ply"
    junk.parent.mkdir()
    junk.write_bytes(bytes(range(256)) * 8)
    return [f"objects.catalog={q(_catalog(t / 'catalog.yaml', junk))}"]


def _unwritable_output(t: Path):
    (t / "a-file").write_text("not a folder")
    return [f"output.dir={q(t / 'a-file' / 'dataset')}"]


SIMGEN_ERRORS = {
    # misspelt values and the like that Hydra lets through: simgen's own one-line messages
    "frames-zero": (lambda t: ["frames=0"], "frames=0: must be in [1, 1000000]"),
    "frames-negative": (lambda t: ["frames=-3"], "frames=-3: must be in [1, 1000000]"),
    "wrong-type": (lambda t: ["render.width=abc"], "'render.width': Value 'abc'"),
    # Hydra's advice for a misspelt key is to add it with +, which reaches simgen
    "appended-typo": (lambda t: ["+frmaes=3"], "unknown config key 'frmaes'"),
    "bad-enum": (lambda t: ["render.device=vulkan"], "render.device='vulkan': unknown value; use one of auto, cpu"),
    "bad-engine": (lambda t: ["render.engine=eevee"], "render.engine='eevee': unknown value; use one of cycles"),
    "unknown-recipe": (lambda t: ["scene.recipe=nosuch"], "unknown scene recipe 'nosuch'"),
    "missing-asset": (_missing_asset, "asset file not found: "),
    "missing-catalog": (_missing_catalog, "catalog file not found: "),
    "asset-is-a-folder": (_asset_is_a_folder, "asset path is not a file: "),
    "unreadable-asset": (_unreadable_asset, "cannot read mesh file "),
    "undecodable-catalog": (_undecodable_catalog, "cannot read catalog file "),
    "corrupt-mesh": (_corrupt_mesh, "cannot load mesh "),
    "impossible-placement": (lambda t: ["objects.count=[50,50]", "scene.area_radius=0.1"],
                             "impossible placement: 50 objects"),
    "unwritable-output": (_unwritable_output, "output.dir="),
    # caught before Hydra composes (Hydra's own message would be several lines)
    "misspelt-override": (lambda t: ["frmaes=3"], "unknown key 'frmaes'"),
    "misspelt-nested-override": (lambda t: ["render.widht=64"], "unknown key 'render.widht'"),
    "unknown-group-choice": (lambda t: ["render=eevee"], "unknown option render=eevee"),
    "unparsable-override": (lambda t: ["output.dir=/data/ü"], "cannot parse the override 'output.dir=/data/ü'"),
}

FIXES = {  # what the message must say to do about it
    "frames-zero": "e.g. frames=4", "frames-negative": "e.g. frames=4",
    "wrong-type": "write it like render.width=320", "appended-typo": "did you mean 'frames'?",
    "bad-enum": "e.g. render.device=auto",
    "bad-engine": "e.g. render.engine=cycles", "unknown-recipe": "choose one of",
    "missing-asset": "fix the path", "missing-catalog": "fix the path", "asset-is-a-folder": "point it at a mesh file",
    "unreadable-asset": "make it readable", "undecodable-catalog": "make it a readable UTF-8 text file",
    "corrupt-mesh": "re-export it",
    "impossible-placement": "raise scene.area_radius", "unwritable-output": "choose another output.dir",
    "misspelt-override": "did you mean 'frames'?", "misspelt-nested-override": "did you mean 'render.width'?",
    "unknown-group-choice": "the options of render are cycles",
    "unparsable-override": "quote the value for Hydra",
}


def _assert_nothing_rendered(cli: Cli, result: subprocess.CompletedProcess) -> None:
    assert not cli.bpy_imported, "Blender was imported for bad input"
    assert not cli.out.exists(), f"{cli.out} was created for bad input"
    assert not list(cli.tmp.rglob("*.png")), "images were written for bad input"
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout


# root reads files whatever their permissions, so that case only exists for other users
@pytest.mark.parametrize("case", [c for c in SIMGEN_ERRORS if not (c == "unreadable-asset" and os.geteuid() == 0)])
def test_bad_input_fails_with_one_line(cli, case, monkeypatch, capfd):
    """simgen's entry point in this process (test_bad_inputs.run_in_process: Blender's modules
    guarded), as the console script runs it with Cli's arguments; the console script itself, bad
    input and all, is run in a subprocess by the tests below and test_bad_inputs.py's
    test_bad_input_console_script (a process start is 3-4 s of CPU)."""
    from test_bad_inputs import run_in_process

    setup, expected = SIMGEN_ERRORS[case]
    argv = [f"hydra.run.dir={q(cli.tmp / 'hydra')}", f"output.dir={q(cli.out)}", *TINY, *setup(cli.tmp)]
    code, out, err, touched = run_in_process(argv, cli.cwd, monkeypatch, capfd)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("simgen: error: "), lines[0]
    assert expected in lines[0] and FIXES[case] in lines[0], lines[0]
    assert not touched, "Blender was reached for bad input"
    _assert_nothing_rendered(cli, subprocess.CompletedProcess(argv, code, out, err))


def test_hydra_full_error_shows_the_traceback(cli):
    result = cli(*TINY, "frames=0", full_error=True)
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "SimgenError: frames=0: must be in [1, 1000000]" in result.stderr
    assert not cli.bpy_imported and not cli.out.exists()


def test_hydra_full_error_shows_hydras_own_report(cli):
    result = cli(*TINY, "frmaes=3", full_error=True)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "Could not override 'frmaes'" in result.stderr
    assert not cli.bpy_imported and not cli.out.exists()


def test_help_is_simgens_own_usage(cli):
    """Groups with their options, the common keys with their defaults and bounds, examples and
    the docs, all derived from the declarations and the option files."""
    import dataclasses
    import typing

    from simgen.config import Settings
    from simgen.config.schema import default_of, field_docs, first_sentence, override_text, rule_of

    result = cli("--help", guard=True, output=False, run_dir=False)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith("usage: simgen")
    from simgen.cli import CONFIG_DIR
    from simgen.compose.store import default_options, options

    for group in sorted(p for p in CONFIG_DIR.iterdir() if p.is_dir() and p.name not in ("hydra", "study")):
        for option in group.glob("*.yaml"):
            assert f"{group.name}={option.stem}" in text, f"{group.name}={option.stem} not in --help"
    assert "simgen study dr_gap" in text and "study=" not in text  # studies: a command, no group (simgen study --help)
    for group, opts in options().items():
        for option in opts:
            assert f"{group}={option}" in text, f"{group}={option} not in --help"
    for group, option in default_options().items():  # the default option is its dataclass: its docstring
        assert f"{group}={option}" in text
    assert "Cycles path tracer." in text and "The tabletop scene: objects standing on a ground plane" in text
    common = []
    hints = typing.get_type_hints(Settings)
    for f in dataclasses.fields(Settings):
        t = hints[f.name]
        cls, prefix = (t, f"{f.name}.") if dataclasses.is_dataclass(t) else (Settings, "")
        for g in dataclasses.fields(cls) if cls is not Settings else [f]:
            if rule_of(g).common:
                # output.dir: on the command line Hydra's run folder, not the dataclass's default
                shown = "outputs/DATE/TIME" if f"{prefix}{g.name}" == "output.dir" else override_text(default_of(g))
                line = f"{prefix}{g.name}={shown}  {first_sentence(field_docs(cls)[g.name])}"
                assert line in text, line
                common.append(line)
    assert len(common) >= 10
    assert "render.width=320" in text and "[integer in [4, 65536]]" in text and "outputs/dataset" not in text
    assert "docs/config.md" in text and "docs/dataset.md" in text and "Examples:" in text
    assert not cli.bpy_imported and not list(cli.cwd.iterdir())


def test_output_dir_run_leaves_nothing_in_the_working_directory(cli):
    """No outputs/DATE/TIME/.hydra and no simgen.log in the cwd: the run's log is in the dataset."""
    result = cli(*TINY, guard=False, run_dir=False)
    assert result.returncode == 0, result.stderr
    assert not list(cli.cwd.iterdir()), f"the working directory got {list(cli.cwd.iterdir())}"
    log_text = (cli.out / "logs" / "simgen.log").read_text()
    assert "Cycles device" in log_text, log_text
    assert not (cli.out / ".hydra").exists() and not (cli.out / "simgen.log").exists()
    assert (cli.out / "images" / "000000.png").is_file()


# ------------------------------------------------------------------ tiny renders


def test_tiny_run_from_another_directory(cli):
    result = cli(*TINY, "output.dir=dataset", guard=False, output=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = cli.cwd / "dataset"  # relative output.dir: relative to the working directory
    assert f"simgen: dataset in {out}" in result.stdout, result.stdout
    for name in ("images/000000.png", "coco.json", "dataset.json", "meta/000000.json"):
        assert (out / name).is_file(), name
    assert not (out / "images" / "000001.png").exists()
    coco = json.loads((out / "coco.json").read_text())
    assert [im["file_name"] for im in coco["images"]] == ["images/000000.png"]
    assert (cli.tmp / "hydra" / ".hydra" / "config.yaml").is_file(), "Hydra's run folder is not hydra.run.dir"
    assert (out / "logs" / "simgen.log").is_file() and not list(cli.cwd.glob("*.log"))


def test_user_meshes_from_a_folder(cli):
    meshes = cli.tmp / "gadgets"
    _box(meshes / "cube.obj", 0.12)
    (meshes / "sub").mkdir()
    trimesh.creation.cylinder(radius=0.05, height=0.15).export(meshes / "sub" / "can.stl")
    # a render like any other (the console script's own renders are the tests above): in the worker's served
    # child (conftest.simgen_cli), without a process start and Blender's of its own
    from conftest import simgen_cli

    result = simgen_cli(f"hydra.run.dir={q(cli.tmp / 'hydra')}", f"output.dir={q(cli.out)}", *TINY,
                        "objects.catalog=null", f"objects.dirs={{gadget: {q(meshes)}}}", "objects.count=[2,3]",
                        cwd=cli.cwd)
    assert result.returncode == 0, result.stderr
    coco = json.loads((cli.out / "coco.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["gadget"]
    assert coco["annotations"], "no object visible"
    assert {a["category_id"] for a in coco["annotations"]} == {coco["categories"][0]["id"]}
    assert (cli.out / "images" / "000000.png").is_file()


def test_commands_that_load_no_mesh_start_without_trimesh(tmp_path):
    """trimesh, with the scipy and networkx it brings (about half a second of every start on 2
    cores), is imported where a mesh is loaded: not for --help, a bad override or a render's
    settings refused before its catalog is read."""
    commands = [["--help"], ["frmaes=3"], ["frames=0", f"output.dir={tmp_path / 'out'}"]]
    code = ("import sys\nfrom simgen.cli.app import main\n"
            f"for argv in {commands!r}:\n"
            "    sys.argv = ['simgen', *argv]\n"
            "    try:\n        main()\n    except SystemExit as e:\n        assert e.code in (0, 2), e.code\n"
            "print('loaded:', sorted(m for m in ('trimesh', 'scipy', 'networkx', 'bpy') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "loaded: []", done.stdout[-500:]
    assert not (tmp_path / "out").exists()


def test_a_run_composes_its_config_once_unless_the_command_could_set_hydras_mode(tmp_path, monkeypatch, capfd):
    """Hydra composes the config a first time only to read hydra.mode: skipped where nothing can set
    it (simgen.cli.app._mode_unset), composed as Hydra does where something could."""
    import re

    from hydra._internal.hydra import Hydra
    from test_bad_inputs import run_in_process

    for path in (Path(__file__).resolve().parents[1] / "configs").rglob("*.yaml"):  # no shipped config sets it
        assert not re.search(r"^\s*mode\s*:", path.read_text(encoding="utf-8"), re.M), path
    compose, modes = Hydra.compose_config, []

    def counted(self, *args, **kwargs):
        modes.append(kwargs["run_mode"].name)
        return compose(self, *args, **kwargs)

    monkeypatch.setattr(Hydra, "compose_config", counted)
    (tmp_path / "cwd").mkdir()
    bad = [*TINY, "objects.count=[3,2]", f"output.dir={q(tmp_path / 'out')}", f"hydra.run.dir={q(tmp_path / 'h')}"]
    for extra, composed in (([], ["RUN"]), (["hydra.mode=RUN"], ["MULTIRUN", "RUN"]),
                            ([f"hydra.searchpath=[file://{tmp_path}]"], ["MULTIRUN", "RUN"])):
        modes.clear()
        code, _, err, _ = run_in_process([*bad, *extra], tmp_path / "cwd", monkeypatch, capfd)
        assert code == 2 and "objects.count=[3, 2]" in err, err  # refused after composing, as before
        assert modes == composed, (extra, modes)
    modes.clear()  # a config of the user's could set it: Hydra reads it first
    code, _, err, _ = run_in_process(["--config-dir", str(tmp_path), "--config-name", "none", *bad],
                                     tmp_path / "cwd", monkeypatch, capfd)
    assert code == 2 and modes[:1] == ["MULTIRUN"], (modes, err)


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """``simgen --help | head -1``: the pipe closes before the help is written; no traceback."""
    import os

    read, write = os.pipe()
    os.close(read)  # the reader is gone before simgen writes
    r = subprocess.run([str(SCRIPT), "--help"], stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(write)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "BrokenPipeError" not in r.stderr, r.stderr
