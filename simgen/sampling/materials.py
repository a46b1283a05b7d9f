"""Materials and textures drawn from the ``materials`` group (every recipe's surfaces)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from simgen.assets.images import texture_images
from simgen.config import MaterialsConfig
import dataclasses

from simgen.scene.data import GRADIENT_TYPES, Material, OwnLook, PbrTexture, Scene, Texture
from simgen.scene.meshes import RiggedMesh
from simgen.sampling.random import chance, hsv_color, pick, uniform


def draw_texture(m: MaterialsConfig, rng: np.random.Generator, kinds: Sequence[str], scale: Sequence[float],
                 distortion: Sequence[float], detail: Sequence[float], scale_factor: float = 1.0) -> Texture:
    """A texture of one of ``kinds`` with the given parameter ranges; its second colour is
    drawn like the base colour (``m``'s HSV ranges), an image kind from ``m.image_dir``."""
    kind = str(pick(rng, kinds))
    color2 = hsv_color(rng, m.hue, m.saturation, m.value)["linear_rgb"]
    scale_drawn, distortion_drawn, detail_drawn = uniform(rng, scale), uniform(rng, distortion), uniform(rng, detail)
    variant = pick(rng, GRADIENT_TYPES) if kind == "gradient" else None
    image = str(pick(rng, texture_images(m.image_dir))) if kind == "image" else None
    return Texture(kind=kind, color2=tuple(color2), scale=scale_drawn * scale_factor, distortion=distortion_drawn,
                   detail=detail_drawn, variant=variant, image=image)


def sample_texture(m: MaterialsConfig, rng: np.random.Generator) -> Texture:
    """A texture as the materials group configures it."""
    return draw_texture(m, rng, m.textures, m.texture_scale, m.texture_distortion, m.texture_detail)


def sample_material(m: MaterialsConfig, rng: np.random.Generator, texture: bool = True) -> Material:
    """A Principled material from the materials group. ``texture=False``: never textured
    (for recipes that texture objects by their own settings); nothing is drawn for it."""
    color = hsv_color(rng, m.hue, m.saturation, m.value)
    metallic = uniform(rng, m.metallic) if rng.uniform() < m.metallic_probability else 0.0
    roughness = uniform(rng, m.roughness)
    specular = uniform(rng, m.specular)
    transmission = uniform(rng, m.transmission) if chance(rng, m.transmission_probability) else 0.0
    tex = sample_texture(m, rng) if texture and chance(rng, m.texture_probability) else None
    return Material(base_color=tuple(color["linear_rgb"]), roughness=roughness, metallic=metallic,
                    specular=specular, transmission=transmission, texture=tex)


OWN_STREAM = 0x4F574E
"""The own-appearance draws' stream (:func:`simgen.sampling.random.stream_rng`): a mesh with
its own appearance changes no other draw of the scene."""


def with_own_appearance(scenes: list[Scene], m: MaterialsConfig, rng: np.random.Generator) -> list[Scene]:
    """The steps of one sequence with every object whose mesh has its own appearance (a rigged
    model: its file's materials, :func:`simgen.assets.rigged.own_materials`) rendered with it
    (:class:`OwnLook`, jittered by ``m.own_*``), unless drawn to be replaced
    (``m.own_replace``: it keeps the material its recipe drew). Drawn once per instance id, in
    id order, so every step of a sequence shows an object the same way."""
    from simgen.assets.meshes import load_asset

    looks: dict[int, OwnLook | None] = {}
    for o in sorted(scenes[0].objects, key=lambda o: o.instance_id) if scenes else []:
        if isinstance(o.mesh, RiggedMesh):  # its file's materials, as Blender's importer makes them
            from simgen.assets.rigged import own_materials

            materials, textures = own_materials(o.mesh), ()
        else:
            appearance = load_asset(o.mesh, max_pixels=None).appearance  # its parameters: no image read
            materials = () if appearance is None else tuple(s.name for s in appearance.materials)
            textures = () if appearance is None else tuple(t.name for t in appearance.images())
        if not materials:
            continue
        if chance(rng, m.own_replace):
            looks[o.instance_id] = None
            continue
        looks[o.instance_id] = OwnLook(
            hue=uniform(rng, m.own_hue), saturation=uniform(rng, m.own_saturation), value=uniform(rng, m.own_value),
            roughness=uniform(rng, m.own_roughness), materials=materials, textures=textures)
    return _with_material_fields(scenes, {i: {"own": look} for i, look in looks.items() if look is not None})


def _with_material_fields(scenes: list[Scene], changes: dict[int, dict]) -> list[Scene]:
    """The steps with the material fields ``changes[instance id]`` set on those objects."""
    if not changes:
        return scenes
    return [dataclasses.replace(s, objects=[
        dataclasses.replace(o, material=dataclasses.replace(o.material, **changes[o.instance_id]))
        if o.instance_id in changes else o for o in s.objects]) for s in scenes]


PBR_STREAM = 0x504252
"""The PBR-set draws' stream (:func:`simgen.sampling.random.stream_rng`): turning PBR sets on
changes no other draw of the scene."""
SHARED_ROLES = ("ground", "wall", "support")
"""Surfaces that share one drawn set per scene: the ground, every wall and ceiling, the parts
of a table or bin. Objects and distractors draw one each."""


def draw_pbr(m: MaterialsConfig, rng: np.random.Generator) -> PbrTexture:
    from simgen.assets.pbr import find_pbr_sets, resolve_pbr_dir

    tint = hsv_color(rng, (0.0, 1.0), m.pbr_tint, (1.0, 1.0))["linear_rgb"]
    return PbrTexture(set=pick(rng, find_pbr_sets(resolve_pbr_dir(m.pbr_dir))), scale=uniform(rng, m.pbr_scale),
                      rotation=float(np.radians(uniform(rng, m.pbr_rotation))), tint=tuple(tint),
                      bump=uniform(rng, m.pbr_bump))


def with_pbr(scenes: list[Scene], m: MaterialsConfig, rng: np.random.Generator) -> list[Scene]:
    """The steps of one sequence with a PBR set (``m.pbr_dir``) on every surface whose role is in
    ``m.pbr_surfaces``, each with chance ``m.pbr_probability``: one draw per shared role
    (:data:`SHARED_ROLES`), one per other object, in instance-id order; objects rendered with
    their own appearance keep it. Nothing is drawn without ``m.pbr_dir``."""
    if m.pbr_dir is None or not scenes:
        return scenes
    drawn: dict[int, PbrTexture | None] = {}
    shared: dict[str, PbrTexture | None] = {}
    for o in sorted(scenes[0].objects, key=lambda o: o.instance_id):
        if o.role not in m.pbr_surfaces or o.material.own is not None:
            continue
        if o.role in SHARED_ROLES and o.role in shared:
            drawn[o.instance_id] = shared[o.role]
            continue
        pbr = draw_pbr(m, rng) if chance(rng, m.pbr_probability) else None
        drawn[o.instance_id] = shared.setdefault(o.role, pbr) if o.role in SHARED_ROLES else pbr
    return _with_material_fields(scenes, {i: {"pbr": p, "texture": None} for i, p in drawn.items() if p is not None})
