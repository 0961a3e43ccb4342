"""Read saved 2D keypoints for ``sasmamba lift --keypoints FILE`` (re-lift without re-detecting).

Accepted layouts (JSON; coordinates in pixels; see docs/output_format.md):

1. A sasmamba result JSON (``"schema": "sasmamba-result"``): the detected (not interpolated)
   frames and joints of each track's ``keypoints_2d_coco`` are re-used with their track ids; image size and
   fps come from ``source``.
2. A COCO dataset dict: ``{"images": [{"id", "width", "height", "frame_index"?}, ...],
   "annotations": [{"image_id", "keypoints": [x1, y1, v1, ... x17, y17, v17], "bbox"?, "score"?,
   "track_id"?}, ...], "fps"?}``. The frame index is ``frame_index`` / ``frame_id`` of the image,
   else the image's rank when sorted by id.
3. A list of COCO *results* (what most 2D tools write):
   ``[{"image_id" or "frame": int, "keypoints": [51 numbers], "score"?, "bbox"?, "track_id"?}]``,
   or ``{"width", "height", "fps", "annotations": [...]}`` with the same entries.
   Image size and fps come from the file, else from ``--image-size WxH`` / ``--fps``.

Frame count (``source.frame_count`` of the re-lift): the file's ``frame_count`` (a result's
``source.frame_count``; for a COCO dataset at least the frames its ``images`` describe, empty ones
included), never less than the last frame with an entry + 1; without one, frames after the last
entry are unknown and not counted. COCO results whose ids run 1..N in a file that says
``"frame_count": N`` are 1-based and are shifted to frames 0..N-1.

Keypoints are COCO-17 order. The third number per keypoint is a confidence or COCO visibility
(0 = missing); ``null``, NaN and inf coordinates count as missing. Annotations with a
``track_id`` keep it (long gaps still split a track); without one the sasmamba tracker assigns
ids. A ``bbox`` ([x, y, w, h]) is used for tracking; otherwise the keypoints' extent.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, NoPersonError
from .detect import FrameDetections, mask_keypoints
from .result import result_from_dict
from .scores import map_scores


@dataclass(frozen=True)
class KeypointSource:
    """2D keypoints read from a file.

    detections: frame index -> FrameDetections (COCO-17 px); track_ids: frame index -> (n,) int
    ids matching the detections, or None when the file has no ids; width/height: image size px.
    """

    path: Path
    width: int
    height: int
    fps: float
    frame_count: int
    rotation: int
    layout: str
    detections: dict[int, FrameDetections]
    track_ids: dict[int, np.ndarray] | None
    out_of_range: int = 0          # keypoints farther than OUT_OF_RANGE_MARGIN outside the image: made missing
    scores: str = "raw"            # the keypoint_scores.json entry the file's scores were read with
    scores_clipped: int = 0        # 'raw' scores a little above 1 (heatmap detectors), clipped to 1


#: a keypoint more than this fraction of the image size beyond any image edge is not a plausible
#: detection (huge, negative or swapped coordinates): it is treated as missing and counted
OUT_OF_RANGE_MARGIN = 0.5


def _bad(path: Path, msg: str) -> InputError:
    return InputError(f"keypoint file {path}: {msg}. See docs/output_format.md (--keypoints layouts)")


_MISSING = object()
#: the keys of an entry that anything here reads (other keys of a COCO annotation are not kept)
ENTRY_KEYS = ("frame", "frame_index", "image_id", "id", "track_id", "score", "bbox", "xyxy")
_ENTRY_SLOTS = frozenset(ENTRY_KEYS)
PACK_ROWS = 4096              # entries per block of the packed keypoint store


class _Entry:
    """One annotation as parsed (:class:`_Packer`): its keypoints as a row of a shared float64
    block, the few keys read later in slots. Reads like the dict it came from (``get``, ``[]``,
    ``in``) for those keys and ``keypoints``; ``frame`` may be set. About 0.5 kB per entry instead
    of ~1.5 kB for a dict with its own array (and the Python floats of a long file never all live
    at once)."""

    __slots__ = ("_block", "_row") + tuple("_" + k for k in ENTRY_KEYS)

    def __init__(self, block: np.ndarray, row: int, obj: dict):
        self._block, self._row = block, row
        for k in ENTRY_KEYS:
            setattr(self, "_" + k, obj.get(k, _MISSING))

    def get(self, key: str, default=None):
        if key == "keypoints":
            return self._block[self._row]
        v = getattr(self, "_" + key) if key in _ENTRY_SLOTS else _MISSING
        return default if v is _MISSING else v

    def __getitem__(self, key: str):
        v = self.get(key, _MISSING)
        if v is _MISSING:
            raise KeyError(key)
        return v

    def __setitem__(self, key: str, value) -> None:
        if key not in _ENTRY_SLOTS:
            raise KeyError(key)
        setattr(self, "_" + key, value)

    def __contains__(self, key: str) -> bool:
        return self.get(key, _MISSING) is not _MISSING


#: an object with one of these keys is a container (the file's top level), never an entry
_CONTAINER_KEYS = ("annotations", "images", "tracks", "schema")


class _Packer:
    """``json.loads`` object hook: an entry whose ``keypoints`` is a flat list of 51 numbers /
    nulls becomes an :class:`_Entry` as soon as it is parsed, its numbers (null -> NaN) packed into
    float64 blocks of ``PACK_ROWS`` rows, so neither the file's Python floats (32 bytes each) nor a
    dict and an array per entry all live at once; anything else is left for :func:`_keypoints` to
    check and report."""

    def __init__(self):
        self.block: np.ndarray | None = None
        self.row = PACK_ROWS

    def __call__(self, obj: dict):
        raw = obj.get("keypoints")
        if type(raw) is list and len(raw) == 51 and all(v is None or type(v) is float or type(v) is int for v in raw) \
                and not any(k in obj for k in _CONTAINER_KEYS):
            try:
                vals = np.array([math.nan if v is None else v for v in raw], dtype=np.float64)
            except (OverflowError, ValueError, TypeError):
                return obj
            if self.row >= PACK_ROWS:
                self.block, self.row = np.empty((PACK_ROWS, 51)), 0
            self.block[self.row] = vals
            self.row += 1
            return _Entry(self.block, self.row - 1, obj)
        return obj


def _keypoints(path: Path, where: str, raw) -> np.ndarray:
    if isinstance(raw, np.ndarray):                # already converted while parsing (_Packer)
        kp = raw.reshape(17, 3)
        kp[~np.isfinite(kp[:, 2]), 2] = 0.0
        return kp
    if not isinstance(raw, (list, tuple)):
        raise _bad(path, f"{where}: expected 'keypoints' as a list of 51 numbers, found {type(raw).__name__}")
    if len(raw) == 17 and all(isinstance(p, (list, tuple)) for p in raw):
        raw = [v for p in raw for v in (list(p) + [1.0] * (3 - len(p)))[:3]]
    if len(raw) != 51:
        raise _bad(path, f"{where}: expected 51 numbers (17 COCO keypoints x, y, score), found {len(raw)}")
    vals = []
    for v in raw:
        if v is None:
            vals.append(math.nan)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            vals.append(float(v))
        else:
            raise _bad(path, f"{where}: keypoint value {v!r} is not a number")
    kp = np.asarray(vals, dtype=np.float64).reshape(17, 3)
    kp[~np.isfinite(kp[:, 2]), 2] = 0.0
    return kp


def _box(kp: np.ndarray, bbox) -> np.ndarray:
    if isinstance(bbox, (list, tuple)) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox):
        x, y, w, h = (float(v) for v in bbox)
        if all(math.isfinite(v) for v in (x, y, w, h)) and w > 0 and h > 0:
            return np.array([x, y, x + w, y + h])
    ok = (kp[:, 2] > 0) & np.all(np.isfinite(kp[:, :2]), -1)
    if not ok.any():
        return np.full(4, np.nan)
    lo, hi = kp[ok, :2].min(0), kp[ok, :2].max(0)
    pad = 0.1 * max(float(np.max(hi - lo)), 1.0)
    return np.array([lo[0] - pad, lo[1] - pad, hi[0] + pad, hi[1] + pad])


def _count_value(path: Path, raw) -> int:
    """An explicit ``frame_count`` from the file: a non-negative integer; 0 / null = unknown."""
    if raw is None:
        return 0
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) \
            or raw < 0 or raw != int(raw):
        raise _bad(path, f"expected 'frame_count' as a non-negative integer, found {raw!r}")
    return int(raw)


def _one_based_ids(path: Path, raw_count, entries: list[dict]) -> None:
    """COCO results numbered 1..N (as many tools number images) when the file says N frames.

    ``image_id`` is read as the 0-based frame index. When the file also gives ``frame_count`` = N
    and the largest id is exactly N with none below 1, 0-based ids are impossible (frame N would lie
    past the end): the ids are 1-based and are shifted to frames 0..N-1 in place.
    """
    count = _count_value(path, raw_count)
    frames = [e["frame"] for e in entries]
    if count and frames and min(frames) >= 1 and max(frames) == count:
        for e in entries:
            e["frame"] -= 1


def _frame_count(path: Path, raw_count, entries: list[dict]) -> int:
    """Frames in the clip the keypoints came from (``source.frame_count`` of the re-lift).

    The file's explicit count (a sasmamba result's ``source.frame_count``, a top-level
    ``frame_count``, or for a COCO dataset the frames its ``images`` describe, trailing images
    without people included), but never less than the last frame that has an entry + 1 (an entry
    whose keypoints are all missing still shows that the frame exists). Without an explicit count,
    frames after the last entry are unknown and not counted.
    """
    last = max((int(e["frame"]) for e in entries), default=-1)
    return max(_count_value(path, raw_count), last + 1)


def _from_result(path: Path, data: dict) -> tuple[dict, int, list[dict]]:
    """A sasmamba result (read by the one reader) -> (meta, rotation, entries): the detected (not
    interpolated) frames and joints of each track's COCO 2D, with its id and box."""
    for t in data.get("tracks") or []:
        if isinstance(t, dict) and t.get("keypoints_2d_coco") is None:
            raise _bad(path, f"track {t.get('track_id')} has no keypoints_2d_coco")
    res = result_from_dict(data, where=str(path))
    src = res.source
    meta = {"width": src.width, "height": src.height, "fps": src.fps, "frame_count": src.frame_count}
    entries = []
    for t in res.tracks:
        coco = np.array(t.keypoints_2d_coco_px, dtype=np.float64)
        if t.keypoints_coco_interpolated is not None:     # joints interpolated across a gap: not detections
            coco[t.keypoints_coco_interpolated] = (np.nan, np.nan, 0.0)
        for i in np.flatnonzero(~t.interpolated):
            box = t.boxes_px[i]
            entries.append({"frame": int(t.frames[i]), "keypoints": coco[i].copy(),
                            "track_id": t.track_id, "xyxy": box.tolist() if np.isfinite(box).all() else None})
    return meta, src.rotation, entries


def _with_frame(a, frame: int):
    """The entry ``a`` with its frame index set (a parsed :class:`_Entry` in place, a dict copied)."""
    if isinstance(a, _Entry):
        a["frame"] = frame
        return a
    return {**a, "frame": frame}


def _from_coco_dataset(path: Path, data: dict) -> tuple[dict, list[dict]]:
    """A COCO dataset dict ``{images, annotations}`` -> (meta, entries with their frame index)."""
    meta: dict = {}
    images = data["images"]
    order = sorted(range(len(images)), key=lambda i: images[i].get("id", i))
    frame_of: dict = {}
    for rank, i in enumerate(order):
        im = images[i]
        frame_of[im.get("id")] = int(im.get("frame_index", im.get("frame_id", rank)))
        meta.setdefault("width", im.get("width"))
        meta.setdefault("height", im.get("height"))
    meta["fps"] = data.get("fps") or (data.get("info") or {}).get("fps")
    # every image is a frame, with or without people on it (trailing empty frames count)
    meta["frame_count"] = max(_count_value(path, data.get("frame_count")),
                              max(frame_of.values(), default=-1) + 1)
    entries = []
    for a in data["annotations"]:
        if a.get("image_id") not in frame_of:
            raise _bad(path, f"annotation {a.get('id')} refers to image_id {a.get('image_id')!r}, "
                             "which is not in 'images'")
        entries.append(_with_frame(a, frame_of[a["image_id"]]))
    return meta, entries


def _from_coco_results(path: Path, data: list | dict) -> tuple[dict, list[dict]]:
    """COCO result entries (a list, or ``{width, height, fps, annotations}``) -> (meta, entries)."""
    meta: dict = {}
    if isinstance(data, dict):
        meta = {"width": data.get("width"), "height": data.get("height"), "fps": data.get("fps"),
                "frame_count": data.get("frame_count")}
        data = data["annotations"]
    entries = []
    for i, a in enumerate(data):
        if not isinstance(a, (dict, _Entry)):
            raise _bad(path, f"entry {i}: expected an object with 'keypoints', found {type(a).__name__}")
        frame = a.get("frame", a.get("frame_index", a.get("image_id")))
        if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
            raise _bad(path, f"entry {i}: expected a non-negative integer 'image_id' or 'frame', found {frame!r}")
        entries.append(_with_frame(a, frame))
    _one_based_ids(path, meta.get("frame_count"), entries)
    return meta, entries


#: a 'raw' score up to this is a 0..1 confidence that overshoots (heatmap-based detectors give
#: up to ~1.1) and is clipped to 1; above it the scores are on another scale
MAX_RAW_SCORE = 1.2
#: changes when the way a keypoint file is read changes (resume re-lifts results read otherwise)
READ_RULES = 2                     # 2: scores above 1 refused / clipped / read as COCO visibility flags


def _scores_entry(path: Path, per_frame: dict, scores: str) -> str:
    """The score map to read the file with: ``scores``, except that a file read as ``raw`` with
    scores above ``MAX_RAW_SCORE`` is refused, or read as ``coco-visibility`` when its scores are
    only COCO visibility flags (1 and 2; 0 is missing anyway). Scores in (1, MAX_RAW_SCORE] are
    clipped to 1 by the caller."""
    if scores != "raw":
        return scores
    top, flags, above, first = 0.0, True, 0, None
    for f in sorted(per_frame):
        for kp, *_ in per_frame[f]:
            v = kp[:, 2][np.isfinite(kp[:, 2]) & (kp[:, 2] > 0)]
            if v.size:
                top = max(top, float(v.max()))
                flags = flags and bool(np.isin(v, (1.0, 2.0)).all())
                n = int((v > MAX_RAW_SCORE).sum())
                above += n
                first = f if first is None and n else first
    if top <= MAX_RAW_SCORE:
        return scores
    if flags:
        return "coco-visibility"
    raise _bad(path, f"{above} keypoint scores above {MAX_RAW_SCORE:g} (up to {top:.6g}; the first in frame {first}); "
                     "--scores raw expects confidences in 0..1 (as YOLO-pose gives). If the third number is a "
                     "visibility or a score on another scale, pass --scores ones (every given keypoint gets "
                     "confidence 1) or --scores coco-visibility, or rescale the scores to 0..1")


def _detections(path: Path, entries: list[dict], width: float, height: float, kp_threshold: float,
                scores: str) -> tuple[dict[int, FrameDetections], dict[int, np.ndarray] | None, int, str, int]:
    """Entries -> (frame -> detections, frame -> track ids or None, keypoints dropped as far
    outside the image, the score map used (:func:`_scores_entry`), scores clipped to 1)."""
    per_frame: dict[int, list] = defaultdict(list)
    out_of_range = 0
    has_ids = bool(entries) and all(e.get("track_id") is not None for e in entries)
    for i, e in enumerate(entries):
        if "keypoints" not in e:
            raise _bad(path, f"entry {i} (frame {e['frame']}): no 'keypoints'")
        kp = _keypoints(path, f"entry {i} (frame {e['frame']})", e["keypoints"])
        with np.errstate(invalid="ignore", over="ignore"):
            x, y = kp[:, 0], kp[:, 1]
            m = OUT_OF_RANGE_MARGIN
            far = (kp[:, 2] > 0) & ~(np.isfinite(x) & np.isfinite(y) & (x >= -m * width) & (x <= (1 + m) * width)
                                     & (y >= -m * height) & (y <= (1 + m) * height))
        if far.any():
            out_of_range += int(far.sum())
            kp[far] = [np.nan, np.nan, 0.0]
        xyxy = e.get("xyxy")
        box = np.array(xyxy, dtype=np.float64) if xyxy is not None and None not in xyxy else _box(kp, e.get("bbox"))
        score = e.get("score", 1.0)
        score = float(score) if isinstance(score, (int, float)) and math.isfinite(score) else 1.0
        per_frame[int(e["frame"])].append((kp, box, score, e.get("track_id")))
    scores = _scores_entry(path, per_frame, scores)
    detections: dict[int, FrameDetections] = {}
    ids: dict[int, np.ndarray] = {}
    clipped = 0
    for f in sorted(per_frame):
        people = [p for p in per_frame[f] if np.all(np.isfinite(p[1]))]
        if not people:
            continue
        kps = np.stack([p[0] for p in people])
        kps[..., 2] = map_scores(kps[..., 2], scores)               # the backend's score -> confidence
        over = kps[..., 2] > 1.0                                     # only 'raw' up to MAX_RAW_SCORE gets here
        if over.any():
            clipped += int(over.sum())
            kps[..., 2] = np.minimum(kps[..., 2], 1.0)
        detections[f] = mask_keypoints(np.stack([p[1] for p in people]), np.array([p[2] for p in people]),
                                       kps, max(kp_threshold, 1e-12))
        if has_ids:
            ids[f] = np.array([int(p[3]) for p in people])
    return detections, (ids if has_ids else None), out_of_range, scores, clipped


def read_keypoints(path: str | Path, *, image_size: tuple[int, int] | None = None,
                   fps: float | None = None, kp_threshold: float = 0.0, scores: str = "raw") -> KeypointSource:
    """Parse one of the accepted layouts into per-frame detections."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"keypoint file {path} not found; expected a JSON file (see --help)")
    try:
        data = json.loads(path.read_text(), object_hook=_Packer())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _bad(path, f"not valid JSON ({e})") from e
    rotation = 0
    if isinstance(data, dict) and data.get("schema") == "sasmamba-result":
        layout = "sasmamba-result"
        meta, rotation, entries = _from_result(path, data)
    elif isinstance(data, dict) and isinstance(data.get("images"), list) and isinstance(data.get("annotations"), list):
        layout = "coco-dataset"
        meta, entries = _from_coco_dataset(path, data)
    elif isinstance(data, list) or (isinstance(data, dict) and isinstance(data.get("annotations"), list)):
        layout = "coco-results"
        meta, entries = _from_coco_results(path, data)
    else:
        raise _bad(path, "unrecognised layout: expected a sasmamba result, a COCO dataset dict "
                         "({images, annotations}) or a list of COCO result entries")

    width, height = meta.get("width"), meta.get("height")
    if image_size is not None:
        width, height = image_size
    if not (isinstance(width, (int, float)) and isinstance(height, (int, float)) and width > 0 and height > 0):
        raise _bad(path, f"image size unknown (found width={width!r}, height={height!r}); pass --image-size WxH")
    fps_v = fps or meta.get("fps")
    if not (isinstance(fps_v, (int, float)) and math.isfinite(fps_v) and fps_v > 0):
        raise _bad(path, f"frame rate unknown (found {fps_v!r}); pass --fps")
    detections, ids, out_of_range, scores, clipped = _detections(path, entries, width, height, kp_threshold, scores)
    if not any((d.keypoints_px[..., 2] > 0).any() for d in detections.values()):
        extra = (f" ({out_of_range} keypoints lay more than {OUT_OF_RANGE_MARGIN:.0%} of the image size "
                 f"outside the {int(width)}x{int(height)} image and were dropped: check the coordinates' units "
                 "and --image-size)") if out_of_range else ""
        raise NoPersonError(f"keypoint file {path} ({layout}) has no valid keypoint: expected finite x, y with "
                            f"score > 0 for some joints, found none{extra}")
    frame_count = _frame_count(path, meta.get("frame_count"), entries)
    return KeypointSource(path, int(width), int(height), float(fps_v), frame_count, rotation, layout,
                          detections, ids, out_of_range, scores, clipped)
