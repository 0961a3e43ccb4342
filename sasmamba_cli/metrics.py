"""Pose-error metrics (numpy, root-relative inputs), all returned in the input's units.

Shapes: ``pred, gt (T, J, 3)`` or ``(N, T, J, 3)``. Per-frame values are averaged over joints;
callers average over frames / clips / groups.
"""
from __future__ import annotations

import numpy as np


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Protocol 1: mean per-joint position error per frame, ``(..., T)``."""
    return np.linalg.norm(pred - gt, axis=-1).mean(-1)


def n_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Scale-normalised MPJPE: pred rescaled per frame by the least-squares optimal scalar."""
    num = (pred * gt).sum(axis=(-1, -2), keepdims=True)
    den = (pred * pred).sum(axis=(-1, -2), keepdims=True)
    return mpjpe(pred * (num / np.maximum(den, 1e-12)), gt)


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame similarity alignment (rotation without reflection, scale, translation)."""
    mu_p = pred.mean(-2, keepdims=True)
    mu_g = gt.mean(-2, keepdims=True)
    p, g = pred - mu_p, gt - mu_g
    cov = np.swapaxes(p, -1, -2) @ g                                  # (..., 3, 3)
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))                                # reflection-safe
    s = s.copy()
    s[..., -1] *= d
    u = u.copy()
    u[..., :, -1] *= d[..., None]
    rot = u @ vt                                                      # p @ rot ~ g
    scale = s.sum(-1) / np.maximum((p ** 2).sum(axis=(-1, -2)), 1e-12)
    return scale[..., None, None] * (p @ rot) + mu_g


def p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Protocol 2: MPJPE after per-frame Procrustes alignment."""
    return mpjpe(procrustes_align(pred, gt), gt)


def mpjve(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Mean per-joint velocity error (first differences), ``(..., T-1)``."""
    return mpjpe(np.diff(pred, axis=-3), np.diff(gt, axis=-3))


def accel_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Mean per-joint acceleration error (second differences), ``(..., T-2)``."""
    return mpjpe(np.diff(pred, n=2, axis=-3), np.diff(gt, n=2, axis=-3))


METRICS = {"mpjpe": mpjpe, "p_mpjpe": p_mpjpe, "n_mpjpe": n_mpjpe, "mpjve": mpjve, "accel": accel_error}


def clip_metrics(pred: np.ndarray, gt: np.ndarray, scale: float = 1000.0) -> dict[str, float]:
    """All metrics for one clip ``(T, J, 3)``, averaged over frames, times ``scale`` (m -> mm)."""
    out = {}
    for name, fn in METRICS.items():
        v = fn(pred, gt)
        out[name] = float(v.mean() * scale) if v.size else float("nan")
    return out
