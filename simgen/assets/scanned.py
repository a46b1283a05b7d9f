"""Catalogs of scanned objects: a fetched GSO library, a GSO folder or a YCB folder becomes a
catalog YAML that ``objects.catalog=PATH`` accepts (:mod:`simgen.assets.catalog`).

Layouts recognised (a folder per object, its name the object's id):

- a simgen library (``manifest.json``): every ``models`` entry, its mesh the GSO
  ``meshes/model.obj`` or the source's glTF/OBJ;
- Google Scanned Objects as Gazebo Fuel ships them: ``<id>/meshes/model.obj`` with
  ``metadata.pbtxt`` (its categories are the object's, when it names some);
- YCB: ``<id>/google_16k/textured.obj`` (``<id>/tsdf/textured.obj`` or
  ``<id>/poisson/textured.obj`` when that is all there is).

GSO and YCB meshes are in metres (``scale`` 1.0). An object's category comes from the
mapping the user gives (``{category: [ids or glob patterns]}``, first match wins), else the
source's own metadata, else ``default_category``; objects with none are left out and named
in one warning.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from simgen.errors import SimgenError
from simgen.assets.catalog import MESH_SUFFIXES, check_category_name, _check_scale
from simgen.assets.library import ENTRY, MANIFEST, Library

YCB_MESHES = ("google_16k/textured.obj", "tsdf/textured.obj", "poisson/textured.obj")


@dataclass
class ScannedObject:
    id: str
    mesh: Path
    source: str
    """'gso', 'ycb' or the library source."""
    categories: list[str]
    """The source's own categories (may be empty)."""
    attribution: str | None = None
    license: str | None = None


def _gso_categories(folder: Path) -> list[str]:
    from simgen.assets.fetch import pbtxt_categories

    p = folder / "metadata.pbtxt"
    if p.is_file() and not p.is_symlink():
        return pbtxt_categories(p.read_text(encoding="utf-8", errors="replace"))
    return []


def _library_mesh(folder: Path, entry: dict) -> Path | None:
    files = sorted(entry.get("files") or {})
    preferred = [f for f in files if f.endswith("meshes/model.obj")]
    preferred += [f for f in files if f.lower().endswith((".gltf", ".glb"))]
    preferred += [f for f in files if Path(f).suffix.lower() in MESH_SUFFIXES]
    return folder / preferred[0] if preferred else None


def scan(root: str | Path) -> list[ScannedObject]:
    """The objects under ``root`` (a library, a GSO folder or a YCB folder), sorted by id;
    SimgenError when it holds none."""
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise SimgenError(f"not a folder: {root}; give a library (simgen fetch --library) or a GSO/YCB folder")
    found: list[ScannedObject] = []
    if (root / MANIFEST).is_file():
        lib = Library(root)
        for key, e in sorted(lib.entries().items()):
            if not isinstance(e, dict) or e.get("kind") != "models":
                continue
            folder = lib.folder("models", e["source"], e["id"])
            if not (folder / ENTRY).is_file():
                continue
            mesh = _library_mesh(folder, e)
            if mesh is None:
                continue
            cats = list(e.get("categories") or []) if e.get("source") == "gso" else []
            att = e.get("attribution")
            found.append(ScannedObject(e["id"], mesh, e["source"], cats,
                                       att.get("text") if isinstance(att, dict) else att, e.get("license")))
    else:
        for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")):
            gso = d / "meshes" / "model.obj"
            if gso.is_file() and not gso.is_symlink():
                found.append(ScannedObject(d.name, gso, "gso", _gso_categories(d)))
                continue
            for rel in YCB_MESHES:
                ycb = d / rel
                if ycb.is_file() and not ycb.is_symlink():
                    found.append(ScannedObject(d.name, ycb, "ycb", []))
                    break
    if not found:
        raise SimgenError(f"no scanned objects in {root}: expected a simgen library with models, GSO folders "
                          "(<id>/meshes/model.obj) or YCB folders (<id>/google_16k/textured.obj)")
    return sorted(found, key=lambda o: o.id)


def read_mapping(path: str | Path) -> dict[str, list[str]]:
    """``{category: [ids or glob patterns]}`` from a YAML file."""
    path = Path(path).expanduser()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise SimgenError(f"cannot read the category mapping {path}: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict) or not data:
        raise SimgenError(f"the category mapping {path} must be a YAML mapping {{category: [ids or glob patterns]}}")
    out: dict[str, list[str]] = {}
    for cat, pats in data.items():
        check_category_name(cat, f"in {path}")
        if isinstance(pats, str):
            pats = [pats]
        if not isinstance(pats, list) or not all(isinstance(p, str) and p for p in pats):
            raise SimgenError(f"category {cat!r} in {path} must list ids or glob patterns (strings)")
        out[cat] = pats
    return out


def build(objects: list[ScannedObject], out: str | Path, mapping: dict[str, list[str]] | None = None,
          default_category: str | None = None, scale: float = 1.0) -> tuple[dict[str, Any], list[str]]:
    """(catalog data, ids left out for want of a category). Mesh paths relative to the
    catalog's folder where possible."""
    scale = _check_scale(scale, "--scale")
    if default_category is not None:
        check_category_name(default_category, "--default-category")
    out_dir = Path(out).expanduser().absolute().parent
    categories: list[str] = list(mapping or {})
    assets, left_out = [], []
    for o in objects:
        cat = None
        for c, pats in (mapping or {}).items():
            if any(fnmatch.fnmatchcase(o.id, p) for p in pats):
                cat = c
                break
        if cat is None and o.categories:
            cat = o.categories[0]
            try:
                check_category_name(cat, f"metadata of {o.id}")
            except SimgenError:
                cat = cat.replace("/", "-").replace("\\", "-").strip() or None
        if cat is None:
            cat = default_category
        if cat is None:
            left_out.append(o.id)
            continue
        if cat not in categories:
            categories.append(cat)
        try:
            mesh = os.path.relpath(o.mesh, out_dir)
        except ValueError:  # another drive
            mesh = str(o.mesh)
        assets.append({"mesh": Path(mesh).as_posix(), "category": cat, "scale": scale})
    used = {a["category"] for a in assets}
    given = list(mapping or {})
    categories = [c for c in given if c in used] + sorted((c for c in categories if c in used and c not in given),
                                                          key=str.casefold)
    if not assets:
        raise SimgenError(f"no object has a category ({len(left_out)} found): give --categories map.yaml "
                          "({category: [ids or glob patterns]}) or --default-category NAME")
    return {"categories": categories, "assets": assets}, left_out


def write_catalog(src: str | Path, out: str | Path, mapping_file: str | Path | None = None,
                  default_category: str | None = None, scale: float = 1.0) -> tuple[Path, int, list[str]]:
    """Scan ``src``, write the catalog to ``out`` (atomically) and check it with simgen's own
    loader. Returns (path, objects listed, ids left out)."""
    from simgen.assets.catalog import load_catalog

    objects = scan(src)
    mapping = read_mapping(mapping_file) if mapping_file else None
    data, left_out = build(objects, out, mapping, default_category, scale)
    out = Path(out).expanduser().absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    head = [f"# simgen catalog of scanned objects in {Path(src).expanduser().absolute()}",
            "# (made by `simgen catalog`; paths are relative to this file's folder; scale: metres per mesh unit)"]
    if any(o.source == "gso" for o in objects):
        head.append("# Google Scanned Objects: CC BY 4.0, Google Research; credit them where you use images of these "
                    "objects (each library entry.json has the attribution).")
    if any(o.source == "ycb" for o in objects):
        head.append("# YCB objects: see the YCB benchmark's own terms (ycbbenchmarks.com).")
    text = "\n".join(head) + "\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    load_catalog(out)  # simgen's own loader: every path resolves and is a mesh
    return out, len(data["assets"]), left_out

