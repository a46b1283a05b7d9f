"""A mesh file's own appearance: its materials, texture images, UVs and vertex colours.

Pure Python (no Blender). :func:`load_asset` reads a mesh file once into its geometry (the
:class:`trimesh.Trimesh` every label and ``models/`` file is made from) and an
:class:`Appearance` whose per-face arrays follow that geometry's faces, so the backend can
give Blender the same triangles with their material slots, UVs and colours.

What is read, from each format's own documentation:

- OBJ + MTL (Wavefront): ``usemtl`` groups (one material slot each) and ``vt`` UVs; from the
  MTL: ``Kd`` (diffuse colour), ``map_Kd`` (its texture), ``Ks``/``Ns`` (specular colour and
  exponent, turned into specular level and roughness), the PBR extension ``Pr``/``Pm``/``Ke``
  and ``map_Pr``/``map_Pm``/``map_Ke``, ``map_Bump``/``bump`` (a height map, ``-bm`` its
  strength), ``norm``/``map_Kn`` (a tangent-space normal map), ``d`` / ``Tr`` (opacity) and
  ``map_d``.
- glTF 2.0 / GLB: per primitive its ``material``: ``pbrMetallicRoughness`` (baseColorFactor
  and baseColorTexture, metallicFactor, roughnessFactor, metallicRoughnessTexture: roughness
  in G, metallic in B), ``normalTexture`` (+ scale), ``occlusionTexture`` (recorded; Cycles
  traces occlusion itself, so it is not applied), ``emissiveFactor``/``emissiveTexture``,
  ``alphaMode`` (OPAQUE, MASK with ``alphaCutoff``, BLEND), ``doubleSided``; images embedded
  in the GLB's binary chunk, as data URIs, or as files beside it; samplers' wrap modes;
  ``TEXCOORD_0`` (its V flipped to the bottom-left origin of OBJ and Blender) and ``COLOR_0``.
- PLY: per-vertex ``red green blue (alpha)``; OFF: ``COFF`` per-vertex colours.

Texture paths resolve relative to the mesh file and must stay inside the asset's folder
(:func:`asset_root`), never through a symlink out of it. A material file (OBJ ``mtllib``) or a
texture file that is missing, or lies outside that folder, is not read: the mesh loads without it
(a material without that map; an OBJ whose material file is missing has no materials of its own)
and the reason is kept in :attr:`LoadedAsset.problems`, as Blender's and trimesh's importers warn
and go on (a run warns, records it, or with ``materials.own_strict`` stops:
:func:`simgen.assets.meshes.validate_catalog`). A corrupt texture is a one-line
:class:`~simgen.SimgenError` before rendering. A mesh with none of these renders with a drawn
material, as before.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simgen.errors import SimgenError
from simgen.color.tone import srgb_to_linear

if TYPE_CHECKING:
    import trimesh

_FIX = "fix the file or remove the mesh from the catalog/folder"


@dataclass(frozen=True)
class TextureImage:
    """One texture image: a file (``path``) or bytes embedded in the mesh file (``data``)."""

    name: str
    """For meta and messages: the path relative to the mesh file's folder, or
    ``"<mesh file>#image<k>"`` for an embedded image."""
    path: Path | None = None
    data: bytes | None = field(default=None, repr=False)
    suffix: str = ".png"
    """File type of embedded data (from its MIME type)."""
    wrap: str = "REPEAT"
    """REPEAT, MIRROR or EXTEND (glTF sampler wrapS; OBJ: REPEAT)."""


@dataclass(frozen=True)
class SurfaceMaterial:
    """One material slot of a mesh, as its file states it (colours linear RGB)."""

    name: str
    base_color: tuple[float, float, float] = (0.8, 0.8, 0.8)
    base_color_map: TextureImage | None = None
    metallic: float = 0.0
    roughness: float = 0.5
    metallic_roughness_map: TextureImage | None = None
    """glTF: roughness in G, metallic in B (multiplying the factors)."""
    roughness_map: TextureImage | None = None
    metallic_map: TextureImage | None = None
    specular: float = 0.5
    """Principled Specular IOR Level."""
    normal_map: TextureImage | None = None
    normal_scale: float = 1.0
    bump_map: TextureImage | None = None
    bump_scale: float = 1.0
    occlusion_map: TextureImage | None = None
    emission: tuple[float, float, float] = (0.0, 0.0, 0.0)
    emission_map: TextureImage | None = None
    alpha: float = 1.0
    alpha_map: TextureImage | None = None
    alpha_mode: str = "OPAQUE"
    """OPAQUE, MASK (alpha below ``alpha_cutoff`` is cut out) or BLEND."""
    alpha_cutoff: float = 0.5
    vertex_colors: bool = False
    """Multiply the base colour by the mesh's vertex colours."""
    subsurface: float = 0.0
    """Principled "Subsurface Weight" (0: none): light scattered under the surface, as in skin (a
    person's: :mod:`simgen.sampling.people`); no mesh file states it."""
    subsurface_scale: float = 0.01
    """Principled "Subsurface Scale": how far (m) light travels under the surface, with subsurface."""

    def images(self) -> list[TextureImage]:
        return [t for t in (self.base_color_map, self.metallic_roughness_map, self.roughness_map, self.metallic_map,
                            self.normal_map, self.bump_map, self.occlusion_map, self.emission_map, self.alpha_map)
                if t is not None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for meta: the factors and the names of the maps."""
        out: dict[str, Any] = {"name": self.name, "base_color": [float(c) for c in self.base_color],
                               "metallic": float(self.metallic), "roughness": float(self.roughness),
                               "alpha": float(self.alpha), "alpha_mode": self.alpha_mode}
        for key in ("base_color_map", "metallic_roughness_map", "roughness_map", "metallic_map", "normal_map",
                    "bump_map", "occlusion_map", "emission_map", "alpha_map"):
            t = getattr(self, key)
            if t is not None:
                out[key] = t.name
        if any(self.emission):
            out["emission"] = [float(c) for c in self.emission]
        if self.vertex_colors:
            out["vertex_colors"] = True
        if self.subsurface:
            out["subsurface"], out["subsurface_scale"] = float(self.subsurface), float(self.subsurface_scale)
        return out


@dataclass(frozen=True)
class Appearance:
    """A mesh's own appearance, aligned with the faces of its loaded geometry. A mesh with
    UVs but no material or colour has ``materials == ()``: it has no look of its own (a drawn
    material, which may follow its UVs, dresses it)."""

    materials: tuple[SurfaceMaterial, ...]
    face_material: np.ndarray = field(repr=False)
    """(F,) int32: each face's index into ``materials``."""
    uv: np.ndarray | None = field(default=None, repr=False)
    """(F, 3, 2) float32 per-corner texture coordinates, origin at the image's bottom left."""
    colors: np.ndarray | None = field(default=None, repr=False)
    """(F, 3, 4) float32 per-corner vertex colours, linear RGBA in [0, 1]."""

    def images(self) -> list[TextureImage]:
        seen: dict[str, TextureImage] = {}
        for m in self.materials:
            for t in m.images():
                seen.setdefault(t.name, t)
        return list(seen.values())


@dataclass(frozen=True)
class LoadedAsset:
    mesh: trimesh.Trimesh
    appearance: Appearance | None
    problems: tuple[str, ...] = ()
    """Files of the mesh's own appearance it was loaded without, one line each (see the module's
    docstring)."""


def _optional(problems: list[str], load: Any, *args: Any) -> Any:
    """``load(*args)``, or None with its error's line added to ``problems`` (a file of the look
    that is missing or outside the asset's folder: left out, not followed)."""
    try:
        return load(*args)
    except SimgenError as e:
        problems.append(str(e))
        return None


# ------------------------------------------------------------------ colour helpers

def _floats(values: list[str], n: int, where: str) -> list[float]:
    try:
        out = [float(v) for v in values[:n]]
    except ValueError:
        raise SimgenError(f"{where}: expected {n} numbers, got {' '.join(values)!r}; {_FIX}") from None
    if len(out) == 1 and n == 3:  # "Kd 0.5" = grey
        out = out * 3
    if len(out) != n or not all(np.isfinite(out)):
        raise SimgenError(f"{where}: expected {n} finite numbers, got {' '.join(values)!r}; {_FIX}")
    return out


# ------------------------------------------------------------------ confinement

def _inside(path: Path, root: Path, what: str, mesh: Path) -> Path:
    """``path`` resolved (symlinks followed) if it stays inside ``root``; else one error line."""
    if not Path(os.path.normpath(path)).is_relative_to(root):
        raise SimgenError(f"{what} {path} of mesh {mesh} lies outside the asset's folder {root}; copy it into the "
                          "folder and refer to it by a relative path")
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        raise SimgenError(f"{what} of mesh {mesh} not found: {path}; add the file or fix the path in the mesh's "
                          "material file") from None
    except (OSError, RuntimeError) as e:
        raise SimgenError(f"cannot resolve {what} {path} of mesh {mesh}: {' '.join(str(e).split())}; fix the "
                          "path") from None
    if not real.is_relative_to(root):
        raise SimgenError(f"{what} {path} of mesh {mesh} lies outside the asset's folder {root} (or is a symlink "
                          "out of it); copy it into the folder and refer to it by a relative path")
    if not real.is_file():
        raise SimgenError(f"{what} {path} of mesh {mesh} is not a file; fix the path")
    return real


def _texture_path(ref: str, mesh: Path, root: Path, what: str) -> Path:
    ref = ref.strip().replace("\\", "/")
    if not ref:
        raise SimgenError(f"{what} of mesh {mesh} has an empty file name; {_FIX}")
    p = Path(ref)
    if p.is_absolute():
        raise SimgenError(f"{what} of mesh {mesh} is an absolute path ({ref}); refer to it relative to the mesh "
                          "file, inside the asset's folder")
    return _inside(mesh.parent / p, root, what, mesh)


class _ConfinedResolver:
    """Gives trimesh the files it asks for beside a mesh: only ``served`` names (sanitized
    material files) and files inside ``root``. The methods of ``trimesh.resolvers.Resolver``,
    which trimesh calls and never checks the type of (so trimesh is imported only to load a mesh)."""

    def __init__(self, mesh: Path, root: Path, served: dict[str, bytes] | None = None) -> None:
        self.mesh, self.root, self.served = mesh, root, served or {}

    def get(self, name: str) -> bytes:
        if name in self.served:
            return self.served[name]
        return _texture_path(name, self.mesh, self.root, "file").read_bytes()

    def write(self, name: str, data: Any) -> None:
        raise PermissionError("simgen never writes beside a mesh")

    def namespaced(self, namespace: str) -> "_ConfinedResolver":
        return self

    def keys(self):
        return iter(())

    def __getitem__(self, name: str) -> bytes:
        return self.get(name)

    def __contains__(self, name: str) -> bool:
        return False


# ------------------------------------------------------------------ OBJ + MTL

_MTL_MAPS = {"map_kd": "base_color_map", "map_pr": "roughness_map", "map_pm": "metallic_map",
             "map_ke": "emission_map", "map_d": "alpha_map", "map_bump": "bump_map", "bump": "bump_map",
             "norm": "normal_map", "map_kn": "normal_map"}
_MAP_OPTIONS_WITH_ARGS = {"-blendu": 1, "-blendv": 1, "-cc": 1, "-clamp": 1, "-mm": 2, "-o": 3, "-s": 3, "-t": 3,
                          "-texres": 1, "-imfchan": 1, "-bm": 1, "-boost": 1, "-type": 1}


def _map_statement(args: list[str]) -> tuple[str, dict[str, list[str]]]:
    """The file name and options of an MTL map statement (``map_Bump -bm 0.5 file.png``)."""
    opts: dict[str, list[str]] = {}
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i].lower() in _MAP_OPTIONS_WITH_ARGS:
        n = _MAP_OPTIONS_WITH_ARGS[args[i].lower()]
        opts[args[i].lower()] = args[i + 1:i + 1 + n]
        i += 1 + n
    return " ".join(args[i:]), opts


def parse_mtl(text: str, where: str) -> dict[str, dict[str, Any]]:
    """{material name: {statement (lower case): arguments}} of an MTL file's text."""
    out: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, *args = line.split()
        key = key.lower()
        if key == "newmtl":
            current = out.setdefault(" ".join(args), {})
        elif current is not None:
            current[key] = args
    return out


def _obj_material(name: str, st: dict[str, Any], mesh: Path, root: Path, where: str,
                  problems: list[str]) -> SurfaceMaterial:
    kw: dict[str, Any] = {"name": name}
    if "kd" in st:
        kw["base_color"] = tuple(srgb_to_linear(_floats(st["kd"], 3, f"{where} Kd"), clip=True).tolist())
    if "ke" in st:
        kw["emission"] = tuple(srgb_to_linear(_floats(st["ke"], 3, f"{where} Ke"), clip=True).tolist())
    if "pr" in st:
        kw["roughness"] = float(np.clip(_floats(st["pr"], 1, f"{where} Pr")[0], 0, 1))
    elif "ns" in st:  # Phong exponent -> roughness (Blender's OBJ importer's mapping)
        ns = max(_floats(st["ns"], 1, f"{where} Ns")[0], 0.0)
        kw["roughness"] = float(1.0 - np.sqrt(min(ns, 1000.0) / 1000.0))
    if "pm" in st:
        kw["metallic"] = float(np.clip(_floats(st["pm"], 1, f"{where} Pm")[0], 0, 1))
    if "ks" in st:
        kw["specular"] = float(np.clip(np.mean(_floats(st["ks"], 3, f"{where} Ks")), 0, 1))
    if "d" in st:
        kw["alpha"] = float(np.clip(_floats(st["d"], 1, f"{where} d")[0], 0, 1))
    elif "tr" in st:
        kw["alpha"] = float(np.clip(1.0 - _floats(st["tr"], 1, f"{where} Tr")[0], 0, 1))
    for key, field_name in _MTL_MAPS.items():
        if key not in st or field_name in kw:
            continue
        ref, opts = _map_statement(st[key])
        path = _optional(problems, _texture_path, ref, mesh, root, f"texture {key} of material {name!r}")
        if path is None:
            continue
        kw[field_name] = TextureImage(name=os.path.relpath(path, mesh.parent.resolve()), path=path)
        if "-bm" in opts and field_name in ("bump_map", "normal_map"):
            scale = _floats(opts["-bm"], 1, f"{where} {key} -bm")[0]
            kw["bump_scale" if field_name == "bump_map" else "normal_scale"] = scale
    if kw.get("alpha", 1.0) < 1.0 or "alpha_map" in kw:
        kw["alpha_mode"] = "BLEND"
    return SurfaceMaterial(**kw)


def _obj(path: Path, root: Path, problems: list[str]) -> tuple[list[trimesh.Trimesh], list[SurfaceMaterial | None]]:
    import trimesh

    text = path.read_text(errors="replace")
    libs = [" ".join(line.split()[1:]) for line in text.splitlines() if line.startswith("mtllib")]
    parsed: dict[str, dict[str, Any]] = {}
    for lib in libs:
        mtl = _optional(problems, _texture_path, lib, path, root, "material file (mtllib)")
        if mtl is not None:
            parsed.update(parse_mtl(mtl.read_text(errors="replace"), f"{mtl}"))
    # trimesh splits the faces by usemtl; it is given the material names only, so that it
    # reads no image (the backend loads them) and nothing outside the folder
    sanitized = {lib: "".join(f"newmtl {n}\n" for n in parsed).encode() for lib in libs}
    scene = trimesh.load_scene(io.BytesIO(text.encode()), file_type="obj",
                               resolver=_ConfinedResolver(path, root, sanitized))
    parts = [d for d in scene.dump() if isinstance(d, trimesh.Trimesh)]
    materials: list[SurfaceMaterial | None] = []
    for part in parts:
        name = getattr(getattr(part.visual, "material", None), "name", None)
        materials.append(_obj_material(name, parsed[name], path, root, f"material {name!r} of {path}", problems)
                         if name in parsed else None)
    return parts, materials


# ------------------------------------------------------------------ glTF / GLB

_MIME_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
_WRAP = {33071: "EXTEND", 33648: "MIRROR", 10497: "REPEAT"}


def _gltf_json(path: Path) -> tuple[dict, bytes | None]:
    raw = path.read_bytes()
    if path.suffix.lower() == ".glb":
        if len(raw) < 20 or raw[:4] != b"glTF":
            raise SimgenError(f"cannot load mesh {path}: not a GLB file (no glTF header); {_FIX}")
        n, kind = struct.unpack("<II", raw[12:20])
        if kind != 0x4E4F534A:
            raise SimgenError(f"cannot load mesh {path}: its first GLB chunk is not JSON; {_FIX}")
        header = json.loads(raw[20:20 + n])
        binary = None
        rest = 20 + n  # chunk lengths are padded to 4 bytes by the spec
        if rest + 8 <= len(raw):
            m, kind = struct.unpack("<II", raw[rest:rest + 8])
            if kind == 0x004E4942:
                binary = raw[rest + 8:rest + 8 + m]
        return header, binary
    return json.loads(raw), None


def _gltf_image(header: dict, binary: bytes | None, k: int, sampler: int | None, path: Path, root: Path,
                problems: list[str]) -> TextureImage | None:
    images = header.get("images", [])
    if not 0 <= k < len(images):
        raise SimgenError(f"mesh {path}: a texture refers to image {k}, which does not exist; {_FIX}")
    img = images[k]
    wrap = "REPEAT"
    if sampler is not None and 0 <= sampler < len(header.get("samplers", [])):
        wrap = _WRAP.get(header["samplers"][sampler].get("wrapS", 10497), "REPEAT")
    uri = img.get("uri")
    if uri is None:  # in a buffer view (GLB binary chunk)
        view = header.get("bufferViews", [])[img.get("bufferView", -1)] if "bufferView" in img else None
        if view is None or binary is None or view.get("buffer", 0) != 0:
            raise SimgenError(f"mesh {path}: image {k} has neither a uri nor data in the GLB's binary chunk; {_FIX}")
        start = int(view.get("byteOffset", 0))
        data = binary[start:start + int(view["byteLength"])]
        return TextureImage(name=f"{path.name}#image{k}", data=data,
                            suffix=_MIME_SUFFIX.get(img.get("mimeType", ""), ".png"), wrap=wrap)
    if uri.startswith("data:"):
        head, _, payload = uri.partition(",")
        data = base64.b64decode(payload) if head.endswith(";base64") else payload.encode()
        return TextureImage(name=f"{path.name}#image{k}", data=data,
                            suffix=_MIME_SUFFIX.get(head[5:].split(";")[0], ".png"), wrap=wrap)
    from urllib.parse import unquote

    file = _optional(problems, _texture_path, unquote(uri), path, root, f"image {k}")
    if file is None:
        return None
    return TextureImage(name=os.path.relpath(file, path.parent.resolve()), path=file, wrap=wrap)


def _gltf_material(header: dict, binary: bytes | None, k: int, path: Path, root: Path,
                   problems: list[str]) -> SurfaceMaterial:
    mat = header["materials"][k]
    textures = header.get("textures", [])

    def tex(info: dict | None) -> TextureImage | None:
        if not info:
            return None
        t = info.get("index")
        if t is None or not 0 <= t < len(textures) or textures[t].get("source") is None:
            raise SimgenError(f"mesh {path}: material {k} refers to texture {t}, which does not exist; {_FIX}")
        return _gltf_image(header, binary, textures[t]["source"], textures[t].get("sampler"), path, root, problems)

    pbr = mat.get("pbrMetallicRoughness", {})
    factor = [float(x) for x in pbr.get("baseColorFactor", [1.0, 1.0, 1.0, 1.0])]
    normal = mat.get("normalTexture")
    mode = mat.get("alphaMode", "OPAQUE")
    return SurfaceMaterial(
        name=str(mat.get("name", f"material{k}")), base_color=tuple(factor[:3]), alpha=factor[3],
        base_color_map=tex(pbr.get("baseColorTexture")), metallic=float(pbr.get("metallicFactor", 1.0)),
        roughness=float(pbr.get("roughnessFactor", 1.0)), metallic_roughness_map=tex(pbr.get("metallicRoughnessTexture")),
        normal_map=tex(normal), normal_scale=float((normal or {}).get("scale", 1.0)),
        occlusion_map=tex(mat.get("occlusionTexture")),
        emission=tuple(float(x) for x in mat.get("emissiveFactor", [0.0, 0.0, 0.0])),
        emission_map=tex(mat.get("emissiveTexture")),
        alpha_mode=mode if mode in ("OPAQUE", "MASK", "BLEND") else "OPAQUE",
        alpha_cutoff=float(mat.get("alphaCutoff", 0.5)))


def _gltf(path: Path, root: Path, problems: list[str]) -> tuple[list[trimesh.Trimesh], list[SurfaceMaterial | None]]:
    import trimesh

    try:
        header, binary = _gltf_json(path)
    except (ValueError, UnicodeDecodeError) as e:
        raise SimgenError(f"cannot load mesh {path}: its glTF JSON does not parse ({e}); {_FIX}") from None
    for i, buf in enumerate(header.get("buffers", [])):
        uri = buf.get("uri")
        if uri and not uri.startswith("data:"):
            _texture_path(uri, path, root, f"buffer {i}")
    materials = [_gltf_material(header, binary, k, path, root, problems) for k in range(len(header.get("materials", [])))]
    # trimesh reads the geometry; it is given materials named by their index and no images
    light = dict(header)
    light["materials"] = [{"name": f"simgen:{k}"} for k in range(len(materials))]
    for key in ("textures", "images", "samplers"):
        light.pop(key, None)
    body = json.dumps(light).encode()
    if binary is not None:
        body += b" " * (-len(body) % 4)
        chunks = struct.pack("<II", len(body), 0x4E4F534A) + body
        chunks += struct.pack("<II", len(binary) + (-len(binary) % 4), 0x004E4942) + binary + b"\0" * (-len(binary) % 4)
        data, kind = struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks, "glb"
    else:
        data, kind = body, "gltf"
    scene = trimesh.load_scene(io.BytesIO(data), file_type=kind, resolver=_ConfinedResolver(path, root))
    parts = [d for d in scene.dump() if isinstance(d, trimesh.Trimesh)]
    out: list[SurfaceMaterial | None] = []
    for part in parts:
        name = str(getattr(getattr(part.visual, "material", None), "name", None) or "")
        k = int(name.split(":")[1]) if name.startswith("simgen:") else None
        out.append(materials[k] if k is not None else None)
    return parts, out


# ------------------------------------------------------------------ OFF colours

def _off_colors(path: Path, n_faces: int) -> np.ndarray | None:
    """(F, 3, 4) linear per-corner colours of an OFF file whose vertex lines carry colours
    after x y z (COFF: ``r g b a``, integers 0..255 or floats 0..1), faces fanned into
    triangles in file order; None without colours."""
    rows = [ln.split("#", 1)[0].split() for ln in path.read_text(errors="replace").splitlines()]
    rows = [r for r in rows if r]
    if not rows or not rows[0][0].upper().endswith("OFF"):
        return None
    head, rest = rows[0], rows[1:]
    if len(head) == 1:  # counts on a line of their own
        head, rest = head + rest[0], rest[1:]
    nv, nf = int(head[1]), int(head[2])
    verts = rest[:nv]
    if len(verts) != nv or any(len(v) < 6 for v in verts):
        return None
    values = [v[3:7] for v in verts]
    floats = any("." in x for v in values for x in v)
    rgba = np.array([[float(x) for x in v] + [1.0 if floats else 255.0] * (4 - len(v)) for v in values])
    rgba = rgba if floats else rgba / 255.0
    tris = [(int(f[1]), int(f[i]), int(f[i + 1])) for f in rest[nv:nv + nf] for i in range(2, int(f[0]))]
    if len(tris) != n_faces:
        return None
    corners = rgba[np.array(tris)]
    corners[..., :3] = srgb_to_linear(corners[..., :3], clip=True)
    return corners.astype(np.float32)


# ------------------------------------------------------------------ the loader

ASSET_MARKERS = ("entry.json", "model.config", "model.sdf")
"""Files that mark a folder as one asset's: a library entry (simgen fetch) or a Gazebo /
Google Scanned Objects model folder, whose mesh sits in meshes/ and its texture in
materials/textures/."""


def asset_root(path: Path) -> Path:
    """The folder a mesh's textures (and glTF buffers) must stay in: the nearest folder above
    the mesh holding one of :data:`ASSET_MARKERS`, else the mesh file's own folder."""
    folder = path.parent.resolve()
    for parent in (folder, *folder.parents):
        if any((parent / m).is_file() for m in ASSET_MARKERS):
            return parent
    return folder


def load_parts(path: Path) -> LoadedAsset:
    """Geometry and appearance of the mesh file ``path`` (see the module docstring).

    The geometry is trimesh's concatenation of the file's parts with their node transforms
    applied, as ``trimesh.load(path, force="mesh")`` gives it."""
    path = Path(path)
    problems: list[str] = []
    loaded = _load_parts(path, asset_root(path), problems)
    return LoadedAsset(loaded.mesh, loaded.appearance, tuple(problems))


def _load_parts(path: Path, root_dir: Path, problems: list[str]) -> LoadedAsset:
    import trimesh

    suffix = path.suffix.lower()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if suffix == ".obj":
            parts, materials = _obj(path, root_dir, problems)
        elif suffix in (".glb", ".gltf"):
            parts, materials = _gltf(path, root_dir, problems)
        else:
            parts = [d for d in trimesh.load_scene(path).dump() if isinstance(d, trimesh.Trimesh)]
            materials = [None] * len(parts)
    if not parts:
        return LoadedAsset(trimesh.Scene(), None)
    bare = [trimesh.Trimesh(p.vertices, p.faces, process=False) for p in parts]
    geometry = trimesh.util.concatenate(bare) if len(bare) > 1 else bare[0]
    colors = _corner_colors(path, parts)
    uv = None
    if any(getattr(p.visual, "uv", None) is not None for p in parts):
        corner_uv = []
        for p in parts:
            u = getattr(p.visual, "uv", None)
            corner_uv.append(np.asarray(u, np.float32)[p.faces] if u is not None and len(u) == len(p.vertices)
                             else np.zeros((len(p.faces), 3, 2), np.float32))
        uv = np.concatenate(corner_uv)
    if all(m is None for m in materials) and colors is None and uv is None:
        return LoadedAsset(geometry, None)
    # corners at one position share a vertex (files split them at UV seams and between
    # materials): the surface stays closed, faces and their order stay as they are
    welded, inverse = np.unique(np.asarray(geometry.vertices), axis=0, return_inverse=True)
    geometry = trimesh.Trimesh(welded, inverse.reshape(-1)[np.asarray(geometry.faces)], process=False)
    if all(m is None for m in materials) and colors is None:  # UVs alone: no look of its own
        return LoadedAsset(geometry, Appearance(materials=(), face_material=np.zeros(len(geometry.faces), np.int32),
                                                uv=uv))
    slots: list[SurfaceMaterial] = []
    index: dict[int, int] = {}
    face_material = []
    for p, m in zip(parts, materials):
        if m is None:
            m = (SurfaceMaterial(name="vertex colours", base_color=(1.0, 1.0, 1.0), vertex_colors=True)
                 if colors is not None else SurfaceMaterial(name="default"))
        elif colors is not None:
            m = SurfaceMaterial(**{**m.__dict__, "vertex_colors": True})
        if id(m) not in index:
            index[id(m)] = len(slots)
            slots.append(m)
        face_material.append(np.full(len(p.faces), index[id(m)], np.int32))
    return LoadedAsset(geometry, Appearance(materials=tuple(slots), face_material=np.concatenate(face_material),
                                            uv=uv, colors=colors))


def _corner_colors(path: Path, parts: list[trimesh.Trimesh]) -> np.ndarray | None:
    import trimesh

    if path.suffix.lower() == ".off":
        return _off_colors(path, sum(len(p.faces) for p in parts))
    out = []
    for p in parts:
        v = p.visual
        if isinstance(v, trimesh.visual.ColorVisuals) and v.kind == "vertex":
            c = np.asarray(v.vertex_colors, np.float64)[p.faces] / 255.0
        elif isinstance(v, trimesh.visual.ColorVisuals) and v.kind == "face":
            c = np.repeat((np.asarray(v.face_colors, np.float64) / 255.0)[:, None], 3, axis=1)
        elif isinstance(v, trimesh.visual.TextureVisuals) and "color" in getattr(v, "vertex_attributes", {}):
            c = np.asarray(v.vertex_attributes["color"], np.float64)
            c = (c / 255.0 if c.max() > 1 else c)[p.faces]
            if c.shape[-1] == 3:
                c = np.concatenate([c, np.ones(c.shape[:-1] + (1,))], -1)
        else:
            return None
        c[..., :3] = srgb_to_linear(c[..., :3], clip=True)
        out.append(c.astype(np.float32))
    return np.concatenate(out) if out else None
