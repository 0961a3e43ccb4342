"""Local engine vs Ray (1 and 2 workers) on the same folder of clips, on this machine.

    python benchmarks/bench_ray.py [--clips 4] [--max-frames 40] [--out results/bench_ray.md]

Clips: the bundled demo (assets/demo/cam01.mp4) copied ``--clips`` times under different names
(first ``--max-frames`` frames each). For each engine: wall time of the whole batch, clips/s,
and the per-clip overhead against the local engine's per-clip time (Ray: actor start with the
model loads, scheduling, result transfer). Timings are compared as ratios within one run.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--max-frames", type=int, default=40)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp())
    import ray
    import torch

    from sasmamba_cli.engines.ray_engine import RayOptions, run_ray
    from sasmamba_cli.batch import run_batch
    from sasmamba_cli.pipeline.run import LiftPipeline, LiftSettings

    work = Path(tempfile.mkdtemp())
    clips = []
    for i in range(a.clips):
        p = work / "in" / f"clip{i}.mp4"
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "assets" / "demo" / "cam01.mp4", p)
        clips.append(p)
    settings = LiftSettings(max_frames=a.max_frames, formats=("json",), device="cpu")
    rows = []
    t0 = time.perf_counter()
    pipe = LiftPipeline(settings)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = run_batch(pipe, clips, work / "local")
    t_local = time.perf_counter() - t0
    assert all(r.status == "ok" for r in res), [r.message for r in res]
    per_clip = t_local / len(clips)
    rows.append(("local (1 process)", t_local, t_load))
    for workers in (1, 2):
        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        t_init = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = run_ray(settings, clips, work / f"ray{workers}", options=RayOptions(workers=workers),
                      driver_pipeline=pipe)
        t = time.perf_counter() - t0
        ray.shutdown()
        assert all(r.status == "ok" for r in res), [r.message for r in res]
        rows.append((f"ray, {workers} worker{'s' if workers > 1 else ''}", t, t_init))
    lines = [
        "# Ray engine vs local engine (CPU)",
        "",
        f"- Command: `python benchmarks/bench_ray.py --clips {a.clips} --max-frames {a.max_frames}`",
        f"- Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, "
        f"ray {ray.__version__}, Python {platform.python_version()}, no GPU; shared with other jobs while measured.",
        f"- Clips: the demo (1080x1920, 60 fps) x {a.clips}, first {a.max_frames} frames each; default settings, "
        "JSON output. Ray: a local instance with 2 CPUs, 1 CPU per worker.",
        "",
        "| engine | batch wall s | clips/s | vs local | start-up s (not in the batch time) |",
        "|---|---|---|---|---|",
    ]
    for name, t, start in rows:
        lines.append(f"| {name} | {t:.1f} | {len(clips) / t:.3f} | {rows[0][1] / t:.2f}x | {start:.1f} |")
    over = [(name, (t - rows[0][1]) / len(clips)) for name, t, _ in rows[1:2]]
    lines += ["", f"Local engine: {per_clip:.1f} s per clip. Ray with 1 worker costs "
              f"{over[0][1]:+.1f} s per clip against it (actor start with the model loads, spread over "
              f"{len(clips)} clips, plus scheduling)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        a.out.write_text(text)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
