"""How fast may the 2D refinement's correction change? A sweep of its temporal term on realval.

    python benchmarks/refine_rate_sweep.py [--realval DIR] [--work DIR] [--weights NAME]
        [--rates 0 1.0 0.3 0.1] [--out results/refine_rate_sweep.md]

For each rate (m/s; 0 = no temporal term, the stop-12 refinement) the module constant
``pipeline.refine2d.TOL_RATE_M_S`` is set in this process and the detector's 2D of each view
(``WORK/yolo_CAM.json``, written by ``benchmarks/realval.py``) and the perfect 2D
(``perfect2d_CAM.json``) are re-lifted with otherwise default settings and scored with realval's
``score.py`` (median PA-MPJPE / MPJPE-TS, mm, 12 limb joints). "accel" is the mean acceleration of
her track's joints (mm/frame^2, after lift's default 6 Hz filter): the jitter. Development set:
choose the setting here, never train on it. Skips (exit 0) without the realval folder.
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def accel_mm(realval: Path, cam: str, result: dict) -> float:
    import realval as rv

    t = rv.her_track(realval, cam, result)
    j = rv._none_to_nan(t["joints_3d"])
    return float(np.nanmean(np.linalg.norm(j[2:] - 2 * j[1:-1] + j[:-2], axis=-1)) * 1000)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realval", type=Path, default=ROOT.parent / "shared" / "data" / "realval")
    ap.add_argument("--work", type=Path, default=ROOT / "work_data" / "realval_v4")
    ap.add_argument("--weights", default="sasmamba_s81")
    ap.add_argument("--rates", type=float, nargs="+", default=[0.0, 1.0, 0.3, 0.1])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if not (args.realval / "score.py").is_file():
        print(f"skipped: no realval folder at {args.realval}")
        return 0
    import realval as rv

    import sasmamba_cli.pipeline.refine2d as refine

    lifter = rv.Lifter()
    default_rate, default_w = refine.TOL_RATE_M_S, refine.W_SMOOTH
    rows = []
    for rate in args.rates:
        refine.W_SMOOTH, refine.TOL_RATE_M_S = (0.0, default_rate) if rate <= 0 else (default_w, rate)
        cells = []
        for cam in ("cam01", "cam02"):
            for path in (args.work / f"yolo_{cam}.json", args.realval / f"perfect2d_{cam}.json"):
                if not path.is_file():
                    print(f"missing {path}: run benchmarks/realval.py --work {args.work} first", file=sys.stderr)
                    return 2
                d = lifter.keypoints(path, args.weights)
                s = rv.score(args.realval, cam, d)
                cells.append((s["pa_mpjpe"]["median"], s["mpjpe_ts"]["median"], accel_mm(args.realval, cam, d)))
        rows.append((rate, cells))
        print(rate, [f"{a:.1f}/{b:.1f} acc {c:.2f}" for a, b, c in cells], file=sys.stderr, flush=True)
    refine.W_SMOOTH, refine.TOL_RATE_M_S = default_w, default_rate

    cmd = "python benchmarks/refine_rate_sweep.py" + "".join(f" {a}" for a in sys.argv[1:])
    lines = ["# 2D refinement: temporal term sweep on realval", "",
             f"- Command: `{cmd}`",
             f"- Machine: {platform.machine()}, Python {platform.python_version()}; lifter `{args.weights}`, "
             f"default settings otherwise (the shipped rate is {default_rate} m/s).",
             "- PA / TS: median PA-MPJPE / MPJPE-TS (mm, score.py, 12 limb joints); accel: mean acceleration "
             "of her track's joints (mm/frame^2, after the default 6 Hz filter).", "",
             "| rate (m/s) | cam01 YOLO PA / TS | cam01 perfect PA / TS | cam02 YOLO PA / TS | cam02 perfect PA / TS "
             "| accel cam01 / cam02 (YOLO) |",
             "|---|---|---|---|---|---|"]
    for rate, c in rows:
        name = "off (no temporal term)" if rate <= 0 else f"{rate:g}"
        lines.append(f"| {name} | {c[0][0]:.1f} / {c[0][1]:.1f} | {c[1][0]:.1f} / {c[1][1]:.1f} | "
                     f"{c[2][0]:.1f} / {c[2][1]:.1f} | {c[3][0]:.1f} / {c[3][1]:.1f} | {c[0][2]:.2f} / {c[2][2]:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
