"""Shared helpers of the fault-injection tests (tests/test_faults.py, tests/test_ray_engine.py):
small keypoint clips, ``sasmamba lift`` in a subprocess with a fault hook, and the checks that a
fault left no partial output and that a rerun gives an uninterrupted run's outputs."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

#: runs the ``sasmamba`` CLI after executing the Python code in SASMAMBA_TEST_HOOK (the fault:
#: a patched writer that blocks, kills the process, ...), as a user's terminal runs it: SIGINT's
#: default action is restored first. A test run started in the background by a non-interactive
#: shell (``pytest &``, nohup) ignores SIGINT, children inherit that, and Python then never raises
#: KeyboardInterrupt, so a Ctrl-C test could not interrupt anything.
WRAPPER = ("import os, signal, sys\n"
           "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
           "hook = os.environ.get('SASMAMBA_TEST_HOOK')\n"
           "if hook:\n    exec(hook)\n"
           "from sasmamba_cli.cli import main\n"
           "sys.argv = ['sasmamba', *sys.argv[1:]]\n"
           "main()\n")

LIFT_FAST = ["--weights", "sasmamba_xs", "--device", "cpu", "-q"]


def keypoint_clip(path: Path, seed: int = 0, frames: int = 40, dx: float = 0.0) -> Path:
    """A one-person COCO keypoint file (640x480, 30 fps) that lifts in well under a second."""
    rng = np.random.default_rng(seed)
    anns = []
    for f in range(frames):
        kp = [[300 + dx + 30 * np.sin(0.2 * f + j) + rng.normal(0, 1), 60 + 20 * j, 0.9] for j in range(17)]
        anns.append({"image_id": f, "track_id": 0, "keypoints": [v for p in kp for v in p]})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"width": 640, "height": 480, "fps": 30, "annotations": anns}))
    return path


def lift_env(tmp_path: Path, hook: str | None = None, **extra: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "YOLO_CONFIG_DIR": str(tmp_path / "yolo"), **extra}
    env.pop("SASMAMBA_TEST_HOOK", None)
    if hook:
        env["SASMAMBA_TEST_HOOK"] = hook
    return env


def lift_cmd(*args) -> list[str]:
    return [sys.executable, "-c", WRAPPER, "lift", *map(str, args)]


def run_lift(tmp_path: Path, *args, hook: str | None = None, timeout: float = 180, **extra: str):
    """``sasmamba lift ARGS`` in a subprocess (with an optional fault hook); the CompletedProcess."""
    return subprocess.run(lift_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env=lift_env(tmp_path, hook, **extra))


def wait_for(cond, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    """Poll ``cond()`` until true; fail naming ``what`` (and the process's output if it ended)."""
    end = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the lift ended (exit {proc.returncode}) before {what}: {err[-3000:]}")
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def temporaries(out: Path) -> list[str]:
    """Temporaries of an atomic write left in ``out`` (``.NAME.XXXX.tmp`` and the BVH writer's)."""
    return sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp") or ".tmp." in p.name)


def visible(out: Path) -> set[str]:
    return {p.name for p in out.iterdir() if not p.name.startswith(".")}


def assert_no_partial_sets(out: Path, stems: list[str]) -> dict[str, bool]:
    """Every clip in ``out`` either has its JSON and every output the JSON lists, or nothing at all
    under its own name; no temporaries. Returns stem -> complete."""
    assert not temporaries(out), temporaries(out)
    done = {}
    names = visible(out)
    for stem in stems:
        mine = {n for n in names if n.startswith(stem + ".") or n.startswith(stem + "_")}
        if f"{stem}.json" in mine:
            listed = set(json.loads((out / f"{stem}.json").read_text())["run"]["outputs"])
            assert mine == listed, (stem, sorted(mine), sorted(listed))
            done[stem] = True
        else:
            assert not mine, f"half a set of {stem} left: {sorted(mine)}"
            done[stem] = False
    return done


def summary_status(out: Path) -> dict[str, str]:
    """clip file name -> status, from ``summary.csv``."""
    with (out / "summary.csv").open() as f:
        return {Path(row["clip"]).name: row["status"] for row in csv.DictReader(f)}


def assert_same_outputs(out: Path, ref: Path, stem: str) -> None:
    """``stem``'s outputs in ``out`` equal those of an uninterrupted run in ``ref``: CSV bytes, every
    NPZ array, the JSON's tracks (the headers differ only by time stamps and timings)."""
    assert (out / f"{stem}.csv").read_bytes() == (ref / f"{stem}.csv").read_bytes()
    za, zb = np.load(out / f"{stem}.npz"), np.load(ref / f"{stem}.npz")
    assert sorted(za.files) == sorted(zb.files)
    for k in za.files:
        if k != "header":                           # the header holds 'created' and timings
            np.testing.assert_array_equal(za[k], zb[k], err_msg=k)
    a, b = (json.loads((d / f"{stem}.json").read_text()) for d in (out, ref))
    assert a["tracks"] == b["tracks"]


def processes_with_env(marker: str) -> list[tuple[int, str]]:
    """(pid, command line) of every process whose environment holds ``marker`` (``KEY=VALUE``):
    what is left of one run's process tree (a Ray instance's raylet, GCS and workers inherit the
    driver's environment)."""
    found = []
    needle = marker.encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if needle in (d / "environ").read_bytes().split(b"\0"):
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append((int(d.name), cmd[:200]))
        except OSError:
            continue
    return found
