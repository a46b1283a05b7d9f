"""Motion from a BVH file of one's own (issue 77 item 3): a reader of Biovision Hierarchy files and the
retargeting of their joints' rotations onto Anny's bones. Pure: numpy and scipy, never bpy.

The format (Biovision's, as its descriptions give it): a ``HIERARCHY`` section of one ``ROOT`` joint and
nested ``JOINT``s and ``End Site``s in braces, each with an ``OFFSET x y z`` (its position in its
parent's frame) and, for joints, ``CHANNELS n`` names among Xposition Yposition Zposition Xrotation
Yrotation Zrotation in any order; then ``MOTION``, ``Frames: N``, ``Frame Time: seconds`` and N rows of
numbers, one a channel in the order the hierarchy declares them. A joint's rotation is the product of
its rotation channels in the order listed (``Zrotation Xrotation Yrotation`` is Rz @ Rx @ Ry, in
degrees), and a point of its frame goes to its parent's as ``offset + R @ p``; position channels give
the joint's position in its parent's frame in place of the offset (the root's path).

A file is data: it is read as text, never run, capped at :data:`MAX_BYTES`, :data:`MAX_JOINTS` joints
and :data:`MAX_VALUES` numbers; what is wrong with it is one line naming the file and its line.

Retargeting (:class:`Retarget`): the BVH's up axis is +Y and its character faces +Z at rest (the
format's common convention; Blender's and the CMU and Mixamo exports'), turned into the body frame (+Z up,
the person faces -Y, its left +X). Each mapped BVH joint j (:data:`JOINTS`, and the user's
``people.bvh_joints``) drives one Anny bone c. The rest poses differ (a BVH's rest is its offsets' pose,
usually a T-pose; Anny's is an A-pose), so the retargeting works on bone directions: c's rest direction
``a`` (from its head to the head of the bone its BVH child drives) is turned onto the BVH's rest
direction ``b0`` by the least rotation ``S_c``, and c takes the world rotation ``G_c = B_j @ S_c``
(``B_j``: j's world rotation in the body frame), so that ``G_c @ a`` is the BVH bone's direction
``B_j @ b0`` at every frame, its twist following the BVH's. A bone with no mapped BVH child takes its
mapped parent's ``S``. Anny's local-ref pose is then ``D_c = G_parent^T @ G_c`` (Anny's world rotations
compose ``G_c = G_parent @ D_c``, checked by tests/test_people_bvh.py); unmapped bones rest and follow
their parent. A bone whose BVH chain skips an unmapped joint follows its own joint's rotation only.

The BVH root is the body's root (its pelvis), which a person's pose never turns: its turn about the
vertical (yaw) becomes the person's heading (the scene turns the body frame), the rest of its rotation
(a tilt) is given to the root's children (pelvis.L, pelvis.R, spine05), so only the few vertices the
root bone itself weighs do not tilt. Its horizontal path, scaled by the body's hip height over the BVH's
(the height of the joint driving upperleg01 above the skeleton's lowest rest point: the units cancel),
moves the body frame; its height is not used (the body frame puts the soles on the floor at every step).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simgen.errors import SimgenError

MAX_BYTES = 64 * 1024 * 1024
"""The largest BVH file read (a long motion capture at 120 Hz is a few MB)."""
MAX_JOINTS = 1024
"""The most joints (End Sites not counted) a BVH file may declare."""
MAX_VALUES = 20_000_000
"""The most numbers (frames x channels) a BVH file's MOTION may hold."""
MAX_FRAME_TIME = 10.0
"""The longest Frame Time (seconds) a BVH file may state."""

CHANNELS = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")

JOINTS: dict[str, str] = {
    # the spine: CMU's LowerBack, Spine, Spine1; Mixamo's Spine, Spine1, Spine2
    "lowerback": "spine05", "spine": "spine04", "spine1": "spine02", "spine2": "spine01", "chest": "spine02",
    "neck": "neck01", "neck1": "neck02", "head": "head",
    **{f"{side}{name}": f"{bone}.{s}" for side, s in (("left", "L"), ("right", "R")) for name, bone in (
        ("shoulder", "clavicle"), ("collar", "clavicle"),
        ("arm", "upperarm01"), ("upperarm", "upperarm01"),
        ("forearm", "lowerarm01"), ("lowerarm", "lowerarm01"),
        ("hand", "wrist"),
        ("upleg", "upperleg01"), ("upperleg", "upperleg01"), ("thigh", "upperleg01"), ("hip", "upperleg01"),
        ("leg", "lowerleg01"), ("lowerleg", "lowerleg01"), ("shin", "lowerleg01"), ("knee", "lowerleg01"),
        ("foot", "foot"), ("ankle", "foot"))},
}
"""Common BVH joint names (CMU and Mixamo-like, compared by :func:`normalize`: case, a ``prefix:`` such
as ``mixamorig:``, ``_``, ``-`` and spaces ignored) -> the Anny bone each drives. The ROOT joint drives
the body's root whatever its name. people.bvh_joints adds to and overrides these."""

TO_BODY = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
"""BVH axes (+Y up, facing +Z, left +X) -> the body frame (+Z up, facing -Y, left +X): (x, y, z) -> (x, -z, y)."""


def normalize(name: str) -> str:
    """A BVH joint name as :data:`JOINTS` compares it: lower case, without a ``prefix:``, ``_``, ``-`` or spaces."""
    return "".join(c for c in name.rsplit(":", 1)[-1].lower() if c not in "_- ")


@dataclass(frozen=True, eq=False)
class Clip:
    """A BVH file's skeleton and motion. Joints are in file order (a parent before its children)."""

    path: str
    names: tuple[str, ...]
    parents: tuple[int, ...]            # -1 for the root
    offsets: np.ndarray                 # (J, 3) each joint's offset in its parent's frame (BVH units)
    channels: tuple[tuple[str, ...], ...]
    ends: tuple[tuple[np.ndarray, ...], ...]  # per joint, its End Sites' offsets
    frame_time: float
    motion: np.ndarray                  # (F, C) the MOTION rows

    @property
    def frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the last."""
        return (self.frames - 1) * self.frame_time

    @functools.cached_property
    def _columns(self) -> tuple[int, ...]:
        out, c = [], 0
        for ch in self.channels:
            out.append(c)
            c += len(ch)
        return tuple(out)

    def local(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``frame``'s local rotations (J, 3, 3) and positions in the parent's frame (J, 3)."""
        cache = self.__dict__.setdefault("_frames", {})   # the last 64 frames read (steps go in order)
        if frame not in cache:
            if len(cache) >= 64:
                cache.pop(next(iter(cache)))
            rotations, positions = self._local(frame)
            rotations.setflags(write=False)
            positions.setflags(write=False)
            cache[frame] = rotations, positions
        return cache[frame]

    def _local(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        row = self.motion[frame]
        rotations = np.repeat(np.eye(3)[None], len(self.names), axis=0)
        positions = np.array(self.offsets, dtype=float)
        for j, (ch, c0) in enumerate(zip(self.channels, self._columns)):
            r = np.eye(3)
            for k, name in enumerate(ch):
                v = float(row[c0 + k])
                axis = "XYZ".index(name[0])
                if name.endswith("position"):
                    positions[j, axis] = v
                else:
                    r = r @ axis_rotation(axis, math.radians(v))
            rotations[j] = r
        return rotations, positions

    def world(self, rotations: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World rotations (J, 3, 3) and joint positions (J, 3) of local ``rotations``, ``positions``."""
        wr = np.empty_like(rotations)
        wp = np.empty_like(positions)
        for j, p in enumerate(self.parents):
            if p < 0:
                wr[j], wp[j] = rotations[j], positions[j]
            else:
                wr[j] = wr[p] @ rotations[j]
                wp[j] = wp[p] + wr[p] @ positions[j]
        return wr, wp

    def rest(self) -> np.ndarray:
        """The joints' rest positions (J, 3): the offsets' pose, the root at its offset."""
        return self.world(np.repeat(np.eye(3)[None], len(self.names), axis=0), np.array(self.offsets, float))[1]

    def at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Local rotations and positions at ``t`` seconds from the first frame: between two frames each
        joint's rotation is slerped and its position interpolated linearly; before the first frame and
        after the last the clip holds them."""
        from scipy.spatial.transform import Rotation

        u = min(max(float(t) / self.frame_time, 0.0), self.frames - 1.0)
        i0 = int(math.floor(u))
        a = u - i0
        r0, p0 = self.local(i0)
        if a < 1e-12 or i0 + 1 >= self.frames:
            return r0, p0
        r1, p1 = self.local(i0 + 1)
        q0 = Rotation.from_matrix(np.array(r0))
        # the slerp of each joint: r0 turned by the fraction a of its turn to r1
        out = (q0 * Rotation.from_rotvec(a * (q0.inv() * Rotation.from_matrix(np.array(r1))).as_rotvec())).as_matrix()
        return out, (1.0 - a) * p0 + a * p1


def axis_rotation(axis: int, angle: float) -> np.ndarray:
    """The rotation by ``angle`` radians about coordinate axis ``axis`` (0 = X, 1 = Y, 2 = Z)."""
    c, s = math.cos(angle), math.sin(angle)
    i, k = (axis + 1) % 3, (axis + 2) % 3
    r = np.eye(3)
    r[i, i] = r[k, k] = c
    r[i, k], r[k, i] = -s, s
    return r


class _Tokens:
    """The words of a BVH file with their line numbers, read one at a time."""

    def __init__(self, lines: list[str], where: str):
        self.where = where
        self.words = [(w, n) for n, line in enumerate(lines, 1) for w in line.split()]
        self.i = 0

    def fail(self, message: str, line: int | None = None) -> SimgenError:
        if line is None:
            line = self.words[min(self.i, len(self.words) - 1)][1] if self.words else 1
        return SimgenError(f"BVH file {self.where} line {line}: {message}")

    def next(self, what: str) -> tuple[str, int]:
        if self.i >= len(self.words):
            raise self.fail(f"the file ends where {what} should be; is it cut short?")
        self.i += 1
        return self.words[self.i - 1]

    def expect(self, word: str) -> int:
        w, n = self.next(repr(word))
        if w != word:
            raise self.fail(f"expected {word!r}, found {w!r}", n)
        return n

    def number(self, what: str) -> float:
        w, n = self.next(what)
        try:
            v = float(w)
        except ValueError:
            raise self.fail(f"{what} must be a number, not {w!r}", n) from None
        if not math.isfinite(v):
            raise self.fail(f"{what} must be a finite number, not {w!r}", n)
        return v


def parse_bvh(text: str, where: str = "<text>") -> Clip:
    """The :class:`Clip` of BVH ``text`` (``where`` names it in errors)."""
    lines = text.splitlines()
    head_end = next((n for n, line in enumerate(lines) if line.split()[:1] == ["MOTION"]), None)
    if head_end is None:
        raise SimgenError(f"BVH file {where}: it has no MOTION section; a BVH file is HIERARCHY, then MOTION")
    tok = _Tokens(lines[:head_end], where)
    tok.expect("HIERARCHY")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    ends: list[list[np.ndarray]] = []

    def offset(what: str) -> list[float]:
        tok.expect("OFFSET")
        return [tok.number(f"{what}'s OFFSET {a}") for a in "xyz"]

    def joint(parent: int, line: int) -> None:
        # the name: the rest of the keyword's line
        words = []
        while tok.i < len(tok.words) and tok.words[tok.i][1] == line:
            words.append(tok.next("a joint's name")[0])
        if not words:
            raise tok.fail("a joint needs a name", line)
        name = " ".join(words)
        if name in names:
            raise tok.fail(f"joint {name!r} is declared twice", line)
        if len(names) >= MAX_JOINTS:
            raise tok.fail(f"more than {MAX_JOINTS} joints: this is no skeleton simgen reads", line)
        j = len(names)
        names.append(name)
        parents.append(parent)
        ends.append([])
        tok.expect("{")
        offsets.append(offset(name))
        n = tok.expect("CHANNELS")
        count = tok.number(f"{name}'s CHANNELS count")
        if count != int(count) or not 0 <= count <= 6:
            raise tok.fail(f"{name}'s CHANNELS count must be 0 to 6, not {count:g}", n)
        ch = []
        for _ in range(int(count)):
            w, m = tok.next(f"{name}'s channel")
            if w not in CHANNELS:
                raise tok.fail(f"{w!r} is no channel: use {', '.join(CHANNELS)}", m)
            if w in ch:
                raise tok.fail(f"{name} names channel {w} twice", m)
            ch.append(w)
        channels.append(tuple(ch))
        while True:
            w, m = tok.next(f"{name}'s closing brace")
            if w == "}":
                return
            if w == "JOINT":
                joint(j, m)
            elif w == "End":
                tok.expect("Site")
                tok.expect("{")
                ends[j].append(np.array(offset(f"{name}'s End Site")))
                tok.expect("}")
            else:
                raise tok.fail(f"expected JOINT, End Site or '}}' in {name}, found {w!r}", m)

    tok.expect("ROOT")
    joint(-1, tok.words[tok.i - 1][1])
    if tok.i < len(tok.words):
        w, n = tok.words[tok.i]
        raise tok.fail(f"{w!r} after the ROOT's closing brace: simgen reads one skeleton (one ROOT) a file", n)

    # MOTION: Frames, Frame Time, then one row a frame
    rows = [(n, line.split()) for n, line in enumerate(lines[head_end + 1:], head_end + 2) if line.strip()]
    motion_line = head_end + 1

    def header(k: int, words: list[str], what: str) -> tuple[int, str]:
        if len(rows) <= k:
            raise SimgenError(f"BVH file {where} line {motion_line}: MOTION needs '{what} <value>' after it")
        n, ws = rows[k]
        if ws[:len(words)] != words or len(ws) != len(words) + 1:
            raise SimgenError(f"BVH file {where} line {n}: expected '{what} <value>', found {' '.join(ws)!r}")
        return n, ws[-1]

    n, frames_word = header(0, ["Frames:"], "Frames:")
    try:
        frames = int(frames_word)
    except ValueError:
        raise SimgenError(f"BVH file {where} line {n}: Frames must be a whole number, not {frames_word!r}") from None
    width = sum(len(c) for c in channels)
    if frames < 1 or frames * max(width, 1) > MAX_VALUES:
        raise SimgenError(f"BVH file {where} line {n}: Frames {frames} must be 1 or more, and frames x channels "
                          f"at most {MAX_VALUES}")
    n, ft_word = header(1, ["Frame", "Time:"], "Frame Time:")
    try:
        frame_time = float(ft_word)
    except ValueError:
        frame_time = float("nan")
    if not (math.isfinite(frame_time) and 0.0 < frame_time <= MAX_FRAME_TIME):
        raise SimgenError(f"BVH file {where} line {n}: Frame Time must be seconds > 0 and at most "
                          f"{MAX_FRAME_TIME:g}, not {ft_word!r}")
    data = rows[2:]
    if len(data) != frames:
        at = data[-1][0] if data else n
        raise SimgenError(f"BVH file {where} line {at}: Frames says {frames} but {len(data)} row(s) follow; "
                          f"make them agree")
    motion = np.empty((frames, width), dtype=float)
    for f, (n, ws) in enumerate(data):
        if len(ws) != width:
            raise SimgenError(f"BVH file {where} line {n}: {len(ws)} value(s) where the hierarchy's channels "
                              f"are {width}")
        try:
            motion[f] = [float(w) for w in ws]
        except ValueError:
            bad = next(w for w in ws if not _is_number(w))
            raise SimgenError(f"BVH file {where} line {n}: {bad!r} is not a number") from None
        if not np.all(np.isfinite(motion[f])):
            raise SimgenError(f"BVH file {where} line {n}: a value is not finite")
    return Clip(path=where, names=tuple(names), parents=tuple(parents), offsets=np.array(offsets, float),
                channels=tuple(channels), ends=tuple(tuple(e) for e in ends), frame_time=frame_time, motion=motion)


def _is_number(w: str) -> bool:
    try:
        float(w)
        return True
    except ValueError:
        return False


def read_bvh(path: str | os.PathLike) -> Clip:
    """The :class:`Clip` of the BVH file at ``path`` (read once per process while it is unchanged)."""
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except OSError:
        raise SimgenError(f"BVH file {p}: not found; give people.bvh the path of a .bvh file") from None
    if not p.is_file():
        raise SimgenError(f"BVH file {p}: not a file; give people.bvh the path of a .bvh file")
    if st.st_size > MAX_BYTES:
        raise SimgenError(f"BVH file {p}: {st.st_size} bytes is over the {MAX_BYTES} simgen reads; cut the clip")
    return _read(str(p.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read(path: str, size: int, mtime_ns: int) -> Clip:
    raw = Path(path).read_bytes()[:MAX_BYTES + 1]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = raw.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover (latin-1 decodes any bytes)
            raise SimgenError(f"BVH file {path}: not text") from None
    if "\x00" in text:
        raise SimgenError(f"BVH file {path}: not text (it holds NUL bytes); a BVH file is plain text")
    return parse_bvh(text, path)


def _least_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The least rotation turning direction ``a`` onto direction ``b``."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    s = float(np.linalg.norm(v))
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        axis = np.cross(a, [1.0, 0.0, 0.0])
        if np.linalg.norm(axis) < 1e-6:
            axis = np.cross(a, [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    k = v / s
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    angle = math.atan2(s, c)
    return np.eye(3) + math.sin(angle) * kx + (1.0 - math.cos(angle)) * (kx @ kx)


def _rot_z(angle: float) -> np.ndarray:
    return axis_rotation(2, angle)


def _yaw(rotation: np.ndarray) -> float:
    """The turn about +Z of a body-frame rotation of the root: where it sends the facing (-Y), seen from
    above, or, where the facing is within 15 deg of vertical (lying face up or down), where it sends the
    left (+X)."""
    f = rotation @ np.array([0.0, -1.0, 0.0])
    if math.hypot(f[0], f[1]) >= math.sin(math.radians(15.0)):
        return math.atan2(f[0], -f[1])
    left = rotation @ np.array([1.0, 0.0, 0.0])
    return math.atan2(left[1], left[0])


@dataclass(frozen=True)
class RetargetFrame:
    pose: tuple                 # PersonParams.pose: (bone, rotation vector radians), sorted, rest bones left out
    advance_m: float            # along the person's starting facing (-Y of its first body frame)
    side_m: float               # along its starting left (+X)
    yaw_rad: float              # its turn since the start (+ = counter-clockwise seen from above)


class Retarget:
    """A :class:`Clip` retargeted to one body (module docstring): :meth:`frame` gives its pose and path."""

    def __init__(self, clip: Clip, rest_joints: np.ndarray, joint_names, parents, mapping: dict | None = None):
        names = tuple(joint_names)
        self.clip, self.joint_names, self.parents = clip, names, tuple(parents)
        bones = {}   # BVH joint index -> Anny bone
        user = dict(mapping or {})
        by_name = {n: j for j, n in enumerate(clip.names)}
        by_norm = {}
        for j, n in enumerate(clip.names):
            by_norm.setdefault(normalize(n), j)
        for j, n in enumerate(clip.names):
            if j > 0 and normalize(n) in JOINTS:
                bones[j] = JOINTS[normalize(n)]
        for n, bone in user.items():
            j = by_name.get(n, by_norm.get(normalize(str(n))))
            if j is None:
                raise SimgenError(f"people.bvh_joints names joint {n!r}, which {clip.path} lacks: its joints are "
                                  f"{', '.join(clip.names)}")
            if bone in (None, "", "none"):
                bones.pop(j, None)
                continue
            bones[j] = str(bone)
        for j, bone in bones.items():
            if bone not in names or bone == names[0]:
                from simgen.errors import did_you_mean

                raise SimgenError(f"BVH joint {clip.names[j]!r} is mapped to {bone!r}, which is no Anny bone "
                                  f"(the root is the BVH's ROOT); {did_you_mean(bone, list(names[1:]))} "
                                  f"set people.bvh_joints")
        driven = {}
        for j, bone in sorted(bones.items()):
            if bone in driven:
                raise SimgenError(f"BVH joints {clip.names[driven[bone]]!r} and {clip.names[j]!r} both drive Anny "
                                  f"bone {bone}: map one of them elsewhere (or to none) in people.bvh_joints")
            driven[bone] = j
        bones[0] = names[0]
        self.bones = dict(sorted(bones.items()))            # BVH joint -> Anny bone, the root included
        self.drives = {b: j for j, b in self.bones.items()}  # Anny bone -> BVH joint
        rest = np.asarray(rest_joints, float)
        bvh_rest = (TO_BODY @ clip.rest().T).T
        # each mapped joint's rest alignment S (Anny's rest direction onto the BVH's)
        self.align: dict[int, np.ndarray] = {}
        children: dict[int, list[int]] = {j: [] for j in range(len(clip.names))}
        for j, p in enumerate(clip.parents):
            if p >= 0:
                children[p].append(j)
        self.ends: dict[int, int] = {}
        for j in self.bones:   # file order: a parent before its children
            c = names.index(self.bones[j])
            end = self._end(j, c, children, names)
            if end is None or j == 0:
                p = clip.parents[j]
                while p >= 0 and p not in self.align:
                    p = clip.parents[p]
                self.align[j] = self.align[p] if p >= 0 and j != 0 else np.eye(3)
                continue
            self.ends[j] = end
            a = rest[names.index(self.bones[end])] - rest[c]
            b0 = bvh_rest[end] - bvh_rest[j]
            if np.linalg.norm(a) < 1e-9 or np.linalg.norm(b0) < 1e-9:
                self.align[j] = np.eye(3)
            else:
                self.align[j] = _least_rotation(a, b0)
        # the scale of the root's path: the body's hip height over the BVH's
        points = [bvh_rest] + [(TO_BODY @ (clip.rest()[j] + e))[None] for j, es in enumerate(clip.ends) for e in es]
        low = float(np.concatenate(points)[:, 2].min())
        leg = next((j for j, b in self.bones.items() if b == "upperleg01.L"), None)
        leg = leg if leg is not None else next((j for j, b in self.bones.items() if b == "upperleg01.R"), 0)
        anny_leg = float(rest[names.index(self.bones[leg]), 2])   # the body frame's soles are at z = 0
        bvh_leg = bvh_rest[leg, 2] - low
        if not bvh_leg > 1e-9:
            raise SimgenError(f"BVH file {clip.path}: its hips are not above its lowest point at rest; is its up "
                              f"axis +Y?")
        self.scale = float(anny_leg / bvh_leg)

    def _end(self, j, c, children, names) -> int | None:
        """The mapped BVH joint that ends joint j's bone: its nearest mapped descendants, preferring one
        whose Anny bone has no side when c has none (the spine's neck, not its shoulders)."""
        found, todo = [], list(children[j])
        while todo:
            k = todo.pop(0)
            if k in self.bones:
                found.append(k)
            else:
                todo.extend(children[k])
        # an end must be an Anny descendant of c
        found = [k for k in found if self._descends(names.index(self.bones[k]), c)]
        if not found:
            return None
        sided = names[c].endswith((".L", ".R"))
        if not sided:
            central = [k for k in found if not self.bones[k].endswith((".L", ".R"))]
            if central:
                return central[0]
        return found[0]

    def _descends(self, k: int, c: int) -> bool:
        while k > 0:
            k = self.parents[k]
            if k == c:
                return True
        return False

    def world(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """The BVH's world rotations (J, 3, 3) and positions (J, 3) at ``t`` s, in body axes (not scaled)."""
        rot, pos = self.clip.world(*self.clip.at(t))
        return TO_BODY @ rot @ TO_BODY.T, (TO_BODY @ pos.T).T

    def frame(self, t: float, start_s: float = 0.0) -> RetargetFrame:
        """The pose and path at ``t`` seconds of a motion that starts ``start_s`` seconds into the clip."""
        from scipy.spatial.transform import Rotation

        start = self.__dict__.setdefault("_start", {})
        if start_s not in start:
            start.clear()
            start[start_s] = self.world(start_s)
        wr0, wp0 = start[start_s]
        wr, wp = self.world(start_s + t)
        yaw0, yaw = _yaw(wr0[0]), _yaw(wr[0])
        unturn = _rot_z(-yaw)
        G = {}
        for c, bone in enumerate(self.joint_names):
            j = self.drives.get(bone)
            G[c] = unturn @ wr[j] @ self.align[j] if j is not None else G[self.parents[c]]
        d = np.stack([G[c] if p == 0 else G[p].T @ G[c] for c, p in enumerate(self.parents) if c > 0])
        rvs = Rotation.from_matrix(d).as_rotvec()
        moved = np.linalg.norm(rvs, axis=1) > 1e-12
        pose = [(bone, tuple(float(x) for x in rv)) for bone, rv, m in zip(self.joint_names[1:], rvs, moved) if m]
        move = _rot_z(-yaw0) @ (wp[0] - wp0[0]) * self.scale
        turn = math.remainder(yaw - yaw0, 2.0 * math.pi)
        return RetargetFrame(tuple(sorted(pose)), float(-move[1]), float(move[0]), float(turn))
