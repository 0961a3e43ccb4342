"""Results: per-clip dataclasses and their JSON / NPZ / CSV forms (schema ``sasmamba-result`` v1).

The JSON Schema is ``sasmamba_cli/data/result_schema_v1.json``; docs/output_format.md explains
every field. Missing 2D coordinates are ``null`` in JSON, NaN in NPZ and empty cells in CSV,
always with confidence 0. Every write is atomic (temporary file in the same folder +
``os.replace``). Reading a result back is :mod:`sasmamba_cli.export.result_io`'s job.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..skeleton import H36M

SCHEMA = "sasmamba-result"
SCHEMA_VERSION = 1
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
        return int(self.frames.shape[0])


@dataclass(frozen=True)
class ClipResult:
    """Everything written for one clip; ``header`` holds the JSON fields other than ``tracks``."""

    header: dict
    tracks: list[TrackResult] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return float(self.header["source"]["fps"])


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


def _array(v, shape_tail: tuple[int, ...], n: int, name: str) -> np.ndarray:
    """Nested lists (``None`` = missing) -> float64 array with NaN, shape-checked."""
    try:
        a = np.array(v, dtype=np.float64)                 # None -> NaN
    except (TypeError, ValueError):
        a = np.empty(0)
    if a.shape != (n,) + shape_tail:
        raise ValueError(f"{name}: expected shape {(n,) + shape_tail}, found {a.shape}")
    return a


def track_from_dict(d: dict) -> TrackResult:
    """Inverse of :func:`track_to_dict` (JSON ``null`` -> NaN)."""
    n = len(d["frames"])
    return TrackResult(
        track_id=int(d["track_id"]), frames=np.asarray(d["frames"], dtype=np.int64),
        keypoints_2d_px=_array(d["keypoints_2d"], (17, 3), n, "keypoints_2d"),
        keypoints_2d_coco_px=_array(d.get("keypoints_2d_coco", np.full((n, 17, 3), None).tolist()), (17, 3), n,
                                    "keypoints_2d_coco"),
        boxes_px=_array(d.get("boxes_2d", np.full((n, 4), None).tolist()), (4,), n, "boxes_2d"),
        joints_3d_m=_array(d["joints_3d"], (17, 3), n, "joints_3d"),
        root_3d_m=_array(d["root_3d"], (3,), n, "root_3d"),
        confidence=_array(d["confidence"], (17,), n, "confidence"),
        interpolated=np.asarray(d.get("interpolated", [False] * n), dtype=bool),
        scale=float(d.get("scale", 1.0)),
        keypoints_interpolated=_mask(d, "keypoints_interpolated", n),
        keypoints_coco_interpolated=_mask(d, "keypoints_coco_interpolated", n))


def _mask(d: dict, key: str, n: int) -> np.ndarray | None:
    """Optional (n, 17) bool field; None when absent."""
    if d.get(key) is None:
        return None
    a = np.asarray(d[key], dtype=bool)
    if a.shape != (n, 17):
        raise ValueError(f"{key}: expected shape {(n, 17)}, found {a.shape}")
    return a


def result_from_dict(d: dict) -> ClipResult:
    """Inverse of :func:`result_to_dict`."""
    return ClipResult({k: v for k, v in d.items() if k != "tracks"}, [track_from_dict(t) for t in d["tracks"]])


def skeleton_header() -> dict:
    return {"name": H36M.name, "joint_names": list(H36M.names), "parents": list(H36M.parents),
            "left": list(H36M.left), "right": list(H36M.right)}


# --- atomic writes --------------------------------------------------------------------------

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())          # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def atomic_write_with(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Like :func:`atomic_write_bytes`, with ``write(file)`` writing into the temporary file itself
    (nothing held in memory first)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_pieces(path: Path, pieces: Iterable[str]) -> None:
    """Like :func:`atomic_write_bytes`, for text produced piece by piece (UTF-8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            for piece in pieces:
                f.write(piece)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_streamed(r: ClipResult, path: Path, header: dict | None = None) -> Path:
    """The result as compact JSON, written in pieces of frames: the same bytes as
    :func:`write_json`, with memory that does not grow with the clip's length."""
    atomic_write_pieces(path, itertools.chain(result_json_pieces(r, header), ["\n"]))
    return path


def write_json(r: ClipResult, path: Path, as_dict: dict | None = None) -> Path:
    """The result as compact JSON; ``as_dict`` is ``result_to_dict(r)`` when the caller has it."""
    text = json.dumps(as_dict if as_dict is not None else result_to_dict(r), separators=(",", ":"),
                      allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())
    return path


def write_npz(r: ClipResult, path: Path) -> Path:
    """NPZ: ``header`` (JSON string), ``track_ids`` (k,), and per track ``track{ID}_{field}``."""
    arrays: dict[str, np.ndarray] = {"header": np.array(json.dumps(r.header)),
                                     "track_ids": np.array([t.track_id for t in r.tracks], dtype=np.int64)}
    for t in r.tracks:
        p = f"track{t.track_id}_"
        arrays.update({p + "frames": t.frames.astype(np.int64), p + "keypoints_2d": t.keypoints_2d_px,
                       p + "keypoints_2d_coco": t.keypoints_2d_coco_px, p + "boxes_2d": t.boxes_px,
                       p + "joints_3d": t.joints_3d_m, p + "root_3d": t.root_3d_m,
                       p + "confidence": t.confidence, p + "interpolated": t.interpolated.astype(bool),
                       p + "scale": np.array(t.scale)})
        for key, mask in (("keypoints_interpolated", t.keypoints_interpolated),
                          ("keypoints_coco_interpolated", t.keypoints_coco_interpolated)):
            if mask is not None:
                arrays[p + key] = np.asarray(mask, bool)
    atomic_write_with(path, lambda f: np.savez_compressed(f, **arrays))
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
        joints = np.asarray(t.joints_3d_m, np.float64)
        kp2d = np.asarray(t.keypoints_2d_px, np.float64)
        conf = np.asarray(t.confidence, np.float64)
        interp = t.joint_interpolated()
        for a in range(0, n_all, chunk):
            b = min(a + chunk, n_all)
            n = b - a
            frames = np.repeat(np.asarray(t.frames[a:b], np.int64), j)
            root = np.repeat(np.asarray(t.root_3d_m[a:b], np.float64), j, axis=0)     # (n*17, 3)
            p = joints[a:b].reshape(n * j, 3)
            k = kp2d[a:b].reshape(n * j, -1)
            cols = [np.full(n * j, int(t.track_id)), frames, frames / fps, np.tile(np.arange(j), n),
                    np.tile(names, n), p[:, 0], p[:, 1], p[:, 2], root[:, 0], root[:, 1], root[:, 2],
                    k[:, 0], k[:, 1], conf[a:b].reshape(-1), interp[a:b].reshape(-1).astype(np.int64)]
            rows = zip(*(c.tolist() for c in cols))
            yield _CSV_NON_FINITE.sub("", "".join(_CSV_ROW % row + "\n" for row in rows))


def write_csv(r: ClipResult, path: Path) -> Path:
    """One row per track / frame / joint; 3D root-relative (x_m..z_m) plus the root; 2D H36M px;
    ``interpolated`` = that 2D joint was interpolated across a gap. Non-finite numbers are empty
    cells. Written in pieces of frames (:func:`csv_pieces`)."""
    atomic_write_pieces(path, csv_pieces(r))
    return path
