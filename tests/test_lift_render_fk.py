"""``sasmamba lift --render`` and ``--fk-consistent/--raw`` through the CLI.

Fast inputs only: a synthetic keypoint file (no detector) and a 20-frame, downscaled copy of the
shipped demo clip. The lifter is the seeded tiny checkpoint of test_lift_cli (random weights, so
its raw bone lengths vary from frame to frame: that is what ``--raw`` must keep).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from test_lift_cli import DEMO, app, bone_lengths, output_of, run, validate, write_keypoint_file

FK_ATOL_M = 1e-4          # 0.1 mm: JSON keeps 10 um, BVH %.6f cm


def small_demo_clip(path: Path, frames: int = 20, height: int = 480) -> tuple[Path, float]:
    """The first ``frames`` frames of the demo clip, scaled to ``height`` px; returns (path, fps)."""
    cv2 = pytest.importorskip("cv2")
    if not DEMO.is_file():
        pytest.skip(f"demo clip {DEMO} missing")
    cap = cv2.VideoCapture(str(DEMO))
    fps = cap.get(cv2.CAP_PROP_FPS)
    writer = None
    for _ in range(frames):
        ok, img = cap.read()
        assert ok, f"demo clip: expected {frames} readable frames"
        h, w = img.shape[:2]
        size = (int(round(w * height / h / 2)) * 2, height)
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        writer.write(cv2.resize(img, size, interpolation=cv2.INTER_AREA))
    writer.release()
    cap.release()
    return path, fps


def video_frames_fps(path: Path) -> tuple[int, float]:
    """Decoded frame count and frame rate of an MP4 (every frame decoded, not the header's count)."""
    import av
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        n = sum(1 for _ in c.decode(st))
        return n, float(st.average_rate)


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def statuses(out: Path) -> dict[str, str]:
    return {Path(r["clip"]).name: r["status"] for r in csv.DictReader((out / "summary.csv").open())}


def camera_positions(track: dict) -> np.ndarray:
    """(n, 17, 3) absolute camera-frame metres of a result-JSON track."""
    return np.array(track["root_3d"])[:, None, :] + np.array(track["joints_3d"])


def bvh_positions_camera_m(json_path: Path, bvh_path: Path) -> np.ndarray:
    """(n, 17, 3) joints of a lift BVH, re-read and forward-kinematised by sasmamba's own reader, in
    camera metres (the world frame is re-derived from the JSON exactly as the BVH writer does)."""
    from sasmamba_cli.pipeline.result import load_result
    from sasmamba_cli.export.rig import rig_spec
    from sasmamba_cli.export.track_rig import world_frame_of
    from sasmamba_cli.export.bvh_read import forward_kinematics, read_bvh

    world = world_frame_of(load_result(json_path))
    motion = read_bvh(bvh_path)
    cols = [motion.index(n) for n in rig_spec().bvh_names("mixamo")]
    return world.to_camera_m(forward_kinematics(motion)[:, cols])


# --- --render -----------------------------------------------------------------------------------

def test_render_writes_mp4_like_the_input_and_a_png_and_resumes(app, tmp_path, tiny_weights):
    clip, fps = small_demo_clip(tmp_path / "walk.mp4")
    out = tmp_path / "o"
    args = (clip, "--weights", tiny_weights, "--out", out, "-f", "json", "--min-track", "0.1", "--render", "-q")
    r = run(app, *args)
    assert r.exit_code == 0, output_of(r)
    mp4, png = out / "walk_render.mp4", out / "walk_render_summary.png"
    n, rate = video_frames_fps(mp4)
    assert n == 20 and rate == pytest.approx(fps, rel=1e-3)
    assert is_png(png)
    doc = json.loads((out / "walk.json").read_text())
    validate(doc)
    assert doc["run"]["outputs"] == ["walk.json", mp4.name, png.name] and doc["settings"]["render"] is True
    assert "fk_consistent" not in doc and doc["settings"]["fk_consistent"] is False    # json only: raw

    r = run(app, *args)
    assert r.exit_code == 0 and statuses(out) == {"walk.mp4": "skipped"}
    mp4.unlink()                                  # a missing render -> the clip is redone
    r = run(app, *args)
    assert r.exit_code == 0 and statuses(out) == {"walk.mp4": "ok"} and video_frames_fps(mp4)[0] == 20


def test_render_failure_fails_the_clip_but_keeps_the_json(app, tmp_path, tiny_weights, monkeypatch):
    from sasmamba_cli.render import compose

    kp = write_keypoint_file(tmp_path / "walk.json", frames=30)
    out = tmp_path / "o"

    def broken(*a, **k):
        raise RuntimeError("simulated encoder crash")
    monkeypatch.setattr(compose, "render_result_stats", broken)
    r = run(app, "--keypoints", kp, "--weights", tiny_weights, "--out", out, "--render", "-q")
    assert r.exit_code == 1
    msg = " ".join(output_of(r).split())
    assert "render of walk_render.mp4 failed" in msg and "simulated encoder crash" in msg
    assert statuses(out) == {"walk.json": "failed"}
    assert json.loads((out / "walk.json").read_text())["tracks"]        # the lift is not lost

    monkeypatch.undo()
    r = run(app, "--keypoints", kp, "--weights", tiny_weights, "--out", out, "--render", "-q")
    assert r.exit_code == 0, output_of(r)
    assert statuses(out) == {"walk.json": "ok"}                            # not skipped: render was missing
    n, rate = video_frames_fps(out / "walk_render.mp4")                   # blank canvas: keypoint file's frames
    assert n == 30 and rate == pytest.approx(30.0)
    assert is_png(out / "walk_render_summary.png")


# --- --fk-consistent / --raw ----------------------------------------------------------------------

def test_bvh_format_makes_json_equal_to_bvh_fk_with_constant_bones(app, tmp_path, tiny_weights):
    kp = write_keypoint_file(tmp_path / "walk.json")
    out = tmp_path / "o"
    r = run(app, "--keypoints", kp, "--weights", tiny_weights, "--out", out, "-f", "json,npz,bvh", "-q")
    assert r.exit_code == 0, output_of(r)
    assert "FK-consistent 3D (1 track)" in " ".join(output_of(r).split())
    doc = json.loads((out / "walk.json").read_text())
    validate(doc)
    assert doc["settings"]["fk_consistent"] is True and "fk_consistent" in doc["run"]["timings_s"]
    rep = doc["fk_consistent"]["tracks"][0]
    assert len(rep["mean_change_mm"]) == 17 and max(rep["bone_spread_after_pct"]) < 0.01
    assert max(rep["bone_spread_before_pct"]) > 1.0                   # random weights: raw bones vary
    (t,) = doc["tracks"]
    pos = camera_positions(t)
    fk = bvh_positions_camera_m(out / "walk.json", out / "walk_track0.bvh")
    assert fk.shape == pos.shape
    np.testing.assert_allclose(fk, pos, atol=FK_ATOL_M)
    for name, b in bone_lengths(np.array(t["joints_3d"])).items():
        assert np.ptp(b) < FK_ATOL_M, name
    npz = np.load(out / "walk.npz")
    np.testing.assert_allclose(npz["track0_joints_3d"], np.array(t["joints_3d"]), atol=1e-5)


def test_raw_keeps_the_lift(app, tmp_path, tiny_weights):
    kp = write_keypoint_file(tmp_path / "walk.json")
    out = tmp_path / "o"
    r = run(app, "--keypoints", kp, "--weights", tiny_weights, "--out", out, "-f", "json,bvh", "--raw", "-q")
    assert r.exit_code == 0, output_of(r)
    assert "FK-consistent" not in output_of(r)
    doc = json.loads((out / "walk.json").read_text())
    validate(doc)
    assert "fk_consistent" not in doc and doc["settings"]["fk_consistent"] is False
    (t,) = doc["tracks"]
    spreads = [np.ptp(b) for b in bone_lengths(np.array(t["joints_3d"])).values()]
    assert max(spreads) > 1e-3                                          # > 1 mm: bone lengths not forced
    fk = bvh_positions_camera_m(out / "walk.json", out / "walk_track0.bvh")
    assert np.abs(fk - camera_positions(t)).max() > 1e-3               # the BVH's rig differs from the raw lift


def test_fk_consistent_without_bvh_and_default_off(app, tmp_path, tiny_weights):
    kp = write_keypoint_file(tmp_path / "walk.json")
    r = run(app, "--keypoints", kp, "--weights", tiny_weights, "--out", tmp_path / "off", "-f", "json", "-q")
    assert r.exit_code == 0, output_of(r)
    off = json.loads((tmp_path / "off" / "walk.json").read_text())
    assert "fk_consistent" not in off and off["settings"]["fk_consistent"] is False
    r = run(app, "--keypoints", kp, "--weights", tiny_weights, "--out", tmp_path / "on", "-f", "json",
            "--fk-consistent", "-q")
    assert r.exit_code == 0, output_of(r)
    on = json.loads((tmp_path / "on" / "walk.json").read_text())
    assert on["fk_consistent"]["tracks"][0]["track_id"] == 0
    assert on["run"]["settings_hash"] != off["run"]["settings_hash"]
    pelvis_on, pelvis_off = (camera_positions(d["tracks"][0])[:, 0] for d in (on, off))
    np.testing.assert_allclose(pelvis_on, pelvis_off, atol=2e-5)         # FK keeps the root trajectory
    for b in bone_lengths(np.array(on["tracks"][0]["joints_3d"])).values():
        assert np.ptp(b) < FK_ATOL_M
