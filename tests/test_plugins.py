"""One registry mechanism (simgen.registry) for recipes, label kinds, export formats and
trainers: a user's package adds its own through an entry point (found by importlib.metadata in a
``*.dist-info/entry_points.txt`` on sys.path, as pip would install it) or a dotted path, and a run
uses them; an unknown name is one line listing the choices, a broken plugin one line naming it."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_settings
from simgen import SimgenError
from simgen.registry import Registry, UnknownName
from simgen.experiment.trainers import TRAINERS
from simgen.io.formats.exporters import EXPORTERS
from simgen.labels.kinds import LABEL_KINDS
from simgen.recipes import RECIPES

ROOT = Path(__file__).resolve().parents[1]
DR_GAP = ROOT / "configs" / "study" / "dr_gap.yaml"
PACKAGE = "simgen_testplug"

KINDS = '''
import numpy as np
from simgen.labels.kinds import LabelKind


def edges(labels, ctx):
    ids = labels.instance
    out = np.zeros(ids.shape, np.uint8)
    out[:, :-1][ids[:, :-1] != ids[:, 1:]] = 255
    out[:-1, :][ids[:-1, :] != ids[1:, :]] = 255
    return out


EDGES = LabelKind("edges", "255 where the right or lower neighbour has another instance id", "uint8", 0,
                  "edges", ".png", compute=edges)
SILHOUETTE = LabelKind("silhouette", "255 where an object is hit", "uint8", 0, "silhouette", ".png",
                       compute=lambda labels, ctx: (labels.instance > 0).astype(np.uint8) * 255)
'''

FORMATS = '''
import json
from simgen.io.formats.exporters import Exporter


def _ids(root, index, splits):
    (root / "ids_txt").mkdir(exist_ok=True)
    names = [im["file_name"] for chunk in index.chunks() for im in chunk["images"]]
    (root / "ids_txt" / "images.txt").write_text("".join(n + "\\n" for n in names))


def _count(root, index, splits):
    (root / "count_json").mkdir(exist_ok=True)
    (root / "count_json" / "count.json").write_text(json.dumps({"images": index.images, "splits": splits}))


IDS_TXT = Exporter("ids_txt", "DIR/ids_txt/images.txt: the image files, one a line", finish=_ids)
COUNT_JSON = Exporter("count_json", "DIR/count_json/count.json: how many images", finish=_count)
'''

TRAINING = '''
import sys
from simgen.experiment.trainers import Trainer

ECHO = Trainer("echo", "prints its spec", command=lambda run: ([sys.executable, "-c", "pass"], {"arm": run.arm}))
'''

SCENE = '''
import dataclasses
from simgen.recipes import Recipe
from simgen.scenes.tabletop import RECIPE as TABLETOP, Config as TabletopConfig

Config = dataclasses.make_dataclass("Config", [("recipe", str, dataclasses.field(default="plugscene"))],
                                    bases=(TabletopConfig,))
RECIPE = Recipe(name="plugscene", Config=Config, make_sequence=TABLETOP.make_sequence, check=TABLETOP.check)
'''

ENTRY_POINTS = f'''
[simgen.label_kinds]
edges = {PACKAGE}.kinds:EDGES

[simgen.exporters]
ids_txt = {PACKAGE}.formats:IDS_TXT

[simgen.trainers]
echo = {PACKAGE}.training:ECHO

[simgen.recipes]
plugscene = {PACKAGE}.scene
'''


def install(site: Path, name: str, entry_points: str, modules: dict[str, str]) -> None:
    """A package ``modules`` and its dist-info (METADATA, entry_points.txt) in the folder ``site``."""
    pkg = site / PACKAGE
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    for module, source in modules.items():
        (pkg / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


REGISTRIES = (LABEL_KINDS, EXPORTERS, TRAINERS, RECIPES)


@pytest.fixture
def clean_registries(monkeypatch):
    """What the test registers or loads is forgotten after it (and the entry points looked up again)."""
    for reg in REGISTRIES:
        for attr in ("_entries", "_aliases", "_path_only", "_from_plugins"):
            monkeypatch.setattr(reg, attr, type(getattr(reg, attr))(getattr(reg, attr)))
        monkeypatch.setattr(reg, "_plugins", None)
    yield
    for key in [k for k in sys.modules if k.split(".")[0] == PACKAGE]:
        del sys.modules[key]


@pytest.fixture
def plugins(tmp_path, monkeypatch, clean_registries) -> Path:
    """simgen-testplug installed (on sys.path): a label kind, an export format, a trainer and a
    recipe by entry point, and more objects in its modules to name by dotted path."""
    site = tmp_path / "site"
    install(site, "simgen_testplug", ENTRY_POINTS,
            {"kinds": KINDS, "formats": FORMATS, "training": TRAINING, "scene": SCENE})
    monkeypatch.syspath_prepend(str(site))
    return site


# ------------------------------------------------------------------ the registry itself


def test_register_get_names_and_one_line_errors():
    reg: Registry = Registry("widget", "simgen.test_widgets")
    reg.register("round", 1)

    @reg.register("square")
    def square():
        return 2

    assert reg.names() == ["round", "square"] and reg.get("square") is square and reg["round"] == 1
    assert "round" in reg and "oval" not in reg and list(reg) == ["round", "square"]
    with pytest.raises(UnknownName) as e:
        reg.get("rond")
    assert str(e.value).startswith("unknown widget 'rond'; choose one of ['round', 'square']; did you mean 'round'?")
    assert "simgen.test_widgets" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(SimgenError, match="name 'round' is taken"):
        reg.register("round", 3)
    reg.register("round", 1)  # the same object again: fine


def test_dotted_paths_both_forms_and_what_can_go_wrong(tmp_path, monkeypatch):
    (tmp_path / "widgetmod.py").write_text("SHAPE = 'hexagon'\nWIDGET = 'star'\n")
    (tmp_path / "widgetpkg").mkdir()
    (tmp_path / "widgetpkg" / "__init__.py").write_text("")
    (tmp_path / "widgetpkg" / "shapes.py").write_text("WIDGET = 'star'\n")
    (tmp_path / "brokenmod.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry = Registry("widget", "simgen.test_widgets", attr="WIDGET")
    assert reg.get("widgetmod:SHAPE") == "hexagon" and reg.get("widgetmod.SHAPE") == "hexagon"
    assert reg.get("widgetpkg.shapes") == "star"  # a module stands for its WIDGET
    assert reg.names() == []  # reached by a path, not listed
    with pytest.raises(UnknownName, match="unknown widget 'widgetmod'"):
        reg.get("widgetmod")  # no dot: a name, not a path
    with pytest.raises(UnknownName, match=r"unknown widget 'nomod\.X'.*no module named 'nomod'"):
        reg.get("nomod.X")
    with pytest.raises(SimgenError, match=r"^widget brokenmod:X cannot be imported: ModuleNotFoundError: No module "
                                          r"named 'no_such_dependency_xyz'$"):
        reg.get("brokenmod:X")
    with pytest.raises(SimgenError, match=r"widget widgetmod:NOPE: module widgetmod has no 'NOPE'"):
        reg.get("widgetmod:NOPE")
    for key in ("widgetmod", "brokenmod", "widgetpkg", "widgetpkg.shapes"):
        sys.modules.pop(key, None)


def test_a_malformed_plugin_object_is_one_line_naming_it(tmp_path, monkeypatch, clean_registries):
    (tmp_path / "badkinds.py").write_text(textwrap.dedent('''
        from simgen.labels.kinds import LabelKind
        NO_COMPUTE = LabelKind("nocompute", "no compute", "uint8", 0, "nocompute", ".png")
        ON_DEPTH = LabelKind("ondepth", "writes into depth/", "uint8", 0, "depth", ".png", compute=lambda l, c: 0)
        NOT_A_KIND = 42
        '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    for path, words in (("badkinds:NO_COMPUTE", "label kind badkinds:NO_COMPUTE needs a compute function"),
                        ("badkinds:ON_DEPTH", "label kind badkinds:ON_DEPTH: folder 'depth' must be a plain name "
                                              "that is not one of simgen's own"),
                        ("badkinds:NOT_A_KIND", "label kind badkinds:NOT_A_KIND is not a simgen.labels.kinds.LabelKind")):
        with pytest.raises(SimgenError) as e:
            LABEL_KINDS.get(path)
        assert str(e.value).startswith(words) and "\n" not in str(e.value)
    sys.modules.pop("badkinds", None)


# ------------------------------------------------------------------ plugins in a run


def test_plugin_label_kinds_and_formats_by_entry_point_and_dotted_path_in_a_run(plugins, tmp_path):
    from simgen.io.dataset.layout import read_frame
    from simgen.pipeline import run
    from simgen.report.validate import validate

    assert "edges" in LABEL_KINDS.names() and "ids_txt" in EXPORTERS.names()  # listed before they are loaded
    out = tmp_path / "out"
    s = tiny_settings(out, frames=1, width=64, height=48, samples=1)
    s.output.labels = ["edges", f"{PACKAGE}.kinds:SILHOUETTE"]
    s.output.formats = ["coco", "ids_txt", f"{PACKAGE}.formats.COUNT_JSON"]
    summary = run(s)
    assert summary.images == 1
    frame = read_frame(out, 0)
    inst = frame["instance"]
    assert (out / "edges" / "000000.png").is_file() and (out / "silhouette" / "000000.png").is_file()
    assert frame["edges"].dtype == np.uint8 and frame["edges"].shape == (48, 64)
    assert np.array_equal(frame["silhouette"] > 0, inst > 0) and inst.any()
    horizontal = np.zeros(inst.shape, bool)
    horizontal[:, :-1] = inst[:, :-1] != inst[:, 1:]
    assert np.all(frame["edges"][horizontal] == 255) and (frame["edges"] == 0).any()
    assert (out / "ids_txt" / "images.txt").read_text() == "images/000000.png\n"
    assert json.loads((out / "count_json" / "count.json").read_text())["images"] == 1
    assert json.loads((out / "coco.json").read_text())["images"][0]["file_name"] == "images/000000.png"
    report = validate(out)
    assert report.ok, report.text(out, False)


def test_unknown_names_are_one_line_errors_listing_the_plugins(plugins, tmp_path):
    from simgen.pipeline import run

    s = tiny_settings(tmp_path / "out", frames=1, width=64, height=48, samples=1)
    s.output.labels = ["edgez"]
    with pytest.raises(SimgenError) as e:
        run(s)
    msg = str(e.value)
    assert msg.startswith("output.labels=['edgez']: unknown label kind(s) ['edgez']; choose from ['rgb', ")
    from simgen.labels.kinds import LABEL_KINDS

    listed = ", ".join(repr(n) for n in LABEL_KINDS.names())  # simgen's own (the sensors' too), then the plugin's
    assert "'amodal', 'keypoints', 'distance', 'right', 'disparity', 'occluded', 'linear', 'lights', 'tracks', " in listed
    assert listed.endswith(", 'edges'")
    assert f"choose from [{listed}]; did you mean 'edges'?" in msg and "\n" not in msg
    s.output.labels, s.output.formats = [], ["ids_tx"]
    with pytest.raises(SimgenError, match=r"output.formats=\['ids_tx'\]: unknown dataset format\(s\) \['ids_tx'\]; "
                                          r"choose from \['coco', 'yolo', 'yolo_seg', 'yolo_pose', 'bop', 'kitti_stereo', 'middlebury', 'nerfstudio', 'mot', 'tracks', 'tapvid', 'webdataset', 'parquet', 'ids_txt'\]; did you mean 'ids_txt'"):
        run(s)
    s.output.formats = [f"{PACKAGE}.nothere:X"]
    with pytest.raises(SimgenError, match=rf"output.formats=\['{PACKAGE}.nothere:X'\]: unknown export format "
                                          rf"'{PACKAGE}.nothere:X'.*no module named '{PACKAGE}.nothere'"):
        run(s)
    assert not (tmp_path / "out").exists()


def test_a_broken_plugin_is_one_line_naming_it(tmp_path, monkeypatch, clean_registries):
    from simgen.pipeline import run

    s = tiny_settings(tmp_path / "out", frames=1, width=64, height=48, samples=1)  # validated before the plugin
    site = tmp_path / "site"
    install(site, "simgen_brokenplug", f"[simgen.label_kinds]\nwobbly = {PACKAGE}.kinds:WOBBLY\n",
            {"kinds": "raise RuntimeError('the plugin fails at import')\n"})
    monkeypatch.syspath_prepend(str(site))
    s.output.labels = ["wobbly"]
    with pytest.raises(SimgenError) as e:
        run(s)
    assert str(e.value) == (f"output.labels=['wobbly']: label kind plugin 'wobbly' ({PACKAGE}.kinds:WOBBLY from "
                            "simgen_brokenplug 0.1) cannot be loaded: RuntimeError: the plugin fails at import")


def test_plugin_trainers_and_recipes(plugins):
    from simgen.experiment.config import load_study
    from simgen.experiment.runner import plan_datasets
    from simgen.recipes import available, load_recipe

    assert load_study(DR_GAP, ["study.trainer.name=echo"]).trainer.name == "echo"
    dotted = load_study(DR_GAP, [f"study.trainer.name={PACKAGE}.training:ECHO"])
    assert TRAINERS.get(dotted.trainer.name).name == "echo"
    assert all("output.formats" not in " ".join(d.overrides) for d in plan_datasets(dotted, [], Path("/x")))
    with pytest.raises(SimgenError, match=r"study.trainer.name='ecko': unknown value; use one of torchvision, "
                                          r"ultralytics, echo"):
        load_study(DR_GAP, ["study.trainer.name=ecko"])
    with pytest.raises(SimgenError, match=r"study.arms.wide.real=0.5: mixing real images needs a trainer that trains "
                                          r"on them"):
        load_study(DR_GAP, ["study.trainer.name=echo", "study.arms.wide.real=0.5", f"study.real.coco={DR_GAP}"])
    assert available() == ["bin_picking", "environment", "flying", "tabletop", "plugscene"]
    recipe = load_recipe("plugscene")
    assert recipe.name == "plugscene" and recipe.Config().recipe == "plugscene"
    from simgen.compose.store import compose
    from simgen.compose.settings import to_settings

    composed = compose(["scene=plugscene", "output.dir=/tmp/x"])  # a plugin's recipe is an option of scene
    assert composed.scene.recipe == "plugscene" and isinstance(to_settings(composed).scene, recipe.Config)


def test_every_shipped_recipe_is_registered():
    """scenes/NAME.py is a recipe only once registered (simgen.recipes.BUILTIN): none is forgotten."""
    from simgen.recipes import BUILTIN

    shipped = sorted(p.stem for p in (ROOT / "scenes").glob("*.py") if not p.stem.startswith("_"))
    assert list(BUILTIN) == shipped
    assert RECIPES.names(plugins=False)[:len(shipped)] == shipped
