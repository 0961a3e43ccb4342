"""Output formats: the one registry of writers behind ``--format``.

Each writer takes ``(result, result_dict, out_dir, stem)`` and returns the paths it wrote.
``json`` is always written (last: it marks the clip as done for resume). ``bvh`` is offered only
when ``sasmamba_cli.export.bvh`` provides ``export_result_bvh(result_path_or_dict, out_dir)``.

``--render`` is not a format: :func:`render_names` / :func:`write_render` write the MP4 and the
summary PNG after the JSON (see :func:`sasmamba_cli.pipeline.batch.write_outputs`).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError, SasmambaError
from .result import ClipResult, write_csv, write_npz

Writer = Callable[[ClipResult, dict, Path, str], list[Path]]


def _npz(r: ClipResult, d: dict, out: Path, stem: str) -> list[Path]:
    return [write_npz(r, out / f"{stem}.npz")]


def _csv(r: ClipResult, d: dict, out: Path, stem: str) -> list[Path]:
    return [write_csv(r, out / f"{stem}.csv")]


def _bvh_exporter():
    try:
        from ..export import bvh
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


# --- rendered video (``--render``) -------------------------------------------------------------

def render_names(stem: str) -> list[str]:
    """File names ``--render`` writes for a clip: the MP4 and its summary PNG (as ``sasmamba render``)."""
    return [f"{stem}_render.mp4", f"{stem}_render_summary.png"]


def write_render(d: dict, video: Path | None, out: Path, stem: str) -> list[Path]:
    """Render the result dict ``d`` beside ``video`` (None: blank canvas) into ``out``; returns the paths.

    Any failure is raised as :class:`RenderError` naming the MP4 it was writing.
    """
    mp4, png = (out / name for name in render_names(stem))
    try:
        from ..render.compose import render_result_stats

        st = render_result_stats(d, video, mp4, summary=True)
    except Exception as e:
        raise RenderError(f"render of {mp4.name} failed: expected an MP4 of the input with the 2D/3D overlay, "
                          f"found {type(e).__name__}: {e}") from e
    written = [Path(st.path)] + ([Path(st.summary)] if st.summary else [])
    if [p.name for p in written] != [mp4.name, png.name]:
        raise RenderError(f"render: expected files {[mp4.name, png.name]}, found {[p.name for p in written]}")
    return written


class RenderError(SasmambaError):
    """The result was written but its rendered video / summary PNG could not be."""

    exit_code = 1
