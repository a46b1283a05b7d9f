"""People rendered and labelled (objects.people, issue 77, item 4): a tiny tabletop frame at room scale
with two people standing, one of the environment recipe's bundled room with two on its floor, and a
flying frame with two in the air, its instance and semantic ids and its depth against a ray cast of the frame's meshes
(groundtruth.py: numpy Moller-Trumbore, no Blender), the people's own built by a second path from the
meta alone (its record's phenotype and pose through simgen.people.body, placed by its record's pose),
which the dataset's models/ file must equal; and each person's COCO annotation of category person,
its box the tight box of its visible pixels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from conftest import people_cli
from groundtruth import raycast_frame, uniform_neighbourhood

RUN = ["objects.people=[2,2]", "scene.camera_distance=[2.5,4]", "objects.count=[3,3]", "frames=1", "seed=3",
       "render.width=128", "render.height=96", "render.samples=1"]


RUNS = {"tabletop": RUN, "flying": ["scene=flying", "objects.people=[2,2]", "objects.count=[3,3]",
                                     "scene.distractors=[2,2]", "frames=1", "seed=1", "render.width=128",
                                     "render.height=96", "render.samples=1"],
        "environment": ["scene=environment", *RUN],
        "lying": [*RUN, "people.postures=[lying]"], "sitting": [*RUN, "people.postures=[sitting]"]}
"""Two people standing at room scale in tabletop's scene and on the floor of environment's bundled room,
two in the air among flying's objects, and two lying and two sitting on tabletop's floor (people.postures)."""


@pytest.fixture(scope="module")
def warp_cache(tmp_path_factory) -> Path:
    """warp's kernel cache for the runs' self-intersection check (people.self_intersection, on by
    default), compiled once for the module, not in the (shared, maybe read-only) library."""
    return tmp_path_factory.mktemp("warp")


@pytest.fixture(scope="module", params=sorted(RUNS))
def peopled(request, tmp_path_factory, people_library, warp_cache) -> Path:
    out = tmp_path_factory.mktemp(f"people_{request.param}") / "out"
    people_cli(people_library, *RUNS[request.param], f"output.dir={out}", cwd=out.parent, warp=warp_cache)
    return out


def _people(meta: dict) -> list[dict]:
    return [o for o in meta["objects"] if o["name"].startswith("person_")]


def _body_world(record: dict, library) -> trimesh.Trimesh:
    """A person as the meta's record makes it, without the dataset's files: its params through
    simgen.people.body, placed by the record's pose."""
    from simgen.people.body import PersonParams, body

    b = body(PersonParams.from_json(record["params"]), library)
    return trimesh.Trimesh(np.array(b.vertices), np.array(b.faces), process=False).apply_transform(
        np.array(record["mesh_to_world"]))


@pytest.mark.render
@pytest.mark.slow  # a render with two 13,718-vertex bodies and a ray cast of them: ~25 s a scene on 2 cores
def test_people_ids_and_depth_equal_a_ray_cast_of_their_bodies(peopled, people_library):
    from simgen.io.dataset.layout import read_frame

    f = read_frame(peopled, 0)
    meta = f["meta"]
    people = _people(meta)
    records = {r["instance_id"]: r for r in meta["params"]["people"] if r["placed"]}
    assert len(people) == len(records) == 2
    person = next(c["id"] for c in json.loads((peopled / "coco.json").read_text())["categories"]
                  if c["name"] == "person")
    for o in people:  # the models/ file the ray cast reads is the body the meta's record makes (a second path)
        assert o["category_id"] == person and o["mesh"].startswith("models/") and o["mesh"].endswith(".ply")
        m = trimesh.load(peopled / o["mesh"], force="mesh", process=False).apply_transform(np.array(o["mesh_to_world"]))
        twin = _body_world(records[o["instance_id"]], people_library)
        assert len(m.faces) == len(twin.faces) == 27420
        assert np.abs(m.vertices - twin.vertices).max() < 1e-6  # the PLY's float32
        np.testing.assert_array_equal(m.faces, twin.faces)
    truth = raycast_frame(peopled, 0)
    ids, got_ids = truth["instance"], f["instance"].astype(np.int64)
    interior = uniform_neighbourhood(ids)
    for o in people:
        mine = interior & (ids == o["instance_id"])
        assert mine.sum() >= 15, f"{o['name']} barely in view ({mine.sum()} interior pixels)"
        assert (got_ids[mine] == o["instance_id"]).all()
        assert (f["semantic"].astype(np.int64)[mine] == person).all()
        depth = f["depth"][mine].astype(np.float64)
        assert np.abs(depth / truth["depth"][mine] - 1).max() < 1e-4
    assert (got_ids[interior] == ids[interior]).mean() > 0.999


@pytest.mark.render
@pytest.mark.slow  # the fixture's render
def test_each_person_has_a_coco_annotation_of_category_person(peopled):
    from pycocotools import mask as mask_utils

    from simgen.io.files import read_png

    coco = json.loads((peopled / "coco.json").read_text())
    person = next(c["id"] for c in coco["categories"] if c["name"] == "person")
    instance = read_png(peopled / "instance" / "000000.png").astype(np.int64)
    meta = json.loads((peopled / "meta" / "000000.json").read_text())
    anns = [a for a in coco["annotations"] if a["category_id"] == person]
    assert len(anns) == len(_people(meta)) == 2
    for a in anns:
        iid = a["simgen"]["instance_id"]
        mask = instance == iid
        ys, xs = np.nonzero(mask)
        assert a["area"] == mask.sum() > 0
        assert a["bbox"] == [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                             float(ys.max() - ys.min() + 1)]
        np.testing.assert_array_equal(mask_utils.decode(a["segmentation"]).astype(bool), mask)


@pytest.mark.render
def test_the_renderer_lets_a_persons_mesh_and_materials_go(library, tmp_path):
    """A new person each scene must not pile up in Blender: Datablocks.drop_generated removes a person's
    mesh and its region materials once no scene holds it, and keeps them while one does."""
    import bpy

    from simgen.blender.datablocks import Datablocks, person_slots
    from simgen.people.body import REGIONS, PersonParams
    from simgen.sampling.people import draw_look
    from simgen.config.materials import MaterialsConfig
    from simgen.scene.meshes import PersonMesh

    look, _ = draw_look(MaterialsConfig(), np.random.default_rng(0))
    ref = PersonMesh(PersonParams(phenotype={"age": 0.7}), look)
    blocks = Datablocks(None, tmp_path)
    try:
        me = blocks.mesh(ref)
        slots = person_slots(ref)[0]  # a slot per region and body part (the parts label's material pass index)
        assert len(me.polygons) == 27420 and len(me.materials) == len(slots) > len(REGIONS)
        mats = [blocks.own_material(ref, k) for k in range(len(slots))]
        skin = mats[list(slots[:, 0]).index(REGIONS.index("skin"))].node_tree.nodes["Principled BSDF"]
        assert skin.inputs["Subsurface Weight"].default_value > 0  # skin scatters under its surface
        names = [m.name for m in mats]
        blocks.drop_generated({ref})
        assert ref in blocks.meshes and all(n in bpy.data.materials for n in names)
        blocks.drop_generated(set())
        assert ref not in blocks.meshes and not any(n in bpy.data.materials for n in names)
        assert not any(k[0] == ref for k in blocks.own)
    finally:
        blocks.close()
