"""Decode: stream frames from a video file with OpenCV, memory flat in the video's length.

Rotation metadata (portrait phone videos) is honoured: OpenCV applies the container's display
rotation when ``CAP_PROP_ORIENTATION_AUTO`` is on (we switch it on explicitly), and
:class:`VideoInfo` reports the *displayed* size (taken from the first decoded frame) plus the
rotation that was applied. :func:`open_capture` is the one place that opens a capture: the
render reader (:mod:`sasmamba_cli.render.video_io`) uses it too, so the frames it draws the 2D
overlay on are the same displayed frames whose pixel coordinates the results hold.

Unreadable, truncated, empty and audio-only files raise :class:`~sasmamba_cli.errors.InputError`
with what was expected, what was found and how to fix it.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

# a stream is called truncated when fewer than this fraction of the header's frames decode
TRUNCATION_TOLERANCE = 0.98


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a clip before decoding it all.

    ``width``/``height`` are the displayed size in pixels (after rotation); ``rotation`` is the
    clockwise display rotation in degrees from the container (0, 90, 180, 270), already applied to
    the frames; ``frame_count`` is the container header's count (the decoder's true count is
    ``Decoded.frame_count`` once the stream has been read).
    """

    path: Path
    fps: float
    frame_count: int
    width: int
    height: int
    rotation: int
    codec: str


def _describe_unreadable(path: Path) -> str:
    """Best explanation of why OpenCV cannot open ``path`` (PyAV probes for an audio-only file)."""
    try:
        import av

        with av.open(str(path)) as c:
            if not c.streams.video:
                kinds = sorted({s.type for s in c.streams}) or ["none"]
                return f"it has no video stream (streams found: {', '.join(kinds)}; audio-only file?)"
    except Exception as e:
        return f"it is not a readable media container ({type(e).__name__}: {str(e)[:120]})"
    return "OpenCV cannot decode its video stream (corrupt, truncated or unsupported codec)"


def open_capture(path: str | Path):
    """An opened ``cv2.VideoCapture`` of ``path`` that applies the container's display rotation
    (``CAP_PROP_ORIENTATION_AUTO`` on, whatever this OpenCV build's default), so its frames are
    the *displayed* (rotation-corrected) frames whose pixel coordinates the results use. The lift
    decoder and the render reader both open videos here. Raises :class:`InputError` when the file
    is missing or unreadable."""
    import cv2

    path = Path(path)

    if not path.exists():
        raise InputError(f"video {path} not found; expected an existing video file (mp4, mkv, avi, webm, mov ...)")
    if not path.is_file():
        raise InputError(f"{path} is not a file; expected a video file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise InputError(f"cannot read video {path}: {_describe_unreadable(path)}. "
                         "Expected a video file OpenCV reads (H.264, VP9, MPEG-4, MJPG ...); "
                         "re-encode it, e.g. with ffmpeg -i IN -c:v libx264 OUT.mp4")
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return cap



def probe_video(path: str | Path, fps_override: float | None = None) -> VideoInfo:
    """Open ``path``, read its header and first frame; raise :class:`InputError` if unusable."""
    import cv2

    path = Path(path)
    cap = open_capture(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(max(0.0, cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0))
        rotation = int(round(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0.0)) % 360
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
        codec = "".join(chr((fourcc >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00 ") or "unknown"
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None:
        raise InputError(f"video {path} has no decodable frame: {_describe_unreadable(path)}. "
                         "Expected a video with at least one frame")
    if fps_override:
        fps = float(fps_override)
    if not (math.isfinite(fps) and 0.1 <= fps <= 1000.0):
        raise InputError(f"video {path} reports an invalid frame rate ({fps}); expected 0.1-1000 fps. "
                         "Pass the true rate with --fps")
    h, w = frame.shape[:2]
    return VideoInfo(path=path, fps=fps, frame_count=count, width=int(w), height=int(h),
                     rotation=rotation, codec=codec)


def iter_frames(info: VideoInfo, *, start: int = 0, max_frames: int | None = None,
                check_truncation: bool = True) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, frame_bgr)`` with frame_bgr ``(H, W, 3) uint8``, one at a time.

    Frames before ``start`` are decoded and skipped (exact, codec independent). After the last
    frame, raises :class:`InputError` if the stream ended well before the header's frame count
    (a truncated file) and the whole clip was requested.
    """
    cap = open_capture(info.path)
    index = -1
    stop = None if max_frames is None else start + max_frames
    try:
        while stop is None or index + 1 < stop:
            ok = cap.grab()
            if not ok:
                break
            index += 1
            if index < start:
                continue
            ok, frame = cap.retrieve()
            if not ok or frame is None:
                break
            if frame.shape[:2] != (info.height, info.width):
                raise InputError(f"video {info.path}: frame {index} is {frame.shape[1]}x{frame.shape[0]}, "
                                 f"expected {info.width}x{info.height}; variable frame size is not supported")
            yield index, frame
    finally:
        cap.release()
    decoded = index + 1
    if check_truncation and stop is None and info.frame_count > 0 and decoded < TRUNCATION_TOLERANCE * info.frame_count:
        raise InputError(f"video {info.path} is truncated or corrupt: its header says {info.frame_count} frames "
                         f"but only {decoded} decode. Re-copy or re-encode the file, or pass --max-frames "
                         f"{max(decoded - start, 1)} to use the readable part")


def iter_batches(info: VideoInfo, batch_size: int, **kw) -> Iterator[tuple[list[int], list[np.ndarray]]]:
    """Group :func:`iter_frames` into lists of at most ``batch_size`` frames."""
    idx: list[int] = []
    frames: list[np.ndarray] = []
    for i, f in iter_frames(info, **kw):
        idx.append(i)
        frames.append(f)
        if len(frames) == batch_size:
            yield idx, frames
            idx, frames = [], []
    if frames:
        yield idx, frames
