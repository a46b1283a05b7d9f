"""A scene file's animation over its own range, and a glTF's clips (issue 75, section 3).

One Blender run writes the files, each by Blender's own exporter from one scene: a cart and a door
keyframed (linear) over frames 1-24 in the action ``open``, and the cart alone over 1-10 in the
action ``slide``. The glTF holds both as animations (clips); the FBX and USD files hold ``open``;
a .blend holds ``open`` on NLA strips alone, with no active action. Blender's glTF and FBX
importers leave the scene at its default 1-250, so a range read from the scene would be wrong;
the poses at each frame are computed here from the keyframes the test wrote.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import blender_wrote, simgen_cli
from simgen import SimgenError

CART_X = (-0.5, 0.5)
"""The cart's x (m) at frames 1 and 24 of ``open`` (y 0, z 0.15)."""
DOOR_AT, DOOR_TURN = (1.0, 0.0, 0.5), 1.2
"""The door's place and its turn about z (rad) at frame 24 of ``open`` (0 at frame 1)."""
SLIDE_Y = 1.0
"""The cart's y (m) at frame 10 of ``slide`` (0 at frame 1; x stays -0.5)."""
SHEET_AT, CORNER, BULGE = (-1.5, -1.5, 0.3), (-0.1, -0.1, -0.1), (-0.3, -0.3, -0.3)
"""The sheet (a 0.2 m cube)'s place, and where ``slide``'s shape key takes its corner (local): from
CORNER at frame 1 to BULGE at frame 10."""

WRITE_SCRIPT = """
import sys, bpy
from pathlib import Path
folder = Path(sys.argv[1])
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.frame_start, scene.frame_end = 1, 24
def box(name, size, loc):
    h = size / 2
    me = bpy.data.meshes.new(name)
    me.from_pydata([(x, y, z) for x in (-h, h) for y in (-h, h) for z in (-h, h)], [],
                   [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)])
    ob = bpy.data.objects.new(name, me)
    scene.collection.objects.link(ob)
    ob.location = loc
    return ob
me = bpy.data.meshes.new("floor")
me.from_pydata([(-2, -2, 0), (2, -2, 0), (2, 2, 0), (-2, 2, 0)], [], [(0, 1, 2, 3)])
scene.collection.objects.link(bpy.data.objects.new("floor", me))
cart = box("cart", 0.3, (%(x0)r, 0.0, 0.15))
door = box("door", 0.2, %(door)r)
def linear(action):
    for layer in action.layers:
        for strip in layer.strips:
            for bag in strip.channelbags:
                for fc in bag.fcurves:
                    for k in fc.keyframe_points:
                        k.interpolation = "LINEAR"
opened = bpy.data.actions.new("open")  # one action, a slot for each object: one glTF animation
cart.animation_data_create().action = opened
door.animation_data_create().action = opened
for frame, x, turn in ((1, %(x0)r, 0.0), (24, %(x1)r, %(turn)r)):
    cart.location.x = x
    cart.keyframe_insert("location", frame=frame)
    door.rotation_euler.z = turn
    door.keyframe_insert("rotation_euler", frame=frame)
slide = bpy.data.actions.new("slide")
cart.animation_data.action = slide
cart.location = (%(x0)r, 0.0, 0.15)
for frame, y in ((1, 0.0), (10, %(y1)r)):
    cart.location.y = y
    cart.keyframe_insert("location", frame=frame)
sheet = box("sheet", 0.2, %(sheet)r)  # slide also bends a sheet: a shape key's value keyframed
sheet.shape_key_add(name="Basis")
bulge = sheet.shape_key_add(name="bulge")
bulge.data[0].co = %(corner)r
keys = sheet.data.shape_keys
keys.animation_data_create().action = slide
for frame, value in ((1, 0.0), (10, 1.0)):
    bulge.value = value
    bulge.keyframe_insert("value", frame=frame)
linear(opened), linear(slide)
tracks = []
for ad in (cart.animation_data, keys.animation_data):  # the exporter writes an action an NLA track holds
    slot = ad.action_slot
    ad.action = None
    tracks.append(ad.nla_tracks.new())
    tracks[-1].name = "slide"
    tracks[-1].strips.new("slide", 1, slide).action_slot = slot
cart.animation_data.action = opened
cart.animation_data.action_slot = opened.slots["OBcart"]
scene.frame_set(1)
bpy.ops.export_scene.gltf(filepath=str(folder / "anim.glb"), export_format="GLB")
opened.name = "all"  # the same file with its first clip named as simgen's every-clip name
bpy.ops.export_scene.gltf(filepath=str(folder / "anim_all.glb"), export_format="GLB")
opened.name = "open"
for track in tracks:
    track.mute = True
bpy.ops.export_scene.fbx(filepath=str(folder / "anim.fbx"), bake_anim=True, bake_anim_use_all_actions=False,
                         bake_anim_use_nla_strips=False)
bpy.ops.wm.usd_export(filepath=str(folder / "anim.usda"), export_animation=True)
cart.animation_data.nla_tracks.remove(tracks[0])
keys.animation_data.nla_tracks.remove(tracks[1])
for ob in (cart, door):  # open on NLA strips alone: no active action
    ad = ob.animation_data
    slot = ad.action_slot
    ad.action = None
    t = ad.nla_tracks.new()
    t.name = "open"
    s = t.strips.new("open", 1, opened)
    s.action_slot = opened.slots[slot.identifier]
scene.frame_set(1)
bpy.ops.wm.save_as_mainfile(filepath=str(folder / "nla.blend"))
""" % {"x0": CART_X[0], "x1": CART_X[1], "door": DOOR_AT, "turn": DOOR_TURN, "y1": SLIDE_Y, "sheet": SHEET_AT,
       "corner": BULGE}


def translation(x: float, y: float, z: float, turn: float = 0.0) -> np.ndarray:
    m = np.eye(4)
    c, s = np.cos(turn), np.sin(turn)
    m[:2, :2] = [[c, -s], [s, c]]
    m[:3, 3] = x, y, z
    return m


def cart_open(frame: float) -> np.ndarray:
    t = (frame - 1) / 23
    return translation(CART_X[0] + t * (CART_X[1] - CART_X[0]), 0.0, 0.15)


def door_open(frame: float) -> np.ndarray:
    return translation(*DOOR_AT, turn=DOOR_TURN * (frame - 1) / 23)


def cart_slide(frame: float) -> np.ndarray:
    return translation(CART_X[0], SLIDE_Y * (frame - 1) / 9, 0.15)


@pytest.fixture(scope="module")
def files(tmp_path_factory, environment_cache) -> Path:
    return blender_wrote(WRITE_SCRIPT, tmp_path_factory.mktemp("clips"),
                         ("anim.glb", "anim_all.glb", "anim.fbx", "anim.usda", "nla.blend"))


def gltf_animations(path: Path) -> list[str]:
    """The names of a .glb's animations, in the file's order (its JSON chunk)."""
    data = path.read_bytes()
    size = struct.unpack("<I", data[12:16])[0]
    return [a["name"] for a in json.loads(data[20:20 + size])["animations"]]


def check_open(env, frames=range(1, 25), shift: int = 0) -> None:
    """``env``'s animation is ``open`` over its 24 frames, ``shift`` frames later than it was written."""
    a = env.animation
    assert a.frames == (1 + shift, 24 + shift)
    for f in frames:
        at = {p.name: p.matrix for p in env.at(f + shift).parts}
        np.testing.assert_allclose(at["cart"], cart_open(f), atol=1e-5)
        np.testing.assert_allclose(at["door"], door_open(f), atol=1e-5)


def test_a_gltfs_clips_are_read_each_over_its_own_range(files):
    from simgen.assets.environment import load_environment

    env = load_environment(files / "anim.glb")
    assert sorted(gltf_animations(files / "anim.glb")) == ["open", "slide"]
    first = gltf_animations(files / "anim.glb")[0]
    assert [a.clip for a in env.clips][0] == first and sorted(a.clip for a in env.clips) == ["open", "slide"]
    assert env.animation.clip == first  # the importer's default: the file's first animation
    opened = env.clip("open")
    assert opened.animation.clip == "open" and sorted(opened.animation.matrices) == ["cart", "door"]
    check_open(opened)  # 1-24: the keyframes', not the 1-250 the importer leaves the scene at
    slide = env.clip("slide")
    assert slide.animation.frames == (1, 10) and sorted(slide.animation.matrices) == ["cart"]
    for f in range(1, 11):
        at = {p.name: p.matrix for p in slide.at(f).parts}
        np.testing.assert_allclose(at["cart"], cart_slide(f), atol=1e-5)
        np.testing.assert_allclose(at["door"], door_open(1), atol=1e-5)  # slide leaves the door as imported
    with pytest.raises(SimgenError, match=r"outside its animation's range 1\.\.10"):
        slide.at(11)
    with pytest.raises(SimgenError, match=r"^scene\.animation_clip=walk: .*anim\.glb has no animation of that "
                                          r"name; its clips: (open, slide|slide, open), all \(every clip at once\)$"):
        env.clip("walk")


def test_all_of_a_gltfs_clips_play_at_once(files):
    """scene.animation_clip=all: every clip at once, as Blender's NLA mixes them, over the range of
    them all; a part one clip moves as that clip moves it (the door: open; the sheet's shape key:
    slide). It is no clip of the file's (a catalog draws from env.clips)."""
    from simgen.assets.environment import load_environment

    env = load_environment(files / "anim.glb")
    assert "all" not in [a.clip for a in env.clips]
    both = env.clip("all")
    a = both.animation
    assert a.clip == "all" and a.frames == (1, 24) and a.deforming == ("sheet",)
    assert sorted(a.matrices) == ["cart", "door"]
    for f in (1, 12, 24):
        np.testing.assert_allclose({p.name: p.matrix for p in both.at(f).parts}["door"], door_open(f), atol=1e-5)
    for f in (1, 5, 10):
        np.testing.assert_allclose(both.animation.shape("sheet", f), env.clip("slide").animation.shape("sheet", f),
                                   atol=1e-6)


def test_a_files_own_clip_named_all_plays_as_its_own(files):
    """A glTF whose own clip is named ``all`` keeps it: scene.animation_clip=all plays that clip
    (``open``'s keyframes under that name), not every clip at once, and it is one of its clips."""
    from simgen.assets.environment import load_environment

    env = load_environment(files / "anim_all.glb")
    assert sorted(gltf_animations(files / "anim_all.glb")) == ["all", "slide"]
    assert sorted(a.clip for a in env.clips) == ["all", "slide"] and env.combined is None
    own = env.clip("all")
    assert sorted(own.animation.matrices) == ["cart", "door"] and own.animation.deforming == ()
    check_open(own)


def test_a_clip_that_moves_nothing_is_refused_naming_those_that_move(files, tmp_path):
    import dataclasses
    from types import SimpleNamespace

    from scenes.environment import animation_frames
    from simgen.assets.environment import load_environment

    env = load_environment(files / "anim.glb")
    still = dataclasses.replace(env.clips[0], matrices={}, deforming=())
    env = dataclasses.replace(env, animation=None, clips=(still, *env.clips[1:]))
    with pytest.raises(SimgenError) as e:
        animation_frames(SimpleNamespace(animation="play", animation_clip=None), env, np.random.default_rng(0), 3)
    msg = str(e.value)
    assert "\n" not in msg and f"clip {still.clip} of" in msg and f"{still.clip} (moves nothing)" in msg
    assert "all (every clip at once)" in msg and "scene.animation_clip" in msg


def test_fbx_and_usd_play_over_their_own_range(files):
    """FBX: its actions' keyframes (the importer leaves the scene at 1-250); Blender's FBX exporter
    writes frame f at time f / fps and its importer adds its animation offset (1 frame), so the 24
    frames come back as 2-25. USD: the stage's start and end time codes."""
    from simgen.assets.environment import load_environment

    for name, shift in (("anim.fbx", 1), ("anim.usda", 0)):
        env = load_environment(files / name)
        assert env.clips == ()
        check_open(env, frames=(1, 9, 24), shift=shift)
    stage = (files / "anim.usda").read_text()
    assert "startTimeCode = 1" in stage and "endTimeCode = 24" in stage
    with pytest.raises(SimgenError, match=r"scene\.animation_clip=open: .*anim\.fbx has no named animations"):
        load_environment(files / "anim.fbx").clip("open")


def test_a_blend_animated_by_nla_strips_alone_moves(files):
    from simgen.assets.environment import load_environment

    env = load_environment(files / "nla.blend")
    assert env.animation is not None and env.clips == ()
    check_open(env)


def _scenes(overrides: list[str], sequence: int = 0):
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe

    s = check_dataset(overrides)
    return make_sequence_scenes(load_recipe(s.scene.recipe), s, catalog_for(s), sequence)


def test_a_second_clip_is_drawn_over_its_range_and_a_wrong_name_lists_the_clips(files, tmp_path):
    base = ["scene=environment", f"scene.file={files / 'anim.glb'}", "scene.supports=[floor]", "objects.count=[1,1]",
            f"output.dir={tmp_path / 'out'}"]
    seen = set()
    for k in range(6):
        (scene,) = _scenes([*base, "scene.animation=draw", "scene.animation_clip=slide"], k)
        a = scene.params["animation"]
        assert a["clip"] == "slide" and a["frames"] == [1, 10] and 1 <= a["frame"] <= 10
        cart = next(o for o in scene.objects if o.name == "env_cart")
        np.testing.assert_allclose(cart.mesh_to_world, cart_slide(a["frame"]), atol=1e-5)
        seen.add(a["frame"])
    assert len(seen) > 1
    with pytest.raises(SimgenError, match=r"scene\.animation_clip=walk: .* its clips: (open, slide|slide, open), all \(every clip at once\)$"):
        _scenes([*base, "scene.animation=draw", "scene.animation_clip=walk"])


@pytest.fixture(scope="module")
def drawn(tmp_path_factory, files) -> Path:
    out = tmp_path_factory.mktemp("drawn") / "out"
    r = simgen_cli("scene=environment", f"scene.file={files / 'anim.glb'}", "scene.animation=draw",
                   "scene.supports=[floor]", "objects.count=[1,1]", "frames=8", "seed=3", "render.width=32",
                   "render.height=24", "render.samples=1", f"output.dir={out}", cwd=out.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.mark.render  # eight 32x24 frames in the served process: ~7 s on 2 cores
def test_a_24_frame_gltf_is_drawn_inside_its_range_and_the_meta_records_the_clip(drawn, files):
    """The issue's command, no clip named: the file's first clip (open, 1-24) plays, and every drawn
    file frame lies in 1-24 (the importer's 1-250 drew 7 of 8 after the animation's end), the parts
    where the keyframes put them there."""
    from simgen.io.dataset.layout import read_frame

    assert gltf_animations(files / "anim.glb")[0] == "open"

    frames = []
    for i in range(8):
        meta = read_frame(drawn, i)["meta"]
        a = meta["params"]["animation"]
        assert a["mode"] == "draw" and a["clip"] == "open" and a["frames"] == [1, 24]
        assert 1 <= a["frame"] <= 24
        by_name = {o["name"]: o for o in meta["objects"]}
        np.testing.assert_allclose(by_name["env_cart"]["mesh_to_world"], cart_open(a["frame"]), atol=1e-5)
        np.testing.assert_allclose(by_name["env_door"]["mesh_to_world"], door_open(a["frame"]), atol=1e-5)
        frames.append(a["frame"])
    assert len(set(frames)) > 3


def test_a_part_a_second_clip_deforms_is_read_at_that_clips_frames(files, tmp_path):
    """The sheet bends in ``slide`` only: its vertices at each of that clip's frames are the shape
    key's mix the test keyframed, and a scene drawn in that clip names the clip in its mesh, which
    leads to those vertices (what the renderer reads for a deforming part)."""
    from simgen.assets.environment import environment_mesh, load_environment

    env = load_environment(files / "anim.glb")
    assert env.animation.clip == "open" and env.animation.deforming == ()
    slide = env.clip("slide")
    assert slide.animation.deforming == ("sheet",)
    rest = slide.at(1).meshes["sheet"].vertices
    corner = np.all(np.abs(rest - CORNER) < 1e-6, axis=1)
    assert corner.any() and not corner.all()

    def bent(frame: int) -> np.ndarray:
        v = rest.copy()
        v[corner] = np.add(CORNER, (frame - 1) / 9 * np.subtract(BULGE, CORNER))
        return v

    for f in (1, 4, 10):
        np.testing.assert_allclose(slide.at(f).meshes["sheet"].vertices, bent(f), atol=1e-5)
    frames = set()
    for k in range(3):
        (scene,) = _scenes(["scene=environment", f"scene.file={files / 'anim.glb'}", "scene.supports=[floor]",
                            "objects.count=[1,1]", "scene.animation=draw", "scene.animation_clip=slide",
                            f"output.dir={tmp_path / 'out'}"], k)
        frame = scene.params["animation"]["frame"]
        sheet = next(o for o in scene.objects if o.name == "env_sheet")
        assert sheet.mesh.clip == "slide" and sheet.mesh.frame == frame
        np.testing.assert_allclose(environment_mesh(sheet.mesh).vertices, bent(frame), atol=1e-5)
        frames.add(frame)
    assert max(frames) > 1  # bent, not at rest


@pytest.mark.render  # two 32x24 frames in the served process: ~4 s on 2 cores
def test_a_run_in_a_second_clip_renders_and_writes_that_clips_bent_part(files, tmp_path):
    """A run with scene.animation_clip=slide renders (the renderer builds the sheet from the clip its
    mesh names) and writes the sheet's model as that clip bends it at the frame drawn."""
    import trimesh

    from simgen.io.dataset.layout import read_frame

    out = tmp_path / "out"
    r = simgen_cli("scene=environment", f"scene.file={files / 'anim.glb'}", "scene.animation=draw",
                   "scene.animation_clip=slide", "scene.supports=[floor]", "objects.count=[1,1]", "frames=2", "seed=4",
                   "render.width=32", "render.height=24", "render.samples=1", f"output.dir={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    for i in range(2):
        meta = read_frame(out, i)["meta"]
        a = meta["params"]["animation"]
        assert a["clip"] == "slide" and a["frames"] == [1, 10] and 1 <= a["frame"] <= 10
        sheet = next(o for o in meta["objects"] if o["name"] == "env_sheet")
        assert sheet["mesh"] == f"models/stuff/anim_sheet_slide_f{a['frame']}.ply"
        v = trimesh.load(out / sheet["mesh"], force="mesh", process=False).vertices
        t = (a["frame"] - 1) / 9
        corner = np.add(CORNER, t * np.subtract(BULGE, CORNER))
        assert np.linalg.norm(v - corner, axis=1).min() < 1e-5  # the bent corner where the clip has it
        assert t == 0 or np.linalg.norm(v - CORNER, axis=1).min() > 1e-3  # and not at rest
