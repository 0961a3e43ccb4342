"""Track: stable person ids across frames from per-frame detections.

Online assignment frame by frame with the Hungarian algorithm
(``scipy.optimize.linear_sum_assignment``) on a cost that mixes box overlap and keypoint distance:

    cost = 0.5 * (1 - IoU(predicted box, detection box)) + 0.5 * min(1, median keypoint distance / box size)

where the keypoint distance is the median over joints visible in both (so swinging limbs do
not drown the head and torso) and "box size" is the square root of the track box's area.

The track side is a constant-velocity *prediction* from a per-track state: the keypoints last
seen (a joint hidden in the latest detection keeps its earlier position, moved along, for up to
``max_gap`` frames) and the last box (kept, moved along, when a detection shows less than
``occluded_fraction`` of the state's joints: the box of a half-hidden person is a half box),
shifted by the track's velocity (px/frame) times the frames since the last match. The velocity
is a running average (weight ``velocity_smoothing`` on the newest step) of the median
displacement of the joints seen in both the state and the new detection (steps sharing fewer
than 5 are skipped), capped at ``max_speed`` box sizes per frame. Without the motion model two
people of similar size walking across each other swap ids where they overlap most, and a person
hidden for a frame or two is re-matched to whoever now stands where they were last seen. For
the assignment only (not the gate below), a track pays ``age_cost`` per frame it has gone
unmatched: where two people stand on the same spot, the one seen on the previous frame is the
more certain match.

A pair is allowed only when IoU > ``min_iou`` or the normalised keypoint distance <
``max_kp_dist``. A track survives ``max_gap`` frames without a match (occlusion); a longer gap
ends it, so a person who reappears later gets a new id (long gaps split the track). Afterwards
each track is made consecutive: frames missing inside a track (<= max_gap) and short per-joint
gaps are linearly interpolated and flagged; tracks with fewer than ``min_frames`` detected frames
are dropped; then at most ``max_people`` tracks are kept by the
selection rule (``largest``: median box height; ``longest``: detected frames). Ids are renumbered
0, 1, ... by first appearance. All tracks share the one camera frame of the video.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .detect import FrameDetections


@dataclass(frozen=True)
class Track:
    """One person over consecutive frames (n of them).

    frames: (n,) int frame indices, consecutive; keypoints_px: (n, 17, 3) COCO-17 x, y px + conf
    (missing joints: NaN, conf 0); boxes_px: (n, 4) x1, y1, x2, y2 px; detected: (n,) bool, False
    on frames bridged by interpolation; joint_interpolated: (n, 17) bool, True where a joint's
    position was interpolated across a gap.
    """

    track_id: int
    frames: np.ndarray
    keypoints_px: np.ndarray
    boxes_px: np.ndarray
    detected: np.ndarray
    joint_interpolated: np.ndarray

    @property
    def length(self) -> int:
        return int(self.frames.shape[0])


@dataclass(frozen=True)
class TrackerConfig:
    max_gap: int = 15            # frames a track may go unmatched and still be bridged
    min_frames: int = 10         # tracks with fewer detected frames are dropped
    max_people: int | None = None
    select: str = "largest"      # "largest" (median box height) or "longest" (detected frames)
    min_iou: float = 0.1
    max_kp_dist: float = 0.6     # in units of sqrt(box area)
    max_cost: float = 0.85
    velocity_smoothing: float = 0.5   # weight of the newest step in the running velocity (0 = no motion model)
    max_speed: float = 0.25           # velocity cap, in box sizes (sqrt of box area) per frame
    age_cost: float = 0.02            # assignment cost per frame a track has gone unmatched (not gated)
    occluded_fraction: float = 0.7    # a detection with fewer of the state's joints keeps the predicted box


@dataclass
class _Raw:
    """One track while tracking: its detections (``frames``, ``kps`` (17, 3), ``boxes`` (4,): what
    is written out) and the motion state used for matching (not written out)."""

    frames: list = field(default_factory=list)
    kps: list = field(default_factory=list)
    boxes: list = field(default_factory=list)
    state_kp: np.ndarray | None = None      # (17, 3) px + conf at frames[-1]; hidden joints carried along
    state_box: np.ndarray | None = None     # (4,) px at frames[-1]; kept through heavy occlusion
    seen: np.ndarray = field(default_factory=lambda: np.full(17, -1))   # (17,) last frame each joint was detected
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))   # (2,) px / frame
    steps: int = 0                                                     # velocity updates so far

    def predict(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Constant-velocity guess of the box ``(4,)`` and keypoints ``(17, 3)`` at ``frame``."""
        shift = self.velocity * (frame - self.frames[-1])
        kp = self.state_kp.copy()
        kp[:, :2] += shift
        return self.state_box + np.tile(shift, 2), kp


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a (n, 4)`` and ``b (m, 4)`` (x1, y1, x2, y2) -> ``(n, m)``."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def keypoint_distance(kp_a: np.ndarray, kp_b: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Median distance (px) over joints visible in both, divided by ``scale (n,)`` -> ``(n, m)``.

    ``kp_a (n, 17, 3)``, ``kp_b (m, 17, 3)`` x, y px + confidence (0 = missing). The median, not
    the mean, so that swinging limbs (which a constant-velocity prediction cannot follow) do not
    drown the head and torso; inf where no joint is shared.
    """
    both = (kp_a[:, None, :, 2] > 0) & (kp_b[None, :, :, 2] > 0)                 # (n, m, 17)
    d = np.linalg.norm(np.nan_to_num(kp_a[:, None, :, :2]) - np.nan_to_num(kp_b[None, :, :, :2]), axis=-1)
    d = np.sort(np.where(both, d, np.inf), axis=-1)                              # shared joints first
    n_both = both.sum(-1)
    lo = np.take_along_axis(d, np.maximum((n_both - 1) // 2, 0)[..., None], -1)[..., 0]
    hi = np.take_along_axis(d, np.minimum(n_both // 2, d.shape[-1] - 1)[..., None], -1)[..., 0]
    med = np.where(n_both > 0, 0.5 * (lo + hi), np.inf)
    return med / np.maximum(scale[:, None], 1e-9)


class Tracker:
    """Online tracker: feed ``update(frame_index, detections)`` in frame order, then ``finish()``."""

    def __init__(self, config: TrackerConfig = TrackerConfig()):
        self.config = config
        self._active: list[_Raw] = []
        self._closed: list[_Raw] = []

    def update(self, frame: int, det: FrameDetections) -> None:
        from scipy.optimize import linear_sum_assignment

        cfg = self.config
        alive = []
        for t in self._active:
            (alive if frame - t.frames[-1] <= cfg.max_gap + 1 else self._closed).append(t)
        self._active = alive
        matched_det: set[int] = set()
        if self._active and det.count:
            pred = [t.predict(frame) for t in self._active]
            boxes = np.stack([p[0] for p in pred])
            kps = np.stack([p[1] for p in pred])
            iou = box_iou(boxes, det.boxes_px)
            scale = np.sqrt(np.clip((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1.0, None))
            kd = keypoint_distance(kps, det.keypoints_px, scale)
            cost = 0.5 * (1 - iou) + 0.5 * np.minimum(kd, 1.0)
            allowed = (iou > cfg.min_iou) | (kd < cfg.max_kp_dist)
            cost = np.where(allowed, cost, 1e6)
            missed = np.array([frame - t.frames[-1] - 1 for t in self._active], float)   # (tracks,)
            rows, cols = linear_sum_assignment(cost + cfg.age_cost * missed[:, None])
            for r, c in zip(rows, cols):
                if cost[r, c] <= cfg.max_cost:
                    self._append(self._active[r], frame, det, c, cfg)
                    matched_det.add(int(c))
        for c in range(det.count):
            if c not in matched_det:
                t = _Raw()
                self._append(t, frame, det, c, cfg)
                self._active.append(t)

    @staticmethod
    def _append(t: _Raw, frame: int, det: FrameDetections, i: int,
                cfg: TrackerConfig = TrackerConfig()) -> None:
        """Add detection ``i`` of ``det`` to track ``t`` at ``frame`` and update its motion state."""
        kp, box = det.keypoints_px[i], det.boxes_px[i]
        vis = (kp[:, 2] > 0) & np.all(np.isfinite(kp[:, :2]), -1)
        if not t.frames:
            t.state_kp, t.state_box = kp.copy(), np.array(box, float)
        else:
            dt = frame - t.frames[-1]
            if cfg.velocity_smoothing > 0:
                observed = t.seen == t.frames[-1]          # state joints detected at its frame
                step = _displacement(np.where(observed[:, None], t.state_kp, 0.0), kp)
                if step is not None:
                    w = 1.0 if t.steps == 0 else cfg.velocity_smoothing
                    v = (1 - w) * t.velocity + w * step / dt
                    size = max(_box_size(box), _box_size(t.state_box))   # an occluded box shrinks
                    speed = float(np.linalg.norm(v))
                    if speed > cfg.max_speed * size:
                        v = v * (cfg.max_speed * size / speed)
                    t.velocity = v if np.all(np.isfinite(v)) else np.zeros(2)
                    t.steps += 1
            pbox, pkp = t.predict(frame)
            n_state = int((t.state_kp[:, 2] > 0).sum())
            t.state_box = np.array(box, float) if vis.sum() >= cfg.occluded_fraction * n_state else pbox
            pkp[vis] = kp[vis]
            stale = ~vis & (frame - t.seen > cfg.max_gap)
            pkp[stale, :2], pkp[stale, 2] = np.nan, 0.0
            t.state_kp = pkp
        t.seen = np.where(vis, frame, t.seen)
        t.frames.append(frame)
        t.kps.append(kp)
        t.boxes.append(box)

    def finish(self) -> list[Track]:
        raws = self._closed + self._active
        self._active, self._closed = [], []
        return _finalise(raws, self.config)


def tracks_from_ids(detections: dict[int, FrameDetections], ids: dict[int, np.ndarray],
                    config: TrackerConfig = TrackerConfig()) -> list[Track]:
    """Tracks from given ids (e.g. a keypoint file from another tracker); gaps > max_gap split."""
    by_id: dict[int, _Raw] = {}
    raws: list[_Raw] = []
    for f in sorted(detections):
        det = detections[f]
        for i, tid in enumerate(ids[f]):
            t = by_id.get(int(tid))
            if t is not None and t.frames[-1] == f:
                continue                       # duplicate id in one frame: keep the first
            if t is None or f - t.frames[-1] > config.max_gap + 1:
                t = _Raw()
                by_id[int(tid)] = t
                raws.append(t)
            Tracker._append(t, f, det, i, config)
    return _finalise(raws, config)


def _box_size(box: np.ndarray) -> float:
    """sqrt of the area (px) of one box ``(4,)`` x1, y1, x2, y2; at least 1."""
    return float(np.sqrt(max((box[2] - box[0]) * (box[3] - box[1]), 1.0)))


def _displacement(kp_a: np.ndarray, kp_b: np.ndarray, min_joints: int = 5) -> np.ndarray | None:
    """Motion ``(2,)`` px from keypoints ``kp_a (17, 3)`` to ``kp_b (17, 3)`` (conf 0 = missing):
    the median over the joints visible in both (robust to limb swing and to joints that vanish
    behind someone); None when fewer than ``min_joints`` are shared."""
    both = (kp_a[:, 2] > 0) & (kp_b[:, 2] > 0) & np.all(np.isfinite(kp_a[:, :2]), -1) \
        & np.all(np.isfinite(kp_b[:, :2]), -1)
    if both.sum() < min_joints:
        return None
    return np.median(kp_b[both, :2] - kp_a[both, :2], axis=0)


def _finalise(raws: list[_Raw], cfg: TrackerConfig) -> list[Track]:
    raws = [t for t in raws if len(t.frames) >= max(1, cfg.min_frames)]
    tracks = [_consecutive(t, cfg.max_gap) for t in raws]
    return select_tracks(tracks, cfg.max_people, cfg.select)


def select_tracks(tracks: list[Track], max_people: int | None, rule: str) -> list[Track]:
    """Keep at most ``max_people`` by ``rule``; renumber ids 0.. by first frame (then left edge)."""
    return [replace(tracks[k], track_id=i) for i, k in enumerate(select_order(tracks, max_people, rule))]


def select_order(tracks: list[Track], max_people: int | None, rule: str) -> list[int]:
    """Indices into ``tracks`` of those :func:`select_tracks` keeps, in its output order (new id i
    is ``tracks[select_order(...)[i]]``)."""
    if rule not in ("largest", "longest"):
        raise ValueError(f"unknown selection rule {rule!r}; expected 'largest' or 'longest'")
    order = list(range(len(tracks)))
    if max_people is not None and len(tracks) > max_people:
        def key(k: int) -> float:
            t = tracks[k]
            if rule == "longest":
                return float(t.detected.sum())
            return float(np.median((t.boxes_px[:, 3] - t.boxes_px[:, 1])[t.detected]))
        order = sorted(order, key=key, reverse=True)[:max_people]
    return sorted(order, key=lambda k: (int(tracks[k].frames[0]), float(tracks[k].boxes_px[0, 0])))


def _consecutive(t: _Raw, max_gap: int) -> Track:
    first, last = t.frames[0], t.frames[-1]
    n = last - first + 1
    frames = np.arange(first, last + 1)
    kp = np.full((n, 17, 3), np.nan)
    kp[..., 2] = 0.0
    boxes = np.full((n, 4), np.nan)
    detected = np.zeros(n, bool)
    idx = np.asarray(t.frames) - first
    kp[idx] = np.stack(t.kps)
    boxes[idx] = np.stack(t.boxes)
    detected[idx] = True
    for k in range(4):  # boxes on bridged frames: linear between neighbours
        boxes[~detected, k] = np.interp(np.flatnonzero(~detected), idx, boxes[idx, k])
    kp, filled = fill_gaps(kp, max_gap)
    return Track(-1, frames, kp, boxes, detected, filled)


def fill_gaps(kp: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate each joint across missing runs of at most ``max_gap`` frames.

    ``kp (n, J, 3)`` x, y, conf with missing = conf 0 (or non-finite x, y). A run is filled only
    when it has valid frames on both sides; the filled confidence is the smaller of the two ends.
    Returns the filled copy and a ``(n, J)`` mask of filled entries.
    """
    kp = np.array(kp, dtype=np.float64, copy=True)
    n, j = kp.shape[:2]
    filled = np.zeros((n, j), bool)
    valid = (kp[..., 2] > 0) & np.all(np.isfinite(kp[..., :2]), axis=-1)
    t = np.arange(n)
    for jj in range(j):
        v = np.flatnonzero(valid[:, jj])
        if v.size < 2:
            continue
        miss = np.flatnonzero(~valid[:, jj])
        miss = miss[(miss > v[0]) & (miss < v[-1])]
        if miss.size == 0:
            continue
        nxt = v[np.searchsorted(v, miss)]
        prv = v[np.searchsorted(v, miss) - 1]
        ok = (nxt - prv - 1) <= max_gap
        miss, nxt, prv = miss[ok], nxt[ok], prv[ok]
        if miss.size == 0:
            continue
        for c in range(2):
            kp[miss, jj, c] = np.interp(t[miss], v, kp[v, jj, c])
        kp[miss, jj, 2] = np.minimum(kp[prv, jj, 2], kp[nxt, jj, 2])
        filled[miss, jj] = True
    return kp, filled
