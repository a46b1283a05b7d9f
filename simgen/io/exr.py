"""Cycles' multilayer EXR -> the raw passes as numpy arrays, without Blender.

The Blender layer (:mod:`simgen.blender`) renders a frame into one multilayer float32 EXR;
reading it back needs OpenEXR and numpy only, so it can run in another thread (or process)
while the next frame renders. Cycles (bpy 5.0.1) writes one uncompressed scanline part per
pass of its view layer ``ViewLayer``, named ``ViewLayer.<pass>``, its float32 channels named
``ViewLayer.<pass>.<channel>``: ``Combined`` (R, G, B, A), ``Depth`` (Z), ``Object Index``
(X), ``Material Index`` (X), the normal label's AOV (:data:`NORMAL_AOV`: R, G, B, A) and, with light groups, each
group's ``Combined_<group>`` (R, G, B) and the denoiser's input ``Noisy Image``. Rows are top
first. The decoder reads the channels by name, whatever part holds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NotRequired, TypedDict

import numpy as np
import OpenEXR

from simgen.color.tone import display, expose
from simgen.io import scratch

NORMAL_AOV = "simgen_normal"
"""The view layer's AOV holding the normal label: the geometric (true, unsmoothed, unbumped)
world-space normal of the surface hit, which every material writes
(:func:`simgen.blender.materials.add_normal_aov`)."""
BACKGROUND_DEPTH = 1e9
"""Cycles writes 1e10 where a ray hits nothing; anything beyond this counts as no hit."""
LAYER = "ViewLayer."
"""The prefix of every pass of the render's (only) view layer."""
LAMP_PASS, WORLD_GROUP_PASS = "Combined_light", "Combined_world"
"""The passes of the light groups of lamp i (``Combined_light<i>``) and of the world."""


class RawPasses(TypedDict):
    """What :meth:`simgen.blender.BlenderBackend.render_passes` returns (all arrays row 0 = top of
    the image)."""

    rgb: np.ndarray
    """(H, W, 3) uint8 sRGB: the Combined pass metered and tone mapped by render.auto_exposure
    and render.tone (:func:`simgen.color.tone.tone_map`)."""
    index: np.ndarray
    """(H, W) int32 object pass index (= instance id) at the pixel centre; 0 = no hit."""
    depth: np.ndarray
    """(H, W) float32 planar depth along the optical axis in metres; inf = no hit."""
    normal: np.ndarray
    """(H, W, 3) float32 world-space geometric normal (:data:`NORMAL_AOV`), averaged over
    samples; 0 = no hit."""
    material: NotRequired[np.ndarray]
    """(H, W) int32 material pass index at the pixel centre (first sample, as ``index``): on a person, its
    body part's (:func:`simgen.assets.parts.body_part_pass`); where the render has the pass."""
    image: dict
    """How rgb was made (the frame meta's ``image``): tone, metered_stops, exposure_stops,
    total_stops."""
    linear: NotRequired[np.ndarray]
    """(H, W, 3) float32 exposed linear light (:func:`simgen.color.tone.expose`), rgb before its tone
    curve: only when the backend's ``keep_linear`` is set (the camera effects work on it)."""
    lights: NotRequired[np.ndarray]
    """(L + 2, H, W, 3) float32: each lamp's, the world's and the rest's share of the exposed
    linear light before denoising (:func:`_lights`): only when the backend's ``light_groups``
    is set."""
    right: NotRequired[dict]
    """camera.rig=stereo: the right view's passes, exposed as this (the left) view's
    (:class:`simgen.pipeline.renderer.StereoFrame`)."""


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
    depth_per_distance: np.ndarray | None = None
    """With a real lens: (H, W) planar depth per unit of the Depth pass, which is then each ray's
    length (simgen.blender.lens_camera.depth_per_distance)."""

    def load(self, total_stops: float | None = None) -> RawPasses:
        """The passes; ``total_stops``: expose by these stops instead of the camera's exposure and
        metering (:class:`simgen.pipeline.renderer.RenderedFrame`)."""
        try:
            passes = self.decode(*self.channels(), total_stops=total_stops)
        except (KeyError, OSError, ValueError, RuntimeError) as e:  # a truncated or missing EXR
            full = scratch.full_scratch_error(self.exr.parent, self.scratch_need, e)
            if full is not None:
                raise full from None
            raise
        self.delete()
        return passes

    def channels(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
        """The channels of :attr:`exr` and of :attr:`rgb_from` (None without it), by name."""
        return _channels(self.exr), None if self.rgb_from is None else _channels(self.rgb_from)

    def decode(self, parts: dict[str, np.ndarray], rgb_parts: dict[str, np.ndarray] | None = None,
               total_stops: float | None = None) -> RawPasses:
        """The passes of the channels ``parts`` (with depth of field, ``rgb_parts``: the RGB render's), as
        :meth:`load` makes them from this frame's files: a banded render (sensor.rolling_shutter_ms) stacks
        its bands' channels and decodes them once."""
        tone = dict(exposure=self.exposure, tone=self.tone, auto_exposure=self.auto_exposure)
        if total_stops is not None:
            tone.update(exposure=total_stops, auto_exposure=False)
        passes = passes_of(parts, keep_linear=self.keep_linear, **tone)
        if rgb_parts is not None:
            passes.update(_image(_rgb(rgb_parts, "Combined"), keep_linear=self.keep_linear, **tone))
            passes.update(_lights(rgb_parts, passes["image"]))
        if self.depth_per_distance is not None:
            with np.errstate(invalid="ignore"):  # inf x inf where nothing is hit: inf
                passes["depth"] = passes["depth"] * self.depth_per_distance
        return passes

    def delete(self) -> None:
        """Delete the frame's files."""
        for path in (self.exr, self.rgb_from):
            if path is not None:
                path.unlink()


def _channels(path: Path) -> dict[str, np.ndarray]:
    """Every channel of a multilayer EXR by name, the view layer's prefix removed."""
    out = {}
    with OpenEXR.File(str(path), separate_channels=True) as f:
        for p in f.parts:
            out.update({name.removeprefix(LAYER): c.pixels for name, c in p.channels.items()})
    return out


def _rgb(parts: dict[str, np.ndarray], name: str) -> np.ndarray:
    return np.stack([parts[f"{name}.R"], parts[f"{name}.G"], parts[f"{name}.B"]], axis=-1).astype(np.float32)


def read_linear(path: Path, exposure: float = 0.0) -> np.ndarray:
    """The (H, W, 3) float32 linear Combined pass of a multilayer EXR, times 2**exposure
    (before any metering)."""
    parts = _channels(path)
    if "Combined.R" not in parts:
        raise ValueError(f"{path} has no Combined pass")
    rgb = _rgb(parts, "Combined")
    return rgb * np.float32(2.0 ** exposure) if exposure else rgb


def _lights(parts: dict[str, np.ndarray], image: dict) -> dict:
    """``lights`` of a render with light groups (simgen.blender.session.use_light_groups): each
    lamp's share of the linear image (``Combined_light<i>``, i = 0, 1, ...), the world's
    (``Combined_world``), then the rest (emitting surfaces: the image before denoising, ``Noisy
    Image``, less the groups), (L + 2, H, W, 3) float32 exposed as the image was (its
    ``total_stops``); they sum to the image before denoising. {} without light groups."""
    if f"{WORLD_GROUP_PASS}.R" not in parts:
        return {}
    lamps = sorted((int(k[len(LAMP_PASS):-2]) for k in parts if k.startswith(LAMP_PASS) and k.endswith(".R")))
    groups = [_rgb(parts, f"{LAMP_PASS}{i}") for i in lamps] + [_rgb(parts, WORLD_GROUP_PASS)]
    noisy = _rgb(parts, "Noisy Image" if "Noisy Image.R" in parts else "Combined")
    stack = np.stack([*groups, noisy - np.sum(groups, axis=0)])
    stack *= np.float32(2.0 ** image.get("total_stops", 0.0))
    return {"lights": stack}


def _image(combined: np.ndarray, exposure: float, tone: str, auto_exposure: bool, keep_linear: bool) -> dict:
    """``rgb`` and ``image`` (and with ``keep_linear`` the exposed ``linear``) of a linear
    Combined pass (:func:`simgen.color.tone.expose`, :func:`simgen.color.tone.display`)."""
    exposed, image = expose(combined, tone=tone, auto_exposure=auto_exposure, exposure=exposure)
    out = {"rgb": display(exposed, tone), "image": image}
    if keep_linear:
        out["linear"] = exposed
    return out


def read_passes(path: Path, exposure: float = 0.0, tone: str = "standard", auto_exposure: bool = False,
                keep_linear: bool = False) -> RawPasses:
    """Read the multilayer EXR Cycles wrote into the arrays of :class:`RawPasses`; the RGB is
    :func:`simgen.color.tone.tone_map` of the linear Combined pass (``exposure``: the camera's
    drawn stops, on top of what metering picks); ``keep_linear``: also the exposed linear
    image as ``linear``."""
    return passes_of(_channels(path), exposure, tone, auto_exposure, keep_linear)


def passes_of(parts: dict[str, np.ndarray], exposure: float = 0.0, tone: str = "standard", auto_exposure: bool = False,
              keep_linear: bool = False) -> RawPasses:
    """:func:`read_passes` of a multilayer EXR's channels ``parts`` (by name, the view layer's prefix
    removed)."""
    combined = _rgb(parts, "Combined")
    index = np.rint(parts["Object Index.X"]).astype(np.int32)
    depth = parts["Depth.Z"].astype(np.float32, copy=True)
    depth[(depth > BACKGROUND_DEPTH) | (index == 0)] = np.inf
    normal = np.stack([parts[f"{NORMAL_AOV}.{c}"] for c in "RGB"], axis=-1).astype(np.float32)
    normal[index == 0] = 0.0
    image = _image(combined, exposure, tone, auto_exposure, keep_linear)
    material = {"material": np.rint(parts["Material Index.X"]).astype(np.int32)} if "Material Index.X" in parts else {}
    return RawPasses(index=index, depth=depth, normal=normal, **material, **image, **_lights(parts, image["image"]))
