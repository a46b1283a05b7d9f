"""A cloth dropped over a scene (objects.cloth, issue 76): drawn on the pure side (simgen.sampling.cloth),
simulated by Blender's cloth solver while a 3-step sequence renders, and every label checked against
the cloth's own mesh at each step (the dataset's models/ file the meta names; that Blender's simulation
gives those vertices is tests/test_cloth.py's proof against Blender's OBJ exporter), ray cast here:
ids, the flow of each cloth pixel (its ray's hit on the step's triangles, the same barycentric mix of
the other step's vertices), the tracks on it, and the amodal masks of the objects it covers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from conftest import simgen_cli
from groundtruth import amodal_raycast, bending_flow_errors, raycast_frame, ridden_track

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
    record = dressed[0].params["cloth"]
    assert 0.3 <= record["size"][0] <= 0.8 and record["settle_frames"] == 48
    tops = [o.mesh_to_world[2, 3] for o in dressed[0].objects if o.category_id != 0]
    assert cloth.mesh_to_world[2, 3] > max(tops)  # above the objects, flat (a turn about z only)
    np.testing.assert_allclose(cloth.mesh_to_world[:3, :3] @ [0, 0, 1], [0, 0, 1], atol=1e-12)
    with pytest.raises(SimgenError) as e:
        _scenes(["objects.cloth=1", "objects.cloth_category=towel", out])
    assert "\n" not in str(e.value) and str(e.value).startswith("objects.cloth_category=towel: no such category")
    labelled = _scenes(["objects.cloth=1", "objects.cloth_category=box", out])[0].objects[-1]
    assert labelled.category_id > 0


@pytest.fixture(scope="module")
def draped(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cloth") / "out"
    r = simgen_cli(*RUN, f"output.dir={out}", cwd=out.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def _meta(root: Path, i: int) -> dict:
    return json.loads((root / "meta" / f"{i:06d}.json").read_text())


def _cloth(meta: dict) -> dict:
    return next(o for o in meta["objects"] if o["name"].startswith("cloth_"))


def _sheet(root: Path, meta: dict) -> trimesh.Trimesh:
    """The cloth at the frame's step, world coordinates, as the dataset's models/ file holds it."""
    o = _cloth(meta)
    return trimesh.load(root / o["mesh"], force="mesh", process=False).apply_transform(np.array(o["mesh_to_world"]))


@pytest.mark.render
@pytest.mark.slow  # a 3-step sequence with a cloth simulated: ~15 s on 2 cores
def test_a_falling_cloths_ids_flow_and_tracks_follow_its_mesh_at_each_step(draped):
    from simgen.io.dataset.layout import read_frame

    frames = [read_frame(draped, i) for i in range(3)]
    metas = [f["meta"] for f in frames]
    sheets = [_sheet(draped, m) for m in metas]
    cid = _cloth(metas[0])["instance_id"]
    assert all(_cloth(m).get("deforms") for m in metas)
    assert len({_cloth(m)["mesh"] for m in metas}) == 3  # a file a step
    assert np.abs(sheets[2].vertices - sheets[0].vertices).max() > 0.01, "the cloth hardly moved"
    record = metas[0]["params"]["cloth"]
    assert record["frames"] == 6 + 3 - 1 and record["steps"] == 3 and "settled" in record and "tension" in record
    for f in frames:  # ids: the render against a ray cast of the meta's meshes (the cloth's step file too)
        truth = raycast_frame(draped, f["meta"]["index"])["instance"]
        assert (truth == cid).sum() > 40, "the cloth barely in view"
        assert (f["instance"].astype(np.int64) == truth).mean() > 0.99
    for e in bending_flow_errors(draped, metas, sheets, [f["instance"] for f in frames], cid,
                                 ((0, 1, "forward"), (1, 2, "forward"), (2, 1, "backward"))):
        assert e["valid"] > 40
        assert e["motion"] > 0.5, "the cloth barely moved in the image"
        assert e["epe"] < 0.01, e
    tracks = np.load(draped / "tracks" / "000000.npz")
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
