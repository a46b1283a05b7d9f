"""Optical flow against flow computed independently from known motion.

A test recipe moves the camera and/or objects by known rigid motions per step. The
reference flow takes each pixel centre's surface point from the ray caster, moves it
with the poses exported in the metas, projects it with the other frame's camera, and
checks its visibility with a ray cast through its exact projected position.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from conftest import recipe_module, tiny_settings
from groundtruth import reference_flow
from simgen.optics.camera import intrinsics, look_at
from simgen.scene.data import Camera, Light, Material, Scene, SceneObject
from simgen.io.dataset.layout import read_frame
from simgen.io.files import read_npy
from simgen.io.formats.flow import read_valid_png
from simgen.pipeline import run

pytestmark = pytest.mark.render
W, H = 96, 72


def rot(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    R = np.eye(4)
    R[:3, :3] = np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K
    return R


def trans(x, y, z):
    T = np.eye(4)
    T[:3, 3] = [x, y, z]
    return T


MOTIONS = {
    # name: (camera step transform (world, applied to the camera-to-world), object step transforms)
    "camera": (trans(0.04, 0.02, 0.01) @ rot([0, 0, 1], 0.03), {}),
    "objects": (np.eye(4), {1: trans(0.03, 0.0, 0.0), 2: rot([0, 0, 1], 0.25), 3: trans(0.0, 0.02, 0.02) @ rot([1, 1, 0], 0.3)}),
    "both": (trans(-0.03, 0.01, 0.0) @ rot([0, 0, 1], -0.04), {1: rot([0, 0, 1], 0.3), 3: trans(0.02, 0.02, 0.0)}),
    "large": (trans(0.12, -0.05, 0.05) @ rot([0.2, 0, 1], 0.12), {1: rot([0, 1, 1], 0.8), 2: trans(-0.1, 0.08, 0.1)}),
}


def motion_recipe(camera_step: np.ndarray, object_steps: dict[int, np.ndarray], eye=(0.0, -1.2, 1.3)):
    def make_sequence(settings, catalog, rng, length):
        grey = Material((0.5, 0.5, 0.5), 0.5, 0.0)
        cube, ball = catalog.asset("box/cube"), catalog.asset("ball/ball")

        def pose(s, x, y, z=0.0):
            m = np.diag([s, s, s, 1.0])
            m[:3, 3] = [x, y, z]
            return m
        start = {1: (cube, pose(2.0, 0.15, 0.05)), 2: (cube, pose(1.5, -0.2, 0.1) @ rot([0, 0, 1], 0.4)),
                 3: (ball, pose(1.5, 0.0, -0.15, 0.09))}
        c2w0 = np.linalg.inv(look_at(np.array(eye), np.zeros(3)))
        scenes = []
        for k in range(length):
            objects = []
            for iid, (asset, m0) in start.items():
                centre = m0[:3, 3] + [0, 0, 0.1]
                step = object_steps.get(iid, np.eye(4))
                # the object turns about its own centre and moves: k steps of one rigid motion
                about = trans(*centre) @ step @ trans(*-centre)
                objects.append(SceneObject(f"o{iid}", asset.path, np.linalg.matrix_power(about, k) @ m0, iid,
                                           asset.category_id, grey, asset.key))
            objects.append(SceneObject("ground", catalog.ground, np.diag([20.0, 20.0, 20.0, 1.0]), 4, 0, grey))
            c2w = np.linalg.matrix_power(camera_step, k) @ c2w0
            cam = Camera(W, H, intrinsics(35.0, 36.0, W, H), np.linalg.inv(c2w))
            scenes.append(Scene(objects=objects, lights=[Light("sun", np.eye(4), 3.0, (1.0, 1.0, 1.0))], camera=cam))
        return scenes

    return recipe_module("testrecipes.motion_test", make_sequence)


def render_motion(root, name, length=3, gap=1, **kw):
    sys.modules["testrecipes.motion_test"] = motion_recipe(*MOTIONS[name], **kw)
    try:
        s = tiny_settings(root, frames=length, width=W, height=H, samples=2)
        s.scene.recipe = "testrecipes.motion_test"
        s.sequence.length, s.sequence.gap = length, gap
        run(s)
    finally:
        del sys.modules["testrecipes.motion_test"]
    return root


@pytest.fixture(scope="module", params=sorted(MOTIONS))
def motion(request, tmp_path_factory):
    return request.param, render_motion(tmp_path_factory.mktemp(request.param), request.param)


@pytest.fixture(scope="module")
def gap2(tmp_path_factory):
    return render_motion(tmp_path_factory.mktemp("gap2"), "both", length=3, gap=2)


def load_flow(root, index, direction):
    return (read_npy(root / f"flow_{direction}" / f"{index:06d}.npy"),
            read_valid_png(root / f"flow_{direction}_valid" / f"{index:06d}.png"))


def check_against_reference(root, index, other, direction):
    flow, valid = load_flow(root, index, direction)
    assert flow.dtype == np.float32 and flow.shape == (H, W, 2)
    ref, visible, ref_ids = reference_flow(root, index, other)
    inst = read_frame(root, index)["instance"]
    both = valid & visible & (inst == ref_ids)
    assert both.sum() > 0.5 * (inst > 0).sum()
    epe = np.linalg.norm(flow[both] - ref[both], axis=-1)
    assert epe.mean() < 0.01 and np.quantile(epe, 0.99) < 0.05, (epe.mean(), np.quantile(epe, 0.99))
    # validity: >= 99 % agreement with the independent visibility check
    assert (valid == visible)[inst > 0].mean() >= 0.99
    assert np.abs(ref[visible]).max() > 0.5  # something really moved
    return flow, valid


@pytest.mark.parametrize("step", [0, 1, 2])
def test_flow_matches_reference(motion, step):
    name, root = motion
    if step < 2:
        check_against_reference(root, step, step + 1, "forward")
    if step > 0:
        check_against_reference(root, step, step - 1, "backward")


def test_sequence_ends_have_no_flow_in_that_direction(motion):
    _, root = motion
    meta0, meta2 = read_frame(root, 0)["meta"], read_frame(root, 2)["meta"]
    assert meta0["flow"]["backward"] is None and meta2["flow"]["forward"] is None
    assert meta0["flow"]["forward"]["flow"] == "flow_forward/000000.npy"
    assert not (root / "flow_backward" / "000000.npy").exists()
    assert (meta0["sequence"], meta0["step"], meta2["step"]) == (0, 0, 2)


def test_forward_and_backward_flow_agree(motion):
    _, root = motion
    fwd, fvalid = load_flow(root, 0, "forward")
    bwd, bvalid = load_flow(root, 1, "backward")
    inst0, inst1 = read_frame(root, 0)["instance"], read_frame(root, 1)["instance"]
    v, u = np.nonzero(fvalid)
    x, y = u + fwd[v, u, 0], v + fwd[v, u, 1]
    x0, y0 = np.clip(np.floor(x).astype(int), 0, W - 2), np.clip(np.floor(y).astype(int), 0, H - 2)
    ax, ay = (x - x0)[:, None], (y - y0)[:, None]
    # bilinear backward flow at the target, from four valid pixels of the same object
    corners = [(y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)]
    ok = np.all([bvalid[c] & (inst1[c] == inst0[v, u]) for c in corners], axis=0)
    b = ((1 - ax) * (1 - ay) * bwd[corners[0]] + ax * (1 - ay) * bwd[corners[1]]
         + (1 - ax) * ay * bwd[corners[2]] + ax * ay * bwd[corners[3]])
    err = np.linalg.norm(fwd[v, u] + b, axis=-1)[ok]
    assert ok.mean() > 0.8 and np.median(err) < 0.01 and np.quantile(err, 0.95) < 0.05, \
        (ok.mean(), np.median(err), np.quantile(err, 0.95))


def test_gap_of_two(gap2):
    check_against_reference(gap2, 0, 2, "forward")
    check_against_reference(gap2, 2, 0, "backward")
    assert read_frame(gap2, 1)["meta"]["flow"] == {"forward": None, "backward": None}


def test_camera_translation_over_a_plane_closed_form(tmp_path):
    """Camera 2 m above the ground, looking straight down, moving 5 cm along +x per step:
    every ground pixel flows by exactly -f * 0.05 / 2 px along x."""
    def make_sequence(settings, catalog, rng, length):
        grey = Material((0.5, 0.5, 0.5), 0.5, 0.0)
        scenes = []
        for k in range(length):
            w2c = np.array([[1, 0, 0, -0.05 * k], [0, -1, 0, 0], [0, 0, -1, 2], [0, 0, 0, 1.0]])
            scenes.append(Scene([SceneObject("ground", catalog.ground, np.diag([20.0, 20.0, 20.0, 1.0]), 1, 0, grey)],
                                [Light("sun", np.eye(4), 3.0, (1.0, 1.0, 1.0))],
                                Camera(W, H, intrinsics(40.0, 36.0, W, H), w2c)))
        return scenes
    sys.modules["testrecipes.motion_test"] = recipe_module("testrecipes.motion_test", make_sequence)
    try:
        s = tiny_settings(tmp_path, frames=2, width=W, height=H, samples=1)
        s.scene.recipe, s.sequence.length = "testrecipes.motion_test", 2
        run(s)
    finally:
        del sys.modules["testrecipes.motion_test"]
    f = 40.0 / 36.0 * W
    fwd, valid = load_flow(tmp_path, 0, "forward")
    bwd, bvalid = load_flow(tmp_path, 1, "backward")
    assert np.abs(fwd[..., 0] - (-f * 0.05 / 2)).max() < 1e-4 and np.abs(fwd[..., 1]).max() < 1e-4
    assert np.abs(bwd[..., 0] - (f * 0.05 / 2)).max() < 1e-4
    shift = f * 0.05 / 2  # the columns whose points leave the image on the left are invalid
    u = np.arange(W)
    assert np.array_equal(valid.all(axis=0), u - shift >= -0.5)
    assert np.array_equal(bvalid.all(axis=0), u + shift < W - 0.5)
