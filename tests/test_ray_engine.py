"""--engine ray on a real local Ray instance (2 workers): same outputs as the local engine, resume,
a corrupt clip reported while the others finish, a killed worker's clip retried, Ctrl-C (slow).
The fault checks use the helpers of tests/test_faults.py (tests/faults_helpers.py)."""
import json

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from faults_helpers import assert_no_partial_sets, keypoint_clip  # noqa: E402
from sasmamba_cli.engines.ray_engine import KILL_ONCE_ENV, RayOptions, RayReporter, run_ray  # noqa: E402
from sasmamba_cli.batch import run_batch  # noqa: E402
from sasmamba_cli.pipeline.run import LiftPipeline, LiftSettings  # noqa: E402

SETTINGS = LiftSettings(weights="sasmamba_xs", formats=("json", "npz", "csv"), device="cpu")


def _clip(path, seed, frames=45):
    return keypoint_clip(path, seed=seed, frames=frames)


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def pipeline():
    return LiftPipeline(SETTINGS)


def _strip(d):
    d = dict(d)
    d.pop("created", None)
    d["run"] = {k: v for k, v in d["run"].items() if k != "timings_s"}
    return d


class Recorder(RayReporter):
    def __init__(self):
        self.retries, self.done = [], []

    def clip_retried(self, path, attempt, reason):
        self.retries.append((path, attempt))

    def clip_finished(self, row, retried):
        self.done.append(row.status)


def test_same_outputs_as_local_then_resume(tmp_path, cluster, pipeline):
    clips = [_clip(tmp_path / f"c{i}.json", i) for i in range(3)]
    local = run_batch(pipeline, clips, tmp_path / "local", keypoints_mode=True)
    rows = run_ray(SETTINGS, clips, tmp_path / "ray", keypoints_mode=True, options=RayOptions(workers=2),
                   driver_pipeline=pipeline)
    assert [r.status for r in local] == [r.status for r in rows] == ["ok"] * 3
    for c in clips:
        a = json.loads((tmp_path / "local" / c.name).read_text())
        b = json.loads((tmp_path / "ray" / c.name).read_text())
        assert _strip(a).keys() == _strip(b).keys()
        assert _strip(a)["run"] == _strip(b)["run"]
        for ta, tb in zip(a["tracks"], b["tracks"]):
            np.testing.assert_allclose(np.array(ta["joints_3d"], float), np.array(tb["joints_3d"], float), atol=1e-5)
        za, zb = np.load(tmp_path / "local" / f"{c.stem}.npz"), np.load(tmp_path / "ray" / f"{c.stem}.npz")
        for k in za.files:
            if za[k].dtype.kind == "f":
                np.testing.assert_allclose(za[k], zb[k], atol=1e-5, err_msg=k)
    rec = Recorder()
    again = run_ray(SETTINGS, clips, tmp_path / "ray", keypoints_mode=True, options=RayOptions(workers=2),
                    driver_pipeline=pipeline, reporter=rec)
    assert [r.status for r in again] == ["skipped"] * 3                  # the local resume rule, on the driver


def test_corrupt_clip_reported_killed_worker_retried(tmp_path, cluster, pipeline):
    clips = [_clip(tmp_path / f"k{i}.json", 10 + i) for i in range(3)]
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    flag = tmp_path / "kill_once"
    flag.write_text("")
    rec = Recorder()
    rows = run_ray(SETTINGS, [clips[0], bad, clips[1], clips[2]], tmp_path / "out", keypoints_mode=True,
                   options=RayOptions(workers=2), driver_pipeline=pipeline, reporter=rec,
                   worker_env={KILL_ONCE_ENV: str(flag)})
    assert [r.status for r in rows] == ["ok", "failed", "ok", "ok"]
    assert rows[1].exit_code == 2 and "not valid JSON" in rows[1].message
    assert len(rec.retries) == 1 and not flag.exists()                    # one worker died; its clip re-ran
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {f"k{i}.{e}" for i in range(3) for e in ("json", "npz", "csv")} <= names
    assert not any(n.startswith("broken") for n in names)
    assert assert_no_partial_sets(tmp_path / "out", ["k0", "k1", "k2", "broken"]) == {   # the killed worker's
        "k0": True, "k1": True, "k2": True, "broken": False}                           # clip left no temporaries


def test_missing_ray_names_the_extra(monkeypatch):
    import sys

    from sasmamba_cli.engines.ray_engine import import_ray
    from sasmamba_cli.errors import InputError

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InputError, match=r"\[ray\]"):
        import_ray()


def test_real_video_clips_same_as_local(tmp_path, cluster, monkeypatch):
    """Three short real video clips (the demo under three names, first 30 frames): the detector runs
    in the workers and the outputs equal the local engine's."""
    import shutil
    from pathlib import Path

    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "yolo"))
    demo = Path(__file__).resolve().parents[1] / "assets" / "demo" / "cam01.mp4"
    clips = []
    for i in range(3):
        p = tmp_path / "in" / f"v{i}.mp4"
        p.parent.mkdir(exist_ok=True)
        shutil.copy(demo, p)
        clips.append(p)
    settings = LiftSettings(weights="sasmamba_xs", formats=("json", "npz"), device="cpu", max_frames=30, min_track_s=0.2)
    pipe = LiftPipeline(settings)
    local = run_batch(pipe, clips, tmp_path / "local")
    rows = run_ray(settings, clips, tmp_path / "ray", options=RayOptions(workers=2), driver_pipeline=pipe)
    assert [r.status for r in local] == [r.status for r in rows] == ["ok"] * 3, [r.message for r in rows]
    for c in clips:
        a = json.loads((tmp_path / "local" / f"{c.stem}.json").read_text())
        b = json.loads((tmp_path / "ray" / f"{c.stem}.json").read_text())
        assert _strip(a)["run"] == _strip(b)["run"] and len(a["tracks"]) == len(b["tracks"]) > 0
        for ta, tb in zip(a["tracks"], b["tracks"]):
            assert ta["frames"] == tb["frames"]
            np.testing.assert_allclose(np.array(ta["keypoints_2d_coco"], float), np.array(tb["keypoints_2d_coco"], float),
                                       atol=1e-3)
            np.testing.assert_allclose(np.array(ta["joints_3d"], float), np.array(tb["joints_3d"], float), atol=1e-5)


@pytest.mark.slow
def test_ctrl_c_cancels_cleanly_and_rerun_resumes(tmp_path):
    """`sasmamba lift --engine ray --workers 2` on three keypoint clips (a short, b and c long),
    SIGINT once a's outputs are there: exit code 130, a kept whole, nothing of b or c (no
    temporaries, no half set), no process of that run left (the local Ray instance it started is
    stopped); the rerun skips a and does b and c. Issue 15 point 5, on tests/faults_helpers.py."""
    import signal
    import subprocess
    import time
    import uuid

    from faults_helpers import (LIFT_FAST, assert_no_partial_sets, keypoint_clip, lift_cmd, lift_env, processes_with_env,
                                run_lift, summary_status, wait_for)

    src = tmp_path / "in"
    keypoint_clip(src / "a.json", seed=1, frames=40)
    keypoint_clip(src / "b.json", seed=2, frames=1500)          # seconds each: still running at the Ctrl-C
    keypoint_clip(src / "c.json", seed=3, frames=1500)
    out = tmp_path / "out"
    run_id = uuid.uuid4().hex
    marker = f"SASMAMBA_TEST_RUN={run_id}"
    args = ("--keypoints", src, "--engine", "ray", "--workers", "2", "-f", "json,npz,csv", *LIFT_FAST, "--out", out)
    proc = subprocess.Popen(lift_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=lift_env(tmp_path, SASMAMBA_TEST_RUN=run_id))
    try:
        wait_for(lambda: (out / "a.json").exists(), 240, "clip a's outputs", proc)
        assert processes_with_env(marker)                          # the run's Ray processes carry the marker
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted" in err and "run the same command again to resume" in err
    assert assert_no_partial_sets(out, ["a", "b", "c"]) == {"a": True, "b": False, "c": False}
    end = time.monotonic() + 30                                    # processes may take a moment to exit
    while processes_with_env(marker) and time.monotonic() < end:
        time.sleep(0.5)
    assert processes_with_env(marker) == []
    again = run_lift(tmp_path, *args, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert summary_status(out) == {"a.json": "skipped", "b.json": "ok", "c.json": "ok"}
    assert assert_no_partial_sets(out, ["a", "b", "c"]) == {"a": True, "b": True, "c": True}
    end = time.monotonic() + 30
    while processes_with_env(marker) and time.monotonic() < end:
        time.sleep(0.5)
    assert processes_with_env(marker) == []
