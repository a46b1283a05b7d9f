"""The Hydra configs under configs/ against the typed schema in simgen.config (pure, no rendering).

* every option of every config group composes and converts with ``to_settings``;
* the YAML defaults equal the dataclass defaults, key for key, so the docstrings in
  simgen/config.py and the comments in configs/ describe the same values;
* every check in ``validate`` raises a one-line SimgenError.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import functools
from dataclasses import asdict
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

import simgen.cli
import simgen.config
from simgen import SimgenError
from simgen.config import DEVICES, RenderConfig, Settings, to_settings, validate

CONFIG_DIR = Path(simgen.cli.CONFIG_DIR)
GLOBAL_GROUPS = ("experiment",)
"""Groups of ``# @package _global_`` overlays (default: none) that set keys of any group;
they have no field in Settings."""
GROUPS = sorted(p.name for p in CONFIG_DIR.iterdir() if p.is_dir() and p.name not in GLOBAL_GROUPS)
OPTIONS = [(g, p.stem) for g in [*GROUPS, *GLOBAL_GROUPS] for p in sorted((CONFIG_DIR / g).glob("*.yaml"))]
SCHEMA_OPTIONS = [(g, o) for g, o in OPTIONS if g in GROUPS]
TOP_LEVEL = [f.name for f in dataclasses.fields(Settings) if not dataclasses.is_dataclass(f.type)
             and f.name not in GROUPS]

# The one intended difference: on the command line the dataset goes to Hydra's run folder,
# which only exists inside a Hydra run, so it cannot be the dataclass default.
KNOWN_DIFFERENCES = {("output", "dir"): ("${hydra:runtime.output_dir}", "outputs/dataset")}
# Spellings of the same default: ``dirs: null`` in YAML (Hydra's struct mode only lets
# ``objects.dirs={a: b}`` add keys to a null, not to an empty dict) is read as {}.
NULL_MEANS = {("objects", k): {} for k in ("dirs", "weights", "min_per_frame", "max_per_frame")}


@functools.lru_cache(maxsize=None)
def _composed(overrides: tuple[str, ...], return_hydra_config: bool):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides),
                       return_hydra_config=return_hydra_config)


def _compose(overrides=(), return_hydra_config=False):
    """A fresh copy of the composed config (composing costs ~0.2 s, so it is cached)."""
    return copy.deepcopy(_composed(tuple(overrides), return_hydra_config))


def _settings(tmp_path, overrides=()):
    cfg = _compose(overrides)
    # output.dir defaults to ${hydra:runtime.output_dir}, which only resolves inside a run
    cfg.output.dir = str(tmp_path / "out")
    return to_settings(cfg)


# ------------------------------------------------------------------ composing every option


def test_every_group_has_options_and_a_schema():
    assert GROUPS, f"no config groups under {CONFIG_DIR}"
    fields = {f.name for f in dataclasses.fields(Settings)}
    for group in GROUPS:
        assert group in fields, f"configs/{group}/ has no field in simgen.config.Settings"
        assert list((CONFIG_DIR / group).glob("*.yaml")), f"configs/{group}/ holds no option"


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_converts(tmp_path, group, option):
    s = _settings(tmp_path, [f"{group}={option}"])
    assert isinstance(s, Settings)
    assert s.output.dir == str(tmp_path / "out")


@pytest.mark.parametrize("group,option", SCHEMA_OPTIONS, ids=[f"{g}={o}" for g, o in SCHEMA_OPTIONS])
def test_every_option_sets_every_key(group, option):
    """Every option file is complete: reading it tells every value of its group, and a
    changed dataclass default cannot silently change a non-default option. (The default
    option's values must also equal the dataclass defaults: see below.)"""
    cfg = _compose([f"{group}={option}"])
    schema = Settings()
    if group == "scene":  # typed by the recipe's own Config
        from simgen.recipes import load_recipe

        schema.scene = load_recipe(str(cfg.scene.recipe)).Config()
    expected = sorted(f.name for f in dataclasses.fields(getattr(schema, group)))
    assert sorted(OmegaConf.to_container(cfg[group], resolve=False)) == expected, \
        f"configs/{group}/{option}.yaml does not set exactly the keys of its schema"


def test_experiments_are_global_overlays_applied_last():
    """``experiment=NAME`` works without '+' (the group is in the defaults list as null) and
    its values win over config.yaml's own (it comes after _self_)."""
    group = "experiment"
    assert group in GLOBAL_GROUPS
    defaults = OmegaConf.load(CONFIG_DIR / "config.yaml").defaults
    names = [next(iter(d)) if isinstance(d, dict) or OmegaConf.is_dict(d) else d for d in defaults]
    assert names.index(group) > names.index("_self_")
    assert defaults[names.index(group)][group] is None
    for path in sorted((CONFIG_DIR / group).glob("*.yaml")):
        assert path.read_text().startswith("# @package _global_\n"), f"{path} is not a _global_ package"
    assert _compose([f"{group}=dr_ablation"]).frames == 8  # config.yaml says 4


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


# ------------------------------------------------------------------ YAML defaults == dataclass defaults


@pytest.mark.parametrize("group", GROUPS)
def test_yaml_defaults_equal_dataclass_defaults(group):
    yaml_values = OmegaConf.to_container(_compose()[group], resolve=False)
    class_values = asdict(Settings())[group]
    assert sorted(yaml_values) == sorted(class_values), \
        f"configs/{group}/ and the dataclass for '{group}' have different keys"
    diffs = {}
    for key, class_value in class_values.items():
        yaml_value = yaml_values[key]
        if yaml_value is None and (group, key) in NULL_MEANS:
            yaml_value = NULL_MEANS[(group, key)]
        if (group, key) in KNOWN_DIFFERENCES:
            assert (yaml_value, class_value) == KNOWN_DIFFERENCES[(group, key)]
        elif yaml_value != class_value or type(yaml_value) is not type(class_value):
            diffs[f"{group}.{key}"] = (yaml_value, class_value)
    assert not diffs, f"YAML vs dataclass default differ (yaml, dataclass): {diffs}"


def test_top_level_yaml_defaults_equal_dataclass_defaults():
    cfg, defaults = _compose(), Settings()
    assert TOP_LEVEL == ["seed", "start", "frames"]
    for key in TOP_LEVEL:
        assert cfg[key] == getattr(defaults, key), key
    composed = set(OmegaConf.to_container(_compose(), resolve=False))
    assert composed == {f.name for f in dataclasses.fields(Settings)}


def test_yaml_defaults_convert_to_dataclass_defaults(tmp_path):
    expected = Settings()
    expected.output.dir = str(tmp_path / "out")
    assert _settings(tmp_path) == expected


def _attribute_docstring(cls: type, name: str) -> str:
    """The string literal right under ``name: ... = ...`` in ``cls``'s source."""
    tree = ast.parse(Path(simgen.config.__file__).read_text())
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__).body
    for stmt, nxt in zip(body, body[1:]):
        if isinstance(stmt, ast.AnnAssign) and stmt.target.id == name and isinstance(nxt, ast.Expr):
            return nxt.value.value
    raise AssertionError(f"{cls.__name__}.{name} has no docstring")


def test_device_choices_documented_in_yaml_and_docstring():
    yaml_line = next(line for line in (CONFIG_DIR / "render" / "cycles.yaml").read_text().splitlines()
                     if line.startswith("device:"))
    doc = _attribute_docstring(RenderConfig, "device")
    for device in DEVICES:
        assert device in yaml_line, f"configs/render/cycles.yaml does not list device {device}"
        assert device in doc, f"RenderConfig.device's docstring does not list {device}"


# ------------------------------------------------------------------ conversion errors


def test_objects_dirs_override_composes(tmp_path):
    """The override documented in configs/objects/bundled.yaml and in validate()'s message.

    Fails while bundled.yaml says ``dirs: {}``: Hydra's struct mode refuses new keys in an
    empty dict (``Could not override 'objects.dirs'. Key 'gadget' is not in struct``);
    ``dirs: null`` fixes it (to_settings reads null as {}).
    """
    s = _settings(tmp_path, ["objects.catalog=null", f"objects.dirs={{gadget: '{tmp_path}'}}"])
    assert s.objects.dirs == {"gadget": str(tmp_path)}
    assert s.objects.catalog is None


def test_dirs_null_reads_as_empty(tmp_path):
    assert _settings(tmp_path, ["objects.dirs=null"]).objects.dirs == {}


@pytest.mark.parametrize("override,key,hint", [
    ("render.width=abc", "render.width", "render.width=320"),
    ("frames=1.5", "frames", "frames=4"),
    ("render.denoise=maybe", "render.denoise", "render.denoise=false"),
    ("camera.distance=[a,b]", "camera.distance[0]", "camera.distance=[0.8,1.5]"),
    ("objects.count=5", "objects.count", "objects.count=[3,8]"),
    ("objects.dirs=5", "objects.dirs", "objects.dirs={name: value}"),
    ("+render.colour=red", "render.colour", "simgen --cfg job"),
    ("+render.widht=64", "render.widht", "did you mean 'render.width'?"),
    ("+frmaes=3", "frmaes", "unknown config key 'frmaes'; did you mean 'frames'?"),
    ("+colour=red", "colour", "unknown config key 'colour'; remove it"),
])
def test_wrong_type_names_key_and_fix(tmp_path, override, key, hint):
    with pytest.raises(SimgenError) as e:
        _settings(tmp_path, [override])
    msg = str(e.value)
    assert f"'{key}'" in msg and hint in msg and "\n" not in msg


# ------------------------------------------------------------------ validate()


def _set(path: str, value):
    def mutate(s: Settings) -> None:
        *parents, last = path.split(".")
        obj = s
        for p in parents:
            obj = getattr(obj, p)
        setattr(obj, last, value)
    return mutate


LIGHT_RANGES = ("distance", "elevation", "point_power", "spot_power", "area_power", "sun_strength",
                "size", "world_strength")
MATERIAL_RANGES = ("hue", "saturation", "value", "roughness", "metallic", "specular", "transmission")

VALIDATION_CASES = [
    ("frames", _set("frames", 0), "frames must be at least 1"),
    ("frames-negative", _set("frames", -5), "frames must be at least 1"),
    ("start", _set("start", -1), "start must be >= 0"),
    ("seed", _set("seed", -1), "seed must be >= 0"),
    ("engine", _set("render.engine", "eevee"), "render.engine='eevee' is not supported"),
    ("device", _set("render.device", "vulkan"), "render.device='vulkan' is unknown"),
    ("width", _set("render.width", 0), "render.width and render.height must be >= 1"),
    ("height", _set("render.height", -1), "render.width and render.height must be >= 1"),
    ("samples", _set("render.samples", 0), "render.samples must be >= 1"),
    ("threads", _set("render.threads", -1), "render.threads must be >= 0"),
    ("range-length", _set("camera.distance", [1.0]), "camera.distance must be a range [low, high]"),
    ("range-order", _set("camera.azimuth", [90.0, 10.0]), "camera.azimuth must be a range [low, high]"),
    ("camera.distance", _set("camera.distance", [0.0, 1.0]), "camera.distance=[0.0, 1.0] is outside"),
    ("camera.elevation", _set("camera.elevation", [10.0, 95.0]), "camera.elevation=[10.0, 95.0] is outside"),
    ("camera.focal_length", _set("camera.focal_length", [0.0, 50.0]), "camera.focal_length=[0.0, 50.0] is outside"),
    ("sensor_width", _set("camera.sensor_width", 0.0), "camera.sensor_width must be > 0"),
    ("clip", _set("camera.clip_start", 200.0), "need 0 < camera.clip_start < camera.clip_end"),
    ("clip-zero", _set("camera.clip_start", 0.0), "need 0 < camera.clip_start < camera.clip_end"),
    ("lighting.count", _set("lighting.count", [-1, 2]), "lighting.count=[-1, 2] is outside"),
    ("lighting.types", _set("lighting.types", ["point", "laser"]), "lighting.types has unknown or no types ['laser']"),
    ("lighting.types-empty", _set("lighting.types", []), "lighting.types has unknown or no types []"),
    *[(f"lighting.{n}", _set(f"lighting.{n}", [-1.0, 1.0]), f"lighting.{n}=[-1.0, 1.0] is outside")
      for n in LIGHT_RANGES],
    ("lighting.saturation", _set("lighting.saturation", [0.0, 2.0]), "lighting.saturation=[0.0, 2.0] is outside"),
    ("lighting.temperature", _set("lighting.temperature", [500.0, 6500.0]),
     "lighting.temperature=[500.0, 6500.0] is outside"),
    ("lighting.temperature-order", _set("lighting.temperature", [9000.0, 2700.0]),
     "lighting.temperature must be a range [low, high]"),
    ("temperature_probability", _set("lighting.temperature_probability", -0.1),
     "lighting.temperature_probability must lie in [0, 1]"),
    *[(f"materials.{n}", _set(f"materials.{n}", [0.0, 1.5]), f"materials.{n}=[0.0, 1.5] is outside")
      for n in MATERIAL_RANGES],
    ("metallic_probability", _set("materials.metallic_probability", 1.5),
     "materials.metallic_probability must lie in [0, 1]"),
    *[(n, _set(f"materials.{n}", 1.5), f"materials.{n} must lie in [0, 1]")
      for n in ("transmission_probability", "texture_probability")],
    ("materials.textures", _set("materials.textures", ["checker", "plaid"]),
     "materials.textures has unknown or no kinds ['plaid']"),
    ("materials.textures-empty", _set("materials.textures", []), "materials.textures has unknown or no kinds []"),
    ("materials.textures-image", _set("materials.textures", ["image"]),
     "materials.textures has image but materials.image_dir is null"),
    ("materials.image_dir", _set("materials.image_dir", "/nonexistent/textures"),
     "materials.image_dir=/nonexistent/textures is not a folder"),
    ("materials.texture_scale", _set("materials.texture_scale", [0.0, 2.0]),
     "materials.texture_scale=[0.0, 2.0] is outside"),
    ("materials.texture_distortion", _set("materials.texture_distortion", [-1.0, 2.0]),
     "materials.texture_distortion=[-1.0, 2.0] is outside"),
    ("materials.texture_detail", _set("materials.texture_detail", [0.0, 16.0]),
     "materials.texture_detail=[0.0, 16.0] is outside"),
    ("objects.count", _set("objects.count", [-1, 3]), "objects.count=[-1, 3] is outside"),
    ("objects.count-order", _set("objects.count", [5, 2]), "objects.count must be a range [low, high]"),
    ("objects.scale", _set("objects.scale", [0.0, 1.0]), "objects.scale=[0.0, 1.0] is outside"),
    ("dir_scale", _set("objects.dir_scale", 0.0), "objects.dir_scale must be > 0"),
    ("no-assets", _set("objects.catalog", None), "no assets: objects.catalog is null and objects.dirs is empty"),
    ("area_radius", _set("scene.area_radius", 0.0), "scene.area_radius and scene.ground_size must be > 0"),
    ("ground_size", _set("scene.ground_size", -1.0), "scene.area_radius and scene.ground_size must be > 0"),
    ("max_tries", _set("scene.max_tries", 0), "scene.max_tries >= 1"),
    ("clearance", _set("scene.clearance", -0.1), "scene.clearance >= 0"),
    ("output.dir", _set("output.dir", ""), "output.dir is empty"),
]


def test_image_dir_without_images_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    s = Settings()
    s.materials.image_dir, s.materials.textures = str(tmp_path), ["image"]
    with pytest.raises(SimgenError, match="holds no images"):
        validate(s)


def test_defaults_validate():
    assert validate(Settings()) == Settings()


@pytest.mark.parametrize("mutate,expected", [c[1:] for c in VALIDATION_CASES],
                         ids=[c[0] for c in VALIDATION_CASES])
def test_validate_rejects(mutate, expected):
    s = Settings()
    mutate(s)
    with pytest.raises(SimgenError) as e:
        validate(s)
    msg = str(e.value)
    assert expected in msg
    assert "\n" not in msg

