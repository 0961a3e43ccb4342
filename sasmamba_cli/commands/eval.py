"""`sasmamba eval`: score a checkpoint on the held-out part of a mocap dataset."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)


# long on purpose: a third of it is the option declarations Typer reads; the rest reports
def eval_cmd(
    data: Annotated[list[Path], typer.Argument(help="Dataset .npz file(s) from `sasmamba data build`.")],
    weights: Annotated[Optional[Path], typer.Option(
        help="Checkpoint (.json/.safetensors) or a bundled name; default: shipped weights.")] = None,
    part: Annotated[str, typer.Option(help="Split part: test | val | train | all.")] = "test",
    split: Annotated[Optional[Path], typer.Option(help="Split JSON (default: bundled split_v1.json).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the virtual cameras / detector noise.")] = 0,
    max_frames_per_clip: Annotated[int, typer.Option(help="Evaluate at most this many frames per clip (0 = all).")] = 0,
    cameras: Annotated[int, typer.Option(
        help="Virtual cameras per clip (seeds SEED .. SEED+K-1, pooled): one camera per clip leaves a spread of "
        "several mm on a source of a few clips; the table then gives each source's mean and its standard "
        "error over the draws.", min=1)] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON on stdout.")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Also write the JSON result here.")] = None,
    threads: Annotated[int, typer.Option(help="torch CPU threads (0 = torch default).")] = 0,
    device: Annotated[str, typer.Option(help="auto (CUDA when available) | cpu | cuda | cuda:N.")] = "auto",
    smooth: Annotated[Optional[list[str]], typer.Option(
        "--smooth", help="Temporal smoothing of each clip's prediction before scoring, as `sasmamba lift "
        "--smooth`: NAME or NAME:VALUE (none, butterworth:6, savgol:0.25, oneeuro). Repeat to compare "
        "several in one run.")] = None,
    fix_swaps: Annotated[bool, typer.Option(
        "--fix-swaps/--no-fix-swaps", help="Repair left/right swaps in the simulated 2D before lifting, as "
        "`sasmamba lift` does by default (off here so results stay comparable with docs/results.md).")] = False,
    swap_penalty: Annotated[Optional[float], typer.Option(
        help="Swap penalty for --fix-swaps (torso lengths per frame; default: lift's).", min=0.0)] = None,
    swap_rate: Annotated[Optional[float], typer.Option(
        help="Probability that a clip's simulated detections contain one left/right swap episode of 1-6 "
        "frames (default: the training noise's 0.15). 1 = every clip: a stress test for --fix-swaps.",
        min=0.0, max=1.0)] = None,
    roll: Annotated[Optional[float], typer.Option(
        help="Every virtual camera rolled by this angle (degrees, clockwise on screen) instead of the "
        "random roll: a roll sweep with exact 3D.")] = None,
    pitch: Annotated[Optional[float], typer.Option(
        help="Every virtual camera pitched by this angle (degrees, + = looking down) instead of the "
        "random pitch.")] = None,
    error_model: Annotated[Optional[str], typer.Option(
        help="Simulate the 2D with this fitted detector error model (a bundled name, e.g. yolo11n-pose, or a "
        ".json table from benchmarks/fit_2d_errors.py) at its fitted size (level 1) instead of the hand-set "
        "noise model (the default, the protocol of docs/results.md).")] = None,
    upright: Annotated[bool, typer.Option(
        "--upright/--no-upright", help="Lift as `sasmamba lift --upright` does (default, as lift).")] = True,
    refine_2d: Annotated[bool, typer.Option(
        "--refine-2d/--no-refine-2d", help="Run lift's 2D-consistent refinement on each clip's prediction "
        "(default, as lift; --no-refine-2d: the lifter alone, the protocol of stops 10-11).")] = True,
):
    """MPJPE, P-MPJPE, N-MPJPE, MPJVE, acceleration error (mm) per source and overall, +/- flip TTA
    (and +/- temporal smoothing with --smooth)."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from ..errors import SasmambaError
    from ..mocap.dataset import split_indices
    from ..pipeline.smooth import parse_smooth
    from ..pipeline.swaps import DEFAULT_PENALTY
    from ..training.virtual import VirtualConfig
    from ..training.evaluate import evaluate
    from ..training.trainer import load_data, resolve_device
    from .report import emit_json
    from ..pipeline.lifting import load_weights

    err = Console(stderr=True)
    if threads:
        import torch
        torch.set_num_threads(threads)
    try:
        specs = tuple(dict.fromkeys(parse_smooth(s) for s in (smooth or ["none"])))
        if error_model and swap_rate is not None:
            raise SasmambaError("--swap-rate sets the hand-set noise model's swaps; with --error-model the "
                                "swaps come from the table: drop one of the two options")
        if error_model:
            from ..training.error_model import load_error_model
            try:
                load_error_model(error_model)
            except (ValueError, OSError) as e:
                raise SasmambaError(f"--error-model: {e}") from None
        model, meta, wpath = load_weights(weights or None)
        model.to(resolve_device(device))
        ds = load_data([str(p) for p in data])
        clips = np.arange(ds.num_clips) if part == "all" else split_indices(ds, str(split) if split else None, part)
        if len(clips) == 0:
            raise SasmambaError(f"no clips in part {part!r} of {', '.join(map(str, data))}")
        window = int(meta.get("window", model.config.max_frames))
        in_chans = int(getattr(model.config, "in_chans", 2))
        res = evaluate(model, ds, clips, window, in_chans, seed=seed,
                       max_frames_per_clip=max_frames_per_clip or None, smooth=specs,
                       swap_penalty=(DEFAULT_PENALTY if swap_penalty is None else swap_penalty) if fix_swaps else None,
                       virtual=VirtualConfig(**{k: v for k, v in (("swap_p", swap_rate), ("roll_fixed_deg", roll),
                                                                     ("pitch_fixed_deg", pitch),
                                                                     ("error_model", error_model),
                                                                     ("error_model_level", (1.0, 1.0) if error_model
                                                                      else None)) if v is not None}),
                       upright=upright, refine_2d=refine_2d, cameras=cameras)
    except SasmambaError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2)
    res["swap_repair"] = {"enabled": fix_swaps, "penalty": (DEFAULT_PENALTY if swap_penalty is None else swap_penalty)
                          if fix_swaps else None, "swap_rate": swap_rate}
    res.update({"weights": _portable(wpath), "weights_sha256": meta.get("weights_sha256"), "arch": meta.get("arch"),
                "params": sum(p.numel() for p in model.parameters()), "part": part,
                "data": [Path(p).name for p in data], "roll_deg": roll, "pitch_deg": pitch, "upright": upright,
                "error_model": error_model, "error_model_level": 1.0 if error_model else None,
                "refine_2d": refine_2d})
    if emit_json(res, out, as_json):
        return
    table = Table(title=f"{Path(wpath).name} on {part} ({res['clips']} clips, {res['frames']} frames), mm")
    for col in ["smooth", "TTA", "source", "groups", "MPJPE", "P-MPJPE", "N-MPJPE", "MPJVE", "accel"]:
        table.add_column(col)
    by_smooth = res.get("by_smooth", {res["smooth"]: res})
    for name, scores in by_smooth.items():
        for mode in ["no_tta", "flip_tta"]:
            r = scores[mode]
            rows = [(s, v) for s, v in r["per_source"].items()] + [("overall", {**r["overall"], "groups": r["groups"]})]
            for src, v in rows:
                table.add_row(name, mode, src, str(v["groups"]),
                              *(f"{v[k]:.1f}" for k in ["mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "accel"]))
    Console().print(table)
    if cameras > 1:
        d = res["draws"]["flip_tta" if "flip_tta" in res["draws"] else "no_tta"]
        rows = [(s, v) for s, v in d["per_source"].items()] + [("overall", d["overall"])]
        Console().print(f"P-MPJPE over the {cameras} camera draws ({res['smooth']}, "
                        f"{'flip_tta' if 'flip_tta' in res['draws'] else 'no_tta'}), mean +/- standard error, "
                        "and the range: " + "; ".join(
                            f"{s} {np.mean(v['p_mpjpe']):.1f} +/- {np.std(v['p_mpjpe'], ddof=1) / np.sqrt(cameras):.1f} "
                            f"({min(v['p_mpjpe']):.1f}-{max(v['p_mpjpe']):.1f})" for s, v in rows))


def _portable(path) -> str:
    """``path`` relative to the working directory when it lies inside it (results files that are
    committed must not carry this machine's absolute paths), else its file name."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except ValueError:
        return p.name
