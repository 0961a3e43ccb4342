"""``sasmamba data ...``: build, merge and inspect mocap training datasets (.npz)."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from .eval_h36m import CamerasFile, Positions2D, Positions3D, TrustPickle

data_app = typer.Typer(no_args_is_help=True, add_completion=False,
                       help="Build mocap training datasets (BVH / ASF+AMC / Human3.6M -> .npz).")


class RigName(str, Enum):
    bandai = "bandai"
    cmu_daz = "cmu_daz"
    cmu_asf = "cmu_asf"


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _summary(ds) -> str:
    import numpy as np

    lines = []
    for s in np.unique(ds.source):
        k = np.flatnonzero(ds.source == s)
        frames = int(ds.clip_lengths()[k].sum())
        lines.append(f"  {s}: {len(k)} clips, {frames} frames ({frames / ds.fps / 60:.1f} min)")
    lines.append(f"  total: {ds.num_clips} clips, {ds.num_frames} frames at {ds.fps:g} fps")
    return "\n".join(lines)


@data_app.command("build")
def build(
    src: Annotated[List[Path], typer.Argument(help="Motion files or folders (searched recursively "
                                                     "for .bvh, or .amc with the .asf beside it).")],
    rig: Annotated[RigName, typer.Option("--rig", help="Rig map in sasmamba_cli/data/rigs/.")],
    out: Annotated[Path, typer.Option("--out", help="Output .npz (written atomically).")],
    fps: Annotated[float, typer.Option("--fps", min=1.0, help="Target frame rate.")] = 30.0,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any file failed.")] = False,
):
    """Convert mocap files to H36M-17 + COCO-17 virtual markers in mm (Y up) at --fps."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..errors import SasmambaError
    from ..mocap.build import build_dataset
    from ..mocap.convert import find_sources
    from ..mocap.dataset import save_dataset
    from ..mocap.rigs import load_rig

    err = Console(stderr=True)
    try:
        n_files = len(find_sources(src, load_rig(rig.value)))
    except SasmambaError as e:
        _fail(str(e))
    if n_files == 0:
        _fail(f"no {'.amc' if rig == RigName.cmu_asf else '.bvh'} files found under "
              f"{[str(s) for s in src]}; expected motion files for rig {rig.value!r}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, transient=True) as prog:
        task = prog.add_task(f"{rig.value}", total=n_files)
        res = build_dataset(src, rig.value, fps, progress=lambda p: prog.update(
            task, advance=1, description=f"{rig.value} {p.name}"))
    for path, msg in res.failures:
        err.print(f"[red]skipped[/red] {path}: {msg}", markup=True, highlight=False, soft_wrap=True)
    if res.dataset is None:
        _fail(f"all {res.files} files failed; nothing written", 1)
    save_dataset(res.dataset, out)
    typer.echo(f"wrote {out}\n{_summary(res.dataset)}\n  files: {res.files}, "
               f"converted: {res.dataset.num_clips}, failed: {len(res.failures)}")
    if strict and res.failures:
        raise typer.Exit(1)


@data_app.command("merge")
def merge(
    inputs: Annotated[List[Path], typer.Argument(exists=True, dir_okay=False,
                                                 help="Dataset .npz files to concatenate.")],
    out: Annotated[Path, typer.Option("--out", help="Output .npz (written atomically).")],
):
    """Concatenate datasets built at the same fps (clip ids must be unique)."""
    from ..errors import SasmambaError
    from ..mocap.dataset import load_dataset, merge_datasets, save_dataset

    try:
        ds = merge_datasets([load_dataset(p) for p in inputs])
    except SasmambaError as e:
        _fail(str(e))
    save_dataset(ds, out)
    typer.echo(f"wrote {out}\n{_summary(ds)}")


@data_app.command("info")
def info(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Dataset .npz.")],
    split: Annotated[Optional[Path], typer.Option("--split", help="Split JSON "
                                                  "(default: the built-in split_v1.json).")] = None,
):
    """Clips and frames per source and per split part."""
    from ..errors import SasmambaError
    from ..mocap.dataset import load_split, split_indices, load_dataset

    try:
        ds = load_dataset(path)
        typer.echo(_summary(ds))
        for part in ("train", "val", "test"):
            k = split_indices(ds, split, part)
            typer.echo(f"  split {part}: {len(k)} clips, {int(ds.clip_lengths()[k].sum())} frames")
        spec = load_split(split)
        sources = set(ds.source.tolist())
        absent = [g for part in ("val", "test") for g in spec[part]["groups"]
                  if g.split("/")[0] in sources and g not in set(ds.group.tolist())]
        if absent:
            typer.echo(f"warning: split groups not in this dataset (typo?): {absent}", err=True)
    except SasmambaError as e:
        _fail(str(e))


@data_app.command("h36m")
def h36m(
    positions: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                              help="VideoPose3D data_3d_h36m.npz (you supply it).")],
    out: Annotated[Path, typer.Option("--out", help="Output .npz (written atomically).")],
    fps: Annotated[float, typer.Option("--fps", min=1.0, help="Target frame rate.")] = 30.0,
    trust_pickle: Annotated[bool, typer.Option(
        "--trust-pickle", help="Required: the file is a pickle, which can run code when loaded. "
                               "Only pass it for a file you obtained yourself.")] = False,
):
    """Convert Human3.6M 3D positions (VideoPose3D layout) to the dataset layout."""
    from ..errors import SasmambaError
    from ..mocap.dataset import save_dataset
    from ..mocap.h36m import h36m_dataset, read_h36m_3d

    try:
        ds = h36m_dataset(read_h36m_3d(positions, trust_pickle=trust_pickle), fps)
    except SasmambaError as e:
        _fail(str(e))
    save_dataset(ds, out)
    typer.echo(f"wrote {out}\n{_summary(ds)}")


@data_app.command("h36m-2d")
def h36m_2d(
    positions_3d: Positions3D,
    positions_2d: Positions2D,
    cameras: CamerasFile,
    out: Annotated[Path, typer.Option("--out", help="Output .npz (written atomically).")],
    subjects: Annotated[str, typer.Option(help="Comma-separated subjects.")] = "S1,S5,S6,S7,S8,S9,S11",
    fps: Annotated[float, typer.Option("--fps", min=1.0, help="Target frame rate.")] = 30.0,
    trust_pickle: TrustPickle = False,
):
    """Pair Human3.6M's 2D detections with the 3D in each camera: a dataset to train and evaluate
    on real 2D (the papers' protocol; `sasmamba train ... --split h36m`)."""
    from ..errors import SasmambaError
    from ..mocap.dataset import save_dataset
    from ..mocap.h36m_protocol import paired_dataset, read_paired_sequences

    try:
        ds = paired_dataset(read_paired_sequences(positions_3d, positions_2d, cameras, subjects, trust_pickle), fps)
    except SasmambaError as e:
        _fail(str(e))
    save_dataset(ds, out)
    typer.echo(f"wrote {out} (paired: real 2D + camera-space 3D)\n{_summary(ds)}")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
