"""Lights and the world light drawn from the ``lighting`` group (every recipe's lighting)."""

from __future__ import annotations

import dataclasses

import numpy as np

from simgen.assets.images import hdri_files
from simgen.config import LightingConfig
from simgen.optics.camera import BLENDER_TO_OPENCV, look_at
from simgen.scene.data import Light, World
from simgen.sampling.random import blackbody_rgb, chance, choose, direction, hsv_color, integer, pick, uniform

POWER_RANGE = {"point": "point_power", "spot": "spot_power", "area": "area_power", "sun": "sun_strength"}
"""Light type -> the LightingConfig range its power (or the sun's strength) is drawn from."""


def sample_lights(li: LightingConfig, center: np.ndarray, rng: np.random.Generator
                  ) -> tuple[list[Light], World, dict]:
    """lighting.count lights aimed at ``center`` and the world light; returns the draws too."""
    lights, drawn = [], []
    for _ in range(integer(rng, li.count)):
        kind = str(pick(rng, li.types))
        az, el = float(rng.uniform(0.0, 360.0)), uniform(rng, li.elevation)
        dist = uniform(rng, li.distance)
        pos = center + dist * direction(az, el)
        pose = np.linalg.inv(look_at(pos, center)) @ BLENDER_TO_OPENCV  # local -Z towards the centre
        power = uniform(rng, getattr(li, POWER_RANGE[kind]))
        rgb, how = light_color(li, rng)
        size = uniform(rng, li.size)
        light = Light(kind=kind, light_to_world=pose, power=power, color=tuple(rgb),
                      size=size / 5.0 if kind == "sun" else size,
                      spot_angle=float(rng.uniform(0.4, 1.2)))
        lights.append(light)
        drawn.append({"kind": kind, "azimuth_deg": az, "elevation_deg": el, "distance": dist, **how})
    world = sample_world(li, rng)
    return lights, world, {"lights": drawn, "world_strength": world.strength, "world": world.to_dict()}


def light_color(li: LightingConfig, rng: np.random.Generator) -> tuple[tuple[float, float, float], dict]:
    """A light's linear RGB colour (brightest channel 1) and its draws: a blackbody of a
    temperature in lighting.temperature with lighting.temperature_probability, else an HSV
    colour of random hue and lighting.saturation."""
    if chance(rng, li.temperature_probability):
        kelvin = uniform(rng, li.temperature)
        return blackbody_rgb(kelvin), {"color_source": "temperature", "temperature_k": kelvin}
    color = hsv_color(rng, [0.0, 1.0], li.saturation, [1.0, 1.0])
    return tuple(color["linear_rgb"]), {"color_source": "hsv", "hsv": color["hsv"]}


def sample_world(li: LightingConfig, rng: np.random.Generator) -> World:
    """The world light: a kind drawn from lighting.world (no draw when there is one kind, so a
    uniform-only config draws exactly what it always did), then that kind's parameters."""
    kind = str(choose(rng, li.world))
    if kind == "sky":
        el, az = uniform(rng, li.sun_elevation), uniform(rng, li.sun_azimuth)
        return World(kind="sky", strength=uniform(rng, li.sky_strength),
                     sun_elevation=float(np.radians(el)), sun_azimuth=float(np.radians(az)))
    if kind == "hdri":
        path = choose(rng, hdri_files(li.hdri_dir))
        world = World(kind="hdri", strength=uniform(rng, li.hdri_strength), hdri_path=path,
                      rotation=float(np.radians(uniform(rng, li.hdri_rotation))))
        if chance(rng, 1.0 - li.hdri_backdrop):  # the camera sees plain grey; the image still lights
            grey = 0.5 * uniform(rng, li.world_strength)
            world = dataclasses.replace(world, plain_backdrop=(grey, grey, grey))
        return world
    return World(color=(0.5, 0.5, 0.5), strength=uniform(rng, li.world_strength))
