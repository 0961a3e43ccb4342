"""`sasmamba info`: versions, devices, scan backends, deform-conv implementations, models."""
from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("info")(info_cmd)


def collect_info() -> dict:
    import platform

    import torch

    from sasmamba_models import PRESETS, SasMambaLifter, count_parameters
    from sasmamba_models.checkpoint import read_metadata
    from sasmamba_models.deform import available_deform_impls
    from sasmamba_models.scan import available_backends, load_mamba_kernel

    from .. import __version__
    from ..errors import SasmambaError
    from ..weights import bundled_weights, require_default_weights

    devices = ["cpu"] + [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    info = {
        "sasmamba": __version__, "python": platform.python_version(), "torch": torch.__version__,
        "cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(), "devices": devices,
        "cpu_threads": torch.get_num_threads(),
        "scan_backends": {"cpu": available_backends("cpu"),
                          **({"cuda": available_backends("cuda")} if torch.cuda.is_available() else {})},
        "mamba_ssm": load_mamba_kernel() is not None,
        "deform_impls": available_deform_impls(),
        "presets": {name: {**cfg.to_dict(), "params": count_parameters(SasMambaLifter(cfg))}
                    for name, cfg in PRESETS.items()},
    }
    try:
        p = require_default_weights()
        meta = read_metadata(p)
        info["default_weights"] = {"path": str(p), "arch": meta.get("arch"), "params": meta.get("params"),
                                   "window": meta.get("window"), "licence": meta.get("licence"),
                                   "sha256": meta.get("weights_sha256")}
    except SasmambaError as e:
        info["default_weights"] = {"error": str(e)}
    info["bundled_weights"] = {}
    for name, path in bundled_weights().items():
        meta = read_metadata(path)
        info["bundled_weights"][name] = {"params": meta.get("params"), "licence": meta.get("licence"),
                                         "sha256": meta.get("weights_sha256")}
    return info


def info_cmd(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False):
    """Show versions, devices, available scan backends and bundled models."""
    info = collect_info()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    c = Console()
    for k in ["sasmamba", "python", "torch", "cuda", "devices", "cpu_threads", "scan_backends", "mamba_ssm",
              "deform_impls", "default_weights", "bundled_weights"]:
        c.print(f"[bold]{k}[/]: {info[k]}")
    t = Table(title="presets")
    for col in ["preset", "dim", "depth", "max_frames", "deformable", "strides", "params"]:
        t.add_column(col)
    for name, p in info["presets"].items():
        t.add_row(name, str(p["dim"]), str(p["depth"]), str(p["max_frames"]), str(p["deformable"]),
                  str(p["strides"]), f"{p['params']:,}")
    c.print(t)
