"""World frame levelled by a floor fitted to foot contacts (``level="floor"`` / ``"auto"``)."""
from __future__ import annotations

import dataclasses
import inspect
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from sasmamba_cli.errors import InputError
from sasmamba_cli.export import floor, world
from sasmamba_cli.export.bvh import BvhOptions
from sasmamba_cli.export.floor import fit_floor_plane
from sasmamba_cli.export.synthetic import synthetic_result
from sasmamba_cli.export.world import DEFAULT_LEVEL, LEVELS, angle_deg, estimate_world_frame
from sasmamba_cli.skeleton import H36M

SHARED = Path(__file__).resolve().parents[2] / "shared"
ARCHIVE = SHARED / "data" / "mocap" / "bandai_namco_2_subset.tar.xz"
MEMBERS = {"walk_turn": "bandai_namco_2_subset/data/dataset-2_walk-turn-left_normal_007.bvh",
           "run": "bandai_namco_2_subset/data/dataset-2_run_normal_001.bvh"}
FPS = 30.0
ANKLES = [H36M.index("l_ankle"), H36M.index("r_ankle")]
Y = np.array([0.0, 1.0, 0.0])


def _rot(axis: int, deg: float) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    i, j = [k for k in range(3) if k != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def _plane_basis(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u = np.cross(normal, [0.0, 0.0, 1.0])
    u /= np.linalg.norm(u)
    return u, np.cross(normal, u)


# --- (a) robust plane fit ----------------------------------------------------------------------

def test_plane_fit_recovers_tilted_plane_with_noise_and_outliers():
    rng = np.random.default_rng(1)
    normal = _rot(0, 12.0) @ _rot(2, -7.0) @ Y                        # ~14 deg from +Y
    u, v = _plane_basis(normal)
    m = 500
    ab = rng.uniform(-200, 200, (m, 2))                               # 4 m x 4 m of footprints, cm
    pts = 150.0 * normal + ab[:, :1] * u + ab[:, 1:] * v + rng.normal(0, 1.0, (m, 3))
    bad = rng.random(m) < 0.2                                         # 20 % feet in the air / glitches
    pts[bad] += normal * rng.choice([-1, 1], bad.sum())[:, None] * rng.uniform(10, 80, (bad.sum(), 1))
    fit = fit_floor_plane(pts, Y)
    assert fit.shape == "plane" and fit.valid
    assert angle_deg(fit.normal, normal) < 1.0
    assert fit.normal @ Y > 0                                         # oriented to the up side
    assert fit.offset_cm == pytest.approx(150.0, abs=0.5)
    assert fit.inliers[bad].mean() < 0.05 and fit.inliers[~bad].mean() > 0.95
    assert fit.residual_cm == pytest.approx(1.0, abs=0.3)               # ~ the 1 cm noise
    again = fit_floor_plane(pts, Y)                                   # seeded: deterministic
    np.testing.assert_array_equal(again.normal, fit.normal)
    # the normal is flipped to the side of the up hint
    assert fit_floor_plane(pts, -normal).normal @ normal < 0


def test_plane_fit_rejects_bad_input():
    with pytest.raises(ValueError, match=r"expected contact points of shape \(m, 3\)"):
        fit_floor_plane(np.zeros((10, 2)), Y)
    few = fit_floor_plane(np.zeros((floor.MIN_CONTACTS - 1, 3)), Y)
    assert few.shape == "none" and not few.valid


# --- (b) collinear contacts ---------------------------------------------------------------------

def test_collinear_contacts_take_along_line_tilt_from_contacts_and_sideways_from_torso():
    rng = np.random.default_rng(2)
    normal = _rot(0, 10.0) @ Y
    d, side = _plane_basis(normal)                                    # walking direction, sideways
    s = np.linspace(-250, 250, 120)                                   # a 5 m straight walk
    feet = np.where(np.arange(120) % 2 == 0, 9.0, -9.0)               # left / right footprints
    pts = 120.0 * normal + s[:, None] * d + feet[:, None] * side + rng.normal(0, 0.5, (120, 3))
    tan = np.tan(np.radians([6.0, 4.0]))
    hint = normal + tan[0] * side + tan[1] * d                        # the torso: 6 deg sideways, 4 deg
    hint /= np.linalg.norm(hint)                                      # along the line off the true normal
    assert abs(hint @ d) > 0.05
    fit = fit_floor_plane(pts, hint)
    assert fit.shape == "line" and fit.valid
    assert np.all(np.isfinite(fit.normal)) and np.isfinite(fit.offset_cm) and np.isfinite(fit.residual_cm)
    assert abs(fit.normal @ d) < np.sin(np.radians(0.5))             # along-line tilt: from the contacts
    sideways_hint = np.degrees(np.arctan2(hint @ side, hint @ normal))
    sideways_fit = np.degrees(np.arctan2(fit.normal @ side, fit.normal @ normal))
    assert sideways_fit == pytest.approx(sideways_hint, abs=0.5)     # sideways tilt: from the torso
    assert fit.residual_cm < 1.0


# --- (d) fallbacks, validation -------------------------------------------------------------------

def _sliding(res, speed_m_s=3.0):
    """Every joint moved sideways at ``speed_m_s``: no ankle is ever slow, so no contact."""
    t = res.tracks[0]
    shift = np.arange(t.length)[:, None] / res.source.fps * np.array([speed_m_s, 0.0, 0.0])
    return [t.positions_camera_m() + shift[:, None]]


def test_too_few_contacts_fall_back_to_torso_and_say_so():
    res = synthetic_result(60, 1, seed=3, camera_tilt_deg=15.0)
    tracks = _sliding(res)
    torso = estimate_world_frame(tracks, "torso")
    for level in ("floor", "auto"):
        wf = estimate_world_frame(tracks, level, fps=FPS)
        assert wf.level == "torso" and wf.level_requested == level
        np.testing.assert_allclose(wf.rotation, torso.rotation)
        np.testing.assert_allclose(wf.origin_cm, torso.origin_cm)
        d = wf.to_dict()
        assert d["level"] == "torso" and d["level_requested"] == level
        assert d["floor_contacts"] < floor.MIN_CONTACTS and d["floor_residual_cm"] is None
        assert f"expected at least {floor.MIN_CONTACTS}" in d["level_reason"]
        json.dumps(d)                                                # JSON-ready


def test_contacts_on_one_spot_fall_back_to_torso():
    res = synthetic_result(60, 1, seed=3)
    p = res.tracks[0].positions_camera_m()
    still = [np.repeat(p[:1], 90, axis=0)]                          # standing still for 3 s
    wf = estimate_world_frame(still, "floor", fps=FPS)
    assert wf.level == "torso" and wf.floor_shape == "point" and wf.floor_contacts >= floor.MIN_CONTACTS
    assert "one spot" in wf.level_reason


def test_levels_validated_and_fps_required():
    p = [synthetic_result(10, 1).tracks[0].positions_camera_m()]
    with pytest.raises(ValueError, match="expected level in"):
        estimate_world_frame(p, "ground")
    with pytest.raises(ValueError, match="expected fps > 0, found None"):
        estimate_world_frame(p, "auto")
    with pytest.raises(ValueError, match=r"expected positions of shape \(n, 17, 3\)"):
        estimate_world_frame([np.zeros((5, 3))], "torso")
    none = estimate_world_frame(p, "none")
    assert none.level == "none" and none.to_dict()["level_requested"] == "none"
    empty = estimate_world_frame([], "auto", fps=FPS)
    assert empty.level == "none" and empty.level_requested == "auto"


def test_one_default_level_everywhere():
    from sasmamba_cli.commands.export import Level, export_cmd
    from sasmamba_cli.export.consistent import fk_consistent
    from sasmamba_cli.export.track_rig import solve_result, world_frame_of

    assert DEFAULT_LEVEL == "auto" and set(LEVELS) == {"auto", "floor", "torso", "none"}
    assert {lv.value for lv in Level} == set(LEVELS)
    assert inspect.signature(export_cmd).parameters["level"].default.value == DEFAULT_LEVEL
    assert BvhOptions().level == DEFAULT_LEVEL
    for fn in (fk_consistent, solve_result, world_frame_of, estimate_world_frame):
        assert inspect.signature(fn).parameters["level"].default == DEFAULT_LEVEL
    assert BvhOptions(level="floor").level == "floor"
    with pytest.raises(InputError, match=r"level: expected one of \['auto', 'floor', 'torso', 'none'\]"):
        BvhOptions(level="ground")


# --- (c), (e) real motion capture seen by a tilted camera ----------------------------------------

@pytest.fixture(scope="module")
def mocap_cam(tmp_path_factory):
    """{name: (world_m (n,17,3) Y-up mocap, camera_m (n,17,3), body (3,3) camera axes in world)}."""
    if not ARCHIVE.is_file():
        pytest.skip(f"needs the Bandai Namco mocap archive {ARCHIVE} (../shared, absent in a fresh clone)")
    from sasmamba_cli.mocap.convert import convert_file
    from sasmamba_cli.mocap.rigs import load_rig

    tmp = tmp_path_factory.mktemp("floor_mocap")
    with tarfile.open(ARCHIVE) as tar:
        for m in tar:
            if m.name in MEMBERS.values():
                tar.extract(m, tmp, filter="data")
    # camera axes (x right, y down, z forward) in the Y-up world: level, pitched 15 deg down, rolled 5 deg
    body = np.diag([1.0, -1.0, -1.0]) @ _rot(0, -15.0) @ _rot(2, 5.0)
    out = {}
    for name, member in MEMBERS.items():
        w = convert_file(tmp / member, load_rig("bandai"), fps=FPS).h36m_mm.astype(float) / 1000.0
        centre = (w[:, 0].max(0) + w[:, 0].min(0)) / 2
        cam_pos = np.array([centre[0], 1.6, centre[2] + 7.0])          # 7 m away, 1.6 m high
        out[name] = (w, (w - cam_pos) @ body, body)
    return out


def _up_error_deg(wf, body) -> float:
    """Angle between the estimated world up and the true one, both in camera axes."""
    return angle_deg(wf.rotation.T @ Y, body.T @ Y)


def _true_contacts(w: np.ndarray) -> np.ndarray:
    """(n, 2) contacts from the mocap itself: ankle within 5 cm of its lowest and slower than 0.3 m/s."""
    a = w[:, ANKLES]
    speed = np.linalg.norm(np.gradient(a, axis=0), axis=-1) * FPS
    return (a[..., 1] - a[..., 1].min() < 0.05) & (speed < 0.3)


def test_floor_levels_a_real_walk_better_than_torso(mocap_cam):
    w, cam, body = mocap_cam["walk_turn"]
    fl = estimate_world_frame([cam], "floor", fps=FPS)
    to = estimate_world_frame([cam], "torso", fps=FPS)
    err_floor, err_torso = _up_error_deg(fl, body), _up_error_deg(to, body)
    print(f"walk with turns: up error floor {err_floor:.3f} deg, torso {err_torso:.3f} deg")
    assert fl.level == "floor" and fl.floor_shape == "plane"
    assert err_floor < 2.0
    assert err_floor <= err_torso
    contact = _true_contacts(w)
    assert contact.sum() > 50
    y = fl.to_world_cm(cam)[:, ANKLES, 1][contact]                    # contact ankles on y = 0
    assert np.abs(np.median(y)) < 1.0 and np.percentile(np.abs(y), 95) < 3.0
    # camera height: 1.6 m above the floor minus the ankle joint height at contact
    ankle_h = np.median(w[:, ANKLES, 1][contact]) * 100
    assert fl.camera_height_cm == pytest.approx(160.0 - ankle_h, abs=3.0)
    d = fl.to_dict()
    assert d["floor_inliers"] >= floor.MIN_CONTACTS and 0 <= d["floor_residual_cm"] < 2.0
    assert d["floor_vs_torso_deg"] == pytest.approx(angle_deg(fl.rotation.T @ Y, to.rotation.T @ Y), abs=1e-3)


def test_floor_removes_the_lean_bias_of_a_run(mocap_cam):
    """A runner leans forward: the torso levelling is off by > 5 deg, the floor fit (contacts on a
    line: along-line tilt from the footprints) is not."""
    _, cam, body = mocap_cam["run"]
    fl = estimate_world_frame([cam], "auto", fps=FPS)
    err_floor = _up_error_deg(fl, body)
    err_torso = _up_error_deg(estimate_world_frame([cam], "torso"), body)
    print(f"run: up error floor {err_floor:.3f} deg, torso {err_torso:.3f} deg")
    assert fl.level == "floor" and fl.floor_shape == "line"
    assert err_torso > 5.0 and err_floor < 2.0


def test_auto_picks_floor_on_the_walk_and_torso_when_they_disagree(mocap_cam, monkeypatch):
    _, cam, body = mocap_cam["walk_turn"]
    auto = estimate_world_frame([cam], "auto", fps=FPS)
    assert auto.level == "floor" and auto.level_requested == "auto"
    np.testing.assert_allclose(auto.rotation, estimate_world_frame([cam], "floor", fps=FPS).rotation)
    monkeypatch.setattr(world, "AUTO_MAX_ANGLE_DEG", 0.1)              # floor and torso now "disagree"
    strict = estimate_world_frame([cam], "auto", fps=FPS)
    assert strict.level == "torso" and "from the torso direction" in strict.level_reason
    assert estimate_world_frame([cam], "floor", fps=FPS).level == "floor"   # 'floor' has no angle check


def test_few_frames_of_the_walk_fall_back(mocap_cam):
    _, cam, _ = mocap_cam["walk_turn"]
    wf = estimate_world_frame([cam[:6]], "floor", fps=FPS)
    assert wf.level == "torso" and wf.level_requested == "floor"


def test_bvh_export_of_the_walk_uses_the_floor(mocap_cam, tmp_path):
    from sasmamba_cli.export.formats import export_result
    from sasmamba_cli.export.bvh_read import forward_kinematics, read_bvh

    w, cam, _ = mocap_cam["walk_turn"]
    base = synthetic_result(len(cam), 1)
    track = dataclasses.replace(base.tracks[0], joints_3d_m=cam - cam[:, :1], root_3d_m=cam[:, 0].copy())
    res = base.with_tracks([track])
    summary = export_result(res, tmp_path, ["bvh"], stem="walk")
    side = json.loads((tmp_path / "walk_bvh_report.json").read_text())
    wf = side["fk_consistent"]["world_frame"]
    assert wf["level"] == "floor" and wf["level_requested"] == "auto" and side["options"]["level"] == "auto"
    bvh = [p for p in summary.paths if p.suffix == ".bvh"][0]
    m = read_bvh(bvh)
    feet = forward_kinematics(m)[:, [m.index("LeftFoot"), m.index("RightFoot")], 1]   # cm, Y up
    y = feet[_true_contacts(w)]
    assert np.percentile(np.abs(y), 95) < 3.0


def test_export_command_level_option(tmp_path):
    import typer
    from typer.testing import CliRunner

    from sasmamba_cli.commands import export
    from sasmamba_cli.pipeline.result import write_json

    app = typer.Typer()
    export.register(app)
    app.command("noop")(lambda: None)                                 # keeps `export` a sub-command
    write_json(synthetic_result(20, 1, seed=1), tmp_path / "clip.json")
    for level, used in (("floor", "torso"), ("none", "none")):        # synthetic motion: no contacts
        out = tmp_path / level
        r = CliRunner().invoke(app, ["export", str(tmp_path / "clip.json"), "--level", level, "--out", str(out)])
        assert r.exit_code == 0, r.output
        wf = json.loads((out / "clip_bvh_report.json").read_text())["fk_consistent"]["world_frame"]
        assert (wf["level_requested"], wf["level"]) == (level, used)
    r = CliRunner().invoke(app, ["export", str(tmp_path / "clip.json"), "--level", "ground"])
    assert r.exit_code != 0 and "ground" in r.output


# --- (f) lift jitter: contacts are found on steady ankle trajectories ---------------------------

def _lift_like(cam: np.ndarray, seed: int, depth_cm: float, joint_cm: float) -> np.ndarray:
    """Camera positions (n, 17, 3) m with a monocular lift's jitter: per frame the whole body moves
    along the viewing ray of the pelvis (depth_cm std: the per-frame pinhole fit's error, 5-17 cm
    measured on real lifts) plus white noise on every joint (joint_cm std)."""
    rng = np.random.default_rng(seed)
    ray = cam[:, 0] / np.linalg.norm(cam[:, 0], axis=-1, keepdims=True)
    shift = ray * rng.normal(0.0, depth_cm / 100.0, (len(cam), 1))
    return cam + shift[:, None] + rng.normal(0.0, joint_cm / 100.0, cam.shape)


@pytest.mark.parametrize("name, depth_cm, joint_cm, max_err_deg, min_contacts", [
    ("walk_turn", 10.0, 0.3, 0.5, 150),      # before steady ankles: 33 contacts
    ("walk_turn", 0.0, 3.0, 2.0, 40),        # 3 cm white noise on every joint: before, 22 contacts
    ("run", 10.0, 0.3, 1.0, floor.MIN_CONTACTS),   # before: 4 contacts, torso levelling (13 deg off)
    ("run", 0.0, 2.0, 1.5, floor.MIN_CONTACTS),    # before: 5 contacts, torso levelling
])
def test_floor_is_found_through_lift_jitter(mocap_cam, name, depth_cm, joint_cm, max_err_deg, min_contacts):
    _, cam, body = mocap_cam[name]
    errors = []
    for seed in (0, 1):
        wf = estimate_world_frame([_lift_like(cam, seed, depth_cm, joint_cm)], "auto", fps=FPS)
        errors.append(_up_error_deg(wf, body))
        assert wf.level == "floor", wf.level_reason
        assert wf.floor_contacts >= min_contacts
    print(f"{name} + {depth_cm:g} cm depth / {joint_cm:g} cm joint jitter: up error {max(errors):.2f} deg")
    assert max(errors) < max_err_deg


def test_steady_ankles_keep_clean_motion_and_remove_depth_jitter(mocap_cam):
    _, cam, _ = mocap_cam["walk_turn"]
    clean_cm = cam @ world.FLIP.T * 100.0
    np.testing.assert_array_equal(floor.steady_ankles(clean_cm, FPS), clean_cm[:, ANKLES])   # untouched
    noisy_cm = _lift_like(cam, 0, 10.0, 0.0) @ world.FLIP.T * 100.0
    assert floor.depth_noise_cm(np.linalg.norm(noisy_cm[:, 0], axis=-1)) == pytest.approx(10.0, rel=0.25)
    cutoff = floor.depth_cutoff_hz(10.0, FPS)
    assert floor.MIN_DEPTH_CUTOFF_HZ <= cutoff < FPS / 2
    steady = floor.steady_ankles(noisy_cm, FPS)
    err_before = np.linalg.norm(noisy_cm[:, ANKLES] - clean_cm[:, ANKLES], axis=-1).mean()
    err_after = np.linalg.norm(steady - clean_cm[:, ANKLES], axis=-1).mean()
    assert err_after < 0.4 * err_before
    assert np.isinf(floor.depth_cutoff_hz(0.1, FPS)) and np.isinf(floor.depth_cutoff_hz(0.0, FPS))


def test_a_walk_beside_a_long_stand_on_a_step_fits_the_ground():
    """A walk on the ground (a line of footprints) and a person standing for 10 s on a 1.3 m high
    box: each footprint counts once, and a plane tilted past MAX_TILT_DEG (walk line + box) is
    never a candidate, so the floor is the walk's ground."""
    rng = np.random.default_rng(5)
    steps = np.repeat(np.arange(-300.0, 301.0, 60.0), 10)                   # 11 footprints, 10 frames each
    ground = np.stack([steps, np.full_like(steps, -160.0), np.full_like(steps, -500.0)], axis=1)
    ground[:, 2] += np.where(np.arange(len(steps)) // 10 % 2 == 0, 10.0, -10.0)
    box = np.array([-100.0, -30.0, -650.0]) + rng.normal(0, [8.0, 1.0, 8.0], (300, 3))
    points = np.concatenate([ground + rng.normal(0, 1.5, ground.shape), box])
    w = floor.footprint_weights(points, Y)
    assert w.sum() == pytest.approx(len(np.unique(np.floor(points[:, [0, 2]] / floor.FOOTPRINT_CM), axis=0)))
    fit = fit_floor_plane(points, Y)
    assert fit.valid and fit.shape == "line"
    assert angle_deg(fit.normal, Y) < 2.0
    assert fit.inliers[:len(ground)].mean() > 0.9 and not fit.inliers[len(ground):].any()
    assert fit.offset_cm == pytest.approx(-160.0, abs=1.0)
