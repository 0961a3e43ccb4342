"""Solve every track of a result on its own fixed rig, in the clip's shared world frame."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..pipeline.result import ClipResult, TrackResult
from .rig import Rig, fit_rig
from .solve import Motion, forward_kinematics, solve_motion
from .world import DEFAULT_LEVEL, WorldFrame, estimate_world_frame

CONFIDENT = 0.3          # a joint counts as confident for bone lengths at or above this confidence


@dataclass(frozen=True)
class SolvedTrack:
    """One track on its rig.

    track_id:     the result's track id
    frames:       (T,) video frame indices
    rig:          the fitted rig (cm)
    motion:       root (cm) + local rotations, world frame
    input_cm:     (T, 17, 3) input joint positions, world cm
    fk_cm:        (T, 17, 3) positions regenerated from rig + motion, world cm
    """

    track_id: int
    frames: np.ndarray
    rig: Rig
    motion: Motion
    input_cm: np.ndarray
    fk_cm: np.ndarray


def confident_mask(track: TrackResult, threshold: float = CONFIDENT) -> np.ndarray:
    """(n, 17) bool: confident, detected (not interpolated) joints."""
    return (track.confidence >= threshold) & ~track.interpolated[:, None]


def world_frame_of(result: ClipResult, level: str = DEFAULT_LEVEL) -> WorldFrame:
    """The clip's shared world frame (docs/export.md): foot contacts use the result's fps and only
    confident, detected ankles (:func:`confident_mask`)."""
    return estimate_world_frame([t.positions_camera_m() for t in result.tracks], level,
                                fps=result.source.fps, valid=[confident_mask(t) for t in result.tracks])


def solve_track(track: TrackResult, world: WorldFrame, naming: str = "mixamo") -> SolvedTrack:
    pos = world.to_world_cm(track.positions_camera_m())
    rig = fit_rig(pos, confident_mask(track), naming=naming)
    motion = solve_motion(rig, pos)
    return SolvedTrack(track.track_id, track.frames, rig, motion, pos, forward_kinematics(rig, motion))


def solve_result(result: ClipResult, naming: str = "mixamo", level: str = DEFAULT_LEVEL
                 ) -> tuple[WorldFrame, list[SolvedTrack]]:
    world = world_frame_of(result, level)
    return world, [solve_track(t, world, naming) for t in result.tracks]
