"""Floor plane from foot contacts: detect when an ankle is planted, fit a plane to those points.

Used by :func:`sasmamba_cli.export.world.estimate_world_frame` (``level="floor"`` / ``"auto"``).
All positions here are in the *flipped camera frame* (camera axes rotated 180 degrees about x:
x right, y up, z toward the camera), in **centimetres**; ``up`` is a unit vector in that frame
(the torso estimate), used only to measure heights for contact detection and to orient the normal.

Contacts (:func:`detect_contacts`), per track and ankle (``l_ankle``, ``r_ankle``), are found on
*steady* ankle trajectories (:func:`steady_ankles`). A monocular lift's pelvis jitters by 5-17 cm
(std) from frame to frame along the viewing ray (the pinhole fit of the root is per frame), while
its direction and the pelvis-relative joints are about as steady as motion capture; that depth
jitter made every ankle look fast (3 contacts on the sports2d demo). So, for detection only, the
pelvis' distance from the camera is low-passed (zero-phase Butterworth,
:func:`sasmamba_cli.pipeline.smooth.butterworth`) just enough that the jitter left adds
:data:`DEPTH_SPEED_NOISE_FRACTION` x :data:`CONTACT_SPEED_CM_S` of apparent speed
(:func:`depth_noise_cm`, :func:`depth_cutoff_hz`); clean motion capture (~0.1 cm) is left
untouched. The contact points given to the plane fit are these steady positions. An ankle is in
contact on a frame when

* its height along ``up`` is within :data:`CONTACT_HEIGHT_CM` of the lowest ankle height (either
  ankle) within +-:data:`CONTACT_WINDOW_S` / 2 seconds ("locally", so a slope or a residual camera
  tilt over a long walk does not hide the far footprints), and
* its speed, a central difference over +-:data:`SPEED_SPAN_S` / 2 seconds, is below the track's
  threshold (:func:`speed_threshold_cm_s`): :data:`CONTACT_SPEED_CM_S`, or, when the lift lets
  planted feet slide, :data:`SLIDE_FACTOR` x the :data:`SLIDE_QUANTILE`-th percentile of the
  track's ankle speeds, at most :data:`CONTACT_SPEED_MAX_CM_S`, and
* the joint is valid there (confident, detected), when a mask is given.

Plane (:func:`fit_floor_plane`): RANSAC (seeded, :data:`RANSAC_SEED`) on 3-point samples, then
trimmed least squares: the inliers (within :data:`INLIER_CM` of the plane) are refitted by SVD
until they stop changing. Every contact is weighted by :func:`footprint_weights` (one footprint,
i.e. one :data:`FOOTPRINT_CM` cell, counts once however many frames the foot stays: a person
standing for seconds does not outvote another one's walk) in the RANSAC score, the fit and the
residual; RANSAC skips sample planes more than :data:`MAX_TILT_DEG` from ``up``. Degenerate
shapes are decided on the inliers' weighted in-plane spread (standard deviations along the
principal axes):

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

import math
from dataclasses import dataclass

import numpy as np

from ..skeleton import H36M

ANKLES = (H36M.index("l_ankle"), H36M.index("r_ankle"))

DEPTH_SPEED_NOISE_FRACTION = 1 / 3   # depth jitter left after smoothing: this x CONTACT_SPEED_CM_S (1 std)
MIN_DEPTH_CUTOFF_HZ = 0.5     # never low-pass the pelvis distance below this (a walk's speed changes slower)
CONTACT_HEIGHT_CM = 5.0       # an ankle in contact is at most this far above the local lowest ankle
CONTACT_SPEED_CM_S = 50.0     # ... and moves slower than this (a walk's swing foot: 200-500 cm/s)
CONTACT_WINDOW_S = 1.0        # "local" lowest ankle: over +-0.5 s (a gait cycle has a stance foot)
SLIDE_QUANTILE = 25.0         # percentile of a track's ankle speeds taken as its stance (sliding) speed
SLIDE_FACTOR = 2.0            # contact speed threshold: at least this x that percentile ...
CONTACT_SPEED_MAX_CM_S = 150.0  # ... and at most this (a walk's swing foot: 200-500 cm/s)
SPEED_SPAN_S = 1.0 / 15.0     # speed = displacement over +-1/30 s (at least +-1 frame) / time
MIN_CONTACTS = 12             # fewer inlier contact samples (ankle-frames) -> no floor fit
MIN_SPREAD_CM = 25.0          # in-plane standard deviation below which an axis is "degenerate"
MAX_TILT_DEG = 30.0           # RANSAC skips planes tilted more than this from up (a walk along a line
                              # plus a foot on a step would otherwise make a steep plane)
FOOTPRINT_CM = 20.0           # contacts in one cell of this size (perpendicular to up) are one footprint
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
    residual_cm: RMS distance of the inliers to the plane (footprint-weighted)
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


def _check_positions(positions_cm: np.ndarray, fps: float) -> None:
    if positions_cm.ndim != 3 or positions_cm.shape[1:] != (len(H36M.names), 3):
        raise ValueError(f"expected positions of shape (n, {len(H36M.names)}, 3), found {positions_cm.shape}")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"expected a positive frame rate, found fps={fps}")


def depth_noise_cm(distance_cm: np.ndarray) -> float:
    """Frame-to-frame (white) noise of a distance series (n,) in cm, robustly: the median absolute
    deviation of its second differences, scaled to a standard deviation (x 1.4826) and divided by
    sqrt(6) (the std of a second difference of white noise is sqrt(6) sigma). Smooth motion adds
    little (a walking pelvis: ~0.1 cm at 30 fps); 0 below 3 finite frames."""
    d = np.diff(distance_cm[np.isfinite(distance_cm)], n=2)
    if d.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(6.0))


def depth_cutoff_hz(noise_cm: float, fps: float) -> float:
    """Low-pass cutoff (Hz) that leaves white noise of std ``noise_cm`` at ``fps`` with a speed std
    of CONTACT_SPEED_CM_S x DEPTH_SPEED_NOISE_FRACTION; at least MIN_DEPTH_CUTOFF_HZ; ``inf`` (no
    filtering) when that is above the Nyquist frequency.

    After an ideal low-pass at f_c, white noise (variance noise^2 spread over 0..fps/2) has a
    derivative of variance (2 pi)^2 noise^2 (2 / fps) f_c^3 / 3; solved for f_c.
    """
    if not noise_cm > 0:
        return math.inf
    target = CONTACT_SPEED_CM_S * DEPTH_SPEED_NOISE_FRACTION
    cutoff = (target * math.sqrt(3.0) / (2 * math.pi * noise_cm * math.sqrt(2.0 / fps))) ** (2.0 / 3.0)
    return math.inf if cutoff >= fps / 2.0 else max(cutoff, MIN_DEPTH_CUTOFF_HZ)


def steady_ankles(positions_cm: np.ndarray, fps: float) -> np.ndarray:
    """(n, 17, 3) joints (cm, camera at the origin) -> (n, 2, 3) (l_ankle, r_ankle) without the
    lift's depth jitter: the pelvis' distance from the camera is low-passed (zero-phase
    Butterworth, :func:`sasmamba_cli.pipeline.smooth.butterworth`) at
    :func:`depth_cutoff_hz` of its measured noise (:func:`depth_noise_cm`); the pelvis direction
    and the pelvis-relative ankles are kept. Motion capture and steady lifts are returned
    unchanged (cutoff above the Nyquist frequency). Non-finite samples stay non-finite."""
    from ..pipeline.smooth import SmoothSpec, apply_smoothing

    _check_positions(positions_cm, fps)
    p = np.asarray(positions_cm, float)
    ankles = p[:, ANKLES]
    pelvis = p[:, 0]                                                   # (n, 3)
    distance = np.linalg.norm(pelvis, axis=-1)                         # (n,) cm from the camera
    cutoff = depth_cutoff_hz(depth_noise_cm(distance), fps)
    if not math.isfinite(cutoff) or len(p) < 3:
        return ankles.copy()
    spec = SmoothSpec("butterworth", (("cutoff_hz", cutoff), ("order", 4)))
    steady = apply_smoothing(distance[:, None] / 100.0, fps, spec)[:, 0] * 100.0
    scale = np.where(distance > 0, steady / np.where(distance > 0, distance, 1.0), 1.0)
    return ankles - pelvis[:, None] + (pelvis * scale[:, None])[:, None]


def detect_contacts(positions_cm: np.ndarray, up: np.ndarray, fps: float,
                    valid: np.ndarray | None = None, tilt_deg: float = 0.0) -> np.ndarray:
    """Foot contacts of one track.

    positions_cm: (n, 17, 3) H36M joints, flipped camera frame, cm; up: (3,) unit height axis;
    fps: frames per second of the track; valid: optional (n, 17) bool (confident, detected);
    tilt_deg: how far ``up`` may be from the true floor normal (widens the height test by
    tan(tilt_deg) per cm of horizontal distance; 0 = plain "within CONTACT_HEIGHT_CM of the lowest").
    Heights and speeds are those of :func:`steady_ankles`.
    Returns (n, 2) bool: contact of (l_ankle, r_ankle) per frame.
    """
    return _contacts_of(steady_ankles(positions_cm, fps), up, fps, valid, tilt_deg)


def _contacts_of(ankles: np.ndarray, up: np.ndarray, fps: float, valid: np.ndarray | None,
                 tilt_deg: float) -> np.ndarray:
    """(n, 2, 3) steady ankle positions (cm) -> (n, 2) bool contacts (see :func:`detect_contacts`)."""
    n = ankles.shape[0]
    if n < 2:
        return np.zeros((n, 2), bool)
    ok = np.all(np.isfinite(ankles), axis=-1)
    if valid is not None:
        ok &= np.asarray(valid, bool)[:, ANKLES]
    ankles = np.where(ok[..., None], ankles, np.nan)                   # never a reference, never slow
    near = _near_lowest(ankles, _unit(np.asarray(up, float)), _span_frames(CONTACT_WINDOW_S, fps), tilt_deg)
    speed = _speed(ankles, _span_frames(SPEED_SPAN_S, fps), fps)
    slow = speed < speed_threshold_cm_s(speed[ok])
    return near & slow & ok


def speed_threshold_cm_s(speeds_cm_s: np.ndarray) -> float:
    """Contact speed threshold of one track from its valid ankle speeds (cm/s, any shape):
    CONTACT_SPEED_CM_S, raised to SLIDE_FACTOR x the SLIDE_QUANTILE-th percentile of the speeds
    (a planted foot that the lift lets slide: a foot is planted for more than a quarter of a walk
    or run, so that percentile is a stance speed), at most CONTACT_SPEED_MAX_CM_S."""
    s = np.asarray(speeds_cm_s, float)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return CONTACT_SPEED_CM_S
    slide = SLIDE_FACTOR * float(np.percentile(s, SLIDE_QUANTILE))
    return float(min(max(CONTACT_SPEED_CM_S, slide), CONTACT_SPEED_MAX_CM_S))


def contact_points(tracks_cm: list[np.ndarray], up: np.ndarray, fps: float,
                   valid: list[np.ndarray] | None = None, tilt_deg: float = 0.0) -> np.ndarray:
    """(m, 3) steady ankle positions (cm, :func:`steady_ankles`) of every contact of every track
    (see :func:`detect_contacts`)."""
    out = [np.zeros((0, 3))]
    for k, p in enumerate(tracks_cm):
        ankles = steady_ankles(p, fps)
        c = _contacts_of(ankles, up, fps, None if valid is None else valid[k], tilt_deg)
        out.append(ankles[c])
    return np.concatenate(out)


def _line_normal(direction: np.ndarray, up: np.ndarray) -> np.ndarray | None:
    """``up`` with its component along ``direction`` removed (unit), or None if they are parallel."""
    d = direction / max(float(np.linalg.norm(direction)), 1e-12)
    n = up - float(up @ d) * d
    norm = float(np.linalg.norm(n))
    return None if norm < 1e-6 else n / norm


def footprint_weights(points: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(m, 3) contact points (cm) -> (m,) weights: 1 / (number of contacts in the same
    FOOTPRINT_CM x FOOTPRINT_CM cell of the plane perpendicular to ``up``), so each footprint
    counts about once however long the foot stays there (a person standing for seconds does not
    outvote another one's walk)."""
    if len(points) == 0:
        return np.zeros(0)
    e1 = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(up, e1)
    cells = np.floor(np.stack([points @ e1, points @ e2], axis=1) / FOOTPRINT_CM).astype(np.int64)
    _, index, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    return 1.0 / counts[np.asarray(index).reshape(-1)]


def _ransac(points: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(m, 3) -> (m,) bool: the consensus set of seeded 3-point plane samples with the most
    footprints (:func:`footprint_weights`; a sample whose triangle is thinner than MIN_SPREAD_CM
    uses the line model: its longest side + ``up``; a sample plane more than MAX_TILT_DEG from
    ``up`` is skipped)."""
    m = len(points)
    weights = footprint_weights(points, up)
    min_cos = np.cos(np.radians(MAX_TILT_DEG))
    rng = np.random.default_rng(RANSAC_SEED)
    best, best_score = np.ones(m, bool), -1.0
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
        if abs(float(normal @ up)) < min_cos:
            continue
        inl = np.abs((points - a) @ normal) <= INLIER_CM
        score = float(weights[inl].sum())
        if score > best_score + 1e-9:
            best, best_score = inl, score
    return best


def _refit(points: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, str, np.ndarray]:
    """Normal (3,) (not yet oriented), shape ('plane' | 'line' | 'point') and centre (3,) cm (the
    footprint-weighted mean) of the least-squares plane through ``points`` (m >= 3, cm)."""
    w = footprint_weights(points, up)
    mean = (w[:, None] * points).sum(axis=0) / w.sum()
    _, s, vt = np.linalg.svd((points - mean) * np.sqrt(w)[:, None], full_matrices=False)
    spread = s / np.sqrt(w.sum())                                     # std along the principal axes
    if spread[1] >= MIN_SPREAD_CM:
        return vt[2], "plane", mean
    if spread[0] >= MIN_SPREAD_CM:
        normal = _line_normal(vt[0], up)
        if normal is not None:
            return normal, "line", mean
    return up, "point", mean


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
        normal, shape, centre = _refit(points[inliers], up)
        if normal @ up < 0:
            normal = -normal
        new = np.abs((points - centre) @ normal) <= INLIER_CM
        if np.array_equal(new, inliers) or new.sum() < 3:
            break
        inliers = new
    if not inliers.any():
        return PlaneFit(normal, 0.0, inliers, float("nan"), shape)
    w = footprint_weights(points[inliers], up)
    dist = points[inliers] @ normal
    offset = float((w * dist).sum() / w.sum())
    residual = float(np.sqrt((w * (dist - offset) ** 2).sum() / w.sum()))
    return PlaneFit(normal, offset, inliers, residual, shape)
