"""Parametric shapes (simgen/assets/parametric.py): valid closed meshes, bounded UV stretch,
determinism and variety over many draws; and, rendered, labels that agree with a ray cast of
the exact meshes written to models/, draws recorded in meta, Blender memory bounded."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from simgen import SimgenError
from simgen.assets import build_catalog, load_mesh
from simgen.assets.meshes import load_asset
from simgen.assets import parametric as P
from simgen.config import ObjectsConfig
from simgen.scene.meshes import GeneratedMesh, as_mesh_ref
from simgen.scene.data import SceneObject
from simgen.sampling.classes import pick_assets
from simgen.sampling.objects import pick_objects

DRAWS = 40
CATEGORIES = sorted(P.GENERATORS)


def _shapes(category: str, n: int = DRAWS) -> list[P.Shape]:
    return [P.GENERATORS[category](np.random.default_rng(1000 + i)) for i in range(n)]


def _uv_area(uv: np.ndarray) -> np.ndarray:
    uv = uv.astype(np.float64)
    return 0.5 * np.abs(np.cross(uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]))


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_draw_is_a_valid_closed_mesh(category):
    lo, hi = P.SIZE_RANGES[category]
    for shape in _shapes(category):
        v, f = shape.vertices, shape.faces
        assert v.dtype == np.float64 and np.isfinite(v).all() and f.min() >= 0 and f.max() < len(v)
        mesh = trimesh.Trimesh(v, f, process=False)
        # no degenerate faces: every triangle has area and no repeated corner
        assert (f[:, 0] != f[:, 1]).all() and (f[:, 1] != f[:, 2]).all() and (f[:, 0] != f[:, 2]).all()
        assert mesh.area_faces.min() > 1e-10, shape.params
        # closed, consistently wound, every part encloses positive volume: normals point outward
        assert mesh.is_watertight and mesh.is_winding_consistent, shape.params
        parts = mesh.split(only_watertight=False)
        assert len(parts) == shape.parts
        assert all(p.is_watertight and p.volume > 0 for p in parts), shape.params
        # independent outward check: the face normals of the largest part, weighted by area, point
        # away from its centroid on average, and a point just outside a face is not inside the part
        body = max(parts, key=lambda p: p.volume)
        away = np.einsum("ij,ij->i", body.face_normals, body.triangles_center - body.center_mass)
        assert (away * body.area_faces).sum() > 0
        # rests on z = 0, centred on the Z axis (a mug's handle sticks out to +x)
        assert v[:, 2].min() == 0.0
        centre = (v.max(axis=0) + v.min(axis=0)) / 2
        if category != "mug":
            assert np.abs(centre[:2]).max() < 1e-9
        size = float(np.ptp(v, axis=0).max())
        assert lo <= size <= hi, (size, shape.params)
        assert len(f) <= 4000  # cheap to make and to hand to Blender every frame


@pytest.mark.parametrize("category", CATEGORIES)
def test_uv_stretch_is_bounded(category):
    """UV area per 3D area (UV units: metres / largest extent) is the same on every face up to a
    small factor, so a texture keeps its scale over the whole surface."""
    ratios = []
    for shape in _shapes(category, 15):
        assert shape.uv.shape == (len(shape.faces), 3, 2) and np.isfinite(shape.uv).all()
        size = float(np.ptp(shape.vertices, axis=0).max())
        ratio = _uv_area(shape.uv) * size ** 2 / shape.mesh.area_faces
        ratios.append(ratio)
        assert ratio.max() / ratio.min() < 1.8, (category, ratio.min(), ratio.max())
    ratios = np.concatenate(ratios)
    assert 0.5 < ratios.min() and ratios.max() < 1.5
    # the UV edges are as long as the 3D edges (no stretch in one direction either), up to shear
    shape = _shapes(category, 1)[0]
    size = float(np.ptp(shape.vertices, axis=0).max())
    tri, uv = shape.vertices[shape.faces], shape.uv.astype(np.float64) * size
    e3 = np.linalg.norm(tri[:, 1] - tri[:, 0], axis=1)
    e2 = np.linalg.norm(uv[:, 1] - uv[:, 0], axis=1)
    assert np.median(e2 / e3) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("category", CATEGORIES)
def test_same_seed_same_mesh_and_draws_differ(category):
    a = P.GENERATORS[category](np.random.default_rng(5))
    b = P.GENERATORS[category](np.random.default_rng(5))
    assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.faces, b.faces)
    assert np.array_equal(a.uv, b.uv) and a.params == b.params
    shapes = _shapes(category, 12)
    keys = {json.dumps(s.params, sort_keys=True) for s in shapes}
    assert len(keys) == 12  # every draw is a new shape
    sizes = np.array([np.ptp(s.vertices, axis=0) for s in shapes])
    assert (sizes.std(axis=0) / sizes.mean(axis=0)).max() > 0.1  # proportions vary, not just noise
    c = shapes[1]
    assert len(c.vertices) != len(a.vertices) or not np.allclose(c.vertices, a.vertices)


def test_named_shape_is_regenerated_exactly():
    rng = np.random.default_rng(3)
    ref, draws = P.draw_shape("mug", rng)
    assert isinstance(ref, GeneratedMesh) and ref == GeneratedMesh("mug", draws["seed"])
    assert draws["generator"] == "mug" and isinstance(draws["seed"], int)
    first = load_mesh(ref)
    shape = P.shape_of(ref)
    P._generate.cache_clear()  # an evicted shape comes back identical from its reference alone
    again = load_mesh(GeneratedMesh("mug", draws["seed"]))
    assert again is not first
    assert np.array_equal(again.vertices, first.vertices) and np.array_equal(again.faces, first.faces)
    assert np.array_equal(P.shape_of(ref).uv, shape.uv)
    # the rng gave exactly one number: the next draw does not depend on the generator's needs
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    P.draw_shape("ring", r1)
    r2.integers(0, 2 ** 63)
    assert r1.integers(0, 2 ** 63) == r2.integers(0, 2 ** 63)
    with pytest.raises(SimgenError, match="no shape generator"):
        load_mesh(GeneratedMesh("chair", 1))


def test_generated_mesh_reference():
    """A typed reference, named as its files always were: models/<category>/gen_<16 hex>.ply."""
    ref = GeneratedMesh("mug", 0x1A2B)
    assert (ref.stem, ref.name, ref.key) == ("gen_0000000000001a2b", "gen_0000000000001a2b.ply",
                                             "mug/gen_0000000000001a2b")
    assert {ref: 1}[GeneratedMesh("mug", 0x1A2B)] == 1 and ref != GeneratedMesh("can", 0x1A2B)  # hashable key
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.seed = 2
    for bad in (("mug", -1), ("mug", 2 ** 64), ("mug", 1.0), ("mug", True), ("", 1), ("a/b", 1)):
        with pytest.raises(ValueError):
            GeneratedMesh(*bad)
    # a scene object's mesh is a reference: a file name becomes a Path, a GeneratedMesh stays one
    assert as_mesh_ref(ref) is ref and as_mesh_ref("a/b.ply") == as_mesh_ref(Path("a/b.ply"))
    obj = SceneObject("o", "a/b.ply", np.eye(4), 1, 1, None)
    assert obj.mesh == Path("a/b.ply") and SceneObject("o", ref, np.eye(4), 1, 1, None).mesh is ref
    with pytest.raises(TypeError, match="GeneratedMesh"):
        SceneObject("o", 7, np.eye(4), 1, 1, None)
    from simgen.pipeline.meta import model_relpath

    assert model_relpath(ref.key, ref) == "models/mug/gen_0000000000001a2b.ply"
    assert model_relpath("", Path("/x/knot.obj")) == "models/stuff/knot.ply"
    # what load_asset gives: the shape's mesh and its UVs (no material of its own)
    loaded = load_asset(ref)
    assert loaded.mesh is load_mesh(ref) is P.shape_of(ref).mesh
    assert loaded.appearance.materials == () and np.array_equal(loaded.appearance.uv, P.shape_of(ref).uv)


def test_pick_objects_replaces_catalog_meshes_by_chance():
    catalog = build_catalog()
    o0 = ObjectsConfig()
    assert o0.parametric == 0.0
    # off: the very same picks and rng stream as before the option existed
    r1, r2 = np.random.default_rng(9), np.random.default_rng(9)
    picks, draws = pick_objects(o0, catalog, 6, r1)
    assert picks == pick_assets(catalog, 6, r2) and draws == [None] * 6
    assert r1.integers(1 << 30) == r2.integers(1 << 30)
    # always: every object is generated, same category, draws recorded
    o1 = dataclasses.replace(o0, parametric=1.0)
    picks, draws = pick_objects(o1, catalog, 30, np.random.default_rng(9))
    assert all(isinstance(a.path, GeneratedMesh) and a.scale == 1.0 for a in picks)
    assert all(d["generator"] == a.category and a.key == f"{a.category}/{a.path.stem}" for a, d in zip(picks, draws))
    assert all(a.category_id == catalog.category_id(a.category) for a in picks)
    # half: both kinds
    o5 = dataclasses.replace(o0, parametric=0.5)
    picks, draws = pick_objects(o5, catalog, 40, np.random.default_rng(9))
    gen = [isinstance(a.path, GeneratedMesh) for a in picks]
    assert 5 < sum(gen) < 35 and all((d is not None) == g for d, g in zip(draws, gen))


@pytest.mark.parametrize("recipe_name", ["tabletop", "flying"])
def test_frame_shapes_are_a_function_of_seed_and_index(recipe_name):
    from simgen.config import Settings
    from simgen.pipeline import catalog_for, load_recipe, make_frame_scene
    from simgen.compose.settings import default_scene, validate

    s = validate(Settings(scene=default_scene(recipe_name)))
    s.objects = dataclasses.replace(s.objects, parametric=1.0)
    catalog, recipe = catalog_for(s), load_recipe(recipe_name)

    def shapes(index):
        return [o.mesh for o in make_frame_scene(recipe, s, catalog, index).objects
                if isinstance(o.mesh, GeneratedMesh)]

    after_others = [shapes(i) for i in range(4)][3]
    P._generate.cache_clear()
    alone = shapes(3)
    assert alone and alone == after_others  # frame 3 alone = frame 3 after 0..2
    assert not set(alone) & set(shapes(2))  # and the next frame draws new shapes
    meshes = [load_mesh(p) for p in alone]
    P._generate.cache_clear()
    assert all(np.array_equal(m.vertices, load_mesh(p).vertices) for m, p in zip(meshes, alone))
    s.seed += 1
    assert shapes(3) != alone


# ----------------------------------------------------------------------- rendered


@pytest.fixture(scope="module")
def parametric_dataset(tmp_path_factory):
    from conftest import tiny_settings
    from simgen.pipeline import run
    from simgen.compose.settings import validate

    root = tmp_path_factory.mktemp("parametric")
    s = tiny_settings(root, frames=3, width=96, height=72, samples=2)
    s.objects = dataclasses.replace(s.objects, parametric=1.0, count=[4, 6])
    s.materials = dataclasses.replace(s.materials, texture_probability=1.0)
    run(validate(s))
    return root


@pytest.mark.render
@pytest.mark.parametrize("index", range(3))
def test_rendered_parametric_labels_match_ray_cast(parametric_dataset, index):
    from groundtruth import raycast_frame
    from simgen.io.dataset.layout import read_frame

    root = parametric_dataset
    frame = read_frame(root, index)
    meta = frame["meta"]
    objs = [o for o in meta["objects"] if o["category_id"] > 0]
    assert objs and all(o["asset"].split("/")[1].startswith("gen_") for o in objs)
    drawn = {d["asset"]: d for d in meta["params"]["objects"]["objects"]}
    for o in objs:  # the draws are in meta and regenerate the exact mesh written to models/
        shape = drawn[o["asset"]]["shape"]
        assert shape["generator"] == o["category"]
        assert o["asset"] == f"{o['category']}/gen_{shape['seed']:016x}" and o["mesh"] == f"models/{o['asset']}.ply"
        regenerated = P.GENERATORS[o["category"]](np.random.default_rng(shape["seed"]))
        assert {k: v for k, v in shape.items() if k not in ("generator", "seed")} == \
            {k: v for k, v in regenerated.params.items() if k != "seed"}
        written = trimesh.load(root / o["mesh"], force="mesh")
        assert np.array_equal(np.asarray(written.vertices), regenerated.vertices.astype(np.float32))  # what Blender gets
        assert np.array_equal(np.asarray(written.faces), regenerated.faces)
    truth = raycast_frame(root, index)
    got = frame["instance"].astype(np.int64)
    assert len(np.unique(truth["instance"])) >= 3
    assert np.array_equal(got, truth["instance"]), f"{(got != truth['instance']).sum()} pixels disagree"
    same = (got == truth["instance"]) & (got > 0)
    rel = np.abs(frame["depth"][same] - truth["depth"][same]) / truth["depth"][same]
    assert rel.max() < 1e-4


@pytest.mark.render
def test_backend_uses_uvs_and_drops_old_shapes():
    import bpy

    from simgen.blender import BlenderBackend
    from simgen.config import RenderConfig, Settings
    from simgen.pipeline import catalog_for, load_recipe, make_frame_scene
    from simgen.compose.settings import validate

    s = validate(Settings())
    s.objects = dataclasses.replace(s.objects, parametric=1.0)
    s.materials = dataclasses.replace(s.materials, texture_probability=1.0)
    s.render = RenderConfig(width=32, height=24, samples=1, device="cpu")
    catalog, recipe = catalog_for(s), load_recipe("tabletop")
    backend = BlenderBackend(s.render)
    try:
        counts = []
        for index in range(6):
            scene = make_frame_scene(recipe, s, catalog, index)
            backend.build(scene)
            generated = [o for o in scene.objects if isinstance(o.mesh, GeneratedMesh)]
            assert generated
            for o in generated:
                ob = bpy.data.objects[o.name]
                uv = np.zeros(len(ob.data.loops) * 2, dtype=np.float32)
                ob.data.uv_layers["UVMap"].uv.foreach_get("vector", uv)
                assert np.array_equal(uv.reshape(-1, 3, 2), P.shape_of(o.mesh).uv)
                nodes = ob.material_slots[0].material.node_tree.nodes
                coord = next(n for n in nodes if n.bl_idname == "ShaderNodeTexCoord")
                assert coord.outputs["UV"].is_linked and not coord.outputs["Generated"].is_linked
            backend.render_passes(seed=index)
            counts.append(len(bpy.data.meshes))
        # one frame's shapes at a time: Blender's meshes do not grow with the frames
        assert max(counts) <= 1 + s.objects.count[1]  # the ground and this frame's objects
    finally:
        backend.close()
