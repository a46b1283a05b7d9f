"""Tabletop: catalog objects standing on a ground plane, random materials, lights and a
camera on a shell around them.

Every randomized parameter is drawn from ``rng`` and recorded: object poses, scales and
materials in the scene objects, light parameters in the lights, the rest in
``Scene.params``.
"""

from __future__ import annotations

import numpy as np

from dataclasses import dataclass, field

from simgen import SimgenError
from simgen.assets import Catalog, load_mesh
from simgen.config import Settings
from simgen.core.camera import BLENDER_TO_OPENCV, intrinsics, look_at
from simgen.core.scene import Camera, Light, Material, Scene, SceneObject, Texture, World
from simgen.sampling.classes import pick_assets
from simgen.sampling.placement import footprint, impossible_placement, pack_disks, standing_pose
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


def check(settings: Settings) -> None:
    sc = settings.scene
    if sc.area_radius <= 0 or sc.ground_size <= 0 or sc.max_tries < 1 or sc.clearance < 0:
        raise SimgenError("scene.area_radius and scene.ground_size must be > 0, scene.max_tries >= 1, "
                          "scene.clearance >= 0")
    for name in ("camera_orbit", "camera_rise", "camera_dolly"):
        r = getattr(sc, name)
        if len(r) != 2 or r[0] > r[1]:
            raise SimgenError(f"scene.{name} must be a range [low, high] with low <= high (got {list(r)})")


def chance(rng: np.random.Generator, probability: float) -> bool:
    """True with ``probability``; draws nothing when it is 0, so that a feature switched
    off leaves every later draw (and so every frame) exactly as without the feature."""
    return probability > 0 and bool(rng.uniform() < probability)


def sample_texture(settings: Settings, rng: np.random.Generator) -> Texture:
    """A procedural texture from the materials group; its second colour is drawn like the base colour."""
    m = settings.materials
    kind = str(m.textures[int(rng.integers(len(m.textures)))])
    color2 = hsv_color(rng, m.hue, m.saturation, m.value)["linear_rgb"]
    return Texture(kind=kind, color2=tuple(color2), scale=uniform(rng, m.texture_scale),
                   distortion=uniform(rng, m.texture_distortion), detail=uniform(rng, m.texture_detail))


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


def sample_objects(settings: Settings, catalog: Catalog, rng: np.random.Generator) -> tuple[list[SceneObject], dict]:
    o, sc = settings.objects, settings.scene
    for _ in range(PLACEMENT_ATTEMPTS):
        n = integer(rng, o.count)
        picks = pick_assets(catalog, n, rng, o.weights, o.min_per_frame, o.max_per_frame)
        scales = [a.scale * uniform(rng, o.scale) for a in picks]
        yaws = [float(rng.uniform(0.0, 2 * np.pi)) for _ in picks]
        fps = [footprint(load_mesh(a.path).vertices, s) for a, s in zip(picks, scales)]
        radii = [f.radius for f in fps]
        spots = pack_disks(radii, sc.area_radius, sc.clearance, sc.max_tries, rng, need=o.count[0])
        placed = [a.category for a, xy in zip(picks, spots) if xy is not None]
        if len(placed) >= o.count[0] and all(placed.count(c) >= k for c, k in (o.min_per_frame or {}).items()):
            break
    else:
        raise impossible_placement(o.count[0], radii, sc.area_radius, PLACEMENT_ATTEMPTS)
    objects, dropped = [], []
    for asset, s, yaw, fp, xy in zip(picks, scales, yaws, fps, spots):
        if xy is None:
            dropped.append(asset.key)
            continue
        iid = len(objects) + 1
        objects.append(SceneObject(name=f"obj{iid:03d}_{asset.key.replace('/', '_')}", mesh_path=asset.path,
                                   mesh_to_world=standing_pose(fp, s, yaw, xy), instance_id=iid,
                                   category_id=asset.category_id, material=sample_material(settings, rng),
                                   asset_id=asset.key))
    params = {"count_drawn": n, "dropped": dropped,
              "objects": [{"asset": a.key, "scale": s, "yaw": y, "xy": None if p is None else p.tolist(),
                           "height": f.height} for a, s, y, f, p in zip(picks, scales, yaws, fps, spots)]}
    return objects, params


def shell_camera(settings: Settings, target: np.ndarray, dist: float, el: float, az: float, focal: float) -> Camera:
    c, r = settings.camera, settings.render
    eye = target + dist * direction(az, el)
    return Camera(width=r.width, height=r.height, K=intrinsics(focal, c.sensor_width, r.width, r.height),
                  world_to_camera=look_at(eye, target), clip_start=c.clip_start, clip_end=c.clip_end)


def sample_camera(settings: Settings, center: np.ndarray, rng: np.random.Generator) -> dict:
    """Draw the camera on its shell; returns the draws (see :func:`shell_camera`)."""
    c = settings.camera
    target = center + rng.normal(0.0, c.look_at_jitter, size=3) if c.look_at_jitter > 0 else center.copy()
    return {"distance": uniform(rng, c.distance), "elevation_deg": uniform(rng, c.elevation),
            "azimuth_deg": uniform(rng, c.azimuth), "focal_length_mm": uniform(rng, c.focal_length),
            "sensor_width_mm": c.sensor_width, "target": target.tolist()}


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
                                    draw["azimuth_deg"] + k * motion["orbit_deg"], draw["focal_length_mm"]))
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
    strength = uniform(rng, li.world_strength)
    return lights, World(color=(0.5, 0.5, 0.5), strength=strength), {"lights": drawn, "world_strength": strength}


def make_sequence(settings: Settings, catalog: Catalog, rng: np.random.Generator, length: int) -> list[Scene]:
    """``length`` steps of one tabletop scene: the objects rest, the camera moves."""
    objects, obj_params = sample_objects(settings, catalog, rng)
    g = settings.scene.ground_size
    objects.append(SceneObject(name="ground", mesh_path=catalog.ground, mesh_to_world=np.diag([g, g, g, 1.0]),
                               instance_id=len(objects) + 1, category_id=0,
                               material=sample_material(settings, rng)))
    placed = [p for p in obj_params["objects"] if p["xy"] is not None]
    center = np.zeros(3)
    if placed:  # the camera and the lights aim at the middle of the objects
        center[:2] = np.mean([p["xy"] for p in placed], axis=0)
        center[2] = np.mean([p["height"] for p in placed]) / 2.0
    cam_draw = sample_camera(settings, center, rng)
    lights, world, light_params = sample_lights(settings, center, rng)
    cameras, motion = camera_path(settings, cam_draw, rng, length)
    params = {"recipe": "tabletop", "objects": obj_params, "camera": cam_draw, **light_params}
    if length > 1:
        params["camera_motion"] = motion
    return [Scene(objects=objects, lights=lights, camera=cam, world=world,
                  params={**params, "camera": {**cam_draw, "eye": (-cam.world_to_camera[:3, :3].T
                                                                  @ cam.world_to_camera[:3, 3]).tolist()}})
            for cam in cameras]


def make_scene(settings: Settings, catalog: Catalog, rng: np.random.Generator) -> Scene:
    return make_sequence(settings, catalog, rng, 1)[0]
