"""Readers for VideoPose3D's preprocessed Human3.6M files (supplied by the user, never shipped).

* ``data_3d_h36m.npz``: key ``positions_3d`` = {subject: {action: (F, 32, 3) metres}} at 50 Hz,
  world Z up.
* ``data_2d_h36m_<det>.npz``: ``positions_2d`` = {subject: {action: [4 cameras x (F, 17, 2)]}}
  pixels, and ``metadata`` = {"layout_name", "num_joints", "keypoints_symmetry"}.

**Security**: both files store Python dicts as *pickled* object arrays. Unpickling runs code that
the file's author chose, so these readers refuse unless the caller passes ``trust_pickle=True``
(the CLI flag ``--trust-pickle``): only do that for files you downloaded yourself from the
VideoPose3D instructions. Nothing else in sasmamba unpickles.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from .dataset import Clip, MocapDataset, from_clips
from ..pipeline.resample import resample

#: H36M 32-joint layout -> H36M-17 (VideoPose3D / MotionBERT convention).
H36M32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
H36M_FPS = 50.0
H36M_LICENCE = "H36M"


def _load_pickled(path: str | os.PathLike, key: str, trust_pickle: bool):
    path = Path(path)
    if not trust_pickle:
        raise InputError(f"{path} stores its data as a pickle, which can run arbitrary code when "
                         f"loaded; expected an explicit opt-in. If you made or downloaded this file "
                         f"yourself, pass --trust-pickle (trust_pickle=True).")
    try:
        with np.load(path, allow_pickle=True) as z:
            if key not in z.files:
                raise InputError(f"{path}: expected key {key!r} (VideoPose3D layout), found {z.files}")
            out = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {path}: {e}") from e
    return {k: (v.item() if v.dtype == object and v.shape == () else v) for k, v in out.items()}


def action_group(action: str) -> str:
    """'Walking 1' -> 'Walking', 'WalkDog' -> 'WalkDog', 'Sitting 2' -> 'Sitting'."""
    return re.sub(r"[\s_]*\d+$", "", action).strip()


def read_h36m_3d(path: str | os.PathLike, *, trust_pickle: bool = False, world_axes: bool = False) -> dict:
    """``{subject: {action: (F, 17, 3) float64 mm, Y up}}`` from ``data_3d_h36m.npz``.

    Mapping: joints ``H36M32_TO_17``; metres -> mm; H36M world is Z up, converted to Y up by
    ``(x, y, z) -> (x, z, -y)`` unless ``world_axes`` (then H36M's own world axes, Z up, which
    the cameras' extrinsics refer to)."""
    d = _load_pickled(path, "positions_3d", trust_pickle)["positions_3d"]
    if not isinstance(d, dict):
        raise InputError(f"{path}: positions_3d should be a dict subject -> action -> array")
    out = {}
    for subject, actions in d.items():
        out[subject] = {}
        for action, arr in actions.items():
            arr = np.asarray(arr, dtype=np.float64)
            if arr.ndim != 3 or arr.shape[1:] != (32, 3):
                raise InputError(f"{path}: {subject}/{action} expected (F, 32, 3), found {arr.shape}")
            p = arr[:, H36M32_TO_17] * 1000.0
            out[subject][action] = p if world_axes else np.stack([p[..., 0], p[..., 2], -p[..., 1]], -1)
    return out


def read_h36m_2d(path: str | os.PathLike, *, trust_pickle: bool = False) -> tuple[dict, dict]:
    """``({subject: {action: [cams x (F, 17, 2) px]}}, metadata)`` from ``data_2d_h36m_*.npz``."""
    d = _load_pickled(path, "positions_2d", trust_pickle)
    meta = d.get("metadata", {})
    pos = d["positions_2d"]
    n = int(meta.get("num_joints", 17)) if isinstance(meta, dict) else 17
    if n != 17:
        raise InputError(f"{path}: expected 17-joint 2D keypoints, metadata says {n}")
    out = {}
    for subject, actions in pos.items():
        out[subject] = {}
        for action, cams in actions.items():
            cams = [np.asarray(c, dtype=np.float64) for c in cams]
            for c in cams:
                if c.ndim != 3 or c.shape[1] != 17 or c.shape[2] < 2:
                    raise InputError(f"{path}: {subject}/{action} expected (F, 17, 2), found {c.shape}")
            out[subject][action] = [c[..., :2] for c in cams]
    return out, (meta if isinstance(meta, dict) else {})


def h36m_dataset(positions: dict, fps: float = 30.0) -> MocapDataset:
    """Convert :func:`read_h36m_3d` output to the mocap dataset layout (source "h36m").

    H36M has no COCO markers: ``coco_mm`` is filled from H36M joints where they coincide
    (shoulders, elbows, wrists, hips, knees, ankles; nose = neck_nose; eyes/ears = head_top)
    and is only an approximation; use these clips for evaluation with real 2D, not virtual 2D."""
    from ..skeleton import COCO, H36M

    src = {"nose": "neck_nose", "l_eye": "head_top", "r_eye": "head_top", "l_ear": "head_top",
           "r_ear": "head_top"}
    idx = [H36M.index(src.get(n, n)) for n in COCO.names]
    clips = []
    for subject in sorted(positions):
        for action in sorted(positions[subject]):
            h = resample(positions[subject][action], H36M_FPS, fps)
            clips.append(Clip(h.astype(np.float32), h[:, idx].astype(np.float32),
                              f"h36m/{subject}/{action}", "h36m", subject, f"h36m/{action_group(action)}",
                              H36M_LICENCE))
    return from_clips(clips, fps)
