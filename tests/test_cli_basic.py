"""Root CLI: --help/--version stay light (no torch/GPU modules), info and bench work."""
import json
import subprocess
import sys

from typer.testing import CliRunner

from sasmamba_cli import __version__
from sasmamba_cli.cli import app

runner = CliRunner()


def test_help_does_not_import_heavy_or_gpu_modules():
    code = ("import sys; from sasmamba_cli.cli import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
            "bad = [m for m in ('torch', 'mamba_ssm', 'selective_scan_cuda', 'causal_conv1d', 'cv2', "
            "'ultralytics', 'matplotlib') if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at --help: {out.stdout}"


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and __version__ in r.output


def test_info_json():
    r = runner.invoke(app, ["info", "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert "sequential" in info["scan_backends"]["cpu"] and "ref" in info["scan_backends"]["cpu"]
    assert info["presets"]["s"]["params"] == 951351
    assert "grid_sample" in info["deform_impls"]


def test_bench_json_small():
    r = runner.invoke(app, ["bench", "--preset", "tiny", "--frames", "9", "--repeats", "1", "--json",
                            "--backend", "sequential", "--backend", "ref"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert {(x["backend"], x["flip_tta"]) for x in rows} == {("sequential", False), ("sequential", True),
                                                            ("ref", False), ("ref", True)}
    assert all(x["frames_per_s"] > 0 for x in rows)
