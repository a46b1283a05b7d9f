"""Loading asset meshes with trimesh, cached and checked.

Meshes are loaded with ``trimesh.load(path, force="mesh")`` (vertices merged,
multi-part files such as GLB scenes concatenated with their node transforms
applied). Coordinates are in mesh units; multiply by :attr:`Asset.scale` to get
metres. An articulated model (:mod:`simgen.assets.articulated`) is loaded as its
visuals posed at the reference's joint values, one mesh (:func:`posed_mesh`), or as its parts:
each link's visuals in the link's frame (:func:`link_mesh`) with its pose (:func:`model_parts`); a
scene's parts, posed in the world with their part ids: :mod:`simgen.assets.parts`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simgen.errors import SimgenError
from simgen.assets.appearance import Appearance, LoadedAsset, SurfaceMaterial, TextureImage, load_parts
from simgen.assets.catalog import MESH_SUFFIXES, Catalog
from simgen.scene.meshes import (ArticulatedMesh, ClothMesh, EnvironmentMesh, GeneratedMesh, LinkMesh, MeshRef,
                                 PersonMesh, RiggedMesh)
from simgen.scene.data import MAX_IMAGE_PIXELS

if TYPE_CHECKING:
    import trimesh

    from simgen.assets.articulated import Visual

log = logging.getLogger(__name__)

_FIX = "re-export it from a 3D tool or remove it from the catalog/folder"


def _abs(path: str | Path) -> Path:
    p = Path(path).expanduser()
    return _resolved(str(p if p.is_absolute() else Path.cwd() / p))


@functools.lru_cache(maxsize=4096)
def _resolved(path: str) -> Path:
    """``path`` (absolute) with its symlinks resolved, once per process: a scene names each of its
    meshes again and again (a fit's prefit, thousands of times)."""
    p = Path(path)
    try:
        return p.resolve()
    except (RuntimeError, OSError) as exc:  # Python 3.11 raises RuntimeError on a symlink loop
        raise SimgenError(f"cannot resolve mesh path {p}: {' '.join(str(exc).split())}; remove the symlink loop "
                          "or fix the path") from None


def load_mesh(mesh: MeshRef | str) -> trimesh.Trimesh:
    """The mesh ``mesh`` refers to as one :class:`trimesh.Trimesh` (:func:`load_asset`'s
    geometry; no texture is decoded), cached.

    Every call for the same file returns the same object: do not mutate it (use
    ``mesh.copy()`` first). A :class:`~simgen.scene.meshes.GeneratedMesh` gives the shape it
    names (no file is read). Raises :class:`SimgenError` for a missing, unsupported,
    unreadable or empty file.
    """
    return load_asset(mesh, max_pixels=None).mesh


def load_asset(mesh: MeshRef | str, max_pixels: int | None = MAX_IMAGE_PIXELS) -> LoadedAsset:
    """The mesh ``mesh`` refers to with its own appearance (:mod:`simgen.assets.appearance`:
    materials, texture images, UVs, vertex colours; None if it has none), cached per absolute
    path. Texture files must lie inside the asset's folder
    (:func:`simgen.assets.appearance.asset_root`). Raises :class:`SimgenError` as
    :func:`load_mesh`, and for a missing, corrupt or escaping texture, or one whose header
    states more than ``max_pixels`` pixels (render.max_image_pixels; checked before it is
    decoded, once per file and limit). ``max_pixels=None``: the textures are neither checked
    nor decoded (for callers that read the appearance's parameters only, or check each image
    themselves before loading it, as the Blender backend does).

    Loading dispatches on the kind of mesh here, and only here: a
    :class:`~simgen.scene.meshes.GeneratedMesh` is generated
    (:func:`simgen.assets.parametric.shape_of`: its mesh, and its UVs as an appearance with no
    material), an :class:`~simgen.scene.meshes.ArticulatedMesh` posed
    (:func:`posed_mesh`, no appearance), a :class:`~simgen.scene.meshes.LinkMesh` as its link's
    visuals (:func:`link_mesh`, no appearance), an
    :class:`~simgen.scene.meshes.EnvironmentMesh` read from its environment's extraction
    (:mod:`simgen.assets.environment`, no appearance), a :class:`~simgen.scene.meshes.RiggedMesh` as its
    file's parts at its frame (:func:`simgen.assets.rigged.rigged_mesh`; its look is its file's materials as
    Blender's importer makes them, named by :func:`simgen.assets.rigged.own_materials`, so no appearance
    here), a :class:`~simgen.scene.meshes.PersonMesh` as its body (:func:`simgen.people.body.body`, with
    its UVs and a material a region: :func:`_person_asset`), anything else is a file."""
    if isinstance(mesh, GeneratedMesh):
        from simgen.assets import parametric

        return parametric.shape_of(mesh).loaded
    if isinstance(mesh, ArticulatedMesh):  # a model's links posed as one mesh (no appearance of their own yet)
        return LoadedAsset(posed_mesh(mesh), None)
    if isinstance(mesh, LinkMesh):  # one link of a model, in its own frame
        m = link_mesh(mesh)
        if m is None:
            raise SimgenError(f"{mesh.file}: link {mesh.link!r} has no visual geometry to render")
        return LoadedAsset(m, None)
    if isinstance(mesh, EnvironmentMesh):  # an environment file's object (its own materials: Blender's)
        from simgen.assets.environment import environment_mesh

        return LoadedAsset(environment_mesh(mesh), None)
    if isinstance(mesh, ClothMesh):  # a cloth sheet, flat or at a step of its simulation; UVs across it
        return _cloth_asset(mesh)
    if isinstance(mesh, PersonMesh):  # a person's body (simgen.people), dressed by region
        return _person_asset(mesh)
    if isinstance(mesh, RiggedMesh):  # a rigged model's parts at a frame of a clip (its materials: the file's)
        from simgen.assets.rigged import rigged_mesh

        return LoadedAsset(rigged_mesh(mesh), None)
    key = str(_abs(mesh))
    if max_pixels is None:
        return _load_cached(key)
    return _load_checked(key, max_pixels)


@functools.lru_cache(maxsize=16)
def _cloth_asset(ref: ClothMesh) -> LoadedAsset:
    """A cloth's triangles at its vertices (the flat sheet's where it has none yet), with the flat
    sheet's x and y across its sides as texture coordinates (a drawn texture lies on it as on a
    cloth). Cached for the few steps in flight (a ClothMesh is equal only to itself)."""
    import trimesh

    from simgen.scene.cloth import sheet

    flat, faces = sheet(ref.cloth)
    lo, size = flat[:, :2].min(axis=0), np.ptp(flat[:, :2], axis=0)
    uv = ((flat[:, :2] - lo) / size)[faces].astype(np.float32)
    vertices = flat if ref.vertices is None else np.asarray(ref.vertices, float)
    look = Appearance(materials=(), face_material=np.zeros(len(faces), np.int32), uv=uv)
    return LoadedAsset(trimesh.Trimesh(vertices, faces, process=False), look)


@functools.lru_cache(maxsize=16)
def _person_asset(ref: PersonMesh) -> LoadedAsset:
    """A person's body (:func:`simgen.people.body.body` of its params, from its library ``ref.library``:
    people.library, else ``$SIMGEN_PEOPLE_LIBRARY`` or the default one) in the body frame, with Anny's
    UVs and, dressed, each face in its region's material (``ref.look``, one a region of
    :data:`simgen.people.body.REGIONS`; short sleeves or legs: those faces skin). Cached for the few
    people in flight."""
    import trimesh

    from simgen.people.body import REGIONS, body, dressed_regions

    b = body(ref.params, ref.library)
    if ref.look and len(ref.look) != len(REGIONS):
        raise SimgenError(f"{ref.stem}: {len(ref.look)} materials for the {len(REGIONS)} regions of a body "
                          f"({', '.join(REGIONS)}); give one a region")
    if getattr(ref, "garments", ()):  # MakeHuman garments fitted to the body, appended (simgen.people.garments)
        from simgen.people.garments import dressed

        d = dressed(ref.params, ref.garments, ref.library, ref.sleeves, ref.legs)  # once: person_slots reads it too
        face = np.asarray(d.face_region, np.int32) if ref.look else np.zeros(len(d.faces), np.int32)
        materials = list(ref.look)
        for k, path in enumerate(ref.garments if ref.look else ()):  # its .mhmat's colour, after the regions'
            mine = d.face_garment == k
            own = _garment_material(path, ref.look[int(d.face_region[mine][0])]) if mine.any() else None
            if own is not None:
                face[mine] = len(materials)
                materials.append(own)
        look = Appearance(materials=tuple(materials), face_material=face, uv=np.asarray(d.uv, np.float32))
        return LoadedAsset(trimesh.Trimesh(np.array(d.vertices), np.array(d.faces), process=False), look)
    face = (np.asarray(dressed_regions(b, ref.sleeves, ref.legs), np.int32) if ref.look
            else np.zeros(len(b.faces), np.int32))
    look = Appearance(materials=tuple(ref.look), face_material=face, uv=np.asarray(b.uv, np.float32))
    return LoadedAsset(trimesh.Trimesh(np.array(b.vertices), np.array(b.faces), process=False), look)


_WARNED_MATERIALS: set[str] = set()


def _garment_material(path: str, region: SurfaceMaterial) -> SurfaceMaterial | None:
    """A garment's own material: its region's drawn one (``region``) in the colour (and texture) its
    ``.mhmat`` gives (:func:`simgen.people.garments.read_material`); None where it names no material. A
    material that cannot be read: one warning a file, and None (the region's colour)."""
    from simgen.people.garments import _garment, read_material

    g = _garment(os.fspath(path))
    try:
        found = read_material(g)
    except SimgenError as e:
        if os.fspath(path) not in _WARNED_MATERIALS:
            _WARNED_MATERIALS.add(os.fspath(path))
            log.warning("people.garments: %s; the garment %s takes its region's colour", e, g.name)
        return None
    if found is None:
        return None
    color, texture = found
    image = None if texture is None else TextureImage(name=texture.name, path=texture)
    return dataclasses.replace(region, name=f"{region.name}:{g.name}", base_color=color, base_color_map=image)


def clear_mesh_cache() -> None:
    """Forget every mesh loaded by :func:`load_mesh` (e.g. after files changed)."""
    _load_cached.cache_clear()
    _load_checked.cache_clear()


@functools.lru_cache(maxsize=None)
def _load_checked(path_str: str, max_pixels: int) -> LoadedAsset:
    loaded = _load_cached(path_str)
    if loaded.appearance is not None:
        check_textures(Path(path_str), loaded.appearance, max_pixels)
    return loaded


@functools.lru_cache(maxsize=None)
def _load_cached(path_str: str) -> LoadedAsset:
    path = Path(path_str)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise SimgenError(
            f"unsupported mesh file type {path.suffix or '(no suffix)'!r}: {path}; "
            f"use one of {', '.join(MESH_SUFFIXES)}"
        )
    if not path.exists():
        raise SimgenError(f"mesh file not found: {path}; fix the path")
    if not path.is_file():
        raise SimgenError(f"mesh path is not a file: {path}; point it at a mesh file")
    if not os.access(path, os.R_OK):
        raise SimgenError(f"cannot read mesh file {path}: permission denied; make it readable "
                          "(chmod a+r) or remove it from the catalog/folder")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy noise from degenerate input
            loaded = load_parts(path)
    except SimgenError:
        raise
    except Exception as exc:  # trimesh raises many types for bad files
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise SimgenError(f"cannot load mesh {path}: {reason}; {_FIX}") from exc
    problem = _problem(loaded.mesh)
    if problem:
        raise SimgenError(f"cannot load mesh {path}: {problem}; {_FIX}")
    return loaded


def _problem(mesh: object) -> str | None:
    """Why ``mesh`` is unusable, or None."""
    import trimesh

    if isinstance(mesh, trimesh.Scene):
        return "the file contains no mesh geometry"
    if not isinstance(mesh, trimesh.Trimesh):
        return f"the file holds a {type(mesh).__name__}, not a triangle mesh"
    if len(mesh.faces) == 0:
        return "the file contains no faces (or only faces with NaN or inf vertices)"
    vertices = np.asarray(mesh.vertices)
    if not np.isfinite(vertices).all():
        return "vertices are not all finite (NaN or inf)"
    if not np.ptp(vertices, axis=0).max() > 0:
        return "the mesh is degenerate (all vertices coincide)"
    with np.errstate(all="ignore"):
        area = float(mesh.area)
    if not area > 0:
        return "every face has zero area (a degenerate mesh: nothing would be visible)"
    return None


def check_textures(path: Path, appearance: Appearance, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Check every texture image of a mesh's own appearance once (files and embedded data):
    its header against ``max_pixels`` (render.max_image_pixels), then decoded; a file over
    the limit, or corrupt, is one error line naming it and the mesh."""
    import tempfile

    from simgen.assets.images import check_images
    from simgen.image_header import ImageHeaderError, pixel_problem

    for image in appearance.images():
        where = f"texture {image.name} of mesh {path}"
        if image.path is not None:
            check_images([image.path], where, max_pixels)
            continue
        try:  # embedded bytes (GLB chunk, data: URI): refused from their header, never written out
            too_large = pixel_problem(image.data or b"", max_pixels, name=f"x{image.suffix}")
        except ImageHeaderError:
            too_large = None  # check_images words it, as for a file
        if too_large:
            raise SimgenError(f"cannot use image {image.name} ({where}): {too_large}")
        with tempfile.NamedTemporaryFile(suffix=image.suffix) as f:
            f.write(image.data or b"")
            f.flush()
            try:
                check_images([Path(f.name)], where, max_pixels)
            except SimgenError as e:
                raise SimgenError(str(e).replace(f.name, image.name)) from None


def catalog_meshes(catalog: Catalog) -> list:
    """Every mesh a run of ``catalog`` may load: its assets', the ground and the distractors."""
    return [*(a.path for a in catalog.assets), catalog.ground, *catalog.distractors]


def validate_catalog(catalog: Catalog, max_pixels: int = MAX_IMAGE_PIXELS, strict: bool = False) -> None:
    """Load every asset mesh, the ground and the distractors once, with their own textures
    checked (at most ``max_pixels`` pixels each, render.max_image_pixels, then decoded), so bad
    assets fail before rendering; an articulated model's catalog entry's joint draws are checked
    against the model too, and a rigged model's clips against its file
    (:func:`simgen.assets.rigged.clips_of`). A file of a mesh's own look it was loaded without
    (:attr:`LoadedAsset.problems`) stops it with ``strict`` (materials.own_strict), else is a
    warning, once per mesh and process."""
    for path in catalog_meshes(catalog):
        if isinstance(path, RiggedMesh):  # its clips: a file that moves nothing, a clip it lacks
            from simgen.assets.rigged import clips_of

            clips_of(path)
        if isinstance(path, ArticulatedMesh):  # how its catalog entry wants its joints drawn, the links it names
            from simgen.assets.articulated import check_draw, load_articulated

            model = load_articulated(path.file, path.package_dirs)
            check_draw(model, path.draw)
            links = [k.name for k in model.links]
            for link, _ in path.keypoints:
                if link not in links:
                    raise SimgenError(f"{path.file}: a keypoint of its catalog entry is on link {link!r}, which the "
                                      f"model has not (its links: {', '.join(links)}); fix the name")
        problems = load_asset(path, max_pixels).problems
        if problems and strict:
            raise SimgenError(f"{problems[0]} (materials.own_strict=true; false renders the mesh without it)")
        if problems and str(path) not in _warned:
            _warned.add(str(path))
            log.warning("mesh %s renders without part of its own look: %s (recorded in dataset.json's "
                        "asset_problems; materials.own_strict=true stops instead)", path, "; ".join(problems))


_warned: set[str] = set()
"""Meshes :func:`validate_catalog` warned about in this process."""


def asset_problems(catalog: Catalog) -> dict[str, list[str]]:
    """{mesh path: the files of its own look it was loaded without} for every mesh of
    ``catalog`` that has any (loaded as :func:`validate_catalog` loads them)."""
    out = {}
    for path in catalog_meshes(catalog):
        problems = load_asset(path, max_pixels=None).problems
        if problems:
            out[str(path)] = list(problems)
    return out


# ------------------------------------------------------------------ an articulated model posed as one mesh


PRIMITIVE_SECTIONS = 32
"""Segments around a cylinder or capsule, and an icosphere's 3 subdivisions for spheres and
ellipsoids: a primitive visual is rendered and labelled as this triangle mesh."""


def visual_mesh(v: Visual) -> trimesh.Trimesh:
    """A visual's triangles in its own frame (before :attr:`Visual.origin`): the mesh file's,
    scaled, or the primitive's (MuJoCo's sizes: half-extents, radius and half-length along z).
    A plane (an MJCF floor, which :func:`posed_mesh` leaves out) has none to give: SimgenError."""
    import trimesh

    if v.kind == "mesh":
        m = load_mesh(v.mesh).copy()
        m.apply_transform(np.diag([*v.scale, 1.0]))
        return m
    s = v.size
    if v.kind == "box":
        return trimesh.creation.box(extents=[2 * s[0], 2 * s[1], 2 * s[2]])
    if v.kind == "sphere":
        return trimesh.creation.icosphere(subdivisions=3, radius=s[0])
    if v.kind == "ellipsoid":
        m = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
        m.apply_transform(np.diag([s[0], s[1], s[2], 1.0]))
        return m
    if v.kind == "cylinder":
        return trimesh.creation.cylinder(radius=s[0], height=2 * s[1], sections=PRIMITIVE_SECTIONS)
    if v.kind == "capsule":
        return trimesh.creation.capsule(height=2 * s[1], radius=s[0], count=[PRIMITIVE_SECTIONS, PRIMITIVE_SECTIONS // 2])
    raise SimgenError(f"visual {v.name!r} is a {v.kind}, which simgen does not render as part of a model")


@functools.lru_cache(maxsize=256)
def link_mesh(ref: LinkMesh) -> trimesh.Trimesh | None:
    """Every visual of one link, each at its origin, as one mesh in the link's frame (cached: do
    not mutate it); None for a link with none to render. Planes are left out: in an MJCF file a
    plane is a floor (gym's models carry theirs), and the scene has its own ground."""
    import trimesh

    from simgen.assets.articulated import load_articulated

    link = load_articulated(ref.file, ref.package_dirs).link(ref.link)
    parts = []
    for v in link.visuals:
        if v.kind == "plane":
            continue
        m = visual_mesh(v)
        m.apply_transform(v.origin)
        parts.append(m)
    return trimesh.util.concatenate(parts) if parts else None


@functools.lru_cache(maxsize=64)
def model_parts(ref: ArticulatedMesh) -> tuple[tuple[LinkMesh, np.ndarray], ...]:
    """The parts of the model ``ref`` at its joint values (``joints`` None: every joint at its
    reference value): each link that has visual geometry to render, in the file's order, with its
    4x4 link-to-model pose by the forward kinematics
    (:func:`~simgen.assets.articulated.link_poses`). Cached: do not mutate the poses. SimgenError
    for joint values the model cannot take, or a model with no visual geometry to render."""
    from simgen.assets.articulated import link_poses, load_articulated

    model = load_articulated(ref.file, ref.package_dirs)
    try:
        poses = link_poses(model, dict(ref.joints or ()))
    except ValueError as e:
        raise SimgenError(str(e)) from None
    out = []
    for link in model.links:
        part = LinkMesh(ref.file, ref.package_dirs, link.name)
        if link_mesh(part) is not None:
            poses[link.name].flags.writeable = False
            out.append((part, poses[link.name]))
    if not out:
        raise SimgenError(f"{ref.file}: the model has no visual geometry to render; give its links <visual> "
                          "elements (URDF) or geoms (MJCF)")
    return tuple(out)


@functools.lru_cache(maxsize=64)
def link_hulls(ref: ArticulatedMesh) -> trimesh.Trimesh:
    """The model ``ref`` at its joint values as the convex hull of each of its parts, posed, in one
    mesh in the model's frame (cached: do not mutate it): the shape a simulation gives it, which
    keeps the room between its links (an arm's bend, a gripper's open fingers) that the hull of the
    whole would fill."""
    import trimesh

    hulls = []
    for part, pose in model_parts(ref):
        m = link_mesh(part).convex_hull
        m.apply_transform(pose)
        hulls.append(m)
    return trimesh.util.concatenate(hulls)


@functools.lru_cache(maxsize=64)
def posed_mesh(ref: ArticulatedMesh) -> trimesh.Trimesh:
    """The model ``ref`` at its joint values as one mesh in the model's frame: its parts
    (:func:`model_parts`) each posed (cached: do not mutate it)."""
    import trimesh

    parts = []
    for part, pose in model_parts(ref):
        m = link_mesh(part).copy()
        m.apply_transform(pose)
        parts.append(m)
    return trimesh.util.concatenate(parts)
