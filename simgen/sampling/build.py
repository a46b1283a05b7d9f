"""The scene builder: what a recipe's ``make_sequence`` writes with (``simgen.recipes.SceneBuilder``).

A recipe says what its scene holds, in the order it draws it: a world from a file, the catalog's
objects dropped into a bin, a robot standing beside it, lights, a camera per step. The builder does
the bookkeeping every recipe did by hand:

- **ids**: instance ids are given when the scenes are made: the catalog's objects first, in the
  order they were added, then everything else (the file's parts, a robot) in the order added;
- **the file's parts**: :meth:`SceneBuilder.load_world` adds them as background in their own look
  and holds them in the simulation (solid boxes where they are boxes, their triangles otherwise);
- **physics**: each dropped object's body (its mass, friction and bounciness drawn), every static
  collider, and the simulation that settles them (:func:`simgen.sampling.physics.settling`);
- **the record**: every draw lands in the scenes' ``params`` (``objects``, ``lights``, the
  robots, ``camera``), and the objects that did not fit in ``params[SHORTFALL]``.

Everything is drawn from the one ``rng`` the recipe is given, in the order the recipe calls, so a
frame is the same alone or in a run. Pure: no Blender.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from simgen.errors import SimgenError
from simgen.scene.meshes import ArticulatedMesh, MeshRef
from simgen.scene.data import MAX_INSTANCE_ID, Camera, Physics, RigidBody, Scene, SceneObject
from simgen.scene.transforms import rigid, rot_z

SHORTFALL = "shortfall"
"""The key of a scene's ``params`` where a recipe records what a draw could not hold (objects that did
not fit): ``{"placed": K, "wanted": N, "message": "impossible placement: ... ; how to fix it"}``. Such
a scene renders like any other (a rare infeasible draw is part of the randomization: the run goes on,
the frame's meta keeps the record and the run's summary counts it); a config most of whose scenes
fall short is refused before the first frame (:func:`simgen.pipeline.frames.check_placement`)."""

SLAB = 0.1
"""m: the solid box under a bin's floor, its top flush with it: a mesh is a surface, and a thin
object that others press on passes through a floor of triangles."""


@dataclass(frozen=True)
class BinFloor:
    """A bin's floor as :meth:`SceneBuilder.drop` drops onto it: its level area (``surface``), the
    bin's bounding box and the clearance kept from its walls (:func:`bin_floor`)."""

    surface: Any
    """The floor: a :class:`simgen.sampling.surfaces.Surface`."""
    box: np.ndarray
    """(2, 3) the bin's parts' world bounding box (lo, hi corners)."""
    clearance: float

    @property
    def floor(self) -> float:
        return self.surface.z

    @property
    def centre(self) -> np.ndarray:
        """The middle of the bin seen from above, at the floor's height (world XYZ)."""
        return np.array([*self.box.mean(axis=0)[:2], self.surface.z])

    def colliders(self) -> list[np.ndarray]:
        """A solid :data:`SLAB` thick under the floor, as wide as the bin (a unit-cube pose)."""
        from simgen.sampling.physics import box_pose

        return [box_pose((*self.centre[:2], self.floor - SLAB / 2), (*np.ptp(self.box, axis=0)[:2], SLAB))]

    def fits(self, r: float) -> np.ndarray:
        """(rows, columns) of the floor's cells a sphere of radius ``r`` may be centred over."""
        return np.nonzero(self.surface.stands(r, 2 * r, self.clearance))

    def sample_xy(self, rng: np.random.Generator, r: float) -> np.ndarray:
        rows, cols = self.fits(r)
        k = int(rng.integers(len(rows)))
        return self.surface.xy(rows[k], cols[k])


def bin_floor(env: Any, bin_parts: Sequence[str], min_area: float = 0.02, clearance: float = 0.005,
              key: str = "scene.bin") -> BinFloor:
    """The floor of the bin that ``bin_parts`` (object name globs, collection:GLOB, material:GLOB or
    property:KEY) name in the world ``env``: the largest level area of at least ``min_area`` m^2
    among those parts, ``clearance`` m kept from the walls. A one-line SimgenError naming ``key``
    when the names match no part or the parts have no such area.

    Example: ``floor = bin_floor(world, ["bin*"])``"""
    surface, box = _floor_of(env, tuple(bin_parts), float(min_area), key)
    return BinFloor(surface, box, clearance)


@functools.lru_cache(maxsize=8)
def _floor_of(env: Any, selectors: tuple[str, ...], min_area: float, key: str) -> tuple[Any, np.ndarray]:
    from simgen.sampling.surfaces import find_surfaces

    parts = env.select(selectors)
    if not parts:
        raise env.names_nothing(key, selectors)
    names = [p.name for p in parts for _ in range(len(env.meshes[p.mesh.key].faces))]
    found = find_surfaces(env.triangles(parts), env.triangles(), min_area, names=names)
    if not found:
        raise SimgenError(f"{key}={list(selectors)}: no level area of at least {min_area} m^2 in those parts of "
                          f"{env.file}; name the bin's floor among them")
    boxes = env.bounds[[k for k, p in enumerate(env.parts) if any(p is q for q in parts)]]
    return max(found, key=lambda s: s.area), np.array([boxes[:, 0].min(axis=0), boxes[:, 1].max(axis=0)])


@dataclass(frozen=True)
class Pick:
    """An object picked from the catalog (:meth:`SceneBuilder.pick_objects`), not yet placed."""

    asset: Any
    """The catalog's :class:`simgen.assets.Asset` (an articulated one posed, its joints drawn)."""
    scale: float
    """Its catalog scale times the size factor drawn."""
    shape: dict | None
    """A generated shape's draws (objects.parametric); None for a catalog mesh."""
    centre: np.ndarray
    """Its bounding sphere's centre, in its mesh's coordinates."""
    radius: float
    """Its bounding sphere's radius at ``scale`` (m)."""
    volume: float
    """Its bounding box's volume at ``scale`` (m^3)."""


@dataclass
class _Entry:
    """An object of the scene before its instance id is given."""

    obj: SceneObject
    named: Callable[[int], str]
    annotated_first: bool
    body: RigidBody | None = None
    moves: Callable[[int], Any] | None = None


class SceneBuilder:
    """Builds the scenes of one ``make_sequence`` call: ``SceneBuilder(settings, catalog, rng)``,
    then the recipe's calls in the order it draws, then :meth:`scenes`. ``params`` is the record
    the scenes carry (a recipe may add its own keys)."""

    def __init__(self, settings: Any, catalog: Any, rng: np.random.Generator):
        self.settings, self.catalog, self.rng = settings, catalog, rng
        self.params: dict[str, Any] = {"recipe": settings.scene.recipe}
        self._entries: list[_Entry] = []
        self._boxes: list[np.ndarray] = []
        self._static: list[tuple[MeshRef, np.ndarray]] = []
        self._floor: float | None = None
        self._simulated = False
        self._lights: list = []
        self._world = None

    # ------------------------------------------------------------------ what the scene holds

    @property
    def objects(self) -> list[SceneObject]:
        """The objects added so far, in the order added (their ids not yet given)."""
        return [e.obj for e in self._entries]

    def add(self, obj: SceneObject, *, annotated_first: bool | None = None, body: RigidBody | None = None,
            named: Callable[[int], str] | None = None, moves: Callable[[int], Any] | None = None
            ) -> SceneObject:
        """Add ``obj`` (its instance id is given by :meth:`scenes`). ``annotated_first``: it is
        numbered among the catalog's objects (by default: its role is "object"); ``body``: it is
        simulated; ``named(instance id)``: its name, when the id is in it (an object added with
        the name "" is named ``obj007_<asset key>`` or ``distractor007_<mesh>``); ``moves(step)``:
        its mesh_to_world at each step of a sequence after the first, or its (mesh, mesh_to_world)
        where its mesh changes too (a part of a scene file that deforms).

        Example: ``build.add(SceneObject(name="pallet", mesh=ASSET_DIR / "meshes" / "box" / "cube.obj",
        mesh_to_world=np.diag([1.2, 0.8, 0.15, 1.0]), instance_id=0, category_id=0, role="support",
        material=Material(base_color=(0.4, 0.3, 0.2), roughness=0.8, metallic=0.0)))``"""
        if named is None:
            named = functools.partial(_object_name, obj.asset_id, obj.mesh) if obj.name == "" else (lambda _: obj.name)
        first = obj.role == "object" if annotated_first is None else annotated_first
        self._entries.append(_Entry(obj, named, first, body, moves))
        return obj

    def simulate(self, obj: SceneObject, body: RigidBody) -> None:
        """Give ``obj`` (added before) a body: the simulation settles it (its id is given later)."""
        entry = next(e for e in self._entries if e.obj is obj)
        entry.body = body

    def collide(self, *boxes: np.ndarray, static: Sequence[tuple[MeshRef, np.ndarray]] = (),
                floor: float | None = None) -> None:
        """Make the scenes' simulation (even with no body to settle), holding still the solid
        ``boxes`` (unit-cube poses, scale included) and ``static`` meshes ((mesh, mesh_to_world)
        each) besides those of :meth:`load_world` and :meth:`drop`; below ``floor`` (m) a body has
        fallen off the world."""
        self._boxes += [np.asarray(b, float) for b in boxes]
        self._static += list(static)
        if floor is not None:
            self._floor = floor
        self._simulated = True

    def load_world(self, file: str | Path) -> Any:
        """The scene file ``file`` (:func:`simgen.assets.environment.load_environment`, read once and
        cached): its parts are added as background in the file's own look, held still in the
        simulation. Returns the :class:`simgen.assets.environment.Environment` (its parts, surfaces,
        bounds).

        Example: ``world = build.load_world(sc.file)``"""
        from simgen.assets.environment import FILE_LOOK, load_environment
        from simgen.sampling.physics import FALL, world_colliders

        env = load_environment(file)
        for p in env.parts:
            self.add(SceneObject(name=f"env_{p.name}", mesh=p.mesh, mesh_to_world=p.matrix, instance_id=0,
                                 category_id=0, material=FILE_LOOK, role="environment"))
        boxes, static = world_colliders([(p.mesh, p.matrix, env.meshes[p.mesh.key]) for p in env.parts])
        self._boxes += boxes
        self._static += static
        if len(env.parts):  # a body below the file's lowest point has fallen off the world
            fall = float(env.bounds[:, 0, 2].min()) - FALL
            self._floor = fall if self._floor is None else min(self._floor, fall)
        self.params["file"] = str(env.file)
        return env

    def pick_objects(self, scale: Sequence[float] = (1.0, 1.0), count: Sequence[int] | None = None) -> list[Pick]:
        """objects.count (or ``count``) of the catalog's objects by its class balance, each at its
        catalog scale times a factor drawn in ``scale``.

        Example: ``picks = build.pick_objects(scale=[0.4, 0.6])``"""
        from simgen.assets import load_mesh
        from simgen.sampling.objects import pick_objects
        from simgen.sampling.physics import bounding_sphere, box_volume
        from simgen.sampling.random import integer, uniform

        o = self.settings.objects
        assets, shapes = pick_objects(o, self.catalog, integer(self.rng, count or o.count), self.rng)
        scales = [a.scale * uniform(self.rng, scale) for a in assets]
        out = []
        for a, s, shape in zip(assets, scales, shapes):
            vertices = load_mesh(a.path).vertices
            centre, r = bounding_sphere(vertices, s)
            out.append(Pick(a, s, shape, centre, r, box_volume(vertices, s)))
        return out

    def drop(self, picks: Sequence[Pick], into: BinFloor, wanted: int | None = None) -> list[SceneObject]:
        """Drop ``picks`` into a bin (:func:`bin_floor`): each in a random orientation, its bounding
        sphere stacked over the floor inside the walls (:func:`simgen.sampling.physics.drop_centres`),
        with a body of its own (mass, friction, bounciness drawn from scene.physics) for the
        simulation that settles them. One wider than the floor is left out; fewer than ``wanted``
        (objects.count's least) left is the scenes' shortfall. Returns the objects added.

        Example: ``build.drop(build.pick_objects(scale=sc.object_scale), into=bin_floor(world, ["bin*"]))``"""
        from simgen.sampling.materials import sample_material
        from simgen.sampling.physics import drop_centres, drop_pose, rigid_body
        from simgen.sampling.random import random_rotation, uniform

        pc = self.settings.scene.physics
        fit = [len(into.fits(p.radius)[0]) > 0 for p in picks]
        left_out = [p.asset.key for p, ok in zip(picks, fit) if not ok]
        kept = [p for p, ok in zip(picks, fit) if ok]
        gaps = [uniform(self.rng, pc.drop_gap) for _ in kept]
        centres = drop_centres([p.radius for p in kept], gaps, into, self.rng)
        largest = max((p.volume for p in kept), default=0.0)
        added, drawn = [], []
        for p, gap, at in zip(kept, gaps, centres):
            rotation = random_rotation(self.rng)
            obj = SceneObject(name="", mesh=p.asset.path, instance_id=0, category_id=p.asset.category_id,
                              mesh_to_world=drop_pose(p.centre, p.scale, rotation, at), asset_id=p.asset.key,
                              material=sample_material(self.settings.materials, self.rng))
            body = rigid_body(0, p.volume, largest, pc, self.rng)
            added.append(self.add(obj, body=body))
            drawn.append({"asset": p.asset.key, "scale": p.scale, "rotation": rotation.tolist(),
                          "drop_center": at.tolist(), "radius": p.radius, "gap": gap, "mass": body.mass,
                          "friction": body.friction, "restitution": body.restitution,
                          **({"shape": p.shape} if p.shape else {})})
        self._boxes[:0] = into.colliders()  # the slab under the floor first, then the file's boxes
        self._simulated = True
        self.params["placement"] = {"mode": "physics"}
        record = self.params.setdefault("objects", {"count_drawn": 0, "dropped": [], "objects": []})
        record["count_drawn"] += len(picks)
        record["dropped"] += left_out
        record["objects"] += drawn
        wanted = self.settings.objects.count[0] if wanted is None else wanted
        if len(record["objects"]) < wanted:
            where = f" in {self.params['file']}" if "file" in self.params else ""
            self.params[SHORTFALL] = {"placed": len(record["objects"]), "wanted": wanted, "message": (
                f"impossible placement: {len(record['dropped'])} of the objects drawn are wider than the bin's "
                f"floor{where}; lower scene.object_scale or name a larger bin (scene.bin)")}
        return added

    def stand(self, model: ArticulatedMesh | str | Path, at: Sequence[float], yaw: float | Sequence[float] = 0.0,
              category: str | int | None = None, key: str = "robot") -> SceneObject:
        """A robot (or any URDF or MJCF model) standing still with its base at ``at`` (x, y, z, m),
        turned ``yaw`` degrees about the vertical (a [lo, hi] range: drawn), its joints drawn within
        their limits (:func:`simgen.sampling.objects.posed_model`; objects.joint_motion moves them
        through a sequence). A static collider of the simulation; labelled as the catalog's
        ``category`` (its name or id: one COCO object, its links its parts), or background (None).
        The draws are in ``params[key]``.

        Example: ``build.stand(ASSET_DIR / "robots" / "arm.urdf", at=[0.42, 0, 0], yaw=[150, 210])``"""
        from simgen.sampling.materials import sample_material
        from simgen.sampling.objects import posed_model
        from simgen.sampling.random import uniform

        model = model if isinstance(model, ArticulatedMesh) else ArticulatedMesh(Path(model))
        category_id = self.category_id(category) if isinstance(category, str) else int(category or 0)
        posed = posed_model(model, self.rng)
        turn = float(yaw) if np.isscalar(yaw) else uniform(self.rng, yaw)
        pose = rigid(rot_z(np.radians(turn)), np.asarray(at, float))
        asset = posed.key_of(f"{key}/{model.file.stem}")
        obj = SceneObject(name="", mesh=posed, mesh_to_world=pose, instance_id=0, category_id=category_id,
                          material=sample_material(self.settings.materials, self.rng), asset_id=asset)
        self.add(obj, annotated_first=False)
        self._static.append((posed, pose))
        self.params[key] = {"file": str(model.file), "at": [float(v) for v in at], "yaw_deg": turn,
                            "joints": dict(posed.joints)}
        return obj

    def category_id(self, name: str, what: str = "category") -> int:
        """The catalog's id of category ``name``; a one-line SimgenError naming ``what`` and the
        catalog's categories when it has none of that name.

        Example: ``build.category_id("robot")``"""
        try:
            return self.catalog.category_id(name)
        except SimgenError:
            raise SimgenError(f"{what}={name}: no such category in the catalog "
                              f"({', '.join(self.catalog.category_names)}); add it to the catalog's categories or "
                              "fix the name") from None

    def light(self, aim: np.ndarray) -> None:
        """lighting.count lights aimed at ``aim`` and the world light (the lighting group), recorded.

        Example: ``build.light(floor.centre)``"""
        from simgen.sampling.lighting import sample_lights

        self.use_lights(*sample_lights(self.settings.lighting, np.asarray(aim, float), self.rng))

    def use_lights(self, lights: list, world: Any, drawn: dict) -> None:
        """Lights and a world light the recipe drew itself (``drawn``: their record), in place of
        :meth:`light`'s."""
        self._lights, self._world = list(lights), world
        self.params.update(drawn)

    # ------------------------------------------------------------------ cameras and the scenes

    def camera_around(self, aim: np.ndarray, shell: Any) -> tuple[Camera, dict]:
        """A camera on a shell around ``aim``, looking at it: ``shell``'s ``camera_distance``,
        ``camera_elevation``, ``camera_azimuth`` ranges and ``look_at_jitter`` (a recipe's Config
        with those fields), its lens and exposure from the camera group. Returns the camera and
        its draws (with its ``eye``).

        Example: ``camera, drawn = build.camera_around(floor.centre, settings.scene)``"""
        from simgen.sampling.camera import draw_camera, sample_shell

        draw = sample_shell(self.settings.camera, shell, np.asarray(aim, float), self.rng)
        camera = draw_camera(self.settings, draw)
        return camera, {**draw, "eye": camera.camera_to_world[:3, 3].tolist()}

    def scenes(self, length: int, camera: Callable[[], tuple[Camera, dict]],
               step_params: Callable[[int], dict] | None = None) -> list[Scene]:
        """The ``length`` steps of the scene, each seen by a camera ``camera()`` draws (a camera
        and its draws, e.g. :meth:`camera_around`: ``params["camera"]``), with ``step_params(step)``
        in its params, and with the simulation when something was dropped or :meth:`collide`
        asked for it; the ids given (the catalog's objects first).

        Example: ``return build.scenes(length, lambda: build.camera_around(floor.centre, sc))``"""
        from simgen.sampling.physics import settling

        if self._world is None:
            raise SimgenError("SceneBuilder.scenes: light the scene first (SceneBuilder.light)")
        order = [e for e in self._entries if e.annotated_first] + [e for e in self._entries if not e.annotated_first]
        if len(order) > MAX_INSTANCE_ID:
            parts = sum(e.obj.role == "environment" for e in order)
            fix = f"join parts in {self.params.get('file', 'the file')} ({parts} are its parts)" if parts else \
                "lower objects.count"
            raise SimgenError(f"{len(order)} objects in a scene are more than the {MAX_INSTANCE_ID} instance ids a "
                              f"frame has; {fix}")
        objects, bodies = [], []
        for iid, e in enumerate(order, start=1):
            objects.append(dataclasses.replace(e.obj, instance_id=iid, name=e.named(iid)))
            if e.body is not None:
                bodies.append(dataclasses.replace(e.body, instance_id=iid))
        physics: Physics | None = None
        if bodies or self._simulated:
            physics = settling(self.settings.scene.physics, bodies, self._boxes, self._static, floor=self._floor)
        moving = any(e.moves is not None for e in order)
        out = []
        for step in range(length):
            cam, drawn = camera()
            now = objects if not moving or step == 0 else [o if e.moves is None else _moved(o, e.moves(step))
                                                             for o, e in zip(objects, order)]
            out.append(Scene(objects=now, lights=self._lights, camera=cam, world=self._world, physics=physics,
                             params={**self.params, **(step_params(step) if step_params else {}), "camera": drawn}))
        return out


def _moved(obj: SceneObject, where: Any) -> SceneObject:
    """``obj`` at a ``moves(step)``'s answer: a mesh_to_world, or (mesh, mesh_to_world)."""
    if isinstance(where, tuple):
        return dataclasses.replace(obj, mesh=where[0], mesh_to_world=np.asarray(where[1], float))
    return dataclasses.replace(obj, mesh_to_world=np.asarray(where, float))


def _object_name(asset_key: str, mesh: MeshRef, instance_id: int) -> str:
    from simgen.sampling.objects import object_name

    return object_name(instance_id, asset_key, mesh)
