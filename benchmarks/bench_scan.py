"""One selective-scan call at the sizes of model s at T=243 (B=1, D=4*128=512 channels, N=16,
L=243*17=4131 tokens, G=4 groups), forward and forward+backward, per backend.

    python benchmarks/bench_scan.py [--out docs/benchmarks_scan.md] [--ref-backward] [--device cuda]
                                    [--batch B] [--triton-sweep]

`--ref-backward` also times the oracle's backward (autograd through 4131 loop steps: minutes).
`--batch 32` gives the sizes of a training step (batch 32); `--triton-sweep` (CUDA) also times the
``triton`` backend under each launch configuration (channel block x warps, SASMAMBA_TRITON_LAUNCH).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/benchmarks_scan.md")
    ap.add_argument("--ref-backward", action="store_true")
    ap.add_argument("--length", type=int, default=243 * 17)
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--triton-sweep", action="store_true")
    args = ap.parse_args()
    import torch

    from sasmamba_models.scan import available_backends, selective_scan

    dev = torch.device(args.device)
    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    torch.manual_seed(0)
    b, d, n, g, length = args.batch, 512, 16, 4, args.length
    def inputs():
        u, delta = torch.randn(b, d, length), torch.randn(b, d, length)
        A = -torch.exp(torch.log(torch.arange(1, n + 1.0)).repeat(d, 1))
        B, C = torch.randn(b, g, n, length), torch.randn(b, g, n, length)
        return [t.to(dev).requires_grad_() for t in (u, delta, A, B, C, torch.ones(d), torch.randn(d))]
    rows = {}
    extra = [k for k in ("triton", "mamba") if k in available_backends(dev)]
    runs = [(k, "") for k in ["sequential", "chunked", *extra, "ref"]]
    if args.triton_sweep and "triton" in extra:
        runs[-1:-1] = [("triton", f"{cap}x{w}") for cap in (8, 16, 32) for w in (1, 2, 4)]
    for backend, launch in runs:
        if launch:
            os.environ["SASMAMBA_TRITON_LAUNCH"] = launch
        else:
            os.environ.pop("SASMAMBA_TRITON_LAUNCH", None)
        x = inputs()
        with torch.no_grad():
            selective_scan(*x, backend=backend)
            sync()
            t = time.perf_counter()
            selective_scan(*x, backend=backend)
            sync()
            fwd = time.perf_counter() - t
        bwd = float("nan")
        if backend != "ref" or args.ref_backward:
            if dev.type == "cuda":    # warm the backward kernels too
                selective_scan(*x, backend=backend).sum().backward()
            y = selective_scan(*x, backend=backend)
            sync()
            t = time.perf_counter()
            y.sum().backward()
            sync()
            bwd = time.perf_counter() - t
        name = f"{backend} {launch}" if launch else backend
        rows[name] = (fwd, bwd)
        print(name, fwd, bwd, flush=True)
    ref_f, ref_b = rows["ref"]
    where = f"CUDA: {torch.cuda.get_device_name(dev)}" if dev.type == "cuda" else "CPU"
    lines = [f"# Selective-scan benchmark ({where})", "",
             f"- date: {datetime.now(timezone.utc).isoformat(timespec='minutes')}",
             f"- machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads",
             f"- command: `python {' '.join(sys.argv)}`", f"- load average at start: {os.getloadavg()}",
             f"- sizes: B={b}, D={d}, N={n}, G={g}, L={length} (model s, T={length // 17}: one scan call of one block)", "",
             "| backend | forward s | backward s | forward speed-up vs ref | backward speed-up vs ref |", "|---|---|---|---|---|"]
    ratio = lambda a, b: "-" if a != a or b != b else f"{a / b:.1f}x"
    for k, (f, bw) in rows.items():
        lines.append(f"| {k} | {f:.4g} | {bw:.4g} | {ratio(ref_f, f)} | {ratio(ref_b, bw)} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
