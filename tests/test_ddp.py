"""Multi-process training: `torchrun --nproc-per-node 2 -m sasmamba_cli train` (gloo, CPU) gives the
same weights as one process with the same global batch, and writes from rank 0 only."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))


def _config(tmp_path, data, split, out):
    cfg = {"data": [str(data)], "out_dir": str(out), "arch": "sasmamba", "preset": "tiny",
           "model": {"drop_path": 0.0},            # no stochastic layers: the two runs must match exactly
           "window": 9, "batch_size": 4, "lr": 5e-4, "epoch_samples": 8, "epochs": 1, "checkpoint_every": 1,
           "val_clips": 2, "val_max_frames": 20, "split": str(split), "threads": 1, "seed": 0, "device": "cpu"}
    p = tmp_path / f"{out.name}.json"
    p.write_text(json.dumps(cfg))
    return p


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from _mocap_helpers import swaying_person_clips

    from sasmamba_cli.mocap.dataset import from_clips, save_dataset

    d = tmp_path_factory.mktemp("ddp")
    save_dataset(swaying_person_clips(from_clips, n_clips=3, frames=20), d / "tiny.npz")
    split = d / "split.json"
    split.write_text(json.dumps({"version": 1, "val": {"groups": ["g2"], "subjects": []},
                                 "test": {"groups": [], "subjects": []}}))
    return d / "tiny.npz", split


def _run(args, env_extra=None, timeout=240):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    return p


def test_two_rank_gloo_equals_one_process(tmp_path, data):
    from safetensors.numpy import load_file

    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    if not Path(torchrun).exists():
        pytest.skip("torchrun not found")
    one = tmp_path / "one"
    two = tmp_path / "two"
    _run([sys.executable, "-m", "sasmamba_cli", "train", "--config", str(_config(tmp_path, *data, one)),
          "--out", str(one)])
    _run([torchrun, "--nproc-per-node", "2", "--master-port", "29517", "-m", "sasmamba_cli", "train",
          "--config", str(_config(tmp_path, *data, two)), "--out", str(two)])
    a, b = load_file(one / "last.safetensors"), load_file(two / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=2e-6, rtol=1e-5, err_msg=k)
    state = json.loads((two / "state.json").read_text())
    assert state["step"] == 2 and state["samples"] == 8          # global batch 4 = 2 ranks x 2
    rows = (two / "log.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 + 1                                 # header, 2 steps, 1 validation: one writer
    assert not list(two.glob("*.tmp"))
    # rank 0 logs the loss of its own half of the batch: it differs from the whole batch's, so the
    # ranks really trained on different slices (equal weights then come from DDP's gradient average)
    loss = lambda run: float((run / "log.csv").read_text().splitlines()[1].split(",")[4])
    assert loss(one) != pytest.approx(loss(two), rel=1e-4)
