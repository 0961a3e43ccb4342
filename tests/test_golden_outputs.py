"""Outputs stay byte-identical: ``sasmamba lift`` of stored inputs against digests recorded before
the renovation (issue 14) with the code as it was then.

* ``test_keypoints_relift_is_byte_identical`` (default suite, a few seconds): ``--keypoints`` re-lift
  of ``tests/data/golden/demo_2d.json`` (the demo clip's detected 2D, both people, 100 frames at
  60 fps) with the shipped default weights, every format (JSON, NPZ, CSV, BVH, so the
  FK-consistent stage and the BVH writer run too).
* ``test_demo_video_is_byte_identical`` (slow, ~25 s): the README's demo command on
  ``assets/demo/cam01.mp4`` (detector included).

What is compared: the sha256 of every output file, raw for CSV and BVH. In the JSON (and in the
NPZ's ``header`` string, which is the same header) exactly these fields are replaced by ``"*"``
before hashing, because they describe the run, not the result:

* ``created``: the wall-clock time of the run;
* ``run.timings_s``: seconds per stage;
* ``source.path``: where the input lies (a temporary folder in the tests);
* ``source.fingerprint.mtime_ns``: the input's modification time (set by the checkout);
* ``model.weights`` / ``detector.weights``: absolute paths of the installed weight files.

Everything else (numbers, key order, separators, hashes of weights) must match to the byte. An NPZ
is compared array by array (name, dtype, shape, bytes): the zip container stores the time of
writing. Both runs use ``--device cpu`` and one lift thread, so the float sums do not depend on
the machine's core count; the digests are those of this project's reference machine (x86-64,
torch CPU build); another CPU family may round differently.

To record new digests after an intended change of the outputs:
``python tests/test_golden_outputs.py --write`` (say why in the commit).
"""
from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden"
DIGESTS = GOLDEN / "digests.json"
KEYPOINTS = GOLDEN / "demo_2d.json"
DEMO = ROOT / "assets" / "demo" / "cam01.mp4"
FORMATS = "json,npz,csv,bvh"

# (path in the result header, why it varies)
VOLATILE = [(("created",), "wall-clock time"), (("run", "timings_s"), "seconds per stage"),
            (("source", "path"), "input location"), (("source", "fingerprint", "mtime_ns"), "input mtime"),
            (("model", "weights"), "install path"), (("detector", "weights"), "install path")]


def _mask(text: str, header: dict, separators: tuple[str, str]) -> str:
    """``text`` (a JSON serialisation of ``header``) with each volatile value replaced by "*"."""
    for path, _why in VOLATILE:
        node = header
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict) or path[-1] not in node:
            continue
        old = json.dumps(path[-1]) + separators[1] + json.dumps(node[path[-1]], separators=separators)
        new = json.dumps(path[-1]) + separators[1] + '"*"'
        assert old in text, f"volatile field {'.'.join(path)} not found as serialised"
        text = text.replace(old, new, 1)
    return text


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digests(out_dir: Path) -> dict[str, str]:
    """File name -> sha256 of every output in ``out_dir`` (volatile JSON fields masked)."""
    out = {}
    for p in sorted(out_dir.iterdir()):
        if p.name == "summary.csv":                     # seconds per clip: a run report, not a result
            continue
        if p.suffix == ".json":
            text = p.read_text(encoding="utf-8")
            out[p.name] = _sha(_mask(text, json.loads(text), (",", ":")).encode())
        elif p.suffix == ".npz":
            h = hashlib.sha256()
            with np.load(io.BytesIO(p.read_bytes())) as z:
                for name in sorted(z.files):
                    a = z[name]
                    if name == "header":
                        a = np.array(_mask(str(a), json.loads(str(a)), (", ", ": ")))
                    h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
                    h.update(a.tobytes())
            out[p.name] = h.hexdigest()
        else:
            out[p.name] = _sha(p.read_bytes())
    return out


def lift(args: list[str], out_dir: Path) -> dict[str, str]:
    """Run ``sasmamba lift ARGS --out OUT_DIR --format json,npz,csv,bvh --device cpu`` in this
    process with one lift thread; return :func:`digests` of what it wrote."""
    import typer
    from typer.testing import CliRunner

    from sasmamba_cli.commands import lift as lift_cmd
    from sasmamba_cli.pipeline import run as run_mod

    app = typer.Typer()
    lift_cmd.register(app)

    @app.callback()
    def _root():
        """golden outputs"""

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run_mod, "cpu_lift_threads", lambda *a, **k: 1)
        r = CliRunner().invoke(app, ["lift", *args, "--out", str(out_dir), "--format", FORMATS,
                                     "--device", "cpu", "--quiet"])
    assert r.exit_code == 0, r.output
    return digests(out_dir)


def _golden(name: str) -> dict[str, str]:
    return json.loads(DIGESTS.read_text())[name]


def test_volatile_fields_are_exactly_the_run_fields(tmp_path):
    """The masked fields are the only ones that differ between two runs of different inputs' paths
    and times: two re-lifts from two folders give the same digests."""
    import shutil

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(KEYPOINTS, a / KEYPOINTS.name)
    shutil.copy(KEYPOINTS, b / KEYPOINTS.name)
    assert lift(["--keypoints", str(a / KEYPOINTS.name)], tmp_path / "out_a") == \
        lift(["--keypoints", str(b / KEYPOINTS.name)], tmp_path / "out_b")


def test_keypoints_relift_is_byte_identical(tmp_path):
    assert lift(["--keypoints", str(KEYPOINTS)], tmp_path) == _golden("keypoints_relift")


@pytest.mark.slow
def test_demo_video_is_byte_identical(tmp_path):
    assert lift([str(DEMO)], tmp_path) == _golden("demo_video")


def _write(tmp: Path) -> None:
    doc = {"keypoints_relift": lift(["--keypoints", str(KEYPOINTS)], tmp / "k"),
           "demo_video": lift([str(DEMO)], tmp / "v")}
    DIGESTS.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_golden_outputs.py --write")
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        _write(Path(d))
