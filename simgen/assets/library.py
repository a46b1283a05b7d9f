"""Local asset libraries: folders of fetched assets with a manifest (no bpy, no network).

``simgen fetch`` (:mod:`simgen.assets.fetch`) writes them; renderers only read them. The
layout, which readers may rely on::

    LIB/manifest.json                    {"format": "simgen-library", "version": 1, "entries": {KEY: ENTRY}}
    LIB/<kind>/<source>/<id>/...         the asset's files, named as the source names them
    LIB/<kind>/<source>/<id>/entry.json  ENTRY, written last: a folder without it is incomplete

``kind`` is one of :data:`KINDS`; ``KEY`` is ``"<kind>/<source>/<id>"``. An ENTRY holds
``key, kind, source, id, name, version, license, attribution, url, resolution, tags,
categories, files`` (``{relative path: {"size", "sha256"}}``) and ``fetched`` (UTC, ISO 8601).
manifest.json is rewritten atomically (a temporary file renamed over it) under a lock file,
so two fetches into one library do not lose each other's entries; each entry.json is the
truth for its folder (a library copied without its manifest can be read folder by folder).

:func:`entry_for` names the entry a file belongs to (for frame meta and dataset.json);
:func:`safe_extract` unpacks a downloaded zip as data (no absolute paths, no ``..``, no
links, bounded size).
"""

from __future__ import annotations

from typing import Iterable

import contextlib
import datetime as _dt
import hashlib
import json
import os
import re
import stat
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from simgen.errors import SimgenError

FORMAT = "simgen-library"
VERSION = 1
KINDS = ("hdris", "materials", "models")
MANIFEST = "manifest.json"
ENTRY = "entry.json"
LOCK = ".manifest.lock"
PART = ".part"
"""Suffix of a file being downloaded (renamed to its own name once complete and checked)."""

MAX_UNPACKED = 4 << 30
"""Largest total a zip may unpack to (bytes); a bigger one is refused as a zip bomb."""
MAX_MEMBERS = 10_000

_thread_lock = threading.Lock()


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def check_id(text: Any, what: str = "asset id") -> str:
    """``text`` if it can name a folder of the library (no separators, no '..', no control
    characters, not hidden); SimgenError otherwise."""
    if (not isinstance(text, str) or not text.strip() or text != text.strip() or text in (".", "..")
            or text.startswith(".") or any(c in text for c in "/\\:") or not text.isprintable()):
        raise SimgenError(f"bad {what} {text!r}: it names a folder of the library, so no '/', '\\', ':', "
                          "leading '.', control characters or surrounding spaces")
    return text


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json_atomic(path: Path, data: Any) -> None:
    """``data`` as indented JSON in ``path``, via a temporary file renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


# --------------------------------------------------------------------------- licences

_CC0 = re.compile(r"\b(cc0|cc zero|creative commons zero|public domain)\b")
_NOT_FREE = re.compile(r"(non ?commercial|\bnc\b|no ?deriv|\bnd\b|share ?alike|\bsa\b)")
_BY = re.compile(r"(\bcc by\b|creative commons attribution|creative commons by\b)")


def permissive_license(name: Any) -> str | None:
    """The canonical id (``CC0-1.0``, ``CC-BY-4.0``, ``CC-BY-3.0``) of a licence name as
    sources write it, or None when it is not one simgen accepts (anything NonCommercial,
    NoDerivatives, ShareAlike, or unknown)."""
    if not isinstance(name, str):
        return None
    text = " ".join(re.sub(r"[-_/,().]+", " ", name.lower()).split())
    if _CC0.search(text):
        return "CC0-1.0"
    if _NOT_FREE.search(text):
        return None
    if _BY.search(text):
        version = re.search(r"\b([1-4])\s?0\b", text)
        return f"CC-BY-{version.group(1)}.0" if version else "CC-BY-4.0"
    return None


# --------------------------------------------------------------------------- the library


class Library:
    """A library folder (created on first write)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().absolute()

    def folder(self, kind: str, source: str, asset_id: str) -> Path:
        if kind not in KINDS:
            raise SimgenError(f"unknown kind {kind!r}; a library holds {', '.join(KINDS)}")
        return self.root / kind / check_id(source, "source") / check_id(asset_id)

    def read_manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        if not path.is_file():
            if self.root.is_dir() and any(not p.name.startswith(".") and p.name not in KINDS
                                          for p in self.root.iterdir()):
                raise SimgenError(f"{self.root} holds other files and no {MANIFEST}: it is not an asset library; "
                                  "give a new or empty folder, or an existing library")
            return {"format": FORMAT, "version": VERSION, "entries": {}}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SimgenError(f"cannot read {path}: {' '.join(str(e).split())}; delete it and run `simgen fetch` "
                              "again to rebuild it from the entry.json files") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("entries"), dict):
            raise SimgenError(f"{path} is not a simgen library manifest (format {FORMAT!r}); point --library at "
                              "a library folder or an empty one")
        if data.get("version", 0) > VERSION:
            raise SimgenError(f"{path} has version {data.get('version')}, newer than this simgen reads "
                              f"({VERSION}); update simgen")
        return data

    def entries(self) -> dict[str, dict]:
        return dict(self.read_manifest()["entries"])

    def read_entry(self, kind: str, source: str, asset_id: str) -> dict | None:
        path = self.folder(kind, source, asset_id) / ENTRY
        try:
            if path.is_symlink():
                return None
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def complete_entry(self, kind: str, source: str, asset_id: str) -> dict | None:
        """The entry of an asset whose folder is complete (entry.json there and every file it
        lists present with its recorded size), else None. Sizes only: cheap on big libraries."""
        entry = self.read_entry(kind, source, asset_id)
        if entry is None or not isinstance(entry.get("files"), dict) or not entry["files"]:
            return None
        folder = self.folder(kind, source, asset_id)
        for rel, info in entry["files"].items():
            try:
                p = folder / safe_relpath(rel)
                if p.is_symlink() or p.stat().st_size != int(info["size"]):
                    return None
            except (OSError, SimgenError, KeyError, TypeError, ValueError):
                return None
        return entry

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Holds the library's lock (threads of this process and other processes)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with _thread_lock, open(self.root / LOCK, "a+b") as f:
            try:
                import fcntl
            except ImportError:  # not POSIX: threads of one process are still serialised
                yield
                return
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def add(self, entry: dict) -> None:
        """Write ``entry`` as its folder's entry.json (last of the folder's files), then into
        manifest.json."""
        folder = self.folder(entry["kind"], entry["source"], entry["id"])
        write_json_atomic(folder / ENTRY, entry)
        self.update_manifest([entry])

    def update_manifest(self, entries: list[dict]) -> None:
        if not entries:
            return
        with self.locked():
            data = self.read_manifest()
            for e in entries:
                data["entries"][e["key"]] = e
            data["format"], data["version"] = FORMAT, VERSION
            write_json_atomic(self.root / MANIFEST, data)


# --------------------------------------------------------------------------- entry_for

_entry_cache: dict[str, dict | None] = {}
_cache_lock = threading.Lock()


def _library_root(folder: str) -> str | None:
    d = folder
    while True:
        if os.path.isfile(os.path.join(d, MANIFEST)):
            return d
        parent = os.path.dirname(d)
        if parent == d or os.path.islink(d):
            return None
        d = parent


def entry_for(path: str | os.PathLike) -> dict | None:
    """For a file (or folder) inside a library, the entry it belongs to:
    ``{library, key, kind, source, id, version, license, attribution}``; None when it is in
    none. Walks up to the nearest entry.json, never past the folder holding manifest.json
    and never through a symlink (a linked file or folder belongs to no entry). Results are
    cached per folder (:func:`clear_entry_cache` forgets them)."""
    p = os.path.abspath(os.fspath(path))
    if os.path.islink(p):
        return None
    folder = p if os.path.isdir(p) else os.path.dirname(p)
    with _cache_lock:
        if folder in _entry_cache:
            return _entry_cache[folder]
    visited, result, d = [], None, folder
    while True:
        with _cache_lock:
            if d in _entry_cache:
                result = _entry_cache[d]
                break
        visited.append(d)
        if os.path.islink(d):
            break
        entry_path = os.path.join(d, ENTRY)
        if os.path.isfile(entry_path) and not os.path.islink(entry_path):
            result = _describe(d, entry_path)
            break
        if os.path.isfile(os.path.join(d, MANIFEST)):
            break
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    with _cache_lock:
        for v in visited:
            _entry_cache[v] = result
    return result


def _describe(folder: str, entry_path: str) -> dict | None:
    root = _library_root(os.path.dirname(folder))
    if root is None:
        return None
    try:
        with open(entry_path, encoding="utf-8") as f:
            e = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    key = os.path.relpath(folder, root).replace(os.sep, "/")
    if not isinstance(e, dict) or e.get("key") != key:
        return None  # an entry.json that is not where its key says: not part of this library
    return {"library": root, "key": key, "kind": e.get("kind"), "source": e.get("source"), "id": e.get("id"),
            "version": e.get("version"), "license": e.get("license"), "attribution": e.get("attribution")}


def entries_of(paths: "Iterable[str | os.PathLike]") -> list[dict]:
    """The library entries (:func:`entry_for`) of ``paths``, each once, sorted by key: what a
    frame names in its meta (``library``)."""
    found: dict[str, dict] = {}
    for path in paths:
        entry = entry_for(path)
        if entry is not None:
            found.setdefault(entry["key"], entry)
    return [found[k] for k in sorted(found)]


def clear_entry_cache() -> None:
    with _cache_lock:
        _entry_cache.clear()


# --------------------------------------------------------------------------- zips as data


def safe_relpath(name: str) -> Path:
    """``name`` (a path a source or an archive gives) as a relative path that stays inside
    its folder; SimgenError for absolute paths, drive letters, '..' or empty parts."""
    text = name.replace("\\", "/")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if (not parts or text.startswith("/") or re.match(r"^[A-Za-z]:", text) or any(p == ".." for p in parts)
            or any(not p.isprintable() for p in parts)):
        raise SimgenError(f"unsafe path {name!r}: absolute, or leading out of its folder")
    return Path(*parts)


def safe_extract(zip_path: str | Path, dest: str | Path, max_bytes: int = MAX_UNPACKED,
                 max_members: int = MAX_MEMBERS) -> list[str]:
    """Unpack ``zip_path`` into ``dest``; returns the relative paths written (posix).

    Refused with a SimgenError before anything is written: a member with an absolute path or
    '..', a symlink or other special file, more than ``max_members`` members, or declared
    sizes over ``max_bytes``; while unpacking, actual bytes over ``max_bytes`` (a lying
    header) and CRC errors (a corrupt archive)."""
    zip_path, dest = Path(zip_path), Path(dest)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as e:
        raise SimgenError(f"{zip_path.name} is not a readable zip ({' '.join(str(e).split())})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise SimgenError(f"{zip_path.name} has {len(infos)} members (limit {max_members}); refused")
        plan: list[tuple[zipfile.ZipInfo, Path]] = []
        declared = 0
        for info in infos:
            try:
                rel = safe_relpath(info.filename)
            except SimgenError as e:
                raise SimgenError(f"{zip_path.name}: {e}; refused") from None
            ftype = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip records none (e.g. made on Windows)
            if ftype and ftype not in (stat.S_IFREG, stat.S_IFDIR):
                raise SimgenError(f"{zip_path.name}: member {info.filename!r} is a link or special file; refused")
            declared += info.file_size
            if declared > max_bytes:
                raise SimgenError(f"{zip_path.name} unpacks to more than {max_bytes} bytes; refused")
            if not info.is_dir():
                plan.append((info, rel))
        written, total = [], 0
        for info, rel in plan:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + PART)
            try:
                with zf.open(info) as src, open(tmp, "wb") as out:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        total += len(chunk)
                        if total > max_bytes:
                            raise SimgenError(f"{zip_path.name} unpacks to more than {max_bytes} bytes; refused")
                        out.write(chunk)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as e:
                tmp.unlink(missing_ok=True)
                raise SimgenError(f"{zip_path.name} is corrupt ({' '.join(str(e).split())})") from None
            except SimgenError:
                tmp.unlink(missing_ok=True)
                raise
            os.replace(tmp, target)
            written.append(rel.as_posix())
    return written


def folder_files(folder: Path, skip: set[str] | None = None) -> dict[str, dict]:
    """``{relative path: {"size", "sha256"}}`` of every regular file under ``folder`` (links,
    entry.json, temporary and ``skip`` files left out)."""
    skip = skip or set()
    out: dict[str, dict] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d)))
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(folder).as_posix()
            if (rel == ENTRY or rel in skip or name.endswith(PART) or name.startswith(".")
                    or p.is_symlink() or not p.is_file()):
                continue
            out[rel] = {"size": p.stat().st_size, "sha256": sha256_of(p)}
    return out
