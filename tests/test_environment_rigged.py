"""Rigged files (issue 76's first step): a floor and a bar that a two-bone armature bends, written by
Blender's own glTF and FBX exporters, are read, drawn at a frame of their animation and labelled as
Blender's own OBJ exporter has the bent bar there (a second path: Blender's importer with its
defaults, then its exporter, modifiers applied; tests/test_environment_animation.py's helpers);
played, every step's flow on the bar follows its surface points (each hit's barycentric position on
its triangle of the export at one step, moved to the export at the next). A floor bound to the armature as well (as
Blender's Parent > With Automatic Weights binds every selected mesh) tilts with the bones, and a
drawn frame without a level area then says so, naming the floor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import trimesh

from conftest import blender_wrote, simgen_cli
from groundtruth import bending_flow_errors, ridden_track, two_bone_bar
from simgen import SimgenError
from test_environment_animation import exported_bar, raycast

RIG_SCRIPT = """
import sys, bpy
from pathlib import Path
folder = Path(sys.argv[1])
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.frame_start, scene.frame_end = 1, 13
me = bpy.data.meshes.new("floor")
me.from_pydata([(-2, -2, 0), (2, -2, 0), (2, 2, 0), (-2, 2, 0)], [], [(0, 1, 2, 3)])
floor = bpy.data.objects.new("floor", me)
scene.collection.objects.link(floor)
rig = bpy.data.objects.new("rig", bpy.data.armatures.new("rig"))
scene.collection.objects.link(rig)
rig.location = (0.0, 0.2, 0.02)
""" + two_bone_bar(0.12) + """for name, turn in (("lower", 0.5), ("upper", 0.9)):
    pose = rig.pose.bones[name]
    pose.rotation_mode = "XYZ"
    for frame, t in ((1, 0.0), (13, turn)):
        pose.rotation_euler = (t, 0.0, 0.0)
        pose.keyframe_insert("rotation_euler", frame=frame)
data = bpy.data.cameras.new("lens")
data.lens, data.sensor_width = 20.0, 36.0
cam = bpy.data.objects.new("Camera", data)
scene.collection.objects.link(cam)
cam.location = (0.0, 0.3, 2.6)
scene.frame_set(1)
bpy.ops.wm.save_as_mainfile(filepath=str(folder / "rig.blend"))
bpy.ops.export_scene.gltf(filepath=str(folder / "rig.glb"), export_format="GLB", export_cameras=True)
bpy.ops.export_scene.fbx(filepath=str(folder / "rig.fbx"), bake_anim=True)
# the floor bound too: parented to the armature, every corner weighted 1.0 to the lower bone (what
# Parent > With Automatic Weights gives it when it is selected with the bar)
floor.parent = rig
floor.matrix_parent_inverse = rig.matrix_world.inverted()
floor.vertex_groups.new(name="lower").add([0, 1, 2, 3], 1.0, "REPLACE")
floor.modifiers.new("skin", "ARMATURE").object = rig
bpy.ops.wm.save_as_mainfile(filepath=str(folder / "bound.blend"))
"""


@pytest.fixture(scope="module")
def rigged(tmp_path_factory, environment_cache) -> Path:
    return blender_wrote(RIG_SCRIPT, tmp_path_factory.mktemp("rigged"),
                         ("rig.blend", "rig.glb", "rig.fbx", "bound.blend"))


def _scenes(overrides: list[str], sequence: int = 0):
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe

    s = check_dataset(overrides)
    return make_sequence_scenes(load_recipe(s.scene.recipe), s, catalog_for(s), sequence)


def test_rigged_gltf_and_fbx_are_read_and_played_the_bent_bar_takes_each_steps_shape(rigged, tmp_path):
    """Blender's glTF importer made bone display shapes through the context's object, and its FBX
    importer put the armature in edit mode through the context's active object: both None under
    the scene simgen imports into, so neither file could be read. Played, each step's scene holds
    the bar at its own frame (it was refused: flow followed rigid parts only)."""
    from simgen.assets.environment import load_environment

    for name in ("rig.glb", "rig.fbx"):
        env = load_environment(rigged / name)
        assert sorted(p.name for p in env.parts) == ["bar", "floor"]  # no bone shape (an Icosphere) among them
        a = env.animation
        assert a.deforming == ("bar",) and a.matrices == {} and a.changing == ()
        assert a.frames[1] - a.frames[0] >= 12
        top = [env.at(f).meshes["bar"].vertices[-4:] for f in a.frames]
        assert np.abs(top[1] - top[0]).max() > 0.2  # it bends
        scenes = _scenes(["scene=environment", f"scene.file={rigged / name}", "scene.animation=play",
                          "objects.count=[1,1]", "sequence.length=3", f"output.dir={tmp_path / 'out'}"])
        frames = [sc.params["animation"]["frame"] for sc in scenes]
        bars = [next(o.mesh for o in sc.objects if o.name == "env_bar") for sc in scenes]
        assert [b.frame for b in bars] == frames and len(set(frames)) == 3


def test_a_floor_the_armature_tilts_is_named_when_a_drawn_frame_has_no_level_area(rigged, tmp_path):
    from simgen.assets.environment import load_environment

    blend = rigged / "bound.blend"
    env = load_environment(blend)
    assert env.animation.deforming == ("bar", "floor")
    corners = [env.at(f).meshes["floor"].vertices for f in (1, 13)]
    assert np.ptp(corners[0][:, 2]) < 1e-6 and np.ptp(corners[1][:, 2]) > 0.5  # level as saved, tilted at 13
    base = ["scene=environment", f"scene.file={blend}", "objects.count=[1,1]", f"output.dir={tmp_path / 'out'}"]
    _scenes([*base, "scene.animation=still"])  # as saved, the floor is level
    with pytest.raises(SimgenError) as e:
        for k in range(4):  # a drawn frame past the first: the floor tilted
            _scenes([*base, "scene.animation=draw"], k)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("scene.animation=draw: no level, upward-facing area of at least "
                              "scene.min_support_area=0.02 m^2 on any part of ")
    assert "(there is at the frame it was saved at, 1): the file's animation moves or deforms parts 'floor'" in message


@pytest.fixture(scope="module")
def drawn(tmp_path_factory, rigged) -> dict[str, Path]:
    """One frame of each file drawn at a frame of its animation, 64x48, 1 sample, no scene.supports."""
    outs = {}
    for name in ("rig.glb", "rig.fbx"):
        out = tmp_path_factory.mktemp("drawn") / "out"
        r = simgen_cli("scene=environment", f"scene.file={rigged / name}", "scene.animation=draw",
                       "scene.cameras=[Camera]", "objects.count=[1,1]", "frames=1", "seed=8", "render.width=64",
                       "render.height=48", "render.samples=1", f"output.dir={out}", cwd=out.parent)
        assert r.returncode == 0, r.stderr[-3000:]
        outs[name] = out
    return outs


@pytest.mark.render
@pytest.mark.slow  # two files' frames and four exports by Blender: ~15 s on 2 cores
@pytest.mark.parametrize("name", ["rig.glb", "rig.fbx"])
def test_a_rigged_files_bent_bar_at_a_drawn_frame_is_labelled_as_blender_exports_it(drawn, rigged, name, tmp_path):
    from simgen.io.dataset.layout import read_frame

    f = read_frame(drawn[name], 0)
    meta = f["meta"]
    frame = meta["params"]["animation"]["frame"]
    bent = exported_bar(rigged / name, frame, tmp_path / "bent.obj")
    rest = exported_bar(rigged / name, meta["params"]["animation"]["frames"][0], tmp_path / "rest.obj")
    assert frame == 12 and np.abs(bent.vertices - rest.vertices).max() > 0.3, "hardly bent: nothing to test"
    ids = raycast(drawn[name], meta, frame, bent)["ids"]
    bar_id = next(o["instance_id"] for o in meta["objects"] if o["name"] == "env_bar")
    assert (ids == bar_id).sum() > 15, "the bar barely in view: nothing to test"
    assert (f["instance"].astype(np.int64) == ids).mean() > 0.99
    bar_pixels = (ids == bar_id) | (f["instance"] == bar_id)
    assert (f["instance"][bar_pixels] != ids[bar_pixels]).sum() <= 1, "the bar is not where Blender's export has it"


@pytest.fixture(scope="module")
def played(tmp_path_factory, rigged) -> dict[str, Path]:
    """Three steps of each file played, 96x72, 1 sample."""
    outs = {}
    for name in ("rig.glb", "rig.fbx"):
        out = tmp_path_factory.mktemp("played") / "out"
        r = simgen_cli("scene=environment", f"scene.file={rigged / name}", "scene.animation=play",
                       "scene.cameras=[Camera]", "objects.count=[1,1]", "sequence.length=3", "frames=3", "seed=3",
                       "render.width=96", "render.height=72", "render.samples=1", "output.labels=[tracks,amodal]",
                       "output.track_points=400", "output.track_background=0.8", f"output.dir={out}", cwd=out.parent)
        assert r.returncode == 0, r.stderr[-3000:]
        outs[name] = out
    return outs


@pytest.mark.render
@pytest.mark.slow  # two files' 3-step sequences and six exports by Blender: ~40 s on 2 cores
@pytest.mark.parametrize("name", ["rig.glb", "rig.fbx"])
def test_a_played_bent_bars_flow_follows_its_surface_points_as_blender_exports_them(played, rigged, name, tmp_path):
    from simgen.io.dataset.layout import read_frame

    root = played[name]
    frames = [read_frame(root, i) for i in range(3)]
    steps = [f["meta"]["params"]["animation"]["frame"] for f in frames]
    bars = [exported_bar(rigged / name, step, tmp_path / f"bar{step}.obj") for step in steps]
    bar_id = next(o["instance_id"] for o in frames[0]["meta"]["objects"] if o["name"] == "env_bar")
    assert all(next(o for o in f["meta"]["objects"] if o["name"] == "env_bar").get("deforms") for f in frames)
    errors = bending_flow_errors(root, [f["meta"] for f in frames], bars, [f["instance"] for f in frames], bar_id,
                                 ((0, 1, "forward"), (1, 2, "forward"), (1, 0, "backward"), (2, 1, "backward")))
    for e in errors:
        assert e["met"] > 30, "the bar barely in view: nothing to test"
        assert e["valid_share"] > 0.9
        assert e["motion"] > 0.5, "the bar barely moved in the image"
        assert e["epe"] < 0.01, e
    assert sum(e["valid"] for e in errors) > 150


@pytest.mark.render
@pytest.mark.slow  # the played fixture's renders and six exports by Blender
@pytest.mark.parametrize("name", ["rig.glb", "rig.fbx"])
def test_tracks_on_the_played_bent_bar_ride_their_triangles_as_blender_exports_them(played, rigged, name, tmp_path):
    """Every track on the bar: its query pixel's ray met on Blender's export of the bar at the
    query step (triangle and barycentric coordinates by areas), that mix of the triangle's corners in
    the export at each step, projected: its uv within 0.01 px. Its visibility against a ray cast
    through that point of the image at each step (the bar as exported, the floor and the object as
    the dataset's models): in front of the camera, inside the image, facing it, and the first
    surface the ray meets within 1e-3 of the point's distance (where the surface is not seen at a
    grazing angle: there simgen decides by the frame's depth, simgen.labels.tracks)."""
    from simgen.io.dataset.layout import read_frame

    root = played[name]
    frames = [read_frame(root, i)["meta"] for i in range(3)]
    steps = [m["params"]["animation"]["frame"] for m in frames]
    bars = [exported_bar(rigged / name, step, tmp_path / f"bar{step}.obj") for step in steps]
    tracks = np.load(root / "tracks" / "000000.npz")
    bar_id = next(o["instance_id"] for o in frames[0]["objects"] if o["name"] == "env_bar")
    on_bar = np.flatnonzero(tracks["instance_id"] == bar_id)
    assert len(on_bar) >= 20, "too few tracks on the bar"
    assert (tracks["triangle"][on_bar] >= 0).all() and (tracks["triangle"][tracks["instance_id"] != bar_id] == -1).all()
    others = [trimesh.load(root / o["mesh"], force="mesh").apply_transform(np.array(o["mesh_to_world"]))
              for o in frames[0]["objects"] if o["name"] not in ("env_bar", "env_floor")]
    floor = trimesh.Trimesh([(-2, -2, 0), (2, -2, 0), (2, 2, 0), (-2, 2, 0)], [(0, 1, 2), (0, 2, 3)])
    agree = total = 0
    for k in on_bar:
        for step, (uv, seen) in enumerate(ridden_track(frames, bars, int(tracks["query_step"][k]), tracks["query_uv"][k],
                                                       lambda step: [floor, *others])):
            assert np.abs(uv - tracks["uv"][k, step]).max() < 0.01, (k, step)
            if seen is not None:
                agree += seen == bool(tracks["visible"][k, step])
                total += 1
    assert total > 200 and agree / total >= 0.99, (agree, total)
