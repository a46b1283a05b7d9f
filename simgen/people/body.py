"""One person's body: a pure function of plain parameters (:class:`PersonParams` -> :class:`Body`).

The contract the people code shares (issue 77): vertices, faces, UVs, joints and COCO keypoints of a
body of Anny (:mod:`simgen.people.model`), in the BODY FRAME: metres, +Z up, the person faces -Y (their
left is +X), x = y = 0 at the pelvis (the root joint), z = 0 at the lowest vertex (the soles). Positions
go into a scene by the scene object's pose: the body frame is the mesh frame.

Pure: numpy, plus torch through :func:`simgen.people.model.load_model`; never bpy.

Faces are the same for every body and pose, so the steps of a sequence share one topology.
A body takes 15-25 ms on one torch thread (call ``torch.set_num_threads(1)`` in a worker: with torch's
default threads on 2 shared cores it takes 300 ms); the last 16 are cached by their parameters.

Regions and parts (per face) come from the dominant skinning bone of each vertex (a face takes its
vertices' majority) and, where Anny's shipped face segmentation names a face head, hand or foot, from
that segmentation:

- PARTS (the parts label, the person's left and right):
  head: neck02, neck03, head, eye.L/R, and every face the segmentation names head, eye*, mouth_cavity
  or tongue; torso: root, pelvis.L/R, spine01-05, clavicle.L/R, shoulder01.L/R, neck01;
  upper_arm_*: upperarm01/02; lower_arm_*: lowerarm01/02; hand_*: wrist, metacarpal*, finger* and the
  segmentation's hand.L/R; upper_leg_*: upperleg01/02; lower_leg_*: lowerleg01/02; foot_*: foot, toe*
  and the segmentation's foot.L/R.
- REGIONS (what clothes cover): skin = the head and hand parts; shirt = torso bones above the waist
  (spine01-04, clavicle, shoulder01, neck01) and the arms; trousers = root, pelvis, spine05 and the
  legs; shoes = the foot parts. Short sleeves or shorts are a recipe's choice: faces of
  lower_arm_* / lower_leg_* parts drawn as skin (:func:`dressed_regions`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from dataclasses import dataclass

import numpy as np

from simgen.errors import SimgenError

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle")
"""The 17 COCO person keypoints in COCO's order; left = the person's left (+X in the body frame)."""

SKELETON: tuple[tuple[str, str], ...] = (
    ("left_ankle", "left_knee"), ("left_knee", "left_hip"), ("right_ankle", "right_knee"),
    ("right_knee", "right_hip"), ("left_hip", "right_hip"), ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"), ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_elbow"),
    ("right_shoulder", "right_elbow"), ("left_elbow", "left_wrist"), ("right_elbow", "right_wrist"),
    ("left_eye", "right_eye"), ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"),
    ("right_eye", "right_ear"), ("left_ear", "left_shoulder"), ("right_ear", "right_shoulder"))
"""COCO's person skeleton (its 19 limbs, as person_keypoints.json's ``skeleton`` lists them 1-based)."""

REGIONS: tuple[str, ...] = ("skin", "shirt", "trousers", "shoes")
"""Clothing/skin regions a face belongs to (:attr:`Body.face_region` indexes this)."""

PARTS: tuple[str, ...] = (
    "head", "torso",
    "upper_arm_left", "lower_arm_left", "hand_left",
    "upper_arm_right", "lower_arm_right", "hand_right",
    "upper_leg_left", "lower_leg_left", "foot_left",
    "upper_leg_right", "lower_leg_right", "foot_right")
"""Body parts for the parts label (:attr:`Body.face_part` indexes this); left = the person's left."""

DEFAULT_PHENOTYPE = 0.5
"""The value of a phenotype label a :class:`PersonParams` leaves out (Anny's default)."""


def _bone_part(bone: str) -> str:
    """The part a skinning bone's vertices belong to (before the segmentation's head/hand/foot)."""
    side = "left" if bone.endswith(".L") else "right" if bone.endswith(".R") else None
    stem = bone.split(".")[0]
    if stem in ("neck02", "neck03", "head", "eye"):
        return "head"
    if stem.startswith("upperarm"):
        return f"upper_arm_{side}"
    if stem.startswith("lowerarm"):
        return f"lower_arm_{side}"
    if stem in ("wrist",) or stem.startswith(("metacarpal", "finger")):
        return f"hand_{side}"
    if stem.startswith("upperleg"):
        return f"upper_leg_{side}"
    if stem.startswith("lowerleg"):
        return f"lower_leg_{side}"
    if stem == "foot" or stem.startswith("toe"):
        return f"foot_{side}"
    return "torso"   # root, pelvis, spine01-05, clavicle, shoulder01, neck01


def _bone_region(bone: str) -> str:
    """The clothing region a skinning bone's vertices belong to (before the segmentation)."""
    part = _bone_part(bone)
    if part.startswith(("head", "hand")):
        return "skin"
    if part.startswith("foot"):
        return "shoes"
    if part.startswith(("upper_leg", "lower_leg")) or bone in ("root", "spine05") or bone.startswith("pelvis"):
        return "trousers"
    return "shirt"


_SEGMENT_PART = {"head": "head", "mouth_cavity": "head", "tongue": "head",
                 "eye_back.L": "head", "eye_front.L": "head", "eye_cavity.L": "head",
                 "eye_back.R": "head", "eye_front.R": "head", "eye_cavity.R": "head",
                 "hand.L": "hand_left", "hand.R": "hand_right", "foot.L": "foot_left", "foot.R": "foot_right"}
"""Anny's shipped face segmentation (data/segmentation) labels that decide a face's part outright."""


def _rotvec(value) -> tuple[float, float, float]:
    v = tuple(float(x) for x in value)
    if len(v) != 3 or not all(math.isfinite(x) for x in v):
        raise SimgenError(f"a person's pose rotation must be 3 finite numbers (a rotation vector in radians), "
                          f"not {value!r}")
    return v


@dataclass(frozen=True)
class PersonParams:
    """Everything a body is made from: plain, hashable, JSON-able.

    ``phenotype``: Anny's phenotype labels (gender 0 male .. 1 female, age, muscle, weight, height,
    proportions) -> value in [0, 1], sorted by name; a label left out is 0.5.
    ``pose``: bone name -> rotation vector (radians) in Anny's "local-ref" convention (a rotation about
    the bone's head in world-aligned rest axes), sorted by bone; a bone left out is at rest (Anny's
    A-pose). Never the root (a person is placed by its scene object's pose).

    Given as dicts or in any order, both are sorted and converted to floats on construction."""

    phenotype: tuple[tuple[str, float], ...] = ()
    pose: tuple[tuple[str, tuple[float, float, float]], ...] = ()

    def __post_init__(self):
        phen = dict(self.phenotype.items() if isinstance(self.phenotype, dict) else self.phenotype)
        pose = dict(self.pose.items() if isinstance(self.pose, dict) else self.pose)
        phenotype = []
        for k, v in sorted(phen.items()):
            v = float(v)
            if not (0.0 <= v <= 1.0):
                raise SimgenError(f"a person's phenotype {k}={v} is outside [0, 1]: give a value from 0 to 1")
            phenotype.append((str(k), v))
        if "root" in pose:
            raise SimgenError("a person's pose cannot rotate the root bone: place the person by its scene "
                              "object's pose instead")
        object.__setattr__(self, "phenotype", tuple(phenotype))
        object.__setattr__(self, "pose", tuple((str(b), _rotvec(r)) for b, r in sorted(pose.items())))

    def to_json(self) -> dict:
        """The parameters as plain JSON (the inverse of :meth:`from_json`)."""
        return {"phenotype": {k: v for k, v in self.phenotype}, "pose": {b: list(r) for b, r in self.pose}}

    @classmethod
    def from_json(cls, data: dict) -> PersonParams:
        return cls(phenotype=dict(data.get("phenotype", {})), pose=dict(data.get("pose", {})))

    def digest(self) -> str:
        """16 hex digits naming these parameters, stable across processes and machines."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class Body:
    """One posed body in the body frame (module docstring); arrays are read-only (bodies are cached)."""

    vertices: np.ndarray       # (V,3) float64 metres
    faces: np.ndarray          # (F,3) int64, the same for every body and pose
    uv: np.ndarray             # (F,3,2) float64, Anny's UVs per face corner
    joints: np.ndarray         # (104,3) float64, bone heads (posed)
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]   # parent joint index per joint, -1 for the root
    keypoints: np.ndarray      # (17,3) float64, COCO keypoints (KEYPOINT_NAMES), = keypoint_weights() @ vertices
    face_region: np.ndarray    # (F,) int8 index into REGIONS
    face_part: np.ndarray      # (F,) int8 index into PARTS
    params: PersonParams | None = None


def _key(library) -> str | None:
    return None if library is None else os.fspath(library)


def _model(library):
    from simgen.people.model import load_model

    return load_model(_key(library))


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=2)
def _static(library: str | None) -> dict:
    """What every body of a library shares: faces, UVs, names, keypoint weights, regions and parts."""
    import torch

    m = _model(library)
    faces = m.faces.detach().cpu().numpy().astype(np.int64)
    uv = m.texture_coordinates.detach().cpu().numpy()[m.face_texture_coordinate_indices.detach().cpu().numpy()]
    names = tuple(str(b) for b in m.bone_labels)
    parents = tuple(int(p) for p in m.bone_parents)
    import anny

    with torch.no_grad():
        reg = anny.KeypointsRegressor.coco(m, labels=list(KEYPOINT_NAMES))
        weights = reg.regression_weights.detach().cpu().numpy().astype(np.float64)
        bw = m.vertex_bone_weights.detach().cpu().numpy()
        bi = m.vertex_bone_indices.detach().cpu().numpy()
    dominant = bi[np.arange(len(bi)), np.argmax(bw, axis=1)]
    face_part, face_region = _labels(faces, dominant, names, _segmentation(m))
    return {"faces": _ro(faces), "uv": _ro(uv.astype(np.float64)), "names": names, "parents": parents,
            "weights": _ro(weights), "face_part": _ro(face_part), "face_region": _ro(face_region),
            "phenotypes": tuple(str(p) for p in m.phenotype_labels)}


def _segmentation(m) -> np.ndarray:
    """Anny's shipped face segmentation: per face, its label (or "" for the body)."""
    from anny.face_segmentation import get_face_segmentation_mask

    out = np.full(len(m.faces), "", dtype=object)
    for label in _SEGMENT_PART:
        out[get_face_segmentation_mask(m, [label]).cpu().numpy()] = label
    return out


def _majority(faces: np.ndarray, vertex_label: np.ndarray) -> np.ndarray:
    """Per face, the label most of its 3 vertices carry (all different: the first vertex's)."""
    a, b, c = (vertex_label[faces[:, i]] for i in range(3))
    return np.where((b == c) & (a != b), b, a).astype(np.int8)


def _labels(faces, dominant, names, segment) -> tuple[np.ndarray, np.ndarray]:
    part_of_bone = np.array([PARTS.index(_bone_part(b)) for b in names])
    region_of_bone = np.array([REGIONS.index(_bone_region(b)) for b in names])
    face_part = _majority(faces, part_of_bone[dominant])
    face_region = _majority(faces, region_of_bone[dominant])
    for label, part in _SEGMENT_PART.items():
        sel = segment == label
        face_part[sel] = PARTS.index(part)
        face_region[sel] = REGIONS.index("shoes" if part.startswith("foot") else "skin")
    return face_part, face_region


def dressed_regions(body_or_parts, sleeves: str = "long", legs: str = "long") -> np.ndarray:
    """Per face, the region index with short sleeves (``sleeves="short"``: lower arms are skin) or
    shorts (``legs="short"``: lower legs are skin); the long forms are :attr:`Body.face_region`."""
    face_part = getattr(body_or_parts, "face_part", body_or_parts)
    face_region = getattr(body_or_parts, "face_region", None)
    if face_region is None:
        raise SimgenError("dressed_regions needs a Body")
    out = np.array(face_region, dtype=np.int8)
    for choice, what, parts in ((sleeves, "sleeves", ("lower_arm_left", "lower_arm_right")),
                                (legs, "legs", ("lower_leg_left", "lower_leg_right"))):
        if choice not in ("long", "short"):
            raise SimgenError(f"{what}={choice!r}: choose long or short")
        if choice == "short":
            out[np.isin(face_part, [PARTS.index(p) for p in parts])] = REGIONS.index("skin")
    return out


def _check(params: PersonParams, static: dict) -> None:
    unknown = [k for k, _ in params.phenotype if k not in static["phenotypes"]]
    if unknown:
        raise SimgenError(f"unknown phenotype label(s) {unknown}: choose from {list(static['phenotypes'])}")
    bones = set(static["names"])
    unknown = [b for b, _ in params.pose if b not in bones]
    if unknown:
        raise SimgenError(f"unknown bone(s) {unknown} in a person's pose: Anny's bones are "
                          f"{', '.join(static['names'][1:])}")


def _rotation_matrix(rotvec) -> np.ndarray:
    r = np.asarray(rotvec, dtype=np.float64)
    angle = float(np.linalg.norm(r))
    if angle < 1e-300:
        return np.eye(3)
    k = r / angle
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(angle) * kx + (1.0 - math.cos(angle)) * (kx @ kx)


def body(params: PersonParams, library=None) -> Body:
    """The body ``params`` make (module docstring: the body frame); cached (small LRU) by params."""
    return _body(params, _key(library))


@functools.lru_cache(maxsize=16)
def _body(params: PersonParams, library: str | None) -> Body:
    import torch

    static = _static(library)
    _check(params, static)
    m = _model(library)
    pose = None
    if params.pose:
        pose = {}
        for bone, rv in params.pose:
            t = torch.eye(4, dtype=m.template_vertices.dtype)[None].clone()
            t[0, :3, :3] = torch.as_tensor(_rotation_matrix(rv), dtype=t.dtype)
            pose[bone] = t
    with torch.no_grad():
        out = m(pose_parameters=pose, phenotype_kwargs=dict(params.phenotype))
    vertices = out["vertices"][0].detach().cpu().numpy().astype(np.float64)
    joints = out["bone_poses"][0, :, :3, 3].detach().cpu().numpy().astype(np.float64)
    shift = np.array([-joints[0, 0], -joints[0, 1], -vertices[:, 2].min()])
    vertices = vertices + shift
    joints = joints + shift
    return Body(vertices=_ro(vertices), faces=static["faces"], uv=static["uv"], joints=_ro(joints),
                joint_names=static["names"], parents=static["parents"],
                keypoints=_ro(static["weights"] @ vertices), face_region=static["face_region"],
                face_part=static["face_part"], params=params)


def keypoint_weights(library=None) -> np.ndarray:
    """(17, V) float64, read-only: Anny's COCO regressor, so keypoints = W @ vertices in any pose."""
    return _static(_key(library))["weights"]


def keypoint_support(library=None) -> tuple[np.ndarray, ...]:
    """Per keypoint (KEYPOINT_NAMES' order): the vertex indices its regressor weighs (weight > 0)."""
    return tuple(_ro(np.flatnonzero(w > 0)) for w in keypoint_weights(library))
