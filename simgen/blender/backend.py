"""Turns a :class:`simgen.core.scene.Scene` into Blender data, renders it with Cycles and
returns the raw passes as numpy arrays.

Scenes are built through ``bpy.data`` (no ``bpy.ops`` in the frame loop). Meshes are
converted once per asset file and reused; everything a frame creates (objects,
materials, lights) is removed before the next frame, so memory stays flat over long runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NotRequired, TypedDict

import bpy
import numpy as np
import OpenEXR
from mathutils import Matrix

from simgen import SimgenError
from simgen.assets import BUNDLED_BOX
from simgen.assets import parametric
from simgen.assets.appearance import TextureImage
from simgen.assets.meshes import load_asset
from simgen.blender.own import COLOR_ATTRIBUTE, JITTER_PROPS, UV_MAP, own_material
from simgen.blender.pbr import pbr_nodes
from simgen.config import RenderConfig
from simgen.core.camera import BLENDER_TO_OPENCV, blender_lens
from simgen.core.scene import Camera, Light, Material, Scene, SceneObject, World
from simgen.core.image_header import check_pixels
from simgen.io import scratch
from simgen.tone import LUT_SIZE, display, expose, lut_inputs

log = logging.getLogger(__name__)

GPU_BACKENDS = {"optix": "OPTIX", "cuda": "CUDA", "hip": "HIP", "oneapi": "ONEAPI", "metal": "METAL"}
TEXTURE_NODES = {"checker": ("ShaderNodeTexChecker", "Fac", None),
                 "noise": ("ShaderNodeTexNoise", "Fac", (0.3, 0.7)),
                 "wave": ("ShaderNodeTexWave", "Fac", None),
                 "voronoi": ("ShaderNodeTexVoronoi", "Distance", (0.05, 0.75)),
                 "magic": ("ShaderNodeTexMagic", "Fac", None),
                 "brick": ("ShaderNodeTexBrick", "Fac", None),
                 "gradient": ("ShaderNodeTexGradient", "Fac", None)}
"""For each texture kind (simgen.core.scene.Texture): the Blender node, the output used as
the mixing factor and the range of it stretched to [0, 1] (None: used as it is). The image
kind is no mix: its colour is the base colour."""
STEPS_PER_SECOND = 24
"""Physics frames per simulated second (Blender's scene frame rate for the simulation)."""
REST_CHECK_STEPS = 6
"""Physics frames between two measurements of the bodies' speed."""
SLEEP_SPEED = (0.01, 0.05)
"""m/s and rad/s under which Bullet lets a body sleep (Blender's defaults, 0.4 and 0.5, would
freeze objects still sliding; higher ones, e.g. 0.05 and 0.2, froze a crate mid-rock)."""
SMOOTH_ANGLE = float(np.radians(30.0))
"""Faces meeting at a smaller angle than this are shaded smooth (a curved surface), at a larger
one sharp (a crease, an edge of a box)."""
BACKGROUND_DEPTH = 1e9
"""Cycles writes 1e10 where a ray hits nothing; anything beyond this counts as no hit."""
FIRST_SAMPLE_OFFSET = 3.5103e-4
"""Where Cycles traces a pixel's first sample, the one its Depth, Object Index and (mostly)
Normal passes keep: this many filter widths right of and above the pixel centre (+u, -v in
OpenCV axes), the same for every pixel, seed and sample count. Its filter is sampled through
a 1024-entry inverse-CDF table symmetric about entry 511 but read at 511.5 for the first
sample: half the table's first step, 0.35875 / 1022 of the width for the Blackman-Harris
filter. Measured 3.51e-4 (+-1e-6) at widths 0.5 to 3 by tests/test_exact_labels.py."""


NORMAL_AOV = "simgen_normal"
"""The view layer's AOV holding the normal label: the geometric (true, unsmoothed, unbumped)
world-space normal of the surface hit, which every material writes (:func:`add_normal_aov`)."""


def add_normal_aov(tree) -> None:
    """Write the surface's geometric normal (Geometry node's True Normal, world space, facing
    the ray) to the :data:`NORMAL_AOV` of a material's node tree: the normal label stays the
    geometry's whatever the material does to the shading normal."""
    geometry = tree.nodes.new("ShaderNodeNewGeometry")
    out = tree.nodes.new("ShaderNodeOutputAOV")
    out.aov_name = NORMAL_AOV
    tree.links.new(geometry.outputs["True Normal"], out.inputs["Color"])


class RawPasses(TypedDict):
    """What :meth:`BlenderBackend.render` returns (all arrays row 0 = top of the image)."""

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


VIEW_TRANSFORMS = {"agx": "AgX"}
"""render.tone -> Blender's view_transform name (bpy 5.0.1) of the tones made by a LUT."""


def view_transform_lut(tone: str, workdir: Path, size: int = LUT_SIZE) -> np.ndarray:
    """(size, size, size, 3) float32: Blender's ``tone`` view transform (sRGB display, no look,
    exposure 0) of :func:`simgen.tone.lut_inputs`, made by Blender itself: the lattice as a
    float image saved through the colour management of a scratch scene as a 16-bit PNG."""
    import cv2

    scene = bpy.data.scenes.new("simgen_lut")
    img = bpy.data.images.new("simgen_lut", size * size, size, alpha=True, float_buffer=True)
    path = Path(workdir) / f"lut-{tone}.png"
    try:
        img.colorspace_settings.name = "Linear Rec.709"
        px = np.ones((size**3, 4), np.float32)
        px[:, :3] = lut_inputs(size)
        img.pixels.foreach_set(px.ravel())
        scene.display_settings.display_device = "sRGB"
        vs = scene.view_settings
        vs.view_transform, vs.look, vs.exposure, vs.gamma = VIEW_TRANSFORMS[tone], "None", 0.0, 1.0
        im = scene.render.image_settings
        im.file_format, im.color_mode, im.color_depth = "PNG", "RGB", "16"
        img.save_render(str(path), scene=scene)
        out = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if out is None:
            raise SimgenError(f"Blender wrote no {tone} lookup table to {path}")
        # PNG rows top first, Blender's pixels bottom row first; BGR -> RGB
        out = out[::-1, :, 2::-1].reshape(size, size, size, 3).astype(np.float32) / 65535.0
    finally:
        bpy.data.images.remove(img)
        bpy.data.scenes.remove(scene)
        path.unlink(missing_ok=True)
    return out


@contextlib.contextmanager
def _quiet_fds(log_path: Path) -> Iterator[None]:
    """Send Blender's C-level stdout/stderr chatter (``Fra:1 Mem:…``) to a log file."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log_path, "ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def pick_gpus(count: int, index: int, backend: str) -> list[int]:
    """Which of ``count`` GPUs of ``backend`` to use for render.device_index ``index``."""
    if index < 0:
        return list(range(count))
    if index >= count:
        raise SimgenError(f"render.device_index={index}, but this process sees {count} {backend} GPU(s) "
                          f"(0..{count - 1}); lower it, or use -1 for all")
    return [index]


class BlenderBackend:
    """One Blender session configured for Cycles; renders many scenes in turn."""

    def __init__(self, settings: RenderConfig, workdir: str | Path | None = None, quiet: bool = True):
        """``workdir``: the folder to make the work folder in (simgen.io.scratch.choose picks
        one by free space when None)."""
        self.settings = settings
        self.quiet = quiet
        self.scratch_need = scratch.need_bytes(settings.width, settings.height, settings.overlap)
        base = Path(workdir) if workdir else scratch.choose(self.scratch_need, settings.scratch_dir, None).folder
        self._work = scratch.WorkFolder(base)
        self.tmpdir = self._work.path
        self.blender_log = self.tmpdir / "blender.log"
        self._meshes: dict[Path, bpy.types.Mesh] = {}
        self._images: dict[Path, bpy.types.Image] = {}  # HDRIs and texture images by resolved path
        self._textures: dict[tuple[str, bool], bpy.types.Image] = {}  # meshes' own images, by (file, colour)
        self._own: dict[tuple[Path, int], bpy.types.Material] = {}  # meshes' own materials by (file, slot)
        self._frame_ids: list = []  # datablocks created for the current scene
        self._exposure = 0.0  # stops, of the built scene's camera
        self._renders = 0  # EXR files written, for their names
        self.tone_lut = None  # render.tone's lookup table, made by Blender (None: standard)
        self.keep_linear = False  # renders also return the exposed linear image (camera effects)
        with self._maybe_quiet():
            bpy.ops.wm.read_factory_settings(use_empty=True)
        self.scene = bpy.context.scene
        self._setup_scene()
        if settings.tone in VIEW_TRANSFORMS:
            with self._maybe_quiet():
                self.tone_lut = view_transform_lut(settings.tone, self.tmpdir)
        self.device = self._setup_device(settings.device)
        self.blender_version: str = bpy.app.version_string
        self._camera = self._new_camera()
        self._world = bpy.data.worlds.new("simgen_world")
        self.scene.world = self._world

    # ------------------------------------------------------------------ setup
    def _maybe_quiet(self):
        return _quiet_fds(self.blender_log) if self.quiet else contextlib.nullcontext()

    def _setup_scene(self) -> None:
        s, r = self.scene, self.settings
        s.render.engine = "CYCLES"
        s.render.resolution_x = r.width
        s.render.resolution_y = r.height
        s.render.resolution_percentage = 100
        s.render.use_persistent_data = r.persistent_data
        s.render.use_motion_blur = False
        s.render.film_transparent = False
        if r.threads > 0:
            s.render.threads_mode = "FIXED"
            s.render.threads = r.threads
        self.configure_sampling(r)
        s.cycles.pixel_filter_type = "BLACKMAN_HARRIS"  # FIRST_SAMPLE_OFFSET is this filter's
        s.cycles.filter_width = r.filter_width
        # Blender writes no image: simgen tone maps the EXR's linear Combined (simgen.tone)
        s.view_settings.view_transform = "Standard"
        s.view_settings.look = "None"
        s.view_settings.exposure = 0.0
        s.view_settings.gamma = 1.0
        s.display_settings.display_device = "sRGB"
        vl = s.view_layers[0]
        vl.use_pass_combined = True
        vl.use_pass_z = True
        vl.use_pass_object_index = True
        # the normal label is the geometric normal, written by every material to an AOV: Cycles'
        # Normal pass would follow smooth shading, normal maps and bump (appearance, not geometry)
        aov = vl.aovs.add()
        aov.name, aov.type = NORMAL_AOV, "COLOR"
        im = s.render.image_settings
        im.media_type = "MULTI_LAYER_IMAGE"
        im.file_format = "OPEN_EXR_MULTILAYER"
        im.color_depth = "32"  # float32 labels: half floats lose depth precision
        im.exr_codec = "NONE"  # a temp file in RAM; compression only costs time

    def configure_sampling(self, r: RenderConfig) -> None:
        """Samples, adaptive sampling, light-path clamping and the denoiser of ``r`` (all of
        them touch the Combined pass only: the label passes keep the first sample)."""
        c = self.scene.cycles
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
            c.denoising_prefilter = "ACCURATE"

    def _setup_device(self, device: str) -> str:
        """Pick the Cycles device; returns "CPU" or the GPU backend used. Logs the choice."""
        s = self.scene
        if device == "cpu":
            s.cycles.device = "CPU"
            log.info("Cycles device: CPU")
            return "CPU"
        wanted = list(GPU_BACKENDS.values()) if device == "auto" else [GPU_BACKENDS[device]]
        with self._maybe_quiet():
            prefs = bpy.context.preferences.addons["cycles"].preferences
        for backend in wanted:
            try:
                prefs.compute_device_type = backend
            except TypeError:  # this Blender build or machine has no such backend
                continue
            with self._maybe_quiet():  # driver probing prints warnings of its own
                prefs.get_devices()
            gpus = [d for d in prefs.devices if d.type == backend]
            if gpus:
                use = pick_gpus(len(gpus), self.settings.device_index, backend)
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

    def _new_camera(self):
        cam = bpy.data.cameras.new("simgen_camera")
        cam.sensor_fit = "HORIZONTAL"
        ob = bpy.data.objects.new("simgen_camera", cam)
        self.scene.collection.objects.link(ob)
        self.scene.camera = ob
        return ob

    # ------------------------------------------------------------------ scene
    def _mesh(self, path: Path) -> bpy.types.Mesh:
        """The Blender mesh for an asset file, converted once through trimesh: its triangles,
        and with its own appearance one material slot per material (faces assigned), its UVs
        and vertex colours (per face corner: loops are the faces' corners in order)."""
        me = self._meshes.get(path)
        if me is None:
            loaded = load_asset(path, max_pixels=None)  # each texture is checked as it is loaded
            tm, look = loaded.mesh, loaded.appearance
            me = bpy.data.meshes.new(path.stem)
            v = np.asarray(tm.vertices, dtype=np.float32)
            f = np.asarray(tm.faces, dtype=np.int32)
            me.vertices.add(len(v))
            me.vertices.foreach_set("co", v.ravel())
            me.loops.add(f.size)
            me.loops.foreach_set("vertex_index", f.ravel())
            me.polygons.add(len(f))
            me.polygons.foreach_set("loop_start", np.arange(0, f.size, 3, dtype=np.int32))
            me.update()
            # smooth where the surface is (faces meeting at under SMOOTH_ANGLE), sharp at creases;
            # the normal label is the geometric normal (NORMAL_AOV), whatever the shading
            me.shade_smooth()
            me.set_sharp_from_angle(angle=SMOOTH_ANGLE)
            for _ in range(len(look.materials) if look is not None and look.materials else 1):
                me.materials.append(None)  # slots, filled per object (link = OBJECT)
            uv = None
            if parametric.is_generated(path):
                uv = parametric.shape_of(path).uv.reshape(-1, 2)
            elif look is not None and look.uv is not None:
                uv = look.uv.reshape(-1, 2)
            if uv is not None and len(uv) == f.size:
                me.uv_layers.new(name=UV_MAP).uv.foreach_set("vector", uv.astype(np.float32).ravel())
            if look is not None and look.materials:
                me.polygons.foreach_set("material_index", look.face_material.astype(np.int32))
                if look.colors is not None:
                    attr = me.color_attributes.new(COLOR_ATTRIBUTE, "FLOAT_COLOR", "CORNER")
                    attr.data.foreach_set("color", look.colors.astype(np.float32).ravel())
                me.update()
            self._meshes[path] = me
        return me

    def _texture(self, t: TextureImage, colour: bool) -> bpy.types.Image:
        """A mesh's own texture image, loaded once per file (embedded data written to the
        scratch folder first) and colour space: sRGB for colours, Non-Color for data maps. Its
        header is checked against render.max_image_pixels first: Blender never decodes a bomb."""
        key = (str(t.path) if t.path is not None else f"{t.name}:{hash(t.data)}", colour)
        img = self._textures.get(key)
        if img is None:
            if t.path is not None:
                check_pixels(t.path, self.settings.max_image_pixels)
            else:
                check_pixels(t.data or b"", self.settings.max_image_pixels, name=t.name)
            path = t.path
            if path is None:
                path = self.tmpdir / f"texture-{len(self._textures):04d}{t.suffix}"
                path.write_bytes(t.data or b"")
            img = bpy.data.images.load(str(path), check_existing=False)
            img.colorspace_settings.name = "sRGB" if colour else "Non-Color"
            if t.path is None:
                img.pack()  # the scratch file may go; Blender keeps the bytes
                path.unlink(missing_ok=True)
            self._textures[key] = img
        return img

    def _own_material(self, path: Path, slot: int) -> bpy.types.Material:
        mat = self._own.get((path, slot))
        if mat is None:
            look = load_asset(path, max_pixels=None).appearance
            mat = own_material(f"{path.stem}:{look.materials[slot].name}", look.materials[slot],
                               has_uv=bool(self._mesh(path).uv_layers), image=self._texture, finish=add_normal_aov)
            self._own[(path, slot)] = mat
        return mat

    def _drop_generated(self, keep: set[Path]) -> None:
        """Remove the Blender meshes of generated shapes not in ``keep`` (the scene now built):
        a new shape per frame must not pile up in Blender's memory."""
        for path in [p for p in self._meshes if parametric.is_generated(p) and p not in keep]:
            me = self._meshes.pop(path)
            if me.users == 0:
                bpy.data.meshes.remove(me)

    def _material(self, name: str, m: Material, uv: bool = False, pbr_metres: np.ndarray | None = None,
                  pbr_uv: bool = False) -> bpy.types.Material:
        """``uv``: textures follow the mesh's UV map (generated shapes) instead of its generated
        (bounding-box) coordinates. A PBR set (``m.pbr``) follows the UV map when ``pbr_uv``,
        else box-projected object coordinates; ``pbr_metres``: metres per unit of those
        coordinates (see :func:`simgen.blender.pbr.pbr_nodes`)."""
        coords = "UV" if uv else "Generated"
        mat = bpy.data.materials.new(name)
        nodes, links = mat.node_tree.nodes, mat.node_tree.links
        bsdf = nodes["Principled BSDF"]
        bsdf.inputs["Base Color"].default_value = (*m.base_color, 1.0)
        bsdf.inputs["Roughness"].default_value = m.roughness
        bsdf.inputs["Metallic"].default_value = m.metallic
        bsdf.inputs["Specular IOR Level"].default_value = m.specular
        bsdf.inputs["Transmission Weight"].default_value = m.transmission
        add_normal_aov(mat.node_tree)
        self._frame_ids.append(mat)
        if m.pbr is not None:
            pbr_nodes(mat.node_tree, bsdf, m.pbr, self._map, UV_MAP if pbr_uv else None,
                      np.ones(3) if pbr_metres is None else pbr_metres)
            return mat
        t = m.texture
        if t is not None and t.kind == "image" and t.repeat is not None:  # a photo on a flat mesh, aspect kept
            tex = nodes.new("ShaderNodeTexImage")
            tex.image = self._image(Path(t.image))
            tex.projection, tex.extension = "FLAT", "MIRROR"
            fit = nodes.new("ShaderNodeMapping")  # (s, t) = ((x - 0.5) * rx + 0.5, y * ry)
            rx, ry = t.repeat
            fit.inputs["Scale"].default_value = (rx, ry, 1.0)
            fit.inputs["Location"].default_value = (0.5 - 0.5 * rx, 0.0, 0.0)
            links.new(nodes.new("ShaderNodeTexCoord").outputs["Generated"], fit.inputs["Vector"])
            links.new(fit.outputs["Vector"], tex.inputs["Vector"])
            links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
        elif t is not None and t.kind == "image":  # base colour = the image, tiled t.scale times, box-projected
            tex = nodes.new("ShaderNodeTexImage")
            tex.image = self._image(Path(t.image))
            tex.projection, tex.projection_blend, tex.extension = ("FLAT" if uv else "BOX"), 0.2, "REPEAT"
            tile = nodes.new("ShaderNodeVectorMath")
            tile.operation = "SCALE"
            tile.inputs["Scale"].default_value = t.scale
            links.new(nodes.new("ShaderNodeTexCoord").outputs[coords], tile.inputs[0])
            links.new(tile.outputs["Vector"], tex.inputs["Vector"])
            links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
        elif t is not None:  # base colour = mix(base_color, color2, pattern(generated coordinates))
            node_type, fac, stretch_range = TEXTURE_NODES[t.kind]
            tex = nodes.new(node_type)
            links.new(nodes.new("ShaderNodeTexCoord").outputs[coords], tex.inputs["Vector"])
            if t.kind == "gradient":  # spans the object once: no scale
                tex.gradient_type = t.variant.upper()
            else:
                tex.inputs["Scale"].default_value = t.scale
            if t.kind in ("noise", "wave", "magic"):
                tex.inputs["Distortion"].default_value = t.distortion
            if t.kind in ("noise", "wave"):
                tex.inputs["Detail"].default_value = t.detail
            if t.kind == "wave":
                tex.bands_direction = "DIAGONAL"
            mix = nodes.new("ShaderNodeMix")
            mix.data_type = "RGBA"
            sockets = {s.identifier: s for s in mix.inputs}
            sockets["A_Color"].default_value = (*m.base_color, 1.0)
            sockets["B_Color"].default_value = (*t.color2, 1.0)
            factor = tex.outputs[fac]
            if stretch_range is not None:  # e.g. noise varies little around 0.5: use both colours fully
                stretch = nodes.new("ShaderNodeMapRange")  # clamps to [0, 1] by default
                stretch.inputs["From Min"].default_value, stretch.inputs["From Max"].default_value = stretch_range
                links.new(factor, stretch.inputs["Value"])
                factor = stretch.outputs["Result"]
            links.new(factor, sockets["Factor_Float"])
            links.new(next(s for s in mix.outputs if s.identifier == "Result_Color"), bsdf.inputs["Base Color"])
        return mat

    def _map(self, path: str, colour: bool) -> bpy.types.Image:
        """A PBR set's map, loaded once per file and colour space."""
        return self._texture(TextureImage(name=Path(path).name, path=Path(path)), colour)

    def _pbr_coordinates(self, o: SceneObject, me: bpy.types.Mesh) -> tuple[bool, np.ndarray]:
        """(whether a PBR set follows the mesh's UVs, metres per unit of its coordinates): a
        generated shape's UVs are in mesh units, a file's UVs span its mesh (0..1) once; other
        meshes use their object coordinates, in metres by the object's scale per axis."""
        scale = np.linalg.norm(np.asarray(o.mesh_to_world)[:3, :3], axis=0)
        if not me.uv_layers:
            return False, scale
        if parametric.is_generated(o.mesh_path):
            return True, np.full(3, scale.mean())
        extent = float(np.ptp(np.asarray(load_asset(o.mesh_path).mesh.vertices), axis=0).max())
        return True, np.full(3, scale.mean() * extent)

    def _light(self, i: int, light: Light) -> None:
        data = bpy.data.lights.new(f"light{i}", type=light.kind.upper())
        data.color = light.color
        data.energy = light.power
        if light.kind == "sun":
            data.angle = light.size
        elif light.kind == "area":
            data.size = light.size
        else:
            data.shadow_soft_size = light.size
            if light.kind == "spot":
                data.spot_size = light.spot_angle
        ob = bpy.data.objects.new(f"light{i}", data)
        ob.matrix_world = Matrix(light.light_to_world.tolist())
        ob.visible_camera = False  # an area light's quad would be an unlabelled object in the image
        self.scene.collection.objects.link(ob)
        self._frame_ids += [ob, data]

    def _set_camera(self, cam: Camera) -> None:
        if (cam.width, cam.height) != (self.scene.render.resolution_x, self.scene.render.resolution_y):
            raise ValueError(f"scene camera is {cam.width}x{cam.height} but the renderer is set up for "
                             f"{self.scene.render.resolution_x}x{self.scene.render.resolution_y}")
        data = self._camera.data
        K = cam.K
        if self.settings.exact_labels:  # move the first sample onto the pixel centre of K
            K = K + np.array([[0, 0, 1], [0, 0, -1], [0, 0, 0]]) * FIRST_SAMPLE_OFFSET * self.settings.filter_width
        lens = blender_lens(K, cam.width, cam.height, cam.sensor_width)
        data.lens, data.sensor_width = lens["lens"], lens["sensor_width"]
        data.shift_x, data.shift_y = lens["shift_x"], lens["shift_y"]
        data.clip_start, data.clip_end = cam.clip_start, cam.clip_end
        data.dof.use_dof = cam.fstop > 0
        if cam.fstop > 0:
            data.dof.aperture_fstop, data.dof.focus_distance = cam.fstop, cam.focus_distance
        self._camera.matrix_world = Matrix((cam.camera_to_world @ BLENDER_TO_OPENCV).tolist())

    def _world_nodes(self):
        """The world's Background node plus a sky, an environment texture and its Z-rotation
        mapping, created once; :meth:`_set_world` links the one a frame needs."""
        nt = self._world.node_tree
        nodes = nt.nodes
        if "simgen_sky" not in nodes:
            sky = nodes.new("ShaderNodeTexSky")
            sky.name = "simgen_sky"
            types = sky.bl_rna.properties["sky_type"].enum_items.keys()
            # Blender 5 renamed NISHITA to MULTIPLE_SCATTERING (SINGLE_SCATTERING is the cheap one)
            sky.sky_type = next(t for t in ("MULTIPLE_SCATTERING", "NISHITA", "HOSEK_WILKIE") if t in types)
            coord = nodes.new("ShaderNodeTexCoord")
            coord.name = "simgen_coord"
            mapping = nodes.new("ShaderNodeMapping")
            mapping.name = "simgen_mapping"
            env = nodes.new("ShaderNodeTexEnvironment")
            env.name = "simgen_env"
            env.projection = "EQUIRECTANGULAR"
            nt.links.new(coord.outputs["Generated"], mapping.inputs["Vector"])
            nt.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
        return nodes["Background"], nodes["simgen_sky"], nodes["simgen_mapping"], nodes["simgen_env"]

    def _backdrop_nodes(self):
        """Nodes showing a photo to camera rays only: Light Path's Is Camera Ray mixes the
        world's Background (every other ray) with a second Background holding the image,
        addressed by window (screen) coordinates; created once."""
        nt = self._world.node_tree
        nodes = nt.nodes
        if "simgen_backdrop" not in nodes:
            coord = nodes.new("ShaderNodeTexCoord")
            coord.name = "simgen_window"
            fit = nodes.new("ShaderNodeMapping")
            fit.name = "simgen_backdrop_fit"
            tex = nodes.new("ShaderNodeTexImage")
            tex.name = "simgen_backdrop_image"
            tex.extension = "EXTEND"
            bg = nodes.new("ShaderNodeBackground")
            bg.name = "simgen_backdrop"
            bg.inputs["Strength"].default_value = 1.0
            path = nodes.new("ShaderNodeLightPath")
            path.name = "simgen_light_path"
            mix = nodes.new("ShaderNodeMixShader")
            mix.name = "simgen_backdrop_mix"
            nt.links.new(coord.outputs["Window"], fit.inputs["Vector"])
            nt.links.new(fit.outputs["Vector"], tex.inputs["Vector"])
            nt.links.new(tex.outputs["Color"], bg.inputs["Color"])
            nt.links.new(path.outputs["Is Camera Ray"], mix.inputs[0])
            nt.links.new(nodes["Background"].outputs["Background"], mix.inputs[1])
            nt.links.new(bg.outputs["Background"], mix.inputs[2])
        return nodes["simgen_backdrop_image"], nodes["simgen_backdrop_fit"], nodes["simgen_backdrop_mix"]

    def _image(self, path: Path):
        """The image datablock of ``path`` (an HDRI or a texture), loaded once per backend and
        reused by every frame; its header checked against render.max_image_pixels first."""
        key = Path(path).resolve()
        img = self._images.get(key)
        if img is None:
            check_pixels(key, self.settings.max_image_pixels)
            img = bpy.data.images.load(str(key), check_existing=True)
            self._images[key] = img
        return img

    def _set_world(self, world: World) -> None:
        bg, sky, mapping, env = self._world_nodes()
        links = self._world.node_tree.links
        for link in list(bg.inputs["Color"].links):
            links.remove(link)
        if world.kind == "sky":
            sky.sun_elevation, sky.sun_rotation = world.sun_elevation, world.sun_azimuth
            links.new(sky.outputs["Color"], bg.inputs["Color"])
        elif world.kind == "hdri":
            env.image = self._image(Path(world.hdri_path))
            mapping.inputs["Rotation"].default_value = (0.0, 0.0, world.rotation)
            links.new(env.outputs["Color"], bg.inputs["Color"])
        else:
            bg.inputs["Color"].default_value = (*world.color, 1.0)
        bg.inputs["Strength"].default_value = world.strength
        out = next(n for n in self._world.node_tree.nodes if n.bl_idname == "ShaderNodeOutputWorld")
        for link in list(out.inputs["Surface"].links):
            links.remove(link)
        if world.backdrop is None and world.plain_backdrop is None:
            links.new(bg.outputs["Background"], out.inputs["Surface"])
            return
        tex, fit, mix = self._backdrop_nodes()
        seen = self._world.node_tree.nodes["simgen_backdrop"]
        for link in list(seen.inputs["Color"].links):
            links.remove(link)
        links.new(mix.outputs["Shader"], out.inputs["Surface"])
        if world.backdrop is None:  # a plain colour for camera rays; the world lights the rest
            seen.inputs["Color"].default_value = (*world.plain_backdrop, 1.0)
            return
        links.new(tex.outputs["Color"], seen.inputs["Color"])
        tex.image = self._image(Path(world.backdrop))
        w, h = tex.image.size
        frame = self.scene.render.resolution_x / self.scene.render.resolution_y
        sx, sy = (frame / (w / h), 1.0) if w / h > frame else (1.0, (w / h) / frame)  # cover the frame
        fit.inputs["Scale"].default_value = (sx, sy, 1.0)
        fit.inputs["Location"].default_value = (0.5 - 0.5 * sx, 0.5 - 0.5 * sy, 0.0)

    def build(self, scene: Scene) -> None:
        """Replace whatever the previous frame built with ``scene``."""
        self.clear()
        scene.validate()
        coll = self.scene.collection
        self._drop_generated({Path(o.mesh_path) for o in scene.objects})
        for o in scene.objects:
            ob = bpy.data.objects.new(o.name, self._mesh(Path(o.mesh_path)))
            ob.matrix_world = Matrix(o.mesh_to_world.tolist())
            ob.pass_index = o.instance_id
            ob.visible_shadow = o.casts_shadow
            # meshes are shared between frames and objects; the material belongs to the object
            own = o.material.own
            if own is None:
                pbr_uv, metres = self._pbr_coordinates(o, ob.data) if o.material.pbr is not None else (False, None)
                mat = self._material(o.name, o.material, uv=parametric.is_generated(o.mesh_path), pbr_metres=metres,
                                     pbr_uv=pbr_uv)
            else:
                for key, (prop, _) in JITTER_PROPS.items():
                    ob[prop] = float(getattr(own, key))
            for k, slot in enumerate(ob.material_slots):
                slot.link = "OBJECT"
                slot.material = mat if own is None else self._own_material(Path(o.mesh_path), k)
            coll.objects.link(ob)
            self._frame_ids.append(ob)
        for i, light in enumerate(scene.lights):
            self._light(i, light)
        self._set_camera(scene.camera)
        self._exposure = float(scene.camera.exposure)
        self._set_world(scene.world)

    def clear(self) -> None:
        """Remove every datablock the last :meth:`build` created (meshes stay cached).

        Objects go first: removing a light's data would take its object with it.
        """
        objects = [b for b in self._frame_ids if isinstance(b, bpy.types.Object)]
        for ob in objects:
            bpy.data.objects.remove(ob, do_unlink=True)
        for block in self._frame_ids:
            if isinstance(block, bpy.types.Material):
                bpy.data.materials.remove(block, do_unlink=True)
            elif isinstance(block, bpy.types.Light):
                bpy.data.lights.remove(block, do_unlink=True)
        self._frame_ids.clear()

    # ---------------------------------------------------------------- physics
    def settle(self, scene: Scene) -> tuple[dict[int, np.ndarray], dict]:
        """Simulate ``scene.physics`` in a scratch Blender scene with its own rigid-body world
        (Bullet); return the bodies' resting poses (instance id -> mesh_to_world) and a report:
        steps and seconds simulated, the last speed measured and whether it is at rest.

        The scratch scene, its objects and its world are removed afterwards, so every call
        starts from nothing and the same scene always settles the same way.
        """
        ph = scene.physics
        if ph is None or not ph.bodies:  # e.g. objects.count=[0,0]: nothing falls
            return {}, {"steps": 0, "seconds": 0.0, "speed": 0.0, "at_rest": True}
        by_id = {o.instance_id: o for o in scene.objects}
        sim = bpy.data.scenes.new("simgen_physics")
        coll = bpy.data.collections.new("simgen_rigid_bodies")
        created: list[tuple[bpy.types.Object, str]] = []

        def add(name: str, mesh: bpy.types.Mesh, pose: np.ndarray, kind: str) -> bpy.types.Object:
            ob = bpy.data.objects.new(name, mesh)
            ob.matrix_world = Matrix(np.asarray(pose).tolist())
            coll.objects.link(ob)
            created.append((ob, kind))
            return ob

        try:
            sim.collection.children.link(coll)
            moving = [add(f"rb_{by_id[b.instance_id].name}", self._mesh(Path(by_id[b.instance_id].mesh_path)),
                          by_id[b.instance_id].mesh_to_world, "ACTIVE") for b in ph.bodies]
            for k, pose in enumerate(ph.colliders):
                add(f"rb_collider{k}", self._mesh(BUNDLED_BOX), pose, "PASSIVE")
            with self._maybe_quiet():
                with bpy.context.temp_override(scene=sim):
                    bpy.ops.rigidbody.world_add()
                world = sim.rigidbody_world
                world.collection = coll  # before adding bodies: else Blender makes a collection of its own
                for ob, kind in created:
                    with bpy.context.temp_override(scene=sim, object=ob, active_object=ob, selected_objects=[ob]):
                        bpy.ops.rigidbody.object_add(type=kind)
            world.substeps_per_frame = ph.substeps
            world.solver_iterations = 20
            sim.render.fps, sim.render.fps_base = STEPS_PER_SECOND, 1.0
            steps = REST_CHECK_STEPS * int(np.ceil(ph.max_seconds * STEPS_PER_SECOND / REST_CHECK_STEPS))
            world.point_cache.frame_start, world.point_cache.frame_end = 1, steps + 1
            for ob, b in zip(moving, ph.bodies):
                rb = ob.rigid_body
                rb.collision_shape = "CONVEX_HULL"
                rb.use_margin, rb.collision_margin = True, ph.margin
                rb.mass, rb.friction, rb.restitution = b.mass, b.friction, b.restitution
                rb.linear_damping, rb.angular_damping = 0.2, 0.8  # settles rolling objects in seconds
                # Bullet puts a body to sleep after 2 s below these speeds: ends the slow creep of
                # stacked boxes that would otherwise last the whole max_seconds
                rb.use_deactivation = True
                rb.deactivate_linear_velocity, rb.deactivate_angular_velocity = SLEEP_SPEED
            for ob, _ in created[len(moving):]:
                rb = ob.rigid_body
                rb.collision_shape = "BOX"  # exact for the unit cube, and no thin surface to tunnel through
                rb.use_margin, rb.collision_margin = True, 0.0
                rb.friction, rb.restitution = 0.8, 0.2
            corners = [np.array([[*c, 1.0] for c in ob.bound_box]) for ob in moving]

            def points() -> np.ndarray:
                return np.concatenate([c @ np.array(ob.matrix_world).T for c, ob in zip(corners, moving)])

            sim.frame_set(1)
            last, step, speed = points(), 1, float("inf")
            while step < steps + 1 and speed >= ph.rest_speed:
                for _ in range(REST_CHECK_STEPS):  # Bullet advances one frame at a time only
                    step += 1
                    sim.frame_set(step)
                now = points()
                speed = float(np.linalg.norm(now - last, axis=1).max()) * STEPS_PER_SECOND / REST_CHECK_STEPS
                last = now
            poses = {b.instance_id: np.array(ob.matrix_world, dtype=float) for ob, b in zip(moving, ph.bodies)}
        finally:
            for ob, _ in created:
                bpy.data.objects.remove(ob, do_unlink=True)
            bpy.data.collections.remove(coll)
            bpy.data.scenes.remove(sim)
        report = {"steps": step - 1, "seconds": (step - 1) / STEPS_PER_SECOND, "speed": speed,
                  "at_rest": speed < ph.rest_speed}
        if not report["at_rest"]:
            log.warning("physics placement: objects still move at %.3f m/s after %.1f s (placement.max_seconds); "
                        "rendering them where they are", speed, report["seconds"])
        return poses, report

    # ----------------------------------------------------------------- render
    def render(self, seed: int = 0) -> RawPasses:
        """Render the built scene; return its passes (see :class:`RawPasses`)."""
        return self.render_to_files(seed).load()

    def render_to_files(self, seed: int = 0) -> "RenderedFiles":
        """Render the built scene into EXR files of their own; reading them back (the
        returned :meth:`RenderedFiles.load`) needs no bpy, so another thread can do it while
        the next frame renders.

        With depth of field on, the labels come from a second render of one sample without
        it (a pinhole camera, as K says); the RGB keeps the blur."""
        tone = dict(tone=self.settings.tone, auto_exposure=self.settings.auto_exposure, lut=self.tone_lut,
                    keep_linear=self.keep_linear)
        tone["scratch_need"] = self.scratch_need
        files = RenderedFiles(self._render_exr(seed), exposure=self._exposure, **tone)
        dof = self._camera.data.dof
        if not dof.use_dof:
            return files
        c = self.scene.cycles
        saved = c.samples, c.use_denoising, c.use_adaptive_sampling
        dof.use_dof, c.samples, c.use_denoising, c.use_adaptive_sampling = False, 1, False, False
        try:
            sharp = self._render_exr(seed)
        finally:
            dof.use_dof, (c.samples, c.use_denoising, c.use_adaptive_sampling) = True, saved
        return RenderedFiles(sharp, exposure=self._exposure, rgb_from=files.exr, **tone)

    def _render_exr(self, seed: int) -> Path:
        self._renders += 1
        exr = self.tmpdir / f"passes-{self._renders:06d}.exr"
        self.scene.render.filepath = str(exr)
        self.scene.cycles.seed = seed % (2**31)
        with self._maybe_quiet():
            bpy.ops.render.render(write_still=True)
        # Blender raises nothing when the file system is full: it logs it and leaves a truncated file
        if not exr.is_file() or scratch.free_bytes(exr.parent) < min(scratch.FULL_BELOW, self.scratch_need):
            raise scratch.full_scratch_error(exr.parent, self.scratch_need, OSError(28, "No space left on device")) \
                or SimgenError(f"Blender wrote no render into {exr.parent}; see {self.blender_log}")
        return exr

    def render_bare(self, seed: int = 0) -> float:
        """Render Combined only, write nothing, read nothing back; return seconds taken.

        The baseline of ``scripts/bench.py``: what Cycles alone costs for the built scene.
        """
        vl = self.scene.view_layers[0]
        flags = ("use_pass_z", "use_pass_object_index")
        saved = [getattr(vl, f) for f in flags]
        for f in flags:
            setattr(vl, f, False)
        self.scene.cycles.seed = seed % (2**31)
        try:
            t0 = time.perf_counter()
            with self._maybe_quiet():
                bpy.ops.render.render(write_still=False)
            return time.perf_counter() - t0
        finally:
            for f, v in zip(flags, saved):
                setattr(vl, f, v)

    def close(self) -> None:
        self.clear()
        for me in self._meshes.values():
            bpy.data.meshes.remove(me)
        self._meshes.clear()
        if self._images:
            self._world_nodes()[3].image = None
            if "simgen_backdrop" in self._world.node_tree.nodes:
                self._backdrop_nodes()[0].image = None
        for mat in self._own.values():
            bpy.data.materials.remove(mat)
        self._own.clear()
        for img in [*self._images.values(), *self._textures.values()]:
            bpy.data.images.remove(img)
        self._images.clear()
        self._textures.clear()
        self._work.cleanup()


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
    lut: np.ndarray | None = None
    """render.tone, render.auto_exposure and the tone's lookup table (see :func:`read_passes`)."""

    keep_linear: bool = False
    """Also return the exposed linear image (``linear``, for the camera effects)."""
    scratch_need: int = 0
    """Bytes the renders in flight need in the scratch folder (for the error when it is full)."""

    def load(self) -> RawPasses:
        tone = dict(exposure=self.exposure, tone=self.tone, auto_exposure=self.auto_exposure, lut=self.lut)
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
            ch = {name.removeprefix("ViewLayer."): c.pixels for name, c in p.channels.items()}
            if "Combined.R" in ch:
                rgb = np.stack([ch["Combined.R"], ch["Combined.G"], ch["Combined.B"]], axis=-1).astype(np.float32)
                return rgb * np.float32(2.0 ** exposure) if exposure else rgb
    raise ValueError(f"{path} has no Combined pass")


def _image(combined: np.ndarray, exposure: float, tone: str, auto_exposure: bool, lut: np.ndarray | None,
           keep_linear: bool) -> dict:
    """``rgb`` and ``image`` (and with ``keep_linear`` the exposed ``linear``) of a linear
    Combined pass (:func:`simgen.tone.expose`, :func:`simgen.tone.display`)."""
    exposed, image = expose(combined, tone=tone, auto_exposure=auto_exposure, exposure=exposure)
    out = {"rgb": display(exposed, tone, lut), "image": image}
    if keep_linear:
        out["linear"] = exposed
    return out


def read_passes(path: Path, exposure: float = 0.0, tone: str = "standard", auto_exposure: bool = False,
                lut: np.ndarray | None = None, keep_linear: bool = False) -> RawPasses:
    """Read the multilayer EXR Cycles wrote into the arrays of :class:`RawPasses`; the RGB is
    :func:`simgen.tone.tone_map` of the linear Combined pass (``exposure``: the camera's
    drawn stops, on top of what metering picks); ``keep_linear``: also the exposed linear
    image as ``linear``."""
    parts = {}
    with OpenEXR.File(str(path), separate_channels=True) as f:
        for p in f.parts:
            parts.update({name.removeprefix("ViewLayer."): ch.pixels for name, ch in p.channels.items()})
    combined = np.stack([parts["Combined.R"], parts["Combined.G"], parts["Combined.B"]], axis=-1)
    index = np.rint(parts["Object Index.X"]).astype(np.int32)
    depth = parts["Depth.Z"].astype(np.float32, copy=True)
    depth[(depth > BACKGROUND_DEPTH) | (index == 0)] = np.inf
    normal = np.stack([parts[f"{NORMAL_AOV}.{c}"] for c in "RGB"], axis=-1).astype(np.float32)
    normal[index == 0] = 0.0
    return RawPasses(index=index, depth=depth, normal=normal,
                     **_image(combined, exposure, tone, auto_exposure, lut, keep_linear))
