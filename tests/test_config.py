"""Hydra's config groups against the declared schema in simgen.config (pure, no rendering).

* each group's default option is its dataclass (simgen.compose.store registers it): composing
  the defaults gives the dataclass defaults, value for value and type for type, and no YAML
  file restates them;
* every other option file names its group's default as its base and states only keys that
  exist and differ from the declared defaults; composed, it is the defaults with its values;
* every option of every config group composes and converts with ``to_settings``;
* every field is declared (a rule and a docstring), its default obeys its declaration, and the
  one validator rejects NaN, inf, out-of-bounds and badly shaped values of every field;
* the cross-field checks raise one-line SimgenErrors; simgen.config imports no recipe.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import functools
import inspect
import math
import subprocess
import sys
import typing
from dataclasses import asdict
from pathlib import Path

import pytest
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

import simgen.config
import simgen.compose.store
from simgen import SimgenError
from simgen.config import DEVICES, RUN_FOLDER, RenderConfig, Settings
from simgen.compose.store import default_options, groups, options, registered
from simgen.paths import CONFIG_DIR
from simgen.experiment.config import is_study_file
from simgen.config.schema import check_fields, field_docs, rule_of
from simgen.compose.settings import default_scene, default_settings, to_settings, validate
from simgen.recipes import BUILTIN, load_recipe

GLOBAL_GROUPS = ("experiment",)
"""Groups of ``# @package _global_`` overlays (default: none) that set keys of any group;
they have no field in Settings."""
ALL_OPTIONS = options()
GROUPS = sorted(g for g in ALL_OPTIONS if g not in GLOBAL_GROUPS)
OPTIONS = [(g, o) for g in [*GROUPS, *GLOBAL_GROUPS] for o in ALL_OPTIONS[g]
           if not is_study_file(CONFIG_DIR / g / f"{o}.yaml")]  # a study is no option (simgen study NAME:
#                                                                  tests/test_study_command.py), never composed
SCHEMA_OPTIONS = [(g, o) for g, o in OPTIONS if g in GROUPS]
FILE_OPTIONS = [(g, o) for g, o in SCHEMA_OPTIONS if registered(g, o) is None]
TOP_LEVEL = [f.name for f in dataclasses.fields(Settings) if not dataclasses.is_dataclass(f.type)
             and f.name not in GROUPS]

# Where the composed config spells a default otherwise than the dataclass (simgen.compose.store):
# on the command line the dataset goes to Hydra's run folder, which only exists inside a Hydra
# run, and the {name: value} settings (of objects, people.bvh_joints) are null (Hydra's struct mode only lets
# ``objects.dirs={a: b}`` set a null, not add keys to an empty dict), read as {}.
COMPOSED_SPELLINGS = {("output", "dir"): (RUN_FOLDER, "outputs/dataset"),
                      **{("objects", k): (None, {}) for k in ("dirs", "weights", "min_per_frame", "max_per_frame")},
                      ("scene", "labels"): (None, {}), ("people", "bvh_joints"): (None, {})}


@functools.lru_cache(maxsize=None)
def _composed(overrides: tuple[str, ...], return_hydra_config: bool):
    return simgen.compose.store.compose(overrides, return_hydra_config=return_hydra_config)


def _compose(overrides=(), return_hydra_config=False):
    """A fresh copy of the composed config (composing costs ~0.2 s, so it is cached)."""
    return copy.deepcopy(_composed(tuple(overrides), return_hydra_config))


def _settings(tmp_path, overrides=()):
    cfg = _compose(overrides)
    # output.dir defaults to ${hydra:runtime.output_dir}, which only resolves inside a run
    cfg.output.dir = str(tmp_path / "out")
    return to_settings(cfg)


def _schema_of(group: str, option: str) -> object:
    """The dataclass instance holding the declared defaults of ``group`` (for scene: the recipe
    the option composes to)."""
    return getattr(Settings(scene=default_scene(str(_compose([f"{group}={option}"]).scene.recipe))), group)


def _own_keys(group: str, option: str) -> tuple[list, dict]:
    """(defaults list, the keys the option file itself states)."""
    data = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / group / f"{option}.yaml"))
    return data.pop("defaults", []), data


def _same(a, b) -> bool:
    """Equal values of equal types (1 and 1.0 differ), in lists and mappings too."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


# ------------------------------------------------------------------ the groups and their options


def test_every_group_has_options_and_a_schema():
    assert GROUPS, "no config groups"
    fields = {f.name for f in dataclasses.fields(Settings)}
    for group in GROUPS:
        assert group in fields, f"config group {group} has no field in simgen.config.Settings"
        assert ALL_OPTIONS[group], f"config group {group} holds no option"
    assert set(GROUPS) == {*groups(), "scene"}


def test_each_default_option_is_its_dataclass():
    """configs/config.yaml picks an option per group; that option is the group's dataclass in
    Hydra's ConfigStore (scene: every shipped recipe's Config), and no file restates it."""
    picked = default_options()
    assert set(picked) == set(GROUPS)
    repo = ConfigStore.instance().repo
    for group, option in picked.items():
        cls = groups().get(group) or type(default_scene(option))
        assert registered(group, option) is cls
        assert f"{option}.yaml" in repo[group], f"{group}={option} is not in the ConfigStore"
        assert not (CONFIG_DIR / group / f"{option}.yaml").exists(), f"configs/{group}/{option}.yaml restates {cls}"
    for name in ALL_OPTIONS["scene"]:
        assert registered("scene", name) is type(default_scene(name))


def test_registering_twice_changes_nothing():
    before = OmegaConf.to_container(_compose(), resolve=False)
    simgen.compose.store.register()
    simgen.compose.store.register()
    assert OmegaConf.to_container(simgen.compose.store.compose(), resolve=False) == before


def test_composing_shares_the_config_store_and_changes_no_stored_node():
    """Hydra's copy of its repository before each composition takes the ConfigStore as it is
    (simgen.compose.store._the_store, a third of a refused command's time): a composition that
    overrides values of stored nodes (a group's dataclass, a recipe's Config, the top-level keys)
    leaves every stored node as it was."""
    simgen.compose.store.register()
    store = ConfigStore.instance()
    assert copy.deepcopy(store) is store and copy.deepcopy([store])[0] is store

    def nodes(repo):
        return {k: nodes(v) if isinstance(v, dict) else OmegaConf.to_container(v.node, resolve=False)
                for k, v in repo.items()}

    before = nodes(store.repo)
    cfg = _compose(["render.width=17", "objects.count=[5,6]", "objects.dirs={mine: /data}", "seed=99",
                    "scene.recipe=tabletop"])
    assert (cfg.render.width, list(cfg.objects.count), cfg.seed) == (17, [5, 6], 99)
    cfg.render.width = 23  # a composed config is the caller's own
    assert nodes(store.repo) == before
    assert _compose().render.width != 17


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_converts(tmp_path, group, option):
    s = _settings(tmp_path, [f"{group}={option}"])
    assert isinstance(s, Settings)
    assert s.output.dir == str(tmp_path / "out")


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_converts_directly_to_what_omegaconf_makes_of_it(tmp_path, group, option):
    """to_settings builds Settings from a composed config without OmegaConf's merge when every value
    has its declared type: for every option (with {name: value} settings and an int where a float is
    declared), that way is taken and gives what the merge into the declarations gives, type for type."""
    from simgen.compose.settings import _declared, _typed

    cfg = _compose([f"{group}={option}", "objects.weights={cube: 2}", "objects.dirs={mine: /data}"])
    cfg.output.dir = str(tmp_path / "out")
    values = OmegaConf.to_container(cfg)
    recipe = load_recipe(str(cfg.scene.recipe)).Config
    direct = _typed(values, recipe)
    assert direct is not None, "the direct way was not taken"
    merged = OmegaConf.to_object(OmegaConf.merge(_declared(recipe), values))
    assert _same(dataclasses.asdict(direct), dataclasses.asdict(merged))
    assert type(direct.scene) is type(merged.scene) and direct.objects.weights == {"cube": 2.0}


@pytest.mark.parametrize("path,value", [
    (("render", "samples"), "5"),  # a string OmegaConf would convert
    (("render", "samples"), True),
    (("camera", "dof_probability"), True),
    (("render", "width"), 64.0),
    (("render", "device"), 3),
    (("render", "colour"), "red"),  # a key no declaration has
    (("render", "device"), "???"),  # OmegaConf's missing value
    (("render", "device"), "${render.engine}"),  # an interpolation
    (("objects", "count"), None),
    (("objects", "weights"), {1: 2.0}),
])
def test_values_of_another_type_are_left_to_omegaconf(tmp_path, path, value):
    """What OmegaConf would convert or refuse is not built directly: to_settings then takes the
    merge, whose conversions and worded refusals (test_wrong_type_names_key_and_fix) stand."""
    from simgen.compose.settings import _typed

    values = OmegaConf.to_container(_compose())
    values["output"]["dir"] = str(tmp_path / "out")
    values[path[0]][path[1]] = value
    assert _typed(values, load_recipe("tabletop").Config) is None


@pytest.mark.parametrize("group,option", SCHEMA_OPTIONS, ids=[f"{g}={o}" for g, o in SCHEMA_OPTIONS])
def test_every_option_composes_to_every_key(group, option):
    """Every option, composed (with its base if it is a file), sets every key of its group."""
    cfg = _compose([f"{group}={option}"])
    expected = sorted(f.name for f in dataclasses.fields(_schema_of(group, option)))
    assert sorted(OmegaConf.to_container(cfg[group], resolve=False)) == expected, \
        f"{group}={option} does not compose to exactly the keys of its schema"


@pytest.mark.parametrize("group,option", FILE_OPTIONS, ids=[f"{g}={o}" for g, o in FILE_OPTIONS])
def test_option_files_state_only_what_differs(group, option):
    """An option file names its group's default (the dataclass) as its base and states only keys
    the dataclass declares, each with a value other than the declared default: adding a setting
    means declaring it, nothing else."""
    defaults, own = _own_keys(group, option)
    assert defaults == [default_options()[group], "_self_"], \
        f"configs/{group}/{option}.yaml: its defaults list must be [{default_options()[group]}, _self_]"
    declared = asdict(_schema_of(group, option))
    unknown = sorted(set(own) - set(declared))
    assert not unknown, f"configs/{group}/{option}.yaml sets {unknown}, which {group} does not declare"
    same = sorted(k for k, v in own.items() if v == declared[k])
    assert not same, f"configs/{group}/{option}.yaml restates the declared defaults of {same}"
    assert own, f"configs/{group}/{option}.yaml states nothing: it is {group}={default_options()[group]}"
    assert (CONFIG_DIR / group / f"{option}.yaml").read_text().startswith("# "), \
        f"configs/{group}/{option}.yaml: say in a comment at its top what the option is for"


@pytest.mark.parametrize("group,option", SCHEMA_OPTIONS, ids=[f"{g}={o}" for g, o in SCHEMA_OPTIONS])
def test_each_option_composes_to_the_defaults_with_its_own_values(group, option):
    """What ``group=option`` composes to is the dataclass defaults (as Hydra spells them) with
    the option file's values, and nothing else: value for value, type for type."""
    expected = asdict(_schema_of(group, option))
    for (g, key), (spelt, _) in COMPOSED_SPELLINGS.items():
        if g == group and key in expected:
            expected[key] = spelt
    if registered(group, option) is None:
        expected.update(_own_keys(group, option)[1])
    composed = OmegaConf.to_container(_compose([f"{group}={option}"])[group], resolve=False)
    diffs = {k: (composed.get(k), v) for k, v in expected.items() if not _same(composed.get(k), v)}
    assert not diffs and composed.keys() == expected.keys(), f"{group}={option} (composed, expected): {diffs}"


def test_experiments_are_global_overlays_applied_last():
    """``experiment=NAME`` works without '+' (the group is in the defaults list as null) and
    its values win over config.yaml's own (it comes after _self_). Every option is an overlay:
    a study is no experiment (configs/study/, ``simgen study NAME``)."""
    group = "experiment"
    assert group in GLOBAL_GROUPS
    defaults = OmegaConf.load(CONFIG_DIR / "config.yaml").defaults
    names = [next(iter(d)) if isinstance(d, dict) or OmegaConf.is_dict(d) else d for d in defaults]
    assert names.index(group) > names.index("_self_")
    assert defaults[names.index(group)][group] is None
    for path in sorted((CONFIG_DIR / group).glob("*.yaml")):
        assert path.read_text().startswith("# @package _global_\n"), f"{path} is not a _global_ package"
        assert not is_study_file(path), f"{path} is a study: it belongs in configs/study/ (simgen study NAME)"
    assert _compose([f"{group}=dr_ablation"]).frames == 8  # Settings says 4


def test_default_output_dir_is_hydras_run_folder(tmp_path):
    cfg = _compose(return_hydra_config=True)
    assert OmegaConf.to_container(cfg.output)["dir"] == "${hydra:runtime.output_dir}"
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(tmp_path / "run")
    HydraConfig.instance().set_config(cfg)
    try:
        assert to_settings(cfg).output.dir == str(tmp_path / "run")
    finally:
        HydraConfig.instance().cfg = None


# ------------------------------------------------------------------ composed defaults == dataclass defaults


@pytest.mark.parametrize("group", GROUPS)
def test_composed_defaults_are_the_dataclass_defaults(group):
    composed = OmegaConf.to_container(_compose()[group], resolve=False)
    declared = asdict(Settings(scene=default_scene()))[group]
    assert list(composed) == list(declared), f"{group}: composed keys differ from the dataclass's, or their order"
    diffs = {}
    for key, value in declared.items():
        if (group, key) in COMPOSED_SPELLINGS:
            assert (composed[key], value) == COMPOSED_SPELLINGS[(group, key)]
        elif not _same(composed[key], value):
            diffs[f"{group}.{key}"] = (composed[key], value)
    assert not diffs, f"composed vs dataclass default differ (composed, dataclass): {diffs}"


def test_top_level_keys_are_settings_own():
    cfg, defaults = _compose(), Settings(scene=default_scene())
    assert TOP_LEVEL == ["seed", "start", "frames"]
    for key in TOP_LEVEL:
        assert _same(cfg[key], getattr(defaults, key)), key
    composed = set(OmegaConf.to_container(_compose(), resolve=False))
    assert composed == {f.name for f in dataclasses.fields(Settings)}
    assert not set(TOP_LEVEL) & set(OmegaConf.load(CONFIG_DIR / "config.yaml")), "config.yaml restates a default"


def test_composed_defaults_convert_to_dataclass_defaults(tmp_path):
    expected = Settings(scene=default_scene())
    expected.output.dir = str(tmp_path / "out")
    assert _settings(tmp_path) == expected


def _attribute_docstring(cls: type, name: str) -> str:
    """The string literal right under ``name: ... = ...`` in ``cls``'s source."""
    tree = ast.parse(Path(inspect.getsourcefile(cls)).read_text())
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__).body
    for stmt, nxt in zip(body, body[1:]):
        if isinstance(stmt, ast.AnnAssign) and stmt.target.id == name and isinstance(nxt, ast.Expr):
            return nxt.value.value
    raise AssertionError(f"{cls.__name__}.{name} has no docstring")


def test_device_choices_documented_in_the_docstring():
    doc = _attribute_docstring(RenderConfig, "device")
    for device in DEVICES:
        assert device in doc, f"RenderConfig.device's docstring does not list {device}"


# ------------------------------------------------------------------ conversion errors


def test_objects_dirs_override_composes(tmp_path):
    """The override documented in docs/how-to/render-runs.md and in validate()'s message.

    Fails while objects.dirs composes as a typed ``{}`` (Hydra's struct mode refuses new keys:
    ``Could not override 'objects.dirs'. Key 'gadget' is not in struct``) or a typed null
    (OmegaConf cannot merge a mapping into it); simgen.compose.store.composed composes it as
    an untyped null, which to_settings reads as {}.
    """
    s = _settings(tmp_path, ["objects.catalog=null", f"objects.dirs={{gadget: '{tmp_path}'}}"])
    assert s.objects.dirs == {"gadget": str(tmp_path)}
    assert s.objects.catalog is None


def test_dirs_null_reads_as_empty(tmp_path):
    assert _settings(tmp_path, ["objects.dirs=null"]).objects.dirs == {}


@pytest.mark.parametrize("override,key,hint", [
    ("render.width=abc", "render.width", "render.width=320"),
    ("frames=1.5", "frames", "frames=4"),
    ("render.denoise=maybe", "render.denoise", "render.denoise=true"),
    ("scene.camera_distance=[a,b]", "scene.camera_distance[0]", "scene.camera_distance=[0.8,1.5]"),
    ("objects.count=5", "objects.count", "objects.count=[3,8]"),
    ("objects.dirs=5", "objects.dirs", "objects.dirs={name: value}"),
    ("+render.colour=red", "render.colour", "simgen --help lists the keys"),
    ("+render.widht=64", "render.widht", "did you mean 'render.width'?"),
    ("+frmaes=3", "frmaes", "unknown config key 'frmaes'; did you mean 'frames'?"),
    ("+colour=red", "colour", "unknown config key 'colour'; remove it"),
])
def test_wrong_type_names_key_and_fix(tmp_path, override, key, hint):
    with pytest.raises(SimgenError) as e:
        _settings(tmp_path, [override])
    msg = str(e.value)
    assert f"'{key}'" in msg and hint in msg and "\n" not in msg


# ------------------------------------------------------------------ declarations and the one validator


def _declared() -> list[tuple[str, type, dataclasses.Field, object, str]]:
    """(key, owning class, field, type, recipe) of every declared setting: the groups, the
    top-level keys and both recipes' scene keys."""
    out = []

    def walk(cls: type, prefix: str, recipe: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            t = hints[f.name]
            if isinstance(t, type) and dataclasses.is_dataclass(t):
                walk(t, f"{prefix}{f.name}.", recipe)
            elif f.name != "scene":
                out.append((f"{prefix}{f.name}", cls, f, t, recipe))

    walk(Settings, "", "tabletop")
    for recipe in ("tabletop", "flying"):
        walk(type(default_scene(recipe)), "scene.", recipe)
    return out


DECLARED = _declared()
IDS = [f"{recipe}:{key}" if key.startswith("scene.") else key for key, _, _, _, recipe in DECLARED]


def _settings_with(key: str, value, recipe: str = "tabletop") -> Settings:
    s = Settings(scene=default_scene(recipe))
    *parents, last = key.split(".")
    obj = s
    for part in parents:
        obj = getattr(obj, part)
    setattr(obj, last, value)
    return s


def _rejects(key: str, value, recipe: str, *fragments: str) -> str:
    s = _settings_with(key, value, recipe)
    with pytest.raises(SimgenError) as e:
        validate(s)
    msg = str(e.value)
    assert "\n" not in msg, msg
    assert msg.startswith(f"{key}="), msg
    assert "; e.g. " in msg, msg  # every message ends with a fix
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


def test_every_setting_is_declared_and_documented():
    assert len(DECLARED) > 100
    for key, cls, f, _, _ in DECLARED:
        assert "simgen" in f.metadata, f"{key} has no declaration (use simgen.config.schema.setting or span)"
        assert field_docs(cls).get(f.name), f"{key} has no docstring"


@pytest.mark.parametrize("recipe", sorted(BUILTIN))
def test_defaults_obey_their_declarations(recipe):
    """Every shipped recipe's defaults pass the field checks and the whole validator, which hands
    back the same settings, unchanged."""
    check_fields(Settings(scene=default_scene(recipe)))
    s = Settings(scene=default_scene(recipe))
    before = copy.deepcopy(dataclasses.asdict(s))
    assert validate(s) is s and dataclasses.asdict(s) == before


def test_default_settings_is_one_call():
    s = default_settings()
    assert s.scene.area_radius == 0.45 and s == validate(Settings())
    assert default_settings(seed=7, frames=2).frames == 2


def _kind(t) -> str:
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is list and args:
        return f"list[{args[0].__name__}]"
    return getattr(t, "__name__", str(t))


@pytest.mark.parametrize("key,cls,f,t,recipe", DECLARED, ids=IDS)
def test_validator_rejects_nan_inf_and_out_of_bounds(key, cls, f, t, recipe):
    """Derived from each declaration: NaN and inf wherever a number goes, a value just past each
    bound, a range of the wrong length or order, an unknown choice, an empty list of choices."""
    r = rule_of(f)
    default = copy.deepcopy(f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
    kind = _kind(t)
    checked = 0
    if kind == "float":
        _rejects(key, math.nan, recipe, "finite")
        _rejects(key, math.inf, recipe, "finite")
        checked += 2
    if r.span:
        is_int = kind == "list[int]"
        lo, hi = default
        if not is_int:
            _rejects(key, [math.nan, hi], recipe, "finite")
            _rejects(key, [lo, math.inf], recipe, "finite")
            _rejects(key, [-math.inf, hi], recipe, "finite")
        _rejects(key, [lo], recipe, "range [low, high]")
        _rejects(key, [lo, hi, hi], recipe, "range [low, high]")
        if lo != hi:
            _rejects(key, [hi, lo], recipe, "low must be <= high")
        step = 1 if is_int else 1.0
        if r.ge is not None:
            _rejects(key, [type(lo)(r.ge - step), hi], recipe, "both ends must be")
        if r.gt is not None:
            _rejects(key, [type(lo)(r.gt), hi], recipe, "both ends must be")
        if r.le is not None:
            _rejects(key, [lo, type(hi)(r.le + step)], recipe, "both ends must be")
        if r.lt is not None:
            _rejects(key, [lo, type(hi)(r.lt)], recipe, "both ends must be")
        checked += 1
    elif kind in ("int", "float"):
        step = 1 if kind == "int" else abs(r.lt or r.le or r.gt or r.ge or 1.0)
        if r.ge is not None:
            _rejects(key, type(default)(r.ge - step), recipe, "must be")
        if r.gt is not None:
            _rejects(key, type(default)(r.gt), recipe, "must be")
        if r.le is not None:
            _rejects(key, type(default)(r.le + step), recipe, "must be")
        if r.lt is not None:
            _rejects(key, type(default)(r.lt), recipe, "must be")
        checked += 1
    elif kind in ("list[int]", "list[float]") and (r.ge is not None or r.le is not None):  # bounds on each item
        step = 1 if kind == "list[int]" else abs(r.le or r.ge or 1.0)
        if r.ge is not None:
            _rejects(key, [*default, type(r.ge)(r.ge - step)], recipe, "must be in")
        if r.le is not None:
            _rejects(key, [*default, type(r.le)(r.le + step)], recipe, "must be in")
        checked += 1
    if r.choices is not None:
        if isinstance(default, list):
            _rejects(key, [*default, "bogus"], recipe, "unknown 'bogus'", "use any of")
            if not r.empty_ok:
                _rejects(key, [], recipe, "must name at least one of")
        else:
            _rejects(key, "bogus", recipe, "unknown value; use one of")
        checked += 1
    if kind == "str" and key == "scene.recipe":  # loading the recipe comes first and names the choices
        with pytest.raises(SimgenError, match="unknown scene recipe ''; choose one of"):
            validate(_settings_with(key, "", recipe))
        checked += 1
    elif kind == "str" and f.default is not None:
        _rejects(key, "", recipe, "must not be empty")
        checked += 1
    if kind == "bool":
        _rejects(key, "yes", recipe, "true or false")
        checked += 1
    if kind == "list[str]" and r.choices is None:  # names checked by a registry (simgen.io.formats.exporters, ...)
        _rejects(key, [""], recipe, "item '' must not be empty")
        _rejects(key, "coco", recipe, "must be a list")
        checked += 1
    if typing.get_origin(typing.get_args(t)[0] if typing.get_args(t) else t) is dict and r.ge is not None:
        _rejects(key, {"box": -1}, recipe, "box=-1")
        checked += 1
    assert checked or kind in ("str", "Optional"), f"nothing derived for {key} ({kind})"


CROSS_FIELD = [
    # (name, {key: value}, recipe, expected fragment)
    ("frame-index-limit", {"start": 999_999_999, "frames": 2}, "tabletop", "beyond 999999999"),
    ("clip-order", {"camera.clip_start": 200.0}, "tabletop", "camera.clip_start=200.0 must be < camera.clip_end"),
    ("gap-vs-length", {"sequence.length": 3, "sequence.gap": 3}, "tabletop", "leaves no frame pair"),
    ("no-assets", {"objects.catalog": None}, "tabletop", "no assets: objects.catalog is null"),
    ("image-kind-without-folder", {"materials.textures": ["image"]}, "tabletop",
     "materials.textures has image but materials.image_dir is null"),
    ("image-dir-missing", {"materials.image_dir": "/nonexistent/textures"}, "tabletop",
     "materials.image_dir=/nonexistent/textures is not a folder"),
    ("hdri-dir-missing", {"lighting.world": ["hdri"], "lighting.hdri_dir": "/nonexistent/hdris"}, "tabletop",
     "lighting.hdri_dir=/nonexistent/hdris is not a folder"),
    ("output-dir-is-a-file", {"output.dir": __file__}, "tabletop", "is a file, not a folder"),
    ("tabletop-object-limit", {"objects.count": [1, 65535], "scene.distractors": [0, 5]}, "tabletop",
     "allow more than 65529 objects"),
    ("walls-inside-area", {"scene.wall_distance": [0.2, 3.0]}, "tabletop", "must start at scene.area_radius"),
    ("flying-object-limit", {"objects.count": [1, 65535], "scene.distractors": [0, 5]}, "flying",
     "allow more than 65534 objects"),
    ("flying-background-before-objects", {"scene.background_distance": [5.0, 9.0]}, "flying",
     "must lie beyond the objects' scene.depth"),
    ("flying-background-past-clip", {"scene.background_distance": [8.0, 200.0]}, "flying", "camera.clip_end"),
    ("flying-no-exposure", {"camera.exposure": [-1.0, 1.0]}, "flying", "does nothing with scene=flying"),
    ("flying-fisheye", {"camera.focal_length": [2.0, 50.0]}, "flying", "field of view too wide"),
]


@pytest.mark.parametrize("values,recipe,expected", [c[1:] for c in CROSS_FIELD], ids=[c[0] for c in CROSS_FIELD])
def test_cross_field_rules(values, recipe, expected):
    s = Settings(scene=default_scene(recipe))
    for key, value in values.items():
        *parents, last = key.split(".")
        obj = s
        for part in parents:
            obj = getattr(obj, part)
        setattr(obj, last, value)
    with pytest.raises(SimgenError) as e:
        validate(s)
    assert expected in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_image_dir_without_images_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    s = Settings()
    s.materials.image_dir, s.materials.textures = str(tmp_path), ["image"]
    with pytest.raises(SimgenError, match="holds no images"):
        validate(s)


def test_defaults_validate():
    assert validate(Settings()) == Settings(scene=default_scene())


def test_scene_of_another_recipe_is_refused():
    s = Settings(scene=default_scene("flying"))
    s.scene.recipe = "tabletop"
    with pytest.raises(SimgenError, match="pick the scene with scene=NAME"):
        validate(s)


# ------------------------------------------------------------------ layers


def test_config_layer_imports_no_recipe_pipeline_or_blender():
    """simgen.config (and the schema vocabulary) sit below the recipes: importing them loads no
    scene recipe, no simgen.recipes, no simgen.compose (settings, store: above them), no pipeline
    and no Blender."""
    code = ("import sys, simgen.config, simgen.config.schema; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'bpy' or m.startswith('simgen.scenes') "
            "or m in ('simgen.recipes', 'simgen.pipeline', 'simgen.compose.settings', 'simgen.compose.store', "
            "'simgen.blender')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(simgen.config.__file__).parents[2]).stdout
    assert out.strip() == "[]", out
    for module in Path(simgen.config.__file__).parent.glob("*.py"):  # every group's module
        source = module.read_text()
        for name in ("simgen.scenes", "simgen.recipes", "simgen.pipeline", "simgen.blender",
                     "simgen.compose.settings", "simgen.compose.store"):
            assert f"import {name}" not in source and f"from {name} " not in source, (module.name, name)


def test_an_option_of_your_own_through_hydra_searchpath(tmp_path):
    """An option file in a folder of your own (``hydra.searchpath``) is an option like the shipped
    ones: the command line's key check knows it, and it composes over its group's default."""
    from simgen.cli import check_overrides

    (tmp_path / "lighting").mkdir()
    (tmp_path / "lighting" / "mine.yaml").write_text("# Two warm lights.\ndefaults:\n  - random\n  - _self_\n\n"
                                                     "count: [2, 2]\ntemperature_probability: 1.0\n")
    overrides = [f"hydra.searchpath=[file://{tmp_path}]", "lighting=mine"]
    check_overrides(overrides)
    with pytest.raises(SimgenError, match="did you mean 'lighting=mine'"):
        check_overrides([overrides[0], "lighting=mien"])
    s = _settings(tmp_path, overrides)
    assert s.lighting.count == [2, 2] and s.lighting.temperature_probability == 1.0
    assert s.lighting.world == ["uniform"]  # the rest: LightingConfig's defaults
