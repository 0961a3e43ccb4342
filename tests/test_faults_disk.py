"""Disk full while writing a clip: a clear message, exit code 4 (OutputError), and no output of the
failed clip left in --out; the next clip and a rerun are unaffected."""
import errno
import json

import numpy as np
import pytest

from sasmamba_cli.errors import OutputError


def _keypoint_file(path, frames=40, dx=0.0):
    rng = np.random.default_rng(0)
    anns = []
    for f in range(frames):
        kp = [[300 + dx + 12 * np.sin(j) + rng.normal(0, 1), 80 + 18 * j, 0.9] for j in range(17)]
        anns.append({"image_id": f, "track_id": 0, "keypoints": [v for p in kp for v in p]})
    path.write_text(json.dumps({"width": 640, "height": 480, "fps": 30, "annotations": anns}))
    return path


@pytest.fixture(scope="module")
def pipeline():
    from sasmamba_cli.pipeline.run import LiftPipeline, LiftSettings

    return LiftPipeline(LiftSettings(formats=("json", "npz", "csv"), device="cpu", weights="sasmamba_xs"))


def test_disk_full_leaves_nothing_of_the_clip(tmp_path, monkeypatch, pipeline):
    import sasmamba_cli.batch as batch

    a, b = _keypoint_file(tmp_path / "a.json"), _keypoint_file(tmp_path / "b.json", dx=20)
    out = tmp_path / "out"
    real = batch.write_json_streamed
    calls = []

    def full(r, path, header=None):
        calls.append(path)
        if path.name == "a.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(r, path, header)

    monkeypatch.setattr(batch, "write_json_streamed", full)
    rows = batch.run_batch(pipeline, [a, b], out, keypoints_mode=True)
    assert [r.status for r in rows] == ["failed", "ok"]
    assert rows[0].exit_code == OutputError.exit_code == 4
    assert "disk full" in rows[0].message and "MB free" in rows[0].message
    left = sorted(p.name for p in out.iterdir())
    assert not any(n.startswith("a.") or n.startswith(".a.") for n in left), left   # no npz/csv of a
    assert {"b.json", "b.npz", "b.csv"} <= set(left)
    monkeypatch.setattr(batch, "write_json_streamed", real)
    rows = batch.run_batch(pipeline, [a, b], out, keypoints_mode=True)                 # rerun: resume
    assert [r.status for r in rows] == ["ok", "skipped"]
