"""The 2D error model: the fit recovers what the sampler was given, in the body frame, and the
bundled table drives training's virtual capture."""
import numpy as np
import pytest

from sasmamba_cli.training.error_model import (GROUPS, QUANTILES, fit_error_model, load_error_model,
                                               sample_detections)
from sasmamba_cli.training.virtual import VirtualConfig, virtual_capture

# an upright person, COCO-17 pixels (torso ~ 200 px)
_TEMPLATE = np.array([[500, 200], [490, 190], [510, 190], [480, 195], [520, 195], [450, 260], [550, 260],
                      [430, 350], [570, 350], [420, 440], [580, 440], [470, 460], [530, 460], [465, 580],
                      [535, 580], [460, 700], [540, 700]], np.float64)


def _clean(T=3000, seed=0):
    """A person walking across the frame and swinging the arms and legs, ``(T, 17, 2)`` px."""
    t = np.arange(T)[:, None]
    kp = np.repeat(_TEMPLATE[None], T, 0)
    swing = 40 * np.sin(2 * np.pi * t / 45.0)
    kp[:, [9, 15], 0] += swing
    kp[:, [10, 16], 0] -= swing
    kp[..., 0] += 100 * np.sin(2 * np.pi * t / 600.0)
    return kp


def _model():
    """A table with known values (the fitted-table layout)."""
    ng = len(GROUPS)
    spread = np.full((17, 2), 0.04)
    spread[[9, 10]] = 0.08
    bias = np.zeros((17, 2))
    bias[[11, 12], 1] = 0.06                                   # hips reported high
    inlier_q = {g: np.interp(QUANTILES, [0, 1], [0.5, 1.0]).tolist() for g in GROUPS}
    return {"format": "sasmamba-2d-error-model", "fps": 30.0, "bias": bias.tolist(), "spread": spread.tolist(),
            "white": (0.4 * spread).tolist(), "rho": 0.7,
            "outlier": {"fast_speed": 1e9, "rate_slow": [0.02] * ng, "rate_fast": [0.02] * ng,
                        "z_quantiles": np.linspace(8, 20, len(QUANTILES)).tolist(), "mean_len": 2.0},
            "missing": {"rate": [0.3] + [0.05] * (ng - 1), "mean_len": 4.0},
            "swap": {"pairs": {"wrist": [9, 10]}, "rate": [0.0], "mean_len": 1.0},
            "conf": {"inlier": inlier_q, "outlier": np.linspace(0.1, 0.4, len(QUANTILES)).tolist(),
                     "rank_corr": -0.5, "threshold": 0.1}}


def _fit_one(kp, rng, model):
    det = sample_detections(kp, rng, model)
    det = np.where(det[..., 2:] > 0, det, np.nan)
    return fit_error_model([(det, kp, 30.0)])


def test_fit_recovers_the_sampled_table():
    rng = np.random.default_rng(0)
    kp = _clean()
    m = _model()
    fit = _fit_one(kp, rng, m)
    np.testing.assert_allclose(fit["spread"], m["spread"], rtol=0.12)
    np.testing.assert_allclose(np.abs(fit["bias"]), np.abs(m["bias"]), atol=0.012)
    assert abs(fit["rho"] - 0.7) < 0.06
    np.testing.assert_allclose(fit["white"], m["white"], rtol=0.2)     # 16 % of the variance is white
    miss = fit["missing"]["counts"]
    assert abs(miss[0][0] / miss[1][0] - 0.3) < 0.05                     # face
    assert abs(sum(miss[0][1:]) / sum(miss[1][1:]) - 0.05) < 0.015       # the rest
    k, n = fit["outlier"]["counts_slow"]
    assert abs(sum(k) / sum(n) - 0.02) < 0.008
    assert np.median(fit["conf"]["inlier"]["knee"]) == pytest.approx(0.75, abs=0.04)
    assert fit["conf"]["outlier"][10] == pytest.approx(0.25, abs=0.05)
    assert fit["conf"]["rank_corr"] < -0.3                               # worse joints, lower scores


def test_errors_follow_the_body_not_the_image():
    """A person lying on the side (the clean 2D turned 90 degrees): the same table fits."""
    m = _model()
    kp = _clean()
    c = kp.reshape(-1, 2).mean(0)
    turned = (kp - c) @ np.array([[0.0, -1.0], [1.0, 0.0]]).T + c
    fit = _fit_one(turned, np.random.default_rng(1), m)
    np.testing.assert_allclose(fit["spread"], m["spread"], rtol=0.12)
    assert abs(fit["bias"][11][1]) == pytest.approx(0.06, abs=0.012)    # still along the body's up axis
    assert abs(fit["bias"][11][0]) < 0.012


def test_fit_refuses_too_little_data():
    kp = _clean(T=10)
    det = np.concatenate([kp, np.ones(kp.shape[:2] + (1,))], -1)
    with pytest.raises(ValueError, match="at least 20 per joint"):
        fit_error_model([(det, kp, 30.0)])


def test_bundled_table_drives_virtual_capture():
    m = load_error_model("yolo11n-pose")
    assert m["format"] == "sasmamba-2d-error-model" and len(m["spread"]) == 17
    with pytest.raises(ValueError, match="expected one of"):
        load_error_model("no-such-detector")
    rng = np.random.default_rng(0)
    T = 243
    h36m = np.zeros((T, 17, 3))
    coco = np.zeros((T, 17, 3))
    # a standing pose in mm (Y up): H36M from the COCO template, mirrored into 3D
    from sasmamba_cli.skeleton import coco_to_h36m
    xy = (_TEMPLATE - [500, 700]) * np.array([1.0, -1.0]) * 8.0   # px -> mm, feet at 0
    coco[..., :2] = xy
    coco[..., 2] = 3.0 * np.arange(17)                            # a little depth
    h36m[:] = coco_to_h36m(np.concatenate([coco[0], np.ones((17, 1))], -1)[None])[0, :, :3]
    s = virtual_capture(h36m, coco, rng, VirtualConfig(error_model="yolo11n-pose"))
    conf = s.coco2d_px[..., 2]
    assert s.kp2d_px.shape == (T, 17, 3)
    assert np.all((conf == 0) | (conf >= 1e-3)) and conf.max() <= 1.0
    assert np.all(s.coco2d_px[conf == 0][:, :2] == 0)              # missing joints are zeros
    assert np.median(conf[:, 11:13]) > 0.9                        # the real detector is sure of the hips
    # the hand-set model is still the default and gives lower scores
    s0 = virtual_capture(h36m, coco, np.random.default_rng(0), VirtualConfig())
    assert np.median(s0.coco2d_px[:, 11:13, 2]) < np.median(conf[:, 11:13])


def test_runs_do_not_cross_sequences():
    from sasmamba_cli.training.error_model import _runs

    m = np.array([0, 1, 1, 1, 1, 0, 1], bool)[:, None]       # sequences of 3 and 4 frames: 1 1 | 1 1 0 1
    assert sorted(_runs(m)) == [1, 4]
    assert sorted(_runs(m, [3, 4])) == [1, 2, 2]
