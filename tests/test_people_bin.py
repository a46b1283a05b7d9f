"""People at bin_picking's cell (objects.people in scene=bin_picking, issue 77): a floor under the table only
when people are asked for, each person a worker standing on it beside the cell, facing it, reaching onto the
table, its mesh clear of the table's and the bin's (checked here by an exact segment-triangle test, not by the
boxes simgen places with), some of its keypoints in the camera's image; and a tiny render whose worker has
pixels and COCO keypoints."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import people_cli

pytestmark = pytest.mark.usefixtures("warp_cache")  # conftest: warp's kernel compiled into a temporary folder

BIN = ["scene=bin_picking", "objects.count=[3,3]", "scene.camera_distance=[1.4,1.8]"]
"""bin_picking with a camera a little higher than its default (0.9-1.3 m above the bin), which sees a worker's
hands in only some scenes: the docs' command."""


def _scenes(tmp_path, overrides: list[str], sequence: int = 0):
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe

    s = check_dataset([*BIN, *overrides, f"output.dir={tmp_path / 'out'}"])
    return make_sequence_scenes(load_recipe(s.scene.recipe), s, catalog_for(s), sequence)


def _world(o):
    from simgen.assets.meshes import load_mesh

    m = load_mesh(o.mesh)
    return np.asarray(m.vertices, float) @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3], np.asarray(m.faces)


def _segments_cross_triangles(p0: np.ndarray, p1: np.ndarray, tri: np.ndarray, chunk: int = 2048) -> int:
    """How many segments p0[i] -> p1[i] ((S, 3) each) pass through any triangle of ``tri`` ((T, 3, 3)):
    Moller-Trumbore with the segment's parameter in [0, 1], written here apart from simgen."""
    lo, hi = tri.reshape(-1, 3).min(axis=0), tri.reshape(-1, 3).max(axis=0)
    near = np.all((np.minimum(p0, p1) <= hi) & (np.maximum(p0, p1) >= lo), axis=1)  # others miss every triangle
    p0, p1 = p0[near], p1[near]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    hits = 0
    for s in range(0, len(p0), chunk):
        o, d = p0[s:s + chunk, None], (p1 - p0)[s:s + chunk, None]
        h = np.cross(d, e2[None])
        a = np.einsum("stk,tk->st", h, e1)
        ok = np.abs(a) > 1e-15
        f = 1.0 / np.where(ok, a, 1.0)
        sv = o - tri[None, :, 0]
        u = f * np.einsum("stk,stk->st", sv, h)
        q = np.cross(sv, e1[None])
        v = f * np.einsum("sk,stk->st", d[:, 0], q)
        t = f * np.einsum("tk,stk->st", e2, q)
        hits += int((ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t >= 0) & (t <= 1)).any(axis=1).sum())
    return hits


def _edges(v: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = np.unique(np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1), axis=0)
    return v[e[:, 0]], v[e[:, 1]]


def test_a_worker_stands_on_the_floor_beside_the_cell_clear_of_it_and_in_view(tmp_path, library):
    from simgen.people.body import PersonParams, body
    from simgen.sampling.people import CELL_CLEARANCE, CELL_YAW, MAX_SETBACK, MIN_CELL_KEYPOINTS
    from scenes.bin_picking import WORK_HEIGHT

    placed = 0
    for sequence in range(2):
        plain = _scenes(tmp_path, ["sequence.length=2"], sequence)
        scenes = _scenes(tmp_path, ["objects.people=[1,1]", "sequence.length=2", "people.self_intersection=false"],
                         sequence)  # the pose's check is the poses tests' (and warp's compile 25 s)
        first = scenes[0]
        # without people: no floor, nothing recorded; with them every other draw is the same
        assert "cell_floor" not in plain[0].params and not any(o.name == "floor" for o in plain[0].objects)
        n = len(plain[0].objects)
        assert [o.name for o in first.objects[:n]] == [o.name for o in plain[0].objects]
        assert all(np.array_equal(a.mesh_to_world, b.mesh_to_world) for a, b in zip(first.objects, plain[0].objects))
        np.testing.assert_array_equal(first.camera.world_to_camera, plain[0].camera.world_to_camera)
        assert {k: v for k, v in first.params.items() if k not in ("people", "cell_floor")} == plain[0].params
        floor = next(o for o in first.objects if o.role == "ground")
        z = first.params["cell_floor"]["z"]
        assert z == pytest.approx(first.params["bin"]["floor_z"] - WORK_HEIGHT)  # the bundled table has no legs
        assert floor.mesh_to_world[2, 3] == pytest.approx(z)
        cell = [o for o in first.objects if o.role == "environment"]
        assert {o.name for o in cell} >= {"env_table", "env_bin_floor"}
        table = next(o for o in cell if o.name == "env_table")
        tv, _ = _world(table)
        bench = np.stack([tv.min(axis=0), tv.max(axis=0)])
        people = [o for o in first.objects if o.name.startswith("person_")]
        for o in people:
            record = next(r for r in first.params["people"] if r.get("instance_id") == o.instance_id)
            assert record["pose"] == {"name": "reach"} and record["posture"] == "standing"
            v, f = _world(o)
            assert abs(v[:, 2].min() - z) < 1e-9  # soles on the floor
            np.testing.assert_allclose(o.mesh_to_world[:3, :3] @ [0, 0, 1], [0, 0, 1], atol=1e-12)  # upright
            pelvis = o.mesh_to_world[:3, 3]
            outside = np.maximum(np.maximum(bench[0, :2] - pelvis[:2], pelvis[:2] - bench[1, :2]), 0.0)
            assert 0 < np.linalg.norm(outside) <= MAX_SETBACK + 1e-9  # beside the table, not under it
            axis = int(np.argmax(outside))  # the side of the table it stands at; it faces the table square on,
            assert outside[1 - axis] == 0   # within CELL_YAW
            inward = np.zeros(2)
            inward[axis] = -np.sign(pelvis[axis] - bench[:, axis].mean())
            facing = (o.mesh_to_world[:3, :3] @ [0.0, -1.0, 0.0])[:2]
            assert np.degrees(np.arccos(np.clip(facing @ inward / np.linalg.norm(facing), -1, 1))) <= CELL_YAW + 1e-6
            # clear of the cell: no edge of one mesh passes through a triangle of the other, no vertex of the
            # person inside a part's box, every vertex at least CELL_CLEARANCE from every part's box
            pe = _edges(v, f)
            for part in cell:
                pv, pf = _world(part)
                lo, hi = pv.min(axis=0), pv.max(axis=0)
                gap = np.linalg.norm(np.maximum(np.maximum(lo - v, v - hi), 0.0), axis=1)
                assert gap.min() >= CELL_CLEARANCE - 1e-9, f"{part.name}: {gap.min():.4f} m from the worker"
                assert _segments_cross_triangles(*pe, pv[pf]) == 0, part.name
                assert _segments_cross_triangles(*_edges(pv, pf), v[f]) == 0, part.name
            tv_, tf_ = _world(table)  # the check is live: 0.3 m nearer the table the body crosses it
            assert _segments_cross_triangles(*_edges(v + 0.3 * np.append(inward, 0.0), f), tv_[tf_]) > 0
            # in view: its keypoints as its params make them, projected by the frame's camera
            b = body(PersonParams.from_json(record["params"]), library)
            K, w2c = first.camera.K, first.camera.world_to_camera
            for pts, least in ((np.asarray(b.keypoints), MIN_CELL_KEYPOINTS), (np.asarray(b.vertices), 50)):
                c = (pts @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3]) @ w2c[:3, :3].T + w2c[:3, 3]
                px = c[:, :2] / c[:, 2:] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
                inside = (c[:, 2] > 0) & (px[:, 0] >= 0) & (px[:, 0] <= first.camera.width - 1) \
                    & (px[:, 1] >= 0) & (px[:, 1] <= first.camera.height - 1)
                assert inside.sum() >= least
            # a static collider of the settle that drops the objects into the bin
            assert any(m == o.mesh and np.array_equal(p, o.mesh_to_world) for m, p in first.physics.static)
            placed += 1
        assert [o.name for o in scenes[1].objects] == [o.name for o in first.objects]
    assert placed >= 2


def test_workers_only_stand_still(tmp_path, library):
    from simgen.errors import SimgenError

    with pytest.raises(SimgenError) as e:
        _scenes(tmp_path, ["objects.people=[1,1]", "people.postures=[standing,lying]"])
    assert "\n" not in str(e.value) and "set people.postures=[standing]" in str(e.value)
    with pytest.raises(SimgenError) as e:
        _scenes(tmp_path, ["objects.people=[1,1]", "people.motion=[still,wave]", "sequence.length=2"])
    assert "\n" not in str(e.value) and "set people.motion=[still]" in str(e.value)


@pytest.mark.render
@pytest.mark.slow  # Blender and a 13,718-vertex body: about 15 s on 2 cores
def test_a_rendered_worker_has_pixels_and_coco_keypoints(tmp_path, people_library):
    from simgen.io.files import read_png

    out = tmp_path / "out"
    people_cli(people_library, *BIN, "objects.people=[1,1]", "frames=1", "seed=0", "render.width=96",
               "render.height=72", "render.samples=1", "output.labels=[keypoints]", f"output.dir={out}", cwd=tmp_path)
    meta = json.loads((out / "meta" / "000000.json").read_text())
    record = next(r for r in meta["params"]["people"] if r["placed"])
    coco = json.loads((out / "coco.json").read_text())
    person = next(c["id"] for c in coco["categories"] if c["name"] == "person")
    ann = next(a for a in coco["annotations"] if a["category_id"] == person)
    assert ann["simgen"]["instance_id"] == record["instance_id"]
    instance = read_png(out / "instance" / "000000.png").astype(np.int64)
    assert (instance == record["instance_id"]).sum() == ann["area"] > 0
    kp = np.array(ann["keypoints"], float).reshape(17, 3)
    assert ann["num_keypoints"] == int((kp[:, 2] > 0).sum()) >= 1
    inside = (kp[:, 2] > 0)
    assert np.all((kp[inside, 0] >= 0) & (kp[inside, 0] <= 95) & (kp[inside, 1] >= 0) & (kp[inside, 1] <= 71))
