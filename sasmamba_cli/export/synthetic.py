"""Synthetic results (a test double shipped with the package): smooth random joint rotations on a
known rig -> forward kinematics -> a valid "sasmamba-result" with exact, rigid 3D and projected 2D.

Used by the export/render tests and ``benchmarks/bench_render.py``.
"""
from __future__ import annotations

import numpy as np

from ..pipeline.result import SCHEMA, SCHEMA_VERSION, ClipResult, TrackResult
from ..skeleton import H36M
from .geometry import euler_to_matrix
from .rig import Rig, rig_spec
from .solve import Motion, forward_kinematics
from .world import FLIP

# T-pose offsets (cm, Y up, facing +Z, left = +X) of a symmetric adult rig, H36M order.
REFERENCE_OFFSETS_CM = np.array([
    [0, 0, 0], [-12, -3, 0], [0, -43, 0], [0, -42, 0], [12, -3, 0], [0, -43, 0], [0, -42, 0],
    [0, 23, 0], [0, 24, 1], [0, 10, 4], [0, 12, 0], [16, -3, -1], [27, 0, 0], [25, 0, 0],
    [-16, -3, -1], [-27, 0, 0], [-25, 0, 0]], dtype=np.float64)


def reference_rig(scale: float = 1.0) -> Rig:
    offs = REFERENCE_OFFSETS_CM * scale
    J = len(H36M.names)
    lengths = np.linalg.norm(offs, axis=1)
    ends = np.zeros((J, 3))
    for j, leaf in rig_spec().leaves.items():
        ends[j] = leaf.end_site * leaf.end_site_scale * lengths[j]
    return Rig(rig_spec().bvh_names("mixamo"), tuple(H36M.parents), offs, ends,
               np.tile(np.eye(3), (J, 1, 1)), lengths)


# Hinge joints for ``anatomical=True``: rotation axis and sign of flexion (knees bend the shin
# backwards, elbows bend the forearm forwards from the T-pose).
HINGES = {"r_knee": ("X", 1.0), "l_knee": ("X", 1.0), "l_elbow": ("Y", -1.0), "r_elbow": ("Y", 1.0)}


def random_motion(n_frames: int, rng: np.random.Generator, fps: float = 30.0,
                  max_angle_deg: float = 60.0, anatomical: bool = False) -> Motion:
    """Smooth random local rotations (sinusoids in ZXY Euler angles) + a walking root (cm).

    anatomical: knees and elbows only flex about their hinge axis (0..120 degrees), arms hang
    down-ish, so the motion looks like a person (used for continuity tests and renders).
    """
    J = len(H36M.names)
    t = np.arange(n_frames) / fps
    freq = rng.uniform(0.2, 1.2, (1, J, 3))
    phase = rng.uniform(0, 2 * np.pi, (1, J, 3))
    amp = np.radians(rng.uniform(0.2, 1.0, (1, J, 3)) * max_angle_deg)
    ang = amp * np.sin(2 * np.pi * freq * t[:, None, None] + phase)            # (T, J, 3)
    ang[:, 0] = [0, 0, 1] * ang[:, 0] * 0.2 + [0, 0, 0]                         # root: mostly upright
    ang[:, 0, 2] += rng.uniform(-np.pi, np.pi) + 0.4 * t                         # turning
    if anatomical:
        for name in ("l_shoulder", "r_shoulder"):                               # arms lowered
            j = H36M.index(name)
            ang[:, j, 0] += np.radians(-70.0 if name[0] == "l" else 70.0)
        for name, (axis, sign) in HINGES.items():
            j = H36M.index(name)
            flex = np.radians(60.0) * (1 + np.sin(2 * np.pi * freq[0, j, 0] * t + phase[0, j, 0]))
            ang[:, j] = 0.0
            ang[:, j, "ZXY".index(axis)] = sign * flex
    local = euler_to_matrix(ang, "ZXY")
    root = np.stack([60 * np.sin(0.5 * t), 95 + 3 * np.sin(4 * t), 40 * np.cos(0.4 * t)], axis=-1)
    return Motion(root, local)


def synthetic_result(n_frames: int = 60, n_tracks: int = 1, *, seed: int = 0, fps: float = 30.0,
                     width: int = 640, height: int = 480, first_frame: int = 0,
                     camera_tilt_deg: float = 10.0, distance_m: float = 4.0,
                     anatomical: bool = False) -> ClipResult:
    """A valid result whose tracks are exact FK of random motions on :func:`reference_rig` rigs.

    The camera looks at the people from ``distance_m`` with a pitch of ``camera_tilt_deg``;
    2D keypoints are pinhole projections (focal length = image width) with confidence 0.9.
    """
    rng = np.random.default_rng(seed)
    tilt = np.radians(camera_tilt_deg)
    c, s = np.cos(tilt), np.sin(tilt)
    world_to_cam = FLIP.T @ np.array([[1, 0, 0], [0, c, -s], [0, s, c]])       # level world -> camera
    f = float(width)
    tracks = []
    for k in range(n_tracks):
        rig = reference_rig(rng.uniform(0.9, 1.1))
        motion = random_motion(n_frames, rng, fps, anatomical=anatomical)
        pos_cm = forward_kinematics(rig, motion)
        pos_cm += np.array([(k - (n_tracks - 1) / 2) * 150.0, 0.0, -distance_m * 100.0])
        cam = (pos_cm / 100.0) @ world_to_cam.T + np.array([0.0, 1.2, 0.0])      # camera 1.2 m high-ish
        uv = cam[..., :2] / cam[..., 2:3] * f + np.array([width / 2, height / 2])
        conf = np.full((n_frames, 17), 0.9)
        kp = np.concatenate([uv, conf[..., None]], axis=-1)
        frames = np.arange(first_frame, first_frame + n_frames)
        tracks.append(TrackResult(k + 1, frames, kp, kp.copy(), np.full((n_frames, 4), np.nan), cam - cam[:, :1],
                                  cam[:, 0].copy(), conf, np.zeros(n_frames, bool), 1.0))
    header = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION,
              "source": {"path": "synthetic.mp4", "fps": float(fps), "frame_count": first_frame + n_frames,
                         "width": width, "height": height, "rotation": 0},
              "units": {"joints_3d": "m", "root_3d": "m", "keypoints_2d": "px"},
              "axes": {"x": "right", "y": "down", "z": "forward"},
              "skeleton": {"name": "h36m17", "joint_names": list(H36M.names), "parents": list(H36M.parents)},
              "model": {"name": "synthetic"}, "detector": {"name": "synthetic"}, "settings": {}}
    return ClipResult(header, tracks)
