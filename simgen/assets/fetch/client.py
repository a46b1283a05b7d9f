"""The HTTP client of ``simgen fetch``: urllib with simgen's User-Agent, retries, one-line
errors, resumable downloads (``NAME.part`` and a Range request) and the size/md5 check.
The only module of simgen that opens URLs."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from simgen.version import __version__
from simgen.errors import SimgenError
from simgen.assets.fetch.plan import FetchFailed, FileSpec
from simgen.assets.library import PART, safe_relpath

USER_AGENT = f"simgen/{__version__} (+asset fetcher)"
TIMEOUT = 60.0
RETRIES = 2
"""Network errors (not checksum errors) are retried this many times, resuming the file."""


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
