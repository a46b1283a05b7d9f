"""The ``objects`` group: which assets, how many and their class balance (:class:`ObjectsConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from simgen.config.schema import setting, span
from simgen.config.sequence import MAX_SEQUENCE_LENGTH
from simgen.scene.data import MAX_INSTANCE_ID

MAX_WEIGHT = 1e9


@dataclass
class ObjectsConfig:
    """Objects from the bundled catalog (assets/catalog.yaml); add your own meshes with
    objects.dirs='{mug: /data/mugs, chair: /data/chairs}'."""

    catalog: Optional[str] = setting("bundled", example="bundled", common=True)
    """Asset catalog YAML ("bundled" = assets/catalog.yaml; "textured" = its assets that carry
    their own texture, assets/catalog_textured.yaml; null = none, use dirs only)."""
    dirs: Optional[dict[str, str]] = setting({}, example="{mug: /data/mugs}", common=True)
    """Your own meshes: {category name: folder}. Every OBJ/PLY/STL/GLB/GLTF/OFF file in
    the folder (recursively) becomes an asset of that category. null = none (read as {})."""
    dir_scale: float = setting(1.0, gt=0.0)
    """Metres per unit of the meshes in dirs."""
    count: list[int] = span([3, 8], ge=0, le=MAX_INSTANCE_ID, common=True)
    """Objects per frame, inclusive range."""
    weights: Optional[dict[str, float]] = setting({}, ge=0.0, le=MAX_WEIGHT, example="{mug: 4}")
    """Class balance: {category: weight}; each object's category is drawn with probability
    proportional to its weight (1 for categories not listed), then an asset of it uniformly."""
    min_per_frame: Optional[dict[str, int]] = setting({}, ge=0, le=MAX_INSTANCE_ID, example="{mug: 1}")
    """Class balance: {category: n}, at least n objects of the category in every frame."""
    max_per_frame: Optional[dict[str, int]] = setting({}, ge=0, le=MAX_INSTANCE_ID, example="{mug: 2}")
    """Class balance: {category: n}, at most n objects of the category in any frame."""
    parametric: float = setting(0.0, ge=0.0, le=1.0, common=True)
    """Chance that an object of a category with a shape generator (ball, bottle, box, can, cone,
    mug, ring) gets a newly generated shape (random proportions, rims, handles, bevels; UV
    mapped) instead of a catalog mesh: 0 = catalog meshes only, 1 = always generated
    (objects=parametric). The draws are in the frame's meta; models/ holds each mesh."""
    joint_motion: int = setting(0, ge=0, le=MAX_SEQUENCE_LENGTH)
    """In a sequence (sequence.length > 1), a robot's or other articulated object's joints move:
    from the configuration drawn for its first step to a new one drawn this many steps later, then
    on to the next, each joint easing in and out (no speed at each drawn configuration), so every
    link has its own exact flow and tracks. 0 = joints held still through the sequence."""
    cloth: float = setting(0.0, ge=0.0, le=1.0, example=1.0)
    """Chance that a scene gets a cloth sheet dropped over its objects (a towel, a tarp over a pile),
    simulated with Blender's own cloth solver against every object of the scene: it settles for
    objects.cloth_settle frames before the first step and keeps moving through a sequence, one
    simulated frame (1/24 s) a step; every label follows its vertices at each step exactly. Its
    draws (size, stiffness, mass, drop) and the simulation's report are in the meta's
    ``params.cloth``, a list with a record a cloth. 0 = no cloth."""
    cloth_count: list[int] = span([1, 1], ge=1, le=32)
    """How many cloths a scene that gets any (objects.cloth) gets, drawn uniformly (a bin of pouches, a
    towel and a cable on a pile): each drawn as the first is (shape, size, stiffness, material), dropped
    above the one before and simulated together with the others in one run, so that they fall on and
    collide with each other; each is an instance of its own. Colliding costs: three sheets of 441
    vertices took about 4 times as long together as passing through each other (scripts/bench_cloth.py)."""
    cloth_self_collision: bool = setting(False)
    """Whether each sheet also collides with itself (Blender's cloth self-collision), so that a sheet
    that folds onto itself never passes through its own folds. It costs much more, the more so the finer
    the sheet: a 1 m sheet draped on a box took 2 times as long with it at 441 vertices, 70 times at
    3,721 (scripts/bench_cloth.py). Pouches and cables never do (their walls meet at their seams).
    Recorded in each cloth's ``params.cloth`` record (``self_collision``)."""
    cloth_shapes: list[str] = setting(["sheet"], choices=("sheet", "pouch", "cable"), example="[sheet, pouch, cable]")
    """What the cloth is, drawn uniformly from these: sheet (a towel, a tarp over a pile), pouch
    (a closed soft package: a bag, a pillow, two sheets sewn at their edges and filled by
    objects.cloth_pressure) or cable (a thin soft tube: a cable, a hose, a rope, its length drawn
    from objects.cloth_size, its diameter from objects.cloth_cable_diameter)."""
    cloth_pressure: list[float] = span([2.0, 20.0], ge=0.0, le=10000.0)
    """A pouch's or a cable's inner pressure (Blender's cloth pressure): 0 lies flat as an empty
    bag, 20 is plump."""
    cloth_cable_diameter: list[float] = span([0.008, 0.03], gt=0.0, le=1.0)
    """A cable's diameter (m), drawn uniformly."""
    cloth_size: list[float] = span([0.3, 0.8], gt=0.0, le=10.0)
    """Each side of the sheet (m), drawn uniformly in this range."""
    cloth_resolution: int = setting(24, ge=1, le=199)
    """Quads along the sheet's longer side (the shorter side as square as it allows): (n + 1)^2
    vertices at most. Finer drapes better and simulates slower (scripts/bench_cloth.py)."""
    cloth_mass: list[float] = span([0.1, 0.5], gt=0.0)
    """Mass of each vertex (kg), as Blender's cloth takes it, drawn uniformly."""
    cloth_tension: list[float] = span([5.0, 40.0], gt=0.0, le=10000.0)
    """Stiffness against stretching (Blender's tension and compression): silk 5, cotton 15, denim 40."""
    cloth_bending: list[float] = span([0.05, 10.0], ge=0.0, le=10000.0)
    """Stiffness against bending: silk 0.05, cotton 0.5, denim 10; drawn log-uniformly."""
    cloth_friction: list[float] = span([2.0, 10.0], ge=0.0, le=80.0)
    """Friction against what it lies on (Blender's cloth friction, 0 to 80)."""
    cloth_drop: list[float] = span([0.05, 0.3], ge=0.0)
    """Height (m) of the flat sheet above the highest annotated object's top when it is dropped."""
    cloth_settle: int = setting(48, ge=0, le=2000)
    """Frames simulated (24 a second) before the first step: 48 lets most sheets come to rest
    before a still frame; 0 shows it falling through a sequence. One that still moves faster than
    5 cm/s then is rendered where it is, with a warning (the meta's params.cloth records it)."""
    cloth_category: Optional[str] = setting(None, example="cloth")
    """The catalog category the cloth is labelled with (its COCO annotation, masks, tracks); null:
    unannotated, as a distractor is (category 0), though it still hides what it covers (amodal
    masks and visibility of the objects under it stay exact)."""
    people: list[int] = span([0, 0], ge=0, le=64, example="[1,2]")
    """People a scene gets, drawn uniformly from this range: each a body of its own
    (simgen.people: phenotype and pose drawn as the people group says), dressed (a skin tone, a shirt, trousers and shoes,
    each a drawn material), standing on the floor where the camera sees it (tabletop, environment;
    in flying they fly), clear of the scene's other objects; each one instance of objects.people_category. People need room: tabletop's default
    camera (0.8-1.5 m from the objects) sees too little floor, so use room scale
    (scene.camera_distance=[2.5,4]); one that finds no place is left out with a warning, and a config
    whose first scenes mostly leave one out is refused before rendering. Needs the
    [people] extra and a prepared body library (simgen people prepare). Its draws are in the meta's
    ``params.people``, a record a person. [0, 0] = none."""
    people_category: str = setting("person", example="person")
    """The category people are labelled with (their COCO annotations, masks): added to the
    catalog's categories, after its own, when it lacks it."""
