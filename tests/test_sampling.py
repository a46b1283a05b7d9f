"""The tabletop recipe without Blender: determinism, ranges, and no interpenetration."""

from __future__ import annotations

import numpy as np
import pytest

from simgen import SimgenError
from simgen.assets import load_mesh
from simgen.config import Settings
from simgen.compose.settings import validate
from simgen.recipes import load_recipe
from simgen.pipeline import catalog_for, make_frame_scene
from simgen.pipeline.frames import check_placement
from simgen.sampling.placement import footprint, pack_disks, standing_pose
from simgen.sampling.random import frame_rng

TABLETOP = load_recipe("tabletop")


@pytest.fixture(scope="module")
def setup():
    s = validate(Settings())
    return s, catalog_for(s)


def world_vertices(obj):
    v = np.asarray(load_mesh(obj.mesh).vertices)
    return v @ obj.mesh_to_world[:3, :3].T + obj.mesh_to_world[:3, 3]


def convex_hull_2d(p: np.ndarray) -> np.ndarray:
    """Andrew's monotone chain; counter-clockwise hull vertices."""
    p = np.unique(np.round(p, 12), axis=0)
    p = p[np.lexsort((p[:, 1], p[:, 0]))]

    def half(points):
        h = []
        for q in points:
            while len(h) >= 2 and np.cross(h[-1] - h[-2], q - h[-2]) <= 0:
                h.pop()
            h.append(q)
        return h
    lower, upper = half(p), half(p[::-1])
    return np.array(lower[:-1] + upper[:-1])


def hulls_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Separating-axis test for two convex polygons."""
    for poly in (a, b):
        edges = np.roll(poly, -1, axis=0) - poly
        for n in np.stack([-edges[:, 1], edges[:, 0]], axis=1):
            pa, pb = a @ n, b @ n
            if pa.max() < pb.min() or pb.max() < pa.min():
                return False
    return True


def test_scenes_are_deterministic_per_index(setup):
    s, catalog = setup
    a = make_frame_scene(TABLETOP, s, catalog, 5)
    b = make_frame_scene(TABLETOP, s, catalog, 5)
    c = make_frame_scene(TABLETOP, s, catalog, 6)
    assert np.array_equal(a.camera.world_to_camera, b.camera.world_to_camera)
    assert [o.mesh_to_world.tolist() for o in a.objects] == [o.mesh_to_world.tolist() for o in b.objects]
    assert a.params == b.params
    assert not np.array_equal(a.camera.world_to_camera, c.camera.world_to_camera)


def test_objects_stand_on_the_ground_without_interpenetrating(setup):
    s, catalog = setup
    categories = set()
    for index in range(40):
        scene = make_frame_scene(TABLETOP, s, catalog, index)
        standing = [o for o in scene.objects if o.category_id]
        assert s.objects.count[0] <= len(standing) <= s.objects.count[1]
        hulls = []
        for o in standing:
            v = world_vertices(o)
            assert abs(v[:, 2].min()) < 1e-9  # resting on z = 0
            assert np.hypot(*v[:, :2].T).max() <= s.scene.area_radius + 1e-9
            hulls.append(convex_hull_2d(v[:, :2]))
            categories.add(o.category_id)
        # upright objects whose ground outlines are disjoint cannot intersect
        for i in range(len(hulls)):
            for j in range(i):
                assert not hulls_overlap(hulls[i], hulls[j]), (index, i, j)
        ground = scene.objects[-1]
        assert ground.category_id == 0 and ground.name == "ground"
        assert sorted(o.instance_id for o in scene.objects) == list(range(1, len(scene.objects) + 1))
    assert len(categories) >= 5


def test_random_draws_stay_in_their_ranges_and_cover_them(setup):
    s, catalog = setup
    draws = {k: [] for k in ("distance", "elevation_deg", "focal_length_mm")}
    lights, roughness = [], []
    for index in range(200):
        scene = make_frame_scene(TABLETOP, s, catalog, index)
        for k in draws:
            draws[k].append(scene.params["camera"][k])
        lights.append(len(scene.lights))
        roughness += [o.material.roughness for o in scene.objects]
        assert s.lighting.count[0] <= len(scene.lights) <= s.lighting.count[1]
        for light in scene.lights:
            assert light.kind in s.lighting.types
        K = scene.camera.K
        assert np.isclose(K[0, 0], scene.params["camera"]["focal_length_mm"] / s.camera.sensor_width * s.render.width)
    for k, r in (("distance", s.scene.camera_distance), ("elevation_deg", s.scene.camera_elevation),
                 ("focal_length_mm", s.camera.focal_length), ("roughness", s.materials.roughness)):
        x = np.array(roughness if k == "roughness" else draws[k])
        lo, hi = r
        assert x.min() >= lo and x.max() <= hi, k
        q1, q3 = lo + (hi - lo) / 4, lo + 3 * (hi - lo) / 4
        assert (x < q1).any() and (x > q3).any(), f"{k} does not cover its range"
    assert set(lights) == set(range(s.lighting.count[0], s.lighting.count[1] + 1))


def test_pack_disks_and_standing_pose():
    rng = frame_rng(0, 0)
    spots = pack_disks([0.1] * 4, 0.5, 0.01, 500, rng)
    pts = np.array(spots)
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1) + np.eye(4)
    assert d.min() >= 0.21 - 1e-12 and np.linalg.norm(pts, axis=1).max() <= 0.4 + 1e-12
    assert pack_disks([0.6], 0.5, 0.0, 10, rng) == [None]  # larger than the area
    v = np.array([[0.0, 0.0, -1.0], [2.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    fp = footprint(v, 2.0)
    m = standing_pose(fp, 2.0, 0.7, np.array([3.0, 4.0]))
    w = v @ m[:3, :3].T + m[:3, 3]
    assert np.isclose(w[:, 2].min(), 0.0)
    assert np.linalg.norm(w[:, :2] - [3.0, 4.0], axis=1).max() <= fp.radius + 1e-12



def test_pack_disks_places_and_draws_as_one_try_at_a_time_would():
    """pack_disks draws its tries in batches; what it places, and where it leaves the stream, are
    those of the plain rejection loop (one try: u, v = rng.uniform(), rng.uniform(0, 2 pi)), easy,
    crowded and impossible areas alike."""
    def one_at_a_time(radii, area, clearance, tries, rng, need=0, priority=None):
        prio = priority or [0] * len(radii)
        placed, out, misses = [], [None] * len(radii), 0
        for i in sorted(range(len(radii)), key=lambda k: (prio[k], -radii[k])):
            r, room = radii[i], area - radii[i]
            for _ in range(tries if room >= 0 else 0):
                rho = room * np.sqrt(rng.uniform())
                phi = rng.uniform(0.0, 2 * np.pi)
                p = np.array([rho * np.cos(phi), rho * np.sin(phi)])
                if all(np.hypot(*(p - q)) >= r + rq + clearance for q, rq in placed):
                    placed.append((p, r))
                    out[i] = p
                    break
            else:
                misses += 1
                if len(radii) - misses < need:
                    return [None] * len(radii)
        return out

    cases = np.random.default_rng(7)
    fitted = missed = 0
    for case in range(120):
        k = int(cases.integers(1, 14))
        radii = list(cases.uniform(0.02, 0.3, k))
        area, clearance, tries = float(cases.uniform(0.2, 1.0)), float(cases.uniform(0, 0.05)), int(cases.integers(1, 60))
        need = int(cases.integers(0, k + 1))
        prio = [int(v) for v in cases.integers(0, 2, k)] if case % 2 else None
        a, b = np.random.default_rng(case), np.random.default_rng(case)
        got, want = pack_disks(radii, area, clearance, tries, a, need, prio), one_at_a_time(radii, area, clearance, tries, b, need, prio)
        assert [None if p is None else p.tolist() for p in got] == [None if p is None else p.tolist() for p in want]
        assert a.random() == b.random()  # the stream goes on from the same place
        fitted += all(p is not None for p in got)
        missed += any(p is None for p in got)
    assert fitted > 20 and missed > 20  # both kinds of case were tried

def crowded(count: int, area_radius: float):
    s = validate(Settings())
    s.objects.count = [count, count]
    s.scene.area_radius = area_radius
    return s


def test_a_draw_that_cannot_place_its_objects_places_what_fits_and_records_it(setup):
    _, catalog = setup
    s = crowded(40, 0.2)
    scene = make_frame_scene(TABLETOP, s, catalog, 0)
    short = scene.params["shortfall"]
    objects = [o for o in scene.objects if o.role == "object"]
    assert short["wanted"] == 40 and short["placed"] == len(objects) and 1 <= len(objects) < 40
    assert short["message"].startswith("impossible placement: 40 objects (objects.count[0])")
    assert "raise scene.area_radius" in short["message"]
    assert scene.params["objects"]["count_drawn"] == 40 and "shortfall" not in scene.params["objects"]
    # what was placed stands upright inside the area without touching another
    hulls = [convex_hull_2d(world_vertices(o)[:, :2]) for o in objects]
    for i, a in enumerate(hulls):
        assert np.isclose(world_vertices(objects[i])[:, 2].min(), 0.0)
        for b in hulls[i + 1:]:
            assert not hulls_overlap(a, b)
    # the frame is a function of its index, as any other
    again = make_frame_scene(TABLETOP, s, catalog, 0)
    assert again.params == scene.params
    assert all(np.array_equal(a.mesh_to_world, b.mesh_to_world) for a, b in zip(again.objects, scene.objects))
    # a config most of whose scenes fall short is refused before the first frame, with the numbers
    with pytest.raises(SimgenError, match=r"^impossible placement: 40 objects \(objects.count\[0\]\) with footprint "
                       r"radii up to [\d.]+ m did not fit in scene.area_radius=0.2 m in 20 attempts in 9 of the 9 scenes "
                       r"drawn first \(sequences 3..11; they held \d+ to \d+ of 40\); lower objects.count"):
        check_placement(TABLETOP, s, catalog, 3)


def test_a_rare_short_draw_renders_and_a_config_of_them_is_accepted(setup):
    _, catalog = setup
    s = crowded(RARE[0], RARE[1])
    short = [i for i in range(40) if "shortfall" in make_frame_scene(TABLETOP, s, catalog, i).params]
    assert 0 < len(short) < 10, short  # some, not most
    check_placement(TABLETOP, s, catalog)  # accepted: nothing raised, and a refusal would be asserted above
    placed = make_frame_scene(TABLETOP, s, catalog, next(i for i in range(40) if i not in short))
    assert len([o for o in placed.objects if o.role == "object"]) == RARE[0]


RARE = (12, 0.3)
"""objects.count=[12,12] in scene.area_radius=0.3: a few frames in 40 cannot place all 12."""


