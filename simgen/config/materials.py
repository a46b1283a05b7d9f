"""The ``materials`` group: drawn, own and PBR materials of objects and surfaces (:class:`MaterialsConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from simgen.config.schema import setting, span
from simgen.scene.data import PROCEDURAL_TEXTURES, ROLES, TEXTURE_KINDS

MAX_DISTORTION = 1000.0
"""Blender's largest Distortion input of the noise, wave and magic texture nodes."""


@dataclass
class MaterialsConfig:
    """One Principled BSDF per object: random colour, roughness and metallic; no textures, opaque."""

    hue: list[float] = span([0.0, 1.0], ge=0.0, le=1.0)
    """Base colour hue (HSV; 0 and 1 are both red)."""
    saturation: list[float] = span([0.1, 0.9], ge=0.0, le=1.0)
    """Base colour saturation (HSV)."""
    value: list[float] = span([0.15, 0.95], ge=0.0, le=1.0)
    """Base colour value (HSV, sRGB-encoded); the HSV colour is converted to linear RGB for Blender."""
    roughness: list[float] = span([0.05, 1.0], ge=0.0, le=1.0)
    """Principled BSDF Roughness."""
    metallic: list[float] = span([0.0, 1.0], ge=0.0, le=1.0)
    """Principled BSDF Metallic of metallic objects (see metallic_probability)."""
    metallic_probability: float = setting(0.3, ge=0.0, le=1.0)
    """Chance that an object is metallic at all (else metallic = 0)."""
    specular: list[float] = span([0.5, 0.5], ge=0.0, le=1.0)
    """Principled BSDF Specular IOR Level (0.5 = Blender's default, the IOR's own reflectance;
    0 = no dielectric reflection, 1 = twice as much)."""
    transmission: list[float] = span([0.0, 0.0], ge=0.0, le=1.0)
    """Principled BSDF Transmission Weight of transmissive objects (1 = clear glass-like)."""
    transmission_probability: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that an object is transmissive at all (else transmission = 0)."""
    texture_probability: float = setting(0.0, ge=0.0, le=1.0, common=True)
    """Chance that an object (or the ground) gets a procedural texture mixing its base colour
    with a second colour drawn like it (HSV ranges above). scene=flying textures its objects by
    scene.object_texture_probability instead (and its background always); the kinds and ranges
    below are every recipe's."""
    textures: list[str] = setting(list(PROCEDURAL_TEXTURES), choices=TEXTURE_KINDS)
    """Texture kinds drawn uniformly: the procedural checker, noise, wave, voronoi, magic,
    brick and gradient (of a random type), and image (a file of image_dir)."""
    image_dir: Optional[str] = setting(None, example="/path/to/images")
    """A folder of images (.png .jpg .tif .bmp .tga .exr .hdr) for the image texture kind,
    drawn uniformly; needs "image" in textures (e.g. textures=[image] for images only)."""
    texture_scale: list[float] = span([2.0, 8.0], gt=0.0)
    """Pattern frequency, features (checker cells, waves, bricks, image tiles) across the object."""
    texture_distortion: list[float] = span([0.0, 3.0], ge=0.0, le=MAX_DISTORTION)
    """Distortion of noise, wave and magic textures."""
    texture_detail: list[float] = span([0.0, 6.0], ge=0.0, le=15.0)
    """Detail octaves of noise and wave textures (0..15)."""
    own_replace: float = setting(0.0, ge=0.0, le=1.0, common=True)
    """Chance that an object whose mesh comes with its own appearance (OBJ + MTL, glTF
    materials and textures, PLY/OFF vertex colours) gets a drawn material instead, as a mesh
    without one does (drawn per object and sequence). 0: every such mesh looks like itself;
    1: none does (the drawn materials of the ranges above)."""
    own_strict: bool = setting(False)
    """A mesh's own material file (OBJ mtllib) or texture that is missing or lies outside its
    asset's folder: false, the mesh renders without it (without its materials, or that map;
    simgen warns once and records it in dataset.json's asset_problems), as Blender's importers do;
    true, the run stops before rendering."""
    own_hue: list[float] = span([0.0, 0.0], ge=-0.5, le=0.5)
    """Own appearance: hue shift in turns (0.05 = 18 degrees), drawn per object."""
    own_saturation: list[float] = span([1.0, 1.0], ge=0.0, le=4.0)
    """Own appearance: saturation factor, drawn per object."""
    own_value: list[float] = span([1.0, 1.0], ge=0.0, le=4.0)
    """Own appearance: brightness (HSV value) factor, drawn per object."""
    own_roughness: list[float] = span([1.0, 1.0], ge=0.0, le=4.0)
    """Own appearance: roughness factor (the result clamped to [0, 1]), drawn per object."""
    pbr_dir: Optional[str] = setting(None, example="/data/lib/materials")
    """A folder of PBR material sets in the layout of the CC0 libraries (ambientCG, Poly Haven:
    one set per folder, searched recursively; an asset library's LIB/materials works as it
    is); "bundled" = the sets in assets/materials; null = none. Sets go on the surfaces of
    pbr_surfaces."""
    pbr_surfaces: list[str] = setting(["ground", "wall", "support", "distractor"], choices=ROLES)
    """Which surfaces get a PBR set (with pbr_dir): ground, wall (walls, ceilings, the flying
    scene's backdrop), support (tables, bins), distractor, object (catalog objects without an
    appearance of their own, or whose own is replaced)."""
    pbr_probability: float = setting(1.0, ge=0.0, le=1.0)
    """Chance per surface (the ground, all walls, one table or bin, each distractor or object)
    that a drawn PBR set replaces its drawn material."""
    pbr_scale: list[float] = span([0.3, 1.5], gt=0.0)
    """Metres per repeat of a set's maps on the surface, drawn per surface."""
    pbr_rotation: list[float] = span([0.0, 360.0])
    """Rotation of a set's maps on the surface, degrees, drawn per surface."""
    pbr_tint: list[float] = span([0.0, 0.15], ge=0.0, le=1.0)
    """Saturation of a tint of random hue multiplying a set's colour map (0 = untinted)."""
    pbr_bump: list[float] = span([0.1, 0.4], ge=0.0, le=1.0)
    """Strength of a set's displacement map as bump (shading only)."""
