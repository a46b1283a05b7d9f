"""Clutter, walls/room backgrounds, principal point jitter and exposure in the tabletop recipe."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import tiny_settings
from groundtruth import intersect, raycast_frame, uniform_neighbourhood
from simgen.assets import load_mesh
from simgen.config import Settings
from simgen.compose.settings import validate
from simgen.optics.camera import blender_lens
from simgen.io.dataset.layout import read_frame
from simgen.recipes import load_recipe
from simgen.pipeline import catalog_for, make_frame_scene, run
from test_sampling import convex_hull_2d, hulls_overlap, world_vertices

TABLETOP = load_recipe("tabletop")


def settings(**scene) -> Settings:
    s = validate(Settings())
    for k, v in scene.items():
        setattr(s.scene, k, v)
    return validate(s)


@pytest.fixture(scope="module")
def catalog():
    return catalog_for(validate(Settings()))


def eye_of(scene) -> np.ndarray:
    w2c = scene.camera.world_to_camera
    return -w2c[:3, :3].T @ w2c[:3, 3]


def test_distractors_never_interpenetrate(catalog):
    s = settings(distractors=[4, 8])
    counts = []
    for index in range(8):  # hull tests on the detailed distractor meshes are slow-ish
        scene = make_frame_scene(TABLETOP, s, catalog, index)
        annotated = [o for o in scene.objects if o.category_id]
        clutter = [o for o in scene.objects if o.name.startswith("distractor")]
        assert s.objects.count[0] <= len(annotated) <= s.objects.count[1]
        assert all(o.category_id == 0 and o.asset_id == "" for o in clutter)
        drawn = scene.params["objects"]["distractors"]
        assert 4 <= len(drawn) <= 8 and len(clutter) == sum(d["xy"] is not None for d in drawn)
        counts.append(len(clutter))
        hulls = []
        for o in annotated + clutter:
            v = world_vertices(o)
            assert abs(v[:, 2].min()) < 1e-9
            assert np.hypot(*v[:, :2].T).max() <= s.scene.area_radius + 1e-9
            hulls.append(convex_hull_2d(v[:, :2]))
        for i in range(len(hulls)):
            for j in range(i):
                assert not hulls_overlap(hulls[i], hulls[j]), (index, i, j)
        assert sorted(o.instance_id for o in scene.objects) == list(range(1, len(scene.objects) + 1))
    assert max(counts) >= 4


def test_default_has_no_clutter_walls_or_shift(catalog):
    s = validate(Settings())
    scene = make_frame_scene(TABLETOP, s, catalog, 3)
    assert scene.objects[-1].name == "ground" and not any(o.name.startswith("distractor") for o in scene.objects)
    assert scene.params["background"] == {"kind": "ground"}
    K = scene.camera.K
    assert K[0, 2] == s.render.width / 2 - 0.5 and K[1, 2] == s.render.height / 2 - 0.5
    assert scene.camera.exposure == 0.0 and scene.params["camera"]["exposure_stops"] == 0.0


def planes(scene):
    """(name, centre, inward unit normal) of every wall and the ceiling."""
    out = []
    for o in scene.objects:
        if o.name.startswith(("wall", "ceiling")):
            m = o.mesh_to_world
            n = m[:3, 2] / np.linalg.norm(m[:3, 2])
            out.append((o.name, m[:3, 3], n))
    return out


@pytest.mark.parametrize("kind", ["walls", "room"])
def test_walls_and_room_enclose_the_area(catalog, kind):
    s = settings(background=[kind], distractors=[0, 3])
    s.sequence.length = 1
    for index in range(25):
        scene = make_frame_scene(TABLETOP, s, catalog, index)
        walls = planes(scene)
        assert scene.params["background"]["kind"] == kind
        assert len(walls) == (5 if kind == "room" else scene.params["background"]["wall_distance"].__len__())
        assert kind == "room" or len(walls) in (2, 3)
        inside = [eye_of(scene)] + [li.light_to_world[:3, 3] for li in scene.lights if li.kind != "sun"]
        for o in scene.objects:
            if o.category_id or o.name.startswith("distractor"):
                inside += list(world_vertices(o))
        pts = np.array(inside)
        for name, c, n in walls:
            assert ((pts - c) @ n).min() > 0.1, (index, name)  # every point on the inner side
        for o in scene.objects:
            assert o.mesh == catalog.ground or not o.name.startswith(("wall", "ceiling"))
            if o.name.startswith(("wall", "ceiling")):
                assert o.category_id == 0
        if kind == "room":  # closed: every ray from the camera hits the box
            tris = []
            for o in scene.objects:
                if o.mesh == catalog.ground:
                    tris.append(world_vertices(o)[load_mesh(o.mesh).faces])
            dirs = np.random.default_rng(index).normal(size=(300, 3))
            t, _ = intersect(eye_of(scene), dirs, np.concatenate(tris))
            assert np.isfinite(t).all(), index


def test_principal_point_jitter_and_exposure(catalog):
    s = validate(Settings())
    s.camera.principal_point_jitter = 3.0
    s.camera.exposure = [-1.0, 1.5]
    s = validate(s)
    W, H = s.render.width, s.render.height
    off, stops = [], []
    for index in range(300):
        scene = make_frame_scene(TABLETOP, s, catalog, index)
        cam, p = scene.camera, scene.params["camera"]
        d = np.array(p["principal_point_offset_px"])
        assert np.allclose([cam.K[0, 2], cam.K[1, 2]], [W / 2 - 0.5 + d[0], H / 2 - 0.5 + d[1]], atol=1e-9)
        lens = blender_lens(cam.K, W, H)
        assert np.isclose(lens["shift_x"], -d[0] / W) and np.isclose(lens["shift_y"], d[1] / W)
        assert cam.exposure == p["exposure_stops"] and -1.0 <= cam.exposure <= 1.5
        off.append(d)
        stops.append(cam.exposure)
    off = np.array(off)
    assert np.abs(off.mean(axis=0)).max() < 0.6
    assert np.all(np.abs(off.std(axis=0) - 3.0) < 0.45)
    assert min(stops) < -0.5 and max(stops) > 1.0


@pytest.mark.render
@pytest.mark.parametrize("kind", ["room", "walls"])
def test_background_render_matches_ray_cast(tmp_path, kind):
    s = tiny_settings(tmp_path, frames=1, width=48, height=32, samples=1)
    s.scene.background = [kind]
    s.scene.distractors = [2, 4]
    s.camera.principal_point_jitter = 2.0
    s.camera.exposure = [0.5, 0.5]
    s.scene.camera_elevation, s.camera.focal_length = [5.0, 15.0], [18.0, 18.0]  # walls in view
    s = validate(s)
    run(s)
    frame = read_frame(tmp_path, 0)
    meta = frame["meta"]
    assert meta["params"]["background"]["kind"] == kind
    assert meta["params"]["camera"]["exposure_stops"] == 0.5
    gt = raycast_frame(tmp_path, 0)["instance"]
    got = frame["instance"].astype(np.int64)
    interior = uniform_neighbourhood(gt)
    assert interior.mean() > 0.3
    assert np.array_equal(got[interior], gt[interior]), f"{(got[interior] != gt[interior]).sum()} pixels disagree"
    walls = {o["instance_id"] for o in meta["objects"] if o["name"].startswith(("wall", "ceiling"))}
    assert walls & set(np.unique(gt).tolist()), "no wall in view"


# ------------------------------------------------------------------ depth of field


@pytest.mark.slow
def test_depth_of_field_draws_focus_on_the_look_at_point(catalog):
    s = validate(Settings())
    s.camera.dof_probability, s.camera.fstop = 0.5, [1.2, 8.0]
    s.sequence.length = 3
    s = validate(s)
    fstops, n = [], 0
    for index in range(0, 600, 3):
        scenes = [make_frame_scene(TABLETOP, s, catalog, index + k) for k in range(3)]
        n += 1
        p = scenes[0].params["camera"]
        if "fstop" not in p:
            assert all(sc.camera.fstop == 0.0 and "focus_distance" not in sc.params["camera"] for sc in scenes)
            continue
        fstops.append(p["fstop"])
        for sc in scenes:  # every step of a sequence focuses on the target, wherever the camera went
            cam = sc.camera
            target_cam = cam.world_to_camera @ np.array([*p["target"], 1.0])
            assert cam.fstop == p["fstop"] and cam.sensor_width == s.camera.sensor_width
            assert np.isclose(cam.focus_distance, target_cam[2]) and sc.params["camera"]["focus_distance"] == cam.focus_distance
    assert abs(len(fstops) - n / 2) <= 4.5 * np.sqrt(n / 4)
    assert min(fstops) >= 1.2 and max(fstops) <= 8.0 and min(fstops) < 2.9 and max(fstops) > 6.3


def test_flying_refuses_tabletop_camera_settings():
    import simgen.scenes.flying as flying
    from simgen import SimgenError

    for key, value in (("dof_probability", 0.5), ("exposure", [0.0, 1.0]), ("principal_point_jitter", 1.0)):
        s = validate(Settings())
        s.scene = flying.Config()
        setattr(s.camera, key, value)
        with pytest.raises(SimgenError, match=f"^camera.{key}=.* does nothing with scene=flying"):
            validate(s)


@pytest.mark.render
@pytest.mark.slow
def test_depth_of_field_blurs_rgb_only(tmp_path, catalog):
    """A scene rendered with f/0.1 focused on the objects and as a pinhole: the instance,
    depth and (away from edges) normal labels are identical, match a ray cast, and only
    the RGB lost sharpness."""
    import dataclasses

    import cv2

    from simgen.blender import BlenderBackend

    s = tiny_settings(tmp_path, frames=1, width=96, height=72, samples=32)
    s.camera.dof_probability, s.camera.fstop = 1.0, [0.1, 0.1]  # a 0.5 m aperture: blur shows at 96x72
    s = validate(s)
    run(s)
    frame = read_frame(tmp_path, 0)
    assert frame["meta"]["params"]["camera"]["fstop"] == 0.1
    gt = raycast_frame(tmp_path, 0)
    interior = uniform_neighbourhood(gt["instance"])
    got = frame["instance"].astype(np.int64)
    assert interior.mean() > 0.5 and np.array_equal(got[interior], gt["instance"][interior])
    hit = interior & np.isfinite(gt["depth"])
    assert np.allclose(frame["depth"][hit], gt["depth"][hit], rtol=1e-4, atol=1e-4)

    scene = make_frame_scene(TABLETOP, s, catalog, 0)
    pinhole = dataclasses.replace(scene, camera=dataclasses.replace(scene.camera, fstop=0.0, focus_distance=0.0))
    backend = BlenderBackend(s.render)
    try:
        backend.build(scene)
        blurred = backend.render_passes(seed=1)
        assert backend._camera.data.dof.use_dof and backend.scene.cycles.samples == 32  # restored after the label pass
        backend.build(pinhole)
        sharp = backend.render_passes(seed=1)
        noise = backend.render_passes(seed=2)
        assert not backend._camera.data.dof.use_dof
    finally:
        backend.close()
    assert np.array_equal(blurred["index"], sharp["index"]) and np.array_equal(blurred["depth"], sharp["depth"])
    # normals: the label pass has one sample, the pinhole render averages its samples' normals,
    # so they agree where one face covers the pixel's 5x5 neighbourhood
    key = np.round(sharp["normal"] * 1e4).astype(np.int64) @ np.array([1, 10**5, 10**10])
    flat = uniform_neighbourhood(key, radius=2) & (sharp["index"] > 0)
    assert flat.mean() > 0.3
    assert np.allclose(blurred["normal"][flat], sharp["normal"][flat], atol=2e-4)

    edges = ~uniform_neighbourhood(sharp["index"])  # pixels next to an object's outline

    def sharpness(rgb):  # contrast across the outlines, once the sampling noise is smoothed away
        grey = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(float), (0, 0), 1.0)
        return float(np.hypot(cv2.Sobel(grey, cv2.CV_64F, 1, 0), cv2.Sobel(grey, cv2.CV_64F, 0, 1))[edges].mean())

    def diff(a, b):
        return float(np.abs(a["rgb"].astype(float) - b["rgb"]).mean())

    assert sharpness(blurred["rgb"]) < 0.9 * sharpness(sharp["rgb"])  # 0.85 measured; the pinhole: 1 +- noise
    assert diff(blurred, sharp) > 2.5 * diff(noise, sharp)  # 3.0 measured: far more than another seed changes


@pytest.mark.render
def test_sun_and_world_light_a_closed_room(tmp_path, catalog):
    """A room lit only by a sun and the world: its walls and ceiling cast no shadow, so the
    objects inside are lit; the same room with shadowing walls leaves them dark."""
    import dataclasses

    from simgen.blender import BlenderBackend

    s = tiny_settings(tmp_path, frames=1, width=64, height=48, samples=8)
    s.scene.background = ["room"]
    s.scene.room_light = [0.0, 0.0]  # lit by the sun and the world alone
    s.lighting.types, s.lighting.count = ["sun"], [1, 1]
    s = validate(s)
    scene = make_frame_scene(TABLETOP, s, catalog, 0)
    assert scene.params["background"]["casts_shadow"] is False
    shells = {o.name for o in scene.objects if o.name.startswith(("wall", "ceiling"))}
    assert len(shells) == 5 and all(not o.casts_shadow for o in scene.objects if o.name in shells)
    assert all(o.casts_shadow for o in scene.objects if o.name not in shells)
    closed = dataclasses.replace(scene, objects=[dataclasses.replace(o, casts_shadow=True) for o in scene.objects])
    backend = BlenderBackend(s.render)
    try:
        backend.build(scene)
        lit = backend.render_passes(seed=1)
        backend.build(closed)
        dark = backend.render_passes(seed=1)
    finally:
        backend.close()
    assert np.array_equal(lit["index"], dark["index"])  # the same picture, only the light differs
    ids = {o.instance_id for o in scene.objects if o.name.startswith("obj")}
    inside = np.isin(lit["index"], list(ids))
    assert inside.sum() > 50
    assert lit["rgb"][inside].mean() > 4 * max(dark["rgb"][inside].mean(), 1.0)


def test_walls_that_are_not_a_room_cast_shadows(catalog):
    s = validate(Settings())
    s.scene.background = ["walls"]
    scene = make_frame_scene(TABLETOP, validate(s), catalog, 0)
    assert scene.params["background"]["casts_shadow"] is True and all(o.casts_shadow for o in scene.objects)
