"""The base class of a ``simgen fetch`` source (its listing, lookup and plan) and the
category/tag filters the sources share."""

from __future__ import annotations

from typing import Any

from simgen.assets.fetch.client import Http
from simgen.assets.fetch.plan import Candidate, Plan, Request


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
