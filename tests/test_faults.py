"""Fault injection (issue 16), one module: hostile keypoint files, corrupt inputs, disk full
(a write that raises ENOSPC), a read-only output folder, SIGKILL while a clip is being written and
SIGINT (Ctrl-C) mid-batch. For each: a clear message and the documented exit code
(docs/errors.md), no output of a failed or interrupted clip left behind (at most hidden
temporaries that the next run removes), the other clips unaffected, and a rerun that finishes the
batch with an uninterrupted run's outputs. Helpers: tests/faults_helpers.py (shared with the Ray
engine's fault tests in tests/test_ray_engine.py)."""
import errno
import json
import signal
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from faults_helpers import (LIFT_FAST, assert_no_partial_sets, assert_same_outputs, keypoint_clip, lift_cmd,
                            lift_env, run_lift, summary_status, temporaries, visible, wait_for)
from sasmamba_cli.errors import InputError, NoPersonError, OutputError
from sasmamba_cli.pipeline.keypoints_io import read_keypoints

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lifted(tmp_path_factory):
    """Three small keypoint clips ``in/{a,b,c}.json`` and their outputs from one uninterrupted
    ``sasmamba lift`` in a subprocess (``ref/``), the reference of the kill and Ctrl-C tests."""
    root = tmp_path_factory.mktemp("lifted")
    for i, s in enumerate("abc"):
        keypoint_clip(root / "in" / f"{s}.json", seed=20 + i)
    ref = run_lift(root, "--keypoints", root / "in", "-f", "json,npz,csv", *LIFT_FAST, "--out", root / "ref")
    assert ref.returncode == 0 and set(summary_status(root / "ref").values()) == {"ok"}, ref.stderr[-2000:]
    return root / "in", root / "ref"


@pytest.fixture(scope="module")
def pipeline():
    from sasmamba_cli.pipeline.run import LiftPipeline, LiftSettings

    return LiftPipeline(LiftSettings(formats=("json", "npz", "csv"), device="cpu", weights="sasmamba_xs"))


# --- hostile keypoint files ---------------------------------------------------------------------

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


def test_corrupt_keypoint_files_in_a_batch(tmp_path, pipeline):
    """Broken JSON, a 0-byte file, wrong joint counts and strings for numbers: each clip fails with
    exit code 2 and a message naming what was expected; the good clips of the batch finish and
    nothing of a failed clip is written."""
    import sasmamba_cli.batch as batch

    good = keypoint_clip(tmp_path / "in" / "good.json")
    broken = tmp_path / "in" / "broken.json"
    broken.write_text('{"annotations": [{"image_id": 0, "keypoints": [1, 2')
    empty = tmp_path / "in" / "empty.json"
    empty.write_bytes(b"")
    short = tmp_path / "in" / "short.json"
    short.write_text(json.dumps({"width": 640, "height": 480, "fps": 30,
                                 "annotations": [{"image_id": 0, "keypoints": [1.0] * 48}]}))
    words = tmp_path / "in" / "words.json"
    words.write_text(json.dumps({"width": 640, "height": 480, "fps": 30,
                                 "annotations": [{"image_id": 0, "keypoints": ["x"] * 51}]}))
    late = keypoint_clip(tmp_path / "in" / "late.json", seed=3)
    out = tmp_path / "out"
    rows = batch.run_batch(pipeline, [good, broken, empty, short, words, late], out, keypoints_mode=True)
    assert [r.status for r in rows] == ["ok", "failed", "failed", "failed", "failed", "ok"]
    assert all(r.exit_code == InputError.exit_code == 2 for r in rows[1:5])
    assert "not valid JSON" in rows[1].message and "not valid JSON" in rows[2].message
    assert "expected 51 numbers (17 COCO keypoints x, y, score), found 48" in rows[3].message
    assert "keypoint value 'x' is not a number" in rows[4].message
    assert batch.batch_exit_code(rows) == 2
    assert_no_partial_sets(out, ["good", "broken", "empty", "short", "words", "late"]) == {
        "good": True, "broken": False, "empty": False, "short": False, "words": False, "late": True}


# --- corrupt videos: our message, not the libraries' -------------------------------------------

def test_ffmpeg_lines_do_not_reach_stderr(tmp_path):
    """A truncated mp4: our one-line message, not FFmpeg's 'moov atom not found' (SASMAMBA_VERBOSE=1 keeps it)."""
    demo = ROOT / "assets" / "demo" / "cam01.mp4"
    bad = tmp_path / "trunc.mp4"
    bad.write_bytes(demo.read_bytes()[:20000])
    env = {k: v for k, v in lift_env(tmp_path).items() if not k.startswith(("OPENCV_", "SASMAMBA_VERBOSE"))}
    p = subprocess.run(lift_cmd(bad, "--out", tmp_path / "o", "-q"), capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 2
    assert "moov atom" not in p.stderr and "cannot read video" in p.stderr
    p = subprocess.run(lift_cmd(bad, "--out", tmp_path / "o", "-q"), capture_output=True, text=True,
                       env={**env, "SASMAMBA_VERBOSE": "1"}, timeout=120)
    assert "moov atom" in p.stderr


# --- disk full, read-only folder ---------------------------------------------------------------

def test_disk_full_leaves_nothing_of_the_clip(tmp_path, monkeypatch, pipeline):
    import sasmamba_cli.batch as batch

    a, b = keypoint_clip(tmp_path / "a.json"), keypoint_clip(tmp_path / "b.json", dx=20)
    out = tmp_path / "out"
    real = batch.write_json_streamed
    calls = []

    def full(r, path, header=None):
        calls.append(path)
        if path.name == "a.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(r, path, header)

    monkeypatch.setattr(batch, "write_json_streamed", full)
    rows = batch.run_batch(pipeline, [a, b], out, keypoints_mode=True)
    assert [r.status for r in rows] == ["failed", "ok"]
    assert rows[0].exit_code == OutputError.exit_code == 4
    assert "disk full" in rows[0].message and "MB free" in rows[0].message
    left = sorted(p.name for p in out.iterdir())
    assert not any(n.startswith("a.") or n.startswith(".a.") for n in left), left   # no npz/csv of a
    assert {"b.json", "b.npz", "b.csv"} <= set(left)
    monkeypatch.setattr(batch, "write_json_streamed", real)
    rows = batch.run_batch(pipeline, [a, b], out, keypoints_mode=True)                 # rerun: resume
    assert [r.status for r in rows] == ["ok", "skipped"]


def test_folder_turning_read_only_mid_batch(tmp_path, monkeypatch, pipeline):
    """The output folder becomes read-only after the first clip (a remount, a quota): every later
    write fails like a read-only file system (EROFS, as root sees it too); those clips fail with
    exit code 4 and a message that says so, the finished clip stays, nothing partial is left."""
    import tempfile

    import sasmamba_cli.batch as batch

    clips = [keypoint_clip(tmp_path / f"{s}.json", seed=i) for i, s in enumerate("abc")]
    out = tmp_path / "out"
    real_mkstemp = tempfile.mkstemp
    state = {"ro": False, "blocked": 0}

    def mkstemp(suffix=None, prefix=None, dir=None, text=False):
        if state["ro"] and dir is not None and Path(dir).resolve() == out.resolve():
            state["blocked"] += 1
            raise OSError(errno.EROFS, "Read-only file system", str(Path(dir) / (prefix or "")))
        return real_mkstemp(suffix=suffix, prefix=prefix, dir=dir, text=text)

    real_run = pipeline.run_keypoints

    def run_then_lock(path):
        if Path(path).name != "a.json":
            state["ro"] = True                    # after a's outputs: the folder turns read-only
        return real_run(path)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(pipeline, "run_keypoints", run_then_lock)
    rows = batch.run_batch(pipeline, clips, out, keypoints_mode=True)
    assert [r.status for r in rows] == ["ok", "failed", "failed"] and state["blocked"] >= 2
    for r in rows[1:]:
        assert r.exit_code == OutputError.exit_code == 4
        assert "cannot write" in r.message and "Read-only file system" in r.message and "writable --out" in r.message
    assert assert_no_partial_sets(out, ["a", "b", "c"]) == {"a": True, "b": False, "c": False}
    monkeypatch.undo()
    rows = batch.run_batch(pipeline, clips, out, keypoints_mode=True)                  # writable again
    assert [r.status for r in rows] == ["skipped", "ok", "ok"]


# --- SIGKILL while writing, SIGINT mid-batch ----------------------------------------------------

KILL_AT_RENAME = """
import os, signal
from pathlib import Path
import sasmamba_cli.atomic as atomic
real_replace = os.replace
def replace(src, dst):
    if Path(dst).name == 'b.csv':
        os.kill(os.getpid(), signal.SIGKILL)   # b's CSV temporary is written, not yet renamed
    return real_replace(src, dst)
atomic.os.replace = replace
"""

KILL_BEFORE_JSON = """
import os, signal
import sasmamba_cli.batch as batch
real_json = batch.write_json_streamed
def killer(r, path, header=None):
    if path.name == 'b.json':                   # after b's npz and csv, before the JSON that marks it done
        os.kill(os.getpid(), signal.SIGKILL)
    return real_json(r, path, header)
batch.write_json_streamed = killer
"""


def test_sigkill_mid_write_then_rerun(tmp_path, lifted):
    """kill -9 in the middle of a batch (a, b, c) while b is being written: between a temporary
    and its rename, then (on the rerun) after b's data files but before its JSON. Nothing partial
    is ever taken as done (a is complete, b has no JSON, c nothing), and the next rerun skips a,
    does b and c, with outputs identical to an uninterrupted run's."""
    src, ref = lifted
    args = ("--keypoints", src, "-f", "json,npz,csv", *LIFT_FAST)
    out = tmp_path / "out"
    for hook in (KILL_AT_RENAME, KILL_BEFORE_JSON):
        killed = run_lift(tmp_path, *args, "--out", out, hook=hook)
        assert killed.returncode == -9                                   # really killed mid-clip
        assert (out / "a.json").exists() and not (out / "b.json").exists()   # b is not marked done
        assert visible(out) <= {"a.json", "a.npz", "a.csv", "b.npz", "b.csv"}   # complete files or none
    assert (out / "b.npz").exists() and (out / "b.csv").exists()         # the second kill came after both
    again = run_lift(tmp_path, *args, "--out", out)
    assert again.returncode == 0, again.stderr[-2000:]
    assert summary_status(out) == {"a.json": "skipped", "b.json": "ok", "c.json": "ok"}   # b redone
    assert not temporaries(out)                                          # temporaries removed
    for s in "abc":
        assert_same_outputs(out, ref, s)


BLOCK_IN_CSV = """
import os, time
from pathlib import Path
import sasmamba_cli.export.formats as outputs
real_csv = outputs.WRITERS['csv']
def blocking(r, d, out, stem):
    if stem == 'b':                             # b's npz is written; its csv blocks until Ctrl-C
        Path(os.environ['FAULT_MARK']).touch()
        time.sleep(120)
    return real_csv(r, d, out, stem)
outputs.WRITERS['csv'] = blocking
"""


def test_sigint_mid_batch_then_rerun(tmp_path, lifted):
    """Ctrl-C (SIGINT) while clip b of a, b, c is being written: exit code 130 and the 'run the
    same command again' line, a kept whole, nothing of b (its finished NPZ removed too) or c, no
    temporaries; the rerun skips a, does b and c, and they equal an uninterrupted run's."""
    src, ref = lifted
    args = ("--keypoints", src, "-f", "json,npz,csv", *LIFT_FAST)
    mark = tmp_path / "b_writing"
    out = tmp_path / "out"
    proc = subprocess.Popen(lift_cmd(*args, "--out", out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=lift_env(tmp_path, BLOCK_IN_CSV, FAULT_MARK=str(mark)))
    try:
        wait_for(mark.exists, 120, "clip b's CSV writer", proc)
        assert (out / "a.json").exists() and (out / "b.npz").exists()     # a done, b half written
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "run the same command again to resume" in err
    assert assert_no_partial_sets(out, ["a", "b", "c"]) == {"a": True, "b": False, "c": False}
    again = run_lift(tmp_path, *args, "--out", out)
    assert again.returncode == 0, again.stderr[-2000:]
    assert summary_status(out) == {"a.json": "skipped", "b.json": "ok", "c.json": "ok"}
    for s in "abc":
        assert_same_outputs(out, ref, s)


def test_discard_unfinished_removes_only_the_cut_short_clip(tmp_path):
    """What the Ray engine's driver does for a clip its Ctrl-C cut short: temporaries always; the
    files under final names only while the clip's JSON (written last) is missing; never a file of
    another clip whose name starts the same way."""
    from sasmamba_cli.batch import discard_unfinished

    out = tmp_path / "out"
    out.mkdir()
    mine = ["a.npz", "a.csv", "a_track0.bvh", "a_track12.bvh", "a_render.mp4", "a_render_summary.png"]
    others = ["a_track1.json", "a_track1.npz", "a_track1_track0.bvh", "ab.npz", "b.npz"]
    for n in mine + others + [".a.csv.x1y2.tmp", ".a.json.k3.tmp"]:
        (out / n).write_bytes(b"x")
    gone = discard_unfinished(out, "a")
    assert visible(out) == set(others) and not temporaries(out)
    assert {p.name for p in gone} == set(mine) | {".a.csv.x1y2.tmp", ".a.json.k3.tmp"}
    for n in mine + ["a.json", ".a.npz.z9.tmp"]:                 # a finished clip: kept whole
        (out / n).write_bytes(b"x")
    discard_unfinished(out, "a")
    assert visible(out) == set(others) | set(mine) | {"a.json"} and not temporaries(out)


# --- noise on stderr (point 5) -----------------------------------------------------------------

def test_realval_benchmark_skips_cleanly_without_the_data(tmp_path):
    import sys

    script = ROOT / "benchmarks" / "realval.py"
    p = subprocess.run([sys.executable, str(script), "--realval", str(tmp_path / "absent")], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and "skipped" in p.stdout


def test_non_latin_file_name_draws_without_glyph_warnings(tmp_path):
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
