"""camera.rig=calibration: every camera of a Kalibr camchain, each through its own lens and posed
by the file's extrinsics around the drawn cam0, each a frame with its own labels.

The judge is OpenCV: each camera's 3D box projections are cv2.projectPoints (cv2.fisheye for a
fisheye) of the box corners with the file's K and distortion; a ray cast through each pixel
centre's OpenCV ray (cv2.undistortPoints) sees the ids the frame's instance map holds; each
camera's pose is cam0's moved by the extrinsics the test wrote into the file.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import tiny_settings
from groundtruth import cast_rays, uniform_neighbourhood
from simgen import SimgenError
from simgen.config import check_settings
from simgen.io.dataset.layout import read_frame
from simgen.pipeline import run

W, H, SCENES = 96, 72, 2


def turn(deg: float, centre) -> np.ndarray:
    """T_cn_c0 of a camera at ``centre`` (cam0's coordinates) turned ``deg`` about cam0's y axis."""
    a = np.deg2rad(deg)
    R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, -R @ np.asarray(centre, float)
    return T


CAMERAS = [  # name, Kalibr distortion model, coefficients, intrinsics, T_cn_c0
    ("cam0", "radtan", [-0.2, 0.05, 3e-4, -2e-4], [62.0, 62.5, 47.8, 35.9], np.eye(4)),
    ("cam1", "equidistant", [0.03, -0.01, 0.002, 0.0], [40.0, 40.0, 48.2, 35.3], turn(-12.0, [0.08, 0.0, 0.0])),
    ("cam2", "none", [], [70.0, 70.0, 47.5, 35.5], turn(8.0, [-0.05, -0.03, 0.01])),
]


def camchain(path):
    lines, previous = [], np.eye(4)
    for name, model, coeffs, intrinsics, T in CAMERAS:
        lines.append(f"{name}:")
        if name != "cam0":  # Kalibr's chain: each camera relative to the one before
            lines.append("  T_cn_cnm1:")
            lines += [f"  - [{', '.join(repr(float(x)) for x in row)}]" for row in T @ np.linalg.inv(previous)]
        previous = T
        lines += ["  camera_model: pinhole", f"  intrinsics: {intrinsics!r}", f"  distortion_model: {model}",
                  f"  distortion_coeffs: {coeffs!r}", f"  resolution: [{W}, {H}]"]
    path.write_text("\n".join(lines) + "\n")
    return path


def opencv(k: int):
    _, model, coeffs, (fx, fy, cx, cy), _ = CAMERAS[k]
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
    return K, np.array(coeffs + ([0.0] if model == "radtan" else []), float), model == "equidistant"


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    root = tmp_path_factory.mktemp("rig")
    s = tiny_settings(root / "out", frames=SCENES * len(CAMERAS), width=W, height=H, samples=2)
    s.camera.rig, s.camera.calibration = "calibration", str(camchain(root / "camchain.yaml"))
    run(s)
    return root / "out"


def test_each_camera_of_the_file_is_a_frame_posed_by_its_extrinsics(rig):
    for scene in range(SCENES):
        metas = [read_frame(rig, scene * len(CAMERAS) + k)["meta"] for k in range(len(CAMERAS))]
        w2c0 = np.array(metas[0]["world_to_camera"])
        for k, meta in enumerate(metas):
            assert meta["params"]["rig"] == {"camera": CAMERAS[k][0], "index": k, "of": len(CAMERAS)}
            assert (meta["sequence"], meta["step"]) == (scene, k)
            np.testing.assert_allclose(meta["world_to_camera"], CAMERAS[k][4] @ w2c0, atol=1e-9)
            K, D, _ = opencv(k)
            np.testing.assert_allclose(meta["lens"]["K"], K)


def test_every_camera_s_boxes_are_opencv_s_projections_through_its_lens(rig):
    checked = 0
    for i in range(SCENES * len(CAMERAS)):
        meta = read_frame(rig, i)["meta"]
        K, D, fisheye = opencv(i % len(CAMERAS))
        for o in meta["objects"]:
            corners = np.array(o["box3d"]["corners"] + [o["box3d"]["center"]], float)
            front = corners[:, 2] > 0.05
            if fisheye:
                want = cv2.fisheye.projectPoints(corners[front][:, None], np.zeros(3), np.zeros(3), K, D)[0][:, 0]
            else:
                want = cv2.projectPoints(corners[front], np.zeros(3), np.zeros(3), K, D)[0][:, 0]
            got = [g for g, f in zip(o["box3d"]["projected"], front) if f]
            for g, w_, c in zip(got, want, corners[front]):
                if g is not None and np.hypot(*(c[:2] / c[2])) < 1.0:  # where the lens does not fold
                    np.testing.assert_allclose(g, w_, atol=1e-6)
                    checked += 1
    assert checked > 30


def test_every_camera_s_ids_are_a_ray_cast_through_its_opencv_rays(rig):
    for i in range(SCENES * len(CAMERAS)):
        frame = read_frame(rig, i)
        K, D, fisheye = opencv(i % len(CAMERAS))
        u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
        pts = np.stack([u.ravel(), v.ravel()], -1)[:, None]
        und = (cv2.fisheye.undistortPoints(pts, K, D, P=K) if fisheye else cv2.undistortPoints(pts, K, D, P=K))[:, 0]
        gt = cast_rays(rig, frame["meta"], und[:, 0], und[:, 1])["instance"].reshape(H, W)
        interior = uniform_neighbourhood(gt)
        assert interior.mean() > 0.5
        got = frame["instance"].astype(np.int64)
        assert (got[interior] == gt[interior]).mean() > 0.999, i


def test_a_camera_rig_needs_a_calibration_and_a_still_scene(tmp_path):
    s = tiny_settings(tmp_path / "bad", frames=1, width=W, height=H)
    s.camera.rig = "calibration"
    with pytest.raises(SimgenError, match=r"camera.rig=calibration renders the cameras of a calibration file"):
        check_settings(s)
    s.camera.calibration, s.sequence.length = str(camchain(tmp_path / "camchain.yaml")), 3
    with pytest.raises(SimgenError, match=r"sequence.length=3 moves one camera along a path"):
        check_settings(s)
