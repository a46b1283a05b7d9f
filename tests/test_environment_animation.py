"""A scene file's own animation: a cart keyframed across a floor (and a flag parented to it) plays
in a sequence, and every label follows it; a part that deforms is refused.

The ground truth is the keyframes themselves: the test writes them (linear interpolation of the
cart's location and of its turn about z between frame 1 and frame 13), so the cart's pose at any
frame is computed here without Blender; the boxes are the test's own, ray cast through every pixel
centre (tests/groundtruth.py), and each hit point on the cart moved with the cart to the next step.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from conftest import simgen_cli
from groundtruth import exported_meshes, incidence_cos, intersect, pixel_centre_rays
from simgen import SimgenError

START, END = (-0.5, 0.6, 0.15), (0.5, 0.6, 0.15)
TURN = 0.6
"""The cart's location at frame 1 and at frame 13 (m) and its turn about z at frame 13 (rad; 0 at 1)."""
CART, FLAG, FLAG_AT = 0.3, 0.1, (0.0, 0.0, 0.25)
"""The cart's and the flag's cube sizes (m) and the flag's place in the cart's frame."""

BLEND_SCRIPT = """
import sys, bpy
out, deform, skin = sys.argv[1], sys.argv[2] == "deform", sys.argv[2] == "skin"
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.frame_start, scene.frame_end = 1, 13
def cube(name, size):
    h = size / 2
    me = bpy.data.meshes.new(name)
    me.from_pydata([(x, y, z) for x in (-h, h) for y in (-h, h) for z in (-h, h)], [],
                   [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)])
    ob = bpy.data.objects.new(name, me)
    scene.collection.objects.link(ob)
    return ob
me = bpy.data.meshes.new("floor")
me.from_pydata([(-2, -2, 0), (2, -2, 0), (2, 2, 0), (-2, 2, 0)], [], [(0, 1, 2, 3)])
floor = bpy.data.objects.new("floor", me)
scene.collection.objects.link(floor)
cart = cube("cart", %(cart)r)
for frame, loc, turn in ((1, %(start)r, 0.0), (13, %(end)r, %(turn)r)):
    cart.location, cart.rotation_euler = loc, (0.0, 0.0, turn)
    cart.keyframe_insert("location", frame=frame)
    cart.keyframe_insert("rotation_euler", frame=frame)
for fc in cart.animation_data.action.fcurves if hasattr(cart.animation_data.action, "fcurves") else []:
    for k in fc.keyframe_points:
        k.interpolation = "LINEAR"
if not hasattr(cart.animation_data.action, "fcurves"):  # Blender 5: layered actions
    for layer in cart.animation_data.action.layers:
        for strip in layer.strips:
            for bag in strip.channelbags:
                for fc in bag.fcurves:
                    for k in fc.keyframe_points:
                        k.interpolation = "LINEAR"
flag = cube("flag", %(flag)r)
flag.parent, flag.location = cart, %(flag_at)r
stone = cube("stone", 0.1)  # a modifier that does not move: not a deforming part
stone.location = (1.2, -1.2, 0.05)
stone.modifiers.new("round", "BEVEL").width = 0.01
if deform:  # a sheet whose shape key is keyframed: its vertices move, not its object
    sheet = cube("sheet", 0.2)
    sheet.location = (0.0, -0.6, 0.3)
    sheet.shape_key_add(name="Basis")
    key = sheet.shape_key_add(name="bulge")
    key.data[0].co = (-0.3, -0.3, -0.3)
    key.value = 0.0
    key.keyframe_insert("value", frame=1)
    key.value = 1.0
    key.keyframe_insert("value", frame=13)
if skin:  # a bar skinned to a bone whose turn is keyframed: an armature deforms it
    rig = bpy.data.objects.new("rig", bpy.data.armatures.new("rig"))
    scene.collection.objects.link(rig)
    rig.location = (0.0, -0.5, 0.05)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    bone = rig.data.edit_bones.new("bone")
    bone.head, bone.tail = (0.0, 0.0, 0.0), (0.0, 0.0, 0.4)
    bpy.ops.object.mode_set(mode="OBJECT")
    rings = [z * 0.2 for z in range(5)]
    verts = [(x, y, z) for z in rings for x, y in ((-0.08, -0.08), (0.08, -0.08), (0.08, 0.08), (-0.08, 0.08))]
    faces = [(4 * k + i, 4 * k + (i + 1) %% 4, 4 * k + 4 + (i + 1) %% 4, 4 * k + 4 + i) for k in range(4) for i in range(4)]
    faces += [(3, 2, 1, 0), (16, 17, 18, 19)]
    me = bpy.data.meshes.new("bar")
    me.from_pydata(verts, [], faces)
    bar = bpy.data.objects.new("bar", me)
    scene.collection.objects.link(bar)
    bar.parent = rig
    group = bar.vertex_groups.new(name="bone")
    for k, z in enumerate(rings):
        group.add([4 * k + i for i in range(4)], min(1.0, z / 0.4), "REPLACE")
    bar.modifiers.new("skin", "ARMATURE").object = rig
    pose = rig.pose.bones["bone"]
    pose.rotation_mode = "XYZ"
    for frame, turn in ((1, 0.0), (13, 0.9)):
        pose.rotation_euler = (turn, 0.0, 0.0)
        pose.keyframe_insert("rotation_euler", frame=frame)
data = bpy.data.cameras.new("lens")
data.lens, data.sensor_width = 20.0, 36.0
cam = bpy.data.objects.new("Camera", data)
scene.collection.objects.link(cam)
cam.location, cam.rotation_euler = (0.0, 0.3, 2.6), (0.0, 0.0, 0.0)
scene.frame_set(1)
bpy.ops.wm.save_as_mainfile(filepath=out)
""" % {"cart": CART, "start": START, "end": END, "turn": TURN, "flag": FLAG, "flag_at": FLAG_AT}


def write_blend(path: Path, mode: str = "") -> Path:
    """The cart file; mode "deform" adds a sheet whose shape key is keyframed, "skin" a bar an
    armature's keyframed bone bends."""
    r = subprocess.run([sys.executable, "-c", BLEND_SCRIPT, str(path), mode], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and path.is_file(), r.stderr[-2000:]
    return path


def exported_bar(blend: Path, frame: int, out: Path) -> trimesh.Trimesh:
    """The bar at ``frame`` in world coordinates by a second path: Blender's own OBJ exporter, its
    modifiers (the armature) applied; ``blend`` a .blend, or a glTF or FBX file that Blender's own
    importer reads (groundtruth.exported_meshes; the OBJ goes into ``out``'s folder)."""
    return exported_meshes(blend, "bar", [frame], out.parent / out.stem)[frame]


def cart_at(frame: float) -> np.ndarray:
    """The cart's world matrix at ``frame``, from the keyframes the test wrote (linear)."""
    t = (frame - 1) / 12
    c, s = np.cos(TURN * t), np.sin(TURN * t)
    m = np.eye(4)
    m[:2, :2] = [[c, -s], [s, c]]
    m[:3, 3] = np.add(START, t * np.subtract(END, START))
    return m


def flag_at(frame: float) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = FLAG_AT
    return cart_at(frame) @ m


def cube(size: float) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=[size] * 3)


@pytest.fixture(scope="module")
def cache(environment_cache):
    return environment_cache


@pytest.fixture(scope="module")
def cart_file(tmp_path_factory) -> Path:
    return write_blend(tmp_path_factory.mktemp("anim") / "cart.blend")


def test_the_files_animation_is_read_as_its_keyframes_say(cart_file, cache):
    from simgen.assets.environment import load_environment

    env = load_environment(cart_file)
    a = env.animation
    assert a.frames == (1, 13) and a.current == 1 and a.deforming == ()
    assert sorted(a.matrices) == ["cart", "flag"]  # the floor and the bevelled stone do not move
    for f in range(1, 14):
        np.testing.assert_allclose(env.at(f).parts[[p.name for p in env.parts].index("cart")].matrix, cart_at(f),
                                   atol=1e-6)
        np.testing.assert_allclose(a.matrices["flag"][f - 1], flag_at(f), atol=1e-6)
    with pytest.raises(SimgenError, match=r"frame 14 is outside its animation's range 1\.\.13"):
        env.at(14)


def test_a_deforming_part_played_is_at_its_frame_each_step_and_a_still_file_is_refused_in_one_line(tmp_path, cache):
    from simgen.assets.environment import load_environment
    from simgen.cli.study import check_dataset
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe as get_recipe

    blend = write_blend(tmp_path / "sheet.blend", "deform")
    assert load_environment(blend).animation.deforming == ("sheet",)
    s = check_dataset(["scene=environment", f"scene.file={blend}", "scene.animation=play", "objects.count=[1,1]",
                       "sequence.length=2", f"output.dir={tmp_path / 'out'}"])
    scenes = make_sequence_scenes(get_recipe(s.scene.recipe), s, _catalog(s), 0)
    frames = [sc.params["animation"]["frame"] for sc in scenes]
    sheets = [next(o.mesh for o in sc.objects if o.name == "env_sheet") for sc in scenes]
    assert [m.frame for m in sheets] == frames and abs(frames[1] - frames[0]) == 1  # its shape at each step's frame
    s = check_dataset(["scene=environment", "scene.animation=draw", f"output.dir={tmp_path / 'out'}"])
    with pytest.raises(SimgenError, match=r"scene.animation=draw: nothing moves in .*room\.glb"):
        make_sequence_scenes(get_recipe(s.scene.recipe), s, _catalog(s), 0)


def _catalog(settings):
    from simgen.compose.settings import catalog_for

    return catalog_for(settings)


@pytest.fixture(scope="module")
def played(tmp_path_factory, cart_file, cache) -> Path:
    out = tmp_path_factory.mktemp("played") / "out"
    r = simgen_cli("scene=environment", f"scene.file={cart_file}", "scene.animation=play", "scene.cameras=[Camera]",
                   "scene.supports=[floor]", "objects.count=[1,1]", "sequence.length=3", "frames=3", "seed=5",
                   "render.width=96", "render.height=72", "render.samples=2", f"output.dir={out}", cwd=out.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def raycast(root: Path, meta: dict, frame: int, bar: trimesh.Trimesh | None = None) -> dict[str, np.ndarray]:
    """Instance ids, planar depth, normals and world hit points at every pixel centre: the floor,
    the cart and its flag where the keyframes put them at ``frame`` (``bar``: the skinned bar, in
    the world), the objects as the dataset's models."""
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    H, W = meta["height"], meta["width"]
    origin, dirs, _ = pixel_centre_rays(K, w2c, W, H)
    depth, ids, normal = np.full(H * W, np.inf), np.zeros(H * W, np.int64), np.zeros((H * W, 3))
    known = {"floor": trimesh.Trimesh([(-2, -2, 0), (2, -2, 0), (2, 2, 0), (-2, 2, 0)], [(0, 1, 2), (0, 2, 3)]),
             "cart": cube(CART).apply_transform(cart_at(frame)), "flag": cube(FLAG).apply_transform(flag_at(frame)),
             "bar": bar}
    for o in meta["objects"]:
        mesh = known.get(o["name"].removeprefix("env_"))
        if mesh is None:
            mesh = trimesh.load(root / o["mesh"], force="mesh").apply_transform(np.array(o["mesh_to_world"]))
        t, tri = intersect(origin, dirs, mesh.triangles)
        closer = t < depth
        depth[closer], ids[closer] = t[closer], o["instance_id"]
        normal[closer] = mesh.face_normals[tri[closer]] @ w2c[:3, :3].T
    points = origin + depth[:, None] * dirs
    return {"ids": ids.reshape(H, W), "depth": depth.reshape(H, W), "normal": normal.reshape(H, W, 3),
            "points": points.reshape(H, W, 3)}


@pytest.mark.render
@pytest.mark.slow  # a 3-step render in a Blender file: ~20 s on 2 cores
def test_a_played_animation_moves_the_parts_and_every_label_follows(played):
    from simgen.io.dataset.layout import read_frame
    from simgen.io.files import read_png

    frames = [read_frame(played, i) for i in range(3)]
    steps = [f["meta"]["params"]["animation"]["frame"] for f in frames]
    assert all(1 <= s <= 13 for s in steps) and all(abs(a - b) == 1 for a, b in zip(steps, steps[1:]))
    truths = []
    for f, step in zip(frames, steps):
        meta = f["meta"]
        by_name = {o["name"]: o for o in meta["objects"]}
        np.testing.assert_allclose(by_name["env_cart"]["mesh_to_world"], cart_at(step), atol=1e-6)
        np.testing.assert_allclose(by_name["env_flag"]["mesh_to_world"], flag_at(step), atol=1e-6)
        truth = raycast(played, meta, step)
        cart = by_name["env_cart"]["instance_id"]
        assert (truth["ids"] == cart).sum() > 30, "the cart barely in view: nothing to test"
        assert (f["instance"].astype(np.int64) == truth["ids"]).mean() > 0.999
        same = (f["instance"] == truth["ids"]) & (truth["ids"] == cart)
        facing = same & (incidence_cos(np.array(meta["K"]), truth["normal"]) > 0.1)
        rel = np.abs(f["depth"][facing] - truth["depth"][facing]) / truth["depth"][facing]
        assert rel.max() < 1e-5
        truths.append((truth, cart))
    for k in range(2):  # forward flow on the cart: its hit points moved with the keyframes to the next step
        (truth, cart), later = truths[k], frames[k + 1]["meta"]
        flow = np.load(played / "flow_forward" / f"{k:06d}.npy")
        valid = read_png(played / "flow_forward_valid" / f"{k:06d}.png") > 0
        motion = cart_at(steps[k + 1]) @ np.linalg.inv(cart_at(steps[k]))
        moved = truth["points"] @ motion[:3, :3].T + motion[:3, 3]
        K, w2c = np.array(later["K"]), np.array(later["world_to_camera"])
        cam = moved @ w2c[:3, :3].T + w2c[:3, 3]
        uv = (cam @ K.T)[..., :2] / cam[..., 2:]
        h, w = flow.shape[:2]
        u, v = np.meshgrid(np.arange(w, dtype=float), np.arange(h, dtype=float))
        on = valid & (truth["ids"] == cart) & (frames[k]["instance"] == cart)
        assert on.sum() > 20
        expected = uv - np.stack([u, v], axis=-1)
        assert np.linalg.norm(expected[on], axis=-1).max() > 0.5, "the cart barely moved in the image"
        assert np.linalg.norm(flow[on] - expected[on], axis=-1).max() < 0.01


@pytest.fixture(scope="module")
def skin_file(tmp_path_factory) -> Path:
    return write_blend(tmp_path_factory.mktemp("skin") / "skin.blend", "skin")


def test_a_skinned_parts_vertices_at_each_frame_are_blenders_own_export(skin_file, cache, tmp_path):
    from simgen.assets.environment import load_environment

    env = load_environment(skin_file)
    assert env.animation.deforming == ("bar",) and env.animation.changing == ()
    for frame in (1, 7, 13):
        at = env.at(frame)
        (part,) = [p for p in at.parts if p.name == "bar"]
        assert part.mesh.frame == frame
        ours = at.meshes["bar"].vertices @ part.matrix[:3, :3].T + part.matrix[:3, 3]
        theirs = exported_bar(skin_file, frame, tmp_path / f"bar{frame}.obj").vertices
        assert len(ours) == len(theirs)
        d = np.linalg.norm(ours[:, None] - theirs[None], axis=-1)
        assert d.min(axis=1).max() < 1e-5 and d.min(axis=0).max() < 1e-5  # the same points
    top = env.at(13).meshes["bar"].vertices[-4:]
    assert np.abs(top - env.at(1).meshes["bar"].vertices[-4:]).max() > 0.1  # it bent


@pytest.fixture(scope="module")
def drawn(tmp_path_factory, skin_file, cache) -> Path:
    out = tmp_path_factory.mktemp("drawn") / "out"
    r = simgen_cli("scene=environment", f"scene.file={skin_file}", "scene.animation=draw", "scene.cameras=[Camera]",
                   "scene.supports=[floor]", "objects.count=[1,1]", "frames=2", "seed=6", "render.width=128",
                   "render.height=96", "render.samples=2", f"output.dir={out}", cwd=out.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.mark.render
@pytest.mark.slow  # two frames in a Blender file and two exports: ~20 s on 2 cores
def test_a_skinned_part_at_a_drawn_frame_is_labelled_as_blender_exports_it(drawn, skin_file, tmp_path):
    """Each frame at a file frame drawn from its range: the bar bent by the armature there, its ids
    and depth on every pixel against a ray cast of Blender's own OBJ export at that frame."""
    from simgen.io.dataset.layout import read_frame

    frames = set()
    for index in range(2):
        f = read_frame(drawn, index)
        meta = f["meta"]
        frame = meta["params"]["animation"]["frame"]
        frames.add(frame)
        truth = raycast(drawn, meta, frame, exported_bar(skin_file, frame, tmp_path / f"drawn{index}.obj"))
        ids, depth, normal, K = truth["ids"], truth["depth"], truth["normal"], np.array(meta["K"])
        bar_id = next(o["instance_id"] for o in meta["objects"] if o["name"] == "env_bar")
        assert (ids == bar_id).sum() > 20, "the bar barely in view: nothing to test"
        assert (f["instance"].astype(np.int64) == ids).mean() > 0.999
        bar_pixels = (ids == bar_id) | (f["instance"] == bar_id)
        assert (f["instance"][bar_pixels] != ids[bar_pixels]).sum() <= 1, "the bar is not where Blender's export has it"
        on = (f["instance"] == ids) & (ids == bar_id) & (incidence_cos(K, normal) > 0.1)
        assert (np.abs(f["depth"][on] - depth[on]) / depth[on]).max() < 1e-5
    assert len(frames) == 2
