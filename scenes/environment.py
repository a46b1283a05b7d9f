"""Environment: your own world from a file, the catalog's objects standing on its surfaces.

``scene=environment scene.file=/data/cell.blend`` (or ``.glb``/``.gltf``, ``.usd``/``.usda``/
``.usdc``/``.usdz``, ``.fbx``, ``.obj``): the file's geometry with its own materials and textures,
and its lights, are the world (:mod:`simgen.assets.environment`; Blender reads the file once per
process and keeps it across frames). Each frame draws:

1. the objects (objects.count, the catalog's, at scene.object_scale), standing upright at a random
   yaw within scene.area_radius of a point drawn on the file's support surfaces (:mod:`simgen.sampling.surfaces`): the level, upward-facing
   areas of the parts ``scene.supports`` names (object name globs, ``collection:GLOB``,
   ``material:GLOB``, ``property:KEY``), or of every part when it names none, of at least
   ``scene.min_support_area``. Each rests on its surface, meets no environment geometry and no
   other object; or, with scene.placement=physics, is dropped over its spot in a random
   orientation and settled by Bullet with the file's parts around as static meshes. A draw that cannot place objects.count[0] of them is drawn again, and after
   :data:`PLACEMENT_ATTEMPTS` draws the frame keeps what fits and records the shortfall
   (simgen.recipes.SHORTFALL);
2. the camera on a shell around the placed objects (scene.camera_distance, camera_elevation,
   camera_azimuth, look_at_jitter), or in the regions scene.camera_regions names, redrawn (up to :data:`CAMERA_TRIES` times) until it sees
   scene.min_visible of the points on them (:func:`visible_fraction`); or, with scene.cameras, one of the file's
   cameras (jittered by scene.camera_jitter), drawn first, the objects' point then drawn in its view;
3. simgen's lamps and world (the lighting group; the file's world with ``scene.file_world``)
   besides the file's lights (``scene.file_lights``),
   each switched off at random (``scene.file_light_off``) and its power scaled
   (``scene.file_light_power``); ``lighting.count=[0,0]`` keeps the file's alone.

The file's parts are background (category 0) unless ``scene.labels`` gives them a category, each
with an instance id of its own after the objects'. A sequence's steps are views of the scene (each
its own camera draw); with ``scene.animation`` the file's own animation moves its parts, drawn at a
frame or played through the steps (:func:`animation_frames`), the objects placed where the parts
stand at the first step.
"""

from __future__ import annotations

import fnmatch
import functools
import threading
import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from simgen.errors import SimgenError
from simgen.assets import Catalog, load_mesh
from simgen.assets.catalog import check_category_name
from simgen.assets.environment import FILE_LOOK, Environment, check_file, file_camera, load_environment
from simgen.config import PLACEMENT_MODES, SettleConfig, Settings
from simgen.config.schema import setting, span
from simgen.optics.camera import project
from simgen.paths import ASSET_DIR
from simgen.scene.data import Camera, Light, Material, Scene, SceneObject, World
from simgen.scene.transforms import axis_angle, invert_rigid
from simgen.recipes import SHORTFALL, Recipe, SceneBuilder
from simgen.sampling.camera import draw_camera, sample_shell
from simgen.sampling.lighting import sample_lights
from simgen.sampling.materials import sample_material
from simgen.sampling.objects import pick_objects
from simgen.sampling.physics import FALL, bounding_sphere, box_volume, drop_pose, rigid_body, world_colliders
from simgen.sampling.placement import Footprint, footprint, standing_pose
from simgen.sampling.random import (back_and_forth, blackbody_rgb, chance, integer, random_rotation, uniform,
                                   unit_vector)
from simgen.sampling.surfaces import Obstacles, Surface, draw_point, find_surfaces, place_on_surfaces, within

PLACEMENT_ATTEMPTS = 5
"""Draws of counts, picks and scales per frame before it keeps what fits of the last."""
CAMERA_TRIES = 50
"""Camera draws per frame before it keeps the one that sees most of the objects (recorded)."""


ANIMATION_MODES = ("still", "draw", "play")
"""scene.animation: what the file's own animation does (:func:`animation_frames`)."""


@dataclass
class Config:
    """Your own world from a file (.blend, .glb/.gltf, .usd/.usda/.usdc/.usdz, .fbx, .obj): the
    catalog's objects on its surfaces, a camera around them, its lights and simgen's."""

    recipe: str = setting("environment")
    """Recipe module under scenes/ (scenes/<recipe>.py)."""
    file: Optional[str] = setting(None, example="/data/cell.blend")
    """The scene file that is the world; null: the bundled room (assets/environments/room.glb: a
    floor, two walls, a table, a shelf unit). Read once by Blender into a cache ($SIMGEN_CACHE, else
    ~/.cache/simgen/environments); its scripts never run."""
    supports: list[str] = setting([], empty_ok=True, example="[table*, collection:shelves, property:support]")
    """The parts objects stand on: object name globs, collection:GLOB, material:GLOB or
    property:KEY (a custom property set true). []: every part's level, upward-facing areas."""
    labels: Optional[dict[str, list[str]]] = setting({}, example="{shelf: [Shelf*], clutter: ['collection:Clutter']}")
    """The file's parts that are labelled: {category: [selectors]} (object name globs,
    collection:GLOB, material:GLOB, property:KEY); a part takes the first category one of whose
    selectors it matches, the others are background (category 0). A category the catalog lacks is
    added after the catalog's own (ids continuing)."""
    volumes: list[str] = setting([], empty_ok=True, example="[bin*, collection:shelves]")
    """Volumes the objects stay inside (a bin, a shelf unit), each the bounding box of the
    parts one selector names together (selectors as scene.supports: ``bin*`` is a bin's floor and
    walls): objects stand on the surfaces within them, below their tops. []: anywhere on the surfaces."""
    restyle: list[str] = setting([], empty_ok=True, example="[floor, wall*, material:Wood*]")
    """The parts that take simgen's material randomization (materials.*: colours, procedural and
    image textures, PBR sets where materials.pbr_surfaces names environment) in place of the file's
    own, drawn per part and scene; selectors as scene.supports. []: every part keeps its own."""
    min_support_area: float = setting(0.02, gt=0.0)
    """m^2: the smallest connected level area objects are placed on."""
    file_lights: bool = setting(True)
    """Render the file's own lights (beside the lighting group's lamps)."""
    file_world: bool = setting(False)
    """Light the scene with the file's own world shader (a .blend scene's world)
    in place of lighting.world's; a file without one is refused."""
    file_light_power: list[float] = span([1.0, 1.0], ge=0.0)
    """Factor on each of the file's lights' power, drawn per light and frame (nothing is drawn at [1, 1])."""
    file_light_off: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that each of the file's lights is switched off in a frame."""
    file_light_temperature: Optional[list[float]] = setting(None, ge=1000.0, le=40000.0, example="[2700.0, 6500.0]")
    """[low, high] kelvin: each of the file's lights takes the colour of a blackbody at a temperature
    drawn from it, per light and frame; null: its own colour."""
    placement: str = setting("analytic", choices=PLACEMENT_MODES)
    """analytic: each object stands upright at a random yaw on its spot; physics: each is dropped
    in a random orientation over its spot (its bounding sphere scene.physics.drop_gap above the
    surface) and settled with Blender's rigid-body world (Bullet), the file's parts around the
    drop colliding as their triangles (scene.physics.*)."""
    physics: SettleConfig = dataclasses.field(default_factory=SettleConfig)
    """scene.placement=physics: the drops and the simulation (analytic ignores them)."""
    clearance: float = setting(0.005, ge=0.0)
    """m kept free around each object's footprint and above it."""
    max_tries: int = setting(200, ge=1, le=100_000)
    """Position draws per object before it is left out of the draw."""
    area_radius: Optional[float] = setting(0.5, gt=0.0)
    """m: the objects stand within this distance (seen from above) of a point drawn uniformly on
    the surfaces each frame, so that the camera sees them together; null: anywhere on them."""
    cell: float = setting(0.005, gt=0.0)
    """m: the grid on which surfaces are measured (larger for surfaces over ~10 m across)."""
    object_scale: list[float] = span([0.8, 1.25], gt=0.0)
    """Size factor of every object."""
    camera_distance: list[float] = span([0.8, 1.5], ge=0.001, common=True)
    """Metres from the objects' centre to the camera."""
    camera_elevation: list[float] = span([25.0, 70.0], ge=-90.0, le=90.0)
    """Degrees above the horizontal."""
    camera_azimuth: list[float] = span([0.0, 360.0])
    """Degrees about +Z."""
    look_at_jitter: float = setting(0.05, ge=0.0)
    """Metres (standard deviation) the camera's aim moves off the objects' centre."""
    min_visible: float = setting(0.6, ge=0.0, le=1.0)
    """The least fraction of points on the placed objects (corners of their hulls) a camera on the
    shell must see, in its image and not hidden by the file's geometry (ray cast before the
    render); it is drawn again, up to 50 times, until it does, else the best draw is kept. The
    meta records the fraction (params.camera.visible)."""
    camera_regions: list[str] = setting([], empty_ok=True, example="[camera_zone*]")
    """Regions the camera stands in, each the bounding box of the parts and hidden objects one
    selector names together (selectors as scene.supports; an empty or a box the artist hid from
    rendering names a place): its eye drawn uniformly in them (a box chosen by its volume), looking
    at the objects (look_at_jitter), drawn again as on the shell until it sees scene.min_visible;
    []: on the shell (camera_distance, camera_elevation, camera_azimuth)."""
    cameras: list[str] = setting([], empty_ok=True, example="[Camera*]")
    """The file's cameras (name globs) each step looks through, one drawn per step (its lens and
    pose, as Blender renders it at render.width x render.height), the objects placed in its view;
    []: a camera on the shell above."""
    camera_jitter: list[float] = setting([0.0, 0.0], ge=0.0, example="[0.02, 1.0]")
    """With scene.cameras: standard deviations of a drawn file camera's position (m) and of its
    turn about a random axis (degrees)."""
    animation: str = setting("still", choices=ANIMATION_MODES)
    """The file's own animation (keyframes, parents, constraints; a driver's script never runs):
    still, the file as it was saved; draw, each scene (a frame, or a whole sequence) at a frame
    drawn uniformly from the animation's own frame range (a .blend's saved range, a USD stage's
    time codes, the keyframes of a glTF clip's or an FBX's actions, NLA strips counted); play, a
    sequence plays it from a drawn frame, one file frame a step, turning back at its ends. The
    parts move and every label follows them (flow and tracks too); a part whose geometry deforms
    (an armature's skinning, shape keys, an animated modifier) is drawn as Blender evaluates it at
    each step's frame, and its flow and tracks follow each surface point with its triangle."""
    animation_clip: Optional[str] = setting(None, example="walk")
    """A glTF file's animation (clip) that scene.animation draws or plays, by name, over its own
    frame range; null: the file's first, the one Blender's importer plays; all: every clip at once
    (a file that splits one motion into a clip per joint). A name the file lacks is refused, its
    clips listed; other files have no named clips (null only)."""


def animation_frames(sc: Config, env: Environment, rng: np.random.Generator, length: int) -> list[int] | None:
    """The file frame of each of a sequence's ``length`` steps under scene.animation (None: still;
    nothing drawn): a frame drawn uniformly from the file's range, held (draw) or played on from
    there (play, :func:`simgen.sampling.random.back_and_forth`). One-line SimgenError for a file in
    which nothing moves, or one with a part whose number of vertices changes."""
    if sc.animation == "still":
        return None
    a = env.animation
    if a is None and env.clips:
        name = sc.animation_clip or env.clips[0].clip
        raise SimgenError(f"scene.animation={sc.animation}: clip {name} of {env.file} moves nothing; pick one that "
                          f"moves with scene.animation_clip (its clips: {env.clip_names()}) or set "
                          "scene.animation=still")
    if a is None:
        raise SimgenError(f"scene.animation={sc.animation}: nothing moves in {env.file} (no keyframes, parents "
                          "or constraints that move a part over its frame range); set scene.animation=still")
    if a.changing:
        raise SimgenError(f"scene.animation={sc.animation}: part {a.changing[0]!r} of {env.file} changes its number "
                          "of vertices over the file's frame range, which simgen cannot follow; hide it from "
                          "rendering in the file or set scene.animation=still")
    lo, hi = a.frames
    start = int(rng.integers(0, hi - lo + 1))
    steps = [start] * length if sc.animation == "draw" else back_and_forth(start, length, hi - lo + 1)
    return [lo + k for k in steps]


BUNDLED_ROOM = ASSET_DIR / "environments" / "room.glb"
"""scene.file's default: made by scripts/make_room.py."""


def file_of(sc: Config) -> str | Path:
    return BUNDLED_ROOM if sc.file is None else sc.file


def check(settings: Settings) -> None:
    check_file(file_of(settings.scene))
    for category, selectors in settings.scene.labels.items():
        check_category_name(category, f"scene.labels.{category}")
        if not selectors:
            raise SimgenError(f"scene.labels.{category}=[]: name the parts of that category (object name globs, "
                              "collection:GLOB, material:GLOB, property:KEY)")
    t = settings.scene.file_light_temperature
    if t is not None and (len(t) != 2 or t[0] > t[1]):
        raise SimgenError(f"scene.file_light_temperature={list(t)}: give a range [low, high] in kelvin, e.g. [2700.0, 6500.0]")
    if len(settings.scene.camera_jitter) != 2:
        raise SimgenError(f"scene.camera_jitter={list(settings.scene.camera_jitter)}: give two standard deviations, "
                          "[metres, degrees]")


def geometry_of(env: Environment) -> tuple[np.ndarray, Obstacles]:
    """Every world triangle of the environment, and the same as obstacles to a line of sight
    (cached per environment)."""
    cache = _cache_of(env)
    if "triangles" not in cache:
        t = env.triangles()
        cache["triangles"] = t, Obstacles.of(t)
    return cache["triangles"]


def surfaces_of(env: Environment, sc: Config, frame: int | None = None, saved: Environment | None = None,
                required: bool = True) -> list[Surface]:
    """The environment's support surfaces under ``sc`` (cached per environment and settings);
    ``env`` is ``saved`` at its animation's ``frame`` where one is drawn (named when it has none;
    none is no error where not ``required``: no object stands on them)."""
    key = (tuple(sc.supports), tuple(sc.volumes), sc.min_support_area, sc.cell)
    cache = _cache_of(env)
    if key not in cache:
        found = _level(env, sc)
        if not found and not required:
            return []
        if not found:
            raise _no_level(env, sc, frame, saved)
        if sc.volumes:
            found = within(found, volume_boxes(env, sc.volumes))
            if not found:
                raise SimgenError(f"scene.volumes={list(sc.volumes)}: no surface of {env.file} lies inside the "
                                  f"parts it names; name volumes with a level floor inside (a bin, a compartment)")
        cache[key] = found
    return cache[key]


def _supports(env: Environment, sc: Config) -> list:
    parts = env.select(sc.supports) if sc.supports else list(env.parts)
    if sc.supports and not parts:
        raise env.names_nothing("scene.supports", sc.supports)
    return parts


def _level(env: Environment, sc: Config) -> list[Surface]:
    """The level, upward-facing areas of the parts scene.supports names (every part: none named)."""
    parts = _supports(env, sc)
    names = [p.name for p in parts for _ in range(len(env.meshes[p.mesh.key].faces))]
    return find_surfaces(env.triangles(parts), geometry_of(env)[0], sc.min_support_area, sc.cell, names)


def _no_level(env: Environment, sc: Config, frame: int | None, saved: Environment | None) -> SimgenError:
    """The one line for no support surface: at a drawn frame of the animation where the file as saved
    has one, it names the support parts that Blender's evaluation moves or deforms there (a floor
    skinned to an armature by parenting it with automatic weights tilts with the bones)."""
    where = "the parts scene.supports names" if sc.supports else "any part"
    a = saved.animation if saved is not None else None
    had = {n for s in _level(saved, sc) for n in s.parts} if frame is not None and a is not None else set()
    if had:  # the parts whose level area the animation takes away
        moved = [p.name for p in saved.parts if p.name in had and (p.name in a.matrices or p.mesh.key in a.deforming)]
        if moved:
            what = ", ".join(repr(n) for n in moved[:6]) + (" ..." if len(moved) > 6 else "")
            return SimgenError(
                f"scene.animation={sc.animation}: no level, upward-facing area of at least scene.min_support_area="
                f"{sc.min_support_area} m^2 on {where} of {env.file} at its animation's frame {frame} (there is at "
                f"the frame it was saved at, {a.current}): the file's animation moves or deforms part"
                f"{'s' if len(moved) > 1 else ''} {what} there"
                + (" (an armature's skinning: a part parented to the armature with automatic weights bends with "
                   "its bones)" if any(p.mesh.key in a.deforming for p in saved.parts if p.name in moved) else "")
                + "; unbind what should stay put in the file, name the parts objects stand on (scene.supports) "
                "or set scene.animation=still")
    return SimgenError(f"scene.file={env.file}: no level, upward-facing area of at least "
                       f"scene.min_support_area={sc.min_support_area} m^2 on {where}; name the "
                       "parts objects stand on (scene.supports) or lower scene.min_support_area")


def volume_boxes(env: Environment, selectors: list[str], key: str = "scene.volumes") -> np.ndarray:
    """(B, 2, 3): per selector of ``key``, the world bounding box of the parts and markers (objects
    hidden from rendering) it names together (``bin*``: a bin's floor and walls)."""
    bounds, boxes = env.bounds, []
    for selector in selectors:
        chosen = [bounds[k] for k, p in enumerate(env.parts) if p.matches(selector)]
        chosen += [np.array([m.lo, m.hi]) for m in env.markers if m.matches(selector)]
        if not chosen:
            raise env.names_nothing(key, [selector])
        both = np.array(chosen)
        boxes.append((both[:, 0].min(axis=0), both[:, 1].max(axis=0)))
    return np.array(boxes, float).reshape(-1, 2, 3)


KEPT_ENVIRONMENTS = 2
"""How many environments' triangles and surfaces (:func:`geometry_of`, :func:`surfaces_of`) are kept,
the most recently used: the file as loaded (scene.animation=still: every sequence's) and the frame of
its animation that the latest sequence starts at. Each frame of a file's animation is an environment
of its own (:meth:`Environment.at`, which keeps up to 256 of them), and its surfaces' grids with what
they memoize take tens of MB (the floor of the tests' keyframed cart file: 23 MB): kept for every
start frame drawn, they grew a played animation's memory by that much at each new one (issue 76)."""

_CACHE: OrderedDict = OrderedDict()
"""Environment -> its triangles and surfaces, for the :data:`KEPT_ENVIRONMENTS` used last (least
recently used first; an environment is equal only to itself)."""
_CACHE_LOCK = threading.Lock()


def _cache_of(env: Environment) -> dict:
    """``env``'s cache (made empty the first time), now the most recently used; the least recently
    used beyond :data:`KEPT_ENVIRONMENTS` are let go."""
    with _CACHE_LOCK:
        cache = _CACHE.pop(env, None)
        _CACHE[env] = cache = {} if cache is None else cache
        while len(_CACHE) > KEPT_ENVIRONMENTS:
            _CACHE.popitem(last=False)
        return cache


def part_categories(env: Environment, sc: Config, catalog: Catalog) -> list[int]:
    """Each part's category under scene.labels (0: background)."""
    out = [0] * len(env.parts)
    for category, selectors in sc.labels.items():
        cid, hit = catalog.category_id(category), False
        for k, p in enumerate(env.parts):
            if any(p.matches(s) for s in selectors):
                hit = True
                out[k] = out[k] or cid
        if not hit:
            raise env.names_nothing(f"scene.labels.{category}", selectors)
    return out


def part_materials(settings: Settings, env: Environment, rng: np.random.Generator) -> list[Material]:
    """Each part's material: one drawn from materials.* for the parts scene.restyle names, the
    file's own (:data:`simgen.assets.environment.FILE_LOOK`) for the others."""
    sc = settings.scene
    chosen = [any(p.matches(s) for s in sc.restyle) for p in env.parts]
    if sc.restyle and not any(chosen):
        raise env.names_nothing("scene.restyle", sc.restyle)
    return [sample_material(settings.materials, rng) if c else FILE_LOOK for c in chosen]


def file_lights(env: Environment, sc: Config, rng: np.random.Generator) -> tuple[list[Light], list[dict]]:
    """The file's lights of a frame: each switched off with scene.file_light_off's chance, its power
    times a factor drawn from scene.file_light_power, its colour a blackbody's of a temperature drawn
    from scene.file_light_temperature (if set); and their draws."""
    lights, drawn = [], []
    vary = list(sc.file_light_power) != [1.0, 1.0]
    for li in env.lights:
        off = chance(rng, sc.file_light_off)
        factor = uniform(rng, sc.file_light_power) if vary else 1.0
        kelvin = uniform(rng, sc.file_light_temperature) if sc.file_light_temperature is not None else None
        color = tuple(li["color"]) if kelvin is None else blackbody_rgb(kelvin)
        drawn.append({"name": li["name"], "on": not off, "power": li["power"] * factor, "color": list(color),
                      **({"kelvin": kelvin} if kelvin is not None else {})})
        if not off:
            lights.append(Light(kind=li["kind"], light_to_world=np.asarray(li["matrix"], float),
                                power=li["power"] * factor, color=color, size=li["size"], spot_angle=li["spot_angle"]))
    return lights, drawn


@dataclass
class Drop:
    """How an object of a draw is put on its spot: upright (``yaw``, its footprint) or, with
    scene.placement=physics, dropped (``rotation``, its bounding sphere and the gap under it)."""

    scale: float
    radius: float
    """m: of its footprint (upright), of its bounding sphere (dropped)."""
    height: float
    """m kept free over its spot: its height (upright), the sphere and the gap under it (dropped)."""
    yaw: float = 0.0
    footprint: Optional[Footprint] = None
    rotation: Optional[np.ndarray] = None
    centre: Optional[np.ndarray] = None
    """The bounding sphere's centre in mesh coordinates (dropped)."""
    gap: float = 0.0

    def pose(self, xy: np.ndarray, z: float) -> np.ndarray:
        """mesh_to_world on a spot ``xy`` of a surface at height ``z``."""
        if self.rotation is not None:
            return drop_pose(self.centre, self.scale, self.rotation, np.array([*xy, z + self.radius + self.gap]))
        pose = standing_pose(self.footprint, self.scale, self.yaw, xy)
        pose[2, 3] += z
        return pose

    def record(self) -> dict:
        if self.rotation is not None:
            return {"scale": self.scale, "rotation": self.rotation.tolist(), "radius": self.radius, "gap": self.gap}
        return {"scale": self.scale, "yaw": self.yaw, "height": self.height}


def draw_drops(settings: Settings, meshes: list, scales: list[float], rng: np.random.Generator) -> list[Drop]:
    """How each of ``meshes`` at ``scales`` is put down (:class:`Drop`), drawn from ``rng``."""
    sc = settings.scene
    if sc.placement == "physics":
        drops = []
        for mesh, s in zip(meshes, scales):
            rotation = random_rotation(rng)
            centre, r = bounding_sphere(load_mesh(mesh).vertices, s)
            gap = uniform(rng, sc.physics.drop_gap)
            drops.append(Drop(scale=s, radius=r, height=2 * r + gap, rotation=rotation, centre=centre, gap=gap))
        return drops
    yaws = [float(rng.uniform(0.0, 2 * np.pi)) for _ in meshes]
    fps = [footprint(load_mesh(m).vertices, s) for m, s in zip(meshes, scales)]
    return [Drop(scale=s, radius=f.radius, height=f.height, yaw=y, footprint=f) for s, y, f in zip(scales, yaws, fps)]


def place(build: SceneBuilder, surfaces: list[Surface], keep: Callable[[np.ndarray], np.ndarray] | None = None
          ) -> tuple[list[SceneObject], dict]:
    """The objects on the surfaces (standing, or at their drop poses with scene.placement=physics),
    within scene.area_radius of a point drawn among those ``keep`` keeps (a camera's view), added
    to ``build``; the objects and their draws."""
    settings, catalog, rng = build.settings, build.catalog, build.rng
    o, sc = settings.objects, settings.scene
    anchor = None
    if sc.area_radius is not None:
        anchor = draw_point(surfaces, rng, keep)
        if anchor is None:  # the camera sees no surface: anywhere on them
            anchor = draw_point(surfaces, rng)
    region = None if anchor is None else (anchor, sc.area_radius)
    for attempt in range(1, PLACEMENT_ATTEMPTS + 1):
        n = integer(rng, o.count)
        picks, shapes = pick_objects(o, catalog, n, rng)
        scales = [a.scale * uniform(rng, sc.object_scale) for a in picks]
        drops = draw_drops(settings, [a.path for a in picks], scales, rng)
        spots = place_on_surfaces(surfaces, [d.radius for d in drops], [d.height for d in drops], sc.clearance,
                                  sc.max_tries, rng, region)
        if sum(s is not None for s in spots) >= o.count[0]:
            break
    objects, drawn, dropped = [], [], []
    for a, drop, spot, shape in zip(picks, drops, spots, shapes):
        drawn.append({"asset": a.key, **drop.record(), "surface": None if spot is None else spot[0],
                      "xy": None if spot is None else spot[1].tolist(), **({"shape": shape} if shape else {})})
        if spot is None:
            dropped.append(a.key)
            continue
        pose = drop.pose(spot[1], surfaces[spot[0]].z)
        objects.append(build.add(SceneObject(name="", mesh=a.path, mesh_to_world=pose, instance_id=0,
                                             category_id=a.category_id, asset_id=a.key,
                                             material=sample_material(settings.materials, rng))))
    params = {"count_drawn": n, "draws": attempt, "dropped": dropped, "objects": drawn,
              **({"anchor": anchor.tolist()} if anchor is not None else {})}
    if len(objects) < o.count[0]:
        build.params[SHORTFALL] = {"placed": len(objects), "wanted": o.count[0], "draws": PLACEMENT_ATTEMPTS,
                             "message": f"impossible placement: {o.count[0]} objects (objects.count[0]) did not fit "
                                        f"on the support surfaces of {file_of(sc)} ({sum(s.area for s in surfaces):.2f} "
                                        f"m^2) within scene.area_radius={sc.area_radius} m in {PLACEMENT_ATTEMPTS} "
                                        "draws; lower objects.count or scene.object_scale, raise scene.area_radius "
                                        "or name larger supports (scene.supports)"}
    return objects, params


REACH = 1.0
"""m around the dropped objects (seen from above) within which the file's parts collide with them."""


def settle_among(build: SceneBuilder, env: Environment, objects: list[SceneObject]) -> None:
    """scene.placement=physics: the simulation that settles ``objects`` (at their drop poses) among the
    file's parts within :data:`REACH` of them (closed boxes as solid boxes, the others as static meshes)."""
    pc = build.settings.scene.physics
    worlds = [load_mesh(o.mesh).vertices @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3] for o in objects]
    volumes = [box_volume(load_mesh(o.mesh).vertices, float(np.linalg.norm(o.mesh_to_world[:3, 0]))) for o in objects]
    for o, v in zip(objects, volumes):
        build.simulate(o, rigid_body(0, v, max(volumes), pc, build.rng))
    if not objects:
        return build.collide()
    every = np.concatenate(worlds)
    lo, hi = every[:, :2].min(axis=0) - REACH, every[:, :2].max(axis=0) + REACH
    near = [p for p, (blo, bhi) in zip(env.parts, env.bounds) if np.all(blo[:2] <= hi) and np.all(bhi[:2] >= lo)]
    boxes, static = world_colliders([(p.mesh, p.matrix, env.meshes[p.mesh.key]) for p in near])
    build.collide(*boxes, static=static, floor=float(env.bounds[:, 0, 2].min()) - FALL)


SIGHT_POINTS = 16
"""Points per placed object whose visibility a camera draw is judged by (:func:`sight_points`)."""


def sight_points(objects: list[SceneObject], centre: np.ndarray) -> np.ndarray:
    """(N, 3): up to :data:`SIGHT_POINTS` corners of each object's convex hull (world), moved 2 % of
    the way to its centre so that the surface it rests on does not hide them; ``centre`` alone
    when there are no objects."""
    out = []
    for o in objects:
        hull = load_mesh(o.mesh).convex_hull.vertices
        v = hull[np.linspace(0, len(hull) - 1, min(SIGHT_POINTS, len(hull))).astype(int)]
        v = v @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3]
        out.append(v + 0.02 * (v.mean(axis=0) - v))
    return np.concatenate(out) if out else np.asarray(centre, float)[None]


def visible_fraction(cam: Camera, points: np.ndarray, obstacles: Obstacles) -> float:
    """The fraction of ``points`` a camera sees: in its image, in front of it, and not hidden by the
    file's geometry (a segment from its eye meets none of ``obstacles``; the objects do not hide
    one another here)."""
    shown = in_view(cam, margin=0.0)(points)
    return float((~obstacles.blocked(cam.camera_to_world[:3, 3], points[shown])).sum()) / len(points)


def in_region(draw: dict, boxes: np.ndarray, rng: np.random.Generator) -> dict:
    """A shell draw (its lens, aim and exposure) with its eye moved to a point drawn uniformly in
    ``boxes`` ((B, 2, 3), one chosen by its volume): distance, elevation and azimuth as seen from the
    aim, and the point itself (``eye_drawn``)."""
    sizes = np.prod(np.maximum(boxes[:, 1] - boxes[:, 0], 1e-9), axis=1)
    lo, hi = boxes[int(rng.choice(len(boxes), p=sizes / sizes.sum()))]
    eye = rng.uniform(lo, hi)
    d = eye - np.asarray(draw["target"], float)
    dist = max(float(np.linalg.norm(d)), 1e-6)
    return {**draw, "distance": dist, "elevation_deg": float(np.degrees(np.arcsin(np.clip(d[2] / dist, -1, 1)))),
            "azimuth_deg": float(np.degrees(np.arctan2(d[1], d[0]))), "eye_drawn": eye.tolist()}


def centre_of(objects: list[SceneObject], surfaces: list[Surface], env: Environment) -> np.ndarray:
    """The middle of the placed objects (their meshes' bounds), else of the largest surface, else
    (a file with no level area, played with objects.count=[0,0]: a character alone) of the file's parts."""
    if objects:
        boxes = [load_mesh(o.mesh).bounds @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3] for o in objects]
        return np.mean([(b.min(axis=0) + b.max(axis=0)) / 2 for b in boxes], axis=0)
    if not surfaces:
        b = env.bounds
        return (b[:, 0].min(axis=0) + b[:, 1].max(axis=0)) / 2
    s = max(surfaces, key=lambda s: s.area)
    rows, cols = np.nonzero(s.support)
    return np.array([*s.xy(rows, cols).mean(axis=0), s.z])


def file_views(settings: Settings, env: Environment, rng: np.random.Generator, length: int
               ) -> tuple[list[Camera], list[dict]]:
    """``length`` cameras drawn from the file's cameras scene.cameras names, jittered, and their draws."""
    sc, r = settings.scene, settings.render
    named = [c for c in env.cameras if any(fnmatch.fnmatchcase(c["name"], g) for g in sc.cameras)]
    if not named:
        raise SimgenError(f"scene.cameras={list(sc.cameras)} names no camera of {env.file} (its cameras: "
                          f"{', '.join(c['name'] for c in env.cameras) or 'none'})")
    cameras, draws = [], []
    for _ in range(length):
        c = named[int(rng.integers(len(named)))]
        K, pose = file_camera(c, r.width, r.height)
        moved = rng.normal(0.0, sc.camera_jitter[0], 3) if sc.camera_jitter[0] > 0 else np.zeros(3)
        turn = float(rng.normal(0.0, sc.camera_jitter[1])) if sc.camera_jitter[1] > 0 else 0.0
        pose[:3, 3] += moved
        if turn:
            pose[:3, :3] = axis_angle(unit_vector(rng), np.radians(turn)) @ pose[:3, :3]
        exposure = uniform(rng, settings.camera.exposure)
        cameras.append(Camera(width=r.width, height=r.height, K=K, world_to_camera=invert_rigid(pose),
                              clip_start=c["clip_start"], clip_end=c["clip_end"], exposure=exposure))
        draws.append({"file_camera": c["name"], "moved": moved.tolist(), "turn_deg": turn, "exposure_stops": exposure})
    return cameras, draws


def in_view(cam: Camera, margin: float = 0.1) -> Callable[[np.ndarray], np.ndarray]:
    """Which world points (N, 3) a camera sees in front of it, ``margin`` of the image in from its edges."""
    def keep(points: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):  # points behind the camera: refused by z
            uv, z = project(cam.K, cam.world_to_camera, points)
        u, v = uv[:, 0], uv[:, 1]
        mu, mv = margin * cam.width, margin * cam.height
        return (z > cam.clip_start) & (u >= mu) & (u <= cam.width - mu) & (v >= mv) & (v <= cam.height - mv)
    return keep


def make_sequence(settings: Settings, catalog: Catalog, rng: np.random.Generator, length: int) -> list[Scene]:
    sc = settings.scene
    build = SceneBuilder(settings, catalog, rng)
    saved = load_environment(file_of(sc)).clip(sc.animation_clip)
    frames = animation_frames(sc, saved, rng, length)
    env = saved if frames is None else saved.at(frames[0])  # objects placed where the parts are at the first step
    surfaces = surfaces_of(env, sc, None if frames is None else frames[0], saved,
                           required=settings.objects.count[1] > 0)  # none needed where no object stands
    views = file_views(settings, env, rng, length) if sc.cameras else None
    objects, obj_params = place(build, surfaces, in_view(views[0][0]) if views else None)
    moved = functools.lru_cache(maxsize=None)(lambda step: saved.at(frames[step]).parts)  # the animation's parts
    for k, (p, c, m) in enumerate(zip(env.parts, part_categories(env, sc, catalog), part_materials(settings, env, rng))):
        build.add(SceneObject(name=f"env_{p.name}", mesh=p.mesh, mesh_to_world=p.matrix, instance_id=0, category_id=c,
                              material=m, role="environment"),
                  moves=None if frames is None else lambda step, k=k: (moved(step)[k].mesh, moved(step)[k].matrix))
    if sc.placement == "physics":
        settle_among(build, env, objects)
    centre = centre_of(objects, surfaces, env)
    obstacles = geometry_of(env)[1]
    lights, world, light_params = sample_lights(settings.lighting, centre, rng)
    if sc.file_world:
        if not env.world:
            raise SimgenError(f"scene.file_world=true but {env.file} has no world shader of its own (a .blend "
                              "scene's world); set scene.file_world=false to use lighting.world")
        world = World(kind="file", file=env.file)
        light_params.update(world=world.to_dict(), world_strength=world.strength)
    if sc.file_lights and env.lights:
        own, light_params["file_lights"] = file_lights(env, sc, rng)
        lights = own + lights
    build.use_lights(lights, world, light_params)
    build.params.update({"file": str(env.file), "objects": obj_params, "placement": {"mode": sc.placement},
                         "surfaces": [{"z": s.z, "area": s.area, "parts": list(s.parts)} for s in surfaces]})
    targets = sight_points(objects, centre)
    regions = volume_boxes(env, sc.camera_regions, "scene.camera_regions") if sc.camera_regions else None
    steps = iter(range(length))

    def view() -> tuple[Camera, dict]:
        """The step's camera: the file's (views), else the best of up to CAMERA_TRIES shell draws."""
        if views is not None:
            step = next(steps)
            cam, draw = views[0][step], views[1][step]
            seen, tries = visible_fraction(cam, targets, obstacles), 1
        else:
            best = None
            for tries in range(1, CAMERA_TRIES + 1):
                draw = sample_shell(settings.camera, sc, centre, rng)
                if regions is not None:
                    draw = in_region(draw, regions, rng)
                cam = draw_camera(settings, draw)
                seen = visible_fraction(cam, targets, obstacles)
                if best is None or seen > best[0]:
                    best = seen, cam, draw
                if seen >= sc.min_visible:
                    break
            seen, cam, draw = best
        return cam, {**draw, "eye": cam.camera_to_world[:3, 3].tolist(), "tries": tries, "visible": seen}

    a = saved.animation
    animation = None if frames is None else (
        lambda step: {"animation": {"mode": sc.animation, "frame": frames[step], "fps": a.fps, "clip": a.clip,
                                    "frames": list(a.frames)}})
    return build.scenes(length, view, animation)


RECIPE = Recipe(name="environment", Config=Config, make_sequence=make_sequence, check=check,
                categories=lambda settings: list(settings.scene.labels))
