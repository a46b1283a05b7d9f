"""simgen.people.body: the body frame, the shared topology, the COCO keypoints, regions and parts,
and the parameters' digest (Anny's prepared library from the ``people_library`` fixture)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("anny")

from simgen.errors import SimgenError  # noqa: E402
from simgen.people.body import (KEYPOINT_NAMES, PARTS, REGIONS, Body, PersonParams, body,  # noqa: E402
                                dressed_regions, keypoint_support, keypoint_weights)

ADULT = PersonParams(phenotype={"age": 0.7, "gender": 0.2, "height": 0.6})
CHILD = PersonParams(phenotype={"age": 0.3, "gender": 0.9, "weight": 0.3})
POSE = {"upperarm01.L": (0.0, 0.6, 0.0), "lowerleg01.R": (0.5, 0.0, 0.0), "spine03": (0.2, 0.0, 0.1),
        "head": (0.0, 0.0, 0.4)}


@pytest.fixture(scope="module")
def bodies(people_library) -> dict[str, Body]:
    posed = PersonParams(phenotype=dict(ADULT.phenotype), pose=POSE)
    return {"adult": body(ADULT, people_library), "child": body(CHILD, people_library),
            "posed": body(posed, people_library)}


def test_body_frame_feet_on_the_floor_pelvis_on_the_axis(bodies):
    for b in bodies.values():
        assert b.vertices.shape == (13718, 3) and b.vertices.dtype == np.float64
        assert b.vertices[:, 2].min() == pytest.approx(0.0, abs=1e-12)
        assert b.joint_names[0] == "root" and b.parents[0] == -1
        np.testing.assert_allclose(b.joints[0, :2], 0.0, atol=1e-12)
    # +Z up and the face towards -Y: the head joint high above the feet, the nose in front of the head
    adult = bodies["adult"]
    head = adult.joints[adult.joint_names.index("head")]
    assert 1.5 < head[2] < 2.0
    nose = adult.keypoints[KEYPOINT_NAMES.index("nose")]
    assert nose[1] < head[1] - 0.05
    # the person's left is +X
    assert adult.keypoints[KEYPOINT_NAMES.index("left_shoulder"), 0] > 0.1
    assert adult.keypoints[KEYPOINT_NAMES.index("right_shoulder"), 0] < -0.1
    assert 1.6 < adult.vertices[:, 2].max() < 2.0 and 1.0 < bodies["child"].vertices[:, 2].max() < 1.5


def test_faces_uv_and_labels_are_shared_by_every_body_and_pose(bodies):
    a, c, p = bodies["adult"], bodies["child"], bodies["posed"]
    for b in (c, p):
        assert np.array_equal(b.faces, a.faces) and np.array_equal(b.uv, a.uv)
        assert np.array_equal(b.face_part, a.face_part) and np.array_equal(b.face_region, a.face_region)
    assert a.faces.shape == (27420, 3) and a.faces.dtype == np.int64
    assert a.faces.min() == 0 and a.faces.max() == len(a.vertices) - 1
    assert a.uv.shape == (27420, 3, 2) and 0.0 <= a.uv.min() and a.uv.max() <= 1.0
    assert not a.vertices.flags.writeable


def test_a_pose_moves_vertices_and_joints_but_not_the_rest(bodies):
    a, p = bodies["adult"], bodies["posed"]
    moved = np.linalg.norm(p.vertices - a.vertices, axis=1)
    assert moved.max() > 0.1
    # the left hand follows the arm; the right hand's vertices hardly move (feet re-grounded only)
    hand_l = np.unique(a.faces[a.face_part == PARTS.index("hand_left")])
    assert moved[hand_l].min() > 0.05
    j = a.joint_names.index
    assert np.linalg.norm(p.joints[j("wrist.L")] - a.joints[j("wrist.L")]) > 0.1
    np.testing.assert_allclose(p.joints[j("upperarm01.L")], a.joints[j("upperarm01.L")], atol=0.05)


def test_keypoints_are_the_coco_regressor_times_the_vertices(bodies, people_library):
    w = keypoint_weights(people_library)
    assert w.shape == (17, 13718) and len(KEYPOINT_NAMES) == 17
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-3)
    support = keypoint_support(people_library)
    for k, s in enumerate(support):
        assert len(s) > 10 and np.all(w[k, s] > 0) and np.count_nonzero(w[k]) == len(s)
    for b in bodies.values():
        assert b.keypoints.shape == (17, 3)
        np.testing.assert_allclose(b.keypoints, w @ b.vertices, atol=1e-12)
    # each point in the convex hull of its support: within its support's bounding box
    b = bodies["posed"]
    for k, s in enumerate(support):
        lo, hi = b.vertices[s].min(axis=0), b.vertices[s].max(axis=0)
        assert np.all(b.keypoints[k] >= lo - 1e-9) and np.all(b.keypoints[k] <= hi + 1e-9), KEYPOINT_NAMES[k]


def test_regions_and_parts_cover_every_face_and_sit_where_they_should(bodies):
    b = bodies["adult"]
    assert b.face_part.dtype == np.int8 and b.face_region.dtype == np.int8
    assert set(np.unique(b.face_part)) == set(range(len(PARTS)))
    assert set(np.unique(b.face_region)) == set(range(len(REGIONS)))
    centre = b.vertices[b.faces].mean(axis=1)
    height = b.vertices[:, 2].max()

    def z(part=None, region=None):
        sel = b.face_part == PARTS.index(part) if part else b.face_region == REGIONS.index(region)
        return np.median(centre[sel, 2]) / height

    assert z("head") > 0.85 and z(region="shoes") < 0.06 and z("foot_left") < 0.06
    assert z("upper_leg_left") > z("lower_leg_left") > z("foot_left")
    assert z(region="shirt") > z(region="trousers") > z(region="shoes")
    for side, sign in (("left", 1), ("right", -1)):
        for part in (f"upper_arm_{side}", f"hand_{side}", f"upper_leg_{side}", f"foot_{side}"):
            assert sign * np.median(centre[b.face_part == PARTS.index(part), 0]) > 0.05, part
    # hands and head are skin; short sleeves turn the lower arms to skin, shorts the lower legs
    assert np.all(b.face_region[np.isin(b.face_part, [PARTS.index("head"), PARTS.index("hand_left")])]
                  == REGIONS.index("skin"))
    short = dressed_regions(b, sleeves="short", legs="short")
    lower = np.isin(b.face_part, [PARTS.index(p) for p in ("lower_arm_left", "lower_leg_right")])
    assert np.all(short[lower] == REGIONS.index("skin")) and not np.all(b.face_region[lower] == REGIONS.index("skin"))
    with pytest.raises(SimgenError, match="choose long or short"):
        dressed_regions(b, sleeves="none")


def test_params_are_sorted_plain_and_their_digest_is_stable():
    a = PersonParams(phenotype={"height": 0.6, "age": 0.7, "gender": 0.2})
    assert a == ADULT and hash(a) == hash(ADULT) and a.phenotype[0] == ("age", 0.7)
    assert PersonParams.from_json(json.loads(json.dumps(a.to_json()))) == a
    d = a.digest()
    assert len(d) == 16 and int(d, 16) >= 0
    code = ("from simgen.people.body import PersonParams;"
            "print(PersonParams(phenotype={'gender': 0.2, 'age': 0.7, 'height': 0.6}).digest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == d
    assert PersonParams(phenotype=dict(a.phenotype), pose={"head": (0, 0, 0.1)}).digest() != d


@pytest.mark.parametrize("kw, match", [
    ({"phenotype": {"age": 1.5}}, r"age=1.5 is outside \[0, 1\]"),
    ({"pose": {"root": (0, 0, 1)}}, "cannot rotate the root"),
    ({"pose": {"head": (0, 1)}}, "3 finite numbers"),
])
def test_bad_params_end_in_one_line(kw, match):
    with pytest.raises(SimgenError, match=match):
        PersonParams(**kw)


def test_unknown_bones_and_labels_name_the_choices(people_library):
    with pytest.raises(SimgenError, match="unknown bone.*'elbow.L'.*upperarm01.L"):
        body(PersonParams(pose={"elbow.L": (0, 0, 1)}), people_library)
    with pytest.raises(SimgenError, match="unknown phenotype.*'size'.*gender"):
        body(PersonParams(phenotype={"size": 0.5}), people_library)
