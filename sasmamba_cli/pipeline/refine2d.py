"""``--refine-2d``: adjust each track's lifted 3D so that it reprojects onto its confident 2D.

The lifter's 3D can contradict the 2D it was given (a trunk leaning sideways, an arm a few
centimetres off): the network regresses a plausible pose, not one that is forced through the
keypoints. This stage solves, for every frame of a track at once,

    minimise  sum_j c_j * huber(|pi(R + X_j) - x_j| / s_px)          reprojection (confident 2D)
            + W_PRIOR * sum_j |X_j - X_lift_j|^2 / s_m^2              stay near the lifter's pose
            + W_BONE  * sum_b (|X_a - X_b| - L_b)^2 / s_bone^2        one fixed skeleton per track
            + W_SMOOTH * sum_t |D_t - D_{t-1}|^2 / s_dt^2             corrections vary slowly

over the root-relative joints ``X`` (metres, pelvis fixed at 0) and the root ``R`` (camera
metres), where ``pi`` is the pinhole projection of the assumed camera (``--fov``), ``x_j`` the
H36M-17 2D in pixels with confidence ``c_j`` (missing joints: 0), ``s_px`` a tolerance of
``TOL_TORSO`` times the track's median 2D torso length (so the weights do not depend on the
image size), ``L_b`` the track's median bone lengths of the lift itself. The Huber loss keeps a
wrong 2D keypoint (a gross detector error) from dragging the skeleton. ``D_t`` is frame ``t``'s
correction (each joint's change and the root's), ``s_dt = TOL_RATE_M_S / fps``: a correction
may drift at walking-arm speeds but not jump from frame to frame, so the stage fixes what the 2D
contradicts for many frames (a leaning trunk, an arm's side) without copying each frame's 2D
noise into the 3D (without it, on mocap, the unsmoothed acceleration error tripled).

It cannot fix depth (moving a joint along its camera ray does not change the projection: the
prior holds it), but it removes what the 2D contradicts. Solved with L-BFGS in float64 on the
CPU; ``ITERATIONS`` steps. Shapes: ``joints_m (n, 17, 3)``, ``root_m (n, 3)``, ``kp_px (n, 17, 3)``.

Every term is a sum over frames, so a long track is solved in consecutive blocks of at most
``BLOCK_FRAMES`` frames, each by its own L-BFGS (the tolerance ``s_px`` and the bone lengths
``L_b`` still come from the whole track): L-BFGS keeps ~60 pairs of full-length vectors (about
50 kB per frame), so one solve over a 30-minute track would hold gigabytes; per block the memory
is flat in the track's length. Each block is solved together with ``MARGIN_FRAMES`` frames of its
neighbours on both sides, which are then dropped, so the temporal term joins the blocks. A track
of at most ``BLOCK_FRAMES`` frames is one solve.
"""
from __future__ import annotations

import numpy as np

from ..skeleton import H36M
from .root import Camera

TOL_TORSO = 0.05        # reprojection tolerance: 5 % of the 2D torso length (YOLO11n's median error is 5-9 %)
TOL_M = 0.04            # prior tolerance on each joint (m)
TOL_BONE_M = 0.01       # bone-length tolerance (m)
W_PRIOR = 1.0
W_BONE = 1.0
HUBER = 2.0             # residuals beyond 2 tolerances count linearly
ITERATIONS = 60
W_SMOOTH = 1.0
TOL_RATE_M_S = 0.3      # how fast a correction may change (m/s); per frame: TOL_RATE_M_S / fps
HEAD_JOINTS = ("neck_nose", "head_top")   # not pulled toward the 2D
BLOCK_FRAMES = 2048     # frames per L-BFGS solve (its memory: ~0.1 MB per frame of the block)
MARGIN_FRAMES = 64      # neighbouring frames solved with each block (then dropped), at least: the
                        # temporal term reaches ~TOL_M / (TOL_RATE_M_S / fps) frames (4 at 30 fps),
                        # and the margin is 6x that when it is more (high frame rates)


def _bones() -> np.ndarray:
    return np.array([(j, p) for j, p in enumerate(H36M.parents) if p >= 0], dtype=np.int64)


def refine_track(joints_m: np.ndarray, root_m: np.ndarray, kp_px: np.ndarray, camera: Camera,
                 fps: float | None, iterations: int = ITERATIONS,
                 block: int = BLOCK_FRAMES, *, unseen: np.ndarray | None = None,
                 in_place: bool = False) -> tuple[np.ndarray, np.ndarray, dict]:
    """(joints_m, root_m) adjusted toward the 2D; and a report (mean 2D residual in px of the
    confident joints before and after, mean 3D change in mm). ``fps`` (frames per second of the
    track) sets the temporal term's per-frame tolerance; None leaves the term out (frames
    independent). Solved in blocks of at most ``block`` frames (see the module docstring).
    ``unseen`` ``(n, 17)`` bool (optional): joints whose 2D is not used (confidence taken as 0,
    e.g. interpolated ones). Nothing of the track's length is copied beyond the outputs and a few
    per-frame numbers: every full-length step (confidences, residuals, the change) runs block by
    block (a track of at most ``block`` frames is one block, as one solve). ``in_place``: the
    refined 3D is written into ``joints_m`` / ``root_m`` (float arrays) block by block and they
    are returned, so no second full-length copy exists; each solve still reads the original 3D
    (the frames of the margin before a block, already overwritten, are kept aside): the same
    numbers as without it."""
    import torch

    n = joints_m.shape[0]
    block = max(1, int(block))
    head = [H36M.index(name) for name in HEAD_JOINTS]
    ok_frames = np.isfinite(joints_m).all(axis=(1, 2)) & np.isfinite(root_m).all(axis=1)

    def kp_conf(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """frames lo..hi: the 2D as float64 and each joint's confidence (0 = not used)."""
        kp = np.asarray(kp_px[lo:hi], dtype=np.float64)
        conf = np.where(np.all(np.isfinite(kp[..., :2]), -1), np.clip(kp[..., 2], 0, 1), 0.0)
        if unseen is not None:
            conf[np.asarray(unseen[lo:hi], bool)] = 0.0
        conf[~ok_frames[lo:hi]] = 0.0
        conf[:, head] = 0.0                  # defined differently by detectors and mocap rigs
        return kp, conf

    thorax, pelvis = H36M.index("thorax"), H36M.index("pelvis")
    torso_2d = np.empty(n)
    seen = np.zeros(n, bool)
    bones = _bones()
    bone_len = np.empty((n, len(bones)))
    for a in range(0, n, block):
        b = min(a + block, n)
        kp, conf = kp_conf(a, b)
        torso_2d[a:b] = np.linalg.norm(kp[:, thorax, :2] - kp[:, pelvis, :2], axis=-1)
        seen[a:b] = (conf[:, thorax] > 0) & (conf[:, pelvis] > 0)
        j = np.asarray(joints_m[a:b], np.float64)
        bone_len[a:b] = np.linalg.norm(j[:, bones[:, 0]] - j[:, bones[:, 1]], axis=-1)
    if not seen.any():
        return joints_m, root_m, {"applied": False, "reason": "no frame with thorax and pelvis in 2D"}
    s_px = TOL_TORSO * float(np.median(torso_2d[seen]))
    del torso_2d, seen
    b_len = torch.as_tensor(np.nanmedian(bone_len, axis=0), dtype=torch.float64)
    del bone_len
    if in_place:
        x, r = joints_m, root_m
    else:       # the outputs keep the inputs' float type (float32 stays float32; float64 in, float64 out)
        x = np.empty(joints_m.shape, np.result_type(joints_m.dtype, np.float32))
        r = np.empty(root_m.shape, np.result_type(root_m.dtype, np.float32))
    tail_j, tail_r, tail_start = np.zeros((0, *joints_m.shape[1:])), np.zeros((0, 3)), 0   # in place: the
    # original 3D of frames tail_start..a (overwritten, still read by the next solve's margin)
    # the temporal term's reach is about TOL_M / (TOL_RATE_M_S / fps) frames: 6x that, at least MARGIN_FRAMES
    margin = max(MARGIN_FRAMES, int(np.ceil(6 * TOL_M * fps / TOL_RATE_M_S))) if fps else MARGIN_FRAMES
    res_before, res_after, res_count, moved_sum, moved_count = [], [], 0, [], 0
    for a in range(0, n, block):
        b = min(a + block, n)
        # each block is solved with `margin` frames of its neighbours on both sides and only its own
        # frames kept, so the temporal term sees across the cut (no jump where one block ends)
        lo, hi = max(0, a - margin), min(n, b + margin)
        kp, conf = kp_conf(lo, hi)
        if in_place:
            jin = np.concatenate([tail_j[lo - tail_start:], np.asarray(joints_m[a:hi], np.float64)])
            rin = np.concatenate([tail_r[lo - tail_start:], np.asarray(root_m[a:hi], np.float64)])
        else:
            jin, rin = np.asarray(joints_m[lo:hi], np.float64), np.asarray(root_m[lo:hi], np.float64)
        xs, rs = _solve(jin, rin, kp, conf, ok_frames[lo:hi], s_px, b_len, bones, camera, iterations, fps)
        xs, rs = xs[a - lo:b - lo], rs[a - lo:b - lo]
        kp, conf = kp[a - lo:b - lo], conf[a - lo:b - lo]
        j, rt, ok = jin[a - lo:b - lo], rin[a - lo:b - lo], ok_frames[a:b]
        if in_place:            # originals of the frames the next solve's margin reaches back to
            t0 = max(0, b - margin)
            tail_j = np.concatenate([tail_j, j])[t0 - tail_start:]
            tail_r = np.concatenate([tail_r, rt])[t0 - tail_start:]
            tail_start = t0
        w = conf > 0
        res_before.append(_residual_sum(np.nan_to_num(j), np.nan_to_num(rt), kp, w, camera))
        res_after.append(_residual_sum(xs, rs, kp, w, camera))
        res_count += int(w.sum())
        xs[~ok] = j[~ok]
        rs[~ok] = rt[~ok]
        moved_sum.append(np.linalg.norm(xs - j, axis=-1)[ok].sum())
        x[a:b], r[a:b] = xs, rs
        del xs, rs, jin, rin, j, rt
        moved_count += int(ok.sum()) * joints_m.shape[1]
    before = float(np.sum(res_before) / max(res_count, 1))
    after = float(np.sum(res_after) / max(res_count, 1))
    moved = float(np.sum(moved_sum) / moved_count * 1000) if moved_count else 0.0
    return x, r, {"applied": True, "residual_px_before": round(before, 2), "residual_px_after": round(after, 2),
                  "mean_change_mm": round(moved, 1)}


def _solve(joints_m, root_m, kp, conf, ok_frames, s_px, b_len, bones, camera, iterations, fps):
    """One L-BFGS solve over frames ``(m, 17, 3)``: the refined joints and root (NaN inputs as 0)."""
    import torch

    x_lift = torch.as_tensor(np.nan_to_num(joints_m), dtype=torch.float64)
    r0 = torch.as_tensor(np.nan_to_num(root_m), dtype=torch.float64)
    xy = torch.as_tensor(np.nan_to_num(kp[..., :2]), dtype=torch.float64)
    c = torch.as_tensor(conf, dtype=torch.float64)
    pelvis = H36M.index("pelvis")
    f, cx, cy = camera.focal_px, camera.cx, camera.cy

    def project(x, r):
        p = x + r[:, None, :]
        z = p[..., 2].clamp_min(0.05)
        return torch.stack([f * p[..., 0] / z + cx, f * p[..., 1] / z + cy], -1)

    def reproj(x, r):
        d = torch.linalg.norm(project(x, r) - xy, dim=-1) / s_px
        hub = torch.where(d < HUBER, 0.5 * d ** 2, HUBER * (d - 0.5 * HUBER))
        return (c * hub).sum()

    delta = torch.zeros_like(x_lift, requires_grad=True)
    dr = torch.zeros_like(r0, requires_grad=True)
    mask = torch.ones(x_lift.shape[1], 1, dtype=torch.float64)
    mask[pelvis] = 0.0                                               # the pelvis stays the origin
    opt = torch.optim.LBFGS([delta, dr], lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe")

    pairs = torch.as_tensor(ok_frames[1:] & ok_frames[:-1], dtype=torch.float64)   # consecutive good frames
    s_dt = TOL_RATE_M_S / float(fps) if fps else None

    def closure():
        opt.zero_grad()
        x = x_lift + delta * mask
        r = r0 + dr
        bl = torch.linalg.norm(x[:, bones[:, 0]] - x[:, bones[:, 1]], dim=-1)
        loss = (reproj(x, r) + W_PRIOR * ((delta * mask) ** 2).sum() / TOL_M ** 2
                + W_BONE * ((bl - b_len) ** 2).sum() / TOL_BONE_M ** 2)
        if s_dt is not None and len(pairs):
            dd = ((delta * mask)[1:] - (delta * mask)[:-1]).square().sum((1, 2)) + (dr[1:] - dr[:-1]).square().sum(1)
            loss = loss + W_SMOOTH * (dd * pairs).sum() / s_dt ** 2
        loss.backward()
        return loss

    opt.step(closure)
    opt.state.clear()                                                # its history, before the results are made
    with torch.no_grad():
        x = (x_lift + delta * mask).numpy()
        r = (r0 + dr).numpy()
    return x, r


def _residual_sum(joints_m, root_m, kp, w, camera) -> float:
    """Sum of the 2D distances (px) between the projection of ``joints_m + root_m`` and the
    keypoints ``kp[..., :2]`` where ``w`` (confident joints), over frames of a track (numpy; no
    autograd): divided by ``w.sum()`` it is the mean residual."""
    p = joints_m + root_m[:, None, :]
    z = np.maximum(p[..., 2], 0.05)
    proj = np.stack([camera.focal_px * p[..., 0] / z + camera.cx, camera.focal_px * p[..., 1] / z + camera.cy], -1)
    d = np.linalg.norm(proj - np.nan_to_num(kp[..., :2]), axis=-1)
    return float(d[w].sum())

