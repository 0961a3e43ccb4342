"""Rendering speed: frames/s of ``render_result`` on a 720p 30 fps clip (goal: faster than real time).

Usage (from the repository root, with ../shared present):
    .venv/bin/python benchmarks/bench_render.py [--frames N] [--out benchmarks_render.md]   # then pasted into docs/benchmarks.md

The 720p clip is made here by resizing shared/data/videos/sports2d_two_people/demo.mp4
(1768x994, 30 fps, VP9) to 1280x720 H.264 in a temporary folder; the result is synthetic (two
tracks of smooth random motion with 2D projections), so the numbers measure rendering only.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO.parent / "shared" / "data" / "videos" / "sports2d_two_people" / "demo.mp4"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def make_720p(src: Path, dst: Path, max_frames: int | None) -> int:
    import cv2

    from sasmamba_cli.render.video_io import VideoWriter, probe, read_frames

    fps = probe(src).fps
    n = 0
    with VideoWriter(dst, 1280, 720, fps) as w:
        for frame in read_frames(src):
            w.write(cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_AREA))
            n += 1
            if max_frames and n >= max_frames:
                break
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=None, help="limit the clip length (default: all 230)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks_render.md"))
    args = ap.parse_args()
    if not DEMO.is_file():
        print(f"skipped: {DEMO} not found (needs the shared data folder next to the repository)",
              file=sys.stderr)
        return 2
    import av
    import cv2
    import numpy as np

    from sasmamba_cli.export.synthetic import synthetic_result
    from sasmamba_cli.render.compose import render_result_stats
    from sasmamba_cli.render.summary import write_summary
    from sasmamba_cli.render.video_io import read_frames

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "demo_720p.mp4"
        n = make_720p(DEMO, clip, args.frames)
        res = synthetic_result(n, 2, seed=0, fps=30.0, width=1280, height=720, anatomical=True,
                               distance_m=5.0)
        t0 = time.perf_counter()
        decoded = sum(1 for _ in read_frames(clip))
        t_decode = time.perf_counter() - t0
        t0 = time.perf_counter()
        st = render_result_stats(res, clip, Path(tmp) / "render.mp4", summary=False)
        t_render = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_summary(res, Path(tmp) / "summary.png")
        t_summary = time.perf_counter() - t0
        t0 = time.perf_counter()
        st_blank = render_result_stats(res, None, Path(tmp) / "blank.mp4", summary=False)
        t_blank = time.perf_counter() - t0
    assert st.frames == decoded == n, (st.frames, decoded, n)
    fps_render = st.frames / t_render
    rows = [
        ("decode only (OpenCV, 1280x720 H.264)", decoded, t_decode),
        (f"render with video -> {st.size[0]}x{st.size[1]} H.264 ({st.backend})", st.frames, t_render),
        (f"render without video (blank 2D panel) -> {st_blank.size[0]}x{st_blank.size[1]}", st_blank.frames, t_blank),
    ]
    lines = [
        "# Rendering speed (`sasmamba render`)",
        "",
        f"Measured {date.today().isoformat()} with `benchmarks/bench_render.py`:",
        "",
        "```",
        ".venv/bin/python benchmarks/bench_render.py" + (f" --frames {args.frames}" if args.frames else ""),
        "```",
        "",
        f"- machine: {cpu_name()}, {os.cpu_count()} logical cores (shared with other jobs: numbers vary)",
        f"- Python {platform.python_version()}, numpy {np.__version__}, OpenCV {cv2.__version__}, PyAV {av.__version__}",
        f"- input: `shared/data/videos/sports2d_two_people/demo.mp4` resized to 1280x720, 30 fps, {n} frames "
        "(H.264); result: synthetic, 2 tracks",
        "",
        "| stage | frames | seconds | frames/s | x real time (30 fps) |",
        "|---|---|---|---|---|",
    ]
    for name, frames, secs in rows:
        lines.append(f"| {name} | {frames} | {secs:.2f} | {frames / secs:.1f} | {frames / secs / 30:.2f} |")
    lines += ["", f"Summary PNG (matplotlib, once per clip): {t_summary:.2f} s.", "",
              f"Goal faster than real time (>= 30 frames/s): {'met' if fps_render >= 30 else 'NOT met'} "
              f"({fps_render:.1f} frames/s with video).", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from sasmamba_cli.atomic import write_text
    write_text(args.out, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
