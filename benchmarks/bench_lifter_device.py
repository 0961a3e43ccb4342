"""Lifter throughput (frames/s) of presets on one device, per selective-scan backend: the GPU
measurement of the accuracy issue (point 7: presets ``s`` and ``l``, our scans against mamba-ssm's
where it is installed).

    python benchmarks/bench_lifter_device.py [--device cuda] [--presets s l] [--frames 81 243]
        [--batch 64] [--backends triton chunked mamba] [--reps 5] [--out results/bench_lifter_gpu.md]

Each row: a randomly initialised lifter (the preset at that window length, fp32, eval mode),
``--batch`` windows per forward pass under ``torch.inference_mode``, best of ``--reps`` timed
passes after one warm-up; frames/s = batch x frames / seconds. Backends that do not run on the
device are skipped (``sasmamba_models.scan.available_backends``); the outputs of each backend are
compared with the first one's (max abs difference, model units). Reports the machine, torch,
CUDA and nvcc versions.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


def nvcc_version() -> str:
    exe = shutil.which("nvcc") or (os.path.join(os.environ["CUDA_HOME"], "bin", "nvcc")
                                   if os.environ.get("CUDA_HOME") else None)
    if not exe or not os.path.exists(exe):
        return "nvcc not found"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip().splitlines()
    return out[-1] if out else "nvcc: no output"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--presets", nargs="+", default=["s", "l"])
    ap.add_argument("--frames", type=int, nargs="+", default=[81, 243])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--backends", nargs="+", default=["triton", "chunked", "mamba"])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    import torch

    from sasmamba_models import SasMambaLifter, count_parameters, preset
    from sasmamba_models.scan import available_backends

    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("skipped: no CUDA device")
        return 0
    if a.threads:
        torch.set_num_threads(a.threads)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    have = available_backends(dev)
    backends = [b for b in a.backends if b in have]
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {os.cpu_count()} cores"
    lines = [f"# Lifter throughput on {where}", "",
             f"- date: {datetime.now(timezone.utc).isoformat(timespec='minutes')}",
             f"- machine: {platform.machine()}, Python {platform.python_version()}, torch {torch.__version__}, "
             f"CUDA {torch.version.cuda}, {nvcc_version()}",
             f"- command: `python {' '.join(sys.argv)}`",
             f"- scan backends here: {', '.join(have)}; asked: {', '.join(a.backends)}", "",
             "| preset | frames | params | backend | batch | s / pass | frames/s | max abs diff vs first |",
             "|---|---|---|---|---|---|---|---|"]
    for name in a.presets:
        for frames in a.frames:
            torch.manual_seed(0)
            model = SasMambaLifter(preset(name, max_frames=frames, in_chans=3)).to(dev).eval()
            x = torch.randn(a.batch, frames, 17, 3, device=dev)
            first = None
            for backend in backends:
                model.set_scan_backend(backend)
                try:
                    with torch.inference_mode():
                        y = model(x)
                        ts = []
                        for _ in range(a.reps):
                            sync()
                            t = time.perf_counter()
                            y = model(x)
                            sync()
                            ts.append(time.perf_counter() - t)
                except (RuntimeError, MemoryError) as e:
                    lines.append(f"| {name} | {frames} | {count_parameters(model):,} | {backend} | {a.batch} | "
                                 f"failed: {str(e).splitlines()[0][:80]} | | |")
                    print(lines[-1], flush=True)
                    continue
                diff = "-" if first is None else f"{float((y - first).abs().max()):.2e}"
                first = y if first is None else first
                s = min(ts)
                lines.append(f"| {name} | {frames} | {count_parameters(model):,} | {backend} | {a.batch} | "
                             f"{s:.4f} | {a.batch * frames / s:,.0f} | {diff} |")
                print(lines[-1], flush=True)
            del model, x, first
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    text = "\n".join(lines) + "\n"
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
