"""Square crops around person boxes, for the top-down 2D passes (``--detector mediapipe``,
``--refine-crops``). Boxes are ``x1, y1, x2, y2`` pixels; a crop is ``(x0, y0, side)`` and may reach
past the image (``cut`` zero-pads there)."""
from __future__ import annotations

import numpy as np


def square_crop(box: np.ndarray, margin: float) -> tuple[int, int, int]:
    """A square ``(x0, y0, side)`` around the box's centre, ``margin`` x its longer side."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = int(np.ceil(max(x2 - x1, y2 - y1) * margin))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def cut(frame: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """The ``side`` x ``side`` crop at ``(x0, y0)``, zero-padded where it leaves the frame."""
    h, w = frame.shape[:2]
    out = np.zeros((side, side) + frame.shape[2:], frame.dtype)
    ax, ay, bx, by = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if bx > ax and by > ay:
        out[ay - y0:by - y0, ax - x0:bx - x0] = frame[ay:by, ax:bx]
    return out
