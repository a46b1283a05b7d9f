"""The bad-input corpus: every config group, top-level key, Hydra-level mistake and kind of user
file, each run through ``simgen``'s entry point.

Every case must end with exit status 2, exactly one line on stderr starting ``simgen: error:``
that names the key or file (``expected``), no traceback anywhere, Blender never imported, and
nothing under a final name in output.dir (no file at all: an empty folder is fine), nor in the
working directory. Most cases call :func:`simgen.cli.main` in-process (fast); a few run the
console script in a subprocess to prove the whole path.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import trimesh
from PIL import Image

import simgen.cli
from test_cli import Cli, q

TINY = ["render.width=64", "render.height=48", "render.samples=1", "frames=1"]


# ------------------------------------------------------------------ user files


def _box(path: Path, size: float = 0.1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.creation.box(extents=(size, size, size)).export(path)
    return path


def _folder(t: Path, name: str) -> Path:
    d = t / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def _dirs(folder: Path, category: str = "thing") -> list[str]:
    return ["objects.catalog=null", f"objects.dirs={{{category}: {q(folder)}}}"]


def experiment_study_file(t: Path) -> list[str]:
    """experiment=FILE of a study of one's own (a study: node): a study, not an overlay."""
    path = t / "my_study.yaml"
    path.write_text("study:\n  arms:\n    a: {overrides: [lighting=narrow]}\n")
    return [f"experiment={path}"]


def _catalog_text(t: Path, text: str) -> list[str]:
    (t / "catalog.yaml").write_text(text)
    return [f"objects.catalog={q(t / 'catalog.yaml')}"]


def _catalog_with(t: Path, mesh: Path | str, category: str = "thing") -> list[str]:
    return _catalog_text(t, f"categories: [{category!r}]\nassets:\n  - mesh: {q(mesh)}\n    category: {category!r}\n")


def mesh_garbage(t):
    d = _folder(t, "meshes")
    (d / "noise.ply").write_bytes(bytes(range(256)) * 8)
    return _dirs(d)


def mesh_truncated(t):
    d = _folder(t, "meshes")
    data = _box(t / "full.ply").read_bytes()
    (d / "half.ply").write_bytes(data[: len(data) // 2])
    return _dirs(d)


def mesh_zero_area(t):
    d = _folder(t, "meshes")
    (d / "flat.obj").write_text("v 0 0 0\nv 1 0 0\nv 2 0 0\nv 3 0 0\nf 1 2 3\nf 2 3 4\n")
    return _dirs(d)


def mesh_nan(t):
    d = _folder(t, "meshes")
    (d / "nan.obj").write_text("v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n")
    return _dirs(d)


def mesh_empty_file(t):
    d = _folder(t, "meshes")
    (d / "empty.obj").write_text("")
    return _dirs(d)


def mesh_points_only(t):
    d = _folder(t, "meshes")
    (d / "points.ply").write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                                  "property float z\nend_header\n0 0 0\n1 0 0\n0 1 0\n")
    return _dirs(d)


def mesh_empty_folder(t):
    return _dirs(_folder(t, "meshes"))


def _textured(t: Path, mtl: str) -> list[str]:
    d = _folder(t, "meshes")
    (d / "m.mtl").write_text(mtl)
    (d / "m.obj").write_text("mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nvt 0 0\nvt 1 0\nvt 0 1\n"
                             "usemtl a\nf 1/1 2/2 3/3\nf 1/1 3/3 4/1\nf 1/1 4/1 2/2\nf 2/2 4/1 3/3\n")
    return _dirs(d)


def mesh_texture_missing(t):  # by default a warning, the mesh drawn without it (test_own_appearance)
    return [*_textured(t, "newmtl a\nmap_Kd gone.png\n"), "materials.own_strict=true"]


def mesh_texture_outside(t):
    from PIL import Image

    Image.new("RGB", (4, 4)).save(t / "secret.png")
    return [*_textured(t, "newmtl a\nmap_Kd ../secret.png\n"), "materials.own_strict=true"]


def mesh_texture_corrupt(t):
    out = _textured(t, "newmtl a\nmap_Kd bad.png\n")
    (t / "meshes" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    return out


def mesh_gltf_image_outside(t):  # the outside image is never read; the file has no geometry either
    d = _folder(t, "meshes")
    doc = {"asset": {"version": "2.0"}, "images": [{"uri": "../../x.png"}], "textures": [{"source": 0}],
           "materials": [{"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}], "meshes": []}
    (d / "m.gltf").write_text(json.dumps(doc))
    return _dirs(d)


def mesh_folder_missing(t):
    return _dirs(t / "no-such-folder")


def mesh_symlink_loop(t):
    d = _folder(t, "meshes")
    _box(d / "good.ply")
    os.symlink("loop", d / "loop")  # a link to itself
    return _dirs(d)


def mesh_link_loop(t):
    d = _folder(t, "meshes")
    _box(d / "good.ply")
    os.symlink("a.obj", d / "b.obj")
    os.symlink("b.obj", d / "a.obj")
    return _dirs(d)


def mesh_folder_is_a_loop(t):
    os.symlink(t / "spin", t / "spin")
    return _dirs(t / "spin")


def mesh_dangling_link(t):
    d = _folder(t, "meshes")
    _box(d / "good.ply")
    os.symlink(t / "gone.ply", d / "gone.ply")
    return _dirs(d)


CALIBRATION = """%YAML:1.0
---
image_width: 160
image_height: 120
camera_matrix: !!opencv-matrix
   rows: 3
   cols: 3
   dt: d
   data: [ 110.0, 0., 80.3, 0., 110.5, 59.2, 0., 0., 1. ]
distortion_coefficients: !!opencv-matrix
   rows: 1
   cols: 5
   dt: d
   data: [ -0.3, 0.09, 0.0004, -0.0003, -0.01 ]
"""


def _calibration(t: Path, *more: str) -> list[str]:
    (t / "cam.yaml").write_text(CALIBRATION)
    return [f"camera.calibration={t / 'cam.yaml'}", *more]


def calibration_other_size(t):
    return _calibration(t)  # the cases render at 64x48


def calibration_with_bop(t):
    return _calibration(t, "render.width=160", "render.height=120", "output.formats=[coco,bop]")


def calibration_with_nerfstudio(t):
    return _calibration(t, "render.width=160", "render.height=120", "output.formats=[coco,nerfstudio]",
                        "camera.dof_probability=0.5")


def calibration_jitter_folds(t):
    return _calibration(t, "render.width=160", "render.height=120", "camera.focal_jitter=0.1")


def calibration_on_cuda(t):
    return _calibration(t, "render.width=160", "render.height=120", "render.device=cuda")


def calibration_in_flying(t):
    return _calibration(t, "render.width=160", "render.height=120", "scene=flying")


def calibration_garbage(t):
    (t / "cam.yaml").write_text("camera_matrix: [1, 2\n")
    return [f"camera.calibration={t / 'cam.yaml'}"]


def _robot(t: Path, urdf: str) -> list[str]:
    """A catalog of one articulated model, ``robot/arm.urdf`` (its text given)."""
    (t / "robot").mkdir(exist_ok=True)
    (t / "robot" / "arm.urdf").write_text(urdf)
    return _catalog_text(t, "categories: [robot]\nassets:\n  - {mesh: robot/arm.urdf, category: robot}\n")


def _arm(mesh: str) -> str:
    return (f'<robot name="arm"><link name="base"><visual><geometry><mesh filename="{mesh}"/></geometry></visual>'
            '</link></robot>')


def robot_mesh_outside(t):  # a URDF is data: the file it names stays in its folder
    (t / "secret.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    return _robot(t, _arm("../secret.obj"))


def robot_mesh_missing(t):
    return _robot(t, _arm("meshes/gone.obj"))


def robot_xml_bomb(t):
    return _robot(t, '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
                     '<robot name="&b;"><link name="base"/></robot>')


def robot_limit_reversed(t):
    (t / "robot").mkdir(exist_ok=True)
    (t / "robot" / "box.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n")
    return _robot(t, '<robot name="arm"><link name="base"><visual><geometry><mesh filename="box.obj"/></geometry>'
                     '</visual></link><link name="tip"/><joint name="j" type="revolute"><parent link="base"/>'
                     '<child link="tip"/><axis xyz="0 0 1"/><limit lower="1" upper="-1" effort="1" velocity="1"/>'
                     '</joint></robot>')


def catalog_bad_syntax(t):
    return _catalog_text(t, "categories: [thing\nassets: {\n")


def catalog_dotdot(t):
    return _catalog_with(t, _box(t / "m" / "box.ply"), "..")


def catalog_dot(t):
    return _catalog_with(t, _box(t / "m" / "box.ply"), ".")


def catalog_slash(t):
    return _catalog_with(t, _box(t / "m" / "box.ply"), "a/b")


def catalog_missing_mesh(t):
    return _catalog_with(t, t / "nowhere" / "gone.obj")


def catalog_undecodable(t):
    (t / "catalog.yaml").write_bytes(b"categories: [\xff\xfe\x00]\n")
    return [f"objects.catalog={q(t / 'catalog.yaml')}"]


def catalog_not_mapping(t):
    return _catalog_text(t, "- just\n- a list\n")


def catalog_unknown_key(t):
    return _catalog_text(t, "categories: [thing]\nasets: []\n")


def catalog_duplicate_category(t):
    return _catalog_text(t, "categories: [thing, thing]\nassets: []\n")


def catalog_missing(t):
    return [f"objects.catalog={q(t / 'no-such-catalog.yaml')}"]


def catalog_mesh_is_folder(t):
    (t / "looks_like.obj").mkdir()
    return _catalog_with(t, t / "looks_like.obj")


def catalog_mesh_garbage(t):
    junk = t / "junk" / "noise.stl"
    junk.parent.mkdir()
    junk.write_bytes(b"solid x\nfacet normal nan\n" * 50)
    return _catalog_with(t, junk)


def _hdri(t: Path, name: str, data: bytes) -> list[str]:
    d = _folder(t, "hdris")
    (d / name).write_bytes(data)
    return ["lighting=hdri", f"lighting.hdri_dir={q(d)}"]


def _exr_bytes(t: Path) -> bytes:
    import OpenEXR

    path = t / "good.exr"
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                 {"RGB": np.random.default_rng(0).random((32, 64, 3), dtype=np.float32)}).write(str(path))
    return path.read_bytes()


def hdri_garbage(t):
    return _hdri(t, "sky.hdr", os.urandom(4000))


def hdri_truncated(t):
    data = (Path(simgen.cli.CONFIG_DIR).parent / "assets" / "hdri" / "default_sky.hdr").read_bytes()
    return _hdri(t, "half.hdr", data[: len(data) // 2])


def hdri_empty_file(t):
    return _hdri(t, "empty.hdr", b"")


def hdri_exr_truncated(t):
    data = _exr_bytes(t)
    return _hdri(t, "half.exr", data[: len(data) // 2])


def hdri_exr_garbage(t):
    return _hdri(t, "noise.exr", b"v/1\x01" + os.urandom(3000))


def hdri_exr_nan(t):
    import OpenEXR

    d = _folder(t, "hdris")
    pixels = np.ones((8, 16, 3), np.float32)
    pixels[2, 3] = np.nan
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                 {"RGB": pixels}).write(str(d / "nan.exr"))
    return ["lighting=hdri", f"lighting.hdri_dir={q(d)}"]


def hdri_empty_folder(t):
    d = _folder(t, "hdris")
    (d / "readme.txt").write_text("no images")
    return ["lighting=hdri", f"lighting.hdri_dir={q(d)}"]


def hdri_missing_folder(t):
    return ["lighting=hdri", f"lighting.hdri_dir={q(t / 'nope')}"]


def _texture(t: Path, name: str, data: bytes) -> list[str]:
    d = _folder(t, "textures")
    (d / name).write_bytes(data)
    return ["materials.textures=[image]", "materials.texture_probability=1.0", f"materials.image_dir={q(d)}"]


def _png_bytes(t: Path) -> bytes:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(t / "p.png")
    return (t / "p.png").read_bytes()


def _jpeg_bytes(t: Path) -> bytes:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(t / "p.jpg")
    return (t / "p.jpg").read_bytes()


def texture_truncated_png(t):
    data = _png_bytes(t)
    return _texture(t, "half.png", data[: len(data) // 2])


def texture_garbage_jpeg(t):
    return _texture(t, "noise.jpg", os.urandom(3000))


def texture_truncated_jpeg(t):
    data = _jpeg_bytes(t)
    return _texture(t, "half.jpg", data[: len(data) // 2])


def texture_png_header_only(t):
    return _texture(t, "header.png", b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR")


def texture_empty_folder(t):
    d = _folder(t, "textures")
    return ["materials.textures=[image]", f"materials.image_dir={q(d)}"]


def texture_flying_needs_dir(t):
    return ["scene=flying", "materials.textures=[image]"]


def _photo(t: Path, name: str, data: bytes) -> list[str]:
    d = _folder(t, "photos")
    (d / name).write_bytes(data)
    return ["scene.background=[walls]", f"scene.background_dir={q(d)}"]


def photo_truncated_jpeg(t):
    data = _jpeg_bytes(t)
    return _photo(t, "half.jpg", data[: len(data) // 2])


def photo_garbage_png(t):
    return _photo(t, "noise.png", os.urandom(3000))


def photo_empty_folder(t):
    _folder(t, "photos")
    (t / "photos" / "notes.txt").write_text("not a photo")
    return [f"scene.background_dir={q(t / 'photos')}"]


def photo_missing_folder(t):
    return [f"scene.background_dir={q(t / 'nope')}"]


def output_is_a_file(t):
    (t / "a-file").write_text("not a folder")
    return [f"output.dir={q(t / 'a-file')}"]


def output_under_a_file(t):
    (t / "a-file").write_text("not a folder")
    return [f"output.dir={q(t / 'a-file' / 'dataset')}"]


def output_unwritable(t):
    locked = _folder(t, "locked")
    locked.chmod(0o500)
    return [f"output.dir={q(locked / 'dataset')}"]


def launcher_plugin_missing(files: Path) -> list[str]:
    """A launcher option whose plugin is not installed (as hydra/launcher=local without the cluster extra)."""
    (files / "hydra" / "launcher").mkdir(parents=True)
    (files / "hydra" / "launcher" / "broken.yaml").write_text("defaults:\n  - nosuch_plugin\n")
    return ["-m", "hydra/launcher=broken", f"hydra.searchpath=[file://{files}]"]


def environment_unsupported_kind(files: Path) -> list[str]:
    (files / "cell.dae").write_text("<COLLADA/>")
    return ["scene=environment", f"scene.file={q(files / 'cell.dae')}"]


def environment_garbage_glb(files: Path) -> list[str]:
    (files / "cell.glb").write_bytes(b"glTF" + bytes(64))
    return ["scene=environment", f"scene.file={q(files / 'cell.glb')}"]


def environment_gltf_buffer_outside(files: Path) -> list[str]:
    """A glTF whose geometry lies in a buffer one folder up (never read: refused before Blender)."""
    (files / "room").mkdir()
    (files / "x.bin").write_bytes(bytes(36))
    doc = {"asset": {"version": "2.0"}, "buffers": [{"byteLength": 36, "uri": "../x.bin"}],
           "bufferViews": [{"buffer": 0, "byteLength": 36}],
           "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3"}],
           "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}], "nodes": [{"mesh": 0}],
           "scenes": [{"nodes": [0]}], "scene": 0}
    (files / "room" / "cell.gltf").write_text(json.dumps(doc))
    return ["scene=environment", f"scene.file={q(files / 'room' / 'cell.gltf')}"]


# ------------------------------------------------------------------ the corpus


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...] | Callable[[Path], list[str]]
    expected: str
    """Text the one error line must contain: the key or the file, and what is wrong."""


def C(name: str, args, expected: str) -> Case:
    return Case(name, tuple(args) if isinstance(args, list) else args, expected)


CASES = [
    # top level
    C("frames-zero", ["frames=0"], "frames=0: must be in [1, 1000000]"),
    C("frames-negative", ["frames=-3"], "frames=-3"),
    C("frames-huge", ["frames=1000000000"], "frames=1000000000: must be in [1, 1000000]"),
    C("frames-float", ["frames=1.5"], "'frames'"),
    C("start-negative", ["start=-1"], "start=-1"),
    C("start-past-index-limit", ["start=999999999", "frames=5"], "beyond 999999999"),
    C("seed-negative", ["seed=-1"], "seed=-1"),
    C("seed-text", ["seed=abc"], "'seed'"),
    # render
    C("width-huge", ["render.width=100000"], "render.width=100000: must be in [4, 65536]"),
    C("width-zero", ["render.width=0"], "render.width=0"),
    C("width-below-blender-min", ["render.width=3"], "render.width=3"),
    C("height-negative", ["render.height=-1"], "render.height=-1"),
    C("width-text", ["render.width=abc"], "'render.width'"),
    C("samples-zero", ["render.samples=0"], "render.samples=0"),
    C("samples-huge", ["render.samples=100000000"], "render.samples=100000000"),
    C("filter-nan", ["render.filter_width=nan"], "render.filter_width=nan: must be a finite number"),
    C("filter-inf", ["render.filter_width=inf"], "render.filter_width=inf"),
    C("filter-zero", ["render.filter_width=0"], "render.filter_width=0.0"),
    C("threads-negative", ["render.threads=-1"], "render.threads=-1"),
    C("threads-huge", ["render.threads=5000"], "render.threads=5000"),
    C("device-unknown", ["render.device=vulkan"], "render.device='vulkan': unknown value; use one of auto"),
    C("engine-eevee", ["render.engine=eevee"], "render.engine='eevee'"),
    C("denoise-maybe", ["render.denoise=maybe"], "'render.denoise'"),
    # camera
    C("distance-nan", ["scene.camera_distance=[nan,1.0]"], "scene.camera_distance=[nan, 1.0]: values must be finite numbers"),
    C("distance-inf", ["scene.camera_distance=[1,inf]"], "scene.camera_distance=[1.0, inf]"),
    C("distance-zero", ["scene.camera_distance=[0,1]"], "scene.camera_distance=[0.0, 1.0]: both ends must be >= 0.001"),
    C("distance-reversed", ["scene.camera_distance=[2,1]"], "low must be <= high"),
    C("distance-one-value", ["scene.camera_distance=[1]"], "must be a range [low, high] of 2 numbers"),
    C("distance-three-values", ["scene.camera_distance=[1,2,3]"], "scene.camera_distance=[1.0, 2.0, 3.0]"),
    C("distance-scalar", ["scene.camera_distance=1.0"], "'scene.camera_distance'"),
    C("principal-point-inf", ["camera.principal_point_jitter=inf"], "camera.principal_point_jitter=inf"),
    C("principal-point-negative", ["camera.principal_point_jitter=-1"], "camera.principal_point_jitter=-1.0"),
    C("elevation-past-zenith", ["scene.camera_elevation=[10,95]"], "scene.camera_elevation=[10.0, 95.0]"),
    C("focal-below-blender-min", ["camera.focal_length=[0.5,50]"], "camera.focal_length=[0.5, 50.0]"),
    C("sensor-zero", ["camera.sensor_width=0"], "camera.sensor_width=0.0"),
    C("clip-order", ["camera.clip_start=200"], "camera.clip_start=200.0 must be < camera.clip_end"),
    C("clip-zero", ["camera.clip_start=0"], "camera.clip_start=0.0"),
    C("exposure-huge", ["camera.exposure=[-30,0]"], "camera.exposure=[-30.0, 0.0]"),
    C("dof-probability", ["camera.dof_probability=1.5"], "camera.dof_probability=1.5"),
    C("fstop-zero", ["camera.fstop=[0,1]"], "camera.fstop=[0.0, 1.0]"),
    C("look-at-jitter-negative", ["scene.look_at_jitter=-0.1"], "scene.look_at_jitter=-0.1"),
    C("azimuth-nan", ["scene.camera_azimuth=[nan,1]"], "scene.camera_azimuth"),
    # lighting
    C("light-count-negative", ["lighting.count=[-1,2]"], "lighting.count=[-1, 2]"),
    C("light-count-huge", ["lighting.count=[0,100000]"], "lighting.count=[0, 100000]"),
    C("light-types-unknown", ["lighting.types=[point,laser]"], "lighting.types=['point', 'laser']: unknown 'laser'"),
    C("light-types-empty", ["lighting.types=[]"], "lighting.types=[]: must name at least one of"),
    C("world-unknown", ["lighting.world=[cloudy]"], "lighting.world=['cloudy']"),
    C("world-empty", ["lighting.world=[]"], "lighting.world=[]"),
    C("light-saturation", ["lighting.saturation=[0,2]"], "lighting.saturation=[0.0, 2.0]"),
    C("temperature-low", ["lighting.temperature=[500,6500]"], "lighting.temperature=[500.0, 6500.0]"),
    C("temperature-probability", ["lighting.temperature_probability=-0.1"], "lighting.temperature_probability"),
    C("point-power-nan", ["lighting.point_power=[nan,1]"], "lighting.point_power"),
    C("light-elevation", ["lighting.elevation=[0,120]"], "lighting.elevation=[0.0, 120.0]"),
    C("sun-elevation", ["lighting=sky", "lighting.sun_elevation=[10,95]"], "lighting.sun_elevation"),
    C("sky-strength-reversed", ["lighting.sky_strength=[1,0.5]"], "lighting.sky_strength"),
    C("hdri-rotation-inf", ["lighting.hdri_rotation=[0,inf]"], "lighting.hdri_rotation"),
    # materials
    C("hue-past-one", ["materials.hue=[0,1.5]"], "materials.hue=[0.0, 1.5]"),
    C("roughness-negative", ["materials.roughness=[-1,1]"], "materials.roughness"),
    C("metallic-probability", ["materials.metallic_probability=2"], "materials.metallic_probability=2.0"),
    C("transmission-probability-nan", ["materials.transmission_probability=nan"], "materials.transmission_probability"),
    C("textures-unknown", ["materials.textures=[plaid]"], "materials.textures=['plaid']"),
    C("textures-empty", ["materials.textures=[]"], "materials.textures=[]"),
    C("textures-image-without-folder", ["materials.textures=[image]"], "materials.image_dir is null"),
    C("texture-detail", ["materials.texture_detail=[0,16]"], "materials.texture_detail=[0.0, 16.0]"),
    C("texture-scale-zero", ["materials.texture_scale=[0,1]"], "materials.texture_scale"),
    C("texture-distortion-huge", ["materials.texture_distortion=[0,1e9]"], "materials.texture_distortion"),
    C("image-dir-missing", lambda t: [f"materials.image_dir={q(t / 'nope')}"], "is not a folder"),
    # objects
    C("count-reversed", ["objects.count=[5,2]"], "objects.count=[5, 2]: low must be <= high"),
    C("count-negative", ["objects.count=[-1,3]"], "objects.count=[-1, 3]"),
    C("count-past-object-limit", ["objects.count=[0,70000]"], "objects.count=[0, 70000]"),
    C("count-scalar", ["objects.count=5"], "'objects.count'"),
    C("scale-zero", ["scene.object_scale=[0,1]"], "scene.object_scale=[0.0, 1.0]"),
    C("dir-scale-zero", ["objects.dir_scale=0"], "objects.dir_scale=0.0"),
    C("no-assets", ["objects.catalog=null"], "no assets"),
    C("weights-unknown-category", ["objects.weights={nosuch: 2}"], "objects.weights names unknown categories"),
    C("weights-negative", ["objects.weights={box: -1}"], "objects.weights={'box': -1.0}"),
    C("weights-nan", ["objects.weights={box: nan}"], "objects.weights"),
    C("min-per-frame-too-many", ["objects.min_per_frame={box: 20}"], "objects.min_per_frame asks for 20"),
    C("max-per-frame-negative", ["objects.max_per_frame={box: -1}"], "objects.max_per_frame"),
    C("dirs-not-a-mapping", ["objects.dirs=5"], "'objects.dirs'"),
    # placement
    C("placement-mode", ["scene.placement=teleport"], "scene.placement='teleport'"),
    C("supports-unknown", ["scene.placement=physics", "scene.physics.supports=[shelf]"], "scene.physics.supports=['shelf']"),
    C("supports-empty", ["scene.placement=physics", "scene.physics.supports=[]"], "scene.physics.supports=[]"),
    C("max-seconds-inf", ["scene.placement=physics", "scene.physics.max_seconds=inf"], "scene.physics.max_seconds=inf"),
    C("max-seconds-huge", ["scene.placement=physics", "scene.physics.max_seconds=1e9"], "scene.physics.max_seconds"),
    C("margin-too-big", ["scene.placement=physics", "scene.physics.margin=0.01"], "scene.physics.margin=0.01"),
    C("substeps-zero", ["scene.placement=physics", "scene.physics.substeps=0"], "scene.physics.substeps=0"),
    C("restitution", ["scene.placement=physics", "scene.physics.restitution=[0,2]"], "scene.physics.restitution"),
    C("friction-negative", ["scene.placement=physics", "scene.physics.friction=[-1,1]"], "scene.physics.friction"),
    C("table-size-zero", ["scene.placement=physics", "scene.physics.table_size=[0,1]"], "scene.physics.table_size"),
    C("rest-speed-zero", ["scene.placement=physics", "scene.physics.rest_speed=0"], "scene.physics.rest_speed"),
    # sequence
    C("sequence-length-zero", ["sequence.length=0"], "sequence.length=0"),
    C("sequence-length-huge", ["sequence.length=1000000000"], "sequence.length=1000000000: must be in [1, 10000]"),
    C("sequence-gap-zero", ["sequence.gap=0"], "sequence.gap=0"),
    C("sequence-gap-vs-length", ["sequence.length=3", "sequence.gap=3"], "leaves no frame pair"),
    C("sequence-formats", ["sequence.formats=[png]"], "sequence.formats=['png']"),
    C("sequence-length-text", ["sequence.length=abc"], "'sequence.length'"),
    # output
    C("output-is-a-file", output_is_a_file, "is a file, not a folder"),
    C("output-under-a-file", output_under_a_file, "cannot be created"),
    C("output-empty", ["output.dir=''"], "output.dir=''"),
    C("previews-maybe", ["output.previews=maybe"], "'output.previews'"),
    C("output-formats-unknown", ["output.formats=[voc]"], "output.formats=['voc']"),
    C("output-labels-unknown", ["output.labels=[bogus]"], "output.labels=['bogus']"),
    C("output-splits-merged", ["output.splits={train: 0.9, val: 0.1}"], "sum to 1.1, not 1"),
    C("output-split-by-unknown", ["output.split_by=scene"], "output.split_by"),
    C("output-labels-empty-name", ["output.labels=['']"], "output.labels=['']: item '' must not be empty"),
    # scene=tabletop
    C("area-radius-zero", ["scene.area_radius=0"], "scene.area_radius=0.0"),
    C("ground-size-negative", ["scene.ground_size=-1"], "scene.ground_size=-1.0"),
    C("clearance-negative", ["scene.clearance=-0.1"], "scene.clearance=-0.1"),
    C("max-tries-zero", ["scene.max_tries=0"], "scene.max_tries=0"),
    C("max-tries-huge", ["scene.max_tries=1000000000"], "scene.max_tries=1000000000"),
    C("tabletop-distractors-negative", ["scene.distractors=[-1,2]"], "scene.distractors=[-1, 2]"),
    C("tabletop-object-limit", ["objects.count=[1,65535]", "scene.distractors=[0,5]"], "allow more than 65529"),
    C("background-unknown", ["scene.background=[space]"], "scene.background=['space']"),
    C("background-empty", ["scene.background=[]"], "scene.background=[]"),
    C("walls-inside-area", ["scene.wall_distance=[0.1,3]"], "scene.wall_distance=[0.1, 3.0]"),
    C("wall-height-zero", ["scene.wall_height=[0,1]"], "scene.wall_height"),
    C("orbit-nan", ["scene.camera_orbit=[nan,1]"], "scene.camera_orbit"),
    C("distractor-scale-zero", ["scene.distractor_scale=[0,1]"], "scene.distractor_scale"),
    C("impossible-placement", ["objects.count=[50,50]", "scene.area_radius=0.1"], "impossible placement: 50 objects"),
    C("tabletop-unknown-key", ["scene.depht=[1,2]"], "unknown key 'scene.depht'"),
    C("tabletop-flying-key", ["scene.depth=[1,2]"], "scene.depth is a setting of scene=flying; scene=tabletop has no"),
    C("hydra-unknown-group-option", ["+effects=nope"],  # Hydra's own error, its first line (simgen.compose.store)
      "Could not find 'effects/nope' (HYDRA_FULL_ERROR=1 shows the details)"),
    # scene=flying
    C("flying-depth-reversed", ["scene=flying", "scene.depth=[2,1]"], "scene.depth=[2.0, 1.0]"),
    C("flying-depth-zero", ["scene=flying", "scene.depth=[0,3]"], "scene.depth=[0.0, 3.0]"),
    C("flying-speed-negative", ["scene=flying", "scene.speed=[-1,1]"], "scene.speed"),
    C("flying-spin-nan", ["scene=flying", "scene.spin=[nan,1]"], "scene.spin"),
    C("flying-pitch", ["scene=flying", "scene.camera_pitch=[-95,0]"], "scene.camera_pitch"),
    C("flying-textures", ["scene=flying", "materials.textures=[plaid]"], "materials.textures=['plaid']"),
    C("flying-light-scale", ["scene=flying", "scene.light_scale=0"], "scene.light_scale=0.0"),
    C("flying-texture-probability", ["scene=flying", "scene.object_texture_probability=1.5"],
      "scene.object_texture_probability"),
    C("flying-background-before-objects", ["scene=flying", "scene.background_distance=[5,9]"],
      "must lie beyond the objects' scene.depth"),
    C("flying-texture-detail", ["scene=flying", "materials.texture_detail=[0,20]"], "materials.texture_detail"),
    C("flying-physics", ["scene=flying", "scene.placement=physics"],
      "scene.placement is a setting of scene=environment and scene=tabletop; scene=flying has no such key"),
    C("moved-placement", ["placement=physics"], "placement is now scene.placement (a setting of scene=tabletop)"),
    C("flying-exposure", ["scene=flying", "camera.exposure=[-1,1]"], "does nothing with scene=flying"),
    C("flying-camera-distance", ["scene=flying", "scene.camera_distance=[2,3]"],
      "scene.camera_distance is a setting of scene=bin_picking, scene=environment and scene=tabletop; scene=flying has no such key"),
    C("flying-object-scale", ["scene=flying", "scene.object_scale=[1,2]"],
      "scene.object_scale is a setting of scene=bin_picking, scene=environment and scene=tabletop; scene=flying has no such key"),
    C("flying-exposure", ["scene=flying", "camera.exposure=[1,2]"], "camera.exposure=[1.0,2.0] does nothing"),
    # keys that moved into the tabletop recipe: the old name says the new one
    C("moved-camera-distance", ["camera.distance=[2,3]"], "camera.distance is now scene.camera_distance"),
    C("moved-object-scale", ["objects.scale=[1,2]"], "objects.scale is now scene.object_scale"),
    C("moved-look-at-jitter", ["scene=flying", "camera.look_at_jitter=0"],
      "camera.look_at_jitter is now scene.look_at_jitter (a setting of scene=tabletop)"),
    C("flying-fisheye", ["scene=flying", "camera.focal_length=[2,50]"], "field of view too wide"),
    C("flying-sequence-huge", ["scene=flying", "sequence.length=1000000000"], "sequence.length=1000000000"),
    C("flying-unknown-key", ["scene=flying", "scene.area_radiu=1"], "unknown key 'scene.area_radiu'"),
    C("unknown-recipe", ["scene.recipe=nosuch"], "unknown scene recipe 'nosuch'"),
    # Hydra-level
    C("misspelt-key", ["frmaes=3"], "unknown key 'frmaes'; did you mean 'frames'?"),
    C("shard-index-too-big", ["shard.count=2", "shard.index=2"], "shard.index=2 must be below shard.count=2"),
    C("shard-count-zero", ["shard.count=0"], "shard.count=0: must be in [1, 1000000]"),
    C("device-index-below", ["render.device_index=-2"], "render.device_index=-2"),
    C("misspelt-nested-key", ["render.widht=64"], "unknown key 'render.widht'; did you mean 'render.width'?"),
    C("misspelt-scene-key", ["scene.area_radiu=1"], "did you mean 'scene.area_radius'?"),
    C("unknown-key-no-guess", ["colour=red"], "unknown key 'colour'"),
    C("key-under-a-value", ["frames.x=3"], "'frames' has no key 'x'"),
    C("appended-typo", ["+frmaes=3"], "unknown config key 'frmaes'; did you mean 'frames'?"),
    C("bad-group-option", ["lighting=wid"], "unknown option lighting=wid; did you mean 'lighting=wide'?"),
    C("bad-group-option-no-guess", ["render=eevee"], "unknown option render=eevee"),
    C("bad-scene-option", ["scene=flyin"], "did you mean 'scene=flying'?"),
    C("bad-experiment", ["experiment=nosuch"], "unknown option experiment=nosuch"),
    C("experiment-is-a-study", ["experiment=dr_gap"], "experiment=dr_gap is a study, not an overlay: studies run "
      "with simgen study dr_gap"),
    C("experiment-sweep-with-a-study", ["experiment=dr_ablation,own_look"], "studies run with simgen study own_look"),
    C("experiment-is-a-study-file", experiment_study_file,
      "is a study, not an overlay: studies run with simgen study "),
    C("lexer-non-ascii", ["output.dir=/data/ü"], "quote the value for Hydra, e.g. simgen \"output.dir='/data/ü'\""),
    C("lexer-unclosed-list", ["scene.camera_distance=[1,2"], "cannot parse the override 'scene.camera_distance=[1,2'"),
    C("lexer-unbalanced-quote", ["output.dir='/data/x"], "cannot parse the override"),
    C("bad-interpolation", ["output.dir='${nosuch}'"], "nosuch"),
    # user files: meshes
    C("mesh-garbage", mesh_garbage, "cannot load mesh"),
    # user files: articulated models (URDF)
    C("robot-mesh-outside", robot_mesh_outside, "'../secret.obj', which leads out of"),
    C("robot-mesh-missing", robot_mesh_missing, "gone.obj, which does not exist"),
    C("robot-xml-bomb", robot_xml_bomb, "declares a DOCTYPE or entities"),
    C("robot-limit-reversed", robot_limit_reversed, "reversed"),
    # camera calibrations (real lenses)
    C("calibration-missing", ["camera.calibration=/nonexistent/cam.yaml"], "no such calibration file"),
    C("calibration-garbage", calibration_garbage, "cam.yaml"),
    C("calibration-other-size", calibration_other_size, "calibrated for 160x120 pixels but render.width x render.height is 64x48"),
    C("calibration-with-bop", calibration_with_bop, "output.formats=[bop]"),
    C("calibration-with-nerfstudio", calibration_with_nerfstudio, "output.formats=[nerfstudio], camera.dof_probability=0.5"),
    C("calibration-in-flying", calibration_in_flying, "camera.calibration"),
    C("calibration-on-cuda", calibration_on_cuda, "render.device=cuda (no OSL: use optix or cpu)"),
    C("calibration-jitter-folds", calibration_jitter_folds, "camera.focal_jitter=0.1 and camera.principal_point_jitter=0.0 (the spread's extremes)"),
    C("focal-jitter-without-calibration", ["camera.focal_jitter=0.01"], "camera.focal_jitter=0.01 varies a calibration's"),
    C("mesh-truncated", mesh_truncated, "half.ply"),
    C("mesh-zero-area", mesh_zero_area, "flat.obj: every face has zero area"),
    C("mesh-nan-vertices", mesh_nan, "nan.obj"),
    C("mesh-empty-file", mesh_empty_file, "empty.obj"),
    C("mesh-points-only", mesh_points_only, "points.ply"),
    C("mesh-empty-folder", mesh_empty_folder, "contains no mesh files"),
    C("mesh-folder-missing", mesh_folder_missing, "asset folder not found"),
    C("mesh-texture-missing", mesh_texture_missing, "gone.png"),
    C("mesh-texture-outside", mesh_texture_outside, "outside the asset's folder"),
    C("mesh-texture-corrupt", mesh_texture_corrupt, "bad.png"),
    C("mesh-gltf-image-outside", mesh_gltf_image_outside, "m.gltf: the file contains no mesh geometry"),
    C("mesh-symlink-loop", mesh_symlink_loop, "broken or looping symlink"),
    C("mesh-link-loop", mesh_link_loop, "looping symlink"),
    C("mesh-folder-is-a-loop", mesh_folder_is_a_loop, "symlink loop"),
    C("mesh-dangling-link", mesh_dangling_link, "gone.ply"),
    # user files: catalog YAML
    C("catalog-bad-syntax", catalog_bad_syntax, "is not valid YAML"),
    C("catalog-category-dotdot", catalog_dotdot, "bad category name '..'"),
    C("catalog-category-slash", catalog_slash, "bad category name 'a/b'"),
    C("catalog-category-dot", catalog_dot, "bad category name '.'"),
    C("catalog-missing-mesh", catalog_missing_mesh, "asset file not found"),
    C("catalog-undecodable", catalog_undecodable, "cannot read catalog file"),
    C("catalog-not-a-mapping", catalog_not_mapping, "must be a YAML mapping"),
    C("catalog-unknown-key", catalog_unknown_key, "unknown key(s) 'asets'"),
    C("catalog-duplicate-category", catalog_duplicate_category, "listed twice"),
    C("catalog-missing", catalog_missing, "catalog file not found"),
    C("catalog-mesh-is-a-folder", catalog_mesh_is_folder, "asset path is not a file"),
    C("catalog-mesh-garbage", catalog_mesh_garbage, "noise.stl"),
    # user files: HDRIs
    C("hdri-garbage", hdri_garbage, "sky.hdr (lighting.hdri_dir): it does not decode"),
    C("hdri-truncated", hdri_truncated, "half.hdr (lighting.hdri_dir): it does not decode"),
    C("hdri-empty-file", hdri_empty_file, "empty.hdr (lighting.hdri_dir): the file is empty"),
    C("hdri-exr-truncated", hdri_exr_truncated, "half.exr (lighting.hdri_dir)"),
    C("hdri-exr-garbage", hdri_exr_garbage, "noise.exr (lighting.hdri_dir)"),
    C("hdri-exr-nan", hdri_exr_nan, "nan.exr (lighting.hdri_dir): its pixels are not all finite"),
    C("hdri-empty-folder", hdri_empty_folder, "holds no .hdr or .exr files"),
    C("hdri-missing-folder", hdri_missing_folder, "is not a folder"),
    # user files: texture images
    C("texture-truncated-png", texture_truncated_png, "half.png (materials.image_dir): it does not decode"),
    C("texture-garbage-jpeg", texture_garbage_jpeg, "noise.jpg (materials.image_dir)"),
    C("texture-truncated-jpeg", texture_truncated_jpeg, "half.jpg (materials.image_dir)"),
    C("texture-png-header-only", texture_png_header_only, "header.png"),
    C("texture-empty-folder", texture_empty_folder, "holds no images"),
    C("texture-flying-needs-folder", texture_flying_needs_dir, "materials.textures has image but materials.image_dir"),
    C("launcher-plugin-missing", launcher_plugin_missing,
      "hydra/launcher/nosuch_plugin is a Hydra launcher plugin that is not installed: the cluster extra brings"),
    # user files: a scene file as the world (scene=environment)
    C("environment-missing-file", ["scene=environment", "scene.file=/nonexistent/cell.blend"],
      "scene.file=/nonexistent/cell.blend: no such file"),
    C("environment-unsupported-kind", environment_unsupported_kind, "a .dae file is not a scene simgen reads; use one of"),
    C("environment-garbage-glb", environment_garbage_glb, "cell.glb: Blender cannot read it"),
    C("environment-gltf-buffer-outside", environment_gltf_buffer_outside,
      "cell.gltf: its buffer '../x.bin' is refused: it leads out of the file's folder"),
    C("environment-supports-name-nothing", ["scene=environment", "scene.supports=[nothing*]"],
      "scene.supports=['nothing*'] names no part of"),
    C("environment-label-name", ["scene=environment", "scene.labels={a/b: [x]}"], "bad category name 'a/b' (scene.labels.a/b)"),
    C("environment-light-temperature-reversed", ["scene=environment", "scene.file_light_temperature=[6000,3000]"],
      "scene.file_light_temperature=[6000.0, 3000.0]: give a range"),
    # user files: background photos
    C("photo-truncated-jpeg", photo_truncated_jpeg, "half.jpg (scene.background_dir): it does not decode"),
    C("photo-garbage-png", photo_garbage_png, "noise.png (scene.background_dir): it does not decode"),
    C("photo-empty-folder", photo_empty_folder, "scene.background_dir="),
    C("photo-missing-folder", photo_missing_folder, "is not a folder"),
    # sensor.events
    C("events-single-frames", ["sensor.events=true"], "sensor.events=true makes events from the changes between a "
      "sequence's frames: set sequence.length=2 or more"),
    C("events-substeps-zero", ["sensor.events=true", "sequence.length=2", "sensor.events_substeps=0"],
      "sensor.events_substeps=0"),
    C("sequence-fps-zero", ["sensor.events=true", "sequence.length=2", "sequence.fps=0"], "sequence.fps=0"),
    C("events-label-alone", ["output.labels=[events]"], "output.labels has events, which the event camera makes: "
      "set sensor.events=true"),
    C("events-rolling-shutter", ["sensor.events=true", "sequence.length=2", "sensor.rolling_shutter_ms=10"],
      "sensor.events renders each sub-step whole (a global shutter)"),
]
if os.geteuid() != 0:  # root writes anywhere: the permission case only exists for other users
    CASES.append(C("output-unwritable", output_unwritable, "is not writable"))


# ------------------------------------------------------------------ running simgen in-process


class _Guard(types.ModuleType):
    """A stand-in for bpy and simgen.blender: touching it records that Blender was reached."""

    touched = False

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        type(self).touched = True
        raise ImportError(f"test guard: Blender must not be reached for bad input ({self.__name__}.{name})")


def run_in_process(argv: list[str], cwd: Path, monkeypatch, capfd) -> tuple[int, str, str, bool]:
    _Guard.touched = False
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["simgen", *argv])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.setitem(sys.modules, "bpy", _Guard("bpy"))
    monkeypatch.setitem(sys.modules, "simgen.blender", _Guard("simgen.blender"))
    from simgen.assets.images import texture_images

    texture_images.cache_clear()  # folders are made fresh per test
    try:
        simgen.cli.main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out, err = capfd.readouterr()
    return code, out, err, _Guard.touched


def _files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if not p.is_dir()] if path.is_dir() else ([path] if path.exists() else [])


def _check(code: int, out: str, err: str, expected: str, out_dir: Path, cwd: Path, preexisting: list[Path]) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and "Traceback" not in out, err + out
    assert code == 2, (code, err, out)
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("simgen: error: "), lines[0]
    assert expected in lines[0], f"{expected!r} not in {lines[0]!r}"
    new = [p for p in _files_under(out_dir) if p not in preexisting]
    assert not new, f"files written for bad input: {new}"
    assert not list(cwd.iterdir()), f"the working directory got {list(cwd.iterdir())}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path, monkeypatch, capfd):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    files = tmp_path / "files"
    files.mkdir()
    out_dir = tmp_path / "out"
    args = list(case.args(files)) if callable(case.args) else list(case.args)
    if not any(a.startswith("output.dir=") for a in args):
        args.append(f"output.dir={q(out_dir)}")
    else:
        out_dir = Path(next(a for a in args if a.startswith("output.dir=")).split("=", 1)[1].strip("'"))
    preexisting = _files_under(out_dir)
    code, out, err, touched = run_in_process([*TINY, *args], cwd, monkeypatch, capfd)
    assert not touched, "Blender was reached for bad input"
    _check(code, out, err, case.expected, out_dir, cwd, preexisting)


def test_the_corpus_covers_every_group_and_file_kind():
    assert len(CASES) >= 80
    text = " ".join(" ".join(c.args) if not callable(c.args) else c.args.__name__ for c in CASES)
    for group in ("render.", "camera.", "lighting.", "materials.", "objects.", "scene.physics.", "sequence.",
                  "output", "scene.", "scene=flying", "scene=environment", "frames=", "start=", "seed="):
        assert group in text, group
    for kind in ("mesh_", "catalog_", "hdri_", "texture_", "output_", "environment_"):
        assert kind in text, kind


# ------------------------------------------------------------------ the console script, end to end

SUBPROCESS_CASES = ["misspelt-key", "distance-nan", "hdri-truncated", "lexer-non-ascii", "mesh-symlink-loop",
                    "texture-truncated-png", "experiment-is-a-study"]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_bad_input_console_script(name, tmp_path):
    case = next(c for c in CASES if c.name == name)
    cli = Cli(tmp_path)
    files = tmp_path / "files"
    files.mkdir()
    args = list(case.args(files)) if callable(case.args) else list(case.args)
    result = cli(*TINY, *args)  # output.dir=tmp/out; no hydra.run.dir: Cli passes one, so drop it below
    _check(result.returncode, result.stdout, result.stderr, case.expected, cli.out, cli.cwd, [])
    assert not cli.bpy_imported


def test_the_guard_sees_a_good_config_reach_blender(tmp_path, monkeypatch, capfd):
    """The in-process harness would notice Blender: a good config gets as far as importing it."""
    (tmp_path / "cwd").mkdir()
    with pytest.raises(ImportError, match="test guard"):
        run_in_process([*TINY, f"output.dir={q(tmp_path / 'out')}"], tmp_path / "cwd", monkeypatch, capfd)
    assert _Guard.touched
    assert not (tmp_path / "out" / "dataset.json").exists()
