"""Bundled assets, installed as ``sasmamba_assets``: default lifter weights (``weights/``) and the
demo clip (``demo/``), each with its licence. Use :func:`asset_path` to locate a file."""
from __future__ import annotations

from importlib import resources
from pathlib import Path


def asset_path(*parts: str) -> Path:
    """Filesystem path of a bundled asset (may not exist; callers check)."""
    return Path(str(resources.files(__name__).joinpath(*parts)))
