"""Blender datablocks made from files once per process and shared by every frame.

Meshes (converted through trimesh from an asset file or a generated shape), images (HDRIs,
photos, a material's texture), a mesh's own textures and its own materials are looked up by
their reference (a mesh's :data:`~simgen.scene.meshes.MeshRef`, a file) and built on first
use; a frame's objects point at them. Every image header is checked against
render.max_image_pixels before Blender decodes it. Generated shapes (a new one per object
and frame) are dropped once no frame uses them, so memory stays flat over long runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from simgen.errors import SimgenError
from simgen.assets.appearance import TextureImage
from simgen.assets.environment import environment_mesh
from simgen.assets.meshes import load_asset, load_mesh
from simgen.blender import environment
from simgen.blender.materials import add_normal_aov
from simgen.blender.own_appearance import COLOR_ATTRIBUTE, UV_MAP, jittered, own_material
from simgen.image_header import check_pixels
from simgen.scene.meshes import (ArticulatedMesh, ClothMesh, EnvironmentMesh, GeneratedMesh, MeshRef, PersonMesh,
                                 RiggedMesh, deforms, surface)

SMOOTH_ANGLE = float(np.radians(30.0))
"""Faces meeting at a smaller angle than this are shaded smooth (a curved surface), at a larger
one sharp (a crease, an edge of a box)."""


def mesh_from_ref(mesh: MeshRef) -> bpy.types.Mesh:
    """A new Blender mesh of an asset file or a generated shape, converted through trimesh: its
    triangles, and with its own appearance one material slot per material (faces assigned),
    its UVs (a generated shape's too) and vertex colours (per face corner: loops are the faces'
    corners in order)."""
    loaded = load_asset(mesh, max_pixels=None)  # each texture is checked as it is loaded
    tm, look = loaded.mesh, loaded.appearance
    me = bpy.data.meshes.new(mesh.stem)
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
    uv = None if look is None or look.uv is None else look.uv.reshape(-1, 2)
    if uv is not None and len(uv) == f.size:
        me.uv_layers.new(name=UV_MAP).uv.foreach_set("vector", uv.astype(np.float32).ravel())
    if look is not None and look.materials and isinstance(mesh, PersonMesh):  # a slot per region and body part
        slots, face_slot = person_slots(mesh)
        for _ in range(len(slots) - len(me.materials)):
            me.materials.append(None)
        me.polygons.foreach_set("material_index", face_slot)
        me.update()
    elif look is not None and look.materials:
        me.polygons.foreach_set("material_index", look.face_material.astype(np.int32))
        if look.colors is not None:
            attr = me.color_attributes.new(COLOR_ATTRIBUTE, "FLOAT_COLOR", "CORNER")
            attr.data.foreach_set("color", look.colors.astype(np.float32).ravel())
        me.update()
    return me



@functools.lru_cache(maxsize=16)
def person_slots(ref: PersonMesh) -> tuple[np.ndarray, np.ndarray]:
    """The material slots of a dressed person's Blender mesh: ``(slots, face_slot)``, ``slots`` (S, 2)
    int (material index: a region's of :data:`simgen.people.body.REGIONS` (``ref.look``), or after them a
    garment's own (its .mhmat's colour: :func:`simgen.assets.meshes.load_asset`); body part index into
    :data:`simgen.people.body.PARTS`), one per pair the faces have, and each face's slot ((F,) int32).
    Each slot's material is its region's or garment's with the part's material pass index
    (:func:`simgen.assets.parts.body_part_pass`): the parts label reads it from the Material Index pass."""
    from simgen.people.body import PARTS, body

    region = np.asarray(load_asset(ref, max_pixels=None).appearance.face_material, np.int64)
    if getattr(ref, "garments", ()):  # its garments' faces after the body's, each with a body part: the
        from simgen.people.garments import dressed  # garments the mesh was loaded with, fitted once

        part = np.asarray(dressed(ref.params, ref.garments, ref.library, ref.sleeves, ref.legs).face_part, np.int64)
    else:
        part = np.asarray(body(ref.params, getattr(ref, "library", None)).face_part, np.int64)
    pairs, face_slot = np.unique(region * len(PARTS) + part, return_inverse=True)
    return np.stack([pairs // len(PARTS), pairs % len(PARTS)], axis=1), face_slot.astype(np.int32)


def _split_as(me: bpy.types.Mesh, base: bpy.types.Mesh) -> None:
    """``me`` (a copy of ``base``) with each polygon of more than three corners split into the
    triangles ``base``'s loop triangles make of it (the triangles the labels know a deforming part by):
    left a quad, Cycles would split it again at each frame's vertices, along the other diagonal where
    the skinning folds it (Blender flips a quad's split where it is concave), and the render would
    leave the labels' surface there."""
    import bmesh

    base.calc_loop_triangles()
    n = len(base.loop_triangles)
    if n == len(base.polygons):
        return  # triangles already
    tris = np.empty(n * 3, np.int32)
    base.loop_triangles.foreach_get("vertices", tris)
    owner = np.empty(n, np.int32)
    base.loop_triangles.foreach_get("polygon_index", owner)
    bm = bmesh.new()
    try:
        bm.from_mesh(me)
        bm.verts.ensure_lookup_table()
        pieces = {k: [f] for k, f in enumerate(bm.faces)}  # each polygon's faces, as it is split
        for tri, p in zip(tris.reshape(-1, 3).tolist(), owner.tolist()):
            for a, b in ((tri[0], tri[1]), (tri[1], tri[2]), (tri[2], tri[0])):
                va, vb = bm.verts[a], bm.verts[b]
                edge = bm.edges.get((va, vb))
                if edge is not None and any(edge in f.edges for f in pieces[p]):
                    continue  # a side of the polygon, or a diagonal split already
                face = next(f for f in pieces[p] if va in f.verts and vb in f.verts)
                new, _ = bmesh.utils.face_split(face, va, vb)
                pieces[p].append(new)
        bm.to_mesh(me)
    finally:
        bm.free()


class Datablocks:
    """The datablocks of one backend, by file. ``max_pixels``: render.max_image_pixels;
    ``scratch``: the folder an embedded texture is written to before Blender loads it."""

    def __init__(self, max_pixels: int | None, scratch: Path, quiet: Any = contextlib.nullcontext):
        self.max_pixels = max_pixels
        self.quiet = quiet  # () -> a context in which Blender's own output goes to its log
        self.scratch = scratch
        self.meshes: dict[MeshRef, bpy.types.Mesh] = {}
        self.images: dict[Path, bpy.types.Image] = {}  # HDRIs and texture images by resolved path
        self.textures: dict[tuple[str, bool], bpy.types.Image] = {}  # meshes' own images, by (file, colour)
        self.own: dict[tuple[object, int], bpy.types.Material] = {}  # meshes' own materials by (file, slot)
        self.environments: set[Path] = set()  # environment files loaded (their meshes are in self.meshes)
        self.split: dict[str, bpy.types.Mesh] = {}  # a deforming object's mesh split as its labels know it, by name
        self.surfaces: dict[object, list[tuple[bpy.types.Mesh, MeshRef]]] = {}  # surfaces that bend: meshes, their steps
        self.worlds: dict[Path, bpy.types.World] = {}  # their world shaders, by file
        self.plain: bpy.types.Material | None = None  # for an environment's faces that have no material

    def mesh(self, mesh: MeshRef) -> bpy.types.Mesh:
        """The Blender mesh of an asset file or a generated shape (:func:`mesh_from_ref`),
        converted once; a step of a surface that bends (:func:`~simgen.scene.meshes.deforms`): the
        one mesh of that surface (:meth:`live`), its vertices moved to the step's."""
        if deforms(mesh):
            return self.live(mesh)
        me = self.meshes.get(mesh)
        if me is None:
            if isinstance(mesh, EnvironmentMesh):
                self.load_environment(mesh.file)
                me = self.meshes.get(mesh)
                if me is None:
                    raise SimgenError(f"scene.file={mesh.file}: no object {mesh.key!r} in it")
                return me
            me = self.meshes[mesh] = mesh_from_ref(mesh)
        return me

    def live(self, mesh: MeshRef) -> bpy.types.Mesh:
        """The mesh of the surface ``mesh`` is a step of (:func:`~simgen.scene.meshes.surface`), made at
        its first step, then its vertices moved in place to each new step's: Blender's render keeps
        some memory for every mesh datablock it has drawn (bpy 5.0.1: about 150 KB a frame for a
        4,000-vertex mesh made anew every frame, none for one whose vertices move).

        A rigged catalog model may stand in a frame several times, each at a frame of its own: its
        surface has a mesh for each step in use at once (the one at ``mesh``'s step if there is one,
        else one no object uses now, moved, else a new one), kept for the next frames."""
        pool = self.surfaces.setdefault(surface(mesh), [])
        k = next((i for i, (_, at) in enumerate(pool) if at is mesh or at == mesh), None)
        if k is None and pool:  # a rigged model's mesh no object uses now; any other surface's one mesh (an
            # environment's part: its kept object holds it), moved
            k = next((i for i, (me, _) in enumerate(pool) if me.users == 0), None) if isinstance(mesh, RiggedMesh) \
                else 0
        if k is None:
            me = self.deformed(mesh) if isinstance(mesh, EnvironmentMesh) else \
                self.rigged(mesh) if isinstance(mesh, RiggedMesh) else mesh_from_ref(mesh)
            pool.append((me, mesh))
            return me
        me, at = pool[k]
        if at is not mesh and at != mesh:
            v = np.asarray((environment_mesh(mesh) if isinstance(mesh, EnvironmentMesh) else load_mesh(mesh)).vertices,
                           np.float32)
            if len(v) != len(me.vertices):
                raise SimgenError(f"{mesh.stem}: {len(v)} vertices at this step, {len(me.vertices)} at an earlier "
                                  "one; a surface that bends keeps its vertices")
            me.vertices.foreach_set("co", v.ravel())
            me.update()
            pool[k] = me, mesh
        return me

    def deformed(self, mesh: EnvironmentMesh) -> bpy.types.Mesh:
        """A copy of an environment object's mesh (the file's materials) with its vertices where the
        file's animation has them at ``mesh.frame`` (the extraction's, :func:`environment_mesh`)."""
        base = self.mesh(dataclasses.replace(mesh, frame=None, clip=None))
        v = np.asarray(environment_mesh(mesh).vertices, np.float32)
        if len(v) != len(base.vertices):
            raise SimgenError(f"scene.file={mesh.file}: object {mesh.key!r} has {len(base.vertices)} vertices as "
                              f"Blender reads it here and {len(v)} in its extraction at frame {mesh.frame}")
        me = self.split_of(base).copy()
        me.name = f"{base.name}@bent"
        me.vertices.foreach_set("co", v.ravel())
        me.update()
        return me

    def split_of(self, base: bpy.types.Mesh) -> bpy.types.Mesh:
        """A copy of an environment object's mesh ``base`` split as its labels know it (:func:`_split_as`),
        made once per object (thousands of triangles take a second): each frame copies it."""
        split = self.split.get(base.name)
        if split is None:
            split = self.split[base.name] = base.copy()
            split.name = f"{base.name}@split"
            _split_as(split, base)
        return split

    def rigged(self, ref: RiggedMesh) -> bpy.types.Mesh:
        """A rigged model's mesh with its file's own materials: each part's mesh as Blender's importer reads
        the file (:meth:`load_environment`: its material slots, UVs and colours), split as its labels know it,
        joined in the file's part order with its slots after the parts' before it (the order of
        :func:`simgen.assets.rigged.rigged_mesh`), its vertices that function's at ``ref``'s frame."""
        import bmesh

        from simgen.assets.environment import load_environment
        from simgen.assets.rigged import rigged_mesh

        self.load_environment(ref.file)
        bm, slots = bmesh.new(), []
        try:
            for p in load_environment(ref.file).parts:
                base = self.meshes.get(EnvironmentMesh(ref.file, p.mesh.key))
                if base is None:
                    raise SimgenError(f"{ref.file}: no object {p.mesh.key!r} in it as Blender reads it here")
                split, first = self.split_of(base), len(bm.faces)
                bm.from_mesh(split)  # appended: its vertices after the parts' before it
                bm.faces.ensure_lookup_table()
                for k in range(first, len(bm.faces)):
                    bm.faces[k].material_index += len(slots)
                slots += list(split.materials) or [None]
            me = bpy.data.meshes.new(ref.file.stem)
            bm.to_mesh(me)
        finally:
            bm.free()
        for mat in slots:
            me.materials.append(mat)
        v = np.asarray(rigged_mesh(ref).vertices, np.float32)
        if len(v) != len(me.vertices):
            n = len(me.vertices)
            bpy.data.meshes.remove(me)
            raise SimgenError(f"{ref.file}: {n} vertices as Blender reads it here and {len(v)} in its extraction")
        me.vertices.foreach_set("co", v.ravel())
        me.update()
        return me

    def load_environment(self, file: Path) -> None:
        """Load an environment file (:func:`simgen.blender.environment.load`), once: its meshes
        with the file's materials, each writing the normal label's AOV; faces without a material
        get a plain grey one."""
        if file in self.environments:
            return
        with self.quiet():
            loaded = environment.load(file, prefix=f"env{len(self.environments)}", max_pixels=self.max_pixels)
        self.environments.add(file)
        if loaded.world is not None:
            self.worlds[file] = loaded.world
        seen: set = set()
        for key, me in loaded.meshes.items():
            self.meshes[EnvironmentMesh(file, key)] = me
            if not me.materials:
                me.materials.append(None)
            for k, mat in enumerate(me.materials):
                if mat is None or mat.node_tree is None:
                    me.materials[k] = mat = self.plain_material()
                if mat not in seen:
                    seen.add(mat)
                    if mat is not self.plain:
                        add_normal_aov(mat.node_tree)

    def world(self, file: Path) -> bpy.types.World:
        """The world shader of environment file ``file`` (loading it once)."""
        self.load_environment(file)
        if file not in self.worlds:
            raise SimgenError(f"scene.file={file}: it has no world shader of its own (scene.file_world)")
        return self.worlds[file]

    def plain_material(self) -> bpy.types.Material:
        if self.plain is None:
            self.plain = bpy.data.materials.new("simgen_plain")
            tree = self.plain.node_tree
            if tree is None:  # Blender before 5 made materials without nodes
                self.plain.use_nodes = True
                tree = self.plain.node_tree
            add_normal_aov(tree)
        return self.plain

    def drop_generated(self, keep: set[MeshRef]) -> None:
        """Remove the Blender meshes of generated shapes, of posed articulated models (a
        simulation's static colliders), of cloths, of people (and their materials) and of the
        steps of whatever bends (an environment's deformed frames) not in ``keep`` (the scene now built): a new shape or pose
        per frame must not pile up in Blender's memory (a model's links, drawn at every pose, are
        built once and kept)."""
        for ref in [r for r in self.meshes if isinstance(r, (GeneratedMesh, ArticulatedMesh, ClothMesh, PersonMesh))
                    and r not in keep]:
            if self.meshes[ref].users == 0:  # one an object of the last frame still uses goes at the next build
                bpy.data.meshes.remove(self.meshes.pop(ref))
        held = {surface(r) for r in keep if deforms(r)}
        for key in [k for k in self.own if isinstance(k[0], PersonMesh) and k[0] not in keep
                    or isinstance(k[0], tuple) and k[0][:1] == ("person",) and k[0] not in held]:
            if self.own[key].users == 0:  # a person's clothes (a moving one's, by its surface), drawn anew for each
                bpy.data.materials.remove(self.own.pop(key))
        for key in [k for k in self.surfaces if k not in held]:
            pool = self.surfaces[key]
            for me, at in [(me, at) for me, at in pool if me.users == 0]:
                pool.remove((me, at))
                bpy.data.meshes.remove(me)
            if not pool:
                del self.surfaces[key]

    def image(self, path: Path) -> bpy.types.Image:
        """The image datablock of ``path`` (an HDRI or a texture), loaded once per backend and
        reused by every frame; its header checked against render.max_image_pixels first."""
        key = Path(path).resolve()
        img = self.images.get(key)
        if img is None:
            check_pixels(key, self.max_pixels)
            img = bpy.data.images.load(str(key), check_existing=True)
            self.images[key] = img
        return img

    def texture(self, t: TextureImage, colour: bool) -> bpy.types.Image:
        """A mesh's own texture image, loaded once per file (embedded data written to the
        scratch folder first) and colour space: sRGB for colours, Non-Color for data maps. Its
        header is checked against render.max_image_pixels first: Blender never decodes a bomb."""
        key = (str(t.path) if t.path is not None else f"{t.name}:{hash(t.data)}", colour)
        img = self.textures.get(key)
        if img is None:
            if t.path is not None:
                check_pixels(t.path, self.max_pixels)
            else:
                check_pixels(t.data or b"", self.max_pixels, name=t.name)
            path = t.path
            if path is None:
                path = self.scratch / f"texture-{len(self.textures):04d}{t.suffix}"
                path.write_bytes(t.data or b"")
            img = bpy.data.images.load(str(path), check_existing=False)
            img.colorspace_settings.name = "sRGB" if colour else "Non-Color"
            if t.path is None:
                img.pack()  # the scratch file may go; Blender keeps the bytes
                path.unlink(missing_ok=True)
            self.textures[key] = img
        return img

    def pbr_map(self, path: str, colour: bool) -> bpy.types.Image:
        """A PBR set's map, loaded once per file and colour space."""
        return self.texture(TextureImage(name=Path(path).name, path=Path(path)), colour)

    def own_material(self, path: Path, slot: int) -> bpy.types.Material:
        """Material slot ``slot`` of the asset file's own appearance (:mod:`simgen.blender.own_appearance`),
        built once and shared by every object of that asset."""
        if isinstance(path, RiggedMesh):  # its file's material as Blender's importer made it, jittered alike
            key = (surface(path), slot)
            if key not in self.own:
                base = self.mesh(path).materials[slot] or self.plain_material()
                self.own[key] = jittered(base, f"{path.file.stem}:{base.name}")
            return self.own[key]
        # a person who moves keeps its materials from step to step (its surface's, as its one mesh)
        key = (surface(path), slot) if isinstance(path, PersonMesh) and deforms(path) else (path, slot)
        mat = self.own.get(key)
        if mat is None and isinstance(path, PersonMesh):  # its region's material, with its body part's pass index
            from simgen.assets.parts import body_part_pass
            from simgen.people.body import PARTS

            region, part = (int(x) for x in person_slots(path)[0][slot])
            look = load_asset(path, max_pixels=None).appearance
            mat = own_material(f"{path.stem}:{look.materials[region].name}:{PARTS[part]}", look.materials[region],
                               has_uv=bool(self.mesh(path).uv_layers), image=self.texture, finish=add_normal_aov)
            mat.pass_index = body_part_pass(part)
            self.own[key] = mat
        if mat is None:
            look = load_asset(path, max_pixels=None).appearance
            mat = own_material(f"{path.stem}:{look.materials[slot].name}", look.materials[slot],
                               has_uv=bool(self.mesh(path).uv_layers), image=self.texture, finish=add_normal_aov)
            self.own[(path, slot)] = mat
        return mat

    def close(self) -> None:
        """Remove every datablock made here (whoever showed an image in a node tree unlinks it
        first: :func:`simgen.blender.world.release_images`)."""
        for me in [*self.meshes.values(), *self.split.values(), *(me for pool in self.surfaces.values() for me, _ in pool)]:
            bpy.data.meshes.remove(me)
        self.meshes.clear()
        self.split.clear()
        self.surfaces.clear()
        for mat in self.own.values():
            bpy.data.materials.remove(mat)
        self.own.clear()
        if self.plain is not None:
            bpy.data.materials.remove(self.plain)
            self.plain = None
        self.environments.clear()
        for bw in self.worlds.values():
            bpy.data.worlds.remove(bw)
        self.worlds.clear()
        for img in [*self.images.values(), *self.textures.values()]:
            bpy.data.images.remove(img)
        self.images.clear()
        self.textures.clear()
