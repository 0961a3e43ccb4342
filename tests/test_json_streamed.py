"""The streamed JSON writer gives the same bytes as the one-shot writer (memory flat in length)."""
import numpy as np
import pytest

from sasmamba_cli.pipeline.result import ClipResult, TrackResult, write_json, write_json_streamed


def _track(tid, n, rng, masks=True):
    kp = rng.normal(300, 50, (n, 17, 3))
    kp[..., 2] = rng.uniform(0, 1, (n, 17))
    kp[rng.random((n, 17)) < 0.1, :2] = np.nan
    j3 = rng.normal(0, 0.3, (n, 17, 3))
    j3[n // 2, 4] = np.nan
    m = rng.random((n, 17)) < 0.05 if masks else None
    return TrackResult(tid, np.arange(10, 10 + n), kp, kp.copy(), rng.uniform(0, 500, (n, 4)), j3,
                       rng.normal(0, 2, (n, 3)), kp[..., 2].copy(), rng.random(n) < 0.1, 1.2345678,
                       m, None if m is None else m.copy())


@pytest.mark.parametrize("chunk", [1, 7, 2000])
def test_streamed_json_is_byte_identical(tmp_path, chunk, monkeypatch):
    import sasmamba_cli.pipeline.result as res

    rng = np.random.default_rng(0)
    r = ClipResult({"schema": "sasmamba-result", "schema_version": 1, "source": {"fps": 30.0, "name": "é"},
                    "run": {"outputs": ["a.json"]}},
                   [_track(0, 53, rng), _track(3, 1, rng, masks=False), _track(5, 20, rng)])
    monkeypatch.setattr(res, "JSON_CHUNK_FRAMES", chunk)
    a = write_json(r, tmp_path / "a.json").read_bytes()
    b = write_json_streamed(r, tmp_path / "b.json").read_bytes()
    assert a == b
    empty = ClipResult({"schema": "sasmamba-result"}, [])
    assert write_json(empty, tmp_path / "c.json").read_bytes() == write_json_streamed(empty, tmp_path / "d.json").read_bytes()
