"""LiDAR: a spinning scanner's beam pattern, and its point cloud from a render of those beams.

simgen renders a scan through Cycles as an image whose pixel (row = ring, column = azimuth step)
is one beam (:mod:`simgen.blender.lidar_camera`: an OSL camera shader, the route of the
calibrated lenses); this module, pure numpy, says where each beam points and turns the render's
passes (each beam's ray length, object index, geometric normal and diffuse albedo) into the
points a scanner returns, with its range noise and drop-outs drawn from an explicit generator.

Frames and conventions (KITTI's Velodyne frame): the scanner's x points forward, y left, z up;
a beam of elevation ``e`` and azimuth ``a`` points along ``(cos e cos a, -cos e sin a, sin e)``:
the head turns clockwise seen from above, as Velodyne's do, starting forward (a = 0). Ring 0 is
the lowest beam. A point's time is when its column fires after the start of the turn,
``a / 360 * period``: the lasers of one firing cycle share its azimuth here (on the device they
fire 2.304 us apart, which turns the head by at most 0.13 deg at 1200 rpm); the scene is the
frame's, unmoved through the turn (no motion skew).

Intensity is Lambertian: ``rho * |cos(theta)|``, with ``rho`` the surface's diffuse albedo (the
mean of Cycles' Diffuse Color pass: visible-light albedo standing in for the 903 nm one) and
``theta`` the angle between the beam and the surface's geometric normal; in [0, 1], like
KITTI's reflectance. Velodyne calibrates its reflectivity for range, so it has no 1/r^2.

A beam returns nothing (drop-outs, each counted in the frame meta):

- ``beyond_range``: nothing hit within the scanner's maximum range;
- ``grazing``: the incidence angle theta exceeds ``grazing`` degrees;
- ``weak``: drawn, with probability ``1 - min(1, rho |cos theta| (R / r)^2 / rho_min)``: the
  return's power falls with reflectivity, incidence and the square of the range ``r``, and a
  target of reflectivity ``rho_min`` seen head-on is found out to the maximum range ``R``.

Range noise is Gaussian, ``N(0, sigma)`` metres along the beam, ``sigma`` the scanner's
published accuracy; each point's draw is kept (the ``noise`` field) so the exact range is
``range - noise``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SCANNER_TO_CAMERA = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
"""Rotation from the scanner's axes (x forward, y left, z up) to an OpenCV camera's (x right,
y down, z forward): a scanner on the camera's pose looks where the camera looks."""

FIELDS = ("x", "y", "z", "range", "intensity", "instance", "semantic", "ring", "time", "azimuth", "noise",
          "world_x", "world_y", "world_z")
"""The fields of a point cloud (:func:`point_cloud`), in the PLY's order."""

FIELD_TYPES = {"x": np.float32, "y": np.float32, "z": np.float32, "range": np.float32, "intensity": np.float32,
               "instance": np.uint16, "semantic": np.uint16, "ring": np.uint8, "time": np.float64,
               "azimuth": np.float32, "noise": np.float32, "world_x": np.float64, "world_y": np.float64,
               "world_z": np.float64}
"""Each field's dtype: coordinates, range and noise metres (float32), time seconds after the
start of the turn (float64), azimuth degrees; world_x, world_y, world_z: the point in the world
(float64 metres; the scanner's pose at the point's column applied: a skewed turn's points undone)."""

NOISE_STREAM = 0x4C494441
"""Mixed into a frame's seed sequence for the LiDAR's draws (a stream of its own)."""


@dataclass(frozen=True)
class Scanner:
    """A spinning LiDAR as its maker publishes it."""

    name: str
    model: str
    """The device's name as its maker writes it."""
    elevations: tuple[float, ...]
    """Each ring's elevation, degrees, lowest first (ring 0); evenly spaced (the render's rows)."""
    firing_cycle: float
    """Seconds between two firings of the same laser: the head turns by one azimuth step in it."""
    rpm: tuple[float, float]
    """The rotation rates the device allows, revolutions a minute."""
    max_range: float
    """Metres."""
    range_sigma: float
    """Range noise, one standard deviation, metres."""
    sources: tuple[str, ...] = field(default=())
    """Where the figures come from (title, document number, where to find it)."""

    def columns(self, rpm: float) -> int:
        """Firing cycles in one turn at ``rpm``: the data sheet's azimuth step is
        ``360 * rpm / 60 * firing_cycle`` degrees; a turn holds the nearest whole number of them."""
        return int(round(60.0 / rpm / self.firing_cycle))

    def azimuth_step(self, rpm: float) -> float:
        """Degrees between two columns at ``rpm`` (a whole turn's worth of whole steps)."""
        return 360.0 / self.columns(rpm)

    @property
    def elevation_step(self) -> float:
        return float(self.elevations[1] - self.elevations[0])


VLP16 = Scanner(
    name="velodyne_vlp16",
    model="Velodyne VLP-16 (Puck)",
    elevations=tuple(float(e) for e in range(-15, 16, 2)),
    firing_cycle=55.296e-6,
    rpm=(300.0, 1200.0),
    max_range=100.0,
    range_sigma=0.03,
    sources=(
        "Velodyne LiDAR, VLP-16 data sheet (Puck, 63-9229): 16 channels, vertical field of view +15 to -15 deg "
        "at 2.0 deg, azimuth resolution 0.1-0.4 deg, rotation 5-20 Hz, range up to 100 m, range accuracy up to "
        "+-3 cm (typical; taken here as one standard deviation)",
        "Velodyne LiDAR, VLP-16 User Manual 63-9243 Rev. D (2018), 8.1 Firing Sequence: all 16 lasers fire and "
        "recharge every 55.296 us; 9.2 Table 9-1: laser elevations -15..+15 deg in 2 deg steps",
    ),
)

HDL32E = Scanner(
    name="velodyne_hdl32e",
    model="Velodyne HDL-32E",
    elevations=tuple(-92.0 / 3.0 + 4.0 * k / 3.0 for k in range(32)),
    firing_cycle=46.08e-6,
    rpm=(300.0, 1200.0),
    max_range=100.0,
    range_sigma=0.02,
    sources=(
        "Velodyne LiDAR, HDL-32E User's Manual and Programming Guide: 32 lasers, vertical angles -30.67 to +10.67 "
        "deg (Laser Firing Sequence table, listed to 0.01 deg: every 4/3 deg), valid data 5 cm to 100 m, "
        "5-20 Hz; Appendix E: a laser fires every 1.152 us, all 32 every 46.08 us",
        "Velodyne LiDAR, HDL-32E data sheet: accuracy < 2 cm (one sigma at 25 m), taken as the range noise's sigma",
    ),
)

SCANNERS = {s.name: s for s in (VLP16, HDL32E)}
"""The scanners ``sensor.lidar`` names."""


def scanner(name: str) -> Scanner:
    return SCANNERS[name]


def scanner_to_world(camera_to_world: np.ndarray, offset: np.ndarray | list[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """4x4 scanner-to-world pose of a scanner on the camera's pose (``camera_to_world``: OpenCV
    axes), moved by ``offset`` metres along its own axes (forward, left, up)."""
    m = np.eye(4)
    m[:3, :3] = SCANNER_TO_CAMERA
    m[:3, 3] = SCANNER_TO_CAMERA @ np.asarray(offset, float)
    return np.asarray(camera_to_world, float) @ m


def beam_angles(s: Scanner, rpm: float) -> tuple[np.ndarray, np.ndarray]:
    """(elevations (R,), azimuths (C,)) in degrees: ring r's elevation, column c's azimuth."""
    return np.asarray(s.elevations, float), np.arange(s.columns(rpm)) * s.azimuth_step(rpm)


def beam_directions(s: Scanner, rpm: float) -> np.ndarray:
    """(R, C, 3) unit vectors of every beam in the scanner's frame (row = ring, column = step)."""
    el, az = (np.radians(a) for a in beam_angles(s, rpm))
    e, a = np.meshgrid(el, az, indexing="ij")
    return np.stack([np.cos(e) * np.cos(a), -np.cos(e) * np.sin(a), np.sin(e)], axis=-1)


def beam_times(s: Scanner, rpm: float) -> np.ndarray:
    """(C,) seconds after the start of the turn at which each column fires: azimuth / 360 * period."""
    return beam_angles(s, rpm)[1] / 360.0 * (60.0 / rpm)


@dataclass(frozen=True)
class Returns:
    """What the scanner's render gives per beam (arrays (R, C[, 3]), row = ring)."""

    distance: np.ndarray
    """Ray length to the first hit, metres; inf where nothing is hit."""
    index: np.ndarray
    """Object pass index (instance id) of the hit, 0 = nothing."""
    normal: np.ndarray
    """World-space geometric normal of the hit (any orientation), 0 = nothing."""
    albedo: np.ndarray
    """Diffuse albedo (RGB, linear) of the hit."""


def point_cloud(returns: Returns, s: Scanner, rpm: float, to_world: np.ndarray, category_of: dict[int, int],
                rng: np.random.Generator | None, grazing: float = 85.0, min_reflectivity: float = 0.1,
                ) -> tuple[dict[str, np.ndarray], dict]:
    """The points scanner ``s`` (at ``rpm``, pose ``to_world``: scanner to world, (4, 4), or (C, 4, 4)
    one per column where the scanner moves during the turn) returns from ``returns``, and what was
    drawn and dropped. ``rng``: the generator of the range noise and the
    weak returns' draws; None: exact ranges and no drawn drop-out (the beyond-range and grazing
    ones stay: they are the device's geometry). ``category_of``: instance id -> COCO category.

    The cloud holds :data:`FIELDS` (one entry per returned beam, ring by ring in column order);
    the report: counts per drop-out cause, points, and the noise's sigma (0 when not drawn)."""
    dirs = beam_directions(s, rpm)
    R, C = dirs.shape[:2]
    r = np.asarray(returns.distance, np.float64)
    idx = np.asarray(returns.index).astype(np.int64)
    if r.shape != (R, C):
        raise ValueError(f"{s.name} at {rpm:g} rpm has {R}x{C} beams; the returns are {r.shape}")
    hit = np.isfinite(r) & (idx > 0)
    in_range = hit & (r <= s.max_range)
    n_world = np.asarray(returns.normal, np.float64)
    rot = np.broadcast_to(np.asarray(to_world, float)[..., :3, :3], (C, 3, 3))
    n_scan = np.einsum("rck,ckj->rcj", n_world, rot)  # world -> scanner: R^T n, each column's R
    length = np.linalg.norm(n_scan, axis=-1)
    cos = np.abs(np.einsum("rck,rck->rc", dirs, n_scan)) / np.where(length > 0, length, 1.0)
    cos = np.where(length > 0, np.minimum(cos, 1.0), 0.0)
    rho = np.clip(np.asarray(returns.albedo, np.float64).mean(axis=-1), 0.0, 1.0)
    intensity = rho * cos
    seen = in_range & (cos >= np.cos(np.radians(grazing)))
    kept = seen.copy()
    noise = np.zeros((R, C))
    if rng is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            power = np.where(seen, intensity * (s.max_range / np.where(seen, r, 1.0)) ** 2 / min_reflectivity, 0.0)
        u = rng.random((R, C))
        kept = seen & (u < np.minimum(power, 1.0))
        noise = rng.normal(0.0, s.range_sigma, (R, C))
    report = {
        "beams": int(R * C),
        "points": int(kept.sum()),
        "dropped": {"beyond_range": int((~in_range).sum()), "grazing": int((in_range & ~seen).sum()),
                    "weak": int((seen & ~kept).sum())},
        "range_sigma": float(s.range_sigma) if rng is not None else 0.0,
    }
    ring, col = np.nonzero(kept)
    rng_m = r[kept] + noise[kept]
    xyz = dirs[kept] * rng_m[:, None]
    poses = np.broadcast_to(np.asarray(to_world, float), (C, 4, 4))[col]
    world = np.einsum("nij,nj->ni", poses[:, :3, :3], xyz) + poses[:, :3, 3]
    lut = np.zeros(int(max([0, *category_of, *idx[kept]])) + 1, np.int64)
    for iid, cat in category_of.items():
        lut[int(iid)] = int(cat)
    el, az = beam_angles(s, rpm)
    cloud = {
        "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2], "range": rng_m, "intensity": intensity[kept],
        "instance": idx[kept], "semantic": lut[idx[kept]], "ring": ring, "time": beam_times(s, rpm)[col],
        "azimuth": az[col], "noise": noise[kept], "world_x": world[:, 0], "world_y": world[:, 1],
        "world_z": world[:, 2],
    }
    return {k: np.asarray(cloud[k]).astype(FIELD_TYPES[k]) for k in FIELDS}, report


def lidar_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of frame ``index``'s LiDAR draws: a stream of its own, so that turning the
    LiDAR on shifts no other draw."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index), NOISE_STREAM]))
