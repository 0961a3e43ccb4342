"""Load and save the per-clip result JSON written by ``sasmamba lift`` (schema "sasmamba-result" v1).

Layout (all arrays per track, ``n`` = frames of that track):

* ``source``: ``{path, fps, frame_count, width, height, rotation}`` of the input video.
* ``units``: ``joints_3d`` and ``root_3d`` in metres, ``keypoints_2d`` in pixels.
* ``axes``: camera frame, x right, y down, z forward (away from the camera).
* ``skeleton``: ``{name: "h36m17", joint_names, parents}``.
* ``tracks``: ``track_id``, ``frames (n,)`` consecutive video frame indices,
  ``keypoints_2d (n,17,3)`` H36M px + conf, ``keypoints_2d_coco (n,17,3)``,
  ``joints_3d (n,17,3)`` root-relative metres (camera axes), ``root_3d (n,3)`` camera metres,
  ``confidence (n,17)``, ``interpolated (n,)`` bool.

Every other top-level key (``model``, ``detector``, ``settings``, ...) and every extra track key is
kept unchanged in ``Result.meta`` / ``Track.extra`` and written back by :func:`save_result`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..skeleton import H36M
from . import atomic

SCHEMA = "sasmamba-result"
SCHEMA_VERSION = 1
NUM_JOINTS = 17


@dataclass(frozen=True)
class Source:
    """The input video: ``fps`` frames per second, ``frame_count`` frames, size in pixels."""

    path: str
    fps: float
    frame_count: int
    width: int
    height: int
    rotation: int = 0

    def to_dict(self) -> dict:
        return {"path": self.path, "fps": self.fps, "frame_count": self.frame_count,
                "width": self.width, "height": self.height, "rotation": self.rotation}


@dataclass(frozen=True, eq=False)
class Track:
    """One tracked person.

    frames:            (n,) int64 video frame indices, consecutive (frames[i+1] == frames[i] + 1)
    keypoints_2d:      (n, 17, 3) H36M x, y in pixels + confidence
    keypoints_2d_coco: (n, 17, 3) COCO x, y in pixels + confidence, or None
    joints_3d:         (n, 17, 3) metres, root-relative, camera axes (x right, y down, z forward)
    root_3d:           (n, 3) metres, pelvis position in camera coordinates
    confidence:        (n, 17) per-joint confidence in [0, 1]
    interpolated:      (n,) bool, True where the frame was filled in (no detection)
    extra:             other keys of the track object, written back unchanged
    """

    track_id: int
    frames: np.ndarray
    keypoints_2d: np.ndarray
    keypoints_2d_coco: np.ndarray | None
    joints_3d: np.ndarray
    root_3d: np.ndarray
    confidence: np.ndarray
    interpolated: np.ndarray
    extra: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    def positions_camera_m(self) -> np.ndarray:
        """(n, 17, 3) absolute joint positions in camera metres (``root_3d + joints_3d``)."""
        return self.root_3d[:, None, :] + self.joints_3d

    def to_dict(self) -> dict:
        d = {"track_id": int(self.track_id), "frames": self.frames.tolist(),
             "keypoints_2d": _kp_to_json(self.keypoints_2d)}
        if self.keypoints_2d_coco is not None:
            d["keypoints_2d_coco"] = _kp_to_json(self.keypoints_2d_coco)
        d.update({"joints_3d": self.joints_3d.tolist(), "root_3d": self.root_3d.tolist(),
                  "confidence": self.confidence.tolist(),
                  "interpolated": [bool(v) for v in self.interpolated]})
        d.update(self.extra)
        return d


@dataclass(frozen=True, eq=False)
class Result:
    """A whole clip: its source video, the skeleton (H36M-17) and the tracks.

    meta: every other top-level key of the JSON (schema, units, axes, model, detector, settings...)
    """

    source: Source
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    tracks: tuple[Track, ...]
    meta: dict = field(default_factory=dict)

    def with_tracks(self, tracks, **meta_updates) -> "Result":
        return replace(self, tracks=tuple(tracks), meta={**self.meta, **meta_updates})

    def to_dict(self) -> dict:
        d = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION}
        d.update({k: v for k, v in self.meta.items() if k not in ("schema", "schema_version")})
        d["source"] = self.source.to_dict()
        skel = dict(self.meta.get("skeleton", {}))
        skel.update({"name": skel.get("name", "h36m17"), "joint_names": list(self.joint_names),
                     "parents": list(self.parents)})
        d["skeleton"] = skel
        d["tracks"] = [t.to_dict() for t in self.tracks]
        return d


def _nan_to_none(a: np.ndarray) -> list:
    return [[[None if not math.isfinite(v) else v for v in row] for row in frame] for frame in a.tolist()]


def _kp_to_json(kp: np.ndarray) -> list:
    """2D keypoints ``(n, 17, 3)`` -> nested lists; a missing joint (confidence <= 0) is written as
    ``[null, null, 0]`` (the loader keeps zeros in memory; the file must never show (0, 0))."""
    a = np.array(kp, dtype=np.float64, copy=True)
    missing = ~(np.nan_to_num(a[..., 2]) > 0) | ~np.all(np.isfinite(a[..., :2]), axis=-1)
    a[missing, :2] = np.nan
    a[missing, 2] = 0.0
    return _nan_to_none(a)


def _err(where: str, expected: str, found: Any, fix: str = "") -> InputError:
    msg = f"{where}: expected {expected}, found {found}"
    return InputError(msg + (f". {fix}" if fix else ""))


def _array(obj: dict, key: str, shape: tuple, where: str, *, dtype=np.float64, optional=False):
    if key not in obj or obj[key] is None:
        if optional:
            return None
        raise _err(where, f"a '{key}' field", "none", "Re-run `sasmamba lift` to write a complete result.")
    try:
        a = np.array(obj[key], dtype=dtype)   # JSON null -> NaN for floats
    except (ValueError, TypeError) as e:
        raise _err(f"{where}.{key}", "a numeric array", f"unparseable data ({e})") from e
    if a.ndim != len(shape) or any(s is not None and s != f for s, f in zip(shape, a.shape)):
        exp = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ")"
        raise _err(f"{where}.{key}", f"shape {exp}", f"shape {a.shape}")
    return a


def _check_finite(a: np.ndarray, where: str) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        idx = np.argwhere(bad)[0]
        raise _err(where, "finite numbers", f"NaN/inf/null at index {tuple(int(i) for i in idx)}",
                   "The 3D of every frame must be filled in; re-run `sasmamba lift` (it interpolates gaps).")


def _parse_track(obj: dict, i: int) -> Track:
    where = f"tracks[{i}]"
    if not isinstance(obj, dict):
        raise _err(where, "an object", type(obj).__name__)
    if "track_id" not in obj:
        raise _err(where, "a 'track_id' field", "none")
    frames = _array(obj, "frames", (None,), where, dtype=np.int64)
    n = frames.shape[0]
    if n == 0:
        raise _err(f"{where}.frames", "at least one frame", "an empty track")
    if n > 1 and not np.all(np.diff(frames) == 1):
        k = int(np.argmax(np.diff(frames) != 1))
        raise _err(f"{where}.frames", "consecutive frame indices",
                   f"a jump from {frames[k]} to {frames[k + 1]}",
                   "Tracks must cover every frame between their first and last (gaps interpolated).")
    kp2d = _array(obj, "keypoints_2d", (n, NUM_JOINTS, 3), where)
    coco = _array(obj, "keypoints_2d_coco", (n, NUM_JOINTS, 3), where, optional=True)
    j3d = _array(obj, "joints_3d", (n, NUM_JOINTS, 3), where)
    root = _array(obj, "root_3d", (n, 3), where)
    conf = _array(obj, "confidence", (n, NUM_JOINTS), where)
    interp = _array(obj, "interpolated", (n,), where, dtype=bool)
    for name, a in (("joints_3d", j3d), ("root_3d", root), ("confidence", conf)):
        _check_finite(a, f"{where}.{name}")
    for name, a in (("keypoints_2d", kp2d), ("keypoints_2d_coco", coco)):
        if a is None:
            continue
        missing = ~np.all(np.isfinite(a[..., :2]), axis=-1)
        if np.any(missing & (np.nan_to_num(a[..., 2]) > 0)):
            idx = np.argwhere(missing & (np.nan_to_num(a[..., 2]) > 0))[0]
            raise _err(f"{where}.{name}", "coordinates for every joint with confidence > 0",
                       f"NaN/null at (frame {int(idx[0])}, joint {int(idx[1])})")
        a[missing] = 0.0   # missing 2D joints: confidence is the mask, coordinates are zeros
    known = {"track_id", "frames", "keypoints_2d", "keypoints_2d_coco", "joints_3d", "root_3d",
             "confidence", "interpolated"}
    return Track(int(obj["track_id"]), frames, kp2d, coco, j3d, root, conf, interp,
                 {k: v for k, v in obj.items() if k not in known})


def result_from_dict(d: dict, where: str = "result") -> Result:
    """Validate a parsed result JSON object and build a :class:`Result`."""
    if not isinstance(d, dict):
        raise _err(where, "a JSON object", type(d).__name__)
    if d.get("schema") != SCHEMA:
        raise _err(f"{where}.schema", repr(SCHEMA), repr(d.get("schema")),
                   "This file is not a sasmamba result; pass the JSON written by `sasmamba lift`.")
    if d.get("schema_version") != SCHEMA_VERSION:
        raise _err(f"{where}.schema_version", str(SCHEMA_VERSION), repr(d.get("schema_version")),
                   "Re-run `sasmamba lift` with this version of sasmamba, or upgrade sasmamba.")
    units = d.get("units", {})
    for key in ("joints_3d", "root_3d"):
        if units.get(key, "m") != "m":
            raise _err(f"{where}.units.{key}", "'m'", repr(units.get(key)))
    src = d.get("source")
    if not isinstance(src, dict):
        raise _err(f"{where}.source", "an object {path, fps, frame_count, width, height}", repr(src))
    try:
        source = Source(str(src.get("path", "")), float(src["fps"]), int(src["frame_count"]),
                        int(src["width"]), int(src["height"]), int(src.get("rotation", 0) or 0))
    except (KeyError, TypeError, ValueError) as e:
        raise _err(f"{where}.source", "fps, frame_count, width, height", f"{src!r} ({e})") from e
    if not (math.isfinite(source.fps) and source.fps > 0):
        raise _err(f"{where}.source.fps", "a positive frame rate", source.fps)
    skel = d.get("skeleton", {})
    names = tuple(skel.get("joint_names", ()))
    if names != H36M.names:
        raise _err(f"{where}.skeleton.joint_names", f"the H36M-17 joints {list(H36M.names)}", list(names))
    parents = tuple(int(p) for p in skel.get("parents", H36M.parents))
    if parents != H36M.parents:
        raise _err(f"{where}.skeleton.parents", list(H36M.parents), list(parents))
    raw_tracks = d.get("tracks")
    if not isinstance(raw_tracks, list):
        raise _err(f"{where}.tracks", "a list", type(raw_tracks).__name__)
    tracks = tuple(_parse_track(t, i) for i, t in enumerate(raw_tracks))
    ids = [t.track_id for t in tracks]
    if len(set(ids)) != len(ids):
        raise _err(f"{where}.tracks", "unique track ids", ids)
    meta = {k: v for k, v in d.items() if k not in ("source", "tracks")}
    return Result(source, names, parents, tracks, meta)


def load_result(path: str | Path) -> Result:
    """Read and validate a result JSON. Raises :class:`InputError` with what was expected."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: expected a result JSON file, found nothing there. "
                         "Create one with `sasmamba lift VIDEO`.")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: expected a JSON result file, found unreadable data ({e})") from e
    return result_from_dict(d, where=str(path))


def as_result(obj) -> Result:
    """Accept a :class:`Result`, a result dict, a path to a result JSON, or the lift pipeline's
    in-memory result (an object with ``header`` and ``tracks``, converted through its dict form)."""
    if isinstance(obj, Result):
        return obj
    if isinstance(obj, dict):
        return result_from_dict(obj)
    if isinstance(obj, (str, Path)):
        return load_result(obj)
    if hasattr(obj, "header") and hasattr(obj, "tracks"):
        from ..pipeline.result import result_to_dict

        return result_from_dict(result_to_dict(obj))
    raise InputError(f"expected a sasmamba result (Result, dict or JSON path), found {type(obj).__name__}")


def save_result(result: Result, path: str | Path) -> Path:
    """Write ``result`` as JSON atomically (NaN in 2D keypoints become ``null``)."""
    text = json.dumps(result.to_dict(), allow_nan=False, separators=(",", ":"))
    return atomic.write_text(path, text + "\n")
