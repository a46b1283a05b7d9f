"""Tabletop: catalog objects standing on a ground plane, random materials, lights and a
camera on a shell around them.

Every randomized parameter is drawn from ``rng`` and recorded: object poses, scales and
materials in the scene objects, light parameters in the lights, the rest in
``Scene.params``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simgen import SimgenError
from simgen.assets import BUNDLED_BOX, Catalog, load_mesh
from simgen.config import Settings, hdri_files, texture_images
from simgen.core.camera import BLENDER_TO_OPENCV, intrinsics, look_at
from simgen.core.scene import (GRADIENT_TYPES, Camera, Light, Material, Physics, RigidBody, Scene, SceneObject,
                               Texture, World)
from simgen.sampling.classes import pick_assets
from simgen.sampling.physics import (Support, bounding_sphere, drop_centres, drop_pose, random_rotation,
                                     sample_support, slab_behind)
from simgen.sampling.placement import footprint, impossible_placement, pack_disks, rot_z, standing_pose
from simgen.sampling.random import blackbody_rgb, direction, hsv_color, integer, uniform


@dataclass
class Config:
    """The tabletop scene: objects standing on a ground plane; in sequences the camera moves."""

    recipe: str = "tabletop"
    """Recipe module under scenes/ (scenes/<recipe>.py)."""
    area_radius: float = 0.45
    """Objects are placed with their footprint inside this radius (m) around the origin."""
    ground_size: float = 6.0
    """Edge of the square ground plane, metres."""
    clearance: float = 0.005
    """Minimum gap between object footprints, metres."""
    max_tries: int = 200
    """Rejection-sampling tries per object before it is dropped (or, below
    objects.count[0], before the scene is redrawn)."""
    camera_orbit: list[float] = field(default_factory=lambda: [2.0, 8.0])
    """Sequences: degrees per step the camera circles the objects (random direction)."""
    camera_rise: list[float] = field(default_factory=lambda: [-1.0, 1.0])
    """Sequences: degrees per step added to the camera elevation."""
    camera_dolly: list[float] = field(default_factory=lambda: [-0.02, 0.02])
    """Sequences: metres per step added to the camera distance."""
    distractors: list[int] = field(default_factory=lambda: [0, 0])
    """Number of distractors (catalog 'distractors:' meshes, category 0, not annotated),
    inclusive range, standing among the objects with the same footprint packing (objects are
    placed first). 0 keeps scenes as before; e.g. [2, 6] for clutter."""
    distractor_scale: list[float] = field(default_factory=lambda: [0.4, 0.8])
    """Scale factor applied to each distractor mesh (the bundled ones are ~0.2-0.25 m)."""
    background: list[str] = field(default_factory=lambda: ["ground"])
    """Background kinds, one drawn per scene: ground (the plane alone), walls (ground and 2-3
    walls behind the objects) or room (ground, 4 walls and a ceiling around camera and lights)."""
    wall_distance: list[float] = field(default_factory=lambda: [1.5, 3.0])
    """walls/room: distance (m) from the area centre to each wall, pushed further out where
    needed to keep the camera and the lights inside."""
    wall_height: list[float] = field(default_factory=lambda: [2.0, 3.0])
    """walls/room: wall (and ceiling) height, m, raised where needed above camera and lights."""


def check(settings: Settings) -> None:
    sc = settings.scene
    if sc.area_radius <= 0 or sc.ground_size <= 0 or sc.max_tries < 1 or sc.clearance < 0:
        raise SimgenError("scene.area_radius and scene.ground_size must be > 0, scene.max_tries >= 1, "
                          "scene.clearance >= 0")
    for name in ("camera_orbit", "camera_rise", "camera_dolly"):
        r = getattr(sc, name)
        if len(r) != 2 or r[0] > r[1]:
            raise SimgenError(f"scene.{name} must be a range [low, high] with low <= high (got {list(r)})")
    for name, lo in (("distractors", 0), ("distractor_scale", 1e-6), ("wall_distance", sc.area_radius),
                     ("wall_height", 0.1)):
        r = getattr(sc, name)
        if len(r) != 2 or r[0] > r[1] or r[0] < lo:
            raise SimgenError(f"scene.{name} must be a range [low, high] with {lo} <= low <= high (got {list(r)})")
    bad = sorted(set(sc.background) - set(BACKGROUNDS))
    if bad or not sc.background:
        raise SimgenError(f"scene.background has unknown or no kinds {bad}; use any of {', '.join(BACKGROUNDS)}")
    if settings.objects.count[1] + sc.distractors[1] + 6 > 65535:
        raise SimgenError("objects.count and scene.distractors allow more than 65529 objects; lower them")


BACKGROUNDS = ("ground", "walls", "room")


def chance(rng: np.random.Generator, probability: float) -> bool:
    """True with ``probability``; draws nothing when it is 0, so that a feature switched
    off leaves every later draw (and so every frame) exactly as without the feature."""
    return probability > 0 and bool(rng.uniform() < probability)


def draw_texture(settings: Settings, rng: np.random.Generator, kinds: list[str], scale: list[float],
                 distortion: list[float], detail: list[float], scale_factor: float = 1.0) -> Texture:
    """A procedural texture of one of ``kinds``; its second colour is drawn like the base colour."""
    m = settings.materials
    kind = str(kinds[int(rng.integers(len(kinds)))])
    color2 = hsv_color(rng, m.hue, m.saturation, m.value)["linear_rgb"]
    scale_drawn, distortion_drawn, detail_drawn = uniform(rng, scale), uniform(rng, distortion), uniform(rng, detail)
    variant = GRADIENT_TYPES[int(rng.integers(len(GRADIENT_TYPES)))] if kind == "gradient" else None
    image = None
    if kind == "image":
        images = texture_images(m.image_dir)
        image = str(images[int(rng.integers(len(images)))])
    return Texture(kind=kind, color2=tuple(color2), scale=scale_drawn * scale_factor, distortion=distortion_drawn,
                   detail=detail_drawn, variant=variant, image=image)


def sample_texture(settings: Settings, rng: np.random.Generator) -> Texture:
    """A procedural texture as the materials group configures it."""
    m = settings.materials
    return draw_texture(settings, rng, m.textures, m.texture_scale, m.texture_distortion, m.texture_detail)


def sample_material(settings: Settings, rng: np.random.Generator, texture: bool = True) -> Material:
    """A Principled material from the materials group. ``texture=False``: never textured
    (for recipes that texture objects by their own settings); nothing is drawn for it."""
    m = settings.materials
    color = hsv_color(rng, m.hue, m.saturation, m.value)
    metallic = uniform(rng, m.metallic) if rng.uniform() < m.metallic_probability else 0.0
    roughness = uniform(rng, m.roughness)
    specular = uniform(rng, m.specular)
    transmission = uniform(rng, m.transmission) if chance(rng, m.transmission_probability) else 0.0
    tex = sample_texture(settings, rng) if texture and chance(rng, m.texture_probability) else None
    return Material(base_color=tuple(color["linear_rgb"]), roughness=roughness, metallic=metallic,
                    specular=specular, transmission=transmission, texture=tex)


PLACEMENT_ATTEMPTS = 20
"""Fresh draws of picks and scales before a scene counts as impossible to place."""


def draw_distractors(settings: Settings, catalog: Catalog, rng: np.random.Generator) -> tuple[list[Path], list[float]]:
    """Distractor meshes and scales from scene.distractors; nothing is drawn when there are
    none, so default scenes stay as they were."""
    sc = settings.scene
    n_d = integer(rng, sc.distractors) if catalog.distractors and sc.distractors[1] > 0 else 0
    paths = [catalog.distractors[int(rng.integers(len(catalog.distractors)))] for _ in range(n_d)]
    return paths, [uniform(rng, sc.distractor_scale) for _ in range(n_d)]


def object_name(instance_id: int, asset_key: str, path: Path) -> str:
    """obj007_mug_mug for a catalog asset, distractor007_knot for a distractor (no key)."""
    if asset_key:
        return f"obj{instance_id:03d}_{asset_key.replace('/', '_')}"
    return f"distractor{instance_id:03d}_{Path(path).stem}"


def sample_objects(settings: Settings, catalog: Catalog, rng: np.random.Generator) -> tuple[list[SceneObject], dict]:
    o, sc = settings.objects, settings.scene
    for _ in range(PLACEMENT_ATTEMPTS):
        n = integer(rng, o.count)
        picks = pick_assets(catalog, n, rng, o.weights, o.min_per_frame, o.max_per_frame)
        scales = [a.scale * uniform(rng, o.scale) for a in picks]
        yaws = [float(rng.uniform(0.0, 2 * np.pi)) for _ in picks]
        fps = [footprint(load_mesh(a.path).vertices, s) for a, s in zip(picks, scales)]
        d_paths, d_scales = draw_distractors(settings, catalog, rng)
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
                                   category_id=asset.category_id, material=sample_material(settings, rng),
                                   asset_id=asset.key))
    params = {"count_drawn": n, "dropped": dropped,
              "objects": [{"asset": a.key, "scale": s, "yaw": y, "xy": None if p is None else p.tolist(),
                           "height": f.height} for a, s, y, f, p in zip(picks, scales, yaws, fps, spots)]}
    if n_d:
        for path, s, yaw, fp, xy in zip(d_paths, d_scales, d_yaws, d_fps, d_spots):
            if xy is not None:
                iid = len(objects) + 1
                objects.append(SceneObject(name=object_name(iid, "", path), mesh_path=path,
                                           mesh_to_world=standing_pose(fp, s, yaw, xy), instance_id=iid,
                                           category_id=0, material=sample_material(settings, rng)))
        params["distractors"] = [{"mesh": Path(p).name, "scale": s, "yaw": y,
                                  "xy": None if xy is None else xy.tolist(), "height": f.height}
                                 for p, s, y, f, xy in zip(d_paths, d_scales, d_yaws, d_fps, d_spots)]
    return objects, params


def drop_objects(settings: Settings, catalog: Catalog, rng: np.random.Generator
                 ) -> tuple[list[SceneObject], dict, Support, list[RigidBody]]:
    """placement=physics: objects and distractors at their drop poses over a support drawn
    from placement.supports, and their rigid bodies (see simgen.sampling.physics)."""
    o, sc, pc = settings.objects, settings.scene, settings.placement
    kind = str(pc.supports[int(rng.integers(len(pc.supports)))])
    support = sample_support(kind, rng, sc.area_radius, pc.pile_radius, pc.table_size, pc.table_height,
                             pc.bin_size, pc.bin_height)
    n = integer(rng, o.count)
    picks = pick_assets(catalog, n, rng, o.weights, o.min_per_frame, o.max_per_frame)
    meshes = [(a.path, a.scale * uniform(rng, o.scale), a.key, a.category_id) for a in picks]
    d_paths, d_scales = draw_distractors(settings, catalog, rng)
    n_d = len(d_paths)
    meshes += [(path, scale, "", 0) for path, scale in zip(d_paths, d_scales)]
    vertices = [load_mesh(path).vertices for path, _, _, _ in meshes]
    spheres = [bounding_sphere(v, scale) for v, (_, scale, _, _) in zip(vertices, meshes)]
    gaps = [uniform(rng, pc.drop_gap) for _ in meshes]
    centres = drop_centres([r for _, r in spheres], gaps, support, rng)
    volumes = [float(np.prod(np.ptp(v, axis=0) * scale)) for v, (_, scale, _, _) in zip(vertices, meshes)]
    heaviest = DENSITY * max(volumes, default=0.0)
    objects, bodies, drawn = [], [], []
    for (path, scale, key, category), (c_mesh, r), p, volume in zip(meshes, spheres, centres, volumes):
        rotation = random_rotation(rng)
        iid = len(objects) + 1
        objects.append(SceneObject(name=object_name(iid, key, path), mesh_path=path, mesh_to_world=drop_pose(c_mesh, scale, rotation, p),
                                   instance_id=iid, category_id=category, material=sample_material(settings, rng),
                                   asset_id=key))
        body = RigidBody(instance_id=iid, mass=max(DENSITY * volume, heaviest / MASS_RATIO),
                         friction=uniform(rng, pc.friction), restitution=uniform(rng, pc.restitution))
        bodies.append(body)
        drawn.append({"asset": key, "mesh": Path(path).name, "scale": scale, "drop_center": p.tolist(),
                      "drop_rotation": rotation.tolist(), "radius": r, "mass": body.mass,
                      "friction": body.friction, "restitution": body.restitution})
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


def shell_camera(settings: Settings, target: np.ndarray, dist: float, el: float, az: float, focal: float,
                 principal_point: tuple[float, float] = (0.0, 0.0), exposure: float = 0.0,
                 fstop: float = 0.0) -> Camera:
    """The camera at ``dist``/``el``/``az`` around ``target``; ``principal_point`` is the
    (cx, cy) offset in pixels from the image centre, made by Blender's lens shift; with
    ``fstop`` > 0, depth of field focused on ``target``."""
    c, r = settings.camera, settings.render
    eye = target + dist * direction(az, el)
    K = intrinsics(focal, c.sensor_width, r.width, r.height,
                   shift_x=-principal_point[0] / r.width, shift_y=principal_point[1] / r.width)
    return Camera(width=r.width, height=r.height, K=K, world_to_camera=look_at(eye, target),
                  clip_start=c.clip_start, clip_end=c.clip_end, exposure=exposure, sensor_width=c.sensor_width,
                  fstop=fstop, focus_distance=dist if fstop > 0 else 0.0)


def sample_camera(settings: Settings, center: np.ndarray, rng: np.random.Generator) -> dict:
    """Draw the camera on its shell; returns the draws (see :func:`shell_camera`)."""
    c = settings.camera
    target = center + rng.normal(0.0, c.look_at_jitter, size=3) if c.look_at_jitter > 0 else center.copy()
    draw = {"distance": uniform(rng, c.distance), "elevation_deg": uniform(rng, c.elevation),
            "azimuth_deg": uniform(rng, c.azimuth), "focal_length_mm": uniform(rng, c.focal_length),
            "sensor_width_mm": c.sensor_width, "target": target.tolist()}
    # nothing is drawn for switched-off features, so default scenes stay as they were
    pp = rng.normal(0.0, c.principal_point_jitter, size=2) if c.principal_point_jitter > 0 else np.zeros(2)
    draw["principal_point_offset_px"] = pp.tolist()
    draw["exposure_stops"] = uniform(rng, c.exposure)
    if chance(rng, c.dof_probability):
        draw["fstop"] = uniform(rng, c.fstop)
    return draw


def camera_path(settings: Settings, draw: dict, rng: np.random.Generator, length: int) -> tuple[list[Camera], dict]:
    """The camera at every step: it circles the target, rises and dollies at constant rates."""
    sc = settings.scene
    motion = {"orbit_deg": uniform(rng, sc.camera_orbit) * float(rng.choice([-1.0, 1.0])),
              "rise_deg": uniform(rng, sc.camera_rise), "dolly": uniform(rng, sc.camera_dolly)}
    cameras = []
    for k in range(length):
        el = float(np.clip(draw["elevation_deg"] + k * motion["rise_deg"], -89.0, 89.0))
        dist = max(draw["distance"] + k * motion["dolly"], 10 * settings.camera.clip_start)
        cameras.append(shell_camera(settings, np.array(draw["target"]), dist, el,
                                    draw["azimuth_deg"] + k * motion["orbit_deg"], draw["focal_length_mm"],
                                    tuple(draw.get("principal_point_offset_px", (0.0, 0.0))),
                                    draw.get("exposure_stops", 0.0), draw.get("fstop", 0.0)))
    return cameras, motion


def sample_lights(settings: Settings, center: np.ndarray, rng: np.random.Generator) -> tuple[list[Light], World, dict]:
    li = settings.lighting
    lights, drawn = [], []
    for _ in range(integer(rng, li.count)):
        kind = str(li.types[int(rng.integers(len(li.types)))])
        az, el = float(rng.uniform(0.0, 360.0)), uniform(rng, li.elevation)
        dist = uniform(rng, li.distance)
        pos = center + dist * direction(az, el)
        pose = np.linalg.inv(look_at(pos, center)) @ BLENDER_TO_OPENCV  # local -Z towards the centre
        power = uniform(rng, {"point": li.point_power, "spot": li.spot_power, "area": li.area_power,
                              "sun": li.sun_strength}[kind])
        if chance(rng, li.temperature_probability):
            kelvin = uniform(rng, li.temperature)
            rgb, how = blackbody_rgb(kelvin), {"color_source": "temperature", "temperature_k": kelvin}
        else:
            color = hsv_color(rng, [0.0, 1.0], li.saturation, [1.0, 1.0])
            rgb, how = tuple(color["linear_rgb"]), {"color_source": "hsv", "hsv": color["hsv"]}
        size = uniform(rng, li.size)
        light = Light(kind=kind, light_to_world=pose, power=power, color=tuple(rgb),
                      size=size / 5.0 if kind == "sun" else size,
                      spot_angle=float(rng.uniform(0.4, 1.2)))
        lights.append(light)
        drawn.append({"kind": kind, "azimuth_deg": az, "elevation_deg": el, "distance": dist, **how})
    world = sample_world(settings, rng)
    return lights, world, {"lights": drawn, "world_strength": world.strength, "world": world.to_dict()}


def sample_world(settings: Settings, rng: np.random.Generator) -> World:
    """The world light: a kind drawn from lighting.world (no draw when there is one kind, so a
    uniform-only config draws exactly what it always did), then that kind's parameters."""
    li = settings.lighting
    kind = str(li.world[0] if len(li.world) == 1 else li.world[int(rng.integers(len(li.world)))])
    if kind == "sky":
        el, az = uniform(rng, li.sun_elevation), uniform(rng, li.sun_azimuth)
        return World(kind="sky", strength=uniform(rng, li.sky_strength),
                     sun_elevation=float(np.radians(el)), sun_azimuth=float(np.radians(az)))
    if kind == "hdri":
        files = hdri_files(li.hdri_dir)
        path = files[int(rng.integers(len(files)))] if len(files) > 1 else files[0]
        return World(kind="hdri", strength=uniform(rng, li.hdri_strength), hdri_path=path,
                     rotation=float(np.radians(uniform(rng, li.hdri_rotation))))
    return World(color=(0.5, 0.5, 0.5), strength=uniform(rng, li.world_strength))


WALL_MARGIN = 0.15
"""Metres kept between a wall (or the ceiling) and the camera or a light inside it."""


def plane_pose(center: np.ndarray, u: np.ndarray, v: np.ndarray, width: float, height: float) -> np.ndarray:
    """mesh_to_world putting the 1x1 ground square (XY, normal +Z) at ``center``, its x along
    ``u`` (width) and y along ``v`` (height); its normal is u x v."""
    m = np.eye(4)
    n = np.cross(u, v)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = width * u, height * v, n, center
    return m


def sample_background(settings: Settings, catalog: Catalog, rng: np.random.Generator, ground: SceneObject,
                      inside: list[np.ndarray], lights: list[Light], first_id: int) -> tuple[list[SceneObject], dict]:
    """Walls (and a ceiling) around the placement area, from scene.background. Draws nothing
    when the only kind is "ground". Walls are pushed out (and raised) until every point of
    ``inside`` (the camera positions first, then e.g. a table's corners) and every light lies
    inside, ``WALL_MARGIN`` (plus the light's size) from them."""
    sc = settings.scene
    bg = sc.background
    kind = str(bg[0] if len(bg) == 1 else bg[int(rng.integers(len(bg)))])
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
                       category_id=0, material=sample_material(settings, rng), casts_shadow=kind != "room")
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
                               material=sample_material(settings, rng)))
    ground = objects[-1]
    center = np.zeros(3)
    if support is not None:  # the camera and the lights aim just above the drop region
        material = sample_material(settings, rng)  # one material for every part of a table or bin
        objects += [SceneObject(name=name, mesh_path=BUNDLED_BOX, mesh_to_world=pose, instance_id=len(objects) + 1 + k,
                                category_id=0, material=material) for k, (name, pose) in enumerate(support.boxes)]
        center[2] = support.floor + float(np.mean([p["radius"] for p in obj_params["objects"]] or [0.0]))
    else:
        placed = [p for p in obj_params["objects"] if p["xy"] is not None]
        if placed:  # the camera and the lights aim at the middle of the objects
            center[:2] = np.mean([p["xy"] for p in placed], axis=0)
            center[2] = np.mean([p["height"] for p in placed]) / 2.0
    cam_draw = sample_camera(settings, center, rng)
    lights, world, light_params = sample_lights(settings, center, rng)
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


def make_scene(settings: Settings, catalog: Catalog, rng: np.random.Generator) -> Scene:
    return make_sequence(settings, catalog, rng, 1)[0]
