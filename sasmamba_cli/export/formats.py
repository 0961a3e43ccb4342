"""Output formats: the one registry of writers behind ``sasmamba lift --format`` and ``sasmamba export``.

Each writer takes ``(result, result_dict, out_dir, stem)`` and returns the paths it wrote;
``result_dict`` is ``result_to_dict(result)`` (the values as the JSON holds them), or None where no
writer asks for it (only BVH does). ``json`` is always written, by the caller and last: in
``lift`` it marks the clip as done for resume (:func:`sasmamba_cli.batch.write_outputs`).
"""
from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..pipeline.result import ClipResult, write_csv, write_json, write_npz
from .. import atomic
from .bvh import BvhOptions, export_result_bvh, write_result_bvh
from .consistent import fk_consistent

Writer = Callable[[ClipResult, dict | None, Path, str], list[Path]]


def _npz(r: ClipResult, d: dict | None, out: Path, stem: str) -> list[Path]:
    return [write_npz(r, out / f"{stem}.npz")]


def _csv(r: ClipResult, d: dict | None, out: Path, stem: str) -> list[Path]:
    return [write_csv(r, out / f"{stem}.csv")]


def _bvh_exporter():
    """The BVH exporter ``export_result_bvh(result_dict, out_dir, stem=...)``; the seam through
    which another exporter (or a test double) can stand in; None offers no 'bvh' format."""
    return export_result_bvh


def _bvh(r: ClipResult, d: dict | None, out: Path, stem: str) -> list[Path]:
    export = _bvh_exporter()
    if export is None:
        raise InputError("format 'bvh' needs the BVH exporter (sasmamba_cli.export.bvh.export_result_bvh), "
                         "which this install lacks")
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
NEEDS_DICT = {"bvh"}          # writers that read the result's dict form (the JSON's rounded values)


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


# --- ``sasmamba export`` ---------------------------------------------------------------------------

FORMATS = ("bvh", "json", "npz", "csv")


@dataclass(frozen=True)
class ExportSummary:
    """paths: every file written; bvh_reports: one verification report per BVH (may be empty);
    fk_report: the FK-consistency report (None when the raw 3D was exported)."""

    paths: list[Path]
    bvh_reports: list = field(default_factory=list)
    fk_report: dict | None = None


def export_result(result: ClipResult, out_dir: str | Path, formats, *, stem: str,
                  fk: bool | None = None, bvh_options: BvhOptions | None = None,
                  input_path: Path | None = None) -> ExportSummary:
    """Write ``result`` in each of ``formats`` into ``out_dir`` as ``<stem>...``, with the lift's
    writers (a file exported here is laid out exactly like one written by ``sasmamba lift``).

    fk: regenerate 3D from each track's fixed rig before writing (None: on when 'bvh' is asked).
    BVH files come with ``<stem>_bvh_report.json`` (verification by re-parsing, FK report).
    """
    formats = list(dict.fromkeys(formats))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise InputError(f"export format(s) {bad or 'none'}: expected one or more of {list(FORMATS)}")
    out_dir = Path(out_dir)
    if fk is None:
        fk = "bvh" in formats
    fk_report = None
    if fk:
        result, fk_report = fk_consistent(result, level=(bvh_options or BvhOptions()).level)
    paths: list[Path] = []
    reports = []
    for fmt in formats:
        if fmt == "bvh":
            written = write_result_bvh(result, out_dir, stem=stem, options=bvh_options)
            paths += [w.path for w in written]
            reports += [w.report for w in written if w.report is not None]
            side = {"files": [{"path": w.path.name, "track_id": w.solved.track_id,
                               "first_video_frame": w.first_frame, "frames": w.motion.num_frames,
                               "verification": w.report.to_dict() if w.report else None}
                              for w in written],
                    "options": (bvh_options or BvhOptions()).__dict__,
                    "fk_consistent": fk_report}
            paths.append(atomic.write_text(out_dir / f"{stem}_bvh_report.json", json.dumps(side, indent=1)))
        elif fmt == "json":
            target = out_dir / f"{stem}.json"
            if input_path is not None and target.resolve() == Path(input_path).resolve():
                raise InputError(f"export to {target} would overwrite the input result; "
                                 "pass --out DIR or --stem NAME")
            paths.append(write_json(result, target))
        else:
            paths += WRITERS[fmt](result, None, out_dir, stem)
    return ExportSummary(paths, reports, fk_report)
