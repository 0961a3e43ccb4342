"""Output formats: the one registry of writers behind ``--format``.

Each writer takes ``(result, result_dict, out_dir, stem)`` and returns the paths it wrote.
``json`` is always written (last: it marks the clip as done for resume). ``bvh`` is offered only
when ``sasmamba_cli.export.bvh`` provides ``export_result_bvh(result_path_or_dict, out_dir)``.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError
from .result import ClipResult, write_csv, write_npz

Writer = Callable[[ClipResult, dict, Path, str], list[Path]]


def _npz(r: ClipResult, d: dict, out: Path, stem: str) -> list[Path]:
    return [write_npz(r, out / f"{stem}.npz")]


def _csv(r: ClipResult, d: dict, out: Path, stem: str) -> list[Path]:
    return [write_csv(r, out / f"{stem}.csv")]


def _bvh_exporter():
    try:
        from ..export import bvh  # noqa: PLC0415
    except ImportError:
        return None
    return getattr(bvh, "export_result_bvh", None)


def _bvh(r: ClipResult, d: dict, out: Path, stem: str) -> list[Path]:
    export = _bvh_exporter()
    if export is None:
        raise InputError("format 'bvh' needs sasmamba_cli.export.bvh.export_result_bvh, which this install lacks")
    try:
        params = inspect.signature(export).parameters
    except (TypeError, ValueError):
        params = {}
    takes_stem = "stem" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    written = export(d, out, stem=stem) if takes_stem else export(d, out)
    if written is None:
        return []
    if isinstance(written, (str, Path)):
        return [Path(written)]
    return [Path(p) for p in written]


WRITERS: dict[str, Writer] = {"json": lambda r, d, out, stem: [], "npz": _npz, "csv": _csv, "bvh": _bvh}


def available_formats() -> list[str]:
    return [f for f in WRITERS if f != "bvh" or _bvh_exporter() is not None]


def parse_formats(text: str) -> tuple[str, ...]:
    """``"json,npz"`` -> ``("json", "npz")`` (json always included, order kept, duplicates dropped)."""
    names = [s.strip().lower() for s in text.split(",") if s.strip()]
    known = available_formats()
    bad = [n for n in names if n not in known]
    if bad:
        hint = " ('bvh' needs the sasmamba BVH exporter)" if "bvh" in bad else ""
        raise InputError(f"unknown output format(s) {', '.join(bad)}; expected a comma-separated list of "
                         f"{', '.join(known)}{hint}")
    out = ["json"] + [n for n in names if n != "json"]
    return tuple(dict.fromkeys(out))
