"""Class balance: category weights and per-frame minimums/maximums, over many sampled scenes."""

from __future__ import annotations

import numpy as np
import pytest

from simgen import SimgenError
from simgen.config import Settings
from simgen.compose.settings import validate
from simgen.pipeline import catalog_for, load_recipe, make_frame_scene

WEIGHTS = {"mug": 4.0, "ball": 0.5, "ring": 0.0}
N_SCENES = 200


@pytest.fixture(scope="module")
def scenes():
    s = validate(Settings())
    s.objects.weights = dict(WEIGHTS)
    s.objects.min_per_frame = {"cone": 1}
    s.objects.max_per_frame = {"mug": 3}
    catalog = catalog_for(s)
    recipe = load_recipe("tabletop")
    names = {c.id: c.name for c in catalog.categories}
    frames = [[names[o.category_id] for o in make_frame_scene(recipe, s, catalog, i).objects if o.category_id]
              for i in range(N_SCENES)]
    return s, catalog, frames


def test_minimums_and_maximums_hold_in_every_frame(scenes):
    _, _, frames = scenes
    assert all(f.count("cone") >= 1 for f in frames)
    assert all(f.count("mug") <= 3 for f in frames)
    assert not any("ring" in f for f in frames)  # weight 0: never drawn


def test_frequencies_follow_the_weights(scenes):
    """Beyond the guaranteed cone and below the mug cap, categories come in proportion to
    their weights: compare the free draws of uncapped categories with a binomial model."""
    s, catalog, frames = scenes
    free = {c.name: 0 for c in catalog.categories}
    for f in frames:
        for name in f:
            free[name] += 1
        free["cone"] -= 1  # the guaranteed one
    # among draws of categories that are never capped (all but mug and cone's minimum), the
    # share of each is its weight over the sum of their weights
    uncapped = [c for c in free if c != "mug"]
    total = sum(free[c] for c in uncapped)
    w = {c: WEIGHTS.get(c, 1.0) for c in uncapped}
    for c in uncapped:
        p = w[c] / sum(w.values())
        sigma = np.sqrt(p * (1 - p) / total)
        assert abs(free[c] / total - p) < 4 * sigma + 1e-12, (c, free[c] / total, p)
    # and mug, weighted 4, is by far the most frequent category despite its cap
    assert free["mug"] > 2 * max(free[c] for c in uncapped)


@pytest.mark.parametrize("change, message", [
    ({"weights": {"mugg": 2.0}}, "unknown categories ['mugg']"),
    ({"weights": {"mug": -1.0}}, "must be >= 0"),
    ({"min_per_frame": {"mug": 3}, "max_per_frame": {"mug": 2}}, "must lie in [0, objects.max_per_frame.mug]"),
    ({"min_per_frame": {"mug": 5, "cone": 5}}, "asks for 10 objects but objects.count allows at most 8"),
])
def test_impossible_balance_is_reported(change, message):
    s = validate(Settings())
    for key, value in change.items():
        setattr(s.objects, key, value)
    with pytest.raises(SimgenError) as e:
        catalog_for(s)
    assert message in str(e.value)
