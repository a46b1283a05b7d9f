"""Cloth, simulated by Blender's own cloth solver: a sheet (:class:`simgen.scene.cloth.Cloth`), or
several together, each colliding with the others (:func:`simulate_together`), dropped onto given
colliders and a ground plane, its vertices read back at every step.

Everything is built in a scratch Blender scene of its own through ``bpy.data`` and removed
afterwards (on error too), so a call starts from nothing and the same input always gives the
same vertices.
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

import bpy
import numpy as np
from mathutils import Matrix

from simgen.errors import SimgenError
from simgen.scene.cloth import EXPLODED_FACTOR, Cloth, ClothRun, check_exploded, sheet

COLLIDER_THICKNESS = 0.001
"""Each collider's outer collision thickness, metres (``collision.thickness_outer``, Blender's
least): the gap between sheet and surface is then nearly the cloth's own ``thickness``."""
REST_SPEED = 0.05
"""m/s: a sheet whose fastest vertex moves slower than this at the end of settling has settled."""
START_FRAME = 1
"""The scratch scene's first frame: the flat sheet where ``mesh_to_world`` puts it."""
CULLING = False
"""Colliders push the cloth along their outward normals only (``use_culling``, ``use_normal``):
off, also for a cloth that is another's collider (with Blender's default, culling on, two sheets
stacked on a box pushed each other up and flew off, as high as 2 m in 2 s)."""
GRAVITY = (0.0, 0.0, -9.81)


def _mesh(name: str, vertices: np.ndarray, faces: np.ndarray) -> bpy.types.Mesh:
    """A Blender mesh of triangles, vertex and face order kept."""
    me = bpy.data.meshes.new(name)
    me.vertices.add(len(vertices))
    me.vertices.foreach_set("co", np.asarray(vertices, np.float32).ravel())
    f = np.asarray(faces, np.int32)
    me.loops.add(f.size)
    me.loops.foreach_set("vertex_index", f.ravel())
    me.polygons.add(len(f))
    me.polygons.foreach_set("loop_start", np.arange(0, f.size, 3, dtype=np.int32))
    me.update()
    return me


def _check_colliders(colliders: list, steps: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    out = []
    for k, item in enumerate(colliders):
        try:
            v, f, *moving = item
            v, f = np.asarray(v, float), np.asarray(f)
            poses = None if not moving or moving[0] is None else np.asarray(moving[0], float)
        except (TypeError, ValueError):
            raise SimgenError(f"cloth collider {k}: must be (vertices (V, 3), faces (F, 3)) arrays, and maybe "
                              "its poses (steps, 4, 4)") from None
        if poses is not None and (poses.shape != (steps, 4, 4) or not np.isfinite(poses).all()):
            raise SimgenError(f"cloth collider {k}: its poses must be a finite ({steps}, 4, 4) array, one a step, "
                              f"got shape {poses.shape}")
        if v.ndim != 2 or v.shape[1] != 3 or len(v) < 3 or not np.isfinite(v).all():
            raise SimgenError(f"cloth collider {k}: vertices must be a finite (V, 3) array with V >= 3, got shape "
                              f"{v.shape}")
        if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0 or not np.issubdtype(f.dtype, np.integer):
            raise SimgenError(f"cloth collider {k}: faces must be an integer (F, 3) array of triangles, got "
                              f"{f.dtype} {f.shape}")
        if f.min() < 0 or f.max() >= len(v):
            bad = int(f.max() if f.max() >= len(v) else f.min())
            raise SimgenError(f"cloth collider {k}: a face names vertex {bad} of {len(v)}; faces index its own "
                              f"vertices from 0")
        out.append((v, f, poses))
    return out


def _check_pose(mesh_to_world, what: str = "cloth mesh_to_world") -> np.ndarray:
    m = np.asarray(mesh_to_world, float)
    if m.shape != (4, 4) or not np.isfinite(m).all():
        raise SimgenError(f"{what}: must be a finite 4x4 matrix, got shape {m.shape}")
    r = m[:3, :3]
    if not (np.allclose(r.T @ r, np.eye(3), atol=1e-6) and np.linalg.det(r) > 0
            and np.allclose(m[3], [0, 0, 0, 1])):
        raise SimgenError(f"{what}: must be a rotation and a translation (no scale or shear); "
                          "give the sheet's size in cloth.size")
    return m


@contextlib.contextmanager
def built(cloth: Cloth, mesh_to_world: np.ndarray, colliders: list[tuple[np.ndarray, np.ndarray]],
          frames: int, fps: float, ground: float | None, solids_out: list | None = None
          ) -> Iterator[tuple[bpy.types.Scene, bpy.types.Object]]:
    """A scratch scene holding the sheet (its Cloth modifier set from ``cloth``, cached for
    ``frames`` frames after :data:`START_FRAME`), the colliders and the ground plane, each with a
    Collision modifier; yields (scene, sheet object) and removes every datablock it made on
    leaving, also on error. Inputs as :func:`simulate` checks them; ``solids_out``: a list the
    colliders' objects are appended to, in the order of ``colliders``."""
    with built_together([(cloth, mesh_to_world)], colliders, frames, fps, ground, solids_out) as together:
        yield together.scene, together.sheets[0]


class Together:
    """Cloths in one scratch scene (:func:`built_together`), stepped by :meth:`frame_set`.

    Each collides with the others in a fixed order, as no Blender setting does: cloth ``k``'s
    colliders (its ``collision_settings.collection``) are the scene's solids, the sheets before it
    as simulated at the same frame (each has a Collision modifier after its Cloth modifier) and,
    for each sheet after it, a proxy (a plain mesh with a Collision modifier) that
    :meth:`frame_set` puts where that sheet was at the frame before. Blender does the same when
    every sheet collides with every other through its own Collision modifier, but then the
    dependency cycle between them is broken in an order that changes from run to run (seen: two
    outcomes, 1 cm apart after 40 frames, for the same three cloths in one process); here the order
    is the sheets'."""

    def __init__(self, scene: bpy.types.Scene, sheets: list[bpy.types.Object],
                 proxies: list[bpy.types.Object | None]):
        self.scene = scene
        """The scratch scene."""
        self.sheets = sheets
        """The sheet objects, in the order given: ``cloth_sheet``, ``cloth_sheet1``, ..."""
        self.proxies = proxies
        """Each sheet's proxy (None for the first sheet, and for all of them when they do not collide)."""

    def world_vertices(self, n: int) -> np.ndarray:
        """Sheet ``n`` as Blender has evaluated it, world coordinates (V, 3) float64 (the cloth
        modifier's output is in the object's local frame)."""
        evaluated = self.sheets[n].evaluated_get(self.scene.view_layers[0].depsgraph)
        buf = np.empty(len(evaluated.data.vertices) * 3, np.float32)
        evaluated.data.vertices.foreach_get("co", buf)
        m = np.array(evaluated.matrix_world, float)
        return buf.reshape(-1, 3).astype(float) @ m[:3, :3].T + m[:3, 3]

    def frame_set(self, frame: int, now: list[np.ndarray] | None = None) -> None:
        """Each proxy where its sheet is now, then the scene at ``frame`` (call it for every frame in
        order from :data:`START_FRAME`: the point caches need each). ``now``: each sheet's world
        vertices at the frame before, where the caller has read them already (else read here)."""
        if frame > START_FRAME:
            for n, proxy in enumerate(self.proxies):
                if proxy is not None:
                    where = self.world_vertices(n) if now is None else now[n]
                    proxy.data.vertices.foreach_set("co", where.astype(np.float32).ravel())
                    proxy.data.update()
        self.scene.frame_set(frame)


@contextlib.contextmanager
def built_together(sheets: list[tuple[Cloth, np.ndarray]], colliders: list[tuple[np.ndarray, np.ndarray]],
                   frames: int, fps: float, ground: float | None, solids_out: list | None = None,
                   collide: bool = True) -> Iterator[Together]:
    """:func:`built` for several cloths in one scratch scene: ``sheets`` (cloth, mesh_to_world)
    each a sheet object (``cloth_sheet``, then ``cloth_sheet1``, ...) with its Cloth modifier; where
    there are several and ``collide``, each collides with the others (:class:`Together`). Yields the
    :class:`Together`; removes every datablock it made on leaving."""
    sim = bpy.data.scenes.new("simgen_cloth")
    meshes: list[bpy.types.Mesh] = []
    objects: list[bpy.types.Object] = []
    collections: list[bpy.types.Collection] = []

    def add(name: str, me: bpy.types.Mesh) -> bpy.types.Object:
        meshes.append(me)
        ob = bpy.data.objects.new(name, me)
        objects.append(ob)
        sim.collection.objects.link(ob)
        return ob

    def collider(ob: bpy.types.Object, friction: float) -> None:
        ob.modifiers.new("Collision", "COLLISION")
        col = ob.collision
        col.thickness_outer, col.cloth_friction = COLLIDER_THICKNESS, friction
        col.use_culling, col.use_normal = CULLING, CULLING

    try:
        sim.use_gravity, sim.gravity = True, GRAVITY
        fps_int = max(1, round(fps))
        sim.render.fps, sim.render.fps_base = fps_int, fps_int / fps
        sim.frame_start, sim.frame_end = START_FRAME, START_FRAME + frames
        solids = list(colliders)
        if ground is not None:
            # a square far beyond anywhere a sheet can go before it counts as exploded
            half = max(2 * EXPLODED_FACTOR * max(cloth.size) + float(np.abs(pose[:2, 3]).max())
                       for cloth, pose in sheets)
            solids.append((np.array([[-half, -half, ground], [half, -half, ground], [half, half, ground],
                                     [-half, half, ground]]), np.array([[0, 1, 2], [0, 2, 3]]), None))
        friction = sheets[0][0].friction  # a static collider's: the first cloth's (one cloth: its own)
        static = []
        for k, (v, f, *poses) in enumerate(solids):
            ob = add(f"cloth_collider{k}", _mesh(f"cloth_collider{k}", v, f))
            if poses and poses[0] is not None:  # a moving collider: where it is at the first step
                ob.matrix_world = Matrix(poses[0][0].tolist())
            if solids_out is not None:
                solids_out.append(ob)
            collider(ob, friction)
            static.append(ob)
        together = collide and len(sheets) > 1
        obs, proxies, mods = [], [], []
        for k, (cloth, pose) in enumerate(sheets):
            name = "cloth_sheet" if k == 0 else f"cloth_sheet{k}"
            local, faces = sheet(cloth)
            ob = add(name, _mesh(name, local, faces))
            ob.matrix_world = Matrix(np.asarray(pose, float).tolist())
            mod = ob.modifiers.new("Cloth", "CLOTH")
            s = mod.settings
            s.quality, s.mass, s.air_damping = cloth.quality, cloth.mass, cloth.air_damping
            s.tension_stiffness = s.compression_stiffness = cloth.tension
            s.shear_stiffness, s.bending_stiffness = cloth.shear, cloth.bending
            if cloth.shape in ("pouch", "cable"):  # closed: its volume pushes out
                s.use_pressure, s.uniform_pressure_force = True, cloth.pressure
            c = mod.collision_settings
            c.use_collision, c.distance_min, c.friction = True, cloth.thickness, cloth.friction
            c.collision_quality, c.use_self_collision = cloth.collision_quality, cloth.self_collision
            if cloth.self_collision:
                c.self_distance_min, c.self_friction = cloth.thickness, cloth.friction
            mod.point_cache.frame_start, mod.point_cache.frame_end = START_FRAME, START_FRAME + frames
            proxy = None
            if together:
                if k < len(sheets) - 1:  # after the Cloth modifier: the sheets after it meet it as simulated
                    collider(ob, cloth.friction)
                if k > 0:  # the sheets before it meet it where it was a frame before
                    proxy = add(f"{name}_proxy", _mesh(f"{name}_proxy", local @ np.asarray(pose)[:3, :3].T
                                                       + np.asarray(pose)[:3, 3], faces))
                    collider(proxy, cloth.friction)
            obs.append(ob)
            proxies.append(proxy)
            mods.append(mod)
        if together:
            for k, mod in enumerate(mods):
                group = bpy.data.collections.new(f"cloth_colliders{k}")
                collections.append(group)
                for ob in [*static, *obs[:k], *(p for p in proxies[k + 1:] if p is not None)]:
                    group.objects.link(ob)
                mod.collision_settings.collection = group
        yield Together(sim, obs, proxies)
    finally:
        for o in objects:
            bpy.data.objects.remove(o, do_unlink=True)
        for m in meshes:
            bpy.data.meshes.remove(m)
        for g in collections:
            bpy.data.collections.remove(g)
        bpy.data.scenes.remove(sim)


def _check_args(steps, settle, fps, ground) -> None:
    for name, v, least in (("steps", steps, 1), ("settle", settle, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < least:
            raise SimgenError(f"cloth simulation {name}={v!r}: must be an integer >= {least}")
    if isinstance(fps, bool) or not (isinstance(fps, (int, float)) and np.isfinite(fps) and 1 <= fps <= 1000):
        raise SimgenError(f"cloth simulation fps={fps!r}: must be a number of frames a second from 1 to 1000")
    if ground is not None and (isinstance(ground, bool) or not (isinstance(ground, (int, float))
                                                                and np.isfinite(ground))):
        raise SimgenError(f"cloth simulation ground={ground!r}: must be the ground's height in metres, or None")


def simulate(cloth: Cloth, mesh_to_world, colliders: list[tuple[np.ndarray, np.ndarray]], steps: int,
             settle: int, fps: float = 24, ground: float | None = 0.0,
             rest_speed: float = REST_SPEED) -> ClothRun:
    """Drop ``cloth`` (its flat :func:`~simgen.scene.cloth.sheet` placed by ``mesh_to_world``, a
    rigid 4x4) onto ``colliders`` (triangle meshes: world vertices (V, 3), faces (F, 3), outward
    normals; or a moving one, (vertices in its own frame, faces, its (steps, 4, 4) poses), held at
    its first pose while the cloth settles, then at each step's) and, unless ``ground`` is None, a
    ground plane at ``z = ground``; simulate ``settle`` frames, then ``steps`` more, at ``fps``
    frames a second under gravity.

    Returns a :class:`~simgen.scene.cloth.ClothRun`: the sheet's world vertices (steps, V, 3) in
    :func:`sheet`'s order, step 0 after the ``settle`` frames (the flat sheet when settle is 0),
    then one per frame; whether its fastest vertex moved slower than ``rest_speed`` m/s in the
    last settling frame (not settling is no error: the caller decides). A simulation that
    explodes (a vertex non-finite or :data:`~simgen.scene.cloth.EXPLODED_FACTOR` sheet sizes from
    its start) raises :class:`SimgenError` naming the frame.
    """
    if not isinstance(cloth, Cloth):
        raise SimgenError(f"cloth: must be a simgen.scene.cloth.Cloth, got {type(cloth).__name__}")
    return simulate_together([(cloth, mesh_to_world)], colliders, steps, settle, fps, ground, rest_speed)[0]


def simulate_together(sheets: list[tuple[Cloth, np.ndarray]], colliders: list[tuple[np.ndarray, np.ndarray]],
                      steps: int, settle: int, fps: float = 24, ground: float | None = 0.0,
                      rest_speed: float = REST_SPEED, collide: bool = True) -> list[ClothRun]:
    """:func:`simulate` for several cloths, ``sheets`` (cloth, mesh_to_world), dropped together in
    one run: each also collides with the others (:class:`Together`; ``collide=False`` leaves that
    out, and they pass through each other), and with itself where its :attr:`~Cloth.self_collision` is on.
    Returns one :class:`~simgen.scene.cloth.ClothRun` a cloth, in the order of ``sheets``, each with
    the joint run's seconds."""
    t0 = time.perf_counter()
    if not isinstance(sheets, (list, tuple)) or not sheets:
        raise SimgenError("cloth simulation: give at least one (cloth, mesh_to_world) to simulate")
    for k, item in enumerate(sheets):
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], Cloth)):
            raise SimgenError(f"cloth {k}: must be a (simgen.scene.cloth.Cloth, mesh_to_world) pair, got "
                              f"{type(item).__name__}")
    _check_args(steps, settle, fps, ground)
    sheets = [(cloth, _check_pose(pose, "cloth mesh_to_world" if len(sheets) == 1 else f"cloth {k} mesh_to_world"))
              for k, (cloth, pose) in enumerate(sheets)]
    colliders = _check_colliders(colliders, steps)
    moving = [(k, poses) for k, (_, _, poses) in enumerate(colliders) if poses is not None]
    flat = [sheet(cloth) for cloth, _ in sheets]
    starts = [local @ pose[:3, :3].T + pose[:3, 3] for (local, _), (_, pose) in zip(flat, sheets)]
    frames = settle + steps - 1  # frames simulated after the start frame
    named = len(sheets) > 1

    solids: list = []
    with built_together(sheets, colliders, frames, fps, ground, solids, collide) as together:
        outs = [np.empty((steps, len(local), 3)) for local, _ in flat]
        previous: list = [None] * len(sheets)
        speeds = [float("inf")] * len(sheets)
        for k in range(frames + 1):
            for j, poses in moving:  # each moving collider where its step has it (held still while settling)
                solids[j].matrix_world = Matrix(poses[max(0, k - settle)].tolist())
            # in order from the start frame (the point cache needs each frame); the proxies where the
            # sheets were at the frame before, as read below
            together.frame_set(START_FRAME + k, previous if k else None)
            depsgraph = together.scene.view_layers[0].depsgraph
            for n, (ob, (local, faces), (cloth, pose)) in enumerate(zip(together.sheets, flat, sheets)):
                evaluated = ob.evaluated_get(depsgraph)
                me = evaluated.data
                if len(me.vertices) != len(local) or len(me.polygons) != len(faces):
                    raise SimgenError(f"cloth: Blender's evaluated sheet has {len(me.vertices)} vertices and "
                                      f"{len(me.polygons)} faces at frame {k}, not {len(local)} and {len(faces)}; "
                                      f"a modifier changed the mesh")
                buf = np.empty(len(local) * 3, np.float32)
                me.vertices.foreach_get("co", buf)
                world_m = np.array(evaluated.matrix_world, float)
                if k == 0:
                    _check_start(me, buf, world_m, pose, local, faces)
                # the cloth modifier's output is in the object's local frame
                now = buf.reshape(-1, 3).astype(float) @ world_m[:3, :3].T + world_m[:3, 3]
                where = f"settling frame {k} of {settle}" if k < settle else f"step {k - settle} of {steps}"
                check_exploded(now, starts[n], cloth, f"{where} (cloth {n})" if named else where)
                if k == settle and previous[n] is not None:
                    speeds[n] = float(np.linalg.norm(now - previous[n], axis=1).max()) * fps
                if k >= settle:
                    outs[n][k - settle] = now
                previous[n] = now
    seconds = time.perf_counter() - t0
    return [ClothRun(vertices=out, settled=bool(speed < rest_speed), max_speed=speed, seconds=seconds, frames=frames)
            for out, speed in zip(outs, speeds)]


def _check_start(me: bpy.types.Mesh, co: np.ndarray, world_m: np.ndarray, pose: np.ndarray, local: np.ndarray,
                 faces: np.ndarray) -> None:
    """Blender's evaluated sheet at the start frame is the sheet given: same pose, vertices and
    triangles in the same order (else the vertices read back would not be sheet()'s)."""
    if not np.allclose(world_m, pose, atol=1e-6) or not np.allclose(co.reshape(-1, 3), local, atol=1e-5):
        raise SimgenError("cloth: Blender's evaluated sheet at the start frame is not the sheet given "
                          "(its vertices were reordered or moved); report this with the cloth's settings")
    loops = np.empty(faces.size, np.int32)
    me.loops.foreach_get("vertex_index", loops)
    if not np.array_equal(loops.reshape(-1, 3), faces):
        raise SimgenError("cloth: Blender's evaluated sheet has its faces in another order than "
                          "simgen.scene.cloth.sheet's; report this with the cloth's settings")
