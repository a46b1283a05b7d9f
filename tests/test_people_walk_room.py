"""A person walking on the floor of environment's bundled room (scene=environment, objects.people,
people.motion=[walk], issue 77 item 3): at every step its soles on the floor's top, no triangle of it
through a wall, the table, the shelf or an object (a mesh check, not boxes), its advance the one its
record states; and a short render whose walker flow equals each pixel's surface point moved with its
triangle (tests/groundtruth.py, no Blender), as the tabletop walker's does (test_people_motion.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from conftest import people_cli
from groundtruth import bending_flow_errors

ROOM_WALK = ["scene=environment", "scene.camera_distance=[2.5,4]", "objects.people=[1,1]", "people.motion=[walk]",
             "seed=3"]
"""One person walking in environment's bundled room (a 4 x 4 m floor, two walls, a table, a shelf)."""

pytestmark = pytest.mark.usefixtures("warp_cache")  # conftest: warp's kernel compiled into a temporary folder


def _sequences(overrides: list[str], tmp_path: Path, sequences):
    """Each of ``sequences``' scenes (one per step), the settings composed once."""
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe

    s = check_dataset([*overrides, f"output.dir={tmp_path / 'out'}"])
    recipe, catalog = load_recipe(s.scene.recipe), catalog_for(s)
    for sequence in sequences:
        yield sequence, make_sequence_scenes(recipe, s, catalog, sequence)


def _world_mesh(o) -> trimesh.Trimesh:
    from simgen.assets.meshes import load_mesh

    m = load_mesh(o.mesh)
    return trimesh.Trimesh(np.asarray(m.vertices, float) @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3],
                           np.asarray(m.faces), process=False)


def _crossings(a: np.ndarray, b: np.ndarray, triangles: np.ndarray) -> int:
    """How many of the segments ``a[i]``-``b[i]`` (N, 3) pass through one of ``triangles`` (T, 3, 3):
    Moller-Trumbore with the segment's own length (0 <= t <= 1)."""
    p0, e1, e2 = triangles[:, 0], triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]
    count = 0
    for lo in range(0, len(a), 4096):
        o, d = a[lo:lo + 4096, None], (b - a)[lo:lo + 4096, None]
        p = np.cross(d, e2)
        det = np.einsum("ntk,tk->nt", p, e1)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / det
            s = o - p0
            u = np.einsum("ntk,ntk->nt", s, p) * inv
            q = np.cross(s, e1)
            v = np.einsum("ntk,ntk->nt", np.broadcast_to(d, q.shape), q) * inv
            t = np.einsum("ntk,tk->nt", q, e2) * inv
            hit = (np.abs(det) > 1e-15) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t >= 0) & (t <= 1)
        count += int(hit.sum())
    return count


def _meshes_cross(x: trimesh.Trimesh, y: trimesh.Trimesh) -> int:
    """Edges of either mesh through a triangle of the other: two surfaces that meet have some."""
    ex, ey = x.edges_unique, y.edges_unique
    return (_crossings(x.vertices[ex[:, 0]], x.vertices[ex[:, 1]], y.triangles)
            + _crossings(y.vertices[ey[:, 0]], y.vertices[ey[:, 1]], x.triangles))


def test_the_mesh_check_sees_a_person_through_a_wall():
    """The check below is not blind: a box through a thin wall crosses it, one beside it does not."""
    wall = trimesh.creation.box(bounds=[[-2.1, -2.0, 0.0], [-2.0, 2.0, 2.5]])
    assert _meshes_cross(trimesh.creation.box(bounds=[[-2.3, 0.0, 0.0], [-1.9, 0.3, 1.0]]), wall) > 0
    assert _meshes_cross(trimesh.creation.box(bounds=[[-1.99, 0.0, 0.0], [-1.5, 0.3, 1.0]]), wall) == 0


@pytest.mark.slow  # two sequences drawn in the room (the body model, room and warp kernel loaded): 72 s, 2 busy cores
def test_a_walker_walks_on_the_rooms_floor_clear_of_its_walls_and_furniture(library, tmp_path):
    """In the bundled room, a walker's soles are on the floor's top at every step (within 1 mm); no
    triangle of its body crosses one of a wall, the table, the shelf or an object at any step; it
    advances the way it faces by its record's speed, 1/24 s a step, up to where it stopped."""
    from simgen.sampling.people_motion import STEPS_PER_SECOND
    from simgen.scene.meshes import PersonMesh

    walked = 0
    for sequence, scenes in _sequences([*ROOM_WALK, "sequence.length=4"], tmp_path, range(2)):
        record = scenes[0].params["people"][0]
        if not record["placed"]:
            continue
        motion = record["motion"]
        assert motion["kind"] == "walk"
        people = [next(o for o in s.objects if isinstance(o.mesh, PersonMesh)) for s in scenes]
        floor = next(o for o in scenes[0].objects if o.name == "env_floor")
        top = _world_mesh(floor).vertices[:, 2].max()
        for k, (scene, person) in enumerate(zip(scenes, people)):
            body = _world_mesh(person)
            assert abs(body.vertices[:, 2].min() - top) < 1e-3, (sequence, k)  # the soles on the floor
            lo, hi = body.bounds
            for o in scene.objects:
                if o is person or o.name == "env_floor":
                    continue
                m = _world_mesh(o)
                near = np.all(m.bounds[0] < hi + 0.05) and np.all(lo - 0.05 < m.bounds[1])
                assert not (near and _meshes_cross(body, m)), (sequence, k, o.name)
            rec = scene.params["people"][0]
            np.testing.assert_array_equal(np.array(rec["mesh_to_world"]), person.mesh_to_world)
        moved = len(scenes) - 1 if "stopped_at_step" not in motion else motion["stopped_at_step"]
        start = people[0].mesh_to_world
        facing = start[:3, :3] @ [0.0, -1.0, 0.0]
        for k, o in enumerate(people):
            np.testing.assert_allclose(o.mesh_to_world[:3, :3], start[:3, :3], atol=1e-12)
            np.testing.assert_allclose(o.mesh_to_world[:3, 3] - start[:3, 3],
                                       facing * motion["speed_m_s"] * min(k, moved) / STEPS_PER_SECOND, atol=1e-9)
        walked += moved > 0
    assert walked, "no walker moved in 2 sequences of the room: nothing tested"


@pytest.mark.render
@pytest.mark.slow  # a 3-step render in the room and ray casts of a 13,718-vertex body: 140 s on 2 busy cores
def test_a_walker_rendered_in_the_room_has_exact_flow(people_library, tmp_path):
    """scene=environment with a walker, 3 steps at 96x72 (sequence 1: sequence 0's walker stops at
    the floor's edge at once): each step's meta records the walker's body (deforms, its record's
    mesh_to_world, its advance by the drawn speed, the soles on the floor's top) and its flow, forward
    and backward, is within 0.01 px of each pixel's surface point moved with its triangle and seen
    by the other step's camera (environment draws a view a step: most of the motion is the camera's)."""
    from simgen.io.dataset.layout import read_frame
    from simgen.sampling.people_motion import STEPS_PER_SECOND

    out = tmp_path / "out"
    people_cli(people_library, *ROOM_WALK, "sequence.length=3", "frames=3", "start=3", "render.width=96",
               "render.height=72", "render.samples=1", f"output.dir={out}", cwd=tmp_path)
    frames = [read_frame(out, i) for i in range(3, 6)]
    metas = [f["meta"] for f in frames]
    people = [next(o for o in m["objects"] if o["name"].startswith("person_")) for m in metas]
    iid = people[0]["instance_id"]
    records = [next(r for r in m["params"]["people"] if r.get("instance_id") == iid) for m in metas]
    motion = records[0]["motion"]
    assert motion["kind"] == "walk" and "stopped_at_step" not in motion and "held_by" not in motion
    assert all(o["deforms"] is True for o in people) and len({o["mesh"] for o in people}) == 3
    start = np.array(records[0]["mesh_to_world"])
    for k, (o, r) in enumerate(zip(people, records)):  # the advance the meta records
        assert r["mesh_to_world"] == o["mesh_to_world"]
        np.testing.assert_allclose(np.array(r["mesh_to_world"])[:3, 3] - start[:3, 3],
                                   start[:3, :3] @ [0.0, -1.0, 0.0] * motion["speed_m_s"] * k / STEPS_PER_SECOND,
                                   atol=1e-9)
    bodies = [trimesh.load(out / o["mesh"], force="mesh", process=False).apply_transform(np.array(o["mesh_to_world"]))
              for o in people]
    floor = next(o for o in metas[0]["objects"] if o["name"] == "env_floor")
    top = trimesh.load(out / floor["mesh"], force="mesh", process=False).apply_transform(
        np.array(floor["mesh_to_world"])).vertices[:, 2].max()
    assert all(abs(b.vertices[:, 2].min() - top) < 1e-3 for b in bodies)  # the soles on the floor's top
    pairs = ((3, 4, "forward"), (4, 5, "forward"), (4, 3, "backward"), (5, 4, "backward"))  # by frame index
    pad = [None] * 3
    errors = bending_flow_errors(out, pad + metas, pad + bodies, pad + [f["instance"] for f in frames], iid, pairs)
    for e in errors:  # each step its own camera draw (environment's views): 50-85 px of motion, some pixels kept
        assert e["valid"] > 10 and e["motion"] > 0.5, e
        assert e["epe"] < 0.01, e  # measured: 6e-6 px
    assert sum(e["valid"] for e in errors) > 200, errors
