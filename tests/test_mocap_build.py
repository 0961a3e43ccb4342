"""`sasmamba data build / merge / info` through CliRunner on tiny synthetic BVH files, dataset
load/save, and the split file."""
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from sasmamba_cli.commands.data import register
from sasmamba_cli.mocap.dataset import (Clip, clip_parts, from_clips, load_dataset, load_split,
                                        save_dataset, split_indices)

# Bandai joint names (offsets simplified, bone axis along local x like the real files)
_TREE = [("joint_Root", None, (0, 0, 0)), ("Hips", "joint_Root", (0, 95, 0)),
         ("Spine", "Hips", (15, 0, 0)), ("Chest", "Spine", (9, 0, 0)), ("Neck", "Chest", (16, 0, 0)),
         ("Head", "Neck", (7, 0, 0)),
         ("Shoulder_L", "Chest", (13, 0, 5)), ("UpperArm_L", "Shoulder_L", (5, 0, 0)),
         ("LowerArm_L", "UpperArm_L", (24, 0, 0)), ("Hand_L", "LowerArm_L", (22, 0, 0)),
         ("Shoulder_R", "Chest", (13, 0, -5)), ("UpperArm_R", "Shoulder_R", (-5, 0, 0)),
         ("LowerArm_R", "UpperArm_R", (-24, 0, 0)), ("Hand_R", "LowerArm_R", (-22, 0, 0)),
         ("UpperLeg_L", "Hips", (-2, -6, 0)), ("LowerLeg_L", "UpperLeg_L", (39, 0, 0)),
         ("Foot_L", "LowerLeg_L", (41, 0, 0)),
         ("UpperLeg_R", "Hips", (-2, 6, 0)), ("LowerLeg_R", "UpperLeg_R", (-39, 0, 0)),
         ("Foot_R", "LowerLeg_R", (-41, 0, 0))]


def make_bvh(frames: int, frame_time: float = 1 / 30, seed: int = 0) -> str:
    children = {}
    for n, p, _ in _TREE:
        children.setdefault(p, []).append(n)
    off = {n: o for n, _, o in _TREE}
    lines = ["HIERARCHY"]

    def emit(n, depth, root=False):
        ind = "  " * depth
        lines.append(f"{ind}{'ROOT' if root else 'JOINT'} {n}")
        lines.append(ind + "{")
        lines.append(f"{ind}  OFFSET {' '.join(map(str, off[n]))}")
        ch = "6 Xposition Yposition Zposition" if root else "3"
        lines.append(f"{ind}  CHANNELS {ch} Zrotation Xrotation Yrotation")
        for c in children.get(n, []):
            emit(c, depth + 1)
        if n not in children:
            lines.extend([f"{ind}  End Site", ind + "  {", f"{ind}    OFFSET 0 0 0", ind + "  }"])
        lines.append(ind + "}")

    emit("joint_Root", 0, root=True)
    n_ch = 6 + 3 * (len(_TREE) - 1)
    rng = np.random.default_rng(seed)
    motion = rng.normal(0, 5, (frames, n_ch))
    motion[:, :3] = np.linspace(0, 100, frames)[:, None] * [1, 0, 0]
    motion[:, 3:6] = 0.0                                   # root translation only
    lines += ["MOTION", f"Frames: {frames}", f"Frame Time: {frame_time}"]
    lines += [" ".join(f"{v:.4f}" for v in row) for row in motion]
    return "\r\n".join(lines) + "\r\n"


def _app():
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root():
        pass
    return app


@pytest.fixture
def bvh_folder(tmp_path):
    src = tmp_path / "src" / "data"
    src.mkdir(parents=True)
    (src / "dataset-1_walk_happy_001.bvh").write_text(make_bvh(31, seed=1), newline="")
    (src / "dataset-1_walk_sad_001.bvh").write_text(make_bvh(61, seed=2), newline="")
    (src / "dataset-2_run_normal_003.bvh").write_text(make_bvh(20, seed=3), newline="")
    (src / "dataset-1_kick_normal_001.bvh").write_text(make_bvh(40)[:2000])    # truncated
    (src / "notes.txt").write_text("not motion")
    return tmp_path / "src"


def test_build_keeps_good_files_and_reports_bad_one(bvh_folder, tmp_path):
    out = tmp_path / "out" / "ds.npz"
    r = CliRunner().invoke(_app(), ["data", "build", str(bvh_folder), "--rig", "bandai",
                                    "--fps", "15", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "failed: 1" in r.output and "kick_normal" in r.output
    with np.load(out, allow_pickle=False) as z:
        assert set(z.files) >= {"h36m_mm", "coco_mm", "clip_start", "clip_id", "source", "subject",
                                "group", "licence", "fps"}
        assert z["h36m_mm"].dtype == np.float32 and z["clip_start"].dtype == np.int64
    ds = load_dataset(out)
    assert list(ds.clip_id) == ["bandai1/dataset-1_walk_happy_001", "bandai1/dataset-1_walk_sad_001",
                                "bandai2/dataset-2_run_normal_003"]
    assert list(ds.group) == ["bandai1/walk", "bandai1/walk", "bandai2/run"]
    assert list(ds.source) == ["bandai1", "bandai1", "bandai2"]
    assert set(ds.licence) == {"CC-BY-NC-4.0"}
    # 30 Hz -> 15 Hz: 31 frames (1.0 s) -> 16, 61 -> 31, 20 (0.633 s) -> 10
    assert list(ds.clip_lengths()) == [16, 31, 10]
    assert ds.fps == 15.0 and ds.h36m_mm.shape == ds.coco_mm.shape == (57, 17, 3)
    assert np.isfinite(ds.h36m_mm).all()
    # the root moves 100 cm along x over the clip: ~1000 mm in the dataset (hips wobble a little)
    for k in (0, 1):
        walk = ds.clip(k).h36m_mm
        assert walk[-1, 0, 0] - walk[0, 0, 0] == pytest.approx(1000, abs=15.0)
    assert not list((tmp_path / "out").glob("*.tmp"))


def test_build_strict_and_all_failed(bvh_folder, tmp_path):
    r = CliRunner().invoke(_app(), ["data", "build", str(bvh_folder), "--rig", "bandai", "--strict",
                                    "--out", str(tmp_path / "a.npz")])
    assert r.exit_code == 1 and (tmp_path / "a.npz").exists()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "dataset-1_walk_x_001.bvh").write_text("HIERARCHY\nROOT a {")
    r = CliRunner().invoke(_app(), ["data", "build", str(bad), "--rig", "bandai", "--out", str(tmp_path / "b.npz")])
    assert r.exit_code != 0 and not (tmp_path / "b.npz").exists()
    r = CliRunner().invoke(_app(), ["data", "build", str(tmp_path / "nope"), "--rig", "bandai",
                                    "--out", str(tmp_path / "c.npz")])
    assert r.exit_code == 2 and "does not exist" in r.output


def test_wrong_rig_is_reported(bvh_folder, tmp_path):
    r = CliRunner().invoke(_app(), ["data", "build", str(bvh_folder), "--rig", "cmu_daz",
                                    "--out", str(tmp_path / "a.npz")])
    assert r.exit_code == 1 and "failed" in r.output and "right --rig" in r.output


def _clip(cid, n, group, source="s", subject=""):
    a = np.full((n, 17, 3), float(n), np.float32)
    return Clip(a, a + 1, cid, source, subject, group, "L")


def test_save_load_merge_roundtrip(tmp_path):
    a = from_clips([_clip("a/1", 3, "g1"), _clip("a/2", 5, "g2")], 30)
    b = from_clips([_clip("b/1", 4, "g3")], 30)
    save_dataset(a, tmp_path / "a.npz")
    save_dataset(b, tmp_path / "b.npz")
    r = CliRunner().invoke(_app(), ["data", "merge", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"),
                                    "--out", str(tmp_path / "m.npz")])
    assert r.exit_code == 0, r.output
    m = load_dataset(tmp_path / "m.npz")
    assert list(m.clip_start) == [0, 3, 8, 12] and list(m.clip_id) == ["a/1", "a/2", "b/1"]
    assert m.clip(2).h36m_mm.shape == (4, 17, 3) and m.clip(-1).clip_id == "b/1"
    np.testing.assert_array_equal(m.clip(1).coco_mm, np.full((5, 17, 3), 6.0))
    # duplicate ids refuse to merge
    r = CliRunner().invoke(_app(), ["data", "merge", str(tmp_path / "a.npz"), str(tmp_path / "a.npz"),
                                    "--out", str(tmp_path / "d.npz")])
    assert r.exit_code == 2 and "unique" in r.output


def test_a_file_that_is_not_an_npz_is_refused_without_the_pickle_hint(tmp_path):
    from sasmamba_cli.errors import InputError

    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    with pytest.raises(InputError) as e:
        load_dataset(bad)
    msg = str(e.value)
    assert "is not an .npz dataset" in msg and "sasmamba data build" in msg and "pickle" not in msg
    r = CliRunner().invoke(_app(), ["data", "info", str(bad)])
    assert r.exit_code == 2 and "is not an .npz dataset" in r.output and "pickle" not in r.output


def test_split_partitions_clips_by_group_and_subject(tmp_path):
    spec = load_split()
    v, t = spec["val"], spec["test"]
    assert not set(v["groups"]) & set(t["groups"])
    ds = from_clips([_clip("x/1", 2, "bandai1/walk"), _clip("x/2", 2, "bandai1/bow"),
                     _clip("x/3", 2, "bandai1/guide"), _clip("x/4", 2, "h36m/Walking", "h36m", "S9"),
                     _clip("x/5", 2, "h36m/Walking", "h36m", "S1")], 30)
    parts = clip_parts(ds)
    assert list(parts) == ["train", "test", "val", "test", "train"]
    idx = {p: split_indices(ds, None, p) for p in ("train", "val", "test")}
    assert sorted(np.concatenate(list(idx.values()))) == list(range(5))
    with pytest.raises(ValueError):
        split_indices(ds, None, "dev")


def test_committed_split_has_no_group_on_both_sides():
    """Every held-out group is in exactly one part; on a dataset that has clips of every listed
    group, train/val/test share no group."""
    spec = load_split()
    groups = spec["val"]["groups"] + spec["test"]["groups"] + ["bandai1/walk", "cmu_daz/salsa/01"]
    ds = from_clips([_clip(f"c/{i}/{k}", 2, g) for i, g in enumerate(groups) for k in range(2)], 30)
    parts = clip_parts(ds)
    for g in set(groups):
        assert len(set(parts[ds.group == g])) == 1, g
    assert {"train", "val", "test"} == set(parts)
