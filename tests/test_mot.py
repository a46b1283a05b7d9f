"""Tracking files of a dataset of sequences. The ``mot`` format (simgen.io.formats.mot), read as
MOT Challenge documents its files and as TrackEval's MOTChallenge reader finds them: seqmaps,
seqinfo.ini with configparser, gt.txt as comma-separated values (frame, id, bb_left, bb_top,
width, height, flag, class, visibility; frames, ids and pixels numbered from 1), judged against
the same frames' COCO annotations, box for box, and scored against itself with CLEAR-MOT's MOTA
as MOT Challenge defines it. coco.json's COCO-video fields, read as TAO's and mmtracking's
CocoVID layouts describe them."""

from __future__ import annotations

import configparser
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from conftest import simgen_cli

pytestmark = pytest.mark.render

STEPS = 4


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mot") / "data"
    r = simgen_cli(f"output.dir={out}", "scene=flying", f"sequence.length={STEPS}", f"frames={3 * STEPS}", "seed=2",
                   "render.width=96", "render.height=72", "render.samples=1", "render.denoise_prefilter=fast",
                   "output.labels=[visibility]", "output.formats=[coco,mot]", cwd=out.parent)
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def read_sequences(root: Path) -> dict[str, dict]:
    """{split/seq: {info, gt rows}} of every sequence the seqmaps list (MOT's layout)."""
    out = {}
    for seqmap in sorted((root / "mot" / "seqmaps").glob("*.txt")):
        bench = seqmap.stem  # SIMGEN-<split>
        names = seqmap.read_text().split()
        assert names[0] == "name"
        for name in names[1:]:
            folder = root / "mot" / bench / name
            ini = configparser.ConfigParser()
            ini.read(folder / "seqinfo.ini")
            with open(folder / "gt" / "gt.txt", newline="") as f:
                rows = [[float(x) for x in row] for row in csv.reader(f)]
            out[f"{bench}/{name}"] = {"info": ini["Sequence"], "rows": rows, "folder": folder,
                                      "simgen": ini["simgen"]}
    return out


def test_each_sequence_is_a_mot_sequence_whose_boxes_are_its_coco_boxes(dataset):
    coco = json.loads((dataset / "coco.json").read_text())
    metas = {int(p.stem): json.loads(p.read_text()) for p in (dataset / "meta").glob("*.json")}
    seqs = read_sequences(dataset)
    assert len(seqs) == 3
    names = {c["id"]: c["name"] for c in coco["categories"]}
    for key, s in seqs.items():
        info = s["info"]
        sequence = int(key.split("/")[1])
        split = key.split("/")[0].removeprefix("SIMGEN-")
        frames = sorted(i for i, m in metas.items() if m["sequence"] == sequence)
        assert [metas[i]["split"] for i in frames] == [split] * STEPS
        assert (info["name"], info["imDir"], info["imExt"]) == (f"{sequence:06d}", "img1", ".png")
        assert (int(info["seqLength"]), int(info["imWidth"]), int(info["imHeight"])) == (STEPS, 96, 72)
        assert list(info) == ["name", "imdir", "framerate", "seqlength", "imwidth", "imheight", "imext"]  # MOT's order
        for step, i in enumerate(frames, start=1):
            assert (s["folder"] / "img1" / f"{step:06d}.png").read_bytes() == (dataset / "images" / f"{i:06d}.png").read_bytes()
        want = sorted([metas[i]["step"] + 1, a["simgen"]["instance_id"], a["bbox"][0] + 1, a["bbox"][1] + 1,
                       a["bbox"][2], a["bbox"][3], 1, 1, round(a["simgen"]["visibility"], 6)]
                      for a in coco["annotations"] for i in frames if a["image_id"] == i + 1)
        np.testing.assert_allclose(np.array(sorted(s["rows"])), np.array(want), atol=1e-6)
        assert len(want) > 4
        objects = {o["instance_id"]: names[o["category_id"]] for o in metas[frames[0]]["objects"] if o["category_id"]}
        assert s["simgen"]["categories"] == " ".join(f"{i}:{objects[i]}" for i in sorted(objects))


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes (x, y, w, h) a (N, 4) against b (M, 4)."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, :2] + a[:, None, 2:], b[None, :, :2] + b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    return inter / (np.prod(a[:, 2:], -1)[:, None] + np.prod(b[:, 2:], -1)[None, :] - inter)


def mota(gt: list[list[float]], tracker: list[list[float]]) -> float:
    """CLEAR-MOT's MOTA = 1 - (misses + false positives + identity switches) / ground-truth boxes,
    boxes matched per frame at IoU >= 0.5 (Hungarian), a match kept from the last frame first."""
    misses = fps = switches = 0
    last: dict[int, int] = {}
    for frame in sorted({int(r[0]) for r in gt} | {int(r[0]) for r in tracker}):
        g = [r for r in gt if int(r[0]) == frame]
        t = [r for r in tracker if int(r[0]) == frame]
        matched = 0
        if g and t:
            overlap = iou(np.array([r[2:6] for r in g]), np.array([r[2:6] for r in t]))
            keep = np.array([[last.get(int(a[1])) == int(b[1]) for b in t] for a in g])
            rows, cols = linear_sum_assignment(-(overlap + keep * 10.0 * (overlap >= 0.5)))
            for i, j in zip(rows, cols):
                if overlap[i, j] >= 0.5:
                    matched += 1
                    gid, tid = int(g[i][1]), int(t[j][1])
                    switches += gid in last and last[gid] != tid
                    last[gid] = tid
        misses += len(g) - matched
        fps += len(t) - matched
    return 1 - (misses + fps + switches) / len(gt)


def test_the_ground_truth_scores_perfectly_against_itself_and_a_swap_does_not(dataset):
    for s in read_sequences(dataset).values():
        assert mota(s["rows"], s["rows"]) == 1.0
    rows = max((s["rows"] for s in read_sequences(dataset).values()), key=len)
    ids = sorted({int(r[1]) for r in rows})
    assert len(ids) > 1
    swapped = [[r[0], ids[1] if r[1] == ids[0] else ids[0] if r[1] == ids[1] else r[1], *r[2:]]
               if r[0] > 2 else r for r in rows]  # two tracks' ids swapped from frame 3 on
    assert mota(rows, swapped) < 1.0


def test_mot_without_the_visibility_label_is_refused_in_one_line(tmp_path):
    from simgen import SimgenError
    from simgen.compose.settings import to_settings
    from simgen.compose.store import compose

    with pytest.raises(SimgenError) as e:
        to_settings(compose([f"output.dir={tmp_path}", "output.formats=[coco,mot]"]))
    assert "the mot format is made from the visibility label kind" in str(e.value) and "\n" not in str(e.value)


def test_coco_of_sequences_has_coco_videos_fields_as_tao_and_cocovid_read_them(dataset):
    """TAO's layout (videos with neg/not-exhaustive categories, tracks, images' video_id and
    frame_index, annotations' track_id and video_id) and mmtracking's CocoVID (images' 0-based
    frame_id), checked against each frame's meta; the per-split files hold their split's."""
    coco = json.loads((dataset / "coco.json").read_text())
    metas = {int(p.stem): json.loads(p.read_text()) for p in (dataset / "meta").glob("*.json")}
    videos = {v["id"]: v for v in coco["videos"]}
    tracks = {t["id"]: t for t in coco["tracks"]}
    assert sorted(videos) == [1, 2, 3]
    frame_of_image = {}
    for im in coco["images"]:
        meta = metas[im["id"] - 1]
        assert (im["video_id"], im["frame_id"], im["frame_index"]) == (meta["sequence"] + 1, meta["step"], meta["step"])
        assert videos[im["video_id"]]["name"] == f"{meta['sequence']:06d}"
        assert (videos[im["video_id"]]["width"], videos[im["video_id"]]["height"]) == (im["width"], im["height"])
        frame_of_image[im["id"]] = im
    shown: dict[int, set] = {}
    for a in coco["annotations"]:
        im = frame_of_image[a["image_id"]]
        assert a["video_id"] == im["video_id"] and a["track_id"] == a["simgen"]["track_id"]
        t = tracks[a["track_id"]]
        assert (t["category_id"], t["video_id"]) == (a["category_id"], a["video_id"])  # one category per track
        shown.setdefault(a["video_id"], set()).add(a["category_id"])
    assert {a["track_id"] for a in coco["annotations"]} == set(tracks)
    ids = {c["id"] for c in coco["categories"]}
    for v in videos.values():
        assert set(v["neg_category_ids"]) == ids - shown[v["id"]] and v["not_exhaustive_category_ids"] == []
    for split_file in dataset.glob("coco_*.json"):
        part = json.loads(split_file.read_text())
        assert {v["id"] for v in part.get("videos", [])} == {im["video_id"] for im in part["images"]}
        assert {t["id"] for t in part.get("tracks", [])} == {a["track_id"] for a in part["annotations"]}


def test_coco_of_single_frames_has_no_video_fields(rendered):
    coco = json.loads((rendered / "coco.json").read_text())
    assert "videos" not in coco and "tracks" not in coco
    assert not any("video_id" in im for im in coco["images"]) and not any("track_id" in a for a in coco["annotations"])
