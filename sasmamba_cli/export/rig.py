"""The per-track BVH rig: a fixed, left/right-symmetric skeleton in a T-pose rest pose.

The rig rules (joint names, how each joint's orientation frame is built, leaf rules) are data in
``sasmamba_cli/data/bvh_rig.json``; :func:`rig_spec` loads them and :func:`fit_rig` measures one
track's skeleton from its joint positions.

Rig axes: Y up, the character faces +Z, its left is +X; lengths in centimetres.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from ..errors import InputError
from ..skeleton import H36M
from .geometry import axis_rotation, frame_from_vectors, normalize

MIN_BONE_CM = 1.0          # no zero-length bones: shorter medians are raised to this


@dataclass(frozen=True)
class FrameRule:
    """How one joint's orientation frame is built (see the ``_doc`` in bvh_rig.json)."""

    primary: object
    secondary: tuple                    # ((weight, expr), ...)
    rest_primary: np.ndarray            # (3,) unit
    rest_secondary: np.ndarray          # (3,) unit
    upright_from: tuple[str, str] | None


@dataclass(frozen=True)
class LeafRule:
    rule: str                           # "follow"
    end_site: np.ndarray                # (3,) unit direction in the T-pose
    end_site_scale: float               # End Site length / length of the bone parent -> leaf


@dataclass(frozen=True)
class RigSpec:
    names: dict                         # scheme -> {h36m joint name: BVH name}
    axes: dict                          # name -> vector expression
    frames: dict                        # joint index -> FrameRule
    leaves: dict                        # joint index -> LeafRule
    orders: tuple[str, ...]             # per joint: the table's rotation channel order ("table";
                                        # "auto" starts from it, see bvh.joint_orders)

    def bvh_names(self, scheme: str) -> tuple[str, ...]:
        if scheme not in self.names:
            raise InputError(f"unknown joint naming {scheme!r}; expected one of {sorted(self.names)}")
        table = self.names[scheme]
        return tuple(table[n] for n in H36M.names)

    def channel_orders(self, order: str) -> tuple[str, ...]:
        """Per joint rotation order: the table's for ``"table"`` / ``"auto"``, else ``order`` for
        every joint (``"auto"`` may then swap some per clip: :func:`bvh.joint_orders`)."""
        return self.orders if order in ("auto", "table") else (order,) * len(H36M.names)


@lru_cache(maxsize=1)
def rig_spec() -> RigSpec:
    d = json.loads(resources.files("sasmamba_cli.data").joinpath("bvh_rig.json").read_text())
    frames = {}
    for name, f in d["frames"].items():
        frames[H36M.index(name)] = FrameRule(
            f["primary"], tuple((float(w), e) for w, e in f["secondary"]),
            normalize(np.asarray(f["rest_primary"], float)), normalize(np.asarray(f["rest_secondary"], float)),
            tuple(f["upright_from"]) if "upright_from" in f else None)
    leaves = {H36M.index(n): LeafRule(v["rule"], normalize(np.asarray(v["end_site"], float)),
                                      float(v["end_site_scale"])) for n, v in d["leaves"].items()}
    children = children_of(H36M.parents)
    for j in range(len(H36M.names)):
        if bool(children[j]) == (j in leaves) or (children[j] and j not in frames):
            raise ValueError(f"bvh_rig.json: joint {H36M.names[j]} needs a frame rule if it has "
                             "children and a leaf rule otherwise")
    table = d["channel_orders"]
    orders = tuple(table.get(n, table["default"]) for n in H36M.names)
    return RigSpec(d["names"], d["axes"], frames, leaves, orders)


def children_of(parents) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in parents]
    for j, p in enumerate(parents):
        if p >= 0:
            out[p].append(j)
    return out


def eval_vector(expr, pos: np.ndarray, spec: RigSpec) -> np.ndarray:
    """Evaluate a vector expression on joint positions ``pos (..., 17, 3)`` -> ``(..., 3)``."""
    if isinstance(expr, str):
        return normalize(eval_vector(spec.axes[expr], pos, spec))
    if isinstance(expr, dict):
        a, b = expr["cross"]
        c = np.cross(eval_vector(a, pos, spec), eval_vector(b, pos, spec))
        if "sign_like" in expr:
            ref = eval_vector(expr["sign_like"], pos, spec)
            c = np.where(np.sum(c * ref, axis=-1, keepdims=True) < 0, -c, c)
        return c
    a, b = expr
    return normalize(pos[..., H36M.index(b), :] - pos[..., H36M.index(a), :])


def joint_frames(pos: np.ndarray, spec: RigSpec) -> dict[int, np.ndarray]:
    """Per joint with children: its Gram-Schmidt frame ``(..., 3, 3)`` from positions ``(..., 17, 3)``."""
    out = {}
    for j, rule in spec.frames.items():
        prim = eval_vector(rule.primary, pos, spec)
        sec = sum(w * eval_vector(e, pos, spec) for w, e in rule.secondary)
        out[j] = frame_from_vectors(prim, sec)
    return out


@dataclass(frozen=True)
class Rig:
    """A fitted skeleton (centimetres, rig axes, T-pose).

    names:        (17,) BVH joint names, H36M order (also the BVH hierarchy / channel order)
    parents:      (17,) parent index, -1 for the root
    offsets:      (17, 3) cm, rest offset of each joint from its parent (row 0: zeros)
    end_sites:    (17, 3) cm, End Site offset of each leaf joint (zeros for other joints)
    rest_frames:  (17, 3, 3) Q_j: the joint's frame in the T-pose (identity for leaves);
                  a joint's global rotation is F_j(t) @ Q_j.T
    bone_lengths: (17,) cm, length of the bone parent -> joint (0 for the root)
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    end_sites: np.ndarray
    rest_frames: np.ndarray
    bone_lengths: np.ndarray

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def rest_positions(self) -> np.ndarray:
        """(17, 3) cm joint positions in the T-pose with the root at the origin."""
        p = np.zeros((self.num_joints, 3))
        for j, par in enumerate(self.parents):
            if par >= 0:
                p[j] = p[par] + self.offsets[j]
        return p


def _symmetric_pairs() -> list[tuple[int, int]]:
    return list(zip(H36M.left, H36M.right))


def bone_lengths_cm(pos_cm: np.ndarray) -> np.ndarray:
    """(T, 17) length of the bone parent -> joint per frame (column 0 zeros)."""
    par = np.array(H36M.parents)
    out = np.zeros(pos_cm.shape[:-1])
    out[:, 1:] = np.linalg.norm(pos_cm[:, 1:] - pos_cm[:, par[1:]], axis=-1)
    return out


def fit_rig(pos_cm: np.ndarray, confident: np.ndarray | None = None, *, naming: str = "mixamo",
            spec: RigSpec | None = None) -> Rig:
    """Measure a fixed symmetric rig from joint positions.

    pos_cm:    (T, 17, 3) joint positions, centimetres, rig axes (Y up)
    confident: (T, 17) bool; bone lengths and rest offsets use the frames where both ends of a
               bone are confident (all frames when fewer than 3 such frames exist)
    """
    spec = spec or rig_spec()
    T, J = pos_cm.shape[:2]
    parents = np.array(H36M.parents)
    if confident is None:
        confident = np.ones((T, J), bool)
    lengths = bone_lengths_cm(pos_cm)
    med = np.zeros(J)
    for j in range(1, J):
        ok = confident[:, j] & confident[:, parents[j]]
        med[j] = np.median(lengths[ok, j] if ok.sum() >= 3 else lengths[:, j])
    for l, r in _symmetric_pairs():
        med[l] = med[r] = 0.5 * (med[l] + med[r])
    med[1:] = np.maximum(med[1:], MIN_BONE_CM)

    children = children_of(H36M.parents)
    frames = joint_frames(pos_cm, spec)
    mirror = {**{l: r for l, r in _symmetric_pairs()}, **{r: l for l, r in _symmetric_pairs()}}
    offsets = np.zeros((J, 3))
    rest_frames = np.tile(np.eye(3), (J, 1, 1))
    for j, rule in spec.frames.items():
        q = frame_from_vectors(rule.rest_primary, rule.rest_secondary)
        kids = children[j]
        if len(kids) == 1:
            offsets[kids[0]] = med[kids[0]] * rule.rest_primary
            rest_frames[j] = q
            continue
        ok = np.all(confident[:, [j, *kids]], axis=1)
        sel = ok if ok.sum() >= 3 else np.ones(T, bool)
        f = frames[j][sel]                                            # (t, 3, 3)
        if rule.upright_from is not None:
            a, b = (H36M.index(n) for n in rule.upright_from)
            d = np.median(np.einsum("tki,tk->ti", f, normalize(pos_cm[sel, b] - pos_cm[sel, a])), axis=0)
            q = q @ axis_rotation("X", np.arctan2(-d[2], d[1]))     # torso vertical in the T-pose
        rest_frames[j] = q
        local = {k: np.median(np.einsum("tki,tk->ti", f, pos_cm[sel, k] - pos_cm[sel, j]), axis=0)
                 for k in kids}
        for k in kids:
            o = q @ local[k]
            if k in mirror and mirror[k] in local:
                o2 = q @ local[mirror[k]]
                o = 0.5 * (o + o2 * np.array([-1.0, 1.0, 1.0]))
            elif k not in mirror:
                o = o * np.array([0.0, 1.0, 1.0])                     # midline child: x = 0
            offsets[k] = med[k] * normalize(o) if np.linalg.norm(o) > 1e-9 else med[k] * rule.rest_secondary
    end_sites = np.zeros((J, 3))
    for j, leaf in spec.leaves.items():
        end_sites[j] = leaf.end_site * leaf.end_site_scale * med[j]
    return Rig(spec.bvh_names(naming), tuple(H36M.parents), offsets, end_sites, rest_frames, med.copy())
