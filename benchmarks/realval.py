"""Real-video accuracy benchmark on ``../shared/data/realval`` (two calibrated views, a four-view
3D reference, ``score.py``). A development set: choose settings on it, never train on it.

    python benchmarks/realval.py [--realval DIR] [--work DIR] [--weights NAME ...] [--sections ...]
        [--json OUT.json] [--markdown OUT.md]

Sections (all by default):

- ``main``: every weight given, on our detector's 2D (``sasmamba lift VIDEO``, YOLO11n-pose; the
  detection runs once per view and is re-lifted from its result JSON for each row) and on the
  perfect 2D (``perfect2d_CAM.json``: the reference projected), with the post-processing options
  on and off; the mean-pose baseline.
- ``roll``: the perfect 2D and our detector's 2D turned about the image centre by -45..45
  degrees (15-degree steps), re-lifted; the estimate is turned back about the optical axis
  before scoring (a pinhole camera turned about its axis: PA-MPJPE of an ideal lifter does not
  change, and MPJPE-TS checks the orientation after turning back).
- ``conf``: the same 2D with its confidences remapped (raw, square root, squared, all 1).

Scores come from realval's own ``score.py`` (median and mean PA-MPJPE and MPJPE-TS over frames,
12 limb joints, the woman's track found by 2D distance). Skips (exit 0) without the folder.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REALVAL = ROOT.parent / "shared" / "data" / "realval"
CAMS = ("cam01", "cam02")
ROLLS = (-45, -30, -15, 0, 15, 30, 45)


# --- 2D files ----------------------------------------------------------------------------------
def _rot(kp: np.ndarray, deg: float, w: float, h: float) -> np.ndarray:
    """(..., >=2) px rotated by ``deg`` (clockwise on screen) about the image centre."""
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    out = np.array(kp, dtype=np.float64, copy=True)
    xy = out[..., :2] - [w / 2, h / 2]
    out[..., 0] = c * xy[..., 0] - s * xy[..., 1] + w / 2
    out[..., 1] = s * xy[..., 0] + c * xy[..., 1] + h / 2
    return out


def _none_to_nan(a) -> np.ndarray:
    return np.array([[[np.nan if v is None else v for v in p] for p in f] for f in a], dtype=np.float64)


def _nan_to_none(a: np.ndarray, nd: int = 5) -> list:
    return [[[None if not np.isfinite(v) else round(float(v), nd) for v in p] for p in f] for f in a]


def transform_keypoint_file(src: Path, dst: Path, roll_deg: float = 0.0, conf=None) -> Path:
    """A copy of a COCO keypoint file or a sasmamba result JSON with its 2D turned by ``roll_deg``
    about the image centre and/or its confidences remapped by ``conf`` (a function on (0, 1])."""
    d = json.loads(src.read_text())
    if d.get("schema") == "sasmamba-result":
        w, h = d["source"]["width"], d["source"]["height"]
        for t in d["tracks"]:
            for key in ("keypoints_2d_coco", "keypoints_2d"):
                kp = _none_to_nan(t[key])
                kp = _rot(kp, roll_deg, w, h)
                if conf is not None:
                    ok = kp[..., 2] > 0
                    kp[..., 2] = np.where(ok, conf(np.clip(kp[..., 2], 1e-6, 1)), 0.0)
                t[key] = _nan_to_none(kp)
    else:
        w, h = d["width"], d["height"]
        for a in d["annotations"]:
            kp = np.array([np.nan if v is None else v for v in a["keypoints"]], dtype=np.float64).reshape(17, 3)
            kp = _rot(kp, roll_deg, w, h)
            if conf is not None:
                ok = kp[:, 2] > 0
                kp[:, 2] = np.where(ok, conf(np.clip(kp[:, 2], 1e-6, 1)), 0.0)
            a["keypoints"] = [None if not np.isfinite(v) else round(float(v), 4) for v in kp.reshape(-1)]
    dst.write_text(json.dumps(d))
    return dst


def unroll_result(d: dict, roll_deg: float) -> dict:
    """A result dict turned back by ``-roll_deg``: 2D about the image centre, 3D about the optical
    axis (the inverse of filming with the camera turned by ``roll_deg``)."""
    if not roll_deg:
        return d
    w, h = d["source"]["width"], d["source"]["height"]
    a = np.deg2rad(-roll_deg)
    c, s = np.cos(a), np.sin(a)
    for t in d["tracks"]:
        for key in ("keypoints_2d_coco", "keypoints_2d"):
            t[key] = _nan_to_none(_rot(_none_to_nan(t[key]), -roll_deg, w, h))
        for key in ("joints_3d", "root_3d"):
            x = np.array(t[key], dtype=np.float64)
            x0, x1 = x[..., 0].copy(), x[..., 1].copy()
            x[..., 0], x[..., 1] = c * x0 - s * x1, s * x0 + c * x1
            t[key] = x.round(6).tolist()
    return d


# --- lifting and scoring -----------------------------------------------------------------------
class Lifter:
    """One loaded pipeline per weight; re-lifts keypoint files with per-row settings."""

    def __init__(self):
        self._pipes: dict = {}

    def pipeline(self, weights: str | None, **settings):
        from sasmamba_cli.pipeline.run import LiftPipeline, LiftSettings

        key = weights or "default"
        if key not in self._pipes:
            self._pipes[key] = LiftPipeline(LiftSettings(weights=weights, device="cpu"))
        p = self._pipes[key]
        p.settings = replace(LiftSettings(weights=weights, device="cpu"), **settings)
        return p

    def video(self, path: Path, out: Path, weights: str | None = None, **settings) -> Path:
        from sasmamba_cli.pipeline.result import write_json

        if out.exists():
            return out
        r = self.pipeline(weights, **settings).run_video(path)
        write_json(r, out)
        return out

    def keypoints(self, path: Path, weights: str | None = None, **settings) -> dict:
        from sasmamba_cli.pipeline.result import result_to_dict

        r = self.pipeline(weights, **settings).run_keypoints(path)
        return result_to_dict(r)


def score(realval: Path, cam: str, result: dict | None = None, baseline: bool = False) -> dict:
    """realval's score.py on a result dict (or the mean-pose baseline): its summary JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [sys.executable, str(realval / "score.py")]
        if baseline:
            args += ["--baseline", "mean-pose"]
        else:
            est = Path(tmp) / f"{cam}.json"
            est.write_text(json.dumps(result))
            args += [str(est)]
        out = Path(tmp) / "score.json"
        p = subprocess.run(args + ["--camera", cam, "--json", str(out)], capture_output=True, text=True)
        if p.returncode != 0:
            return {"error": (p.stderr or p.stdout).strip().splitlines()[-1]}
        s = json.loads(out.read_text())
        s.pop("frames", None)
        return s


def fmt(s: dict) -> str:
    if "error" in s:
        return f"error: {s['error'][:60]}"
    return (f"{s['pa_mpjpe']['median']:.1f} / {s['pa_mpjpe']['mean']:.1f} | "
            f"{s['mpjpe_ts']['median']:.1f} / {s['mpjpe_ts']['mean']:.1f}")


CONF_MAPS = {"raw": None, "sqrt": np.sqrt, "square": np.square, "ones": np.ones_like}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realval", type=Path, default=DEFAULT_REALVAL)
    ap.add_argument("--work", type=Path, default=ROOT / "work_data" / "realval")
    ap.add_argument("--weights", nargs="+", default=["sasmamba_default", "sasmamba_s81"])
    ap.add_argument("--sections", nargs="+", default=["main", "roll", "conf"])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    a = ap.parse_args()
    if not (a.realval / "score.py").is_file():
        print(f"skipped: realval not found at {a.realval} (pass --realval DIR)")
        return 0
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp())
    a.work.mkdir(parents=True, exist_ok=True)
    import torch
    torch.set_num_threads(int(os.environ.get("REALVAL_THREADS", "1")))
    L = Lifter()
    t0 = time.time()
    rows: list[dict] = []
    md = ["| section | 2D | weights | settings | cam01 PA med / mean \\| TS med / mean | "
          "cam02 PA med / mean \\| TS med / mean |", "|---|---|---|---|---|---|"]

    def add(section, src, weights, label, per_cam):
        row = {"section": section, "2d": src, "weights": weights, "settings": label, **per_cam}
        rows.append(row)
        line = f"| {section} | {src} | {weights} | {label} | {fmt(per_cam['cam01'])} | {fmt(per_cam['cam02'])} |"
        md.append(line)
        print(line, flush=True)

    # our detector's 2D: detect once per view (default settings), re-lift the result JSON per row
    det = {cam: L.video(a.realval / f"{cam}.mp4", a.work / f"yolo_{cam}.json") for cam in CAMS}
    p2d = {cam: a.realval / f"perfect2d_{cam}.json" for cam in CAMS}
    sources = {"yolo11n": det, "perfect": p2d}

    if "main" in a.sections:
        add("main", "-", "mean pose", "her own mean pose", {c: score(a.realval, c, baseline=True) for c in CAMS})
        variants = [("defaults", {}), ("no flip TTA", {"flip_tta": False}), ("no upright", {"upright": False}),
                    ("smooth none", {"smooth": "none"}), ("no swap repair", {"fix_swaps": False}),
                    ("no edge trim", {"edge_min_visible": 0.0}), ("FK-consistent", {"fk_consistent": True})]
        for src, files in sources.items():
            for w in a.weights:
                for label, st in variants:
                    if src == "perfect" and label in ("no swap repair", "no edge trim"):
                        continue
                    add("main", src, w, label, {c: score(a.realval, c, L.keypoints(files[c], w, **st)) for c in CAMS})

    if "roll" in a.sections:
        for src, files in sources.items():
            for w in a.weights:
                for upright in (True, False):
                    for deg in ROLLS:
                        per = {}
                        for c in CAMS:
                            f = transform_keypoint_file(files[c], a.work / f"roll_{src}_{c}_{deg}.json", roll_deg=deg)
                            per[c] = score(a.realval, c, unroll_result(L.keypoints(f, w, upright=upright), deg))
                        add("roll", src, w, f"roll {deg:+d} deg, upright {'on' if upright else 'off'}", per)

    if "conf" in a.sections:
        for src in ("yolo11n",):
            for w in a.weights:
                for name, fn in CONF_MAPS.items():
                    per = {}
                    for c in CAMS:
                        f = transform_keypoint_file(sources[src][c], a.work / f"conf_{src}_{c}_{name}.json", conf=fn)
                        per[c] = score(a.realval, c, L.keypoints(f, w))
                    add("conf", src, w, f"confidences {name}", per)

    took = time.time() - t0
    print(f"\n{len(rows)} rows in {took:.0f} s")
    if a.json:
        a.json.write_text(json.dumps({"rows": rows, "seconds": took}, indent=1))
    if a.markdown:
        a.markdown.write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
