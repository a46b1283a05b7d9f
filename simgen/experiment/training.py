"""The torchvision trainer's settings, declared once, and how they travel to a training job.

:class:`TorchvisionTrainer` is the one declaration (type, default, bounds, meaning) of how simgen's
torchvision detector is built and trained. Everything that trains it uses this dataclass:

- a study's ``study.trainer`` node (:class:`simgen.experiment.config.TrainerConfig` extends it
  with the trainer's name and the ultralytics trainer's settings) is checked against it;
- the study's runner writes it into each training run's ``spec.json`` as it is (:func:`to_spec`);
- the training job (``python -m simgen.torch.job``) rebuilds exactly this dataclass from the spec
  (:func:`from_spec`: every field must be there, nothing else may be, no defaults of its own);
- :func:`simgen.torch.train.train` takes it, and ``scripts/train_detector.py`` takes its
  command-line flags and their defaults from it.

This module imports neither torch nor anything above the declared settings, so that the study's
config (which must load without torch) and simgen.torch alike can import it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

from simgen.errors import SimgenError
from simgen.config.schema import check_fields, setting

ARCHS = ("tiny_fcos", "fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_mobilenet_v3_large_320_fpn",
         "fasterrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn", "retinanet_resnet50_fpn", "fcos_resnet50_fpn")
"""Detection models :func:`simgen.torch.train.build_detector` makes: ``tiny_fcos`` (simgen's own
small backbone under torchvision's FCOS) and torchvision.models.get_model names."""

RCNN_ARCHS = tuple(a for a in ARCHS if "rcnn" in a)
"""The R-CNN models of :data:`ARCHS` (those that sample RoIs in training)."""


@dataclass
class TorchvisionTrainer:
    """A torchvision detector trained from scratch (or from a local state dict) for a fixed number
    of steps: AdamW or SGD with momentum, linear learning-rate warm-up, an optional cosine decay,
    gradient clipping."""

    arch: str = setting("tiny_fcos", choices=ARCHS)
    """The detector: tiny_fcos (simgen's ~0.4 M-parameter FCOS, small enough to train on a CPU in
    minutes) or one of torchvision's Faster R-CNN, Mask R-CNN, RetinaNet and FCOS models."""
    steps: int = setting(600, ge=1, le=10_000_000)
    """Optimizer steps per training run (one batch each)."""
    batch_size: int = setting(8, ge=1, le=4096)
    """Images per optimizer step."""
    optimizer: str = setting("adamw", choices=("adamw", "sgd"))
    """adamw (betas 0.9, 0.999: trains the small from-scratch detectors in fewer steps) or sgd (with
    momentum; it usually wants a learning rate about 10 times adamw's)."""
    lr: float = setting(0.001, gt=0, le=10)
    """Learning rate after the warm-up (and before the cosine decay)."""
    momentum: float = setting(0.9, ge=0, lt=1)
    """sgd's momentum (adamw does not use it)."""
    weight_decay: float = setting(0.0001, ge=0, le=1)
    """Weight decay (adamw: decoupled from the gradient; sgd: an L2 term in it)."""
    schedule: str = setting("cosine", choices=("cosine", "constant"))
    """cosine: decay the learning rate to 0 along a half cosine over all the steps (from step 0; the
    warm-up ramp multiplies it); constant: keep it."""
    warmup: int = setting(50, ge=0, le=10_000_000)
    """Steps of linear learning-rate warm-up, from lr / warmup up to lr (capped at the number of
    steps; 0: none)."""
    clip: float = setting(10.0, ge=0, le=1_000_000)
    """Clip the gradients' norm at this (detectors trained from scratch diverge early without it);
    0: no clipping."""
    threads: int = setting(0, ge=0, le=1024)
    """torch CPU threads of the training process (0: torch's default, one per core). A CPU model
    depends on it (the sums of a step split over the threads), so a figure meant to reproduce on
    other machines fixes it (configs/study/fit_gap.yaml: 2)."""
    cpu_kernels: str = setting("avx2", choices=("avx2", "native"))
    """The CPU kernels torch trains with. avx2: torch's own (ATen), oneDNN's and MKL's held at
    AVX2 on an x86 CPU that has it, so that a CPU with AVX-512 trains the same model bit for bit
    as one without (with the same threads); native: each CPU's fastest, whose sums round
    differently from one CPU to another: the same seeds then train other models. Changes nothing
    on a GPU or another architecture."""
    device: str = setting("auto", example="cuda:0")
    """auto (the GPU when there is one, else the CPU), cpu, cuda, cuda:1, ..."""
    weights: Optional[str] = setting(None, example="/models/start.pt")
    """A local file to start from: a state dict, e.g. one written by scripts/train_detector.py
    --save (the ultralytics trainer: a .pt checkpoint). Nothing is ever downloaded."""


FIELDS = tuple(f.name for f in dataclasses.fields(TorchvisionTrainer))
"""The names of :class:`TorchvisionTrainer`'s settings, in declaration order."""


def settings_of(config: Any) -> TorchvisionTrainer:
    """The :class:`TorchvisionTrainer` part of ``config`` (a TorchvisionTrainer or a subclass, such
    as a study's trainer node), field for field."""
    if not isinstance(config, TorchvisionTrainer):
        raise TypeError(f"expected a TorchvisionTrainer, got {type(config).__name__}")
    return TorchvisionTrainer(**{name: getattr(config, name) for name in FIELDS})


def to_spec(config: Any) -> dict[str, Any]:
    """The torchvision trainer's settings of ``config`` as the plain JSON object a training job's
    spec holds: every field of :class:`TorchvisionTrainer`, by name, nothing else."""
    return dataclasses.asdict(settings_of(config))


def from_spec(data: Any, where: str = "spec trainer") -> TorchvisionTrainer:
    """The :class:`TorchvisionTrainer` a spec's trainer object (:func:`to_spec`) describes, checked
    against the declaration. The spec is written by simgen, so every field must be there and no
    other: a missing or unknown key is a one-line SimgenError, never a default filled in."""
    if not isinstance(data, dict):
        raise SimgenError(f"{where}: expected an object with the keys {', '.join(FIELDS)}, got {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in FIELDS)
    missing = [name for name in FIELDS if name not in data]
    if unknown or missing:
        parts = ([f"unknown key(s) {', '.join(unknown)}"] if unknown else []) + \
            ([f"missing key(s) {', '.join(missing)}"] if missing else [])
        raise SimgenError(f"{where}: {'; '.join(parts)} (it holds exactly the settings of "
                          "simgen.experiment.training.TorchvisionTrainer; was it written by another simgen version?)")
    config = TorchvisionTrainer(**data)
    check_fields(config, f"{where}.")
    return config
