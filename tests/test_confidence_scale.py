"""The lift does not depend on the exact scale of the detector's confidences, and a keypoint
file's scores are mapped by the table in sasmamba_cli/data/keypoint_scores.json."""
import json

import numpy as np
import pytest

from sasmamba_cli.errors import InputError
from sasmamba_cli.export.synthetic import synthetic_result
from sasmamba_cli.pipeline.scores import map_scores, score_names, score_table

# Stated bound: mean joint displacement (mm, lifter output in metres) between raw scores and their
# square root. Measured on realval's YOLO11n 2D (docs/results.md, 'Confidences'): 0.9-1.7 mm with the
# default lifter, 1.1-5.5 mm with sasmamba_s81.
BOUND_MM = 10.0


def _track(seed=0):
    r = synthetic_result(n_frames=90, seed=seed, anatomical=True)
    kp = np.array(r.tracks[0].keypoints_2d_px, dtype=np.float64)
    rng = np.random.default_rng(seed)
    kp[..., 2] = rng.beta(5, 1.5, kp.shape[:2]).clip(0.5, 1.0)      # YOLO-like: mostly high, kept >= 0.5
    return kp, r.source.width, r.source.height


@pytest.mark.parametrize("remap", [np.sqrt])
def test_lift_moves_little_when_scores_are_rescaled(remap):
    from sasmamba_cli.pipeline.lifting import LiftOptions, lift_sequences, load_lifter

    lifter = load_lifter(None, "cpu")
    for seed in (0,):
        kp, w, h = _track(seed)
        other = kp.copy()
        other[..., 2] = remap(kp[..., 2])
        a, b = (lift_sequences(lifter, [x], w, h, 30.0, LiftOptions())[0] for x in (kp, other))
        moved = float(np.linalg.norm(a - b, axis=-1).mean() * 1000)
        assert moved < BOUND_MM, f"joints moved {moved:.1f} mm when the scores were remapped"
        assert moved > 0.0                     # the confidence is an input: it does change something


def test_score_table_maps():
    s = np.array([[0.04, 0.9, 0.0, np.nan]])
    np.testing.assert_allclose(map_scores(s, "raw"), [[0.04, 0.9, 0.0, 0.0]])
    np.testing.assert_allclose(map_scores(s, "blazepose-visibility"), [[1.0, 1.0, 0.0, 0.0]])
    assert set(score_names()) == set(score_table()["maps"])
    with pytest.raises(InputError, match="expected one of"):
        map_scores(s, "nope")


def test_keypoint_file_scores_option(tmp_path):
    from sasmamba_cli.pipeline.keypoints_io import read_keypoints

    kp = [[100 + 5 * j, 100 + 10 * j, 0.04 if j == 10 else 0.9] for j in range(17)]
    anns = [{"image_id": f, "track_id": 0, "keypoints": [v for p in kp for v in p]} for f in range(5)]
    p = tmp_path / "k.json"
    p.write_text(json.dumps({"width": 640, "height": 480, "fps": 30, "annotations": anns}))
    raw = read_keypoints(p, kp_threshold=0.5)
    ones = read_keypoints(p, kp_threshold=0.5, scores="blazepose-visibility")
    first = lambda k: next(iter(k.detections.values())).keypoints_px[0]
    assert first(raw)[10, 2] == 0.0 and np.isnan(first(raw)[10, 0])      # dropped by the threshold
    assert first(ones)[10, 2] == 1.0 and first(ones)[10, 0] == 150.0      # kept with confidence 1


def test_default_keypoint_threshold_comes_from_the_backend_table():
    from sasmamba_cli.pipeline.run import LiftSettings
    from sasmamba_cli.pipeline.scores import default_kp_threshold

    table = score_table()
    assert LiftSettings().kp_threshold == table["maps"][table["backends"]["yolo"]]["kp_threshold"]
    assert default_kp_threshold(None, "mediapipe") == table["maps"]["blazepose-visibility"]["kp_threshold"]
    assert default_kp_threshold("ones") == table["maps"]["ones"]["kp_threshold"]
    for name, entry in table["maps"].items():                      # every entry states its threshold
        assert 0.0 <= entry["kp_threshold"] <= 1.0, name
    with pytest.raises(InputError, match="expected one of"):
        default_kp_threshold("nope")


def _file(tmp_path, third):
    kp = [[100 + 5 * j, 100 + 10 * j, third(j)] for j in range(17)]
    anns = [{"image_id": f, "track_id": 0, "keypoints": [v for p in kp for v in p]} for f in range(5)]
    p = tmp_path / "k.json"
    p.write_text(json.dumps({"width": 640, "height": 480, "fps": 30, "annotations": anns}))
    return p


def test_keypoint_file_scores_above_one_are_refused_or_read_as_coco_visibility(tmp_path):
    from sasmamba_cli.pipeline.keypoints_io import read_keypoints

    # percent-like scores: not confidences; refused with the way out
    with pytest.raises(InputError, match=r"85 keypoint scores above 1.2 \(up to 87; the first in frame 0\).*--scores ones"):
        read_keypoints(_file(tmp_path, lambda j: 87.0 if j else 40.0), kp_threshold=0.1)
    # ... unless the user says what they are
    ones = read_keypoints(_file(tmp_path, lambda j: 87.0 if j else 40.0), kp_threshold=0.1, scores="ones")
    assert ones.scores == "ones"
    # COCO visibility flags (2 visible, 1 hidden, 0 not labelled): labelled keypoints get confidence 1
    vis = read_keypoints(_file(tmp_path, lambda j: (2, 1, 0)[j % 3]), kp_threshold=0.1)
    kp = next(iter(vis.detections.values())).keypoints_px[0]
    assert vis.scores == "coco-visibility"
    np.testing.assert_array_equal(kp[:, 2], [(1.0, 1.0, 0.0)[j % 3] for j in range(17)])
    # 0..1 scores stay as they are
    raw = read_keypoints(_file(tmp_path, lambda j: 0.25 + 0.04 * j), kp_threshold=0.1)
    assert raw.scores == "raw"
    np.testing.assert_allclose(next(iter(raw.detections.values())).keypoints_px[0][:, 2], 0.25 + 0.04 * np.arange(17))


def test_keypoint_file_scores_a_little_above_one_are_clipped(tmp_path):
    """Heatmap-based detectors overshoot 1 a little: such scores are confidences, clipped to 1."""
    from sasmamba_cli.pipeline.keypoints_io import read_keypoints

    k = read_keypoints(_file(tmp_path, lambda j: 1.08 if j < 4 else 0.9), kp_threshold=0.1)
    conf = next(iter(k.detections.values())).keypoints_px[0][:, 2]
    assert k.scores == "raw" and k.scores_clipped == 4 * 5                  # 4 joints x 5 frames
    np.testing.assert_allclose(conf, [1.0] * 4 + [0.9] * 13)
