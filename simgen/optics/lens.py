"""Lens models of real cameras: how directions in the camera frame map to pixels, and back.

Five models share one interface (:class:`Lens`), each a frozen dataclass holding the intrinsics
(``fx``, ``fy``, ``cx``, ``cy``, in pixels; ``fx != fy`` allowed, no skew), the image size
(``width``, ``height``, in pixels) and its distortion coefficients:

===============  ====================================================================================
``pinhole``      no distortion: ``u = fx X/Z + cx``
``radtan``       OpenCV's radial-tangential model (``cv2.projectPoints``), k1, k2, p1, p2, k3 and the
                 rational k4, k5, k6
``fisheye``      OpenCV's fisheye model (``cv2.fisheye``; Kannala-Brandt with four terms), k1..k4:
                 ``theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)``
``equidistant``  the ideal fisheye ``r = f theta`` (``fisheye`` with every k zero)
``equisolid``    the equal-area fisheye ``r = 2 f sin(theta / 2)``
===============  ====================================================================================

Conventions (the project's, those of :mod:`simgen.optics.camera`): camera axes are OpenCV's (x
right, y down, z forward); pixel coordinates are OpenCV's, the centre of the top-left pixel at
(0, 0), so pixel centres sit at integer coordinates and the image spans [-0.5, W - 0.5] x
[-0.5, H - 0.5]. ``theta`` is the angle between a direction and the optical axis (+z), in
radians. *Normalized* coordinates are pixels with K taken off: ``x = (u - cx) / fx``,
``y = (v - cy) / fy``; the *distorted radius* is the length of (x, y) for a pixel, the
*undistorted radius* ``r = sqrt(X^2 + Y^2) / Z`` for a direction (perspective models only).

The formulas are OpenCV's documented ones, for ``radtan`` (x' = X/Z, y' = Y/Z, r^2 = x'^2 + y'^2)::

    x'' = x' (1 + k1 r^2 + k2 r^4 + k3 r^6) / (1 + k4 r^2 + k5 r^4 + k6 r^6) + 2 p1 x'y' + p2 (r^2 + 2 x'^2)
    y'' = y' (1 + k1 r^2 + k2 r^4 + k3 r^6) / (1 + k4 r^2 + k5 r^4 + k6 r^6) + p1 (r^2 + 2 y'^2) + 2 p2 x'y'
    u = fx x'' + cx,  v = fy y'' + cy

and for ``fisheye``: ``theta = atan2(sqrt(X^2 + Y^2), Z)``, ``(x'', y'') = theta_d (X, Y) /
sqrt(X^2 + Y^2)``, then K (OpenCV's skew ``alpha`` is not supported: zero). The fisheye models
take directions behind the camera too (``theta > pi / 2``), up to the model's largest angle.

Every model maps a direction one-to-one only while its distorted radius grows with the
undistorted radius (``theta`` for the fisheyes). :meth:`Lens.check` refuses a model that folds
over inside the image; past the fold (outside the image) :meth:`Lens.project` and
:meth:`Lens.unproject` answer NaN instead of a wrong point. ``project`` is the forward formula;
``unproject`` inverts it exactly, by Newton's method kept inside a bracket on the radius, then
(for the tangential terms) by Newton's method in 2D, to the last bits of a double.

Model names, dictionaries and OpenCV's flat coefficient lists: :func:`lens_from_dict`,
:meth:`Lens.to_dict`, :func:`parse_lens` (``k1, k2, p1, p2[, k3[, k4, k5, k6]]`` for ``radtan``,
``k1..k4`` for ``fisheye``). Reading calibration files is :mod:`simgen.optics.calibration`'s.

numpy only (no cv2, no Blender): the tests compare with OpenCV itself.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from simgen.errors import SimgenError, did_you_mean
from simgen.optics.camera import pixel_centres, project_points
from simgen.optics.camera import pixel_rays as pinhole_pixel_rays

__all__ = ["CORNER_MARGIN", "Equidistant", "Equisolid", "Fisheye", "Lens", "MODELS", "Pinhole", "RadTan",
           "depth_to_ray_distance", "lens_class", "lens_from_dict", "parse_lens", "ray_distance_to_depth",
           "split_K"]

CORNER_MARGIN = 0.01
"""How far past the image :meth:`Lens.check` wants the mapping to stay one-to-one: 1 % of the
largest distorted radius the image needs (that of the outer corner of the corner pixel farthest
from the principal point)."""

_FOLD_SAMPLES = 1 << 14
"""Samples of ``theta`` over the model's range on which a fold is first looked for (then refined
to machine precision)."""

_MAX_ITERATIONS = 200
"""Newton steps at most (a bracketed step halves the bracket: 200 are more than enough)."""

_UNPROJECT_TOLERANCE = 1e-11
"""Largest residual (normalized distorted coordinates) accepted from the 2D Newton solve; a
converged solve leaves ~1e-16."""


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


@dataclass(frozen=True, kw_only=True)
class Lens:
    """A lens model: intrinsics, image size and distortion (the base of the five models).

    Parameters
    ----------
    fx, fy : float
        Focal lengths in pixels (x and y; they may differ, non-square pixels).
    cx, cy : float
        Principal point in pixels, OpenCV's pixel-centre convention (the top-left pixel's centre
        is (0, 0)).
    width, height : int
        Image size in pixels.

    Notes
    -----
    Constructing a lens does not validate it: call :meth:`check` (the constructors
    :func:`lens_from_dict` and :func:`parse_lens` do). Instances are immutable and compare by
    value.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    model: ClassVar[str] = ""
    """The model's name (``radtan``, ...), as in :data:`MODELS` and :meth:`to_dict`."""
    COEFFICIENTS: ClassVar[tuple[str, ...]] = ()
    """The names of the distortion coefficients, in OpenCV's order."""
    _THETA_MAX: ClassVar[float] = math.pi / 2
    """The incidence angles the model can describe at most (pi / 2 perspective, pi fisheye)."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("width", "height"):
                if isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating))
                                                            and float(value).is_integer()):
                    object.__setattr__(self, f.name, int(value))
            else:
                object.__setattr__(self, f.name, float(value))

    # ---- the parameters --------------------------------------------------------------------

    @property
    def K(self) -> np.ndarray:
        """The 3x3 intrinsic matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` (pixels)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def coefficients(self) -> dict[str, float]:
        """The distortion coefficients by name (``{"k1": ..., "p1": ...}``), OpenCV's order."""
        return {name: getattr(self, name) for name in self.COEFFICIENTS}

    def distortion_coefficients(self) -> np.ndarray:
        """The coefficients as the flat vector OpenCV takes (``distCoeffs`` / fisheye ``D``).

        ``radtan``: ``k1, k2, p1, p2, k3`` and ``k4, k5, k6`` when one of those is non-zero;
        ``fisheye``: ``k1..k4``; the others: empty.
        """
        return np.array([getattr(self, name) for name in self.COEFFICIENTS], float)

    def to_dict(self) -> dict[str, Any]:
        """``{"model", "K" (3x3 nested lists), "width", "height", "coefficients" {name: value}}``;
        :func:`lens_from_dict` reads it back."""
        return {"model": self.model, "K": self.K.tolist(), "width": self.width, "height": self.height,
                "coefficients": self.coefficients}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "") -> Lens:
        """:func:`lens_from_dict`; on a model class, the dictionary's model must be that one."""
        lens = lens_from_dict(data, where)
        if cls is not Lens and not isinstance(lens, cls):
            raise SimgenError(f"{_prefix(where)}lens model {lens.model!r} given where {cls.model!r} is expected")
        return lens

    # ---- the radial profile (per model) ------------------------------------------------------

    def _radial(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distorted radius (normalized) and its derivative at ``t``: the undistorted radius
        for perspective models, ``theta`` for the fisheyes."""
        raise NotImplementedError

    def _t_of_theta(self, theta: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @functools.cached_property
    def max_angle(self) -> float:
        """The largest incidence angle ``theta`` (radians) up to which the model is one-to-one.

        ``pi / 2`` (perspective) or ``pi`` (fisheyes) for a model that never folds; else where its
        distorted radius stops increasing (or, rational ``radtan``, its denominator reaches 0).
        Found on a dense grid of ``theta``, then refined to machine precision.
        """
        tmax = self._THETA_MAX
        lo = 0.0
        grid = np.linspace(0.0, tmax, _FOLD_SAMPLES, endpoint=False)
        for level in range(6):
            bad = self._folded(grid)
            if not bad.any():  # a refined grid finds no decrease the coarser one saw: keep its last good angle
                return tmax if level == 0 else lo
            i = int(np.argmax(bad))
            if i == 0:
                return float(grid[0])
            lo, hi = float(grid[i - 1]), float(grid[i])
            if hi - lo <= 4 * np.finfo(float).eps * max(hi, 1e-300):
                break
            grid = np.linspace(lo, hi, 1025)
        return lo

    def _folded(self, theta: np.ndarray) -> np.ndarray:
        """Whether the profile is not increasing at each of the increasing angles ``theta``."""
        with np.errstate(all="ignore"):
            g, dg = self._radial(self._t_of_theta(theta))
            bad = ~np.isfinite(g) | ~(dg > 0)
            bad[1:] |= ~(np.diff(g) > 0)
        return bad

    @property
    def _t_valid(self) -> float:
        """The profile's variable at :attr:`max_angle` (``inf`` for a perspective model that never folds)."""
        if self.max_angle >= self._THETA_MAX:
            return math.inf if self._THETA_MAX < math.pi else math.pi
        return float(self._t_of_theta(np.array(self.max_angle)))

    def _g_valid(self) -> float:
        t = self._t_valid
        if not math.isfinite(t):
            return math.inf
        with np.errstate(all="ignore"):
            return float(self._radial(np.array(t))[0])

    def _solve_radial(self, s: np.ndarray) -> np.ndarray:
        """``t`` in [0, t_valid] with ``g(t) = s`` for each distorted radius ``s`` (NaN where none).

        Newton's method kept inside a bracket (a step leaving it is replaced by bisection), so it
        converges for every reachable ``s``; it stops when the steps are below 1e-15 relative.
        """
        out = np.full(s.shape, np.nan)
        t_valid = self._t_valid
        ok = np.isfinite(s) & (s >= 0) & (s <= self._g_valid())
        target = s[ok]
        if target.size == 0:
            return out
        with np.errstate(all="ignore"):
            lo = np.zeros_like(target)
            if math.isfinite(t_valid):
                hi = np.full_like(target, t_valid)
            else:  # perspective, never folds: the profile grows without bound; find a bracket
                hi = np.maximum(2.0 * target, 1.0)
                for _ in range(1100):
                    short = ~(self._radial(hi)[0] >= target)
                    if not short.any():
                        break
                    hi = np.where(short, 2.0 * hi, hi)
            t = np.clip(target, lo, hi)  # g(t) ~ t near the axis
            active = np.arange(t.size)  # the radii still moving: the others are left alone
            for _ in range(_MAX_ITERATIONS):
                ta, a_lo, a_hi, goal = t[active], lo[active], hi[active], target[active]
                g, dg = self._radial(ta)
                f = g - goal
                a_lo = np.where(f <= 0, ta, a_lo)
                a_hi = np.where(f >= 0, ta, a_hi)
                nt = ta - f / dg
                nt = np.where((nt >= a_lo) & (nt <= a_hi), nt, 0.5 * (a_lo + a_hi))
                done = (np.abs(nt - ta) <= 1e-15 * nt) | (a_hi - a_lo <= 1e-15 * a_hi)
                t[active], lo[active], hi[active] = nt, a_lo, a_hi
                active = active[~done]
                if active.size == 0:
                    break
        out[ok] = t
        return out

    # ---- the image ---------------------------------------------------------------------------

    def corner_radius(self) -> float:
        """The largest normalized distorted radius of the image: that of the outer corner of the
        corner pixel farthest from the principal point (pixel edges at -0.5 and W - 0.5)."""
        u = np.array([-0.5, self.width - 0.5])
        v = np.array([-0.5, self.height - 0.5])
        x = (u - self.cx) / self.fx
        y = (v - self.cy) / self.fy
        return float(np.sqrt(np.max(x * x) + np.max(y * y)))

    def check(self, where: str = "") -> None:
        """Refuse a lens that cannot describe its image (one-line :class:`~simgen.SimgenError`).

        Refused: non-finite or non-positive focal lengths, a non-finite principal point or
        coefficient, a size that is not a positive whole number of pixels, and a model whose
        distorted radius, as a function of the undistorted one (of ``theta`` for the fisheyes), is
        not strictly increasing up to the image's :meth:`corner_radius` (plus
        :data:`CORNER_MARGIN`): such a lens folds over inside the image (two directions, one pixel).
        With tangential terms (radtan's p1, p2) the 2D mapping's Jacobian must also stay positive
        over the disk of undistorted radii the image needs. A fisheye whose image circle ends
        inside the image (corners that see nothing) is allowed; a fold outside the image is
        allowed too (:attr:`max_angle` then bounds what :meth:`project` sees).

        Parameters
        ----------
        where : str
            What the lens came from (a file name), put in front of the message.
        """
        p = _prefix(where)
        for name in ("fx", "fy"):
            f = getattr(self, name)
            if not (math.isfinite(f) and f > 0):
                raise SimgenError(f"{p}{self.model} lens: focal length {name}={f} must be a finite positive "
                                  "number of pixels")
        for name in ("cx", "cy", *self.COEFFICIENTS):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise SimgenError(f"{p}{self.model} lens: {name}={value} is not a finite number")
        for name in ("width", "height"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise SimgenError(f"{p}{self.model} lens: {name}={value!r} must be a positive whole number of pixels")
        need = self.corner_radius() * (1.0 + CORNER_MARGIN)
        if self.max_angle < self._THETA_MAX:
            t = self._t_valid
            g = self._g_valid()
            if not g > need:
                where_fold = (f"undistorted radius r = {t:.4g} (theta = {math.degrees(self.max_angle):.2f} deg)"
                              if self._THETA_MAX < math.pi else
                              f"theta = {self.max_angle:.4g} rad ({math.degrees(self.max_angle):.2f} deg)")
                f = math.sqrt(self.fx * self.fy)
                nonzero = ", ".join(f"{k}={v:g}" for k, v in self.coefficients.items() if v != 0.0)
                raise SimgenError(
                    f"{p}{self.model} lens folds over inside the image: its distorted radius stops increasing at "
                    f"{where_fold}, distorted radius {g:.4g} (~{g * f:.1f} px from the principal point), but the "
                    f"image corners need distorted radius {need:.4g} (~{need * f:.1f} px); check the distortion "
                    f"coefficients ({nonzero or 'all zero'}) and the image size {self.width}x{self.height}")
        self._check_2d(p, need)

    def _check_2d(self, p: str, need: float) -> None:
        """A model with non-radial terms checks its 2D Jacobian too (radtan)."""

    # ---- projecting ----------------------------------------------------------------------------

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """Pixel coordinates (N, 2) of points (N, 3) in camera coordinates (OpenCV axes).

        Perspective models see points with z > 0; the fisheyes see every direction up to
        :attr:`max_angle` from the optical axis, behind the camera too. A point that cannot be
        seen (or lies past a fold of the model, or at the camera's centre) gives NaN. Points
        outside the image are projected all the same. Any leading shape (..., 3) -> (..., 2).
        The pinhole model is :func:`simgen.optics.camera.project_points`, the one pinhole projection.
        """
        pts = np.asarray(points_cam, float)
        if pts.shape[-1:] != (3,):
            raise ValueError(f"points_cam must have shape (N, 3), not {pts.shape}")
        flat = pts.reshape(-1, 3)
        with np.errstate(all="ignore"):
            xd, yd, ok = self._project_normalized(flat[:, 0], flat[:, 1], flat[:, 2])
            uv = np.stack([self.fx * xd + self.cx, self.fy * yd + self.cy], axis=-1)
        uv[~(ok & np.isfinite(uv).all(axis=-1))] = np.nan
        return uv.reshape(*pts.shape[:-1], 2)

    def _project_normalized(self, X: np.ndarray, Y: np.ndarray, Z: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def unproject(self, pixels: np.ndarray) -> np.ndarray:
        """Unit ray directions (N, 3), camera coordinates, through pixels (N, 2).

        The exact inverse of :meth:`project`: ``project(unproject(p)) == p`` to ~1e-12 in
        normalized coordinates. NaN for a pixel no direction maps to (outside a fisheye's image
        circle, past a fold). The fisheyes give z < 0 for directions beyond 90 degrees. Any leading
        shape (..., 2) -> (..., 3).
        """
        px = np.asarray(pixels, float)
        if px.shape[-1:] != (2,):
            raise ValueError(f"pixels must have shape (N, 2), not {px.shape}")
        flat = px.reshape(-1, 2)
        xd = (flat[:, 0] - self.cx) / self.fx
        yd = (flat[:, 1] - self.cy) / self.fy
        with np.errstate(all="ignore"):
            rays = self._unproject_normalized(xd, yd)
        rays[~np.isfinite(rays).all(axis=-1)] = np.nan
        return rays.reshape(*px.shape[:-1], 3)

    def _unproject_normalized(self, xd: np.ndarray, yd: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def pixel_rays(self) -> np.ndarray:
        """Unit directions (H, W, 3), camera coordinates, through every pixel centre (NaN where
        no direction maps), like :func:`simgen.optics.camera.pixel_rays` (which has z = 1 instead)."""
        return self.unproject(np.stack(pixel_centres(self.width, self.height), axis=-1))


# ---- perspective models: x = X / Z -----------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class _Perspective(Lens):
    """A model on the normalized image plane z = 1 (pinhole, radtan): sees z > 0 only."""

    _THETA_MAX: ClassVar[float] = math.pi / 2

    def _t_of_theta(self, theta: np.ndarray) -> np.ndarray:
        return np.tan(theta)

    def _distort(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x, y

    def _project_normalized(self, X: np.ndarray, Y: np.ndarray, Z: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, y = X / Z, Y / Z
        xd, yd = self._distort(x, y)
        ok = (Z > 0) & (np.hypot(x, y) <= self._t_valid)
        return xd, yd, ok

    def _unproject_normalized(self, xd: np.ndarray, yd: np.ndarray) -> np.ndarray:
        s = np.hypot(xd, yd)
        r = self._solve_radial(s)
        scale = np.where(s > 0, r / np.where(s > 0, s, 1.0), 1.0)
        x, y = xd * scale, yd * scale
        x, y = self._refine(x, y, xd, yd)
        rays = np.stack([x, y, np.ones_like(x)], axis=-1)
        return rays / np.linalg.norm(rays, axis=-1, keepdims=True)

    def _refine(self, x: np.ndarray, y: np.ndarray, xd: np.ndarray, yd: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """Polish the radial solution for the non-radial terms (none here)."""
        return x, y


@dataclass(frozen=True, kw_only=True)
class Pinhole(_Perspective):
    """The ideal perspective camera, no distortion: ``u = fx X/Z + cx``, ``v = fy Y/Z + cy``.

    See :class:`Lens` for the parameters.
    """

    model: ClassVar[str] = "pinhole"

    def _radial(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t, float)
        return t, np.ones_like(t)

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """:meth:`Lens.project` of the pinhole: :func:`simgen.optics.camera.project_points` through
        :attr:`K` (NaN at or behind the camera, or where the pixel is not a finite number)."""
        pts = np.asarray(points_cam, float)
        if pts.shape[-1:] != (3,):
            raise ValueError(f"points_cam must have shape (N, 3), not {pts.shape}")
        with np.errstate(all="ignore"):
            uv = project_points(self.K, pts)
        uv[~np.isfinite(uv).all(axis=-1)] = np.nan
        return uv

    def pixel_rays(self) -> np.ndarray:
        """:meth:`Lens.pixel_rays` of the pinhole: :func:`simgen.optics.camera.pixel_rays` of :attr:`K`
        made unit length, NaN where the length of its (x, y) is not a finite number. The same bits
        as unprojecting every pixel centre (for the pinhole the radius solve gives back the radius
        it is given, so x and y are not rescaled), without the solve."""
        rays = pinhole_pixel_rays(self.K, self.width, self.height)
        with np.errstate(all="ignore"):
            seen = np.isfinite(np.hypot(rays[..., 0], rays[..., 1]))
            rays = rays / np.linalg.norm(rays, axis=-1, keepdims=True)
        rays[~seen] = np.nan
        return rays


@dataclass(frozen=True, kw_only=True)
class RadTan(_Perspective):
    """OpenCV's radial-tangential (Brown-Conrady) model with the rational terms.

    Exactly ``cv2.projectPoints``' formula (module docstring) with ``distCoeffs = (k1, k2, p1, p2,
    k3, k4, k5, k6)``; OpenCV's thin-prism (s1..s4) and tilt (tauX, tauY) terms are not supported.
    Plumb-bob (ROS), Kalibr's ``radtan`` (k1, k2, r1 = p1, r2 = p2) and Bouguet's toolbox are this
    model. See :class:`Lens` for the other parameters.

    Parameters
    ----------
    k1, k2, k3 : float
        Radial numerator coefficients (of r^2, r^4, r^6; r the undistorted normalized radius).
    p1, p2 : float
        Tangential (decentering) coefficients.
    k4, k5, k6 : float
        Radial denominator coefficients (OpenCV's rational model, ``CALIB_RATIONAL_MODEL``).
    """

    k1: float = 0.0
    k2: float = 0.0
    p1: float = 0.0
    p2: float = 0.0
    k3: float = 0.0
    k4: float = 0.0
    k5: float = 0.0
    k6: float = 0.0

    model: ClassVar[str] = "radtan"
    COEFFICIENTS: ClassVar[tuple[str, ...]] = ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6")

    def distortion_coefficients(self) -> np.ndarray:
        full = super().distortion_coefficients()
        return full if (self.k4, self.k5, self.k6) != (0.0, 0.0, 0.0) else full[:5]

    def _ratio(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The radial factor and its derivative in u = r^2 (NaN where the denominator is <= 0)."""
        num = 1.0 + u * (self.k1 + u * (self.k2 + u * self.k3))
        dnum = self.k1 + u * (2.0 * self.k2 + 3.0 * self.k3 * u)
        if self.k4 == 0.0 and self.k5 == 0.0 and self.k6 == 0.0:
            return num, dnum
        den = 1.0 + u * (self.k4 + u * (self.k5 + u * self.k6))
        dden = self.k4 + u * (2.0 * self.k5 + 3.0 * self.k6 * u)
        den = np.where(den > 0, den, np.nan)
        return num / den, (dnum * den - num * dden) / (den * den)

    def _radial(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t, float)
        u = t * t
        R, dR = self._ratio(u)
        return t * R, R + 2.0 * u * dR

    def _distort(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u = x * x + y * y
        R, _ = self._ratio(u)
        xy = x * y
        return (x * R + 2.0 * self.p1 * xy + self.p2 * (u + 2.0 * x * x),
                y * R + self.p1 * (u + 2.0 * y * y) + 2.0 * self.p2 * xy)

    def _jacobian(self, x: np.ndarray, y: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """d(x'', y'') / d(x', y') as (dx''/dx', dx''/dy', dy''/dx', dy''/dy')."""
        R, dR = self._ratio(x * x + y * y)
        cross = 2.0 * x * y * dR + 2.0 * self.p1 * x + 2.0 * self.p2 * y
        return (R + 2.0 * x * x * dR + 2.0 * self.p1 * y + 6.0 * self.p2 * x, cross,
                cross, R + 2.0 * y * y * dR + 6.0 * self.p1 * y + 2.0 * self.p2 * x)

    def _refine(self, x: np.ndarray, y: np.ndarray, xd: np.ndarray, yd: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """Newton's method in 2D on the full model, from the radial-only solution."""
        if self.p1 == 0.0 and self.p2 == 0.0:
            return x, y
        x, y = x.copy(), y.copy()
        active = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        for _ in range(_MAX_ITERATIONS):
            xa, ya = x[active], y[active]
            ex, ey = self._distort(xa, ya)
            ex, ey = ex - xd[active], ey - yd[active]
            a, b, c, d = self._jacobian(xa, ya)
            det = a * d - b * c
            dx = (d * ex - b * ey) / det
            dy = (a * ey - c * ex) / det
            xa, ya = xa - dx, ya - dy
            x[active], y[active] = xa, ya
            active = active[np.hypot(dx, dy) > 1e-15 * np.maximum(1.0, np.hypot(xa, ya))]  # NaN: dropped
            if active.size == 0:
                break
        ex, ey = self._distort(x, y)
        bad = ~(np.hypot(ex - xd, ey - yd) <= _UNPROJECT_TOLERANCE * np.maximum(1.0, np.hypot(xd, yd)))
        bad |= ~(np.hypot(x, y) <= self._t_valid)
        return np.where(bad, np.nan, x), np.where(bad, np.nan, y)

    def _check_2d(self, p: str, need: float) -> None:
        """The tangential terms bend the mapping off the radial one: its Jacobian must stay positive
        over the disk of undistorted radii the image needs."""
        if self.p1 == 0.0 and self.p2 == 0.0:
            return
        r_need = float(self._solve_radial(np.array([need]))[0])
        if not math.isfinite(r_need):
            r_need = self._t_valid
        r = np.linspace(0.0, r_need, 257)[:, None]
        phi = np.linspace(0.0, 2.0 * math.pi, 181)[None, :-1]
        x, y = r * np.cos(phi), r * np.sin(phi)
        with np.errstate(all="ignore"):
            a, b, c, d = self._jacobian(x, y)
            bad = ~(a * d - b * c > 0)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise SimgenError(
                f"{p}{self.model} lens folds over inside the image: with the tangential terms p1={self.p1}, "
                f"p2={self.p2} its mapping turns over at undistorted radius r = {float(r[i, 0]):.4g} "
                f"(direction {math.degrees(float(phi[0, j])):.0f} deg from +x), within the r = {r_need:.4g} "
                "the image needs; check the distortion coefficients")


# ---- fisheye models: theta ---------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class _Angular(Lens):
    """A model of the incidence angle theta (the fisheyes): sees behind the camera too."""

    _THETA_MAX: ClassVar[float] = math.pi

    def _t_of_theta(self, theta: np.ndarray) -> np.ndarray:
        return np.asarray(theta, float)

    def _project_normalized(self, X: np.ndarray, Y: np.ndarray, Z: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rho = np.hypot(X, Y)
        theta = np.arctan2(rho, Z)
        g, _ = self._radial(theta)
        scale = np.where(rho > 0, g / np.where(rho > 0, rho, 1.0), 0.0)
        ok = (theta <= self.max_angle) & ((rho > 0) | (Z > 0))
        return X * scale, Y * scale, ok

    def _unproject_normalized(self, xd: np.ndarray, yd: np.ndarray) -> np.ndarray:
        s = np.hypot(xd, yd)
        theta = self._solve_radial(s)
        scale = np.where(s > 0, np.sin(theta) / np.where(s > 0, s, 1.0), 0.0)
        return np.stack([xd * scale, yd * scale, np.cos(theta)], axis=-1)


@dataclass(frozen=True, kw_only=True)
class Fisheye(_Angular):
    """OpenCV's fisheye model (``cv2.fisheye``), Kannala-Brandt with four coefficients.

    ``theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)`` is the normalized
    distorted radius of a direction at ``theta`` from the axis; ``u = fx theta_d X / rho + cx``.
    ROS's ``equidistant`` distortion model and Kalibr's ``pinhole-equidistant`` are this model.
    OpenCV's skew ``alpha`` is zero. See :class:`Lens` for the other parameters.

    Parameters
    ----------
    k1, k2, k3, k4 : float
        The polynomial's coefficients (of theta^2 .. theta^8, theta in radians).
    """

    k1: float = 0.0
    k2: float = 0.0
    k3: float = 0.0
    k4: float = 0.0

    model: ClassVar[str] = "fisheye"
    COEFFICIENTS: ClassVar[tuple[str, ...]] = ("k1", "k2", "k3", "k4")

    def _radial(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t, float)
        v = t * t
        g = t * (1.0 + v * (self.k1 + v * (self.k2 + v * (self.k3 + v * self.k4))))
        dg = 1.0 + v * (3.0 * self.k1 + v * (5.0 * self.k2 + v * (7.0 * self.k3 + 9.0 * self.k4 * v)))
        return g, dg


@dataclass(frozen=True, kw_only=True)
class Equidistant(_Angular):
    """The ideal equidistant fisheye: distorted radius ``r = f theta`` (pixels: ``fx theta``).

    Not ROS's or Kalibr's ``equidistant`` distortion model, which is :class:`Fisheye`. See
    :class:`Lens` for the parameters.
    """

    model: ClassVar[str] = "equidistant"

    def _radial(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t, float)
        return t, np.ones_like(t)


@dataclass(frozen=True, kw_only=True)
class Equisolid(_Angular):
    """The equisolid-angle (equal-area) fisheye: ``r = 2 f sin(theta / 2)``.

    Its image circle has normalized radius 2 (theta = pi); pixels outside it unproject to NaN. See
    :class:`Lens` for the parameters.
    """

    model: ClassVar[str] = "equisolid"

    def _radial(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t, float)
        return 2.0 * np.sin(0.5 * t), np.cos(0.5 * t)


MODELS: dict[str, type[Lens]] = {cls.model: cls for cls in (Pinhole, RadTan, Fisheye, Equidistant, Equisolid)}
"""The lens models by name."""


# ---- constructors ---------------------------------------------------------------------------------

def lens_class(model: Any, where: str = "") -> type[Lens]:
    """The class of the model named ``model``; an unknown name is one line listing the known."""
    if isinstance(model, str) and model in MODELS:
        return MODELS[model]
    hint = did_you_mean(model, list(MODELS)) if isinstance(model, str) else ""
    raise SimgenError(f"{_prefix(where)}unknown lens model {model!r} (known: {', '.join(MODELS)})"
                      + (f"; {hint}" if hint else ""))


def _number(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SimgenError(f"{_prefix(where)}{what}: {value!r} is not a number")
    value = float(value)
    if not math.isfinite(value):
        raise SimgenError(f"{_prefix(where)}{what}: {value} is not a finite number")
    return value


def _pixels(value: Any, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not float(value).is_integer() or value <= 0:
        raise SimgenError(f"{_prefix(where)}{what}: {value!r} is not a positive whole number of pixels")
    return int(value)


def split_K(K: Any, where: str = "", what: str = "K") -> tuple[float, float, float, float]:
    """``(fx, fy, cx, cy)`` of a 3x3 intrinsic matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``.

    One-line errors (prefixed ``where``, the matrix called ``what``) for a wrong shape, a value that
    is not a finite number, a skew or a last row other than (0, 0, 1).
    """
    p = _prefix(where)
    try:
        arr = np.array(K, dtype=object)
    except Exception:  # ragged nesting numpy refuses outright
        raise SimgenError(f"{p}{what}: expected a 3x3 matrix") from None
    if arr.shape != (3, 3):
        raise SimgenError(f"{p}{what}: expected a 3x3 matrix, found shape {arr.shape}")
    m = np.array([[_number(arr[i, j], f"{what}[{i}][{j}]", where) for j in range(3)] for i in range(3)])
    if m[0, 1] != 0.0:
        raise SimgenError(f"{p}{what}: skew {what}[0][1]={m[0, 1]} is not supported (must be 0)")
    if m[1, 0] != 0.0 or tuple(m[2]) != (0.0, 0.0, 1.0):
        raise SimgenError(f"{p}{what}: not an intrinsic matrix [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]: "
                          f"{m.tolist()}")
    return float(m[0, 0]), float(m[1, 1]), float(m[0, 2]), float(m[1, 2])


def lens_from_dict(data: Mapping[str, Any], where: str = "") -> Lens:
    """A checked lens from ``{"model", "K", "width", "height", "coefficients": {name: value}}``.

    ``coefficients`` uses the model's own names (``k1, k2, p1, p2, k3, k4, k5, k6`` for radtan,
    ``k1..k4`` for fisheye), missing ones are 0; it may be left out for the models without any.
    Bad input is one line (prefixed ``where``): unknown model (listing the known), missing field,
    wrong K, unknown coefficient name, non-finite value, a lens :meth:`Lens.check` refuses.
    """
    p = _prefix(where)
    if not isinstance(data, Mapping):
        raise SimgenError(f"{p}a lens must be a mapping with model, K, width, height, coefficients, "
                          f"not {type(data).__name__}")
    for key in ("model", "K", "width", "height"):
        if key not in data:
            raise SimgenError(f"{p}lens: missing field {key!r}")
    cls = lens_class(data["model"], where)
    fx, fy, cx, cy = split_K(data["K"], where)
    width = _pixels(data["width"], "width", where)
    height = _pixels(data["height"], "height", where)
    given = data.get("coefficients") or {}
    if not isinstance(given, Mapping):
        raise SimgenError(f"{p}{cls.model} lens: coefficients must be a mapping of name to value, "
                          f"not {type(given).__name__}")
    unknown = [name for name in given if name not in cls.COEFFICIENTS]
    if unknown:
        known = ", ".join(cls.COEFFICIENTS) or "none"
        raise SimgenError(f"{p}{cls.model} lens: unknown coefficient {unknown[0]!r} (known: {known})")
    coeffs = {name: _number(value, f"coefficient {name}", where) for name, value in given.items()}
    lens = cls(fx=fx, fy=fy, cx=cx, cy=cy, width=width, height=height, **coeffs)
    lens.check(where)
    return lens


_OPENCV_EXTRA = ("s1", "s2", "s3", "s4", "tauX", "tauY")


def parse_lens(model: str, K: Any, width: Any, height: Any, coefficients: Sequence[float] | np.ndarray = (),
               where: str = "") -> Lens:
    """A checked lens from a model name, K and a flat coefficient list in OpenCV's order.

    Parameters
    ----------
    model : str
        A name of :data:`MODELS`.
    K : array-like
        3x3 intrinsic matrix (pixels, no skew).
    width, height : int
        Image size (pixels).
    coefficients : sequence of float
        ``radtan``: OpenCV's ``distCoeffs`` ``k1, k2, p1, p2[, k3[, k4, k5, k6]]`` (4, 5 or 8
        values; 12 or 14 are accepted when the thin-prism and tilt terms are all zero);
        ``fisheye``: ``k1, k2, k3, k4``; ``pinhole``, ``equidistant``, ``equisolid``: none (or
        all zero).
    where : str
        Put in front of every message (a file name).
    """
    p = _prefix(where)
    cls = lens_class(model, where)
    fx, fy, cx, cy = split_K(K, where)
    w = _pixels(width, "image width", where)
    h = _pixels(height, "image height", where)
    values = [_number(v, f"distortion coefficient {i + 1}", where)
              for i, v in enumerate(np.asarray(coefficients, dtype=object).reshape(-1))]
    names: tuple[str, ...] = cls.COEFFICIENTS
    if cls is RadTan:
        if len(values) not in (4, 5, 8, 12, 14):
            raise SimgenError(f"{p}radtan takes 4, 5, 8, 12 or 14 distortion coefficients in OpenCV's order "
                              f"(k1, k2, p1, p2[, k3[, k4, k5, k6[, s1..s4[, tauX, tauY]]]]), found {len(values)}")
        extra = [(n, v) for n, v in zip(_OPENCV_EXTRA, values[8:]) if v != 0.0]
        if extra:
            raise SimgenError(f"{p}radtan: OpenCV's thin-prism and tilt terms are not supported "
                              f"({extra[0][0]}={extra[0][1]} must be 0)")
        values = values[:8]
    elif len(values) != len(names):
        if names or any(v != 0.0 for v in values):
            raise SimgenError(f"{p}{cls.model} takes {len(names)} distortion coefficients "
                              f"({', '.join(names) or 'none'}), found {len(values)}")
        values = []
    lens = cls(fx=fx, fy=fy, cx=cx, cy=cy, width=w, height=h, **dict(zip(names, values)))
    lens.check(where)
    return lens


# ---- depth conventions ---------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def cached_pixel_rays(lens: Lens) -> np.ndarray:
    """:meth:`Lens.pixel_rays`, computed once per lens and read-only: the renderer's depth, the
    normals and the flow of a frame all need them (0.5 s at 640x480 for a radtan lens)."""
    rays = lens.pixel_rays()
    rays.flags.writeable = False
    return rays


def ray_distance_to_depth(rays: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Planar depth (z along the optical axis) of points at ``distance`` along ``rays``.

    simgen's depth labels are planar z, whatever the lens: a renderer that gives the distance
    along each pixel's ray (a fisheye's) is converted with this, ``depth = distance * ray_z /
    |ray|``.

    Parameters
    ----------
    rays : ndarray (..., 3)
        Ray directions in camera coordinates (OpenCV axes; need not be unit), e.g.
        :meth:`Lens.pixel_rays`.
    distance : ndarray (...)
        Distances along the rays (scene units, e.g. metres).

    Returns
    -------
    ndarray (...)
        z of the points (same units); negative for rays behind the image plane (a fisheye's beyond
        90 degrees), where planar depth does not describe the scene; NaN where a ray is NaN.
    """
    rays = np.asarray(rays, float)
    return np.asarray(distance, float) * rays[..., 2] / np.linalg.norm(rays, axis=-1)


def depth_to_ray_distance(rays: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Inverse of :func:`ray_distance_to_depth`: distance along ``rays`` (..., 3) of points at
    planar depth ``depth`` (...); NaN where a ray does not point forward (z <= 0)."""
    rays = np.asarray(rays, float)
    z = rays[..., 2]
    with np.errstate(all="ignore"):
        out = np.asarray(depth, float) * np.linalg.norm(rays, axis=-1) / z
    return np.where(z > 0, out, np.nan)
