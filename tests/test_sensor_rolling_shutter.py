"""Rolling shutter (sensor.rolling_shutter_ms; simgen.sensors.rolling_shutter): the row timing, the scene
between steps and the bands stacked, checked by hand; then the proof the issue asks for: each row of a
rolling-shutter frame against a render of the whole frame at that row's time (its meta's), on a
scene whose objects and camera move fast enough that the rows differ visibly from a global shutter."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import tiny_settings
from simgen.errors import SimgenError
from simgen.scene.data import Camera, Light, Scene
from simgen.sensors import motion
from simgen.sensors import rolling_shutter as rs
from test_bad_inputs import TINY, _check, run_in_process
from test_cli import q


def pose(angle: float = 0.0, axis: str = "z", t=(0.0, 0.0, 0.0), scale: float = 1.0) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    i, j = {"z": (0, 1), "y": (2, 0), "x": (1, 2)}[axis]
    m = np.eye(4)
    m[[i, i, j, j], [i, j, i, j]] = (c, -s, s, c)
    m[:3, :3] *= scale
    m[:3, 3] = t
    return m


# ------------------------------------------------------------------ row timing


def test_bands_cover_every_row_once_in_near_equal_runs():
    for height, count in [(48, 0), (48, 48), (48, 5), (7, 3), (10, 99)]:
        b = rs.bands(height, count)
        assert b[0][0] == 0 and b[-1][1] == height and all(x[1] == y[0] for x, y in zip(b, b[1:]))
        sizes = {end - first for first, end in b}
        assert max(sizes) - min(sizes) <= 1
        assert len(b) == (height if count in (0,) or count > height else count)


def test_row_times_and_band_times_follow_the_stated_convention():
    rows = rs.timing(30.0, 30.0, 0, 48)  # 30 ms at 30 steps a second: 0.9 steps
    assert rows.readout == pytest.approx(0.9)
    assert rows.row_times()[0] == 0.0 and rows.row_times()[47] == pytest.approx(47 / 48 * 0.9)
    assert rows.band_times() == pytest.approx(list(rows.row_times())) and rows.max_error == 0.0
    assert rs.timing(0.0, 30.0, 0, 48) is None  # a global shutter
    for count in (1, 4, 5, 13):  # fewer bands: the bound is the largest |row time - its band's time|
        r = rs.timing(30.0, 30.0, count, 48)
        own, band = r.row_times(), np.concatenate([[t] * (e - f) for (f, e), t in zip(r.bands, r.band_times())])
        assert r.max_error == pytest.approx(np.abs(own - band).max()) and r.max_error > 0


# ------------------------------------------------------------------ the scene between steps


def test_a_pose_between_two_turns_at_a_constant_rate_and_moves_on_a_straight_line():
    a, b = pose(0.2, "z", (0, 0, 1), 2.0), pose(0.8, "z", (1, 2, 1), 2.0)
    assert np.allclose(motion.interpolate_pose(a, b, 0.0), a) and np.allclose(motion.interpolate_pose(a, b, 1.0), b)
    assert np.allclose(motion.interpolate_pose(a, b, 0.5), pose(0.5, "z", (0.5, 1, 1), 2.0))
    assert np.allclose(motion.interpolate_pose(a, b, 1.5), pose(1.1, "z", (1.5, 3, 1), 2.0))  # after the last step
    c = pose(np.pi * 0.9, "x", (0, 0, 0))  # the shorter way round, about x
    assert np.allclose(motion.interpolate_pose(np.eye(4), c, 0.25), pose(np.pi * 0.225, "x"))
    grow = motion.interpolate_pose(pose(scale=1.0), pose(scale=3.0), 0.5)
    assert np.allclose(grow, pose(scale=2.0))


def _scene(obj_poses, cam_pose, light_pose=None) -> Scene:
    from simgen.scene.data import Material, SceneObject
    from simgen.scene.meshes import GeneratedMesh

    mat = Material(base_color=(0.5, 0.5, 0.5), roughness=0.5, metallic=0.0)
    objects = [SceneObject(name=f"o{k}", mesh=GeneratedMesh(category="mug", seed=k), mesh_to_world=m, instance_id=k + 1,
                           category_id=1, material=mat) for k, m in enumerate(obj_poses)]
    lights = [] if light_pose is None else [Light(kind="point", light_to_world=light_pose, power=10.0, color=(1, 1, 1))]
    K = np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]])
    return Scene(objects=objects, lights=lights, camera=Camera(K=K, width=64, height=48,
                                                                world_to_camera=np.linalg.inv(cam_pose)))


@pytest.fixture
def two_steps():
    a = _scene([pose(0.0, t=(0, 0, 5)), pose(0.3, "y", t=(1, 0, 5))], pose(0.0), pose(t=(0, 0, 3)))
    b = _scene([pose(0.4, t=(2, 0, 5)), pose(0.3, "y", t=(1, 1, 5))], pose(0.2, "y", t=(0.5, 0, 0)), pose(t=(1, 0, 3)))
    return [a, b]


def test_the_scene_between_steps_moves_every_pose_and_keeps_the_rest(two_steps):
    a, b = two_steps
    at = lambda t: motion.scene_at(two_steps, t, rs.SETTING, rs.OFF)  # noqa: E731
    assert at(0.0) is a and at(1.0) is b  # the steps as drawn
    mid = motion.scene_at(two_steps, 0.25, rs.SETTING, rs.OFF)
    for m, x, y in zip(mid.objects, a.objects, b.objects):
        assert np.allclose(m.mesh_to_world, motion.interpolate_pose(x.mesh_to_world, y.mesh_to_world, 0.25))
        assert (m.name, m.mesh, m.instance_id, m.material) == (x.name, x.mesh, x.instance_id, x.material)
    assert np.allclose(mid.lights[0].light_to_world[:3, 3], (0.25, 0, 3))
    c2w = np.linalg.inv(mid.camera.world_to_camera)
    assert np.allclose(c2w, pose(0.05, "y", t=(0.125, 0, 0)))
    assert np.array_equal(mid.camera.K, a.camera.K)
    late = at(1.5)  # past the last step: the last interval's motion goes on
    assert np.allclose(late.objects[0].mesh_to_world, pose(0.6, t=(3, 0, 5)))
    far = at(3.25)  # more than one step past it (a LiDAR's turn can be): still the last interval's motion
    assert np.allclose(far.objects[0].mesh_to_world, pose(1.3, t=(6.5, 0, 5)))
    assert np.allclose(np.linalg.inv(far.camera.world_to_camera), pose(0.65, "y", t=(1.625, 0, 0)))


def test_what_changes_between_steps_besides_poses_is_refused_naming_the_sensor_s_setting(two_steps):
    a, b = two_steps
    brighter = dataclasses.replace(b, lights=[dataclasses.replace(b.lights[0], power=20.0)])
    zoomed = dataclasses.replace(b, camera=dataclasses.replace(b.camera, K=b.camera.K * [[2], [2], [1]]))
    for other, what in ((brighter, "a light changes more than its pose"),
                        (zoomed, "the camera changes more than its pose")):
        for setting, off in (("sensor.rolling_shutter_ms", "0"), ("sensor.events", "false"),
                             ("sensor.lidar_sectors", "1")):
            with pytest.raises(SimgenError, match=what) as e:
                motion.scene_at([a, other], 0.5, setting, off)
            assert str(e.value).startswith(f"{setting}: ") and str(e.value).endswith(f"{setting}={off}")
            assert "\n" not in str(e.value)


def test_a_stereo_rig_moves_as_one_between_steps(two_steps):
    from simgen.optics.camera import stereo_offset

    a, b = (dataclasses.replace(x, right=dataclasses.replace(x.camera, world_to_camera=stereo_offset(
        x.camera.world_to_camera, 0.1))) for x in two_steps)
    for t in (0.3, 0.7, 1.4):
        mid = motion.scene_at([a, b], t, rs.SETTING, rs.OFF)
        assert np.allclose(mid.right.world_to_camera, stereo_offset(mid.camera.world_to_camera, 0.1))
    wider = dataclasses.replace(b, right=dataclasses.replace(b.camera, world_to_camera=stereo_offset(
        b.camera.world_to_camera, 0.2)))
    with pytest.raises(SimgenError, match="camera rig changes"):
        motion.scene_at([a, wider], 0.5, rs.SETTING, rs.OFF)


def test_a_part_that_changes_more_than_its_pose_is_refused_in_one_line(two_steps):
    a, b = two_steps
    bent = dataclasses.replace(b, objects=[dataclasses.replace(b.objects[0], category_id=2), b.objects[1]])
    with pytest.raises(SimgenError, match="o0 changes more than its pose") as e:
        motion.scene_at([a, bent], 0.5, rs.SETTING, rs.OFF)
    assert "\n" not in str(e.value)
    fewer = dataclasses.replace(b, objects=b.objects[:1])
    with pytest.raises(SimgenError, match="different objects or lights"):
        motion.scene_at([a, fewer], 0.5, rs.SETTING, rs.OFF)


# ------------------------------------------------------------------ the bands stacked


def test_stacked_bands_are_the_frame_and_normals_turn_to_each_band_s_camera():
    rows = rs.timing(20.0, 30.0, 3, 7)
    frame = {"a": np.arange(7 * 4, dtype=np.float32).reshape(7, 4), "b": np.arange(7 * 4 * 3).reshape(7, 4, 3)}
    parts = [{k: v[f:e] for k, v in frame.items()} for f, e in rows.bands]
    stacked = rs.stack_rows(parts, rows)
    assert all(np.array_equal(stacked[k], frame[k]) for k in frame)
    with pytest.raises(ValueError):
        rs.stack_rows(parts[:2], rows)
    # the frame's camera, and a camera turned by 0, 0.1, 0.2 rad about y per band: the label of row r is
    # the band camera's rotation of the world normal, made through the frame's camera
    rng = np.random.default_rng(0)
    n = rng.normal(size=(7, 4, 3)).astype(np.float32)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    frame_w2c = np.linalg.inv(pose(0.3, "x"))
    band_w2c = [np.linalg.inv(pose(0.3, "x") @ pose(0.1 * k, "y")) for k in range(3)]
    carried = rs.carry_normals(n, rows, band_w2c, frame_w2c)
    for (f, e), w2c in zip(rows.bands, band_w2c):
        assert np.allclose(carried[f:e] @ frame_w2c[:3, :3].T, n[f:e] @ w2c[:3, :3].T, atol=1e-6)


def test_the_record_states_the_convention_and_each_band_s_time():
    rows = rs.timing(30.0, 30.0, 4, 48)
    r = rs.record(rows, 3, 30.0, 30.0)
    assert r["readout_steps"] == pytest.approx(0.9) and r["max_row_time_error_steps"] == pytest.approx(rows.max_error)
    assert [b["rows"] for b in r["bands"]] == [[0, 12], [12, 24], [24, 36], [36, 48]]
    assert r["bands"][0]["step"] == pytest.approx(3 + 5.5 / 48 * 0.9)
    assert r["bands"][0]["seconds"] == pytest.approx(r["bands"][0]["step"] / 30.0)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("args, expected", [
    (["sensor.rolling_shutter_ms=30"], "sequence.length=1"),
    (["sensor.rolling_shutter_ms=40", "sequence.length=2"], "sequence.fps=30"),
    (["sensor.rolling_shutter_ms=20", "sequence.length=2", "sequence.fps=60"], "sequence.fps=60"),
    (["sensor.rolling_shutter_ms=30", "sequence.length=2", "output.labels=[tracks]"], "output.labels=['tracks']"),
    (["sensor.rolling_shutter_ms=30", "sequence.length=2", "effects.motion_blur_probability=0.5"],
     "effects.motion_blur_probability"),
    (["sensor.rolling_shutter_ms=30", "sequence.length=2", "output.formats=[coco,bop]"], "output.formats=['bop']"),
    (["sensor.rolling_shutter_ms=30", "sequence.length=2", "sequence.formats=[flo]"], "sequence.formats=['flo']"),
    (["sensor.rolling_shutter_ms=30", "sequence.length=2", "objects.cloth=0.5"], "objects.cloth=0.5"),
    (["sensor.rolling_shutter_ms=30", "sequence.length=2", "objects.joint_motion=3"], "objects.joint_motion=3"),
    (["sensor.rolling_shutter_ms=30", "sequence.length=2", "sensor.depth=realsense_d435"], "sensor.depth=realsense_d435"),
    (["sensor.rolling_shutter_ms=-1"], "sensor.rolling_shutter_ms"),
    (["sequence.fps=0"], "sequence.fps"),
    (["sensor.rolling_shutter_bands=-2"], "sensor.rolling_shutter_bands"),
])
def test_what_a_rolling_shutter_cannot_make_exact_is_refused_in_one_line(args, expected, tmp_path, monkeypatch, capfd):
    cwd, out = tmp_path / "cwd", tmp_path / "out"
    cwd.mkdir()
    code, o, err, touched = run_in_process([*TINY, *args, f"output.dir={q(out)}"], cwd, monkeypatch, capfd)
    assert not touched
    _check(code, o, err, expected, out, cwd, [])


# ------------------------------------------------------------------ the proof: rows against whole frames


READOUT_MS = 33.0  # at 30 steps a second: 0.99 of a step from the top row to the bottom one


@pytest.fixture(scope="module")
def rolled(tmp_path_factory):
    """Two flying-objects sequences of two steps at 64x48 (objects fly, the camera moves), one sample, no
    denoiser, fixed exposure: one row a band (exact), and 5 bands."""
    from simgen.compose.settings import default_scene, validate
    from simgen.pipeline import run

    root = tmp_path_factory.mktemp("rolling")
    out = {}
    for bands in (0, 5):
        s = tiny_settings(root / f"bands{bands}", frames=4, width=64, height=48, samples=1)
        s.scene = default_scene("flying")
        s.sequence.length = 2
        s.render.denoise, s.render.auto_exposure = False, False
        s.sensor.rolling_shutter_ms, s.sensor.rolling_shutter_bands = READOUT_MS, bands
        run(validate(s))
        out[bands] = (root / f"bands{bands}", s)
    return out


def _whole_frame(backend, scene, seed):
    from simgen.labels import make_labels

    backend.build(scene)
    raw = backend.render_passes(seed=seed)
    return make_labels(raw, {o.instance_id: o.category_id for o in scene.objects}, scene.camera.world_to_camera,
                       scene.camera.K)


@pytest.mark.slow
@pytest.mark.parametrize("bands", [0, 5])
def test_each_row_is_the_whole_frame_rendered_at_the_time_its_meta_states(rolled, bands):
    from simgen.blender import BlenderBackend
    from simgen.io.dataset.layout import read_frame
    from simgen.pipeline import catalog_for, load_recipe
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.sampling.random import render_seed

    root, s = rolled[bands]
    recipe, catalog = load_recipe("flying"), catalog_for(s)
    backend = BlenderBackend(s.render)
    moved = seen = 0
    try:
        for index in range(4):
            sequence, step = divmod(index, 2)
            scenes = make_sequence_scenes(recipe, s, catalog, sequence)
            frame = read_frame(root, index)
            record = frame["meta"]["sensor"]["rolling_shutter"]
            assert frame["meta"]["flow"] == {"forward": None, "backward": None}
            assert len(record["bands"]) == (48 if bands == 0 else bands)
            seed = render_seed(s.seed, index)
            picks = record["bands"] if bands else [record["bands"][r] for r in (0, 13, 30, 47)]
            for band in picks:
                first, end = band["rows"]
                if bands == 0:  # the row's own time: step + r / H * readout
                    assert band["step"] == pytest.approx(step + first / 48 * READOUT_MS / 1000 * 30)
                whole = _whole_frame(backend, motion.scene_at(scenes, band["step"], rs.SETTING, rs.OFF), seed)
                rows = slice(first, end)
                assert np.array_equal(frame["instance"][rows], whole.instance[rows])
                assert np.array_equal(frame["semantic"][rows], whole.semantic[rows])
                assert np.allclose(frame["depth"][rows], whole.depth[rows], rtol=1e-6, equal_nan=True)
                assert np.allclose(frame["normal"][rows], whole.normal[rows], atol=1e-5)
                assert np.abs(frame["rgb"][rows].astype(int) - whole.rgb[rows]).max() <= 1
            # the rows differ visibly from a global shutter's frame (the step's scene for every row)
            still = _whole_frame(backend, scenes[step], seed)
            hit = (frame["instance"] > 0) | (still.instance > 0)
            moved += int(np.count_nonzero((frame["instance"] != still.instance) & hit))
            seen += int(np.count_nonzero(hit))
    finally:
        backend.close()
    assert seen and moved > 0.05 * seen, (moved, seen)  # measured: 1227 of 12288 pixels (exact run, seed 7)


@pytest.mark.slow
@pytest.mark.parametrize("width, height", [(160, 120), (97, 61)])
def test_every_one_row_band_is_that_row_of_the_whole_frame(width, height):
    """Blender turns the render border's float32 fractions into whole rows: each one-row band must
    come out as exactly its row (at 160x120 a band once came out empty: 'Image too small')."""
    from simgen.blender import BlenderBackend
    from simgen.compose.settings import default_scene, validate
    from simgen.config import RenderConfig, Settings
    from simgen.pipeline import catalog_for, load_recipe
    from simgen.pipeline.frames import make_sequence_scenes

    s = Settings(seed=5)
    s.scene = default_scene("flying")
    s.render = RenderConfig(width=width, height=height, samples=1, device="cpu", denoise=False)
    s.output.dir = "unused"
    s = validate(s)
    scene = make_sequence_scenes(load_recipe("flying"), s, catalog_for(s), 0)[0]
    backend = BlenderBackend(s.render)
    try:
        backend.build(scene)
        full = backend.render_passes(seed=5)
        for r in range(height):
            files = backend.render_band_to_files(5, (r, r + 1))
            band = files.decode(files.channels()[0])
            files.delete()
            assert band["index"].shape == (1, width), r
            assert np.array_equal(band["index"], full["index"][r:r + 1]), r
            assert np.array_equal(band["depth"], full["depth"][r:r + 1]), r
    finally:
        backend.close()


@pytest.fixture(scope="module")
def rolled_pair(tmp_path_factory):
    """A flying-objects stereo sequence of two steps at 64x48, one band a row, as ``rolled``."""
    from simgen.compose.settings import default_scene, validate
    from simgen.pipeline import run

    root = tmp_path_factory.mktemp("rolling_pair") / "out"
    s = tiny_settings(root, frames=2, width=64, height=48, samples=1)
    s.scene = default_scene("flying")
    s.sequence.length, s.camera.rig = 2, "stereo"
    s.render.denoise, s.render.auto_exposure = False, False
    s.sensor.rolling_shutter_ms = READOUT_MS
    run(validate(s))
    return root, s


@pytest.mark.slow
def test_a_stereo_pair_reads_its_rows_in_step_and_its_stereo_labels_hold(rolled_pair):
    """Each sampled row of the right image, the disparity and the occlusion mask equals that row of the
    pair rendered whole at the row's time: the pair is rectified, so a left pixel's match lies on the
    same row of the right image, read at the same time."""
    from simgen.blender import BlenderBackend
    from simgen.io.dataset.layout import read_frame
    from simgen.labels import make_labels
    from simgen.labels.stereo import disparity, occluded
    from simgen.pipeline import catalog_for, load_recipe
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.pipeline.loop import RIGHT_SEED
    from simgen.pipeline.rolling import RIGHT_SEED as ROLLING_RIGHT_SEED
    from simgen.sampling.random import render_seed

    assert ROLLING_RIGHT_SEED == RIGHT_SEED
    root, s = rolled_pair
    scenes = make_sequence_scenes(load_recipe("flying"), s, catalog_for(s), 0)
    backend = BlenderBackend(s.render)
    try:
        for index in range(2):
            frame = read_frame(root, index)
            record = frame["meta"]["sensor"]["rolling_shutter"]
            seed = render_seed(s.seed, index)
            for band in [record["bands"][r] for r in (0, 21, 47)]:
                r = band["rows"][0]
                sc = motion.scene_at(scenes, band["step"], rs.SETTING, rs.OFF)
                left = _whole_frame(backend, sc, seed)
                backend.view(sc.right)
                raw = backend.render_passes(seed=seed ^ RIGHT_SEED)
                left.right = make_labels(raw, {o.instance_id: o.category_id for o in sc.objects},
                                         sc.right.world_to_camera, sc.right.K)
                assert np.abs(frame["right"][r].astype(int) - left.right.rgb[r]).max() <= 1
                d = disparity(left.depth, sc.camera.K, sc.params["stereo"]["baseline"])
                assert np.allclose(frame["disparity"][r], d[r], rtol=1e-6)
                assert np.array_equal(frame["occluded"][r], occluded(left, sc.camera, sc.right)[r])
    finally:
        backend.close()
