"""What a scene object's mesh is: a file, a shape drawn by a generator, or an articulated model's pose.

A :data:`MeshRef` is a :class:`pathlib.Path` (a mesh file: OBJ, PLY, glTF, ...), a
:class:`GeneratedMesh` (a shape of :mod:`simgen.assets.parametric`, made from its category and
seed; no file holds it), an :class:`EnvironmentMesh` (an object of a user's world), an
:class:`ArticulatedMesh` (a URDF or MJCF model's links at one joint configuration, as one mesh) or a
:class:`RiggedMesh` (a rigged glTF or FBX model at a frame of one of its animation clips, as one mesh).
Code that needs to tell them apart tests the type, never the text of a path: loading dispatches
on it (:func:`simgen.assets.meshes.load_asset`), the Blender layer keys its meshes by the
reference (every kind is hashable) and drops generated and posed ones once no frame uses them.

Every kind is named alike: each has a Path's ``stem`` and ``name``, so object names, the
``models/`` file and the frame's meta are made the same way for all.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    import numpy as np

    from simgen.people.body import PersonParams
    from simgen.scene.cloth import Cloth

def plain_name(text: str) -> str:
    """``text`` with every character outside [A-Za-z0-9._-] as ``_``: a file name's stem."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


SEED_LIMIT = 2 ** 64
"""Seeds of generated shapes lie in [0, SEED_LIMIT): 16 hexadecimal digits in their name."""


@dataclass(frozen=True)
class GeneratedMesh:
    """The shape that the generator of ``category`` draws from ``numpy.random.default_rng(seed)``
    (:func:`simgen.assets.parametric.shape_of` makes it, the same mesh every time)."""

    category: str
    """The generator: a key of :data:`simgen.assets.parametric.GENERATORS` (e.g. ``"mug"``)."""
    seed: int
    """The generator's seed, 0 <= seed < 2**64."""

    def __post_init__(self) -> None:
        if not isinstance(self.category, str) or not self.category or "/" in self.category:
            raise ValueError(f"GeneratedMesh category must be a category name, not {self.category!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < SEED_LIMIT:
            raise ValueError(f"GeneratedMesh seed must be an integer in [0, 2**64), not {self.seed!r}")

    @property
    def stem(self) -> str:
        """``gen_<seed as 16 hex digits>``, as a Path's stem: the shape's name in object names."""
        return f"gen_{self.seed:016x}"

    @property
    def name(self) -> str:
        """``gen_<seed>.ply``, as a Path's name: the file its mesh is written to in ``models/``."""
        return f"{self.stem}.ply"

    @property
    def key(self) -> str:
        """The asset key of the shape, ``<category>/gen_<seed>``: its model is ``models/<key>.ply``."""
        return f"{self.category}/{self.stem}"


MeshRef = Union[Path, "GeneratedMesh", "EnvironmentMesh", "ArticulatedMesh", "LinkMesh", "ClothMesh", "RiggedMesh",
                "PersonMesh"]
"""A mesh file, a generated shape, an environment file's object, an articulated model's pose,
one link of such a model, a cloth sheet at one step of its simulation, a rigged model at a frame
of one of its clips or a person's body."""


@dataclass(frozen=True)
class PersonMesh:
    """A person's body (:func:`simgen.people.body.body` of ``params``: its vertices in the body frame,
    +Z up, facing -Y, the soles at z = 0), dressed in ``look``: one material per region of
    :data:`simgen.people.body.REGIONS` (skin, clothes), in that order, each face's by the body's
    ``face_region``. Hashable by value: a person drawn again is the same mesh. ``step`` None: a still
    body (a plain mesh); a step of a moving person (a sequence) :func:`deforms`."""

    params: "PersonParams"
    look: tuple = ()
    """The region materials (:mod:`simgen.sampling.people` draws them); (): none of its own (a drawn
    material dresses the whole body)."""
    step: int | None = None
    """The sequence step the body is posed at, for a person who moves; None: still."""
    sleeves: str = "long"
    """long, or short: the lower arms' faces are skin (:func:`simgen.people.body.dressed_regions`)."""
    legs: str = "long"
    """long, or short: the lower legs' faces are skin."""
    library: str | None = None
    """The prepared body library the body is made from (people.library); None: $SIMGEN_PEOPLE_LIBRARY,
    else the default one (:func:`simgen.people.model.library_dir`)."""
    garments: tuple[str, ...] = ()
    """MakeHuman garments (.mhclo paths, people.garments) fitted to the body and appended to its mesh
    (:func:`simgen.people.garments.dress`); (): none."""

    @property
    def stem(self) -> str:
        """``person_<params digest>`` (``_g<8 hex digits>`` after it for a person in garments: a digest of
        their file names), ``_s<step, 4 digits>`` after that for a step of a moving person."""
        dressed = ""
        if self.garments:
            import hashlib

            names = "\n".join(Path(g).name for g in self.garments)  # the same on every node, wherever the folder is
            dressed = "_g" + hashlib.sha256(names.encode()).hexdigest()[:8]
        return f"person_{self.params.digest()}{dressed}" + ("" if self.step is None else f"_s{self.step:04d}")

    @property
    def name(self) -> str:
        return f"{self.stem}.ply"


@dataclass(frozen=True, eq=False)
class ClothMesh:
    """A cloth sheet (:class:`simgen.scene.cloth.Cloth`, triangles of :func:`simgen.scene.cloth.sheet`):
    flat before it is simulated (``vertices`` None: the sheet in its own plane, its object's
    mesh_to_world the drop pose), then one step of Blender's cloth simulation (``vertices`` the
    sheet's in the world, in :func:`~simgen.scene.cloth.sheet`'s order; its object's mesh_to_world
    the identity). Equal only to itself (it carries its vertices)."""

    cloth: "Cloth"
    key: str
    """The cloth's name in its sequence (``cloth_<8 hex digits>``, drawn): its ``models/`` files'."""
    vertices: "np.ndarray | None" = None
    step: int | None = None
    """With ``vertices``: the sequence step they are at."""
    settle: int = 0
    """Frames the simulation runs before the sequence's first step (objects.cloth_settle)."""

    @property
    def stem(self) -> str:
        """``<key>_flat`` unsimulated, else ``<key>_s<step, 4 digits>``: one ``models/`` file a step."""
        return f"{self.key}_flat" if self.vertices is None else f"{self.key}_s{self.step:04d}"

    @property
    def name(self) -> str:
        return f"{self.stem}.ply"


def deforms(mesh: MeshRef) -> bool:
    """Whether ``mesh`` is one step of a surface that bends (an environment file's skinned,
    shape-keyed or modifier-driven object at a frame of its animation, a simulated cloth, a rigged
    catalog model at a frame of a clip): its shape, not only its pose, changes from step to step, so
    its labels follow its vertices at each step (the step's ``models/`` file) rather than one rigid motion."""
    return isinstance(mesh, (EnvironmentMesh, RiggedMesh)) and mesh.frame is not None \
        or isinstance(mesh, ClothMesh) and mesh.vertices is not None \
        or isinstance(mesh, PersonMesh) and mesh.step is not None


def surface(mesh: MeshRef) -> object:
    """What the steps of a surface that bends (:func:`deforms`) have in common, the same at every
    step (the object of an environment file, the rigged model, the cloth), hashable; any other
    mesh is its own. The renderer keeps one mesh per surface and moves its vertices."""
    if isinstance(mesh, (EnvironmentMesh, RiggedMesh)):
        return dataclasses.replace(mesh, clip=None, frame=None)
    if isinstance(mesh, ClothMesh):
        return ("cloth", mesh.key)
    if isinstance(mesh, PersonMesh) and mesh.step is not None:  # the same body and clothes, posed at each step
        return ("person", mesh.params.phenotype, mesh.look, mesh.garments)
    return mesh


def as_mesh_ref(mesh: MeshRef | str | os.PathLike, what: str = "mesh") -> MeshRef:
    """``mesh`` as a :data:`MeshRef`: a GeneratedMesh as it is, a file name as a Path."""
    if isinstance(mesh, (GeneratedMesh, EnvironmentMesh, ArticulatedMesh, LinkMesh, ClothMesh, RiggedMesh, PersonMesh,
                         Path)):
        return mesh
    if isinstance(mesh, (str, os.PathLike)):
        return Path(mesh)
    raise TypeError(f"{what} must be a mesh file path or a GeneratedMesh, not {type(mesh).__name__}")


@dataclass(frozen=True)
class EnvironmentMesh:
    """The mesh of one object of an environment file (a user's world: :mod:`simgen.assets.environment`),
    in the object's local coordinates, as Blender evaluates it (modifiers applied), with the file's
    own materials. The pure side reads it from the environment's extraction; the Blender layer from
    the file, loaded once per process."""

    file: Path
    """The environment file, absolute."""
    key: str
    """The object's name in the file (its instances share the mesh)."""
    frame: int | None = None
    """For an object whose geometry the file's animation deforms: the frame it is evaluated at
    (:meth:`simgen.assets.environment.Environment.at`); None: as the file was saved."""
    clip: str | None = None
    """With a frame: the glTF animation (clip) it is evaluated in
    (:meth:`simgen.assets.environment.Environment.clip`); None: the file's one animation."""

    @property
    def stem(self) -> str:
        """``<file stem>_<object name>`` (characters outside [A-Za-z0-9._-] as ``_``), ``_f<frame>``
        after it for a deformed frame (``_<clip>_f<frame>`` in a named clip)."""
        at = "" if self.frame is None else f"_f{self.frame}" if self.clip is None else f"_{self.clip}_f{self.frame}"
        return plain_name(f"{self.file.stem}_{self.key}{at}")

    @property
    def name(self) -> str:
        return f"{self.stem}.ply"


URDF_SUFFIXES = (".urdf",)
"""The suffixes of the URDF files simgen reads."""
MJCF_SUFFIXES = (".xml", ".mjcf")
"""The suffixes of the MJCF (MuJoCo) files simgen reads."""


@dataclass(frozen=True)
class JointDraw:
    """How a catalog entry wants an articulated model's joints drawn for each scene
    (:func:`simgen.assets.articulated.draw_configuration`): its ``joints``, ``configurations`` and
    ``spread``. The default draws every joint uniformly within its limits."""

    ranges: tuple[tuple[str, float, float], ...] = ()
    """(joint name or glob, low, high): the range a joint is drawn from (the first that matches
    it, within its limits); a joint no glob matches is drawn within its limits."""
    configurations: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()
    """(name, ((joint, value), ...)): named configurations; a scene draws around one of them,
    picked uniformly (the joints it does not name as without it)."""
    spread: float = 0.1
    """Around a configuration, a joint is drawn uniformly within +-spread of its value (radians
    or metres), clipped to its range."""
    trajectory: Path | None = None
    """A CSV file (absolute): a header of joint names, then one row of their values per step
    (:func:`simgen.assets.articulated.read_trajectory`). A scene takes a row drawn uniformly for
    the joints it names; a sequence plays the rows on from there, one per step (back and forth
    between the first and the last)."""


@dataclass(frozen=True)
class ArticulatedMesh:
    """The visual geometry of an articulated model (a URDF or MJCF file:
    :mod:`simgen.assets.articulated`) at one joint configuration, as one rigid mesh in the model's
    frame (its root link's): every link's visuals posed by the forward kinematics. ``joints`` None
    is the model as a catalog lists it, before a configuration is drawn (its joints at their
    reference values)."""

    file: Path
    """The URDF or MJCF file, absolute."""
    package_dirs: tuple[Path, ...] = ()
    """The folders ``package://NAME/...`` paths are found in (the catalog entry's ``packages``)."""
    joints: tuple[tuple[str, float], ...] | None = None
    """(joint name, value) of every actuated joint, sorted by name (radians, metres)."""
    draw: JointDraw = JointDraw()
    """How the catalog wants the joints drawn (a pose keeps it: a sequence draws the configurations
    its joints move through alike)."""
    keypoints: tuple[tuple[str, tuple[float, float, float]], ...] = ()
    """The catalog's keypoints of the model (a pose keeps them): per name of its category's
    keypoints, in their order, (link, point in the link's frame, model units)."""

    @property
    def digest(self) -> str:
        """12 hexadecimal digits naming the configuration (empty for ``joints`` None)."""
        if self.joints is None:
            return ""
        import hashlib

        return hashlib.sha256(repr(self.joints).encode()).hexdigest()[:12]

    @property
    def stem(self) -> str:
        """``<file stem>`` or, posed, ``<file stem>_<digest>``."""
        return self.key_of(self.file.stem) if self.joints is not None else self.file.stem

    @property
    def name(self) -> str:
        return f"{self.stem}.ply"

    def key_of(self, model_key: str) -> str:
        """The asset key of this pose of the model whose key is ``model_key``: ``<model key>_<digest>``
        (its ``models/`` file)."""
        return f"{model_key}_{self.digest}"

    def model_key(self, asset_key: str) -> str:
        """The model's key in ``asset_key``, this pose's asset key (:meth:`key_of`)."""
        return asset_key.removesuffix(f"_{self.digest}")

    def posed(self, joints: dict[str, float]) -> "ArticulatedMesh":
        """The same model at ``joints`` (every actuated joint's value), drawn as this one is."""
        return ArticulatedMesh(self.file, self.package_dirs, tuple(sorted((k, float(v)) for k, v in joints.items())),
                               self.draw, self.keypoints)


@dataclass(frozen=True)
class LinkMesh:
    """The visual geometry of one link of an articulated model, in the link's own frame: a rigid
    part, the same at every joint configuration (a renderer builds it once)."""

    file: Path
    """The URDF or MJCF file, absolute."""
    package_dirs: tuple[Path, ...]
    link: str
    """The link's name in the file."""

    @property
    def stem(self) -> str:
        """``<file stem>_<link>`` (characters outside [A-Za-z0-9._-] as ``_``)."""
        return plain_name(f"{self.file.stem}_{self.link}")

    @property
    def name(self) -> str:
        return f"{self.stem}.ply"


RIGGED_SUFFIXES = (".glb", ".gltf", ".fbx")
"""The rigged models a catalog entry may name (``animation: true``): glTF and FBX files."""


@dataclass(frozen=True)
class RiggedMesh:
    """A rigged model (a glTF or FBX file whose armature, shape keys or keyframes move or bend its
    parts: :mod:`simgen.assets.rigged`) as one mesh: every part of the file, each placed by its
    world matrix (the file's world frame, Blender's axes), concatenated in the file's part order, so
    the vertices come in the same order at every frame. ``frame`` None is the model as a catalog
    lists it (the file as Blender reads it: its first clip at the frame the importer leaves), before
    a clip and a frame are drawn (:func:`simgen.sampling.rigged.with_clips`)."""

    file: Path
    """The glTF or FBX file, absolute."""
    clips: tuple[str, ...] = ()
    """The catalog entry's ``clips``, the ones a scene draws from; (): every clip of the file that
    moves something (an FBX's one animation). A drawn frame keeps them."""
    clip: str | None = None
    """With a frame: the glTF animation (clip) it is in, by name; None: the file's one animation (an FBX)."""
    frame: int | None = None
    """The file frame the parts are evaluated at (in the clip's range); None: as the file is read."""

    @property
    def stem(self) -> str:
        """``<file stem>``, at a frame ``<file stem>_<clip>_f<frame>`` (``<file stem>_f<frame>`` in a
        file's one animation; characters outside [A-Za-z0-9._-] as ``_``)."""
        return plain_name(self.file.stem + self.suffix)

    @property
    def suffix(self) -> str:
        """What a frame adds to the model's name: ``_<clip>_f<frame>``, ``_f<frame>``, or nothing."""
        if self.frame is None:
            return ""
        return plain_name(f"_f{self.frame}" if self.clip is None else f"_{self.clip}_f{self.frame}")

    @property
    def name(self) -> str:
        return f"{self.stem}.ply"

    def at(self, clip: str | None, frame: int) -> "RiggedMesh":
        """The same model in ``clip`` at ``frame``."""
        return RiggedMesh(self.file, self.clips, clip, int(frame))

    def key_of(self, model_key: str) -> str:
        """The asset key of this frame of the model whose key is ``model_key``: ``<model key>_<clip>_f<frame>``
        (its ``models/`` file: one a frame)."""
        return model_key + self.suffix

    def model_key(self, asset_key: str) -> str:
        """The model's key in ``asset_key``, this frame's asset key (:meth:`key_of`)."""
        return asset_key.removesuffix(self.suffix) if self.suffix else asset_key
