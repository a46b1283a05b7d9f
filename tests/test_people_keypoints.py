"""A person's COCO keypoints and their visibility (simgen.labels.keypoints.person_keypoints), on a real
body of Anny seen from the front and from behind, against an independent ray cast (trimesh's, with
an R-tree, not simgen's ray_hits) of the same body and the rule the docstring states."""

from __future__ import annotations

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


def flags(body, T, depth=None):
    from simgen.people.body import KEYPOINT_NAMES

    depth = np.full((H, W), np.inf) if depth is None else depth
    out = person_keypoints(to_cam(T, body.keypoints), to_cam(T, body.vertices), body.faces, body.face_part, K, depth)
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
    wall = np.full((H, W), 1.0)  # a surface 1 m from the camera in front of everything
    seen, _ = flags(standing, front, wall)
    assert set(seen.values()) == {1}
    away = world_to_camera(np.array([0.0, -3.0, 1.0]), np.array([0.0, -1.0, 0.0]))  # looking away
    gone, out = flags(standing, away)
    assert set(gone.values()) == {0} and not out[:, :2].any()
