"""Labels at the exact pixel centre (render.exact_labels, on by default).

Cycles keeps the ids and depth of a pixel's first sample, which it traces a fixed
3.5e-4 filter widths right of and above the centre. Two analytic scenes, checked
against closed-form ray maths with the compensation on and off:

- a box corner seen obliquely: the offset fitted to the depth error of three planes is
  that constant without the compensation and zero (float noise) with it;
- a box seen from above whose outer edges pass 2.5e-4 px beside a column and a row of
  pixel centres: a depth discontinuity that flips those pixels to the ground without the
  compensation (the single-pixel flips at a rim that the ray caster test of the default
  recipe, tests/test_render_labels.py, would catch) and none with it.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from conftest import recipe_module, tiny_settings
from simgen.optics.camera import look_at
from simgen.scene.data import Camera, Light, Material, Scene, SceneObject
from simgen.io.dataset.layout import read_frame
from simgen.pipeline import run

pytestmark = pytest.mark.render
W, H = 96, 72
F = 40.0 / 36.0 * W
K = np.array([[F, 0, W / 2 - 0.5], [0, F, H / 2 - 0.5], [0, 0, 1.0]])
OFFSET_PER_WIDTH = 3.51e-4  # px per px of filter width, measured (simgen.blender.camera.FIRST_SAMPLE_OFFSET)
GREY = Material((0.5, 0.5, 0.5), 0.5, 0.0)


def render_box(tmp_path, name: str, box_lo, box_hi, w2c, *, filter_width: float, exact: bool, ground=True):
    """Render one frame of an axis-aligned box (from the bundled 10 cm cube) and maybe the
    ground; return the frame."""
    size, centre = np.asarray(box_hi) - box_lo, (np.asarray(box_hi) + box_lo) / 2

    def make_sequence(settings, catalog, rng, length):
        cube = catalog.asset("box/cube")  # spans [-0.05, 0.05]^2 x [0, 0.1]
        pose = np.diag([*(size / 0.1), 1.0])
        pose[:3, 3] = [centre[0], centre[1], box_lo[2]]
        objects = [SceneObject("box", cube.path, pose, 1, cube.category_id, GREY, cube.key)]
        if ground:
            objects.append(SceneObject("ground", catalog.ground, np.diag([20.0, 20.0, 20.0, 1.0]), 2, 0, GREY))
        return [Scene(objects=objects, lights=[Light("sun", np.eye(4), 3.0, (1.0, 1.0, 1.0))],
                      camera=Camera(W, H, K.copy(), w2c.copy()))]

    sys.modules[f"testrecipes.{name}"] = recipe_module(f"testrecipes.{name}", make_sequence)
    try:
        root = tmp_path / f"{name}_{filter_width}_{exact}"
        s = tiny_settings(root, frames=1, width=W, height=H, samples=2)
        s.scene.recipe = f"testrecipes.{name}"
        s.render.filter_width, s.render.exact_labels = filter_width, exact
        run(s)
    finally:
        del sys.modules[f"testrecipes.{name}"]
    return read_frame(root, 0)


def box_hit(w2c, lo, hi, u, v, ground=True):
    """Planar depth and id (1 box, 2 ground, 0 none) of the rays through image points (u, v)."""
    R, t = w2c[:3, :3], w2c[:3, 3]
    eye = -R.T @ t
    d = np.stack([(u - K[0, 2]) / F, (v - K[1, 2]) / F, np.ones_like(u)], -1) @ R  # camera z = 1
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (np.asarray(lo) - eye) / d, (np.asarray(hi) - eye) / d
        t_ground = np.where((d[..., 2] < 0) & ground, -eye[2] / d[..., 2], np.inf)
    near, far = np.nanmax(np.minimum(t1, t2), -1), np.nanmin(np.maximum(t1, t2), -1)
    t_box = np.where((near <= far) & (far > 0), near, np.inf)
    ids = np.where(t_box < t_ground, 1, np.where(np.isfinite(t_ground), 2, 0))
    return np.minimum(t_box, t_ground), ids


@pytest.mark.parametrize("filter_width", [1.5, 3.0])
def test_first_sample_offset_is_compensated(tmp_path, filter_width):
    """Fit one (du, dv) to the depth error of a box corner's three faces (each a plane
    whose depth changes differently with u and v)."""
    lo, hi = np.array([-0.5, -0.5, 0.0]), np.array([0.5, 0.5, 1.0])
    w2c = look_at(np.array([2.2, -2.9, 2.4]), np.array([0.0, 0.0, 0.4]))
    u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    depth, _ = box_hit(w2c, lo, hi, u, v, ground=False)
    e = 1e-3
    with np.errstate(invalid="ignore"):  # inf - inf off the box
        grad_u = (box_hit(w2c, lo, hi, u + e, v, False)[0] - box_hit(w2c, lo, hi, u - e, v, False)[0]) / (2 * e)
        grad_v = (box_hit(w2c, lo, hi, u, v + e, False)[0] - box_hit(w2c, lo, hi, u, v - e, False)[0]) / (2 * e)
    inside = np.isfinite(depth) & (np.abs(grad_u) < 1) & (np.abs(grad_v) < 1)  # no pixel at an edge
    assert inside.sum() > 1000
    A = np.stack([grad_u[inside], grad_v[inside]], 1)
    fitted = {}
    for exact in (False, True):
        got = render_box(tmp_path, "corner_test", lo, hi, w2c, filter_width=filter_width, exact=exact,
                         ground=False)["depth"].astype(float)
        err = got[inside] - depth[inside]
        fitted[exact], *_ = np.linalg.lstsq(A, err, rcond=None)
        if exact:
            rel = np.abs(err) / depth[inside]
            assert rel.max() < 1e-6, f"max relative depth error {rel.max():.2e}"
    expected = OFFSET_PER_WIDTH * filter_width * np.array([1.0, -1.0])
    assert np.allclose(fitted[False], expected, rtol=0.02), f"uncompensated offset {fitted[False]} px"
    assert np.abs(fitted[True]).max() < 2e-5, f"compensated offset {fitted[True]} px"


def test_no_pixel_flips_at_a_depth_discontinuity(tmp_path):
    """Seen from 2 m straight down, the 0.2 m box's top ends 2.5e-4 px right of column 60
    and 2.5e-4 px above row 20 (its outer edges: beyond them, the ground 0.2 m lower)."""
    w2c = np.array([[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 2], [0, 0, 0, 1.0]])
    top, gap = 0.2, 2.5e-4
    x_edge = (60 + gap - K[0, 2]) / F * (2 - top)
    y_edge = -((20 - gap) - K[1, 2]) / F * (2 - top)  # image v grows with world -y
    lo, hi = np.array([x_edge - 0.2, y_edge - 0.2, 0.0]), np.array([x_edge, y_edge, top])
    u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    depth, ids = box_hit(w2c, lo, hi, u, v)
    edge_pixels = (ids == 1) & ((u == 60) | (v == 20))
    assert edge_pixels.sum() > 20 and np.all(ids[:, 61] != 1) and np.all(ids[19] != 1)
    for exact in (False, True):
        frame = render_box(tmp_path, "edge_test", lo, hi, w2c, filter_width=1.5, exact=exact)
        wrong = frame["instance"] != ids
        if exact:
            assert not wrong.any(), f"{wrong.sum()} pixels with the wrong id"
            assert (np.abs(frame["depth"] - depth) / depth).max() < 1e-6
        else:  # the uncompensated first sample lands beyond the edge: ground, 0.2 m deeper
            assert np.array_equal(wrong, edge_pixels), "the edge pixels should flip without the compensation"
