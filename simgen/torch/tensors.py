"""tv_tensor types for simgen's dense labels, so torchvision.transforms.v2 moves them with the image.

torchvision transforms move an ``Image``, ``BoundingBoxes`` and ``Mask`` and pass every other
tensor through untouched. Depth, normals and flow are maps that must move with the image too,
but they cannot be ``Mask``: ``SanitizeBoundingBoxes`` indexes every ``Mask`` by the boxes it
keeps. So they get their own tv_tensor classes, with kernels registered for every geometric
functional of torchvision.transforms.v2.functional:

- :class:`DenseMap`: a per-pixel map whose values do not depend on the geometry (depth, a
  flow's validity): it is moved like a mask (nearest neighbour, no colour transforms; pixels a
  transform brings in from outside the image get 0, not ``inf``).
- :class:`Normals` (3, H, W), OpenCV camera axes: a horizontal flip also negates x, a vertical
  flip y. Rotations, affine, perspective and elastic transforms raise (the vectors would have
  to turn with the pixels).
- :class:`Flow` (2, H, W), pixels (dx, dy): flips negate the component along the flip, resizes
  scale each component by the size ratio (pixel-centre convention: a resize by s maps every
  displacement to s times itself). Rotations, affine, perspective and elastic transforms
  raise. The validity stays what the dataset said (a crop does not mark flow that leaves the
  crop invalid).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F


class DenseMap(tv_tensors.TVTensor):
    """A per-pixel label map ([C,] H, W) moved like a mask by geometric transforms."""

    @classmethod
    def _wrap(cls, tensor: torch.Tensor) -> "DenseMap":
        return tensor.as_subclass(cls)

    def __new__(cls, data: Any, *, dtype: torch.dtype | None = None, device: Any = None,
                requires_grad: bool | None = None) -> "DenseMap":
        tensor = cls._to_tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)
        return cls._wrap(tensor)


class Normals(DenseMap):
    """Unit surface normals (3, H, W) in OpenCV camera axes (x right, y down, z forward)."""


class Flow(DenseMap):
    """Optical flow (2, H, W) in pixels: (dx, dy) along OpenCV image axes."""


def _as_mask(functional: Callable) -> Callable:
    """A kernel that applies ``functional`` as it applies to a Mask, keeping the input's class."""
    def kernel(inpt: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        plain = inpt.as_subclass(torch.Tensor)
        is_bool = plain.dtype == torch.bool
        out = functional(tv_tensors.Mask(plain.to(torch.uint8) if is_bool else plain), *args, **kwargs)
        out = out.as_subclass(torch.Tensor)
        return tv_tensors.wrap(out.bool() if is_bool else out, like=inpt)
    return kernel


def _negate(channel: int, functional: Callable) -> Callable:
    base = _as_mask(functional)

    def kernel(inpt: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        out = base(inpt, *args, **kwargs).clone()
        out[..., channel, :, :] *= -1
        return out
    return kernel


def _flow_resize(inpt: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    out = _as_mask(F.resize)(inpt, *args, **kwargs).clone()
    sy, sx = out.shape[-2] / inpt.shape[-2], out.shape[-1] / inpt.shape[-1]
    out[..., 0, :, :] *= sx
    out[..., 1, :, :] *= sy
    return out


def _flow_resized_crop(inpt: torch.Tensor, top: int, left: int, height: int, width: int, size: Any,
                       *args: Any, **kwargs: Any) -> torch.Tensor:
    return _flow_resize(_as_mask(F.crop)(inpt, top, left, height, width), size, *args, **kwargs)


def _refuse(name: str, what: str) -> Callable:
    def kernel(inpt: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        raise TypeError(f"simgen.torch: {name} of {what} is not supported (the vectors would have to "
                        f"turn with the pixels); drop {what} from the sample (SimgenDataset(extras=...)) "
                        "or use flips, crops and resizes only")
    return kernel


_SPATIAL = ("horizontal_flip", "vertical_flip", "resize", "affine", "rotate", "pad", "crop",
            "perspective", "elastic", "center_crop", "resized_crop")
_TURNING = ("affine", "rotate", "perspective", "elastic")


def _register() -> None:
    for name in _SPATIAL:
        functional = getattr(F, name)
        F.register_kernel(functional, DenseMap)(_as_mask(functional))
    for cls, what in ((Normals, "normals"), (Flow, "flow")):
        F.register_kernel(F.horizontal_flip, cls)(_negate(0, F.horizontal_flip))
        F.register_kernel(F.vertical_flip, cls)(_negate(1, F.vertical_flip))
        for name in _TURNING:
            F.register_kernel(getattr(F, name), cls)(_refuse(name, what))
    F.register_kernel(F.resize, Flow)(_flow_resize)
    F.register_kernel(F.resized_crop, Flow)(_flow_resized_crop)


_register()
