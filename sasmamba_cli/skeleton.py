"""Skeleton tables (loaded from ``data/skeletons.json``) and the one shared 2D preparation.

Every path that feeds the lifter - training on virtual cameras, evaluation, ``sasmamba lift`` on
video, ``--keypoints`` re-lifting - goes through :func:`coco_to_h36m` and
:func:`normalize_screen`, so the 2D the model is trained on is built exactly like the 2D it sees.

Conventions
-----------
* ``kp_px``: pixel coordinates, x right, y down, origin at the image's top-left corner.
* ``kp_norm``: screen-normalised, both axes divided by the image width
  (``x' = 2x/w - 1``, ``y' = 2y/w - h/w``) so the aspect ratio is kept.
* Confidence is a *mask*: a joint with confidence <= 0 (or non-finite coordinates) is missing.
  Missing joints enter the lifter as ``(0, 0, conf=0)``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    name: str
    names: tuple[str, ...]
    parents: tuple[int, ...]          # -1 for the root; empty when the layout has no hierarchy
    left: tuple[int, ...]
    right: tuple[int, ...]

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def flip_permutation(self) -> np.ndarray:
        """Index array that swaps left/right joints."""
        perm = np.arange(self.num_joints)
        perm[list(self.left)] = self.right
        perm[list(self.right)] = self.left
        return perm

    def index(self, name: str) -> int:
        return self.names.index(name)


@lru_cache(maxsize=1)
def _tables() -> dict:
    return json.loads(resources.files("sasmamba_cli.data").joinpath("skeletons.json").read_text())


@lru_cache(maxsize=None)
def skeleton(name: str) -> Skeleton:
    t = _tables()
    if name not in t or "names" not in t[name]:
        raise KeyError(f"unknown skeleton {name!r}; expected one of {[k for k in t if 'names' in t[k]]}")
    d = t[name]
    return Skeleton(name, tuple(d["names"]), tuple(d.get("parents", ())), tuple(d["left"]), tuple(d["right"]))


H36M = skeleton("h36m17")
COCO = skeleton("coco17")


@lru_cache(maxsize=1)
def coco_to_h36m_matrix() -> np.ndarray:
    """(17 H36M, 17 COCO) averaging matrix built from the table in ``skeletons.json``."""
    table = _tables()["coco17_to_h36m17"]
    m = np.zeros((H36M.num_joints, COCO.num_joints))
    for i, name in enumerate(H36M.names):
        src = [COCO.index(s) for s in table[name]]
        m[i, src] = 1.0 / len(src)
    return m


def coco_to_h36m(kp: np.ndarray) -> np.ndarray:
    """COCO-17 ``(..., 17, 3)`` (x, y, conf) -> H36M-17 ``(..., 17, 3)``.

    Works for pixel or normalised coordinates and for 3D points ``(..., 17, 3 or 4)`` where the
    last channel is confidence. A derived joint is valid only when all of its sources are valid;
    its confidence is the minimum of theirs. Invalid joints come out as zeros with confidence 0.
    """
    kp = np.asarray(kp, dtype=np.float64)
    if kp.shape[-2] != COCO.num_joints:
        raise ValueError(f"expected COCO-17 keypoints (..., 17, C), found shape {kp.shape}")
    xy, conf = kp[..., :-1], kp[..., -1]
    valid = (conf > 0) & np.all(np.isfinite(xy), axis=-1) & np.isfinite(conf)
    xy = np.where(valid[..., None], xy, 0.0)
    m = coco_to_h36m_matrix()
    out_xy = np.einsum("hc,...cd->...hd", m, xy)
    src = m > 0                                                   # (17, 17)
    conf_v = np.where(valid, conf, np.inf)
    out_conf = np.min(np.where(src, conf_v[..., None, :], np.inf), axis=-1)
    out_valid = np.all(np.where(src, valid[..., None, :], True), axis=-1)
    out_conf = np.where(out_valid, out_conf, 0.0)
    out_xy = np.where(out_valid[..., None], out_xy, 0.0)
    return np.concatenate([out_xy, out_conf[..., None]], axis=-1)


def normalize_screen(xy_px: np.ndarray, width: float, height: float) -> np.ndarray:
    """Pixels -> screen-normalised (both axes divided by width, aspect kept). ``(..., 2)``."""
    xy = np.asarray(xy_px, dtype=np.float64)
    out = np.empty_like(xy)
    out[..., 0] = xy[..., 0] / width * 2 - 1
    out[..., 1] = xy[..., 1] / width * 2 - height / width
    return out


def lifter_input(kp_h36m_px: np.ndarray, width: float, height: float, in_chans: int = 2) -> np.ndarray:
    """H36M ``(T, 17, 3)`` pixels + conf -> lifter input ``(T, 17, in_chans)`` float32.

    Missing joints (conf <= 0) become (0, 0[, 0]). With ``in_chans == 3`` the confidence is the
    third channel.
    """
    kp = np.asarray(kp_h36m_px, dtype=np.float64)
    valid = kp[..., 2] > 0
    xy = np.where(valid[..., None], normalize_screen(kp[..., :2], width, height), 0.0)
    if in_chans == 2:
        return xy.astype(np.float32)
    if in_chans == 3:
        return np.concatenate([xy, np.where(valid, kp[..., 2], 0.0)[..., None]], -1).astype(np.float32)
    raise ValueError(f"expected in_chans 2 or 3, found {in_chans}")


def flip_h36m(x: np.ndarray) -> np.ndarray:
    """Mirror H36M data ``(..., 17, C)``: negate x and swap left/right joints (normalised or 3D)."""
    out = np.array(x, copy=True)
    out[..., 0] = -out[..., 0]
    return out[..., H36M.flip_permutation, :]
