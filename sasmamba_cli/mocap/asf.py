"""CMU / Acclaim ASF (skeleton) + AMC (motion) reader and forward kinematics.

Acclaim conventions used (as in the CMU database):

* ``axis ax ay az ORDER`` gives the bone's local frame ``C`` relative to the world at rest:
  the rotations are applied about fixed axes in ORDER (``XYZ``: X first), i.e. with column
  vectors ``C = R_Z @ R_Y @ R_X`` for ``XYZ``.
* The AMC values of a bone are its ``dof`` rotations, applied in the listed order about the
  bone's local axes the same way (``rx ry rz`` -> ``M = R_z @ R_y @ R_x``); missing dofs are 0.
* Global rotation ``G_bone = G_parent @ C @ M @ C^-1``; the bone's end point is
  ``end_parent + length * G_bone @ direction`` (direction is in world axes at rest).
* Root: ``order`` lists the AMC root channels (``TX TY TZ RX RY RZ``); translation
  ``position + (TX, TY, TZ)``; rotation from ``RX RY RZ`` in that order, frame ``axis``.
* Lengths are in ASF length units (CMU: ``x 56.444 = mm``; see ``data/rigs/cmu_asf.json``).
  ``:units angle`` may be ``deg`` (default) or ``rad``.

Joint *positions* are named after the bone that *ends* there (``lfemur`` = knee), plus ``root``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..export.bvh_read import axis_rotation

_AX = {"x": 0, "y": 1, "z": 2}


@dataclass(frozen=True)
class AsfBone:
    """One ASF bone: unit ``direction`` (3,) in world axes at rest, ``length`` (ASF units),
    ``axis`` (3,) degrees with ``axis_order`` (e.g. "XYZ"), ``dof`` e.g. ("rx", "ry", "rz")."""

    name: str
    direction: np.ndarray
    length: float
    axis: np.ndarray
    axis_order: str
    dof: tuple[str, ...]


@dataclass(frozen=True)
class AsfSkeleton:
    """Parsed ASF. ``names[0] == "root"``; ``parents`` (J,) with -1 for the root; ``bones``
    aligned with ``names`` (``bones[0]`` is None); ``root_order`` e.g. ("TX", ..., "RZ");
    ``root_axis`` e.g. "XYZ"; ``root_position``/``root_orientation`` (3,); ``length_unit`` the
    ``:units length`` value; ``angle_deg`` True for degrees."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    bones: tuple[AsfBone | None, ...]
    root_order: tuple[str, ...]
    root_axis: str
    root_position: np.ndarray
    root_orientation: np.ndarray
    length_unit: float
    angle_deg: bool

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"bone {name!r} not in this ASF; bones are {list(self.names)}") from None


@dataclass(frozen=True)
class AmcMotion:
    """Parsed AMC: ``values[name]`` is ``(F, n_dof)`` float64 per bone present in the file."""

    num_frames: int
    values: dict


def _read_text(source) -> str:
    if isinstance(source, str) and ("\n" in source or source.lstrip().startswith(":")):
        return source
    try:
        return Path(source).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise InputError(f"cannot read {source}: {e}") from e


def read_asf(source: str | os.PathLike) -> AsfSkeleton:
    """Read an ASF file (path) or ASF text."""
    text = _read_text(source)
    lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    section = None
    length_unit, angle_deg = 1.0, True
    root_order, root_axis = ("TX", "TY", "TZ", "RX", "RY", "RZ"), "XYZ"
    root_pos, root_ori = np.zeros(3), np.zeros(3)
    bones: dict[str, AsfBone] = {}
    cur: dict | None = None
    hierarchy: list[list[str]] = []
    try:
        for ln in lines:
            if ln.startswith(":"):
                parts = ln.split()
                section = parts[0][1:]
                continue
            w = ln.split()
            if section == "units":
                if w[0] == "length":
                    length_unit = float(w[1])
                elif w[0] == "angle":
                    angle_deg = w[1].lower().startswith("deg")
            elif section == "root":
                if w[0] == "order":
                    root_order = tuple(x.upper() for x in w[1:])
                elif w[0] == "axis":
                    root_axis = w[1].upper()
                elif w[0] == "position":
                    root_pos = np.array([float(x) for x in w[1:4]])
                elif w[0] == "orientation":
                    root_ori = np.array([float(x) for x in w[1:4]])
            elif section == "bonedata":
                if w[0] == "begin":
                    cur = {"dof": ()}
                elif w[0] == "end":
                    if cur is None or "name" not in cur:
                        raise InputError("ASF bone without a name")
                    bones[cur["name"]] = AsfBone(cur["name"], cur["direction"], cur["length"],
                                                 cur["axis"], cur["axis_order"], cur["dof"])
                    cur = None
                elif cur is not None:
                    if w[0] == "name":
                        cur["name"] = w[1]
                    elif w[0] == "direction":
                        d = np.array([float(x) for x in w[1:4]])
                        cur["direction"] = d / max(np.linalg.norm(d), 1e-12)
                    elif w[0] == "length":
                        cur["length"] = float(w[1])
                    elif w[0] == "axis":
                        cur["axis"] = np.array([float(x) for x in w[1:4]])
                        cur["axis_order"] = w[4].upper() if len(w) > 4 else "XYZ"
                    elif w[0] == "dof":
                        cur["dof"] = tuple(x.lower() for x in w[1:])
            elif section == "hierarchy":
                if w[0] in ("begin", "end"):
                    continue
                hierarchy.append(w)
    except (ValueError, IndexError, KeyError) as e:
        raise InputError(f"malformed ASF ({e}); expected Acclaim ASF sections :units :root "
                         f":bonedata :hierarchy") from None
    if not bones or not hierarchy:
        raise InputError("ASF has no :bonedata or no :hierarchy; expected an Acclaim skeleton file")
    names, parents = ["root"], [-1]
    children: dict[str, list[str]] = {}
    for w in hierarchy:
        children.setdefault(w[0], []).extend(w[1:])
    queue = ["root"]
    while queue:
        p = queue.pop(0)
        for c in children.get(p, []):
            if c not in bones:
                raise InputError(f"ASF hierarchy names bone {c!r} that has no :bonedata entry")
            names.append(c)
            parents.append(names.index(p))
            queue.append(c)
    return AsfSkeleton(tuple(names), tuple(parents), tuple([None] + [bones[n] for n in names[1:]]),
                       root_order, root_axis, root_pos, root_ori, length_unit, angle_deg)


def read_amc(source: str | os.PathLike) -> AmcMotion:
    """Read an AMC file (path) or AMC text: frame numbers followed by ``bone v1 v2 ...`` lines."""
    text = _read_text(source)
    frames: list[dict] = []
    try:
        for ln in text.splitlines():
            ln = ln.strip()
            if not ln or ln.startswith("#") or ln.startswith(":"):
                continue
            w = ln.split()
            if len(w) == 1 and w[0].isdigit():
                frames.append({})
                continue
            if not frames:
                raise InputError(f"AMC data before the first frame number: {ln!r}")
            frames[-1][w[0]] = [float(x) for x in w[1:]]
    except ValueError as e:
        raise InputError(f"malformed AMC: {e}") from None
    if not frames:
        raise InputError("AMC has no frames; expected a frame number line then 'bone values' lines")
    names = frames[0].keys()
    values = {}
    for n in names:
        rows = [f.get(n) for f in frames]
        if any(r is None or len(r) != len(rows[0]) for r in rows):
            # a truncated last frame is common: drop incomplete trailing frames
            ok = [i for i, r in enumerate(rows) if r is not None and len(r) == len(rows[0])]
            raise InputError(f"AMC bone {n!r}: expected {len(rows[0])} values in every frame, "
                             f"{len(rows) - len(ok)} frames differ (truncated file?)")
        values[n] = np.asarray(rows, dtype=np.float64)
    return AmcMotion(len(frames), values)


def _euler(angles_rad: np.ndarray, axes: str) -> np.ndarray:
    """Fixed-axis rotation: ``angles[..., k]`` about ``axes[k]`` applied in order -> ``(..., 3, 3)``."""
    R = None
    for k, a in enumerate(axes.lower()):
        Rk = axis_rotation(_AX[a], angles_rad[..., k])
        R = Rk if R is None else Rk @ R
    return R


def forward_kinematics_asf(skel: AsfSkeleton, amc: AmcMotion) -> tuple[np.ndarray, np.ndarray]:
    """Global positions ``(F, J, 3)`` (ASF length units; joint = end of the named bone, ``root``
    at the root) and global rotations ``(F, J, 3, 3)``."""
    F, J = amc.num_frames, len(skel.names)
    to_rad = np.pi / 180 if skel.angle_deg else 1.0
    if "root" not in amc.values:
        raise InputError("AMC has no 'root' line; expected one per frame")
    rv = amc.values["root"]
    if rv.shape[1] != len(skel.root_order):
        raise InputError(f"AMC root has {rv.shape[1]} values, ASF root order expects "
                         f"{len(skel.root_order)} ({' '.join(skel.root_order)})")
    trans = np.tile(skel.root_position, (F, 1))
    rot_vals, rot_axes = [], ""
    for k, ch in enumerate(skel.root_order):
        if ch.startswith("T"):
            trans[:, _AX[ch[1].lower()]] += rv[:, k]
        else:
            rot_vals.append(rv[:, k] * to_rad)
            rot_axes += ch[1]
    C0 = _euler(np.asarray(skel.root_orientation) * to_rad, skel.root_axis)
    M0 = _euler(np.stack(rot_vals, -1), rot_axes) if rot_vals else np.eye(3)
    g_rot = np.empty((F, J, 3, 3))
    g_pos = np.empty((F, J, 3))
    g_rot[:, 0] = C0 @ M0 @ C0.T
    g_pos[:, 0] = trans
    for j in range(1, J):
        b = skel.bones[j]
        C = _euler(np.deg2rad(b.axis) if skel.angle_deg else b.axis, b.axis_order)
        vals = amc.values.get(b.name)
        if b.dof and vals is not None:
            if vals.shape[1] != len(b.dof):
                raise InputError(f"AMC bone {b.name!r} has {vals.shape[1]} values, ASF dof expects "
                                 f"{len(b.dof)} ({' '.join(b.dof)})")
            M = _euler(vals * to_rad, "".join(d[1] for d in b.dof))
            local = C @ M @ C.T
        else:
            local = np.broadcast_to(np.eye(3), (F, 3, 3))
        p = skel.parents[j]
        g_rot[:, j] = g_rot[:, p] @ local
        g_pos[:, j] = g_pos[:, p] + b.length * (g_rot[:, j] @ b.direction)
    return g_pos, g_rot
