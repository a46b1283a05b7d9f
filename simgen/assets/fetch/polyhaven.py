"""Poly Haven (https://api.polyhaven.com): HDRIs, textures and glTF models, CC0."""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

from simgen.errors import SimgenError
from simgen.assets.fetch.base import Source, _tags_match
from simgen.assets.fetch.plan import Candidate, FetchFailed, FileSpec, Plan, Request
from simgen.assets.library import safe_relpath


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
