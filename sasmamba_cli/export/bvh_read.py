"""BVH reader and forward kinematics (any channel count, any rotation order, CRLF, End Sites): the
format the BVH exporter writes (re-read to verify each export) and the motion-capture files of
:mod:`sasmamba_cli.mocap` read.

Conventions (the common ones, also used by Blender and bvhio):

* A joint's local transform is ``T(t) @ R`` where ``R = R_a1 @ R_a2 @ R_a3`` is the product of
  its rotation channels *in the order they are listed* (``Zrotation Xrotation Yrotation`` gives
  ``Rz @ Rx @ Ry``), angles in degrees, column vectors.
* ``t`` is the joint's OFFSET, except that a joint with position channels uses the channel values
  *instead* of its OFFSET (a missing position channel keeps that OFFSET component). This matches
  files whose position channels repeat the OFFSET (Bandai Namco: every joint has 6 channels) and
  the usual root convention (root OFFSET is 0 in practice).
* End Sites become extra joints named ``<parent>_end`` with no channels, so an end point (toe
  tip, head top in some rigs) is available to the rig maps.
* Positions are in file units (cm for all rigs shipped here); see ``data/rigs/*.json``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

_AXES = {"X": 0, "Y": 1, "Z": 2}
_VALID_CHANNELS = {f"{a}{k}" for a in "XYZ" for k in ("position", "rotation")}


@dataclass(frozen=True)
class BvhMotion:
    """A parsed BVH file.

    names:      (J,) joint names in file order (End Sites included as ``<parent>_end``).
    parents:    (J,) parent index per joint, -1 for the root.
    offsets:    (J, 3) float64 OFFSET per joint, file units.
    channels:   (J,) tuple of channel names per joint (empty for End Sites).
    frame_time: seconds per frame, as written in the header.
    motion:     (F, C) float64 channel values, C = total channel count, file units / degrees.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    frame_time: float
    motion: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def channel_start(self) -> np.ndarray:
        """(J,) index of each joint's first channel in ``motion``'s columns."""
        counts = np.array([len(c) for c in self.channels], dtype=np.int64)
        return np.concatenate([[0], np.cumsum(counts)[:-1]])

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"joint {name!r} not in this BVH; joints are {list(self.names)}") from None


def read_bvh(source: str | os.PathLike) -> BvhMotion:
    """Read a BVH file (path), or parse BVH text directly when given a string starting with
    ``HIERARCHY``. Raises :class:`InputError` for unreadable or malformed input."""
    if isinstance(source, str) and source.lstrip().startswith("HIERARCHY"):
        return parse_bvh(source)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise InputError(f"cannot read BVH file {path}: {e}") from e
    try:
        return parse_bvh(text)
    except InputError as e:
        raise InputError(f"{path}: {e}") from e


# long on purpose: one pass of a cursor over the tokens (hierarchy, then motion); split parts
# would have to share and hand back that cursor
def parse_bvh(text: str) -> BvhMotion:
    """Parse BVH text (any line endings, any whitespace)."""
    tok = text.split()
    n = len(tok)
    i = 0

    def need(k: int = 1) -> None:
        if i + k > n:
            raise InputError("unexpected end of file inside the HIERARCHY section; "
                             "expected a complete BVH file (is it truncated?)")

    def expect(word: str) -> None:
        nonlocal i
        need()
        if tok[i] != word:
            raise InputError(f"malformed BVH: expected {word!r} at token {i}, found {tok[i]!r}")
        i += 1

    if not tok or tok[0] != "HIERARCHY":
        raise InputError(f"not a BVH file: expected it to start with 'HIERARCHY', "
                         f"found {tok[0] if tok else 'an empty file'!r}")
    i = 1
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    stack: list[int] = []

    def floats(k: int) -> list[float]:
        nonlocal i
        need(k)
        try:
            vals = [float(x) for x in tok[i:i + k]]
        except ValueError:
            raise InputError(f"malformed BVH: expected {k} numbers at token {i}, "
                             f"found {tok[i:i + k]}") from None
        i += k
        return vals

    while i < n and tok[i] != "MOTION":
        word = tok[i]
        if word in ("ROOT", "JOINT"):
            if word == "ROOT" and stack:
                raise InputError("malformed BVH: ROOT inside another joint")
            need(2)
            name = tok[i + 1]
            i += 2
            expect("{")
            parent = stack[-1] if stack else -1
            if parent == -1 and names and word == "ROOT":
                raise InputError("BVH files with several ROOTs are not supported; "
                                 "expected one skeleton per file")
            expect("OFFSET")
            off = floats(3)
            need()
            chans: tuple[str, ...] = ()
            if tok[i] == "CHANNELS":
                i += 1
                need()
                try:
                    k = int(tok[i])
                except ValueError:
                    raise InputError(f"malformed BVH: expected a channel count, found {tok[i]!r}") from None
                i += 1
                need(k)
                chans = tuple(tok[i:i + k])
                bad = [c for c in chans if c not in _VALID_CHANNELS]
                if bad:
                    raise InputError(f"joint {name!r}: unknown channel(s) {bad}; expected "
                                     f"X/Y/Z + position/rotation")
                i += k
            names.append(name)
            parents.append(parent)
            offsets.append(off)
            channels.append(chans)
            stack.append(len(names) - 1)
        elif word == "End":
            if not stack:
                raise InputError("malformed BVH: End Site outside a joint")
            need(2)
            i += 2  # "End Site"
            expect("{")
            expect("OFFSET")
            off = floats(3)
            expect("}")
            names.append(f"{names[stack[-1]]}_end")
            parents.append(stack[-1])
            offsets.append(off)
            channels.append(())
        elif word == "}":
            if not stack:
                raise InputError("malformed BVH: unbalanced '}' in HIERARCHY")
            stack.pop()
            i += 1
        else:
            raise InputError(f"malformed BVH: unexpected token {word!r} in HIERARCHY")
    if stack:
        raise InputError("malformed BVH: HIERARCHY has unclosed '{' (truncated file?)")
    if not names:
        raise InputError("BVH has no joints")
    if i >= n:
        raise InputError("BVH has no MOTION section; expected 'MOTION', 'Frames: N', "
                         "'Frame Time: dt' after the HIERARCHY")
    i += 1
    expect("Frames:")
    need()
    try:
        n_frames = int(tok[i])
    except ValueError:
        raise InputError(f"malformed BVH: expected a frame count after 'Frames:', found {tok[i]!r}") from None
    i += 1
    expect("Frame")
    expect("Time:")
    frame_time = floats(1)[0]
    if not frame_time > 0:
        raise InputError(f"BVH Frame Time must be > 0, found {frame_time}")
    n_ch = sum(len(c) for c in channels)
    values = tok[i:]
    expected = n_frames * n_ch
    if len(values) < expected:
        raise InputError(f"BVH motion is truncated: header says {n_frames} frames x {n_ch} channels "
                         f"= {expected} values, found {len(values)}")
    if len(values) > expected:
        raise InputError(f"BVH motion has extra values: header says {n_frames} frames x {n_ch} "
                         f"channels = {expected} values, found {len(values)}")
    try:
        motion = np.array(values, dtype=np.float64).reshape(n_frames, n_ch)
    except ValueError as e:
        raise InputError(f"BVH motion contains a non-number: {e}") from None
    if not np.all(np.isfinite(motion)):
        raise InputError("BVH motion contains NaN or infinite values")
    return BvhMotion(tuple(names), tuple(parents), np.asarray(offsets, dtype=np.float64),
                     tuple(channels), float(frame_time), motion)


def axis_rotation(axis: int, angle_rad: np.ndarray) -> np.ndarray:
    """Rotation matrices about one coordinate axis, ``(..., 3, 3)`` from angles ``(...)``."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    out = np.zeros(np.shape(angle_rad) + (3, 3))
    a, b = [(1, 2), (2, 0), (0, 1)][axis]
    out[..., axis, axis] = 1.0
    out[..., a, a] = c
    out[..., b, b] = c
    out[..., a, b] = -s
    out[..., b, a] = s
    return out


def local_transforms(motion: BvhMotion) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame local rotations ``(F, J, 3, 3)`` and translations ``(F, J, 3)`` (file units)."""
    F, J = motion.num_frames, motion.num_joints
    rot = np.broadcast_to(np.eye(3), (F, J, 3, 3)).copy()
    trans = np.broadcast_to(motion.offsets, (F, J, 3)).copy()
    starts = motion.channel_start
    for j, chans in enumerate(motion.channels):
        R = None
        for k, ch in enumerate(chans):
            col = motion.motion[:, starts[j] + k]
            ax = _AXES[ch[0]]
            if ch.endswith("position"):
                trans[:, j, ax] = col
            else:
                Rk = axis_rotation(ax, np.deg2rad(col))
                R = Rk if R is None else R @ Rk
        if R is not None:
            rot[:, j] = R
    return rot, trans


def forward_kinematics_full(motion: BvhMotion) -> tuple[np.ndarray, np.ndarray]:
    """Global joint positions ``(F, J, 3)`` (file units) and global rotations ``(F, J, 3, 3)``."""
    rot, trans = local_transforms(motion)
    F, J = motion.num_frames, motion.num_joints
    g_rot = np.empty((F, J, 3, 3))
    g_pos = np.empty((F, J, 3))
    for j, p in enumerate(motion.parents):
        if p < 0:
            g_rot[:, j] = rot[:, j]
            g_pos[:, j] = trans[:, j]
        else:
            g_rot[:, j] = g_rot[:, p] @ rot[:, j]
            g_pos[:, j] = g_pos[:, p] + np.einsum("fab,fb->fa", g_rot[:, p], trans[:, j])
    return g_pos, g_rot


def forward_kinematics(motion: BvhMotion) -> np.ndarray:
    """Global joint positions ``(F, J, 3)`` in file units (End Sites included)."""
    return forward_kinematics_full(motion)[0]


def global_rotations(motion: BvhMotion) -> np.ndarray:
    """Global joint rotation matrices ``(F, J, 3, 3)`` (local -> world)."""
    return forward_kinematics_full(motion)[1]
