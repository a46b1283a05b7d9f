"""Golden outputs: a fixed set of small runs whose every output file is checked.

A refactoring must not change the outputs. ``tests/test_golden.py`` renders the cases below
and compares them with ``tests/golden/``: ``manifest.json`` (a fingerprint per file) and the
reference RGB pictures; ``python scripts/update_golden.py`` rewrites both, and a commit that
changes them says why (a new label kind adds files; a changed default changes bytes).

- Labels are exact: every integer label file (instance/semantic ids, models, ...) by its
  SHA-256, a PNG by the SHA-256 of its decoded pixels (with their dtype and shape: a PNG's
  bytes depend on the compression settings); JSON files (COCO, meta, dataset.json) and JSON
  lines (the index) value for value, kept whole in the manifest (parsed, with the dataset
  folder and the repository folder replaced by placeholders: meta records absolute texture
  and HDRI paths, dataset.json the config's output.dir), numbers to 1e-9 relative (1e-12 near
  zero): poses are numpy matrix products, whose last bits depend on the CPU's BLAS kernels
  (entries such as 4.5e-17 for an exact 0 moved when the tests ran on another CPU).
- Float labels (depth, normals, flow: ``.npy`` of a float dtype, ``.flo``) come from Cycles'
  passes, whose last bits depend on the CPU (its kernel, Embree): the depth of every case
  differed on two AMD EPYC machines of this project, both with AVX-512, and Cycles' SSE4.2
  kernel (CYCLES_CPU_NO_AVX2=1) moves them too. They are compared value for value with
  reference files stored like the pictures, within :data:`FLOAT_TOLERANCE`.
- RGB is compared within a tolerance (:data:`RGB_TOLERANCE`): the rendered pictures
  (``images/``) and the previews drawn on them (``previews/overlay/``, ``previews/pose/``), against reference
  PNGs stored in ``tests/golden/CASE/`` (their manifest entry is :data:`RGB`). Cycles' path
  tracing, Embree and the denoiser (OpenImageDenoise) pick their code by the CPU's instruction
  set (SSE4.2 / AVX2 / AVX-512, or ARM's NEON), so another CPU changes the last bits of the
  linear image; tone mapping and 8-bit rounding turn that into a level here and there (a
  value near a rounding edge), and a sample whose path flips at a geometric edge moves a
  pixel further. See :data:`RGB_TOLERANCE` for what is allowed and why a real change is not.
  The exposure metered from those pixels (meta ``image.metered_stops`` and
  ``image.total_stops``, rounded to 4 decimals) is compared to :data:`STOPS_TOLERANCE`.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"
"""manifest.json and the reference RGB pictures, GOLDEN/CASE/images/NNNNNN.png,
GOLDEN/CASE/previews/overlay/NNNNNN.png and GOLDEN/CASE/previews/pose/NNNNNN.png."""

RGB = "rgb"
"""The manifest entry of an RGB picture: compared with its reference PNG in GOLDEN/CASE/."""

RGB_FOLDERS = ("images/", "previews/overlay/", "previews/pose/")
"""The files that hold rendered RGB: the pictures, and the previews drawn on them (overlay:
tinted masks, outlines and boxes; pose: 3D boxes and keypoints; the other previews are drawn
from labels alone and stay exact)."""

RGB_TOLERANCE = {"max": 16, "mean": 0.25}
"""Allowed difference between a rendered RGB picture and its reference, in 8-bit levels (of
255) over all pixels and channels: the largest absolute difference (16/255) and the mean
absolute difference (0.25/255).

Why these: another CPU changes the linear render's last bits (Cycles' kernel, Embree and
OpenImageDenoise each pick code by instruction set; numpy's BLAS too). Tone mapping and 8-bit
rounding turn that into a level up or down on the few values that sat near a rounding edge (a
mean far below 0.1 level), and a sample whose path flips at a geometric edge, spread by the
denoiser, moves a few pixels further. Rendered on this repository's machine (AMD EPYC, AVX-512)
with Cycles' other x86 kernel (CYCLES_CPU_NO_AVX2=1: SSE4.2) and OpenBLAS' AVX2 kernels
(OPENBLAS_CORETYPE=Haswell), the 20 pictures of the cases differed by at most 6 levels, mean at
most 0.08: the bounds are 2.7 and 3 times that. A real change is far outside them (measured,
the same cases): one object's base colour changed moves pixels by 69-112 levels in every
case; roughness +0.15 on every material a mean of 0.75-3.8; even the first light's power
+5 % (which metering mostly takes back) fails four of the five cases on the mean, and all
five on the metered exposure in meta (:data:`STOPS_TOLERANCE`)."""

STOPS_TOLERANCE = 1e-3
"""Allowed difference of the metered exposure (stops) in meta: it is computed from the linear
render (rounded to 4 decimals, so a last-bit change can move it by 1e-4); 1e-3 stops is 0.07 %
of brightness, below a level of 8-bit output."""

STOPS_KEYS = ("metered_stops", "total_stops")


FLOATS = "floats"
"""The manifest entry of a float label array (depth, normals, flow): compared with its reference
file in GOLDEN/CASE/ within :data:`FLOAT_TOLERANCE`."""

FLOAT_TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}
"""Allowed difference of a float label value from its reference: ``|got - ref| <= atol + rtol *
|ref|`` (numpy.isclose; NaN and infinities where the reference has them), in the label's units
(metres, pixels of flow, unit normals). Measured on this repository's machine (AMD EPYC,
AVX-512) against Cycles' SSE4.2 kernel (CYCLES_CPU_NO_AVX2=1), cases tabletop, flying_sequence
and room_hdri: depth moved by at most 3e-6 m (1.5e-6 relative), normals 2.4e-7, flow 1.9e-5 px;
no value beyond this tolerance. A real change is far outside it: an object moved by a
millimetre moves the depth of its pixels by about 1e-3 m."""


def is_rgb(rel: str) -> bool:
    return rel.endswith(".png") and rel.startswith(RGB_FOLDERS)


def read_floats(path: Path) -> np.ndarray | None:
    """A float label file's array: ``.npy`` of a float dtype, or Middlebury ``.flo`` (read by
    simgen.io.formats.flow.read_flo, which tests/test_flow_labels.py checks against the format's
    header and layout); None for any other file."""
    if path.suffix == ".npy":
        array = np.load(path, allow_pickle=False)
        return array if array.dtype.kind == "f" else None
    if path.suffix == ".flo":
        from simgen.io.formats.flow import read_flo

        return read_flo(path)
    return None


def float_difference(got: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """{"beyond": values outside :data:`FLOAT_TOLERANCE`, "max": the largest absolute difference of
    finite values}; both infinite when shape or dtype differ."""
    if got.shape != reference.shape or got.dtype != reference.dtype:
        return {"beyond": math.inf, "max": math.inf}
    close = np.isclose(got, reference, equal_nan=True, **FLOAT_TOLERANCE)
    finite = np.isfinite(got) & np.isfinite(reference)
    d = np.abs(got[finite].astype(np.float64) - reference[finite])
    return {"beyond": float((~close).sum()), "max": float(d.max()) if d.size else 0.0}


def rgb_difference(got: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """{"max", "mean"} absolute difference in 8-bit levels over all pixels and channels."""
    if got.shape != reference.shape:
        return {"max": math.inf, "mean": math.inf}
    d = np.abs(got.astype(np.int16) - reference.astype(np.int16))
    return {"max": float(d.max()), "mean": float(d.mean())}


def within_rgb_tolerance(difference: dict[str, float]) -> bool:
    return all(difference[k] <= RGB_TOLERANCE[k] for k in RGB_TOLERANCE)

COMMON = ["seed=3", "render.width=64", "render.height=48", "render.samples=2", "render.device=cpu",
          "output.previews=true"]
CASES: dict[str, list[str]] = {
    "tabletop": ["frames=2"],
    "flying_sequence": ["scene=flying", "sequence.length=3", "frames=3", "sequence.formats=[flo,kitti]"],
    "physics": ["scene.placement=physics", "frames=1", "scene.distractors=[1,2]"],
    "procedural_sky_dof": ["materials=procedural", "lighting=sky", "camera.dof_probability=1.0", "frames=2"],
    "room_hdri": ["scene.background=[room]", "lighting=hdri", "scene.distractors=[2,3]", "frames=2"],
}
"""Case name -> Hydra overrides (on top of COMMON): tabletop, a flying sequence with flow
in every format, physics, procedural materials under a sky with depth of field, a room lit
by an HDRI with distractors."""


def fingerprint(root: Path) -> dict[str, object]:
    """{relative path: sha256, the parsed content of a JSON or JSON lines file, :data:`RGB` for an
    RGB picture or :data:`FLOATS` for a float label array} of every file under ``root`` (logs
    excluded: they hold timings)."""
    out: dict[str, object] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("logs/") or rel.endswith(".log"):
            continue
        if is_rgb(rel):
            out[rel] = RGB
            continue
        if read_floats(path) is not None:
            out[rel] = FLOATS
            continue
        data = path.read_bytes()
        if path.suffix in (".json", ".jsonl"):
            text = data.decode().replace(str(root), "<dataset>").replace(str(REPO), "<repo>")
            out[rel] = json.loads(text) if path.suffix == ".json" else [json.loads(x) for x in text.splitlines()]
            if rel == "index/chunks.json":
                out[rel] = chunk_digests_checked(root, out[rel])
        elif path.suffix == ".png":
            out[rel] = png_pixels(data)
        else:
            out[rel] = hashlib.sha256(data).hexdigest()
    return out


CHUNK_DIGEST = "the sha256 of its chunk file"
"""What stands in index/chunks.json's fingerprint for each chunk's sha256 once checked against the
chunk file's bytes: those bytes hold floats (box3d corners, poses) whose last bits another CPU's
numpy changes, and the chunk file itself is compared value by value (index/coco-NNNNNN.jsonl)."""


def chunk_digests_checked(root: Path, chunks: dict) -> dict:
    """``chunks`` (index/chunks.json) with each chunk's sha256 replaced by :data:`CHUNK_DIGEST` where
    it is the digest of that chunk's file, and left as it is (so that it differs) where not."""
    out = {}
    for c, entry in chunks.items():
        data = (root / "index" / f"coco-{int(c):06d}.jsonl").read_bytes()
        digest_ok = entry.get("sha256") == hashlib.sha256(data).hexdigest()
        out[c] = {**entry, "sha256": CHUNK_DIGEST} if digest_ok else entry
    return out


def png_pixels(data: bytes) -> str:
    """The fingerprint of a PNG label file: its decoded pixels (dtype, shape, the array's bytes),
    not its bytes: the zlib level and strategy it is written with change the bytes, not what a
    reader gets (simgen.io.files.PNG_PARAMS, chosen by measurement, may change again)."""
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        return "not a readable PNG"
    image = np.ascontiguousarray(image)
    shape = "x".join(str(n) for n in image.shape)
    return f"png {image.dtype} {shape} " + hashlib.sha256(image.tobytes()).hexdigest()


def same(a: object, b: object, key: str = "") -> bool:
    """Fingerprints equal: JSON numbers to 1e-9 relative (1e-12 absolute), a metered exposure
    (``key`` in :data:`STOPS_KEYS`) to :data:`STOPS_TOLERANCE`, the rest exactly."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], k) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, key) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
        if numbers and key in STOPS_KEYS:
            return abs(a - b) <= STOPS_TOLERANCE
        return numbers and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return type(a) is type(b) and a == b


def render_case(name: str, out: Path, *overrides: str) -> dict[str, object]:
    """Render golden case ``name`` (with more ``overrides``) into ``out`` through the CLI's config
    path and fingerprint it."""
    from omegaconf import OmegaConf

    from simgen.compose.store import compose
    from simgen.compose.settings import to_settings
    from simgen.pipeline import run

    cfg = compose([*COMMON, *CASES[name], f"output.dir={out}", *overrides])
    run(to_settings(cfg), OmegaConf.to_container(cfg, resolve=True))
    return fingerprint(out)
