"""Rendering: frame count / fps / size match the input, panels carry the input, CLI, summary PNG."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from sasmamba_cli.errors import InputError
from sasmamba_cli.pipeline.result import write_json
from sasmamba_cli.export.synthetic import synthetic_result
from sasmamba_cli.render.compose import render_result, render_result_stats
from sasmamba_cli.render.video_io import VideoWriter, fps_fraction, probe, read_frames

W, H = 160, 96


def _make_video(path: Path, n: int, fps=Fraction(25)) -> Path:
    with VideoWriter(path, W, H, fps) as w:
        for i in range(n):
            w.write(np.full((H, W, 3), 10 + 15 * i, np.uint8))
    return path


def _count(path: Path) -> int:
    return sum(1 for _ in read_frames(path))


def test_fps_fraction():
    assert fps_fraction(29.97002997) == Fraction(30000, 1001)
    assert fps_fraction(30.0) == 30 and fps_fraction(12.5) == Fraction(25, 2)


def test_render_with_video_keeps_frames_fps_and_input(tmp_path):
    video = _make_video(tmp_path / "in.mp4", 12)
    res = synthetic_result(9, 2, seed=1, fps=25.0, width=W, height=H, first_frame=2, anatomical=True)
    st = render_result_stats(res, video, tmp_path / "out.mp4")
    assert st.frames == 12 and st.backend == "pyav"
    info = probe(st.path)
    assert info.fps == 25 and (info.width, info.height) == (W + H, H)
    frames = list(read_frames(st.path))
    assert len(frames) == 12
    # top-left corner of the left panel is the input frame (no overlay there)
    assert abs(int(frames[0][2, 2, 1]) - 10) < 8 and abs(int(frames[11][2, 2, 1]) - 175) < 8
    # the 3D panel changes over time (skeletons drawn) and is not the input
    assert np.abs(frames[5][:, W:].astype(int) - frames[0][:, W:].astype(int)).sum() > 0
    assert st.summary is not None and st.summary.stat().st_size > 10_000


def test_render_without_video_uses_source_frames_and_fps(tmp_path):
    res = synthetic_result(15, 1, fps=30000 / 1001, width=W, height=H, first_frame=3)
    out = render_result(res.to_dict(), None, tmp_path / "blank.mp4", summary=False)
    info = probe(out)
    assert info.fps == Fraction(30000, 1001)
    assert _count(out) == res.source.frame_count == 18
    assert not (tmp_path / "blank_summary.png").exists()


def test_opencv_fallback_writer(tmp_path):
    res = synthetic_result(6, 1, width=W, height=H)
    st = render_result_stats(res, None, tmp_path / "cv.mp4", backend="opencv", summary=False)
    assert st.backend == "opencv" and _count(st.path) == 6


def test_output_height_option(tmp_path):
    res = synthetic_result(4, 1, width=640, height=480)
    st = render_result_stats(res, None, tmp_path / "h.mp4", height=240, summary=False)
    assert st.size == (320 + 240, 240)


def test_unreadable_video_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(InputError):
        render_result(synthetic_result(4, 1), bad, tmp_path / "o.mp4")
    assert not (tmp_path / "o.mp4").exists()


def test_render_command(tmp_path):
    from sasmamba_cli.commands import render

    app = typer.Typer()
    render.register(app)

    @app.command("noop")
    def _noop():
        pass

    write_json(synthetic_result(8, 1, width=W, height=H, fps=25.0), tmp_path / "clip.json")
    video = _make_video(tmp_path / "clip.mp4", 8)
    r = CliRunner().invoke(app, ["render", str(tmp_path / "clip.json"), "--video", str(video), "--no-summary"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "clip_render.mp4").is_file() and "rendered 8 frames" in r.output


def test_render_warns_when_the_video_is_not_the_results_source(tmp_path, capsys):
    import json

    from sasmamba_cli.render.compose import video_mismatch

    video = _make_video(tmp_path / "clip.mp4", 6)
    other = _make_video(tmp_path / "other.mp4", 6)
    size = video.stat().st_size
    fp = {"name": "clip.mp4", "bytes": size, "mtime_ns": 1}
    assert video_mismatch(fp, video) is None                        # same name and size: silent
    assert video_mismatch(None, other) is None                      # no fingerprint: silent
    msg = video_mismatch({"name": "clip.mp4", "bytes": size + 1}, other)
    assert msg and "expected clip.mp4" in msg and f"({size + 1} bytes)" in msg and "found other.mp4" in msg

    d = synthetic_result(6, 1, width=W, height=H, fps=25.0).to_dict()
    d["source"]["fingerprint"] = fp
    d["source"]["codec"] = "avc1"
    (tmp_path / "r.json").write_text(json.dumps(d))
    st = render_result_stats(tmp_path / "r.json", other, tmp_path / "o.mp4", summary=False)
    assert st.frames == 6                                           # a warning, not an error
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "expected clip.mp4" in err and "found other.mp4" in err
    render_result_stats(tmp_path / "r.json", video, tmp_path / "o2.mp4", summary=False)
    d["source"]["codec"] = None                                     # keypoint-file input: not a video's fingerprint
    render_result_stats(d, other, tmp_path / "o3.mp4", summary=False)
    assert "warning" not in capsys.readouterr().err
