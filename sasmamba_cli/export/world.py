"""The shared world frame of a clip: camera metres (x right, y down, z forward) -> Y-up centimetres.

Method (docs/export.md):
1. rotate 180 degrees about the camera x axis: (x, y, z) -> (x, -y, -z), so +Y is up and a person
   facing the camera faces +Z;
2. level the camera pitch/roll: the mean torso direction (pelvis -> thorax, all tracks, all
   frames) is rotated onto +Y by the smallest rotation (``level="torso"``), or nothing is done
   (``level="none"``);
3. metres -> centimetres, then the origin is moved to the floor below the camera: y = 0 at the
   2nd percentile of the lower ankle's height over the clip (ankle joint centres touch y = 0),
   x = z = 0 directly below the camera.

All tracks of a clip share one world frame, so people keep their relative positions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import H36M
from .geometry import normalize

FLIP = np.diag([1.0, -1.0, -1.0])          # camera (y down, z forward) -> Y up, facing camera = +Z
LEVELS = ("torso", "none")


@dataclass(frozen=True)
class WorldFrame:
    """rotation: (3, 3) camera axes -> world axes; origin_cm: (3,) world point (cm) that becomes 0.

    ``world_cm = rotation @ camera_m * 100 - origin_cm``.
    camera_height_cm: height of the camera above the estimated floor.
    """

    rotation: np.ndarray
    origin_cm: np.ndarray
    level: str = "torso"

    @property
    def camera_height_cm(self) -> float:
        return float(-self.origin_cm[1])

    def to_world_cm(self, points_m: np.ndarray) -> np.ndarray:
        """(..., 3) camera metres -> (..., 3) world centimetres."""
        return np.einsum("ij,...j->...i", self.rotation, points_m) * 100.0 - self.origin_cm

    def to_camera_m(self, points_cm: np.ndarray) -> np.ndarray:
        """(..., 3) world centimetres -> (..., 3) camera metres (inverse of :meth:`to_world_cm`)."""
        return np.einsum("ji,...j->...i", self.rotation, points_cm + self.origin_cm) / 100.0

    def to_dict(self) -> dict:
        return {"rotation_camera_to_world": np.round(self.rotation, 9).tolist(),
                "origin_cm": np.round(self.origin_cm, 6).tolist(), "level": self.level,
                "camera_height_cm": round(self.camera_height_cm, 3)}


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation (3, 3) taking unit vector ``a`` onto unit vector ``b``."""
    a, b = normalize(a), normalize(b)
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -1 + 1e-12:                     # opposite: rotate 180 degrees about any perpendicular axis
        axis = normalize(np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0]))
        return 2 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def estimate_world_frame(tracks_positions_m: list[np.ndarray], level: str = "torso") -> WorldFrame:
    """World frame from every track's absolute camera positions ``(n, 17, 3)`` metres."""
    if level not in LEVELS:
        raise ValueError(f"expected level in {LEVELS}, found {level!r}")
    rot = FLIP.copy()
    if not tracks_positions_m:
        return WorldFrame(rot, np.zeros(3), level)
    pelvis, thorax = 0, H36M.index("thorax")
    if level == "torso":
        ups = np.concatenate([normalize(p[:, thorax] - p[:, pelvis]) for p in tracks_positions_m]) @ FLIP.T
        mean_up = ups.mean(axis=0)
        if np.linalg.norm(mean_up) > 1e-6:
            rot = rotation_between(mean_up, np.array([0.0, 1.0, 0.0])) @ FLIP
    ankles = [H36M.index("l_ankle"), H36M.index("r_ankle")]
    heights = np.concatenate([np.min((p[:, ankles] @ rot.T)[..., 1], axis=1) for p in tracks_positions_m])
    floor_cm = float(np.percentile(heights, 2)) * 100.0
    return WorldFrame(rot, np.array([0.0, floor_cm, 0.0]), level)
