"""The trainers a study trains with (``study.trainer.name``), in one registry.

A :class:`Trainer` turns one training run of a study (:class:`TrainingRun`: the arm's dataset,
the training-set size, the seed, the target) into the child command that trains a detector and
predicts the target's images, and the spec that identifies the run: a run whose spec.json is
unchanged and whose result.json exists is kept. The command writes ``result.json``:
``{"detections": [COCO detections of the target's images], "train_seconds": s, "device": "..."}``.

:data:`TRAINERS` (a :class:`simgen.registry.Registry`) holds simgen's two, registered at
the end of this module: ``torchvision`` (simgen.torch.job in simgen's own environment, extra
``torch``) and ``ultralytics`` (``yolo_trainer.py`` run by ``study.trainer.python``). A user's
package adds one by an entry point in the group ``simgen.trainers`` (``mine =
"mypkg.training:MINE"``) or names it by its dotted path (``study.trainer.name=mypkg.training:MINE``).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from simgen.errors import SimgenError
from simgen.registry import PLAIN_NAME, Registry
from simgen.experiment.training import to_spec
from simgen.safe_paths import inside
from simgen.io.files import write_json
from simgen.io.names import COCO_JSON

YOLO_TRAINER = Path(__file__).with_name("yolo_trainer.py")


@dataclass(frozen=True)
class TrainingRun:
    """One training run of a study, as a trainer sees it."""

    study: Any
    """The study (simgen.experiment.config.StudyConfig); ``study.trainer`` is the trainer's node."""
    arm: str
    frames: int
    """Training-set size: the arm's first ``frames`` images (``image_ids[:frames]``)."""
    seed: int
    folder: Path
    """runs/ARM/nN/seedS: the command writes result.json here (and may keep its own files)."""
    dataset: Path
    """The arm's simgen dataset (data/ARM): coco.json, and what the trainer's dataset_overrides add."""
    labels: list[str]
    """The category names of the training data, sorted."""
    image_ids: list[int]
    """The arm's image ids, sorted."""
    image_size: tuple[int, int]
    """(height, width) of the arm's frames."""
    real_ids: list[int]
    """The image ids of study.real (sorted; [] when no arm mixes real images in)."""
    target_coco: Path
    target_images: Optional[Path]
    """Folder the target's file_name entries are relative to (None: the json's folder)."""
    predict_list: Path
    """runs/predict.json, the target's images as ``[{"id", "file"}]`` (written when the trainer
    asks for it: :attr:`Trainer.predict_list`)."""


@dataclass(frozen=True)
class Trainer:
    name: str
    """``study.trainer.name``."""
    doc: str
    """One line: what it trains and where it runs."""
    command: Callable[[TrainingRun], tuple[list[str], dict]]
    """command(run) -> (the child command, the spec that identifies the run: any JSON object)."""
    check: Optional[Callable[[Any], None]] = None
    """check(study): a one-line SimgenError, before anything renders, when what it needs is missing."""
    dataset_overrides: tuple[str, ...] = ()
    """simgen overrides of every arm's dataset (e.g. ``output.formats=[coco,yolo]``)."""
    predict_list: bool = False
    """Its runs read runs/predict.json (:attr:`TrainingRun.predict_list`)."""
    mixes_real: bool = False
    """It trains on study.real's images too (study.arms.NAME.real > 0)."""
    model: Callable[[Any], str] = lambda trainer_config: ""
    """model(study.trainer): what is trained, for the progress lines."""


def _check(trainer: Trainer, where: str) -> None:
    if not PLAIN_NAME.match(trainer.name):
        raise SimgenError(f"{where}: name {trainer.name!r} must be letters, digits, '_' or '-'")
    if not callable(trainer.command):
        raise SimgenError(f"{where}: command must be a function of the TrainingRun")


TRAINERS: Registry[Trainer] = Registry("trainer", "simgen.trainers", name_of=lambda t: t.name, cls=Trainer,
                                        check=_check)
"""The trainers by name: simgen's own (registered below), then a user's package's (entry points in
the group ``simgen.trainers``, or a dotted path in study.trainer.name)."""


# ------------------------------------------------------------------ torchvision


def _torchvision_check(study: Any) -> None:
    if importlib.util.find_spec("torch") is None:
        raise SimgenError("study.trainer.name=torchvision needs torch and torchvision: pip install -e '.[torch]' "
                          "(or study.trainer.name=ultralytics)")


def _torchvision_command(r: TrainingRun) -> tuple[list[str], dict]:
    study = r.study
    train = [{"coco": str(r.dataset / COCO_JSON), "images": None, "image_ids": r.image_ids[:r.frames]}]
    k = int(round(study.arms[r.arm].real * len(r.real_ids)))
    if k:
        train.append({"coco": str(Path(study.real.coco).expanduser().absolute()), "image_ids": r.real_ids[:k],
                      "images": str(Path(study.real.images).expanduser().absolute()) if study.real.images else None})
    spec = {"labels": r.labels, "train": train,
            "predict": {"coco": str(r.target_coco), "images": str(r.target_images) if r.target_images else None},
            "image_size": list(r.image_size), "seed": r.seed,
            "trainer": to_spec(study.trainer),  # study.trainer's torchvision settings, as they are
            "out": str(r.folder / "result.json")}
    return [sys.executable, "-m", "simgen.torch.job", str(r.folder / "spec.json")], spec


TORCHVISION = Trainer(
    "torchvision", "a small detector trained from scratch in simgen's environment (extra torch): simgen.torch.job",
    command=_torchvision_command, check=_torchvision_check, mixes_real=True, model=lambda t: t.arch)


# ------------------------------------------------------------------ ultralytics


def _ultralytics_check(study: Any) -> None:
    python = study.trainer.python
    if python is not None and shutil.which(python) is None and not Path(python).is_file():
        raise SimgenError(f"study.trainer.python={python}: no such interpreter")


def _yolo_device(device: str) -> str:
    """study.trainer.device as Ultralytics names devices (cuda:1 -> 1, cuda -> 0)."""
    if device == "cuda":
        return "0"
    return device.removeprefix("cuda:")


def _ultralytics_command(r: TrainingRun) -> tuple[list[str], dict]:
    t = r.study.trainer
    spec = {"trainer": "ultralytics", "data": str(r.dataset / "yolo" / "data.yaml"), "frames": r.frames,
            "model": t.model, "epochs": t.epochs, "imgsz": t.imgsz, "batch": t.batch_size, "seed": r.seed,
            "device": t.device, "weights": t.weights, "target": str(r.target_coco)}
    cmd = [t.python or sys.executable, str(YOLO_TRAINER), "--data", spec["data"], "--frames", str(r.frames),
           "--model", t.model, "--epochs", str(t.epochs), "--imgsz", str(t.imgsz), "--batch", str(t.batch_size),
           "--seed", str(r.seed), "--device", _yolo_device(t.device), "--predict", str(r.predict_list),
           "--out", str(r.folder / "result.json"), "--workdir", str(r.folder / "work")]
    if t.weights:
        cmd += ["--weights", str(Path(t.weights).expanduser().absolute())]
    return cmd, spec


ULTRALYTICS = Trainer(
    "ultralytics", "YOLO from a model YAML, trained by yolo_trainer.py in study.trainer.python (Ultralytics there)",
    command=_ultralytics_command, check=_ultralytics_check, dataset_overrides=("output.formats=[coco,yolo]",),
    predict_list=True, model=lambda t: t.model)


def write_predict_list(path: Path, gt: Any, images: Path) -> None:
    """The target's images as a trainer's runs/predict.json lists them: ``[{"id", "file"}]``."""
    write_json(path, [{"id": int(im["id"]), "file": str(inside(images, im["file_name"], f"image {im['id']} file_name"))}
                      for im in gt.loadImgs(sorted(gt.getImgIds()))])


TRAINERS.register(TORCHVISION)
TRAINERS.register(ULTRALYTICS)
