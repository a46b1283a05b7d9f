"""The ``render`` group: Cycles and the output resolution (:class:`RenderConfig`) and Blender's limits on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from simgen.config.schema import setting
from simgen.config.sequence import MAX_FRAMES
from simgen.scene.data import MAX_IMAGE_PIXELS
from simgen.color.tone import TONES

MAX_IMAGE_SIZE = 65536
"""Blender's largest render.width / render.height."""
MIN_IMAGE_SIZE = 4
"""Blender's smallest render.width / render.height (it silently renders 4 px for less)."""
MAX_SAMPLES = 16777216
"""Cycles' largest sample count."""
MAX_THREADS = 1024
MAX_WORKERS = 64
"""Blender's largest render thread count."""

ENGINES = ("cycles",)
DEVICES = ("auto", "cpu", "cuda", "optix", "hip", "oneapi", "metal")
DENOISE_PREFILTERS = ("accurate", "fast")


@dataclass
class RenderConfig:
    """Cycles path tracer. Labels (ids, depth, normals) are exact at any sample count."""

    engine: str = setting("cycles", choices=ENGINES)
    """Render engine: cycles. Only Cycles: EEVEE needs a GPU with OpenGL/Vulkan."""
    device: str = setting("auto", choices=DEVICES, common=True)
    """Cycles device: auto, cpu, cuda, optix, hip, oneapi or metal. auto: the first of OptiX, CUDA, HIP,
    oneAPI, Metal with a usable device, else CPU. A named GPU backend without a device falls back to CPU
    with a warning."""
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
    persistent_data: bool = setting(True)
    """Keep Cycles' scene data (and its device's kernels and buffers) between frames, on the CPU
    and on a GPU. On a GPU it saves ~0.4 s a frame (OptiX on an H200, the default job at 640x480:
    render 0.59 s a frame against 0.18 s; scripts/gpu_check.py). It is also what prepares a scene
    file's meshes (scene=environment) for ray tracing once per process instead of every frame:
    ~0.3 s a frame for a million triangles on 2 CPU cores (scripts/bench_environment.py). A
    frame's image does not depend on the frames rendered before it (simgen keeps its lamps in
    Cycles' order: simgen.blender.objects.keep_light), so shards stay byte-identical to one
    process. With it a scene file's meshes are instances, whose normal label and image may differ
    from a run without it in the last float32 bit (at most 1.2e-7); depth, ids and boxes do not.
    false: Cycles syncs every frame anew (the CPU's default before 0.1.0)."""
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
