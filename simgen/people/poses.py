"""Plausible poses of a person: named poses and joint limits as data, a draw from them, and a
self-intersection check that redraws or repairs (issue 77, item 3).

- ``assets/people/poses.yaml``: named poses (A, T, stand, walk phases, sit, wave, hands_on_hips,
  lie), each bone -> rotation vector in DEGREES in Anny's "local-ref" convention (a rotation about
  the bone's head, its axes the rest pose's: +X the person's left, -Y forward, +Z up).
- ``assets/people/joint_limits.yaml``: per bone and axis, the anatomical range (AAOS) a drawn pose
  is clamped to.
- :func:`draw_pose`: a named pose drawn uniformly from ``names`` plus clipped per-joint noise,
  clamped to the limits. Pure numpy, from an explicit Generator (no torch RNG anywhere).
- :func:`draw_free_pose`: :func:`draw_pose` for a given body, checked with Anny's mesh
  intersection test (:func:`self_intersections`, NVIDIA warp on the CPU): redrawn up to ``tries``
  times, then repaired by turning the bones on the colliding chains back towards rest (Anny's
  rest pose crosses itself for none of 1,000 drawn bodies). Deterministic: the same Generator and
  body give the same pose.

A pose is what :class:`simgen.people.body.PersonParams` takes: a tuple of (bone, (x, y, z))
rotation vectors in RADIANS, sorted by bone, the root never posed.
"""

from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simgen.errors import SimgenError
from simgen.paths import ASSET_DIR

POSES_FILE: Path = ASSET_DIR / "people" / "poses.yaml"
"""The named poses (bone -> rotation vector in degrees, Anny local-ref)."""
LIMITS_FILE: Path = ASSET_DIR / "people" / "joint_limits.yaml"
"""The joint limits (bone -> per-axis [low, high] degrees) and where they come from."""

JITTER_DEG = 6.0
"""Default per-joint noise (standard deviation, degrees) on a bone whose range spans 90 deg or
more; a bone with a narrower range (a spine segment) gets proportionally less."""
TRIES = 8
"""How many draws :func:`draw_free_pose` makes before it repairs the last one."""
REPAIR_STEPS = 8
"""How many times a repair turns the colliding chains' bones a quarter of the way back towards rest
before it puts them at rest."""


def _bones() -> tuple[str, ...]:
    """Anny 0.6.2's 104 bones, in its order (``m.bone_labels``; a test checks them)."""
    def leg(s):
        toes = [f"toe1-{i}.{s}" for i in (1, 2)] + [f"toe{t}-{i}.{s}" for t in (2, 3, 4, 5) for i in (1, 2, 3)]
        return [f"pelvis.{s}", f"upperleg01.{s}", f"upperleg02.{s}", f"lowerleg01.{s}", f"lowerleg02.{s}",
                f"foot.{s}"] + toes

    def arm(s):
        fingers = []
        for f in (1, 2, 3, 4, 5):
            fingers += [f"finger{f}-{i}.{s}" for i in (1, 2, 3)]
            if f < 5:
                fingers.append(f"metacarpal{f}.{s}")
        return [f"clavicle.{s}", f"shoulder01.{s}", f"upperarm01.{s}", f"upperarm02.{s}", f"lowerarm01.{s}",
                f"lowerarm02.{s}", f"wrist.{s}"] + fingers

    return tuple(["root"] + leg("L") + leg("R") + ["spine05", "spine04", "spine03", "spine02", "spine01"]
                 + arm("L") + arm("R") + ["neck01", "neck02", "neck03", "head", "eye.L", "eye.R"])


BONES: tuple[str, ...] = _bones()
"""Anny's bone names (default rig), root first."""

Pose = tuple[tuple[str, tuple[float, float, float]], ...]
"""(bone, rotation vector in radians) pairs sorted by bone: PersonParams.pose."""


def _mirror(bone: str) -> str | None:
    m = re.fullmatch(r"(.*)\.L", bone)
    return f"{m.group(1)}.R" if m else None


def _vec3(value, where: str) -> np.ndarray:
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in value)):
        raise SimgenError(f"{where}: {value!r} is not a rotation vector of 3 finite numbers (degrees), e.g. [0, 28, 0]")
    return np.asarray(value, dtype=float)


def _load_yaml(path: Path, key: str) -> dict:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise SimgenError(f"{path}: cannot read it ({e.strerror}); give an existing YAML file") from None
    except yaml.YAMLError as e:
        raise SimgenError(f"{path}: not valid YAML ({str(e).splitlines()[0]}); fix the file") from None
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        raise SimgenError(f"{path}: expected a mapping '{key}:' of name -> entry at the top; fix the file")
    return data[key]


@functools.lru_cache(maxsize=8)
def load_limits(path: str | os.PathLike | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The joint limits: bone -> (low, high) per-axis degrees, with every ``.L`` bone's ``.R``
    mirror (X kept, Y and Z negated). One line naming the file and bone for a bad entry."""
    path = Path(path) if path is not None else LIMITS_FILE
    raw = _load_yaml(path, "limits")
    limits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for bone, entry in raw.items():
        where = f"{path}: limits of bone {bone!r}"
        if bone not in BONES or bone == "root":
            raise SimgenError(f"{where}: not a bone of Anny's rig (the root is never posed); "
                              f"use one of its bone names, e.g. upperarm01.L")
        if not isinstance(entry, dict) or set(entry) != {"x", "y", "z"}:
            raise SimgenError(f"{where}: expected {{x: [low, high], y: [...], z: [...]}} in degrees, got {entry!r}")
        lo, hi = np.zeros(3), np.zeros(3)
        for i, axis in enumerate("xyz"):
            pair = entry[axis]
            if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in pair)
                    or not pair[0] <= 0 <= pair[1]):
                raise SimgenError(f"{where}, axis {axis}: {pair!r} is not [low, high] degrees with low <= 0 <= high "
                                  f"(the rest pose lies within every range)")
            lo[i], hi[i] = pair
        limits[bone] = (lo, hi)
    for bone in list(limits):
        mirror = _mirror(bone)
        if mirror and mirror not in raw:
            lo, hi = limits[bone]
            sign = np.array([1.0, -1.0, -1.0])
            limits[mirror] = (np.where(sign > 0, lo, -hi), np.where(sign > 0, hi, -lo))
    return limits


@functools.lru_cache(maxsize=8)
def load_poses(path: str | os.PathLike | None = None, limits_path: str | os.PathLike | None = None
               ) -> dict[str, dict[str, np.ndarray]]:
    """The named poses: name -> {bone: rotation vector in degrees}. Every bone named must be an
    Anny bone with joint limits, and every pose within them; otherwise one line naming the file,
    pose and bone."""
    path = Path(path) if path is not None else POSES_FILE
    limits = load_limits(limits_path)
    raw = _load_yaml(path, "poses")
    poses: dict[str, dict[str, np.ndarray]] = {}
    for name, entry in raw.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise SimgenError(f"{path}: pose name {name!r} is not a word (letters, digits, _); rename it")
        if entry is None:
            entry = {}
        if not isinstance(entry, dict):
            raise SimgenError(f"{path}: pose {name!r} is {entry!r}, not a mapping bone -> [x, y, z] degrees")
        pose = {}
        for bone, value in entry.items():
            where = f"{path}: pose {name!r}, bone {bone!r}"
            if bone not in BONES or bone == "root":
                raise SimgenError(f"{where}: not a bone of Anny's rig (the root is never posed: the scene places "
                                  f"and turns the person); use one of its bone names, e.g. upperarm01.L")
            if bone not in limits:
                raise SimgenError(f"{where}: the bone has no joint limits in {LIMITS_FILE.name}; add its ranges there")
            v = _vec3(value, where)
            lo, hi = limits[bone]
            if np.any(v < lo) or np.any(v > hi):
                raise SimgenError(f"{where}: {value} lies outside its joint limits {lo.tolist()}..{hi.tolist()}; "
                                  f"bring it within them")
            pose[bone] = v
        poses[name] = pose
    if not poses:
        raise SimgenError(f"{path}: no poses; name at least one")
    return poses


def pose_names() -> tuple[str, ...]:
    """The named poses of :data:`POSES_FILE`, in its order."""
    return tuple(load_poses())


def as_pose(degrees: dict[str, np.ndarray]) -> Pose:
    """A bone -> degrees mapping as a PersonParams pose: radians, sorted by bone, rest bones left out."""
    return tuple((bone, tuple(float(x) for x in np.radians(v))) for bone, v in sorted(degrees.items())
                 if np.any(np.asarray(v) != 0))


def as_degrees(pose: Pose) -> dict[str, np.ndarray]:
    """A PersonParams pose as bone -> rotation vector in degrees."""
    return {bone: np.degrees(np.asarray(v, dtype=float)) for bone, v in pose}


def named_pose(name: str) -> Pose:
    """The named pose ``name`` of :data:`POSES_FILE` as a PersonParams pose (radians)."""
    poses = load_poses()
    if name not in poses:
        raise SimgenError(f"unknown pose {name!r}: use one of {', '.join(poses)} ({POSES_FILE})")
    return as_pose(poses[name])


def clamp(degrees: dict[str, np.ndarray], limits=None) -> dict[str, np.ndarray]:
    """Each bone's rotation vector (degrees) clipped to its joint limits, per axis."""
    limits = load_limits() if limits is None else limits
    return {bone: np.clip(v, *limits[bone]) if bone in limits else np.asarray(v, float)
            for bone, v in degrees.items()}


def violations(pose: Pose, limits=None, tol_deg: float = 1e-6) -> list[str]:
    """The (bone, axis) pairs of ``pose`` outside the joint limits (a bone without limits counts)."""
    limits = load_limits() if limits is None else limits
    out = []
    for bone, v in as_degrees(pose).items():
        if bone not in limits:
            out.append(f"{bone} (no limits)")
            continue
        lo, hi = limits[bone]
        out += [f"{bone}.{'xyz'[i]}" for i in range(3) if not lo[i] - tol_deg <= v[i] <= hi[i] + tol_deg]
    return out


def draw_pose(rng: np.random.Generator, names=None, jitter_deg: float = JITTER_DEG, limits=None) -> Pose:
    """A named pose drawn uniformly from ``names`` (default: all of :data:`POSES_FILE`) plus
    per-joint noise on every bone with limits (normal, standard deviation ``jitter_deg`` scaled by
    the bone's range / 90 deg where that is narrower, clipped at 2 standard deviations), clamped to
    the joint limits. No self-intersection check: :func:`draw_free_pose` adds it."""
    return draw_named_pose(rng, names, jitter_deg, limits)[1]


def draw_named_pose(rng: np.random.Generator, names=None, jitter_deg: float = JITTER_DEG, limits=None
                    ) -> tuple[str, Pose]:
    """:func:`draw_pose` and the name of the pose it was drawn from (the same draws)."""
    name, degrees = _draw(rng, names, jitter_deg, limits)
    return name, as_pose(degrees)


def _draw(rng, names, jitter_deg, limits):
    poses = load_poses()
    limits = load_limits() if limits is None else limits
    names = tuple(poses) if names is None else tuple(names)
    if not names:
        raise SimgenError("draw_pose: names is empty; give at least one named pose, e.g. ['stand']")
    for n in names:
        if n not in poses:
            raise SimgenError(f"unknown pose {n!r}: use one of {', '.join(poses)} ({POSES_FILE})")
    if not (isinstance(jitter_deg, (int, float)) and math.isfinite(jitter_deg) and jitter_deg >= 0):
        raise SimgenError(f"jitter_deg {jitter_deg!r} must be a number of degrees >= 0")
    name = names[int(rng.integers(len(names)))]
    bones = sorted(limits)
    lo = np.array([limits[b][0] for b in bones])
    hi = np.array([limits[b][1] for b in bones])
    sd = jitter_deg * np.minimum(1.0, (hi - lo) / 90.0)
    noise = np.clip(rng.standard_normal((len(bones), 3)), -2.0, 2.0) * sd
    base = poses[name]
    degrees = {}
    for i, bone in enumerate(bones):
        degrees[bone] = np.clip(base.get(bone, np.zeros(3)) + noise[i], lo[i], hi[i])
    return name, degrees


# -- self-intersection -----------------------------------------------------------------------------------

_WARNED_CACHES: set[str] = set()


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def warp_cache_dir(library=None) -> Path:
    """Where warp keeps the intersection kernel it compiles once (about 9 s on 2 cores):
    ``$SIMGEN_WARP_CACHE``, else the people library's ``warp`` folder (never warp's default,
    ~/.cache/warp); where that cannot be written (a library shared read-only), ~/.cache/simgen/warp,
    with one warning a process, rather than stopping a run."""
    from simgen.people.model import library_dir

    env = os.environ.get("SIMGEN_WARP_CACHE")
    if env:
        return Path(env).expanduser()
    own = library_dir(library) / "warp"
    if _writable_dir(own):
        return own
    fallback = Path.home() / ".cache" / "simgen" / "warp"
    if str(own) not in _WARNED_CACHES:
        _WARNED_CACHES.add(str(own))
        import logging

        logging.getLogger(__name__).warning(
            "the people library's warp folder %s cannot be written: the self-intersection check keeps its "
            "compiled kernel in %s instead (set $SIMGEN_WARP_CACHE to choose)", own, fallback)
    return fallback


class _Checker:
    """Anny's SelfInterpenetrationModule (warp on the CPU) for one model, with each face's dominant
    bone and the bone parents, to name the posed bones behind a collision."""

    def __init__(self, library):
        from simgen.people.model import load_model

        cache = warp_cache_dir(library)
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SimgenError(f"the self-intersection check keeps warp's compiled kernel in {cache}, which cannot "
                              f"be made ({e.strerror}): set $SIMGEN_WARP_CACHE to a writable folder") from None
        self.library = library
        self.model = load_model(None if library is None else os.fspath(library))  # body()'s model: one a process
        try:
            import warp
        except ImportError as e:  # pragma: no cover - warp comes with anny
            raise SimgenError(f"the self-intersection check needs NVIDIA warp ({e}); "
                              f"reinstall the people extra: pip install -e '.[people]'") from None
        warp.config.kernel_cache_dir = str(cache)
        warp.config.log_level = warp.LOG_WARNING  # no banner, no per-module load lines
        from anny.utils.collision import SelfInterpenetrationModule

        self.module = SelfInterpenetrationModule(self.model)
        labels = list(self.model.bone_labels)
        self.labels = labels
        self.parents = [int(p) for p in self.model.bone_parents]
        idx = self.model.vertex_bone_indices.cpu().numpy()
        w = self.model.vertex_bone_weights.cpu().numpy()
        dominant = idx[np.arange(len(idx)), w.argmax(axis=1)]
        self.faces = np.asarray(self.module.triangular_faces.cpu().numpy())
        self.face_bone = dominant[self.faces[:, 0]]

    def vertices(self, pose: Pose, phenotype):
        """The posed body's vertices as a tensor: :func:`simgen.people.body.body`'s (cached, so the
        scene's body of the pose kept is not built a second time; its shift to the body frame does not
        change what crosses what)."""
        import torch

        from simgen.people.body import PersonParams, body

        return torch.from_numpy(np.array(body(PersonParams(phenotype=phenotype, pose=pose), self.library).vertices))

    def colliding(self, pose: Pose, phenotype) -> np.ndarray:
        """Per face: the index of a face it crosses, or -1."""
        return self.module.detect_self_intersections(self.vertices(pose, phenotype)).cpu().numpy()

    def posed_bones_behind(self, pose: Pose, colliding: np.ndarray) -> set[str]:
        """The posed bones on the chains from the root to the dominant bones of the colliding faces
        (a thumb in a thigh: the arm's bones, the spine's and the leg's)."""
        posed = {bone for bone, _ in pose}
        out = set()
        faces = np.nonzero(colliding >= 0)[0]
        for b in set(self.face_bone[faces].tolist()) | set(self.face_bone[colliding[faces]].tolist()):
            while b >= 0:
                if self.labels[b] in posed:
                    out.add(self.labels[b])
                b = self.parents[b]
        return out


@functools.lru_cache(maxsize=2)
def _checker(library) -> _Checker:
    return _Checker(library)


def self_intersections(pose: Pose, phenotype=(), library=None) -> int:
    """How many triangles of the body (``phenotype``: Anny's label -> [0,1] pairs) in ``pose`` cross
    another of its triangles: Anny's SelfInterpenetrationModule, an exact separating-axis
    triangle-triangle test over a BVH (warp on the CPU, about 40 ms; the first call in a machine
    compiles its kernel, about 9 s). Triangles that share a bone (the toes, the eyes and tongue
    with the head) are not tested against each other; the rest pose has none."""
    return int((_checker(library).colliding(tuple(pose), tuple(phenotype)) >= 0).sum())


@dataclass(frozen=True)
class FreePose:
    """A pose without self-intersection and how it was found."""
    pose: Pose
    name: str            # the named pose it was drawn from
    draws: int           # draws made (1..tries)
    repaired: bool       # True when all draws collided and the last was repaired
    collisions: int      # crossing triangles left (0 unless even the repair failed)


def draw_free_pose(rng: np.random.Generator, phenotype=(), names=None, jitter_deg: float = JITTER_DEG,
                   limits=None, tries: int = TRIES, library=None) -> FreePose:
    """:func:`draw_pose` for the body of ``phenotype``, its noise redrawn (the named pose kept) while
    it crosses itself (at most ``tries`` draws); where every draw collides, the last is repaired:
    the posed bones on the chains from the root to the colliding triangles are turned a quarter of
    the way back towards rest, up to :data:`REPAIR_STEPS` times, then put at rest. Deterministic: the same Generator state, body
    and arguments give the same pose."""
    if not (isinstance(tries, int) and tries >= 1):
        raise SimgenError(f"tries {tries!r} must be a whole number >= 1")
    check = _checker(library)
    phenotype = tuple(phenotype)
    name = None
    for draw in range(1, tries + 1):
        # the named pose is drawn once and kept: redraws draw its noise again, so a pose that often
        # meets itself (hands on hips) is not drawn less often than the others
        name, degrees = _draw(rng, names if name is None else (name,), jitter_deg, limits)
        pose = as_pose(degrees)
        colliding = check.colliding(pose, phenotype)
        if not (colliding >= 0).any():
            return FreePose(pose, name, draw, False, 0)
    for step in range(REPAIR_STEPS + 1):
        factor = 0.75 if step < REPAIR_STEPS else 0.0      # the last step puts those bones at rest
        for bone in check.posed_bones_behind(pose, colliding):
            degrees[bone] = degrees[bone] * factor
        pose = as_pose(degrees)
        colliding = check.colliding(pose, phenotype)
        if not (colliding >= 0).any():
            break
    return FreePose(pose, name, tries, True, int((colliding >= 0).sum()))
