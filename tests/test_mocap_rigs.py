"""Rig maps, resampling and the ASF reader on inline data (no shared data needed)."""
from pathlib import Path

import numpy as np
import pytest

from sasmamba_cli.errors import InputError
from sasmamba_cli.mocap.asf import forward_kinematics_asf, read_amc, read_asf
from sasmamba_cli.pipeline.resample import resample, resample_times
from sasmamba_cli.mocap.rigs import RIG_NAMES, apply_rig, load_rig, snap_fps
from sasmamba_cli.skeleton import COCO, H36M


@pytest.mark.parametrize("name", RIG_NAMES)
def test_every_rig_maps_every_joint(name):
    rig = load_rig(name)
    assert set(rig.spec["h36m"]) == set(H36M.names)
    assert set(rig.spec["coco"]) == set(COCO.names)
    assert rig.unit_mm > 0 and rig.spec["up_axis"] in ("Y", "Z")


def test_fps_override_and_clip_meta():
    daz = load_rig("cmu_daz")
    assert daz.fps_for(Path("x/cmu_daz_bvh/salsa/01.bvh"), 120.0) == 60.0
    assert daz.fps_for(Path("x/cmu_daz_bvh/martial/03.bvh"), 120.00004) == 120.0
    m = daz.clip_meta(Path("a/salsa/17.bvh"))
    assert m["clip_id"] == "cmu_daz/salsa/17" and m["group"] == "cmu_daz/salsa/02"   # partner of 02
    b = load_rig("bandai").clip_meta(Path("d/dataset-2_walk-turn-left_active_013.bvh"))
    assert b == {"clip_id": "bandai2/dataset-2_walk-turn-left_active_013", "source": "bandai2",
                 "subject": "", "group": "bandai2/walk-turn-left", "licence": "CC-BY-NC-4.0"}
    with pytest.raises(InputError, match="clip pattern"):
        load_rig("bandai").clip_meta(Path("walk.bvh"))
    assert load_rig("cmu_asf").clip_meta(Path("35/35_01.amc"))["subject"] == "35"
    assert snap_fps(1 / 0.0333333) == 30.0 and snap_fps(29.97) == 29.97


def test_resample_integer_factor_takes_every_nth_frame():
    x = np.random.default_rng(0).normal(size=(121, 17, 3))
    np.testing.assert_allclose(resample(x, 120, 30), x[::4])
    assert resample(x, 120, 30).shape[0] == 31


def test_resample_linear_is_exact_for_linear_motion():
    t = np.arange(50) / 60.0
    x = np.stack([3 * t + 1, -2 * t], -1)                # (50, 2) linear in time
    y = resample(x, 60, 25)
    t_out = np.arange(y.shape[0]) / 25.0
    np.testing.assert_allclose(y, np.stack([3 * t_out + 1, -2 * t_out], -1), atol=1e-12)
    assert t_out[-1] <= t[-1] + 1e-12 and y.shape[0] == int(np.floor(49 / 60 * 25)) + 1
    assert resample_times(1, 30, 30).tolist() == [0.0]
    with pytest.raises(ValueError):
        resample_times(0, 30, 30)


def test_head_rule_uses_head_frame_and_units():
    """A fake 'bandai' pose: head rotated 90 deg about Y; face markers follow the rotation."""
    rig = load_rig("bandai")
    names = sorted({r[k] for sect in ("h36m",) for r in rig.spec[sect].values()
                    for k in ("joint", "from") if k in r and not r[k].startswith("@")})
    J = len(names)
    rng = np.random.default_rng(1)
    pos = rng.normal(size=(2, J, 3)) * 10                 # cm
    rot = np.broadcast_to(np.eye(3), (2, J, 3, 3)).copy()
    # bandai head: local up = +x, forward = +y. Map local x -> world Y, local y -> world Z.
    head = names.index("Head")
    rot[:, head] = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0.0]])
    h, c = apply_rig(rig, names, pos, rot)
    hp = pos[:, head] * 10                                # mm
    # nose rule: up 45, forward 110 mm -> world (0, 45, 110) here; left = up x forward = +X
    np.testing.assert_allclose(c[:, COCO.index("nose")], hp + [0, 45, 110], atol=1e-9)
    np.testing.assert_allclose(c[:, COCO.index("l_eye")], hp + [32, 75, 85], atol=1e-9)
    np.testing.assert_allclose(h[:, H36M.index("pelvis")],
                               (h[:, H36M.index("l_hip")] + h[:, H36M.index("r_hip")]) / 2)
    np.testing.assert_allclose(h[:, H36M.index("l_knee")], pos[:, names.index("LowerLeg_L")] * 10)


ASF = """:version 1.10
:units
  length 0.5
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     name up
     direction 0 1 0
     length 2
     axis 0 0 0 XYZ
    dof rx ry rz
  end
  begin
     name side
     direction 1 0 0
     length 1
     axis 0 0 90 XYZ
    dof rx
  end
:hierarchy
  begin
    root up
    up side
  end
"""
AMC = """:FULLY-SPECIFIED
:DEGREES
1
root 1 2 3 0 0 0
up 0 0 0
side 0
2
root 0 0 0 0 0 90
up 90 0 0
side 90
"""


def test_asf_amc_inline_fk():
    s, a = read_asf(ASF), read_amc(AMC)
    assert s.names == ("root", "up", "side") and s.parents == (-1, 0, 1) and a.num_frames == 2
    pos, rot = forward_kinematics_asf(s, a)
    np.testing.assert_allclose(pos[0], [[1, 2, 3], [1, 4, 3], [2, 4, 3]], atol=1e-9)
    # frame 2: root Rz(90); 'up' Rx(90): (0,2,0) -> (0,0,2), Rz keeps it; 'side' axis Rz(90)
    # so C Rx(90) C^-1 = rotation about world Y by +90... applied to (1,0,0) -> (0,0,-1),
    # then Rx(90) of 'up' -> (0,1,0), then root Rz(90) -> (-1,0,0)
    np.testing.assert_allclose(pos[1], [[0, 0, 0], [0, 0, 2], [-1, 0, 2]], atol=1e-9)
    with pytest.raises(InputError):
        read_asf(":version 1\n:units\n length 1\n")
