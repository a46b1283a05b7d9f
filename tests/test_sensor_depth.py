"""Depth cameras (issue 78): the time-of-flight model (simgen.sensors.tof, sensor.depth=azure_kinect_nfov)
fitted back on analytic planes, its invalid pixels where the model puts them, and its files and meta
through the frame loop. Pure tests but the last two (a fake renderer; one tiny Cycles render)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from scipy.stats import norm

from simgen.optics.camera import pixel_rays
from simgen.sensors import tof

W, H = 400, 300
FX = tof.DEVICE_FX  # one run pixel = one device pixel
K = np.array([[FX, 0, W / 2 - 0.5], [0, FX, H / 2 - 0.5], [0, 0, 1]])
QUIET = tof.ToFModel(lateral=(0.0, 0.0), systematic=0.0, edge_width=0.0, min_return=0.0, range=(0.01, 100.0))
"""Axial noise and millimetres only."""


def plane(z0: float, tilt_deg: float, k: np.ndarray = K, w: int = W, h: int = H) -> tuple[np.ndarray, np.ndarray]:
    """Planar depth and camera-frame normals (facing the camera) of the plane through (0, 0, z0) whose
    normal is the optical axis turned by ``tilt_deg`` about the camera's y axis."""
    a = math.radians(tilt_deg)
    n = np.array([math.sin(a), 0.0, -math.cos(a)])  # faces the camera (towards -z)
    rays = pixel_rays(k, w, h)  # z = 1
    t = (n @ np.array([0.0, 0.0, z0])) / (rays @ n)  # the ray's point X = t * ray lies on n.X = n.(0,0,z0)
    depth = np.where(t > 0, t, np.inf)
    return depth, np.broadcast_to(n, (h, w, 3)).copy()


def theta_of(normal: np.ndarray, k: np.ndarray = K) -> np.ndarray:
    h, w = normal.shape[:2]
    r = pixel_rays(k, w, h)
    r = r / np.linalg.norm(r, axis=-1, keepdims=True)
    return np.arccos(np.clip(np.abs((r * normal).sum(-1)), 0, 1))


@pytest.mark.parametrize("z0", [0.7, 1.5, 2.5, 3.5])
@pytest.mark.parametrize("tilt", [0.0, 30.0, 60.0, 75.0])
def test_axial_spread_fits_the_formula_per_distance_and_angle(z0, tilt):
    """On a plane at each distance and tilt, (sensor - exact) has the formula's spread: its square over
    sigma_z(z, theta)^2 + 1/12 mm^2 (whole millimetres, Sheppard) at each pixel averages 1 within 5 sampling
    standard errors (sqrt(2 / n)), and its mean over sigma_z averages 0 within 5 standard errors; at 75
    degrees the plane reaches grazing incidence inside the image, where sigma_z grows without bound."""
    depth, normal = plane(z0, tilt)
    sigma = tof.axial_std(depth, theta_of(normal))
    ok = np.isfinite(depth) & (depth < 20) & (sigma < 0.05 * depth)  # the noise never reaches 0 m here
    out, invalid = tof.simulate(depth, normal, np.ones((H, W)), K, np.random.default_rng(1), QUIET)
    assert np.all(out[ok] > 0) and ok.sum() > 0.5 * H * W
    r = (out.astype(np.float64) - depth)[ok]
    var = sigma[ok] ** 2 + 1e-6 / 12
    n = r.size
    assert abs(np.mean(r * r / var) - 1) < 5 * math.sqrt(2 / n), np.mean(r * r / var)
    assert abs(np.mean(r / np.sqrt(var))) < 5 / math.sqrt(n)
    assert sigma[ok].max() > (0.01 if tilt >= 60 else 0.0012)  # the angle term is exercised


def test_the_formula_is_fitted_back_from_the_spread():
    """Least squares of the measured std against the formula's terms gives back a0..a3 (head-on planes
    pin a0, a1, a2; tilted ones a3) within 5 % or 0.03 mm (1.497, -0.4997, 0.299, 0.106 with these seeds)."""
    rows, target = [], []
    th_all = {}
    for z0 in (0.6, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5):
        for tilt in (0.0, 35.0, 55.0):
            depth, normal = plane(z0, tilt)
            th = th_all.setdefault(tilt, theta_of(normal))
            out, _ = tof.simulate(depth, normal, np.ones(depth.shape), K,
                                  np.random.default_rng(int(z0 * 100 + tilt)), QUIET)
            ok = (out > 0) & (th < math.radians(75)) & (depth < 6)
            r = (out - depth)[ok]
            zc, tc = depth[ok], th[ok]
            for q in np.array_split(np.argsort(zc), 6):  # bins of like depth (and so like incidence)
                t = tc[q] / (np.pi / 2 - tc[q])
                z = zc[q]
                sd = math.sqrt(max(np.mean(r[q] ** 2) - 1e-6 / 12, 0)) * 1e3  # mm, less the millimetres'
                rows.append([1.0, z.mean(), (z * z).mean(), (z ** 1.5 * t * t).mean()])
                target.append(sd)
    rows, target = np.array(rows), np.array(target)
    coef, *_ = np.linalg.lstsq(rows / target[:, None], np.ones(len(target)), rcond=None)  # relative errors
    truth = np.array(tof.ToFModel().axial)
    assert np.allclose(coef, truth, rtol=0.05, atol=0.03), (coef, truth)


def step(z1: float, z2: float, col: int, w: int = W, h: int = H) -> tuple[np.ndarray, np.ndarray]:
    """Two head-on planes: depth z1 left of column ``col``, z2 from it on."""
    depth = np.full((h, w), z1)
    depth[:, col:] = z2
    normal = np.zeros((h, w, 3))
    normal[..., 2] = -1
    return depth, normal


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_lateral_shift_fits_its_std_at_any_resolution(scale):
    """Lateral noise alone on a step: a pixel k columns left of it reads the far plane when its rounded
    Gaussian shift reaches the step, P = 1 - Phi((k - 0.5) / sigma_L) with sigma_L = 0.8 device pixels
    times the run's pixels per device pixel (fx / 417); measured within 5 binomial standard errors."""
    k = K.copy()
    k[0, 0] = k[1, 1] = FX * scale
    depth, normal = step(1.0, 2.0, W // 2)
    model = dataclasses.replace(QUIET, axial=(0.0, 0.0, 0.0, 0.0), lateral=(0.8, 0.035))
    out, _ = tof.simulate(depth, normal, np.ones((H, W)), k, np.random.default_rng(3), model)
    sigma = 0.8 * scale
    for dist in (1, 2, 3):
        far = np.isclose(out[:, W // 2 - dist], 2.0).mean()
        p = 1 - norm.cdf((dist - 0.5) / sigma)
        assert abs(far - p) < 5 * math.sqrt(p * (1 - p) / H) + 1e-9, (dist, far, p)


def test_invalid_where_the_return_is_weak_out_of_range_and_at_edges():
    """Dark and far surfaces (rho cos(theta) / z^2 below the data sheet's 15 % at 3.86 m), grazing ones,
    depths outside 0.5-3.86 m, and the pixel on each side of a depth step are 0 exactly where the model
    says; every other pixel is valid."""
    model = dataclasses.replace(tof.ToFModel(), lateral=(0.0, 0.0))
    depth, normal = plane(2.0, 60.0)  # from ~1.1 m to ~12 m across the image, theta 30-85 degrees
    depth[:, :40] = 0.45  # too near: a head-on strip, with a step to the plane
    normal[:, :40] = [0, 0, -1]
    # the plane's own neighbours differ by less than 5 %: its only edge is the step
    assert np.all(np.abs(np.diff(depth[:, 40:], axis=1)) < 0.05 * depth[:, 40:-1])
    rho = np.where(np.arange(H)[:, None] < H // 2, 0.9, 0.08) * np.ones((H, W))
    out, invalid = tof.simulate(depth, normal, rho, K, np.random.default_rng(5), model)
    weak = rho * np.cos(theta_of(normal)) / depth ** 2 < model.min_return
    far = (depth > 3.86) | (depth < 0.5)
    edge = np.zeros((H, W), bool)
    edge[:, 39:41] = True  # one device pixel (= one run pixel here) on each side of the step
    assert np.array_equal(out == 0, weak | far | edge)
    assert invalid["range"] == int(far.sum())
    assert invalid["low_return"] == int((weak & ~far).sum())
    assert invalid["edge"] == int((edge & ~weak & ~far).sum())
    assert invalid["low_return"] > 1000 and invalid["range"] > 1000 and invalid["edge"] > 100
    assert (out > 0).sum() > 10000


@pytest.mark.parametrize("width,per_side", [(1.0, 2), (2.0, 3), (0.2, 1), (0.0, 0)])
def test_edge_band_scales_with_the_run_pixels(width, per_side):
    """The mixed pixels removed on each side of a step: those within edge_width device pixels of it, in run
    pixels at 1.5 times the device's focal length 1.5 times as wide (the band's angle is the device's);
    at least the pixel next to the step; none with edge_width 0."""
    k = K.copy()
    k[0, 0] = k[1, 1] = FX * 1.5
    model = dataclasses.replace(QUIET, edge_width=width, axial=(0.0, 0.0, 0.0, 0.0))
    depth, normal = step(1.0, 1.5, 100)
    out, _ = tof.simulate(depth, normal, np.ones((H, W)), k, np.random.default_rng(0), model)
    bad = np.flatnonzero((out == 0).any(axis=0))
    assert list(bad) == list(range(100 - per_side, 100 + per_side)), bad


def test_systematic_error_is_the_sequence_draw_within_the_data_sheet_bound():
    draws = [tof.systematic_draws(np.random.default_rng(i), tof.ToFModel()) for i in range(200)]
    assert all(abs(d["offset_m"]) <= 0.011 and abs(d["scale"]) <= 0.001 for d in draws)
    assert max(abs(d["offset_m"]) for d in draws) > 0.009  # the whole bound is drawn, not a corner of it
    d = draws[0]
    depth, normal = step(1.0, 3.0, 200)
    model = dataclasses.replace(QUIET, axial=(0.0, 0.0, 0.0, 0.0))
    out, _ = tof.simulate(depth, normal, np.ones((H, W)), K, np.random.default_rng(0), model, d)
    for z in (1.0, 3.0):
        got = out[np.isclose(depth, z)]
        assert np.allclose(got, np.round((z + d["offset_m"] + d["scale"] * z) * 1000) / 1000, atol=1e-6)


def test_reflectance_of_materials():
    from simgen.scene.data import Material

    white = Material(base_color=(1.0, 1.0, 1.0), roughness=0.5, metallic=0.0)
    assert tof.reflectance_of(white, 0.5) == pytest.approx(1.0)
    assert tof.reflectance_of(dataclasses.replace(white, base_color=(0.02, 0.02, 0.02)), 0.5) == pytest.approx(0.02)
    assert tof.reflectance_of(dataclasses.replace(white, metallic=1.0), 0.5) == 0.0
    assert tof.reflectance_of(dataclasses.replace(white, transmission=0.75), 0.5) == pytest.approx(0.25)


def test_the_frame_loop_writes_the_sensor_depth_beside_the_exact_one(tmp_path, monkeypatch):
    """sensor.depth=azure_kinect_nfov (a fake renderer, no Blender): every frame gets sensor_depth/NNNNNN.npy
    (float32 metres, 0 = invalid) on the exact depth's grid, valid pixels within 6 sigma_z + the drawn
    systematic error of the exact depth, 0 where nothing is hit and at the squares' edges; the meta's
    sensor.depth holds the sequence's draw and the invalid pixels by cause; the reader and validate know
    the folder; the same run again writes the same bytes."""
    import sys
    import types

    from conftest import set_settings, tiny_settings
    from fake_renderer import FakeRenderer
    from simgen.io.dataset.layout import read_frame
    from simgen.pipeline import run
    from simgen.report.validate import validate

    class NoBlender(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            raise AssertionError(f"reached {self.__name__}.{name}")

    for name in ("bpy", "simgen.blender"):
        monkeypatch.setitem(sys.modules, name, NoBlender(name))
    outs = []
    for attempt in ("a", "b"):
        s = set_settings(tiny_settings(tmp_path / attempt, frames=2, width=64, height=48, samples=1),
                         sensor__depth="azure_kinect_nfov", sequence__length=2)
        run(s, make_renderer=FakeRenderer)
        outs.append(tmp_path / attempt)
    for i in range(2):
        f = read_frame(outs[0], i)
        d, exact, meta = f["sensor_depth"], f["depth"], f["meta"]
        assert d.dtype == np.float32 and d.shape == exact.shape == (48, 64)
        rec = meta["sensor"]["depth"]
        assert rec["device"] == "azure_kinect_nfov" and set(rec["invalid"]) == {"no_surface", "range", "low_return",
                                                                                   "edge"}
        assert rec["invalid"]["no_surface"] > 0.5 * np.isinf(exact).sum()  # (a lateral shift may see past an edge)
        valid = d > 0
        assert valid.sum() > 0 and not valid[np.isinf(exact)].any()
        sysm = rec["systematic"]
        err = (d - exact)[valid] - (sysm["offset_m"] + sysm["scale"] * exact[valid])
        assert np.all(np.abs(err) < 6 * tof.axial_std(exact[valid], 0.0) + 0.0006)
        assert int((~valid).sum()) == sum(rec["invalid"].values())
        assert rec["invalid"]["edge"] > 0  # the squares' borders
        assert np.array_equal(np.load(outs[1] / "sensor_depth" / f"{i:06d}.npy"), d)
    metas = [json.loads((outs[0] / "meta" / f"{i:06d}.json").read_text())["sensor"]["depth"] for i in range(2)]
    assert metas[0]["systematic"] == metas[1]["systematic"]  # one device films the sequence
    report = validate(outs[0])
    assert report.ok, report.text(outs[0], False)
    (outs[0] / "sensor_depth" / "000001.npy").unlink()
    assert not validate(outs[0]).ok  # validate knows the folder


@pytest.mark.parametrize("args,expected", [
    (["sensor.depth=kinect"], "sensor.depth='kinect': unknown value; use one of azure_kinect_nfov"),
    (["sensor.depth=azure_kinect_nfov", "sensor.depth_range=[3.0,1.0]"], "sensor.depth_range=[3.0, 1.0]"),
    (["sensor.depth=azure_kinect_nfov", "sensor.depth_systematic=2"], "sensor.depth_systematic=2"),
    (["sensor.depth=azure_kinect_nfov", "sensor.depth_axial=[1.5,0.3]"], "sensor.depth_axial=[1.5, 0.3]: give the four coefficients"),
    (["output.labels=[sensor_depth]"], "output.labels=['sensor_depth'] are a depth camera's: set sensor.depth"),
    (["sensor.depth=azure_kinect_nfov", "output.labels=[ir_left]"], "output.labels=['ir_left'] are a depth camera's"),
    (["sensor.depth=realsense_d435", "sensor.depth_sgbm_block=4"], "sensor.depth_sgbm_block=4: StereoSGBM's block is odd"),
    (["sensor.depth=realsense_d435", "sensor.rolling_shutter_ms=10", "sequence.length=2"],
     "sensor.depth=realsense_d435 renders its infrared pair with a global shutter"),
    (["sensor.depth=realsense_d435", "camera.calibration=/nonexistent.yaml"], "sensor.depth=realsense_d435 renders a rectified pinhole pair"),
])
def test_bad_sensor_depth_settings_end_in_one_line(args, expected, tmp_path, monkeypatch, capfd):
    """Each bad setting ends in one line naming the key and the fix, before Blender is reached."""
    from test_bad_inputs import TINY, _check, run_in_process

    out_dir = tmp_path / "out"
    (tmp_path / "cwd").mkdir()
    code, out, err, touched = run_in_process([*TINY, *args, f"output.dir={out_dir}"], tmp_path / "cwd",
                                             monkeypatch, capfd)
    assert not touched
    _check(code, out, err, expected, out_dir, tmp_path / "cwd", [])


@pytest.mark.slow
def test_a_rendered_frame_s_sensor_depth_follows_its_exact_depth_and_normals(tmp_path):
    """One Cycles frame of the tabletop (96x72, lateral noise off): each valid sensor pixel is within
    6 sigma_z(z, theta) (theta from the frame's own normals) plus the drawn systematic error of the exact depth
    there; nothing-hit pixels and the pixel on each side of every object's outline are 0."""
    from conftest import set_settings, tiny_settings
    from simgen.io.dataset.layout import read_frame
    from simgen.pipeline import run

    s = set_settings(tiny_settings(tmp_path, frames=1, width=96, height=72, samples=1),
                     sensor__depth="azure_kinect_nfov", sensor__depth_lateral=[0.0, 0.0])
    run(s)
    f = read_frame(tmp_path, 0)
    d, exact, normal, meta = f["sensor_depth"], f["depth"], f["normal"], f["meta"]
    K = np.array(meta["K"])
    sysm = meta["sensor"]["depth"]["systematic"]
    valid = d > 0
    assert valid.mean() > 0.3
    th = tof.incidence(normal, pixel_rays(K, 96, 72))
    sigma = tof.axial_std(exact, th)
    err = d - exact - (sysm["offset_m"] + sysm["scale"] * exact)
    assert np.all(np.abs(err[valid]) <= 6 * sigma[valid] + 0.0006)
    assert not valid[np.isinf(exact)].any()
    outline = tof.discontinuities(exact, 0.05)
    assert outline.sum() > 20 and not valid[outline].any()


# ---- active stereo (sensor.depth=realsense_d435) ---------------------------------------------------------------

def test_sgbm_matches_a_shifted_dot_pattern_at_each_disparity():
    """A random dot image and its copy shifted by d pixels (what the right camera sees of a plane at
    fx * baseline / d): StereoSGBM with simgen's parameters finds d (median within 1/16 px) on at least 95 % of
    the pixels it can search (right of its disparity range), and depth is fx * baseline / d."""
    from simgen.sensors import active_stereo as a

    rng = np.random.default_rng(0)
    h, w = 120, 160
    dev = a.DEVICES["realsense_d435"]
    fx = a.device_focal(dev, w)
    params = a.sgbm_params(fx, dev.baseline, 0.2, 5)
    assert params["numDisparities"] == 32 and params["P1"] == 200 and params["P2"] == 800
    base = (rng.random((h, w + 64)) < 0.2).astype(float)
    for d in (2, 5, 11, 20):
        left, right = base[:, 32:32 + w], base[:, 32 + d:32 + d + w]  # right(u - d) = left(u)
        L = a.ir_image(left, 200, 2.0, rng)
        R = a.ir_image(right, 200, 2.0, rng)
        z, disp = a.match(L, R, fx, dev.baseline, params)
        inner = np.zeros((h, w), bool)
        inner[3:-3, params["numDisparities"] + 3:-3] = True
        found = inner & (disp > 0)
        assert found.sum() >= 0.95 * inner.sum(), (d, found.sum() / inner.sum())
        assert abs(np.median(disp[found]) - d) <= 1 / 16, (d, np.median(disp[found]))
        assert np.allclose(z[found], fx * dev.baseline / disp[found])
    assert np.all(z[disp == 0] == 0)


def test_the_d435_figures_and_its_field_of_view():
    from simgen.sensors import active_stereo as a

    dev = a.DEVICES["realsense_d435"]
    assert (dev.baseline, dev.hfov_deg, dev.vfov_deg, dev.size) == (0.050, 87.0, 58.0, (1280, 720))
    fx = a.device_focal(dev, 160)
    assert math.degrees(2 * math.atan(80 / fx)) == pytest.approx(87.0)
    assert 18 / math.tan(math.radians(43.5)) == pytest.approx(18.97, abs=0.005)  # the docs' camera.focal_length


def ir_backend(width: int, height: int):
    """A Blender backend whose scene holds grey quads added by the returned ``quad(z, x0, x1, y0, y1)`` (world =
    the left camera's OpenCV axes), and the D435's left and right cameras at this size."""
    import bpy

    from simgen.blender import BlenderBackend
    from simgen.blender.materials import add_normal_aov
    from simgen.config import RenderConfig
    from simgen.pipeline.active_stereo import ir_cameras
    from simgen.scene.data import Camera
    from simgen.sensors import active_stereo as a

    b = BlenderBackend(RenderConfig(width=width, height=height, samples=4, device="cpu", denoise=False))

    def quad(z, x0, x1, y0, y1, index=1):
        data = bpy.data.meshes.new(f"q{index}")
        data.from_pydata([(x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z)], [], [(0, 1, 2, 3)])
        m = bpy.data.materials.new(f"q{index}")
        m.node_tree.nodes.get("Principled BSDF").inputs["Base Color"].default_value = (0.5, 0.5, 0.5, 1.0)
        add_normal_aov(m.node_tree)
        data.materials.append(m)
        ob = bpy.data.objects.new(f"q{index}", data)
        ob.pass_index = index
        b.scene.collection.objects.link(ob)
        return ob

    dev = a.DEVICES["realsense_d435"]
    fx = a.device_focal(dev, width)
    K = np.array([[fx, 0, width / 2 - 0.5], [0, fx, height / 2 - 0.5], [0, 0, 1]])
    cam = Camera(width=width, height=height, K=K, world_to_camera=np.eye(4), clip_start=0.01, clip_end=100)
    left, right = ir_cameras(types_scene(cam), dev)
    return b, quad, left, right, dev, fx


def types_scene(cam):
    import types

    return types.SimpleNamespace(camera=cam)


def match_pair(b, left, right, dev, fx, seed=1):
    from simgen.pipeline.active_stereo import projector_pose
    from simgen.sensors import active_stereo as a

    ir = b.render_ir(left, right, projector_pose(left.camera_to_world, dev.baseline), 3.0 / fx, seed=seed).load()
    gain = a.exposure_gain(ir[0])
    rng = np.random.default_rng(seed)
    L, R = (a.ir_image(ir[v], gain, 2.0, rng) for v in (0, 1))
    params = a.sgbm_params(fx, dev.baseline, 0.2, 5)
    z, disp = a.match(L, R, fx, dev.baseline, params)
    return z, disp, params, ir


@pytest.mark.slow
def test_active_stereo_on_a_plane_per_distance():
    """A grey plane facing the D435 at 0.5, 1, 2 and 3 m (160x120, 87 degrees): the projector's dots rendered
    by Cycles in both infrared views, matched by StereoSGBM: on the pixels SGBM searches, holes stay under 2 %
    and the median disparity is the exact fx * baseline / Z within 0.2 px (per distance: the figures in the
    message)."""
    import bpy

    b, quad, left, right, dev, fx = ir_backend(160, 120)
    try:
        figures = []
        for Z in (0.5, 1.0, 2.0, 3.0):
            ob = quad(Z, -10, 10, -10, 10)
            z, disp, params, ir = match_pair(b, left, right, dev, fx)
            bpy.data.objects.remove(ob)
            assert ir.shape == (2, 120, 160) and ir[0].max() > 0 and ir[1].max() > 0
            inner = np.zeros(z.shape, bool)
            inner[:, params["numDisparities"]:] = True
            ok = inner & (z > 0)
            holes = 1 - ok.sum() / inner.sum()
            err = float(np.median(z[ok]) - Z)
            figures.append((Z, round(holes, 4), round(err, 4), round(float(np.median(disp[ok]) - fx * dev.baseline / Z), 3)))
        assert all(h < 0.02 and abs(dd) < 0.2 for _, h, _, dd in figures), figures
    finally:
        b.close()


@pytest.mark.slow
def test_holes_where_the_right_camera_does_not_see_the_pattern():
    """A plate at 0.6 m before a plane at 1.5 m (320x240): the plane's pixels whose point the right camera
    cannot see (the plate is in the way: an analytic band, 8 px wide, left of the plate's left edge) are holes
    (over 60 %, and over 80 % of the band's core 3 px from its edges; the rest take a neighbour's depth:
    SGBM's edge fattening and its paths' smoothing), while the plane's pixels both cameras see and the
    projector lights, 4 px from any edge, are matched (over 95 %), and so is the plate, at its depth."""
    b, quad, left, right, dev, fx = ir_backend(320, 240)
    try:
        zb, zf, x0, x1, y0, y1 = 1.5, 0.6, -0.1, 0.1, -0.15, 0.15
        quad(zb, -10, 10, -10, 10, 1)
        quad(zf, x0, x1, y0, y1, 2)
        z, disp, params, _ = match_pair(b, left, right, dev, fx)
    finally:
        b.close()
    h, w = z.shape
    u, v = np.meshgrid(np.arange(w, dtype=float), np.arange(h, dtype=float))
    X, Y = (u - left.K[0, 2]) / fx * zb, (v - left.K[1, 2]) / fx * zb  # the plane's point at each left pixel
    on_plate = ((u - left.K[0, 2]) / fx * zf >= x0) & ((u - left.K[0, 2]) / fx * zf <= x1) & \
        ((v - left.K[1, 2]) / fx * zf >= y0) & ((v - left.K[1, 2]) / fx * zf <= y1)

    def hidden_from(cx: float) -> np.ndarray:
        """The plane's points whose segment to a centre at (cx, 0, 0) crosses the plate."""
        xs, ys = cx + (X - cx) * zf / zb, Y * zf / zb
        return (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1) & ~on_plate

    occluded = hidden_from(dev.baseline)
    shadow = hidden_from(dev.baseline / 2)
    searched = u >= params["numDisparities"]
    assert occluded.sum() > 200
    import cv2

    band = z[occluded & searched]
    # SGBM's blocks (5 px) fatten the edges either side of the band, and its paths carry the plane's
    # disparity into it here and there: 70 % of the band, 87 % of its core 3 px from its edges, are holes
    core = cv2.erode(occluded.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert (band == 0).mean() > 0.6 and core.sum() > 50 and (z[core & searched] == 0).mean() > 0.8, \
        ((band == 0).mean(), (z[core & searched] == 0).mean())
    near = cv2.dilate((occluded | shadow | on_plate).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    clear = searched & ~near
    clear[:4], clear[-4:], clear[:, -4:] = False, False, False
    assert (z[clear] > 0).mean() > 0.95
    plate = cv2.erode(on_plate.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert (z[plate] > 0).mean() > 0.95 and abs(np.median(z[plate & (z > 0)]) - zf) < 0.02


def test_active_stereo_needs_blender_s_renderer(tmp_path, monkeypatch):
    """With a renderer that renders no infrared pair (the fake one), one line says so."""
    from conftest import set_settings, tiny_settings
    from fake_renderer import FakeRenderer
    from simgen.errors import SimgenError
    from simgen.pipeline import run

    s = set_settings(tiny_settings(tmp_path / "out", frames=1, width=64, height=48, samples=1),
                     sensor__depth="realsense_d435")
    with pytest.raises(SimgenError, match=r"sensor.depth=realsense_d435 renders an infrared pair, which needs "
                                          r"simgen's Blender renderer"):
        run(s, make_renderer=FakeRenderer)


W_RUN, H_RUN = 128, 96


@pytest.mark.slow
def test_a_d435_run_writes_the_infrared_pair_and_its_depth(tmp_path):
    """A tiny tabletop run with sensor.depth=realsense_d435 at the D435's 87 degrees (and a stereo rig besides:
    its right view renders as before): every frame has ir_left/ and ir_right/ (8-bit, the projector's dots lit)
    and sensor_depth/ on the exact depth's grid, which is what OpenCV's StereoSGBM finds on the written pair
    run by hand with the meta's parameters; its matched pixels are within 10 % of the exact depth at the median
    (6 % here: at 128 px across the far, slanted table is 2 px of disparity); the meta's record counts the
    holes; simgen validate passes. (The tabletop's objects hide bands of 1-2 px from the right camera at these
    sizes, which SGBM's 5 px block fills: the holes of occlusion are proved on a plate, above.)"""
    import cv2

    from conftest import set_settings, tiny_settings
    from simgen.io.dataset.layout import read_frame
    from simgen.pipeline import run
    from simgen.report.validate import validate

    s = set_settings(tiny_settings(tmp_path, frames=2, width=W_RUN, height=H_RUN, samples=2),
                     sensor__depth="realsense_d435", camera__rig="stereo", camera__baseline=[0.05, 0.05])
    s.camera.focal_length = [18.97, 18.97]
    run(s)
    for i in range(2):
        f = read_frame(tmp_path, i)
        left, right, d, exact = f["ir_left"], f["ir_right"], f["sensor_depth"], f["depth"]
        assert left.dtype == right.dtype == np.uint8 and left.shape == right.shape == (H_RUN, W_RUN)
        assert (left > 50).sum() > 100 and (right > 50).sum() > 100  # the dots
        rec = f["meta"]["sensor"]["depth"]
        assert rec["device"] == "realsense_d435" and rec["baseline"] == 0.05 and abs(rec["hfov_deg"] - 87.0) < 0.1
        assert rec["sgbm"]["numDisparities"] == 16 * math.ceil(rec["fx"] * 0.05 / 0.2 / 16)
        assert rec["sgbm"]["blockSize"] == 5
        params = {**rec["sgbm"], "mode": cv2.STEREO_SGBM_MODE_SGBM}
        by_hand = cv2.StereoSGBM_create(**params).compute(left, right).astype(np.float32) / 16
        fx = rec["fx"]
        expected = np.where(by_hand > 0, fx * 0.05 / np.where(by_hand > 0, by_hand, 1), 0).astype(np.float32)
        assert np.array_equal(d, expected)
        hit = np.isfinite(exact)
        assert rec["holes"] == int((hit & (d == 0)).sum()) and rec["surface_pixels"] == int(hit.sum())
        ok = (d > 0) & hit
        assert ok.sum() > 0.5 * hit.sum()
        rel = np.abs(d[ok] - exact[ok]) / exact[ok]
        assert np.median(rel) < 0.1 and np.mean(rel < 0.1) > 0.6, (np.median(rel), np.mean(rel < 0.1))
    report = validate(tmp_path)
    assert report.ok, report.text(tmp_path, False)
