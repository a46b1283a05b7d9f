"""Typed configuration: the schema of every Hydra group, one declaration per setting.

The package declares simgen's configuration: this module holds the settings dataclasses (the
:class:`Settings` tree and every group's class) and :func:`check_settings`;
:mod:`simgen.config.schema` the vocabulary they are declared in (``setting()``, ``span()``, the
field checks). What needs the scene recipes is the package :mod:`simgen.configure`, higher in
the layers: :mod:`simgen.configure.settings` a composed config made :class:`Settings` with its
recipe, and :func:`~simgen.configure.settings.validate`; :mod:`simgen.configure.store` Hydra's
config groups (ConfigStore, compose, Hydra's errors in one line).

Each field declares its type, default and bounds (:func:`simgen.config.schema.setting`,
:func:`simgen.config.schema.span`) with its meaning in the docstring under it; a group's class
docstring says what its defaults give. Each dataclass is its group's default option in Hydra
(:mod:`simgen.configure.store`); the option files under ``configs/`` state only what differs.
:func:`check_settings` checks a Settings tree against these declarations (one generic walk)
plus the few rules that tie fields together. docs/config.md and ``simgen --help`` are
generated from the same declarations.

This module sits low in the layers: it imports no recipe (``scenes``), no pipeline and no
Blender. Turning a composed Hydra config into Settings with the recipe's own Config, and the
recipe's own checks, live higher up in :mod:`simgen.configure.settings`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from simgen.errors import SimgenError
from simgen.config.schema import check_fields, setting, span
from simgen.core.scene import MAX_IMAGE_PIXELS, MAX_INSTANCE_ID, PROCEDURAL_TEXTURES, ROLES, TEXTURE_KINDS
from simgen.core.camera import STEREO_LABELS
from simgen.core.splits import check_splits
from simgen.core.tone import TONES

Range = list[float]
"""A closed interval [low, high] that a parameter is drawn from uniformly."""

DEFAULT_RECIPE = "tabletop"
"""The scene recipe of ``Settings()`` (configs/config.yaml picks ``scene: tabletop`` too)."""

RUN_FOLDER = "${hydra:runtime.output_dir}"
"""``output.dir`` as Hydra composes it: Hydra's run folder (outputs/DATE/TIME, or multirun/DATE/TIME/N
for each job of a sweep), which exists only inside a Hydra run, so it cannot be the dataclass default."""

MAX_IMAGE_SIZE = 65536
"""Blender's largest render.width / render.height."""
MIN_IMAGE_SIZE = 4
"""Blender's smallest render.width / render.height (it silently renders 4 px for less)."""
MAX_SAMPLES = 16777216
"""Cycles' largest sample count."""
MAX_THREADS = 1024
MAX_WORKERS = 64
"""Blender's largest render thread count."""
MAX_FRAMES = 1_000_000
"""Most frames one run renders (shard bigger datasets with start/frames)."""
MAX_FRAME_INDEX = 999_999_999
"""Largest frame index: annotation ids (index * 65536 + instance) stay exact in any JSON reader."""
MAX_SEQUENCE_LENGTH = 10_000
"""Most steps per sequence (every step of a sequence is drawn to render any one of them)."""
MAX_SEED = 2**63 - 1
MAX_SHARDS = 1_000_000
MAX_LIGHTS = 1000
MAX_DISTORTION = 1000.0
"""Blender's largest Distortion input of the noise, wave and magic texture nodes."""
MAX_WEIGHT = 1e9
MAX_SIMULATED_SECONDS = 600.0
MAX_SUBSTEPS = 1000

ENGINES = ("cycles",)
DEVICES = ("auto", "cpu", "cuda", "optix", "hip", "oneapi", "metal")
DENOISE_PREFILTERS = ("accurate", "fast")
LIGHT_TYPES = ("point", "sun", "spot", "area")
WORLD_KINDS = ("uniform", "sky", "hdri")
PLACEMENT_MODES = ("analytic", "physics")
SUPPORTS = ("ground", "table", "bin", "pile")
KEYPOINT_SOURCES = ("box", "farthest", "catalog")
RIGS = ("mono", "stereo", "calibration")
"""camera.rig: one camera, a rectified stereo pair (simgen.core.camera.stereo_offset), or every
camera of camera.calibration (simgen.sampling.camera.with_rig)."""


def labels_written(labels: Sequence[str], rig: str, formats: Sequence[str] = ()) -> list[str]:
    """The optional label kinds a run writes: output.labels ``labels``, with camera.rig=stereo
    the pair's own (:data:`STEREO_LABELS`), and with tracks or the bop format (output.formats
    ``formats``) the parts: an articulated object's links move each on its own, and each is a
    BOP object of its own."""
    linked = "tracks" in labels or "bop" in formats
    extra = [*(STEREO_LABELS if rig == "stereo" else ()), *(("parts",) if linked else ())]
    return [*labels, *(k for k in extra if k not in labels)]
MAX_KEYPOINTS = 64
"""Most keypoints output.keypoints=farthest places on a model (output.keypoint_count)."""


@dataclass
class SettleConfig:
    """How scene.placement=physics drops objects and settles them (scene.physics.*): what every recipe
    with physics placement shares (tabletop's and environment's scene.physics)."""

    drop_gap: list[float] = span([0.01, 0.06], ge=0.0)
    """Vertical gap (m) between an object's bounding sphere and whatever is below it
    when dropped; objects start stacked in a column, never touching."""
    friction: list[float] = span([0.4, 0.9], ge=0.0)
    """Bullet friction of each object, drawn per object (supports use 0.8)."""
    restitution: list[float] = span([0.0, 0.3], ge=0.0, le=1.0)
    """Bounciness of each object, drawn per object (supports use 0.2)."""
    max_seconds: float = setting(30.0, gt=0.0, le=MAX_SIMULATED_SECONDS)
    """Simulated seconds at most (24 steps per second); the simulation stops as soon
    as no object moves faster than scene.physics.rest_speed (most scenes rest within 2-15 s; crowded bins
    take up to ~25 s). Objects still moving then are rendered where they are, with a warning."""
    rest_speed: float = setting(0.002, gt=0.0)
    """An object is at rest once its surface moves less than this (m/s)."""
    substeps: int = setting(20, ge=1, le=MAX_SUBSTEPS)
    """Bullet substeps per 1/24 s step (more: slower, steadier stacks)."""
    margin: float = setting(0.0002, gt=0.0, lt=0.001)
    """Collision margin (m) of the objects: resting objects float this far above
    what holds them (and two stacked ones twice this); must stay below 1 mm."""


@dataclass
class RenderConfig:
    """Cycles path tracer. Labels (ids, depth, normals) are exact at any sample count."""

    engine: str = setting("cycles", choices=ENGINES)
    """Render engine: cycles. Only Cycles: EEVEE needs a GPU with OpenGL/Vulkan."""
    device: str = setting("auto", choices=DEVICES, common=True)
    """Cycles device: auto, cpu, cuda, optix, hip, oneapi or metal. auto: the first of OptiX, CUDA, HIP, oneAPI, Metal with a usable
    device, else CPU. A named GPU backend without a device falls back to CPU with a warning."""
    device_index: int = setting(-1, ge=-1, le=1023)
    """Which GPU of the chosen backend renders: -1 = every one this process sees; i = only
    the i-th (pins a worker to one GPU of a multi-GPU node; CUDA_VISIBLE_DEVICES, which Slurm
    and Ray set per job, does the same from outside)."""
    samples: int = setting(128, ge=1, le=MAX_SAMPLES, common=True)
    """Path-tracing samples per pixel, the most with adaptive sampling (labels are exact at any
    count). The default (128, adaptive_threshold 0.02, denoise, clamp_indirect 10) won
    scripts/noise_study.py: the best PSNR - 10 log10(CPU seconds) against a 1024-sample reference."""
    width: int = setting(320, ge=MIN_IMAGE_SIZE, le=MAX_IMAGE_SIZE, common=True)
    """Image width in pixels."""
    height: int = setting(240, ge=MIN_IMAGE_SIZE, le=MAX_IMAGE_SIZE, common=True)
    """Image height in pixels."""
    denoise: bool = setting(True)
    """Run Cycles' denoiser (OpenImageDenoise, on the render's GPU when it renders on one) on the
    RGB image; labels are never denoised."""
    denoise_prefilter: str = setting("accurate", choices=DENOISE_PREFILTERS)
    """How the denoiser treats its guides (the albedo and normal passes): accurate denoises them
    first (they are noisy where depth of field or glossy surfaces are), fast takes them as they
    are. At small sizes fast costs far less (160x120: about 40 ms a frame against 330 ms);
    scripts/noise_study.py compares the images."""
    adaptive_threshold: float = setting(0.02, ge=0.0, le=1.0)
    """Cycles' adaptive sampling: a pixel stops sampling once its noise is under this
    threshold (render.samples is then the most a pixel gets), e.g. 0.01; 0 = off, every pixel
    gets render.samples. The labels still come from the first sample."""
    clamp_direct: float = setting(0.0, ge=0.0, le=1e6)
    """Largest value one sample of direct light may add to a pixel (cuts fireflies, biases
    highlights darker); 0 = no clamping."""
    clamp_indirect: float = setting(10.0, ge=0.0, le=1e6)
    """Largest value one sample of indirect (bounced) light may add to a pixel; 0 = no
    clamping. 10 is Blender's default."""
    tone: str = setting("agx", choices=TONES)
    """How the linear render becomes the 8-bit sRGB image. agx: Blender's AgX view transform,
    highlights rolled off towards white over 6.5 stops above mid grey instead of clipped;
    standard: Blender's Standard transform (clip at 1.0, sRGB curve), simgen's conversion before.
    Both are Blender's own colour management (OpenColorIO on the config in the bpy wheel).
    Labels are never tone mapped."""
    auto_exposure: bool = setting(True)
    """Meter every frame: expose its log-average luminance to mid grey (0.18), at most 8
    stops either way, then lower the exposure until at most 1 % of the pixels are above the
    tone's white; camera.exposure is added on top (exposure compensation). The stops are in
    the frame meta's ``image``. false: the linear render as it is (times 2**camera.exposure)."""
    threads: int = setting(0, ge=0, le=MAX_THREADS)
    """CPU render threads; 0 = one per core."""
    filter_width: float = setting(1.5, ge=0.01, le=10.0)
    """Pixel filter width in pixels (Blackman-Harris) for the RGB image."""
    exact_labels: bool = setting(True)
    """Labels (ids, depth, normals) at the exact pixel centre: Cycles takes them from its first
    sample, 3.5e-4 x filter_width px off the centre, and the camera is shifted by that much
    (the RGB moves by 5e-4 px at the default width; nothing costs extra). false: unshifted,
    labels up to 5e-4 px off the centre, which flips single pixels at depth discontinuities."""
    overlap: bool = setting(True)
    """Read, label and write frames on worker threads (render.workers) while the next frames
    render (same files; the GPU or the render threads never wait for that work; only the
    render call overlaps it, Blender's other operators wait for the workers). false: one frame
    at a time, all on one thread."""
    workers: int = setting(0, ge=0, le=MAX_WORKERS)
    """Worker threads for the CPU work of frames with render.overlap: reading the render back,
    tone mapping, labels, annotations, encoding and writing the files; several frames at once,
    completed in index order. 0 = one per core this process may use (its CPU affinity), at
    most 8. Each frame in flight (at most workers + 1) holds its render, label maps and encoded
    files: ~60 MiB at 640x480, ~190 MiB at 1920x1080 (scripts/bench_ceiling.py --workers);
    the scratch folder holds workers + 2 renders."""
    persistent_data: Optional[bool] = setting(None)
    """Keep Cycles' scene data (and its device's kernels and buffers) between frames. null: on
    when Cycles renders on a GPU, off on the CPU. On a GPU it saves ~0.4 s a frame (OptiX on an
    H200, the default job at 640x480: render 0.59 s a frame against 0.18 s; scripts/gpu_check.py);
    on the CPU it changed nothing measurable, so the CPU keeps Blender's default (off). Labels
    are the same either way."""
    scratch_dir: Optional[str] = setting(None, example="/local/scratch")
    """Folder for the renders in flight: multilayer EXR files of 57 bytes per pixel (118 MB at
    1920x1080), up to render.workers + 2 at once with render.overlap (twice that with depth of field). null: the
    first of /dev/shm (RAM), the system's temp folder and output.dir/logs/scratch with room for
    them (containers give /dev/shm 64 MB). The run's work folder in it is removed at the end."""
    recycle_every: int = setting(1000, ge=0, le=MAX_FRAMES)
    """Render at most this many frames per Blender process: a run with more renders them in
    batches of whole sequences, each in a fresh process (Blender's memory grows ~20 KiB per
    new scene; a restart costs ~2 s). 0: one process whatever the number of frames."""
    max_image_pixels: int = setting(MAX_IMAGE_PIXELS, ge=1)
    """The largest width x height of any image simgen reads as input: textures, background
    photos, HDRIs, EXR (a mesh's own and glTF-embedded textures and PBR maps included). Checked
    from the file's header before it is decoded, so a small file that states a huge size (a
    decompression bomb) is refused in one line instead of costing gigabytes. The default,
    16384 x 8192, takes a 16K HDRI; raise it for bigger ones."""


@dataclass
class CameraConfig:
    """The camera's lens, sensor, clipping and exposure; where it stands is the recipe's
    (tabletop: scene.camera_distance, camera_elevation, camera_azimuth, look_at_jitter)."""

    focal_length: list[float] = span([30.0, 55.0], ge=1.0)
    """Lens focal length, mm (with sensor_width)."""
    sensor_width: float = setting(36.0, ge=1.0)
    """Sensor width, mm (horizontal sensor fit)."""
    clip_start: float = setting(0.01, ge=1e-6)
    """Near clipping distance, metres (surfaces closer than this are not seen)."""
    clip_end: float = setting(100.0, gt=0.0)
    """Far clipping distance, metres."""
    principal_point_jitter: float = setting(0.0, ge=0.0)
    """Std-dev (pixels) of a Gaussian shift of the principal point (K's cx, cy; Blender's lens
    shift), drawn per scene; 0 keeps it at the image centre, e.g. 2.0 mimics calibration spread.
    With camera.calibration it moves the calibration's principal point (kept within 3 std-devs).
    Labels stay exact: they follow the recorded K (and lens)."""
    exposure: list[float] = span([0.0, 0.0], ge=-20.0, le=20.0)
    """Exposure in stops, drawn per scene (constant along a sequence): the linear image is
    multiplied by 2**stops before the sRGB conversion; e.g. [-1.0, 1.0]."""
    dof_probability: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that a scene's RGB has depth of field (tabletop scene), focused on the look-at
    point; labels stay those of a pinhole camera (rendered in a second, sharp pass)."""
    fstop: list[float] = span([1.4, 5.6], ge=0.1)
    """Aperture f-number of depth of field, drawn per scene; smaller = blurrier."""
    calibration: Optional[str] = setting(None, example="/data/wrist_camera.yaml")
    """A camera calibration file to render through (tabletop scene): OpenCV FileStorage YAML/JSON
    (camera_matrix, distortion_coefficients, image size), ROS camera_info (plumb_bob,
    rational_polynomial, equidistant) or a Kalibr camchain (its cam0). Its intrinsics replace
    camera.focal_length and its lens (radial-tangential, fisheye) bends every ray, so the image
    and the ids, depth (planar z), normals, masks, boxes and 3D box projections are that
    camera's at each pixel centre (Cycles' custom camera), and so are optical flow and keypoints.
    Its image size must be render.width x render.height. camera.focal_jitter and
    camera.principal_point_jitter vary it per scene. Amodal masks too, for a lens whose image stays
    within 90 degrees of its axis. Not with the BOP or nerfstudio formats or depth of field. null:
    a pinhole from focal_length."""
    rig: str = setting("mono", choices=RIGS, common=True)
    """mono: one camera. stereo: a rectified stereo pair, the frame's camera on the left and a
    second one camera.baseline to its right (the same K and orientation, moved along the left
    camera's x axis), rendered from the same scene: every frame also gets the right image
    (DIR/right/), the left view's disparity in pixels (DIR/disparity/, fx * baseline / depth,
    exact at each pixel centre) and the left pixels the right camera does not see
    (DIR/occluded/); docs/how-to/real-cameras.md. With camera.calibration (a Kalibr camchain of
    cam0 and cam1): the rig's rectified pair as OpenCV's stereoRectify makes it (its K and
    baseline; camera.baseline and camera.focal_length do not apply).
    calibration: every camera of camera.calibration (a Kalibr camchain's cam0, cam1, ...), each
    through its own lens and posed by the file's extrinsics around the drawn cam0: frame i is
    camera i % C of scene i // C (the meta's sequence and step; params.rig names the camera), the
    scene built once for its C cameras."""
    baseline: list[float] = span([0.12, 0.12], gt=0.0, le=10.0)
    """With camera.rig=stereo: the distance (m) between the two camera centres, drawn per
    sequence (one rig films a clip), e.g. [0.05, 0.3]."""
    focal_jitter: float = setting(0.0, ge=0.0, le=0.1)
    """With camera.calibration: std-dev of a per-scene relative change of its focal lengths (fx and
    fy scaled together by 1 + N(0, focal_jitter), kept within 3 std-devs), e.g. 0.01 for the
    spread of a calibration; the frame meta's lens is the one rendered. 0: the calibration's."""


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


@dataclass
class ObjectsConfig:
    """Objects from the bundled catalog (assets/catalog.yaml); add your own meshes with
    objects.dirs='{mug: /data/mugs, chair: /data/chairs}'."""

    catalog: Optional[str] = setting("bundled", example="bundled", common=True)
    """Asset catalog YAML ("bundled" = assets/catalog.yaml; "textured" = its assets that carry
    their own texture, assets/catalog_textured.yaml; null = none, use dirs only)."""
    dirs: Optional[dict[str, str]] = setting({}, example="{mug: /data/mugs}", common=True)
    """Your own meshes: {category name: folder}. Every OBJ/PLY/STL/GLB/GLTF/OFF file in
    the folder (recursively) becomes an asset of that category. null = none (read as {})."""
    dir_scale: float = setting(1.0, gt=0.0)
    """Metres per unit of the meshes in dirs."""
    count: list[int] = span([3, 8], ge=0, le=MAX_INSTANCE_ID, common=True)
    """Objects per frame, inclusive range."""
    weights: Optional[dict[str, float]] = setting({}, ge=0.0, le=MAX_WEIGHT, example="{mug: 4}")
    """Class balance: {category: weight}; each object's category is drawn with probability
    proportional to its weight (1 for categories not listed), then an asset of it uniformly."""
    min_per_frame: Optional[dict[str, int]] = setting({}, ge=0, le=MAX_INSTANCE_ID, example="{mug: 1}")
    """Class balance: {category: n}, at least n objects of the category in every frame."""
    max_per_frame: Optional[dict[str, int]] = setting({}, ge=0, le=MAX_INSTANCE_ID, example="{mug: 2}")
    """Class balance: {category: n}, at most n objects of the category in any frame."""
    parametric: float = setting(0.0, ge=0.0, le=1.0, common=True)
    """Chance that an object of a category with a shape generator (ball, bottle, box, can, cone,
    mug, ring) gets a newly generated shape (random proportions, rims, handles, bevels; UV
    mapped) instead of a catalog mesh: 0 = catalog meshes only, 1 = always generated
    (objects=parametric). The draws are in the frame's meta; models/ holds each mesh."""
    joint_motion: int = setting(0, ge=0, le=MAX_SEQUENCE_LENGTH)
    """In a sequence (sequence.length > 1), a robot's or other articulated object's joints move:
    from the configuration drawn for its first step to a new one drawn this many steps later, then
    on to the next, each joint easing in and out (no speed at each drawn configuration), so every
    link has its own exact flow and tracks. 0 = joints held still through the sequence."""


@dataclass
class SequenceConfig:
    """Independent frames (sequence.length 1); longer sequences get optical flow."""

    length: int = setting(1, ge=1, le=MAX_SEQUENCE_LENGTH, common=True)
    """Time steps per sequence. 1 renders independent frames; L > 1 groups frame indices
    into sequences: frame i is step i % L of sequence i // L, and gets optical flow."""
    gap: int = setting(1, ge=1, le=MAX_SEQUENCE_LENGTH)
    """Frame gap k of the flow: forward flow is t -> t+k, backward flow t -> t-k."""
    formats: list[str] = setting([])
    """Extra flow files besides the lossless .npy (flow formats of simgen.io.formats.exporters): any of
    flo (Middlebury), kitti (16-bit PNG)."""


@dataclass
class ShardConfig:
    """One shard: the run renders all its frames (shard.count 1)."""

    count: int = setting(1, ge=1, le=MAX_SHARDS, common=True)
    """Number of shards the run's frames are split into: whole sequences, contiguous, near-equal
    shares; every shard writes into the same output.dir (or merge them with simgen-merge)."""
    index: int = setting(0, ge=0, le=MAX_SHARDS - 1, common=True)
    """This run's shard, 0 .. count-1; e.g. simgen -m 'shard.index=range(4)' shard.count=4. A
    frame is the same whichever shard renders it."""


@dataclass
class OutputConfig:
    """The dataset folder (on the command line Hydra's run folder by default) and what goes into it."""

    dir: str = setting("outputs/dataset", example="/data/run1", common=True)
    """Dataset folder (created). Relative paths are relative to the working directory. On the
    command line the default is Hydra's run folder, ${hydra:runtime.output_dir}: outputs/DATE/TIME,
    or multirun/DATE/TIME/N_overrides for each job of a sweep."""
    previews: bool = setting(False)
    """Also write colourized pictures under previews/ (never instead of the data). Off by default:
    at 640x480 they cost ~85 ms of CPU per frame, which on a GPU node outweighs the render."""
    overwrite: bool = setting(False)
    """Replace a dataset made with another config in output.dir: its files (frames, labels,
    exports, dataset.json; only what simgen wrote) are deleted before the first frame, and the
    folder becomes this config's dataset. Refused while another run still writes it. false: a
    folder holding another config's dataset is refused."""
    formats: list[str] = setting(["coco"])
    """Dataset export formats brought up to date with every frame on disk at the end of each run
    (coco, the yolo ones and the streaming ones only for the frames that changed; bop whole)
    (simgen.io.formats.exporters): coco (DIR/coco.json, and DIR/coco_<split>.json per split when
    output.splits has more than one), yolo (DIR/yolo/: YOLO boxes), yolo_seg (DIR/yolo_seg/:
    YOLO polygons, holes kept), yolo_pose (DIR/yolo_pose/: YOLO boxes and keypoints; needs
    output.labels=[keypoints]), bop (DIR/bop/: the BOP toolkit's scene-wise layout for 6D pose,
    each link of an articulated object a BOP object of its own; needs output.labels=[amodal], and
    writes the parts label too), kitti_stereo and middlebury (DIR/kitti_stereo/, DIR/middlebury/:
    KITTI 2015's and Middlebury 2014's stereo layouts; need camera.rig=stereo), nerfstudio
    (DIR/nerfstudio/SSSSSS/: each multi-view scene or sequence as nerfstudio's transforms.json),
    mot (DIR/mot/SIMGEN-<split>/SSSSSS/: each sequence as MOT Challenge's seqinfo.ini, gt/gt.txt
    and img1/, with seqmaps/ for TrackEval; needs output.labels=[visibility]), tapvid
    (DIR/tapvid/SSSSSS.pkl: each sequence's video and point tracks as TAP-Vid's pickles; needs
    output.labels=[tracks]),
    webdataset and parquet (DIR/webdataset/, DIR/parquet/: streaming shards of output.shard_size
    frames, built while the run goes; parquet needs pip install 'simgen[stream]'). [] writes none."""
    upload: Optional[str] = setting(None, example="s3://bucket/run1")
    """Object storage the streaming formats (webdataset, parquet) are delivered to as their shards
    are built (s3://bucket/prefix; gs:// or any fsspec URL with its package installed): each shard,
    then its format's shards.json, and dataset.json at the end of the run; a shard already there
    with the same SHA-256 is not sent again, and the same command sends what a failed or killed
    run did not. Credentials and endpoint come from the store's own configuration (for S3:
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL), never from the config. Needs
    pip install 'simgen[cloud]' for s3://. null: the shards stay on disk only."""
    shard_size: int = setting(1000, ge=1, le=10_000_000)
    """webdataset and parquet formats: frames per shard range. Range S (frames S*N .. S*N+N-1)
    is one file per split (DIR/webdataset/<split>-SSSSSS.tar), built as soon as its frames are
    all on disk. Pick N for files of a few hundred MB to a few GB: at 640x480 a frame with the
    default labels is about 5 MB (depth 1.2 MB and normals 3.7 MB of it, as float32)."""
    bop_scene_size: int = setting(1000, ge=1)
    """bop export: frames per BOP scene when frames are independent (sequence.length 1): frame i is
    image i % size of scene i // size (BOP's PBR training sets hold 1000 per scene). A sequence
    (sequence.length > 1) is a BOP scene of its own whatever this is."""
    splits: Optional[dict[str, float]] = setting({"train": 0.8, "val": 0.1, "test": 0.1}, ge=0.0, le=1.0,
                                       example="{train: 0.8, val: 0.1, test: 0.1}")
    """Train/val/test splits: {name: fraction}, fractions summing to 1. Each sequence (or frame,
    output.split_by) is drawn into a split from a hash of (seed, its index): the same whatever
    the run's length or shards. Recorded per frame (meta split); each split also gets its own
    COCO file and YOLO folders (a split of 0: none). Set each key (output.splits.test=0): a {...}
    override is merged into these keys."""
    split_by: str = setting("sequence", choices=("sequence", "frame"))
    """Unit of the splits: sequence (a sequence's frames share a split; with sequence.length=1
    the same as frame) or frame (the frames of one sequence may land in different splits)."""
    labels: list[str] = setting([])
    """Optional label kinds added to every frame (simgen.labels.kinds; docs/dataset.md):
    visibility (each COCO annotation gets visibility = visible / amodal pixels and
    amodal_area), amodal (amodal masks of the annotated objects, DIR/amodal/NNNNNN.npz),
    keypoints (COCO keypoints of every annotation, output.keypoints), distance (from the camera
    centre along each pixel's ray, metres, DIR/distance/NNNNNN.npy, where depth is planar z),
    linear (the exposed linear image before the camera effects and the tone curve, float32 HDR,
    DIR/linear/NNNNNN.npy), tracks (point tracks of each sequence, DIR/tracks/SSSSSS.npz, output.track_*;
    needs sequence.length > 1)."""
    keypoints: str = setting("box", choices=KEYPOINT_SOURCES)
    """With output.labels=[keypoints], the 3D keypoints of each model (docs/dataset.md,
    "Keypoints"): box (the 8 corners of its 3D box in DOPE/NDDS order, then the centre; the 12
    edges as skeleton), farthest (output.keypoint_count farthest-point samples of its surface,
    p0, p1, ...; no skeleton) or catalog (the named points its catalog declares per category)."""
    keypoint_count: int = setting(8, ge=1, le=MAX_KEYPOINTS)
    """output.keypoints=farthest: keypoints per model."""
    track_points: int = setting(256, ge=1, le=1_000_000)
    """With output.labels=[tracks]: query points per sequence (fewer where its frames show fewer
    surface pixels), each followed through every step (docs/dataset.md, "Point tracks")."""
    track_query_step: Optional[int] = setting(None, ge=0, example=0)
    """Tracks: the step every query point is drawn at; null: each point at a step drawn uniformly
    from the sequence's."""
    track_background: float = setting(0.2, ge=0.0, le=1.0)
    """Tracks: the chance that a query point lies on the background (category 0: the ground, a
    room) rather than on an object; the object points are spread evenly over the objects the
    query frame shows, uniformly within each."""
    track_min_visible: float = setting(0.0, ge=0.0, le=1.0)
    """Tracks: the least fraction of the sequence's steps a track is visible in; tracks seen less
    are dropped for others (4 candidates drawn per point asked for, so fewer points when too few
    qualify)."""


@dataclass
class EffectsConfig:
    """Camera and sensor effects on the RGB image only (simgen.imaging.effects): labels stay the
    pinhole, pixel-centre truth. The effects and their parameters are drawn once per sequence
    (one camera per clip; per frame with sequence.length 1), the noise itself per frame, and
    recorded in each frame's meta ("effects"); with every probability 0 (the default) the RGB
    and the meta are exactly as without effects. effects=camera turns them all on."""

    motion_blur_probability: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that a sequence (sequence.length > 1) gets motion blur: each pixel is
    averaged along its own exact optical flow while the shutter is open; labels stay sharp.
    Single frames have no flow and never get motion blur (nothing is drawn for them)."""
    shutter: list[float] = span([0.1, 0.5], ge=0.0, le=1.0)
    """Motion blur: shutter open time as a fraction of the time between two steps, drawn per sequence."""
    blur_probability: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that a sequence gets lens blur: the linear image convolved with a Gaussian point
    spread of blur pixels (a soft or slightly defocused lens over the whole frame; labels stay sharp)."""
    blur: list[float] = span([0.5, 1.5], gt=0.0, le=50.0)
    """Lens blur: the Gaussian point spread's standard deviation in pixels, drawn per sequence."""
    vignetting_probability: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that a sequence gets vignetting: light falls off as (cos^4 theta)^strength, theta the
    pixel ray's angle to the optical axis (from K; 1 at the principal point)."""
    vignetting: list[float] = span([0.2, 1.0], ge=0.0, le=10.0)
    """Vignetting strength, drawn per sequence: 1 = the natural cos^4 law of a thin lens, 0 = none."""
    noise_probability: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that a sequence gets sensor noise: Poisson shot noise plus Gaussian read noise in linear
    light, the exposed render before the tone curve (variance x / full_well + read_noise^2 at linear
    value x, where metering puts mid grey at 0.18), clipped where the tone curve reaches white."""
    full_well: list[float] = span([500.0, 10000.0], ge=1.0, le=1e7)
    """Sensor noise: photo-electrons of a pixel at linear 1 (diffuse white, 2.5 stops over mid grey),
    drawn per sequence; smaller = noisier (a high ISO). Shot noise std at linear value x is
    sqrt(x / full_well); the sensor saturates at the tone curve's white (16.3 under agx, 1 under
    standard)."""
    read_noise: list[float] = span([0.0005, 0.004], ge=0.0, le=1.0)
    """Sensor noise: std of the Gaussian read noise in linear units (1 = diffuse white), drawn per
    sequence."""
    white_balance_probability: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that a sequence gets a white balance error: per-channel gains of a camera balanced
    for an illuminant of white_balance_temperature while the render's white is 6500 K."""
    white_balance_temperature: list[float] = span([4500.0, 9000.0], ge=1000.0, le=40000.0)
    """White balance: the colour temperature (K) the camera balances for, drawn per sequence; gains
    blackbody(6500 K) / blackbody(T), geometric mean 1; below 6500 K the image turns blue."""
    jpeg_probability: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that a sequence gets JPEG compression artefacts: an encode/decode round trip at
    jpeg_quality (files stay lossless PNG)."""
    jpeg_quality: list[int] = span([70, 95], ge=1, le=100)
    """JPEG quality (libjpeg scale 1..100), drawn per sequence, inclusive."""


@dataclass
class Settings:
    seed: int = setting(0, ge=0, le=MAX_SEED, common=True)
    """Base seed: frame i's random draws come from SeedSequence(seed, spawn_key=(i,))."""
    start: int = setting(0, ge=0, le=MAX_FRAME_INDEX, common=True)
    """First frame index."""
    frames: int = setting(4, ge=1, le=MAX_FRAMES, common=True)
    """Number of frames: indices start .. start+frames-1."""
    render: RenderConfig = field(default_factory=RenderConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    lighting: LightingConfig = field(default_factory=LightingConfig)
    materials: MaterialsConfig = field(default_factory=MaterialsConfig)
    objects: ObjectsConfig = field(default_factory=ObjectsConfig)
    scene: Any = None
    """The recipe's own Config dataclass (scenes/<recipe>.py), chosen by scene.recipe; None stands
    for the default recipe's defaults (simgen.configure.settings.validate fills it in)."""
    sequence: SequenceConfig = field(default_factory=SequenceConfig)
    shard: ShardConfig = field(default_factory=ShardConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    effects: EffectsConfig = field(default_factory=EffectsConfig)


def check_output_dir(folder: str) -> None:
    """output.dir can be created and written: it is a folder, or its nearest existing parent is
    a writable folder. Nothing is created here."""
    p = Path(folder).expanduser().absolute()
    if p.exists() and not p.is_dir():
        raise SimgenError(f"output.dir={folder} is a file, not a folder; choose another output.dir")
    parent = p
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise SimgenError(f"output.dir={folder} cannot be created: {parent} is a file; choose another output.dir")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SimgenError(f"output.dir={folder} is not writable ({parent}: permission denied); "
                          "choose another output.dir")


def check_settings(s: Settings) -> Settings:
    """Check ``s`` against every field's declaration (:func:`simgen.config.schema.check_fields`), the
    rules that tie fields together, and the output folder; a one-line SimgenError naming the key
    and the fix. The files the settings name (HDRIs, texture images) and the recipe's own checks
    are :func:`simgen.configure.settings.validate`'s."""
    check_fields(s)
    if s.start + s.frames - 1 > MAX_FRAME_INDEX:
        raise SimgenError(f"start={s.start} frames={s.frames} reach frame index {s.start + s.frames - 1}, beyond "
                          f"{MAX_FRAME_INDEX}; lower start or frames")
    c = s.camera
    if not c.clip_start < c.clip_end:
        raise SimgenError(f"camera.clip_start={c.clip_start} must be < camera.clip_end={c.clip_end}; "
                          "e.g. camera.clip_start=0.01 camera.clip_end=100")
    if c.rig == "stereo":
        if s.effects.motion_blur_probability > 0:
            raise SimgenError(f"camera.rig=stereo: effects.motion_blur_probability={s.effects.motion_blur_probability} "
                              "blurs along the left view's flow only; set it to 0 with a stereo rig")
    elif c.rig == "calibration" and c.calibration is None:
        raise SimgenError("camera.rig=calibration renders the cameras of a calibration file: give "
                          "camera.calibration=FILE (a Kalibr camchain)")
    elif c.rig == "calibration" and s.sequence.length > 1:
        raise SimgenError(f"camera.rig=calibration frames a still scene with every camera of the file; "
                          f"sequence.length={s.sequence.length} moves one camera along a path: use one of them")
    if c.rig != "stereo" and (wanted := [k for k in s.output.labels if k in STEREO_LABELS]):
        raise SimgenError(f"output.labels={wanted} are a stereo pair's: set camera.rig=stereo (which writes them "
                          "on every frame) or drop them")
    q = s.sequence
    if q.length > 1 and q.gap >= q.length:
        raise SimgenError(f"sequence.gap={q.gap} leaves no frame pair in a sequence of {q.length} steps; "
                          "lower sequence.gap or raise sequence.length")
    if s.shard.index >= s.shard.count:
        raise SimgenError(f"shard.index={s.shard.index} must be below shard.count={s.shard.count} "
                          f"(shards are numbered 0 .. {s.shard.count - 1})")
    o = s.objects
    if o.catalog is None and not o.dirs:
        raise SimgenError("no assets: objects.catalog is null and objects.dirs is empty; "
                          "set objects.catalog=bundled or objects.dirs={category: /path/to/meshes}")
    try:
        check_splits(s.output.splits)
    except ValueError as e:
        raise SimgenError(str(e)) from None
    check_output_dir(s.output.dir)
    return s
