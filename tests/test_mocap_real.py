"""Checks on the real shared mocap archives (skipped when ../shared is absent)."""
import tarfile
from pathlib import Path

import numpy as np
import pytest

from sasmamba_cli.mocap.asf import forward_kinematics_asf, read_amc, read_asf
from sasmamba_cli.export.bvh_read import forward_kinematics_full, read_bvh
from sasmamba_cli.mocap.rigs import apply_rig, load_rig
from sasmamba_cli.skeleton import COCO, H36M

MOCAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"
needs_shared = pytest.mark.skipif(not MOCAP.is_dir(), reason=f"shared mocap data not found at {MOCAP}")


def _extract(tmp_path, archive, names):
    """Extract the first members whose names end with each of ``names`` (streaming, fast)."""
    out, want = {}, list(names)
    with tarfile.open(MOCAP / f"{archive}.tar.xz", "r:xz") as tf:
        for m in tf:
            hit = [w for w in want if m.name.endswith(w)]
            if hit and m.isfile():
                p = tmp_path / Path(m.name).name
                p.write_bytes(tf.extractfile(m).read())
                out[hit[0]] = p
                want.remove(hit[0])
                if not want:
                    break
    assert not want, f"{archive} has no {want}"
    return out


@needs_shared
@pytest.mark.parametrize("archive, member", [("cmu_daz_bvh", "salsa/01.bvh"),
                                             ("bandai_namco_1", ".bvh")])
def test_fk_agrees_with_bvhio(tmp_path, archive, member):
    bvhio = pytest.importorskip("bvhio")
    path = _extract(tmp_path, archive, [member])[member]
    # keep 150 frames (bvhio is slow on long files); the file keeps its CRLF line endings
    head, motion = path.read_bytes().split(b"MOTION", 1)
    rows = motion.splitlines(keepends=True)
    nl = b"\r\n" if rows[0].endswith(b"\r\n") else b"\n"
    path.write_bytes(head + b"MOTION" + nl + b"Frames: 150" + nl + rows[2] + b"".join(rows[3:153]))
    m = read_bvh(path)
    assert m.num_frames == 150
    pos, _ = forward_kinematics_full(m)
    root = bvhio.readAsHierarchy(str(path))
    joints = [j for j, _, _ in root.layout()]
    checked = 0
    for f in (0, m.num_frames // 2, m.num_frames - 1):
        root.loadPose(f)
        for j in joints:
            if j.Name in m.names:
                np.testing.assert_allclose(np.array(list(j.PositionWorld)), pos[f, m.index(j.Name)],
                                           atol=2e-3 * max(1.0, np.abs(pos[f]).max() / 100))
                checked += 1
    assert checked >= 3 * 20


def _bone_lengths(h36m_mm):
    return {H36M.names[j]: np.linalg.norm(h36m_mm[:, j] - h36m_mm[:, p], axis=-1)
            for j, p in enumerate(H36M.parents) if p >= 0}


def _check_plausible(h, c):
    L = _bone_lengths(h)
    for name, lo, hi in [("r_knee", 300, 500), ("l_knee", 300, 500), ("r_ankle", 330, 500),
                         ("r_hip", 50, 130), ("l_elbow", 220, 330), ("r_wrist", 180, 300),
                         ("spine", 170, 300), ("neck_nose", 90, 180), ("head_top", 90, 180)]:
        assert lo < L[name].mean() < hi, (name, L[name].mean())
    # rigid limbs keep their length over time
    for name in ("r_knee", "l_ankle", "l_elbow", "r_wrist"):
        assert L[name].std() < 1.0, name
    # head above pelvis, left is left: (left - right) . (up x forward) > 0 with forward = nose dir
    assert np.all(h[:, H36M.index("head_top"), 1] > h[:, 0, 1])
    fwd = c[:, COCO.index("nose")] - h[:, H36M.index("neck_nose")]
    left = h[:, H36M.index("l_shoulder")] - h[:, H36M.index("r_shoulder")]
    assert np.mean(np.einsum("fa,fa->f", fwd, np.cross([0, 1.0, 0], left) * -1) > 0) > 0.95
    # detector hips wider than the hip joint centres
    w_coco = np.linalg.norm(c[:, COCO.index("l_hip")] - c[:, COCO.index("r_hip")], axis=-1)
    w_h36m = np.linalg.norm(h[:, H36M.index("l_hip")] - h[:, H36M.index("r_hip")], axis=-1)
    assert np.all(w_coco > w_h36m)


@needs_shared
def test_asf_amc_real_file_constant_bones_and_plausible_rig(tmp_path):
    files = _extract(tmp_path, "cmu_asfamc", ["35.asf", "35_01.amc"])
    skel, amc = read_asf(files["35.asf"]), read_amc(files["35_01.amc"])
    pos, rot = forward_kinematics_asf(skel, amc)
    assert pos.shape == (amc.num_frames, len(skel.names), 3) and amc.num_frames > 300
    for j, p in enumerate(skel.parents):
        if p >= 0:
            L = np.linalg.norm(pos[:, j] - pos[:, p], axis=-1)
            np.testing.assert_allclose(L, skel.bones[j].length, rtol=1e-9)
    h, c = apply_rig(load_rig("cmu_asf"), skel.names, pos, rot)
    _check_plausible(h, c)
    # a walk: the pelvis travels > 2 m, feet stay near the ground
    assert np.linalg.norm(h[-1, 0, [0, 2]] - h[0, 0, [0, 2]]) > 2000
    assert -50 < h[:, [3, 6], 1].min() < 200


@needs_shared
@pytest.mark.parametrize("archive, member, rig", [("cmu_daz_bvh", "salsa/01.bvh", "cmu_daz"),
                                                  ("bandai_namco_1", ".bvh", "bandai")])
def test_bvh_rigs_give_plausible_h36m(tmp_path, archive, member, rig):
    path = _extract(tmp_path, archive, [member])[member]
    m = read_bvh(path)
    pos, rot = forward_kinematics_full(m)
    h, c = apply_rig(load_rig(rig), m.names, pos, rot)
    assert h.shape == c.shape == (m.num_frames, 17, 3)
    _check_plausible(h, c)
