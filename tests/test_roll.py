"""Camera roll: the lift is the same whatever the camera's roll about its optical axis."""
import numpy as np
import pytest

from sasmamba_cli.pipeline.roll import rotate_camera_z, rotate_keypoints, torso_roll


def _standing(T=20, w=640, h=480, lean=0.0):
    rng = np.random.default_rng(0)
    kp = np.zeros((T, 17, 3))
    kp[..., 2] = 1.0
    kp[:, :, 0] = w / 2 + rng.normal(0, 20, (T, 17))
    kp[:, :, 1] = h / 2 + rng.normal(0, 20, (T, 17))
    kp[:, 0, :2] = [w / 2, h / 2 + 60]                    # pelvis below ...
    kp[:, 8, :2] = [w / 2 + 100 * np.sin(lean), h / 2 + 60 - 100 * np.cos(lean)]   # ... thorax
    return kp


def test_torso_roll_reads_the_lean_and_ignores_missing_frames():
    kp = _standing(lean=np.deg2rad(20))
    kp[3, 8, 2] = 0.0                                     # thorax missing in one frame
    kp[3, 8, :2] = 1e9
    assert np.rad2deg(torso_roll(kp)) == pytest.approx(20.0, abs=1e-6)
    assert torso_roll(np.zeros((5, 17, 3))) == 0.0        # nothing seen: no rotation


@pytest.mark.parametrize("deg", [-45, -10, 30, 45, 170])
def test_rotating_the_2d_shifts_the_roll_by_the_same_angle(deg):
    kp = _standing(lean=np.deg2rad(5))
    rolled = rotate_keypoints(kp, np.deg2rad(deg), 640, 480)
    got = np.rad2deg(torso_roll(rolled, max_deg=180)) - 5
    assert np.angle(np.exp(1j * np.deg2rad(got - deg))) == pytest.approx(0.0, abs=1e-6)
    # canonical 2D is identical whatever the roll
    canon = rotate_keypoints(rolled, -torso_roll(rolled, max_deg=180), 640, 480)
    ref = rotate_keypoints(kp, -torso_roll(kp, max_deg=180), 640, 480)
    np.testing.assert_allclose(canon, ref, atol=1e-6)


def test_3d_rotation_projects_to_the_2d_rotation():
    rng = np.random.default_rng(1)
    X = rng.normal(0, 0.5, (10, 3)) + [0, 0, 4.0]
    f, w, h = 800.0, 640, 480
    proj = lambda P: P[:, :2] / P[:, 2:] * f + [w / 2, h / 2]
    a = np.deg2rad(33)
    kp = np.concatenate([proj(X), np.ones((10, 1))], 1)
    np.testing.assert_allclose(proj(rotate_camera_z(X, a)), rotate_keypoints(kp, a, w, h)[:, :2], atol=1e-9)


def test_lift_is_roll_invariant_end_to_end():
    """The shipped lifter on a synthetic track: rolled 2D gives the rolled 3D."""
    from sasmamba_cli.pipeline.lifting import LiftOptions, lift_sequences, load_lifter

    lifter = load_lifter(None, "cpu")
    w, h = 640, 480
    kp = _standing(T=30, w=w, h=h, lean=np.deg2rad(8))
    kp[:, :, :2] += 15 * np.sin(np.linspace(0, 6, 30))[:, None, None]
    plain = lift_sequences(lifter, [kp], w, h, 30.0, LiftOptions(flip_tta=False))[0]
    a = np.deg2rad(40)
    rolled = lift_sequences(lifter, [rotate_keypoints(kp, a, w, h)], w, h, 30.0,
                            LiftOptions(flip_tta=False))[0]
    np.testing.assert_allclose(rolled, rotate_camera_z(plain, a), atol=2e-4)
    off = lift_sequences(lifter, [rotate_keypoints(kp, a, w, h)], w, h, 30.0,
                         LiftOptions(flip_tta=False, upright=False))[0]
    assert np.abs(off - rotate_camera_z(plain, a)).max() > 1e-3     # without it the roll matters


