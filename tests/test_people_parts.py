"""A person's body parts in the ``parts`` label (issue 77, item 4): each of a person's 14 body parts
(simgen.people.body.PARTS) gets a part id of its own (after every instance id and every link's), named in
the meta's object ``body_parts``; the person stays one instance and one body (flow, tracks).

The render's Material Index pass (first sample, as the Object Index) gives the body part: the parts label
on interior pixels equals a ray cast of the frame's models/ body (groundtruth.py's Moller-Trumbore, no
Blender) with each hit triangle's Body.face_part; and a run with the parts label and one without give the
same instance image, depth and picture."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from simgen.assets.parts import body_part_pass, parts_of
from simgen.labels.frame import instances_of_parts, make_labels, meta_body_part_of, meta_part_of, part_ids
from simgen.scene.data import Camera, Material, Scene, SceneObject
from simgen.scene.meshes import GeneratedMesh, PersonMesh

GREY = Material((0.5, 0.5, 0.5), 0.5, 0.0)


def _people_scene() -> Scene:
    from simgen.people.body import PersonParams

    a = PersonMesh(PersonParams(phenotype={"age": 0.7}))
    b = PersonMesh(PersonParams(phenotype={"age": 0.4}))
    cube = SceneObject("cube", GeneratedMesh("box", 0), np.eye(4), 3, 1, GREY)
    first = SceneObject("p1", a, np.eye(4), 9, 2, GREY)
    second = SceneObject("p2", b, np.eye(4), 4, 2, GREY)
    cam = Camera(8, 6, np.array([[8.0, 0, 4], [0, 8, 3], [0, 0, 1]]), np.eye(4))
    return Scene([cube, first, second], [], cam)


def test_each_body_part_of_each_person_has_an_id_after_every_instance_id():
    from simgen.people.body import PARTS

    parts = parts_of(_people_scene())
    assert [(p.instance_id, p.name) for p in parts.body_parts] == [(9, n) for n in PARTS] + [(4, n) for n in PARTS]
    assert [p.id for p in parts.body_parts] == list(range(10, 10 + 2 * len(PARTS)))
    assert [p.index for p in parts.body_parts_by_object[4]] == list(range(len(PARTS)))
    assert not parts.parts and not parts.part_of  # no link: the render's index pass holds instance ids only
    assert [o.name for o in parts.drawn] == ["cube", "p1", "p2"]  # a person is drawn as one mesh
    lut = parts.body_lut
    assert lut[9][0] == 9 and lut[4][0] == 4  # material pass index 0: no body part, the person itself
    for p in parts.body_parts:
        assert lut[p.instance_id][body_part_pass(p.index)] == p.id


def test_make_labels_reads_a_persons_body_parts_from_the_material_pass_and_keeps_it_one_body():
    parts = parts_of(_people_scene())
    index = np.array([[0, 3, 9, 9], [9, 4, 4, 4]])
    material = np.array([[0, 0, 1, 14], [0, 2, 7, 99]])  # 0: not a body part's material; 99: none of its parts
    raw = {"rgb": np.zeros((2, 4, 3), np.uint8), "index": index, "depth": np.ones((2, 4), np.float32),
           "normal": np.tile([0.0, 0.0, 1.0], (2, 4, 1)).astype(np.float32), "material": material}
    labels = make_labels(raw, {3: 1, 9: 2, 4: 2}, np.eye(4), np.array([[4.0, 0, 2], [0, 4, 1], [0, 0, 1]]),
                         part_of=parts.part_of, body_lut=parts.body_lut)
    head9, foot9, torso4, ul4 = 10, 23, 25, 30  # p1's parts are 10..23, p2's 24..37 (PARTS' order)
    np.testing.assert_array_equal(labels.parts, [[0, 3, head9, foot9], [9, torso4, ul4, 4]])
    np.testing.assert_array_equal(labels.instance, index)  # the instance label as it was
    np.testing.assert_array_equal(labels.bodies, index)  # a person bends as one: one body for flow and tracks
    np.testing.assert_array_equal(part_ids(labels, None), labels.parts)
    no_pass = make_labels({k: v for k, v in raw.items() if k != "material"}, {3: 1, 9: 2, 4: 2}, np.eye(4),
                          np.array([[4.0, 0, 2], [0, 4, 1], [0, 0, 1]]), body_lut=parts.body_lut)
    np.testing.assert_array_equal(no_pass.parts, index)  # no material pass: each person one part


def test_the_meta_names_body_parts_apart_from_links():
    meta = {"objects": [{"instance_id": 3, "parts": [{"id": 5, "link": "arm"}]},
                        {"instance_id": 4, "body_parts": [{"id": 6, "part": "head"}, {"id": 7, "part": "torso"}]}]}
    assert meta_part_of(meta) == {5: 3, 6: 4, 7: 4}
    assert meta_body_part_of(meta) == {6: 4, 7: 4}
    parts = np.array([[5, 6, 7, 3]], np.uint16)
    np.testing.assert_array_equal(instances_of_parts(parts, meta_body_part_of(meta)), [[5, 4, 4, 3]])


RUN = ["objects.people=[1,1]", "scene.camera_distance=[2.5,4]", "objects.count=[2,2]", "frames=1", "seed=3",
       "render.width=96", "render.height=72", "render.samples=4"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, people_library) -> tuple[Path, Path]:
    """The same frame rendered with output.labels=[parts,keypoints] and without."""
    from conftest import people_cli

    base = tmp_path_factory.mktemp("people_parts")
    for name, extra in (("with", ["output.labels=[parts,keypoints]"]), ("without", [])):
        people_cli(people_library, *RUN, *extra, f"output.dir={base / name}", cwd=base)
    return base / "with", base / "without"


@pytest.mark.render
@pytest.mark.slow  # two renders of a 13,718-vertex body and a ray cast of it: ~40 s on 2 cores
def test_parts_label_of_a_person_equals_a_ray_cast_of_its_body_parts(two_runs, people_library):
    from groundtruth import intersect, raycast_frame, uniform_neighbourhood
    from simgen.io.dataset.layout import read_frame
    from simgen.people.body import PARTS, PersonParams, body

    root = two_runs[0]
    f = read_frame(root, 0)
    meta = f["meta"]
    person = next(o for o in meta["objects"] if "body_parts" in o)
    names = {p["part"]: p["id"] for p in person["body_parts"]}
    assert list(names) == list(PARTS)
    record = next(r for r in meta["params"]["people"] if r.get("instance_id") == person["instance_id"])
    b = body(PersonParams.from_json(record["params"]), people_library)
    mesh = trimesh.load(root / person["mesh"], force="mesh", process=False)
    np.testing.assert_array_equal(mesh.faces, b.faces)  # the models/ file's triangles are the body's
    mesh.apply_transform(np.array(person["mesh_to_world"]))

    truth = raycast_frame(root, 0)
    on = truth["instance"] == person["instance_id"]
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    v, u = np.nonzero(on)
    d = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones(len(u))], -1) @ w2c[:3, :3]
    _, tri = intersect(-w2c[:3, :3].T @ w2c[:3, 3], d, mesh.triangles)
    assert (tri >= 0).all()
    lut = np.array([names[n] for n in PARTS])
    expected = truth["instance"].copy()
    expected[v, u] = lut[np.asarray(b.face_part)[tri]]
    interior = uniform_neighbourhood(expected) & on
    got = f["parts"].astype(np.int64)
    seen = set(np.unique(expected[interior]).tolist())
    assert len(seen) >= 5, f"too few body parts in view to prove much: {sorted(seen)}"
    assert (got[interior] == expected[interior]).all()
    assert set(np.unique(got[on]).tolist()) <= set(lut.tolist())  # every pixel of the person is one of its parts
    assert (got[~on & uniform_neighbourhood(truth["instance"])] == truth["instance"][~on & uniform_neighbourhood(
        truth["instance"])]).all()  # any other object is its instance id


@pytest.mark.render
@pytest.mark.slow  # the fixture's renders
def test_the_parts_label_changes_no_other_label(two_runs):
    from simgen.io.dataset.layout import read_frame

    a, b = (read_frame(r, 0) for r in two_runs)
    np.testing.assert_array_equal(a["instance"], b["instance"])
    np.testing.assert_array_equal(a["semantic"], b["semantic"])
    np.testing.assert_array_equal(a["depth"], b["depth"])
    np.testing.assert_array_equal(a["rgb"], b["rgb"])
    coco = [json.loads((r / "coco.json").read_text())["annotations"] for r in two_runs]
    assert [(x["bbox"], x["area"]) for x in coco[0]] == [(x["bbox"], x["area"]) for x in coco[1]]
    meta = json.loads((two_runs[0] / "meta" / "000000.json").read_text())
    np.testing.assert_array_equal(instances_of_parts(a["parts"], meta_part_of(meta)), a["instance"])


@pytest.mark.slow  # loading the body model in a new process: ~13 s on 2 cores
def test_the_meta_records_a_persons_skeleton_in_the_world_and_its_shape(library):
    """person_record: the 17 keypoints as Anny's regressor makes them of the mesh the renderer draws
    (load_mesh's vertices, a second path), placed by the object's pose; the joints likewise (the root
    joint, the pelvis, on the body's axis); the phenotype with Anny's defaults filled in, the age in
    years and the standing height of the body at rest."""
    from simgen.assets.meshes import load_mesh
    from simgen.people.body import PersonParams, body, keypoint_weights
    from simgen.pipeline.meta import person_record
    from simgen.scene.transforms import rigid, rot_z

    params = PersonParams(phenotype={"age": 0.67, "height": 0.3}, pose={"upperarm01.L": (0.0, 0.6, 0.0)})
    pose = rigid(rot_z(0.7), [1.0, -2.0, 0.25])
    rec = person_record(SceneObject("p", PersonMesh(params), pose, 4, 2, GREY))
    v = np.asarray(load_mesh(PersonMesh(params)).vertices, float)
    world = (keypoint_weights() @ v) @ pose[:3, :3].T + pose[:3, 3]
    assert np.abs(np.array(rec["keypoints"]) - world).max() < 1e-9
    joints = np.array(rec["joints"])
    assert joints.shape == (104, 3) and len(rec["joint_names"]) == len(rec["joint_parents"]) == 104
    assert rec["joint_names"][0] == "root" and rec["joint_parents"][0] == -1
    np.testing.assert_allclose(joints[0, :2], pose[:2, 3], atol=1e-9)  # the pelvis on the body's axis
    assert rec["phenotype"] == {"gender": 0.5, "age": 0.67, "muscle": 0.5, "weight": 0.5, "height": 0.3,
                                "proportions": 0.5}
    assert abs(rec["age_years"] - 16.0) < 1e-9  # Anny's age 0.67 is 16 years
    rest = np.asarray(body(PersonParams(phenotype=params.phenotype)).vertices)
    assert rec["height_m"] == pytest.approx(rest[:, 2].max() - rest[:, 2].min())
    assert 1.3 < rec["height_m"] < 1.8  # a short 16-year-old
    json.dumps(rec)  # plain JSON


@pytest.mark.render
@pytest.mark.slow  # the fixture's renders
def test_the_metas_keypoints_project_to_the_coco_keypoints(two_runs):
    """The meta's world keypoints, projected by OpenCV with the frame's K and pose, are the person's
    COCO annotation's keypoints (the annotation's own path: simgen.labels.keypoints)."""
    import cv2

    root = two_runs[0]
    meta = json.loads((root / "meta" / "000000.json").read_text())
    person = next(o for o in meta["objects"] if "person" in o)
    ann = next(a for a in json.loads((root / "coco.json").read_text())["annotations"]
               if a["simgen"]["instance_id"] == person["instance_id"])
    w2c = np.array(meta["world_to_camera"])
    px, _ = cv2.projectPoints(np.array(person["person"]["keypoints"]), cv2.Rodrigues(w2c[:3, :3])[0], w2c[:3, 3],
                              np.array(meta["K"]), None)
    kp = np.array(ann["keypoints"], float).reshape(17, 3)
    shown = kp[:, 2] > 0
    assert shown.sum() >= 5
    assert np.abs(px.reshape(-1, 2)[shown] - kp[shown, :2]).max() < 1e-3
