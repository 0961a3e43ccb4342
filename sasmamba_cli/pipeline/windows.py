"""Window: cut a sequence into overlapping windows of the model's length and merge them back.

Windows are spread evenly from the first to the last frame, as few as keep every step between
window starts <= ``stride = window - overlap`` (so consecutive windows share >= ``overlap``
frames); every frame is covered and every window is full. A sequence shorter than the
window becomes one window, edge-padded (first/last frame repeated) to the full length because the
lifter was trained on full windows; the padding is dropped after lifting.

Merging cross-fades the overlaps: each window's frames are weighted by a trapezoid that ramps
linearly across the frames it shares with its neighbour (flat at the sequence's ends), and the
weighted predictions are divided by the summed weights. Weights never reach 0, so every frame is
defined; a frame covered by one window takes that window's value exactly; there is no hard cut
(seam) anywhere. Cost is linear in the sequence length.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WindowPlan:
    """How a sequence of ``length`` frames maps onto windows.

    starts: (k,) first sequence frame of each window; window: frames per window; overlap: the
    requested minimum of frames shared by consecutive windows; pad_before/pad_after: edge padding
    when ``length < window`` (then k == 1).
    """

    length: int
    window: int
    overlap: int
    starts: np.ndarray
    pad_before: int = 0
    pad_after: int = 0


def plan_windows(length: int, window: int, overlap: int) -> WindowPlan:
    if length < 1:
        raise ValueError(f"expected a sequence of at least 1 frame, found {length}")
    if window < 1:
        raise ValueError(f"expected window >= 1, found {window}")
    overlap = int(min(max(overlap, 0), window - 1))
    if length <= window:
        return WindowPlan(length, window, overlap, np.array([0]), 0, window - length)
    stride = window - overlap
    k = -(-(length - window) // stride) + 1                       # fewest windows with stride <= requested
    starts = np.round(np.linspace(0, length - window, k)).astype(int)
    return WindowPlan(length, window, overlap, starts)


def cut_windows(x: np.ndarray, plan: WindowPlan) -> np.ndarray:
    """``x (length, ...)`` -> ``(k, window, ...)`` windows (edge-padded if short)."""
    if x.shape[0] != plan.length:
        raise ValueError(f"expected {plan.length} frames, found {x.shape[0]}")
    if plan.pad_after or plan.pad_before:
        pad = [(plan.pad_before, plan.pad_after)] + [(0, 0)] * (x.ndim - 1)
        return np.pad(x, pad, mode="edge")[None]
    idx = plan.starts[:, None] + np.arange(plan.window)[None, :]
    return x[idx]


def cut_window(x: np.ndarray, plan: WindowPlan, i: int) -> np.ndarray:
    """Window ``i`` of :func:`cut_windows` ``(x, plan)``, ``(window, ...)``, without cutting the others."""
    if x.shape[0] != plan.length:
        raise ValueError(f"expected {plan.length} frames, found {x.shape[0]}")
    if plan.pad_after or plan.pad_before:
        pad = [(plan.pad_before, plan.pad_after)] + [(0, 0)] * (x.ndim - 1)
        return np.pad(x, pad, mode="edge")
    return x[plan.starts[i]:plan.starts[i] + plan.window]


def window_weights(plan: WindowPlan) -> np.ndarray:
    """``(k, window)`` cross-fade weights (see the module docstring).

    Between consecutive windows that share ``m`` frames, the earlier one fades out with weights
    ``m/(m+1) ... 1/(m+1)`` and the later one fades in with ``1/(m+1) ... m/(m+1)``: they sum to 1.
    """
    k, w = len(plan.starts), plan.window
    weights = np.ones((k, w))
    for i in range(1, k):
        m = int(plan.starts[i - 1] + w - plan.starts[i])          # frames shared with the previous window
        if m <= 0:
            continue
        up = (np.arange(m) + 1.0) / (m + 1.0)
        weights[i, :m] = np.minimum(weights[i, :m], up)
        weights[i - 1, w - m:] = np.minimum(weights[i - 1, w - m:], up[::-1])
    return weights


def merge_windows(pred: np.ndarray, plan: WindowPlan) -> np.ndarray:
    """``pred (k, window, ...)`` -> ``(length, ...)`` cross-faded; drops edge padding."""
    if pred.shape[:2] != (len(plan.starts), plan.window):
        raise ValueError(f"expected predictions ({len(plan.starts)}, {plan.window}, ...), found {pred.shape}")
    if plan.pad_after or plan.pad_before:
        return pred[0, plan.pad_before:plan.pad_before + plan.length]
    w = window_weights(plan)
    out = np.zeros((plan.length,) + pred.shape[2:], dtype=np.float64)
    acc = np.zeros(plan.length)
    extra = (1,) * (pred.ndim - 2)
    for i, s in enumerate(plan.starts):
        out[s:s + plan.window] += pred[i] * w[i].reshape((-1,) + extra)
        acc[s:s + plan.window] += w[i]
    return out / acc.reshape((-1,) + extra)
