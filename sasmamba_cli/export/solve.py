"""Inverse kinematics for the BVH rig: joint positions -> per-joint rotations.

For every joint with children, the global rotation is ``R_j = F_j @ Q_j.T`` where ``F_j`` is the
Gram-Schmidt frame of two joint vectors (bvh_rig.json) and ``Q_j`` the same frame in the T-pose,
so the T-pose gives identity. A straight limb has no bend plane; the small fallback term in its
secondary vector then fixes the twist smoothly. Leaves (hands, feet, head top: H36M has no
orientation for them) follow their parent. Local rotation = R_parent.T @ R_j.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rig import Rig, RigSpec, joint_frames, rig_spec


@dataclass(frozen=True)
class Motion:
    """Rig animation, one row per frame.

    root_cm: (T, 3) centimetres, root (hips) position, rig axes
    local:   (T, 17, 3, 3) local rotation of each joint relative to its parent (root: global)
    """

    root_cm: np.ndarray
    local: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.root_cm.shape[0])


def global_rotations(rig: Rig, pos_cm: np.ndarray, spec: RigSpec | None = None) -> np.ndarray:
    """(T, 17, 3, 3) global joint rotations solved from positions ``(T, 17, 3)`` (cm, rig axes)."""
    spec = spec or rig_spec()
    T, J = pos_cm.shape[:2]
    frames = joint_frames(pos_cm, spec)
    glob = np.zeros((T, J, 3, 3))
    for j in range(J):                          # parents come before children in H36M order
        if j in frames:
            glob[:, j] = frames[j] @ rig.rest_frames[j].T
            continue
        leaf = spec.leaves[j]
        if leaf.rule != "follow":
            raise ValueError(f"unknown leaf rule {leaf.rule!r} in bvh_rig.json; expected 'follow'")
        glob[:, j] = glob[:, rig.parents[j]]
    return glob


def local_rotations(glob: np.ndarray, parents) -> np.ndarray:
    """(T, J, 3, 3) local rotations from global ones (the root keeps its global rotation)."""
    local = np.empty_like(glob)
    for j, p in enumerate(parents):
        local[:, j] = glob[:, j] if p < 0 else np.swapaxes(glob[:, p], -1, -2) @ glob[:, j]
    return local


def solve_motion(rig: Rig, pos_cm: np.ndarray, root_cm: np.ndarray | None = None) -> Motion:
    """Positions ``(T, 17, 3)`` cm -> :class:`Motion`. ``root_cm`` defaults to the pelvis positions."""
    glob = global_rotations(rig, pos_cm)
    root = pos_cm[:, 0] if root_cm is None else root_cm
    return Motion(np.array(root, dtype=np.float64), local_rotations(glob, rig.parents))


def forward_kinematics(rig: Rig, motion: Motion) -> np.ndarray:
    """(T, 17, 3) cm joint positions of ``motion`` on ``rig``."""
    T = motion.num_frames
    J = rig.num_joints
    pos = np.zeros((T, J, 3))
    glob = np.zeros((T, J, 3, 3))
    for j, p in enumerate(rig.parents):
        if p < 0:
            glob[:, j] = motion.local[:, j]
            pos[:, j] = motion.root_cm
        else:
            glob[:, j] = glob[:, p] @ motion.local[:, j]
            pos[:, j] = pos[:, p] + glob[:, p] @ rig.offsets[j]
    return pos
