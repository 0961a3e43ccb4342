"""Fault injection on inputs. Hostile keypoint files: huge, negative or out-of-image coordinates become missing, are counted,
and no numpy warning reaches the user; a file with nothing plausible left is refused clearly."""
import json
import warnings

import numpy as np
import pytest

from sasmamba_cli.errors import NoPersonError
from sasmamba_cli.pipeline.keypoints_io import read_keypoints


def _file(tmp_path, kps):
    anns = [{"image_id": f, "track_id": 0, "keypoints": [v for p in kp for v in p]} for f, kp in enumerate(kps)]
    p = tmp_path / "k.json"
    p.write_text(json.dumps({"width": 640, "height": 480, "fps": 30, "annotations": anns}))
    return p


def _person(dx=0.0):
    return [[200 + dx + 10 * j, 100 + 15 * j, 0.9] for j in range(17)]


def test_far_points_become_missing_and_are_counted(tmp_path):
    kps = [_person(f) for f in range(10)]
    kps[2][3] = [1e300, 5.0, 0.9]          # huge
    kps[4][5] = [-2000.0, 100.0, 0.9]      # far left of the image
    kps[6][7] = [300.0, 1e5, 0.9]          # far below
    kps[8][9] = [-30.0, 100.0, 0.9]        # a little outside: plausible (partly out of frame), kept
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # any numpy RuntimeWarning fails the test
        src = read_keypoints(_file(tmp_path, kps), kp_threshold=0.5)
    assert src.out_of_range == 3
    kp = lambda f: src.detections[f].keypoints_px[0]
    assert kp(2)[3, 2] == 0 and np.isnan(kp(2)[3, 0])
    assert kp(4)[5, 2] == 0 and kp(6)[7, 2] == 0
    assert kp(8)[9, 0] == -30.0 and kp(8)[9, 2] > 0
    assert np.all(np.isfinite(src.detections[2].boxes_px))     # the box ignores the huge point


def test_nothing_plausible_left_is_refused(tmp_path):
    kps = [[[1e300, 1e300, 0.9]] * 17 for _ in range(5)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NoPersonError, match="outside the 640x480 image"):
            read_keypoints(_file(tmp_path, kps), kp_threshold=0.5)


def test_ffmpeg_lines_do_not_reach_stderr(tmp_path):
    """A truncated mp4: our one-line message, not FFmpeg's 'moov atom not found' (SASMAMBA_VERBOSE=1 keeps it)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    demo = Path(__file__).resolve().parents[1] / "assets" / "demo" / "cam01.mp4"
    bad = tmp_path / "trunc.mp4"
    bad.write_bytes(demo.read_bytes()[:20000])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCV_", "SASMAMBA_VERBOSE"))}
    env["YOLO_CONFIG_DIR"] = str(tmp_path / "yolo")
    p = subprocess.run([sys.executable, "-m", "sasmamba_cli", "lift", str(bad), "--out", str(tmp_path / "o"), "-q"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2
    assert "moov atom" not in p.stderr and "cannot read video" in p.stderr
    p = subprocess.run([sys.executable, "-m", "sasmamba_cli", "lift", str(bad), "--out", str(tmp_path / "o"), "-q"],
                       capture_output=True, text=True, env={**env, "SASMAMBA_VERBOSE": "1"}, timeout=120)
    assert "moov atom" in p.stderr


def test_realval_benchmark_skips_cleanly_without_the_data(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "realval.py"
    p = subprocess.run([sys.executable, str(script), "--realval", str(tmp_path / "absent")], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and "skipped" in p.stdout


def test_non_latin_file_name_draws_without_glyph_warnings(tmp_path):
    import warnings

    from sasmamba_cli.export.synthetic import synthetic_result
    from sasmamba_cli.render.summary import drawable, write_summary

    assert drawable("walk.mp4") == "walk.mp4"
    assert drawable("步行.mp4").endswith(".mp4")
    r = synthetic_result(n_frames=30)
    r = r.with_tracks(r.tracks, source={**r.header["source"], "path": "视频_步行.mp4"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # matplotlib's 'Glyph ... missing' is a UserWarning
        write_summary(r, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0
