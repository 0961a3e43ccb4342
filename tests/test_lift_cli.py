"""``sasmamba lift`` through the CLI: bad inputs, batch/resume, and end-to-end on real clips.

Real clips come from ``../shared/data/videos`` (skipped with a reason when absent). The lifter is
a seeded checkpoint written into a temp folder (the shipped weights may not exist yet); bone-length
checks use a mean-pose checkpoint with a human rest pose, so they test the pipeline's metric scale
and root estimation, not the network.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from sasmamba_cli.commands import lift as lift_cmd

SHARED = Path(__file__).resolve().parents[2] / "shared"
VIDEOS = SHARED / "data" / "videos"
SINGLE = VIDEOS / "pose2sim_single_person" / "cam01.mp4"
TWO = VIDEOS / "sports2d_two_people" / "demo.mp4"
INTEL = VIDEOS / "intel_one_by_one" / "one-by-one-person-detection.mp4"
DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo" / "cam01.mp4"

# H36M rest pose, metres, camera axes (y down)
REST = np.array([
    [0, 0, 0], [-0.13, 0, 0], [-0.13, 0.44, 0], [-0.13, 0.88, 0], [0.13, 0, 0], [0.13, 0.44, 0],
    [0.13, 0.88, 0], [0, -0.23, 0], [0, -0.48, 0], [0, -0.60, -0.05], [0, -0.72, 0], [0.18, -0.48, 0],
    [0.45, -0.48, 0], [0.70, -0.48, 0], [-0.18, -0.48, 0], [-0.45, -0.48, 0], [-0.70, -0.48, 0]], float)


def need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path.name} not available: the shared data folder {SHARED} is absent (fresh clone)")
    return path


@pytest.fixture(scope="module")
def app():
    a = typer.Typer()
    lift_cmd.register(a)

    @a.callback()
    def _root():
        """test root"""
    return a


@pytest.fixture(scope="module")
def mean_weights(tmp_path_factory):
    import torch
    from sasmamba_models.baselines import MeanPoseConfig, MeanPoseLifter
    from sasmamba_models.checkpoint import save_checkpoint

    model = MeanPoseLifter(MeanPoseConfig(max_frames=27))
    with torch.no_grad():
        model.mean_pose.copy_(torch.tensor(REST * 0.8, dtype=torch.float32))   # wrong size on purpose
    path = tmp_path_factory.mktemp("weights") / "mean"
    save_checkpoint(path, model, window=27, fps=30)
    return path


def run(app, *args):
    result = CliRunner().invoke(app, ["lift", *map(str, args)])
    return result


def output_of(r) -> str:
    return r.stdout + (r.stderr if hasattr(r, "stderr") else "")


def validate(doc: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(resources.files("sasmamba_cli.data").joinpath("result_schema_v1.json").read_text())
    jsonschema.validate(doc, schema)


def bone_lengths(joints: np.ndarray) -> dict[str, np.ndarray]:
    from sasmamba_cli.skeleton import H36M
    return {f"{H36M.names[p]}-{H36M.names[c]}": np.linalg.norm(joints[:, c] - joints[:, p], axis=-1)
            for c, p in enumerate(H36M.parents) if p >= 0}


# --- small synthetic inputs ----------------------------------------------------------------

def write_noise_video(path: Path, frames: int = 20, size=(160, 120)) -> Path:
    import cv2
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, size)
    rng = np.random.default_rng(0)
    for _ in range(frames):
        w.write(rng.integers(0, 40, (size[1], size[0], 3), dtype=np.uint8))
    w.release()
    return path


def write_faststart_video(path: Path, frames: int = 40) -> Path:
    import av
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        st = out.add_stream("libx264", rate=25)
        st.width, st.height, st.pix_fmt = 128, 96, "yuv420p"
        rng = np.random.default_rng(1)
        for _ in range(frames):
            img = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
            for p in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return path


def write_audio_only(path: Path) -> Path:
    import av
    with av.open(str(path), "w", format="mp4") as out:
        st = out.add_stream("aac", rate=44100)
        for _ in range(10):
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            fr.sample_rate = 44100
            for p in st.encode(fr):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return path


def coco_person(cx: float, cy: float, h: float, phase: float) -> np.ndarray:
    """A plausible COCO-17 standing person (pixels), arms swinging with ``phase``."""
    u = h / 8.0
    s = np.sin(phase) * u * 0.6
    pts = {0: (0, -3.6), 1: (0.15, -3.75), 2: (-0.15, -3.75), 3: (0.35, -3.7), 4: (-0.35, -3.7),
           5: (0.9, -3.0), 6: (-0.9, -3.0), 7: (1.0 + s / u, -1.9), 8: (-1.0 - s / u, -1.9), 9: (1.05, -0.9),
           10: (-1.05, -0.9), 11: (0.5, -0.1), 12: (-0.5, -0.1), 13: (0.55 + s / u, 1.8), 14: (-0.55 - s / u, 1.8),
           15: (0.55, 3.8), 16: (-0.55, 3.8)}
    kp = np.array([[cx + x * u, cy + y * u, 0.9] for x, y in (pts[i] for i in range(17))])
    return kp


def write_keypoint_file(path: Path, frames: int = 45, *, damage: bool = False, people: int = 1) -> Path:
    anns = []
    for f in range(frames):
        for k in range(people):
            kp = coco_person(200 + 300 * k + 2 * f, 260, 300, f / 5)
            if damage and f % 7 == 3:
                kp[9, 0] = np.nan        # NaN coordinate
                kp[10, 1] = np.inf       # inf coordinate
                kp[15] = [0, 0, 0]       # missing joint (score 0)
            anns.append({"image_id": f, "keypoints": kp.reshape(-1).tolist(), "score": 0.9})
    path.write_text(json.dumps({"width": 960, "height": 540, "fps": 30, "annotations": anns}))
    return path


# --- help / laziness --------------------------------------------------------------------------

def test_lift_module_import_is_lazy():
    code = ("import sys, sasmamba_cli.commands.lift, sasmamba_cli.batch; "
            "bad = [m for m in ('torch', 'cv2', 'ultralytics') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_the_options(app):
    r = CliRunner().invoke(app, ["lift", "--help"], env={"COLUMNS": "240", "TERMINAL_WIDTH": "240"})
    assert r.exit_code == 0
    for opt in ("--keypoints", "--format", "--weights", "--detector-weights", "--height", "--max-people",
                "--allow-download", "--resume"):
        assert opt in r.stdout


# --- bad inputs ------------------------------------------------------------------------------------

def test_missing_file(app, tmp_path, tiny_weights):
    r = run(app, tmp_path / "nope.mp4", "--weights", tiny_weights, "--out", tmp_path / "o", "-q")
    assert r.exit_code == 2
    assert "not found" in output_of(r)
    rows = list(csv.DictReader((tmp_path / "o" / "summary.csv").open()))
    assert rows[0]["status"] == "failed"


def test_quiet_prints_each_failure_once(app, tmp_path, tiny_weights):
    for flags in (["-q"], []):
        r = run(app, tmp_path / "nope.mp4", "--weights", tiny_weights, "--out", tmp_path / "o", *flags)
        assert r.exit_code == 2
        out = " ".join(output_of(r).split())
        assert out.count("nope.mp4: ") == 1, (flags, out)


def test_unknown_format(app, tmp_path, tiny_weights):
    r = run(app, DEMO, "--weights", tiny_weights, "--out", tmp_path / "o", "--format", "json,fbx")
    assert r.exit_code == 2 and "unknown output format" in output_of(r) and "fbx" in output_of(r)


def test_default_weights_missing_message(app, tmp_path, monkeypatch):
    from sasmamba_cli import weights
    monkeypatch.setattr(weights, "DEFAULT_WEIGHTS_NAME", "definitely_absent")
    r = run(app, DEMO, "--out", tmp_path / "o")
    assert r.exit_code == 2                      # InputError
    msg = " ".join(output_of(r).split())
    assert "default lifter weights are not installed" in msg and "--weights" in msg


@pytest.mark.parametrize("kind", ["text", "audio", "cut_moov", "truncated"])
def test_unreadable_videos(app, tmp_path, tiny_weights, kind):
    if kind == "text":
        p = tmp_path / "notes.mp4"
        p.write_text("this is not a video\n")
        expect = "not a readable media container"
    elif kind == "audio":
        p = write_audio_only(tmp_path / "sound.mp4")
        expect = "no video stream"
    elif kind == "cut_moov":
        src = write_noise_video(tmp_path / "full.mp4", 30)
        p = tmp_path / "cut.mp4"
        p.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
        expect = "cannot read video"
    else:
        src = write_faststart_video(tmp_path / "fs.mp4", 40)
        p = tmp_path / "trunc.mp4"
        p.write_bytes(src.read_bytes()[: int(src.stat().st_size * 0.5)])
        expect = "truncated"
    r = run(app, p, "--weights", tiny_weights, "--out", tmp_path / "o", "-q")
    assert r.exit_code == 2, output_of(r)
    assert expect in " ".join(output_of(r).split())


def test_video_without_a_person(app, tmp_path, tiny_weights):
    p = write_noise_video(tmp_path / "empty.mp4", 20)
    r = run(app, p, "--weights", tiny_weights, "--out", tmp_path / "o", "-q")
    assert r.exit_code == 3
    assert "no person tracked" in " ".join(output_of(r).split())
    assert not (tmp_path / "o" / "empty.json").exists()


def test_output_folder_not_writable(app, tmp_path, tiny_weights):
    kp = write_keypoint_file(tmp_path / "kp.json")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = run(app, "--keypoints", kp, "--weights", tiny_weights, "--out", blocker / "sub")
    assert r.exit_code == 2 and "cannot write to output folder" in " ".join(output_of(r).split())


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_output_folder(app, tmp_path, tiny_weights):
    kp = write_keypoint_file(tmp_path / "kp.json")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        r = run(app, "--keypoints", kp, "--weights", tiny_weights, "--out", ro)
    finally:
        ro.chmod(0o755)
    assert r.exit_code == 2 and "cannot write to output folder" in " ".join(output_of(r).split())


def test_read_only_output_folder_simulated(app, tmp_path, tiny_weights, monkeypatch):
    """The read-only case as root too (chmod does not stop root, and CI runs as root): every file
    is written through ``sasmamba_cli.atomic`` -> ``tempfile.mkstemp``, made to fail like a
    read-only folder for paths inside it only."""
    import tempfile

    kp = write_keypoint_file(tmp_path / "kp.json")
    ro = tmp_path / "ro"
    ro.mkdir()
    real_mkstemp = tempfile.mkstemp
    blocked = []

    def mkstemp(suffix=None, prefix=None, dir=None, text=False):
        if dir is not None:
            d = Path(dir).resolve()
            if d == ro.resolve() or ro.resolve() in d.parents:
                blocked.append(d)
                raise PermissionError(13, "Permission denied")
        return real_mkstemp(suffix=suffix, prefix=prefix, dir=dir, text=text)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    r = run(app, "--keypoints", kp, "--weights", tiny_weights, "--out", ro)
    out = " ".join(output_of(r).split())
    assert blocked, "the output folder check no longer writes through tempfile.mkstemp"
    assert r.exit_code == 2 and "cannot write to output folder" in out and "Permission denied" in out, out
    assert list(ro.iterdir()) == []                     # no partial or temp files left behind


# --- keypoint files, formats, batch and resume ------------------------------------------------------

def test_keypoint_file_with_nan_inf_and_missing_joints(app, tmp_path, tiny_weights):
    kp = write_keypoint_file(tmp_path / "walk.json", damage=True)
    r = run(app, "--keypoints", kp, "--weights", tiny_weights, "--out", tmp_path / "o", "-f", "json,npz,csv")
    assert r.exit_code == 0, output_of(r)
    doc = json.loads((tmp_path / "o" / "walk.json").read_text())
    validate(doc)
    (t,) = doc["tracks"]
    assert t["frames"] == list(range(45))
    coco = np.array(t["keypoints_2d_coco"], dtype=float)
    assert np.isfinite(coco[[0, 1, 2], 9, 0]).all()
    assert coco[3, 9, 2] > 0                    # NaN gap of one frame: interpolated, not (0, 0)
    ci = np.array(t["keypoints_coco_interpolated"])         # ... and marked as interpolated, per joint
    assert ci[3, 9] and ci[3, 10] and ci[3, 15] and ci.sum() == 3 * len(range(3, 45, 7))
    hi = np.array(t["keypoints_interpolated"])
    h36m_names = doc["skeleton"]["joint_names"]
    assert hi[3, h36m_names.index("l_wrist")] and not hi[2, h36m_names.index("l_wrist")]
    assert not hi[3, h36m_names.index("l_shoulder")]
    assert np.isfinite(np.array(t["joints_3d"])).all() and np.isfinite(np.array(t["root_3d"])).all()
    npz = np.load(tmp_path / "o" / "walk.npz")
    np.testing.assert_allclose(npz["track0_joints_3d"], np.array(t["joints_3d"]), atol=1e-5)
    rows = list(csv.DictReader((tmp_path / "o" / "walk.csv").open()))
    assert len(rows) == 45 * 17 and rows[0]["joint"] == "pelvis"
    flag = {(r["frame"], r["joint"]): r["interpolated"] for r in rows}
    assert flag[("3", "l_wrist")] == "1" and flag[("2", "l_wrist")] == "0" and flag[("3", "l_shoulder")] == "0"
    assert npz["track0_keypoints_coco_interpolated"].dtype == bool
    np.testing.assert_array_equal(npz["track0_keypoints_coco_interpolated"], ci)
    # re-lifting the result treats the interpolated joints as missing again, not as detections
    r = run(app, "--keypoints", tmp_path / "o" / "walk.json", "--weights", tiny_weights, "--out", tmp_path / "o3")
    assert r.exit_code == 0, output_of(r)
    again = json.loads((tmp_path / "o3" / "walk.json").read_text())["tracks"][0]
    np.testing.assert_array_equal(np.array(again["keypoints_coco_interpolated"]), ci)
    bad = tmp_path / "short.json"
    bad.write_text(json.dumps([{"image_id": 0, "keypoints": [1.0] * 50}]))
    r = run(app, "--keypoints", bad, "--weights", tiny_weights, "--out", tmp_path / "o2", "--image-size", "640x480",
            "--fps", "30")
    assert r.exit_code == 2 and "expected 51 numbers" in " ".join(output_of(r).split())


def test_batch_failure_does_not_stop_the_rest(app, tmp_path, tiny_weights):
    write_keypoint_file(_mk(tmp_path / "in" / "a.json"))
    write_keypoint_file(tmp_path / "in" / "c.json")
    (tmp_path / "in" / "b.json").write_text("[]")
    r = run(app, "--keypoints", tmp_path / "in", "--weights", tiny_weights, "--out", tmp_path / "o", "-q")
    assert r.exit_code != 0
    rows = {Path(row["clip"]).name: row for row in csv.DictReader((tmp_path / "o" / "summary.csv").open())}
    assert rows["a.json"]["status"] == "ok" and rows["c.json"]["status"] == "ok"
    assert rows["b.json"]["status"] == "failed" and rows["b.json"]["message"]
    assert (tmp_path / "o" / "a.json").exists() and (tmp_path / "o" / "c.json").exists()
    assert not (tmp_path / "o" / "b.json").exists()


def _mk(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def test_interrupted_batch_resumes(app, tmp_path, tiny_weights, monkeypatch):
    from sasmamba_cli import batch
    from sasmamba_cli.pipeline.run import LiftPipeline, LiftSettings

    files = [write_keypoint_file(_mk(tmp_path / "in" / f"clip{i}.json"), people=1 + i % 2) for i in range(3)]
    out = tmp_path / "o"
    pipe = LiftPipeline(LiftSettings(weights=str(tiny_weights), formats=("json", "csv")))
    real = pipe.run_keypoints
    calls = []

    def flaky(path):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(path)
    monkeypatch.setattr(pipe, "run_keypoints", flaky)
    with pytest.raises(KeyboardInterrupt):
        batch.run_batch(pipe, files, out, keypoints_mode=True)
    assert (out / "clip0.json").exists() and not (out / "clip1.json").exists()
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))

    r = run(app, "--keypoints", tmp_path / "in", "--weights", tiny_weights, "--out", out, "-f", "json,csv", "-q")
    assert r.exit_code == 0, output_of(r)
    status = {Path(row["clip"]).name: row["status"] for row in csv.DictReader((out / "summary.csv").open())}
    assert status == {"clip0.json": "skipped", "clip1.json": "ok", "clip2.json": "ok"}
    assert json.loads((out / "clip1.json").read_text())["stats"]["people"] == 2
    # other settings -> recomputed; removing an output -> recomputed
    r = run(app, "--keypoints", tmp_path / "in", "--weights", tiny_weights, "--out", out, "-f", "json,csv", "-q",
            "--height", "1.8")
    status = {Path(row["clip"]).name: row["status"] for row in csv.DictReader((out / "summary.csv").open())}
    assert set(status.values()) == {"ok"}
    (out / "clip2.csv").unlink()
    r = run(app, "--keypoints", tmp_path / "in", "--weights", tiny_weights, "--out", out, "-f", "json,csv", "-q",
            "--height", "1.8")
    status = {Path(row["clip"]).name: row["status"] for row in csv.DictReader((out / "summary.csv").open())}
    assert status == {"clip0.json": "skipped", "clip1.json": "skipped", "clip2.json": "ok"}


# --- end to end on real clips -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def single_result(app, tmp_path_factory, mean_weights):
    need(SINGLE)
    out = tmp_path_factory.mktemp("single")
    r = run(app, SINGLE, "--weights", mean_weights, "--out", out, "-f", "json,npz,csv", "-q")
    assert r.exit_code == 0, output_of(r)
    return out, json.loads((out / "cam01.json").read_text())


def test_single_person_clip(single_result):
    out, doc = single_result
    validate(doc)
    assert doc["source"]["fps"] == 60 and doc["source"]["frame_count"] == 100
    assert (doc["source"]["width"], doc["source"]["height"]) == (1080, 1920)
    assert doc["detector"]["weights_sha256"].startswith("869e83fc")
    tracks = doc["tracks"]
    heights = [np.median(np.array(t["boxes_2d"])[:, 3] - np.array(t["boxes_2d"])[:, 1]) for t in tracks]
    main = tracks[int(np.argmax(heights))]
    assert len(main["frames"]) >= 95                                  # one main track over the whole clip
    assert all(len(t["frames"]) <= 100 for t in tracks)
    j = np.array(main["joints_3d"])
    assert np.allclose(j[:, 0], 0)
    bones = bone_lengths(j)
    thigh = np.median(bones["r_hip-r_knee"])
    assert 0.30 < thigh < 0.55 and np.median(bones["l_shoulder-l_elbow"]) > 0.15
    for name, b in bones.items():
        # mean-pose model: constant bones, then --refine-2d (on by default) holds them to TOL_BONE_M (1 cm)
        assert np.ptp(b) < 0.015, name
    root = np.array(main["root_3d"])
    assert np.all((root[:, 2] > 1.0) & (root[:, 2] < 15.0))           # a person a few metres away
    conf = np.array(main["confidence"])
    assert conf.shape == (len(main["frames"]), 17) and conf.max() <= 1.0


def test_relift_saved_keypoints_with_max_people(app, single_result, mean_weights, tmp_path):
    out, doc = single_result
    r = run(app, "--keypoints", out / "cam01.json", "--weights", mean_weights, "--out", tmp_path, "--max-people", "1")
    assert r.exit_code == 0, output_of(r)
    again = json.loads((tmp_path / "cam01.json").read_text())
    assert len(again["tracks"]) == 1 and again["detector"]["name"] == "keypoint-file"
    heights = [np.median(np.array(t["boxes_2d"])[:, 3] - np.array(t["boxes_2d"])[:, 1]) for t in doc["tracks"]]
    main = doc["tracks"][int(np.argmax(heights))]
    # The saved 2D is rounded (result.py: pixels and confidences to a few decimals) and --refine-2d
    # (on by default) fits the root depth to that 2D, so the relift agrees to ~1 mm per metre of
    # depth, not bit for bit (measured: 2.2 mm at 4.9 m in CI).
    np.testing.assert_allclose(np.array(again["tracks"][0]["root_3d"]), np.array(main["root_3d"]), rtol=1e-3, atol=1e-3)


def test_two_people_clip(app, tmp_path, tiny_weights):
    need(TWO)
    r = run(app, TWO, "--weights", tiny_weights, "--out", tmp_path, "-q")
    assert r.exit_code == 0, output_of(r)
    doc = json.loads((tmp_path / "demo.json").read_text())
    validate(doc)
    assert doc["model"]["preset"] == "tiny" and doc["model"]["window"] == 27 and doc["settings"]["flip_tta"]
    assert len(doc["model"]["weights_sha256"]) == 64
    long_tracks = [t for t in doc["tracks"] if len(t["frames"]) >= 100]
    assert len(doc["tracks"]) == 2 and len(long_tracks) == 2
    for t in doc["tracks"]:
        assert np.all(np.diff(t["frames"]) == 1)
        assert np.isfinite(np.array(t["joints_3d"])).all()


def test_intel_clip_segment_gives_several_short_tracks(app, tmp_path, tiny_weights):
    need(INTEL)
    r = run(app, INTEL, "--weights", tiny_weights, "--out", tmp_path, "-q", "--start-frame", "170",
            "--max-frames", "360")
    assert r.exit_code == 0, output_of(r)
    doc = json.loads((tmp_path / "one-by-one-person-detection.json").read_text())
    validate(doc)
    assert doc["stats"]["frames"] == 360 and doc["source"]["fps"] == 10
    frames = [t["frames"] for t in doc["tracks"]]
    assert len(frames) >= 3
    assert all(170 <= f[0] and f[-1] < 530 for f in frames)
    assert 0.3 < doc["stats"]["detection_coverage"] < 1.0            # long empty stretches


@pytest.mark.slow
def test_intel_whole_clip_gives_several_short_tracks(app, tmp_path, tiny_weights):
    """The whole long clip (139 s at 10 fps, people walking in and out, long empty stretches):
    the default suite runs a 36 s segment of it (above); this runs all of it (`pytest -m slow`)."""
    need(INTEL)
    r = run(app, INTEL, "--weights", tiny_weights, "--out", tmp_path, "-q")
    assert r.exit_code == 0, output_of(r)
    doc = json.loads((tmp_path / "one-by-one-person-detection.json").read_text())
    validate(doc)
    assert doc["stats"]["frames"] == doc["source"]["frame_count"] > 1000
    assert len(doc["tracks"]) >= 5
    for t in doc["tracks"]:
        assert np.all(np.diff(t["frames"]) == 1) and np.isfinite(np.array(t["joints_3d"])).all()
    assert 0.2 < doc["stats"]["detection_coverage"] < 1.0


def test_bvh_format_goes_through_the_exporter_hook(app, tmp_path, tiny_weights, monkeypatch):
    from sasmamba_cli.export import formats as outputs

    monkeypatch.setattr(outputs, "_bvh_exporter", lambda: None)
    kp = write_keypoint_file(tmp_path / "walk.json")
    r = run(app, "--keypoints", kp, "--weights", tiny_weights, "--out", tmp_path / "o", "-f", "json,bvh")
    assert r.exit_code == 2 and "BVH exporter" in " ".join(output_of(r).split())

    seen = []

    def fake_export(result_path_or_dict, out_dir):
        assert result_path_or_dict["schema"] == "sasmamba-result" and result_path_or_dict["tracks"]
        seen.append(result_path_or_dict)
        paths = []
        for t in result_path_or_dict["tracks"]:
            p = Path(out_dir) / f"walk_track{t['track_id']}.bvh"
            p.write_text("HIERARCHY\n")
            paths.append(p)
        return paths
    monkeypatch.setattr(outputs, "_bvh_exporter", lambda: fake_export)
    r = run(app, "--keypoints", kp, "--weights", tiny_weights, "--out", tmp_path / "o", "-f", "json,bvh")
    assert r.exit_code == 0, output_of(r)
    doc = json.loads((tmp_path / "o" / "walk.json").read_text())
    assert len(seen) == 1 and doc["run"]["outputs"] == ["walk.json", "walk_track0.bvh"]


def test_unexpected_error_in_one_clip_is_reported_and_the_batch_goes_on(tmp_path, tiny_weights, monkeypatch):
    from sasmamba_cli import batch
    from sasmamba_cli.pipeline.run import LiftPipeline, LiftSettings

    files = [write_keypoint_file(_mk(tmp_path / "in" / f"k{i}.json")) for i in range(3)]
    pipe = LiftPipeline(LiftSettings(weights=str(tiny_weights)))
    real = pipe.run_keypoints

    def buggy(path):
        if path.name == "k1.json":
            raise IndexError("simulated bug")
        return real(path)
    monkeypatch.setattr(pipe, "run_keypoints", buggy)
    rows = batch.run_batch(pipe, files, tmp_path / "o", keypoints_mode=True)
    assert [r.status for r in rows] == ["ok", "failed", "ok"]
    assert "IndexError: simulated bug" in rows[1].message and batch.batch_exit_code(rows) == 1


def test_readme_command_uses_the_shipped_weights(app, tmp_path):
    """`sasmamba lift assets/demo/cam01.mp4` with every default, once the default weights ship."""
    from sasmamba_cli.weights import default_weights_path
    from sasmamba_models.checkpoint import paths_for

    wpath, mpath = paths_for(default_weights_path())
    if not (wpath.is_file() and mpath.is_file()):
        pytest.skip(f"default lifter weights not shipped yet ({wpath.name}); covered by "
                    "test_default_weights_missing_message until then")
    assert DEMO.is_file(), "the demo clip must ship in assets/demo"
    r = run(app, DEMO, "--out", tmp_path)
    assert r.exit_code == 0, output_of(r)
    doc = json.loads((tmp_path / "cam01.json").read_text())
    assert Path(doc["model"]["weights"]).resolve() == wpath.resolve()
    heights = [np.median(np.array(t["boxes_2d"])[:, 3] - np.array(t["boxes_2d"])[:, 1]) for t in doc["tracks"]]
    main = doc["tracks"][int(np.argmax(heights))]
    bones = bone_lengths(np.array(main["joints_3d"]))
    assert 0.30 < np.median(bones["r_hip-r_knee"]) < 0.55                # trained weights: plausible skeleton
    assert (tmp_path / "cam01.csv").is_file()


def test_demo_clip_ships_with_its_licence():
    folder = DEMO.parent
    assert DEMO.is_file() and DEMO.stat().st_size < 5_000_000
    assert "BSD 3-Clause" in (folder / "LICENSE_BSD-3-Clause.txt").read_text()
    assert "Pose2Sim" in (folder / "ATTRIBUTION.md").read_text()


def test_a_redone_clip_never_leaves_old_files_that_make_resume_skip_it(tmp_path, monkeypatch):
    """Old JSON / render files of an earlier run must not survive a crash or failed render of the redo."""
    from types import SimpleNamespace

    from sasmamba_cli.export.synthetic import synthetic_result
    from sasmamba_cli import batch
    from sasmamba_cli.pipeline.result import result_from_dict, result_to_dict
    from sasmamba_cli.render import outputs
    from sasmamba_cli.pipeline.run import LiftSettings

    out = tmp_path / "o"
    out.mkdir()

    def clip():
        c = result_from_dict(result_to_dict(synthetic_result(6, 1)))
        c.header["run"] = {"settings_hash": "new"}
        return c
    pipe = SimpleNamespace(settings=LiftSettings(formats=("json", "csv"), render=True))
    for name in ("c.json", "c_render.mp4", "c_render_summary.png"):
        (out / name).write_text("from an earlier run")

    def broken_render(*a, **k):
        raise outputs.RenderError("simulated encoder crash")
    monkeypatch.setattr(batch, "write_render", broken_render)
    with pytest.raises(outputs.RenderError):
        batch.write_outputs(pipe, clip(), out, "c")
    listed = json.loads((out / "c.json").read_text())["run"]["outputs"]
    assert "c_render.mp4" in listed and not any((out / n).exists() for n in listed if "render" in n)

    def crash(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setitem(batch.WRITERS, "csv", crash)
    with pytest.raises(KeyboardInterrupt):
        batch.write_outputs(pipe, clip(), out, "c")
    assert not (out / "c.json").exists()          # no JSON vouching for the half-written clip


def test_relifting_a_result_into_its_own_folder_never_overwrites_it(app, tmp_path, tiny_weights):
    kp = write_keypoint_file(tmp_path / "walk.json")
    out = tmp_path / "o"
    r = run(app, "--keypoints", kp, "--weights", tiny_weights, "--out", out)
    assert r.exit_code == 0, output_of(r)
    src = out / "walk.json"
    before = src.read_bytes()
    r = run(app, "--keypoints", src, "--weights", tiny_weights, "--out", out, "--no-resume")
    assert r.exit_code != 0 and "overwrite its own input" in " ".join(output_of(r).split())
    assert src.read_bytes() == before
