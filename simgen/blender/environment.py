"""A user's world from a file: its parts, cameras and lights, read by Blender.

:func:`load` brings a scene file (``.blend``, glTF/GLB, USD, FBX, OBJ: :data:`IMPORTERS`) into
a scene of its own, evaluates it (modifiers, geometry nodes and collection instances applied) and
makes one Blender mesh per evaluated object, in its local coordinates, with the file's own
materials; every object instance is a *part* (its mesh and its world matrix). The scene and the
file's objects are then removed: what stays is the meshes, their materials and images.

The same function serves both sides of the boundary, so that they agree part for part:

- the render process (:class:`simgen.blender.datablocks.Datablocks`) loads a file once and links
  a part's mesh to each frame's object;
- ``python -m simgen.blender.environment FILE FOLDER`` (run by
  :func:`simgen.assets.environment.load_environment`, once per file, into a cache) writes the parts'
  triangles, names, collections, materials and custom properties, and the file's cameras and
  lights, as plain data (``environment.json`` and ``meshes.npz``) for the pure side, which never
  imports bpy.

A scene file is data: it is read with Blender's script auto-execution off (the module's default,
asserted here), so its text blocks, scripted drivers and handlers never run. Every other file it
names must lie inside its folder (symbolic links resolved); what does not, or is missing, is left
out and named in :attr:`Loaded.skipped`: images (every format), an OBJ's material libraries (the
OBJ is then imported from a copy in a temporary folder that names only the inside ones), a
``.blend``'s linked libraries (removed with their data after loading) and a USD file's sublayers,
references and payloads (muted: never opened; the stage is flattened into a temporary folder and
that is imported). A glTF's buffers are checked before Blender reads it
(:func:`simgen.assets.environment.check_file`: refused, one line).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator
from typing import Any, Optional

import bpy
import numpy as np

from simgen.errors import SimgenError
from simgen.assets.environment import ALL_CLIPS, MISSING, OUTSIDE, check_file, judge
from simgen.image_header import check_pixels
from simgen.scene.data import MAX_IMAGE_PIXELS

IMPORTERS = {".blend": "blend", ".glb": "gltf", ".gltf": "gltf", ".usd": "usd", ".usda": "usd", ".usdc": "usd",
             ".usdz": "usd", ".fbx": "fbx", ".obj": "obj"}
"""The files an environment may be, by suffix, and the importer of each."""
GEOMETRY = frozenset({"MESH", "CURVE", "SURFACE", "META", "FONT", "CURVES", "POINTCLOUD", "VOLUME"})
"""Object types whose evaluated geometry may be a mesh (those that give none are skipped)."""
LIGHT_KINDS = {"POINT": "point", "SUN": "sun", "SPOT": "spot", "AREA": "area"}


@dataclass
class LoadedPart:
    """One evaluated object instance of the file."""

    name: str
    """Unique within the file: the object's name, or for an instance ``INSTANCER/OBJECT#k``."""
    mesh: str
    """The key of its mesh in :attr:`Loaded.meshes` (instances of one object share one)."""
    matrix: np.ndarray
    """4x4 world matrix (Blender's world: Z up, metres)."""
    collections: list[str] = field(default_factory=list)
    materials: list[str] = field(default_factory=list)
    props: dict[str, Any] = field(default_factory=dict)
    """The object's custom properties of plain types (bool, int, float, str)."""


@dataclass
class Loaded:
    """A file's environment as Blender data: meshes by key, parts, cameras and lights (plain dicts)."""

    meshes: dict[str, bpy.types.Mesh]
    parts: list[LoadedPart]
    cameras: list[dict[str, Any]]
    lights: list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)
    """What the file names and was left out (outside its folder, missing), each with what and why:
    ``KIND NAME (PATH: WHY; WHAT IT MEANS)``, one entry per file."""
    world: Optional[bpy.types.World] = None
    """The file's world shader (a .blend scene's world), kept; None: it has none."""
    markers: list[dict[str, Any]] = field(default_factory=list)
    """Its meshes and empties hidden from rendering: name, world box (lo, hi), collections, props."""
    animation: Optional[dict[str, Any]] = None
    """With ``load(..., animation=True)`` and a file whose scene moves (:func:`_animation`): frames per
    second and, per clip (a glTF's animations; else the file's one), its name, its own frame range,
    the world matrix at every frame of each part that moves, and the parts whose geometry deforms;
    None otherwise."""


def _left_out(kind: str, name: str, path: Path | str, why: str, means: str) -> str:
    return f"{kind} {name} ({path}: {why}; {means})"


def _import(path: Path, scene: bpy.types.Scene, tmp: Path, skipped: list[str]) -> None:
    """Import ``path`` into ``scene``; a copy of it made to leave out what lies outside its folder
    goes into ``tmp`` (a temporary folder), never beside the file."""
    kind = IMPORTERS[path.suffix.lower()]
    ctx = dict(scene=scene, view_layer=scene.view_layers[0], collection=scene.collection)
    if kind == "gltf" or kind == "fbx":
        import addon_utils

        addon_utils.enable("io_scene_gltf2" if kind == "gltf" else "io_scene_fbx", default_set=False)
    if kind == "obj":
        path = _obj_source(path, tmp, skipped)
    elif kind == "usd":
        path = _usd_source(path, tmp, skipped)
    # The glTF and FBX importers build an armature in edit mode through the context's (active) object,
    # which follows the window's scene, not temp_override's: the window shows ``scene`` meanwhile.
    window = bpy.context.window
    shown = window.scene if window is not None else None
    try:
        if window is not None:
            window.scene = scene
        with bpy.context.temp_override(**ctx):
            if kind == "obj":
                bpy.ops.wm.obj_import(filepath=str(path))
            elif kind == "gltf":  # not packed: an image file keeps its path, which _check_images judges; no
                bpy.ops.import_scene.gltf(filepath=str(path), import_pack_images=False,  # bone display shapes
                                          disable_bone_shape=True)  # (an Icosphere object: not the file's)
            elif kind == "fbx":
                _fbx_lights_readable()
                bpy.ops.import_scene.fbx(filepath=str(path))
            elif kind == "usd":
                bpy.ops.wm.usd_import(filepath=str(path), set_frame_range=True, create_world_material=False)
    finally:  # the glTF importer leaves the window on the scene it imported into: the caller's again
        if window is not None and window.scene != shown:
            window.scene = shown


def _fbx_lights_readable() -> None:
    """bpy 5.0.1's own FBX importer fails on every file with a light (io_scene_fbx/import_fbx.py,
    blen_read_light, sets ``lamp.cycles.cast_shadow``, which Cycles' light settings of 5.0 no longer
    have: AttributeError 'CyclesLightSettings' object has no attribute 'cast_shadow'). Cycles' class
    is given back that property (unused by Cycles: the light's own ``use_shadow`` casts shadows)
    where it lacks it. Checked before each FBX import: reading factory settings re-registers the
    class without it."""
    probe = bpy.data.lights.new("simgen_probe", "POINT")
    try:
        settings = type(probe.cycles)
    finally:
        bpy.data.lights.remove(probe)
    if "cast_shadow" not in settings.bl_rna.properties:
        settings.cast_shadow = bpy.props.BoolProperty(default=True)


MTLLIB = re.compile(rb"^[ \t]*mtllib[ \t]+(.*?)[ \t]*\r?$", re.MULTILINE)


def _obj_source(path: Path, tmp: Path, skipped: list[str]) -> Path:
    """The OBJ to import: ``path`` itself when every material library it names (each ``mtllib``
    line's rest, and ``NAME.mtl`` beside it, which Blender's importer also reads) lies inside its
    folder; else a copy in ``tmp`` whose ``mtllib`` lines name only the inside ones (by a path
    relative to ``tmp``), the others left out (their materials keep Blender's defaults)."""
    import contextlib
    import mmap

    root = path.parent
    with path.open("rb") as f, (mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if os.fstat(f.fileno()).st_size
                                 else contextlib.nullcontext(b"")) as text:
        names = list(dict.fromkeys(x.group(1) for x in MTLLIB.finditer(text)))
        own = os.fsencode(path.stem + ".mtl")
        bad = set()
        for raw in [*names, own] if own not in names else names:
            name = os.fsdecode(raw).lstrip("/\\")  # the importer joins even an absolute name to the OBJ's folder
            found, why = judge(root, name)
            if why == OUTSIDE:
                bad.add(raw)
                skipped.append(_left_out("material library", name, found, OUTSIDE, "its materials keep Blender's defaults"))
            elif why == MISSING and raw in names:
                skipped.append(_left_out("material library", name, root / name, MISSING,
                                         "its materials keep Blender's defaults"))
        if not bad:
            return path
        here = tmp.resolve()

        def named(raw: bytes) -> bytes:
            return b"mtllib " + os.fsencode(os.path.relpath(os.path.realpath(root / os.fsdecode(raw).lstrip("/\\")), here))

        body = MTLLIB.sub(lambda x: b"# mtllib left out" if x.group(1) in bad else named(x.group(1)), text)
    if own not in bad and own not in names and (root / os.fsdecode(own)).is_file():
        body = named(own) + b"\n" + body  # read beside the OBJ: named now, as nothing is beside the copy
    copy = here / path.name
    copy.write_bytes(body)
    return copy


def _pxr():
    """Blender's own USD Python modules (the bpy wheel carries them beside its Python), imported
    from its site-packages without leaving that folder on ``sys.path`` (whose other packages are
    not simgen's)."""
    import glob

    site = [d for d in glob.glob(os.path.join(bpy.utils.system_resource("PYTHON"), "lib", "python3*", "site-packages"))
            if d not in sys.path]
    sys.path += site
    try:
        from pxr import Sdf, Usd
    except ImportError:
        return None
    finally:
        for d in site:
            sys.path.remove(d)
    return Sdf, Usd


def _usd_source(path: Path, tmp: Path, skipped: list[str]) -> Path:
    """The USD file to import: ``path`` itself when every layer its stage composes (sublayers,
    references, payloads, in every variant, followed from layer to layer) lies inside its folder;
    else a flattened copy in ``tmp`` of the stage with the outside layers muted (never opened)."""
    if (pxr := _pxr()) is None:
        raise SimgenError(f"scene.file={path}: this Blender has no USD Python modules (pxr) to check the layers a "
                          "USD file names; convert the scene to glTF or .blend")
    Sdf, Usd = pxr
    root = path.parent
    seen, todo, muted = set(), [str(path)], []
    while todo:
        ident = todo.pop()
        if ident in seen:
            continue
        seen.add(ident)
        layer = Sdf.Layer.FindOrOpen(ident)
        if layer is None:
            continue  # missing or unreadable: the importer composes without it
        for dep in sorted(layer.GetCompositionAssetDependencies()):
            full = layer.ComputeAbsolutePath(dep)
            if not full or full in seen or full in muted:
                continue
            file = full.split("[", 1)[0]  # a layer inside a .usdz package: the package's path
            found, why = judge(root, file)
            if why == OUTSIDE:
                muted.append(full)
                skipped.append(_left_out("USD layer", dep, found, OUTSIDE, "its prims and opinions are left out"))
            elif why == MISSING:
                skipped.append(_left_out("USD layer", dep, file, MISSING, "its prims and opinions are left out"))
                seen.add(full)
            else:
                todo.append(full)
    if not muted:
        return path
    stage = Usd.Stage.CreateInMemory()
    for ident in muted:
        stage.MuteLayer(ident)
    stage.GetRootLayer().subLayerPaths.append(str(path))
    flat = stage.Flatten()
    top = Sdf.Layer.FindOrOpen(str(path))
    for key in top.pseudoRoot.ListInfoKeys():  # the file's own metadata: default prim, up axis, units
        if key not in ("subLayers", "subLayerOffsets", "doc"):
            flat.pseudoRoot.SetInfo(key, top.pseudoRoot.GetInfo(key))
    copy = tmp.resolve() / (path.stem + ".usdc")
    flat.Export(str(copy))
    return copy


def _file_scene(path: Path) -> bpy.types.Scene:
    """The first scene of a .blend, appended (its collections, objects, meshes, materials, images)."""
    with bpy.data.libraries.load(str(path), link=False) as (src, dst):
        if not src.scenes:
            raise SimgenError(f"scene.file={path}: the .blend holds no scene")
        dst.scenes = [src.scenes[0]]
    return dst.scenes[0]


def _plain(props: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in props.keys():
        v = props[k]
        if isinstance(v, (bool, int, float, str)) and not k.startswith("_"):
            out[k] = v
    return out


def load(path: str | Path, prefix: str = "env", max_pixels: int = MAX_IMAGE_PIXELS, animation: bool = False) -> Loaded:
    """The environment of the scene file ``path`` (see the module doc) at its current frame. Meshes
    are named ``{prefix}:{key}``; an image whose header states more than ``max_pixels`` is refused
    before Blender decodes it; ``animation``: its animation read too (:attr:`Loaded.animation`).
    Raises SimgenError for a file Blender cannot read or that holds no geometry."""
    if bpy.context.preferences.filepaths.use_scripts_auto_execute:
        raise SimgenError("Blender's script auto-execution is on: simgen reads scene files only with it off")
    path = check_file(path)  # a kind IMPORTERS reads, there, not too large
    own = path.suffix.lower() != ".blend"
    scene = bpy.data.scenes.new(f"{prefix}:import") if own else None
    before = {kind: set(getattr(bpy.data, kind)) for kind in NEW_KINDS}
    loaded = None
    skipped: list[str] = []
    tmp = tempfile.TemporaryDirectory(prefix="simgen-scene-")
    try:
        try:
            if own:
                _import(path, scene, Path(tmp.name), skipped)
            else:
                scene = _file_scene(path)
                skipped += _check_libraries(path, set(bpy.data.libraries) - before["libraries"])
        except SimgenError:
            raise
        except Exception as e:  # noqa: BLE001 (an importer's own error: the file is broken)
            raise SimgenError(f"scene.file={path}: Blender cannot read it: {' '.join(str(e).split())[:300]}") from None
        loaded = _evaluate(path, scene, prefix)
        if animation:
            loaded.animation = _animation(path, scene, loaded.parts, IMPORTERS[path.suffix.lower()])
        if scene.world is not None and scene.world.node_tree is not None:
            loaded.world = scene.world
            loaded.world.name = f"{prefix}:world"
        loaded.skipped = skipped + _check_images(path, set(bpy.data.images) - before["images"], max_pixels)
        return loaded
    finally:
        keep = set() if loaded is None else {*loaded.meshes.values(), *([loaded.world] if loaded.world else [])}
        _remove_new(before, keep)
        tmp.cleanup()


def _check_images(path: Path, images: set, max_pixels: int) -> list[str]:
    """Keep the file's images that lie inside its folder (symlinks resolved) and hold at most
    render.max_image_pixels; the others are removed (their texture renders as Blender's missing
    one) and named in the returned list. A packed image is the file's own data (a .blend's packed
    image, a GLB's or a data URI's): only the importers that pack an image file they read from
    disk are told not to (glTF)."""
    root = path.resolve().parent
    skipped = []
    for img in images:
        if img.source != "FILE" or img.packed_file is not None:
            continue
        named = bpy.path.abspath(img.filepath, library=img.library)
        f, why = judge(root, named)
        if why is not None:
            skipped.append(_left_out("image", img.name, f, why, "its textures render as missing"))
            bpy.data.images.remove(img)
            continue
        check_pixels(f, max_pixels)
        if str(f) != named:  # read through a temporary copy's relative path: name the file itself
            img.filepath = str(f)
    return skipped


def _check_libraries(path: Path, libraries: set) -> list[str]:
    """Remove the libraries a .blend links from outside its folder (symlinks resolved) or that are
    missing, with the data linked from them; name each in the returned list. A library packed into
    the file is its own data."""
    root = path.resolve().parent
    skipped, remove = [], []
    for lib in sorted(libraries, key=lambda lib: lib.name):
        if lib.packed_file is not None or lib.is_archive:
            continue
        f, why = judge(root, bpy.path.abspath(lib.filepath, library=lib.parent))
        if why is None:
            continue
        skipped.append(_left_out("linked library", lib.name, f, why, "the data linked from it is left out"))
        remove.append(lib)
    for lib in remove:
        if lib.name in bpy.data.libraries:  # a library of one removed before may be gone with it
            bpy.data.libraries.remove(lib)
    return skipped


def _evaluate(path: Path, scene: bpy.types.Scene, prefix: str) -> Loaded:
    layer = scene.view_layers[0]
    with bpy.context.temp_override(scene=scene, view_layer=layer):
        dg = bpy.context.evaluated_depsgraph_get()  # an appended scene has none until asked for one
    dg.update()
    meshes: dict[str, bpy.types.Mesh] = {}
    parts: list[LoadedPart] = []
    cameras: list[dict[str, Any]] = []
    lights: list[dict[str, Any]] = []
    render = scene.render
    for name, inst in _named_instances(dg):
        ob = inst.object
        orig = ob.original
        m = np.array(inst.matrix_world, dtype=np.float64)
        if ob.type == "CAMERA":
            c = ob.data
            cameras.append({"name": name, "matrix": m.tolist(), "type": c.type, "lens": c.lens,
                            "sensor_width": c.sensor_width, "sensor_height": c.sensor_height,
                            "sensor_fit": c.sensor_fit, "shift_x": c.shift_x, "shift_y": c.shift_y,
                            "clip_start": c.clip_start, "clip_end": c.clip_end,
                            "resolution": [render.resolution_x * render.resolution_percentage // 100,
                                           render.resolution_y * render.resolution_percentage // 100],
                            "pixel_aspect": render.pixel_aspect_y / render.pixel_aspect_x})
            continue
        if ob.type == "LIGHT":
            d = ob.data
            kind = LIGHT_KINDS.get(d.type)
            if kind is None:
                continue
            size = d.angle if kind == "sun" else d.size if kind == "area" else d.shadow_soft_size
            lights.append({"name": name, "kind": kind, "matrix": m.tolist(), "power": float(d.energy),
                           "color": [float(x) for x in d.color], "size": float(size),
                           "spot_angle": float(getattr(d, "spot_size", 0.8)),
                           **({"shape": d.shape, "size_y": float(d.size_y)} if kind == "area" else {})})
            continue
        if ob.type not in GEOMETRY:
            continue
        key = orig.name
        if key not in meshes:
            me = bpy.data.meshes.new_from_object(ob, preserve_all_data_layers=True, depsgraph=dg)
            if len(me.polygons) == 0:
                bpy.data.meshes.remove(me)
                continue
            me.name = f"{prefix}:{key}"
            meshes[key] = me
        me = meshes[key]
        collections = [c.name for c in orig.users_collection if c != scene.collection]
        if inst.is_instance:
            collections += [c.name for c in inst.parent.original.users_collection if c != scene.collection]
        parts.append(LoadedPart(name=name, mesh=key, matrix=m, collections=collections,
                          materials=[mat.name for mat in me.materials if mat is not None], props=_plain(orig)))
    markers = []
    for orig in scene.objects:  # hidden from rendering: boxes that name places (a volume, a camera's region)
        if orig.hide_render and orig.type in ("MESH", "EMPTY"):
            size = orig.empty_display_size if orig.type == "EMPTY" else 1.0
            local = np.array(orig.bound_box, float) if orig.type == "MESH" else \
                np.array([[x, y, z] for x in (-size, size) for y in (-size, size) for z in (-size, size)])
            m = np.array(orig.matrix_world, dtype=np.float64)
            corners = local @ m[:3, :3].T + m[:3, 3]
            markers.append({"name": orig.name, "lo": corners.min(axis=0).tolist(), "hi": corners.max(axis=0).tolist(),
                            "collections": [c.name for c in orig.users_collection if c != scene.collection],
                            "props": _plain(orig)})
    if not parts:
        for me in meshes.values():
            bpy.data.meshes.remove(me)
        raise SimgenError(f"scene.file={path}: no geometry to render in it (no visible mesh, curve or text object)")
    return Loaded(meshes, parts, cameras, lights, markers=markers)


def _named_instances(dg: bpy.types.Depsgraph) -> Iterator[tuple[str, Any]]:
    """(name, instance) of every object instance the depsgraph renders: the object's name, or for
    an instance ``INSTANCER/OBJECT#k`` (k counting from 1 in the depsgraph's order)."""
    counts: dict[str, int] = {}
    for inst in dg.object_instances:
        orig = inst.object.original
        if orig.hide_render:
            continue
        if inst.is_instance:
            base = f"{inst.parent.original.name}/{orig.name}"
            counts[base] = counts.get(base, 0) + 1
            yield f"{base}#{counts[base]}", inst
        else:
            yield orig.name, inst


MAX_ANIMATION_FRAMES = 2000
"""Frames of a file's animation read at most (from its first frame on)."""
ANIMATED = ("objects", "meshes", "shape_keys", "armatures", "curves", "lattices", "node_groups", "cameras", "lights")
"""The kinds of datablock whose animation (an action, NLA strips or drivers) may move or deform what a file renders."""


def _owners() -> list[Any]:
    """The animation data of every datablock of the kinds :data:`ANIMATED`."""
    return [ad for kind in ANIMATED for block in getattr(bpy.data, kind)
            if (ad := getattr(block, "animation_data", None)) is not None]


def _plays(ad: Any) -> bool:
    """Whether the animation data ``ad`` moves anything: an active action, drivers, or a strip on an
    unmuted NLA track (a .blend animated by NLA strips alone)."""
    return ad.action is not None or len(ad.drivers) > 0 or (
        ad.use_nla and any(not t.mute and any(not s.mute for s in t.strips) for t in ad.nla_tracks))


def _animated() -> bool:
    """Whether anything may move: a datablock of the kinds :data:`ANIMATED` that :func:`_plays`, or a
    cache file (a USD or Alembic stage's animation: transform cache constraints, mesh sequence
    cache modifiers)."""
    return len(bpy.data.cache_files) > 0 or any(_plays(ad) for ad in _owners())


def _keyframes(owners: list[Any]) -> tuple[int, int] | None:
    """The frames the animation plays over: from the first to the last keyframe of every active
    action (its ``frame_range``: its manual range where it has one) and the placement of every
    strip on an unmuted NLA track; None where there is none (drivers alone)."""
    import math

    lo, hi = math.inf, -math.inf
    for ad in owners:
        if ad.action is not None:
            a, b = ad.action.frame_range
            lo, hi = min(lo, a), max(hi, b)
        if ad.use_nla:
            for t in ad.nla_tracks:
                for strip in () if t.mute else t.strips:
                    if not strip.mute:
                        lo, hi = min(lo, strip.frame_start), max(hi, strip.frame_end)
    return None if lo > hi else (math.floor(lo + 1e-6), math.ceil(hi - 1e-6))


def _gltf_clips(owners: list[Any]) -> list[str]:
    """A glTF's animations (clips) as Blender's importer lays them out: each on muted NLA tracks of
    its name (made unique by the importer), one per datablock it moves, the file's first on top and
    also made each datablock's active action. The first returned is the one the active actions
    play; the others follow from the top track down."""
    names: list[str] = []
    first = None
    for ad in owners:
        for t in reversed(ad.nla_tracks):  # top first
            if not len(t.strips):
                continue
            strip = t.strips[0]
            if first is None and ad.action is not None and strip.action == ad.action and \
                    strip.action_slot == ad.action_slot:
                first = t.name
            if t.name not in names:
                names.append(t.name)
    if first is not None:
        names.remove(first)
        names.insert(0, first)
    return names


def _play_clip(owners: list[Any], clip: str, every: bool = False) -> None:
    """Make the glTF clip ``clip`` the one that plays: each datablock's active action (and slot) the
    strip on its NLA track of that name; none for a datablock the clip does not move.
    ``every``: no active action, every track with a strip unmuted, so that Blender's NLA plays
    every clip at once (:data:`ALL_CLIPS`: a file that splits one motion into a clip per joint, as
    COLLADA2GLTF writes them); the caller restores the tracks' mute flags."""
    if every:
        for ad in owners:
            ad.action = None
            ad.use_nla = True
            for t in ad.nla_tracks:
                if len(t.strips):
                    t.mute = False
        return
    for ad in owners:
        strip = next((t.strips[0] for t in ad.nla_tracks if t.name == clip and len(t.strips)), None)
        if strip is None:
            if ad.action is not None:
                ad.action = None
        else:
            ad.action = strip.action
            ad.action_slot = strip.action_slot


def _coordinates(ob: bpy.types.Object) -> np.ndarray:
    """The evaluated object's vertex coordinates, local (a curve's or text's as a mesh)."""
    me = ob.to_mesh()
    try:
        v = np.empty(len(me.vertices) * 3, np.float64)
        me.vertices.foreach_get("co", v)
        return v.reshape(-1, 3)
    finally:
        ob.to_mesh_clear()


MAX_SHAPE_BYTES = 1 << 30
"""Most bytes of deforming parts' vertices (float32, every frame) a file's animation may hold."""


def _animation(path: Path, scene: bpy.types.Scene, parts: list[LoadedPart],
               kind: str = "blend") -> dict[str, Any] | None:
    """What the file's own animation does (Blender evaluates it, no script runs), per clip: its name
    (a glTF's animation; None for a file's one animation), its frame range and what moves over it
    (:func:`_evaluate_range`). The range is the animation's own: the saved scene's for a .blend, the
    stage's start and end time codes for USD, and the keyframes of the actions (and NLA strips) that
    play for glTF, FBX and OBJ (their importers leave the scene at 1-250), at most
    :data:`MAX_ANIMATION_FRAMES` frames. A glTF's clips are read each in turn, the first (the one
    Blender's importer plays) first, and where it has several, last all of them at once
    (:data:`ALL_CLIPS`). Returns ``{"current", "fps", "clips": [...]}``, or None for a
    file in which nothing moves and that names no clip. The scene is left at its current frame with
    the actions it had."""
    if not _animated():
        return None
    owners = _owners()
    clips: list[str | None] = _gltf_clips(owners) if kind == "gltf" else []
    combined = len(clips) > 1 and ALL_CLIPS not in clips  # a file's own clip of that name is its own
    if combined:
        clips.append(ALL_CLIPS)
    current = scene.frame_current
    saved = [(ad, ad.action, ad.action_slot, ad.use_nla, [t.mute for t in ad.nla_tracks]) for ad in owners]
    out = []
    with bpy.context.temp_override(scene=scene, view_layer=scene.view_layers[0]):
        for clip in clips or [None]:
            try:
                every = combined and clip == ALL_CLIPS
                if clip is not None:
                    _play_clip(owners, clip, every)
                if kind in ("blend", "usd"):
                    frames = scene.frame_start, scene.frame_end
                else:
                    frames = _keyframes(owners) or (scene.frame_start, scene.frame_end)
                start, end = frames[0], min(frames[1], frames[0] + MAX_ANIMATION_FRAMES - 1)
                moved = _evaluate_range(path, scene, parts, start, end) if end > start and _animated() else {}
                out.append({"name": clip, "frame_start": start, "frame_end": end, **moved,
                            "combined": every})
            finally:
                for ad, action, slot, use_nla, mutes in saved:
                    if ad.action != action:
                        ad.action = action
                    if action is not None and ad.action_slot != slot:
                        ad.action_slot = slot
                    ad.use_nla = use_nla
                    for t, mute in zip(ad.nla_tracks, mutes):
                        t.mute = mute
                scene.frame_set(current)
    if not clips and not out[0].get("parts") and not out[0].get("shapes") and not out[0].get("changing"):
        return None
    return {"current": current, "fps": scene.render.fps / scene.render.fps_base, "clips": out}


def _evaluate_range(path: Path, scene: bpy.types.Scene, parts: list[LoadedPart], start: int,
                    end: int) -> dict[str, Any]:
    """What the file's animation does from ``start`` to ``end``, as Blender evaluates it (within a
    temp_override of ``scene``): the world matrix at every frame of each part whose matrix changes
    (keyframes, parents, constraints), and of each part whose geometry changes (an armature's
    skinning, shape keys, animated modifiers) its vertices at every frame (``shapes``: its object's
    name, the parts' mesh key -> (frames, V, 3) float32, local) or, where its vertex count changes,
    that name in ``changing``. SimgenError where the deforming parts' vertices would pass
    :data:`MAX_SHAPE_BYTES`."""
    reference = {p.name: p.matrix for p in parts}
    moved: dict[str, dict[int, np.ndarray]] = {}  # part name -> {frame: its matrix where not the saved one}
    dg = bpy.context.evaluated_depsgraph_get()
    could = set()  # objects (by name: their parts' mesh key, instances too) that could deform: meshes
    for name, inst in _named_instances(dg):  # with modifiers or shape keys, curves, text, ...
        ob = inst.object
        if name in reference and ob.type in GEOMETRY and (
                ob.type != "MESH" or len(ob.original.modifiers) or ob.original.data.shape_keys is not None):
            could.add(ob.original.name)
    first: dict[str, np.ndarray] = {}  # their vertices at the first frame
    shapes: dict[str, dict[int, np.ndarray]] = {}  # those that deform: {frame: vertices} where not the first's
    size = 0
    for f in range(start, end + 1):
        scene.frame_set(f)
        dg = bpy.context.evaluated_depsgraph_get()
        done = set()
        for name, inst in _named_instances(dg):
            if name in reference:
                m = np.array(inst.matrix_world, dtype=np.float64)
                if np.abs(m - reference[name]).max() > 1e-9:
                    moved.setdefault(name, {})[f] = m
                key = inst.object.original.name
                if key in could and key not in done:
                    done.add(key)
                    v = _coordinates(inst.object).astype(np.float32)
                    if key not in first:
                        first[key] = v
                    elif v.shape != first[key].shape or np.abs(v - first[key]).max(initial=0) > 1e-7:
                        shapes.setdefault(key, {})[f] = v
                        size += v.nbytes
        if size > MAX_SHAPE_BYTES:
            raise SimgenError(f"scene.file={path}: its deforming parts ({', '.join(shapes)}) hold more than "
                              f"{MAX_SHAPE_BYTES >> 20} MB of vertices over its frame range; shorten the range "
                              "or hide them from rendering")
    moving = {name: np.array([at.get(f, reference[name]) for f in range(start, end + 1)]) for name, at in moved.items()}
    changing = sorted(n for n, at in shapes.items() if any(v.shape != first[n].shape for v in at.values()))
    deforming = {n: np.stack([at.get(f, first[n]) for f in range(start, end + 1)]) for n, at in shapes.items()
                 if n not in changing}
    return {"parts": {name: m.reshape(len(m), 16).tolist() for name, m in moving.items()},
            "shapes": deforming, "changing": changing}


NEW_KINDS = ("objects", "collections", "scenes", "worlds", "cameras", "lights", "meshes", "curves", "images",
             "libraries")
"""The datablocks an import adds and :func:`load` removes again (but the parts' meshes, and the
materials and images they use)."""


def _remove_new(before: dict[str, set], keep: set) -> None:
    """Remove what the import added (objects first: removing data would take its objects along)
    but ``keep`` (the parts' meshes, the file's world); materials and images stay for the parts."""
    for kind in NEW_KINDS:
        if kind == "images" or kind == "libraries":
            continue
        store = getattr(bpy.data, kind)
        for block in set(store) - before[kind] - keep:
            if kind == "objects":
                store.remove(block, do_unlink=True)
            else:
                store.remove(block)


def triangles(me: bpy.types.Mesh) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) float64 vertices and (T, 3) int32 triangles of a mesh (its loop triangles)."""
    v = np.empty(len(me.vertices) * 3, np.float64)
    me.vertices.foreach_get("co", v)
    me.calc_loop_triangles()
    t = np.empty(len(me.loop_triangles) * 3, np.int32)
    me.loop_triangles.foreach_get("vertices", t)
    return v.reshape(-1, 3), t.reshape(-1, 3)


def extract(path: Path, folder: Path) -> None:
    """Write the environment of ``path`` as plain data into ``folder``: ``meshes.npz`` (per mesh key
    ``K``: ``K:v`` vertices and ``K:f`` triangles) and ``environment.json`` (parts, cameras, lights)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    loaded = load(path, animation=True)
    arrays: dict[str, np.ndarray] = {}
    keys = {}
    for i, (key, me) in enumerate(loaded.meshes.items()):
        v, f = triangles(me)
        arrays[f"{i}:v"], arrays[f"{i}:f"] = v, f
        keys[key] = i
    np.savez(folder / "meshes.npz", **arrays)
    animation = loaded.animation
    for i, clip in enumerate(animation["clips"] if animation is not None else ()):
        np.savez(folder / f"shapes-{i}.npz", **clip.pop("shapes", {}))  # deforming parts' vertices: a file a clip
    data = {"parts": [{"name": p.name, "object": p.mesh, "mesh": keys[p.mesh], "matrix": p.matrix.tolist(), "collections": p.collections,
                       "materials": p.materials, "props": p.props} for p in loaded.parts],
            "cameras": loaded.cameras, "lights": loaded.lights, "skipped": loaded.skipped, "world": loaded.world is not None,
            "markers": loaded.markers, "animation": loaded.animation}
    (folder / "environment.json").write_text(json.dumps(data), encoding="utf-8")


if __name__ == "__main__":  # python -m simgen.blender.environment FILE FOLDER
    try:
        extract(Path(sys.argv[1]), Path(sys.argv[2]))
    except SimgenError as e:
        print(f"simgen: error: {e}", file=sys.stderr)
        sys.exit(2)
