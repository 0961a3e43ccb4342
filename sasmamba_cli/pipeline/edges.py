"""Edge trim: drop the frames at a track's start and end where the person is only partly visible.

Where a person enters or leaves the picture (or steps out from behind someone), the detector sees
only a few of their keypoints for several frames. The lifter was trained on whole people with a
few joints occluded at a time (``training/virtual.py``: occlusion episodes of single joints), not
on a head and one arm: its 3D there is a guess, and at a track's edge no later window can correct
it (a window has context on one side only, and a track shorter than a window is padded by
repeating its first / last frame). On the four real clips of ``../shared/data/videos`` 31 of the
34 BVH joint rotations that turned by more than 90 degrees in one frame lay within 12 frames of a
track's first or last frame, mostly on frames with fewer than 60 % of the keypoints visible;
with this trim at its default 4 remain, 1 of them near an edge (docs/results.md, "Edge trim").

Rule (``sasmamba lift --edge-min-visible FRACTION``, default :data:`DEFAULT_EDGE_MIN_VISIBLE`;
0 turns it off): a frame's *visible fraction* is the share of the 17 COCO keypoints the detector
reported on that frame with confidence at or above the keypoint threshold (``--kp-threshold``;
the pipeline has already set weaker keypoints missing). Joints interpolated across a gap and
frames bridged between detections count as not visible. Each track keeps the frames from its
first to its last frame whose visible fraction is at least ``min_visible``: the leading and
trailing frames below it are removed, nothing in between is. A track with no such frame, or with
fewer detected frames left than the tracker's minimum (``--min-track``, the rule that drops
short tracks), is dropped and reported. This runs on every track before ``--max-people`` picks
people and before ids are numbered, so a partly visible passer-by is judged on the frames that
would be lifted.

Low-visibility frames *inside* a track are kept: they are lifted with context on both sides (the
overlapping windows), single joints missing for up to ``--max-gap`` are interpolated in 2D by the
tracker, the lifter's input carries every joint's confidence (0 = missing), and the 3D is smoothed
over time (``--smooth``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .track import Track

DEFAULT_EDGE_MIN_VISIBLE = 0.6        # >= 11 of the 17 COCO keypoints (docs/results.md, "Edge trim")
N_KEYPOINTS = 17


def visible_fraction(track: Track, kp_threshold: float = 0.0) -> np.ndarray:
    """``(n,)`` share of the 17 COCO keypoints detected on each frame of ``track`` with a finite
    position and confidence > 0 and >= ``kp_threshold``; joints interpolated across a gap
    (``joint_interpolated``) and bridged frames (``detected`` False) are not counted."""
    kp = np.asarray(track.keypoints_px, dtype=np.float64)
    conf = kp[..., 2]
    seen = (conf > 0) & (conf >= kp_threshold) & np.all(np.isfinite(kp[..., :2]), axis=-1)
    seen &= ~np.asarray(track.joint_interpolated, bool)
    seen &= np.asarray(track.detected, bool)[:, None]
    return seen.sum(axis=1) / float(kp.shape[1])


def visible_span(visible: np.ndarray, min_visible: float) -> tuple[int, int] | None:
    """``(first, last)`` row of ``visible (n,)`` at or above ``min_visible`` (inclusive), or None
    when no row is."""
    ok = np.flatnonzero(np.asarray(visible) >= min_visible - 1e-9)
    if ok.size == 0:
        return None
    return int(ok[0]), int(ok[-1])


@dataclass(frozen=True)
class EdgeReport:
    """What the edge trim did to one track. ``first_frame`` / ``last_frame``: the track's video
    frames before trimming; ``trimmed_start`` / ``trimmed_end``: frames removed there;
    ``dropped``: why the whole track was removed (None when it was kept)."""

    first_frame: int
    last_frame: int
    trimmed_start: int
    trimmed_end: int
    max_visible: float
    dropped: str | None = None

    @property
    def frames_trimmed(self) -> int:
        return self.trimmed_start + self.trimmed_end

    def as_dict(self, track_id: int | None = None) -> dict:
        d = {"first_frame": self.first_frame, "last_frame": self.last_frame,
             "trimmed_start": self.trimmed_start, "trimmed_end": self.trimmed_end,
             "max_visible": round(float(self.max_visible), 4)}
        if track_id is not None:
            d = {"track_id": int(track_id), **d}
        if self.dropped:
            d["frames"] = self.last_frame - self.first_frame + 1
            d["reason"] = self.dropped
        return d


def slice_track(track: Track, start: int, stop: int) -> Track:
    """``track`` restricted to rows ``start:stop`` (same id)."""
    sl = slice(start, stop)
    return Track(track.track_id, track.frames[sl], track.keypoints_px[sl], track.boxes_px[sl],
                 track.detected[sl], track.joint_interpolated[sl])


def trim_track(track: Track, min_visible: float, kp_threshold: float = 0.0,
               min_frames: int = 1) -> tuple[Track | None, EdgeReport]:
    """``track`` without its leading and trailing frames whose visible fraction is below
    ``min_visible`` (None when it is dropped: no frame reaches ``min_visible``, or fewer than
    ``min_frames`` detected frames are left), and the report. ``min_visible <= 0`` keeps it whole."""
    n = track.length
    first, last = int(track.frames[0]), int(track.frames[-1])
    if min_visible <= 0:
        return track, EdgeReport(first, last, 0, 0, float("nan"))
    vis = visible_fraction(track, kp_threshold)
    best = float(vis.max()) if n else 0.0
    span = visible_span(vis, min_visible)
    if span is None:
        return None, EdgeReport(first, last, 0, 0, best,
                                f"no frame has {min_visible:.0%} of the keypoints visible (best {best:.0%})")
    a, b = span
    kept = slice_track(track, a, b + 1) if (a, b) != (0, n - 1) else track
    report = EdgeReport(first, last, a, n - 1 - b, best)
    detected = int(np.asarray(kept.detected, bool).sum())
    if detected < max(int(min_frames), 1):
        return None, EdgeReport(first, last, a, n - 1 - b, best,
                                f"{detected} detected frame{'s' if detected != 1 else ''} left with "
                                f"{min_visible:.0%} of the keypoints visible at the edges, fewer than "
                                f"the minimum track length ({min_frames})")
    return kept, report


def trim_tracks(tracks: list[Track], min_visible: float, kp_threshold: float = 0.0,
                min_frames: int = 1) -> tuple[list[Track], list[EdgeReport], list[EdgeReport]]:
    """:func:`trim_track` on each: ``(kept tracks, their reports (same order), reports of the
    dropped tracks)``."""
    kept, reports, dropped = [], [], []
    for t in tracks:
        new, report = trim_track(t, min_visible, kp_threshold, min_frames)
        if new is None:
            dropped.append(report)
        else:
            kept.append(new)
            reports.append(report)
    return kept, reports, dropped


def edge_trim_header(min_visible: float, kp_threshold: float, tracks: list[dict], dropped: list[dict]) -> dict:
    """The result's top-level ``edge_trim`` block."""
    enabled = min_visible > 0
    return {"enabled": bool(enabled), "min_visible": float(min_visible), "keypoint_threshold": float(kp_threshold),
            "method": "leading and trailing frames with fewer than min_visible of the 17 COCO keypoints "
                      "detected at >= keypoint_threshold removed (pipeline/edges.py)",
            "frames_trimmed": int(sum(t["trimmed_start"] + t["trimmed_end"] for t in tracks)),
            "tracks": tracks, "dropped": dropped}


def edge_summary_line(block: dict | None) -> str:
    """One line for the CLI: frames trimmed, tracks dropped (with their frames); "" when nothing changed."""
    if not block or not block.get("enabled"):
        return ""
    tracks, dropped = block.get("tracks", []), block.get("dropped", [])
    cut = [t for t in tracks if t["trimmed_start"] or t["trimmed_end"]]
    if not cut and not dropped:
        return ""
    text = (f"edge trim (tracks start and end where >= {block['min_visible']:.0%} of the keypoints are visible): "
            f"{block['frames_trimmed']} frame{'s' if block['frames_trimmed'] != 1 else ''} removed from "
            f"{len(cut)} track{'s' if len(cut) != 1 else ''}")
    if dropped:
        spans = ", ".join(f"frames {d['first_frame']}-{d['last_frame']}" for d in dropped)
        text += (f"; dropped {len(dropped)} partly visible track{'s' if len(dropped) != 1 else ''} ({spans}; "
                 "--edge-min-visible 0 keeps them)")
    return text
