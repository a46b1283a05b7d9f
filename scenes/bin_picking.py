"""Bin picking: a bin from a file, the catalog's objects dropped into it and settled by Bullet, a
camera looking down into it; written on the scene builder (:class:`simgen.recipes.SceneBuilder`).

``scene=bin_picking`` (``scene.file``: your own cell; the default is the bundled bin on a table,
assets/environments/bin.glb from scripts/make_bin.py). Each frame, read top to bottom:

1. the world: the file's parts (``SceneBuilder.load_world``), the bin among them (``scene.bin``)
   and its floor, the largest level area of the bin's parts (:func:`simgen.recipes.bin_floor`);
2. the objects (objects.count of the catalog's, at scene.object_scale) in random orientations, their
   bounding spheres stacked in a column over the floor, each inside the walls seen from above
   (``SceneBuilder.drop``); an object wider than the bin is left out;
3. the simulation that settles them (the pipeline runs it once per sequence): the file's parts that
   are boxes collide as solid boxes, the others as their triangles, and a solid slab lies under the
   bin's floor, so that no thin object is pressed through;
4. a robot beside the bin when scene.robot names one (``SceneBuilder.stand``), a static collider;
   and, only when objects.people asks for people, a floor for them to stand on (:func:`add_floor`:
   :data:`WORK_HEIGHT` below the bin's floor; simgen.sampling.people stands them at the cell);
5. lights aimed at the bin (the lighting group) and, per step, a camera above it: at
   scene.camera_distance from the floor's centre, its optical axis scene.camera_tilt degrees off
   straight down at a random azimuth (``SceneBuilder.camera_around``).

Every draw is recorded in the scene's params. The file's parts are background (category 0), each
with an instance id of its own after the objects'. The tutorial docs/tutorials/own-recipe.md
writes a shorter version on the same builder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import numpy as np

from simgen.assets import Catalog, load_mesh
from simgen.assets.environment import check_file
from simgen.config import Settings
from simgen.scene.meshes import MJCF_SUFFIXES, URDF_SUFFIXES
from simgen.recipes import (ASSET_DIR, ArticulatedMesh, Material, Recipe, Scene, SceneBuilder, SceneObject,
                            SettleConfig, SimgenError, bin_floor, setting, span)

BUNDLED_BIN = ASSET_DIR / "environments" / "bin.glb"
"""scene.file's default: made by scripts/make_bin.py."""


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


WORK_HEIGHT = 0.85
"""m: how far the bin's floor is above the floor the cell's workers stand on (a workbench's height)."""
FLOOR_SIZE = 8.0
"""m: the edge of that floor, a square centred under the bin."""
FLOOR_LOOK = Material(base_color=(0.3, 0.3, 0.3), roughness=0.8, metallic=0.0)
"""The floor's look: a plain grey (no draw, so the people's scenes draw nothing more than without them)."""


def add_floor(build: SceneBuilder, catalog: Catalog, env, floor) -> dict:
    """A floor for people at the cell (objects.people): the catalog's ground plane, :data:`FLOOR_SIZE` m
    square under the bin, its top :data:`WORK_HEIGHT` below the bin's floor, or at the file's lowest point
    where that is lower (a table's legs stand on it). Added last (its instance id after every other) and
    drawing nothing, so the rest of the scene is as without people. Returns its record."""
    z = min(float(floor.floor) - WORK_HEIGHT, float(env.bounds[:, 0, 2].min()))
    (x, y), g = floor.centre[:2], FLOOR_SIZE
    pose = np.array([[g, 0.0, 0.0, x], [0.0, g, 0.0, y], [0.0, 0.0, g, z], [0.0, 0.0, 0.0, 1.0]])
    build.add(SceneObject(name="floor", mesh=catalog.ground, mesh_to_world=pose, instance_id=0, category_id=0,
                          material=FLOOR_LOOK, role="ground"))
    return {"z": z, "size": g}


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


def make_sequence(settings: Settings, catalog: Catalog, rng: np.random.Generator, length: int) -> list[Scene]:
    sc = settings.scene
    build = SceneBuilder(settings, catalog, rng)
    # 1. the world and the bin's floor
    env = build.load_world(file_of(sc))
    floor = bin_floor(env, sc.bin, sc.min_floor_area, sc.clearance)
    # 2. the objects, their bounding spheres stacked over the floor (one wider than the bin left out)
    build.drop(build.pick_objects(scale=sc.object_scale), into=floor)
    # 3. the robot: it stands still, a static collider as it is posed
    robot = robot_of(sc)
    if robot is not None:
        category = None if sc.robot_category is None else build.category_id(sc.robot_category, "scene.robot_category")
        build.stand(robot, at=sc.robot_at, yaw=sc.robot_yaw, category=category)
    build.params["bin"] = {"parts": list(floor.surface.parts), "floor_z": floor.floor,
                           "floor_area": floor.surface.area, "centre": floor.centre.tolist()}
    if settings.objects.people[1] > 0:  # people stand at the cell (simgen.sampling.people): a floor for them
        build.params["cell_floor"] = add_floor(build, catalog, env, floor)
    # 4. lights aimed at the bin; per step a camera on a shell above it (elevation = 90 - tilt)
    build.light(floor.centre)
    above = SimpleNamespace(camera_distance=sc.camera_distance, camera_azimuth=[0.0, 360.0],
                            camera_elevation=[90.0 - sc.camera_tilt[1], 90.0 - sc.camera_tilt[0]],
                            look_at_jitter=sc.look_at_jitter)

    def view():
        camera, drawn = build.camera_around(floor.centre, above)
        return camera, {**drawn, "tilt_deg": 90.0 - drawn["elevation_deg"]}

    return build.scenes(length, view)


RECIPE = Recipe(name="bin_picking", Config=Config, make_sequence=make_sequence, check=check)
