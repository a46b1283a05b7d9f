"""Golden outputs: refactoring changes no label and no picture (see golden_cases.py).

Label files must match byte for byte (JSON: value for value); RGB pictures (images/ and the
overlay previews) must stay within golden_cases.RGB_TOLERANCE of the reference PNGs in
tests/golden/CASE/, and float labels (depth, normals, flow) within golden_cases.FLOAT_TOLERANCE
of the reference arrays there, since another CPU changes Cycles' and the denoiser's last bits. A failure
lists the files that changed, appeared or vanished, and the pictures beyond the tolerance
with their differences. If the change is intended (a new label kind, a new default), run
``python scripts/update_golden.py`` and say why in the commit that changes tests/golden/.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from golden_cases import (CASES, FLOAT_TOLERANCE, FLOATS, GOLDEN, RGB, RGB_TOLERANCE, float_difference,
                          read_floats, render_case, rgb_difference, same, within_rgb_tolerance)
from simgen.io.files import read_png

MANIFEST = GOLDEN / "manifest.json"


@pytest.fixture(scope="module")
def rendered_case(tmp_path_factory):
    """Case name -> (its folder, its fingerprint), each case rendered once for this module's tests."""
    done: dict[str, tuple] = {}

    def get(case: str) -> tuple:
        if case not in done:
            out = tmp_path_factory.mktemp("golden") / case
            done[case] = out, render_case(case, out)
        return done[case]
    return get


@pytest.mark.render
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_output_unchanged(case, rendered_case):
    expected = json.loads(MANIFEST.read_text())[case]
    out, got = rendered_case(case)
    changed = sorted(k for k in expected.keys() & got.keys() if not same(expected[k], got[k]))
    assert not changed and got.keys() == expected.keys(), (
        f"golden case {case}: changed {changed[:20]}, new {sorted(got.keys() - expected.keys())[:20]}, "
        f"missing {sorted(expected.keys() - got.keys())[:20]}; if intended, run scripts/update_golden.py "
        "and say why in the commit")
    pictures = sorted(k for k, v in expected.items() if v == RGB)
    assert pictures, "no RGB picture in the case"
    off = {rel: rgb_difference(read_png(out / rel), read_png(GOLDEN / case / rel)) for rel in pictures}
    beyond = {rel: d for rel, d in off.items() if not within_rgb_tolerance(d)}
    assert not beyond, (f"golden case {case}: pictures beyond the RGB tolerance {RGB_TOLERANCE} (levels of 255): "
                        f"{beyond}; if intended, run scripts/update_golden.py and say why in the commit")
    arrays = sorted(k for k, v in expected.items() if v == FLOATS)
    off = {rel: float_difference(read_floats(out / rel), read_floats(GOLDEN / case / rel)) for rel in arrays}
    beyond = {rel: d for rel, d in off.items() if d["beyond"]}
    assert not beyond, (f"golden case {case}: float labels beyond {FLOAT_TOLERANCE}: {beyond}; if intended, "
                        "run scripts/update_golden.py and say why in the commit")


FRAMES = {name: int(o.split("=")[1]) for name, overrides in CASES.items() for o in overrides if o.startswith("frames=")}


@pytest.mark.render
@pytest.mark.parametrize("case", sorted(name for name, n in FRAMES.items() if n > 1))
def test_a_cases_last_frame_rendered_first_in_its_process_is_the_same_to_the_byte(case, rendered_case, tmp_path):
    """Cycles keeps its scene from frame to frame (render.persistent_data, the default), so a
    frame's files could depend on the frames its process rendered before (the order of Cycles'
    lights: procedural_sky_dof's frame 1, its first lamp under a sky, was metered otherwise until
    the backend had Cycles sync anew when the lamps grow). Each case's last frame, rendered after
    the others and first in its process (``start``), gives the same files, pictures to the byte."""
    last = FRAMES[case] - 1
    folder, after = rendered_case(case)
    first = render_case(case, tmp_path / "first", f"start={last}", "frames=1")
    stem = f"{last:06d}."
    files = sorted(rel for rel in after if stem in rel)
    assert files and all(rel in first for rel in files), sorted(first)
    for rel in files:
        if after[rel] in (RGB, FLOATS):
            assert (folder / rel).read_bytes() == (tmp_path / "first" / rel).read_bytes(), rel
        else:
            assert after[rel] == first[rel], rel


def test_every_reference_picture_and_array_is_in_the_manifest_and_on_disk():
    manifest = json.loads(MANIFEST.read_text())
    listed = {f"{case}/{rel}" for case, files in manifest.items() for rel, v in files.items() if v in (RGB, FLOATS)}
    stored = {p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*") if p.is_file() and p.name != MANIFEST.name}
    assert listed == stored and listed


def test_the_rgb_tolerance_passes_last_bit_noise_and_fails_a_changed_object():
    """What the tolerance lets through and what it does not, on a stored reference picture:
    a level up or down on a tenth of the values and a few pixels moved further (another CPU)
    pass; a small patch of the picture in another colour, or the picture 2 levels brighter,
    fail."""
    manifest = json.loads(MANIFEST.read_text())
    case = "tabletop"
    rel = next(k for k, v in sorted(manifest[case].items()) if v == RGB and k.startswith("images/"))
    ref = read_png(GOLDEN / case / rel)
    rng = np.random.default_rng(0)
    noisy = ref.astype(np.int16) + rng.choice([-1, 1], size=ref.shape) * (rng.random(ref.shape) < 0.1)
    for y, x in rng.integers(0, ref.shape[:2], size=(4, 2)):  # a few samples whose path flipped
        noisy[y, x] += RGB_TOLERANCE["max"] // 2
    assert within_rgb_tolerance(rgb_difference(np.clip(noisy, 0, 255).astype(np.uint8), ref))
    # a small object (a 6x6 px patch, 1.2 % of the 64x48 picture) in another colour: 40 levels off
    recoloured = ref.astype(np.int16)
    patch = recoloured[20:26, 30:36]
    recoloured[20:26, 30:36] = np.where(patch < 128, patch + 40, patch - 40)
    recoloured = recoloured.astype(np.uint8)
    assert not within_rgb_tolerance(rgb_difference(recoloured, ref))
    # everything 2 levels brighter (e.g. a changed light or tone curve)
    brighter = np.clip(ref.astype(np.int16) + 2, 0, 255).astype(np.uint8)
    assert not within_rgb_tolerance(rgb_difference(brighter, ref))


def test_the_float_tolerance_passes_last_bit_noise_and_fails_a_moved_surface():
    """A stored depth reference with its values moved by a few float32 steps (another CPU's
    kernel: at most 3e-6 m measured) passes; the same with a patch of it 1 mm further away, or
    a value turned infinite, fails."""
    manifest = json.loads(MANIFEST.read_text())
    rel = next(k for k, v in sorted(manifest["tabletop"].items()) if v == FLOATS and k.startswith("depth/"))
    ref = read_floats(GOLDEN / "tabletop" / rel)
    rng = np.random.default_rng(0)
    noisy = (ref * (1 + rng.integers(-4, 5, ref.shape) * np.finfo(np.float32).eps)).astype(ref.dtype)
    assert not np.array_equal(noisy, ref) and float_difference(noisy, ref)["beyond"] == 0
    moved = ref.copy()
    moved[10:14, 20:24] += np.float32(1e-3)
    assert float_difference(moved, ref)["beyond"] == 16
    gone = ref.copy()
    gone[0, 0] = np.inf
    assert float_difference(gone, ref)["beyond"] == 1
    assert float_difference(ref[:-1], ref)["beyond"] == float("inf")
