"""Point tracks (output.labels=[tracks], simgen.labels.tracks) and TAP-Vid's files, judged by what
simgen's own code does not compute: each track's position against OpenCV's projection
(cv2.projectPoints, through the calibrated lens too) of its object point moved by the poses the
frames record; its visibility against a ray cast from the camera through that position (the
meshes under models/, tests/groundtruth.py); its motion against the forward flow; the TAP-Vid
pickle read as TAP-Vid's README describes it and scored with TAP-Vid's metrics as written in
its paper."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import simgen_cli
from groundtruth import cast_rays, uniform_neighbourhood

pytestmark = pytest.mark.render

STEPS = 5
RUN = [f"sequence.length={STEPS}", f"frames={2 * STEPS}", "seed=3", "render.width=96",
       "render.height=72", "render.samples=1", "render.denoise_prefilter=fast", "output.labels=[tracks]",
       "output.track_points=300", "output.track_background=0.3"]
DIST = np.array([-0.3, 0.09, 4e-4, -3e-4, -0.01])
K_LENS = np.array([[70.0, 0.0, 48.3], [0.0, 70.4, 35.2], [0.0, 0.0, 1.0]])


def render(tmp_path_factory, name: str, *args: str) -> Path:
    out = tmp_path_factory.mktemp("tracks") / name
    r = simgen_cli(f"output.dir={out}", *RUN, *args, cwd=out.parent)
    assert r.returncode == 0, r.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def pinhole(tmp_path_factory) -> Path:
    return render(tmp_path_factory, "pinhole", "scene=flying", "output.formats=[coco,tapvid]")


@pytest.fixture(scope="module")
def lens(tmp_path_factory) -> Path:
    from test_lens_render import calibration_file

    folder = tmp_path_factory.mktemp("calibration")
    cal = calibration_file(folder / "wide.yaml", K_LENS, 96, 72, DIST)
    return render(tmp_path_factory, "lens", f"camera.calibration={cal}")  # the tabletop: flying reads no lens


def tracks_of(root: Path) -> list[dict[str, np.ndarray]]:
    files = sorted((root / "tracks").glob("*.npz"))
    assert [f.stem for f in files] == ["000000", "000001"]  # one file per sequence
    out = []
    for f in files:
        with np.load(f, allow_pickle=False) as data:
            out.append({k: data[k] for k in data.files})
    return out


def metas_of(root: Path, frames: np.ndarray) -> list[dict]:
    return [json.loads((root / "meta" / f"{int(i):06d}.json").read_text()) for i in frames]


def world_points(t: dict, meta: dict) -> np.ndarray:
    """Each track's object point in the world at a frame, by the pose its meta records."""
    poses = {o["instance_id"]: np.array(o["mesh_to_world"]) for o in meta["objects"]}
    out = np.empty((len(t["instance_id"]), 3))
    for k, (iid, p) in enumerate(zip(t["instance_id"], t["points_object"].astype(float))):
        m = poses[int(iid)]
        out[k] = m[:3, :3] @ p + m[:3, 3]
    return out


@pytest.mark.parametrize("which", ["pinhole", "lens"])
def test_tracks_are_opencvs_projections_of_their_points_moved_by_the_recorded_poses(which, request):
    root = request.getfixturevalue(which)
    checked = 0
    for t in tracks_of(root):
        assert t["uv"].shape == (len(t["query_step"]), STEPS, 2) and len(t["query_step"]) == 300
        for step, meta in enumerate(metas_of(root, t["frames"])):
            w2c = np.array(meta["world_to_camera"])
            K = np.array(meta["K"])
            dist = np.zeros(5) if which == "pinhole" else DIST
            if which == "lens":
                assert meta["lens"]["model"] == "radtan"
                K = np.array(meta["lens"]["K"])
            world = world_points(t, meta)
            camera = world @ w2c[:3, :3].T + w2c[:3, 3]
            np.testing.assert_allclose(t["points_camera"][:, step], camera, rtol=1e-5, atol=1e-5)
            want, _ = cv2.projectPoints(world, cv2.Rodrigues(w2c[:3, :3])[0], w2c[:3, 3], K, dist)
            got = t["uv"][:, step]
            front = camera[:, 2] > 0.05
            if which == "lens":  # where the polynomial still maps outwards (OpenCV projects past its fold)
                r = np.hypot(*(camera[:, :2] / np.where(front, camera[:, 2], 1.0)[:, None]).T)
                front &= r < 0.8
            err = np.abs(got[front] - want[front, 0])
            assert err.max() < 1e-3, err.max()
            checked += int(front.sum())
            assert np.isnan(got[camera[:, 2] <= 0]).all()
    assert checked > 2000


def test_each_query_point_lies_where_its_frame_saw_its_object(pinhole):
    for t in tracks_of(pinhole):
        metas = metas_of(pinhole, t["frames"])
        n = np.arange(len(t["query_step"]))
        q = t["query_step"]
        u, v = t["query_uv"].astype(int).T
        np.testing.assert_array_equal(t["query_uv"], np.round(t["query_uv"]))  # pixel centres
        np.testing.assert_allclose(t["uv"][n, q], t["query_uv"], atol=1e-4)
        assert t["visible"][n, q].all()
        for k in n:
            frame = int(t["frames"][q[k]])
            depth = np.load(pinhole / "depth" / f"{frame:06d}.npy")
            ids = cv2.imread(str(pinhole / "instance" / f"{frame:06d}.png"), cv2.IMREAD_UNCHANGED)
            assert ids[v[k], u[k]] == t["instance_id"][k]
            assert abs(depth[v[k], u[k]] - t["points_camera"][k, q[k], 2]) < 1e-5 * depth[v[k], u[k]]
        categories = {o["instance_id"]: o["category_id"] for o in metas[0]["objects"]}
        np.testing.assert_array_equal(t["category_id"], [categories[int(i)] for i in t["instance_id"]])


def test_visibility_is_a_ray_cast_from_the_camera_to_the_point_away_from_occlusion_edges(pinhole):
    """A track is visible where a ray cast from the camera through its exact position meets
    nothing more than the rule's tolerance (1 % of z) in front of it. Judged wherever no occlusion
    edge lies within a pixel of it: none of the 3x3 pixels around its nearest one shows another
    object, and the depth there has no jump (second difference above 1 % of z: a fold of the
    object hiding itself); a position off the image or behind the camera is always judged."""
    from simgen.labels.tracks import HIDDEN_TOLERANCE

    agree = total = hidden = shown = 0
    for t in tracks_of(pinhole):
        for step, meta in enumerate(metas_of(pinhole, t["frames"])):
            frame = int(t["frames"][step])
            ids = cv2.imread(str(pinhole / "instance" / f"{frame:06d}.png"), cv2.IMREAD_UNCHANGED).astype(np.int64)
            depth = np.load(pinhole / "depth" / f"{frame:06d}.npy").astype(float)
            uv = t["uv"][:, step].astype(float)
            z = t["points_camera"][:, step, 2].astype(float)
            h, w = ids.shape
            inside = np.isfinite(uv).all(1) & (z > 0) & (uv[:, 0] >= -0.5) & (uv[:, 0] < w - 0.5) \
                & (uv[:, 1] >= -0.5) & (uv[:, 1] < h - 0.5)
            hit = cast_rays(pinhole, meta, np.where(inside, uv[:, 0], 0.0), np.where(inside, uv[:, 1], 0.0))
            truth = inside & (hit["depth"] >= (1 - HIDDEN_TOLERANCE) * z)
            px = np.clip(np.floor(np.nan_to_num(uv[:, 0]) + 0.5), 1, w - 2).astype(int)
            py = np.clip(np.floor(np.nan_to_num(uv[:, 1]) + 0.5), 1, h - 2).astype(int)
            jump = np.maximum(np.abs(depth[py, px - 1] + depth[py, px + 1] - 2 * depth[py, px]),
                              np.abs(depth[py - 1, px] + depth[py + 1, px] - 2 * depth[py, px]))
            edge = ~uniform_neighbourhood(ids, 1)[py, px] | ~(jump <= 0.01 * z)
            judged = ~inside | ~edge
            got = t["visible"][:, step]
            agree += int((got == truth)[judged].sum())
            total += int(judged.sum())
            hidden += int((judged & ~truth & inside).sum())
            shown += int((judged & truth).sum())
    assert agree == total, (total - agree, total)
    assert shown > 1200 and hidden > 30  # both kinds were judged


def test_a_tracks_step_is_the_forward_flow_at_its_query_pixel_and_chained_flow_follows_it(pinhole):
    one = chained = 0
    for t in tracks_of(pinhole):
        frames = t["frames"]
        for k in range(len(t["query_step"])):
            q = int(t["query_step"][k])
            if q + 1 >= STEPS or not t["visible"][k, q + 1]:
                continue
            u, v = t["query_uv"][k].astype(int)
            flow = np.load(pinhole / "flow_forward" / f"{int(frames[q]):06d}.npy")
            np.testing.assert_allclose(t["uv"][k, q] + flow[v, u], t["uv"][k, q + 1], atol=2e-3)
            one += 1
            # chained: bilinear flow at the moving position, while the track stays visible and off edges
            p = t["query_uv"][k].astype(float)
            for s in range(q, STEPS - 1):
                if not t["visible"][k, s + 1]:
                    break
                f = np.load(pinhole / "flow_forward" / f"{int(frames[s]):06d}.npy")
                ids = cv2.imread(str(pinhole / "instance" / f"{int(frames[s]):06d}.png"), cv2.IMREAD_UNCHANGED)
                x0, y0 = int(np.floor(p[0])), int(np.floor(p[1]))
                if not (0 <= x0 < f.shape[1] - 1 and 0 <= y0 < f.shape[0] - 1) or \
                        len(np.unique(ids[y0:y0 + 2, x0:x0 + 2])) > 1:
                    break
                a, b = p[0] - x0, p[1] - y0
                cell = f[y0:y0 + 2, x0:x0 + 2].astype(float)
                p = p + (cell[0, 0] * (1 - a) * (1 - b) + cell[0, 1] * a * (1 - b)
                         + cell[1, 0] * (1 - a) * b + cell[1, 1] * a * b)
                assert np.linalg.norm(p - t["uv"][k, s + 1]) < 0.5
                chained += 1
    assert one > 200 and chained > 300


def tapvid_metrics(query: np.ndarray, gt_occ, gt_tracks, pred_occ, pred_tracks) -> dict[str, float]:
    """TAP-Vid's metrics (Doersch et al. 2022, section 3; query_mode 'first'): over the frames
    after each track's query frame, occlusion accuracy, the fraction of visible points within
    1, 2, 4, 8, 16 px, and the Jaccard index at those thresholds, averaged."""
    n, length = gt_occ.shape
    evaluate = np.arange(length)[None, :] > query[:, None]
    visible, pred_visible = ~gt_occ, ~pred_occ
    out = {"occlusion_accuracy": float(((gt_occ == pred_occ) & evaluate).sum() / evaluate.sum())}
    within_all, jaccard_all = [], []
    for thr in (1, 2, 4, 8, 16):
        within = np.sum((pred_tracks - gt_tracks) ** 2, axis=-1) < thr ** 2
        within_all.append(((within & visible & evaluate).sum()) / (visible & evaluate).sum())
        tp = (within & visible & pred_visible & evaluate).sum()
        fp = (pred_visible & (gt_occ | ~within) & evaluate).sum()
        jaccard_all.append(tp / ((visible & evaluate).sum() + fp))
    out["average_pts_within_thresh"] = float(np.mean(within_all))
    out["average_jaccard"] = float(np.mean(jaccard_all))
    return out


def test_the_tapvid_pickle_is_tapvids_layout_and_scores_perfectly_against_itself(pinhole):
    files = sorted((pinhole / "tapvid").glob("*.pkl"))
    assert [f.stem for f in files] == ["000000", "000001"]
    for f, t in zip(files, tracks_of(pinhole)):
        with open(f, "rb") as fh:
            data = pickle.load(fh)  # TAP-Vid DAVIS layout: {video name: {video, points, occluded}}
        assert list(data) == [f.stem]
        video, points, occluded = data[f.stem]["video"], data[f.stem]["points"], data[f.stem]["occluded"]
        assert video.dtype == np.uint8 and video.shape == (STEPS, 72, 96, 3)
        assert points.dtype == np.float32 and points.shape == (300, STEPS, 2)
        assert occluded.dtype == bool and occluded.shape == (300, STEPS)
        for s, frame in enumerate(t["frames"]):
            rgb = cv2.cvtColor(cv2.imread(str(pinhole / "images" / f"{int(frame):06d}.png")), cv2.COLOR_BGR2RGB)
            np.testing.assert_array_equal(video[s], rgb)
        # normalized raster coordinates: x * W is the raster position, pixel u's centre at u + 0.5
        raster = points * np.array([96, 72])
        seen = ~occluded
        np.testing.assert_allclose(raster[seen] - 0.5, t["uv"][seen], atol=1e-3)
        np.testing.assert_array_equal(occluded, ~t["visible"])
        # Kubric MOVi's fields in the tracks file: query (t, y, x) and targets (x, y), raster pixels
        np.testing.assert_allclose(t["query_points"][:, 0], t["query_step"])
        np.testing.assert_allclose(t["query_points"][:, 1:], t["query_uv"][:, ::-1] + 0.5)
        np.testing.assert_allclose(t["target_points"][seen], t["uv"][seen] + 0.5, atol=1e-4)
        first = np.argmax(seen, axis=1)
        scores = tapvid_metrics(first, occluded, raster, occluded, raster)
        assert scores == {"occlusion_accuracy": 1.0, "average_pts_within_thresh": 1.0, "average_jaccard": 1.0}
        worse = tapvid_metrics(first, occluded, raster, occluded, raster + 3.0)  # a metric that can fail
        assert worse["average_jaccard"] < 0.7


def test_sampling_options_draw_where_and_when_they_say(pinhole):
    """The tracks of the rendered dataset drawn again with other output.track_* (no new render)."""
    from simgen.io.formats.tracks import sequence_tracks
    from simgen.labels.tracks import TrackParams

    sequence = 0
    frames = [(f"{i:06d}", meta) for i, meta in enumerate(metas_of(pinhole, range(STEPS)))]
    again = sequence_tracks(pinhole, sequence, frames, TrackParams(points=300, background=0.3, seed=3))
    on_disk = tracks_of(pinhole)[0]
    for key, value in again.items():  # the run's own tracks: the same draw
        np.testing.assert_array_equal(value, on_disk[key], err_msg=key)
    at2 = sequence_tracks(pinhole, sequence, frames, TrackParams(points=100, query_step=2, background=0.0))
    assert (at2["query_step"] == 2).all() and (at2["category_id"] > 0).all() and len(at2["query_step"]) == 100
    ids = cv2.imread(str(pinhole / "instance" / "000002.png"), cv2.IMREAD_UNCHANGED)
    objects = {o["instance_id"] for o in frames[2][1]["objects"] if o["category_id"] > 0}
    pixels = {i: int((ids == i).sum()) for i in objects if (ids == i).any()}
    got = dict(zip(*np.unique(at2["instance_id"], return_counts=True)))
    assert set(got) == set(pixels) and len(pixels) > 1  # every object the frame shows, nothing else
    most = max(got.values())
    for i, n in got.items():  # as evenly as the objects allow: all of a small one's pixels, else a full share
        assert n == pixels[i] or n >= most - 1, (i, n, pixels[i], got)
    bg = sequence_tracks(pinhole, sequence, frames, TrackParams(points=80, background=1.0))
    assert (bg["category_id"] == 0).all()
    often = sequence_tracks(pinhole, sequence, frames, TrackParams(points=50, min_visible=0.8))
    assert len(often["query_step"]) == 50 and (often["visible"].mean(axis=1) >= 0.8).all()
    plain = sequence_tracks(pinhole, sequence, frames, TrackParams(points=400, seed=1))
    assert (plain["visible"].mean(axis=1) < 0.8).any()  # without the minimum some are seen less
    assert not np.array_equal(plain["query_uv"][:300], on_disk["query_uv"])  # another seed, other points


@pytest.mark.parametrize("args, expect", [
    (["sequence.length=1"], "output.labels=[tracks] follows points through a sequence"),
    (["sequence.length=4", "output.track_query_step=4"], "output.track_query_step=4 is outside the sequence"),
    (["sequence.length=4", "output.labels=[]", "output.formats=[tapvid]"], "the tapvid format is made from the tracks"),
])
def test_tracks_that_cannot_be_made_are_refused_in_one_line(args, expect, tmp_path):
    from simgen import SimgenError
    from simgen.compose.settings import to_settings
    from simgen.compose.store import compose

    with pytest.raises(SimgenError) as e:
        to_settings(compose([f"output.dir={tmp_path}", "output.labels=[tracks]", *args]))
    assert expect in str(e.value) and "\n" not in str(e.value)


def test_the_documented_reading_of_a_tracks_file_runs(pinhole):
    from docblocks import ROOT

    text = (ROOT / "docs" / "dataset.md").read_text()
    block = text.split("## Point tracks", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(block.replace('"DIR/', f'"{pinhole}/'), scope)  # noqa: S102 (the page's own block)
    t = tracks_of(pinhole)[0]
    np.testing.assert_array_equal(scope["first"], t["uv"][t["visible"][:, 0], 0])
    assert len(scope["first"]) > 20


def test_points_one_kind_of_surface_cannot_take_go_to_the_other_and_are_spread_evenly():
    from simgen.labels.tracks import View, sample_queries, spread

    assert spread({1: 2, 2: 100, 3: 100}, 100) == {1: 2, 2: 49, 3: 49}
    assert spread({1: 3}, 10) == {1: 3} and spread({}, 5) == {}
    K = np.array([[50.0, 0, 15.5], [0, 50.0, 11.5], [0, 0, 1]])
    view = View(K=K, world_to_camera=np.eye(4), width=32, height=24, mesh_to_world={9: np.eye(4), 4: np.eye(4)})
    depth = np.full((24, 32), 2.0, np.float32)
    normal = np.zeros((24, 32, 3), np.float32)
    normal[..., 2] = -1
    ground = np.full((24, 32), 9, np.uint16)  # the background alone
    q = sample_queries(np.random.default_rng(0), 0, view, depth, ground, normal, 7, 3, {9})
    assert len(q) == 10 and (q.instance == 9).all()
    some = ground.copy()
    some[:2, :2] = 4  # an object of 4 pixels
    q = sample_queries(np.random.default_rng(0), 0, view, depth, some, normal, 7, 3, {9})
    assert len(q) == 10 and (q.instance == 4).sum() == 4
    np.testing.assert_allclose(q.points[:, 2], 2.0)  # lifted to the plane z = 2


def test_inspect_draws_the_first_sequences_tracks_where_they_are(pinhole, tmp_path):
    import re

    from simgen.labels.preview import id_colors, tracks_preview
    from simgen.report.inspect import TRACK_STEPS, inspect

    page, _ = inspect(pinhole, tmp_path / "report.html", frames=2)
    html = page.read_text()
    section = html.split('id="tracks"', 1)[1].split("</div>\n<h2>", 1)[0]
    assert len(re.findall(r'<img src="data:image/jpeg;base64,', section)) == TRACK_STEPS
    t = tracks_of(pinhole)[0]
    rgb = np.zeros((72, 96, 3), np.uint8)
    k = int(np.flatnonzero(t["visible"][:, 2])[0])  # a track visible at step 2, drawn alone without its trail
    one = tracks_preview(rgb, t["uv"][k:k + 1], t["visible"][k:k + 1], 2, trail=0)
    u, v = t["uv"][k, 2]
    assert tuple(one[int(round(v)), int(round(u))]) == tuple(id_colors([1])[0])  # a filled dot of its colour
    assert 4 < (one.reshape(-1, 3).any(axis=1)).sum() < 40  # and nothing else


def test_tracks_through_a_rig_of_several_cameras_are_refused_and_a_stereo_pairs_left_camera_is_tracked(tmp_path):
    import dataclasses

    from simgen import SimgenError
    from simgen.compose.settings import check_tracks, to_settings
    from simgen.compose.store import compose

    s = to_settings(compose([f"output.dir={tmp_path}", "output.labels=[tracks]", "sequence.length=3",
                             "camera.rig=stereo"]))  # accepted: one frame per step, the right image a label
    with pytest.raises(SimgenError, match="camera.rig=calibration renders every camera of the file"):
        check_tracks(dataclasses.replace(s, camera=dataclasses.replace(s.camera, rig="calibration")))


def test_the_track_parameters_default_to_the_declared_settings():
    """TrackParams (what a dataset's config gives the tracks' builder) and output.track_* agree."""
    from simgen.config import OutputConfig
    from simgen.labels.tracks import TrackParams

    declared, params = OutputConfig(), TrackParams()
    assert (params.points, params.query_step, params.background, params.min_visible) == (
        declared.track_points, declared.track_query_step, declared.track_background, declared.track_min_visible)
