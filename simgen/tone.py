"""From Cycles' linear Combined pass to the 8-bit sRGB image: metering and tone mapping.

Pure numpy (no Blender): the backend reads the linear pass from its EXR and calls
:func:`tone_map` on the worker thread, off the render's critical path. Labels never pass
through here.

The policy (``render.auto_exposure``, ``render.tone``):

1. **Metering** (``auto_exposure``). The frame's luminance Y (Rec.709 weights on linear
   RGB) is summarised by its *key*, the log-average ``exp(mean(log(Y + 1e-4)))`` over the
   whole frame, and an exposure of ``log2(KEY_TARGET / key)`` stops is chosen (KEY_TARGET
   = 0.18, mid grey: a frame "averages" to mid grey, what a camera's centre-weighted
   average metering does), clamped to [-METER_LIMIT, +METER_LIMIT] stops. A highlight
   guard then lowers it until at most ``CLIP_PERCENTILE`` of the pixels land above the
   tone curve's white point (:data:`HIGHLIGHT`; so at most ~1 % can clip). The drawn ``camera.exposure`` is
   added on top, as exposure compensation.
2. **Tone curve** (``tone``). ``agx``: Blender's AgX view transform (its default since
   4.0; ``view_transform = "AgX"`` in bpy 5.0.1, look None, sRGB display): mid grey 0.18
   to 0.47, black 10 stops under it, white 6.5 stops over it (linear 16.3), highlights
   rolled off and desaturated towards white instead of clipped channel by channel. Blender
   itself computes it: the backend renders a lattice of linear colours through the
   view transform once at start-up (64^3 colours, 0.3 s) (:func:`lut_inputs`,
   ``simgen.blender.session.view_transform_lut``) and the frames go through that table
   (:func:`apply_lut`, trilinear in log2 space). ``standard``: Blender's "Standard"
   transform (clip to [0, 1], sRGB curve), simgen's conversion before (no roll-off: any
   channel over 1.0 clips).
"""

from __future__ import annotations

import numpy as np

TONES = ("agx", "standard")
KEY_TARGET = 0.18
"""Linear luminance the frame's key (log-average luminance) is exposed to."""
METER_LIMIT = 8.0
"""Most stops metering may add or remove."""
CLIP_PERCENTILE = 99.0
"""The highlight guard keeps this percentile of luminance at or below the curve's white."""
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
"""Rec.709 / sRGB luminance weights of linear RGB."""

LUT_SIZE = 64
"""Lattice points per axis of the 3D lookup table that holds a Blender view transform."""
LUT_LOG2_RANGE = (float(np.log2(0.18) - 10.5), float(np.log2(0.18) + 7.0))
"""log2 of the linear values at the LUT's first and last lattice points: AgX's black is 10
stops under mid grey (0.18), its white 6.5 stops over it (16.3)."""
WHITE = {"agx": 0.18 * 2.0 ** 6.5, "standard": 1.0}
"""Linear value at which each curve reaches white."""
HIGHLIGHT = {"agx": 0.18 * 2.0 ** 6.0, "standard": 0.95}
"""Linear luminance the highlight guard keeps the CLIP_PERCENTILE pixel at or below: just
under each curve's white (8-bit 251 with standard, 0.985 of white with agx), so that the pixels
at the percentile itself do not clip."""


def lut_inputs(size: int = LUT_SIZE) -> np.ndarray:
    """(size**3, 3) linear RGB of the LUT's lattice, red slowest, blue fastest."""
    grid = np.exp2(np.linspace(*LUT_LOG2_RANGE, size)).astype(np.float32)
    r, g, b = np.meshgrid(grid, grid, grid, indexing="ij")
    return np.stack([r.ravel(), g.ravel(), b.ravel()], axis=-1)


def apply_lut(linear: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Display values of ``linear`` (..., 3) through ``lut`` ((N, N, N, 3): the display value
    of :func:`lut_inputs`), trilinear in log2 space; values beyond the lattice are clamped."""
    n = lut.shape[0]
    lo, hi = LUT_LOG2_RANGE
    shape = linear.shape
    x = np.log2(np.maximum(linear.reshape(-1, 3), np.float32(2.0 ** lo)))
    u = np.clip((x - lo) * np.float32((n - 1) / (hi - lo)), 0.0, n - 1)
    i0 = np.minimum(u.astype(np.int32), n - 2)
    f = (u - i0).astype(np.float32)
    flat = lut.reshape(-1, 3)
    base = (i0[:, 0] * n + i0[:, 1]) * n + i0[:, 2]
    out = np.zeros((len(base), 3), np.float32)
    for dr in (0, 1):
        wr = f[:, 0] if dr else 1.0 - f[:, 0]
        for dg in (0, 1):
            wg = wr * (f[:, 1] if dg else 1.0 - f[:, 1])
            for db in (0, 1):
                w = wg * (f[:, 2] if db else 1.0 - f[:, 2])
                out += w[:, None] * flat[base + (dr * n + dg) * n + db]
    return out.reshape(shape)


def luminance(linear: np.ndarray) -> np.ndarray:
    """(H, W) float32 luminance Y of linear RGB (H, W, 3): the channels weighted by
    :data:`LUMA` one by one (a matrix product would start BLAS threads that spin idle after)."""
    r, g, b = (linear[..., k] for k in range(3))
    return r * LUMA[0] + g * LUMA[1] + b * LUMA[2]


def _standard(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1.0 / 2.4) - 0.055)


def meter(linear: np.ndarray, tone: str = "agx") -> float:
    """Stops that expose ``linear`` (H, W, 3) by the policy in this module's docstring."""
    y = np.maximum(luminance(np.asarray(linear, np.float32)), 0.0)
    key = float(np.exp(np.mean(np.log(y + 1e-4))))
    stops = float(np.clip(np.log2(KEY_TARGET / key), -METER_LIMIT, METER_LIMIT))
    high = float(np.percentile(y, CLIP_PERCENTILE))
    if high > 0:
        stops = min(stops, float(np.log2(HIGHLIGHT[tone] / high)))
    return max(stops, -METER_LIMIT - 8.0)


def expose(linear: np.ndarray, tone: str = "agx", auto_exposure: bool = True,
           exposure: float = 0.0) -> tuple[np.ndarray, dict]:
    """The linear Combined pass ``linear`` (H, W, 3) times its exposure (metered stops, with
    ``auto_exposure``, plus the camera's drawn ``exposure``), float32, and what was done (the
    frame meta's ``image``): ``tone``, ``metered_stops``, ``exposure_stops``, ``total_stops``.
    This is the light that reaches the sensor, in units where metering puts mid grey at 0.18:
    where the camera effects (simgen.imaging) work, before :func:`display`."""
    if tone not in TONES:
        raise ValueError(f"tone {tone!r} is not one of {TONES}")
    linear = np.asarray(linear, np.float32)
    metered = meter(linear, tone) if auto_exposure else 0.0
    total = metered + float(exposure)
    if total:
        linear = linear * np.float32(2.0 ** total)
    return linear, {"tone": tone, "metered_stops": round(metered, 4), "exposure_stops": float(exposure),
                    "total_stops": round(total, 4)}


def display(exposed: np.ndarray, tone: str = "agx", lut: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 sRGB of an exposed linear image (:func:`expose`) through the tone curve
    ``tone``. ``lut``: the tone's lookup table (every tone but standard)."""
    if tone == "standard":
        out = _standard(exposed)
    elif lut is None:
        raise ValueError(f"tone {tone!r} needs its lookup table (simgen.blender.session.view_transform_lut)")
    else:
        out = apply_lut(exposed, lut)
    return np.rint(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8)


def tone_map(linear: np.ndarray, tone: str = "agx", auto_exposure: bool = True,
             exposure: float = 0.0, lut: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """The (H, W, 3) uint8 sRGB image of the linear Combined pass ``linear``, and what was
    done (for the frame's meta): ``tone``, ``metered_stops`` (0 without auto_exposure),
    ``exposure_stops`` (``exposure``, the camera's drawn compensation) and their sum
    ``total_stops``. ``lut``: the tone's lookup table (every tone but standard). The same as
    :func:`display` of :func:`expose`."""
    exposed, info = expose(linear, tone, auto_exposure, exposure)
    return display(exposed, tone, lut), info
