"""The optional BlazePose backend (--detector mediapipe): crops, landmark mapping, a clear error
without mediapipe, and (slow, when mediapipe is installed) a real run on the demo clip."""
import sys
from pathlib import Path

import numpy as np
import pytest

from sasmamba_cli.errors import SasmambaError
from sasmamba_cli.pipeline.blazepose import COCO_FROM_BLAZEPOSE, load_blazepose
from sasmamba_cli.pipeline.crops import cut, square_crop
from sasmamba_cli.skeleton import COCO

ROOT = Path(__file__).resolve().parents[1]


def test_landmark_table_names_match_coco():
    blazepose = {0: "nose", 2: "l_eye", 5: "r_eye", 7: "l_ear", 8: "r_ear", 11: "l_shoulder", 12: "r_shoulder",
                 13: "l_elbow", 14: "r_elbow", 15: "l_wrist", 16: "r_wrist", 23: "l_hip", 24: "r_hip",
                 25: "l_knee", 26: "r_knee", 27: "l_ankle", 28: "r_ankle"}
    assert [blazepose[i] for i in COCO_FROM_BLAZEPOSE] == list(COCO.names)


def test_square_crop_and_padding():
    x0, y0, side = square_crop(np.array([10, 20, 50, 100]), margin=1.25)
    assert side == 100 and (x0, y0) == (-20, 10)
    frame = np.arange(480 * 640 * 3, dtype=np.uint8).reshape(480, 640, 3)
    c = cut(frame, x0, y0, side)
    assert c.shape == (100, 100, 3)
    assert (c[:, :20] == 0).all()                                  # left of the image: padding
    np.testing.assert_array_equal(c[0, 20], frame[10, 0])


def test_clear_error_without_mediapipe(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)            # import mediapipe -> ImportError
    with pytest.raises(SasmambaError, match="pip install --no-deps mediapipe==0.10.18"):
        load_blazepose()


@pytest.mark.slow
def test_blazepose_backend_on_the_demo(tmp_path, monkeypatch):
    pytest.importorskip("mediapipe")
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "yolo"))
    from sasmamba_cli.pipeline.run import LiftPipeline, LiftSettings

    p = LiftPipeline(LiftSettings(detector="mediapipe", max_frames=45, device="cpu"))
    r = p.run_video(ROOT / "assets" / "demo" / "cam01.mp4")
    assert r.header["detector"]["backend"] == "mediapipe"
    assert r.header["detector"]["boxes_refined"] > 0
    conf = np.concatenate([t.keypoints_2d_coco_px[..., 2].ravel() for t in r.tracks])
    assert set(np.unique(conf)) <= {0.0, 1.0}                      # visibility is never a confidence
