"""``simgen validate``: a clean rendered dataset passes every check (--full included), and
each corruption a dataset can suffer is reported, by kind, with exit status 1; bad usage
exits with 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import simgen_cli
from test_bad_inputs import run_in_process
from simgen.io.files import read_png, write_json, write_png

pytestmark = pytest.mark.render

RUN = ["frames=4", "sequence.length=2", "output.labels=[visibility,amodal,lights]", "render.width=64",
       "render.height=48", "render.samples=2", "render.device=cpu", "seed=3"]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    """4 frames, 2 sequences of 2 (flow), with visibility, amodal masks and the lights' shares."""
    root = tmp_path_factory.mktemp("validate") / "ds"
    out = simgen_cli(*RUN, f"output.dir={root}", cwd=root.parent)
    assert out.returncode == 0, out.stderr
    return root


def _coco(root: Path, edit) -> None:
    coco = json.loads((root / "coco.json").read_text())
    edit(coco)
    write_json(root / "coco.json", coco)


def _npy(rel: str, edit):
    def apply(root: Path) -> None:
        a = np.load(root / rel)
        np.save(root / rel, edit(a))
    return apply


def _bbox_off_by_one(c: dict) -> None:
    c["annotations"][0]["bbox"][2] += 1


def _unknown_category(c: dict) -> None:
    c["annotations"][1]["category_id"] = 99


def _duplicate_id(c: dict) -> None:
    c["annotations"][1]["id"] = c["annotations"][0]["id"]


def _wrong_file_name(c: dict) -> None:
    c["images"][2]["file_name"] = "images/000999.png"


def _area(c: dict) -> None:
    c["annotations"][2]["area"] += 5


def _truncate(rel: str):
    def apply(root: Path) -> None:
        data = (root / rel).read_bytes()
        (root / rel).write_bytes(data[: len(data) // 2])
    return apply


def _nan(a):
    a = a.copy()
    a[3, 5] = np.nan
    return a


def _negative(a):
    a = a.copy()
    a[0, 0] = -1.0
    return a


def _steal_pixel(root: Path) -> None:
    """One pixel of an annotated instance gets another id: the COCO mask no longer matches."""
    coco = json.loads((root / "coco.json").read_text())
    from pycocotools import mask as mask_util
    a = next(a for a in coco["annotations"] if a["image_id"] == 1 and a["area"] > 4)
    m = mask_util.decode({"size": a["segmentation"]["size"], "counts": a["segmentation"]["counts"].encode()})
    inst = read_png(root / "instance/000000.png")
    v, u = np.argwhere(m.astype(bool))[0]
    inst[v, u] = 0
    write_png(root / "instance/000000.png", inst)


def _semantic_wrong(root: Path) -> None:
    sem = read_png(root / "semantic/000001.png")
    sem[sem != 0] = np.where(sem[sem != 0] == 1, 2, 1).astype(sem.dtype)
    write_png(root / "semantic/000001.png", sem)


def _meta_width(root: Path) -> None:
    meta = json.loads((root / "meta/000002.json").read_text())
    meta["width"] += 1
    write_json(root / "meta/000002.json", meta)


def _drop_meta(root: Path) -> None:  # dataset.json still lists frame 3
    (root / "meta/000003.json").unlink()


def _normals(a):
    return a * 2


def _flow_nan(a):
    a = a.copy()
    a[...] = np.nan
    return a


CASES = [
    # name, corruption, problem kind in the report, only found with --full
    ("missing depth", lambda r: (r / "depth/000001.npy").unlink(), "missing file", False),
    ("missing image", lambda r: (r / "images/000003.png").unlink(), "missing file", False),
    ("missing flow", lambda r: (r / "flow_forward/000000.npy").unlink(), "missing file", False),
    ("missing amodal", lambda r: (r / "amodal/000002.npz").unlink(), "missing file", False),
    ("truncated image PNG", _truncate("images/000002.png"), "unreadable file", False),
    ("truncated instance PNG", _truncate("instance/000001.png"), "unreadable file", False),
    ("truncated depth", _truncate("depth/000000.npy"), "unreadable file", False),
    ("unreadable meta", lambda r: (r / "meta/000001.json").write_text("{"), "unreadable file", False),
    ("bbox off by one", lambda r: _coco(r, _bbox_off_by_one), "COCO bbox", False),
    ("area off", lambda r: _coco(r, _area), "COCO area", False),
    ("unknown category", lambda r: _coco(r, _unknown_category), "unknown category", False),
    ("duplicate annotation id", lambda r: _coco(r, _duplicate_id), "duplicate annotation id", False),
    ("image file_name", lambda r: _coco(r, _wrong_file_name), "COCO image", False),
    ("mask vs instance map", _steal_pixel, "COCO mask vs instance map", False),
    ("NaN depth", _npy("depth/000003.npy", _nan), "depth not finite", False),
    ("negative depth", _npy("depth/000000.npy", _negative), "depth not finite", False),
    ("wrong flow shape", _npy("flow_backward/000001.npy", lambda a: np.zeros(a.shape[:2] + (3,), a.dtype)),
     "wrong shape or dtype", False),
    ("a light's share missing", _npy("lights/000001.npy", lambda a: a[1:]), "wrong shape or dtype", False),
    ("depth as float64", _npy("depth/000002.npy", lambda a: a.astype(np.float64)), "wrong shape or dtype", False),
    ("meta size", _meta_width, "meta", False),
    ("dataset.json frames", _drop_meta, "dataset.json", False),
    ("semantic vs COCO", _semantic_wrong, "COCO category vs semantic map", True),
    ("normals not unit", _npy("normal/000001.npy", _normals), "normal", True),
    ("flow NaN where valid", _npy("flow_forward/000002.npy", _flow_nan), "flow", True),
]


def _validate(root: Path, *flags: str):
    return simgen_cli("validate", str(root), "--jobs", "1", *flags, cwd=root.parent)


@pytest.fixture
def validate_here(monkeypatch, capfd):
    """``simgen validate ROOT --jobs 1 FLAGS`` run in this process (a child process costs about 2 s to start;
    the clean dataset's and the usage tests run the command itself)."""
    def run(root: Path, *flags: str) -> SimpleNamespace:
        code, out, err, _ = run_in_process(["validate", str(root), "--jobs", "1", *flags], root.parent, monkeypatch, capfd)
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)
    return run


def test_a_clean_dataset_passes_every_check(clean):
    for flags in ((), ("--full",)):
        out = _validate(clean, *flags)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "4 frame(s), no problems" in out.stdout


@pytest.mark.parametrize("name,corrupt,kind,full_only", CASES, ids=[c[0] for c in CASES])
def test_each_corruption_is_reported(clean, tmp_path, name, corrupt, kind, full_only, validate_here):
    root = tmp_path / "ds"
    shutil.copytree(clean, root)
    corrupt(root)
    out = validate_here(root, "--full")
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"\n  {kind}: " in out.stdout, out.stdout
    assert len(out.stdout.splitlines()) < 60  # a short report
    default = validate_here(root)
    if full_only:
        assert f"\n  {kind}: " not in default.stdout, default.stdout
    else:
        assert default.returncode == 1 and f"\n  {kind}: " in default.stdout, default.stdout


def test_many_problems_are_summed_up_not_listed(clean, tmp_path, validate_here):
    root = tmp_path / "ds"
    shutil.copytree(clean, root)
    for p in (root / "depth").glob("*.npy"):
        np.save(p, _nan(np.load(p)))
    out = validate_here(root)
    assert out.returncode == 1
    assert "  depth not finite: 4\n" in out.stdout
    assert "frame 0: depth/000000.npy: 1 NaN" in out.stdout


def test_bad_usage_exits_with_2(tmp_path):
    assert _validate(tmp_path / "nothing").returncode == 2
    (tmp_path / "empty").mkdir()
    out = _validate(tmp_path / "empty")
    assert out.returncode == 2 and "not a simgen dataset" in out.stderr
    assert simgen_cli("validate", cwd=tmp_path).returncode == 2
    assert simgen_cli("validate", str(tmp_path), "--bogus", cwd=tmp_path).returncode == 2


def test_help_mentions_inspect_and_validate(tmp_path):
    text = simgen_cli("--help", cwd=tmp_path).stdout
    assert "simgen inspect /data/run1" in text and "simgen validate /data/run1" in text
    for sub in ("inspect", "validate"):
        out = simgen_cli(sub, "--help", cwd=tmp_path)
        assert out.returncode == 0 and f"usage: simgen {sub}" in out.stdout
