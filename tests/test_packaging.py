"""simgen as a package, not a checkout: the wheel carries every module, config, bundled asset
and recipe, and every package simgen imports is declared in pyproject.toml.

Installing the built wheel into a fresh environment and rendering from outside the repository
is ``scripts/check_wheel.sh`` (CI runs it after the suite: it installs ~1 GB of dependencies).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]

MODULE_DISTRIBUTION = {"OpenEXR": "openexr", "mathutils": "bpy", "bmesh": "bpy", "cycles": "bpy", "addon_utils": "bpy", "pxr": "bpy"}
"""Import names that importlib.metadata does not map to their distribution (extension modules,
``cycles``: Blender's Cycles add-on inside the bpy wheel, simgen.blender.lens_camera's, and ``pxr``:
the USD modules the bpy wheel carries beside its Python, simgen.blender.environment's)."""
OTHER_INTERPRETER = {"simgen/experiment/yolo_trainer.py"}
"""Run by another interpreter (the Ultralytics environment), not by simgen's own."""


def tracked(*folders: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", "--", *folders], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    return [f for f in out.stdout.splitlines() if (ROOT / f).is_file()]


def requirement_name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_every_package_folder_is_listed():
    listed = set(SETUPTOOLS["packages"])
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "simgen").rglob("__init__.py")}
    assert folders - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    outside = {name for name in SETUPTOOLS["package-dir"] if name != "simgen"}  # scenes/, configs/, assets/
    assert listed - folders - outside == set(), "no such package folder: remove these from pyproject.toml's packages"
    assert SETUPTOOLS["package-dir"] == {"simgen": "simgen", "simgen.scenes": "scenes",
                                         "simgen.configs": "configs", "simgen.bundled": "assets"}


def test_the_version_is_pyprojects():
    """pyproject.toml states the version; simgen/version.py (``simgen.__version__``, what a dataset
    records as the version that made it) states the same."""
    import simgen
    from simgen.version import __version__

    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", __version__)
    assert PYPROJECT["project"]["version"] == __version__ and simgen.__version__ is __version__


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(out), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (path,) = out.glob("simgen-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_carries_code_configs_assets_and_recipes(wheel):
    names = set(wheel.namelist())
    where = {"simgen/": "simgen/", "scenes/": "simgen/scenes/", "configs/": "simgen/configs/",
             "assets/": "simgen/bundled/"}
    expected = set()
    for f in tracked("simgen", "scenes", "configs", "assets"):
        top = f.split("/", 1)[0] + "/"
        if top in ("simgen/", "scenes/") and not f.endswith(".py"):
            continue
        expected.add(where[top] + f.split("/", 1)[1])
    assert expected - names == set()
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"simgen"}  # no top-level scenes
    entry = wheel.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "simgen = simgen.cli:main" in entry


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level name, lazy) of each absolute import in ``path``: lazy when inside a function
    or under ``if TYPE_CHECKING:``."""
    out: list[tuple[str, bool]] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.Import):
            out.extend((a.name.split(".")[0], lazy) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module.split(".")[0], lazy))
        inner = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or (
            isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test))  # never runs
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(path.read_text()), False)
    return out


def test_every_imported_package_is_declared():
    """A module's import of a third-party package is a base dependency, or, when it is only in an
    extra, the import is lazy (inside a function) or the module is simgen.torch (the torch extra's
    own package): ``import simgen`` and the CLI work with the base install alone."""
    project = PYPROJECT["project"]
    base = {requirement_name(r) for r in project["dependencies"]}
    extras = {requirement_name(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    dists = packages_distributions()
    problems = []
    for path in sorted((ROOT / "simgen").rglob("*.py")) + sorted((ROOT / "scenes").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in OTHER_INTERPRETER:
            continue
        for top, lazy in _imports(path):
            if top in sys.stdlib_module_names or top in ("simgen", "scenes", "__future__"):
                continue
            names = {MODULE_DISTRIBUTION.get(top, "").lower()} | {d.lower() for d in dists.get(top, [])}
            names = {n.replace("_", "-") for n in names if n}
            if names & base:
                continue
            if names & extras and (lazy or rel.startswith("simgen/torch/")):
                continue
            problems.append(f"{rel}: {top} ({', '.join(sorted(names)) or 'no distribution'})")
    assert problems == []


def test_dependencies_have_upper_bounds():
    """simgen uses each dependency's API: a new major release must be tried before users get it."""
    reqs = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["torch"]
    assert [r for r in reqs if not re.search(r"(<|==)\s*\d", r)] == []


def test_the_tests_import_this_checkout():
    """simgen and its recipes come from this checkout (an editable install of another checkout, a
    git worktree say, maps simgen.scenes to that one: reinstall with `pip install -e .` here)."""
    import simgen
    import simgen.scenes

    assert Path(simgen.__file__).resolve().parent == ROOT / "simgen"
    assert [Path(p).resolve() for p in simgen.scenes.__path__] == [ROOT / "scenes"]
