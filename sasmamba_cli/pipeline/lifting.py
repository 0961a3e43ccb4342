"""Lift: H36M 2D keypoint tracks -> root-relative 3D with the lifter checkpoint.

Per track: COCO-17 -> H36M-17 (:func:`sasmamba_cli.skeleton.coco_to_h36m`, the training
conversion), optional resampling to the checkpoint's training frame rate, the training
normalisation (:func:`sasmamba_cli.skeleton.lifter_input`), overlapping windows of the model's
length (:mod:`.windows`), flip test-time augmentation (flip the input with
:func:`~sasmamba_cli.skeleton.flip_h36m`, run, flip the output back, average), cross-faded
merging, and resampling back to the video's frames. Windows of all tracks and both flips run
together in batches.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..weights import require_default_weights, resolve_weights
from ..skeleton import flip_h36m, lifter_input
from .resample import resample_back, resample_keypoints
from .roll import rotate_camera_z, rotate_keypoints, torso_roll
from .windows import WindowPlan, cut_window, plan_windows, window_weights

@dataclass(frozen=True)
class LoadedLifter:
    """A lifter ready to run: ``model`` maps (B, window, 17, in_chans) -> (B, window, 17, 3)."""

    model: object               # torch.nn.Module (kept untyped so this module imports without torch)
    metadata: dict
    weights_path: Path
    arch: str
    in_chans: int
    window: int
    fps: float | None           # training frame rate, None if the checkpoint does not say
    device: str


def plain_fp32_on_cuda(device) -> None:
    """On a CUDA ``device``, turn TF32 off for matmuls and cuDNN convolutions (torch leaves it on
    for convolutions): lifting, training and evaluation then compute in plain fp32 as on the CPU.
    Measured: with TF32 convolutions the same weights scored the same MPJPE on an H200 (82.69 vs
    82.68 mm) but 8 % more acceleration error (6.45 vs 5.97 mm/frame^2) than on the CPU."""
    if str(device).startswith("cuda"):
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def load_weights(weights: str | Path | None, device: str = "cpu") -> tuple[object, dict, Path]:
    """The one ``--weights`` resolver and loader (``lift``, ``eval``, ``eval-h36m``, ``train``'s
    ``init_weights``): ``weights`` is a path (``X``, ``X.json`` or ``X.safetensors``), the name of a
    bundled checkpoint (``sasmamba_cmu``) or None (the shipped default). Returns ``(model on
    device, metadata card, the resolved path)``. Every mistake, a missing file, a card without its
    weights or weights without their card, a corrupt or mismatching checkpoint, is an
    :class:`InputError` (exit code 2)."""
    from sasmamba_models.checkpoint import CheckpointError, load_checkpoint, paths_for

    if weights is None:
        path = require_default_weights()
    else:
        path = resolve_weights(weights)                   # a path, or a bundled name (sasmamba_cmu)
        wpath, mpath = paths_for(path)
        if wpath.is_file() and not mpath.is_file():
            raise InputError(f"lifter weights {wpath} have no metadata card: expected {mpath} beside them "
                                "(the JSON that `sasmamba train` writes with the weights: format "
                                "'sasmamba-weights', arch, config, window, fps, input/output conventions, "
                                "weights_sha256); copy it along with the .safetensors file")
        if mpath.is_file() and not wpath.is_file():
            raise InputError(f"lifter card {mpath} has no weights: expected {wpath} beside it; copy the "
                                ".safetensors file that `sasmamba train` wrote with it")
        if not mpath.is_file() or not wpath.is_file():
            raise InputError(f"lifter checkpoint not found: expected {wpath} and {mpath}; "
                                "pass --weights to a checkpoint written by sasmamba (safetensors + JSON) "
                                "or a bundled name (sasmamba info lists them)")
    try:
        model, meta = load_checkpoint(path, map_location=device)
    except CheckpointError as e:
        raise InputError(f"cannot load lifter weights: {e}") from e
    return model, meta, Path(path)


def load_lifter(weights: str | Path | None, device: str = "cpu") -> LoadedLifter:
    """Load ``weights`` (:func:`load_weights`) on ``device``, ready to lift."""
    from sasmamba_models.checkpoint import paths_for

    model, meta, path = load_weights(weights, device)
    wpath, mpath = paths_for(path)
    cfg = meta.get("config", {})
    in_chans = int(cfg.get("in_chans", 2))
    window = int(meta.get("window") or cfg.get("max_frames") or 0)
    max_frames = int(cfg.get("max_frames") or window)
    if window < 1 or window > max_frames:
        raise InputError(f"checkpoint {mpath}: window {window} must be 1..config.max_frames ({max_frames})")
    model.to(device)
    plain_fp32_on_cuda(device)
    if str(device).startswith("cpu"):
        from sasmamba_models.scan import prepare_cpu_inference

        prepare_cpu_inference()          # compile / load the CPU scan kernel now, not in the first lift
    fps = meta.get("fps")
    return LoadedLifter(model, meta, wpath, str(meta.get("arch", "sasmamba")), in_chans, window,
                        float(fps) if fps else None, device)


@dataclass(frozen=True)
class LiftOptions:
    overlap: int | None = None     # frames shared by consecutive windows; None = window // 4
    flip_tta: bool = True
    batch_size: int = 32           # windows per forward pass
    resample: bool = True          # run at the checkpoint's training fps when it differs
    threads: int | None = None     # torch CPU threads while lifting (None: leave torch's setting)
    upright: bool = True           # lift each track with its median torso turned upright, then turn
                                   # the 3D back about the optical axis (camera roll; pipeline.roll)

    def overlap_for(self, window: int) -> int:
        return window // 4 if self.overlap is None else int(self.overlap)


def cpu_batch_size(model, device, requested: int) -> int:
    """``requested`` windows per forward pass, capped on a CPU by the model's
    ``cpu_batch_limit()`` (big models run faster in small batches there: their activations then
    stay in cache); unchanged on GPUs and for models without the method."""
    limit = getattr(model, "cpu_batch_limit", None)
    if str(device).startswith("cpu") and callable(limit):
        return max(1, min(int(requested), int(limit())))
    return max(1, int(requested))


def run_model_batches(lifter: LoadedLifter, rows: Callable[[int, int], np.ndarray], total: int,
                      batch_size: int, threads: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """The model on ``total`` windows that ``rows(a, b)`` gives ``(b - a, window, 17, in_chans)``
    (float32), in batches, no grad: yields ``(a, prediction)``, ``(b - a, window, 17, 3)`` float32
    as the model returns it. With ``threads`` torch's CPU thread count is set while it runs and
    restored after it."""
    import torch

    batch_size = cpu_batch_size(lifter.model, lifter.device, batch_size)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        with torch.inference_mode():
            for i in range(0, total, batch_size):
                x = torch.from_numpy(np.ascontiguousarray(rows(i, min(i + batch_size, total)))).to(lifter.device)
                yield i, lifter.model(x).float().cpu().numpy()
    finally:
        torch.set_num_threads(before)


def run_model(lifter: LoadedLifter, windows: np.ndarray, batch_size: int, threads: int | None = None) -> np.ndarray:
    """``(K, window, 17, in_chans)`` float32 -> ``(K, window, 17, 3)`` float64, batched, no grad;
    with ``threads`` torch's CPU thread count is set for the call and restored after it."""
    out = [p.astype(np.float64) for _, p in
           run_model_batches(lifter, lambda a, b: windows[a:b], windows.shape[0], batch_size, threads)]
    return np.concatenate(out, 0) if out else np.zeros((0,) + windows.shape[1:3] + (3,))


def lift_sequences(lifter: LoadedLifter, kp_h36m_px: list[np.ndarray], width: int, height: int,
                   video_fps: float, options: LiftOptions = LiftOptions()) -> list[np.ndarray]:
    """Lift each ``(T_i, 17, 3)`` H36M px + conf sequence -> ``(T_i, 17, 3)`` root-relative, model units."""
    return lift_sequences_rolled(lifter, kp_h36m_px, width, height, video_fps, options)[0]


def lift_sequences_rolled(lifter: LoadedLifter, kp_h36m_px: list[np.ndarray], width: int, height: int,
                          video_fps: float, options: LiftOptions = LiftOptions()
                          ) -> tuple[list[np.ndarray], list[float]]:
    """:func:`lift_sequences` and the roll each track was lifted at (radians, clockwise on screen;
    0 when ``options.upright`` is off): the 2D is turned by ``-roll`` about the image centre before
    lifting and the 3D turned back by ``+roll`` about z (:mod:`.roll`)."""
    out = infer_sequences(lifter, kp_h36m_px, [(width, height)] * len(kp_h36m_px), video_fps, options)
    return (out.tta if options.flip_tta else out.plain), out.rolls


@dataclass(frozen=True)
class Inference:
    """What :func:`infer_sequences` returns, one entry per input sequence: ``plain`` and ``tta``
    ``(T_i, 17, 3)`` root-relative camera-frame 3D (model units) without / with flip TTA (None
    when not asked for), ``rolls`` the roll each was lifted at (radians)."""

    plain: list[np.ndarray] | None
    tta: list[np.ndarray] | None
    rolls: list[float]


def infer_sequences(lifter: LoadedLifter, kp_h36m_px: list[np.ndarray], sizes: list[tuple[int, int]],
                    fps: float, options: LiftOptions = LiftOptions(), both: bool = False) -> Inference:
    """The one inference path of ``lift``, ``eval`` and ``eval-h36m``: H36M px + conf sequences
    ``(T_i, 17, 3)`` with their image sizes ``(w, h)`` -> root-relative 3D.

    Per sequence: upright turn (``options.upright``), resampling to the checkpoint's fps, the
    training normalisation, overlapping windows of the model's length, flip test-time
    augmentation, cross-faded merge, resampling back, turn back. Windows of all sequences (and
    their mirrored copies) run together in batches. ``both``: return the plain and the flip-TTA
    prediction from one forward pass (else only the one ``options.flip_tta`` names).
    """
    n = len(kp_h36m_px)
    if not n:
        return Inference([] if both or not options.flip_tta else None,
                         [] if both or options.flip_tta else None, [])
    want_plain = both or not options.flip_tta
    want_tta = both or options.flip_tta
    resample = bool(options.resample and lifter.fps and abs(lifter.fps - fps) > 0.01 * lifter.fps)
    rolls = [torso_roll(kp) if options.upright else 0.0 for kp in kp_h36m_px]
    inputs, plans = [], []
    for kp, (w, h), r in zip(kp_h36m_px, sizes, rolls):
        kp = rotate_keypoints(kp, -r, w, h) if r else kp
        src = resample_keypoints(kp, fps, lifter.fps) if resample else kp
        x = lifter_input(src, w, h, lifter.in_chans)                            # (T', 17, C)
        inputs.append(x)
        plans.append(plan_windows(x.shape[0], lifter.window, options.overlap_for(lifter.window)))
    # The windows of all sequences, then (flip TTA) their mirrored copies, go through the model in
    # batches, cut from the inputs batch by batch and merged into each sequence as they come out:
    # memory holds one batch of windows, not all of them (it stays small on long videos). Only the
    # plain predictions (float32, as the model returns them) wait for their mirrored partners. A
    # sequence is finished (merged, resampled back, turned back) as soon as its last window is
    # merged, and its input, held predictions and merge buffers are freed then: sequences finish
    # in order, so the later ones do not wait beside every earlier one's buffers.
    counts = [len(p.starts) for p in plans]
    owner = np.repeat(np.arange(n), counts)                                     # window -> sequence
    local = np.concatenate([np.arange(c) for c in counts])                      # window -> index in it
    k = len(owner)
    total = 2 * k if want_tta else k
    plain_m = [_Merger(p) for p in plans] if want_plain else None
    tta_m = [_Merger(p) for p in plans] if want_tta else None
    held = [np.empty((c, lifter.window, 17, 3), np.float32) for c in counts] if want_tta else None
    lengths = [kp.shape[0] for kp in kp_h36m_px]
    # index (in the batch order) of the window after which sequence i is complete
    complete = np.cumsum(counts) - 1 + (k if want_tta else 0)
    plain_out: list = [None] * n
    tta_out: list = [None] * n

    def rows(a: int, b: int) -> np.ndarray:
        j = np.arange(a, b)
        win = np.stack([cut_window(inputs[owner[i]], plans[owner[i]], local[i]) for i in j % k])
        if b <= k:
            return win
        if a >= k:
            return flip_h36m(win)
        return np.concatenate([win[:k - a], flip_h36m(win[k - a:])], 0)

    def finish(m: _Merger, i: int) -> np.ndarray:
        seq = m.result()                                                        # (T', 17, 3)
        if resample:
            seq = resample_back(seq, fps, lifter.fps, lengths[i])
        seq -= seq[:, :1]                     # root-relative (in place: numpy buffers the overlap)
        return rotate_camera_z(seq, rolls[i])                                   # roll back

    for a, pred in run_model_batches(lifter, rows, total, options.batch_size, options.threads):
        for j in range(a, a + pred.shape[0]):
            p = pred[j - a]
            i = j % k
            s = owner[i]
            if j < k:
                if want_plain:
                    plain_m[s].add(p.astype(np.float64))
                if want_tta:
                    held[s][local[i]] = p
            else:
                tta_m[s].add(0.5 * (held[s][local[i]].astype(np.float64) + flip_h36m(p.astype(np.float64))))
            if j == complete[s]:
                if want_plain:
                    plain_out[s], plain_m[s] = finish(plain_m[s], s), None
                if want_tta:
                    tta_out[s], tta_m[s], held[s] = finish(tta_m[s], s), None, None
                inputs[s] = None

    return Inference(plain_out if want_plain else None, tta_out if want_tta else None, rolls)


class _Merger:
    """:func:`.windows.merge_windows` fed one window at a time, in window order (the same
    arithmetic in the same order, so the same result to the bit)."""

    def __init__(self, plan: WindowPlan):
        self.plan = plan
        self.i = 0
        self.out = self.acc = None
        self.padded = bool(plan.pad_after or plan.pad_before)
        self.w = None if self.padded else window_weights(plan)

    def add(self, pred: np.ndarray) -> None:
        """The prediction ``(window, ...)`` float64 of the plan's next window."""
        plan, i = self.plan, self.i
        if self.padded:
            self.out = pred[plan.pad_before:plan.pad_before + plan.length]
        else:
            if self.out is None:
                self.out = np.zeros((plan.length,) + pred.shape[1:], dtype=np.float64)
                self.acc = np.zeros(plan.length)
            s = plan.starts[i]
            extra = (1,) * (pred.ndim - 1)
            self.out[s:s + plan.window] += pred * self.w[i].reshape((-1,) + extra)
            self.acc[s:s + plan.window] += self.w[i]
        self.i += 1

    def result(self) -> np.ndarray:
        """The merged ``(length, ...)`` float64, divided in place (the merger is spent after it)."""
        if self.i != len(self.plan.starts):
            raise RuntimeError(f"merge: expected {len(self.plan.starts)} windows, found {self.i}")
        out, acc, self.out, self.acc = self.out, self.acc, None, None
        if out is None:
            raise RuntimeError("merge: result() was already taken")
        if not self.padded:
            out /= acc.reshape((-1,) + (1,) * (out.ndim - 1))
        return out
