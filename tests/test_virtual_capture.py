"""Virtual capture: shapes, camera geometry, projection round trip, noise statistics, speed."""

import numpy as np
import pytest

from _mocap_helpers import coco_markers

from sasmamba_cli.skeleton import COCO, H36M, coco_to_h36m
from sasmamba_cli.training.virtual import (VirtualConfig, VirtualSample, project, randomize_body,
                                           virtual_capture)


def _clip(T=81, seed=0):
    """A standing, slowly walking synthetic body in mm, Y up (H36M + COCO markers)."""
    rng = np.random.default_rng(seed)
    base = np.array([[0, 950, 0], [-90, 950, 0], [-95, 520, 0], [-100, 90, 0], [90, 950, 0],
                     [95, 520, 0], [100, 90, 0], [0, 1180, 0], [0, 1420, 0], [0, 1530, 60],
                     [0, 1680, 20], [160, 1410, 0], [180, 1130, 0], [190, 880, 0], [-160, 1410, 0],
                     [-180, 1130, 0], [-190, 880, 0]], float)
    h = np.repeat(base[None], T, 0) + rng.normal(0, 5, (T, 17, 3))
    h[..., 2] += np.linspace(0, 1500, T)[:, None]
    c = coco_markers(h)
    return h, c


def test_shapes_types_and_ranges():
    h, c = _clip()
    s = virtual_capture(h, c, np.random.default_rng(0))
    assert isinstance(s, VirtualSample)
    assert s.kp2d_px.shape == s.coco2d_px.shape == s.target_cam_m.shape == (81, 17, 3)
    assert s.kp2d_px.dtype == np.float32 and s.target_cam_m.dtype == np.float32
    assert 640 <= max(s.width, s.height) <= 1920 and s.focal_px > 0
    conf = s.kp2d_px[..., 2]
    assert np.all((conf == 0) | ((conf > 0) & (conf <= 1)))
    np.testing.assert_allclose(s.R @ s.R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(s.R) == pytest.approx(1.0)


def test_targets_are_metres_in_camera_axes_and_project_into_the_image():
    h, c = _clip()
    for seed in range(20):
        s = virtual_capture(h, c, np.random.default_rng(seed))
        t = s.target_cam_m
        assert np.all(t[..., 2] > 0.3)                                # in front of the camera
        # metres: body height (head top - ankles) about 1.3-2.2 m after randomisation
        H = np.linalg.norm(t[:, 10] - (t[:, 3] + t[:, 6]) / 2, axis=-1)
        assert np.all((1.2 < H) & (H < 2.3))
        # OpenCV: y down -> the head is above (smaller y than) the ankles in most views
        assert np.mean(t[:, 10, 1] < t[:, 3, 1]) > 0.99
        p = project(t, s.focal_px, s.principal_px)
        inside = (p[..., 0] >= 0) & (p[..., 0] < s.width) & (p[..., 1] >= 0) & (p[..., 1] < s.height)
        assert inside.mean() > 0.95


def test_projection_round_trip_and_extrinsics():
    h, c = _clip(T=27)
    cfg = VirtualConfig(bone_sigma=0.0, scale_range=(1.0, 1.0))
    s = virtual_capture(h, c, np.random.default_rng(3), cfg)
    # with no body randomisation the target is exactly the world clip seen by (R, t)
    np.testing.assert_allclose(s.target_cam_m, (h / 1000) @ s.R.T + s.t, atol=1e-5)
    # unproject pixels with the true depth -> the camera-space points
    p = project(s.target_cam_m.astype(np.float64), s.focal_px, s.principal_px)
    z = s.target_cam_m[..., 2:3]
    back = np.concatenate([(p - s.principal_px) / s.focal_px * z, z], -1)
    np.testing.assert_allclose(back, s.target_cam_m, atol=1e-5)


def test_bone_randomisation_is_symmetric_and_rigid():
    h, c = _clip(T=5)
    nh, nc = randomize_body(h / 1000, c / 1000, np.random.default_rng(4), VirtualConfig(scale_range=(1, 1)))
    L = lambda x, j: np.linalg.norm(x[:, j] - x[:, H36M.parents[j]], axis=-1)
    for l_, r_ in zip(H36M.left, H36M.right):
        np.testing.assert_allclose(L(nh, l_) / L(h / 1000, l_), L(nh, r_) / L(h / 1000, r_), rtol=1e-9)
    ratios = [np.mean(L(nh, j) / L(h / 1000, j)) for j in range(1, 17)]
    assert np.std(ratios) > 0.01 and 0.8 <= min(ratios) and max(ratios) <= 1.25
    # COCO wrist moves exactly with the H36M wrist
    np.testing.assert_allclose(nc[:, COCO.index("l_wrist")] - c[:, COCO.index("l_wrist")] / 1000,
                               nh[:, H36M.index("l_wrist")] - h[:, H36M.index("l_wrist")] / 1000, atol=1e-12)


def test_noise_statistics_and_conversion():
    h, c = _clip(T=243)
    errs, missing, low = [], [], []
    for seed in range(30):
        s = virtual_capture(h, c, np.random.default_rng(seed))
        R_ok = s.coco2d_px[..., 2] > 0
        s_clean = virtual_capture(h, c, np.random.default_rng(seed),
                                  VirtualConfig(noise_level=(0, 0), offset_frac=0, occlusion_rate=0, swap_p=0))
        size = np.ptp(s_clean.coco2d_px[..., 1], axis=1).mean()
        e = np.linalg.norm(s.coco2d_px[..., :2] - s_clean.coco2d_px[..., :2], axis=-1)[R_ok] / size
        errs.append(np.median(e))
        missing.append(np.mean(~R_ok))
        low.append(np.mean(s.coco2d_px[..., 2][R_ok] < 0.5))
        # H36M 2D is exactly coco_to_h36m of the noisy COCO
        np.testing.assert_allclose(s.kp2d_px, coco_to_h36m(s.coco2d_px), atol=1e-3)
    assert 0.002 < np.median(errs) < 0.05             # jitter is a few % of the person's size
    assert 0.0 < np.mean(missing) < 0.15              # some joints missing, not most
    assert 0.0 < np.mean(low) < 0.5


def test_deterministic_for_a_seed():
    # (its speed, ~2-3 ms per 243-frame sample, is a benchmark matter, not a test: timings are flaky)
    h, c = _clip(T=243)
    a = virtual_capture(h, c, np.random.default_rng(7))
    b = virtual_capture(h, c, np.random.default_rng(7))
    np.testing.assert_array_equal(a.kp2d_px, b.kp2d_px)
    c2 = virtual_capture(h, c, np.random.default_rng(8))
    assert not np.array_equal(a.kp2d_px, c2.kp2d_px)


def test_training_augmentations_remap_confidences_and_roll():
    """conf_gamma / conf_ones_p remap a clip's scores monotonically; roll_fixed_deg turns the camera."""
    from sasmamba_cli.training.virtual import VirtualConfig

    h, c = _clip(T=60)
    base = virtual_capture(h, c, np.random.default_rng(3), VirtualConfig())
    ones = virtual_capture(h, c, np.random.default_rng(3), VirtualConfig(conf_ones_p=1.0))
    seen = ones.coco2d_px[..., 2] > 0
    assert np.all(ones.coco2d_px[..., 2][seen] == 1.0)
    g = virtual_capture(h, c, np.random.default_rng(3), VirtualConfig(conf_gamma=(2.0, 2.0)))
    np.testing.assert_allclose(g.coco2d_px[..., 2], base.coco2d_px[..., 2] ** 2, atol=1e-6)
    # the keypoint threshold acts on the remapped score, as `lift --kp-threshold` does
    thr = virtual_capture(h, c, np.random.default_rng(3), VirtualConfig(conf_gamma=(2.0, 2.0), kp_threshold=0.5))
    s2, st = g.coco2d_px[..., 2], thr.coco2d_px[..., 2]
    assert ((s2 > 0) & (s2 < 0.5)).any()                          # the case occurs in this clip
    np.testing.assert_array_equal(st, np.where(s2 < 0.5, 0.0, s2))
    assert np.all(thr.coco2d_px[..., :2][st == 0] == 0.0)         # dropped joints are missing, not kept
    r0 = virtual_capture(h, c, np.random.default_rng(3), VirtualConfig(roll_fixed_deg=0.0))
    r30 = virtual_capture(h, c, np.random.default_rng(3), VirtualConfig(roll_fixed_deg=30.0))
    z = np.deg2rad(30.0)
    Rz = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    np.testing.assert_allclose(r30.target_cam_m, r0.target_cam_m @ Rz.T, atol=1e-5)


def test_bad_shapes_raise():
    h, c = _clip(T=5)
    with pytest.raises(ValueError, match="same shape"):
        virtual_capture(h, c[:4], np.random.default_rng(0))


def test_face_keypoints_turned_away_get_the_detectors_low_scores():
    """A head seen from the front keeps its face scores; seen from behind, the nose and eyes (and
    the far ear) are flagged, and with back_face_p they get back_face_conf scores."""
    from sasmamba_cli.training.virtual import VirtualConfig, face_turned_away

    kp = np.zeros((2, 17, 3))
    kp[:, :, 2] = 3.0                                   # a head 3 m in front of the camera
    kp[:, 3] = [-0.08, 0.0, 3.06]                       # left ear, well behind the head's centre
    kp[:, 4] = [0.08, 0.0, 2.94]                        # right ear, in front
    kp[0, 0] = kp[0, 1] = kp[0, 2] = [0.0, 0.0, 2.9]    # frame 0: nose and eyes toward the camera
    kp[1, 0] = kp[1, 1] = kp[1, 2] = [0.0, 0.0, 3.1]    # frame 1: away from it
    away = face_turned_away(kp)
    assert away[:, :3].tolist() == [[False] * 3, [True] * 3]
    assert away[:, 3].all() and not away[:, 4].any() and not away[:, 5:].any()
    kp[:, 3, 2] = kp[:, 4, 2] = 3.0                     # a face in profile: both ears count as seen
    kp[:, 3, 2] += 0.01
    assert not face_turned_away(kp)[:, 3:5].any()

    h, c = _clip(T=60)
    base = virtual_capture(h, c, np.random.default_rng(5), VirtualConfig())
    again = virtual_capture(h, c, np.random.default_rng(5), VirtualConfig(back_face_p=0.0))
    np.testing.assert_array_equal(base.kp2d_px, again.kp2d_px)      # off: the old draws, to the bit
    lo, hi = 0.6129, 0.6131                            # a band the error-driven scores all but never hit
    seen = []
    for seed in range(5, 13):                          # cameras all around: some see the face, some not
        on = virtual_capture(h, c, np.random.default_rng(seed), VirtualConfig(back_face_p=1.0, back_face_conf=(lo, hi)))
        face = on.coco2d_px[:, :5, 2]
        low = np.abs(face - 0.613) < 4e-4             # (scores are stored to 3 decimals, float32)
        # the eyes with the nose (but for an occlusion episode, which keeps its own scores)
        assert not low[:, 1:3].any() if not low[:, 0].any() else low[low[:, 0], 1:3].mean() > 0.5
        seen.append(low[:, 0].mean())
    assert min(seen) < 0.5 < max(seen)
