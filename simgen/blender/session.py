"""The Blender session: what is set up once per process and kept for every frame.

Blender reset to factory settings, the scene's render settings (Cycles, resolution, sampling,
the label passes, a float32 multilayer EXR as output), the Cycles device (a GPU where one is
asked for and usable, else the CPU with a clear message) and Blender's C-level chatter kept in
a log file.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ContextManager

import bpy

from simgen.errors import SimgenError
from simgen.config import RenderConfig
from simgen.io.exr import NORMAL_AOV
from simgen.child_processes import quiet_fds

log = logging.getLogger(__name__)

GPU_BACKENDS = {"optix": "OPTIX", "cuda": "CUDA", "hip": "HIP", "oneapi": "ONEAPI", "metal": "METAL"}
"""render.device -> Cycles' compute_device_type."""


@dataclass(frozen=True)
class BlenderLog:
    """Where Blender's own output goes: ``path`` when ``quiet``, else the terminal."""

    path: Path
    quiet: bool = True

    def __call__(self) -> ContextManager[None]:
        """``with blender_log():`` runs its block with Blender's output sent where it goes."""
        return quiet_fds(self.path) if self.quiet else contextlib.nullcontext()


def factory_scene(blender_log: BlenderLog) -> bpy.types.Scene:
    """Reset Blender to its empty factory state; return its (only) scene."""
    with blender_log():
        bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def setup_scene(s: bpy.types.Scene, r: RenderConfig) -> None:
    """Cycles at ``r``'s resolution and sampling; Blender's own colour management neutral (simgen
    tone maps the linear Combined pass itself); the label passes on; a float32 multilayer EXR
    as the render's file."""
    s.render.engine = "CYCLES"
    s.render.resolution_x = r.width
    s.render.resolution_y = r.height
    s.render.resolution_percentage = 100
    s.render.use_motion_blur = False
    s.render.film_transparent = False
    if r.threads > 0:
        s.render.threads_mode = "FIXED"
        s.render.threads = r.threads
    configure_sampling(s, r)
    s.cycles.pixel_filter_type = "BLACKMAN_HARRIS"  # FIRST_SAMPLE_OFFSET (simgen.blender.camera) is this filter's
    s.cycles.filter_width = r.filter_width
    # Blender writes no image: simgen tone maps the EXR's linear Combined (simgen.color.tone)
    s.view_settings.view_transform = "Standard"
    s.view_settings.look = "None"
    s.view_settings.exposure = 0.0
    s.view_settings.gamma = 1.0
    s.display_settings.display_device = "sRGB"
    vl = s.view_layers[0]
    vl.use_pass_combined = True
    vl.use_pass_z = True
    vl.use_pass_object_index = True
    # a person's body parts: the material pass index of its faces (simgen.assets.parts), first sample only
    vl.use_pass_material_index = True
    # the normal label is the geometric normal, written by every material to an AOV: Cycles'
    # Normal pass would follow smooth shading, normal maps and bump (appearance, not geometry)
    aov = vl.aovs.add()
    aov.name, aov.type = NORMAL_AOV, "COLOR"
    im = s.render.image_settings
    im.media_type = "MULTI_LAYER_IMAGE"
    im.file_format = "OPEN_EXR_MULTILAYER"
    im.color_depth = "32"  # float32 labels: half floats lose depth precision
    im.exr_codec = "NONE"  # a temp file in RAM; compression only costs time


WORLD_GROUP = "world"
"""The light group of the world light (the lamps': ``light<i>``, :func:`light_group`)."""


def light_group(i: int) -> str:
    """The light group of the scene's lamp ``i`` (its pass: ``Combined_light<i>``)."""
    return f"light{i}"


def use_light_groups(s: bpy.types.Scene, lamps: int) -> None:
    """Light groups for ``lamps`` lamps and the world, so that the EXR holds each light's share
    of the image (``Combined_<group>``, before denoising; :func:`simgen.io.exr.read_passes`) and,
    with the denoiser, the image before it (``Noisy Image``). Groups are only added: a scene with
    fewer lamps leaves the others' passes black."""
    vl = s.view_layers[0]
    have = {g.name for g in vl.lightgroups}
    for name in [WORLD_GROUP, *(light_group(i) for i in range(lamps))]:
        if name not in have:
            vl.lightgroups.add(name=name)
    vl.cycles.denoising_store_passes = True


def sync_anew(s: bpy.types.Scene) -> None:
    """Make Cycles drop the scene it keeps between frames (render.persistent_data), so that the
    next render syncs it anew (Blender frees a scene's kept renderer when persistent data is
    turned off); later renders keep it again."""
    s.render.use_persistent_data = False
    s.render.use_persistent_data = True


def configure_sampling(s: bpy.types.Scene, r: RenderConfig) -> None:
    """Samples, adaptive sampling, light-path clamping and the denoiser of ``r`` (all of
    them touch the Combined pass only: the label passes keep the first sample)."""
    c = s.cycles
    c.samples = r.samples
    c.use_adaptive_sampling = r.adaptive_threshold > 0
    if r.adaptive_threshold > 0:
        c.adaptive_threshold = r.adaptive_threshold
        c.adaptive_min_samples = 0  # Cycles' automatic minimum
    c.sample_clamp_direct = r.clamp_direct
    c.sample_clamp_indirect = r.clamp_indirect
    c.use_denoising = r.denoise
    if r.denoise:
        c.denoiser = "OPENIMAGEDENOISE"
        c.denoising_input_passes = "RGB_ALBEDO_NORMAL"
        c.denoising_prefilter = r.denoise_prefilter.upper()


def pick_gpus(count: int, index: int, backend: str) -> list[int]:
    """Which of ``count`` GPUs of ``backend`` to use for render.device_index ``index``."""
    if index < 0:
        return list(range(count))
    if index >= count:
        raise SimgenError(f"render.device_index={index}, but this process sees {count} {backend} GPU(s) "
                          f"(0..{count - 1}); lower it, or use -1 for all")
    return [index]


def setup_device(s: bpy.types.Scene, device: str, device_index: int, blender_log: BlenderLog) -> str:
    """Pick the Cycles device of render.device ``device`` (and render.device_index); returns
    "CPU" or the GPU backend used. Logs the choice; a GPU asked for by name that is not usable
    here falls back to the CPU with a warning."""
    if device == "cpu":
        s.cycles.device = "CPU"
        log.info("Cycles device: CPU")
        return "CPU"
    wanted = list(GPU_BACKENDS.values()) if device == "auto" else [GPU_BACKENDS[device]]
    with blender_log():
        prefs = bpy.context.preferences.addons["cycles"].preferences
    for backend in wanted:
        try:
            prefs.compute_device_type = backend
        except TypeError:  # this Blender build or machine has no such backend
            continue
        with blender_log():  # driver probing prints warnings of its own
            prefs.get_devices()
        gpus = [d for d in prefs.devices if d.type == backend]
        if gpus:
            use = pick_gpus(len(gpus), device_index, backend)
            for d in prefs.devices:
                d.use = False
            for i in use:
                gpus[i].use = True
            s.cycles.device = "GPU"
            log.info("Cycles device: GPU via %s (%s)", backend, ", ".join(gpus[i].name for i in use))
            return backend
    s.cycles.device = "CPU"
    msg = "Cycles device: CPU (no %s GPU found)" % "/".join(wanted)
    if device == "auto":
        log.info(msg)
    else:
        log.warning("render.device=%s requested but no such GPU is usable here; falling back to CPU", device)
    return "CPU"
