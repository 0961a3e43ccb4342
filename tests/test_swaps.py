"""Left/right swap repair of 2D tracks (sasmamba_cli.pipeline.swaps)."""
from __future__ import annotations

import numpy as np
import pytest

from sasmamba_cli.pipeline.swaps import lr_pairs, repair_keypoints, repair_track, viterbi_swaps
from sasmamba_cli.pipeline.track import Track
from sasmamba_cli.skeleton import COCO

KNEES = (COCO.names.index("l_knee"), COCO.names.index("r_knee"))
WRISTS = (COCO.names.index("l_wrist"), COCO.names.index("r_wrist"))


def walking_person(n: int = 120, seed: int = 0) -> np.ndarray:
    """A frontal 2D 'person' (COCO-17 px + conf 1) walking across the image with swinging limbs."""
    rng = np.random.default_rng(seed)
    base = np.zeros((17, 2))
    for name, (x, y) in {"nose": (0, -170), "l_eye": (8, -178), "r_eye": (-8, -178), "l_ear": (16, -172),
                         "r_ear": (-16, -172), "l_shoulder": (40, -130), "r_shoulder": (-40, -130),
                         "l_elbow": (48, -80), "r_elbow": (-48, -80), "l_wrist": (52, -35),
                         "r_wrist": (-52, -35), "l_hip": (25, 0), "r_hip": (-25, 0), "l_knee": (28, 70),
                         "r_knee": (-28, 70), "l_ankle": (30, 140), "r_ankle": (-30, 140)}.items():
        base[COCO.names.index(name)] = (x, y)
    t = np.arange(n)[:, None]
    kp = np.zeros((n, 17, 3))
    kp[..., :2] = base[None] + np.array([300.0, 400.0])
    kp[..., 0] += 2.0 * t                                        # walks right
    swing = 12 * np.sin(2 * np.pi * t / 30.0)
    for j in (WRISTS[0], KNEES[1], COCO.names.index("r_ankle")):
        kp[:, j, 1] += swing[:, 0]
    for j in (WRISTS[1], KNEES[0], COCO.names.index("l_ankle")):
        kp[:, j, 1] -= swing[:, 0]
    kp[..., :2] += rng.normal(0, 1.0, (n, 17, 2))               # detector jitter, px
    kp[..., 2] = rng.uniform(0.6, 1.0, (n, 17))
    return kp


def swapped(kp: np.ndarray, pair: tuple[int, int], frames: slice) -> np.ndarray:
    out = kp.copy()
    a, b = pair
    out[frames, a], out[frames, b] = kp[frames, b], kp[frames, a]
    return out


def test_pairs_cover_every_limb_and_torso_pair():
    names = {n for n, _, _ in lr_pairs()}
    assert names == {"shoulder", "elbow", "wrist", "hip", "knee", "ankle"}     # eyes/ears: swap-invariant input


@pytest.mark.parametrize("pair,frames", [(KNEES, slice(40, 45)), (WRISTS, slice(10, 11)), (KNEES, slice(0, 3)),
                                         (WRISTS, slice(110, 120))])
def test_short_swaps_are_repaired_exactly(pair, frames):
    clean = walking_person()
    fixed, report = repair_keypoints(swapped(clean, pair, frames))
    np.testing.assert_array_equal(fixed, clean)
    n = frames.stop - frames.start
    assert report.frames_any == n and sum(report.frames_per_pair.values()) == n


def test_clean_tracks_are_left_alone():
    for seed in range(5):
        clean = walking_person(seed=seed)
        fixed, report = repair_keypoints(clean)
        np.testing.assert_array_equal(fixed, clean)
        assert report.frames_any == 0


def test_crossing_points_are_not_swapped():
    # side view: the left ankle passes the standing right ankle (a crossing, no label jump)
    n = 40
    left = np.stack([np.linspace(0, 200, n), np.full(n, 500.0)], -1)
    right = np.stack([np.full(n, 100.0), np.full(n, 500.0)], -1)
    assert not viterbi_swaps(left, right, np.ones(n - 1), scale=150.0).any()


def test_a_long_mislabelling_is_left_as_detected():
    clean = walking_person()
    bad = swapped(clean, KNEES, slice(0, 80))          # two thirds of the track: the detector "wins"
    fixed, report = repair_keypoints(bad)
    np.testing.assert_array_equal(fixed, bad)
    assert report.frames_any == 0


def test_missing_joints_are_skipped_and_interpolated_joints_follow_the_repair():
    clean = walking_person()
    bad = swapped(clean, KNEES, slice(50, 54))
    bad[30:35, KNEES[0], 2] = 0.0                           # not detected: ignored, unchanged
    bad[30:35, KNEES[0], :2] = np.nan
    fixed, _ = repair_keypoints(bad)
    np.testing.assert_array_equal(fixed[50:54], clean[50:54])
    assert np.isnan(fixed[30:35, KNEES[0], :2]).all() and (fixed[30:35, KNEES[0], 2] == 0).all()

    # a gap bridged by the tracker between a swapped detection and a clean one is re-interpolated
    n = clean.shape[0]
    interp = np.zeros((n, 17), bool)
    interp[60:63] = True
    bad = swapped(clean, KNEES, slice(57, 60))
    bad[60:63] = bad[59] + (bad[63] - bad[59]) * ((np.arange(60, 63) - 59) / 4.0)[:, None, None]
    track = Track(track_id=1, frames=np.arange(n), keypoints_px=bad, boxes_px=np.zeros((n, 4)),
                  detected=~interp.any(1), joint_interpolated=interp)
    fixed, report = repair_track(track)
    assert report.frames_per_pair["knee"] == 3
    want = clean[59] + (clean[63] - clean[59]) * ((np.arange(60, 63) - 59) / 4.0)[:, None, None]
    np.testing.assert_allclose(fixed.keypoints_px[60:63, list(KNEES), :2], want[:, list(KNEES), :2])
    np.testing.assert_array_equal(fixed.keypoints_px[57:60], clean[57:60])


def test_bad_shape_is_rejected():
    with pytest.raises(ValueError, match="expected COCO-17"):
        repair_keypoints(np.zeros((5, 16, 3)))


def test_unobserved_entries_are_kept_unless_marked_interpolated():
    clean = walking_person()
    bad = swapped(clean, KNEES, slice(50, 54))
    weak = np.zeros(bad.shape[:2], bool)
    weak[20:25, COCO.names.index("nose")] = True               # low confidence: not used, not changed
    bad[20:25, COCO.names.index("nose"), :2] += 40.0
    fixed, report = repair_keypoints(bad, observed=~weak)
    assert report.frames_per_pair["knee"] == 4
    np.testing.assert_array_equal(fixed[20:25], bad[20:25])
    np.testing.assert_array_equal(fixed[50:54], clean[50:54])


def test_evaluate_with_swap_episodes_and_repair():
    import torch
    from sasmamba_models import SasMambaLifter, preset

    from sasmamba_cli.mocap.dataset import from_clips
    from sasmamba_cli.training.evaluate import evaluate
    from sasmamba_cli.training.virtual import VirtualConfig
    from _mocap_helpers import swaying_person_clips as _tiny_dataset

    ds = _tiny_dataset(from_clips)
    torch.manual_seed(0)
    model = SasMambaLifter(preset("tiny", max_frames=9)).eval()
    clips = np.arange(ds.num_clips)
    clean = evaluate(model, ds, clips, 9, 2, flip_modes=(False,), virtual=VirtualConfig(swap_p=0.0))
    swapped = evaluate(model, ds, clips, 9, 2, flip_modes=(False,), virtual=VirtualConfig(swap_p=1.0))
    assert swapped["no_tta"]["overall"]["mpjpe"] != clean["no_tta"]["overall"]["mpjpe"]   # the knob bites
    repaired = evaluate(model, ds, clips, 9, 2, flip_modes=(False,), virtual=VirtualConfig(swap_p=1.0),
                        swap_penalty=0.1)
    assert np.isfinite(repaired["no_tta"]["overall"]["mpjpe"])


def test_a_frame_with_one_joint_inside_a_swap_run_is_exchanged_too():
    clean = walking_person()
    bad = swapped(clean, KNEES, slice(50, 58))
    n = clean.shape[0]
    interp = np.zeros((n, 17), bool)
    interp[53, KNEES[1]] = True                       # r_knee not detected on 53: the tracker filled it
    bad[53, KNEES[1], :2] = (bad[52, KNEES[1], :2] + bad[54, KNEES[1], :2]) / 2
    track = Track(track_id=0, frames=np.arange(n), keypoints_px=bad, boxes_px=np.zeros((n, 4)),
                  detected=np.ones(n, bool), joint_interpolated=interp)
    fixed, report = repair_track(track)
    k = fixed.keypoints_px
    np.testing.assert_array_equal(k[50:58, KNEES[0]][[0, 1, 2, 4, 5, 6, 7]], clean[50:58, KNEES[0]][[0, 1, 2, 4, 5, 6, 7]])
    np.testing.assert_array_equal(k[53, KNEES[1]], clean[53, KNEES[1]])         # the real detection, relabelled
    assert np.linalg.norm(k[53, KNEES[0], :2] - clean[53, KNEES[0], :2]) < 5.0     # re-interpolated on its side
    assert report.frames_per_pair["knee"] == 8
    assert fixed.joint_interpolated[53, KNEES[0]] and not fixed.joint_interpolated[53, KNEES[1]]   # flag moved too


def test_no_body_scale_leaves_the_track_as_detected():
    clean = walking_person()
    bad = swapped(clean, KNEES, slice(50, 54))
    bad[:, [5, 6, 11, 12], 2] = 0.0                   # shoulders and hips never detected
    bad[:, [5, 6, 11, 12], :2] = np.nan
    fixed, report = repair_keypoints(bad)
    np.testing.assert_array_equal(fixed, bad)
    assert report.frames_any == 0 and "no body scale" in report.skipped


def test_legs_crossing_fast_at_low_fps_keep_their_labels():
    # side-view jogging at 10 fps: the knees pass each other every ~4 frames with large steps
    n, period = 60, 7.7
    ph = 2 * np.pi * np.arange(n) / period + 0.37
    kp = walking_person(n)
    kp[:, KNEES[0], 0] = 400 + 58 * np.sin(ph)
    kp[:, KNEES[1], 0] = 400 - 58 * np.sin(ph)
    kp[:, list(KNEES), 1] = 470.0
    fixed, report = repair_keypoints(kp)
    assert report.frames_per_pair["knee"] == 0
    np.testing.assert_array_equal(fixed, kp)
