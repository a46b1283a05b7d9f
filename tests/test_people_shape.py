"""simgen.people.shape: Anny's WHO-calibrated shape distribution drawn from a numpy Generator."""

from __future__ import annotations

import numpy as np
import pytest

from simgen.errors import SimgenError
from simgen.people.shape import FIELDS, anny_age, beta_params, draw_phenotype, years

pytestmark = pytest.mark.usefixtures("people_library")  # the extra and its prepared data; imported in the tests,
# not at collection, where every worker would pay torch's import (about 6 s of CPU)


@pytest.mark.parametrize("y, a", [(0, 0.0), (1, 0.05), (4, 0.215), (11, 0.415), (16, 0.67), (18, 0.77),
                                  (64, 0.83), (110, 1.0), (41, 0.80)])
def test_age_in_years_maps_as_annys_table(y, a):
    assert anny_age(y) == pytest.approx(a, abs=1e-9 if y != 41 else 1e-3)
    assert years(anny_age(y)) == pytest.approx(y, abs=1e-9)


def test_beta_parameters_equal_annys_own_distribution():
    import torch
    from anny.shape_distribution import SimpleShapeDistribution

    class Model:
        dtype, device, phenotype_labels = torch.float64, "cpu", ["gender", "age", "muscle", "weight", "height",
                                                                 "proportions"]
    d = SimpleShapeDistribution(Model())
    ages = torch.tensor([0.0, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 1.0], dtype=torch.float64)
    assert [anny_age(float(y)) for y in (7.0, 30.0)] == pytest.approx(
        d.morphological_age_mapping.morphological_to_anny_age(torch.tensor([7.0, 30.0], dtype=torch.float64)).tolist())
    for sex, female in (("boys", False), ("girls", True)):
        for field in FIELDS:
            alpha, beta = getattr(d, f"{sex}_conditional_{field}_distribution").get_distribution_params(ages)
            mine = np.array([beta_params(field, float(a), female) for a in ages])
            np.testing.assert_allclose(mine[:, 0], alpha.numpy(), rtol=1e-12)
            np.testing.assert_allclose(mine[:, 1], beta.numpy(), rtol=1e-12)


def test_same_generator_same_draws_and_ranges_hold():
    a = [draw_phenotype(np.random.default_rng(5)) for _ in range(2)]
    assert a[0] == a[1]
    assert draw_phenotype(np.random.default_rng(6)) != a[0]
    rng = np.random.default_rng(1)
    for _ in range(200):
        p = dict(draw_phenotype(rng, age_years=(20, 30), gender=(0.6, 1.0)))
        assert sorted(p) == ["age", "gender", "height", "muscle", "proportions", "weight"]
        assert anny_age(20) <= p["age"] <= anny_age(30) and 0.6 <= p["gender"] <= 1.0
        assert all(0.0 <= v <= 1.0 for v in p.values())
    flat = [dict(draw_phenotype(rng, age_years=(30, 30), gender=(0, 0), height_spread=0, weight_spread=0))
            for _ in range(3)]
    a, b = beta_params("height", anny_age(30), False)
    assert all(f["height"] == pytest.approx(a / (a + b)) for f in flat)
    assert len({f["weight"] for f in flat}) == 1 and len({f["muscle"] for f in flat}) == 3


@pytest.mark.parametrize("kw, match", [({"age_years": (30, 20)}, "age_years"), ({"age_years": (3, 200)}, "age_years"),
                                       ({"gender": (0, 2)}, "gender"), ({"height_spread": -1}, "height_spread")])
def test_bad_ranges_end_in_one_line(kw, match):
    with pytest.raises(SimgenError, match=match):
        draw_phenotype(np.random.default_rng(0), **kw)


def test_drawn_heights_are_who_like(people_library):
    """Adults (25-60 years) stand 1.45-2.05 m, mean 1.60-1.85 m; children of 5-7 years 0.95-1.35 m."""
    from simgen.people.body import PersonParams, body

    rng = np.random.default_rng(11)

    def heights(age_years, n):
        return np.array([body(PersonParams(phenotype=draw_phenotype(rng, age_years=age_years)),
                              people_library).vertices[:, 2].max() for _ in range(n)])

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # as in a render worker: 20 ms a body, not 300 on 2 shared cores
    try:
        adults, children = heights((25, 60), 24), heights((5, 7), 12)
    finally:
        torch.set_num_threads(threads)
    assert 1.45 < adults.min() and adults.max() < 2.05 and 1.60 < adults.mean() < 1.85, adults
    assert 0.95 < children.min() and children.max() < 1.35, children
