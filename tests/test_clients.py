"""Third-party clients load simgen's exports with their default arguments: FiftyOne's COCO
importer (coco.json) and Ultralytics' dataset checker and loader (DIR/yolo*/data.yaml).

They cannot share simgen's environment (Ultralytics pulls opencv-python, which needs libGL and
replaces opencv-python-headless; FiftyOne brings a MongoDB server), so they run in
``.venv-clients``, built beforehand by ``scripts/client_env.sh`` (a few minutes the first time;
.ci/run does it; ``SIMGEN_CLIENTS_VENV`` puts it elsewhere): the tests install nothing, they
ask the script whether it is built and up to date (``--check``) and are skipped when not, or
fail with CI=true. The clients run offline: every name lookup
of a host other than this machine is refused and reported (the test fails on any), FiftyOne's
telemetry is off (FIFTYONE_DO_NOT_TRACK) and its database lives in a temp folder, Ultralytics
runs with YOLO_OFFLINE=1, its settings in a temp YOLO_CONFIG_DIR and the font it would
download (Arial.ttf) pre-placed there (in its Ultralytics/ subfolder) (a copy of matplotlib's DejaVuSans).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from simgen.io.files import read_json
from conftest import require
from test_exports import POSE_CATEGORIES, POSE_SIZE, SPLITS, export_pose, pose_dataset, ring_settings

pytestmark = [pytest.mark.clients, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("SIMGEN_CLIENTS_VENV", REPO / ".venv-clients"))

OFFLINE = r'''
import socket, sys
_lookup, ATTEMPTS = socket.getaddrinfo, []
def _local_only(host, *a, **k):
    if host not in (None, "localhost", "127.0.0.1", "::1", "0.0.0.0", socket.gethostname()):
        ATTEMPTS.append(str(host))
        raise OSError(f"offline test: lookup of {host} refused")
    return _lookup(host, *a, **k)
socket.getaddrinfo = _local_only
'''

FIFTYONE = OFFLINE + r'''
import json
import fiftyone as fo
root = sys.argv[1]
out = {}
for name in sys.argv[2:]:
    ds = fo.Dataset.from_dir(dataset_type=fo.types.COCODetectionDataset, data_path=root,
                             labels_path=f"{root}/{name}.json")
    fields = [f for f, kind in ds.get_field_schema().items()
              if getattr(kind, "document_type", None) is fo.Detections]  # detections, segmentations
    out[name] = {field: {s.filepath.rsplit("/", 1)[-1]: [
        {"label": d.label, "box": d.bounding_box, "pixels": int(d.mask.sum()) if d.mask is not None else None,
         "simgen": d["simgen"]} for d in (s[field].detections if s[field] else [])]
        for s in ds} for field in fields}
    ds.delete()
print("RESULT " + json.dumps({"datasets": out, "lookups": ATTEMPTS}))
'''

ULTRALYTICS = OFFLINE + r'''
import json, os
from ultralytics.data.utils import check_det_dataset
from ultralytics.data.dataset import YOLODataset
out = {}
for yaml_path, task in zip(sys.argv[1::2], sys.argv[2::2]):
    data = check_det_dataset(yaml_path)
    splits = {}
    for split in ("train", "val", "test"):
        if not data.get(split) or not any(os.scandir(data[split])):  # a split no frame fell in
            continue
        ds = YOLODataset(img_path=data[split], data=data, task=task)
        splits[split] = {lb["im_file"].rsplit("/", 1)[-1]: {"cls": lb["cls"].ravel().tolist(),
                         "bboxes": lb["bboxes"].tolist(), "segments": len(lb["segments"])} for lb in ds.labels}
    out[yaml_path] = {"nc": data["nc"], "names": {int(k): v for k, v in data["names"].items()}, "splits": splits}
print("RESULT " + json.dumps({"checked": out, "lookups": ATTEMPTS}))
'''

ULTRALYTICS_POSE = OFFLINE + r'''
import json, os
from ultralytics.cfg import get_cfg
from ultralytics.data.augment import RandomFlip, v8_transforms
from ultralytics.data.utils import check_det_dataset
from ultralytics.data.dataset import YOLODataset
data = check_det_dataset(sys.argv[1])
out = {"kpt_shape": data["kpt_shape"], "flip_idx": data["flip_idx"], "splits": {}, "flipped": {}}
for split in ("train", "val"):
    ds = YOLODataset(img_path=data[split], data=data, task="pose")
    out["splits"][split] = {lb["im_file"].rsplit("/", 1)[-1]: {"cls": lb["cls"].ravel().tolist(),
                            "keypoints": lb["keypoints"].tolist()} for lb in ds.labels}
    for i in range(len(ds)):  # Ultralytics' own left-right flip, with the export's flip_idx
        label = ds.get_image_and_label(i)
        name = label["im_file"].rsplit("/", 1)[-1]
        label = RandomFlip(p=1.0, direction="horizontal", flip_idx=data["flip_idx"])(label)
        out["flipped"][name] = label["instances"].keypoints.tolist()
hyp = get_cfg()  # the training defaults: fliplr=0.5, kept only when data.yaml has a flip_idx
v8_transforms(ds, 64, hyp)
out["fliplr"] = hyp.fliplr
print("RESULT " + json.dumps({"checked": out, "lookups": ATTEMPTS}))
'''


@pytest.fixture(scope="module")
def client_python() -> Path:
    """The client environment's python, built beforehand by scripts/client_env.sh (checked, not built)."""
    env = {**os.environ, "SIMGEN_CLIENTS_VENV": str(VENV)}
    r = subprocess.run(["bash", str(REPO / "scripts" / "client_env.sh"), "--check"], env=env, capture_output=True,
                       text=True, timeout=60)
    require(f"the client environment {VENV} (FiftyOne, Ultralytics, at the script's pins)",
            r.returncode == 0, "bash scripts/client_env.sh")
    return VENV / "bin" / "python"


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    from simgen.pipeline import run

    root = tmp_path_factory.mktemp("clients")
    run(ring_settings(root))
    return root


def _run(python: Path, code: str, args: list[str], env: dict[str, str]) -> dict:
    r = subprocess.run([str(python), "-c", code, *args], env={**os.environ, **env}, capture_output=True,
                       text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    result = json.loads(next(ln for ln in r.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    assert result["lookups"] == [], f"the client tried to reach {result['lookups']}"
    return result


def _coco_truth(root: Path, name: str) -> dict[str, list[dict]]:
    coco = read_json(root / f"{name}.json")
    names = {c["id"]: c["name"] for c in coco["categories"]}
    out = {}
    for im in coco["images"]:
        anns = sorted((a for a in coco["annotations"] if a["image_id"] == im["id"]), key=lambda a: a["id"])
        out[Path(im["file_name"]).name] = [{"label": names[a["category_id"]], "bbox": a["bbox"], "area": a["area"],
                                            "w": im["width"], "h": im["height"], "simgen": a["simgen"]}
                                           for a in anns]
    return out


def test_fiftyone_imports_coco_with_default_arguments(client_python, exported, tmp_path):
    names = ["coco", *(f"coco_{s}" for s in SPLITS)]
    result = _run(client_python, FIFTYONE, [str(exported), *names],
                  {"FIFTYONE_DO_NOT_TRACK": "true", "FIFTYONE_DATABASE_DIR": str(tmp_path / "db")})
    for name in names:
        fields, truth = result["datasets"][name], _coco_truth(exported, name)
        if not any(truth.values()):  # a split without objects: FiftyOne adds no label field
            assert all(not any(v.values()) for v in fields.values()) and len(fields.get("detections", truth)) \
                == len(truth), name
            continue
        assert sorted(fields) == ["detections", "segmentations"], name  # FiftyOne's default label types
        for field, got in fields.items():
            assert sorted(got) == sorted(truth)
            for image, anns in truth.items():
                dets = got[image]
                assert len(dets) == len(anns)
                for d, a in zip(dets, anns):  # FiftyOne keeps the file's order
                    x, y, w, h = a["bbox"]
                    assert d["label"] == a["label"] and d["simgen"] == a["simgen"]
                    np.testing.assert_allclose(d["box"], [x / a["w"], y / a["h"], w / a["w"], h / a["h"]],
                                               atol=1e-9)
                    if field == "segmentations":
                        assert d["pixels"] == a["area"]  # the RLE mask, whole
    assert sum(len(v) for v in result["datasets"]["coco"]["detections"].values()) > 0


def test_ultralytics_checks_and_loads_the_yolo_exports(client_python, exported, tmp_path):
    config = tmp_path / "ultralytics"
    config.mkdir()
    font = next((VENV / "lib").glob("python3*/site-packages/matplotlib/mpl-data/fonts/ttf/DejaVuSans.ttf"))
    (config / "Ultralytics").mkdir()  # Ultralytics' USER_CONFIG_DIR under YOLO_CONFIG_DIR
    (config / "Ultralytics" / "Arial.ttf").write_bytes(font.read_bytes())  # what check_font would download
    args = [str(exported / "yolo" / "data.yaml"), "detect", str(exported / "yolo_seg" / "data.yaml"), "segment"]
    result = _run(client_python, ULTRALYTICS, args, {"YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(config)})
    coco = read_json(exported / "coco.json")
    truth = _coco_truth(exported, "coco")
    split_of = {Path(im["file_name"]).name: im["simgen"]["split"] for im in coco["images"]}
    classes = {c["name"]: k for k, c in enumerate(coco["categories"])}
    for yaml_path, task in zip(args[::2], args[1::2]):
        checked = result["checked"][yaml_path]
        assert checked["nc"] == len(coco["categories"])
        assert checked["names"] == {str(k): c["name"] for k, c in enumerate(coco["categories"])}  # JSON keys
        seen = {}
        for split, labels in checked["splits"].items():
            for image, lb in labels.items():
                assert split_of[image] == split
                seen[image] = lb
        assert sorted(seen) == sorted(truth)
        for image, anns in truth.items():
            lb = seen[image]
            assert lb["cls"] == [classes[a["label"]] for a in anns]
            # segment: the box of the polygon, which runs through boundary pixel centres (1 px less)
            tol = 1e-6 if task == "detect" else 1.0
            for (cx, cy, bw, bh), a in zip(lb["bboxes"], anns):
                x, y, w, h = a["bbox"]
                np.testing.assert_allclose([cx * a["w"], cy * a["h"], bw * a["w"], bh * a["h"]],
                                           [x + w / 2, y + h / 2, w, h], atol=tol + 1e-4)
            assert lb["segments"] == (len(anns) if task == "segment" else 0)


def test_ultralytics_loads_the_pose_export(client_python, tmp_path):
    """The yolo_pose export of a dataset with keypoints (fabricated to the keypoints contract:
    test_exports.pose_dataset): Ultralytics' checker accepts data.yaml, its pose loader gives back
    every keypoint (normalized, pixel-edge convention) and its visibility, its mirror keeps each
    keypoint on the mirrored pixel, and its training transforms keep the left-right flip."""
    truth = pose_dataset(tmp_path / "ds")
    config = tmp_path / "ultralytics"
    (config / "Ultralytics").mkdir(parents=True)
    font = next((VENV / "lib").glob("python3*/site-packages/matplotlib/mpl-data/fonts/ttf/DejaVuSans.ttf"))
    (config / "Ultralytics" / "Arial.ttf").write_bytes(font.read_bytes())
    result = _run(client_python, ULTRALYTICS_POSE, [str(export_pose(tmp_path / "ds"))],
                  {"YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(config)})["checked"]
    assert result["kpt_shape"] == [9, 3] and result["flip_idx"] == list(range(9))
    assert result["fliplr"] == 0.5
    w, h = POSE_SIZE
    classes = {c["id"]: k for k, c in enumerate(POSE_CATEGORIES)}
    seen = 0
    for i, anns in truth.items():
        name = f"{i:06d}.png"
        got = result["splits"]["val" if i == 2 else "train"][name]
        assert got["cls"] == [classes[a["category_id"]] for a in anns]
        for kp, flipped, a in zip(got["keypoints"], result["flipped"][name], anns):
            want = np.array(a["keypoints"]).reshape(-1, 3)
            kp, flipped = np.array(kp), np.array(flipped)
            assert kp.shape == (9, 3)
            n, on = len(want), want[:, 2] > 0
            assert kp[:n, 2].tolist() == want[:, 2].tolist() and (kp[n:] == 0).all()
            np.testing.assert_allclose(kp[:n][on, :2] * [w, h] - 0.5, want[on, :2], atol=1e-4)
            # mirrored: simgen's x goes to W - 1 - x, the centre of the mirrored pixel
            np.testing.assert_allclose(flipped[:n][on, 0] * w - 0.5, w - 1 - want[on, 0], atol=1e-4)
            np.testing.assert_allclose(flipped[:n][on, 1], kp[:n][on, 1], atol=1e-6)
            seen += 1
    assert seen == 6
