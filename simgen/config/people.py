"""The ``people`` group: who the people of a scene are, how they stand and are dressed, and where the
body model is read from (:class:`PeopleConfig`). How many people a scene gets and their category stay
objects.people and objects.people_category."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from simgen.config.schema import setting, span

MAX_YEARS = 110.0
"""The oldest age in years Anny's age mapping reaches (simgen.people.shape.MAX_YEARS)."""
MAX_SPREAD = 10.0

STANDING_POSES = ("A", "T", "stand", "walk_contact_l", "walk_passing_l", "walk_contact_r", "walk_passing_r",
                  "wave", "hands_on_hips")
"""The named poses (assets/people/poses.yaml) a person standing on a floor may take: every one but those
that need a seat or lie down (sit, lie: postures of their own)."""

POSTURES = ("standing", "lying", "sitting")
"""How a person on a floor is: standing (people.poses), lying (the lie pose, the body laid on the floor
facing up, down or to a side) or sitting (the sit pose on the floor, legs out)."""

SKIN_TONES = tuple(range(1, 11))
"""The Monk Skin Tone Scale's tones, 1 (lightest) .. 10 (darkest) (simgen.sampling.people.SKIN_TONES_SRGB)."""

DRESS = ("long", "short")
"""Sleeves and trouser legs: long, or short (lower arms / lower legs are skin)."""

MOTIONS = ("still", "walk", "wave", "turn", "bvh")
"""What a person may do through a sequence (simgen.sampling.people_motion.KINDS)."""


@dataclass
class PeopleConfig:
    """The people of a scene (objects.people sets how many; docs/how-to/people.md): each one's body
    drawn from Anny's WHO-calibrated shapes within these ranges, a named pose with its joints jittered
    within anatomical limits and checked not to cross itself, dressed with sleeves and trouser legs
    drawn long or short. Nothing here is drawn while objects.people is [0, 0]."""

    age_years: list[float] = span([3.0, 80.0], ge=0.0, le=MAX_YEARS, example="[18,65]")
    """Each person's age in years, drawn uniformly (Anny reaches 0 to 110): [18, 65] draws adults."""
    gender: list[float] = span([0.0, 1.0], ge=0.0, le=1.0, example="[0,1]")
    """Each person's gender on Anny's scale (0 male .. 1 female; the body blends between them), drawn
    uniformly; the side of 0.5 picks the WHO table height and weight are drawn from."""
    height_spread: float = setting(1.0, ge=0.0, le=MAX_SPREAD)
    """How far heights spread about the mean for the age and sex: 1 = Anny's WHO calibration, 0 =
    always the mean, 2 = twice as far (clipped to Anny's range)."""
    weight_spread: float = setting(1.0, ge=0.0, le=MAX_SPREAD)
    """How far weights spread about the mean for the age and sex, as people.height_spread."""
    poses: list[str] = setting(list(STANDING_POSES), choices=STANDING_POSES, example="[stand,wave]")
    """The named poses (assets/people/poses.yaml) a standing person takes, drawn uniformly, each with
    its joints jittered within their limits (sit and lie are not among them: they need a seat or the
    floor)."""
    postures: list[str] = setting(["standing"], choices=POSTURES, example="[standing,standing,lying,sitting]")
    """Each person's posture, drawn uniformly from this list (name one twice to draw it twice as often):
    standing (one of people.poses, on its feet), lying (the lie pose, laid on the floor facing up, down
    or to its left or right, drawn uniformly) or sitting (the sit pose on the floor, its legs stretched
    out; simgen does not seat people on chairs yet). In flying's air each takes its pose, turned at random."""
    skin_tones: list[int] = setting(list(SKIN_TONES), ge=1, le=len(SKIN_TONES), example="[3]")
    """The skin tones a person's skin is drawn from, uniformly: numbers of the Monk Skin Tone Scale, 1
    (lightest) .. 10 (darkest), each jittered in hue, saturation and value (simgen.sampling.people.draw_skin).
    [3] gives everyone one tone (a narrow arm of a study); the default, every tone, draws as before."""
    sleeves: list[str] = setting(list(DRESS), choices=DRESS, example="[long]")
    """Each person's sleeves, drawn uniformly from these: long, or short (the lower arms are skin)."""
    legs: list[str] = setting(list(DRESS), choices=DRESS, example="[long]")
    """Each person's trouser legs, drawn uniformly from these: long, or short (the lower legs are skin)."""
    self_intersection: bool = setting(True)
    """Whether a drawn pose is checked not to cross the body itself (a hand in a thigh): redrawn up to 8
    times, then repaired (simgen.people.poses.draw_free_pose; Anny's exact triangle test, about 40 ms a
    check, and about 10 s once per machine to compile its kernel, kept in $SIMGEN_WARP_CACHE else the
    library's warp folder). false: drawn without the check (faster; about 4 in 10 drawn poses cross)."""
    library: Optional[str] = setting(None, example="/data/people")
    """The prepared body library (simgen people prepare --library DIR) a run reads Anny's model data
    from; null = $SIMGEN_PEOPLE_LIBRARY, else ~/.cache/simgen/people."""
    motion: list[str] = setting(["still"], choices=MOTIONS, example="[walk,wave]")
    """What each person does through a sequence (sequence.length > 1), drawn uniformly from these: still
    (holds its drawn pose), walk (straight the way it faces, its feet on the floor at every step, never
    into an object: it turns or stops), wave, turn (simgen.sampling.people_motion), bvh (people.bvh's
    motion, retargeted to the person's body). [still] draws nothing."""
    bvh: Optional[str] = setting(None, example="motion.bvh")
    """A BVH motion file (a path, read once) that people.motion's bvh plays: its joints' rotations
    retargeted to each person's bones (simgen.people.bvh: +Y up, facing +Z at rest), its root's path
    scaled to the person's hip height, from a start drawn within the clip."""
    bvh_joints: Optional[dict[str, str]] = setting({}, example="{LThigh: upperleg01.L, Tail: none}")
    """BVH joint name -> the Anny bone it drives (none: it drives none), for names simgen's table
    (simgen.people.bvh.JOINTS: CMU and Mixamo-like names) does not know or maps otherwise."""
    garments: Optional[str] = setting(None, example="/data/makehuman/clothes")
    """A folder of MakeHuman clothes (.mhclo files with their .obj meshes; MakeHuman's system clothes are
    CC0; simgen ships none) each person draws people.garment_count garments from, fitted exactly to its
    body and pose (simgen.people.garments) and worn over its drawn regions, each in its .mhmat's colour
    (diffuseColor, diffuseTexture), else in the colour of the region it mostly covers. Garments bound to
    MakeHuman's helper geometry, which Anny lacks (tights, skirt, hair), fit too: the helpers are carried
    on the body. null (the default): none, and nothing more is drawn."""
    garment_count: list[int] = span([1, 2], ge=0, le=16, example="[1,1]")
    """How many garments each person wears, drawn uniformly from this range (distinct garments of
    people.garments; no more than it holds)."""
