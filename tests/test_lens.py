"""Lens models (simgen.optics.lens) against OpenCV itself: cv2.projectPoints and
cv2.undistortPointsIter for radtan, cv2.fisheye.projectPoints / undistortPoints for the fisheye,
and the closed forms (computed here) for the equidistant and equisolid fisheyes, which OpenCV
has no function for. Every pixel centre of a 64x48 image is unprojected and projected back."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from simgen import SimgenError
from simgen.optics import camera
from simgen.optics.lens import (MODELS, Equidistant, Equisolid, Fisheye, Lens, Pinhole, RadTan, depth_to_ray_distance,
                              lens_class, lens_from_dict, parse_lens, ray_distance_to_depth)

W, H = 64, 48
CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-14)

WIDE = RadTan(fx=52.0, fy=50.0, cx=31.7, cy=23.4, width=W, height=H,
              k1=-0.28, k2=0.07, p1=1e-4, p2=-2e-4, k3=-0.008)
"""A wide-angle lens, strong barrel distortion (about 98 degrees across the diagonal)."""
RATIONAL = RadTan(fx=52.0, fy=50.0, cx=31.7, cy=23.4, width=W, height=H,
                  k1=0.9, k2=0.15, p1=3e-4, p2=-1e-4, k3=-0.002, k4=1.2, k5=0.35, k6=0.01)
"""OpenCV's rational model (CALIB_RATIONAL_MODEL), numerator and denominator both large."""
FISHEYE = Fisheye(fx=30.0, fy=29.5, cx=31.6, cy=23.7, width=W, height=H,
                  k1=0.02, k2=-0.005, k3=0.001, k4=-0.0002)
"""OpenCV fisheye, coefficients of the size a real calibration gives; corners at ~77 degrees."""
EQUIDISTANT = Equidistant(fx=20.0, fy=20.5, cx=31.5, cy=23.5, width=W, height=H)
"""Corners at ~115 degrees: the outer pixels see behind the camera."""
EQUISOLID = Equisolid(fx=15.0, fy=15.5, cx=31.5, cy=23.5, width=W, height=H)
"""A circular fisheye: its image circle (radius 2 f) ends inside the image."""


def pixel_centres() -> np.ndarray:
    u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    return np.stack([u.ravel(), v.ravel()], axis=-1)


def directions(n: int, theta_max: float, seed: int, theta_min: float = 0.0) -> np.ndarray:
    """Random points (n, 3) at angles theta_min..theta_max from +z, at 0.5..20 from the camera."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(theta_min, theta_max, n)
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    dist = rng.uniform(0.5, 20.0, n)
    d = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=-1)
    return d * dist[:, None]


def angular_closed_form(lens: Lens, points: np.ndarray, radius) -> np.ndarray:
    """Pixels of points for a model r = radius(theta), written out here."""
    X, Y, Z = points.T
    rho = np.hypot(X, Y)
    theta = np.arctan2(rho, Z)
    r = radius(theta)
    return np.stack([lens.fx * r * X / rho + lens.cx, lens.fy * r * Y / rho + lens.cy], axis=-1)


# ------------------------------------------------------------------ projection against OpenCV


@pytest.mark.parametrize("lens", [WIDE, RATIONAL], ids=["wide", "rational"])
def test_radtan_projects_like_cv2_projectPoints(lens):
    lens.check()
    pts = directions(2000, 0.95 * lens.max_angle, seed=1)
    ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), lens.K, lens.distortion_coefficients())
    assert len(lens.distortion_coefficients()) == (8 if lens is RATIONAL else 5)
    np.testing.assert_allclose(lens.project(pts), ref[:, 0], rtol=0, atol=1e-6)


def test_pinhole_projects_like_opencv_and_simgen_camera():
    lens = Pinhole(fx=52.0, fy=50.0, cx=31.7, cy=23.4, width=W, height=H)
    lens.check()
    pts = directions(500, math.radians(80), seed=2)
    ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), lens.K, np.zeros(5))
    np.testing.assert_allclose(lens.project(pts), ref[:, 0], rtol=0, atol=1e-6)
    uv, _ = camera.project(lens.K, np.eye(4), pts)
    np.testing.assert_allclose(lens.project(pts), uv, rtol=0, atol=1e-9)
    rays = camera.pixel_rays(lens.K, W, H)
    np.testing.assert_allclose(lens.pixel_rays(), rays / np.linalg.norm(rays, axis=-1, keepdims=True), atol=1e-12)


def test_fisheye_projects_like_cv2_fisheye_projectPoints():
    pts = directions(2000, math.radians(89.5), seed=3)
    D = FISHEYE.distortion_coefficients()
    assert D.tolist() == [0.02, -0.005, 0.001, -0.0002]
    ref, _ = cv2.fisheye.projectPoints(pts.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), FISHEYE.K, D)
    np.testing.assert_allclose(FISHEYE.project(pts), ref[:, 0], rtol=0, atol=1e-6)


def test_fisheye_sees_behind_the_camera_within_its_field_of_view():
    FISHEYE.check()
    assert math.radians(120) < FISHEYE.max_angle < math.radians(150)  # the polynomial folds at ~136 deg
    behind = directions(500, FISHEYE.max_angle - 1e-6, seed=4, theta_min=math.pi / 2)
    assert (behind[:, 2] <= 0).all()
    k1, k2, k3, k4 = 0.02, -0.005, 0.001, -0.0002
    ref = angular_closed_form(FISHEYE, behind, lambda t: t * (1 + k1 * t**2 + k2 * t**4 + k3 * t**6 + k4 * t**8))
    np.testing.assert_allclose(FISHEYE.project(behind), ref, rtol=0, atol=1e-6)
    past_fold = directions(50, math.pi, seed=5, theta_min=FISHEYE.max_angle + 1e-3)
    assert np.isnan(FISHEYE.project(past_fold)).all()
    assert np.isnan(FISHEYE.project(np.zeros((1, 3)))).all()
    assert np.isnan(FISHEYE.project(np.array([[0.0, 0.0, -1.0]]))).all()  # straight behind: no azimuth


def test_perspective_models_do_not_see_behind_or_past_a_fold():
    behind = directions(100, math.pi, seed=6, theta_min=math.pi / 2)
    for lens in (WIDE, RATIONAL, Pinhole(fx=50, fy=50, cx=31.5, cy=23.5, width=W, height=H)):
        assert np.isnan(lens.project(behind)).all()
    # WIDE folds at r ~1.84 (61 deg), far outside its image (corners at r ~1.05): refused nowhere,
    # but a point past the fold has no pixel instead of a wrong one
    assert 1.8 < math.tan(WIDE.max_angle) < 1.9
    beyond = np.array([[2.0, 0.0, 1.0], [0.0, 1.9, 1.0]])
    assert np.isnan(WIDE.project(beyond)).all()
    assert np.isfinite(WIDE.project(np.array([[1.8, 0.0, 1.0]]))).all()


@pytest.mark.parametrize("lens,radius", [
    (EQUIDISTANT, lambda t: t),
    (EQUISOLID, lambda t: 2.0 * np.sin(t / 2.0)),
], ids=["equidistant", "equisolid"])
def test_ideal_fisheyes_project_like_their_closed_forms(lens, radius):
    lens.check()
    assert lens.max_angle == pytest.approx(math.pi)
    pts = directions(2000, math.radians(179), seed=7)
    np.testing.assert_allclose(lens.project(pts), angular_closed_form(lens, pts, radius), rtol=0, atol=1e-6)
    if lens is EQUIDISTANT:  # cv2.fisheye with every k zero is the equidistant model (z > 0 only)
        front = pts[pts[:, 2] > 0]
        ref, _ = cv2.fisheye.projectPoints(front.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), lens.K, np.zeros(4))
        np.testing.assert_allclose(lens.project(front), ref[:, 0], rtol=0, atol=1e-6)


# ------------------------------------------------------------------ unprojection


@pytest.mark.parametrize("lens", [WIDE, RATIONAL], ids=["wide", "rational"])
def test_radtan_unprojects_every_pixel_like_cv2_undistortPointsIter(lens):
    px = pixel_centres()
    rays = lens.unproject(px)
    assert rays.shape == (W * H, 3) and np.isfinite(rays).all()
    np.testing.assert_allclose(np.linalg.norm(rays, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(lens.project(rays), px, rtol=0, atol=1e-6)
    ref = cv2.undistortPointsIter(px.reshape(-1, 1, 2), lens.K, lens.distortion_coefficients(), None, None,
                                  CRITERIA)[:, 0]
    np.testing.assert_allclose(rays[:, :2] / rays[:, 2:], ref, rtol=0, atol=1e-6)
    # the inverse is exact, not a few fixed iterations: normalized round trip to ~1e-12
    x = rays[:, :2] / rays[:, 2:]
    back = (lens.project(rays) - [lens.cx, lens.cy]) / [lens.fx, lens.fy]
    fwd = (px - [lens.cx, lens.cy]) / [lens.fx, lens.fy]
    assert np.abs(back - fwd).max() < 1e-12
    assert np.hypot(*x.T).max() > 1.1 * np.hypot(*fwd.T).max()  # real distortion at the corners


def test_fisheye_unprojects_every_pixel_like_cv2_fisheye_undistortPoints():
    px = pixel_centres()
    rays = FISHEYE.unproject(px)
    assert np.isfinite(rays).all() and (rays[:, 2] > 0).all()
    np.testing.assert_allclose(np.linalg.norm(rays, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(FISHEYE.project(rays), px, rtol=0, atol=1e-6)
    ref = cv2.fisheye.undistortPoints(px.reshape(-1, 1, 2), FISHEYE.K, FISHEYE.distortion_coefficients(),
                                      criteria=CRITERIA)[:, 0]
    np.testing.assert_allclose(rays[:, :2] / rays[:, 2:], ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("lens,theta_of_r", [
    (EQUIDISTANT, lambda r: r),
    (EQUISOLID, lambda r: 2.0 * np.arcsin(r / 2.0)),
], ids=["equidistant", "equisolid"])
def test_ideal_fisheyes_unproject_every_pixel_like_their_closed_forms(lens, theta_of_r):
    px = pixel_centres()
    rays = lens.unproject(px)
    x = (px[:, 0] - lens.cx) / lens.fx
    y = (px[:, 1] - lens.cy) / lens.fy
    r = np.hypot(x, y)
    inside = r <= (2.0 if lens is EQUISOLID else np.pi)
    with np.errstate(invalid="ignore"):
        theta = theta_of_r(r)
    ref = np.stack([np.sin(theta) * x / r, np.sin(theta) * y / r, np.cos(theta)], axis=-1)
    assert np.isfinite(rays[inside]).all() and np.isnan(rays[~inside]).all()
    np.testing.assert_allclose(rays[inside], ref[inside], rtol=0, atol=1e-9)
    np.testing.assert_allclose(lens.project(rays[inside]), px[inside], rtol=0, atol=1e-6)
    if lens is EQUIDISTANT:
        assert (rays[:, 2] < 0).any()  # the corners see behind the camera
    else:
        assert 0 < (~inside).sum() < 600  # corners outside the image circle see nothing


def test_pixel_rays_are_the_unprojected_pixel_centres():
    for lens in (WIDE, FISHEYE, EQUISOLID):
        rays = lens.pixel_rays()
        assert rays.shape == (H, W, 3)
        np.testing.assert_array_equal(rays.reshape(-1, 3), lens.unproject(pixel_centres()))
    assert np.allclose(WIDE.pixel_rays()[7, 11], WIDE.unproject(np.array([[11.0, 7.0]]))[0])


def test_ray_distance_to_depth_keeps_labels_planar():
    rays = WIDE.pixel_rays()
    depth = np.full((H, W), 3.0)
    dist = depth_to_ray_distance(rays, depth)
    assert (dist >= 3.0).all() and dist[0, 0] > dist[24, 32]
    np.testing.assert_allclose(ray_distance_to_depth(rays, dist), depth, atol=1e-12)
    pts = rays * dist[..., None]  # the points themselves: their z is the planar depth
    np.testing.assert_allclose(pts[..., 2], depth, atol=1e-12)
    np.testing.assert_allclose(ray_distance_to_depth(rays * 7.0, dist), depth, atol=1e-12)  # any ray length
    behind = EQUIDISTANT.pixel_rays()
    assert (ray_distance_to_depth(behind, np.ones((H, W))) < 0).any()
    assert np.isnan(depth_to_ray_distance(behind, np.ones((H, W)))[behind[..., 2] <= 0]).all()


# ------------------------------------------------------------------ check()


def test_a_folding_radtan_lens_is_refused_naming_the_radius():
    lens = RadTan(fx=30.0, fy=30.0, cx=31.5, cy=23.5, width=W, height=H, k1=-0.5)
    # r (1 - 0.5 r^2) stops increasing at r = 1 / sqrt(1.5) = 0.8165 (distorted 0.5443 < corners' 1.34)
    with pytest.raises(SimgenError, match=r"folds over.*radius r = 0\.8165") as e:
        lens.check("lens.yaml")
    assert "\n" not in str(e.value) and str(e.value).startswith("lens.yaml: ")
    # the same coefficients on a narrower lens fold outside its image: accepted
    RadTan(fx=120.0, fy=120.0, cx=31.5, cy=23.5, width=W, height=H, k1=-0.5).check()


def test_a_folding_fisheye_is_refused_naming_the_angle_and_radius():
    lens = Fisheye(fx=20.0, fy=20.0, cx=31.5, cy=23.5, width=W, height=H, k1=-0.3)
    # theta (1 - 0.3 theta^2) stops increasing at theta = 1 / sqrt(0.9) = 1.054 rad
    with pytest.raises(SimgenError, match=r"folds over.*theta = 1\.054 rad.*distorted radius 0\.7027") as e:
        lens.check()
    assert "\n" not in str(e.value)


def test_a_tangential_fold_is_refused():
    lens = RadTan(fx=52.0, fy=50.0, cx=31.7, cy=23.4, width=W, height=H, p1=0.6)
    with pytest.raises(SimgenError, match=r"folds over.*tangential.*undistorted radius r = "):
        lens.check()


def test_rational_folds_and_poles():
    # r (1 - 3 r^2) / (1 - 2 r^2) stops increasing at r = 0.408 (before the pole at r = 0.707)
    lens = RadTan(fx=30.0, fy=30.0, cx=31.5, cy=23.5, width=W, height=H, k1=-3.0, k4=-2.0)
    with pytest.raises(SimgenError, match=r"folds over.*radius r = 0\.408"):
        lens.check()
    # r / (1 - 2 r^2) grows without bound up to its pole: one-to-one, every radius reached; no pixel past it
    pole = RadTan(fx=30.0, fy=30.0, cx=31.5, cy=23.5, width=W, height=H, k4=-2.0)
    pole.check()
    assert math.tan(pole.max_angle) == pytest.approx(math.sqrt(0.5), rel=1e-9)
    assert np.isnan(pole.project(np.array([[0.71, 0.0, 1.0]]))).all()
    np.testing.assert_allclose(pole.project(pole.unproject(pixel_centres())), pixel_centres(), atol=1e-6)


@pytest.mark.parametrize("fx", [0.0, -50.0, math.nan, math.inf])
def test_bad_focal_lengths_are_refused(fx):
    with pytest.raises(SimgenError, match=r"focal length fx=.* finite positive"):
        Pinhole(fx=fx, fy=50.0, cx=31.5, cy=23.5, width=W, height=H).check()
    with pytest.raises(SimgenError, match=r"focal length fy="):
        Fisheye(fx=50.0, fy=fx, cx=31.5, cy=23.5, width=W, height=H).check()


def test_non_finite_coefficients_and_sizes_are_refused():
    with pytest.raises(SimgenError, match=r"k2=nan is not a finite number"):
        RadTan(fx=50.0, fy=50.0, cx=31.5, cy=23.5, width=W, height=H, k2=math.nan).check()
    with pytest.raises(SimgenError, match=r"width=0 must be a positive whole number"):
        Pinhole(fx=50.0, fy=50.0, cx=31.5, cy=23.5, width=0, height=H).check()


# ------------------------------------------------------------------ names, dictionaries, OpenCV lists


def test_to_dict_round_trips():
    for lens in (WIDE, RATIONAL, FISHEYE, EQUIDISTANT, EQUISOLID):
        d = lens.to_dict()
        assert d["model"] == lens.model and d["width"] == W and d["height"] == H
        assert list(d["coefficients"]) == list(lens.COEFFICIENTS)
        assert lens_from_dict(d) == lens
        assert Lens.from_dict(d) == lens and type(lens).from_dict(d) == lens
    assert WIDE.to_dict()["coefficients"] == {"k1": -0.28, "k2": 0.07, "p1": 1e-4, "p2": -2e-4, "k3": -0.008,
                                              "k4": 0.0, "k5": 0.0, "k6": 0.0}


def test_parse_lens_takes_opencv_order():
    K = WIDE.K
    assert parse_lens("radtan", K, W, H, [-0.28, 0.07, 1e-4, -2e-4, -0.008]) == WIDE
    assert parse_lens("radtan", K, W, H, np.array([[-0.28], [0.07], [1e-4], [-2e-4], [-0.008]])) == WIDE
    assert parse_lens("radtan", K, W, H, [0.9, 0.15, 3e-4, -1e-4, -0.002, 1.2, 0.35, 0.01]) == RATIONAL
    four = parse_lens("radtan", K, W, H, [-0.28, 0.07, 1e-4, -2e-4])
    assert (four.k1, four.k2, four.p1, four.p2, four.k3) == (-0.28, 0.07, 1e-4, -2e-4, 0.0)
    assert parse_lens("radtan", K, W, H, [-0.28, 0.07, 1e-4, -2e-4, -0.008] + [0.0] * 9) == WIDE
    assert parse_lens("fisheye", FISHEYE.K, W, H, [0.02, -0.005, 0.001, -0.0002]) == FISHEYE
    assert parse_lens("equisolid", EQUISOLID.K, W, H) == EQUISOLID
    with pytest.raises(SimgenError, match=r"radtan takes 4, 5, 8, 12 or 14 .* found 6"):
        parse_lens("radtan", K, W, H, [0.0] * 6)
    with pytest.raises(SimgenError, match=r"tilt terms are not supported \(tauX=0.01"):
        parse_lens("radtan", K, W, H, [0.0] * 12 + [0.01, 0.0])
    with pytest.raises(SimgenError, match=r"fisheye takes 4 distortion coefficients \(k1, k2, k3, k4\), found 5"):
        parse_lens("fisheye", K, W, H, [0.0] * 5)
    with pytest.raises(SimgenError, match=r"skew K\[0\]\[1\]=0.5 is not supported"):
        parse_lens("pinhole", [[50, 0.5, 31.5], [0, 50, 23.5], [0, 0, 1]], W, H)
    with pytest.raises(SimgenError, match=r"K: expected a 3x3 matrix, found shape \(2, 3\)"):
        parse_lens("pinhole", [[50, 0, 31.5], [0, 50, 23.5]], W, H)


def test_unknown_model_names_are_refused_listing_the_known():
    known = "known: pinhole, radtan, fisheye, equidistant, equisolid"
    assert list(MODELS) == ["pinhole", "radtan", "fisheye", "equidistant", "equisolid"]
    with pytest.raises(SimgenError, match=f"unknown lens model 'kannala_brandt' \\({known}\\)"):
        lens_class("kannala_brandt")
    with pytest.raises(SimgenError, match=f"cam.yaml: unknown lens model 'fishey' \\({known}\\); did you mean "
                                          "'fisheye'"):
        lens_from_dict({"model": "fishey", "K": FISHEYE.K.tolist(), "width": W, "height": H}, "cam.yaml")
    with pytest.raises(SimgenError, match="unknown lens model 'plumb_bob'"):
        parse_lens("plumb_bob", WIDE.K, W, H, [0.0] * 5)
    with pytest.raises(SimgenError, match=r"radtan lens: unknown coefficient 'r1' \(known: k1, k2, p1, p2, k3"):
        lens_from_dict({"model": "radtan", "K": WIDE.K.tolist(), "width": W, "height": H,
                        "coefficients": {"r1": 0.1}})
    with pytest.raises(SimgenError, match="lens: missing field 'K'"):
        lens_from_dict({"model": "pinhole", "width": W, "height": H})
    with pytest.raises(SimgenError, match=r"coefficient k1: nan is not a finite number"):
        lens_from_dict({"model": "fisheye", "K": FISHEYE.K.tolist(), "width": W, "height": H,
                        "coefficients": {"k1": float("nan")}})
