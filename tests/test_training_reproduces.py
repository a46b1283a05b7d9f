"""A training run reproduces: the same spec in two fresh processes trains the same model, bit for
bit, and what would make another machine train another one is held in the spec: torch's CPU
threads (study.trainer.threads) and its CPU kernels (study.trainer.cpu_kernels, held at AVX2 by
default: simgen.torch.train.use_cpu). The test shows that each of them matters (another thread
count, or ATen's kernels below AVX2 as an older CPU has them, train another model), so that
holding them is what makes a study's figures the same on another machine.

The images are drawn here (coloured boxes on noise), so nothing renders."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simgen.experiment.training import TorchvisionTrainer, to_spec
from simgen.io.files import read_json, write_json

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="needs the torch extra")]

REPO = Path(__file__).resolve().parents[1]
LABELS = ["box", "disc"]


def boxes_dataset(folder: Path, n: int = 12) -> Path:
    """``n`` 96x72 images of one or two filled shapes on noise and their COCO json."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True)
    images, annotations = [], []
    for i in range(1, n + 1):
        im = rng.integers(0, 80, (72, 96, 3), dtype=np.uint8)
        for _ in range(int(rng.integers(1, 3))):
            w, h = (int(v) for v in rng.integers(12, 30, 2))
            x, y = int(rng.integers(0, 96 - w)), int(rng.integers(0, 72 - h))
            cat = int(rng.integers(1, 3))
            im[y:y + h, x:x + w] = (220, 60, 60) if cat == 1 else (60, 200, 220)
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": cat,
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
        Image.fromarray(im).save(folder / f"{i:06d}.png")
        images.append({"id": i, "file_name": f"{i:06d}.png", "width": 96, "height": 72})
    coco = folder / "coco.json"
    coco.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": k + 1, "name": c} for k, c in enumerate(LABELS)]}))
    return coco


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> Path:
    return boxes_dataset(tmp_path_factory.mktemp("train") / "data")


def train(coco: Path, folder: Path, env: dict[str, str] | None = None, **trainer) -> tuple[str, dict]:
    """Run simgen.torch.job on ``coco`` in a fresh process: (the digest of the trained weights, the result)."""
    folder.mkdir(parents=True)
    cfg = TorchvisionTrainer(**{"steps": 12, "batch_size": 4, "warmup": 2, "device": "cpu", **trainer})
    spec = {"labels": LABELS, "train": [{"coco": str(coco), "images": None, "image_ids": None}],
            "predict": {"coco": str(coco), "images": None}, "image_size": [72, 96], "seed": 3,
            "trainer": to_spec(cfg), "out": str(folder / "result.json"), "save": str(folder / "model.pt")}
    write_json(folder / "spec.json", spec)
    clean = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")}
    r = subprocess.run([sys.executable, "-m", "simgen.torch.job", str(folder / "spec.json")], cwd=REPO,
                       env={**clean, **(env or {})}, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    import torch
    state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in state.values())).hexdigest()
    return digest, read_json(folder / "result.json")


def test_the_same_spec_trains_the_same_model_and_threads_and_kernels_are_held_by_it(coco, tmp_path):
    import torch

    first, r1 = train(coco, tmp_path / "a", threads=2)
    again, r2 = train(coco, tmp_path / "b", threads=2)
    assert first == again and r1["detections"] == r2["detections"]
    if not torch.cpu._is_avx2_supported():
        pytest.skip("the CPU has no AVX2: there is nothing to hold the kernels at")
    assert r1["cpu"] == {"threads": 2, "kernels": "AVX2"}

    # what the spec holds matters: another thread count trains another model ...
    other_threads, r3 = train(coco, tmp_path / "c", threads=1)
    assert r3["cpu"]["threads"] == 1 and other_threads != first
    # ... and so do other kernels: ATen's without AVX2 (an older CPU's), asked for by the environment,
    # which the default (cpu_kernels=avx2) overrides and cpu_kernels=native keeps
    older = {"ATEN_CPU_CAPABILITY": "default"}
    held, r4 = train(coco, tmp_path / "d", env=older, threads=2)
    native, r5 = train(coco, tmp_path / "e", env=older, threads=2, cpu_kernels="native")
    assert r4["cpu"]["kernels"] == "AVX2" and held == first
    assert r5["cpu"]["kernels"] == "DEFAULT" and native != first
