"""Optional: Blender's own BVH importer (headless) is the reference consumer.

Runs only with ``-m blender`` style selection when a ``blender`` executable is on PATH (Debian:
``apt-get install blender``); skipped otherwise. Checks bone count, frame count, frame rate and the
pose of one frame against sasmamba's forward kinematics.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import textwrap

import numpy as np
import pytest

from sasmamba_cli.export.bvh import export_result_bvh
from sasmamba_cli.export.synthetic import synthetic_result
from sasmamba_cli.export.bvh_read import forward_kinematics, read_bvh

pytestmark = [pytest.mark.blender,
              pytest.mark.skipif(shutil.which("blender") is None, reason="blender is not installed")]

SCRIPT = textwrap.dedent("""
    import builtins, json, sys
    import bpy
    _open = builtins.open
    def _open_no_u(file, mode="r", *a, **k):   # Blender 3.4's importer uses 'rU' (Python 3.11 rejects it)
        return _open(file, mode.replace("U", ""), *a, **k)
    builtins.open = _open_no_u
    bvh, out, frame = sys.argv[sys.argv.index("--") + 1:]
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    bpy.ops.import_anim.bvh(filepath=bvh, update_scene_fps=True, update_scene_duration=True)
    builtins.open = _open
    arm = [o for o in bpy.data.objects if o.type == "ARMATURE"][0]
    scene = bpy.context.scene
    scene.frame_set(scene.frame_start + int(frame))
    heads = {b.name: list(arm.matrix_world @ b.head) for b in arm.pose.bones}
    action = arm.animation_data.action          # the importer only ever extends the scene range
    keys = {len(fc.keyframe_points) for fc in action.fcurves}
    with open(out, "w") as f:
        json.dump({"bones": len(arm.data.bones), "fps": scene.render.fps / scene.render.fps_base,
                   "keys_per_curve": sorted(keys), "frame_range": list(action.frame_range),
                   "heads": heads}, f)
""")


def test_blender_imports_bvh(tmp_path):
    res = synthetic_result(40, 1, seed=2, fps=25.0, anatomical=True)
    (path,) = export_result_bvh(res, tmp_path)
    script = tmp_path / "probe.py"
    script.write_text(SCRIPT)
    out = tmp_path / "probe.json"
    frame = 17
    proc = subprocess.run(["blender", "--background", "--factory-startup", "--python", str(script),
                           "--", str(path), str(out), str(frame)],
                          capture_output=True, text=True, timeout=300)
    assert out.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    got = json.loads(out.read_text())
    assert got["bones"] == 17
    assert got["keys_per_curve"] == [40] and got["frame_range"] == [1.0, 40.0]
    assert got["fps"] == pytest.approx(25.0)
    m = read_bvh(path)
    fk = forward_kinematics(m)[frame]                                    # BVH axes, cm, Y up
    for name, head in got["heads"].items():
        x, y, z = fk[m.index(name)]
        # Blender's default import (forward -Z, up Y) maps BVH (x, y, z) to Blender (x, -z, y)
        np.testing.assert_allclose(head, [x, -z, y], atol=0.05, err_msg=name)
