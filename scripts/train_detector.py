"""Train a torchvision detector from scratch on a simgen dataset, print the losses, score it.

    python scripts/train_detector.py DIR --steps 100
    python scripts/train_detector.py DIR --steps 2000 --save model.pt --eval
    python scripts/train_detector.py DIR --arch fasterrcnn_mobilenet_v3_large_fpn --optimizer sgd --lr 0.01
    python scripts/train_detector.py DIR --split val --weights model.pt --steps 0 --eval

The training flags (--arch, --steps, --batch-size, --optimizer, --lr, --momentum, --weight-decay,
--schedule, --warmup, --clip, --threads, --cpu-kernels, --device, --weights) are the settings of
simgen.experiment.training.TorchvisionTrainer, with its defaults: the same a study's
study.trainer has (tiny_fcos, AdamW at 1e-3, cosine decay). No weights are downloaded: the model
starts from random weights (--seed) or from a local state dict (--weights, e.g. one written by
--save). --eval scores the trained model's detections on DIR (or --eval-dir) with pycocotools'
COCOeval against its coco.json. Needs the torch extra: pip install -e '.[torch]'.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import typing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simgen import SimgenError  # noqa: E402
from simgen.config.schema import check_value, default_of, field_docs, rule_of  # noqa: E402
from simgen.experiment.training import FIELDS, RCNN_ARCHS, TorchvisionTrainer  # noqa: E402

NOTES = {"steps": "0: no training (e.g. --weights model.pt --steps 0 --eval)",
         "threads": "1 is faster on a busy shared machine"}
"""What the command line adds to a declared setting's help."""


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_trainer_flags(p: argparse.ArgumentParser) -> None:
    """A flag per setting of TorchvisionTrainer: its type, choices, default and docstring."""
    hints, docs = typing.get_type_hints(TorchvisionTrainer), field_docs(TorchvisionTrainer)
    for f in dataclasses.fields(TorchvisionTrainer):
        kind = next((t for t in typing.get_args(hints[f.name]) if t is not type(None)), hints[f.name])
        default, choices = default_of(f), rule_of(f).choices
        words = "; ".join(x for x in (docs[f.name].rstrip("."), NOTES.get(f.name)) if x)
        p.add_argument(flag(f.name), dest=f.name, type=kind, default=default, choices=choices,
                       metavar=f.name.upper(),
                       help=f"{words} ({'one of ' + ', '.join(choices) + '; ' if choices else ''}"
                            f"default: {'none' if default is None else default})".replace("%", "%%"))


def trainer_settings(a: argparse.Namespace) -> TorchvisionTrainer:
    """The TorchvisionTrainer of the flags, each value checked against its declaration (--steps 0,
    no training, is the command line's own)."""
    cfg = TorchvisionTrainer(**{name: getattr(a, name) for name in FIELDS})
    hints = typing.get_type_hints(TorchvisionTrainer)
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "steps" and value == 0:
            continue
        problem = check_value(value, hints[f.name], rule_of(f))
        if problem:
            raise SimgenError(f"{flag(f.name)} {value}: {problem}")
    if a.rois_per_image is not None and cfg.arch not in RCNN_ARCHS:
        raise SimgenError(f"--rois-per-image applies to the R-CNN models ({', '.join(RCNN_ARCHS)}), not --arch "
                          f"{cfg.arch}")
    return cfg


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", type=Path, help="simgen dataset folder (output.dir)")
    p.add_argument("--split", default=None, help="train on the frames of this split only (meta 'split')")
    add_trainer_flags(p)
    p.add_argument("--epochs", type=float, default=None, help="passes over the data instead of --steps")
    p.add_argument("--seed", type=int, default=0, help="initial weights and data order")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--rois-per-image", type=int, default=None,
                   help="R-CNN models: RoIs sampled per image in training (torchvision: 512)")
    p.add_argument("--anchor-scale", type=float, default=1.0, help="multiply the model's anchor sizes")
    p.add_argument("--hflip", action="store_true", help="random horizontal flips while training")
    p.add_argument("--save", type=Path, default=None, help="write the trained state dict here")
    p.add_argument("--eval", action="store_true", help="COCOeval (bbox) of the trained model's detections")
    p.add_argument("--eval-dir", type=Path, default=None, help="dataset to evaluate on (default: DIR)")
    p.add_argument("--eval-split", default=None, help="split of the evaluation dataset")
    p.add_argument("--detections", type=Path, default=None, help="write the COCO-format detections (JSON)")
    a = p.parse_args(argv)
    try:
        import torch
        from torchvision.transforms import v2
    except ImportError as e:
        print(f"train_detector: needs torch and torchvision ({e}); pip install -e '.[torch]'", file=sys.stderr)
        return 2
    from simgen.torch import SimgenDataset
    from simgen.torch.train import build_detector, evaluate, resolve_device, train, use_cpu

    try:
        cfg = trainer_settings(a)
        use_cpu(cfg)  # before anything computes: the kernels are chosen once
        ds = SimgenDataset(a.dir, a.split, extras=(), transforms=v2.RandomHorizontalFlip() if a.hflip else None)
        if len(ds) == 0:
            raise SimgenError(f"{a.dir} has no frames")
        torch.manual_seed(a.seed)
        _, first = SimgenDataset(a.dir, frames=ds.frames[:1], extras=())[0]
        size = tuple(first["boxes"].canvas_size)
        model = build_detector(ds.num_classes, cfg.arch, image_size=size, anchor_scale=a.anchor_scale,
                               weights=cfg.weights, seed=a.seed,
                               **({} if a.rois_per_image is None else {"box_batch_size_per_image": a.rois_per_image}))
        device = resolve_device(cfg.device)
        print(f"{cfg.arch}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
              f"{ds.num_classes} classes, {len(ds)} frames of {size[1]}x{size[0]}, device {device}", flush=True)
        print(f"training: {', '.join(f'{k}={v}' for k, v in dataclasses.asdict(cfg).items())}", flush=True)
        t0 = time.perf_counter()

        def log(step: int, losses: dict) -> None:
            parts = " ".join(f"{k}={v:.4f}" for k, v in losses.items() if k not in ("loss", "lr"))
            print(f"step {step:5d}  loss {losses['loss']:.4f}  ({parts})  lr {losses['lr']:.2g}  "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)

        if a.steps > 0 or a.epochs:
            run = cfg if cfg.steps > 0 else dataclasses.replace(cfg, steps=1)  # --steps 0 --epochs E: E decides
            history = train(model, ds, run, seed=a.seed, epochs=a.epochs, num_workers=a.workers, log=log)
            n = len(history)
            print(f"trained {n} steps in {time.perf_counter() - t0:.1f} s "
                  f"({(time.perf_counter() - t0) / n:.2f} s/step); loss {history[0]['loss']:.4f} -> "
                  f"{history[-1]['loss']:.4f}")
        if a.save is not None:
            torch.save(model.state_dict(), a.save)
            print(f"saved {a.save}")
        if a.eval or a.detections is not None:
            eval_dir = a.eval_dir or a.dir
            eval_ds = SimgenDataset(eval_dir, a.eval_split, extras=())
            stats, dets = evaluate(model, eval_ds, device=str(device))
            print(f"{len(dets)} detections on {len(eval_ds)} frames of {eval_dir}")
            if a.detections is not None:
                a.detections.write_text(json.dumps(dets))
                print(f"wrote {a.detections}")
            if a.eval:
                print("COCOeval bbox: " + " ".join(f"{k}={v:.3f}" for k, v in stats.items()))
    except SimgenError as e:
        print(f"train_detector: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
