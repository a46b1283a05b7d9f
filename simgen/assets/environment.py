"""A user's world from a file, as plain data: its parts' geometry, names and tags, its cameras
and lights.

Blender reads the file (:mod:`simgen.blender.environment`), once per file, in a child process
whose output is kept in a cache (:func:`cache_root`, keyed by the file's content); the pure
side (a recipe's samplers, the labels) reads that and never imports bpy. A part is one evaluated
object instance of the file: its mesh in the object's local coordinates
(:class:`~simgen.scene.meshes.EnvironmentMesh`) and its world matrix (Blender's world: Z up,
metres). Importers convert each format's axes to Blender's (glTF and OBJ files are Y up: their
``(x, y, z)`` is Blender's ``(x, -z, y)``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import json
import logging
import os
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simgen.errors import SimgenError
from simgen.assets.library import sha256_of
from simgen.scene.meshes import EnvironmentMesh
from simgen.scene.data import Material, OwnLook

if TYPE_CHECKING:
    import trimesh

log = logging.getLogger(__name__)

SUFFIXES = (".blend", ".glb", ".gltf", ".usd", ".usda", ".usdc", ".usdz", ".fbx", ".obj")
"""The environment files simgen reads (simgen.blender.environment.IMPORTERS)."""
EXTRACTION = 8
"""The version of the extraction's output: a cache written by another is made again."""
MAX_FILE_BYTES = 4 << 30
"""The largest environment file read (4 GiB)."""


def cache_root() -> Path:
    """Where extracted environments are kept: ``$SIMGEN_CACHE/environments``, else
    ``$XDG_CACHE_HOME/simgen/environments`` (``~/.cache/simgen/environments``)."""
    base = os.environ.get("SIMGEN_CACHE")
    if base:
        return Path(base).expanduser() / "environments"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "simgen" / "environments"


def selects(pattern: str, names: tuple[str, ...], collections: tuple[str, ...] = (), materials: tuple[str, ...] = (),
            props: dict[str, Any] | None = None) -> bool:
    """Whether ``pattern`` selects a thing of the file known by ``names``: ``NAME_GLOB``,
    ``collection:GLOB``, ``material:GLOB`` or ``property:KEY`` (a custom property set to a true value)."""
    kind, _, rest = pattern.partition(":")
    if rest and kind == "collection":
        return any(fnmatch.fnmatchcase(c, rest) for c in collections)
    if rest and kind == "material":
        return any(fnmatch.fnmatchcase(m, rest) for m in materials)
    if rest and kind == "property":
        return bool((props or {}).get(rest))
    return any(fnmatch.fnmatchcase(n, pattern) for n in names)


@dataclass(frozen=True)
class Part:
    """One object instance of the environment file."""

    name: str
    mesh: EnvironmentMesh
    matrix: np.ndarray
    """4x4 object-to-world."""
    collections: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    props: dict[str, Any] = field(default_factory=dict)

    def matches(self, pattern: str) -> bool:
        """Whether ``pattern`` selects this part (:func:`selects`: by its name or its object's)."""
        return selects(pattern, (self.name, self.mesh.key), self.collections, self.materials, self.props)


@dataclass(frozen=True)
class Marker:
    """An object of the file hidden from rendering (a mesh or an empty): a box that names a place, a
    volume objects stay in or a region the camera stands in; it renders nothing."""

    name: str
    lo: np.ndarray
    hi: np.ndarray
    """World corners of its bounding box (an empty's: its display cube)."""
    collections: tuple[str, ...] = ()
    props: dict[str, Any] = field(default_factory=dict)

    def matches(self, pattern: str) -> bool:
        """Whether ``pattern`` selects this marker (:func:`selects`; it has no material)."""
        return selects(pattern, (self.name,), self.collections, (), self.props)


ALL_CLIPS = "all"
"""The clip name (scene.animation_clip) that plays every clip of a glTF with several at once, as
Blender's NLA mixes them (a file that splits one motion into a clip per joint, as COLLADA2GLTF
writes them); a file's own clip of that name takes its place."""


@dataclass(frozen=True, eq=False)
class Animation:
    """A scene file's own motion over its frame range (one clip's), as Blender evaluated it when the
    file was read."""

    frames: tuple[int, int]
    """The animation's first and last frame (at most 2000 frames from the first): the saved range of
    a .blend, the start and end time codes of a USD stage, the keyframes of a glTF clip's or an
    FBX's actions."""
    current: int
    """The frame the file was saved at: the one :attr:`Environment.parts` hold."""
    fps: float
    matrices: dict[str, np.ndarray]
    """Part name -> (frames, 4, 4) world matrices of each part that moves, one per frame."""
    deforming: tuple[str, ...] = ()
    """The parts whose geometry changes over the range (an armature's skinning, shape keys, animated
    modifiers) with the same vertices throughout: :meth:`Environment.at` gives their evaluated
    vertices at each frame (:meth:`shape`)."""
    changing: tuple[str, ...] = ()
    """The parts whose vertex count changes over the range (a remesh, a boolean): simgen holds none
    of their frames and refuses to draw or play the animation."""
    shapes: Path | None = None
    """The extraction's ``shapes-<clip>.npz``: each deforming part's (frames, V, 3) float32 local vertices."""
    clip: str | None = None
    """The glTF animation (clip) this is, by name (Blender's importer's: the file's, or ``Anim_<k>``
    for an unnamed one); None: the file's one animation (a .blend, USD, FBX)."""

    @property
    def moves(self) -> bool:
        """Whether anything moves or deforms in it."""
        return bool(self.matrices or self.deforming or self.changing)

    def shape(self, name: str, frame: int) -> np.ndarray:
        """The deforming part ``name``'s (V, 3) local vertices at ``frame``."""
        return _shapes(self.shapes, name)[frame - self.frames[0]].astype(np.float64)


@functools.lru_cache(maxsize=16)
def _shapes(path: Path, name: str) -> np.ndarray:
    with np.load(path) as z:
        return z[name]


AT_FRAMES = 32
"""The frames of an animation :meth:`Environment.at` keeps made (the few in flight: a sequence's steps
and their neighbours; the labels of each read its deforming parts again). Each holds its deforming
parts' vertices with what trimesh computes on them (a 20,800-vertex skinned bar: 0.5 MB a frame in a
run, its vertices; 5.7 MB once its triangles and normals are computed), so keeping every frame played
(it kept 256) grew a played skinned animation's memory by that at each new frame; a frame let go is
made again from the extraction's vertices (:func:`_shapes`) in about 0.3 ms (that bar)."""


@functools.lru_cache(maxsize=AT_FRAMES)
def _at(env: "Environment", frame: int) -> "Environment":
    import trimesh

    a = env.animation
    meshes = dict(env.meshes)
    for key in a.deforming:
        meshes[key] = trimesh.Trimesh(a.shape(key, frame), env.meshes[key].faces, process=False)
    parts = tuple(dataclasses.replace(
        p, matrix=a.matrices[p.name][frame - a.frames[0]] if p.name in a.matrices else p.matrix,
        mesh=dataclasses.replace(p.mesh, frame=frame, clip=a.clip) if p.mesh.key in a.deforming else p.mesh)
        for p in env.parts)
    return dataclasses.replace(env, parts=parts, meshes=meshes)


@functools.lru_cache(maxsize=64)
def _clip(env: "Environment", name: str) -> "Environment":
    for a in (*env.clips, *([env.combined] if env.combined is not None else [])):
        if a.clip == name:
            return dataclasses.replace(env, animation=a if a.moves else None)
    if not env.clips:
        raise SimgenError(f"scene.animation_clip={name}: {env.file} has no named animations (clips are a glTF's "
                          "animations); set scene.animation_clip=null")
    raise SimgenError(f"scene.animation_clip={name}: {env.file} has no animation of that name; its clips: "
                      + env.clip_names())


@dataclass(frozen=True, eq=False)
class Environment:
    """An environment file's parts, cameras and lights (see the module doc); equal only to itself."""

    file: Path
    parts: tuple[Part, ...]
    meshes: dict[str, trimesh.Trimesh]
    """By object name (:attr:`EnvironmentMesh.key`): local vertices and triangles."""
    cameras: tuple[dict[str, Any], ...]
    lights: tuple[dict[str, Any], ...]
    skipped: tuple[str, ...] = ()
    """What the file names and was left out (outside its folder, missing), each with what and why
    (:attr:`simgen.blender.environment.Loaded.skipped`); each is warned of once when it is read."""
    world: bool = False
    """Whether the file has a world shader of its own (a .blend scene's world)."""
    markers: tuple[Marker, ...] = ()
    """Its objects hidden from rendering, as boxes (:class:`Marker`)."""
    animation: Animation | None = None
    """What the file's own animation moves (:class:`Animation`; a glTF's first clip, as Blender's
    importer plays it, or the one :meth:`clip` picks); None: nothing moves in it."""
    clips: tuple[Animation, ...] = ()
    """A glTF's animations (clips), in the order Blender's importer lays them out, the first the one
    it plays; each may move nothing (:attr:`Animation.moves`). (): a file without named clips."""
    combined: Animation | None = None
    """A glTF with several clips: all of them at once (clip :data:`ALL_CLIPS`); None otherwise."""

    def clip(self, name: str | None) -> "Environment":
        """This environment with the glTF clip ``name`` (one of :attr:`clips`, or :data:`ALL_CLIPS`
        for :attr:`combined`) as its animation (None where that clip moves nothing); ``name`` None: as
        it is. One-line SimgenError listing the file's clips where it has none of that name."""
        return self if name is None else _clip(self, name)

    def clip_names(self) -> str:
        """The file's clips for a message: each by name, those that move nothing marked, and
        :data:`ALL_CLIPS` where :attr:`combined` moves."""
        names = [a.clip + ("" if a.moves else " (moves nothing)") for a in self.clips]
        if self.combined is not None and self.combined.moves:
            names.append(f"{ALL_CLIPS} (every clip at once)")
        return ", ".join(names)

    def at(self, frame: int) -> "Environment":
        """This environment with its parts where the file's animation has them at ``frame`` (one of
        :attr:`Animation.frames`; the parts that do not move as they are). SimgenError where the
        file has no animation or ``frame`` lies outside its range."""
        a = self.animation
        if a is None:
            raise SimgenError(f"scene.file={self.file}: nothing moves in it (no keyframes, drivers or armatures "
                              "over its frame range)")
        if not a.frames[0] <= frame <= a.frames[1]:
            raise SimgenError(f"scene.file={self.file}: frame {frame} is outside its animation's range "
                              f"{a.frames[0]}..{a.frames[1]}")
        return _at(self, int(frame))

    def names_nothing(self, key: str, selectors: list[str] | tuple[str, ...]) -> SimgenError:
        """The one line for a setting ``key`` whose ``selectors`` select none of the file's parts."""
        names = ", ".join(p.name for p in self.parts[:12]) + (" ..." if len(self.parts) > 12 else "")
        hidden = f"; hidden from rendering: {', '.join(m.name for m in self.markers[:12])}" if self.markers else ""
        return SimgenError(f"{key}={list(selectors)} names no part of {self.file} (its parts: {names}{hidden})")

    @functools.cached_property
    def bounds(self) -> np.ndarray:
        """(parts, 2, 3): each part's world bounding box (lo, hi corners), in the order of ``parts``."""
        boxes = []
        for p in self.parts:
            v = self.meshes[p.mesh.key].vertices @ p.matrix[:3, :3].T + p.matrix[:3, 3]
            boxes.append((v.min(axis=0), v.max(axis=0)))
        return np.array(boxes, float).reshape(-1, 2, 3)

    def select(self, patterns: list[str] | tuple[str, ...]) -> list[Part]:
        """The parts any of ``patterns`` selects (:meth:`Part.matches`)."""
        return [p for p in self.parts if any(p.matches(q) for q in patterns)]

    def triangles(self, parts: list[Part] | None = None) -> np.ndarray:
        """(T, 3, 3) world-space triangles of ``parts`` (None: every part)."""
        out = []
        for p in self.parts if parts is None else parts:
            m = self.meshes[p.mesh.key]
            v = m.vertices @ p.matrix[:3, :3].T + p.matrix[:3, 3]
            out.append(v[m.faces])
        return np.concatenate(out) if out else np.zeros((0, 3, 3))


FILE_LOOK = Material(base_color=(0.8, 0.8, 0.8), roughness=0.5, metallic=0.0, own=OwnLook())
"""The material of a part that keeps the file's own materials and textures."""


def check_file(file: str | Path) -> Path:
    """The environment file ``file`` (absolute, resolved), or a one-line SimgenError."""
    return _checked(*_state(file))


def _state(file: str | Path) -> tuple[Path, int, int]:
    """``file`` as a path, with its size and modification time (one stat), or a one-line SimgenError
    for a file of another kind or none."""
    p = Path(file).expanduser()
    if p.suffix.lower() not in SUFFIXES:
        raise SimgenError(f"scene.file={file}: a {p.suffix or 'suffix-less'} file is not a scene simgen reads; "
                          f"use one of {', '.join(SUFFIXES)}")
    try:
        st = p.stat()
    except OSError:
        st = None
    if st is None or not stat.S_ISREG(st.st_mode):
        raise SimgenError(f"scene.file={file}: no such file")
    return p, st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=64)
def _checked(p: Path, size: int, mtime: int) -> Path:
    """The rest of :func:`check_file`, once per file as it is (its size and time): every part of every
    frame loads its mesh through it."""
    if size > MAX_FILE_BYTES:
        raise SimgenError(f"scene.file={p}: {size / 2**30:.1f} GiB, more than simgen reads "
                          f"({MAX_FILE_BYTES / 2**30:.0f} GiB); split the scene")
    p = p.resolve()
    if p.suffix.lower() in (".gltf", ".glb"):
        _check_gltf_buffers(p)
    return p


OUTSIDE = "outside the file folder"
MISSING = "missing"


def judge(root: Path, name: str | os.PathLike) -> tuple[Path, str | None]:
    """Where the path ``name``, which a file in the folder ``root`` (resolved) names relative to
    ``root`` (or absolutely), leads (symlinks resolved), and why it cannot be read: :data:`OUTSIDE`
    the folder, :data:`MISSING`, or None for a file inside."""
    f = Path(os.path.realpath(root / name))
    if not f.is_relative_to(root):
        return f, OUTSIDE
    return f, None if f.is_file() else MISSING


def _gltf_json(p: Path) -> dict[str, Any] | None:
    """The JSON of a glTF file (a .glb's first chunk); None when it is not readable as such (the
    importer then says what is wrong)."""
    try:
        with p.open("rb") as f:
            if p.suffix.lower() == ".glb":
                head = f.read(20)
                if len(head) < 20 or head[:4] != b"glTF" or head[16:20] != b"JSON":
                    return None
                text = f.read(int.from_bytes(head[12:16], "little"))
            else:
                text = f.read()
        doc = json.loads(text)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _check_gltf_buffers(p: Path) -> None:
    """A one-line SimgenError for a glTF whose buffer (its geometry's bytes) lies outside the file's
    folder: named by an absolute path or URI, climbing out with ``..`` or leading out through a
    symbolic link, or missing. Its images are judged when Blender has read it (left out, not refused)."""
    from urllib.parse import unquote, urlsplit

    doc = _gltf_json(p)
    buffers = doc.get("buffers") if doc else None
    for buf in buffers if isinstance(buffers, list) else ():
        uri = buf.get("uri") if isinstance(buf, dict) else None
        if not isinstance(uri, str) or uri.startswith("data:"):
            continue  # the .glb's own chunk, or bytes in the file itself
        path = unquote(uri)
        if urlsplit(uri).scheme or os.path.isabs(path) or path.startswith("\\\\"):
            why = "an absolute path; name it relative to the file's folder"
        elif (found := judge(p.parent, path))[1] == OUTSIDE:
            why = f"it leads out of the file's folder (to {found[0]}); keep it inside"
        elif found[1] == MISSING:
            why = "no such file in the file's folder"
        else:
            continue
        raise SimgenError(f"scene.file={p}: its buffer {uri[:200]!r} is refused: {why}")


def load_environment(file: str | Path) -> Environment:
    """The environment of ``file`` (extracted by Blender in a child process on first use, then
    read from the cache; cached in this process too). One-line SimgenError for a file that is
    missing, of an unsupported kind, or that Blender cannot read."""
    p, size, mtime = _state(file)
    return _load(_checked(p, size, mtime), size, mtime)


@functools.lru_cache(maxsize=8)
def _load(p: Path, size: int, mtime: int) -> Environment:
    import trimesh
    folder = cache_root() / f"{sha256_of(p)[:32]}-v{EXTRACTION}"
    if not (folder / "environment.json").is_file():
        _extract(p, folder)
    data = json.loads((folder / "environment.json").read_text(encoding="utf-8"))
    with np.load(folder / "meshes.npz") as z:
        arrays = {k: z[k] for k in z.files}
    meshes, parts = {}, []
    for part in data["parts"]:
        key = part["object"]
        if key not in meshes:
            i = part["mesh"]
            meshes[key] = trimesh.Trimesh(arrays[f"{i}:v"], arrays[f"{i}:f"], process=False)
        parts.append(Part(name=part["name"], mesh=EnvironmentMesh(p, key), matrix=np.asarray(part["matrix"], float),
                          collections=tuple(part["collections"]), materials=tuple(part["materials"]),
                          props=dict(part["props"])))
    env = Environment(file=p, parts=tuple(parts), meshes=meshes, cameras=tuple(data["cameras"]),
                      lights=tuple(data["lights"]), skipped=tuple(data["skipped"]), world=data["world"],
                      markers=tuple(Marker(name=m["name"], lo=np.asarray(m["lo"], float), hi=np.asarray(m["hi"], float),
                                           collections=tuple(m["collections"]), props=dict(m["props"]))
                                    for m in data["markers"]),
                      **_animation(data.get("animation"), folder))
    for s in env.skipped:
        log.warning("scene.file=%s: left out %s", p, s)
    return env


def _animation(data: dict[str, Any] | None, folder: Path) -> dict[str, Any]:
    """The extraction's animation as :class:`Environment`'s ``animation`` (its first clip's, or None
    where nothing moves in it) and ``clips`` (the named ones)."""
    if not data:
        return {}
    clips, combined = [], None
    for i, c in enumerate(data["clips"]):
        shapes = folder / f"shapes-{i}.npz"
        with np.load(shapes) as z:
            deforming = tuple(sorted(z.files))
        a = Animation(frames=(int(c["frame_start"]), int(c["frame_end"])), current=int(data["current"]),
                      fps=float(data["fps"]), deforming=deforming, changing=tuple(c.get("changing", ())),
                      shapes=shapes, clip=c["name"],
                      matrices={k: np.asarray(v, float).reshape(-1, 4, 4) for k, v in c.get("parts", {}).items()})
        if c.get("combined"):
            combined = a
        else:
            clips.append(a)
    return {"animation": clips[0] if clips[0].moves else None, "combined": combined,
            "clips": tuple(a for a in clips if a.clip is not None)}


def _extract(p: Path, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    log.info("reading the environment %s with Blender (once; kept in %s)", p, folder)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".tmp-") as tmp:
        r = subprocess.run([sys.executable, "-m", "simgen.blender.environment", str(p), tmp],
                           capture_output=True, text=True)
        if r.returncode != 0:
            lines = [ln for ln in r.stderr.splitlines() if ln.startswith("simgen: error: ")]
            why = lines[-1].removeprefix("simgen: error: ") if lines else \
                f"Blender failed reading it (exit {r.returncode}): {' '.join(r.stderr.split()[-40:])}"
            raise SimgenError(why)
        try:
            os.replace(tmp, folder)  # atomic: another process may have made it meanwhile
        except OSError:
            if not (folder / "environment.json").is_file():
                raise
        else:
            os.makedirs(tmp, exist_ok=True)  # TemporaryDirectory removes it on exit


def environment_mesh(ref: EnvironmentMesh) -> trimesh.Trimesh:
    """The local mesh of an environment file's object (at its deformed frame, if it names one)."""
    env = load_environment(ref.file)
    if ref.frame is not None:
        env = env.clip(ref.clip).at(ref.frame)
    try:
        return env.meshes[ref.key]
    except KeyError:
        raise SimgenError(f"scene.file={ref.file}: no object {ref.key!r} in it") from None


def file_camera(cam: dict[str, Any], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(K, camera_to_world in OpenCV axes) of an environment file's camera (as extracted) rendered
    at ``width`` x ``height``, as Blender projects it: the focal length over the sensor size along
    the sensor fit's side (AUTO: the longer one), the lens shift in units of that side, the pose
    without the object's scale. A one-line SimgenError for a camera that is not a perspective one."""
    from simgen.optics.camera import BLENDER_TO_OPENCV

    if cam["type"] != "PERSP":
        raise SimgenError(f"the environment's camera {cam['name']!r} is {cam['type'].lower()}, not a perspective "
                          "camera simgen can label; name another one (scene.cameras)")
    fit = cam["sensor_fit"]
    horizontal = fit == "HORIZONTAL" or (fit == "AUTO" and width >= height)
    side = width if horizontal else height
    sensor = cam["sensor_width"] if horizontal or fit == "AUTO" else cam["sensor_height"]
    f = cam["lens"] / sensor * side
    K = np.array([[f, 0.0, width / 2 - 0.5 - cam["shift_x"] * side],
                  [0.0, f, height / 2 - 0.5 + cam["shift_y"] * side], [0.0, 0.0, 1.0]])
    m = np.asarray(cam["matrix"], float)
    pose = np.eye(4)
    pose[:3, :3] = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0)
    pose[:3, 3] = m[:3, 3]
    return K, pose @ BLENDER_TO_OPENCV
