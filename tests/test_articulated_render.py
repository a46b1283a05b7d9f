"""Articulated models rendered and labelled: a catalog entry that is a URDF, posed per scene by
joint values drawn within their limits, is one instance whose labels are exact.

The ground truth is built without simgen's model code: the URDF's visuals read here with
ElementTree, each link posed by PyBullet's forward kinematics at the joint values the frame's
meta records, the link meshes loaded by trimesh from the files the URDF names, placed by the
object's mesh_to_world; the rest of the scene (ground, walls) from the dataset's own models.
Rays through every pixel centre (tests/groundtruth.py) must give Blender's instance ids on
every pixel and its depth within 1e-5.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from conftest import set_settings, tiny_settings
from groundtruth import incidence_cos, intersect, pixel_centre_rays
from simgen import SimgenError
from simgen.io.dataset.layout import read_frame
from test_articulated import DATA, MODELS, bullet_link_poses, urdf_link_visuals

pytestmark = pytest.mark.render
KEY = "kuka"
FRAMES = range(2)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("articulated")
    catalog = root / "catalog.yaml"
    catalog.write_text(f"categories: [robot]\nassets:\n  - mesh: {DATA / MODELS[KEY][0]}\n    category: robot\n"
                       "    scale: 0.25\n")
    out = root / "data"
    from simgen.pipeline import run

    run(set_settings(tiny_settings(out, frames=len(FRAMES), width=96, height=72),
                     objects__catalog=str(catalog), objects__count=[2, 2]))
    return out


def independent_mesh(joints: dict[str, float]) -> trimesh.Trimesh:
    """The arm's visuals in its root link's frame: the URDF read here, PyBullet's link poses."""
    path = DATA / MODELS[KEY][0]
    poses = bullet_link_poses(path, joints)
    return trimesh.util.concatenate([m.copy().apply_transform(poses[name]) for name, m in urdf_link_visuals(path).items()])


def ray_cast(root: Path, meta: dict) -> dict[str, np.ndarray]:
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    W, H = meta["width"], meta["height"]
    origin, dirs, _ = pixel_centre_rays(K, w2c, W, H)
    R = w2c[:3, :3]
    depth, instance, normal = np.full(W * H, np.inf), np.zeros(W * H, np.int64), np.zeros((W * H, 3))
    for o in meta["objects"]:
        if "joints" in o:
            mesh = independent_mesh(o["joints"])
        else:
            mesh = trimesh.load(root / o["mesh"], force="mesh")
        mesh.apply_transform(np.array(o["mesh_to_world"]))
        hit_t, tri = intersect(origin, dirs, mesh.triangles)
        closer = hit_t < depth
        depth[closer], instance[closer] = hit_t[closer], o["instance_id"]
        normal[closer] = mesh.face_normals[tri[closer]] @ R.T
    return {"instance": instance.reshape(H, W), "depth": depth.reshape(H, W), "normal": normal.reshape(H, W, 3)}


@pytest.fixture(scope="module")
def truth(rendered):
    return {i: ray_cast(rendered, json.loads((rendered / "meta" / f"{i:06d}.json").read_text())) for i in FRAMES}


@pytest.mark.slow  # the module's render and its ray casts: ~15 s on 2 cores
@pytest.mark.parametrize("index", FRAMES)
def test_each_arm_is_one_instance_on_every_pixel_and_its_depth_is_exact(rendered, truth, index):
    frame = read_frame(rendered, index)
    arms = [o for o in frame["meta"]["objects"] if "joints" in o]
    assert len(arms) == 2
    got, gt = frame["instance"].astype(np.int64), truth[index]["instance"]
    for o in arms:
        assert (gt == o["instance_id"]).sum() > 30, "an arm barely in view: nothing to test"
    assert np.array_equal(got, gt), f"{(got != gt).sum()} pixels disagree"
    same = (got == gt) & (gt > 0)
    rel = np.zeros(gt.shape)
    rel[same] = np.abs(frame["depth"][same] - truth[index]["depth"][same]) / truth[index]["depth"][same]
    facing = same & (incidence_cos(np.array(frame["meta"]["K"]), truth[index]["normal"]) > 0.1)
    assert rel[facing].max() < 1e-5, f"max relative depth error {rel[facing].max():.2e}"


@pytest.mark.slow
def test_the_joint_values_are_drawn_within_limits_per_scene_and_recorded(rendered):
    from simgen.assets.articulated import load_articulated

    model = load_articulated(DATA / MODELS[KEY][0])
    limits = {j.name: (j.lower, j.upper) for j in model.actuated}
    seen = []
    for i in FRAMES:
        meta = read_frame(rendered, i)["meta"]
        for o in meta["objects"]:
            if "joints" in o:
                assert set(o["joints"]) == set(limits)
                assert all(limits[k][0] <= v <= limits[k][1] for k, v in o["joints"].items())
                assert o["category"] == "robot" and o["asset"].startswith("robot/model_")
                assert (rendered / o["mesh"]).is_file()  # the pose's own model file
                seen.append(tuple(sorted(o["joints"].items())))
    assert len(set(seen)) == len(seen) == 2 * len(FRAMES)  # a configuration of its own each


@pytest.mark.slow
def test_coco_has_one_annotation_per_arm(rendered):
    coco = json.loads((rendered / "coco.json").read_text())
    for i in FRAMES:
        meta = read_frame(rendered, i)["meta"]
        ids = sorted(a["simgen"]["instance_id"] for a in coco["annotations"] if a["image_id"] == meta["coco"]["image"]["id"])
        visible = sorted(int(x) for x in np.unique(read_frame(rendered, i)["instance"]) if x)
        assert ids == [x for x in visible if x in {o["instance_id"] for o in meta["objects"] if "joints" in o}]


def test_a_catalog_entry_whose_model_is_broken_is_refused_before_anything_renders(tmp_path):
    from simgen.assets import load_catalog
    from simgen.assets.meshes import validate_catalog

    (tmp_path / "arm.urdf").write_text('<robot name="a"><link name="b"><visual><geometry><mesh filename="gone.obj"/>'
                                       "</geometry></visual></link></robot>")
    (tmp_path / "catalog.yaml").write_text("categories: [robot]\nassets:\n  - {mesh: arm.urdf, category: robot}\n")
    with pytest.raises(SimgenError, match=r"arm\.urdf: .*gone\.obj.*does not exist"):
        validate_catalog(load_catalog(tmp_path / "catalog.yaml"))
    (tmp_path / "catalog.yaml").write_text("categories: [robot]\nassets:\n  - {mesh: arm.urdf, category: robot, "
                                           "symmetries: {continuous: [{axis: [0, 0, 1], offset: [0, 0, 0]}]}}\n")
    with pytest.raises(SimgenError, match=r"'symmetries' of assets\[0\] .* an articulated model whose links move"):
        load_catalog(tmp_path / "catalog.yaml")


def test_in_a_sequence_the_joints_hold_and_the_next_sequence_draws_anew(tmp_path):
    """The pose is drawn once per scene: every step of a sequence has the same joint values (the
    model a rigid body whose flow and tracks are any object's), the next sequence new ones."""
    from fake_renderer import FakeRenderer
    from simgen.pipeline import run

    (tmp_path / "catalog.yaml").write_text(f"categories: [robot]\nassets:\n  - mesh: {DATA / MODELS[KEY][0]}\n"
                                           "    category: robot\n    scale: 0.25\n")
    out = tmp_path / "data"
    run(set_settings(tiny_settings(out, frames=6, width=32, height=24), objects__catalog=str(tmp_path / "catalog.yaml"),
                     objects__count=[1, 1], sequence__length=3), make_renderer=FakeRenderer)
    poses = [[(o["asset"], o["joints"]) for o in json.loads((out / "meta" / f"{i:06d}.json").read_text())["objects"]
              if "joints" in o] for i in range(6)]
    assert poses[0] == poses[1] == poses[2] and poses[3] == poses[4] == poses[5]
    assert len(poses[0]) == 1 and poses[0] != poses[3]


def test_an_mjcf_model_renders_as_its_posed_model_file(tmp_path):
    """gym's humanoid (MJCF, as pybullet_data ships it; its floor plane left out): drawn, posed by
    MuJoCo, rendered; every pixel's id is the ray cast of the frame's own models/ files, which
    hold each object's pose (the forward kinematics against a second implementation is
    tests/test_articulated.py's)."""
    from groundtruth import raycast_frame
    from simgen.pipeline import run

    (tmp_path / "catalog.yaml").write_text(f"categories: [figure]\nassets:\n  - mesh: {DATA / 'mjcf' / 'humanoid.xml'}\n"
                                           "    category: figure\n    scale: 0.3\n")
    out = tmp_path / "data"
    run(set_settings(tiny_settings(out, frames=1, width=96, height=72), objects__catalog=str(tmp_path / "catalog.yaml"),
                     objects__count=[1, 1]))
    frame = read_frame(out, 0)
    figure = [o for o in frame["meta"]["objects"] if "joints" in o]
    assert len(figure) == 1 and len(figure[0]["joints"]) > 10
    gt = raycast_frame(out, 0)["instance"]
    assert (gt == figure[0]["instance_id"]).sum() > 20
    assert np.array_equal(frame["instance"].astype(np.int64), gt)


def test_the_catalog_s_joint_ranges_and_configurations_reach_the_scene(tmp_path):
    from fake_renderer import FakeRenderer
    from simgen.pipeline import run

    (tmp_path / "catalog.yaml").write_text(
        f"categories: [robot]\nassets:\n  - mesh: {DATA / MODELS[KEY][0]}\n    category: robot\n    scale: 0.25\n"
        "    joints: {'lbr_iiwa_joint_[1-3]': [0.0, 0.2]}\n    configurations: {bent: {lbr_iiwa_joint_4: -1.5}}\n"
        "    spread: 0.1\n")
    out = tmp_path / "data"
    run(set_settings(tiny_settings(out, frames=4, width=32, height=24), objects__catalog=str(tmp_path / "catalog.yaml"),
                     objects__count=[1, 1]), make_renderer=FakeRenderer)
    for i in range(4):
        (q,) = [o["joints"] for o in json.loads((out / "meta" / f"{i:06d}.json").read_text())["objects"] if "joints" in o]
        assert all(0.0 <= q[f"lbr_iiwa_joint_{k}"] <= 0.2 for k in (1, 2, 3))
        assert abs(q["lbr_iiwa_joint_4"] + 1.5) <= 0.1


CUP = """<robot name="cup">
  <link name="bottom"><visual><origin xyz="0 0 0.01"/><geometry><box size="0.3 0.3 0.02"/></geometry></visual></link>
  <link name="wall_x0"><visual><origin xyz="-0.14 0 0.1"/><geometry><box size="0.02 0.3 0.2"/></geometry></visual></link>
  <link name="wall_x1"><visual><origin xyz="0.14 0 0.1"/><geometry><box size="0.02 0.3 0.2"/></geometry></visual></link>
  <link name="wall_y0"><visual><origin xyz="0 -0.14 0.1"/><geometry><box size="0.26 0.02 0.2"/></geometry></visual></link>
  <link name="flap"><visual><origin xyz="0 0 0.1"/><geometry><box size="0.26 0.02 0.2"/></geometry></visual></link>
  <joint name="x0" type="fixed"><parent link="bottom"/><child link="wall_x0"/></joint>
  <joint name="x1" type="fixed"><parent link="bottom"/><child link="wall_x1"/></joint>
  <joint name="y0" type="fixed"><parent link="bottom"/><child link="wall_y0"/></joint>
  <joint name="hinge" type="revolute"><parent link="bottom"/><child link="flap"/><origin xyz="0 0.14 0"/>
    <axis xyz="1 0 0"/><limit lower="-0.05" upper="0.05" effort="1" velocity="1"/></joint>
</robot>
"""
"""A box-shaped cup whose four walls are links of their own (one on a hinge): its hull is a solid box."""


@pytest.mark.slow  # a Blender simulation: ~5 s
def test_an_articulated_body_collides_as_its_links_hulls(tmp_path):
    """A ball dropped over the cup falls in, onto its bottom: the simulation holds the cup as its
    links' hulls (the hull of the whole would be a solid box the ball rests on at the rim)."""
    from simgen.assets import BUNDLED_BOX
    from simgen.blender import BlenderBackend
    from simgen.scene.meshes import ArticulatedMesh
    from simgen.scene.data import Camera, Material, Physics, RigidBody, Scene, SceneObject

    (tmp_path / "cup.urdf").write_text(CUP)
    cup = ArticulatedMesh((tmp_path / "cup.urdf").resolve()).posed({"hinge": 0.0})
    ball = Path(__file__).resolve().parents[1] / "assets" / "meshes" / "ball" / "ball.ply"  # 0.12 m across
    drop = np.eye(4)
    drop[:3, :3] *= 0.5  # 6 cm across, over the cup's middle
    drop[:3, 3] = (0.01, -0.02, 0.35)
    grey = Material(base_color=(0.5, 0.5, 0.5), roughness=0.5, metallic=0.0)
    objects = [SceneObject("cup", cup, np.eye(4), 1, 1, grey), SceneObject("ball", ball, drop, 2, 1, grey)]
    ground = np.diag([4.0, 4.0, 0.2, 1.0])
    ground[2, 3] = -0.1
    physics = Physics(bodies=(RigidBody(1, 2.0, 0.8, 0.0), RigidBody(2, 0.1, 0.8, 0.0)), colliders=(ground,),
                      max_seconds=8.0, rest_speed=0.002, substeps=10, margin=0.001, floor=-1.0)
    s = tiny_settings(tmp_path / "out", frames=1, width=32, height=24)
    camera = Camera(K=np.array([[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]]), width=32, height=24,
                    world_to_camera=np.eye(4))
    backend = BlenderBackend(s.render)
    try:
        poses, report = backend.settle(Scene(objects=objects, lights=[], camera=camera, physics=physics))
    finally:
        backend.close()
    assert report["at_rest"], report
    centre = poses[2][:3, 3] + poses[2][:3, :3] @ np.array([0.0, 0.0, 0.06])  # the ball's middle
    assert abs(centre[0]) < 0.13 and abs(centre[1]) < 0.13, centre  # inside the walls
    assert 0.02 + 0.03 - 0.005 < centre[2] < 0.02 + 0.03 + 0.01, centre  # on the bottom, not on the rim (0.2)
    assert abs(poses[1][2, 3]) < 0.01  # the cup stands on the ground
