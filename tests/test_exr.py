"""Reading a render back needs no Blender: simgen.io.exr decodes a multilayer EXR laid out as
Cycles writes it (one part per pass, ``ViewLayer.<pass>.<channel>``), written here by OpenEXR
alone and read in a process that never imports bpy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from simgen.color.tone import display, expose

REPO = Path(__file__).resolve().parents[1]
H, W = 6, 8


def write_cycles_exr(path: Path, combined: np.ndarray, depth: np.ndarray, index: np.ndarray,
                     normal: np.ndarray, material: np.ndarray | None = None) -> None:
    """A float32 multilayer EXR with the parts, channel names and header Cycles (bpy 5.0.1)
    writes, the denoiser's Noisy Image included (``material``: the Material Index pass, 0 if None)."""
    channels = {"Combined": {c: combined[..., k] for k, c in enumerate("RGBA")}, "Depth": {"Z": depth},
                "Object Index": {"X": index},
                "Material Index": {"X": np.zeros_like(index) if material is None else material},
                "Noisy Image": {c: combined[..., k] * np.float32(0.9) for k, c in enumerate("RGBA")},
                "simgen_normal": {c: normal[..., k] for k, c in enumerate("RGBA")}}
    parts = [OpenEXR.Part({"compression": OpenEXR.NO_COMPRESSION, "type": OpenEXR.scanlineimage,
                           "name": f"ViewLayer.{name}"},
                          {f"ViewLayer.{name}.{c}": np.ascontiguousarray(px, np.float32) for c, px in pixels.items()},
                          f"ViewLayer.{name}")
             for name, pixels in channels.items()]
    OpenEXR.File(parts).write(str(path))


def frame(rng: np.random.Generator, scale: float):
    combined = (rng.random((H, W, 4)) * scale).astype(np.float32)
    index = np.zeros((H, W), np.float32)
    index[1:4, 2:6] = 3.0
    index[4:, :3] = 7.0
    index[0, 0] = 2.9999998  # a float pass: rounded to the nearest id
    depth = np.full((H, W), 1e10, np.float32)  # Cycles' background
    depth[index > 0] = rng.uniform(0.5, 4.0, int((index > 0).sum())).astype(np.float32)
    depth[5, 7] = 2.0  # a hit depth where the index says background: no hit
    normal = rng.normal(size=(H, W, 4)).astype(np.float32)
    return combined, depth, index, normal


DECODE = """
import json, sys
from pathlib import Path
import numpy as np
from simgen.io.exr import RenderedFiles, read_linear, read_passes
sharp, blurred, out = map(Path, sys.argv[1:4])
plain = read_passes(sharp, exposure=1.0, tone="standard")
linear = read_linear(blurred, exposure=-1.0)
loaded = RenderedFiles(sharp, exposure=1.0, rgb_from=blurred, tone="standard", keep_linear=True).load()
np.savez(out, **{f"plain_{k}": v for k, v in plain.items() if k != "image"},
         **{f"loaded_{k}": v for k, v in loaded.items() if k != "image"}, linear=linear)
print(json.dumps({"images": [plain["image"], loaded["image"]], "left": [sharp.exists(), blurred.exists()],
                  "blender": sorted(m for m in sys.modules if m.split(".")[0] in ("bpy", "mathutils", "bmesh")
                                    or m.startswith("simgen.blender"))}))
"""


def test_a_cycles_exr_decodes_without_blender(tmp_path):
    rng = np.random.default_rng(5)
    combined, depth, index, normal = frame(rng, 2.0)
    blurred = frame(rng, 3.0)[0]
    material = np.where(index > 0, np.float32(4.0000005), np.float32(0.0))  # a person's body part's pass index
    write_cycles_exr(tmp_path / "sharp.exr", combined, depth, index, normal, material)
    write_cycles_exr(tmp_path / "blurred.exr", blurred, depth, index, normal)
    run = subprocess.run([sys.executable, "-c", DECODE, str(tmp_path / "sharp.exr"), str(tmp_path / "blurred.exr"),
                          str(tmp_path / "out.npz")], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["blender"] == []  # neither bpy nor simgen.blender was imported
    assert report["left"] == [False, False]  # load() deletes the files it read
    got = np.load(tmp_path / "out.npz")

    want_index = np.rint(index).astype(np.int32)
    assert want_index[0, 0] == 3 and got["plain_index"].dtype == np.int32
    np.testing.assert_array_equal(got["plain_index"], want_index)
    assert got["plain_material"].dtype == np.int32
    np.testing.assert_array_equal(got["plain_material"], np.where(want_index > 0, 4, 0))
    want_depth = depth.copy()
    want_depth[(depth > 1e9) | (want_index == 0)] = np.inf
    assert got["plain_depth"].dtype == np.float32 and np.isinf(got["plain_depth"][5, 7])
    np.testing.assert_array_equal(got["plain_depth"], want_depth)
    want_normal = normal[..., :3].copy()
    want_normal[want_index == 0] = 0.0
    np.testing.assert_array_equal(got["plain_normal"], want_normal)
    exposed, image = expose(combined[..., :3], tone="standard", auto_exposure=False, exposure=1.0)
    np.testing.assert_array_equal(got["plain_rgb"], display(exposed, "standard"))
    assert report["images"][0] == image == {"tone": "standard", "metered_stops": 0.0, "exposure_stops": 1.0,
                                            "total_stops": 1.0}
    assert "plain_linear" not in got.files

    # depth of field: labels of the sharp render, RGB (and linear) of the blurred one
    np.testing.assert_array_equal(got["loaded_index"], want_index)
    np.testing.assert_array_equal(got["loaded_depth"], want_depth)
    exposed, _ = expose(blurred[..., :3], tone="standard", auto_exposure=False, exposure=1.0)
    np.testing.assert_array_equal(got["loaded_linear"], exposed)
    np.testing.assert_array_equal(got["loaded_rgb"], display(exposed, "standard"))
    np.testing.assert_array_equal(got["linear"], blurred[..., :3] * np.float32(0.5))


def layout(path: Path) -> list[tuple[str, list[str]]]:
    with OpenEXR.File(str(path), separate_channels=True) as f:
        return [(p.name(), sorted(p.channels)) for p in f.parts]


@pytest.mark.render
def test_the_fake_is_laid_out_as_cycles_writes(tmp_path):
    """The file written above has Cycles' parts and channel names (so the decoding test holds
    for real renders)."""
    from simgen.blender import BlenderBackend
    from simgen.config import RenderConfig, Settings
    from simgen.pipeline import catalog_for, load_recipe, make_frame_scene
    from simgen.compose.settings import validate

    s = validate(Settings())
    s.render = RenderConfig(width=8, height=6, samples=1, device="cpu", denoise=True)
    backend = BlenderBackend(s.render)
    try:
        backend.build(make_frame_scene(load_recipe("tabletop"), s, catalog_for(s), 0))
        files = backend.render_to_files(seed=1)
        real = layout(files.exr)
        files.load()
    finally:
        backend.close()
    write_cycles_exr(tmp_path / "fake.exr", *frame(np.random.default_rng(0), 1.0))
    assert real == layout(tmp_path / "fake.exr")
