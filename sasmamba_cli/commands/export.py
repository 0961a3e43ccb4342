"""``sasmamba export RESULT.json --format bvh``: re-export a lifted result (no re-detection)."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, List, Optional

import typer


class Fmt(str, Enum):
    bvh = "bvh"
    json = "json"
    npz = "npz"
    csv = "csv"


def _parse_formats(values: List[str]) -> List[str]:
    """``--format`` values, each possibly a comma-separated list (``bvh,csv``), validated and
    de-duplicated in the order given."""
    allowed = [f.value for f in Fmt]
    out: list[str] = []
    for v in values or []:
        for name in (x.strip().lower() for x in str(v).split(",")):
            if not name:
                continue
            if name not in allowed:
                raise typer.BadParameter(f"unknown output format {name!r}; expected one or more of "
                                         f"{', '.join(allowed)} (comma-separated, e.g. bvh,csv, or repeated)")
            if name not in out:
                out.append(name)
    if not out:
        raise typer.BadParameter(f"no output format given; expected one or more of {', '.join(allowed)}")
    return out


class Naming(str, Enum):
    mixamo = "mixamo"
    h36m = "h36m"


class RootMode(str, Enum):
    world = "world"
    start = "start"
    in_place = "in_place"


class Align(str, Enum):
    track = "track"
    video = "video"


class Level(str, Enum):
    """Camera levelling of the world frame (``sasmamba_cli.export.world.LEVELS``; the default
    ``auto`` is ``world.DEFAULT_LEVEL``, kept equal by a test: this module stays numpy-free)."""

    auto = "auto"
    floor = "floor"
    torso = "torso"
    none = "none"


def export_cmd(
    result: Annotated[Path, typer.Argument(help="Result JSON written by `sasmamba lift`.",
                                           exists=True, dir_okay=False, readable=True)],
    fmt: Annotated[List[str], typer.Option("--format", "-f", callback=_parse_formats, metavar="<list>",
                                           help="Output formats: bvh, json, npz, csv; comma-separated "
                                                "(bvh,csv) or repeated (-f bvh -f csv).")] = ["bvh"],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder (default: beside RESULT).",
                                                file_okay=False)] = None,
    stem: Annotated[Optional[str], typer.Option(help="File name prefix (default: the name of RESULT).")] = None,
    names: Annotated[Naming, typer.Option("--names", help="BVH joint names: Mixamo-style or H36M.")] = Naming.mixamo,
    root: Annotated[RootMode, typer.Option("--root", help="BVH root translation: world (shared clip frame, "
                                                          "origin on the floor below the camera), start "
                                                          "(each track starts at x=z=0), in_place.")] = RootMode.world,
    order: Annotated[str, typer.Option(
        "--order", help="BVH rotation channel order: auto (per-joint table, swapped per clip away from gimbal "
        "lock), table (the fixed table: same header for every clip) or one order for all joints, e.g. ZXY.")] = "auto",
    align: Annotated[Align, typer.Option("--align", help="track: BVH frame 0 = first tracked frame; video: "
                                                         "one BVH frame per video frame.")] = Align.track,
    level: Annotated[Level, typer.Option("--level", help="Camera levelling: auto (floor fitted to foot contacts "
                                                         "when valid and within 25 deg of the torso, else torso), "
                                                         "floor, torso (mean torso direction) or none.")] = Level.auto,
    fk: Annotated[Optional[bool], typer.Option("--fk-consistent/--raw", help="Regenerate the 3D from each "
                                               "track's fixed skeleton first (default: on with bvh).")] = None,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Re-read each BVH and report FK error.")] = True,
):
    """Export a result as BVH (one file per track, Y up, cm, T-pose) and/or JSON, NPZ, CSV."""
    from ..errors import SasmambaError
    from ..export.bvh import BvhOptions
    from ..export.formats import export_result
    from ..pipeline.result import load_result

    try:
        res = load_result(result)
        opts = BvhOptions(naming=names.value, order=order if order == "auto" else order.upper(), root=root.value, level=level.value,
                          align=align.value, verify=verify)
        summary = export_result(res, out or result.parent, list(fmt), stem=stem or result.stem,
                                fk=fk, bvh_options=opts, input_path=result)
    except SasmambaError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(e.exit_code) from None
    if summary.fk_report is not None:
        for t in summary.fk_report["tracks"]:
            typer.echo(f"track {t['track_id']}: FK-consistent 3D moved joints by {t['mean_change_all_mm']:.1f} mm "
                       f"on average; bone-length spread {max(t['bone_spread_before_pct']):.1f}% -> "
                       f"{max(t['bone_spread_after_pct']):.3f}%", err=True)
    for rep in summary.bvh_reports:
        typer.echo(f"verified {rep.summary()}", err=True)
    for p in summary.paths:
        typer.echo(str(p))


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)
