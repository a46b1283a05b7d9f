"""People in a scene (objects.people, issue 77): the PersonMesh a scene object holds, loaded as its body
dressed by region, and the people simgen.sampling.people adds to a recipe's scene on a stream of its
own: standing on the floor, in view, clear of every other object, every other draw as without them."""

from __future__ import annotations

import colorsys
import dataclasses

import numpy as np
import pytest

ROOM = ["scene.camera_distance=[2.5,4]"]


pytestmark = pytest.mark.usefixtures("warp_cache")  # conftest: warp's kernel compiled into a temporary folder


def _settings(tmp_path, overrides: list[str] = ()):
    from simgen.cli.study import check_dataset

    return check_dataset([*overrides, f"output.dir={tmp_path / 'out'}"])


def _scenes(tmp_path, overrides: list[str], sequence: int = 0):
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe

    s = check_dataset([*overrides, f"output.dir={tmp_path / 'out'}"])
    catalog = catalog_for(s)
    return make_sequence_scenes(load_recipe(s.scene.recipe), s, catalog, sequence), catalog


def test_a_person_mesh_is_its_body_dressed_by_region(library):
    from simgen.assets.appearance import SurfaceMaterial
    from simgen.assets.meshes import load_asset, load_mesh
    from simgen.people.body import REGIONS, PersonParams, body
    from simgen.scene.meshes import PersonMesh, as_mesh_ref, deforms, surface

    params = PersonParams(phenotype={"age": 0.8, "gender": 0.2})
    look = tuple(SurfaceMaterial(name=r, base_color=(0.1 * k, 0.2, 0.3)) for k, r in enumerate(REGIONS))
    ref = PersonMesh(params, look)
    assert ref == PersonMesh(PersonParams(phenotype={"gender": 0.2, "age": 0.8}), look)  # by value
    assert hash(ref) == hash(PersonMesh(params, look)) and as_mesh_ref(ref) is ref
    assert ref.stem == f"person_{params.digest()}" and ref.name == ref.stem + ".ply"
    assert not deforms(ref) and surface(ref) is ref
    moving = PersonMesh(params, look, step=3)
    assert moving.stem.endswith("_s0003") and deforms(moving) and surface(moving) == surface(PersonMesh(params, look, 7))
    b = body(params, library)
    loaded = load_asset(ref)
    np.testing.assert_array_equal(loaded.mesh.vertices, b.vertices)
    np.testing.assert_array_equal(loaded.mesh.faces, b.faces)
    assert loaded.appearance.materials == look
    np.testing.assert_array_equal(loaded.appearance.face_material, b.face_region)
    np.testing.assert_allclose(loaded.appearance.uv, b.uv, atol=1e-6)
    assert load_mesh(ref) is loaded.mesh
    plain = load_asset(PersonMesh(params)).appearance  # undressed: a drawn material over all of it
    assert plain.materials == () and not plain.face_material.any()


def test_skin_tones_run_from_light_to_dark():
    from simgen.color.tone import srgb_to_linear
    from simgen.sampling.people import SKIN_TONES_SRGB, _hex, draw_skin

    lum = [float(np.dot(srgb_to_linear(np.array(_hex(t))), [0.2126, 0.7152, 0.0722])) for t in SKIN_TONES_SRGB]
    assert lum[0] > 0.8 and lum[-1] < 0.03 and np.all(np.diff(lum) < 0.02)  # light to dark
    rng = np.random.default_rng(0)
    tones = set()
    for _ in range(200):
        skin, record = draw_skin(rng)
        tones.add(record["tone"])
        assert skin.subsurface > 0 and skin.name == "skin"
        np.testing.assert_allclose(skin.base_color, srgb_to_linear(np.array(record["srgb"])), rtol=1e-12)
        h0, s0, v0 = colorsys.rgb_to_hsv(*_hex(record["tone_srgb"]))
        h, s, v = colorsys.rgb_to_hsv(*record["srgb"])
        assert abs((h - h0 + 0.5) % 1.0 - 0.5) <= 0.015 + 1e-9 and abs(v / v0 - 1) <= 0.08 + 1e-9  # the tone, jittered
    assert tones == set(range(1, 11))


@pytest.mark.parametrize("scene, sequences", [("tabletop", 2), ("environment", 1)])
def test_people_stand_on_the_floor_in_view_clear_of_the_scene(tmp_path, library, scene, sequences):
    """On tabletop's ground and on the floor of environment's bundled room (its part of the largest level
    area, whose top is at z = 0), clear of the walls, the table and the shelf."""
    from simgen.assets.meshes import load_mesh
    from simgen.scene.meshes import PersonMesh

    for sequence in range(sequences):
        plain, _ = _scenes(tmp_path, [f"scene={scene}", *ROOM], sequence)
        peopled, catalog = _scenes(tmp_path, [f"scene={scene}", *ROOM, "objects.people=[2,2]"], sequence)
        a, b = plain[0], peopled[0]
        n = len(a.objects)
        assert [o.name for o in a.objects] == [o.name for o in b.objects][:n]  # every other draw as without them
        assert all(np.array_equal(x.mesh_to_world, y.mesh_to_world) for x, y in zip(a.objects, b.objects))
        assert all(x.material == y.material for x, y in zip(a.objects, b.objects))
        assert a.camera.world_to_camera.tolist() == b.camera.world_to_camera.tolist()
        people = [o for o in b.objects if isinstance(o.mesh, PersonMesh)]
        records = b.params["people"]
        assert len(records) == 2 and len(people) == sum(r["placed"] for r in records) >= 1
        assert {o.category_id for o in people} == {catalog.category_id("person")}
        assert all(len(o.mesh.params.phenotype) == 6 and o.mesh.params.pose for o in people)  # drawn body and pose
        assert catalog.category_names[-1] == "person"  # after the catalog's own categories
        others = []
        for o in b.objects[:n]:
            v = np.asarray(load_mesh(o.mesh).vertices) @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3]
            if o.role != "ground":
                others.append((v.min(axis=0), v.max(axis=0)))
        K, w2c = b.camera.K, b.camera.world_to_camera
        for o in people:
            record = next(r for r in records if r.get("instance_id") == o.instance_id)
            assert o.instance_id > max(x.instance_id for x in a.objects)
            np.testing.assert_allclose(record["mesh_to_world"], o.mesh_to_world)
            assert record["params"] == o.mesh.params.to_json()
            v = np.asarray(load_mesh(o.mesh).vertices) @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3]
            assert abs(v[:, 2].min()) < 1e-9  # soles on the floor (the ground's top: z = 0)
            np.testing.assert_allclose(o.mesh_to_world[:3, :3] @ [0, 0, 1], [0, 0, 1], atol=1e-12)  # upright
            lo, hi = v.min(axis=0), v.max(axis=0)
            assert not any(np.all(lo < h) and np.all(l < hi) for l, h in others), "a person overlaps an object"
            others.append((lo, hi))  # the next person keeps clear of this one too
            c = v @ w2c[:3, :3].T + w2c[:3, 3]
            front = c[:, 2] > 0
            px = c[front, :2] / c[front, 2:] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
            inside = (px[:, 0] > 0) & (px[:, 0] < b.camera.width - 1) & (px[:, 1] > 0) & (px[:, 1] < b.camera.height - 1)
            assert inside.mean() > 0.05, "a person out of view"
        assert [o.name for o in peopled[0].objects] == [o.name for o in peopled[-1].objects]


def test_no_people_draws_nothing_and_bad_settings_are_one_line(tmp_path, library):
    from simgen.errors import SimgenError

    scenes, catalog = _scenes(tmp_path, [])
    assert "people" not in scenes[0].params and "person" not in catalog.category_names
    from simgen.sampling.people import with_people

    floorless, catalog = _scenes(tmp_path, ["scene=bin_picking"])  # no people asked: bin_picking adds no floor
    asked = _settings(tmp_path, ["scene=bin_picking", "objects.people=[1,1]"])
    with pytest.raises(SimgenError) as e:
        with_people(floorless, asked, catalog.with_people("person"), np.random.default_rng(0))
    assert "\n" not in str(e.value) and "no floor for people to stand on" in str(e.value)
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import check_placement
    from simgen.recipes import load_recipe

    cramped = check_dataset(["objects.people=[1,1]", f"output.dir={tmp_path / 'out'}"])  # tabletop's own camera
    with pytest.raises(SimgenError) as e:
        check_placement(load_recipe("tabletop"), cramped, catalog_for(cramped))
    assert "\n" not in str(e.value) and "people found no place in view" in str(e.value)
    assert "scene.camera_distance=[2.5,4]" in str(e.value)
    mugs, catalog = _scenes(tmp_path, [*ROOM, "objects.people=[1,1]", "objects.people_category=mug"])
    assert "person" not in catalog.category_names  # a category the catalog has labels them
    assert {o.category_id for o in mugs[0].objects if o.name.startswith("person_")} <= {catalog.category_id("mug")}


def test_in_flying_people_fly_in_view_clear_of_the_objects(tmp_path, library):
    from simgen.assets.meshes import load_mesh
    from simgen.scene.meshes import PersonMesh

    plain, _ = _scenes(tmp_path, ["scene=flying", "sequence.length=2"])
    scenes, _ = _scenes(tmp_path, ["scene=flying", "sequence.length=2", "objects.people=[2,2]"])
    n = len(plain[0].objects)
    for a, b in zip(plain, scenes):  # every other draw as without them, at each step
        assert all(np.array_equal(x.mesh_to_world, y.mesh_to_world) for x, y in zip(a.objects, b.objects[:n]))
    people = [o for o in scenes[0].objects if isinstance(o.mesh, PersonMesh)]
    assert len(people) == 2
    boxes = []
    for o in scenes[0].objects:
        if o.role == "ground":
            continue
        v = np.asarray(load_mesh(o.mesh).vertices) @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3]
        boxes.append((o, v.min(axis=0), v.max(axis=0)))
    cam = scenes[0].camera
    for p in people:
        _, lo, hi = next(b for b in boxes if b[0] is p)
        assert not any(np.all(lo < h) and np.all(l < hi) for o, l, h in boxes if o is not p)
        c = cam.world_to_camera[:3, :3] @ ((lo + hi) / 2) + cam.world_to_camera[:3, 3]
        u, v = (cam.K @ c)[:2] / c[2]
        assert 2.0 <= c[2] <= 6.0 and 0 <= u <= cam.width - 1 and 0 <= v <= cam.height - 1  # its centre in view
        assert all(np.array_equal(s.objects[-2 + people.index(p)].mesh_to_world, p.mesh_to_world) for s in scenes)


def test_asking_for_people_without_a_prepared_library_is_one_line_before_rendering(tmp_path, monkeypatch):
    from simgen.cli.study import check_dataset
    from simgen.errors import SimgenError
    from simgen.people.model import LIBRARY_ENV, load_model

    monkeypatch.setenv(LIBRARY_ENV, str(tmp_path / "unprepared"))
    load_model.cache_clear()  # the model a test before loaded from the prepared library
    try:
        with pytest.raises(SimgenError) as e:
            check_dataset(["objects.people=[1,1]", f"output.dir={tmp_path / 'out'}"])
        assert "\n" not in str(e.value) and "simgen people prepare --library" in str(e.value)
        check_dataset([f"output.dir={tmp_path / 'out'}"])  # no people: nothing of theirs is needed
    finally:
        load_model.cache_clear()


@pytest.mark.slow  # three scenes of three people each, every pose checked for self-intersection: ~50 s
@pytest.mark.parametrize("scene", ["tabletop", "environment"])
def test_people_lie_and_sit_on_the_floor_clear_of_the_scene(tmp_path, library, scene):
    """people.postures: a lying person is laid on the floor (its long axis level, facing as recorded, its
    lowest point on the floor), a sitting one sits upright on the floor with its legs out (knees and ankles
    at rest, hips and ankles near the floor); both clear of every other object's box, crossing themselves
    nowhere (people.self_intersection, on), every other draw as without them."""
    from simgen.assets.meshes import load_mesh
    from simgen.people.body import KEYPOINT_NAMES, body
    from simgen.people.poses import as_degrees
    from simgen.sampling.people import FLOOR_SIT_REST, floor_of
    from simgen.scene.meshes import PersonMesh

    seen = set()
    for sequence in range(3):
        plain, _ = _scenes(tmp_path, [f"scene={scene}", *ROOM], sequence)
        scenes, _ = _scenes(tmp_path, [f"scene={scene}", *ROOM, "objects.people=[3,3]",
                                       "people.postures=[lying,sitting]"], sequence)
        a, b = plain[0], scenes[0]
        assert all(np.array_equal(x.mesh_to_world, y.mesh_to_world) for x, y in zip(a.objects, b.objects))
        floor, under = floor_of(b)
        top = floor[1, 2]
        others = []
        for o in b.objects[:len(a.objects)]:
            if o.role != "ground" and o is not under:
                v = np.asarray(load_mesh(o.mesh).vertices) @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3]
                others.append((v.min(axis=0), v.max(axis=0)))
        records = {r["instance_id"]: r for r in b.params["people"] if r["placed"]}
        assert {r["posture"] for r in b.params["people"]} <= {"lying", "sitting"}
        for o in (o for o in b.objects if isinstance(o.mesh, PersonMesh)):
            r = records[o.instance_id]
            seen.add(r["posture"])
            assert r["pose"]["collisions"] == 0
            R, t = o.mesh_to_world[:3, :3], o.mesh_to_world[:3, 3]
            bd = body(o.mesh.params, library)
            v = bd.vertices @ R.T + t
            assert abs(v[:, 2].min() - top) < 1e-9  # its lowest point on the floor, nothing below it
            lo, hi = v.min(axis=0), v.max(axis=0)
            assert not any(np.all(lo < h) and np.all(l < hi) for l, h in others), "a person overlaps an object"
            others.append((lo, hi))
            kp = dict(zip(KEYPOINT_NAMES, bd.keypoints @ R.T + t))
            if r["posture"] == "lying":
                assert r["pose"]["name"] == "lie" and abs((R @ [0, 0, 1])[2]) < 1e-12  # laid level
                down = {"up": [0, 1, 0], "down": [0, -1, 0], "left": [1, 0, 0], "right": [-1, 0, 0]}[r["facing"]]  # back, front, sides
                np.testing.assert_allclose(R @ down, [0, 0, -1], atol=1e-12)  # that side of it faces the floor
                assert np.ptp(v[:, 2]) < 0.6 * r["height"]  # flat, not standing
            else:
                np.testing.assert_allclose(R @ [0, 0, 1], [0, 0, 1], atol=1e-12)  # upright
                assert r["pose"]["name"] == "sit" and r["pose"]["legs_out"]
                assert not set(as_degrees(o.mesh.params.pose)) & set(FLOOR_SIT_REST)
                hips = (kp["left_hip"][2] + kp["right_hip"][2]) / 2 - top
                ankles = (kp["left_ankle"][2] + kp["right_ankle"][2]) / 2 - top
                assert ankles < 0.3 and hips < 0.3 and kp["nose"][2] - top > hips + 0.25  # on the floor, upright
    assert seen == {"lying", "sitting"}


@pytest.mark.render
@pytest.mark.slow  # Bullet settles the scene twice in Blender
def test_with_physics_placement_people_are_static_colliders_nothing_settles_inside(tmp_path, library):
    """scene.placement=physics: each person is a static collider of the settle (its triangles, where it
    lies): an object dropped over a lying person's middle comes to rest with no point of it inside the
    body (on it, or glanced off it), and without the person as a collider it falls into the body."""
    import trimesh

    from simgen.assets.meshes import load_mesh
    from simgen.blender import BlenderBackend
    from simgen.scene.data import Physics
    from simgen.scene.meshes import PersonMesh

    scenes, _ = _scenes(tmp_path, [*ROOM, "scene.placement=physics", "scene.physics.supports=[ground]",
                                   "objects.count=[1,1]", "objects.people=[1,1]", "people.postures=[lying]",
                                   "people.self_intersection=false", "render.device=cpu"])
    scene = scenes[0]
    person = next(o for o in scene.objects if isinstance(o.mesh, PersonMesh))
    assert isinstance(scene.physics, Physics)
    assert any(ref == person.mesh and np.array_equal(pose, person.mesh_to_world) for ref, pose in scene.physics.static)
    v = np.asarray(load_mesh(person.mesh).vertices) @ person.mesh_to_world[:3, :3].T + person.mesh_to_world[:3, 3]
    lo, hi = v.min(axis=0), v.max(axis=0)
    (body,) = scene.physics.bodies
    box = next(o for o in scene.objects if o.instance_id == body.instance_id)
    middle = (lo + hi) / 2
    drop = box.mesh_to_world.copy()
    drop[:3, 3] = [middle[0], middle[1], hi[2] + 0.3]
    dropped = dataclasses.replace(scene, objects=[dataclasses.replace(o, mesh_to_world=drop) if o is box else o
                                                  for o in scene.objects])
    without = dataclasses.replace(dropped, physics=dataclasses.replace(
        scene.physics, static=tuple(s for s in scene.physics.static if s[0] != person.mesh)))
    backend = BlenderBackend(_settings(tmp_path).render)
    try:
        on, report = backend.settle(dropped)
        through, _ = backend.settle(without)
    finally:
        backend.close()
    cube = load_mesh(box.mesh)
    inside = trimesh.Trimesh(np.asarray(load_mesh(person.mesh).vertices), np.asarray(load_mesh(person.mesh).faces),
                             process=False).apply_transform(person.mesh_to_world)
    assert inside.is_watertight  # so that containment is parity of a ray's crossings

    def points_inside(pose):  # the settled box's corners, edge midpoints and face centres inside the person
        mesh = cube.copy().apply_transform(pose)
        pts = np.concatenate([mesh.vertices, mesh.triangles_center, mesh.vertices[mesh.edges_unique].mean(axis=1)])
        return int(inside.contains(pts).sum())

    assert report["at_rest"]
    assert points_inside(through[box.instance_id]) > 0  # no person in the way: the box falls into the body
    assert points_inside(on[box.instance_id]) == 0  # a static collider: it comes to rest on or beside it
