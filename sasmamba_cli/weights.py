"""Where the shipped default lifter weights live, and loading them with a clear error."""
from __future__ import annotations

from pathlib import Path

from .errors import InputError

DEFAULT_WEIGHTS_NAME = "sasmamba_default"


def default_weights_path() -> Path:
    """``assets/weights/sasmamba_default.json`` (installed as ``sasmamba_assets``)."""
    from sasmamba_assets import asset_path  # noqa: PLC0415

    p = asset_path("weights", DEFAULT_WEIGHTS_NAME + ".json")
    if not p.is_file() or not p.with_suffix(".safetensors").is_file():
        raise InputError(f"default lifter weights not found: expected {p} and {p.with_suffix('.safetensors')} "
                         "(shipped in the repository's assets/weights); reinstall sasmamba from a full "
                         "checkout or pass --weights PATH")
    return p
