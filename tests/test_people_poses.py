"""Plausible poses of a person (simgen.people.poses, simgen.people.motion; issue 77, item 3): the named
poses and joint limits as data, their signs checked on Anny's body, the draw, the self-intersection
check and repair, and the motions of a sequence. The 1,000-pose check is scripts/pose_prior_check.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simgen.errors import SimgenError
from simgen.people import poses as P
from simgen.people.motion import Motion, pose_at

ADULT = (("age", 2 / 3), ("gender", 0.5))
HEAVY = (("age", 2 / 3), ("muscle", 1.0), ("weight", 1.0))  # arms down beside this body cross its chest


pytestmark = pytest.mark.usefixtures("warp_cache")  # conftest: warp's kernel compiled into a temporary folder


# -- data ------------------------------------------------------------------------------------------------

def test_named_poses_load_and_lie_within_the_joint_limits():
    poses = P.load_poses()
    assert {"A", "T", "stand", "sit", "wave", "hands_on_hips", "lie"} <= set(poses)
    assert sum(n.startswith("walk_") for n in poses) >= 4
    for name in poses:
        pose = P.named_pose(name)
        assert P.violations(pose) == [], name
        assert all(bone in P.BONES and bone != "root" for bone, _ in pose)
    assert P.named_pose("A") == ()          # the rest pose


def test_walk_phases_mirror_each_other():
    poses = P.load_poses()
    for a, b in (("walk_contact_l", "walk_contact_r"), ("walk_passing_l", "walk_passing_r")):
        mirrored = {(bone[:-1] + {"L": "R", "R": "L"}[bone[-1]] if bone[-2:] in (".L", ".R") else bone):
                    v * np.array([1.0, -1.0, -1.0]) for bone, v in poses[a].items()}
        assert set(mirrored) == set(poses[b])
        for bone in mirrored:
            np.testing.assert_array_equal(mirrored[bone] + 0.0, poses[b][bone] + 0.0, err_msg=bone)


def test_right_limits_mirror_the_left():
    limits = P.load_limits()
    for bone in [b for b in limits if b.endswith(".L")]:
        lo, hi = limits[bone]
        rlo, rhi = limits[bone[:-2] + ".R"]
        np.testing.assert_array_equal(rlo, [lo[0], -hi[1], -hi[2]])
        np.testing.assert_array_equal(rhi, [hi[0], -lo[1], -lo[2]])
    assert limits["lowerleg01.L"][0][0] == 0 and limits["lowerleg01.R"][0][0] == 0   # no knee bends backwards


@pytest.mark.parametrize("text, names", [
    ("poses:\n  stand:\n    upperarm9.L: [0, 1, 0]\n", ["stand", "upperarm9.L", "not a bone"]),
    ("poses:\n  stand:\n    root: [0, 0, 90]\n", ["stand", "root"]),
    ("poses:\n  stand:\n    upperarm01.L: [0, 1]\n", ["stand", "upperarm01.L", "3 finite numbers"]),
    ("poses:\n  sit:\n    lowerleg01.L: [-30, 0, 0]\n", ["sit", "lowerleg01.L", "outside its joint limits"]),
    ("poses:\n  sit:\n    finger1-1.L: [10, 0, 0]\n", ["sit", "finger1-1.L", "no joint limits"]),
    ("poses: [1, 2]\n", ["expected a mapping 'poses:'"]),
    ("poses:\n  stand: [0, 1, 0]\n", ["stand", "not a mapping"]),
])
def test_a_bad_pose_file_is_one_line_naming_file_pose_and_bone(tmp_path, text, names):
    path = tmp_path / "poses.yaml"
    path.write_text(text)
    with pytest.raises(SimgenError) as e:
        P.load_poses(path)
    message = str(e.value)
    assert "\n" not in message and str(path) in message
    for n in names:
        assert n in message


def test_a_bad_limits_file_is_one_line(tmp_path):
    path = tmp_path / "limits.yaml"
    path.write_text("limits:\n  lowerleg01.L: {x: [10, 135], y: [-10, 10], z: [-10, 10]}\n")
    with pytest.raises(SimgenError, match=r"lowerleg01.L.*axis x.*low <= 0 <= high") as e:
        P.load_limits(path)
    assert "\n" not in str(e.value)


# -- the draw (numpy only) --------------------------------------------------------------------------------

def test_draw_is_a_named_pose_plus_clipped_noise_within_the_limits():
    a = [P.draw_pose(np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1]                                              # same rng, same pose
    assert P.draw_pose(np.random.default_rng(8)) != a[0]
    assert P.draw_pose(np.random.default_rng(3), names=["sit"], jitter_deg=0) == P.named_pose("sit")
    rng = np.random.default_rng(0)
    limits = P.load_limits()
    sit = P.load_poses()["sit"]
    for _ in range(200):
        pose = P.draw_pose(rng, names=["sit"], jitter_deg=6.0)
        assert P.violations(pose) == []
        for bone, v in P.as_degrees(pose).items():
            lo, hi = limits[bone]
            base = np.clip(sit.get(bone, np.zeros(3)), lo, hi)
            assert np.all(np.abs(v - base) <= 2 * 6.0 + 1e-9), bone   # noise clipped at 2 standard deviations
    name, pose = P.draw_named_pose(np.random.default_rng(7))
    assert pose == a[0] and name in P.pose_names()                   # the same draws, with the name
    drawn = {P.draw_pose(np.random.default_rng(s), names=["stand", "T"], jitter_deg=0) for s in range(40)}
    assert drawn == {P.named_pose("stand"), P.named_pose("T")}         # uniform over the names given


def test_draw_rejects_unknown_names_and_bad_jitter():
    with pytest.raises(SimgenError, match="unknown pose 'dance'"):
        P.draw_pose(np.random.default_rng(0), names=["dance"])
    with pytest.raises(SimgenError, match="jitter_deg"):
        P.draw_pose(np.random.default_rng(0), jitter_deg=-1)


# -- signs on Anny's body ----------------------------------------------------------------------------------

def _body(pose, library, phenotype=ADULT):
    from simgen.people.body import PersonParams, body

    return body(PersonParams(phenotype=phenotype, pose=pose), library)


def _kp(b):
    from simgen.people.body import KEYPOINT_NAMES

    return dict(zip(KEYPOINT_NAMES, b.keypoints))


def _knee_flexion_deg(k, side):
    """The knee's bend in the sagittal (Y, Z) plane: + = the shank turned back from the thigh."""
    hip, knee, ankle = k[f"{side}_hip"], k[f"{side}_knee"], k[f"{side}_ankle"]
    def angle(v):  # from straight down, + towards the back (+Y)
        return math.degrees(math.atan2(v[1], -v[2]))
    return angle(ankle - knee) - angle(knee - hip)


def test_bones_are_annys(people_library):
    from simgen.people.model import load_model

    m = load_model(str(people_library))
    assert tuple(m.bone_labels) == P.BONES


def test_named_pose_signs_on_the_body(people_library):
    from simgen.people.body import PARTS

    rest = _kp(_body((), people_library))
    for name in P.pose_names():
        k = _kp(_body(P.named_pose(name), people_library))
        for side in ("left", "right"):
            assert _knee_flexion_deg(k, side) > -3.0, (name, side)          # no knee bends backwards
    sit = _kp(_body(P.named_pose("sit"), people_library))
    for side in ("left", "right"):
        hip, knee, ankle = sit[f"{side}_hip"], sit[f"{side}_knee"], sit[f"{side}_ankle"]
        assert knee[1] < hip[1] - 0.3                                       # thighs forward
        assert abs(knee[2] - hip[2]) < 0.1                                  # ... and level
        assert abs(ankle[1] - knee[1]) < 0.1 and ankle[2] < knee[2] - 0.3   # shanks down
        assert 75 < _knee_flexion_deg(sit, side) < 105
    for lead, trail in (("left", "right"), ("right", "left")):
        walk = _kp(_body(P.named_pose(f"walk_contact_{lead[0]}"), people_library))
        assert walk[f"{lead}_ankle"][1] < walk[f"{lead}_hip"][1] - 0.2      # the leading foot in front
        assert walk[f"{trail}_ankle"][1] > walk[f"{trail}_knee"][1]         # the trailing ankle behind its knee
        assert walk[f"{lead}_wrist"][1] > walk[f"{trail}_wrist"][1]         # arms swing against the legs
        passing = _kp(_body(P.named_pose(f"walk_passing_{lead[0]}"), people_library))
        assert passing[f"{trail}_ankle"][2] > passing[f"{lead}_ankle"][2] + 0.05   # the swing foot lifted
        assert _knee_flexion_deg(passing, trail) > 40
    b = _body(P.named_pose("wave"), people_library)
    wave = _kp(b)
    head_top = b.vertices[np.unique(b.faces[b.face_part == PARTS.index("head")])][:, 2].max()
    assert wave["right_wrist"][2] > head_top                                # the hand above the head
    assert wave["left_wrist"][2] < wave["left_hip"][2] + 0.2
    t = _kp(_body(P.named_pose("T"), people_library))
    for side in ("left", "right"):
        assert abs(t[f"{side}_wrist"][2] - t[f"{side}_shoulder"][2]) < 0.1 and abs(t[f"{side}_wrist"][0]) > 0.6
    stand = _kp(_body(P.named_pose("stand"), people_library))
    for side in ("left", "right"):
        assert abs(stand[f"{side}_wrist"][0]) < abs(rest[f"{side}_wrist"][0]) - 0.15   # arms down beside the body
        assert stand[f"{side}_wrist"][2] < stand[f"{side}_hip"][2] + 0.1
    hips = _kp(_body(P.named_pose("hands_on_hips"), people_library))
    for side in ("left", "right"):
        w, h = hips[f"{side}_wrist"], hips[f"{side}_hip"]
        assert 0 < w[2] - h[2] < 0.2 and abs(w[0]) < 0.3 and abs(w[1] - h[1]) < 0.08   # hands at the waist


# -- self-intersection ------------------------------------------------------------------------------------

@pytest.mark.slow  # warp compiles its kernel once (about 10 s), then 40-60 ms a check
def test_named_poses_do_not_cross_themselves_and_a_crossing_is_seen(people_library):
    lib = str(people_library)
    for name in P.pose_names():
        for phenotype in (ADULT, (("age", 0.3),)):
            assert P.self_intersections(P.named_pose(name), phenotype, lib) == 0, (name, phenotype)
    # an arm pushed into the body crosses it
    into = P.as_pose({"upperarm01.L": np.array([0.0, 80.0, 0.0])})
    assert P.self_intersections(into, ADULT, lib) > 50
    assert P.self_intersections(P.named_pose("stand"), HEAVY, lib) > 0


@pytest.mark.slow
def test_free_draws_do_not_cross_themselves_and_repeat(people_library):
    lib = str(people_library)
    first = [P.draw_free_pose(np.random.default_rng(5), HEAVY, library=lib) for _ in range(2)]
    assert first[0] == first[1]                                        # deterministic
    rng = np.random.default_rng(11)
    names = []
    for _ in range(6):
        free = P.draw_free_pose(rng, HEAVY, library=lib)
        assert free.collisions == 0 and 1 <= free.draws <= P.TRIES
        names.append(free.name)
        assert P.self_intersections(free.pose, HEAVY, lib) == 0
        assert P.violations(free.pose) == []
    assert names[0] == P.draw_named_pose(np.random.default_rng(11))[0]   # its first draw is draw_pose's
    # every draw of a pose that crosses this body (no noise): repaired, not returned crossing
    repaired = P.draw_free_pose(np.random.default_rng(0), HEAVY, names=["stand"], jitter_deg=0, tries=2, library=lib)
    assert repaired.repaired and repaired.draws == 2 and repaired.collisions == 0
    assert P.self_intersections(repaired.pose, HEAVY, lib) == 0 and P.violations(repaired.pose) == []
    # redraws keep the named pose: stand (crossing this body) is repaired, not swapped for A (which does not)
    seed = next(s for s in range(100)
                if P.draw_named_pose(np.random.default_rng(s), ["stand", "A"], jitter_deg=0)[0] == "stand")
    kept = P.draw_free_pose(np.random.default_rng(seed), HEAVY, names=["stand", "A"], jitter_deg=0, tries=3,
                            library=lib)
    assert kept.name == "stand" and kept.repaired and kept.draws == 3 and kept.collisions == 0
    # the repair turned the arms back towards rest only as far as needed: still closer to the body than rest
    assert 0 < P.as_degrees(repaired.pose)["upperarm01.L"][1] < P.load_poses()["stand"]["upperarm01.L"][1]


# -- motion ------------------------------------------------------------------------------------------------

def test_motion_is_a_pure_cyclic_function_of_time_within_the_limits():
    walk = Motion("walk", period_s=1.2, amplitude_deg=20, leg_length_m=0.9)
    for t in np.linspace(0, 2.4, 13):
        f = pose_at(walk, float(t))
        assert f == pose_at(walk, float(t))
        assert P.violations(f.pose) == []
        g = pose_at(walk, float(t) + 1.2)
        a, b = P.as_degrees(f.pose), P.as_degrees(g.pose)
        for bone in set(a) | set(b):                                   # a cycle later: the same pose
            np.testing.assert_allclose(a.get(bone, np.zeros(3)), b.get(bone, np.zeros(3)), atol=1e-9, err_msg=bone)
        assert g.advance_m == pytest.approx(f.advance_m + 4 * 0.9 * math.sin(math.radians(20)))
        assert f.yaw_rad == 0
    turn = pose_at(Motion("turn", turn_deg_per_s=30), 2.0)
    assert turn.yaw_rad == pytest.approx(math.radians(60)) and turn.advance_m == 0
    still = pose_at(Motion("still", pose="sit"), 3.0)
    assert still.pose == P.named_pose("sit") and still.advance_m == 0
    for t in np.linspace(0, 1, 5):
        assert P.violations(pose_at(Motion("wave"), float(t)).pose) == []
    with pytest.raises(SimgenError, match="motion kind 'run'"):
        Motion("run")


def test_walk_and_wave_on_the_body(people_library):
    walk = Motion("walk", period_s=1.0)
    for t in np.arange(8) / 8:
        f = pose_at(walk, float(t))
        k = _kp(_body(f.pose, people_library))
        for side in ("left", "right"):
            assert _knee_flexion_deg(k, side) > -3.0, (t, side)
    quarter = _kp(_body(pose_at(walk, 0.25).pose, people_library))
    assert quarter["left_ankle"][1] < quarter["right_ankle"][1] - 0.3      # left leg forward at a quarter cycle
    three = _kp(_body(pose_at(walk, 0.75).pose, people_library))
    assert three["right_ankle"][1] < three["left_ankle"][1] - 0.3
    wrists = []
    for t in np.arange(6) / 6:
        f = pose_at(Motion("wave", period_s=1.0), float(t))
        k = _kp(_body(f.pose, people_library))
        assert k["right_wrist"][2] > k["nose"][2] + 0.1
        wrists.append(k["right_wrist"])
    swing = np.ptp(np.array(wrists), axis=0)
    assert swing[0] > 0.15 and swing[1] < swing[0] / 2                    # the hand waves side to side


@pytest.mark.slow
def test_motion_frames_do_not_cross_themselves(people_library):
    lib = str(people_library)
    for motion in (Motion("walk", period_s=1.0), Motion("wave", period_s=1.0), Motion("turn")):
        for t in np.arange(8) / 8:
            assert P.self_intersections(pose_at(motion, float(t)).pose, ADULT, lib) == 0, (motion.kind, t)


def test_an_unwritable_warp_cache_is_one_line(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("SIMGEN_WARP_CACHE", str(blocker / "warp"))   # under a file: cannot be made
    with pytest.raises(SimgenError, match=r"SIMGEN_WARP_CACHE to a writable folder") as e:
        P._Checker(None)
    assert "\n" not in str(e.value)
