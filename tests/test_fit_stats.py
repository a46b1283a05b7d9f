"""simgen.fit.stats and simgen.fit.distance: each image statistic recovers a known effect
(Gaussian blur, Gaussian noise, JPEG quality, cos^4 vignetting, channel gains) applied to
synthetic pictures, the simple ones agree with an independent numpy computation, label
statistics of a hand-made COCO dict, and the distance's exact Wasserstein-1 and scaling."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from simgen.fit.distance import EMPTY_PENALTY, FLOOR, distance, scales, wasserstein1
from simgen.fit.stats import IMAGE_STATS, LABEL_STATS, image_samples, image_stats, label_stats

H, W = 240, 320
STAT = {name: k for k, name in enumerate(IMAGE_STATS)}


def stat(rgb: np.ndarray, name: str) -> float:
    return float(image_stats(rgb)[STAT[name]])


def shapes(seed: int, antialiased: bool) -> np.ndarray:
    """Pixel-sharp step edges: random filled rectangles and discs on a plain background."""
    rng = np.random.default_rng(seed)
    img = np.empty((H, W, 3), np.uint8)
    img[:] = rng.integers(40, 200, 3)
    for _ in range(10):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            x, y = (int(v) for v in rng.integers(0, (W - 30, H - 30)))
            w, h = (int(v) for v in rng.integers(15, 120, 2))
            cv2.rectangle(img, (x, y), (x + w, y + h), colour, -1)
        else:
            centre = (int(rng.integers(0, W)), int(rng.integers(0, H)))
            cv2.circle(img, centre, int(rng.integers(8, 60)), colour, -1, cv2.LINE_AA if antialiased else cv2.LINE_8)
    return img


def smooth(seed: int) -> np.ndarray:
    """float (H, W, 3) in 8-bit levels: colour ramps and a few soft blobs, no edges."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W] / max(H, W)
    img = np.stack([60 + 90 * xx + 30 * yy, 80 + 40 * xx + 60 * yy, 70 + 70 * yy], -1)
    for _ in range(4):
        blob = np.zeros((H, W), np.float32)
        cv2.circle(blob, (int(rng.integers(0, W)), int(rng.integers(0, H))), int(rng.integers(20, 60)), 1.0, -1)
        img += cv2.GaussianBlur(blob, (0, 0), 8)[..., None] * rng.uniform(-40, 40, 3)
    return img


def texture(seed: int, h: int = H, w: int = W) -> np.ndarray:
    """uint8 (h, w, 3): blurred uniform noise, fine detail everywhere."""
    noise = np.random.default_rng(seed).uniform(0, 255, (h, w, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 1.5) * 2 - 128, 0, 255).astype(np.uint8)


def add_noise(img: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    noisy = np.asarray(img, float) + np.random.default_rng(seed).normal(0, sigma, img.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def encode(linear: np.ndarray) -> np.ndarray:
    """Linear [0, 1] to 8-bit sRGB."""
    v = np.clip(linear, 0.0, 1.0)
    return np.round(255 * np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)).astype(np.uint8)


def decode(rgb: np.ndarray) -> np.ndarray:
    v = rgb / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)


# ------------------------------------------------------------------ image statistics


def test_image_stats_is_a_finite_vector_for_any_image():
    rng = np.random.default_rng(0)
    images = [np.zeros((16, 16, 3), np.uint8), np.full((16, 16, 3), 255, np.uint8),
              rng.integers(0, 256, (17, 23, 3), dtype=np.uint8), np.full((16, 300, 3), 90, np.uint8),
              shapes(0, True), rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)]
    for img in images:
        v = image_stats(img)
        assert v.shape == (len(IMAGE_STATS),) and v.dtype == np.float64 and np.isfinite(v).all()
    flat = dict(zip(IMAGE_STATS, image_stats(np.full((32, 48, 3), 128, np.uint8))))
    assert flat == pytest.approx(dict(flat, brightness=128 / 255, contrast=0, saturation=0, colourfulness=0,
                                      red_green=0, blue_green=0, noise=0, blockiness=1, vignetting=0), abs=1e-6)
    for bad in (np.zeros((15, 40, 3), np.uint8), np.zeros((32, 32), np.uint8), np.zeros((32, 32, 4), np.uint8),
                np.zeros((32, 32, 3), np.float32)):
        with pytest.raises(ValueError, match="uint8 RGB"):
            image_stats(bad)


def test_tone_and_colour_statistics_match_their_definitions():
    rgb = np.random.default_rng(1).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    x = rgb.astype(np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    luma = 0.2126 * r + 0.7152 * g + 0.0722 * b
    top, bottom = x.max(-1), x.min(-1)
    rg, yb = r - g, (r + g) / 2 - b
    lin = decode(rgb).reshape(-1, 3).mean(0)
    v = dict(zip(IMAGE_STATS, image_stats(rgb)))
    assert v["brightness"] == pytest.approx(luma.mean() / 255, abs=1e-6)
    assert v["contrast"] == pytest.approx(luma.std() / 255, abs=1e-6)
    assert v["saturation"] == pytest.approx(np.mean(np.where(top > 0, (top - bottom) / np.maximum(top, 1), 0)),
                                            abs=2e-3)   # OpenCV rounds each pixel's to 1/255
    assert v["colourfulness"] == pytest.approx((math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))
                                               / 255, abs=1e-5)
    assert v["red_green"] == pytest.approx(math.log(lin[0] / lin[1]), abs=1e-5)
    assert v["blue_green"] == pytest.approx(math.log(lin[2] / lin[1]), abs=1e-5)


@pytest.mark.parametrize("gains", [(1.25, 1.0, 0.8), (0.7, 1.1, 1.3)])
def test_colour_cast_recovers_channel_gains_on_a_neutral_scene(gains):
    grey = decode(texture(2)).mean(-1, keepdims=True) * 0.7             # a neutral scene, linear
    rgb = encode(grey * np.asarray(gains))
    assert stat(encode(grey.repeat(3, -1)), "red_green") == pytest.approx(0, abs=1e-3)
    assert stat(rgb, "red_green") == pytest.approx(math.log(gains[0] / gains[1]), abs=0.01)
    assert stat(rgb, "blue_green") == pytest.approx(math.log(gains[2] / gains[1]), abs=0.01)


@pytest.mark.parametrize("antialiased", [False, True])
def test_blur_recovers_the_sigma_of_a_gaussian_blur(antialiased):
    for seed in range(2):
        img = shapes(seed, antialiased)
        assert stat(img, "blur") < 0.4                                     # pixel-sharp steps
        for sigma in (1.0, 1.5, 2.0, 3.0, 4.0):
            assert stat(cv2.GaussianBlur(img, (0, 0), sigma), "blur") == pytest.approx(sigma, rel=0.15)


def test_blur_is_robust_to_moderate_noise_and_saturates_without_edges():
    for sigma in (1.0, 2.0, 4.0):
        noisy = add_noise(cv2.GaussianBlur(shapes(3, True), (0, 0), sigma), 5.0, seed=3)
        assert stat(noisy, "blur") == pytest.approx(sigma, rel=0.2)
    assert stat(np.full((64, 64, 3), 77, np.uint8), "blur") == 10.0


def test_noise_recovers_the_sigma_of_additive_gaussian_noise():
    clean = smooth(4)
    assert stat(np.round(clean).astype(np.uint8), "noise") < 0.3
    for sigma in (2.0, 5.0, 10.0):
        assert stat(add_noise(clean, sigma, seed=5), "noise") == pytest.approx(sigma, rel=0.1)
    edges = cv2.GaussianBlur(shapes(6, True), (0, 0), 1.0)                # edges are left out
    assert stat(edges, "noise") < 0.3
    for sigma in (2.0, 5.0):
        assert stat(add_noise(edges, sigma, seed=7), "noise") == pytest.approx(sigma, rel=0.15)


def test_coarse_noise_recovers_the_noise_sigma_and_still_reads_it_after_jpeg():
    clean = smooth(4)
    assert stat(np.round(clean).astype(np.uint8), "coarse_noise") < 0.5
    for sigma in (5.0, 10.0, 20.0):
        assert stat(add_noise(clean, sigma, seed=5), "coarse_noise") == pytest.approx(sigma, rel=0.1)
    # JPEG at quality 15 quantizes the fine noise away ("noise" reads ~0) and leaves blotches
    heavy = jpeg(add_noise(clean, 20.0, seed=5), 15)
    assert stat(heavy, "noise") < 1.0 and stat(heavy, "coarse_noise") > 8.0


@pytest.mark.parametrize("picture", ["texture", "smooth"])
def test_blockiness_rises_as_jpeg_quality_falls(picture):
    img = texture(8) if picture == "texture" else add_noise(smooth(8), 1.0, seed=8)
    assert stat(img, "blockiness") == pytest.approx(1.0, abs=0.05)
    values = [stat(jpeg(img, q), "blockiness") for q in (95, 50, 20, 5)]
    assert values[0] < 1.7 and values[-1] > 4.0
    assert all(a < b for a, b in zip(values, values[1:])), values
    assert stat(jpeg(img, 20)[3:, 5:], "blockiness") < 1.05                  # a crop moved the grid


def cos4(h: int, w: int, strength: float, tan_max: float = 0.7) -> np.ndarray:
    """(h, w) relative illumination (1 + (r tan_max)^2)^(-2 strength), r over the half-diagonal:
    the cos^4 law to the power ``strength`` (simgen.imaging.effects.vignetting_map)."""
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    r2 = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
    return (1 + r2 * tan_max ** 2) ** (-2 * strength)


@pytest.mark.parametrize("picture", ["flat", "texture"])
def test_vignetting_recovers_the_corner_fall_off(picture):
    h, w = 480, 640                       # a texture's own pattern scatters the value less on more pixels
    linear = np.full((h, w, 3), 0.35) if picture == "flat" else 0.1 + 0.6 * decode(texture(9, h, w))
    assert stat(encode(linear), "vignetting") == pytest.approx(0.0, abs=0.03)
    for tan_max in (0.5, 0.8):
        for strength in (0.25, 0.5, 1.0, 2.0):
            falloff = cos4(h, w, strength, tan_max)
            assert stat(encode(linear * falloff[..., None]), "vignetting") == pytest.approx(1 - falloff[0, 0], abs=0.03)
    brighter_corners = encode(linear / cos4(h, w, 0.5)[..., None] * 0.5)
    assert stat(brighter_corners, "vignetting") < -0.3


def test_image_samples_has_one_value_per_image_and_statistic():
    images = [shapes(10, True), texture(10), np.full((20, 30, 3), 200, np.uint8)]
    samples = image_samples(iter(images))
    assert list(samples) == list(IMAGE_STATS)
    stacked = np.stack([samples[name] for name in IMAGE_STATS], 1)
    assert np.array_equal(stacked, np.stack([image_stats(im) for im in images]))
    assert all(v.shape == (0,) for v in image_samples([]).values())


# ------------------------------------------------------------------ label statistics


def test_label_stats_of_a_known_coco():
    coco = {
        "images": [{"id": 1, "width": 100, "height": 50}, {"id": 2, "width": 10, "height": 10},
                   {"id": 7, "width": 200, "height": 200}],
        "categories": [{"id": 3, "name": "ignored"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 5, 20, 10]},
            {"id": 2, "image_id": 7, "category_id": 3, "bbox": [0, 50, 50, 100]},        # touches x = 0
            {"id": 3, "image_id": 1, "category_id": 3, "bbox": [60, 20, 40, 29.6]},      # touches the right
            {"id": 4, "image_id": 7, "category_id": 3, "bbox": [5, 5, 0, 10]},           # empty: left out
            {"id": 5, "image_id": 7, "category_id": 3, "bbox": [1, 1, 5, 5], "iscrowd": 1},
        ],
    }
    s = label_stats(coco)
    assert list(s) == list(LABEL_STATS)
    assert s["objects"].tolist() == [2, 0, 1]                        # images in file order
    # per box, in annotation order
    assert s["size"] == pytest.approx([math.sqrt(200 / 5000), math.sqrt(5000 / 40000), math.sqrt(1184 / 5000)])
    assert s["aspect"] == pytest.approx([math.log(2), math.log(0.5), math.log(40 / 29.6)])
    assert s["x"] == pytest.approx([0.2, 0.125, 0.8])
    assert s["y"] == pytest.approx([0.2, 0.5, 34.8 / 50])
    assert s["truncated"].tolist() == [0.0, 1.0, 1.0]
    inside = label_stats({"images": [{"id": 1, "width": 100, "height": 50}],
                          "annotations": [{"image_id": 1, "bbox": [0.6, 0.6, 98.8, 48.8]}]})
    assert inside["truncated"].tolist() == [0.0]


def test_label_stats_without_annotations_and_with_a_stray_one():
    s = label_stats({"images": [{"id": 1, "width": 8, "height": 8}, {"id": 2, "width": 8, "height": 8}]})
    assert s["objects"].tolist() == [0, 0]
    assert all(s[name].shape == (0,) and s[name].dtype == np.float64 for name in LABEL_STATS[1:])
    with pytest.raises(ValueError, match="image 9"):
        label_stats({"images": [{"id": 1, "width": 8, "height": 8}],
                     "annotations": [{"id": 4, "image_id": 9, "bbox": [0, 0, 1, 1]}]})


# ------------------------------------------------------------------ distance


def test_wasserstein1_is_exact_for_unequal_samples():
    assert wasserstein1([0.0, 1.0], [0.0, 1.0, 1.0]) == pytest.approx(1 / 6)   # quantiles differ on (1/3, 1/2]
    assert wasserstein1([5.0], [1.0, 2.0, 3.0]) == pytest.approx(3.0)
    rng = np.random.default_rng(11)
    for n, m in ((1, 1), (7, 3), (50, 120), (333, 17)):
        a, b = rng.normal(0, 1, n), rng.gamma(2.0, 1.0, m)
        assert wasserstein1(a, b) == pytest.approx(wasserstein_distance(a, b), rel=1e-12, abs=1e-12)
        assert wasserstein1(a, b) == pytest.approx(wasserstein1(b, a), rel=1e-12)


def test_distance_is_zero_for_equal_samples_and_counts_shifts_in_target_scales():
    rng = np.random.default_rng(12)
    target = {"brightness": rng.uniform(0.3, 0.7, 40), "noise": rng.gamma(2, 2, 40),
              "objects": rng.poisson(5, 40).astype(float)}
    scale = scales(target)
    assert all(scale[k] > FLOOR[k] for k in target)
    same = distance(target, {k: rng.permutation(v) for k, v in target.items()}, scale)
    assert same.total == 0 and set(same.components.values()) == {0.0}
    for d in (0.5, 2.0):
        shifted = distance(target, {k: v + d * scale[k] for k, v in target.items()}, scale)
        assert shifted.components == pytest.approx(dict.fromkeys(target, d))
        assert shifted.total == pytest.approx(d)
    # a statistic's units do not matter: multiplied by 1000 on both sides, the same component
    big = {k: 1000 * v for k, v in target.items()}
    moved = {k: v + 0.3 for k, v in target.items()}
    assert distance(big, {k: 1000 * v for k, v in moved.items()}, scales(big)).components == pytest.approx(
        distance(target, moved, scale).components)
    # the scale is the robust spread: a normal sample's standard deviation
    assert scales({"x": rng.normal(0, 3, 20000)})["x"] == pytest.approx(3, rel=0.03)


def test_distance_weights_and_floors():
    target = {"brightness": np.full(10, 0.5), "noise": np.zeros(10)}   # constant: the floors apply
    scale = scales(target)
    assert scale == {"brightness": FLOOR["brightness"], "noise": FLOOR["noise"]}
    d = distance(target, {"brightness": np.full(5, 0.54), "noise": np.full(3, 1.5)}, scale)
    assert d.components == pytest.approx({"brightness": 2.0, "noise": 3.0})
    assert d.total == pytest.approx(2.5)
    weighted = distance(target, {"brightness": np.full(5, 0.54), "noise": np.full(3, 1.5)}, scale,
                        weights={"noise": 3.0})
    assert weighted.total == pytest.approx((2.0 + 3 * 3.0) / 4)
    assert distance(target, {"brightness": [0.54], "noise": [1.5]}, scale, weights={"brightness": 0}).total == \
        pytest.approx(3.0)
    assert scales({"unlisted": np.ones(4)})["unlisted"] > 0


def test_distance_of_empty_samples_is_a_penalty_never_nan():
    target = {"objects": np.array([2.0, 0.0, 1.0]), "size": np.array([0.1, 0.3, 0.2]), "x": np.array([])}
    scale = scales(target)
    assert scale["x"] == FLOOR["x"] and all(np.isfinite(list(scale.values())))
    d = distance(target, {"objects": np.zeros(4), "size": np.array([]), "x": np.array([])}, scale)
    assert d.components["size"] == EMPTY_PENALTY and d.components["x"] == 0.0
    assert np.isfinite(d.components["objects"]) and np.isfinite(d.total)
    assert distance(target, {}, scale).components == {"objects": EMPTY_PENALTY, "size": EMPTY_PENALTY, "x": 0.0}
    assert distance(target, {"x": [0.5]}, scale).components["x"] == EMPTY_PENALTY
    assert distance({}, {}, {}).total == 0.0
