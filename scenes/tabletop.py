"""Tabletop: catalog objects standing on a ground plane, random materials, lights and a
camera on a shell around them.

Every randomized parameter is drawn from ``rng`` and recorded: object poses, scales and
materials in the scene objects, light parameters in the lights, the rest in
``Scene.params``. The walls, ceiling and photos of scene.background and scene.background_dir are
drawn by :mod:`simgen.sampling.walls`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from simgen.errors import SimgenError
from simgen.assets import BUNDLED_BOX, Catalog, load_mesh
from simgen.assets.images import photo_files
from simgen.config import MAX_SEQUENCE_LENGTH, PLACEMENT_MODES, SUPPORTS, SettleConfig, Settings
from simgen.config.schema import setting, span
from simgen.scene.data import MAX_INSTANCE_ID, Camera, Scene, SceneObject
from simgen.recipes import SHORTFALL, Recipe, SceneBuilder
from simgen.sampling.camera import draw_camera, sample_shell
from simgen.sampling.lighting import sample_lights
from simgen.sampling.materials import sample_material
from simgen.sampling.objects import draw_distractors, pick_objects
from simgen.sampling.physics import (Support, bounding_sphere, box_volume, drop_centres, drop_pose, rigid_body,
                                     sample_support, slab_behind)
from simgen.sampling.placement import footprint, impossible_placement, pack_disks, standing_pose
from simgen.sampling.random import choose, integer, pick, random_rotation, uniform
from simgen.sampling.walls import BACKGROUNDS, eye_of, sample_background, sc_area_circle, wall_photos, wall_reach


MAX_TRIES = 100_000
"""Most rejection-sampling tries per object (scene.max_tries)."""
STUFF_OBJECTS = 6
"""Objects of a scene besides the drawn ones: the ground and up to five walls and ceiling."""


@dataclass
class PhysicsConfig(SettleConfig):
    """How scene.placement=physics drops and settles the objects (scene.physics.*)."""

    supports: list[str] = setting(list(SUPPORTS), choices=SUPPORTS)
    """What objects land on, one kind drawn per scene: ground (spread over
    scene.area_radius), table (a table top with legs), bin (an open box on the ground) or
    pile (dropped in a narrow column onto the ground, so they heap up)."""
    pile_radius: float = setting(0.06, gt=0.0)
    """Pile support: radius (m) of the disk the objects' centres are dropped over."""
    table_size: list[float] = span([0.6, 1.2], gt=0.0)
    """Table support: edge lengths (m) of the table top, each drawn from this range."""
    table_height: list[float] = span([0.4, 0.8], gt=0.0)
    """Table support: height (m) of the table top's upper surface."""
    bin_size: list[float] = span([0.3, 0.5], gt=0.0)
    """Bin support: inner edge lengths (m) of the bin, each drawn from this range."""
    bin_height: list[float] = span([0.08, 0.2], gt=0.0)
    """Bin support: height (m) of the bin's walls."""


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
    camera_distance: list[float] = span([0.8, 1.5], ge=0.001, common=True)
    """The camera stands on a spherical shell around the objects' centre, looking at it: its
    distance from the look-at point, metres."""
    camera_elevation: list[float] = span([25.0, 70.0], ge=-90.0, le=90.0)
    """The camera's elevation above the ground plane, degrees."""
    camera_azimuth: list[float] = span([0.0, 360.0])
    """The camera's azimuth around the look-at point, degrees."""
    look_at_jitter: float = setting(0.05, ge=0.0)
    """Std-dev (m) of the Gaussian offset added to the look-at point (the objects' centre)."""
    object_scale: list[float] = span([0.8, 1.25], gt=0.0)
    """Random uniform scale factor of each object on top of the catalog scale."""
    placement: str = setting("analytic", choices=PLACEMENT_MODES)
    """analytic: objects stand upright on the ground, packed so they cannot touch (exact, no
    simulation). physics: objects are dropped in random orientations onto a support and
    settled with Blender's rigid-body world (Bullet) until at rest (scene.physics.*)."""
    physics: PhysicsConfig = dataclasses.field(default_factory=PhysicsConfig)
    """scene.placement=physics: the supports, drops and simulation (analytic ignores them)."""
    views: int = setting(1, ge=1, le=MAX_SEQUENCE_LENGTH, common=True)
    """Multi-view: K > 1 renders K cameras of each drawn scene (objects, materials, lights and
    background fixed; each camera drawn from the scene.camera_* ranges and the camera group as a
    single frame's is), each view a frame with its own labels: frame i is view i % K of scene
    i // K (the meta's sequence and step), and the scene is built once for its K views. With
    sequence.length 1; output.formats=[nerfstudio] writes each scene's transforms.json."""
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
    """walls/room: distance (m) from the area centre to each wall but the back one (which is
    put in view, see wall_foot; this range is its fallback), pushed further out where needed
    to keep the camera inside and the objects in front."""
    wall_height: list[float] = span([2.0, 3.0], ge=0.1)
    """walls/room: wall (and ceiling) height, m, raised where needed above the camera and
    lights (walls: also up to the top of the frame)."""
    wall_foot: list[float] = span([0.25, 0.6], ge=0.0, le=1.0)
    """walls/room: where the back wall meets the ground in the image, as a fraction of the
    image height from the top (on the vertical centre line); the back wall's distance is
    computed from the camera to put it there, but never closer than just behind the objects
    (a steep camera that sees no ground behind them sees the wall only at the top, or not
    at all). Where the camera looks level or up, scene.wall_distance is used instead."""
    wall_view: float = setting(0.15, ge=0.0, le=1.0)
    """walls/room: the camera is drawn again (its place from the scene.camera_* ranges, its lens
    and exposure from the camera group), up to 100 times, the best draw kept, until the back
    wall can fill at least this fraction of the image height: a steep camera that sees no ground behind the objects cannot see a wall. The
    draws are recorded (params.camera.wall_reach, draws, kept_draw). 0: every camera draw
    is kept, as drawn (steep ones then may show no wall)."""
    room_light: list[float] = span([50.0, 200.0], ge=0.0)
    """room: power (W) of a white area light under the ceiling's centre; [0, 0] for none."""
    background_dir: Optional[str] = setting(None, example="/path/to/photos")
    """A folder of photos (.png .jpg .jpeg .tif .tiff .bmp .tga) used as backgrounds: each
    scene draws one that the camera sees wherever it hits nothing (a backdrop filling the
    frame, aspect kept; it adds no light), and one per wall (walls/room) covering the wall's
    height, aspect kept. Labels are unchanged: backdrop pixels stay 0, walls keep their ids.
    null: no photos."""


def check(settings: Settings) -> None:
    """Cross-field rules of the tabletop scene (each field's own bounds are declared above);
    every photo of scene.background_dir decodes."""
    sc = settings.scene
    if sc.background_dir is not None:
        photo_files("scene.background_dir", sc.background_dir, settings.render.max_image_pixels)
    if sc.wall_distance[0] < sc.area_radius:
        raise SimgenError(f"scene.wall_distance={list(sc.wall_distance)} must start at scene.area_radius="
                          f"{sc.area_radius} or beyond (walls stand outside the objects' area); raise it")
    if sc.views > 1 and settings.sequence.length > 1:
        raise SimgenError(f"scene.views={sc.views} draws the views of a still scene; sequence.length="
                          f"{settings.sequence.length} moves its camera along a path: use one of them")
    if settings.objects.count[1] + sc.distractors[1] + STUFF_OBJECTS > MAX_INSTANCE_ID:
        raise SimgenError(f"objects.count={list(settings.objects.count)} and scene.distractors="
                          f"{list(sc.distractors)} allow more than {MAX_INSTANCE_ID - STUFF_OBJECTS} objects "
                          f"(the limit is {MAX_INSTANCE_ID} with ground and walls); lower them")


PLACEMENT_ATTEMPTS = 20
"""Fresh draws of picks and scales before a scene places what fits of its best draw (and records
the shortfall: :data:`simgen.recipes.SHORTFALL`)."""


def sample_objects(build: SceneBuilder) -> dict:
    """The objects standing in the area, added to ``build``; returns their draws. Up to
    :data:`PLACEMENT_ATTEMPTS` draws of counts, picks and scales until one places at least
    objects.count[0] (and objects.min_per_frame); when none does, the draw of the least footprint
    with what fits of it placed, and the scene's params say what is missing
    (:data:`simgen.recipes.SHORTFALL`). A rare infeasible draw is part of the randomization, a frame
    like any other; a config most of whose draws cannot place is refused before the first frame
    (simgen.pipeline.frames.check_placement)."""
    settings, catalog, rng = build.settings, build.catalog, build.rng
    o, sc = settings.objects, settings.scene

    def enough(placed: list[str]) -> bool:  # the categories placed
        return len(placed) >= o.count[0] and all(placed.count(c) >= k for c, k in o.min_per_frame.items())

    best = None
    for _ in range(PLACEMENT_ATTEMPTS):
        n = integer(rng, o.count)
        picks, shapes = pick_objects(o, catalog, n, rng)
        scales = [a.scale * uniform(rng, sc.object_scale) for a in picks]
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
        draw = [n, picks, shapes, scales, yaws, fps, d_paths, d_scales, d_yaws, d_fps, spots, d_spots]
        if enough(placed):
            shortfall = None
            break
        area = sum(r * r for r in radii)
        if best is None or area < best[0]:
            best = (area, radii, d_fps, draw)
    else:  # the draw of the least footprint, packed again keeping what fits (the rng goes on: deterministic)
        _, radii, d_fps, draw = best
        spots = pack_disks(radii + [f.radius for f in d_fps], sc.area_radius, sc.clearance, sc.max_tries, rng,
                           priority=[0] * len(radii) + [1] * len(d_fps))
        draw[10:] = spots[:len(radii)], spots[len(radii):]
        placed = [a.category for a, xy in zip(draw[1], draw[10]) if xy is not None]
        shortfall = None if enough(placed) else {
            "placed": len(placed), "wanted": o.count[0], "draws": PLACEMENT_ATTEMPTS,
            "message": impossible_placement(o.count[0], radii, sc.area_radius, PLACEMENT_ATTEMPTS)}
    n, picks, shapes, scales, yaws, fps, d_paths, d_scales, d_yaws, d_fps, spots, d_spots = draw
    dropped = []
    for asset, s, yaw, fp, xy in zip(picks, scales, yaws, fps, spots):
        if xy is None:
            dropped.append(asset.key)
            continue
        build.add(SceneObject(name="", mesh=asset.path, mesh_to_world=standing_pose(fp, s, yaw, xy), instance_id=0,
                              category_id=asset.category_id, material=sample_material(settings.materials, rng),
                              asset_id=asset.key))
    if shortfall:
        build.params[SHORTFALL] = shortfall
    params = {"count_drawn": n, "dropped": dropped,
              "objects": [{"asset": a.key, "scale": s, "yaw": y, "xy": None if p is None else p.tolist(),
                           "height": f.height, **({"shape": d} if d else {})}
                          for a, s, y, f, p, d in zip(picks, scales, yaws, fps, spots, shapes)]}
    if d_paths:
        for path, s, yaw, fp, xy in zip(d_paths, d_scales, d_yaws, d_fps, d_spots):
            if xy is not None:
                build.add(SceneObject(name="", mesh=path, mesh_to_world=standing_pose(fp, s, yaw, xy), instance_id=0,
                                      category_id=0, material=sample_material(settings.materials, rng),
                                      role="distractor"))
        params["distractors"] = [{"mesh": Path(p).name, "scale": s, "yaw": y,
                                  "xy": None if xy is None else xy.tolist(), "height": f.height}
                                 for p, s, y, f, xy in zip(d_paths, d_scales, d_yaws, d_fps, d_spots)]
    return params


def drop_objects(build: SceneBuilder) -> tuple[dict, Support]:
    """scene.placement=physics: objects and distractors at their drop poses over a support drawn
    from scene.physics.supports, each with its rigid body (see simgen.sampling.physics), added to
    ``build``; returns their draws and the support."""
    settings, catalog, rng = build.settings, build.catalog, build.rng
    o, sc = settings.objects, settings.scene
    pc = sc.physics
    kind = str(pick(rng, pc.supports))
    support = sample_support(kind, rng, sc.area_radius, pc.pile_radius, pc.table_size, pc.table_height,
                             pc.bin_size, pc.bin_height)
    n = integer(rng, o.count)
    picks, shapes = pick_objects(o, catalog, n, rng)
    meshes = [(a.path, a.scale * uniform(rng, sc.object_scale), a.key, a.category_id) for a in picks]
    d_paths, d_scales = draw_distractors(catalog, sc.distractors, sc.distractor_scale, rng)
    n_d = len(d_paths)
    meshes += [(path, scale, "", 0) for path, scale in zip(d_paths, d_scales)]
    vertices = [load_mesh(path).vertices for path, _, _, _ in meshes]
    spheres = [bounding_sphere(v, scale) for v, (_, scale, _, _) in zip(vertices, meshes)]
    gaps = [uniform(rng, pc.drop_gap) for _ in meshes]
    centres = drop_centres([r for _, r in spheres], gaps, support, rng)
    volumes = [box_volume(v, scale) for v, (_, scale, _, _) in zip(vertices, meshes)]
    drawn = []
    shapes += [None] * n_d
    for (path, scale, key, category), (c_mesh, r), p, volume, shape in zip(meshes, spheres, centres, volumes, shapes):
        rotation = random_rotation(rng)
        material = sample_material(settings.materials, rng)
        body = rigid_body(0, volume, max(volumes), pc, rng)
        build.add(SceneObject(name="", mesh=path, mesh_to_world=drop_pose(c_mesh, scale, rotation, p), instance_id=0,
                              category_id=category, material=material, asset_id=key,
                              role="object" if key else "distractor"), body=body)
        drawn.append({"asset": key, "mesh": path.name, "scale": scale, "drop_center": p.tolist(),
                      "drop_rotation": rotation.tolist(), "radius": r, "mass": body.mass,
                      "friction": body.friction, "restitution": body.restitution,
                      **({"shape": shape} if shape else {})})
    return {"count_drawn": n, "distractors_drawn": n_d, "objects": drawn}, support


def colliders(support: Support, ground: SceneObject, background: list[SceneObject]) -> list[np.ndarray]:
    """What the dropped objects collide with: solid slabs behind the ground and any walls (a plane
    alone lets thin objects through) and the support's boxes."""
    walls = [o.mesh_to_world for o in background if o.name.startswith("wall")]
    return [slab_behind(ground.mesh_to_world, SLAB), *(pose for _, pose in support.boxes),
            *(slab_behind(w, SLAB) for w in walls)]


SLAB = 1.0
"""Thickness (m) of the colliders behind the ground and the walls."""


def first_camera(settings: Settings, draw: dict) -> Camera:
    """The camera of a shell draw (step 0 of a sequence)."""
    return camera_of(settings, draw, draw["distance"], draw["elevation_deg"], draw["azimuth_deg"])


def camera_of(settings: Settings, draw: dict, dist: float, el: float, az: float) -> Camera:
    """The camera of shell draw ``draw`` (its target, lens, exposure, aperture) at ``dist``/``el``/``az``."""
    return draw_camera(settings, {**draw, "distance": dist, "elevation_deg": el, "azimuth_deg": az})


WALL_VIEW_TRIES = 100
"""Camera draws at most per scene to meet scene.wall_view (the best one is kept)."""


def camera_path(settings: Settings, draw: dict, rng: np.random.Generator, length: int) -> tuple[list[Camera], dict]:
    """The camera at every step: it circles the target, rises and dollies at constant rates."""
    sc = settings.scene
    motion = {"orbit_deg": uniform(rng, sc.camera_orbit) * float(rng.choice([-1.0, 1.0])),
              "rise_deg": uniform(rng, sc.camera_rise), "dolly": uniform(rng, sc.camera_dolly)}
    cameras = []
    for k in range(length):
        el = float(np.clip(draw["elevation_deg"] + k * motion["rise_deg"], -89.0, 89.0))
        dist = max(draw["distance"] + k * motion["dolly"], 10 * settings.camera.clip_start)
        cameras.append(camera_of(settings, draw, dist, el, draw["azimuth_deg"] + k * motion["orbit_deg"]))
    return cameras, motion


def make_sequence(settings: Settings, catalog: Catalog, rng: np.random.Generator, length: int) -> list[Scene]:
    """``length`` steps of one tabletop scene: the objects rest, the camera moves.

    scene.placement=physics: the objects are at their drop poses and the scenes carry the
    simulation that settles them (the pipeline runs it once per sequence)."""
    sc = settings.scene
    build = SceneBuilder(settings, catalog, rng)
    support = None
    if sc.placement == "physics":
        obj_params, support = drop_objects(build)
    else:
        obj_params = sample_objects(build)
    g = sc.ground_size
    ground = build.add(SceneObject(name="ground", mesh=catalog.ground, mesh_to_world=np.diag([g, g, g, 1.0]),
                                   instance_id=0, category_id=0, material=sample_material(settings.materials, rng),
                                   role="ground"))
    center = np.zeros(3)
    if support is not None:  # the camera and the lights aim just above the drop region
        material = sample_material(settings.materials, rng)  # one material for every part of a table or bin
        for name, pose in support.boxes:
            build.add(SceneObject(name=name, mesh=BUNDLED_BOX, mesh_to_world=pose, instance_id=0, category_id=0,
                                  material=material, role="support"))
        center[2] = support.floor + float(np.mean([p["radius"] for p in obj_params["objects"]] or [0.0]))
        keep_out = sc_area_circle(sc.area_radius)  # dropped objects may settle anywhere in the area
    else:
        placed = [p for p in obj_params["objects"] if p["xy"] is not None]
        if placed:  # the camera and the lights aim at the middle of the objects
            center[:2] = np.mean([p["xy"] for p in placed], axis=0)
            center[2] = np.mean([p["height"] for p in placed]) / 2.0
        # the walls stand behind the objects themselves
        keep_out = np.concatenate([np.asarray(load_mesh(o.mesh).vertices, float) @ o.mesh_to_world[:3, :3].T
                                   + o.mesh_to_world[:3, 3] for o in build.objects if o is not ground]
                                  or [np.zeros((0, 3))])
    kind = str(choose(rng, sc.background))
    cam_draw = sample_shell(settings.camera, sc, center, rng)
    if kind != "ground" and sc.wall_view > 0:  # a camera that can see the back wall
        best = None
        for tries in range(1, WALL_VIEW_TRIES + 1):
            reach = wall_reach(first_camera(settings, cam_draw), keep_out)
            if best is None or reach > best[0]:
                best = (reach, cam_draw, tries)
            if reach >= sc.wall_view or tries == WALL_VIEW_TRIES:
                break
            cam_draw = sample_shell(settings.camera, sc, center, rng)
        cam_draw = {**best[1], "wall_reach": best[0], "draws": tries, "kept_draw": best[2]}
    lights, world, light_params = sample_lights(settings.lighting, center, rng)
    if sc.views > 1:  # independent views of the still scene, the first one as a single frame's
        draws = [cam_draw] + [sample_shell(settings.camera, sc, center, rng) for _ in range(length - 1)]
        cameras, motion = [first_camera(settings, d) for d in draws], None
    else:
        draws = [cam_draw] * length
        cameras, motion = camera_path(settings, cam_draw, rng, length)
    inside = support.corners() if support is not None else []
    walls, lights, bg_params = sample_background(settings, catalog, rng, kind, ground, cameras, inside, keep_out,
                                                 lights, center)
    walls, world, photo_params = wall_photos(settings, rng, walls, world, bg_params["background"])
    bg_params["background"].update(photo_params)
    for wall in walls:
        build.add(wall)
    build.use_lights(lights, world, light_params)
    build.params.update({"objects": obj_params, **bg_params})
    if support is not None:
        build.collide(*colliders(support, ground, walls))
        build.params["placement"] = {"mode": "physics", "support": support.params}
    if length > 1 and motion is not None:
        build.params["camera_motion"] = motion
    views = iter((cam, {**draw, "eye": eye_of(cam).tolist(), **({"focus_distance": cam.focus_distance} if cam.fstop
                                                                 else {})}) for cam, draw in zip(cameras, draws))
    return build.scenes(length, lambda: next(views))


RECIPE = Recipe(name="tabletop", Config=Config, make_sequence=make_sequence, check=check)
