"""Calibration files (simgen.optics.calibration): OpenCV FileStorage YAML and JSON, ROS camera_info,
Kalibr camchain. Every fixture is a text literal in the format's documented layout (as the
calibration samples, camera_calibration_parsers and Kalibr write them), never produced by
simgen's own code. OpenCV is the judge: cv2.FileStorage reads the same OpenCV files, and
cv2.projectPoints / cv2.fisheye.projectPoints project with the numbers as written here."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from simgen import SimgenError
from simgen.optics.calibration import Calibration, check_size, read_calibration
from simgen.optics.lens import Fisheye, Pinhole, RadTan

# ------------------------------------------------------------------ fixtures (text, as the tools write them)

OPENCV_YAML = """%YAML:1.0
---
calibration_time: "Thu 05 Jun 2025 10:12:31 CEST"
nr_of_frames: 25
image_width: 640
image_height: 480
board_width: 9
board_height: 6
square_size: 25.
# flags:  +zero_tangent_dist
flags: 0
fisheye_model: 0
camera_matrix: !!opencv-matrix
   rows: 3
   cols: 3
   dt: d
   data: [ 5.2021408869452487e+02, 0., 3.1953710938234126e+02, 0.,
       5.1974566384658613e+02, 2.4372413412287366e+02, 0., 0., 1. ]
distortion_coefficients: !!opencv-matrix
   rows: 5
   cols: 1
   dt: d
   data: [ -2.8000000000000003e-01, 7.0000000000000007e-02,
       1.0000000000000000e-04, -2.0000000000000001e-04,
       -8.0000000000000002e-03 ]
avg_reprojection_error: 3.9128453126397562e-01
per_view_reprojection_errors: !!opencv-matrix
   rows: 3
   cols: 1
   dt: f
   data: [ 3.81034911e-01, 4.02224064e-01, 3.90011251e-01 ]
extrinsic_parameters: !!opencv-matrix
   rows: 3
   cols: 6
   dt: d
   data: [ -1.2e-01, 3.1e-01, 1.5e+00, -1.1e+02, -8.0e+01, 4.1e+02,
       1.0e-01, -2.2e-01, 1.4e+00, -9.0e+01, -7.5e+01, 3.9e+02,
       5.0e-02, 1.1e-01, 1.6e+00, -1.0e+02, -6.6e+01, 4.3e+02 ]
"""

OPENCV_JSON = """{
    "calibration_time": "Thu 05 Jun 2025 10:12:31 CEST",
    "image_width": 640,
    "image_height": 480,
    "flags": 16384,
    "camera_matrix": {
        "type_id": "opencv-matrix",
        "rows": 3,
        "cols": 3,
        "dt": "d",
        "data": [ 5.2021408869452487e+02, 0.0, 3.1953710938234126e+02, 0.0,
            5.1974566384658613e+02, 2.4372413412287366e+02, 0.0, 0.0, 1.0 ]
    },
    "distortion_coefficients": {
        "type_id": "opencv-matrix",
        "rows": 8,
        "cols": 1,
        "dt": "d",
        "data": [ 0.90000000000000002, 0.14999999999999999,
            2.9999999999999997e-04, -1.0000000000000000e-04,
            -2.0000000000000000e-03, 1.2, 0.34999999999999998,
            1.0000000000000000e-02 ]
    },
    "avg_reprojection_error": 0.41
}
"""

OPENCV_FISHEYE_YAML = """%YAML:1.0
---
image_width: 640
image_height: 480
distortion_model: fisheye
camera_matrix: !!opencv-matrix
   rows: 3
   cols: 3
   dt: d
   data: [ 2.8512345678901234e+02, 0., 3.2017e+02, 0., 2.8498765432109876e+02,
       2.3961e+02, 0., 0., 1. ]
distortion_coefficients: !!opencv-matrix
   rows: 4
   cols: 1
   dt: d
   data: [ 2.0000000000000000e-02, -5.0000000000000001e-03,
       1.0000000000000000e-03, -2.0000000000000001e-04 ]
"""

OPENCV_TUTORIAL_FISHEYE_YAML = OPENCV_FISHEYE_YAML.replace("distortion_model: fisheye", "fisheye_model: 1")
"""The tutorial sample (camera_calibration.cpp) marks a fisheye calibration with fisheye_model: 1."""

ROS_PLUMB_BOB = """image_width: 640
image_height: 480
camera_name: narrow_stereo
camera_matrix:
  rows: 3
  cols: 3
  data: [520.2140886945249, 0, 319.5371093823413, 0, 519.7456638465861, 243.7241341228737, 0, 0, 1]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.28, 0.07, 0.0001, -0.0002, -0.008]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
projection_matrix:
  rows: 3
  cols: 4
  data: [430.2, 0, 319.9, 0, 0, 430.1, 242.1, 0, 0, 0, 1, 0]
"""

ROS_RATIONAL = """image_width: 640
image_height: 480
camera_name: wide_left
camera_matrix:
  rows: 3
  cols: 3
  data: [520.2140886945249, 0, 319.5371093823413, 0, 519.7456638465861, 243.7241341228737, 0, 0, 1]
distortion_model: rational_polynomial
distortion_coefficients:
  rows: 1
  cols: 8
  data: [0.9, 0.15, 0.0003, -0.0001, -0.002, 1.2, 0.35, 0.01]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
projection_matrix:
  rows: 3
  cols: 4
  data: [520.2, 0, 319.5, 0, 0, 519.7, 243.7, 0, 0, 0, 1, 0]
"""

ROS_EQUIDISTANT = """image_width: 640
image_height: 480
camera_name: fisheye_front
camera_matrix:
  rows: 3
  cols: 3
  data: [285.12345678901234, 0, 320.17, 0, 284.98765432109876, 239.61, 0, 0, 1]
distortion_model: equidistant
distortion_coefficients:
  rows: 1
  cols: 4
  data: [0.02, -0.005, 0.001, -0.0002]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
projection_matrix:
  rows: 3
  cols: 4
  data: [285.1, 0, 320.2, 0, 0, 285.0, 239.6, 0, 0, 0, 1, 0]
"""

KALIBR_CAMCHAIN = """cam0:
  T_cam_imu:
  - [0.0148655429818, 0.999557249008, -0.0257744366974, 0.065222909535]
  - [-0.999880929698, 0.0149672133247, 0.00375618835797, -0.0207064397045]
  - [0.00414029679422, 0.025715529948, 0.999660727178, -0.0080546127134]
  - [0.0, 0.0, 0.0, 1.0]
  cam_overlaps: [1]
  camera_model: pinhole
  distortion_coeffs: [-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05]
  distortion_model: radtan
  intrinsics: [458.654, 457.296, 367.215, 248.375]
  resolution: [752, 480]
  rostopic: /cam0/image_raw
  timeshift_cam_imu: -8.121e-05
cam1:
  T_cn_cnm1:
  - [0.6, -0.8, 0.0, -0.1]
  - [0.8, 0.6, 0.0, 0.02]
  - [0.0, 0.0, 1.0, 0.005]
  - [0.0, 0.0, 0.0, 1.0]
  cam_overlaps: [0]
  camera_model: pinhole
  distortion_coeffs: [-0.01353, 0.05274, -0.04979, 0.01355]
  distortion_model: equidistant
  intrinsics: [457.587, 456.134, 379.999, 255.238]
  resolution: [752, 480]
  rostopic: /cam1/image_raw
"""

KALIBR_CAM2 = """cam2:
  T_cn_cnm1:
  - [1.0, 0.0, 0.0, -0.1]
  - [0.0, 0.8, -0.6, 0.0]
  - [0.0, 0.6, 0.8, 0.0]
  - [0.0, 0.0, 0.0, 1.0]
  cam_overlaps: [1]
  camera_model: pinhole
  distortion_coeffs: []
  distortion_model: none
  intrinsics: [460.0, 460.0, 375.5, 239.5]
  resolution: [752, 480]
  rostopic: /cam2/image_raw
"""

CAM1_TO_CAM0 = np.array([[0.6, 0.8, 0.0, 0.044],
                         [-0.8, 0.6, 0.0, -0.092],
                         [0.0, 0.0, 1.0, -0.005],
                         [0.0, 0.0, 0.0, 1.0]])
"""inverse(T_c1_c0) by hand: R^T, and -R^T t = -(0.6*-0.1 + 0.8*0.02, -0.8*-0.1 + 0.6*0.02, 0.005)."""

CAM2_TO_CAM0 = np.array([[0.6, 0.64, 0.48, 0.104],
                         [-0.8, 0.48, 0.36, -0.172],
                         [0.0, -0.6, 0.8, -0.005],
                         [0.0, 0.0, 0.0, 1.0]])
"""inverse(T_c2_c1 @ T_c1_c0) by hand: T_c2_c0 has rows (0.6, -0.8, 0 | -0.2), (0.64, 0.48, -0.6 | 0.013),
(0.48, 0.36, 0.8 | 0.016); its inverse is R^T and -R^T t = (0.104, -0.172, -0.005), which is also
cam1's origin (0.044, -0.092, -0.005) plus cam1's axes times cam2's origin in cam1, (0.1, 0, 0)."""


def write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text)
    return p


def points_in_view(theta_max: float, n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    theta, phi = rng.uniform(0, theta_max, n), rng.uniform(0, 2 * np.pi, n)
    return np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1) * 3.0


def assert_projects_like_cv2(lens, K, D, fisheye: bool = False, theta_max: float = math.radians(40)):
    pts = points_in_view(theta_max)
    if fisheye:
        ref, _ = cv2.fisheye.projectPoints(pts.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), np.array(K, float),
                                           np.array(D, float))
    else:
        ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), np.array(K, float), np.array(D, float))
    np.testing.assert_allclose(lens.project(pts), ref[:, 0], rtol=0, atol=1e-6)


def assert_read_like_cv2_filestorage(path, calib: Calibration):
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    try:
        lens = calib.lens
        np.testing.assert_array_equal(lens.K, fs.getNode("camera_matrix").mat())
        D = fs.getNode("distortion_coefficients").mat().ravel()
        np.testing.assert_array_equal(lens.distortion_coefficients(), D)
        assert (lens.width, lens.height) == (int(fs.getNode("image_width").real()),
                                             int(fs.getNode("image_height").real()))
    finally:
        fs.release()


# ------------------------------------------------------------------ OpenCV FileStorage


def test_opencv_yaml(tmp_path):
    p = write(tmp_path, "out_camera_data.yml", OPENCV_YAML)
    calib = read_calibration(p)
    assert calib.format == "opencv" and len(calib.cameras) == 1 and calib.path == p
    cam = calib.cameras[0]
    assert cam.name == "out_camera_data" and isinstance(cam.lens, RadTan)
    np.testing.assert_array_equal(cam.to_first, np.eye(4))
    assert_read_like_cv2_filestorage(p, calib)
    K = [[520.21408869452487, 0, 319.53710938234126], [0, 519.74566384658613, 243.72413412287366], [0, 0, 1]]
    assert_projects_like_cv2(calib.lens, K, [-0.28, 0.07, 1e-4, -2e-4, -0.008])
    check_size(calib, 640, 480)


def test_opencv_json_rational(tmp_path):
    p = write(tmp_path, "calib.json", OPENCV_JSON)
    calib = read_calibration(p)
    assert calib.format == "opencv" and isinstance(calib.lens, RadTan)
    assert_read_like_cv2_filestorage(p, calib)
    K = [[520.21408869452487, 0, 319.53710938234126], [0, 519.74566384658613, 243.72413412287366], [0, 0, 1]]
    assert_projects_like_cv2(calib.lens, K, [0.9, 0.15, 3e-4, -1e-4, -0.002, 1.2, 0.35, 0.01])


@pytest.mark.parametrize("text", [OPENCV_FISHEYE_YAML, OPENCV_TUTORIAL_FISHEYE_YAML], ids=["distortion_model", "tutorial"])
def test_opencv_fisheye(tmp_path, text):
    p = write(tmp_path, "fisheye.yaml", text)
    calib = read_calibration(p)
    assert isinstance(calib.lens, Fisheye)
    assert_read_like_cv2_filestorage(p, calib)
    K = [[285.12345678901234, 0, 320.17], [0, 284.98765432109876, 239.61], [0, 0, 1]]
    assert_projects_like_cv2(calib.lens, K, [0.02, -0.005, 0.001, -0.0002], fisheye=True,
                             theta_max=math.radians(85))


def test_opencv_all_zero_distortion_is_a_pinhole(tmp_path):
    text = OPENCV_YAML.replace("""   data: [ -2.8000000000000003e-01, 7.0000000000000007e-02,
       1.0000000000000000e-04, -2.0000000000000001e-04,
       -8.0000000000000002e-03 ]""", "   data: [ 0., 0., 0., 0., 0. ]")
    calib = read_calibration(write(tmp_path, "ideal.yml", text))
    assert isinstance(calib.lens, Pinhole)
    assert calib.lens.fx == 520.21408869452487


def test_the_format_is_told_by_content_not_extension(tmp_path):
    assert read_calibration(write(tmp_path, "a.json", OPENCV_YAML)).format == "opencv"
    assert read_calibration(write(tmp_path, "b.yaml", OPENCV_JSON)).format == "opencv"
    assert read_calibration(write(tmp_path, "c.txt", ROS_PLUMB_BOB)).format == "ros"
    assert read_calibration(write(tmp_path, "d.yml", KALIBR_CAMCHAIN)).format == "kalibr"


# ------------------------------------------------------------------ ROS camera_info


def test_ros_plumb_bob(tmp_path):
    calib = read_calibration(write(tmp_path, "ost.yaml", ROS_PLUMB_BOB))
    cam = calib.cameras[0]
    assert calib.format == "ros" and cam.name == "narrow_stereo" and isinstance(cam.lens, RadTan)
    K = [[520.2140886945249, 0, 319.5371093823413], [0, 519.7456638465861, 243.7241341228737], [0, 0, 1]]
    np.testing.assert_array_equal(cam.lens.K, K)
    assert cam.lens.coefficients == {"k1": -0.28, "k2": 0.07, "p1": 0.0001, "p2": -0.0002, "k3": -0.008,
                                     "k4": 0.0, "k5": 0.0, "k6": 0.0}
    assert_projects_like_cv2(cam.lens, K, [-0.28, 0.07, 0.0001, -0.0002, -0.008])
    np.testing.assert_array_equal(cam.extra["rectification_matrix"], np.eye(3))
    assert cam.extra["projection_matrix"].shape == (3, 4)


def test_ros_rational_polynomial(tmp_path):
    calib = read_calibration(write(tmp_path, "wide.yaml", ROS_RATIONAL))
    lens = calib.lens
    assert isinstance(lens, RadTan) and (lens.k4, lens.k5, lens.k6) == (1.2, 0.35, 0.01)
    K = [[520.2140886945249, 0, 319.5371093823413], [0, 519.7456638465861, 243.7241341228737], [0, 0, 1]]
    assert_projects_like_cv2(lens, K, [0.9, 0.15, 0.0003, -0.0001, -0.002, 1.2, 0.35, 0.01])


def test_ros_equidistant_is_the_opencv_fisheye(tmp_path):
    calib = read_calibration(write(tmp_path, "fisheye.yaml", ROS_EQUIDISTANT))
    assert isinstance(calib.lens, Fisheye) and calib.cameras[0].name == "fisheye_front"
    K = [[285.12345678901234, 0, 320.17], [0, 284.98765432109876, 239.61], [0, 0, 1]]
    assert_projects_like_cv2(calib.lens, K, [0.02, -0.005, 0.001, -0.0002], fisheye=True,
                             theta_max=math.radians(85))


def test_ros_without_distortion_model_is_plumb_bob(tmp_path):
    calib = read_calibration(write(tmp_path, "old.yaml", ROS_PLUMB_BOB.replace("distortion_model: plumb_bob\n", "")))
    assert isinstance(calib.lens, RadTan) and calib.lens.k1 == -0.28


# ------------------------------------------------------------------ Kalibr camchain


def test_kalibr_two_cameras(tmp_path):
    calib = read_calibration(write(tmp_path, "camchain.yaml", KALIBR_CAMCHAIN))
    assert calib.format == "kalibr" and [c.name for c in calib.cameras] == ["cam0", "cam1"]
    cam0, cam1 = calib.cameras
    assert isinstance(cam0.lens, RadTan) and isinstance(cam1.lens, Fisheye)
    K0 = [[458.654, 0, 367.215], [0, 457.296, 248.375], [0, 0, 1]]
    # Kalibr's radtan [k1, k2, r1, r2] is OpenCV's k1, k2, p1, p2
    assert_projects_like_cv2(cam0.lens, K0, [-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05])
    K1 = [[457.587, 0, 379.999], [0, 456.134, 255.238], [0, 0, 1]]
    assert_projects_like_cv2(cam1.lens, K1, [-0.01353, 0.05274, -0.04979, 0.01355], fisheye=True)
    assert (cam0.lens.width, cam0.lens.height) == (752, 480)
    np.testing.assert_array_equal(cam0.to_first, np.eye(4))
    np.testing.assert_allclose(cam1.to_first, CAM1_TO_CAM0, atol=1e-12)
    # direction: a point 1 m in front of cam1, in cam0's coordinates, maps back through T_c1_c0
    T_c1_c0 = np.array([[0.6, -0.8, 0, -0.1], [0.8, 0.6, 0, 0.02], [0, 0, 1, 0.005], [0, 0, 0, 1]])
    p_cam1 = np.array([0.0, 0.0, 1.0, 1.0])
    np.testing.assert_allclose(T_c1_c0 @ (cam1.to_first @ p_cam1), p_cam1, atol=1e-12)
    assert cam0.imu_to_camera is not None and cam0.imu_to_camera[0, 3] == 0.065222909535
    assert cam1.imu_to_camera is None
    assert calib.camera("cam1") is cam1
    with pytest.raises(SimgenError, match=r"no camera 'cam3' \(cameras: cam0, cam1\)"):
        calib.camera("cam3")


def test_kalibr_chain_of_three(tmp_path):
    calib = read_calibration(write(tmp_path, "camchain3.yaml", KALIBR_CAMCHAIN + KALIBR_CAM2))
    cam0, cam1, cam2 = calib.cameras
    np.testing.assert_allclose(cam1.to_first, CAM1_TO_CAM0, atol=1e-12)
    np.testing.assert_allclose(cam2.to_first, CAM2_TO_CAM0, atol=1e-12)
    assert isinstance(cam2.lens, Pinhole) and cam2.lens.fx == 460.0


def test_check_size(tmp_path):
    p = write(tmp_path, "camchain.yaml", KALIBR_CAMCHAIN)
    calib = read_calibration(p)
    check_size(calib, 752, 480)
    with pytest.raises(SimgenError) as e:
        check_size(calib, 640, 480)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{p}: ") and "752x480" in msg and "640x480" in msg
    assert "render.width" in msg


# ------------------------------------------------------------------ bad input: one line naming the file


def _drop_line(text: str, prefix: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith(prefix)) + "\n"


FOLDING_ROS = ROS_PLUMB_BOB.replace("[-0.28, 0.07, 0.0001, -0.0002, -0.008]", "[-0.5, 0.0, 0.0, 0.0, 0.0]").replace(
    "520.2140886945249", "300.0").replace("519.7456638465861", "300.0")

BAD = {
    "missing": (None, "no such calibration file"),
    "not-yaml": ("camera_matrix: [1, 2\nimage_width: }\n", "not YAML or JSON ("),
    "not-json": ('{"image_width": 640,\n "camera_matrix": \n', "not JSON ("),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not YAML or JSON"),
    "empty": ("", "empty file"),
    "a-list": ("- 1\n- 2\n", "not a camera calibration: its top level is a list"),
    "other-yaml": ("name: scene\nobjects: 3\n", "not a camera calibration"),
    "xml": ('<?xml version="1.0"?>\n<opencv_storage>\n</opencv_storage>\n', "XML is not read"),
    "opencv-missing-height": (_drop_line(OPENCV_YAML, "image_height"), "missing field 'image_height'"),
    "opencv-missing-distortion": (OPENCV_YAML.split("distortion_coefficients:")[0],
                                  "missing field 'distortion_coefficients'"),
    "opencv-shape": (OPENCV_YAML.replace("   rows: 3\n   cols: 3\n   dt: d\n   data: [ 5.2",
                                         "   rows: 2\n   cols: 3\n   dt: d\n   data: [ 5.2").replace(
                     "2.4372413412287366e+02, 0., 0., 1. ]", "2.4372413412287366e+02 ]"),
                     "camera_matrix: wrong matrix shape: expected 3x3, found 2x3"),
    "opencv-count": (OPENCV_YAML.replace("0., 0., 1. ]", "0., 1. ]"),
                     "camera_matrix: wrong matrix shape: data has 8 numbers for rows x cols = 3x3"),
    "opencv-nan": (OPENCV_YAML.replace("3.1953710938234126e+02", ".Nan"), "camera_matrix element 2: non-finite"),
    "opencv-unknown-model": (OPENCV_FISHEYE_YAML.replace("distortion_model: fisheye", "distortion_model: omni"),
                             "unknown distortion model 'omni' (known: radtan, fisheye, pinhole)"),
    "opencv-coefficient-count": (OPENCV_FISHEYE_YAML.replace("rows: 4", "rows: 3").replace(
                                 ", -2.0000000000000001e-04", ""), "fisheye takes 4 distortion coefficients"),
    "json-nan": (OPENCV_JSON.replace("0.14999999999999999", "NaN"), "distortion_coefficients element 1: non-finite"),
    "ros-missing-distortion": (ROS_PLUMB_BOB.split("distortion_coefficients:")[0] + "rectification_matrix:\n"
                               "  rows: 3\n  cols: 3\n  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]\n",
                               "missing field 'distortion_coefficients'"),
    "ros-missing-rows": (ROS_PLUMB_BOB.replace("  rows: 1\n", ""), "missing field 'distortion_coefficients.rows'"),
    "ros-count": (ROS_PLUMB_BOB.replace(", 0, 0, 1]\ndistortion_model", ", 0, 1]\ndistortion_model"),
                  "camera_matrix: wrong matrix shape: data has 8 numbers for rows x cols = 3x3"),
    "ros-projection-shape": (ROS_PLUMB_BOB.replace("  cols: 4\n", "  cols: 3\n").replace(
                             "[430.2, 0, 319.9, 0, 0, 430.1, 242.1, 0, 0, 0, 1, 0]", "[430.2, 0, 319.9, 0, 430.1, "
                             "242.1, 0, 0, 1]"), "projection_matrix: wrong matrix shape: expected 3x4, found 3x3"),
    "ros-plumb-bob-count": (ROS_PLUMB_BOB.replace("cols: 5\n  data: [-0.28, 0.07, 0.0001, -0.0002, -0.008]",
                                                  "cols: 4\n  data: [-0.28, 0.07, 0.0001, -0.0002]"),
                            "plumb_bob has 5 coefficients, found 4"),
    "ros-unknown-model": (ROS_PLUMB_BOB.replace("plumb_bob", "kannala_brandt"),
                          "unknown distortion model 'kannala_brandt' (known: plumb_bob, rational_polynomial, "
                          "equidistant)"),
    "ros-nan": (ROS_PLUMB_BOB.replace("0.07", ".nan"), "distortion_coefficients element 1: non-finite number nan"),
    "ros-fold": (FOLDING_ROS, "radtan lens folds over inside the image"),
    "ros-zero-focal": (ROS_PLUMB_BOB.replace("520.2140886945249", "0"), "focal length fx=0.0"),
    "ros-width": (ROS_PLUMB_BOB.replace("image_width: 640", "image_width: -640"),
                  "image_width: -640 is not a positive whole number of pixels"),
    "kalibr-missing-T": (_drop_line(KALIBR_CAMCHAIN, "  T_cn_cnm1").replace(
                         "  - [0.6, -0.8, 0.0, -0.1]\n  - [0.8, 0.6, 0.0, 0.02]\n  - [0.0, 0.0, 1.0, 0.005]\n"
                         "  - [0.0, 0.0, 0.0, 1.0]\n", ""), "missing field 'cam1.T_cn_cnm1'"),
    "kalibr-gap": (KALIBR_CAMCHAIN.replace("cam1:", "cam2:"), "missing field 'cam1'"),
    "kalibr-intrinsics": (KALIBR_CAMCHAIN.replace("[458.654, 457.296, 367.215, 248.375]", "[458.654, 367.215, 248.375]"),
                          "cam0.intrinsics: wrong matrix shape: pinhole has 4 intrinsics"),
    "kalibr-T-shape": (KALIBR_CAMCHAIN.replace("  - [0.0, 0.0, 1.0, 0.005]\n", ""),
                       "cam1.T_cn_cnm1: wrong matrix shape: expected 4x4, found 3x4"),
    "kalibr-not-rigid": (KALIBR_CAMCHAIN.replace("[0.6, -0.8, 0.0, -0.1]", "[0.6, -0.6, 0.0, -0.1]"),
                         "cam1.T_cn_cnm1: not a rigid transform"),
    "kalibr-unknown-model": (KALIBR_CAMCHAIN.replace("distortion_model: equidistant", "distortion_model: fov"),
                             "cam1.distortion_model: unknown distortion model 'fov' (known: radtan, equidistant, none)"),
    "kalibr-camera-model": (KALIBR_CAMCHAIN.replace("camera_model: pinhole", "camera_model: omni", 1),
                            "cam0.camera_model: 'omni' is not supported"),
    "kalibr-inf": (KALIBR_CAMCHAIN.replace("-0.01353", ".inf"), "cam1.distortion_coeffs[0]: non-finite number inf"),
    "kalibr-fold": (KALIBR_CAMCHAIN.replace("[-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05]",
                                            "[-0.9, 0.0, 0.0, 0.0]"), "cam0: radtan lens folds over inside the image"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_one_line_naming_the_file(tmp_path, name):
    content, expected = BAD[name]
    p = tmp_path / f"{name}.yaml"
    if isinstance(content, bytes):
        p.write_bytes(content)
    elif content is not None:
        p.write_text(content)
    with pytest.raises(SimgenError) as e:
        read_calibration(p)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{p}: "), msg
    assert expected in msg, msg


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(SimgenError, match="is a directory"):
        read_calibration(tmp_path)
