"""``sasmamba render RESULT.json [--video INPUT]``: MP4 of the input + 2D overlay beside a 3D view."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def render_cmd(
    result: Annotated[Path, typer.Argument(help="Result JSON written by `sasmamba lift`.",
                                           exists=True, dir_okay=False, readable=True)],
    video: Annotated[Optional[Path], typer.Option("--video", "-v", exists=True, dir_okay=False,
                                                  help="Input video for the 2D panel (default: blank canvas).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", dir_okay=False,
                                                help="Output MP4 (default: RESULT_render.mp4 beside RESULT).")] = None,
    height: Annotated[Optional[int], typer.Option("--height", min=64, max=4320,
                                                  help="Output height in px (default: input's, at most 720).")] = None,
    summary: Annotated[bool, typer.Option("--summary/--no-summary", help="Also write OUT_summary.png.")] = True,
):
    """Render an MP4 (input frame + 2D overlay | 3D view; same frame count and fps as the input)."""
    import time

    from ..errors import SasmambaError
    from ..render.compose import render_result_stats

    out = out or result.with_name(result.stem + "_render.mp4")
    t0 = time.perf_counter()
    try:
        st = render_result_stats(result, video, out, height=height, summary=summary)
    except SasmambaError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(e.exit_code) from None
    dt = time.perf_counter() - t0
    typer.echo(f"rendered {st.frames} frames {st.size[0]}x{st.size[1]} @ {st.fps:.3f} fps ({st.backend}) "
               f"in {dt:.1f} s ({st.frames / max(dt, 1e-9):.1f} frames/s)", err=True)
    typer.echo(str(st.path))
    if st.summary:
        typer.echo(str(st.summary))


def register(app: typer.Typer) -> None:
    app.command("render")(render_cmd)
