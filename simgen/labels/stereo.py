"""The label kinds of a stereo pair (camera.rig=stereo): the right image, the left view's
disparity and the left pixels the right camera does not see.

The pair is rectified by construction (simgen.optics.camera.stereo_offset): both cameras have the
frame's K and orientation, the right one ``baseline`` metres along the left one's x axis. A
surface point at planar depth z seen at the left pixel centre (u, v) is seen on the right at
``(u - d, v)`` with ``d = fx * baseline / z`` (disparity in pixels, positive; 0 where nothing
is hit: a point at infinity). Pure numpy; nothing here imports Blender.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simgen.labels.flow import flow_validity, rigid_flow
from simgen.labels.kinds import FrameContext, LabelKind
from simgen.labels.preview import depth_preview


def disparity(depth: np.ndarray, K: np.ndarray, baseline: float) -> np.ndarray:
    """(H, W) float32 ``fx * baseline / depth``: 0 where depth is inf (nothing hit)."""
    with np.errstate(divide="ignore"):
        return (float(K[0, 0]) * float(baseline) / np.asarray(depth, np.float64)).astype(np.float32)


def occluded(labels: Any, left: Any, right: Any) -> np.ndarray:
    """(H, W) uint8: 1 where the left view's surface point (from its depth and ids) is not seen by
    the right camera (another surface in front of it there, or outside its image), else 0 (0 where
    nothing is hit). Seen means what :func:`simgen.labels.flow.flow_validity` means for flow: the
    right view's depth at the point's projection, carried along the local slope, is not in front."""
    ids = np.unique(labels.instance)
    still = {int(i): np.eye(4) for i in ids if i}
    flow, z_right, in_view = rigid_flow(labels.depth, labels.instance, left.K, left.world_to_camera,
                                        right.K, right.world_to_camera, still)
    seen = flow_validity(flow, z_right, in_view, labels.instance, labels.right.depth, labels.right.instance)
    return ((labels.instance > 0) & ~seen).astype(np.uint8)


def _baseline(context: FrameContext) -> float:
    return float(context.scene.params["stereo"]["baseline"])


def _right(labels: Any, context: FrameContext) -> np.ndarray:
    return labels.right.rgb


def _disparity(labels: Any, context: FrameContext) -> np.ndarray:
    return disparity(labels.depth, context.scene.camera.K, _baseline(context))


def _occluded(labels: Any, context: FrameContext) -> np.ndarray:
    return occluded(labels, context.scene.camera, context.scene.right)


def disparity_preview(d: np.ndarray) -> np.ndarray:
    """Near is warm, far is cold (:func:`simgen.labels.preview.depth_preview` of 1 / d)."""
    with np.errstate(divide="ignore"):
        return depth_preview(1.0 / np.asarray(d, np.float64))


def occluded_preview(mask: np.ndarray) -> np.ndarray:
    return np.repeat((np.asarray(mask) * 255).astype(np.uint8)[..., None], 3, axis=-1)


RIGHT = LabelKind(
    "right", "camera.rig=stereo: the right camera's 8-bit sRGB image (the rectified pair's second view, exposed "
    "as the left; its own render and sensor noise)", "uint8", 3, "right", ".png", compute=_right)
DISPARITY = LabelKind(
    "disparity", "camera.rig=stereo: disparity of the left view in pixels, fx x baseline / depth: the left pixel "
    "(u, v) is seen at (u - d, v) on the right; 0 = nothing hit", "float32", 0, "disparity", ".npy",
    compute=_disparity, preview=disparity_preview)
OCCLUDED = LabelKind(
    "occluded", "camera.rig=stereo: 1 where the left pixel's surface point is not seen by the right camera "
    "(hidden or outside its image), 0 = seen or nothing hit", "uint8", 0, "occluded", ".png",
    compute=_occluded, preview=occluded_preview)
"""The kinds of :data:`simgen.config.STEREO_LABELS`, added to every frame of a stereo run."""
