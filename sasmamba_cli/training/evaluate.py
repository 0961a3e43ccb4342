"""Evaluation protocol: held-out clips, seeded virtual cameras, lift's own inference, all metrics.

For every clip of the evaluated part a virtual capture is drawn with a generator seeded by
``(seed, clip index)``, so every model sees exactly the same 2D input. With ``cameras = K`` each
clip is seen by K captures, seeded ``(seed + d, clip index)`` for d = 0 .. K-1 (the same draws as
K runs with seeds ``seed .. seed + K - 1``), pooled as K clips of its group; the per-draw figures
give the spread that one camera per clip leaves (on a source of a few clips it is several mm). The clip is lifted by
``sasmamba lift``'s inference path (:func:`sasmamba_cli.pipeline.lifting.infer_sequences`:
overlapping windows, cross-faded merge, upright turn), with and without flip test-time augmentation, optionally
smoothed over time (:mod:`sasmamba_cli.pipeline.smooth`, at the dataset's fps, on the merged
per-clip prediction, as ``sasmamba lift --smooth`` does), and scored in mm. Metrics are averaged
over frames per clip, then over clips per group, then over groups (per source, and overall).
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..errors import InputError
from ..mocap.dataset import MocapDataset
from ..pipeline.smooth import NO_SMOOTHING, SmoothSpec, apply_smoothing
from ..pipeline.swaps import repair_keypoints
from ..skeleton import coco_to_h36m
from ..metrics import clip_metrics
from .observe import observe
from ..pipeline.root import Camera, camera_from_fov
from .virtual import VirtualConfig

SWAP_OBSERVED_CONF = 0.5     # joints the swap repair treats as observed in the simulated 2D (the lift default was 0.5 until
                             # stop 12; kept so the mocap numbers stay comparable across stops)


def model_device(model):
    """The device of the model's first parameter or buffer (CPU for a model without tensors)."""
    import torch

    return next((t.device for t in (*model.parameters(), *model.buffers())), torch.device("cpu"))


def evaluate(model, ds: MocapDataset, clips: np.ndarray, window: int, in_chans: int, seed: int = 0,
             flip_modes=(False, True), max_frames_per_clip: int | None = None, progress=None,
             batch: int = 64, smooth: tuple[SmoothSpec, ...] = (NO_SMOOTHING,),
             swap_penalty: float | None = None, virtual: VirtualConfig | None = None,
             upright: bool = True, refine_2d: bool = False, cameras: int = 1) -> dict:
    """Returns ``{"no_tta"|"flip_tta": {"overall": {...}, "per_source": {...}}, "clips": n,
    "smooth": str(smooth[0]), ...}``, the metrics of the first smoothing spec; with several specs
    also ``"by_smooth": {str(spec): {"no_tta": ..., "flip_tta": ...}}`` for each (one forward pass
    serves them all). ``swap_penalty`` (None: off) repairs left/right swaps in the simulated 2D
    first, as ``sasmamba lift --fix-swaps`` does (:mod:`sasmamba_cli.pipeline.swaps`; joints below
    the pipeline's keypoint threshold 0.5 do not count as observations). ``virtual`` replaces the
    default virtual capture settings (camera and detector noise; same seeds). ``cameras`` > 1:
    that many captures per clip, pooled, and ``"draws"``: each draw's own ``overall`` and
    ``per_source`` metrics (lists over draws, first smoothing spec) for the spread.

    Prediction is ``sasmamba lift``'s own path (:func:`sasmamba_cli.pipeline.lifting.infer_sequences`:
    overlapping windows, cross-faded merge, flip TTA, and with ``upright`` the camera-roll turn),
    so these numbers measure what ``lift`` ships. Windows of all clips are batched together.
    With ``refine_2d`` each clip's prediction then goes through lift's 2D-consistent refinement
    (:func:`refine_to_2d`: metric scale from the 1.70 m height prior, root from the 2D, refined
    against the simulated 2D through the virtual camera's own intrinsics, scaled back).
    """
    if not smooth:
        raise ValueError("evaluate: expected at least one smoothing spec (NO_SMOOTHING for none), found none")
    if cameras < 1:
        raise ValueError(f"evaluate: expected cameras >= 1, found {cameras}")
    from ..pipeline.lifting import LiftOptions, LoadedLifter, infer_sequences

    with_flip = True in flip_modes
    dev = model_device(model)
    clip_data, kps, sizes, cams, draw_of = [], [], [], [], []
    for k, draw in ((int(k), d) for d in range(cameras) for k in clips):
        a, b = int(ds.clip_start[k]), int(ds.clip_start[k + 1])
        if max_frames_per_clip:
            b = min(b, a + max_frames_per_clip)
        rng = np.random.default_rng([seed + draw, k])
        draw_of.append(draw)
        s = observe(ds, k, np.arange(a, b), rng, virtual)
        kp2d = s.kp2d_px
        if swap_penalty is not None:
            if s.coco2d_px is None:
                raise InputError("swap repair works on the simulated COCO detections of mocap "
                                 "datasets; this paired dataset has real H36M-17 2D: drop --fix-swaps")
            coco = np.asarray(s.coco2d_px, np.float64)
            coco, _ = repair_keypoints(coco, coco[..., 2] >= SWAP_OBSERVED_CONF, penalty=swap_penalty)
            kp2d = coco_to_h36m(coco)
        kps.append(np.asarray(kp2d, np.float64))
        sizes.append((s.width, s.height))
        clip_data.append((k, s.target_cam_m - s.target_cam_m[:, :1], b - a))
        cams.append(camera_from_fov(int(s.width), int(s.height), 60.0) if s.focal_px is None else   # real 2D: lift's assumption
                    Camera(int(s.width), int(s.height), float(s.focal_px), float(s.principal_px[0]),
                           float(s.principal_px[1]), 0.0))
    # the lift path itself (pipeline.lifting.infer_sequences): windows, merge, flip TTA, upright
    lifter = LoadedLifter(model, {}, None, "model", in_chans, window, None, str(dev))
    opts = LiftOptions(flip_tta=with_flip, batch_size=batch, upright=upright)
    inf = infer_sequences(lifter, kps, sizes, float(ds.fps), opts, both=with_flip)
    plains = inf.plain if inf.plain is not None else [None] * len(kps)
    tta = inf.tta if inf.tta is not None else [None] * len(kps)
    if refine_2d:
        fps = float(ds.fps)
        plains = [None if p is None else refine_to_2d(p, kp, c, fps) for p, kp, c in zip(plains, kps, cams)]
        tta = [None if p is None else refine_to_2d(p, kp, c, fps) for p, kp, c in zip(tta, kps, cams)]
    preds = list(zip(plains, tta))
    if progress is not None:
        progress()
    per_clip = {(spec, m): [] for spec in smooth for m in flip_modes}
    meta = []
    for (k, gt, n), (plain, tta) in zip(clip_data, preds):
        for spec in smooth:
            for m in flip_modes:
                pred = apply_smoothing(tta if m else plain, float(ds.fps), spec)
                per_clip[(spec, m)].append(clip_metrics(pred, gt))
        meta.append((str(ds.source[k]), str(ds.group[k]), n))
    result = {"clips": len(meta) // cameras, "frames": int(sum(n for *_, n in meta)) // cameras, "seed": seed,
              "cameras": cameras, "window": window, "fps": float(ds.fps), "smooth": str(smooth[0])}
    by_smooth = {}
    for spec in smooth:
        by_smooth[str(spec)] = {"flip_tta" if m else "no_tta": aggregate(per_clip[(spec, m)], meta)
                                for m in flip_modes}
    result.update(by_smooth[str(smooth[0])])
    if len(smooth) > 1:
        result["by_smooth"] = by_smooth
    if cameras > 1:
        draws = np.array(draw_of)
        result["draws"] = {}
        for m in flip_modes:
            each = [aggregate([c for c, d in zip(per_clip[(smooth[0], m)], draws) if d == i],
                              [x for x, d in zip(meta, draws) if d == i]) for i in range(cameras)]
            result["draws"]["flip_tta" if m else "no_tta"] = {
                "overall": {key: [e["overall"][key] for e in each] for key in each[0]["overall"]},
                "per_source": {src: {key: [e["per_source"][src][key] for e in each] for key in v if key != "groups"}
                               for src, v in each[0]["per_source"].items()}}
    return result


def refine_to_2d(pred: np.ndarray, kp2d_px: np.ndarray, camera, fps: float | None,
                 height_m: float = 1.70) -> np.ndarray:
    """``sasmamba lift``'s refinement stage on one clip's root-relative prediction ``(n, 17, 3)``:
    the same metric scale and root estimate as lift, :func:`~sasmamba_cli.pipeline.refine2d.refine_track`,
    then back to the prediction's own scale."""
    from ..pipeline.refine2d import refine_track
    from ..pipeline.root import estimate_root, metric_scale

    scale = metric_scale(pred, height_m)
    joints = pred * scale
    root = estimate_root(joints, kp2d_px, camera)
    refined, _, _ = refine_track(joints, root, kp2d_px, camera, fps)
    return refined / scale


def aggregate(per_clip: list[dict], meta: list[tuple[str, str, int]]) -> dict:
    """Mean over clips per (source, group), then over groups per source and overall."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for m, (src, grp, _) in zip(per_clip, meta):
        groups[(src, grp)].append(m)
    gmeans = {key: _mean(v) for key, v in groups.items()}
    by_source: dict[str, list[dict]] = defaultdict(list)
    for (src, _), v in gmeans.items():
        by_source[src].append(v)
    return {"overall": _mean(list(gmeans.values())),
            "per_source": {src: {**_mean(v), "groups": len(v)} for src, v in sorted(by_source.items())},
            "groups": len(gmeans)}


def _mean(items: list[dict]) -> dict:
    keys = [k for k in items[0] if k != "groups"]
    return {k: float(np.nanmean([d[k] for d in items])) for k in keys}
