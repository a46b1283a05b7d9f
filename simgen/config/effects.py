"""The ``effects`` group: camera and sensor effects on the RGB image (:class:`EffectsConfig`)."""

from __future__ import annotations

from dataclasses import dataclass

from simgen.config.schema import setting, span


@dataclass
class EffectsConfig:
    """Camera and sensor effects on the RGB image only (simgen.imaging.effects): labels stay the
    pinhole, pixel-centre truth. The effects and their parameters are drawn once per sequence
    (one camera per clip; per frame with sequence.length 1), the noise itself per frame, and
    recorded in each frame's meta ("effects"); with every probability 0 (the default) the RGB
    and the meta are exactly as without effects. effects=camera turns them all on."""

    motion_blur_probability: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that a sequence (sequence.length > 1) gets motion blur: each pixel is
    averaged along its own exact optical flow while the shutter is open; labels stay sharp.
    Single frames have no flow and never get motion blur (nothing is drawn for them)."""
    shutter: list[float] = span([0.1, 0.5], ge=0.0, le=1.0)
    """Motion blur: shutter open time as a fraction of the time between two steps, drawn per sequence."""
    blur_probability: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that a sequence gets lens blur: the linear image convolved with a Gaussian point
    spread of blur pixels (a soft or slightly defocused lens over the whole frame; labels stay sharp)."""
    blur: list[float] = span([0.5, 1.5], gt=0.0, le=50.0)
    """Lens blur: the Gaussian point spread's standard deviation in pixels, drawn per sequence."""
    vignetting_probability: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that a sequence gets vignetting: light falls off as (cos^4 theta)^strength, theta the
    pixel ray's angle to the optical axis (from K; 1 at the principal point)."""
    vignetting: list[float] = span([0.2, 1.0], ge=0.0, le=10.0)
    """Vignetting strength, drawn per sequence: 1 = the natural cos^4 law of a thin lens, 0 = none."""
    noise_probability: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that a sequence gets sensor noise: Poisson shot noise plus Gaussian read noise in linear
    light, the exposed render before the tone curve (variance x / full_well + read_noise^2 at linear
    value x, where metering puts mid grey at 0.18), clipped where the tone curve reaches white."""
    full_well: list[float] = span([500.0, 10000.0], ge=1.0, le=1e7)
    """Sensor noise: photo-electrons of a pixel at linear 1 (diffuse white, 2.5 stops over mid grey),
    drawn per sequence; smaller = noisier (a high ISO). Shot noise std at linear value x is
    sqrt(x / full_well); the sensor saturates at the tone curve's white (16.3 under agx, 1 under
    standard)."""
    read_noise: list[float] = span([0.0005, 0.004], ge=0.0, le=1.0)
    """Sensor noise: std of the Gaussian read noise in linear units (1 = diffuse white), drawn per
    sequence."""
    white_balance_probability: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that a sequence gets a white balance error: per-channel gains of a camera balanced
    for an illuminant of white_balance_temperature while the render's white is 6500 K."""
    white_balance_temperature: list[float] = span([4500.0, 9000.0], ge=1000.0, le=40000.0)
    """White balance: the colour temperature (K) the camera balances for, drawn per sequence; gains
    blackbody(6500 K) / blackbody(T), geometric mean 1; below 6500 K the image turns blue."""
    jpeg_probability: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that a sequence gets JPEG compression artefacts: an encode/decode round trip at
    jpeg_quality (files stay lossless PNG)."""
    jpeg_quality: list[int] = span([70, 95], ge=1, le=100)
    """JPEG quality (libjpeg scale 1..100), drawn per sequence, inclusive."""
