"""The clip composer and the local batch: expand inputs (files, folders, globs), run each clip's
stages (:class:`~.pipeline.run.LiftPipeline`, then the FK-consistent stage when the formats ask
for it), write its outputs (:mod:`.export.formats`, then the JSON, then :mod:`.render.outputs`),
resume, summarise. Every engine calls :func:`process_clip`; :func:`run_batch` is the local one.

Models are loaded once (one :class:`~.run.LiftPipeline` for the batch). A clip is skipped when its
``<stem>.json`` exists with the same settings hash and source fingerprint (name, size, mtime) and
every output it lists is present; the JSON is written after the data formats, so an interrupted
clip is redone. ``--render`` output is written after the JSON but listed in it, and ``render`` is
part of the settings hash: a clip whose render is missing (e.g. the render failed) is redone on
the next run. A failing clip is recorded and never stops the others; ``summary.csv`` lists every
clip.
"""
from __future__ import annotations

import csv
import glob
import io
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import write_bytes
from .errors import InputError, OutputError, SasmambaError
from .export.consistent import fk_consistent_clip, fk_summary_line
from .export.formats import NEEDS_DICT, WRITERS
from .pipeline import memtrace
from .pipeline.edges import edge_summary_line
from .pipeline.result import ClipResult, result_to_dict, write_json_streamed
from .pipeline.run import LiftPipeline, Stopwatch, source_fingerprint
from .render.outputs import render_names, write_render

VIDEO_EXTENSIONS = {".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv",
                    ".3gp", ".ts", ".mts"}
KEYPOINT_EXTENSIONS = {".json"}


@dataclass(frozen=True)
class ClipSummary:
    """One row of ``summary.csv``. status: ok | skipped (up to date) | failed."""

    clip: str
    status: str
    frames: int = 0
    people: int = 0
    coverage: float = 0.0
    fps: float = 0.0
    seconds: float = 0.0
    message: str = ""
    exit_code: int = 0
    outputs: tuple[str, ...] = ()
    timings: dict = field(default_factory=dict)
    fk_summary: str = ""          # one line on the FK-consistent change ("" when the raw lift was written)
    edge_summary: str = ""        # one line on the edge trim ("" when it removed nothing)


SUMMARY_COLUMNS = ["clip", "status", "frames", "people", "detection_coverage", "fps", "seconds", "message"]


class Reporter:
    """Progress callbacks (the CLI renders them with Rich; the default does nothing)."""

    def clip_started(self, index: int, total: int, path: Path) -> None: ...

    def frames(self, done: int, total: int) -> None: ...

    def clip_finished(self, summary: ClipSummary) -> None: ...


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def expand_inputs(inputs: list[str], extensions: set[str]) -> list[Path]:
    """Files as given (missing ones too: they fail with a clear error), folders -> their files with
    ``extensions`` (sorted, not recursive), globs -> matches (``**`` recursive). Order kept, no dups."""
    out: list[Path] = []
    for text in inputs:
        p = Path(text)
        if _is_glob(text) and not p.exists():
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            matches = [m for m in matches if m.is_file() and m.suffix.lower() in extensions]
            if not matches:
                raise InputError(f"no file matches {text!r}; expected a glob matching files with extension "
                                 f"{', '.join(sorted(extensions))}")
            out.extend(matches)
        elif p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in extensions)
            if not found:
                raise InputError(f"folder {p} holds no file with extension {', '.join(sorted(extensions))}")
            out.extend(found)
        else:
            out.append(p)
    return list(dict.fromkeys(out))


def output_stems(paths: list[Path]) -> dict[Path, str]:
    """Unique output name per input: its stem, prefixed by the parent folder when stems collide."""
    stems: dict[Path, str] = {}
    counts: dict[str, int] = {}
    for p in paths:
        counts[p.stem] = counts.get(p.stem, 0) + 1
    used: set[str] = set()
    for p in paths:
        s = p.stem if counts[p.stem] == 1 else f"{p.parent.name}_{p.stem}"
        base, k = s, 1
        while s in used:
            k += 1
            s = f"{base}_{k}"
        used.add(s)
        stems[p] = s
    return stems


def check_output_dir(out_dir: Path) -> None:
    """Create ``out_dir`` and prove it is writable, before any model is run."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_bytes(out_dir / ".sasmamba_write_test", b"")
        (out_dir / ".sasmamba_write_test").unlink()
    except OSError as e:
        raise InputError(f"cannot write to output folder {out_dir}: {e.strerror or e}. "
                         "Expected a writable folder; pass another --out") from e


def up_to_date(json_path: Path, settings_hash: str, source: Path) -> dict | None:
    """The existing result header if ``json_path`` is complete for these settings and this source."""
    if not json_path.is_file():
        return None
    try:
        d = json.loads(json_path.read_text())
        run = d["run"]
        if run["settings_hash"] != settings_hash:
            return None
        if d["source"]["fingerprint"] != source_fingerprint(source):
            return None
        if not all((json_path.parent / name).is_file() for name in run.get("outputs", [])):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    d.pop("tracks", None)
    return d


def write_outputs(pipeline: LiftPipeline, result, out_dir: Path, stem: str,
                  video: Path | None = None) -> list[Path]:
    """Every requested format, then the JSON (it marks the clip done), then with ``--render`` the MP4
    and summary PNG beside ``video`` (None: blank canvas). The JSON lists the render files, so a
    failed render leaves the JSON in place and the clip is redone on resume."""
    # the dict form is built only for the writers that take it (BVH, render); the JSON is streamed
    # in frame chunks, so memory does not grow with the clip's length
    needs_dict = bool(NEEDS_DICT & set(pipeline.settings.formats)) or pipeline.settings.render
    d = result_to_dict(result) if needs_dict else None
    json_path = out_dir / f"{stem}.json"
    rendered = render_names(stem) if pipeline.settings.render else []
    # files of an earlier run must not vouch for this one: an old JSON would mark the clip done
    # (resume) while the formats below are half rewritten, and old render files would hide a
    # render that fails now
    for name in [json_path.name, *rendered]:
        (out_dir / name).unlink(missing_ok=True)
    remove_stale_temporaries(out_dir, stem)
    written: list[Path] = []
    try:
        for fmt in pipeline.settings.formats:
            if fmt != "json":
                written.extend(WRITERS[fmt](result, d, out_dir, stem))
        result.header["run"]["outputs"] = [json_path.name] + [p.name for p in written
                                                              if Path(p).parent.resolve() == out_dir.resolve()] + rendered
        write_json_streamed(result, json_path)
    except BaseException as e:
        # no set of outputs from a failed or interrupted (Ctrl-C) clip: remove what this clip wrote
        # (the JSON last, so a crash in between still leaves the clip not done)
        for p in [*written, json_path]:
            Path(p).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise output_error(e, out_dir, stem) from e
        raise
    if pipeline.settings.render:
        written.extend(write_render({**d, "run": result.header["run"]}, video, out_dir, stem))
    return [json_path] + written


def remove_stale_temporaries(out_dir: Path, stem: str) -> list[Path]:
    """Delete the hidden temporaries (``.NAME.XXXX.tmp.EXT``, :mod:`sasmamba_cli.atomic`) that a
    killed run left for clip ``stem``'s outputs; they are never taken as outputs. Names written by
    earlier versions (``.NAME.XXXX.tmp``, ``.STEM_track0.XXXX.tmp.bvh``) are removed too."""
    names = [f"{stem}.json", f"{stem}.npz", f"{stem}.csv", f"{stem}_track*.bvh", f"{stem}_render*",
             f"{stem}_bvh_report.json"]
    patterns = [f".{name}.*.tmp*" for name in names] + [f".{stem}_track*.*.tmp.bvh", f".{stem}_bvh_report.*.tmp.json"]
    gone = []
    for pattern in patterns:
        for p in out_dir.glob(pattern):
            if p.exists():
                p.unlink(missing_ok=True)
                gone.append(p)
    return gone


def discard_unfinished(out_dir: Path, stem: str) -> list[Path]:
    """After a worker was stopped in the middle of clip ``stem`` (Ctrl-C under ``--engine ray``):
    its hidden temporaries, and, when its JSON (written last: the mark of a complete set) is
    absent, the files it writes under their final names (NPZ, CSV, BVH, render), so that no half
    set is left in ``out_dir``. A clip whose JSON is there finished before it was stopped and is
    kept whole."""
    import re

    from .export.bvh import safe_stem

    gone = remove_stale_temporaries(out_dir, stem)
    if (out_dir / f"{stem}.json").exists():
        return gone
    names = {f"{stem}.npz", f"{stem}.csv", *render_names(stem)}
    bvh = re.compile(re.escape(safe_stem(stem)) + r"_track\d+\.bvh")
    for p in out_dir.iterdir() if out_dir.is_dir() else []:
        if p.name in names or bvh.fullmatch(p.name):
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone


def output_error(e: OSError, out_dir: Path, stem: str) -> OutputError:
    """A clear :class:`OutputError` for a failed write of clip ``stem`` into ``out_dir``."""
    import errno
    import shutil

    where = getattr(e, "filename", None) or out_dir
    if e.errno == errno.ENOSPC:
        try:
            free = shutil.disk_usage(out_dir).free
        except OSError:
            free = -1
        free_txt = f"{free / 1e6:.1f} MB free there" if free >= 0 else "free space unknown"
        return OutputError(f"disk full while writing {stem}'s outputs to {where} ({free_txt}); nothing of this "
                           "clip was kept. Free space (a clip's outputs take a few MB per 1,000 frames and "
                           "person) or pass --out on another disk, then run the same command again: finished "
                           "clips are skipped")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"cannot write {stem}'s outputs to {where}: {e.strerror}; expected a writable --out "
                           "folder. Nothing of this clip was kept")
    return OutputError(f"writing {stem}'s outputs to {where} failed: {e.strerror or e}; nothing of this clip "
                       "was kept; run the same command again to resume")


def skipped_row(path: Path, done: dict) -> ClipSummary:
    """The summary row of a clip whose outputs are up to date (``done``: its result header)."""
    st = done.get("stats", {})
    return ClipSummary(str(path), "skipped", st.get("frames", 0), st.get("people", 0),
                       st.get("detection_coverage", 0.0), done["source"]["fps"], 0.0,
                       "up to date", 0, tuple(done["run"].get("outputs", [])))


def lift_clip(pipeline: LiftPipeline, path: Path, *, keypoints_mode: bool = False,
              on_progress: Callable[[int, int], None] | None = None) -> ClipResult:
    """A clip's result: the pipeline's stages on the video (or the 2D file), then, when the outputs
    ask for it (:attr:`LiftSettings.fk_on`), the FK-consistent stage (3D regenerated from one fixed
    skeleton per track, so JSON / NPZ / CSV describe what the BVH holds). Its seconds are added to
    ``pipeline.last_timings`` and the header's ``run.timings_s``."""
    if keypoints_mode:
        result = pipeline.run_keypoints(path)
    else:
        result = pipeline.run_video(path, on_progress=on_progress)
    if pipeline.settings.fk_on:
        sw = Stopwatch()
        with sw.stage("fk_consistent"):
            result = fk_consistent_clip(result)
        pipeline.last_timings.update(sw.seconds)
        result.header["run"]["timings_s"] = {k: round(v, 4) for k, v in pipeline.last_timings.items()}
    return result


def pending_clip(pipeline: LiftPipeline, path: Path, out_dir: Path, stem: str, *, keypoints_mode: bool,
                 resume: bool) -> ClipSummary | None:
    """The resume rule: a ``skipped`` row when ``stem``'s outputs in ``out_dir`` are up to date for
    these settings and this input (same settings hash, same source fingerprint, every listed output
    present), else None (the clip must be processed)."""
    json_path = out_dir / f"{stem}.json"
    if not resume or not path.is_file():
        return None
    done = up_to_date(json_path, pipeline.settings_hash(keypoints_mode=keypoints_mode), path)
    return skipped_row(path, done) if done is not None else None


def process_clip(pipeline: LiftPipeline, path: Path, out_dir: Path, stem: str, *, keypoints_mode: bool = False,
                 resume: bool = True, on_frames: Callable[[int, int], None] | None = None,
                 on_error: Callable[[Path, BaseException], None] | None = None) -> ClipSummary:
    """One clip, start to finish: the resume check, the pipeline, the outputs (atomically), and its
    summary row. Never raises for a problem of this clip (it becomes a ``failed`` row); the engines
    (this module's :func:`run_batch`, :mod:`sasmamba_cli.engines.ray_engine`) call only this."""
    t0 = time.perf_counter()
    json_path = out_dir / f"{stem}.json"
    try:
        if json_path.resolve() == path.resolve():
            raise InputError(f"{path}: the result would overwrite its own input; "
                             "pass --out to a different folder")
        skipped = pending_clip(pipeline, path, out_dir, stem, keypoints_mode=keypoints_mode, resume=resume)
        if skipped is not None:
            return skipped
        result = lift_clip(pipeline, path, keypoints_mode=keypoints_mode, on_progress=on_frames)
        tw = time.perf_counter()
        with memtrace.stage("write"):
            written = write_outputs(pipeline, result, out_dir, stem, video=None if keypoints_mode else path)
        timings = {**pipeline.last_timings, "write": time.perf_counter() - tw}
        st = result.header["stats"]
        fk = result.header.get("fk_consistent")
        far = int(st.get("keypoints_out_of_range") or 0)
        det = result.header.get("detector") or {}
        notes = ([f"{far} keypoints far outside the image were treated as missing"] if far else []) + (
            [f"scores read as {det['scores']} (--scores {det['scores_asked']} asked)"]
            if det.get("scores_asked") not in (None, det.get("scores")) else []) + (
            [f"{st['keypoint_scores_clipped']} scores a little above 1 clipped to 1"]
            if st.get("keypoint_scores_clipped") else [])
        note = "; ".join(notes)
        return ClipSummary(str(path), "ok", st["frames"], st["people"], st["detection_coverage"],
                           result.fps, time.perf_counter() - t0, note, 0,
                           tuple(p.name for p in written), timings,
                           fk_summary_line(fk) if fk else "",
                           edge_summary_line(result.header.get("edge_trim")))
    except SasmambaError as e:
        return ClipSummary(str(path), "failed", seconds=time.perf_counter() - t0, message=str(e),
                           exit_code=e.exit_code)
    except Exception as e:
        if on_error:
            on_error(path, e)
        where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
        at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
        return ClipSummary(str(path), "failed", seconds=time.perf_counter() - t0,
                           message=f"unexpected {type(e).__name__}: {e}{at}", exit_code=1)


def run_batch(pipeline: LiftPipeline, inputs: list[Path], out_dir: Path, *, keypoints_mode: bool = False,
              resume: bool = True, reporter: Reporter | None = None,
              on_error: Callable[[Path, BaseException], None] | None = None) -> list[ClipSummary]:
    """The local engine: every clip in order, in this process (models loaded once)."""
    reporter = reporter or Reporter()
    stems = output_stems(inputs)
    rows: list[ClipSummary] = []
    for i, path in enumerate(inputs):
        reporter.clip_started(i, len(inputs), path)
        row = process_clip(pipeline, path, out_dir, stems[path], keypoints_mode=keypoints_mode, resume=resume,
                           on_frames=reporter.frames, on_error=on_error)
        rows.append(row)
        reporter.clip_finished(row)
    return rows


def write_summary_csv(rows: list[ClipSummary], path: Path) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SUMMARY_COLUMNS)
    for r in rows:
        w.writerow([r.clip, r.status, r.frames, r.people, f"{r.coverage:.4f}", f"{r.fps:.3f}",
                    f"{r.seconds:.2f}", r.message.replace("\n", " ")])
    write_bytes(path, buf.getvalue().encode())
    return path


def batch_exit_code(rows: list[ClipSummary]) -> int:
    codes = {r.exit_code for r in rows if r.status == "failed"}
    if not codes:
        return 0
    return codes.pop() if len(codes) == 1 else 1
