"""Rendered labels against ground truth computed without Blender.

A trimesh ray caster (tests/groundtruth.py) shoots rays through pixel centres of each
frame using only the exported meta and models; Blender's instance ids, depth and
normals must agree with it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from groundtruth import incidence_cos, raycast_frame, uniform_neighbourhood
from simgen.assets import BUNDLED_CATALOG, load_catalog
from simgen.io.dataset.layout import read_frame

pytestmark = pytest.mark.render
FRAMES = range(4)


@pytest.fixture(scope="module")
def truth(rendered):
    return {i: raycast_frame(rendered, i) for i in FRAMES}


@pytest.mark.parametrize("index", FRAMES)
def test_instance_ids_match_ray_cast(rendered, truth, index):
    got = read_frame(rendered, index)["instance"].astype(np.int64)
    gt = truth[index]["instance"]
    assert len(np.unique(gt)) >= 3, "scene too empty to test anything"
    # labels at the exact pixel centre (render.exact_labels): every pixel, edges included
    assert np.array_equal(got, gt), f"{(got != gt).sum()} pixels disagree"


@pytest.mark.parametrize("index", FRAMES)
def test_depth_matches_ray_cast(rendered, truth, index):
    got = read_frame(rendered, index)["depth"]
    assert got.dtype == np.float32
    gt, ids = truth[index]["depth"], truth[index]["instance"]
    inst = read_frame(rendered, index)["instance"]
    same = (inst == ids) & (ids > 0)
    rel = np.zeros(gt.shape)
    rel[same] = np.abs(got[same] - gt[same]) / gt[same]
    # exact at the pixel centre up to float32 rounding, which a surface seen nearly edge-on
    # magnifies by 1/cos(incidence)
    cos = incidence_cos(np.array(read_frame(rendered, index)["meta"]["K"]), truth[index]["normal"])
    facing = same & (cos > 0.1)
    assert facing.sum() > 0.9 * same.sum()
    assert rel[facing].max() < 1e-5, f"max relative depth error {rel[facing].max():.2e}"
    assert (rel * cos)[same].max() < 2e-6
    assert np.all(np.isinf(got[inst == 0]))
    assert np.all(np.isfinite(got[inst > 0]))


@pytest.mark.parametrize("index", FRAMES)
def test_normals_match_ray_cast_inside_faces(rendered, truth, index):
    """Normals are the pixel's average over its samples (renormalized): exact wherever one
    face covers the pixel's filter footprint (here: its 5x5 neighbourhood of centres)."""
    frame = read_frame(rendered, index)
    got, inst = frame["normal"], frame["instance"]
    gt = truth[index]["normal"]
    hit = inst > 0
    assert np.allclose(np.linalg.norm(got[hit], axis=-1), 1.0, atol=1e-5)
    assert np.all(got[~hit] == 0)
    # facing the camera: n . ray <= 0
    K = np.array(frame["meta"]["K"])
    v, u = np.nonzero(hit)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u, float)], -1)
    assert np.all(np.einsum("ij,ij->i", got[hit], rays) <= 1e-6)
    # one face around the pixel: quantize the true normals to compare them exactly
    key = np.round(gt * 1e5).astype(np.int64) @ np.array([1, 10**6, 10**12])
    ids = truth[index]["instance"]
    flat = uniform_neighbourhood(np.where(ids > 0, key, 0), radius=2) & uniform_neighbourhood(ids, radius=2)
    flat &= ids > 0
    cos = np.einsum("ij,ij->i", got[flat], gt[flat])
    angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    assert flat.sum() > 100
    assert angle.max() < 0.1, f"max angle {angle.max():.3f} deg"


def test_coco_matches_instance_maps(rendered):
    coco = COCO(str(rendered / "coco.json"))
    catalog = load_catalog(BUNDLED_CATALOG)
    assert [c["name"] for c in coco.dataset["categories"]] == [c.name for c in catalog.categories]
    assert sorted(coco.getImgIds()) == [i + 1 for i in FRAMES]  # every frame, objects visible or not
    ann_ids = [a["id"] for a in coco.dataset["annotations"]]
    assert len(ann_ids) == len(set(ann_ids)) > 0
    for index in FRAMES:
        frame = read_frame(rendered, index)
        inst, sem = frame["instance"], frame["semantic"]
        objects = {o["instance_id"]: o for o in frame["meta"]["objects"]}
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[index + 1]))
        annotated = {a["simgen"]["instance_id"] for a in anns}
        visible = {i for i in np.unique(inst) if i and objects[i]["category_id"]}
        assert annotated == visible  # no annotation for invisible or uncategorized objects
        for a in anns:
            m = inst == a["simgen"]["instance_id"]
            assert np.array_equal(coco.annToMask(a).astype(bool), m)
            assert a["area"] == m.sum()
            ys, xs = np.nonzero(m)
            assert a["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            assert a["bbox"] == list(mask_utils.toBbox(a["segmentation"]))
            assert a["category_id"] == objects[a["simgen"]["instance_id"]]["category_id"]
            assert np.all(sem[m] == a["category_id"])
        assert np.all(sem[inst == 0] == 0)


def test_meta_models_reproduce_the_scene(rendered):
    """meta objects + models/ fully describe the geometry, and K follows the recorded lens."""
    meta = json.loads((rendered / "meta" / "000000.json").read_text())
    W, H = meta["width"], meta["height"]
    cam = meta["params"]["camera"]
    f = cam["focal_length_mm"] / cam["sensor_width_mm"] * W
    assert np.allclose(meta["K"], [[f, 0, W / 2 - 0.5], [0, f, H / 2 - 0.5], [0, 0, 1]])
    w2c = np.array(meta["world_to_camera"])
    assert np.allclose(w2c[:3, :3] @ w2c[:3, :3].T, np.eye(3), atol=1e-12)
    assert np.allclose(-w2c[:3, :3].T @ w2c[:3, 3], cam["eye"])  # camera centre
    for o in meta["objects"]:
        m = trimesh.load(rendered / o["mesh"], force="mesh")
        assert len(m.faces) > 0
        world = m.vertices @ np.array(o["mesh_to_world"])[:3, :3].T + np.array(o["mesh_to_world"])[:3, 3]
        if o["category_id"]:
            assert abs(world[:, 2].min()) < 1e-9  # standing on the ground
    assert meta["objects"][-1]["name"] == "ground" and meta["objects"][-1]["category_id"] == 0
