"""Optional temporal smoothing of a track's 3D, and the jitter metric that measures it.

Stage ``(smooth)`` of the pipeline (``sasmamba lift --smooth SPEC``, ``sasmamba eval --smooth
SPEC``). Every filter runs along time (axis 0) on positions in **metres** sampled at ``fps``
frames per second, one column (joint x coordinate) at a time except the One Euro filter, whose
adaptive cutoff uses each joint's 3D speed:

* ``joints_m`` ``(n, 17, 3)``: root-relative metres (the pelvis stays 0: every filter maps a
  zero signal to zero);
* ``root_m`` ``(n, 3)``: the pelvis in camera metres.

Filters (:data:`FILTERS`, name -> function + parameters with their defaults):

``none``
    identity.
``butterworth`` (``cutoff_hz`` 6, ``order`` 4)
    zero-phase low-pass: a Butterworth of half the order run forward and backward
    (``scipy.signal.butter`` + ``sosfiltfilt``), so ``order`` is the order of the combined filter
    (4 = the biomechanics convention, Winter 2009; Pose2Sim does the same); gain 0.5 at
    ``cutoff_hz`` (default :data:`DEFAULT_CUTOFF_HZ`). A cutoff at or above the Nyquist frequency
    (fps / 2) removes nothing: the input is returned. Short tracks use a shorter edge padding (at
    most n - 1 frames).
``savgol`` (``window_s`` 0.25, ``polyorder`` 2)
    Savitzky-Golay (``scipy.signal.savgol_filter``, ``mode="interp"``): a local polynomial of
    degree ``polyorder`` over ``round(window_s * fps)`` frames, plus one if even, at most the track
    length (0.25 s at 30 fps: 9 frames, gain 0.5 near 4.4 Hz). A window of at most ``polyorder``
    frames returns the input.
``oneeuro`` (``min_cutoff_hz`` 1, ``beta`` 5, ``d_cutoff_hz`` 1)
    causal One Euro filter (Casiez et al., CHI 2012): an exponential smoother whose cutoff rises
    with speed, ``cutoff = min_cutoff_hz + beta * |velocity|`` (Hz; the velocity, in m/s, is itself
    smoothed at ``d_cutoff_hz``). ``min_cutoff_hz`` sets the jitter at rest (lower = smoother),
    ``beta`` (1/m) the lag during fast motion (higher = less lag). Causal, so it lags (for
    streaming; offline, prefer the zero-phase filters).

Non-finite samples are bridged by linear interpolation for filtering and put back as NaN
afterwards; a column with no finite sample is left as it is. No filter adds a NaN.

Jitter (:func:`jitter_mm_s2`): the mean over frames and joints of the acceleration magnitude,
``|x[t+1] - 2 x[t] + x[t-1]| * fps**2``, in **mm/s^2** (fps-independent; divide by fps**2 for
mm/frame^2). ``None`` for tracks shorter than 3 frames.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

DEFAULT_CUTOFF_HZ = 6.0          # biomechanics default for gait (Winter 2009; Pose2Sim uses 6 Hz)
BUTTERWORTH_ORDER = 4            # order of the forward-backward (zero-phase) combination
SAVGOL_WINDOW_S = 0.25           # 9 frames at 30 fps
SAVGOL_POLYORDER = 2
ONEEURO_MIN_CUTOFF_HZ = 1.0      # cutoff at rest
ONEEURO_BETA_PER_M = 5.0         # cutoff rise per m/s of joint speed
ONEEURO_D_CUTOFF_HZ = 1.0        # smoothing of the velocity estimate
DEFAULT_SMOOTH = "butterworth"   # `sasmamba lift --smooth` default: 6 Hz (docs/results.md, "Temporal smoothing")
M_TO_MM = 1000.0
SPEC_EXAMPLES = "e.g. --smooth butterworth:6 (6 Hz cutoff) or --smooth oneeuro:min_cutoff_hz=1,beta=5"


# --- filters: (n, ...) metres at fps -> same shape ---------------------------------------------------

def _identity(x: np.ndarray, fps: float) -> np.ndarray:
    return x.copy()


def butterworth(x: np.ndarray, fps: float, cutoff_hz: float = DEFAULT_CUTOFF_HZ,
                order: int = BUTTERWORTH_ORDER) -> np.ndarray:
    """Zero-phase Butterworth low-pass along axis 0 of finite ``x (n, ...)`` sampled at ``fps`` Hz.

    ``order`` (even) is the order of the forward-backward pair: a Butterworth of order
    ``order // 2`` is applied twice, so the gain at ``cutoff_hz`` is 0.5 and there is no lag.
    """
    n = x.shape[0]
    if n < 2 or cutoff_hz >= fps / 2.0:
        return x.copy()
    from scipy.signal import butter, sosfiltfilt

    sos = butter(int(order) // 2, cutoff_hz, btype="low", fs=fps, output="sos")
    default_pad = 3 * (2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum())))
    return sosfiltfilt(sos, x, axis=0, padlen=min(default_pad, n - 1))


def savgol(x: np.ndarray, fps: float, window_s: float = SAVGOL_WINDOW_S,
           polyorder: int = SAVGOL_POLYORDER) -> np.ndarray:
    """Savitzky-Golay smoothing along axis 0 of finite ``x (n, ...)``; window ``window_s`` seconds."""
    n = x.shape[0]
    frames = max(1, int(round(window_s * fps)))
    frames += 1 - frames % 2                                   # odd
    frames = min(frames, n if n % 2 else n - 1)                # at most the track
    if frames <= int(polyorder):
        return x.copy()
    from scipy.signal import savgol_filter

    return savgol_filter(x, frames, int(polyorder), axis=0, mode="interp")


def _alpha(cutoff_hz: np.ndarray | float, fps: float) -> np.ndarray | float:
    """Smoothing factor of an exponential filter with this cutoff (Hz) at ``fps``."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz))
    return 1.0 / (1.0 + tau * fps)


def oneeuro(x: np.ndarray, fps: float, min_cutoff_hz: float = ONEEURO_MIN_CUTOFF_HZ,
            beta: float = ONEEURO_BETA_PER_M, d_cutoff_hz: float = ONEEURO_D_CUTOFF_HZ) -> np.ndarray:
    """Causal One Euro filter along axis 0 of finite ``x (n, ..., 3)`` metres at ``fps``.

    The cutoff of each point (last axis = x, y, z) is ``min_cutoff_hz + beta * speed`` with the
    speed (m/s) the norm of its smoothed velocity, so a joint's three coordinates share it.
    """
    out = np.empty_like(x, dtype=np.float64)
    if x.shape[0] == 0:
        return out
    out[0] = x[0]
    velocity = np.zeros_like(out[0])
    a_d = _alpha(d_cutoff_hz, fps)
    for t in range(1, x.shape[0]):
        raw_velocity = (x[t] - out[t - 1]) * fps
        velocity = velocity + a_d * (raw_velocity - velocity)
        speed = np.linalg.norm(velocity, axis=-1, keepdims=True)
        a = _alpha(min_cutoff_hz + beta * speed, fps)
        out[t] = out[t - 1] + a * (x[t] - out[t - 1])
    return out


# --- the table -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    """One filter parameter: default, lower bound (``strict``: bound excluded), integer / even."""

    name: str
    default: float
    minimum: float
    strict: bool = True
    integer: bool = False
    even: bool = False
    doc: str = ""

    def check(self, value: float, filter_name: str) -> float:
        fix = f"(--smooth {filter_name}:{self.name}=VALUE; {self.doc})"
        bad_bound = value <= self.minimum if self.strict else value < self.minimum
        if not math.isfinite(value) or bad_bound:
            op = ">" if self.strict else ">="
            raise InputError(f"smoothing {filter_name}: expected {self.name} {op} {self.minimum:g}, found "
                             f"{value:g} {fix}")
        if self.integer and value != int(value):
            raise InputError(f"smoothing {filter_name}: expected an integer {self.name}, found {value:g} {fix}")
        if self.even and int(value) % 2:
            raise InputError(f"smoothing {filter_name}: expected an even {self.name} (forward + backward "
                             f"passes), found {value:g} {fix}")
        return float(value)


@dataclass(frozen=True)
class SmoothFilter:
    """A filter: ``fn(x (n, ...), fps, **params) -> (n, ...)``, its parameters (the first one is the
    ``NAME:VALUE`` shorthand) and a one-line description."""

    fn: Callable[..., np.ndarray]
    params: tuple[Param, ...]
    doc: str


FILTERS: dict[str, SmoothFilter] = {
    "none": SmoothFilter(_identity, (), "no smoothing"),
    "butterworth": SmoothFilter(butterworth, (
        Param("cutoff_hz", DEFAULT_CUTOFF_HZ, 0.0, doc="Hz, gain 0.5 there"),
        Param("order", BUTTERWORTH_ORDER, 2, strict=False, integer=True, even=True,
              doc="order of the zero-phase pair")), "zero-phase low-pass"),
    "savgol": SmoothFilter(savgol, (
        Param("window_s", SAVGOL_WINDOW_S, 0.0, doc="seconds"),
        Param("polyorder", SAVGOL_POLYORDER, 0, strict=False, integer=True, doc="polynomial degree")),
        "Savitzky-Golay"),
    "oneeuro": SmoothFilter(oneeuro, (
        Param("min_cutoff_hz", ONEEURO_MIN_CUTOFF_HZ, 0.0, doc="Hz at rest"),
        Param("beta", ONEEURO_BETA_PER_M, 0.0, strict=False, doc="Hz per m/s of speed"),
        Param("d_cutoff_hz", ONEEURO_D_CUTOFF_HZ, 0.0, doc="Hz, velocity smoothing")),
        "causal One Euro"),
}


@dataclass(frozen=True)
class SmoothSpec:
    """A filter name and every parameter value (defaults filled in), e.g. ``butterworth:cutoff_hz=6,order=4``."""

    name: str = "none"
    params: tuple[tuple[str, float], ...] = ()

    def __str__(self) -> str:
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v:g}" for k, v in self.params)

    @property
    def kwargs(self) -> dict:
        table = {p.name: p for p in FILTERS[self.name].params}
        return {k: int(v) if table[k].integer else v for k, v in self.params}

    def as_dict(self) -> dict:
        return {"filter": self.name, "params": self.kwargs}


NO_SMOOTHING = SmoothSpec()


def parse_smooth(text: str) -> SmoothSpec:
    """``NAME``, ``NAME:VALUE`` (the filter's first parameter) or ``NAME:KEY=VALUE,...`` -> spec.

    Raises :class:`InputError` naming what was expected and found.
    """
    name, _, rest = str(text).strip().partition(":")
    name = name.strip().lower()
    if name not in FILTERS:
        raise InputError(f"--smooth: unknown filter {name!r}; expected one of {', '.join(FILTERS)}, "
                         f"optionally with parameters ({SPEC_EXAMPLES})")
    f = FILTERS[name]
    values = {p.name: float(p.default) for p in f.params}
    items = [s.strip() for s in rest.split(",")] if rest.strip() else []
    if items and not f.params:
        raise InputError(f"--smooth: filter {name!r} takes no parameters, found {rest!r}")
    for i, item in enumerate(items):
        key, eq, raw = item.partition("=")
        if not eq:
            if i > 0:
                raise InputError(f"--smooth {text}: expected KEY=VALUE after the first value, found {item!r}")
            key, raw = f.params[0].name, key
        key = key.strip()
        if key not in values:
            raise InputError(f"--smooth: filter {name!r} has no parameter {key!r}; expected one of "
                             f"{', '.join(values)}")
        try:
            value = float(raw)
        except ValueError:
            raise InputError(f"--smooth: expected a number for {name} {key}, found {raw.strip()!r}") from None
        values[key] = next(p for p in f.params if p.name == key).check(value, name)
    return SmoothSpec(name, tuple(values.items()))


# --- applying a spec --------------------------------------------------------------------------------

def _fill_gaps(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, ...) -> (x with non-finite samples interpolated over time per column (0 where a column
    has none), the non-finite mask)."""
    bad = ~np.isfinite(x)
    if not bad.any():
        return np.asarray(x, np.float64), bad
    cols = np.array(x, np.float64).reshape(x.shape[0], -1)
    t = np.arange(x.shape[0])
    for c in np.flatnonzero(bad.reshape(x.shape[0], -1).any(axis=0)):
        ok = np.isfinite(cols[:, c])
        cols[:, c] = np.interp(t, t[ok], cols[ok, c]) if ok.any() else 0.0
    return cols.reshape(x.shape), bad


#: filters run one point at a time on (n, J, 3) (bit-identical to the whole array; savgol's edge fits
#: are not, oneeuro's Python loop over time would run once per joint)
PER_POINT = ("butterworth",)


def apply_smoothing(x_m: np.ndarray, fps: float, spec: SmoothSpec) -> np.ndarray:
    """Filter ``x_m (n, ..., 3)`` metres at ``fps`` over time with ``spec``; same shape, NaN where
    the input was non-finite (and nowhere else). The filters in :data:`PER_POINT` (the default
    Butterworth) filter an ``(n, J, 3)`` input one joint at a time into the output: the same
    numbers to the bit, with temporaries of one joint's length instead of the whole track's."""
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"smoothing: expected a positive frame rate, found fps={fps}")
    x = np.asarray(x_m)
    dtype = np.float32 if x.dtype == np.float32 else np.float64     # computed in float64, float32 kept
    if spec.name == "none" or x.shape[0] == 0:
        return np.array(x, dtype)
    if x.ndim < 3 or spec.name not in PER_POINT:
        return _apply_one(np.asarray(x, np.float64), float(fps), spec, x.shape).astype(dtype, copy=False)
    out = np.empty(x.shape, dtype)
    for j in np.ndindex(*x.shape[1:-1]):
        sl = (slice(None), *j)
        out[sl] = _apply_one(np.asarray(x[sl], np.float64), float(fps), spec, x.shape)
    return out


def _apply_one(x: np.ndarray, fps: float, spec: SmoothSpec, shape: tuple) -> np.ndarray:
    """:func:`apply_smoothing` of one point's (or a few points') samples ``x (n, ..., 3)``."""
    filled, bad = _fill_gaps(x)
    out = FILTERS[spec.name].fn(filled, fps, **spec.kwargs)
    out = np.where(bad, np.nan, out)
    if not np.all(np.isfinite(out[~bad])):
        raise RuntimeError(f"smoothing {spec} produced non-finite values from finite input "
                           f"(shape {shape}, fps {fps}); please report this")
    return out


def warm_up(spec: SmoothSpec) -> None:
    """Run ``spec`` once on a small dummy track so its one-off import cost (scipy.signal: ~0.8 s
    on a slow CPU) is paid when the pipeline loads, not inside the first clip's timings."""
    apply_smoothing(np.zeros((64, 1, 3)), 30.0, spec)


def _per_point(x: np.ndarray, fn) -> np.ndarray:
    """``fn`` of each point's samples ``x[:, j] (n, 3)`` of ``x (n, ..., 3)``, stacked as ``(m, ...)``
    float64 (``fn`` -> ``(m,)``): one point at a time, so no temporary holds the whole track."""
    if x.ndim < 3:
        return fn(np.asarray(x, np.float64))
    out = None
    for j in np.ndindex(*x.shape[1:-1]):
        v = fn(np.asarray(x[(slice(None), *j)], np.float64))
        if out is None:
            out = np.empty((v.shape[0], *x.shape[1:-1]), np.float64)
        out[(slice(None), *j)] = v
    return out


def jitter_mm_s2(x_m: np.ndarray, fps: float) -> float | None:
    """Mean acceleration magnitude (mm/s^2) of ``x_m (n, ..., 3)`` metres at ``fps``: the mean
    over frames and points of ``|x[t+1] - 2 x[t] + x[t-1]| * fps**2``; None below 3 frames or
    when no finite value exists."""
    x = np.asarray(x_m)
    if x.shape[0] < 3:
        return None
    acc = _per_point(x, lambda p: np.linalg.norm(np.diff(p, n=2, axis=0), axis=-1) * fps ** 2 * M_TO_MM)
    acc = acc[np.isfinite(acc)]
    return float(acc.mean()) if acc.size else None


def _mean_change_mm(a: np.ndarray, b: np.ndarray) -> float | None:
    b = np.asarray(b)
    if a.ndim >= 3 and a.shape == b.shape:
        d = np.empty(a.shape[:-1], np.float64)
        for j in np.ndindex(*a.shape[1:-1]):
            sl = (slice(None), *j)
            d[sl] = np.linalg.norm(np.asarray(a[sl], np.float64) - np.asarray(b[sl], np.float64), axis=-1) * M_TO_MM
    else:
        d = np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1) * M_TO_MM
    d = d[np.isfinite(d)]
    return float(d.mean()) if d.size else None


def _round(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(x, digits)


def smooth_track(joints_m: np.ndarray, root_m: np.ndarray, fps: float,
                 spec: SmoothSpec) -> tuple[np.ndarray, np.ndarray, dict]:
    """One track: ``joints_m (n, 17, 3)`` root-relative metres and ``root_m (n, 3)`` camera metres
    -> (smoothed joints, smoothed root, report). The report holds the jitter (mm/s^2) of the joints
    and of the root before and after, and the mean change (mm) the smoothing made."""
    joints = apply_smoothing(joints_m, fps, spec)
    root = apply_smoothing(root_m, fps, spec)
    report = {"joints_jitter_before": _round(jitter_mm_s2(joints_m, fps)),
              "joints_jitter_after": _round(jitter_mm_s2(joints, fps)),
              "root_jitter_before": _round(jitter_mm_s2(root_m, fps)),
              "root_jitter_after": _round(jitter_mm_s2(root, fps)),
              "joints_mean_change_mm": _round(_mean_change_mm(joints, joints_m), 2),
              "root_mean_change_mm": _round(_mean_change_mm(root, root_m), 2)}
    return joints, root, report


def smoothing_header(spec: SmoothSpec, fps: float, tracks: list[dict]) -> dict:
    """The result's top-level ``smoothing`` block: the filter, its parameters, the frame rate it ran
    at, the jitter unit and per track (``track_id`` + :func:`smooth_track`'s report)."""
    return {**spec.as_dict(), "fps": float(fps), "jitter_unit": "mm/s^2",
            "jitter_definition": "mean over frames and joints of |x[t+1] - 2 x[t] + x[t-1]| * fps^2",
            "tracks": tracks}


# --- the 2D before lifting (``--smooth-2d``) ---------------------------------------------------------

SMOOTH_2D_FILTERS = ("none", "butterworth", "savgol")     # unit-free filters (oneeuro's beta is per metre)


def parse_smooth_2d(text: str) -> SmoothSpec:
    """``--smooth-2d`` spec: as :func:`parse_smooth`, limited to :data:`SMOOTH_2D_FILTERS`."""
    spec = parse_smooth(text)
    if spec.name not in SMOOTH_2D_FILTERS:
        raise InputError(f"--smooth-2d: filter {spec.name!r} is not available for pixels; expected one of "
                         f"{', '.join(SMOOTH_2D_FILTERS)} (oneeuro's speed term is in metres)")
    return spec


def smooth_keypoints_2d(kp_px: np.ndarray, fps: float, spec: SmoothSpec) -> np.ndarray:
    """``kp_px (n, J, 3)`` x, y pixels + confidence -> the same with x, y of every joint seen
    (confidence > 0) filtered over time; missing joints are bridged for filtering only and stay
    as they were; confidences are unchanged."""
    kp = np.array(kp_px, dtype=np.float64, copy=True)
    if spec.name == "none" or kp.shape[0] < 2:
        return kp
    seen = (kp[..., 2] > 0) & np.all(np.isfinite(kp[..., :2]), axis=-1)
    xy = np.where(seen[..., None], kp[..., :2], np.nan)
    out = apply_smoothing(xy, fps, spec)
    kp[..., :2] = np.where(seen[..., None], out, kp[..., :2])
    return kp
