"""Peak memory of `sasmamba lift` on long inputs: is it flat in the video's length?

    python benchmarks/bench_memory.py [--minutes 1 10 30] [--weights sasmamba_xs] [--out results/bench_memory.md]
                                      [--note TEXT ...]

The demo clip's 2D (one lift of assets/demo/cam01.mp4, its result JSON) is looped, with a small
drift so no two loops are identical, into keypoint files of the given lengths at 30 fps; each is
lifted in a fresh process (`sasmamba lift --keypoints FILE --format json,npz,csv`) and the peak
resident set size of that process (ru_maxrss), the peak of each stage (``SASMAMBA_MEMTRACE``,
:mod:`sasmamba_cli.pipeline.memtrace`: Linux's high-water mark reset at each stage's start; "load"
is the peak before the first stage: imports and the models) and the size of each output are
recorded. This
measures every stage after detection (tracking, lift, root, smoothing, writing). Decoding and
detection stream the video in batches of `--batch-size` frames (pipeline/video.py), so they add a
constant, not a length-proportional, amount. The lifter is `--weights` (the default here is the
small one: memory does not depend on the lifter's size beyond its weights, time does). The header
gives the growth of the peak per minute of video between the shortest and the longest input, and
each ``--note`` (e.g. what changed since the last record) as a line of its own.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def looped_keypoints(result: dict, minutes: float, fps: float = 30.0) -> dict:
    """A COCO keypoint file of ``minutes`` at ``fps`` made by looping the result's tracks."""
    n_total = int(minutes * 60 * fps)
    anns = []
    for t in result["tracks"]:
        kps, frames = t["keypoints_2d_coco"], t["frames"]
        n = len(frames)
        for i in range(n_total):
            k = i % n
            loop = i // n
            drift = 0.5 * (loop % 7)
            kp = [[None if v is None else (v + drift if j < 2 else v) for j, v in enumerate(p)] for p in kps[k]]
            anns.append({"image_id": i, "track_id": int(t["track_id"]),
                         "keypoints": [v for p in kp for v in p]})
    src = result["source"]
    return {"width": src["width"], "height": src["height"], "fps": fps, "frame_count": n_total, "annotations": anns}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 30])
    ap.add_argument("--weights", default="sasmamba_xs")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--note", action="append", default=[], help="a line for the header (repeatable)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sasmamba_mem_"))
    env = {**os.environ, "YOLO_CONFIG_DIR": str(work / "yolo"), "OMP_NUM_THREADS": "1"}
    sas = [sys.executable, "-m", "sasmamba_cli"]
    subprocess.run(sas + ["lift", str(ROOT / "assets" / "demo" / "cam01.mp4"), "--out", str(work / "demo"),
                          "--weights", a.weights, "-q"], check=True, env=env, capture_output=True)
    demo = json.loads((work / "demo" / "cam01.json").read_text())
    rows = []
    for m in a.minutes:
        kp = work / f"loop_{m:g}min.json"
        kp.write_text(json.dumps(looped_keypoints(demo, m)))
        out = work / f"out_{m:g}"
        t0 = time.perf_counter()
        code = ("import resource, sys; from sasmamba_cli.cli import main; sys.argv = sys.argv[1:]\n"
                "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
                "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)")
        trace = work / f"trace_{m:g}.jsonl"
        p = subprocess.run([sys.executable, "-c", code, "sasmamba", "lift", "--keypoints", str(kp), "--out", str(out),
                            "--weights", a.weights, "--format", "json,npz,csv", "-q"],
                           env={**env, "SASMAMBA_MEMTRACE": str(trace)}, capture_output=True, text=True)
        took = time.perf_counter() - t0
        rss = [int(line.split()[1]) for line in p.stdout.splitlines() if line.startswith("MAXRSS_KB")]
        stages: dict[str, float] = {}
        recs = [json.loads(line) for line in trace.read_text().splitlines()] if trace.exists() else []
        if recs:
            stages["load"] = recs[0]["peak_before_mb"]          # imports + models, before the first stage
        for rec in recs:
            stages[rec["stage"]] = max(stages.get(rec["stage"], 0.0), rec["peak_mb"])
        # the trace resets the kernel's high-water mark, which ru_maxrss reads: the process's peak
        # is the largest of the stage peaks, the peaks between them and the final ru_maxrss
        peaks = [rss[0] / 1024] if rss else []
        peaks += [r["peak_mb"] for r in recs] + [r["peak_before_mb"] for r in recs]
        peak = max(peaks, default=float("nan"))
        frames = int(m * 60 * 30)
        sizes = {f.suffix: f.stat().st_size for f in out.glob(f"{kp.stem}.*")}
        rows.append((m, frames, peak, kp.stat().st_size, sizes, took, p.returncode, stages))
        print(rows[-1], flush=True)
    lines = ["# Peak memory of `sasmamba lift --keypoints` on long inputs", "",
             f"- Command: `python benchmarks/bench_memory.py --minutes {' '.join(f'{m:g}' for m in a.minutes)} "
             f"--weights {a.weights}`",
             f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
             "the demo's 2D (2 tracks) looped at 30 fps."]
    if len(rows) > 1 and rows[-1][0] > rows[0][0]:
        slope = (rows[-1][2] - rows[0][2]) / (rows[-1][0] - rows[0][0])
        lines.append(f"- Growth of the peak: {slope:.1f} MB per minute of video ({rows[0][0]:g} to {rows[-1][0]:g} min).")
    lines += [f"- {note}" for note in a.note] + ["",
             "| length | frames | peak RSS MB | input JSON MB | result JSON MB | NPZ MB | CSV MB | seconds | exit |",
             "|---|---|---|---|---|---|---|---|---|"]
    for m, frames, rss, insize, sizes, took, rc, _ in rows:
        mb = lambda s: f"{sizes.get(s, 0) / 1e6:.1f}"
        lines.append(f"| {m:g} min | {frames} | {rss:.0f} | {insize / 1e6:.1f} | {mb('.json')} | {mb('.npz')} | "
                     f"{mb('.csv')} | {took:.0f} | {rc} |")
    names = list(dict.fromkeys(k for r in rows for k in r[7]))
    lines += ["", "Peak RSS per stage, MB (`load` = imports and models, before the first stage; `decode` = "
              "parsing the keypoint file; `write` = JSON + NPZ + CSV):", "",
              "| length | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for r in rows:
        lines.append(f"| {r[0]:g} min | " + " | ".join(f"{r[7][k]:.0f}" if k in r[7] else "" for k in names) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        a.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
