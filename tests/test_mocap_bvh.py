"""BVH reader + forward kinematics on small inline files with hand-computed answers."""
import numpy as np
import pytest

from sasmamba_cli.errors import InputError
from sasmamba_cli.export.bvh_read import forward_kinematics, global_rotations, parse_bvh, read_bvh

# Root with 6 channels (ZXY), a 3-channel joint in ZYX order, one in XYZ order, End Sites; CRLF.
BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
  JOINT Leg
  {
    OFFSET 2 0 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    End Site
    {
      OFFSET 0 -4 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.1
1 2 3 0 0 0   0 0 0   0 0 0
1 2 3 90 0 0  0 0 90  0 90 0
""".replace("\n", "\r\n")


def test_parse_structure_crlf():
    m = read_bvh(BVH)
    assert m.names == ("Hips", "Chest", "Chest_end", "Leg", "Leg_end")
    assert m.parents == (-1, 0, 1, 0, 3)
    assert [len(c) for c in m.channels] == [6, 3, 0, 3, 0]
    assert m.motion.shape == (2, 12)
    assert m.frame_time == pytest.approx(0.1)
    np.testing.assert_allclose(m.offsets[4], [0, -4, 0])


def test_fk_matches_hand_computation():
    pos = forward_kinematics(parse_bvh(BVH))
    # frame 0: rest pose translated by the root position (1, 2, 3)
    np.testing.assert_allclose(pos[0], [[1, 2, 3], [1, 12, 3], [1, 17, 3], [3, 2, 3], [3, -2, 3]], atol=1e-9)
    # frame 1: root Rz(90): (0,10,0) -> (-10,0,0); Chest Rz(0)Ry(0)Rx(90): (0,5,0) -> (0,0,5),
    # then Rz(90) keeps (0,0,5); Leg offset (2,0,0) -> (0,2,0); Ry(90) keeps (0,-4,0), Rz(90) -> (4,0,0)
    np.testing.assert_allclose(pos[1], [[1, 2, 3], [-9, 2, 3], [-9, 2, 8], [1, 4, 3], [5, 4, 3]], atol=1e-9)


def test_rotation_order_matters():
    zx = BVH.replace("CHANNELS 3 Zrotation Yrotation Xrotation", "CHANNELS 3 Zrotation Xrotation Yrotation")
    xz = BVH.replace("CHANNELS 3 Zrotation Yrotation Xrotation", "CHANNELS 3 Xrotation Zrotation Yrotation")
    motion = "\r\n0 0 0 0 0 0  90 90 0  0 0 0\r\n"
    one = lambda s: s.split("Frames: 2")[0] + "Frames: 1\r\nFrame Time: 0.1" + motion
    # Rz90 @ Rx90 (0,5,0) = (0,0,5); Rx90 @ Rz90 (0,5,0) = (-5,0,0)
    np.testing.assert_allclose(forward_kinematics(parse_bvh(one(zx)))[0, 2], [0, 10, 5], atol=1e-9)
    np.testing.assert_allclose(forward_kinematics(parse_bvh(one(xz)))[0, 2], [-5, 10, 0], atol=1e-9)


def test_position_channels_replace_offset_on_child_joints():
    six = BVH.replace("CHANNELS 3 Xrotation Yrotation Zrotation",
                      "CHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation")
    six = six.split("Frames: 2")[0] + "Frames: 1\r\nFrame Time: 0.1\r\n0 0 0 0 0 0 0 0 0 7 0 0 0 0 0\r\n"
    pos = forward_kinematics(parse_bvh(six))
    np.testing.assert_allclose(pos[0, 3], [7, 0, 0])   # Leg at its position channel, not OFFSET 2


def test_global_rotations_are_orthonormal():
    R = global_rotations(parse_bvh(BVH))
    assert R.shape == (2, 5, 3, 3)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)


@pytest.mark.parametrize("bad, msg", [
    (BVH.rsplit("\r\n", 2)[0], "truncated"),
    ("ROOT x {", "HIERARCHY"),
    (BVH.replace("Zrotation Xrotation Yrotation", "Zrotation Xrotation Wrotation"), "unknown channel"),
    (BVH.replace("1 2 3 0 0 0", "1 2 x 0 0 0"), "non-number"),
])
def test_malformed_inputs_raise_input_error(bad, msg):
    with pytest.raises(InputError, match=msg):
        parse_bvh(bad)


def test_read_from_path_and_missing_file(tmp_path):
    p = tmp_path / "a.bvh"
    p.write_bytes(BVH.encode())
    assert read_bvh(p).num_frames == 2
    with pytest.raises(InputError, match="cannot read"):
        read_bvh(tmp_path / "missing.bvh")
