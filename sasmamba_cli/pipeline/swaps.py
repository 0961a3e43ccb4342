"""Left/right swap repair for 2D keypoint tracks (COCO-17), before lifting.

Pose detectors sometimes give a joint the other side's label for a few frames (the knees of a
person seen from the side, the wrists of crossed arms): the 2D point jumps to where its partner
was and back. Lifted as is, the 3D leg or arm jumps across the body and back, and the BVH shows a
limb rotating by up to 180 degrees for those frames. ``../shared/docs/USERS.md`` ("clean first:
... fix left/right swaps") asks for this step before anything else.

Method, per track and per left/right joint pair (shoulders, elbows, wrists, hips, knees, ankles;
independently, because detectors swap single pairs as often as whole limbs; eyes and ears are
left alone: the lifter's input uses only the mean of the eyes and no ear): a Viterbi over the
frames where both joints were detected (not interpolated). Each frame's state says whether the
detector's two labels are kept or exchanged. A labelling costs, for every three consecutive such
frames, how much each labelled point's velocity changes (px per frame, summed over the two points,
in units of the track's torso length: median distance from mid-shoulders to mid-hips; else 0.29 x
the median box height; with neither the track is left as detected), plus ``penalty`` (default 0.2
torso lengths) per exchanged frame. Points that move steadily cost nothing whatever their speed,
so real crossings (legs passing each other in a side view, even at 10 fps) keep their labels; a
label swap makes both points jump across and back, which costs about four times their separation
per point and is repaired while it lasts up to ~17 frames (knees seen from the front; about half
that where it touches the track's first or last frame). Where the points are close or the motion
is ambiguous, exchanging saves nothing and the detector's labels stand; a mislabelling that
persists for long is left as detected (the detector is assumed right most of the time). A frame
where only one joint of the pair was detected, inside a run of exchanged frames, is exchanged too;
joints interpolated across gaps are re-interpolated from the repaired detections. Confidence
moves with its point.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..skeleton import COCO
from .track import Track, fill_gaps

DEFAULT_PENALTY = 0.2        # torso lengths per swapped frame

_SHOULDERS = (COCO.names.index("l_shoulder"), COCO.names.index("r_shoulder"))
_HIPS = (COCO.names.index("l_hip"), COCO.names.index("r_hip"))


#: pairs that are repaired: the lifter's input uses only the mean of the eyes and neither ear, so
#: swapped eye or ear labels change nothing, and their small separation makes them noise-prone
REPAIRED_PAIRS = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")


def lr_pairs() -> list[tuple[str, int, int]]:
    """``(name, left index, right index)`` of the repaired COCO-17 left/right pairs ("knee", 13, 14)."""
    out = []
    for lft, rgt in zip(COCO.left, COCO.right):
        name = COCO.names[lft]
        name = name[2:] if name.startswith("l_") else name
        if name in REPAIRED_PAIRS:
            out.append((name, int(lft), int(rgt)))
    return out


@dataclass(frozen=True)
class SwapReport:
    """Frames whose labels were exchanged, per pair name, and in all (any pair) for one track;
    ``skipped``: why the track was left as detected (no body scale), else None."""

    frames_per_pair: dict[str, int]
    frames_any: int
    skipped: str | None = None
    exchanged: dict[str, np.ndarray] = field(default_factory=dict, repr=False)   # pair -> frame rows

    def as_dict(self) -> dict:
        d = {"frames_any": int(self.frames_any),
             "frames_per_pair": {k: int(v) for k, v in self.frames_per_pair.items()}}
        if self.skipped:
            d["skipped"] = self.skipped
        return d


def torso_length_px(kp: np.ndarray) -> float | None:
    """Median mid-shoulder to mid-hip distance (px) over frames with all four joints; None when
    no frame has them (the limb extent alone is no reliable body scale)."""
    ok = np.all(kp[:, list(_SHOULDERS + _HIPS), 2] > 0, axis=1)
    if ok.any():
        sh = kp[ok][:, list(_SHOULDERS), :2].mean(1)
        hp = kp[ok][:, list(_HIPS), :2].mean(1)
        d = float(np.median(np.linalg.norm(sh - hp, axis=-1)))
        if d > 1e-6:
            return d
    return None


def viterbi_swaps(left: np.ndarray, right: np.ndarray, gaps: np.ndarray, scale: float,
                  penalty: float = DEFAULT_PENALTY) -> np.ndarray:
    """Best labelling of one pair over m observed frames.

    ``left, right (m, 2)`` px as detected; ``gaps (m-1,)`` frames between consecutive observed
    frames (>= 1). Returns ``(m,)`` bool: True where the two labels are to be exchanged.

    Cost of a labelling: for every three consecutive observed frames, how much each labelled
    point's velocity (px per frame) changes, summed over the two points and divided by ``scale``;
    plus ``penalty`` per exchanged frame. A point moving steadily costs nothing whatever its
    speed, so two points that really pass each other (legs crossing, even at 10 fps) keep their
    labels; a label swap makes both points jump across and back. Viterbi over the state pairs
    (previous label, current label): exact, linear in m.
    """
    m = left.shape[0]
    if m < 3:
        return np.zeros(m, bool)
    pts = np.stack([left, right], 1).astype(np.float64)              # (m, 2 points, 2)
    g = np.asarray(gaps, np.float64)
    # label state s: 0 = as detected, 1 = exchanged; P[s][t] = (left, right) under that state
    P = (pts, pts[:, ::-1])
    cost = np.zeros((m, 2, 2, 2))                                     # cost[t, a, b, c] for states t-2, t-1, t
    for a in (0, 1):
        for b in (0, 1):
            v1 = (P[b][1:-1] - P[a][:-2]) / g[:-1, None, None]        # (m-2, 2, 2)
            for c in (0, 1):
                v2 = (P[c][2:] - P[b][1:-1]) / g[1:, None, None]
                cost[2:, a, b, c] = np.linalg.norm(v2 - v1, axis=-1).sum(-1) / scale
    cost = cost.tolist()
    # D[(a, b)]: best cost of frames 0..t with states a at t-1 and b at t
    D = {(a, b): penalty * (a + b) for a in (0, 1) for b in (0, 1)}
    back = [None, None]
    for t in range(2, m):
        ct, nd, bk = cost[t], {}, {}
        for b in (0, 1):
            for c in (0, 1):
                x0, x1 = D[(0, b)] + ct[0][b][c], D[(1, b)] + ct[1][b][c]
                nd[(b, c)], bk[(b, c)] = (x1, 1) if x1 < x0 else (x0, 0)
                nd[(b, c)] += penalty * c
        D = nd
        back.append(bk)
    b, c = min(D, key=D.get)
    state = np.zeros(m, bool)
    state[m - 2], state[m - 1] = bool(b), bool(c)
    for t in range(m - 1, 1, -1):
        a = back[t][(b, c)]
        state[t - 2] = bool(a)
        b, c = a, b
    return state


def repair_keypoints(kp: np.ndarray, observed: np.ndarray | None = None, interpolated: np.ndarray | None = None,
                     penalty: float = DEFAULT_PENALTY, scale: float | None = None) -> tuple[np.ndarray, SwapReport]:
    """Repair left/right swaps in one track's ``kp (n, 17, 3)`` COCO px + conf (missing: conf 0).

    ``observed (n, 17)`` marks the entries the decisions rest on (default: conf > 0 and finite);
    only frames where both joints of a pair are observed are swapped. ``interpolated (n, 17)``
    marks entries filled across gaps from the detections around them: they are re-interpolated
    from the repaired observations (default: none). ``scale``: the body scale in px (default: the
    torso length, :func:`torso_length_px`); with neither, the track is left as detected. A frame
    where only one joint of a pair was observed, inside a run of exchanged frames (the observed
    frames before and after it both exchanged), is exchanged too. Returns the repaired copy and
    the report.
    """
    kp = np.array(kp, dtype=np.float64, copy=True)
    if kp.ndim != 3 or kp.shape[1:] != (len(COCO.names), 3):
        raise ValueError(f"expected COCO-17 keypoints (n, 17, 3), found {kp.shape}")
    valid = (kp[..., 2] > 0) & np.all(np.isfinite(kp[..., :2]), axis=-1)
    observed = valid.copy() if observed is None else (np.asarray(observed, bool) & valid)
    interp = np.zeros_like(valid) if interpolated is None else (np.asarray(interpolated, bool) & valid & ~observed)
    if scale is None:
        scale = torso_length_px(np.where(observed[..., None], kp, 0.0))
    if scale is None or not scale > 0:
        return kp, SwapReport({name: 0 for name, _, _ in lr_pairs()}, 0,
                              "no frame shows both shoulders and both hips (no body scale)")
    per_pair, any_swap, exchanged = {}, np.zeros(kp.shape[0], bool), {}
    for name, lj, rj in lr_pairs():
        idx = np.flatnonzero(observed[:, lj] & observed[:, rj])
        swap = viterbi_swaps(kp[idx, lj, :2], kp[idx, rj, :2], np.diff(idx).astype(np.float64), scale,
                             penalty) if idx.size else np.zeros(0, bool)
        rows = idx[swap]
        one = np.flatnonzero(observed[:, lj] ^ observed[:, rj])           # only one of the pair seen
        if rows.size and one.size and idx.size >= 2:
            pos = np.searchsorted(idx, one)
            inside = (pos > 0) & (pos < idx.size)
            one, pos = one[inside], pos[inside]
            between = swap[pos - 1] & swap[pos]                         # exchanged on both sides
            rows = np.sort(np.concatenate([rows, one[between]]))
        per_pair[name] = int(rows.size)
        exchanged[name] = rows
        if rows.size:
            kp[rows, lj], kp[rows, rj] = kp[rows, rj].copy(), kp[rows, lj].copy()
            for mask in (observed, interp):                             # the flags move with the points
                mask[rows, lj], mask[rows, rj] = mask[rows, rj].copy(), mask[rows, lj].copy()
            any_swap[rows] = True
    if any_swap.any() and interp.any():
        raw = np.where(observed[..., None], kp, np.array([np.nan, np.nan, 0.0]))
        refilled, _ = fill_gaps(raw, max_gap=kp.shape[0])
        kp = np.where(interp[..., None] & (refilled[..., 2:] > 0), refilled, kp)
    return kp, SwapReport(per_pair, int(any_swap.sum()), exchanged=exchanged)


def repair_track(track: Track, penalty: float = DEFAULT_PENALTY) -> tuple[Track, SwapReport]:
    """:func:`repair_keypoints` on a tracker's :class:`~.track.Track` (its detected joints are
    the observations; joints bridged across gaps are re-interpolated)."""
    interpolated = ~track.detected[:, None] | track.joint_interpolated
    observed = ~interpolated
    scale = torso_length_px(np.where(observed[..., None], track.keypoints_px, 0.0))
    if scale is None:                     # no torso seen: the box height (torso ~ 0.29 of it)
        h = np.asarray(track.boxes_px, np.float64)[track.detected]
        h = h[:, 3] - h[:, 1] if h.size else np.zeros(0)
        h = h[np.isfinite(h) & (h > 0)]
        scale = float(np.median(h)) * 0.29 if h.size else None
    kp, report = repair_keypoints(track.keypoints_px, observed, interpolated, penalty, scale)
    joint_interp = np.array(track.joint_interpolated, bool, copy=True)
    for name, lj, rj in lr_pairs():                 # the per-joint "interpolated" flags move with the points
        rows = report.exchanged.get(name, np.zeros(0, int))
        joint_interp[rows, lj], joint_interp[rows, rj] = joint_interp[rows, rj].copy(), joint_interp[rows, lj].copy()
    return replace(track, keypoints_px=kp, joint_interpolated=joint_interp), report


def swap_repair_header(enabled: bool, penalty: float, tracks: list[dict]) -> dict:
    """The result's top-level ``swap_repair`` block."""
    return {"enabled": bool(enabled), "method": "per-pair Viterbi on 2D velocity changes (pipeline/swaps.py)",
            "penalty_torso_lengths_per_frame": float(penalty), "tracks": tracks}
