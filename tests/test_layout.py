"""The import graph of simgen and the recipes: no circles, no imports that run back up the
layers, and only simgen/blender imports Blender.

Every import statement counts, those inside functions too (a function-level import
still ties the modules together) and those under ``if TYPE_CHECKING:`` (they never run, but a
module that names another's types depends on it just the same: a lower layer that needs a
higher one's type takes a Protocol of its own instead). Recipes, label kinds, export formats
and trainers of a user's package are loaded by name through simgen.registry (entry
points, dotted paths), which is the plugin mechanism, not an import; simgen's own recipes are
registered there by module name (simgen.recipes), the only names not imported directly.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLENDER_MODULES = {"bpy", "mathutils", "bmesh"}

LAYERS: list[tuple[str, ...]] = [
    ("simgen", "simgen.scene", "simgen.optics", "simgen.color"),  # errors, the version, scene data, camera maths,
                                                                # the tone curve, paths read from data kept in
                                                                # their folder (safe_paths)
    ("simgen.config",),                                         # the declared settings (the package, schema.py)
    ("simgen.assets", "simgen.labels", "simgen.progress",       # catalog and meshes; pixels -> labels;
     "simgen.sensors"),                                         # labels -> what a real sensor returns
    ("simgen.io", "simgen.sampling", "simgen.imaging"),         # file mechanics; samplers; RGB effects
    ("simgen.io.formats",),                                     # export formats (from the COCO index)
    ("simgen.io.dataset",),                                     # the dataset's layout: writer, reader, index, merge
    ("simgen.report",),                                         # inspect, validate, compare datasets on disk
    ("simgen.recipes",),                                        # the recipe protocol and loader
    ("simgen.scenes",),                                         # the recipes themselves (scenes/)
    ("simgen.blender",),                                        # the bpy boundary
    ("simgen.compose",),                                      # config -> validated Settings, Hydra's groups, the
                                                                # settings' catalog (they know the recipes: above them)
    ("simgen.pipeline",),                                       # the frame loop: a run from its checked settings
    ("simgen.experiment",),                                     # studies: render arms, train, score
    ("simgen.fit",),                                            # fits: search settings (objective=ap runs a study)
    ("simgen.cli",),                                            # the Hydra entry point
    ("simgen.api",),                                            # the Python API: the commands as functions
    ("simgen.torch",),                                          # optional extra (torch), on top: no other module imports it
]
"""Lowest first: a module may import its own layer's and lower layers' modules only. A module's
layer is that of the longest name listed that it is or is under: simgen.io.formats and
simgen.io.dataset sit above the rest of simgen.io."""
LAZY_EXPORTS = {("simgen", "simgen.api")}
"""(package, module) imports that run back up the layers on purpose: ``simgen.render`` and the other
names of the Python API are simgen.api's, imported by simgen's module ``__getattr__`` on first use,
never by ``import simgen`` (test_the_api_is_imported_on_first_use_only checks both)."""


def module_name(path: Path) -> str:
    """The module a source file installs as: ``scenes/`` is the package ``simgen.scenes``."""
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    if parts[0] == "scenes":
        parts = ("simgen", *parts)
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    best, rank = -1, None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    return rank


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or \
        (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def imports_of(path: Path, module: str, type_checking: bool = True) -> set[str]:
    """Absolute names of the modules imported by ``path``; ``type_checking=False`` leaves out
    the ``if TYPE_CHECKING:`` blocks (imports that never run)."""
    out: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and not type_checking and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import submodule`
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return out


@functools.lru_cache(maxsize=1)
def graph() -> dict[str, set[str]]:
    files = sorted((ROOT / "simgen").rglob("*.py")) + sorted((ROOT / "scenes").rglob("*.py"))
    modules = {module_name(p): p for p in files}
    return {m: {i for i in imports_of(p, m) if i in modules or i.split(".")[0] in BLENDER_MODULES}
            for m, p in modules.items()}


def test_only_simgen_blender_imports_bpy():
    offenders = {m: sorted(i for i in deps if i.split(".")[0] in BLENDER_MODULES)
                 for m, deps in graph().items() if not m.startswith("simgen.blender")}
    assert not {m: d for m, d in offenders.items() if d}


def test_every_module_has_a_layer():
    assert [m for m in graph() if layer_of(m) is None] == []


def test_no_upward_imports():
    upward = []
    for m, deps in graph().items():
        for d in deps:
            if d.split(".")[0] in BLENDER_MODULES or d == m or m.startswith(d + "."):
                continue  # a package's own __init__ (simgen.x -> simgen) is below it anyway
            if layer_of(d) > layer_of(m) and (m, d) not in LAZY_EXPORTS:
                upward.append(f"{m} -> {d}")
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_no_module_imports_the_package_itself():
    """The ground floor holds what every module may read, the version too (simgen/version.py): no
    module of simgen imports the package's ``__init__`` (which imports simgen.api lazily, so such
    an import would close a loop through the top)."""
    assert "simgen" in graph() and "simgen.version" in graph()["simgen"]
    assert sorted(m for m, deps in graph().items() if "simgen" in deps and m != "simgen") == []


def test_the_api_is_imported_on_first_use_only():
    """simgen/__init__.py imports simgen.api only inside its module ``__getattr__``; ``import
    simgen`` loads none of the API, Hydra, torch or Blender, and ``simgen.render`` then works."""
    import subprocess
    import sys

    for package, module in LAZY_EXPORTS:
        path = ROOT / Path(*package.split(".")) / "__init__.py"
        tree = ast.parse(path.read_text())
        lazy = [f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "__getattr__"]
        top = ast.Module(body=[n for n in tree.body if n not in lazy], type_ignores=[])
        assert len(lazy) == 1
        assert module in {i for f in lazy for i in _imports(f, package)}
        assert module not in _imports(top, package)
    code = ("import sys, simgen\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'hydra', 'omegaconf', 'torch', 'bpy'}), "
            "'simgen.api' in sys.modules)\n"
            "print(simgen.render.__module__, simgen.Dataset.__module__, 'render' in dir(simgen))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split("\n")[:2] == ["[] False", "simgen.api simgen.io.dataset.reader True"]


def _imports(node: ast.AST, package: str) -> set[str]:
    """The modules ``node``'s import statements name (relative ones resolved in ``package``)."""
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Import):
            out.update(a.name for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - n.level + 1] + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in n.names)
    return out


def circles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module of the import graph ``g``."""
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            strongconnect(v)
    return cycles


def test_no_import_circles():
    g = {m: {d for d in deps if d in graph()} - {m} for m, deps in graph().items()}
    # a package imports its submodules (re-exports): that is not a circle with them
    g = {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in g.items()}
    cycles = circles(g)
    assert not cycles, f"import circles: {cycles}"


def test_the_frame_loop_reaches_blender_only_through_the_runner():
    """simgen.pipeline renders through its Renderer protocol: only the runner, whose default
    renderer factory makes the Blender session, imports simgen.blender."""
    reach = {m for m, deps in graph().items() if m.startswith("simgen.pipeline")
             and any(d == "simgen.blender" or d.startswith("simgen.blender.") for d in deps)}
    assert reach == {"simgen.pipeline.runner"}


def test_the_checker_sees_violations(tmp_path):
    """The checks above could fail: an upward import and a circle are found in made-up code."""
    fake = ROOT / "simgen" / "scene" / "data.py"
    deps = imports_of(fake, "simgen.scene.data")
    assert all(layer_of(d) <= layer_of("simgen.scene.data") for d in deps if d in graph())
    assert layer_of("simgen.pipeline") > layer_of("simgen.config") > layer_of("simgen.scene.data")
    src = "def f():\n    from simgen.pipeline import run\nif TYPE_CHECKING:\n    import simgen.cli\n"
    probe = tmp_path / "probe.py"
    probe.write_text(src)
    found = imports_of(probe, "simgen.scene.probe")
    assert "simgen.pipeline" in found and "simgen.cli" in found  # a TYPE_CHECKING import counts too
    assert "simgen.cli" not in imports_of(probe, "simgen.scene.probe", type_checking=False)
    # two modules that import each other, one of them only for type checking, are a circle
    (tmp_path / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                   "    from simgen.scene.b import Y\n")
    (tmp_path / "b.py").write_text("from simgen.scene.a import X\n")
    g = {f"simgen.scene.{n}": imports_of(tmp_path / f"{n}.py", f"simgen.scene.{n}") for n in ("a", "b")}
    assert circles({m: {d for d in deps if d in g} for m, deps in g.items()}) == [["simgen.scene.a", "simgen.scene.b"]]


def test_yolo_trainer_is_self_contained():
    """simgen/experiment/yolo_trainer.py runs in another interpreter (one with ultralytics, not
    simgen): it imports the standard library, numpy, ultralytics and torch only."""
    import sys

    path = ROOT / "simgen" / "experiment" / "yolo_trainer.py"
    tops = {i.split(".")[0] for i in imports_of(path, "simgen.experiment.yolo_trainer")}
    assert "ultralytics" in tops
    assert sorted(t for t in tops if t not in sys.stdlib_module_names and t not in {"numpy", "ultralytics", "torch"}) \
        == []


def test_the_imports_of_a_recipe_written_before_the_builder_still_resolve():
    """The own-recipe tutorial's recipe before simgen.recipes was its one module imported these (the
    scene's data and the bundled assets' folder from where they live now); each still resolves, so
    such a recipe runs."""
    code = (
        "from simgen.assets import load_mesh\n"
        "from simgen.assets.environment import FILE_LOOK, load_environment\n"
        "from simgen.config import SettleConfig\n"
        "from simgen.config.schema import setting, span\n"
        "from simgen.paths import ASSET_DIR\n"
        "from simgen.recipes import SHORTFALL, Recipe\n"
        "from simgen.sampling.camera import draw_camera, sample_shell\n"
        "from simgen.sampling.lighting import sample_lights\n"
        "from simgen.sampling.materials import sample_material\n"
        "from simgen.sampling.objects import object_name, pick_objects, posed_model\n"
        "from simgen.sampling.physics import bounding_sphere, box_volume, drop_pose, rigid_body, settling, "
        "world_colliders\n"
        "from simgen.sampling.random import integer, random_rotation, uniform\n"
        "from simgen.sampling.surfaces import find_surfaces, place_on_surfaces\n"
        "from simgen.scene.data import Scene, SceneObject\n"
        "from simgen.scene.meshes import ArticulatedMesh\n"
        "import simgen.recipes as r\n"
        "assert Scene is r.Scene and SceneObject is r.SceneObject and ASSET_DIR == r.ASSET_DIR\n"
        "print('ok')\n")
    assert_prints_ok(code)


def assert_prints_ok(code: str) -> None:
    """Run ``code`` in a fresh interpreter (nothing of simgen imported yet) and expect it to print ok."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
