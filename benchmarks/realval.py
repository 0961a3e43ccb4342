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
- ``options2d``: the 2D options before lifting: detector flip TTA (``--det-flip``) at each
  ``--imgsz``, each with the 2D temporal filters of ``--smooth-2d`` (re-lifted), first weight.

Scores come from realval's own ``score.py`` (median and mean PA-MPJPE and MPJPE-TS over frames,
12 limb joints, the woman's track found by 2D distance). Skips (exit 0) without the folder.
"""
from __future__ import annotations

import argparse
import hashlib
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
    """(..., >=2) px turned by ``deg`` (clockwise on screen) about the image centre: the pipeline's
    own camera-roll turn (:func:`sasmamba_cli.pipeline.roll.rotate_keypoints`)."""
    from sasmamba_cli.pipeline.roll import rotate_keypoints

    return rotate_keypoints(kp, np.deg2rad(deg), w, h)


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
    from sasmamba_cli.pipeline.roll import rotate_camera_z

    w, h = d["source"]["width"], d["source"]["height"]
    for t in d["tracks"]:
        for key in ("keypoints_2d_coco", "keypoints_2d"):
            t[key] = _nan_to_none(_rot(_none_to_nan(t[key]), -roll_deg, w, h))
        for key in ("joints_3d", "root_3d"):
            t[key] = rotate_camera_z(np.array(t[key], dtype=np.float64), np.deg2rad(-roll_deg)).round(6).tolist()
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
        key = (p.settings.imgsz, p.settings.kp_threshold, p.settings.detector, p.settings.det_conf,
               p.settings.det_flip, p.settings.refine_crops)
        if getattr(p, "_bench_det_key", key) != key:
            p._detector = None                     # the detector is built from the settings on first use
        p._bench_det_key = key
        return p

    def video(self, path: Path, out: Path, weights: str | None = None, **settings) -> Path:
        from sasmamba_cli.batch import lift_clip
        from sasmamba_cli.pipeline.result import write_json

        if out.exists():
            return out
        r = lift_clip(self.pipeline(weights, **settings), path)          # FK-consistent stage included
        write_json(r, out)
        return out

    def keypoints(self, path: Path, weights: str | None = None, **settings) -> dict:
        from sasmamba_cli.batch import lift_clip
        from sasmamba_cli.pipeline.result import result_to_dict

        r = lift_clip(self.pipeline(weights, **settings), path, keypoints_mode=True)
        return result_to_dict(r)


def weights_tag(weights: str | None) -> str:
    """A file-name tag for results lifted with ``weights`` (cached lifts of different weights must
    not be taken for each other): empty for the shipped default, else the name or file stem and a
    short hash of the path."""
    from sasmamba_cli.weights import DEFAULT_ALIAS, DEFAULT_WEIGHTS_NAME

    if weights in (None, DEFAULT_WEIGHTS_NAME, DEFAULT_ALIAS):
        return ""
    stem = "".join(ch if ch.isalnum() else "_" for ch in Path(weights).stem)
    return f"_{stem}_{hashlib.sha256(str(Path(weights).resolve()).encode()).hexdigest()[:8]}"


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
        s.pop("estimate", None)           # a temporary file's path
        return s


def fmt(s: dict) -> str:
    if "error" in s:
        return f"error: {s['error'][:60]}"
    return (f"{s['pa_mpjpe']['median']:.1f} / {s['pa_mpjpe']['mean']:.1f} | "
            f"{s['mpjpe_ts']['median']:.1f} / {s['mpjpe_ts']['mean']:.1f}")


COCO_NAMES = ("nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
              "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle")


def _distances(t: dict, z, cam: str):
    """(track rows, reference rows, (n, 17) px distances) over the frames both have, or None."""
    ref = z[f"keypoints2d_{cam}"].astype(np.float64)
    fidx = {int(f): i for i, f in enumerate(z["frame_index"])}
    rows = [(i, fidx[f]) for i, f in enumerate(t["frames"]) if f in fidx]
    if not rows:
        return None
    a, b = map(list, zip(*rows))
    return a, b, np.linalg.norm(_none_to_nan(t["keypoints_2d_coco"])[a, :, :2] - ref[b], axis=-1)


def her_track(realval: Path, cam: str, result: dict) -> dict | None:
    """The track of ``result`` nearest her reference 2D (score.py's own rule: median px)."""
    z = np.load(realval / "reference.npz")
    best = None
    for t in result["tracks"]:
        got = _distances(t, z, cam)
        if got is not None and (best is None or np.nanmedian(got[2]) < best[0]):
            best = (np.nanmedian(got[2]), t)
    return None if best is None else best[1]


def error_2d(realval: Path, cam: str, result: dict) -> dict:
    """2D error of her track (:func:`her_track`), per scored COCO joint: median px over frames
    where both are valid, and as a fraction of her median torso size (mid-shoulder to mid-hip,
    reference 2D); plus how often the joint was missing (below the keypoint threshold)."""
    z = np.load(realval / "reference.npz")
    ref = z[f"keypoints2d_{cam}"].astype(np.float64)                   # (F, 17, 2)
    torso = np.nanmedian(np.linalg.norm(ref[:, 5:7].mean(1) - ref[:, 11:13].mean(1), axis=-1))
    t = her_track(realval, cam, result)
    if t is None:
        return {"error": "no track overlaps the reference"}
    a, b, d = _distances(t, z, cam)
    d = np.where(z["valid"][b], d, np.nan)
    conf = _none_to_nan(t["keypoints_2d_coco"])[a, :, 2]
    joints = [int(j) for j in z["scored_joints_coco"]]
    per = {COCO_NAMES[j]: {"px": float(np.nanmedian(d[:, j])), "torso": float(np.nanmedian(d[:, j]) / torso),
                           "missing": float(np.mean(~(conf[:, j] > 0)))} for j in joints}
    return {"torso_px": float(torso), "median_px": float(np.nanmedian(d[:, joints])),
            "median_torso": float(np.nanmedian(d[:, joints]) / torso), "per_joint": per}


SCORE_BINS = (0.05, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)
GROSS_TORSO = 0.25       # a keypoint further than a quarter torso from the reference is a gross error


def error_by_score(realval: Path, cam: str, result: dict) -> list[dict]:
    """2D error of her track's scored joints against the detector's own score, per score bin
    (:data:`SCORE_BINS`): count, median px, median as a fraction of torso size, and the share of
    gross errors (> :data:`GROSS_TORSO` torso). ``result`` should be detected with a low keypoint
    threshold so low scores are kept."""
    z = np.load(realval / "reference.npz")
    ref = z[f"keypoints2d_{cam}"].astype(np.float64)
    torso = np.nanmedian(np.linalg.norm(ref[:, 5:7].mean(1) - ref[:, 11:13].mean(1), axis=-1))
    t = her_track(realval, cam, result)
    a, b, d = _distances(t, z, cam)
    joints = [int(j) for j in z["scored_joints_coco"]]
    ok = z["valid"][b][:, joints] & np.isfinite(d[:, joints])
    conf = _none_to_nan(t["keypoints_2d_coco"])[a][:, joints, 2][ok]
    dist = d[:, joints][ok]
    out = []
    for lo, hi in zip(SCORE_BINS[:-1], SCORE_BINS[1:]):
        m = (conf >= lo) & (conf < hi)
        n = int(m.sum())
        out.append({"score": [lo, min(hi, 1.0)], "n": n,
                    "median_px": float(np.median(dist[m])) if n else None,
                    "median_torso": float(np.median(dist[m]) / torso) if n else None,
                    "gross": float(np.mean(dist[m] > GROSS_TORSO * torso)) if n else None})
    return out


# H36M-17 slot -> BlazePose landmark (limb joints; pelvis = mid-hip, thorax = mid-shoulder; the head
# joints are not scored)
_H36M_FROM_BP = {1: 24, 2: 26, 3: 28, 4: 23, 5: 25, 6: 27, 11: 11, 12: 13, 13: 15, 14: 12, 15: 14, 16: 16,
                 9: 0, 10: 0}


def mediapipe_world(video: Path, track: dict, out_npz: Path) -> Path:
    """MediaPipe's own 3D, the peer a user would pick instead: BlazePose *full* (the model in the
    mediapipe 0.10.18 wheel), video mode, on a square crop of her YOLO box in every frame; its
    world landmarks (metres, hip-centred, x right, y down, z away from the camera) as H36M-17 mm."""
    import cv2

    from sasmamba_cli.pipeline.crops import cut, square_crop
    import mediapipe as mp

    pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, enable_segmentation=False)
    boxes = {int(f): np.array(b, dtype=np.float64) for f, b in zip(track["frames"], track["boxes_2d"])}
    cap = cv2.VideoCapture(str(video))
    joints, frames = [], []
    f = 0
    # one fixed crop size and place (her box over the clip) keeps video mode's tracking consistent
    allb = np.array(list(boxes.values()))
    x0, y0, side = square_crop(np.array([allb[:, 0].min(), allb[:, 1].min(), allb[:, 2].max(), allb[:, 3].max()]), 1.1)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if f in boxes:
            res = pose.process(np.ascontiguousarray(cut(frame, x0, y0, side)[..., ::-1]))
            if res.pose_world_landmarks is not None:
                lm = res.pose_world_landmarks.landmark
                p = np.array([[q.x, q.y, q.z] for q in lm]) * 1000.0
                j = np.full((17, 3), np.nan)
                for h, b in _H36M_FROM_BP.items():
                    j[h] = p[b]
                j[0] = (p[23] + p[24]) / 2
                j[8] = (p[11] + p[12]) / 2
                j[7] = (j[0] + j[8]) / 2
                joints.append(j)
                frames.append(f)
        f += 1
    cap.release()
    np.savez(out_npz, joints_h36m17=np.array(joints), frame_index=np.array(frames), units="mm")
    return out_npz


def score_npz(realval: Path, cam: str, npz: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "score.json"
        p = subprocess.run([sys.executable, str(realval / "score.py"), str(npz), "--camera", cam, "--json", str(out)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            return {"error": (p.stderr or p.stdout).strip().splitlines()[-1]}
        s = json.loads(out.read_text())
        s.pop("frames", None)
        return s


def have_mediapipe() -> bool:
    try:
        import mediapipe as mp
        return hasattr(mp, "solutions")
    except ImportError:
        return False


CONF_MAPS = {"raw": None, "sqrt": np.sqrt, "square": np.square, "ones": np.ones_like}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realval", type=Path, default=DEFAULT_REALVAL)
    ap.add_argument("--work", type=Path, default=ROOT / "work_data" / "realval")
    ap.add_argument("--weights", nargs="+", default=["sasmamba_s81", "sasmamba_xs", "sasmamba_cmu"],
                    help="lifters to compare (default: every bundled one; the first is the default)")
    ap.add_argument("--sections", nargs="+", default=["detector", "main", "roll", "conf", "options2d",
                                                      "threshold"])
    ap.add_argument("--thresholds", nargs="+", type=float, default=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    ap.add_argument("--smooth-2d", nargs="+", default=["none", "butterworth:12", "butterworth:8", "butterworth:4"])
    ap.add_argument("--imgsz", nargs="+", type=int, default=[640, 960, 1280])
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
    md = ["| section | 2D | weights | settings | cam01 PA-MPJPE median / mean | cam01 MPJPE-TS median / mean | "
          "cam02 PA-MPJPE median / mean | cam02 MPJPE-TS median / mean |", "|---|---|---|---|---|---|---|---|"]

    def add(section, src, weights, label, per_cam):
        row = {"section": section, "2d": src, "weights": weights, "settings": label, **per_cam}
        rows.append(row)
        line = f"| {section} | {src} | {weights} | {label} | {fmt(per_cam['cam01'])} | {fmt(per_cam['cam02'])} |"
        md.append(line)
        print(line, flush=True)

    # our detector's 2D: detect once per view (default settings), re-lift the result JSON per row
    det = {cam: L.video(a.realval / f"{cam}.mp4", a.work / f"yolo_{cam}.json") for cam in CAMS}
    p2d = {cam: a.realval / f"perfect2d_{cam}.json" for cam in CAMS}
    sources = {"yolo11n": det}
    if have_mediapipe():
        sources["blazepose"] = {cam: L.video(a.realval / f"{cam}.mp4", a.work / f"blazepose_{cam}.json",
                                             detector="mediapipe") for cam in CAMS}
    else:
        print("note: mediapipe not installed: no --detector mediapipe rows and no MediaPipe peer row")
    sources["perfect"] = p2d
    for src, files in sources.items():
        if src == "perfect":
            continue
        for c in CAMS:
            e = error_2d(a.realval, c, json.loads(files[c].read_text()))
            rows.append({"section": "2d", "2d": src, "camera": c, **e})
            print(f"2D error {src} {c}: median {e['median_px']:.1f} px = {e['median_torso']:.3f} torso; "
                  + ", ".join(f"{n} {v['px']:.0f}" for n, v in e["per_joint"].items()), flush=True)

    if "detector" in a.sections:
        for imgsz in a.imgsz:
            files = {c: L.video(a.realval / f"{c}.mp4", a.work / f"yolo{imgsz}_{c}.json", imgsz=imgsz) for c in CAMS}
            for c in CAMS:
                e = error_2d(a.realval, c, json.loads(files[c].read_text()))
                rows.append({"section": "2d", "2d": f"yolo11n imgsz {imgsz}", "camera": c, **e})
                print(f"2D error yolo11n imgsz {imgsz} {c}: median {e['median_px']:.1f} px = "
                      f"{e['median_torso']:.3f} torso; " + ", ".join(
                          f"{n} {v['px']:.0f}" for n, v in e["per_joint"].items()), flush=True)
            for w in a.weights:
                add("detector", f"yolo11n imgsz {imgsz}", w, "defaults",
                    {c: score(a.realval, c, L.keypoints(files[c], w)) for c in CAMS})

    if "main" in a.sections:
        add("main", "-", "mean pose", "her own mean pose", {c: score(a.realval, c, baseline=True) for c in CAMS})
        if have_mediapipe():
            per = {}
            for c in CAMS:
                t = her_track(a.realval, c, json.loads(det[c].read_text()))
                per[c] = score_npz(a.realval, c, mediapipe_world(a.realval / f"{c}.mp4", t, a.work / f"mp_world_{c}.npz"))
            add("main", "BlazePose full", "MediaPipe world landmarks", "video mode, crop around her YOLO track", per)
        # options that act before the 2D is saved: from the video, first weight only
        w0 = a.weights[0]
        for label, st in (("no swap repair (video)", {"fix_swaps": False}),
                          ("no edge trim (video)", {"edge_min_visible": 0.0}),
                          ("detector flip (video)", {"det_flip": True})):
            files = {c: L.video(a.realval / f"{c}.mp4", a.work / f"yolo_{label.split()[1]}{weights_tag(w0)}_{c}.json",
                                weights=w0, **st) for c in CAMS}
            add("main", "yolo11n", w0, label, {c: score(a.realval, c, json.loads(files[c].read_text())) for c in CAMS})
        variants = [("defaults", {}), ("no flip TTA", {"flip_tta": False}), ("no upright", {"upright": False}),
                    ("smooth none", {"smooth": "none"}), ("FK-consistent", {"fk_consistent": True}),
                    ("no refine-2d", {"refine_2d": False})]
        for src, files in sources.items():
            for w in a.weights:
                for label, st in (variants if w == a.weights[0] else variants[:1]):
                    add("main", src, w, label, {c: score(a.realval, c, L.keypoints(files[c], w, **st)) for c in CAMS})

    if "roll" in a.sections:
        for src, files in sources.items():
            if src == "blazepose":
                continue
            for w in a.weights[:1]:
                for upright in (True, False):
                    for deg in ROLLS:
                        per = {}
                        for c in CAMS:
                            f = transform_keypoint_file(files[c], a.work / f"roll_{src}_{c}_{deg}.json", roll_deg=deg)
                            per[c] = score(a.realval, c, unroll_result(L.keypoints(f, w, upright=upright), deg))
                        add("roll", src, w, f"roll {deg:+d} deg, upright {'on' if upright else 'off'}", per)

    if "conf" in a.sections:
        for src in ("yolo11n",):
            for w in a.weights[:1]:
                for name, fn in CONF_MAPS.items():
                    per = {}
                    for c in CAMS:
                        f = transform_keypoint_file(sources[src][c], a.work / f"conf_{src}_{c}_{name}.json", conf=fn)
                        per[c] = score(a.realval, c, L.keypoints(f, w))
                    add("conf", src, w, f"confidences {name}", per)

    if "options2d" in a.sections:
        w0 = a.weights[0]
        for imgsz in a.imgsz:
            for flip in (False, True):
                tag = f"yolo11n imgsz {imgsz} det-flip {'on' if flip else 'off'}"
                files = {c: L.video(a.realval / f"{c}.mp4", a.work / f"yolo{imgsz}_{'flip' if flip else 'noflip'}_{c}.json",
                                    imgsz=imgsz, det_flip=flip) for c in CAMS}
                for c in CAMS:
                    e = error_2d(a.realval, c, json.loads(files[c].read_text()))
                    rows.append({"section": "2d", "2d": tag, "camera": c, **e})
                    print(f"2D error {tag} {c}: median {e['median_px']:.1f} px = {e['median_torso']:.3f} torso", flush=True)
                for sm in a.smooth_2d:
                    add("options2d", tag, w0, f"smooth-2d {sm}",
                        {c: score(a.realval, c, L.keypoints(files[c], w0, smooth_2d=sm)) for c in CAMS})

    if "threshold" in a.sections:
        w0 = a.weights[0]
        files = {c: L.video(a.realval / f"{c}.mp4", a.work / f"yolo_kp005_{c}.json", kp_threshold=0.05) for c in CAMS}
        for c in CAMS:
            bins = error_by_score(a.realval, c, json.loads(files[c].read_text()))
            rows.append({"section": "score_vs_error", "2d": "yolo11n", "camera": c, "bins": bins})
            for bn in bins:
                if bn["n"]:
                    print(f"score {bn['score'][0]:.2f}-{bn['score'][1]:.2f} {c}: n {bn['n']}, median "
                          f"{bn['median_px']:.1f} px = {bn['median_torso']:.3f} torso, gross {bn['gross']:.0%}", flush=True)
        for th in a.thresholds:
            add("threshold", "yolo11n", w0, f"--kp-threshold {th:g}",
                {c: score(a.realval, c, L.keypoints(files[c], w0, kp_threshold=th)) for c in CAMS})

    took = time.time() - t0
    print(f"\n{len(rows)} rows in {took:.0f} s")
    if a.json:
        a.json.write_text(json.dumps({"rows": rows, "seconds": took}, indent=1))
    if a.markdown:
        import platform

        head = [f"# realval: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`", "",
                f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
                f"{torch.get_num_threads()} thread(s); {took:.0f} s. mm, 12 limb joints, realval's score.py.", ""]
        a.markdown.write_text("\n".join(head + md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
