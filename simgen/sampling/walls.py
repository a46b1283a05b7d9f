"""Walls, a ceiling and backdrop photos placed where a camera looks: the background kinds
``ground``, ``walls`` and ``room`` that any recipe standing objects on a ground plane can use.

Geometry of a camera's view (:func:`eye_of`, :func:`pixel_ray`, :func:`wall_in_view`,
:func:`top_of_view`, :func:`wall_reach`), lights brought inside the walls (:func:`bring_inside`),
the walls' paint (:func:`wall_material`), and the samplers :func:`sample_background` (the walls
and ceiling) and :func:`wall_photos` (photos on them and the backdrop). Pure: no Blender; the
samplers draw from the ``numpy.random.Generator`` they are given.

The samplers read the recipe's ``settings.scene`` fields of the same names as the tabletop
recipe's (``scenes/tabletop.py`` Config, where they are documented): ``wall_distance``,
``wall_foot``, ``wall_height``, ``room_light``, ``ground_size`` and ``background_dir``; and
``settings.materials`` and ``settings.render.max_image_pixels``. A recipe that passes its
settings declares those fields.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from simgen.assets import Catalog
from simgen.assets.images import image_aspect, photo_files
from simgen.config import Settings
from simgen.optics.camera import BLENDER_TO_OPENCV, look_at
from simgen.scene.data import Camera, Light, Material, SceneObject, Texture, World
from simgen.scene.transforms import plane_pose, rot_z
from simgen.sampling.materials import sample_material
from simgen.sampling.random import integer, uniform


BACKGROUNDS = ("ground", "walls", "room")
"""Background kinds of :func:`sample_background`."""

WALL_MARGIN = 0.15
"""Metres kept between a wall (or the ceiling) and the camera or a light inside it."""
OBJECT_MARGIN = 0.12
"""Metres kept between a wall and the nearest object vertex in front of it."""
WALL_YAW = 20.0
"""Degrees: the back wall's normal is turned up to this far from the camera's viewing direction."""
MAX_WALL_HEIGHT = 20.0
"""Metres: walls raised to reach the top of the frame stop here (a camera looking up)."""


def eye_of(cam: Camera) -> np.ndarray:
    """The camera's position (its optical centre) in world coordinates."""
    return -cam.world_to_camera[:3, :3].T @ cam.world_to_camera[:3, 3]


def pixel_ray(cam: Camera, u: float, v: float) -> np.ndarray:
    """World direction (unit) of the ray through pixel (u, v) (OpenCV pixel-centre coordinates),
    through the camera's lens when it has one."""
    local = cam.lens.unproject(np.array([[u, v]]))[0] if cam.lens is not None else np.linalg.solve(cam.K, [u, v, 1.0])
    d = cam.world_to_camera[:3, :3].T @ local
    return d / np.linalg.norm(d)


def wall_in_view(cam: Camera, n: np.ndarray, foot: float) -> float | None:
    """Distance along the unit horizontal outward ``n`` of a wall whose foot (where it meets
    the ground) the camera sees ``foot`` of the image height from the top, on the vertical
    line through the principal point; None when that ray does not go down to the ground."""
    eye = eye_of(cam)
    d = pixel_ray(cam, cam.K[0, 2], foot * cam.height - 0.5)
    if d[2] > -1e-6 or eye[2] <= 0.0:
        return None
    return float((eye - eye[2] / d[2] * d) @ n)


def top_of_view(cam: Camera, n: np.ndarray, dist: float) -> float:
    """Height at which the ray through the top centre of the image meets the wall at ``dist``
    along ``n`` (MAX_WALL_HEIGHT when it runs away from the wall or upwards past that)."""
    eye = eye_of(cam)
    d = pixel_ray(cam, cam.K[0, 2], -0.5)
    if d @ n <= 1e-6:
        return MAX_WALL_HEIGHT
    return float(min(eye[2] + (dist - eye @ n) / (d @ n) * d[2], MAX_WALL_HEIGHT))


def wall_reach(cam: Camera, keep_out: np.ndarray) -> float:
    """The fraction of the image height, from the top on the vertical centre line, that a
    back wall facing ``cam`` can fill at most: placed just behind ``keep_out`` (the objects),
    where the camera sees its foot. 0 when the camera sees no ground behind them."""
    look = pixel_ray(cam, cam.K[0, 2], cam.K[1, 2])
    if np.hypot(look[0], look[1]) < 1e-6:
        return 0.0
    n = np.array([look[0], look[1], 0.0]) / np.hypot(look[0], look[1])
    eye = eye_of(cam)
    d = max(float(np.max(keep_out @ n)) + OBJECT_MARGIN if len(keep_out) else 0.0, eye @ n + WALL_MARGIN)
    foot = np.array([eye[0], eye[1], 0.0]) + (d - eye @ n) * n
    pc = cam.world_to_camera[:3, :3] @ foot + cam.world_to_camera[:3, 3]
    if pc[2] <= 0:
        return 1.0 if eye[2] > 0 and look[2] >= 0 else 0.0  # looking level or up: the wall fills the top
    v = cam.K[1] @ pc / pc[2]
    return float(np.clip((v + 0.5) / cam.height, 0.0, 1.0))


def bring_inside(light: Light, target: np.ndarray, walls: list[tuple[np.ndarray, float]], ceiling: float | None
                 ) -> tuple[Light, bool]:
    """``light`` mirrored in every wall (outward normal, distance) it stands behind (or
    beyond WALL_MARGIN plus its size of), and lowered under the ceiling, then aimed at
    ``target`` again; the light and whether it moved. Suns stay: they light through walls."""
    p = light.light_to_world[:3, 3].copy()
    if light.kind == "sun":  # behind a wall (walls cast shadows; a room's do not): shine on its front instead
        if ceiling is not None:
            return light, False
        for n, _ in walls:
            if (p - target) @ n > 0:
                p -= 2.0 * ((p - target) @ n) * n
        if np.allclose(p, light.light_to_world[:3, 3]):
            return light, False
        pose = np.linalg.inv(look_at(p, target)) @ BLENDER_TO_OPENCV
        return dataclasses.replace(light, light_to_world=pose), True
    m = WALL_MARGIN + max(light.size, 0.0)
    for _ in range(3):  # a mirrored light may cross the next wall of a corner
        for n, d in walls:
            if p @ n > d - m:
                p -= 2.0 * (p @ n - (d - m)) * n
        if ceiling is not None:
            p[2] = min(p[2], ceiling - m)
    if np.allclose(p, light.light_to_world[:3, 3]):
        return light, False
    if np.linalg.norm(p - target) < 1e-6:
        p = p + np.array([0.0, 0.0, 0.1])
    pose = np.linalg.inv(look_at(p, target)) @ BLENDER_TO_OPENCV  # local -Z towards the target
    return dataclasses.replace(light, light_to_world=pose), True


WALL_ALBEDO = 0.35
"""The least brightest channel (linear) of a wall's or ceiling's base colour."""


def wall_material(m: Material) -> Material:
    """A drawn material made a wall's: not metallic (a metal wall mirrors the dark world,
    not the light on it) and painted: its colour scaled up to WALL_ALBEDO where darker."""
    top = max(m.base_color)
    color = m.base_color if top >= WALL_ALBEDO else tuple(
        float(c) * WALL_ALBEDO / top if top > 0 else WALL_ALBEDO for c in m.base_color)
    return dataclasses.replace(m, base_color=tuple(color), metallic=0.0)


def sample_background(settings: Settings, catalog: Catalog, rng: np.random.Generator, kind: str,
                      ground: SceneObject, cameras: list[Camera], inside: list[np.ndarray], keep_out: np.ndarray,
                      lights: list[Light], target: np.ndarray) -> tuple[list[SceneObject], list[Light], dict]:
    """Walls (and a ceiling) of background ``kind`` placed where the camera looks. Draws
    nothing for "ground".

    The back wall faces the sequence's first camera (its normal within WALL_YAW of the
    viewing direction) at the distance where that camera sees its foot scene.wall_foot of the
    image height from the top, but behind every point of ``keep_out`` (the objects' vertices)
    by OBJECT_MARGIN. Walls are pushed out (and raised) until every camera position and
    point of ``inside`` (e.g. a table's corners) lies WALL_MARGIN inside; the other walls
    stand at scene.wall_distance. Walls are raised to the top of the first camera's frame.
    Lights behind a wall are mirrored to its front (see bring_inside); a room also gets an area
    light under its ceiling (scene.room_light). ``ground`` is turned with the walls and grown to
    reach under them.

    Reads settings.scene.wall_distance, wall_foot, wall_height, ground_size and room_light of the
    recipe passing ``settings`` (the tabletop's fields) and draws the walls' materials from
    settings.materials."""
    sc = settings.scene
    if kind == "ground":
        return [], lights, {"background": {"kind": "ground"}}
    eyes = [eye_of(c) for c in cameras]
    points = [np.asarray(e, float) for e in eyes] + [np.asarray(e, float) for e in inside]
    ref = cameras[0]
    look = pixel_ray(ref, ref.K[0, 2], ref.K[1, 2])
    if np.hypot(look[0], look[1]) > 1e-6:
        view = float(np.degrees(np.arctan2(look[1], look[0])))
    else:  # straight down: away from the camera's image "up"
        up = -ref.world_to_camera[1, :3]
        view = float(np.degrees(np.arctan2(up[1], up[0])))
    back = view + float(rng.uniform(-WALL_YAW, WALL_YAW))
    if kind == "walls":  # behind the objects as seen from the camera, around a corner
        n_walls = integer(rng, [2, 3])
        turns = [0, 1, -1] if n_walls == 3 else [0, int(rng.choice([-1, 1]))]
    else:
        turns = [0, 1, 2, 3]
    z = np.array([0.0, 0.0, 1.0])
    normals = [np.array([np.cos(np.radians(back + 90 * t)), np.sin(np.radians(back + 90 * t)), 0.0])
               for t in turns]  # outward
    drawn_d = [uniform(rng, sc.wall_distance) for _ in normals]
    foot = uniform(rng, sc.wall_foot)
    seen = wall_in_view(ref, normals[0], foot)
    if seen is not None:
        drawn_d[0] = seen
    floor = [max((float(np.max(keep_out @ n)) + OBJECT_MARGIN) if len(keep_out) else 0.0,
                 *(p @ n + WALL_MARGIN for p in points)) for n in normals]
    dists = [max(d, f) for d, f in zip(drawn_d, floor)]
    drawn_h = uniform(rng, sc.wall_height)
    height = max(drawn_h, *(p[2] + WALL_MARGIN for p in points))
    if kind == "walls":
        height = max(height, top_of_view(ref, normals[0], dists[0]) + 0.1)
    # photos on the walls are as tall as the back wall's part in view: the camera sees them whole
    photo_height = float(np.clip(top_of_view(ref, normals[0], dists[0]), 0.3, height + 0.1))
    span = 2.0 * max(dists) + 0.2  # walls overlap at the corners, outside the room
    poses = []
    for d, n in zip(dists, normals):  # x along the wall, y up: the normal u x v = -n faces the centre
        u = np.cross(n, z)
        poses.append(plane_pose(d * n + (height / 2.0) * z, u, z, span, height + 0.1))
    if kind == "room":  # the ground square turned over: normal -Z
        u0 = np.array([np.cos(np.radians(back)), np.sin(np.radians(back)), 0.0])
        poses.append(plane_pose(height * z, u0, np.cross(-z, u0), span, span))
    # the ground turned with the walls and grown to reach under them
    g = max(sc.ground_size, span)
    ground.mesh_to_world = np.diag([g, g, g, 1.0])
    ground.mesh_to_world[:3, :3] = rot_z(np.radians(back)) * g
    names = [f"wall{k}" for k in range(len(dists))] + (["ceiling"] if kind == "room" else [])
    # a room is closed: the sun and the world light shine through its walls, or it would be dark
    out = [SceneObject(name=name, mesh=catalog.ground, mesh_to_world=pose, instance_id=0,
                       category_id=0, material=wall_material(sample_material(settings.materials, rng)),
                       role="wall", casts_shadow=kind != "room")
           for name, pose in zip(names, poses)]
    walls = list(zip(normals, dists))
    moved = [bring_inside(li, target, walls, height if kind == "room" else None) for li in lights]
    lights = [li for li, _ in moved]
    params = {"kind": kind, "yaw_deg": back, "view_deg": view, "foot": foot, "foot_distance": seen,
              "wall_distance_drawn": drawn_d, "wall_distance": dists, "wall_height_drawn": drawn_h,
              "wall_height": height, "wall_size": [[span, height + 0.1]] * len(dists), "photo_height": photo_height,
              "ground_size": g, "casts_shadow": kind != "room",
              "lights_moved_inside": [li.light_to_world[:3, 3].tolist() if k else None for li, k in moved]}
    if kind == "room" and sc.room_light[1] > 0:
        c = 0.5 * (dists[0] - dists[2]) * normals[0] + 0.5 * (dists[1] - dists[3]) * normals[1]
        size = float(np.clip(0.25 * min(dists[0] + dists[2], dists[1] + dists[3]), 0.2, 1.5))
        pose = np.eye(4)  # an area light shines down its local -Z
        pose[:3, 3] = c + (height - WALL_MARGIN) * z
        power = uniform(rng, sc.room_light)
        lights.append(Light(kind="area", light_to_world=pose, power=power, color=(1.0, 1.0, 1.0), size=size))
        params["room_light"] = {"power": power, "size": size, "position": pose[:3, 3].tolist()}
    return out, lights, {"background": params}


def wall_photos(settings: Settings, rng: np.random.Generator, scene_objects: list[SceneObject], world: World,
                params: dict) -> tuple[list[SceneObject], World, dict]:
    """scene.background_dir: a photo drawn for the world backdrop (what the camera sees
    where it hits nothing) and one per wall, standing on the wall's foot as tall as the
    back wall's part in view (params photo_height), its aspect kept, mirrored where it
    repeats. Drawn last, so the rest of the scene, and its labels,
    are those drawn without photos. ``params`` are :func:`sample_background`'s (its
    ``background`` entry). Reads settings.scene.background_dir and settings.render.max_image_pixels."""
    folder = settings.scene.background_dir
    if folder is None:
        return scene_objects, world, {}
    files = photo_files("scene.background_dir", folder, settings.render.max_image_pixels)
    backdrop = files[int(rng.integers(len(files)))]
    world = dataclasses.replace(world, backdrop=backdrop)
    used = {"backdrop": str(backdrop), "walls": {}}
    sizes, tall = params.get("wall_size", []), params.get("photo_height", 1.0)
    out = []
    for o in scene_objects:
        if o.name.startswith("wall"):
            photo = files[int(rng.integers(len(files)))]
            w, h = sizes[int(o.name[4:])]
            tex = Texture(kind="image", color2=(0.0, 0.0, 0.0), image=str(photo),
                          repeat=(w / (tall * image_aspect(photo)), h / tall))
            o = dataclasses.replace(o, material=dataclasses.replace(o.material, texture=tex, metallic=0.0,
                                                                    roughness=max(o.material.roughness, 0.5)))
            used["walls"][o.name] = str(photo)
        out.append(o)
    return out, world, {"photos": used}


def sc_area_circle(radius: float) -> np.ndarray:
    """Points on the circle of ``radius`` around the origin (keep-out of dropped objects)."""
    a = np.linspace(0.0, 2 * np.pi, 72, endpoint=False)
    return np.stack([radius * np.cos(a), radius * np.sin(a), np.zeros_like(a)], axis=1)
