"""The scene between a sequence's steps, for the sensors that read time within a step (the rolling
shutter's rows, the event camera's sub-steps, the LiDAR's sectors): pure, no Blender.

Time is counted in steps: step k of a sequence is at time k (``k / sequence.fps`` seconds). Between
steps k and k + 1 every rigid part (each object, light and the camera; a stereo rig as one) moves along
:func:`interpolate_pose` of its two poses; after the sequence's last step the last interval's motion goes
on (:func:`scene_at` takes any time from 0 on: a LiDAR's turn or a rolling shutter's last rows may run
more than one step past the last). Everything but the poses must be the same at both steps
(:func:`check_steps`): a part that bends (a person, a cloth, a moving joint), objects or lights that come,
go or change (a light's power, colour or size), the world, the rig or the camera's intrinsics changing
are refused in one line naming the setting of the sensor that asked, since simgen defines no in-between
for them and the meta's single camera and lights would not hold for the in-between renders.
"""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any, Sequence

import numpy as np

from simgen.errors import SimgenError
from simgen.scene.data import Scene


def _split(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rotation, stretch, translation) of an affine 4x4 ``m``: its 3x3 part is rotation @ stretch
    (polar decomposition; stretch symmetric, positive definite for a pose without mirroring)."""
    a = np.asarray(m, dtype=np.float64)[:3, :3]
    u, s, vt = np.linalg.svd(a)
    if np.linalg.det(u @ vt) < 0:  # a mirroring pose: the mirror stays in the stretch
        u[:, -1] = -u[:, -1]
        s = s.copy()
        s[-1] = -s[-1]
    return u @ vt, vt.T @ np.diag(s) @ vt, np.asarray(m, dtype=np.float64)[:3, 3]


def interpolate_pose(a: np.ndarray, b: np.ndarray, s: float) -> np.ndarray:
    """The 4x4 pose a fraction ``s`` of the way from ``a`` to ``b`` (s beyond 1 goes on as the last
    interval moved): translation and stretch linear, rotation at a constant rate about one axis (the
    shorter way). ``s`` 0 gives ``a`` and 1 gives ``b`` to rounding; a pose that does not move is ``a``."""
    if np.array_equal(a, b):
        return np.array(a, dtype=np.float64)
    ra, sa, ta = _split(a)
    rb, sb, tb = _split(b)
    from scipy.spatial.transform import Rotation  # here: ~0.15 s to import, and every composition imports this module

    rel = Rotation.from_matrix(ra.T @ rb).as_rotvec()
    r = ra @ Rotation.from_rotvec(rel * s).as_matrix()
    out = np.eye(4)
    out[:3, :3] = r @ (sa + s * (sb - sa))
    out[:3, 3] = ta + s * (tb - ta)
    return out


def _same_but(x: Any, y: Any, pose: str) -> bool:
    """Whether ``x`` and ``y`` (dataclasses) are equal in everything but their field ``pose``."""
    try:
        return pickle.dumps(dataclasses.replace(x, **{pose: np.eye(4)}), protocol=5) == \
            pickle.dumps(dataclasses.replace(y, **{pose: np.eye(4)}), protocol=5)
    except Exception:  # noqa: BLE001 - something that does not pickle is taken as changed
        return False


def _w2c(c2w: np.ndarray) -> np.ndarray:
    return np.linalg.inv(np.asarray(c2w, np.float64))


def _rig(scene: Scene) -> np.ndarray:
    """The right camera's pose in the left camera's frame (camera to camera, OpenCV axes)."""
    return np.asarray(scene.camera.world_to_camera, np.float64) @ _w2c(scene.right.world_to_camera)


def check_steps(a: Scene, b: Scene, k: int, setting: str, off: str) -> None:
    """Refuse, in one line, steps ``k`` (``a``) and ``k + 1`` (``b``) where they differ in more than poses;
    ``setting`` names the sensor's setting that asked for the in-between scenes and ``setting=off`` turns
    it off (e.g. ``"sensor.rolling_shutter_ms", "0"``)."""
    fix = f"set {setting}={off}"
    where = f"between steps {k} and {k + 1}"
    if len(a.objects) != len(b.objects) or len(a.lights) != len(b.lights):
        raise SimgenError(f"{setting}: steps {k} and {k + 1} hold different objects or lights; the scene between "
                          f"steps needs the same parts at every step, moving rigidly: {fix}")
    for x, y in zip(a.objects, b.objects):
        if not _same_but(x, y, "mesh_to_world"):
            raise SimgenError(f"{setting}: {x.name or 'an object'} changes more than its pose {where} (a person, a "
                              "cloth or a moving joint bends); simgen moves rigid parts only between steps: leave "
                              f"such parts out or {fix}")
    for x, y in zip(a.lights, b.lights):
        if not _same_but(x, y, "light_to_world"):
            raise SimgenError(f"{setting}: a light changes more than its pose {where} (its power, colour or size); "
                              f"keep the lights of a sequence fixed or {fix}")
    if not _same_but(a.camera, b.camera, "world_to_camera"):
        raise SimgenError(f"{setting}: the camera changes more than its pose {where} (its intrinsics, exposure or "
                          f"lens); keep them fixed through a sequence or {fix}")
    rig_changes = (a.right is None) != (b.right is None) or (
        a.right is not None and not (_same_but(a.right, b.right, "world_to_camera")
                                     and np.allclose(_rig(a), _rig(b), atol=1e-9)))
    if pickle.dumps(a.world, protocol=5) != pickle.dumps(b.world, protocol=5) or rig_changes:
        raise SimgenError(f"{setting}: the world or the camera rig changes {where}; use one world and one rig, "
                          f"or {fix}")


def scene_at(scenes: Sequence[Scene], time: float, setting: str, off: str, checked: bool = False) -> Scene:
    """The sequence ``scenes`` (its steps 0..L-1, L >= 2) at ``time`` steps (any time from 0): step
    floor(time)'s scene with every object's, light's and the camera's pose :func:`interpolate_pose`'d
    towards the next step's; past the last step the last interval's motion goes on (extrapolated at the
    same velocity and rate of turn, however far). A step's own time gives the step as drawn. The pair of
    steps is refused by :func:`check_steps` (``setting``, ``off``) unless ``checked`` (the caller has
    checked it already)."""
    length = len(scenes)
    if length < 2:
        raise SimgenError(f"{setting} needs a sequence of two steps or more: set sequence.length=2 or more, "
                          f"or {setting}={off}")
    if time < 0:
        raise ValueError(f"time {time} is before the sequence's first step")
    if float(time).is_integer() and time < length:  # a step's own time: the step as drawn
        return scenes[int(time)]
    k = min(int(np.floor(time)), length - 2)
    s = float(time - k)
    a, b = scenes[k], scenes[k + 1]
    if not checked:
        check_steps(a, b, k, setting, off)
    c2w = interpolate_pose(_w2c(a.camera.world_to_camera), _w2c(b.camera.world_to_camera), s)
    right = None
    if a.right is not None:  # the rig moves as one: the right camera keeps its place beside the left
        right = dataclasses.replace(a.right, world_to_camera=_w2c(c2w @ _rig(a)))
    objects = [dataclasses.replace(x, mesh_to_world=interpolate_pose(x.mesh_to_world, y.mesh_to_world, s))
               for x, y in zip(a.objects, b.objects)]
    lights = [dataclasses.replace(x, light_to_world=interpolate_pose(x.light_to_world, y.light_to_world, s))
              for x, y in zip(a.lights, b.lights)]
    return dataclasses.replace(a, objects=objects, lights=lights, right=right,
                               camera=dataclasses.replace(a.camera, world_to_camera=_w2c(c2w)))
