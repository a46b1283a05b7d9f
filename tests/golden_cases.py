"""Golden outputs: a fixed set of small runs whose every output file is fingerprinted.

A refactoring must not change a byte of output. ``tests/test_golden.py`` renders the
cases below and compares each file's SHA-256 with ``tests/golden/manifest.json``;
``python scripts/update_golden.py`` rewrites that manifest, and a commit that changes it
says why (a new label kind adds files; a changed default changes bytes).

JSON files are fingerprinted after replacing the dataset folder and the repository folder
by placeholders (meta records absolute texture and HDRI paths, dataset.json the config's
output.dir), so the fingerprints do not depend on where the repository or the run lives.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

COMMON = ["seed=3", "render.width=64", "render.height=48", "render.samples=2", "render.device=cpu"]
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


def fingerprint(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``root`` (logs excluded: they hold timings)."""
    out: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("logs/") or rel.endswith(".log"):
            continue
        data = path.read_bytes()
        if path.suffix == ".json":
            data = data.replace(str(root).encode(), b"<dataset>").replace(str(REPO).encode(), b"<repo>")
        out[rel] = hashlib.sha256(data).hexdigest()
    return out


def render_case(name: str, out: Path) -> dict[str, str]:
    """Render golden case ``name`` into ``out`` through the CLI's config path and fingerprint it."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from simgen.settings import to_settings
    from simgen.pipeline import run

    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*COMMON, *CASES[name], f"output.dir={out}"])
    run(to_settings(cfg), OmegaConf.to_container(cfg, resolve=True))
    return fingerprint(out)
