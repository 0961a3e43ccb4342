"""Floor plane from foot contacts: detect when an ankle is planted, fit a plane to those points.

Used by :func:`sasmamba_cli.export.world.estimate_world_frame` (``level="floor"`` / ``"auto"``).
All positions here are in the *flipped camera frame* (camera axes rotated 180 degrees about x:
x right, y up, z toward the camera), in **centimetres**; ``up`` is a unit vector in that frame
(the torso estimate), used only to measure heights for contact detection and to orient the normal.

Contacts (:func:`detect_contacts`), per track and ankle (``l_ankle``, ``r_ankle``): an ankle is in
contact on a frame when

* its height along ``up`` is within :data:`CONTACT_HEIGHT_CM` of the lowest ankle height (either
  ankle) within +-:data:`CONTACT_WINDOW_S` / 2 seconds ("locally", so a slope or a residual camera
  tilt over a long walk does not hide the far footprints), and
* its speed, a central difference over +-:data:`SPEED_SPAN_S` / 2 seconds, is below
  :data:`CONTACT_SPEED_CM_S`, and
* the joint is valid there (confident, detected), when a mask is given.

Plane (:func:`fit_floor_plane`): RANSAC (seeded, :data:`RANSAC_SEED`) on 3-point samples, then
trimmed least squares: the inliers (within :data:`INLIER_CM` of the plane) are refitted by SVD
until they stop changing. Degenerate shapes are decided on the inliers' in-plane spread
(standard deviations along the principal axes):

* ``"plane"``: both in-plane spreads >= :data:`MIN_SPREAD_CM`: normal = the SVD's smallest axis;
* ``"line"``: only the first >= :data:`MIN_SPREAD_CM` (one person walking a straight line): the
  plane is only known up to a rotation about that line, so the normal is ``up`` with its
  component along the line removed: the along-line tilt comes from the contacts, the sideways
  tilt from the torso;
* ``"point"``: neither (standing in place): no plane; the caller falls back to the torso.

Fewer than :data:`MIN_CONTACTS` contacts (shape ``"none"``) or inliers also means no plane.
The normal always points to the ``up`` side.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import H36M

ANKLES = (H36M.index("l_ankle"), H36M.index("r_ankle"))

CONTACT_HEIGHT_CM = 5.0       # an ankle in contact is at most this far above the local lowest ankle
CONTACT_SPEED_CM_S = 50.0     # ... and moves slower than this (a walk's swing foot: 200-500 cm/s)
CONTACT_WINDOW_S = 1.0        # "local" lowest ankle: over +-0.5 s (a gait cycle has a stance foot)
SPEED_SPAN_S = 1.0 / 15.0     # speed = displacement over +-1/30 s (at least +-1 frame) / time
MIN_CONTACTS = 12             # fewer inlier contact samples (ankle-frames) -> no floor fit
MIN_SPREAD_CM = 25.0          # in-plane standard deviation below which an axis is "degenerate"
INLIER_CM = 4.0               # distance to the plane within which a contact is an inlier
RANSAC_ITERATIONS = 300
RANSAC_SEED = 0
REFINE_ITERATIONS = 10
_CHUNK_FRAMES = 2048          # frames per block of the windowed height test (memory bound)


@dataclass(frozen=True)
class PlaneFit:
    """A floor plane ``normal . p = offset_cm`` (flipped camera frame, cm).

    normal:      (3,) unit normal, on the ``up`` side
    offset_cm:   signed distance of the plane from the camera centre along ``normal``
    inliers:     (m,) bool over the points given to :func:`fit_floor_plane`
    residual_cm: RMS distance of the inliers to the plane
    shape:       'plane' | 'line' | 'point' (see the module docstring), or 'none' when fewer than
                 MIN_CONTACTS points were given
    """

    normal: np.ndarray
    offset_cm: float
    inliers: np.ndarray
    residual_cm: float
    shape: str

    @property
    def num_inliers(self) -> int:
        return int(self.inliers.sum())

    @property
    def valid(self) -> bool:
        return self.shape in ("plane", "line") and self.num_inliers >= MIN_CONTACTS


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    if not np.isfinite(n) or n < 1e-12:
        raise ValueError(f"expected a non-zero finite vector, found {v}")
    return v / n


def _span_frames(seconds: float, fps: float) -> int:
    """Half-width in frames (>= 1) of a window of ``seconds`` at ``fps``."""
    return max(1, int(round(seconds * fps / 2.0)))


def _windows(x: np.ndarray, half: int) -> np.ndarray:
    """(n, ...) -> (n, 2 * half + 1, ...): x over ``[t - half, t + half]`` (edge frames repeated)."""
    pad = [(half, half)] + [(0, 0)] * (x.ndim - 1)
    w = np.lib.stride_tricks.sliding_window_view(np.pad(x, pad, mode="edge"), 2 * half + 1, axis=0)
    return np.moveaxis(w, -1, 1)


def _near_lowest(ankles: np.ndarray, up: np.ndarray, half: int, tilt_deg: float) -> np.ndarray:
    """(n, 2, 3) ankle positions (cm) -> (n, 2) bool: no ankle within +-half frames is more than
    CONTACT_HEIGHT_CM + tan(tilt_deg) x (horizontal distance) lower (a cone around each ankle:
    with tilt_deg > 0 a residual tilt of the height axis over the distance walked is tolerated).
    Missing ankles (NaN) are never lower."""
    n = len(ankles)
    height = ankles @ up                                               # (n, 2)
    flat = ankles - height[..., None] * up                             # (n, 2, 3) horizontal part
    win_h, win_p = _windows(height, half), _windows(flat, half)        # views (n, W, 2[, 3])
    slope = np.tan(np.radians(tilt_deg))
    out = np.ones((n, 2), bool)
    for a in range(0, n, _CHUNK_FRAMES):                               # bounded memory on long clips
        b = min(a + _CHUNK_FRAMES, n)
        others_h = win_h[a:b].reshape(b - a, 1, -1)                    # (c, 1, W * 2)
        others_p = win_p[a:b].reshape(b - a, 1, -1, 3)                 # (c, 1, W * 2, 3)
        dist = np.linalg.norm(flat[a:b, :, None] - others_p, axis=-1)  # (c, 2, W * 2)
        below = height[a:b, :, None] - others_h > CONTACT_HEIGHT_CM + slope * dist
        out[a:b] = ~np.any(below, axis=-1)
    return out


def _speed(points: np.ndarray, half: int, fps: float) -> np.ndarray:
    """(n, ..., 3) positions (cm) -> (n, ...) speed (cm/s), central difference over +-half frames."""
    n = points.shape[0]
    t = np.arange(n)
    hi, lo = np.minimum(t + half, n - 1), np.maximum(t - half, 0)
    dt = np.maximum(hi - lo, 1) / fps
    shape = (n,) + (1,) * (points.ndim - 2)
    return np.linalg.norm(points[hi] - points[lo], axis=-1) / dt.reshape(shape)


def detect_contacts(positions_cm: np.ndarray, up: np.ndarray, fps: float,
                    valid: np.ndarray | None = None, tilt_deg: float = 0.0) -> np.ndarray:
    """Foot contacts of one track.

    positions_cm: (n, 17, 3) H36M joints, flipped camera frame, cm; up: (3,) unit height axis;
    fps: frames per second of the track; valid: optional (n, 17) bool (confident, detected);
    tilt_deg: how far ``up`` may be from the true floor normal (widens the height test by
    tan(tilt_deg) per cm of horizontal distance; 0 = plain "within CONTACT_HEIGHT_CM of the lowest").
    Returns (n, 2) bool: contact of (l_ankle, r_ankle) per frame.
    """
    if positions_cm.ndim != 3 or positions_cm.shape[1:] != (len(H36M.names), 3):
        raise ValueError(f"expected positions of shape (n, {len(H36M.names)}, 3), found {positions_cm.shape}")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"expected a positive frame rate, found fps={fps}")
    n = positions_cm.shape[0]
    if n < 2:
        return np.zeros((n, 2), bool)
    ankles = positions_cm[:, ANKLES]                                   # (n, 2, 3)
    ok = np.all(np.isfinite(ankles), axis=-1)
    if valid is not None:
        ok &= np.asarray(valid, bool)[:, ANKLES]
    ankles = np.where(ok[..., None], ankles, np.nan)                   # never a reference, never slow
    near = _near_lowest(ankles, _unit(np.asarray(up, float)), _span_frames(CONTACT_WINDOW_S, fps), tilt_deg)
    slow = _speed(ankles, _span_frames(SPEED_SPAN_S, fps), fps) < CONTACT_SPEED_CM_S
    return near & slow & ok


def contact_points(tracks_cm: list[np.ndarray], up: np.ndarray, fps: float,
                   valid: list[np.ndarray] | None = None, tilt_deg: float = 0.0) -> np.ndarray:
    """(m, 3) ankle positions (cm) of every contact of every track (see :func:`detect_contacts`)."""
    out = [np.zeros((0, 3))]
    for k, p in enumerate(tracks_cm):
        c = detect_contacts(p, up, fps, None if valid is None else valid[k], tilt_deg)
        out.append(p[:, ANKLES][c])
    return np.concatenate(out)


def _line_normal(direction: np.ndarray, up: np.ndarray) -> np.ndarray | None:
    """``up`` with its component along ``direction`` removed (unit), or None if they are parallel."""
    d = direction / max(float(np.linalg.norm(direction)), 1e-12)
    n = up - float(up @ d) * d
    norm = float(np.linalg.norm(n))
    return None if norm < 1e-6 else n / norm


def _ransac(points: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(m, 3) -> (m,) bool: the largest consensus set of seeded 3-point plane samples (a sample
    whose triangle is thinner than MIN_SPREAD_CM uses the line model: its longest side + ``up``)."""
    m = len(points)
    rng = np.random.default_rng(RANSAC_SEED)
    best, best_count = np.ones(m, bool), -1
    for _ in range(RANSAC_ITERATIONS):
        a, b, c = points[rng.choice(m, 3, replace=False)]
        sides = [b - a, c - a, c - b]
        longest = max(sides, key=np.linalg.norm)
        cross = np.cross(b - a, c - a)
        if np.linalg.norm(cross) / max(float(np.linalg.norm(longest)), 1e-9) >= MIN_SPREAD_CM:
            normal = cross / np.linalg.norm(cross)
        else:
            normal = _line_normal(longest, up)
            if normal is None:
                continue
        inl = np.abs((points - a) @ normal) <= INLIER_CM
        count = int(inl.sum())
        if count > best_count:
            best, best_count = inl, count
    return best


def _refit(points: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, str]:
    """Normal and shape of the least-squares plane through ``points`` (m >= 3, cm)."""
    centred = points - points.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    spread = s / np.sqrt(len(points))                                 # std along the principal axes
    if spread[1] >= MIN_SPREAD_CM:
        return vt[2], "plane"
    if spread[0] >= MIN_SPREAD_CM:
        normal = _line_normal(vt[0], up)
        if normal is not None:
            return normal, "line"
    return up, "point"


def fit_floor_plane(points_cm: np.ndarray, up: np.ndarray) -> PlaneFit:
    """Robust floor plane through contact points.

    points_cm: (m, 3) contact ankle positions, flipped camera frame, cm; up: (3,) the torso's up
    direction (orients the normal; supplies the sideways tilt in the 'line' case).
    Deterministic (seeded RANSAC, then trimmed SVD refits; see the module docstring).
    """
    points = np.asarray(points_cm, float)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"expected contact points of shape (m, 3), found {points.shape}")
    up = _unit(np.asarray(up, float))
    finite = np.all(np.isfinite(points), axis=1)                      # non-finite: never inliers
    fit = _fit_finite(points[finite], up)
    inliers = np.zeros(len(points), bool)
    inliers[finite] = fit.inliers
    return PlaneFit(fit.normal, fit.offset_cm, inliers, fit.residual_cm, fit.shape)


def _fit_finite(points: np.ndarray, up: np.ndarray) -> PlaneFit:
    """:func:`fit_floor_plane` on finite points (m, 3) cm with a unit ``up``."""
    if len(points) < max(MIN_CONTACTS, 3):
        return PlaneFit(up, float((points @ up).mean()) if len(points) else 0.0,
                        np.ones(len(points), bool), float("nan"), "none")
    inliers = _ransac(points, up)
    normal, shape = up, "point"
    for _ in range(REFINE_ITERATIONS):
        if inliers.sum() < 3:
            break
        normal, shape = _refit(points[inliers], up)
        if normal @ up < 0:
            normal = -normal
        offset = float(np.mean(points[inliers] @ normal))
        new = np.abs(points @ normal - offset) <= INLIER_CM
        if np.array_equal(new, inliers) or new.sum() < 3:
            break
        inliers = new
    dist = points[inliers] @ normal
    offset = float(dist.mean()) if len(dist) else 0.0
    residual = float(np.sqrt(np.mean((dist - offset) ** 2))) if len(dist) else float("nan")
    return PlaneFit(normal, offset, inliers, residual, shape)
