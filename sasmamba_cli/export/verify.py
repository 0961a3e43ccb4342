"""Built-in verification of a written BVH: re-parse it, run forward kinematics, compare.

Reported (millimetres):
* ``error_mm``: per joint, FK of the file vs the input after bone-length normalisation (input
  directions, rig bone lengths, chained from the hips): what the rig could not represent.
* ``raw_error_mm``: FK of the file vs the raw input positions.
* ``solver_max_mm``: FK of the file vs the solver's own FK (checks Euler angles + formatting).
* bone-length spread (max - min over frames, in % of the median) of the input and of the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SasmambaError
from .bvh_read import forward_kinematics, read_bvh
from ..skeleton import H36M
from .rig import bone_lengths_cm
from .solve import Motion
from .track_rig import SolvedTrack


@dataclass(frozen=True)
class VerifyReport:
    """path: the BVH; frames / frame_time as read back; error arrays are (17,) per H36M joint in mm.

    spread_*: (17,) bone length max - min over frames, % of the median (index = child joint; 0 for root)
    """

    path: Path
    frames: int
    frame_time: float
    mean_error_mm: np.ndarray
    max_error_mm: np.ndarray
    raw_mean_error_mm: np.ndarray
    solver_max_mm: float
    spread_input_pct: np.ndarray
    spread_bvh_pct: np.ndarray

    def to_dict(self) -> dict:
        r = lambda a: [round(float(x), 3) for x in a]
        return {"path": self.path.name, "frames": self.frames, "frame_time": self.frame_time,
                "joint_names": list(H36M.names),
                "mean_error_mm": r(self.mean_error_mm), "max_error_mm": r(self.max_error_mm),
                "raw_mean_error_mm": r(self.raw_mean_error_mm),
                "solver_max_mm": round(self.solver_max_mm, 6),
                "bone_spread_input_pct": r(self.spread_input_pct),
                "bone_spread_bvh_pct": r(self.spread_bvh_pct)}

    def summary(self) -> str:
        worst = int(np.argmax(self.mean_error_mm))
        return (f"{self.path.name}: {self.frames} frames @ {1 / self.frame_time:.3f} fps; "
                f"FK vs length-normalised input: mean {self.mean_error_mm.mean():.1f} mm, "
                f"worst joint {H36M.names[worst]} {self.mean_error_mm[worst]:.1f} mm mean / "
                f"{self.max_error_mm.max():.1f} mm max; file vs solver {self.solver_max_mm:.4f} mm; "
                f"bone-length spread {self.spread_input_pct[1:].max():.1f}% -> "
                f"{self.spread_bvh_pct[1:].max():.3f}%")


def normalise_bone_lengths(pos: np.ndarray, lengths: np.ndarray, parents=H36M.parents) -> np.ndarray:
    """(T, J, 3): keep each bone's direction, set its length to ``lengths[j]``, chain from the root."""
    out = pos.copy()
    for j, p in enumerate(parents):
        if p >= 0:
            d = pos[:, j] - pos[:, p]
            n = np.linalg.norm(d, axis=-1, keepdims=True)
            out[:, j] = out[:, p] + d / np.maximum(n, 1e-9) * lengths[j]
    return out


def spread_pct(pos_cm: np.ndarray) -> np.ndarray:
    """(J,) bone length (max - min) / median over frames, percent."""
    lengths = bone_lengths_cm(pos_cm)
    med = np.maximum(np.median(lengths, axis=0), 1e-9)
    out = (lengths.max(axis=0) - lengths.min(axis=0)) / med * 100.0
    out[0] = 0.0
    return out


def verify_bvh(path: str | Path, solved: SolvedTrack, motion: Motion,
               source_index: np.ndarray | None = None) -> VerifyReport:
    """Re-read ``path`` and compare its FK with the solved track (see module docstring).

    source_index: (F,) row of the track for each BVH frame (``align='video'`` repeats rows).
    """
    path = Path(path)
    parsed = read_bvh(path)
    F = motion.num_frames
    if parsed.num_frames != F:
        raise SasmambaError(f"{path}: verification expected {F} frames, found {parsed.num_frames}")
    fk = forward_kinematics(parsed)
    cols = [parsed.index(n) for n in solved.rig.names]
    fk = fk[:, cols]
    idx = np.arange(F) if source_index is None else source_index
    shift = motion.root_cm - solved.motion.root_cm[idx]                       # root-mode offset
    target = normalise_bone_lengths(solved.input_cm, solved.rig.bone_lengths)[idx] + shift[:, None]
    raw = solved.input_cm[idx] + shift[:, None]
    err = np.linalg.norm(fk - target, axis=-1) * 10.0
    raw_err = np.linalg.norm(fk - raw, axis=-1) * 10.0
    solver = np.linalg.norm(fk - (solved.fk_cm[idx] + shift[:, None]), axis=-1).max() * 10.0
    return VerifyReport(path, parsed.num_frames, parsed.frame_time, err.mean(0), err.max(0),
                        raw_err.mean(0), float(solver), spread_pct(solved.input_cm), spread_pct(fk))
