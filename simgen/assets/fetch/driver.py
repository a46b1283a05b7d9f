"""The ``simgen fetch`` run: check the request, skip what the library has, download the rest
in a pool (assets and their files in parallel, with progress) and summarise."""

from __future__ import annotations

import concurrent.futures as cf
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from simgen.errors import SimgenError
from simgen.assets.fetch.base import Source
from simgen.assets.fetch.client import Http
from simgen.assets.fetch.plan import Candidate, FetchFailed, FileSpec, Plan, Request
from simgen.assets.fetch.sources import check_request, library_kind
from simgen.assets.library import ENTRY, Library, check_id, folder_files, safe_extract, safe_relpath, utc_now
from simgen.progress import Progress


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
    run = _Run(source, kind, req, lib, src, lkind, summary, stream)
    todo = run.named() if req.ids else run.listed()
    run.warn_other_variants()
    run.record_present()
    if not todo:
        summary.seconds = time.monotonic() - t0
        return summary
    run.download(todo, http, jobs)
    summary.bytes = http.downloaded
    summary.seconds = time.monotonic() - t0
    return summary


@dataclass
class _Run:
    """One :func:`fetch` run: what it asks for, where from and where to, and what it has found so far."""

    source: str
    kind: str
    req: Request
    lib: Library
    src: Source
    lkind: str
    """The library's kind of the assets (:func:`library_kind`)."""
    summary: Summary
    stream: TextIO
    present: list[dict] = field(default_factory=list)
    """The library entries of the assets asked for that are complete on disk (skipped)."""
    other_variant: list[str] = field(default_factory=list)
    """Those of them at another resolution or format than the request's, in words."""

    def complete(self, asset_id: str) -> dict | None:
        """The library's entry of ``asset_id`` where the asset is complete on disk, else None (noting
        one at another resolution or format)."""
        try:
            e = self.lib.complete_entry(self.lkind, self.source, asset_id)
        except SimgenError:
            return None
        if e is not None and (e.get("resolution"), e.get("format")) != self.src.variant(self.req):
            self.other_variant.append(f"{asset_id} ({e.get('resolution') or '-'} {e.get('format') or ''})".strip())
        return e

    def named(self) -> list[Candidate]:
        """The assets the request names by id to download: those the library lacks. SimgenError for
        an unknown id (all of them in one line) or one under a licence simgen does not accept."""
        source, kind, src, req, summary = self.source, self.kind, self.src, self.req, self.summary
        ids = list(dict.fromkeys(req.ids))
        local = {i: e for i in ids if (e := self.complete(i)) is not None}
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
        summary.skipped += [f"{self.lkind}/{source}/{i}" for i in local]
        self.present += list(local.values())
        return cands

    def listed(self) -> list[Candidate]:
        """The assets of the source's listing (its category or tag, up to the request's count) to
        download: those the library lacks; those whose licence simgen does not accept are left out,
        with a warning."""
        source, kind, req, summary, stream = self.source, self.kind, self.req, self.summary, self.stream
        listed = self.src.listing(req, req.count)
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
            e = self.complete(c.id)
            if e is not None:
                summary.skipped.append(e["key"])
                self.present.append(e)
            else:
                todo.append(c)
        if len(listed) < (req.count or 0):
            print(f"simgen fetch: warning: {source} lists only {len(listed)} {kind} for this request "
                  f"(--count {req.count})", file=stream, flush=True)
        return todo

    def warn_other_variants(self) -> None:
        """One warning line for the assets kept at another resolution or format, if any."""
        if self.other_variant:
            other_variant = self.other_variant
            res, fmt = self.src.variant(self.req)
            print(f"simgen fetch: warning: {len(other_variant)} asset(s) are in the library at another resolution "
                  f"or format, kept as they are (one set per folder; delete a folder to fetch it as {res} {fmt}): "
                  f"{', '.join(other_variant[:10])}" + (" ..." if len(other_variant) > 10 else ""),
                  file=self.stream, flush=True)

    def record_present(self) -> None:
        """Add to the library's manifest the entries complete on disk but missing from it (a run
        killed between the two writes)."""
        in_manifest = self.lib.entries()
        self.lib.update_manifest([e for e in self.present if e.get("key") not in in_manifest])

    def download(self, todo: list[Candidate], http: Http, jobs: int) -> None:
        """Download ``todo``, ``jobs`` assets at a time and each asset's files ``jobs`` at a time,
        with progress; a failed asset is reported and listed, and the others go on. On Ctrl-C the
        downloads stop and what is on disk stays, for a run to resume."""
        report_lock = threading.Lock()
        progress = Progress(len(todo), label=f"{self.source} {self.kind}", stream=self.stream)
        with cf.ThreadPoolExecutor(jobs, thread_name_prefix="fetch-asset") as assets, \
                cf.ThreadPoolExecutor(jobs, thread_name_prefix="fetch-file") as files:
            futures = [assets.submit(self._fetch_one, c, http, files, report_lock, progress) for c in todo]
            try:
                for fut in futures:
                    fut.result()
            except KeyboardInterrupt:
                http.stop.set()  # downloads end at their next chunk; what is on disk stays to resume
                for fut in futures:
                    fut.cancel()
                raise

    def _fetch_one(self, c: Candidate, http: Http, files: cf.ThreadPoolExecutor, report_lock: threading.Lock,
                   progress: Progress) -> None:
        """Download asset ``c`` (its files on the ``files`` pool) into the library and list it as
        downloaded, or as failed with the reason."""
        key = f"{self.lkind}/{self.source}/{c.id}"
        try:
            plan = self.src.plan(self.req, c)
            _fetch_plan(plan, self.lib, http, files)
            with report_lock:
                self.summary.downloaded.append(key)
        except (FetchFailed, SimgenError) as e:
            self._fail(key, " ".join(str(e).split()), report_lock)
        except Exception as e:  # noqa: BLE001 - one asset's surprise must not stop the others
            self._fail(key, f"{type(e).__name__}: {' '.join(str(e).split())}", report_lock)
        finally:
            with report_lock:
                progress.update()

    def _fail(self, key: str, message: str, report_lock: threading.Lock) -> None:
        """List asset ``key`` as failed and say why on the run's stream, in one line."""
        with report_lock:
            self.summary.failed.append((key, message))
            print(f"simgen fetch: error: {key}: {message}", file=self.stream, flush=True)


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
