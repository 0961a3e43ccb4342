"""Memory on long inputs (issue 16, point 7): the streamed stages give the same bits as the
one-shot forms they replaced (windows through the model batch by batch, CSV in frame chunks,
keypoint files converted to arrays while parsing, NPZ written straight into its file)."""
import json

import numpy as np
import pytest

from sasmamba_cli.pipeline.result import ClipResult, TrackResult, csv_pieces, write_csv, write_npz


class _Model:
    """A deterministic non-linear stand-in for the lifter: (B, W, 17, C) -> (B, W, 17, 3)."""

    def __init__(self):
        self.batches = []

    def __call__(self, x):
        import hashlib

        import torch

        self.batches.append((tuple(x.shape), str(x.dtype), hashlib.sha256(x.numpy().tobytes()).hexdigest()))
        w = torch.linspace(-1, 1, x.shape[1])[None, :, None]
        out = torch.zeros(x.shape[:3] + (3,))
        out[..., 0] = torch.tanh(x[..., 0] * 1.7 + w)
        out[..., 1] = x[..., 1] * x[..., 0] + 0.3 * w
        out[..., 2] = torch.sin(x.sum(-1)) + x[:, :1, :, 0]
        return out


def _one_shot(lifter, seqs, fps, opts):
    """The lift as it was before streaming: every window cut, one run_model over all of them
    (and their mirrored copies), then merge_windows per sequence."""
    from sasmamba_cli.pipeline.lifting import resample_back, resample_keypoints, run_model
    from sasmamba_cli.pipeline.roll import rotate_camera_z, rotate_keypoints, torso_roll
    from sasmamba_cli.pipeline.windows import cut_windows, merge_windows, plan_windows
    from sasmamba_cli.skeleton import flip_h36m, lifter_input

    resample = bool(opts.resample and lifter.fps and abs(lifter.fps - fps) > 0.01 * lifter.fps)
    rolls = [torso_roll(kp) if opts.upright else 0.0 for kp in seqs]
    plans, chunks = [], []
    for kp, r in zip(seqs, rolls):
        kp = rotate_keypoints(kp, -r, 640, 480) if r else kp
        src = resample_keypoints(kp, fps, lifter.fps) if resample else kp
        x = lifter_input(src, 640, 480, lifter.in_chans)
        plans.append(plan_windows(x.shape[0], lifter.window, opts.overlap_for(lifter.window)))
        chunks.append(cut_windows(x, plans[-1]))
    windows = np.concatenate(chunks, 0)
    k = windows.shape[0]
    pred = run_model(lifter, np.concatenate([windows, flip_h36m(windows)], 0), opts.batch_size)
    plain_w, tta_w = pred[:k], 0.5 * (pred[:k] + flip_h36m(pred[k:]))

    def finish(pw):
        out, at = [], 0
        for kp, plan, chunk, roll in zip(seqs, plans, chunks, rolls):
            seq = merge_windows(pw[at:at + chunk.shape[0]], plan)
            at += chunk.shape[0]
            if resample:
                seq = resample_back(seq, fps, lifter.fps, kp.shape[0])
            out.append(rotate_camera_z(seq - seq[:, :1], roll))
        return out

    return finish(plain_w), finish(tta_w), rolls


@pytest.mark.parametrize("batch,in_chans,fps", [(32, 2, 50.0), (5, 3, 30.0), (1, 2, 30.0)])
def test_streamed_lift_is_bit_identical_to_one_shot(batch, in_chans, fps):
    from sasmamba_cli.pipeline.lifting import LiftOptions, LoadedLifter, infer_sequences

    rng = np.random.default_rng(3)
    seqs = []
    for n in (7, 27, 100, 233):                     # shorter than, equal to and longer than the window
        kp = np.concatenate([rng.uniform(100, 600, (n, 17, 2)), rng.uniform(0.2, 1, (n, 17, 1))], -1)
        kp[rng.random((n, 17)) < 0.1] = [np.nan, np.nan, 0.0]
        seqs.append(kp)
    lifter = LoadedLifter(_Model(), {}, None, "fake", in_chans, 27, 50.0, "cpu")
    opts = LiftOptions(batch_size=batch, upright=True)
    inf = infer_sequences(lifter, seqs, [(640, 480)] * len(seqs), fps, opts, both=True)
    streamed_batches, lifter.model.batches = lifter.model.batches, []
    plain, tta, rolls = _one_shot(lifter, seqs, fps, opts)
    assert inf.rolls == rolls
    for a, b in zip(inf.plain, plain):
        assert a.shape == b.shape and a.tobytes() == b.tobytes()
    for a, b in zip(inf.tta, tta):
        assert a.shape == b.shape and a.tobytes() == b.tobytes()
    # the model saw the one-shot form's batches, bit for bit (what keeps a real model's output the
    # same: its arithmetic may depend on how windows are batched)
    assert streamed_batches == lifter.model.batches
    assert len(streamed_batches) > 1 and streamed_batches[0][1] == "torch.float32"


def _track(tid, n, rng):
    kp = rng.normal(300, 50, (n, 17, 3))
    kp[..., 2] = rng.uniform(0, 1, (n, 17))
    kp[rng.random((n, 17)) < 0.1, :2] = np.nan
    j3 = rng.normal(0, 0.3, (n, 17, 3))
    j3[n // 2, 4] = np.nan
    j3[n // 3, 2, 1] = np.inf
    m = rng.random((n, 17)) < 0.05
    return TrackResult(tid, np.arange(10, 10 + n), kp, kp.copy(), rng.uniform(0, 500, (n, 4)), j3,
                       rng.normal(0, 2, (n, 3)), kp[..., 2].copy(), rng.random(n) < 0.1, 1.25, m, m.copy())


@pytest.mark.parametrize("chunk", [1, 7, 2000])
def test_csv_in_chunks_is_byte_identical(tmp_path, chunk):
    rng = np.random.default_rng(0)
    r = ClipResult({"source": {"fps": 29.97}}, [_track(0, 53, rng), _track(3, 1, rng), _track(5, 20, rng)])
    whole = "".join(csv_pieces(r, chunk=10 ** 9))          # one piece per track: the one-shot text
    assert "".join(csv_pieces(r, chunk=chunk)) == whole
    assert write_csv(r, tmp_path / "a.csv").read_bytes() == whole.encode()
    lines = whole.splitlines()
    assert len(lines) == 1 + 17 * (53 + 1 + 20)
    assert ",nan" not in whole and ",inf" not in whole and ",," in whole      # non-finite -> empty cells


def test_npz_written_into_its_file_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    r = ClipResult({"source": {"fps": 30.0}, "run": {"timings_s": {}}}, [_track(2, 40, rng)])
    p = write_npz(r, tmp_path / "a.npz")
    assert not list(tmp_path.glob(".*.tmp"))
    z = np.load(p)
    assert json.loads(str(z["header"])) == r.header
    assert z["track2_joints_3d"].tobytes() == r.tracks[0].joints_3d_m.tobytes()
    assert z["track2_keypoints_coco_interpolated"].tobytes() == r.tracks[0].keypoints_coco_interpolated.tobytes()


def test_keypoints_converted_while_parsing_match_the_list_path(tmp_path, monkeypatch):
    """The parse-time conversion (``_Packer``: packed keypoint rows, slotted entries) gives the same
    detections as the per-entry check it short-cuts, and hostile values still get that check's
    message."""
    import sasmamba_cli.pipeline.keypoints_io as kio
    from sasmamba_cli.errors import InputError

    rng = np.random.default_rng(2)
    anns = []
    for f in range(30):
        for tid in (0, 1):
            kp = np.round(rng.uniform(0, 600, (17, 3)), 3)
            kp[:, 2] = np.round(rng.uniform(0, 1, 17), 3)
            vals = kp.reshape(-1).tolist()
            vals[3 * (f % 17)] = None                       # a missing x
            vals[3 * ((f + 3) % 17) + 1] = 7                # an int
            vals[3 * ((f + 5) % 17)] = 5e300                # far outside the image: out of range
            anns.append({"image_id": f, "track_id": tid, "keypoints": vals})
    path = tmp_path / "k.json"
    path.write_text(json.dumps({"width": 640, "height": 480, "fps": 30, "annotations": anns}))
    packed = kio._Packer()
    parsed = json.loads(path.read_text(), object_hook=packed)
    assert all(isinstance(a, kio._Entry) for a in parsed["annotations"])   # the fast path is taken
    fast = kio.read_keypoints(path, kp_threshold=0.3)
    monkeypatch.setattr(kio, "_Packer", lambda: (lambda obj: obj))
    slow = kio.read_keypoints(path, kp_threshold=0.3)
    assert fast.out_of_range == slow.out_of_range == 120       # the null x and the 5e300 per entry
    assert sorted(fast.detections) == sorted(slow.detections)
    for f in slow.detections:
        a, b = fast.detections[f], slow.detections[f]
        for name in ("keypoints_px", "boxes_px", "scores"):
            assert getattr(a, name).tobytes() == getattr(b, name).tobytes()
        assert fast.track_ids[f].tolist() == slow.track_ids[f].tolist()
    monkeypatch.undo()
    anns[5]["keypoints"][4] = "12"
    anns[6]["keypoints"][4] = True
    path.write_text(json.dumps({"width": 640, "height": 480, "fps": 30, "annotations": anns}))
    with pytest.raises(InputError, match=r"entry 5 \(frame 2\): keypoint value '12' is not a number"):
        kio.read_keypoints(path)
