"""kill -9 in the middle of writing a clip's outputs: nothing partial is taken as done, and the rerun
gives the complete outputs, identical to an uninterrupted run's."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import sasmamba_cli.batch as batch
    import sasmamba_cli.atomic as atomic
    where = sys.argv[3]
    if where == "rename":        # killed between writing a temporary and renaming it into place
        real_replace = os.replace
        def replace(src, dst):
            if str(dst).endswith(".csv"):
                os.kill(os.getpid(), signal.SIGKILL)
            return real_replace(src, dst)
        atomic.os.replace = replace
    elif where == "json":        # killed after the npz and csv, before the JSON that marks the clip done
        def killer(*a, **k):
            os.kill(os.getpid(), signal.SIGKILL)
        batch.write_json_streamed = killer
    from sasmamba_cli.pipeline.run import LiftPipeline, LiftSettings
    p = LiftPipeline(LiftSettings(weights="sasmamba_xs", formats=("json", "npz", "csv"), device="cpu"))
    rows = batch.run_batch(p, [Path(sys.argv[1])], Path(sys.argv[2]), keypoints_mode=True)
    print(rows[0].status)
""")


def _clip(path):
    rng = np.random.default_rng(5)
    anns = [{"image_id": f, "track_id": 0,
             "keypoints": [v for j in range(17) for v in (300 + 30 * np.sin(0.2 * f + j) + rng.normal(0, 1),
                                                           60 + 20 * j, 0.9)]} for f in range(40)]
    path.write_text(json.dumps({"width": 640, "height": 480, "fps": 30, "annotations": anns}))
    return path


def _run(tmp_path, clip, out, where):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    return subprocess.run([sys.executable, str(script), str(clip), str(out), where], capture_output=True,
                          text=True, timeout=180, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.parametrize("where", ["rename", "json"])
def test_sigkill_mid_write_then_rerun(tmp_path, where):
    clip = _clip(tmp_path / "a.json")
    ref = _run(tmp_path, clip, tmp_path / "ref", "none")
    assert ref.returncode == 0 and ref.stdout.strip() == "ok", ref.stderr[-2000:]
    out = tmp_path / "out"
    killed = _run(tmp_path, clip, out, where)
    assert killed.returncode == -9                                   # really killed mid-clip
    assert not (out / "a.json").exists()                             # the clip is not marked done
    visible = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    assert visible <= {"a.npz", "a.csv"}                             # complete files or none, never partial
    again = _run(tmp_path, clip, out, "none")
    assert again.returncode == 0 and again.stdout.strip() == "ok"    # redone, not skipped
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp") or ".tmp." in p.name]   # temporaries removed
    for name in ("a.npz", "a.csv"):
        if name.endswith(".csv"):
            assert (out / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()
        else:
            za, zb = np.load(out / name), np.load(tmp_path / "ref" / name)
            for k in za.files:
                if k != "header":                   # the header holds 'created' and timings
                    np.testing.assert_array_equal(za[k], zb[k], err_msg=k)
    a, b = (json.loads((d / "a.json").read_text()) for d in (out, tmp_path / "ref"))
    assert a["tracks"] == b["tracks"]
