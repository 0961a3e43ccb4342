"""Metric scale and root trajectory in camera coordinates (x right, y down, z forward, metres).

Scale (body-height prior)
    The lifter's root-relative output has the right shape but an arbitrary size. Per track we
    measure the median over frames of the skeleton's *standing chain*

        ankle -> knee -> hip (mean of both legs) + pelvis -> spine -> thorax

    which spans ankle height to shoulder height. Anthropometric segment tables (Drillis & Contini
    1966: ankle 0.039 H, shoulder 0.818 H) put that span at ``CHAIN_FRACTION = 0.779`` of the
    standing height H. The track is scaled so its chain equals ``0.779 * height_m``
    (``--height``, default 1.70 m). Head joints are not used: their definition differs between
    detectors and mocap rigs.

Root trajectory (pinhole camera)
    Focal length from an assumed field of view along the image's longer side
    (``f = 0.5 * max(W, H) / tan(fov / 2)``, ``--fov``, default 60 degrees; principal point at the
    image centre). Per frame, the root (pelvis) position ``R = (X, Y, Z)`` is the weighted
    least-squares solution of the projection equations of every visible joint ``j``
    (metric root-relative ``p_j``, pixel ``(u_j, v_j)``, weight = its 2D confidence)::

        f (X + x_j) = (u_j - cx) (Z + z_j),   f (Y + y_j) = (v_j - cy) (Z + z_j)

    i.e. the depth comes from the ratio of the metric skeleton's size to its 2D size and X, Y
    from back-projecting the 2D body. Frames with fewer than ``MIN_JOINTS`` visible joints are
    interpolated from their neighbours. ``Z`` is kept >= 0.3 m.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import H36M

CHAIN_FRACTION = 0.818 - 0.039          # ankle-to-shoulder span / standing height (Drillis & Contini)
MIN_JOINTS = 4
MIN_DEPTH_M = 0.3


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics in pixels for an image of ``width`` x ``height``."""

    width: int
    height: int
    focal_px: float
    cx: float
    cy: float
    fov_deg: float

    def as_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "focal_px": self.focal_px,
                "cx": self.cx, "cy": self.cy, "fov_deg": self.fov_deg, "fov_axis": "longer image side",
                "model": "pinhole, principal point at the image centre, focal from the assumed field of view"}


def camera_from_fov(width: int, height: int, fov_deg: float) -> Camera:
    if not 1.0 <= fov_deg <= 179.0:
        raise ValueError(f"expected a field of view of 1-179 degrees, found {fov_deg}")
    f = 0.5 * max(width, height) / np.tan(np.radians(fov_deg) / 2)
    return Camera(int(width), int(height), float(f), width / 2.0, height / 2.0, float(fov_deg))


def _bone(p: np.ndarray, a: str, b: str) -> np.ndarray:
    return np.linalg.norm(p[..., H36M.index(a), :] - p[..., H36M.index(b), :], axis=-1)


def standing_chain(joints: np.ndarray) -> np.ndarray:
    """``(T, 17, 3)`` -> ``(T,)`` ankle-to-shoulder chain length (see the module docstring)."""
    legs = 0.5 * (_bone(joints, "r_ankle", "r_knee") + _bone(joints, "r_knee", "r_hip")
                  + _bone(joints, "l_ankle", "l_knee") + _bone(joints, "l_knee", "l_hip"))
    torso = _bone(joints, "pelvis", "spine") + _bone(joints, "spine", "thorax")
    return legs + torso


def metric_scale(joints: np.ndarray, height_m: float) -> float:
    """Factor that makes the median standing chain equal ``CHAIN_FRACTION * height_m``."""
    if not 0.3 <= height_m <= 3.0:
        raise ValueError(f"expected a body height of 0.3-3.0 m, found {height_m}")
    chain = float(np.median(standing_chain(joints)))
    if not np.isfinite(chain) or chain < 1e-6:
        return 1.0
    return CHAIN_FRACTION * height_m / chain


ROOT_CHUNK = 4096          # frames per block of the per-frame least squares (temporaries ~3 kB per frame)


def estimate_root(joints_m: np.ndarray, kp_px: np.ndarray, camera: Camera) -> np.ndarray:
    """Root (pelvis) trajectory ``(T, 3)`` in camera metres from metric root-relative
    ``joints_m (T, 17, 3)`` and H36M ``kp_px (T, 17, 3)`` x, y, conf (missing: conf 0). Each
    frame is its own least-squares problem: they are set up and solved ``ROOT_CHUNK`` frames at a
    time (the same numbers as all at once, with temporaries that do not grow with ``T``)."""
    t = joints_m.shape[0]
    root = np.full((t, 3), np.nan)
    ok = np.zeros(t, bool)
    for lo in range(0, t, ROOT_CHUNK):
        hi = min(lo + ROOT_CHUNK, t)
        root[lo:hi], ok[lo:hi] = _solve_root(np.asarray(joints_m[lo:hi], np.float64),
                                             np.asarray(kp_px[lo:hi], np.float64), camera)
    ok &= np.all(np.isfinite(root), -1)
    if not ok.any():
        return np.tile(np.array([0.0, 0.0, 3.0]), (t, 1))  # no usable frame: 3 m straight ahead
    idx = np.arange(t)
    for c in range(3):
        root[~ok, c] = np.interp(idx[~ok], idx[ok], root[ok, c])
    root[:, 2] = np.maximum(root[:, 2], MIN_DEPTH_M)
    return root


def _solve_root(joints_m: np.ndarray, kp_px: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """:func:`estimate_root`'s per-frame solve for a block of frames: the root ``(t, 3)`` (NaN where
    fewer than ``MIN_JOINTS`` joints are seen) and that mask ``(t,)``."""
    t = joints_m.shape[0]
    w = np.where((kp_px[..., 2] > 0) & np.all(np.isfinite(kp_px[..., :2]), -1), kp_px[..., 2], 0.0)  # (T, 17)
    u = np.nan_to_num(kp_px[..., 0]) - camera.cx
    v = np.nan_to_num(kp_px[..., 1]) - camera.cy
    f = camera.focal_px
    x, y, z = joints_m[..., 0], joints_m[..., 1], joints_m[..., 2]
    # rows: [f, 0, -u] . R = u z - f x  and  [0, f, -v] . R = v z - f y
    a = np.zeros((t, 17, 2, 3))
    a[:, :, 0, 0] = f
    a[:, :, 0, 2] = -u
    a[:, :, 1, 1] = f
    a[:, :, 1, 2] = -v
    b = np.stack([u * z - f * x, v * z - f * y], axis=-1)                  # (T, 17, 2)
    aw = a * w[..., None, None]
    ata = np.einsum("tjri,tjrk->tik", aw, a) + 1e-9 * np.eye(3)
    atb = np.einsum("tjri,tjr->ti", aw, b)
    ok = (w > 0).sum(-1) >= MIN_JOINTS
    root = np.full((t, 3), np.nan)
    if ok.any():
        root[ok] = np.linalg.solve(ata[ok], atb[ok][..., None])[..., 0]
    return root, ok
