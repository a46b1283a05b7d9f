"""The event camera's label kind (sensor.events): ``DIR/events/NNNNNN.npy``, a frame's events as
:mod:`simgen.sensors.events` makes them. Apart from that module so that it imports nothing of
simgen.labels (whose package registers this kind)."""

from __future__ import annotations

from typing import Any

import numpy as np

from simgen.sensors.events import EVENT_DTYPE
from simgen.labels.kinds import FrameContext, LabelKind


def _events(labels: Any, context: FrameContext) -> np.ndarray:
    """The frame's events, which the frame loop's renders put in its labels (simgen.pipeline.events;
    the loop puts their record in the frame meta's sensor.events)."""
    got = labels.extra.get("events")
    if got is None or not hasattr(got, "events"):
        raise ValueError("the events label is made by the event camera's renders: set sensor.events=true "
                         "(with sequence.length 2 or more)")
    return got.events


EVENTS = LabelKind(
    "events", "sensor.events=true: the events (x, y, t microseconds from the sequence's start, p 1 = brighter / "
    "0 = darker; tonic's fields) of the interval from this frame to the next of its sequence, sorted by t; "
    "none after a sequence's last frame", EVENT_DTYPE, -1, "events", ".npy", compute=_events)
"""The event camera's label kind: ``DIR/events/NNNNNN.npy``, one structured array per frame."""
