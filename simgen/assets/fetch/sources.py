"""Every ``simgen fetch`` source by name (:data:`SOURCES`) and the checks of a request
against them, made before anything is downloaded."""

from __future__ import annotations

from simgen.errors import SimgenError
from simgen.assets.fetch.ambientcg import AmbientCG
from simgen.assets.fetch.base import Source
from simgen.assets.fetch.gso import GSO
from simgen.assets.fetch.plan import Request
from simgen.assets.fetch.polyhaven import PolyHaven
from simgen.assets.library import check_id


SOURCES: dict[str, type[Source]] = {s.name: s for s in (PolyHaven, AmbientCG, GSO)}
"""``simgen fetch SOURCE KIND``: every source and the kinds it offers."""


def library_kind(source: str, kind: str) -> str:
    """The library kind (hdris, materials, models) a source's kind goes to."""
    return {"textures": "materials"}.get(kind, kind)


def check_request(source: str, kind: str, req: Request) -> type[Source]:
    """The source class; SimgenError (bad usage) for an unknown source, kind, resolution or
    format, or a request that names nothing."""
    from simgen.config.schema import did_you_mean

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
