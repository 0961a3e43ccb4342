"""Left/right swap repair for 2D keypoint tracks (COCO-17), before lifting.

Pose detectors sometimes give a joint the other side's label for a few frames (the knees of a
person seen from the side, the wrists of crossed arms): the 2D point jumps to where its partner
was and back. Lifted as is, the 3D leg or arm jumps across the body and back, and the BVH shows a
limb rotating by up to 180 degrees for those frames. ``../shared/docs/USERS.md`` ("clean first:
... fix left/right swaps") asks for this step before anything else.

Method, per track and per left/right joint pair (eyes, ears, shoulders, elbows, wrists, hips,
knees, ankles; independently, because detectors swap single pairs as often as whole limbs): a
two-state Viterbi over the frames where both joints were detected (not interpolated). State 0
keeps the detector's labels, state 1 swaps them. Between consecutive such frames, keeping the
same state costs how far the two labelled points move, and changing state costs how far they
move with the labels exchanged; both in units of the track's torso length (median distance from
mid-shoulders to mid-hips, in px) and divided by the frame gap. Every swapped frame costs
``penalty`` (default 0.1 torso lengths). A clear swap (both points jump across and back)
saves about twice the pair's separation at each end, so it is repaired while it lasts fewer than
about ``2 * separation / penalty`` frames (~15 frames for knees seen from the front); where the
two points are close or the motion is ambiguous (legs crossing in a side view) swapping saves
nothing and the detector's labels stand; a mislabelling that persists for long is left as
detected (the detector is assumed right most of the time). Joints interpolated across gaps are
re-interpolated from the repaired detections. Confidence moves with its point.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..skeleton import COCO
from .track import Track, fill_gaps

DEFAULT_PENALTY = 0.1        # torso lengths per swapped frame

_SHOULDERS = (COCO.names.index("l_shoulder"), COCO.names.index("r_shoulder"))
_HIPS = (COCO.names.index("l_hip"), COCO.names.index("r_hip"))


def lr_pairs() -> list[tuple[str, int, int]]:
    """``(name, left index, right index)`` of every COCO-17 left/right pair ("knee", 13, 14)."""
    out = []
    for lft, rgt in zip(COCO.left, COCO.right):
        name = COCO.names[lft]
        out.append((name[2:] if name.startswith("l_") else name, int(lft), int(rgt)))
    return out


@dataclass(frozen=True)
class SwapReport:
    """Frames whose labels were exchanged, per pair name, and in all (any pair) for one track."""

    frames_per_pair: dict[str, int]
    frames_any: int

    def as_dict(self) -> dict:
        return {"frames_any": int(self.frames_any),
                "frames_per_pair": {k: int(v) for k, v in self.frames_per_pair.items()}}


def torso_length_px(kp: np.ndarray) -> float:
    """Median mid-shoulder to mid-hip distance (px) over frames with all four joints; else the
    median extent of the detected points / 3; else 1."""
    ok = np.all(kp[:, list(_SHOULDERS + _HIPS), 2] > 0, axis=1)
    if ok.any():
        sh = kp[ok][:, list(_SHOULDERS), :2].mean(1)
        hp = kp[ok][:, list(_HIPS), :2].mean(1)
        d = float(np.median(np.linalg.norm(sh - hp, axis=-1)))
        if d > 1e-6:
            return d
    ext = []
    for f in kp:
        v = f[f[:, 2] > 0, :2]
        if len(v) >= 2:
            ext.append(float(np.linalg.norm(v.max(0) - v.min(0))))
    return max(float(np.median(ext)) / 3.0, 1e-6) if ext else 1.0


def viterbi_swaps(left: np.ndarray, right: np.ndarray, gaps: np.ndarray, scale: float,
                  penalty: float = DEFAULT_PENALTY) -> np.ndarray:
    """Best labelling of one pair over m observed frames.

    ``left, right (m, 2)`` px as detected; ``gaps (m-1,)`` frames between consecutive observed
    frames (>= 1). Returns ``(m,)`` bool: True where the two labels are to be exchanged.
    """
    m = left.shape[0]
    if m == 0:
        return np.zeros(0, bool)
    dl, dr = left[1:] - left[:-1], right[1:] - right[:-1]
    same = (np.linalg.norm(dl, axis=-1) + np.linalg.norm(dr, axis=-1)) / (scale * gaps)
    cross = (np.linalg.norm(right[1:] - left[:-1], axis=-1)
             + np.linalg.norm(left[1:] - right[:-1], axis=-1)) / (scale * gaps)
    same, cross = same.tolist(), cross.tolist()
    d0, d1 = 0.0, penalty
    back = np.zeros((m, 2), bool)            # back[t, s]: previous state was 1 (else 0)
    for t in range(1, m):
        s, c = same[t - 1], cross[t - 1]
        a0, b0 = d0 + s, d1 + c               # -> state 0 from 0 / from 1
        a1, b1 = d1 + s, d0 + c               # -> state 1 from 1 / from 0
        back[t, 0] = b0 < a0
        back[t, 1] = not (b1 < a1)
        d0, d1 = min(a0, b0), min(a1, b1) + penalty
    state = np.zeros(m, bool)
    state[-1] = d1 < d0
    for t in range(m - 1, 0, -1):
        state[t - 1] = back[t, int(state[t])]
    return state


def repair_keypoints(kp: np.ndarray, observed: np.ndarray | None = None, interpolated: np.ndarray | None = None,
                     penalty: float = DEFAULT_PENALTY) -> tuple[np.ndarray, SwapReport]:
    """Repair left/right swaps in one track's ``kp (n, 17, 3)`` COCO px + conf (missing: conf 0).

    ``observed (n, 17)`` marks the entries the decisions rest on (default: conf > 0 and finite);
    only frames where both joints of a pair are observed are swapped. ``interpolated (n, 17)``
    marks entries filled across gaps from the detections around them: they are re-interpolated
    from the repaired observations (default: none). Returns the repaired copy and the report.
    """
    kp = np.array(kp, dtype=np.float64, copy=True)
    if kp.ndim != 3 or kp.shape[1:] != (len(COCO.names), 3):
        raise ValueError(f"expected COCO-17 keypoints (n, 17, 3), found {kp.shape}")
    valid = (kp[..., 2] > 0) & np.all(np.isfinite(kp[..., :2]), axis=-1)
    observed = valid if observed is None else (np.asarray(observed, bool) & valid)
    interp = np.zeros_like(valid) if interpolated is None else (np.asarray(interpolated, bool) & valid & ~observed)
    scale = torso_length_px(np.where(observed[..., None], kp, 0.0))
    per_pair, any_swap = {}, np.zeros(kp.shape[0], bool)
    for name, lj, rj in lr_pairs():
        idx = np.flatnonzero(observed[:, lj] & observed[:, rj])
        swap = viterbi_swaps(kp[idx, lj, :2], kp[idx, rj, :2], np.diff(idx).astype(np.float64), scale,
                             penalty) if idx.size else np.zeros(0, bool)
        rows = idx[swap]
        per_pair[name] = int(rows.size)
        if rows.size:
            kp[rows, lj], kp[rows, rj] = kp[rows, rj].copy(), kp[rows, lj].copy()
            any_swap[rows] = True
    if any_swap.any() and interp.any():
        raw = np.where(observed[..., None], kp, np.array([np.nan, np.nan, 0.0]))
        refilled, _ = fill_gaps(raw, max_gap=kp.shape[0])
        kp = np.where(interp[..., None] & (refilled[..., 2:] > 0), refilled, kp)
    return kp, SwapReport(per_pair, int(any_swap.sum()))


def repair_track(track: Track, penalty: float = DEFAULT_PENALTY) -> tuple[Track, SwapReport]:
    """:func:`repair_keypoints` on a tracker's :class:`~.track.Track` (its detected joints are
    the observations; joints bridged across gaps are re-interpolated)."""
    interpolated = ~track.detected[:, None] | track.joint_interpolated
    kp, report = repair_keypoints(track.keypoints_px, ~interpolated, interpolated, penalty)
    return replace(track, keypoints_px=kp), report


def swap_repair_header(enabled: bool, penalty: float, tracks: list[dict]) -> dict:
    """The result's top-level ``swap_repair`` block."""
    return {"enabled": bool(enabled), "method": "per-pair two-state Viterbi on 2D motion (pipeline/swaps.py)",
            "penalty_torso_lengths_per_frame": float(penalty), "tracks": tracks}
