"""Google Scanned Objects on Gazebo Fuel (https://fuel.gazebosim.org/1.0/GoogleResearch):
one zip per model, CC-BY 4.0 with its attribution; categories read from ``metadata.pbtxt``."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

from simgen.assets.fetch.base import Source, _category_match, _tags_match
from simgen.assets.fetch.plan import Candidate, FileSpec, Plan, Request
from simgen.assets.library import permissive_license


def pbtxt_categories(text: str) -> list[str]:
    """Categories a Gazebo ``metadata.pbtxt`` names: ``categories: "X"`` fields, their nested
    form ``categories { first: "X" }`` (a map entry, as Google Scanned Objects' files have it)
    and ``annotations { key: "category" value: "X" }`` blocks."""
    out = re.findall(r'^\s*categor(?:y|ies)\s*:\s*"([^"]*)"', text, flags=re.M)
    for block in re.findall(r"\bcategor(?:y|ies)\s*\{([^}]*)\}", text):
        out += re.findall(r'\bfirst\s*:\s*"([^"]*)"', block)
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
        q = urllib.parse.quote(cand.id)
        version = m.get("version")
        if version is None:  # Fuel's listing has no version; the model's own endpoint has
            one = self.http.json(f"{self._base()}/{q}", missing_ok=True)
            version = one.get("version") if isinstance(one, dict) else None
        version = version or "tip"
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
