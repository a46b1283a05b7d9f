"""Frame i is a pure function of (config, seed, i); runs into one folder add up."""

from __future__ import annotations

import json

import pytest
from pycocotools.coco import COCO

from conftest import tiny_settings
from simgen import SimgenError
from simgen.pipeline import run

pytestmark = pytest.mark.render
LABEL_FILES = ("instance/{}.png", "semantic/{}.png", "depth/{}.npy", "normal/{}.npy", "meta/{}.json")


def _bytes(root, index):
    name = f"{index:06d}"
    return {f: (root / f.format(name)).read_bytes() for f in LABEL_FILES}


def test_frame_alone_equals_frame_in_run(rendered, tmp_path):
    run(tiny_settings(tmp_path, start=2, frames=1))
    assert sorted(p.name for p in (tmp_path / "meta").iterdir()) == ["000002.json"]
    assert _bytes(tmp_path, 2) == _bytes(rendered, 2)  # byte-identical labels


def test_same_seed_same_labels_other_seed_other_scene(rendered, tmp_path):
    run(tiny_settings(tmp_path / "again", frames=1))
    assert _bytes(tmp_path / "again", 0) == _bytes(rendered, 0)
    run(tiny_settings(tmp_path / "other", frames=1, seed=8))
    a = json.loads((rendered / "meta/000000.json").read_bytes())
    b = json.loads((tmp_path / "other/meta/000000.json").read_bytes())
    assert a["world_to_camera"] != b["world_to_camera"]
    assert [o["mesh_to_world"] for o in a["objects"]] != [o["mesh_to_world"] for o in b["objects"]]
    assert b["seed"] == 8 and b["index"] == 0


def test_shards_and_resume_share_one_dataset(tmp_path):
    s = tiny_settings(tmp_path, frames=2, width=64, height=48, samples=1)
    first = run(s)
    assert first.rendered == [0, 1]
    again = run(s)  # a resumed run keeps what is complete on disk
    assert again.rendered == [] and again.skipped == [0, 1]
    shard = run(tiny_settings(tmp_path, start=2, frames=2, width=64, height=48, samples=1))
    assert shard.rendered == [2, 3] and shard.frames_on_disk == 4
    coco = COCO(str(tmp_path / "coco.json"))
    assert sorted(coco.getImgIds()) == [1, 2, 3, 4]
    ids = [a["id"] for a in coco.dataset["annotations"]]
    assert len(ids) == len(set(ids))
    assert json.loads((tmp_path / "dataset.json").read_text())["frames"] == [0, 1, 2, 3]


def test_other_config_into_same_folder_is_refused(tmp_path):
    run(tiny_settings(tmp_path, frames=1, width=64, height=48, samples=1))
    with pytest.raises(SimgenError, match="another config"):
        run(tiny_settings(tmp_path, frames=1, width=64, height=48, samples=1, seed=99))


def test_sequence_frame_alone_equals_frame_in_run(tmp_path):
    """Frame 4 = sequence 1, step 1 of 3: alone it renders its neighbours for the flow."""
    def settings(root, **kw):
        s = tiny_settings(root, width=64, height=48, samples=1, **kw)
        s.sequence.length = 3
        s.sequence.formats = ["flo", "kitti"]
        return s
    full = run(settings(tmp_path / "full", frames=6))
    alone = run(settings(tmp_path / "alone", start=4, frames=1))
    assert full.rendered == list(range(6)) and alone.rendered == [4]
    assert sorted(p.name for p in (tmp_path / "alone" / "meta").iterdir()) == ["000004.json"]
    files = LABEL_FILES + ("flow_forward/{}.npy", "flow_backward/{}.npy", "flow_forward_valid/{}.png",
                           "flow_backward_valid/{}.png", "flow_forward/{}.flo", "flow_forward_kitti/{}.png")
    for f in files:
        name = f.format("000004")
        assert (tmp_path / "alone" / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name
    meta = json.loads((tmp_path / "full" / "meta" / "000004.json").read_text())
    assert (meta["sequence"], meta["step"]) == (1, 1)
    coco = COCO(str(tmp_path / "full" / "coco.json"))
    tracks = {}
    for a in coco.dataset["annotations"]:
        tracks.setdefault(a["simgen"]["track_id"], set()).add(a["image_id"])
    assert any(len(images) > 1 for images in tracks.values())  # objects keep their track through a sequence
    assert all(t // 65536 == (min(i) - 1) // 3 for t, i in tracks.items())  # track ids are per sequence
