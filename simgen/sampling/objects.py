"""Object draws shared by recipes: distractor meshes and object names."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from simgen.assets import Catalog
from simgen.sampling.random import integer, pick, uniform


def draw_distractors(catalog: Catalog, count: Sequence[int], scale: Sequence[float], rng: np.random.Generator
                     ) -> tuple[list[Path], list[float]]:
    """Distractor meshes of the catalog and their scales: ``count`` of them (inclusive range),
    each scaled by a draw from ``scale``; nothing is drawn when there are none, so default
    scenes stay as they were."""
    n_d = integer(rng, count) if catalog.distractors and count[1] > 0 else 0
    paths = [pick(rng, catalog.distractors) for _ in range(n_d)]
    return paths, [uniform(rng, scale) for _ in range(n_d)]


def object_name(instance_id: int, asset_key: str, path: Path) -> str:
    """obj007_mug_mug for a catalog asset, distractor007_knot for a distractor (no key)."""
    if asset_key:
        return f"obj{instance_id:03d}_{asset_key.replace('/', '_')}"
    return f"distractor{instance_id:03d}_{Path(path).stem}"
