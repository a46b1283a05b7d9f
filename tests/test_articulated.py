"""simgen.assets.articulated: URDF and MJCF models as plain data, their links' poses and drawn joints.

Proofs against a second implementation on models no one here wrote, as their package ships them
(PyBullet's ``pybullet_data``): every link's pose from :func:`link_poses` equals PyBullet's forward
kinematics; every visual's origin equals the URDF's ``<visual><origin>`` read here with
ElementTree; a small MJCF's poses equal the ones computed by hand. Then the trust corpus: each bad
file is one SimgenError line saying what is wrong.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pybullet
import pybullet_data
import pytest

from simgen import SimgenError
from simgen.assets import articulated
from simgen.assets.articulated import draw_configuration, link_poses, load_articulated

DATA = Path(pybullet_data.getDataPath())
MODELS = {
    "kuka": ("kuka_iiwa/model.urdf", ()),
    "panda": ("franka_panda/panda.urdf", ("franka_panda",)),
    "r2d2": ("r2d2.urdf", ()),
    "xarm6": ("xarm/xarm6_robot.urdf", ("xarm",)),
}


def _load(key: str) -> articulated.ArticulatedModel:
    rel, packages = MODELS[key]
    return load_articulated(DATA / rel, [DATA / d for d in packages])


def _matrix(pos, quat_xyzw) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3] = np.array(pybullet.getMatrixFromQuaternion(quat_xyzw)).reshape(3, 3)
    t[:3, 3] = pos
    return t


def _rotation_error(a: np.ndarray, b: np.ndarray) -> float:
    c = (np.trace(a[:3, :3].T @ b[:3, :3]) - 1) / 2
    return math.acos(min(1.0, max(-1.0, c)))


def _rpy(r: float, p: float, y: float) -> np.ndarray:
    """URDF's rpy: fixed axes X, then Y, then Z (R = Rz(y) Ry(p) Rx(r))."""
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


@pytest.fixture(scope="module")
def bullet():
    client = pybullet.connect(pybullet.DIRECT)
    yield client
    pybullet.disconnect(client)


def _bullet_poses(client: int, key: str | Path, values: dict[str, float]) -> dict[str, np.ndarray]:
    """Every link's URDF frame relative to the root link's, by PyBullet at ``values`` (every moving joint)
    of model ``key`` (of MODELS) or of a URDF file."""
    path = DATA / MODELS[key][0] if key in MODELS else Path(key)
    body = pybullet.loadURDF(str(path), useFixedBase=True, physicsClientId=client)
    try:
        base = _matrix(*pybullet.getBasePositionAndOrientation(body, physicsClientId=client))
        inertial = pybullet.getDynamicsInfo(body, -1, physicsClientId=client)
        root = base @ np.linalg.inv(_matrix(inertial[3], inertial[4]))
        names = {}
        for j in range(pybullet.getNumJoints(body, physicsClientId=client)):
            info = pybullet.getJointInfo(body, j, physicsClientId=client)
            names[j] = info[12].decode()
            if info[1].decode() in values:
                pybullet.resetJointState(body, j, values[info[1].decode()], physicsClientId=client)
        poses = {}
        for j, name in names.items():
            s = pybullet.getLinkState(body, j, computeForwardKinematics=True, physicsClientId=client)
            poses[name] = np.linalg.inv(root) @ _matrix(s[4], s[5])
        return poses
    finally:
        pybullet.removeBody(body, physicsClientId=client)


def bullet_link_poses(urdf: Path, joints: dict[str, float]) -> dict[str, np.ndarray]:
    """Every link's pose in the root link's frame by PyBullet at ``joints`` (the root link's, the
    identity, too), each mimic joint following its leader as the URDF's ``<mimic>`` says (read
    here with ElementTree, not by simgen)."""
    values = dict(joints)
    root = ET.parse(urdf).getroot()
    for joint in root.findall("joint"):
        mimic = joint.find("mimic")
        if mimic is not None:
            values[joint.get("name")] = (float(mimic.get("multiplier", "1")) * values[mimic.get("joint")]
                                         + float(mimic.get("offset", "0")))
    client = pybullet.connect(pybullet.DIRECT)
    try:
        poses = _bullet_poses(client, urdf, values)
    finally:
        pybullet.disconnect(client)
    return {link.get("name"): poses.get(link.get("name"), np.eye(4)) for link in root.findall("link")}


def urdf_link_visuals(urdf: Path) -> dict[str, "trimesh.Trimesh"]:
    """Each link's mesh visuals in the link's own frame, read here from the URDF with ElementTree and
    trimesh (a ``package://NAME/...`` path as NAME/... beside the URDF, as pybullet_data lays its
    models out); links without a visual left out."""
    import trimesh

    out = {}
    for link in ET.parse(urdf).getroot().findall("link"):
        parts = []
        for visual in link.findall("visual"):
            origin = visual.find("origin")
            xyz = [float(s) for s in (origin.get("xyz", "0 0 0") if origin is not None else "0 0 0").split()]
            rpy = [float(s) for s in (origin.get("rpy", "0 0 0") if origin is not None else "0 0 0").split()]
            local = np.eye(4)
            local[:3, :3], local[:3, 3] = _rpy(*rpy), xyz
            geometry = visual.find("geometry")[0]
            assert geometry.tag == "mesh"
            m = trimesh.load(urdf.parent / geometry.get("filename").removeprefix("package://"), force="mesh")
            m.apply_transform(np.diag([*(float(s) for s in geometry.get("scale", "1 1 1").split()), 1.0]))
            m.apply_transform(local)
            parts.append(m)
        if parts:
            out[link.get("name")] = trimesh.util.concatenate(parts)
    return out


def _with_followers(model: articulated.ArticulatedModel, q: dict[str, float]) -> dict[str, float]:
    out = dict(q)
    for j in model.joints:
        if j.mimic is not None:
            out[j.name] = j.mimic[1] * out[j.mimic[0]] + j.mimic[2]
    return out


# ------------------------------------------------------------------ real models against PyBullet


@pytest.mark.parametrize("key", sorted(MODELS))
def test_link_poses_equal_pybullets_forward_kinematics(key, bullet):
    model = _load(key)
    rng = np.random.default_rng(62)
    for _ in range(5):
        q = draw_configuration(model, rng)
        ours = link_poses(model, q)
        theirs = _bullet_poses(bullet, key, _with_followers(model, q))
        assert set(theirs) | {model.root} == set(ours) == {k.name for k in model.links}
        np.testing.assert_array_equal(ours[model.root], np.eye(4))
        for name, pose in theirs.items():
            assert np.abs(ours[name][:3, 3] - pose[:3, 3]).max() < 1e-6, (key, name)
            assert _rotation_error(ours[name], pose) < 1e-6, (key, name)


def test_pandas_finger_follows_its_leader():
    model = _load("panda")
    finger = next(j for j in model.joints if j.mimic is not None)
    assert (finger.name, finger.mimic) == ("panda_finger_joint2", ("panda_finger_joint1", 1.0, 0.0))
    assert finger not in model.actuated and len(model.actuated) == 8
    closed = link_poses(model, {"panda_finger_joint1": 0.0})
    opened = link_poses(model, {"panda_finger_joint1": 0.03})

    def gap(poses: dict[str, np.ndarray]) -> float:
        return float(np.linalg.norm(poses["panda_leftfinger"][:3, 3] - poses["panda_rightfinger"][:3, 3]))

    assert gap(opened) - gap(closed) == pytest.approx(0.06, abs=1e-9)
    with pytest.raises(ValueError, match="follows 'panda_finger_joint1'"):
        link_poses(model, {"panda_finger_joint2": 0.01})


@pytest.mark.parametrize("key", sorted(MODELS))
def test_draws_lie_within_limits_and_repeat_with_the_seed(key):
    model = _load(key)
    draws = [draw_configuration(model, np.random.default_rng(seed)) for seed in range(200)]
    for j in model.actuated:
        values = np.array([d[j.name] for d in draws])
        if j.kind == "continuous":
            assert values.min() >= -math.pi and values.max() < math.pi
            assert np.degrees(values.max() - values.min()) > 300
        else:
            assert values.min() >= j.lower and values.max() <= j.upper
    assert draw_configuration(model, np.random.default_rng(7)) == draw_configuration(model, np.random.default_rng(7))
    assert list(draws[0]) == [j.name for j in model.actuated]


def test_a_value_outside_its_limits_or_unknown_is_refused():
    model = _load("kuka")
    with pytest.raises(ValueError, match="outside its limits"):
        link_poses(model, {"lbr_iiwa_joint_1": 3.5})
    with pytest.raises(ValueError, match="no such actuated joint.*did you mean 'lbr_iiwa_joint_1'"):
        link_poses(model, {"lbr_iiwa_joint1": 0.1})
    with pytest.raises(ValueError, match="not finite"):
        link_poses(model, {"lbr_iiwa_joint_1": float("nan")})
    r2d2 = _load("r2d2")
    link_poses(r2d2, {"head_swivel": 10.0})  # continuous: any angle


def test_the_model_is_plain_data():
    model = _load("r2d2")
    assert model.format == "urdf" and model.root == "base_link" and model.name == "physics"
    kinds = {j.name: j.kind for j in model.joints}
    assert kinds["head_swivel"] == "continuous" and kinds["gripper_extension"] == "prismatic"
    assert kinds["tobox"] == "fixed"
    head = next(j for j in model.joints if j.name == "head_swivel")
    assert head.lower is head.upper is None
    parents = {k.name: k.parent for k in model.links}
    assert parents["base_link"] is None and all(parents[j.child] == j.parent for j in model.joints)
    assert _load("r2d2") is model  # cached


# ------------------------------------------------------------------ visuals against the file


@pytest.mark.parametrize("key", sorted(MODELS))
def test_visuals_are_the_files_visual_elements(key):
    model = _load(key)
    rel, packages = MODELS[key]
    folder = (DATA / rel).parent
    root = ET.parse(DATA / rel).getroot()
    for el in root.findall("link"):
        visuals = model.link(el.get("name")).visuals
        expected = el.findall("visual")
        assert len(visuals) == len(expected), el.get("name")
        for v, x in zip(visuals, expected):
            origin = x.find("origin")
            xyz = [float(s) for s in (origin.get("xyz", "0 0 0") if origin is not None else "0 0 0").split()]
            rpy = [float(s) for s in (origin.get("rpy", "0 0 0") if origin is not None else "0 0 0").split()]
            np.testing.assert_allclose(v.origin[:3, 3], xyz, atol=1e-12)
            np.testing.assert_allclose(v.origin[:3, :3], _rpy(*rpy), atol=1e-9)
            np.testing.assert_array_equal(v.origin[3], [0, 0, 0, 1])
            geometry = x.find("geometry")[0]
            if geometry.tag == "mesh":
                assert v.kind == "mesh" and v.mesh.is_file()
                inside = [folder.resolve()] + [(DATA / d).resolve() for d in packages]
                assert any(v.mesh.is_relative_to(d) for d in inside)
                assert v.mesh.name == Path(geometry.get("filename")).name
                np.testing.assert_allclose(v.scale, [float(s) for s in geometry.get("scale", "1 1 1").split()])
            elif geometry.tag == "box":
                assert v.kind == "box"
                np.testing.assert_allclose(v.size, [float(s) / 2 for s in geometry.get("size").split()])
            elif geometry.tag == "cylinder":
                assert v.kind == "cylinder"
                np.testing.assert_allclose(v.size, [float(geometry.get("radius")), float(geometry.get("length")) / 2])
            else:
                assert (v.kind, v.size) == ("sphere", (float(geometry.get("radius")),))


# ------------------------------------------------------------------ MJCF


ARM = """<mujoco model="arm">
  <compiler angle="degree"/>
  <worldbody>
    <geom name="floor" type="plane" size="1 1 0.1"/>
    <body name="a" pos="0 0 1">
      <joint name="yaw" type="hinge" axis="0 0 1" range="-90 90"/>
      <geom type="box" size="0.1 0.1 0.1"/>
      <body name="b" pos="1 0 0" euler="0 0 90">
        <joint name="pitch" type="hinge" axis="0 1 0"/>
        <geom type="capsule" fromto="0 0 0 0 0 -0.5" size="0.05" group="3"/>
        <body name="c" pos="0 0 -0.5">
          <joint name="slide" type="slide" axis="1 0 0" range="-0.2 0.3"/>
          <geom type="sphere" size="0.05"/>
        </body>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


def _rot(axis: str, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    m = {"y": [[c, 0, s], [0, 1, 0], [-s, 0, c]], "z": [[c, -s, 0], [s, c, 0], [0, 0, 1]]}[axis]
    t = np.eye(4)
    t[:3, :3] = m
    return t


def _shift(x: float, y: float, z: float) -> np.ndarray:
    t = np.eye(4)
    t[:3, 3] = (x, y, z)
    return t


def test_a_small_mjcf_against_its_poses_by_hand(tmp_path):
    (tmp_path / "arm.xml").write_text(ARM)
    model = load_articulated(tmp_path / "arm.xml")
    assert model.format == "mjcf" and model.root == "world" and model.name == "arm"
    assert [(j.name, j.kind, j.parent, j.child) for j in model.joints] == [
        ("yaw", "revolute", "world", "a"), ("pitch", "continuous", "a", "b"), ("slide", "prismatic", "b", "c")]
    assert (model.joints[0].lower, model.joints[0].upper) == pytest.approx((-math.pi / 2, math.pi / 2))
    assert (model.joints[2].lower, model.joints[2].upper) == pytest.approx((-0.2, 0.3))
    assert [v.kind for v in model.link("world").visuals] == ["plane"]
    assert model.link("b").visuals == ()  # group 3: not drawn
    rng = np.random.default_rng(3)
    for _ in range(5):
        q = draw_configuration(model, rng)
        a = _shift(0, 0, 1) @ _rot("z", q["yaw"])
        b = a @ _shift(1, 0, 0) @ _rot("z", math.pi / 2) @ _rot("y", q["pitch"])
        c = b @ _shift(0, 0, -0.5) @ _shift(q["slide"], 0, 0)
        poses = link_poses(model, q)
        for name, want in {"world": np.eye(4), "a": a, "b": b, "c": c}.items():
            np.testing.assert_allclose(poses[name], want, atol=1e-12)


GRIPPER = """<mujoco model="gripper">
  <compiler angle="degree" meshdir="meshes"/>
  <asset><mesh name="shell" file="box.obj" scale="2 3 4"/></asset>
  <worldbody>
    <body name="palm">
      <geom type="mesh" mesh="shell" pos="0.1 0.2 0.3" euler="0 0 90"/>
      <body name="left"><joint name="l" type="slide" axis="1 0 0" range="0 0.05"/><geom size="0.01"/></body>
      <body name="right"><joint name="r" type="slide" axis="1 0 0" range="-0.05 0" ref="-0.01"/><geom size="0.01"/></body>
    </body>
  </worldbody>
  <equality><joint joint1="r" joint2="l" polycoef="0 -1 0 0 0"/></equality>
</mujoco>
"""


def test_an_mjcfs_mesh_visual_and_its_coupled_joint(tmp_path):
    model = load_articulated(_model(tmp_path, GRIPPER, "gripper.xml"))
    (shell,) = model.link("palm").visuals
    assert shell.kind == "mesh" and shell.mesh == (tmp_path / "model/meshes/box.obj").resolve()
    assert shell.scale == (2.0, 3.0, 4.0)
    want = _rot("z", math.pi / 2)
    want[:3, 3] = (0.1, 0.2, 0.3)
    np.testing.assert_allclose(shell.origin, want, atol=1e-12)
    right = model.joints[1]
    assert right.mimic == ("l", -1.0, pytest.approx(-0.01)) and right.reference == pytest.approx(-0.01)
    assert [j.name for j in model.actuated] == ["l"]
    poses = link_poses(model, {"l": 0.03})
    assert poses["left"][0, 3] == pytest.approx(0.03) and poses["right"][0, 3] == pytest.approx(-0.03)
    assert link_poses(model, {})["right"][0, 3] == pytest.approx(0.0)  # l at 0: r at its ref, where the file poses it


REACHER_BY_PYBULLET = """
import json, sys, pybullet, pybullet_data, os
pybullet.connect(pybullet.DIRECT)
configs = json.loads(sys.argv[1])
ids = pybullet.loadMJCF(os.path.join(pybullet_data.getDataPath(), "mjcf/reacher.xml"))
out = []
for q in configs:
    poses = {}
    for b in ids:
        for j in range(pybullet.getNumJoints(b)):
            info = pybullet.getJointInfo(b, j)
            if info[1].decode() in q:
                pybullet.resetJointState(b, j, q[info[1].decode()])
        for j in range(pybullet.getNumJoints(b)):
            s = pybullet.getLinkState(b, j, computeForwardKinematics=True)
            poses[pybullet.getJointInfo(b, j)[12].decode()] = [list(s[4]), list(s[5])]
    out.append(poses)
print(json.dumps(out))
"""


def test_reacher_against_pybullets_mjcf_loader():
    model = load_articulated(DATA / "mjcf/reacher.xml")
    assert {j.name: j.kind for j in model.joints} == {
        "joint0": "continuous", "joint1": "revolute", "target_x": "prismatic", "target_y": "prismatic"}
    rng = np.random.default_rng(5)
    configs = [draw_configuration(model, rng) for _ in range(5)]
    r = subprocess.run([sys.executable, "-c", REACHER_BY_PYBULLET, json.dumps(configs)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    for q, theirs in zip(configs, json.loads(r.stdout.splitlines()[-1])):
        ours = link_poses(model, q)
        for name in ("body0", "body1", "fingertip", "target"):
            pose = _matrix(*theirs[name])
            assert np.abs(ours[name][:3, 3] - pose[:3, 3]).max() < 1e-6, name
            assert _rotation_error(ours[name], pose) < 1e-6, name


# ------------------------------------------------------------------ the trust corpus


def _urdf(mesh: str = "meshes/box.obj", joint: str = 'type="revolute"', limit: str = 'lower="-1" upper="1"',
          extra: str = "") -> str:
    return f"""<?xml version="1.0"?>
<robot name="two">
  <link name="base"><visual><geometry><mesh filename="{mesh}"/></geometry></visual></link>
  <link name="arm"><visual><geometry><box size="0.1 0.1 0.1"/></geometry></visual></link>
  <joint name="j1" {joint}>
    <parent link="base"/><child link="arm"/><axis xyz="0 0 1"/>
    <limit {limit} effort="1" velocity="1"/>
  </joint>
  {extra}
</robot>
"""


OBJ = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n"


def _model(tmp_path: Path, text: str, name: str = "robot.urdf") -> Path:
    (tmp_path / "model" / "meshes").mkdir(parents=True, exist_ok=True)
    (tmp_path / "model" / "meshes" / "box.obj").write_text(OBJ)
    (tmp_path / "model" / name).write_text(text)
    return tmp_path / "model" / name


def test_a_good_small_urdf_loads(tmp_path):
    model = load_articulated(_model(tmp_path, _urdf()))
    assert [v.kind for v in model.link("base").visuals] == ["mesh"]
    assert model.link("base").visuals[0].mesh == (tmp_path / "model/meshes/box.obj").resolve()
    assert model.actuated[0].name == "j1"


LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<robot name="&lol3;"><link name="base"/></robot>
"""


def _symlinked_meshes(tmp_path: Path) -> str:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "box.obj").write_text(OBJ)
    (tmp_path / "model").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "model" / "linked")
    return _urdf("linked/box.obj")


def _dae(tmp_path: Path) -> str:
    (tmp_path / "model" / "meshes").mkdir(parents=True)
    (tmp_path / "model" / "meshes" / "box.dae").write_text("<COLLADA/>")
    return _urdf("meshes/box.dae")


LOOP = _urdf(extra='<joint name="j2" type="fixed"><parent link="arm"/><child link="base"/></joint>')
TWO_PARENTS = _urdf(extra='<link name="third"/><joint name="j2" type="fixed"><parent link="third"/>'
                          '<child link="arm"/></joint>')

CORPUS = {
    "climbs-out": (lambda t: _urdf("../../outside.obj"), r"'\.\./\.\./outside\.obj', which leads out of .*model"),
    "absolute": (lambda t: _urdf("/etc/passwd.obj"), r"'/etc/passwd\.obj', which is absolute"),
    "file-url": (lambda t: _urdf("file:///etc/x.obj"), r"'file:///etc/x\.obj', which is absolute"),
    "symlink-out": (_symlinked_meshes, r"'linked/box\.obj', which leads out of .*elsewhere"),
    "package-not-found": (lambda t: _urdf("package://robot_description/meshes/box.obj"),
                          r"no package folder holds the package 'robot_description' \(searched: none given\); "
                          "pass its folder"),
    "billion-laughs": (lambda t: LAUGHS, r"declares a DOCTYPE or entities"),
    "unknown-joint": (lambda t: _urdf(joint='type="hinge"'), r"joint 'j1' has the unknown type 'hinge'"),
    "floating-joint": (lambda t: _urdf(joint='type="floating"'), r"does not move floating or planar joints"),
    "reversed-limit": (lambda t: _urdf(limit='lower="1" upper="-1"'), r"limits reversed \(lower 1.0 > upper -1.0\)"),
    "no-limit": (lambda t: _urdf(limit=""), r"revolute without <limit lower"),
    "loop": (lambda t: LOOP, r"the link 'base' has two parents|has a loop"),
    "two-parents": (lambda t: TWO_PARENTS, r"the link 'arm' has two parents \('base' and 'third'\)"),
    "missing-mesh": (lambda t: _urdf("meshes/nothere.obj"), r"nothere\.obj, which does not exist"),
    "dae-mesh": (_dae, r"the mesh box\.dae \(\.dae\), which MuJoCo cannot read; convert it to \.obj"),
    "unknown-link": (lambda t: _urdf(extra='<joint name="j2" type="fixed"><parent link="armm"/>'
                                           '<child link="x"/></joint>'), r"parent link 'armm'.*did you mean 'arm'"),
    "not-xml": (lambda t: "<robot><link", r"not readable as XML .*; fix the XML there"),
    "xacro": (lambda t: _urdf(extra='<link name="imu"/><joint name="j2" type="fixed"><parent link="arm"/>'
                                    '<child link="imu"/><origin xyz="$(optenv IMU_XYZ 0 0 0.1)"/></joint>'),
              r"robot\.urdf: it is a xacro file never expanded \('\$\(optenv IMU_XYZ 0 0 0\.1\)' on line 9 is "
              r"xacro's to fill in\); run xacro first \(pip install xacro; xacro robot\.urdf > robot\.expanded\.urdf\)"),
    "xacro-macro": (lambda t: _urdf(extra='<xacro:wheel prefix="left"/>'), r"\('<xacro:wheel' on line .*run xacro first"),
    "commas": (lambda t: _urdf(extra='<link name="c"/><joint name="j2" type="fixed"><parent link="arm"/>'
                                     '<child link="c"/><origin xyz="0.07, 0, -0.69"/></joint>'),
               r"joint 'j2' has <origin xyz='0\.07, 0, -0\.69'>, numbers separated by commas; .* remove the commas"),
    "no-links": (lambda t: '<robot name="soft"><deformable name="torus"/></robot>',
                 r"it defines no <link> .*: give it <link> elements"),
    "mimic-nothing": (lambda t: _urdf(extra='<link name="c"/><joint name="j2" type="revolute"><parent link="arm"/>'
                                            '<child link="c"/><limit lower="0" upper="1"/><mimic joint="nope"/>'
                                            '</joint>'), r"mimics 'nope', which is no moving joint"),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_bad_urdf_is_one_line(case, tmp_path):
    make, message = CORPUS[case]
    text = make(tmp_path)
    path = tmp_path / "model" / "robot.urdf"
    if not path.parent.is_dir() or not (path.parent / "meshes").exists():
        path = _model(tmp_path, text)
    else:
        path.write_text(text)
    with pytest.raises(SimgenError, match=message) as e:
        load_articulated(path)
    assert "\n" not in str(e.value) and str(path.parent) in str(e.value)


def test_a_robot_tag_in_a_comment_is_not_the_robot(tmp_path):
    text = _urdf().replace('<robot name="two">', '<!-- <robot name="old"> --><robot name="two">')
    assert load_articulated(_model(tmp_path, text)).name == "two"


def test_the_loop_and_its_cycle(tmp_path):
    text = _urdf(extra='<link name="c"/><joint name="j2" type="fixed"><parent link="arm"/><child link="c"/></joint>'
                       '<joint name="j3" type="fixed"><parent link="c"/><child link="base"/></joint>')
    with pytest.raises(SimgenError, match=r"has a loop \(every link has a parent: .*base.*\)"):
        load_articulated(_model(tmp_path, text))


def test_a_file_over_the_size_cap(tmp_path, monkeypatch):
    path = _model(tmp_path, _urdf())
    monkeypatch.setattr(articulated, "MAX_XML_BYTES", 100)
    with pytest.raises(SimgenError, match=r"robot\.urdf: 0\.0 MiB, more than simgen reads of a model file"):
        load_articulated(path)


def test_a_package_is_found_in_the_folders_given_and_confined(tmp_path):
    (tmp_path / "pkgs" / "robot_description" / "meshes").mkdir(parents=True)
    (tmp_path / "pkgs" / "robot_description" / "meshes" / "box.obj").write_text(OBJ)
    path = _model(tmp_path, _urdf("package://robot_description/meshes/box.obj"))
    for given in (tmp_path / "pkgs", tmp_path / "pkgs" / "robot_description"):
        model = load_articulated(path, [given])
        assert model.link("base").visuals[0].mesh == (tmp_path / "pkgs/robot_description/meshes/box.obj").resolve()
    path.write_text(_urdf("package://robot_description/../../model/meshes/box.obj"))
    with pytest.raises(SimgenError, match=r"leads out of .*robot_description"):
        load_articulated(path, [tmp_path / "pkgs"])
    path.write_text(_urdf("package://other/box.obj"))
    with pytest.raises(SimgenError, match=rf"package 'other' \(searched: {tmp_path / 'pkgs'}\)"):
        load_articulated(path, [tmp_path / "pkgs"])
    (tmp_path / "pkgs" / "secret.obj").write_text(OBJ)  # beside the package folders, in none of them
    path.write_text(_urdf("package://../secret.obj"))
    with pytest.raises(SimgenError, match=r"whose package name '\.\.' is not a plain folder name"):
        load_articulated(path, [tmp_path / "pkgs" / "robot_description"])


MJCF_CASES = {
    "mesh-out": ('<asset><mesh file="../out.obj"/></asset>', r"'\.\./out\.obj', which leads out"),
    "meshdir-out": ('<compiler meshdir="/tmp"/>', r"<compiler meshdir> names the path '/tmp', which is absolute"),
    "include-out": ('<include file="../x.xml"/>', r"an <include> names the path '\.\./x\.xml', which leads out"),
    "texture-missing": ('<asset><texture name="t" type="2d" file="t.png"/></asset>', r"t\.png, which does not exist"),
    "dae": ('<asset><mesh file="meshes/box.dae"/></asset>', r"the mesh box\.dae \(\.dae\), which MuJoCo cannot read"),
    "model-asset": ('<asset><model name="m" file="other.xml"/></asset>', r"<model name='m'> names the file"),
    "ball-joint": ('<worldbody><body><joint type="ball"/><geom size="1"/></body></worldbody>',
                   r"is a ball joint, which simgen does not move yet; take it out, or make it three hinges"),
    "reversed-range": ('<worldbody><body><joint name="h" range="1 -1"/><geom size="1"/></body></worldbody>',
                       r"joint 'h' has its range reversed \(1 > -1\); swap them"),
    "undefined-mesh": ('<worldbody><body><geom type="mesh" mesh="nothing"/></body></worldbody>',
                       r"names the mesh 'nothing', which the file does not define"),
    "mujoco-error": ('<worldbody><body><joint type="hinge" axis="0 0 0"/><geom size="1"/></body></worldbody>',
                     r"MuJoCo cannot (read|compile) it \(.*axis"),
}


@pytest.mark.parametrize("case", sorted(MJCF_CASES))
def test_bad_mjcf_is_one_line(case, tmp_path):
    body, message = MJCF_CASES[case]
    path = _model(tmp_path, f"<mujoco>{body}</mujoco>", "model.xml")
    (path.parent / "meshes" / "box.dae").write_text("<COLLADA/>")
    with pytest.raises(SimgenError, match=message) as e:
        load_articulated(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_a_xacro_comment_is_no_xacro(tmp_path):
    """Generated URDFs keep xacro's name in comments and the namespace on <robot>: neither is refused."""
    text = _urdf().replace('<robot name="two">', '<robot name="two" xmlns:xacro="http://ros.org/wiki/xacro">'
                           '<!-- from two.urdf.xacro: ${width} $(find two_description) -->')
    assert load_articulated(_model(tmp_path, text)).name == "two"


# ------------------------------------------------------------------ what a package ships: left out with a warning


ZERO_TOE = _urdf(extra='<link name="toe"><visual><geometry><sphere radius="0.0"/></geometry></visual>'
                       '<collision><geometry><sphere radius="0.03"/></geometry></collision></link>'
                       '<joint name="toe_joint" type="fixed"><parent link="arm"/><child link="toe"/></joint>')


def test_a_visual_of_size_0_is_left_out_with_one_warning_naming_the_link(tmp_path, caplog):
    """pybullet's laikago has toe spheres of radius 0 (MuJoCo refuses them, naming neither link nor
    line): left out, with one warning naming the file and the link; the other visuals stay."""
    path = _model(tmp_path, ZERO_TOE)
    with caplog.at_level("WARNING", logger="simgen.assets.articulated"):
        model = load_articulated(path)
        articulated._load.cache_clear()
        load_articulated(path)  # read again: no second warning
    assert model.link("toe").visuals == ()
    assert [v.kind for v in model.link("arm").visuals] == ["box"]
    (warning,) = [r.getMessage() for r in caplog.records]
    assert warning.startswith(f"{path.resolve()}: left out 1 geometry of size 0") and "link 'toe'" in warning
    assert model.notes == (warning.removeprefix(f"{path.resolve()}: "),)
    assert link_poses(model, {"j1": 0.5})["toe"].shape == (4, 4)


def test_a_missing_collision_mesh_is_left_out_with_one_warning(tmp_path, caplog):
    """kuka_iiwa's model_for_sdf.urdf names collision meshes it does not ship: rendering never reads
    collision geometry, so the model loads with its visuals and one warning; a missing visual
    mesh is still refused."""
    text = _urdf(extra='<link name="c"><visual><geometry><mesh filename="meshes/box.obj"/></geometry></visual>'
                       '<collision><geometry><mesh filename="meshes/coarse/gone.stl"/></geometry></collision>'
                       '<collision><geometry><mesh filename="meshes/box.dae"/></geometry></collision></link>'
                       '<joint name="j2" type="fixed"><parent link="arm"/><child link="c"/></joint>')
    path = _model(tmp_path, text)
    (path.parent / "meshes" / "box.dae").write_text("<COLLADA/>")
    with caplog.at_level("WARNING", logger="simgen.assets.articulated"):
        model = load_articulated(path)
    assert [v.kind for v in model.link("c").visuals] == ["mesh"]
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "left out 2 collision meshes it cannot read (of link 'c'; the first: " in warning
    assert "gone.stl, which does not exist" in warning and "visuals' hull" in warning
    assert model.notes == (warning.removeprefix(f"{path.resolve()}: "),)
    path.write_text(text.replace("meshes/box.obj", "meshes/gone.obj", 1))
    with pytest.raises(SimgenError, match=r"gone\.obj, which does not exist; fix the path"):
        load_articulated(path)


FREE = """<mujoco>
  <worldbody>
    <body name="torso" pos="0.1 0.2 1.5" euler="0 0 90">
      <freejoint name="root"/>
      <geom type="capsule" size="0.1 0.2"/>
      <body name="leg" pos="0 0 -0.4"><joint name="hip" type="hinge" axis="0 1 0" range="-60 60"/>
        <geom type="capsule" size="0.05 0.2"/></body>
    </body>
    <body name="ball" pos="1 0 0.3"><joint name="ball_free" type="free"/><geom type="sphere" size="0.1"/></body>
  </worldbody>
</mujoco>"""


def test_free_joints_are_held_where_the_file_puts_their_bodies(tmp_path):
    """The root's free joint is the model's placement: the torso stays at its pos and euler whatever
    the other joints do, and so does a second free body (a ball); neither is actuated."""
    model = load_articulated(_model(tmp_path, FREE, "figure.xml"))
    assert [j.name for j in model.held] == ["root", "ball_free"]
    assert [j.name for j in model.actuated] == ["hip"]
    assert {j.name: (j.kind, j.parent, j.child) for j in model.held} == {
        "root": ("free", "world", "torso"), "ball_free": ("free", "world", "ball")}
    for hip in (-1.0, 0.0, 0.7):
        poses = link_poses(model, {"hip": hip})
        want = _rot("z", math.pi / 2)
        want[:3, 3] = (0.1, 0.2, 1.5)
        np.testing.assert_allclose(poses["torso"], want, atol=1e-12)
        np.testing.assert_allclose(poses["ball"], _shift(1, 0, 0.3), atol=1e-12)
        np.testing.assert_allclose(poses["leg"], want @ _shift(0, 0, -0.4) @ _rot("y", hip), atol=1e-12)
    with pytest.raises(ValueError, match="no such actuated joint"):
        link_poses(model, {"root": 0.0})


def test_the_meta_names_the_free_joints_held(tmp_path):
    """A scene with the free-rooted figure: its object's meta names the free joints (held where the
    file puts their bodies), its joints the actuated one only; a URDF's names none."""
    from conftest import set_settings, tiny_settings
    from fake_renderer import FakeRenderer
    from simgen.pipeline import run

    figure = _model(tmp_path, FREE, "figure.xml")
    (tmp_path / "catalog.yaml").write_text(f"categories: [figure, robot]\nassets:\n  - {{mesh: {figure}, category: figure, scale: 0.2}}\n"
                                           f"  - {{mesh: {DATA / MODELS['kuka'][0]}, category: robot, scale: 0.25}}\n")
    out = tmp_path / "data"
    run(set_settings(tiny_settings(out, frames=2, width=32, height=24), objects__catalog=str(tmp_path / "catalog.yaml"),
                     objects__count=[4, 4]), make_renderer=FakeRenderer)
    seen = set()
    for i in range(2):
        for o in json.loads((out / "meta" / f"{i:06d}.json").read_text())["objects"]:
            if o["category"] == "figure":
                assert o["free_joints"] == ["root", "ball_free"] and list(o["joints"]) == ["hip"]
                assert {p["link"] for p in o["parts"]} == {"torso", "leg", "ball"}
            elif o["category"] == "robot":
                assert "free_joints" not in o and len(o["joints"]) == 7
            seen.add(o["category"])
    assert {"figure", "robot"} <= seen


def test_mujoco_is_imported_only_on_use():
    r = subprocess.run([sys.executable, "-c", "import sys, simgen, simgen.assets.articulated; "
                        "print('mujoco' in sys.modules)"], capture_output=True, text=True)
    assert r.stdout.strip() == "False", r.stderr


# ------------------------------------------------------------------ how a catalog wants the joints drawn


def test_ranges_by_glob_and_named_configurations_with_their_spread():
    from simgen.scene.meshes import JointDraw

    model = _load("kuka")
    draw = JointDraw(ranges=(("lbr_iiwa_joint_[12]", 0.0, 0.1), ("lbr_iiwa_joint_*", -0.5, 0.5)),
                     configurations=(("home", (("lbr_iiwa_joint_4", -0.4),)), ("away", (("lbr_iiwa_joint_4", 0.48),))),
                     spread=0.05)
    homes = set()
    for seed in range(60):
        q = draw_configuration(model, np.random.default_rng(seed), draw)
        assert 0.0 <= q["lbr_iiwa_joint_1"] <= 0.1 and 0.0 <= q["lbr_iiwa_joint_2"] <= 0.1  # the first glob that matches
        assert all(-0.5 <= q[f"lbr_iiwa_joint_{k}"] <= 0.5 for k in (3, 5, 6, 7))
        j4 = q["lbr_iiwa_joint_4"]
        if abs(j4 + 0.4) <= 0.05 + 1e-12:
            homes.add("home")
        else:  # around 0.48, clipped to the range's 0.5
            assert 0.43 - 1e-12 <= j4 <= 0.5
            homes.add("away")
        assert q == draw_configuration(model, np.random.default_rng(seed), draw)
    assert homes == {"home", "away"}
    assert draw_configuration(model, np.random.default_rng(3), JointDraw()) == draw_configuration(
        model, np.random.default_rng(3))  # the default draws as before


@pytest.mark.parametrize("draw, message", [
    ({"ranges": (("elbow*", 0, 1),)}, r"the catalog's joints name 'elbow\*', which matches no joint that moves"),
    ({"ranges": (("lbr_iiwa_joint_1", -5, 0),)}, r"joint 'lbr_iiwa_joint_1' is drawn from \[-5, 0\], outside its limits"),
    ({"configurations": (("home", (("lbr_iiwa_joint_9", 0.0),)),)}, r"configuration 'home' names 'lbr_iiwa_joint_9'"),
    ({"configurations": (("home", (("lbr_iiwa_joint_1", 9.0),)),)}, r"puts 'lbr_iiwa_joint_1' at 9\.0, outside its range"),
])
def test_a_draw_the_model_cannot_take_is_one_line(draw, message):
    from simgen.scene.meshes import JointDraw

    with pytest.raises(SimgenError, match=message):
        articulated.check_draw(_load("kuka"), JointDraw(**draw))


def test_a_catalog_entry_gives_its_joint_draws_and_a_rigid_one_cannot(tmp_path):
    from simgen.assets import load_catalog
    from simgen.assets.meshes import validate_catalog
    from simgen.scene.meshes import ArticulatedMesh, JointDraw

    entry = (f"  - mesh: {DATA / MODELS['kuka'][0]}\n    category: robot\n    joints: {{'lbr_iiwa_joint_[12]': [0, 0.1]}}\n"
             "    configurations: {home: {lbr_iiwa_joint_4: -1.0}}\n    spread: 0.2\n")
    (tmp_path / "c.yaml").write_text("categories: [robot]\nassets:\n" + entry)
    ref = load_catalog(tmp_path / "c.yaml").assets[0].path
    assert isinstance(ref, ArticulatedMesh) and ref.draw == JointDraw(
        (("lbr_iiwa_joint_[12]", 0.0, 0.1),), (("home", (("lbr_iiwa_joint_4", -1.0),)),), 0.2)
    (tmp_path / "c.yaml").write_text("categories: [robot]\nassets:\n" + entry.replace("[12]", "[89]"))
    with pytest.raises(SimgenError, match=r"matches no joint that moves"):
        validate_catalog(load_catalog(tmp_path / "c.yaml"))
    (tmp_path / "box.obj").write_text(OBJ)
    (tmp_path / "c.yaml").write_text("categories: [box]\nassets:\n  - {mesh: box.obj, category: box, spread: 0.1}\n")
    with pytest.raises(SimgenError, match=r"'spread' of assets\[0\] .* is for a URDF or MJCF model, and its mesh box\.obj"):
        load_catalog(tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text("categories: [robot]\nassets:\n" + entry.replace("[0, 0.1]", "[0.1, 0]"))
    with pytest.raises(SimgenError, match=r"must be \[low, high\] with low <= high"):
        load_catalog(tmp_path / "c.yaml")


# ------------------------------------------------------------------ joints that move in a sequence


def _kuka_trajectory(tmp_path: Path, rows: list[list[float]], names=("lbr_iiwa_joint_2", "lbr_iiwa_joint_4")) -> Path:
    path = tmp_path / "wave.csv"
    path.write_text(",".join(names) + "\n" + "".join(",".join(str(x) for x in r) + "\n" for r in rows))
    return path


def _sequence_joints(tmp_path: Path, entry_extra: str, steps: int, **settings) -> list[dict[str, float]]:
    """The KUKA's joints at each step of one FakeRenderer sequence of ``steps``."""
    import json

    from conftest import set_settings, tiny_settings
    from fake_renderer import FakeRenderer
    from simgen.pipeline import run

    (tmp_path / "catalog.yaml").write_text(f"categories: [robot]\nassets:\n  - mesh: {DATA / MODELS['kuka'][0]}\n"
                                           f"    category: robot\n    scale: 0.25\n{entry_extra}")
    out = tmp_path / "data"
    run(set_settings(tiny_settings(out, frames=steps, width=32, height=24), objects__catalog=str(tmp_path / "catalog.yaml"),
                     objects__count=[1, 1], sequence__length=steps, **settings), make_renderer=FakeRenderer)
    metas = [json.loads((out / "meta" / f"{i:06d}.json").read_text()) for i in range(steps)]
    return [next(o["joints"] for o in m["objects"] if "joints" in o) for m in metas]


def test_joint_motion_eases_through_drawn_configurations(tmp_path):
    """Period 4: steps 0, 4 and 8 are drawn configurations, each step between them
    a + smoothstep(t / 4) (b - a) of its neighbours; every value within its limits."""
    from simgen.sampling.objects import smoothstep

    q = _sequence_joints(tmp_path, "", 9, objects__joint_motion=4)
    limits = {j.name: (j.lower, j.upper) for j in _load("kuka").actuated}
    assert all(limits[k][0] <= x[k] <= limits[k][1] for x in q for k in x)
    for step in range(9):
        k, t = divmod(step, 4)
        if t == 0:
            continue
        a, b = q[4 * k], q[4 * k + 4]
        for j in a:
            assert q[step][j] == pytest.approx(a[j] + smoothstep(t / 4) * (b[j] - a[j]), abs=1e-12)
    assert q[0] != q[4] != q[8]
    (tmp_path / "still").mkdir()
    still = _sequence_joints(tmp_path / "still", "", 3)
    assert still[0] == still[1] == still[2]  # objects.joint_motion=0: held


def test_a_trajectory_is_played_row_by_row_turning_at_its_ends(tmp_path):
    rows = [[0.1 * k, -0.05 * k] for k in range(5)]
    path = _kuka_trajectory(tmp_path, rows)
    q = _sequence_joints(tmp_path, f"    trajectory: {path.name}\n", 12)
    index = [rows.index([x["lbr_iiwa_joint_2"], x["lbr_iiwa_joint_4"]]) for x in q]
    assert all(abs(a - b) == 1 for a, b in zip(index, index[1:])), index  # one row a step, back and forth
    assert {0, 4} <= set(index)
    others = [{k: v for k, v in x.items() if k not in ("lbr_iiwa_joint_2", "lbr_iiwa_joint_4")} for x in q]
    assert all(o == others[0] for o in others)  # the joints it does not name hold their drawn values


@pytest.mark.parametrize("text, message", [
    ("lbr_iiwa_joint_2\n", r"needs a header of joint names and at least one row"),
    ("lbr_iiwa_joint_2,lbr_iiwa_joint_2\n0,0\n", r"must name each joint once"),
    ("elbow\n0.1\n", r"column 'elbow' is no joint of model\.urdf that moves"),
    ("lbr_iiwa_joint_2,lbr_iiwa_joint_4\n0.1\n", r"row 2 has 1 values for 2 joints"),
    ("lbr_iiwa_joint_2\nfast\n", r"row 2 holds a value that is no number"),
    ("lbr_iiwa_joint_2\n0\nnan\n", r"row 3 holds a value that is not finite"),
    ("lbr_iiwa_joint_2\n0\n9.5\n", r"row 3 puts 'lbr_iiwa_joint_2' at 9\.5, outside its limits"),
])
def test_a_bad_trajectory_is_one_line_before_anything_renders(tmp_path, text, message):
    from simgen.assets import load_catalog
    from simgen.assets.meshes import validate_catalog

    (tmp_path / "wave.csv").write_text(text)
    (tmp_path / "c.yaml").write_text(f"categories: [robot]\nassets:\n  - mesh: {DATA / MODELS['kuka'][0]}\n"
                                     "    category: robot\n    trajectory: wave.csv\n")
    with pytest.raises(SimgenError, match=message):
        validate_catalog(load_catalog(tmp_path / "c.yaml"))
    (tmp_path / "c.yaml").write_text(f"categories: [robot]\nassets:\n  - mesh: {DATA / MODELS['kuka'][0]}\n"
                                     "    category: robot\n    trajectory: gone.csv\n")
    with pytest.raises(SimgenError, match=r"'trajectory' of assets\[0\] .* names 'gone\.csv', which is no file"):
        load_catalog(tmp_path / "c.yaml")


# ------------------------------------------------------------------ keypoints on links


KEYPOINT_ENTRY = ("categories: [robot]\nkeypoints:\n  robot: {names: [base, elbow, tool]}\nassets:\n"
                  f"  - mesh: {DATA / MODELS['kuka'][0]}\n    category: robot\n    scale: 0.25\n"
                  "    keypoints: {base: lbr_iiwa_link_0, elbow: lbr_iiwa_link_4, "
                  "tool: {link: lbr_iiwa_link_7, at: [0.0, 0.0, 0.12]}}\n")


def test_keypoints_on_links_follow_the_joints(tmp_path):
    """output.keypoints=catalog on an arm whose entry names links: every annotation's keypoints are
    the links' points placed by PyBullet's link poses at the frame's joints and the object's pose,
    projected by the frame's camera."""
    import json

    from conftest import set_settings, tiny_settings
    from fake_renderer import FakeRenderer
    from simgen.pipeline import run

    (tmp_path / "catalog.yaml").write_text(KEYPOINT_ENTRY)
    out = tmp_path / "data"
    run(set_settings(tiny_settings(out, frames=3, width=64, height=48), objects__catalog=str(tmp_path / "catalog.yaml"),
                     objects__count=[1, 1], output__labels=["keypoints"], output__keypoints="catalog"),
        make_renderer=FakeRenderer)
    coco = json.loads((out / "coco.json").read_text())
    assert [c["keypoints"] for c in coco["categories"] if c["name"] == "robot"] == [["base", "elbow", "tool"]]
    at = {"base": ("lbr_iiwa_link_0", [0, 0, 0]), "elbow": ("lbr_iiwa_link_4", [0, 0, 0]),
          "tool": ("lbr_iiwa_link_7", [0, 0, 0.12])}
    checked = 0
    for index in range(3):
        meta = json.loads((out / "meta" / f"{index:06d}.json").read_text())
        (arm,) = [o for o in meta["objects"] if "joints" in o]
        poses = bullet_link_poses(DATA / MODELS["kuka"][0], arm["joints"])
        K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
        for a in meta["coco"]["annotations"]:
            if a["simgen"]["instance_id"] != arm["instance_id"]:
                continue
            kp = np.array(a["keypoints"], float).reshape(-1, 3)
            for (link, point), got in zip(at.values(), kp):
                world = np.array(arm["mesh_to_world"]) @ poses[link] @ np.array([*point, 1.0])
                cam = (w2c @ world)[:3]
                if got[2] > 0:
                    np.testing.assert_allclose(got[:2], (K @ cam)[:2] / cam[2], atol=1e-6)
                    checked += 1
    assert checked >= 3, "too few keypoints in view to test"


def test_a_keypoint_on_a_link_the_model_lacks_is_one_line(tmp_path):
    from simgen.assets import load_catalog
    from simgen.assets.meshes import validate_catalog

    (tmp_path / "c.yaml").write_text(KEYPOINT_ENTRY.replace("lbr_iiwa_link_4", "elbow_link"))
    with pytest.raises(SimgenError, match=r"a keypoint of its catalog entry is on link 'elbow_link', which the model"):
        validate_catalog(load_catalog(tmp_path / "c.yaml"))
    (tmp_path / "c.yaml").write_text(KEYPOINT_ENTRY.replace("base: lbr_iiwa_link_0, ", ""))
    with pytest.raises(SimgenError, match=r"keypoints of assets\[0\] .* must name exactly its category's"):
        load_catalog(tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text(KEYPOINT_ENTRY.replace("at: [0.0, 0.0, 0.12]", "at: [0.0, 0.12]"))
    with pytest.raises(SimgenError, match=r"keypoint 'tool' of assets\[0\] .* must be a link's name or"):
        load_catalog(tmp_path / "c.yaml")


def test_validate_checks_each_parts_pixel_against_its_object(tmp_path):
    """simgen validate --full: a dataset's parts/ agree with instance/ through the meta's parts; a
    link's id written on another object's pixel is reported."""
    from conftest import set_settings, tiny_settings
    from fake_renderer import FakeRenderer
    from simgen.io.files import read_png, write_png
    from simgen.pipeline import run
    from simgen.report.validate import validate

    (tmp_path / "catalog.yaml").write_text(f"categories: [robot]\nassets:\n  - mesh: {DATA / MODELS['kuka'][0]}\n"
                                           "    category: robot\n    scale: 0.25\n")
    out = tmp_path / "data"
    run(set_settings(tiny_settings(out, frames=1, width=64, height=48), objects__catalog=str(tmp_path / "catalog.yaml"),
                     objects__count=[1, 1], output__labels=["parts"]), make_renderer=FakeRenderer)
    assert validate(out, full=True, jobs=1).ok
    parts, instance = read_png(out / "parts" / "000000.png"), read_png(out / "instance" / "000000.png")
    meta = json.loads((out / "meta" / "000000.json").read_text())
    (arm,) = [o for o in meta["objects"] if "parts" in o]
    assert set(np.unique(parts[instance == arm["instance_id"]])) <= {p["id"] for p in arm["parts"]}
    other = np.argwhere((instance != arm["instance_id"]) & (instance > 0))[0]
    parts[tuple(other)] = arm["parts"][0]["id"]
    write_png(out / "parts" / "000000.png", parts)
    report = validate(out, full=True, jobs=1)
    assert not report.ok and "parts vs instance" in report.text(out, True)


def test_a_bop_run_writes_the_parts_its_links_are_made_from():
    """output.formats=[bop] brings the parts label (each link a BOP object), as tracks do; the fix
    for a missing amodal names only what the user asked for and what is missing."""
    from simgen.config import labels_written

    assert labels_written(["amodal"], "mono", ["coco", "bop"]) == ["amodal", "parts"]
    assert labels_written(["amodal"], "mono", ["coco"]) == ["amodal"]
    assert labels_written(["tracks", "parts"], "mono", ["bop"]) == ["tracks", "parts"]
