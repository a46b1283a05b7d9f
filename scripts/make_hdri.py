"""Write assets/hdri/default_sky.hdr: a small procedural equirectangular sky (no download).

A 256x128 Radiance .hdr in linear RGB: a blue sky darkening from the horizon to the
zenith, a bright sun disc with a soft glow at 35 degrees elevation, and a brownish ground
below the horizon. The lighting=hdri option uses it when lighting.hdri_dir is null.
Run: python scripts/make_hdri.py [OUT.hdr]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "assets" / "hdri" / "default_sky.hdr"


def make(width: int = 256, height: int = 128, sun_elevation_deg: float = 35.0,
         sun_azimuth_deg: float = 60.0) -> np.ndarray:
    """(height, width, 3) float32 linear RGB; row 0 is the zenith, column u has azimuth
    phi = 2 pi (u + 0.5) / width measured the way Blender's environment texture maps it."""
    v = (np.arange(height) + 0.5) / height
    u = (np.arange(width) + 0.5) / width
    theta = (0.5 - v)[:, None] * np.pi  # elevation, +pi/2 at the top row
    phi = (u[None, :] - 0.5) * 2.0 * np.pi
    d = np.stack(np.broadcast_arrays(np.cos(theta) * np.cos(phi), np.cos(theta) * np.sin(phi),
                                     np.sin(theta) + 0.0 * phi), -1)
    up = np.clip(np.sin(theta), 0.0, 1.0)[..., None] * np.ones((1, width, 1))
    horizon, zenith = np.array([0.75, 0.85, 1.0]), np.array([0.15, 0.3, 0.8])
    img = horizon + (zenith - horizon) * up ** 0.5
    ground = np.array([0.25, 0.2, 0.15])
    below = np.broadcast_to(theta < 0, (height, width))
    img[below] = ground
    se, sa = np.radians(sun_elevation_deg), np.radians(sun_azimuth_deg)
    sun = np.array([np.cos(se) * np.cos(sa), np.cos(se) * np.sin(sa), np.sin(se)])
    cos_angle = np.clip(d @ sun, -1.0, 1.0)
    angle = np.arccos(cos_angle)
    img = img + np.array([1.0, 0.95, 0.85]) * (2.0 * np.exp(-(angle / 0.15) ** 2))[..., None]  # glow
    img[angle < np.radians(4.0)] = np.array([60.0, 55.0, 45.0])  # the disc (a few pixels across)
    return img.astype(np.float32)


def main(out: Path = OUT) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    rgb = make()
    if not cv2.imwrite(str(out), np.ascontiguousarray(rgb[..., ::-1])):  # OpenCV wants BGR
        raise SystemExit(f"could not write {out}")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    if sys.argv[1:2] in (["-h"], ["--help"]):  # the docstring is the usage; nothing is written
        sys.exit(print(__doc__))
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
