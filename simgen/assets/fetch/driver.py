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

from simgen import SimgenError
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
