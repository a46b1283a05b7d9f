"""The event camera (sensor.events, simgen.sensors.events): the pure model on synthetic
log-intensity stacks, against crossing times and counts computed here analytically."""

from __future__ import annotations

import numpy as np
import pytest

from simgen.errors import SimgenError
from simgen.scene.data import Camera, Light, Material, Scene, SceneObject
from simgen.sensors.events import (EVENT_DTYPE, LUMA, EventModel, as_events, crossings, draw_thresholds,
                                   events_between, log_intensity, refractory_keep)

IDEAL = EventModel(threshold_sigma=0.0)


def edge_stack(width: int, height: int, x0: float, speed: float, times: np.ndarray, dark: float, bright: float,
               eps: float) -> np.ndarray:
    """Log intensity of a bright half-plane x < edge(t) = x0 + speed t sweeping right over a dark
    one: each pixel (box filtered) is lit by the share of it the bright side covers."""
    u = np.arange(width, dtype=np.float64)
    cover = np.clip((x0 + speed * times[:, None]) - (u[None, :] - 0.5), 0.0, 1.0)  # (T, W)
    y = dark + (bright - dark) * cover
    return np.repeat(np.log(y + eps)[:, None, :], height, axis=1)


def analytic_edge_times(u: int, k: np.ndarray, x0: float, speed: float, dark: float, bright: float, eps: float,
                        c: float) -> np.ndarray:
    """When pixel ``u``'s log intensity first reaches its level at t = 0 plus k c (k = 1, 2, ...): the
    covered share f solves ln(dark + (bright - dark) f + eps) = ln(y0 + eps) + k c, y0 the pixel's
    light at t = 0."""
    y0 = dark + (bright - dark) * np.clip(x0 - (u - 0.5), 0.0, 1.0)
    f = ((y0 + eps) * np.exp(k * c) - eps - dark) / (bright - dark)
    return (u - 0.5 + f - x0) / speed


def test_luminance_and_log():
    rgb = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, -1.0, -1.0]]], np.float32)
    out = log_intensity(rgb, 1e-3)
    assert np.allclose(out[0, :3], np.log(LUMA + 1e-3))
    assert out[0, 3] == pytest.approx(np.log(1e-3))  # negative light counts as none


@pytest.mark.parametrize("substeps", [4, 16, 64])
def test_moving_edge_times_polarity_and_counts(substeps):
    """A bright edge sweeping right at 200 px/s: every pixel it crosses fires ON events; each one's
    time lies within one sub-step of the analytic crossing; the count is floor(total change / C)."""
    w, h, speed, x0, dark, bright, eps, c = 24, 2, 200.0, 2.0, 0.02, 0.8, 1e-3, 0.2
    times = np.linspace(0.0, 0.1, substeps + 1)
    logs = edge_stack(w, h, x0, speed, times, dark, bright, eps)
    events, counts = events_between(logs, times, np.full((h, w), c), np.full((h, w), c), IDEAL,
                                    np.random.default_rng(0))
    assert events.dtype == EVENT_DTYPE and counts["events"] == len(events) > 0
    assert np.all(events["p"] == 1)  # brighter everywhere
    assert np.all(np.diff(events["t"]) >= 0)
    bound_us = 0.1 / substeps * 1e6 + 0.5
    total = logs[-1] - logs[0]
    for u in range(w):
        mine = events[(events["x"] == u) & (events["y"] == 0)]
        n = int(np.floor(total[0, u] / c))
        assert len(mine) == n
        if n:
            expected = analytic_edge_times(u, np.arange(1, n + 1), x0, speed, dark, bright, eps, c) * 1e6
            assert np.max(np.abs(mine["t"] - expected)) <= bound_us


def test_log_linear_change_gives_exact_times():
    """Where the log intensity really is linear in time the interpolation is exact (to the µs)."""
    times = np.array([0.0, 0.01, 0.02, 0.05])
    rate = np.array([[3.0, -2.0, 0.5]])  # log units per second
    logs = rate[None] * times[:, None, None]
    pos, neg = np.full((1, 3), 0.03), np.full((1, 3), 0.04)
    events, _ = events_between(logs, times, pos, neg, IDEAL, np.random.default_rng(1))
    for x, r, c, p in ((0, 3.0, 0.03, 1), (1, -2.0, 0.04, 0), (2, 0.5, 0.03, 1)):
        mine = events[events["x"] == x]
        n = int(np.floor(abs(r) * 0.05 / c + 1e-9))
        assert len(mine) == n and np.all(mine["p"] == p)
        assert np.all(np.abs(mine["t"] - np.arange(1, n + 1) * c / abs(r) * 1e6) <= 0.5)


def test_count_is_floor_of_total_change_per_pixel_with_mismatch():
    """A monotone change of each pixel's log intensity fires floor(|change| / its own C) events of
    its sign, whatever the path's shape and the renders' spacing."""
    rng = np.random.default_rng(2)
    h, w, m = 8, 9, 7
    pos, neg = draw_thresholds(rng, (h, w), EventModel(0.2, 0.3, 0.05))
    steps = rng.uniform(0, 0.4, size=(m, h, w)) * np.where(rng.uniform(size=(h, w)) < 0.5, 1, -1)
    logs = np.concatenate([np.zeros((1, h, w)), np.cumsum(steps, axis=0)])
    times = np.cumsum(rng.uniform(0.001, 0.01, size=m + 1))
    pix, t, p, level, ref = crossings(logs, times, pos, neg)
    total = logs[-1] - logs[0]
    want = np.where(total > 0, np.floor(total / pos), np.floor(-total / neg))
    got = np.bincount(pix, minlength=h * w).reshape(h, w)
    assert np.array_equal(got, want)
    sign = np.sign(total).ravel()
    assert np.all(np.where(p == 1, 1, -1) == sign[pix])
    assert np.all((t >= times[0]) & (t <= times[-1]))
    # the final reference is the last crossed level, within one threshold of the signal
    assert np.all((ref - logs[-1] < neg) & (logs[-1] - ref < pos))


def test_reversal_fires_both_polarities_at_their_times():
    """Up by 0.5 then down by 0.9: with C 0.2, two ON events (levels 0.2, 0.4) then OFF events at
    levels 0.2, 0.0, -0.2, -0.4 (each level from the last event's)."""
    times = np.array([0.0, 1.0, 2.0])
    logs = np.array([0.0, 0.5, -0.4])[:, None, None]
    pix, t, p, level, _ = crossings(logs, times, np.full((1, 1), 0.2), np.full((1, 1), 0.2))
    assert list(p) == [1, 1, 0, 0, 0, 0]
    assert np.allclose(level, [0.2, 0.4, 0.2, 0.0, -0.2, -0.4])
    assert np.allclose(t, [0.4, 0.8, 1 + 0.3 / 0.9, 1 + 0.5 / 0.9, 1 + 0.7 / 0.9, 1 + 0.9 / 0.9])


def test_thresholds_drawn_with_their_spread():
    pos, neg = draw_thresholds(np.random.default_rng(3), (200, 200), EventModel(0.25, 0.35, 0.04))
    assert pos.mean() == pytest.approx(0.25, abs=0.002) and pos.std() == pytest.approx(0.04, rel=0.03)
    assert neg.mean() == pytest.approx(0.35, abs=0.002) and neg.std() == pytest.approx(0.04, rel=0.03)
    low, _ = draw_thresholds(np.random.default_rng(3), (50, 50), EventModel(0.02, 0.2, 0.05))
    assert low.min() == pytest.approx(0.01)  # kept at MIN_THRESHOLD


def test_refractory_period_spaces_each_pixels_events():
    """A fast ramp (1000 log units/s, C 0.01: an event every 10 µs) with a 0.345 ms refractory
    period keeps each pixel's events at 10, 360, 710 µs ...: the first after each dead time."""
    times = np.array([0.0, 0.002])
    logs = np.array([0.0, 2.0])[:, None, None] * np.ones((1, 1, 2))
    model = EventModel(0.01, 0.01, 0.0, refractory=0.000345)
    events, counts = events_between(logs, times, np.full((1, 2), 0.01), np.full((1, 2), 0.01), model,
                                    np.random.default_rng(0))
    for x in (0, 1):
        t = events[events["x"] == x]["t"]
        assert np.all(np.diff(t) >= 345)
        assert np.allclose(t, np.arange(len(t)) * 350 + 10, atol=1) and len(t) == 6
    assert counts["refractory_dropped"] == 2 * 200 - len(events)
    keep = refractory_keep(np.array([0, 0, 0, 1]), np.array([0.3, 0.0, 0.1, 0.05]), 0.2)
    assert keep.tolist() == [True, True, False, True]


def test_shot_noise_rate_and_polarity():
    """A still scene with 50 Hz shot noise over 0.2 s on 40 x 30 pixels: about 12,000 events
    (Poisson), half of each polarity, at uniform times."""
    h, w, rate, span = 30, 40, 50.0, 0.2
    logs = np.zeros((2, h, w))
    events, counts = events_between(logs, np.array([0.0, span]), np.full((h, w), 0.2), np.full((h, w), 0.2),
                                    EventModel(noise_rate=rate), np.random.default_rng(5))
    mean = rate * span * h * w
    assert abs(len(events) - mean) < 5 * np.sqrt(mean)
    assert counts["noise_drawn"] == len(events)
    assert abs(events["p"].mean() - 0.5) < 0.03
    assert events["t"].min() >= 0 and events["t"].max() <= span * 1e6
    assert abs(np.median(events["t"]) - span / 2 * 1e6) < 0.03 * span * 1e6


def test_structured_array_is_tonics_layout():
    events = as_events(np.array([5, 0, 7]), np.array([3e-6, 1e-6, 2e-6]), np.array([1, 0, 1]), width=4)
    assert events.dtype.names == ("x", "y", "t", "p")
    assert events["t"].tolist() == [1, 2, 3]
    assert events[["x", "y"]].tolist() == [(0, 0), (3, 1), (1, 1)]


def _scene(x: float, angle: float, cam_x: float) -> Scene:
    rot = np.eye(4)
    rot[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    pose = rot @ np.diag([2.0, 2.0, 2.0, 1.0])
    pose[:3, 3] = [x, 0.0, 0.0]
    w2c = np.eye(4)
    w2c[0, 3] = -cam_x
    cam = Camera(8, 6, np.array([[10.0, 0, 3.5], [0, 10.0, 2.5], [0, 0, 1]]), w2c)
    obj = SceneObject("box", "box.obj", pose, 1, 1, Material((0.5, 0.5, 0.5), 0.5, 0.0))
    return Scene([obj], [Light("sun", np.eye(4), 3.0, (1, 1, 1))], cam)


def test_substep_scene_moves_at_constant_velocity():
    from simgen.pipeline.events import substep_scene
    from simgen.sensors.motion import interpolate_pose

    a, b = _scene(0.0, 0.0, 0.0), _scene(1.0, 0.6, 0.4)
    mid = substep_scene([a, b], 0.25)
    m = mid.objects[0].mesh_to_world
    assert np.allclose(m[:3, 3], [0.25, 0, 0])
    assert np.allclose(m[:3, :3], _scene(0, 0.15, 0).objects[0].mesh_to_world[:3, :3])  # rotation and scale
    assert np.allclose(mid.camera.camera_to_world[:3, 3], [0.1, 0, 0])
    assert substep_scene([a, b], 0.0).objects[0].mesh_to_world is a.objects[0].mesh_to_world
    assert np.array_equal(interpolate_pose(a.lights[0].light_to_world, b.lights[0].light_to_world, 0.5), np.eye(4))


def test_substep_scene_refuses_a_changing_mesh():
    from simgen.pipeline.events import OFF, SETTING
    from simgen.sensors.motion import check_steps

    a, b = _scene(0.0, 0.0, 0.0), _scene(1.0, 0.0, 0.0)
    b.objects[0].mesh = "other.obj"
    with pytest.raises(SimgenError, match="sensor.events: box changes more than its pose .*sensor.events=false$"):
        check_steps(a, b, 0, SETTING, OFF)


# ------------------------------------------------------------------ the frame loop, without Blender
def _events_run(out, **kw):
    from conftest import set_settings, tiny_settings
    from fake_renderer import FakeRenderer
    from simgen.pipeline import run

    s = set_settings(tiny_settings(out, frames=kw.pop("frames", 6), start=kw.pop("start", 0), width=40, height=30),
                     sequence__length=3, sensor__events=True, sensor__events_substeps=4, **kw)
    run(s, make_renderer=FakeRenderer)


def test_a_sequence_writes_each_frames_events_and_their_record(tmp_path):
    """Every frame of a sequence gets events/NNNNNN.npy (tonic's fields), timed inside its interval
    from the sequence's start; the last step's is empty; the meta records the draws and counts; the
    reader reads them; a frame rendered alone gets the same events (a pure function of its index)."""
    from simgen.io.dataset.layout import read_frame

    out = tmp_path / "run"
    _events_run(out, sensor__events_noise_rate=20.0, sensor__events_refractory=0.001)
    frame_time = 1 / 30
    moved = 0
    for i in range(6):
        frame = read_frame(out, i)
        events, meta = frame["events"], frame["meta"]["sensor"]["events"]
        assert events.dtype.names == ("x", "y", "t", "p") and events.dtype == EVENT_DTYPE
        assert meta["events"] == len(events) and meta["on"] == int(events["p"].sum())
        step = i % 3
        if step == 2:
            assert len(events) == 0 and meta["renders"] == 0
            continue
        assert meta["renders"] in (4, 5)  # N renders; the first of a sequence renders its start too
        assert meta["t_start_us"] == round(step * frame_time * 1e6) and meta["substeps"] == 4
        assert np.all((events["t"] >= meta["t_start_us"]) & (events["t"] <= meta["t_end_us"]))
        assert np.all(np.diff(events["t"]) >= 0)
        assert np.all((events["x"] < 40) & (events["y"] < 30))
        assert meta["threshold_pos"]["std"] == pytest.approx(0.03, rel=0.3) and meta["noise_drawn"] > 0
        moved += len(events) - meta["noise_drawn"] + meta["refractory_dropped"]  # the crossings' events
    assert moved, "no frame's objects fired an event (the fake renderer moves nothing?)"
    alone = tmp_path / "alone"
    _events_run(alone, start=4, frames=1, sensor__events_noise_rate=20.0, sensor__events_refractory=0.001)
    assert np.array_equal(read_frame(alone, 4)["events"], read_frame(out, 4)["events"])
    from simgen.report.validate import validate

    assert validate(out, full=True, jobs=1).ok  # simgen validate knows events/
    np.save(out / "events" / "000001.npy", np.zeros(3, np.int64))
    report = validate(out, jobs=1)
    assert not report.ok and "events/000001.npy" in report.text(out, False)


# ------------------------------------------------------------------ a render: a bar moving at known speed
def bar_recipe(lead0: float, width: float, step: float, z_top: float, height: float, albedo: tuple[float, float]):
    """A bright bar (a quad of ``albedo[1]``, ``width`` in x, 0.6 m in y, its top at ``z_top``)
    moving ``step`` metres along +x per step over dark ground (``albedo[0]``), lit by a sun
    straight down, seen by a camera ``height`` m above looking straight down (image x = world x)."""
    from conftest import recipe_module
    from simgen.optics.camera import intrinsics
    from simgen.scene.data import World

    def make_sequence(settings, catalog, rng, length):
        ground = Material((albedo[0],) * 3, 1.0, 0.0, specular=0.0)
        bright = Material((albedo[1],) * 3, 1.0, 0.0, specular=0.0)
        c2w = np.diag([1.0, -1.0, -1.0, 1.0])
        c2w[:3, 3] = [0.0, 0.0, height]
        r = settings.render
        cam = Camera(r.width, r.height, intrinsics(35.0, 36.0, r.width, r.height), np.linalg.inv(c2w))
        scenes = []
        for k in range(length):
            bar = np.diag([width, 0.6, 1.0, 1.0])
            bar[:3, 3] = [lead0 - width / 2 + k * step, 0.0, z_top]
            objects = [SceneObject("ground", catalog.ground, np.diag([20.0, 20.0, 1.0, 1.0]), 1, 0, ground),
                       SceneObject("bar", catalog.ground, bar, 2, 0, bright)]
            scenes.append(Scene(objects, [Light("sun", np.eye(4), 3.0, (1.0, 1.0, 1.0), size=0.01)], cam,
                                world=World(color=(0.0, 0.0, 0.0), strength=0.0)))
        return scenes

    return recipe_module("testrecipes.events_bar", make_sequence)


@pytest.mark.render
def test_render_of_a_moving_bar_times_its_events(tmp_path, monkeypatch):
    """A bar 8 px wide moving ~7.8 px a frame, rendered with pixel-centre sampling (filter 0.01 px):
    each pixel its leading edge crosses fires floor(ln(8) / 0.2) = 10 ON events, each its trailing
    edge crosses 10 OFF events (albedo 0.8 over 0.1 under one sun: a radiance ratio of 8), every
    one within one sub-step of the time the edge crosses the pixel centre; no other pixel fires."""
    import sys
    from conftest import set_settings, tiny_settings
    from simgen.io.dataset.layout import read_frame
    from simgen.pipeline import run

    lead0, width, step, z_top, height, substeps = 0.1, 0.26, 0.25, 0.02, 2.0, 8
    monkeypatch.setitem(sys.modules, "testrecipes.events_bar",
                        bar_recipe(lead0, width, step, z_top, height, (0.1, 0.8)))
    out = tmp_path / "bar"
    s = set_settings(tiny_settings(out, frames=2, width=64, height=48, samples=4), sequence__length=2,
                     sensor__events=True, sensor__events_substeps=substeps, sensor__events_threshold_sigma=0.0,
                     sensor__events_log_eps=1e-6, render__denoise=False, render__filter_width=0.01,
                     render__auto_exposure=False, scene__recipe="testrecipes.events_bar")
    run(s)
    frame = read_frame(out, 0)
    events, meta = frame["events"], frame["meta"]["sensor"]["events"]
    K = np.asarray(frame["meta"]["K"])
    frame_time = 1 / s.sequence.fps
    speed = step / frame_time  # m/s on the bar's top
    x_of_u = (np.arange(64) - K[0, 2]) * (height - z_top) / K[0, 0]  # each column's centre on the bar's plane
    rows = np.arange(int(K[1, 2]) - 6, int(K[1, 2]) + 7)  # well inside the bar's 0.6 m
    n_expected = int(np.floor(np.log(8.0) / 0.2))
    slack_us = frame_time / substeps * 1e6 + 0.01 / (speed * K[0, 0] / (height - z_top)) * 1e6 + 1
    checked = 0
    inside = np.isin(events["y"], rows)
    accounted = np.zeros(len(events), bool)
    for edge, polarity in ((lead0, 1), (lead0 - width, 0)):
        share = (x_of_u - edge) / step  # when (in frames) the edge crosses each column's centre
        for u in np.flatnonzero((share > 0.02) & (share < 0.98)):
            t_true = share[u] * frame_time * 1e6
            for v in rows:
                mine = events[(events["x"] == u) & (events["y"] == v)]
                accounted |= (events["x"] == u) & (events["y"] == v)
                assert len(mine) == n_expected, (u, v, len(mine))
                assert np.all(mine["p"] == polarity)
                assert np.max(np.abs(mine["t"] - t_true)) <= slack_us, (u, v, mine["t"], t_true)
                checked += 1
        for u in np.flatnonzero((share > -0.02) & (share < 1.02)):  # ambiguous columns at the ends
            accounted |= events["x"] == u
    assert checked >= 2 * 6 * len(rows)
    assert not np.any(inside & ~accounted), events[inside & ~accounted][:10]
    assert meta["renders"] == substeps + 1 and meta["events"] == len(events)


def test_the_documented_reading_of_events_runs(tmp_path):
    """docs/how-to/sensors.md's Python block, on a run's dataset: it reads frame 0's events."""
    from docblocks import ROOT

    out = tmp_path / "run"
    _events_run(out, frames=3)
    text = (ROOT / "docs" / "how-to" / "sensors.md").read_text()
    block = text.split("## Event cameras", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(block.replace('"DIR/', f'"{out}/'), scope)  # noqa: S102 (the page's own block)
    assert len(scope["events"]) > 0 and np.all(scope["on"]["p"] == 1) and scope["rate"] > 0


@pytest.mark.render
def test_a_frame_rendered_alone_gets_the_events_it_gets_in_a_run(tmp_path, monkeypatch):
    """In Blender too: frame 1's interval starts from a render of a moved scene in a whole run (the
    end of frame 0's interval, kept) and from a built one alone; its events are the same."""
    import sys
    from conftest import set_settings, tiny_settings
    from simgen.io.dataset.layout import read_frame
    from simgen.pipeline import run

    monkeypatch.setitem(sys.modules, "testrecipes.events_bar", bar_recipe(0.1, 0.26, 0.12, 0.02, 2.0, (0.1, 0.8)))

    def events_of(out, start, frames):
        run(set_settings(tiny_settings(out, frames=frames, start=start, width=64, height=48, samples=4),
                         sequence__length=3, sensor__events=True, sensor__events_substeps=4,
                         render__auto_exposure=False, scene__recipe="testrecipes.events_bar"))
        return read_frame(out, 1)["events"]

    whole, alone = events_of(tmp_path / "whole", 0, 3), events_of(tmp_path / "alone", 1, 1)
    assert len(whole) > 100 and np.array_equal(whole, alone)


def test_streaming_shards_carry_each_frames_events(tmp_path):
    """output.formats=[webdataset,parquet]: a tar sample holds events.npy as written; a Parquet row
    holds them as a list of (x, y, t, p) structs (its length the frame's), the same records."""
    import io
    import tarfile

    import pyarrow.parquet as pq

    out = tmp_path / "run"
    _events_run(out, frames=3, output__formats=["coco", "webdataset", "parquet"])
    table = pq.read_table(next((out / "parquet").glob("*.parquet")))
    rows = dict(zip(table.column("frame").to_pylist(), table.column("events").to_pylist()))
    with tarfile.open(next((out / "webdataset").glob("*.tar"))) as tar:
        tarred = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.name.endswith(".events.npy")}
    assert len(rows) == 3 and len(tarred) == 3
    for i in range(3):
        events = np.load(out / "events" / f"{i:06d}.npy")
        assert [tuple(r.values()) for r in rows[i]] == events.tolist()
        (raw,) = [b for name, b in tarred.items() if name.startswith(f"{i:06d}")]
        assert np.array_equal(np.load(io.BytesIO(raw)), events)
    assert len(rows[0]) > 0 and rows[2] == []


def test_a_mesh_that_changes_between_steps_is_refused_in_one_line(tmp_path, monkeypatch):
    """A sequence whose object changes its mesh between two steps (as a person's or a cloth's does) has
    no pose to interpolate: the run ends in one line naming the object and the fix."""
    import sys
    from conftest import recipe_module, set_settings, tiny_settings
    from fake_renderer import FakeRenderer
    from simgen.optics.camera import intrinsics, look_at
    from simgen.pipeline import run

    def make_sequence(settings, catalog, rng, length):
        cam = Camera(40, 30, intrinsics(35.0, 36.0, 40, 30), look_at(np.array([0.0, -1.0, 1.0]), np.zeros(3)))
        grey = Material((0.5, 0.5, 0.5), 0.5, 0.0)
        meshes = [catalog.asset("box/cube").path, catalog.asset("ball/ball").path]
        return [Scene([SceneObject("shape", meshes[k % 2], np.eye(4), 1, 1, grey)],
                      [Light("sun", np.eye(4), 3.0, (1, 1, 1))], cam) for k in range(length)]

    monkeypatch.setitem(sys.modules, "testrecipes.events_morph", recipe_module("testrecipes.events_morph", make_sequence))
    s = set_settings(tiny_settings(tmp_path / "run", frames=2, width=40, height=30), sequence__length=2,
                     sensor__events=True, sensor__events_substeps=2, scene__recipe="testrecipes.events_morph")
    with pytest.raises(SimgenError) as e:
        run(s, make_renderer=FakeRenderer)
    assert str(e.value).startswith("sensor.events: shape changes more than its pose between steps 0 and 1")
    assert str(e.value).endswith("set sensor.events=false")
    assert "\n" not in str(e.value)
