"""Physics placement (scene.placement=physics): objects dropped onto a support and settled by
Blender's rigid-body world.

Pure (no Blender):

* dropped bounding spheres never touch and start over their support's drop region;
* tables and bins are solid where they should be and open where objects go (checked with
  an independent box distance, tests/groundtruth.py);
* random orientations are uniform over SO(3) (mean rotation ~ 0);
* every recorded physics parameter stays inside (and covers) its configured range, and
  every support kind is drawn;
* bad placement settings are refused; the flying scene has no placement keys.

Rendered (Cycles on the CPU, tiny frames), on the exported meta and models only:

* per support kind: the simulation came to rest, no object reaches into another, a box or
  the ground by more than 0.1 mm, and every object is held from below (a point of it below
  its centre of mass within 1 mm of a surface); the instance ids match a ray cast;
* a full run and a one-frame shard in another process settle to bit-identical poses;
* settling leaves no Blender datablocks behind and repeats exactly.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from groundtruth import box_distance, raycast_frame, resting_contacts, uniform_neighbourhood
from simgen.recipes import SceneBuilder
from simgen.scenes.tabletop import drop_objects
from simgen import SimgenError
from simgen.assets import BUNDLED_BOX
from simgen.config import SUPPORTS
from simgen.compose.settings import validate
from simgen.sampling.physics import BIN_WALL, TABLE_TOP, drop_centres, sample_support
from simgen.sampling.random import random_rotation
from test_cli import Cli, q
from test_randomization import DRAWS, TINY, assert_covers, assert_rate, settings_for

RANGES = dict(area_radius=0.35, pile_radius=0.06, table_size=[0.6, 1.2], table_height=[0.4, 0.8],
              bin_size=[0.3, 0.5], bin_height=[0.08, 0.2])
BODY_PREFIXES = ("obj", "distractor")


def support(kind: str, rng: np.random.Generator):
    return sample_support(kind, rng, *RANGES.values())


# ------------------------------------------------------------------ pure


@pytest.mark.parametrize("kind", SUPPORTS)
def test_dropped_spheres_never_touch_and_start_over_the_support(kind):
    rng = np.random.default_rng(1)
    for _ in range(50):
        sup = support(kind, rng)
        radii = list(rng.uniform(0.02, 0.12, size=int(rng.integers(1, 12))))
        gaps = list(rng.uniform(0.01, 0.06, size=len(radii)))
        centres = np.array(drop_centres(radii, gaps, sup, rng))
        r = np.array(radii)
        dist = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
        touching = dist < r[:, None] + r[None] + np.minimum.outer(gaps, gaps) - 1e-9
        np.fill_diagonal(touching, False)
        assert not touching.any()
        assert np.all(centres[:, 2] - r >= sup.floor + np.array(gaps) - 1e-9)
        for c, rad in zip(centres, r):  # the sphere's footprint lies over the region (when it fits)
            if sup.radius is not None:
                assert np.hypot(*c[:2]) <= max(sup.radius - rad, 0.0) + 1e-9
            else:
                assert np.all(np.abs(c[:2]) <= np.maximum(np.array(sup.half) - rad, 0.0) + 1e-9)
            assert all(box_distance(c[None], b)[0] >= rad for _, b in sup.boxes)  # starts clear of the support


def test_table_and_bin_are_solid_where_they_should_be():
    rng = np.random.default_rng(2)
    for _ in range(20):
        t = support("table", rng)
        boxes = [b for _, b in t.boxes]
        a, b = t.params["size"]
        top = np.array([[x, y, t.floor - TABLE_TOP / 2] for x in (-a / 2.01, 0, a / 2.01) for y in (-b / 2.01, b / 2.01)])
        above = top + [0, 0, TABLE_TOP / 2 + 1e-6]
        feet = np.array([[sx * (a / 2 - 0.03), sy * (b / 2 - 0.03), 1e-3] for sx in (-1, 1) for sy in (-1, 1)])
        assert all(min(box_distance(p[None], m)[0] for m in boxes) < 0 for p in np.vstack([top, feet]))
        assert all(abs(min(box_distance(p[None], m)[0] for m in boxes)) < 1e-5 for p in above)  # the top surface
        assert t.params["height"] == t.floor and t.half[0] <= a / 2 and t.half[1] <= b / 2

        n = support("bin", rng)
        boxes = [m for _, m in n.boxes]
        a, b = n.params["inner_size"]
        h = n.params["wall_height"]
        inside = np.column_stack([rng.uniform(-a / 2, a / 2, 500), rng.uniform(-b / 2, b / 2, 500),
                                  rng.uniform(n.floor, n.floor + h, 500)])
        assert min(box_distance(inside, m).min() for m in boxes) >= -1e-9  # open inside
        walls = np.array([[sx * (a / 2 + BIN_WALL / 2), 0, n.floor + h / 2] for sx in (-1, 1)]
                         + [[0, sy * (b / 2 + BIN_WALL / 2), n.floor + h / 2] for sy in (-1, 1)]
                         + [[0, 0, BIN_WALL / 2]])
        assert all(min(box_distance(p[None], m)[0] for m in boxes) < 0 for p in walls)
        assert n.floor == BIN_WALL


def test_random_rotations_are_uniform_over_so3():
    rng = np.random.default_rng(3)
    rs = np.array([random_rotation(rng) for _ in range(4000)])
    assert np.allclose(rs @ rs.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(rs), 1.0)
    # Haar measure: E[R] = 0 and every column is uniform on the sphere (E[z^2] = 1/3)
    assert np.abs(rs.mean(axis=0)).max() < 0.05
    assert np.allclose((rs[:, 2, :] ** 2).mean(axis=0), 1 / 3, atol=0.03)


def test_physics_draws_stay_in_and_cover_their_ranges(tmp_path):
    s = settings_for(tmp_path, "scene.placement=physics")
    from simgen.pipeline import catalog_for

    catalog, pc = catalog_for(s), s.scene.physics
    rng = np.random.default_rng(4)
    kinds, draws, sizes = [], {"friction": [], "restitution": []}, {"table": [], "table_h": [], "bin": [], "bin_h": []}
    for _ in range(DRAWS):
        build = SceneBuilder(s, catalog, rng)
        params, sup = drop_objects(build)
        build.light(np.zeros(3))
        (scene,) = build.scenes(1, lambda: build.camera_around(np.zeros(3), s.scene))
        kinds.append(sup.kind)
        bodies = scene.physics.bodies
        assert [b.instance_id for b in bodies] == [o.instance_id for o in scene.objects]
        for p, body in zip(params["objects"], bodies):
            assert (p["friction"], p["restitution"], p["mass"]) == (body.friction, body.restitution, body.mass)
            assert body.mass > 0
            draws["friction"].append(p["friction"])
            draws["restitution"].append(p["restitution"])
        if sup.kind == "table":
            sizes["table"] += sup.params["size"]
            sizes["table_h"].append(sup.params["height"])
        elif sup.kind == "bin":
            sizes["bin"] += sup.params["inner_size"]
            sizes["bin_h"].append(sup.params["wall_height"])
    for name, values in draws.items():
        assert_covers(f"placement.{name}", values, getattr(pc, name))
    for name, key in (("table_size", "table"), ("table_height", "table_h"), ("bin_size", "bin"),
                      ("bin_height", "bin_h")):
        assert_covers(f"placement.{name}", sizes[key], getattr(pc, name))
    for kind in SUPPORTS:
        assert_rate(f"support {kind}", kinds.count(kind), DRAWS, 1 / len(SUPPORTS))


@pytest.mark.parametrize("background", ["ground", "room"])
def test_ground_walls_and_support_are_solid_in_the_simulation(tmp_path, background):
    """The colliders: a slab flush under the (possibly grown and turned) ground, the support's
    boxes, and a slab flush behind every wall, each solid only on the side away from the scene."""
    from simgen.pipeline import catalog_for, load_recipe, make_sequence_scenes

    s = settings_for(tmp_path, "scene.placement=physics", f"scene.background=[{background}]", "scene.physics.supports=[table]")
    for sequence in range(5):
        scene = make_sequence_scenes(load_recipe("tabletop"), s, catalog_for(s), sequence)[0]
        by_name = {o.name: o for o in scene.objects}
        walls = [o for o in scene.objects if o.name.startswith("wall")]
        tables = [o for o in scene.objects if o.name.startswith("table")]
        assert len(walls) == (4 if background == "room" else 0) and len(tables) == 5
        colliders = scene.physics.colliders
        assert len(colliders) == 1 + len(tables) + len(walls)
        for k, o in enumerate(tables):  # the rendered support is exactly the simulated one
            assert np.allclose(colliders[1 + k], o.mesh_to_world)
        for plane, box in zip([by_name["ground"], *walls], [colliders[0], *colliders[1 + len(tables):]]):
            m = plane.mesh_to_world
            normal = np.cross(m[:3, 0], m[:3, 1])
            normal /= np.linalg.norm(normal)  # faces the scene
            centre = m[:3, 3]
            d = [box_distance((centre + t * normal)[None], box)[0] for t in (0.01, 0.0, -0.01)]
            assert np.allclose(d, [0.01, 0.0, -0.01], atol=1e-9)
            corner = centre + 0.49 * m[:3, 0] + 0.49 * m[:3, 1] - 0.01 * normal
            assert box_distance(corner[None], box)[0] < 0  # the slab spans the whole plane


@pytest.mark.parametrize("override,message", [
    ("scene.placement=magnet", "scene.placement"),
    ("scene.physics.supports=[shelf]", "scene.physics.supports"),
    ("scene.physics.margin=0.002", "scene.physics.margin"),
    ("scene.physics.friction=[0.9,0.1]", "scene.physics.friction"),
    ("scene.physics.substeps=0", "scene.physics.substeps"),
])
def test_bad_placement_settings_are_refused(tmp_path, override, message):
    with pytest.raises(SimgenError, match=message.replace(".", r"\.")):
        validate(settings_for(tmp_path, "scene.placement=physics", override))


def test_physics_placement_is_the_recipes_and_the_old_group_names_the_new_key(tmp_path, monkeypatch, capfd):
    """Placement is a recipe's (tabletop's and environment's scene.placement, scene.physics.*): flying has no such
    key, and the placement group's old names are refused with the new ones, in one line each,
    without starting Blender (simgen's entry point in this process, Blender's modules guarded)."""
    from test_bad_inputs import run_in_process

    (tmp_path / "cwd").mkdir()
    where = [f"hydra.run.dir={q(tmp_path / 'hydra')}", f"output.dir={q(tmp_path / 'out')}"]
    code, _, err, touched = run_in_process([*where, "scene=flying", "scene.placement=physics", *TINY],
                                           tmp_path / "cwd", monkeypatch, capfd)
    assert code == 2 and not touched and \
        "scene.placement is a setting of scene=environment and scene=tabletop; scene=flying has no such key" in err
    for old, new in (("placement=physics", "placement is now scene.placement"),
                     ("placement.supports=[bin]", "placement.supports is now scene.physics.supports")):
        code, _, err, touched = run_in_process([*where, old, *TINY], tmp_path / "cwd", monkeypatch, capfd)
        assert code == 2 and not touched and new in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists() and not list((tmp_path / "cwd").iterdir())


# ------------------------------------------------------------------ rendered


def settled_frame(root: Path, index: int = 0):
    meta = json.loads((root / "meta" / f"{index:06d}.json").read_text())
    bodies, boxes = {}, {}
    for o in meta["objects"]:
        if o["name"].startswith(BODY_PREFIXES):
            m = trimesh.load(root / o["mesh"], force="mesh")
            bodies[o["name"]] = m.apply_transform(np.array(o["mesh_to_world"]))
        elif o["name"].startswith(("table", "bin")):
            boxes[o["name"]] = np.array(o["mesh_to_world"])
    return meta, bodies, boxes


@pytest.fixture(scope="module")
def physics_runs(tmp_path_factory) -> dict[str, Path]:
    """One 64x48 frame per support kind, settled and rendered."""
    from simgen.pipeline import run

    roots = {}
    for k, kind in enumerate(SUPPORTS):
        root = tmp_path_factory.mktemp(f"physics_{kind}")
        s = settings_for(root, "scene.placement=physics", f"scene.physics.supports=[{kind}]", f"seed={11 + k}",
                         "objects.count=[5,7]", "scene.distractors=[1,2]", *TINY[:1],
                         "render.width=64", "render.height=48", "render.samples=1", "render.device=cpu")
        run(s)
        roots[kind] = Path(s.output.dir)
    return roots


@pytest.mark.render
@pytest.mark.parametrize("kind", SUPPORTS)
def test_settled_objects_rest_on_a_support_without_interpenetrating(physics_runs, kind):
    meta, bodies, boxes = settled_frame(physics_runs[kind])
    placement = meta["params"]["placement"]
    assert placement["mode"] == "physics" and placement["support"]["kind"] == kind
    assert placement["settle"]["at_rest"], placement["settle"]
    assert len(bodies) >= 6 and (kind in ("ground", "pile")) == (not boxes)
    contacts = resting_contacts(bodies, boxes)
    for name, c in contacts.items():
        assert c["penetration"] <= 1e-4, f"{name} reaches {c['penetration'] * 1000:.2f} mm into something"
        assert c["support_gap"] <= 1e-3, f"{name} floats {c['support_gap'] * 1000:.2f} mm above any support"
    if kind == "table":  # at least some land on the top (others may roll off its edges)
        on_top = [n for n, m in bodies.items() if m.bounds[0, 2] > placement["support"]["height"] - 1e-3]
        assert on_top
    if kind == "bin":
        a, b = placement["support"]["inner_size"]
        inside = [n for n, m in bodies.items() if np.all(np.abs(m.centroid[:2]) < [a / 2, b / 2])]
        assert len(inside) >= len(bodies) // 2


@pytest.mark.render
@pytest.mark.parametrize("kind", ["bin", "pile"])
def test_settled_frame_labels_match_a_ray_cast(physics_runs, kind):
    from simgen.io.dataset.layout import read_frame

    gt = raycast_frame(physics_runs[kind], 0)["instance"]
    frame = read_frame(physics_runs[kind], 0)
    got = frame["instance"].astype(np.int64)
    interior = uniform_neighbourhood(gt)
    assert interior.mean() > 0.3
    assert np.array_equal(got[interior], gt[interior]), f"{(got[interior] != gt[interior]).sum()} pixels disagree"
    ids = {o["instance_id"] for o in frame["meta"]["objects"] if o["name"].startswith(BODY_PREFIXES)}
    assert ids & set(np.unique(gt).tolist()), "no settled object in view"


@pytest.mark.render
@pytest.mark.slow
def test_settling_is_deterministic_across_processes_and_shards(tmp_path):
    from simgen.pipeline import run

    args = ["scene.placement=physics", "seed=5", "render.width=48", "render.height=32", "render.samples=1",
            "render.device=cpu"]
    s = settings_for(tmp_path / "full", *args, "frames=2")
    run(s)
    (tmp_path / "shard").mkdir()
    cli = Cli(tmp_path / "shard")
    proc = cli(*args, "start=1", "frames=1", guard=False)
    assert proc.returncode == 0, proc.stderr
    full = json.loads((Path(s.output.dir) / "meta" / "000001.json").read_text())
    shard = json.loads((cli.out / "meta" / "000001.json").read_text())
    assert full["params"]["placement"] == shard["params"]["placement"]
    assert [o["mesh_to_world"] for o in full["objects"]] == [o["mesh_to_world"] for o in shard["objects"]]


@pytest.mark.render
def test_settling_leaves_nothing_behind_and_repeats_exactly(tmp_path):
    import bpy

    from simgen.blender import BlenderBackend
    from simgen.pipeline import catalog_for, load_recipe, make_sequence_scenes

    s = settings_for(tmp_path, "scene.placement=physics", "scene.physics.supports=[bin]", "render.device=cpu")
    scene = make_sequence_scenes(load_recipe("tabletop"), s, catalog_for(s), 0)[0]
    assert scene.physics is not None
    backend = BlenderBackend(s.render)

    def counts():
        return {k: len(getattr(bpy.data, k)) for k in ("objects", "meshes", "scenes", "collections")}

    try:
        backend.settle(scene)  # caches the meshes
        before = counts()
        first, report = backend.settle(scene)
        assert counts() == before
        again, _ = backend.settle(scene)
        nothing = dataclasses.replace(scene, physics=dataclasses.replace(scene.physics, bodies=()))
        assert backend.settle(nothing) == ({}, {"steps": 0, "seconds": 0.0, "speed": 0.0, "at_rest": True})
        assert bpy.context.scene.rigidbody_world is None  # the render scene has no simulation
    finally:
        backend.close()
    assert report["at_rest"] and report["steps"] > 0
    assert sorted(first) == [b.instance_id for b in scene.physics.bodies]
    assert all(np.array_equal(first[i], again[i]) for i in first)
    settled = scene.settled(first, report)
    assert settled.physics is None and settled.params["placement"]["settle"] == report
    assert [o.mesh for o in settled.objects].count(BUNDLED_BOX) == 5  # floor and 4 walls, rendered


def test_a_closed_box_collides_as_a_solid_box_and_any_other_mesh_as_its_triangles():
    from simgen.sampling.physics import box_collider, world_colliders

    b = trimesh.creation.box(extents=(0.4, 0.2, 0.1))
    b.apply_translation((1.0, 2.0, 0.05))
    turn = trimesh.transformations.rotation_matrix(0.3, (0, 0, 1))
    pose = box_collider(b, turn)
    unit = trimesh.creation.box(extents=(1, 1, 1))
    assert np.allclose(np.sort(trimesh.transform_points(unit.vertices, pose), axis=0),
                       np.sort(trimesh.transform_points(b.vertices, turn), axis=0))  # the same solid, posed
    open_box = trimesh.Trimesh(b.vertices, b.faces[b.face_normals[:, 2] > -0.5])
    sphere = trimesh.creation.icosphere(radius=0.1)
    assert box_collider(open_box, np.eye(4)) is None and box_collider(sphere, np.eye(4)) is None
    boxes, static = world_colliders([("box", np.eye(4), b), ("shell", np.eye(4), open_box), ("ball", turn, sphere)])
    assert len(boxes) == 1 and [ref for ref, _ in static] == ["shell", "ball"]
