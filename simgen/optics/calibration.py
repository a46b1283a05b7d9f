"""Camera calibrations read from the files calibration tools write.

:func:`read_calibration` reads one file into a :class:`Calibration`: one or more cameras, each a
lens model of :mod:`simgen.optics.lens` (pixels in OpenCV's convention, centres at integer
coordinates), a name and, for a multi-camera file, its extrinsics. Three families of formats,
told apart by their content (never by the file's extension alone):

``opencv``
    OpenCV FileStorage, YAML (``%YAML:1.0`` header, ``!!opencv-matrix`` nodes with ``rows``,
    ``cols``, ``dt``, ``data``) or JSON (matrices as objects with ``"type_id": "opencv-matrix"``),
    as OpenCV's calibration samples write it: ``image_width``, ``image_height``,
    ``camera_matrix`` (3x3), ``distortion_coefficients`` (1xN or Nx1, OpenCV's order). The model
    is ``radtan`` (``pinhole`` when every coefficient is 0), or ``fisheye`` when the file says so:
    ``distortion_model: fisheye`` (not OpenCV's, accepted here; also ``radtan`` or ``pinhole``) or
    ``fisheye_model: 1``, which OpenCV's tutorial sample (camera_calibration.cpp) writes.
``ros``
    ROS ``camera_info`` YAML (camera_calibration_parsers): ``image_width``, ``image_height``,
    ``camera_name`` (optional: the file's stem), ``camera_matrix`` / ``distortion_coefficients`` /
    ``rectification_matrix`` / ``projection_matrix`` as ``{rows, cols, data}``, and
    ``distortion_model``: ``plumb_bob`` -> ``radtan`` (5 coefficients), ``rational_polynomial`` ->
    ``radtan`` with k4..k6 (8), ``equidistant`` -> OpenCV ``fisheye`` (4). Without
    ``distortion_model`` the file is taken as ``plumb_bob``, as ROS's own parser does. The
    rectification and projection matrices (stereo rectification) are checked and kept in
    :attr:`CalibratedCamera.extra`; the lens is the raw (distorted) image's, K and D.
``kalibr``
    Kalibr camchain YAML: ``cam0``, ``cam1``, ... each with ``camera_model: pinhole``,
    ``intrinsics: [fu, fv, pu, pv]``, ``distortion_model`` (``radtan`` -> ``radtan`` with k1, k2,
    p1, p2; ``equidistant`` -> OpenCV ``fisheye``; ``none`` -> ``pinhole``),
    ``distortion_coeffs``, ``resolution: [width, height]``, ``T_cn_cnm1`` (cam1 on: 4x4, takes
    points from the previous camera's coordinates to this camera's) and optionally ``T_cam_imu``.

Extrinsics: :attr:`CalibratedCamera.to_first` is the 4x4 transform taking points in this camera's
coordinates to the first camera's (cam0's): ``p_first = to_first @ p_this``, i.e. the camera's
pose in the first camera's frame, the way :mod:`simgen.optics.camera` writes camera-to-world
(the first camera playing the world). For Kalibr, the chain is multiplied out: ``T_cn_c0 =
T_cn_cnm1 @ ... @ T_c1_c0`` and ``to_first = inverse(T_cn_c0)`` (the matrix's own inverse:
a file's rotation is orthonormal only to its printed digits). The first camera's is the identity.

Reading: YAML is read with PyYAML (imported here, lazily), OpenCV's own dialect included: its
``%YAML:1.0`` directive (which YAML 1.1 parsers refuse) is blanked, ``!!opencv-matrix`` nodes
become matrices and OpenCV's ``.Nan``/``.Inf`` spellings are understood; JSON is read with the
standard library. ``cv2.FileStorage`` is not used, on purpose: it would be the only cv2 in
simgen.optics (numpy only, by the project's layering); it reads none of the ROS or Kalibr files,
so PyYAML is needed anyway and one reader serves all three formats, with the same format
detection; and it reports a broken file as a multi-line C++ error (or, for a missing key, an
empty node), where here every problem is one line naming the file, with PyYAML's line and column.
What it reads beyond the calibration samples' output (XML, base64 ``dt`` blocks) is refused in
one line. The tests check this reader against ``cv2.FileStorage`` on the same files.

Every bad input is one :class:`~simgen.SimgenError` line naming the file: missing file, not
YAML/JSON, not a calibration, missing field, wrong matrix shape, unknown distortion model (listing
the known), a non-finite number, or a lens that folds over inside its image
(:meth:`~simgen.optics.lens.Lens.check`). :func:`check_size` compares with ``render.width`` /
``render.height``.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Union

import numpy as np

from simgen.errors import SimgenError, did_you_mean
from simgen.optics.lens import Lens, parse_lens

__all__ = ["FORMATS", "CalibratedCamera", "Calibration", "check_size", "read_calibration"]

FORMATS = ("opencv", "ros", "kalibr")
"""The calibration formats :func:`read_calibration` tells apart (:attr:`Calibration.format`)."""

ROS_MODELS = {"plumb_bob": ("radtan", 5), "rational_polynomial": ("radtan", 8), "equidistant": ("fisheye", 4)}
"""ROS ``distortion_model`` -> (lens model, number of coefficients)."""

KALIBR_MODELS = {"radtan": ("radtan", 4), "equidistant": ("fisheye", 4), "none": ("pinhole", 0)}
"""Kalibr ``distortion_model`` (with ``camera_model: pinhole``) -> (lens model, number of coefficients)."""

OPENCV_MODELS = ("radtan", "fisheye", "pinhole")
"""The values of the optional ``distortion_model`` key of an OpenCV file."""

_RIGID_TOLERANCE = 1e-3
"""How far from orthonormal a file's rotation may be (files print a handful of digits)."""

PathType = Union[str, "PathLike[str]"]


@dataclass(frozen=True, eq=False)
class CalibratedCamera:
    """One camera of a calibration.

    Attributes
    ----------
    name : str
        ``camera_name`` (ROS), ``cam0``, ``cam1``... (Kalibr) or the file's stem (OpenCV).
    lens : Lens
        Its lens model, checked (:meth:`~simgen.optics.lens.Lens.check`).
    to_first : ndarray (4, 4)
        Takes points in this camera's coordinates (OpenCV axes, the file's length unit, metres
        for Kalibr) to the first camera's: ``p_first = to_first @ p_this``; the identity for the
        first camera and for single-camera files.
    imu_to_camera : ndarray (4, 4) or None
        Kalibr's ``T_cam_imu`` (IMU coordinates to this camera's), when the file has it.
    extra : dict of str to ndarray
        Other matrices the file gives, checked but unused: ROS's ``rectification_matrix`` (3x3)
        and ``projection_matrix`` (3x4).
    """

    name: str
    lens: Lens
    to_first: np.ndarray = field(default_factory=lambda: np.eye(4))
    imu_to_camera: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Calibration:
    """The cameras of one calibration file (:func:`read_calibration`).

    Attributes
    ----------
    path : Path
        The file read.
    format : str
        One of :data:`FORMATS`.
    cameras : tuple of CalibratedCamera
        In the file's order; the first is the reference of every ``to_first``.
    """

    path: Path
    format: str
    cameras: tuple[CalibratedCamera, ...]

    @property
    def lens(self) -> Lens:
        """The first camera's lens (that of a single-camera file)."""
        return self.cameras[0].lens

    def camera(self, name: str) -> CalibratedCamera:
        """The camera called ``name``; an unknown name is one line listing the names."""
        for cam in self.cameras:
            if cam.name == name:
                return cam
        names = [c.name for c in self.cameras]
        hint = did_you_mean(name, names)
        raise SimgenError(f"{self.path}: no camera {name!r} (cameras: {', '.join(names)})"
                          + (f"; {hint}" if hint else ""))


class _OpenCVMatrix(dict):
    """A mapping read from an ``!!opencv-matrix`` node (YAML) or ``"type_id": "opencv-matrix"`` (JSON)."""


class _Fail:
    """One-line errors about one file."""

    def __init__(self, path: Path) -> None:
        self.where = str(path)

    def __call__(self, message: str) -> SimgenError:
        return SimgenError(" ".join(f"{self.where}: {message}".split()))


# ---- parsing ------------------------------------------------------------------------------------------

_SPECIAL = {".nan": math.nan, ".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf}
"""YAML's (and OpenCV's: ``.Nan``, ``.Inf``, ``-.Inf``) spellings of the non-finite numbers, lower-cased."""


@functools.lru_cache(maxsize=1)
def _yaml_loader() -> type:
    """PyYAML's SafeLoader, plus OpenCV's ``!!opencv-matrix`` and plain nodes for any other tag."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def opencv_matrix(loader: Any, node: Any) -> _OpenCVMatrix:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(None, None, "an !!opencv-matrix must be a mapping",
                                                    node.start_mark)
        return _OpenCVMatrix(loader.construct_mapping(node, deep=True))

    def untagged(loader: Any, suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    Loader.add_constructor("tag:yaml.org,2002:opencv-matrix", opencv_matrix)
    Loader.add_multi_constructor("", untagged)
    return Loader


def _json_hook(obj: dict) -> Any:
    return _OpenCVMatrix(obj) if obj.get("type_id") == "opencv-matrix" else obj


def _parse(text: str, fail: _Fail) -> tuple[Any, bool]:
    """The file's data, and whether it is OpenCV's (``%YAML:1.0`` header or JSON matrices)."""
    import yaml

    text = text.lstrip("\ufeff")
    head = text.lstrip()
    if head.startswith("<"):
        raise fail("XML is not read (OpenCV's XML FileStorage included); save the calibration as YAML or JSON")
    json_error = None
    if head.startswith("{"):
        try:
            return json.loads(text, object_hook=_json_hook), False
        except json.JSONDecodeError as e:
            json_error = f"not JSON ({e.msg} at line {e.lineno}, column {e.colno})"
    opencv_header = re.match(r"%YAML:\d+\.\d+", head) is not None
    if opencv_header:  # blanked, not removed: PyYAML's line numbers stay the file's
        text = re.sub(r"\A(\s*)%YAML:[^\n]*", r"\1", text)
    try:
        data = yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as e:
        if json_error:
            raise fail(json_error) from None
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise fail(f"not YAML or JSON ({problem}{at})") from None
    return data, opencv_header


def _detect(data: Any, opencv_header: bool, fail: _Fail) -> str:
    if data is None:
        raise fail("empty file, not a camera calibration")
    if not isinstance(data, Mapping):
        raise fail(f"not a camera calibration: its top level is a {type(data).__name__}, not a mapping")
    cm = data.get("camera_matrix")
    if opencv_header or isinstance(cm, _OpenCVMatrix) or (isinstance(cm, Mapping) and "dt" in cm):
        return "opencv"
    if any(isinstance(k, str) and re.fullmatch(r"cam\d+", k) for k in data):
        return "kalibr"
    if "camera_matrix" in data:
        return "ros"
    raise fail("not a camera calibration: it has none of OpenCV's or ROS camera_info's camera_matrix, "
               "nor Kalibr's cam0")


# ---- values -------------------------------------------------------------------------------------------

def _float(value: Any, what: str, fail: _Fail) -> float:
    if isinstance(value, str) and value.strip().lower() in _SPECIAL:
        value = _SPECIAL[value.strip().lower()]
    elif isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise fail(f"{what}: {value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(f"{what}: {value!r} is not a number")
    value = float(value)
    if not math.isfinite(value):
        raise fail(f"{what}: non-finite number {value}")
    return value


def _required(node: Mapping, key: str, ctx: str, fail: _Fail) -> Any:
    if key not in node or node[key] is None:
        raise fail(f"missing field '{ctx}{key}'")
    return node[key]


def _whole(node: Mapping, key: str, ctx: str, fail: _Fail) -> int:
    value = _required(node, key, ctx, fail)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise fail(f"{ctx}{key}: {value!r} is not a whole number")
    return int(value)


def _pixels(value: Any, what: str, fail: _Fail) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer() \
            or value <= 0:
        raise fail(f"{what}: {value!r} is not a positive whole number of pixels")
    return int(value)


def _matrix(node: Mapping, key: str, ctx: str, fail: _Fail, shape: tuple[int, int] | None = None,
            required: bool = True) -> np.ndarray | None:
    """``node[key]`` as a 2D array: a ``{rows, cols, data}`` mapping (OpenCV, ROS) or nested lists
    (Kalibr); ``shape`` checked (None: a 1xN or Nx1 vector, returned flat)."""
    what = f"{ctx}{key}"
    if key not in node or node[key] is None:
        if required:
            raise fail(f"missing field '{what}'")
        return None
    value = node[key]
    if isinstance(value, Mapping):
        rows = _whole(value, "rows", f"{what}.", fail)
        cols = _whole(value, "cols", f"{what}.", fail)
        data = _required(value, "data", f"{what}.", fail)
        if isinstance(data, (bytes, bytearray)) or (isinstance(data, str) and rows * cols > 1):
            raise fail(f"{what}: data is not a list of numbers (base64 or binary data is not read)")
        if not isinstance(data, list):
            data = [data]
        if len(data) != rows * cols or rows < 0 or cols < 0:
            raise fail(f"{what}: wrong matrix shape: data has {len(data)} numbers for rows x cols = {rows}x{cols}")
        numbers = [_float(v, f"{what} element {i}", fail) for i, v in enumerate(data)]
        m = np.array(numbers, float).reshape(rows, cols)
    elif isinstance(value, list):
        if value and all(isinstance(row, list) for row in value):
            widths = {len(row) for row in value}
            if len(widths) != 1:
                raise fail(f"{what}: wrong matrix shape: rows of different lengths {sorted(widths)}")
            m = np.array([[_float(v, f"{what}[{i}][{j}]", fail) for j, v in enumerate(row)]
                          for i, row in enumerate(value)], float).reshape(len(value), widths.pop())
        else:
            m = np.array([_float(v, f"{what}[{i}]", fail) for i, v in enumerate(value)], float).reshape(1, -1)
    else:
        raise fail(f"{what}: expected a matrix, found {type(value).__name__} {value!r}")
    if shape is None:
        if m.ndim != 2 or (m.shape[0] != 1 and m.shape[1] != 1 and m.size):
            raise fail(f"{what}: wrong matrix shape: expected a 1xN or Nx1 vector, found {m.shape[0]}x{m.shape[1]}")
        return m.reshape(-1)
    if m.shape != shape:
        raise fail(f"{what}: wrong matrix shape: expected {shape[0]}x{shape[1]}, found {m.shape[0]}x{m.shape[1]}")
    return m


def _model_name(node: Mapping, key: str, ctx: str, known: Any, fail: _Fail, default: str | None = None) -> str:
    value = node.get(key, default)
    if value is None:
        raise fail(f"missing field '{ctx}{key}'")
    if not isinstance(value, str) or value not in known:
        hint = did_you_mean(value, list(known)) if isinstance(value, str) else ""
        raise fail(f"{ctx}{key}: unknown distortion model {value!r} (known: {', '.join(known)})"
                   + (f"; {hint}" if hint else ""))
    return value


def _rigid(m: np.ndarray, what: str, fail: _Fail) -> np.ndarray:
    R = m[:3, :3]
    if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0], atol=1e-9) or \
            not np.allclose(R.T @ R, np.eye(3), atol=_RIGID_TOLERANCE) or not np.linalg.det(R) > 0:
        raise fail(f"{what}: not a rigid transform (rotation and translation, last row 0 0 0 1): {m.tolist()}")
    return m


def _lens(model: str, K: np.ndarray, width: int, height: int, coefficients: np.ndarray, where: str) -> Lens:
    """A checked lens; radial-tangential with every coefficient 0 is the pinhole."""
    if model == "radtan" and not np.any(coefficients):
        model, coefficients = "pinhole", np.zeros(0)
    return parse_lens(model, K, width, height, coefficients, where=where)


# ---- the formats --------------------------------------------------------------------------------------

def _read_opencv(data: Mapping, path: Path, fail: _Fail) -> list[CalibratedCamera]:
    width = _pixels(_required(data, "image_width", "", fail), "image_width", fail)
    height = _pixels(_required(data, "image_height", "", fail), "image_height", fail)
    K = _matrix(data, "camera_matrix", "", fail, (3, 3))
    D = _matrix(data, "distortion_coefficients", "", fail)
    if data.get("distortion_model") is not None:
        model = _model_name(data, "distortion_model", "", OPENCV_MODELS, fail)
    else:
        flag = data.get("fisheye_model", 0)
        model = "fisheye" if flag not in (0, False, None, "0", "false", "False") else "radtan"
    return [CalibratedCamera(path.stem, _lens(model, K, width, height, D, fail.where))]


def _read_ros(data: Mapping, path: Path, fail: _Fail) -> list[CalibratedCamera]:
    width = _pixels(_required(data, "image_width", "", fail), "image_width", fail)
    height = _pixels(_required(data, "image_height", "", fail), "image_height", fail)
    name = data.get("camera_name")
    name = str(name) if name not in (None, "") else path.stem
    K = _matrix(data, "camera_matrix", "", fail, (3, 3))
    ros_model = _model_name(data, "distortion_model", "", ROS_MODELS, fail, default="plumb_bob")
    model, count = ROS_MODELS[ros_model]
    D = _matrix(data, "distortion_coefficients", "", fail)
    if D.size != count:
        raise fail(f"distortion_coefficients: wrong matrix shape: {ros_model} has {count} coefficients, "
                   f"found {D.size}")
    extra = {}
    for key, shape in (("rectification_matrix", (3, 3)), ("projection_matrix", (3, 4))):
        m = _matrix(data, key, "", fail, shape, required=False)
        if m is not None:
            extra[key] = m
    return [CalibratedCamera(name, _lens(model, K, width, height, D, fail.where), extra=extra)]


def _read_kalibr(data: Mapping, path: Path, fail: _Fail) -> list[CalibratedCamera]:
    indices = sorted(int(k[3:]) for k in data if isinstance(k, str) and re.fullmatch(r"cam\d+", k))
    for i, n in enumerate(indices):
        if n != i:
            raise fail(f"missing field 'cam{i}' (the cameras are cam0, cam1, ... without gaps; found cam{n})")
    cameras = []
    T_ci_c0 = np.eye(4)
    for i in indices:
        key = f"cam{i}"
        node = data[key]
        if not isinstance(node, Mapping):
            raise fail(f"{key}: expected a mapping of the camera's fields, found {type(node).__name__}")
        ctx = f"{key}."
        camera_model = _required(node, "camera_model", ctx, fail)
        if camera_model != "pinhole":
            raise fail(f"{ctx}camera_model: {camera_model!r} is not supported (supported: pinhole; Kalibr's omni, "
                       "ds and eucm are not lens models of simgen)")
        intr = _matrix(node, "intrinsics", ctx, fail)
        if intr.size != 4:
            raise fail(f"{ctx}intrinsics: wrong matrix shape: pinhole has 4 intrinsics [fu, fv, pu, pv], "
                       f"found {intr.size}")
        fu, fv, pu, pv = intr
        kalibr_model = _model_name(node, "distortion_model", ctx, KALIBR_MODELS, fail)
        model, count = KALIBR_MODELS[kalibr_model]
        coeffs = _matrix(node, "distortion_coeffs", ctx, fail)
        if coeffs.size != count:
            raise fail(f"{ctx}distortion_coeffs: wrong matrix shape: {kalibr_model} has {count} coefficients, "
                       f"found {coeffs.size}")
        res = _matrix(node, "resolution", ctx, fail)
        if res.size != 2:
            raise fail(f"{ctx}resolution: wrong matrix shape: expected [width, height], found {res.size} numbers")
        width = _pixels(res[0], f"{ctx}resolution width", fail)
        height = _pixels(res[1], f"{ctx}resolution height", fail)
        if i > 0:
            T = _rigid(_matrix(node, "T_cn_cnm1", ctx, fail, (4, 4)), f"{ctx}T_cn_cnm1", fail)
            T_ci_c0 = T @ T_ci_c0
        imu = _matrix(node, "T_cam_imu", ctx, fail, (4, 4), required=False)
        if imu is not None:
            _rigid(imu, f"{ctx}T_cam_imu", fail)
        K = np.array([[fu, 0.0, pu], [0.0, fv, pv], [0.0, 0.0, 1.0]])
        lens = _lens(model, K, width, height, coeffs, f"{fail.where}: {key}")
        cameras.append(CalibratedCamera(key, lens, to_first=np.linalg.inv(T_ci_c0), imu_to_camera=imu))
    return cameras


_READERS = {"opencv": _read_opencv, "ros": _read_ros, "kalibr": _read_kalibr}


def read_calibration(path: PathType) -> Calibration:
    """Read a camera calibration file: OpenCV FileStorage YAML/JSON, ROS camera_info, Kalibr camchain.

    Parameters
    ----------
    path : str or PathLike
        The file; its format is told from its content (module docstring).

    Returns
    -------
    Calibration
        Its cameras: lens (checked, pixels in OpenCV's convention), name, extrinsics
        (``to_first``: this camera's coordinates to the first camera's).

    Raises
    ------
    SimgenError
        One line naming the file: missing file, not YAML/JSON, not a calibration, missing field,
        wrong matrix shape, unknown distortion model (listing the known ones), non-finite number,
        or a lens that folds over inside its image.
    """
    p = Path(path)
    fail = _Fail(p)
    if not p.exists():
        raise fail("no such calibration file")
    if p.is_dir():
        raise fail("is a directory, not a calibration file")
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise fail("not YAML or JSON (not UTF-8 text)") from None
    except OSError as e:
        raise fail(f"cannot be read ({e.strerror or e})") from None
    data, opencv_header = _parse(text, fail)
    fmt = _detect(data, opencv_header, fail)
    cameras = _READERS[fmt](data, p, fail)
    return Calibration(path=p, format=fmt, cameras=tuple(cameras))


def check_size(calibration: Calibration, width: int, height: int) -> None:
    """Refuse rendering at a size other than the calibration's (one line naming both sizes).

    Parameters
    ----------
    calibration : Calibration
        From :func:`read_calibration`.
    width, height : int
        ``render.width`` and ``render.height`` (pixels).

    Raises
    ------
    SimgenError
        When a camera's image size differs: K and the distortion hold for the calibrated size
        only (no rescaling is guessed).
    """
    for cam in calibration.cameras:
        w, h = cam.lens.width, cam.lens.height
        if (w, h) != (width, height):
            raise SimgenError(f"{calibration.path}: camera {cam.name} is calibrated for {w}x{h} pixels but "
                              f"render.width x render.height is {width}x{height}; render at {w}x{h} "
                              f"(render.width={w} render.height={h}) or use a calibration made at {width}x{height}")
