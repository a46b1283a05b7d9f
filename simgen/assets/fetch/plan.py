"""What ``simgen fetch`` plans for one asset: the files (with the sizes and checksums the
source gives), the entry's metadata, the request and the listing's candidates; and
:class:`FetchFailed`, one asset's failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


class FetchFailed(Exception):
    """One asset could not be fetched (a bad download, a missing resolution): reported in one
    line, the run goes on."""


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
