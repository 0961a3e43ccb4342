"""Camera roll: lift every track in an upright frame, then turn the 3D back.

A camera turned about its optical axis (a tilted phone, a tripod on uneven ground) sees the same
scene with the image rotated about the principal point, and the camera-frame 3D rotated by the
same angle about z. So a track can be lifted in a *canonical* frame and the 3D turned back:

1. ``torso_roll``: the track's median torso direction in the image (pelvis -> thorax of the
   H36M-17 2D, over the frames where both are seen) as an angle from image-up, radians,
   positive clockwise on screen (x right, y down);
2. ``rotate_keypoints``: the 2D rotated by ``-angle`` about the image centre (the principal
   point the pipeline assumes), so the torso points up;
3. the lifter runs on the rotated 2D (same image size);
4. ``rotate_camera_z``: the camera-frame 3D turned back by ``+angle`` about z.

For a pinhole camera with its principal point at the image centre this is exact: the lift no
longer depends on the roll (the 2D after step 2 is the same whatever the roll was). What the
lifter then sees is the body with its median torso upright, the frame it was trained on. The
angle is clipped to +-``MAX_ROLL_DEG`` so a person lying down for a whole clip is not stood
upright (beyond that the residual roll is left to the lifter).

Shapes: keypoints ``(T, 17, 3)`` pixels + confidence (0 = missing); joints ``(..., 3)`` camera
axes (x right, y down, z forward), any unit.
"""
from __future__ import annotations

import numpy as np

MAX_ROLL_DEG = 90.0          # |canonical rotation| limit (a torso pointing sideways: 90)
MIN_TORSO_FRAMES = 1         # frames with pelvis and thorax seen, else no rotation
PELVIS, THORAX = 0, 8        # H36M-17 indices


def torso_roll(kp_h36m_px: np.ndarray, max_deg: float = MAX_ROLL_DEG) -> float:
    """Median torso angle from image-up of ``(T, 17, 3)`` H36M px + conf, radians (0 if unseen).

    The median is taken on angles unwrapped around their circular mean, so a torso near
    upside-down does not average +179 and -179 degrees to 0.
    """
    kp = np.asarray(kp_h36m_px, dtype=np.float64)
    ok = (kp[:, PELVIS, 2] > 0) & (kp[:, THORAX, 2] > 0)
    v = kp[ok, THORAX, :2] - kp[ok, PELVIS, :2]
    v = v[np.isfinite(v).all(-1) & (np.linalg.norm(v, axis=-1) > 1e-6)]
    if len(v) < MIN_TORSO_FRAMES:
        return 0.0
    ang = np.arctan2(v[:, 0], -v[:, 1])                           # 0 = up, + = clockwise on screen
    mean = np.arctan2(np.sin(ang).mean(), np.cos(ang).mean())
    rel = np.angle(np.exp(1j * (ang - mean)))                     # wrapped to (-pi, pi] around the mean
    a = float(np.angle(np.exp(1j * (mean + np.median(rel)))))
    lim = np.deg2rad(max_deg)
    return float(np.clip(a, -lim, lim))


def _rot2(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def rotate_keypoints(kp_px: np.ndarray, angle: float, width: float, height: float) -> np.ndarray:
    """``(..., 3)`` x, y px + conf rotated by ``angle`` (radians, clockwise on screen) about the
    image centre; confidences (and missing joints) unchanged."""
    kp = np.array(kp_px, dtype=np.float64, copy=True)
    if angle == 0.0:
        return kp
    c = np.array([width / 2.0, height / 2.0])
    kp[..., :2] = (kp[..., :2] - c) @ _rot2(angle).T + c
    return kp


def rotate_camera_z(joints: np.ndarray, angle: float) -> np.ndarray:
    """Camera-frame points ``(..., 3)`` turned by ``angle`` about the optical axis (the 3D
    counterpart of :func:`rotate_keypoints`: projecting the result gives the rotated 2D)."""
    out = np.array(joints, dtype=np.float64, copy=True)
    if angle == 0.0:
        return out
    out[..., :2] = out[..., :2] @ _rot2(angle).T
    return out
