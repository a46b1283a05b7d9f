"""The ``sensor`` group: what real sensors would return beside the exact labels
(:class:`SensorConfig`; docs/how-to/sensors.md). Each sensor's output is written next to the exact
label it approximates; all of them are off by default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SensorConfig:
    """Sensor models: depth cameras (active stereo, time of flight), LiDAR, rolling shutter and
    event cameras. Off by default: a run without them writes what it always wrote."""

    # --- depth cameras (sensor.depth...: active stereo, time of flight) ---

    # --- LiDAR (sensor.lidar...) ---

    # --- rolling shutter (sensor.rolling_shutter...) ---

    # --- event camera (sensor.events...) ---
