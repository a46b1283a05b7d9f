"""Paths read from a dataset are data: they stay inside the dataset.

A dataset given to ``merge``, ``inspect``, ``validate``, ``compare``, the torch dataset or a
study may come from anyone. Every path read from it (a mesh in meta, a COCO ``file_name``, a
flow file, a split name) and every file simgen opens in it goes through :func:`inside`: the
text must be a relative POSIX path without ``..``, and no symbolic link on the way may lead
out of the dataset's folder (links that stay inside are followed). A violation is one line
naming the dataset, where the path came from, and why.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from simgen.errors import SimgenError

_DRIVE = re.compile(r"^[A-Za-z]:")
SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
"""A split name: it names files (coco_<split>.json) and folders (yolo/images/<split>/)."""


def _refuse(root: Path, where: str, value: object, why: str) -> SimgenError:
    return SimgenError(f"{root}: {where} gives the path {value!r}, which {why}; a dataset's paths must stay inside "
                       "its folder (is the dataset damaged or crafted?)")


def inside(root: str | os.PathLike, rel: object, where: str) -> Path:
    """``root / rel`` for the text ``rel`` read from the dataset at ``root`` (``where`` says
    where it was read, e.g. "meta/000003.json objects[0].mesh"), checked as the module says."""
    root = Path(root)
    if not isinstance(rel, str) or not rel:
        raise _refuse(root, where, rel, "is not a relative path")
    if "\x00" in rel or "\\" in rel or rel.startswith("/") or _DRIVE.match(rel):
        raise _refuse(root, where, rel, "is absolute or not a POSIX path")
    parts = PurePosixPath(rel).parts
    if ".." in parts:
        raise _refuse(root, where, rel, "climbs out with '..'")
    real_root = root.resolve()
    path = root
    for part in parts:
        path = path / part
        if path.is_symlink():
            target = path.resolve()
            if target != real_root and real_root not in target.parents:
                raise _refuse(root, where, rel, f"leads out through the symbolic link {path} -> {os.readlink(path)}")
    return path


def regular_file(root: str | os.PathLike, rel: str, where: str) -> Path:
    """:func:`inside`, and the file must be a regular file (no link at the end at all: a file
    carried out of a dataset is never a link)."""
    path = inside(root, rel, where)
    if path.is_symlink():
        raise _refuse(Path(root), where, rel, f"is a symbolic link (to {os.readlink(path)})")
    return path


def split_name(root: str | os.PathLike, name: object, where: str) -> str:
    """A split name read from a dataset: letters, digits, _ and - only (it names files)."""
    if not isinstance(name, str) or not SPLIT_NAME.match(name):
        raise SimgenError(f"{root}: {where} names the split {name!r}; a split name is letters, digits, _ or - "
                          "(it names files and folders): is the dataset damaged or crafted?")
    return name
