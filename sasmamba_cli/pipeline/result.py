"""The one result model: per-clip dataclasses, their dict / JSON form, the one reader, and the
NPZ / CSV writers (schema ``sasmamba-result`` v1).

Everything that holds a lift result in memory uses :class:`ClipResult` / :class:`TrackResult`:
the pipeline makes them, every exporter (JSON, NPZ, CSV, BVH, ``sasmamba export``), the render
and the FK-consistent stage take them, and :func:`result_from_dict` / :func:`load_result` (the one
reader, validating, with messages that say what was expected) make them from a JSON written
before. The JSON Schema is ``sasmamba_cli/data/result_schema_v1.json``; docs/output_format.md
explains every field. Missing 2D coordinates are NaN in memory (with confidence 0), ``null`` in
JSON, NaN in NPZ and empty cells in CSV. Every write is atomic (temporary file in the same folder +
``os.replace``).
"""
from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path, write_bytes, write_pieces
from ..errors import InputError
from ..skeleton import H36M

SCHEMA = "sasmamba-result"
SCHEMA_VERSION = 1
NUM_JOINTS = 17
AXES = {"frame": "camera", "x": "right", "y": "down", "z": "forward", "origin": "camera centre",
        "handedness": "right-handed"}
UNITS = {"joints_3d": "m", "root_3d": "m", "keypoints_2d": "px", "keypoints_2d_coco": "px", "boxes_2d": "px",
         "time": "s"}


@dataclass(frozen=True)
class TrackResult:
    """One person (n consecutive frames).

    frames: (n,) int video frame indices; keypoints_2d_px: (n, 17, 3) H36M x, y px + conf (lifter
    input; missing: NaN, conf 0); keypoints_2d_coco_px: (n, 17, 3) detector COCO-17 x, y px + conf;
    boxes_px: (n, 4) x1, y1, x2, y2; joints_3d_m: (n, 17, 3) root-relative metres, camera axes;
    root_3d_m: (n, 3) pelvis in camera metres; confidence: (n, 17) H36M 2D confidence per joint;
    interpolated: (n,) bool, frame bridged across a detection gap; scale: metric factor applied to
    the lifter output; keypoints_interpolated / keypoints_coco_interpolated: (n, 17) bool, True
    where that 2D joint (H36M / COCO order) was not detected but interpolated across a gap (all
    joints of a bridged frame; an H36M joint when any of its COCO sources was); None = unknown
    (results written before these masks existed).
    """

    track_id: int
    frames: np.ndarray
    keypoints_2d_px: np.ndarray
    keypoints_2d_coco_px: np.ndarray
    boxes_px: np.ndarray
    joints_3d_m: np.ndarray
    root_3d_m: np.ndarray
    confidence: np.ndarray
    interpolated: np.ndarray
    scale: float
    keypoints_interpolated: np.ndarray | None = None
    keypoints_coco_interpolated: np.ndarray | None = None

    def joint_interpolated(self) -> np.ndarray:
        """(n, 17) bool H36M mask: ``keypoints_interpolated``, or the per-frame flag when unknown."""
        if self.keypoints_interpolated is not None:
            return np.asarray(self.keypoints_interpolated, bool)
        return np.repeat(np.asarray(self.interpolated, bool)[:, None], 17, axis=1)

    @property
    def length(self) -> int:
        """Number of frames ``n``."""
        return int(self.frames.shape[0])

    def positions_camera_m(self) -> np.ndarray:
        """(n, 17, 3) absolute joint positions in camera metres (``root_3d_m + joints_3d_m``)."""
        return np.asarray(self.root_3d_m, np.float64)[:, None, :] + np.asarray(self.joints_3d_m, np.float64)


@dataclass(frozen=True)
class Source:
    """The input a result was lifted from (the header's ``source`` block): ``path`` as given,
    ``fps`` frames per second, ``frame_count`` frames of the whole input, ``width`` x ``height``
    pixels as displayed, ``rotation`` degrees of the container's rotation metadata (applied)."""

    path: str
    fps: float
    frame_count: int
    width: int
    height: int
    rotation: int = 0

    @classmethod
    def from_header(cls, src: dict) -> "Source":
        """The header's ``source`` block -> :class:`Source` (KeyError / TypeError / ValueError when
        a field is missing or not a number)."""
        return cls(str(src.get("path", "")), float(src["fps"]), int(src["frame_count"]), int(src["width"]),
                   int(src["height"]), int(src.get("rotation", 0) or 0))


@dataclass(frozen=True)
class ClipResult:
    """Everything written for one clip; ``header`` holds the JSON's top-level fields other than
    ``tracks``, in file order (``schema``, ``source``, ``units``, ``model``, ``settings``, ...)."""

    header: dict
    tracks: list[TrackResult] = field(default_factory=list)

    @property
    def fps(self) -> float:
        """Frames per second of the input (``source.fps``)."""
        return float(self.header["source"]["fps"])

    @property
    def source(self) -> Source:
        """The header's ``source`` block as a :class:`Source`."""
        return Source.from_header(self.header["source"])

    def to_dict(self) -> dict:
        """The JSON form (:func:`result_to_dict`)."""
        return result_to_dict(self)

    def with_tracks(self, tracks, **header_updates) -> "ClipResult":
        """A copy with ``tracks`` and the header's top-level keys updated by ``header_updates``."""
        return ClipResult({**self.header, **header_updates}, list(tracks))


def _nested(a: np.ndarray, decimals: int, conf_decimals: int | None = None):
    """Array -> nested lists with NaN/inf -> None, rounded (the last channel to ``conf_decimals``)."""
    a = np.asarray(a, dtype=np.float64)
    r = np.round(a, decimals)
    if conf_decimals is not None:
        r[..., -1] = np.round(a[..., -1], conf_decimals)
    bad = ~np.isfinite(r)
    if not bad.any():
        return r.tolist()
    o = r.astype(object)                    # Python floats; None where the value is not finite
    o[bad] = None
    return o.tolist()


def track_to_dict(t: TrackResult) -> dict:
    d = {
        "track_id": int(t.track_id),
        "frames": [int(f) for f in t.frames],
        "keypoints_2d": _nested(t.keypoints_2d_px, 2, 4),
        "keypoints_2d_coco": _nested(t.keypoints_2d_coco_px, 2, 4),
        "boxes_2d": _nested(t.boxes_px, 1),
        "joints_3d": _nested(t.joints_3d_m, 5),
        "root_3d": _nested(t.root_3d_m, 5),
        "confidence": _nested(t.confidence, 4),
        "interpolated": [bool(b) for b in t.interpolated],
        "scale": float(t.scale),
    }
    for key, mask in (("keypoints_interpolated", t.keypoints_interpolated),
                      ("keypoints_coco_interpolated", t.keypoints_coco_interpolated)):
        if mask is not None:
            d[key] = np.asarray(mask, bool).tolist()
    return d


def result_to_dict(r: ClipResult) -> dict:
    return {**r.header, "tracks": [track_to_dict(t) for t in r.tracks]}


# --- the one reader -------------------------------------------------------------------------

def _err(where: str, expected: str, found: Any, fix: str = "") -> InputError:
    return InputError(f"{where}: expected {expected}, found {found}" + (f". {fix}" if fix else ""))


def _array(obj: dict, key: str, shape: tuple, where: str, *, dtype=np.float64, optional: bool = False):
    """``obj[key]`` as an array of ``shape`` (None = any length; JSON null -> NaN for floats), or
    None when the key is absent and ``optional``."""
    if obj.get(key) is None:
        if optional:
            return None
        raise _err(where, f"a '{key}' field", "none", "Re-run `sasmamba lift` to write a complete result.")
    try:
        a = np.array(obj[key], dtype=dtype)
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


def _keypoints(obj: dict, key: str, n: int, where: str) -> np.ndarray | None:
    """(n, 17, 3) 2D px + confidence; a joint without coordinates gets NaN and confidence 0 (one
    with coordinates missing but confidence > 0 is an error)."""
    a = _array(obj, key, (n, NUM_JOINTS, 3), where, optional=key != "keypoints_2d")
    if a is None:
        return None
    missing = ~np.all(np.isfinite(a[..., :2]), axis=-1)
    bad = missing & (np.nan_to_num(a[..., 2]) > 0)
    if bad.any():
        idx = np.argwhere(bad)[0]
        raise _err(f"{where}.{key}", "coordinates for every joint with confidence > 0",
                   f"NaN/null at (frame {int(idx[0])}, joint {int(idx[1])})")
    a[missing] = (np.nan, np.nan, 0.0)
    return a


def _mask(obj: dict, key: str, n: int, where: str) -> np.ndarray | None:
    """Optional (n, 17) bool field; None when absent."""
    return _array(obj, key, (n, NUM_JOINTS), where, dtype=bool, optional=True)


def track_from_dict(obj: dict, where: str = "track") -> TrackResult:
    """Inverse of :func:`track_to_dict` (JSON ``null`` -> NaN), validated: frames consecutive and
    not empty, every array of its shape, 3D and confidences finite. Optional fields absent from
    older files: ``keypoints_2d_coco`` / ``boxes_2d`` (NaN), ``scale`` (1), the masks (None)."""
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
        raise _err(f"{where}.frames", "consecutive frame indices", f"a jump from {frames[k]} to {frames[k + 1]}",
                   "Tracks must cover every frame between their first and last (gaps interpolated).")
    kp2d = _keypoints(obj, "keypoints_2d", n, where)
    coco = _keypoints(obj, "keypoints_2d_coco", n, where)
    boxes = _array(obj, "boxes_2d", (n, 4), where, optional=True)
    j3d = _array(obj, "joints_3d", (n, NUM_JOINTS, 3), where)
    root = _array(obj, "root_3d", (n, 3), where)
    conf = _array(obj, "confidence", (n, NUM_JOINTS), where)
    for name, a in (("joints_3d", j3d), ("root_3d", root), ("confidence", conf)):
        _check_finite(a, f"{where}.{name}")
    return TrackResult(
        track_id=int(obj["track_id"]), frames=frames, keypoints_2d_px=kp2d,
        keypoints_2d_coco_px=np.full((n, NUM_JOINTS, 3), np.nan) if coco is None else coco,
        boxes_px=np.full((n, 4), np.nan) if boxes is None else boxes,
        joints_3d_m=j3d, root_3d_m=root, confidence=conf,
        interpolated=_array(obj, "interpolated", (n,), where, dtype=bool), scale=float(obj.get("scale", 1.0)),
        keypoints_interpolated=_mask(obj, "keypoints_interpolated", n, where),
        keypoints_coco_interpolated=_mask(obj, "keypoints_coco_interpolated", n, where))


def result_from_dict(d: dict, where: str = "result") -> ClipResult:
    """A parsed result JSON object -> :class:`ClipResult` (inverse of :func:`result_to_dict`),
    validated; raises :class:`InputError` saying what was expected where."""
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
        fps = Source.from_header(src).fps
    except (KeyError, TypeError, ValueError) as e:
        raise _err(f"{where}.source", "fps, frame_count, width, height", f"{src!r} ({e})") from e
    if not (math.isfinite(fps) and fps > 0):
        raise _err(f"{where}.source.fps", "a positive frame rate", fps)
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
    tracks = [track_from_dict(t, f"{where}.tracks[{i}]") for i, t in enumerate(raw_tracks)]
    ids = [t.track_id for t in tracks]
    if len(set(ids)) != len(ids):
        raise _err(f"{where}.tracks", "unique track ids", ids)
    return ClipResult({k: v for k, v in d.items() if k != "tracks"}, tracks)


def load_result(path: str | Path) -> ClipResult:
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


def as_result(obj) -> ClipResult:
    """A :class:`ClipResult` as is; a result dict or a path to a result JSON read by the one reader."""
    if isinstance(obj, ClipResult):
        return obj
    if isinstance(obj, dict):
        return result_from_dict(obj)
    if isinstance(obj, (str, Path)):
        return load_result(obj)
    raise InputError(f"expected a sasmamba result (ClipResult, dict or JSON path), found {type(obj).__name__}")


def skeleton_header() -> dict:
    return {"name": H36M.name, "joint_names": list(H36M.names), "parents": list(H36M.parents),
            "left": list(H36M.left), "right": list(H36M.right)}


JSON_CHUNK_FRAMES = 2000     # frames per piece when the JSON is streamed (memory flat in the length)


def _dumps(v) -> str:
    return json.dumps(v, separators=(",", ":"), allow_nan=False)


def _list_pieces(n: int, piece, chunk: int) -> Iterator[str]:
    """``json.dumps`` of a length-``n`` list, built from ``piece(a, b)`` (the list of items a..b)
    in chunks of ``chunk`` items: the same text, without the whole list in memory."""
    yield "["
    for a in range(0, n, chunk):
        if a:
            yield ","
        yield _dumps(piece(a, min(a + chunk, n)))[1:-1]
    yield "]"


def track_json_pieces(t: TrackResult, chunk: int | None = None) -> Iterator[str]:
    """The JSON text of :func:`track_to_dict` ``(t)`` (same keys, order and bytes), in pieces of at
    most ``chunk`` frames."""
    n = len(t.frames)
    chunk = chunk or JSON_CHUNK_FRAMES
    fields = [
        ("track_id", None, int(t.track_id)),
        ("frames", lambda a, b: [int(f) for f in t.frames[a:b]], None),
        ("keypoints_2d", lambda a, b: _nested(t.keypoints_2d_px[a:b], 2, 4), None),
        ("keypoints_2d_coco", lambda a, b: _nested(t.keypoints_2d_coco_px[a:b], 2, 4), None),
        ("boxes_2d", lambda a, b: _nested(t.boxes_px[a:b], 1), None),
        ("joints_3d", lambda a, b: _nested(t.joints_3d_m[a:b], 5), None),
        ("root_3d", lambda a, b: _nested(t.root_3d_m[a:b], 5), None),
        ("confidence", lambda a, b: _nested(t.confidence[a:b], 4), None),
        ("interpolated", lambda a, b: [bool(v) for v in t.interpolated[a:b]], None),
        ("scale", None, float(t.scale)),
    ]
    for key, mask in (("keypoints_interpolated", t.keypoints_interpolated),
                      ("keypoints_coco_interpolated", t.keypoints_coco_interpolated)):
        if mask is not None:
            fields.append((key, lambda a, b, m=mask: np.asarray(m[a:b], bool).tolist(), None))
    yield "{"
    for i, (key, piece, value) in enumerate(fields):
        yield ("," if i else "") + _dumps(key) + ":"
        if piece is None:
            yield _dumps(value)
        else:
            yield from _list_pieces(n, piece, chunk)
    yield "}"


def result_json_pieces(r: ClipResult, header: dict | None = None, chunk: int | None = None) -> Iterator[str]:
    """The JSON text of ``{**(header or r.header), "tracks": [...]}`` in pieces; byte-identical to
    ``json.dumps(result_to_dict(r), separators=(",", ":"))`` when ``header`` is ``r.header``."""
    head = _dumps({**(r.header if header is None else header), "tracks": []})
    tail = '"tracks":[]}'
    if not head.endswith(tail):
        raise ValueError("result header must not hold a 'tracks' key")
    yield head[:-2]
    for i, t in enumerate(r.tracks):
        if i:
            yield ","
        yield from track_json_pieces(t, chunk)
    yield "]}"


def write_json_streamed(r: ClipResult, path: Path, header: dict | None = None) -> Path:
    """The result as compact JSON, written in pieces of frames: the same bytes as
    :func:`write_json`, with memory that does not grow with the clip's length."""
    write_pieces(path, itertools.chain(result_json_pieces(r, header), ["\n"]))
    return path


def write_json(r: ClipResult, path: Path, as_dict: dict | None = None) -> Path:
    """The result as compact JSON; ``as_dict`` is ``result_to_dict(r)`` when the caller has it."""
    text = json.dumps(as_dict if as_dict is not None else result_to_dict(r), separators=(",", ":"),
                      allow_nan=False)
    write_bytes(path, (text + "\n").encode())
    return path


class _Float64:
    """An array that ``np.savez`` turns into float64 only when it writes it (one full-length copy
    at a time, not all of them before the first is written)."""

    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.a, dtype or np.float64)


def write_npz(r: ClipResult, path: Path) -> Path:
    """NPZ: ``header`` (JSON string), ``track_ids`` (k,), and per track ``track{ID}_{field}``."""
    arrays: dict[str, np.ndarray] = {"header": np.array(json.dumps(r.header)),
                                     "track_ids": np.array([t.track_id for t in r.tracks], dtype=np.int64)}
    for t in r.tracks:
        p = f"track{t.track_id}_"
        f64 = _Float64
        arrays.update({p + "frames": t.frames.astype(np.int64), p + "keypoints_2d": f64(t.keypoints_2d_px),
                       p + "keypoints_2d_coco": f64(t.keypoints_2d_coco_px), p + "boxes_2d": f64(t.boxes_px),
                       p + "joints_3d": f64(t.joints_3d_m), p + "root_3d": f64(t.root_3d_m),
                       p + "confidence": f64(t.confidence), p + "interpolated": t.interpolated.astype(bool),
                       p + "scale": np.array(t.scale)})
        for key, mask in (("keypoints_interpolated", t.keypoints_interpolated),
                          ("keypoints_coco_interpolated", t.keypoints_coco_interpolated)):
            if mask is not None:
                arrays[p + key] = np.asarray(mask, bool)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:     # compressed straight into the temporary file
        np.savez_compressed(f, **arrays)
    return path


CSV_COLUMNS = ["track_id", "frame", "time_s", "joint_index", "joint", "x_m", "y_m", "z_m",
               "root_x_m", "root_y_m", "root_z_m", "u_px", "v_px", "confidence", "interpolated"]


_CSV_ROW = "%d,%d,%.4f,%d,%s,%.5f,%.5f,%.5f,%.5f,%.5f,%.5f,%.2f,%.2f,%.4f,%d"
_CSV_NON_FINITE = re.compile(r"(?<=,)-?(?:nan|inf)(?=,|$)", re.MULTILINE)


def csv_pieces(r: ClipResult, chunk: int | None = None) -> Iterator[str]:
    """The CSV text of :func:`write_csv` in pieces of at most ``chunk`` frames of one track (memory
    flat in the clip's length)."""
    yield ",".join(CSV_COLUMNS) + "\n"
    fps = r.fps
    chunk = chunk or JSON_CHUNK_FRAMES
    names = np.array(H36M.names, dtype=object)
    for t in r.tracks:
        n_all, j = len(t.frames), 17
        joints, kp2d, conf = t.joints_3d_m, t.keypoints_2d_px, t.confidence     # float64 per chunk below
        interp = t.joint_interpolated()
        for a in range(0, n_all, chunk):
            b = min(a + chunk, n_all)
            n = b - a
            frames = np.repeat(np.asarray(t.frames[a:b], np.int64), j)
            root = np.repeat(np.asarray(t.root_3d_m[a:b], np.float64), j, axis=0)     # (n*17, 3)
            p = np.asarray(joints[a:b], np.float64).reshape(n * j, 3)
            k = np.asarray(kp2d[a:b], np.float64).reshape(n * j, -1)
            cols = [np.full(n * j, int(t.track_id)), frames, frames / fps, np.tile(np.arange(j), n),
                    np.tile(names, n), p[:, 0], p[:, 1], p[:, 2], root[:, 0], root[:, 1], root[:, 2],
                    k[:, 0], k[:, 1], np.asarray(conf[a:b], np.float64).reshape(-1),
                    interp[a:b].reshape(-1).astype(np.int64)]
            rows = zip(*(c.tolist() for c in cols))
            yield _CSV_NON_FINITE.sub("", "".join(_CSV_ROW % row + "\n" for row in rows))


def write_csv(r: ClipResult, path: Path) -> Path:
    """One row per track / frame / joint; 3D root-relative (x_m..z_m) plus the root; 2D H36M px;
    ``interpolated`` = that 2D joint was interpolated across a gap. Non-finite numbers are empty
    cells. Written in pieces of frames (:func:`csv_pieces`)."""
    write_pieces(path, csv_pieces(r))
    return path
