"""Golden outputs: a fixed set of small runs whose every output file is fingerprinted.

A refactoring must not change a byte of output. ``tests/test_golden.py`` renders the
cases below and compares each file's SHA-256 with ``tests/golden/manifest.json``;
``python scripts/update_golden.py`` rewrites that manifest, and a commit that changes it
says why (a new label kind adds files; a changed default changes bytes).

JSON files are kept whole (parsed, with the dataset folder and the repository folder
replaced by placeholders: meta records absolute texture and HDRI paths, dataset.json the
config's output.dir) and compared value by value, numbers to 1e-9 relative (1e-12 near
zero): poses are numpy matrix products, whose last bits depend on the CPU's BLAS kernels
(entries such as 4.5e-17 for an exact 0 moved when the tests ran on another CPU). Every
other file is compared by its SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

COMMON = ["seed=3", "render.width=64", "render.height=48", "render.samples=2", "render.device=cpu",
          "output.previews=true"]
CASES: dict[str, list[str]] = {
    "tabletop": ["frames=2"],
    "flying_sequence": ["scene=flying", "sequence.length=3", "frames=3", "sequence.formats=[flo,kitti]"],
    "physics": ["placement=physics", "frames=1", "scene.distractors=[1,2]"],
    "procedural_sky_dof": ["materials=procedural", "lighting=sky", "camera.dof_probability=1.0", "frames=2"],
    "room_hdri": ["scene.background=[room]", "lighting=hdri", "scene.distractors=[2,3]", "frames=2"],
}
"""Case name -> Hydra overrides (on top of COMMON): tabletop, a flying sequence with flow
in every format, physics, procedural materials under a sky with depth of field, a room lit
by an HDRI with distractors."""


def fingerprint(root: Path) -> dict[str, object]:
    """{relative path: sha256, or the parsed content of a JSON file} of every file under
    ``root`` (logs excluded: they hold timings)."""
    out: dict[str, object] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("logs/") or rel.endswith(".log"):
            continue
        data = path.read_bytes()
        if path.suffix == ".json":
            text = data.decode().replace(str(root), "<dataset>").replace(str(REPO), "<repo>")
            out[rel] = json.loads(text)
        else:
            out[rel] = hashlib.sha256(data).hexdigest()
    return out


def same(a: object, b: object) -> bool:
    """Fingerprints equal: JSON numbers to 1e-9 relative (1e-12 absolute), the rest exactly."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
        return numbers and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return type(a) is type(b) and a == b


def render_case(name: str, out: Path) -> dict[str, object]:
    """Render golden case ``name`` into ``out`` through the CLI's config path and fingerprint it."""
    from omegaconf import OmegaConf

    from simgen.configstore import compose
    from simgen.settings import to_settings
    from simgen.pipeline import run

    cfg = compose([*COMMON, *CASES[name], f"output.dir={out}"])
    run(to_settings(cfg), OmegaConf.to_container(cfg, resolve=True))
    return fingerprint(out)
