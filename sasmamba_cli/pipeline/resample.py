"""The one resampler: joint trajectories and 2D keypoint tracks to another frame rate, and back.

* :func:`resample` (mocap positions, any ``(F, ...)`` array) and :func:`resample_times`;
* :func:`resample_keypoints`: 2D keypoints with confidences (a resampled joint is valid only
  where both neighbours are), the lifter's input at the checkpoint's training rate;
* :func:`resample_back`: the lifter's output back onto the video's frames.

All three interpolate linearly between the two neighbouring source frames. For :func:`resample`:
linear interpolation of positions between the two neighbouring source frames. Output frame k
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


def resample_keypoints(kp: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Resample ``kp (T, J, 3)`` x, y, conf (missing: conf 0) from ``src_fps`` to ``dst_fps``.

    Linear in time; a resampled joint is valid only when both neighbouring source samples are;
    its confidence is the smaller of the two. Output length ``floor((T-1) * dst/src) + 1``.
    """
    t_src = kp.shape[0]
    n = int(np.floor((t_src - 1) * dst_fps / src_fps + 1e-9)) + 1
    pos = np.arange(n) * (src_fps / dst_fps)
    i0 = np.clip(np.floor(pos).astype(int), 0, t_src - 1)
    i1 = np.clip(i0 + 1, 0, t_src - 1)
    a = (pos - i0)[:, None, None]
    valid = kp[..., 2] > 0
    both = valid[i0] & (valid[i1] | (a[..., 0] < 1e-9))
    xy = np.nan_to_num(kp[i0, :, :2]) * (1 - a) + np.nan_to_num(kp[i1, :, :2]) * a
    xy = np.where((a[..., 0] < 1e-9)[..., None], np.nan_to_num(kp[i0, :, :2]), xy)
    conf = np.where(a[..., 0] < 1e-9, kp[i0, :, 2], np.minimum(kp[i0, :, 2], kp[i1, :, 2]))
    out = np.concatenate([xy, conf[..., None]], axis=-1)
    out[~both] = np.array([np.nan, np.nan, 0.0])
    return out


def resample_back(x: np.ndarray, src_fps: float, dst_fps: float, length: int) -> np.ndarray:
    """Inverse of :func:`resample_keypoints` for dense data: ``x (n, ...)`` sampled at ``dst_fps``
    -> ``(length, ...)`` at ``src_fps`` (linear; holds the last value past the end)."""
    pos = np.arange(length) * (dst_fps / src_fps)
    i0 = np.clip(np.floor(pos).astype(int), 0, x.shape[0] - 1)
    i1 = np.clip(i0 + 1, 0, x.shape[0] - 1)
    a = np.clip(pos - i0, 0, 1).reshape((-1,) + (1,) * (x.ndim - 1))
    return x[i0] * (1 - a) + x[i1] * a
