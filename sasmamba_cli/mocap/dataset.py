"""The mocap training dataset file (``.npz``): layout, load, save (atomic), merge, split.

Layout (``np.load(path, allow_pickle=False)`` reads every key):

* ``h36m_mm``    float32 (F_total, 17, 3) H36M-17 global joint positions, mm, Y-up world.
* ``coco_mm``    float32 (F_total, 17, 3) COCO-17 virtual keypoint positions, same frames/units.
* ``clip_start`` int64 (n_clips + 1,): clip k is rows ``clip_start[k]:clip_start[k+1]``.
* ``clip_id``, ``source``, ``subject``, ``group``, ``licence``: unicode (n_clips,).
* ``fps``        float64 scalar (frame rate of every clip).

A **paired** dataset (real 2D observations, e.g. Human3.6M's detections in one camera per clip;
``sasmamba data h36m-2d``) adds

* ``kp2d_px``    float32 (F_total, 17, 2) H36M-17 2D keypoints, pixels, origin top-left;
* ``image_wh``   int64 (n_clips, 2) image width and height per clip;

and then ``h36m_mm`` holds the joints in that clip's *camera* (mm, x right, y down, z forward;
``coco_mm`` is a copy, unused): training and evaluation take the 2D from the file instead of
virtual cameras (:func:`sasmamba_cli.training.observe.observe`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import InputError

META_KEYS = ("clip_id", "source", "subject", "group", "licence")
SPLIT_PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class Clip:
    """One clip: ``h36m_mm``/``coco_mm`` (T, 17, 3) float32 mm Y-up, and its metadata."""

    h36m_mm: np.ndarray
    coco_mm: np.ndarray
    clip_id: str
    source: str
    subject: str
    group: str
    licence: str


@dataclass(frozen=True)
class MocapDataset:
    """All clips concatenated (see the module docstring for shapes and units)."""

    h36m_mm: np.ndarray
    coco_mm: np.ndarray
    clip_start: np.ndarray
    clip_id: np.ndarray
    source: np.ndarray
    subject: np.ndarray
    group: np.ndarray
    licence: np.ndarray
    fps: float
    kp2d_px: np.ndarray | None = None      # paired datasets only (see the module docstring)
    image_wh: np.ndarray | None = None

    @property
    def paired(self) -> bool:
        return self.kp2d_px is not None

    @property
    def num_clips(self) -> int:
        return len(self.clip_id)

    @property
    def num_frames(self) -> int:
        return int(self.h36m_mm.shape[0])

    def clip_lengths(self) -> np.ndarray:
        return np.diff(self.clip_start)

    def clip(self, k: int) -> Clip:
        if not -self.num_clips <= k < self.num_clips:
            raise IndexError(f"clip {k} out of range; dataset has {self.num_clips} clips")
        k = k % self.num_clips
        a, b = int(self.clip_start[k]), int(self.clip_start[k + 1])
        return Clip(self.h36m_mm[a:b], self.coco_mm[a:b], *(str(getattr(self, m)[k]) for m in META_KEYS))


def from_clips(clips: list[Clip], fps: float) -> MocapDataset:
    """Concatenate clips into a dataset (float32 positions, unique clip ids required)."""
    ids = [c.clip_id for c in clips]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise InputError(f"clip ids must be unique, found duplicates {dup[:5]}")
    lengths = [c.h36m_mm.shape[0] for c in clips]
    start = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    def cat(attr):
        if not clips:
            return np.zeros((0, 17, 3), np.float32)
        return np.concatenate([getattr(c, attr) for c in clips]).astype(np.float32)
    meta = {m: np.array([getattr(c, m) for c in clips], dtype=np.str_) for m in META_KEYS}
    return MocapDataset(cat("h36m_mm"), cat("coco_mm"), start, fps=float(fps), **meta)


def save_dataset(ds: MocapDataset, path: str | os.PathLike) -> None:
    """Write the npz atomically (:mod:`sasmamba_cli.atomic`)."""
    extra = {"kp2d_px": ds.kp2d_px.astype(np.float32), "image_wh": ds.image_wh.astype(np.int64)} \
        if ds.paired else {}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, h36m_mm=ds.h36m_mm.astype(np.float32), coco_mm=ds.coco_mm.astype(np.float32),
                 clip_start=ds.clip_start.astype(np.int64), fps=np.float64(ds.fps),
                 **{m: np.asarray(getattr(ds, m), dtype=np.str_) for m in META_KEYS}, **extra)


def load_dataset(path: str | os.PathLike) -> MocapDataset:
    """Load a dataset npz written by :func:`save_dataset` (no pickle)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise InputError(f"cannot read dataset {path}: {e}") from e
    if magic != b"PK\x03\x04":                 # an .npz is a zip; anything else would get numpy's pickle hint
        raise InputError(f"{path} is not an .npz dataset (expected a file written by `sasmamba data build`)")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("h36m_mm", "coco_mm", "clip_start", "fps", *META_KEYS) if k not in z]
            if missing:
                raise InputError(f"{path}: not a sasmamba mocap dataset, missing keys {missing}; "
                                 f"build one with 'sasmamba data build'")
            d = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read dataset {path}: {e}") from e
    ds = MocapDataset(d["h36m_mm"], d["coco_mm"], d["clip_start"].astype(np.int64),
                      fps=float(d["fps"]), **{m: d[m] for m in META_KEYS},
                      kp2d_px=d.get("kp2d_px"), image_wh=d.get("image_wh"))
    n = ds.num_clips
    if ds.paired and (ds.kp2d_px.shape != (ds.num_frames, 17, 2) or ds.image_wh is None
                      or ds.image_wh.shape != (n, 2)):
        raise InputError(f"{path}: inconsistent paired dataset (kp2d_px "
                         f"{ds.kp2d_px.shape}, expected {(ds.num_frames, 17, 2)}; image_wh "
                         f"{None if ds.image_wh is None else ds.image_wh.shape}, expected {(n, 2)})")
    if ds.clip_start.shape != (n + 1,) or ds.clip_start[-1] != ds.num_frames or \
            ds.coco_mm.shape != ds.h36m_mm.shape or ds.h36m_mm.shape[1:] != (17, 3):
        raise InputError(f"{path}: inconsistent dataset (clips {n}, clip_start {ds.clip_start.shape}, "
                         f"h36m_mm {ds.h36m_mm.shape}, coco_mm {ds.coco_mm.shape})")
    return ds


def merge_datasets(parts: list[MocapDataset]) -> MocapDataset:
    """Concatenate datasets with the same fps (clip ids must stay unique)."""
    if not parts:
        raise InputError("nothing to merge: expected at least one dataset")
    if any(p.paired for p in parts):
        if len(parts) > 1:
            raise InputError("cannot merge a paired (real 2D) dataset with others: their clips are seen "
                             "through different inputs; train on one kind at a time")
        return parts[0]
    rates = {p.fps for p in parts}
    if len(rates) > 1:
        raise InputError(f"cannot merge datasets with different fps {sorted(rates)}; rebuild them "
                         f"with the same --fps")
    clips = [p.clip(k) for p in parts for k in range(p.num_clips)]
    return from_clips(clips, parts[0].fps)


def load_split(split_file: str | os.PathLike | None = None) -> dict:
    """Read a split JSON: a path, a bundled name (``v1``, ``h36m``: ``data/split_<name>.json``),
    or None for the committed ``data/split_v1.json``."""
    bundled = resources.files("sasmamba_cli.data")
    if split_file is None:
        text = bundled.joinpath("split_v1.json").read_text()
    elif not Path(split_file).is_file() and bundled.joinpath(f"split_{split_file}.json").is_file():
        text = bundled.joinpath(f"split_{split_file}.json").read_text()     # a bundled split by name
    else:
        try:
            text = Path(split_file).read_text()
        except OSError as e:
            raise InputError(f"cannot read split file {split_file}: {e}; expected a JSON path or a "
                             "bundled name (v1, h36m)") from e
    spec = json.loads(text)
    for part in ("val", "test"):
        spec.setdefault(part, {})
        spec[part].setdefault("groups", [])
        spec[part].setdefault("subjects", [])
    both = set(spec["val"]["groups"]) & set(spec["test"]["groups"])
    both |= set(spec["val"]["subjects"]) & set(spec["test"]["subjects"])
    if both:
        raise InputError(f"split file lists {sorted(both)} in both val and test")
    return spec


def clip_parts(ds: MocapDataset, split_file: str | os.PathLike | None = None) -> np.ndarray:
    """Part name per clip (``"train"``, ``"val"`` or ``"test"``), shape (n_clips,).

    A clip is held out when its ``group`` is listed, or its ``"source/subject"`` is listed under
    ``subjects``; test wins over val. Everything else is train."""
    spec = load_split(split_file)
    out = np.full(ds.num_clips, "train", dtype="<U5")
    for part in ("val", "test"):
        groups = set(spec[part]["groups"])
        subjects = set(spec[part]["subjects"])
        subj_key = np.char.add(np.char.add(ds.source.astype(str), "/"), ds.subject.astype(str))
        hit = np.isin(ds.group, list(groups)) | np.isin(subj_key, list(subjects))
        out[hit] = part
    return out


def split_indices(ds: MocapDataset, split_file: str | os.PathLike | None = None,
                  part: str = "train") -> np.ndarray:
    """Indices of the clips (int64, sorted) that belong to ``part`` ("train", "val", "test")."""
    if part not in SPLIT_PARTS:
        raise ValueError(f"expected part in {SPLIT_PARTS}, found {part!r}")
    return np.flatnonzero(clip_parts(ds, split_file) == part).astype(np.int64)
