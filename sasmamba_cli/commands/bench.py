"""`sasmamba bench`: lifter forward time per window and frames/s for each scan backend."""
from __future__ import annotations

import json
from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_cmd)


# ---- CPU peak memory per row ------------------------------------------------------------------
# ru_maxrss is the process-wide high-water mark: it only grows, so later rows would inherit the
# peak of earlier ones. On Linux, writing "5" to /proc/self/clear_refs resets the process's peak
# resident set size (VmHWM in /proc/self/status) to its current RSS, which gives a true per-row peak.
def _proc_status_kb(field: str) -> Optional[int]:
    """``VmRSS`` / ``VmHWM`` ... from /proc/self/status in KiB, ``None`` when unavailable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _release_freed_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc), so the RSS measured
    before a row is not inflated by memory cached from the previous one. Best effort."""
    import ctypes
    import gc
    import sys

    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


def _reset_cpu_peak() -> Optional[float]:
    """Reset the per-process RSS peak; return the RSS (MiB) just before the row, or ``None`` when the
    peak cannot be reset (no /proc, old kernel, sandbox), in which case callers fall back to ru_maxrss."""
    _release_freed_memory()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    rss, hwm = _proc_status_kb("VmRSS"), _proc_status_kb("VmHWM")
    if rss is None or hwm is None or hwm > rss + 1024:  # the write was accepted but did not reset the peak
        return None
    return rss / 1024


def _process_peak_rss_mb() -> float:
    """Process-wide peak RSS since start (ru_maxrss: KiB on Linux, bytes on macOS)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if sys.platform == "darwin" else peak / 1024


def bench_lifter(preset: str = "s", frames: int = 243, device: str = "auto", repeats: int = 3,
                 backends: Optional[list[str]] = None, batch: int = 1, flip_modes=(False, True)) -> list[dict]:
    """Time ``repeats`` forward passes (after one warm-up) per backend and TTA mode.

    Memory per row: on CUDA ``peak_mem_mb`` (``torch.cuda.max_memory_allocated``, reset per row).
    On CPU (Linux) ``peak_rss_mb``: the peak resident memory of the process during the row (VmHWM
    after resetting it via /proc/self/clear_refs), ``rss_before_mb`` and ``peak_rss_increase_mb``
    (the peak minus the resident memory just before the row). Where the peak cannot be reset, only
    ``process_peak_rss_mb`` (ru_maxrss, the process-wide peak so far) is given. ``peak_scope`` says
    which: ``"row"`` or ``"process"``."""
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
            rss_before = None
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            else:
                rss_before = _reset_cpu_peak()
            x = torch.randn(batch * (2 if flip else 1), frames, 17, 2, device=dev)
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
                # tensors allocated by torch on the device during this row (peak stats reset above)
                row["peak_scope"] = "row"
                row["peak_mem_mb"] = torch.cuda.max_memory_allocated(dev) / 2 ** 20
            else:
                hwm = _proc_status_kb("VmHWM") if rss_before is not None else None
                if hwm is not None:
                    # peak resident memory of the process during this row, and its rise over the
                    # resident memory just before the row (model weights etc. are in the former only)
                    row["peak_scope"] = "row"
                    row["rss_before_mb"] = rss_before
                    row["peak_rss_mb"] = hwm / 1024
                    row["peak_rss_increase_mb"] = max(0.0, hwm / 1024 - rss_before)
                else:
                    # no per-row reset possible: the process-wide high-water mark (only grows)
                    row["peak_scope"] = "process"
                    row["process_peak_rss_mb"] = _process_peak_rss_mb()
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
    """Forward time per window and frames/s per scan backend, with and without flip TTA.

    Peak memory per row: CUDA tensors allocated (max_memory_allocated); on CPU the peak resident
    memory during the row and its increase over the resident memory before it (Linux /proc), else
    the process-wide peak so far (marked "process peak")."""
    rows = bench_lifter(preset, frames, device, repeats, backend)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    def peak(r: dict) -> str:
        if "peak_mem_mb" in r:
            return f"{r['peak_mem_mb']:.0f} (CUDA alloc)"
        if r.get("peak_scope") == "row":
            return f"{r['peak_rss_mb']:.0f} (+{r['peak_rss_increase_mb']:.0f})"
        return f"{r['process_peak_rss_mb']:.0f} (process peak)"

    t = Table(title=f"lifter forward, preset {preset}, T={frames}")
    for col in ["device", "backend", "flip TTA", "s/window", "frames/s", "peak MB (+ over before row)"]:
        t.add_column(col)
    for r in rows:
        t.add_row(r["device"], r["backend"], str(r["flip_tta"]), f"{r['sec_per_window']:.3f}",
                  f"{r['frames_per_s']:.1f}", peak(r))
    Console().print(t)
