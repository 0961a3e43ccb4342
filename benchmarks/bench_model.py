"""Lifter speed on this machine: frames/s for presets s and l at T = 27, 81, 243, and the growth
of forward time from T = 243 to T = 2430 for SasMamba-s next to a plain transformer lifter of
equal width and depth (attention over all T*J tokens).

    python benchmarks/bench_model.py [--out docs/benchmarks_model.md] [--threads N] [--device cuda]
        [--batch 64]

On CUDA the forward rows use the ``auto`` scan backend (mamba-ssm's kernel if it imports, else
``chunked``) and ``--batch`` adds throughput rows with that many windows per forward pass.

Writes a Markdown report (machine, command, raw numbers). Timings are the best of a few runs;
compare them as ratios within one report, never across machines.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


def best_time(fn, repeats, warmup=True):
    if warmup:
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/benchmarks_model.md")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--batch", type=int, default=0, help="also time this many windows per forward pass")
    ap.add_argument("--presets", default="s,l", help="comma-separated presets for the forward rows")
    ap.add_argument("--frames", default="27,81,243", help="comma-separated window lengths for the forward rows")
    ap.add_argument("--long", type=int, nargs="*", default=[243, 486, 972, 1944, 2430])
    ap.add_argument("--transformer-max", type=int, default=2430,
                    help="largest T tried for the transformer (memory/time grow quadratically)")
    args = ap.parse_args()
    import torch

    from sasmamba_cli.commands.bench import bench_lifter
    from sasmamba_models import SasMambaLifter, count_parameters, preset
    from sasmamba_models.baselines import TransformerConfig, TransformerLifter

    from sasmamba_models.scan import resolve_backend

    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    backend = resolve_backend("auto", dev)
    where = f"CUDA: {torch.cuda.get_device_name(dev)}" if cuda else "CPU"
    def sync():
        if cuda:
            torch.cuda.synchronize(dev)
    lines = [f"# Lifter benchmarks ({where})", "",
             f"- date: {datetime.now(timezone.utc).isoformat(timespec='minutes')}",
             f"- machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads, python {platform.python_version()}",
             f"- command: `python {' '.join(sys.argv)}`",
             f"- load average at start: {os.getloadavg()}", "",
             f"## Forward time per window (`{backend}` scan backend, best of 2)", "",
             "| preset | params | T | batch | flip TTA | s / forward | frames/s |" + (" peak GPU MB |" if cuda else ""),
             "|---|---|---|---|---|---|---|" + ("---|" if cuda else "")]
    for name in args.presets.split(","):
        for t in [int(v) for v in args.frames.split(",")]:
            for batch in [1] + ([args.batch] if args.batch > 1 else []):
                try:
                    rows = bench_lifter(name, t, str(dev), repeats=2, backends=[backend], batch=batch)
                except (RuntimeError, MemoryError) as e:     # out of memory at a large batch
                    lines.append(f"| {name} | | {t} | {batch} | | failed: {str(e)[:80]} | |")
                    print(lines[-1], flush=True)
                    if cuda:
                        torch.cuda.empty_cache()
                    continue
                for row in rows:
                    lines.append(f"| {name} | {row['params']:,} | {t} | {batch} | {row['flip_tta']} | "
                                 f"{row['sec_per_window']:.3f} | {row['frames_per_s']:.1f} |"
                                 + (f" {row['peak_mem_mb']:.0f} |" if cuda else ""))
                    print(lines[-1], flush=True)
    lines += ["", "## Scan backends, preset s, T = 243 (one window, no TTA)", "",
              "| backend | s / window | frames/s |", "|---|---|---|"]
    for row in bench_lifter("s", 243, str(dev), repeats=1, backends=["sequential", "chunked"], flip_modes=(False,)):
        lines.append(f"| {row['backend']} | {row['sec_per_window']:.3f} | {row['frames_per_s']:.1f} |")
        print(lines[-1], flush=True)

    lines += ["", "## Growth with sequence length: SasMamba-s vs a plain transformer (C=64, 10 layers)", "",
              "| T | tokens T*17 | SasMamba-s s | transformer s | transformer / SasMamba |", "|---|---|---|---|---|"]
    torch.manual_seed(0)
    tmax = max(args.long)
    sas = SasMambaLifter(preset("s", max_frames=tmax)).to(dev).eval()
    tr = TransformerLifter(TransformerConfig(dim=64, depth=5, heads=4, max_frames=tmax)).to(dev).eval()
    def timed(model, x):
        def run():
            model(x)
            sync()
        return run
    res = {}
    for t in args.long:
        x = torch.randn(1, t, 17, 2, device=dev)
        with torch.inference_mode():
            try:
                ts = best_time(timed(sas, x), 1, warmup=t == min(args.long) or cuda)
            except (RuntimeError, MemoryError) as e:  # out of memory
                print(f"SasMamba-s failed at T={t}: {str(e)[:300]}", flush=True)
                ts = float("nan")
                if cuda:
                    torch.cuda.empty_cache()
            tt = float("nan")
            if t <= args.transformer_max:
                try:
                    tt = best_time(timed(tr, x), 1, warmup=t == min(args.long) or cuda)
                except (RuntimeError, MemoryError) as e:  # out of memory
                    print(f"transformer failed at T={t}: {str(e)[:300]}", flush=True)
                    if cuda:
                        torch.cuda.empty_cache()
        res[t] = (ts, tt)
        lines.append(f"| {t} | {t * 17} | {ts:.2f} | {tt:.2f} | {tt / ts:.2f} |")
        print(lines[-1], flush=True)
    t0, t1 = min(res), max(res)
    def slope(i):
        a, b = res[t0][i], res[t1][i]
        return math.log(b / a) / math.log(t1 / t0) if a == a and b == b else float("nan")
    lines += ["", f"Growth exponent k in time ~ T^k between T={t0} and T={t1}: SasMamba-s k = {slope(0):.2f}, "
              f"transformer k = {slope(1):.2f} (1 = linear, 2 = quadratic).",
              f"Time ratio T={t1} / T={t0}: SasMamba-s {res[t1][0] / res[t0][0]:.1f}x, "
              f"transformer {res[t1][1] / res[t0][1]:.1f}x (sequence {t1 / t0:.0f}x longer).", "",
              f"Parameters: SasMamba-s {count_parameters(sas):,} (at T={tmax}), transformer {count_parameters(tr):,}."]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
