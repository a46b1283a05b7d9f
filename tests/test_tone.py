"""Exposure metering and tone mapping (simgen.tone), and Blender's AgX as simgen computes it."""

from __future__ import annotations

import numpy as np
import pytest

from simgen.tone import HIGHLIGHT, KEY_TARGET, LUMA, WHITE, apply_lut, luminance, lut_inputs, meter, tone_map


def scene_like(seed: int = 0, h: int = 60, w: int = 80) -> np.ndarray:
    """A linear frame: log-normal luminance around 0.05 with a few coloured patches."""
    rng = np.random.default_rng(seed)
    y = np.exp(rng.normal(np.log(0.05), 1.0, (h, w, 1)))
    return (y * rng.uniform(0.3, 1.0, (h, w, 3))).astype(np.float32)


def srgb8(linear: np.ndarray) -> np.ndarray:
    """Blender's Standard view transform, written out independently of simgen.tone."""
    c = np.clip(linear.astype(np.float64), 0, 1)
    s = np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)
    return np.rint(s * 255).astype(np.uint8)


def test_standard_without_metering_is_the_old_conversion():
    lin = scene_like() * 8.0
    rgb, info = tone_map(lin, tone="standard", auto_exposure=False, exposure=0.5)
    assert np.abs(rgb.astype(int) - srgb8(lin * 2**0.5)).max() <= 1
    assert info == {"tone": "standard", "metered_stops": 0.0, "exposure_stops": 0.5, "total_stops": 0.5}


def test_metering_cancels_the_light_level_and_keeps_the_compensation():
    lin = scene_like()
    base = meter(lin, "standard")
    for k in (-5.0, -1.0, 3.0):  # the same scene under 2**k times the light
        assert meter(lin * np.float32(2**k), "standard") == pytest.approx(base - k, abs=1e-3)
    rgb0, _ = tone_map(lin, tone="standard")
    rgb1, info = tone_map(lin * 16, tone="standard", exposure=1.0)
    assert info["metered_stops"] == pytest.approx(base - 4, abs=1e-3) and info["exposure_stops"] == 1.0
    assert info["total_stops"] == pytest.approx(info["metered_stops"] + 1.0)
    assert abs(np.median(rgb1.astype(float)) - np.median(srgb8(lin * 2 ** (base + 1)).astype(float))) <= 1
    assert np.median(rgb1) > np.median(rgb0)  # +1 stop of compensation shows


def test_metering_exposes_the_key_to_mid_grey():
    lin = scene_like(1)
    stops = meter(lin, "agx")
    y = lin @ LUMA * 2**stops
    assert np.exp(np.mean(np.log(y + 1e-4 * 2**stops))) == pytest.approx(KEY_TARGET, rel=1e-3)


@pytest.mark.parametrize("tone", ["standard", "agx"])
def test_a_bright_window_clips_at_most_one_percent(tone):
    lin = scene_like(2)
    lin[:12, :20] = 50.0  # 5 % of the frame: a sunlit patch 10 stops over the rest
    stops = meter(lin, tone)
    above = np.mean((lin @ LUMA) * 2**stops >= WHITE[tone])
    assert np.percentile(lin @ LUMA, 99) * 2**stops <= HIGHLIGHT[tone] * 1.0001
    assert above <= 0.01
    if tone == "standard":
        rgb, _ = tone_map(lin, tone="standard")
        assert np.mean(np.all(rgb == 255, axis=-1)) <= 0.01
        # unmetered, the old conversion clipped the whole patch
        assert np.mean(np.all(tone_map(lin, tone="standard", auto_exposure=False)[0] == 255, axis=-1)) >= 0.05


def test_a_dark_frame_is_brightened_within_the_limit():
    lin = scene_like(3) * np.float32(2**-6)
    rgb, info = tone_map(lin, tone="standard")
    assert info["metered_stops"] > 5 and np.median(rgb) > 60
    assert meter(np.zeros((8, 8, 3), np.float32)) <= 8.0  # black: the most it may add, no error


def test_luminance_is_the_weighted_sum_of_the_channels():
    lin = scene_like(4) * 30
    assert np.allclose(luminance(lin), lin.astype(np.float64) @ LUMA.astype(np.float64), rtol=1e-6, atol=0)
    assert luminance(lin).dtype == np.float32 and luminance(lin).shape == lin.shape[:2]


def test_trilinear_lut_is_exact_on_a_function_it_can_represent():
    """A LUT holding an affine function of log2(x) reproduces it between lattice points."""
    x = lut_inputs(8)
    logs = np.log2(x)
    lut = (logs @ np.array([[0.1, 0.0, 0.02], [0.0, 0.05, 0.0], [0.03, 0.0, 0.07]]) + 1.0).reshape(8, 8, 8, 3)
    rng = np.random.default_rng(0)
    q = np.exp2(rng.uniform(np.log2(x.min()), np.log2(x.max()), (500, 3))).astype(np.float32)
    want = np.log2(q) @ np.array([[0.1, 0.0, 0.02], [0.0, 0.05, 0.0], [0.03, 0.0, 0.07]]) + 1.0
    assert np.abs(apply_lut(q, lut) - want).max() < 1e-4


def test_agx_needs_its_table():
    with pytest.raises(ValueError, match="lookup table"):
        tone_map(scene_like(), tone="agx")


@pytest.mark.render
def test_agx_lut_matches_blenders_own_agx(tmp_path):
    """Random colours (not the lattice) through Blender's AgX view transform, against simgen's
    table: within 1/255 at the 99th percentile and 4/255 everywhere (the worst: saturated dark
    colours, where AgX's channel mixing bends fastest), and AgX rolls highlights off where Standard clips."""
    import bpy
    import cv2

    from simgen.blender.session import view_transform_lut

    lut = view_transform_lut("agx", tmp_path)
    rng = np.random.default_rng(5)
    n = 64 * 32
    lin = np.exp2(rng.uniform(-11, 5, (n, 1)) + rng.normal(0, 1.0, (n, 3))).astype(np.float32) * 0.18
    scene = bpy.data.scenes.new("agx_check")
    img = bpy.data.images.new("agx_check", 64, 32, alpha=True, float_buffer=True)
    try:
        img.colorspace_settings.name = "Linear Rec.709"
        px = np.ones((n, 4), np.float32)
        px[:, :3] = lin
        img.pixels.foreach_set(px.ravel())
        scene.display_settings.display_device = "sRGB"
        scene.view_settings.view_transform, scene.view_settings.look = "AgX", "None"
        im = scene.render.image_settings
        im.file_format, im.color_mode, im.color_depth = "PNG", "RGB", "16"
        img.save_render(str(tmp_path / "agx.png"), scene=scene)
    finally:
        bpy.data.images.remove(img)
        bpy.data.scenes.remove(scene)
    blender = cv2.imread(str(tmp_path / "agx.png"), cv2.IMREAD_UNCHANGED)[::-1, :, ::-1].reshape(n, 3) / 65535.0
    ours = apply_lut(lin, lut)
    err = np.abs(ours - blender).max(axis=1)
    assert np.percentile(err, 99) < 1 / 255 and err.max() < 4 / 255, (np.percentile(err, 99), err.max())
    grey = apply_lut(np.full((1, 3), 0.18, np.float32), lut)[0]
    assert 0.4 < grey[0] < 0.55 and np.ptp(grey) < 0.01  # mid grey stays grey, near the middle
    assert apply_lut(np.full((1, 3), 4.0, np.float32), lut)[0, 0] < 0.95  # 4.0: Standard clips, AgX does not


@pytest.mark.render
def test_denoiser_adaptive_sampling_and_clamping_leave_the_labels_alone():
    """The same scene, seed and sample count with every RGB-only option off and on: the label
    passes (first sample) are bit-identical, only the RGB changes."""
    from simgen.blender import BlenderBackend
    from simgen.config import RenderConfig, Settings
    from simgen.pipeline import catalog_for, load_recipe, make_frame_scene
    from simgen.settings import validate

    size = dict(width=64, height=48, samples=16, device="cpu")
    s = Settings()
    s.render = RenderConfig(**size)
    s = validate(s)
    catalog, recipe = catalog_for(s), load_recipe("tabletop")
    plain = RenderConfig(**size, denoise=False, adaptive_threshold=0.0, clamp_direct=0.0, clamp_indirect=0.0)
    backend = BlenderBackend(plain)
    try:
        backend.build(make_frame_scene(recipe, s, catalog, 3))
        a = backend.render(seed=5)
        backend.configure_sampling(RenderConfig(**size, denoise=True, adaptive_threshold=0.05, clamp_direct=1.0,
                                                clamp_indirect=0.5))
        b = backend.render(seed=5)
    finally:
        backend.close()
    assert (a["index"] > 0).mean() > 0.05
    assert np.array_equal(a["index"], b["index"])
    assert np.array_equal(a["depth"], b["depth"])
    assert np.abs(a["rgb"].astype(int) - b["rgb"].astype(int)).mean() > 0.5  # the options did act
