"""Seconds per epoch of the YOLO trainer (simgen/experiment/yolo_trainer.py) on a small simgen set.

Renders N frames (default 32 at 128x96, 4 samples, no denoiser, exported as COCO + YOLO, all in
the train split) with simgen's interpreter, then runs the trainer with the clients' interpreter
(``.venv-clients``, built by scripts/client_env.sh; or --python) from scratch for E epochs and
predicts on the same frames. Prints the seconds of each epoch (training + Ultralytics' end-of-epoch
work; validation runs after the last epoch only), the median of the epochs between the first and
the last, the whole training and the prediction.

    PYTHONPATH=. python scripts/yolo_epoch_time.py                          # 32 frames, 128x96, CPU
    PYTHONPATH=. python scripts/yolo_epoch_time.py --frames 64 --device 0   # on a GPU
    PYTHONPATH=. python scripts/yolo_epoch_time.py --dataset DIR            # an existing export
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "simgen" / "experiment" / "yolo_trainer.py"


def render(out: Path, frames: int, width: int, height: int, samples: int, seed: int) -> None:
    cmd = [sys.executable, "-m", "simgen.cli", f"output.dir={out}", f"frames={frames}", f"seed={seed}",
           f"render.width={width}", f"render.height={height}", f"render.samples={samples}",
           "render.denoise=false", "render.device=cpu", "output.formats=[coco,yolo]", "output.splits.train=1",
           "output.splits.val=0", "output.splits.test=0"]
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", type=Path, help="an existing dataset with a YOLO export (skips rendering)")
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--imgsz", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--model", default="yolov8n.yaml")
    p.add_argument("--device", default="cpu")
    p.add_argument("--python", type=Path, default=Path(os.environ.get("SIMGEN_CLIENTS_VENV", REPO / ".venv-clients"))
                   / "bin" / "python", help="an interpreter with ultralytics (default: .venv-clients)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="yolo_epoch_time_") as tmp:
        tmp = Path(tmp)
        root = a.dataset or tmp / "data"
        if a.dataset is None:
            render(root, a.frames, a.width, a.height, a.samples, a.seed)
        coco = json.loads((root / "coco.json").read_text())
        images = tmp / "images.json"
        images.write_text(json.dumps([{"id": im["id"], "file": str(root / im["file_name"])} for im in coco["images"]]))
        frames = sum(1 for _ in (root / "yolo" / "images" / "train").iterdir())
        cmd = [str(a.python), str(SCRIPT), "--data", str(root / "yolo" / "data.yaml"), "--frames", str(frames),
               "--model", a.model, "--epochs", str(a.epochs), "--imgsz", str(a.imgsz), "--batch", str(a.batch),
               "--seed", str(a.seed), "--device", a.device, "--predict", str(images), "--out", str(tmp / "r.json"),
               "--workdir", str(tmp / "work")]
        subprocess.run(cmd, check=True)
        r = json.loads((tmp / "r.json").read_text())
    epochs = r["epoch_seconds"]
    print(f"{a.model}, {frames} frames, imgsz {a.imgsz}, batch {a.batch}, device {r['device']}, "
          f"ultralytics {r['ultralytics']}, {os.cpu_count()} CPUs")
    print("epoch seconds: " + " ".join(f"{t:.2f}" for t in epochs))
    middle = epochs[1:-1] or epochs  # the first warms up, the last validates
    print(f"median epoch {statistics.median(middle):.2f} s (first and last left out); "
          f"training {r['train_seconds']:.1f} s in all (setup and final validation included); "
          f"prediction on {len(coco['images'])} images {r['predict_seconds']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
