"""BVH export: geometry, round trips, independent parsing (bvhio), file format details."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sasmamba_cli.errors import InputError
from sasmamba_cli.export.bvh import export_result_bvh, write_result_bvh
from sasmamba_cli.export.geometry import euler_to_matrix, matrices_to_euler_continuous, matrix_to_euler_pair
from sasmamba_cli.export.solve import Motion, forward_kinematics
from sasmamba_cli.export.synthetic import random_motion, reference_rig, synthetic_result
from sasmamba_cli.export.track_rig import world_frame_of
from sasmamba_cli.export.bvh_read import forward_kinematics as bvh_fk
from sasmamba_cli.export.bvh_read import read_bvh
from sasmamba_cli.skeleton import H36M

MIXAMO = ["Hips", "RightUpLeg", "RightLeg", "RightFoot", "LeftUpLeg", "LeftLeg", "LeftFoot", "Spine",
          "Spine1", "Neck", "Head", "LeftArm", "LeftForeArm", "LeftHand", "RightArm", "RightForeArm",
          "RightHand"]


def _fk_world_cm(path: Path, names) -> np.ndarray:
    m = read_bvh(path)
    return bvh_fk(m)[:, [m.index(n) for n in names]]


@settings(max_examples=60, deadline=None)
@given(order=st.sampled_from(["ZXY", "XYZ", "ZYX", "YXZ", "XZY", "YZX"]),
       a=st.floats(-np.pi, np.pi), b=st.floats(-1.5707, 1.5707), c=st.floats(-np.pi, np.pi))
def test_euler_decomposition_reproduces_matrix(order, a, b, c):
    m = euler_to_matrix(np.array([a, b, c]), order)
    first, second = matrix_to_euler_pair(m, order)
    np.testing.assert_allclose(euler_to_matrix(first, order), m, atol=1e-9)
    np.testing.assert_allclose(euler_to_matrix(second, order), m, atol=1e-9)


def test_euler_continuity_has_no_wraps():
    t = np.linspace(0, 4, 400)
    ang = np.stack([3.0 * t, 1.4 * np.sin(3 * t), -2.5 * t], axis=-1)     # crosses +-180 degrees
    out = matrices_to_euler_continuous(euler_to_matrix(ang, "ZXY"), "ZXY")
    assert np.abs(np.diff(out, axis=0)).max() < 0.2                           # radians per frame
    np.testing.assert_allclose(euler_to_matrix(out, "ZXY"), euler_to_matrix(ang, "ZXY"), atol=1e-9)


def test_random_rotation_round_trip(tmp_path):
    """rotations -> FK -> positions -> solver -> BVH -> FK: < 1 mm (twist is not observable)."""
    res = synthetic_result(120, 2, seed=7)
    written = write_result_bvh(res, tmp_path)
    world = world_frame_of(res)
    for w, track in zip(written, res.tracks):
        expected = world.to_world_cm(track.positions_camera_m())
        got = _fk_world_cm(w.path, MIXAMO)
        assert np.abs(got - expected).max() * 10 < 1.0                        # mm
        assert w.report.max_error_mm.max() < 1.0
        assert w.report.solver_max_mm < 0.01
        assert w.report.spread_bvh_pct.max() < 1e-3


def test_straight_limbs_use_stable_fallback(tmp_path):
    rng = np.random.default_rng(3)
    motion = random_motion(60, rng)
    local = motion.local.copy()
    for j in (H36M.index(n) for n in ("r_knee", "l_knee", "l_elbow", "r_elbow", "r_hip", "l_hip")):
        local[:, j] = np.eye(3)                                                 # perfectly straight
    res = synthetic_result(60, 1, seed=3)
    rig = reference_rig()
    pos = forward_kinematics(rig, Motion(motion.root_cm, local))
    cam = (pos / 100.0) @ np.diag([1.0, -1.0, -1.0]) + [0, 0, 4.0]
    track = dataclasses.replace(res.tracks[0], joints_3d_m=cam - cam[:, :1], root_3d_m=cam[:, 0])
    (w,) = write_result_bvh(res.with_tracks([track]), tmp_path)
    assert w.report.max_error_mm.max() < 1.0
    values = w.motion.local
    assert np.all(np.isfinite(values))
    text = w.path.read_text()
    assert "nan" not in text.lower()


def test_header_is_y_up_cm_tpose_with_mixamo_names(tmp_path):
    res = synthetic_result(10, 1, seed=1, fps=25.0)
    (path,) = export_result_bvh(res, tmp_path)
    m = read_bvh(path)
    names = [n for n in m.names if not n.endswith("_end")]
    assert names == MIXAMO
    assert m.channels[0][:3] == ("Xposition", "Yposition", "Zposition")
    for n, c in zip(m.names, m.channels):                     # rotation orders: tests/test_euler_continuity.py
        if n in MIXAMO:
            rot = c[-3:]
            assert len(c) == (6 if n == "Hips" else 3) and {r[0] for r in rot} == set("XYZ"), n
            assert all(r.endswith("rotation") for r in rot), n
    off = {n: m.offsets[m.index(n)] for n in MIXAMO}
    assert off["RightLeg"][1] < -30 and abs(off["RightLeg"][0]) < 1e-6          # legs down, cm
    assert off["Spine"][1] > 10                                                   # spine up
    assert off["LeftForeArm"][0] > 20 and off["RightForeArm"][0] < -20           # arms +-X (T-pose)
    assert off["LeftUpLeg"][0] > 0 > off["RightUpLeg"][0]                         # left is +X
    assert np.all(np.linalg.norm(m.offsets[1:], axis=1) > 0.5)                   # no zero-length bones
    text = path.read_text()
    assert "Frame Time: 0.040000\n" in text
    assert "," not in text and "\r" not in text
    assert len(re.findall(r"^ROOT ", text, flags=re.M)) == 1


def test_single_channel_order_option(tmp_path):
    res = synthetic_result(30, 1, seed=2)
    (path,) = export_result_bvh(res, tmp_path, order="XYZ")
    m = read_bvh(path)
    assert all(c[-3:] == ("Xrotation", "Yrotation", "Zrotation") for c in m.channels if c)
    expected = world_frame_of(res).to_world_cm(res.tracks[0].positions_camera_m())
    assert np.abs(_fk_world_cm(path, MIXAMO) - expected).max() < 0.1


def test_h36m_names_option(tmp_path):
    (path,) = export_result_bvh(synthetic_result(5, 1), tmp_path, naming="h36m")
    m = read_bvh(path)
    assert [n for n in m.names if not n.endswith("_end")] == list(H36M.names)


@pytest.mark.parametrize("fps", [29.97, 60.0])
def test_frame_time_and_frame_count(tmp_path, fps):
    res = synthetic_result(33, 1, fps=fps, first_frame=5)
    (path,) = export_result_bvh(res, tmp_path)
    m = read_bvh(path)
    assert m.num_frames == 33
    assert m.frame_time == pytest.approx(1 / fps, abs=5e-7)
    (path,) = export_result_bvh(res, tmp_path, align="video", stem="aligned")
    assert read_bvh(path).num_frames == res.source.frame_count == 38


def test_root_modes(tmp_path):
    res = synthetic_result(20, 1, seed=4)
    (world,) = export_result_bvh(res, tmp_path, stem="w")
    (start,) = export_result_bvh(res, tmp_path, stem="s", root="start")
    (inplace,) = export_result_bvh(res, tmp_path, stem="i", root="in_place")
    rw, rs, ri = (read_bvh(p).motion[:, :3] for p in (world, start, inplace))
    np.testing.assert_allclose(rs[0, [0, 2]], 0, atol=1e-6)
    np.testing.assert_allclose(rs - rs[0], rw - rw[0], atol=1e-5)
    np.testing.assert_allclose(ri[:, [0, 2]], 0, atol=1e-6)
    np.testing.assert_allclose(ri[:, 1], rw[:, 1], atol=1e-6)
    # world: the floor (lowest ankles) is at y ~ 0, the person stands in front of the camera (-Z)
    fk = _fk_world_cm(world, MIXAMO)
    assert np.percentile(fk[:, [3, 6], 1].min(1), 2) == pytest.approx(0, abs=0.5)
    assert fk[:, 0, 2].mean() < -200


def test_channels_are_continuous(tmp_path):
    res = synthetic_result(300, 1, seed=11, anatomical=True)
    (path,) = export_result_bvh(res, tmp_path)
    rot = read_bvh(path).motion[:, 3:]
    assert np.abs(np.diff(rot, axis=0)).max() < 20.0                           # degrees per frame


def test_bad_options_raise_clear_errors(tmp_path):
    res = synthetic_result(5, 1)
    with pytest.raises(InputError, match="root"):
        export_result_bvh(res, tmp_path, root="hips")
    with pytest.raises(InputError, match="unknown option"):
        export_result_bvh(res, tmp_path, colour="red")
    with pytest.raises(InputError, match="naming"):
        export_result_bvh(res, tmp_path, naming="cmu")
    with pytest.raises(InputError, match="at least one track"):
        export_result_bvh(res.with_tracks([]), tmp_path)


def test_accepts_dict_and_path(tmp_path):
    from sasmamba_cli.pipeline.result import write_json

    res = synthetic_result(8, 1)
    p1 = export_result_bvh(res.to_dict(), tmp_path / "a")
    write_json(res, tmp_path / "r.json")
    p2 = export_result_bvh(tmp_path / "r.json", tmp_path / "b")
    assert p1[0].read_text() == p2[0].read_text()


def test_independent_reader_bvhio(tmp_path):
    """bvhio (PyPI, independent code) parses the file and its FK matches ours."""
    bvhio = pytest.importorskip("bvhio")
    res = synthetic_result(12, 1, seed=5)
    (path,) = export_result_bvh(res, tmp_path)
    container = bvhio.readAsBvh(str(path))
    assert container.FrameCount == 12
    assert container.FrameTime == pytest.approx(1 / 30, abs=1e-6)
    root = bvhio.readAsHierarchy(str(path))
    joints = {j.Name: j for j, _, _ in root.layout()}
    assert set(MIXAMO) <= set(joints)
    ours = _fk_world_cm(path, MIXAMO)
    for frame in (0, 7, 11):
        root.loadPose(frame)
        theirs = np.array([list(joints[n].PositionWorld) for n in MIXAMO])
        assert np.abs(theirs - ours[frame]).max() < 0.01                      # cm


def test_world_frame_round_trip_and_level():
    res = synthetic_result(30, 2, seed=9, camera_tilt_deg=15.0)
    world = world_frame_of(res)
    p = res.tracks[0].positions_camera_m()
    np.testing.assert_allclose(world.to_camera_m(world.to_world_cm(p)), p, atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(world.rotation), 1.0)
    # after levelling, the mean torso direction is +Y (the synthetic camera was tilted by 15 deg)
    w = world.to_world_cm(p)
    up = w[:, 8] - w[:, 0]
    up = (up / np.linalg.norm(up, axis=1, keepdims=True)).mean(0)
    assert up[1] / np.linalg.norm(up) > 0.95
