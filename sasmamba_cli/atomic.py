"""The one atomic writer: write a temporary file beside the target, then ``os.replace`` it.

A reader never sees a half-written file, and an interrupted run leaves the old file (or none)
in place. The temporary is hidden and named after the target, ``.NAME.XXXXXXXX.tmp.EXT`` (the
target's extension kept last, for writers that pick a format from it: video encoders,
matplotlib); it is removed when the write fails. Files get the usual mode (0666 less the umask),
not ``mkstemp``'s 0600.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (folders made); when the body returns, move it onto
    ``path``; when it raises, remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, 0o666 & ~_umask())
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, line endings as given) to ``path`` atomically; returns ``path``."""
    return write_pieces(path, [text])


def write_pieces(path: str | os.PathLike, pieces: Iterable[str]) -> Path:
    """Write text produced piece by piece (UTF-8, line endings as given) to ``path`` atomically,
    without holding the whole text in memory; returns ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            for piece in pieces:
                f.write(piece)
    return Path(path)
