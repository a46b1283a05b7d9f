"""The ``lighting`` group: the lights and the world light (:class:`LightingConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from simgen.config.schema import setting, span

MAX_LIGHTS = 1000

LIGHT_TYPES = ("point", "sun", "spot", "area")
WORLD_KINDS = ("uniform", "sky", "hdri")


@dataclass
class LightingConfig:
    """1-3 random lights around the scene plus a uniform grey world light."""

    count: list[int] = span([1, 3], ge=0, le=MAX_LIGHTS)
    """Number of lights, inclusive range."""
    types: list[str] = setting(list(LIGHT_TYPES), choices=LIGHT_TYPES)
    """Light types drawn uniformly: point, sun, spot, area."""
    distance: list[float] = span([1.0, 3.0], ge=0.0)
    """Distance of point, spot and area lights from the scene centre, metres."""
    elevation: list[float] = span([30.0, 85.0], ge=0.0, le=90.0)
    """Elevation of every light (the sun's too), degrees."""
    point_power: list[float] = span([20.0, 200.0], ge=0.0)
    """Point light power, watts."""
    spot_power: list[float] = span([50.0, 400.0], ge=0.0)
    """Spot light power, watts."""
    area_power: list[float] = span([20.0, 200.0], ge=0.0)
    """Area light power, watts."""
    sun_strength: list[float] = span([0.5, 3.0], ge=0.0)
    """Sun irradiance, W/m^2."""
    size: list[float] = span([0.05, 0.5], ge=0.0)
    """Radius (point, spot) or edge (area) in metres; the sun's angular size is size/5 rad."""
    saturation: list[float] = span([0.0, 0.25], ge=0.0, le=1.0)
    """Light colour saturation (HSV, value 1, random hue) for lights not coloured by temperature."""
    temperature: list[float] = span([2700.0, 9000.0], ge=1000.0, le=40000.0)
    """Colour temperature range in kelvin (1000..40000) for lights coloured by temperature:
    the blackbody colour in linear sRGB, brightest channel 1 (2700 K warm, 6500 K about white)."""
    temperature_probability: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that a light's colour comes from a blackbody temperature drawn from
    temperature, else from the HSV draw (hue uniform, saturation); 0 = always HSV."""
    world_strength: list[float] = span([0.1, 0.6], ge=0.0)
    """Uniform background (world) light strength; its colour is grey."""
    world: list[str] = setting(["uniform"], choices=WORLD_KINDS, common=True)
    """World (background) light kinds drawn uniformly per scene: uniform (grey, world_strength),
    sky (Blender's physical sky, ShaderNodeTexSky) or hdri (an equirectangular image)."""
    sun_elevation: list[float] = span([5.0, 80.0], ge=-90.0, le=90.0)
    """Sky: the sky's sun elevation above the horizon, degrees (-90..90)."""
    sun_azimuth: list[float] = span([0.0, 360.0])
    """Sky: the sky's sun azimuth about +Z, degrees."""
    sky_strength: list[float] = span([0.05, 0.3], ge=0.0)
    """Sky: background strength of the physical sky (1 = real daylight, very bright under the
    Standard view transform)."""
    hdri_dir: Optional[str] = setting(None, example="/path/to/hdris")
    """Hdri: a folder of equirectangular .hdr/.exr files, searched recursively (an asset
    library's LIB/hdris works as it is), one drawn per scene; null = the bundled procedural
    sky assets/hdri/default_sky.hdr (made by scripts/make_hdri.py)."""
    hdri_strength: list[float] = span([0.3, 1.2], ge=0.0)
    """Hdri: background strength of the image."""
    hdri_rotation: list[float] = span([0.0, 360.0])
    """Hdri: rotation of the image about +Z, degrees."""
    hdri_backdrop: float = setting(1.0, ge=0.0, le=1.0)
    """Hdri: chance per scene that camera rays see the image where they hit nothing (the
    backdrop); otherwise they see a plain grey of world_strength while the image still
    lights the scene (every other ray sees it). 1: always the image."""
