"""VideoPose3D Human3.6M readers on small synthetic files of the same layout."""
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from sasmamba_cli.commands.data import register
from sasmamba_cli.errors import InputError
from sasmamba_cli.mocap.dataset import load_dataset
from sasmamba_cli.mocap.h36m import (H36M32_TO_17, action_group, h36m_dataset, read_h36m_2d,
                                     read_h36m_3d)


def _write_3d(path, rng):
    pos = {"S1": {"Walking 1": rng.normal(size=(100, 32, 3)), "Directions": rng.normal(size=(51, 32, 3))},
           "S9": {"Walking": rng.normal(size=(26, 32, 3))}}
    np.savez(path, positions_3d=pos)    # a pickled object array, like VideoPose3D's file
    return pos


def test_3d_reader_requires_opt_in_and_maps_joints(tmp_path):
    rng = np.random.default_rng(0)
    pos = _write_3d(tmp_path / "data_3d_h36m.npz", rng)
    with pytest.raises(InputError, match="trust-pickle"):
        read_h36m_3d(tmp_path / "data_3d_h36m.npz")
    out = read_h36m_3d(tmp_path / "data_3d_h36m.npz", trust_pickle=True)
    got = out["S1"]["Walking 1"]
    src = pos["S1"]["Walking 1"][:, list(H36M32_TO_17)] * 1000
    assert got.shape == (100, 17, 3)
    np.testing.assert_allclose(got[..., 0], src[..., 0])       # x kept
    np.testing.assert_allclose(got[..., 1], src[..., 2])       # Z up -> Y up
    np.testing.assert_allclose(got[..., 2], -src[..., 1])
    ds = h36m_dataset(out, fps=25)
    assert list(ds.clip_id) == ["h36m/S1/Directions", "h36m/S1/Walking 1", "h36m/S9/Walking"]
    assert list(ds.group) == ["h36m/Directions", "h36m/Walking", "h36m/Walking"]
    assert list(ds.subject) == ["S1", "S1", "S9"] and set(ds.source) == {"h36m"}
    assert list(ds.clip_lengths()) == [26, 50, 13]          # 50 Hz -> 25 Hz


def test_3d_reader_rejects_wrong_layout(tmp_path):
    np.savez(tmp_path / "bad.npz", positions_3d={"S1": {"A": np.zeros((5, 17, 3))}})
    with pytest.raises(InputError, match="32, 3"):
        read_h36m_3d(tmp_path / "bad.npz", trust_pickle=True)
    np.savez(tmp_path / "other.npz", something=np.zeros(3))
    with pytest.raises(InputError, match="positions_3d"):
        read_h36m_3d(tmp_path / "other.npz", trust_pickle=True)


def test_2d_reader(tmp_path):
    rng = np.random.default_rng(1)
    cams = [rng.uniform(0, 1000, (40, 17, 2)) for _ in range(4)]
    meta = {"layout_name": "h36m", "num_joints": 17,
            "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    np.savez(tmp_path / "data_2d_h36m_cpn.npz", positions_2d={"S1": {"Walking 1": cams}}, metadata=meta)
    with pytest.raises(InputError, match="pickle"):
        read_h36m_2d(tmp_path / "data_2d_h36m_cpn.npz")
    pos, m = read_h36m_2d(tmp_path / "data_2d_h36m_cpn.npz", trust_pickle=True)
    assert len(pos["S1"]["Walking 1"]) == 4 and m["layout_name"] == "h36m"
    np.testing.assert_array_equal(pos["S1"]["Walking 1"][2], cams[2])


def test_action_group():
    assert action_group("Walking 1") == "Walking"
    assert action_group("SittingDown 2") == "SittingDown"
    assert action_group("Photo") == "Photo"


def test_cli_h36m(tmp_path):
    _write_3d(tmp_path / "d3.npz", np.random.default_rng(2))
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root():
        pass

    r = CliRunner().invoke(app, ["data", "h36m", str(tmp_path / "d3.npz"), "--out", str(tmp_path / "o.npz")])
    assert r.exit_code == 2 and "trust-pickle" in r.output
    r = CliRunner().invoke(app, ["data", "h36m", str(tmp_path / "d3.npz"), "--trust-pickle",
                                 "--out", str(tmp_path / "o.npz")])
    assert r.exit_code == 0, r.output
    assert load_dataset(tmp_path / "o.npz").num_clips == 3
