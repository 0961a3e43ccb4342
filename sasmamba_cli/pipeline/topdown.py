"""``--refine-crops``: a second, top-down YOLO-pose pass on each person's crop.

The first pass sees the whole frame letterboxed to ``--imgsz`` (a 1080x1920 portrait frame
shrinks 3x at 640); a person then spans few input pixels. The second pass crops each person
box of the first pass to a square (``MARGIN`` x its longer side, zero-padded past the image),
runs the same model on all crops of a frame batch at ``--imgsz`` again, keeps in each crop the
detection that overlaps the first-pass box most (IoU >= ``MIN_IOU``), and maps its keypoints
and scores back to image pixels. A box whose crop finds no match keeps its first-pass
keypoints. Boxes and person scores stay those of the first pass (tracking is unchanged).

Cost: one more detector call per person per frame (crops are batched).
"""
from __future__ import annotations

import numpy as np

from .crops import cut, square_crop
from .detect import FrameDetections, PoseDetector, mask_keypoints

MARGIN = 1.2
MIN_IOU = 0.3
MIN_BOX_PX = 24


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one box ``a (4,)`` against boxes ``b (n, 4)``, x1 y1 x2 y2."""
    lt = np.maximum(a[:2], b[:, :2])
    rb = np.minimum(a[2:], b[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = lambda x: np.prod(np.clip(x[..., 2:] - x[..., :2], 0, None), axis=-1)
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


class CropRefiner:
    """``detector(frames_bgr) -> list[FrameDetections]``: first-pass boxes, keypoints from crops."""

    def __init__(self, first: PoseDetector):
        self.first = first
        self.refined = 0
        self.kept = 0

    def __call__(self, frames: list[np.ndarray]) -> list[FrameDetections]:
        dets = self.first(frames)
        jobs = []                                             # (frame i, box j, x0, y0, side)
        crops = []
        for i, (frame, d) in enumerate(zip(frames, dets)):
            for j, box in enumerate(d.boxes_px):
                if max(box[2] - box[0], box[3] - box[1]) < MIN_BOX_PX:
                    continue
                x0, y0, side = square_crop(box, MARGIN)
                jobs.append((i, j, x0, y0, side))
                crops.append(cut(frame, x0, y0, side))
        if not crops:
            return dets
        results = self.first.model.predict(crops, verbose=False, device=self.first.device, imgsz=self.first.imgsz,
                                           conf=self.first.conf, classes=[0])
        kps = [np.array(d.keypoints_px, dtype=np.float64, copy=True) for d in dets]
        for (i, j, x0, y0, side), r in zip(jobs, results):
            if r.keypoints is None or r.boxes is None or len(r.boxes) == 0:
                self.kept += 1
                continue
            boxes = r.boxes.xyxy.detach().cpu().numpy().astype(np.float64) + [x0, y0, x0, y0]
            overlap = iou(dets[i].boxes_px[j], boxes)
            k = int(np.argmax(overlap))
            if overlap[k] < MIN_IOU:
                self.kept += 1
                continue
            kp = r.keypoints.data.detach().cpu().numpy().astype(np.float64)[k]          # (17, 3)
            if kp.shape[-1] == 2:
                kp = np.concatenate([kp, np.ones((kp.shape[0], 1))], -1)
            kp[:, :2] += [x0, y0]
            h, w = frames[i].shape[:2]
            outside = (kp[:, 0] < 0) | (kp[:, 0] >= w) | (kp[:, 1] < 0) | (kp[:, 1] >= h)
            kp[outside, 2] = 0.0                               # a point on the padding is not seen
            kps[i][j] = kp
            self.refined += 1
        return [mask_keypoints(d.boxes_px, d.scores, kp, self.first.kp_threshold) for d, kp in zip(dets, kps)]
