"""Root Typer app: it only composes the commands (each lives in ``sasmamba_cli/commands``).

Command modules import torch, cv2, ultralytics etc. lazily inside the command functions, so
``sasmamba --help`` stays fast and never imports GPU-only modules.
"""
from __future__ import annotations

import os
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


def quiet_libraries(environ=None) -> None:
    """Keep FFmpeg's, OpenCV's and MediaPipe's own log lines (``moov atom not found``, ...) off the
    terminal: sasmamba reports the problem itself. ``SASMAMBA_VERBOSE=1`` keeps them."""
    env = os.environ if environ is None else environ
    if env.get("SASMAMBA_VERBOSE", "") not in ("", "0"):
        return
    env.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")     # AV_LOG_QUIET
    env.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    env.setdefault("GLOG_minloglevel", "2")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    from .errors import SasmambaError

    quiet_libraries()

    try:
        app()
    except SasmambaError as e:  # library errors that escaped a command
        typer.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
