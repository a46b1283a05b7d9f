"""Motion from a BVH file (people.motion=[bvh], people.bvh; issue 77 item 3; simgen.people.bvh): the reader
against the format (channels in any order, each bad input one line naming the file and its line), the
retargeting against the BVH's own bone directions computed here with numpy and scipy from the offsets and
the Euler channels (each driven Anny bone points where its BVH bone points, within 1e-6 rad, the hips' turn
the person's heading and their path scaled to its hip height), and a rendered 3-step sequence of a person
the bundled example drives, whose COCO keypoints at each step are the body its step's record makes,
projected by OpenCV (<= 1e-3 px)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import people_cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "assets" / "people" / "wave_walk.bvh"

ROOT_CHANNELS = ("Zposition", "Xposition", "Yposition", "Yrotation", "Xrotation", "Zrotation")
CHANNELS = ("Yrotation", "Zrotation", "Xrotation")
"""Unusual channel orders (the common ones are X Y Z position, then Z X Y rotation)."""

SKELETON = [  # name, parent, offset (BVH units: +Y up, facing +Z, the character's left +X), End Site
    ("Hips", None, (0, 0, 0), None),
    ("Spine", "Hips", (0, 12, 0), None), ("Spine1", "Spine", (0, 20, 0), None),
    ("Neck", "Spine1", (0, 20, 0), None), ("Head", "Neck", (0, 10, 0), (0, 15, 0)),
    ("LeftShoulder", "Spine1", (3, 18, 0), None), ("LeftArm", "LeftShoulder", (14, 0, 0), None),
    ("LeftForeArm", "LeftArm", (28, 0, 0), None), ("LeftHand", "LeftForeArm", (25, 0, 0), (10, 0, 0)),
    ("RightShoulder", "Spine1", (-3, 18, 0), None), ("RightArm", "RightShoulder", (-14, 0, 0), None),
    ("RightForeArm", "RightArm", (-28, 0, 0), None), ("RightHand", "RightForeArm", (-25, 0, 0), (-10, 0, 0)),
    ("LeftUpLeg", "Hips", (9, 0, 0), None), ("LeftLeg", "LeftUpLeg", (0, -42, 0), None),
    ("LeftFoot", "LeftLeg", (0, -42, 0), (0, -6, 14)),
    ("RightUpLeg", "Hips", (-9, 0, 0), None), ("RightLeg", "RightUpLeg", (0, -42, 0), None),
    ("RightFoot", "RightLeg", (0, -42, 0), (0, -6, 14)),
]
NAMES = [s[0] for s in SKELETON]

FRAMES = [  # per frame: the hips' position, then joint -> {channel axis: degrees}
    ((0.0, 90.0, 0.0), {}),
    # the left arm lowered 50 deg about +Z (down from the T-pose), the hips moved 10 left and 30 forward,
    # turned 20 deg to the left (about +Y) and tilted 8 deg (about +X)
    ((10.0, 90.0, 30.0), {"LeftArm": {"Z": -50.0}, "Hips": {"Y": 20.0, "X": 8.0}}),
    # every rotation channel of several joints at once: the order of the channels matters
    ((-4.0, 88.0, 55.0), {"Hips": {"Y": -35.0, "X": -6.0, "Z": 5.0},
                          "Spine": {"X": 12.0, "Y": 9.0, "Z": -7.0}, "Spine1": {"Z": 5.0, "X": 4.0},
                          "LeftShoulder": {"Z": 10.0, "Y": -8.0},
                          "LeftArm": {"Y": 30.0, "Z": -40.0, "X": 25.0}, "LeftForeArm": {"Y": 70.0, "X": -10.0},
                          "RightArm": {"Z": 60.0, "Y": -15.0}, "RightForeArm": {"Y": -45.0},
                          "RightUpLeg": {"X": -35.0, "Z": 6.0, "Y": 10.0}, "RightLeg": {"X": 50.0},
                          "LeftUpLeg": {"X": 20.0, "Z": -4.0}, "LeftLeg": {"X": 15.0}, "Neck": {"X": -10.0, "Y": 25.0}}),
]
FRAME_TIME = 1.0 / 24.0

PAIRS = [  # (BVH joint, its child) -> (Anny bone, the bone its child drives)
    (("Spine", "Spine1"), ("spine04", "spine02")), (("Spine1", "Neck"), ("spine02", "neck01")),
    (("LeftShoulder", "LeftArm"), ("clavicle.L", "upperarm01.L")),
    (("LeftArm", "LeftForeArm"), ("upperarm01.L", "lowerarm01.L")),
    (("LeftForeArm", "LeftHand"), ("lowerarm01.L", "wrist.L")),
    (("RightArm", "RightForeArm"), ("upperarm01.R", "lowerarm01.R")),
    (("RightForeArm", "RightHand"), ("lowerarm01.R", "wrist.R")),
    (("LeftUpLeg", "LeftLeg"), ("upperleg01.L", "lowerleg01.L")), (("LeftLeg", "LeftFoot"), ("lowerleg01.L", "foot.L")),
    (("RightUpLeg", "RightLeg"), ("upperleg01.R", "lowerleg01.R")), (("RightLeg", "RightFoot"), ("lowerleg01.R", "foot.R")),
]


def bvh_text(frames=FRAMES, names=None, frame_time=FRAME_TIME) -> str:
    """A BVH file of :data:`SKELETON` (renamed by ``names``: old -> new) playing ``frames``."""
    names = names or {}
    lines = ["HIERARCHY"]

    def emit(name, depth):
        _, parent, off, end = next(s for s in SKELETON if s[0] == name)
        ind = "  " * depth
        ch = ROOT_CHANNELS if parent is None else CHANNELS
        lines.extend([f"{ind}{'ROOT' if parent is None else 'JOINT'} {names.get(name, name)}", ind + "{",
                      f"{ind}  OFFSET {off[0]} {off[1]} {off[2]}", f"{ind}  CHANNELS {len(ch)} {' '.join(ch)}"])
        for child in (s[0] for s in SKELETON if s[1] == name):
            emit(child, depth + 1)
        if end is not None:
            lines.extend([f"{ind}  End Site", ind + "  {", f"{ind}    OFFSET {end[0]} {end[1]} {end[2]}", ind + "  }"])
        lines.append(ind + "}")

    emit("Hips", 0)
    lines.extend(["MOTION", f"Frames: {len(frames)}", f"Frame Time: {frame_time!r}"])
    order = []

    def walk(name):
        order.append(name)
        for child in (s[0] for s in SKELETON if s[1] == name):
            walk(child)

    walk("Hips")
    for pos, rot in frames:
        row = []
        for name in order:
            angles = rot.get(name, {})
            if name == "Hips":
                row += [pos["XYZ".index(c[0])] for c in ROOT_CHANNELS[:3]]
                row += [angles.get(c[0], 0.0) for c in ROOT_CHANNELS[3:]]
            else:
                row += [angles.get(c[0], 0.0) for c in CHANNELS]
        lines.append(" ".join(repr(float(v)) for v in row))
    return "\n".join(lines) + "\n"


def expected(frame) -> tuple[dict, dict]:
    """World rotations and positions of :data:`SKELETON` at ``frame``, in BVH axes, computed here: each
    joint's rotation is scipy's intrinsic Euler rotation in its channels' order."""
    from scipy.spatial.transform import Rotation

    pos, rot = frame
    R, P = {}, {}
    for name, parent, off, _ in SKELETON:
        order = ROOT_CHANNELS[3:] if parent is None else CHANNELS
        angles = rot.get(name, {})
        local = Rotation.from_euler("".join(c[0] for c in order), [angles.get(c[0], 0.0) for c in order],
                                    degrees=True).as_matrix()
        if parent is None:
            R[name], P[name] = local, np.array(pos, float)
        else:
            R[name], P[name] = R[parent] @ local, P[parent] + R[parent] @ np.array(off, float)
    return R, P


def to_body(v) -> np.ndarray:
    """BVH axes (+Y up, facing +Z) to the body frame (+Z up, facing -Y): (x, y, z) -> (x, -z, y)."""
    v = np.asarray(v, float)
    return np.array([v[0], -v[2], v[1]])


def _angle(a, b) -> float:
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    return math.atan2(np.linalg.norm(np.cross(a, b)), float(np.dot(a, b)))


# --- the reader -------------------------------------------------------------------------------------


def test_the_reader_reads_the_hierarchy_and_the_channels_in_their_order(tmp_path):
    """Names, parents, offsets, End Sites, channels (in any order), Frames, Frame Time and rows as the
    file states them; each joint's world rotation is the product of its channels in their order (scipy's
    intrinsic Euler angles, computed independently)."""
    from simgen.people.bvh import parse_bvh, read_bvh

    path = tmp_path / "test.bvh"
    path.write_text(bvh_text())
    clip = read_bvh(path)
    assert clip.names == tuple(NAMES)
    assert clip.parents == tuple(-1 if p is None else NAMES.index(p) for _, p, _, _ in SKELETON)
    np.testing.assert_array_equal(clip.offsets, [s[2] for s in SKELETON])
    assert clip.channels[0] == ROOT_CHANNELS and set(clip.channels[1:]) == {CHANNELS}
    np.testing.assert_array_equal(clip.ends[NAMES.index("LeftFoot")][0], [0, -6, 14])
    assert clip.frames == 3 and clip.frame_time == FRAME_TIME and clip.motion.shape == (3, 6 + 3 * 18)
    for k, frame in enumerate(FRAMES):
        R, P = expected(frame)
        wr, wp = clip.world(*clip.local(k))
        for j, name in enumerate(NAMES):
            np.testing.assert_allclose(wr[j], R[name], atol=1e-12)
            np.testing.assert_allclose(wp[j], P[name], atol=1e-9)
    # between two frames a joint's rotation is slerped: half way, the arm is lowered 25 of its 50 degrees
    local, _ = clip.at(0.5 * FRAME_TIME)
    arm = local[NAMES.index("LeftArm")] @ [1.0, 0.0, 0.0]
    assert math.degrees(_angle(arm, np.array([1.0, 0.0, 0.0]))) == pytest.approx(25.0, abs=1e-9)
    # past the last frame the clip holds it
    np.testing.assert_array_equal(clip.at(10.0)[0], clip.local(2)[0])
    assert parse_bvh(bvh_text().replace("\n", "\r\n"), "crlf").names == clip.names


def _bad(text: str, tmp_path: Path) -> str:
    from simgen.errors import SimgenError
    from simgen.people.bvh import read_bvh

    path = tmp_path / "bad.bvh"
    path.write_text(text)
    with pytest.raises(SimgenError) as e:
        read_bvh(path)
    message = str(e.value)
    assert "\n" not in message and str(path.resolve()) in message
    return message


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_bad_files_are_one_line_naming_the_file_and_its_line(tmp_path):
    good = bvh_text()
    rows = good.splitlines()
    last = len(rows)
    # a row with a value too few
    short = "\n".join(rows[:-1] + [" ".join(rows[-1].split()[:-1])]) + "\n"
    assert f"line {last}:" in _bad(short, tmp_path) and "where the hierarchy's channels are 60" in _bad(short, tmp_path)
    # a value that is no number
    nan = "\n".join(rows[:-1] + [rows[-1].replace(rows[-1].split()[4], "abc", 1)]) + "\n"
    assert f"line {last}:" in _bad(nan, tmp_path) and "'abc' is not a number" in _bad(nan, tmp_path)
    # no MOTION
    assert "no MOTION section" in _bad(good[:good.index("MOTION")], tmp_path)
    # absurd sizes: a million frames x 60 channels, a frame time of an hour, too many rows
    huge = good.replace("Frames: 3", "Frames: 1000000")
    m = _bad(huge, tmp_path)
    assert f"line {_line_of(huge, 'Frames:')}:" in m and "at most" in m
    m = _bad(good.replace(f"Frame Time: {FRAME_TIME!r}", "Frame Time: 3600"), tmp_path)
    assert "Frame Time must be seconds > 0" in m
    assert "Frames says 2 but 3 row(s) follow" in _bad(good.replace("Frames: 3", "Frames: 2"), tmp_path)
    # a channel that is none, a count that is no count, a brace missing
    bad = good.replace("CHANNELS 3 Yrotation Zrotation Xrotation", "CHANNELS 3 Yrotation Zrotation Wrotation", 1)
    m = _bad(bad, tmp_path)
    assert f"line {_line_of(bad, 'Wrotation')}:" in m and "'Wrotation' is no channel" in m
    bad = good.replace("CHANNELS 3 Yrotation", "CHANNELS 9 Yrotation", 1)
    assert "CHANNELS count must be 0 to 6" in _bad(bad, tmp_path)
    bad = good.replace("OFFSET 0 12 0", "OFFSET 0 twelve 0")
    m = _bad(bad, tmp_path)
    assert f"line {_line_of(bad, 'twelve')}:" in m and "must be a number" in m
    assert "expected '{'" in _bad(good.replace("JOINT Spine\n  {", "JOINT Spine\n", 1), tmp_path)
    assert "is it cut short?" in _bad(good[:good.index("JOINT Neck")] + "MOTION\nFrames: 1\nFrame Time: 0.1\n1\n", tmp_path)


def test_a_file_too_big_or_missing_or_not_text_is_one_line(tmp_path, monkeypatch):
    from simgen.errors import SimgenError
    from simgen.people import bvh

    path = tmp_path / "big.bvh"
    path.write_text(bvh_text())
    monkeypatch.setattr(bvh, "MAX_BYTES", 100)
    with pytest.raises(SimgenError, match=r"bytes is over the 100 simgen reads"):
        bvh.read_bvh(path)
    monkeypatch.undo()
    with pytest.raises(SimgenError, match=r"not found; give people.bvh the path"):
        bvh.read_bvh(tmp_path / "none.bvh")
    (tmp_path / "nul.bvh").write_bytes(b"HIERARCHY\x00\nMOTION\n")
    with pytest.raises(SimgenError, match="NUL bytes"):
        bvh.read_bvh(tmp_path / "nul.bvh")


# --- the retargeting --------------------------------------------------------------------------------


def _motion(path: Path, library: Path, joints=()):
    from simgen.people.motion import BvhMotion

    return BvhMotion(str(path), 0.0, tuple(joints), (("age", 0.7), ("height", 0.4)), str(library))


def test_each_driven_bone_points_where_its_bvh_bone_points(people_library, tmp_path):
    """At each frame, each driven Anny bone's direction in the body frame, turned by the frame's heading
    yaw, is its BVH bone's direction (computed here from the offsets and channels) within 1e-6 rad, in
    the T-pose, with an arm lowered about +Z, and with every channel of many joints set (the hips
    tilted: their tilt reaches the spine and legs through the root's children); the heading is the
    hips' turn about the vertical; the pelvis moves by the hips' horizontal path times the hip height's
    ratio (the body's upperleg01 head over the BVH's LeftUpLeg above its lowest rest point)."""
    from simgen.people.body import PersonParams, body
    from simgen.people.motion import pose_at

    path = tmp_path / "test.bvh"
    path.write_text(bvh_text())
    motion = _motion(path, people_library)
    rest = body(PersonParams(phenotype=motion.phenotype), people_library)
    names = rest.joint_names
    _, P0 = expected(FRAMES[0])
    lowest = min(min(p[1] for p in P0.values()), P0["LeftFoot"][1] - 6)
    scale = rest.joints[names.index("upperleg01.L"), 2] / (P0["LeftUpLeg"][1] - lowest)
    worst = 0.0
    for k, frame in enumerate(FRAMES):
        f = pose_at(motion, k * FRAME_TIME)
        b = body(PersonParams(phenotype=motion.phenotype, pose=f.pose), people_library)
        R, P = expected(frame)
        hips_facing = to_body(R["Hips"] @ [0.0, 0.0, 1.0])
        yaw = math.atan2(hips_facing[0], -hips_facing[1])   # the turn of the hips' facing about +Z
        assert f.yaw_rad == pytest.approx(yaw, abs=1e-12)
        turn = np.array([[math.cos(f.yaw_rad), -math.sin(f.yaw_rad), 0], [math.sin(f.yaw_rad), math.cos(f.yaw_rad), 0],
                         [0, 0, 1]])
        for (j, jc), (c, cc) in PAIRS:
            anny = turn @ (b.joints[names.index(cc)] - b.joints[names.index(c)])
            want = to_body(P[jc] - P[j])
            err = _angle(anny, want)
            worst = max(worst, err)
            assert err <= 1e-6, (k, c, math.degrees(err))
        # the pelvis's path: the hips' horizontal move, scaled
        move = to_body(np.array(frame[0]) - np.array(FRAMES[0][0])) * scale
        assert f.side_m == pytest.approx(move[0], abs=1e-12) and f.advance_m == pytest.approx(-move[1], abs=1e-12)
        assert "root" not in dict(f.pose)
    assert worst < 1e-6
    # the T-pose poses only driven bones, the arms among them (Anny's A-pose raised to the T)
    first = dict(pose_at(motion, 0.0).pose)
    assert set(first) <= {"clavicle.L", "clavicle.R", "upperarm01.L", "upperarm01.R", "lowerarm01.L",
                          "lowerarm01.R", "spine04", "spine02", "neck01", "head", "wrist.L", "wrist.R",
                          "upperleg01.L", "upperleg01.R", "lowerleg01.L", "lowerleg01.R", "foot.L", "foot.R"}
    assert {"upperarm01.L", "upperarm01.R"} <= set(first)
    # the second frame: the hips moved 10 to the left and 30 forward
    f1 = pose_at(motion, FRAME_TIME)
    assert f1.advance_m == pytest.approx(30 * scale) and f1.side_m == pytest.approx(10 * scale)
    assert math.degrees(f1.yaw_rad) == pytest.approx(20.0)


def test_names_with_a_prefix_or_odd_case_map_and_a_users_map_overrides(people_library, tmp_path):
    """mixamorig:-prefixed and lower-case names drive the same bones; people.bvh_joints maps a name the
    table lacks, and 'none' drives nothing; a map to no Anny bone, or of a joint the file lacks, or two
    joints to one bone, is one line."""
    from simgen.errors import SimgenError
    from simgen.people.motion import pose_at, retarget_of

    plain = tmp_path / "plain.bvh"
    plain.write_text(bvh_text())
    renamed = {n: f"mixamorig:{n}" for n in NAMES}
    renamed["LeftForeArm"] = "left_fore_arm"
    renamed["RightUpLeg"] = "RThigh"
    odd = tmp_path / "odd.bvh"
    odd.write_text(bvh_text(names=renamed))
    want = pose_at(_motion(plain, people_library), 2 * FRAME_TIME).pose
    got = pose_at(_motion(odd, people_library, [("RThigh", "upperleg01.R")]), 2 * FRAME_TIME).pose
    assert [b for b, _ in got] == [b for b, _ in want]
    np.testing.assert_allclose([v for _, v in got], [v for _, v in want], atol=1e-12)
    unmapped = retarget_of(_motion(odd, people_library))
    assert "upperleg01.R" not in unmapped.bones.values()  # RThigh: no name of the table
    none = retarget_of(_motion(plain, people_library, [("LeftArm", "none")]))
    assert "upperarm01.L" not in none.bones.values()
    for joints, match in (([("LeftArm", "upperarm9.L")], r"'upperarm9.L', which is no Anny bone.*did you mean"),
                          ([("Tail", "head")], r"names joint 'Tail', which .* lacks"),
                          ([("LeftHand", "lowerarm01.L")], r"both drive Anny bone lowerarm01.L")):
        with pytest.raises(SimgenError, match=match):
            retarget_of(_motion(plain, people_library, joints))


# --- in a scene -------------------------------------------------------------------------------------

SCENE = ["objects.people=[1,1]", "scene.camera_distance=[2.5,4]", "objects.count=[0,0]", "seed=5",
         "people.self_intersection=false"]
RUN = [*SCENE, "people.motion=[bvh]", f"people.bvh={EXAMPLE}", "sequence.length=3", "frames=3",
       "render.width=96", "render.height=72", "render.samples=1", "output.labels=[keypoints]",
       "output.formats=[coco]"]
"""A person the bundled example BVH drives through 3 steps (the docs' command, smaller)."""


def _scenes(overrides: list[str], tmp_path: Path):
    """A sequence's scenes (its steps), drawn but not rendered."""
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe

    s = check_dataset([*overrides, f"output.dir={tmp_path / 'out'}"])
    return make_sequence_scenes(load_recipe(s.scene.recipe), s, catalog_for(s), 0)


def test_the_docs_joint_map_override_is_read_as_a_map(tmp_path):
    """The docs' people.bvh_joints override, as a command line gives it, reaches the settings as a map."""
    from simgen.cli.study import check_dataset

    s = check_dataset(["people.bvh_joints={LThigh: upperleg01.L, Tail: none}", f"people.bvh={EXAMPLE}",
                       f"output.dir={tmp_path / 'out'}"])
    assert dict(s.people.bvh_joints) == {"LThigh": "upperleg01.L", "Tail": "none"} and s.people.bvh == str(EXAMPLE)


def test_motion_bvh_without_a_file_is_one_line(library, tmp_path):
    from simgen.errors import SimgenError

    with pytest.raises(SimgenError, match=r"people.motion=\[bvh\] needs a motion file: set people.bvh=PATH"):
        _scenes([*SCENE, "people.motion=[bvh]", "sequence.length=2"], tmp_path)


def test_a_person_follows_the_bvh_from_a_drawn_start(library, tmp_path):
    """Each step's record is the clip at the drawn start plus k/24 s: its params the retargeted pose,
    its mesh_to_world the placed one moved along the clip's path and turned by its heading (the example
    walks forward turning left 10 deg/s); the start lies where the sequence fits in the 2 s clip."""
    from simgen.people.motion import BvhMotion, pose_at
    from simgen.sampling.people_motion import step_pose

    scenes = _scenes([*SCENE, "people.motion=[bvh]", f"people.bvh={EXAMPLE}", "sequence.length=4"], tmp_path)
    records = [s.params["people"][0] for s in scenes]
    m = records[0]["motion"]
    assert m["kind"] == "bvh" and m["file"] == str(EXAMPLE) and m["frames"] == 48
    assert 0.0 <= m["start_s"] <= 47 / 24 - 3 / 24 and m["joints"]["RightForeArm"] == "lowerarm01.R"
    person = [next(o for o in s.objects if o.instance_id == records[0]["instance_id"]) for s in scenes]
    motion = BvhMotion(str(EXAMPLE), m["start_s"], (), person[0].mesh.params.phenotype, None)
    placed = np.array(records[0]["mesh_to_world"])
    for k, (o, r) in enumerate(zip(person, records)):
        f = pose_at(motion, k / 24)
        assert o.mesh.params.pose == f.pose and o.mesh.step == k
        np.testing.assert_allclose(o.mesh_to_world, step_pose(placed, f.advance_m, f.yaw_rad, f.side_m), atol=1e-12)
    turned = math.degrees(math.atan2(person[-1].mesh_to_world[1, 0], person[-1].mesh_to_world[0, 0])
                          - math.atan2(placed[1, 0], placed[0, 0]))
    assert turned == pytest.approx(10.0 * 3 / 24, abs=1e-4)  # the example turns left 10 deg a second (4 decimals)
    assert np.linalg.norm(person[-1].mesh_to_world[:2, 3] - placed[:2, 3]) > 0.03  # it walks (0.4 m/s x scale)


@pytest.mark.render
@pytest.mark.slow  # a 3-step render of a 13,718-vertex body
def test_a_bvh_driven_persons_keypoints_at_each_step_are_its_bodys(people_library, tmp_path):
    """The docs' command, smaller: at each of 3 steps the person's COCO keypoints are Anny's regressor on
    the body its step's record makes (PersonParams from the record, placed by its mesh_to_world) projected
    by OpenCV with the frame's K and pose, within 1e-3 px, and its models/ file is that body; the person
    moves between steps (the keypoints change)."""
    import cv2

    from simgen.io.dataset.layout import read_frame
    from simgen.people.body import PersonParams, body, keypoint_weights

    out = tmp_path / "out"
    people_cli(people_library, *RUN, f"output.dir={out}", cwd=tmp_path)
    coco = json.loads((out / "coco.json").read_text())
    person = next(c for c in coco["categories"] if c["name"] == "person")
    W = keypoint_weights(people_library)
    seen = []
    for image in coco["images"]:
        meta = read_frame(out, image["simgen"]["frame_index"])["meta"]
        [o] = [o for o in meta["objects"] if o["name"].startswith("person_")]
        assert o["deforms"] is True
        record = next(r for r in meta["params"]["people"] if r.get("instance_id") == o["instance_id"])
        assert record["motion"]["kind"] == "bvh"
        b = body(PersonParams.from_json(record["params"]), people_library)
        import trimesh

        model = trimesh.load(out / o["mesh"], force="mesh", process=False)
        np.testing.assert_allclose(np.asarray(model.vertices), b.vertices, atol=1e-5)  # the PLY's float32
        m2w = np.array(record["mesh_to_world"])
        np.testing.assert_allclose(m2w, np.array(o["mesh_to_world"]), atol=1e-12)
        points = (W @ b.vertices) @ m2w[:3, :3].T + m2w[:3, 3]
        w2c = np.array(meta["world_to_camera"])
        px, _ = cv2.projectPoints(points, cv2.Rodrigues(w2c[:3, :3])[0], w2c[:3, 3], np.array(meta["K"]), None)
        [ann] = [a for a in coco["annotations"] if a["image_id"] == image["id"] and a["category_id"] == person["id"]]
        kp = np.array(ann["keypoints"], float).reshape(17, 3)
        on = kp[:, 2] > 0
        assert on.sum() >= 5
        assert np.abs(kp[on, :2] - px.reshape(-1, 2)[on]).max() <= 1e-3
        seen.append(px.reshape(-1, 2))
    assert len(seen) == 3
    assert np.abs(seen[2] - seen[0]).max() > 0.5  # it moved
