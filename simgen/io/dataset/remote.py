"""output.upload: the streaming formats' shards delivered to object storage (``s3://``, ``gs://``,
any fsspec URL) as they are built, for render nodes without a shared file system.

What goes up, under ``URL/``: each shard file of the streaming formats (``webdataset/...tar``,
``parquet/...parquet``) as soon as it is built, then that format's ``shards.json`` (so a reader
that lists the index finds every shard it names already there), and ``dataset.json`` at the
end of the run. A file counts as delivered when the store reports the size it has on disk;
``DIR/<format>/uploaded.json`` records the SHA-256 of each file delivered, so a shard built
again with other bytes goes up again and one delivered already does not. A failed upload
during the run is retried by the end-of-run sync; a sync that fails ends the run with one line
(the dataset is complete on disk), and the same command uploads what is missing.

Credentials and the endpoint come from the store's own configuration, never from the config
(which dataset.json records): for S3 the usual ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``
(or a profile) and ``AWS_ENDPOINT_URL`` for a server other than AWS (MinIO, Ceph, a local test
server).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from simgen.errors import SimgenError, install_hint
from simgen.io.files import read_json, write_json
from simgen.io.formats.shards import INDEX, UPLOADED
from simgen.io.names import DATASET_JSON

log = logging.getLogger(__name__)

PROBE = ".simgen-upload-probe"
"""The object a run writes and deletes before its first frame, to prove it may write there."""
S3_OPTIONS = {"config_kwargs": {"connect_timeout": 10, "read_timeout": 60, "retries": {"max_attempts": 3}}}
"""s3fs options: an unreachable endpoint fails in seconds, not after botocore's minutes of retries."""


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class Remote:
    """The store at ``url`` (an fsspec URL with a protocol)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        protocol = self.url.split("://", 1)[0] if "://" in self.url else ""
        if not protocol:
            raise SimgenError(f"output.upload={url!r} is no URL of object storage: give s3://bucket/prefix, "
                              "gs://bucket/prefix or another fsspec URL")
        try:
            import fsspec

            options: dict[str, Any] = S3_OPTIONS if protocol in ("s3", "s3a") else {}
            # a fresh instance: fsspec's cache would keep one made with other credentials or endpoint
            self.fs, self.root = fsspec.core.url_to_fs(self.url, skip_instance_cache=True, **options)
        except ImportError as e:
            extra = "cloud" if protocol in ("s3", "s3a") else None
            raise SimgenError(f"output.upload={url}: the {protocol}:// store needs a module that is not installed "
                              f"({e.name or e}): " + (install_hint(extra) if extra else
                                                     f"install the fsspec implementation of {protocol}://")) from None
        except ValueError as e:
            raise SimgenError(f"output.upload={url}: {_reason(e)}") from None

    def _path(self, rel: str) -> str:
        return f"{self.root}/{rel}" if self.root else rel

    def check(self) -> None:
        """Write and delete a small object: one-line SimgenError naming the URL and the store's
        reason when it cannot (unreachable, no bucket, no credentials, no permission)."""
        probe = self._path(PROBE)
        try:
            self.fs.pipe_file(probe, b"simgen\n")
            self.fs.rm_file(probe)
        except Exception as e:  # every store raises its own kinds
            raise SimgenError(f"output.upload={self.url}: cannot write there ({_reason(e)}); check the URL, that the "
                              "bucket exists and the credentials (for S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
                              "AWS_ENDPOINT_URL for a server other than AWS)") from None

    def put(self, local: Path, rel: str) -> None:
        """Upload ``local`` to ``URL/rel``; OSError unless the store then reports its size."""
        remote = self._path(rel)
        self.fs.put_file(str(local), remote)
        size = self.fs.info(remote).get("size")
        if size != local.stat().st_size:
            raise OSError(f"{self.url}/{rel} holds {size} bytes after the upload, {local.stat().st_size} on disk")

    def sync_format(self, folder: Path, only: set[str] | None = None) -> int:
        """Deliver the shards of DIR/<format>/ (``folder``) its shards.json lists and the store
        lacks (never delivered, or delivered with other bytes), then the index. ``only``: just
        those file names (a range just built). Returns how many shard files went up."""
        try:
            index = read_json(folder / INDEX)
        except (OSError, ValueError):
            return 0
        try:
            sent = read_json(folder / UPLOADED)
        except (OSError, ValueError):
            sent = {}
        files = {name: f["sha256"] for r in index.get("ranges", {}).values() for name, f in r["files"].items()}
        count = 0
        for name, sha in sorted(files.items()):
            if (only is not None and name not in only) or sent.get(name) == sha:
                continue
            self.put(folder / name, f"{folder.name}/{name}")
            sent[name] = sha
            write_json(folder / UPLOADED, sent)  # what went up stays recorded if the next one fails
            count += 1
        self.put(folder / INDEX, f"{folder.name}/{INDEX}")
        for name in set(sent) - set(files):  # a range's file that is gone: its object too
            try:
                self.fs.rm_file(self._path(f"{folder.name}/{name}"))
            except FileNotFoundError:
                pass
            sent.pop(name)
        write_json(folder / UPLOADED, sent)
        return count

    def send_built(self, root: Path) -> Callable[[str, set[str]], None]:
        """For :class:`simgen.io.formats.shards.RangeWatch`: deliver a range's files as soon as they
        are built. A failure is logged once and left to the end-of-run :meth:`sync`."""
        failed: list[str] = []

        def send(fmt: str, names: set[str]) -> None:
            if failed:
                return
            try:
                self.sync_format(root / fmt, only=names)
            except Exception as e:
                failed.append(_reason(e))
                log.warning("output.upload=%s: the upload failed (%s); the end of the run tries again", self.url,
                            failed[0])
        return send

    def sync(self, root: Path, formats: list[str]) -> int:
        """Deliver every streaming format's missing shards and indexes, and dataset.json. One-line
        SimgenError when the store fails (what went up stays recorded)."""
        count = 0
        try:
            for name in formats:
                count += self.sync_format(root / name)
            if (root / DATASET_JSON).is_file():
                self.put(root / DATASET_JSON, DATASET_JSON)
        except Exception as e:
            raise SimgenError(f"output.upload={self.url}: the upload failed ({_reason(e)}) after {count} shard file(s); "
                              f"the dataset is complete in {root}; run the same command again to upload the rest") from None
        if count:
            log.info("uploaded %d shard file(s) to %s", count, self.url)
        return count
