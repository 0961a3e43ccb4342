"""Edge cases of the lift pipeline's inputs and of the render reader.

* ``source.frame_count`` when the container reports no frame count and/or ``--max-frames`` cuts
  the clip (fake detector, tiny lifter, a real mp4 written with ``cv2.VideoWriter``);
* frame counts of COCO keypoint JSON files (no explicit count, ids from 1, empty trailing frames);
* portrait (rotated) video: the render reads the same displayed frames as the lift decoder, so
  the 2D overlay (pixel coordinates of the displayed frame) lands on the right spot.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from sasmamba_cli.errors import InputError
from sasmamba_cli.pipeline import video as video_mod
from sasmamba_cli.pipeline.detect import DetectorWeights, mask_keypoints
from sasmamba_cli.pipeline.keypoints_io import read_keypoints
from sasmamba_cli.pipeline.run import LiftPipeline, LiftSettings, source_frame_count
from _video_helpers import set_rotation_90

# --- helpers --------------------------------------------------------------------------------


def coco_person(cx: float, cy: float, h: float = 80.0) -> np.ndarray:
    """A standing COCO-17 person ``(17, 3)`` (x, y px, confidence 0.9), hips at ``(cx, cy)``."""
    u = h / 8.0
    rel = [(0, -3.6), (0.15, -3.75), (-0.15, -3.75), (0.35, -3.7), (-0.35, -3.7), (0.9, -3.0), (-0.9, -3.0),
           (1.0, -1.9), (-1.0, -1.9), (1.05, -0.9), (-1.05, -0.9), (0.5, -0.1), (-0.5, -0.1), (0.55, 1.8),
           (-0.55, 1.8), (0.55, 3.8), (-0.55, 3.8)]
    return np.array([[cx + x * u, cy + y * u, 0.9] for x, y in rel])


def write_mp4v(path: Path, frames: int = 20, size=(160, 120), fps: float = 25.0) -> Path:
    """An mp4 written with OpenCV's VideoWriter (mp4v), dark noise."""
    import cv2
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert w.isOpened(), "expected OpenCV to write mp4v here"
    rng = np.random.default_rng(0)
    for _ in range(frames):
        w.write(rng.integers(0, 40, (size[1], size[0], 3), dtype=np.uint8))
    w.release()
    return path


class FakeDetector:
    """Stands in for PoseDetector: one person per frame, walking right 1 px/frame."""

    def __init__(self):
        self.frames = 0

    def __call__(self, frames):
        out = []
        for _ in frames:
            kp = coco_person(60 + self.frames, 60)
            box = np.array([kp[:, 0].min() - 5, kp[:, 1].min() - 5, kp[:, 0].max() + 5, kp[:, 1].max() + 5])
            out.append(mask_keypoints(box[None], np.array([0.9]), kp[None], 0.5))
            self.frames += 1
        return out


def _pipeline(weights: Path, **settings) -> LiftPipeline:
    pipe = LiftPipeline(LiftSettings(weights=str(weights), min_track_s=0.1, device="cpu", **settings))
    pipe._det_weights = DetectorWeights(path="fake-detector.pt", sha256=None, source="user", name="fake")
    pipe._detector = FakeDetector()
    return pipe


# --- source.frame_count with --max-frames -----------------------------------------------------

@pytest.mark.parametrize("header, start, max_frames, seen, expected", [
    (0, 0, None, 20, 20),        # no header count, whole clip: frames decoded
    (0, 0, 15, 15, 15),          # no header count, cut: frames decoded (was 0)
    (0, 3, 10, 10, 13),          # ... the frames skipped before --start-frame were decoded too
    (20, 0, 15, 15, 20),         # header count, cut: the header's count (the rest was never read)
    (50, 0, 100, 20, 20),        # --max-frames beyond the end: the stream ended, exact count wins
    (12, 0, 15, 15, 15),         # header under-counts: never less than what was decoded
    (30, 0, None, 20, 20),       # whole clip: frames decoded, whatever the header says
])
def test_source_frame_count_rule(header, start, max_frames, seen, expected):
    assert source_frame_count(header, start, max_frames, seen) == expected


@pytest.mark.parametrize("header_count, start, max_frames, frame_count, processed", [
    (0, 0, 15, 15, 15),
    (0, 4, 10, 14, 10),
    (0, 0, None, 20, 20),
    (0, 0, 100, 20, 20),
    (None, 0, 15, 20, 15),       # None: keep the real header (OpenCV reports 20 for this file)
    (99, 0, 100, 20, 20),
])
def test_run_video_frame_count_without_a_container_count(tmp_path, tiny_weights, monkeypatch,
                                                         header_count, start, max_frames, frame_count, processed):
    clip = write_mp4v(tmp_path / "clip.mp4", frames=20)
    real_probe = video_mod.probe_video
    assert real_probe(clip).frame_count == 20, "expected OpenCV to report the mp4v clip's 20 frames"
    if header_count is not None:       # a container that does not report a frame count (or a wrong one)
        monkeypatch.setattr(video_mod, "probe_video",
                            lambda p, fps=None: dataclasses.replace(real_probe(p, fps), frame_count=header_count))
    pipe = _pipeline(tiny_weights, start_frame=start, max_frames=max_frames)
    clip_result = pipe.run_video(clip)
    src = clip_result.header["source"]
    assert (src["frame_count"], src["frames_processed"]) == (frame_count, processed), (
        f"expected source frame_count {frame_count} / frames_processed {processed}, "
        f"found {src['frame_count']} / {src['frames_processed']}")
    assert clip_result.header["stats"]["frames"] == processed
    last = max(int(t.frames[-1]) for t in clip_result.tracks)
    assert last < src["frame_count"], f"track frame {last} lies past source.frame_count {src['frame_count']}"


# --- COCO keypoint JSON: frame counts -----------------------------------------------------------

def _entry(frame, kp=None, **kw):
    kp = coco_person(100 + frame, 200) if kp is None else kp
    return {"image_id": frame, "keypoints": kp.reshape(-1).tolist(), "score": 0.9, **kw}


def _write(tmp_path: Path, data, name="k.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def test_coco_results_without_a_count_end_at_the_last_entry(tmp_path):
    # last entry (frame 9) has only missing joints: the frame still exists
    anns = [_entry(f) for f in range(8)] + [_entry(9, np.zeros((17, 3)))]
    src = read_keypoints(_write(tmp_path, anns), image_size=(640, 480), fps=30)
    assert sorted(src.detections) == list(range(8))
    assert src.frame_count == 10, f"expected 10 frames (entries up to frame 9), found {src.frame_count}"


def test_coco_results_with_an_explicit_count_keep_trailing_empty_frames(tmp_path):
    doc = {"width": 640, "height": 480, "fps": 30, "frame_count": 25, "annotations": [_entry(f) for f in range(10)]}
    src = read_keypoints(_write(tmp_path, doc))
    assert src.frame_count == 25 and sorted(src.detections) == list(range(10))


def test_coco_results_count_smaller_than_the_entries_is_raised_to_cover_them(tmp_path):
    doc = {"width": 640, "height": 480, "fps": 30, "frame_count": 5, "annotations": [_entry(f) for f in range(10)]}
    assert read_keypoints(_write(tmp_path, doc)).frame_count == 10


def test_coco_results_numbered_from_one_with_a_count_are_shifted(tmp_path):
    """ids 1..N in a file that says N frames can only be 1-based: frames 0..N-1."""
    anns = [_entry(f) for f in range(1, 13)]
    src = read_keypoints(_write(tmp_path, {"width": 640, "height": 480, "fps": 30, "frame_count": 12,
                                           "annotations": anns}))
    assert sorted(src.detections) == list(range(12)) and src.frame_count == 12
    # the keypoints of id 1 are on frame 0
    np.testing.assert_allclose(src.detections[0].keypoints_px[0, :, :2], coco_person(101, 200)[:, :2])
    # without a count the ids are frame indices as they are (frame 0 simply has nobody)
    src = read_keypoints(_write(tmp_path, anns, "nocount.json"), image_size=(640, 480), fps=30)
    assert sorted(src.detections) == list(range(1, 13)) and src.frame_count == 13


@pytest.mark.parametrize("bad", ["12", -1, 3.5, True])
def test_bad_frame_count_is_an_input_error(tmp_path, bad):
    doc = {"width": 640, "height": 480, "fps": 30, "frame_count": bad, "annotations": [_entry(0)]}
    with pytest.raises(InputError, match="frame_count.*non-negative integer"):
        read_keypoints(_write(tmp_path, doc))


def test_coco_dataset_ids_from_one_and_trailing_images_without_people(tmp_path):
    images = [{"id": i, "width": 640, "height": 480, "file_name": f"{i:06d}.jpg"} for i in range(1, 21)]
    anns = [{**_entry(i), "id": 100 + i} for i in range(1, 16)]       # images 16..20: nobody
    src = read_keypoints(_write(tmp_path, {"images": images, "annotations": anns, "fps": 25}))
    assert src.layout == "coco-dataset"
    assert sorted(src.detections) == list(range(15)), "image id 1 is the first frame (rank 0)"
    assert src.frame_count == 20, f"expected 20 frames (one per image), found {src.frame_count}"


def test_coco_dataset_frame_index_beyond_the_number_of_images(tmp_path):
    """Images of every 5th frame (frame_index 0, 5, ... 45): the clip has 46 frames, not 10."""
    images = [{"id": k + 1, "width": 640, "height": 480, "frame_index": 5 * k} for k in range(10)]
    anns = [{**_entry(k + 1), "id": k} for k in range(8)]
    src = read_keypoints(_write(tmp_path, {"images": images, "annotations": anns, "fps": 25}))
    assert sorted(src.detections) == [5 * k for k in range(8)]
    assert src.frame_count == 46, f"expected 46 frames (frame_index up to 45), found {src.frame_count}"


def test_relift_frame_count_matches_the_file(tmp_path, tiny_weights):
    anns = [_entry(f) for f in range(1, 21)]
    doc = {"width": 640, "height": 480, "fps": 30, "frame_count": 20, "annotations": anns}
    pipe = LiftPipeline(LiftSettings(weights=str(tiny_weights), min_track_s=0.1, device="cpu"))
    res = pipe.run_keypoints(_write(tmp_path, doc))
    assert res.header["source"]["frame_count"] == 20 and res.tracks[0].frames.tolist() == list(range(20))


# --- portrait video: render reads what the lift decoder reads -----------------------------------

LW, LH = 160, 96                     # stored (landscape) size
SQ_X, SQ_Y, SQ = 20, 10, 24          # light square in the stored frame: x 20..43, y 10..33


def write_h264_square(path: Path, frames: int = 6, fps: int = 24) -> Path:
    import av
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = LW, LH, "yuv420p"
        for _ in range(frames):
            img = np.full((LH, LW, 3), 30, np.uint8)
            img[SQ_Y:SQ_Y + SQ, SQ_X:SQ_X + SQ] = 190     # light grey: white joint dots show on it
            for p in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return path


def displayed_square() -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 (exclusive) of the square in the displayed frame: rotating 90 degrees
    clockwise maps stored (x, y) to displayed (LH - 1 - y, x)."""
    return LH - SQ_Y - SQ, SQ_X, LH - SQ_Y, SQ_X + SQ


def _bright_box(img: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(img.mean(-1) > 110)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _result_marking_the_square(n: int, seed: int = 0) -> dict:
    from sasmamba_cli.export.synthetic import synthetic_result

    d = synthetic_result(n, 1, fps=24.0, width=LH, height=LW).to_dict()   # displayed size: portrait
    x0, y0, x1, y1 = displayed_square()
    rng = np.random.default_rng(seed)
    kp = np.empty((n, 17, 3))
    kp[..., 0] = rng.uniform(x0 + 7, x1 - 7, (n, 17))
    kp[..., 1] = rng.uniform(y0 + 7, y1 - 7, (n, 17))
    kp[..., 2] = 0.9
    d["tracks"][0]["keypoints_2d"] = kp.tolist()
    return d


def test_portrait_video_decodes_the_same_in_lift_and_render(tmp_path):
    from sasmamba_cli.render.video_io import probe, read_frames

    rotated = set_rotation_90(write_h264_square(tmp_path / "land.mp4"))
    info = video_mod.probe_video(rotated)
    assert (info.width, info.height, info.rotation) == (LH, LW, 90), \
        f"expected a {LH}x{LW} portrait clip rotated 90, found {info.width}x{info.height} rotation {info.rotation}"
    rinfo = probe(rotated)
    assert (rinfo.width, rinfo.height, rinfo.rotation, rinfo.frame_count) == (LH, LW, 90, 6)
    lift_frames = [f for _, f in video_mod.iter_frames(info)]
    render_frames_ = list(read_frames(rotated))
    assert len(lift_frames) == len(render_frames_) == 6
    for a, b in zip(lift_frames, render_frames_):
        assert a.shape == (LW, LH, 3)
        np.testing.assert_array_equal(a, b)
    x0, y0, x1, y1 = displayed_square()
    bx = _bright_box(lift_frames[0])
    assert all(abs(u - v) <= 1 for u, v in zip(bx, (x0, y0, x1, y1))), \
        f"expected the square at {(x0, y0, x1, y1)} in the displayed frame, found {bx}"


def test_render_overlay_lines_up_on_a_portrait_video(tmp_path):
    from sasmamba_cli.render.compose import render_frames, render_result_stats
    from sasmamba_cli.render.video_io import probe, read_frames

    rotated = set_rotation_90(write_h264_square(tmp_path / "land.mp4"))
    d = _result_marking_the_square(6)
    # end to end: output = portrait input panel (LH x LW) beside the 3D panel (LW x LW)
    st = render_result_stats(d, rotated, tmp_path / "out.mp4", summary=False)
    assert st.frames == 6 and st.size == (LH + LW, LW), f"expected {(LH + LW, LW)}, found {st.size}"
    out0 = next(read_frames(st.path))
    assert out0.shape == (LW, LH + LW, 3)
    x0, y0, x1, y1 = displayed_square()
    left = out0[:, :LH].astype(int)
    assert left[y1 - 3, x0 + 2].mean() > 150 and left[LW - 10, 10].mean() < 80, \
        "expected the left panel to show the displayed (rotated) input frame"
    # pixel-exact check on the composed frames before encoding (the frames render_result_stats encodes)
    info = probe(rotated)
    inputs = list(read_frames(rotated))
    from sasmamba_cli.pipeline.result import as_result
    res = as_result(d)
    composed = list(render_frames(res, iter(inputs), (info.width, info.height), 6, 24.0))
    kp = np.asarray(d["tracks"][0]["keypoints_2d"])
    for i, (img, src) in enumerate(zip(composed, inputs)):
        diff = np.abs(img[:, :LH].astype(int) - src.astype(int)).sum(-1) > 90
        top = int(np.floor(kp[i, :, 1].min()))
        diff[:top - 1] = False                       # the "id N" label is drawn above the skeleton
        ys, xs = np.nonzero(diff)
        assert xs.size > 20, f"frame {i}: expected the 2D overlay drawn, found {xs.size} changed pixels"
        lo = kp[i, :, :2].min(0) - 4
        hi = kp[i, :, :2].max(0) + 4
        assert xs.min() >= lo[0] and xs.max() <= hi[0] and ys.min() >= lo[1] and ys.max() <= hi[1], (
            f"frame {i}: overlay drawn over x {xs.min()}..{xs.max()}, y {ys.min()}..{ys.max()}; "
            f"expected within the keypoints' box x {lo[0]:.0f}..{hi[0]:.0f}, y {lo[1]:.0f}..{hi[1]:.0f} "
            f"(inside the square {displayed_square()})")


def test_render_refuses_a_video_whose_displayed_size_differs_from_the_result(tmp_path):
    from sasmamba_cli.render.compose import render_result_stats

    landscape = write_h264_square(tmp_path / "land.mp4")          # the same clip without its rotation
    with pytest.raises(InputError, match=f"expected the result's input video.*{LH}x{LW}.*found {LW}x{LH}"):
        render_result_stats(_result_marking_the_square(6), landscape, tmp_path / "o.mp4", summary=False)
    assert not (tmp_path / "o.mp4").exists()


def test_render_reader_applies_rotation_even_where_opencv_defaults_to_off(tmp_path, monkeypatch):
    """Some OpenCV builds open captures with CAP_PROP_ORIENTATION_AUTO off: emulate one. The lift
    decoder and the render reader switch it on themselves, so both still see portrait frames."""
    import cv2

    from sasmamba_cli.render.video_io import probe, read_frames

    rotated = set_rotation_90(write_h264_square(tmp_path / "land.mp4"))
    real = cv2.VideoCapture

    def capture_with_rotation_off(*args, **kw):
        cap = real(*args, **kw)
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
        return cap

    monkeypatch.setattr(cv2, "VideoCapture", capture_with_rotation_off)
    raw = cv2.VideoCapture(str(rotated))
    ok, stored = raw.read()
    raw.release()
    if not ok or stored.shape[:2] != (LH, LW):
        pytest.skip("this OpenCV build cannot switch display rotation off; nothing to emulate")
    info = probe(rotated)
    assert (info.width, info.height) == (LH, LW), f"expected {LH}x{LW}, found {info.width}x{info.height}"
    frame = next(read_frames(rotated))
    assert frame.shape == (LW, LH, 3)
    np.testing.assert_array_equal(frame, next(video_mod.iter_frames(video_mod.probe_video(rotated)))[1])
