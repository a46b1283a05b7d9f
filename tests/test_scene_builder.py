"""simgen.recipes.SceneBuilder, what a recipe is written with: it numbers the catalog's objects first,
holds the file's parts and a robot in the simulation, records every draw, and draws from the one
generator it is given (the same scenes for the same seed, another draw for another); the one
vocabulary a recipe imports (simgen.recipes) is enough for the tutorial's recipe in forty lines."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

from docblocks import ROOT, blocks_of
from simgen import SimgenError

ABOVE = SimpleNamespace(camera_distance=[0.9, 1.3], camera_elevation=[75.0, 90.0], camera_azimuth=[0.0, 360.0],
                        look_at_jitter=0.02)
"""Where the camera stands: the fields of a recipe's Config that SceneBuilder.camera_around reads."""


def settings_and_catalog(tmp_path, *overrides):
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for

    s = check_dataset(["scene=bin_picking", "objects.count=[3,3]", f"output.dir={tmp_path / 'out'}", *overrides])
    return s, catalog_for(s)


def build_bin(s, catalog, seed: int, robot: bool = True, category=None):
    from simgen.recipes import ASSET_DIR, SceneBuilder, bin_floor

    build = SceneBuilder(s, catalog, np.random.default_rng(seed))
    world = build.load_world(ASSET_DIR / "environments" / "bin.glb")
    floor = bin_floor(world, ["bin*"])
    build.drop(build.pick_objects(scale=[0.4, 0.6]), into=floor)
    if robot:
        build.stand(ASSET_DIR / "robots" / "arm.urdf", at=[0.42, 0, 0], yaw=[150, 210], category=category)
    build.light(floor.centre)
    return build.scenes(2, lambda: build.camera_around(floor.centre, ABOVE)), world


def test_the_catalog_objects_come_first_then_the_file_then_the_robot_each_id_once(tmp_path):
    s, catalog = settings_and_catalog(tmp_path)
    scenes, world = build_bin(s, catalog, seed=3)
    objects = scenes[0].objects
    assert [o.instance_id for o in objects] == list(range(1, len(objects) + 1))
    roles = [("object" if o.category_id else "environment" if o.role == "environment" else "robot") for o in objects]
    assert roles == ["object"] * 3 + ["environment"] * len(world.parts) + ["robot"], roles
    assert [o.name for o in objects[3:-1]] == [f"env_{p.name}" for p in world.parts]
    assert all(re.fullmatch(rf"obj{o.instance_id:03d}_.+", o.name) for o in objects[:3] + [objects[-1]])
    assert [o.asset_id for o in objects[:3]] == [d["asset"] for d in scenes[0].params["objects"]["objects"]]
    # the simulation: a body per dropped object (its id), the file's parts and the robot held still
    physics = scenes[0].physics
    assert [b.instance_id for b in physics.bodies] == [1, 2, 3]
    assert any(m is objects[-1].mesh for m, _ in physics.static)
    assert len(physics.colliders) >= 1 and physics.floor < min(float(world.bounds[:, 0, 2].min()), 0.0)
    # both steps share the scene; each has its own camera
    assert scenes[1].objects == objects and scenes[0].camera is not scenes[1].camera


def test_every_draw_is_recorded_and_the_same_seed_draws_the_same_scenes(tmp_path):
    s, catalog = settings_and_catalog(tmp_path)
    a, _ = build_bin(s, catalog, seed=5)
    b, _ = build_bin(s, catalog, seed=5)
    c, _ = build_bin(s, catalog, seed=6)
    assert [sc.stage_key() for sc in a] == [sc.stage_key() for sc in b] and a[0].params == b[0].params
    assert a[0].stage_key() != c[0].stage_key()
    p = a[0].params
    assert p["recipe"] == "bin_picking" and p["file"].endswith("bin.glb") and p["placement"] == {"mode": "physics"}
    drawn = p["objects"]["objects"]
    assert p["objects"]["count_drawn"] == 3 and len(drawn) == 3 and p["objects"]["dropped"] == []
    for o, d in zip(a[0].objects[:3], drawn):
        assert d["asset"] == o.asset_id and {"scale", "rotation", "drop_center", "radius", "gap", "mass", "friction",
                                              "restitution"} <= set(d)
        body = next(x for x in a[0].physics.bodies if x.instance_id == o.instance_id)
        assert (d["mass"], d["friction"], d["restitution"]) == (body.mass, body.friction, body.restitution)
    robot = a[0].objects[-1]
    assert 150 <= p["robot"]["yaw_deg"] <= 210 and p["robot"]["joints"] == dict(robot.mesh.joints)
    assert np.allclose(robot.mesh_to_world[:3, 3], [0.42, 0, 0])
    assert "lights" in p and all("eye" in sc.params["camera"] for sc in a)
    assert a[0].params["camera"] != a[1].params["camera"]  # a camera drawn per step


def test_a_robot_labelled_by_a_category_and_bad_calls_are_one_line(tmp_path):
    from simgen.recipes import SceneBuilder

    s, catalog = settings_and_catalog(tmp_path)
    box = catalog.categories[0]
    scenes, _ = build_bin(s, catalog, seed=3, category=box.name)
    assert scenes[0].objects[-1].category_id == box.id
    with pytest.raises(SimgenError, match=r"^category=crane: no such category in the catalog \("):
        build_bin(s, catalog, seed=3, category="crane")
    build = SceneBuilder(s, catalog, np.random.default_rng(0))
    with pytest.raises(SimgenError, match=r"light the scene first"):
        build.scenes(1, lambda: None)


def test_objects_wider_than_the_bin_are_left_out_and_recorded(tmp_path):
    from simgen.recipes import SHORTFALL, ASSET_DIR, SceneBuilder, bin_floor

    s, catalog = settings_and_catalog(tmp_path)
    build = SceneBuilder(s, catalog, np.random.default_rng(1))
    floor = bin_floor(build.load_world(ASSET_DIR / "environments" / "bin.glb"), ["bin*"])
    build.drop(build.pick_objects(scale=[8.0, 8.0]), into=floor)  # every object far wider than the bin
    build.light(floor.centre)
    (scene,) = build.scenes(1, lambda: build.camera_around(floor.centre, ABOVE))
    p = scene.params
    assert len(p["objects"]["dropped"]) == 3 and p["objects"]["objects"] == []
    assert p[SHORTFALL]["placed"] == 0 and p[SHORTFALL]["wanted"] == 3
    assert p[SHORTFALL]["message"].startswith("impossible placement: 3 of the objects drawn are wider than the bin")
    assert scene.physics.bodies == ()  # nothing to settle: the simulation holds the bin alone


def test_the_tutorials_recipe_is_forty_lines_from_one_module():
    """docs/tutorials/own-recipe.md's recipe: at most 40 lines, every simgen name from simgen.recipes."""
    (recipe,) = [b.text for b in blocks_of(ROOT / "docs" / "tutorials" / "own-recipe.md")
                 if b.lang == "python" and "RECIPE = Recipe(" in b.text]
    lines = recipe.strip().splitlines()
    assert len(lines) <= 40, len(lines)
    imports = [ln for ln in lines if re.match(r"(from|import) simgen", ln)]
    assert imports == [ln for ln in lines if ln.startswith("from simgen.recipes import ")] and len(imports) == 1


def test_an_object_that_moves_is_posed_at_each_step_and_named_by_its_id(tmp_path):
    from simgen.scene.data import Material
    from simgen.recipes import ASSET_DIR, SceneBuilder, SceneObject

    s, catalog = settings_and_catalog(tmp_path)
    build = SceneBuilder(s, catalog, np.random.default_rng(2))
    box = ASSET_DIR / "meshes" / "box" / "cube.obj"
    GREY = Material(base_color=(0.5, 0.5, 0.5), roughness=0.5, metallic=0.0)

    def at(x: float) -> np.ndarray:
        pose = np.eye(4)
        pose[0, 3] = x
        return pose

    build.add(SceneObject(name="still", mesh=box, mesh_to_world=at(5.0), instance_id=0, category_id=0,
                          material=GREY, role="support"))  # not an object: numbered after the objects
    build.add(SceneObject(name="", mesh=box, mesh_to_world=at(0.0), instance_id=0, category_id=1, material=GREY),
              annotated_first=True, named=lambda iid: f"flyer{iid:03d}", moves=lambda step: at(0.1 * step))
    build.light(np.zeros(3))
    scenes = build.scenes(3, lambda: build.camera_around(np.zeros(3), ABOVE))
    for step, scene in enumerate(scenes):
        flyer, still = scene.objects
        assert (flyer.name, flyer.instance_id, still.name, still.instance_id) == ("flyer001", 1, "still", 2)
        assert flyer.mesh_to_world[0, 3] == pytest.approx(0.1 * step) and still.mesh_to_world[0, 3] == 5.0


def test_more_objects_than_a_frame_has_ids_for_is_one_line(tmp_path):
    from simgen.scene.data import MAX_INSTANCE_ID, Material
    from simgen.recipes import ASSET_DIR, SceneBuilder, SceneObject

    s, catalog = settings_and_catalog(tmp_path)
    build = SceneBuilder(s, catalog, np.random.default_rng(0))
    grey = Material(base_color=(0.5, 0.5, 0.5), roughness=0.5, metallic=0.0)
    for k in range(MAX_INSTANCE_ID + 1):
        build.add(SceneObject(name=f"part{k}", mesh=ASSET_DIR / "meshes" / "box" / "cube.obj", mesh_to_world=np.eye(4),
                              instance_id=0, category_id=0, material=grey, role="environment"))
    build.light(np.zeros(3))
    with pytest.raises(SimgenError, match=rf"^{MAX_INSTANCE_ID + 1} objects in a scene are more than the "
                                          rf"{MAX_INSTANCE_ID} instance ids a frame has; join parts in the file"):
        build.scenes(1, lambda: build.camera_around(np.zeros(3), ABOVE))
