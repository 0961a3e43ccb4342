"""Temporal stability of the rotation solver (docs/export.md, "How rotations are solved").

Each case is a pose sequence whose joint positions move little, or smoothly, while the frame
construction of one joint is ambiguous (terms that cancel, a secondary vector nearly parallel to the
primary one, a reference that reverses). The positions are exact forward kinematics of smooth
*generating* rotations on the reference rig; the solved rotations may differ from those by twist
(not observable), but their frame-to-frame change must stay within the generating one plus a
tolerance, where the previous solver turned the frame by 90-180 degrees in one frame. Positions are
always reproduced exactly: only the twist about a single-child joint's bone is chosen.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sasmamba_cli.export.bvh import write_result_bvh
from sasmamba_cli.export.geometry import (TWIST_FULL_AT, TWIST_MAX_STEP_DEG, continuous_frames,
                                          frame_from_vectors, orient_continuous)
from sasmamba_cli.export.rig import eval_vector, fit_rig, joint_frames, rig_spec
from sasmamba_cli.export.solve import Motion, forward_kinematics, global_rotations, local_rotations, solve_motion
from sasmamba_cli.export.synthetic import reference_rig, synthetic_result
from sasmamba_cli.skeleton import H36M

I = H36M.index
T = 121
TOL_DEG = 5.0            # solved step allowed above the generating step where the construction is defined
RIG = reference_rig()


def geodesic_deg(r: np.ndarray) -> np.ndarray:
    """(T-1,) rotation angle between consecutive matrices, degrees."""
    rel = np.swapaxes(r[:-1], -1, -2) @ r[1:]
    return np.degrees(np.arccos(np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1, 1)))


def rot(axis, angle) -> np.ndarray:
    """(T, 3, 3) rotations about the fixed unit ``axis`` by ``angle`` (radians, (T,))."""
    k = np.asarray(axis, float) / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    a = np.asarray(angle, float)[:, None, None]
    return np.eye(3) + np.sin(a) * kx + (1 - np.cos(a)) * (kx @ kx)


def rot_between(a, b) -> np.ndarray:
    """(T, 3, 3) smallest rotations taking unit vectors ``a`` onto ``b`` (T, 3) (never antiparallel)."""
    a = np.broadcast_to(np.asarray(a, float), np.shape(b))
    k = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    kx = np.zeros(k.shape + (3,))
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    kx = kx - np.swapaxes(kx, 1, 2)
    return np.eye(3) + kx + (kx @ kx) / (1 + c)[:, None, None]


def pose(glob: dict) -> tuple[np.ndarray, np.ndarray]:
    """Positions (T, 17, 3) cm of the reference rig given global rotations of some joints (T, 3, 3)
    (the others follow their parent), and all generating global rotations (T, 17, 3, 3)."""
    G = np.zeros((T, 17, 3, 3))
    for j, p in enumerate(H36M.parents):
        G[:, j] = glob.get(H36M.names[j], np.eye(3) if p < 0 else G[:, p])
    local = local_rotations(G, H36M.parents)
    root = np.tile([0.0, 95.0, 0.0], (T, 1))
    return forward_kinematics(RIG, Motion(root, local)), G


def noise_deg(amplitude: float, seed: int) -> np.ndarray:
    """(T,) radians: jitter of +-amplitude degrees that changes side every frame (lift noise)."""
    rng = np.random.default_rng(seed)
    return np.radians(amplitude * rng.uniform(0.3, 1.0, T) * np.where(np.arange(T) % 2, 1.0, -1.0))


def solve(pos: np.ndarray):
    """Fit the track's rig, solve, and check that FK reproduces every joint (< 0.001 mm)."""
    rig = fit_rig(pos)
    motion = solve_motion(rig, pos)
    err_mm = np.abs(forward_kinematics(rig, motion) - pos).max() * 10.0
    assert err_mm < 1e-3
    return global_rotations(rig, pos), motion.local


def case_spine_opposed():
    """Shoulders turned ~180 degrees against the hips (a left/right confusion of a lift) with 3
    degrees of jitter: Spine's secondary (hip line + shoulder line) nearly cancels."""
    n = noise_deg(3.0, 1)
    return pose({"spine": rot([0, 1, 0], np.pi / 2 + n / 2), "thorax": rot([0, 1, 0], np.pi + n)}), \
        ["spine", "thorax"]


def case_head_along_shoulders():
    """Head tilted 90 degrees to the side +-3 degrees: the neck's primary (neck -> head top) passes
    through the shoulder line, its secondary."""
    return pose({"neck_nose": rot([0, 0, 1], np.pi / 2 + noise_deg(3.0, 2))}), ["neck_nose"]


def case_straight_arm_sweep():
    """A straight left arm raised from hanging down through pointing forward to nearly up, the
    elbow jittering +-2 degrees around straight (bending either way): the bend axis changes side
    every frame, and the fallback (upper arm x chest forward) vanishes when the arm points forward."""
    psi = np.radians(np.linspace(0.0, 170.0, T))
    d = np.stack([np.full(T, 0.05), -np.cos(psi), np.sin(psi)], axis=-1)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    upper = rot_between([1.0, 0.0, 0.0], d)
    return pose({"l_shoulder": upper, "l_elbow": upper @ rot([0, 1, 0], noise_deg(2.0, 3))}), \
        ["l_shoulder", "l_elbow"]


def case_bent_leg_kick():
    """A left leg raised forward to 40 degrees above horizontal and back, the knee bent 30
    degrees: the knee's bend axis is always the same, but the reference that orients it (thigh x
    the pelvis' backward axis) reverses when the thigh passes horizontal."""
    psi = np.radians(130.0) * np.sin(np.pi * np.arange(T) / (T - 1))
    thigh = rot([1, 0, 0], -psi)
    return pose({"l_hip": thigh, "l_knee": thigh @ rot([1, 0, 0], np.full(T, np.radians(30.0)))}), \
        ["l_hip", "l_knee"]


def case_straight_leg_kick():
    """The same kick with the knee straight +-1 degree: no bend axis, and the fallback term
    (thigh x pelvis backward) reverses at horizontal."""
    psi = np.radians(130.0) * np.sin(np.pi * np.arange(T) / (T - 1))
    thigh = rot([1, 0, 0], -psi)
    return pose({"l_hip": thigh, "l_knee": thigh @ rot([1, 0, 0], noise_deg(1.0, 4))}), ["l_hip", "l_knee"]


# (case, tolerance above the generating step). The previous solver turned these frames by 180
# (spine, neck, legs) and 28.5 (arm) degrees in one frame. Where the construction itself turns
# round (the straight arm's fallbacks handing over, the straight leg's fallback at horizontal) the
# twist follows gradually, at most TWIST_MAX_STEP_DEG per frame (measured: 6.7 and 19 degrees).
CASES = {
    "spine_opposed": (case_spine_opposed, TOL_DEG),
    "head_along_shoulders": (case_head_along_shoulders, TOL_DEG),
    "straight_arm_sweep": (case_straight_arm_sweep, 2 * TOL_DEG),
    "bent_leg_kick": (case_bent_leg_kick, TOL_DEG),
    "straight_leg_kick": (case_straight_leg_kick, TWIST_MAX_STEP_DEG + TOL_DEG),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_solved_rotations_change_no_faster_than_the_motion(name):
    build, tol = CASES[name]
    (pos, G), joints = build()
    glob, local = solve(pos)
    true_local = local_rotations(G, H36M.parents)
    for jn in joints:
        j, p = I(jn), H36M.parents[I(jn)]
        # the generating motion of the joint and its parent bounds the solved local rotation's step
        bound = (geodesic_deg(G[:, j]) + geodesic_deg(G[:, p])).max() + tol
        assert geodesic_deg(glob[:, j]).max() <= geodesic_deg(G[:, j]).max() + tol, jn
        assert geodesic_deg(local[:, j]).max() <= max(bound, geodesic_deg(true_local[:, j]).max() + tol), jn
        for child in (k for k, q in enumerate(H36M.parents) if q == j):
            assert geodesic_deg(local[:, child]).max() <= (
                geodesic_deg(G[:, child]) + geodesic_deg(G[:, j])).max() + tol, H36M.names[child]


def test_bent_knee_keeps_its_bend_axis_through_the_reversing_reference():
    (pos, G), _ = case_bent_leg_kick()
    glob, local = solve(pos)
    # the knee is a hinge about its own x axis all along: no 180-degree twist of thigh or shin
    for jn in ("l_hip", "l_knee"):
        x_solved = glob[:, I(jn)][..., 0]
        assert np.all(x_solved @ np.array([1.0, 0.0, 0.0]) > 0.99), jn
    knee = local[:, I("l_knee")]
    np.testing.assert_allclose(np.degrees(np.arctan2(knee[:, 2, 1], knee[:, 1, 1])), 30.0, atol=1e-6)


def test_well_conditioned_motion_is_solved_as_before():
    """Smooth random motion: the hips and thorax (several children) are always the plain
    Gram-Schmidt frames, and so is every other joint whose construction stays well-conditioned over
    the clip (no smoothing, no lag)."""
    res = synthetic_result(90, 1, seed=11, anatomical=True)
    pos = np.asarray(res.tracks[0].positions_camera_m()) * 100.0 @ np.diag([1.0, -1.0, -1.0])
    rig = fit_rig(pos)
    spec = rig_spec()
    plain = joint_frames(pos, spec)
    glob = global_rotations(rig, pos)
    compared = []
    for j, f in plain.items():
        rule = spec.frames[j]
        prim = eval_vector(rule.primary, pos, spec)
        sec = sum(w * eval_vector(e, pos, spec) for w, e in rule.secondary)
        c = np.linalg.norm(sec - np.sum(sec * prim, -1, keepdims=True) * prim, axis=-1)
        if H36M.names[j] in ("pelvis", "thorax") or c.min() >= TWIST_FULL_AT * sum(w for w, _ in rule.secondary):
            np.testing.assert_allclose(glob[:, j], f @ rig.rest_frames[j].T, atol=1e-9, err_msg=H36M.names[j])
            compared.append(H36M.names[j])
    assert {"pelvis", "thorax", "spine", "neck_nose"} <= set(compared)


def test_a_held_pose_is_solved_as_before():
    """A pose held still, here the rig's T-pose (straight limbs: ill-conditioned secondaries), gives
    the plain Gram-Schmidt frames: continuity only matters when something changes."""
    (pos, _), _ = case_bent_leg_kick()
    rig = fit_rig(pos)
    rest = np.tile(rig.rest_positions(), (5, 1, 1))
    plain = joint_frames(rest, rig_spec())
    glob = global_rotations(rig, rest)
    for j, f in plain.items():
        np.testing.assert_allclose(glob[:, j], f @ rig.rest_frames[j].T, atol=1e-12, err_msg=H36M.names[j])


def test_bvh_export_of_an_unstable_case_reproduces_positions(tmp_path):
    """End to end (world frame, FK-consistent regeneration, Euler channels, re-parsed file)."""
    (pos, _), _ = case_spine_opposed()
    res = synthetic_result(T, 1, seed=5)
    cam = (pos / 100.0) @ np.diag([1.0, -1.0, -1.0]) + [0.0, 0.0, 4.0]
    track = dataclasses.replace(res.tracks[0], joints_3d_m=cam - cam[:, :1], root_3d_m=cam[:, 0])
    (w,) = write_result_bvh(res.with_tracks([track]), tmp_path)
    assert w.report.max_error_mm.max() < 0.01
    assert w.report.solver_max_mm < 0.01
    spine1 = geodesic_deg(w.motion.local[:, I("thorax")])
    assert spine1.max() < 2 * 3.0 + TOL_DEG                      # jitter of +-3 degrees


def test_orient_continuous_keeps_a_bend_axis_through_a_reversing_reference():
    t = np.linspace(0.0, np.pi, 61)
    axis = np.tile([1.0, 0.0, 0.0], (61, 1)) * 0.8                         # a constant, clear bend axis
    ref = np.stack([np.cos(t), np.sin(t), np.zeros(61)], axis=-1) * np.abs(np.cos(t))[:, None]
    out = orient_continuous(axis, ref)                                      # ref: +x, fades, then -x
    assert np.all(out[:, 0] > 0)
    # a short axis (a nearly straight limb) takes the reference's side
    short = orient_continuous(np.tile([0.05, 0.0, 0.0], (3, 1)), np.tile([-1.0, 0.0, 0.0], (3, 1)))
    assert np.all(short[:, 0] < 0)


def test_continuous_frames_exact_when_well_conditioned_and_bounded_otherwise():
    rng = np.random.default_rng(0)
    prim = rng.normal(size=(50, 3))
    sec = rng.normal(size=(50, 3))
    sec -= np.sum(sec * prim, -1, keepdims=True) * prim / np.sum(prim * prim, -1, keepdims=True)
    sec /= np.linalg.norm(sec, axis=-1, keepdims=True) * 2.0                 # c = 0.5: well-conditioned
    np.testing.assert_allclose(continuous_frames(prim, sec), frame_from_vectors(prim, sec), atol=1e-12)
    # a secondary of length 0.01 that changes side every frame: the frame turns at most a little
    prim = np.tile([0.0, 1.0, 0.0], (50, 1))
    sec = np.where((np.arange(50) % 2)[:, None] == 1, 1.0, -1.0) * np.array([0.01, 0.0, 0.0])
    sec[0] = [1.0, 0.0, 0.0]
    f = continuous_frames(prim, sec)
    assert geodesic_deg(f).max() < 1.0
    np.testing.assert_allclose(f[..., 0], prim, atol=1e-12)                  # the primary axis is exact
    np.testing.assert_allclose(np.linalg.det(f), 1.0, atol=1e-12)
