"""Pose-space augmentation (training/augment.py): geometry kept where it should be, poses changed
when on, smooth in time, finite, and the default configuration reproduces the earlier samples."""

import numpy as np
import pytest

from _mocap_helpers import coco_markers, swaying_person_clips
from sasmamba_cli.mocap.dataset import from_clips
from sasmamba_cli.skeleton import COCO, H36M, coco_to_h36m
from sasmamba_cli.training import augment as A
from sasmamba_cli.training import sampler as sampler_mod
from sasmamba_cli.training.sampler import WindowSampler, window_sample
from sasmamba_cli.training.trainer import virtual_config
from sasmamba_cli.training.virtual import (VirtualConfig, detector_noise, project, random_camera,
                                           randomize_body, virtual_capture)

PERIOD = (60.0, 240.0)
ALL_ON = VirtualConfig(limb_mix_p=1.0, fk_p=1.0, proportion_p=1.0, leg_scale=(0.85, 1.15),
                       arm_scale=(0.85, 1.15), torso_scale=(0.9, 1.1), width_scale=(0.85, 1.15),
                       lean_p=1.0, tilt_p=1.0)
LIMB_JOINTS = [j for r, m, e in A.LIMBS.values() for j in (m, e)]


def _rot_y(a):
    c, s = np.cos(a), np.sin(a)
    return np.stack([np.stack([c, 0 * a, s], -1), np.stack([0 * a, 1 + 0 * a, 0 * a], -1),
                     np.stack([-s, 0 * a, c], -1)], -2)


def _walker(T=120, seed=0, phase=0.0, freq=1.0):
    """A walking synthetic body in mm, Y up, slowly turning, with swinging arms and legs; COCO as
    in the mocap data: limb markers on the H36M joints, shoulders 15 mm and hips 35 mm off,
    face markers rigid with the head."""
    rng = np.random.default_rng(seed)
    base = np.array([[0, 950, 0], [-90, 950, 0], [-95, 520, 0], [-100, 90, 0], [90, 950, 0],
                     [95, 520, 0], [100, 90, 0], [0, 1180, 0], [0, 1420, 0], [0, 1530, 60],
                     [0, 1680, 20], [160, 1410, 0], [180, 1130, 0], [190, 880, 0], [-160, 1410, 0],
                     [-180, 1130, 0], [-190, 880, 0]], float) + rng.normal(0, 5.0, (17, 3))
    t = np.arange(T) / 30.0
    swing = 0.5 * np.sin(2 * np.pi * freq * t + phase)                     # radians
    h = np.repeat(base[None], T, 0)
    for (root, mid, end), sign in zip(A.LIMBS.values(), (1, -1, -1, 1)):
        ang = sign * swing
        c, s = np.cos(ang), np.sin(ang)
        rx = np.stack([np.stack([1 + 0 * ang, 0 * ang, 0 * ang], -1), np.stack([0 * ang, c, -s], -1),
                       np.stack([0 * ang, s, c], -1)], -2)                   # about x: forward swing
        for j in (mid, end):
            h[:, j] = h[:, root] + np.einsum("tij,tj->ti", rx, h[:, j] - h[:, root])
        bend = 0.3 * (1 + np.sin(2 * np.pi * freq * t + phase + sign))       # elbow / knee flexion
        c, s = np.cos(bend), np.sin(bend)
        rx = np.stack([np.stack([1 + 0 * bend, 0 * bend, 0 * bend], -1), np.stack([0 * bend, c, -s], -1),
                       np.stack([0 * bend, s, c], -1)], -2)
        h[:, end] = h[:, mid] + np.einsum("tij,tj->ti", rx, h[:, end] - h[:, mid])
    c = coco_markers(h)
    c[:, [5, 6], 1] += 15
    c[:, [11, 12], 1] -= 35
    heading = 0.4 * np.sin(2 * np.pi * t / 4.0 + seed)
    R = _rot_y(heading)
    h = np.einsum("tij,tkj->tki", R, h)
    c = np.einsum("tij,tkj->tki", R, c)
    move = np.stack([0 * t, 0 * t, 1200 * t], -1)[:, None]
    return h + move, c + move


def _still(T=150):
    """The walker's first pose held for ``T`` frames: any frame-to-frame change of an augmented
    copy is the augmentation's own time variation."""
    h, c = _walker(T=1)
    return np.repeat(h, T, 0), np.repeat(c, T, 0)


def _rate(wave_deg):
    """Largest angular step (radians / frame) of a slow term of amplitude ``wave_deg`` over PERIOD."""
    return np.deg2rad(2 * np.pi * wave_deg / PERIOD[0])


def _bones(h):
    """(T, 16) bone lengths of H36M-17."""
    return np.stack([np.linalg.norm(h[:, j] - h[:, p], axis=-1) for j, p in enumerate(H36M.parents) if p >= 0], 1)


def _max_step(delta):
    """Largest frame-to-frame change of a per-frame displacement field ``(T, J, 3)`` (mm)."""
    return float(np.linalg.norm(np.diff(delta, axis=0), axis=-1).max())


def _markers_follow(h, c, h0, c0):
    """COCO markers attached to each H36M joint moved with it: limb markers exactly on their joint."""
    for n in ("l_elbow", "l_wrist", "r_elbow", "r_wrist", "l_knee", "l_ankle", "r_knee", "r_ankle"):
        np.testing.assert_allclose(c[:, COCO.index(n)], h[:, H36M.index(n)], atol=1e-9)
    # shoulders / hips keep their offset length to the H36M joint, face markers their distance to the nose joint
    for n in ("l_shoulder", "r_shoulder", "l_hip", "r_hip"):
        dist = lambda hh, cc: np.linalg.norm(cc[:, COCO.index(n)] - hh[:, H36M.index(n)], axis=-1)
        np.testing.assert_allclose(dist(h, c), dist(h0, c0), atol=1e-9)
    for m in range(5):
        dist = lambda hh, cc: np.linalg.norm(cc[:, m] - hh[:, 9], axis=-1)
        np.testing.assert_allclose(dist(h, c), dist(h0, c0), atol=1e-9)


def _angle_deg(a, b):
    cos = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


# --- default: bit for bit ----------------------------------------------------------------------------

def test_default_config_reproduces_the_unaugmented_capture_bit_for_bit():
    h, c = _walker(T=81)
    donor, _ = _walker(T=81, seed=3, phase=1.0)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        # the capture as composed before the augmentation existed
        hb, cb = randomize_body(h / 1000.0, c / 1000.0, rng, VirtualConfig())
        R, t, f, pp, w, hh = random_camera(np.concatenate([hb, cb], 1), rng, VirtualConfig())
        det = detector_noise(project(cb @ R.T + t, f, pp), w, hh, rng, VirtualConfig())
        ref_kp, ref_t = coco_to_h36m(det).astype(np.float32), (hb @ R.T + t).astype(np.float32)
        for kw in ({}, {"donor_h36m_mm": donor}):        # a donor alone changes nothing at limb_mix_p 0
            s = virtual_capture(h, c, np.random.default_rng(seed), VirtualConfig(), **kw)
            assert np.array_equal(s.kp2d_px, ref_kp) and np.array_equal(s.target_cam_m, ref_t)


def test_all_off_draws_nothing_and_returns_the_input():
    h, c = _walker(T=30)
    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    nh, nc = A.augment_pose(h, c, rng, VirtualConfig(), donor_h36m=h[::-1].copy())
    assert rng.bit_generator.state == state
    assert nh is h and nc is c


def test_default_sampler_batches_unchanged():
    ds = swaying_person_clips(from_clips, n_clips=3, frames=50)
    clips = np.arange(3)
    s = WindowSampler(ds, clips, 27, 3, virtual=VirtualConfig())
    got = s.batch(4, np.random.default_rng(7))
    # the sampler's loop as it was before limb mixing added donor draws
    rng = np.random.default_rng(7)
    picks = rng.choice(3, size=4, p=s.p)
    for b, i in enumerate(picks):
        start = int(rng.integers(0, max(1, s.lengths[i] - 27 + 1)))
        x, y = window_sample(ds, int(clips[i]), start, 27, rng, 3, flip=bool(rng.random() < 0.5),
                             virtual=VirtualConfig())
        assert np.array_equal(got.x[b], x) and np.array_equal(got.y[b], y)


# --- limb mixing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("limb", list(A.LIMBS))
def test_limb_mixing_keeps_recipient_bones_and_attachment(limb):
    h, c = _walker(T=90)
    donor, _ = _walker(T=90, seed=5, phase=2.0, freq=1.7)
    nh, nc = A.mix_limb(h, c, donor, limb)
    root, mid, end = A.LIMBS[limb]
    np.testing.assert_allclose(_bones(nh), _bones(h), atol=1e-9)                  # recipient bone lengths
    assert np.abs(nh[:, root] - h[:, root]).max() == 0.0                          # attached at the root
    others = [j for j in range(17) if j not in (mid, end)]
    assert np.array_equal(nh[:, others], h[:, others])
    _markers_follow(nh, nc, h, c)
    # the limb's direction in the body frame is the donor's
    part = "arm" if limb.endswith("arm") else "leg"
    Bn, Bd = A.body_frame(nh, part), A.body_frame(donor, part)
    for p, ch in ((root, mid), (mid, end)):
        loc_n = np.einsum("tji,tj->ti", Bn, nh[:, ch] - nh[:, p])
        loc_d = np.einsum("tji,tj->ti", Bd, donor[:, ch] - donor[:, p])
        assert _angle_deg(loc_n, loc_d).max() < 1e-5
    # it changed the limb: a different motion (mean 30-600 mm at the limb's end over the window)
    change = np.linalg.norm(nh[:, end] - h[:, end], axis=-1).mean()
    assert 30 < change < 600
    # smooth: no step larger than the inputs' own largest joint steps allow
    bound = 2 * max(_max_step(h), _max_step(donor)) + 5
    assert _max_step(nh) < bound
    assert np.isfinite(nh).all() and np.isfinite(nc).all()


def test_limb_mixing_rejects_a_donor_of_another_length_and_unknown_limbs():
    h, c = _walker(T=30)
    with pytest.raises(ValueError, match="donor"):
        A.mix_limb(h, c, h[:20], "l_arm")
    with pytest.raises(ValueError, match="unknown limb"):
        A.mix_limb(h, c, h, "tail")


def test_limb_mixing_picks_only_the_configured_chains():
    h, c = _walker(T=40)
    donor, _ = _walker(T=40, seed=4, phase=2.0, freq=1.5)
    cfg = VirtualConfig(limb_mix_p=1.0, limb_mix_limbs=("l_arm", "r_arm"))
    moved = set()
    for seed in range(20):
        nh, _ = A.augment_pose(h, c, np.random.default_rng(seed), cfg, donor)
        moved |= {j for j in range(17) if not np.array_equal(nh[:, j], h[:, j])}
    assert moved == {12, 13, 15, 16}                 # both arms were mixed, never a leg


# --- joint-angle perturbation (FK) ----------------------------------------------------------------------

def test_fk_perturbation_keeps_bones_roots_and_is_bounded_and_smooth():
    h, c = _walker(T=150)
    changes = []
    for seed in range(5):
        nh, nc = A.perturb_limb_angles(h, c, np.random.default_rng(seed), const_deg=8.0, wave_deg=5.0,
                                       max_deg=15.0, period_frames=PERIOD)
        np.testing.assert_allclose(_bones(nh), _bones(h), atol=1e-9)
        trunk = [j for j in range(17) if j not in LIMB_JOINTS]
        assert np.array_equal(nh[:, trunk], h[:, trunk])
        _markers_follow(nh, nc, h, c)
        # the upper arm / thigh turned by at most max_deg about its root
        for root, mid, _ in A.LIMBS.values():
            assert _angle_deg(nh[:, mid] - nh[:, root], h[:, mid] - h[:, root]).max() <= 15.0 + 1e-6
        # on a walking body: no jump (the slow terms and the body frame's turn give < 20 mm / frame)
        assert _max_step(nh - h) < 20.0
        changes.append(np.linalg.norm(nh[:, LIMB_JOINTS] - h[:, LIMB_JOINTS], axis=-1).mean())
        assert np.isfinite(nh).all() and np.isfinite(nc).all()
    # a few degrees at 0.3-0.9 m from the root: mean limb joint change 10-150 mm
    assert 10.0 < np.mean(changes) < 150.0


def test_fk_perturbation_steps_are_bounded_by_the_slow_term():
    h, c = _still()
    L1 = np.linalg.norm(h[0, 2] - h[0, 1])
    L2 = np.linalg.norm(h[0, 3] - h[0, 2])
    bound = (L1 + L2) * _rate(5.0) + L2 * _rate(5.0)          # upper segment turns, then the lower one
    for seed in range(4):
        nh, _ = A.perturb_limb_angles(h, c, np.random.default_rng(seed), 8.0, 5.0, 15.0, PERIOD)
        assert 0.0 < _max_step(nh) <= bound * 1.01            # legs are the longest chains (+ 2nd-order terms)


# --- proportions ---------------------------------------------------------------------------------------

def test_proportions_scale_each_group_by_one_factor_in_range():
    h, c = _walker(T=40)
    ratios = []
    for seed in range(8):
        nh, nc = A.scale_proportions(h, c, np.random.default_rng(seed), leg=(0.8, 1.2), arm=(0.8, 1.2),
                                     torso=(0.9, 1.1), width=(0.85, 1.15))
        r = _bones(nh) / _bones(h)                                         # (T, 16), bone j -> column j-1
        for bones, lo, hi in ((A.LEG_BONES, 0.8, 1.2), (A.ARM_BONES, 0.8, 1.2), (A.TORSO_BONES, 0.9, 1.1),
                              (A.WIDTH_BONES, 0.85, 1.15)):
            g = r[:, [j - 1 for j in bones]]
            assert np.ptp(g) < 1e-9 and lo <= g.min() and g.max() <= hi        # one factor per group
        ratios.append(r[0, [A.ARM_BONES[0] - 1, A.LEG_BONES[0] - 1]])
        # limb directions kept, lowest point kept, markers consistent
        for j, p in enumerate(H36M.parents):
            if p >= 0:
                assert _angle_deg(nh[:, j] - nh[:, p], h[:, j] - h[:, p]).max() < 1e-5
        assert min(nh[..., 1].min(), nc[..., 1].min()) == pytest.approx(min(h[..., 1].min(), c[..., 1].min()))
        _markers_follow(nh, nc, h, c)
    arm_vs_leg = np.array([a / b for a, b in ratios])
    assert np.std(arm_vs_leg) > 0.03                                      # arm span varies against height


# --- trunk lean ----------------------------------------------------------------------------------------

def test_trunk_lean_turns_the_upper_body_rigidly_about_the_pelvis():
    h, c = _walker(T=150)
    lean = []
    for seed in range(6):
        nh, nc = A.lean_trunk(h, c, np.random.default_rng(seed), forward_deg=(5.0, 15.0), side_deg=8.0,
                              wave_deg=4.0, period_frames=PERIOD)
        np.testing.assert_allclose(_bones(nh), _bones(h), atol=1e-9)
        lower = [0, 1, 2, 3, 4, 5, 6]
        assert np.array_equal(nh[:, lower], h[:, lower])
        low_markers = [COCO.index(n) for n in ("l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle")]
        assert np.array_equal(nc[:, low_markers], c[:, low_markers])
        _markers_follow(nh, nc, h, c)
        # rigid upper body: every pairwise distance among upper joints kept
        up = list(A.UPPER)
        dist = lambda x: np.linalg.norm(x[:, up, None] - x[:, None, up], axis=-1)
        np.testing.assert_allclose(dist(nh), dist(h), atol=1e-8)
        a = _angle_deg(nh[:, 8] - nh[:, 0], h[:, 8] - h[:, 0])
        assert a.max() <= np.hypot(15.0 + 4.0, 8.0 + 4.0) + 1e-6
        # forward lean of 5-15 deg: the thorax moved forward in the pelvis frame on average
        B = A.body_frame(h, "leg")
        fwd = np.einsum("ti,ti->t", nh[:, 8] - h[:, 8], B[:, :, 2])
        assert fwd.mean() > 0
        lean.append(a.mean())
    assert 4.0 < np.mean(lean) < 20.0
    # smooth: on a still pose each step is at most (two axes) x the slow rate x the upper body's radius
    h, c = _still()
    radius = np.linalg.norm(h[0, list(A.UPPER)] - h[0, 0], axis=-1).max()
    for seed in range(4):
        nh, _ = A.lean_trunk(h, c, np.random.default_rng(seed), (5.0, 15.0), 8.0, 4.0, PERIOD)
        assert 0.0 < _max_step(nh) <= 2 * _rate(4.0) * radius


# --- whole-body tilt -----------------------------------------------------------------------------------

def test_body_tilt_is_rigid_about_the_ground_under_the_pelvis():
    h, c = _walker(T=150)
    tilts = []
    for seed in range(6):
        nh, nc = A.tilt_body(h, c, np.random.default_rng(seed), tilt_deg=4.0, wave_deg=2.0, period_frames=PERIOD)
        allp = lambda x, y: np.concatenate([x, y], 1)
        d = lambda x: np.linalg.norm(x[:, :, None] - x[:, None], axis=-1)
        np.testing.assert_allclose(d(allp(nh, nc)), d(allp(h, c)), atol=1e-8)    # rigid, both sets
        up_old, up_new = h[:, 10] - h[:, 0], nh[:, 10] - nh[:, 0]
        a = _angle_deg(up_new, up_old)
        assert a.max() <= 6.0 + 1e-6
        # the pivot is on the ground under the pelvis: the pelvis keeps its distance to that point
        # and moves by at most its height * the largest angle
        pivot = h[:, 0].copy()
        pivot[:, 1] = min(h[..., 1].min(), c[..., 1].min())
        np.testing.assert_allclose(np.linalg.norm(nh[:, 0] - pivot, axis=-1),
                                   np.linalg.norm(h[:, 0] - pivot, axis=-1), rtol=1e-12)
        moved = np.linalg.norm(nh[:, 0] - h[:, 0], axis=-1)
        assert np.all(moved <= (h[:, 0, 1] - pivot[:, 1]) * np.deg2rad(6.0))
        tilts.append(a.mean())
        assert np.isfinite(nh).all()
    assert 0.5 < np.mean(tilts) < 6.0
    # smooth: on a still pose each step is at most the slow rate x the distance to the ground pivot
    h, c = _still()
    radius = np.linalg.norm(np.concatenate([h, c], 1)[0] - [h[0, 0, 0], min(h[..., 1].min(), c[..., 1].min()),
                                                           h[0, 0, 2]], axis=-1).max()
    for seed in range(4):
        nh, _ = A.tilt_body(h, c, np.random.default_rng(seed), 4.0, 2.0, PERIOD)
        assert 0.0 < _max_step(nh) <= _rate(2.0) * radius


# --- through the capture and the sampler ------------------------------------------------------------------

def test_capture_with_everything_on_is_finite_and_differs():
    h, c = _walker(T=81)
    donor, _ = _walker(T=81, seed=2, phase=1.0, freq=0.6)
    for seed in range(5):
        s0 = virtual_capture(h, c, np.random.default_rng(seed))
        s1 = virtual_capture(h, c, np.random.default_rng(seed), ALL_ON, donor_h36m_mm=donor)
        assert np.isfinite(s1.kp2d_px).all() and np.isfinite(s1.target_cam_m).all()
        rel0 = s0.target_cam_m - s0.target_cam_m[:, :1]
        rel1 = s1.target_cam_m - s1.target_cam_m[:, :1]
        assert np.linalg.norm(rel1 - rel0, axis=-1).mean() > 0.01      # > 1 cm in metres (camera differs too)


def test_sampler_takes_the_donor_from_another_training_clip(monkeypatch):
    ds = swaying_person_clips(from_clips, n_clips=4, frames=40)
    train = np.array([0, 2, 3])
    seen = []
    real = sampler_mod.observe

    def spy(ds_, clip, rows, rng, cfg=None, donor_rows=None):
        seen.append((clip, donor_rows))
        return real(ds_, clip, rows, rng, cfg, donor_rows)

    monkeypatch.setattr(sampler_mod, "observe", spy)
    s = WindowSampler(ds, train, 27, 3, virtual=VirtualConfig(limb_mix_p=1.0, fk_p=1.0))
    b = s.batch(12, np.random.default_rng(0))
    assert np.isfinite(b.x).all() and np.isfinite(b.y).all()
    for clip, rows in seen:
        assert rows is not None and len(rows) == 27
        owners = {int(np.searchsorted(ds.clip_start, r, side="right") - 1) for r in rows}
        assert len(owners) == 1
        (donor,) = owners
        assert donor != clip and donor in train.tolist()


def test_train_config_passes_the_augmentation_fields():
    v = virtual_config({"limb_mix_p": 0.3, "leg_scale": [0.9, 1.1], "aug_period_frames": [90, 200]})
    assert v.limb_mix_p == 0.3 and v.leg_scale == (0.9, 1.1) and v.aug_period_frames == (90, 200)
