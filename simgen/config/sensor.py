"""The ``sensor`` group: what real sensors would return beside the exact labels
(:class:`SensorConfig`; docs/how-to/sensors.md). Each sensor's output is written next to the exact
label it approximates; all of them are off by default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from simgen.config.schema import setting

LIDARS = ("velodyne_vlp16", "velodyne_hdl32e")
"""sensor.lidar's choices: the scanners of simgen.sensors.lidar.SCANNERS."""


@dataclass
class SensorConfig:
    """Sensor models: depth cameras (active stereo, time of flight), LiDAR, rolling shutter and
    event cameras. Off by default: a run without them writes what it always wrote."""

    # --- depth cameras (sensor.depth...: active stereo, time of flight) ---

    # --- LiDAR (sensor.lidar...) ---
    lidar: Optional[str] = setting(None, choices=LIDARS, example="velodyne_vlp16")
    """A spinning LiDAR's scan of every frame (docs/how-to/sensors.md#lidar): velodyne_vlp16, the
    Velodyne VLP-16's 16 beams (-15..+15 deg in 2 deg steps), or velodyne_hdl32e, the HDL-32E's 32
    (-30.67..+10.67 deg), over a whole turn, the azimuth step from the rotation rate
    (simgen.sensors.lidar, figures cited there), cast from the camera's pose (x
    forward where the camera looks) through Cycles: DIR/lidar/NNNNNN.bin (KITTI's float32 x, y, z,
    intensity) and DIR/lidar/NNNNNN.ply (every field: range, intensity, instance, semantic, ring, time,
    ...), the scanner's pose and the draws in the frame meta's sensor.lidar. Runs on the CPU or with
    render.device=optix. null: none."""
    lidar_rpm: float = setting(600.0, ge=300.0, le=1200.0)
    """LiDAR: rotation rate, revolutions a minute (both scanners allow 300-1200); the azimuth step is the
    firing cycle's turn, 0.2 deg at 600 rpm (HDL-32E: 0.17); a point's time is azimuth / 360 x 60 / rpm
    seconds."""
    lidar_noise: bool = setting(True)
    """LiDAR: draw range noise (Gaussian, the data sheet's accuracy as one sigma) and the weak returns'
    drop-outs; false: exact ranges (beams beyond the maximum range or past sensor.lidar_grazing still
    return nothing)."""
    lidar_offset: list[float] = setting([0.0, 0.0, 0.0], ge=-100.0, le=100.0)
    """LiDAR: the scanner's place from the camera's centre, metres along its own axes (forward, left,
    up); its axes are the camera's (forward = the optical axis)."""
    lidar_grazing: float = setting(85.0, gt=0.0, le=90.0)
    """LiDAR: beams meeting a surface more than this many degrees from its normal return nothing (no
    published figure: a setting; 90 keeps them all)."""
    lidar_min_reflectivity: float = setting(0.1, gt=0.0, le=1.0)
    """LiDAR: the reflectivity of a surface, seen head-on, that still returns at the maximum range; a
    beam returns with probability min(1, albedo x cos(incidence) x (max range / range)^2 / this)
    (drawn with sensor.lidar_noise)."""

    # --- rolling shutter (sensor.rolling_shutter...) ---
    rolling_shutter_ms: float = setting(0.0, ge=0.0, le=10_000.0)
    """Rolling shutter: the time one frame takes to read out, top row to bottom row, in milliseconds; 0 is a
    global shutter (every row at once). A sequence's frame t then shows row r at time t + (r / H) * readout
    (top row first; a step lasts 1 / sensor.rolling_shutter_fps seconds) and every label of that row is
    the scene's at that time (docs/how-to/sensors.md). E.g. 31.98, an iPhone 4's 1280x720 video at 30 Hz
    (Ringaby and Forssen, "Efficient Video Rectification and Stabilisation for Cell-Phones", IJCV 96,
    2011). Sequences only (sequence.length > 1, camera.rig=mono); no flow is written."""
    rolling_shutter_fps: float = setting(30.0, gt=0.0, le=100_000.0)
    """Rolling shutter: steps of a sequence a second (the camera's frame rate), which turns
    sensor.rolling_shutter_ms into steps; the readout must fit in one step (readout <= 1000 / fps ms)."""
    rolling_shutter_bands: int = setting(0, ge=0, le=100_000)
    """Rolling shutter: horizontal bands rendered per frame, each at the time of its middle row; 0 renders
    every row at its own time (exact, one render a row). Fewer bands are faster: a row's time is then off
    by at most half a band's readout (the meta states each band's time and that bound)."""

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
