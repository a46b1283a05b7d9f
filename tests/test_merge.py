"""``simgen merge OUT IN...``: parts of one run give what one run writes; different runs give
one training set with one category list, unique ids and each frame's source; files are
hard links, not copies."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from conftest import assert_same_dataset, simgen_cli, set_settings, tiny_settings
from simgen.io.dataset.layout import read_frame
from simgen.pipeline import run

pytestmark = pytest.mark.render
MESHES = Path(__file__).resolve().parents[1] / "assets" / "meshes"


def small(out: Path, **kw):
    return set_settings(tiny_settings(out, frames=kw.pop("frames", 4), width=64, height=48, samples=1), **kw)


def test_shards_in_folders_of_their_own_merge_into_what_one_run_writes(tmp_path):
    run(small(tmp_path / "whole", frames=6, sequence__length=2))
    parts = []
    for i in range(3):
        parts.append(tmp_path / f"part{i}")
        run(small(parts[-1], frames=6, sequence__length=2, shard__count=3, shard__index=i))
    done = simgen_cli("merge", str(tmp_path / "merged"), *map(str, parts), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "parts of one run" in done.stdout and "6 frame(s)" in done.stdout
    assert_same_dataset(tmp_path / "whole", tmp_path / "merged")
    a, b = tmp_path / "part0" / "images" / "000000.png", tmp_path / "merged" / "images" / "000000.png"
    assert os.stat(a).st_ino == os.stat(b).st_ino  # a hard link, not a copy


def test_different_runs_merge_into_one_training_set(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run(small(a, frames=2))  # the bundled catalog: box 1, ball 2, can 3, ...
    run(small(b, frames=4, sequence__length=2, objects__catalog=None,  # widget 1, ball 2
              objects__dirs={"widget": str(MESHES / "box"), "ball": str(MESHES / "ball")}))
    done = simgen_cli("merge", str(tmp_path / "m"), str(a), str(b), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    m = tmp_path / "m"
    info = json.loads((m / "dataset.json").read_text())
    names = [c["name"] for c in info["categories"]]
    assert names[:2] == ["box", "ball"] and names[-1] == "widget" and len(names) == len(set(names))
    widget = info["categories"][-1]["id"]
    assert [s["path"] for s in info["merged_from"]] == [str(a), str(b)] and info["frames"] == [0, 1, 2, 3, 4, 5]
    coco = COCO(str(m / "coco.json"))
    assert sorted(coco.getImgIds()) == [1, 2, 3, 4, 5, 6]
    ids = [x["id"] for x in coco.dataset["annotations"]]
    assert len(ids) == len(set(ids)) > 10
    widgets = 0
    for index in range(6):
        frame = read_frame(m, index)
        meta = frame["meta"]
        assert meta["index"] == index and meta["source"] == {"dataset": str(a if index < 2 else b),
                                                               "index": index if index < 2 else index - 2}
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=index + 1)):
            mask = mask_utils.decode(ann["segmentation"]).astype(bool)
            assert np.all(frame["semantic"][mask] == ann["category_id"])  # maps follow the new ids
            assert np.all(frame["instance"][mask] == ann["simgen"]["instance_id"])
            widgets += ann["category_id"] == widget
    assert widgets > 0
    # b's two sequences stay sequences, with ids of their own; tracks follow them
    assert [read_frame(m, i)["meta"]["sequence"] for i in range(2, 6)] == [2, 2, 3, 3]
    assert (m / "flow_forward" / "000002.npy").exists() and not (m / "flow_forward" / "000003.npy").exists()
    assert os.stat(b / "instance" / "000000.png").st_ino == os.stat(m / "instance" / "000002.png").st_ino
    assert os.stat(b / "semantic" / "000000.png").st_ino != os.stat(m / "semantic" / "000002.png").st_ino


def test_merge_refuses_what_it_cannot_do(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    for args, message in [([str(tmp_path / "new"), str(tmp_path)], "is not a simgen dataset"),
                          ([str(tmp_path / "full"), str(tmp_path)], "is not empty")]:
        done = simgen_cli("merge", *args, cwd=tmp_path)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_merge_refuses_categories_whose_keypoints_mean_different_things(tmp_path):
    from simgen import SimgenError
    from simgen.io.dataset.merge import merge

    run(small(tmp_path / "box", frames=1, output__labels=["keypoints"], output__keypoints="box"))
    run(small(tmp_path / "far", frames=1, output__labels=["keypoints"], output__keypoints="farthest"))
    run(small(tmp_path / "none", frames=1))
    for other in ("far", "none"):
        with pytest.raises(SimgenError, match=r"cannot merge: category 'box' has keypoints \['front_top_right'") as e:
            merge(tmp_path / f"out_{other}", [tmp_path / "box", tmp_path / other])
        assert "\n" not in str(e.value)
    merge(tmp_path / "same", [tmp_path / "box", tmp_path / "box"])  # the same keypoints merge
    cats = json.loads((tmp_path / "same" / "dataset.json").read_text())["categories"]
    assert all(len(c["keypoints"]) == 9 for c in cats)
