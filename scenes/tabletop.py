"""Tabletop: catalog objects standing on a ground plane, random materials, lights and a
camera on a shell around them.

Every randomized parameter is drawn from ``rng`` and recorded: object poses, scales and
materials in the scene objects, light parameters in the lights, the rest in
``Scene.params``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simgen import SimgenError
from simgen.assets import BUNDLED_BOX, Catalog, load_mesh
from simgen.config import Settings
from simgen.core.scene import MAX_INSTANCE_ID, Camera, Light, Physics, RigidBody, Scene, SceneObject
from simgen.core.transforms import plane_pose, rot_z
from simgen.recipes import Recipe
from simgen.sampling.camera import sample_shell, shell_camera
from simgen.sampling.lighting import sample_lights
from simgen.sampling.materials import sample_material
from simgen.sampling.objects import draw_distractors, object_name, pick_objects
from simgen.sampling.physics import Support, bounding_sphere, drop_centres, drop_pose, sample_support, slab_behind
from simgen.sampling.placement import footprint, impossible_placement, pack_disks, standing_pose
from simgen.sampling.random import choose, integer, pick, random_rotation, uniform
from simgen.schema import setting, span


BACKGROUNDS = ("ground", "walls", "room")
MAX_TRIES = 100_000
"""Most rejection-sampling tries per object (scene.max_tries)."""
STUFF_OBJECTS = 6
"""Objects of a scene besides the drawn ones: the ground and up to five walls and ceiling."""


@dataclass
class Config:
    """The tabletop scene: objects standing on a ground plane; in sequences the camera moves."""

    recipe: str = setting("tabletop")
    """Recipe module under scenes/ (scenes/<recipe>.py)."""
    area_radius: float = setting(0.45, gt=0.0)
    """Objects are placed with their footprint inside this radius (m) around the origin."""
    ground_size: float = setting(6.0, gt=0.0)
    """Edge of the square ground plane, metres."""
    clearance: float = setting(0.005, ge=0.0)
    """Minimum gap between object footprints, metres."""
    max_tries: int = setting(200, ge=1, le=MAX_TRIES)
    """Rejection-sampling tries per object before it is dropped (or, below
    objects.count[0], before the scene is redrawn)."""
    camera_orbit: list[float] = span([2.0, 8.0])
    """Sequences: degrees per step the camera circles the objects (random direction)."""
    camera_rise: list[float] = span([-1.0, 1.0])
    """Sequences: degrees per step added to the camera elevation."""
    camera_dolly: list[float] = span([-0.02, 0.02])
    """Sequences: metres per step added to the camera distance."""
    distractors: list[int] = span([0, 0], ge=0, le=MAX_INSTANCE_ID)
    """Number of distractors (catalog 'distractors:' meshes, category 0, not annotated),
    inclusive range, standing among the objects with the same footprint packing (objects are
    placed first). 0 keeps scenes as before; e.g. [2, 6] for clutter."""
    distractor_scale: list[float] = span([0.4, 0.8], gt=0.0)
    """Scale factor applied to each distractor mesh (the bundled ones are ~0.2-0.25 m)."""
    background: list[str] = setting(["ground"], choices=BACKGROUNDS)
    """Background kinds, one drawn per scene: ground (the plane alone), walls (ground and 2-3
    walls behind the objects) or room (ground, 4 walls and a ceiling around camera and lights)."""
    wall_distance: list[float] = span([1.5, 3.0], gt=0.0)
    """walls/room: distance (m) from the area centre to each wall, pushed further out where
    needed to keep the camera and the lights inside."""
    wall_height: list[float] = span([2.0, 3.0], ge=0.1)
    """walls/room: wall (and ceiling) height, m, raised where needed above camera and lights."""


def check(settings: Settings) -> None:
    """Cross-field rules of the tabletop scene (each field's own bounds are declared above)."""
    sc = settings.scene
    if sc.wall_distance[0] < sc.area_radius:
        raise SimgenError(f"scene.wall_distance={list(sc.wall_distance)} must start at scene.area_radius="
                          f"{sc.area_radius} or beyond (walls stand outside the objects' area); raise it")
    if settings.objects.count[1] + sc.distractors[1] + STUFF_OBJECTS > MAX_INSTANCE_ID:
        raise SimgenError(f"objects.count={list(settings.objects.count)} and scene.distractors="
                          f"{list(sc.distractors)} allow more than {MAX_INSTANCE_ID - STUFF_OBJECTS} objects "
                          f"(the limit is {MAX_INSTANCE_ID} with ground and walls); lower them")


PLACEMENT_ATTEMPTS = 20
"""Fresh draws of picks and scales before a scene counts as impossible to place."""


def sample_objects(settings: Settings, catalog: Catalog, rng: np.random.Generator) -> tuple[list[SceneObject], dict]:
    o, sc = settings.objects, settings.scene
    for _ in range(PLACEMENT_ATTEMPTS):
        n = integer(rng, o.count)
        picks, shapes = pick_objects(o, catalog, n, rng)
        scales = [a.scale * uniform(rng, o.scale) for a in picks]
        yaws = [float(rng.uniform(0.0, 2 * np.pi)) for _ in picks]
        fps = [footprint(load_mesh(a.path).vertices, s) for a, s in zip(picks, scales)]
        d_paths, d_scales = draw_distractors(catalog, sc.distractors, sc.distractor_scale, rng)
        n_d = len(d_paths)
        d_yaws = [float(rng.uniform(0.0, 2 * np.pi)) for _ in range(n_d)]
        d_fps = [footprint(load_mesh(p).vertices, s) for p, s in zip(d_paths, d_scales)]
        radii = [f.radius for f in fps]
        all_spots = pack_disks(radii + [f.radius for f in d_fps], sc.area_radius, sc.clearance, sc.max_tries,
                               rng, need=o.count[0], priority=[0] * len(fps) + [1] * n_d)
        spots, d_spots = all_spots[:len(fps)], all_spots[len(fps):]
        placed = [a.category for a, xy in zip(picks, spots) if xy is not None]
        if len(placed) >= o.count[0] and all(placed.count(c) >= k for c, k in o.min_per_frame.items()):
            break
    else:
        raise impossible_placement(o.count[0], radii, sc.area_radius, PLACEMENT_ATTEMPTS)
    objects, dropped = [], []
    for asset, s, yaw, fp, xy in zip(picks, scales, yaws, fps, spots):
        if xy is None:
            dropped.append(asset.key)
            continue
        iid = len(objects) + 1
        objects.append(SceneObject(name=object_name(iid, asset.key, asset.path), mesh_path=asset.path,
                                   mesh_to_world=standing_pose(fp, s, yaw, xy), instance_id=iid,
                                   category_id=asset.category_id, material=sample_material(settings.materials, rng),
                                   asset_id=asset.key))
    params = {"count_drawn": n, "dropped": dropped,
              "objects": [{"asset": a.key, "scale": s, "yaw": y, "xy": None if p is None else p.tolist(),
                           "height": f.height, **({"shape": d} if d else {})}
                          for a, s, y, f, p, d in zip(picks, scales, yaws, fps, spots, shapes)]}
    if n_d:
        for path, s, yaw, fp, xy in zip(d_paths, d_scales, d_yaws, d_fps, d_spots):
            if xy is not None:
                iid = len(objects) + 1
                objects.append(SceneObject(name=object_name(iid, "", path), mesh_path=path,
                                           mesh_to_world=standing_pose(fp, s, yaw, xy), instance_id=iid,
                                           category_id=0, material=sample_material(settings.materials, rng)))
        params["distractors"] = [{"mesh": Path(p).name, "scale": s, "yaw": y,
                                  "xy": None if xy is None else xy.tolist(), "height": f.height}
                                 for p, s, y, f, xy in zip(d_paths, d_scales, d_yaws, d_fps, d_spots)]
    return objects, params


def drop_objects(settings: Settings, catalog: Catalog, rng: np.random.Generator
                 ) -> tuple[list[SceneObject], dict, Support, list[RigidBody]]:
    """placement=physics: objects and distractors at their drop poses over a support drawn
    from placement.supports, and their rigid bodies (see simgen.sampling.physics)."""
    o, sc, pc = settings.objects, settings.scene, settings.placement
    kind = str(pick(rng, pc.supports))
    support = sample_support(kind, rng, sc.area_radius, pc.pile_radius, pc.table_size, pc.table_height,
                             pc.bin_size, pc.bin_height)
    n = integer(rng, o.count)
    picks, shapes = pick_objects(o, catalog, n, rng)
    meshes = [(a.path, a.scale * uniform(rng, o.scale), a.key, a.category_id) for a in picks]
    d_paths, d_scales = draw_distractors(catalog, sc.distractors, sc.distractor_scale, rng)
    n_d = len(d_paths)
    meshes += [(path, scale, "", 0) for path, scale in zip(d_paths, d_scales)]
    vertices = [load_mesh(path).vertices for path, _, _, _ in meshes]
    spheres = [bounding_sphere(v, scale) for v, (_, scale, _, _) in zip(vertices, meshes)]
    gaps = [uniform(rng, pc.drop_gap) for _ in meshes]
    centres = drop_centres([r for _, r in spheres], gaps, support, rng)
    volumes = [float(np.prod(np.ptp(v, axis=0) * scale)) for v, (_, scale, _, _) in zip(vertices, meshes)]
    heaviest = DENSITY * max(volumes, default=0.0)
    objects, bodies, drawn = [], [], []
    shapes += [None] * n_d
    for (path, scale, key, category), (c_mesh, r), p, volume, shape in zip(meshes, spheres, centres, volumes, shapes):
        rotation = random_rotation(rng)
        iid = len(objects) + 1
        objects.append(SceneObject(name=object_name(iid, key, path), mesh_path=path, mesh_to_world=drop_pose(c_mesh, scale, rotation, p),
                                   instance_id=iid, category_id=category, material=sample_material(settings.materials, rng),
                                   asset_id=key))
        body = RigidBody(instance_id=iid, mass=max(DENSITY * volume, heaviest / MASS_RATIO),
                         friction=uniform(rng, pc.friction), restitution=uniform(rng, pc.restitution))
        bodies.append(body)
        drawn.append({"asset": key, "mesh": Path(path).name, "scale": scale, "drop_center": p.tolist(),
                      "drop_rotation": rotation.tolist(), "radius": r, "mass": body.mass,
                      "friction": body.friction, "restitution": body.restitution, **({"shape": shape} if shape else {})})
    return objects, {"count_drawn": n, "distractors_drawn": n_d, "objects": drawn}, support, bodies


def simulation(settings: Settings, bodies: list[RigidBody], support: Support, ground: SceneObject,
               background: list[SceneObject]) -> Physics:
    """The simulation of ``bodies``: they collide with solid slabs behind the ground and any
    walls (a plane alone lets thin objects through) and with the support's boxes."""
    pc = settings.placement
    walls = [o.mesh_to_world for o in background if o.name.startswith("wall")]
    colliders = (slab_behind(ground.mesh_to_world, SLAB), *(pose for _, pose in support.boxes),
                 *(slab_behind(w, SLAB) for w in walls))
    return Physics(bodies=tuple(bodies), colliders=colliders, max_seconds=pc.max_seconds, rest_speed=pc.rest_speed,
                   substeps=pc.substeps, margin=pc.margin)


SLAB = 1.0
"""Thickness (m) of the colliders behind the ground and the walls."""
DENSITY = 300.0
"""kg/m^3 over an object's bounding box: only mass ratios matter when objects stack."""
MASS_RATIO = 10.0
"""No body is lighter than the heaviest / this: Bullet lets a crate push a 25 g washer
through a bin's floor (mass ratio 270) but not a 10:1 one."""


def camera_path(settings: Settings, draw: dict, rng: np.random.Generator, length: int) -> tuple[list[Camera], dict]:
    """The camera at every step: it circles the target, rises and dollies at constant rates."""
    sc = settings.scene
    motion = {"orbit_deg": uniform(rng, sc.camera_orbit) * float(rng.choice([-1.0, 1.0])),
              "rise_deg": uniform(rng, sc.camera_rise), "dolly": uniform(rng, sc.camera_dolly)}
    cameras = []
    for k in range(length):
        el = float(np.clip(draw["elevation_deg"] + k * motion["rise_deg"], -89.0, 89.0))
        dist = max(draw["distance"] + k * motion["dolly"], 10 * settings.camera.clip_start)
        cameras.append(shell_camera(settings.camera, settings.render, np.array(draw["target"]), dist, el,
                                    draw["azimuth_deg"] + k * motion["orbit_deg"], draw["focal_length_mm"],
                                    tuple(draw.get("principal_point_offset_px", (0.0, 0.0))),
                                    draw.get("exposure_stops", 0.0), draw.get("fstop", 0.0)))
    return cameras, motion


WALL_MARGIN = 0.15
"""Metres kept between a wall (or the ceiling) and the camera or a light inside it."""


def sample_background(settings: Settings, catalog: Catalog, rng: np.random.Generator, ground: SceneObject,
                      inside: list[np.ndarray], lights: list[Light], first_id: int) -> tuple[list[SceneObject], dict]:
    """Walls (and a ceiling) around the placement area, from scene.background. Draws nothing
    when the only kind is "ground". Walls are pushed out (and raised) until every point of
    ``inside`` (the camera positions first, then e.g. a table's corners) and every light lies
    inside, ``WALL_MARGIN`` (plus the light's size) from them."""
    sc = settings.scene
    bg = sc.background
    kind = str(choose(rng, bg))
    if kind == "ground":
        return [], {"background": {"kind": "ground"}}
    points = [(np.asarray(e, float), WALL_MARGIN) for e in inside]
    points += [(np.asarray(li.light_to_world[:3, 3], float), WALL_MARGIN + max(li.size, 0.0))
               for li in lights if li.kind != "sun"]
    if kind == "walls":  # behind the objects as seen from the first camera, around a corner
        back = float(np.degrees(np.arctan2(-inside[0][1], -inside[0][0]))) + float(rng.uniform(-30.0, 30.0))
        n_walls = integer(rng, [2, 3])
        turns = [0, 1, -1] if n_walls == 3 else [0, int(rng.choice([-1, 1]))]
    else:
        back = float(rng.uniform(0.0, 360.0))
        turns = [0, 1, 2, 3]
    z = np.array([0.0, 0.0, 1.0])
    normals = [np.array([np.cos(np.radians(back + 90 * t)), np.sin(np.radians(back + 90 * t)), 0.0])
               for t in turns]  # outward
    drawn_d = [uniform(rng, sc.wall_distance) for _ in normals]
    dists = [max(d, sc.area_radius + WALL_MARGIN, *(p @ n + m for p, m in points)) for d, n in zip(drawn_d, normals)]
    drawn_h = uniform(rng, sc.wall_height)
    height = max(drawn_h, *(p[2] + m for p, m in points))
    span = 2.0 * max(dists) + 0.2  # walls overlap at the corners, outside the room
    objects = []
    for d, n in zip(dists, normals):  # x along the wall, y up: the normal u x v = -n faces the centre
        u = np.cross(n, z)
        objects.append(plane_pose(d * n + (height / 2.0) * z, u, z, span, height + 0.1))
    if kind == "room":  # the ground square turned over: normal -Z
        u0 = np.array([np.cos(np.radians(back)), np.sin(np.radians(back)), 0.0])
        objects.append(plane_pose(height * z, u0, np.cross(-z, u0), span, span))
    # the ground turned with the walls and grown to reach under them
    g = max(settings.scene.ground_size, span)
    yaw = np.radians(back)
    ground.mesh_to_world = np.diag([g, g, g, 1.0])
    ground.mesh_to_world[:3, :3] = rot_z(yaw) * g
    names = [f"wall{k}" for k in range(len(dists))] + (["ceiling"] if kind == "room" else [])
    # a room is closed: the sun and the world light shine through its walls, or it would be dark
    out = [SceneObject(name=name, mesh_path=catalog.ground, mesh_to_world=pose, instance_id=first_id + k,
                       category_id=0, material=sample_material(settings.materials, rng), casts_shadow=kind != "room")
           for k, (name, pose) in enumerate(zip(names, objects))]
    params = {"kind": kind, "yaw_deg": back, "wall_distance_drawn": drawn_d, "wall_distance": dists,
              "wall_height_drawn": drawn_h, "wall_height": height, "ground_size": g,
              "casts_shadow": kind != "room"}
    return out, {"background": params}


def make_sequence(settings: Settings, catalog: Catalog, rng: np.random.Generator, length: int) -> list[Scene]:
    """``length`` steps of one tabletop scene: the objects rest, the camera moves.

    placement=physics: the objects are at their drop poses and the scenes carry the
    simulation that settles them (the pipeline runs it once per sequence)."""
    support = None
    if settings.placement.mode == "physics":
        objects, obj_params, support, bodies = drop_objects(settings, catalog, rng)
    else:
        objects, obj_params = sample_objects(settings, catalog, rng)
    g = settings.scene.ground_size
    objects.append(SceneObject(name="ground", mesh_path=catalog.ground, mesh_to_world=np.diag([g, g, g, 1.0]),
                               instance_id=len(objects) + 1, category_id=0,
                               material=sample_material(settings.materials, rng)))
    ground = objects[-1]
    center = np.zeros(3)
    if support is not None:  # the camera and the lights aim just above the drop region
        material = sample_material(settings.materials, rng)  # one material for every part of a table or bin
        objects += [SceneObject(name=name, mesh_path=BUNDLED_BOX, mesh_to_world=pose, instance_id=len(objects) + 1 + k,
                                category_id=0, material=material) for k, (name, pose) in enumerate(support.boxes)]
        center[2] = support.floor + float(np.mean([p["radius"] for p in obj_params["objects"]] or [0.0]))
    else:
        placed = [p for p in obj_params["objects"] if p["xy"] is not None]
        if placed:  # the camera and the lights aim at the middle of the objects
            center[:2] = np.mean([p["xy"] for p in placed], axis=0)
            center[2] = np.mean([p["height"] for p in placed]) / 2.0
    cam_draw = sample_shell(settings.camera, center, rng)
    lights, world, light_params = sample_lights(settings.lighting, center, rng)
    cameras, motion = camera_path(settings, cam_draw, rng, length)
    eyes = [-cam.world_to_camera[:3, :3].T @ cam.world_to_camera[:3, 3] for cam in cameras]
    inside = eyes + (support.corners() if support is not None else [])
    bg_objects, bg_params = sample_background(settings, catalog, rng, ground, inside, lights,
                                              first_id=len(objects) + 1)
    objects = objects + bg_objects
    params = {"recipe": "tabletop", "objects": obj_params, "camera": cam_draw, **light_params, **bg_params}
    physics = None
    if support is not None:
        physics = simulation(settings, bodies, support, ground, bg_objects)
        params["placement"] = {"mode": "physics", "support": support.params}
    if length > 1:
        params["camera_motion"] = motion
    return [Scene(objects=objects, lights=lights, camera=cam, world=world, physics=physics,
                  params={**params, "camera": {**cam_draw, "eye": eye.tolist(),
                                               **({"focus_distance": cam.focus_distance} if cam.fstop else {})}})
            for cam, eye in zip(cameras, eyes)]


RECIPE = Recipe(name="tabletop", Config=Config, make_sequence=make_sequence, check=check)
