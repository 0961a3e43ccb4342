"""``sasmamba data build``'s library side: many files -> one dataset, bad files skipped."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import SasmambaError
from .convert import convert_file, find_sources
from .dataset import Clip, MocapDataset, from_clips
from .rigs import load_rig


@dataclass(frozen=True)
class BuildResult:
    """``dataset`` (None when no file converted), ``failures`` [(path, message)], ``files`` tried."""

    dataset: MocapDataset | None
    failures: list = field(default_factory=list)
    files: int = 0


def build_dataset(srcs: list[Path], rig_name: str, fps: float,
                  progress: Callable[[Path], None] | None = None) -> BuildResult:
    """Convert every motion file under ``srcs`` with rig ``rig_name`` at ``fps``.

    A file that fails (unreadable, malformed, wrong rig) is recorded in ``failures`` and skipped;
    ``progress(path)`` is called after each file."""
    rig = load_rig(rig_name)
    files = find_sources([Path(s) for s in srcs], rig)
    clips: list[Clip] = []
    failures = []
    seen = set()
    for p in files:
        try:
            clip = convert_file(p, rig, fps)
            if clip.clip_id in seen:
                raise SasmambaError(f"duplicate clip id {clip.clip_id!r} (same file name twice?)")
            seen.add(clip.clip_id)
            clips.append(clip)
        except SasmambaError as e:
            failures.append((p, str(e)))
        except Exception as e:
            failures.append((p, f"{type(e).__name__}: {e}"))
        if progress is not None:
            progress(p)
    return BuildResult(from_clips(clips, fps) if clips else None, failures, len(files))
