"""`sasmamba train`: train a lifter (or baseline) on mocap datasets, resumable."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)


def train_cmd(
    data: Annotated[list[Path], typer.Argument(help="Dataset .npz files from `sasmamba data build`.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Run folder (checkpoints, log.csv); re-run to resume.")] = Path("runs/sasmamba"),
    config: Annotated[Optional[Path], typer.Option("--config", exists=True, dir_okay=False,
                                                    help="JSON TrainConfig; command-line options override it.")] = None,
    arch: Annotated[Optional[str], typer.Option(help="sasmamba | tcn | mean")] = None,
    preset: Annotated[Optional[str], typer.Option(help="SasMamba preset: s, l, ablation, tiny.")] = None,
    model: Annotated[Optional[str], typer.Option(help='Model config overrides as JSON, e.g. \'{"dim": 32}\'.')] = None,
    window: Annotated[Optional[int], typer.Option(help="Frames per window (model max_frames).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Samples per step.")] = None,
    lr: Annotated[Optional[float], typer.Option(help="AdamW learning rate.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs (of --epoch-samples samples).")] = None,
    epoch_samples: Annotated[Optional[int], typer.Option(help="Samples per epoch.")] = None,
    max_minutes: Annotated[Optional[float], typer.Option(help="Stop (checkpointed) after this many minutes.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed.")] = None,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads.")] = None,
    split: Annotated[Optional[Path], typer.Option(help="Split JSON (default: bundled split_v1.json).")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto (CUDA when available) | cpu | cuda | cuda:N.")] = None,
    workers: Annotated[Optional[int], typer.Option(
        help="Processes building batches ahead (0 = in-process, the CPU default; a GPU needs several).", min=0)] = None,
):
    """Train a lifter with virtual cameras on mocap; checkpoints every few steps and resumes."""
    from ..errors import SasmambaError
    from ..training.trainer import TrainConfig, train

    base = json.loads(config.read_text()) if config else {}
    over = {"arch": arch, "preset": preset, "model": json.loads(model) if model else None, "window": window,
            "batch_size": batch_size, "lr": lr, "epochs": epochs, "epoch_samples": epoch_samples,
            "max_minutes": max_minutes, "seed": seed, "threads": threads, "device": device, "workers": workers,
            "split": str(split) if split else None, "data": [str(p) for p in data] if data else None}
    base.update({k: v for k, v in over.items() if v is not None})
    base["out_dir"] = str(out)
    try:
        cfg = TrainConfig.from_dict(base)
        run = train(cfg, command="sasmamba " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    except SasmambaError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(e.exit_code)
    typer.echo(str(run / "best.json"))
