"""Class balance: which categories (and so which assets) a frame's objects come from.

Categories are drawn in proportion to per-category weights (1 unless configured), under
per-frame minimum and maximum counts, then an asset uniformly within the category. A rare
category can so be oversampled (a larger weight) or guaranteed (a minimum) without
making every frame about it (a maximum).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from simgen.errors import SimgenError
from simgen.assets import Asset, Catalog


def check_balance(catalog: Catalog, weights: Mapping[str, float], minimum: Mapping[str, int],
                  maximum: Mapping[str, int], count: list[int]) -> None:
    """Raise SimgenError for unknown categories or counts that no frame can satisfy."""
    names = set(catalog.category_names)
    for key, mapping in (("weights", weights), ("min_per_frame", minimum), ("max_per_frame", maximum)):
        unknown = sorted(set(mapping) - names)
        if unknown:
            raise SimgenError(f"objects.{key} names unknown categories {unknown}; the catalog has "
                              f"{sorted(names)}")
    if any(w < 0 for w in weights.values()) or not any(weights.get(c, 1.0) > 0 for c in names):
        raise SimgenError("objects.weights must be >= 0 and leave at least one category with weight > 0")
    for c, lo in minimum.items():
        if lo < 0 or lo > maximum.get(c, lo):
            raise SimgenError(f"objects.min_per_frame.{c}={lo} must lie in [0, objects.max_per_frame.{c}]")
    if any(hi < 0 for hi in maximum.values()):
        raise SimgenError("objects.max_per_frame values must be >= 0")
    if sum(minimum.values()) > count[1]:
        raise SimgenError(f"objects.min_per_frame asks for {sum(minimum.values())} objects but objects.count "
                          f"allows at most {count[1]}; raise objects.count or lower the minimums")


def drawn_categories(catalog: Catalog, o: Any) -> list[str]:
    """The categories :func:`pick_assets` can draw under ``o`` (simgen.config.ObjectsConfig:
    weights, min_per_frame, max_per_frame), in catalog order: those with assets and a minimum
    above 0, or a weight above 0 and a maximum that is not 0."""
    weights, minimum, maximum = o.weights or {}, o.min_per_frame or {}, o.max_per_frame or {}
    return [c.name for c in catalog.categories if catalog.assets_of(c.name) and (
        minimum.get(c.name, 0) > 0 or (weights.get(c.name, 1.0) > 0 and maximum.get(c.name, 1) != 0))]


def pick_assets(catalog: Catalog, n: int, rng: np.random.Generator, weights: Mapping[str, float] | None = None,
                minimum: Mapping[str, int] | None = None, maximum: Mapping[str, int] | None = None) -> list[Asset]:
    """``n`` assets (fewer if every category hits its maximum): the minimums first, then
    categories drawn by weight among those below their maximum. Order is shuffled."""
    weights, minimum, maximum = weights or {}, minimum or {}, maximum or {}
    names = [c.name for c in catalog.categories if catalog.assets_of(c.name)]
    counts = {c: 0 for c in names}
    chosen: list[str] = []
    for c in names:
        for _ in range(minimum.get(c, 0)):
            chosen.append(c)
            counts[c] += 1
    w = np.array([weights.get(c, 1.0) for c in names], float)
    while len(chosen) < n:
        open_ = np.array([counts[c] < maximum.get(c, n) for c in names]) & (w > 0)
        if not open_.any():
            break
        p = np.where(open_, w, 0.0)
        c = names[int(rng.choice(len(names), p=p / p.sum()))]
        chosen.append(c)
        counts[c] += 1
    rng.shuffle(chosen)
    out = []
    for c in chosen:
        options = catalog.assets_of(c)
        out.append(options[int(rng.integers(len(options)))])
    return out
