"""``fit.objective=kid``: the Kernel Inception Distance between target and renders, in the feature
space of a torchvision backbone whose weights are a local file (nothing is downloaded).

KID (Binkowski et al., "Demystifying MMD GANs", 2018) is the squared maximum mean discrepancy of
the two feature sets under the cubic polynomial kernel ``k(x, y) = (x . y / d + 1) ** 3`` (``d``
the feature dimension), estimated without bias (:func:`kid`): 0 in expectation when both sets come
from one distribution (an estimate may then be slightly negative), larger the further apart they
are. Unlike FID it has no bias that depends on the sample sizes, which suits a fit's few frames
per trial. The features (:class:`Features`) are the backbone's pooled output before its
classifier (``fc``), of the images at their own size, normalized with ImageNet's mean and
standard deviation as torchvision's classifiers expect.

This is the one module of the library that imports torch (the ``torch`` extra), and only when
the objective is chosen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from simgen.errors import SimgenError, install_hint
from simgen.assets.library import sha256_of

ARCHS = ("resnet18", "resnet34", "resnet50")
"""torchvision backbones fit.kid_arch may name (their pooled features: 512, 512, 2048)."""
BATCH = 32
"""Images per forward pass."""
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def file_digest(path: Path) -> str:
    """sha256 of a file (the weights' identity in the target cache's fingerprint)."""
    return sha256_of(path)[:16]


class Features:
    """The pooled features of a torchvision backbone with weights from a local file."""

    def __init__(self, arch: str, weights: str | Path):
        try:
            import torch
            import torchvision
        except ImportError:
            raise SimgenError("fit.objective=kid needs torch and torchvision: " + install_hint("torch")) from None
        if arch not in ARCHS:
            raise SimgenError(f"fit.kid_arch={arch!r}: use one of {', '.join(ARCHS)}")
        path = Path(weights).expanduser()
        model = torchvision.models.get_model(arch, weights=None)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
                state = state["state_dict"]
            model.load_state_dict(state)
        except Exception as e:  # noqa: BLE001 (torch raises many kinds for a bad file)
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SimgenError(f"fit.kid_weights={weights}: not a state dict of torchvision's {arch} ({first})") from None
        model.fc = torch.nn.Identity()
        self.model = model.eval()
        self.key = {"arch": arch, "weights": file_digest(path)}

    def __call__(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, D) float64 features of (H, W, 3) uint8 images (N may be 0)."""
        import torch

        out = []
        for k in range(0, len(images), BATCH):
            x = (np.stack(images[k:k + BATCH]).astype(np.float32) / 255.0 - MEAN) / STD
            with torch.inference_mode():
                out.append(self.model(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()).double().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0))


def kid(a: np.ndarray, b: np.ndarray) -> float:
    """The unbiased estimate of KID (squared MMD, cubic polynomial kernel) between feature sets
    ``a`` (m, d) and ``b`` (n, d), m, n >= 2."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    m, n, d = len(a), len(b), a.shape[1]
    if m < 2 or n < 2:
        raise ValueError("KID needs at least 2 images on each side")

    def kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x @ y.T / d + 1.0) ** 3

    kaa, kbb = kernel(a, a), kernel(b, b)
    return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
                 - 2.0 * kernel(a, b).mean())
