"""What the lifter sees of a stretch of a dataset clip, for training and evaluation.

Mocap datasets are seen through a random virtual camera with simulated detector noise
(:func:`.virtual.virtual_capture`); paired datasets (real 2D, e.g. Human3.6M detections) are
seen through their own 2D keypoints, with the camera-space joints as the target.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mocap.dataset import MocapDataset
from .virtual import VirtualConfig, virtual_capture


@dataclass(frozen=True)
class Observation:
    """kp2d_px (T, 17, 3) H36M-17 pixels + confidence; width, height (px); target_cam_m (T, 17, 3)
    camera-space joints in metres (x right, y down, z forward; not root-relative); coco2d_px
    (T, 17, 3) the simulated COCO detections behind kp2d_px (None for real 2D); focal_px (px) and
    principal_px (2,) cx, cy px: the virtual camera's intrinsics (None for real 2D)."""

    kp2d_px: np.ndarray
    width: int
    height: int
    target_cam_m: np.ndarray
    coco2d_px: np.ndarray | None
    focal_px: float | None = None
    principal_px: np.ndarray | None = None


def observe(ds: MocapDataset, clip: int, rows: np.ndarray, rng: np.random.Generator,
            cfg: VirtualConfig | None = None, donor_rows: np.ndarray | None = None) -> Observation:
    """The observation of dataset rows ``rows`` (frames of clip ``clip``, in order).
    ``donor_rows``: rows of another clip (as many), the limb donor of ``cfg.limb_mix_p`` (mocap only)."""
    if ds.paired:
        kp = ds.kp2d_px[rows].astype(np.float32)
        kp = np.concatenate([kp, np.ones(kp.shape[:-1] + (1,), np.float32)], -1)    # confidence 1
        w, h = (int(v) for v in ds.image_wh[clip])
        return Observation(kp, w, h, ds.h36m_mm[rows].astype(np.float32) / 1000.0, None)
    donor = None if donor_rows is None else ds.h36m_mm[donor_rows]
    s = virtual_capture(ds.h36m_mm[rows], ds.coco_mm[rows], rng, cfg or VirtualConfig(), donor)
    return Observation(s.kp2d_px, s.width, s.height, s.target_cam_m, s.coco2d_px, float(s.focal_px),
                       np.asarray(s.principal_px, np.float64))
