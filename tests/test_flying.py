"""The flying-objects recipe (scenes/flying.py): pure checks of its draws and motions, and
one tiny render through the pipeline."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_settings
from omegaconf import OmegaConf

from simgen.scenes import flying
from simgen import SimgenError
from simgen.assets import build_catalog, load_mesh
from simgen.config import Settings
from simgen.compose.store import compose
from simgen.compose.settings import validate
from simgen.optics.camera import pixel_rays, project
from simgen.scene.data import Material, Texture
from simgen.scene.transforms import axis_angle
from simgen.recipes import load_recipe

REPO = Path(__file__).resolve().parents[1]
CATALOG = build_catalog()


def settings(**scene) -> Settings:
    s = Settings()
    s.scene = flying.Config(**scene)
    return validate(s)


def sequence(s: Settings, seed: int = 0, length: int = 6, catalog=CATALOG):
    return flying.make_sequence(s, catalog, np.random.default_rng(seed), length)


def split(scene):
    """(annotated objects, distractors, background) of a scene."""
    annotated = [o for o in scene.objects if o.category_id > 0]
    distractors = [o for o in scene.objects if o.category_id == 0 and o.name != "background"]
    background = [o for o in scene.objects if o.name == "background"]
    assert len(background) == 1
    return annotated, distractors, background[0]


def bbox_center(obj) -> np.ndarray:
    c = load_mesh(obj.mesh).bounds.mean(axis=0)
    return (obj.mesh_to_world @ np.append(c, 1.0))[:3]


# ------------------------------------------------------------------ config


def test_config_defaults_and_composed():
    c = flying.Config()
    assert c.recipe == "flying"
    assert c.depth == [1.5, 6.0] and c.speed == [0.02, 0.25] and c.spin == [0.02, 0.35]
    assert c.camera_speed == [0.0, 0.08] and c.camera_spin == [0.0, 0.02]
    assert not hasattr(c, "textures"), "flying's texture kinds are materials.textures"
    data = OmegaConf.to_container(compose(["scene=flying"]).scene)
    assert data == asdict(c), "scene=flying does not compose to simgen.scenes.flying.Config's defaults"
    assert load_recipe("flying") is flying.RECIPE


@pytest.mark.parametrize("change,expected", [
    ({"depth": [2.0, 1.0]}, "scene.depth=[2.0, 1.0]: low must be <= high"),
    ({"depth": [0.0, 3.0]}, "scene.depth=[0.0, 3.0]: both ends must be > 0"),
    ({"speed": [-0.1, 0.2]}, "scene.speed=[-0.1, 0.2]: both ends must be >= 0"),
    ({"distractors": [-1, 2]}, "scene.distractors=[-1, 2]: both ends must be in [0, 65535]"),
    ({"camera_pitch": [-95.0, 0.0]}, "scene.camera_pitch=[-95.0, 0.0]: both ends must be in [-89, 89]"),
    ({"background_distance": [5.0, 9.0]}, "must lie beyond the objects' scene.depth"),
    ({"background_distance": [8.0, 200.0]}, "camera.clip_end"),
    ({"object_texture_probability": 1.5}, "scene.object_texture_probability=1.5: must be in [0, 1]"),
    ({"light_scale": 0.0}, "scene.light_scale=0.0: must be > 0"),
])
def test_check_rejects(change, expected):
    s = Settings()
    s.scene = dataclasses.replace(flying.Config(), **change)
    with pytest.raises(SimgenError) as e:
        validate(s)
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_check_rejects_fisheye_focal_length():
    s = Settings()
    s.scene = flying.Config()
    s.camera.focal_length = [2.0, 50.0]
    with pytest.raises(SimgenError, match="field of view too wide"):
        validate(s)


# ------------------------------------------------------------------ draws


def test_deterministic_per_seed():
    s = settings()
    a, b, c = sequence(s, 3), sequence(s, 3), sequence(s, 4)
    assert json.dumps(a[0].params) == json.dumps(b[0].params)
    for x, y in zip(a, b):
        assert [o.name for o in x.objects] == [o.name for o in y.objects]
        for o, p in zip(x.objects, y.objects):
            np.testing.assert_array_equal(o.mesh_to_world, p.mesh_to_world)
            assert o.material == p.material
        np.testing.assert_array_equal(x.camera.world_to_camera, y.camera.world_to_camera)
    assert json.dumps(a[0].params) != json.dumps(c[0].params)


def test_instance_ids_and_categories():
    s = settings()
    for seed in range(5):
        scenes = sequence(s, seed, length=3)
        params = scenes[0].params
        for scene in scenes:
            scene.validate()
            annotated, distractors, background = split(scene)
            n, d = len(annotated), len(distractors)
            assert [o.instance_id for o in scene.objects] == list(range(1, n + d + 2))
            # annotated first, then distractors, then the background
            assert scene.objects[:n] == annotated and scene.objects[n:n + d] == distractors
            assert scene.objects[-1] is background
            assert all(o.asset_id and o.category_id == CATALOG.asset(o.asset_id).category_id for o in annotated)
            assert all(o.asset_id == "" and Path(o.mesh) in CATALOG.distractors for o in distractors)
            assert background.mesh == CATALOG.ground and background.category_id == 0
        assert s.objects.count[0] <= n <= s.objects.count[1]
        assert s.scene.distractors[0] <= d <= s.scene.distractors[1]
        assert len(params["objects"]) == n and len(params["distractors"]) == d
        json.dumps(params)  # JSON-serializable
        assert [o.name for o in scenes[0].objects] == [o.name for o in scenes[-1].objects]


def test_no_distractors_without_catalog_distractors():
    s = settings()
    bare = dataclasses.replace(CATALOG, distractors=())
    for seed in range(3):
        scene = sequence(s, seed, length=2, catalog=bare)[0]
        annotated, distractors, _ = split(scene)
        assert distractors == [] and annotated
        assert scene.params["distractors"] == [] and scene.params["distractors_available"] == 0


def test_draws_within_ranges():
    s = settings()  # textures: the materials group's kinds and ranges (narrowed here to tell them apart)
    s.materials = dataclasses.replace(s.materials, textures=["checker", "wave"], texture_scale=[3.0, 4.0],
                                      texture_distortion=[1.0, 2.0], texture_detail=[2.0, 3.0])
    sc, m = s.scene, s.materials
    for seed in range(8):
        scenes = sequence(s, seed, length=2)
        params = scenes[0].params
        annotated, distractors, background = split(scenes[0])
        for objs, draws, size_range in ((annotated, params["objects"], sc.size),
                                        (distractors, params["distractors"], sc.distractor_size)):
            for o, d in zip(objs, draws):
                assert size_range[0] <= d["size"] <= size_range[1]
                extents = load_mesh(o.mesh).extents * d["scale"]
                assert np.isclose(extents.max(), d["size"])  # largest extent is the drawn size
                assert sc.depth[0] <= d["depth"] <= sc.depth[1]
                assert sc.speed[0] <= d["speed"] <= sc.speed[1]
                assert np.isclose(np.linalg.norm(d["velocity"]), d["speed"])
                assert sc.spin[0] <= d["spin"] <= sc.spin[1]
                assert np.isclose(np.linalg.norm(d["spin_axis"]), 1.0)
                if d["textured"]:
                    t = o.material.texture
                    assert t.kind in m.textures
                    assert m.texture_scale[0] <= t.scale <= m.texture_scale[1]
                    assert m.texture_distortion[0] <= t.distortion <= m.texture_distortion[1]
                    assert m.texture_detail[0] <= t.detail <= m.texture_detail[1]
                else:
                    assert o.material.texture is None
        cam, motion = params["camera"], params["camera_motion"]
        assert sc.camera_pitch[0] <= cam["pitch_deg"] <= sc.camera_pitch[1]
        assert sc.camera_roll[0] <= cam["roll_deg"] <= sc.camera_roll[1]
        assert s.camera.focal_length[0] <= cam["focal_length_mm"] <= s.camera.focal_length[1]
        assert sc.camera_speed[0] <= motion["speed"] <= sc.camera_speed[1]
        assert sc.camera_spin[0] <= motion["spin"] <= sc.camera_spin[1]
        assert sc.background_distance[0] <= params["background"]["distance"] <= sc.background_distance[1]
        assert background.material.texture is not None and background.material.metallic == 0.0
        per_metre = background.material.texture.scale / params["background"]["size"]
        assert sc.background_texture_scale[0] <= per_metre <= sc.background_texture_scale[1]
        bg = background.material.texture
        assert bg.kind in m.textures and m.texture_distortion[0] <= bg.distortion <= m.texture_distortion[1]


# ------------------------------------------------------------------ motion


def rotation(axis, angle) -> np.ndarray:
    return axis_angle(np.asarray(axis, float), angle)


def test_objects_move_rigidly_with_the_drawn_velocities():
    s = settings()
    for seed in range(4):
        scenes = sequence(s, seed, length=6)
        params = scenes[0].params
        draws = params["objects"] + params["distractors"]
        n = len(draws)
        for i, d in enumerate(draws):
            poses = [sc.objects[i].mesh_to_world for sc in scenes]
            step = rotation(d["spin_axis"], d["spin"])
            centres = [bbox_center(sc.objects[i]) for sc in scenes]
            np.testing.assert_allclose(centres[0], d["position"], atol=1e-9)
            for k in range(len(scenes) - 1):
                motion = poses[k + 1] @ np.linalg.inv(poses[k])
                # the same rotation every step, about the bounding-box centre ...
                np.testing.assert_allclose(motion[:3, :3], step, atol=1e-9)
                np.testing.assert_allclose(motion[:3, :3] @ centres[k] + motion[:3, 3], centres[k + 1], atol=1e-9)
                # ... which moves by exactly v per step
                np.testing.assert_allclose(centres[k + 1] - centres[k], d["velocity"], atol=1e-9)
        for sc in scenes:  # the background never moves
            np.testing.assert_array_equal(sc.objects[n].mesh_to_world, scenes[0].objects[n].mesh_to_world)


def test_camera_moves_at_constant_rates():
    s = settings(camera_speed=[0.05, 0.05], camera_spin=[0.01, 0.01])
    scenes = sequence(s, 2, length=6)
    motion = scenes[0].params["camera_motion"]
    assert motion["scale"] == 1.0
    c2w = [sc.camera.camera_to_world for sc in scenes]
    step = rotation(motion["axis"], motion["spin"])
    v = motion["speed"] * np.array(motion["direction"])
    for k in range(len(scenes) - 1):
        np.testing.assert_allclose(c2w[k + 1][:3, 3] - c2w[k][:3, 3], v, atol=1e-9)
        np.testing.assert_allclose(c2w[k + 1][:3, :3] @ c2w[k][:3, :3].T, step, atol=1e-9)
    for sc in scenes:
        np.testing.assert_array_equal(sc.camera.K, scenes[0].camera.K)


def test_static_camera():
    s = settings(camera_speed=[0.0, 0.0], camera_spin=[0.0, 0.0])
    scenes = sequence(s, 1, length=4)
    for sc in scenes:
        np.testing.assert_allclose(sc.camera.world_to_camera, scenes[0].camera.world_to_camera, atol=1e-12)


# ------------------------------------------------------------------ visibility


def test_objects_start_inside_the_view_frustum():
    s = settings()
    for seed in range(8):
        scene = sequence(s, seed, length=1)[0]
        cam = scene.camera
        annotated, distractors, background = split(scene)
        for o in annotated + distractors:
            (u, v), z = (a[0] for a in project(cam.K, cam.world_to_camera, bbox_center(o)[None]))
            assert 0 <= u <= cam.width - 1 and 0 <= v <= cam.height - 1
            assert s.scene.depth[0] - 1e-9 <= z <= s.scene.depth[1] + 1e-9
        # and the background lies behind them all
        z_bg = project(cam.K, cam.world_to_camera, background.mesh_to_world[:3, 3][None])[1][0]
        assert np.isclose(z_bg, scene.params["background"]["distance"])


def background_hits(scene) -> tuple[np.ndarray, np.ndarray]:
    """(in-plane coordinates of every pixel ray's hit in mesh units, ray parameter t)."""
    cam, bg = scene.camera, scene.objects[-1]
    c2w = cam.camera_to_world
    d = pixel_rays(cam.K, cam.width, cam.height).reshape(-1, 3) @ c2w[:3, :3].T
    eye = c2w[:3, 3]
    m = np.linalg.inv(bg.mesh_to_world)  # into the ground mesh's frame: the square |x|, |y| <= 0.5 at z = 0
    eye_m = m[:3, :3] @ eye + m[:3, 3]
    d_m = d @ m[:3, :3].T
    t = -eye_m[2] / d_m[:, 2]
    return eye_m[:2] + t[:, None] * d_m[:, :2], t


@pytest.mark.parametrize("scene_args,length", [
    ({}, 8),
    ({"camera_speed": [0.3, 0.3], "camera_spin": [0.05, 0.05]}, 30),  # the motion must be scaled down
])
def test_background_fills_every_frame(scene_args, length):
    s = settings(**scene_args)
    s.render.width, s.render.height = 64, 48
    for seed in range(4):
        scenes = sequence(s, seed, length=length)
        assert 0.0 <= scenes[0].params["camera_motion"]["scale"] <= 1.0
        for sc in scenes:
            xy, t = background_hits(sc)
            assert np.all(t > 0), "a pixel ray misses the background plane"
            assert np.abs(xy).max() < 0.5, "a pixel sees past the background's edge"
    if scene_args:
        assert scenes[0].params["camera_motion"]["scale"] < 1.0


def test_lights_stay_in_front_of_the_background():
    s = settings()
    for seed in range(10):
        scene = sequence(s, seed, length=1)[0]
        cam, bg_distance = scene.camera, scene.params["background"]["distance"]
        for light in scene.lights:
            z = project(cam.K, cam.world_to_camera, light.light_to_world[:3, 3][None])[1][0]
            if light.kind == "sun":  # shines from the camera's side of the objects
                assert z <= 0.5 * sum(s.scene.depth) + 1e-9
            else:
                assert z <= 0.9 * bg_distance + 1e-9


# ------------------------------------------------------------------ materials


def test_material_to_dict_and_texture():
    plain = Material((0.1, 0.2, 0.3), 0.5, 0.0)
    assert plain.to_dict() == {"base_color": [0.1, 0.2, 0.3], "roughness": 0.5, "metallic": 0.0, "specular": 0.5,
                               "transmission": 0.0, "texture": None}
    t = Texture("voronoi", (1.0, 0.5, 0.0), scale=3.0, distortion=1.0, detail=2.0)
    d = Material((0.1, 0.2, 0.3), 0.5, 0.0, t).to_dict()
    assert d["texture"] == {"kind": "voronoi", "color2": [1.0, 0.5, 0.0], "scale": 3.0, "distortion": 1.0,
                            "detail": 2.0}
    json.dumps(d)
    with pytest.raises(ValueError, match="plaid"):
        Texture("plaid", (0.0, 0.0, 0.0))
    g = Texture("gradient", (1.0, 0.5, 0.0), scale=3.0, variant="radial")
    assert g.to_dict()["variant"] == "radial"
    assert Texture("image", (0.0, 0.0, 0.0), scale=4.0, image="/t/a.png").to_dict() == \
        {"kind": "image", "image": "/t/a.png", "scale": 4.0}
    with pytest.raises(ValueError, match="variant"):
        Texture("gradient", (0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="variant"):
        Texture("noise", (0.0, 0.0, 0.0), variant="linear")
    with pytest.raises(ValueError, match="image file"):
        Texture("image", (0.0, 0.0, 0.0))


# ------------------------------------------------------------------ render


def tiny_flying(out: Path, texture_per_metre: float) -> Settings:
    s = tiny_settings(out, frames=3, width=64, height=48, samples=1)
    s.scene = flying.Config(background_texture_scale=[texture_per_metre] * 2)
    s.materials.textures = ["checker"]
    s.sequence.length = 3
    s.lighting.types, s.lighting.count = ["sun"], [1, 1]  # little noise at 1 sample
    s.lighting.sun_strength = [3.0, 3.0]  # bright enough that the checker shows whatever the draws
    s.lighting.world_strength = [1.0, 1.0]
    return validate(s)


@pytest.mark.render
def test_tiny_flying_render(tmp_path):
    from simgen.io.dataset.layout import read_frame
    from simgen.pipeline import run

    summary = run(tiny_flying(tmp_path / "out", 1.5))
    # the same scene with checker cells far larger than the plane: a plain background
    plain = run(tiny_flying(tmp_path / "plain", 1e-4)).out_dir
    assert summary.rendered == [0, 1, 2]
    out = summary.out_dir
    for i in range(3):
        frame, control = read_frame(out, i), read_frame(plain, i)
        meta = frame["meta"]
        assert meta["params"]["recipe"] == "flying"
        for direction, exists in (("forward", i < 2), ("backward", i > 0)):
            assert (out / f"flow_{direction}" / f"{i:06d}.npy").exists() == exists
            assert (out / f"flow_{direction}_valid" / f"{i:06d}.png").exists() == exists
        annotated = [a for a in meta["coco"]["annotations"] if a["category_id"] > 0]
        assert annotated, "no annotated object in view"
        assert meta["objects"][-1]["name"] == "background"
        is_bg = frame["instance"] == meta["objects"][-1]["instance_id"]
        assert is_bg.sum() > 100
        np.testing.assert_array_equal(frame["instance"], control["instance"])

        # luma range over the background (shadows and shading included)
        spread = [np.subtract(*np.percentile(rgb[is_bg].astype(float).mean(axis=1), [90, 10]))
                  for rgb in (frame["rgb"], control["rgb"])]
        assert spread[0] > 2 * spread[1] + 5, f"no texture visible on the background (luma spread {spread})"
    flow = np.load(out / "flow_forward" / "000000.npy")
    assert flow.shape == (48, 64, 2) and np.isfinite(flow).all()
    assert np.abs(flow).max() > 0.5  # things move
