"""What one frame adds to the Blender scene, and removes again: its objects (shared meshes,
a material of their own each) and its lights."""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from simgen.blender.datablocks import Datablocks
from simgen.blender.materials import pbr_coordinates, scene_material
from simgen.blender.own_appearance import JITTER_PROPS
from simgen.scene.meshes import GeneratedMesh, surface
from simgen.scene.data import Light, SceneObject


def add_object(coll: bpy.types.Collection, o: SceneObject, blocks: Datablocks, made: list[bpy.types.ID]) -> None:
    """Link an object of ``o`` into ``coll``: its mesh shared through ``blocks``, its pass index
    the instance id, and either a material drawn for it or its mesh's own materials (with the
    object's jitter in its custom properties). ``made``: the frame's datablocks (for
    :func:`remove`), appended to as they are made."""
    ob = bpy.data.objects.new(o.name, blocks.mesh(o.mesh))
    ob.matrix_world = Matrix(o.mesh_to_world.tolist())
    ob.pass_index = o.instance_id
    ob.visible_shadow = o.casts_shadow
    # meshes are shared between frames and objects; the material belongs to the object
    own = o.material.own
    if own is None:
        pbr_uv, metres = pbr_coordinates(o, ob.data) if o.material.pbr is not None else (False, None)
        mat = scene_material(o.name, o.material, blocks.image, blocks.pbr_map, uv=isinstance(o.mesh, GeneratedMesh),
                             pbr_metres=metres, pbr_uv=pbr_uv)
        made.append(mat)
    else:
        for key, (prop, _) in JITTER_PROPS.items():
            ob[prop] = float(getattr(own, key))
    for k, slot in enumerate(ob.material_slots):
        slot.link = "OBJECT"
        slot.material = mat if own is None else blocks.own_material(o.mesh, k)
    coll.objects.link(ob)
    made.append(ob)


def keep_object(coll: bpy.types.Collection, o: SceneObject, blocks: Datablocks,
                kept: dict[tuple, bpy.types.Object]) -> tuple:
    """Link (once) an object of an environment's part ``o`` (its mesh with the file's materials)
    into ``coll`` and keep it in ``kept`` for the next frames, which change only what differs (its
    pose, instance id, shadow): Cycles then syncs nothing of it again. Returns its key in ``kept``."""
    key = (surface(o.mesh), o.name)  # a part that bends: one object, its mesh's vertices moved (Datablocks.live)
    ob = kept.get(key)
    me = blocks.mesh(o.mesh)
    if ob is None:
        ob = kept[key] = bpy.data.objects.new(o.name, me)
        ob.matrix_world = Matrix(o.mesh_to_world.tolist())
        coll.objects.link(ob)
    elif not np.allclose(np.array(ob.matrix_world), o.mesh_to_world, atol=1e-7):
        ob.matrix_world = Matrix(o.mesh_to_world.tolist())
    if ob.pass_index != o.instance_id:
        ob.pass_index = o.instance_id
    if ob.visible_shadow != o.casts_shadow:
        ob.visible_shadow = o.casts_shadow
    return key


def anchor(coll: bpy.types.Collection, ob: bpy.types.Object) -> bpy.types.Object:
    """A second object of ``ob``'s mesh, linked into ``coll``, that no ray of an image meets: it is
    visible to volume scattering only (Cycles leaves out an object no ray may meet), which a scene
    without volumes never traces, and it is no light (Cycles samples an emitter only when diffuse,
    glossy or transmission rays see it).

    Cycles bakes the triangles of a mesh with one object into its scene-wide ray-tracing hierarchy,
    which it builds again whenever any object changes (a frame's objects do, every frame): for a
    million triangles about 0.3 s a frame on two cores. A mesh with two objects is kept as an
    instance with a hierarchy of its own, which Cycles (when it keeps its scene between frames:
    render.persistent_data) builds once, as long as its triangles stay where they are in Cycles'
    arrays: the reason kept objects live in a collection synced before the frame's. An instance's
    normal is turned to the world by its matrix, which may change the normal label in its last
    float32 bit."""
    twin = bpy.data.objects.new(ob.name + ".anchor", ob.data)
    twin.matrix_world = ob.matrix_world
    for ray in ("camera", "diffuse", "glossy", "transmission", "shadow"):
        setattr(twin, f"visible_{ray}", False)
    coll.objects.link(twin)
    return twin


def keep_light(coll: bpy.types.Collection, i: int, light: Light | None, kept: list[bpy.types.Object],
               group: str = "") -> None:
    """Make lamp ``i`` of ``kept`` (the lamps' objects, from frame to frame) ``light``, in light
    group ``group`` (none: ""), unseen by the camera; ``None``: dark (no power) until a later frame
    needs it. The lamp already there is changed (its kind too); a new one is linked into ``coll``
    and appended (``i`` is then ``len(kept)``). Lamps are never removed before the renderer closes.

    Why: when Cycles keeps its scene between frames (render.persistent_data), the order of its
    lights, which its light sampling follows, is the order in which they came into its scene,
    shuffled where it removed one (it moves its last object into the gap). Lamps made anew each
    frame made a frame's noise depend on the frames rendered before it, and, since Cycles knows an
    object by its address, on the memory allocator. Kept lamps, in a collection synced before any
    other, stay first and in the order they were made, as a scene synced anew lists them. A lamp
    made after a frame rendered would come after the world's light, which Cycles syncs after the
    objects: the backend then has Cycles sync anew (:func:`simgen.blender.session.sync_anew`), and
    so makes lamps a block at a time (backend.LAMP_BLOCK)."""
    if i == len(kept):
        kind = "POINT" if light is None else light.kind.upper()
        ob = bpy.data.objects.new(f"light{i}", bpy.data.lights.new(f"light{i}", type=kind))
        ob.visible_camera = False  # an area light's quad would be an unlabelled object in the image
        coll.objects.link(ob)
        kept.append(ob)
    ob = kept[i]
    if light is None:
        ob.data.energy = 0.0
        ob.lightgroup = ""
        return
    if ob.data.type != light.kind.upper():
        ob.data.type = light.kind.upper()
    data = ob.data  # the type's own class (SunLight, AreaLight, ...)
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
    ob.matrix_world = Matrix(light.light_to_world.tolist())
    ob.lightgroup = group


def remove(blocks: list[bpy.types.ID]) -> None:
    """Remove what :func:`add_object` made, or lamps of :func:`keep_light` with their data. Objects
    go first: removing a light's data would take its object with it."""
    for ob in [b for b in blocks if isinstance(b, bpy.types.Object)]:
        bpy.data.objects.remove(ob, do_unlink=True)
    for block in blocks:
        if isinstance(block, bpy.types.Material):
            bpy.data.materials.remove(block, do_unlink=True)
        elif isinstance(block, bpy.types.Light):
            bpy.data.lights.remove(block, do_unlink=True)
