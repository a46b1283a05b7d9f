"""The output folder: what in it is simgen's, whether a run may write there, and the claim
that makes it one config's dataset.

Rules (docs/explanation/trust-model.md):

- A run writes into ``output.dir`` only when the folder is new or empty (Hydra's ``.hydra``
  aside) or already holds a simgen dataset (``dataset.json``, or ``logs/dataset.lock`` of a
  run killed before its first dataset.json), and none of the folders simgen writes into is a
  symbolic link (a link would carry the run's files somewhere else).
- The first thing a run writes is its claim: ``dataset.json`` with its config, under the
  dataset's lock, before the first frame. A run with another config is then refused while
  the first one runs and after it (unless the first ended without a frame: its claim is
  replaced); ``output.overwrite=true`` makes the folder the new config's dataset, deleting
  the files the old one wrote (and only those) first.
- Every run holds a shared lock on ``logs/run.lock`` for its life; replacing a dataset takes
  it exclusively, so a dataset is never replaced under a run that is still writing it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterator

from simgen.errors import SimgenError
from simgen.io.files import write_json
from simgen.io.formats.yolo import foreign_files
from simgen.io.names import DATASET_JSON, LOGS_DIR, META_DIR

log = logging.getLogger(__name__)

LOCK_NAMES = ("dataset.lock", "run.lock")
LOG_NAMES = re.compile(r"^(simgen\.log|blender\.log|run-[0-9TZ:.-]+-\d+\.jsonl|dataset\.lock|run\.lock|multirun|scratch)$")
"""What simgen and Hydra put in DIR/logs."""
TOP_FILES = re.compile(r"^(dataset\.json|coco(_[^/]+)?\.json|inspect\.html)$")
"""The files simgen writes at the top of a dataset."""
FRAME_FILE = re.compile(r"^\d{6,}\.(png|npy|npz|json|flo|txt)$")
"""A per-frame file simgen writes (NNNNNN and its suffix)."""
_META_FILE = re.compile(r"^(\d{6,})\.json$")
_HIDDEN_TEMP = re.compile(r"^\..+\.tmp$|^\.[^/]+\.\d+\.(tmp|old)$")
"""simgen's temporary names: atomic writes and an export being swapped in."""


def frame_folders() -> list[str]:
    """The folders (relative, posix) that hold one file per frame: the label kinds', meta, the
    flow fields' and their formats', and the previews'."""
    from simgen.io.formats.exporters import EXPORTERS
    from simgen.labels.kinds import LABEL_KINDS
    from simgen.labels.preview import FRAME_PICTURES

    flow = [f"flow_{d}" for d in ("forward", "backward")]
    out = [str(k.folder) for k in LABEL_KINDS.values() if k.folder] + [META_DIR]
    out += flow + [f"{f}_valid" for f in flow]
    out += [str(e.flow_file).format(flow=f, name="x").rsplit("/", 1)[0]
            for e in EXPORTERS.values() if e.flow_file for f in flow]
    out += ["previews/" + name for name in [*LABEL_KINDS, *FRAME_PICTURES, *flow]]
    return sorted(set(out))


def export_folders() -> list[str]:
    """The folders the dataset formats rebuild whole (yolo/, yolo_seg/)."""
    from simgen.io.formats.exporters import EXPORTERS

    return [e.name for e in EXPORTERS.values() if e.finish is not None and e.name != "coco"]


def export_foreign_files(out: Path, name: str) -> list[str]:
    """The files under the export folder DIR/<name>/ that its format did not write."""
    from simgen.io.formats.exporters import EXPORTERS

    own = EXPORTERS.get(name).foreign_files
    return (own or foreign_files)(out / name)


def simgen_folders() -> list[str]:
    """Every folder simgen writes into, relative to DIR, parents before children."""
    names = {LOGS_DIR, "models", "index", "previews", *frame_folders(), *export_folders()}
    return sorted(names, key=lambda n: (n.count("/"), n))


def _describe(entries: list[str], most: int = 5) -> str:
    shown = ", ".join(entries[:most])
    return shown + (f" and {len(entries) - most} more" if len(entries) > most else "")


def frames_on_disk(root: str | os.PathLike) -> list[int]:
    """Sorted indices of the complete frames of the dataset at ``root`` (those with a meta file)."""
    meta_dir = Path(root) / META_DIR
    if not meta_dir.is_dir():
        return []
    out = []
    for entry in os.scandir(meta_dir):
        m = _META_FILE.match(entry.name)
        if m and entry.is_file():
            out.append(int(m.group(1)))
    return sorted(out)


def is_dataset(out: Path) -> bool:
    """Whether ``out`` holds a simgen dataset (or the start of one)."""
    return (out / DATASET_JSON).is_file() or (out / LOGS_DIR / "dataset.lock").is_file()


def _foreign(out: Path) -> list[str]:
    """The entries of a folder that is not a dataset yet which are not Hydra's or simgen's logs."""
    found = []
    for entry in sorted(os.scandir(out), key=lambda e: e.name):
        if entry.name == ".hydra" and entry.is_dir(follow_symlinks=False):
            continue
        if entry.name == LOGS_DIR and entry.is_dir(follow_symlinks=False):
            found += [f"{LOGS_DIR}/{e.name}" for e in sorted(os.scandir(entry.path), key=lambda e: e.name)
                      if not LOG_NAMES.match(e.name)]
            continue
        found.append(entry.name + ("/" if entry.is_dir(follow_symlinks=False) else ""))
    return found


def check_output_folder(out: str | os.PathLike) -> None:
    """One-line SimgenError unless a run may write into ``out`` (see the module's rules)."""
    out = Path(out)
    if not out.exists():
        return
    for name in simgen_folders():
        path = out / name
        if path.is_symlink():
            raise SimgenError(f"output.dir={out}: {name} is a symbolic link (to {os.readlink(path)}), and simgen "
                              "writes only into real folders of output.dir; remove the link or choose another output.dir")
    if not is_dataset(out):
        foreign = _foreign(out)
        if foreign:
            raise SimgenError(f"output.dir={out} is not empty and holds no simgen dataset ({_describe(foreign)}); "
                              "simgen writes only into a new or empty folder or a simgen dataset: choose another "
                              "output.dir")
    for name in export_folders():
        foreign = export_foreign_files(out, name)
        if foreign:
            raise SimgenError(f"output.dir={out}: {name}/ holds files simgen did not write ({_describe(foreign)}), "
                              f"and simgen keeps only its own files in {name}/ (it replaces or removes what is "
                              "there); move them out or choose another output.dir")


def remove_dataset(out: Path) -> int:
    """Delete the files of the dataset in ``out`` that simgen wrote, and only those: the
    per-frame files in simgen's folders, the models, the COCO index, the exports, the top-level
    files; folders left empty go too. Anything else stays. Returns how many files went."""
    removed = 0

    def unlink(path: Path) -> None:
        nonlocal removed
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1

    for name in frame_folders():
        folder = out / name
        if folder.is_dir() and not folder.is_symlink():
            for entry in os.scandir(folder):
                if FRAME_FILE.match(entry.name) and entry.is_file(follow_symlinks=False):
                    unlink(Path(entry.path))
    for name in ("models", "index"):  # written by simgen only (meshes by asset id, COCO chunks)
        folder = out / name
        if folder.is_dir() and not folder.is_symlink():
            for here, _, files in os.walk(folder):
                for f in files:
                    if f.endswith((".ply", ".jsonl", ".json")):
                        unlink(Path(here) / f)
    for name in export_folders():
        folder = out / name
        if folder.is_dir() and not folder.is_symlink() and not export_foreign_files(out, name):
            removed += sum(len(files) for _, _, files in os.walk(folder))
            shutil.rmtree(folder)
    for entry in os.scandir(out):
        if TOP_FILES.match(entry.name) and entry.is_file(follow_symlinks=False):
            unlink(Path(entry.path))
    for name in sorted(["previews", "models", "index", *frame_folders()], key=lambda n: -n.count("/")):
        if (out / name).is_symlink():
            continue
        for here, _, _ in os.walk(out / name, topdown=False):  # children first
            with contextlib.suppress(OSError):  # not empty (a user's file stays, and its folder)
                os.rmdir(here)
    return removed


class Claim:
    """A run's hold on its output folder: a shared lock on ``logs/run.lock`` for the run's life
    (see :func:`claim`); ``created``: this run wrote the claim (dataset.json)."""

    def __init__(self, out: Path, fd: int, created: bool):
        self.out, self._fd, self.created = out, fd, created

    def release(self) -> None:
        """End the hold. A claim this run made, with no frame on disk and no other run holding
        the folder, is taken back: a run that failed before its first frame leaves no dataset."""
        if self._fd is None:
            return
        try:
            if self.created:
                with dataset_lock(self.out):
                    if _try_exclusive(self._fd) and not frames_on_disk(self.out):
                        (self.out / DATASET_JSON).unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def dataset_lock(out: Path) -> Iterator[None]:
    """The dataset's lock (``DIR/logs/dataset.lock``, exclusive) held while the block runs."""
    (out / LOGS_DIR).mkdir(exist_ok=True)
    with open(out / LOGS_DIR / "dataset.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def claim(out: Path, config: dict, fingerprint: Any, overwrite: bool, record: dict) -> Claim:
    """Make ``out`` this config's dataset before the first frame, under the dataset's lock.

    ``fingerprint(config)`` is what must be equal for two runs to write one dataset. A folder
    whose dataset.json records another fingerprint is refused, or with ``overwrite`` emptied of
    the old dataset's files first (refused while another run still writes it). A folder with
    no dataset.json gets ``record`` (the run description so far, with ``config``) as its
    dataset.json. Returns the run's hold on the folder; release it when the run ends."""
    check_output_folder(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise  # the run's own message: what is on disk and what to do
        raise SimgenError(f"output.dir={out} cannot be created: {e.strerror}"
                          + (f" ({e.filename})" if e.filename else "") + "; choose another output.dir") from None
    with dataset_lock(out):
        check_output_folder(out)  # again, now that no other run can be between check and claim
        existing = out / DATASET_JSON
        old = None
        if existing.exists():
            try:
                old = json_config(existing)
            except (OSError, ValueError) as e:
                raise SimgenError(f"{existing} exists but cannot be read ({e}); remove it or choose another "
                                  "output.dir") from None
        fd = os.open(out / LOGS_DIR / "run.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            if old is not None and fingerprint(old) != fingerprint(config):
                running = not _try_exclusive(fd)
                if running or (frames_on_disk(out) and not overwrite):
                    what = "another run is writing a dataset with another config into" if running else \
                        "a dataset made with another config is in"
                    raise SimgenError(f"{what} {out}; choose another output.dir"
                                      + ("" if running else ", or set output.overwrite=true to replace it (its "
                                                            "frames are deleted)"))
                # replaced: with overwrite, or a claim whose run ended before its first frame
                n = remove_dataset(out)
                log.info("%s: removed the %d file(s) of the dataset made with another config from %s",
                         "output.overwrite=true" if overwrite else "a run that rendered no frame", n, out)
                old = None
            fcntl.flock(fd, fcntl.LOCK_SH)
            created = old is None
            if created:
                write_json(existing, {**record, "config": config, "frames": frames_on_disk(out)}, indent=2)
        except BaseException:
            os.close(fd)
            raise
    return Claim(out, fd, created)


def _try_exclusive(fd: int) -> bool:
    """Take ``fd``'s lock exclusively if no other run holds it (shared)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def json_config(path: Path) -> dict:
    """The ``config`` of a dataset.json (ValueError when it is not one)."""
    import json

    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("config", {}), dict):
        raise ValueError("not a simgen dataset.json")
    return data.get("config", {})


def no_space(e: BaseException) -> bool:
    """Whether ``e`` is a full disk or an exhausted quota."""
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)


def _unescape(field: str) -> str:
    """A mountinfo path: spaces, tabs, newlines and backslashes are written as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def local_locks(path: str | os.PathLike, mountinfo: str | None = None) -> str | None:
    """Why ``flock`` on ``path``'s file system is seen by this node only (None when it is
    shared, or cannot be told): NFS mounted with ``local_lock=flock`` or ``local_lock=all``,
    Lustre with ``localflock``, CIFS with ``nobrl``. ``mountinfo``: the text of
    /proc/self/mountinfo (read when None; format: proc(5))."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return None
    target = Path(os.path.abspath(path))
    best: tuple[int, str, set[str]] | None = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        point = Path(_unescape(fields[4]))
        if target != point and point not in target.parents:
            continue
        depth = len(point.parts)
        if best is None or depth >= best[0]:  # the deepest, and the last mounted at one point
            fstype = fields[sep + 1]
            options = set(fields[5].split(",")) | set(",".join(fields[sep + 3:]).split(","))
            best = (depth, fstype, options)
    if best is None:
        return None
    _, fstype, options = best
    if fstype.startswith("nfs") and options & {"local_lock=flock", "local_lock=all"}:
        return f"{fstype} mounted with {sorted(options & {'local_lock=flock', 'local_lock=all'})[0]}"
    if fstype == "lustre" and "localflock" in options:
        return "lustre mounted with localflock"
    if fstype in ("cifs", "smb3") and "nobrl" in options:
        return f"{fstype} mounted with nobrl"
    return None
