"""Turn the raw passes of a render into lossless labels and COCO annotations.

Pure numpy / pycocotools; nothing here imports Blender.

Conventions: OpenCV camera axes (x right, y down, z forward), pixel centres at
integer coordinates, planar depth in metres (``np.inf`` = no hit), instance id 0 =
nothing hit, semantic = COCO category id (0 = background / stuff), normals are unit
vectors in the camera frame facing the camera (zeros where nothing was hit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
from pycocotools import mask as mask_util

from simgen.optics.camera import pixel_rays
from simgen.optics.lens import Lens, cached_pixel_rays, depth_to_ray_distance
from simgen.scene.data import MAX_INSTANCE_ID
from simgen.labels.kinds import ALWAYS_KINDS, LABEL_KINDS, FrameContext, LabelKind
from simgen.labels.preview import colorize_ids
from simgen.labels.preview import depth_preview


MAX_ID = MAX_INSTANCE_ID
_MIN_NORMAL_LENGTH = 1e-6


@dataclass
class FrameLabels:
    """Every lossless label of one frame."""

    rgb: np.ndarray
    """(H, W, 3) uint8 sRGB."""
    instance: np.ndarray
    """(H, W) uint16, 0 = nothing hit."""
    semantic: np.ndarray
    """(H, W) uint16 COCO category id, 0 = background / category-0 objects."""
    depth: np.ndarray
    """(H, W) float32 planar depth in metres, inf = no hit."""
    normal: np.ndarray
    """(H, W, 3) float32 camera-frame unit normals facing the camera, 0 = no hit."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Values of the optional label kinds (output.labels) by name (simgen.labels.kinds)."""
    image: dict[str, Any] = field(default_factory=dict)
    """How the backend made rgb (exposure metering, tone): the frame meta's ``image``."""
    linear: np.ndarray | None = None
    """(H, W, 3) float32 exposed linear light the rgb was tone mapped from, kept only while
    the camera effects need it (simgen.imaging; None otherwise); not a label."""
    lights: np.ndarray | None = None
    """(L + 2, H, W, 3) float32 each light's share of the linear light before denoising, when the
    renderer made light groups (simgen.io.exr.RawPasses); the ``lights`` kind's source."""

    parts: np.ndarray | None = None
    """(H, W) uint16 part id of the surface at the pixel centre, where the frame has articulated
    objects or people: each link of an articulated object is a part with an id of its own (the frame
    meta's objects' ``parts``), and each body part of a person (the meta's objects' ``body_parts``),
    every other object is one part whose id is its instance id; 0 = nothing hit. None: the frame has
    neither, so the parts are the instances (:attr:`bodies`)."""
    rigid: np.ndarray | None = None
    """(H, W) uint16 id of the body that moves as one at each pixel (:attr:`bodies`), where the frame has
    people: the render's object index (a person's pixels its instance id, since its body parts bend with
    it; a link's its part id); None otherwise."""

    right: "FrameLabels | None" = None
    """camera.rig=stereo: the pair's right view's labels (the ``right``, ``disparity`` and
    ``occluded`` kinds' source; simgen.labels.stereo), None otherwise."""
    scan: Any = None
    """sensor.lidar: the frame's LiDAR points and what its meta records of them
    (simgen.pipeline.lidar.Scan), written beside the frame's files by the frame loop (not a label
    kind: a point cloud is no image); None otherwise."""
    ir: Any = None
    """sensor.depth's active stereo: (2, H, W) float32 linear grey of the left and right infrared views lit by
    its projector alone (simgen.pipeline.active_stereo); the ir_left, ir_right and sensor_depth kinds' source."""

    def __getitem__(self, name: str) -> Any:
        """The value of label kind ``name``: a core array or an optional kind's value."""
        return self.extra[name] if name in self.extra else getattr(self, name)

    @property
    def bodies(self) -> np.ndarray:
        """(H, W) uint16 id of the rigid body at each pixel, the part ids (:attr:`parts`, or the
        instance ids where the frame has no articulated object): what moves as one, for flow and
        tracks. A person is one body (its body parts are in :attr:`parts` alone)."""
        if self.rigid is not None:
            return self.rigid
        return self.instance if self.parts is None else self.parts

    @property
    def height(self) -> int:
        return int(self.instance.shape[0])

    @property
    def width(self) -> int:
        return int(self.instance.shape[1])

    def check(self) -> None:
        """Raise ValueError unless every array has its kind's documented shape and dtype."""
        if not isinstance(self.instance, np.ndarray) or self.instance.ndim != 2:
            raise ValueError(f"instance must be (H, W), got shape {getattr(self.instance, 'shape', None)}")
        h, w = self.instance.shape
        for kind in (*ALWAYS_KINDS, *(LABEL_KINDS[name] for name in self.extra)):
            kind.check(self[kind.name], h, w)


def _present_ids(instance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nonzero ids present in ``instance`` (sorted) and their pixel counts."""
    flat = np.asarray(instance).ravel()
    if flat.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if not np.issubdtype(flat.dtype, np.integer):
        raise ValueError(f"instance ids must be integers, got {flat.dtype}")
    if flat.dtype.kind == "i" or flat.dtype.itemsize > 2:
        lo, hi = int(flat.min()), int(flat.max())
        if lo < 0 or hi > MAX_ID:
            raise ValueError(f"instance ids must lie in 0..{MAX_ID}, got range {lo}..{hi}")
    counts = np.bincount(flat)
    ids = np.flatnonzero(counts)
    ids = ids[ids != 0]
    return ids, counts[ids]


def _check_categories(ids: np.ndarray, category_of: Mapping[int, int]) -> None:
    missing = [int(i) for i in ids if int(i) not in category_of]
    if missing:
        raise ValueError(
            f"instance ids {missing} appear in the image but have no category "
            f"(known ids: {sorted(int(k) for k in category_of)})")


def semantic_from_instance(instance: np.ndarray, category_of: Mapping[int, int]) -> np.ndarray:
    """Semantic map (uint16, same shape) from an instance map and id -> category id.

    Id 0 (nothing hit) maps to 0. Ids present in the image but missing from
    ``category_of`` raise ValueError naming them; ids in the map but not in the
    image are fine.
    """
    instance = np.asarray(instance)
    ids, _ = _present_ids(instance)
    _check_categories(ids, category_of)
    lut = np.zeros(MAX_ID + 1, np.uint16)
    for iid, cat in category_of.items():
        iid, cat = int(iid), int(cat)
        if not 0 <= cat <= MAX_ID:
            raise ValueError(f"category id {cat} of instance {iid} is outside 0..{MAX_ID}")
        if 1 <= iid <= MAX_ID:
            lut[iid] = cat
    return lut[instance]


def camera_normals(normal_world: np.ndarray, world_to_camera: np.ndarray, K: np.ndarray,
                   valid: np.ndarray, lens: Optional[Lens] = None) -> np.ndarray:
    """World-space normals (H, W, 3) -> camera-frame unit normals facing the camera.

    Rotates with ``world_to_camera[:3, :3]``, normalises, and flips every normal
    whose dot product with the ray through its pixel centre (K's, or ``lens``'s when the
    camera has a real lens) is positive. Pixels that are not ``valid`` or whose input
    normal has (almost) zero length become 0. Returns float32 (H, W, 3).
    """
    n = np.asarray(normal_world)
    if n.ndim != 3 or n.shape[2] != 3:
        raise ValueError(f"normals must be (H, W, 3), got shape {n.shape}")
    h, w = n.shape[:2]
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != (h, w):
        raise ValueError(f"valid mask shape {valid.shape} does not match normals {(h, w)}")
    R = np.asarray(world_to_camera, dtype=np.float32)[:3, :3]
    # numpy runs a stacked product one image row at a time: each (W, 3) @ (3, 3) is too small for
    # OpenBLAS to start its threads (which would spin after it), and its bits (fused multiply-adds
    # in the order of the product) are the dataset's; an explicit sum of products rounds otherwise
    cam = n.astype(np.float32, copy=False) @ R.T
    # the rest on channel planes (3, H, W): numpy's loops over a last axis of length 3 are slow
    p = np.ascontiguousarray(cam.transpose(2, 0, 1))
    c0, c1, c2 = p
    length = c0 * c0  # (c0² + c1²) + c2²: the order of numpy's sum over the last axis
    length += c1 * c1
    length += c2 * c2
    np.sqrt(length, out=length)
    drop = ~(valid & (length > _MIN_NORMAL_LENGTH) & np.isfinite(length))
    length[drop] = 1
    p[:, drop] = 0  # +0 after the division (and never flipped: its dot product is 0)
    p /= length
    if lens is not None:  # dot product with the lens's ray through the pixel centre
        rays = np.nan_to_num(cached_pixel_rays(lens)).astype(np.float32)
        dot = c0 * rays[..., 0] + c1 * rays[..., 1] + c2 * rays[..., 2]
    else:  # dot product with the ray through the pixel centre, (u - cx) / fx, (v - cy) / fy, 1
        K = np.asarray(K, dtype=np.float64)
        rx = ((np.arange(w) - K[0, 2]) / K[0, 0]).astype(np.float32)
        ry = ((np.arange(h) - K[1, 2]) / K[1, 1]).astype(np.float32)
        dot = c0 * rx[None, :]
        dot += c1 * ry[:, None]
        dot += c2
    np.negative(p, out=p, where=dot > 0)  # facing away: flipped
    out = np.empty((h, w, 3), np.float32)
    for j in range(3):  # plane by plane (a transposing copy runs its inner loop over the 3 channels)
        out[..., j] = p[j]
    return out


def meta_part_of(meta: Mapping) -> dict[int, int]:
    """Part id -> instance id of a frame's meta (simgen's meta/NNNNNN.json): its articulated
    objects' ``parts`` (links) and its people's ``body_parts``."""
    return {int(p["id"]): int(o["instance_id"]) for o in meta.get("objects", ())
            for p in (*o.get("parts", ()), *o.get("body_parts", ()))}


def meta_body_part_of(meta: Mapping) -> dict[int, int]:
    """Part id -> instance id of the people's body parts of a frame's meta (``body_parts``): parts of
    the ``parts`` label that are no body of their own (a person bends as one): a reader that wants the
    bodies that move as one maps them to their person (:func:`instances_of_parts`)."""
    return {int(p["id"]): int(o["instance_id"]) for o in meta.get("objects", ()) for p in o.get("body_parts", ())}


def instances_of_parts(parts: np.ndarray, part_of: Mapping[int, int]) -> np.ndarray:
    """The instance map of a parts map: each part id in ``part_of`` becomes its object's instance
    id, every other id stays as it is (an object that is one part)."""
    lut = np.arange(max(int(parts.max()) if parts.size else 0, *part_of) + 1, dtype=parts.dtype)
    lut[list(part_of)] = list(part_of.values())
    return lut[parts]


def body_parts(rigid: np.ndarray, material: np.ndarray | None, body_lut: Mapping[int, np.ndarray]) -> np.ndarray:
    """The parts label of a frame with people: ``rigid`` (the render's object index: instance ids, a
    link's part id) with each person's pixels (``body_lut``'s keys) its body part's id, by ``material``
    (the render's material pass index, (H, W)) through the person's lut; a pass index outside it, or
    no material pass (None), leaves the person's id."""
    out = rigid.copy()
    if material is None:
        return out
    material = np.asarray(material)
    if material.shape != rigid.shape:
        raise ValueError(f"material pass must be {rigid.shape}, got {material.shape}")
    for iid, lut in body_lut.items():
        on = rigid == iid
        if on.any():
            k = material[on].astype(np.int64)
            out[on] = np.where((k >= 0) & (k < len(lut)), lut[np.clip(k, 0, len(lut) - 1)], iid)
    return out


def make_labels(raw: Mapping[str, np.ndarray], category_of: Mapping[int, int],
                world_to_camera: np.ndarray, K: np.ndarray, lens: Optional[Lens] = None,
                part_of: Mapping[int, int] | None = None,
                body_lut: Mapping[int, np.ndarray] | None = None) -> FrameLabels:
    """FrameLabels from the backend's raw passes ("rgb", "index", "depth", "normal"); ``lens``:
    the camera's real lens, if any (its rays decide which way a normal faces). ``part_of``: part
    id -> instance id of each link of an articulated object (the render's index pass gives the
    part ids, :func:`simgen.assets.parts.parts_of`); then the index pass is the parts label
    and each part id becomes its object's instance id in the instance label. ``body_lut``: each
    person's instance id -> its part id at each material pass index
    (:attr:`simgen.assets.parts.SceneParts.body_lut`): the parts label on its pixels is its body part
    there (from the raw ``material`` pass; a render without one leaves the person one part), while
    :attr:`FrameLabels.bodies` keeps it one body."""
    missing = [k for k in ("rgb", "index", "depth", "normal") if k not in raw]
    if missing:
        raise ValueError(f"raw passes lack {missing}")
    index = np.asarray(raw["index"])
    if index.ndim != 2:
        raise ValueError(f"index pass must be (H, W), got shape {index.shape}")
    h, w = index.shape
    if not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"index pass must hold integers, got {index.dtype}")
    if index.size and (int(index.min()) < 0 or int(index.max()) > MAX_ID):
        raise ValueError(f"index pass values must lie in 0..{MAX_ID}, "
                         f"got {int(index.min())}..{int(index.max())}")
    rgb = np.asarray(raw["rgb"])
    if rgb.shape != (h, w, 3) or rgb.dtype != np.uint8:
        raise ValueError(f"rgb pass must be uint8 {(h, w, 3)}, got {rgb.dtype} {rgb.shape}")
    depth = np.asarray(raw["depth"])
    if depth.shape != (h, w) or not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(f"depth pass must be float {(h, w)}, got {depth.dtype} {depth.shape}")
    normal = np.asarray(raw["normal"])
    if normal.shape != (h, w, 3) or not np.issubdtype(normal.dtype, np.floating):
        raise ValueError(f"normal pass must be float {(h, w, 3)}, got {normal.dtype} {normal.shape}")

    instance = index.astype(np.uint16)
    parts = None
    if part_of:
        parts, instance = instance, instances_of_parts(instance, part_of)
    rigid = None
    if body_lut:
        rigid = instance if parts is None else parts
        parts = body_parts(rigid, raw.get("material"), body_lut)
    valid = instance != 0
    semantic = semantic_from_instance(instance, category_of)
    depth = np.where(valid, depth.astype(np.float32, copy=False), np.float32(np.inf))
    normal_cam = camera_normals(normal, world_to_camera, K, valid, lens)
    labels = FrameLabels(rgb=np.ascontiguousarray(rgb), instance=instance, semantic=semantic,
                         depth=depth, normal=normal_cam, image=dict(raw.get("image", {})), linear=raw.get("linear"),
                         lights=raw.get("lights"), parts=parts, rigid=rigid)
    labels.check()
    return labels


# --------------------------------------------------------------------------- COCO


SIMGEN_KEY = "simgen"
"""The one key of COCO images and annotations under which simgen keeps its own fields
(frame_index, split; instance_id, track_id, visibility, amodal_area): every other key is a
standard COCO one, so no client's reserved names are taken (FiftyOne refuses a Detection
attribute ``instance_id``)."""


def coco_image(index: int, width: int, height: int, file_name: str, split: str | None = None) -> dict:
    """The COCO "images" entry of frame ``index`` (image ids start at 1); simgen's own fields
    (frame index, split) under ``"simgen"``."""
    own: dict = {"frame_index": int(index)}
    if split is not None:
        own["split"] = str(split)
    return {"id": int(index) + 1, "file_name": str(file_name), "width": int(width),
            "height": int(height), SIMGEN_KEY: own}


def instance_of(annotation: dict) -> int:
    """The instance id (the value in instance/) of a COCO annotation simgen wrote."""
    return int(annotation[SIMGEN_KEY]["instance_id"])


def annotation_id(index: int, instance_id: int) -> int:
    """Annotation id unique across a whole dataset (and its shards)."""
    if not 1 <= int(instance_id) <= MAX_ID:
        raise ValueError(f"instance id {instance_id} is outside 1..{MAX_ID}")
    if int(index) < 0:
        raise ValueError(f"frame index must be >= 0, got {index}")
    return int(index) * (MAX_ID + 1) + int(instance_id)


def _rle_counts(instance: np.ndarray, ids: np.ndarray) -> list[np.ndarray]:
    """The uncompressed COCO RLE counts of the mask ``instance == i`` for each id of ``ids`` (present
    in ``instance``): run lengths in column-major order, alternating, the first one a run of 0s
    (possibly empty), as pycocotools' ``encode`` counts them. One pass over the image finds every
    run of every id; each mask's counts then come from its own runs, not from its pixels."""
    flat = np.ascontiguousarray(instance.T).ravel()  # column-major: COCO's pixel order
    n = flat.size
    starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))
    ends = np.append(starts[1:], n)
    run_ids = flat[starts]
    order = np.argsort(run_ids, kind="stable")  # the runs by id, each id's in image order
    by_id = run_ids[order]
    out = []
    for lo, hi in zip(np.searchsorted(by_id, ids, "left").tolist(), np.searchsorted(by_id, ids, "right").tolist()):
        s, e = starts[order[lo:hi]], ends[order[lo:hi]]
        c = np.empty(2 * len(s) + 1, np.int64)
        c[0] = s[0]  # 0s before the first run
        c[1::2] = e - s  # the runs
        c[2:-1:2] = s[1:] - e[:-1]  # 0s between them
        c[-1] = n - e[-1]  # 0s after the last one: no count when there are none
        out.append(c if c[-1] else c[:-1])
    return out


def coco_annotations(instance: np.ndarray, category_of: Mapping[int, int], index: int) -> list[dict]:
    """COCO annotations (compressed RLE over the full image) of one frame.

    One annotation per visible instance whose category is not 0, sorted by
    instance id. Ids present in the image but missing from ``category_of`` raise
    ValueError.
    """
    instance = np.asarray(instance)
    if instance.ndim != 2:
        raise ValueError(f"instance map must be (H, W), got shape {instance.shape}")
    ids, counts = _present_ids(instance)
    _check_categories(ids, category_of)
    image_id = int(index) + 1
    keep = [(iid, count) for iid, count in zip(ids.tolist(), counts.tolist()) if int(category_of[iid]) != 0]
    if not keep:
        return []
    h, w = instance.shape
    rles = mask_util.frPyObjects([{"size": [h, w], "counts": c}
                                  for c in _rle_counts(instance, np.array([iid for iid, _ in keep]))], h, w)
    boxes = mask_util.toBbox(rles)
    anns = []
    for (iid, count), rle, box in zip(keep, rles, boxes):
        anns.append({
            "id": annotation_id(index, iid),
            "image_id": image_id,
            "category_id": int(category_of[iid]),
            "iscrowd": 0,
            "area": int(count),
            "bbox": [float(v) for v in box],
            "segmentation": {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")},
            SIMGEN_KEY: {"instance_id": iid},
        })
    return anns


def annotation_rle(annotation: dict, height: int, width: int) -> dict:
    """A COCO annotation's segmentation as the compressed RLE pycocotools takes, whether it is
    compressed RLE (as simgen writes it, counts a str or bytes), uncompressed RLE or polygons."""
    seg = annotation["segmentation"]
    if isinstance(seg, list):  # polygons
        return mask_util.merge(mask_util.frPyObjects(seg, height, width))
    if isinstance(seg.get("counts"), list):  # uncompressed RLE
        return mask_util.frPyObjects(seg, height, width)
    counts = seg["counts"]
    return {"size": list(seg["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def annotation_mask(annotation: dict, height: int, width: int) -> np.ndarray:
    """bool (H, W) mask of a COCO annotation (any segmentation form, see ``annotation_rle``)."""
    return mask_util.decode(annotation_rle(annotation, height, width)).astype(bool)


def exposed_linear(labels: FrameLabels, context: Any) -> np.ndarray:
    """The ``linear`` label kind's value: the frame's exposed linear image."""
    if labels.linear is None:
        raise ValueError("the linear label needs the renderer's exposed linear image (keep_linear)")
    return np.asarray(labels.linear, np.float32)


def light_shares(labels: FrameLabels, context: Any) -> np.ndarray:
    """The ``lights`` label kind's value: the frame's light groups, the scene's lamps, the world,
    the rest (the renderer's groups of lamps a scene lacks are dropped: they are black)."""
    if labels.lights is None:
        raise ValueError("the lights label needs the renderer's light groups")
    lamps = len(context.scene.lights)
    groups = np.asarray(labels.lights, np.float32)
    return np.concatenate([groups[:lamps], groups[-2:]]) if len(groups) != lamps + 2 else groups


def ray_distance(depth: np.ndarray, K: np.ndarray, lens: Optional[Lens] = None) -> np.ndarray:
    """Planar depth (H, W) -> the distance from the camera centre to the same surface point along
    each pixel centre's ray, ``depth * |ray| / ray_z``: the ray of ``K`` (``lens``'s when the camera
    has a real lens). inf where the depth is inf (nothing hit) or the ray has no forward part
    (a fisheye's rays at or beyond 90 degrees, whose planar depth is inf too). Returns float32."""
    h, w = np.shape(depth)
    rays = cached_pixel_rays(lens) if lens is not None else pixel_rays(K, w, h)
    distance = depth_to_ray_distance(rays, depth)  # NaN where a ray is NaN or does not point forward
    return np.where(np.isfinite(distance), distance, np.inf).astype(np.float32)


def distance_label(labels: FrameLabels, context: Any) -> np.ndarray:
    """The ``distance`` label kind's value: :func:`ray_distance` of the frame's depth."""
    camera = context.scene.camera
    return ray_distance(labels.depth, camera.K, camera.lens)


DISTANCE = LabelKind(
    "distance", "distance from the camera centre to the surface at the pixel centre, along the pixel's ray "
    "(depth x length(ray) / ray_z through the frame's K or lens), metres, inf = no hit", "float32", 0, "distance",
    ".npy", compute=distance_label, preview=depth_preview)
"""Optional label kind ``distance`` (output.labels=[distance]): what a lidar or a time-of-flight
camera measures, where the core depth label is planar z."""

def part_ids(labels: "FrameLabels", ctx: FrameContext) -> np.ndarray:
    """The ``parts`` label of a frame: :attr:`FrameLabels.parts`, or its instances where it has none."""
    return labels.instance if labels.parts is None else labels.parts


PARTS = LabelKind(
    "parts", "part id of the surface at the pixel centre: each link of an articulated object has its own (the "
    "meta's objects' parts: id, link, pose), and each body part of a person (the meta's objects' body_parts: id, "
    "part); any other object is one part whose id is its instance id; 0 = nothing hit", "uint16", 0, "parts",
    ".png", compute=part_ids, preview=colorize_ids)
"""Optional label kind ``parts`` (output.labels=[parts]): robots and other things with joints labelled
link by link, and people body part by body part, while the instance label keeps each of them one object."""

LINEAR = LabelKind(
    "linear", "the exposed linear image (H, W, 3) before the camera effects and the tone curve: linear sRGB "
    "light, metered so that mid grey is 0.18 (meta image.total_stops; HDR: may exceed 1); the effects of "
    "the meta's record applied to it give the image", "float32", 3, "linear", ".npy", compute=exposed_linear)
"""Optional label kind ``linear`` (output.labels=[linear]): what simgen.imaging's camera effects and
simgen.color.tone.display start from, for HDR training or a sensor model of one's own."""

LIGHTS = LabelKind(
    "lights", "each light's share of the exposed linear image before denoising, (L + 2, H, W, 3): the meta's "
    "lights in order, then the world, then the rest (emitting surfaces); linear sRGB, exposed as the linear "
    "label; they sum to the image before the denoiser (Cycles' light groups)", "float32", -1, "lights", ".npy",
    compute=light_shares)
"""Optional label kind ``lights`` (output.labels=[lights]): relight a frame after the render, a light's
share times a new power or colour (what simgen fit develops lighting with)."""
