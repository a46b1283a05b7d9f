"""Rigid-body settling (Bullet, through Blender's rigid-body world): where dropped objects
come to rest."""

from __future__ import annotations

import logging
from typing import Callable

import bpy
import numpy as np
from mathutils import Matrix

from simgen.assets import BUNDLED_BOX
from simgen.assets.meshes import link_hulls
from simgen.blender.session import BlenderLog
from simgen.scene.meshes import ArticulatedMesh, MeshRef
from simgen.scene.data import Scene

log = logging.getLogger(__name__)

STEPS_PER_SECOND = 24
"""Physics frames per simulated second (Blender's scene frame rate for the simulation)."""
REST_CHECK_STEPS = 6
"""Physics frames between two measurements of the bodies' speed."""
SLEEP_SPEED = (0.01, 0.05)
"""m/s and rad/s under which Bullet lets a body sleep (Blender's defaults, 0.4 and 0.5, would
freeze objects still sliding; higher ones, e.g. 0.05 and 0.2, froze a crate mid-rock)."""


def settle(scene: Scene, mesh: Callable[[MeshRef], bpy.types.Mesh],
           blender_log: BlenderLog) -> tuple[dict[int, np.ndarray], dict]:
    """Simulate ``scene.physics`` in a scratch Blender scene with its own rigid-body world
    (Bullet); return the bodies' resting poses (instance id -> mesh_to_world) and a report:
    steps and seconds simulated, the last speed measured and whether it is at rest.
    ``mesh(ref)``: the Blender mesh of an asset file or a generated shape; ``blender_log``: where Blender's output of the
    rigid-body operators goes. A body is its mesh's convex hull; an articulated model's is the hull of each
    of its links, in one triangle mesh (:func:`simgen.assets.meshes.link_hulls`), its joints held.

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

    def add(name: str, me: bpy.types.Mesh, pose: np.ndarray, kind: str) -> bpy.types.Object:
        ob = bpy.data.objects.new(name, me)
        ob.matrix_world = Matrix(np.asarray(pose).tolist())
        coll.objects.link(ob)
        created.append((ob, kind))
        return ob

    hulls: list[bpy.types.Mesh] = []  # articulated bodies: their links' hulls, made for this simulation

    def shape(ref: MeshRef) -> tuple[bpy.types.Mesh, str]:
        """A body's mesh and its collision shape: its convex hull, or an articulated model's links' hulls as one
        triangle mesh (Bullet's GImpact), its joints held."""
        if not isinstance(ref, ArticulatedMesh):
            return mesh(ref), "CONVEX_HULL"
        tm = link_hulls(ref)
        me = bpy.data.meshes.new("rb_hulls")
        me.from_pydata(np.asarray(tm.vertices, float).tolist(), [], np.asarray(tm.faces).tolist())
        hulls.append(me)
        return me, "MESH"

    try:
        sim.collection.children.link(coll)
        moving, collisions = [], []
        for b in ph.bodies:
            me, kind = shape(by_id[b.instance_id].mesh)
            moving.append(add(f"rb_{by_id[b.instance_id].name}", me, by_id[b.instance_id].mesh_to_world, "ACTIVE"))
            collisions.append(kind)
        for k, pose in enumerate(ph.colliders):
            add(f"rb_collider{k}", mesh(BUNDLED_BOX), pose, "PASSIVE")
        boxes = len(created)
        for k, (ref, pose) in enumerate(ph.static):
            add(f"rb_static{k}", mesh(ref), pose, "PASSIVE")
        with blender_log():
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
        for ob, b, collision in zip(moving, ph.bodies, collisions):
            rb = ob.rigid_body
            rb.collision_shape = collision  # shape()'s
            rb.use_margin, rb.collision_margin = True, ph.margin
            rb.mass, rb.friction, rb.restitution = b.mass, b.friction, b.restitution
            rb.linear_damping, rb.angular_damping = 0.2, 0.8  # settles rolling objects in seconds
            # Bullet puts a body to sleep after 2 s below these speeds: ends the slow creep of
            # stacked boxes that would otherwise last the whole max_seconds
            rb.use_deactivation = True
            rb.deactivate_linear_velocity, rb.deactivate_angular_velocity = SLEEP_SPEED
        for k, (ob, _) in enumerate(created[len(moving):], start=len(moving)):
            rb = ob.rigid_body
            # a box: exact for the unit cube, and no thin surface to tunnel through; a static mesh: its triangles
            rb.collision_shape = "BOX" if k < boxes else "MESH"
            rb.use_margin, rb.collision_margin = True, 0.0
            rb.friction, rb.restitution = 0.8, 0.2
        corners = [np.array([[*c, 1.0] for c in ob.bound_box]) for ob in moving]

        def points() -> np.ndarray:
            return np.stack([c @ np.array(ob.matrix_world).T for c, ob in zip(corners, moving)])

        sim.frame_set(1)
        last, step, speed = points(), 1, float("inf")
        fallen = np.zeros(len(moving), bool)
        while step < steps + 1 and speed >= ph.rest_speed:
            for _ in range(REST_CHECK_STEPS):  # Bullet advances one frame at a time only
                step += 1
                sim.frame_set(step)
            now = points()
            if ph.floor is not None:
                fallen |= (now[:, :, 2] < ph.floor).all(axis=1)
            moved = np.linalg.norm(now - last, axis=2)[~fallen]
            speed = float(moved.max(initial=0.0)) * STEPS_PER_SECOND / REST_CHECK_STEPS
            last = now
        poses = {b.instance_id: np.array(ob.matrix_world, dtype=float) for ob, b in zip(moving, ph.bodies)}
    finally:
        for ob, _ in created:
            bpy.data.objects.remove(ob, do_unlink=True)
        for me in hulls:
            bpy.data.meshes.remove(me)
        bpy.data.collections.remove(coll)
        bpy.data.scenes.remove(sim)
    report = {"steps": step - 1, "seconds": (step - 1) / STEPS_PER_SECOND, "speed": speed,
              "at_rest": speed < ph.rest_speed,
              **({"fallen": [b.instance_id for b, f in zip(ph.bodies, fallen) if f]} if fallen.any() else {})}
    if fallen.any():
        log.warning("physics placement: %d object(s) fell off the world's geometry (below z=%.2f m); rendering "
                    "them where they are, out of view", int(fallen.sum()), ph.floor)
    if not report["at_rest"]:
        log.warning("physics placement: objects still move at %.3f m/s after %.1f s (scene.physics.max_seconds); "
                    "rendering them where they are", speed, report["seconds"])
    return poses, report
