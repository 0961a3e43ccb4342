"""Resampling joint trajectories to a target frame rate.

Linear interpolation of positions between the two neighbouring source frames. Output frame k
lies at time ``k / fps_out``; frames are produced while that time is within the source clip
(``t <= (F - 1) / fps_in``), so a clip of duration D gives ``floor(D * fps_out) + 1`` frames.
Positions (not rotations) are interpolated: for 30 Hz output from 60-120 Hz mocap the chord
error of a joint on a circular path is well below a millimetre. Downsampling by an integer
factor therefore reduces to taking every n-th frame exactly.
"""
from __future__ import annotations

import numpy as np


def resample_times(num_frames: int, fps_in: float, fps_out: float) -> np.ndarray:
    """Fractional source-frame indices ``(F_out,)`` for the output frames."""
    if num_frames < 1 or fps_in <= 0 or fps_out <= 0:
        raise ValueError(f"expected num_frames >= 1 and positive rates, found {num_frames}, "
                         f"{fps_in}, {fps_out}")
    duration = (num_frames - 1) / fps_in
    n_out = int(np.floor(duration * fps_out + 1e-9)) + 1
    return np.minimum(np.arange(n_out) * (fps_in / fps_out), num_frames - 1)


def resample(x: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Resample ``(F, ...)`` frames from ``fps_in`` to ``fps_out`` by linear interpolation."""
    x = np.asarray(x)
    idx = resample_times(x.shape[0], fps_in, fps_out)
    i0 = np.floor(idx).astype(np.int64)
    i1 = np.minimum(i0 + 1, x.shape[0] - 1)
    w = (idx - i0).reshape((-1,) + (1,) * (x.ndim - 1))
    return x[i0] * (1 - w) + x[i1] * w
