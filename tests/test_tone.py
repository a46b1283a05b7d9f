"""Exposure metering and tone mapping (simgen.color.tone), and Blender's view transforms through
OpenColorIO (simgen.color.ocio) against Blender's own output on the same linear pixels."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from simgen import SimgenError
from simgen.color.ocio import view_processor
from simgen.color.tone import HIGHLIGHT, KEY_TARGET, LUMA, VIEWS, WHITE, display, luminance, meter, tone_map

REPO = Path(__file__).resolve().parents[1]


def scene_like(seed: int = 0, h: int = 60, w: int = 80) -> np.ndarray:
    """A linear frame: log-normal luminance around 0.05 with a few coloured patches."""
    rng = np.random.default_rng(seed)
    y = np.exp(rng.normal(np.log(0.05), 1.0, (h, w, 1)))
    return (y * rng.uniform(0.3, 1.0, (h, w, 3))).astype(np.float32)


def srgb8(linear: np.ndarray) -> np.ndarray:
    """Blender's Standard view transform, written out independently of simgen.color.tone."""
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


def test_agx_keeps_grey_grey_and_rolls_highlights_off():
    grey = display(np.full((1, 1, 3), 0.18, np.float32), "agx")[0, 0].astype(int)
    assert 0.4 * 255 < grey[0] < 0.55 * 255 and np.ptp(grey) <= 1  # mid grey stays grey, near the middle
    assert display(np.full((1, 1, 3), 4.0, np.float32), "agx")[0, 0, 0] < 0.95 * 255  # 4.0: Standard clips, AgX not
    assert display(np.full((1, 1, 3), 4.0, np.float32), "standard")[0, 0, 0] == 255
    assert display(np.full((1, 1, 3), 1e4, np.float32), "agx")[0, 0, 0] == 255  # far over white: white


def test_display_leaves_its_input_alone_and_refuses_an_unknown_tone():
    lin = scene_like(5)
    before = lin.copy()
    display(lin, "agx")
    assert np.array_equal(lin, before)  # OpenColorIO works in place: on a copy
    assert np.array_equal(display(lin[:, ::2], "agx"), display(np.ascontiguousarray(lin[:, ::2]), "agx"))
    with pytest.raises(ValueError, match="not one of"):
        display(lin, "filmic")
    with pytest.raises(SimgenError, match="no view 'Filmic Punch'"):
        view_processor("Filmic Punch")


def test_threads_share_the_processor():
    """Frames tone mapped on several threads at once come out as one thread makes them."""
    frames = [scene_like(s, 120, 160) * 4 for s in range(6)]
    want = [display(f, "agx") for f in frames]
    got: dict[int, np.ndarray] = {}

    def work(k: int) -> None:
        for i in range(k, len(frames), 3):
            got[i] = display(frames[i], "agx")
    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(got[i], want[i]) for i in range(len(frames)))


def test_colour_management_loads_without_blender():
    """OpenColorIO and the config come from the bpy wheel, which is not imported; nothing is
    added to sys.path (the wheel's site-packages also holds pxr, OpenImageIO, MaterialX)."""
    code = ("import sys; path = list(sys.path); import numpy as np; from simgen.color.tone import display; "
            "from simgen.color.ocio import bpy_folder; display(np.ones((2, 2, 3), np.float32), 'agx'); "
            "display(np.ones((2, 2, 3), np.float32), 'standard'); import PyOpenColorIO; "
            "assert bpy_folder() in __import__('pathlib').Path(PyOpenColorIO.__file__).parents; "
            "assert sys.path == path, sys.path; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('bpy', 'mathutils', 'bmesh') "
            "or m.startswith('simgen.blender')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_no_bpy_wheel_is_one_clear_line(monkeypatch, tmp_path):
    from simgen.color import ocio

    monkeypatch.setattr(sys, "path", [str(tmp_path)])  # no bpy on it
    with pytest.raises(SimgenError, match="bpy wheel is not installed"):
        ocio.config_path()


def test_a_bpy_folder_without_the_config_is_one_clear_line(monkeypatch, tmp_path):
    from simgen.color import ocio

    monkeypatch.setattr(ocio, "bpy_folder", lambda: tmp_path)
    with pytest.raises(SimgenError, match="has no OpenColorIO config"):
        ocio.config_path()
    with pytest.raises(SimgenError, match="has no PyOpenColorIO module"):
        ocio.pyopencolorio()


def blender_view(linear: np.ndarray, view: str, folder: Path) -> np.ndarray:
    """(N, 3) uint16: Blender's own sRGB display of the linear Rec.709 colours ``linear`` (N, 3)
    through its view ``view`` (look None, exposure 0, gamma 1, no dither): the colours as a float
    image saved by Blender through a scratch scene's colour management as a 16-bit PNG."""
    import bpy
    import cv2

    n, width = len(linear), 128
    rows = -(-n // width)
    px = np.ones((rows * width, 4), np.float32)
    px[:n, :3] = linear
    scene = bpy.data.scenes.new("simgen_view_check")
    img = bpy.data.images.new("simgen_view_check", width, rows, alpha=True, float_buffer=True)
    path = folder / f"blender-{view}.png"
    try:
        img.colorspace_settings.name = "Linear Rec.709"
        img.pixels.foreach_set(px.ravel())
        scene.display_settings.display_device = "sRGB"
        vs = scene.view_settings
        vs.view_transform, vs.look, vs.exposure, vs.gamma = view, "None", 0.0, 1.0
        scene.render.dither_intensity = 0.0
        im = scene.render.image_settings
        im.file_format, im.color_mode, im.color_depth = "PNG", "RGB", "16"
        img.save_render(str(path), scene=scene)
    finally:
        bpy.data.images.remove(img)
        bpy.data.scenes.remove(scene)
    saved = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    # PNG rows top first, Blender's pixels bottom row first; BGR -> RGB
    return saved[::-1, :, ::-1].reshape(-1, 3)[:n]


def sweep() -> np.ndarray:
    """(N, 3) float32 linear colours from black to far above white: a lattice of 26 levels per
    channel (a small negative one, as a denoiser leaves, 0, then 0.18 * 2**-13 .. 0.18 * 2**11,
    i.e. up to 369, 4.5 stops over AgX's white), so every saturated and unsaturated mix of
    them, and random colours spread around grey levels over that range."""
    levels = np.concatenate([[-0.01, 0.0], 0.18 * np.exp2(np.linspace(-13, 11, 24))]).astype(np.float32)
    lattice = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    rng = np.random.default_rng(5)
    spread = 0.18 * np.exp2(rng.uniform(-13, 11, (4096, 1)) + rng.normal(0, 1.5, (4096, 3)))
    return np.concatenate([lattice, spread.astype(np.float32)])


def differences(linear: np.ndarray, view: str, blender16: np.ndarray, ours8: np.ndarray) -> dict:
    """simgen's view ``view`` of ``linear`` (N, 3) against Blender's 16-bit output: the largest
    and mean difference in 16-bit levels (simgen's float output, rounded as Blender does) and in
    8-bit levels (simgen's image ``ours8`` against Blender's rounded to 8 bits)."""
    ours = np.ascontiguousarray(linear, np.float32).copy()
    view_processor(view).applyRGB(ours)
    ours16 = np.rint(np.clip(ours, 0.0, 1.0) * 65535.0)
    d16 = np.abs(ours16 - blender16.astype(np.float64))
    d8 = np.abs(ours8.reshape(-1, 3).astype(int) - np.rint(blender16 / 65535.0 * 255.0).astype(int))
    return {"max16": float(d16.max()), "mean16": float(d16.mean()), "max8": int(d8.max()), "mean8": float(d8.mean())}


@pytest.mark.render
@pytest.mark.parametrize("tone", ["agx", "standard"])
def test_simgen_tone_is_blenders_view_transform_on_a_sweep(tone, tmp_path):
    """A sweep of linear colours (black to far over white, saturated ones included) through
    simgen's tone and through Blender's own view transform: within 1 level of 8 bits at every
    pixel and channel."""
    lin = sweep()
    d = differences(lin, VIEWS[tone], blender_view(lin, VIEWS[tone], tmp_path), display(lin[None], tone))
    assert d["max8"] <= 1 and d["mean8"] < 0.01, d
    assert d["max16"] <= 4, d  # 16-bit levels (one 8-bit level is 257): the same curve


@pytest.mark.render
def test_simgen_tone_is_blenders_view_transform_on_a_render(tmp_path):
    """A Cycles render's exposed linear Combined pass, as the backend tone maps it, against
    Blender's own view transforms of the same pixels: within 1 level of 8 bits everywhere."""
    from simgen.blender import BlenderBackend
    from simgen.config import RenderConfig, Settings
    from simgen.pipeline import catalog_for, load_recipe, make_frame_scene
    from simgen.compose.settings import validate

    s = Settings()
    s.render = RenderConfig(width=96, height=72, samples=8, device="cpu")
    s = validate(s)
    backend = BlenderBackend(s.render)
    backend.keep_linear = True
    try:
        backend.build(make_frame_scene(load_recipe("tabletop"), s, catalog_for(s), 2))
        passes = backend.render_passes(seed=3)
        lin = passes["linear"].reshape(-1, 3)
        assert lin.max() > 0.5 and np.ptp(passes["rgb"]) > 100  # a lit, exposed frame
        found = {}
        for tone in ("agx", "standard"):
            ours = passes["rgb"] if tone == s.render.tone else display(passes["linear"], tone)
            found[tone] = differences(lin, VIEWS[tone], blender_view(lin, VIEWS[tone], tmp_path), ours)
    finally:
        backend.close()
    assert all(d["max8"] <= 1 and d["mean8"] < 0.01 and d["max16"] <= 4 for d in found.values()), found


@pytest.mark.render
def test_denoiser_adaptive_sampling_and_clamping_leave_the_labels_alone():
    """The same scene, seed and sample count with every RGB-only option off and on: the label
    passes (first sample) are bit-identical, only the RGB changes."""
    from simgen.blender import BlenderBackend
    from simgen.config import RenderConfig, Settings
    from simgen.pipeline import catalog_for, load_recipe, make_frame_scene
    from simgen.compose.settings import validate

    size = dict(width=64, height=48, samples=16, device="cpu")
    s = Settings()
    s.render = RenderConfig(**size)
    s = validate(s)
    catalog, recipe = catalog_for(s), load_recipe("tabletop")
    plain = RenderConfig(**size, denoise=False, adaptive_threshold=0.0, clamp_direct=0.0, clamp_indirect=0.0)
    backend = BlenderBackend(plain)
    try:
        backend.build(make_frame_scene(recipe, s, catalog, 3))
        a = backend.render_passes(seed=5)
        options = dict(denoise=True, adaptive_threshold=0.05, clamp_direct=1.0, clamp_indirect=0.5)
        backend.configure_sampling(RenderConfig(**size, **options))
        b = backend.render_passes(seed=5)
        backend.configure_sampling(RenderConfig(**size, **options, denoise_prefilter="fast"))
        c = backend.render_passes(seed=5)
    finally:
        backend.close()
    assert (a["index"] > 0).mean() > 0.05
    for other in (b, c):
        assert np.array_equal(a["index"], other["index"])
        assert np.array_equal(a["depth"], other["depth"])
    assert np.abs(a["rgb"].astype(int) - b["rgb"].astype(int)).mean() > 0.5  # the options did act
    fast = np.abs(b["rgb"].astype(int) - c["rgb"].astype(int))  # the fast prefilter acts, a little
    assert 0 < fast.mean() < 1.0, fast.mean()
