"""``sasmamba lift --render``: the clip's preview MP4 and summary PNG, named after the clip.

Not a ``--format``: written after the JSON (see :func:`sasmamba_cli.batch.write_outputs`), which
lists them, so a failed render leaves the clip to be redone on resume.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import SasmambaError


class RenderError(SasmambaError):
    """The result was written but its rendered video / summary PNG could not be."""

    exit_code = 1


def render_names(stem: str) -> list[str]:
    """File names ``--render`` writes for a clip: the MP4 and its summary PNG (as ``sasmamba render``)."""
    return [f"{stem}_render.mp4", f"{stem}_render_summary.png"]


def write_render(d: dict, video: Path | None, out: Path, stem: str) -> list[Path]:
    """Render the result dict ``d`` beside ``video`` (None: blank canvas) into ``out``; returns the paths.

    Any failure is raised as :class:`RenderError` naming the MP4 it was writing.
    """
    mp4, png = (out / name for name in render_names(stem))
    try:
        from .compose import render_result_stats

        st = render_result_stats(d, video, mp4, summary=True)
    except Exception as e:
        raise RenderError(f"render of {mp4.name} failed: expected an MP4 of the input with the 2D/3D overlay, "
                          f"found {type(e).__name__}: {e}") from e
    written = [Path(st.path)] + ([Path(st.summary)] if st.summary else [])
    if [p.name for p in written] != [mp4.name, png.name]:
        raise RenderError(f"render: expected files {[mp4.name, png.name]}, found {[p.name for p in written]}")
    return written
