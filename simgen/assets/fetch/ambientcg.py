"""ambientCG (https://ambientcg.com/api/v2): PBR materials, one zip per resolution and
format, CC0."""

from __future__ import annotations

import urllib.parse
from typing import Any

from simgen.errors import SimgenError
from simgen.assets.fetch.base import Source, _category_match, _tags_match
from simgen.assets.fetch.plan import Candidate, FetchFailed, FileSpec, Plan, Request


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
