"""The one place that composes the stages:

    decode -> detect -> track -> (edge trim) -> select people -> (left/right swap repair) -> COCO->H36M
    -> (resample) -> normalise -> window -> lift (flip TTA)
    -> merge -> metric scale -> root trajectory -> (smooth) -> ClipResult

(``--keypoints`` skips decode and detect; the edge trim of partly visible frames at each track's
start and end is ``--edge-min-visible`` (:mod:`.edges`, on by default; it runs before
``--max-people`` selects people); swap repair is ``--fix-swaps`` (:mod:`.swaps`, on by
default); smoothing is ``--smooth`` (:mod:`.smooth`, identity for
``none``; its jitter report is always made)). Models are loaded once per :class:`LiftPipeline` and
reused for every clip of a batch. The FK-consistent stage that some outputs ask for
(:attr:`LiftSettings.fk_on`) and writing files are the clip composer's job
(:func:`sasmamba_cli.batch.lift_clip`, :func:`sasmamba_cli.batch.write_outputs`).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import InputError, NoPersonError
from ..skeleton import coco_to_h36m
from .detect import DetectorWeights, PoseDetector, resolve_detector_weights, resolve_device
from .edges import DEFAULT_EDGE_MIN_VISIBLE, edge_trim_header, trim_tracks
from . import memtrace
from .lifting import LiftOptions, LoadedLifter, lift_sequences_rolled, load_lifter
from .result import AXES, SCHEMA, SCHEMA_VERSION, UNITS, ClipResult, TrackResult, skeleton_header
from .roll import MAX_ROLL_DEG
from .scores import default_kp_threshold, score_names
from .root import camera_from_fov, estimate_root, metric_scale
from .smooth import (DEFAULT_SMOOTH, parse_smooth, parse_smooth_2d, smooth_keypoints_2d, smooth_track,
                     smoothing_header, warm_up)
from .swaps import DEFAULT_PENALTY, repair_track, swap_repair_header
from .track import Track, Tracker, TrackerConfig, select_order, tracks_from_ids

ProgressFn = Callable[[int, int], None]     # (frames done, frames expected or 0)
STORE_DTYPE = np.float32                    # a result's COCO 2D while the pipeline holds it


@dataclass(frozen=True)
class LiftSettings:
    """Every option of ``sasmamba lift`` that changes what is computed (see ``sasmamba lift --help``)."""

    weights: str | None = None            # lifter checkpoint; None = the shipped default
    detector_weights: str | None = None
    allow_download: bool = False
    device: str = "auto"
    height_m: float = 1.70                # body-height prior for the metric scale
    fov_deg: float = 60.0                 # assumed field of view along the longer image side
    overlap: int | None = None            # window overlap in frames; None = window // 4
    flip_tta: bool = True
    resample: bool = True                 # lift at the checkpoint's training fps
    lift_batch: int = 32                  # windows per lifter forward pass
    lift_threads: int | None = 0          # torch CPU threads while lifting: 0 = cpu_lift_threads() on CPU
                                          # (half the cores, fewer when busy), None = torch's current setting
    det_batch: int = 8                    # frames per detector call
    imgsz: int = 640
    det_conf: float = 0.25                # person box threshold
    kp_threshold: float = field(default_factory=default_kp_threshold)   # keypoints below this confidence
                                          # are missing; default: the table (pipeline.scores), 0.1 for YOLO
    max_gap_s: float = 1.0                # longest occlusion bridged by interpolation
    min_track_s: float = 0.5              # shorter tracks (detected time) are dropped
    max_people: int | None = None
    select: str = "largest"
    start_frame: int = 0
    max_frames: int | None = None
    fps: float | None = None              # override the video's / keypoint file's frame rate
    image_size: tuple[int, int] | None = None   # for keypoint files without a size
    formats: tuple[str, ...] = ("json",)
    fk_consistent: bool | None = None     # regenerate 3D from a fixed skeleton; None = on with 'bvh'
    render: bool = False                  # also write <stem>_render.mp4 + <stem>_render_summary.png
    smooth: str = DEFAULT_SMOOTH          # temporal filter spec (pipeline.smooth.parse_smooth), canonical form
    fix_swaps: bool = True                # repair short left/right label swaps in the 2D (pipeline.swaps)
    edge_min_visible: float = DEFAULT_EDGE_MIN_VISIBLE   # trim track edges with fewer visible keypoints
                                                         # (pipeline.edges); 0 = off
    refine_crops: bool = False            # second, top-down YOLO pass on each person's crop (pipeline.topdown)
    det_flip: bool = False                # detector flip test-time augmentation (pipeline.flip2d)
    smooth_2d: str = "none"               # temporal filter of the 2D fed to the lifter (pipeline.smooth)
    refine_2d: bool = True                # adjust the 3D to reproject onto the confident 2D (pipeline.refine2d)
    detector: str = "yolo"                # 2D backend: yolo | mediapipe (BlazePose on each YOLO box)
    scores: str = "raw"                   # keypoint files: how their scores become confidences (pipeline.scores)
    upright: bool = True                  # lift each track with its torso turned upright (camera roll,
                                          # pipeline.roll), 3D turned back about the optical axis

    @property
    def fk_on(self) -> bool:
        """Whether the FK-consistent stage runs (``fk_consistent``, or by default: 'bvh' in formats)."""
        return ("bvh" in self.formats) if self.fk_consistent is None else bool(self.fk_consistent)

    def tracker_config(self, fps: float) -> TrackerConfig:
        """The tracker's settings. People are not selected there (``max_people`` None): the edge
        trim runs first, then :func:`finish_tracks` applies ``--max-people`` / ``--select``."""
        return TrackerConfig(max_gap=max(1, int(round(self.max_gap_s * fps))),
                             min_frames=max(1, int(round(self.min_track_s * fps))),
                             max_people=None, select=self.select)


class Stopwatch:
    """Seconds per stage, accumulated."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        t0 = time.perf_counter()
        try:
            with memtrace.stage(name):
                yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0


def cpu_lift_threads(cpu_count: int | None = None, load: float | None = None) -> int:
    """torch threads for the lift stage on a CPU: half the cores at most, fewer when the machine is
    busy (1-minute load average), never below 1. Measured on the 2-core machine with another
    process busy: 2 threads made the s81 lift stage 5-10x slower than 1 (docs/benchmarks.md,
    "Threads under load"); OpenMP threads that wait on a busy core spin instead of working."""
    n = cpu_count or os.cpu_count() or 1
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (OSError, AttributeError):
            load = 0.0
    free = n - int(np.ceil(max(load, 0.0) - 0.5))          # cores not busy with other work
    return max(1, min(n // 2, free))


def source_fingerprint(path: Path) -> dict:
    st = Path(path).stat()
    return {"name": Path(path).name, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def source_frame_count(header_count: int, start_frame: int, max_frames: int | None, frames_seen: int) -> int:
    """``source.frame_count``: the length (frames) of the whole input video, as well as it is known.

    ``frames_seen`` frames were decoded and processed from ``start_frame`` on, so the decoder went
    through ``start_frame + frames_seen`` frames (the skipped ones before ``start_frame`` are
    decoded too). When the stream was read to its end (no ``--max-frames``, or fewer frames than
    it asked for) that is the exact count, whatever the header says. When ``--max-frames`` stopped
    decoding early the rest was never read: the header's count ``header_count`` is used if the
    container reports one (never less than what was decoded), else (OpenCV reports 0 or a negative
    count for some containers and streams) the number of frames decoded.
    """
    decoded = max(int(start_frame), 0) + max(int(frames_seen), 0)
    cut = max_frames is not None and frames_seen >= max_frames
    return max(int(header_count), decoded) if cut else decoded


def _preset_of(arch: str, config: dict | None) -> str | None:
    """Name of the SasMamba preset whose architecture matches, if any (the window length and the
    input channels, 2 = x, y or 3 = x, y, confidence, are training choices, not the preset)."""
    if arch != "sasmamba" or not config:
        return None
    from sasmamba_models import PRESETS

    free = ("max_frames", "in_chans")
    strip = {k: v for k, v in config.items() if k not in free}
    for name, cfg in PRESETS.items():
        ref = {k: v for k, v in cfg.to_dict().items() if k not in free}
        if ref == strip:
            return name
    return None


class LiftPipeline:
    """Loaded models + settings; ``run_video(path)`` / ``run_keypoints(path)`` -> :class:`ClipResult`."""

    def __init__(self, settings: LiftSettings, *, lifter: LoadedLifter | None = None):
        warm_up(parse_smooth(settings.smooth))        # a bad --smooth fails before any model loads
        if not 0.0 <= settings.edge_min_visible <= 1.0:
            raise InputError(f"expected --edge-min-visible between 0 (off) and 1, found {settings.edge_min_visible}")
        if settings.detector not in ("yolo", "mediapipe"):
            raise InputError(f"unknown --detector {settings.detector!r}; expected yolo or mediapipe")
        if settings.scores not in score_names():
            raise InputError(f"unknown --scores {settings.scores!r}; expected one of {', '.join(score_names())}")
        self.settings = settings
        self.device = resolve_device(settings.device)
        self.lifter = lifter or load_lifter(settings.weights, self.device)
        self._det_weights: DetectorWeights | None = None
        self._detector: PoseDetector | None = None
        self.last_timings: dict[str, float] = {}

    def _lift_threads(self) -> int | None:
        t = self.settings.lift_threads
        if t == 0:
            return cpu_lift_threads() if str(self.device).startswith("cpu") else None
        return t

    # --- models -------------------------------------------------------------------------
    @property
    def detector_weights(self) -> DetectorWeights:
        if self._det_weights is None:
            self._det_weights = resolve_detector_weights(self.settings.detector_weights,
                                                         allow_download=self.settings.allow_download)
        return self._det_weights

    @property
    def detector(self) -> PoseDetector:
        if self._detector is None:
            s = self.settings
            det = PoseDetector(self.detector_weights, device=self.device, imgsz=s.imgsz,
                               conf=s.det_conf, kp_threshold=s.kp_threshold, allow_download=s.allow_download)
            if s.det_flip and s.detector == "yolo":
                from .flip2d import FlipTTA

                det = FlipTTA(det)
            if s.detector == "mediapipe":
                from .blazepose import BlazePoseDetector

                det = BlazePoseDetector(det, kp_threshold=s.kp_threshold)
            elif s.refine_crops:
                from .topdown import CropRefiner

                det = CropRefiner(det)
            self._detector = det
        return self._detector

    # --- descriptions -------------------------------------------------------------------
    def model_header(self) -> dict:
        m = self.lifter.metadata
        return {"arch": self.lifter.arch, "preset": m.get("preset") or _preset_of(self.lifter.arch, m.get("config")),
                "config": m.get("config"),
                "weights": str(self.lifter.weights_path), "weights_sha256": m.get("weights_sha256"),
                "window": self.lifter.window, "fps": self.lifter.fps, "in_chans": self.lifter.in_chans,
                "licence": m.get("licence")}

    def detector_header(self) -> dict:
        w = self.detector_weights
        s = self.settings
        head = {"name": w.name, "weights": w.path, "weights_sha256": w.sha256, "weights_source": w.source,
                "weights_recognised": w.recognised,
                "imgsz": s.imgsz, "box_threshold": s.det_conf, "keypoint_threshold": s.kp_threshold,
                "keypoints": "coco17", "backend": s.detector,
                "refine_crops": bool(s.refine_crops and s.detector == "yolo"),
                "flip_tta": bool(s.det_flip and s.detector == "yolo")}
        flip = next((d for d in (self.detector, getattr(self.detector, "first", None)) if hasattr(d, "fused")), None)
        if head["flip_tta"] and flip is not None:
            head.update({"people_flip_fused": flip.fused, "people_flip_unmatched": flip.kept})
        if head["refine_crops"]:
            det = self.detector
            head.update({"boxes_refined": det.refined, "boxes_kept_first_pass": det.kept})
        if s.detector == "mediapipe":
            det = self.detector
            head.update({"keypoint_model": "mediapipe BlazePose full (static image, on each YOLO box)",
                         "mediapipe_version": det.version, "scores": "blazepose-visibility (confidence 1 inside "
                         "the image)", "boxes_refined": det.refined, "boxes_kept_yolo": det.kept})
        return head

    def settings_header(self) -> dict:
        s = self.settings
        window = self.lifter.window
        overlap = LiftOptions(overlap=s.overlap).overlap_for(window)
        overlap = min(max(overlap, 0), window - 1)
        return {"window": window, "overlap": overlap, "stride": window - overlap, "merge": "linear cross-fade",
                "flip_tta": s.flip_tta, "resample_to_model_fps": s.resample, "height_m": s.height_m,
                "fov_deg": s.fov_deg, "max_gap_s": s.max_gap_s, "min_track_s": s.min_track_s,
                "max_people": s.max_people, "select": s.select, "start_frame": s.start_frame,
                "max_frames": s.max_frames, "fps_override": s.fps, "formats": list(s.formats),
                "fk_consistent": s.fk_on, "render": s.render,
                "smooth": parse_smooth(s.smooth).as_dict(), "fix_swaps": s.fix_swaps,
                "edge_min_visible": s.edge_min_visible, "upright": s.upright,
                "smooth_2d": parse_smooth_2d(s.smooth_2d).as_dict(), "det_flip": s.det_flip,
                "refine_2d": s.refine_2d,
                "scale_method": "median ankle-to-shoulder chain = 0.779 x height_m",
                "root_method": "per-frame weighted least-squares reprojection of the metric skeleton"}

    def settings_hash(self, keypoints_mode: bool = False) -> str:
        """Hash of everything that determines the outputs (resume compares it)."""
        s = asdict(self.settings)
        s["fk_consistent"] = self.settings.fk_on          # the resolved value, not the 'auto' default
        s["smooth"] = str(parse_smooth(self.settings.smooth))   # 'butterworth' == 'butterworth:6'
        s["smooth_2d"] = str(parse_smooth_2d(self.settings.smooth_2d))
        s["formats"] = sorted(self.settings.formats)            # the order given on the command line does not matter
        for k in ("device", "lift_batch", "lift_threads", "det_batch", "allow_download", "weights",
                  "detector_weights"):
            s.pop(k)
        blob = {"settings": s, "schema_version": SCHEMA_VERSION, "sasmamba": __version__,
                "lifter_sha256": self.lifter.metadata.get("weights_sha256"),
                "detector_sha256": None if keypoints_mode else self.detector_weights.sha256}
        if keypoints_mode:                  # how a keypoint file is read changed without a new setting
            from .keypoints_io import READ_RULES
            blob["keypoint_read_rules"] = READ_RULES
        return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]

    # --- stages -------------------------------------------------------------------------
    def run_video(self, path: str | Path, on_progress: ProgressFn | None = None) -> ClipResult:
        from .video import iter_batches, probe_video

        s = self.settings
        sw = Stopwatch()
        with sw.stage("decode"):
            info = probe_video(path, s.fps)
        detector = self.detector                      # load before timing starts (once per batch)
        for d in (detector, getattr(detector, "first", None)):     # per-clip counts of the 2D stages
            if hasattr(d, "refined"):
                d.refined = d.kept = 0
            if hasattr(d, "fused"):
                d.fused = d.kept = 0
        tracker = Tracker(s.tracker_config(info.fps))
        expected = info.frame_count - s.start_frame if info.frame_count else 0
        if s.max_frames is not None:
            expected = min(expected, s.max_frames) if expected > 0 else s.max_frames
        frames_seen = frames_with_person = 0
        batches = iter_batches(info, s.det_batch, start=s.start_frame, max_frames=s.max_frames)
        while True:
            with sw.stage("decode"):
                item = next(batches, None)
            if item is None:
                break
            idx, frames = item
            with sw.stage("detect"):
                dets = detector(frames)
            with sw.stage("track"):
                for f, d in zip(idx, dets):
                    tracker.update(f, d)
                    frames_with_person += d.count > 0
            frames_seen += len(idx)
            if on_progress:
                on_progress(frames_seen, max(expected, 0))
        with sw.stage("track"):
            tracks = tracker.finish()
        if not tracks:
            raise NoPersonError(f"no person tracked in {path}: {frames_with_person} of {frames_seen} frames had a "
                                f"detection (box threshold {s.det_conf}, min track {s.min_track_s} s). "
                                "Expected at least one person visible for a while; try --det-conf 0.1 or "
                                "--min-track 0.1")
        with sw.stage("edges"):
            tracks, edge_block = finish_tracks(tracks, s, info.fps, path)
        source = {"path": str(path), "fps": info.fps,
                  "frame_count": source_frame_count(info.frame_count, s.start_frame, s.max_frames, frames_seen),
                  "frames_processed": frames_seen, "start_frame": s.start_frame,
                  "width": info.width, "height": info.height, "rotation": info.rotation, "codec": info.codec,
                  "fingerprint": source_fingerprint(Path(path))}
        stats = {"frames": frames_seen, "frames_with_detection": int(frames_with_person),
                 "detection_coverage": round(frames_with_person / max(frames_seen, 1), 4)}
        return self._finish(tracks, source, self.detector_header(), stats, sw, edge_block)

    def run_keypoints(self, path: str | Path) -> ClipResult:
        from .keypoints_io import read_keypoints

        s = self.settings
        sw = Stopwatch()
        with sw.stage("decode"):
            kps = read_keypoints(path, image_size=s.image_size, fps=s.fps, kp_threshold=s.kp_threshold,
                                 scores=s.scores)
        cfg = s.tracker_config(kps.fps)
        with sw.stage("track"):
            if kps.track_ids is not None:
                tracks = tracks_from_ids(kps.detections, kps.track_ids, cfg)
            else:
                tracker = Tracker(cfg)
                for f in sorted(kps.detections):
                    tracker.update(f, kps.detections[f])
                tracks = tracker.finish()
        n_det = len(kps.detections)
        # the per-frame detections are in the tracks now: free them before the later stages run
        kps = replace(kps, detections={}, track_ids=None)
        if not tracks:
            raise NoPersonError(f"no person track in keypoint file {path}: {n_det} frames with "
                                f"keypoints, none long enough (min track {s.min_track_s} s); try --min-track 0")
        with sw.stage("edges"):
            tracks, edge_block = finish_tracks(tracks, s, kps.fps, path)
        source = {"path": str(path), "fps": kps.fps, "frame_count": kps.frame_count,
                  "frames_processed": kps.frame_count, "start_frame": 0, "width": kps.width,
                  "height": kps.height, "rotation": kps.rotation, "codec": None,
                  "fingerprint": source_fingerprint(Path(path))}
        stats = {"frames": kps.frame_count, "frames_with_detection": n_det,
                 "detection_coverage": round(n_det / max(kps.frame_count, 1), 4),
                 "keypoints_out_of_range": kps.out_of_range, "keypoint_scores_clipped": kps.scores_clipped}
        detector = {"name": "keypoint-file", "weights": None, "weights_sha256": None, "layout": kps.layout,
                    "keypoint_threshold": s.kp_threshold, "keypoints": "coco17", "scores": kps.scores,
                    "scores_asked": s.scores}
        return self._finish(tracks, source, detector, stats, sw, edge_block)

    def _finish(self, tracks: list[Track], source: dict, detector: dict, stats: dict, sw: Stopwatch,
                edge_block: dict) -> ClipResult:
        s = self.settings
        width, height, fps = source["width"], source["height"], float(source["fps"])
        camera = camera_from_fov(width, height, s.fov_deg)
        with sw.stage("swaps"):
            tracks, swap_block = repair_swaps(tracks, s.fix_swaps)
        memtrace.release_free_memory()        # the pages that decoding / parsing and tracking freed
        with sw.stage("lift"):
            kp_h36m = [coco_to_h36m(t.keypoints_px) for t in tracks]
            spec_2d = parse_smooth_2d(s.smooth_2d)
            # without a 2D filter the lifter reads kp_h36m itself (it does not write to it): no copy
            kp_in = kp_h36m if spec_2d.name == "none" else [smooth_keypoints_2d(k, fps, spec_2d) for k in kp_h36m]
            rel, rolls = lift_sequences_rolled(
                self.lifter, kp_in, width, height, fps,
                LiftOptions(overlap=s.overlap, flip_tta=s.flip_tta, batch_size=s.lift_batch,
                            resample=s.resample, threads=self._lift_threads(), upright=s.upright))
            del kp_in
        memtrace.release_free_memory()        # the lift's freed buffers
        with sw.stage("root"):
            # each track's H36M 2D and lifter output are dropped as soon as its result is made
            results = []
            for i, t in enumerate(tracks):
                results.append(track_result(t, kp_h36m.pop(0), rel.pop(0), s.height_m, camera))
                # the track keeps the result's float32 COCO 2D (no float64 copy held on)
                tracks[i] = replace(t, keypoints_px=results[-1].keypoints_2d_coco_px)
        memtrace.release_free_memory()
        refine_block = {"enabled": bool(s.refine_2d), "tracks": []}
        if s.refine_2d:
            with sw.stage("refine_2d"), memtrace.large_blocks_mapped():
                results, refine_block["tracks"] = refine_results(results, camera, fps)
            memtrace.release_free_memory()    # the solver's history and graphs
        with sw.stage("smooth"):
            results, smoothing = smooth_results(results, fps, s.smooth)
        stats = {**stats, "people": len(results),
                 "interpolated_frames": int(sum(int((~t.detected).sum()) for t in tracks)),
                 "track_frames": [int(t.length) for t in tracks]}
        header = {
            "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "generator": f"sasmamba {__version__}",
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "source": source, "units": dict(UNITS), "axes": dict(AXES), "skeleton": skeleton_header(),
            "camera": camera.as_dict(), "model": self.model_header(), "detector": detector,
            "settings": self.settings_header(), "stats": stats, "edge_trim": edge_block, "swap_repair": swap_block,
            "smoothing": smoothing, "refine_2d": refine_block,
            "upright": {"enabled": s.upright, "max_roll_deg": MAX_ROLL_DEG,
                        "method": "2D turned about the image centre so the track's median torso points up; "
                                  "3D turned back about the optical axis",
                        "tracks": [{"track_id": int(t.track_id), "roll_deg": round(float(np.degrees(r)), 2)}
                                   for t, r in zip(tracks, rolls)]},
            "run": {"settings_hash": self.settings_hash(keypoints_mode=detector.get("name") == "keypoint-file"),
                    "timings_s": {}},
        }
        clip = ClipResult(header, results)
        memtrace.release_free_memory()        # the lift's freed buffers, before the writers run
        self.last_timings = dict(sw.seconds)
        clip.header["run"]["timings_s"] = {k: round(v, 4) for k, v in sw.seconds.items()}
        return clip


def track_result(t: Track, kp: np.ndarray, rel: np.ndarray, height_m: float, camera) -> TrackResult:
    """One track's result before refinement and smoothing: the lifter's root-relative output ``rel
    (n, 17, 3)`` (model units) scaled to metres by the body-height prior, the root trajectory from
    it and the H36M 2D ``kp (n, 17, 3)`` px + confidence (:mod:`.root`), and the track's 2D and
    masks (missing H36M 2D: NaN coordinates). ``confidence`` is a view of the H36M 2D's third
    channel (the same numbers; not a second full-length array). The detector's COCO 2D, which no
    later stage computes with, is stored as ``STORE_DTYPE`` (float32: half its memory from here
    to the writers, which write float64 / rounded text; at most ~6e-5 px off at 1,000 px); the
    H36M 2D and the 3D, which the refinement and smoothing read, stay float64 (a float32 H36M 2D
    moves the refinement's L-BFGS path by up to ~2e-5 m on a short track), and so do the boxes
    (their 0.1 px JSON rounding sits on ties for many padded keypoint boxes)."""
    scale = metric_scale(rel, height_m)
    joints_m = rel * scale
    root = estimate_root(joints_m, kp, camera)
    kp_out = kp.copy()
    kp_out[kp_out[..., 2] <= 0, :2] = np.nan
    return TrackResult(
        track_id=t.track_id, frames=t.frames, keypoints_2d_px=kp_out,
        keypoints_2d_coco_px=np.asarray(t.keypoints_px, STORE_DTYPE), boxes_px=t.boxes_px,
        joints_3d_m=joints_m, root_3d_m=root, confidence=kp_out[..., 2], interpolated=~t.detected, scale=scale,
        keypoints_interpolated=h36m_mask(t.joint_interpolated) | ~t.detected[:, None],
        keypoints_coco_interpolated=np.asarray(t.joint_interpolated, bool) | ~t.detected[:, None])


def h36m_mask(coco_mask: np.ndarray) -> np.ndarray:
    """(n, 17) COCO-order bool -> H36M order: an H36M joint is flagged when any of its sources is."""
    from ..skeleton import coco_to_h36m_matrix

    src = (coco_to_h36m_matrix() > 0).astype(np.int64)                # (17 H36M, 17 COCO)
    return (np.asarray(coco_mask, bool).astype(np.int64) @ src.T) > 0


def finish_tracks(tracks: list[Track], settings: LiftSettings, fps: float,
                  path: str | Path = "input") -> tuple[list[Track], dict]:
    """The tracker's tracks (all people, ids by first appearance) -> the tracks to lift and the
    result's top-level ``edge_trim`` block: leading / trailing frames with fewer than
    ``settings.edge_min_visible`` of the keypoints visible removed, tracks with no such frame or
    with fewer detected frames left than ``--min-track`` dropped (:mod:`.edges`), then at most
    ``--max-people`` kept by ``--select`` and ids renumbered 0.. by first frame. Raises
    :class:`NoPersonError` when the trim leaves no track."""
    s = settings
    min_frames = s.tracker_config(fps).min_frames
    if s.edge_min_visible > 0:
        kept, reports, dropped = trim_tracks(tracks, s.edge_min_visible, s.kp_threshold, min_frames)
    else:
        kept, reports, dropped = list(tracks), [], []
    if not kept:
        raise NoPersonError(
            f"no person track left in {path} after the edge trim: every one of the {len(tracks)} track"
            f"{'s' if len(tracks) != 1 else ''} had fewer than {min_frames} detected frames between its first "
            f"and last frame with at least {s.edge_min_visible:.0%} of the 17 keypoints at confidence >= "
            f"{s.kp_threshold} (best frame: {max(d.max_visible for d in dropped):.0%}). Expected a person "
            "mostly visible for a while; pass --edge-min-visible 0 to lift the partly visible frames anyway, "
            "or a lower fraction")
    order = select_order(kept, s.max_people, s.select)
    out = [replace(kept[k], track_id=i) for i, k in enumerate(order)]
    track_block = [reports[k].as_dict(i) for i, k in enumerate(order)] if reports else []
    return out, edge_trim_header(s.edge_min_visible, s.kp_threshold, track_block,
                                 [d.as_dict() for d in dropped])


def repair_swaps(tracks: list[Track], enabled: bool) -> tuple[list[Track], dict]:
    """Every track's 2D with short left/right label swaps repaired (:mod:`.swaps`; unchanged when
    not ``enabled``), and the result's top-level ``swap_repair`` block (frames swapped per track
    and joint pair). The list is updated in place (and returned)."""
    if not enabled:
        return tracks, swap_repair_header(False, DEFAULT_PENALTY, [])
    reports = []
    for i, t in enumerate(tracks):
        fixed, report = repair_track(t)
        tracks[i] = fixed                 # in place: the caller's list no longer holds the unrepaired 2D
        reports.append({"track_id": int(t.track_id), **report.as_dict()})
    return tracks, swap_repair_header(True, DEFAULT_PENALTY, reports)


def refine_results(tracks: list[TrackResult], camera, fps: float) -> tuple[list[TrackResult], list[dict]]:
    """Every track's 3D adjusted to reproject onto its confident 2D (:mod:`.refine2d`; ``fps`` of
    the tracks' frames sets its temporal term), and a report per track (2D residual before and
    after, mean change). The list is updated in place (and returned), so each track's old 3D is
    freed as soon as its refined 3D is made."""
    from .refine2d import refine_track

    reports = []
    for i, t in enumerate(tracks):
        # the 2D seen (finite, confidence > 0, not interpolated) is used; refine_track reads the
        # confidences from the H36M 2D's third channel (track_result: equal to t.confidence)
        kp = t.keypoints_2d_px if np.array_equal(t.keypoints_2d_px[..., 2], t.confidence) else \
            np.concatenate([t.keypoints_2d_px[..., :2], t.confidence[..., None]], -1)
        # in place: the result's own 3D (made by track_result, nothing else holds it) is overwritten
        joints, root, report = refine_track(t.joints_3d_m, t.root_3d_m, kp, camera, fps,
                                            unseen=t.joint_interpolated(), in_place=True)
        del kp
        tracks[i] = t = replace(t, joints_3d_m=joints, root_3d_m=root)
        del joints, root
        reports.append({"track_id": int(t.track_id), **report})
    return tracks, reports


def smooth_results(tracks: list[TrackResult], fps: float, spec_text: str) -> tuple[list[TrackResult], dict]:
    """Every track's ``joints_3d_m`` and ``root_3d_m`` filtered over time at ``fps``
    (:func:`.smooth.smooth_track`), and the result's top-level ``smoothing`` block (filter,
    parameters, per-track jitter in mm/s^2 before and after). The list is updated in place (and
    returned), so each track's unsmoothed 3D is freed as soon as its smoothed 3D is made."""
    spec = parse_smooth(spec_text)
    reports = []
    for i, t in enumerate(tracks):
        joints, root, report = smooth_track(t.joints_3d_m, t.root_3d_m, fps, spec)
        tracks[i] = t = replace(t, joints_3d_m=joints, root_3d_m=root)
        del joints, root
        reports.append({"track_id": int(t.track_id), **report})
    return tracks, smoothing_header(spec, fps, reports)
