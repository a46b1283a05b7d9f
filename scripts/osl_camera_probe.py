#!/usr/bin/env python3
"""Can the bpy wheel render through a custom (OSL) camera? A measured answer for issue 31.

    python scripts/osl_camera_probe.py [--size 64x48] [--samples 4]

Blender's Cycles add-on compiles a custom camera's OSL shader and reads its parameters with the
Python module ``oslquery``. The bpy wheel ships it, in bpy's own bundled site-packages folder
(``bpy/<version>/python/lib/python3.11/site-packages``), which is not on ``sys.path`` when bpy is
imported as a module: setting a custom camera's shader then fails with "No module named
'oslquery'". With that folder on ``sys.path`` this script renders one scene (an emissive checker
plane seen from a tilted camera, no denoising) twice, through Cycles' own perspective camera and
through an OSL shader of the same pinhole, and through a shader that looks its rays up in an
image (``texture()``), and prints how far each is from the perspective render (mean and largest
absolute difference of linear RGB) and the render times. Exit status 1 when the OSL pinhole
differs from the perspective camera.

Measured here (bpy 5.0.1, 64x48, 4 samples, 2 CPU cores): the OSL pinhole equals the perspective
render exactly (difference 0.0; about 0.03 s a render either way); the ``texture()`` lookup does
not work inside a camera shader (mean difference 0.36: the lens must be computed in the shader,
not looked up), and ``getattribute("cam:image_resolution")`` read nothing (the aspect ratio is a
shader parameter here).
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
    print(f"{width}x{height}, {a.samples} samples" + (f" (renders in {tmp})" if a.keep else ""))
    print(f"perspective camera: {t_persp:.2f} s")
    for name, img, t in (("OSL pinhole", pinhole, t_pin), ("OSL ray lookup (texture)", lookup, t_lookup)):
        diff = np.abs(img - perspective)
        print(f"{name}: {t:.2f} s, difference from the perspective camera: mean {diff.mean():.6f}, "
              f"largest {diff.max():.6f}")
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if np.abs(pinhole - perspective).max() == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
