"""Root Typer app: it only composes the commands (each lives in ``sasmamba_cli/commands``).

Command modules import torch, cv2, ultralytics etc. lazily inside the command functions, so
``sasmamba --help`` stays fast and never imports GPU-only modules.
"""
from __future__ import annotations

import sys

import typer

from . import __version__
from .commands import register_all

app = typer.Typer(name="sasmamba", no_args_is_help=True, add_completion=False,
                  help="Turn videos of people into 3D skeletons (SasMamba lifter). CPU-first.")


def _version(value: bool):
    if value:
        typer.echo(f"sasmamba {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")):
    """sasmamba: video -> tracked 3D skeletons (JSON, BVH, NPZ, CSV, MP4)."""


register_all(app)


def main() -> None:
    from .errors import SasmambaError

    try:
        app()
    except SasmambaError as e:  # library errors that escaped a command
        typer.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
