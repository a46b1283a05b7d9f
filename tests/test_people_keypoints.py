"""A person's COCO keypoints and their visibility (simgen.labels.keypoints.person_keypoints), on a real
body of Anny seen from the front and from behind, against an independent ray cast (trimesh's, with
an R-tree, not simgen's ray_hits) of the same body and the rule the docstring states."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from simgen.labels.keypoints import PERSON_KEYPOINT_PARTS, PERSON_REACH, person_keypoints
from simgen.optics.camera import project_points

W, H, F = 160, 120, 150.0
K = np.array([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1.0]])


@pytest.fixture(scope="module")
def standing(people_library):
    from simgen.people.body import PersonParams, body

    return body(PersonParams.from_json({"phenotype": {"age": 0.7}}), people_library)


def world_to_camera(centre: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """OpenCV's camera (x right, y down, z forward) at ``centre`` looking along horizontal ``forward``."""
    z = forward / np.linalg.norm(forward)
    x = np.cross(z, [0.0, 0.0, 1.0])
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, -R @ centre
    return T


def to_cam(T: np.ndarray, p: np.ndarray) -> np.ndarray:
    return p @ T[:3, :3].T + T[:3, 3]


def flags(body, T, others=()):
    from simgen.people.body import KEYPOINT_NAMES

    out = person_keypoints(to_cam(T, body.keypoints), to_cam(T, body.vertices), body.faces, body.face_part, K, W, H,
                           others)
    return dict(zip(KEYPOINT_NAMES, out[:, 2].astype(int))), out


def independent_flags(body, T) -> dict[str, int]:
    """The docstring's rule with trimesh's ray cast: the first hit of each keypoint's ray on the body,
    its part, and its distance to the point."""
    from simgen.people.body import KEYPOINT_NAMES, PARTS

    mesh = trimesh.Trimesh(to_cam(T, body.vertices), body.faces, process=False)
    p = to_cam(T, body.keypoints)
    dirs = p / np.linalg.norm(p, axis=1, keepdims=True)
    locs, rays, tris = trimesh.ray.ray_triangle.RayMeshIntersector(mesh).intersects_location(
        np.zeros_like(p), dirs, multiple_hits=True)
    out = {}
    for k, name in enumerate(KEYPOINT_NAMES):
        mine = rays == k
        if not mine.any():
            out[name] = 2
            continue
        first = np.argmin(np.linalg.norm(locs[mine], axis=1))
        where, tri = locs[mine][first], tris[mine][first]
        reach = PERSON_REACH[0] * np.linalg.norm(mesh.vertices - p[k], axis=1).min() + PERSON_REACH[1]
        joins = PARTS[body.face_part[tri]] in PERSON_KEYPOINT_PARTS[name]
        out[name] = 2 if joins and np.linalg.norm(where - p[k]) <= reach else 1
    return out


def test_seen_from_the_front_the_face_hips_and_knees_are_visible_and_from_behind_the_face_is_not(standing):
    front = world_to_camera(np.array([0.0, -3.0, 1.0]), np.array([0.0, 1.0, 0.0]))
    back = world_to_camera(np.array([0.0, 3.0, 1.0]), np.array([0.0, -1.0, 0.0]))
    seen, out = flags(standing, front)
    assert np.abs(out[:, :2] - project_points(K, to_cam(front, standing.keypoints))).max() < 1e-9
    for name in ("nose", "left_eye", "right_eye", "left_shoulder", "left_wrist", "left_hip", "right_hip", "left_knee",
                 "right_ankle"):
        assert seen[name] == 2, (name, seen)
    behind, _ = flags(standing, back)
    for name in ("nose", "left_eye", "right_eye"):
        assert behind[name] == 1, (name, behind)
    for name in ("left_hip", "right_hip", "left_knee", "right_knee", "left_shoulder"):
        assert behind[name] == 2, (name, behind)
    assert seen == independent_flags(standing, front)
    assert behind == independent_flags(standing, back)


def test_from_the_side_the_far_limbs_are_hidden_by_the_near_ones(standing):
    side = world_to_camera(np.array([3.0, 0.0, 1.0]), np.array([-1.0, 0.0, 0.0]))  # on the person's left
    seen, _ = flags(standing, side)
    assert seen["left_knee"] == 2 and seen["left_ankle"] == 2 and seen["left_ear"] == 2, seen
    assert seen["right_knee"] == 1 and seen["right_ankle"] == 1 and seen["right_ear"] == 1, seen
    assert seen == independent_flags(standing, side)


def test_something_nearer_hides_every_keypoint_and_out_of_view_is_zero(standing):
    front = world_to_camera(np.array([0.0, -3.0, 1.0]), np.array([0.0, 1.0, 0.0]))
    wall = trimesh.creation.box(extents=(4.0, 4.0, 0.01)).apply_translation((0, 0, 1.0))  # 1 m ahead, camera axes
    seen, _ = flags(standing, front, [(wall.vertices, wall.faces)])
    assert set(seen.values()) == {1}
    behind = wall.copy().apply_translation((0, 0, 4.0))  # behind the person: hides nothing
    seen, _ = flags(standing, front, [(behind.vertices, behind.faces)])
    assert seen == independent_flags(standing, front)
    away = world_to_camera(np.array([0.0, -3.0, 1.0]), np.array([0.0, -1.0, 0.0]))  # looking away
    gone, out = flags(standing, away)
    assert set(gone.values()) == {0} and not out[:, :2].any()


RUN = ["objects.people=[2,2]", "scene.camera_distance=[2.5,4]", "objects.count=[2,2]", "frames=2", "seed=3",
       "render.width=128", "render.height=96", "render.samples=1", "output.labels=[keypoints]",
       "output.formats=[coco,yolo_pose]"]


@pytest.fixture(scope="module")
def posed(tmp_path_factory, people_library):
    from conftest import people_cli

    out = tmp_path_factory.mktemp("people_kp") / "out"
    people_cli(people_library, *RUN, f"output.dir={out}", cwd=out.parent)
    return out


def _scene_hits(root, meta, points_world: np.ndarray):
    """The first hit of each ray from the camera's centre through ``points_world`` on every mesh of
    the frame (its models/ files placed by the meta, trimesh's ray cast): (instance id, triangle,
    hit point) per ray, instance 0 where it meets nothing."""
    from groundtruth import load_world_meshes

    c2w = np.linalg.inv(np.array(meta["world_to_camera"]))
    origin = c2w[:3, 3]
    dirs = points_world - origin
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    best = [(np.inf, 0, -1, None)] * len(points_world)
    for iid, mesh in load_world_meshes(root, meta):
        locs, rays, tris = trimesh.ray.ray_triangle.RayMeshIntersector(mesh).intersects_location(
            np.repeat(origin[None], len(dirs), 0), dirs, multiple_hits=True)
        for where, ray, tri in zip(locs, rays, tris):
            d = np.linalg.norm(where - origin)
            if d < best[ray][0]:
                best[ray] = (d, iid, tri, where)
    return best


@pytest.mark.render
@pytest.mark.slow  # a render with two 13,718-vertex bodies and a trimesh ray cast of every mesh: ~30 s on 2 cores
def test_rendered_people_carry_coco_keypoints_exact_against_opencv_and_a_ray_cast(posed, people_library):
    """Each person's 17 keypoints in coco.json equal Anny's regressor applied to the frame's models/
    body (read back from the PLY, placed by the meta) projected by OpenCV with the frame's K and pose
    (<= 1e-3 px); each visibility flag equals the docstring's rule on an independent ray cast of
    every mesh of the frame; the category is person with COCO's names and skeleton; COCOeval scores
    the ground truth itself keypoint AP 1.000; the YOLO pose export swaps left and right in flip_idx."""
    import cv2
    import yaml
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from simgen.io.dataset.layout import read_frame
    from simgen.people.body import KEYPOINT_NAMES, PARTS, SKELETON, PersonParams, body, keypoint_weights

    coco = json.loads((posed / "coco.json").read_text())
    person = next(c for c in coco["categories"] if c["name"] == "person")
    assert person["keypoints"] == list(KEYPOINT_NAMES)
    assert person["skeleton"] == [[KEYPOINT_NAMES.index(a) + 1, KEYPOINT_NAMES.index(b) + 1] for a, b in SKELETON]
    W = keypoint_weights(people_library)
    checked = visible = 0
    for image in coco["images"]:
        meta = read_frame(posed, image["simgen"]["frame_index"])["meta"]
        K_, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
        anns = {a["simgen"]["instance_id"]: a for a in coco["annotations"]
                if a["image_id"] == image["id"] and a["category_id"] == person["id"]}
        for o in (o for o in meta["objects"] if o["name"].startswith("person_")):
            if o["instance_id"] not in anns:
                continue  # hidden entirely: no annotation
            ann = anns[o["instance_id"]]
            model = trimesh.load(posed / o["mesh"], force="mesh", process=False)
            m2w = np.array(o["mesh_to_world"])
            points = (W @ np.asarray(model.vertices, float)) @ m2w[:3, :3].T + m2w[:3, 3]
            rvec, _ = cv2.Rodrigues(w2c[:3, :3])
            px, _ = cv2.projectPoints(points, rvec, w2c[:3, 3], K_, None)
            kp = np.array(ann["keypoints"], float).reshape(17, 3)
            on = kp[:, 2] > 0
            assert on.any()
            assert np.abs(kp[on, :2] - px.reshape(-1, 2)[on]).max() <= 1e-3
            assert ann["num_keypoints"] == int(on.sum())
            world = trimesh.Trimesh(np.asarray(model.vertices) @ m2w[:3, :3].T + m2w[:3, 3], model.faces,
                                    process=False)
            hits = _scene_hits(posed, meta, points)
            record = next(r for r in meta["params"]["people"] if r.get("instance_id") == o["instance_id"])
            face_part = body(PersonParams.from_json(record["params"]), people_library).face_part
            for k, name in enumerate(KEYPOINT_NAMES):
                if not on[k]:
                    continue
                d, iid, tri, where = hits[k]
                if iid == o["instance_id"]:
                    reach = PERSON_REACH[0] * np.linalg.norm(world.vertices - points[k], axis=1).min() + PERSON_REACH[1]
                    seen = PARTS[face_part[tri]] in PERSON_KEYPOINT_PARTS[name] and \
                        np.linalg.norm(where - points[k]) <= reach
                else:  # something else first, or (a point just outside the skin) nothing at all
                    seen = iid == 0
                assert kp[k, 2] == (2 if seen else 1), (image["id"], o["name"], name, iid, kp[k])
                checked += 1
                visible += seen
    assert checked >= 17 and 0 < visible
    gt = COCO(str(posed / "coco.json"))
    dets = [{**a, "score": 1.0} for a in coco["annotations"] if a["category_id"] == person["id"]]
    ev = COCOeval(gt, gt.loadRes(dets), "keypoints")
    ev.params.catIds = [person["id"]]
    ev.evaluate(), ev.accumulate(), ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)
    data = yaml.safe_load((posed / "yolo_pose" / "data.yaml").read_text())
    assert data["kpt_shape"] == [17, 3] and "flip_idx" not in data  # people and boxes: no one flip serves both


def test_flip_index_swaps_a_persons_left_and_right_and_keeps_other_points():
    from simgen.io.formats.yolo import flip_index
    from simgen.people.body import KEYPOINT_NAMES

    coco = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]  # COCO's own flip for its 17
    assert flip_index({1: list(KEYPOINT_NAMES)}, 17) == coco
    assert flip_index({1: list(KEYPOINT_NAMES), 2: list(KEYPOINT_NAMES)}, 17) == coco
    assert flip_index({1: ["c0", "c1", "c2"]}, 3) == [0, 1, 2]
    assert flip_index({1: list(KEYPOINT_NAMES), 2: ["c0", "c1", "c2"]}, 17) is None


def test_people_labelled_as_a_catalog_category_keep_that_category_s_keypoints(people_library):
    """objects.people_category naming a category the catalog has meshes of: that category keeps what it
    is (no COCO person schema forced on its mugs); an empty one becomes a person category; one whose
    catalog declares other keypoints is refused in one line."""
    import dataclasses

    from simgen.assets.catalog import build_catalog
    from simgen.errors import SimgenError
    from simgen.labels.keypoints import keypoint_schema
    from simgen.paths import ASSET_DIR
    from simgen.people.body import KEYPOINT_NAMES

    catalog = build_catalog(catalog=ASSET_DIR / "catalog.yaml", dirs={})
    mugs = catalog.with_people("mug")
    assert mugs.categories == catalog.categories
    person = next(c for c in catalog.with_people("person").categories if c.name == "person")
    assert keypoint_schema("box", 9, person)[0] == list(KEYPOINT_NAMES)
    declared = dataclasses.replace(catalog, categories=tuple(
        dataclasses.replace(c, keypoints=("tip",)) if c.name == "mug" else c for c in catalog.categories))
    bare = dataclasses.replace(declared, assets=tuple(a for a in declared.assets if a.category != "mug"))
    with pytest.raises(SimgenError, match="^objects.people_category=mug: the catalog declares other keypoints"):
        bare.with_people("mug")
