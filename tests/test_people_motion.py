"""People who move through a sequence (issue 77 item 3; simgen.sampling.people_motion): drawn on a
stream of their own (still, the default, changes nothing), never walking into an object."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

SCENE = ["objects.people=[1,1]", "scene.camera_distance=[2.5,4]", "objects.count=[2,2]", "seed=3"]


@pytest.fixture
def library_env(people_library, monkeypatch):
    from simgen.people.model import LIBRARY_ENV

    monkeypatch.setenv(LIBRARY_ENV, str(people_library))
    return people_library


def _scenes(overrides: list[str], tmp_path: Path, sequence: int = 0):
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe

    s = check_dataset([*overrides, f"output.dir={tmp_path / 'out'}"])
    return make_sequence_scenes(load_recipe(s.scene.recipe), s, catalog_for(s), sequence)


def _world(o) -> np.ndarray:
    from simgen.assets.meshes import load_mesh

    v = np.asarray(load_mesh(o.mesh).vertices, float)
    return v @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3]


def test_a_walker_hemmed_in_stops_before_it_meets_a_wall(library_env, tmp_path):
    """A person alone on the floor walks the way it faces; four walls 2 cm outside the box of its first
    step: at no step does its box overlap one,
    whichever way it turns; it stops (its record names the wall and the step it stopped at) and holds
    that step's body and place to the end."""
    import dataclasses

    from simgen.cli.study import check_dataset
    from simgen.sampling.people_motion import with_motion
    from simgen.scene.data import SceneObject
    from simgen.scene.meshes import PersonMesh

    settings = check_dataset([*SCENE, "sequence.length=4", f"output.dir={tmp_path / 'out'}"])
    scenes = [dataclasses.replace(s, objects=[o for o in s.objects if o.role == "ground" or isinstance(o.mesh, PersonMesh)])
              for s in _scenes([*SCENE, "sequence.length=4"], tmp_path)]  # people.motion=[still]: as placed; alone
    free = with_motion(scenes, settings, np.random.default_rng(0), kinds=("walk",))
    first = next(o for o in free[0].objects if isinstance(o.mesh, PersonMesh))
    assert "heading_turn_deg" not in free[0].params["people"][0]["motion"]  # clear the way it faces
    w = _world(first)
    lo, hi, gap = w.min(0), w.max(0), 0.02
    walls = []
    for k, (axis, side) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        a, b = lo - 1.0, hi + 1.0
        a[2], b[2] = 0.0, 2.5
        if side:
            a[axis], b[axis] = hi[axis] + gap, hi[axis] + gap + 0.1
        else:
            a[axis], b[axis] = lo[axis] - gap - 0.1, lo[axis] - gap
        path = tmp_path / f"wall{k}.ply"
        trimesh.creation.box(bounds=[a, b]).export(path)
        walls.append(SceneObject(name=f"wall{k}", mesh=path, mesh_to_world=np.eye(4), instance_id=100 + k,
                                 category_id=0, material=first.material, role="object"))
    penned = [dataclasses.replace(s, objects=[*s.objects, *walls]) for s in scenes]
    moved = with_motion(penned, settings, np.random.default_rng(0), kinds=("walk",))
    motion = moved[0].params["people"][0]["motion"]
    assert motion["stopped_by"].startswith("wall") and 0 <= motion["stopped_at_step"] < 3, motion
    people = [next(o for o in s.objects if isinstance(o.mesh, PersonMesh)) for s in moved]
    for person in people:
        v = _world(person)
        box = np.stack([v.min(0), v.max(0)])
        for x in walls:
            c = _world(x)
            assert not (np.all(box[0] < c.max(0)) and np.all(c.min(0) < box[1])), (x.name, person.mesh.step)
    last = people[motion["stopped_at_step"]:]
    assert [o.mesh.step for o in people] == [0, 1, 2, 3]
    assert all(np.array_equal(o.mesh_to_world, last[0].mesh_to_world) and o.mesh.params == last[0].mesh.params
               for o in last)


def test_an_unknown_motion_is_one_line(tmp_path):
    from simgen.errors import SimgenError
    from simgen.sampling.people_motion import check_kinds

    with pytest.raises(SimgenError) as e:
        check_kinds(["walk", "run"])
    assert "\n" not in str(e.value) and "'run'" in str(e.value) and "walk" in str(e.value)


def test_people_hold_still_unless_told_and_nothing_is_drawn(library_env, tmp_path):
    """Without people.motion (or with still alone) and in a single frame, with_motion gives the steps as
    they are and draws nothing: a sequence with people renders as before."""
    from simgen.cli.study import check_dataset
    from simgen.sampling.people_motion import with_motion

    settings = check_dataset([*SCENE, "sequence.length=3", f"output.dir={tmp_path / 'out'}"])
    scenes = _scenes([*SCENE, "sequence.length=3"], tmp_path)
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert with_motion(scenes, settings, rng) is scenes
    assert with_motion(scenes, settings, rng, kinds=("still",)) is scenes
    assert with_motion(scenes[:1], settings, rng, kinds=("walk",)) == scenes[:1]
    assert rng.bit_generator.state == state
