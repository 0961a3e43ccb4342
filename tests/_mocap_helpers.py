"""Small synthetic mocap for tests, with no imports beyond numpy and sasmamba (GPU machines run
the files that use it without the video stack installed)."""
from __future__ import annotations

import numpy as np


def swaying_person_clips(from_clips, n_clips: int = 2, frames: int = 40):
    """``n_clips`` clips of ``frames`` frames of a synthetic swaying person (mm, Y up), groups g0,
    g1, ..., enough for the evaluation protocol and for tiny training runs."""
    from sasmamba_cli.mocap.dataset import Clip

    base = np.array([[0, 900, 0], [-130, 900, 0], [-130, 460, 0], [-130, 80, 0], [130, 900, 0],
                     [130, 460, 0], [130, 80, 0], [0, 1130, 0], [0, 1380, 0], [0, 1500, 50], [0, 1620, 0],
                     [180, 1380, 0], [450, 1380, 0], [700, 1380, 0], [-180, 1380, 0], [-450, 1380, 0],
                     [-700, 1380, 0]], float)
    rng = np.random.default_rng(0)
    clips = []
    for k in range(n_clips):
        t = np.arange(frames)[:, None, None] / 30.0
        h36m = base + 80 * np.sin(2 * np.pi * 0.8 * t + rng.uniform(0, 6, (17, 3)))
        coco = h36m[:, [9, 9, 9, 9, 9, 11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3]]     # rough COCO order
        clips.append(Clip(h36m.astype(np.float32), coco.astype(np.float32), f"c{k}", "synthetic", "s0",
                          f"g{k}", "test"))
    return from_clips(clips, 30.0)


def coco_markers(h36m_mm: np.ndarray) -> np.ndarray:
    """COCO-17 markers ``(T, 17, 3)`` mm for an H36M-17 motion ``(T, 17, 3)`` mm: limb joints as the
    same-name H36M joints, nose at neck_nose, eyes and ears 70 mm above head_top and 40 mm to its sides."""
    from sasmamba_cli.skeleton import COCO, H36M

    names = {"nose": "neck_nose", "l_eye": "head_top", "r_eye": "head_top", "l_ear": "head_top",
             "r_ear": "head_top"}
    c = h36m_mm[:, [H36M.index(names.get(n, n)) for n in COCO.names]].copy()
    c[:, 1:5, 1] -= 70
    c[:, [1, 3], 0] += 40
    c[:, [2, 4], 0] -= 40
    return c
