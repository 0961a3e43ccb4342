"""The Human3.6M evaluation protocol of the papers (real 2D detections in, camera-space 3D out).

Inputs a user holds (none ship with sasmamba):

* VideoPose3D's ``data_3d_h36m.npz`` (world joints, metres, Z up, 50 Hz) and a 2D file such as
  ``data_2d_h36m_cpn_ft_h36m_dbb.npz`` (17 H36M joints per camera, pixels, 50 Hz); both are
  pickles, read by :mod:`.h36m` only with ``trust_pickle``;
* the cameras, which those files do not contain, as a JSON file (Human3.6M's own metadata has
  them; VideoPose3D's ``h36m_dataset.py`` lists the same values)::

      {"S9": [{"id": "54138969", "width": 1000, "height": 1002,
               "orientation": [w, x, y, z], "translation_mm": [x, y, z]}, ... 4 cameras], ...}

  in the camera order of the 2D file. ``orientation`` is the unit quaternion of the camera's
  rotation in the world (VideoPose3D's convention) and ``translation_mm`` the camera centre in
  world millimetres, so ``X_cam = R(q)^T (X_world - C)``. Instead of ``orientation`` a camera may
  give ``rotation``: the 3x3 world-to-camera matrix ``R_wc`` (``X_cam = R_wc (X_world - C)``).
  Camera axes: x right, y down, z forward (the lifter's output axes).

Protocol: every (subject, action, camera) sequence of the test subjects (S9, S11) is lifted from
its 2D (confidence 1 for every joint) exactly as ``sasmamba lift --keypoints`` lifts a track
(resampled to the lifter's fps, windowed, flip TTA, resampled back to 50 Hz); predictions and
camera-space targets are made root-relative; per-frame MPJPE (protocol 1) and P-MPJPE (protocol
2, per-frame Procrustes) are averaged over the frames of each action (all subjects and cameras),
then over actions (``Walking 1`` and ``Walking`` count as one action).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError
from .dataset import MocapDataset
from .h36m import H36M_FPS, H36M_LICENCE, action_group
from ..pipeline.resample import resample

TEST_SUBJECTS = ("S9", "S11")


@dataclass(frozen=True)
class Camera:
    """One calibrated camera: ``R_wc (3, 3)`` world -> camera rotation, ``center_mm (3,)``."""

    id: str
    width: int
    height: int
    R_wc: np.ndarray
    center_mm: np.ndarray

    def world_to_camera(self, x_world_mm: np.ndarray) -> np.ndarray:
        """``(..., 3)`` world mm -> camera mm (x right, y down, z forward)."""
        return (x_world_mm - self.center_mm) @ self.R_wc.T


@dataclass(frozen=True)
class Sequence:
    """One (subject, action, camera) sequence: ``kp2d_px (F, 17, 2)`` H36M-17 pixels,
    ``target_cam_mm (F, 17, 3)`` camera-space joints (mm), both at 50 Hz."""

    subject: str
    action: str
    camera: int
    kp2d_px: np.ndarray
    target_cam_mm: np.ndarray
    width: int
    height: int


def quaternion_to_matrix(q) -> np.ndarray:
    """Unit quaternion ``(w, x, y, z)`` -> the 3x3 rotation it applies."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def load_cameras(path: str | os.PathLike) -> dict[str, list[Camera]]:
    """Read the cameras JSON described in the module docstring, with errors naming the entry."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"cannot read cameras file {path}: {e}") from e
    if not isinstance(raw, dict) or not raw:
        raise InputError(f"{path}: expected {{subject: [camera, ...]}}, found {type(raw).__name__}")
    out = {}
    for subject, cams in raw.items():
        if not isinstance(cams, list) or not cams:
            raise InputError(f"{path}: {subject}: expected a list of cameras")
        parsed = []
        for i, c in enumerate(cams):
            where = f"{path}: {subject} camera {i}"
            try:
                if "rotation" in c:
                    R = np.asarray(c["rotation"], dtype=np.float64)
                elif "orientation" in c:
                    R = quaternion_to_matrix(c["orientation"]).T
                else:
                    raise InputError(f"{where}: expected 'orientation' (quaternion w,x,y,z) or 'rotation' (3x3)")
                center = np.asarray(c["translation_mm"], dtype=np.float64)
                width, height = int(c["width"]), int(c["height"])
            except (KeyError, TypeError, ValueError) as e:
                raise InputError(f"{where}: {e!r}; expected keys id, width, height, orientation or "
                                 "rotation, translation_mm") from e
            if R.shape != (3, 3) or not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) <= 0:
                raise InputError(f"{where}: the rotation is not a 3x3 rotation matrix (orthonormal, "
                                 "determinant +1)")
            if center.shape != (3,):
                raise InputError(f"{where}: translation_mm must have 3 values, found {center.shape}")
            parsed.append(Camera(str(c.get("id", i)), width, height, R, center))
        out[subject] = parsed
    return out


def paired_sequences(world_mm: dict, positions_2d: dict, cameras: dict[str, list[Camera]],
                     subjects=TEST_SUBJECTS) -> list[Sequence]:
    """Pair ``world_mm`` ({subject: {action: (F, 17, 3) mm, Z up}}, :func:`.h36m.read_h36m_3d`
    with ``world_axes=True``) with ``positions_2d`` (:func:`.h36m.read_h36m_2d`) per camera.
    Sequences are cut to the shorter of the 3D and 2D lengths (the files differ by a few frames
    for some takes)."""
    seqs = []
    for subject in subjects:
        if subject not in world_mm:
            raise InputError(f"subject {subject} is not in the 3D file (it has {sorted(world_mm)})")
        if subject not in positions_2d:
            raise InputError(f"subject {subject} is not in the 2D file (it has {sorted(positions_2d)})")
        if subject not in cameras:
            raise InputError(f"subject {subject} is not in the cameras file (it has {sorted(cameras)})")
        for action in sorted(world_mm[subject]):
            if action not in positions_2d[subject]:
                raise InputError(f"{subject}/{action} is in the 3D file but not in the 2D file")
            cams2d = positions_2d[subject][action]
            if len(cams2d) != len(cameras[subject]):
                raise InputError(f"{subject}/{action}: {len(cams2d)} cameras in the 2D file, "
                                 f"{len(cameras[subject])} in the cameras file")
            world = world_mm[subject][action]
            for ci, (kp, cam) in enumerate(zip(cams2d, cameras[subject])):
                n = min(len(kp), len(world))
                seqs.append(Sequence(subject, action, ci, np.asarray(kp[:n, :, :2], np.float64),
                                     cam.world_to_camera(world[:n]), cam.width, cam.height))
    return seqs


def read_paired_sequences(positions_3d, positions_2d, cameras, subjects: str | list[str],
                          trust_pickle: bool = False) -> list[Sequence]:
    """Read the two VideoPose3D files and the cameras JSON and pair them (:func:`paired_sequences`);
    ``subjects`` a list or a comma-separated string."""
    from .h36m import read_h36m_2d, read_h36m_3d

    if isinstance(subjects, str):
        subjects = [s.strip() for s in subjects.split(",") if s.strip()]
    world = read_h36m_3d(positions_3d, trust_pickle=trust_pickle, world_axes=True)
    pos2d, _ = read_h36m_2d(positions_2d, trust_pickle=trust_pickle)
    return paired_sequences(world, pos2d, load_cameras(cameras), subjects)


def evaluate_sequences(predict: Callable[[Sequence], np.ndarray], seqs: list[Sequence]) -> dict:
    """Score ``predict(seq) -> (F, 17, 3)`` root-relative metres on every sequence.

    Returns ``{"mpjpe": mm, "p_mpjpe": mm, "per_action": {action: {"mpjpe", "p_mpjpe", "frames"}},
    "sequences": n, "frames": n}``; both overall numbers are means over actions of the per-action
    means over frames."""
    from ..metrics import mpjpe, p_mpjpe

    acc: dict[str, list[np.ndarray]] = {}
    frames = 0
    for seq in seqs:
        pred = np.asarray(predict(seq), np.float64) * 1000.0
        if pred.shape != seq.target_cam_mm.shape:
            raise ValueError(f"{seq.subject}/{seq.action} cam {seq.camera}: prediction {pred.shape}, "
                             f"expected {seq.target_cam_mm.shape}")
        gt = seq.target_cam_mm - seq.target_cam_mm[:, :1]
        pred = pred - pred[:, :1]
        a = acc.setdefault(action_group(seq.action), [[], []])
        a[0].append(mpjpe(pred, gt))
        a[1].append(p_mpjpe(pred, gt))
        frames += len(gt)
    per_action = {k: {"mpjpe": float(np.concatenate(v[0]).mean()), "p_mpjpe": float(np.concatenate(v[1]).mean()),
                      "frames": int(sum(len(x) for x in v[0]))} for k, v in sorted(acc.items())}
    return {"mpjpe": float(np.mean([v["mpjpe"] for v in per_action.values()])),
            "p_mpjpe": float(np.mean([v["p_mpjpe"] for v in per_action.values()])),
            "per_action": per_action, "sequences": len(seqs), "frames": frames}


def lifter_predictor(lifter, flip_tta: bool = True) -> Callable[[Sequence], np.ndarray]:
    """``predict(seq)`` for :func:`evaluate_sequences` that lifts like ``sasmamba lift --keypoints``."""
    from ..pipeline.lifting import LiftOptions, lift_sequences

    def predict(seq: Sequence) -> np.ndarray:
        kp = np.concatenate([seq.kp2d_px, np.ones(seq.kp2d_px.shape[:2] + (1,))], -1)
        return lift_sequences(lifter, [kp], seq.width, seq.height, H36M_FPS, LiftOptions(flip_tta=flip_tta))[0]
    return predict


def paired_dataset(seqs: list[Sequence], fps: float = 30.0) -> MocapDataset:
    """A paired dataset (real 2D + camera-space 3D per clip; :mod:`.dataset`) of ``seqs``, one
    clip per (subject, action, camera), resampled from 50 Hz to ``fps``. Source ``h36m``, group
    ``h36m/<action>``, so the bundled splits hold S9 / S11 out for test (``--split h36m`` also
    holds S8 out for validation)."""
    kp, cam, starts, wh, meta = [], [], [0], [], {k: [] for k in ("clip_id", "source", "subject", "group", "licence")}
    for s in seqs:
        k2 = resample(s.kp2d_px, H36M_FPS, fps)
        k3 = resample(s.target_cam_mm, H36M_FPS, fps)
        n = min(len(k2), len(k3))
        kp.append(k2[:n])
        cam.append(k3[:n])
        starts.append(starts[-1] + n)
        wh.append((s.width, s.height))
        for key, v in (("clip_id", f"h36m/{s.subject}/{s.action}/cam{s.camera}"), ("source", "h36m"),
                       ("subject", s.subject), ("group", f"h36m/{action_group(s.action)}"),
                       ("licence", H36M_LICENCE)):
            meta[key].append(v)
    if not seqs:
        raise InputError("no sequences to put in the dataset")
    h = np.concatenate(cam).astype(np.float32)
    return MocapDataset(h, h.copy(), np.asarray(starts, np.int64), fps=float(fps),
                        **{k: np.array(v, dtype=np.str_) for k, v in meta.items()},
                        kp2d_px=np.concatenate(kp).astype(np.float32), image_wh=np.asarray(wh, np.int64))
