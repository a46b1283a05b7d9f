"""simgen.torch: the Dataset's tensors against the files on disk and coco.json, transforms that
move boxes, masks and dense maps together, and a few steps of a detector trained from scratch.

The ground truth is read independently of simgen's readers (PIL / OpenCV / numpy /
pycocotools over the files), and boxes are checked against coco.json's [x, y, w, h] and
against boxes recomputed from the (flipped) masks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from simgen import SimgenError



@pytest.fixture(scope="module")
def torch():
    """torch, imported by the tests that use it only (it takes seconds: not at collection, in
    every worker); skipped where the optional extra is not installed."""
    try:
        import torch
        import torchvision  # noqa: F401
    except ImportError as e:
        pytest.skip(f"torch/torchvision cannot be imported ({e}); pip install -e '.[torch]'")
    return torch

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- without torch


def test_only_simgen_torch_imports_torch():
    """Nothing but simgen.torch imports torch or torchvision (statically), and importing the
    library and the CLI loads neither (so simgen works without the extra). The one exception,
    simgen.fit.kid, imports them inside the functions that fit.objective=kid runs."""
    from tests.test_layout import imports_of, module_name

    offenders = {}
    for path in sorted((ROOT / "simgen").rglob("*.py")) + sorted((ROOT / "scenes").rglob("*.py")):
        m = module_name(path)
        if m == "simgen.torch" or m.startswith("simgen.torch."):
            continue
        if m == "simgen.experiment.yolo_trainer":  # a script run by another interpreter (Ultralytics' torch)
            continue
        if m == "simgen.fit.kid":  # only when chosen (fit.objective=kid); the import check below proves it
            continue
        if m in ("simgen.people", "simgen.sampling.people") or m.startswith("simgen.people."):  # [people], lazily
            continue
        bad = sorted(i for i in imports_of(path, m) if i.split(".")[0] in ("torch", "torchvision"))
        if bad:
            offenders[m] = bad
    assert offenders == {}
    code = ("import sys, simgen, simgen.cli, simgen.pipeline, simgen.io, simgen.labels, simgen.fit.runner, "
            "simgen.fit.kid; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sequence_ds(tmp_path_factory) -> Path:
    """One sequence of 3 steps (tabletop, moving camera) at 96x72, 2 samples: frames with flow."""
    from simgen.pipeline import run
    from simgen.compose.settings import validate
    from tests.conftest import tiny_settings

    root = tmp_path_factory.mktemp("torch_seq")
    s = tiny_settings(root, frames=3, width=96, height=72, samples=2, seed=3)
    s.sequence.length = 3
    run(validate(s))
    return root


def _png(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def _boxes_of(masks: np.ndarray) -> np.ndarray:
    """XYXY pixel-edge boxes of (N, H, W) masks, by explicit loops over the set pixels."""
    out = []
    for m in masks:
        ys, xs = np.nonzero(m)
        out.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return np.array(out, np.float32).reshape(-1, 4)


# ---------------------------------------------------------------- the samples


def test_samples_equal_the_files_and_coco(torch, rendered):
    from pycocotools import mask as mask_util
    from torchvision import tv_tensors

    from simgen.torch import SimgenDataset

    ds = SimgenDataset(rendered)
    coco = json.loads((rendered / "coco.json").read_text())
    cats = {c["id"] for c in coco["categories"]}
    assert {c["id"] for c in ds.categories} == cats and ds.num_classes == max(cats) + 1
    assert len(ds) == len(coco["images"]) == 4
    n_boxes = 0
    for i in range(len(ds)):
        image, t = ds[i]
        name = f"{t['frame_index']:06d}"
        img_rec = next(im for im in coco["images"] if im["file_name"] == f"images/{name}.png")
        assert t["image_id"] == img_rec["id"]
        assert isinstance(image, tv_tensors.Image) and image.dtype == torch.uint8
        rgb = np.asarray(Image.open(rendered / "images" / f"{name}.png").convert("RGB"))
        assert np.array_equal(image.permute(1, 2, 0).numpy(), rgb)

        inst = _png(rendered / "instance" / f"{name}.png")
        h, w = inst.shape
        masks, boxes, labels = t["masks"].numpy(), t["boxes"], t["labels"].numpy()
        assert isinstance(t["masks"], tv_tensors.Mask) and masks.shape == (len(labels), h, w)
        assert isinstance(boxes, tv_tensors.BoundingBoxes) and boxes.format.value == "XYXY"
        assert tuple(boxes.canvas_size) == (h, w) and labels.dtype == np.int64
        for k, iid in enumerate(t["instance_ids"].tolist()):
            assert np.array_equal(masks[k].astype(bool), inst == iid)
        # coco.json's annotations of the image, matched by their decoded mask (standard fields only)
        anns = [a for a in coco["annotations"] if a["image_id"] == t["image_id"]]
        assert len(anns) == len(labels)
        for a in anns:
            m = mask_util.decode(a["segmentation"]).astype(bool)
            k = [j for j in range(len(labels)) if np.array_equal(masks[j].astype(bool), m)]
            assert len(k) == 1
            x, y, bw, bh = a["bbox"]
            assert boxes[k[0]].tolist() == [x, y, x + bw, y + bh]
            assert labels[k[0]] == a["category_id"]
            assert t["area"][k[0]].item() == a["area"]
        assert np.array_equal(boxes.numpy(), _boxes_of(masks))
        n_boxes += len(labels)

        depth = np.load(rendered / "depth" / f"{name}.npy")
        assert t["depth"].shape == (1, h, w) and torch.equal(t["depth"][0], torch.from_numpy(depth))
        normal = np.load(rendered / "normal" / f"{name}.npy")
        assert torch.equal(t["normal"].permute(1, 2, 0), torch.from_numpy(normal))
        assert "flow_forward" not in t and "flow_backward" not in t  # still frames have no flow
    assert n_boxes > 0


def test_flow_equals_the_flow_files(torch, sequence_ds):
    from simgen.torch import Flow, SimgenDataset

    ds = SimgenDataset(sequence_ds)
    assert len(ds) == 3
    seen = {}
    for i in range(3):
        _, t = ds[i]
        name = f"{t['frame_index']:06d}"
        seen[t["frame_index"]] = sorted(k for k in t if k.startswith("flow_"))
        for d in ("forward", "backward"):
            path = sequence_ds / f"flow_{d}" / f"{name}.npy"
            assert (f"flow_{d}" in t) == path.exists()
            if path.exists():
                assert isinstance(t[f"flow_{d}"], Flow)
                assert torch.equal(t[f"flow_{d}"].permute(1, 2, 0), torch.from_numpy(np.load(path)))
                valid = _png(sequence_ds / f"flow_{d}_valid" / f"{name}.png") != 0
                assert t[f"flow_{d}_valid"].dtype == torch.bool
                assert np.array_equal(t[f"flow_{d}_valid"].numpy(), valid) and valid.any()
    assert seen[0] == ["flow_forward", "flow_forward_valid"]
    assert seen[1] == ["flow_backward", "flow_backward_valid", "flow_forward", "flow_forward_valid"]
    assert seen[2] == ["flow_backward", "flow_backward_valid"]
    _, t = SimgenDataset(sequence_ds, extras=())[1]
    assert not any(k.startswith(("flow", "depth", "normal")) for k in t)


def test_transforms_move_boxes_masks_and_maps_together(torch, sequence_ds):
    from torchvision.transforms import v2

    from simgen.torch import SimgenDataset

    plain = SimgenDataset(sequence_ds)
    flipped = SimgenDataset(sequence_ds, transforms=v2.Compose([v2.RandomHorizontalFlip(p=1.0),
                                                                v2.SanitizeBoundingBoxes(min_size=1)]))
    _, t0 = plain[1]
    assert len(t0["labels"]) > 0
    image, t = flipped[1]
    im0, _ = plain[1]
    w = im0.shape[-1]
    assert torch.equal(image, im0.flip(-1))
    assert torch.equal(t["masks"], t0["masks"].flip(-1))
    assert torch.equal(t["labels"], t0["labels"])
    # boxes of the flipped masks, computed from their pixels, and COCO's rule x' = W - (x + w)
    assert np.array_equal(t["boxes"].numpy(), _boxes_of(t["masks"].numpy()))
    assert torch.equal(t["boxes"][:, 0], w - t0["boxes"][:, 2])
    assert torch.equal(t["depth"], t0["depth"].flip(-1))
    assert torch.equal(t["normal"][0], -t0["normal"][0].flip(-1))
    assert torch.equal(t["normal"][1:], t0["normal"][1:].flip(-1))
    for d in ("forward", "backward"):
        assert torch.equal(t[f"flow_{d}"][0], -t0[f"flow_{d}"][0].flip(-1))
        assert torch.equal(t[f"flow_{d}"][1], t0[f"flow_{d}"][1].flip(-1))
        assert torch.equal(t[f"flow_{d}_valid"], t0[f"flow_{d}_valid"].flip(-1))
    # the flip is a mirror of the flow field: the flipped flow sends the mirrored pixel
    # x' = W - 1 - x to the mirror of its target: x' + u'(x') = W - 1 - (x + u(x))
    fw0, fw = t0["flow_forward"], t["flow_forward"]
    xs = torch.arange(w, dtype=torch.float32)
    assert torch.allclose(xs + fw[0], (w - 1 - (xs + fw0[0])).flip(-1), atol=1e-4)

    # a resize scales flow with the image; boxes scale too
    half = v2.Resize((36, 48))
    im_h, t_h = half(im0, t0)
    assert im_h.shape[-2:] == (36, 48) and t_h["depth"].shape[-2:] == (36, 48)
    assert torch.equal(t_h["flow_forward"][0], t0["flow_forward"][0][1::2, 1::2] * 0.5) or \
        torch.equal(t_h["flow_forward"][0], t0["flow_forward"][0][::2, ::2] * 0.5)
    assert torch.equal(t_h["boxes"], t0["boxes"] * 0.5)
    # vectors cannot turn with the pixels: refused, not silently wrong
    with pytest.raises(TypeError, match="flow"):
        v2.RandomRotation(30)(im0, {"flow": t0["flow_forward"]})


def test_dataloader_batches_with_the_collate_function(torch, rendered):
    from torchvision import tv_tensors

    from simgen.torch import SimgenDataset, collate_detection

    ds = SimgenDataset(rendered, extras=())
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate_detection)
    batches = list(loader)
    assert [len(b[0]) for b in batches] == [3, 1] and [len(b[1]) for b in batches] == [3, 1]
    images, targets = batches[0]
    assert all(isinstance(im, tv_tensors.Image) for im in images)
    assert [t["image_id"] for t in targets] == [1, 2, 3]
    assert all(isinstance(t["boxes"], tv_tensors.BoundingBoxes) for t in targets)


def test_split_filters_by_the_meta(torch, sequence_ds, tmp_path):
    from simgen.torch import SimgenDataset

    drawn = {int(p.stem): json.loads(p.read_text())["split"] for p in sorted((sequence_ds / "meta").glob("*.json"))}
    for name in set(drawn.values()):  # the run's own splits (output.splits)
        assert SimgenDataset(sequence_ds, split=name).frames == [i for i, s in sorted(drawn.items()) if s == name]
    older = tmp_path / "older"  # a dataset from before splits: its meta has none
    shutil.copytree(sequence_ds, older)
    for p in (older / "meta").glob("*.json"):
        meta = json.loads(p.read_text())
        del meta["split"]
        p.write_text(json.dumps(meta))
    with pytest.raises(SimgenError, match="no frame's meta has a split"):
        SimgenDataset(older, split="train")
    root = tmp_path / "ds"
    shutil.copytree(sequence_ds, root)
    for i, split in enumerate(["train", "val", "train"]):
        p = root / "meta" / f"{i:06d}.json"
        p.write_text(json.dumps({**json.loads(p.read_text()), "split": split}))
    assert SimgenDataset(root, "train").frames == [0, 2]
    assert SimgenDataset(root, "val").frames == [1]
    assert SimgenDataset(root).frames == [0, 1, 2]
    with pytest.raises(SimgenError, match="no frame in split 'test'"):
        SimgenDataset(root, "test")
    with pytest.raises(SimgenError, match="not a simgen dataset"):
        SimgenDataset(tmp_path / "nothing")


# ---------------------------------------------------------------- keypoints


def _with_keypoints(src: Path, dst: Path) -> dict:
    """A copy of the dataset ``src`` with keypoints as the keypoints label kind writes them
    (COCO ``keypoints``/``num_keypoints`` in each meta annotation, ``keypoints``/``skeleton`` in
    each category): 9 per odd category id, 4 per even one. Point 0 is the centre of the leftmost
    pixel of the instance's top row (v = 2), point 1 off pixel centres (v = 1), point 2 absent
    (v = 0, at (0, 0)), the rest random. Returns {(frame, instance id): (K, 3) array}."""
    shutil.copytree(src, dst)
    rng = np.random.default_rng(11)
    info = json.loads((dst / "dataset.json").read_text())
    for c in info["categories"]:
        c["keypoints"] = [f"p{k}" for k in range(9 if c["id"] % 2 else 4)]
        c["skeleton"] = [[1, 2]]
    (dst / "dataset.json").write_text(json.dumps(info))
    count = {c["id"]: len(c["keypoints"]) for c in info["categories"]}
    truth = {}
    for path in sorted((dst / "meta").glob("*.json")):
        meta = json.loads(path.read_text())
        inst = _png(dst / "instance" / f"{path.stem}.png")
        h, w = inst.shape
        for a in meta["coco"]["annotations"]:
            iid, k = a["simgen"]["instance_id"], count[a["category_id"]]
            ys, xs = np.nonzero(inst == iid)
            top = ys.min()
            kp = np.zeros((k, 3))
            kp[:, 0], kp[:, 1] = rng.uniform(-0.5, w - 0.5, k), rng.uniform(-0.5, h - 0.5, k)
            kp[:, 2] = rng.integers(1, 3, k)
            kp[0] = [xs[ys == top].min(), top, 2]
            kp[1] = [kp[1, 0] + 0.25, kp[1, 1], 1]
            kp[2] = [0, 0, 0]
            a["keypoints"] = kp.ravel().tolist()
            a["num_keypoints"] = int((kp[:, 2] > 0).sum())
            truth[int(path.stem), iid] = kp
        path.write_text(json.dumps(meta))
    return truth


def test_keypoints_are_the_annotations_and_a_flip_keeps_them_on_their_pixel(torch, rendered, tmp_path):
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    from simgen.torch import SimgenDataset, collate_detection

    _, plain = SimgenDataset(rendered)[0]
    assert "keypoints" not in plain and "keypoints_visibility" not in plain  # made without them
    root = tmp_path / "kp"
    truth = _with_keypoints(rendered, root)
    ds = SimgenDataset(root)
    flipped = SimgenDataset(root, transforms=v2.RandomHorizontalFlip(p=1.0))
    assert ds.num_keypoints == 9
    padded = checked = 0
    for i in range(len(ds)):
        image, t = ds[i]
        image_f, t_f = flipped[i]
        h, w = image.shape[-2:]
        kp, vis = t["keypoints"], t["keypoints_visibility"]
        assert isinstance(kp, tv_tensors.KeyPoints) and kp.dtype == torch.float32
        assert tuple(kp.canvas_size) == (h, w) and kp.shape == (len(t["labels"]), 9, 2)
        assert vis.dtype == torch.int64 and vis.shape == (len(t["labels"]), 9)
        for n, iid in enumerate(t["instance_ids"].tolist()):
            want = truth[t["frame_index"], iid]
            k = len(want)
            assert np.array_equal(kp[n, :k].numpy(), want[:, :2].astype(np.float32))
            assert vis[n, :k].tolist() == want[:, 2].astype(int).tolist()
            assert (kp[n, k:] == 0).all() and (vis[n, k:] == 0).all()  # padding: never labelled
            padded += k < 9
            # the flip: x -> W - 1 - x, the mirrored pixel's centre; point 0 is then the rightmost
            # pixel of the instance's top row in the flipped mask, on the same colour
            x, y = (int(v) for v in want[0, :2])
            xf, yf = t_f["keypoints"][n, 0].tolist()
            assert (xf, yf) == (w - 1 - x, y)
            xf, yf = int(xf), int(yf)
            mask = t_f["masks"][n].bool()
            assert mask[yf, xf] and (xf == w - 1 or not mask[yf, xf + 1])
            assert torch.equal(image_f[:, yf, xf], image[:, y, x])
            assert torch.equal(t_f["keypoints_visibility"][n], vis[n])
            checked += 1
    assert checked > 3 and padded > 0
    _, targets = collate_detection([ds[0], ds[1]])
    assert all(isinstance(t["keypoints"], tv_tensors.KeyPoints) for t in targets)
    _, t = SimgenDataset(root, extras=())[0]
    assert "keypoints" not in t and "keypoints_visibility" not in t


def test_keypoints_missing_or_unsupported_are_one_line_errors(torch, rendered, tmp_path, monkeypatch):
    from simgen.torch import SimgenDataset
    from simgen.torch import dataset as module

    root = tmp_path / "kp"
    _with_keypoints(rendered, root)
    monkeypatch.setattr(module, "KeyPoints", None)  # a torchvision before 0.23
    with pytest.raises(SimgenError, match=r"torchvision>=0.23.*extras=\('depth', 'normal', 'flow'\)"):
        SimgenDataset(root)
    assert "keypoints" not in SimgenDataset(root, extras=("depth",))[0][1]
    monkeypatch.undo()
    meta_path = root / "meta" / "000000.json"
    meta = json.loads(meta_path.read_text())
    del meta["coco"]["annotations"][0]["keypoints"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(SimgenError, match=r"frame 0: instance \d+ has no keypoints.*output.labels=\[keypoints\]"):
        SimgenDataset(root)[0]


# ---------------------------------------------------------------- training


@pytest.fixture
def one_thread(torch):
    """One torch CPU thread while the test runs: on a shared machine, faster than several."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_three_steps_from_scratch_then_predict_and_evaluate(torch, rendered, tmp_path, one_thread):
    from simgen.torch import SimgenDataset
    from simgen.experiment.training import TorchvisionTrainer
    from simgen.torch.train import COCO_STATS, build_detector, coco_evaluate, evaluate, predict, train

    rcnn = "fasterrcnn_mobilenet_v3_large_fpn"

    ds = SimgenDataset(rendered, extras=())
    model = build_detector(ds.num_classes, rcnn, image_size=(96, 128), seed=0)
    again = build_detector(ds.num_classes, rcnn, image_size=(96, 128), seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert all(torch.equal(before[k], v) for k, v in again.state_dict().items())  # seeded init
    history = train(model, ds, TorchvisionTrainer(arch=rcnn, steps=3, batch_size=2, optimizer="sgd", lr=0.01,
                                                  schedule="constant", warmup=1, device="cpu"))
    assert len(history) == 3
    assert all(np.isfinite(h["loss"]) and h["loss"] > 0 for h in history)
    assert {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"} <= set(history[0])
    after = model.state_dict()
    changed = [k for k in before if before[k].dtype.is_floating_point and not torch.equal(before[k], after[k])]
    assert len(changed) > 10

    model.roi_heads.score_thresh = 0.0  # an untrained model's scores are low: keep every box
    dets = predict(model, ds, device="cpu", batch_size=2)
    assert dets, "no detections"
    image_ids = {f + 1 for f in ds.frames}
    cat_ids = {c["id"] for c in ds.categories}
    for d in dets:
        assert set(d) == {"image_id", "category_id", "bbox", "score"}
        assert d["image_id"] in image_ids and d["category_id"] in cat_ids
        x, y, w, h = d["bbox"]
        assert all(np.isfinite([x, y, w, h])) and w >= 0 and h >= 0
        assert -1e-3 <= x and x + w <= 128 + 1e-3 and -1e-3 <= y and y + h <= 96 + 1e-3
        assert 0.0 <= d["score"] <= 1.0
    json.dumps(dets)  # plain JSON types
    stats = coco_evaluate(rendered / "coco.json", dets)
    assert list(stats) == list(COCO_STATS) and all(-1.0 <= v <= 1.0 for v in stats.values())
    # evaluate() scores only the dataset's own frames; perfect detections (coco.json's boxes) get AP 1
    gt = json.loads((rendered / "coco.json").read_text())["annotations"]
    perfect = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
               for a in gt if a["image_id"] in (1, 3)]
    assert coco_evaluate(rendered / "coco.json", perfect, [1, 3])["AP"] == 1.0
    assert coco_evaluate(rendered / "coco.json", perfect)["AP"] < 1.0
    sub_stats, sub_dets = evaluate(model, SimgenDataset(rendered, frames=[0, 2], extras=()), device="cpu")
    assert {d["image_id"] for d in sub_dets} <= {1, 3} and list(sub_stats) == list(COCO_STATS)

    # a saved state dict is the model again; one for another model is refused in one line
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    loaded = build_detector(ds.num_classes, rcnn, image_size=(96, 128), weights=path, seed=1)
    assert all(torch.equal(after[k], v) for k, v in loaded.state_dict().items())
    with pytest.raises(SimgenError, match="does not fit"):
        build_detector(ds.num_classes + 1, rcnn, weights=path)
    sampler = build_detector(ds.num_classes, rcnn, box_batch_size_per_image=64).roi_heads.fg_bg_sampler
    assert sampler.batch_size_per_image == 64
    small = build_detector(ds.num_classes, rcnn, image_size=(96, 128), anchor_scale=0.5)
    assert small.rpn.anchor_generator.sizes[0] == (16, 32, 64, 128, 256)
    assert np.isfinite(train(small, ds, TorchvisionTrainer(arch=rcnn, steps=1, device="cpu"))[0]["loss"])
    with pytest.raises(SimgenError, match="unknown detector"):
        build_detector(ds.num_classes, "yolo")


@pytest.mark.slow
def test_train_detector_script_runs(torch, rendered, tmp_path):
    out = tmp_path / "dets.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_detector.py"), str(rendered), "--steps", "2",
                           "--arch", "fasterrcnn_mobilenet_v3_large_fpn", "--batch-size", "2", "--optimizer", "sgd",
                           "--lr", "0.01", "--schedule", "constant",
                           "--device", "cpu", "--threads", "1", "--rois-per-image", "64", "--hflip", "--eval",
                           "--detections", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    steps = [ln for ln in lines if ln.startswith("step ")]
    assert len(steps) == 2 and all(np.isfinite(float(ln.split()[3])) for ln in steps)
    assert any(ln.startswith("COCOeval bbox: AP=") for ln in lines)
    assert isinstance(json.loads(out.read_text()), list)
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_detector.py"), str(tmp_path / "none")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "not a simgen dataset" in bad.stderr
