"""People in a scene (objects.people, issue 77): drawn on the pure side after the recipe, each a body of
:mod:`simgen.people` (a :class:`~simgen.scene.meshes.PersonMesh`), dressed, standing on the floor where
the scene's camera sees it, clear of every other object.

Everything is drawn from the people stream (:data:`PEOPLE_STREAM`), so people change no other draw of
the scene: objects.people=[0,0] (the default) draws nothing at all. The people group
(:class:`simgen.config.people.PeopleConfig`) says who they are. Per person, in turn: its phenotype
(:func:`simgen.people.shape.draw_phenotype`: people.age_years, people.gender, the spreads; Anny's
WHO-calibrated builds), its posture (people.postures: standing; lying, laid on the floor by :func:`laid`;
sitting on the floor, :func:`draw_floor_sit`; at bin_picking's cell a worker reaching onto the table,
:func:`draw_worker_pose`), its pose (one of people.poses, jittered within the joint limits: with
people.self_intersection :func:`simgen.people.poses.draw_free_pose`, redrawn or repaired until it crosses
itself nowhere; else :func:`simgen.people.poses.draw_named_pose`), its sleeves and legs (people.sleeves,
people.legs), its look (:func:`draw_look`: a skin tone and a material for each piece of clothing) and its
place (:func:`stand`; in the air :func:`fly`; at bin_picking's cell :func:`at_cell`). ``params["people"]`` holds a record a person with every draw. Bodies are made from
people.library (None: $SIMGEN_PEOPLE_LIBRARY, else the default library), which each PersonMesh carries,
so every process that builds the body (the renderer, the keypoint labels) reads the same library. With
scene.placement=physics each person is a static collider of the settle (:func:`_with_colliders`).
"""

from __future__ import annotations

import colorsys
import dataclasses
import logging
import os
from pathlib import Path

import numpy as np

from simgen.assets.appearance import SurfaceMaterial
from simgen.color.tone import srgb_to_linear
from simgen.errors import SimgenError
from simgen.sampling.materials import sample_material
from simgen.sampling.random import integer, uniform
from simgen.scene.data import MAX_INSTANCE_ID, Material, Scene, SceneObject
from simgen.scene.meshes import PersonMesh
from simgen.scene.transforms import rigid, rot_z

log = logging.getLogger(__name__)

PEOPLE_STREAM = 0x50504C
"""The people draws' stream (:func:`simgen.sampling.random.stream_rng`): people change no other draw."""

SKIN_TONES_SRGB = ("#f6ede4", "#f3e7db", "#f7ead0", "#eadaba", "#d7bd96",
                   "#a07e56", "#825c43", "#604134", "#3a312a", "#292420")
"""The ten tones of the Monk Skin Tone Scale (Ellis Monk, Google, 2022; skintone.google, released under
CC BY 4.0), light to dark, as sRGB: a skin's base colour is one of them, drawn uniformly, jittered
(:data:`SKIN_JITTER`)."""

SKIN_JITTER = {"hue": 0.015, "saturation": 0.1, "value": 0.08}
"""A skin tone's jitter in HSV: hue +- this (of a turn), saturation and value times 1 +- this."""
SKIN_ROUGHNESS = (0.35, 0.55)
"""A skin's roughness, drawn uniformly (Anny's own skin settings use 0.45)."""
SKIN_SUBSURFACE = (0.3, 0.8)
"""A skin's Principled subsurface weight, drawn uniformly."""
SKIN_SUBSURFACE_SCALE = 0.005
"""How far (m) light travels under skin (Principled Subsurface Scale)."""


MAX_TRIES = 200
"""Places tried for a person before it is left out (recorded)."""
CAMERA_CLEARANCE = 0.3
"""A person's box keeps at least this far (m) from the camera's centre."""
FOOT_SPREAD = 0.5
"""A person's feet are drawn where the ray through a point drawn uniformly in the image, widened by this
fraction of its width and height on every side, meets the floor (a person beside the view may show)."""
AXIS_POINTS = (0.1, 0.3, 0.5, 0.7, 0.9)
"""Points up a standing person's axis (fractions of its height above its feet) that tell whether the camera
sees it."""
MIN_IN_VIEW = 3
"""The least of :data:`AXIS_POINTS` that project into the image."""
MAX_DISTANCE = 12.0
"""The farthest (m) a person's feet are from the camera."""


def _hex(text: str) -> tuple[float, float, float]:
    return tuple(int(text[k:k + 2], 16) / 255.0 for k in (1, 3, 5))


def draw_skin(rng: np.random.Generator, tones=None) -> tuple[SurfaceMaterial, dict]:
    """A skin: a tone of :data:`SKIN_TONES_SRGB` drawn uniformly from ``tones`` (Monk numbers 1..10;
    None: every tone, the same draw as ``tones=range(1, 11)``), jittered in HSV, a roughness and a
    subsurface weight; and its record."""
    tones = tuple(range(1, len(SKIN_TONES_SRGB) + 1)) if tones is None else tuple(int(t) for t in tones)
    tone = tones[int(rng.integers(len(tones)))] - 1
    h, s, v = colorsys.rgb_to_hsv(*_hex(SKIN_TONES_SRGB[tone]))
    j = SKIN_JITTER
    h = (h + rng.uniform(-j["hue"], j["hue"])) % 1.0
    s = min(max(s * (1.0 + rng.uniform(-j["saturation"], j["saturation"])), 0.0), 1.0)
    v = min(max(v * (1.0 + rng.uniform(-j["value"], j["value"])), 0.0), 1.0)
    srgb = colorsys.hsv_to_rgb(h, s, v)
    linear = tuple(float(c) for c in srgb_to_linear(np.array(srgb)))
    roughness, subsurface = uniform(rng, SKIN_ROUGHNESS), uniform(rng, SKIN_SUBSURFACE)
    skin = SurfaceMaterial(name="skin", base_color=linear, roughness=roughness, subsurface=subsurface,
                           subsurface_scale=SKIN_SUBSURFACE_SCALE)
    return skin, {"tone": tone + 1, "tone_srgb": SKIN_TONES_SRGB[tone], "srgb": [float(c) for c in srgb],
                  "linear_rgb": list(linear), "roughness": roughness, "subsurface": subsurface,
                  "subsurface_scale": SKIN_SUBSURFACE_SCALE}


def draw_look(materials, rng: np.random.Generator, skin_tones=None) -> tuple[tuple[SurfaceMaterial, ...], dict]:
    """A material for each region of :data:`simgen.people.body.REGIONS`: the skin (:func:`draw_skin`, its
    tone one of ``skin_tones``: people.skin_tones) and
    each piece of clothing from the materials group (:func:`simgen.sampling.materials.sample_material`,
    untextured: a mesh's own materials carry no procedural texture; its transmission is not used); and
    their record."""
    from simgen.people.body import REGIONS

    look, record = [], {}
    for region in REGIONS:
        if region == "skin":
            m, record["skin"] = draw_skin(rng, skin_tones)
        else:
            drawn: Material = sample_material(materials, rng, texture=False)
            m = SurfaceMaterial(name=region, base_color=tuple(drawn.base_color), roughness=drawn.roughness,
                                metallic=drawn.metallic, specular=drawn.specular)
            record[region] = {"base_color": list(m.base_color), "roughness": m.roughness, "metallic": m.metallic,
                              "specular": m.specular}
        look.append(m)
    return tuple(look), record


def _world_box(o: SceneObject) -> np.ndarray:
    """(2, 3): the lowest and highest corner of ``o``'s mesh in the world."""
    from simgen.assets.meshes import load_mesh

    v = np.asarray(load_mesh(o.mesh).vertices, float) @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3]
    return np.stack([v.min(axis=0), v.max(axis=0)])


MIN_FLOOR_AREA = 2.0
"""m^2: the least level, upward-facing area of an environment file's part that is a floor people stand on."""


def _level_top(o: SceneObject) -> tuple[float, np.ndarray] | None:
    """(area, box) of the level, upward-facing triangles of ``o``'s mesh in the world (their box:
    (2, 3)); None if it has none."""
    from simgen.assets.meshes import load_mesh

    m = load_mesh(o.mesh)
    v = np.asarray(m.vertices, float) @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3]
    tri = v[np.asarray(m.faces)]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = np.linalg.norm(n, axis=1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        level = (area > 0) & (n[:, 2] / np.maximum(2 * area, 1e-300) > 0.999)
    if not level.any():
        return None
    top = tri[level].reshape(-1, 3)
    return float(area[level].sum()), np.stack([top.min(axis=0), top.max(axis=0)])


def floor_of(scene: Scene) -> tuple[np.ndarray, SceneObject] | None:
    """The scene's floor, as (its world box ((2, 3): lowest, highest corner; people stand at its top),
    the object it is): the ground where it lies flat (its up is the world's: tabletop), else the part of
    an environment file with the largest level, upward-facing area (at least :data:`MIN_FLOOR_AREA`;
    the box of that area); else None (a scene without a floor to stand on: flying's background faces
    the camera, bin_picking's bin stands on a table)."""
    for o in scene.objects:
        if o.role == "ground":
            up = o.mesh_to_world[:3, :3] @ [0.0, 0.0, 1.0]
            if np.linalg.norm(up) > 0 and np.allclose(up / np.linalg.norm(up), [0, 0, 1], atol=1e-6):
                return _world_box(o), o
    levels = [(top, o) for o in scene.objects if o.role == "environment" for top in [_level_top(o)] if top]
    levels = [(area, box, o) for (area, box), o in levels if area >= MIN_FLOOR_AREA]
    if not levels:
        return None
    _, box, o = max(levels, key=lambda x: (x[0], -x[1][1, 2]))
    return box, o


def _in_image(points: np.ndarray, cam, K: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Which of the world ``points`` ((N, 3)) lie in front of the camera ``cam`` (world to camera ``R``,
    ``t``; intrinsics ``K``) and project inside its image (pixel centres 0 .. width-1, 0 .. height-1)."""
    c = points @ R.T + t
    px = c[:, :2] / np.maximum(c[:, 2:], 1e-9) * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
    return (c[:, 2] > cam.clip_start) & (px[:, 0] >= 0) & (px[:, 0] <= cam.width - 1) & (px[:, 1] >= 0) \
        & (px[:, 1] <= cam.height - 1)


def _crosses(a: np.ndarray, b: np.ndarray, box: np.ndarray) -> bool:
    """Whether the segment from ``a`` to ``b`` passes through ``box`` ((2, 3): lowest, highest corner)."""
    d = b - a
    lo, hi = 0.0, 1.0
    for k in range(3):
        if abs(d[k]) < 1e-12:
            if not box[0, k] <= a[k] <= box[1, k]:
                return False
            continue
        t0, t1 = sorted(((box[0, k] - a[k]) / d[k], (box[1, k] - a[k]) / d[k]))
        lo, hi = max(lo, t0), min(hi, t1)
        if lo > hi:
            return False
    return True


def stand(vertices: np.ndarray, scene: Scene, floor: np.ndarray, boxes: list[np.ndarray],
          rng: np.random.Generator, sights: list[np.ndarray] = ()) -> tuple[np.ndarray, dict] | None:
    """A pose for a body (``vertices`` in its body frame: soles at z = 0) standing on the floor
    (``floor``: its world box, (2, 3); the soles at its top): a turn about the vertical drawn uniformly,
    its feet where the ray through a point drawn in and around the image (:data:`FOOT_SPREAD`) meets the
    floor, the body's world box inside the floor's sides, overlapping none of ``boxes`` (the other
    objects', each (2, 3)) and keeping :data:`CAMERA_CLEARANCE` from the camera, at least
    :data:`MIN_IN_VIEW` of the points up its axis (:data:`AXIS_POINTS`) in the image, and the sight line
    from the camera to the middle one of those through none of ``boxes`` (the camera sees it), nor its box across any of ``sights`` (the
    points the camera sees the people placed before it by: it hides none of them). None after
    :data:`MAX_TRIES` draws."""
    cam = scene.camera
    K, w2c = np.asarray(cam.K, float), np.asarray(cam.world_to_camera, float)
    R, t = w2c[:3, :3], w2c[:3, 3]
    eye = -R.T @ t
    for _ in range(MAX_TRIES):
        yaw = rng.uniform(0.0, 2.0 * np.pi)
        u = rng.uniform(-FOOT_SPREAD, 1.0 + FOOT_SPREAD) * (cam.width - 1.0)
        v = rng.uniform(-FOOT_SPREAD, 1.0 + FOOT_SPREAD) * (cam.height - 1.0)
        d = R.T @ np.array([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], 1.0])
        if d[2] >= -1e-9:
            continue  # the ray never comes down to the floor
        s = (floor[1, 2] - eye[2]) / d[2]
        foot = eye + s * d
        if s <= 0 or np.linalg.norm(foot - eye) > MAX_DISTANCE:
            continue
        pose = rigid(rot_z(yaw), [foot[0], foot[1], floor[1, 2]])
        w = vertices @ pose[:3, :3].T + pose[:3, 3]
        box = np.stack([w.min(axis=0), w.max(axis=0)])
        if np.any(box[0, :2] < floor[0, :2]) or np.any(box[1, :2] > floor[1, :2]):
            continue  # off the floor's edge
        if np.all(eye > box[0] - CAMERA_CLEARANCE) and np.all(eye < box[1] + CAMERA_CLEARANCE):
            continue
        if any(np.all(box[0] < b[1]) and np.all(b[0] < box[1]) for b in boxes):
            continue
        axis = np.array([[foot[0], foot[1], floor[1, 2] + f * (box[1, 2] - box[0, 2])] for f in AXIS_POINTS])
        inside = _in_image(axis, cam, K, R, t)
        if inside.sum() < MIN_IN_VIEW:
            continue
        seen = axis[np.flatnonzero(inside)[inside.sum() // 2]]
        if any(_crosses(eye, seen, b) for b in boxes):
            continue  # hidden behind something (a wall, the table)
        if any(_crosses(eye, p, box) for p in sights):
            continue  # it would hide a person placed before it
        return pose, {"yaw_deg": float(np.degrees(yaw)), "foot_pixel": [float(u), float(v)], "seen": seen.tolist(),
                      "distance": float(np.linalg.norm(foot - eye)), "in_view": int(inside.sum())}
    return None


AIR_DEPTH = (2.0, 6.0)
"""In a scene without a floor (flying): metres along the optical axis a person's centre is drawn at
(uniform in the view frustum's volume between them), unless the recipe has its own scene.depth."""


def fly(vertices: np.ndarray, scene: Scene, boxes: list[np.ndarray], rng: np.random.Generator,
        depth_range=AIR_DEPTH) -> tuple[np.ndarray, dict] | None:
    """A pose for a body in the air (a scene without a floor: flying's objects tumble in front of a
    background): an orientation uniform over all turns, its box's centre at a pixel drawn in the image
    at a depth drawn uniformly in the view frustum's volume within ``depth_range``, its world box
    overlapping none of ``boxes`` and keeping :data:`CAMERA_CLEARANCE` from the camera. None after
    :data:`MAX_TRIES` draws."""
    from simgen.sampling.random import random_rotation

    cam = scene.camera
    K, w2c = np.asarray(cam.K, float), np.asarray(cam.world_to_camera, float)
    R, t = w2c[:3, :3], w2c[:3, 3]
    eye = -R.T @ t
    middle = (vertices.min(axis=0) + vertices.max(axis=0)) / 2
    near, far = depth_range
    for _ in range(MAX_TRIES):
        turn = random_rotation(rng)
        u, v = rng.uniform(0.0, cam.width - 1.0), rng.uniform(0.0, cam.height - 1.0)
        depth = float(np.cbrt(near ** 3 + rng.uniform() * (far ** 3 - near ** 3)))
        centre = R.T @ (depth * np.array([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], 1.0]) - t)
        pose = rigid(turn, centre - turn @ middle)
        w = vertices @ pose[:3, :3].T + pose[:3, 3]
        box = np.stack([w.min(axis=0), w.max(axis=0)])
        if np.all(eye > box[0] - CAMERA_CLEARANCE) and np.all(eye < box[1] + CAMERA_CLEARANCE):
            continue
        if any(np.all(box[0] < b[1]) and np.all(b[0] < box[1]) for b in boxes):
            continue
        return pose, {"pixel": [float(u), float(v)], "depth": depth, "seen": centre.tolist()}
    return None


WORKER_POSE = {"upperarm01.L": (-65.0, 25.0, 0.0), "upperarm01.R": (-65.0, -25.0, 0.0),
               "lowerarm01.L": (-30.0, 0.0, 0.0), "lowerarm01.R": (-30.0, 0.0, 0.0),
               "spine01": (10.0, 0.0, 0.0), "spine02": (10.0, 0.0, 0.0), "spine03": (10.0, 0.0, 0.0)}
"""A worker at bin_picking's cell (degrees, Anny's local-ref axes as assets/people/poses.yaml): leaning
forward 30 degrees, both arms reaching forward and down, elbows a little bent, so the hands come over the
table in front of the body (an adult's wrists about 0.4 m ahead of the pelvis and 0.8 m apart). Arms
brought closer together cross the chest of many bodies (Anny's self-intersection test: 6 of 16 drawn
adults with 40 degrees of adduction and 10 of inward turn, none of them with this pose)."""

CELL_GAP = (0.0, 0.1)
"""m: how much farther from the cell than the nearest clear place a worker stands, drawn uniformly."""
CELL_CLEARANCE = 0.02
"""m: the least gap kept between a worker's vertices and every box (the cell's parts, objects, people);
at least the body's longest triangle edge (5-9 cm), so that no triangle of the body enters a box."""
CELL_YAW = 15.0
"""Degrees a worker turns either way off facing the cell square on, drawn uniformly."""
MAX_SETBACK = 1.0
"""m: the farthest a worker's pelvis is from the cell's edge."""
MIN_CELL_KEYPOINTS = 2
"""The least of a worker's 17 COCO keypoints that project into the image (hands, elbows over the table)."""


def draw_worker_pose(rng: np.random.Generator, phenotype, check: bool, library=None) -> tuple[tuple, dict]:
    """A worker's pose (:data:`WORKER_POSE` plus per-joint noise as :func:`simgen.people.poses.draw_pose`
    draws it, clamped to the joint limits) and its record (name ``reach``). With ``check``
    (people.self_intersection) redrawn while the body crosses itself, up to
    :data:`simgen.people.poses.TRIES` draws; then the pose without noise (the record counts what is left)."""
    from simgen.people.poses import JITTER_DEG, TRIES, as_pose, clamp, load_limits, self_intersections

    limits = load_limits()
    sd = {b: JITTER_DEG * np.minimum(1.0, (limits[b][1] - limits[b][0]) / 90.0) for b in WORKER_POSE}
    for draw in range(1, (TRIES if check else 1) + 1):
        noise = np.clip(rng.standard_normal((len(WORKER_POSE), 3)), -2.0, 2.0)
        pose = as_pose(clamp({b: np.asarray(v) + n * sd[b] for (b, v), n in zip(WORKER_POSE.items(), noise)}))
        if not check:
            return pose, {"name": "reach"}
        if self_intersections(pose, phenotype, library=library) == 0:
            return pose, {"name": "reach", "draws": draw, "repaired": False, "collisions": 0}
    pose = as_pose(clamp({b: np.asarray(v) for b, v in WORKER_POSE.items()}))
    return pose, {"name": "reach", "draws": TRIES, "repaired": True,
                  "collisions": self_intersections(pose, phenotype, library=library)}


def bench_of(scene: Scene) -> np.ndarray:
    """(2, 3): the world box of bin_picking's cell seen from above: of the scene file's parts under the
    bin's centre (params["bin"]; the bundled cell: its table and the bin's floor)."""
    cx, cy = scene.params["bin"]["centre"][:2]
    under = [b for o in scene.objects if o.role == "environment" for b in [_world_box(o)]
             if b[0, 0] <= cx <= b[1, 0] and b[0, 1] <= cy <= b[1, 1]]
    return np.stack([np.min([b[0] for b in under], axis=0), np.max([b[1] for b in under], axis=0)])


def _first_clear(points: np.ndarray, axis: int, sign: float, boxes: list[np.ndarray], margin: float,
                 start: float) -> float:
    """The least d >= ``start`` such that ``points`` moved d along ``sign`` times the world's ``axis`` (0: x,
    1: y) are, every one, outside every box of ``boxes`` grown by ``margin`` on every side."""
    lo_hi = []
    near, far = points.min(axis=0), points.max(axis=0)
    for b in boxes:
        lo, hi = b[0] - margin, b[1] + margin
        if any(far[k] < lo[k] or near[k] > hi[k] for k in range(3) if k != axis):
            continue  # beside the box whatever d is
        keep = np.all([(points[:, k] >= lo[k]) & (points[:, k] <= hi[k]) for k in range(3) if k != axis], axis=0)
        if keep.any():
            ends = (np.stack([lo[axis] - points[keep, axis], hi[axis] - points[keep, axis]], axis=1)) * sign
            lo_hi.append(np.sort(ends, axis=1))
    if not lo_hi:
        return start
    spans = np.concatenate(lo_hi)
    d = start
    while True:
        inside = (spans[:, 0] <= d) & (d <= spans[:, 1])
        if not inside.any():
            return d
        d = float(spans[inside, 1].max()) + 1e-6


def at_cell(vertices: np.ndarray, faces: np.ndarray, keypoints: np.ndarray, scene: Scene, floor: np.ndarray, bench: np.ndarray,
            boxes: list[np.ndarray], rng: np.random.Generator, sights: list[np.ndarray] = ()
            ) -> tuple[np.ndarray, dict] | None:
    """A pose for a worker (``vertices``, ``faces`` and ``keypoints`` of its body, in its body frame) standing on the
    floor (``floor``: its world box) at bin_picking's cell (``bench``: :func:`bench_of`): beside one of the
    bench's four sides (drawn), at a point drawn along it, facing the cell (turned :data:`CELL_YAW` at most
    off square), as close as every vertex keeps its margin (:data:`CELL_CLEARANCE`, at least the body's
    longest edge) from every box of ``boxes`` (the cell's parts, the objects, the people before it) plus a
    gap drawn in :data:`CELL_GAP`, no farther than :data:`MAX_SETBACK`; its box inside the floor's sides,
    every vertex :data:`CAMERA_CLEARANCE` from the camera, at least :data:`MIN_CELL_KEYPOINTS` keypoints in the
    image, and its box across none of ``sights``. None after :data:`MAX_TRIES` draws."""
    cam = scene.camera
    K, w2c = np.asarray(cam.K, float), np.asarray(cam.world_to_camera, float)
    R, t = w2c[:3, :3], w2c[:3, 3]
    eye = -R.T @ t
    margin = max(CELL_CLEARANCE, _longest_edge(vertices, faces))
    for _ in range(MAX_TRIES):
        side = int(rng.integers(4))
        axis, sign = side // 2, (1.0 if side % 2 else -1.0)  # the worker stands on the bench's sign * axis side
        other = 1 - axis
        along = rng.uniform(bench[0, other], bench[1, other])
        inward = np.zeros(3)
        inward[axis] = -sign
        yaw = np.arctan2(inward[0], -inward[1]) + np.radians(rng.uniform(-CELL_YAW, CELL_YAW))
        gap = rng.uniform(*CELL_GAP)
        edge = np.zeros(3)
        edge[axis], edge[other], edge[2] = bench[1 if sign > 0 else 0, axis], along, floor[1, 2]
        turn = rot_z(yaw)[:3, :3]
        at_edge = vertices @ turn.T + edge
        d = _first_clear(at_edge, axis, sign, boxes, margin, 0.0)
        d = _first_clear(at_edge, axis, sign, boxes, margin, d + gap)
        if d > MAX_SETBACK:
            continue
        step = np.zeros(3)
        step[axis] = sign * d
        pose = rigid(turn, edge + step)
        w = at_edge + step
        box = np.stack([w.min(axis=0), w.max(axis=0)])
        if np.any(box[0, :2] < floor[0, :2]) or np.any(box[1, :2] > floor[1, :2]):
            continue  # off the floor's edge
        if np.einsum("ij,ij->i", w - eye, w - eye).min() < CAMERA_CLEARANCE ** 2:
            continue  # the camera looks down from just above the worker's reach: no vertex this near it
        k = keypoints @ turn.T + edge + step
        inside = _in_image(k, cam, K, R, t)
        if inside.sum() < MIN_CELL_KEYPOINTS:
            continue
        if any(_crosses(eye, p, box) for p in sights):
            continue  # it would hide a person placed before it
        return pose, {"side": f"{'+' if sign > 0 else '-'}{'xy'[axis]}", "yaw_deg": float(np.degrees(yaw)),
                      "setback_m": float(d), "gap_m": float(gap), "margin_m": float(margin),
                      "keypoints_in_view": int(inside.sum()), "seen": k[np.flatnonzero(inside)[0]].tolist(),
                      "distance": float(np.linalg.norm(edge + step - eye))}
    return None


def _longest_edge(vertices: np.ndarray, faces: np.ndarray) -> float:
    """The longest edge (m) of a mesh's triangles."""
    tri = vertices[faces]
    return float(np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max())


def _hull(vertices: np.ndarray) -> np.ndarray:
    """The corners of ``vertices``' convex hull: any rigid turn of them has the same box as of all."""
    from scipy.spatial import ConvexHull

    return vertices[ConvexHull(vertices).vertices]


def _one_thread() -> None:
    """Bodies are built on one torch thread (15-25 ms each): the frame loop's processes share the cores."""
    try:
        import torch
    except ImportError:  # no [people] extra: building the first body says so, in one line
        return
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


POSTURE_POSES = {"lying": "lie", "sitting": "sit"}
"""The named pose (assets/people/poses.yaml) of each posture but standing (people.poses)."""

FACINGS = {"up": 0.0, "down": 180.0, "left": 90.0, "right": -90.0}
"""How a lying person is laid on the floor, drawn uniformly: on its back (its front, the body frame's -Y,
facing up), on its front, on its left side or on its right side: the turn (degrees) about its own long
axis (the body frame's +Z) before it is laid down (:func:`laid`)."""

LAY_DOWN = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
"""A turn of -90 degrees about the body frame's X (its left): its head (+Z) to +Y, its front (-Y) up."""

FLOOR_SIT_REST = ("lowerleg01.L", "lowerleg01.R", "foot.L", "foot.R")
"""The bones a person sitting on the floor keeps at rest: the sit pose's knees and ankles straightened,
its legs stretched out in front (the sit pose's bent knees need a seat)."""


def laid(vertices: np.ndarray, facing: str) -> np.ndarray:
    """(4, 4): a body (``vertices`` in its body frame) turned about its long axis for ``facing``
    (:data:`FACINGS`), laid down (:data:`LAY_DOWN`) and moved so its lowest point is at z = 0 and its box's
    middle on the vertical axis, as :func:`stand` takes a standing body (soles at z = 0)."""
    turn = LAY_DOWN @ rot_z(np.radians(FACINGS[facing]))[:3, :3]
    w = vertices @ turn.T
    lo, hi = w.min(axis=0), w.max(axis=0)
    return rigid(turn, [-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])


def draw_floor_sit(rng: np.random.Generator, phenotype, check: bool, library=None) -> tuple[tuple, dict]:
    """A pose for sitting on the floor and its record: the sit pose drawn (:func:`draw_named_pose`) with
    the bones of :data:`FLOOR_SIT_REST` at rest (the legs out in front). With ``check`` (people.self_intersection)
    redrawn while the body crosses itself (Anny's test), up to :data:`simgen.people.poses.TRIES` draws; if every
    draw crosses, the arms are put at rest too (the record counts what is left)."""
    from simgen.people.poses import TRIES, draw_named_pose, self_intersections

    for draw in range(1, (TRIES if check else 1) + 1):
        name, pose = draw_named_pose(rng, names=(POSTURE_POSES["sitting"],))
        pose = tuple((b, r) for b, r in pose if b not in FLOOR_SIT_REST)
        if not check:
            return pose, {"name": name, "legs_out": True}
        left = self_intersections(pose, phenotype, library=library)
        if left == 0:
            return pose, {"name": name, "legs_out": True, "draws": draw, "repaired": False, "collisions": 0}
    pose = tuple((b, r) for b, r in pose if not b.startswith(("upperarm", "lowerarm")))
    left = self_intersections(pose, phenotype, library=library)
    return pose, {"name": name, "legs_out": True, "draws": TRIES, "repaired": True, "collisions": left}


def _choice(rng: np.random.Generator, options) -> str:
    """One of ``options`` drawn uniformly; a single one is taken without a draw."""
    return str(options[0]) if len(options) == 1 else str(options[int(rng.integers(len(options)))])


def with_people(scenes: list[Scene], settings, catalog, rng: np.random.Generator, warn: bool = True) -> list[Scene]:
    """``scenes`` (a sequence's steps) with objects.people people: their number drawn, each one's body
    (phenotype, pose; sleeves and legs: the people group, settings.people), look (:func:`draw_look`) and place (:func:`stand`, on the floor of the first step,
    clear of every object there and of the people placed before it) drawn in turn, each an instance of
    objects.people_category, still through the sequence. One that finds no place after
    :data:`MAX_TRIES` is left out (its record says so, with a warning). Nothing drawn for [0, 0]; a
    one-line SimgenError for a scene with no floor to stand on."""
    o, p = settings.objects, settings.people
    low, high = o.people
    if high <= 0 or not scenes:
        return scenes
    count = integer(rng, o.people) if high > low else int(low)  # one number: nothing drawn
    if count == 0:
        return scenes
    from simgen.people.body import PersonParams, body
    from simgen.people.poses import draw_free_pose, draw_named_pose
    from simgen.people.shape import draw_phenotype

    _one_thread()

    first = scenes[0]
    found = floor_of(first)
    air = settings.scene.recipe == "flying"
    cell = "cell_floor" in first.params  # bin_picking's floor for people: they work at the cell
    if cell and set(p.postures) != {"standing"}:
        raise SimgenError(f"people.postures={list(p.postures)}: bin_picking's people are workers standing at the "
                          "cell; set people.postures=[standing]")
    if cell and set(p.motion) != {"still"}:  # their arms reach over the table: a box check cannot move them clear
        raise SimgenError(f"people.motion={list(p.motion)}: bin_picking's workers hold still at the cell; set "
                          "people.motion=[still]")
    if found is None and not air:
        raise SimgenError(f"objects.people={list(o.people)}: the {settings.scene.recipe} scene has no floor for "
                          f"people to stand on (a ground that lies flat, or a part of at least {MIN_FLOOR_AREA} m^2 "
                          "level area); people stand in tabletop's, environment's and bin_picking's scenes and fly in "
                          "flying's; "
                          "set objects.people=[0,0]")
    try:
        category = catalog.category_id(o.people_category)
    except SimgenError:
        raise SimgenError(f"objects.people_category={o.people_category}: no such category in the catalog "
                          f"({', '.join(catalog.category_names)}); add it to the catalog") from None
    floor, under = found if found is not None else (None, None)
    boxes = [_world_box(x) for x in first.objects if x.role != "ground" and x is not under]
    added, records = [], []
    next_id = max((x.instance_id for x in first.objects), default=0) + 1
    for k in range(count):
        phenotype = draw_phenotype(rng, p.age_years, p.gender, p.height_spread, p.weight_spread)
        posture = _choice(rng, p.postures)
        if cell:
            pose, pose_record = draw_worker_pose(rng, phenotype, p.self_intersection, p.library)
        elif posture == "sitting" and not air:
            pose, pose_record = draw_floor_sit(rng, phenotype, p.self_intersection, p.library)
        else:
            names = p.poses if posture == "standing" else (POSTURE_POSES[posture],)
            if p.self_intersection:
                free = draw_free_pose(rng, phenotype, names=names, library=p.library)
                pose, pose_record = free.pose, {"name": free.name, "draws": free.draws, "repaired": free.repaired,
                                                "collisions": free.collisions}
            else:
                name, pose = draw_named_pose(rng, names=names)
                pose_record = {"name": name}
        facing = _choice(rng, tuple(FACINGS)) if posture == "lying" and not air else None
        params = PersonParams(phenotype=phenotype, pose=pose)
        sleeves, legs = (_choice(rng, c) for c in (p.sleeves, p.legs))
        look, look_record = draw_look(settings.materials, rng, p.skin_tones)
        mesh = PersonMesh(params, look, sleeves=sleeves, legs=legs, library=p.library)
        b = body(params, p.library)
        hull = _hull(np.asarray(b.vertices))  # a turned box is its hull's: the tries cost a few hundred points
        if air:
            placed = fly(hull, first, boxes, rng, getattr(settings.scene, "depth", AIR_DEPTH))
        elif cell:
            placed = at_cell(np.asarray(b.vertices), np.asarray(b.faces), np.asarray(b.keypoints), first, floor,
                             bench_of(first), boxes, rng, [np.array(r["seen"]) for r in records if r["placed"]])
        else:
            base = None if facing is None else laid(hull, facing)  # lying: turned onto the floor first
            placed = stand(hull if base is None else hull @ base[:3, :3].T + base[:3, 3], first, floor, boxes, rng,
                           [np.array(r["seen"]) for r in records if r["placed"]])
            if placed is not None and base is not None:
                placed = (placed[0] @ base, placed[1])
        record = {"key": mesh.stem, "params": params.to_json(), "posture": posture, "pose": pose_record,
                  **({"facing": facing} if facing else {}), "sleeves": sleeves, "legs": legs,
                  "look": look_record, "height": float(np.ptp(b.vertices[:, 2]))}
        if placed is None and warn:
            log.warning("person %d of %d found no place in view and clear of the scene's objects "
                        "after %d tries: left out (params.people records it)", k + 1, count, MAX_TRIES)
        if placed is None:
            records.append({**record, "placed": False})
            continue
        pose, where = placed
        if next_id > MAX_INSTANCE_ID:
            raise SimgenError(f"person {k + 1} of {count} needs instance id {next_id}, more than the "
                              f"{MAX_INSTANCE_ID} a frame holds; lower objects.count or objects.people")
        w = hull @ pose[:3, :3].T + pose[:3, 3]
        boxes.append(np.stack([w.min(axis=0), w.max(axis=0)]))
        records.append({**record, "placed": True, "instance_id": next_id, **where, "mesh_to_world": pose.tolist()})
        added.append(SceneObject(name=f"{mesh.stem}_{next_id}", mesh=mesh, mesh_to_world=pose, instance_id=next_id,
                                 category_id=category, material=sample_material(settings.materials, rng),
                                 role="object"))
        next_id += 1
    if p.garments is not None and added:  # drawn after everything else, so that every other draw is as without
        added = _dress(added, records, p, rng)
    return [dataclasses.replace(s, objects=[*s.objects, *added], params={**s.params, "people": records},
                                physics=_with_colliders(s.physics, added)) for s in scenes]


def _dress(added: list[SceneObject], records: list[dict], p, rng: np.random.Generator) -> list[SceneObject]:
    """Each placed person (``added``) in people.garment_count garments drawn from people.garments
    (:func:`simgen.people.garments.usable_garments`: every garment of the folder, helper-bound ones included),
    distinct, appended to its mesh; its record gains their file names and its key the dressed stem."""
    from simgen.people.garments import usable_garments

    folder = os.path.abspath(Path(p.garments).expanduser())  # a worker may run elsewhere: the mesh names it whole
    usable = usable_garments(folder)
    by_id = {r["instance_id"]: r for r in records if r.get("placed")}
    out = []
    for o in added:
        count = min(integer(rng, p.garment_count), len(usable))
        chosen = sorted(rng.choice(len(usable), size=count, replace=False).tolist()) if count else []
        mesh = dataclasses.replace(o.mesh, garments=tuple(os.fspath(usable[i]) for i in chosen))
        record = by_id[o.instance_id]
        record["garments"] = [usable[i].name for i in chosen]
        record["key"] = mesh.stem
        out.append(dataclasses.replace(o, mesh=mesh, name=f"{mesh.stem}_{o.instance_id}"))
    return out


def _with_colliders(physics, people: list[SceneObject]):
    """``physics`` (scene.placement=physics's settle, or None) with each person a static collider (its
    triangles, where it stands), so that an object that settles (falls, rolls off the table) rests on or
    against a person and never inside one."""
    if physics is None or not people:
        return physics
    return dataclasses.replace(physics, static=(*physics.static, *((o.mesh, o.mesh_to_world) for o in people)))


ROOMY = {"bin_picking": "[1.4,1.8]"}
"""scene.camera_distance a refusal of :func:`check_people` suggests, by recipe (else [2.5,4]: room scale): at
bin_picking's cell a camera 1.4-1.8 m above the bin sees a worker's hands in every scene of a test's 12."""


def check_people(recipe, settings, catalog, first_sequence: int, sample: int) -> None:
    """Refuse, in one line with the numbers, a config in most of whose scenes the people it asks for find
    no place (tabletop's default camera sees too little floor): the first scenes of sequences
    ``first_sequence`` on, drawn as the frames will be (their first step, the people on their stream),
    until ``sample`` // 2 + 1 leave a person out (refused) or enough place all (accepted). Nothing
    drawn without people."""
    from simgen.sampling.random import frame_rng, stream_rng

    if settings.objects.people[1] <= 0:
        return
    need = sample // 2 + 1
    short = 0
    for k in range(sample):
        q = first_sequence + k
        scene = recipe.make_sequence(settings, catalog, frame_rng(settings.seed, q), 1)
        records = with_people(scene, settings, catalog, stream_rng(settings.seed, q, PEOPLE_STREAM),
                              warn=False)[0].params.get("people", [])
        short += not all(r["placed"] for r in records)
        if short >= need:
            raise SimgenError(f"objects.people={list(settings.objects.people)}: people found no place in view and "
                              f"clear of the objects in {short} of the {k + 1} scenes drawn first (sequences "
                              f"{first_sequence}..{q}); give them room (a camera farther away, e.g. "
                              f"scene.camera_distance={ROOMY.get(settings.scene.recipe, '[2.5,4]')}) or ask for "
                              "fewer")
        if k + 1 - short > sample - need:
            return
