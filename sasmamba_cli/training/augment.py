"""Pose-space augmentation of a mocap window, before the virtual camera sees it.

Every function takes the window's joints as two arrays of the same shape ``(T, 17, 3)`` in mm,
world coordinates with Y up: ``h36m`` (H36M-17, the skeleton with a hierarchy,
``H36M.parents``) and ``coco`` (the COCO-17 virtual markers of the same frames), and a
``numpy.random.Generator``; it returns new ``(h36m, coco)`` float64 arrays and never modifies its
inputs. Every function with a probability draws nothing from the generator when that probability
is 0, so a configuration with every augmentation off reproduces the earlier samples bit for bit.

How the two joint sets stay consistent: in the mocap data the COCO elbows, wrists, knees and
ankles coincide with the H36M joints of the same name, the COCO shoulders and hips sit a few
centimetres off the H36M ones, and the five face markers are rigid with the head (fixed
distances to ``neck_nose``). Each COCO marker therefore moves with one H36M joint (the joint of
the same name, the face markers with ``neck_nose``; ``virtual._tables``): an operation that moves
limb joints translates their markers by the same displacement, and a rigid rotation of a body
part (lean, tilt) rotates the markers attached to that part with it.

Time variation is ``constant + amplitude * sin(2 pi t / period + phase)`` with a period of tens
to hundreds of frames (:func:`slow_angle`): smooth, with no jump between consecutive frames.
"""
from __future__ import annotations

import numpy as np

from ..skeleton import COCO, H36M

#: limb chains (root, middle, end) by H36M index
LIMBS = {"l_arm": (11, 12, 13), "r_arm": (14, 15, 16), "l_leg": (4, 5, 6), "r_leg": (1, 2, 3)}
#: the H36M joints of the upper body (rotated by a trunk lean about the pelvis)
UPPER = (7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
#: bone groups of :func:`scale_proportions`, by the H36M index of the bone's child joint
LEG_BONES, ARM_BONES, TORSO_BONES, WIDTH_BONES = (2, 3, 5, 6), (12, 13, 15, 16), (7, 8, 9, 10), (1, 4, 11, 14)


def coco_attach() -> np.ndarray:
    """(17,) the H36M joint each COCO marker moves with (same name, face markers: ``neck_nose``)."""
    return np.array([H36M.index(n) if n in H36M.names else H36M.index("neck_nose") for n in COCO.names])


def rotation_matrices(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues: unit ``axis (..., 3)`` and ``angle (...)`` radians -> rotations ``(..., 3, 3)``
    (right-handed, ``R @ v`` turns ``v`` about ``axis``)."""
    axis = np.asarray(axis, dtype=np.float64)
    angle = np.asarray(angle, dtype=np.float64)
    axis, angle = np.broadcast_arrays(axis, angle[..., None])
    angle = angle[..., 0]
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    c, s = np.cos(angle), np.sin(angle)
    C = 1.0 - c
    return np.stack([np.stack([c + x * x * C, x * y * C - z * s, x * z * C + y * s], -1),
                     np.stack([y * x * C + z * s, c + y * y * C, y * z * C - x * s], -1),
                     np.stack([z * x * C - y * s, z * y * C + x * s, c + z * z * C], -1)], -2)


def _unit(v: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), eps)


def body_frame(h36m: np.ndarray, part: str) -> np.ndarray:
    """Per-frame orthonormal body frames ``(T, 3, 3)``, columns: lateral (right -> left), up,
    forward (lateral x up). ``part`` "arm": the shoulder girdle (lateral from the shoulders, up
    from spine -> thorax); "leg": the pelvis (lateral from the hips, up from pelvis -> spine)."""
    if part == "arm":
        lat, up = h36m[:, 11] - h36m[:, 14], h36m[:, 8] - h36m[:, 7]
    elif part == "leg":
        lat, up = h36m[:, 4] - h36m[:, 1], h36m[:, 7] - h36m[:, 0]
    else:
        raise ValueError(f"body_frame: part must be 'arm' or 'leg', found {part!r}")
    ex = _unit(lat)
    ey = _unit(up - np.sum(up * ex, -1, keepdims=True) * ex)
    ez = np.cross(ex, ey)
    return np.stack([ex, ey, ez], -1)


def slow_angle(T: int, rng: np.random.Generator, const: float, amplitude: float,
               period_frames: tuple, max_abs: float) -> np.ndarray:
    """``(T,)`` radians: ``const + a sin(2 pi t / P + phase)`` clipped to ``+-max_abs``, with
    ``a ~ U(0, amplitude)``, ``P ~ U(period_frames)``; ``const``, ``amplitude``, ``max_abs`` in
    degrees. The step between frames is at most ``2 pi amplitude / min(period)`` degrees."""
    a = rng.uniform(0.0, amplitude)
    period = rng.uniform(*period_frames)
    phase = rng.uniform(0.0, 2 * np.pi)
    deg = const + a * np.sin(2 * np.pi * np.arange(T) / period + phase)
    return np.deg2rad(np.clip(deg, -max_abs, max_abs))


def _move_markers(coco: np.ndarray, old: np.ndarray, new: np.ndarray, joints) -> np.ndarray:
    """COCO markers attached to H36M ``joints`` translated as those joints moved (old -> new)."""
    attach = coco_attach()
    out = coco.copy()
    for m in np.flatnonzero(np.isin(attach, joints)):
        out[:, m] += new[:, attach[m]] - old[:, attach[m]]
    return out


def mix_limb(h36m: np.ndarray, coco: np.ndarray, donor_h36m: np.ndarray, limb: str):
    """Replace one limb chain's motion by the same limb of a donor window.

    ``limb`` is a key of :data:`LIMBS`; ``donor_h36m (T, 17, 3)`` mm, another clip's window of the
    same length. The donor's two limb segments (root -> middle, middle -> end) are expressed in the
    donor's body frame (:func:`body_frame`: the shoulder girdle for an arm, the pelvis for a leg),
    carried into the recipient's body frame of the same frame, scaled to the recipient's bone
    lengths and re-attached at the recipient's root joint (shoulder / hip), which does not move.
    The COCO markers of the middle and end joints move with them. Returns ``(h36m, coco)``.
    """
    h = np.asarray(h36m, dtype=np.float64)
    d = np.asarray(donor_h36m, dtype=np.float64)
    if d.shape != h.shape:
        raise ValueError(f"mix_limb: donor shape {d.shape} differs from the window's {h.shape}")
    if limb not in LIMBS:
        raise ValueError(f"mix_limb: unknown limb {limb!r}; expected one of {list(LIMBS)}")
    root, mid, end = LIMBS[limb]
    part = "arm" if limb.endswith("arm") else "leg"
    Bd, Br = body_frame(d, part), body_frame(h, part)
    new = h.copy()
    for p, c in ((root, mid), (mid, end)):
        local = np.einsum("tji,tj->ti", Bd, d[:, c] - d[:, p])          # donor bone in its body frame
        length = np.linalg.norm(h[:, c] - h[:, p], axis=-1, keepdims=True)
        new[:, c] = new[:, p] + np.einsum("tij,tj->ti", Br, _unit(local)) * length
    return new, _move_markers(np.asarray(coco, dtype=np.float64), h, new, (mid, end))


def perturb_limb_angles(h36m: np.ndarray, coco: np.ndarray, rng: np.random.Generator,
                        const_deg: float, wave_deg: float, max_deg: float, period_frames: tuple):
    """Joint-angle perturbation through forward kinematics, on all four limbs.

    Each limb segment (upper arm, forearm, thigh, shin) turns about its parent joint (shoulder,
    elbow, hip, knee) by ``slow_angle``: a constant ``~ N(0, const_deg)`` plus a slow sinusoid of
    amplitude ``U(0, wave_deg)``, clipped to ``+-max_deg`` (degrees), about an axis fixed in the
    body frame (random direction per segment). The rotation of a segment is propagated down the
    chain (the forearm turns with the upper arm), so every bone length is kept. Returns
    ``(h36m, coco)``, the markers of the moved joints translated with them.
    """
    h = np.asarray(h36m, dtype=np.float64)
    T = h.shape[0]
    new = h.copy()
    frames = {part: body_frame(h, part) for part in ("arm", "leg")}
    for limb, (root, mid, end) in LIMBS.items():
        B = frames["arm" if limb.endswith("arm") else "leg"]
        for p, children in ((root, (mid, end)), (mid, (end,))):
            axis = np.einsum("tij,j->ti", B, _unit(rng.normal(size=3)))
            c = float(np.clip(rng.normal(0.0, const_deg), -max_deg, max_deg)) if const_deg > 0 else 0.0
            R = rotation_matrices(axis, slow_angle(T, rng, c, wave_deg, period_frames, max_deg))
            for j in children:
                new[:, j] = new[:, p] + np.einsum("tij,tj->ti", R, new[:, j] - new[:, p])
    moved = [j for r, m, e in LIMBS.values() for j in (m, e)]
    return new, _move_markers(np.asarray(coco, dtype=np.float64), h, new, moved)


def scale_proportions(h36m: np.ndarray, coco: np.ndarray, rng: np.random.Generator, leg: tuple,
                      arm: tuple, torso: tuple, width: tuple):
    """Body proportions beyond the rigs: one length factor per bone group, each ``U(range)``.

    Groups (bone = parent -> child): ``leg`` thighs and shins; ``arm`` upper arms and forearms
    (arm span against height); ``torso`` pelvis -> spine -> thorax -> neck -> head top;
    ``width`` pelvis -> hips and thorax -> shoulders. Descendants move rigidly with their joint
    (as ``virtual.randomize_body``), COCO markers with their H36M joint; afterwards the window is
    shifted vertically so its lowest point is where it was (longer legs do not sink into the
    floor). Returns ``(h36m, coco)``; limb directions are kept.
    """
    h = np.asarray(h36m, dtype=np.float64)
    c = np.asarray(coco, dtype=np.float64)
    f = np.ones(17)
    for bones, rng_range in ((LEG_BONES, leg), (ARM_BONES, arm), (TORSO_BONES, torso), (WIDTH_BONES, width)):
        f[list(bones)] = rng.uniform(*rng_range)
    new = h.copy()
    for j, p in enumerate(H36M.parents):
        if p >= 0:
            new[:, j] = new[:, p] + f[j] * (h[:, j] - h[:, p])
    coco_new = c + (new - h)[:, coco_attach()]
    floor_old = min(h[..., 1].min(), c[..., 1].min())
    dy = floor_old - min(new[..., 1].min(), coco_new[..., 1].min())
    new[..., 1] += dy
    coco_new[..., 1] += dy
    return new, coco_new


def lean_trunk(h36m: np.ndarray, coco: np.ndarray, rng: np.random.Generator, forward_deg: tuple,
               side_deg: float, wave_deg: float, period_frames: tuple):
    """Trunk lean: the upper body (spine and above, with the arms, head and their COCO markers)
    turns rigidly about the pelvis joint.

    Forward lean (+ = forward) about the pelvis' lateral axis by a constant ``U(forward_deg)``,
    sideways about its forward axis by a constant ``U(-side_deg, side_deg)``, each plus a slow
    sinusoid of amplitude ``U(0, wave_deg)`` (degrees). The hips and legs stay; every bone
    length is kept (the pelvis -> spine bone turns about the pelvis). Returns ``(h36m, coco)``.
    """
    h = np.asarray(h36m, dtype=np.float64)
    c = np.asarray(coco, dtype=np.float64)
    T = h.shape[0]
    B = body_frame(h, "leg")
    lim = max(abs(forward_deg[0]), abs(forward_deg[1]), side_deg) + wave_deg
    fwd = slow_angle(T, rng, rng.uniform(*forward_deg), wave_deg, period_frames, lim)
    side = slow_angle(T, rng, rng.uniform(-side_deg, side_deg), wave_deg, period_frames, lim)
    R = rotation_matrices(B[:, :, 2], side) @ rotation_matrices(B[:, :, 0], fwd)
    pivot = h[:, 0]
    new, coco_new = h.copy(), c.copy()
    up = list(UPPER)
    new[:, up] = pivot[:, None] + np.einsum("tij,tkj->tki", R, h[:, up] - pivot[:, None])
    markers = np.flatnonzero(np.isin(coco_attach(), UPPER))
    coco_new[:, markers] = pivot[:, None] + np.einsum("tij,tkj->tki", R, c[:, markers] - pivot[:, None])
    return new, coco_new


def tilt_body(h36m: np.ndarray, coco: np.ndarray, rng: np.random.Generator, tilt_deg: float,
              wave_deg: float, period_frames: tuple):
    """Whole-body tilt about the ground contact: every joint (both sets) turns rigidly about the
    point on the window's ground (its lowest Y) under the pelvis, about a horizontal axis of
    random direction, by a constant ``U(-tilt_deg, tilt_deg)`` plus a slow sinusoid of amplitude
    ``U(0, wave_deg)`` (degrees). The pivot follows the pelvis, so a walk stays on its path.
    Returns ``(h36m, coco)``; every bone length is kept.
    """
    h = np.asarray(h36m, dtype=np.float64)
    c = np.asarray(coco, dtype=np.float64)
    T = h.shape[0]
    heading = rng.uniform(0.0, np.pi)
    axis = np.array([np.cos(heading), 0.0, np.sin(heading)])
    angle = slow_angle(T, rng, rng.uniform(-tilt_deg, tilt_deg), wave_deg, period_frames, tilt_deg + wave_deg)
    R = rotation_matrices(axis, angle)
    pivot = h[:, 0].copy()
    pivot[:, 1] = min(h[..., 1].min(), c[..., 1].min())
    turn = lambda x: pivot[:, None] + np.einsum("tij,tkj->tki", R, x - pivot[:, None])
    return turn(h), turn(c)


def augment_pose(h36m: np.ndarray, coco: np.ndarray, rng: np.random.Generator, cfg,
                 donor_h36m: np.ndarray | None = None):
    """All pose augmentations of ``cfg`` (a ``VirtualConfig``) in order: limb mixing (needs
    ``donor_h36m``, another clip's window of the same shape; skipped without one; one chain of
    ``cfg.limb_mix_limbs``, uniformly), joint-angle
    perturbation, proportions, trunk lean, whole-body tilt. Each runs with its own probability;
    with every probability 0 the inputs come back unchanged and nothing is drawn from ``rng``.
    ``(T, 17, 3)`` mm each, Y up."""
    h, c = h36m, coco
    if cfg.limb_mix_p > 0 and donor_h36m is not None and rng.random() < cfg.limb_mix_p:
        names = list(cfg.limb_mix_limbs)
        h, c = mix_limb(h, c, donor_h36m, names[int(rng.integers(len(names)))])
    if cfg.fk_p > 0 and rng.random() < cfg.fk_p:
        h, c = perturb_limb_angles(h, c, rng, cfg.fk_const_deg, cfg.fk_wave_deg, cfg.fk_max_deg,
                                   cfg.aug_period_frames)
    if cfg.proportion_p > 0 and rng.random() < cfg.proportion_p:
        h, c = scale_proportions(h, c, rng, cfg.leg_scale, cfg.arm_scale, cfg.torso_scale, cfg.width_scale)
    if cfg.lean_p > 0 and rng.random() < cfg.lean_p:
        h, c = lean_trunk(h, c, rng, cfg.lean_forward_deg, cfg.lean_side_deg, cfg.lean_wave_deg,
                          cfg.aug_period_frames)
    if cfg.tilt_p > 0 and rng.random() < cfg.tilt_p:
        h, c = tilt_body(h, c, rng, cfg.tilt_deg, cfg.tilt_wave_deg, cfg.aug_period_frames)
    return h, c
