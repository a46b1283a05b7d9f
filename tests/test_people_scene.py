"""People in a scene (objects.people, issue 77): the PersonMesh a scene object holds, loaded as its body
dressed by region, and the people simgen.sampling.people adds to a recipe's scene on a stream of its
own: standing on the floor, in view, clear of every other object, every other draw as without them."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest

ROOM = ["scene.camera_distance=[2.5,4]"]


@pytest.fixture(autouse=True, scope="module")
def _warp_cache(tmp_path_factory):
    """warp's kernel cache (people.self_intersection, on by default) in pytest's temporary folder, not
    the (shared, maybe read-only) library: compiled once for the module."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SIMGEN_WARP_CACHE", str(tmp_path_factory.mktemp("warp")))
    yield
    mp.undo()


@pytest.fixture
def library(people_library, monkeypatch):
    from simgen.people.model import LIBRARY_ENV

    monkeypatch.setenv(LIBRARY_ENV, str(people_library))
    return people_library


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
    with pytest.raises(SimgenError) as e:
        _scenes(tmp_path, ["scene=bin_picking", "objects.people=[1,1]"])
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
