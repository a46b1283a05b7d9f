"""Typed configuration: the schema of every Hydra group, with a docstring under each field.

The YAML files under ``configs/`` hold the values; :func:`to_settings` checks the
composed config against these dataclasses (unknown keys, wrong types, out-of-range
values) and turns it into plain objects. Nothing below the CLI sees a DictConfig.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from simgen import SimgenError

Range = list[float]
"""A closed interval [low, high] that a parameter is drawn from uniformly."""


DEVICES = ("auto", "cpu", "cuda", "optix", "hip", "oneapi", "metal")


@dataclass
class RenderConfig:
    engine: str = "cycles"
    """Render engine: cycles. Only Cycles: EEVEE needs a GPU with OpenGL/Vulkan."""
    device: str = "auto"
    """Cycles device: auto, cpu, cuda, optix, hip, oneapi or metal. auto: the first of OptiX, CUDA, HIP, oneAPI, Metal with a usable
    device, else CPU. A named GPU backend without a device falls back to CPU with a warning."""
    samples: int = 16
    """Path-tracing samples per pixel (labels are exact at any count)."""
    width: int = 320
    """Image width in pixels."""
    height: int = 240
    """Image height in pixels."""
    denoise: bool = False
    """Run Cycles' denoiser (OpenImageDenoise on CPU) on the RGB image; labels are never denoised."""
    threads: int = 0
    """CPU render threads; 0 = one per core."""
    filter_width: float = 1.5
    """Pixel filter width in pixels (Blackman-Harris) for the RGB image. Labels come from
    Cycles' first sample, which lands within ~1e-3 px of the pixel centre; a width of 0.01
    puts every sample on the centre (labels exact even on surfaces seen edge-on, RGB aliased)."""
    persistent_data: bool = False
    """Keep Cycles' scene data between frames (faster on big static scenes)."""


@dataclass
class CameraConfig:
    distance: Range = field(default_factory=lambda: [0.8, 1.5])
    """Distance from the look-at point, metres."""
    elevation: Range = field(default_factory=lambda: [25.0, 70.0])
    """Elevation above the ground plane, degrees."""
    azimuth: Range = field(default_factory=lambda: [0.0, 360.0])
    """Azimuth around the look-at point, degrees."""
    focal_length: Range = field(default_factory=lambda: [30.0, 55.0])
    """Lens focal length, mm (with sensor_width)."""
    sensor_width: float = 36.0
    """Sensor width, mm (horizontal sensor fit)."""
    look_at_jitter: float = 0.05
    """Std-dev (m) of the Gaussian offset added to the look-at point (the objects' centre)."""
    clip_start: float = 0.01
    """Near clipping distance, metres (surfaces closer than this are not seen)."""
    clip_end: float = 100.0
    """Far clipping distance, metres."""
    principal_point_jitter: float = 0.0
    """Std-dev (pixels) of a Gaussian shift of the principal point (K's cx, cy; Blender's lens
    shift), drawn per scene; 0 keeps it at the image centre, e.g. 2.0 mimics calibration spread.
    Labels stay exact: they follow the pinhole model with the recorded K."""
    exposure: Range = field(default_factory=lambda: [0.0, 0.0])
    """Exposure in stops, drawn per scene (constant along a sequence): the linear image is
    multiplied by 2**stops before the sRGB conversion; e.g. [-1.0, 1.0]."""
    dof_probability: float = 0.0
    """Chance that a scene's RGB has depth of field (tabletop scene), focused on the look-at
    point; labels stay those of a pinhole camera (rendered in a second, sharp pass)."""
    fstop: Range = field(default_factory=lambda: [1.4, 5.6])
    """Aperture f-number of depth of field, drawn per scene; smaller = blurrier."""


@dataclass
class LightingConfig:
    count: list[int] = field(default_factory=lambda: [1, 3])
    """Number of lights, inclusive range."""
    types: list[str] = field(default_factory=lambda: ["point", "sun", "spot", "area"])
    """Light types drawn uniformly: point, sun, spot, area."""
    distance: Range = field(default_factory=lambda: [1.0, 3.0])
    """Distance of point, spot and area lights from the scene centre, metres."""
    elevation: Range = field(default_factory=lambda: [30.0, 85.0])
    """Elevation of every light (the sun's too), degrees."""
    point_power: Range = field(default_factory=lambda: [20.0, 200.0])
    """Watts."""
    spot_power: Range = field(default_factory=lambda: [50.0, 400.0])
    area_power: Range = field(default_factory=lambda: [20.0, 200.0])
    sun_strength: Range = field(default_factory=lambda: [0.5, 3.0])
    """Sun irradiance, W/m^2."""
    size: Range = field(default_factory=lambda: [0.05, 0.5])
    """Radius (point, spot) or edge (area) in metres; the sun's angular size is size/5 rad."""
    saturation: Range = field(default_factory=lambda: [0.0, 0.25])
    """Light colour saturation (HSV, value 1, random hue) for lights not coloured by temperature."""
    temperature: Range = field(default_factory=lambda: [2700.0, 9000.0])
    """Colour temperature range in kelvin (1000..40000) for lights coloured by temperature:
    the blackbody colour in linear sRGB, brightest channel 1 (2700 K warm, 6500 K about white)."""
    temperature_probability: float = 0.0
    """Chance that a light's colour comes from a blackbody temperature drawn from
    temperature, else from the HSV draw (hue uniform, saturation); 0 = always HSV."""
    world_strength: Range = field(default_factory=lambda: [0.1, 0.6])
    """Uniform background (world) light strength; its colour is grey."""
    world: list[str] = field(default_factory=lambda: ["uniform"])
    """World (background) light kinds drawn uniformly per scene: uniform (grey, world_strength),
    sky (Blender's physical sky, ShaderNodeTexSky) or hdri (an equirectangular image)."""
    sun_elevation: Range = field(default_factory=lambda: [5.0, 80.0])
    """Sky: the sky's sun elevation above the horizon, degrees (-90..90)."""
    sun_azimuth: Range = field(default_factory=lambda: [0.0, 360.0])
    """Sky: the sky's sun azimuth about +Z, degrees."""
    sky_strength: Range = field(default_factory=lambda: [0.05, 0.3])
    """Sky: background strength of the physical sky (1 = real daylight, very bright under the
    Standard view transform)."""
    hdri_dir: Optional[str] = None
    """Hdri: a folder of equirectangular .hdr/.exr files, one drawn per scene; null = the bundled
    procedural sky assets/hdri/default_sky.hdr (made by scripts/make_hdri.py)."""
    hdri_strength: Range = field(default_factory=lambda: [0.3, 1.2])
    """Hdri: background strength of the image."""
    hdri_rotation: Range = field(default_factory=lambda: [0.0, 360.0])
    """Hdri: rotation of the image about +Z, degrees."""


@dataclass
class MaterialsConfig:
    hue: Range = field(default_factory=lambda: [0.0, 1.0])
    saturation: Range = field(default_factory=lambda: [0.1, 0.9])
    value: Range = field(default_factory=lambda: [0.15, 0.95])
    """Base colour in HSV (sRGB-encoded value), converted to linear RGB for Blender."""
    roughness: Range = field(default_factory=lambda: [0.05, 1.0])
    metallic: Range = field(default_factory=lambda: [0.0, 1.0])
    metallic_probability: float = 0.3
    """Chance that an object is metallic at all (else metallic = 0)."""
    specular: Range = field(default_factory=lambda: [0.5, 0.5])
    """Principled BSDF Specular IOR Level (0.5 = Blender's default, the IOR's own reflectance;
    0 = no dielectric reflection, 1 = twice as much)."""
    transmission: Range = field(default_factory=lambda: [0.0, 0.0])
    """Principled BSDF Transmission Weight of transmissive objects (1 = clear glass-like)."""
    transmission_probability: float = 0.0
    """Chance that an object is transmissive at all (else transmission = 0)."""
    texture_probability: float = 0.0
    """Chance that an object (or the ground) gets a procedural texture mixing its base colour
    with a second colour drawn like it (HSV ranges above). Recipes with their own texture
    settings (scene=flying) use those instead."""
    textures: list[str] = field(default_factory=lambda: ["checker", "noise", "wave", "voronoi", "magic", "brick",
                                                         "gradient"])
    """Texture kinds drawn uniformly: the procedural checker, noise, wave, voronoi, magic,
    brick and gradient (of a random type), and image (a file of image_dir)."""
    image_dir: Optional[str] = None
    """A folder of images (.png .jpg .tif .bmp .tga .exr .hdr) for the image texture kind,
    drawn uniformly; needs "image" in textures (e.g. textures=[image] for images only)."""
    texture_scale: Range = field(default_factory=lambda: [2.0, 8.0])
    """Pattern frequency, features (checker cells, waves, bricks, image tiles) across the object."""
    texture_distortion: Range = field(default_factory=lambda: [0.0, 3.0])
    """Distortion of noise, wave and magic textures."""
    texture_detail: Range = field(default_factory=lambda: [0.0, 6.0])
    """Detail octaves of noise and wave textures (0..15)."""


@dataclass
class ObjectsConfig:
    catalog: Optional[str] = "bundled"
    """Asset catalog YAML ("bundled" = assets/catalog.yaml; null = none, use dirs only)."""
    dirs: Optional[dict[str, str]] = field(default_factory=dict)
    """Your own meshes: {category name: folder}. Every OBJ/PLY/STL/GLB/GLTF/OFF file in
    the folder (recursively) becomes an asset of that category. null = none (read as {})."""
    dir_scale: float = 1.0
    """Metres per unit of the meshes in dirs."""
    count: list[int] = field(default_factory=lambda: [3, 8])
    """Objects per frame, inclusive range."""
    scale: Range = field(default_factory=lambda: [0.8, 1.25])
    """Random uniform scale factor on top of the catalog scale."""
    weights: Optional[dict[str, float]] = field(default_factory=dict)
    """Class balance: {category: weight}; each object's category is drawn with probability
    proportional to its weight (1 for categories not listed), then an asset of it uniformly."""
    min_per_frame: Optional[dict[str, int]] = field(default_factory=dict)
    """Class balance: {category: n}, at least n objects of the category in every frame."""
    max_per_frame: Optional[dict[str, int]] = field(default_factory=dict)
    """Class balance: {category: n}, at most n objects of the category in any frame."""


SUPPORTS = ("ground", "table", "bin", "pile")


@dataclass
class PlacementConfig:
    mode: str = "analytic"
    """analytic: objects stand upright on the ground, packed so they cannot touch (exact, no
    simulation). physics: objects are dropped in random orientations onto a support and
    settled with Blender's rigid-body world (Bullet) until at rest; tabletop scene only."""
    supports: list[str] = field(default_factory=lambda: ["ground", "table", "bin", "pile"])
    """physics: what objects land on, one kind drawn per scene: ground (spread over
    scene.area_radius), table (a table top with legs), bin (an open box on the ground) or
    pile (dropped in a narrow column onto the ground, so they heap up)."""
    drop_gap: Range = field(default_factory=lambda: [0.01, 0.06])
    """physics: vertical gap (m) between an object's bounding sphere and whatever is below it
    when dropped; objects start stacked in a column, never touching."""
    pile_radius: float = 0.06
    """physics, pile: radius (m) of the disk the objects' centres are dropped over."""
    table_size: Range = field(default_factory=lambda: [0.6, 1.2])
    """physics, table: edge lengths (m) of the table top, each drawn from this range."""
    table_height: Range = field(default_factory=lambda: [0.4, 0.8])
    """physics, table: height (m) of the table top's upper surface."""
    bin_size: Range = field(default_factory=lambda: [0.3, 0.5])
    """physics, bin: inner edge lengths (m) of the bin, each drawn from this range."""
    bin_height: Range = field(default_factory=lambda: [0.08, 0.2])
    """physics, bin: height (m) of the bin's walls."""
    friction: Range = field(default_factory=lambda: [0.4, 0.9])
    """physics: Bullet friction of each object, drawn per object (supports use 0.8)."""
    restitution: Range = field(default_factory=lambda: [0.0, 0.3])
    """physics: bounciness of each object, drawn per object (supports use 0.2)."""
    max_seconds: float = 30.0
    """physics: simulated seconds at most (24 steps per second); the simulation stops as soon
    as no object moves faster than rest_speed (most scenes rest within 2-15 s; crowded bins
    take up to ~25 s). Objects still moving then are rendered where they are, with a warning."""
    rest_speed: float = 0.002
    """physics: an object is at rest once its surface moves less than this (m/s)."""
    substeps: int = 20
    """physics: Bullet substeps per 1/24 s step (more: slower, steadier stacks)."""
    margin: float = 0.0002
    """physics: collision margin (m) of the objects: resting objects float this far above
    what holds them (and two stacked ones twice this); must stay below 1 mm."""


@dataclass
class SequenceConfig:
    length: int = 1
    """Time steps per sequence. 1 renders independent frames; L > 1 groups frame indices
    into sequences: frame i is step i % L of sequence i // L, and gets optical flow."""
    gap: int = 1
    """Frame gap k of the flow: forward flow is t -> t+k, backward flow t -> t-k."""
    formats: list[str] = field(default_factory=list)
    """Extra flow files besides the lossless .npy (flow formats of simgen.io.exporters): any of
    flo (Middlebury), kitti (16-bit PNG)."""


@dataclass
class OutputConfig:
    dir: str = "outputs/dataset"
    """Dataset folder (created). Relative paths are relative to the working directory. The
    YAML default is Hydra's run folder, ${hydra:runtime.output_dir}: outputs/DATE/TIME, or
    multirun/DATE/TIME/N_overrides for each job of a sweep."""
    previews: bool = True
    """Also write colourized pictures under previews/ (never instead of the data)."""
    overwrite: bool = False
    """Allow writing into a folder that already holds a dataset made with another config."""
    formats: list[str] = field(default_factory=lambda: ["coco"])
    """Dataset export formats written at the end of every run from all frames on disk
    (simgen.io.exporters): coco (DIR/coco.json). [] writes none."""
    labels: list[str] = field(default_factory=list)
    """Optional label kinds added to every frame (simgen.labels.kinds; docs/dataset.md):
    visibility (each COCO annotation gets visibility = visible / amodal pixels and
    amodal_area), amodal (amodal masks of the annotated objects, DIR/amodal/NNNNNN.npz)."""


def _default_scene() -> Any:
    from scenes.tabletop import Config

    return Config()


@dataclass
class Settings:
    seed: int = 0
    start: int = 0
    frames: int = 4
    render: RenderConfig = field(default_factory=RenderConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    lighting: LightingConfig = field(default_factory=LightingConfig)
    materials: MaterialsConfig = field(default_factory=MaterialsConfig)
    objects: ObjectsConfig = field(default_factory=ObjectsConfig)
    placement: PlacementConfig = field(default_factory=PlacementConfig)
    scene: Any = field(default_factory=_default_scene)
    """The recipe's own Config dataclass (scenes/<recipe>.py), chosen by scene.recipe."""
    sequence: SequenceConfig = field(default_factory=SequenceConfig)
    output: OutputConfig = field(default_factory=OutputConfig)


DEFAULT_HDRI: Path = Path(__file__).resolve().parents[1] / "assets" / "hdri" / "default_sky.hdr"
"""The bundled procedural sky (scripts/make_hdri.py), used when lighting.hdri_dir is null."""
HDRI_SUFFIXES = (".hdr", ".exr")


def folder_files(key: str, folder: str, suffixes: tuple[str, ...], what: str, instead: str) -> tuple[Path, ...]:
    """The sorted files of ``folder`` (the value of config key ``key``) whose suffix is one of
    ``suffixes``; a SimgenError naming ``what`` it should hold, or ``instead``, when it is no
    folder or holds none."""
    d = Path(folder).expanduser()
    if not d.is_dir():
        raise SimgenError(f"{key}={folder} is not a folder; set it to a folder of {what} or {instead}")
    files = tuple(sorted(p.resolve() for p in d.iterdir() if p.is_file() and p.suffix.lower() in suffixes))
    if not files:
        raise SimgenError(f"{key}={folder} holds no {what}; add some or set {instead}")
    return files


def hdri_files(hdri_dir: str | None) -> list[Path]:
    """The sorted .hdr/.exr files of ``hdri_dir`` (the bundled default sky when None)."""
    if hdri_dir is None:
        return [DEFAULT_HDRI]
    return list(folder_files("lighting.hdri_dir", hdri_dir, HDRI_SUFFIXES, ".hdr or .exr files",
                             "lighting.hdri_dir=null for the bundled sky"))


@functools.lru_cache(maxsize=8)
def texture_images(image_dir: str | None) -> tuple[Path, ...]:
    """The sorted image files of ``image_dir`` (materials.image_dir); () when it is None."""
    from simgen.core.scene import IMAGE_SUFFIXES

    if image_dir is None:
        return ()
    return folder_files("materials.image_dir", image_dir, IMAGE_SUFFIXES, f"images ({' '.join(IMAGE_SUFFIXES)})",
                        "materials.image_dir=null")


def check_image_textures(name: str, kinds: list[str], image_dir: str | None) -> None:
    """The image texture kind in ``kinds`` (the config key ``name``) and materials.image_dir
    come together."""
    if "image" in kinds and image_dir is None:
        raise SimgenError(f"{name} has image but materials.image_dir is null; set materials.image_dir=/path/to/images")
    texture_images(image_dir)


def _check_range(name: str, r: list, lo: float | None = None, hi: float | None = None) -> None:
    if len(r) != 2 or r[0] > r[1]:
        raise SimgenError(f"{name} must be a range [low, high] with low <= high (got {list(r)}); "
                          f"set e.g. {name}=[{lo if lo is not None else 0},{hi if hi is not None else 1}]")
    if (lo is not None and r[0] < lo) or (hi is not None and r[1] > hi):
        raise SimgenError(f"{name}={list(r)} is outside [{lo}, {hi}]; pick values in that interval")


def validate(s: Settings) -> Settings:
    """Check values the types alone do not rule out; raise SimgenError naming the fix."""
    if s.frames < 1:
        raise SimgenError(f"frames must be at least 1 (got {s.frames}); set frames=N with N >= 1")
    if s.start < 0:
        raise SimgenError(f"start must be >= 0 (got {s.start}); set start=K with K >= 0")
    if s.seed < 0:
        raise SimgenError(f"seed must be >= 0 (got {s.seed})")
    r = s.render
    if r.engine != "cycles":
        raise SimgenError(f"render.engine={r.engine!r} is not supported; use render.engine=cycles "
                          "(EEVEE needs a GPU with OpenGL/Vulkan)")
    if r.device not in DEVICES:
        raise SimgenError(f"render.device={r.device!r} is unknown; use one of {', '.join(DEVICES)}")
    if r.width < 1 or r.height < 1:
        raise SimgenError(f"render.width and render.height must be >= 1 (got {r.width}x{r.height})")
    if r.samples < 1:
        raise SimgenError(f"render.samples must be >= 1 (got {r.samples})")
    if r.filter_width <= 0:
        raise SimgenError(f"render.filter_width must be > 0 (got {r.filter_width}); 1.5 is Blender's default")
    if r.threads < 0:
        raise SimgenError(f"render.threads must be >= 0 (got {r.threads}); 0 means one per core")
    c = s.camera
    _check_range("camera.distance", c.distance, 1e-3)
    _check_range("camera.elevation", c.elevation, -90, 90)
    _check_range("camera.azimuth", c.azimuth)
    _check_range("camera.focal_length", c.focal_length, 1e-3)
    if c.sensor_width <= 0:
        raise SimgenError(f"camera.sensor_width must be > 0 (got {c.sensor_width})")
    if c.principal_point_jitter < 0:
        raise SimgenError(f"camera.principal_point_jitter must be >= 0 (got {c.principal_point_jitter})")
    _check_range("camera.exposure", c.exposure, -20, 20)
    if not 0 <= c.dof_probability <= 1:
        raise SimgenError(f"camera.dof_probability must lie in [0, 1] (got {c.dof_probability})")
    _check_range("camera.fstop", c.fstop, 0.1)
    if not 0 < c.clip_start < c.clip_end:
        raise SimgenError(f"need 0 < camera.clip_start < camera.clip_end (got {c.clip_start}, {c.clip_end})")
    li = s.lighting
    _check_range("lighting.count", li.count, 0)
    bad = sorted(set(li.types) - {"point", "sun", "spot", "area"})
    if bad or not li.types:
        raise SimgenError(f"lighting.types has unknown or no types {bad}; use any of point, sun, spot, area")
    for name in ("distance", "elevation", "point_power", "spot_power", "area_power", "sun_strength",
                 "size", "world_strength"):
        _check_range(f"lighting.{name}", getattr(li, name), 0)
    _check_range("lighting.saturation", li.saturation, 0, 1)
    bad = sorted(set(li.world) - {"uniform", "sky", "hdri"})
    if bad or not li.world:
        raise SimgenError(f"lighting.world has unknown or no kinds {bad}; use any of uniform, sky, hdri")
    _check_range("lighting.sun_elevation", li.sun_elevation, -90, 90)
    _check_range("lighting.sun_azimuth", li.sun_azimuth)
    for name in ("sky_strength", "hdri_strength"):
        _check_range(f"lighting.{name}", getattr(li, name), 0)
    _check_range("lighting.hdri_rotation", li.hdri_rotation)
    if "hdri" in li.world:
        hdri_files(li.hdri_dir)  # raises when the folder is missing or holds no .hdr/.exr
    _check_range("lighting.temperature", li.temperature, 1000, 40000)
    if not 0 <= li.temperature_probability <= 1:
        raise SimgenError(f"lighting.temperature_probability must lie in [0, 1] (got {li.temperature_probability})")
    m = s.materials
    for name in ("hue", "saturation", "value", "roughness", "metallic", "specular", "transmission"):
        _check_range(f"materials.{name}", getattr(m, name), 0, 1)
    for name in ("metallic_probability", "transmission_probability", "texture_probability"):
        if not 0 <= getattr(m, name) <= 1:
            raise SimgenError(f"materials.{name} must lie in [0, 1] (got {getattr(m, name)})")
    from simgen.core.scene import TEXTURE_KINDS

    bad = sorted(set(m.textures) - set(TEXTURE_KINDS))
    if bad or not m.textures:
        raise SimgenError(f"materials.textures has unknown or no kinds {bad}; use any of {', '.join(TEXTURE_KINDS)}")
    check_image_textures("materials.textures", m.textures, m.image_dir)
    _check_range("materials.texture_scale", m.texture_scale, 1e-6)
    _check_range("materials.texture_distortion", m.texture_distortion, 0)
    _check_range("materials.texture_detail", m.texture_detail, 0, 15)
    o = s.objects
    _check_range("objects.count", o.count, 0, 65000)
    _check_range("objects.scale", o.scale, 1e-6)
    if o.dir_scale <= 0:
        raise SimgenError(f"objects.dir_scale must be > 0 (got {o.dir_scale})")
    if o.catalog is None and not o.dirs:
        raise SimgenError("no assets: objects.catalog is null and objects.dirs is empty; "
                          "set objects.catalog=bundled or objects.dirs={category: /path/to/meshes}")
    p = s.placement
    if p.mode not in ("analytic", "physics"):
        raise SimgenError(f"placement.mode={p.mode!r} is unknown; use placement=analytic or placement=physics")
    bad = sorted(set(p.supports) - set(SUPPORTS))
    if bad or not p.supports:
        raise SimgenError(f"placement.supports has unknown or no kinds {bad}; use any of {', '.join(SUPPORTS)}")
    for name in ("drop_gap", "table_size", "table_height", "bin_size", "bin_height", "friction"):
        _check_range(f"placement.{name}", getattr(p, name), 0)
    _check_range("placement.restitution", p.restitution, 0, 1)
    for name in ("pile_radius", "max_seconds", "rest_speed"):
        if getattr(p, name) <= 0:
            raise SimgenError(f"placement.{name} must be > 0 (got {getattr(p, name)})")
    if p.substeps < 1:
        raise SimgenError(f"placement.substeps must be >= 1 (got {p.substeps})")
    if not 0 < p.margin < 0.001:
        raise SimgenError(f"placement.margin must lie in (0, 0.001) m (got {p.margin}): resting objects "
                          "float by it")
    q = s.sequence
    if q.length < 1 or q.gap < 1:
        raise SimgenError(f"sequence.length and sequence.gap must be >= 1 (got {q.length}, {q.gap})")
    if q.length > 1 and q.gap >= q.length:
        raise SimgenError(f"sequence.gap={q.gap} leaves no frame pair in a sequence of {q.length} steps; "
                          "lower sequence.gap or raise sequence.length")
    bad = sorted(set(q.formats) - {"flo", "kitti"})
    if bad:
        raise SimgenError(f"sequence.formats has unknown formats {bad}; use any of flo, kitti")
    from simgen.recipes import load_recipe

    check = getattr(load_recipe(s.scene.recipe), "check", None)
    if check is not None:
        check(s)
    if not s.output.dir:
        raise SimgenError("output.dir is empty; set output.dir=/path/to/dataset")
    return s


def to_settings(cfg: Any) -> Settings:
    """Check a composed DictConfig against the schema and return plain, validated Settings."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    names = [f.name for f in fields(Settings)]
    unknown = [k for k in cfg if k not in names and k != "hydra"]  # e.g. +frmaes=3, else silently dropped
    if unknown:
        fix = _did_you_mean(unknown[0], names) or "remove it"
        raise SimgenError(f"unknown config key '{unknown[0]}'; {fix} (see `simgen --cfg job` for the expected keys)")
    from simgen.recipes import load_recipe

    if "scene" not in cfg or "recipe" not in cfg.scene:
        raise SimgenError("the config has no scene.recipe; pick a scene, e.g. scene=tabletop")
    recipe = load_recipe(str(cfg.scene.recipe))
    try:
        # the scene group is typed by its recipe's own Config dataclass
        scene = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(recipe.Config), cfg.scene))
        rest = OmegaConf.masked_copy(cfg, [n for n in names if n != "scene"])
        settings = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Settings), rest))
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "?"
        if getattr(e, "object_type", None) is recipe.Config and not key.startswith("scene."):
            key = f"scene.{key}"
        msg = str(e).splitlines()[0].rstrip(".")
        raise SimgenError(f"bad config value for '{key}': {msg}; {_fix_hint(key)}") from e
    settings.scene = scene
    assert isinstance(settings, Settings)
    o = settings.objects
    o.dirs, o.weights, o.min_per_frame, o.max_per_frame = (  # null (the YAML default) means none
        o.dirs or {}, o.weights or {}, o.min_per_frame or {}, o.max_per_frame or {})
    return validate(settings)


def _fix_hint(key: str) -> str:
    """An example of a well-typed value for a schema key (list indices dropped), else where to look."""
    import json
    import re

    path = re.sub(r"\[\d+\]", "", key)
    value: Any = Settings()
    parent = ""
    for part in path.split("."):
        if not (dataclasses.is_dataclass(value) and hasattr(value, part)):
            options = [f.name for f in fields(value)] if dataclasses.is_dataclass(value) else []
            guess = _did_you_mean(part, options, prefix=parent)
            return f"{guess} (see `simgen --cfg job` for the expected keys)" if guess else \
                "see `simgen --cfg job` for the expected keys"
        value, parent = getattr(value, part), f"{parent}{part}."
    if isinstance(value, str):
        shown = value
    elif isinstance(value, dict):
        shown = "{name: value}"
    else:  # Hydra's override syntax: true/false, [a,b]
        shown = json.dumps(value, separators=(",", ":"))
    return f"write it like {path}={shown}"


def _did_you_mean(name: str, options: list[str], prefix: str = "") -> str:
    import difflib

    close = difflib.get_close_matches(name, options, n=1)
    return f"did you mean '{prefix}{close[0]}'?" if close else ""
