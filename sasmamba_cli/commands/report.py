"""The JSON report of the measuring commands (``eval``, ``eval-h36m``): ``--out FILE`` and ``--json``."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ..atomic import write_text


def emit_json(res: dict, out: Path | None, as_json: bool) -> bool:
    """Write ``res`` to ``out`` (indented JSON, atomically) when given, print it on stdout with
    ``as_json``; True when it was printed (the caller then prints no table)."""
    if out:
        write_text(out, json.dumps(res, indent=2) + "\n")
    if as_json:
        typer.echo(json.dumps(res, indent=2))
    return as_json
