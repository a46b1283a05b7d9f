"""Declared symmetries (catalog ``symmetries``, the BOP export's models_info): every one the
bundled catalog declares maps its mesh onto itself, a turn it does not declare does not, and a
catalog's bad declarations are refused with one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from simgen import SimgenError
from simgen.assets import load_catalog
from simgen.assets.catalog import BUNDLED_CATALOG
from simgen.assets.meshes import load_mesh
from symmetry_check import rotation, worst_symmetry_error

CONTINUOUS_TOLERANCE = 0.005
"""Of a mesh's largest extent: a revolved shape's 48-64 polygon sections put a turned point up
to r (1 - cos(pi / sections)) = 0.2 % of the radius inside or outside the surface."""


def test_the_bundled_catalogs_symmetries_map_each_mesh_onto_itself():
    assets = [a for a in load_catalog(BUNDLED_CATALOG).assets if a.symmetries]
    assert {a.key for a in assets} >= {"cone/cone", "cone/traffic_cone", "ring/torus", "can/tin", "bottle/bottle"}
    for a in assets:
        mesh = load_mesh(a.path)
        size = float(np.ptp(mesh.vertices, axis=0).max())
        sym = a.symmetries
        if sym["discrete"]:  # exact: a square base, a ring turned over
            assert worst_symmetry_error(mesh, sym["discrete"], []) < 1e-6 * size, a.key
        if sym["continuous"]:
            assert worst_symmetry_error(mesh, [], sym["continuous"]) < CONTINUOUS_TOLERANCE * size, a.key
        # a turn none of them allows moves the mesh well off itself: the check can fail
        wrong = np.eye(4)
        wrong[:3, :3] = rotation([1, 0, 0], np.pi / 2)
        assert worst_symmetry_error(mesh, [wrong.ravel()], []) > 0.05 * size, a.key
    # the quarter turns of the traffic cone's square base, but not an eighth
    cone = load_mesh(load_catalog(BUNDLED_CATALOG).asset("cone/traffic_cone").path)
    eighth = np.eye(4)
    eighth[:3, :3] = rotation([0, 0, 1], np.pi / 4)
    assert worst_symmetry_error(cone, [eighth.ravel()], []) > 0.01


def _catalog(tmp_path, symmetries) -> str:
    mesh = tmp_path / "m.obj"
    mesh.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    path = tmp_path / "catalog.yaml"
    path.write_text(f"categories: [thing]\nassets:\n  - mesh: m.obj\n    category: thing\n    symmetries: {symmetries}\n")
    return str(path)


def test_a_catalog_declares_symmetries_and_bad_ones_are_refused(tmp_path):
    good = load_catalog(_catalog(tmp_path, "{continuous: [{axis: [0, 0, 2]}], discrete: "
                                           "[[1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 0.1, 0, 0, 0, 1]]}"))
    sym = good.assets[0].symmetries
    assert sym["continuous"] == [{"axis": [0.0, 0.0, 1.0], "offset": [0.0, 0.0, 0.0]}]  # a unit axis
    assert sym["discrete"][0][11] == 0.1
    for bad, says in [("[1, 2]", "must be a mapping"), ("{spin: []}", "must be a mapping"),
                      ("{continuous: [{axis: [0, 0, 0]}]}", "not 0"),
                      ("{continuous: [{axis: [0, 0, 1], offset: [1]}]}", "offset"),
                      ("{discrete: [[2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]]}", "rigid"),
                      ("{discrete: [[-1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]]}", "rigid"),  # a mirror
                      ("{discrete: [[1, 0, 0]]}", "16 numbers")]:
        with pytest.raises(SimgenError, match=says) as e:
            load_catalog(_catalog(tmp_path, bad))
        assert "\n" not in str(e.value)


def test_a_stretch_across_a_symmetry_drops_it_from_the_bop_model():
    from simgen.io.formats.bop import bop_symmetries

    sym = {"continuous": [{"axis": [0.0, 0.0, 1.0], "offset": [0.0, 0.0, 0.0]}],
           "discrete": [[1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 0.03, 0, 0, 0, 1]]}
    centre = np.array([0.0, 0.0, 0.015])
    along = bop_symmetries(sym, centre, [1.0, 1.0, 2.0])  # stretched along the axis: both still hold
    assert along["symmetries_continuous"] == [{"axis": [0.0, 0.0, 1.0], "offset": [0.0, 0.0, -30.0]}]
    assert np.allclose(np.reshape(along["symmetries_discrete"][0], (4, 4)),
                       [[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 0], [0, 0, 0, 1]])  # about the BOP origin
    across = bop_symmetries(sym, centre, [2.0, 1.0, 1.0])  # an oval ring: no turn about z holds
    assert "symmetries_continuous" not in across and len(across["symmetries_discrete"]) == 1
    assert bop_symmetries(None, centre, [1.0, 1.0, 1.0]) == {}


def test_the_checks_distance_is_a_search_of_every_face():
    """symmetry_check.surface_distance, which the symmetry checks take their distances from, is
    each point's nearest point over every face of the mesh (trimesh's closest point on each)."""
    from symmetry_check import surface_distance
    import trimesh

    for key in ("can/soda_can", "cone/traffic_cone", "ring/torus"):
        mesh = load_mesh(load_catalog(BUNDLED_CATALOG).asset(key).path)
        points, _ = trimesh.sample.sample_surface(mesh, 60, seed=3)
        points = points @ rotation([1, 0.3, 0.2], 0.9).T + 0.01  # off the surface, inside and out
        tri = mesh.triangles
        every = [np.linalg.norm(trimesh.triangles.closest_point(tri, np.repeat(q[None], len(tri), 0)) - q, axis=1).min()
                 for q in points]
        assert np.allclose(surface_distance(mesh, points), every, rtol=0, atol=1e-12), key
