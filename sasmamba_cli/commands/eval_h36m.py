"""`sasmamba eval-h36m`: the papers' Human3.6M protocol on files the user holds."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


# argument types shared with `sasmamba data h36m-2d`
Positions3D = Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                             help="VideoPose3D data_3d_h36m.npz (you supply it).")]
Positions2D = Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                             help="VideoPose3D data_2d_h36m_<detector>.npz, e.g. cpn_ft_h36m_dbb.")]
CamerasFile = Annotated[Path, typer.Option("--cameras", exists=True, dir_okay=False,
                                           help="Cameras JSON (format: docs/data.md, 'Human3.6M').")]
TrustPickle = Annotated[bool, typer.Option(
    "--trust-pickle", help="Required: both files are pickles, which can run code when loaded. "
                           "Only pass it for files you obtained yourself.")]


def register(app: typer.Typer) -> None:
    app.command("eval-h36m")(eval_h36m_cmd)


def eval_h36m_cmd(
    positions_3d: Positions3D,
    positions_2d: Positions2D,
    cameras: CamerasFile,
    weights: Annotated[Optional[str], typer.Option(help="Checkpoint or bundled name; default: shipped weights.")] = None,
    subjects: Annotated[str, typer.Option(help="Comma-separated test subjects.")] = "S9,S11",
    flip_tta: Annotated[bool, typer.Option("--flip-tta/--no-flip-tta", help="Flip test-time augmentation.")] = True,
    trust_pickle: TrustPickle = False,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Also write the JSON result here.")] = None,
):
    """MPJPE (protocol 1) and P-MPJPE (protocol 2) per action on Human3.6M's test subjects, lifting
    the file's 2D detections of every camera and scoring against camera-space 3D (mm)."""
    from rich.console import Console
    from rich.table import Table

    from ..errors import SasmambaError
    from .report import emit_json
    from ..mocap.h36m_protocol import evaluate_sequences, lifter_predictor, read_paired_sequences
    from ..pipeline.lifting import load_lifter
    from ..training.trainer import resolve_device

    err = Console(stderr=True)
    try:
        seqs = read_paired_sequences(positions_3d, positions_2d, cameras, subjects, trust_pickle)
        lifter = load_lifter(weights, device=str(resolve_device(device)))
        res = evaluate_sequences(lifter_predictor(lifter, flip_tta), seqs)
    except SasmambaError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2)
    res.update({"protocol": "Human3.6M, 2D from the given file, camera-space root-relative 3D, mm",
                "subjects": subjects, "flip_tta": flip_tta, "weights": str(lifter.weights_path),
                "weights_sha256": lifter.metadata.get("weights_sha256"), "positions_2d": positions_2d.name})
    if emit_json(res, out, as_json):
        return
    t = Table(title=f"Human3.6M {subjects}: {res['sequences']} sequences, {res['frames']} frames, mm")
    for col in ("action", "frames", "MPJPE (P1)", "P-MPJPE (P2)"):
        t.add_column(col)
    for a, v in res["per_action"].items():
        t.add_row(a, str(v["frames"]), f"{v['mpjpe']:.1f}", f"{v['p_mpjpe']:.1f}")
    t.add_row("[bold]mean over actions", str(res["frames"]), f"[bold]{res['mpjpe']:.1f}", f"[bold]{res['p_mpjpe']:.1f}")
    Console().print(t)
