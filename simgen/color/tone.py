"""From Cycles' linear Combined pass to the 8-bit sRGB image: metering and tone mapping.

numpy and OpenColorIO, no Blender (bpy is never imported): the backend reads the linear pass
from its EXR and calls :func:`tone_map` on a worker thread, off the render's critical path.
Labels never pass through here. It also holds the colour maths the rest of simgen shares: the
sRGB decoding curve (:func:`srgb_to_linear`) and the luminance weights (:data:`LUMA`).

The policy (``render.auto_exposure``, ``render.tone``):

1. **Metering** (``auto_exposure``). The frame's luminance Y (Rec.709 weights on linear
   RGB) is summarised by its *key*, the log-average ``exp(mean(log(Y + 1e-4)))`` over the
   whole frame, and an exposure of ``log2(KEY_TARGET / key)`` stops is chosen (KEY_TARGET
   = 0.18, mid grey: a frame "averages" to mid grey, what a camera's centre-weighted
   average metering does), clamped to [-METER_LIMIT, +METER_LIMIT] stops. A highlight
   guard then lowers it until at most ``CLIP_PERCENTILE`` of the pixels land above the
   tone curve's white point (:data:`HIGHLIGHT`; so at most ~1 % can clip). The drawn ``camera.exposure`` is
   added on top, as exposure compensation.
2. **Tone curve** (``tone``): Blender's own view transform (sRGB display, look None,
   exposure 0, gamma 1), applied by OpenColorIO's CPU processor on the config that ships in
   the bpy wheel (:mod:`simgen.color.ocio`): the library, config and LUT files Blender uses
   (tests/test_tone.py checks the 8-bit image against Blender's own saved output: within one
   level everywhere). ``agx``: the AgX view (Blender's default since 4.0): mid grey 0.18 to
   0.47, black 10 stops under it, white 6.5 stops over it (linear 16.3), highlights rolled
   off and desaturated towards white instead of clipped channel by channel. ``standard``:
   the Standard view (clip to [0, 1], sRGB curve), simgen's conversion before (no roll-off:
   any channel over 1.0 clips). The display values are clipped to [0, 1] and rounded to 8
   bits.
"""

from __future__ import annotations

import numpy as np

from simgen.color.ocio import view_processor

VIEWS = {"agx": "AgX", "standard": "Standard"}
"""render.tone -> the view of Blender's colour management (bpy 5.0.1) on the sRGB display."""
TONES = tuple(VIEWS)
KEY_TARGET = 0.18
"""Linear luminance the frame's key (log-average luminance) is exposed to."""
METER_LIMIT = 8.0
"""Most stops metering may add or remove."""
CLIP_PERCENTILE = 99.0
"""The highlight guard keeps this percentile of luminance at or below the curve's white."""
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
"""Rec.709 / sRGB luminance weights of linear RGB (the one definition: simgen.fit.stats uses them
as a 1x3 matrix, ``LUMA[None]``)."""

WHITE = {"agx": 0.18 * 2.0 ** 6.5, "standard": 1.0}
"""Linear value at which each curve reaches white."""
HIGHLIGHT = {"agx": 0.18 * 2.0 ** 6.0, "standard": 0.95}
"""Linear luminance the highlight guard keeps the CLIP_PERCENTILE pixel at or below: just
under each curve's white (8-bit 251 with standard, 0.985 of white with agx), so that the pixels
at the percentile itself do not clip."""


def srgb_to_linear(c, clip: bool = False) -> np.ndarray:
    """The sRGB decoding curve (IEC 61966-2-1): sRGB-encoded values to linear light, value by value.

    ``c / 12.92`` at or below 0.04045, ``((c + 0.055) / 1.055) ** 2.4`` above. Any shape. A float
    array keeps its own dtype (float32 in, float32 out); anything else (Python numbers, lists,
    integer arrays) is worked in float64. With ``clip`` the values are first clipped to [0, 1];
    without it the formula is applied as it stands: values below 0 take the linear part (negative
    out), values above 1 the power part (above 1 out). NaN stays NaN. The one definition of the
    curve in simgen (materials, colour draws and the fit's image statistics use it)."""
    c = np.asarray(c)
    if c.dtype.kind != "f":
        c = c.astype(np.float64)
    if clip:
        c = np.clip(c, 0.0, 1.0)
    # np.maximum keeps the power's base positive where the linear part is taken (no NaN warning)
    return np.where(c <= 0.04045, c / 12.92, ((np.maximum(c, 0.04045) + 0.055) / 1.055) ** 2.4)


def luminance(linear: np.ndarray) -> np.ndarray:
    """(H, W) float32 luminance Y of linear RGB (H, W, 3): the channels weighted by
    :data:`LUMA` one by one (a matrix product would start BLAS threads that spin idle after)."""
    r, g, b = (linear[..., k] for k in range(3))
    return r * LUMA[0] + g * LUMA[1] + b * LUMA[2]


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


def display(exposed: np.ndarray, tone: str = "agx") -> np.ndarray:
    """(H, W, 3) uint8 sRGB of an exposed linear image (:func:`expose`) through Blender's view
    transform of ``tone`` (:data:`VIEWS`, applied by OpenColorIO: :mod:`simgen.color.ocio`), clipped
    to [0, 1] and rounded to 8 bits."""
    if tone not in VIEWS:
        raise ValueError(f"tone {tone!r} is not one of {TONES}")
    out = np.array(exposed, np.float32, order="C")  # a copy: the processor works in place
    view_processor(VIEWS[tone]).applyRGB(out)
    np.clip(out, 0.0, 1.0, out=out)
    out *= 255.0
    return np.rint(out, out=out).astype(np.uint8)


def tone_map(linear: np.ndarray, tone: str = "agx", auto_exposure: bool = True,
             exposure: float = 0.0) -> tuple[np.ndarray, dict]:
    """The (H, W, 3) uint8 sRGB image of the linear Combined pass ``linear``, and what was
    done (for the frame's meta): ``tone``, ``metered_stops`` (0 without auto_exposure),
    ``exposure_stops`` (``exposure``, the camera's drawn compensation) and their sum
    ``total_stops``. The same as :func:`display` of :func:`expose`."""
    exposed, info = expose(linear, tone, auto_exposure, exposure)
    return display(exposed, tone), info
