"""Tracker on two people of similar size walking across each other (synthetic COCO-17 detections).

Person A walks left -> right in front, person B walks right -> left slightly behind (a little
smaller and higher in the image). Their boxes overlap for about 10 frames; while they overlap,
B's joints hidden behind A's body are not detected, and on the one to three frames closest to the
crossing B is not detected at all (fewer than 3 joints visible, or dropped on purpose). The
tracker must keep both ids through the crossing (no swap) and bridge B's missing frames.
"""
from __future__ import annotations

import numpy as np
import pytest

from sasmamba_cli.pipeline.detect import FrameDetections, mask_keypoints
from sasmamba_cli.pipeline.track import Tracker, TrackerConfig

N_FRAMES = 60
SPEED = 10.0          # px / frame, both people (opposite directions)


def walker(hip_x: float, foot_y: float, height: float, facing: int, phase: float) -> np.ndarray:
    """COCO-17 keypoints ``(17, 3)`` (x, y px, confidence 0.9) of a person seen in profile.

    ``facing`` +1 walks to the right, -1 to the left; ``phase`` (radians) swings arms and legs.
    """
    s, sw = facing, np.sin(phase)
    rel = np.array([                                   # (dx, dy) in units of height, y down
        [0.06 * s, -0.93], [0.05 * s, -0.95], [0.05 * s, -0.95], [-0.01 * s, -0.94], [-0.01 * s, -0.94],
        [0.02, -0.82], [-0.02, -0.82],                  # shoulders
        [0.08 * sw, -0.65], [-0.08 * sw, -0.65],        # elbows (opposite swing)
        [0.15 * sw, -0.50], [-0.15 * sw, -0.50],        # wrists
        [0.02, -0.50], [-0.02, -0.50],                  # hips
        [-0.10 * sw, -0.27], [0.10 * sw, -0.27],        # knees (opposite to the arms)
        [-0.18 * sw, 0.0], [0.18 * sw, 0.0],            # ankles
    ])
    kp = np.empty((17, 3))
    kp[:, 0] = hip_x + rel[:, 0] * height
    kp[:, 1] = foot_y + rel[:, 1] * height
    kp[:, 2] = 0.9
    return kp


def box_of(kp: np.ndarray, pad: float = 10.0) -> np.ndarray:
    """Box ``(4,)`` x1, y1, x2, y2 around the visible joints of ``kp (17, 3)``, padded by ``pad`` px."""
    v = kp[:, 2] > 0
    return np.array([kp[v, 0].min() - pad, kp[v, 1].min() - pad, kp[v, 0].max() + pad, kp[v, 1].max() + pad])


def crossing_scene(seed: int = 0, missing_b: tuple[int, ...] = ()):
    """Per frame: detections (shuffled order) and the true identity of each one.

    Returns ``(frames, truth, overlap_frames, b_missing)``: ``frames[f]`` a FrameDetections,
    ``truth[f]`` a list of "A" / "B" in detection order, ``overlap_frames`` the frames where the two
    true boxes overlap, ``b_missing`` the frames without a detection of B (``missing_b`` plus any
    frame where fewer than 3 of B's joints are visible).
    """
    rng = np.random.default_rng(seed)
    frames, truth, overlap, b_missing = [], [], [], []
    for f in range(N_FRAMES):
        a = walker(300 + SPEED * f, 700, 380, +1, 0.5 * f)
        b = walker(900 - SPEED * f, 685, 365, -1, 0.5 * f + 1.3)
        for kp in (a, b):
            kp[:, :2] += rng.normal(0, 2.0, (17, 2))        # detector jitter, px
        box_a, box_b = box_of(a), box_of(b)
        if min(box_a[2], box_b[2]) > max(box_a[0], box_b[0]):
            overlap.append(f)
            hidden = (b[:, 0] > box_a[0] + 25) & (b[:, 0] < box_a[2] - 25)   # behind A's body
            b[hidden, 2] = 0.2                                              # below threshold
            if (b[:, 2] >= 0.5).sum() >= 3:
                box_b = box_of(np.where(b[:, 2:] >= 0.5, b, 0.0))
        people = [("A", a, box_a)]
        if f not in missing_b and (b[:, 2] >= 0.5).sum() >= 3:
            people.append(("B", b, box_b))
        else:
            b_missing.append(f)
        order = rng.permutation(len(people))
        people = [people[i] for i in order]
        det = mask_keypoints(np.stack([p[2] for p in people]), np.full(len(people), 0.9),
                             np.stack([p[1] for p in people]), 0.5)
        frames.append(det)
        truth.append([p[0] for p in people])
    return frames, truth, overlap, b_missing


def _run(frames: list[FrameDetections], cfg: TrackerConfig):
    tr = Tracker(cfg)
    for f, det in enumerate(frames):
        tr.update(f, det)
    return tr.finish()


def _identity(track, frames, truth) -> list[str]:
    """True identity ("A"/"B") of the detection the track took on each of its detected frames."""
    out = []
    for f, box, d in zip(track.frames, track.boxes_px, track.detected):
        if not d:
            continue
        det = frames[f]
        same = [i for i in range(det.count) if np.allclose(det.boxes_px[i], box)]
        assert len(same) == 1, f"frame {f}: track box matches {len(same)} detections, expected 1"
        out.append(truth[f][same[0]])
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("missing_b", [(), (30,), (31,)])
def test_crossing_people_keep_their_ids_and_the_gap_is_bridged(seed, missing_b):
    frames, truth, overlap, gap = crossing_scene(seed, missing_b)
    assert 8 <= len(overlap) <= 16, f"scene: boxes overlap on {len(overlap)} frames, expected ~10"
    assert 1 <= len(gap) <= 3 and set(missing_b) <= set(gap) and set(gap) <= set(overlap), \
        f"scene: B undetected on frames {gap}, expected 1-3 frames within the overlap {overlap}"
    tracks = _run(frames, TrackerConfig(max_gap=5, min_frames=10))
    assert len(tracks) == 2, (f"expected 2 tracks (A and B), found {len(tracks)} with lengths "
                              f"{[t.length for t in tracks]} (an id was lost or split at the crossing)")
    for t in tracks:
        ident = _identity(t, frames, truth)
        assert len(set(ident)) == 1, (
            f"track {t.track_id} swapped identity: expected one person, found "
            f"{''.join(ident)} over frames {t.frames[0]}..{t.frames[-1]}")
        assert t.length == N_FRAMES, f"track {t.track_id}: expected {N_FRAMES} frames, found {t.length}"
        assert np.all(np.diff(t.frames) == 1)
    who = {_identity(t, frames, truth)[0]: t for t in tracks}
    assert set(who) == {"A", "B"}
    b = who["B"]
    assert np.flatnonzero(~b.detected).tolist() == gap, \
        f"B's bridged frames: expected {gap}, found {np.flatnonzero(~b.detected).tolist()}"
    assert who["A"].detected.all()
    # bridged box moves on with B (linear between the neighbours), in B's direction of travel
    cx = 0.5 * (b.boxes_px[:, 0] + b.boxes_px[:, 2])
    m = gap
    assert np.all(cx[m] < cx[m[0] - 1]) and np.all(cx[m] > cx[m[-1] + 1])


@pytest.mark.parametrize("seed", [7, 8])
def test_crossing_with_a_longer_occlusion(seed):
    """B hidden for 4 frames right at the crossing (within max_gap): still no swap."""
    frames, truth, _, _ = crossing_scene(seed, (28, 29, 30, 31))
    tracks = _run(frames, TrackerConfig(max_gap=5, min_frames=10))
    assert len(tracks) == 2, f"expected 2 tracks, found {len(tracks)}"
    for t in tracks:
        ident = _identity(t, frames, truth)
        assert len(set(ident)) == 1, f"track {t.track_id} swapped: {''.join(ident)}"
