"""The people settings group (simgen.config.people, issue 77): its keys compose, bad values are one line
each, and every setting reaches the people simgen.sampling.people draws (their phenotype, pose, sleeves
and legs) and the library every body of a run is made from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOM = ["scene.camera_distance=[2.5,4]"]


pytestmark = pytest.mark.usefixtures("warp_cache")  # conftest: warp's kernel compiled into a temporary folder


def _forget_bodies():
    """Drop every model, body and checker a test before made (each cached by its library argument)."""
    from simgen.assets.meshes import _person_asset
    from simgen.people import body as B, poses as P
    from simgen.people.model import load_model

    for cached in (load_model, B._static, B._body, P._checker, _person_asset):
        cached.cache_clear()


def _scenes(tmp_path, overrides: list[str], sequence: int = 0):
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe

    s = check_dataset([*overrides, f"output.dir={tmp_path / 'out'}"])
    catalog = catalog_for(s)
    return make_sequence_scenes(load_recipe(s.scene.recipe), s, catalog, sequence), catalog


def test_the_people_group_composes_and_bad_values_are_one_line(tmp_path):
    from simgen.cli.study import check_dataset
    from simgen.config import STANDING_POSES, PeopleConfig
    from simgen.errors import SimgenError
    from simgen.people.poses import pose_names

    s = check_dataset([f"output.dir={tmp_path / 'out'}"])
    assert s.people == PeopleConfig()
    assert s.people.age_years == [3.0, 80.0] and s.people.gender == [0.0, 1.0]
    assert s.people.poses == list(STANDING_POSES) and s.people.self_intersection and s.people.library is None
    assert set(STANDING_POSES) | {"sit", "lie"} == set(pose_names())  # every named pose: standing or a posture
    s = check_dataset(["people.age_years=[18,65]", "people.poses=[stand,wave]", "people.sleeves=[short]",
                       "people.library=/data/people", f"output.dir={tmp_path / 'out'}"])
    assert (s.people.age_years, s.people.poses, s.people.sleeves, s.people.library) == (
        [18.0, 65.0], ["stand", "wave"], ["short"], "/data/people")
    for bad, words in [("people.age_years=[18,200]", "people.age_years"), ("people.age_years=[60,20]", "people.age_years"),
                       ("people.gender=[0,2]", "people.gender"), ("people.height_spread=-1", "people.height_spread"),
                       ("people.weight_spread=11", "people.weight_spread"), ("people.poses=[dance]", "people.poses"),
                       ("people.poses=[]", "people.poses"), ("people.sleeves=[rolled]", "people.sleeves"),
                       ("people.legs=[]", "people.legs"), ("people.self_intersection=maybe", "people.self_intersection"),
                       ("people.library=''", "people.library"), ("people.height=2", "people.height")]:
        with pytest.raises(SimgenError) as e:
            check_dataset([bad, f"output.dir={tmp_path / 'out'}"])
        assert "\n" not in str(e.value) and words in str(e.value), (bad, str(e.value))


def test_the_groups_settings_reach_every_person_drawn(tmp_path, library):
    """Ages, gender and spreads reach draw_phenotype; the poses, sleeves and legs each person takes are
    the group's, recorded in params.people, and short sleeves and legs dress those faces in skin."""
    from simgen.assets.meshes import load_asset
    from simgen.people.body import PARTS, REGIONS, body, dressed_regions
    from simgen.people.poses import as_degrees, named_pose
    from simgen.people.shape import anny_age, beta_params
    from simgen.scene.meshes import PersonMesh

    scenes, _ = _scenes(tmp_path, [*ROOM, "objects.people=[3,3]", "people.age_years=[30,30]", "people.gender=[1,1]",
                                   "people.height_spread=0", "people.weight_spread=0", "people.poses=[wave]",
                                   "people.sleeves=[short]", "people.legs=[short]", "people.self_intersection=false"])
    records = scenes[0].params["people"]
    people = [o for o in scenes[0].objects if isinstance(o.mesh, PersonMesh)]
    assert len(records) == 3 and len(people) >= 1
    age = anny_age(30.0)
    for r in records:
        phenotype = dict(r["params"]["phenotype"])
        assert phenotype["age"] == pytest.approx(age, abs=1e-12) and phenotype["gender"] == 1.0
        for field in ("height", "weight"):  # spread 0: always the mean of the age's and sex's Beta
            a, b = beta_params(field, age, True)
            assert phenotype[field] == pytest.approx(a / (a + b), abs=1e-12)
        assert r["pose"] == {"name": "wave"} and r["sleeves"] == "short" and r["legs"] == "short"
    wave = as_degrees(named_pose("wave"))
    for o in people:
        assert (o.mesh.sleeves, o.mesh.legs, o.mesh.library) == ("short", "short", None)
        drawn = as_degrees(o.mesh.params.pose)
        assert max(float(np.abs(drawn[k] - wave[k]).max()) for k in wave) <= 12.0 + 1e-9  # wave's, jittered
        b = body(o.mesh.params)
        face = load_asset(o.mesh).appearance.face_material
        np.testing.assert_array_equal(face, dressed_regions(b, "short", "short"))
        lower = np.isin(b.face_part, [PARTS.index(p) for p in ("lower_arm_left", "lower_leg_right")])
        assert lower.any() and (face[lower] == REGIONS.index("skin")).all()
        assert (b.face_region[lower] != REGIONS.index("skin")).any()  # long sleeves and legs would cover them
    default, _ = _scenes(tmp_path, [*ROOM, "objects.people=[8,8]", "people.self_intersection=false"])
    drawn = {(r["sleeves"], r["legs"]) for r in default[0].params["people"]}
    assert len({s for s, _ in drawn}) == 2 or len({g for _, g in drawn}) == 2  # long and short are drawn


def test_people_library_is_the_library_every_body_of_a_run_is_made_from(tmp_path, people_library, monkeypatch):
    """With $SIMGEN_PEOPLE_LIBRARY naming an unprepared folder, people.library set to a prepared one
    validates, draws and builds every body (the scene's meshes, the keypoint labels) from it: nothing
    falls back to the environment's library. Set to an unprepared one, it is refused in one line naming it."""
    from simgen.assets.meshes import load_asset
    from simgen.errors import SimgenError
    from simgen.labels.keypoints import _person_frame_keypoints
    from simgen.people.body import body
    from simgen.people.model import LIBRARY_ENV, library_dir
    from simgen.scene.meshes import PersonMesh

    monkeypatch.setenv(LIBRARY_ENV, str(tmp_path / "unprepared"))
    _forget_bodies()
    try:
        scenes, _ = _scenes(tmp_path, [*ROOM, "objects.people=[2,2]", f"people.library={people_library}",
                                       "people.self_intersection=false"])
        people = [o for o in scenes[0].objects if isinstance(o.mesh, PersonMesh)]
        assert people and all(o.mesh.library == str(people_library) for o in people)
        for o in people:
            np.testing.assert_array_equal(load_asset(o.mesh).mesh.vertices, body(o.mesh.params, people_library).vertices)
            kp = _person_frame_keypoints(o, scenes[0])
            assert kp.shape == (17, 3) and np.isfinite(kp[:, :2]).all()
        with pytest.raises(SimgenError) as e:  # a body built without the setting finds no library
            body(people[0].mesh.params)
        assert str(library_dir(None)) in str(e.value)
        monkeypatch.setenv(LIBRARY_ENV, str(people_library))
        with pytest.raises(SimgenError) as e:
            _scenes(tmp_path, [*ROOM, "objects.people=[1,1]", f"people.library={tmp_path / 'elsewhere'}"])
        assert "\n" not in str(e.value) and f"simgen people prepare --library {tmp_path / 'elsewhere'}" in str(e.value)
    finally:
        _forget_bodies()


def test_a_library_whose_warp_folder_cannot_be_made_falls_back_with_one_warning(tmp_path, monkeypatch, caplog):
    from simgen.people.poses import warp_cache_dir

    monkeypatch.delenv("SIMGEN_WARP_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "lib").mkdir()
    assert warp_cache_dir(tmp_path / "lib") == tmp_path / "lib" / "warp"  # a writable library keeps its own
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "warp").write_text("")  # cannot be made a folder (as in a read-only library)
    with caplog.at_level("WARNING"):
        assert warp_cache_dir(tmp_path / "shared") == tmp_path / "home" / ".cache" / "simgen" / "warp"
        assert warp_cache_dir(tmp_path / "shared") == tmp_path / "home" / ".cache" / "simgen" / "warp"
    warned = [r for r in caplog.records if "cannot be written" in r.getMessage()]
    assert len(warned) == 1 and str(tmp_path / "shared" / "warp") in warned[0].getMessage()
    monkeypatch.setenv("SIMGEN_WARP_CACHE", str(tmp_path / "mine"))
    assert warp_cache_dir(tmp_path / "shared") == tmp_path / "mine"  # the variable wins


def _linked_copy(src, dst):
    """``src`` (a prepared library) as a new folder of hard links (copies across file systems), without
    its warp folder."""
    import os
    import shutil

    for root, dirs, files in os.walk(src):
        if root == str(src):
            dirs[:] = [d for d in dirs if d != "warp"]
        here = dst / os.path.relpath(root, src)
        here.mkdir(parents=True, exist_ok=True)
        for f in files:
            try:
                os.link(os.path.join(root, f), here / f)
            except OSError:
                shutil.copy2(os.path.join(root, f), here / f)


@pytest.mark.slow  # warp compiles its kernel into the fallback folder (about 10 s), then 40 ms a check
def test_people_in_scenes_never_cross_themselves_even_from_a_read_only_library(tmp_path, people_library, monkeypatch):
    """people.self_intersection (on by default): every person placed in a scene has a pose that crosses
    itself nowhere (Anny's triangle test again, on the body the meta's record makes), recorded with its
    draws; a library whose warp folder cannot be made does not stop the run: the kernel's cache is
    ~/.cache/simgen/warp (compiled there unless this process loaded it before)."""
    from simgen.people.poses import self_intersections
    from simgen.scene.meshes import PersonMesh

    shared = tmp_path / "shared"
    _linked_copy(people_library, shared)
    (shared / "warp").write_text("")  # no warp folder can be made in it
    monkeypatch.delenv("SIMGEN_WARP_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    _forget_bodies()
    try:
        scenes, _ = _scenes(tmp_path, [*ROOM, "objects.people=[4,4]", f"people.library={shared}", "seed=5"])
        import warp

        fallback = tmp_path / "home" / ".cache" / "simgen" / "warp"
        used = Path(warp.config.kernel_cache_dir)  # warp adds its version's folder once it has started
        assert fallback.is_dir() and fallback in (used, *used.parents)  # the kernel's cache is there
        records = scenes[0].params["people"]
        assert len(records) == 4
        for r in records:
            assert set(r["pose"]) == {"name", "draws", "repaired", "collisions"} and r["pose"]["collisions"] == 0
            assert 1 <= r["pose"]["draws"] <= 8
        for o in (o for o in scenes[0].objects if isinstance(o.mesh, PersonMesh)):
            assert self_intersections(o.mesh.params.pose, o.mesh.params.phenotype, library=str(shared)) == 0
        assert (shared / "warp").is_file()  # nothing written into the library
    finally:
        _forget_bodies()
