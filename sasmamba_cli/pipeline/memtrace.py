"""Peak memory per stage, for ``benchmarks/bench_memory.py`` (off unless ``SASMAMBA_MEMTRACE`` is set),
:func:`release_free_memory`, which the pipeline calls between its big stages, and
:func:`large_blocks_mapped`, which keeps the 2D refinement's many full-length buffers from
fragmenting the heap.

``SASMAMBA_MEMTRACE=FILE``: every pipeline stage (:class:`.run.Stopwatch`) and the writing of a
clip's outputs append one JSON line to FILE: ``{"stage", "peak_mb", "rss_before_mb",
"rss_after_mb"}``. ``peak_mb`` is the highest resident set size of the process *during that
stage*: Linux's high-water mark (``VmHWM``) is reset at the stage's start by writing ``5`` to
``/proc/self/clear_refs``; where that is not allowed it is the peak since the process started
(``"reset": false``). ``peak_before_mb`` is the high-water mark just before that reset (for the
first stage: the peak of the imports and model loading). The reset also lowers what
``getrusage`` reports as ``ru_maxrss``: with the trace on, the process's peak is the largest of
all these numbers and the final ``ru_maxrss``. A stage entered several times (decode / detect / track on a video, once per
batch) gives one line per entry. Nothing here changes any output.
"""
from __future__ import annotations

import json
import os
import resource
from contextlib import contextmanager

ENV = "SASMAMBA_MEMTRACE"


def _status_mb(key: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024           # kB
    except OSError:
        pass
    return None


def rss_mb() -> float | None:
    """Resident set size now (MB), None where /proc is not available."""
    return _status_mb("VmRSS")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc ``malloc_trim``; a no-op elsewhere).

    Parsing and tracking a long clip create and free millions of small objects; glibc keeps the
    freed pages mapped, and the model stage that follows allocates its large buffers elsewhere
    (mmap), so without this the freed pages would add to the lift stage's peak (measured on a
    10-minute two-person keypoint file: 31 of the 88 MB held after tracking were such pages)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


M_MMAP_THRESHOLD = -3                   # glibc mallopt parameter
LARGE_BLOCK_BYTES = 1 << 20             # blocks from 1 MiB up get their own mapping in large_blocks_mapped
DYNAMIC_THRESHOLD_MAX = 32 << 20        # glibc's ceiling of its dynamic mmap threshold (64-bit)


def _mallopt(param: int, value: int) -> bool:
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").mallopt(param, value))
    except (OSError, AttributeError):
        return False


@contextmanager
def large_blocks_mapped(threshold: int = LARGE_BLOCK_BYTES):
    """Inside the block, every C-heap allocation of ``threshold`` bytes or more gets its own
    memory mapping, given back to the system when it is freed (glibc ``mallopt
    M_MMAP_THRESHOLD``; a no-op elsewhere). Nothing computed changes.

    glibc raises its mmap threshold to the size of each large block freed (up to 32 MiB), after
    which blocks of that size come from the heap; a solver that keeps dozens of full-length
    vectors (the L-BFGS history of :mod:`.refine2d`) while freeing as many temporaries of the same
    size leaves holes between them that cannot be returned. Measured on a 9,000-frame track: the
    refinement's peak above its inputs fell from 103 to 75 kB per frame (its history alone is 51),
    at about 30 % more time in that stage (fresh mappings are zero-filled). Afterwards the
    threshold is left at ``DYNAMIC_THRESHOLD_MAX``, where glibc's dynamic threshold ends up once a
    process has freed a block that large (model loading does)."""
    changed = _mallopt(M_MMAP_THRESHOLD, int(threshold))
    try:
        yield
    finally:
        if changed:
            _mallopt(M_MMAP_THRESHOLD, DYNAMIC_THRESHOLD_MAX)


@contextmanager
def stage(name: str):
    """Record the peak RSS of the ``with`` block as stage ``name`` (a no-op without the env var)."""
    target = os.environ.get(ENV)
    if not target:
        yield
        return
    before = rss_mb()
    prior = _peak_mb()               # peak since the last reset (or since the start: imports, models)
    reset = _reset_peak()
    try:
        yield
    finally:
        rec = {"stage": name, "peak_mb": round(_peak_mb(), 1), "peak_before_mb": round(prior, 1),
               "rss_before_mb": before,
               "rss_after_mb": rss_mb(), "reset": reset}
        with open(target, "a") as f:
            f.write(json.dumps(rec) + "\n")
