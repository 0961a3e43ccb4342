"""The papers' Human3.6M protocol (`sasmamba eval-h36m`) on small synthetic files of the same layout."""
import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from sasmamba_cli.commands.eval_h36m import register
from sasmamba_cli.errors import InputError
from sasmamba_cli.mocap.h36m import H36M32_TO_17, read_h36m_2d, read_h36m_3d
from sasmamba_cli.mocap.h36m_protocol import (Sequence, evaluate_sequences, load_cameras, paired_sequences,
                                              quaternion_to_matrix, read_paired_sequences)

FOCAL, CX, CY = 1145.0, 500.0, 500.0


def _quat_look_at(center, target):
    """A camera quaternion (w, x, y, z), camera rotation in the world, looking from center at target
    with image y pointing down (world Z up)."""
    z = target - center
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z], 1)                         # camera axes in world coordinates (columns)
    from scipy.spatial.transform import Rotation
    qx, qy, qz, qw = Rotation.from_matrix(R).as_quat()
    return np.array([qw, qx, qy, qz]), R.T                # and the world -> camera matrix, independently


def _body(frames, rng, offset):
    """(F, 32, 3) metres, Z up: a standing person swaying, joints scattered around a skeleton."""
    t = np.arange(frames)[:, None, None] / 50.0
    base = rng.normal(0, 0.25, (32, 3)) + [0, 0, 1.0]
    return base + offset + 0.05 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6, (32, 3)))


def _write_files(tmp_path, rng, frames=60):
    centers = [np.array([3500.0, 0, 1500]), np.array([0, 3500.0, 1500]), np.array([-3500.0, 0, 1500]),
               np.array([0, -3500.0, 1500])]
    world_m, pos2d, cams = {}, {}, {}
    for subject in ("S1", "S9", "S11"):
        world_m[subject] = {a: _body(frames + k, rng, [0.1 * k, 0, 0]) for k, a in enumerate(["Walking 1", "Walking", "Sitting"])}
        looks = [_quat_look_at(c, np.array([0, 0, 1000.0])) for c in centers]
        cams[subject] = [{"id": str(i), "width": 1000, "height": 1002 if i % 2 == 0 else 1000,
                          "orientation": q.tolist(), "translation_mm": c.tolist()}
                         for i, (c, (q, _)) in enumerate(zip(centers, looks))]
        pos2d[subject] = {}
        for action, w in world_m[subject].items():
            xs = []
            for c, (_, R_wc) in zip(cams[subject], looks):      # projected without the code under test
                cam = (w[:, list(H36M32_TO_17)] * 1000 - np.array(c["translation_mm"])) @ R_wc.T
                xs.append(np.stack([FOCAL * cam[..., 0] / cam[..., 2] + CX, FOCAL * cam[..., 1] / cam[..., 2] + CY], -1)[:-2])
            pos2d[subject][action] = xs                # two frames shorter than the 3D, as some real takes are
    np.savez(tmp_path / "data_3d_h36m.npz", positions_3d=world_m)
    np.savez(tmp_path / "data_2d_h36m_test.npz", positions_2d=pos2d, metadata={"num_joints": 17, "layout_name": "h36m"})
    (tmp_path / "cameras.json").write_text(json.dumps(cams))
    return tmp_path / "data_3d_h36m.npz", tmp_path / "data_2d_h36m_test.npz", tmp_path / "cameras.json"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return _write_files(tmp_path_factory.mktemp("h36m"), np.random.default_rng(0))


def _sequences(files, subjects="S9,S11"):
    return read_paired_sequences(*files, subjects, trust_pickle=True)


def test_quaternion_is_a_rotation_and_matches_a_known_case():
    R = quaternion_to_matrix([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])     # 90 degrees about z
    np.testing.assert_allclose(R @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)


def test_camera_space_targets_reproject_onto_the_2d_detections(files):
    """The convention X_cam = R(q)^T (X - C): camera-space targets project back to the 2D file."""
    seqs = _sequences(files)
    assert len(seqs) == 2 * 3 * 4                                   # subjects x actions x cameras
    for s in seqs:
        assert s.kp2d_px.shape[0] == s.target_cam_mm.shape[0]        # cut to the shorter length
        assert (s.target_cam_mm[..., 2] > 1000).all()                # in front of every camera
        proj = np.stack([FOCAL * s.target_cam_mm[..., 0] / s.target_cam_mm[..., 2] + CX,
                         FOCAL * s.target_cam_mm[..., 1] / s.target_cam_mm[..., 2] + CY], -1)
        np.testing.assert_allclose(proj, s.kp2d_px, atol=1e-6)
        assert (s.width, s.height) == ((1000, 1002) if s.camera % 2 == 0 else (1000, 1000))


def test_rotation_matrix_cameras_equal_quaternion_cameras(files, tmp_path):
    cams = json.loads(files[2].read_text())
    for subject in cams:
        for c in cams[subject]:
            c["rotation"] = quaternion_to_matrix(c.pop("orientation")).T.tolist()
    (tmp_path / "cams_R.json").write_text(json.dumps(cams))
    a, b = load_cameras(files[2]), load_cameras(tmp_path / "cams_R.json")
    for ca, cb in zip(a["S9"], b["S9"]):
        np.testing.assert_allclose(ca.R_wc, cb.R_wc, atol=1e-12)


def test_perfect_and_perturbed_predictions_score_as_expected(files):
    seqs = _sequences(files)
    perfect = evaluate_sequences(lambda s: s.target_cam_mm / 1000.0, seqs)
    assert perfect["mpjpe"] == pytest.approx(0, abs=1e-9) and perfect["p_mpjpe"] == pytest.approx(0, abs=1e-6)
    assert set(perfect["per_action"]) == {"Walking", "Sitting"}     # 'Walking 1' and 'Walking' are one action

    def off(s: Sequence):                  # 17 mm off on one joint in Sitting only, plus a global shift
        p = s.target_cam_mm.copy() + 500.0
        if s.action == "Sitting":
            p[:, 5, 0] += 17.0
        return p / 1000.0
    res = evaluate_sequences(off, seqs)
    assert res["per_action"]["Sitting"]["mpjpe"] == pytest.approx(1.0)     # 17 mm / 17 joints
    assert res["per_action"]["Sitting"]["p_mpjpe"] > 0.1       # no similarity transform undoes one joint's error
    assert res["per_action"]["Walking"]["mpjpe"] == pytest.approx(0, abs=1e-9)
    assert res["mpjpe"] == pytest.approx(0.5)                              # mean over the two actions
    assert res["frames"] == sum(len(s.kp2d_px) for s in seqs)

    def similar(s: Sequence):              # rotated 30 degrees and scaled 1.2: protocol 2 removes both
        c, si = np.cos(np.pi / 6), np.sin(np.pi / 6)
        rel = s.target_cam_mm - s.target_cam_mm[:, :1]
        return 1.2 * rel @ np.array([[c, -si, 0], [si, c, 0], [0, 0, 1.0]]).T / 1000.0
    res = evaluate_sequences(similar, seqs)
    assert res["p_mpjpe"] == pytest.approx(0, abs=1e-6) and res["mpjpe"] > 50

def test_missing_pieces_are_clear_errors(files, tmp_path):
    p3, p2, pc = files
    world = read_h36m_3d(p3, trust_pickle=True, world_axes=True)
    pos2d, _ = read_h36m_2d(p2, trust_pickle=True)
    with pytest.raises(InputError, match="subject S5 is not in the 3D file"):
        paired_sequences(world, pos2d, load_cameras(pc), ["S5"])
    cams = json.loads(pc.read_text())
    del cams["S11"]
    (tmp_path / "c.json").write_text(json.dumps(cams))
    with pytest.raises(InputError, match="S11 is not in the cameras file"):
        paired_sequences(world, pos2d, load_cameras(tmp_path / "c.json"), ["S9", "S11"])
    cams = json.loads(pc.read_text())
    cams["S9"][0]["orientation"] = [1, 2]
    (tmp_path / "c2.json").write_text(json.dumps(cams))
    with pytest.raises(InputError, match="S9 camera 0"):
        load_cameras(tmp_path / "c2.json")
    cams = json.loads(pc.read_text())
    del cams["S9"][1]["orientation"]
    cams["S9"][1]["rotation"] = np.diag([1.0, 1.0, -1.0]).tolist()     # a mirror, not a rotation
    (tmp_path / "c3.json").write_text(json.dumps(cams))
    with pytest.raises(InputError, match="S9 camera 1: the rotation is not"):
        load_cameras(tmp_path / "c3.json")


def test_eval_h36m_command_lifts_every_sequence_with_the_shipped_weights(files, tmp_path):
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    p3, p2, pc = files
    r = CliRunner().invoke(app, ["eval-h36m", str(p3), str(p2), "--cameras", str(pc), "--trust-pickle",
                                 "--weights", "sasmamba_xs",     # a shipped lifter; the small one keeps it quick
                                 "--out", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["sequences"] == 24 and set(res["per_action"]) == {"Walking", "Sitting"}
    assert np.isfinite(res["mpjpe"]) and 0 < res["p_mpjpe"] <= res["mpjpe"]
    assert len(res["weights_sha256"]) == 64
    r = CliRunner().invoke(app, ["eval-h36m", str(p3), str(p2), "--cameras", str(pc)])
    assert r.exit_code == 2 and "trust-pickle" in r.output


def test_paired_dataset_trains_and_evaluates_on_the_real_2d(files, tmp_path):
    """`data h36m-2d` -> a paired dataset whose 2D is the file's (not virtual cameras); the trainer
    and `sasmamba eval` use it; a changed split file holds subjects out."""
    from sasmamba_cli.commands import data as data_cmd
    from sasmamba_cli.commands import eval as eval_cmd
    from sasmamba_cli.mocap.dataset import load_dataset, merge_datasets, split_indices
    from sasmamba_cli.skeleton import lifter_input
    from sasmamba_cli.training.sampler import window_sample
    from sasmamba_cli.training.trainer import TrainConfig, train

    app = typer.Typer()
    data_cmd.register(app)
    eval_cmd.register(app)
    p3, p2, pc = files
    r = CliRunner().invoke(app, ["data", "h36m-2d", str(p3), str(p2), "--cameras", str(pc), "--trust-pickle",
                                 "--subjects", "S1,S9,S11", "--out", str(tmp_path / "pairs.npz")])
    assert r.exit_code == 0, r.output
    ds = load_dataset(tmp_path / "pairs.npz")
    assert ds.paired and ds.num_clips == 3 * 3 * 4 and ds.fps == 30.0
    assert ds.kp2d_px.shape == (ds.num_frames, 17, 2) and ds.image_wh.tolist()[0] == [1000, 1002]
    assert ds.clip_id[0] == "h36m/S1/Sitting/cam0" and set(ds.source) == {"h36m"}
    # the sampler's input is the file's 2D, normalised as at inference (confidence 1) with the
    # clip's own image size (cameras 1 and 3 are 1000 x 1000)
    for clip in (0, 5):
        a = int(ds.clip_start[clip])
        x, y = window_sample(ds, clip, 2, 9, np.random.default_rng(0), 3)
        kp = np.concatenate([ds.kp2d_px[a + 2:a + 11], np.ones((9, 17, 1), np.float32)], -1)
        w, h = ds.image_wh[clip]
        assert (w, h) == ((1000, 1002) if clip % 2 == 0 else (1000, 1000))
        np.testing.assert_allclose(x, lifter_input(kp, w, h, 3), rtol=1e-6)
        tgt = ds.h36m_mm[a + 2:a + 11]
        np.testing.assert_allclose(y, (tgt - tgt[:, :1]) / 1000.0, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="cannot merge a paired"):
        merge_datasets([ds, ds])
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"version": 1, "val": {"subjects": ["h36m/S9"]}, "test": {"subjects": ["h36m/S11"]}}))
    assert len(split_indices(ds, split, "train")) == 12 and len(split_indices(ds, "h36m", "test")) == 24
    (tmp_path / "h36m").mkdir()                        # a folder named like the bundled split
    monkey = pytest.MonkeyPatch()
    monkey.chdir(tmp_path)
    try:
        assert len(split_indices(ds, "h36m", "test")) == 24
    finally:
        monkey.undo()
    run = train(TrainConfig(data=(str(tmp_path / "pairs.npz"),), out_dir=str(tmp_path / "run"), preset="tiny",
                            window=9, in_chans=3, batch_size=2, epoch_samples=4, epochs=1, val_clips=2,
                            val_max_frames=20, split=str(split), threads=1, device="cpu"))
    meta = json.loads((run / "best.json").read_text())
    assert "paired dataset" in meta["input"]["layout"]
    r = CliRunner().invoke(app, ["eval", str(tmp_path / "pairs.npz"), "--weights", str(run / "best.json"),
                                 "--split", str(split), "--device", "cpu", "--out", str(tmp_path / "e.json")])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "e.json").read_text())
    assert res["clips"] == 12 and set(res["flip_tta"]["per_source"]) == {"h36m"}
    r = CliRunner().invoke(app, ["eval", str(tmp_path / "pairs.npz"), "--weights", str(run / "best.json"),
                                 "--split", str(split), "--fix-swaps"])
    assert r.exit_code == 2 and "drop --fix-swaps" in r.output
