"""PBR material sets (materials.pbr_dir, materials=pbr): sets found in both libraries' naming,
drawn per surface from a stream of their own, rendered with their maps; labels unchanged."""

from __future__ import annotations

import colorsys
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from simgen import SimgenError
from simgen.assets.pbr import BUNDLED_PBR, classify, pbr_sets, read_set

REPO = Path(__file__).resolve().parents[1]


def flat(path: Path, rgb, size: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), rgb, np.uint8)).save(path)
    return path


# ------------------------------------------------------------------ finding sets


@pytest.mark.parametrize("name, kind", [
    ("Bricks076C_1K-JPG_Color.jpg", ("color", None)), ("Bricks076C_1K-JPG_NormalGL.jpg", ("normal", "opengl")),
    ("Bricks076C_1K-JPG_NormalDX.jpg", ("normal", "directx")), ("Bricks076C_1K-JPG_Roughness.jpg", ("roughness", None)),
    ("Bricks076C_1K-JPG_Displacement.jpg", ("displacement", None)),
    ("Bricks076C_1K-JPG_AmbientOcclusion.jpg", ("ao", None)), ("Metal032_2K-PNG_Metalness.png", ("metalness", None)),
    ("brick_wall_001_diff_1k.jpg", ("color", None)), ("brick_wall_001_nor_gl_1k.exr", ("normal", "opengl")),
    ("brick_wall_001_nor_dx_1k.png", ("normal", "directx")), ("brick_wall_001_rough_1k.jpg", ("roughness", None)),
    ("brick_wall_001_disp_1k.png", ("displacement", None)), ("brick_wall_001_arm_1k.jpg", ("arm", None)),
    ("wood_albedo.png", ("color", None)), ("wood_base_color.png", ("color", None)), ("wood_height.png", ("displacement", None)),
    ("wood_normal.png", ("normal", None)), ("Bricks076C.png", None), ("Bricks076C_1K-JPG.usdc", None)])
def test_maps_are_recognised_by_the_libraries_names(name, kind):
    assert classify(name) == kind


def test_sets_in_both_layouts_and_conventions(tmp_path):
    amb = tmp_path / "ambientcg" / "Bricks076C"
    for m in ("Color", "NormalGL", "NormalDX", "Roughness", "Displacement"):
        flat(amb / f"Bricks076C_1K-JPG_{m}.jpg", (120, 60, 40))
    flat(amb / "Bricks076C.png", (0, 0, 0))  # the preview: no map
    ph = tmp_path / "polyhaven" / "rock"
    for m in ("diff", "nor_dx", "arm", "disp"):
        flat(ph / f"rock_{m}_1k.png", (90, 90, 90))
    plain = tmp_path / "mine" / "cloth"
    flat(plain / "cloth_albedo.png", (10, 10, 200))
    flat(plain / "cloth_normal.png", (128, 128, 255))
    (plain / "material.json").write_text('{"normal": "directx"}')
    flat(tmp_path / "mine" / "no_colour" / "x_roughness.png", (1, 1, 1))  # no colour map: no set
    sets = {s.name: s for s in pbr_sets(str(tmp_path))}
    assert sorted(sets) == ["Bricks076C", "cloth", "rock"]
    assert Path(sets["Bricks076C"].normal).name.endswith("NormalGL.jpg")  # both shipped: OpenGL kept
    assert sets["Bricks076C"].normal_convention == "opengl" and sets["Bricks076C"].roughness
    assert sets["rock"].normal_convention == "directx" and sets["rock"].arm and sets["rock"].roughness is None
    assert sets["cloth"].normal_convention == "directx"
    assert read_set(tmp_path / "mine" / "no_colour") is None


def test_bundled_sets_are_what_the_script_makes(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_pbr_sets", REPO / "scripts" / "make_pbr_sets.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    files = mod.build_files()
    assert {p: (BUNDLED_PBR / p).read_bytes() for p in files} == files
    assert [s.name for s in pbr_sets(str(BUNDLED_PBR))] == ["SimgenPlanks001", "SimgenTiles001"]


@pytest.mark.parametrize("make, message", [
    (lambda t: None, "is not a folder"),
    (lambda t: flat(t / "pbr" / "a" / "a_roughness.png", (1, 1, 1)), "holds no PBR set"),
    (lambda t: (flat(t / "pbr" / "a" / "a_diff_1k.png", (1, 1, 1)),
                (t / "pbr" / "a" / "a_rough_1k.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")), "a_rough_1k.png"),
    (lambda t: (flat(t / "pbr" / "a" / "a_albedo.png", (1, 1, 1)), flat(t / "pbr" / "a" / "a_normal.png", (1, 1, 1)),
                (t / "pbr" / "a" / "material.json").write_text('{"normal": "sideways"}')), "use \"opengl\" or \"directx\""),
])
def test_bad_sets_are_one_line_errors(tmp_path, make, message):
    from test_randomization import settings_for

    make(tmp_path)
    with pytest.raises(SimgenError) as e:
        settings_for(tmp_path, "materials=pbr", f"materials.pbr_dir={tmp_path / 'pbr'}")
    assert message in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------ drawing


def test_pbr_draws_come_from_their_own_stream(tmp_path):
    """With sets on, every other draw of the scene is as without them; shared surfaces share
    one set; the draws stay in their ranges and are recorded."""
    from simgen.pipeline import catalog_for, load_recipe, make_frame_scene
    from test_randomization import settings_for

    bare = settings_for(tmp_path, "scene.background=[walls]", "scene.placement=physics", "scene.distractors=[2,3]")
    pbr = settings_for(tmp_path, "scene.background=[walls]", "scene.placement=physics", "scene.distractors=[2,3]",
                       "materials=pbr", "materials.pbr_rotation=[10,20]")
    recipe, catalog = load_recipe("tabletop"), catalog_for(bare)
    for index in range(4):
        a, b = make_frame_scene(recipe, bare, catalog, index), make_frame_scene(recipe, pbr, catalog, index)
        assert [(o.name, o.mesh_to_world.tolist()) for o in a.objects] == [(o.name, o.mesh_to_world.tolist())
                                                                            for o in b.objects]
        by_role: dict[str, set] = {}
        for o in b.objects:
            if o.role in ("ground", "wall", "support", "distractor"):
                assert o.material.pbr is not None and o.material.texture is None
                d = o.material.to_dict()["pbr"]
                assert 10 <= np.degrees(o.material.pbr.rotation) <= 20 and 0.3 <= d["scale"] <= 1.5
                by_role.setdefault(o.role, set()).add(json.dumps(d, sort_keys=True))
            else:
                assert o.material.pbr is None
        assert all(len(v) == 1 for k, v in by_role.items() if k != "distractor")
        assert {"ground", "wall", "distractor"} <= set(by_role)


# ------------------------------------------------------------------ rendering


def render(tmp_path: Path, name: str, *extra: str) -> Path:
    from omegaconf import OmegaConf

    from simgen.compose.store import compose
    from simgen.pipeline import run
    from simgen.compose.settings import to_settings

    out = tmp_path / name
    cfg = compose([
        "render.width=80", "render.height=60", "render.samples=8", "render.adaptive_threshold=0",
        "render.denoise=false", "render.device=cpu", "frames=2", "seed=4", "lighting=narrow",
        "lighting.saturation=[0,0]", "objects.count=[2,3]", f"output.dir={out}", *extra])
    run(to_settings(cfg), OmegaConf.to_container(cfg, resolve=True))
    return out


@pytest.mark.render
def test_the_ground_takes_its_sets_colour_and_labels_do_not_change(tmp_path):
    """A set whose colour map is green, then one whose colour map is red, on the ground (tint
    off): the ground's pixels take the map's hue; every label file is byte-identical to the
    run without sets."""
    for name, rgb in (("green", (40, 180, 40)), ("red", (190, 40, 40))):
        flat(tmp_path / "sets" / name / "s" / "s_diff_1k.png", rgb, 32)
        flat(tmp_path / "sets" / name / "s" / "s_rough_1k.png", (200, 200, 200), 32)
    plain = render(tmp_path, "plain")
    hues = {}
    for name in ("green", "red"):
        out = render(tmp_path, name, "materials=pbr", f"materials.pbr_dir={tmp_path / 'sets' / name}",
                     "materials.pbr_tint=[0,0]")
        for kind in ("instance", "semantic", "depth", "normal"):
            for f in sorted((plain / kind).iterdir()):
                assert f.read_bytes() == (out / kind / f.name).read_bytes(), (name, kind, f.name)
        assert json.loads((plain / "coco.json").read_text())["annotations"] == \
            json.loads((out / "coco.json").read_text())["annotations"]
        meta = json.loads((out / "meta" / "000000.json").read_text())
        ground = next(o for o in meta["objects"] if o["name"] == "ground")
        assert ground["material"]["pbr"]["set"] == "s" and ground["material"]["pbr"]["maps"]["color"] == "s_diff_1k.png"
        rgb = cv2.imread(str(out / "images" / "000000.png"))[:, :, ::-1] / 255.0
        inst = cv2.imread(str(out / "instance" / "000000.png"), cv2.IMREAD_UNCHANGED)
        hsv = np.array([colorsys.rgb_to_hsv(*c) for c in rgb[inst == ground["instance_id"]]])
        hues[name] = hsv[hsv[:, 2] > 0.1, 0]
    assert len(hues["green"]) > 500 and np.mean((hues["green"] > 0.25) & (hues["green"] < 0.42)) > 0.95
    assert np.mean((hues["red"] < 0.05) | (hues["red"] > 0.95)) > 0.95


@pytest.mark.render
def test_directx_normal_maps_are_flipped_to_opengl(tmp_path):
    """A UV-mapped tube (V up its side) under a sun above the horizon, with a normal map tilted
    towards +V (up) as OpenGL stores it (green 0.75), the same tilt as DirectX stores it (green
    0.25), and the OpenGL file read as DirectX (tilted down): the first two shade alike, the
    third differently."""
    k = np.arange(25)
    ring = np.c_[0.05 * np.cos(2 * np.pi * k / 24), 0.05 * np.sin(2 * np.pi * k / 24)]
    lines = [f"v {x:.6f} {y:.6f} {z}" for z in (0.0, 0.15) for x, y in ring]
    lines += [f"vt {i / 24:.6f} {z}" for z in (0.0, 1.0) for i in range(25)]
    lines += [f"f {i + 1}/{i + 1} {i + 2}/{i + 2} {i + 27}/{i + 27}\nf {i + 1}/{i + 1} {i + 27}/{i + 27} {i + 26}/{i + 26}"
              for i in range(24)]
    (tmp_path / "tube.obj").write_text("\n".join(lines) + "\n")  # an open tube, UV v up its side
    (tmp_path / "catalog.yaml").write_text("categories: [tube]\nassets:\n  - mesh: tube.obj\n    category: tube\n")
    cases = {"gl_up": ("s_nor_gl_1k.png", 191), "dx_up": ("s_nor_dx_1k.png", 64), "gl_as_dx": ("s_nor_dx_1k.png", 191)}
    means = {}
    for name, (file, green) in cases.items():
        flat(tmp_path / name / "s" / "s_diff_1k.png", (200, 200, 200))
        flat(tmp_path / name / "s" / file, (128, green, 218))
        out = render(tmp_path, f"out_{name}", f"objects.catalog={tmp_path / 'catalog.yaml'}", "objects.count=[1,1]",
                     "scene.object_scale=[1,1]", "materials=pbr", f"materials.pbr_dir={tmp_path / name}",
                     "materials.pbr_surfaces=[object]", "materials.pbr_tint=[0,0]", "materials.pbr_rotation=[0,0]",
                     "materials.metallic_probability=0", "scene.camera_elevation=[10,10]", "scene.camera_distance=[0.5,0.5]",
                     "lighting.count=[1,1]", "lighting.types=[sun]", "render.auto_exposure=false",
                     "lighting.world_strength=[0,0]", "frames=1")
        meta = json.loads((out / "meta" / "000000.json").read_text())
        tube = next(o for o in meta["objects"] if o["category_id"] == 1)
        rgb = cv2.imread(str(out / "images" / "000000.png")).astype(float)
        inst = cv2.imread(str(out / "instance" / "000000.png"), cv2.IMREAD_UNCHANGED)
        assert (inst == tube["instance_id"]).sum() > 100
        means[name] = rgb[inst == tube["instance_id"]].mean()
    assert abs(means["gl_up"] - means["dx_up"]) < 0.02 * means["gl_up"] + 1, means
    assert abs(means["gl_up"] - means["gl_as_dx"]) > 5, means
