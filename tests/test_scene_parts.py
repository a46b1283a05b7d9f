"""simgen.assets.parts: a scene's parts (each link of an articulated object, a body with its own
part id), made once per scene by :func:`parts_of` and never stale.

The model is a two-link URDF written here: a box base and a box arm on a revolute joint about z,
0.5 m above the base, so each part's world pose is known by hand."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from simgen import SimgenError
from simgen.assets.parts import SceneParts, parts_of
from simgen.scene.data import MAX_INSTANCE_ID, Camera, Material, Scene, SceneObject
from simgen.scene.meshes import ArticulatedMesh, GeneratedMesh

URDF = """<?xml version="1.0"?>
<robot name="two">
  <link name="base"><visual><geometry><box size="0.2 0.2 0.2"/></geometry></visual></link>
  <link name="arm"><visual><geometry><box size="0.1 0.1 0.4"/></geometry></visual></link>
  <link name="tip"/>
  <joint name="j1" type="revolute"><parent link="base"/><child link="arm"/>
    <origin xyz="0 0 0.5"/><axis xyz="0 0 1"/><limit lower="-3" upper="3" effort="1" velocity="1"/></joint>
  <joint name="j2" type="fixed"><parent link="arm"/><child link="tip"/><origin xyz="0 0 0.2"/></joint>
</robot>
"""
GREY = Material((0.5, 0.5, 0.5), 0.5, 0.0)


def _translate(x: float, y: float, z: float) -> np.ndarray:
    t = np.eye(4)
    t[:3, 3] = x, y, z
    return t


def _rz(a: float) -> np.ndarray:
    r = np.eye(4)
    r[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    return r


@pytest.fixture
def model(tmp_path) -> ArticulatedMesh:
    (tmp_path / "two.urdf").write_text(URDF)
    return ArticulatedMesh(tmp_path / "two.urdf", joints=(("j1", 0.7),))


def _scene(model: ArticulatedMesh) -> Scene:
    cube = SceneObject("cube", GeneratedMesh("box", 0), _translate(2, 0, 0), 3, 1, GREY)
    arm = SceneObject("robot", model, _translate(0, 1, 0) @ _rz(0.3), 7, 2, GREY, casts_shadow=False)
    ground = SceneObject("ground", GeneratedMesh("box", 0), np.eye(4), 5, 0, GREY, role="ground")
    cam = Camera(8, 6, np.array([[8.0, 0, 4], [0, 8, 3], [0, 0, 1]]), np.eye(4))
    return Scene([cube, arm, ground], [], cam)


def test_parts_ids_poses_and_drawn_objects_by_hand(model):
    scene = _scene(model)
    p = parts_of(scene)
    # the links with visuals, in the file's order, ids after the largest instance id (7)
    assert [(x.id, x.instance_id, x.mesh.link) for x in p.parts] == [(8, 7, "base"), (9, 7, "arm")]
    robot = _translate(0, 1, 0) @ _rz(0.3)
    np.testing.assert_allclose(p.parts[0].mesh_to_world, robot, atol=1e-12)
    np.testing.assert_allclose(p.parts[1].mesh_to_world, robot @ _translate(0, 0, 0.5) @ _rz(0.7), atol=1e-12)
    assert dict(p.by_object) == {7: p.parts} and dict(p.part_of) == {8: 7, 9: 7}
    # drawn: the rigid objects as they are (the same objects), the robot as its links in its place
    assert [o.name for o in p.drawn] == ["cube", "robot:base", "robot:arm", "ground"]
    assert p.drawn[0] is scene.objects[0] and p.drawn[3] is scene.objects[2]
    assert [o.instance_id for o in p.drawn] == [3, 8, 9, 5]
    for drawn, part in zip(p.drawn[1:3], p.parts):
        assert drawn.mesh == part.mesh and drawn.mesh_to_world is part.mesh_to_world
        assert (drawn.material, drawn.category_id, drawn.casts_shadow) == (GREY, 2, False)


def test_a_scene_without_articulated_objects_has_no_parts(model):
    scene = _scene(model)
    scene.objects = [o for o in scene.objects if o.name != "robot"]
    p = parts_of(scene)
    assert p.parts == () and not p.by_object and not p.part_of
    assert list(p.drawn) == scene.objects and all(a is b for a, b in zip(p.drawn, scene.objects))


def test_made_once_per_scene_and_read_only(model):
    scene = _scene(model)
    p = parts_of(scene)
    assert parts_of(scene) is p  # the same object: made once
    with pytest.raises(TypeError):
        p.by_object[1] = ()  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.parts = ()  # type: ignore[misc]
    assert "_parts" not in repr(scene) and "SceneParts" not in repr(scene)


@pytest.mark.parametrize("change", ["pose in place", "pose replaced", "object replaced", "object added",
                                    "object removed", "material", "joints", "instance id", "list replaced",
                                    "rigid object's id", "rigid object made a model"])
def test_never_stale_when_the_objects_change(model, change):
    scene = _scene(model)
    before = parts_of(scene)
    robot = scene.objects[1]
    if change == "pose in place":
        robot.mesh_to_world[0, 3] += 1.0
    elif change == "pose replaced":
        robot.mesh_to_world = _translate(0, 0, 3)
    elif change == "object replaced":
        scene.objects[1] = dataclasses.replace(robot, name="other")
    elif change == "object added":
        scene.objects.append(SceneObject("late", GeneratedMesh("box", 0), np.eye(4), 20, 1, GREY))
    elif change == "object removed":
        del scene.objects[0]
    elif change == "material":
        robot.material = Material((1.0, 0.0, 0.0), 0.2, 0.0)
    elif change == "joints":
        robot.mesh = model.posed({"j1": -0.4})
    elif change == "instance id":
        robot.instance_id = 11
    elif change == "rigid object's id":
        scene.objects[0].instance_id = 40  # the parts' ids follow the largest
    elif change == "rigid object made a model":
        scene.objects[0].mesh = model
    else:
        scene.objects = list(scene.objects)[::-1]
    after = parts_of(scene)
    assert after is not before
    fresh = SceneParts.of(scene.objects)  # what it would be, made from nothing
    assert [(x.id, x.instance_id, x.mesh) for x in after.parts] == [(x.id, x.instance_id, x.mesh) for x in fresh.parts]
    for a, b in zip(after.parts, fresh.parts):
        np.testing.assert_array_equal(a.mesh_to_world, b.mesh_to_world)
    assert [(o.name, o.instance_id, o.material) for o in after.drawn] == \
        [(o.name, o.instance_id, o.material) for o in fresh.drawn]
    assert parts_of(scene) is after


def test_a_rigid_object_changed_in_place_is_drawn_as_it_is_now(model):
    """An object without parts is drawn as itself: its pose or material changed in place keep the parts."""
    scene = _scene(model)
    before = parts_of(scene)
    scene.objects[0].mesh_to_world = _translate(5, 5, 5)
    scene.objects[0].material = Material((0.0, 1.0, 0.0), 0.1, 0.0)
    assert parts_of(scene) is before
    np.testing.assert_array_equal(before.drawn[0].mesh_to_world, _translate(5, 5, 5))
    assert before.drawn[0].material.base_color == (0.0, 1.0, 0.0)


def test_a_scene_made_from_another_makes_its_own(model):
    scene = _scene(model)
    p = parts_of(scene)
    moved = scene.settled({7: _translate(0, 0, 1)}, {"steps": 1})
    assert moved._parts is None
    q = parts_of(moved)
    assert q is not p and [x.id for x in q.parts] == [x.id for x in p.parts]
    np.testing.assert_allclose(q.parts[0].mesh_to_world, _translate(0, 0, 1), atol=1e-12)
    assert parts_of(scene) is p  # the first scene keeps its own


def test_too_many_ids_is_one_line_and_nothing_is_kept(model):
    scene = _scene(model)
    scene.objects[0].instance_id = MAX_INSTANCE_ID - 1
    with pytest.raises(SimgenError, match=rf"need ids up to {MAX_INSTANCE_ID + 1}, more than the {MAX_INSTANCE_ID} "
                                          "a 16-bit label holds; draw fewer objects"):
        parts_of(scene)
    assert scene._parts is None
    scene.objects[0].instance_id = 3
    assert [x.id for x in parts_of(scene).parts] == [8, 9]


def test_the_scene_module_names_no_assets():
    """The scene is plain data: importing it (and making a scene) loads no part of simgen.assets."""
    code = ("import sys, numpy as np; from simgen.scene.data import Scene, Camera; "
            "Scene([], [], Camera(2, 2, np.eye(3), np.eye(4))); "
            "print([m for m in sys.modules if m.startswith('simgen.assets')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
