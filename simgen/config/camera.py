"""The ``camera`` group: the lens, sensor, clipping, exposure and rig (:class:`CameraConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from simgen.config.schema import setting, span

RIGS = ("mono", "stereo", "calibration")
"""camera.rig: one camera, a rectified stereo pair (simgen.optics.camera.stereo_offset), or every
camera of camera.calibration (simgen.sampling.camera.with_rig)."""


@dataclass
class CameraConfig:
    """The camera's lens, sensor, clipping and exposure; where it stands is the recipe's
    (tabletop: scene.camera_distance, camera_elevation, camera_azimuth, look_at_jitter)."""

    focal_length: list[float] = span([30.0, 55.0], ge=1.0)
    """Lens focal length, mm (with sensor_width)."""
    sensor_width: float = setting(36.0, ge=1.0)
    """Sensor width, mm (horizontal sensor fit)."""
    clip_start: float = setting(0.01, ge=1e-6)
    """Near clipping distance, metres (surfaces closer than this are not seen)."""
    clip_end: float = setting(100.0, gt=0.0)
    """Far clipping distance, metres."""
    principal_point_jitter: float = setting(0.0, ge=0.0)
    """Std-dev (pixels) of a Gaussian shift of the principal point (K's cx, cy; Blender's lens
    shift), drawn per scene; 0 keeps it at the image centre, e.g. 2.0 mimics calibration spread.
    With camera.calibration it moves the calibration's principal point (kept within 3 std-devs).
    Labels stay exact: they follow the recorded K (and lens)."""
    exposure: list[float] = span([0.0, 0.0], ge=-20.0, le=20.0)
    """Exposure in stops, drawn per scene (constant along a sequence): the linear image is
    multiplied by 2**stops before the sRGB conversion; e.g. [-1.0, 1.0]."""
    dof_probability: float = setting(0.0, ge=0.0, le=1.0)
    """Chance that a scene's RGB has depth of field (tabletop scene), focused on the look-at
    point; labels stay those of a pinhole camera (rendered in a second, sharp pass)."""
    fstop: list[float] = span([1.4, 5.6], ge=0.1)
    """Aperture f-number of depth of field, drawn per scene; smaller = blurrier."""
    calibration: Optional[str] = setting(None, example="/data/wrist_camera.yaml")
    """A camera calibration file to render through (tabletop scene): OpenCV FileStorage YAML/JSON
    (camera_matrix, distortion_coefficients, image size), ROS camera_info (plumb_bob,
    rational_polynomial, equidistant) or a Kalibr camchain (its cam0). Its intrinsics replace
    camera.focal_length and its lens (radial-tangential, fisheye) bends every ray, so the image
    and the ids, depth (planar z), normals, masks, boxes and 3D box projections are that
    camera's at each pixel centre (Cycles' custom camera), and so are optical flow and keypoints.
    Its image size must be render.width x render.height. camera.focal_jitter and
    camera.principal_point_jitter vary it per scene. Amodal masks too, for a lens whose image stays
    within 90 degrees of its axis. Not with the BOP or nerfstudio formats or depth of field. null:
    a pinhole from focal_length."""
    rig: str = setting("mono", choices=RIGS, common=True)
    """mono: one camera. stereo: a rectified stereo pair, the frame's camera on the left and a
    second one camera.baseline to its right (the same K and orientation, moved along the left
    camera's x axis), rendered from the same scene: every frame also gets the right image
    (DIR/right/), the left view's disparity in pixels (DIR/disparity/, fx * baseline / depth,
    exact at each pixel centre) and the left pixels the right camera does not see
    (DIR/occluded/); docs/how-to/real-cameras.md. With camera.calibration (a Kalibr camchain of
    cam0 and cam1): the rig's rectified pair as OpenCV's stereoRectify makes it (its K and
    baseline; camera.baseline and camera.focal_length do not apply).
    calibration: every camera of camera.calibration (a Kalibr camchain's cam0, cam1, ...), each
    through its own lens and posed by the file's extrinsics around the drawn cam0: frame i is
    camera i % C of scene i // C (the meta's sequence and step; params.rig names the camera), the
    scene built once for its C cameras."""
    baseline: list[float] = span([0.12, 0.12], gt=0.0, le=10.0)
    """With camera.rig=stereo: the distance (m) between the two camera centres, drawn per
    sequence (one rig films a clip), e.g. [0.05, 0.3]."""
    focal_jitter: float = setting(0.0, ge=0.0, le=0.1)
    """With camera.calibration: std-dev of a per-scene relative change of its focal lengths (fx and
    fy scaled together by 1 + N(0, focal_jitter), kept within 3 std-devs), e.g. 0.01 for the
    spread of a calibration; the frame meta's lens is the one rendered. 0: the calibration's."""
