"""Cycles' multilayer EXR -> the raw passes as numpy arrays, without Blender.

The Blender layer (:mod:`simgen.blender`) renders a frame into one multilayer float32 EXR;
reading it back needs OpenEXR and numpy only, so it can run in another thread (or process)
while the next frame renders. Cycles (bpy 5.0.1) writes one uncompressed scanline part per
pass of its view layer ``ViewLayer``, named ``ViewLayer.<pass>``, its float32 channels named
``ViewLayer.<pass>.<channel>``: ``Combined`` (R, G, B, A), ``Depth`` (Z), ``Object Index``
(X), the normal label's AOV (:data:`NORMAL_AOV`: R, G, B, A) and, with the denoiser,
``Noisy Image``. Rows are top first. The decoder reads the channels by name, whatever part
holds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NotRequired, TypedDict

import numpy as np
import OpenEXR

from simgen.io import scratch
from simgen.tone import display, expose

NORMAL_AOV = "simgen_normal"
"""The view layer's AOV holding the normal label: the geometric (true, unsmoothed, unbumped)
world-space normal of the surface hit, which every material writes
(:func:`simgen.blender.materials.add_normal_aov`)."""
BACKGROUND_DEPTH = 1e9
"""Cycles writes 1e10 where a ray hits nothing; anything beyond this counts as no hit."""
LAYER = "ViewLayer."
"""The prefix of every pass of the render's (only) view layer."""


class RawPasses(TypedDict):
    """What :meth:`simgen.blender.BlenderBackend.render` returns (all arrays row 0 = top of
    the image)."""

    rgb: np.ndarray
    """(H, W, 3) uint8 sRGB: the Combined pass metered and tone mapped by render.auto_exposure
    and render.tone (:func:`simgen.tone.tone_map`)."""
    index: np.ndarray
    """(H, W) int32 object pass index (= instance id) at the pixel centre; 0 = no hit."""
    depth: np.ndarray
    """(H, W) float32 planar depth along the optical axis in metres; inf = no hit."""
    normal: np.ndarray
    """(H, W, 3) float32 world-space geometric normal (:data:`NORMAL_AOV`), averaged over
    samples; 0 = no hit."""
    image: dict
    """How rgb was made (the frame meta's ``image``): tone, metered_stops, exposure_stops,
    total_stops."""
    linear: NotRequired[np.ndarray]
    """(H, W, 3) float32 exposed linear light (:func:`simgen.tone.expose`), rgb before its tone
    curve: only when the backend's ``keep_linear`` is set (the camera effects work on it)."""


@dataclass(frozen=True)
class RenderedFiles:
    """One frame's render as EXR files in the backend's temporary folder (on /dev/shm where
    there is one); :meth:`load` reads them into :class:`RawPasses` and deletes them."""

    exr: Path
    """Every pass (with depth of field: of the sharp one-sample render)."""
    exposure: float = 0.0
    """Stops applied to the linear Combined pass (see :func:`read_passes`)."""
    rgb_from: Path | None = None
    """With depth of field: the render whose Combined pass is the RGB."""
    tone: str = "standard"
    auto_exposure: bool = False
    """render.tone and render.auto_exposure (see :func:`read_passes`)."""

    keep_linear: bool = False
    """Also return the exposed linear image (``linear``, for the camera effects)."""
    scratch_need: int = 0
    """Bytes the renders in flight need in the scratch folder (for the error when it is full)."""

    def load(self) -> RawPasses:
        tone = dict(exposure=self.exposure, tone=self.tone, auto_exposure=self.auto_exposure)
        try:
            passes = read_passes(self.exr, keep_linear=self.keep_linear, **tone)
            if self.rgb_from is not None:
                passes.update(_image(read_linear(self.rgb_from), keep_linear=self.keep_linear, **tone))
        except (KeyError, OSError, ValueError, RuntimeError) as e:  # a truncated or missing EXR
            full = scratch.full_scratch_error(self.exr.parent, self.scratch_need, e)
            if full is not None:
                raise full from None
            raise
        for path in (self.exr, self.rgb_from):
            if path is not None:
                path.unlink()
        return passes


def read_linear(path: Path, exposure: float = 0.0) -> np.ndarray:
    """The (H, W, 3) float32 linear Combined pass of a multilayer EXR, times 2**exposure
    (before any metering)."""
    with OpenEXR.File(str(path), separate_channels=True) as f:
        for p in f.parts:
            ch = {name.removeprefix(LAYER): c.pixels for name, c in p.channels.items()}
            if "Combined.R" in ch:
                rgb = np.stack([ch["Combined.R"], ch["Combined.G"], ch["Combined.B"]], axis=-1).astype(np.float32)
                return rgb * np.float32(2.0 ** exposure) if exposure else rgb
    raise ValueError(f"{path} has no Combined pass")


def _image(combined: np.ndarray, exposure: float, tone: str, auto_exposure: bool, keep_linear: bool) -> dict:
    """``rgb`` and ``image`` (and with ``keep_linear`` the exposed ``linear``) of a linear
    Combined pass (:func:`simgen.tone.expose`, :func:`simgen.tone.display`)."""
    exposed, image = expose(combined, tone=tone, auto_exposure=auto_exposure, exposure=exposure)
    out = {"rgb": display(exposed, tone), "image": image}
    if keep_linear:
        out["linear"] = exposed
    return out


def read_passes(path: Path, exposure: float = 0.0, tone: str = "standard", auto_exposure: bool = False,
                keep_linear: bool = False) -> RawPasses:
    """Read the multilayer EXR Cycles wrote into the arrays of :class:`RawPasses`; the RGB is
    :func:`simgen.tone.tone_map` of the linear Combined pass (``exposure``: the camera's
    drawn stops, on top of what metering picks); ``keep_linear``: also the exposed linear
    image as ``linear``."""
    parts = {}
    with OpenEXR.File(str(path), separate_channels=True) as f:
        for p in f.parts:
            parts.update({name.removeprefix(LAYER): ch.pixels for name, ch in p.channels.items()})
    combined = np.stack([parts["Combined.R"], parts["Combined.G"], parts["Combined.B"]], axis=-1)
    index = np.rint(parts["Object Index.X"]).astype(np.int32)
    depth = parts["Depth.Z"].astype(np.float32, copy=True)
    depth[(depth > BACKGROUND_DEPTH) | (index == 0)] = np.inf
    normal = np.stack([parts[f"{NORMAL_AOV}.{c}"] for c in "RGB"], axis=-1).astype(np.float32)
    normal[index == 0] = 0.0
    return RawPasses(index=index, depth=depth, normal=normal,
                     **_image(combined, exposure, tone, auto_exposure, keep_linear))
