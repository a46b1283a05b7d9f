"""Real lenses in Cycles: a custom camera whose OSL shader traces each pixel's ray through a
:mod:`simgen.optics.lens` model, so that the image and every label pass (object index, depth,
normals) are that lens's, each at its pixel centre, with nothing resampled.

The shader inverts the lens per ray in float32: Newton's method in 2-D for OpenCV's
radial-tangential model (rational terms included), on theta for the Kannala-Brandt fisheye
(the equidistant fisheye is the one with no terms) and in closed form for the equisolid
fisheye. A ray past the model's largest angle gets no light (black, no label). The render's
first sample, whose values the label passes keep, is moved onto the pixel centre as the
pinhole camera does (:data:`simgen.blender.camera.FIRST_SAMPLE_OFFSET`).

Blender's Cycles add-on compiles the shader with the Python module ``oslquery``, which the bpy
wheel ships in its own bundled site-packages folder: :func:`compile_lens_shader` puts that
folder on ``sys.path`` (``scripts/osl_camera_probe.py`` measured why). Cycles runs OSL on the
CPU and, on GPUs, with OptiX only.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from simgen.errors import SimgenError
from simgen.blender.camera import FIRST_SAMPLE_OFFSET
from simgen.optics.camera import BLENDER_TO_OPENCV
from simgen.optics.lens import Equidistant, Equisolid, Fisheye, Lens, Pinhole, RadTan, cached_pixel_rays

SHADER_NAME = "simgen_lens.osl"

DEVICES = ("CPU", "OPTIX")
"""The Cycles devices that run OSL, hence a lens camera (CUDA, HIP, oneAPI and Metal do not)."""

MODELS = {Pinhole: 0, RadTan: 0, Fisheye: 1, Equidistant: 1, Equisolid: 2}
"""The shader's ``model`` parameter per lens class: 0 radial-tangential (a pinhole has no terms),
1 Kannala-Brandt (the equidistant lens has no terms), 2 equisolid."""

SHADER = r"""
shader simgen_lens(
    int model = 0, float W = 1, float H = 1, float du = 0, float dv = 0,
    float fx = 1, float fy = 1, float cx = 0, float cy = 0,
    float k1 = 0, float k2 = 0, float k3 = 0, float k4 = 0, float k5 = 0, float k6 = 0,
    float p1 = 0, float p2 = 0, float tmax = 3.2,
    output point position = 0, output vector direction = 0, output color throughput = 1)
{
    point r = camera_shader_raster_position();                  // 0..1 across the image, y up
    float pu = r[0] * W - 0.5 - du, pv = (1 - r[1]) * H - 0.5 + dv;  // OpenCV pixel, centres at integers
    float xd = (pu - cx) / fx, yd = (pv - cy) / fy;
    position = point(0, 0, 0);
    if (model == 0) {                                            // radial-tangential: Newton in 2-D
        float x = xd, y = yd;
        for (int i = 0; i < 40; i++) {
            float r2 = x * x + y * y;
            float n = 1 + r2 * (k1 + r2 * (k2 + r2 * k3)), d = 1 + r2 * (k4 + r2 * (k5 + r2 * k6));
            float dn = k1 + r2 * (2 * k2 + r2 * 3 * k3), dd = k4 + r2 * (2 * k5 + r2 * 3 * k6);
            float rad = n / d, drad = (dn * d - n * dd) / (d * d);     // d rad / d r2
            float ex = x * rad + 2 * p1 * x * y + p2 * (r2 + 2 * x * x) - xd;
            float ey = y * rad + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y - yd;
            float a = rad + 2 * x * x * drad + 2 * p1 * y + 6 * p2 * x;
            float b = 2 * x * y * drad + 2 * p1 * x + 2 * p2 * y;
            float d22 = rad + 2 * y * y * drad + 6 * p1 * y + 2 * p2 * x;
            float det = a * d22 - b * b;
            x -= (d22 * ex - b * ey) / det;
            y -= (a * ey - b * ex) / det;
        }
        direction = normalize(vector(x, -y, 1));                 // OSL camera axes: y up
        return;
    }
    float td = hypot(xd, yd);
    if (model == 2) {                  // equisolid, r = 2 f sin(theta / 2): no trigonometry (OSL's asin is
        if (td >= 2) { throughput = 0; return; }     // an approximation, 1e-4 off), sin and cos of theta
        direction = vector(xd * sqrt(1 - td * td / 4), -yd * sqrt(1 - td * td / 4), 1 - td * td / 2);
        return;                                      // from sin(theta / 2) = td / 2
    }
    float t = td;                                                // Kannala-Brandt: Newton on theta
    for (int i = 0; i < 40; i++) {
        float t2 = t * t;
        float f = t * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - td;
        float df = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)));
        t -= f / df;
    }
    if (t > tmax) { throughput = 0; return; }
    float s = td > 0 ? sin(t) / td : 1;
    direction = vector(xd * s, -yd * s, cos(t));
}
"""


def shader_parameters(lens: Lens, exact_labels: bool, filter_width: float) -> dict[str, float | int]:
    """The shader's parameters for ``lens``: its model, size, intrinsics and terms, and the
    first sample's offset (pixels) when ``exact_labels``."""
    kind = MODELS[type(lens)]
    off = FIRST_SAMPLE_OFFSET * filter_width if exact_labels else 0.0
    terms = dict.fromkeys(("k1", "k2", "k3", "k4", "k5", "k6", "p1", "p2"), 0.0)  # a term the model lacks is 0,
    terms.update(lens.coefficients)                                                 # not the last lens's
    values = {"W": lens.width, "H": lens.height, "du": off, "dv": off, "fx": lens.fx, "fy": lens.fy,
              "cx": lens.cx, "cy": lens.cy, "tmax": min(lens.max_angle, 3.2), **terms}
    # every float parameter as a Python float: an int property would not reach a float shader parameter
    return {"model": kind, **{k: float(v) for k, v in values.items()}}


@functools.lru_cache(maxsize=4)
def depth_per_distance(lens: Lens) -> np.ndarray:
    """(H, W) float32 factor from Cycles' Depth pass through ``lens`` (the distance along each
    pixel's ray, measured by tests/test_lens_render.py) to simgen's planar depth: each pixel
    centre's unit ray's z; inf where the lens sees nothing, so no depth is made up there."""
    z = cached_pixel_rays(lens)[..., 2]
    return np.where(np.isfinite(z) & (z > 0), z, np.inf).astype(np.float32)


def _cycles_osl():
    """The Cycles add-on's ``osl`` module, with the wheel's bundled site-packages (``oslquery``)
    on ``sys.path``."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    bundled = Path(bpy.utils.system_resource("PYTHON")) / "lib" / version / "site-packages"
    if str(bundled) not in sys.path:
        sys.path.append(str(bundled))
    addons = bpy.utils.system_resource("SCRIPTS", path="addons_core")
    if addons and addons not in sys.path:
        sys.path.append(addons)
    from cycles import osl

    return osl


def compile_lens_shader(data: bpy.types.Camera) -> None:
    """Make camera ``data`` a custom camera running :data:`SHADER` (compiled once per camera)."""
    osl = _cycles_osl()  # before the shader is set: setting it runs the add-on's update, which needs oslquery
    text = bpy.data.texts.get(SHADER_NAME) or bpy.data.texts.new(SHADER_NAME)
    if text.as_string() != SHADER:
        text.from_string(SHADER)
    data.type, data.custom_mode, data.custom_shader = "CUSTOM", "INTERNAL", text
    if data.custom_bytecode:
        return
    messages: list[str] = []
    osl.update_custom_camera_shader(data, lambda kind, message: messages.append(f"{kind}: {message}"))
    if not data.custom_bytecode:
        raise SimgenError("Cycles could not compile the lens shader: " + ("; ".join(messages) or "no message"))


def set_lens_camera(ob: bpy.types.Object, lens: Lens, camera_to_world: np.ndarray, clip: tuple[float, float],
                    exact_labels: bool, filter_width: float) -> None:
    """Shape camera object ``ob`` as ``lens`` and place it at ``camera_to_world`` (4x4, OpenCV
    camera axes), clipping at ``clip`` (start, end)."""
    data = ob.data
    compile_lens_shader(data)
    params = data.cycles_custom
    for key, value in shader_parameters(lens, exact_labels, filter_width).items():
        params[key] = value
    data.clip_start, data.clip_end = clip
    data.dof.use_dof = False
    ob.matrix_world = Matrix((camera_to_world @ BLENDER_TO_OPENCV).tolist())
