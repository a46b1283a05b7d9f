#!/usr/bin/env python3
"""Can the bpy wheel render through a custom (OSL) camera? A measured answer: it can, and calibrated
lenses render that way (docs/how-to/real-cameras.md).

    python scripts/osl_camera_probe.py [--size 64x48] [--samples 4] [--device cpu|optix|cuda]

Blender's Cycles add-on compiles a custom camera's OSL shader and reads its parameters with the
Python module ``oslquery``. The bpy wheel ships it, in bpy's own bundled site-packages folder
(``bpy/<version>/python/lib/python3.11/site-packages``), which is not on ``sys.path`` when bpy is
imported as a module: setting a custom camera's shader then fails with "No module named
'oslquery'". With that folder on ``sys.path`` this script renders one scene (an emissive checker
plane seen from a tilted camera, no denoising) twice, through Cycles' own perspective camera and
through an OSL shader of the same pinhole, and through a shader that looks its rays up in an
image (``texture()``), and prints how far each is from the perspective render (mean and largest
absolute difference of linear RGB) and the render times. Then it renders through two real lenses
written as OSL shaders that invert the lens model per ray (a fisheye, Kannala-Brandt k1..k4, and
a wide-angle OpenCV radial-tangential lens; since simgen.blender.lens_camera, its shader), the world emitting each ray's direction, and prints
how far each pixel's rendered ray lands from its pixel centre when projected through
simgen.optics.lens (checked against OpenCV by tests/test_lens.py). Exit status 1 when the OSL
pinhole differs from the perspective camera or a lens is off by 0.01 px or more.

Measured here (bpy 5.0.1, 64x48, 4 samples, 2 CPU cores): the OSL pinhole equals the perspective
render exactly (difference 0.0; about 0.03 s a render either way); the ``texture()`` lookup does
not work inside a camera shader (mean difference 0.36: the lens must be computed in the shader,
not looked up), and ``getattribute("cam:image_resolution")`` read nothing (the aspect ratio is a
shader parameter here). The fisheye and the wide-angle lens, inverted in the shader in float32,
put every pixel's ray within 3e-5 px of its pixel centre at 160x120 (0.01 px is the labels'
tolerance): exact labels through a real lens can come from Cycles' custom camera. Such a render took
about 0.8 s against 0.05 s for the plain pinhole shader (the loops, or compiling them: not yet known).

On OptiX (one NVIDIA H200, 640x480, 4 samples): the first OSL compile took minutes (the first
run was stopped at 100 s); then the OSL pinhole took 5.3 s to its first image and matched the
perspective camera (mean difference 2e-6; one pixel at an edge 0.15 off, so the exit status is
1 there), and each lens took about 0.8 s against 0.42 s for the perspective camera, its rays
within 1.3e-4 px of the pixel centres. Cycles runs OSL on the GPU with OptiX only, not CUDA.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

PINHOLE = """
shader pinhole(float focal = 35, float sensor = 36, float aspect = 0.75, output point position = 0,
               output vector direction = 0, output color throughput = 1) {
    point r = camera_shader_raster_position();  // 0..1 across the image, y up
    direction = normalize(vector((r[0] - 0.5) * sensor, (r[1] - 0.5) * sensor * aspect, focal));
    position = point(0, 0, 0);
}
"""

LOOKUP = """
shader lookup(string rays = "", output point position = 0, output vector direction = 0, output color throughput = 1) {
    point r = camera_shader_raster_position();
    color d = texture(rays, r[0], 1 - r[1], "interp", "linear", "wrap", "clamp");
    direction = normalize(vector(d[0], d[1], d[2]));
    position = point(0, 0, 0);
}
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="64x48")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--keep", action="store_true", help="keep the renders (in a temporary folder)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "optix", "cuda"],
                    help="Cycles device (a GPU backend must have a device here; OSL cameras need OptiX on GPUs)")
    a = ap.parse_args()
    width, height = (int(v) for v in a.size.split("x"))

    import bpy
    import numpy as np

    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    bundled = Path(bpy.utils.system_resource("PYTHON")) / "lib" / version / "site-packages"
    if str(bundled) not in sys.path:
        sys.path.append(str(bundled))
    import oslquery  # noqa: F401  (the module the add-on needs)

    sys.path.insert(0, bpy.utils.system_resource("SCRIPTS", path="addons_core"))
    from cycles import osl

    scene = bpy.context.scene
    for o in list(bpy.data.objects):
        bpy.data.objects.remove(o)
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    if a.device != "cpu":
        prefs = bpy.context.preferences.addons["cycles"].preferences
        prefs.compute_device_type = a.device.upper()
        prefs.get_devices()
        gpus = [d for d in prefs.devices if d.type == a.device.upper()]
        if not gpus:
            raise SystemExit(f"no {a.device} device here")
        for d in prefs.devices:
            d.use = d in gpus
        scene.cycles.device = "GPU"
        print(f"device: {a.device} ({', '.join(d.name for d in gpus)})")
    scene.cycles.samples = a.samples
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.world = bpy.data.worlds.new("world")
    bpy.ops.mesh.primitive_plane_add(size=4)
    mat = bpy.data.materials.new("checker")
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    checker, emit, out = (nodes.new(t) for t in ("ShaderNodeTexChecker", "ShaderNodeEmission", "ShaderNodeOutputMaterial"))
    checker.inputs["Scale"].default_value = 8
    links.new(checker.outputs["Color"], emit.inputs["Color"])
    links.new(emit.outputs[0], out.inputs["Surface"])
    bpy.context.object.data.materials.append(mat)
    data = bpy.data.cameras.new("camera")
    data.lens, data.sensor_width, data.sensor_fit = 35.0, 36.0, "HORIZONTAL"
    camera = bpy.data.objects.new("camera", data)
    camera.location, camera.rotation_euler = (0.0, 0.0, 3.0), (0.3, 0.1, 0.2)
    scene.collection.objects.link(camera)
    scene.camera = camera
    tmp = Path(tempfile.mkdtemp(prefix="simgen_osl_"))

    def render(name: str) -> tuple[np.ndarray, float]:
        scene.render.filepath = str(tmp / f"{name}.exr")
        scene.render.image_settings.file_format = "OPEN_EXR"
        t = time.perf_counter()
        bpy.ops.render.render(write_still=True)
        seconds = time.perf_counter() - t
        image = bpy.data.images.load(scene.render.filepath)
        pixels = np.array(image.pixels[:], np.float32).reshape(height, width, 4)[..., :3]
        bpy.data.images.remove(image)
        return pixels, seconds

    def custom(name: str, source: str) -> None:
        text = bpy.data.texts.new(f"{name}.osl")
        text.from_string(source)
        data.type, data.custom_mode, data.custom_shader = "CUSTOM", "INTERNAL", text
        messages: list[str] = []
        osl.update_custom_camera_shader(data, lambda kind, message: messages.append(message))
        if not data.custom_bytecode:
            raise SystemExit(f"{name}: the OSL shader did not compile: {messages}")

    perspective, t_persp = render("perspective")
    custom("pinhole", PINHOLE)
    data.cycles_custom["aspect"] = height / width  # getattribute("cam:image_resolution") read nothing here
    pinhole, t_pin = render("pinhole")
    # the pinhole's ray at every pixel centre (OSL camera axes: x right, y up, z forward), as an image
    f = 35.0 / 36.0 * width
    u, v = np.meshgrid(np.arange(width) - (width / 2 - 0.5), np.arange(height) - (height / 2 - 0.5))
    rays = np.stack([u / f, -v / f, np.ones_like(u)], -1)
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    image = bpy.data.images.new("rays", width, height, alpha=True, float_buffer=True)
    image.pixels.foreach_set(np.concatenate([rays[::-1], np.ones((height, width, 1))], -1).astype(np.float32).ravel())
    image.filepath_raw, image.file_format = str(tmp / "rays.exr"), "OPEN_EXR"
    image.save()
    custom("lookup", LOOKUP)
    data.cycles_custom["rays"] = str(tmp / "rays.exr")
    lookup, t_lookup = render("lookup")
    lenses = lens_errors(scene, data, render, width, height)
    print(f"{width}x{height}, {a.samples} samples" + (f" (renders in {tmp})" if a.keep else ""))
    print(f"perspective camera: {t_persp:.2f} s")
    for name, img, t in (("OSL pinhole", pinhole, t_pin), ("OSL ray lookup (texture)", lookup, t_lookup)):
        diff = np.abs(img - perspective)
        print(f"{name}: {t:.2f} s, difference from the perspective camera: mean {diff.mean():.6f}, "
              f"largest {diff.max():.6f}")
    for name, (err, seconds) in lenses.items():
        print(f"OSL {name} lens: {seconds:.2f} s, its rays at every pixel centre against simgen.optics.lens: "
              f"largest error {err:.2e} px")
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if np.abs(pinhole - perspective).max() == 0 and max(e for e, _ in lenses.values()) < 0.01 else 1


def lens_errors(scene, data, render, width: int, height: int) -> dict[str, tuple[float, float]]:
    """{lens: (largest error in px, render seconds)}: a fisheye and a wide-angle OpenCV lens through
    simgen's lens shader (simgen.blender.lens_camera), the world emitting each ray's direction (Geometry: Incoming), 1 sample, filter width
    0.01 (the first sample at the pixel centre), camera at the origin looking down -Z: each pixel's
    rendered direction projected through simgen.optics.lens (checked against OpenCV by
    tests/test_lens.py) lands this far from its pixel centre."""
    import bpy
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from simgen.blender.lens_camera import compile_lens_shader, shader_parameters
    from simgen.optics.lens import parse_lens

    K = lambda f, cx, cy: [[f, 0, cx], [0, f * 1.01, cy], [0, 0, 1]]  # noqa: E731
    lenses = {"fisheye": (parse_lens("fisheye", K(width * 0.375, width / 2 - 0.5, height / 2 - 0.8), width, height,
                                     [0.02, -0.005, 0.001, -0.0002])),
              "radtan": (parse_lens("radtan", K(width * 0.875, width / 2 - 0.2, height / 2 - 0.9), width, height,
                                    [-0.28, 0.07, 1e-4, -2e-4, -0.008]))}
    scene.cycles.samples, scene.cycles.filter_width = 1, 0.01
    scene.view_settings.view_transform = "Standard"
    nodes, links = scene.world.node_tree.nodes, scene.world.node_tree.links
    nodes.clear()
    geometry, background, out = (nodes.new(t) for t in ("ShaderNodeNewGeometry", "ShaderNodeBackground",
                                                         "ShaderNodeOutputWorld"))
    links.new(geometry.outputs["Incoming"], background.inputs["Color"])
    links.new(background.outputs[0], out.inputs["Surface"])
    for ob in list(bpy.data.objects):
        if ob.type != "CAMERA":
            bpy.data.objects.remove(ob)
    scene.camera.location, scene.camera.rotation_euler = (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)
    pixels = np.stack(np.meshgrid(np.arange(width), np.arange(height)), -1).reshape(-1, 2)
    out_errors = {}
    for name, lens in lenses.items():  # simgen's own lens shader (simgen.blender.lens_camera)
        lens.check()
        compile_lens_shader(data)
        for key, value in shader_parameters(lens, exact_labels=False, filter_width=0.01).items():
            data.cycles_custom[key] = value
        image, seconds = render(f"lens_{name}")
        incoming = image[::-1].reshape(-1, 3).astype(np.float64)  # top row first; Incoming points back to the camera
        rays = np.stack([-incoming[:, 0], incoming[:, 1], incoming[:, 2]], -1)  # world (camera) axes -> OpenCV
        out_errors[name] = (float(np.linalg.norm(lens.project(rays) - pixels, axis=-1).max()), seconds)
    return out_errors


if __name__ == "__main__":
    sys.exit(main())
