"""The scene as plain data: what a recipe draws and the Blender backend builds.

Nothing here imports Blender. Units are metres, radians and watts; the world
frame is Blender's (Z up). Poses are 4x4 float64 numpy arrays.
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np

from simgen.optics.lens import Lens
from simgen.scene.meshes import EnvironmentMesh, MeshRef, RiggedMesh, as_mesh_ref

LightKind = Literal["point", "sun", "spot", "area"]


TextureKind = Literal["checker", "noise", "wave", "voronoi", "magic", "brick", "gradient", "image"]
TEXTURE_KINDS: tuple[str, ...] = ("checker", "noise", "wave", "voronoi", "magic", "brick", "gradient", "image")
PROCEDURAL_TEXTURES: tuple[str, ...] = TEXTURE_KINDS[:-1]
"""The kinds drawn by Blender's procedural nodes (all but image); the default texture lists."""
GRADIENT_TYPES: tuple[str, ...] = ("linear", "quadratic", "easing", "diagonal", "spherical", "quadratic_sphere",
                                   "radial")
"""Blender's ShaderNodeTexGradient gradient_type values (lower case)."""
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".tga", ".exr", ".hdr")
"""Image files Blender loads as textures."""
MAX_IMAGE_PIXELS = 16384 * 8192
"""Default of render.max_image_pixels: the largest width x height of an input image (a 16K
equirectangular HDRI), checked from its header before it is decoded (simgen.image_header)."""


ROLES: tuple[str, ...] = ("object", "distractor", "ground", "wall", "support", "environment")
"""What a scene object is (:attr:`SceneObject.role`): materials are drawn per kind of surface."""

MAX_INSTANCE_ID = 65535
"""The largest instance id: instance and semantic labels are uint16 PNGs (0 = nothing hit), so a
frame holds at most this many objects, ground, supports and walls included."""

@dataclass(frozen=True)
class Texture:
    """A pattern on a material's base colour.

    The pattern is a function of the object's generated texture coordinates (its mesh's
    bounding box mapped to [0, 1]^3), so it sticks to the surface as the object moves
    and spans the object whatever its size (a generated shape, see simgen.assets.parametric, uses
    its UV map instead: the same span without stretching). Procedural kinds mix the base colour with
    ``color2`` by Blender's texture nodes: checker = ShaderNodeTexChecker, noise =
    ShaderNodeTexNoise, wave = ShaderNodeTexWave (bands), voronoi = ShaderNodeTexVoronoi
    (F1 distance), magic = ShaderNodeTexMagic, brick = ShaderNodeTexBrick (mortar in
    ``color2``), gradient = ShaderNodeTexGradient (of type ``variant``). ``image``: the base
    colour is the image file ``image``, tiled ``scale`` times across the object and
    box-projected (ShaderNodeTexImage), so ``color2`` is unused.
    """

    kind: TextureKind
    color2: tuple[float, float, float]
    """The second colour, linear RGB in [0, 1]."""
    scale: float = 5.0
    """Pattern frequency: roughly features (checker cells, waves, cells, bricks, image tiles)
    across the object; a gradient spans the object once whatever the scale."""
    distortion: float = 0.0
    """Domain warping of noise, wave and magic patterns (Blender's Distortion input)."""
    detail: float = 2.0
    """Octaves of noise and wave detail (Blender's Detail input, 0..15)."""
    variant: str | None = None
    """gradient: one of GRADIENT_TYPES."""
    image: str | None = None
    """image: the image file."""
    repeat: tuple[float, float] | None = None
    """image only, for flat meshes (walls, backdrops): instead of box projection, the image
    spans the mesh's generated x/y range ``repeat`` times each way (mirrored where it
    repeats), one copy standing on the mesh's bottom edge (y = 0) centred on its x middle:
    image (s, t) = ((x - 0.5) * repeat[0] + 0.5, y * repeat[1]), mirrored into [0, 1].
    ``scale`` is then unused. For an image h metres tall on a mesh W x H metres, repeat =
    (W / (h * image aspect), H / h) keeps its aspect (no stretching)."""

    def __post_init__(self) -> None:
        if self.kind not in TEXTURE_KINDS:
            raise ValueError(f"unknown texture kind {self.kind!r}; use one of {', '.join(TEXTURE_KINDS)}")
        if (self.kind == "gradient") != (self.variant in GRADIENT_TYPES):
            raise ValueError(f"a gradient texture needs variant in {GRADIENT_TYPES} (and only it), got {self.variant!r}")
        if (self.kind == "image") != (self.image is not None):
            raise ValueError("an image texture needs an image file (and only it)")
        if self.repeat is not None and (self.kind != "image" or len(self.repeat) != 2 or min(self.repeat) <= 0):
            raise ValueError(f"repeat is for image textures, two positive numbers; got {self.repeat!r}")

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "image":
            out = {"kind": self.kind, "image": self.image, "scale": float(self.scale)}
            if self.repeat is not None:
                out["repeat"] = [float(r) for r in self.repeat]
            return out
        out = {"kind": self.kind, "color2": [float(c) for c in self.color2], "scale": float(self.scale),
               "distortion": float(self.distortion), "detail": float(self.detail)}
        if self.variant is not None:
            out["variant"] = self.variant
        return out


@dataclass(frozen=True)
class OwnLook:
    """Render a mesh with the materials its file comes with (its textures, UVs, vertex
    colours: :mod:`simgen.assets.appearance`), jittered mildly so that it keeps its identity."""

    hue: float = 0.0
    """Hue shift, in turns (0.1 = 36 degrees round the colour wheel)."""
    saturation: float = 1.0
    """Saturation factor."""
    value: float = 1.0
    """Brightness (HSV value) factor."""
    roughness: float = 1.0
    """Roughness factor (clamped to [0, 1])."""
    materials: tuple[str, ...] = ()
    """The names of the mesh's own material slots (for the record)."""
    textures: tuple[str, ...] = ()
    """The texture images they read, relative to the mesh file (for the record)."""

    def to_dict(self) -> dict[str, Any]:
        return {"hue": float(self.hue), "saturation": float(self.saturation), "value": float(self.value),
                "roughness": float(self.roughness), "materials": list(self.materials),
                "textures": list(self.textures)}


@dataclass(frozen=True)
class PbrSet:
    """The map files of one PBR material set (simgen.assets.pbr): absolute paths, None where
    the set has no such map."""

    name: str
    color: str
    roughness: str | None = None
    normal: str | None = None
    normal_convention: str = "opengl"
    """opengl (green up, ambientCG NormalGL, Poly Haven nor_gl) or directx (green down)."""
    displacement: str | None = None
    metalness: str | None = None
    ao: str | None = None
    arm: str | None = None
    """AO, roughness and metalness packed in R, G, B (Poly Haven's arm)."""

    def maps(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in ("color", "roughness", "normal", "displacement", "metalness", "ao", "arm")
                if getattr(self, k) is not None}


@dataclass(frozen=True)
class PbrTexture:
    """A PBR set applied to a surface, as drawn for it."""

    set: PbrSet
    scale: float
    """Metres per repeat of the maps on the surface."""
    rotation: float
    """Radians, of the maps about the surface's (object's) Z axis or the UV origin."""
    tint: tuple[float, float, float]
    """Linear RGB multiplier of the colour map."""
    bump: float
    """Strength of the displacement map as bump (shading only: geometry and labels never move)."""

    def to_dict(self) -> dict[str, Any]:
        return {"set": self.set.name, "maps": {k: Path(v).name for k, v in self.set.maps().items()},
                "normal_convention": self.set.normal_convention, "scale": float(self.scale),
                "rotation": float(self.rotation), "tint": [float(c) for c in self.tint], "bump": float(self.bump)}


@dataclass(frozen=True)
class Material:
    """A Principled BSDF material, optionally with a procedural base-colour texture; or, with
    ``own``, the mesh's own materials (the other fields are then unused)."""

    base_color: tuple[float, float, float]
    """Linear RGB in [0, 1]."""
    roughness: float
    metallic: float
    texture: Texture | None = None
    """None: a plain colour; else the base colour is ``base_color`` and
    ``texture.color2`` mixed by the texture's pattern."""
    specular: float = 0.5
    """Principled "Specular IOR Level": 0.5 (Blender's default) is the reflectance of the
    IOR (1.5), 0 none, 1 twice it."""
    transmission: float = 0.0
    """Principled "Transmission Weight": 0 opaque, 1 fully transmissive (glass-like)."""
    own: OwnLook | None = None
    """The mesh's own appearance (jittered) instead of the fields above."""
    pbr: PbrTexture | None = None
    """A PBR material set (colour, roughness, metalness, normal, bump maps) instead of the
    base colour, texture, roughness and metallic above."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: base_color, roughness, metallic, specular, transmission, texture (a dict or
        None); with ``own``: {"own": its record}; with ``pbr``: {"pbr": its record, specular,
        transmission}."""
        if self.own is not None:
            return {"own": self.own.to_dict()}
        if self.pbr is not None:
            return {"pbr": self.pbr.to_dict(), "specular": float(self.specular),
                    "transmission": float(self.transmission)}
        return {"base_color": [float(c) for c in self.base_color], "roughness": float(self.roughness),
                "metallic": float(self.metallic), "specular": float(self.specular),
                "transmission": float(self.transmission),
                "texture": None if self.texture is None else self.texture.to_dict()}


@dataclass
class SceneObject:
    """One mesh instance in the scene."""

    name: str
    mesh: MeshRef
    """The mesh: a file (a Path, loaded with ``trimesh.load(path, force="mesh")``; a str is
    taken as one) or a :class:`GeneratedMesh` (a shape of simgen.assets.parametric)."""
    mesh_to_world: np.ndarray
    """4x4: loaded mesh vertices (homogeneous, as rows) times its transpose are
    world vertices, i.e. ``world = (mesh_to_world @ [v, 1])[:3]``. Includes scale."""
    instance_id: int
    """1..65535, unique within the scene; the value of the instance label."""
    category_id: int
    """COCO category id, 0 for ground, background and distractors."""
    material: Material
    asset_id: str = ""
    """Catalog key of the asset (e.g. ``"mug/mug_a"``); empty for stuff."""
    role: str = "object"
    """What it is in the scene, for the materials drawn per kind of surface: object (a
    catalog asset), distractor, ground, wall (walls, ceilings, backdrops), support (tables,
    bins), environment (a part of an environment file: its own materials)."""
    casts_shadow: bool = True
    """False: shadow rays pass through it, so lights outside it (a sun, the world) still
    light what it encloses: a closed room's walls and ceiling, which cannot shadow anything
    lit from inside anyway. It is seen and labelled as usual."""

    def __post_init__(self) -> None:
        self.mesh = as_mesh_ref(self.mesh, f"the mesh of scene object {self.name!r}")


@dataclass
class Light:
    kind: LightKind
    light_to_world: np.ndarray
    """4x4 pose; like Blender lights, sun, spot and area lights shine along local -Z."""
    power: float
    """Watts for point, spot and area lights; irradiance (W/m^2) for the sun."""
    color: tuple[float, float, float]
    size: float = 0.1
    """Radius (point, spot), edge length (area) or angular diameter in radians (sun)."""
    spot_angle: float = 0.8
    """Full cone angle in radians (spot lights only)."""


@dataclass
class Camera:
    """A pinhole camera in the OpenCV convention (x right, y down, z forward).

    Pixel (u, v) has its centre at integer coordinates (u, v); the top-left pixel's
    centre is (0, 0).
    """

    width: int
    height: int
    K: np.ndarray
    """3x3 intrinsics [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] in pixels; fx == fy but with a lens."""
    world_to_camera: np.ndarray
    """4x4, world points to OpenCV camera coordinates."""
    clip_start: float = 0.01
    clip_end: float = 1000.0
    exposure: float = 0.0
    """Exposure in stops: the linear image is multiplied by 2**exposure before the
    sRGB conversion (labels are unaffected)."""
    sensor_width: float = 36.0
    """mm; with K it gives the lens in mm, which sets how much depth of field blurs."""
    fstop: float = 0.0
    """Aperture f-number of the RGB image's depth of field; 0 = a pinhole (all sharp).
    Labels are always pinhole: they follow K and world_to_camera exactly."""
    focus_distance: float = 0.0
    """m, along the optical axis, of the plane in focus (with fstop > 0)."""
    lens: Optional[Lens] = None
    """The real lens the image is seen through (:mod:`simgen.optics.lens`, its K is ``K``): every
    label is that lens's at each pixel centre; None: the pinhole of ``K``."""

    @property
    def camera_to_world(self) -> np.ndarray:
        return np.linalg.inv(self.world_to_camera)


WorldKind = Literal["uniform", "sky", "hdri", "file"]
WORLD_KINDS: tuple[str, ...] = ("uniform", "sky", "hdri", "file")


@dataclass
class World:
    """The background light seen (and lighting the scene) where no object is hit.

    ``kind`` picks Blender's world shader: uniform = ``color`` times ``strength``;
    sky = ShaderNodeTexSky (the physical multiple-scattering sky, Nishita's successor in
    Blender 5) with the sun at ``sun_elevation``/``sun_azimuth``; hdri = an equirectangular
    image ``hdri_path`` (ShaderNodeTexEnvironment) turned by ``rotation`` about +Z; file = the
    world shader of the environment file ``file``, as its artist made it.
    ``strength`` scales the background in every kind but file.
    """

    color: tuple[float, float, float] = (0.05, 0.05, 0.05)
    """Uniform kind only: linear RGB."""
    strength: float = 1.0
    kind: WorldKind = "uniform"
    sun_elevation: float = 0.0
    """Sky kind: the sun's angle above the horizon, radians."""
    sun_azimuth: float = 0.0
    """Sky kind: the sun's rotation about +Z, radians (Blender's sun_rotation)."""
    hdri_path: Path | None = None
    """Hdri kind: the .hdr/.exr file."""
    rotation: float = 0.0
    """Hdri kind: rotation of the image about +Z, radians."""
    file: Path | None = None
    """File kind: the environment file (scene=environment) whose world shader it is."""
    backdrop: Path | None = None
    """Any kind: an image (a photo) that camera rays see where they hit nothing, scaled to
    cover the frame with its aspect kept (centred, the excess cropped). It adds no light:
    every other ray still sees the world above, and labels stay background (id 0)."""
    plain_backdrop: tuple[float, float, float] | None = None
    """Without ``backdrop``: a linear RGB colour camera rays see where they hit nothing instead
    of the world, which still lights the scene (an HDRI that lights but is not seen)."""

    def __post_init__(self) -> None:
        if self.kind not in WORLD_KINDS:
            raise ValueError(f"unknown world kind {self.kind!r}; use one of {', '.join(WORLD_KINDS)}")
        if self.kind == "hdri" and self.hdri_path is None:
            raise ValueError("a world of kind 'hdri' needs hdri_path")
        if self.kind == "file" and (self.file is None or self.backdrop is not None or self.plain_backdrop is not None):
            raise ValueError("a world of kind 'file' needs file, and takes no backdrop")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: kind and strength, plus color (uniform), sun_elevation/sun_azimuth
        (sky, radians), hdri_path/rotation (hdri, radians) or file (file)."""
        out: dict[str, Any] = {"kind": self.kind, "strength": float(self.strength)}
        if self.kind == "uniform":
            out["color"] = [float(c) for c in self.color]
        elif self.kind == "sky":
            out.update(sun_elevation=float(self.sun_elevation), sun_azimuth=float(self.sun_azimuth))
        elif self.kind == "file":
            out["file"] = str(self.file)
        else:
            out.update(hdri_path=str(self.hdri_path), rotation=float(self.rotation))
        if self.backdrop is not None:
            out["backdrop"] = str(self.backdrop)
        elif self.plain_backdrop is not None:
            out["plain_backdrop"] = [float(c) for c in self.plain_backdrop]
        return out


@dataclass(frozen=True)
class RigidBody:
    """A scene object that moves in the physics simulation (Bullet, through Blender)."""

    instance_id: int
    mass: float
    """kg."""
    friction: float
    restitution: float
    """Bounciness, 0..1."""


@dataclass(frozen=True)
class Physics:
    """Settle ``bodies`` under gravity before rendering. The simulation holds the bodies,
    colliding as their convex hulls (so nothing falls into a mug; an articulated model as each
    of its links' hulls, its joints held) grown by ``margin``, and
    the fixed ``colliders``, solid boxes, and ``static`` meshes; no other scene object takes part. It steps at
    24 Hz until no body moves faster than ``rest_speed`` or ``max_seconds`` have passed."""

    bodies: tuple[RigidBody, ...]
    colliders: tuple[np.ndarray, ...]
    """Poses (4x4, scale included) of the unit cube centred at the origin: a slab under the
    ground plane, a table's top and legs, a bin's floor and walls, slabs behind room walls."""
    max_seconds: float
    rest_speed: float
    """m/s, of any corner of a body's bounding box."""
    substeps: int
    margin: float
    """m, the bodies' collision margin: how far a resting body floats above its support."""
    static: tuple[tuple[MeshRef, np.ndarray], ...] = ()
    """Meshes (a mesh and its mesh_to_world) that hold still and collide as their triangles: an
    environment's parts around the drop (scene=environment)."""
    floor: Optional[float] = None
    """m: a body whose every corner falls below this height has fallen off the world (off an
    environment's edge): it no longer counts for rest, and the report lists it; None: no floor."""


@dataclass
class Scene:
    """Everything needed to render one frame, and nothing Blender-specific."""

    objects: list[SceneObject]
    lights: list[Light]
    camera: Camera
    world: World = field(default_factory=World)
    params: dict[str, Any] = field(default_factory=dict)
    """Every randomized parameter that is not already in objects, lights or camera
    (JSON-serializable); recorded in the frame's meta."""
    right: Camera | None = None
    """camera.rig=stereo: the pair's right camera (``camera`` is the left one), None: one camera."""
    physics: Physics | None = None
    """None: the objects' poses are final. Else they are drop poses, to be settled (see
    :meth:`settled`) before the scene is rendered or labelled."""
    _parts: Any = field(default=None, init=False, repr=False, compare=False)
    """Not part of the description: the scene's parts as :func:`simgen.assets.parts.parts_of` made
    them, with what it made them from (it checks that at each call); None until it is first asked.
    :func:`dataclasses.replace` makes a scene without it."""

    def settled(self, poses: dict[int, np.ndarray], report: dict[str, Any]) -> "Scene":
        """This scene with the simulated ``poses`` (instance id -> mesh_to_world) and the
        simulation's ``report`` in ``params["placement"]["settle"]``; physics is then None."""
        objects = [dataclasses.replace(o, mesh_to_world=np.asarray(poses[o.instance_id], float))
                   if o.instance_id in poses else o for o in self.objects]
        params = {**self.params, "placement": {**self.params.get("placement", {}), "settle": report}}
        return dataclasses.replace(self, objects=objects, params=params, physics=None)

    def stage_key(self) -> bytes:
        """What a renderer builds of this scene besides the camera (objects, lights, world): two
        scenes with equal keys differ in their cameras only (the steps of a still scene's
        sequence, its views), so the second needs no build, only a look through its camera."""
        return pickle.dumps((self.objects, self.lights, self.world), protocol=5)

    def files(self) -> list[Path]:
        """Every file the scene reads: its mesh, environment and rigged model files (a generated shape reads
        none), image textures, PBR maps, the HDRI and the backdrop photo."""
        out = [o.mesh for o in self.objects if isinstance(o.mesh, Path)]
        out += sorted({o.mesh.file for o in self.objects if isinstance(o.mesh, (EnvironmentMesh, RiggedMesh))})
        out += [Path(o.material.texture.image) for o in self.objects
                if o.material.texture is not None and o.material.texture.image is not None]
        out += [Path(p) for o in self.objects if o.material.pbr is not None for p in o.material.pbr.set.maps().values()]
        out += [Path(p) for p in (self.world.hdri_path, self.world.backdrop) if p is not None]
        return out

    def validate(self) -> None:
        ids = [o.instance_id for o in self.objects]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate instance ids in scene: {sorted(ids)}")
        if any(not 1 <= i <= MAX_INSTANCE_ID for i in ids):
            raise ValueError(f"instance ids must lie in 1..{MAX_INSTANCE_ID}")
