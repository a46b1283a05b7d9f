"""Train/val/test splits: which split a frame belongs to, a pure function of (seed, unit).

The unit is the frame's sequence (``output.split_by=sequence``, the default: a sequence's
steps never straddle two splits, so no scene leaks from train into val) or the frame itself
(``split_by=frame``). A unit's split is drawn from a hash of (seed, unit index), not from a
count of frames, so a frame lands in the same split whether it is rendered alone, in any
shard, after a resume, or in a run of any length; the fractions of ``output.splits`` hold in
expectation (each unit independently), not exactly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

SPLIT_BY = ("sequence", "frame")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def check_splits(splits: Mapping[str, float]) -> None:
    """ValueError unless ``splits`` maps 1+ file-name-safe names to fractions >= 0 summing to 1."""
    if not splits:
        raise ValueError("output.splits is empty; give at least one split, e.g. output.splits={train: 1.0}")
    for name, fraction in splits.items():
        if not _NAME.match(str(name)):
            raise ValueError(f"output.splits: split name {name!r} must be letters, digits, _ or - "
                             "(it names files and folders), e.g. train, val, test")
        if not 0.0 <= float(fraction) <= 1.0:
            raise ValueError(f"output.splits: {name}={fraction} must be in [0, 1]")
    total = sum(float(f) for f in splits.values())
    if abs(total - 1.0) > 1e-6:
        given = ", ".join(f"{k}: {v:g}" for k, v in splits.items())
        raise ValueError(f"output.splits fractions {{{given}}} sum to {total:g}, not 1 (an override "
                         "{...} is merged into the default's keys); set each, e.g. output.splits.train=0.9 "
                         "output.splits.val=0.1 output.splits.test=0 (a split of 0 gets no frames and no files)")


def unit_hash(seed: int, unit: int) -> float:
    """A uniform number in [0, 1) fixed by (seed, unit): the first 8 bytes of BLAKE2b."""
    digest = hashlib.blake2b(f"simgen-split/{int(seed)}/{int(unit)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


def split_of(seed: int, unit: int, splits: Mapping[str, float]) -> str:
    """The split of unit ``unit`` (a sequence or frame index): the first split, in the order
    given, whose cumulative fraction exceeds the unit's hash."""
    u, total = unit_hash(seed, unit), 0.0
    names = list(splits)
    for name in names:
        total += float(splits[name])
        if u < total:
            return name
    return next((n for n in reversed(names) if float(splits[n]) > 0), names[-1])  # rounding of the sum


def frame_split(seed: int, index: int, sequence: int, splits: Mapping[str, float], split_by: str) -> str:
    """The split of frame ``index`` of sequence ``sequence``."""
    if split_by not in SPLIT_BY:
        raise ValueError(f"output.split_by={split_by!r}; choose from {list(SPLIT_BY)}")
    return split_of(seed, sequence if split_by == "sequence" else index, splits)
