"""People who move through a sequence (people.motion, issue 77 item 3; simgen.sampling.people_motion):
drawn on a stream of their own (still, the default, changes nothing), each step's body the motion's pose
with the feet on the floor, moved along the way it faces, never into an object; then a rendered walk of
4 steps whose labels are checked as every surface that bends is (tests/groundtruth.py, no Blender):
ids and depth against a ray cast of each step's models/ file, that file equal to the body made again
from the step's record alone, and the flow (forward and backward) and point tracks against each hit
point's barycentric mix of its triangle's vertices in the other step's file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from conftest import people_cli
from groundtruth import bending_flow_errors, intersect, raycast_frame, ridden_track, surface_hits, uniform_neighbourhood

SCENE = ["objects.people=[1,1]", "scene.camera_distance=[2.5,4]", "objects.count=[2,2]", "seed=3"]
RUN = [*SCENE, "people.motion=[walk]", "sequence.length=4", "frames=4", "render.width=128", "render.height=96",
       "render.samples=1", "output.labels=[tracks]"]
"""A person walking through 4 steps among tabletop's objects at room scale."""


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


def test_people_hold_still_by_default_and_motion_changes_no_other_draw(library, tmp_path):
    """people.motion=[still] (the default) is the scene as before: the person's mesh a still body, its
    record without a motion. [walk]: the same scene (objects, camera, the person's look and place at
    the first step's start), the person a surface that bends, a mesh a step."""
    from simgen.scene.meshes import PersonMesh, deforms

    base = [*SCENE, "sequence.length=3"]
    still = _scenes(base, tmp_path)
    same = _scenes([*base, "people.motion=[still]"], tmp_path)
    walk = _scenes([*base, "people.motion=[walk]"], tmp_path)
    for a, b, c in zip(still, same, walk):
        assert [o.mesh for o in a.objects] == [o.mesh for o in b.objects]
        assert a.params == b.params and "motion" not in a.params["people"][0]
        assert [o.name for o in a.objects] == [o.name for o in c.objects]
        for x, y in zip(a.objects, c.objects):
            if isinstance(x.mesh, PersonMesh):
                assert not deforms(x.mesh) and deforms(y.mesh) and y.mesh.look == x.mesh.look
                assert y.mesh.params.phenotype == x.mesh.params.phenotype and y.mesh.params.pose != x.mesh.params.pose
            else:
                assert x.mesh == y.mesh and np.array_equal(x.mesh_to_world, y.mesh_to_world)
        assert a.camera.world_to_camera.tolist() == c.camera.world_to_camera.tolist()
    assert [o.mesh.step for x in walk for o in x.objects if isinstance(o.mesh, PersonMesh)] == [0, 1, 2]


def test_a_walker_advances_the_way_it_faces_with_its_feet_on_the_floor(library, tmp_path):
    """Each step's record makes that step's body (params, mesh_to_world); the pelvis moves straight along
    the way the person faces (the body frame's -Y) at the drawn speed, 1/24 s a step; the soles are on
    the floor (z = 0) at every step; its box overlaps no object's at any step."""
    from simgen.people.body import PersonParams
    from simgen.sampling.people_motion import STEPS_PER_SECOND
    from simgen.scene.meshes import PersonMesh

    walked = 0
    for sequence in range(3):
        scenes = _scenes([*SCENE, "people.motion=[walk]", "sequence.length=4"], tmp_path, sequence)
        people = [next(o for o in s.objects if isinstance(o.mesh, PersonMesh)) for s in scenes]
        records = [s.params["people"][0] for s in scenes]
        motion = records[0]["motion"]
        if "held_by" in motion:
            continue
        assert motion["kind"] == "walk" and 0.5 < motion["speed_m_s"] < 2.0
        for o, r in zip(people, records):
            assert PersonParams.from_json(r["params"]) == o.mesh.params and r["key"] == o.mesh.stem
            np.testing.assert_array_equal(np.array(r["mesh_to_world"]), o.mesh_to_world)
            w = _world(o)
            assert abs(w[:, 2].min()) < 1e-9  # the soles on the tabletop's floor, at every step
            assert abs(r["height"] - np.ptp(w[:, 2])) < 1e-9
            box = np.stack([w.min(0), w.max(0)])
            for x in scenes[o.mesh.step].objects:
                if x is not o and x.role != "ground":
                    v = _world(x)
                    assert not (np.all(box[0] < v.max(0)) and np.all(v.min(0) < box[1])), (x.name, o.mesh.step)
        moved = len(scenes) - 1 if "stopped_at_step" not in motion else motion["stopped_at_step"]
        start = people[0].mesh_to_world
        facing = start[:3, :3] @ [0.0, -1.0, 0.0]
        for k, o in enumerate(people):
            np.testing.assert_allclose(o.mesh_to_world[:3, :3], start[:3, :3], atol=1e-12)  # no turn
            d = o.mesh_to_world[:3, 3] - start[:3, 3]
            np.testing.assert_allclose(d, facing * motion["speed_m_s"] * min(k, moved) / STEPS_PER_SECOND, atol=1e-9)
        walked += moved > 0
    assert walked, "no walker moved in 3 sequences: nothing tested"


def test_people_drawn_to_wave_or_turn_stay_where_they_stand(library, tmp_path):
    """people.motion=[still,walk,wave,turn] as the docs show it: each person's kind is one of them, drawn
    per person (several kinds among the sequences); a waver stays where it stands, its right forearm
    swinging; a turner turns about its vertical axis at its drawn rate, its pelvis where it stands;
    a still one keeps its mesh and place."""
    from simgen.people.motion import Motion, pose_at
    from simgen.sampling.people_motion import STEPS_PER_SECOND
    from simgen.scene.meshes import PersonMesh, deforms

    kinds = set()
    for sequence in range(4):
        scenes = _scenes(["objects.people=[2,3]", "scene.camera_distance=[2.5,4]", "objects.count=[2,2]", "seed=4",
                          "people.motion=[still,walk,wave,turn]", "sequence.length=3"], tmp_path, sequence)
        for r in scenes[0].params["people"]:
            if not r["placed"]:
                continue
            steps = [next(o for o in s.objects if o.instance_id == r["instance_id"]) for s in scenes]
            motion = r["motion"]
            kind = motion["kind"]
            kinds.add(kind)
            assert kind in ("still", "walk", "wave", "turn")
            start = steps[0].mesh_to_world
            if kind == "still":
                assert all(not deforms(o.mesh) and o.mesh == steps[0].mesh for o in steps)
                assert all(np.array_equal(o.mesh_to_world, start) for o in steps)
                continue
            assert [o.mesh.step for o in steps] == [0, 1, 2] and all(isinstance(o.mesh, PersonMesh) for o in steps)
            if "stopped_at_step" in motion or kind == "walk":
                continue
            for k, o in enumerate(steps):
                np.testing.assert_allclose(o.mesh_to_world[:3, 3], start[:3, 3], atol=1e-12)  # where it stands
                if kind == "wave":
                    np.testing.assert_allclose(o.mesh_to_world, start, atol=1e-12)
                    want = pose_at(Motion("wave", period_s=motion["period_s"], amplitude_deg=motion["swing_deg"],
                                          phase=motion["phase"]), k / STEPS_PER_SECOND).pose
                    assert o.mesh.params.pose == want
                else:
                    a = np.radians(motion["turn_deg_per_s"]) * k / STEPS_PER_SECOND
                    turn = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
                    np.testing.assert_allclose(o.mesh_to_world[:3, :3], start[:3, :3] @ turn, atol=1e-12)
            if kind == "wave":
                forearms = {dict(o.mesh.params.pose)["lowerarm01.R"] for o in steps}
                assert len(forearms) == 3  # the forearm swings
    assert len(kinds) >= 3, kinds


def test_a_walker_hemmed_in_stops_before_it_meets_a_wall(library, tmp_path):
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


def test_people_hold_still_unless_told_and_nothing_is_drawn(library, tmp_path):
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


def test_an_unknown_motion_is_one_line(tmp_path):
    from simgen.config.people import MOTIONS
    from simgen.errors import SimgenError
    from simgen.sampling.people_motion import KINDS, check_kinds

    assert MOTIONS == KINDS  # the setting offers every kind there is

    with pytest.raises(SimgenError) as e:
        check_kinds(["walk", "run"])
    assert "\n" not in str(e.value) and "'run'" in str(e.value) and "walk" in str(e.value)


@pytest.fixture(scope="module")
def walking(tmp_path_factory, people_library) -> Path:
    out = tmp_path_factory.mktemp("walking") / "out"
    people_cli(people_library, *RUN, f"output.dir={out}", cwd=out.parent)
    return out


def _person(meta: dict) -> dict:
    [o] = [o for o in meta["objects"] if o["name"].startswith("person_")]
    return o


def _world_triangles(root: Path, meta: dict) -> np.ndarray:
    """Every triangle of ``meta``'s frame in the world, from its models/ files."""
    return np.concatenate([trimesh.load(root / o["mesh"], force="mesh", process=False).apply_transform(
        np.array(o["mesh_to_world"])).triangles for o in meta["objects"]])


def _seen(meta: dict, points: np.ndarray, triangles: np.ndarray, depth: np.ndarray):
    """Per world point, seen from ``meta``'s camera: whether a ray cast sees it (inside the image,
    nothing of ``triangles`` before it), and whether it lies by an occlusion edge: of the four pixel
    centres around it (``depth``: the frame's ray-cast planar depth) some, not all, see a surface before
    it and more than 3 pixels' width away from it (there the frame's depth, which simgen decides by,
    cannot tell)."""
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    cam = points @ w2c[:3, :3].T + w2c[:3, 3]
    uv = (cam @ K.T)[:, :2] / cam[:, 2:]
    eye = -w2c[:3, :3].T @ w2c[:3, 3]
    t, _ = intersect(eye, points - eye, triangles)
    h, w = depth.shape
    inside = (uv[:, 0] >= -0.5) & (uv[:, 0] < w - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < h - 0.5)
    before = []
    for du in (0, 1):
        for dv in (0, 1):
            u = np.clip(np.floor(uv[:, 0]).astype(int) + du, 0, w - 1)
            v = np.clip(np.floor(uv[:, 1]).astype(int) + dv, 0, h - 1)
            z = depth[v, u]
            hit = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones(len(u))], 1) * \
                np.where(np.isfinite(z), z, 0.0)[:, None]
            away = np.linalg.norm(hit - cam, axis=1) > 3 * cam[:, 2] / K[0, 0]
            before.append((z < cam[:, 2] * (1 - 1e-3)) & away)
    before = np.stack(before, 1)
    return inside & (t >= 1 - 1e-3), before.any(1) & ~before.all(1)


PAIRS = ((0, 1, "forward"), (1, 2, "forward"), (2, 3, "forward"), (1, 0, "backward"), (3, 2, "backward"))


@pytest.mark.render
@pytest.mark.slow  # a 4-step render of a 13,718-vertex body and ray casts of it: ~2.5 min on 2 busy cores
def test_a_walking_persons_ids_flow_and_tracks_follow_its_body_at_each_step(walking, people_library):
    """The walker's ids, depth, flow (forward and backward) and tracks at each step against its models/
    files, each the body its step's record makes. The flow's validity and the tracks' visibility are
    simgen's rule on the frame's depth, checked against a ray cast of each point (its triangle's mix in
    the other step) away from occlusion edges (there the frame's depth cannot tell, as
    simgen.labels.tracks says): what simgen calls seen, the ray cast sees (99.5 % of flow vectors, 99 %
    of track points), and what the ray cast sees, simgen calls seen (99 % of both): the bar of things
    that bend (issue 76). A limb in front of the torso is a step in the one instance's depth, which
    the depth's slope beside it does not take for the surface's (simgen.labels.flow.STEP_RATIO; taken,
    it hid 2-3 % of the walker's seen points)."""
    from simgen.io.dataset.layout import read_frame
    from simgen.io.files import read_png
    from simgen.people.body import PARTS, PersonParams, body

    frames = [read_frame(walking, i) for i in range(4)]
    metas = [f["meta"] for f in frames]
    people = [_person(m) for m in metas]
    iid = people[0]["instance_id"]
    records = [next(r for r in m["params"]["people"] if r.get("instance_id") == iid) for m in metas]
    assert all(o["deforms"] is True and o["instance_id"] == iid for o in people)
    assert records[0]["motion"]["kind"] == "walk" and "stopped_at_step" not in records[0]["motion"]
    assert len({o["mesh"] for o in people}) == 4  # a models/ file a step
    bodies = []
    for o, r in zip(people, records):  # each step's file is the body its record makes (a second path)
        m = trimesh.load(walking / o["mesh"], force="mesh", process=False).apply_transform(np.array(o["mesh_to_world"]))
        b = body(PersonParams.from_json(r["params"]), people_library)
        twin = np.asarray(b.vertices) @ np.array(r["mesh_to_world"])[:3, :3].T + np.array(r["mesh_to_world"])[:3, 3]
        assert np.abs(m.vertices - twin).max() < 1e-6  # the PLY's float32
        np.testing.assert_array_equal(m.faces, b.faces)
        assert r["mesh_to_world"] == o["mesh_to_world"]
        bodies.append(m)
    assert np.abs(bodies[3].vertices - bodies[0].vertices).max() > 0.05, "the walker hardly moved"
    truths = [raycast_frame(walking, i) for i in range(4)]
    lut = np.array([{p["part"]: p["id"] for p in people[0]["body_parts"]}[n] for n in PARTS])
    parts = np.asarray(b.face_part)  # the same faces' parts at every pose
    hits = [surface_hits(m, bd) for m, bd in zip(metas, bodies)]  # each pixel's triangle of the body, by step
    for f, truth, (_, tri, _) in zip(frames, truths, hits):  # ids, depth, parts: the render against a ray cast
        interior = uniform_neighbourhood(truth["instance"])
        mine = interior & (truth["instance"] == iid)
        assert mine.sum() > 100, "the walker barely in view"
        assert (f["instance"].astype(np.int64)[mine] == iid).all()
        assert np.abs(f["depth"][mine].astype(np.float64) / truth["depth"][mine] - 1).max() < 1e-4
        assert (f["instance"].astype(np.int64)[interior] == truth["instance"][interior]).mean() > 0.999
        expected = truth["instance"].copy()
        on = truth["instance"] == iid
        expected[on] = lut[parts[tri.reshape(on.shape)[on]]]
        inside = uniform_neighbourhood(expected) & on  # the parts label: each body part's pixels
        assert len(np.unique(expected[inside])) >= 4 and (f["parts"].astype(np.int64)[inside] == expected[inside]).all()
    for e in bending_flow_errors(walking, metas, bodies, [f["instance"] for f in frames], iid, PAIRS):
        assert e["valid"] > 500 and e["motion"] > 0.5, e
        assert e["epe"] < 0.01, e
    triangles = [_world_triangles(walking, m) for m in metas]
    for k, other, direction in PAIRS:  # validity: a ray cast of each walker pixel's point in the other step
        _, tri, bary = hits[k]
        on = np.flatnonzero((tri >= 0) & (frames[k]["instance"].ravel() == iid))
        points = np.einsum("nk,nkj->nj", bary[on], bodies[other].vertices[bodies[other].faces[tri[on]]])
        seen, edge = _seen(metas[other], points, triangles[other], truths[other]["depth"])
        valid = (read_png(walking / f"flow_{direction}_valid" / f"{k:06d}.png") > 0).ravel()[on]
        seen, valid = seen[~edge], valid[~edge]
        assert valid.sum() > 500 and 0.05 < seen.mean() < 1, (k, other, direction)
        assert seen[valid].mean() >= 0.995, (k, other, direction)  # a valid vector's point is seen there
        assert valid[seen].mean() >= 0.99, (k, other, direction)  # a seen one valid
    tracks = np.load(walking / "tracks" / "000000.npz")
    mine = np.flatnonzero(tracks["instance_id"] == iid)
    assert len(mine) >= 20 and (tracks["triangle"][mine] >= 0).all()
    worst, rows = 0.0, []  # rows: (step, the point in the world, the ray cast's verdict, simgen's)
    for n in mine:  # each rides its triangle in the step files, visible where a ray cast sees it
        ridden = ridden_track(metas, bodies, int(tracks["query_step"][n]), tracks["query_uv"][n])
        tri, bary = int(tracks["triangle"][n]), np.asarray(tracks["barycentric"][n], float)
        for step, (uv, verdict) in enumerate(ridden):
            worst = max(worst, float(np.abs(uv - tracks["uv"][n, step]).max()))
            if verdict is not None:  # (None: seen at a grazing angle, where simgen decides by the depth)
                rows.append((step, bary @ bodies[step].vertices[bodies[step].faces[tri]], verdict,
                             bool(tracks["visible"][n, step])))
    assert worst < 0.01, worst
    checked = wrong = missed = 0
    for step in range(4):  # away from occlusion edges
        mine = [r for r in rows if r[0] == step]
        edge = _seen(metas[step], np.array([r[1] for r in mine]), triangles[step], truths[step]["depth"])[1]
        for (_, _, verdict, visible), by_edge in zip(mine, edge):
            if not by_edge:
                checked += 1
                wrong += visible and not verdict
                missed += verdict and not visible
    assert checked > 100 and wrong <= 0.01 * checked and missed <= 0.01 * checked, (checked, wrong, missed)


@pytest.mark.render
def test_the_renderer_moves_one_mesh_and_keeps_its_materials_through_a_persons_steps(library, tmp_path):
    """A moving person's steps are one Blender mesh whose vertices move to each step's body (in the body's
    vertex order) and one set of materials; both go once no scene holds the person."""
    import bpy

    from simgen.blender.datablocks import Datablocks, person_slots
    from simgen.config.materials import MaterialsConfig
    from simgen.people.body import PersonParams, body
    from simgen.people.motion import Motion, pose_at
    from simgen.sampling.people import draw_look
    from simgen.scene.meshes import PersonMesh

    look, _ = draw_look(MaterialsConfig(), np.random.default_rng(0))
    shape = {"age": 0.7}
    steps = [PersonMesh(PersonParams(phenotype=shape, pose=pose_at(Motion("walk"), k / 24).pose), look, step=k)
             for k in range(3)]
    blocks = Datablocks(None, tmp_path)
    try:
        meshes, materials = [], []
        for ref in steps:
            me = blocks.mesh(ref)
            v = np.empty(len(me.vertices) * 3, np.float32)
            me.vertices.foreach_get("co", v)
            np.testing.assert_allclose(v.reshape(-1, 3), body(ref.params).vertices, atol=1e-6)  # float32
            meshes.append(me.name)
            materials.append([blocks.own_material(ref, k).name for k in range(len(person_slots(ref)[0]))])
        assert len(set(meshes)) == 1 and all(m == materials[0] for m in materials)
        assert len(blocks.surfaces) == 1 and not any(isinstance(k[0], PersonMesh) for k in blocks.own)
        blocks.drop_generated({steps[-1]})
        assert meshes[0] in bpy.data.meshes and all(n in bpy.data.materials for n in materials[0])
        blocks.drop_generated(set())
        assert meshes[0] not in bpy.data.meshes and not any(n in bpy.data.materials for n in materials[0])
        assert not blocks.own and not blocks.surfaces
    finally:
        blocks.close()
