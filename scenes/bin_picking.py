"""Bin picking: a bin from a file, the catalog's objects dropped into it and settled by Bullet, a
camera looking down into it.

``scene=bin_picking`` (``scene.file``: your own cell; the default is the bundled bin on a table,
assets/environments/bin.glb from scripts/make_bin.py). Each frame, read top to bottom:

1. the world: the file's parts (:func:`simgen.assets.environment.load_environment`), the bin among
   them (``scene.bin``) and its floor, the largest level area of the bin's parts
   (:func:`simgen.sampling.surfaces.find_surfaces`);
2. the objects (objects.count of the catalog's, at scene.object_scale) in random orientations, their
   bounding spheres stacked in a column over the floor, each inside the walls seen from above
   (:func:`simgen.sampling.physics.drop_centres`); an object wider than the bin is left out;
3. the simulation that settles them (:func:`simgen.sampling.physics.settling`; the pipeline runs it
   once per sequence): the file's parts that are boxes collide as solid boxes, the others as their
   triangles, and a solid slab lies under the bin's floor, so that no thin object is pressed through;
4. lights aimed at the bin (the lighting group) and, per step, a camera above it: at
   scene.camera_distance from the floor's centre, its optical axis scene.camera_tilt degrees off
   straight down at a random azimuth (:func:`simgen.sampling.camera.sample_shell`).

Every draw is recorded in the scene's params. The file's parts are background (category 0), each
with an instance id of its own after the objects'. A shorter version is written out in the tutorial
docs/tutorials/own-recipe.md.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import numpy as np

from simgen import SimgenError
from simgen.assets import Catalog, load_mesh
from simgen.assets.environment import FILE_LOOK, Environment, check_file, load_environment
from simgen.config import SettleConfig, Settings
from simgen.config.schema import setting, span
from simgen.core.mesh_ref import MJCF_SUFFIXES, URDF_SUFFIXES, ArticulatedMesh
from simgen.core.paths import ASSET_DIR
from simgen.core.scene import Scene, SceneObject
from simgen.recipes import SHORTFALL, Recipe
from simgen.sampling.camera import draw_camera, sample_shell
from simgen.sampling.lighting import sample_lights
from simgen.sampling.materials import sample_material
from simgen.sampling.objects import object_name, pick_objects, posed_model
from simgen.sampling.physics import (FALL, bounding_sphere, box_pose, box_volume, drop_centres, drop_pose, rigid_body,
                                     settling, world_colliders)
from simgen.sampling.random import integer, random_rotation, uniform
from simgen.sampling.surfaces import Surface, find_surfaces

BUNDLED_BIN = ASSET_DIR / "environments" / "bin.glb"
"""scene.file's default: made by scripts/make_bin.py."""
SLAB = 0.1
"""m: the solid box under the bin's floor, its top flush with it: a mesh is a surface, and a thin
object that others press on passes through a floor of triangles (tabletop's ground has one too)."""


@dataclass
class Config:
    """Bin picking: a bin from a file (.blend, .glb/.gltf, .usd*, .fbx, .obj), the catalog's objects
    dropped into it and settled by Bullet, a camera looking down into it."""

    recipe: str = setting("bin_picking")
    """Recipe module under scenes/ (scenes/<recipe>.py)."""
    file: Optional[str] = setting(None, example="/data/cell.glb")
    """The scene file holding the bin; null: the bundled bin (assets/environments/bin.glb: 0.4 x 0.3 m
    inside, 0.15 m deep, on a table). Read once by Blender into a cache ($SIMGEN_CACHE, else
    ~/.cache/simgen/environments); its scripts never run."""
    bin: list[str] = setting(["bin*"], example="[bin*, collection:bin]")
    """The bin's parts: object name globs, collection:GLOB, material:GLOB or property:KEY (as
    scene=environment's scene.supports). Objects are dropped over the largest level area among them
    (the bin's floor), inside its walls."""
    min_floor_area: float = setting(0.02, gt=0.0)
    """m^2: the smallest level area of the bin's parts that is a floor (a wall's top rim is not)."""
    clearance: float = setting(0.005, ge=0.0)
    """m kept between a dropped object's bounding sphere and the bin's walls, seen from above."""
    object_scale: list[float] = span([0.4, 0.6], gt=0.0)
    """Size factor of every object (the bundled objects are 0.1-0.3 m across; the bundled bin's inside 0.4 x 0.3 m)."""
    camera_distance: list[float] = span([0.9, 1.3], ge=0.001)
    """Metres from the bin floor's centre to the camera."""
    camera_tilt: list[float] = span([0.0, 15.0], ge=0.0, lt=90.0)
    """Degrees between the camera's optical axis and straight down (its azimuth drawn in 0-360)."""
    look_at_jitter: float = setting(0.02, ge=0.0)
    """Metres (standard deviation) the camera's aim moves off the bin floor's centre."""
    physics: SettleConfig = dataclasses.field(default_factory=SettleConfig)
    """The drops and the simulation that settles them."""
    robot: Optional[str] = setting(None, example="bundled")
    """A robot standing in the cell: a URDF or MJCF file, or "bundled" (assets/robots/arm.urdf, a
    six-joint arm with a two-finger gripper, 0.96 m stretched up); null: none. Its joints are drawn
    within their limits for each scene (objects.joint_motion moves them through a sequence); it is
    a static collider of the simulation, and each of its links a part (output.labels=[parts])."""
    robot_at: list[float] = setting([0.42, 0.0, 0.0], example="[0.42, 0.0, 0.0]")
    """Where the robot's base stands: x, y, z in the file's world (m). The bundled bin stands centred
    on a table top at z = 0 that reaches 0.6 m along x."""
    robot_yaw: list[float] = span([150.0, 210.0])
    """Degrees the robot's base is turned about the vertical, drawn per scene (180: its x axis
    towards -x, to the bundled bin)."""
    robot_category: Optional[str] = setting(None, example="robot")
    """The catalog category the robot is labelled as (one COCO object); null: background (category
    0, an occluder whose pixels are known)."""


def file_of(sc: Config) -> str | Path:
    return BUNDLED_BIN if sc.file is None else sc.file


BUNDLED_ROBOT = ASSET_DIR / "robots" / "arm.urdf"
"""scene.robot=bundled: a six-joint arm with a two-finger gripper, built of boxes and cylinders."""


def robot_of(sc: Config) -> ArticulatedMesh | None:
    """scene.robot as a model (its file resolved; null: None)."""
    if sc.robot is None:
        return None
    path = BUNDLED_ROBOT if sc.robot == "bundled" else Path(sc.robot).expanduser().resolve()
    if path.suffix.lower() not in (*URDF_SUFFIXES, *MJCF_SUFFIXES) or not path.is_file():
        raise SimgenError(f"scene.robot={sc.robot}: give a URDF or MJCF file that exists ({path}), or bundled")
    return ArticulatedMesh(path)


def check(settings: Settings) -> None:
    check_file(file_of(settings.scene))
    sc = settings.scene
    robot = robot_of(sc)
    if robot is not None:
        load_mesh(robot)  # read once: a broken model is one line before the first frame
        if len(sc.robot_at) != 3:
            raise SimgenError(f"scene.robot_at={list(sc.robot_at)}: give x, y, z (m)")
    if not settings.scene.bin:
        raise SimgenError("scene.bin=[]: name the bin's parts (object name globs, collection:GLOB, material:GLOB, "
                          "property:KEY), e.g. scene.bin=[bin*]")


@dataclass(frozen=True)
class BinFloor:
    """The bin's floor as :func:`simgen.sampling.physics.drop_centres` drops onto it: its height
    (``floor``) and the points where a sphere lies inside the walls (``sample_xy``)."""

    surface: Surface
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

    def slab(self) -> np.ndarray:
        """The unit-cube pose of a solid :data:`SLAB` thick under the floor, as wide as the bin."""
        return box_pose((*self.centre[:2], self.floor - SLAB / 2), (*np.ptp(self.box, axis=0)[:2], SLAB))

    def fits(self, r: float) -> np.ndarray:
        """(rows, columns) of the floor's cells a sphere of radius ``r`` may be centred over."""
        return np.nonzero(self.surface.stands(r, 2 * r, self.clearance))

    def sample_xy(self, rng: np.random.Generator, r: float) -> np.ndarray:
        rows, cols = self.fits(r)
        k = int(rng.integers(len(rows)))
        return self.surface.xy(rows[k], cols[k])


@functools.lru_cache(maxsize=8)
def floor_of(env: Environment, selectors: tuple[str, ...], min_area: float) -> tuple[Surface, np.ndarray]:
    """The bin's floor (its parts' largest level area) and the bin's bounding box ((2, 3) lo, hi)."""
    parts = env.select(selectors)
    if not parts:
        raise env.names_nothing("scene.bin", selectors)
    names = [p.name for p in parts for _ in range(len(env.meshes[p.mesh.key].faces))]
    found = find_surfaces(env.triangles(parts), env.triangles(), min_area, names=names)
    if not found:
        raise SimgenError(f"scene.bin={list(selectors)}: no level area of at least scene.min_floor_area="
                          f"{min_area} m^2 in those parts of {env.file}; name the bin's floor among them")
    boxes = env.bounds[[k for k, p in enumerate(env.parts) if any(p is q for q in parts)]]
    return max(found, key=lambda s: s.area), np.array([boxes[:, 0].min(axis=0), boxes[:, 1].max(axis=0)])


def make_sequence(settings: Settings, catalog: Catalog, rng: np.random.Generator, length: int) -> list[Scene]:
    sc, o = settings.scene, settings.objects
    # 1. the world and the bin's floor
    env = load_environment(file_of(sc))
    floor = BinFloor(*floor_of(env, tuple(sc.bin), sc.min_floor_area), clearance=sc.clearance)

    # 2. the objects, their bounding spheres stacked over the floor (one wider than the bin left out)
    picks, shapes = pick_objects(o, catalog, integer(rng, o.count), rng)
    scales = [a.scale * uniform(rng, sc.object_scale) for a in picks]
    spheres = [bounding_sphere(load_mesh(a.path).vertices, s) for a, s in zip(picks, scales)]
    fit = [len(floor.fits(r)[0]) > 0 for _, r in spheres]
    dropped = [a.key for a, ok in zip(picks, fit) if not ok]
    picks, shapes, scales, spheres = ([x for x, ok in zip(xs, fit) if ok] for xs in (picks, shapes, scales, spheres))
    gaps = [uniform(rng, sc.physics.drop_gap) for _ in picks]
    centres = drop_centres([r for _, r in spheres], gaps, floor, rng)
    volumes = [box_volume(load_mesh(a.path).vertices, s) for a, s in zip(picks, scales)]
    objects, bodies, drawn = [], [], []
    for a, s, (c_mesh, r), p, gap, volume, shape in zip(picks, scales, spheres, centres, gaps, volumes, shapes):
        iid, rotation = len(objects) + 1, random_rotation(rng)
        objects.append(SceneObject(name=object_name(iid, a.key, a.path), mesh=a.path, instance_id=iid,
                                   mesh_to_world=drop_pose(c_mesh, s, rotation, p), category_id=a.category_id,
                                   material=sample_material(settings.materials, rng), asset_id=a.key))
        bodies.append(rigid_body(iid, volume, max(volumes), sc.physics, rng))
        drawn.append({"asset": a.key, "scale": s, "rotation": rotation.tolist(), "drop_center": p.tolist(),
                      "radius": r, "gap": gap, "mass": bodies[-1].mass, "friction": bodies[-1].friction,
                      "restitution": bodies[-1].restitution, **({"shape": shape} if shape else {})})

    # 3. the file's parts: background in their own look; in the simulation a solid under the bin's floor,
    #    the parts that are boxes as solid boxes, the others as static meshes
    first = len(objects) + 1
    objects += [SceneObject(name=f"env_{p.name}", mesh=p.mesh, mesh_to_world=p.matrix, instance_id=first + k,
                            category_id=0, material=FILE_LOOK, role="environment") for k, p in enumerate(env.parts)]
    lowest = float(env.bounds[:, 0, 2].min())
    boxes, static = world_colliders([(p.mesh, p.matrix, env.meshes[p.mesh.key]) for p in env.parts])
    robot, robot_params = stand_robot(settings, catalog, rng, len(objects) + 1)
    if robot is not None:  # it stands still: a static collider, as it is posed
        objects.append(robot)
        static.append((robot.mesh, robot.mesh_to_world))
    physics = settling(sc.physics, bodies, [floor.slab(), *boxes], static, floor=lowest - FALL)

    # 4. lights aimed at the bin; per step a camera on a shell above it (elevation = 90 - tilt)
    lights, world, light_params = sample_lights(settings.lighting, floor.centre, rng)
    above = SimpleNamespace(camera_distance=sc.camera_distance, camera_azimuth=[0.0, 360.0],
                            camera_elevation=[90.0 - sc.camera_tilt[1], 90.0 - sc.camera_tilt[0]],
                            look_at_jitter=sc.look_at_jitter)
    params = {"recipe": "bin_picking", "file": str(env.file), "placement": {"mode": "physics"},
              "bin": {"parts": list(floor.surface.parts), "floor_z": floor.floor, "floor_area": floor.surface.area,
                      "centre": floor.centre.tolist()},
              "objects": {"count_drawn": len(picks) + len(dropped), "dropped": dropped, "objects": drawn},
              **light_params, **robot_params}
    if len(drawn) < o.count[0]:
        params[SHORTFALL] = {"placed": len(drawn), "wanted": o.count[0], "message": (
            f"impossible placement: {len(dropped)} of the objects drawn are wider than the bin's floor in "
            f"{env.file}; lower scene.object_scale or name a larger bin (scene.bin)")}
    scenes = []
    for _ in range(length):
        draw = sample_shell(settings.camera, above, floor.centre, rng)
        camera = draw_camera(settings, draw)
        camera_params = {**draw, "tilt_deg": 90.0 - draw["elevation_deg"],
                         "eye": camera.camera_to_world[:3, 3].tolist()}
        scenes.append(Scene(objects=objects, lights=lights, camera=camera, world=world, physics=physics,
                            params={**params, "camera": camera_params}))
    return scenes


def stand_robot(settings: Settings, catalog: Catalog, rng: np.random.Generator, instance_id: int
                ) -> tuple[SceneObject | None, dict]:
    """scene.robot standing at scene.robot_at, turned by a drawn scene.robot_yaw, its joints drawn
    (:func:`simgen.sampling.objects.posed_model`), and its draws; (None, {}) without one (nothing drawn)."""
    sc = settings.scene
    model = robot_of(sc)
    if model is None:
        return None, {}
    category_id = 0
    if sc.robot_category is not None:
        ids = {c.name: c.id for c in catalog.categories}
        if sc.robot_category not in ids:
            raise SimgenError(f"scene.robot_category={sc.robot_category}: no such category in the catalog "
                              f"({', '.join(ids)}); add it to the catalog's categories or fix the name")
        category_id = ids[sc.robot_category]
    pose_ref = posed_model(model, rng)
    yaw = uniform(rng, sc.robot_yaw)
    pose = np.eye(4)
    c, s = np.cos(np.radians(yaw)), np.sin(np.radians(yaw))
    pose[:2, :2], pose[:3, 3] = [[c, -s], [s, c]], sc.robot_at
    key = pose_ref.key_of(f"robot/{model.file.stem}")
    robot = SceneObject(name=object_name(instance_id, key, pose_ref), mesh=pose_ref, mesh_to_world=pose,
                        instance_id=instance_id, category_id=category_id,
                        material=sample_material(settings.materials, rng), asset_id=key)
    return robot, {"robot": {"file": str(model.file), "at": list(sc.robot_at), "yaw_deg": yaw,
                             "joints": dict(pose_ref.joints)}}


RECIPE = Recipe(name="bin_picking", Config=Config, make_sequence=make_sequence, check=check)
