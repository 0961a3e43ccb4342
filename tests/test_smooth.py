"""Temporal smoothing (``sasmamba_cli.pipeline.smooth``, ``lift --smooth``, ``eval --smooth``)."""
from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
from _mocap_helpers import swaying_person_clips as _tiny_dataset
from test_lift_cli import app, output_of, run, validate, write_keypoint_file

from sasmamba_cli.errors import InputError
from sasmamba_cli.pipeline.smooth import (DEFAULT_SMOOTH, FILTERS, NO_SMOOTHING, apply_smoothing,
                                          jitter_mm_s2, parse_smooth, smooth_track)

FPS = 30.0
NOISE_M = 0.015                       # 1.5 cm white noise per coordinate, like a jittery lift


def _clean(n: int = 150, seed: int = 0) -> np.ndarray:
    """(n, 17, 3) metres: every coordinate a sum of two slow sinusoids (0.3-1.5 Hz, 2-15 cm);
    the pelvis (joint 0) stays 0 as in root-relative joints."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None, None] / FPS
    x = np.zeros((n, 17, 3))
    for _ in range(2):
        f, a, ph = rng.uniform(0.3, 1.5, (17, 3)), rng.uniform(0.02, 0.15, (17, 3)), rng.uniform(0, 6, (17, 3))
        x += a * np.sin(2 * np.pi * f * t + ph)
    x[:, 0] = 0.0
    return x


def _noisy(clean: np.ndarray, seed: int = 1) -> np.ndarray:
    out = clean + np.random.default_rng(seed).normal(0, NOISE_M, clean.shape)
    out[:, 0] = 0.0
    return out


def _error_mm(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=-1)[:, 1:].mean() * 1000)


@pytest.mark.parametrize("name, moves_clean_mm", [("butterworth", 1.0), ("savgol", 2.0),
                                                   ("oneeuro", 30.0)])   # causal: it lags
def test_each_filter_lowers_jitter_and_moves_the_clean_signal_little(name, moves_clean_mm):
    clean = _clean()
    noisy = _noisy(clean)
    spec = parse_smooth(name)
    out = apply_smoothing(noisy, FPS, spec)
    before, after = jitter_mm_s2(noisy, FPS), jitter_mm_s2(out, FPS)
    moved = _error_mm(apply_smoothing(clean, FPS, spec), clean)
    print(f"{name}: jitter {before:.0f} -> {after:.0f} mm/s^2 (clean {jitter_mm_s2(clean, FPS):.0f}); "
          f"error vs clean {_error_mm(noisy, clean):.1f} -> {_error_mm(out, clean):.1f} mm; clean moved {moved:.1f} mm")
    assert after < 0.5 * before
    assert moved < moves_clean_mm
    if name != "oneeuro":
        assert _error_mm(out, clean) < _error_mm(noisy, clean)       # closer to the clean signal
    assert np.all(out[:, 0] == 0.0)                                   # the pelvis stays at the origin
    assert out.shape == noisy.shape and np.all(np.isfinite(out))


def test_butterworth_recovers_the_clean_signal_best():
    clean = _clean(seed=3)
    noisy = _noisy(clean, seed=4)
    bw = apply_smoothing(noisy, FPS, parse_smooth("butterworth"))
    assert _error_mm(bw, clean) < 0.7 * _error_mm(noisy, clean)
    assert _error_mm(apply_smoothing(clean, FPS, parse_smooth("butterworth")), clean) < 1.0   # moves clean data little


def test_butterworth_cutoff_at_or_above_nyquist_is_the_identity():
    x = _noisy(_clean())
    np.testing.assert_array_equal(apply_smoothing(x, 10.0, parse_smooth("butterworth:6")), x)   # Nyquist 5 Hz
    assert not np.array_equal(apply_smoothing(x, 30.0, parse_smooth("butterworth:6")), x)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8])
@pytest.mark.parametrize("name", list(FILTERS))
def test_short_tracks_never_crash_or_make_nan(name, n):
    x = _noisy(_clean(max(n, 1)))[:n]
    root = np.random.default_rng(n).normal(0, 0.05, (n, 3)) + [0.0, 0.0, 4.0]
    joints, r, report = smooth_track(x, root, FPS, parse_smooth(name))
    assert joints.shape == x.shape and r.shape == root.shape
    assert np.all(np.isfinite(joints)) and np.all(np.isfinite(r))
    if n < 3:
        assert report["joints_jitter_before"] is None and report["root_jitter_after"] is None
    else:
        assert report["joints_jitter_after"] >= 0 and report["root_jitter_before"] >= 0
    json.dumps(report, allow_nan=False)


def test_non_finite_samples_stay_where_they_were_and_nowhere_else():
    x = _noisy(_clean(60))
    x[10:13, 5, 1] = np.nan
    x[:, 7, 2] = np.nan                                               # a column with no finite sample
    for name in FILTERS:
        out = apply_smoothing(x, FPS, parse_smooth(name))
        np.testing.assert_array_equal(np.isnan(out), np.isnan(x))


def test_jitter_metric_units():
    t = np.arange(31) / FPS
    x = np.zeros((31, 1, 3))
    x[:, 0, 0] = 0.5 * 2.0 * t ** 2                                   # constant 2 m/s^2 along x
    assert jitter_mm_s2(x, FPS) == pytest.approx(2000.0)              # mm/s^2
    assert jitter_mm_s2(x[:2], FPS) is None


# --- the spec ---------------------------------------------------------------------------------------

def test_spec_parsing_and_canonical_form():
    assert parse_smooth("none") == NO_SMOOTHING and str(NO_SMOOTHING) == "none"
    bw = parse_smooth("butterworth")
    assert str(bw) == "butterworth:cutoff_hz=6,order=4"
    assert parse_smooth("Butterworth:6") == bw == parse_smooth("butterworth:cutoff_hz=6")
    assert parse_smooth("butterworth:3").kwargs == {"cutoff_hz": 3.0, "order": 4}
    assert parse_smooth(str(parse_smooth("oneeuro:min_cutoff_hz=0.5,beta=2"))) == parse_smooth(
        "oneeuro:0.5,beta=2")
    assert parse_smooth("savgol:0.5").as_dict() == {"filter": "savgol", "params": {"window_s": 0.5, "polyorder": 2}}


@pytest.mark.parametrize("text, match", [
    ("kalman", r"unknown filter 'kalman'; expected one of none, butterworth, savgol, oneeuro"),
    ("butterworth:speed=3", r"no parameter 'speed'; expected one of cutoff_hz, order"),
    ("butterworth:fast", r"expected a number for butterworth cutoff_hz, found 'fast'"),
    ("butterworth:0", r"expected cutoff_hz > 0, found 0"),
    ("butterworth:order=3", r"expected an even order"),
    ("savgol:polyorder=1.5", r"expected an integer polyorder, found 1.5"),
    ("oneeuro:beta=-1", r"expected beta >= 0, found -1"),
    ("none:3", r"takes no parameters"),
    ("butterworth:6,4", r"expected KEY=VALUE after the first value, found '4'"),
])
def test_spec_errors_say_expected_and_found(text, match):
    with pytest.raises(InputError, match=match):
        parse_smooth(text)


def test_one_default_everywhere():
    from sasmamba_cli.commands.eval import eval_cmd
    from sasmamba_cli.commands.lift import lift
    from sasmamba_cli.pipeline.run import LiftSettings

    assert inspect.signature(lift).parameters["smooth"].default == DEFAULT_SMOOTH
    assert LiftSettings().smooth == DEFAULT_SMOOTH
    assert inspect.signature(eval_cmd).parameters["smooth"].default is None       # = none
    parse_smooth(DEFAULT_SMOOTH)


# --- in the pipeline -------------------------------------------------------------------------------

def test_settings_hash_changes_with_smoothing(tiny_weights):
    from sasmamba_cli.pipeline.run import LiftPipeline, LiftSettings

    pipe = LiftPipeline(LiftSettings(weights=str(tiny_weights)))

    def hash_of(spec: str) -> str:
        return LiftPipeline(LiftSettings(weights=str(tiny_weights), smooth=spec),
                            lifter=pipe.lifter).settings_hash(keypoints_mode=True)
    none, bw6, bw3 = hash_of("none"), hash_of("butterworth"), hash_of("butterworth:3")
    assert len({none, bw6, bw3}) == 3
    assert hash_of("butterworth:cutoff_hz=6") == bw6                  # same filter, other spelling
    with pytest.raises(InputError, match="unknown filter"):
        LiftPipeline(LiftSettings(weights=str(tiny_weights), smooth="kalman"), lifter=pipe.lifter)


def test_lift_smooth_option_end_to_end(app, tmp_path, tiny_weights):
    kp = write_keypoint_file(tmp_path / "clip.json", frames=45)
    docs = {}
    for spec in ("none", "butterworth:3"):
        out = tmp_path / spec.replace(":", "_")
        r = run(app, "--keypoints", kp, "--weights", tiny_weights, "--out", out, "-q", "--smooth", spec)
        assert r.exit_code == 0, output_of(r)
        docs[spec] = json.loads((out / "clip.json").read_text())
        validate(docs[spec])
    plain, smooth = docs["none"], docs["butterworth:3"]
    assert plain["settings"]["smooth"] == {"filter": "none", "params": {}}
    assert smooth["settings"]["smooth"] == {"filter": "butterworth", "params": {"cutoff_hz": 3.0, "order": 4}}
    assert plain["run"]["settings_hash"] != smooth["run"]["settings_hash"]
    for doc in docs.values():
        assert doc["smoothing"]["jitter_unit"] == "mm/s^2"
        assert [t["track_id"] for t in doc["smoothing"]["tracks"]] == [t["track_id"] for t in doc["tracks"]]
    p, s = plain["smoothing"]["tracks"][0], smooth["smoothing"]["tracks"][0]
    assert p["joints_jitter_before"] == p["joints_jitter_after"] and p["joints_mean_change_mm"] == 0
    assert s["joints_jitter_before"] == pytest.approx(p["joints_jitter_before"], rel=1e-3)   # same lift
    assert s["joints_jitter_after"] < s["joints_jitter_before"]
    assert s["root_jitter_after"] < s["root_jitter_before"]
    j_plain = np.array(plain["tracks"][0]["joints_3d"])
    j_smooth = np.array(smooth["tracks"][0]["joints_3d"])
    assert jitter_mm_s2(j_smooth, 30.0) == pytest.approx(s["joints_jitter_after"], rel=1e-2)
    assert not np.allclose(j_plain, j_smooth)


def test_lift_rejects_an_unknown_filter_with_a_clear_error(app, tmp_path, tiny_weights):
    kp = write_keypoint_file(tmp_path / "clip.json", frames=20)
    r = run(app, "--keypoints", kp, "--weights", tiny_weights, "--out", tmp_path / "o", "--smooth", "kalman")
    assert r.exit_code == 2
    text = " ".join(output_of(r).split())
    assert "unknown filter 'kalman'" in text and "expected one of none, butterworth, savgol, oneeuro" in text
    assert not (tmp_path / "o" / "clip.json").exists()


# --- eval --smooth -----------------------------------------------------------------------------------

def test_evaluate_scores_several_smoothing_specs_from_one_prediction():
    import torch
    from sasmamba_models import SasMambaLifter, preset

    from sasmamba_cli.mocap.dataset import from_clips
    from sasmamba_cli.training.evaluate import evaluate

    ds = _tiny_dataset(from_clips)
    torch.manual_seed(0)
    model = SasMambaLifter(preset("tiny", max_frames=9)).eval()
    specs = (NO_SMOOTHING, parse_smooth("butterworth:3"))
    res = evaluate(model, ds, np.arange(ds.num_clips), 9, 2, smooth=specs)
    assert res["smooth"] == "none" and set(res["by_smooth"]) == {"none", "butterworth:cutoff_hz=3,order=4"}
    assert res["flip_tta"] == res["by_smooth"]["none"]["flip_tta"]
    plain = evaluate(model, ds, np.arange(ds.num_clips), 9, 2)
    assert "by_smooth" not in plain and plain["flip_tta"] == res["flip_tta"]
    smoothed = res["by_smooth"]["butterworth:cutoff_hz=3,order=4"]["flip_tta"]["overall"]
    assert smoothed["accel"] < plain["flip_tta"]["overall"]["accel"]




def test_evaluate_pools_camera_draws_as_runs_with_consecutive_seeds():
    import torch
    from sasmamba_models import SasMambaLifter, preset

    from sasmamba_cli.mocap.dataset import from_clips
    from sasmamba_cli.training.evaluate import evaluate

    ds = _tiny_dataset(from_clips)
    torch.manual_seed(0)
    model = SasMambaLifter(preset("tiny", max_frames=9)).eval()
    clips = np.arange(ds.num_clips)
    both = evaluate(model, ds, clips, 9, 2, seed=3, cameras=2)
    one = [evaluate(model, ds, clips, 9, 2, seed=s)["flip_tta"]["overall"]["p_mpjpe"] for s in (3, 4)]
    draws = both["draws"]["flip_tta"]["overall"]["p_mpjpe"]
    np.testing.assert_allclose(draws, one, rtol=1e-5)
    assert abs(draws[0] - draws[1]) > 1e-3                       # the second camera is another camera
    np.testing.assert_allclose(both["flip_tta"]["overall"]["p_mpjpe"], np.mean(one), rtol=1e-5)
    assert both["clips"] == ds.num_clips and both["cameras"] == 2
    with pytest.raises(ValueError, match="cameras >= 1"):
        evaluate(model, ds, clips, 9, 2, cameras=0)


def test_evaluate_on_cpu_respects_the_models_batch_limit_and_scores_the_same():
    """``evaluate`` caps windows per CPU forward pass (mirrored copies included) by the model's
    ``cpu_batch_limit()``; the metrics do not depend on the batching."""
    import torch
    from sasmamba_models import SasMambaLifter, preset

    from sasmamba_cli.mocap.dataset import from_clips
    from sasmamba_cli.training.evaluate import evaluate

    ds = _tiny_dataset(from_clips)
    torch.manual_seed(0)
    model = SasMambaLifter(preset("tiny", max_frames=9)).eval()
    sizes = []
    hook = model.register_forward_pre_hook(lambda m, args: sizes.append(args[0].shape[0]))
    free = evaluate(model, ds, np.arange(ds.num_clips), 9, 2)
    assert max(sizes) > 4
    sizes.clear()
    model.cpu_batch_limit = lambda: 4                      # 2 windows + their 2 mirrored copies per pass
    capped = evaluate(model, ds, np.arange(ds.num_clips), 9, 2)
    hook.remove()
    assert max(sizes) == 4 and all(s % 2 == 0 for s in sizes)
    for mode in ("no_tta", "flip_tta"):
        for k, v in free[mode]["overall"].items():
            assert abs(capped[mode]["overall"][k] - v) < 1e-4, (mode, k)
