"""``--det-flip``: horizontal-flip test-time augmentation of the 2D detector.

Each frame batch is detected twice: as it is and mirrored left-right. The mirrored result is
turned back (``x -> width - x`` for boxes and keypoints, in ultralytics' continuous pixel
coordinates, and the COCO left/right keypoints swapped back); each person of the first pass is
paired with the mirrored pass's box that overlaps it most (IoU >= ``MIN_IOU``), and the pair's
keypoints are fused: position = confidence-weighted mean of the two, confidence = the mean of the
two (a keypoint one pass misses keeps the other's position at half its confidence). Boxes and
person scores stay the first pass's (tracking is unchanged); a person the mirrored pass does not
find keeps the first pass's keypoints. The keypoint threshold is applied after fusion.

Cost: a second detector call per frame (the mirrored frames are batched like the originals).
Shapes and units as :class:`~sasmamba_cli.pipeline.detect.FrameDetections` (pixels).
"""
from __future__ import annotations

import numpy as np

from ..skeleton import COCO
from .detect import FrameDetections, PoseDetector, mask_keypoints
from .topdown import iou

MIN_IOU = 0.5


def unflip(boxes_px: np.ndarray, kp_px: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(n, 4)`` and keypoints ``(n, 17, 3)`` found on a mirrored frame -> the original frame."""
    b = np.array(boxes_px, dtype=np.float64, copy=True).reshape(-1, 4)
    b[:, [0, 2]] = width - b[:, [2, 0]]
    k = np.array(kp_px, dtype=np.float64, copy=True)[:, COCO.flip_permutation]
    k[..., 0] = width - k[..., 0]
    return b, k


def fuse(kp_a: np.ndarray, kp_b: np.ndarray) -> np.ndarray:
    """Two raw estimates ``(17, 3)`` of one person -> confidence-weighted positions, mean confidence."""
    ca = np.where(np.isfinite(kp_a[:, :2]).all(-1), np.clip(kp_a[:, 2], 0, None), 0.0)
    cb = np.where(np.isfinite(kp_b[:, :2]).all(-1), np.clip(kp_b[:, 2], 0, None), 0.0)
    w = ca + cb
    out = np.array(kp_a, dtype=np.float64, copy=True)
    both = w > 0
    xa = np.nan_to_num(kp_a[:, :2])
    xb = np.nan_to_num(kp_b[:, :2])
    out[both, :2] = (ca[both, None] * xa[both] + cb[both, None] * xb[both]) / w[both, None]
    out[:, 2] = 0.5 * w
    return out


class FlipTTA:
    """``detector(frames_bgr) -> list[FrameDetections]``: first-pass boxes, keypoints fused with a
    mirrored pass."""

    def __init__(self, first: PoseDetector):
        self.first = first
        self.fused = 0            # people whose keypoints were fused with the mirrored pass
        self.kept = 0             # people the mirrored pass did not find (first pass kept)

    def __getattr__(self, name):
        # model, device, imgsz, conf, kp_threshold: the wrapped detector's (--refine-crops reuses them)
        if name == "first":
            raise AttributeError(name)
        return getattr(self.first, name)

    def __call__(self, frames: list[np.ndarray]) -> list[FrameDetections]:
        if not frames:
            return []
        a = self.first.predict_raw(frames)
        b = self.first.predict_raw([np.ascontiguousarray(f[:, ::-1]) for f in frames])
        out = []
        for frame, (boxes, scores, kp), (fb, _, fk) in zip(frames, a, b):
            kp = np.array(kp, dtype=np.float64, copy=True)
            if len(boxes) and len(fb):
                fb, fk = unflip(fb, fk, frame.shape[1])
                taken: set[int] = set()
                for j in np.argsort(-scores):                  # most confident people pick first
                    overlap = iou(boxes[j], fb)
                    overlap[list(taken)] = -1.0
                    k = int(np.argmax(overlap))
                    if overlap[k] < MIN_IOU:
                        self.kept += 1
                        continue
                    taken.add(k)
                    kp[j] = fuse(kp[j], fk[k])
                    self.fused += 1
            else:
                self.kept += len(boxes)
            out.append(mask_keypoints(boxes, scores, kp, self.first.kp_threshold))
        return out
