"""PyTorch access to simgen datasets (optional extra: ``pip install -e '.[torch]'``).

``import simgen`` and the CLI never import this package (nor torch); it is for training code:

    from simgen.torch import SimgenDataset, collate_detection
    ds = SimgenDataset("out/", transforms=v2.RandomHorizontalFlip())
    image, target = ds[0]      # tv_tensors: Image, BoundingBoxes, Mask, labels, depth, flow, KeyPoints
    stream = ShardStream("s3://bucket/run1/webdataset", split="train")  # the same samples from shards

:mod:`simgen.torch.train` builds a torchvision detector from scratch, trains it and predicts
COCO-format detections (scripts/train_detector.py).
"""

try:
    import torch  # noqa: F401
    import torchvision  # noqa: F401
except ImportError as e:  # the optional extra is missing: say how to get it
    raise ImportError(f"simgen.torch needs torch and torchvision ({e}); install them with "
                      "pip install -e '.[torch]'") from e

from simgen.torch.dataset import EXTRAS, SimgenDataset, collate_detection  # noqa: E402
from simgen.torch.stream import ShardStream  # noqa: E402
from simgen.torch.tensors import DenseMap, Flow, Normals  # noqa: E402

__all__ = ["EXTRAS", "DenseMap", "Flow", "Normals", "ShardStream", "SimgenDataset", "collate_detection"]
