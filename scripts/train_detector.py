"""Train a torchvision detector from scratch on a simgen dataset for a few steps and print the losses.

    python scripts/train_detector.py DIR --steps 20
    python scripts/train_detector.py DIR --steps 2000 --batch-size 8 --save model.pt --eval
    python scripts/train_detector.py DIR --split val --weights model.pt --steps 0 --eval

No weights are downloaded: the model starts from random weights (--seed) or from a local
state dict (--weights, e.g. one written by --save). --eval scores the trained model's
detections on DIR (or --eval-dir) with pycocotools' COCOeval against its coco.json.
Needs the torch extra: pip install -e '.[torch]'.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simgen import SimgenError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", type=Path, help="simgen dataset folder (output.dir)")
    p.add_argument("--split", default=None, help="train on the frames of this split only (meta 'split')")
    p.add_argument("--steps", type=int, default=20, help="optimizer steps (default 20)")
    p.add_argument("--epochs", type=float, default=None, help="passes over the data instead of --steps")
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--warmup", type=int, default=50, help="steps of linear learning-rate warm-up")
    p.add_argument("--seed", type=int, default=0, help="initial weights and data order")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (0: torch's default; 1 is faster on a busy shared machine)")
    p.add_argument("--rois-per-image", type=int, default=None,
                   help="R-CNN models: RoIs sampled per image in training (torchvision: 512)")
    p.add_argument("--arch", default="fasterrcnn_mobilenet_v3_large_fpn", help="torchvision detection model")
    p.add_argument("--anchor-scale", type=float, default=1.0, help="multiply the model's anchor sizes")
    p.add_argument("--hflip", action="store_true", help="random horizontal flips while training")
    p.add_argument("--weights", type=Path, default=None, help="local state dict to start from")
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
    from simgen.torch.train import TrainConfig, build_detector, evaluate, resolve_device, train

    try:
        ds = SimgenDataset(a.dir, a.split, extras=(), transforms=v2.RandomHorizontalFlip() if a.hflip else None)
        if len(ds) == 0:
            raise SimgenError(f"{a.dir} has no frames")
        if a.threads > 0:
            torch.set_num_threads(a.threads)
        torch.manual_seed(a.seed)
        _, first = SimgenDataset(a.dir, frames=ds.frames[:1], extras=())[0]
        size = tuple(first["boxes"].canvas_size)
        model = build_detector(ds.num_classes, a.arch, image_size=size, anchor_scale=a.anchor_scale,
                               weights=a.weights, seed=a.seed,
                               **({} if a.rois_per_image is None else {"box_batch_size_per_image": a.rois_per_image}))
        device = resolve_device(a.device)
        print(f"{a.arch}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
              f"{ds.num_classes} classes, {len(ds)} frames of {size[1]}x{size[0]}, device {device}", flush=True)
        cfg = TrainConfig(steps=a.steps, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, warmup=a.warmup,
                          seed=a.seed, device=str(device), num_workers=a.workers)
        t0 = time.perf_counter()

        def log(step: int, losses: dict) -> None:
            parts = " ".join(f"{k}={v:.4f}" for k, v in losses.items() if k not in ("loss", "lr"))
            print(f"step {step:5d}  loss {losses['loss']:.4f}  ({parts})  lr {losses['lr']:.2g}  "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)

        if a.steps > 0 or a.epochs:
            history = train(model, ds, cfg, log=log)
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
