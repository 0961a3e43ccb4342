"""Training: metrics (``sasmamba_cli/metrics.py``), the loss (``training/losses.py``) and the training
loop with checkpoints and resume (``training/trainer.py``, ``sasmamba train``)."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from sasmamba_cli.errors import InputError
from sasmamba_cli import metrics as M

LOG_HEADER = ["step", "epoch", "samples", "lr", "loss", "mpjpe_mm", "n_mpjpe_mm", "velocity_mm",
              "sec_per_step", "train_minutes", "val_mpjpe_mm", "val_p_mpjpe_mm"]
RUN_FILES = {"config.json", "log.csv", "state.json", "state.safetensors", "best.json", "best.safetensors",
             "last.json", "last.safetensors"}


def _pose(t: int = 4, j: int = 17, seed: int = 0) -> np.ndarray:
    """(t, j, 3) metres: a non-planar, non-symmetric random pose sequence."""
    return np.random.default_rng(seed).normal(0.0, 0.3, (t, j, 3))


def _rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


# --- metrics ------------------------------------------------------------------------------------------

def test_identical_poses_score_zero_on_every_metric():
    gt = _pose()
    for name, fn in M.METRICS.items():
        assert np.allclose(fn(gt.copy(), gt), 0.0, atol=1e-9), name
    assert all(v == pytest.approx(0.0, abs=1e-6) for v in M.clip_metrics(gt.copy(), gt).values())


def test_metric_shapes_follow_the_docstring_and_batches_match_single_clips():
    gt, pred = _pose(6, seed=1), _pose(6, seed=2)
    assert M.mpjpe(pred, gt).shape == (6,)
    assert M.p_mpjpe(pred, gt).shape == (6,)
    assert M.n_mpjpe(pred, gt).shape == (6,)
    assert M.mpjve(pred, gt).shape == (5,)
    assert M.accel_error(pred, gt).shape == (4,)
    gts, preds = np.stack([gt, _pose(6, seed=3)]), np.stack([pred, _pose(6, seed=4)])   # (N, T, J, 3)
    for name, fn in M.METRICS.items():
        batched = fn(preds, gts)
        assert batched.shape[0] == 2, name
        for n in range(2):
            np.testing.assert_allclose(batched[n], fn(preds[n], gts[n]), atol=1e-12, err_msg=name)


def test_metrics_are_in_the_input_units_and_clip_metrics_converts_to_mm():
    gt, pred = _pose(5, seed=5), _pose(5, seed=6)
    for name, fn in M.METRICS.items():          # every metric is homogeneous of degree 1
        np.testing.assert_allclose(fn(pred * 1000, gt * 1000), 1000 * fn(pred, gt), rtol=1e-9, err_msg=name)
    cm = M.clip_metrics(pred, gt)
    assert set(cm) == {"mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "accel"}
    for name, fn in M.METRICS.items():
        assert cm[name] == pytest.approx(1000 * fn(pred, gt).mean(), rel=1e-9)
    assert M.clip_metrics(pred, gt, scale=1.0)["mpjpe"] == pytest.approx(M.mpjpe(pred, gt).mean())
    one = M.clip_metrics(pred[:1], gt[:1])                   # no velocity / acceleration for one frame
    assert math.isnan(one["mpjve"]) and math.isnan(one["accel"]) and one["mpjpe"] > 0


def test_translation_moves_mpjpe_by_its_length_but_not_p_mpjpe():
    gt = _pose()
    shift = np.array([0.03, -0.04, 0.12])                    # |shift| = 0.13 m
    pred = gt + shift
    np.testing.assert_allclose(M.mpjpe(pred, gt), 0.13, rtol=1e-12)
    np.testing.assert_allclose(M.p_mpjpe(pred, gt), 0.0, atol=1e-9)
    per_frame = gt + np.array([[0.1, 0, 0], [0, 0.2, 0], [0, 0, 0.3], [0.3, 0.4, 0]])[:, None, :]
    np.testing.assert_allclose(M.mpjpe(per_frame, gt), [0.1, 0.2, 0.3, 0.5], rtol=1e-12)
    np.testing.assert_allclose(M.p_mpjpe(per_frame, gt), 0.0, atol=1e-9)


def test_uniform_scaling_is_removed_by_n_mpjpe_and_p_mpjpe():
    gt = _pose()
    for s in (0.5, 1.3, 2.0):
        pred = s * gt
        expected = abs(s - 1) * np.linalg.norm(gt, axis=-1).mean(-1)     # hand-computed MPJPE
        np.testing.assert_allclose(M.mpjpe(pred, gt), expected, rtol=1e-12)
        assert np.all(M.mpjpe(pred, gt) > 0.05)
        np.testing.assert_allclose(M.n_mpjpe(pred, gt), 0.0, atol=1e-9)
        np.testing.assert_allclose(M.p_mpjpe(pred, gt), 0.0, atol=1e-9)
    per_frame = gt * np.array([0.5, 1.0, 1.5, 3.0])[:, None, None]       # scale is fitted per frame
    np.testing.assert_allclose(M.n_mpjpe(per_frame, gt), 0.0, atol=1e-9)


def test_p_mpjpe_removes_a_rotation_scale_and_translation_but_not_a_mirror():
    gt = _pose(3, seed=7)
    for seed in range(4):
        rot = _rotation(seed)
        pred = 1.7 * gt @ rot.T + np.array([0.2, -1.0, 3.0])
        assert np.all(M.mpjpe(pred, gt) > 0.1)
        np.testing.assert_allclose(M.p_mpjpe(pred, gt), 0.0, atol=1e-9)
        np.testing.assert_allclose(M.procrustes_align(pred, gt), gt, atol=1e-9)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])                            # a reflection is no rotation
    assert np.all(M.p_mpjpe(mirrored, gt) > 0.02)


def test_procrustes_alignment_is_optimal_among_similarity_transforms():
    """No small rotation / scale / translation of the aligned pose lowers the squared error."""
    gt, pred = _pose(1, seed=8)[0], _pose(1, seed=9)[0]
    aligned = M.procrustes_align(pred, gt)
    best = ((aligned - gt) ** 2).sum()
    rng = np.random.default_rng(10)
    c = aligned.mean(0)
    for _ in range(200):
        w = rng.normal(0, 0.05, 3)
        k = np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]])
        rot = np.eye(3) + np.sin(np.linalg.norm(w)) / np.linalg.norm(w) * k + \
            (1 - np.cos(np.linalg.norm(w))) / np.linalg.norm(w) ** 2 * (k @ k)
        moved = rng.uniform(0.95, 1.05) * (aligned - c) @ rot.T + c + rng.normal(0, 0.01, 3)
        assert ((moved - gt) ** 2).sum() >= best - 1e-12


def test_velocity_and_acceleration_errors():
    gt = _pose(5, seed=11)
    const = gt + np.array([0.5, -0.2, 0.1])
    np.testing.assert_allclose(M.mpjve(const, gt), 0.0, atol=1e-12)
    np.testing.assert_allclose(M.accel_error(const, gt), 0.0, atol=1e-12)
    drift = gt + np.arange(5)[:, None, None] * np.array([0.0, 0.03, 0.04])      # 0.05 m per frame
    np.testing.assert_allclose(M.mpjve(drift, gt), 0.05, rtol=1e-12)
    np.testing.assert_allclose(M.accel_error(drift, gt), 0.0, atol=1e-12)
    # hand-computed: 3 frames, 2 joints, joint 0 of frame 1 off by (0.3, 0.4, 0) (0.5 m)
    gt = np.zeros((3, 2, 3))
    pred = gt.copy()
    pred[1, 0] = [0.3, 0.4, 0.0]
    np.testing.assert_allclose(M.mpjpe(pred, gt), [0.0, 0.25, 0.0])
    np.testing.assert_allclose(M.mpjve(pred, gt), [0.25, 0.25])        # |+-0.5| on one of two joints
    np.testing.assert_allclose(M.accel_error(pred, gt), [0.5])         # |0 - 2 * 0.5 + 0| / 2 joints
    noisy = gt + np.random.default_rng(12).normal(0, 0.01, gt.shape)
    assert np.all(M.mpjve(noisy, gt) > 0) and np.all(M.accel_error(noisy, gt) > 0)


# --- the loss --------------------------------------------------------------------------------------------

def _loss_numpy(pred: np.ndarray, gt: np.ndarray) -> float:
    """MPJPE + 0.5 N-MPJPE + 20 velocity, written with explicit loops (B, T, J, 3)."""
    b, t, j, _ = pred.shape
    e = [np.linalg.norm(pred[i, f, k] - gt[i, f, k]) for i in range(b) for f in range(t) for k in range(j)]
    ns = []
    for i in range(b):
        for f in range(t):
            s = float(np.dot(pred[i, f].ravel(), gt[i, f].ravel()) / np.dot(pred[i, f].ravel(), pred[i, f].ravel()))
            ns += [np.linalg.norm(s * pred[i, f, k] - gt[i, f, k]) for k in range(j)]
    v = [np.linalg.norm((pred[i, f + 1, k] - pred[i, f, k]) - (gt[i, f + 1, k] - gt[i, f, k]))
         for i in range(b) for f in range(t - 1) for k in range(j)]
    return float(np.mean(e) + 0.5 * np.mean(ns) + 20 * (np.mean(v) if v else 0.0))


def test_loss_weights_are_the_documented_ones():
    from sasmamba_cli.training.losses import LOSS_WEIGHTS
    assert LOSS_WEIGHTS == {"mpjpe": 1.0, "n_mpjpe": 0.5, "velocity": 20.0}


def test_loss_is_zero_for_a_perfect_prediction_and_has_finite_gradients():
    import torch

    from sasmamba_cli.training.losses import lifter_loss

    gt = torch.from_numpy(_pose(5)[None]).float()
    gt[..., 0, :] = 0.0                                     # root-relative: the root is exactly 0
    pred = gt.clone().requires_grad_(True)
    total, parts = lifter_loss(pred, gt)
    assert float(total.detach()) == pytest.approx(0.0, abs=1e-6)
    assert parts == pytest.approx({"mpjpe": 0.0, "n_mpjpe": 0.0, "velocity": 0.0}, abs=1e-6)
    total.backward()
    assert torch.isfinite(pred.grad).all()


def test_loss_value_on_a_hand_checkable_case():
    import torch

    from sasmamba_cli.training.losses import lifter_loss

    # one joint, two frames: frame 0 exact, frame 1 predicted at (0, 1, 0) instead of (1, 0, 0)
    gt = torch.tensor([[[[1.0, 0, 0]], [[1.0, 0, 0]]]])
    pred = torch.tensor([[[[1.0, 0, 0]], [[0.0, 1, 0]]]])
    total, parts = lifter_loss(pred, gt)
    s2 = math.sqrt(2)
    assert parts["mpjpe"] == pytest.approx(s2 / 2, rel=1e-6)            # (0 + sqrt 2) / 2
    assert parts["n_mpjpe"] == pytest.approx(0.5, rel=1e-6)             # frame 1 rescaled to 0: (0 + 1) / 2
    assert parts["velocity"] == pytest.approx(s2, rel=1e-6)             # |(-1, 1, 0) - 0|
    assert float(total) == pytest.approx(s2 / 2 + 0.25 + 20 * s2, rel=1e-6)
    assert float(total) == pytest.approx(_loss_numpy(pred.numpy(), gt.numpy()), rel=1e-6)


def test_loss_matches_an_independent_computation_and_the_numpy_metrics():
    import torch

    from sasmamba_cli.training.losses import lifter_loss

    rng = np.random.default_rng(13)
    gt = rng.normal(0, 0.3, (2, 4, 5, 3))
    pred = gt + rng.normal(0, 0.05, gt.shape)
    total, parts = lifter_loss(torch.from_numpy(pred), torch.from_numpy(gt))
    assert float(total) == pytest.approx(_loss_numpy(pred, gt), rel=1e-9)
    assert parts["mpjpe"] == pytest.approx(M.mpjpe(pred, gt).mean(), rel=1e-9)
    assert parts["n_mpjpe"] == pytest.approx(M.n_mpjpe(pred, gt).mean(), rel=1e-9)
    assert parts["velocity"] == pytest.approx(M.mpjve(pred, gt).mean(), rel=1e-9)
    one, p1 = lifter_loss(torch.from_numpy(pred[:, :1]), torch.from_numpy(gt[:, :1]))   # T = 1
    assert p1["velocity"] == 0.0
    assert float(one) == pytest.approx(_loss_numpy(pred[:, :1], gt[:, :1]), rel=1e-9)


# --- training end to end --------------------------------------------------------------------------

BATCH, WINDOW, EPOCH_SAMPLES, LR = 2, 9, 4, 5e-4            # 2 steps per epoch


def _tiny_dataset():
    """Three 20-frame clips of a synthetic swaying person (mm, Y up), groups g0, g1, g2."""
    from _mocap_helpers import swaying_person_clips

    from sasmamba_cli.mocap.dataset import from_clips

    return swaying_person_clips(from_clips, n_clips=3, frames=20)


@pytest.fixture(scope="module", autouse=True)
def _keep_torch_threads():
    """The trainer calls torch.set_num_threads(threads); restore the process setting afterwards."""
    import torch
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data_files(tmp_path_factory) -> dict:
    from sasmamba_cli.mocap.dataset import save_dataset, split_indices

    d = tmp_path_factory.mktemp("train_data")
    ds = _tiny_dataset()
    save_dataset(ds, d / "tiny.npz")
    split = d / "split.json"
    split.write_text(json.dumps({"version": 1, "val": {"groups": ["g2"], "subjects": []},
                                 "test": {"groups": [], "subjects": []}}))
    assert split_indices(ds, split, "train").tolist() == [0, 1]
    assert split_indices(ds, split, "val").tolist() == [2]
    return {"data": d / "tiny.npz", "split": split}


def _cfg(data_files, out, epochs=1, **kw):
    from sasmamba_cli.training.trainer import TrainConfig

    base = dict(data=(str(data_files["data"]),), out_dir=str(out), arch="sasmamba", preset="tiny", window=WINDOW,
                batch_size=BATCH, lr=LR, epoch_samples=EPOCH_SAMPLES, epochs=epochs, checkpoint_every=1,
                val_clips=4, val_max_frames=20, split=str(data_files["split"]), threads=1, seed=0,
                device="cpu")    # bit-exact comparisons below; CUDA kernels add with atomics
    base.update(kw)
    return TrainConfig(**base)


def _train(cfg) -> tuple[Path, str]:
    from rich.console import Console

    from sasmamba_cli.training.trainer import train

    buf = io.StringIO()
    run = train(cfg, command="test", console=Console(file=buf, width=200))
    return run, buf.getvalue()


def _log(run: Path) -> tuple[list[str], list[dict], list[dict]]:
    """(header, step rows, epoch/validation rows) of log.csv."""
    with open(run / "log.csv", newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]
    return header, [r for r in body if r["loss"] != ""], [r for r in body if r["val_mpjpe_mm"] != ""]


def _copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="module")
def two_step_run(data_files, tmp_path_factory) -> Path:
    """A finished 1-epoch (2-step) tiny run; tests resume from copies of it."""
    run, _ = _train(_cfg(data_files, tmp_path_factory.mktemp("runs") / "run", epochs=1))
    return run


def test_fresh_run_writes_log_checkpoints_and_state(two_step_run, data_files):
    from safetensors.numpy import load_file
    from sasmamba_models.checkpoint import load_checkpoint

    run = two_step_run
    assert {p.name for p in run.iterdir()} == RUN_FILES                  # no temp files left behind
    assert json.loads((run / "config.json").read_text()) == _cfg(data_files, run, epochs=1).to_dict()

    header, steps, epochs = _log(run)
    assert header == LOG_HEADER
    assert [int(r["step"]) for r in steps] == [1, 2]
    assert [int(r["samples"]) for r in steps] == [BATCH, 2 * BATCH]
    assert [int(r["epoch"]) for r in steps] == [0, 0]
    assert [float(r["lr"]) for r in steps] == pytest.approx([LR, LR], rel=1e-3)
    for r in steps:    # the logged loss is MPJPE + 0.5 N-MPJPE + 20 velocity of the logged parts (mm -> m)
        parts = (float(r["mpjpe_mm"]) + 0.5 * float(r["n_mpjpe_mm"]) + 20 * float(r["velocity_mm"])) / 1000
        assert float(r["loss"]) == pytest.approx(parts, abs=2e-3)
        assert float(r["mpjpe_mm"]) > 0
    assert len(epochs) == 1
    ep = epochs[0]
    assert (int(ep["step"]), int(ep["epoch"])) == (2, 1)
    assert float(ep["lr"]) == pytest.approx(LR * 0.99, rel=1e-3)
    assert float(ep["val_mpjpe_mm"]) > 0 and float(ep["val_p_mpjpe_mm"]) > 0

    state = json.loads((run / "state.json").read_text())
    assert (state["step"], state["epoch"], state["samples"]) == (2, 1, 2 * BATCH)
    assert state["lr"] == pytest.approx(LR * 0.99)
    tensors = load_file(str(run / "state.safetensors"))
    assert any(k.startswith("model.") for k in tensors) and any(k.startswith("opt.") for k in tensors)

    for name in ("last", "best"):
        model, meta = load_checkpoint(run / name, expect_arch="sasmamba")
        assert meta["config"]["dim"] == 16 and meta["config"]["max_frames"] == WINDOW
        assert (meta["steps"], meta["epochs"], meta["window"], meta["fps"]) == (2, 1, WINDOW, 30.0)
        assert meta["data"]["train_clips"] == 2 and meta["data"]["train_frames"] == 40
        assert meta["data"]["split"] == "split.json" and meta["data"]["files"] == ["tiny.npz"]
        assert meta["val"]["mpjpe"] == pytest.approx(float(ep["val_mpjpe_mm"]), abs=0.01)
        import torch
        with torch.no_grad():
            out = model(torch.zeros(1, WINDOW, 17, 2))
        assert out.shape == (1, WINDOW, 17, 3) and torch.isfinite(out).all()
        saved = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        if name == "last":                          # last = the weights of the resume point
            for k, v in model.state_dict().items():
                np.testing.assert_array_equal(v.numpy(), saved[k])


def test_resume_continues_from_the_saved_step(two_step_run, data_files, tmp_path):
    from sasmamba_models.checkpoint import load_checkpoint

    run = _copy_run(two_step_run, tmp_path / "run")
    before = _log(run)[1]
    # resumable keys may change (epochs, threads, checkpoint_every, max_minutes)
    _, out = _train(_cfg(data_files, run, epochs=3, checkpoint_every=5, max_minutes=30.0))
    assert "resuming" in out and "at step 2" in out
    assert json.loads((run / "config.json").read_text())["epochs"] == 3

    header, steps, epochs = _log(run)
    assert header == LOG_HEADER
    step_numbers = [int(r["step"]) for r in steps]
    assert step_numbers == [1, 2, 3, 4, 5, 6]                          # no duplicates, no gaps
    assert steps[:2] == before                                         # the first run's rows are kept
    assert [int(r["samples"]) for r in steps] == [BATCH * s for s in step_numbers]
    assert [(int(r["step"]), int(r["epoch"])) for r in epochs] == [(2, 1), (4, 2), (6, 3)]
    assert [float(r["lr"]) for r in epochs] == pytest.approx([LR * 0.99 ** e for e in (1, 2, 3)], rel=1e-3)
    assert [float(r["lr"]) for r in steps[2:4]] == pytest.approx([LR * 0.99] * 2, rel=1e-3)   # lr restored
    minutes = [float(r["train_minutes"]) for r in steps]
    assert minutes == sorted(minutes)

    state = json.loads((run / "state.json").read_text())
    assert (state["step"], state["epoch"], state["samples"]) == (6, 3, 6 * BATCH)
    _, last = load_checkpoint(run / "last")
    assert (last["steps"], last["epochs"]) == (6, 3)
    vals = [float(r["val_mpjpe_mm"]) for r in epochs]
    _, best = load_checkpoint(run / "best")                            # best on the validation part
    assert best["val"]["mpjpe"] == pytest.approx(min(vals), abs=0.01)
    assert best["steps"] == int(epochs[int(np.argmin(vals))]["step"])
    assert state["best_val"] == pytest.approx(min(vals), abs=0.01)

    # resuming a finished run trains no further and keeps the log as it is
    rows = (run / "log.csv").read_text()
    _train(_cfg(data_files, run, epochs=3))
    assert (run / "log.csv").read_text() == rows
    assert json.loads((run / "state.json").read_text())["step"] == 6


def test_resume_drops_log_rows_written_after_the_checkpoint(two_step_run, data_files, tmp_path):
    """A run killed after logging steps it never checkpointed: those rows are replaced, not duplicated."""
    run = _copy_run(two_step_run, tmp_path / "run")
    with open(run / "log.csv", "a", newline="") as f:
        csv.writer(f).writerow([3, 1, 6, "4.950e-04", "999.00000", "1", "1", "1", "0.1", "0.00", "", ""])
        csv.writer(f).writerow([4, 1, 8, "4.950e-04", "999.00000", "1", "1", "1", "0.1", "0.00", "", ""])
    _train(_cfg(data_files, run, epochs=2))
    _, steps, epochs = _log(run)
    assert [int(r["step"]) for r in steps] == [1, 2, 3, 4]
    assert all(float(r["loss"]) < 999 for r in steps)
    assert [int(r["step"]) for r in epochs] == [2, 4]


def test_resume_is_exact_without_drop_path(data_files, tmp_path):
    """2 steps + resume for 2 more == 4 steps in one go (weights, optimiser, sampler RNG, lr restored)."""
    from safetensors.numpy import load_file

    model = {"drop_path": 0.0}
    split_run = tmp_path / "split"
    _train(_cfg(data_files, split_run, epochs=1, model=model))
    _train(_cfg(data_files, split_run, epochs=2, model=model))
    whole, _ = _train(_cfg(data_files, tmp_path / "whole", epochs=2, model=model))
    a, b = load_file(str(split_run / "state.safetensors")), load_file(str(whole / "state.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    cols = ("step", "epoch", "samples", "lr", "loss", "mpjpe_mm", "val_mpjpe_mm")
    assert [[r[c] for c in cols] for r in _log(split_run)[1] + _log(split_run)[2]] == \
           [[r[c] for c in cols] for r in _log(whole)[1] + _log(whole)[2]]


@pytest.mark.parametrize("change", [{"model": {"dim": 32}}, {"window": 5}, {"lr": 1e-3}, {"preset": "s"},
                                    {"batch_size": 4}])
def test_resume_with_a_changed_setting_is_refused(two_step_run, data_files, tmp_path, change):
    run = _copy_run(two_step_run, tmp_path / "run")
    config, state = (run / "config.json").read_text(), (run / "state.json").read_text()
    key = next(iter(change))
    with pytest.raises(InputError, match=rf"holds a run with a different config \(\{{'{key}'") as e:
        _train(_cfg(data_files, run, epochs=2, **change))
    assert "use another --out or the same settings to resume" in str(e.value)
    assert (run / "config.json").read_text() == config                    # the run is left untouched
    assert (run / "state.json").read_text() == state


def test_train_command_trains_resumes_and_refuses_a_changed_model(data_files, tmp_path):
    from typer.testing import CliRunner

    from sasmamba_cli.cli import app

    cfg = {"preset": "tiny", "window": WINDOW, "batch_size": BATCH, "epoch_samples": EPOCH_SAMPLES,
           "checkpoint_every": 1, "val_clips": 4, "val_max_frames": 20, "threads": 1}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    out = tmp_path / "run"

    def invoke(*extra):
        r = CliRunner().invoke(app, ["train", str(data_files["data"]), "--config", str(tmp_path / "cfg.json"),
                                     "--out", str(out), "--split", str(data_files["split"]), *extra])
        return r, r.stdout + (r.stderr if hasattr(r, "stderr") else "")

    r, text = invoke("--epochs", "1")
    assert r.exit_code == 0, text
    assert str(out / "best.json") in text
    assert json.loads((out / "config.json").read_text())["preset"] == "tiny"
    assert [int(s["step"]) for s in _log(out)[1]] == [1, 2]

    r, text = invoke("--epochs", "2")
    assert r.exit_code == 0, text
    assert [int(s["step"]) for s in _log(out)[1]] == [1, 2, 3, 4]

    r, text = invoke("--epochs", "3", "--model", '{"dim": 32}')
    assert r.exit_code == 2, text
    flat = " ".join(text.split())
    assert "error:" in flat and "different config" in flat and "'model'" in flat
    assert json.loads((out / "state.json").read_text())["step"] == 4


# --- once-known problems, fixed: a failed start, an empty validation part, exact resume ---------------

def test_a_failed_start_does_not_block_the_corrected_command(data_files, tmp_path):
    good = _cfg(data_files, tmp_path / "run", epochs=1)
    with pytest.raises(InputError, match="not found"):
        _train(dataclasses.replace(good, data=(str(tmp_path / "typo.npz"),)))
    _train(good)
    assert json.loads((tmp_path / "run" / "state.json").read_text())["step"] == 2


def test_an_empty_validation_part_is_not_a_crash(data_files, tmp_path):
    split = tmp_path / "no_val.json"
    split.write_text(json.dumps({"val": {"groups": []}, "test": {"groups": ["g2"]}}))
    with pytest.raises(InputError, match="no val clips"):
        _train(_cfg(data_files, tmp_path / "run", epochs=1, split=str(split)))
    assert not (tmp_path / "run" / "log.csv").exists()        # refused before any training


def test_resume_is_exact_with_drop_path(data_files, tmp_path):
    from safetensors.numpy import load_file

    split_run = tmp_path / "split"
    _train(_cfg(data_files, split_run, epochs=1))
    _train(_cfg(data_files, split_run, epochs=2))
    whole, _ = _train(_cfg(data_files, tmp_path / "whole", epochs=2))
    a, b = load_file(str(split_run / "last.safetensors")), load_file(str(whole / "last.safetensors"))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_resume_is_exact_with_worker_processes_whatever_their_number(data_files, tmp_path):
    """Batches built ahead by worker processes: 2 steps + resume == 4 steps in one go, with 2 and 1
    workers; prefetched but unused batches are not skipped on resume."""
    from safetensors.numpy import load_file

    model = {"drop_path": 0.0}
    split_run = tmp_path / "split"
    _train(_cfg(data_files, split_run, epochs=1, model=model, workers=2))
    _train(_cfg(data_files, split_run, epochs=2, model=model, workers=2))
    whole, _ = _train(_cfg(data_files, tmp_path / "whole", epochs=2, model=model, workers=1))
    a, b = load_file(str(split_run / "state.safetensors")), load_file(str(whole / "state.safetensors"))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    inproc, _ = _train(_cfg(data_files, tmp_path / "inproc", epochs=2, model=model))
    c = load_file(str(inproc / "state.safetensors"))      # in-process draws are another stream
    assert not np.array_equal(c["model.head.1.weight"], b["model.head.1.weight"])
    _, out = _train(_cfg(data_files, whole, epochs=3, model=model))      # resumed without workers
    assert "this run drew its batches seeded, now in-process" in out
    assert json.loads((whole / "state.json").read_text())["stream"] == "in-process"


def test_a_run_started_before_device_and_workers_existed_resumes(two_step_run, data_files, tmp_path):
    run = _copy_run(two_step_run, tmp_path / "run")
    cfg = json.loads((run / "config.json").read_text())
    for key in ("device", "workers", "in_chans", "seed"):  # the last two are not resumable keys:
        cfg.pop(key)                                        # their defaults stand in for them
    (run / "config.json").write_text(json.dumps(cfg))
    _train(_cfg(data_files, run, epochs=2))
    assert json.loads((run / "state.json").read_text())["step"] == 4


def test_an_absent_cuda_device_is_a_clear_error(data_files, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(InputError, match="torch sees no CUDA device; use --device cpu"):
        _train(_cfg(data_files, tmp_path / "run", device="cuda"))
    with pytest.raises(InputError, match="unknown device 'tpu7'"):
        _train(_cfg(data_files, tmp_path / "run2", device="tpu7"))


@pytest.mark.gpu
def test_training_on_cuda_resumes_like_an_uninterrupted_run(data_files, tmp_path):
    """On CUDA: 2 steps + resume == 4 steps up to float reordering (drop-path masks come from the
    CUDA generator, whose state the checkpoint keeps; replayed masks would differ far more)."""
    import torch
    from safetensors.numpy import load_file
    from sasmamba_models.checkpoint import load_checkpoint

    split_run = tmp_path / "split"
    _train(_cfg(data_files, split_run, epochs=1, device="cuda", workers=2))
    _train(_cfg(data_files, split_run, epochs=2, device="cuda", workers=2))
    whole, _ = _train(_cfg(data_files, tmp_path / "whole", epochs=2, device="cuda", workers=2))
    a, b = load_file(str(split_run / "last.safetensors")), load_file(str(whole / "last.safetensors"))
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-6, err_msg=k)
    _, meta = load_checkpoint(whole / "last")
    assert meta["device"] == torch.cuda.get_device_name(0)
    assert np.isfinite(float(_log(whole)[1][-1]["loss"]))


def test_worker_processes_end_with_the_run_also_when_it_fails(data_files, tmp_path, monkeypatch):
    import multiprocessing

    import sasmamba_cli.training.evaluate as evaluate_mod

    _train(_cfg(data_files, tmp_path / "ok", epochs=1, workers=2))
    assert multiprocessing.active_children() == []

    def broken(*a, **k):
        raise RuntimeError("validation failed")
    monkeypatch.setattr(evaluate_mod, "evaluate", broken)
    with pytest.raises(RuntimeError, match="validation failed"):
        _train(_cfg(data_files, tmp_path / "fails", epochs=1, workers=2))
    assert multiprocessing.active_children() == []


def test_a_missing_or_corrupt_init_weights_is_bad_input(tmp_path):
    """train's init_weights goes through the one --weights resolver: the same InputError (exit 2)
    as lift and eval give for the same mistake, not a traceback."""
    from sasmamba_models import SasMambaLifter, preset
    from sasmamba_models.checkpoint import save_checkpoint

    from sasmamba_cli.training.trainer import warm_start

    model = SasMambaLifter(preset("tiny", max_frames=27))
    with pytest.raises(InputError, match="not found"):
        warm_start(model, str(tmp_path / "nope"))
    save_checkpoint(tmp_path / "w", model, window=27, fps=30)
    (tmp_path / "w.safetensors").write_bytes(b"corrupt")
    with pytest.raises(InputError, match="cannot load lifter weights"):
        warm_start(model, str(tmp_path / "w"))
