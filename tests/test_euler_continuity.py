"""Euler-angle continuity of the BVH rotation channels (docs/export.md, "Rotation orders and continuity").

What is and is not avoidable, for an order (a, b, c) with b the middle angle:

* b passing through +-90 degrees along a straight path, or going beyond 90 (the other branch
  (a + 180, 180 - b, c + 180)): the channels follow the rotation exactly and smoothly, never
  flipping by 180 or wrapping by 360; a channel step stays within the rotation step (+ a small
  tolerance) when a and c move slowly, and within the rotation step / |cos b| in general (the
  first-order bound of any Euler parametrisation).
* a path that *turns* while exactly at gimbal lock: only a + c (or a - c) is defined there, and the
  Euler angles must jump at that frame by the angle between the approach and departure directions.
  Unavoidable for that order.
* a path that passes *near* gimbal lock: a and c swing by ~180 degrees within a few frames, at rates
  up to 1 / cos(b) times the rotation rate. Unavoidable for that order; avoidable by choosing another
  order for the clip (order 'auto' does).

In every case the channels reproduce the rotations exactly (FK of the written angles = the input).
"""
from __future__ import annotations

import numpy as np
import pytest

from sasmamba_cli.export.bvh import BvhOptions, bvh_text, joint_orders
from sasmamba_cli.export.geometry import (LOCK_EPS, axis_rotation, choose_order, euler_to_matrix, gimbal_margin_deg,
                                          matrices_to_euler_continuous, matrix_to_euler_pair)
from sasmamba_cli.export.rig import rig_spec
from sasmamba_cli.export.solve import Motion
from sasmamba_cli.export.synthetic import reference_rig
from sasmamba_cli.export.bvh_read import local_transforms, read_bvh
from sasmamba_cli.skeleton import H36M

ORDERS = ["ZXY", "ZYX", "XZY", "XYZ", "YZX", "YXZ"]
TOL_DEG = 0.1            # channel step allowed above the rotation step (paths move 0.5-1.3 deg/frame)


def geodesic_deg(r: np.ndarray) -> np.ndarray:
    """(T-1,) rotation angle between consecutive matrices, degrees."""
    rel = np.swapaxes(r[:-1], -1, -2) @ r[1:]
    return np.degrees(np.arccos(np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1, 1)))


def channel_steps_deg(angles_rad: np.ndarray) -> np.ndarray:
    """(T-1,) largest frame-to-frame change over the three channels, degrees."""
    return np.degrees(np.abs(np.diff(angles_rad, axis=0))).max(axis=1)


def near_miss(order: str, miss_deg: float = 3.0, step_deg: float = 0.5) -> np.ndarray:
    """(T, 3, 3) a uniform rotation that passes ``miss_deg`` from gimbal lock of ``order``.

    At gimbal lock the Euler angles can move the rotation about the first axis (a, c) and about
    R_first(a) @ middle axis (b) only; the path turns about the missing direction R_first(a) @ last axis.
    """
    alpha = np.radians(20.0)
    start = euler_to_matrix(np.radians([20.0, 90.0 - miss_deg, 0.0]), order)
    axis = axis_rotation(order[0], alpha) @ np.eye(3)[{"X": 0, "Y": 1, "Z": 2}[order[2]]]
    phi = np.radians(np.arange(-30.0, 30.0 + step_deg / 2, step_deg))
    # rotation about an arbitrary unit axis (Rodrigues)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + np.sin(phi)[:, None, None] * k + (1 - np.cos(phi))[:, None, None] * (k @ k)
    return rot @ start


@pytest.mark.parametrize("order", ORDERS)
def test_middle_angle_sweeping_through_gimbal_lock_stays_continuous(order):
    t = np.arange(121.0)
    # b from -30 to 120 degrees, exactly 90 at t = 96 (an exactly locked frame); a, c drift slowly
    ang = np.radians(np.stack([25 + 0.2 * t, -30 + 1.25 * t, -40 + 0.3 * t], axis=-1))
    r = euler_to_matrix(ang, order)
    assert gimbal_margin_deg(r[96], order) < 1e-6                             # the premise
    out = matrices_to_euler_continuous(r, order)
    np.testing.assert_allclose(euler_to_matrix(out, order), r, atol=LOCK_EPS)
    assert np.all(channel_steps_deg(out) <= geodesic_deg(r) + TOL_DEG)
    # off the locked frame the input angles come back exactly (the 2nd branch beyond 90 degrees);
    # on it, c keeps the previous frame's value and a takes the rest (+-0.3 degrees)
    keep = np.arange(len(t)) != 96
    np.testing.assert_allclose(out[keep], ang[keep], atol=1e-9)
    assert np.degrees(np.abs(out[96] - ang[96])).max() < 0.31


@pytest.mark.parametrize("order", ORDERS)
def test_branch_switch_does_not_flip_first_and_last_angles(order):
    t = np.arange(200.0)
    ang = np.radians(np.stack([170 * np.sin(t / 40), 60 + 50 * np.sin(t / 25), -120 + 1.0 * t], axis=-1))
    r = euler_to_matrix(ang, order)
    naive, _ = matrix_to_euler_pair(r, order)                                 # middle angle in [-90, 90]
    assert channel_steps_deg(naive).max() > 170                               # would flip by 180 (and wrap)
    out = matrices_to_euler_continuous(r, order)
    np.testing.assert_allclose(out, ang, atol=1e-9)                           # b goes on to 110 degrees
    np.testing.assert_allclose(euler_to_matrix(out, order), r, atol=1e-12)
    # no jumps: a and c turn up to 4.3 deg/frame here, and an Euler rate is at most the rotation
    # rate / |cos b| (b is within 20 degrees of gimbal lock at the top of its swing)
    step, geo = channel_steps_deg(out), geodesic_deg(r)
    cos_b = np.minimum(np.abs(np.cos(out[:-1, 1])), np.abs(np.cos(out[1:, 1])))
    assert np.all(step <= geo / cos_b + TOL_DEG) and step.max() < 5.0


def test_turning_exactly_at_gimbal_lock_jumps_once_by_the_turn():
    """Unavoidable: approach the lock along one direction, leave along another (90 degrees apart)."""
    lock = axis_rotation("X", np.radians(-90.0))                              # ZXY: b = -90
    before = axis_rotation("Y", np.radians(np.arange(-20.0, 0.5)))[:, None] @ lock
    after = axis_rotation("X", np.radians(np.arange(1.0, 21.0)))[:, None] @ lock
    r = np.concatenate([before[:, 0], after[:, 0]])
    out = matrices_to_euler_continuous(r, "ZXY")
    np.testing.assert_allclose(euler_to_matrix(out, "ZXY"), r, atol=LOCK_EPS)
    excess = channel_steps_deg(out) - geodesic_deg(r)
    assert np.flatnonzero(excess > TOL_DEG).tolist() == [20]                  # the step leaving the lock
    assert excess[20] == pytest.approx(89.0, abs=0.5)                         # 90 degree turn - 1 degree step


@pytest.mark.parametrize("order", ORDERS)
def test_near_gimbal_lock_another_order_is_chosen(order):
    r = near_miss(order)
    out = matrices_to_euler_continuous(r, order)
    np.testing.assert_allclose(euler_to_matrix(out, order), r, atol=1e-12)
    ratio = channel_steps_deg(out) / geodesic_deg(r)
    assert ratio.max() > 10                                                   # unavoidable for this order
    best = choose_order(r, order)
    assert best != order and gimbal_margin_deg(r, best).min() >= 30
    out = matrices_to_euler_continuous(r, best)
    np.testing.assert_allclose(euler_to_matrix(out, best), r, atol=1e-12)
    assert np.all(channel_steps_deg(out) <= geodesic_deg(r) * 1.1 + TOL_DEG)   # <= rate / cos(b)
    # far from gimbal lock the preferred order is kept
    assert choose_order(r[:5] * 0 + np.eye(3), order) == order


def _motion_with_arm_path(order: str) -> Motion:
    """Reference rig at rest, root fixed, the left and right shoulder moving along near_miss(order)."""
    arm = near_miss(order)
    T = len(arm)
    local = np.tile(np.eye(3), (T, len(H36M.names), 1, 1))
    local[:, H36M.index("l_shoulder")] = arm
    mirror = np.diag([-1.0, 1.0, 1.0])
    local[:, H36M.index("r_shoulder")] = mirror @ arm @ mirror                 # the mirror image
    local[:, H36M.index("spine")] = axis_rotation("Y", np.linspace(0, np.radians(40), T))
    root = np.tile([0.0, 95.0, 0.0], (T, 1))
    return Motion(root, local)


def _written(text: str, motion: Motion):
    """Per joint (H36M order): header order, channel values (deg), local rotations of the file."""
    m = read_bvh(text)
    rot, _ = local_transforms(m)
    rig = reference_rig()
    out = []
    for name in rig.names:
        j = m.index(name)
        chans = m.channels[j][-3:]
        s = m.channel_start[j] + len(m.channels[j]) - 3
        out.append(("".join(c[0] for c in chans), m.motion[:, s:s + 3], rot[:, j]))
    return out


@pytest.mark.parametrize("mode", ["auto", "table", "single"])
def test_bvh_file_header_matches_math_and_fk_reproduces_rotations(mode):
    arm_order = rig_spec().channel_orders("table")[H36M.index("l_shoulder")]
    motion = _motion_with_arm_path(arm_order)
    order = arm_order if mode == "single" else mode
    orders = joint_orders(motion, order)
    written = _written(bvh_text(reference_rig(), motion, 1 / 30, order), motion)
    for j, (o, values, rot) in enumerate(written):
        assert o == orders[j], H36M.names[j]                                  # header = math
        np.testing.assert_allclose(rot, motion.local[:, j], atol=1e-7, err_msg=H36M.names[j])
        np.testing.assert_allclose(euler_to_matrix(np.radians(values), o), motion.local[:, j], atol=1e-7)
    if mode == "table":
        assert orders == rig_spec().orders
    arms = [H36M.index("l_shoulder"), H36M.index("r_shoulder")]
    for j, (o, values, rot) in enumerate(written):
        excess = np.abs(np.diff(values, axis=0)).max(axis=1) - geodesic_deg(rot)
        if mode == "auto" or j not in arms:
            assert excess.max() <= TOL_DEG + 0.1 * geodesic_deg(rot).max(), (mode, H36M.names[j], o)
        else:                                   # the table's order passes 3 degrees from gimbal lock
            assert excess.max() > 5.0, (mode, H36M.names[j], o)
    if mode == "auto":
        assert all(orders[j] != arm_order for j in arms)


def test_order_option_spelling_and_table():
    assert BvhOptions(order="xyz").order == "XYZ"
    assert BvhOptions(order="TABLE").order == "table" and BvhOptions(order="Auto").order == "auto"
    rest = Motion(np.zeros((3, 3)), np.tile(np.eye(3), (3, len(H36M.names), 1, 1)))
    assert joint_orders(rest, "auto") == joint_orders(rest, "table") == rig_spec().orders
    assert joint_orders(rest, "YXZ") == ("YXZ",) * len(H36M.names)
