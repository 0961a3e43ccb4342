"""``sasmamba export``: write a result as BVH / JSON / NPZ / CSV (optionally FK-consistent first).

JSON, NPZ and CSV use the lift pipeline's writers (``sasmamba_cli.pipeline.result``), so a file
exported here is laid out exactly like one written by ``sasmamba lift``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from . import atomic
from .bvh import BvhOptions, write_result_bvh
from .consistent import fk_consistent
from .result_io import Result, save_result

FORMATS = ("bvh", "json", "npz", "csv")


@dataclass(frozen=True)
class ExportSummary:
    """paths: every file written; bvh_reports: one verification report per BVH (may be empty);
    fk_report: the FK-consistency report (None when the raw 3D was exported)."""

    paths: list[Path]
    bvh_reports: list = field(default_factory=list)
    fk_report: dict | None = None


def _pipeline_writer(fmt: str):
    try:
        from ..pipeline import result as pipeline_result
    except ImportError as e:
        raise InputError(f"format {fmt!r} needs sasmamba_cli.pipeline.result ({e})") from e
    return pipeline_result


def export_result(result: Result, out_dir: str | Path, formats, *, stem: str,
                  fk: bool | None = None, bvh_options: BvhOptions | None = None,
                  input_path: Path | None = None) -> ExportSummary:
    """Write ``result`` in each of ``formats`` into ``out_dir`` as ``<stem>...``.

    fk: regenerate 3D from each track's fixed rig before writing (None: on when 'bvh' is asked).
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
            paths.append(save_result(result, target))
        else:
            pr = _pipeline_writer(fmt)
            clip = pr.result_from_dict(result.to_dict())
            writer = pr.write_npz if fmt == "npz" else pr.write_csv
            paths.append(Path(writer(clip, out_dir / f"{stem}.{fmt}")))
    return ExportSummary(paths, reports, fk_report)
