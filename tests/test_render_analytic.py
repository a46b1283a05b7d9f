"""An analytic scene: a ground plane and a box of known pose seen by cameras whose K and
world_to_camera are typed out here. Depth, ids, normals, K and world_to_camera are checked
against closed-form numbers (ray-plane and ray-box slab intersections in numpy)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from conftest import recipe_module, tiny_settings
from simgen.optics.camera import intrinsics, look_at
from simgen.scene.data import Camera, Light, Material, Scene, SceneObject
from simgen.io.dataset.layout import read_frame
from simgen.pipeline import run

pytestmark = pytest.mark.render
W, H = 96, 72
F = 40.0 / 36.0 * W  # 40 mm lens on a 36 mm sensor
K_TYPED = np.array([[F, 0, 47.5], [0, F, 35.5], [0, 0, 1]])
S2 = np.sqrt(0.5)
CAMERAS = {
    # straight down from 2 m, image x = world x, image y = world -y
    "down": (np.array([0.0, 0.0, 2.0]), np.array([[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 2], [0, 0, 0, 1.0]])),
    # from (0, -1.5, 1.5) looking at the origin, 45 degrees down
    "tilted": (np.array([0.0, -1.5, 1.5]),
               np.array([[1, 0, 0, 0], [0, -S2, -S2, 0], [0, S2, -S2, 1.5 / S2], [0, 0, 0, 1.0]])),
    # the tilted pose with the principal point off-centre (Blender lens shift)
    "shifted": (np.array([0.0, -1.5, 1.5]),
                np.array([[1, 0, 0, 0], [0, -S2, -S2, 0], [0, S2, -S2, 1.5 / S2], [0, 0, 0, 1.0]])),
}
K_SHIFTED = np.array([[F, 0, 47.5 + 6.3], [0, F, 35.5 - 4.3], [0, 0, 1]])  # no pixel ray grazes an edge
K_OF = {"shifted": K_SHIFTED}
BOX_LO, BOX_HI = np.array([0.1, 0.0, 0.0]), np.array([0.3, 0.2, 0.2])  # cube.obj (10 cm) x2 at (0.2, 0.1, 0)


def analytic_recipe(w2c: np.ndarray, K: np.ndarray = K_TYPED) -> types.ModuleType:
    def make_sequence(settings, catalog, rng, length):
        cube = catalog.asset("box/cube")
        grey = Material((0.5, 0.5, 0.5), 0.5, 0.0)
        box_pose = np.diag([2.0, 2.0, 2.0, 1.0])
        box_pose[:3, 3] = [0.2, 0.1, 0.0]
        return [Scene(
            objects=[SceneObject("box", cube.path, box_pose, 1, cube.category_id, grey, cube.key),
                     SceneObject("ground", catalog.ground, np.diag([20.0, 20.0, 20.0, 1.0]), 2, 0, grey)],
            lights=[Light("sun", np.eye(4), 3.0, (1.0, 1.0, 1.0))],
            camera=Camera(W, H, K.copy(), w2c.copy()))]
    return recipe_module("testrecipes.analytic_test", make_sequence)


def closed_form(w2c: np.ndarray, K: np.ndarray = K_TYPED):
    """Planar depth and id (1 box, 2 ground) of every pixel centre, by ray-plane/ray-box maths."""
    R, t = w2c[:3, :3], w2c[:3, 3]
    eye = -R.T @ t
    u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    d = np.stack([(u - K[0, 2]) / F, (v - K[1, 2]) / F, np.ones_like(u)], -1) @ R  # world, cam z = 1
    t_ground = np.where(d[..., 2] < 0, -eye[2] / d[..., 2], np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (BOX_LO - eye) / d, (BOX_HI - eye) / d
    t_near = np.nanmax(np.minimum(t1, t2), axis=-1)
    t_far = np.nanmin(np.maximum(t1, t2), axis=-1)
    t_box = np.where((t_near <= t_far) & (t_far > 0), t_near, np.inf)
    ids = np.where(t_box < t_ground, 1, np.where(np.isfinite(t_ground), 2, 0))
    return np.minimum(t_box, t_ground), ids  # t is planar depth because camera-frame d has z = 1


@pytest.fixture(scope="module", params=sorted(CAMERAS))
def analytic(request, tmp_path_factory):
    eye, w2c = CAMERAS[request.param]
    sys.modules["testrecipes.analytic_test"] = analytic_recipe(w2c, K_OF.get(request.param, K_TYPED))
    roots = {}
    for fw in (1.5, 0.01):
        root = tmp_path_factory.mktemp(f"analytic_{request.param}")
        s = tiny_settings(root, frames=1, width=W, height=H, samples=2)
        s.scene.recipe = "testrecipes.analytic_test"
        s.render.filter_width = fw
        run(s)
        roots[fw] = read_frame(root, 0)
    del sys.modules["testrecipes.analytic_test"]
    return request.param, eye, w2c, roots


def test_camera_matrices_are_the_closed_form_ones(analytic):
    name, eye, w2c, roots = analytic
    meta = roots[1.5]["meta"]
    assert np.allclose(meta["K"], K_OF.get(name, K_TYPED), rtol=0, atol=1e-12)
    assert np.allclose(intrinsics(40.0, 36.0, W, H), K_TYPED, rtol=0, atol=1e-12)
    assert np.allclose(meta["world_to_camera"], w2c, rtol=0, atol=1e-12)
    up = np.array([0.0, 1.0, 0.0]) if name == "down" else np.array([0.0, 0.0, 1.0])
    assert np.allclose(look_at(eye, np.zeros(3), up), w2c, atol=1e-12)


def test_ids_and_depth_match_closed_form(analytic):
    name, _, w2c, roots = analytic
    depth, ids = closed_form(w2c, K_OF.get(name, K_TYPED))
    assert (ids == 1).sum() > 50 and (ids == 2).sum() > 50
    for fw, frame in roots.items():
        assert np.array_equal(frame["instance"], ids), f"filter_width={fw}"
        rel = np.abs(frame["depth"] - depth) / depth
        # labels at the exact pixel centre (render.exact_labels) whatever the filter width:
        # exact even on the box's sides seen edge-on
        assert rel.max() < 1e-5, f"filter_width={fw}: {rel.max():.2e}"


def test_normals_match_closed_form(analytic):
    _, _, w2c, roots = analytic
    frame = roots[0.01]
    ground = frame["instance"] == 2
    expected = w2c[:3, :3] @ np.array([0.0, 0.0, 1.0])  # world +Z in camera axes
    assert np.abs(frame["normal"][ground] - expected).max() < 1e-5
    box = frame["instance"] == 1
    n = frame["normal"][box]
    # every box pixel shows one of its axis-aligned faces, turned towards the camera
    world = n @ w2c[:3, :3]
    assert np.allclose(np.abs(world).max(axis=1), 1.0, atol=1e-5)
