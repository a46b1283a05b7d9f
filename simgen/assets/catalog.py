"""The asset catalog: which meshes exist, their categories and their scale.

A catalog file is YAML::

    categories:            # COCO category ids are 1-based positions in this list
      - box
      - ball
    ground: stuff/ground.obj   # optional; paths are relative to this file's folder
    distractors:           # optional: unannotated clutter meshes (category 0)
      - distractors/blob.ply
    assets:
      - mesh: meshes/box/cube.obj
        category: box
        scale: 1.0             # optional (default 1.0): metres per mesh unit
        keypoints:             # only for a category declared under the top-level 'keypoints'
          top: [0.0, 0.0, 0.5] # one point per declared name, in the mesh file's own units
          bottom: [0.0, 0.0, -0.5]
        symmetries:            # optional: the shape's symmetries (the BOP export's models_info)
          continuous: [{axis: [0, 0, 1], offset: [0, 0, 0]}]  # any rotation about this axis through offset
          discrete: [[1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1]]  # 4x4 row-major rigid maps
      - mesh: robots/arm.urdf  # a URDF or MJCF (.xml) model: its links' visuals, posed by joint
        category: robot        # values drawn within their limits for each scene (simgen.assets.articulated)
        packages: [ros_ws/src] # optional: the folders its package://NAME/... paths are found in
        joints:                # optional: per joint name or glob, the range it is drawn from
          "finger_*": [0.0, 0.04]
        configurations:        # optional: named joint values; each scene draws around one of them
          home: {shoulder: 0.0, elbow: -1.5}
        spread: 0.1            # optional (default 0.1): how far around it (radians or metres)
        trajectory: wave.csv   # optional: a header of joint names, one row of values per step
        keypoints:             # on links: a link's origin, or a point in its frame
          base: base_link
          tool: {link: hand, at: [0.0, 0.0, 0.1]}
      - mesh: people/walker.glb  # a rigged model (glTF or FBX): its armature, shape keys or keyframes
        category: person         # move or bend it; each scene draws a clip and a frame of it
        animation: true          # (simgen.assets.rigged; a sequence plays the clip on from there)
        clips: [walk, run]       # optional: the glTF clips drawn from (default: every clip that moves)
    keypoints:             # optional: named 3D keypoints per category (output.keypoints=catalog)
      box:
        names: [top, bottom]   # the order of the COCO keypoints
        skeleton: [[top, bottom]]  # optional: pairs of names (COCO writes them 1-based)

Symmetries follow the BOP toolkit's models_info (misc.get_symmetry_transformations): each
discrete one is a rigid map ``v -> R v + t`` of the mesh onto itself (a 4x4 matrix, row-major,
``t`` in the mesh file's units), each continuous one the rotations by any angle about ``axis``
through the point ``offset``; discrete and continuous ones combine. They describe the shape: a
look of its own (a texture) or a drawn texture may break them, so declare them for what the
renders show. The bundled catalog declares them for its plain (untextured) shapes.

A category with declared keypoint names needs a point for every name on each of its assets
(coordinates of the mesh as loaded, the file under the dataset's ``models/``: the same frame
its 3D box and pose use); an asset of a category without names gives none.

Users can also bring meshes without writing a catalog: :func:`build_catalog`
takes ``dirs={category: folder}`` and turns every mesh file found under each
folder into an asset of that category.

Nothing here loads meshes (see :mod:`simgen.assets.meshes`, whose ``validate_catalog`` reads
every one, an articulated model's file too, before the first frame); only paths, suffixes and
the catalog's structure are checked. An articulated model's asset path is an
:class:`~simgen.scene.meshes.ArticulatedMesh` with no joint values yet: a recipe's
:func:`simgen.sampling.objects.pick_objects` draws them per scene. Symmetries describe a rigid shape,
so an articulated entry gives none; its keypoints name links (each at a link's origin, or at a point
in the link's frame), so they follow the joints.

A rigged model's entry (``animation: true``: a glTF or FBX file) has the asset path
:class:`~simgen.scene.meshes.RiggedMesh`, every part of the file as one mesh in the file's world
frame, with no clip or frame yet: a recipe's :func:`simgen.sampling.objects.pick_objects` draws them
per scene, before the model is placed.
Its surface bends, so it gives neither symmetries nor keypoints; it keeps the materials its file
gives it, as any catalog mesh with a look of its own (``materials.own_*``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Optional

import yaml

from simgen.errors import SimgenError
from simgen.scene.meshes import (MJCF_SUFFIXES, RIGGED_SUFFIXES, URDF_SUFFIXES, ArticulatedMesh, JointDraw, MeshRef,
                                 RiggedMesh)
from simgen.paths import ASSET_DIR

MESH_SUFFIXES = (".obj", ".ply", ".stl", ".glb", ".gltf", ".off")
"""Mesh file suffixes simgen loads (compared case-insensitively)."""
ARTICULATED_SUFFIXES = URDF_SUFFIXES + MJCF_SUFFIXES
"""Articulated models a catalog entry may name (simgen.assets.articulated: URDF, MJCF); folders
of meshes (``dirs``) are not searched for them."""

BUNDLED_CATALOG: Path = ASSET_DIR / "catalog.yaml"
"""The catalog of the bundled asset set (``<repo>/assets``; ``simgen/bundled`` in a wheel)."""

BUNDLED_CATALOGS: dict[str, Path] = {"bundled": BUNDLED_CATALOG,
                                     "textured": BUNDLED_CATALOG.parent / "catalog_textured.yaml"}
"""Names ``objects.catalog`` takes for the bundled catalogs: every bundled asset, or only those
that carry their own texture (a carton and a crate, a soda can, a flask)."""

BUNDLED_GROUND: Path = BUNDLED_CATALOG.parent / "stuff" / "ground.obj"
"""The default ground plane: 1 m x 1 m in the XY plane at z = 0, normal +Z."""
BUNDLED_BOX: Path = BUNDLED_CATALOG.parent / "stuff" / "box.obj"
"""A 1 m cube centred at the origin: scaled copies make tables and bins (physics placement)."""

_TOP_KEYS = ("categories", "ground", "distractors", "assets", "keypoints")
_ARTICULATED_KEYS = ("packages", "joints", "configurations", "spread", "trajectory")
"""The keys of a catalog entry that names a URDF or MJCF model, and only of such an entry."""
_RIGGED_KEYS = ("animation", "clips")
"""The keys of a catalog entry that names a rigged model (``animation: true``: a glTF or FBX file)."""
_ASSET_KEYS = ("mesh", "category", "scale", "keypoints", "symmetries", *_ARTICULATED_KEYS, *_RIGGED_KEYS)
SYMMETRY_TOLERANCE = 1e-6
"""How far a declared discrete symmetry's 3x3 part may be from a rotation (max |R R^T - I|)."""


@dataclass(frozen=True)
class Category:
    id: int
    """COCO category id, 1-based."""
    name: str
    keypoints: tuple[str, ...] = ()
    """Names of the category's 3D keypoints (the catalog file's ``keypoints``), in order; ()
    for none declared."""
    skeleton: tuple[tuple[str, str], ...] = ()
    """Pairs of keypoint names joined in the category's skeleton."""


@dataclass(frozen=True)
class Asset:
    key: str
    """``"<category>/<file stem>"``, unique within a catalog (``_2``, ``_3``... on clashes)."""
    category: str
    category_id: int
    path: MeshRef
    """Absolute path of the mesh file; for a shape drawn in its place
    (:func:`simgen.sampling.objects.pick_objects`), its :class:`~simgen.scene.meshes.GeneratedMesh`;
    an articulated model's :class:`~simgen.scene.meshes.ArticulatedMesh`, a rigged model's
    :class:`~simgen.scene.meshes.RiggedMesh`."""
    scale: float
    """Metres per mesh unit: multiply the loaded mesh's coordinates by this."""
    keypoints: tuple[tuple[float, float, float], ...] = ()
    """The 3D keypoints of the mesh, in its own units, one per name of its category's
    ``keypoints`` (in that order); () where its category declares none, and for an articulated
    model (its keypoints are on its links: :attr:`~simgen.scene.meshes.ArticulatedMesh.keypoints`)."""

    @property
    def has_keypoints(self) -> bool:
        """Whether the catalog gives the asset keypoints (a rigid mesh's, or a model's on its links)."""
        return bool(self.keypoints or isinstance(self.path, ArticulatedMesh) and self.path.keypoints)
    symmetries: Optional[dict] = None
    """The catalog's ``symmetries`` of the mesh, ``{"continuous": [{"axis", "offset"}],
    "discrete": [16 numbers]}`` (unit axes; both lists present), or None when none are declared."""


@dataclass(frozen=True)
class Catalog:
    categories: tuple[Category, ...]
    assets: tuple[Asset, ...]
    ground: Path
    """Absolute path of the ground plane mesh."""
    distractors: tuple[Path, ...] = ()
    """Absolute paths of distractor meshes: shapes of no category, placed as unannotated
    clutter by recipes that use it (e.g. ``scene=flying``). Empty unless the catalog
    file lists some under ``distractors:``; folders given as ``dirs`` add none."""

    @property
    def category_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.categories)

    def category_id(self, name: str) -> int:
        for c in self.categories:
            if c.name == name:
                return c.id
        raise SimgenError(
            f"unknown category {name!r}; the catalog has: {', '.join(self.category_names)}"
        )

    def assets_of(self, category: str) -> tuple[Asset, ...]:
        self.category_id(category)  # raises on an unknown name
        return tuple(a for a in self.assets if a.category == category)

    def asset(self, key: str) -> Asset:
        for a in self.assets:
            if a.key == key:
                return a
        raise SimgenError(f"unknown asset {key!r}; asset keys look like '<category>/<file stem>'")

    def with_categories(self, names: Iterable[str]) -> "Catalog":
        """This catalog with the categories of ``names`` it lacks added after its own (ids continuing),
        in order: categories of no asset, that a recipe labels in its world (scene.labels)."""
        new = [n for n in dict.fromkeys(names) if n not in self.category_names]
        added = tuple(Category(id=len(self.categories) + 1 + k, name=n) for k, n in enumerate(new))
        return dataclasses.replace(self, categories=self.categories + added) if added else self

    def with_people(self, name: str) -> "Catalog":
        """This catalog with category ``name`` labelling people (objects.people): COCO's 17 person
        keypoints and skeleton (:data:`simgen.people.body.KEYPOINT_NAMES`, ``SKELETON``), added after
        its own categories where it lacks it. A category the catalog has assets of keeps what it is
        (people labelled as those assets are, keypoints and all); a one-line SimgenError where the
        catalog declares other keypoints for it."""
        from simgen.people.body import KEYPOINT_NAMES, SKELETON

        catalog = self.with_categories([name])
        if any(a.category == name for a in self.assets):
            return catalog
        category = next(c for c in catalog.categories if c.name == name)
        if category.keypoints and tuple(category.keypoints) != KEYPOINT_NAMES:
            raise SimgenError(f"objects.people_category={name}: the catalog declares other keypoints for it "
                              f"({', '.join(category.keypoints)}) than COCO's 17 a person has; name another "
                              "category (objects.people_category) or drop its keypoints from the catalog file")
        person = dataclasses.replace(category, keypoints=KEYPOINT_NAMES, skeleton=SKELETON)
        return dataclasses.replace(catalog, categories=tuple(person if c.name == name else c
                                                              for c in catalog.categories))

    def to_json(self) -> list[dict]:
        """The COCO ``"categories"`` list."""
        return [{"id": c.id, "name": c.name, "supercategory": "object"} for c in self.categories]


# --------------------------------------------------------------------------- helpers


def _one_line(text: object) -> str:
    """Collapse whitespace (including newlines) so an error stays on one line."""
    return " ".join(str(text).split())


def _resolve(path: Path, where: str) -> Path:
    """``path`` made absolute (against the working directory) with links resolved; SimgenError
    for a symlink loop."""
    try:
        return (path if path.is_absolute() else Path.cwd() / path).resolve()
    except (RuntimeError, OSError) as exc:  # Python 3.11 raises RuntimeError on a symlink loop
        raise SimgenError(f"cannot resolve {path} ({where}): {_one_line(exc)}; remove the symlink loop or fix "
                          "the path") from None


def _is_bundled(catalog_path: Path) -> bool:
    try:
        return catalog_path.resolve() in BUNDLED_CATALOGS.values()
    except OSError:
        return False


def _check_suffix(path: Path, where: str, articulated: bool = False, rigged: bool = False) -> None:
    allowed = MESH_SUFFIXES + (ARTICULATED_SUFFIXES if articulated else ()) + (
        tuple(s for s in RIGGED_SUFFIXES if s not in MESH_SUFFIXES) if rigged else ())
    if path.suffix.lower() not in allowed:
        hint = " (a rigged model: add animation: true to its entry)" if articulated and path.suffix.lower() in \
            RIGGED_SUFFIXES else ""
        raise SimgenError(
            f"unsupported mesh file type {path.suffix or '(no suffix)'!r}: {path} ({where}); "
            f"use one of {', '.join(allowed)}{hint}"
        )


def check_category_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise SimgenError(f"category names must be non-empty strings, got {name!r} ({where})")
    if (name != name.strip() or name in (".", "..") or any(c in name for c in "/\\")
            or not name.isprintable()):
        raise SimgenError(
            f"bad category name {name!r} ({where}): it names folders and files of the dataset, so "
            "no '/', '\\', '.', '..', control characters, or leading or trailing spaces; rename it"
        )
    return name


def _check_scale(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SimgenError(f"scale must be a positive number, got {value!r} ({where})")
    scale = float(value)
    if not math.isfinite(scale) or scale <= 0:
        raise SimgenError(f"scale must be a positive, finite number, got {value!r} ({where})")
    return scale


def _resolve_listed(raw: Any, base: Path, catalog_path: Path, what: str, articulated: bool = False,
                    rigged: bool = False) -> Path:
    """Absolute path of a mesh (``articulated``: or a URDF or MJCF model; ``rigged``: or an FBX) named
    in a catalog file, checked to exist."""
    if not isinstance(raw, str) or not raw.strip():
        raise SimgenError(
            f"{what} in {catalog_path} must be a file path string, got {raw!r}"
        )
    where = f"listed in {catalog_path}"
    path = Path(raw).expanduser()
    path = _resolve(path if path.is_absolute() else base / path, where)
    _check_suffix(path, where, articulated, rigged)
    if not path.exists():
        fix = "fix the path"
        if _is_bundled(catalog_path):
            fix += " or regenerate with scripts/make_assets.py"
        raise SimgenError(f"asset file not found: {path} ({where}); {fix}")
    if not path.is_file():
        raise SimgenError(f"asset path is not a file: {path} ({where}); point it at a mesh file")
    return path


def _read_keypoint_names(raw: Any, names: list[str], catalog_path: Path) -> dict[str, tuple[tuple, tuple]]:
    """{category: (keypoint names, skeleton pairs)} of a catalog file's top-level ``keypoints``."""
    if raw is None:
        return {}
    where = f"'keypoints' in catalog file {catalog_path}"
    if not isinstance(raw, dict):
        raise SimgenError(f"{where} must be a mapping {{category: {{names: [...], skeleton: [[a, b], ...]}}}}")
    out = {}
    for category, spec in raw.items():
        if category not in names:
            raise SimgenError(f"{where} names category {category!r}, which is not in 'categories'; add it there "
                              "or fix the name")
        here = f"keypoints.{category} in catalog file {catalog_path}"
        if not isinstance(spec, dict) or set(spec) - {"names", "skeleton"} or "names" not in spec:
            raise SimgenError(f"{here} must be a mapping {{names: [...], skeleton: [[a, b], ...]}} (skeleton "
                              f"optional), got {spec!r}")
        kp = spec["names"]
        if (not isinstance(kp, list) or not kp or not all(isinstance(n, str) and n.strip() for n in kp)
                or len(set(kp)) != len(kp)):
            raise SimgenError(f"names of {here} must be a non-empty list of distinct non-empty strings, got {kp!r}")
        skeleton = spec.get("skeleton") or []
        if not isinstance(skeleton, list) or not all(
                isinstance(e, list) and len(e) == 2 and all(n in kp for n in e) and e[0] != e[1] for e in skeleton):
            raise SimgenError(f"skeleton of {here} must be a list of pairs [a, b] of two of its names {kp}, "
                              f"got {skeleton!r}")
        out[category] = (tuple(kp), tuple((a, b) for a, b in skeleton))
    return out


def _read_asset_keypoints(raw: Any, declared: tuple[str, ...] | None, category: str,
                          where: str) -> tuple[tuple[float, float, float], ...]:
    """An asset's ``keypoints`` ({name: [x, y, z]}) as points in the order of its category's names."""
    if raw is None and not declared:
        return ()
    if not declared:
        raise SimgenError(f"{where} gives keypoints, but its category {category!r} declares none; declare their "
                          f"names under the catalog's top-level keypoints: {{{category}: {{names: [...]}}}}")
    if not isinstance(raw, dict):
        raise SimgenError(f"{where} needs keypoints: {{name: [x, y, z]}} for every keypoint of category "
                          f"{category!r} ({', '.join(declared)})")
    missing = [n for n in declared if n not in raw]
    unknown = [n for n in raw if n not in declared]
    if missing or unknown:
        raise SimgenError(f"keypoints of {where}: " + (f"missing {missing}" if missing else f"unknown {unknown}")
                          + f"; category {category!r} declares {list(declared)}: give exactly these")
    points = []
    for n in declared:
        p = raw[n]
        if (not isinstance(p, list) or len(p) != 3 or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in p)):
            raise SimgenError(f"keypoint {n!r} of {where} must be [x, y, z], three finite numbers, got {p!r}")
        points.append(tuple(float(x) for x in p))
    return tuple(points)


Entry = tuple[str, MeshRef, float, tuple, Optional[dict]]
"""An asset as a catalog file lists it: (category, mesh path, scale, keypoints, symmetries)."""


def _numbers(raw: Any, n: int) -> Optional[list[float]]:
    """``raw`` as ``n`` finite floats, or None when it is not a list of them."""
    if not isinstance(raw, list) or len(raw) != n or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in raw):
        return None
    return [float(x) for x in raw]


def _read_symmetries(raw: Any, where: str) -> Optional[dict]:
    """An asset's ``symmetries`` ({continuous: [{axis, offset}], discrete: [[16 numbers]]}),
    checked: unit axes, rigid discrete maps; None when absent."""
    if raw is None:
        return None
    example = "symmetries: {continuous: [{axis: [0, 0, 1], offset: [0, 0, 0]}], discrete: [[16 numbers, row-major]]}"
    if not isinstance(raw, dict) or not raw or any(k not in ("continuous", "discrete") for k in raw):
        raise SimgenError(f"symmetries of {where} must be a mapping with continuous and/or discrete, e.g. {example}")
    continuous = []
    for sym in raw.get("continuous") or []:
        axis = _numbers(sym.get("axis") if isinstance(sym, dict) else None, 3)
        offset = _numbers(sym.get("offset", [0, 0, 0]) if isinstance(sym, dict) else None, 3)
        norm = math.sqrt(sum(x * x for x in axis)) if axis else 0.0
        if not norm > 0 or offset is None or set(sym) - {"axis", "offset"}:
            raise SimgenError(f"a continuous symmetry of {where} must be {{axis: [x, y, z] (not 0), "
                              f"offset: [x, y, z]}}, got {sym!r}")
        continuous.append({"axis": [x / norm for x in axis], "offset": offset})
    discrete = []
    for sym in raw.get("discrete") or []:
        m = _numbers(sym, 16)
        rows = [m[4 * r:4 * r + 4] for r in range(4)] if m else []
        ortho = m is not None and max(abs(sum(rows[i][k] * rows[j][k] for k in range(3)) - (i == j))
                                      for i in range(3) for j in range(3)) <= SYMMETRY_TOLERANCE
        det = m is not None and (rows[0][0] * (rows[1][1] * rows[2][2] - rows[1][2] * rows[2][1])
                                 - rows[0][1] * (rows[1][0] * rows[2][2] - rows[1][2] * rows[2][0])
                                 + rows[0][2] * (rows[1][0] * rows[2][1] - rows[1][1] * rows[2][0])) > 0
        if not (ortho and det and rows[3] == [0.0, 0.0, 0.0, 1.0]):
            raise SimgenError(f"a discrete symmetry of {where} must be a rigid 4x4 map, 16 numbers row-major (a "
                              f"rotation, a translation, last row 0 0 0 1), got {sym!r}")
        discrete.append(m)
    return {"continuous": continuous, "discrete": discrete}


def _read_link_keypoints(raw: Any, declared: tuple[str, ...], category: str, where: str
                         ) -> tuple[tuple[str, tuple[float, float, float]], ...]:
    """An articulated model's ``keypoints`` ({name: LINK} at the link's origin, or {name: {link: LINK,
    at: [x, y, z]}} in the link's frame) as (link, point) in the order of its category's names."""
    if raw is None and not declared:
        return ()
    if not declared:
        raise SimgenError(f"{where} gives keypoints, but its category {category!r} declares none; declare their "
                          f"names under the catalog's top-level keypoints: {{{category}: {{names: [...]}}}}")
    if not isinstance(raw, dict) or sorted(raw) != sorted(declared):
        raise SimgenError(f"keypoints of {where} must name exactly its category's {list(declared)}, each a link "
                          "(LINK, or {link: LINK, at: [x, y, z]}), got " + repr(raw))
    out = []
    for n in declared:
        v = {"link": raw[n]} if isinstance(raw[n], str) else raw[n]
        at = _numbers(v.get("at", [0.0, 0.0, 0.0]), 3) if isinstance(v, dict) else None
        if not isinstance(v, dict) or not isinstance(v.get("link"), str) or set(v) - {"link", "at"} or at is None:
            raise SimgenError(f"keypoint {n!r} of {where} must be a link's name or {{link: LINK, at: [x, y, z]}}, "
                              f"got {raw[n]!r}")
        out.append((v["link"], (at[0], at[1], at[2])))
    return tuple(out)


def _articulated_entry(file: Path, entry: dict, base: Path, where: str,
                       keypoint_names: tuple[str, ...] = (), category: str = "") -> ArticulatedMesh:
    """The articulated model of a catalog entry (read, as every asset mesh is, by
    :func:`simgen.assets.meshes.validate_catalog` before the first frame)."""
    if "symmetries" in entry:
        raise SimgenError(f"'symmetries' of {where} describe a rigid shape, and {file.name} is an articulated "
                          "model whose links move; remove it")
    raw = entry.get("packages") or []
    if not isinstance(raw, list) or not all(isinstance(d, str) and d.strip() for d in raw):
        raise SimgenError(f"'packages' of {where} must be a list of folders, got {raw!r}")
    dirs = []
    for d in raw:
        folder = Path(d).expanduser()
        folder = (folder if folder.is_absolute() else base / folder).resolve()
        if not folder.is_dir():
            raise SimgenError(f"'packages' of {where} names {d!r}, which is no folder ({folder}); fix the path")
        dirs.append(folder)
    draw = _joint_draw(entry, where)
    raw = entry.get("trajectory")
    if raw is not None:
        if not isinstance(raw, str) or not raw.strip():
            raise SimgenError(f"'trajectory' of {where} must be a CSV file, got {raw!r}")
        path = Path(raw).expanduser()
        path = (path if path.is_absolute() else base / path).resolve()
        if not path.is_file():
            raise SimgenError(f"'trajectory' of {where} names {raw!r}, which is no file ({path}); fix the path")
        draw = dataclasses.replace(draw, trajectory=path)
    return ArticulatedMesh(file, tuple(dirs), draw=draw,
                           keypoints=_read_link_keypoints(entry.get("keypoints"), keypoint_names, category, where))


def _number_pair(raw: Any, what: str) -> tuple[float, float]:
    pair = _numbers(raw, 2)
    if pair is None or pair[0] > pair[1]:
        raise SimgenError(f"{what} must be [low, high] with low <= high, got {raw!r}")
    return pair[0], pair[1]


def _joint_draw(entry: dict, where: str) -> JointDraw:
    """The entry's ``joints`` ({name or glob: [low, high]}), ``configurations`` ({name: {joint:
    value}}) and ``spread`` (checked against the model when the catalog's meshes are read; its
    ``trajectory`` file: :func:`_articulated_entry`)."""
    joints, configurations = entry.get("joints") or {}, entry.get("configurations") or {}
    if not isinstance(joints, dict) or not all(isinstance(k, str) for k in joints):
        raise SimgenError(f"'joints' of {where} must map joint names (or globs) to [low, high], got {joints!r}")
    ranges = tuple((k, *_number_pair(v, f"'joints.{k}' of {where}")) for k, v in joints.items())
    if not isinstance(configurations, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) and v and all(isinstance(j, str) for j in v)
            and _numbers(list(v.values()), len(v)) is not None for k, v in configurations.items()):
        raise SimgenError(f"'configurations' of {where} must map names to {{joint: value}}, got {configurations!r}")
    spread = entry.get("spread", JointDraw.spread)
    if _numbers([spread], 1) is None or spread < 0:
        raise SimgenError(f"'spread' of {where} must be a number >= 0 (radians or metres), got {spread!r}")
    return JointDraw(ranges, tuple((k, tuple((j, float(x)) for j, x in v.items())) for k, v in configurations.items()),
                     float(spread))


class _CatalogFile(NamedTuple):
    """What a catalog file declares (:func:`_read_catalog_file`)."""

    names: list[str]
    """The category names, in file order."""
    entries: list[Entry]
    """Its assets: (category, mesh path, scale, keypoints, symmetries)."""
    ground: Path
    """The ground mesh (the bundled one where the file names none)."""
    distractors: tuple[Path, ...]
    """The distractor meshes."""
    declared: dict[str, tuple[tuple, tuple]]
    """{category: (keypoint names, skeleton pairs)} of the file's top-level ``keypoints``."""


def _read_catalog_file(path: str | Path) -> _CatalogFile:
    """The category names, assets, ground, distractors and declared keypoints of a catalog file."""
    catalog_path = _catalog_file_path(path)
    data = _catalog_yaml(catalog_path)
    names = _category_names(data, catalog_path)
    base = catalog_path.parent
    if data.get("ground") is None:
        ground = BUNDLED_GROUND
    else:
        ground = _resolve_listed(data["ground"], base, catalog_path, "'ground'")
    distractors = _distractors(data, base, catalog_path)
    raw_assets = _raw_assets(data, catalog_path)
    declared = _read_keypoint_names(data.get("keypoints"), list(names), catalog_path)
    seen = set(names)
    entries = [_asset_entry(entry, f"assets[{i}] in {catalog_path}", names, seen, declared, base, catalog_path)
               for i, entry in enumerate(raw_assets)]
    return _CatalogFile(list(names), entries, ground, distractors, declared)


def _catalog_file_path(path: str | Path) -> Path:
    """The catalog file ``path`` names, resolved; SimgenError where it is missing or no file."""
    catalog_path = _resolve(Path(path).expanduser(), "objects.catalog")
    if not catalog_path.exists():
        raise SimgenError(
            f"catalog file not found: {catalog_path}; fix the path (the bundled one is {BUNDLED_CATALOG})"
        )
    if not catalog_path.is_file():
        raise SimgenError(f"catalog path is not a file: {catalog_path}; give a .yaml catalog file")
    return catalog_path


def _catalog_yaml(catalog_path: Path) -> dict:
    """The catalog file's YAML mapping; SimgenError where it cannot be read, is not valid YAML, is
    no mapping or has a top-level key of its own."""
    try:
        text = catalog_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SimgenError(f"cannot read catalog file {catalog_path}: {_one_line(exc)}; "
                          "make it a readable UTF-8 text file or fix objects.catalog") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        reason = str(exc)
        mark = getattr(exc, "problem_mark", None)
        if getattr(exc, "problem", None) and mark is not None:
            reason = f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
        raise SimgenError(
            f"catalog file {catalog_path} is not valid YAML: {_one_line(reason)}; fix its syntax"
        ) from exc
    if not isinstance(data, dict):
        raise SimgenError(
            f"catalog file {catalog_path} must be a YAML mapping with keys "
            f"'categories' and 'assets' (and optionally 'ground', 'distractors'), got {type(data).__name__}"
        )
    _refuse_unknown_keys(data, _TOP_KEYS, f"catalog file {catalog_path}")
    return data


def _refuse_unknown_keys(mapping: dict, allowed: tuple[str, ...], where: str) -> None:
    """A one-line SimgenError naming the keys of ``mapping`` that are not ``allowed``, and those that are."""
    unknown = [k for k in mapping if k not in allowed]
    if unknown:
        raise SimgenError(f"unknown key(s) {', '.join(map(repr, unknown))} in {where}; "
                          f"allowed keys: {', '.join(allowed)}")


def _category_names(data: dict, catalog_path: Path) -> list:
    """The catalog's ``categories``: a non-empty list of good names, none twice."""
    if "categories" not in data:
        raise SimgenError(
            f"catalog file {catalog_path} has no 'categories' key; add a list of category names"
        )
    names = data["categories"]
    if not isinstance(names, list) or not names:
        raise SimgenError(
            f"'categories' in catalog file {catalog_path} must be a non-empty list of names"
        )
    seen: set[str] = set()
    for name in names:
        check_category_name(name, f"in {catalog_path}")
        if name in seen:
            raise SimgenError(f"category {name!r} is listed twice in catalog file {catalog_path}")
        seen.add(name)
    return names


def _distractors(data: dict, base: Path, catalog_path: Path) -> tuple[Path, ...]:
    """The catalog's ``distractors`` (none where it has none), each resolved against ``base``."""
    raw_distractors = data.get("distractors")
    if raw_distractors is None:
        raw_distractors = []
    if not isinstance(raw_distractors, list):
        raise SimgenError(
            f"'distractors' in catalog file {catalog_path} must be a list of mesh paths"
        )
    return tuple(
        _resolve_listed(raw, base, catalog_path, f"distractors[{i}]")
        for i, raw in enumerate(raw_distractors)
    )


def _raw_assets(data: dict, catalog_path: Path) -> list:
    """The catalog's ``assets`` as written (an empty one: []); SimgenError where the key is missing
    or is no list."""
    if "assets" not in data:
        raise SimgenError(
            f"catalog file {catalog_path} has no 'assets' key; add a list of "
            "{mesh: <path>, category: <name>, scale: <metres per unit>} entries"
        )
    raw_assets = data["assets"]
    if raw_assets is None:
        raw_assets = []
    if not isinstance(raw_assets, list):
        raise SimgenError(f"'assets' in catalog file {catalog_path} must be a list")
    return raw_assets


def _asset_entry(entry: Any, where: str, names: list, seen: set, declared: dict[str, tuple[tuple, tuple]],
                 base: Path, catalog_path: Path) -> Entry:
    """One asset of the catalog (``where``: its place in the file), checked: its keys, category
    (one of ``names``, the set ``seen``), scale, mesh (an articulated model's too), keypoints
    and symmetries."""
    if not isinstance(entry, dict):
        raise SimgenError(
            f"{where} must be a mapping like {{mesh: <path>, category: <name>}}, got {entry!r}"
        )
    _refuse_unknown_keys(entry, _ASSET_KEYS, where)
    for key in ("mesh", "category"):
        if key not in entry:
            raise SimgenError(f"{where} has no {key!r} key; add it")
    category = entry["category"]
    if category not in seen:
        raise SimgenError(
            f"asset category {category!r} of {where} is not in 'categories' "
            f"({', '.join(names)}); add it there or fix the name"
        )
    scale = _check_scale(entry.get("scale", 1.0), where)
    rigged = _is_rigged(entry, where)
    mesh: MeshRef = _resolve_listed(entry["mesh"], base, catalog_path, f"'mesh' of {where}", articulated=True,
                                    rigged=rigged)
    if rigged:
        return (category, _rigged_entry(mesh, entry, where, bool(declared.get(category, ((), ()))[0]), category),
                scale, (), None)
    if mesh.suffix.lower() in ARTICULATED_SUFFIXES:
        mesh = _articulated_entry(mesh, entry, base, where, declared.get(category, ((), ()))[0], category)
    elif any(k in entry for k in _ARTICULATED_KEYS):
        key = next(k for k in _ARTICULATED_KEYS if k in entry)
        raise SimgenError(f"{key!r} of {where} is for a URDF or MJCF model, and its mesh {mesh.name} is none; "
                          "remove it")
    keypoints = () if isinstance(mesh, ArticulatedMesh) else _read_asset_keypoints(  # a model's: its links'
        entry.get("keypoints"), declared.get(category, ((), ()))[0], category, where)
    return (category, mesh, scale, keypoints, _read_symmetries(entry.get("symmetries"), where))


def _is_rigged(entry: dict, where: str) -> bool:
    """Whether a catalog entry names a rigged model (``animation: true``); its ``clips`` only with it."""
    rigged = entry.get("animation", False)
    if not isinstance(rigged, bool):
        raise SimgenError(f"'animation' of {where} must be true (a rigged glTF or FBX model: a clip and a frame drawn "
                          f"per scene) or false, got {rigged!r}")
    if "clips" in entry and not rigged:
        raise SimgenError(f"'clips' of {where} are a rigged model's animations; add animation: true or remove them")
    return rigged


def _rigged_entry(file: Path, entry: dict, where: str, declares_keypoints: bool, category: str) -> RiggedMesh:
    """The rigged model of a catalog entry (its clips are checked against the file when the catalog's
    meshes are read: :func:`simgen.assets.meshes.validate_catalog`)."""
    if file.suffix.lower() not in RIGGED_SUFFIXES:
        raise SimgenError(f"animation: true of {where} is for a rigged glTF or FBX model "
                          f"({', '.join(RIGGED_SUFFIXES)}), and its mesh is {file.name}; remove animation: true or "
                          "name the model's file")
    for key in ("symmetries", "keypoints", *_ARTICULATED_KEYS):
        if key in entry:
            raise SimgenError(f"{key!r} of {where} cannot go with animation: true: a rigged model's surface bends "
                              "(no fixed symmetries or keypoints; no joints to draw); remove it")
    if declares_keypoints:
        raise SimgenError(f"{where} is a rigged model (animation: true) in category {category!r}, which declares "
                          "keypoints: its surface bends, so it has no fixed keypoints; give it a category of its own")
    raw = entry.get("clips")
    if raw is not None and (not isinstance(raw, list) or not raw or not all(isinstance(c, str) and c for c in raw)
                            or len(set(raw)) != len(raw)):
        raise SimgenError(f"'clips' of {where} must be a list of the file's clip names (none twice), got {raw!r}")
    return RiggedMesh(file, tuple(raw or ()))


def _walk(root: Path, where: str) -> list[Path]:
    """Every file under ``root`` (hidden ones skipped); links to files count, links to folders
    are not descended into. SimgenError naming the link for a link that loops or leads nowhere."""
    out: list[Path] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            raise SimgenError(f"cannot read folder {folder} ({where}): {exc.strerror or exc}; "
                              "fix its permissions or the path") from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            p = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows links
                if entry.is_symlink():
                    p.stat()
            except OSError as exc:
                raise SimgenError(f"broken or looping symlink {p} -> {os.readlink(p)} ({where}): "
                                  f"{exc.strerror or exc}; remove or fix the link") from None
            if is_dir:
                if not entry.is_symlink():
                    stack.append(p)
            else:
                out.append(p)
    return out


def _scan_folder(category: str, folder: str | Path) -> list[Path]:
    """Mesh files under ``folder`` (recursive), sorted by relative path."""
    where = f"folder for category {category!r}"
    path = _resolve(Path(folder).expanduser(), where)
    if not path.exists():
        raise SimgenError(f"asset folder not found: {path} ({where}); fix the path")
    if not path.is_dir():
        raise SimgenError(f"asset folder is not a folder: {path} ({where}); give a folder of meshes")
    found = []
    for p in _walk(path, where):
        rel = p.relative_to(path)
        # skip hidden files and folders (e.g. macOS "._x.obj" resource forks)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.suffix.lower() in MESH_SUFFIXES and p.is_file():
            found.append((rel.as_posix(), p))
    if not found:
        raise SimgenError(
            f"asset folder {path} ({where}) contains no mesh files "
            f"({', '.join(MESH_SUFFIXES)}); add meshes or fix the path"
        )
    found.sort(key=lambda item: item[0])
    return [p for _, p in found]


# --------------------------------------------------------------------------- public


def load_catalog(path: str | Path) -> Catalog:
    """Read a catalog file (see the module docstring for the format).

    Relative paths in the file are resolved against the file's folder; without a
    ``ground`` key the bundled ground plane is used.
    """
    return build_catalog(path, None)


def build_catalog(
    catalog: str | Path | None = BUNDLED_CATALOG,
    dirs: Mapping[str, str | Path] | None = None,
    dir_scale: float = 1.0,
) -> Catalog:
    """A catalog from a catalog file, folders of meshes, or both.

    Args:
        catalog: a catalog file, or ``None`` for none.
        dirs: ``{category name: folder}``; every mesh file under a folder (suffix
            in :data:`MESH_SUFFIXES`, any case, searched recursively, hidden files
            skipped, sorted by relative path) becomes an asset of that category.
        dir_scale: metres per mesh unit of the meshes found in ``dirs``.

    Categories from the catalog file come first (in file order), then new
    category names from ``dirs`` in mapping order; a ``dirs`` category already
    in the file adds its assets to that category.
    """
    dirs = dict(dirs or {})
    if catalog is None and not dirs:
        raise SimgenError("no assets: give a catalog file, or folders of meshes per category (dirs)")
    names: list[str] = []
    entries: list[Entry] = []
    ground = BUNDLED_GROUND
    distractors: tuple[Path, ...] = ()
    declared: dict[str, tuple[tuple, tuple]] = {}
    source = "dirs"
    if catalog is not None:
        found = _read_catalog_file(catalog)
        names, entries, ground, distractors, declared = (found.names, found.entries, found.ground,
                                                         found.distractors, found.declared)
        source = str(catalog)
    if dirs:
        scale = _check_scale(dir_scale, "dir_scale")
        for category, folder in dirs.items():
            check_category_name(category, "a key of dirs")
            if category not in names:
                names.append(category)
            entries.extend((category, p, scale, (), None) for p in _scan_folder(category, folder))
    if not entries:
        raise SimgenError(f"no assets: {source} lists no meshes; add assets or give dirs")

    categories = tuple(Category(i + 1, n, *declared.get(n, ((), ()))) for i, n in enumerate(names))
    ids = {c.name: c.id for c in categories}
    used: set[str] = set()
    assets = []
    for category, path, scale, keypoints, symmetries in entries:
        base_key = f"{category}/{path.stem}"
        key = base_key
        n = 2
        while key in used:
            key = f"{base_key}_{n}"
            n += 1
        used.add(key)
        assets.append(
            Asset(key=key, category=category, category_id=ids[category], path=path, scale=scale, keypoints=keypoints,
                  symmetries=symmetries)
        )
    return Catalog(categories=categories, assets=tuple(assets), ground=ground, distractors=distractors)
