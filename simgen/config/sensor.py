"""The ``sensor`` group: what real sensors would return beside the exact labels
(:class:`SensorConfig`; docs/how-to/sensors.md). Each sensor's output is written next to the exact
label it approximates; all of them are off by default."""

from __future__ import annotations

from dataclasses import dataclass

from simgen.config.schema import setting


@dataclass
class SensorConfig:
    """Sensor models: depth cameras (active stereo, time of flight), LiDAR, rolling shutter and
    event cameras. Off by default: a run without them writes what it always wrote."""

    # --- depth cameras (sensor.depth...: active stereo, time of flight) ---

    # --- LiDAR (sensor.lidar...) ---

    # --- rolling shutter (sensor.rolling_shutter...) ---

    # --- event camera (sensor.events...) ---
    events: bool = setting(False)
    """Also write an event camera's output (docs/how-to/sensors.md#event-cameras): each frame of a
    sequence gets events/NNNNNN.npy, the events (x, y, t in microseconds from the sequence's start,
    p 1 = brighter, 0 = darker) of the interval from it to the next frame, found from
    sensor.events_substeps renders across that interval (ESIM: Rebecq et al., CoRL 2018). Needs
    sequence.length > 1; the frame's draws are in its meta under sensor.events."""
    events_substeps: int = setting(8, ge=1, le=1000)
    """Renders per frame interval for the events: the scene at times k + j / N (j = 0 .. N-1) of
    the interval from step k to step k+1, each rendered once more (N renders a frame); the log
    intensity is taken as linear between them, so an event's time is within one sub-step
    (frame_time / N) of the true crossing. Raise it for fast motion."""
    events_frame_time: float = setting(1 / 30, gt=0.0, le=3600.0)
    """Seconds between consecutive steps of a sequence, for the events' timestamps (t of step k
    is k x this) and the noise rate; 1/30 = a 30 fps sequence."""
    events_threshold_pos: float = setting(0.2, gt=0.0, le=10.0)
    """Mean contrast threshold of an ON event: the rise of ln(Y + events_log_eps) since the
    pixel's last event that fires one (0.2: ESIM's and v2e's default)."""
    events_threshold_neg: float = setting(0.2, gt=0.0, le=10.0)
    """Mean contrast threshold of an OFF event (a fall of the log intensity), as events_threshold_pos."""
    events_threshold_sigma: float = setting(0.03, ge=0.0, le=10.0)
    """Standard deviation of each pixel's thresholds around their means (threshold mismatch, v2e:
    Hu, Liu, Delbruck, arXiv 2006.07722), drawn once per sequence; a draw is kept at 0.01 or more.
    0 = every pixel the same."""
    events_refractory: float = setting(0.0, ge=0.0, le=1.0)
    """Seconds after an event during which its pixel fires no other (a crossing then is dropped,
    its level still passed); 0 = none (ESIM's default)."""
    events_noise_rate: float = setting(0.0, ge=0.0, le=1e6)
    """Shot-noise events per pixel per second (v2e's shot noise: times uniform, polarity either
    with equal chance); 0 = none."""
    events_log_eps: float = setting(1e-3, gt=0.0, le=1.0)
    """The epsilon of the log intensity ln(Y + eps), Y the Rec. 709 luminance of the linear light
    (the camera's exposure applied, no metering: mid grey lit as metering puts it near 0.18)."""
