"""camera.rig=stereo: a rectified pair rendered from one scene, the left view's disparity and the
left pixels the right camera does not see.

The judge is independent geometry (tests/groundtruth.py: trimesh + numpy): each left pixel
centre's surface point is found by a world ray cast, projected into the right camera that the
meta records, and called seen there when a ray cast through that exact position hits it. The
right image is checked against the left one carried along the disparity (a sign error would
carry it the other way).
"""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from conftest import tiny_settings
from fake_renderer import FakeRenderer
from groundtruth import incidence_cos, reference_correspondence
from simgen import SimgenError
from simgen.config import check_settings
from simgen.optics.camera import project, stereo_offset
from simgen.io.dataset.layout import read_frame
from simgen.labels.stereo import disparity
from simgen.pipeline import run
from simgen.report.validate import validate

FRAMES, W, H = 2, 112, 84


def stereo_settings(out, **kw):
    s = tiny_settings(out, frames=FRAMES, width=W, height=H, samples=2, **kw)
    s.camera.rig = "stereo"
    s.camera.baseline = [0.15, 0.3]
    s.scene.distractors = [1, 3]  # more occluders
    return s


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("stereo")
    s = stereo_settings(root)
    s.output.formats = ["coco", "kitti_stereo", "middlebury"]
    run(s)
    return root


def right_meta(meta: dict) -> dict:
    return {**meta, "world_to_camera": meta["stereo"]["right_world_to_camera"]}


def test_the_right_camera_is_the_left_moved_by_the_baseline_along_its_x_axis(pair):
    for i in range(FRAMES):
        meta = read_frame(pair, i)["meta"]
        left, right = np.array(meta["world_to_camera"]), np.array(meta["stereo"]["right_world_to_camera"])
        b = meta["stereo"]["baseline"]
        assert 0.15 <= b <= 0.3 and meta["params"]["stereo"]["baseline"] == b
        centre = lambda w2c: -w2c[:3, :3].T @ w2c[:3, 3]  # noqa: E731
        np.testing.assert_allclose(centre(right) - centre(left), b * left[0, :3], atol=1e-12)
        np.testing.assert_allclose(right[:3, :3], left[:3, :3], atol=0)


def test_disparity_and_occlusion_match_a_ray_cast_from_the_right_camera(pair):
    check_against_ray_cast(pair)


def check_against_ray_cast(pair):
    occluded_total = 0
    for i in range(FRAMES):
        f = read_frame(pair, i)
        meta, inst, d = f["meta"], f["instance"], f["disparity"]
        assert d.dtype == np.float32 and d.shape == (H, W) and f["occluded"].dtype == np.uint8
        flow, seen, ids = reference_correspondence(pair, meta, right_meta(meta))
        hit = inst > 0
        same = hit & (ids == inst)
        assert same.mean() > 0.9
        # rectified: the point stays on its row; it moves left by d = fx B / z
        assert np.abs(flow[same][:, 1]).max() < 1e-6
        cos = incidence_cos(np.array(meta["K"]), f["normal"])
        facing = same & (cos > 0.1)
        err = np.abs(-flow[facing][:, 0] - d[facing])
        assert err.max() < 1e-3 * max(1.0, float(d[facing].max())), err.max()
        assert (d[~hit] == 0).all() and (d[hit] > 0).all()
        # the left pixels the right camera does not see: >= 99 % agreement, as for flow validity
        agree = (f["occluded"].astype(bool) == (hit & ~seen))[hit]
        assert agree.mean() >= 0.99, agree.mean()
        assert (f["occluded"][~hit] == 0).all()
        occluded_total += int(f["occluded"].sum())
    assert occluded_total > 0  # the left image's left border at least


def test_the_right_image_is_the_left_carried_along_the_disparity(pair):
    """Where the right camera sees a left pixel's point, the right image shows (about) its colour
    at (u - d, v); at (u + d, v), the mirrored rig, it does not."""
    for i in range(FRAMES):
        f = read_frame(pair, i)
        left, right = f["rgb"].astype(float), f["right"].astype(float)
        assert f["right"].shape == (H, W, 3) and f["right"].dtype == np.uint8
        v, u = np.nonzero((f["occluded"] == 0) & (f["instance"] > 0))
        d = f["disparity"][v, u]

        def error(sign: float) -> float:
            x = np.rint(u - sign * d).astype(int)
            ok = (x >= 0) & (x < W)
            return float(np.abs(right[v[ok], x[ok]] - left[v[ok], u[ok]]).mean())
        assert error(1.0) < 0.5 * error(-1.0), (error(1.0), error(-1.0))
        assert error(1.0) < 12.0


def test_the_left_view_is_the_mono_run_s_frame(pair, tmp_path):
    """The rig draws from its own stream: turning it on changes no other draw, so the left view
    is the frame a mono run renders."""
    s = stereo_settings(tmp_path / "mono")
    s.camera.rig, s.frames = "mono", 1
    run(s)
    mono, left = read_frame(tmp_path / "mono", 0), read_frame(pair, 0)
    assert (mono["instance"] == left["instance"]).all() and (mono["depth"] == left["depth"]).all()
    assert (mono["rgb"] == left["rgb"]).all()
    assert "right" not in mono and "stereo" not in mono["meta"]


def test_validate_knows_the_stereo_kinds(pair, tmp_path):
    report = validate(pair, full=True)
    assert report.ok, report.text(pair, True)
    copy = shutil.copytree(pair, tmp_path / "copy")
    (copy / "disparity" / "000001.npy").unlink()
    assert "disparity/000001.npy" in validate(copy).text(copy, False)


# ------------------------------------------------------------------ a calibrated rig

YAW_DEG, CENTRE = 2.0, np.array([0.2, 0.005, 0.0])
"""The calibrated rig: cam1 0.2 m to the right of cam0 (and 5 mm down), turned 2 degrees."""
LENSES = ((0.9, (-0.3, 0.4), [-0.05, 0.01, 0.0005, -0.0003]), (0.92, (0.2, -0.1), [-0.04, 0.008, 0.0, 0.0002]))
"""(focal / width, principal point offset, radtan k1 k2 p1 p2) of cam0 and cam1."""


def rig_matrices():
    """K, D of both cameras and OpenCV's R, T (cam0 coordinates -> cam1's)."""
    a = np.deg2rad(YAW_DEG)
    R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    Ks = [np.array([[f * W, 0, (W - 1) / 2 + dx], [0, f * W, (H - 1) / 2 + dy], [0, 0, 1]]) for f, (dx, dy), _ in LENSES]
    Ds = [np.array(d + [0.0]) for _, _, d in LENSES]
    return Ks, Ds, R, -R @ CENTRE


def kalibr_camchain(path):
    """A Kalibr camchain of the rig, written as Kalibr writes one (T_cn_cnm1: cam0 -> cam1)."""
    Ks, _, R, T = rig_matrices()
    T_cn_cnm1 = np.eye(4)
    T_cn_cnm1[:3, :3], T_cn_cnm1[:3, 3] = R, T
    lines = []
    for k, (K, (_, _, d)) in enumerate(zip(Ks, LENSES)):
        lines.append(f"cam{k}:")
        if k:
            lines.append("  T_cn_cnm1:")
            lines += [f"  - [{', '.join(repr(float(x)) for x in row)}]" for row in T_cn_cnm1]
        lines += ["  camera_model: pinhole", f"  intrinsics: [{K[0, 0]!r}, {K[1, 1]!r}, {K[0, 2]!r}, {K[1, 2]!r}]",
                  "  distortion_model: radtan", f"  distortion_coeffs: {d!r}", f"  resolution: [{W}, {H}]"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def calibrated_pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("calibrated")
    s = stereo_settings(root / "out")
    s.camera.calibration = str(kalibr_camchain(root / "camchain.yaml"))
    run(s)
    return root / "out"


def test_a_calibrated_rig_renders_opencv_s_rectified_pair(calibrated_pair):
    """The judge is OpenCV: cv2.stereoRectify of the rig gives the pair's K and baseline, and a
    world point seen by the raw cam0 (cv2.projectPoints through its lens, the camera turned back
    from the rectified one by R1) and rectified by cv2.undistortPoints(R1, P1) lands where the
    rectified left view's K and pose put it."""
    Ks, Ds, R, T = rig_matrices()
    R1, R2, P1, P2 = cv2.stereoRectify(Ks[0], Ds[0], Ks[1], Ds[1], (W, H), R, T)[:4]
    for i in range(FRAMES):
        meta = read_frame(calibrated_pair, i)["meta"]
        assert "lens" not in meta  # the rectified pair: pinholes
        np.testing.assert_allclose(meta["K"], P1[:, :3], rtol=1e-12)
        b = meta["stereo"]["baseline"]
        assert b == pytest.approx(-P2[0, 3] / P2[0, 0], rel=1e-12) and b == pytest.approx(np.linalg.norm(CENTRE), rel=1e-9)
        np.testing.assert_allclose(meta["params"]["stereo"]["rectification"]["R1"], R1, atol=1e-12)
        w2c = np.array(meta["world_to_camera"])
        points = np.array([o["mesh_to_world"] for o in meta["objects"]])[:, :3, 3]
        rectified, z = project(np.array(meta["K"]), w2c, points)
        raw_w2c = R1.T @ w2c[:3]  # rectified camera axes -> cam0's
        raw, _ = cv2.projectPoints(points, cv2.Rodrigues(raw_w2c[:, :3])[0], raw_w2c[:, 3], Ks[0], Ds[0])
        inside = (z > 0) & (raw[:, 0] >= 0).all(-1) & (raw[:, 0, 0] < W) & (raw[:, 0, 1] < H)
        assert inside.sum() >= 2
        again = cv2.undistortPoints(raw[inside], Ks[0], Ds[0], R=R1, P=P1)[:, 0]
        np.testing.assert_allclose(again, rectified[inside], atol=0.01)


def test_a_calibrated_rig_s_disparity_and_occlusion_match_a_ray_cast(calibrated_pair):
    check_against_ray_cast(calibrated_pair)


def test_a_calibration_of_one_camera_is_no_stereo_rig(tmp_path):
    from simgen.compose.settings import validate

    s = stereo_settings(tmp_path / "one")
    Ks, Ds, _, _ = rig_matrices()
    fs = cv2.FileStorage(str(tmp_path / "one.yaml"), cv2.FILE_STORAGE_WRITE)
    fs.write("image_width", W)
    fs.write("image_height", H)
    fs.write("camera_matrix", Ks[0])
    fs.write("distortion_coefficients", Ds[0].reshape(1, -1))
    fs.release()
    s.camera.calibration = str(tmp_path / "one.yaml")
    with pytest.raises(SimgenError, match=r"the file has one camera; a stereo rig needs two"):
        validate(s)


# ------------------------------------------------------------------ without Blender


def test_disparity_is_fx_baseline_over_depth():
    K = np.array([[200.0, 0, 50], [0, 200, 40], [0, 0, 1]])
    depth = np.array([[1.0, 2.0], [np.inf, 0.5]], np.float32)
    np.testing.assert_array_equal(disparity(depth, K, 0.1), np.float32([[20.0, 10.0], [0.0, 40.0]]))


def test_stereo_offset_moves_points_left_in_the_right_image():
    w2c = np.eye(4)
    K = np.array([[100.0, 0, 50], [0, 100, 40], [0, 0, 1]])
    point = np.array([0.2, 0.1, 2.0, 1.0])
    u = lambda m: (K @ (m @ point)[:3])[0] / (m @ point)[2]  # noqa: E731
    assert u(stereo_offset(w2c, 0.5)) == pytest.approx(u(w2c) - 100 * 0.5 / 2.0)


def test_a_stereo_run_with_the_fake_renderer_writes_the_pair(tmp_path):
    s = stereo_settings(tmp_path / "fake")
    s.effects.noise_probability = 1.0  # the right view is developed too, with its own noise
    run(s, make_renderer=FakeRenderer)
    f = read_frame(tmp_path / "fake", 0)
    assert {"right", "disparity", "occluded"} <= set(f) and f["meta"]["effects"]["noise"]
    assert not (f["right"] == f["rgb"]).all()


@pytest.mark.parametrize("change, message", [
    (dict(effects__motion_blur_probability=0.5), "blurs along the left view's flow only"),
    (dict(camera__rig="mono", output__labels=["disparity"]), r"output.labels=\['disparity'\] are a stereo pair's"),
])

def test_what_a_stereo_rig_does_not_support_is_one_line(tmp_path, change, message):
    from conftest import set_settings

    s = stereo_settings(tmp_path / "bad")
    with pytest.raises(SimgenError, match=message):
        check_settings(set_settings(s, **change))


def test_a_stereo_format_without_a_stereo_rig_is_refused_before_rendering(tmp_path):
    s = stereo_settings(tmp_path / "mono")
    s.camera.rig, s.output.formats = "mono", ["middlebury"]
    with pytest.raises(SimgenError, match=r"output.formats=\['middlebury'\] write stereo pairs: set camera.rig=stereo"):
        run(s, make_renderer=FakeRenderer)
    assert not (tmp_path / "mono" / "meta").exists()


# ------------------------------------------------------------------ the pair's formats
# Readers written from the formats' own documentation, not from simgen's writer: KITTI's
# devkit readme (disparity PNG: uint16, d = I / 256, valid where I > 0; calib_cam_to_cam
# "KEY: v1 v2 ..."), the PFM format (header "Pf", "W H", a scale whose sign gives the byte
# order, negative = little-endian; float rows from the bottom one up) and Middlebury 2014's
# calib.txt ("key=value", matrices "[a b c; d e f; g h i]"; Z = baseline * f / (d + doffs)).


def kitti_disparity(path):
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.ndim == 2
    return raw.astype(np.float64) / 256.0, raw > 0


def kitti_calib(path):
    return {k.strip(): np.array(v.split(), float) for k, v in
            (line.split(":", 1) for line in path.read_text().splitlines() if line.strip())}


def read_pfm(path):
    data = path.read_bytes()
    header, rest = data.split(b"\n", 1)
    size, rest = rest.split(b"\n", 1)
    scale, rest = rest.split(b"\n", 1)
    assert header == b"Pf"
    w, h = (int(x) for x in size.split())
    order = "<" if float(scale) < 0 else ">"
    return np.frombuffer(rest, order + "f4", count=w * h).reshape(h, w)[::-1]


def middlebury_calib(path):
    out = {}
    for line in path.read_text().splitlines():
        key, value = line.split("=", 1)
        out[key] = (np.array([[float(x) for x in r.split()] for r in value.strip("[]").split(";")])
                    if value.startswith("[") else float(value))
    return out


def test_the_kitti_stereo_export_reads_back_as_kitti_defines_it(pair):
    for i in range(FRAMES):
        f, stem = read_frame(pair, i), f"{i:06d}"
        split = f["meta"]["split"]
        out = pair / "kitti_stereo" / split
        assert (out / "image_2" / f"{stem}_10.png").read_bytes() == (pair / "images" / f"{stem}.png").read_bytes()
        assert (out / "image_3" / f"{stem}_10.png").read_bytes() == (pair / "right" / f"{stem}.png").read_bytes()
        d, hit = f["disparity"], f["instance"] > 0
        occ, occ_valid = kitti_disparity(out / "disp_occ_0" / f"{stem}_10.png")
        noc, noc_valid = kitti_disparity(out / "disp_noc_0" / f"{stem}_10.png")
        assert (occ_valid == hit).all() and (noc_valid == (hit & (f["occluded"] == 0))).all()
        assert np.abs(occ[hit] - d[hit]).max() <= 0.5 / 256 + 1e-6
        assert (noc[noc_valid] == occ[noc_valid]).all()
        calib = kitti_calib(out / "calib_cam_to_cam" / f"{stem}.txt")
        P2, P3 = calib["P_rect_02"].reshape(3, 4), calib["P_rect_03"].reshape(3, 4)
        np.testing.assert_allclose(P2[:, :3], f["meta"]["K"], rtol=1e-10)
        baseline = (P2[0, 3] - P3[0, 3]) / P3[0, 0]
        assert baseline == pytest.approx(f["meta"]["stereo"]["baseline"], rel=1e-10)
        assert list(calib["S_rect_02"]) == [W, H]
        # depth from KITTI's disparity: f B / d, against the depth label (d quantized to 1/256 px)
        z = P2[0, 0] * baseline / occ[hit]
        assert np.abs(z - f["depth"][hit]).max() / f["depth"][hit].min() < 0.01


def test_the_middlebury_export_reads_back_as_middlebury_defines_it(pair):
    for i in range(FRAMES):
        f, stem = read_frame(pair, i), f"{i:06d}"
        out = pair / "middlebury" / f["meta"]["split"] / stem
        assert (out / "im0.png").read_bytes() == (pair / "images" / f"{stem}.png").read_bytes()
        assert (out / "im1.png").read_bytes() == (pair / "right" / f"{stem}.png").read_bytes()
        d, hit = f["disparity"], f["instance"] > 0
        pfm = read_pfm(out / "disp0.pfm")
        assert (pfm[hit] == d[hit]).all() and np.isinf(pfm[~hit]).all()
        mask = cv2.imread(str(out / "mask0nocc.png"), cv2.IMREAD_UNCHANGED)
        expect = np.where(hit, np.where(f["occluded"] == 1, 128, 255), 0)
        assert (mask == expect).all()
        calib = middlebury_calib(out / "calib.txt")
        np.testing.assert_allclose(calib["cam0"], f["meta"]["K"], rtol=1e-9)
        assert (calib["width"], calib["height"]) == (W, H) and calib["vmin"] <= d[hit].min() <= d[hit].max() <= calib["vmax"]
        z_mm = calib["baseline"] * calib["cam0"][0, 0] / (pfm[hit].astype(float) + calib["doffs"])
        np.testing.assert_allclose(z_mm, f["depth"][hit] * 1000.0, rtol=1e-5)


def test_the_rig_is_the_frame_loop_s_so_a_flying_sequence_gets_pairs_too(tmp_path):
    """The stereo rig is applied to whatever scenes a recipe draws: flying's moving objects, in a
    sequence with flow, get a right view, disparity and occlusion on every frame."""
    from simgen.compose.settings import validate as validate_settings
    from simgen.scenes import flying

    s = tiny_settings(tmp_path / "fly", frames=3, width=64, height=48, samples=1)
    s.scene, s.sequence.length, s.camera.rig = flying.Config(), 3, "stereo"
    run(validate_settings(s), make_renderer=FakeRenderer)
    for i in range(3):
        f = read_frame(tmp_path / "fly", i)
        assert {"right", "disparity", "occluded"} <= set(f) and f["meta"]["params"]["recipe"] == "flying"
        hit = f["instance"] > 0
        K, b = np.array(f["meta"]["K"]), f["meta"]["stereo"]["baseline"]
        np.testing.assert_allclose(f["disparity"][hit], K[0, 0] * b / f["depth"][hit], rtol=1e-6)
    assert validate(tmp_path / "fly").ok


@pytest.mark.parametrize("writer", ["kitti_stereo", "middlebury", "nerfstudio"])
@pytest.mark.parametrize("target, refusal", [
    ("outside", "leads out through the symbolic link"),
    ("inside", r"'images/000001.png', which is a symbolic link"),
])
def test_an_export_never_carries_a_link(pair, tmp_path, writer, target, refusal):
    """A dataset is data: an image replaced by a symbolic link, out of the dataset or to another
    of its files, is refused in one line and nothing of the export is left (as for BOP): the
    exports hard-link images, and a hard link to a link would carry the link."""
    import json

    from simgen.io.dataset.coco_index import CocoIndex
    from simgen.io.dataset.layout import frames_on_disk
    from simgen.io.formats.exporters import EXPORTERS

    root = shutil.copytree(pair, tmp_path / "ds")
    image = root / "images" / "000001.png"
    other = tmp_path / "secret.png" if target == "outside" else root / "images" / "000000.png"
    if target == "outside":
        other.write_bytes(image.read_bytes())
    image.unlink()
    image.symlink_to(other)
    index = CocoIndex(root, json.loads((root / "dataset.json").read_text())["categories"])
    index.update(frames_on_disk(root))
    shutil.rmtree(root / writer, ignore_errors=True)
    with pytest.raises(SimgenError, match=refusal):
        EXPORTERS.get(writer).finish(root, index, ["train", "val", "test"])
    assert not (root / writer).exists() and not list(root.glob(f".{writer}.*"))
