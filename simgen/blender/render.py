"""Rendering the built scene with Cycles: into a multilayer EXR of its own per render (read
back without Blender by :mod:`simgen.io.exr`), or bare (Combined only, nothing written) for
timing Cycles alone."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Iterator

import bpy

from simgen.errors import SimgenError
from simgen.blender.session import BlenderLog
from simgen.io import scratch


def render_exr(scene: bpy.types.Scene, exr: Path, seed: int, scratch_need: int, blender_log: BlenderLog) -> Path:
    """Render ``scene`` with Cycles seed ``seed`` into the multilayer EXR ``exr``; returns it.
    ``scratch_need``: bytes the renders in flight need in its folder (for the error when it is
    full)."""
    scene.render.filepath = str(exr)
    scene.cycles.seed = seed % (2**31)
    with blender_log():
        bpy.ops.render.render(write_still=True)
    # Blender raises nothing when the file system is full: it logs it and leaves a truncated file
    if not exr.is_file() or scratch.free_bytes(exr.parent) < min(scratch.FULL_BELOW, scratch_need):
        raise scratch.full_scratch_error(exr.parent, scratch_need, OSError(28, "No space left on device")) \
            or SimgenError(f"Blender wrote no render into {exr.parent}; see {blender_log.path}")
    return exr


@contextlib.contextmanager
def sharp(scene: bpy.types.Scene, camera: bpy.types.Object) -> Iterator[None]:
    """Within the block, renders of ``scene`` are the labels' render of a depth-of-field frame:
    no depth of field (a pinhole camera, as K says), one sample, no denoiser, no adaptive
    sampling; all of it restored afterwards."""
    dof, c = camera.data.dof, scene.cycles
    saved = c.samples, c.use_denoising, c.use_adaptive_sampling
    dof.use_dof, c.samples, c.use_denoising, c.use_adaptive_sampling = False, 1, False, False
    try:
        yield
    finally:
        dof.use_dof, (c.samples, c.use_denoising, c.use_adaptive_sampling) = True, saved


@contextlib.contextmanager
def border(scene: bpy.types.Scene, rows: tuple[int, int]) -> Iterator[None]:
    """Within the block, renders of ``scene`` cover image rows ``[first, end)`` only (row 0 at the
    top), cropped to them: Blender's render border (its y from the bottom) and crop, without the
    denoiser (it would see one band at a time); restored afterwards. A pixel of the band is the
    whole frame's undenoised one (same rays, same seed)."""
    r = scene.render
    first, end = rows
    h = r.resolution_y * r.resolution_percentage // 100
    saved = r.use_border, r.use_crop_to_border, r.border_min_x, r.border_max_x, r.border_min_y, r.border_max_y
    denoise = scene.cycles.use_denoising
    r.use_border, r.use_crop_to_border, scene.cycles.use_denoising = True, True, False
    r.border_min_x, r.border_max_x = 0.0, 1.0
    # Blender turns the border (float32 fractions) into whole rows by rounding or truncating: a quarter
    # row's margin lands either way on the band's own rows
    r.border_min_y, r.border_max_y = (h - end + 0.25) / h, min(1.0, (h - first + 0.25) / h)
    try:
        yield
    finally:
        (r.use_border, r.use_crop_to_border, r.border_min_x, r.border_max_x, r.border_min_y,
         r.border_max_y) = saved
        scene.cycles.use_denoising = denoise


def render_bare(scene: bpy.types.Scene, seed: int, blender_log: BlenderLog) -> float:
    """Render Combined only, write nothing, read nothing back; return seconds taken."""
    vl = scene.view_layers[0]
    flags = ("use_pass_z", "use_pass_object_index")
    saved = [getattr(vl, f) for f in flags]
    for f in flags:
        setattr(vl, f, False)
    scene.cycles.seed = seed % (2**31)
    try:
        t0 = time.perf_counter()
        with blender_log():
            bpy.ops.render.render(write_still=False)
        return time.perf_counter() - t0
    finally:
        for f, v in zip(flags, saved):
            setattr(vl, f, v)
