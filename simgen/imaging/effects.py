"""Camera and sensor effects on the rendered RGB: motion blur, lens blur, vignetting, sensor
noise, white balance and JPEG compression (the ``effects`` config group, docs/config.md).

They touch the RGB image only, after the labels are computed: instance and semantic ids,
depth, normals, flow and COCO stay the pinhole, pixel-centre truth of the render. Each frame
of a sequence draws the same parameters and its own noise (:func:`effects_rngs`, pure
functions of seed, sequence and frame index, apart from the scene's draws), and
:func:`apply_effects` records them; the
pipeline writes that record to the frame's meta under ``"effects"``.

Where they work: on the exposed linear image, the light that reaches the sensor (the linear
Combined pass times the metered and drawn exposure, :func:`simgen.color.tone.expose`, in units where
metering puts mid grey at 0.18 and diffuse white at 1), before the tone curve; the result goes
through the render's tone curve (AgX by default, :func:`simgen.color.tone.display`) to 8 bits, and
JPEG works on those, as in a camera. A frame for which no linear effect is drawn keeps the
backend's image byte for byte. The order is the physical one:

1. motion blur (the scene moves while the shutter is open; sequences only, along the exact
   optical flow the pipeline computed for the frame, nearer surfaces over farther ones by
   the frame's depth),
2. lens blur (the lens's point spread: a Gaussian of a drawn width, in pixels),
3. vignetting (the lens: less light reaches the image corners),
4. sensor noise (photon shot noise, Poisson, plus Gaussian read noise, on the light that
   reached the sensor),
5. white balance (the camera's per-channel gains, applied to the noisy signal),
6. the tone curve to 8-bit sRGB, then
7. JPEG compression: an encode/decode round trip at a drawn quality. The dataset keeps
   lossless PNG files (every reader of images/ stays as it is); the pixels carry the
   8x8-block and chroma artefacts of a JPEG camera.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

import numpy as np

from simgen.config import EffectsConfig
from simgen.sampling.random import blackbody_rgb, chance, integer, uniform

EFFECT_NAMES = ("motion_blur", "blur", "vignetting", "noise", "white_balance", "jpeg")
"""The effects in the order they are applied; the keys of a frame's ``meta["effects"]``."""

EFFECTS_STREAM = 0x45464658
"""Second spawn key of the effects' generators (:func:`effects_rngs`): ``SeedSequence(seed,
spawn_key=(sequence or index, EFFECTS_STREAM, 0 or 1))``, streams apart from the scene's
``spawn_key=(sequence,)``."""

REFERENCE_WHITE_K = 6500.0
"""The colour temperature of the render's white (linear sRGB 1, 1, 1 is D65, about 6500 K)."""

NEARER = 0.02
"""Motion blur: a surface covers a pixel it moves over when its depth is this fraction less
than the pixel's (so that neighbours on one slanted surface do not cover each other)."""

MAX_BLUR_SAMPLES = 64
"""Most positions along the flow that motion blur averages per pixel."""

# ------------------------------------------------------------------ the effects

def blur_samples(shutter: float, forward: np.ndarray | None, backward: np.ndarray | None, gap: int) -> int:
    """How many positions along the flow motion blur averages: about one per pixel of the
    longest path a pixel travels while the shutter is open (odd, 3 .. MAX_BLUR_SAMPLES)."""
    longest = max(float(np.abs(f).max(initial=0.0)) if f is not None else 0.0 for f in (forward, backward))
    n = int(math.ceil(shutter * longest / gap)) + 1
    n = min(max(n, 3), MAX_BLUR_SAMPLES)
    return n if n % 2 else n + 1


def motion_blur(linear: np.ndarray, shutter: float, forward: np.ndarray | None,
                backward: np.ndarray | None, gap: int = 1, samples: int | None = None,
                depth: np.ndarray | None = None) -> np.ndarray:
    """Motion blur of a sequence frame: the mean of the image at ``samples`` instants from
    ``-shutter/2`` to ``+shutter/2`` of the time between two steps, each instant made by
    moving every pixel along its own surface's optical flow.

    ``forward`` / ``backward`` (H, W, 2) are the frame's optical flow towards step t+gap and
    t-gap (OpenCV (dx, dy), pixels, as the pipeline writes them); a pixel's displacement at
    tau is the forward flow times tau/gap for tau > 0 and the backward flow times -tau/gap for
    tau < 0. At the first or last step of a sequence one of them is None and the other is
    extrapolated at constant velocity.

    The image at tau: each pixel samples the image back along its own path, at its position
    minus its displacement (bilinear, OpenCV's remap, clamped to the border: sub-pixel motion
    blurs too, and a moving object's trailing edge takes the background beside it, which
    the render never saw behind it); where a surface nearer by more than
    :data:`NEARER` (``depth``, planar metres) arrives at a pixel (moved to the nearest
    pixel of its displaced position, the nearest such surface), it covers it, so a moving
    object smears over what lies behind it, beyond its outline, and never over what lies in
    front. ``depth`` None: no surface covers another (blur within outlines only). Pixels with
    zero flow that nothing nearer passes over keep their value (their byte).
    """
    if forward is None and backward is None:
        raise ValueError("motion blur needs the forward or the backward flow of the frame")
    import cv2

    h, w = linear.shape[:2]
    fwd = np.asarray(forward if forward is not None else -np.asarray(backward), np.float32)
    bwd = np.asarray(backward if backward is not None else -np.asarray(forward), np.float32)
    n = samples if samples is not None else blur_samples(shutter, forward, backward, gap)
    u = np.arange(w, dtype=np.float32)[None, :]
    v = np.arange(h, dtype=np.float32)[:, None]
    image = np.ascontiguousarray(linear, np.float32)
    flat = image.reshape(h * w, -1)
    z = None if depth is None else np.nan_to_num(np.asarray(depth, np.float64).ravel(), nan=np.inf)
    if z is not None:  # a unique rank per pixel, nearer surfaces first (the z-buffer's order)
        order = np.lexsort((np.arange(h * w), z))
        rank = np.empty(h * w, np.int64)
        rank[order] = np.arange(h * w)
    acc = np.zeros(linear.shape, np.float64)
    for tau in np.linspace(-shutter / 2, shutter / 2, n):
        d = (fwd if tau >= 0 else bwd) * np.float32(abs(tau) / gap)
        # back along the pixel's own path (an integer position returns the pixel exactly)
        frame = cv2.remap(image, u - d[..., 0], v - d[..., 1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE).reshape(h * w, -1)
        if z is not None:  # nearer surfaces arriving from elsewhere cover the pixel
            tx = np.floor(u + d[..., 0] + 0.5).astype(np.int64).ravel()  # the nearest pixel (halves up)
            ty = np.floor(v + d[..., 1] + 0.5).astype(np.int64).ravel()
            inside = np.flatnonzero((tx >= 0) & (tx < w) & (ty >= 0) & (ty < h))
            target = ty[inside] * w + tx[inside]
            best = np.full(h * w, h * w, np.int64)
            np.minimum.at(best, target, rank[inside])
            hit = np.flatnonzero(best < h * w)
            source = order[best[hit]]
            cover = z[source] < z[hit] * (1.0 - NEARER)
            frame[hit[cover]] = flat[source[cover]]
        acc += frame.reshape(linear.shape)
    return acc / n


def lens_blur(linear: np.ndarray, sigma: float) -> np.ndarray:
    """The image seen through a lens whose point spread is a Gaussian of ``sigma`` pixels (its
    standard deviation), on linear light; the image's edge pixels repeated beyond it."""
    import cv2

    return cv2.GaussianBlur(np.ascontiguousarray(linear, np.float32), (0, 0), sigmaX=float(sigma),
                            borderType=cv2.BORDER_REPLICATE)


def vignetting_map(height: int, width: int, K: np.ndarray, strength: float) -> np.ndarray:
    """(H, W) relative illumination ``(cos^4 theta)^strength``, theta the angle of the pixel's
    ray to the optical axis through K: 1 at the principal point, falling radially (in the
    normalised image plane); strength 1 is the natural cos^4 law of a thin lens."""
    K = np.asarray(K, float)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    x = (np.arange(width, dtype=np.float64)[None, :] - cx) / fx
    y = (np.arange(height, dtype=np.float64)[:, None] - cy) / fy
    return (1.0 + x * x + y * y) ** (-2.0 * strength)  # cos^2 theta = 1 / (1 + x^2 + y^2)


def sensor_noise(linear: np.ndarray, rng: np.random.Generator, full_well: float, read_noise: float,
                 white: float = 1.0) -> np.ndarray:
    """Poisson-Gaussian sensor noise on exposed linear light (mid grey at 0.18, diffuse white
    at 1): ``Poisson(x * full_well) / full_well + N(0, read_noise^2)``, clipped to [0, white]
    (``white``: where the sensor saturates, the tone curve's white); the variance at linear
    value x is ``x / full_well + read_noise^2``: ``full_well`` electrons make linear 1."""
    electrons = rng.poisson(np.clip(linear, 0.0, None) * full_well)
    noisy = electrons / full_well + rng.normal(0.0, read_noise, size=linear.shape)
    return np.clip(noisy, 0.0, white)


def white_balance_gains(temperature: float) -> np.ndarray:
    """Per-channel gains (R, G, B) of a camera white-balanced for a ``temperature`` (K)
    illuminant while the scene's white is :data:`REFERENCE_WHITE_K`: the gains that would
    neutralise that illuminant, ``blackbody(6500 K) / blackbody(T)``, scaled to geometric
    mean 1 (brightness kept). T < 6500 K tints the image blue, T > 6500 K orange."""
    g = np.asarray(blackbody_rgb(REFERENCE_WHITE_K)) / np.asarray(blackbody_rgb(temperature))
    return g / np.exp(np.log(g).mean())


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """uint8 RGB encoded as a baseline JPEG (libjpeg through OpenCV, 4:2:0 chroma) at
    ``quality`` (1..100) and decoded again: the image with JPEG's artefacts."""
    import cv2

    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("OpenCV could not encode the image as JPEG")
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])


# ------------------------------------------------------------------ per frame

def effects_rngs(seed: int, sequence: int, index: int, view: int = 0) -> tuple[np.random.Generator, np.random.Generator]:
    """``(draws, noise)`` generators of frame ``index`` of sequence ``sequence``: the effects'
    parameters are drawn once per sequence (every step the same, as one camera films a
    clip: the same shutter, vignetting, noise level, white balance and JPEG quality), the
    noise itself per frame. Pure functions of (seed, sequence) and (seed, index), apart from
    the scene's draws (turning effects on leaves every scene as it was). With
    sequence.length 1 the sequence is the frame's index. ``view`` 1: a stereo pair's right view
    (the same parameters, its own noise)."""
    def rng(key: int, stream: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(key, EFFECTS_STREAM, stream)))
    return rng(sequence, 0), rng(index, 1 + view)


def effects_enabled(cfg: EffectsConfig) -> bool:
    """Whether any effect can happen (any probability > 0); if not, the RGB and the meta stay
    exactly as without the effects group."""
    return any(p > 0 for p in (cfg.motion_blur_probability, cfg.blur_probability, cfg.vignetting_probability,
                               cfg.noise_probability, cfg.white_balance_probability, cfg.jpeg_probability))


def draw_effects(cfg: EffectsConfig, rng: np.random.Generator, sequence: bool) -> dict:
    """One frame's effect parameters, {effect: parameters or None (not applied)} in the order of
    :data:`EFFECT_NAMES`. ``sequence``: the frame has optical flow (sequence.length > 1);
    a single frame never gets motion blur and draws nothing for it."""
    out: dict = dict.fromkeys(EFFECT_NAMES)
    if sequence and chance(rng, cfg.motion_blur_probability):
        out["motion_blur"] = {"shutter": uniform(rng, cfg.shutter)}
    if chance(rng, cfg.vignetting_probability):
        out["vignetting"] = {"strength": uniform(rng, cfg.vignetting)}
    if chance(rng, cfg.noise_probability):
        out["noise"] = {"full_well": uniform(rng, cfg.full_well), "read_noise": uniform(rng, cfg.read_noise)}
    if chance(rng, cfg.white_balance_probability):
        t = uniform(rng, cfg.white_balance_temperature)
        out["white_balance"] = {"temperature": t, "gains": [float(g) for g in white_balance_gains(t)]}
    if chance(rng, cfg.jpeg_probability):
        out["jpeg"] = {"quality": integer(rng, cfg.jpeg_quality)}
    if chance(rng, cfg.blur_probability):  # drawn last: the effects drawn before it stay as they were
        out["blur"] = {"sigma": uniform(rng, cfg.blur)}
    return out


LINEAR_EFFECTS = EFFECT_NAMES[:5]
"""The effects that work on the exposed linear image (all but JPEG)."""


def apply_effects(linear: np.ndarray | None, rgb: np.ndarray | None, cfg: EffectsConfig,
                  rngs: tuple[np.random.Generator, np.random.Generator], K: np.ndarray,
                  flows: Mapping[str, np.ndarray | None] | None = None, gap: int = 1,
                  depth: np.ndarray | None = None, to_display: Callable[[np.ndarray], np.ndarray] | None = None,
                  white: float = 1.0) -> tuple[np.ndarray, dict]:
    """The frame's RGB (H, W, 3) uint8 with its camera effects, and their record for the meta.

    ``linear``: the exposed linear image the backend tone mapped into ``rgb``
    (:func:`simgen.color.tone.expose`); motion blur, lens blur, vignetting, sensor noise and white balance work
    on it, ``to_display`` (the render's tone curve, :func:`simgen.color.tone.display`) makes the
    8-bit image of the result, and JPEG works on that. ``white``: the linear value at which
    the tone curve reaches white, where the sensor saturates (:data:`simgen.color.tone.WHITE`).
    ``rngs``: the frame's :func:`effects_rngs` (parameters, noise). ``K``: the frame's
    intrinsics (vignetting is centred on its principal point). ``flows``: {"forward",
    "backward"} (H, W, 2) optical flow of a sequence frame (None or {} for a single frame);
    ``gap``: sequence.gap, the steps the flow spans; ``depth``: the frame's planar depth
    (which surface is in front when motion blur moves them). Where no linear effect is drawn,
    ``rgb`` itself goes on (JPEG, or unchanged); ``rgb`` None: the tone curve of ``linear`` is
    made only then (for a caller that has not made it yet)."""
    flows = {k: v for k, v in (flows or {}).items() if v is not None}
    draws, noise = rngs
    record = draw_effects(cfg, draws, sequence=bool(flows))
    out = rgb
    if any(record[name] for name in LINEAR_EFFECTS):
        if linear is None or to_display is None:
            raise ValueError("the camera effects need the exposed linear image and the tone curve")
        x = np.asarray(linear, np.float32)
        if record["motion_blur"]:
            fwd, bwd = flows.get("forward"), flows.get("backward")
            n = blur_samples(record["motion_blur"]["shutter"], fwd, bwd, gap)
            record["motion_blur"]["samples"] = n
            x = motion_blur(x, record["motion_blur"]["shutter"], fwd, bwd, gap, n, depth)
        if record["blur"]:
            x = lens_blur(x, record["blur"]["sigma"])
        if record["vignetting"]:
            x = x * vignetting_map(*x.shape[:2], K, record["vignetting"]["strength"])[..., None]
        if record["noise"]:
            x = sensor_noise(x, noise, record["noise"]["full_well"], record["noise"]["read_noise"], white)
        if record["white_balance"]:
            x = x * np.asarray(record["white_balance"]["gains"])
        out = to_display(np.asarray(x, np.float32))
    elif out is None:
        if linear is None or to_display is None:
            raise ValueError("without rgb, the camera effects need the exposed linear image and the tone curve")
        out = to_display(np.asarray(linear, np.float32))
    if record["jpeg"]:
        out = jpeg_roundtrip(out, record["jpeg"]["quality"])
    return out, record
