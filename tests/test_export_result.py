"""Result loader, FK-consistent results, the `sasmamba export` command, real mocap through BVH."""
from __future__ import annotations

import dataclasses
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from sasmamba_cli.errors import InputError
from sasmamba_cli.skeleton import H36M
from sasmamba_cli.export.bvh import write_result_bvh
from sasmamba_cli.export.consistent import fk_consistent
from sasmamba_cli.pipeline.result import load_result, write_json
from sasmamba_cli.export.synthetic import synthetic_result
from sasmamba_cli.export.track_rig import world_frame_of
from sasmamba_cli.export.bvh_read import forward_kinematics, read_bvh

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _noisy(res, sigma_m=0.01, seed=0):
    rng = np.random.default_rng(seed)
    tracks = []
    for t in res.tracks:
        noise = rng.normal(0, sigma_m, t.joints_3d_m.shape)
        noise[:, 0] = 0
        tracks.append(dataclasses.replace(t, joints_3d_m=t.joints_3d_m + noise))
    return res.with_tracks(tracks)


# --- loader ----------------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    res = synthetic_result(7, 2)
    d = res.to_dict()
    d["tracks"][0]["boxes_2d"] = [[0, 0, 1, 1]] * 7            # boxes are kept
    d["tracks"][0]["keypoints_2d"][3][5] = [None, None, 0.0]   # missing 2D joint
    path = tmp_path / "r.json"
    path.write_text(json.dumps(d))
    back = load_result(path)
    assert back.tracks[0].boxes_px.tolist() == [[0, 0, 1, 1]] * 7
    kp = back.tracks[0].keypoints_2d_px[3, 5]                  # missing: NaN coordinates, confidence 0
    assert np.isnan(kp[:2]).all() and kp[2] == 0.0
    # the dict form is the JSON's: 3D rounded to 10 micrometres
    np.testing.assert_allclose(back.tracks[1].joints_3d_m, res.tracks[1].joints_3d_m, rtol=0, atol=5e-6)
    write_json(back, tmp_path / "again.json")
    again = load_result(tmp_path / "again.json")
    assert again.header["model"] == {"name": "synthetic"}
    assert again.source == res.source


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(schema="other"), "schema"),
    (lambda d: d.update(schema_version=2), "schema_version"),
    (lambda d: d["tracks"][0].update(joints_3d=[[[0, 0]] * 17] * 6), r"shape \(6, 17, 3\)"),
    (lambda d: d["tracks"][0]["root_3d"].__setitem__(2, [None, 0, 1]), "NaN"),
    (lambda d: d["tracks"][0].update(frames=[0, 1, 2, 4, 5, 6]), "consecutive"),
    (lambda d: d["skeleton"].update(joint_names=["a"] * 17), "H36M"),
    (lambda d: d["source"].update(fps=0), "frame rate"),
    (lambda d: d["tracks"][0]["keypoints_2d"][0].__setitem__(0, [None, None, 0.8]), "confidence > 0"),
])
def test_loader_rejects_bad_files(tmp_path, edit, message):
    d = synthetic_result(6, 1).to_dict()
    edit(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(InputError, match=message):
        load_result(path)


def test_loader_missing_and_unreadable(tmp_path):
    with pytest.raises(InputError, match="sasmamba lift"):
        load_result(tmp_path / "none.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(InputError, match="unreadable"):
        load_result(tmp_path / "x.json")


# --- FK-consistent results -------------------------------------------------------------------

def test_fk_consistent_constant_bones_and_agreement_with_bvh(tmp_path):
    res = _noisy(synthetic_result(80, 2, seed=5))
    new, report = fk_consistent(res)
    for t, rep in zip(new.tracks, report["tracks"]):
        pos = t.positions_camera_m()
        par = np.array(H36M.parents)
        lengths = np.linalg.norm(pos[:, 1:] - pos[:, par[1:]], axis=-1)
        assert np.ptp(lengths, axis=0).max() < 1e-9                          # constant bones
        assert max(rep["bone_spread_before_pct"]) > 5 and max(rep["bone_spread_after_pct"]) < 1e-6
        assert 1.0 < rep["mean_change_all_mm"] < 30.0                          # noise was 10 mm
        np.testing.assert_allclose(t.root_3d_m, pos[:, 0])
    # JSON (saved + reloaded) and BVH describe the same positions
    write_json(new, tmp_path / "fk.json")
    again = load_result(tmp_path / "fk.json")
    world = world_frame_of(again)
    for w, t in zip(write_result_bvh(again, tmp_path), again.tracks):
        m = read_bvh(w.path)
        fk = forward_kinematics(m)[:, [m.index(n) for n in w.solved.rig.names]]
        # the JSON holds root_3d and joints_3d to 10 micrometres each (the lift's rounding)
        assert np.abs(world.to_camera_m(fk) - t.positions_camera_m()).max() < 2e-5


def test_fk_consistent_dict_in_dict_out():
    d = synthetic_result(10, 1).to_dict()
    new, report = fk_consistent(d)
    assert isinstance(new, dict) and new["fk_consistent"] == report
    assert new["schema"] == "sasmamba-result"


# --- CLI -------------------------------------------------------------------------------------

def _app():
    from sasmamba_cli.commands import export

    app = typer.Typer()
    export.register(app)

    @app.command("noop")
    def _noop():  # a second command keeps `export` a named sub-command
        pass
    return app


def test_export_command_writes_all_formats(tmp_path):
    write_json(_noisy(synthetic_result(20, 2, seed=1)), tmp_path / "clip.json")
    out = tmp_path / "out"
    r = CliRunner().invoke(_app(), ["export", str(tmp_path / "clip.json"), "-f", "bvh", "-f", "json",
                                    "-f", "npz", "-f", "csv", "--out", str(out)])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["clip.csv", "clip.json", "clip.npz", "clip_bvh_report.json",
                     "clip_track1.bvh", "clip_track2.bvh"]
    assert "verified clip_track1.bvh" in r.output
    side = json.loads((out / "clip_bvh_report.json").read_text())
    assert side["files"][0]["verification"]["frames"] == 20
    npz = np.load(out / "clip.npz")
    fk = load_result(out / "clip.json")
    np.testing.assert_allclose(npz["track1_joints_3d"], fk.tracks[0].joints_3d_m, atol=1e-5)


def test_exported_files_write_missing_2d_joints_as_null_never_zero(tmp_path):
    d = synthetic_result(6, 1).to_dict()
    d["tracks"][0]["keypoints_2d"][2][4] = [None, None, 0.0]      # missing H36M joint
    d["tracks"][0]["confidence"][2][4] = 0.0
    d["tracks"][0]["keypoints_2d_coco"] = [[[100.0, 200.0, 0.9]] * 17] * 6
    d["tracks"][0]["keypoints_2d_coco"][2][7] = [None, None, 0.0]
    (tmp_path / "clip.json").write_text(json.dumps(d))
    out = tmp_path / "out"
    r = CliRunner().invoke(_app(), ["export", str(tmp_path / "clip.json"), "-f", "json", "-f", "npz",
                                    "-f", "csv", "--raw", "--out", str(out)])
    assert r.exit_code == 0, r.output
    t = json.loads((out / "clip.json").read_text())["tracks"][0]
    assert t["keypoints_2d"][2][4] == [None, None, 0.0] and t["keypoints_2d_coco"][2][7] == [None, None, 0.0]
    assert np.all(np.isnan(np.load(out / "clip.npz")["track1_keypoints_2d"][2, 4, :2]))
    import csv
    rows = [r for r in csv.DictReader((out / "clip.csv").open()) if r["frame"] == str(d["tracks"][0]["frames"][2])
            and r["joint_index"] == "4"]
    assert rows[0]["u_px"] == "" and rows[0]["v_px"] == "" and float(rows[0]["confidence"]) == 0


def test_export_format_accepts_comma_lists_and_repeats(tmp_path):
    write_json(synthetic_result(6, 1), tmp_path / "clip.json")
    r = CliRunner().invoke(_app(), ["export", str(tmp_path / "clip.json"), "--format", "bvh, csv", "-f", "npz,csv",
                                    "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["clip.csv", "clip.npz", "clip_bvh_report.json",
                                                                   "clip_track1.bvh"]
    r = CliRunner().invoke(_app(), ["export", str(tmp_path / "clip.json"), "--format", "bvh,fbx",
                                    "--out", str(tmp_path / "b")])
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "unknown output format 'fbx'" in out and "bvh, json, npz, csv" in out
    assert not (tmp_path / "b").exists()


def test_export_command_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "x"}))
    r = CliRunner().invoke(_app(), ["export", str(bad)])
    assert r.exit_code == 2 and "schema" in r.output
    write_json(synthetic_result(5, 1), tmp_path / "clip.json")
    r = CliRunner().invoke(_app(), ["export", str(tmp_path / "clip.json"), "-f", "json"])
    assert r.exit_code == 2 and "overwrite" in r.output


# --- real motion capture ---------------------------------------------------------------------

@pytest.mark.skipif(not (SHARED / "data/mocap/bandai_namco_1.tar.xz").is_file(),
                    reason="needs ../shared/data/mocap (not in a fresh clone)")
def test_real_mocap_through_bvh(tmp_path):
    """A real walk (Bandai Namco, H36M joints from mocap FK) -> BVH: legs exact, upper body small."""
    from sasmamba_cli.mocap.convert import convert_file
    from sasmamba_cli.mocap.rigs import load_rig

    member = "bandai_namco_1/data/dataset-1_walk_normal_001.bvh"
    with tarfile.open(SHARED / "data/mocap/bandai_namco_1.tar.xz") as tar:
        tar.extract(member, tmp_path, filter="data")
    clip = convert_file(tmp_path / member, load_rig("bandai"), fps=30)
    cam = clip.h36m_mm.astype(float) / 1000.0 * [1, -1, -1] + [0.0, 1.0, 4.0]
    n = len(cam)
    base = synthetic_result(n, 1)
    t = base.tracks[0]
    track = dataclasses.replace(t, joints_3d_m=cam - cam[:, :1], root_3d_m=cam[:, 0])
    (w,) = write_result_bvh(base.with_tracks([track]), tmp_path)
    rep = w.report
    assert rep.frames == n
    assert rep.max_error_mm[:7].max() < 0.1                  # pelvis + legs: exact
    assert rep.mean_error_mm.mean() < 10.0                   # thorax/neck are not rigid in H36M
    assert rep.spread_bvh_pct[1:].max() < 1e-3
    rot = read_bvh(w.path).motion[:, 3:]
    assert np.abs(np.diff(rot, axis=0)).max() < 45.0
