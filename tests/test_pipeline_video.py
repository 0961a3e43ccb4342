"""Decoding: fps, frame counts, frame ranges, rotation metadata, errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sasmamba_cli.errors import InputError
from sasmamba_cli.pipeline.video import iter_batches, iter_frames, probe_video
from _video_helpers import set_rotation_90


def write_h264(path: Path, frames: int = 12, size=(64, 32), fps: int = 24) -> Path:
    """A clip whose left 8 columns are white (so rotation is visible)."""
    import av
    w, h = size
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            img = np.zeros((h, w, 3), np.uint8)
            img[:, :8] = 255
            img[-1, -1] = i
            for p in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return path


def test_probe_reports_fps_size_and_count(tmp_path):
    info = probe_video(write_h264(tmp_path / "a.mp4", frames=12, fps=24))
    assert (info.width, info.height, info.fps, info.frame_count, info.rotation) == (64, 32, 24.0, 12, 0)
    frames = list(iter_frames(info))
    assert [i for i, _ in frames] == list(range(12)) and frames[0][1].shape == (32, 64, 3)


def test_frame_range_and_batches(tmp_path):
    info = probe_video(write_h264(tmp_path / "a.mp4", frames=12))
    assert [i for i, _ in iter_frames(info, start=3, max_frames=4)] == [3, 4, 5, 6]
    batches = list(iter_batches(info, 5, start=2))
    assert [b[0] for b in batches] == [[2, 3, 4, 5, 6], [7, 8, 9, 10, 11]]


def test_rotation_metadata_is_honoured(tmp_path):
    rotated = set_rotation_90(write_h264(tmp_path / "a.mp4"))
    info = probe_video(rotated)
    assert info.rotation == 90 and (info.width, info.height) == (32, 64)       # portrait after rotation
    _, frame = next(iter_frames(info))
    assert frame.shape == (64, 32, 3)
    assert frame[:8, :, 0].mean() > 200 and frame[16:, :, 0].mean() < 50       # left edge went to the top


def test_fps_override_and_invalid_inputs(tmp_path):
    info = probe_video(write_h264(tmp_path / "a.mp4"), fps_override=50)
    assert info.fps == 50
    with pytest.raises(InputError, match="not found"):
        probe_video(tmp_path / "missing.mp4")
    with pytest.raises(InputError, match="not a file"):
        probe_video(tmp_path)
