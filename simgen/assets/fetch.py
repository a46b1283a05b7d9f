"""``simgen fetch``: download assets once into a local library (:mod:`simgen.assets.library`).

Sources (each from its own public API; ``--api-url`` points one at a mirror or a test server):

- ``polyhaven hdris|textures|models`` (https://api.polyhaven.com: ``/assets?t=TYPE&c=CATS``,
  ``/files/ID`` with ``url``, ``size`` and ``md5`` per file); CC0. Every call sends the
  User-Agent ``simgen/<version> (+asset fetcher)``, as the API's terms ask.
- ``ambientcg materials`` (https://ambientcg.com/api/v2/full_json with
  ``include=downloadData``: one zip per resolution and format, ``1K-JPG`` ...,
  with its size); CC0.
- ``gso models``: Google Scanned Objects on Gazebo Fuel
  (https://fuel.gazebosim.org/1.0/GoogleResearch/models, one zip per model); CC-BY 4.0, the
  attribution recorded in each entry.

Only the standard library is used (urllib, zipfile, hashlib, concurrent.futures). Nothing
else in simgen downloads: rendering reads the folder.

Behaviour: a file is downloaded to ``NAME.part`` in its entry folder (an interrupted one is
continued with an HTTP Range request), checked (size, md5 where the API gives them; zips
by their CRCs while unpacking) and renamed; an asset whose entry.json is there and whose
files have their recorded sizes is skipped. A corrupt or truncated download is deleted and
reported in one line; the run goes on with the other assets and ends with a non-zero status.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import http.client
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

from simgen import SimgenError, __version__
from simgen.assets.library import (
    ENTRY,
    PART,
    Library,
    check_id,
    folder_files,
    permissive_license,
    safe_extract,
    safe_relpath,
    utc_now,
)
from simgen.progress import Progress

USER_AGENT = f"simgen/{__version__} (+asset fetcher)"
TIMEOUT = 60.0
RETRIES = 2
"""Network errors (not checksum errors) are retried this many times, resuming the file."""


class FetchFailed(Exception):
    """One asset could not be fetched (a bad download, a missing resolution): reported in one
    line, the run goes on."""


# --------------------------------------------------------------------------- HTTP


class Http:
    """urllib with simgen's User-Agent, one-line errors and resumable downloads. Counts the
    bytes it downloads (``downloaded``)."""

    def __init__(self, timeout: float = TIMEOUT, retries: int = RETRIES):
        self.timeout, self.retries = timeout, retries
        self.downloaded = 0
        self.stop = threading.Event()
        """Set to end every download at its next chunk (Ctrl-C): the partial files stay to resume."""
        self._lock = threading.Lock()

    def _open(self, url: str, headers: dict[str, str] | None = None):
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
        return urllib.request.urlopen(req, timeout=self.timeout)

    def json(self, url: str, missing_ok: bool = False) -> Any:
        """The JSON at ``url``; None for a 404 when ``missing_ok``; SimgenError otherwise."""
        for attempt in range(self.retries + 1):
            try:
                with self._open(url) as r:
                    return json.loads(r.read().decode("utf-8"))
            except urllib.error.HTTPError as e:
                if e.code == 404 and missing_ok:
                    return None
                if e.code < 500 or attempt == self.retries:
                    raise SimgenError(f"{url} answered HTTP {e.code} {e.reason}") from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                if attempt == self.retries:
                    reason = getattr(e, "reason", e)
                    raise SimgenError(f"cannot reach {url} ({reason}); check the network or --api-url") from None
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise SimgenError(f"{url} did not answer JSON ({e}); check --api-url") from None
            time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    def download(self, f: FileSpec, folder: Path, progress: Callable[[int], None] | None = None) -> int:
        """Download ``f`` into ``folder`` (resuming ``NAME.part``), check it, rename it; the
        bytes received. FetchFailed (file deleted) for a bad size or checksum."""
        final = folder / safe_relpath(f.name)
        part = final.with_name(final.name + PART)
        final.parent.mkdir(parents=True, exist_ok=True)
        got = 0
        for attempt in range(self.retries + 1):
            try:
                got += self._get(f, part, progress)
                break
            except FetchFailed:
                raise
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                if isinstance(e, urllib.error.HTTPError) and e.code < 500:
                    part.unlink(missing_ok=True)
                    raise FetchFailed(f"{f.url} answered HTTP {e.code} {e.reason}") from None
                if attempt == self.retries:
                    raise FetchFailed(f"{f.name}: download failed ({getattr(e, 'reason', e)}); run again to "
                                      "resume it") from None
                time.sleep(0.5 * (attempt + 1))
        _check(f, part)
        os.replace(part, final)
        return got

    def _get(self, f: FileSpec, part: Path, progress: Callable[[int], None] | None) -> int:
        have = part.stat().st_size if part.exists() else 0
        if f.size is not None and have > f.size:
            part.unlink()
            have = 0
        if f.size is not None and have == f.size:
            return 0  # complete before an interruption: only the check and the rename were missing
        headers = {"Range": f"bytes={have}-"} if have else {}
        got = 0
        try:
            resp = self._open(f.url, headers)
        except urllib.error.HTTPError as e:
            if e.code == 416 and have:  # nothing after what we have: let the check decide
                return 0
            raise
        with resp:
            resuming = have and resp.status == 206
            length = resp.headers.get("Content-Length")
            with open(part, "ab" if resuming else "wb") as out:
                for chunk in iter(lambda: resp.read(1 << 16), b""):
                    if self.stop.is_set():
                        raise FetchFailed(f"{f.name}: interrupted; run again to resume it")
                    out.write(chunk)
                    got += len(chunk)
                    with self._lock:
                        self.downloaded += len(chunk)
                    if progress:
                        progress(len(chunk))
            if length is not None and got != int(length):
                raise ConnectionError(f"connection closed after {got} of {length} bytes")
        return got


def _check(f: FileSpec, part: Path) -> None:
    size = part.stat().st_size
    problem = None
    if f.size is not None and size != f.size:
        problem = f"size {size} bytes, expected {f.size}"
    elif f.md5:
        h = hashlib.md5()
        with open(part, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        if h.hexdigest().lower() != f.md5.lower():
            problem = f"md5 {h.hexdigest()}, expected {f.md5}"
    if problem:
        part.unlink(missing_ok=True)
        raise FetchFailed(f"{f.name}: corrupt download ({problem}); deleted, run again to retry")


# --------------------------------------------------------------------------- plans


@dataclass
class FileSpec:
    url: str
    name: str
    """Path inside the entry folder, as the source names the file."""
    size: int | None = None
    md5: str | None = None
    unzip: bool = False
    """An archive: unpacked into the entry folder, then deleted."""


@dataclass
class Plan:
    """What to fetch for one asset: its files and the entry's metadata."""

    kind: str
    source: str
    id: str
    files: list[FileSpec]
    meta: dict[str, Any] = field(default_factory=dict)
    finish: Callable[[Path, dict], None] | None = None
    """Called with the folder and the entry after unpacking (e.g. to read metadata files)."""

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.source}/{self.id}"


@dataclass
class Request:
    kind: str
    count: int | None = None
    ids: list[str] | None = None
    category: str | None = None
    tag: str | None = None
    resolution: str | None = None
    format: str | None = None


@dataclass
class Candidate:
    """An asset a listing named: its id and what the listing said about it."""

    id: str
    info: dict[str, Any]
    refused: str | None = None
    """Why it may not be fetched (a licence simgen does not accept)."""


class Source:
    name = ""
    kinds: tuple[str, ...] = ()
    default_api = ""
    resolutions: tuple[str, ...] = ()
    credit = ""
    formats: dict[str, tuple[str, ...]] = {}
    """kind -> accepted --format values, the first the default."""

    def __init__(self, http: Http, api_url: str | None):
        self.http = http
        self.api = (api_url or self.default_api).rstrip("/")

    def listing(self, req: Request, need: int | None) -> list[Candidate]:
        """Candidates in the source's order, filtered by category and tag."""
        raise NotImplementedError

    def lookup(self, req: Request, ids: list[str]) -> tuple[list[Candidate], list[str]]:
        """(candidates, unknown ids) for explicitly named ids."""
        raise NotImplementedError

    def plan(self, req: Request, cand: Candidate) -> Plan:
        raise NotImplementedError

    def variant(self, req: Request) -> tuple[Any, Any]:
        """(resolution, format) as this source's entries record them for ``req``."""
        return None, (self.formats.get(req.kind) or (None,))[0]


def _tags_match(tags: Any, want: str | None) -> bool:
    if not want:
        return True
    have = {str(t).lower() for t in (tags or [])}
    return all(t.strip().lower() in have for t in want.split(",") if t.strip())


def _category_match(categories: Any, want: str | None) -> bool:
    if not want:
        return True
    if isinstance(categories, str):
        categories = [categories]
    have = {str(c).lower() for c in (categories or [])}
    return all(c.strip().lower() in have for c in want.split(",") if c.strip())


# --------------------------------------------------------------------------- Poly Haven


class PolyHaven(Source):
    name = "polyhaven"
    kinds = ("hdris", "textures", "models")
    default_api = "https://api.polyhaven.com"
    credit = "Powered by Poly Haven"  # the API's terms (2.5) ask for it where its content is surfaced
    resolutions = ("1k", "2k", "4k", "8k", "16k")
    formats = {"hdris": ("hdr", "exr"), "textures": ("jpg", "png", "exr"), "models": ("gltf",)}
    CONTAINERS = ("blend", "gltf", "mtlx", "usd", "fbx")
    """Keys of a texture's /files that are scene files, not maps."""

    def _assets(self, req: Request) -> dict[str, Any]:
        query = {"t": req.kind}
        if req.category:
            query["c"] = req.category
        data = self.http.json(f"{self.api}/assets?{urllib.parse.urlencode(query)}")
        if not isinstance(data, dict):
            raise SimgenError(f"{self.api}/assets did not answer a mapping of assets; check --api-url")
        return data

    def listing(self, req: Request, need: int | None) -> list[Candidate]:
        return [Candidate(i, info) for i, info in self._assets(req).items()
                if isinstance(info, dict) and _tags_match(info.get("tags"), req.tag)]

    def lookup(self, req: Request, ids: list[str]) -> tuple[list[Candidate], list[str]]:
        assets = self._assets(Request(req.kind))
        return [Candidate(i, assets[i]) for i in ids if i in assets], [i for i in ids if i not in assets]

    def variant(self, req: Request) -> tuple[Any, Any]:
        return req.resolution or "1k", req.format or self.formats[req.kind][0]

    def plan(self, req: Request, cand: Candidate) -> Plan:
        res, fmt = self.variant(req)
        files = self.http.json(f"{self.api}/files/{urllib.parse.quote(cand.id)}")
        if not isinstance(files, dict):
            raise FetchFailed(f"{self.api}/files/{cand.id} did not answer a file tree")

        def pick(tree: Any, what: str, formats: tuple[str, ...]) -> dict:
            if not isinstance(tree, dict) or res not in tree:
                have = ", ".join(sorted(tree)) if isinstance(tree, dict) else "none"
                raise FetchFailed(f"no {res} {what} (it has {have}); choose another --resolution")
            for f in formats:
                if isinstance(tree[res].get(f), dict):
                    return tree[res][f]
            raise FetchFailed(f"no {what} at {res} as {'/'.join(formats)} (it has {', '.join(tree[res])})")

        def spec(entry: dict, name: str | None = None) -> FileSpec:
            url = entry["url"]
            return FileSpec(url, name or os.path.basename(urllib.parse.urlparse(url).path),
                            entry.get("size"), entry.get("md5"))

        if req.kind == "hdris":
            specs = [spec(pick(files.get("hdri"), "HDRI", (fmt,)))]
        elif req.kind == "textures":
            order = (fmt,) + tuple(f for f in ("jpg", "png", "exr") if f != fmt)
            specs = []
            for key, tree in files.items():
                if key in self.CONTAINERS or not isinstance(tree, dict) or res not in tree:
                    continue
                specs.append(spec(pick(tree, key, order)))
            if not specs:
                raise FetchFailed(f"no texture maps at {res}")
        else:
            main = pick(files.get("gltf"), "glTF", ("gltf",))
            specs = [spec(main)]
            for rel, inc in (main.get("include") or {}).items():
                safe_relpath(rel)
                specs.append(spec(inc, rel))
        info = cand.info
        authors = info.get("authors") or {}
        meta = {
            "name": info.get("name", cand.id),
            "version": info.get("files_hash") or str(info.get("date_published", "")),
            "license": "CC0-1.0",
            "attribution": {"authors": [f"{a} ({r})" if r and r != "All" else a for a, r in authors.items()],
                            "text": "Poly Haven (polyhaven.com), CC0: no attribution required",
                            "required": False},
            "url": f"https://polyhaven.com/a/{cand.id}",
            "resolution": res,
            "format": fmt,
            "tags": list(info.get("tags") or []),
            "categories": list(info.get("categories") or []),
        }
        kind = {"hdris": "hdris", "textures": "materials", "models": "models"}[req.kind]
        return Plan(kind, self.name, cand.id, specs, meta)


# --------------------------------------------------------------------------- ambientCG


class AmbientCG(Source):
    name = "ambientcg"
    kinds = ("materials",)
    default_api = "https://ambientcg.com/api/v2"
    resolutions = ("1k", "2k", "4k", "8k", "12k", "16k")
    formats = {"materials": ("jpg", "png")}
    PAGE = 100
    INCLUDE = "downloadData,tagData,displayData"

    def _query(self, **params: Any) -> dict:
        params = {k: v for k, v in params.items() if v not in (None, "")}
        data = self.http.json(f"{self.api}/full_json?{urllib.parse.urlencode(params)}")
        if not isinstance(data, dict) or not isinstance(data.get("foundAssets", []), list):
            raise SimgenError(f"{self.api}/full_json did not answer a list of assets; check --api-url")
        return data

    def listing(self, req: Request, need: int | None) -> list[Candidate]:
        out: list[Candidate] = []
        offset = 0
        while True:
            data = self._query(type="Material", category=req.category, q=req.tag, include=self.INCLUDE,
                               limit=self.PAGE, offset=offset, sort="Popular")
            found = data.get("foundAssets") or []
            for a in found:
                if not isinstance(a, dict) or "assetId" not in a:
                    continue
                if _tags_match(a.get("tags"), req.tag) and _category_match(
                        a.get("displayCategory") or a.get("category"), req.category):
                    out.append(Candidate(a["assetId"], a))
            offset += len(found)
            total = data.get("numberOfResults")
            if (not found or len(found) < self.PAGE or (need is not None and len(out) >= need)
                    or (isinstance(total, int) and offset >= total)):
                return out

    def lookup(self, req: Request, ids: list[str]) -> tuple[list[Candidate], list[str]]:
        found, unknown = [], []
        for i in ids:
            assets = [a for a in self._query(id=i, include=self.INCLUDE).get("foundAssets") or []
                      if isinstance(a, dict) and a.get("assetId") == i]
            (found.append(Candidate(i, assets[0])) if assets else unknown.append(i))
        return found, unknown

    def variant(self, req: Request) -> tuple[Any, Any]:
        res, fmt = req.resolution or "1k", req.format or "jpg"
        return f"{res.upper()}-{fmt.upper()}", fmt

    def plan(self, req: Request, cand: Candidate) -> Plan:
        attribute, fmt = self.variant(req)
        a = cand.info
        folders = a.get("downloadFolders") or {}
        downloads: list[dict] = []
        for folder in (folders.values() if isinstance(folders, dict) else folders):
            cats = (folder or {}).get("downloadFiletypeCategories") or {}
            z = cats.get("zip") if isinstance(cats, dict) else None
            downloads += [d for d in (z or {}).get("downloads") or [] if isinstance(d, dict)]
        chosen = next((d for d in downloads if str(d.get("attribute", "")).upper() == attribute), None)
        if chosen is None:
            have = ", ".join(sorted(str(d.get("attribute")) for d in downloads)) or "none"
            raise FetchFailed(f"no {attribute} download (it has {have}); choose another --resolution/--format")
        name = chosen.get("fileName") or f"{cand.id}_{attribute}.zip"
        url = chosen.get("downloadLink") or chosen.get("rawLink")
        meta = {
            "name": a.get("displayName", cand.id),
            "version": a.get("releaseDate") or a.get("dateModified") or "",
            "license": "CC0-1.0",
            "attribution": {"authors": ["ambientCG"], "text": "ambientCG (ambientcg.com), CC0: no attribution "
                            "required", "required": False},
            "url": a.get("shortLink") or f"https://ambientcg.com/view?id={cand.id}",
            "resolution": attribute,
            "format": fmt,
            "tags": list(a.get("tags") or []),
            "categories": [c for c in [a.get("displayCategory") or a.get("category")] if c],
        }
        return Plan("materials", self.name, cand.id, [FileSpec(url, name, chosen.get("size"), None, unzip=True)],
                    meta)


# --------------------------------------------------------------------------- Google Scanned Objects


def pbtxt_categories(text: str) -> list[str]:
    """Categories a Gazebo ``metadata.pbtxt`` names: ``categories: "X"`` fields and
    ``annotations { key: "category" value: "X" }`` blocks."""
    out = re.findall(r'^\s*categor(?:y|ies)\s*:\s*"([^"]*)"', text, flags=re.M)
    for block in re.findall(r"annotations\s*\{([^}]*)\}", text):
        key = re.search(r'key\s*:\s*"([^"]*)"', block)
        value = re.search(r'value\s*:\s*"([^"]*)"', block)
        if key and value and key.group(1).lower() in ("category", "categories"):
            out.append(value.group(1))
    return [c.strip() for c in out if c.strip()]


CC_BY_URL = "https://creativecommons.org/licenses/by/4.0/"


class GSO(Source):
    name = "gso"
    kinds = ("models",)
    default_api = "https://fuel.gazebosim.org/1.0"
    OWNER = "GoogleResearch"
    PAGE = 100
    formats = {"models": ("zip",)}

    def _base(self) -> str:
        return f"{self.api}/{self.OWNER}/models"

    def _candidate(self, m: dict) -> Candidate:
        licence = permissive_license(m.get("license_name"))
        refused = None if licence else (f"licence {m.get('license_name')!r} is not CC0 or CC-BY; simgen "
                                        "fetches only permissive licences")
        return Candidate(str(m.get("name")), m, refused)

    def listing(self, req: Request, need: int | None) -> list[Candidate]:
        out: list[Candidate] = []
        page = 1
        while True:
            data = self.http.json(f"{self._base()}?{urllib.parse.urlencode({'page': page, 'per_page': self.PAGE})}",
                                  missing_ok=True)
            if not isinstance(data, list) or not data:
                return out
            for m in data:
                if isinstance(m, dict) and m.get("name") and _tags_match(m.get("tags"), req.tag) \
                        and _category_match(m.get("categories"), req.category):
                    out.append(self._candidate(m))
            if len(data) < self.PAGE or (need is not None and len([c for c in out if not c.refused]) >= need):
                return out
            page += 1

    def lookup(self, req: Request, ids: list[str]) -> tuple[list[Candidate], list[str]]:
        found, unknown = [], []
        for i in ids:
            m = self.http.json(f"{self._base()}/{urllib.parse.quote(i)}", missing_ok=True)
            (found.append(self._candidate(m)) if isinstance(m, dict) and m.get("name") == i else unknown.append(i))
        return found, unknown

    def plan(self, req: Request, cand: Candidate) -> Plan:
        m = cand.info
        version = m.get("version") or "tip"
        q = urllib.parse.quote(cand.id)
        url = f"{self._base()}/{q}/{version}/{q}.zip"
        page = f"https://app.gazebosim.org/{self.OWNER}/fuel/models/{q}"
        licence = permissive_license(m.get("license_name")) or "CC-BY-4.0"
        meta = {
            "name": cand.id,
            "version": f"{version} ({m.get('modify_date') or m.get('upload_date') or 'unknown date'})",
            "license": licence,
            "attribution": {
                "authors": ["Google Research"],
                "text": f"\"{cand.id}\" from Google Scanned Objects by Google Research ({page}), "
                        f"{m.get('license_name') or 'CC BY 4.0'} ({m.get('license_url') or CC_BY_URL}). "
                        "Downs et al., Google Scanned Objects: A High-Quality Dataset of 3D Scanned Household "
                        "Items, ICRA 2022.",
                "required": licence.startswith("CC-BY")},
            "url": page,
            "resolution": None,
            "format": "zip",
            "tags": list(m.get("tags") or []),
            "categories": list(m.get("categories") or []),
        }

        def finish(folder: Path, entry: dict) -> None:
            for p in sorted(folder.rglob("metadata.pbtxt")):
                if not p.is_symlink():
                    for c in pbtxt_categories(p.read_text(encoding="utf-8", errors="replace")):
                        if c not in entry["categories"]:
                            entry["categories"].append(c)

        return Plan("models", self.name, cand.id, [FileSpec(url, f"{cand.id}.zip", None, None, unzip=True)], meta,
                    finish)


SOURCES: dict[str, type[Source]] = {s.name: s for s in (PolyHaven, AmbientCG, GSO)}
"""``simgen fetch SOURCE KIND``: every source and the kinds it offers."""


def library_kind(source: str, kind: str) -> str:
    """The library kind (hdris, materials, models) a source's kind goes to."""
    return {"textures": "materials"}.get(kind, kind)


# --------------------------------------------------------------------------- the run


@dataclass
class Summary:
    library: Path
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0
    credit: str = ""
    """The credit a source's API terms ask for where its content is presented."""

    def text(self) -> str:
        mb = self.bytes / 1e6
        if not self.downloaded and not self.failed:
            head = (f"simgen fetch: nothing to download: the {len(self.skipped)} asset(s) asked for are already in "
                    f"{self.library}")
        else:
            head = (f"simgen fetch: downloaded {len(self.downloaded)} asset(s) ({mb:.1f} MB in {self.seconds:.1f} s), "
                    f"skipped {len(self.skipped)} already there, failed {len(self.failed)}; library {self.library}")
        return (head + (f"; {len(self.refused)} refused for their licence" if self.refused else "")
                + (f" ({self.credit})" if self.credit else ""))


def check_request(source: str, kind: str, req: Request) -> type[Source]:
    """The source class; SimgenError (bad usage) for an unknown source, kind, resolution or
    format, or a request that names nothing."""
    from simgen.schema import did_you_mean

    if source not in SOURCES:
        guess = did_you_mean(source, list(SOURCES))
        raise SimgenError(f"unknown source {source!r}; {guess + ' ' if guess else ''}sources: {', '.join(SOURCES)}")
    cls = SOURCES[source]
    if kind not in cls.kinds:
        raise SimgenError(f"{source} has no kind {kind!r}; it offers {', '.join(cls.kinds)}")
    if req.count is None and not req.ids:
        raise SimgenError("say what to fetch: --count N (the first N the source lists, after --category/--tag) "
                          "or --ids a,b,...")
    if req.count is not None and req.count < 1:
        raise SimgenError(f"--count must be at least 1, got {req.count}")
    if req.resolution is not None:
        if not cls.resolutions:
            raise SimgenError(f"{source} {kind} come in one resolution; drop --resolution")
        if req.resolution.lower() not in cls.resolutions:
            raise SimgenError(f"unknown --resolution {req.resolution!r} for {source}; choose one of "
                              f"{', '.join(cls.resolutions)}")
        req.resolution = req.resolution.lower()
    if req.format is not None:
        allowed = cls.formats.get(kind, ())
        if req.format.lower() not in allowed:
            raise SimgenError(f"unknown --format {req.format!r} for {source} {kind}; choose one of "
                              f"{', '.join(allowed) or '(none: drop --format)'}")
        req.format = req.format.lower()
    for i in req.ids or []:
        check_id(i)
    return cls


def fetch(source: str, kind: str, library: str | Path, req: Request, *, jobs: int = 4,
          api_url: str | None = None, stream: TextIO | None = None, http: Http | None = None) -> Summary:
    """Fetch what ``req`` asks for from ``source`` into ``library``.

    Raises SimgenError before any download for bad usage, an unknown id (all unknown ids in
    one line) or an explicitly named asset under a licence simgen does not accept. Per-asset
    failures (a corrupt download, a missing resolution) are reported on ``stream`` in one
    line each and listed in the summary."""
    stream = stream if stream is not None else sys.stderr
    t0 = time.monotonic()
    req.kind = kind
    cls = check_request(source, kind, req)
    if jobs < 1:
        raise SimgenError(f"--jobs must be at least 1, got {jobs}")
    lib = Library(library)
    lib.read_manifest()  # a folder that is something else is refused before any download
    http = http or Http()
    src = cls(http, api_url)
    lkind = library_kind(source, kind)
    summary = Summary(lib.root, credit=src.credit)
    present: list[dict] = []

    other_variant: list[str] = []

    def complete(asset_id: str) -> dict | None:
        try:
            e = lib.complete_entry(lkind, source, asset_id)
        except SimgenError:
            return None
        if e is not None and (e.get("resolution"), e.get("format")) != src.variant(req):
            other_variant.append(f"{asset_id} ({e.get('resolution') or '-'} {e.get('format') or ''})".strip())
        return e

    if req.ids:
        ids = list(dict.fromkeys(req.ids))
        local = {i: e for i in ids if (e := complete(i)) is not None}
        wanted = [i for i in ids if i not in local]
        cands: list[Candidate] = []
        if wanted:
            cands, unknown = src.lookup(req, wanted)
            if unknown:
                raise SimgenError(f"unknown {source} {kind} id(s): {', '.join(unknown)} (not in {src.api}); check "
                                  "the spelling on the source's website")
            refused = [c for c in cands if c.refused]
            if refused:
                raise SimgenError(f"{source} {refused[0].id}: {refused[0].refused}")
        summary.skipped += [f"{lkind}/{source}/{i}" for i in local]
        present += list(local.values())
        todo = cands
    else:
        listed = src.listing(req, req.count)
        for c in listed:
            if c.refused:
                summary.refused.append((c.id, c.refused))
        listed = [c for c in listed if not c.refused]
        if summary.refused:
            print(f"simgen fetch: warning: left out {len(summary.refused)} {source} asset(s) whose licence is not "
                  f"CC0 or CC-BY: {', '.join(i for i, _ in summary.refused[:10])}"
                  + (" ..." if len(summary.refused) > 10 else ""), file=stream, flush=True)
        if not listed:
            raise SimgenError(f"{source} lists no {kind}" + (f" in category {req.category!r}" if req.category else "")
                              + (f" with tag {req.tag!r}" if req.tag else "") + "; check --category/--tag")
        todo = []
        for c in listed[:req.count]:
            try:
                check_id(c.id)
            except SimgenError as e:
                summary.failed.append((c.id, str(e)))
                continue
            e = complete(c.id)
            if e is not None:
                summary.skipped.append(e["key"])
                present.append(e)
            else:
                todo.append(c)
        if len(listed) < (req.count or 0):
            print(f"simgen fetch: warning: {source} lists only {len(listed)} {kind} for this request "
                  f"(--count {req.count})", file=stream, flush=True)

    if other_variant:
        res, fmt = src.variant(req)
        print(f"simgen fetch: warning: {len(other_variant)} asset(s) are in the library at another resolution or "
              f"format, kept as they are (one set per folder; delete a folder to fetch it as {res} {fmt}): "
              f"{', '.join(other_variant[:10])}" + (" ..." if len(other_variant) > 10 else ""), file=stream,
              flush=True)
    # entries complete on disk but missing from the manifest (a run killed between the two writes)
    in_manifest = lib.entries()
    lib.update_manifest([e for e in present if e.get("key") not in in_manifest])
    if not todo:
        summary.seconds = time.monotonic() - t0
        return summary

    report_lock = threading.Lock()
    progress = Progress(len(todo), label=f"{source} {kind}", stream=stream)

    def fail(key: str, message: str) -> None:
        with report_lock:
            summary.failed.append((key, message))
            print(f"simgen fetch: error: {key}: {message}", file=stream, flush=True)

    with cf.ThreadPoolExecutor(jobs, thread_name_prefix="fetch-asset") as assets, \
            cf.ThreadPoolExecutor(jobs, thread_name_prefix="fetch-file") as files:

        def one(c: Candidate) -> None:
            key = f"{lkind}/{source}/{c.id}"
            try:
                plan = src.plan(req, c)
                _fetch_plan(plan, lib, http, files)
                with report_lock:
                    summary.downloaded.append(key)
            except (FetchFailed, SimgenError) as e:
                fail(key, " ".join(str(e).split()))
            except Exception as e:  # noqa: BLE001 - one asset's surprise must not stop the others
                fail(key, f"{type(e).__name__}: {' '.join(str(e).split())}")
            finally:
                with report_lock:
                    progress.update()

        futures = [assets.submit(one, c) for c in todo]
        try:
            for fut in futures:
                fut.result()
        except KeyboardInterrupt:
            http.stop.set()  # downloads end at their next chunk; what is on disk stays to resume
            for fut in futures:
                fut.cancel()
            raise
    summary.bytes = http.downloaded
    summary.seconds = time.monotonic() - t0
    return summary


def _fetch_plan(plan: Plan, lib: Library, http: Http, pool: cf.ThreadPoolExecutor) -> None:
    folder = lib.folder(plan.kind, plan.source, plan.id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ENTRY).unlink(missing_ok=True)  # incomplete from here until the entry is written again
    names = [safe_relpath(f.name).as_posix() for f in plan.files]
    if len(set(names)) != len(names):
        raise FetchFailed("the source names two files alike")

    def get(f: FileSpec) -> None:
        final = folder / safe_relpath(f.name)
        if final.is_file() and not final.is_symlink() and (f.size is None or final.stat().st_size == f.size):
            if f.size is not None or f.unzip:
                return  # complete and checked before (renamed only then): a resumed run skips it
        http.download(f, folder)

    futures = [pool.submit(get, f) for f in plan.files]
    errors = []
    for fut in futures:
        try:
            fut.result()
        except (FetchFailed, SimgenError) as e:
            errors.append(str(e))
    if errors:
        raise FetchFailed(errors[0] + (f" (and {len(errors) - 1} more file(s))" if len(errors) > 1 else ""))
    archives = []
    for f in plan.files:
        if f.unzip:
            path = folder / safe_relpath(f.name)
            try:
                safe_extract(path, folder)
            except SimgenError as e:
                path.unlink(missing_ok=True)
                raise FetchFailed(f"{e} (deleted; run again to retry)") from None
            archives.append(safe_relpath(f.name).as_posix())
    entry = {"key": plan.key, "kind": plan.kind, "source": plan.source, "id": plan.id, **plan.meta,
             "files": {}, "fetched": utc_now()}
    entry["categories"] = list(entry.get("categories") or [])
    if plan.finish:
        plan.finish(folder, entry)
    entry["files"] = folder_files(folder, skip=set(archives))
    if not entry["files"]:
        raise FetchFailed("nothing was unpacked")
    lib.add(entry)
    for rel in archives:
        (folder / rel).unlink(missing_ok=True)
