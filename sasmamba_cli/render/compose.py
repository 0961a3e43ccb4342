"""``render_result``: input frame + 2D overlay | 3D view, streamed into one MP4.

One output frame per input frame, at the input's frame rate. The 3D panel uses the clip's world
frame (Y up, floor at y = 0, as in the BVH export) and a fixed virtual camera for the whole clip.
"""
from __future__ import annotations

import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..export.track_rig import world_frame_of
from ..pipeline.result import ClipResult, as_result, result_from_dict, result_to_dict
from .draw import View3D, draw_skeleton, make_view, track_colour
from .video_io import VideoWriter, fps_fraction, prefetch, probe, read_frames


@dataclass(frozen=True)
class RenderStats:
    """path: the MP4; frames written; fps of the output; size (width, height); backend used;
    summary: the summary PNG (None when not written)."""

    path: Path
    frames: int
    fps: float
    size: tuple[int, int]
    backend: str
    summary: Path | None


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


@dataclass(frozen=True)
class _TrackDraw:
    track_id: int
    first: int
    kp2d: np.ndarray       # (n, 17, 3) px + conf (source pixels)
    world_m: np.ndarray    # (n, 17, 3) world metres
    colour: tuple


def _prepare(res: ClipResult) -> list[_TrackDraw]:
    world = world_frame_of(res)
    return [_TrackDraw(t.track_id, int(t.frames[0]), np.nan_to_num(t.keypoints_2d_px, nan=0.0),  # missing: 0, conf 0
                       world.to_world_cm(t.positions_camera_m()) / 100.0, track_colour(t.track_id))
            for t in res.tracks]


def _frame_rows(tracks: list[_TrackDraw], i: int):
    for t in tracks:
        r = i - t.first
        if 0 <= r < len(t.kp2d):
            yield t, r


def render_frames(res: ClipResult, frames, src_size: tuple[int, int], n_total: int, fps: float,
                  height: int | None = None):
    """Yield composed BGR frames for an iterable of input frames (None = blank canvas)."""
    import cv2

    src_w, src_h = src_size
    out_h = _even(min(src_h, height or 720))
    s = out_h / src_h
    left_w = _even(src_w * s)
    tracks = _prepare(res)
    pts = np.concatenate([t.world_m.reshape(-1, 3) for t in tracks]) if tracks else np.zeros((0, 3))
    view: View3D = make_view(pts, out_h)
    bg3d = view.background()
    proj = [view.project(t.world_m) for t in tracks]
    blank = np.full((out_h, left_w, 3), 24, np.uint8)
    thick = max(1, round(out_h / 300))
    font = max(0.4, out_h / 1200)
    for i, frame in enumerate(frames):
        if frame is None:
            left = blank.copy()
        elif frame.shape[:2] != (out_h, left_w):
            left = cv2.resize(frame, (left_w, out_h), interpolation=cv2.INTER_AREA)
        else:
            left = frame.copy()
        right = bg3d.copy()
        for k, (t, r) in enumerate(_frame_rows(tracks, i)):
            kp = t.kp2d[r]
            valid = kp[:, 2] > 0
            draw_skeleton(left, kp[:, :2] * s, t.colour, valid, thick, thick + 1)
            if valid.any():
                top = kp[valid, :2].min(0) * s
                cv2.putText(left, f"id {t.track_id}", (int(top[0]), max(12, int(top[1]) - 6)),
                            cv2.FONT_HERSHEY_SIMPLEX, font, t.colour, thick, cv2.LINE_AA)
            draw_skeleton(right, proj[tracks.index(t)][r], t.colour, None, thick, thick + 1)
        cv2.putText(right, f"frame {i + 1}/{n_total}  {i / fps:6.2f} s", (8, int(24 * font / 0.6)),
                    cv2.FONT_HERSHEY_SIMPLEX, font, (230, 230, 230), thick, cv2.LINE_AA)
        yield np.concatenate([left, right], axis=1)


def render_result(result, video_path: str | Path | None, out_path: str | Path, *,
                  height: int | None = None, summary: bool = True, backend: str = "auto") -> Path:
    """Render ``result`` (ClipResult, dict or JSON path) to ``out_path`` (MP4) and return the path.

    video_path: the input video (None: the 2D panel is a blank canvas of the source size and the
    output has ``source.frame_count`` frames at ``source.fps``). height: output height in pixels
    (default: the input's, at most 720). summary: also write ``<out stem>_summary.png``.
    """
    return render_result_stats(result, video_path, out_path, height=height, summary=summary,
                               backend=backend).path


def _source_fingerprint(d) -> dict | None:
    """``source.fingerprint`` ({name, bytes, mtime_ns}) of the input video of a result dict; None
    when there is none (results written before fingerprints) or the input was a keypoint file
    (``codec`` None: the fingerprint is the keypoint file's, not a video's)."""
    src = d.get("source") if isinstance(d, dict) else None
    if not isinstance(src, dict) or ("codec" in src and src["codec"] is None):
        return None
    fp = src.get("fingerprint")
    return fp if isinstance(fp, dict) and ("name" in fp or "bytes" in fp) else None


def video_mismatch(fingerprint: dict | None, video_path: str | Path) -> str | None:
    """A warning when ``video_path``'s file name or size differs from the result's source
    fingerprint (it is probably not the video the result was lifted from); None when they agree
    or there is no fingerprint to compare with."""
    if not fingerprint:
        return None
    video_path = Path(video_path)
    try:
        found_bytes = video_path.stat().st_size
    except OSError:
        return None
    exp_name, exp_bytes = fingerprint.get("name"), fingerprint.get("bytes")
    name_differs = exp_name is not None and str(exp_name) != video_path.name
    size_differs = exp_bytes is not None and exp_bytes != found_bytes
    if not (name_differs or size_differs):
        return None
    return (f"{video_path} may not be the video this result was lifted from: expected "
            f"{exp_name} ({exp_bytes} bytes), found {video_path.name} ({found_bytes} bytes); "
            "rendering it anyway, but the 2D overlay may not match its frames")


def render_result_stats(result, video_path, out_path, *, height=None, summary=True,
                        backend="auto") -> RenderStats:
    raw = result
    if isinstance(result, (str, Path)) and Path(result).is_file():
        try:                                     # parse once: the result and its source fingerprint
            raw = json.loads(Path(result).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            raw = result                         # let as_result report what is wrong with it
    elif isinstance(result, ClipResult):
        raw = result_to_dict(result)             # the values as its JSON holds them, and the fingerprint
    if raw is result:
        res = as_result(result)
    else:
        res = result_from_dict(raw, where=str(result) if isinstance(result, (str, Path)) else "result")
    out_path = Path(out_path)
    if video_path is not None:
        warning = video_mismatch(_source_fingerprint(raw), video_path)
        if warning:
            print(f"warning: {warning}", file=sys.stderr, flush=True)
        info = probe(video_path)
        size, fps = (info.width, info.height), info.fps
        if size != (res.source.width, res.source.height):
            from ..errors import InputError
            raise InputError(
                f"{video_path}: expected the result's input video, whose displayed frames are "
                f"{res.source.width}x{res.source.height} px (rotation {res.source.rotation} degrees applied), "
                f"found {info.width}x{info.height} px frames (rotation {info.rotation} applied); the 2D overlay "
                "would not line up. Pass the video the result was lifted from, or render without --video")
        n_total = info.frame_count or res.source.frame_count
        frames = read_frames(video_path)
    else:
        size, fps = (res.source.width, res.source.height), fps_fraction(res.source.fps)
        n_total = res.source.frame_count
        frames = itertools.repeat(None, n_total)
    composed = prefetch(render_frames(res, frames, size, n_total, float(fps), height))
    first = next(composed, None)
    if first is None:
        from ..errors import InputError
        raise InputError(f"{video_path}: expected video frames, found none")
    h, w = first.shape[:2]
    with VideoWriter(out_path, w, h, fps, backend=backend) as writer:
        writer.write(first)
        for img in composed:
            writer.write(img)
    png = None
    if summary:
        from .summary import write_summary
        png = write_summary(res, out_path.with_name(out_path.stem + "_summary.png"))
    return RenderStats(out_path, writer.frames, float(fps), (w, h), writer.backend, png)
