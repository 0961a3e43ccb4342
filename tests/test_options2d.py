"""2D options before lifting: detector flip TTA (pipeline/flip2d.py) and --smooth-2d."""
import numpy as np
import pytest

from sasmamba_cli.errors import InputError
from sasmamba_cli.pipeline.flip2d import FlipTTA, fuse, unflip
from sasmamba_cli.pipeline.smooth import parse_smooth, parse_smooth_2d, smooth_keypoints_2d
from sasmamba_cli.skeleton import COCO


def _person(rng, w=200):
    kp = np.zeros((17, 3))
    kp[:, 0] = rng.uniform(40, w - 40, 17)
    kp[:, 1] = rng.uniform(20, 180, 17)
    kp[:, 2] = rng.uniform(0.6, 1.0, 17)
    box = np.array([kp[:, 0].min() - 5, kp[:, 1].min() - 5, kp[:, 0].max() + 5, kp[:, 1].max() + 5])
    return box, kp


def mirror(box, kp, w):
    """What a detector sees on the mirrored frame: x -> w - x, left and right labels exchanged."""
    b = np.array([w - box[2], box[1], w - box[0], box[3]])
    k = kp.copy()
    k[:, 0] = w - k[:, 0]
    return b, k[COCO.flip_permutation]


def test_unflip_inverts_the_mirror():
    rng = np.random.default_rng(0)
    box, kp = _person(rng)
    b, k = mirror(box, kp, 200)
    ub, uk = unflip(b[None], k[None], 200)
    np.testing.assert_allclose(ub[0], box)
    np.testing.assert_allclose(uk[0], kp)


def test_fuse_weights_positions_by_confidence_and_keeps_single_views():
    a = np.array([[10.0, 20.0, 0.9], [np.nan, np.nan, 0.0], [0.0, 0.0, 0.0]])
    b = np.array([[20.0, 20.0, 0.3], [5.0, 6.0, 0.8], [np.nan, np.nan, 0.0]])
    f = fuse(a, b)
    np.testing.assert_allclose(f[0], [12.5, 20.0, 0.6])
    np.testing.assert_allclose(f[1], [5.0, 6.0, 0.4])          # seen once: its position, half its confidence
    assert f[2, 2] == 0.0


class _FakeYolo:
    """predict_raw double: the first call returns the people as given, the second (the mirrored
    frames) their mirror images with 2 px of noise."""

    kp_threshold = 0.5

    def __init__(self, people, w):
        self.people, self.w, self.calls = people, w, 0

    def predict_raw(self, frames):
        self.calls += 1
        if self.calls == 1:
            boxes = np.array([p[0] for p in self.people])
            kps = np.array([p[1] for p in self.people])
        else:
            m = [mirror(b, k, self.w) for b, k in self.people]
            boxes = np.array([x[0] for x in m])[::-1]             # another order: matched by overlap
            kps = np.array([x[1] for x in m])[::-1] + np.r_[2.0, -2.0, 0.0]
        return [(boxes, np.array([0.9, 0.8]), kps) for _ in frames]


def test_flip_tta_pairs_people_by_overlap_and_averages():
    rng = np.random.default_rng(3)
    w = 400
    p1 = _person(rng, 200)
    box2, kp2 = _person(rng, 200)
    kp2[:, 0] += 200
    box2[[0, 2]] += 200
    fake = _FakeYolo([p1, (box2, kp2)], w)
    det = FlipTTA(fake)
    out = det([np.zeros((200, w, 3), np.uint8)])[0]
    assert fake.calls == 2 and det.fused == 2 and det.kept == 0
    # the mirrored pass's noise (+2, -2 px after turning back: -2 in x) is averaged in by confidence
    for j, (_, kp) in enumerate([p1, (box2, kp2)]):
        np.testing.assert_allclose(out.keypoints_px[j, :, 1], kp[:, 1] - 1.0, atol=1e-9)
        np.testing.assert_allclose(out.keypoints_px[j, :, 0], kp[:, 0] - 1.0, atol=1e-9)
    assert det.kp_threshold == 0.5                         # attributes delegate to the wrapped detector


def test_smooth_2d_filters_seen_joints_only():
    t = np.arange(120) / 30.0
    kp = np.zeros((120, 17, 3))
    kp[..., 0] = 100 + 20 * np.sin(2 * np.pi * 1.0 * t)[:, None]
    kp[..., 1] = 50.0
    kp[..., 2] = 1.0
    noisy = kp.copy()
    noisy[..., 0] += np.random.default_rng(0).normal(0, 3, (120, 17))
    noisy[40:45, 3, :2] = np.nan
    noisy[40:45, 3, 2] = 0.0
    out = smooth_keypoints_2d(noisy, 30.0, parse_smooth_2d("butterworth:3"))
    seen = noisy[..., 2] > 0
    err = lambda x: np.abs(x[..., 0] - kp[..., 0])[seen].mean()
    assert err(out) < 0.7 * err(noisy)          # white noise: about sqrt(3 / 15) of it passes 3 Hz at 30 fps
    assert np.isnan(out[40:45, 3, :2]).all() and (out[..., 2] == noisy[..., 2]).all()
    np.testing.assert_array_equal(smooth_keypoints_2d(noisy, 30.0, parse_smooth("none")), noisy)


def test_smooth_2d_refuses_metre_filters():
    with pytest.raises(InputError, match="not available for pixels"):
        parse_smooth_2d("oneeuro")


def _camera():
    from sasmamba_cli.pipeline.root import camera_from_fov

    return camera_from_fov(1000, 1000, 60.0)


def _project(x, root, cam):
    p = x + root[:, None]
    return np.stack([cam.focal_px * p[..., 0] / p[..., 2] + cam.cx, cam.focal_px * p[..., 1] / p[..., 2] + cam.cy], -1)


def _wrist_off_case(n_frames: int, seed: int, noise_px: float = 0.0):
    """A synthetic track seen by the test camera 4 m away: the true root-relative 3D ``(n, 17, 3)``,
    the root, the camera, its exact 2D (plus ``noise_px`` of seeded Gaussian noise) with confidence
    1, a lift with the left wrist 8 cm to the side, and the wrist's index."""
    from sasmamba_cli.export.synthetic import synthetic_result
    from sasmamba_cli.skeleton import H36M

    r = synthetic_result(n_frames=n_frames, seed=seed, anatomical=True)
    true = np.array(r.tracks[0].joints_3d_m, dtype=np.float64)
    true = true - true[:, :1]                                            # root-relative
    n = true.shape[0]
    root = np.tile([0.1, 0.2, 4.0], (n, 1))
    cam = _camera()
    kp = np.concatenate([_project(true, root, cam), np.ones((n, 17, 1))], -1)
    if noise_px:
        kp[..., :2] += np.random.default_rng(0).normal(0, noise_px, (n, 17, 2))
    wr = H36M.index("l_wrist")
    wrong = true.copy()
    wrong[:, wr, 0] += 0.08                                              # the wrist 8 cm to the side
    return true, root, cam, kp, wrong, wr


def test_refine_2d_pulls_a_sideways_error_back_and_keeps_the_skeleton():
    from sasmamba_cli.pipeline.refine2d import _bones, refine_track
    from sasmamba_cli.skeleton import H36M

    true, root, cam, kp, wrong, wr = _wrist_off_case(40, seed=1)
    x, rt, rep = refine_track(wrong, root, kp, cam, 30.0)
    assert rep["applied"] and rep["residual_px_after"] < 0.85 * rep["residual_px_before"]
    err = lambda a: np.linalg.norm(a[:, wr] - true[:, wr], axis=-1).mean()
    assert err(x) < 0.85 * err(wrong)          # pulled toward the 2D, held by the prior (TOL_M)
    np.testing.assert_allclose(x[:, H36M.index("pelvis")], 0.0, atol=1e-12)
    b = _bones()
    bl = lambda a: np.linalg.norm(a[:, b[:, 0]] - a[:, b[:, 1]], axis=-1)
    assert np.abs(bl(x) - np.median(bl(wrong), axis=0)).max() < 0.03


def test_refine_2d_in_blocks_stays_close_to_one_solve(monkeypatch):
    """A track longer than ``block`` frames is refined block by block (memory flat in its length),
    each block by its own L-BFGS with the whole track's tolerance and bone lengths: the result
    stays within a few millimetres of one solve over the track and still reprojects better; a
    track that fits one block is one solve, to the bit."""
    import sasmamba_cli.pipeline.refine2d as refine2d
    from sasmamba_cli.pipeline.refine2d import refine_track

    true, root, cam, kp, wrong, _ = _wrist_off_case(40, seed=2)
    n = true.shape[0]
    one = refine_track(wrong, root, kp, cam, 30.0, block=n)
    default = refine_track(wrong, root, kp, cam, 30.0)           # n < BLOCK_FRAMES: one solve
    np.testing.assert_array_equal(default[0], one[0])
    np.testing.assert_array_equal(default[1], one[1])
    monkeypatch.setattr(refine2d, "MARGIN_FRAMES", 8)                  # (64 would cover this whole track)
    x, rt, rep = refine_track(wrong, root, kp, cam, 30.0, block=16)    # blocks of 16, 16, 8 frames
    assert rep["applied"] and rep["residual_px_after"] < 0.85 * rep["residual_px_before"]
    pos = lambda x, rt: x + rt[:, None]
    assert np.abs(pos(x, rt) - pos(one[0], one[1])).max() < 0.003
    # the temporal term reaches across blocks: no jump in the correction where one block ends
    corr = pos(x, rt) - pos(wrong, root)
    step = np.linalg.norm(corr[1:] - corr[:-1], axis=-1).max(-1)         # (n - 1,) largest joint step
    inner = np.delete(step, [15, 31])
    assert step[[15, 31]].max() <= 2.0 * inner.max() + 1e-4


def test_refine_2d_ignores_missing_2d():
    from sasmamba_cli.pipeline.refine2d import refine_track

    n = 5
    joints = np.random.default_rng(0).normal(0, 0.2, (n, 17, 3))
    joints[:, 0] = 0
    kp = np.full((n, 17, 3), np.nan)
    kp[..., 2] = 0
    x, r, rep = refine_track(joints, np.tile([0, 0, 3.0], (n, 1)), kp, _camera(), 30.0)
    assert not rep["applied"]
    np.testing.assert_array_equal(x, joints)


def test_eval_refinement_works_in_the_predictions_own_scale():
    """sasmamba eval --refine-2d: a prediction in arbitrary units is scaled to metres (height prior),
    refined against the 2D, and handed back in its own units."""
    from sasmamba_cli.export.synthetic import synthetic_result
    from sasmamba_cli.skeleton import H36M
    from sasmamba_cli.training.evaluate import refine_to_2d

    r = synthetic_result(n_frames=30, seed=2, anatomical=True)
    true = np.array(r.tracks[0].joints_3d_m, dtype=np.float64)
    true = true - true[:, :1]
    cam = _camera()
    kp = np.concatenate([_project(true, np.tile([0.0, 0.1, 4.0], (30, 1)), cam), np.ones((30, 17, 1))], -1)
    pred = true * 0.37                                   # the lifter's own units
    wr = H36M.index("r_wrist")
    pred[:, wr, 1] += 0.03                               # 8 cm in metres, off in the image's y
    out = refine_to_2d(pred, kp, cam, 30.0)
    assert out.shape == pred.shape and np.isfinite(out).all()
    err = lambda a: np.linalg.norm(a[:, wr] - true[:, wr] * 0.37, axis=-1).mean()
    assert err(out) < 0.85 * err(pred)
    assert abs(np.median(np.linalg.norm(out[:, 1] - out[:, 0], axis=-1))
               / np.median(np.linalg.norm(pred[:, 1] - pred[:, 0], axis=-1)) - 1) < 0.05   # units kept


def test_refine_2d_temporal_term_keeps_2d_noise_out_of_the_3d():
    """Per-frame 2D noise: without the temporal term each frame's correction follows its own noise
    (jitter); with it (fps given) the corrections vary slowly, so the 3D's frame-to-frame
    acceleration stays near the lift's, while a lasting 2D disagreement (the wrist 8 cm off on
    every frame) is still corrected."""
    from sasmamba_cli.pipeline.refine2d import refine_track

    true, root, cam, kp, wrong, wr = _wrist_off_case(60, seed=3, noise_px=4.0)   # 4 px of detector noise
    accel = lambda a: np.linalg.norm(a[2:] - 2 * a[1:-1] + a[:-2], axis=-1).mean()
    free, _, _ = refine_track(wrong, root, kp, cam, None)
    held, _, _ = refine_track(wrong, root, kp, cam, 30.0)
    assert accel(held) < 0.6 * accel(free)
    assert accel(held) < accel(wrong) + 0.002                                  # near the lift's own (m / frame^2)
    err = lambda a: np.linalg.norm(a[:, wr] - true[:, wr], axis=-1).mean()
    assert err(held) < 0.85 * err(wrong)
