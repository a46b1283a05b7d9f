"""Rigged catalog models (issue 76, item 3): a catalog entry with ``animation: true`` names a glTF whose
armature bends a bar and carries a knob on its upper bone, written by Blender's own glTF exporter with
two clips (``bend``, 13 frames; ``sway``, 9). Each scene draws a clip and a frame on a stream of its
own; a sequence plays the clip on. Proof by a second path: Blender's own importer and OBJ exporter
(the file read with its defaults, the clip's action made active, the frame set, modifiers applied)
give the model at each step's frame; a ray cast of that export, placed by the frame's mesh_to_world,
gives every pixel's id and depth, and each hit's barycentric position moved to the export at the
other step gives its flow.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from conftest import blender_wrote, set_settings, tiny_settings
from groundtruth import bending_flow_errors, ridden_track, surface_hits, two_bone_bar
from simgen import SimgenError

RIG_SCRIPT = """
import sys, bpy
from pathlib import Path
folder = Path(sys.argv[1])
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.frame_start, scene.frame_end = 1, 13
rig = bpy.data.objects.new("rig", bpy.data.armatures.new("rig"))
scene.collection.objects.link(rig)
""" + two_bone_bar(0.1) + """me = bpy.data.meshes.new("knob")  # a rigid part the upper bone carries, at its tip
s = 0.08
me.from_pydata([(x, y, z) for x in (-s, s) for y in (-s, s) for z in (-s, s)], [],
               [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)])
knob = bpy.data.objects.new("knob", me)
scene.collection.objects.link(knob)
knob.parent, knob.parent_type, knob.parent_bone = rig, "BONE", "upper"
for ob, colour in ((bar, (0.8, 0.02, 0.02, 1.0)), (knob, (0.02, 0.02, 0.8, 1.0))):  # a red bar, a blue knob
    mat = bpy.data.materials.new(f"{ob.name}_paint")
    mat.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = colour
    ob.data.materials.append(mat)
rig.animation_data_create()
for clip, last, turns in (("bend", 13, (0.5, 0.9)), ("sway", 9, (-0.3, 0.4))):
    action = bpy.data.actions.new(clip)
    rig.animation_data.action = action
    for name, turn in zip(("lower", "upper"), turns):
        pose = rig.pose.bones[name]
        pose.rotation_mode = "XYZ"
        for frame, t in ((1, 0.0), (last, turn)):
            pose.rotation_euler = (t, 0.0, 0.0)
            pose.keyframe_insert("rotation_euler", frame=frame)
    track = rig.animation_data.nla_tracks.new()  # one glTF animation (clip) per track
    track.name = clip
    track.strips.new(clip, 1, action)
    rig.animation_data.action = None
for b in rig.pose.bones:
    b.rotation_euler = (0.0, 0.0, 0.0)
scene.frame_set(1)
bpy.ops.export_scene.gltf(filepath=str(folder / "bender.glb"), export_format="GLB")
rig.animation_data.action = bpy.data.actions["bend"]  # an FBX of one animation: bend
for t in rig.animation_data.nla_tracks:
    t.mute = True
bpy.ops.export_scene.fbx(filepath=str(folder / "bender.fbx"), bake_anim=True, bake_anim_use_nla_strips=False,
                         bake_anim_use_all_actions=False)
rig.animation_data.action = None
for t in list(rig.animation_data.nla_tracks):  # the same model with nothing animated
    rig.animation_data.nla_tracks.remove(t)
for a in list(bpy.data.actions):
    bpy.data.actions.remove(a)
bpy.ops.export_scene.gltf(filepath=str(folder / "still.glb"), export_format="GLB")
"""
"""A bpy script for a child Python: ``bender.glb`` (a bar two bones bend, a knob on the upper bone's tip;
clips bend and sway; the bar's material red, the knob's blue), ``bender.fbx`` (bend alone) and ``still.glb`` (no animation) in the folder it is given."""

EXPORT_SCRIPT = """
import json, sys, bpy, addon_utils
source, wanted = sys.argv[1], json.loads(sys.argv[2])
bpy.ops.wm.read_factory_settings(use_empty=True)
addon_utils.enable("io_scene_gltf2", default_set=False)
bpy.ops.import_scene.gltf(filepath=source)
for clip, frame, out in wanted:
    for ob in bpy.data.objects:  # the clip's action made active, as in Blender's NLA editor
        ad = ob.animation_data
        strip = next((t.strips[0] for t in ad.nla_tracks if t.name == clip), None) if ad else None
        if strip is not None:
            ad.action, ad.action_slot = strip.action, strip.action_slot
    bpy.context.scene.frame_set(frame)
    for ob in bpy.context.view_layer.objects:
        ob.select_set(ob.type == "MESH")
    bpy.ops.wm.obj_export(filepath=out, export_selected_objects=True, apply_modifiers=True, export_materials=False,
                          forward_axis="Y", up_axis="Z", export_normals=False, export_uv=False)
"""
"""A bpy script for a child Python: every mesh of a glTF at each (clip, frame) wanted, as Blender's own
importer (its defaults) and OBJ exporter (modifiers applied, world coordinates) give them, one OBJ each."""


def exported(source: Path, wanted: list[tuple[str, int]], folder: Path) -> dict[tuple[str, int], trimesh.Trimesh]:
    """The model of ``source`` at each (clip, frame) of ``wanted`` in the file's world, by Blender's own
    importer and OBJ exporter (:data:`EXPORT_SCRIPT`, one child for all)."""
    jobs = [(c, int(f), str(folder / f"export_{c}_{f}.obj")) for c, f in dict.fromkeys(wanted)]
    r = subprocess.run([sys.executable, "-c", EXPORT_SCRIPT, str(source), json.dumps(jobs)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and all(Path(o).is_file() for *_, o in jobs), r.stderr[-2000:]
    return {(c, f): trimesh.load(o, force="mesh", process=False) for c, f, o in jobs}


@pytest.fixture(scope="module")
def rigged(tmp_path_factory, environment_cache) -> Path:
    return blender_wrote(RIG_SCRIPT, tmp_path_factory.mktemp("rigged"), ("bender.glb", "bender.fbx", "still.glb"))


def write_catalog(folder: Path, entry: str, name: str = "catalog.yaml") -> Path:
    """A catalog of one category, ``bender``, whose one asset is ``entry`` (YAML lines after ``- ``)."""
    path = folder / name
    path.write_text("categories: [bender]\nassets:\n  - " + entry.replace("\n", "\n    ") + "\n")
    return path


def scenes_of(catalog: Path, out: Path, *overrides: str, sequences: range = range(1)) -> list[list]:
    """The scenes of each of ``sequences`` of a run of ``catalog`` with one object."""
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe

    s = check_dataset([f"objects.catalog={catalog}", "objects.count=[1,1]", f"output.dir={out}", *overrides])
    recipe, cat = load_recipe(s.scene.recipe), catalog_for(s)
    return [make_sequence_scenes(recipe, s, cat, k) for k in sequences]


def same(a, b) -> bool:
    """Whether ``a`` and ``b`` (dataclasses, lists, dicts, arrays, plain values) hold the same values."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def model_of(scene):
    (o,) = [o for o in scene.objects if o.category_id == 1]
    return o


# ------------------------------------------------------------------ the catalog entry (no Blender)


def test_a_rigged_entry_is_read_as_a_rigged_mesh_with_its_clips(tmp_path):
    from simgen.assets.catalog import load_catalog
    from simgen.scene.meshes import RiggedMesh, deforms

    (tmp_path / "walker.glb").write_bytes(b"not read here")  # the catalog reads no mesh
    (tmp_path / "walker.fbx").write_bytes(b"not read here")
    cat = load_catalog(write_catalog(tmp_path, "mesh: walker.glb\ncategory: bender\nscale: 0.5\nanimation: true\n"
                                              "clips: [walk, run]"))
    (a,) = cat.assets
    assert a.key == "bender/walker" and a.scale == 0.5
    assert a.path == RiggedMesh(tmp_path / "walker.glb", ("walk", "run")) and not deforms(a.path)
    drawn = a.path.at("walk", 7)
    assert deforms(drawn) and drawn.stem == "walker_walk_f7" and drawn.key_of(a.key) == "bender/walker_walk_f7"
    assert drawn.model_key("bender/walker_walk_f7") == a.key and drawn.clips == ("walk", "run")
    assert RiggedMesh(tmp_path / "walker.fbx").at(None, 3).stem == "walker_f3"  # an FBX's one animation
    fbx = load_catalog(write_catalog(tmp_path, "mesh: walker.fbx\ncategory: bender\nanimation: true")).assets[0]
    assert fbx.path == RiggedMesh(tmp_path / "walker.fbx")
    assert load_catalog(write_catalog(tmp_path, "mesh: walker.glb\ncategory: bender")).assets[0].path == \
        tmp_path / "walker.glb"  # without animation: true a glTF is a rigid mesh, as before


@pytest.mark.parametrize("entry, says", [
    ("mesh: walker.glb\ncategory: bender\nanimation: yes please",
     "'animation' of assets[0] in {catalog} must be true (a rigged glTF or FBX model: a clip and a frame drawn per "
     "scene) or false, got 'yes please'"),
    ("mesh: walker.glb\ncategory: bender\nclips: [walk]",
     "'clips' of assets[0] in {catalog} are a rigged model's animations; add animation: true or remove them"),
    ("mesh: walker.glb\ncategory: bender\nanimation: true\nclips: walk",
     "'clips' of assets[0] in {catalog} must be a list of the file's clip names (none twice), got 'walk'"),
    ("mesh: walker.obj\ncategory: bender\nanimation: true",
     "animation: true of assets[0] in {catalog} is for a rigged glTF or FBX model (.glb, .gltf, .fbx), and its mesh "
     "is walker.obj; remove animation: true or name the model's file"),
    ("mesh: walker.glb\ncategory: bender\nanimation: true\nsymmetries: {continuous: [{axis: [0, 0, 1]}]}",
     "'symmetries' of assets[0] in {catalog} cannot go with animation: true: a rigged model's surface bends (no "
     "fixed symmetries or keypoints; no joints to draw); remove it"),
    ("mesh: walker.fbx\ncategory: bender",
     "unsupported mesh file type '.fbx': {folder}/walker.fbx (listed in {catalog}); use one of .obj, .ply, .stl, "
     ".glb, .gltf, .off, .urdf, .xml, .mjcf (a rigged model: add animation: true to its entry)"),
])
def test_a_bad_rigged_entry_is_one_line(tmp_path, entry, says):
    from simgen.assets.catalog import load_catalog

    for name in ("walker.glb", "walker.obj", "walker.fbx"):
        (tmp_path / name).write_bytes(b"not read here")
    catalog = write_catalog(tmp_path, entry)
    with pytest.raises(SimgenError) as e:
        load_catalog(catalog)
    assert str(e.value) == says.format(catalog=catalog, folder=tmp_path)


# ------------------------------------------------------------------ the file and the draws (Blender reads it once)


def test_the_models_mesh_is_every_part_at_the_frame_in_the_files_world(rigged):
    """The mesh at a frame: the bar's vertices as the extraction has them at that frame and the knob
    where its bone carries it, one mesh in a fixed order (the same count at every frame); the rest
    pose is the file as read (the bar straight)."""
    from simgen.assets.environment import load_environment
    from simgen.assets.meshes import load_mesh
    from simgen.scene.meshes import RiggedMesh

    ref = RiggedMesh(rigged / "bender.glb")
    env = load_environment(ref.file)
    assert [p.name for p in env.parts] == ["bar", "knob"]
    rest = load_mesh(ref)
    assert np.allclose(rest.bounds, [[-0.1, -0.1, 0.0], [0.1, 0.1, 0.68]], atol=1e-6)  # straight, the knob on top
    for clip, frame in (("bend", 13), ("sway", 9)):
        m = load_mesh(ref.at(clip, frame))
        at = env.clip(clip).at(frame)
        bar, knob = at.parts
        n = len(at.meshes["bar"].vertices)
        assert m.vertices.shape == rest.vertices.shape and np.array_equal(m.faces, rest.faces)
        np.testing.assert_allclose(m.vertices[:n], at.meshes["bar"].vertices @ bar.matrix[:3, :3].T + bar.matrix[:3, 3])
        np.testing.assert_allclose(m.vertices[n:], at.meshes["knob"].vertices @ knob.matrix[:3, :3].T
                                   + knob.matrix[:3, 3])
        assert np.abs(m.vertices - rest.vertices).max() > 0.05  # it bends


def test_each_scene_draws_a_clip_and_a_frame_and_a_sequence_plays_them_on(rigged, tmp_path):
    """Every draw is a clip of the entry and a frame in its range; a sequence's steps are consecutive
    file frames of one clip (turning back at its ends), the asset key and models/ file following the
    frame, the pose and name kept. Both clips come up over sequences; a restricted entry draws only its own."""
    from simgen.assets.environment import load_environment

    ranges = {a.clip: a.frames for a in load_environment(rigged / "bender.glb").clips}
    assert ranges == {"bend": (1, 13), "sway": (1, 9)}
    catalog = write_catalog(rigged, "mesh: bender.glb\ncategory: bender\nscale: 0.8\nanimation: true", "all.yaml")
    drawn = []
    for scenes in scenes_of(catalog, tmp_path, "sequence.length=4", sequences=range(8)):
        steps = [model_of(s) for s in scenes]
        clip = steps[0].mesh.clip
        frames = [o.mesh.frame for o in steps]
        assert {o.mesh.clip for o in steps} == {clip} and clip in ranges
        assert all(ranges[clip][0] <= f <= ranges[clip][1] for f in frames)
        assert all(abs(a - b) == 1 for a, b in zip(frames, frames[1:])), frames
        assert [o.asset_id for o in steps] == [f"bender/bender_{clip}_f{f}" for f in frames]
        assert len({o.name for o in steps}) == 1 and all(np.array_equal(o.mesh_to_world, steps[0].mesh_to_world)
                                                         for o in steps)
        drawn.append((clip, frames[0]))
    assert {c for c, _ in drawn} == {"bend", "sway"} and len(set(drawn)) > 4
    only = write_catalog(rigged, "mesh: bender.glb\ncategory: bender\nanimation: true\nclips: [sway]", "sway.yaml")
    assert {model_of(scenes[0]).mesh.clip for scenes in scenes_of(only, tmp_path, sequences=range(6))} == {"sway"}
    (views,) = scenes_of(only, tmp_path, "scene.views=3")  # the views of a still scene: one frame
    assert len({model_of(s).mesh for s in views}) == 1 and model_of(views[0]).mesh.frame is not None


def test_an_fbx_plays_its_one_animation(rigged, tmp_path):
    """An FBX has one animation (no named clips): its draws have no clip, and its frames are the bent
    bar's as the file's extraction has them."""
    from simgen.assets.environment import load_environment
    from simgen.assets.meshes import load_mesh

    env = load_environment(rigged / "bender.fbx")
    lo, hi = env.animation.frames  # Blender's FBX importer may shift them by a frame
    assert env.clips == () and env.animation.deforming == ("bar",) and hi - lo == 12
    catalog = write_catalog(rigged, "mesh: bender.fbx\ncategory: bender\nanimation: true", "fbx.yaml")
    (steps,) = scenes_of(catalog, tmp_path, "sequence.length=3")
    refs = [model_of(s).mesh for s in steps]
    assert {r.clip for r in refs} == {None} and [abs(a.frame - b.frame) for a, b in zip(refs, refs[1:])] == [1, 1]
    assert model_of(steps[0]).asset_id == f"bender/bender_f{refs[0].frame}"
    at = env.at(hi)
    assert sorted(p.name for p in at.parts) == ["bar", "knob"]
    bent = load_mesh(refs[0].at(None, hi))
    np.testing.assert_allclose(bent.vertices, np.concatenate(  # the parts in the file's order (the FBX's: knob first)
        [at.meshes[p.mesh.key].vertices @ p.matrix[:3, :3].T + p.matrix[:3, 3] for p in at.parts]))
    assert bent.bounds[0, 2] < -0.04  # bent: the bottom ring turned


def outline(points: np.ndarray) -> np.ndarray:
    """The corners of the convex hull of 2D ``points``, counter-clockwise (Andrew's monotone chain)."""
    pts = sorted(map(tuple, np.round(points, 12)))

    def half(ps):
        out: list = []
        for q in ps:
            while len(out) > 1 and np.cross(np.subtract(out[-1], out[-2]), np.subtract(q, out[-2])) <= 0:
                out.pop()
            out.append(q)
        return out[:-1]

    return np.array(half(pts) + half(pts[::-1]))


def apart(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the convex polygons ``a`` and ``b`` (corners in order) are disjoint: some edge normal
    of either separates them (the separating axis theorem)."""
    for poly in (a, b):
        for p, q in zip(poly, np.roll(poly, -1, axis=0)):
            n = np.array([q[1] - p[1], p[0] - q[0]])
            if (a @ n).max() < (b @ n).min() or (b @ n).max() < (a @ n).min():
                return True
    return False


def test_the_recipe_places_the_drawn_pose_on_the_ground_apart_from_the_others(rigged, tmp_path):
    """The clip and frame are drawn when the recipe picks the model, so it is placed as it is rendered:
    at every drawn frame the posed model's lowest point lies on the ground (z = 0, within 1e-6 m), and
    no two models overlap (the outlines of their posed meshes seen from above are disjoint, so they
    cannot interpenetrate). The draws reach frames whose lowest point and outline differ from the
    rest pose's (the bent bar reaches 4.8 cm below it in its own units): placed by the rest pose,
    those would sink into the ground. In a sequence the first step's shape places it; the clip then
    moves it from there (the pose is kept)."""
    from simgen.assets.meshes import load_mesh

    catalog = write_catalog(rigged, "mesh: bender.glb\ncategory: bender\nscale: 0.8\nanimation: true", "all.yaml")
    sinks, wider, pairs = [], [], 0
    for scenes in scenes_of(catalog, tmp_path, "objects.count=[3,3]", "sequence.length=2", sequences=range(6)):
        models = [o for o in scenes[0].objects if o.category_id == 1]
        assert models and all(o.mesh.frame is not None for o in models)
        seen = []
        for o in models:
            world = lambda m: load_mesh(m).vertices @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3]  # noqa: E731
            posed, rest = world(o.mesh), world(dataclasses.replace(o.mesh, clip=None, frame=None))
            assert abs(posed[:, 2].min()) < 1e-6, (o.mesh, posed[:, 2].min())  # on the ground, as it is rendered
            sinks.append(rest[:, 2].min())  # where the rest pose would have its lowest point
            centre = lambda v: v[:, :2].min(axis=0) / 2 + v[:, :2].max(axis=0) / 2  # noqa: E731
            wider.append(np.linalg.norm(posed[:, :2] - centre(posed), axis=1).max()
                         - np.linalg.norm(rest[:, :2] - centre(rest), axis=1).max())
            seen.append(outline(posed[:, :2]))
        for i in range(len(seen)):
            for j in range(i):
                assert apart(seen[i], seen[j]), "two rigged models overlap as they are rendered"
                pairs += 1
        second = {o.instance_id: o for o in scenes[1].objects}
        assert all(np.array_equal(second[o.instance_id].mesh_to_world, o.mesh_to_world) for o in models)
    assert pairs >= 6
    assert max(sinks) > 0.01, "no drawn frame whose rest pose would float: nothing tested"
    assert max(wider) > 0.05, "no drawn frame that widens the outline: nothing tested"


@pytest.mark.render
@pytest.mark.slow  # one settled 64x48 frame: ~15 s on 2 cores
def test_physics_settles_the_drawn_pose_on_the_ground(rigged, tmp_path):
    """With scene.placement=physics the models fall and settle as the drawn frame's hull (the shape they
    are rendered in): each one's mesh of the frame (its models/ file, placed by the settled pose)
    reaches no deeper than 1e-4 m into the ground or another model and rests on something within
    1 mm (Bullet's contact margin), as test_physics checks rigid objects."""
    from groundtruth import resting_contacts
    from simgen.io.dataset.layout import read_frame
    from simgen.pipeline import run

    catalog = write_catalog(rigged, "mesh: bender.glb\ncategory: bender\nscale: 0.8\nanimation: true", "fall.yaml")
    out = tmp_path / "out"
    run(set_settings(tiny_settings(out, frames=1, width=64, height=48, samples=1, seed=5),
                     objects__catalog=str(catalog), objects__count=[3, 3], scene__placement="physics"))
    frame = read_frame(out, 0)
    meta = frame["meta"]
    assert meta["params"]["placement"]["settle"]["at_rest"], meta["params"]["placement"]["settle"]
    models = [o for o in meta["objects"] if o["category_id"] == 1]
    assert len(models) == 3 and all(o["deforms"] for o in models)
    bodies = {o["name"]: trimesh.load(out / o["mesh"], force="mesh").apply_transform(np.array(o["mesh_to_world"]))
              for o in models}
    boxes = {o["name"]: np.array(o["mesh_to_world"]) for o in meta["objects"] if o["name"].startswith(("table", "bin"))}
    for name, c in resting_contacts(bodies, boxes).items():
        assert c["penetration"] <= 1e-4, f"{name} reaches {c['penetration'] * 1000:.2f} mm into something"
        assert c["support_gap"] <= 1e-3, f"{name} floats {c['support_gap'] * 1000:.2f} mm above any support"
    # three instances of one model, each at its own frame, each rendered in its own: ids as the ray cast has them
    depth, ids = np.full(meta["width"] * meta["height"], np.inf), np.zeros(meta["width"] * meta["height"], int)
    for o in meta["objects"]:
        t = surface_hits(meta, trimesh.load(out / o["mesh"], force="mesh").apply_transform(
            np.array(o["mesh_to_world"])))[0]
        closer = t < depth
        depth[closer], ids[closer] = t[closer], o["instance_id"]
    ids = ids.reshape(frame["instance"].shape)
    assert len({m["mesh"] for m in models}) == 3 and all((ids == o["instance_id"]).sum() > 20 for o in models)
    assert (ids != frame["instance"]).sum() <= 2, "an instance is not rendered in its own frame's shape"


def test_a_posed_model_plays_on_with_no_draw_and_one_placed_with_no_frame_gets_one(rigged, tmp_path):
    """with_clips plays a model the recipe posed on from its frame, drawing nothing; a model a recipe
    placed itself straight from the catalog (no frame) gets a clip and a frame drawn after it (on a
    stream of its own) and is played on alike, its asset key following the frame."""
    from simgen.sampling.random import stream_rng
    from simgen.sampling.rigged import CLIP_STREAM, with_clips

    catalog = write_catalog(rigged, "mesh: bender.glb\ncategory: bender\nanimation: true", "all.yaml")
    (scenes,) = scenes_of(catalog, tmp_path, "sequence.length=3")
    first = model_of(scenes[0])

    def each_step(mesh, asset_id):
        return [dataclasses.replace(s, objects=[dataclasses.replace(o, mesh=mesh, asset_id=asset_id)
                                                if o.category_id == 1 else o for o in s.objects]) for s in scenes]

    assert same(with_clips(each_step(first.mesh, first.asset_id), 3, None), scenes)  # None: nothing is drawn
    bare = dataclasses.replace(first.mesh, clip=None, frame=None)
    drawn = [model_of(s) for s in with_clips(each_step(bare, "bender/bender"), 3, stream_rng(0, 0, CLIP_STREAM))]
    frames = [o.mesh.frame for o in drawn]
    assert len({o.mesh.clip for o in drawn}) == 1 and all(abs(a - b) == 1 for a, b in zip(frames, frames[1:]))
    assert [o.asset_id for o in drawn] == [f"bender/bender_{drawn[0].mesh.clip}_f{f}" for f in frames]


def test_a_file_that_moves_nothing_a_clip_it_lacks_and_a_part_that_changes_are_one_line(rigged, monkeypatch):
    from simgen.assets import environment
    from simgen.assets.catalog import load_catalog
    from simgen.assets.meshes import validate_catalog

    def refused(entry: str) -> str:
        with pytest.raises(SimgenError) as e:
            validate_catalog(load_catalog(write_catalog(rigged, entry, "bad.yaml")))
        assert "\n" not in str(e.value)
        return str(e.value)

    assert refused("mesh: still.glb\ncategory: bender\nanimation: true") == (
        f"{rigged / 'still.glb'}: its catalog entry says animation: true, and nothing moves in it (no armature, "
        "shape key or keyframe animated over its frames); export the file with its animation, or list it without "
        "animation: true")
    assert refused("mesh: bender.glb\ncategory: bender\nanimation: true\nclips: [bend, walk]") == (
        f"{rigged / 'bender.glb'}: no clip 'walk' in it (its clips: bend, sway); fix 'clips' of its catalog entry")
    env = environment.load_environment(rigged / "bender.glb")
    changing = dataclasses.replace(env, clips=(env.clips[0], dataclasses.replace(env.clips[1], changing=("bar",))))
    monkeypatch.setattr(environment, "load_environment", lambda file: changing)
    assert refused("mesh: bender.glb\ncategory: bender\nanimation: true") == (
        f"{rigged / 'bender.glb'}: part 'bar' changes its number of vertices in its clip 'sway' (a remesh, a boolean, "
        "a fracture), which no label can follow; remove it from the file or the clip from 'clips' of its catalog entry")


# ------------------------------------------------------------------ rendered: ids, depth, flow against Blender's export


@pytest.fixture(scope="module")
def played(rigged, tmp_path_factory) -> Path:
    """Three steps of a tabletop sequence with the rigged model as its one object, 96x72, 1 sample."""
    from simgen.pipeline import run

    catalog = write_catalog(rigged, "mesh: bender.glb\ncategory: bender\nscale: 0.8\nanimation: true", "play.yaml")
    out = tmp_path_factory.mktemp("played") / "out"
    run(set_settings(tiny_settings(out, frames=3, width=96, height=72, samples=1, seed=3),
                     objects__catalog=str(catalog), objects__count=[1, 1], sequence__length=3,
                     output__labels=["tracks", "amodal"], output__track_points=200, output__track_background=0.0))
    return out


@pytest.mark.render
@pytest.mark.slow  # a 3-step render and Blender's exports in a child: ~25 s on 2 cores
def test_a_played_rigged_models_ids_depth_flow_and_tracks_are_as_blender_exports_it(played, rigged, tmp_path):
    from simgen.io.dataset.layout import read_frame

    frames = [read_frame(played, i) for i in range(3)]
    entries = [model_of_meta(f["meta"]) for f in frames]
    steps = [(e["animation"]["clip"], e["animation"]["frame"]) for e in entries]
    assert all(e["deforms"] and e["mesh"] == f"models/bender/bender_{c}_f{k}.ply" for e, (c, k) in zip(entries, steps))
    assert len({c for c, _ in steps}) == 1 and [abs(a[1] - b[1]) for a, b in zip(steps, steps[1:])] == [1, 1]
    models = exported(rigged / "bender.glb", steps, tmp_path)
    world = [models[s].copy().apply_transform(np.array(e["mesh_to_world"])) for s, e in zip(steps, entries)]
    assert max(np.abs(w.vertices - world[0].vertices).max() for w in world) > 0.02, "hardly bent: nothing to test"
    iid = entries[0]["instance_id"]
    for f, w in zip(frames, world):  # ids and depth: the model as exported, everything else as the dataset's models
        meta = f["meta"]
        depth, ids = np.full(meta["width"] * meta["height"], np.inf), np.zeros(meta["width"] * meta["height"], int)
        for o in meta["objects"]:
            mesh = w if o["instance_id"] == iid else trimesh.load(played / o["mesh"], force="mesh").apply_transform(
                np.array(o["mesh_to_world"]))
            t = surface_hits(meta, mesh)[0]
            closer = t < depth
            depth[closer], ids[closer] = t[closer], o["instance_id"]
        ids, depth = ids.reshape(f["instance"].shape), depth.reshape(f["instance"].shape)
        on = (ids == iid) | (f["instance"] == iid)
        assert (ids == iid).sum() > 200, "the model barely in view: nothing to test"
        assert (f["instance"][on] != ids[on]).sum() <= 1, "the model is not where Blender's export has it"
        both = (ids == iid) & (f["instance"] == iid)
        assert (np.abs(f["depth"][both] - depth[both]) / depth[both]).max() < 1e-4
    errors = bending_flow_errors(played, [f["meta"] for f in frames], world, [f["instance"] for f in frames], iid,
                                 ((0, 1, "forward"), (1, 2, "forward"), (1, 0, "backward"), (2, 1, "backward")))
    for e in errors:
        assert e["valid_share"] > 0.9
        assert e["motion"] > 0.5, "the model barely moved in the image"
        assert e["epe"] < 0.01, e
    assert sum(e["valid"] for e in errors) > 500
    tracks = np.load(played / "tracks" / "000000.npz")  # each track on the model rides its triangle
    mine = np.flatnonzero(tracks["instance_id"] == iid)
    assert len(mine) > 100 and (tracks["triangle"][mine] >= 0).all()
    metas = [f["meta"] for f in frames]
    worst = max(float(np.linalg.norm(uv - tracks["uv"][n, step])) for n in mine for step, (uv, _) in
                enumerate(ridden_track(metas, world, int(tracks["query_step"][n]), tracks["query_uv"][n])))
    assert worst < 0.01, worst


GREEN = dict(materials__hue=[0.33, 0.33], materials__saturation=[0.9, 0.9], materials__value=[0.8, 0.8],
             materials__metallic_probability=0.0, materials__texture_probability=0.0)
"""Drawn materials all green (the ground's too), unlike either of the model's own."""


@pytest.mark.render
@pytest.mark.slow  # three one-frame renders: ~20 s on 2 cores
def test_a_rigged_model_renders_in_its_files_materials_unless_a_drawn_one_replaces_them(rigged, tmp_path):
    """The model keeps the materials its file gives it, as any catalog mesh with its own look
    (materials.own_*): the bar's pixels red and the knob's blue (each part's pixels found by a ray
    cast of the frame's models/ file: the bar's triangles come first), its own look recorded in the
    meta; the own-look jitter reaches them (own_hue=0.5 turns red to cyan); with
    materials.own_replace=1 it is drawn a material (all green here) like a mesh without one."""
    from simgen.assets.environment import load_environment
    from simgen.io.dataset.layout import read_frame
    from simgen.pipeline import run

    catalog = write_catalog(rigged, "mesh: bender.glb\ncategory: bender\nscale: 0.8\nanimation: true", "look.yaml")
    bar = len(load_environment(rigged / "bender.glb").meshes["bar"].faces)

    def looks(name: str, **more) -> tuple[dict, dict[str, np.ndarray]]:
        out = tmp_path / name
        run(set_settings(tiny_settings(out, frames=1, width=96, height=72, samples=4, seed=3),
                         objects__catalog=str(catalog), objects__count=[1, 1], **GREEN, **more))
        f = read_frame(out, 0)
        o = model_of_meta(f["meta"])
        mesh = trimesh.load(out / o["mesh"], force="mesh", process=False).apply_transform(np.array(o["mesh_to_world"]))
        _, tri, _ = surface_hits(f["meta"], mesh)
        tri, rgb = tri.reshape(f["instance"].shape), f["rgb"][..., :3].astype(float)
        on = f["instance"] == o["instance_id"]
        parts = {"bar": on & (tri >= 0) & (tri < bar), "knob": on & (tri >= bar)}
        assert all(m.sum() > 20 for m in parts.values()), {k: int(m.sum()) for k, m in parts.items()}
        return o["material"], {k: rgb[m].mean(axis=0) for k, m in parts.items()}

    def dominant(colour: np.ndarray) -> str:
        r, g, b = colour
        return "red" if r > 2 * max(g, b) else "green" if g > 2 * max(r, b) else "blue" if b > 2 * max(r, g) else \
            "cyan" if min(g, b) > 2 * r else "other"

    own, colours = looks("own")
    assert own["own"]["materials"] == ["bar_paint", "knob_paint"]
    assert {k: dominant(c) for k, c in colours.items()} == {"bar": "red", "knob": "blue"}, colours
    _, colours = looks("turned", materials__own_hue=[0.5, 0.5])
    assert dominant(colours["bar"]) == "cyan", colours
    drawn, colours = looks("drawn", materials__own_replace=1.0)
    assert "own" not in drawn or drawn["own"] is None
    assert {k: dominant(c) for k, c in colours.items()} == {"bar": "green", "knob": "green"}, colours


def model_of_meta(meta: dict) -> dict:
    (o,) = [o for o in meta["objects"] if o["category_id"] == 1]
    return o
