"""simgen.people.body: the body frame, the shared topology, the COCO keypoints, regions and parts,
and the parameters' digest (Anny's prepared library from the ``people_library`` fixture)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from simgen.errors import SimgenError
from simgen.people.body import (KEYPOINT_NAMES, PARTS, REGIONS, Body, PersonParams, body,
                                dressed_regions, keypoint_support, keypoint_weights)

pytestmark = pytest.mark.usefixtures("people_library")  # the extra and its prepared data; imported in the tests,
# not at collection, where every worker would pay torch's import (about 6 s of CPU)

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


# -- the second path: Anny's forward re-implemented in numpy from the prepared library's compact model
# data (safetensors), read without anny or torch: phenotype -> blendshape coefficients -> rest vertices,
# bone heads and (nearest-rotation) bone orientations -> forward kinematics in "local-ref" -> linear blend
# skinning -> the body frame. Only the bone hierarchy (parents) is taken from the Body: the file has none.

VARIATIONS = (("race", ("african", "asian", "caucasian")), ("gender", ("male", "female")),
              ("age", ("newborn", "baby", "child", "young", "old")), ("muscle", ("min", "average", "max")),
              ("weight", ("min", "average", "max")), ("height", ("min", "max")),
              ("proportions", ("ideal", "uncommon")), ("cupsize", ("min", "average", "max")),
              ("firmness", ("min", "average", "max")))
"""Anny's phenotype variations in the order of the mask's 26 columns (anny/models/model_data.py)."""


def _compact(library) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    manifest = json.loads((library / "simgen-people.json").read_text())
    return load_file(str(library / "anny" / manifest["model_data"]))


def _coefficients(data, phenotype: dict[str, float]) -> np.ndarray:
    columns = []
    for feature, names in VARIATIONS:
        if feature == "race":
            columns += [1 / 3] * 3       # the three race weights at 0.5 each, normalised
            continue
        value = phenotype.get(feature, 0.5)
        lo = -1 / 3 if feature == "age" else 0.0
        anchors = np.linspace(lo, 1.0, len(names))
        columns += [float(np.interp(value, anchors, np.eye(len(names))[i])) for i in range(len(names))]
    phens = np.array(columns)
    mask = data["stacked_phenotype_blend_shapes_mask"]                      # (624, 26)
    weights = np.prod(phens[None] * mask + (1 - mask), axis=1)              # (624,)
    return weights @ data["phenotype_blendshape_projection"]                # (136,)


def _nearest_rotation(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def numpy_body(data, parents, phenotype: dict[str, float], pose: dict[str, tuple], names) -> tuple:
    c = _coefficients(data, phenotype)
    rest = data["template_vertices"] + np.einsum("a,avi->vi", c, data["blendshapes"])
    heads = data["template_bone_heads"] + np.einsum("a,aki->ki", c, data["bone_heads_blendshapes"])
    cov = data["bone_template_orientation_matrices"] + np.einsum("a,akij->kij", c, data["bone_orientation_blendshapes"])
    rot = np.stack([_nearest_rotation(m) for m in cov])                     # rest orientations R_c
    ref = data["reference_bone_orientations"]                               # reference orientations U_c
    n = len(parents)
    world_rot, world_pos = [None] * n, [None] * n                           # posed bone frames W_c
    for b in range(n):                                                      # parents come first
        delta = _rotation(pose.get(names[b], (0.0, 0.0, 0.0)))
        p = parents[b]
        if p < 0:
            world_rot[b], world_pos[b] = ref[b].T @ delta @ ref[b], np.zeros(3)
            continue
        # the head's offset from its parent's, turned from the parent's rest to its reference orientation
        offset = ref[p] @ rot[p].T @ (heads[b] - heads[p]) if p > 0 else heads[b] - heads[p]
        local_rot, local_pos = ref[p].T @ delta @ ref[b], ref[p].T @ offset
        world_rot[b] = world_rot[p] @ local_rot
        world_pos[b] = world_rot[p] @ local_pos + world_pos[p]
    moves = [(world_rot[b] @ rot[b].T, world_pos[b] - world_rot[b] @ rot[b].T @ heads[b]) for b in range(n)]
    skinned = np.zeros_like(rest)
    idx, w = data["vertex_bone_indices"], data["vertex_bone_weights"]
    for k in range(idx.shape[1]):
        r = np.stack([moves[j][0] for j in range(n)])[idx[:, k]]
        t = np.stack([moves[j][1] for j in range(n)])[idx[:, k]]
        skinned += w[:, k, None] * (np.einsum("vij,vj->vi", r, rest) + t)
    joints = np.array(world_pos)
    shift = np.array([-joints[0, 0], -joints[0, 1], -skinned[:, 2].min()])
    return skinned + shift, joints + shift


def _rotation(rotvec) -> np.ndarray:
    r = np.asarray(rotvec, dtype=float)
    angle = np.linalg.norm(r)
    if angle == 0:
        return np.eye(3)
    x, y, z = r / angle
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c + x * x * (1 - c), x * y * (1 - c) - z * s, x * z * (1 - c) + y * s],
                     [y * x * (1 - c) + z * s, c + y * y * (1 - c), y * z * (1 - c) - x * s],
                     [z * x * (1 - c) - y * s, z * y * (1 - c) + x * s, c + z * z * (1 - c)]])


@pytest.mark.parametrize("phenotype, pose", [
    ({}, {}),
    ({"age": 0.1, "gender": 1.0, "muscle": 0.9, "weight": 0.05}, {}),
    ({"age": 0.95, "gender": 0.0, "height": 1.0, "proportions": 0.8}, POSE),
    ({"age": 0.62, "gender": 0.4, "weight": 0.7}, {"upperleg01.L": (-0.6, 0.1, 0.0), "lowerarm01.R": (0.3, -0.5, 0.9),
                                                    "neck02": (0.2, 0.1, -0.3), "finger2-2.L": (0.0, 0.0, 1.2)}),
])
def test_body_equals_an_independent_numpy_forward_of_annys_model_data(people_library, phenotype, pose):
    b = body(PersonParams(phenotype=phenotype, pose=pose), people_library)
    data = _compact(people_library)
    vertices, joints = numpy_body(data, b.parents, phenotype, pose, b.joint_names)
    assert np.abs(b.vertices - vertices).max() <= 1e-6
    assert np.abs(b.joints - joints).max() <= 1e-6
    assert np.array_equal(b.faces, data["faces"])
    np.testing.assert_allclose(b.uv, data["texture_coordinates"][data["face_texture_coordinate_indices"]])


def test_keypoints_equal_coco_regressor_read_without_anny(bodies, people_library):
    """coco.pth (Anny's shipped regressor over the 19,158 base-mesh vertices) read with torch.load alone,
    restricted to the model's vertices by the compact data's base_mesh_vertex_indices."""
    import importlib.util
    from pathlib import Path

    import torch

    coco = Path(importlib.util.find_spec("anny").origin).parent / "data" / "keypoints" / "coco.pth"
    table = torch.load(coco, weights_only=True, map_location="cpu")
    base = _compact(people_library)["base_mesh_vertex_indices"]
    w = np.stack([table[name].double().numpy()[base] for name in KEYPOINT_NAMES])
    for b in bodies.values():
        np.testing.assert_allclose(b.keypoints, w @ b.vertices, atol=1e-12)


def test_the_bench_script_prints_its_figures(people_library):
    """scripts/bench_people.py prints what a body costs (figures only: no timing is asserted)."""
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_people.py"
    r = subprocess.run([sys.executable, str(script), "--bodies", "2", "--library", str(people_library)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    for line in ("first body (model loaded):", "a new body:", "the same body re-posed:", "peak memory (RSS):"):
        assert line in r.stdout, r.stdout
    bad = subprocess.run([sys.executable, str(script), "--runs", "1"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0 and "--runs 0 or >= 2" in bad.stderr
