"""Time per training step (forward + backward + AdamW) of candidate lifter configurations on
this machine: the numbers behind the choice of the shipped configuration (docs/results.md).

    python benchmarks/bench_train_step.py [--threads 2] [--out docs/benchmarks_train_step.md] [--device cuda]
        [--backends sequential numba] [--only "s, T=81"] [--batch 4]

``--backends`` times every candidate with each scan backend in turn (one row each, same process),
``--only`` keeps the candidates whose label contains that text, ``--batch`` overrides their batch.

On CUDA the candidates are run at GPU batch sizes (GPU_CANDIDATES) and peak GPU memory is reported.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

CANDIDATES = [  # (label, preset, overrides, batch)
    ("s, T=243 (authors)", "s", {"max_frames": 243}, 4),
    ("s, T=81", "s", {"max_frames": 81}, 8),
    ("s, T=27", "s", {"max_frames": 27}, 16),
    ("xs: C=32, depth 3, N=8, T=27 (shipped)", "s", {"max_frames": 27, "dim": 32, "depth": 3, "d_state": 8}, 16),
    ("ablation xs, T=27", "ablation", {"max_frames": 27, "dim": 32, "depth": 3, "d_state": 8}, 16),
]

GPU_CANDIDATES = [
    ("s, T=243 (authors)", "s", {"max_frames": 243}, 32),
    ("s, T=81", "s", {"max_frames": 81}, 64),
    ("s, T=81", "s", {"max_frames": 81}, 128),
    ("s, T=27", "s", {"max_frames": 27}, 256),
    ("l, T=81", "l", {"max_frames": 81}, 64),
    ("xs: C=32, depth 3, N=8, T=27 (shipped)", "s", {"max_frames": 27, "dim": 32, "depth": 3, "d_state": 8}, 256),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--out", default="docs/benchmarks_train_step.md")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--backends", nargs="+", default=["auto"], help="scan backends to time (default: auto)")
    ap.add_argument("--only", default="", help="only candidates whose label contains this")
    ap.add_argument("--batch", type=int, default=0, help="batch size for every candidate (0: each its own)")
    args = ap.parse_args()
    import torch

    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    from sasmamba_models import SasMambaLifter, count_parameters, preset

    if args.threads:
        torch.set_num_threads(args.threads)
    where = f"CUDA: {torch.cuda.get_device_name(dev)}" if cuda else "CPU"
    lines = [f"# Training step time ({where})", "",
             f"- date: {datetime.now(timezone.utc).isoformat(timespec='minutes')}",
             f"- machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads",
             f"- command: `python {' '.join(sys.argv)}`", f"- load average at start: {os.getloadavg()}", "",
             "| config | scan | params | batch | s / step | samples/s | frames/s | 1 epoch of the train split (159k frames) |"
             + (" peak GPU MB |" if cuda else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|" if cuda else "")]
    runs = [(c, b) for c in (GPU_CANDIDATES if cuda else CANDIDATES) if args.only in c[0] for b in args.backends]
    for (label, name, over, batch), backend in runs:
        batch = args.batch or batch
        torch.manual_seed(0)
        cfg = preset(name, in_chans=3, **over)
        m = SasMambaLifter(cfg).to(dev)
        m.set_scan_backend(backend)
        m.train()
        opt = torch.optim.AdamW(m.parameters(), 1e-4)
        x = torch.randn(batch, cfg.max_frames, 17, 3, device=dev)
        y = torch.randn(batch, cfg.max_frames, 17, 3, device=dev)
        if cuda:
            torch.cuda.reset_peak_memory_stats(dev)
        ts, failed = [], None
        try:
            for i in range(args.steps + 1):
                sync()
                t = time.perf_counter()
                loss = (m(x) - y).square().mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                sync()
                if i:
                    ts.append(time.perf_counter() - t)
        except (RuntimeError, MemoryError) as e:     # out of memory
            failed = str(e)[:80]
        params = count_parameters(m)
        if failed:
            lines.append(f"| {label} | {backend} | {params:,} | {batch} | failed: {failed} | | | |")
        else:
            s = min(ts)
            fps = batch * cfg.max_frames / s
            lines.append(f"| {label} | {backend} | {params:,} | {batch} | {s:.3f} | {batch / s:.2f} | {fps:.0f} | "
                         f"{159121 / fps / 3600:.2f} h |"
                         + (f" {torch.cuda.max_memory_allocated(dev) / 2 ** 20:.0f} |" if cuda else ""))
        m = opt = x = y = loss = None                   # free the GPU memory before the next row
        if cuda:
            torch.cuda.empty_cache()
        print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
