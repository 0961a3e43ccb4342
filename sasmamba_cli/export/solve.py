"""Inverse kinematics for the BVH rig: joint positions -> per-joint rotations.

For every joint with children, the global rotation is ``R_j = F_j @ Q_j.T`` where ``F_j`` is the
Gram-Schmidt frame of two joint vectors (bvh_rig.json) and ``Q_j`` the same frame in the T-pose,
so the T-pose gives identity. A straight limb has no bend plane; the small fallback term in its
secondary vector then fixes the twist smoothly. Leaves (hands, feet, head top: H36M has no
orientation for them) follow their parent. Local rotation = R_parent.T @ R_j.

Temporal stability (:func:`stable_joint_frames`): for a joint with one child only the primary axis
is observable (it points at the child), so its twist is chosen for continuity where the
construction is ambiguous: a ``sign_like`` axis (a knee's bend axis) keeps its side from frame to
frame and takes the reference's side only where the limb is nearly straight
(:func:`geometry.orient_continuous`), and an ill-conditioned secondary vector (terms that cancel,
a straight limb) turns the frame only gradually (:func:`geometry.continuous_frames`). Joints with
several children (hips, thorax) keep the plain construction: their frame places the children.
Positions are the same as with the plain construction.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .geometry import continuous_frames, frame_from_vectors, orient_continuous
from .rig import Rig, RigSpec, children_of, eval_vector, rig_spec


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


def _oriented_terms(pos: np.ndarray, spec: RigSpec, joints) -> dict[str, np.ndarray]:
    """The ``sign_like`` cross products of the secondaries of ``joints``, oriented with continuity
    (:func:`geometry.orient_continuous`), keyed by their JSON text; all in one batch."""
    exprs = {}
    for j in joints:
        for _, e in spec.frames[j].secondary:
            if isinstance(e, dict) and "sign_like" in e:
                exprs.setdefault(json.dumps(e, sort_keys=True), e)
    if not exprs:
        return {}
    axes = np.stack([eval_vector({"cross": e["cross"]}, pos, spec) for e in exprs.values()], axis=-2)
    refs = np.stack([eval_vector(e["sign_like"], pos, spec) for e in exprs.values()], axis=-2)
    oriented = orient_continuous(axes, refs)
    return {k: oriented[..., i, :] for i, k in enumerate(exprs)}


def stable_joint_frames(pos: np.ndarray, spec: RigSpec, parents) -> dict[int, np.ndarray]:
    """Per joint with children: its frame ``(T, 3, 3)`` from positions ``(T, 17, 3)``, a time series.

    Joints with several children: exactly :func:`rig.joint_frames`. Joints with one child: the same
    primary axis, the twist about it continuous where the construction is ambiguous (module doc).
    """
    kids = children_of(parents)
    single = [j for j in spec.frames if len(kids[j]) == 1]
    out = {}
    for j, rule in spec.frames.items():
        if j not in single:
            prim = eval_vector(rule.primary, pos, spec)
            out[j] = frame_from_vectors(prim, sum(w * eval_vector(e, pos, spec) for w, e in rule.secondary))
    if not single:
        return out
    oriented = _oriented_terms(pos, spec, single)

    def term(e):
        key = json.dumps(e, sort_keys=True) if isinstance(e, dict) else None
        return oriented[key] if key in oriented else eval_vector(e, pos, spec)

    prim = np.stack([eval_vector(spec.frames[j].primary, pos, spec) for j in single], axis=-2)
    sec = np.stack([sum(w * term(e) for w, e in spec.frames[j].secondary) for j in single], axis=-2)
    scale = np.array([sum(abs(w) for w, _ in spec.frames[j].secondary) for j in single])
    frames = continuous_frames(prim, sec, scale=scale)                      # (T, K, 3, 3)
    for i, j in enumerate(single):
        out[j] = frames[..., i, :, :]
    return out


def global_rotations(rig: Rig, pos_cm: np.ndarray, spec: RigSpec | None = None) -> np.ndarray:
    """(T, 17, 3, 3) global joint rotations solved from positions ``(T, 17, 3)`` (cm, rig axes),
    frames kept temporally stable (:func:`stable_joint_frames`)."""
    spec = spec or rig_spec()
    T, J = pos_cm.shape[:2]
    frames = stable_joint_frames(pos_cm, spec, rig.parents)
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
