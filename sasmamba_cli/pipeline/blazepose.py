"""Optional 2D backend ``--detector mediapipe``: BlazePose (MediaPipe) top-down on each person box.

YOLO-pose still finds the people (boxes, tracking); each box of each frame, enlarged to a square
with a margin (``MARGIN``), is cropped and given to BlazePose (the legacy ``mp.solutions.pose``
API, static-image mode, the *full* model that ships inside the mediapipe 0.10.18 wheel: nothing
is downloaded). Its 33 landmarks are mapped to COCO-17 (the same-name landmarks, table
``COCO_FROM_BLAZEPOSE``) and put back into image pixels. A box where BlazePose finds nobody
keeps YOLO's keypoints.

Confidence: BlazePose's per-landmark ``visibility`` is the probability that the landmark is not
occluded, not that its position is right, so it is *not* used as a confidence: every landmark
inside the image gets confidence 1, landmarks outside the image are missing (table entry
``blazepose-visibility`` in ``sasmamba_cli/data/keypoint_scores.json``).

Install (mediapipe pins numpy<2 and opencv-contrib-python, which would replace the numpy and the
``cv2`` that sasmamba uses; it runs with them as they are):
``pip install --no-deps mediapipe==0.10.18 absl-py flatbuffers "protobuf>=4.25.3,<5"``.
"""
from __future__ import annotations

import numpy as np

from ..errors import SasmambaError
from .crops import cut, square_crop
from .detect import FrameDetections, PoseDetector, mask_keypoints

#: COCO-17 slot -> BlazePose landmark index (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles)
COCO_FROM_BLAZEPOSE = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
MARGIN = 1.25             # crop side = MARGIN x the box's longer side
MIN_BOX_PX = 24           # smaller boxes keep YOLO's keypoints
INSTALL = 'pip install --no-deps mediapipe==0.10.18 absl-py flatbuffers "protobuf>=4.25.3,<5"'


def load_blazepose(model_complexity: int = 1):
    """A static-image BlazePose estimator, or :class:`SasmambaError` saying how to install it."""
    import os

    os.environ.setdefault("GLOG_minloglevel", "2")          # mediapipe's C++ info/warning lines off
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import mediapipe as mp
        pose_mod = mp.solutions.pose
    except (ImportError, AttributeError) as e:
        raise SasmambaError(f"--detector mediapipe needs mediapipe 0.10.18 with its legacy pose API "
                            f"({type(e).__name__}: {e}); install it with: {INSTALL}") from e
    try:
        return pose_mod.Pose(static_image_mode=True, model_complexity=model_complexity,
                             enable_segmentation=False, min_detection_confidence=0.3), mp.__version__
    except Exception as e:
        raise SasmambaError(f"cannot start BlazePose (model_complexity {model_complexity}): {e}. The full "
                            f"model ships in the mediapipe 0.10.18 wheel; reinstall with: {INSTALL}") from e


class BlazePoseDetector:
    """``detector(frames_bgr) -> list[FrameDetections]``: YOLO boxes, BlazePose keypoints."""

    name = "yolo11n-pose boxes + mediapipe-blazepose-full"

    def __init__(self, boxes: PoseDetector, kp_threshold: float = 0.5):
        self.boxes = boxes
        self.kp_threshold = float(kp_threshold)
        self.pose, self.version = load_blazepose(1)
        self.refined = 0          # boxes where BlazePose found the person
        self.kept = 0             # boxes that kept YOLO's keypoints

    def __call__(self, frames: list[np.ndarray]) -> list[FrameDetections]:
        return [self._refine(f, d) for f, d in zip(frames, self.boxes(frames))]

    def landmarks(self, crop_bgr: np.ndarray) -> np.ndarray | None:
        """``(17, 2)`` COCO-order landmark positions in crop pixels, or None if nobody is found."""
        res = self.pose.process(np.ascontiguousarray(crop_bgr[..., ::-1]))      # BlazePose wants RGB
        if res.pose_landmarks is None:
            return None
        lm = res.pose_landmarks.landmark
        side = crop_bgr.shape[0]
        return np.array([[lm[i].x * side, lm[i].y * side] for i in COCO_FROM_BLAZEPOSE], dtype=np.float64)

    def _refine(self, frame: np.ndarray, det: FrameDetections) -> FrameDetections:
        if det.count == 0:
            return det
        h, w = frame.shape[:2]
        kp = np.array(det.keypoints_px, dtype=np.float64, copy=True)
        for i, box in enumerate(det.boxes_px):
            if max(box[2] - box[0], box[3] - box[1]) < MIN_BOX_PX:
                self.kept += 1
                continue
            x0, y0, side = square_crop(box, MARGIN)
            pts = self.landmarks(cut(frame, x0, y0, side))
            if pts is None:
                self.kept += 1
                continue
            xy = pts + [x0, y0]
            inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
            kp[i, :, :2] = xy
            kp[i, :, 2] = inside.astype(np.float64)          # visibility is not a confidence (module doc)
            self.refined += 1
        return mask_keypoints(det.boxes_px, det.scores, kp, self.kp_threshold)
