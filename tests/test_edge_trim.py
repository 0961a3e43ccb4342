"""Edge trim (``sasmamba lift --edge-min-visible``, sasmamba_cli/pipeline/edges.py): leading and
trailing frames of a track with too few visible keypoints are removed before lifting, frames
inside the track are not, tracks never visible enough are dropped and reported, and the setting
and what it did are recorded in the result (also through ``--keypoints`` and the CLI)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from sasmamba_cli.commands import lift as lift_cmd
from sasmamba_cli.errors import NoPersonError
from sasmamba_cli.pipeline.edges import (DEFAULT_EDGE_MIN_VISIBLE, edge_summary_line, trim_track, trim_tracks,
                                         visible_fraction, visible_span)
from sasmamba_cli.pipeline.run import LiftPipeline, LiftSettings, finish_tracks
from sasmamba_cli.pipeline.track import Track


def person(cx: float, cy: float = 200.0, h: float = 160.0) -> np.ndarray:
    """A standing COCO-17 person ``(17, 3)`` (x, y px, confidence 0.9), hips at ``(cx, cy)``."""
    u = h / 8.0
    rel = [(0, -3.6), (0.15, -3.75), (-0.15, -3.75), (0.35, -3.7), (-0.35, -3.7), (0.9, -3.0), (-0.9, -3.0),
           (1.0, -1.9), (-1.0, -1.9), (1.05, -0.9), (-1.05, -0.9), (0.5, -0.1), (-0.5, -0.1), (0.55, 1.8),
           (-0.55, 1.8), (0.55, 3.8), (-0.55, 3.8)]
    return np.array([[cx + x * u, cy + y * u, 0.9] for x, y in rel])


def hide(kp: np.ndarray, visible: int) -> np.ndarray:
    """``kp (17, 3)`` with only its first ``visible`` keypoints detected (the rest missing)."""
    kp = kp.copy()
    kp[visible:, :2] = np.nan
    kp[visible:, 2] = 0.0
    return kp


def make_track(visible_counts, track_id: int = 0, first_frame: int = 0, x0: float = 100.0,
               h: float = 160.0) -> Track:
    """A track whose frame i shows ``visible_counts[i]`` of the 17 keypoints."""
    n = len(visible_counts)
    kp = np.stack([hide(person(x0 + 2 * i, h=h), v) for i, v in enumerate(visible_counts)])
    xs, ys = person(x0, h=h)[:, 0], person(x0, h=h)[:, 1]
    boxes = np.tile([xs.min(), ys.min(), xs.max(), ys.max()], (n, 1)) + np.arange(n)[:, None] * [2, 0, 2, 0]
    return Track(track_id, np.arange(first_frame, first_frame + n), kp, boxes.astype(float),
                 np.ones(n, bool), np.zeros((n, 17), bool))


# --- the rule ----------------------------------------------------------------------------------

def test_leading_and_trailing_low_visibility_frames_are_trimmed():
    counts = [3, 5, 9, 17, 17, 17, 17, 17, 17, 17, 12, 6, 2]      # 0.6 x 17 = 10.2: 11 keypoints needed
    t = make_track(counts, first_frame=40)
    kept, rep = trim_track(t, 0.6)
    assert kept is not None and rep.dropped is None
    assert (rep.trimmed_start, rep.trimmed_end) == (3, 2), rep
    assert kept.frames.tolist() == list(range(43, 51)), "expected frames 43..50 (the 11+-keypoint span) kept"
    np.testing.assert_array_equal(kept.keypoints_px, t.keypoints_px[3:11])
    np.testing.assert_array_equal(kept.boxes_px, t.boxes_px[3:11])
    assert (rep.first_frame, rep.last_frame) == (40, 52)
    assert rep.as_dict(0) == {"track_id": 0, "first_frame": 40, "last_frame": 52, "trimmed_start": 3,
                              "trimmed_end": 2, "max_visible": 1.0}


def test_interior_low_visibility_frames_are_kept():
    counts = [17, 17, 4, 3, 0, 5, 17, 17, 2, 17]          # partly hidden (even empty) frames inside
    kept, rep = trim_track(make_track(counts), 0.6)
    assert kept.length == len(counts) and (rep.trimmed_start, rep.trimmed_end) == (0, 0)
    # ... and a low frame inside is not mistaken for an edge after the trim either
    kept, rep = trim_track(make_track([2, 4] + counts + [1]), 0.6)
    assert (rep.trimmed_start, rep.trimmed_end) == (2, 1) and kept.length == len(counts)


def test_zero_disables_the_trim():
    t = make_track([1, 2, 17, 17, 17, 3])
    kept, rep = trim_track(t, 0.0)
    assert kept is t and rep.frames_trimmed == 0
    kept, reports, dropped = trim_tracks([make_track([1, 1, 1])], 0.0)     # even a never-visible track stays
    assert len(kept) == 1 and not dropped


def test_visibility_counts_only_confident_detected_joints():
    t = make_track([17, 17, 17, 17])
    kp = t.keypoints_px.copy()
    kp[0, :8, 2] = 0.4                       # below a 0.5 keypoint threshold (a file read without masking)
    interp = np.zeros((4, 17), bool)
    interp[1, :8] = True                     # joints interpolated across a gap: not seen
    detected = np.array([True, True, False, True])     # a bridged frame: nothing seen
    t = Track(0, t.frames, kp, t.boxes_px, detected, interp)
    np.testing.assert_allclose(visible_fraction(t, 0.5), [9 / 17, 9 / 17, 0.0, 1.0])
    np.testing.assert_allclose(visible_fraction(t, 0.0), [1.0, 9 / 17, 0.0, 1.0])
    assert visible_span(visible_fraction(t, 0.5), 0.6) == (3, 3)


def test_a_track_never_visible_enough_is_dropped_with_its_reason():
    t = make_track([2, 6, 8, 6, 3], first_frame=693)
    kept, rep = trim_track(t, 0.6)
    assert kept is None and "no frame has 60% of the keypoints visible (best 47%)" in rep.dropped
    d = rep.as_dict()
    assert d["frames"] == 5 and (d["first_frame"], d["last_frame"]) == (693, 697) and "track_id" not in d


def test_a_track_too_short_after_the_trim_is_dropped_like_a_short_track():
    t = make_track([3, 3, 3, 17, 17, 17, 3, 3])
    kept, rep = trim_track(t, 0.6, min_frames=4)
    assert kept is None and "3 detected frames left" in rep.dropped and "(4)" in rep.dropped
    kept, rep = trim_track(t, 0.6, min_frames=3)
    assert kept is not None and kept.length == 3


# --- in the pipeline: before people are selected, recorded in the result ------------------------

def test_finish_tracks_drops_trims_selects_and_reports():
    s = LiftSettings(edge_min_visible=0.6, kp_threshold=0.5, min_track_s=0.1, max_people=1, select="largest")
    big_but_hidden = make_track([4] * 30, track_id=0, first_frame=0, h=300.0)      # a passer-by close up
    walker = make_track([5] * 4 + [17] * 20 + [6] * 3, track_id=1, first_frame=10, x0=300.0)
    tracks, block = finish_tracks([big_but_hidden, walker], s, fps=30.0)
    assert len(tracks) == 1 and tracks[0].track_id == 0, "the fully visible walker is the one person kept"
    assert tracks[0].frames.tolist() == list(range(14, 34))
    assert block["enabled"] and block["min_visible"] == 0.6 and block["keypoint_threshold"] == 0.5
    assert block["frames_trimmed"] == 7
    assert block["tracks"] == [{"track_id": 0, "first_frame": 10, "last_frame": 36, "trimmed_start": 4,
                                "trimmed_end": 3, "max_visible": 1.0}]
    assert [(d["first_frame"], d["last_frame"]) for d in block["dropped"]] == [(0, 29)]
    line = edge_summary_line(block)
    assert "7 frames removed from 1 track" in line and "dropped 1 partly visible track (frames 0-29" in line


def test_finish_tracks_with_nothing_left_says_how_to_keep_it():
    s = LiftSettings(edge_min_visible=0.6, min_track_s=0.1)
    with pytest.raises(NoPersonError, match="--edge-min-visible 0"):
        finish_tracks([make_track([4] * 12)], s, fps=30.0, path="clip.json")
    off = LiftSettings(edge_min_visible=0.0, min_track_s=0.1)
    tracks, block = finish_tracks([make_track([4] * 12)], off, fps=30.0)
    assert len(tracks) == 1 and tracks[0].length == 12
    assert block["enabled"] is False and block["frames_trimmed"] == 0 and block["tracks"] == []
    assert edge_summary_line(block) == ""


def test_default_is_on():
    assert LiftSettings().edge_min_visible == DEFAULT_EDGE_MIN_VISIBLE == 0.6


def _keypoint_file(path: Path, counts) -> Path:
    anns = [{"image_id": f, "keypoints": hide(person(100 + 2 * f), v).reshape(-1).tolist(), "score": 0.9}
            for f, v in enumerate(counts)]
    anns = [{**a, "keypoints": [0.0 if x != x else x for x in a["keypoints"]]} for a in anns]   # NaN -> 0
    path.write_text(json.dumps({"width": 640, "height": 480, "fps": 30, "frame_count": len(counts),
                                "annotations": anns}))
    return path


COUNTS = [2, 4, 6, 8] + [17] * 10 + [5, 17, 17, 17, 17, 17] + [9, 3]      # 4 in, a dip inside, 2 out


def test_relift_of_a_keypoint_file_trims_and_records(tmp_path, tiny_weights):
    src = _keypoint_file(tmp_path / "k.json", COUNTS)
    on = LiftPipeline(LiftSettings(weights=str(tiny_weights), min_track_s=0.1, device="cpu"))
    res = on.run_keypoints(src)
    (t,) = res.tracks
    assert t.frames.tolist() == list(range(4, 20)), "expected the 4 leading and 2 trailing frames removed"
    assert t.joints_3d_m.shape == (16, 17, 3) and t.keypoints_2d_coco_px.shape == (16, 17, 3)
    assert res.header["settings"]["edge_min_visible"] == 0.6
    block = res.header["edge_trim"]
    assert block["tracks"][0]["trimmed_start"] == 4 and block["tracks"][0]["trimmed_end"] == 2
    assert res.header["stats"]["track_frames"] == [16]
    off = LiftPipeline(LiftSettings(weights=str(tiny_weights), min_track_s=0.1, device="cpu", edge_min_visible=0))
    assert off.run_keypoints(src).tracks[0].frames.tolist() == list(range(len(COUNTS)))
    assert on.settings_hash(True) != off.settings_hash(True), "resume must redo a clip when the trim changes"


def test_cli_option_reaches_the_result_and_prints_what_it_did(tmp_path, tiny_weights):
    a = typer.Typer()
    lift_cmd.register(a)

    @a.callback()
    def _root():
        """test root"""

    src = _keypoint_file(tmp_path / "k.json", COUNTS)
    runner = CliRunner()
    r = runner.invoke(a, ["lift", "--keypoints", str(src), "--weights", str(tiny_weights), "--out",
                          str(tmp_path / "o"), "--quiet", "--edge-min-visible", "0.5"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "o" / "k.json").read_text())
    assert doc["settings"]["edge_min_visible"] == 0.5 and doc["edge_trim"]["min_visible"] == 0.5
    # 0.5 x 17 = 8.5: 9 keypoints needed, so the last frame (3) goes, the one with 9 before it stays,
    # and frame 3 (8) goes with the three before it
    assert doc["tracks"][0]["frames"] == list(range(4, 21))
    out = " ".join(r.output.split())
    assert "edge trim" in out and "5 frames removed from 1 track" in out
    jsonschema = pytest.importorskip("jsonschema")
    from importlib import resources
    schema = json.loads(resources.files("sasmamba_cli.data").joinpath("result_schema_v1.json").read_text())
    jsonschema.validate(doc, schema)
    r = runner.invoke(a, ["lift", "--keypoints", str(src), "--weights", str(tiny_weights), "--out",
                          str(tmp_path / "o"), "--quiet", "--edge-min-visible", "1.5"])
    assert r.exit_code == 2


class _EnteringDetector:
    """Stands in for PoseDetector: one person whose keypoints appear frame by frame (``COUNTS``)."""

    def __init__(self):
        self.frame = 0

    def __call__(self, frames):
        from sasmamba_cli.pipeline.detect import mask_keypoints

        out = []
        for _ in frames:
            kp = hide(person(100 + 2 * self.frame), COUNTS[min(self.frame, len(COUNTS) - 1)])
            box = np.array([np.nanmin(kp[:, 0]) - 5, np.nanmin(kp[:, 1]) - 5, np.nanmax(kp[:, 0]) + 5,
                            np.nanmax(kp[:, 1]) + 5])
            out.append(mask_keypoints(box[None], np.array([0.9]), kp[None], 0.5))
            self.frame += 1
        return out


def test_video_path_trims_the_same_way(tmp_path, tiny_weights):
    import cv2

    from sasmamba_cli.pipeline.detect import DetectorWeights

    clip = tmp_path / "c.mp4"
    w = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (160, 120))
    assert w.isOpened(), "expected OpenCV to write mp4v here"
    for _ in COUNTS:
        w.write(np.zeros((120, 160, 3), np.uint8))
    w.release()
    pipe = LiftPipeline(LiftSettings(weights=str(tiny_weights), min_track_s=0.1, device="cpu"))
    pipe._det_weights = DetectorWeights(path="fake-detector.pt", sha256=None, source="user", name="fake")
    pipe._detector = _EnteringDetector()
    res = pipe.run_video(clip)
    assert res.tracks[0].frames.tolist() == list(range(4, 20))
    assert res.header["edge_trim"]["tracks"][0]["trimmed_start"] == 4


def test_a_fraction_outside_0_1_is_refused_before_any_model_loads():
    from sasmamba_cli.errors import InputError

    with pytest.raises(InputError, match="--edge-min-visible"):
        LiftPipeline(LiftSettings(edge_min_visible=1.5), lifter=object())
