"""Layers point down: the lift path (commands.lift -> pipeline -> models) never imports the
training or mocap packages, not even while it lifts a clip."""
import json
import subprocess
import sys

CODE = r"""
import json, sys, tempfile
from pathlib import Path
import numpy as np
from sasmamba_cli.pipeline.batch import run_batch
from sasmamba_cli.pipeline.run import LiftPipeline, LiftSettings
import sasmamba_cli.commands.lift
d = Path(tempfile.mkdtemp())
anns = [{"image_id": f, "track_id": 0, "keypoints": [v for j in range(17) for v in (300 + 5 * np.sin(f + j), 60 + 20 * j, 0.9)]}
        for f in range(40)]
(d / "k.json").write_text(json.dumps({"width": 640, "height": 480, "fps": 30, "annotations": anns}))
rows = run_batch(LiftPipeline(LiftSettings(weights="sasmamba_xs", formats=("json", "npz", "csv"))), [d / "k.json"],
                 d / "out", keypoints_mode=True)
assert rows[0].status == "ok", rows[0].message
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("sasmamba_cli.training", "sasmamba_cli.mocap")))))
"""


def test_lift_path_never_loads_training_or_mocap():
    p = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads(p.stdout.strip().splitlines()[-1]) == []
