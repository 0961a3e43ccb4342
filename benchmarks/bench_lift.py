"""End-to-end speed of ``sasmamba lift`` per stage (decode, detect, track, lift, root, write).

    python benchmarks/bench_lift.py [--weights PATH] [--preset s --window 243] [--out docs/benchmarks_lift.md]

Clips: the bundled demo (assets/demo/cam01.mp4, 1080x1920, 60 fps, 100 frames) and a 720p clip made
here by resizing ../shared/data/videos/sports2d_two_people/demo.mp4 to 1280x720 (skipped when the
shared folder is absent). Lifter: ``--weights`` if given, else the shipped default weights if
installed, else a seeded (untrained) model of ``--preset``/``--window``: speed does not depend on
the weights' values. Model loading and the detector's first call are timed separately (once per
batch) and excluded from the per-clip frames/s.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
STAGES = ["decode", "detect", "track", "edges", "swaps", "lift", "root", "refine_2d", "smooth", "fk_consistent", "write"]
POST = ["edges", "swaps", "lift", "root", "refine_2d", "smooth", "fk_consistent", "write"]   # everything after tracking


def make_720p(src: Path, dst: Path) -> Path:
    import cv2

    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    w = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (1280, 720))
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        w.write(cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_AREA))
    w.release()
    cap.release()
    return dst


def seeded_weights(folder: Path, preset: str, window: int) -> Path:
    import torch
    from sasmamba_models import SasMambaLifter
    from sasmamba_models import preset as get_preset
    from sasmamba_models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    path = folder / f"seeded_{preset}_{window}"
    save_checkpoint(path, SasMambaLifter(get_preset(preset, max_frames=window)), window=window, fps=30,
                    preset=preset)
    return path


def _kernels() -> str:
    """Which CPU kernels the lifter ran (the compiled numba ones unless SASMAMBA_NUMBA=0 or numba is missing)."""
    from sasmamba_models.scan import load_numba_kernels

    if load_numba_kernels() is not None:
        return "compiled (numba: models/numba_kernels.py, the default)"
    why = "SASMAMBA_NUMBA=0" if os.environ.get("SASMAMBA_NUMBA") == "0" else "numba does not import"
    return f"pure torch ({why})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path)
    ap.add_argument("--preset", default="s")
    ap.add_argument("--window", type=int, default=243)
    ap.add_argument("--no-flip", action="store_true")
    ap.add_argument("--det-flip", action="store_true", help="detector flip TTA on (lift --det-flip; off by default)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks_lift.md")
    ap.add_argument("--append", action="store_true", help="append this run's section to --out")
    ap.add_argument("--busy", type=int, default=0, metavar="N",
                    help="keep N other processes spinning on the CPU during the run (a loaded machine)")
    args = ap.parse_args()
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        return _main(args)
    finally:
        for b in busy:
            b.kill()


def _main(args) -> int:

    tmp = Path(tempfile.mkdtemp(prefix="sasmamba_bench_"))
    os.environ.setdefault("YOLO_CONFIG_DIR", str(tmp / "yolo"))
    import torch

    from sasmamba_cli.batch import write_outputs
    from sasmamba_cli.weights import default_weights_path
    from sasmamba_cli.pipeline.run import LiftPipeline, LiftSettings
    from sasmamba_cli.pipeline.video import iter_frames, probe_video

    if args.weights:
        weights, wdesc = args.weights, f"`{args.weights}`"
    elif default_weights_path().is_file():
        weights, wdesc = None, "shipped default weights"
    else:
        weights = seeded_weights(tmp, args.preset, args.window)
        wdesc = f"seeded untrained preset `{args.preset}`, window {args.window} (default weights not yet shipped)"

    clips = [("demo 1080x1920 60 fps", ROOT / "assets" / "demo" / "cam01.mp4")]
    sports = SHARED / "data" / "videos" / "sports2d_two_people" / "demo.mp4"
    if sports.is_file():
        clips.append(("sports2d resized to 1280x720 30 fps", make_720p(sports, tmp / "sports2d_720p.mp4")))
    else:
        print(f"note: {sports} absent, 720p clip skipped", file=sys.stderr)

    settings = LiftSettings(weights=str(weights) if weights else None, device="cpu", flip_tta=not args.no_flip,
                            det_flip=args.det_flip,
                            formats=("json", "npz", "csv"))
    t0 = time.perf_counter()
    pipe = LiftPipeline(settings)
    t_lifter = time.perf_counter() - t0
    t0 = time.perf_counter()
    info = probe_video(clips[0][1])
    _, frame = next(iter_frames(info, max_frames=1))
    pipe.detector([frame])
    t_detector = time.perf_counter() - t0

    rows = []
    for name, path in clips:
        t_all = time.perf_counter()
        result = pipe.run_video(path)
        tw = time.perf_counter()
        write_outputs(pipe, result, tmp / "out", path.stem)
        timings = {**pipe.last_timings, "write": time.perf_counter() - tw}
        total = time.perf_counter() - t_all
        frames = result.header["stats"]["frames"]
        rows.append((name, frames, len(result.tracks), total, timings))
        print(f"{name}: {frames} frames, {len(result.tracks)} tracks, {frames / total:.2f} frames/s end to end",
              file=sys.stderr)

    cmd = "python benchmarks/bench_lift.py" + "".join(f" {a}" for a in sys.argv[1:])
    lines = [
        "# `sasmamba lift` speed per stage (CPU)",
        "",
        f"- Command: `{cmd}`",
        f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs (shared with "
        f"other jobs), torch {torch.__version__} with {torch.get_num_threads()} threads, Python "
        f"{platform.python_version()}, no GPU."
        + (f" **Loaded**: {args.busy} other process(es) spinning on the CPU during the run (--busy)." if args.busy else ""),
        f"- Lifter: {wdesc}; flip TTA {'off' if args.no_flip else 'on'}; detector yolo11n-pose at 640 px, "
        f"detector flip TTA {'on' if args.det_flip else 'off'}, "
        f"batch {settings.det_batch}; outputs json+npz+csv.",
        f"- CPU lifter kernels: {_kernels()}.",
        f"- One-off costs (not in the rows): pipeline load (lifter + smoothing filter) {t_lifter:.2f} s, detector load + first call "
        f"{t_detector:.2f} s. ultralytics sets torch to cpu_count - 1 threads on CPU; on this shared 2-core "
        "machine 1 thread was also the faster setting for the detector (2 threads: 3-4x slower per frame).",
        "",
        "| clip | frames | tracks | end-to-end frames/s | " + " | ".join(f"{s} s" for s in STAGES)
        + " | lift..write / detect |",
        "|---|---|---|---|" + "---|" * len(STAGES) + "---|",
    ]
    for name, frames, ntracks, total, t in rows:
        ratio = sum(t.get(s, 0.0) for s in POST) / max(t.get("detect", 1e-9), 1e-9)
        lines.append(f"| {name} | {frames} | {ntracks} | {frames / total:.2f} | "
                     + " | ".join(f"{t.get(s, 0.0):.2f}" for s in STAGES) + f" | {100 * ratio:.0f} % |")
    lines += ["", "Per-frame detector cost: " + ", ".join(
        f"{name}: {1000 * t['detect'] / frames:.0f} ms" for name, frames, _, _, t in rows) + ".", ""]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.append and args.out.is_file():
        section = text.replace("# `sasmamba lift` speed", "## `sasmamba lift` speed", 1)
        text = args.out.read_text().rstrip("\n") + "\n\n" + section
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
