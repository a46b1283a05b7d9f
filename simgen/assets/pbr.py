"""PBR material sets from a folder in the layout of the CC0 libraries (ambientCG, Poly Haven).

A *set* is one folder holding the maps of one material, named as the libraries name them:

============  =========================================  ======================================
map           ambientCG (``<id>_1K-JPG_<Map>.jpg``)      Poly Haven (``<id>_<map>_1k.jpg``)
============  =========================================  ======================================
colour        ``Color`` (also albedo, basecolor)         ``diff`` (also diffuse, col)
normal        ``NormalGL`` / ``NormalDX``                ``nor_gl`` / ``nor_dx``
roughness     ``Roughness``                              ``rough``
displacement  ``Displacement`` (also height)             ``disp``
metalness     ``Metalness`` (also metallic)              ``metal``
AO            ``AmbientOcclusion``                       ``ao``; ``arm``: AO, roughness, metal in R, G, B
============  =========================================  ======================================

A map is recognised by a token of its file name (split at ``_ - . space``), case-insensitive;
a normal map named only ``normal``/``nor`` is taken as OpenGL (green up) unless a
``material.json`` beside it says ``{"normal": "directx"}``. A set needs a colour map; other
files (previews, .usdc, .mtlx) are ignored. :func:`pbr_sets` scans a folder recursively (an
asset library's ``LIB/materials`` works as it is) and checks every map decodes.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from simgen.errors import SimgenError
from simgen.paths import ASSET_DIR
from simgen.scene.data import MAX_IMAGE_PIXELS, PbrSet

BUNDLED_PBR: Path = ASSET_DIR / "materials"
"""The bundled sets (made by scripts/make_pbr_sets.py): materials.pbr_dir=bundled."""


def resolve_pbr_dir(pbr_dir: str) -> str:
    """materials.pbr_dir as a folder: "bundled" names :data:`BUNDLED_PBR`."""
    return str(BUNDLED_PBR) if pbr_dir == "bundled" else pbr_dir


MAP_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr")
_TOKENS = {
    "color": ("color", "colour", "albedo", "basecolor", "diff", "diffuse", "col"),
    "roughness": ("roughness", "rough"),
    "displacement": ("displacement", "disp", "height"),
    "metalness": ("metalness", "metallic", "metal"),
    "ao": ("ambientocclusion", "ao", "occlusion"),
    "arm": ("arm",),
}


def classify(name: str) -> tuple[str, str | None] | None:
    """(map kind, normal convention or None) of a map's file name, or None: not a map."""
    tokens = [t for t in re.split(r"[_\-. ]+", Path(name).stem.lower()) if t]
    joined = "_".join(tokens)
    if "normalgl" in tokens or "nor_gl" in joined or "normal_gl" in joined:
        return "normal", "opengl"
    if "normaldx" in tokens or "nor_dx" in joined or "normal_dx" in joined:
        return "normal", "directx"
    if "normal" in tokens or "nor" in tokens:
        return "normal", None
    if "base" in tokens and "color" in tokens:
        return "color", None
    for kind, names in _TOKENS.items():
        if any(t in names for t in tokens):
            return kind, None
    return None


def read_set(folder: Path) -> PbrSet | None:
    """The set in ``folder`` (its own files, not subfolders), or None when it has no colour map.
    Of several normal maps the OpenGL one is used, else the DirectX one."""
    maps: dict[str, str] = {}
    normals: dict[str | None, str] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                       and p.suffix.lower() in MAP_SUFFIXES):
        kind = classify(path.name)
        if kind is not None and kind[0] == "normal":
            normals.setdefault(kind[1], str(path.resolve()))
        elif kind is not None:
            maps.setdefault(kind[0], str(path.resolve()))
    if "color" not in maps:
        return None
    convention = next((c for c in ("opengl", "directx", None) if c in normals), "opengl")
    if convention is None:  # a plain "normal" map: OpenGL unless material.json says otherwise
        convention = _stated_convention(folder)
    return PbrSet(name=folder.name, color=maps["color"], roughness=maps.get("roughness"),
                  normal=normals.get(convention, normals.get(None)), normal_convention=convention,
                  displacement=maps.get("displacement"), metalness=maps.get("metalness"), ao=maps.get("ao"),
                  arm=maps.get("arm"))


def _stated_convention(folder: Path) -> str:
    meta = folder / "material.json"
    if not meta.is_file():
        return "opengl"
    try:
        stated = json.loads(meta.read_text()).get("normal", "opengl")
    except (ValueError, AttributeError, OSError):
        raise SimgenError(f"cannot read {meta}: not a JSON object; fix or remove it") from None
    if stated not in ("opengl", "directx"):
        raise SimgenError(f"{meta}: normal={stated!r}; use \"opengl\" or \"directx\"")
    return stated


def pbr_sets(pbr_dir: str, key: str = "materials.pbr_dir", max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[PbrSet, ...]:
    """Every set under ``pbr_dir`` (:func:`find_pbr_sets`), each map's header checked against
    ``max_pixels`` (render.max_image_pixels) and then decoded, once per file and limit; a
    one-line SimgenError for a missing folder, a folder without sets, a map over the limit or
    one that does not decode."""
    from simgen.assets.images import check_images

    sets = find_pbr_sets(pbr_dir, key)
    for s in sets:
        check_images([Path(p) for p in s.maps().values()], f"{key}, set {s.name}", max_pixels)
    return sets


@functools.lru_cache(maxsize=8)
def find_pbr_sets(pbr_dir: str, key: str = "materials.pbr_dir") -> tuple[PbrSet, ...]:
    """Every set under ``pbr_dir`` (recursively; hidden folders and symlinked folders skipped),
    sorted by folder, its maps not read (:func:`pbr_sets` checks them); a one-line SimgenError
    for a missing folder or a folder without sets."""
    import os

    root = Path(pbr_dir).expanduser()
    if not root.is_dir():
        raise SimgenError(f"{key}={pbr_dir} is not a folder; set it to a folder of PBR material sets "
                          "(e.g. a library's LIB/materials, see docs/how-to/asset-libraries.md) or null")
    sets = []
    for folder, dirs, _ in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found = read_set(Path(folder))
        if found is not None:
            sets.append(found)
    if not sets:
        raise SimgenError(f"{key}={pbr_dir} holds no PBR set (a folder with a colour map such as "
                          f"<id>_1K-JPG_Color.jpg or <id>_diff_1k.jpg); add some or set {key}=null")
    return tuple(sets)
