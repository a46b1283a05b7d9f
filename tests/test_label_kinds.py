"""The label-kind registry and the optional kinds it proves: visibility and amodal masks.

Amodal masks (what each annotated object would cover with nothing in front of it) are
compared with a ray cast of that object's mesh alone through every pixel centre
(tests/groundtruth.py, trimesh + numpy, independent of simgen's rasterizer).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_settings
from groundtruth import amodal_raycast, incidence_cos, raycast_frame, uniform_neighbourhood
from simgen import SimgenError
from simgen.io.dataset.layout import read_frame
from simgen.labels.amodal import _clip_near, rasterize
from simgen.labels.kinds import LABEL_KINDS, resolve
from simgen.pipeline import run

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 3


@pytest.fixture(scope="module")
def amodal_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("amodal")
    s = tiny_settings(root, frames=FRAMES, width=128, height=96, samples=2)
    s.output.labels = ["visibility", "amodal", "distance"]
    s.output.previews = True
    s.scene.distractors = [2, 4]  # unannotated occluders
    run(s)
    return root


def test_distance_is_the_ray_cast_length_from_the_camera_centre(amodal_run):
    """output.labels=[distance]: at each pixel centre the Euclidean distance from the camera
    centre to the surface the ray cast hits (in the world, not from the depth label)."""
    for index in range(FRAMES):
        frame = read_frame(amodal_run, index)
        got, depth, inst = frame["distance"], frame["depth"], frame["instance"]
        assert got.dtype == np.float32 and got.shape == depth.shape
        gt = raycast_frame(amodal_run, index)
        same = (inst == gt["instance"]) & (gt["instance"] > 0)
        cos = incidence_cos(np.array(frame["meta"]["K"]), gt["normal"])
        facing = same & (cos > 0.1)  # float32 rounding grows as 1/cos(incidence), as for depth
        assert facing.mean() > 0.2
        rel = np.abs(got[facing] - gt["distance"][facing]) / gt["distance"][facing]
        assert rel.max() < 1e-5, rel.max()
        assert np.isinf(got[inst == 0]).all() and (got[inst > 0] >= depth[inst > 0]).all()
    assert (amodal_run / "previews" / "distance").is_dir()


def test_registry_resolves_core_and_named_kinds():
    assert [k.name for k in resolve([])] == ["rgb", "instance", "semantic", "depth", "normal"]
    assert [k.name for k in resolve(["amodal"])][-1] == "amodal"
    with pytest.raises(ValueError, match=r"unknown label kind\(s\) \['nope'\]; choose from"):
        resolve(["nope"])


def test_every_kind_is_in_the_dataset_reference():
    """docs/dataset.md's label-kind table is generated from the registry and current."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_dataset_docs", ROOT / "scripts" / "gen_dataset_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    text = (ROOT / "docs" / "dataset.md").read_text()
    assert gen.update(text) == text, "docs/dataset.md is stale: run python scripts/gen_dataset_docs.py"
    for name in LABEL_KINDS:
        assert re.search(rf"\| `{name}` \|", text)


def test_unknown_label_kind_is_refused_before_anything_is_written(tmp_path):
    s = tiny_settings(tmp_path / "out", frames=1, width=64, height=48, samples=1)
    s.output.labels = ["amodl"]
    with pytest.raises(SimgenError, match=r"output.labels=\['amodl'\]: unknown label kind"):
        run(s)
    assert not (tmp_path / "out").exists()


def test_amodal_masks_match_a_ray_cast_of_each_object_alone(amodal_run):
    partial = 0
    for index in range(FRAMES):
        frame = read_frame(amodal_run, index)
        amodal, inst = frame["amodal"], frame["instance"]
        truth = amodal_raycast(amodal_run, index)
        got = dict(zip(amodal["instance_ids"].tolist(), amodal["masks"]))
        assert set(got) == {i for i, m in truth.items() if m.any()}
        for iid, mask in got.items():
            assert mask.dtype == bool and mask.shape == inst.shape
            assert np.all(mask[inst == iid]), "every visible pixel is in the amodal mask"
            ref = truth[iid] | (inst == iid)
            inner = uniform_neighbourhood(ref.astype(np.int64))
            assert np.array_equal(mask[inner], ref[inner]), f"frame {index} object {iid}: off a mask edge"
            assert np.mean(mask == ref) >= 0.999, f"frame {index} object {iid}"
        annotations = json.loads((amodal_run / "meta" / f"{index:06d}.json").read_text())["coco"]["annotations"]
        for a in annotations:
            full = int(got[a["simgen"]["instance_id"]].sum())
            assert a["simgen"]["amodal_area"] == full and a["simgen"]["visibility"] == pytest.approx(a["area"] / full, abs=1e-12)
            assert 0.0 < a["simgen"]["visibility"] <= 1.0
            partial += a["simgen"]["visibility"] < 0.95
    assert partial >= 1, "the run should hold at least one occluded object"
    coco = json.loads((amodal_run / "coco.json").read_text())
    assert all("visibility" in a["simgen"] for a in coco["annotations"])
    assert sorted(p.name for p in (amodal_run / "previews" / "amodal").iterdir()) == \
        [f"{i:06d}.png" for i in range(FRAMES)]


def test_rasterizer_edges_and_near_plane():
    """Pixel centres on a triangle's edge are in; the part nearer than the clip plane is cut."""
    K = np.array([[10.0, 0, 4.5], [0, 10.0, 4.5], [0, 0, 1]])
    # a triangle at z = 1 whose projection has corners exactly on pixel centres (2,2), (7,2), (2,7)
    tri = np.array([[-0.25, -0.25, 1.0], [0.25, -0.25, 1.0], [-0.25, 0.25, 1.0]])
    mask = rasterize(tri, np.array([[0, 1, 2]]), K, 10, 10, near=0.01)
    v, u = np.nonzero(mask)
    assert mask.sum() == 21 and u.min() == 2 and v.min() == 2 and np.all(u + v <= 9)
    # a triangle crossing z = 0.5 keeps only its far part
    crossing = np.array([[0.0, 0.0, 0.2], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    parts = _clip_near(crossing, 0.5)
    assert parts and all(np.all(p[:, 2] >= 0.5 - 1e-12) for p in parts)
    assert _clip_near(crossing, 2.0) == [] and len(_clip_near(crossing, 0.1)) == 1


def test_export_formats_are_a_registry(tmp_path):
    from simgen.io.formats.exporters import EXPORTERS, resolve as resolve_formats

    assert [e.name for e in resolve_formats(["kitti", "flo"], flow=True)] == ["flo", "kitti"]  # registry order
    assert [e.name for e in resolve_formats(["coco"], flow=False)] == ["coco"]
    with pytest.raises(ValueError, match=r"unknown flow format\(s\) \['coco'\]; choose from \['flo', 'kitti'\]"):
        resolve_formats(["coco"], flow=True)
    assert set(EXPORTERS) >= {"coco", "flo", "kitti"}
    s = tiny_settings(tmp_path / "none", frames=1, width=64, height=48, samples=1)
    s.output.formats = []
    summary = run(s)
    assert not (tmp_path / "none" / "coco.json").exists() and summary.images == 1
    s.sequence.formats = ["jpeg"]
    with pytest.raises(SimgenError, match=r"sequence.formats=\['jpeg'\]: unknown flow format"):
        run(s)
