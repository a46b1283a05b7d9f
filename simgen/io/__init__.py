"""Writing datasets to disk: atomic file writers and the dataset layout."""

from simgen.io.dataset import FRAME_DIRS, DatasetWriter, frame_name, read_frame
from simgen.io.files import (
    atomic_write_bytes,
    ensure_writable_dir,
    read_json,
    read_npy,
    read_png,
    write_json,
    write_npy,
    write_png,
)

__all__ = [
    "FRAME_DIRS",
    "DatasetWriter",
    "atomic_write_bytes",
    "ensure_writable_dir",
    "frame_name",
    "read_frame",
    "read_json",
    "read_npy",
    "read_png",
    "write_json",
    "write_npy",
    "write_png",
]
