"""Streaming video in and out: frames are never written as image files.

Reading uses OpenCV (it decodes H.264, VP9, mp4v, MJPG here) opened exactly as the lift decoder
opens it (container rotation applied), so frames and result pixel coordinates agree for portrait
phone videos; the exact frame rate comes from PyAV's stream rate when available. Writing uses
PyAV + libx264 (H.264, yuv420p, plays in browsers) and falls back to OpenCV's mp4v writer when
PyAV is missing. Output is atomic.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InputError
from ..atomic import atomic_path


@dataclass(frozen=True)
class VideoInfo:
    """width, height: size (px) of the decoded frames, i.e. the *displayed* size with the
    container's rotation applied (as the lift decoder sees them, so result pixel coordinates
    apply); fps: exact rate; frame_count: as reported (may be 0); rotation: clockwise degrees of
    container rotation that was applied (0, 90, 180, 270)."""

    width: int
    height: int
    fps: Fraction
    frame_count: int
    rotation: int = 0


def fps_fraction(fps: float) -> Fraction:
    """29.97002997 -> 30000/1001, 30.0 -> 30, 12.5 -> 25/2."""
    return Fraction(float(fps)).limit_denominator(1001)


def probe(path: str | Path) -> VideoInfo:
    """Header facts of ``path`` plus the size of its first decoded frame (rotation applied).

    Opens the file exactly as the lift decoder does (:func:`sasmamba_cli.pipeline.video.open_capture`):
    the size comes from a decoded frame, not from the header, because the header's width and
    height are the *stored* ones, which a portrait phone video has swapped."""
    import cv2

    from ..pipeline.video import open_capture

    cap = open_capture(path)
    try:
        rate, count = float(cap.get(cv2.CAP_PROP_FPS)), int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        rotation = int(round(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0.0)) % 360
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None:
        raise InputError(f"{path}: expected a video with at least one decodable frame, found none")
    fps = fps_fraction(rate) if rate > 0 else Fraction(0)
    with contextlib.suppress(Exception):
        import av

        with av.open(str(path)) as c:
            rate = c.streams.video[0].average_rate or c.streams.video[0].guessed_rate
            if rate:
                fps = Fraction(rate).limit_denominator(1001)
    if fps <= 0:
        raise InputError(f"{path}: the video has no frame rate; expected a normal video file")
    h, w = frame.shape[:2]
    return VideoInfo(int(w), int(h), fps, max(count, 0), rotation)


def read_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Yield BGR uint8 frames ``(H, W, 3)`` one by one, rotation applied (the displayed frames,
    as :func:`sasmamba_cli.pipeline.video.iter_frames` yields them)."""
    from ..pipeline.video import open_capture

    cap = open_capture(path)
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield frame
    finally:
        cap.release()


def prefetch(items: Iterator, depth: int = 8) -> Iterator:
    """Run an iterator in a background thread (decode + draw overlap with encoding)."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as e:  # re-raised in the consumer
            q.put(e)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


class VideoWriter:
    """Encode BGR frames ``(height, width, 3)`` into an MP4 at ``fps``; use as a context manager.

    backend: "pyav" (H.264) or "opencv" (mp4v); "auto" picks PyAV when importable.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: Fraction | float,
                 backend: str = "auto", crf: int = 23, preset: str = "superfast"):
        if width % 2 or height % 2:
            raise ValueError(f"frame size must be even for yuv420p, found {width}x{height}")
        self.path = Path(path)
        self.width, self.height = width, height
        self.fps = fps if isinstance(fps, Fraction) else fps_fraction(fps)
        if backend == "auto":
            try:
                import av  # noqa: F401
                backend = "pyav"
            except ImportError:
                backend = "opencv"
        self.backend = backend
        self.crf, self.preset = crf, preset
        self.frames = 0
        self._atomic = None

    def __enter__(self) -> "VideoWriter":
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        if self.backend == "pyav":
            import av

            self._container = av.open(str(tmp), mode="w", format="mp4")
            self._stream = self._container.add_stream("libx264", rate=self.fps)
            self._stream.width, self._stream.height = self.width, self.height
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"crf": str(self.crf), "preset": self.preset}
            self._av = av
        elif self.backend == "opencv":
            import cv2

            self._cv = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(self.fps),
                                       (self.width, self.height))
            if not self._cv.isOpened():
                raise InputError(f"{self.path}: OpenCV cannot write mp4v here; install PyAV (`pip install av`)")
        else:
            raise ValueError(f"unknown video backend {self.backend!r}; expected 'pyav' or 'opencv'")
        return self

    def write(self, frame_bgr: np.ndarray) -> None:
        if frame_bgr.shape != (self.height, self.width, 3):
            raise ValueError(f"expected a frame of shape {(self.height, self.width, 3)}, found {frame_bgr.shape}")
        if self.backend == "pyav":
            import cv2   # its BGR -> I420 conversion is ~3x faster than PyAV's swscale here

            i420 = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2YUV_I420)
            vf = self._av.VideoFrame.from_ndarray(i420, format="yuv420p")
            for packet in self._stream.encode(vf):
                self._container.mux(packet)
        else:
            self._cv.write(frame_bgr)
        self.frames += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self.backend == "pyav":
                if exc_type is None:
                    for packet in self._stream.encode():
                        self._container.mux(packet)
                self._container.close()
            else:
                self._cv.release()
        finally:
            self._atomic.__exit__(exc_type, exc, tb)
