"""World lighting beyond a uniform grey: the physical sky and HDRI worlds (lighting.world).

Pure sampling tests (ranges, coverage, meta), validation errors, and tiny renders that
check the background each kind produces and that HDRI images are not loaded per frame.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_randomization import DRAWS, TINY, assert_covers, settings_for

from simgen.sampling.lighting import sample_lights
from simgen import SimgenError
from simgen.assets.images import DEFAULT_HDRI, hdri_files
from simgen.config import RenderConfig
from simgen.optics.camera import intrinsics, look_at
from simgen.scene.data import Camera, Scene, World

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_hdri.py"


def write_hdri(path: Path, sun_azimuth_deg: float = 60.0) -> Path:
    import importlib.util

    import cv2

    spec = importlib.util.spec_from_file_location("simgen_make_hdri", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rgb = mod.make(width=32, height=16, sun_azimuth_deg=sun_azimuth_deg)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))
    return path


# ------------------------------------------------------------------ sampling


def test_default_config_keeps_the_uniform_grey_world(tmp_path):
    s = settings_for(tmp_path)
    assert s.lighting.world == ["uniform"] and s.lighting.hdri_dir is None
    _, world, params = sample_lights(s.lighting, np.zeros(3), np.random.default_rng(0))
    assert world.kind == "uniform" and world.color == (0.5, 0.5, 0.5)
    assert params["world"] == world.to_dict() == {"kind": "uniform", "strength": world.strength,
                                                   "color": [0.5, 0.5, 0.5]}


def test_sky_draws_stay_in_and_cover_their_ranges(tmp_path):
    s = settings_for(tmp_path, "lighting=sky")
    li, rng = s.lighting, np.random.default_rng(1)
    worlds = [sample_lights(s.lighting, np.zeros(3), rng) for _ in range(DRAWS)]
    assert all(w.kind == "sky" and p["world"] == w.to_dict() and p["world_strength"] == w.strength
               for _, w, p in worlds)
    assert_covers("sun_elevation", [np.degrees(w.sun_elevation) for _, w, _ in worlds], li.sun_elevation)
    assert_covers("sun_azimuth", [np.degrees(w.sun_azimuth) for _, w, _ in worlds], li.sun_azimuth)
    assert_covers("sky_strength", [w.strength for _, w, _ in worlds], li.sky_strength)
    assert max(len(ls) for ls, _, _ in worlds) <= 1  # fewer lamps: the sky lights the scene
    json.dumps([p for _, _, p in worlds])


def test_hdri_draws_cover_files_rotation_and_strength(tmp_path):
    d = tmp_path / "hdris"
    d.mkdir()
    files = [write_hdri(d / "a.hdr", 0.0), write_hdri(d / "b.hdr", 180.0)]
    (d / "notes.txt").write_text("not an image")
    s = settings_for(tmp_path, "lighting=hdri", f"lighting.hdri_dir={d}")
    li, rng = s.lighting, np.random.default_rng(2)
    worlds = [sample_lights(s.lighting, np.zeros(3), rng)[1] for _ in range(DRAWS)]
    assert {Path(w.hdri_path) for w in worlds} == {f.resolve() for f in files}
    assert_covers("hdri_rotation", [np.degrees(w.rotation) for w in worlds], li.hdri_rotation)
    assert_covers("hdri_strength", [w.strength for w in worlds], li.hdri_strength)
    meta = json.loads(json.dumps(worlds[0].to_dict()))
    assert meta["kind"] == "hdri" and Path(meta["hdri_path"]).name in ("a.hdr", "b.hdr")


def test_hdri_without_a_folder_uses_the_bundled_sky(tmp_path):
    s = settings_for(tmp_path, "lighting=hdri")
    assert DEFAULT_HDRI.is_file() and DEFAULT_HDRI.stat().st_size < 100_000
    assert hdri_files(None) == (DEFAULT_HDRI,)
    _, world, _ = sample_lights(s.lighting, np.zeros(3), np.random.default_rng(3))
    assert world.kind == "hdri" and Path(world.hdri_path) == DEFAULT_HDRI


def test_mixed_world_kinds_are_all_drawn(tmp_path):
    s = settings_for(tmp_path, "lighting.world=[uniform,sky,hdri]")
    rng = np.random.default_rng(4)
    kinds = [sample_lights(s.lighting, np.zeros(3), rng)[1].kind for _ in range(DRAWS)]
    assert {k: kinds.count(k) > DRAWS // 6 for k in ("uniform", "sky", "hdri")} == dict.fromkeys(
        ("uniform", "sky", "hdri"), True)


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize("override,message", [
    ("lighting.hdri_dir={missing}", "is not a folder"),
    ("lighting.hdri_dir={empty}", "holds no .hdr or .exr"),
    ("lighting.world=[cloudy]", "lighting.world=\\['cloudy'\\]: unknown 'cloudy'"),
    ("lighting.world=[]", "lighting.world=\\[\\]: must name at least one of uniform, sky, hdri"),
    ("lighting.sun_elevation=[10,95]", "lighting.sun_elevation"),
    ("lighting.sky_strength=[1,0.5]", "lighting.sky_strength"),
    ("lighting.hdri_strength=[-1,1]", "lighting.hdri_strength"),
    ("lighting.hdri_rotation=[90,10]", "lighting.hdri_rotation"),
])
def test_bad_world_settings_fail_with_one_line(tmp_path, override, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    override = override.format(missing=tmp_path / "nope", empty=tmp_path / "empty")
    with pytest.raises(SimgenError, match=message) as e:
        settings_for(tmp_path, "lighting=hdri", override)
    assert "\n" not in str(e.value)


def test_missing_hdri_dir_is_ignored_without_hdri_worlds(tmp_path):
    s = settings_for(tmp_path, "lighting=sky", f"lighting.hdri_dir={tmp_path / 'nope'}")
    assert s.lighting.world == ["sky"]


# ------------------------------------------------------------------ rendering


def sky_scene(world: World) -> Scene:
    """No objects: a 48x32 camera at the origin looking 20 degrees above the horizon."""
    K = intrinsics(20.0, 36.0, 48, 32)
    cam = Camera(width=48, height=32, K=np.asarray(K), world_to_camera=look_at(np.zeros(3), np.array([1.0, 0.0, 0.36])))
    return Scene(objects=[], lights=[], camera=cam, world=world)


@pytest.mark.render
@pytest.mark.slow
def test_sky_and_hdri_backgrounds_render_and_images_do_not_leak(tmp_path):
    import bpy

    from simgen.blender import BlenderBackend

    other = write_hdri(tmp_path / "other.hdr", 200.0)
    # the linear render through the Standard curve: metering would even out the brightness
    # differences this test measures, and AgX compresses the sun glow whose turn it detects
    backend = BlenderBackend(RenderConfig(width=48, height=32, samples=1, device="cpu", auto_exposure=False,
                                          tone="standard"))
    try:
        def mean_rgb(world: World, seed: int = 0) -> np.ndarray:
            backend.build(sky_scene(world))
            passes = backend.render_passes(seed=seed)
            backend.clear()
            assert (passes["index"] == 0).all()
            return passes["rgb"].reshape(-1, 3).astype(float).mean(0)

        grey = mean_rgb(World(color=(0.5, 0.5, 0.5), strength=0.4))
        assert np.allclose(grey, grey[0], atol=2)  # a grey uniform world
        sky = mean_rgb(World(kind="sky", strength=0.2, sun_elevation=np.radians(30), sun_azimuth=0.0))
        assert sky[2] > sky[0] + 10, sky  # blue sky
        assert np.abs(sky - grey).max() > 10
        hdri = mean_rgb(World(kind="hdri", strength=1.0, hdri_path=DEFAULT_HDRI, rotation=0.0))
        assert hdri[2] > hdri[0] + 10 and np.abs(hdri - grey).max() > 10, hdri
        turned = mean_rgb(World(kind="hdri", strength=1.0, hdri_path=DEFAULT_HDRI, rotation=np.radians(180)))
        assert np.abs(turned - hdri).max() > 1  # the sun glow turned out of view
        counts = []
        for i in range(6):  # alternate two HDRIs and the other kinds: images are reused by path
            path = (DEFAULT_HDRI, other)[i % 2]
            mean_rgb(World(kind="hdri", strength=0.5, hdri_path=path, rotation=0.3 * i), seed=i)
            mean_rgb(World(kind="sky", strength=0.1, sun_elevation=0.5, sun_azimuth=0.2 * i), seed=i)
            counts.append(len(bpy.data.images))
        assert counts[1:] == [counts[1]] * (len(counts) - 1), counts
        assert sum(img.filepath.endswith(".hdr") for img in bpy.data.images) == 2
    finally:
        backend.close()
    assert not any(img.filepath.endswith(".hdr") for img in bpy.data.images)


@pytest.mark.render
@pytest.mark.parametrize("option", ["sky", pytest.param("hdri", marks=pytest.mark.slow)])
def test_pipeline_renders_world_kinds_and_records_them(tmp_path, option):
    from simgen.pipeline import run

    s = settings_for(tmp_path, f"lighting={option}", *TINY)
    run(s)
    meta = json.loads((Path(s.output.dir) / "meta" / "000000.json").read_text())
    assert meta["params"]["world"]["kind"] == option


def test_hdri_dir_is_searched_recursively_like_a_library(tmp_path):
    """A library's LIB/hdris/SOURCE/ID/file.hdr: every HDRI of every entry is drawn; hidden
    files (a download's .part) and symlinked folders are not."""
    lib = tmp_path / "lib" / "hdris"
    files = [write_hdri(lib / "polyhaven" / name / f"{name}_1k.hdr", az)
             for name, az in (("field", 0.0), ("studio", 120.0))
             if (lib / "polyhaven" / name).mkdir(parents=True) is None]
    (lib / "polyhaven" / "studio" / ".studio_2k.hdr.part").write_bytes(b"partial")
    outside = tmp_path / "outside"
    outside.mkdir()
    write_hdri(outside / "far.hdr")
    (lib / "linked").symlink_to(outside)
    s = settings_for(tmp_path, "lighting=hdri", f"lighting.hdri_dir={lib}")
    assert hdri_files(s.lighting.hdri_dir) == tuple(f.resolve() for f in files)
    rng = np.random.default_rng(5)
    drawn = {Path(sample_lights(s.lighting, np.zeros(3), rng)[1].hdri_path) for _ in range(40)}
    assert drawn == {f.resolve() for f in files}


def test_hdri_backdrop_draws_a_plain_backdrop_by_its_chance(tmp_path):
    s = settings_for(tmp_path, "lighting=hdri", "lighting.hdri_backdrop=0.5")
    rng = np.random.default_rng(6)
    worlds = [sample_lights(s.lighting, np.zeros(3), rng)[1] for _ in range(DRAWS)]
    plain = [w for w in worlds if w.plain_backdrop is not None]
    assert 0.3 < len(plain) / DRAWS < 0.7
    for w in plain:
        g = w.plain_backdrop[0]
        assert w.plain_backdrop == (g, g, g) and 0.5 * s.lighting.world_strength[0] <= g <= 0.5 * s.lighting.world_strength[1]
        assert w.to_dict()["plain_backdrop"] == [g, g, g]
    # the default (1): the camera always sees the image, and nothing more is drawn than before
    s1 = settings_for(tmp_path, "lighting=hdri")
    a = [sample_lights(s1.lighting, np.zeros(3), np.random.default_rng(7))[1].to_dict() for _ in range(3)]
    assert all("plain_backdrop" not in w for w in a)


@pytest.mark.render
@pytest.mark.slow
def test_a_plain_backdrop_hides_the_hdri_from_the_camera_but_not_from_the_light(tmp_path):
    """The same scene with the HDRI seen and hidden: where rays hit nothing the camera sees the
    plain grey; an object lit by the HDRI alone looks the same in both."""
    from simgen.blender import BlenderBackend
    from simgen.scene.data import Material, SceneObject
    from simgen.assets import BUNDLED_CATALOG

    backend = BlenderBackend(RenderConfig(width=48, height=32, samples=16, device="cpu", auto_exposure=False,
                                          tone="standard", denoise=False, adaptive_threshold=0.0))
    ball = BUNDLED_CATALOG.parent / "meshes" / "ball" / "ball.ply"
    pose = np.eye(4)
    pose[:3, 3] = np.array([1.0, 0.0, 0.36]) / np.linalg.norm([1.0, 0.0, 0.36]) * 0.25 - [0, 0, 0.06]  # 0.25 m ahead
    obj = SceneObject(name="ball", mesh=ball, mesh_to_world=pose, instance_id=1, category_id=1,
                      material=Material(base_color=(0.8, 0.8, 0.8), roughness=0.5, metallic=0.0))
    try:
        out = {}
        for name, plain in (("seen", None), ("hidden", (0.2, 0.2, 0.2))):
            scene = sky_scene(World(kind="hdri", strength=1.0, hdri_path=DEFAULT_HDRI, rotation=0.0,
                                    plain_backdrop=plain))
            scene.objects = [obj]
            backend.build(scene)
            out[name] = backend.render_passes(seed=1)
            backend.clear()
    finally:
        backend.close()
    hit = out["seen"]["index"] == 1
    assert hit.sum() > 50 and (~hit).sum() > 200
    grey = round(255 * (1.055 * 0.2 ** (1 / 2.4) - 0.055))  # 0.2 linear through the sRGB curve
    import cv2

    far = ~cv2.dilate(hit.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)  # clear of the ball's edge
    sky_seen, sky_hidden = out["seen"]["rgb"][far].astype(int), out["hidden"]["rgb"][far].astype(int)
    assert np.abs(sky_hidden - grey).max() <= 1 and np.abs(sky_seen - grey).max() > 20
    inner = hit & ~np.pad(~hit, 1, constant_values=True)[:-2, 1:-1] & ~np.pad(~hit, 1, constant_values=True)[2:, 1:-1]
    # the same light on the object: its mean colour agrees (the pixels' noise may differ: Cycles
    # importance-samples the world from its shader graph, which the mix changes)
    lit_seen, lit_hidden = (out[k]["rgb"][inner].astype(float).mean(0) for k in ("seen", "hidden"))
    assert np.abs(lit_seen - lit_hidden).max() < 3, (lit_seen, lit_hidden)
    assert inner.sum() > 20 and out["seen"]["rgb"][inner].mean() > 20  # it is lit, by the HDRI alone
