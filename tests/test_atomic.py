"""The one atomic writer (``sasmamba_cli.atomic``) and the clean-up of what a killed run left."""
import os
import stat

import pytest

from sasmamba_cli.atomic import atomic_path, write_bytes, write_pieces, write_text
from sasmamba_cli.batch import remove_stale_temporaries


def test_writes_replace_the_target_with_the_usual_mode(tmp_path):
    p = write_text(tmp_path / "sub" / "a.json", "{}\n")
    assert p.read_text() == "{}\n"
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~_umask()
    write_bytes(p, b"x")
    write_pieces(tmp_path / "b.txt", ["a", "b", "\n"])
    assert p.read_bytes() == b"x" and (tmp_path / "b.txt").read_text() == "ab\n"
    assert sorted(q.name for q in tmp_path.rglob("*")) == ["a.json", "b.txt", "sub"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    p = write_text(tmp_path / "a.mp4", "old")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            assert tmp.name.startswith(".a.mp4.") and tmp.suffix == ".mp4"     # encoders read the suffix
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert p.read_text() == "old" and [q.name for q in tmp_path.iterdir()] == ["a.mp4"]


def test_stale_temporaries_of_this_and_earlier_versions_are_removed(tmp_path):
    left = [".c.json.ab12.tmp.json", ".c.csv.x.tmp", ".c_track0.bvh.q.tmp.bvh", ".c_track0.q.tmp.bvh",
            ".c_render.mp4.z.tmp.mp4", ".c_bvh_report.r.tmp.json"]
    kept = ["c.json", ".cc.json.ab.tmp.json", ".d.json.ab.tmp.json"]
    for name in left + kept:
        (tmp_path / name).write_text("")
    gone = remove_stale_temporaries(tmp_path, "c")
    assert sorted(p.name for p in gone) == sorted(left)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def _umask() -> int:
    m = os.umask(0o022)
    os.umask(m)
    return m
