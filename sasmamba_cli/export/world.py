"""The shared world frame of a clip: camera metres (x right, y down, z forward) -> Y-up centimetres.

Method (docs/export.md):
1. rotate 180 degrees about the camera x axis: (x, y, z) -> (x, -y, -z), so +Y is up and a person
   facing the camera faces +Z;
2. level the camera pitch/roll (``level``):

   * ``"torso"``: the mean torso direction (pelvis -> thorax, all tracks, all frames) is rotated
     onto +Y by the smallest rotation;
   * ``"floor"``: the normal of a plane fitted to the foot contacts is rotated onto +Y
     (:mod:`sasmamba_cli.export.floor`: on jitter-reduced ankle trajectories, an ankle is in
     contact when within 5 cm of the lowest ankle within +-0.5 s and slower than the track's
     speed threshold (50 cm/s, more when the lift lets planted feet slide); seeded RANSAC +
     trimmed SVD least squares, one vote per footprint).
     Contacts are detected in the torso-levelled frame (tolerating a tilt of up to
     :data:`FIRST_PASS_TILT_DEG`), the plane is fitted, and contacts are detected once more,
     strictly, in the floor-levelled frame and refitted (:data:`CONTACT_PASSES`). When the
     contacts lie on a line (one straight walk) only the along-line tilt comes from them, the
     sideways tilt from the torso. Fewer than ``floor.MIN_CONTACTS`` (12) contacts, or contacts
     on one spot: the torso levelling is used instead (recorded in :attr:`WorldFrame.level`);
   * ``"auto"`` (:data:`DEFAULT_LEVEL`): ``"floor"`` when the fit is valid and its normal is within
     :data:`AUTO_MAX_ANGLE_DEG` of the torso direction, else ``"torso"``;
   * ``"none"``: nothing is done;
3. metres -> centimetres, then the origin is moved to the floor below the camera: with the floor
   fit, y = 0 is the fitted plane (contact ankle joint centres at y = 0); otherwise y = 0 is the
   :data:`FLOOR_PERCENTILE` percentile of the lower ankle's height over the clip. x = z = 0 is
   directly below the camera.

All tracks of a clip share one world frame, so people keep their relative positions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import H36M
from . import floor as floor_module
from .floor import ANKLES, PlaneFit, contact_points, fit_floor_plane
from .geometry import normalize

FLIP = np.diag([1.0, -1.0, -1.0])          # camera (y down, z forward) -> Y up, facing camera = +Z
LEVELS = ("auto", "floor", "torso", "none")
DEFAULT_LEVEL = "auto"                     # the one default of BVH export, render, FK-consistent export
AUTO_MAX_ANGLE_DEG = 25.0                  # auto: the floor normal may differ this much from the torso
CONTACT_PASSES = 2                         # contact detection + plane fit, in the torso then floor frame
FIRST_PASS_TILT_DEG = AUTO_MAX_ANGLE_DEG   # pass 1 tolerates this tilt of the torso frame (a runner's lean)
FLOOR_PERCENTILE = 2.0                     # torso / none: y = 0 at this percentile of the lower ankle
UP = np.array([0.0, 1.0, 0.0])


@dataclass(frozen=True)
class WorldFrame:
    """rotation: (3, 3) camera axes -> world axes; origin_cm: (3,) world point (cm) that becomes 0.

    ``world_cm = rotation @ camera_m * 100 - origin_cm``.
    camera_height_cm: height of the camera above the estimated floor.
    level: the levelling used ('floor', 'torso' or 'none'); level_requested: the one asked for
    ('auto', 'floor', 'torso', 'none'); level_reason: why (one sentence).
    floor_contacts: contact samples (ankle-frames) found; floor_inliers: those on the plane;
    floor_residual_cm: RMS distance of the inliers to the plane; floor_shape: 'plane' | 'line' |
    'point' | 'none' (None when no fit was tried; docs/export.md); floor_vs_torso_deg: angle
    between the floor normal and the torso direction. floor_residual_cm and
    floor_vs_torso_deg are None for an invalid fit.
    """

    rotation: np.ndarray
    origin_cm: np.ndarray
    level: str = "torso"
    level_requested: str | None = None
    level_reason: str = ""
    floor_contacts: int = 0
    floor_inliers: int = 0
    floor_residual_cm: float | None = None
    floor_shape: str | None = None
    floor_vs_torso_deg: float | None = None

    @property
    def camera_height_cm(self) -> float:
        return float(-self.origin_cm[1])

    def to_world_cm(self, points_m: np.ndarray) -> np.ndarray:
        """(..., 3) camera metres -> (..., 3) world centimetres."""
        return np.einsum("ij,...j->...i", self.rotation, points_m) * 100.0 - self.origin_cm

    def to_camera_m(self, points_cm: np.ndarray) -> np.ndarray:
        """(..., 3) world centimetres -> (..., 3) camera metres (inverse of :meth:`to_world_cm`)."""
        return np.einsum("ji,...j->...i", self.rotation, points_cm + self.origin_cm) / 100.0

    def to_dict(self) -> dict:
        def num(x, digits):
            return None if x is None or not np.isfinite(x) else round(float(x), digits)

        return {"rotation_camera_to_world": np.round(self.rotation, 9).tolist(),
                "origin_cm": np.round(self.origin_cm, 6).tolist(), "level": self.level,
                "level_requested": self.level_requested or self.level, "level_reason": self.level_reason,
                "camera_height_cm": round(self.camera_height_cm, 3),
                "floor_contacts": int(self.floor_contacts), "floor_inliers": int(self.floor_inliers),
                "floor_residual_cm": num(self.floor_residual_cm, 3), "floor_shape": self.floor_shape,
                "floor_vs_torso_deg": num(self.floor_vs_torso_deg, 3)}


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation (3, 3) taking unit vector ``a`` onto unit vector ``b``."""
    a, b = normalize(a), normalize(b)
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -1 + 1e-12:                     # opposite: rotate 180 degrees about any perpendicular axis
        axis = normalize(np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0]))
        return 2 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (degrees) between two (3,) vectors."""
    c = float(np.dot(normalize(a), normalize(b)))
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def torso_up(tracks_flipped: list[np.ndarray]) -> np.ndarray | None:
    """(3,) unit mean torso direction (pelvis -> thorax) of (n, 17, 3) flipped-frame positions,
    or None when it is undefined (no frames, or the directions cancel)."""
    pelvis, thorax = 0, H36M.index("thorax")
    dirs = [normalize(p[:, thorax] - p[:, pelvis]) for p in tracks_flipped if len(p)]
    if not dirs:
        return None
    mean = np.nanmean(np.concatenate(dirs), axis=0)
    n = float(np.linalg.norm(mean))
    return mean / n if np.isfinite(n) and n > 1e-6 else None


def floor_fit(tracks_flipped_cm: list[np.ndarray], up: np.ndarray, fps: float,
              valid: list[np.ndarray] | None = None) -> tuple[PlaneFit, int]:
    """The floor plane from foot contacts (flipped frame, cm) and the number of contact samples.

    Contacts are detected with heights along ``up`` (the torso), the plane is fitted, then
    detection and fit are repeated with heights along the fitted normal (CONTACT_PASSES in all).
    """
    height_axis, tilt = up, FIRST_PASS_TILT_DEG
    best: tuple[PlaneFit, int] | None = None
    for _ in range(CONTACT_PASSES):
        points = contact_points(tracks_flipped_cm, height_axis, fps, valid, tilt)
        fit = fit_floor_plane(points, up)
        if not fit.valid:
            break
        best = (fit, len(points))
        height_axis, tilt = fit.normal, 0.0
    return best if best is not None else (fit, len(points))


def _check_inputs(tracks: list[np.ndarray], level: str, fps: float | None, valid) -> None:
    if level not in LEVELS:
        raise ValueError(f"expected level in {LEVELS}, found {level!r}")
    for k, p in enumerate(tracks):
        if np.ndim(p) != 3 or np.shape(p)[1:] != (len(H36M.names), 3):
            raise ValueError(f"track {k}: expected positions of shape (n, {len(H36M.names)}, 3) metres, "
                             f"found {np.shape(p)}")
    if valid is not None and [np.shape(v) for v in valid] != [np.shape(p)[:2] for p in tracks]:
        raise ValueError(f"expected one (n, 17) valid mask per track, found shapes "
                         f"{[np.shape(v) for v in valid]}")
    if level in ("auto", "floor") and (fps is None or not np.isfinite(fps) or fps <= 0):
        raise ValueError(f"level {level!r} detects foot contacts from ankle speeds: expected fps > 0, "
                         f"found {fps!r} (pass fps=result.source.fps)")


def _percentile_floor_cm(tracks_m: list[np.ndarray], rot: np.ndarray) -> float:
    heights = np.concatenate([np.min((p[:, list(ANKLES)] @ rot.T)[..., 1], axis=1) for p in tracks_m])
    heights = heights[np.isfinite(heights)]
    return float(np.percentile(heights, FLOOR_PERCENTILE)) * 100.0 if len(heights) else 0.0


def _choose(level: str, fit: PlaneFit, n_contacts: int, angle: float) -> tuple[bool, str]:
    """(use the floor?, reason) for a requested 'floor' or 'auto' level."""
    minimum = floor_module.MIN_CONTACTS  # read at call time (tests may patch it)
    if n_contacts < minimum:
        return False, f"{n_contacts} foot contacts found, expected at least {minimum}: torso levelling"
    if fit.num_inliers < minimum:
        return False, (f"{fit.num_inliers} of {n_contacts} foot contacts on one plane, expected at least "
                       f"{minimum}: torso levelling")
    if not fit.valid:
        return False, f"foot contacts all on one spot ({fit.shape}): torso levelling"
    if level == "auto" and angle > AUTO_MAX_ANGLE_DEG:
        return False, (f"floor normal {angle:.1f} deg from the torso direction, expected at most "
                       f"{AUTO_MAX_ANGLE_DEG:g}: torso levelling")
    return True, f"floor fit ({fit.shape}) from {fit.num_inliers} foot contacts"


def estimate_world_frame(tracks_positions_m: list[np.ndarray], level: str = DEFAULT_LEVEL, *,
                         fps: float | None = None, valid: list[np.ndarray] | None = None) -> WorldFrame:
    """World frame from every track's absolute camera positions ``(n, 17, 3)`` metres.

    level: 'auto' | 'floor' | 'torso' | 'none' (module docstring); fps: frames per second of the
    tracks (needed by 'auto' and 'floor' for ankle speeds); valid: optional (n, 17) bool per track,
    joints that may be used as foot contacts (confident, detected).
    """
    _check_inputs(tracks_positions_m, level, fps, valid)
    if not tracks_positions_m:
        return WorldFrame(FLIP.copy(), np.zeros(3), "none", level, "no tracks")
    flipped_cm = [np.asarray(p, float) @ FLIP.T * 100.0 for p in tracks_positions_m]
    up = torso_up(flipped_cm)
    if level == "none" or up is None:
        reason = "not levelled" if level == "none" else "torso direction undefined: not levelled"
        return _finish(FLIP.copy(), tracks_positions_m, "none", level, reason)
    torso_rot = rotation_between(up, UP) @ FLIP
    if level == "torso":
        return _finish(torso_rot, tracks_positions_m, "torso", level, "mean torso direction")
    fit, n_contacts = floor_fit(flipped_cm, up, float(fps), valid)
    angle = angle_deg(fit.normal, up)
    use_floor, reason = _choose(level, fit, n_contacts, angle)
    floor = dict(floor_contacts=n_contacts, floor_inliers=fit.num_inliers, floor_shape=fit.shape,
                 floor_residual_cm=fit.residual_cm if fit.valid else None,
                 floor_vs_torso_deg=angle if fit.valid else None)
    if not use_floor:
        return _finish(torso_rot, tracks_positions_m, "torso", level, reason, **floor)
    rot = rotation_between(fit.normal, UP) @ FLIP
    return WorldFrame(rot, np.array([0.0, fit.offset_cm, 0.0]), "floor", level, reason, **floor)


def _finish(rot: np.ndarray, tracks_m: list[np.ndarray], used: str, requested: str, reason: str,
            **floor) -> WorldFrame:
    """A frame with the percentile floor height (torso / none levelling)."""
    origin = np.array([0.0, _percentile_floor_cm(tracks_m, rot), 0.0])
    return WorldFrame(rot, origin, used, requested, reason, **floor)
