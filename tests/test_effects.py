"""Camera and sensor effects (simgen.imaging.effects): each effect on synthetic arrays against
independently computed truth in linear light (the exposed image before the tone curve), and
a rendered run with effects=camera whose labels are byte-identical to the same run without
effects, whose RGB is the AgX tone curve of the recorded effects applied to the render's
exposed linear light (then JPEG), and which is reproducible."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import dataset_files, tiny_settings
from simgen.config import EffectsConfig
from simgen.color.tone import WHITE, display
from simgen.imaging.effects import (EFFECT_NAMES, apply_effects, effects_enabled, effects_rngs, jpeg_roundtrip,
                                    motion_blur, sensor_noise, vignetting_map, white_balance_gains)

ALL_ON = EffectsConfig(motion_blur_probability=1.0, blur_probability=1.0, vignetting_probability=1.0,
                       noise_probability=1.0, white_balance_probability=1.0, jpeg_probability=1.0)
K = np.array([[50.0, 0.0, 20.0], [0.0, 55.0, 15.0], [0.0, 0.0, 1.0]])


def only(**probabilities: float) -> EffectsConfig:
    return dataclasses.replace(EffectsConfig(), **{f"{k}_probability": v for k, v in probabilities.items()})


class Spy:
    """A tone curve (standard) that keeps the linear image it was given: what the effects made."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def __call__(self, linear: np.ndarray) -> np.ndarray:
        self.seen.append(np.array(linear))
        return display(linear, "standard")


def fx(linear: np.ndarray, cfg: EffectsConfig, rngs, flows=None, gap: int = 1, depth=None, spy: Spy | None = None):
    """apply_effects on an exposed linear image under the standard curve (white 1.0)."""
    linear = np.asarray(linear, np.float32)
    return apply_effects(linear, display(linear, "standard"), cfg, rngs, K, flows, gap, depth,
                         to_display=spy if spy is not None else Spy(), white=WHITE["standard"])


# ------------------------------------------------------------------ switches


def test_effects_are_off_by_default_and_leave_the_image_alone():
    assert not effects_enabled(EffectsConfig())
    assert effects_enabled(only(jpeg=0.1))
    linear = np.random.default_rng(0).uniform(0, 1, (12, 16, 3)).astype(np.float32)
    rgb = display(linear, "standard")
    out, record = apply_effects(linear, rgb, EffectsConfig(), effects_rngs(0, 0, 0), K, to_display=Spy())
    assert out is rgb and record == dict.fromkeys(EFFECT_NAMES)


def test_same_seed_and_index_give_the_same_bytes_and_another_index_other_draws():
    linear = np.random.default_rng(1).uniform(0, 1, (24, 32, 3))
    flows = {"forward": np.full((24, 32, 2), 2.0, np.float32), "backward": None}
    a, ra = fx(linear, ALL_ON, effects_rngs(5, 3, 3), flows)
    b, rb = fx(linear, ALL_ON, effects_rngs(5, 3, 3), flows)
    c, rc = fx(linear, ALL_ON, effects_rngs(5, 4, 4), flows)
    assert np.array_equal(a, b) and ra == rb
    assert ra != rc and not np.array_equal(a, c)
    assert list(ra) == list(EFFECT_NAMES) and all(ra[k] is not None for k in EFFECT_NAMES)
    json.dumps(ra)  # the record goes into the meta as it is


def test_a_sequence_keeps_its_draws_and_gets_new_noise_every_frame():
    linear = np.full((24, 32, 3), 0.1)
    flows = {"forward": np.full((24, 32, 2), 2.0, np.float32), "backward": None}
    a, ra = fx(linear, ALL_ON, effects_rngs(5, 3, 6), flows)
    b, rb = fx(linear, ALL_ON, effects_rngs(5, 3, 7), flows)
    assert ra == rb  # one camera per clip: the same shutter, vignetting, noise level, white balance, JPEG
    assert not np.array_equal(a, b)  # but not the same noise


def test_a_single_frame_gets_no_motion_blur():
    linear = np.full((8, 8, 3), 0.13, np.float32)
    rgb = display(linear, "standard")
    out, record = apply_effects(linear, rgb, only(motion_blur=1.0), effects_rngs(0, 0, 0), K, None, to_display=Spy())
    assert record["motion_blur"] is None and out is rgb


def test_linear_effects_need_the_linear_image():
    with pytest.raises(ValueError, match="exposed linear image"):
        apply_effects(None, np.zeros((4, 4, 3), np.uint8), only(vignetting=1.0), effects_rngs(0, 0, 0), K)
    with pytest.raises(ValueError, match="without rgb"):
        apply_effects(None, None, only(jpeg=1.0), effects_rngs(0, 0, 0), K)


@pytest.mark.parametrize("cfg", [EffectsConfig(), only(jpeg=1.0), only(vignetting=1.0, jpeg=1.0)])
def test_without_rgb_the_tone_curve_of_the_linear_image_stands_in_for_it(cfg):
    """rgb=None (simgen fit's development) gives the same image and record as passing the tone
    curve of the linear image."""
    linear = np.random.default_rng(2).random((24, 32, 3)).astype(np.float32)
    agx = lambda x: display(x, "agx")  # noqa: E731
    given = apply_effects(linear, agx(linear), cfg, effects_rngs(5, 0, 1), K, to_display=agx, white=WHITE["agx"])
    made = apply_effects(linear, None, cfg, effects_rngs(5, 0, 1), K, to_display=agx, white=WHITE["agx"])
    assert np.array_equal(given[0], made[0]) and given[1] == made[1]


# ------------------------------------------------------------------ vignetting

def test_vignetting_is_one_at_the_principal_point_and_falls_radially_as_cos4():
    h, w = 31, 41
    v = vignetting_map(h, w, K, 1.0)
    assert v[15, 20] == 1.0 and v.max() == 1.0
    # independent truth: the angle of each pixel's ray to the optical axis
    u, vv = np.meshgrid(np.arange(w), np.arange(h))
    theta = np.arctan(np.hypot((u - K[0, 2]) / K[0, 0], (vv - K[1, 2]) / K[1, 1]))
    assert np.allclose(v, np.cos(theta) ** 4, rtol=1e-12)
    # strictly decreasing outwards along a row, a column and a diagonal from the centre
    for line in (v[15, 20:], v[15, 20::-1], v[15:, 20], v[15::-1, 20], np.diagonal(v[15:, 20:])):
        assert np.all(np.diff(line) < 0)
    assert np.allclose(vignetting_map(h, w, K, 0.5) ** 2, v) and np.all(vignetting_map(h, w, K, 0.0) == 1.0)


def test_vignetting_effect_darkens_corners_not_the_centre():
    linear = np.full((31, 41, 3), 0.6)
    spy = Spy()
    out, record = fx(linear, only(vignetting=1.0), effects_rngs(0, 2, 2), spy=spy)
    s = record["vignetting"]["strength"]
    assert 0.2 <= s <= 1.0
    # in linear light the image is exactly the falloff times the light; then the curve
    assert np.allclose(spy.seen[0], linear * vignetting_map(31, 41, K, s)[..., None], rtol=1e-6)
    assert np.array_equal(out, display(spy.seen[0], "standard"))
    assert np.array_equal(out[15, 20], display(np.float32(linear[15, 20]), "standard")) and out[0, 0, 0] < out[15, 20, 0]


def test_lens_blur_spreads_a_step_edge_as_the_gaussians_integral():
    import math

    linear = np.zeros((20, 60, 3), np.float32)
    linear[:, 30:] = 0.8  # a step between columns 29 and 30: the edge at x = 29.5
    spy = Spy()
    cfg = dataclasses.replace(only(blur=1.0), blur=[2.5, 2.5])
    _, record = fx(linear, cfg, effects_rngs(0, 1, 1), spy=spy)
    assert record["blur"] == {"sigma": 2.5}
    row = spy.seen[0][10, :, 1]
    want = np.array([0.4 * (1 + math.erf((x - 29.5) / (2.5 * math.sqrt(2)))) for x in range(60)])
    assert np.abs(row - want).max() < 0.01  # the edge's profile: 0.8 times the Gaussian's integral
    assert np.allclose(spy.seen[0][:, :, 1], row[None, :], atol=1e-6)  # nothing spreads along the edge
    sharp = Spy()
    fx(linear, dataclasses.replace(cfg, blur=[0.5, 0.5]), effects_rngs(0, 1, 1), spy=sharp)
    assert np.abs(sharp.seen[0][10, :, 1] - row).max() > 0.1  # a narrower point spread: a sharper edge


# ------------------------------------------------------------------ white balance

def test_white_balance_gains_are_the_channel_ratios_in_linear_light():
    grey = np.full((20, 20, 3), 0.18)  # mid grey, where metering puts it
    for index in range(4):
        spy = Spy()
        out, record = fx(grey, only(white_balance=1.0), effects_rngs(0, index, index), spy=spy)
        gains = np.asarray(record["white_balance"]["gains"])
        measured = spy.seen[0].reshape(-1, 3).mean(0) / grey.reshape(-1, 3).mean(0)
        assert np.allclose(measured, gains, rtol=1e-5), (measured, gains)  # float32 light
    t = record["white_balance"]["temperature"]
    assert 4500 <= t <= 9000 and np.allclose(white_balance_gains(t), gains)


def test_white_balance_gains_follow_the_temperature():
    assert np.allclose(white_balance_gains(6500.0), 1.0)
    warm_assumed, cool_assumed = white_balance_gains(3500.0), white_balance_gains(10000.0)
    assert warm_assumed[2] > 1.0 > warm_assumed[0]  # balanced for tungsten: the picture turns blue
    assert cool_assumed[0] > 1.0 > cool_assumed[2]
    assert math.isclose(float(np.prod(warm_assumed)), 1.0)  # geometric mean 1: brightness kept


# ------------------------------------------------------------------ sensor noise

@pytest.mark.parametrize("full_well,read_noise", [(1000.0, 0.002), (200.0, 0.01)])
def test_noise_variance_is_poisson_gaussian(full_well, read_noise):
    rng = np.random.default_rng(11)
    for x in (0.05, 0.2, 0.5, 0.8):
        noisy = sensor_noise(np.full((300, 300), x), rng, full_well, read_noise)
        expected = x / full_well + read_noise ** 2
        assert abs(noisy.var() / expected - 1) < 0.05, (x, noisy.var(), expected)
        assert abs(noisy.mean() - x) < 3 * math.sqrt(expected / noisy.size) + 1e-9


@pytest.mark.parametrize("tone", ["agx", "standard"])
def test_noise_in_linear_light_has_the_models_variance_under_the_tone_curve(tone):
    """The noise the pipeline adds, read back before the tone curve: at mid grey, in the
    shadows, at diffuse white and (AgX) in the highlights above it, variance x / full_well +
    read_noise^2 and mean x; clipped at the curve's white, where the sensor saturates."""
    cfg = dataclasses.replace(only(noise=1.0), full_well=[300.0, 300.0], read_noise=[0.002, 0.002])
    levels = (0.02, 0.18, 1.0, 4.0) if tone == "agx" else (0.02, 0.18, 0.6)
    for x in levels:
        spy = Spy()
        linear = np.full((128, 128, 3), x, np.float32)
        apply_effects(linear, display(linear, "standard"), cfg, effects_rngs(0, 1, int(x * 100)), K,
                      to_display=spy, white=WHITE[tone])
        noisy = spy.seen[0]
        expected = x / 300 + 0.002 ** 2
        assert abs(noisy.var() / expected - 1) < 0.05, (tone, x, noisy.var(), expected)
        assert abs(noisy.mean() - x) < 4 * math.sqrt(expected / noisy.size)
        assert noisy.max() <= WHITE[tone]
    spy = Spy()
    apply_effects(np.full((8, 8, 3), 2 * WHITE[tone], np.float32), np.zeros((8, 8, 3), np.uint8), cfg,
                  effects_rngs(0, 0, 0), K, to_display=spy, white=WHITE[tone])
    assert np.all(spy.seen[0] == np.float32(WHITE[tone]))  # a saturated sensor reads its white


# ------------------------------------------------------------------ motion blur

BG = 0.2


def _square() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A bright square (depth 1 m) in front of a grey background (depth 5 m)."""
    img = np.full((40, 60, 3), BG)
    img[15:25, 20:35] = 1.0
    mask = np.zeros((40, 60), bool)
    mask[15:25, 20:35] = True
    return img, mask, np.where(mask, 1.0, 5.0)


def test_motion_blur_spreads_along_the_flow_and_not_across_it():
    img, mask, depth = _square()
    fwd = np.zeros((40, 60, 2), np.float32)
    fwd[mask] = (8.0, 0.0)  # the square moves 8 px right per step
    out = motion_blur(img, 1.0, fwd, -fwd, gap=1, depth=depth)  # open the whole step: -4 .. +4 px
    # independent truth: over the open shutter the square sweeps -4..+4 px (9 instants, 1 px
    # apart): each row through it is its indicator convolved with a 9-tap box
    coverage = np.convolve(mask[20].astype(float), np.ones(9) / 9, mode="same")
    expected_row = BG + (1.0 - BG) * coverage
    for y in range(15, 25):
        assert np.allclose(out[y, :, 0], expected_row, atol=1e-6)
    # it spreads along x, beyond the square's outline on both sides ...
    assert out[20, 16, 0] > BG + 0.05 and out[20, 38, 0] > BG + 0.05 and out[20, 15, 0] == pytest.approx(BG)
    assert np.all(np.diff(out[20, 15:25, 0]) > 0) and np.all(np.diff(out[20, 30:40, 0]) < 0)
    # ... and not across: the rows above and below keep the background, the top and bottom
    # edges stay a one-pixel step
    assert np.allclose(out[:15], img[:15]) and np.allclose(out[25:], img[25:])
    assert np.allclose(out[14:16, 27, 0], [BG, 1.0])
    # the same motion along y blurs the transposed way
    fy = np.zeros((60, 40, 2), np.float32)
    fy[mask.T] = (0.0, 8.0)
    outy = motion_blur(np.ascontiguousarray(img.transpose(1, 0, 2)), 1.0, fy, -fy, gap=1, depth=depth.T)
    assert np.allclose(outy, out.transpose(1, 0, 2))


def test_motion_blur_of_a_sub_pixel_motion_softens_the_edges():
    img, mask, depth = _square()
    fwd = np.zeros((40, 60, 2), np.float32)
    fwd[mask] = (1.0, 0.0)  # 1 px per step, the shutter open a half: +-0.25 px
    out = motion_blur(img, 0.5, fwd, -fwd, gap=1, samples=5, depth=depth)
    # independent truth: the mean over tau of the square's coverage of each pixel along x
    # (the left edge pixel sees the background at -0.25 .. 0 px of shift, bilinearly)
    taus = np.linspace(-0.25, 0.25, 5)
    left = np.mean([1.0 - max(t, 0.0) for t in taus]) * (1.0 - BG) + BG
    right = np.mean([1.0 + min(t, 0.0) for t in taus]) * (1.0 - BG) + BG
    assert out[20, 20, 0] == pytest.approx(left, abs=1e-3) and out[20, 34, 0] == pytest.approx(right, abs=1e-3)
    assert out[20, 20, 0] < 1.0 and out[20, 27, 0] == pytest.approx(1.0)


def test_motion_blur_puts_the_nearer_surface_in_front():
    img, mask, depth = _square()
    fwd = np.zeros((40, 60, 2), np.float32)
    fwd[mask] = (8.0, 0.0)
    behind = motion_blur(img, 1.0, fwd, -fwd, gap=1, depth=np.where(mask, 9.0, 5.0))
    # a square behind the background never shows outside its own pixels, and its trailing part
    # is filled with the background that slides over it
    assert np.allclose(behind[~mask], img[~mask])
    assert behind[20, 27, 0] == pytest.approx(1.0) and behind[20, 20, 0] < 1.0


def test_motion_blur_scales_with_shutter_and_gap_and_extrapolates_one_flow():
    img, mask, depth = _square()
    fwd = np.zeros((40, 60, 2), np.float32)
    fwd[mask] = (8.0, 0.0)
    both = motion_blur(img, 0.5, fwd, -fwd, gap=1, samples=5, depth=depth)
    assert np.allclose(motion_blur(img, 0.5, fwd, None, gap=1, samples=5, depth=depth), both)  # last step
    assert np.allclose(motion_blur(img, 0.5, None, -fwd, gap=1, samples=5, depth=depth), both)  # first step
    assert np.allclose(motion_blur(img, 1.0, 2 * fwd, -2 * fwd, gap=4, samples=5, depth=depth), both)  # 8 px/4 steps
    assert np.allclose(motion_blur(img, 0.0, fwd, -fwd, depth=depth), img, rtol=0, atol=1e-7)  # float32 of img
    assert np.allclose(motion_blur(img, 1.0, 0 * fwd, None, depth=depth), img, rtol=0, atol=1e-7)  # nothing moves
    wider = motion_blur(img, 1.0, fwd, -fwd, gap=1, depth=depth)
    assert both[20, 17, 0] == pytest.approx(BG) and BG < both[20, 18, 0] < wider[20, 18, 0]  # half: 2 px, not 4
    assert wider[20, 21, 0] < both[20, 21, 0] < 1.0


def test_motion_blur_effect_uses_the_flow_of_a_sequence_frame():
    img, mask, depth = _square()
    fwd = np.zeros((40, 60, 2), np.float32)
    fwd[mask] = (8.0, 0.0)
    spy = Spy()
    out, record = fx(img, only(motion_blur=1.0), effects_rngs(0, 0, 0), {"forward": fwd, "backward": None}, 1, depth,
                     spy=spy)
    s, n = record["motion_blur"]["shutter"], record["motion_blur"]["samples"]
    assert 0.1 <= s <= 0.5 and n >= 3
    expected = motion_blur(np.float32(img), s, fwd, None, 1, n, depth)  # averaged in linear light
    assert np.allclose(spy.seen[0], expected, rtol=1e-6)
    assert np.array_equal(out, display(spy.seen[0], "standard")) and not np.array_equal(out, display(np.float32(img), "standard"))


# ------------------------------------------------------------------ JPEG

def _photo_like(h: int = 96, w: int = 128) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    img = np.stack([0.5 + 0.4 * np.sin(6 * x + 2 * y), 0.5 + 0.3 * np.cos(5 * y), 0.4 + 0.3 * x * y], -1)
    img[30:60, 40:90] = (0.9, 0.2, 0.1)  # a sharp-edged object
    img += np.random.default_rng(2).normal(0, 0.02, img.shape)
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return 10 * math.log10(255.0 ** 2 / mse)


def test_jpeg_round_trip_changes_pixels_but_keeps_psnr_above_30db_at_quality_90():
    img = _photo_like()
    q90 = jpeg_roundtrip(img, 90)
    assert q90.shape == img.shape and q90.dtype == np.uint8
    assert not np.array_equal(q90, img)
    assert psnr(q90, img) > 30.0
    assert psnr(jpeg_roundtrip(img, 20), img) < psnr(q90, img)  # lower quality, more loss
    # the colours stay in RGB order (a BGR mix-up would swap the red object's channels)
    assert q90[45, 65, 0] > 200 and q90[45, 65, 2] < 60


def test_jpeg_effect_draws_its_quality_in_range():
    img = _photo_like()
    cfg = dataclasses.replace(only(jpeg=1.0), jpeg_quality=[80, 82])
    out, record = apply_effects(None, img, cfg, effects_rngs(3, 0, 0), K)  # JPEG alone: no linear work
    assert record["jpeg"]["quality"] in (80, 81, 82)
    assert np.array_equal(out, jpeg_roundtrip(img, record["jpeg"]["quality"]))


# ------------------------------------------------------------------ rendered

def _run(root: Path, effects: EffectsConfig | None, hooks=None, labels: tuple = ()) -> Path:
    from simgen.pipeline import run

    s = tiny_settings(root, frames=2, width=64, height=48, samples=2)
    s.sequence.length = 2
    s.output.labels = list(labels)
    if effects is not None:
        s.effects = effects
    run(s, hooks=hooks)
    return root


def _capture():
    """Hooks keeping the exposed linear image of every render (in render order)."""
    from simgen.pipeline import Hooks

    class Capture(Hooks):
        linear: list = []

        def wrap(self, stage, fn):
            if stage != "read":
                return fn

            def read(*a):
                raw = fn(*a)
                type(self).linear.append(np.array(raw["linear"]))
                return raw
            return read
    Capture.linear = []
    return Capture()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    camera = ALL_ON  # effects=camera (tests/test_config.py composes it) differs only in jpeg 0.5
    base = tmp_path_factory.mktemp("effects")
    capture = _capture()
    return {"plain": _run(base / "plain", None), "camera": _run(base / "camera", camera, capture),
            "again": _run(base / "again", camera), "capture": capture,
            "linear": _run(base / "linear", None, labels=("linear",))}


def test_effects_change_the_rgb_only(runs):
    plain, camera = dataset_files(runs["plain"]), dataset_files(runs["camera"])
    assert plain.keys() == camera.keys()
    differ = sorted(k for k in plain if plain[k] != camera[k])
    assert {k.split("/")[0] for k in differ} == {"images", "meta", "dataset.json"}
    assert [k for k in plain if k.startswith("images/")] == [k for k in differ if k.startswith("images/")]
    for k in (k for k in plain if k.startswith("meta/")):
        a, b = json.loads(plain[k]), json.loads(camera[k])
        assert "effects" not in a and b.pop("effects")
        assert a == b  # labels, COCO, camera, flow files: all as without effects
    a, b = json.loads(plain["dataset.json"]), json.loads(camera["dataset.json"])
    assert b["config"].pop("effects") == dataclasses.asdict(ALL_ON) and a["config"].pop("effects")
    assert a["config"] == b["config"]


def test_rendered_rgb_is_the_agx_curve_of_the_recorded_effects_in_linear_light(runs):
    """Each written image is JPEG(AgX(effects(exposed linear render))) with the recorded draws,
    exactly; without effects the same linear light gives the plain run's image."""
    from simgen.io.files import read_png

    capture, records = runs["capture"], []
    assert len(capture.linear) == 2
    for i in (0, 1):
        meta = json.loads((runs["camera"] / "meta" / f"{i:06d}.json").read_text())
        record = meta["effects"]
        assert list(record) == list(EFFECT_NAMES) and all(record[k] for k in EFFECT_NAMES)
        assert meta["image"]["tone"] == "agx"
        flows = {d: np.load(runs["plain"] / meta["flow"][d]["flow"]) if meta["flow"][d] else None
                 for d in ("forward", "backward")}
        plain = read_png(runs["plain"] / "images" / f"{i:06d}.png")
        depth = np.load(runs["plain"] / "depth" / f"{i:06d}.npy")
        linear = capture.linear[i]
        agx = lambda x: display(x, "agx")  # noqa: E731
        assert np.array_equal(agx(linear), plain)  # the same render, the same exposure
        again, again_record = apply_effects(linear, plain, ALL_ON, effects_rngs(7, 0, i), np.array(meta["K"]), flows,
                                            1, depth, to_display=agx, white=WHITE["agx"])
        assert again_record == record
        assert np.array_equal(read_png(runs["camera"] / "images" / f"{i:06d}.png"), again)
        assert not np.array_equal(again, plain)
        records.append(record)
    assert records[0]["noise"] == records[1]["noise"] and records[0]["jpeg"] == records[1]["jpeg"]
    assert records[0]["motion_blur"]["shutter"] == records[1]["motion_blur"]["shutter"]


def test_the_linear_label_is_the_exposed_light_the_image_was_tone_mapped_from(runs):
    """output.labels=[linear] writes the exposed linear image the camera effects start from: the
    captured one; its tone curve is the written image."""
    from simgen.io.dataset.layout import read_frame
    from simgen.io.files import read_png

    for i in (0, 1):
        linear = np.load(runs["linear"] / "linear" / f"{i:06d}.npy")
        assert linear.dtype == np.float32 and linear.shape == (48, 64, 3)
        assert np.array_equal(linear, runs["capture"].linear[i])
        assert np.array_equal(read_frame(runs["linear"], i)["linear"], linear)
        image = read_png(runs["linear"] / "images" / f"{i:06d}.png").astype(int)
        assert np.array_equal(image, read_png(runs["plain"] / "images" / f"{i:06d}.png"))
        assert np.array_equal(display(linear, "agx"), image)


def test_effects_are_deterministic(runs):
    a, b = dataset_files(runs["camera"]), dataset_files(runs["again"])
    a["dataset.json"] = b["dataset.json"] = b""  # holds each run's own folder
    assert a == b


def test_the_camera_option_turns_every_effect_on(tmp_path):
    from simgen.compose.store import compose
    from simgen.compose.settings import to_settings

    cfg = compose(["effects=camera", f"output.dir={tmp_path}"])
    default = compose([f"output.dir={tmp_path}"])
    camera = to_settings(cfg).effects
    # the rendered tests' ALL_ON, JPEG on half, no lens blur
    assert camera == dataclasses.replace(ALL_ON, jpeg_probability=0.5, blur_probability=0.0)
    assert to_settings(default).effects == EffectsConfig() and not effects_enabled(EffectsConfig())
