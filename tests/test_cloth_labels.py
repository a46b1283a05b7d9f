"""A cloth dropped over a scene (objects.cloth, issue 76): drawn on the pure side (simgen.sampling.cloth),
simulated by Blender's cloth solver while a 3-step sequence renders, and every label checked against
the cloth's own mesh at each step (the dataset's models/ file the meta names; that Blender's simulation
gives those vertices is tests/test_cloth.py's proof against Blender's OBJ exporter), ray cast here:
ids, the flow of each cloth pixel (its ray's hit on the step's triangles, the same barycentric mix of
the other step's vertices), the tracks on it, and the amodal masks of the objects it covers. Then two
cloths in one scene (objects.cloth_count): each one's labels the same way, and neither passing
through the other in the dataset's own files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from conftest import simgen_cli
from groundtruth import amodal_raycast, bending_flow_errors, raycast_frame, ridden_track
from test_cloth import crossings, edges_of

RUN = ["objects.cloth=1", "objects.count=[2,2]", "objects.cloth_size=[0.25,0.35]", "objects.cloth_settle=6",
       "objects.cloth_drop=[0.02,0.04]", "sequence.length=3", "frames=3", "seed=2", "render.width=96",
       "render.height=72", "render.samples=1", "output.labels=[tracks,amodal]"]


def _scenes(overrides: list[str]):
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe

    s = check_dataset(overrides)
    return make_sequence_scenes(load_recipe(s.scene.recipe), s, catalog_for(s), 0)


def test_a_cloth_is_drawn_over_the_objects_and_nothing_else_changes(tmp_path):
    from simgen.errors import SimgenError
    from simgen.scene.meshes import ClothMesh, deforms

    out = f"output.dir={tmp_path / 'out'}"
    plain = _scenes(["objects.count=[2,2]", "sequence.length=2", out])
    dressed = _scenes(["objects.count=[2,2]", "sequence.length=2", "objects.cloth=1", out])
    for a, b in zip(plain, dressed):  # its own stream: every other draw as without it
        assert [o.name for o in a.objects] == [o.name for o in b.objects][:-1]
        assert all(np.array_equal(x.mesh_to_world, y.mesh_to_world) for x, y in zip(a.objects, b.objects))
        assert a.camera.world_to_camera.tolist() == b.camera.world_to_camera.tolist()
    cloth = dressed[0].objects[-1]
    assert isinstance(cloth.mesh, ClothMesh) and cloth.mesh.vertices is None and not deforms(cloth.mesh)
    assert cloth.instance_id == max(o.instance_id for o in plain[0].objects) + 1 and cloth.category_id == 0
    [record] = dressed[0].params["cloth"]  # a record a cloth: one
    assert 0.3 <= record["size"][0] <= 0.8 and record["settle_frames"] == 48
    assert record["instance_id"] == cloth.instance_id and record["self_collision"] is False
    tops = [o.mesh_to_world[2, 3] for o in dressed[0].objects if o.category_id != 0]
    assert cloth.mesh_to_world[2, 3] > max(tops)  # above the objects, flat (a turn about z only)
    np.testing.assert_allclose(cloth.mesh_to_world[:3, :3] @ [0, 0, 1], [0, 0, 1], atol=1e-12)
    with pytest.raises(SimgenError) as e:
        _scenes(["objects.cloth=1", "objects.cloth_category=towel", out])
    assert "\n" not in str(e.value) and str(e.value).startswith("objects.cloth_category=towel: no such category")
    labelled = _scenes(["objects.cloth=1", "objects.cloth_category=box", out])[0].objects[-1]
    assert labelled.category_id > 0


def _dataset(tmp_path_factory, name: str, args: list[str]) -> Path:
    """The dataset ``simgen ARGS`` writes into a fresh folder (the run must succeed)."""
    out = tmp_path_factory.mktemp(name) / "out"
    r = simgen_cli(*args, f"output.dir={out}", cwd=out.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def draped(tmp_path_factory) -> Path:
    return _dataset(tmp_path_factory, "cloth", RUN)


def _meta(root: Path, i: int) -> dict:
    return json.loads((root / "meta" / f"{i:06d}.json").read_text())


def _cloths(meta: dict) -> list[dict]:
    return [o for o in meta["objects"] if o["name"].startswith("cloth_")]


def _cloth(meta: dict) -> dict:
    return _cloths(meta)[0]


def _sheet(root: Path, meta: dict, k: int = 0) -> trimesh.Trimesh:
    """Cloth ``k`` at the frame's step, world coordinates, as the dataset's models/ file holds it."""
    o = _cloths(meta)[k]
    return trimesh.load(root / o["mesh"], force="mesh", process=False).apply_transform(np.array(o["mesh_to_world"]))


@pytest.mark.render
@pytest.mark.slow  # a 3-step sequence with a cloth simulated: ~15 s on 2 cores
def test_a_falling_cloths_ids_flow_and_tracks_follow_its_mesh_at_each_step(draped):
    from simgen.io.dataset.layout import read_frame

    frames = [read_frame(draped, i) for i in range(3)]
    metas = [f["meta"] for f in frames]
    assert all(_cloth(m).get("deforms") for m in metas)
    [record] = metas[0]["params"]["cloth"]
    assert record["frames"] == 6 + 3 - 1 and record["steps"] == 3 and "settled" in record and "tension" in record
    _check_cloth_labels(draped, frames, 0)


def _check_cloth_labels(root: Path, frames: list[dict], k: int) -> None:
    """Cloth ``k`` of a 3-step sequence: its ids, flow and tracks against a ray cast of its models/ files."""
    metas = [f["meta"] for f in frames]
    sheets = [_sheet(root, m, k) for m in metas]
    cid = _cloths(metas[0])[k]["instance_id"]
    assert len({_cloths(m)[k]["mesh"] for m in metas}) == 3  # a file a step
    assert np.abs(sheets[2].vertices - sheets[0].vertices).max() > 0.01, "the cloth hardly moved"
    for f in frames:  # ids: the render against a ray cast of the meta's meshes (the cloth's step file too)
        truth = raycast_frame(root, f["meta"]["index"])["instance"]
        assert (truth == cid).sum() > 40, "the cloth barely in view"
        assert (f["instance"].astype(np.int64) == truth).mean() > 0.99
    for e in bending_flow_errors(root, metas, sheets, [f["instance"] for f in frames], cid,
                                 ((0, 1, "forward"), (1, 2, "forward"), (2, 1, "backward"))):
        assert e["valid"] > 40
        assert e["motion"] > 0.5, "the cloth barely moved in the image"
        assert e["epe"] < 0.01, e
    tracks = np.load(root / "tracks" / "000000.npz")
    on = np.flatnonzero(tracks["instance_id"] == cid)
    assert len(on) >= 10 and (tracks["triangle"][on] >= 0).all()
    for n in on:  # each rides the triangle its query pixel's ray meets in that step's file
        for step, (uv, _) in enumerate(ridden_track(metas, sheets, int(tracks["query_step"][n]), tracks["query_uv"][n])):
            assert np.abs(uv - tracks["uv"][n, step]).max() < 0.01


@pytest.mark.render
@pytest.mark.slow  # the fixture's renders
def test_objects_under_the_cloth_keep_their_amodal_masks(draped):
    """Each annotated object's amodal mask is its own mesh ray cast alone, however much of it the
    cloth hides: at least one is partly hidden by the cloth (its visible pixels fewer)."""
    from simgen.io.files import read_png

    hidden = 0
    for i in range(3):
        masks = np.load(draped / "amodal" / f"{i:06d}.npz")
        truth = amodal_raycast(draped, i)
        instance = read_png(draped / "instance" / f"{i:06d}.png")
        cid = _cloth(_meta(draped, i))["instance_id"]
        for iid, mask in zip(masks["instance_ids"], masks["masks"]):
            assert (mask != truth[int(iid)]).sum() <= 2  # at most a pixel or two on an edge
            covered = mask & (instance == cid)
            hidden += int(covered.sum())
    assert hidden > 20, "the cloth hides nothing: nothing to test"


def test_several_cloths_are_drawn_each_above_the_one_before(tmp_path):
    """objects.cloth_count=[3,3]: three cloths of their own ids and keys, a record each; the first is
    the cloth a config without cloth_count draws (the count, one number, draws nothing); each starts
    above the one before, their meshes apart by STACK_GAP at least; a drawn count stays in its range."""
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe
    from simgen.sampling.cloth import STACK_GAP
    from simgen.scene.cloth import sheet
    from simgen.scene.meshes import ClothMesh

    out = f"output.dir={tmp_path / 'out'}"
    base = ["objects.count=[2,2]", "sequence.length=2", "objects.cloth=1", "objects.cloth_shapes=[sheet,pouch,cable]",
            "objects.cloth_self_collision=true", out]
    one = _scenes(base)
    three = _scenes([*base, "objects.cloth_count=[3,3]"])
    for a, b in zip(one, three):
        assert [o.name for o in a.objects] == [o.name for o in b.objects][:-2]
        cloths = [o for o in b.objects if isinstance(o.mesh, ClothMesh)]
        assert len(cloths) == 3 and len({o.name for o in cloths}) == 3
        first = max(o.instance_id for o in b.objects if not isinstance(o.mesh, ClothMesh))
        assert [o.instance_id for o in cloths] == [first + 1, first + 2, first + 3]
        assert [r["instance_id"] for r in b.params["cloth"]] == [o.instance_id for o in cloths]
        assert [r["key"] for r in b.params["cloth"]] == [o.name for o in cloths]
        assert b.params["cloth"][0] == a.params["cloth"][0]  # the first: the single cloth's draws
        assert cloths[0].mesh.cloth == a.objects[-1].mesh.cloth and cloths[0].material == a.objects[-1].material
        np.testing.assert_array_equal(cloths[0].mesh_to_world, a.objects[-1].mesh_to_world)
        for r, o in zip(b.params["cloth"], cloths):  # self-collision: a sheet's, recorded
            assert r["self_collision"] is (o.mesh.cloth.shape == "sheet") and r["mesh_to_world"] == o.mesh_to_world.tolist()
        spans = []
        for o in cloths:  # each one's start mesh in the world: its lowest and highest z
            z = (sheet(o.mesh.cloth)[0] @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3])[:, 2]
            spans.append((z.min(), z.max(), o.mesh.cloth.thickness))
        for (_, top, t0), (bottom, _, t1) in zip(spans, spans[1:]):
            assert bottom - top >= STACK_GAP + t0 + t1 - 1e-9, spans
    s = check_dataset([*base, "objects.cloth_count=[1,3]"])
    counts = {len(make_sequence_scenes(load_recipe(s.scene.recipe), s, catalog_for(s), seq)[0].params["cloth"])
              for seq in range(6)}
    assert counts <= {1, 2, 3} and len(counts) > 1, counts


MANY = [*(x for x in RUN if not x.startswith("seed=")), "seed=6", "objects.cloth_count=[2,2]"]  # both well in view


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> Path:
    return _dataset(tmp_path_factory, "cloths", MANY)


@pytest.mark.render
@pytest.mark.slow  # a 3-step sequence with two cloths simulated together: ~25 s on 2 cores
def test_two_cloths_each_keep_exact_labels_and_never_pass_through_each_other(two):
    from simgen.io.dataset.layout import read_frame

    frames = [read_frame(two, i) for i in range(3)]
    metas = [f["meta"] for f in frames]
    records = metas[0]["params"]["cloth"]
    assert [r["instance_id"] for r in records] == [o["instance_id"] for o in _cloths(metas[0])]
    assert len(records) == 2 and records[0]["seconds"] == records[1]["seconds"]  # one run
    for k in range(2):
        _check_cloth_labels(two, frames, k)
    for m in metas:  # the dataset's own files: no edge of one crosses a triangle of the other
        a, b = _sheet(two, m, 0), _sheet(two, m, 1)
        assert crossings(a.vertices, edges_of(a.faces), b.vertices, b.faces) == 0
        assert crossings(b.vertices, edges_of(b.faces), a.vertices, a.faces) == 0
