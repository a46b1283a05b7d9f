"""Motion of a person in a sequence: a pose and a root movement as pure functions of (motion, time).

:func:`pose_at` gives, at time ``t`` seconds, the body's pose (PersonParams.pose: radians, Anny
local-ref, root never posed) and, separately, how far the person has advanced along its facing
direction and how far it has turned, so the scene moves the body frame along a path. The body
frame itself re-grounds the feet (z = 0 at the soles) at every step.

- ``walk``: a cyclic swing of hips, knees, ankles and arms (sines per joint, the right side half a
  cycle behind the left; the left leg is forward at a quarter cycle), the root advancing at a
  steady speed: a stride (two steps) per cycle of 2 * 2 * leg_length * sin(hip swing).
- ``wave``: the ``wave`` pose, its raised forearm swung side to side by a sine.
- ``turn``: the ``stand`` pose, the root turning at ``turn_deg_per_s`` (+ = to the person's left,
  counter-clockwise seen from above), the head leading the turn a little.
- ``still``: a named pose held.
- a :class:`BvhMotion`: a BVH file's motion retargeted to the body (:mod:`simgen.people.bvh`), from a
  start offset into the clip; its root's path may also step sideways (``side_m``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from simgen.errors import SimgenError
from simgen.people.poses import Pose, as_pose, clamp, load_poses

KINDS = ("walk", "wave", "turn", "still")


@dataclass(frozen=True)
class Motion:
    """What a person does in a sequence (plain, hashable)."""
    kind: str = "walk"
    period_s: float = 1.1         # one cycle: a stride (two steps) for walk, a wave back and forth
    amplitude_deg: float = 20.0   # walk: the hip swing either way; wave: the forearm's swing either way
    leg_length_m: float = 0.9     # walk: hip height of the body (the body helper's joints give it)
    turn_deg_per_s: float = 45.0  # turn
    pose: str = "stand"           # still: the named pose held
    phase: float = 0.0            # a start offset, in cycles

    def __post_init__(self):
        if self.kind not in KINDS:
            raise SimgenError(f"motion kind {self.kind!r} is unknown: use one of {', '.join(KINDS)}")
        for field in ("period_s", "leg_length_m"):
            v = getattr(self, field)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise SimgenError(f"motion {field} {v!r} must be a number > 0")
        for field in ("amplitude_deg", "turn_deg_per_s", "phase"):
            v = getattr(self, field)
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise SimgenError(f"motion {field} {v!r} must be a finite number")


@dataclass(frozen=True)
class MotionFrame:
    pose: Pose            # the body's pose at t (radians, sorted by bone)
    advance_m: float      # distance travelled along the facing direction (-Y of the body frame) since t = 0
    yaw_rad: float        # turn about +Z since t = 0 (+ = counter-clockwise seen from above)
    side_m: float = 0.0   # distance travelled along the body frame's +X (its left) since t = 0 (a BVH's path)


@dataclass(frozen=True)
class BvhMotion:
    """A BVH file's motion played on one body from ``start_s`` seconds into the clip (plain, hashable)."""
    path: str
    start_s: float = 0.0
    joints: tuple[tuple[str, str], ...] = ()    # people.bvh_joints, sorted
    phenotype: tuple[tuple[str, float], ...] = ()   # the body's (PersonParams.phenotype)
    library: str | None = None


@functools.lru_cache(maxsize=8)
def retarget_of(motion: BvhMotion):
    """The :class:`simgen.people.bvh.Retarget` of ``motion``'s file onto its body at rest."""
    from simgen.people.body import PersonParams, body
    from simgen.people.bvh import Retarget, read_bvh

    rest = body(PersonParams(phenotype=motion.phenotype), motion.library)
    return Retarget(read_bvh(motion.path), rest.joints, rest.joint_names, rest.parents, dict(motion.joints))


def _walk(phi: float, amp: float) -> dict[str, np.ndarray]:
    """The walk's joint angles (degrees) at phase ``phi`` (radians) of the left leg; the right is
    half a cycle behind. The left hip is flexed most (forward) at phi = pi/2."""
    d: dict[str, np.ndarray] = {}
    for side, ph, arm_sign in (("L", phi, 1.0), ("R", phi + math.pi, -1.0)):
        s, c = math.sin(ph), math.cos(ph)
        d[f"upperleg01.{side}"] = np.array([-amp * s - 3.0, 0.0, 0.0])           # flexion -X
        d[f"lowerleg01.{side}"] = np.array([5.0 + 50.0 * max(0.0, c) ** 2, 0.0, 0.0])  # swing: knee bent
        d[f"foot.{side}"] = np.array([12.0 * max(0.0, -s) - 5.0 * max(0.0, s), 0.0, 0.0])  # push-off: toes down
        # the arm swings against the leg of its side: back (+X) when that leg is forward
        d[f"upperarm01.{side}"] = np.array([0.8 * amp * s, arm_sign * 22.0, 0.0])
        d[f"lowerarm01.{side}"] = np.array([10.0 - 12.0 * max(0.0, -s), 0.0, 0.0])
    return d


def pose_at(motion: Motion, t: float) -> MotionFrame:
    """The pose and root movement of ``motion`` at time ``t`` seconds: a pure function of both."""
    if not (isinstance(t, (int, float)) and math.isfinite(t)):
        raise SimgenError(f"time {t!r} must be a finite number of seconds")
    if isinstance(motion, BvhMotion):
        f = retarget_of(motion).frame(t, motion.start_s)
        return MotionFrame(f.pose, f.advance_m, f.yaw_rad, f.side_m)
    cycles = t / motion.period_s + motion.phase
    phi = 2.0 * math.pi * cycles
    poses = load_poses()
    advance = yaw = 0.0
    if motion.kind == "walk":
        degrees = _walk(phi, motion.amplitude_deg)
        stride = 4.0 * motion.leg_length_m * math.sin(math.radians(abs(motion.amplitude_deg)))
        advance = stride * t / motion.period_s
    elif motion.kind == "wave":
        degrees = {b: v.copy() for b, v in poses["wave"].items()}
        s = math.sin(phi)
        # the forearm swings side to side: turns about -X and +Z together move the raised hand along X
        # (measured on Anny's body: +-20 deg move it +-11 cm sideways, under 1 cm forward)
        a = motion.amplitude_deg * s
        degrees["lowerarm01.R"] = degrees["lowerarm01.R"] + np.array([-a, 0.0, a])
    elif motion.kind == "turn":
        degrees = {b: v.copy() for b, v in poses["stand"].items()}
        lead = math.copysign(min(10.0, abs(motion.turn_deg_per_s) / 6.0), motion.turn_deg_per_s)
        degrees["neck01"] = np.array([0.0, 0.0, lead])
        yaw = math.radians(motion.turn_deg_per_s * t)
    else:
        if motion.pose not in poses:
            raise SimgenError(f"unknown pose {motion.pose!r}: use one of {', '.join(poses)}")
        degrees = {b: v.copy() for b, v in poses[motion.pose].items()}
    return MotionFrame(as_pose(clamp(degrees)), float(advance), float(yaw))
