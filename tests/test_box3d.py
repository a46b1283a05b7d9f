"""3D boxes (``simgen.box3d`` of each COCO annotation and of each meta object): the corner
order against NVIDIA DOPE's cuboid as its docs define it, and the boxes against Cycles' render
(every pixel of an object lies inside its projected box, and the box is tight: each face of it
touches the model)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import trimesh

from simgen.io.dataset.layout import read_frame
from simgen.labels.geometry import CUBOID_EDGES, CUBOID_NAMES, cuboid_points, project


def test_corner_order_is_dopes():
    # DOPE's object frame: x right, y down, z forward; width, height, depth along x, y, z
    lo, hi = np.array([-1.0, -2.0, -3.0]), np.array([4.0, 5.0, 6.0])
    right, left, top, bottom, front, rear = hi[0], lo[0], lo[1], hi[1], hi[2], lo[2]
    dope = {"front_top_right": (right, top, front), "front_top_left": (left, top, front),
            "front_bottom_left": (left, bottom, front), "front_bottom_right": (right, bottom, front),
            "rear_top_right": (right, top, rear), "rear_top_left": (left, top, rear),
            "rear_bottom_left": (left, bottom, rear), "rear_bottom_right": (right, bottom, rear),
            "center": tuple((lo + hi) / 2)}
    points = cuboid_points(lo, hi)
    assert list(CUBOID_NAMES) == list(dope)
    assert np.array_equal(points, np.array(list(dope.values())))
    # the 12 edges join corners that differ on exactly one axis, and cover each corner 3 times
    assert len(set(map(frozenset, CUBOID_EDGES))) == 12
    for a, b in CUBOID_EDGES:
        assert (points[a] != points[b]).sum() == 1
    assert np.bincount(np.array(CUBOID_EDGES).ravel(), minlength=8).tolist() == [3] * 8


def test_projection_follows_the_pixel_convention():
    K = np.array([[355.56, 0, 159.5], [0, 355.56, 119.5], [0, 0, 1]])
    uv = project(K, np.array([[0.5, -0.25, 2.0], [0.0, 0.0, -1.0]]))
    assert np.allclose(uv[0], [248.39, 75.055], atol=1e-2)  # docs/dataset.md's worked example
    assert np.isnan(uv[1]).all()  # behind the camera


@pytest.mark.render
def test_boxes_hold_and_touch_their_objects_in_the_render(rendered):
    coco = json.loads((rendered / "coco.json").read_text())
    checked = 0
    for image in coco["images"]:
        index = image["simgen"]["frame_index"]
        meta = json.loads((rendered / "meta" / f"{index:06d}.json").read_text())
        instance = read_frame(rendered, index)["instance"]
        K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
        objects = {o["instance_id"]: o for o in meta["objects"]}
        for ann in (a for a in coco["annotations"] if a["image_id"] == image["id"]):
            obj = objects[ann["simgen"]["instance_id"]]
            box = ann["simgen"]["box3d"]
            assert box == obj["box3d"]
            # independently: the model's bounds from its file, to camera by the meta's matrices
            model = trimesh.load(rendered / obj["mesh"], force="mesh", process=False)
            lo, hi = model.bounds
            assert np.allclose(box["min"], lo) and np.allclose(box["max"], hi)
            corners = np.array([[(hi if c[i] else lo)[i] for i in range(3)] for c in
                                [(1, 0, 1), (0, 0, 1), (0, 1, 1), (1, 1, 1), (1, 0, 0), (0, 0, 0), (0, 1, 0), (1, 1, 0)]])
            m = w2c @ np.array(obj["mesh_to_world"])
            cam = corners @ m[:3, :3].T + m[:3, 3]
            assert np.allclose(box["corners"], cam, atol=1e-9)
            assert np.allclose(box["center"], cam.mean(0), atol=1e-9)
            assert np.allclose(box["size"], [np.linalg.norm(cam[a] - cam[b]) for a, b in ((1, 0), (3, 0), (4, 0))])
            if (cam[:, 2] <= 0).any():
                continue
            uv = np.array(box["projected"])
            ref = cam @ K.T
            assert np.allclose(uv[:8], ref[:, :2] / ref[:, 2:], atol=1e-9)
            # every pixel centre of the object lies inside the convex hull of the projected corners
            hull = cv2.convexHull(uv[:8].astype(np.float32))
            v, u = np.nonzero(instance == obj["instance_id"])
            dist = np.array([cv2.pointPolygonTest(hull, (float(a), float(b)), True) for a, b in zip(u, v)])
            assert dist.min() > -1e-3, (index, obj["name"], dist.min())
            checked += 1
    assert checked >= 5


def test_the_pose_preview_draws_boxes_and_keypoints_where_they_project():
    from simgen.labels.preview import id_colors, pose_overlay

    lo, hi = np.array([-0.1, -0.1, -0.1]), np.array([0.1, 0.1, 0.1])
    K = np.array([[100.0, 0, 39.5], [0, 100.0, 29.5], [0, 0, 1]])
    cam = cuboid_points(lo, hi) + [0.0, 0.0, 1.0]
    uv = project(K, cam)
    ann = {"category_id": 1, "simgen": {"instance_id": 7, "box3d": {"projected": uv.tolist()}},
           "keypoints": [10.0, 12.0, 2, 70.0, 50.0, 1, 0, 0, 0]}
    black = np.zeros((60, 80, 3), np.uint8)
    pic = pose_overlay(black, [ann], {1: [[1, 2]]})
    color = id_colors(np.array([7]))[0]
    for u, v in np.rint(uv[:8]).astype(int):  # every corner is on a drawn edge, in the object's colour
        assert (np.abs(pic[v, u].astype(int) - color) < 60).all(), (u, v, pic[v, u], color)
    assert pic[30, 5].sum() == 0 and pic[2, 40].sum() == 0  # away from the box and the points: untouched
    assert (np.abs(pic[12, 10].astype(int) - color) < 60).all()  # a visible keypoint: a filled disc
    assert pic[31, 40].min() > 100  # the skeleton joins the two keypoints in the image
    ring = pose_overlay(black, [ann], None)
    assert ring[50, 70].sum() < ring[50, 72].sum()  # a hidden keypoint: a ring, its centre left dark
    assert pose_overlay(black, [], None).sum() == 0
