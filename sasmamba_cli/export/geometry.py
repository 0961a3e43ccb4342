"""Rotation helpers: Gram-Schmidt frames, axis rotations, Euler angles with frame-to-frame continuity.

Conventions: rotation matrices act on column vectors (``v' = R @ v``); batched arrays have the
matrix in the last two axes ``(..., 3, 3)``. Angles are radians unless a name ends in ``_deg``.

Euler order strings name the BVH channels in file order, e.g. ``"ZXY"`` for
``Zrotation Xrotation Yrotation``, meaning ``R = Rz(a) @ Rx(b) @ Ry(c)`` (intrinsic rotations, the
convention of BVH readers such as Blender's importer and bvhio).
"""
from __future__ import annotations

import numpy as np

from ..mocap.bvh import axis_rotation as _axis_rotation

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


def axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` about axis ``'X' | 'Y' | 'Z'`` by ``angle`` (radians);
    the same convention as the BVH reader (one implementation: :func:`mocap.bvh.axis_rotation`)."""
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


def matrix_to_euler_pair(m: np.ndarray, order: str = "ZXY") -> tuple[np.ndarray, np.ndarray]:
    """Both Euler solutions ``(..., 3)`` of rotation matrices ``(..., 3, 3)``.

    The first has the middle angle in [-pi/2, pi/2]; the second is (a + pi, pi - b, c + pi).
    At gimbal lock (|cos b| ~ 0) the third angle is set to 0 and the first absorbs the rotation.
    """
    i, j, k = _check_order(order)
    s = 1.0 if (j - i) % 3 == 1 else -1.0          # +1 for cyclic orders (XYZ, YZX, ZXY)
    sb = np.clip(s * m[..., i, k], -1.0, 1.0)
    b = np.arcsin(sb)
    a = np.arctan2(-s * m[..., j, k], m[..., k, k])
    c = np.arctan2(-s * m[..., i, j], m[..., i, i])
    locked = np.sqrt(m[..., j, k] ** 2 + m[..., k, k] ** 2) < 1e-7
    if np.any(locked):
        # b = +-pi/2: only a combination of a and c is defined; set c = 0 and solve
        # R_i(a) = R @ R_j(b)^T for a.
        rest = m @ np.swapaxes(axis_rotation(order[1], b), -1, -2)
        p, q = (i + 1) % 3, (i + 2) % 3
        a = np.where(locked, np.arctan2(rest[..., q, p], rest[..., p, p]), a)
        c = np.where(locked, 0.0, c)
    first = np.stack([a, b, c], axis=-1)
    second = np.stack([a + np.pi, np.pi - b, c + np.pi], axis=-1)
    return first, _wrap(second)


def _wrap(x: np.ndarray) -> np.ndarray:
    return (x + np.pi) % (2 * np.pi) - np.pi


def _unwrap_to(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return x + 2 * np.pi * np.round((ref - x) / (2 * np.pi))


def matrices_to_euler_continuous(m: np.ndarray, order: str = "ZXY") -> np.ndarray:
    """Euler angles ``(T, ..., 3)`` for a time series of rotations ``(T, ..., 3, 3)``.

    Per frame, of the two equivalent solutions the one closest to the previous frame is taken,
    each angle shifted by multiples of 2 pi to the previous value (no +-180 degree jumps).
    Frame 0 uses the solution with the middle angle in [-90, 90] degrees.
    """
    first, second = matrix_to_euler_pair(m, order)
    out = np.empty_like(first)
    out[0] = first[0]
    for t in range(1, m.shape[0]):
        prev = out[t - 1]
        c1 = _unwrap_to(first[t], prev)
        c2 = _unwrap_to(second[t], prev)
        d1 = np.sum((c1 - prev) ** 2, axis=-1, keepdims=True)
        d2 = np.sum((c2 - prev) ** 2, axis=-1, keepdims=True)
        out[t] = np.where(d2 < d1, c2, c1)
    return out
