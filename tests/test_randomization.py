"""Domain randomization: every shipped config option renders, the material and lighting
randomizers stay inside (and cover) their configured ranges, blackbody light colours, and
the DR sweeps.

* every option of every config group composes, converts and renders a tiny frame;
* 200 draws of each randomizer: every recorded parameter lies in its configured range and
  reaches both its lowest and its highest quarter (pure, no Blender);
* switched off (the default options), the new draws consume no random numbers, so
  materials=plain and lighting=random give the frames they gave before they existed;
* blackbody colours: 2700 K redder than 9000 K, 6500 K about white, close to Blender's own;
* ``simgen -m lighting=narrow,wide materials=plain,procedural`` writes 4 datasets.
"""

from __future__ import annotations

import colorsys
import json
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

import simgen.cli
from simgen.compose.store import compose, options
from simgen.experiment.config import is_study_file
from simgen.sampling.lighting import sample_lights
from simgen.sampling.materials import sample_material
from simgen.sampling.random import chance
from simgen.config import Settings
from simgen.compose.settings import to_settings
from simgen.scene.data import GRADIENT_TYPES, PROCEDURAL_TEXTURES
from simgen.sampling.random import blackbody_rgb, hsv_color, srgb_to_linear, uniform
from test_cli import Cli, q  # the subprocess helper of tests/test_cli.py

CONFIG_DIR = Path(simgen.cli.CONFIG_DIR)
OPTIONS = [(g, o) for g, opts in options().items() for o in opts
           if not is_study_file(CONFIG_DIR / g / f"{o}.yaml")]  # a study is no option (simgen study NAME): tests/test_experiment.py
TINY = ["frames=1", "render.width=48", "render.height=32", "render.samples=1", "render.device=cpu"]
DRAWS = 200


def settings_for(tmp_path: Path, *overrides: str) -> Settings:
    cfg = compose(list(overrides))
    cfg.output.dir = str(tmp_path / "out")  # ${hydra:runtime.output_dir} only resolves inside a run
    return to_settings(cfg)


# ------------------------------------------------------------------ every option renders


@pytest.mark.render
@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_renders_a_tiny_frame(tmp_path, group, option):
    from simgen.pipeline import run

    s = settings_for(tmp_path, f"{group}={option}", *TINY)
    summary = run(s)
    out = Path(s.output.dir)
    assert summary.rendered == [0] and (out / "images" / "000000.png").is_file()
    meta = json.loads((out / "meta" / "000000.json").read_text())
    assert meta["width"] == 48 and meta["height"] == 32
    for o in meta["objects"]:
        m = o["material"]
        if "own" in m:  # a mesh rendered with its own appearance: the jitter drawn and what it reads
            assert set(m) == {"own"} and set(m["own"]) == {"hue", "saturation", "value", "roughness", "materials",
                                                           "textures"}
            continue
        if "pbr" in m:  # a PBR set: its draws, and the Principled inputs it leaves as drawn
            assert set(m) == {"pbr", "specular", "transmission"} and {"set", "maps", "scale"} <= set(m["pbr"])
            continue
        assert {"specular", "transmission", "texture"} <= set(m)
        assert 0.0 <= m["specular"] <= 1.0 and 0.0 <= m["transmission"] <= 1.0
    for light in meta["params"]["lights"]:
        assert light["color_source"] in ("hsv", "temperature")
    if (group, option) == ("materials", "procedural"):  # ~6 objects, each textured with p = 0.8
        assert any(o["material"].get("texture") for o in meta["objects"])


# ------------------------------------------------------------------ ranges and coverage


def assert_covers(name: str, values, r) -> None:
    """All ``values`` lie in the range ``r`` and reach its lowest and highest quarter."""
    v = np.asarray(values, float)
    lo, hi = float(r[0]), float(r[1])
    assert v.size, f"{name}: no draws"
    tol = 1e-9 * max(1.0, abs(hi))
    assert v.min() >= lo - tol and v.max() <= hi + tol, f"{name}: draws [{v.min()}, {v.max()}] outside {r}"
    quarter = (hi - lo) / 4.0
    assert v.min() <= lo + quarter and v.max() >= hi - quarter, \
        f"{name}: draws [{v.min()}, {v.max()}] do not reach both quarters of {r}"


def assert_rate(name: str, hits: int, n: int, p: float) -> None:
    """``hits`` of ``n`` is within 4.5 standard deviations of the binomial mean n p."""
    sd = np.sqrt(n * p * (1.0 - p))
    assert abs(hits - n * p) <= 4.5 * sd + 1e-9, f"{name}: {hits} of {n}, expected about {n * p:.0f}"


def linear_to_srgb(c):
    c = np.asarray(c, float)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def color_value(linear_rgb) -> float:
    """HSV value of a colour drawn by hsv_color: its brightest sRGB channel."""
    return float(linear_to_srgb(max(linear_rgb)))


@pytest.mark.parametrize("option", ["plain", "procedural"])
def test_material_draws_stay_in_and_cover_their_ranges(tmp_path, option):
    s = settings_for(tmp_path, f"materials={option}")
    m, rng = s.materials, np.random.default_rng(11)
    mats = [sample_material(s.materials, rng) for _ in range(DRAWS)]
    dicts = [x.to_dict() for x in mats]
    json.dumps(dicts)
    assert_covers("roughness", [x.roughness for x in mats], m.roughness)
    assert_covers("specular", [x.specular for x in mats], m.specular)
    assert_covers("base value", [color_value(x.base_color) for x in mats], m.value)
    metallic = [x.metallic for x in mats if x.metallic > 0]
    assert_rate("metallic", len(metallic), DRAWS, m.metallic_probability)
    assert_covers("metallic", metallic, m.metallic)
    transmissive = [x.transmission for x in mats if x.transmission > 0]
    assert_rate("transmissive", len(transmissive), DRAWS, m.transmission_probability)
    textures = [x.texture for x in mats if x.texture is not None]
    assert_rate("textured", len(textures), DRAWS, m.texture_probability)
    if option == "plain":  # the defaults: opaque, Blender's specular, no textures
        assert not transmissive and not textures and {x.specular for x in mats} == {0.5}
        return
    assert_covers("transmission", transmissive, m.transmission)
    assert {t.kind for t in textures} == set(m.textures) == set(PROCEDURAL_TEXTURES)
    assert {t.variant for t in textures if t.kind == "gradient"} == set(GRADIENT_TYPES)
    assert_covers("texture_scale", [t.scale for t in textures], m.texture_scale)
    assert_covers("texture_distortion", [t.distortion for t in textures], m.texture_distortion)
    assert_covers("texture_detail", [t.detail for t in textures], m.texture_detail)
    assert_covers("color2 value", [color_value(t.color2) for t in textures], m.value)
    assert all(0.0 <= c <= 1.0 for t in textures for c in t.color2)


def two_colour_images(folder: Path) -> list[Path]:
    """Two PNGs, red|blue and green|yellow halves: any tile of them shows two hues."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (a, b) in {"red_blue.png": ((255, 0, 0), (0, 0, 255)),
                         "green_yellow.png": ((0, 255, 0), (255, 255, 0))}.items():
        img = np.zeros((16, 32, 3), np.uint8)
        img[:, :16], img[:, 16:] = a, b
        Image.fromarray(img).save(folder / name)
        paths.append((folder / name).resolve())
    return paths


def test_image_textures_draw_every_file_of_the_folder(tmp_path):
    files = two_colour_images(tmp_path / "textures")
    s = settings_for(tmp_path, "materials=procedural", f"materials.image_dir={q(tmp_path / 'textures')}",
                     "materials.textures=[image,noise]")
    rng = np.random.default_rng(12)
    textures = [t for t in (sample_material(s.materials, rng).texture for _ in range(DRAWS)) if t is not None]
    images = [t for t in textures if t.kind == "image"]
    assert_rate("image kind", len(images), len(textures), 0.5)
    assert {t.image for t in images} == {str(f) for f in files}
    assert_covers("image scale", [t.scale for t in images], s.materials.texture_scale)
    assert all(t.to_dict() == {"kind": "image", "image": t.image, "scale": t.scale} for t in images)


def hue_spread(rgb: np.ndarray) -> float:
    """Fraction of the pixels (N, 3) uint8 whose hue is > 0.3 rad from their circular mean hue."""
    import cv2

    h = cv2.cvtColor(rgb[None].astype(np.uint8), cv2.COLOR_RGB2HSV)[0, :, 0] * (np.pi / 90.0)
    mean = np.angle(np.mean(np.exp(1j * h)))
    return float((np.abs(np.angle(np.exp(1j * (h - mean)))) > 0.3).mean())


@pytest.mark.render
@pytest.mark.parametrize("kind", ["none", *PROCEDURAL_TEXTURES, "image"])
def test_every_texture_kind_renders_a_two_colour_pattern(tmp_path, kind):
    """The ground, textured with saturated base and second colours of random hues under a
    near-white light, shows two hues; untextured (none), one."""
    from simgen.io.dataset.layout import read_frame
    from simgen.pipeline import run

    args = ["materials=procedural", f"materials.texture_probability={0.0 if kind == 'none' else 1.0}",
            f"materials.textures=[{'noise' if kind == 'none' else kind}]", "materials.saturation=[1,1]",
            "materials.value=[0.9,0.9]", "materials.metallic_probability=0", "materials.transmission_probability=0",
            "lighting=narrow", "frames=1", "render.width=64", "render.height=48", "render.samples=4",
            "render.device=cpu"]
    if kind == "image":
        two_colour_images(tmp_path / "textures")
        args.append(f"materials.image_dir={q(tmp_path / 'textures')}")
    s = settings_for(tmp_path, *args)
    run(s)
    frame = read_frame(s.output.dir, 0)
    ground = next(o for o in frame["meta"]["objects"] if o["name"] == "ground")
    texture = ground["material"]["texture"]
    assert (texture or {}).get("kind", "none") == kind
    spread = hue_spread(frame["rgb"][frame["instance"] == ground["instance_id"]])
    if kind == "none":
        assert spread < 0.05
    else:
        assert spread > 0.08, f"{kind}: {spread:.3f} of the ground off its mean hue"


def test_flying_objects_are_textured_by_the_scene_not_the_materials_group(tmp_path):
    """scene=flying textures its objects by scene.object_texture_probability: materials.texture_probability
    (materials=procedural's 0.8) does not add textures; the materials group's kinds and ranges apply."""
    from simgen.scenes import flying
    from simgen.pipeline import catalog_for

    s = settings_for(tmp_path, "scene=flying", "materials=procedural", "scene.object_texture_probability=0")
    catalog = catalog_for(s)
    scene = flying.make_sequence(s, catalog, np.random.default_rng(3), 1)[0]
    *objects, background = scene.objects
    assert objects and all(o.material.texture is None for o in objects)
    assert background.material.texture is not None and background.material.transmission == 0.0


@pytest.mark.parametrize("option", ["random", "narrow", "wide"])
def test_light_draws_stay_in_and_cover_their_ranges(tmp_path, option):
    s = settings_for(tmp_path, f"lighting={option}")
    li, rng = s.lighting, np.random.default_rng(5)
    counts, worlds, lights, drawn = [], [], [], []
    for _ in range(DRAWS):
        ls, world, params = sample_lights(s.lighting, np.zeros(3), rng)
        counts.append(len(ls))
        worlds.append(world.strength)
        assert params["world_strength"] == world.strength
        lights += ls
        drawn += params["lights"]
    assert min(counts) == li.count[0] and max(counts) == li.count[1]
    assert_covers("world_strength", worlds, li.world_strength)
    assert {x.kind for x in lights} == set(li.types)
    power = {"point": li.point_power, "spot": li.spot_power, "area": li.area_power, "sun": li.sun_strength}
    for kind in li.types:
        assert_covers(f"{kind} power", [x.power for x in lights if x.kind == kind], power[kind])
        assert_covers(f"{kind} size", [x.size * (5.0 if kind == "sun" else 1.0) for x in lights if x.kind == kind],
                      li.size)
    assert_covers("elevation", [d["elevation_deg"] for d in drawn], li.elevation)
    assert_covers("distance", [d["distance"] for d in drawn], li.distance)
    assert all(np.isclose(max(x.color), 1.0) and min(x.color) >= 0.0 for x in lights)
    by_temperature = [(x, d) for x, d in zip(lights, drawn) if d["color_source"] == "temperature"]
    by_hsv = [(x, d) for x, d in zip(lights, drawn) if d["color_source"] == "hsv"]
    assert len(by_temperature) + len(by_hsv) == len(lights)
    assert_rate("temperature-coloured", len(by_temperature), len(lights), li.temperature_probability)
    if by_temperature:
        assert_covers("temperature", [d["temperature_k"] for _, d in by_temperature], li.temperature)
        assert all(x.color == blackbody_rgb(d["temperature_k"]) for x, d in by_temperature)
    if li.temperature_probability < 1:
        assert_covers("saturation", [d["hsv"][1] for _, d in by_hsv], li.saturation)
        assert_covers("hue", [d["hsv"][0] for _, d in by_hsv], [0.0, 1.0])
        assert all(d["hsv"][2] == 1.0 for _, d in by_hsv)
        for x, d in by_hsv:
            assert np.allclose(x.color, srgb_to_linear(colorsys.hsv_to_rgb(*d["hsv"])))


def test_switched_off_features_draw_nothing(tmp_path):
    """chance(rng, 0) consumes no random number, so materials=plain draws exactly what the
    material sampler drew before specular, transmission and textures existed."""
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert not any(chance(rng, 0.0) for _ in range(10)) and rng.bit_generator.state == state

    s = settings_for(tmp_path)  # the defaults: materials=plain, lighting=random
    m = s.materials
    a, b = np.random.default_rng(42), np.random.default_rng(42)
    for _ in range(50):
        new = sample_material(s.materials, a)
        color = hsv_color(b, m.hue, m.saturation, m.value)  # the sampler before this feature
        metallic = uniform(b, m.metallic) if b.uniform() < m.metallic_probability else 0.0
        assert new.base_color == tuple(color["linear_rgb"])
        assert (new.metallic, new.roughness) == (metallic, uniform(b, m.roughness))
        assert (new.specular, new.transmission, new.texture) == (0.5, 0.0, None)
    assert a.bit_generator.state == b.bit_generator.state
    assert s.lighting.temperature_probability == 0.0  # lighting=random: HSV colours only, as before


# ------------------------------------------------------------------ blackbody colours


def test_blackbody_warm_is_red_cold_is_blue_6500_is_white():
    warm, white, cold = (np.array(blackbody_rgb(t)) for t in (2700.0, 6500.0, 9000.0))
    assert warm[0] / warm[2] > 5.0 and cold[0] / cold[2] < 1.0  # red over blue
    assert warm[0] == 1.0 and cold[2] == 1.0
    assert white.max() == 1.0 and white.min() > 0.9, white
    temps = np.linspace(1000.0, 40000.0, 60)
    rgb = np.array([blackbody_rgb(t) for t in temps])
    assert np.all((rgb >= 0.0) & (rgb <= 1.0)) and np.allclose(rgb.max(axis=1), 1.0)
    blue_over_red = rgb[:, 2] / rgb[:, 0]
    assert np.all(np.diff(blue_over_red) >= 0), "colour does not get bluer with temperature"
    with pytest.raises(ValueError):
        blackbody_rgb(0.0)


def test_blackbody_matches_blenders_light_temperature():
    import bpy

    light = bpy.data.lights.new("blackbody-check", type="POINT")
    try:
        light.use_temperature = True
        for t in (1900.0, 2700.0, 4000.0, 5000.0, 6500.0, 9000.0, 12000.0):  # Blender clamps above 12000 K
            light.temperature = t
            theirs = np.array(light.temperature_color)
            assert np.abs(np.array(blackbody_rgb(t)) - theirs / theirs.max()).max() < 0.015, t
    finally:
        bpy.data.lights.remove(light)


# ------------------------------------------------------------------ sweeps


def test_dr_ablation_sweeps_lighting_by_materials(tmp_path):
    s = settings_for(tmp_path, "experiment=dr_ablation")
    assert s.frames == 8 and s.render.width < 320
    cfg = compose(["experiment=dr_ablation"], return_hydra_config=True)
    params = OmegaConf.to_container(cfg.hydra.sweeper.params)
    assert params == {"lighting": "narrow,wide", "materials": "plain,procedural"}
    for group, swept in params.items():
        assert set(swept.split(",")) <= set(options()[group])


@pytest.mark.render
def test_lighting_by_materials_sweep_writes_four_datasets(tmp_path):
    """``simgen -m`` (the console script, Hydra's multirun): one dataset per job, each with its own
    images, COCO file and log."""
    cli = Cli(tmp_path)
    sweep = tmp_path / "sweep"
    result = cli("-m", "lighting=narrow,wide", "materials=plain,procedural", "frames=1", "render.width=48",
                 "render.height=32", "render.samples=1", f"hydra.sweep.dir={q(sweep)}", guard=False, output=False)
    assert result.returncode == 0, result.stderr
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 4, jobs
    seen = set()
    for job in jobs:
        config = json.loads((job / "dataset.json").read_text())["config"]
        assert (job / "images" / "000000.png").is_file() and (job / "coco.json").is_file()
        assert "Cycles device" in (job / "logs" / "simgen.log").read_text()  # each job's log in its dataset
        seen.add((config["lighting"]["count"][1], config["materials"]["texture_probability"]))
    assert len(seen) == 4  # narrow (1 light) / wide (5), plain (no textures) / procedural
