"""The ``sensor`` group: what real sensors would return beside the exact labels
(:class:`SensorConfig`; docs/how-to/sensors.md). Each sensor's output is written next to the exact
label it approximates; all of them are off by default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from simgen.config.schema import setting, span
from simgen.errors import SimgenError

LIDARS = ("velodyne_vlp16", "velodyne_hdl32e")
"""sensor.lidar's choices: the scanners of simgen.sensors.lidar.SCANNERS."""


DEPTH_SENSORS = ("azure_kinect_nfov", "realsense_d435")
"""sensor.depth's choices (simgen.sensors): the depth cameras simgen models."""
ACTIVE_STEREO = ("realsense_d435",)
"""Those of DEPTH_SENSORS that are active stereo cameras (simgen.sensors.active_stereo)."""
DEPTH_LABELS = ("sensor_depth",)
"""The label kinds a depth camera (sensor.depth) writes on every frame."""
IR_LABELS = ("ir_left", "ir_right")
"""The label kinds an active stereo camera writes besides (its infrared pair)."""


def sensor_labels(sensor) -> list[str]:
    """The label kinds the sensor settings ``sensor`` (a SensorConfig or its dict, from a dataset.json)
    bring to every frame."""
    get = (lambda k: sensor.get(k)) if isinstance(sensor, dict) else (lambda k: getattr(sensor, k, None))
    out: list[str] = []
    if sensor is not None and get("depth"):
        out += [*(IR_LABELS if get("depth") in ACTIVE_STEREO else ()), *DEPTH_LABELS]
    if sensor is not None and get("events"):
        out.append("events")
    return out


def check_depth(cfg, camera=None, labels=()) -> None:
    """One-line SimgenError unless the depth camera's settings (sensor.depth...) are well formed (and, given
    the ``camera`` settings and output.labels ``labels``, fit them)."""
    brought = sensor_labels(cfg)
    if wanted := [k for k in labels if k in (*DEPTH_LABELS, *IR_LABELS) and k not in brought]:
        raise SimgenError(f"output.labels={wanted} are a depth camera's: set sensor.depth (realsense_d435 writes "
                          "ir_left, ir_right and sensor_depth; azure_kinect_nfov sensor_depth) instead")
    if cfg.depth in ACTIVE_STEREO and camera is not None and camera.calibration is not None:
        raise SimgenError(f"sensor.depth={cfg.depth} renders a rectified pinhole pair; camera.calibration bends "
                          "the rays through a lens: drop one of them")
    if len(cfg.depth_axial) != 4:
        raise SimgenError(f"sensor.depth_axial={list(cfg.depth_axial)}: give the four coefficients a0, a1, a2, a3 "
                          "(mm) of the axial noise's std, e.g. sensor.depth_axial=[1.5,-0.5,0.3,0.1]")
    if cfg.depth in ACTIVE_STEREO and cfg.rolling_shutter_ms > 0:
        raise SimgenError(f"sensor.depth={cfg.depth} renders its infrared pair with a global shutter, and "
                          f"sensor.rolling_shutter_ms={cfg.rolling_shutter_ms} renders the frame band by band: drop "
                          "one of them")
    if cfg.depth_sgbm_block % 2 == 0:
        raise SimgenError(f"sensor.depth_sgbm_block={cfg.depth_sgbm_block}: StereoSGBM's block is odd; e.g. "
                          "sensor.depth_sgbm_block=5")
    if len(cfg.depth_lateral) != 2:
        raise SimgenError(f"sensor.depth_lateral={list(cfg.depth_lateral)}: give the two coefficients l0, l1 "
                          "(device pixels) of the lateral noise's std, e.g. sensor.depth_lateral=[0.8,0.035]")


@dataclass
class SensorConfig:
    """Sensor models: depth cameras (active stereo, time of flight), LiDAR, rolling shutter and
    event cameras. Off by default: a run without them writes what it always wrote."""

    # --- depth cameras (sensor.depth...: active stereo, time of flight) ---
    depth: Optional[str] = setting(None, choices=DEPTH_SENSORS, example="azure_kinect_nfov")
    """A depth camera's depth beside the exact one (docs/how-to/sensors.md), written to
    DIR/sensor_depth/NNNNNN.npy (float32 metres, 0 = invalid), its draws in the frame meta's sensor.depth.
    azure_kinect_nfov: the time of flight camera of an Azure Kinect DK in its NFOV unbinned mode
    (simgen.sensors.tof): lateral and axial noise by distance and incidence, its systematic error, whole
    millimetres, and invalid pixels where the return is weak (dark, far or grazing surfaces), outside its
    operating range and at depth edges; the run keeps render.width x render.height and the camera's K
    (device pixels scale by the ratio of focal lengths). realsense_d435: an Intel RealSense D435's active
    stereo (simgen.sensors.active_stereo): its dot projector's infrared pair rendered by Cycles at its 50 mm
    baseline (DIR/ir_left/, DIR/ir_right/: 8-bit PNG), the left one the frame's camera, matched by OpenCV's
    StereoSGBM. null: none."""
    depth_dot_pitch: float = setting(3.0, ge=1.0, le=100.0)
    """Active stereo: the projector's dot pattern's spacing near the image centre, in pixels of the run's
    image (Intel does not publish the pattern: a pseudo-random dot in each cell of a grid this far apart)."""
    depth_ir_noise: float = setting(2.0, ge=0.0, le=50.0)
    """Active stereo: std of the infrared images' read noise, grey levels of 255."""
    depth_stereo_min: float = setting(0.2, gt=0.0)
    """Active stereo: the nearest depth (m) StereoSGBM searches for: its disparities run from 0 to fx x baseline
    / this (rounded up to 16s); nearer surfaces get no depth."""
    depth_sgbm_block: int = setting(5, ge=1, le=21)
    """Active stereo: StereoSGBM's (odd) block size in pixels; P1 = 8 block^2, P2 = 32 block^2."""
    depth_axial: list[float] = setting([1.5, -0.5, 0.3, 0.1], ge=-1000.0, le=1000.0)
    """Time of flight: a0, a1, a2, a3 of the axial noise's std in mm, a0 + a1 z + a2 z^2 + a3 z^1.5
    theta^2 / (pi/2 - theta)^2 (z: depth in m, theta: incidence); the Kinect v2 time-of-flight figures of
    Fankhauser et al. 2015 (ICAR), 1.5-4.0 mm head-on over the operating range."""
    depth_lateral: list[float] = setting([0.8, 0.035], ge=0.0, le=100.0)
    """Time of flight: l0, l1 of the lateral noise's std in device pixels, l0 + l1 theta / (pi/2 - theta)
    (Nguyen et al. 2012, 3DIMPVT); [0, 0] turns it off."""
    depth_range: list[float] = span([0.5, 3.86], gt=0.0)
    """Time of flight: operating range, metres of planar depth; pixels outside it are invalid (the Azure
    Kinect's NFOV unbinned mode: 0.5-3.86 m)."""
    depth_min_return: float = setting(0.15 / 3.86 ** 2, ge=0.0)
    """Time of flight: the weakest return kept, reflectance x cos(incidence) / depth^2 in 1/m^2; weaker
    pixels (dark, grazing or far surfaces) are invalid. Default 0.01007: a 15 % reflective surface facing the
    camera at 3.86 m, the data sheet's weakest case. 0 keeps every return."""
    depth_albedo: float = setting(0.5, ge=0.0, le=1.0)
    """Time of flight: the reflectance of surfaces whose material is a mesh's own or a PBR set (simgen
    reads a plain or procedural material's base colour)."""
    depth_systematic: float = setting(1.0, ge=0.0, le=1.0)
    """Time of flight: share of the data sheet's systematic error bound (11 mm + 0.1 % of depth) drawn once
    per sequence as an offset and a scale error; 0: none."""
    depth_edge: float = setting(0.05, gt=0.0)
    """Time of flight: a depth edge is where 4-neighbours' depths differ by more than this share of the
    nearer (or one sees nothing); pixels near it are invalid, as the device removes mixed pixels."""
    depth_edge_width: float = setting(1.0, ge=0.0, le=100.0)
    """Time of flight: device pixels on each side of a depth edge that are invalid; 0 keeps them."""

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
    lidar_sectors: int = setting(1, ge=1, le=3600)
    """LiDAR in a sequence: render each turn in this many sectors of azimuth, each from the scene at its
    middle column's time (step k's turn starts at k / sequence.fps seconds and lasts 60 / lidar_rpm, poses
    interpolated between steps and, past the last step, its last interval's motion going on),
    so that a moving scanner or object is skewed as a spinning scanner sees it; each point is in the
    scanner's frame at its sector's time (the meta's sensor.lidar.sectors). 1: the turn sees its step's
    scene (no skew). One more render a sector."""
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
    (top row first; a step lasts 1 / sequence.fps seconds, and the readout must fit in one) and every
    label of that row is the scene's at that time (docs/how-to/sensors.md). E.g. 31.98, an iPhone 4's
    1280x720 video at 30 Hz (Ringaby and Forssen, "Efficient Video Rectification and Stabilisation for
    Cell-Phones", IJCV 96, 2011). Sequences only (sequence.length > 1; one camera, or a stereo pair read
    in step); no flow is written."""
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
    (1 / (sequence.fps x N) seconds) of the true crossing; step k is at k / sequence.fps seconds. Raise
    it for fast motion."""
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
