"""Fit the 2D error model of our detector stage to real detections (realval), and check it.

    python benchmarks/fit_2d_errors.py [--realval ../shared/data/realval] [--work work_data/realval_v4]
        [--out sasmamba_cli/data/error_models/yolo11n-pose.json] [--markdown results/2d_error_model.md]

The detector's COCO-17 2D of the woman in realval's two views (the default ``sasmamba lift``
detector stage: YOLO11n-pose, swap repair and edge trim as shipped; detected once per view into
``--work`` as ``yolo_CAM.json``, shared with ``benchmarks/realval.py``) is compared with realval's
reference reprojected into each view, and summarised by
:func:`sasmamba_cli.training.error_model.fit_error_model` (per-joint offsets and spreads in torso
units in the body frame, AR(1) jitter, gross errors by limb speed, missing joints, swaps, the
confidence distribution). Only the **2D errors** are used (a few numbers per joint group), never
realval's 3D; the table is a training input (``VirtualConfig.error_model``), so a lifter trained
with it must be judged on the real clip kept aside as well, not on realval alone.

The report also (1) re-fits the table from detections sampled with it on the same reference 2D
(the sampler reproduces what was fitted) and (2) fits the hand-set noise model of
``training/virtual.py`` the same way, so the two can be compared in the same units.
Skips cleanly (exit 0) without realval.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

CAMS = ("cam01", "cam02")


def _detected_only(track: dict) -> np.ndarray:
    """A result track's COCO 2D ``(T, 17, 3)``, NaN where a joint was not detected (missing, or
    interpolated across a gap by the pipeline)."""
    kp = np.array([[[np.nan if v is None else v for v in p] for p in f] for f in track["keypoints_2d_coco"]],
                  np.float64)
    interp = track.get("keypoints_coco_interpolated")
    if interp is not None:
        kp[np.asarray(interp, bool)] = np.nan
    return kp


def her_detections(realval: Path, cam: str, result: dict):
    """(det (F, 17, 3) COCO px + conf, NaN where not detected, ref (F, 17, 2) px NaN where
    invalid, fps) over the reference's frames."""
    from realval import _none_to_nan, her_track

    z = np.load(realval / "reference.npz")
    ref = z[f"keypoints2d_{cam}"].astype(np.float64)
    t = her_track(realval, cam, result)
    det = np.full(ref.shape[:2] + (3,), np.nan)
    fidx = {int(f): i for i, f in enumerate(z["frame_index"])}
    kp = _none_to_nan(t["keypoints_2d_coco"])
    interp = np.asarray(t.get("keypoints_coco_interpolated") or np.zeros(kp.shape[:2], bool), bool)
    for i, f in enumerate(t["frames"]):
        if f in fidx:
            det[fidx[f]] = np.where(interp[i][:, None], np.nan, kp[i])
    return det, ref, float(z["fps"])


def summary_rows(m: dict, label: str, torso_px: float) -> list[str]:
    from sasmamba_cli.training.error_model import GROUPS

    sp = np.asarray(m["spread"])
    b = np.asarray(m["bias"])
    o, ms, c = m["outlier"], m["missing"], m["conf"]
    rows = []
    for k, (g, joints) in enumerate(GROUPS.items()):
        j = list(joints)
        qi = c["inlier"][g]
        spread = np.sqrt((sp[j] ** 2).sum(-1)).mean()
        rows.append(f"| {label} | {g} | {spread:.3f} ({spread * torso_px:.1f} px) "
                    f"| {np.linalg.norm(b[j], axis=-1).mean():.3f} | {o['rate_slow'][k]:.3f} / {o['rate_fast'][k]:.3f} "
                    f"| {ms['rate'][k]:.3f} | {qi[2]:.2f} / {qi[10]:.2f} / {qi[18]:.2f} |")
    return rows


OTHER_CLIPS = ("pose2sim_single_person/cam01.mp4", "pose2sim_single_person/cam02.mp4",
               "sports2d_two_people/demo.mp4", "intel_one_by_one/one-by-one-person-detection.mp4")
MIN_TRACK_FRAMES = 30


def free_stats(tracks: list[tuple[np.ndarray, float]]) -> dict:
    """Statistics that need no reference, per joint group, over tracks of COCO-17 detections
    ``(T, 17, 3)`` (NaN / score 0 where missing) at ``fps``: the detector's score quantiles
    10 / 50 / 90 %, the missing rate, and the jitter: the robust std (1.4826 MAD) of each joint's
    deviation from a local quadratic fit over about 0.3 s (Savitzky-Golay), in torso lengths (the
    track's median shoulder-to-hip distance). Real motion within 0.3 s adds little to it; detector
    noise of higher frequency is what it measures."""
    from scipy.signal import savgol_filter

    from sasmamba_cli.training.error_model import GROUPS

    conf = {g: [] for g in GROUPS}
    miss = {g: [0, 0] for g in GROUPS}
    jit = {g: [] for g in GROUPS}
    for kp, fps in tracks:
        ok = np.isfinite(kp[..., :2]).all(-1) & (np.nan_to_num(kp[..., 2]) > 0)
        torso = np.nanmedian(np.nanmean(np.stack([np.linalg.norm(kp[:, 5, :2] - kp[:, 11, :2], axis=-1),
                                                  np.linalg.norm(kp[:, 6, :2] - kp[:, 12, :2], axis=-1)]), 0))
        win = max(5, int(round(0.3 * fps)) | 1)
        for g, joints in GROUPS.items():
            for j in joints:
                conf[g] += kp[ok[:, j], j, 2].tolist()
                miss[g][0] += int((~ok[:, j]).sum())
                miss[g][1] += len(kp)
                d = np.diff(np.concatenate([[0], ok[:, j].astype(np.int8), [0]]))
                for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
                    if b - a >= 2 * win:
                        x = kp[a:b, j, :2]
                        jit[g] += ((x - savgol_filter(x, win, 2, axis=0)) / torso).ravel().tolist()
    out = {}
    for g in GROUPS:
        c = np.asarray(conf[g])
        r = np.asarray(jit[g])
        out[g] = {"conf": np.quantile(c, [0.1, 0.5, 0.9]).round(3).tolist() if len(c) else None,
                  "missing": miss[g][0] / max(miss[g][1], 1),
                  "jitter": float(1.4826 * np.median(np.abs(r - np.median(r)))) if len(r) > 20 else None}
    return out


def smooth_motion(ref: np.ndarray, fps: float, fps_out: float) -> np.ndarray:
    """Her reference 2D as clean motion for the sampler: gaps filled with the joint's median,
    the reference's own per-frame noise removed (Savitzky-Golay, quadratic, about 0.3 s), then
    taken at ``fps_out``."""
    from scipy.signal import savgol_filter

    r = np.where(np.isfinite(ref), ref, np.nanmedian(ref, axis=0))
    r = savgol_filter(r, max(5, int(round(0.3 * fps)) | 1), 2, axis=0)
    return r[::max(1, int(round(fps / fps_out)))]


def mean_table(tables: list[dict]) -> dict:
    """The numeric fields of several fits averaged (offsets as magnitudes): one fit per sampled
    sequence, since each sequence draws its own offsets."""
    def avg(vals):
        if isinstance(vals[0], dict):
            return {k: avg([v[k] for v in vals]) for k in vals[0]}
        if isinstance(vals[0], (int, float)) and not isinstance(vals[0], bool):
            return float(np.mean(vals))
        if isinstance(vals[0], list):
            try:
                return np.mean(np.asarray(vals, np.float64), axis=0).tolist()
            except (ValueError, TypeError):
                return vals[0]
        return vals[0]
    out = avg([{**t, "bias": np.abs(np.asarray(t["bias"])).tolist()} for t in tables])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realval", type=Path, default=ROOT.parent / "shared" / "data" / "realval")
    ap.add_argument("--work", type=Path, default=ROOT / "work_data" / "realval_v4")
    ap.add_argument("--out", type=Path, default=ROOT / "sasmamba_cli" / "data" / "error_models" / "yolo11n-pose.json")
    ap.add_argument("--markdown", type=Path, default=ROOT / "results" / "2d_error_model.md")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if not (a.realval / "reference.npz").is_file():
        print(f"skip: no realval at {a.realval}")
        return 0
    from realval import Lifter

    from sasmamba_cli.training.error_model import fit_error_model, sample_detections
    from sasmamba_cli.training.virtual import VirtualConfig, detector_noise

    a.work.mkdir(parents=True, exist_ok=True)
    L = Lifter()
    seqs = []
    for cam in CAMS:
        f = L.video(a.realval / f"{cam}.mp4", a.work / f"yolo_{cam}.json")
        seqs.append(her_detections(a.realval, cam, json.loads(f.read_text())))
    what = f"{len(seqs)} x {len(seqs[0][0])} frames at {seqs[0][2]:g} fps"
    model = fit_error_model(seqs, name="yolo11n-pose",
                            source=f"realval cam01 + cam02 (the woman, {what}): the default detector stage's "
                                   "COCO 2D against the four-view reference reprojected; benchmarks/fit_2d_errors.py")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(model, indent=1) + "\n")
    tmp.replace(a.out)
    print(f"wrote {a.out}")

    # checks: the sampler on the same reference 2D (at 30 fps), re-fitted; the hand-set model
    rng = np.random.default_rng(a.seed)
    torso_px = float(np.nanmedian(np.concatenate(
        [np.linalg.norm(r[:, 5:7].mean(1) - r[:, 11:13].mean(1), axis=-1) for _, r, _ in seqs])))
    refits, hands = [], []
    for det, ref, fps in seqs:
        r30 = smooth_motion(ref, fps, model["fps"])
        long = np.concatenate([r30, r30[::-1]] * 10)                            # 1000 frames, no jumps
        for _ in range(2):
            refits.append(fit_error_model([(sample_detections(long, rng, model), long, model["fps"])]))
            hs = detector_noise(long, 1088, 1920, rng, VirtualConfig())
            hands.append(fit_error_model([(np.where(hs[..., 2:] > 0, hs, np.nan), long, model["fps"])]))
    refit, hand = mean_table(refits), mean_table(hands)

    md = ["# 2D error model of the detector stage, fitted on realval",
          "",
          f"- Command: `python benchmarks/fit_2d_errors.py` (machine: {platform.machine()}, Python {platform.python_version()})",
          f"- Data: {model['source']}; {model['joint_frames_used']} joint-frames used. Her torso is "
          f"{torso_px:.0f} px in these views.",
          f"- Table: `{a.out.relative_to(ROOT) if a.out.is_relative_to(ROOT) else a.out}` "
          "(`VirtualConfig(error_model=\"yolo11n-pose\")` samples it in training).",
          "- Units: torso lengths (mean shoulder-to-hip distance); spread = robust std of the error vector "
          "about each view's own offset; offset = root mean square over the views of each one's median error; "
          "gross = Mahalanobis distance > "
          f"{model['outlier']['z']:.0f} spreads, rate on slow / fast joints (fast: over "
          f"{model['outlier']['fast_speed']:.2f} torso/s, the 80th percentile of her joint speeds); "
          "conf = the detector's score quantiles 10 / 50 / 90 % of inliers. Rates are pulled toward the pooled "
          "rate by 10 pseudo-counts (the raw counts are in the table).",
          "- Rows `resampled`: detections drawn from the fitted table on the same reference 2D, smoothed (each view at "
          "30 fps, played back and forth to 1,000 frames, 2 draws per view), each draw fitted again, the fits "
          "averaged: the sampler reproduces the fit, except the gross-error rates of fast joints where the fit "
          "rests on few frames (`counts_fast` in the table). Rows `hand-set`: the former "
          "hand-set noise model (`VirtualConfig()` defaults) fitted the same way (same sequences, 1088 x 1920 image).",
          f"- Temporal model: AR(1) with lag-one correlation {model['rho']:.2f} at {model['fps']:g} fps (the decay of "
          "the error's autocorrelation over 4 lags, which the reference's own per-frame noise does not change) "
          f"plus white noise with {float((np.asarray(model['white']) ** 2).sum() / (np.asarray(model['spread']) ** 2).sum()):.0%} "
          "of the variance (from the detections' own deviation from a local quadratic fit, which needs no reference).",
          "- Caveat: one person, two views, 200 frames; the reference is BlazePose-defined (hips and "
          "shoulders sit elsewhere than COCO's), so part of each offset is a definition, and its "
          "reprojection error (median 4.8 px) is inside each spread.",
          "",
          "| model | group | spread torso (px here) | offset torso | gross slow / fast | missing | conf 10/50/90 % |",
          "|---|---|---|---|---|---|---|"]
    for m, label in ((model, "fitted"), (refit, "resampled"), (hand, "hand-set")):
        md += summary_rows(m, label, torso_px)
    md += ["", "| model | AR(1) rho at 30 fps | gross magnitude median torso | gross episode frames | "
               "missing episode frames | swap rates (shoulder, elbow, wrist, hip, knee, ankle) | conf-error rank corr |",
           "|---|---|---|---|---|---|---|"]
    for m, label in ((model, "fitted"), (refit, "resampled"), (hand, "hand-set")):
        sw = dict(zip(m["swap"]["pairs"], m["swap"]["rate"]))
        md.append(f"| {label} | {m['rho']:.2f} | {m['outlier']['magnitude_quantiles'][10]:.3f} | "
                  f"{m['outlier']['mean_len']:.1f} | {m['missing']['mean_len']:.1f} | "
                  + ", ".join(f"{sw[k]:.3f}" for k in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"))
                  + f" | {m['conf']['rank_corr']:.2f} |")
    # reference-free statistics: realval's views, the model's samples, and the other real clips
    videos = a.realval.parent / "videos"
    rows = [("realval cam01 + cam02 (her track)", free_stats([(d, f) for d, _, f in seqs])),
            ("realval's reference 2D itself (per-frame triangulation: its own jitter)",
             free_stats([(np.concatenate([r, np.where(np.isfinite(r[..., :1]), 1.0, 0.0)], -1), f)
                         for _, r, f in seqs]))]
    sim = []
    for det, ref, fps in seqs:
        r30 = smooth_motion(ref, fps, model["fps"])
        for _ in range(5):
            d = sample_detections(r30, rng, model)
            sim.append((np.where(d[..., 2:] > 0, d, np.nan), model["fps"]))
    rows.append(("the fitted model on her smoothed reference motion (5 draws per view)", free_stats(sim)))
    for rel in OTHER_CLIPS:
        clip = videos / rel
        if not clip.is_file():
            continue
        res = json.loads(L.video(clip, a.work / f"other_{rel.replace('/', '_').removesuffix('.mp4')}.json").read_text())
        fps = float(res["source"].get("fps") or 30.0)
        tracks = [(_detected_only(t), fps) for t in res["tracks"] if len(t["frames"]) >= MIN_TRACK_FRAMES]
        rows.append((f"{rel} ({len(tracks)} tracks of >= {MIN_TRACK_FRAMES} frames, {fps:g} fps)", free_stats(tracks)))
    from sasmamba_cli.training.error_model import GROUPS
    md += ["", "## What can be told without a reference: the other real clips",
           "",
           "The same detector stage on the clips of `../shared/data/videos` (no 3D or 2D reference): score "
           "quantiles 10 / 50 / 90 %, missing rate and jitter (robust std of the deviation from a local "
           "quadratic fit over 0.3 s, torso lengths) per joint group, beside the same statistics of "
           "realval's detections and of detections sampled from the fitted table.", "",
           "| clip | " + " | ".join(GROUPS) + " |", "|---|" + "---|" * len(GROUPS)]
    for label, st in rows:
        md.append(f"| {label} | " + " | ".join(
            "-" if st[g]["conf"] is None else
            f"{st[g]['conf'][0]:.2f}/{st[g]['conf'][1]:.2f}/{st[g]['conf'][2]:.2f}, miss {st[g]['missing']:.2f}, "
            f"jit {'-' if st[g]['jitter'] is None else format(st[g]['jitter'], '.3f')}" for g in GROUPS) + " |")
    a.markdown.parent.mkdir(parents=True, exist_ok=True)
    a.markdown.write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
