"""People who move through a sequence (people.motion, issue 77 item 3): each person
:func:`simgen.sampling.people.with_people` placed does what is drawn for it (still, walk, wave, turn:
:mod:`simgen.people.motion`; bvh: people.bvh's clip retargeted to its body, :func:`draw_bvh`), its
body posed at every step and moved along its path, with the exact labels of a surface that bends.

Applied after with_people to a sequence's steps (sequence.length > 1; a single frame holds still).
Everything is drawn on a stream of its own (:data:`MOTION_STREAM`): motion changes no other draw, and
people.motion=[still] (the default) draws nothing and changes nothing. Per person, in the order they were
placed: its kind (one of the allowed, uniformly; one allowed kind draws nothing), then that kind's own
draws (:func:`draw_motion`). At step k (``k / STEPS_PER_SECOND`` seconds) its mesh is
``PersonMesh(params at the motion's pose, look, step=k)`` (a surface that bends:
:func:`simgen.scene.meshes.deforms`) and its pose the placed one moved by the motion's advance along
the direction it faces and turned by its yaw (:func:`step_pose`); the body frame puts the soles at
z = 0 at every pose, so its feet stay on the floor at every step.

A person never walks (or swings an arm) into an object, another person, the camera or off the floor:
its box is checked at every step against the step's objects, the people decided before it and the
floor's sides (:func:`clash`). It first faces the way it was placed; where that path meets something it
turns about its vertical axis to the first of :data:`HEADINGS_DEG` that stays clear (the record's
``heading_turn_deg``); where none does it takes the one that goes farthest and stops at the step before
it would meet something (it holds that step's pose and place for the rest of the sequence: the
record's ``stopped_at_step`` and ``stopped_by``), and one that would meet something at its first step
whichever way it faces holds still as placed (``held_by``). Each step's ``params.people`` record is that step's body (``params``, ``key``,
``mesh_to_world``, ``height``) and a ``motion`` record: the draws, and where it stopped and why.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from simgen.errors import SimgenError
from simgen.scene.data import Scene, SceneObject
from simgen.scene.meshes import PersonMesh
from simgen.scene.transforms import rigid, rot_z

MOTION_STREAM = 0x50504D
"""The people's motion draws' stream (:func:`simgen.sampling.random.stream_rng`): motion changes no other draw."""

KINDS = ("still", "walk", "wave", "turn", "bvh")
"""What a person may do through a sequence (:mod:`simgen.people.motion`'s kinds)."""

STEPS_PER_SECOND = 24.0
"""A sequence's steps a second (as a cloth's simulation and MOT's frame rate take them)."""

WALK_FROUDE_SPEED = (0.3, 0.5)
"""A walker's speed as a fraction of sqrt(g * leg length), drawn uniformly: people of every size walk at
a like dimensionless speed (0.9 m legs: 0.89 to 1.49 m/s; a child's 0.5 m legs: 0.66 to 1.1 m/s)."""
WALK_SWING_DEG = (15.0, 25.0)
"""A walker's hip swing either way (degrees), drawn uniformly; with its speed it sets the stride's period."""
WAVE_PERIOD_S = (0.8, 1.4)
"""A wave's period (seconds: the hand side to side and back), drawn uniformly."""
WAVE_SWING_DEG = (10.0, 25.0)
"""A wave's forearm swing either way (degrees), drawn uniformly."""
TURN_DEG_PER_S = (30.0, 90.0)
"""A turner's rate (degrees a second), drawn uniformly, to its left or right with even chance."""
GRAVITY = 9.81
HEADINGS_DEG = (0.0, 180.0, 90.0, -90.0, 45.0, -45.0, 135.0, -135.0)
"""Turns (degrees, + to its left) from the way a person was placed facing that a moving person tries, in
this order, until one keeps it clear at every step (:func:`clash`); none: the one that goes farthest."""


def check_kinds(kinds) -> tuple[str, ...]:
    """``kinds`` as a tuple of :data:`KINDS`, or a one-line SimgenError naming the one that is not."""
    kinds = tuple(str(k) for k in kinds)
    if not kinds:
        raise SimgenError(f"people.motion=[]: name what people do, one or more of {', '.join(KINDS)}")
    for k in kinds:
        if k not in KINDS:
            raise SimgenError(f"people.motion: {k!r} is no motion; use one or more of {', '.join(KINDS)}")
    return kinds


def leg_length(params, library=None) -> float:
    """The hip height (m) of the body of ``params`` at rest: the higher upper leg's head above the soles."""
    from simgen.people.body import PersonParams, body

    b = body(PersonParams(phenotype=params.phenotype), library)
    return float(max(b.joints[b.joint_names.index(f"upperleg01.{s}"), 2] for s in "LR"))


def draw_bvh(path, joints, params, rng: np.random.Generator, steps: int, library=None):
    """people.motion's bvh for the body of ``params``: people.bvh's clip (``path``, its joints mapped by
    ``joints``) from a start drawn uniformly where the sequence's ``steps`` fit in the clip (0 when they
    do not: it holds its last frame), and its record."""
    from simgen.people.motion import BvhMotion, retarget_of

    if not path:
        raise SimgenError("people.motion=[bvh] needs a motion file: set people.bvh=PATH (a .bvh file)")
    motion = BvhMotion(str(path), 0.0, tuple(sorted((str(k), str(v)) for k, v in dict(joints or {}).items())),
                       tuple(params.phenotype), None if library is None else str(library))
    rt = retarget_of(motion)
    room = max(0.0, rt.clip.duration - (steps - 1) / STEPS_PER_SECOND)
    start = float(rng.uniform(0.0, room)) if room > 0 else 0.0
    motion = dataclasses.replace(motion, start_s=start)
    return motion, {"kind": "bvh", "file": str(path), "start_s": start, "frame_time_s": rt.clip.frame_time,
                    "frames": rt.clip.frames, "scale": rt.scale,
                    "joints": {rt.clip.names[j]: b for j, b in rt.bones.items()}}


def draw_motion(kind: str, params, rng: np.random.Generator, library=None):
    """The :class:`simgen.people.motion.Motion` of ``kind`` for the body of ``params``, drawn from ``rng``,
    and its record. walk: a speed (:data:`WALK_FROUDE_SPEED` of sqrt(g * the body's leg length)) and a hip
    swing (:data:`WALK_SWING_DEG`), which give its period (a stride of 4 * leg * sin(swing)), and a phase;
    wave: a period, a swing and a phase; turn: a rate and its side; still: nothing drawn."""
    from simgen.people.motion import Motion

    if kind == "still":
        return None, {"kind": "still"}
    if kind == "walk":
        leg = leg_length(params, library)
        speed = float(rng.uniform(*WALK_FROUDE_SPEED)) * math.sqrt(GRAVITY * leg)
        swing = float(rng.uniform(*WALK_SWING_DEG))
        stride = 4.0 * leg * math.sin(math.radians(swing))
        motion = Motion("walk", period_s=stride / speed, amplitude_deg=swing, leg_length_m=leg,
                        phase=float(rng.uniform()))
        return motion, {"kind": "walk", "speed_m_s": speed, "swing_deg": swing, "leg_length_m": leg,
                        "period_s": motion.period_s, "phase": motion.phase}
    if kind == "wave":
        period, swing = float(rng.uniform(*WAVE_PERIOD_S)), float(rng.uniform(*WAVE_SWING_DEG))
        motion = Motion("wave", period_s=period, amplitude_deg=swing, phase=float(rng.uniform()))
        return motion, {"kind": "wave", "period_s": period, "swing_deg": swing, "phase": motion.phase}
    rate = float(rng.uniform(*TURN_DEG_PER_S)) * (1.0 if rng.uniform() < 0.5 else -1.0)
    return Motion("turn", turn_deg_per_s=rate), {"kind": "turn", "turn_deg_per_s": rate}


def step_pose(placed: np.ndarray, advance_m: float, yaw_rad: float, side_m: float = 0.0) -> np.ndarray:
    """The mesh_to_world of a person placed at ``placed`` (its first step's) once it has advanced
    ``advance_m`` along the direction it faces (the body frame's -Y) and turned ``yaw_rad`` about its
    vertical axis (+: to its left), and stepped ``side_m`` to its left (+X; a BVH's path)."""
    return np.asarray(placed, float) @ rigid(rot_z(yaw_rad), [side_m, -advance_m, 0.0])


def _box(vertices: np.ndarray, mesh_to_world: np.ndarray) -> np.ndarray:
    w = np.asarray(vertices, float) @ mesh_to_world[:3, :3].T + mesh_to_world[:3, 3]
    return np.stack([w.min(axis=0), w.max(axis=0)])


def _hull(vertices: np.ndarray) -> np.ndarray:
    """The corners of ``vertices``' convex hull: any rigid motion of them has the box of all of them."""
    from scipy.spatial import ConvexHull

    return np.asarray(vertices)[ConvexHull(vertices).vertices]


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a[0] < b[1]) and np.all(b[0] < a[1]))


def clash(box: np.ndarray, scene: Scene, others: dict[str, np.ndarray], floor: np.ndarray | None) -> str | None:
    """What a person whose world box is ``box`` meets in ``scene`` (a step): the floor's side
    (``floor``: its world box, None in the air), the camera (within
    :data:`simgen.sampling.people.CAMERA_CLEARANCE` of its box), or one of ``others`` (name -> world
    box: the step's objects and the other people); None: nothing."""
    from simgen.sampling.people import CAMERA_CLEARANCE

    if floor is not None and (np.any(box[0, :2] < floor[0, :2]) or np.any(box[1, :2] > floor[1, :2])):
        return "the floor's edge"
    w2c = np.asarray(scene.camera.world_to_camera, float)
    eye = -w2c[:3, :3].T @ w2c[:3, 3]
    if np.all(eye > box[0] - CAMERA_CLEARANCE) and np.all(eye < box[1] + CAMERA_CLEARANCE):
        return "the camera"
    for name, b in others.items():
        if _overlap(box, b):
            return name
    return None


def _object_boxes(scene: Scene, skip: set[str], people: set[int]) -> dict[str, np.ndarray]:
    """The world boxes of ``scene``'s objects a person may meet, by name: all but the ground, the floor
    (named in ``skip``) and the people (instance ids ``people``)."""
    from simgen.assets.meshes import load_mesh

    return {o.name: _box(load_mesh(o.mesh).vertices, o.mesh_to_world) for o in scene.objects
            if o.role != "ground" and o.name not in skip and o.instance_id not in people}


def with_motion(scenes: list[Scene], settings, rng: np.random.Generator, kinds=None) -> list[Scene]:
    """``scenes`` (a sequence's steps) with each person placed by with_people doing what is drawn for it
    from ``kinds`` (default: ``settings.people.motion``; the module docstring says how). A single
    frame, no people or only ``still`` allowed: ``scenes`` as they are, nothing drawn."""
    kinds = check_kinds(settings.people.motion if kinds is None else kinds)
    if settings.sequence.length <= 1 or len(scenes) <= 1 or kinds == ("still",):
        return scenes
    records = scenes[0].params.get("people") or []
    placed = [r for r in records if r.get("placed")]
    if not placed:
        return scenes
    from simgen.people.body import PersonParams, body
    from simgen.people.motion import pose_at
    from simgen.sampling.people import _one_thread, floor_of
    from simgen.sampling.random import choose

    _one_thread()
    n = len(scenes)
    ids = {r["instance_id"] for r in placed}
    found = floor_of(scenes[0])
    floor, skip = (found[0], {found[1].name}) if found is not None else (None, set())
    objects = [_object_boxes(s, skip, ids) for s in scenes]
    person: dict[int, SceneObject] = {o.instance_id: o for o in scenes[0].objects if o.instance_id in ids}
    # each person's world box at every step: as placed until its own motion is decided
    boxes = {i: [_box(body(o.mesh.params, getattr(o.mesh, "library", None)).vertices, o.mesh_to_world)] * n
             for i, o in person.items()}
    steps: dict[int, list[tuple[PersonMesh, np.ndarray, float]]] = {}  # id -> (mesh, mesh_to_world, height) a step
    motions: dict[int, dict] = {}
    for r in placed:
        i, o = r["instance_id"], person[r["instance_id"]]
        library = getattr(o.mesh, "library", None)
        kind = choose(rng, kinds)
        if kind == "bvh":
            motion, record = draw_bvh(settings.people.bvh, settings.people.bvh_joints, o.mesh.params, rng, n, library)
        else:
            motion, record = draw_motion(kind, o.mesh.params, rng, library)
        if motion is None:
            motions[i] = record
            continue
        frames = [pose_at(motion, k / STEPS_PER_SECOND) for k in range(n)]
        bodies = [PersonParams(phenotype=o.mesh.params.phenotype, pose=f.pose) for f in frames]
        hulls = [_hull(body(b, library).vertices) for b in bodies]  # a turned body's box is its hull's
        path, stop, heading = [], None, 0.0
        for turn in HEADINGS_DEG:  # the first heading clear at every step, else the one that goes farthest
            start = np.asarray(o.mesh_to_world, float) @ rigid(rot_z(math.radians(turn)), [0.0, 0.0, 0.0])
            tried, met = [], None
            for k, (frame, params) in enumerate(zip(frames, bodies)):
                pose = step_pose(start, frame.advance_m, frame.yaw_rad, frame.side_m)
                box = _box(hulls[k], pose)
                others = {**objects[k], **{f"person {j}": b[k] for j, b in boxes.items() if j != i}}
                met = clash(box, scenes[k], others, floor)
                if met is not None:
                    break
                tried.append((dataclasses.replace(o.mesh, params=params, step=k), pose, box))
            if len(tried) > len(path) or turn == HEADINGS_DEG[0]:
                path, stop, heading = tried, met, turn
            if met is None:
                break
        if heading:
            record["heading_turn_deg"] = heading
        record["steps_per_second"] = STEPS_PER_SECOND
        if not path:  # its first step's pose would meet something: it holds still as placed
            motions[i] = {"kind": "still", "drawn": record, "held_by": stop}
            continue
        if stop is not None:  # it stops where it last was clear
            record.update(stopped_at_step=len(path) - 1, stopped_by=stop)
        last = path[-1]
        path += [(dataclasses.replace(last[0], step=k), last[1], last[2]) for k in range(len(path), n)]
        steps[i] = [(mesh, pose, float(box[1, 2] - box[0, 2])) for mesh, pose, box in path]
        boxes[i] = [box for _, _, box in path]
        motions[i] = record
    out = []
    for k, scene in enumerate(scenes):
        objects_k = [dataclasses.replace(o, mesh=steps[o.instance_id][k][0], mesh_to_world=steps[o.instance_id][k][1])
                     if o.instance_id in steps else o for o in scene.objects]
        people = []
        for r in scene.params.get("people", []):
            if r.get("placed") and r["instance_id"] in motions:
                r = {**r, "motion": motions[r["instance_id"]]}
                if r["instance_id"] in steps:
                    mesh, pose, height = steps[r["instance_id"]][k]
                    r.update(key=mesh.stem, params=mesh.params.to_json(), mesh_to_world=pose.tolist(), height=height)
            people.append(r)
        out.append(dataclasses.replace(scene, objects=objects_k, params={**scene.params, "people": people}))
    return out
