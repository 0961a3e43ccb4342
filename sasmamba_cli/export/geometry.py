"""Rotation helpers: Gram-Schmidt frames (and their temporally stable variant for time series),
axis rotations, Euler angles with frame-to-frame continuity.

Conventions: rotation matrices act on column vectors (``v' = R @ v``); batched arrays have the
matrix in the last two axes ``(..., 3, 3)``. Angles are radians unless a name ends in ``_deg``.

Euler order strings name the BVH channels in file order, e.g. ``"ZXY"`` for
``Zrotation Xrotation Yrotation``, meaning ``R = Rz(a) @ Rx(b) @ Ry(c)`` (intrinsic rotations, the
convention of BVH readers such as Blender's importer and bvhio).
"""
from __future__ import annotations

import numpy as np

from .bvh_read import axis_rotation as _axis_rotation

EPS = 1e-9
AXES = {"X": 0, "Y": 1, "Z": 2}


def normalize(v: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Unit vectors along the last axis; zero vectors stay zero."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, eps)


def frame_from_vectors(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Right-handed orthonormal frames ``(..., 3, 3)`` with columns (u, v, w).

    u = unit(primary); v = unit(secondary minus its u component); w = u x v (det = +1).
    ``secondary`` must not be parallel to ``primary`` (callers add a fallback term).
    """
    u = normalize(primary)
    v = normalize(secondary - np.sum(secondary * u, axis=-1, keepdims=True) * u)
    w = np.cross(u, v)
    return np.stack([u, v, w], axis=-1)


# Temporal stability of the solver's frames (solve.stable_joint_frames; measured in docs/export.md)
TWIST_FULL_AT = 0.25       # secondary conditioning from which the plain Gram-Schmidt frame is used
TWIST_MAX_STEP_DEG = 30.0  # most the twist turns per frame while ill-conditioned / catching up
SIGN_DECISIVE = 0.25       # |unit(axis) . reference| from which the reference has a verdict on a side
SIGN_CHEAP = 0.1           # an axis shorter than this (|thigh x shin|: bent < 6 degrees) takes the verdict


def orient_continuous(vec: np.ndarray, ref: np.ndarray, decisive: float = SIGN_DECISIVE,
                      cheap: float = SIGN_CHEAP) -> np.ndarray:
    """Time series of unsigned axes ``vec (T, ..., 3)`` (e.g. a knee's bend axis) oriented for
    continuity, and to the side of ``ref (T, ..., 3)`` where turning them round is cheap.

    ``q = unit(vec) . ref`` is the reference's verdict (``ref`` is not normalised: a cross product
    of unit vectors that fades out as they become parallel gives no verdict). The axis takes the
    side of ``ref`` on the first frame with a clear verdict (``|q| >= decisive``; without one, the
    frame with the largest ``|q|``) and on every frame with a clear verdict where it is short
    (``|vec| < cheap``: a nearly straight limb, so turning it round moves the frame little).
    Everywhere else it keeps the side of the previous non-zero oriented axis (forward from the
    first frame, backwards before it): a reference that degenerates or turns perpendicular to the
    axis, or reverses (a thigh crossed with the pelvis' backward axis, when the thigh passes that
    axis), does not flip a bent limb by 180 degrees.
    """
    vec = np.asarray(vec, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    n = np.linalg.norm(vec, axis=-1)
    q = np.sum(vec * ref, axis=-1) / np.maximum(n, EPS)
    out = np.where((q < 0.0)[..., None], -vec, vec)          # the reference's side
    T = len(vec)
    if T < 2:
        return out
    clear = (np.abs(q) >= decisive) & (n > EPS)
    keep = (n > EPS) & ~(clear & (n < cheap))                  # frames that follow the previous one
    first = np.where(clear.any(axis=0), np.argmax(clear, axis=0), np.argmax(np.abs(q), axis=0))
    steps = np.arange(T)[(slice(None),) + (None,) * first.ndim]
    for order in (range(T), range(T - 1, -1, -1)):             # forward from `first`, then backwards
        forward = order.step == 1
        last = np.take_along_axis(out, first[None, ..., None], 0)[0] if first.ndim else out[first]
        for t in order:
            active = (steps[t] > first) if forward else (steps[t] < first)
            if not active.any():
                continue
            kept = np.where((np.sum(vec[t] * last, axis=-1) < 0.0)[..., None], -vec[t], vec[t])
            out[t] = np.where((active & keep[t])[..., None], kept, out[t])
            last = np.where((active & (n[t] > EPS))[..., None], out[t], last)
    return out


def continuous_frames(primary: np.ndarray, secondary: np.ndarray, scale=1.0,
                      full_at: float = TWIST_FULL_AT, max_step_deg: float = TWIST_MAX_STEP_DEG
                      ) -> np.ndarray:
    """:func:`frame_from_vectors` for a time series ``(T, ..., 3)``, with the twist about the
    primary axis kept continuous where the secondary vector is ill-conditioned.

    Conditioning ``c = |secondary minus its primary component| / scale`` (``scale``: the sum of the
    secondary's term weights, so ``c`` is in [0, 1]). The primary axis is always exact (positions
    are unaffected: the twist about a single-child joint's bone is not observable). The secondary
    axis starts from the previous frame's, moved to be orthogonal to the new primary axis (the
    smallest rotation), and turns about the primary axis towards the construction's:

    * ``c >= full_at`` (well-conditioned): all the way, so the frame is exactly
      :func:`frame_from_vectors`;
    * ``c < full_at``: by the fraction ``(c / full_at) ** 2`` of the angle, at most
      ``max_step_deg`` per frame; a nearly cancelling or nearly parallel secondary (noise, a sign
      that changes) cannot turn the frame round from one frame to the next;
    * after ill-conditioned frames, at most ``max_step_deg`` per frame until it has caught up with
      the construction (a twist held through an ambiguous stretch is released gradually).

    Runs forward from the first well-conditioned frame (the best-conditioned one if none is) and
    backwards before it.
    """
    primary = np.asarray(primary, dtype=np.float64)
    secondary = np.asarray(secondary, dtype=np.float64)
    u = normalize(primary)
    perp = secondary - np.sum(secondary * u, axis=-1, keepdims=True) * u
    norm = np.linalg.norm(perp, axis=-1)
    d = perp / np.maximum(norm, EPS)[..., None]
    c = norm / np.asarray(scale, dtype=np.float64)
    ill = c < full_at
    alpha = np.where(norm > EPS, np.clip(c / full_at, 0.0, 1.0) ** 2, 0.0)
    step = np.radians(max_step_deg)
    v = d.copy()
    T = len(u)
    if T < 2:
        return np.stack([u, v, np.cross(u, v)], axis=-1)
    first = np.where((~ill).any(axis=0), np.argmax(~ill, axis=0), np.argmax(c, axis=0))
    steps = np.arange(T)[(slice(None),) + (None,) * first.ndim]
    for order in (range(T), range(T - 1, -1, -1)):             # forward from `first`, then backwards
        forward = order.step == 1
        lag = np.zeros(first.shape, bool)
        for t in order:
            active = (steps[t] > first) if forward else (steps[t] < first)
            if not active.any():
                continue
            prev = v[t - 1] if forward else v[t + 1]
            h = prev - np.sum(prev * u[t], axis=-1, keepdims=True) * u[t]
            hn = np.linalg.norm(h, axis=-1, keepdims=True)
            h = np.where(hn > 1e-6, h / np.maximum(hn, EPS), d[t])   # primary turned onto the old axis
            w = np.cross(u[t], h)
            want = alpha[t] * np.arctan2(np.sum(w * d[t], axis=-1), np.sum(h * d[t], axis=-1))
            limited = ill[t] | lag
            turn = np.clip(want, -step, step)[..., None]
            turned = np.cos(turn) * h + np.sin(turn) * w
            v[t] = np.where((active & limited)[..., None], turned, v[t])   # else: the construction
            lag = np.where(active, ill[t] | (lag & (np.abs(want) > step)), lag)
    return np.stack([u, v, np.cross(u, v)], axis=-1)


def axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` about axis ``'X' | 'Y' | 'Z'`` by ``angle`` (radians);
    the same convention as the BVH reader (one implementation: :func:`.bvh_read.axis_rotation`)."""
    return _axis_rotation(AXES[axis], np.asarray(angle, dtype=np.float64))


def _check_order(order: str) -> tuple[int, int, int]:
    if len(order) != 3 or set(order) != {"X", "Y", "Z"}:
        raise ValueError(f"expected an Euler order of three distinct axes such as 'ZXY', found {order!r}")
    return AXES[order[0]], AXES[order[1]], AXES[order[2]]


def euler_to_matrix(angles: np.ndarray, order: str = "ZXY") -> np.ndarray:
    """``(..., 3)`` angles (radians, in ``order``) -> ``(..., 3, 3)`` = R_o0(a) R_o1(b) R_o2(c)."""
    _check_order(order)
    angles = np.asarray(angles, dtype=np.float64)
    return (axis_rotation(order[0], angles[..., 0]) @ axis_rotation(order[1], angles[..., 1])
            @ axis_rotation(order[2], angles[..., 2]))


LOCK_EPS = 1e-6   # |cos(middle angle)| below this is gimbal lock (rotation error of the split < 1e-6 rad)


def _parity(order: str) -> float:
    i, j, _ = _check_order(order)
    return 1.0 if (j - i) % 3 == 1 else -1.0          # +1 for cyclic orders (XYZ, YZX, ZXY)


def middle_sine(m: np.ndarray, order: str = "ZXY") -> np.ndarray:
    """``sin`` of the middle Euler angle of rotations ``(..., 3, 3)`` in ``order`` (+-1 = gimbal lock).

    It equals ``+-(e_first . R e_last)``: gimbal lock is the rotation taking the last axis onto the
    first one, where only the sum (or difference) of the first and last angles is defined.
    """
    i, _, k = _check_order(order)
    return np.clip(_parity(order) * m[..., i, k], -1.0, 1.0)


def gimbal_margin_deg(m: np.ndarray, order: str = "ZXY") -> np.ndarray:
    """Distance of each rotation from gimbal lock of ``order``, degrees: 90 - |middle angle|."""
    return 90.0 - np.degrees(np.arcsin(np.abs(middle_sine(m, order))))


def _solve_first(m: np.ndarray, order: str, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The first angle ``a`` with ``R_o0(a) = m @ R_o2(c)^T @ R_o1(b)^T`` (exact when b, c fit m)."""
    i = AXES[order[0]]
    rest = (m @ np.swapaxes(axis_rotation(order[2], c), -1, -2)
            @ np.swapaxes(axis_rotation(order[1], b), -1, -2))
    p, q = (i + 1) % 3, (i + 2) % 3
    return np.arctan2(rest[..., q, p], rest[..., p, p])


def matrix_to_euler_pair(m: np.ndarray, order: str = "ZXY") -> tuple[np.ndarray, np.ndarray]:
    """Both Euler solutions ``(..., 3)`` of rotation matrices ``(..., 3, 3)``.

    The first has the middle angle in [-pi/2, pi/2]; the second is (a + pi, pi - b, c + pi).
    At gimbal lock (|cos b| < LOCK_EPS) the third angle is set to 0 and the first absorbs the
    rotation (:func:`matrices_to_euler_continuous` keeps the previous frame's third angle instead).
    """
    i, j, k = _check_order(order)
    s = _parity(order)
    b = np.arcsin(middle_sine(m, order))
    a = np.arctan2(-s * m[..., j, k], m[..., k, k])
    c = np.arctan2(-s * m[..., i, j], m[..., i, i])
    locked = np.sqrt(m[..., j, k] ** 2 + m[..., k, k] ** 2) < LOCK_EPS
    if np.any(locked):
        # b = +-pi/2: only a combination of a and c is defined; set c = 0 and solve for a.
        c = np.where(locked, 0.0, c)
        a = np.where(locked, _solve_first(m, order, b, c), a)
    first = np.stack([a, b, c], axis=-1)
    second = np.stack([a + np.pi, np.pi - b, c + np.pi], axis=-1)
    return first, _wrap(second)


def _wrap(x: np.ndarray) -> np.ndarray:
    return (x + np.pi) % (2 * np.pi) - np.pi


def _unwrap_to(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return x + 2 * np.pi * np.round((ref - x) / (2 * np.pi))


def matrices_to_euler_continuous(m: np.ndarray, order: str = "ZXY") -> np.ndarray:
    """Euler angles ``(T, ..., 3)`` for a time series of rotations ``(T, ..., 3, 3)``.

    Per frame, of the two equivalent solutions ``(a, b, c)`` and ``(a + pi, pi - b, c + pi)`` the
    one closest to the previous frame is taken (so the middle angle may leave [-90, 90] degrees
    instead of the other two jumping by 180), each angle shifted by multiples of 2 pi to the
    previous value (no 360 wraps). At gimbal lock (middle angle +-90 degrees, only a + c or a - c
    defined) the third angle keeps the previous frame's value and the first one takes the rest.
    Frame 0 uses the solution with the middle angle in [-90, 90] degrees.
    Every frame reproduces its matrix exactly (within LOCK_EPS radians at gimbal lock).
    """
    m = np.asarray(m, dtype=np.float64)
    first, second = matrix_to_euler_pair(m, order)
    _, j, k = _check_order(order)
    locked = np.sqrt(m[..., j, k] ** 2 + m[..., k, k] ** 2) < LOCK_EPS
    out = np.empty_like(first)
    out[0] = first[0]
    for t in range(1, m.shape[0]):
        prev = out[t - 1]
        c1 = _unwrap_to(first[t], prev)
        c2 = _unwrap_to(second[t], prev)
        d1 = np.sum((c1 - prev) ** 2, axis=-1, keepdims=True)
        d2 = np.sum((c2 - prev) ** 2, axis=-1, keepdims=True)
        cur = np.where(d2 < d1, c2, c1)
        if np.any(locked[t]):
            b, c = first[t][..., 1], prev[..., 2]
            a = _unwrap_to(_solve_first(m[t], order, b, c), prev[..., 0])
            held = np.stack([a, _unwrap_to(b, prev[..., 1]), c], axis=-1)
            cur = np.where(locked[t][..., None], held, cur)
        out[t] = cur
    return out


def choose_order(m: np.ndarray, preferred: str, keep_margin_deg: float = 30.0,
                 candidates=("ZXY", "ZYX", "XZY", "XYZ", "YZX", "YXZ")) -> str:
    """The Euler order for a joint's rotations ``(T, 3, 3)`` that keeps it away from gimbal lock.

    ``preferred`` is kept while it stays at least ``keep_margin_deg`` from gimbal lock in every
    frame (|middle angle| <= 60 degrees: Euler rates at most 2x the rotation rate); otherwise the
    order with the largest worst-frame margin (:func:`gimbal_margin_deg`) is taken (``preferred``
    first, then ``candidates`` in turn, on ties).
    """
    if len(m) == 0:
        return preferred
    order = (preferred, *[o for o in candidates if o != preferred])
    margin = {o: float(np.min(gimbal_margin_deg(m, o))) for o in order}
    if margin[preferred] >= keep_margin_deg:
        return preferred
    return max(order, key=lambda o: margin[o])               # max() keeps the first of equal ones
