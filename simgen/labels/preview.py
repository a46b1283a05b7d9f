"""Pictures of the labels for people to look at.

These are lossy, 8-bit renderings meant for inspection; the lossless labels are
always written alongside and are never replaced by them. All images are RGB uint8.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

import cv2
import numpy as np

from simgen.labels.geometry import CUBOID_EDGES

OVERLAY_ALPHA = 0.45
FRAME_PICTURES = ("overlay", "pose")
"""Previews drawn over a frame's RGB from its annotations (:func:`overlay`: masks, boxes and
names; :func:`pose_overlay`: 3D boxes and keypoints), beside each label kind's own."""
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a fixed, well-spread hash of uint64 values."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x & _MASK64


def id_colors(ids: np.ndarray | Iterable[int]) -> np.ndarray:
    """(N, 3) uint8 RGB colour of each id: black for 0, a bright hash colour otherwise.

    The colour depends only on the id (not on which other ids are present), so the
    same object has the same colour in every frame and every run.
    """
    ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids).astype(np.int64).ravel()
    h = _mix64(ids.astype(np.uint64))
    hue = (h & np.uint64(0xFFFF)).astype(np.float64) / 65536.0           # [0, 1)
    sat = 0.55 + 0.45 * ((h >> np.uint64(16)) & np.uint64(0xFF)).astype(np.float64) / 255.0
    val = 0.75 + 0.25 * ((h >> np.uint64(24)) & np.uint64(0xFF)).astype(np.float64) / 255.0
    # HSV -> RGB, vectorised.
    i = np.floor(hue * 6.0).astype(np.int64) % 6
    f = hue * 6.0 - np.floor(hue * 6.0)
    p = val * (1.0 - sat)
    q = val * (1.0 - f * sat)
    t = val * (1.0 - (1.0 - f) * sat)
    table = np.stack([
        np.stack([val, t, p], -1), np.stack([q, val, p], -1), np.stack([p, val, t], -1),
        np.stack([p, q, val], -1), np.stack([t, p, val], -1), np.stack([val, p, q], -1),
    ])  # (6, N, 3)
    rgb = table[i, np.arange(ids.size)]
    out = np.round(rgb * 255.0).astype(np.uint8)
    out[ids == 0] = 0
    return out


def colorize_ids(ids: np.ndarray) -> np.ndarray:
    """(H, W) integer ids -> (H, W, 3) uint8 RGB; 0 is black, other ids get stable colours."""
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"ids must be (H, W), got shape {ids.shape}")
    if ids.dtype in (np.uint8, np.uint16):  # label maps: a dense lookup table is fastest
        present = np.flatnonzero(np.bincount(ids.ravel()))
        lut = np.zeros((int(present[-1]) + 1 if present.size else 1, 4), np.uint8)
        lut[present, :3] = id_colors(present)
        if sys.byteorder != "little" or 0 in ids.shape:
            return lut[ids, :3]
        # one 4-byte gather per pixel (RGB and a pad byte), the pad dropped by OpenCV: a gather of
        # 3-byte rows costs 3x more
        rgba = np.take(lut.view(np.uint32).ravel(), ids)
        return cv2.cvtColor(rgba.view(np.uint8).reshape(*ids.shape, 4), cv2.COLOR_RGBA2RGB)
    uniq, inverse = np.unique(ids, return_inverse=True)
    return id_colors(uniq)[inverse.reshape(ids.shape)]


def depth_preview(depth: np.ndarray) -> np.ndarray:
    """(H, W) depth -> (H, W, 3) uint8 RGB: inverse depth through the TURBO colormap.

    Near is warm, far is cold; the range is set from the 1st/99th percentiles of
    the valid (finite, positive) pixels. No-hit pixels are black.
    """
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2:
        raise ValueError(f"depth must be (H, W), got shape {depth.shape}")
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        return np.zeros(depth.shape + (3,), np.uint8)
    inv = np.zeros_like(depth)
    np.divide(1.0, depth, out=inv, where=valid)
    lo, hi = np.percentile(inv[valid], [1.0, 99.0])
    if hi - lo <= 1e-12 * max(abs(hi), 1.0):
        scaled = np.full(depth.shape, 0.5)
    else:
        scaled = np.clip((inv - lo) / (hi - lo), 0.0, 1.0)
    gray = np.round(scaled * 255.0).astype(np.uint8)
    out = cv2.cvtColor(cv2.applyColorMap(gray, cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
    out[~valid] = 0
    return out


def normal_preview(normal: np.ndarray) -> np.ndarray:
    """(H, W, 3) camera-frame normals -> RGB uint8, ``(n * 0.5 + 0.5) * 255``; zeros -> black.

    Channel order follows the OpenCV axes: R = x (right), G = y (down), B = z (forward).
    """
    normal = np.asarray(normal)
    if normal.ndim != 3 or normal.shape[2] != 3:
        raise ValueError(f"normals must be (H, W, 3), got shape {normal.shape}")
    n = normal.astype(np.float32, copy=False)
    scaled = np.clip(n * np.float32(127.5) + np.float32(127.5), 0.0, 255.0)
    img = np.rint(scaled).astype(np.uint8)
    img[(n[..., 0] == 0) & (n[..., 1] == 0) & (n[..., 2] == 0)] = 0  # (numpy's any over 3 channels is slow)
    return img


def _boundary(labels: np.ndarray) -> np.ndarray:
    """Pixels whose 4-neighbourhood holds another label (or the image edge)."""
    edge = np.ones(labels.shape, bool)
    inner = edge[1:-1, 1:-1]
    c = labels[1:-1, 1:-1]
    inner[...] = ((c != labels[:-2, 1:-1]) | (c != labels[2:, 1:-1])
                  | (c != labels[1:-1, :-2]) | (c != labels[1:-1, 2:]))
    return edge


def overlay(rgb: np.ndarray, instance: np.ndarray, annotations: Iterable[Mapping],
            category_names: Mapping[int, str]) -> np.ndarray:
    """RGB with every annotated instance tinted, outlined, boxed and labelled.

    Masks are tinted with the instance's colour (alpha 0.45); their contour (mask
    pixels with a 4-neighbour of another id, or on the image edge) is drawn in full
    colour; the category name is written just above the box (below it near the top).

    The box of an annotation with bbox ``[x, y, w, h]`` covers exactly the pixel
    columns x..x+w-1 and rows y..y+h-1 (1 pixel wide, in the instance's colour) and
    is drawn last, so labels never hide it. Returns a new (H, W, 3) uint8 array.
    """
    rgb = np.asarray(rgb)
    instance = np.asarray(instance)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    if instance.shape != rgb.shape[:2]:
        raise ValueError(f"instance shape {instance.shape} does not match rgb {rgb.shape[:2]}")
    anns = list(annotations)
    out = rgb.copy()
    ann_ids = np.array([int(a["simgen"]["instance_id"]) for a in anns], np.int64)
    colors = id_colors(ann_ids)
    if anns:
        # per-id lookup tables: which ids are annotated, and their colours
        size = max(int(ann_ids.max()), int(instance.max()) if instance.size else 0) + 1
        is_ann = np.zeros(size, bool)
        is_ann[ann_ids] = True
        lut = np.zeros((size, 3), np.float32)
        lut[ann_ids] = colors
        ids = instance.astype(np.int64, copy=False)
        sel = is_ann[ids]
        tinted = (1.0 - OVERLAY_ALPHA) * out[sel].astype(np.float32) + OVERLAY_ALPHA * lut[ids[sel]]
        out[sel] = np.rint(tinted).astype(np.uint8)
        contour = sel & _boundary(ids)
        out[contour] = lut[ids[contour]].astype(np.uint8)

    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1
    boxes = []
    for ann, color in zip(anns, colors):
        x, y, w, h = (int(round(float(v))) for v in ann["bbox"])
        if w <= 0 or h <= 0:
            continue
        boxes.append(((x, y), (x + w - 1, y + h - 1), tuple(int(c) for c in color)))
        cat = int(ann["category_id"])
        text = str(category_names.get(cat, cat))
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
        # baseline placed so the text (descenders and outline included) stays off the box
        ty = y - base - 3
        if ty - th - 2 < 0:
            ty = min(y + h + th + 2, out.shape[0] - 1 - base)
        cv2.putText(out, text, (x, ty), font, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(out, text, (x, ty), font, scale, tuple(int(c) for c in color), thick, cv2.LINE_AA)
    for p0, p1, color in boxes:
        cv2.rectangle(out, p0, p1, color, 1, cv2.LINE_8)
    return out


NAME_ROOM = 3
""":func:`parts_preview` writes a part's name on it when the part has this many times the name's
pixels (its box, outline included)."""


def parts_preview(parts: np.ndarray, names: Mapping[int, str], scale: int = 1) -> np.ndarray:
    """The ``parts`` label drawn for people: each part id in its own colour (:func:`colorize_ids`:
    a link of an articulated object in its part id's, any other object in its instance id's, the
    colour the box and mask overlay gives it), enlarged ``scale`` times (nearest neighbour), and
    each part that ``names`` names ({part id: link name}: the meta's objects' ``parts``) labelled
    with its name, white on a black outline, at its pixel nearest the centre of its pixels (a name
    that would cover another, or one on a part of fewer than :data:`NAME_ROOM` times its name's
    pixels, is left out, so that a name hides at most a third of its part: the inspect report's
    caption lists them all). Returns a new (H * scale, W * scale, 3) uint8 array."""
    parts = np.asarray(parts)
    if parts.ndim != 2:
        raise ValueError(f"parts must be (H, W), got shape {parts.shape}")
    if scale > 1:
        parts = cv2.resize(parts, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    out = np.ascontiguousarray(colorize_ids(parts))
    font, size, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.3, 1
    taken: list[tuple[int, int, int, int]] = []
    for pid in sorted(names, key=lambda i: -int(np.count_nonzero(parts == i))):  # the largest parts first
        vs, us = np.nonzero(parts == pid)
        text = str(names[pid])
        (tw, th), base = cv2.getTextSize(text, font, size, thick)
        if len(us) < NAME_ROOM * (tw + 2) * (th + base + 2):
            continue
        k = int(np.argmin((us - us.mean()) ** 2 + (vs - vs.mean()) ** 2))
        x = int(np.clip(us[k] - tw // 2, 0, max(out.shape[1] - tw, 0)))
        y = int(np.clip(vs[k] + th // 2, th, out.shape[0] - 1))
        box = (x - 1, y - th - 1, x + tw + 1, y + base + 1)
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in taken):
            continue
        taken.append(box)
        cv2.putText(out, text, (x, y), font, size, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(out, text, (x, y), font, size, (255, 255, 255), thick, cv2.LINE_AA)
    return out


_SUB = 16
"""Sub-pixel drawing: OpenCV's ``shift`` of 4 bits (1/16 px)."""


def _pt(uv) -> tuple[int, int]:
    return int(round(float(uv[0]) * _SUB)), int(round(float(uv[1]) * _SUB))


def pose_overlay(rgb: np.ndarray, annotations: Iterable[Mapping],
                 skeletons: Mapping[int, list] | None = None) -> np.ndarray:
    """RGB with each annotated object's 3D box and keypoints drawn in the instance's colour.

    The box's 12 edges run between its projected corners (``simgen.box3d.projected``, the
    DOPE/NDDS order of simgen.labels.geometry), its front face (corners 0-3) drawn thicker,
    and its centre is a dot; an edge with a corner behind the camera is left out. With
    keypoints (COCO ``keypoints``: x, y, v), a visible one (v = 2) is a filled disc, a hidden
    one (v = 1) a ring, and the category's skeleton (``skeletons[category_id]``: 1-based
    pairs) joins keypoints that are both in the image. Points are drawn at sub-pixel
    positions with simgen's convention (the centre of pixel (u, v) at (u, v)). Returns a new
    (H, W, 3) uint8 array.
    """
    out = np.ascontiguousarray(np.asarray(rgb), dtype=np.uint8).copy()
    anns = list(annotations)
    colors = id_colors(np.array([int(a["simgen"]["instance_id"]) for a in anns], np.int64))
    for ann, color in zip(anns, colors):
        color = tuple(int(c) for c in color)
        projected = (ann.get("simgen", {}).get("box3d") or {}).get("projected")
        if projected:
            for a, b in CUBOID_EDGES:
                if projected[a] is not None and projected[b] is not None:
                    front = a < 4 and b < 4
                    cv2.line(out, _pt(projected[a]), _pt(projected[b]), color, 2 if front else 1, cv2.LINE_AA, 4)
            if projected[8] is not None:
                cv2.circle(out, _pt(projected[8]), 2 * _SUB, color, -1, cv2.LINE_AA, 4)
        kp = ann.get("keypoints")
        if kp:
            pts = np.asarray(kp, float).reshape(-1, 3)
            for a, b in (skeletons or {}).get(int(ann["category_id"]), []):
                if pts[a - 1, 2] > 0 and pts[b - 1, 2] > 0:
                    cv2.line(out, _pt(pts[a - 1]), _pt(pts[b - 1]), (255, 255, 255), 1, cv2.LINE_AA, 4)
            for x, y, v in pts:
                if v > 0:
                    cv2.circle(out, _pt((x, y)), 3 * _SUB, (0, 0, 0), -1 if v == 2 else 2, cv2.LINE_AA, 4)
                    cv2.circle(out, _pt((x, y)), 2 * _SUB, color, -1 if v == 2 else 1, cv2.LINE_AA, 4)
    return out


def tracks_preview(rgb: np.ndarray, uv: np.ndarray, visible: np.ndarray, step: int, trail: int = 8) -> np.ndarray:
    """RGB of a sequence's step ``step`` with its point tracks drawn (simgen.labels.tracks): each
    track in a colour of its own (by its row in ``uv``), its path over the ``trail`` steps before
    as a line between steps where it was visible at both, and where it is now as a dot: filled
    where visible, a ring where hidden or off the frame's surfaces. ``uv`` (N, T, 2) in simgen's
    pixel convention (NaN: nowhere), ``visible`` (N, T). Returns a new (H, W, 3) uint8 array."""
    out = np.ascontiguousarray(np.asarray(rgb), dtype=np.uint8).copy()
    colors = id_colors(np.arange(1, len(uv) + 1))
    for k, color in enumerate(colors):
        color = tuple(int(c) for c in color)
        for s in range(max(0, step - trail), step):
            if visible[k, s] and visible[k, s + 1]:
                cv2.line(out, _pt(uv[k, s]), _pt(uv[k, s + 1]), color, 1, cv2.LINE_AA, 4)
        if np.isfinite(uv[k, step]).all():
            cv2.circle(out, _pt(uv[k, step]), 2 * _SUB, color, -1 if visible[k, step] else 1, cv2.LINE_AA, 4)
    return out
