"""Where the shipped lifter weights live (``assets/weights``, installed as ``sasmamba_assets``):
the default, the other bundled checkpoints (``--weights NAME``), and a check with a clear error
when they are missing."""
from __future__ import annotations

from pathlib import Path

from .errors import InputError

DEFAULT_WEIGHTS_NAME = "sasmamba_s81"     # the lifter `lift` and `eval` use without --weights
DEFAULT_ALIAS = "sasmamba_default"        # --weights sasmamba_default names whichever is the default


def default_weights_path() -> Path:
    """Path of the default checkpoint's JSON (the ``.safetensors`` lies beside it); may not exist."""
    from sasmamba_assets import asset_path

    return asset_path("weights", DEFAULT_WEIGHTS_NAME + ".json")


def require_default_weights() -> Path:
    """:func:`default_weights_path`, or :class:`InputError` naming the expected files."""
    p = default_weights_path()
    if not p.is_file() or not p.with_suffix(".safetensors").is_file():
        raise InputError(f"the default lifter weights are not installed: expected {p} and "
                         f"{p.with_suffix('.safetensors')} (shipped in the repository's assets/weights); "
                         "reinstall sasmamba from a full checkout or pass --weights PATH to a checkpoint "
                         "written by sasmamba (NAME.safetensors + NAME.json)")
    return p


def bundled_weights() -> dict[str, Path]:
    """``{name: path of NAME.json}`` for every checkpoint shipped in assets/weights (with its
    ``.safetensors``), the default included."""
    folder = default_weights_path().parent
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.json")) if p.with_suffix(".safetensors").is_file()}


def resolve_weights(weights: str | Path) -> Path:
    """``--weights`` value -> checkpoint path: an existing path as given, else the name of a bundled
    checkpoint (``sasmamba_cmu``), else the path as given (the loader reports what is missing)."""
    p = Path(weights)
    if p.exists() or p.with_suffix(".json").exists() or len(p.parts) > 1:
        return p
    name = str(weights).removesuffix(".json")
    if name == DEFAULT_ALIAS:
        return default_weights_path()
    return bundled_weights().get(name, p)
