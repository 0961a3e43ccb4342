"""BVH export: one file per track, Y up, centimetres, T-pose rest pose, true frame rate.

``export_result_bvh(result, out_dir, **options)`` is the entry point used by ``sasmamba export``
and ``sasmamba lift --format bvh``. See docs/export.md for the method and how to import the files.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .. import atomic
from .geometry import choose_order, matrices_to_euler_continuous
from ..pipeline.result import ClipResult, as_result
from .rig import Rig, children_of, rig_spec
from .solve import Motion
from .track_rig import SolvedTrack, solve_result
from .world import DEFAULT_LEVEL, LEVELS

ROOT_MODES = ("world", "start", "in_place")
CHANNEL_ORDERS = ("auto", "table", "ZXY", "ZYX", "XYZ", "XZY", "YXZ", "YZX")


@dataclass(frozen=True)
class BvhOptions:
    """naming: 'mixamo' (default) or 'h36m' joint names.
    order: rotation channel order: 'auto' (default) = per joint the bvh_rig.json table, except that a
           joint whose middle angle would come within 30 degrees of gimbal lock in this clip gets
           the order that keeps it furthest from gimbal lock (:func:`joint_orders`); 'table' =
           the table as it is (the same header for every clip); or one order for every joint
           (e.g. 'ZXY' = Zrotation Xrotation Yrotation). Case-insensitive.
    root: 'world' = hips at the estimated trajectory in the clip's shared world frame (origin on the
          floor below the camera); 'start' = the same, shifted so each track starts at x = z = 0;
          'in_place' = hips x = z = 0 in every frame (height kept).
    level: camera levelling (docs/export.md): 'auto' (default: the floor fitted to foot contacts when
           it is valid and agrees with the torso within 25 degrees, else 'torso'), 'floor' (the
           floor fit, 'torso' when it fails), 'torso' (mean torso direction) or 'none'.
    align: 'track' = BVH frame 0 is the track's first video frame; 'video' = one BVH frame per video
           frame, the first/last pose held before/after the track.
    verify: re-parse each file, run forward kinematics and attach a report.
    """

    naming: str = "mixamo"
    order: str = "auto"
    root: str = "world"
    level: str = DEFAULT_LEVEL
    align: str = "track"
    verify: bool = True

    def __post_init__(self):
        if isinstance(self.order, str):                 # 'xyz' -> 'XYZ', 'TABLE' -> 'table'
            low = self.order.lower()
            object.__setattr__(self, "order", low if low in ("auto", "table") else self.order.upper())
        for name, value, allowed in (("root", self.root, ROOT_MODES), ("order", self.order, CHANNEL_ORDERS),
                                     ("align", self.align, ("track", "video")),
                                     ("level", self.level, LEVELS)):
            if value not in allowed:
                raise InputError(f"BVH option {name}: expected one of {list(allowed)}, found {value!r}")


def _dfs_order(parents) -> list[int]:
    kids = children_of(parents)
    order, stack = [], [parents.index(-1)]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(kids[j]))
    return order


def _fmt(v) -> str:
    return " ".join(f"{x:.6f}" for x in v)


def hierarchy_text(rig: Rig, orders: tuple[str, ...]) -> str:
    """The HIERARCHY section (root OFFSET 0 0 0; 6 root channels, 3 rotation channels elsewhere).

    orders: (J,) rotation channel order per joint, e.g. "ZXY".
    """
    kids = children_of(rig.parents)
    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        tab = "\t" * depth
        rot = " ".join(f"{a}rotation" for a in orders[j])
        if rig.parents[j] < 0:
            lines.append(f"ROOT {rig.names[j]}")
            lines.append(f"{tab}{{")
            lines.append(f"{tab}\tOFFSET 0.000000 0.000000 0.000000")
            lines.append(f"{tab}\tCHANNELS 6 Xposition Yposition Zposition {rot}")
        else:
            lines.append(f"{tab}JOINT {rig.names[j]}")
            lines.append(f"{tab}{{")
            lines.append(f"{tab}\tOFFSET {_fmt(rig.offsets[j])}")
            lines.append(f"{tab}\tCHANNELS 3 {rot}")
        for k in kids[j]:
            emit(k, depth + 1)
        if not kids[j]:
            lines.append(f"{tab}\tEnd Site")
            lines.append(f"{tab}\t{{")
            lines.append(f"{tab}\t\tOFFSET {_fmt(rig.end_sites[j])}")
            lines.append(f"{tab}\t}}")
        lines.append(f"{tab}}}")

    emit(rig.parents.index(-1), 0)
    return "\n".join(lines) + "\n"


def joint_orders(motion: Motion, order: str = "auto") -> tuple[str, ...]:
    """(J,) rotation channel order per joint for ``motion``.

    'table': bvh_rig.json's table; 'auto': the table, except where a joint's middle angle would come
    within 30 degrees of gimbal lock somewhere in the clip: that joint gets, of the six orders, the
    one whose middle angle stays furthest from +-90 degrees over the clip
    (:func:`geometry.choose_order`); anything else: that order for every joint.
    """
    table = rig_spec().channel_orders(order)
    if order != "auto":
        return table
    return tuple(choose_order(motion.local[:, j], table[j]) for j in range(len(table)))


def motion_values(rig: Rig, motion: Motion, orders: tuple[str, ...]) -> np.ndarray:
    """(T, 6 + 3 * (J - 1)) channel values in file order: root position (cm), then Euler degrees."""
    cols = [motion.root_cm]
    for j in _dfs_order(list(rig.parents)):
        cols.append(np.degrees(matrices_to_euler_continuous(motion.local[:, j], orders[j])))
    values = np.concatenate(cols, axis=1)
    if not np.all(np.isfinite(values)):
        raise ValueError("BVH motion contains non-finite values")
    return values


def bvh_text(rig: Rig, motion: Motion, frame_time: float, order: str | tuple[str, ...] = "auto") -> str:
    """A complete BVH file as text ('.' decimals, '%.6f', '\\n' line endings).

    order: "auto", "table" or one order for every joint (see :func:`joint_orders`), or a (J,)
    tuple of per-joint orders. The header's channels and the Euler angles use the same orders.
    """
    if not (np.isfinite(frame_time) and frame_time > 0):
        raise InputError(f"BVH frame time: expected a positive number of seconds, found {frame_time}")
    orders = joint_orders(motion, order) if isinstance(order, str) else tuple(order)
    values = motion_values(rig, motion, orders)
    buf = io.StringIO()
    np.savetxt(buf, values, fmt="%.6f", delimiter=" ")
    return (hierarchy_text(rig, orders) + "MOTION\n" + f"Frames: {values.shape[0]}\n"
            + f"Frame Time: {frame_time:.6f}\n" + buf.getvalue())


def _apply_root_mode(motion: Motion, mode: str) -> Motion:
    root = motion.root_cm.copy()
    if mode == "start":
        root[:, [0, 2]] -= root[0, [0, 2]]
    elif mode == "in_place":
        root[:, [0, 2]] = 0.0
    return Motion(root, motion.local)


def _align_video(solved: SolvedTrack, motion: Motion, frame_count: int) -> tuple[Motion, np.ndarray]:
    """One row per video frame; the first/last pose held outside the track. Returns (motion, rows)."""
    first, last = int(solved.frames[0]), int(solved.frames[-1])
    n = max(frame_count, last + 1)
    idx = np.clip(np.arange(n) - first, 0, motion.num_frames - 1)
    return Motion(motion.root_cm[idx], motion.local[idx]), idx


def safe_stem(text: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return stem or "result"


@dataclass(frozen=True)
class BvhExport:
    """One written BVH: its path, the solved track, the motion written, the verification report and
    the rotation channel order of each joint (H36M order)."""

    path: Path
    solved: SolvedTrack
    motion: Motion
    first_frame: int
    report: object | None
    orders: tuple[str, ...] = ()


def write_result_bvh(result: ClipResult, out_dir: str | Path, *, stem: str | None = None,
                     options: BvhOptions | None = None) -> list[BvhExport]:
    """Write one BVH per track into ``out_dir``; returns what was written (with reports)."""
    options = options or BvhOptions()
    if not result.tracks:
        raise InputError("BVH export: expected at least one track in the result, found none "
                         "(no person was tracked in this clip)")
    out_dir = Path(out_dir)
    stem = safe_stem(stem or Path(result.source.path).stem or "result")
    world, solved = solve_result(result, naming=options.naming, level=options.level)
    frame_time = 1.0 / result.source.fps
    out = []
    for s in solved:
        motion = _apply_root_mode(s.motion, options.root)
        first = int(s.frames[0])
        rows = np.arange(motion.num_frames)
        if options.align == "video":
            motion, rows = _align_video(s, motion, result.source.frame_count)
            first = 0
        path = out_dir / f"{stem}_track{s.track_id}.bvh"
        orders = joint_orders(motion, options.order)
        atomic.write_text(path, bvh_text(s.rig, motion, frame_time, orders))
        report = None
        if options.verify:
            from .verify import verify_bvh
            report = verify_bvh(path, s, motion, rows)
        out.append(BvhExport(path, s, motion, first, report, orders))
    return out


def export_result_bvh(result: ClipResult | dict | str | Path, out_dir: str | Path, **options) -> list[Path]:
    """Write one BVH per track of ``result`` into ``out_dir`` and return their paths.

    ``result`` may be a :class:`ClipResult`, the result dict or a path to the result JSON.
    Options (keywords): ``naming``, ``order``, ``root``, ``level``, ``align``, ``verify`` (see
    :class:`BvhOptions`) and ``stem`` (file name prefix; default: the source video's name).
    """
    stem = options.pop("stem", None)
    result = as_result(result)
    try:
        opts = BvhOptions(**options)
    except TypeError as e:
        raise InputError(f"BVH export: unknown option ({e}); expected {list(BvhOptions.__dataclass_fields__)}") from e
    return [e.path for e in write_result_bvh(result, out_dir, stem=stem, options=opts)]
