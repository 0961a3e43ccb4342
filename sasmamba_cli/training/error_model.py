"""A 2D detector error model fitted to real detections, and the sampler that applies it.

:func:`fit_error_model` compares a detector's COCO-17 keypoints with a reference 2D of the same
frames (e.g. a multi-view reference reprojected) and summarises the errors as a small table (a
plain dict, stored as JSON under ``sasmamba_cli/data/error_models/``);
:func:`sample_detections` draws detections of clean 2D from such a table, for training
(:func:`.virtual.detector_noise` with ``VirtualConfig.error_model``).

Units and frames
----------------
* Errors are measured in **torso units**: pixels divided by the person's torso length in that
  frame (the mean of the two shoulder-to-hip distances of the reference), so a table fitted at one
  resolution and distance applies to any other.
* Error vectors are expressed in the **body frame** of the image: ``up`` points from the mid-hip to
  the mid-shoulder, ``side`` is ``up`` turned 90 degrees clockwise on screen (screen right for an
  upright person). A detector's systematic error follows the body, not the image axes, so the
  table holds for a rolled camera or a lying person too.
* Rates are per joint and frame at the table's ``fps`` (30, the lifter's frame rate); sequences
  at a whole multiple of it (60, 90, 120 fps) are fitted at that frame ratio (lags and episode
  lengths in its steps); other rates are refused.

What the table holds (per COCO joint or per joint group, see ``GROUPS``)
-------------------------------------------------------------------------
``bias``        (17, 2) size of the detector's systematic offset (side, up), torso units: the root
                mean square over the fitted sequences of each one's median error. The sampler draws
                each clip's offset with this magnitude and a random sign per axis (one person and
                detector definitions differ; the size carries over).
``spread``      (17, 2) robust std (1.4826 MAD) of the error about each sequence's own offset.
``white``       (17, 2) its frame-to-frame part: the std of the detections' own deviation from a
                local quadratic fit over ``JITTER_S`` (no reference needed, so the reference's own
                noise is not in it), at most 95 % of ``spread``.
``rho``         lag-one autocorrelation at ``fps`` of the rest (an AR(1) process of variance
                ``spread**2 - white**2``).
``outlier``     gross errors (Mahalanobis distance above ``OUTLIER_Z``): per-group rate for slow
                and fast joints (split at ``fast_speed`` torso lengths per second), magnitude
                quantiles (torso units, for reading) and distance quantiles in spreads (what the
                sampler draws, in a random direction of the whitened error), mean episode length
                (frames).
``missing``     per-group rate of joints the detector did not give (confidence 0), mean episode
                length (frames).
``swap``        per-pair rate of left/right swaps (a limb pair reported the wrong way round), mean
                episode length.
``conf``        confidence quantiles (``QUANTILES``) of inliers per group and of outliers (pooled),
                the rank correlation between an inlier's error and its confidence (negative: worse
                joints get lower scores), and the smallest confidence reported (the detector's
                keypoint threshold).
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np
from scipy.signal import lfilter
from scipy.special import ndtr, ndtri
from scipy.stats import spearmanr

from ..skeleton import COCO

GROUPS = {"face": (0, 1, 2, 3, 4), "shoulder": (5, 6), "elbow": (7, 8), "wrist": (9, 10),
          "hip": (11, 12), "knee": (13, 14), "ankle": (15, 16)}
#: left/right pairs that a detector can report swapped (COCO indices)
PAIRS = {"eye": (1, 2), "ear": (3, 4), "shoulder": (5, 6), "elbow": (7, 8), "wrist": (9, 10),
         "hip": (11, 12), "knee": (13, 14), "ankle": (15, 16)}
QUANTILES = np.linspace(0.0, 1.0, 21)
OUTLIER_Z = 5.0          # Mahalanobis distance (in spreads) beyond which an error is gross
SWAP_GAIN = 0.5          # a pair is swapped when the swapped match costs under half the direct one
SMOOTHING = 10.0         # pseudo-counts that pull a group's rate toward the pooled rate (the raw
                         # counts are kept in the table beside each smoothed rate)
FORMAT = "sasmamba-2d-error-model"


def _group_of() -> np.ndarray:
    g = np.zeros(17, int)
    for k, joints in enumerate(GROUPS.values()):
        g[list(joints)] = k
    return g


def body_frame(ref_px: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(T, 17, 2)`` COCO pixels -> torso length ``(T,)`` px, ``up`` and ``side`` unit vectors
    ``(T, 2)``. Frames without shoulders and hips take the sequence's median torso and the
    image's upright frame."""
    ref = np.asarray(ref_px, np.float64)
    torso = np.nanmean(np.stack([np.linalg.norm(ref[:, 5] - ref[:, 11], axis=-1),
                                 np.linalg.norm(ref[:, 6] - ref[:, 12], axis=-1)]), axis=0)
    med = np.nanmedian(torso) if np.isfinite(torso).any() else np.nan
    torso = np.where(np.isfinite(torso) & (torso > 1e-6), torso, med)
    torso = np.maximum(torso, 0.5 * med)              # a torso seen end-on does not shrink the noise scale
    up = (ref[:, 5] + ref[:, 6]) / 2 - (ref[:, 11] + ref[:, 12]) / 2
    n = np.linalg.norm(up, axis=-1, keepdims=True)
    ok = np.isfinite(n) & (n > 1e-6)
    up = np.where(ok, up / np.where(ok, n, 1.0), np.array([0.0, -1.0]))
    side = np.stack([-up[:, 1], up[:, 0]], -1)
    return torso, up, side


def _runs(mask: np.ndarray, lengths: list[int] | None = None) -> list[int]:
    """Lengths of the True runs along axis 0 of a ``(T, ...)`` bool array (each column alone).
    ``lengths``: the frames of each sequence concatenated along axis 0 (they sum to T); a run
    never continues from one sequence into the next."""
    m = np.asarray(mask, bool).reshape(len(mask), -1)
    if lengths is not None and int(np.sum(lengths)) != len(m):
        raise ValueError(f"_runs: sequence lengths sum to {int(np.sum(lengths))}, expected {len(m)} frames")
    out = []
    for piece in np.split(m, np.cumsum(lengths)[:-1]) if lengths is not None else [m]:
        for col in piece.T:
            d = np.diff(np.concatenate([[0], col.astype(np.int8), [0]]))
            out += list(np.flatnonzero(d == -1) - np.flatnonzero(d == 1))
    return out


ACF_LAGS = 4              # lags (at fps_out) whose error autocorrelation gives the AR(1) coefficient
JITTER_S = 0.3            # the local fit of the detections' own jitter spans about this long


def _residual_filter(fps: float) -> np.ndarray:
    """Taps of ``x - savgol(x)`` (quadratic, about ``JITTER_S`` long) at the centre sample."""
    from scipy.signal import savgol_coeffs

    win = max(5, int(round(JITTER_S * fps)) | 1)
    c = -savgol_coeffs(win, 2)
    c[win // 2] += 1.0
    return c


def _ar1_pass(c: np.ndarray, rho: float) -> float:
    """Variance of the filter ``c`` applied to a unit-variance AR(1) process of coefficient ``rho``."""
    k = np.arange(len(c))
    return float(c @ (rho ** np.abs(k[:, None] - k[None, :])) @ c)


def _own_residual(det: np.ndarray, torso: np.ndarray, up: np.ndarray, side: np.ndarray, fps: float) -> np.ndarray:
    """``(T, 17, 2)``: each detected joint's deviation from a local quadratic fit over about
    ``JITTER_S`` (Savitzky-Golay, runs of at least two windows), in torso lengths along (side, up);
    NaN where not measured. Needs no reference: the reference's own noise is not in it."""
    from scipy.signal import savgol_filter

    win = len(_residual_filter(fps))
    out = np.full(det.shape[:2] + (2,), np.nan)
    ok = np.isfinite(det[..., :2]).all(-1) & (np.nan_to_num(det[..., 2]) > 0)
    for j in range(17):
        d = np.diff(np.concatenate([[0], ok[:, j].astype(np.int8), [0]]))
        for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
            if b - a >= 2 * win:
                r = det[a:b, j, :2] - savgol_filter(det[a:b, j, :2], win, 2, axis=0)
                out[a:b, j, 0] = (r * side[a:b]).sum(-1) / torso[a:b]
                out[a:b, j, 1] = (r * up[a:b]).sum(-1) / torso[a:b]
    return out


def _rate(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Per-group rates ``k / n``, pulled toward the pooled rate by ``SMOOTHING`` pseudo-counts."""
    pooled = k.sum() / max(n.sum(), 1)
    return (k + SMOOTHING * pooled) / (n + SMOOTHING)


def fit_error_model(seqs, fps_out: float = 30.0, name: str = "", source: str = "") -> dict:
    """Fit a table from ``seqs``: an iterable of ``(det, ref, fps)`` with ``det`` ``(T, 17, 3)`` the
    detector's COCO pixels + confidence (missing: confidence <= 0 or non-finite), ``ref``
    ``(T, 17, 2)`` the reference pixels (NaN where unknown) of the same frames, ``fps`` their rate.
    Raises ValueError when the sequences hold too few usable joint-frames (under 20 per joint)."""
    group = _group_of()
    n_groups = len(GROUPS)
    errs, detected, valid, speeds, confs, swapped, series = [], [], [], [], [], [], []
    lags, wins, offsets = [], [], []
    for det, ref, fps in seqs:
        det = np.asarray(det, np.float64)
        ref = np.asarray(ref, np.float64)
        if det.ndim != 3 or det.shape[1:] != (17, 3) or ref.shape != det.shape[:2] + (2,):
            raise ValueError(f"expected det (T, 17, 3) and ref (T, 17, 2), found {det.shape} and {ref.shape}")
        torso, up, side = body_frame(ref)
        ok_ref = np.isfinite(ref).all(-1) & np.isfinite(torso)[:, None]
        det_ok = np.isfinite(det[..., :2]).all(-1) & (np.nan_to_num(det[..., 2]) > 0)
        d = det[..., :2] - ref
        e = np.stack([(d * side[:, None]).sum(-1), (d * up[:, None]).sum(-1)], -1) / torso[:, None, None]
        sw = np.zeros(det.shape[:2], bool)
        for l, r in PAIRS.values():
            both = det_ok[:, l] & det_ok[:, r] & ok_ref[:, l] & ok_ref[:, r]
            keep = (np.linalg.norm(det[:, l, :2] - ref[:, l], axis=-1)
                    + np.linalg.norm(det[:, r, :2] - ref[:, r], axis=-1))
            swap = (np.linalg.norm(det[:, l, :2] - ref[:, r], axis=-1)
                    + np.linalg.norm(det[:, r, :2] - ref[:, l], axis=-1))
            hit = both & (swap < SWAP_GAIN * keep) & (keep > 0.15 * torso)
            sw[:, l] |= hit
            sw[:, r] |= hit
        ratio = fps / fps_out
        if round(ratio) < 1 or abs(ratio - round(ratio)) > 0.05 * ratio:
            raise ValueError(f"expected sequences at a whole multiple of {fps_out:g} fps (the temporal terms are "
                             f"converted by the frame ratio), found {fps:g} fps")
        # each sequence's own offset (one person, one view) comes out here: what is left is the
        # error about it; the offsets' size across sequences is what the table keeps
        ok_e = det_ok & ok_ref & ~sw
        b_s = np.stack([np.median(e[ok_e[:, j], j], axis=0) if ok_e[:, j].sum() >= 5 else np.full(2, np.nan)
                        for j in range(17)])
        offsets.append((b_s, ok_e.sum(0)))
        e = e - np.nan_to_num(b_s)
        wins.append((_own_residual(det, torso, up, side, fps), fps))
        sp = np.full(det.shape[:2], np.nan)
        if len(ref) >= 3:                 # speeds of the smoothed reference (its own noise is not motion)
            from scipy.signal import savgol_filter

            filled = np.where(np.isfinite(ref), ref, np.nanmedian(ref, axis=0))
            win = len(_residual_filter(fps))
            sm = savgol_filter(filled, win, 2, axis=0) if len(ref) > win else filled
            sp[1:-1] = np.linalg.norm(sm[2:] - sm[:-2], axis=-1) * fps / 2 / torso[1:-1, None]
            sp[~ok_ref] = np.nan
        errs.append(e), detected.append(det_ok), valid.append(ok_ref), speeds.append(sp)
        confs.append(np.where(det_ok, det[..., 2], 0.0)), swapped.append(sw)
        series.append((e, ok_e))
        lags.append(max(1, int(round(fps / fps_out))))
        del d
    e = np.concatenate(errs)
    det_ok, ok_ref, sp = np.concatenate(detected), np.concatenate(valid), np.concatenate(speeds)
    conf, sw = np.concatenate(confs), np.concatenate(swapped)
    use = det_ok & ok_ref & ~sw
    if use.sum(0).min() < 20:
        raise ValueError(f"too few usable joint-frames to fit an error model: at least 20 per joint "
                         f"expected, found {int(use.sum(0).min())} for "
                         f"{COCO.names[int(use.sum(0).argmin())]}")
    # offset size: the root mean square of the sequences' own offsets (weighted by frames)
    bs = np.stack([b for b, _ in offsets])                                   # (S, 17, 2)
    ws = np.stack([n for _, n in offsets]).astype(np.float64)[..., None] * np.isfinite(bs)
    bias = np.sqrt((np.nan_to_num(bs) ** 2 * ws).sum(0) / np.maximum(ws.sum(0), 1.0))
    res = e                                                                  # already about each offset
    spread = np.stack([1.4826 * np.median(np.abs(res[use[:, j], j]), axis=0) for j in range(17)])
    spread = np.maximum(spread, 1e-4)
    z = np.sqrt(((res / spread) ** 2).sum(-1))
    outl = use & (z > OUTLIER_Z)
    inl = use & ~outl
    # Temporal structure: white noise (a share f of the variance) plus an AR(1) process (the rest,
    # lag-one correlation rho at fps_out). The error against the reference has autocorrelation
    # (1 - f') rho**k at k steps of fps_out, whatever white share f' (the reference's own
    # per-frame noise adds to it), so rho is the decay of acf(k), k = 1..ACF_LAGS. The detector's
    # own white share f comes from the detections alone: their deviation from a local quadratic
    # fit (taps c) has variance f c.c + (1 - f) c.R(rho).c in units of the spread's variance.
    num = np.zeros(ACF_LAGS)
    den = np.zeros(ACF_LAGS)
    for (es, ms), lag in zip(series, lags):
        r = es
        good = ms & (np.sqrt(((r / spread) ** 2).sum(-1)) <= OUTLIER_Z)
        for k in range(1, ACF_LAGS + 1):
            sh = k * lag
            if len(r) <= sh:
                break
            both = good[sh:] & good[:-sh]
            a, b = r[sh:][both], r[:-sh][both]
            num[k - 1] += float((a * b).sum())
            den[k - 1] += float(((a * a).sum() + (b * b).sum()) / 2)
    acf = np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)
    ks = np.arange(1, ACF_LAGS + 1)
    pos = acf > 0.02
    if pos.sum() >= 2:
        slope = np.polyfit(ks[pos], np.log(acf[pos]), 1)[0]
        rho = float(np.clip(np.exp(slope), 0.0, 0.98))
    else:
        rho = float(np.clip(acf[0], 0.0, 0.98))
    parts = []                                       # (measured residual / spread variance, taps, lag, n)
    for (own, fps), lag in zip(wins, lags):
        ok = np.isfinite(own).all(-1) & ~(np.nan_to_num(np.sqrt(((own / spread) ** 2).sum(-1))) > OUTLIER_Z)
        if ok.sum() >= 20:
            # robust (1.4826 MAD): a gross error leaks into its neighbours' local fits
            have = np.array([ok[:, j].sum() >= 10 for j in range(17)])     # joints measured here only
            v = np.array([(1.4826 * np.median(np.abs(own[ok[:, j], j]), axis=0)) ** 2 if have[j] else np.zeros(2)
                          for j in range(17)])
            parts.append((float(v[have].sum()) / float((spread[have] ** 2).sum()), _residual_filter(fps), lag,
                          int(ok.sum())))
    white_share, best = 0.0, np.inf
    for f in np.linspace(0.0, 0.95, 96) if parts else []:
        miss = 0.0
        for meas, c, lag, n in parts:
            pred = f * float(c @ c) + (1.0 - f) * _ar1_pass(c, rho ** (1.0 / lag))
            miss += n * (np.log(pred) - np.log(meas)) ** 2
        if miss < best:
            best, white_share = miss, float(f)
    white = np.sqrt(white_share) * spread
    # outliers: rate by group, slow vs fast joints
    fast_speed = float(np.nanpercentile(sp[use], 80)) if np.isfinite(sp[use]).any() else np.inf
    fast = np.nan_to_num(sp, nan=0.0) > fast_speed
    k_slow = np.array([(outl & ~fast)[:, group == g].sum() for g in range(n_groups)])
    n_slow = np.array([(use & ~fast)[:, group == g].sum() for g in range(n_groups)])
    k_fast = np.array([(outl & fast)[:, group == g].sum() for g in range(n_groups)])
    n_fast = np.array([(use & fast)[:, group == g].sum() for g in range(n_groups)])
    out_mag = np.linalg.norm(res[outl], axis=-1)          # torso units
    out_z = z[outl]                                       # in spreads (the sampler's unit)
    seq_len = [len(x) for x in errs]                      # runs stay inside one sequence
    out_runs = _runs(outl, seq_len)
    # missing joints, where the reference says the joint is there
    k_miss = np.array([(~det_ok & ok_ref)[:, group == g].sum() for g in range(n_groups)])
    n_miss = np.array([ok_ref[:, group == g].sum() for g in range(n_groups)])
    miss_runs = _runs(~det_ok & ok_ref, seq_len)
    # swaps per pair
    swap_rate, swap_runs = {}, []
    for key, (l, r) in PAIRS.items():
        both = det_ok[:, l] & det_ok[:, r] & ok_ref[:, l] & ok_ref[:, r]
        swap_rate[key] = [int(sw[:, l][both].sum()), int(both.sum())]
        swap_runs += _runs(sw[:, l] & both, seq_len)
    k_sw = np.array([v[0] for v in swap_rate.values()])
    n_sw = np.array([v[1] for v in swap_rate.values()])
    swap_p = _rate(k_sw, n_sw)
    # confidences
    conf_inl = {g: np.quantile(conf[:, group == k][inl[:, group == k]], QUANTILES) for k, g in enumerate(GROUPS)}
    # outliers' scores; with none seen, the lowest fifth of the inliers' scores stands in
    conf_out = (np.quantile(conf[outl], QUANTILES) if outl.any()
                else np.quantile(conf[inl], np.linspace(0.0, 0.2, len(QUANTILES))))
    rc = spearmanr(z[inl], conf[inl]).statistic if inl.sum() > 10 else 0.0
    lag_scale = float(np.mean(lags))         # source frames per fps_out frame

    def mean_run(runs):
        return round(float(max(1.0, np.mean(runs) / lag_scale)), 3) if runs else 1.0

    n_frames = int(len(e))
    return {
        "format": FORMAT, "format_version": 1, "name": name, "source": source,
        "fps": fps_out, "frames": n_frames, "joint_frames_used": int(use.sum()),
        "joints": list(COCO.names), "groups": {k: list(v) for k, v in GROUPS.items()},
        "units": "torso lengths (mean shoulder-to-hip distance of the reference); axes (side, up)",
        "bias": np.round(bias, 5).tolist(), "spread": np.round(spread, 5).tolist(),
        "white": np.round(white, 5).tolist(), "rho": round(rho, 4),
        "outlier": {"z": OUTLIER_Z, "fast_speed": round(fast_speed, 4) if np.isfinite(fast_speed) else None,
                    "rate_slow": np.round(_rate(k_slow, n_slow), 6).tolist(),
                    "rate_fast": np.round(_rate(k_fast, n_fast), 6).tolist(),
                    "counts_slow": [k_slow.tolist(), n_slow.tolist()],
                    "counts_fast": [k_fast.tolist(), n_fast.tolist()],
                    "magnitude_quantiles": (np.round(np.quantile(out_mag, QUANTILES), 5).tolist()
                                            if len(out_mag) else [0.3] * len(QUANTILES)),
                    "z_quantiles": (np.round(np.quantile(out_z, QUANTILES), 4).tolist()
                                    if len(out_z) else [2 * OUTLIER_Z] * len(QUANTILES)),
                    "mean_len": mean_run(out_runs)},
        "missing": {"rate": np.round(_rate(k_miss, n_miss), 6).tolist(),
                    "counts": [k_miss.tolist(), n_miss.tolist()], "mean_len": mean_run(miss_runs)},
        "swap": {"pairs": {k: list(v) for k, v in PAIRS.items()}, "rate": np.round(swap_p, 6).tolist(),
                 "counts": [k_sw.tolist(), n_sw.tolist()], "mean_len": mean_run(swap_runs)},
        "conf": {"quantiles": QUANTILES.round(3).tolist(),
                 "inlier": {g: np.round(q, 4).tolist() for g, q in conf_inl.items()},
                 "outlier": np.round(conf_out, 4).tolist(),
                 "rank_corr": round(float(np.nan_to_num(rc)), 4),
                 "threshold": round(float(conf[det_ok].min()), 4) if det_ok.any() else 0.0},
    }


@lru_cache(maxsize=None)
def load_error_model(name: str) -> dict:
    """A bundled table by name (``sasmamba_cli/data/error_models/NAME.json``) or a JSON file path."""
    if name.endswith(".json"):
        text = open(name, encoding="utf-8").read()
    else:
        f = resources.files("sasmamba_cli.data").joinpath("error_models").joinpath(f"{name}.json")
        if not f.is_file():
            bundled = sorted(p.name.removesuffix(".json")
                             for p in resources.files("sasmamba_cli.data").joinpath("error_models").iterdir()
                             if p.name.endswith(".json"))
            raise ValueError(f"unknown 2D error model {name!r}: expected one of {bundled} or a .json path")
        text = f.read_text(encoding="utf-8")
    model = json.loads(text)
    if model.get("format") != FORMAT:
        raise ValueError(f"{name}: expected a {FORMAT!r} table, found format {model.get('format')!r}")
    missing = [k for k in ("fps", "bias", "spread", "rho", "outlier", "missing", "swap", "conf") if k not in model]
    if missing:
        raise ValueError(f"{name}: the table lacks {missing}; refit it with benchmarks/fit_2d_errors.py")
    return model


def _episodes(rate: np.ndarray, mean_len: float, rng: np.random.Generator) -> np.ndarray:
    """``(T, K)`` bool: episodes of a geometric number of frames of mean ``mean_len`` that start
    with probability ``q = -ln(1 - rate) / mean_len`` in each frame (overlaps allowed), so that a
    frame is covered with probability ``1 - exp(-q mean_len) = rate``. ``rate``: ``(T, K)``."""
    rate = np.clip(np.asarray(rate, np.float64), 0.0, 0.95)
    T, K = rate.shape
    burn = int(np.ceil(5 * max(mean_len, 1.0)))        # episodes already running at frame 0
    rate = np.concatenate([np.repeat(rate[:1], burn, 0), rate])
    start = rng.random((T + burn, K)) < np.clip(-np.log1p(-rate) / max(mean_len, 1.0), 0.0, 1.0)
    out = np.zeros((T + burn, K), bool)
    for t, k in zip(*np.nonzero(start)):
        out[t:t + int(rng.geometric(1.0 / max(mean_len, 1.0))), k] = True
    return out[burn:]


def sample_detections(coco_px: np.ndarray, rng: np.random.Generator, model: dict,
                      level: float = 1.0) -> np.ndarray:
    """Clean COCO-17 pixels ``(T, 17, 2)`` at the table's fps -> simulated detections
    ``(T, 17, 3)`` (x, y px; confidence, 0 = missing, x and y then meaningless). ``level``
    scales the spatial errors (offsets, jitter, gross errors) of this clip."""
    xy = np.asarray(coco_px, np.float64)
    T = len(xy)
    if xy.shape != (T, 17, 2) or T < 1:
        raise ValueError(f"expected clean COCO pixels of shape (T, 17, 2), found {xy.shape}")
    group = _group_of()
    torso, up, side = body_frame(xy)
    bias, spread = np.asarray(model["bias"]), np.asarray(model["spread"]) * level
    offset = np.abs(bias) * level * rng.choice([-1.0, 1.0], size=(17, 2))     # this clip's offsets
    white = np.asarray(model.get("white", np.zeros((17, 2)))) * level
    slow = np.sqrt(np.maximum(spread ** 2 - white ** 2, 0.0))
    rho = float(model["rho"])
    y0 = rng.normal(size=(1, 17, 2))
    ar = lfilter([np.sqrt(1 - rho * rho)], [1.0, -rho], rng.normal(size=(T, 17, 2)), axis=0,
                 zi=rho * y0)[0]                                               # AR(1), unit variance
    noise = ar * slow + rng.normal(size=(T, 17, 2)) * white                   # torso units
    jit = noise / np.maximum(spread, 1e-9)                                    # in spreads
    err = offset + noise
    # gross errors, more often on fast joints
    o = model["outlier"]
    speed = np.zeros((T, 17))
    if T >= 3:
        speed[1:-1] = np.linalg.norm(xy[2:] - xy[:-2], axis=-1) * model["fps"] / 2 / torso[1:-1, None]
    fast = np.inf if o.get("fast_speed") is None else o["fast_speed"]
    rate = np.where(speed > fast, np.asarray(o["rate_fast"])[group], np.asarray(o["rate_slow"])[group])
    gross = _episodes(rate, o["mean_len"], rng)
    if gross.any():
        n = int(gross.sum())
        zs = np.interp(rng.random(n), QUANTILES, o["z_quantiles"])             # Mahalanobis distance
        ang = rng.uniform(0, 2 * np.pi, n)
        j = np.nonzero(gross)[1]
        err[gross] = offset[j] + zs[:, None] * np.stack([np.cos(ang), np.sin(ang)], -1) * spread[j]
    det = xy + (err[..., :1] * side[:, None] + err[..., 1:] * up[:, None]) * torso[:, None, None]
    # left/right swaps of a pair
    s = model["swap"]
    for (l, r), p in zip(s["pairs"].values(), s["rate"]):
        ep = _episodes(np.full((T, 1), p), s["mean_len"], rng)[:, 0]
        det[ep, l], det[ep, r] = det[ep, r].copy(), det[ep, l].copy()
    # confidences: inliers through a Gaussian copula with their error, gross errors from their own law
    c = model["conf"]
    rs = float(c["rank_corr"])
    r = 2 * np.sin(np.pi * rs / 6)                                # Spearman -> Gaussian correlation
    u_err = 1 - np.exp(-(jit ** 2).sum(-1) / 2)                    # chi-square(2) CDF of the jitter
    g = r * ndtri(np.clip(u_err, 1e-9, 1 - 1e-9)) + np.sqrt(max(1 - r * r, 0.0)) * rng.normal(size=(T, 17))
    u = ndtr(g)
    conf = np.empty((T, 17))
    for k, name in enumerate(GROUPS):
        cols = group == k
        conf[:, cols] = np.interp(u[:, cols], QUANTILES, c["inlier"][name])
    if gross.any():
        conf[gross] = np.interp(rng.random(int(gross.sum())), QUANTILES, c["outlier"])
    missing = _episodes(np.asarray(model["missing"]["rate"])[group][None].repeat(T, 0),
                        model["missing"]["mean_len"], rng)
    conf = np.where(missing, 0.0, np.maximum(conf, 1e-3))
    return np.concatenate([det, conf[..., None]], -1)
