"""One training run of a simgen experiment, in its own process: train a detector from scratch on
COCO sets, predict on the target set, write the detections by category name.

    python -m simgen.torch.job SPEC.json

SPEC (written by simgen.experiment.runner)::

    {"labels": ["bottle", "mug", ...],             # label k + 1 is labels[k]
     "train": [{"coco": ".../coco.json", "images": null, "image_ids": [1, 2, ...]}, ...],
     "predict": {"coco": ".../target/coco.json", "images": null},
     "image_size": [72, 96], "seed": 0,             # (height, width) of the training frames; the run's seed
     "trainer": {"arch": "tiny_fcos", "steps": 600, "batch_size": 8, "optimizer": "adamw", "lr": 0.001, ...},
     "out": ".../result.json"}

``trainer`` holds every setting of :class:`simgen.experiment.training.TorchvisionTrainer` (the
study's ``study.trainer``, unchanged) and nothing else; the job rebuilds exactly that dataclass
and has no defaults of its own: a missing or unknown key, here or in ``trainer``, is an error.
An optional ``"save": PATH`` also writes the trained state dict there.

The result (the same for every trainer)::

    {"names": [...], "detections": [{"image_id", "category": name, "bbox": [x, y, w, h], "score"}],
     "train_seconds", "predict_seconds", "images", "steps", "loss_first", "loss_last", "device",
     "cpu": {"threads": n, "kernels": "AVX2"}}     # torch's CPU threads and ATen's kernels (simgen.torch.train.use_cpu)

Progress goes to stderr; errors end with one line ``simgen: error: ...`` and exit status 2.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from simgen.errors import SimgenError
from simgen.experiment.training import TorchvisionTrainer, from_spec
from simgen.io.files import read_json, write_json
from simgen.torch.coco import CocoImages
from simgen.torch.train import build_detector, predict, resolve_device, train, use_cpu

KEYS = ("labels", "train", "predict", "image_size", "seed", "trainer", "out")
"""The keys every spec has (:mod:`simgen.experiment.runner` writes them); ``save`` is optional."""


def read_spec(spec: dict) -> TorchvisionTrainer:
    """The trainer settings of ``spec``, after checking that it has exactly the keys a spec has:
    a missing or unknown key is a one-line SimgenError (the spec is simgen's, nothing is guessed)."""
    if not isinstance(spec, dict):
        raise SimgenError(f"the spec must be a JSON object, got {type(spec).__name__}")
    unknown = sorted(str(k) for k in spec if k not in (*KEYS, "save"))
    missing = [k for k in KEYS if k not in spec]
    if unknown or missing:
        parts = ([f"unknown key(s) {', '.join(unknown)}"] if unknown else []) + \
            ([f"missing key(s) {', '.join(missing)}"] if missing else [])
        raise SimgenError(f"spec: {'; '.join(parts)} (a spec has {', '.join(KEYS)} and optionally save)")
    return from_spec(spec["trainer"])


def run_job(spec: dict) -> dict:
    cfg = read_spec(spec)
    labels = list(spec["labels"])
    seed = int(spec["seed"])
    cpu = use_cpu(cfg)  # before anything computes: the kernels are chosen once
    parts = [CocoImages(t["coco"], labels, images=t.get("images"), image_ids=t.get("image_ids"))
             for t in spec["train"]]
    data = torch.utils.data.ConcatDataset(parts)
    device = resolve_device(cfg.device)
    model = build_detector(len(labels) + 1, cfg.arch, image_size=tuple(spec["image_size"]), weights=cfg.weights,
                           seed=seed)
    every = max(1, cfg.steps // 10)
    t0 = time.perf_counter()

    def log(step: int, losses: dict[str, float]) -> None:
        if step % every == 0 or step == cfg.steps:
            rate = step / (time.perf_counter() - t0)
            print(f"  step {step}/{cfg.steps} loss {losses['loss']:.3f} ({rate:.1f} steps/s)", file=sys.stderr,
                  flush=True)

    history = train(model, data, cfg, seed=seed, log=log)
    t1 = time.perf_counter()
    target = CocoImages(spec["predict"]["coco"], labels, images=spec["predict"].get("images"))
    dets = predict(model, target, device=str(device), batch_size=cfg.batch_size)
    t2 = time.perf_counter()
    if spec.get("save"):
        torch.save(model.state_dict(), spec["save"])
    return {"names": labels,
            "detections": [{"image_id": d["image_id"], "category": labels[d["category_id"] - 1], "bbox": d["bbox"],
                            "score": d["score"]} for d in dets],
            "train_seconds": t1 - t0, "predict_seconds": t2 - t1, "images": len(data), "steps": cfg.steps,
            "loss_first": history[0]["loss"], "loss_last": history[-1]["loss"], "device": str(device), "cpu": cpu}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m simgen.torch.job SPEC.json", file=sys.stderr)
        return 2
    try:
        spec = read_json(args[0])
        result = run_job(spec)
        write_json(Path(spec["out"]), result)
    except SimgenError as e:
        print(f"simgen: error: {e}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
