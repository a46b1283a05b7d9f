"""Things with joints: a URDF or MJCF file as plain data, and its links' poses at given joint values.

A model is a tree of links (rigid bodies) joined by joints. :func:`load_articulated` reads the
file into an :class:`ArticulatedModel` (links with their visual geometry, joints with their
kinds and limits, mimic joints with their leaders); :func:`link_poses` gives each link's pose at
joint values the caller chooses, and :func:`draw_configuration` draws such values from a
``numpy.random.Generator``. The pure side never imports bpy; MuJoCo parses both formats and
computes the forward kinematics (imported on first use, so ``import simgen`` stays light).

Conventions:

- Units: metres and radians. A pose is a 4x4 link-to-model transform; the model's frame is its
  root link's (a URDF's root link, an MJCF's world body, named ``world``), so the root link's pose
  is the identity.
- A link's frame is the URDF link frame (the joint's child frame), or the MJCF body frame; never
  the inertial frame.
- A joint value is MuJoCo's ``qpos``: the angle of a revolute or continuous joint, the travel of a
  prismatic one, 0 where the file poses the child (an MJCF joint's ``ref`` shifts that, as in
  MuJoCo). A mimic joint follows its leader: ``multiplier * leader + offset``.
- An MJCF free joint (``<freejoint/>``, ``<joint type="free">``: most legged robots' and animals'
  root) is held where the file puts its body: it is the model's placement, which the scene draws
  for the whole model. A free body that is not the model's main one (a ball beside an arm) stays
  where the file puts it too. Such joints are :attr:`ArticulatedModel.held`, never actuated.
- Geometry that can draw nothing is left out with one warning naming the file and links: a
  primitive of size 0 (pybullet's laikago has toe spheres of radius 0, which MuJoCo refuses); a
  URDF's collision mesh that is missing or of a kind MuJoCo cannot read (rendering never reads
  collision geometry, and a simulation uses each link's visuals' hull).
- A visual's geometry in its link's frame is ``origin @ diag(scale)`` applied to the mesh file's
  own coordinates (for a primitive, ``origin`` is the shape's centre and axes; its ``size`` is
  MuJoCo's, half-sizes). A URDF's visuals are its ``<visual>`` elements; an MJCF's are its geoms
  in groups 0 to 2 (those MuJoCo's viewer draws).

The file is data, not code (docs/explanation/trust-model.md): before MuJoCo reads anything, the
XML is parsed here (no DOCTYPE or entity declarations, at most :data:`MAX_XML_BYTES`) and every
file path it names must lead to a file inside the model file's folder, or, for a URDF's
``package://NAME/...``, inside the folder of package ``NAME`` the caller gives, through no
symbolic link out of it. Every problem is one-line :class:`~simgen.SimgenError` naming the file,
what is wrong and what to do.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import threading
import warnings
import weakref
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from simgen.errors import SimgenError, did_you_mean
from simgen.scene.meshes import MJCF_SUFFIXES, URDF_SUFFIXES, JointDraw

if TYPE_CHECKING:
    import mujoco

MESH_SUFFIXES = (".obj", ".stl", ".msh")
"""The mesh files MuJoCo reads (it has no decoder for .dae, .ply, .glb)."""
MAX_XML_BYTES = 16 << 20
"""The largest URDF or MJCF file (or file an MJCF includes) read: 16 MiB."""
MAX_MESH_BYTES = 1 << 30
"""The largest mesh file a model may name: 1 GiB."""
URDF_JOINTS = ("revolute", "continuous", "prismatic", "fixed")
"""The joint types simgen moves (an MJCF hinge is revolute when limited, else continuous; a slide
is prismatic; a free joint is held where the file puts its body; ball joints are refused for now)."""

JointKind = Literal["revolute", "continuous", "prismatic", "fixed", "free"]
VisualKind = Literal["mesh", "box", "sphere", "cylinder", "capsule", "ellipsoid", "plane"]

_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_ROBOT_TAG = re.compile(r"<robot\b[^>]*?(?<!/)>", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_URDF_COMPILER = '<mujoco><compiler discardvisual="false" fusestatic="false" strippath="false"/></mujoco>'
_FILE_TAGS = {"mesh": "meshdir", "hfield": "meshdir", "skin": "meshdir", "texture": "texturedir"}
_CUBE_FILES = ("file", "fileright", "fileleft", "fileup", "filedown", "filefront", "fileback")
_XACRO = re.compile(r"\$\((?:find|optenv|env|arg|eval|dirname|anon)\b[^)]*\)?|\$\{[^}]*\}?|<xacro:[\w.-]+")
"""What xacro fills in (substitution args, properties, macros): left in a file, it was never expanded."""
_MUJOCO_FIX = "fix the file there (simgen reads a model as MuJoCo {} does)"

log = logging.getLogger(__name__)
_warned: set[tuple[Path, str]] = set()


def _warn_once(p: Path, message: str, notes: list[str]) -> None:
    """``message`` into ``notes`` (the model's), and one warning per file and message in a process."""
    notes.append(message)
    if (p, message) not in _warned:
        _warned.add((p, message))
        log.warning("%s: %s", p, message)


@dataclass(frozen=True, eq=False)
class Visual:
    """One piece of a link's visible geometry: a mesh file or a primitive shape."""

    name: str
    kind: VisualKind
    origin: np.ndarray
    """4x4 visual-to-link transform (the mesh file's coordinates, or the primitive's centre and axes)."""
    mesh: Path | None = None
    """The mesh file (resolved, inside the model's folder or a package folder); None for a primitive."""
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """Per-axis scale of the mesh file's coordinates, applied before ``origin``."""
    size: tuple[float, ...] = ()
    """A primitive's MuJoCo size (half-sizes): box (x, y, z) half-extents; sphere (radius,);
    cylinder and capsule (radius, half-length of the straight part); ellipsoid semi-axes; plane
    (half-x, half-y, grid spacing; 0 is infinite). Empty for a mesh."""


@dataclass(frozen=True, eq=False)
class Link:
    """A rigid body of the model."""

    name: str
    parent: str | None
    """The link it hangs from (None for the root link)."""
    visuals: tuple[Visual, ...] = ()


@dataclass(frozen=True)
class Joint:
    """A joint between two links. A body of an MJCF file may have several joints in a row; then
    each names the same parent and child."""

    name: str
    kind: JointKind
    """``free``: an MJCF free joint, held where the file puts its body (never actuated)."""
    parent: str
    child: str
    lower: float | None = None
    """Lower limit (radians or metres); None where the joint is unlimited (continuous, or an
    unlimited MJCF slide) or fixed."""
    upper: float | None = None
    mimic: tuple[str, float, float] | None = None
    """(leader joint, multiplier, offset) for a joint that follows another; None otherwise."""
    reference: float = 0.0
    """The value at which the file poses the child (0, or an MJCF joint's ``ref``)."""


@dataclass(frozen=True, eq=False)
class ArticulatedModel:
    """A URDF or MJCF file as plain data (see the module doc); equal only to itself."""

    path: Path
    format: Literal["urdf", "mjcf"]
    name: str
    root: str
    """The root link's name: its frame is the model's."""
    links: tuple[Link, ...]
    joints: tuple[Joint, ...]
    package_dirs: tuple[Path, ...] = ()
    """The package folders a URDF's ``package://`` paths were looked up in."""
    notes: tuple[str, ...] = ()
    """What the file holds that simgen left out, one line each (geometry of size 0, collision meshes
    it cannot read), each also warned of once per process when the file is read."""

    @property
    def actuated(self) -> tuple[Joint, ...]:
        """The joints whose values a configuration gives: neither fixed, free nor mimic followers."""
        return tuple(j for j in self.joints if j.kind not in ("fixed", "free") and j.mimic is None)

    @property
    def held(self) -> tuple[Joint, ...]:
        """The free joints (MJCF), each held where the file puts its body: the model is placed as a whole."""
        return tuple(j for j in self.joints if j.kind == "free")

    def link(self, name: str) -> Link:
        """The link called ``name`` (KeyError naming the links when there is none)."""
        for link in self.links:
            if link.name == name:
                return link
        raise KeyError(f"{self.path} has no link {name!r} (its links: {', '.join(k.name for k in self.links)})")


@dataclass
class _Kinematics:
    """MuJoCo's compiled mesh-less model of an :class:`ArticulatedModel`, for its poses."""

    model: mujoco.MjModel
    bodies: dict[str, int]
    qpos: dict[str, int]
    """Joint name -> its qpos address."""
    root: int
    followers: list[tuple[int, int, float, float]]
    """(follower address, leader address, multiplier, offset), leaders before their followers."""
    data: mujoco.MjData | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_KINEMATICS: weakref.WeakKeyDictionary[ArticulatedModel, _Kinematics] = weakref.WeakKeyDictionary()
_KINEMATICS_LOCK = threading.Lock()


def load_articulated(path: str | os.PathLike, package_dirs: Sequence[str | os.PathLike] = ()) -> ArticulatedModel:
    """The articulated model of the URDF (``.urdf``) or MJCF (``.xml``, ``.mjcf``) file ``path``,
    its ``package://NAME/...`` paths looked up in ``package_dirs`` (a folder named NAME, or one
    holding NAME/). Checked as the module says, parsed by MuJoCo; cached per file (its resolved
    path, size and modification time) and package folders. One-line SimgenError for anything wrong."""
    p = Path(path).expanduser()
    suffix = p.suffix.lower()
    if suffix not in URDF_SUFFIXES + MJCF_SUFFIXES:
        raise SimgenError(f"{path}: a {suffix or 'suffix-less'} file is not an articulated model simgen reads; "
                          f"use a URDF ({', '.join(URDF_SUFFIXES)}) or MJCF ({', '.join(MJCF_SUFFIXES)}) file")
    if not p.is_file():
        raise SimgenError(f"{path}: no such file")
    p = p.resolve()
    dirs = tuple(Path(d).expanduser().resolve() for d in package_dirs)
    st = p.stat()
    return _load(p, st.st_size, st.st_mtime_ns, dirs)


@functools.lru_cache(maxsize=32)
def _load(p: Path, size: int, mtime: int, package_dirs: tuple[Path, ...]) -> ArticulatedModel:
    if p.suffix.lower() in URDF_SUFFIXES:
        model, kin = _load_urdf(p, package_dirs)
    else:
        model, kin = _load_mjcf(p)
    with _KINEMATICS_LOCK:
        _KINEMATICS[model] = kin
    return model


# ------------------------------------------------------------------ the file's checks


def _read_xml(file: Path, model: Path, check: Any = None) -> tuple[str, ET.Element]:
    """The text and root element of the XML ``file`` (the model ``model`` or a file it includes);
    ``check`` (if given) sees the text before it is parsed."""
    size = file.stat().st_size
    if size > MAX_XML_BYTES:
        raise SimgenError(f"{file}: {size / 2**20:.1f} MiB, more than simgen reads of a model file "
                          f"({MAX_XML_BYTES / 2**20:.0f} MiB); give a model file (or split what it holds)")
    data = file.read_bytes()
    if _DTD.search(data):
        raise SimgenError(f"{file}: it declares a DOCTYPE or entities, which simgen refuses in a model file "
                          "(an XML bomb can hide there); remove the declaration")
    try:
        text = data.decode("utf-8-sig")
        if check is not None:
            check(text)
        return text, ET.fromstring(text)
    except (UnicodeDecodeError, ET.ParseError) as e:
        where = "" if file == model else f" (included by {model})"
        raise SimgenError(f"{file}{where}: not readable as XML ({e}); fix the XML there (and give a URDF or MJCF "
                          "file)") from None


def _confined(model: Path, root: Path, text: str, what: str, base: Path | None = None) -> Path:
    """The file ``text`` names relative to the folder ``base`` (default ``root``), which must stay
    inside the folder ``root`` (resolved)."""
    if "\x00" in text or not text.strip():
        raise SimgenError(f"{model}: {what} names the path {text!r}, which is not a file name; fix the model file")
    if _SCHEME.match(text) or os.path.isabs(text) or text.startswith("\\"):
        raise SimgenError(f"{model}: {what} names the path {text[:200]!r}, which is absolute; a model's files are "
                          f"named relative to its folder ({root}) or as package://NAME/...")
    target = Path(os.path.realpath((base or root) / text))
    if not target.is_relative_to(root):
        raise SimgenError(f"{model}: {what} names the path {text[:200]!r}, which leads out of {root} (to {target}); "
                          "a model's files must stay inside its folder: move them in")
    return target


def _package(model: Path, text: str, package_dirs: tuple[Path, ...], what: str) -> Path:
    """The file a ``package://NAME/rest`` path names, inside package NAME's folder."""
    name, _, rest = text[len("package://"):].partition("/")
    if name in (".", "..") or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise SimgenError(f"{model}: {what} names {text[:200]!r}, whose package name {name!r} is not a plain "
                          "folder name (letters, digits, '_', '-', '.'); fix the model file")
    for d in package_dirs:
        root = d if d.name == name else d / name
        if name and root.is_dir():
            return _confined(model, root.resolve(), rest, what)
    searched = ", ".join(str(d) for d in package_dirs) or "none given"
    raise SimgenError(f"{model}: {what} names {text[:200]!r}, but no package folder holds the package {name!r} "
                      f"(searched: {searched}); pass its folder (or the one holding it) in package_dirs")


def _mesh_file(model: Path, path: Path, what: str) -> Path:
    """``path`` as a mesh MuJoCo reads: it exists, is of a kind MuJoCo reads, and is not huge."""
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise SimgenError(f"{model}: {what} is the mesh {path.name} ({path.suffix or 'no suffix'}), which MuJoCo "
                          f"cannot read; convert it to {' or '.join(MESH_SUFFIXES)}")
    _existing(model, path, what)
    size = path.stat().st_size
    if size > MAX_MESH_BYTES:
        raise SimgenError(f"{model}: {what} is the mesh {path} of {size / 2**20:.0f} MiB, more than simgen reads "
                          f"({MAX_MESH_BYTES / 2**20:.0f} MiB); decimate it")
    return path


def _existing(model: Path, path: Path, what: str) -> Path:
    if not path.is_file():
        raise SimgenError(f"{model}: {what} names {path}, which does not exist; fix the path or add the file")
    return path


def _float(model: Path, el: ET.Element, attr: str, what: str, default: float | None = None) -> float | None:
    value = el.get(attr)
    if value is None:
        return default
    try:
        x = float(value)
    except ValueError:
        x = math.nan
    if not math.isfinite(x):
        raise SimgenError(f"{model}: {what} has {attr}={value!r}, not a finite number; fix the model file")
    return x


# ------------------------------------------------------------------ URDF


@dataclass
class _UrdfFile:
    links: list[str]
    parent: dict[str, str]
    joints: list[Joint]
    meshes: dict[str, Path]
    """The mesh filename text -> its file."""
    skipped: set[str] = field(default_factory=set)
    """The filename texts of collision meshes left out (missing, or of a kind MuJoCo cannot read)."""


def _check_urdf(p: Path, root: ET.Element, package_dirs: tuple[Path, ...], notes: list[str]) -> _UrdfFile:
    if root.tag != "robot":
        raise SimgenError(f"{p}: its root element is <{root.tag}>, not <robot>; give a URDF file (or name an MJCF "
                          "file .xml)")
    _check_numbers(p, root)
    links = [el.get("name", "") for el in root.findall("link")]
    if not links:
        raise SimgenError(f"{p}: it defines no <link> (a deformable or empty model?); simgen renders a robot made of "
                          "rigid links: give it <link> elements")
    seen: set[str] = set()
    for name in links:
        if not name or name in seen:
            raise SimgenError(f"{p}: a link is {'unnamed' if not name else f'named {name!r} twice'}; "
                              "each URDF link needs a name of its own")
        seen.add(name)
    joints: list[Joint] = []
    parent: dict[str, str] = {}
    names: set[str] = set()
    for el in root.findall("joint"):
        name, kind = el.get("name", ""), el.get("type", "")
        what = f"joint {name!r}"
        if not name or name in names:
            raise SimgenError(f"{p}: a joint is {'unnamed' if not name else f'named {name!r} twice'}; "
                              "each URDF joint needs a name of its own")
        names.add(name)
        if kind not in URDF_JOINTS:
            hint = "simgen does not move floating or planar joints yet" if kind in ("floating", "planar") else \
                f"the unknown type {kind!r}"
            raise SimgenError(f"{p}: {what} has {hint}; make it one of {', '.join(URDF_JOINTS)}")
        ends = []
        for end in ("parent", "child"):
            e = el.find(end)
            link = e.get("link", "") if e is not None else ""
            if link not in seen:
                raise SimgenError(f"{p}: {what} names the {end} link {link!r}, which the file does not define "
                                  f"{did_you_mean(link, links)}".rstrip())
            ends.append(link)
        par, child = ends
        if child in parent:
            raise SimgenError(f"{p}: the link {child!r} has two parents ({parent[child]!r} and {par!r}); "
                              "a URDF is a tree: each link hangs from one joint")
        parent[child] = par
        lower = upper = None
        if kind in ("revolute", "prismatic"):
            lim = el.find("limit")
            if lim is None or lim.get("lower") is None and lim.get("upper") is None:
                raise SimgenError(f"{p}: {what} is {kind} without <limit lower=... upper=...>; give its limits "
                                  "(or make it continuous)")
            lower = _float(p, lim, "lower", what, 0.0)
            upper = _float(p, lim, "upper", what, 0.0)
            if lower > upper:
                raise SimgenError(f"{p}: {what} has its limits reversed (lower {lower} > upper {upper}); swap them")
        mimic = None
        m = el.find("mimic")
        if m is not None and kind != "fixed":
            mimic = (m.get("joint", ""), _float(p, m, "multiplier", what, 1.0), _float(p, m, "offset", what, 0.0))
        joints.append(Joint(name=name, kind=kind, parent=par, child=child, lower=lower, upper=upper, mimic=mimic))
    roots = [name for name in links if name not in parent]
    if len(roots) != 1:
        if not roots:
            raise SimgenError(f"{p}: its kinematic tree has a loop (every link has a parent: "
                              f"{_loop(parent, links[0])}); a URDF is a tree with one root link")
        raise SimgenError(f"{p}: it has {len(roots)} root links ({', '.join(roots[:6])}); a URDF is one tree: "
                          "join them with joints")
    for link in links:
        trail = [link]
        while trail[-1] in parent:
            trail.append(parent[trail[-1]])
            if trail[-1] == link or len(trail) > len(links):
                raise SimgenError(f"{p}: its kinematic tree has a loop ({_loop(parent, link)}); a URDF is a tree: "
                                  "remove a joint of the loop")
    by_name = {j.name: j for j in joints}
    for j in joints:
        if j.mimic is not None and (j.mimic[0] not in by_name or by_name[j.mimic[0]].kind == "fixed"):
            raise SimgenError(f"{p}: joint {j.name!r} mimics {j.mimic[0]!r}, which is no moving joint of the file; "
                              "fix the <mimic joint=...>")
    _mimic_order(p, joints)
    meshes: dict[str, Path] = {}
    skipped: dict[str, tuple[str, str]] = {}
    """A collision mesh's filename text -> (its link, why it is left out)."""
    for part in ("visual", "collision"):  # the visuals first: a file both name must be there
        for link in root.findall("link"):
            for i, el in enumerate(link.findall(part)):
                what = f"link {link.get('name')!r} {part} {i}"
                for mesh in el.iter("mesh"):
                    text = mesh.get("filename")
                    if text is None:
                        if part == "collision":
                            skipped.setdefault("", (link.get("name"), f"{what} has a <mesh> without a filename"))
                            continue
                        raise SimgenError(f"{p}: {what} has a <mesh> without a filename; name its file")
                    if text in meshes or text in skipped:
                        continue
                    try:
                        meshes[text] = _mesh_file(p, _urdf_path(p, text, package_dirs, what), what)
                    except SimgenError as e:
                        if part == "visual":
                            raise
                        skipped[text] = (link.get("name"), str(e).removeprefix(f"{p}: ").split("; ")[0])
                if part == "visual":
                    for tex in el.iter("texture"):
                        if tex.get("filename") is not None:
                            _existing(p, _urdf_path(p, tex.get("filename"), package_dirs, what), what)
    if skipped:
        names = sorted({link for link, _ in skipped.values()}, key=links.index)
        _warn_once(p, f"left out {len(skipped)} collision mesh{'es' if len(skipped) > 1 else ''} it cannot read "
                      f"(of link{'s' if len(names) > 1 else ''} {', '.join(map(repr, names[:6]))}"
                      f"{', ...' if len(names) > 6 else ''}; the first: {next(iter(skipped.values()))[1]}): rendering "
                      "never reads collision geometry, and a simulation uses each link's visuals' hull; fix the paths "
                      "to silence this", notes)
    for mat in root.findall("material"):
        for tex in mat.iter("texture"):
            if tex.get("filename") is not None:
                what = f"material {mat.get('name')!r}"
                _existing(p, _urdf_path(p, tex.get("filename"), package_dirs, what), what)
    return _UrdfFile(links=links, parent=parent, joints=joints, meshes=meshes, skipped=set(skipped))


def _check_xacro(p: Path, text: str) -> None:
    """A URDF still holding what xacro fills in (``$(find ...)``, ``$(optenv ...)``, ``${...}``,
    ``<xacro:...>``, outside comments) was never expanded: one line naming the first and the fix."""
    comments = [c.span() for c in _COMMENT.finditer(text)]
    for m in _XACRO.finditer(text):
        if not any(a <= m.start() < b for a, b in comments):
            line = text.count("\n", 0, m.start()) + 1
            raise SimgenError(f"{p}: it is a xacro file never expanded ({m.group()[:60]!r} on line {line} is xacro's "
                              f"to fill in); run xacro first (pip install xacro; xacro {p.name} > {p.stem}.expanded.urdf)"
                              " and load the file it writes")


def _check_numbers(p: Path, root: ET.Element) -> None:
    """Numbers in a URDF's attributes are separated by spaces: a comma is one line naming where."""
    for el in [*root.findall("link"), *root.findall("joint")]:
        for sub in el.iter():
            for attr in ("xyz", "rpy", "size", "scale", "rgba"):
                value = sub.get(attr)
                if value is not None and "," in value:
                    raise SimgenError(f"{p}: {el.tag} {el.get('name')!r} has <{sub.tag} {attr}={value!r}>, numbers "
                                      "separated by commas; URDF separates them with spaces: remove the commas")


def _urdf_path(p: Path, text: str, package_dirs: tuple[Path, ...], what: str) -> Path:
    if text.startswith("package://"):
        return _package(p, text, package_dirs, what)
    return _confined(p, p.parent, text, what)


def _loop(parent: dict[str, str], start: str) -> str:
    trail, link = [start], start
    while link in parent and parent[link] not in trail:
        link = parent[link]
        trail.append(link)
    if link in parent:
        trail = trail[trail.index(parent[link]):] + [parent[link]]
    return " <- ".join(trail[:12])


def _mimic_order(p: Path, joints: list[Joint]) -> list[Joint]:
    """The mimic followers, each after its leader's own leader (one-line SimgenError for a loop)."""
    by_name = {j.name: j for j in joints}
    order: list[Joint] = []
    for j in joints:
        chain: list[Joint] = []
        while j.mimic is not None and j not in order:
            if j in chain:
                raise SimgenError(f"{p}: its mimic joints follow each other in a loop "
                                  f"({' -> '.join(c.name for c in chain)}); make one of them a leader")
            chain.append(j)
            j = by_name[j.mimic[0]]
        order.extend(reversed(chain))
    return order


def _load_urdf(p: Path, package_dirs: tuple[Path, ...]) -> tuple[ArticulatedModel, _Kinematics]:
    import mujoco

    text, root = _read_xml(p, p, check=lambda t: _check_xacro(p, t))
    notes: list[str] = []
    urdf = _check_urdf(p, root, package_dirs, notes)
    comments = [c.span() for c in _COMMENT.finditer(text)]
    match = next((r for r in _ROBOT_TAG.finditer(text) if not any(a <= r.start() < b for a, b in comments)), None)
    if match is None:
        raise SimgenError(f"{p}: no <robot> element found; give a URDF file (its root element <robot>)")
    text = text[:match.end()] + _URDF_COMPILER + text[match.end():]
    spec = _parse(p, lambda: mujoco.MjSpec.from_string(text))
    files = {}
    for mesh in spec.meshes:
        if mesh.file in urdf.skipped:
            continue
        if mesh.file not in urdf.meshes:
            raise SimgenError(f"{p}: MuJoCo names the mesh file {mesh.file!r}, which no <mesh> of the file names "
                              "(does a <mujoco> element of the file set strippath?); remove its <mujoco> element")
        files[mesh.name] = (urdf.meshes[mesh.file], tuple(float(s) for s in mesh.scale))
    top = next(n for n in urdf.links if n not in urdf.parent)
    kin, links = _compile(p, spec, files, set(urdf.links), root=top, visual=lambda g: g.group == 1 and g.contype == 0,
                          notes=notes)
    kin.followers = _followers(p, kin, _mimic_order(p, urdf.joints))
    parents = {name: urdf.parent.get(name) for name in urdf.links}
    model = ArticulatedModel(
        path=p, format="urdf", name=root.get("name", p.stem), root=top,
        links=tuple(Link(name=n, parent=parents[n], visuals=links.get(n, ())) for n in urdf.links),
        joints=tuple(urdf.joints), package_dirs=package_dirs, notes=tuple(notes))
    return model, kin


# ------------------------------------------------------------------ MJCF


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _check_mjcf(p: Path) -> None:
    """Every file the MJCF ``p`` (and what it includes) names: inside its folder, existing."""
    folder = p.parent
    dirs = {"meshdir": folder, "texturedir": folder}
    pending, seen = [p], {p}
    elements: list[tuple[Path, ET.Element]] = []
    while pending:
        file = pending.pop()
        _, root = _read_xml(file, p)
        if file == p and root.tag != "mujoco":
            raise SimgenError(f"{p}: its root element is <{root.tag}>, not <mujoco>; give an MJCF file (or name a "
                              "URDF file .urdf)")
        for el in root.iter():
            if el.tag == "include":
                inc = _existing(p, _confined(p, folder, el.get("file", ""), "an <include>"), "an <include>")
                if inc in seen:
                    raise SimgenError(f"{p}: {inc} is included twice (or includes itself); include each file once")
                seen.add(inc)
                pending.append(inc)
            elif el.tag == "joint" and len(r := el.get("range", "").split()) == 2:
                lo, hi = (_number(x) for x in r)
                if lo > hi:
                    raise SimgenError(f"{p}: joint {el.get('name', '(a default)')!r} has its range reversed "
                                      f"({r[0]} > {r[1]}); swap them")
            elif el.tag == "compiler":
                for attr in ("assetdir", "meshdir", "texturedir"):
                    if el.get(attr) is not None:
                        d = _confined(p, folder, el.get(attr), f"<compiler {attr}>")
                        for key in (("meshdir", "texturedir") if attr == "assetdir" else (attr,)):
                            if attr == "assetdir" and el.get(key) is not None:
                                continue
                            dirs[key] = d
            elements.append((file, el))
    for file, el in elements:
        named = [a for a in el.attrib if a in _CUBE_FILES]
        if not named or el.tag in ("include", "compiler"):
            continue
        what = f"<{el.tag} {' '.join(f'{a}={el.get(a)!r}' for a in ('name',) if el.get(a))}>".replace(" >", ">")
        if el.tag not in _FILE_TAGS:
            raise SimgenError(f"{p}: {what} names the file {el.get(named[0])!r}; simgen reads the files of "
                              f"{', '.join(f'<{t}>' for t in _FILE_TAGS)} only: remove it")
        for attr in named:
            path = _confined(p, folder, el.get(attr), what, base=dirs[_FILE_TAGS[el.tag]])
            if el.tag == "mesh":
                _mesh_file(p, path, what)
            else:
                _existing(p, path, what)


def _load_mjcf(p: Path) -> tuple[ArticulatedModel, _Kinematics]:
    import mujoco

    _check_mjcf(p)
    spec = _parse(p, lambda: mujoco.MjSpec.from_file(str(p)))
    meshdir = Path(os.path.realpath(p.parent / spec.meshdir)) if spec.meshdir else p.parent
    files = {}
    for mesh in spec.meshes:
        if not mesh.file:
            raise SimgenError(f"{p}: the mesh {mesh.name!r} gives its vertices in the file itself, which simgen does "
                              "not render yet; save it as an .obj and name that")
        what = f"<mesh name={mesh.name!r}>"
        path = _mesh_file(p, _confined(p, p.parent, mesh.file, what, base=meshdir), what)
        files[mesh.name] = (path, tuple(float(s) for s in mesh.scale))
    for geom in spec.geoms:
        if int(geom.type) in (int(mujoco.mjtGeom.mjGEOM_HFIELD), int(mujoco.mjtGeom.mjGEOM_SDF)):
            raise SimgenError(f"{p}: the geom {geom.name or geom.id!r} is a {_geom_kind(geom.type)}, which simgen "
                              "does not render yet; remove it or use a mesh")
    notes: list[str] = []
    kin, links = _compile(p, spec, files, None, root="world", visual=lambda g: 0 <= g.group <= 2, notes=notes)
    m = kin.model
    joints = []
    names = {j: m.joint(j).name or f"joint{j}" for j in range(m.njnt)}
    kin.qpos = {names[j]: int(m.jnt_qposadr[j]) for j in range(m.njnt)}
    mimic: dict[int, tuple[str, float, float]] = {}
    for e in range(m.neq):
        if int(m.eq_type[e]) != int(mujoco.mjtEq.mjEQ_JOINT) or not m.eq_active0[e] or m.eq_obj2id[e] < 0:
            continue
        a, b = int(m.eq_obj1id[e]), int(m.eq_obj2id[e])
        c = m.eq_data[e, :5]
        if np.any(c[2:] != 0):
            raise SimgenError(f"{p}: joint {names[a]!r} follows {names[b]!r} by a polynomial of degree > 1, which "
                              "simgen does not follow yet; make it linear")
        y0, x0 = m.qpos0[m.jnt_qposadr[a]], m.qpos0[m.jnt_qposadr[b]]
        mimic[a] = (names[b], float(c[1]), float(y0 + c[0] - c[1] * x0))
    for j in range(m.njnt):
        t = mujoco.mjtJoint(int(m.jnt_type[j]))
        body = int(m.jnt_bodyid[j])
        if t == mujoco.mjtJoint.mjJNT_FREE:  # held where the file puts its body: the scene places the model
            joints.append(Joint(name=names[j], kind="free", parent=_body_name(m, int(m.body_parentid[body])),
                                child=_body_name(m, body)))
            continue
        if t == mujoco.mjtJoint.mjJNT_BALL:
            raise SimgenError(f"{p}: joint {names[j]!r} is a ball joint, which simgen does not move yet; "
                              "take it out, or make it three hinges")
        limited = bool(m.jnt_limited[j])
        lo, hi = (float(v) for v in m.jnt_range[j]) if limited else (None, None)
        if limited and lo > hi:
            raise SimgenError(f"{p}: joint {names[j]!r} has its range reversed ({lo} > {hi}); swap them")
        kind = ("revolute" if limited else "continuous") if t == mujoco.mjtJoint.mjJNT_HINGE else "prismatic"
        joints.append(Joint(name=names[j], kind=kind, parent=_body_name(m, int(m.body_parentid[body])),
                            child=_body_name(m, body), lower=lo, upper=hi, mimic=mimic.get(j),
                            reference=float(m.qpos0[m.jnt_qposadr[j]])))
    kin.followers = _followers(p, kin, _mimic_order(p, joints))
    model = ArticulatedModel(
        path=p, format="mjcf", name=spec.modelname or p.stem, root="world",
        links=tuple(Link(name=_body_name(m, b), parent=None if b == 0 else _body_name(m, int(m.body_parentid[b])),
                         visuals=links.get(_body_name(m, b), ())) for b in range(m.nbody)),
        joints=tuple(joints), notes=tuple(notes))
    return model, kin


def _body_name(m: mujoco.MjModel, b: int) -> str:
    return m.body(b).name or f"body{b}"


# ------------------------------------------------------------------ MuJoCo


def _mujoco_version() -> str:
    import mujoco

    return mujoco.__version__


def _parse(p: Path, parse: Any) -> Any:
    try:
        return parse()
    except Exception as e:  # MuJoCo raises ValueError with several lines
        raise SimgenError(f"{p}: MuJoCo cannot read it ({' '.join(str(e).split())[:400]}); "
                          f"{_MUJOCO_FIX.format(_mujoco_version())}") from None


_SIZES = {"mjGEOM_SPHERE": 1, "mjGEOM_CAPSULE": 2, "mjGEOM_CYLINDER": 2, "mjGEOM_BOX": 3, "mjGEOM_ELLIPSOID": 3}
"""How many of a primitive's sizes must be positive (one less with ``fromto``, which gives the length)."""


def _leave_out_empty(p: Path, spec: Any, notes: list[str]) -> None:
    """Delete from ``spec`` every primitive geom of size 0 (it draws nothing, and MuJoCo refuses it
    without naming its body), with one warning naming the file and their bodies."""
    empty: list[str] = []
    for g in list(spec.geoms):
        n = _SIZES.get(getattr(g.type, "name", ""), 0)
        if not n or g.meshname:  # a primitive fitted to a mesh gets its size from the mesh
            continue
        if not math.isnan(g.fromto[0]):
            n = 1 if n < 3 else 2
        if any(float(x) == 0.0 for x in g.size[:n]):
            empty.append(g.parent.name or "the world body" if g.parent is not None else "?")
            spec.delete(g)
    if empty:
        links = sorted(set(empty), key=empty.index)
        _warn_once(p, f"left out {len(empty)} geometr{'ies' if len(empty) > 1 else 'y'} of size 0, which draw nothing "
                      f"(link{'s' if len(links) > 1 else ''} {', '.join(map(repr, links[:8]))}"
                      f"{', ...' if len(links) > 8 else ''}); give {'them' if len(empty) > 1 else 'it'} a size to "
                      "see them", notes)


_KINDS = {"mjGEOM_MESH": "mesh", "mjGEOM_BOX": "box", "mjGEOM_SPHERE": "sphere", "mjGEOM_CYLINDER": "cylinder",
          "mjGEOM_CAPSULE": "capsule", "mjGEOM_ELLIPSOID": "ellipsoid", "mjGEOM_PLANE": "plane",
          "mjGEOM_HFIELD": "height field", "mjGEOM_SDF": "signed distance field"}


def _geom_kind(t: Any) -> str:
    return _KINDS.get(getattr(t, "name", str(t)), str(t))


def _compile(p: Path, spec: Any, files: dict[str, tuple[Path, tuple[float, ...]]], links: set[str] | None,
             root: str, visual: Any, notes: list[str]) -> tuple[_Kinematics, dict[str, tuple[Visual, ...]]]:
    """Compile ``spec`` without its meshes, textures and materials (each mesh geom stands in as a
    small sphere at the mesh file's frame) and read the visuals of the bodies ``links`` names (None: all)."""
    import mujoco

    _leave_out_empty(p, spec, notes)
    marks = []
    for g in spec.geoms:
        mesh = g.meshname if g.type == mujoco.mjtGeom.mjGEOM_MESH else None
        shown = bool(visual(g))
        if mesh is not None and mesh not in files and (shown or mesh not in {m.name for m in spec.meshes}):
            raise SimgenError(f"{p}: the geom {g.name or g.id!r} names the mesh {mesh!r}, which the file does not "
                              "define; define it in <asset> or fix the name")
        marks.append((g.name, mesh, shown))
        g.material = ""
        if mesh is not None:
            g.type, g.meshname = mujoco.mjtGeom.mjGEOM_SPHERE, ""
            g.size = np.array([1e-3, 0.0, 0.0])
    for s in spec.sites:
        s.material = ""
    for items in (spec.meshes, spec.skins, spec.materials, spec.textures, spec.hfields):
        for item in list(items):
            spec.delete(item)
    spec.compiler.balanceinertia = True
    spec.compiler.boundmass = 1e-6
    spec.compiler.boundinertia = 1e-9
    try:
        with warnings.catch_warnings():  # MuJoCo's notes on masses and options: nothing to the kinematics
            warnings.simplefilter("ignore", UserWarning)
            m = spec.compile()
    except Exception as e:
        raise SimgenError(f"{p}: MuJoCo cannot compile it ({' '.join(str(e).split())[:400]}); "
                          f"{_MUJOCO_FIX.format(_mujoco_version())}") from None
    bodies = {_body_name(m, b): b for b in range(m.nbody)}
    if root not in bodies:
        raise SimgenError(f"{p}: MuJoCo made no body of its root link {root!r}; report this")
    visuals: dict[str, list[Visual]] = {}
    for g, (name, mesh, shown) in enumerate(marks):
        body = _body_name(m, int(m.geom_bodyid[g]))
        if not shown or (links is not None and body not in links):
            continue
        origin = np.eye(4)
        origin[:3, :3] = _quat_matrix(m.geom_quat[g])
        origin[:3, 3] = m.geom_pos[g]
        label = name or f"{body}:{len(visuals.get(body, ()))}"
        if mesh is not None:
            path, scale = files[mesh]
            v = Visual(name=label, kind="mesh", origin=origin, mesh=path, scale=scale)
        else:
            kind = _geom_kind(mujoco.mjtGeom(int(m.geom_type[g])))
            n = {"sphere": 1, "cylinder": 2, "capsule": 2}.get(kind, 3)
            v = Visual(name=label, kind=kind, origin=origin, size=tuple(float(s) for s in m.geom_size[g][:n]))
        visuals.setdefault(body, []).append(v)
    kin = _Kinematics(model=m, bodies=bodies, qpos={m.joint(j).name: int(m.jnt_qposadr[j]) for j in range(m.njnt)},
                      root=bodies[root], followers=[])
    return kin, {k: tuple(v) for k, v in visuals.items()}


def _followers(p: Path, kin: _Kinematics, followers: list[Joint]) -> list[tuple[int, int, float, float]]:
    out = []
    for j in followers:
        if j.name not in kin.qpos or j.mimic[0] not in kin.qpos:
            raise SimgenError(f"{p}: MuJoCo made no joint of {j.name!r} or {j.mimic[0]!r}; report this")
        out.append((kin.qpos[j.name], kin.qpos[j.mimic[0]], j.mimic[1], j.mimic[2]))
    return out


def _quat_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = np.asarray(q, float) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def _kinematics(model: ArticulatedModel) -> _Kinematics:
    with _KINEMATICS_LOCK:
        kin = _KINEMATICS.get(model)
    if kin is None:  # a model carried to another process: compile its file again
        fresh = load_articulated(model.path, model.package_dirs)
        with _KINEMATICS_LOCK:
            kin = _KINEMATICS[model] = _KINEMATICS[fresh]
    return kin


# ------------------------------------------------------------------ poses and draws


def link_poses(model: ArticulatedModel, q: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Each link's 4x4 link-to-model pose (the root link's is the identity) at the joint values
    ``q`` of actuated joints (:attr:`ArticulatedModel.actuated`). A joint ``q`` does not name sits at
    its reference value (0, or an MJCF joint's ``ref``), moved to its nearest limit where that lies
    outside its limits; a mimic follower is ``multiplier * leader + offset``. ValueError for a name
    that is no actuated joint, a value that is not finite, or one outside its joint's limits.
    Forward kinematics by MuJoCo on the model's cached mesh-less compiled model."""
    import mujoco

    kin = _kinematics(model)
    actuated = {j.name: j for j in model.actuated}
    qpos = kin.model.qpos0.copy()
    for j in actuated.values():
        if j.lower is not None:
            qpos[kin.qpos[j.name]] = min(max(j.reference, j.lower), j.upper)
    for name, value in q.items():
        j = actuated.get(name)
        if j is None:
            follows = next((k.mimic[0] for k in model.joints if k.name == name and k.mimic), None)
            why = f"it follows {follows!r}: give that" if follows else \
                f"{model.path.name} has no such actuated joint {did_you_mean(name, list(actuated))}".rstrip()
            raise ValueError(f"{model.path}: joint value for {name!r}: {why}")
        x = float(value)
        if not math.isfinite(x):
            raise ValueError(f"{model.path}: joint {name!r} = {value!r} is not finite")
        if j.lower is not None and not j.lower <= x <= j.upper:
            raise ValueError(f"{model.path}: joint {name!r} = {x} is outside its limits [{j.lower}, {j.upper}]")
        qpos[kin.qpos[name]] = x
    for follower, leader, multiplier, offset in kin.followers:
        qpos[follower] = multiplier * qpos[leader] + offset
    with kin.lock:
        if kin.data is None:
            kin.data = mujoco.MjData(kin.model)
        kin.data.qpos[:] = qpos
        mujoco.mj_kinematics(kin.model, kin.data)
        rot, pos = kin.data.xmat.reshape(-1, 3, 3).copy(), kin.data.xpos.copy()
    world = np.zeros((len(pos), 4, 4))
    world[:, :3, :3], world[:, :3, 3], world[:, 3, 3] = rot, pos, 1.0
    if kin.root != 0:
        world = np.linalg.inv(world[kin.root]) @ world
    poses = {link.name: world[kin.bodies[link.name]] for link in model.links}
    poses[model.root] = np.eye(4)
    return poses


MAX_TRAJECTORY_BYTES = 64 << 20
"""Largest trajectory file simgen reads (a million rows of a 7-joint arm is about 60 MB)."""


def read_trajectory(path: Path) -> tuple[tuple[str, ...], np.ndarray]:
    """The joint names (its header) and the (rows, joints) float64 values of a trajectory CSV file,
    read once per file and modification (do not mutate the array). One-line SimgenError for a
    file that is too large, not UTF-8, has no rows, a repeated or empty name, a row of another
    length, or a value that is not a finite number."""
    st = Path(path).stat()
    return _read_trajectory(Path(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _read_trajectory(path: Path, size: int, mtime: int) -> tuple[tuple[str, ...], np.ndarray]:
    import csv

    what = f"trajectory {path}"
    if size > MAX_TRAJECTORY_BYTES:
        raise SimgenError(f"{what}: {size} bytes, more than the {MAX_TRAJECTORY_BYTES} simgen reads; shorten it")
    try:
        rows = [r for r in csv.reader(path.read_text(encoding="utf-8").splitlines()) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise SimgenError(f"{what}: cannot be read as CSV ({' '.join(str(e).split())}); give a UTF-8 CSV file") from None
    if len(rows) < 2:
        raise SimgenError(f"{what}: needs a header of joint names and at least one row of values")
    names = tuple(c.strip() for c in rows[0])
    if not all(names) or len(set(names)) != len(names):
        raise SimgenError(f"{what}: its header must name each joint once, got {list(names)}")
    values = np.empty((len(rows) - 1, len(names)))
    for k, row in enumerate(rows[1:]):
        if len(row) != len(names):
            raise SimgenError(f"{what}: row {k + 2} has {len(row)} values for {len(names)} joints")
        try:
            values[k] = [float(c) for c in row]
        except ValueError:
            raise SimgenError(f"{what}: row {k + 2} holds a value that is no number: {row}") from None
    if not np.isfinite(values).all():
        raise SimgenError(f"{what}: row {int(np.flatnonzero(~np.isfinite(values).all(1))[0]) + 2} holds a value "
                          "that is not finite")
    values.flags.writeable = False
    return names, values


def draw_configuration(model: ArticulatedModel, rng: np.random.Generator, draw: JointDraw = JointDraw()
                       ) -> dict[str, float]:
    """A value for each actuated joint, in the order of :attr:`ArticulatedModel.actuated`: uniform
    within its range (its limits, or the first of ``draw.ranges`` whose glob matches it); a
    continuous joint's over [-pi, pi); an unlimited MJCF slide (no range to draw from) at its
    reference value. With ``draw.configurations``, one of them is picked uniformly first and each
    joint it names is drawn within +-``draw.spread`` of its value, clipped to the range. With
    ``draw.trajectory``, a row of it is then drawn uniformly and the joints it names take its
    values. Draws only from ``rng`` (the same state, the same configuration); nothing more than
    without ``draw`` when it is the default. SimgenError (:func:`check_draw`) for a ``draw`` the
    model cannot take."""
    ranges = check_draw(model, draw)
    named: dict[str, float] = {}
    if draw.configurations:
        named = dict(draw.configurations[int(rng.integers(len(draw.configurations)))][1])
    out = {}
    for j in model.actuated:
        lo, hi = ranges[j.name]
        if j.name in named:
            v = named[j.name]
            out[j.name] = float(min(max(rng.uniform(v - draw.spread, v + draw.spread), lo), hi))
        elif lo is not None:
            out[j.name] = float(rng.uniform(lo, hi))
        else:
            out[j.name] = j.reference
    if draw.trajectory is not None:
        names, values = read_trajectory(draw.trajectory)
        out.update(zip(names, values[int(rng.integers(len(values)))].tolist()))
    return out


def check_draw(model: ArticulatedModel, draw: JointDraw) -> dict[str, tuple[float | None, float | None]]:
    """Each actuated joint's range to draw from under ``draw`` ((None, None): held at its reference
    value); one-line SimgenError for a glob that matches no actuated joint, a range outside its
    joint's limits, or a configuration naming no such joint or a value outside its range."""
    import fnmatch

    out: dict[str, tuple[float | None, float | None]] = {}
    for j in model.actuated:
        limits = (-math.pi, math.pi) if j.kind == "continuous" and j.lower is None else (j.lower, j.upper)
        out[j.name] = next(((lo, hi) for glob, lo, hi in draw.ranges if fnmatch.fnmatchcase(j.name, glob)), limits)
        lo, hi = out[j.name]
        if lo is not None and limits[0] is not None and not limits[0] - 1e-12 <= lo <= hi <= limits[1] + 1e-12:
            raise SimgenError(f"{model.path}: joint {j.name!r} is drawn from [{lo}, {hi}], outside its limits "
                              f"[{limits[0]}, {limits[1]}]; narrow its range in the catalog's joints")
        if lo is None and j.name in {g for g, _, _ in draw.ranges}:
            raise SimgenError(f"{model.path}: joint {j.name!r} has no limits to draw a range within; remove it from "
                              "the catalog's joints")
    for glob, _, _ in draw.ranges:
        if not any(fnmatch.fnmatchcase(name, glob) for name in out):
            raise SimgenError(f"{model.path}: the catalog's joints name {glob!r}, which matches no joint that moves "
                              f"({', '.join(out)}); fix the name")
    if draw.trajectory is not None:
        names, values = read_trajectory(draw.trajectory)
        for k, name in enumerate(names):
            if name not in out:
                raise SimgenError(f"trajectory {draw.trajectory}: column {name!r} is no joint of {model.path.name} "
                                  f"that moves {did_you_mean(name, list(out))}".rstrip() + "; fix the header")
            j = next(j for j in model.actuated if j.name == name)
            if j.lower is not None and not (j.lower <= values[:, k].min() and values[:, k].max() <= j.upper):
                row = int(np.flatnonzero((values[:, k] < j.lower) | (values[:, k] > j.upper))[0])
                raise SimgenError(f"trajectory {draw.trajectory}: row {row + 2} puts {name!r} at {values[row, k]}, "
                                  f"outside its limits [{j.lower}, {j.upper}]; fix the value")
    for name, values in draw.configurations:
        for joint, value in values:
            if joint not in out:
                raise SimgenError(f"{model.path}: configuration {name!r} names {joint!r}, no joint that moves "
                                  f"{did_you_mean(joint, list(out))}".rstrip() + "; fix the name")
            lo, hi = out[joint]
            if lo is not None and not lo <= value <= hi:
                raise SimgenError(f"{model.path}: configuration {name!r} puts {joint!r} at {value}, outside its range "
                                  f"[{lo}, {hi}]; fix the value")
    return out
