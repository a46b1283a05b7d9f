"""Train a torchvision detector from scratch on simgen datasets, predict COCO detections, score them.

Reusable pieces (scripts/train_detector.py is a thin command line over them):

- :func:`build_detector`: a torchvision detection model with random weights (``weights=None``,
  ``weights_backbone=None``: nothing is downloaded), or the state dict of a local file.
- :func:`train`: trains with the settings of a
  :class:`~simgen.experiment.training.TorchvisionTrainer` (the one declaration a study's
  ``study.trainer`` and scripts/train_detector.py use too; by default AdamW at 1e-3, linear warm-up,
  cosine decay, gradient clipping), a fixed number of steps (or epochs), seeded data order; returns
  the losses of every step.
- :func:`predict`: COCO-format detections ``{image_id, category_id, bbox [x, y, w, h], score}``.
- :func:`coco_evaluate`: pycocotools' COCOeval (bbox) of such detections against coco.json;
  :func:`evaluate`: both on a SimgenDataset (its frames / split only).

Images go to the model as float32 in [0, 1]; targets as boxes (XYXY, the dataset's convention:
COCO's ``[x, y, x + w, y + h]``), labels (category ids) and, for Mask R-CNN, masks.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
import torchvision

from simgen.errors import SimgenError
from simgen.config.schema import check_fields
from simgen.experiment.training import ARCHS, TorchvisionTrainer  # ARCHS: the detectors build_detector makes
from simgen.io.names import COCO_JSON
from simgen.torch.dataset import collate_detection

AVX2_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
"""The environment that holds torch's CPU kernels at AVX2: ATen's dispatch, oneDNN's (convolutions)
and MKL's conditional numerical reproducibility (matrix products). Each is read when that library
first computes, so setting them in a process that has not trained yet is enough."""


def use_cpu(cfg: TorchvisionTrainer) -> dict[str, Any]:
    """Apply ``cfg.threads`` and ``cfg.cpu_kernels`` to this process; call it before its first torch
    computation (the kernels are chosen then, once). Returns what it trains with, for a result's
    record: ``{"threads": n, "kernels": ATen's capability, e.g. "AVX2"}``."""
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    if cfg.cpu_kernels == "avx2" and torch.cpu._is_avx2_supported():
        os.environ.update(AVX2_KERNELS)
    return {"threads": torch.get_num_threads(), "kernels": torch.backends.cpu.get_cpu_capability()}


class TinyBackbone(torch.nn.Module):
    """Five 3x3 conv + BatchNorm + ReLU layers, stride 8, one feature map of ``2 * width``
    channels: ~0.4 M parameters with FCOS's head, a training step of 8 images of 96x72 in
    ~0.15 s on 2 CPU cores, for objects of ~8-60 px. Small enough to train from scratch in
    minutes; no pretrained weights exist or are needed."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: int) -> torch.nn.Sequential:
            return torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                                       torch.nn.BatchNorm2d(cout), torch.nn.ReLU(inplace=True))

        self.body = torch.nn.Sequential(block(3, width // 2, 2), block(width // 2, width, 2), block(width, width, 1),
                                        block(width, 2 * width, 2), block(2 * width, 2 * width, 1))
        self.out_channels = 2 * width

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"0": self.body(x)}


def _tiny_fcos(num_classes: int, anchor_scale: float, **kwargs: Any) -> torch.nn.Module:
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    size = max(1, int(round(16 * anchor_scale)))
    return FCOS(TinyBackbone(), num_classes=num_classes,
                anchor_generator=AnchorGenerator(((size,),), ((1.0,),)), **kwargs)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; otherwise the device named."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def build_detector(num_classes: int, arch: str, *,
                   image_size: tuple[int, int] | None = None, anchor_scale: float = 1.0,
                   weights: str | os.PathLike | None = None, seed: int | None = 0,
                   **model_kwargs: Any) -> torch.nn.Module:
    """A detector of :data:`~simgen.experiment.training.ARCHS` (a trainer config's ``arch``) for
    ``num_classes`` classes (largest category id + 1) with random weights drawn from ``seed`` (or
    the state dict saved in the local file ``weights``, a trainer config's ``weights``).

    ``image_size`` (H, W): the model's resize then keeps images of that size as they are
    (min_size = min(H, W), max_size = max(H, W)) instead of scaling them up to 800 px.
    ``anchor_scale`` multiplies the anchor sizes (torchvision's are made for 800 px images;
    e.g. 0.5 for small objects in small frames). ``model_kwargs`` go to the torchvision model,
    e.g. ``box_batch_size_per_image=128`` for the R-CNNs (RoIs sampled per image in training;
    torchvision's 512 is made for COCO's crowded images: 128 makes a CPU step at 128x96 about
    30 % cheaper).
    """
    if arch not in ARCHS:
        raise SimgenError(f"unknown detector {arch!r}; choose from {list(ARCHS)}")
    if num_classes < 2:
        raise SimgenError(f"num_classes must be at least 2 (background + one category), got {num_classes}")
    kwargs: dict[str, Any] = dict(model_kwargs)
    if image_size is not None:
        kwargs.update(min_size=int(min(image_size)), max_size=int(max(image_size)))
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        if arch == "tiny_fcos":
            model = _tiny_fcos(num_classes, anchor_scale, **kwargs)
        else:
            model = torchvision.models.get_model(arch, weights=None, weights_backbone=None,
                                                 num_classes=num_classes, **kwargs)
    if anchor_scale != 1.0 and arch != "tiny_fcos":
        owner = getattr(model, "rpn", model)
        gen = owner.anchor_generator
        gen.sizes = tuple(tuple(max(1, int(round(s * anchor_scale))) for s in level) for level in gen.sizes)
        gen.cell_anchors = [gen.generate_anchors(s, a) for s, a in zip(gen.sizes, gen.aspect_ratios)]
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise SimgenError(f"weights file {path} does not exist; give a state dict saved by "
                              "scripts/train_detector.py --save (no weights are downloaded)")
        state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise SimgenError(f"{path} does not fit {arch} with {num_classes} classes: {first}") from e
    return model


def _to_model(images: Sequence[torch.Tensor], targets: Sequence[dict], device: torch.device,
              masks: bool) -> tuple[list[torch.Tensor], list[dict]]:
    ims = [im.as_subclass(torch.Tensor).to(device, torch.float32) / 255.0 for im in images]
    keys = ("boxes", "labels", "masks") if masks else ("boxes", "labels")
    tgs = [{k: t[k].as_subclass(torch.Tensor).to(device) for k in keys} for t in targets]
    return ims, tgs


def _batches(dataset: torch.utils.data.Dataset, batch_size: int, seed: int,
             num_workers: int) -> Iterator[tuple[list, list]]:
    gen = torch.Generator().manual_seed(seed)
    if isinstance(dataset, torch.utils.data.IterableDataset):  # a stream (ShardStream): read in its own order
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=num_workers,
                                             collate_fn=collate_detection)
    else:
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=gen,
                                             num_workers=num_workers, collate_fn=collate_detection,
                                             drop_last=len(dataset) >= batch_size)
    epoch = 0
    while True:
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        yield from loader
        epoch += 1


def train(model: torch.nn.Module, dataset: torch.utils.data.Dataset, cfg: TorchvisionTrainer | None = None, *,
          seed: int = 0, epochs: float | None = None, num_workers: int = 0,
          log: Callable[[int, dict[str, float]], None] | None = None) -> list[dict[str, float]]:
    """Train ``model`` in place on ``dataset`` (samples ``(image uint8, target)`` as SimgenDataset
    gives them) with the settings ``cfg`` (default: :class:`TorchvisionTrainer`'s defaults) for
    ``cfg.steps`` steps, or ``epochs`` passes over the dataset instead (rounded up to whole
    batches); ``seed``: the data order (and the DataLoader workers' seeds), ``num_workers``:
    DataLoader worker processes. ``cfg.arch``, ``weights``, ``threads`` and ``cpu_kernels`` are the
    caller's to apply (:func:`build_detector`, :func:`use_cpu`). Returns every step's losses
    (``loss`` = their sum, and the step's ``lr``) and calls ``log(step, losses)`` after each.
    A non-finite loss raises SimgenError."""
    cfg = cfg or TorchvisionTrainer()
    check_fields(cfg)
    if len(dataset) == 0:
        raise SimgenError("the dataset has no frames to train on")
    steps = cfg.steps if epochs is None else math.ceil(epochs * len(dataset) / cfg.batch_size)
    if steps < 1:
        raise SimgenError(f"training needs at least one step, got {steps}")
    device = resolve_device(cfg.device)
    model.to(device).train()
    masks = getattr(model, "roi_heads", None) is not None and model.roi_heads.has_mask()
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                                                     weight_decay=cfg.weight_decay)
    else:  # adamw (check_fields allows no other)
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = max(1, min(cfg.warmup, steps))
    cosine = cfg.schedule == "cosine"

    def factor(s: int) -> float:
        decay = 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))) if cosine else 1.0
        return min(1.0, (s + 1) / warmup) * decay

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    history: list[dict[str, float]] = []
    batches = _batches(dataset, cfg.batch_size, seed, num_workers)
    for step in range(1, steps + 1):
        images, targets = next(batches)
        ims, tgs = _to_model(images, targets, device, masks)
        losses = model(ims, tgs)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            raise SimgenError(f"step {step}: the loss is {loss.item()} ({ {k: v.item() for k, v in losses.items()} }); "
                              "lower the learning rate (--lr)")
        lr = opt.param_groups[0]["lr"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.clip)
        opt.step()
        sched.step()
        record = {"loss": loss.item(), **{k: v.item() for k, v in losses.items()}, "lr": lr}  # no grad warning
        history.append(record)
        if log is not None:
            log(step, record)
    return history


@torch.no_grad()
def predict(model: torch.nn.Module, dataset: torch.utils.data.Dataset, *, device: str = "auto",
            batch_size: int = 4, score_threshold: float = 0.0) -> list[dict]:
    """COCO-format detections of ``model`` on every sample of ``dataset``: ``{"image_id",
    "category_id", "bbox": [x, y, w, h], "score"}``, boxes in the coordinates of the samples
    (give a dataset without geometric transforms to score against coco.json)."""
    dev = resolve_device(device)
    model.to(dev).eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         collate_fn=collate_detection)
    out: list[dict] = []
    for images, targets in loader:
        ims = [im.as_subclass(torch.Tensor).to(dev, torch.float32) / 255.0 for im in images]
        for det, target in zip(model(ims), targets):
            boxes = det["boxes"].cpu().double()
            for (x1, y1, x2, y2), label, score in zip(boxes.tolist(), det["labels"].tolist(), det["scores"].tolist()):
                if score >= score_threshold:
                    out.append({"image_id": int(target["image_id"]), "category_id": int(label),
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)})
    return out


COCO_STATS = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
              "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")
"""Names of COCOeval's 12 summary numbers (bbox), in its order."""


def coco_evaluate(coco_json: str | os.PathLike, detections: list[dict],
                  image_ids: Sequence[int] | None = None) -> dict[str, float]:
    """pycocotools COCOeval (bbox) of ``detections`` against the ground truth in ``coco_json``
    (a dataset's coco.json), over ``image_ids`` (default: every image there). -1 where COCO has
    no ground truth for a number (e.g. no large objects)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(coco_json))
        ids = sorted(gt.getImgIds()) if image_ids is None else sorted(int(i) for i in image_ids)
        if not detections:
            return {k: 0.0 for k in COCO_STATS}
        dt = gt.loadRes([dict(d) for d in detections])
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.params.imgIds = ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: float(v) for k, v in zip(COCO_STATS, ev.stats)}


def evaluate(model: torch.nn.Module, dataset: Any, *, device: str = "auto",
             batch_size: int = 4) -> tuple[dict[str, float], list[dict]]:
    """COCOeval (bbox) of ``model`` on a :class:`~simgen.torch.SimgenDataset` (give one without
    geometric transforms): its detections scored against the dataset's coco.json over the
    dataset's frames only (its split). Returns ``(stats, detections)``."""
    dets = predict(model, dataset, device=device, batch_size=batch_size)
    return coco_evaluate(Path(dataset.root) / COCO_JSON, dets, [f + 1 for f in dataset.frames]), dets
