"""Flying objects, in the spirit of FlyingThings3D: many catalog objects and distractors
tumbling through the air in front of a textured background plane, for training optical
flow and depth networks.

Every object (annotated catalog assets first, then unannotated distractors of category 0)
is rescaled to a random size, placed at step 0 with its centre inside the view frustum
at a random depth, and moves rigidly with its own constant velocity and spin about a
random axis through its bounding-box centre::

    mesh_to_world(k) = T(p0 + k v) @ R(axis, k omega) @ R0 @ S(s) @ T(-c)

(``c``: the mesh's bounding-box centre, ``s``: the scale, ``R0``: a uniformly random
start orientation), so the centre moves by exactly ``v`` per step. Objects may intersect
each other and leave the view; there are no other placement constraints, so occlusion
is heavy. The camera translates and turns about its own centre at constant rates too.

The background is the catalog's ground plane, turned to face the camera at step 0 at
``background_distance`` along its optical axis and scaled so that it fills the image at
every step. Distractors come from the catalog's ``distractors:`` list; a catalog without
one (e.g. your own) gets no distractors, never unannotated copies of catalog assets.

Every random draw is recorded in ``Scene.params`` (or in the objects, lights and camera).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from simgen.errors import SimgenError
from simgen.assets import Catalog, load_mesh
from simgen.assets.images import image_aspect, photo_files
from simgen.config import Settings
from simgen.config.schema import setting, span
from simgen.optics.camera import BLENDER_TO_OPENCV, intrinsics, look_at
from simgen.scene.meshes import MeshRef
from simgen.scene.data import MAX_INSTANCE_ID, Camera, Scene, SceneObject, Texture
from simgen.scene.transforms import axis_angle, invert_rigid, quaternion_matrix, rigid
from simgen.recipes import Recipe, SceneBuilder
from simgen.sampling.lighting import sample_lights
from simgen.sampling.materials import draw_texture, sample_material
from simgen.sampling.objects import pick_objects
from simgen.sampling.random import direction, integer, pick, random_quaternion, unit_vector, uniform


@dataclass
class Config:
    """Flying objects (FlyingThings3D-style): catalog objects and distractors tumbling in front
    of a textured background plane, with large motions and heavy occlusion; the camera moves
    too. objects.count sets the number of annotated objects; their sizes come from scene.size."""

    recipe: str = setting("flying")
    """Recipe module under scenes/ (scenes/<recipe>.py)."""
    depth: list[float] = span([1.5, 6.0], gt=0.0)
    """Depth range (m, along the optical axis) of object centres at step 0: each centre is
    uniform in the volume of the view frustum between these depths (so far depths are
    likelier than near ones), i.e. every object starts inside the view."""
    size: list[float] = span([0.4, 1.5], gt=0.0)
    """Largest bounding-box extent of each annotated object, metres (the mesh is rescaled)."""
    speed: list[float] = span([0.02, 0.25], ge=0.0)
    """Metres per step each object's centre moves, in a uniformly random 3D direction."""
    spin: list[float] = span([0.02, 0.35], ge=0.0)
    """Radians per step each object turns about a random axis through its bounding-box centre."""
    distractors: list[int] = span([4, 10], ge=0, le=MAX_INSTANCE_ID)
    """Number of distractors (catalog 'distractors:' meshes, category 0, not annotated),
    inclusive range; they move like the objects. A catalog without distractors gets none."""
    distractor_size: list[float] = span([0.3, 1.0], gt=0.0)
    """Largest bounding-box extent of each distractor, metres."""
    background_distance: list[float] = span([8.0, 12.0], gt=0.0)
    """Distance (m) of the background plane along the optical axis at step 0; it faces the
    camera and is made large enough to fill the image at every step."""
    camera_pitch: list[float] = span([-15.0, 15.0], ge=-89.0, le=89.0)
    """Degrees the camera looks above (+) or below the horizon at step 0 (random heading)."""
    camera_roll: list[float] = span([-10.0, 10.0])
    """Degrees the camera is rolled about its optical axis at step 0."""
    camera_speed: list[float] = span([0.0, 0.08], ge=0.0)
    """Sequences: metres per step the camera moves, in a random direction."""
    camera_spin: list[float] = span([0.0, 0.02], ge=0.0)
    """Sequences: radians per step the camera turns about a random axis through its centre.
    If a sequence's camera motion would show past the background's edge (or turn nearly
    parallel to it), the drawn camera speed and spin are halved until it does not."""
    background_texture_scale: list[float] = span([0.5, 3.0], gt=0.0)
    """Background pattern frequency, features (checker cells, waves, ...) per metre. The kinds,
    distortion and detail of every texture are the materials group's (materials.textures,
    materials.texture_distortion, materials.texture_detail)."""
    object_texture_probability: float = setting(0.7, ge=0.0, le=1.0)
    """Chance that an object or distractor is textured (else a plain colour; features across
    it: materials.texture_scale); the background always is. The two colours come from the
    materials group. It stands for materials.texture_probability, which flying does not read."""
    background_dir: Optional[str] = setting(None, example="/path/to/photos")
    """A folder of photos (.png .jpg .jpeg .tif .tiff .bmp .tga): each sequence draws one
    for the background plane instead of its pattern, as tall as the frame at step 0 and
    centred on the optical axis there, its aspect kept (mirrored copies beyond it).
    null: the drawn textures."""
    light_scale: float = setting(4.0, gt=0.0)
    """The scene is larger than a tabletop: lighting.distance and lighting.size are
    multiplied by this and point, spot and area powers by its square. Lights are drawn
    around the middle of the depth range; lights behind the background (and a sun
    shining from behind the middle) are mirrored to the camera's side."""


MAX_GRAZING_DEG = 75.0
"""The background must meet every corner ray of the image at less than this angle from
its normal (beyond it, the plane needed grows without bound)."""
BACKGROUND_MARGIN = 1.2
"""The background plane is this much larger than the largest footprint of the image on it."""
MIN_BACKGROUND_GAP = 0.5
"""The camera stays at least this fraction of background_distance in front of the background."""
CAMERA_MOTION_HALVINGS = 40
"""Times the camera motion is halved before it is dropped (the static camera always fits)."""


def check(settings: Settings) -> None:
    """Cross-field rules of the flying scene (each field's own bounds are declared above)."""
    sc = settings.scene
    if sc.background_distance[0] <= sc.depth[1]:
        raise SimgenError(f"scene.background_distance {list(sc.background_distance)} must lie beyond the "
                          f"objects' scene.depth {list(sc.depth)}")
    if sc.background_distance[1] >= settings.camera.clip_end:
        raise SimgenError(f"scene.background_distance {list(sc.background_distance)} must lie within "
                          f"camera.clip_end={settings.camera.clip_end}")
    if sc.background_dir is not None:
        photo_files("scene.background_dir", sc.background_dir, settings.render.max_image_pixels)
    if settings.objects.count[1] + sc.distractors[1] + 1 > MAX_INSTANCE_ID:  # + 1: the background plane
        raise SimgenError(f"objects.count={list(settings.objects.count)} and scene.distractors="
                          f"{list(sc.distractors)} allow more than {MAX_INSTANCE_ID - 1} objects (the limit is "
                          f"{MAX_INSTANCE_ID} with the background); lower them")
    r = settings.render
    half_diagonal = np.hypot(r.width, r.height) / 2.0
    f_min = settings.camera.focal_length[0] / settings.camera.sensor_width * r.width
    if np.degrees(np.arctan2(half_diagonal, f_min)) >= MAX_GRAZING_DEG:
        need = half_diagonal / np.tan(np.radians(MAX_GRAZING_DEG)) / r.width * settings.camera.sensor_width
        raise SimgenError(f"camera.focal_length {list(settings.camera.focal_length)} gives a field of view too "
                          f"wide for a background plane; use focal lengths of at least {np.ceil(need):g} mm")


# ------------------------------------------------------------------ geometry


def flyer_pose(draw: dict, center: np.ndarray, k: int) -> np.ndarray:
    """mesh_to_world at step ``k`` of an object drawn by :func:`sample_flyer`."""
    s, c = draw["scale"], np.asarray(center, float)
    local = np.eye(4)
    local[:3, :3] = s * np.eye(3)
    local[:3, 3] = -s * c  # S @ T(-c): the bounding-box centre goes to the origin
    rot = axis_angle(np.array(draw["spin_axis"]), k * draw["spin"]) @ quaternion_matrix(np.array(draw["quaternion"]))
    position = np.array(draw["position"]) + k * np.array(draw["velocity"])
    return rigid(rot, position) @ local


def camera_poses(start: dict, motion: dict, length: int) -> list[np.ndarray]:
    """camera_to_world (OpenCV axes) at every step: the centre moves at a constant velocity,
    the camera turns about its centre at a constant angular velocity."""
    eye, rot = np.array(start["eye"]), np.array(start["rotation"])
    f = motion["scale"]
    v = f * motion["speed"] * np.array(motion["direction"])
    return [rigid(axis_angle(np.array(motion["axis"]), k * f * motion["spin"]) @ rot, eye + k * v)
            for k in range(length)]


def corner_rays(K: np.ndarray, width: int, height: int) -> np.ndarray:
    """Camera-frame directions (4, 3), z = 1, through the outer corners of the image."""
    u = np.array([-0.5, width - 0.5, width - 0.5, -0.5])
    v = np.array([-0.5, -0.5, height - 0.5, height - 0.5])
    return np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones(4)], axis=1)


def background_half_size(c2ws: list[np.ndarray], K: np.ndarray, width: int, height: int,
                         center: np.ndarray, axes: np.ndarray) -> float | None:
    """Half the edge of the square (centre ``center``, in-plane axes ``axes[0]``, ``axes[1]``,
    normal ``axes[2]`` pointing away from the cameras) that every camera sees fill its image,
    or None if some camera sees past any finite square, grazes it or comes too close."""
    n = axes[2]
    gap = float(np.dot(center - c2ws[0][:3, 3], n))
    half = 0.0
    cos_limit = np.cos(np.radians(MAX_GRAZING_DEG))
    for c2w in c2ws:
        eye = c2w[:3, 3]
        to_plane = float(np.dot(center - eye, n))
        if to_plane < MIN_BACKGROUND_GAP * gap:
            return None
        d = corner_rays(K, width, height) @ c2w[:3, :3].T
        cos = (d @ n) / np.linalg.norm(d, axis=1)
        if np.any(cos < cos_limit):
            return None
        hits = eye + (to_plane / (d @ n))[:, None] * d - center
        half = max(half, float(np.abs(hits @ axes[0]).max()), float(np.abs(hits @ axes[1]).max()))
    return half


# ------------------------------------------------------------------ sampling


def sample_texture(settings: Settings, rng: np.random.Generator, scale_range: list[float],
                   scale_factor: float = 1.0) -> Texture:
    """A texture of the materials group's kinds and ranges at the given scale (features per
    metre for the background, across the object for an object)."""
    m = settings.materials
    return draw_texture(m, rng, m.textures, scale_range, m.texture_distortion, m.texture_detail, scale_factor)


def sample_flyer(settings: Settings, mesh_ref: MeshRef, size_range: list[float], cam: dict,
                 rng: np.random.Generator) -> dict:
    """Size, start pose and motion of one flying object (all JSON-ready)."""
    sc, r = settings.scene, settings.render
    mesh = load_mesh(mesh_ref)
    size = uniform(rng, size_range)
    extent = float(np.max(mesh.extents))
    near, far = sc.depth
    depth = float(np.cbrt(near ** 3 + rng.uniform() * (far ** 3 - near ** 3)))  # uniform in the frustum's volume
    pixel = [float(rng.uniform(0.0, r.width - 1.0)), float(rng.uniform(0.0, r.height - 1.0))]
    K = np.array(cam["K"])
    ray = np.array([(pixel[0] - K[0, 2]) / K[0, 0], (pixel[1] - K[1, 2]) / K[1, 1], 1.0])
    position = np.array(cam["eye"]) + np.array(cam["rotation"]) @ (depth * ray)
    q = random_quaternion(rng)
    speed, heading = uniform(rng, sc.speed), unit_vector(rng)
    spin, spin_axis = uniform(rng, sc.spin), unit_vector(rng)
    return {"size": size, "scale": size / extent, "depth": depth, "pixel": pixel, "position": position.tolist(),
            "quaternion": q.tolist(), "speed": speed, "direction": heading.tolist(),
            "velocity": (speed * heading).tolist(), "spin": spin, "spin_axis": spin_axis.tolist()}


def sample_camera(settings: Settings, rng: np.random.Generator) -> dict:
    """The camera at step 0: at the origin, random heading, pitch and roll, random focal length."""
    c, r, sc = settings.camera, settings.render, settings.scene
    yaw, pitch, roll = float(rng.uniform(0.0, 360.0)), uniform(rng, sc.camera_pitch), uniform(rng, sc.camera_roll)
    focal = uniform(rng, c.focal_length)
    eye = np.zeros(3)
    rot = look_at(eye, direction(yaw, pitch)).T[:3, :3]  # camera_to_world rotation (OpenCV axes)
    rot = rot @ axis_angle(np.array([0.0, 0.0, 1.0]), np.radians(roll))
    return {"eye": eye.tolist(), "rotation": rot.tolist(), "yaw_deg": yaw, "pitch_deg": pitch, "roll_deg": roll,
            "focal_length_mm": focal, "sensor_width_mm": c.sensor_width,
            "K": intrinsics(focal, c.sensor_width, r.width, r.height).tolist()}


def sample_lighting(settings: Settings, eye: np.ndarray, center: np.ndarray, axis: np.ndarray,
                    background: float, rng: np.random.Generator):
    """tabletop's lights, scaled up by scene.light_scale around ``center`` and kept on the
    camera's side of the background (see :attr:`Config.light_scale`)."""
    lights, world, params = sample_lights(settings.lighting, center, rng)
    s = settings.scene.light_scale
    out = []
    for light, drawn in zip(lights, params["lights"]):
        pos = light.light_to_world[:3, 3].copy()
        if light.kind == "sun":
            mirrored = float(np.dot(pos - center, axis)) > 0.0  # shining from behind: all in shadow
        else:
            pos = center + s * (pos - center)
            mirrored = float(np.dot(pos - eye, axis)) > 0.9 * background
        if mirrored:
            pos = pos - 2.0 * float(np.dot(pos - center, axis)) * axis
        pose = np.linalg.inv(look_at(pos, center)) @ BLENDER_TO_OPENCV
        scaled = light.kind != "sun"
        out.append(dataclasses.replace(light, light_to_world=pose,
                                       power=light.power * (s * s if scaled else 1.0),
                                       size=light.size * (s if scaled else 1.0)))
        drawn.update({"mirrored": mirrored, "position": pos.tolist()})
    params["light_scale"] = s
    return out, world, params


def camera_motion(settings: Settings, rng: np.random.Generator, start: dict, length: int,
                  bg_center: np.ndarray, bg_axes: np.ndarray) -> tuple[dict, list[np.ndarray], float]:
    """Draw the camera motion; halve it until the background fills every step's image.

    Returns (motion draws, camera_to_world per step, background half size)."""
    sc, r = settings.scene, settings.render
    motion = {"speed": uniform(rng, sc.camera_speed), "direction": unit_vector(rng).tolist(),
              "spin": uniform(rng, sc.camera_spin), "axis": unit_vector(rng).tolist(), "scale": 1.0}
    K = np.array(start["K"])
    for i in range(CAMERA_MOTION_HALVINGS + 1):
        motion["scale"] = 0.5 ** i if i < CAMERA_MOTION_HALVINGS else 0.0
        c2ws = camera_poses(start, motion, length)
        half = background_half_size(c2ws, K, r.width, r.height, bg_center, bg_axes)
        if half is not None:
            return motion, c2ws, half
    raise AssertionError("a static camera always sees the background")  # check() ensures it


def make_sequence(settings: Settings, catalog: Catalog, rng: np.random.Generator, length: int) -> list[Scene]:
    """``length`` steps of one flying-objects scene (see the module docstring)."""
    sc, r, c = settings.scene, settings.render, settings.camera
    build = SceneBuilder(settings, catalog, rng)
    cam = sample_camera(settings, rng)
    rot0 = np.array(cam["rotation"])
    axis = rot0[:, 2]  # optical axis at step 0
    bg_distance = uniform(rng, sc.background_distance)
    bg_center = np.array(cam["eye"]) + bg_distance * axis
    bg_axes = np.stack([rot0[:, 0], rot0[:, 1], axis])
    motion, c2ws, half = camera_motion(settings, rng, cam, length, bg_center, bg_axes)

    def fly(name: str, mesh: MeshRef, size: list[float], category_id: int, asset_id: str) -> dict:
        """A flying object: its size, start and motion drawn, its material (textured by
        scene.object_texture_probability); returns its draws."""
        draw = sample_flyer(settings, mesh, size, cam, rng)
        material = sample_material(settings.materials, rng, texture=False)
        draw["textured"] = bool(rng.uniform() < sc.object_texture_probability)
        if draw["textured"]:
            material = dataclasses.replace(material, texture=sample_texture(settings, rng, settings.materials.texture_scale))
        center = load_mesh(mesh).bounds.mean(axis=0)
        draw["mesh_center"] = center.tolist()
        build.add(SceneObject(name="", mesh=mesh, mesh_to_world=flyer_pose(draw, center, 0), instance_id=0,
                              category_id=category_id, material=material, asset_id=asset_id,
                              role="object" if asset_id else "distractor"),
                  annotated_first=bool(asset_id), named=lambda iid: f"{name}{iid:03d}_{mesh.stem}",
                  moves=lambda k: flyer_pose(draw, center, k))
        return draw

    picks, shapes = pick_objects(settings.objects, catalog, integer(rng, settings.objects.count), rng)
    drawn_objects = [{"asset": a.key, **fly("obj", a.path, sc.size, a.category_id, a.key),
                      **({"shape": shape} if shape else {})} for a, shape in zip(picks, shapes)]
    drawn_distractors = []
    for _ in range(integer(rng, sc.distractors) if catalog.distractors else 0):
        path = pick(rng, catalog.distractors)
        drawn_distractors.append({"mesh": Path(path).name, **fly("distractor", path, sc.distractor_size, 0, "")})

    size = 2.0 * half * BACKGROUND_MARGIN
    # the ground square (normal +Z) turned to face the camera: x -> camera x, y -> -camera y, z -> -axis
    bg_pose = rigid(size * np.stack([bg_axes[0], -bg_axes[1], -axis], axis=1), bg_center)
    bg_material = sample_material(settings.materials, rng, texture=False)
    bg_texture = sample_texture(settings, rng, sc.background_texture_scale, scale_factor=size)
    bg_material = dataclasses.replace(bg_material, metallic=0.0, transmission=0.0, texture=bg_texture)

    light_center = np.array(cam["eye"]) + 0.5 * (sc.depth[0] + sc.depth[1]) * axis
    build.use_lights(*sample_lighting(settings, np.array(cam["eye"]), light_center, axis, bg_distance, rng))
    photo = None
    if sc.background_dir is not None:  # drawn last: everything else is what it is without photos
        files = photo_files("scene.background_dir", sc.background_dir, settings.render.max_image_pixels)
        path = files[int(rng.integers(len(files)))]
        frame_tall = bg_distance * r.height / float(np.array(cam["K"])[1, 1])  # the frame's height on the plane
        copies = max(1, 2 * int(round((size / frame_tall - 1) / 2)) + 1)  # odd: one copy centred on the plane
        tall = size / copies
        tex = Texture(kind="image", color2=(0.0, 0.0, 0.0), image=str(path),
                      repeat=(size / (tall * image_aspect(path)), float(copies)))
        bg_material = dataclasses.replace(bg_material, texture=tex)
        photo = {"photo": str(path), "photo_height": tall}
    build.add(SceneObject(name="background", mesh=catalog.ground, mesh_to_world=bg_pose, instance_id=0,
                          category_id=0, role="wall", material=bg_material))
    build.params.update({
        "camera_motion": motion, "objects": drawn_objects, "distractors": drawn_distractors,
        "distractors_available": len(catalog.distractors),
        "background": {"distance": bg_distance, "size": size, "texture_per_metre": bg_texture.scale / size,
                       **(photo or {})}})
    K, start = np.array(cam["K"]), {k: v for k, v in cam.items() if k != "K"}
    cameras = iter(Camera(width=r.width, height=r.height, K=K.copy(), world_to_camera=invert_rigid(c2w),
                          clip_start=c.clip_start, clip_end=c.clip_end) for c2w in c2ws)
    return build.scenes(length, lambda: (next(cameras), start))


IGNORES = ("camera.principal_point_jitter", "camera.exposure", "camera.dof_probability", "camera.calibration",
           "camera.focal_jitter")
"""The camera's lens jitter, exposure compensation, depth of field and real lens, which flying does
not implement (its frames are exposed by the metering alone): set to anything but their defaults,
they are refused (simgen.recipes.Recipe.ignores). Where tabletop's camera stands and how it scales
objects are tabletop's own keys (scene.camera_*, scene.object_scale): flying has none of them.
materials.texture_probability is not refused, though flying textures its objects by
scene.object_texture_probability instead: materials=procedural sets it, and that option's texture
kinds and ranges do apply to flying."""

RECIPE = Recipe(name="flying", Config=Config, make_sequence=make_sequence, check=check, ignores=IGNORES)
