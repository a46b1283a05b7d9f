"""Train an Ultralytics YOLO detector on a simgen YOLO export and predict on a target set.

A self-contained script run by ANOTHER interpreter (one with ``ultralytics`` installed, such as
``.venv-clients`` built by ``scripts/client_env.sh``): it imports only the standard library,
numpy and ultralytics (with what ultralytics brings), never simgen. ``simgen study dr_gap
study.trainer.name=ultralytics`` runs it once per arm x training-set size x seed::

    PYTHON yolo_trainer.py --data DIR/yolo/data.yaml --frames N --model yolov8n.yaml \\
        --epochs E --imgsz S --batch B --seed K --device cpu|0|0,1 [--weights local.pt] \\
        [--train-arg KEY=VALUE ...] --predict IMAGES.json --out RESULT.json --workdir WORK

- The training settings (--model, --epochs, --imgsz, --batch, --seed, --device) are required: the
  study passes its own (study.trainer, declared in simgen/experiment/config.py) and this script
  has no defaults of its own for them. Ultralytics' other training arguments are this script's
  fixed choices (below), --train-arg, or Ultralytics' defaults.
- The model is built from a YAML that ships inside ultralytics (``yolov8n.yaml``,
  ``yolo11n.yaml``, ...) or a local YAML path, and trained from scratch; with ``--weights`` (a
  local .pt file, never a name to download) its tensors that fit the YAML's model (built for
  data.yaml's classes) are loaded first (an error if fewer than half fit).
- ``--frames N`` trains on the first N images of the export's ``train`` split, sorted by file
  name (simgen names frames by index). They are mirrored into ``WORK/data/images/train`` (links)
  and ``WORK/data/labels/train`` (copies), listed in ``WORK/data/train.txt``, and
  ``WORK/data/data.yaml`` points Ultralytics there; the val set is the export's ``val`` split
  when it has images, else the same N training frames (Ultralytics needs one). Nothing is
  written into the dataset (Ultralytics' label cache goes beside the mirrored labels).
- Offline and quiet: YOLO_OFFLINE=1, Ultralytics' settings in ``WORK/ultralytics`` with the
  font it would download (Arial.ttf) pre-placed (a copy of matplotlib's DejaVuSans), amp off
  (its check downloads weights), no plots, deterministic, seeded, no dataloader workers.
- ``--predict IMAGES.json``: a JSON list of ``{"id": int, "file": path}``; predictions with
  conf=0.001 and max_det=100 (low thresholds, as COCO evaluation wants) at the training imgsz.
- ``--out RESULT.json``::

    {"names": {"0": "mug", ...},            # data.yaml's names: class index -> category name
     "detections": [{"image_id": int, "category": name, "bbox": [x, y, w, h], "score": s}, ...],
     "train_seconds": t, "predict_seconds": t, "epochs": E, "frames": N, "device": "cpu",
     "train_images": ["000000.png", ...], "val_images": n, "epoch_seconds": [t, ...],
     "model": "yolov8n.yaml", "weights": null | path, "checkpoint": "WORK/train/weights/last.pt",
     "imgsz": S, "batch": B, "seed": K, "ultralytics": "8.4.190"}

  ``bbox`` is in the target image's own pixels (COCO's [x, y, w, h], clipped to the image,
  w and h > 0); ``category`` is a name of ``names``, so the caller maps it to its own category
  ids by name.

Errors (bad arguments, a missing data.yaml or weights file, too few frames, ultralytics not
importable) exit with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path

EXIT_ERROR = 2
CONTROLLED = {"data", "epochs", "imgsz", "batch", "seed", "device", "project", "name", "exist_ok", "model",
              "workers", "amp", "plots", "deterministic", "verbose", "resume", "pretrained"}
"""Training arguments this script sets itself (not settable through --train-arg)."""
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


class TrainerError(Exception):
    """A one-line error for the caller (exit status 2)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, type=Path, help="DIR/yolo/data.yaml of a simgen YOLO export")
    p.add_argument("--frames", required=True, type=int, help="train on the first N train images (by name)")
    # the training settings have no defaults here: the caller (a study, from study.trainer) gives them all
    p.add_argument("--model", required=True, help="model YAML (shipped with ultralytics, e.g. yolov8n.yaml, or a path)")
    p.add_argument("--weights", type=Path, default=None, help="local .pt file to start from")
    p.add_argument("--epochs", required=True, type=int)
    p.add_argument("--imgsz", required=True, type=int, help="training and prediction image size")
    p.add_argument("--batch", required=True, type=int)
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--device", required=True,
                   help="cpu, auto (CUDA device 0 when there is one, else cpu), or CUDA device(s) as Ultralytics "
                        "takes them: 0, 0,1")
    p.add_argument("--train-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="another Ultralytics training argument (value parsed as JSON when it is JSON), e.g. mosaic=0")
    p.add_argument("--predict", required=True, type=Path, help='JSON list of {"id": int, "file": path}')
    p.add_argument("--out", required=True, type=Path, help="RESULT.json to write")
    p.add_argument("--workdir", required=True, type=Path, help="folder for the mirrored data, runs and settings")
    p.add_argument("--verbose", action="store_true", help="keep Ultralytics' logs and progress bars")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- inputs


def read_names(data_yaml: Path) -> tuple[dict, dict[int, str]]:
    """The export's data.yaml (read with ultralytics' YAML reader) and its class names."""
    from ultralytics.utils import YAML

    try:
        data = YAML.load(data_yaml)
    except Exception as e:  # noqa: BLE001  (any parse error is the file's)
        raise TrainerError(f"cannot read {data_yaml}: {e}") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not names:
        raise TrainerError(f"{data_yaml} has no class names ('names')")
    names = {int(k): str(v) for k, v in names.items()}
    if sorted(names) != list(range(len(names))):
        raise TrainerError(f"{data_yaml}: class indices are not 0..{len(names) - 1}: {sorted(names)}")
    return data, names


def split_images(data_yaml: Path, data: dict, split: str) -> list[Path]:
    """The image files of one split of a simgen YOLO export (sorted by name); [] when absent."""
    root = Path(data.get("path") or data_yaml.parent)
    if not root.is_absolute():
        root = (data_yaml.parent / root).resolve()
    entry = data.get(split)
    if not entry:
        return []
    folder = root / str(entry)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: p.name)


def label_of(image: Path) -> Path:
    """The label file Ultralytics pairs with an image: .../images/<split>/X.png -> .../labels/<split>/X.txt."""
    parts = list(image.parts)
    i = len(parts) - 1 - parts[::-1].index("images")
    return Path(*parts[:i], "labels", *parts[i + 1:]).with_suffix(".txt")


def mirror(images: list[Path], dest: Path, split: str) -> list[Path]:
    """Link the images into dest/images/<split>/ and copy their labels into dest/labels/<split>/;
    returns the mirrored image paths."""
    (dest / "images" / split).mkdir(parents=True)
    (dest / "labels" / split).mkdir(parents=True)
    out = []
    for im in images:
        target = dest / "images" / split / im.name
        try:
            os.link(im, target)
        except OSError:  # another file system, or no hard links
            try:
                target.symlink_to(im.resolve())
            except OSError:
                shutil.copyfile(im, target)
        label = label_of(im)
        if label.exists():  # an image without a label file is background for Ultralytics, too
            shutil.copyfile(label, dest / "labels" / split / label.name)
        out.append(target)
    return out


def read_targets(path: Path) -> list[tuple[int, Path]]:
    try:
        items = json.loads(path.read_text())
    except FileNotFoundError:
        raise TrainerError(f"--predict file {path} does not exist") from None
    except (OSError, ValueError) as e:
        raise TrainerError(f"cannot read --predict file {path}: {e}") from None
    if not isinstance(items, list):
        raise TrainerError(f"--predict file {path} must hold a JSON list of {{\"id\": int, \"file\": path}}")
    out, seen = [], set()
    for k, it in enumerate(items):
        if not (isinstance(it, dict) and isinstance(it.get("id"), int) and not isinstance(it.get("id"), bool)
                and isinstance(it.get("file"), str)):
            raise TrainerError(f"--predict file {path}: item {k} is not {{\"id\": int, \"file\": path}}: {it!r}"[:300])
        if it["id"] in seen:
            raise TrainerError(f"--predict file {path}: image id {it['id']} appears twice")
        seen.add(it["id"])
        f = Path(it["file"])
        if f.suffix.lower() not in IMAGE_SUFFIXES or "*" in it["file"]:
            raise TrainerError(f"--predict file {path}: {f} (id {it['id']}) is not an image file name")
        if not f.is_file():
            raise TrainerError(f"--predict file {path}: image {f} (id {it['id']}) does not exist")
        out.append((it["id"], f))
    return out


def check_args(a: argparse.Namespace) -> None:
    if not a.data.is_file():
        raise TrainerError(f"data.yaml {a.data} does not exist (render the arm with output.formats including yolo)")
    if a.frames < 1:
        raise TrainerError(f"--frames must be at least 1, got {a.frames}")
    for name in ("epochs", "imgsz", "batch"):
        if getattr(a, name) < 1:
            raise TrainerError(f"--{name} must be at least 1, got {getattr(a, name)}")
    if a.weights is not None and not a.weights.is_file():
        raise TrainerError(f"--weights file {a.weights} does not exist (a local .pt file; nothing is downloaded)")
    if not a.model.lower().endswith((".yaml", ".yml")):
        raise TrainerError(f"--model must be a model YAML such as yolov8n.yaml, got {a.model!r} "
                           "(pretrained weights go to --weights as a local file)")


def train_overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TrainerError(f"--train-arg must be KEY=VALUE, got {pair!r}")
        if key in CONTROLLED:
            raise TrainerError(f"--train-arg {key} is set by this script (use its own option)")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


# ----------------------------------------------------------------------------- environment


def offline_environment(workdir: Path, verbose: bool) -> None:
    """Settings for an offline, quiet Ultralytics; must run before ultralytics is imported."""
    os.environ["YOLO_OFFLINE"] = "1"
    if not verbose:
        os.environ["YOLO_VERBOSE"] = "False"
    config = workdir / "ultralytics"
    os.environ["YOLO_CONFIG_DIR"] = str(config)
    user = config / "Ultralytics"  # Ultralytics' USER_CONFIG_DIR under YOLO_CONFIG_DIR
    user.mkdir(parents=True, exist_ok=True)
    spec = importlib.util.find_spec("matplotlib")
    if spec and spec.submodule_search_locations:
        font = Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        for name in ("Arial.ttf", "Arial.Unicode.ttf"):  # what check_font would download
            if font.is_file() and not (user / name).exists():
                shutil.copyfile(font, user / name)


def import_ultralytics():
    if importlib.util.find_spec("ultralytics") is None:
        raise TrainerError(f"ultralytics is not importable by {sys.executable}: install ultralytics in the "
                           "interpreter given by study.trainer.python")
    try:
        import ultralytics
        from ultralytics.utils import SETTINGS
    except Exception as e:  # noqa: BLE001  (e.g. cv2 without libGL)
        why = " ".join(str(e).split())
        raise TrainerError(f"ultralytics fails to import in {sys.executable} ({type(e).__name__}: {why}): install "
                           "ultralytics (with opencv-python-headless) in the interpreter given by "
                           "study.trainer.python") from None
    SETTINGS.update({"sync": False})  # no analytics (offline anyway), in WORK/ultralytics/settings.json
    return ultralytics


# ----------------------------------------------------------------------------- work


def check_overrides(extra: dict) -> None:
    """--train-arg keys and values as Ultralytics checks them, as one-line errors."""
    from ultralytics.cfg import DEFAULT_CFG_DICT, check_cfg

    unknown = sorted(k for k in extra if k not in DEFAULT_CFG_DICT)
    if unknown:
        raise TrainerError(f"--train-arg {', '.join(unknown)}: not an Ultralytics training argument")
    try:
        check_cfg(dict(extra))
    except (TypeError, ValueError) as e:
        raise TrainerError(f"--train-arg: {' '.join(str(e).split())}") from None


def check_device(device: str) -> None:
    """The --device as Ultralytics selects it (CUDA asked for and missing: one line, not a traceback)."""
    from ultralytics.utils.torch_utils import select_device

    try:
        select_device(device, verbose=False)
    except (ValueError, RuntimeError, AssertionError) as e:
        first = " ".join(str(e).split()).split(" See https")[0]
        raise TrainerError(f"--device {device}: {first[:300]}") from None


def build_model(a: argparse.Namespace, nc: int):
    """The YOLO model of the YAML; with --weights, checks that the checkpoint fits the model the trainer
    builds (the YAML's, with the data's nc classes). The weights themselves are loaded by the trainer
    (train(): pretrained=PATH), into that model: loaded here, into the YAML's model with its own nc (80
    for the shipped YAMLs), the class-logit convolutions would not fit and the trainer, rebuilding the
    model for nc classes, would start them from scratch."""
    from ultralytics import YOLO

    try:
        model = YOLO(a.model, task="detect")
    except (FileNotFoundError, OSError) as e:
        raise TrainerError(f"model YAML {a.model!r} not found (neither a file nor shipped with ultralytics): {e}") \
            from None
    if a.weights is not None:
        from copy import deepcopy

        import torch
        from ultralytics.nn.tasks import DetectionModel

        try:
            from ultralytics.nn.tasks import load_checkpoint
            source, _ = load_checkpoint(str(a.weights))
        except Exception as e:  # noqa: BLE001
            raise TrainerError(f"cannot load --weights {a.weights}: {type(e).__name__}: {e}") from None
        own = DetectionModel(deepcopy(model.model.yaml), nc=nc, verbose=False).state_dict()
        theirs = source.float().state_dict() if isinstance(source, torch.nn.Module) else {}
        fit = sum(1 for k, v in theirs.items() if k in own and own[k].shape == v.shape)
        if fit < len(own) / 2:
            raise TrainerError(f"--weights {a.weights} do not fit {a.model}: {fit} of its {len(own)} tensors match")
    return model


def prepare_data(a: argparse.Namespace, data: dict, names: dict[int, str]) -> tuple[Path, list[Path], int]:
    train = split_images(a.data, data, "train")
    if len(train) < a.frames:
        raise TrainerError(f"--frames {a.frames}: the export {a.data} has only {len(train)} train images")
    train = train[:a.frames]
    val = split_images(a.data, data, "val")
    if val and val[0].parent.resolve() == train[0].parent.resolve():
        val = []  # the export has no val split (its data.yaml names the train folder for Ultralytics)
    root = a.workdir / "data"
    shutil.rmtree(root, ignore_errors=True)
    mirrored = mirror(train, root, "train")
    (root / "train.txt").write_text("".join(f"{p}\n" for p in mirrored))
    if val:
        val_list = mirror(val, root, "val")
        (root / "val.txt").write_text("".join(f"{p}\n" for p in val_list))
        val_entry, n_val = "val.txt", len(val_list)
    else:
        val_entry, n_val = "train.txt", len(mirrored)
    lines = [f"# written by yolo_trainer.py from {a.data} (first {a.frames} train images)",
             f"path: {json.dumps(str(root.resolve()))}", "train: train.txt", f"val: {val_entry}", "names:"]
    lines += [f"  {k}: {json.dumps(v)}" for k, v in sorted(names.items())]
    (root / "data.yaml").write_text("\n".join(lines) + "\n")
    return root / "data.yaml", train, n_val


def train(model, a: argparse.Namespace, data_yaml: Path, extra: dict) -> tuple[float, list[float], int]:
    starts: dict[int, float] = {}
    epoch_seconds: dict[int, float] = {}

    def on_start(trainer):
        starts[trainer.epoch] = time.perf_counter()

    def on_end(trainer):  # also called by the final evaluation (epoch + 1): that one had no start
        if trainer.epoch in starts and trainer.epoch not in epoch_seconds:
            epoch_seconds[trainer.epoch] = time.perf_counter() - starts[trainer.epoch]

    model.add_callback("on_train_epoch_start", on_start)
    model.add_callback("on_fit_epoch_end", on_end)
    args = {"val": False, **extra,  # val: only after the last epoch (unless --train-arg val=true)
            "data": str(data_yaml), "epochs": a.epochs, "imgsz": a.imgsz, "batch": a.batch, "seed": a.seed,
            "device": a.device, "project": str(a.workdir.resolve()), "name": "train", "exist_ok": True,
            "workers": 0, "amp": False, "plots": False, "deterministic": True, "verbose": a.verbose}
    if a.weights is not None:  # loaded by the trainer into the model it builds for the data (see build_model)
        args["pretrained"] = str(a.weights.resolve())
    t0 = time.perf_counter()
    model.train(**args)
    seconds = time.perf_counter() - t0
    return seconds, [epoch_seconds[k] for k in sorted(epoch_seconds)], model.trainer.epoch + 1


def predict(model, a: argparse.Namespace, targets: list[tuple[int, Path]], names: dict[int, str]) -> list[dict]:
    ids: dict[str, list[int]] = {}  # absolute path (as Ultralytics reports it) -> the image ids naming it
    for image_id, f in targets:
        ids.setdefault(str(f.absolute()), []).append(image_id)
    files, out, batch = list(ids), [], 16
    for start in range(0, len(files), batch):
        chunk = files[start:start + batch]  # Ultralytics sorts a list source: results are matched by path
        results = model.predict(chunk, conf=0.001, max_det=100, imgsz=a.imgsz, device=a.device,
                                verbose=a.verbose, save=False, half=False, batch=min(batch, len(chunk)),
                                project=str(a.workdir.resolve()), name="predict", exist_ok=True)
        if sorted(r.path for r in results) != sorted(chunk):
            raise TrainerError(f"Ultralytics predicted on {len(results)} images of {len(chunk)} given")
        for r in results:
            h, w = r.orig_shape
            boxes = r.boxes
            xyxy = boxes.xyxy.cpu().numpy().astype(float)
            for (x1, y1, x2, y2), c, s in zip(xyxy, boxes.cls.cpu().tolist(), boxes.conf.cpu().tolist()):
                x1, x2 = min(max(x1, 0.0), w), min(max(x2, 0.0), w)
                y1, y2 = min(max(y1, 0.0), h), min(max(y2, 0.0), h)
                if x2 <= x1 or y2 <= y1:  # nothing left of it inside the image
                    continue
                for image_id in ids[r.path]:
                    out.append({"image_id": image_id, "category": names[int(c)],
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(s)})
    return out


def device_name(model) -> str:
    try:
        import torch

        dev = next(model.model.parameters()).device
        if dev.type == "cuda":
            return f"{dev} ({torch.cuda.get_device_name(dev)})"
        return str(dev)
    except Exception:  # noqa: BLE001
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    try:
        check_args(a)
        extra = train_overrides(a.train_arg)
        targets = read_targets(a.predict)
        a.workdir.mkdir(parents=True, exist_ok=True)
        offline_environment(a.workdir, a.verbose)
        ultralytics = import_ultralytics()
        check_overrides(extra)
        if a.device == "auto":
            import torch

            a.device = "0" if torch.cuda.is_available() else "cpu"
        check_device(a.device)
        data, names = read_names(a.data)
        data_yaml, train_images, n_val = prepare_data(a, data, names)
        model = build_model(a, len(names))
        train_seconds, epoch_seconds, epochs = train(model, a, data_yaml, extra)
        device = device_name(model)
        t0 = time.perf_counter()
        detections = predict(model, a, targets, names)
        predict_seconds = time.perf_counter() - t0
        checkpoint = model.trainer.best if model.trainer.best.exists() else model.trainer.last
    except TrainerError as e:
        print(f"yolo_trainer: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    result = {"names": {str(k): v for k, v in sorted(names.items())}, "detections": detections,
              "train_seconds": round(train_seconds, 3), "predict_seconds": round(predict_seconds, 3),
              "epochs": epochs, "frames": a.frames, "device": device,
              "train_images": [p.name for p in train_images], "val_images": n_val,
              "epoch_seconds": [round(t, 3) for t in epoch_seconds], "model": a.model,
              "weights": str(a.weights.resolve()) if a.weights else None, "checkpoint": str(checkpoint),
              "imgsz": a.imgsz, "batch": a.batch, "seed": a.seed, "ultralytics": ultralytics.__version__}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_name(f".{a.out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result) + "\n")
    os.replace(tmp, a.out)
    print(f"yolo_trainer: {len(detections)} detections on {len(targets)} images, {epochs} epochs on "
          f"{a.frames} frames in {train_seconds:.1f} s ({device}) -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
