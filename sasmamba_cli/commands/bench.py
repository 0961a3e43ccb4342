"""`sasmamba bench`: lifter forward time per window and frames/s for each scan backend."""
from __future__ import annotations

import json
from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_cmd)


def bench_lifter(preset: str = "s", frames: int = 243, device: str = "auto", repeats: int = 3,
                 backends: Optional[list[str]] = None, batch: int = 1, flip_modes=(False, True)) -> list[dict]:
    """Time ``repeats`` forward passes (after one warm-up) per backend and TTA mode."""
    import time

    import torch

    from sasmamba_models import SasMambaLifter, count_parameters
    from sasmamba_models import preset as get_preset
    from sasmamba_models.scan import available_backends

    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    torch.manual_seed(0)
    model = SasMambaLifter(get_preset(preset, max_frames=max(frames, 1))).to(dev).eval()
    rows = []
    for backend in backends or [b for b in available_backends(dev) if b != "ref" or frames <= 27]:
        model.set_scan_backend(backend)
        for flip in flip_modes:
            x = torch.randn(batch * (2 if flip else 1), frames, 17, 2, device=dev)
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            times = []
            with torch.inference_mode():
                for i in range(repeats + 1):
                    if dev.type == "cuda":
                        torch.cuda.synchronize(dev)
                    t = time.perf_counter()
                    model(x)
                    if dev.type == "cuda":
                        torch.cuda.synchronize(dev)
                    if i:
                        times.append(time.perf_counter() - t)
            best = min(times)
            row = {"preset": preset, "params": count_parameters(model), "frames": frames, "device": str(dev),
                   "backend": backend, "flip_tta": flip, "batch": batch, "sec_per_window": best,
                   "frames_per_s": batch * frames / best}
            if dev.type == "cuda":
                row["peak_mem_mb"] = torch.cuda.max_memory_allocated(dev) / 2 ** 20
            else:
                import resource
                row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rows.append(row)
    return rows


def bench_cmd(
    preset: Annotated[str, typer.Option(help="Model preset (s, l, ablation, tiny).")] = "s",
    frames: Annotated[int, typer.Option(help="Window length T.")] = 243,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
    repeats: Annotated[int, typer.Option(help="Timed repeats (best is reported).")] = 3,
    backend: Annotated[Optional[list[str]], typer.Option(help="Scan backend(s); default: all available "
                                                         "(ref only for T <= 27, it is very slow).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """Forward time per window and frames/s per scan backend, with and without flip TTA."""
    rows = bench_lifter(preset, frames, device, repeats, backend)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"lifter forward, preset {preset}, T={frames}")
    for col in ["device", "backend", "flip TTA", "s/window", "frames/s", "peak MB"]:
        t.add_column(col)
    for r in rows:
        t.add_row(r["device"], r["backend"], str(r["flip_tta"]), f"{r['sec_per_window']:.3f}",
                  f"{r['frames_per_s']:.1f}", f"{r.get('peak_mem_mb', r.get('peak_rss_mb', 0)):.0f}")
    Console().print(t)
