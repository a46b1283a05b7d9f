"""What a domain-randomization experiment ("study") is: its declared settings and how it is read.

A study is the ``study:`` node of a file in configs/study/ (``simgen study dr_gap``) or of any
YAML file (``simgen study /path/my_study.yaml``). Every field is declared once
here, with its bounds and meaning, and checked by :func:`simgen.config.schema.check_fields`; command-line
overrides ``study.KEY=VALUE`` are merged into it, any other override is a simgen setting applied
to every dataset the study renders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from simgen.errors import SimgenError
from simgen.config.schema import UnknownKey, check_fields, check_key, did_you_mean, merge_overrides, setting
from simgen.paths import CONFIG_DIR
from simgen.experiment.from_fit import best_overrides
from simgen.experiment.trainers import TRAINERS
from simgen.experiment.training import TorchvisionTrainer

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
STUDY_DIR = CONFIG_DIR / "study"
"""simgen's own studies: ``simgen study NAME`` runs STUDY_DIR/NAME.yaml."""


@dataclass
class ArmConfig:
    """One arm: the simgen settings it renders with, and how much real data it mixes in."""

    overrides: list[str] = setting([], empty_ok=True, example="[lighting=wide,materials=procedural]")
    """simgen overrides of this arm (after study.simgen and the command line's), e.g.
    [lighting=wide, materials=procedural]."""
    real: float = setting(0.0, ge=0.0, le=1.0)
    """Fraction of the real training images (study.real) added to this arm's frames: the first
    round(real * N) of them by image id. 0: synthetic only."""
    from_fit: Optional[str] = setting(None, example="fits/shop")
    """A simgen fit's folder: this arm renders with its best.yaml's settings (after study.simgen and
    the command line's, before this arm's overrides). null: none."""


@dataclass
class TargetConfig:
    """The test set every arm's detector is scored on: real images (a COCO json) or a rendered one."""

    coco: Optional[str] = setting(None, example="/data/real/test.json")
    """The target test set: a COCO json (boxes; categories matched by name). null: render one
    with simgen under study.target.overrides (a sim-to-sim domain gap)."""
    images: Optional[str] = setting(None, example="/data/real/images")
    """Folder the target json's file_name entries are relative to (default: the json's folder)."""
    overrides: list[str] = setting([], empty_ok=True, example="[lighting=sky,seed=1000]")
    """simgen overrides of the rendered target set (after study.simgen and the command line's);
    give it another seed than the arms so that no frame is shared."""
    frames: int = setting(32, ge=1, le=1_000_000)
    """Frames of the rendered target set."""
    rename: dict[str, str] = setting({}, example="{cup: mug}")
    """Target category name -> the name simgen uses, where they differ."""
    categories: list[str] = setting([], empty_ok=True, example="[mug,bottle]")
    """Evaluate these target categories only (after rename); []: every target category, each of
    which must be a category of the training data."""


@dataclass
class RealConfig:
    """Real training images to mix into arms (study.arms.NAME.real)."""

    coco: Optional[str] = setting(None, example="/data/real/train.json")
    """Real training images to mix into arms with real > 0: a COCO json (boxes)."""
    images: Optional[str] = setting(None, example="/data/real/images")
    """Folder the json's file_name entries are relative to (default: the json's folder)."""


@dataclass
class _TrainerName:
    # a base class only so that ``name`` comes first in study.trainer (a dataclass lists the fields
    # of its bases first), before the torchvision trainer's settings
    name: str = setting("torchvision", choices=TRAINERS)
    """torchvision: a small detector trained from scratch in simgen's env (extra torch);
    ultralytics: YOLO from a model YAML, run by study.trainer.python (Ultralytics installed there)."""


@dataclass
class TrainerConfig(TorchvisionTrainer, _TrainerName):
    """The detector trained per arm, training-set size and seed. name picks the trainer. The keys
    from arch to weights are the torchvision trainer's settings (declared once in
    simgen.experiment.training.TorchvisionTrainer; scripts/train_detector.py takes the same), which
    every training run's spec.json holds unchanged; batch_size, device and weights serve the
    ultralytics trainer too, which has model, epochs, imgsz and python besides."""

    model: str = setting("yolov8n.yaml")
    """ultralytics: the model YAML trained from scratch (shipped inside the ultralytics package)."""
    epochs: int = setting(30, ge=1, le=100_000)
    """ultralytics: epochs per training run."""
    imgsz: int = setting(128, ge=32, le=8192)
    """ultralytics: training and prediction image size."""
    python: Optional[str] = setting(None, example="/opt/yolo-env/bin/python")
    """ultralytics: the Python interpreter of an environment that has Ultralytics (bash
    scripts/client_env.sh builds one: .venv-clients/bin/python); null: simgen's own, which has it
    only if you installed it there (it brings opencv-python, which replaces the headless OpenCV
    simgen uses: keep it in an environment of its own)."""


@dataclass
class StudyConfig:
    out: Optional[str] = setting(None, example="/data/experiments/dr_gap")
    """Folder of the study: datasets (data/ARM, data/target), runs/ and the results (created;
    relative to the working directory). null: experiments/NAME, NAME the study file's name."""
    simgen: list[str] = setting([], empty_ok=True, example="[render.width=96,render.height=72]")
    """simgen overrides of every dataset the study renders (arms and target)."""
    arms: dict[str, ArmConfig] = field(default_factory=dict)
    """The arms compared: name -> {overrides, real}. At least one."""
    frames: list[int] = setting([64], ge=1, le=10_000_000, example="[16,32,64]")
    """Training-set sizes: each arm renders the largest and trains on its first N frames for
    every N here (several sizes give a learning curve)."""
    seeds: list[int] = setting([0, 1, 2], ge=0, le=2**31 - 1, example="[0,1,2]")
    """Training seeds (initial weights and data order) per arm and size: their spread is the
    seed noise the arms' differences are compared with."""
    target: TargetConfig = field(default_factory=TargetConfig)
    real: RealConfig = field(default_factory=RealConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    launch: list[str] = setting([], empty_ok=True, example="[-m,hydra/launcher=local,'shard.index=range(2)',shard.count=2]")
    """Extra simgen command-line arguments for rendering each dataset, e.g. a launcher and shards
    ([-m, hydra/launcher=slurm, 'shard.index=range(8)', shard.count=8]): each dataset is still one
    folder."""
    cpu_kernels: str = setting("baseline", choices=("baseline", "native"))
    """The vector kernels numpy computes the study's renders with (scene draws, camera effects).
    baseline: the CPU architecture's baseline, the same on every CPU of it; native:
    this CPU's fastest, whose last bits differ from one CPU to another: 16 frames of the default
    config rendered without AVX2 differed from those with it in one pixel by one level in 4 frames,
    enough for a detector trained on them to come out another. It is the environment of the
    study's renders and training runs (simgen.child_processes.children_numpy_kernels), through the
    command and the Python API alike; torch's own kernels are study.trainer.cpu_kernels."""


def check_study(s: StudyConfig) -> StudyConfig:
    """Every declared bound, then the rules that tie fields together; a one-line SimgenError."""
    check_fields(s, "study.")
    if not s.arms:
        raise SimgenError("study.arms is empty; name at least one arm, e.g. "
                          "study.arms={narrow: {overrides: [lighting=narrow]}}")
    for name, arm in s.arms.items():
        if not NAME.match(name) or name == "target":
            raise SimgenError(f"study.arms: bad arm name {name!r}; use letters, digits, '_', '-', '.' "
                              "(it names a folder; 'target' is taken)")
        check_fields(arm, f"study.arms.{name}.")
        if arm.from_fit is not None:
            best_overrides(arm.from_fit, f"study.arms.{name}.from_fit")
        if arm.real > 0 and s.real.coco is None:
            raise SimgenError(f"study.arms.{name}.real={arm.real} mixes in real images but study.real.coco "
                              "is not set; set it to a COCO json of real training images")
        if arm.real > 0 and not TRAINERS.get(s.trainer.name).mixes_real:
            raise SimgenError(f"study.arms.{name}.real={arm.real}: mixing real images needs a trainer that "
                              f"trains on them, e.g. study.trainer.name=torchvision ({s.trainer.name} does not)")
    if len(set(s.frames)) != len(s.frames) or len(set(s.seeds)) != len(s.seeds):
        raise SimgenError(f"study.frames={s.frames} and study.seeds={s.seeds} must not repeat a value")
    for key, value in (("study.target.coco", s.target.coco), ("study.real.coco", s.real.coco)):
        if value is not None and not Path(value).expanduser().is_file():
            raise SimgenError(f"{key}={value}: no such file; give the path of a COCO json")
    for key, value in (("study.target.images", s.target.images), ("study.real.images", s.real.images)):
        if value is not None and not Path(value).expanduser().is_dir():
            raise SimgenError(f"{key}={value}: no such folder")
    if s.trainer.weights is not None and not Path(s.trainer.weights).expanduser().is_file():
        raise SimgenError(f"study.trainer.weights={s.trainer.weights}: no such file (weights are never "
                          "downloaded: give a local file)")
    return s


def is_study_file(path: Path) -> bool:
    """Whether a YAML file describes a study (has a top-level ``study`` key)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "study" in data


def is_file_argument(value: str) -> bool:
    """Whether a study argument is a file's path (it ends with .yaml or .yml, or holds a '/'), not
    the name of one of simgen's studies."""
    return value.endswith((".yaml", ".yml")) or "/" in value


def studies() -> dict[str, Path]:
    """simgen's own studies: name -> file (STUDY_DIR/NAME.yaml), by name."""
    return {p.stem: p for p in sorted(STUDY_DIR.glob("*.yaml")) if is_study_file(p)}


def study_named(value: str) -> Path | None:
    """The study file ``value`` names, if it names one: one of simgen's (STUDY_DIR/NAME.yaml) or,
    for a path (:func:`is_file_argument`), that file when it has a ``study`` node."""
    path = Path(value).expanduser() if is_file_argument(value) else STUDY_DIR / f"{value}.yaml"
    return path if value and is_study_file(path) else None


def load_study(path: Path, overrides: list[str]) -> StudyConfig:
    """The study of YAML file ``path`` with ``study.KEY=VALUE`` overrides merged in, checked."""
    from omegaconf import OmegaConf

    try:
        data = OmegaConf.load(path)
    except Exception as e:  # noqa: BLE001 (yaml and OSError alike)
        raise SimgenError(f"cannot read the study {path}: {' '.join(str(e).split())}") from None
    other = sorted(k for k in data if k not in ("study", "defaults"))
    if other:
        raise SimgenError(f"{path}: a study file holds only 'study:' (found {other[0]!r}); put simgen "
                          "settings of every dataset in study.simgen")
    study = merge_overrides(StudyConfig, data.get("study"), overrides, "study", _check_key,
                            "quote list items holding brackets or commas, e.g. "
                            "\"study.simgen=[render.width=96,'scene.camera_distance=[0.5,0.9]']\"")
    assert isinstance(study, StudyConfig)
    return check_study(study)


def _check_key(key: str) -> None:
    """SimgenError with a "did you mean" unless ``key`` names a study field (arms.NAME.* inside):
    the one override-key check (:func:`simgen.config.schema.check_key`), an arm's keys named as such."""
    try:
        check_key(key, StudyConfig, under="study", where="docs/config.md, section Studies, lists the study keys")
    except UnknownKey as e:
        if e.owner is not ArmConfig:
            raise
        guess = did_you_mean(e.part, e.options)
        raise SimgenError(f"unknown arm key {e.part!r}; {guess + ' ' if guess else ''}"
                          f"(an arm has {', '.join(e.options)})") from None
