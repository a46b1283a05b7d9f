"""The frames a run renders and how they group: the ``sequence`` group (:class:`SequenceConfig`), the
``shard`` group (:class:`ShardConfig`) and the limits on frame counts, indices and sequence lengths."""

from __future__ import annotations

from dataclasses import dataclass

from simgen.config.schema import setting

MAX_FRAMES = 1_000_000
"""Most frames one run renders (shard bigger datasets with start/frames)."""
MAX_FRAME_INDEX = 999_999_999
"""Largest frame index: annotation ids (index * 65536 + instance) stay exact in any JSON reader."""
MAX_SEQUENCE_LENGTH = 10_000
"""Most steps per sequence (every step of a sequence is drawn to render any one of them)."""
MAX_SHARDS = 1_000_000


@dataclass
class SequenceConfig:
    """Independent frames (sequence.length 1); longer sequences get optical flow."""

    length: int = setting(1, ge=1, le=MAX_SEQUENCE_LENGTH, common=True)
    """Time steps per sequence. 1 renders independent frames; L > 1 groups frame indices
    into sequences: frame i is step i % L of sequence i // L, and gets optical flow."""
    gap: int = setting(1, ge=1, le=MAX_SEQUENCE_LENGTH)
    """Frame gap k of the flow: forward flow is t -> t+k, backward flow t -> t-k."""
    fps: float = setting(30.0, gt=0.0, le=100_000.0)
    """Steps a second: the time base of a sequence for the sensors that read time within it (rolling
    shutter, events, LiDAR): step k is at k / fps seconds (docs/how-to/sensors.md)."""
    formats: list[str] = setting([])
    """Extra flow files besides the lossless .npy (flow formats of simgen.io.formats.exporters): any of
    flo (Middlebury), kitti (16-bit PNG)."""


@dataclass
class ShardConfig:
    """One shard: the run renders all its frames (shard.count 1)."""

    count: int = setting(1, ge=1, le=MAX_SHARDS, common=True)
    """Number of shards the run's frames are split into: whole sequences, contiguous, near-equal
    shares; every shard writes into the same output.dir (or merge them with simgen merge)."""
    index: int = setting(0, ge=0, le=MAX_SHARDS - 1, common=True)
    """This run's shard, 0 .. count-1; e.g. simgen -m 'shard.index=range(4)' shard.count=4. A
    frame is the same whichever shard renders it."""
