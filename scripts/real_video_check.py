"""Real-video sanity check of lifter weights (no ground truth): re-lift saved 2D keypoints with
each set of weights and compare how much the FK-consistent stage has to move the joints (how
much the raw lift's bone lengths wobble) and the resulting thigh / shin lengths.

    python scripts/real_video_check.py RESULT.json... --weights sasmamba_default \
        --weights runs/sasmamba_xs_gpu/best.json [--min-frames 100] [--out docs/x.md]

RESULT.json: results of `sasmamba lift` on real videos (their 2D keypoints are re-lifted with
`sasmamba lift --keypoints RESULT.json -f json,bvh --weights W`, with `--edge-min-visible F` when
given: the lift's default edge trim otherwise). Tracks shorter than --min-frames are left out.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def relift(result: Path, weights: str, out: Path, edge_min_visible: float | None = None) -> dict:
    cmd = [sys.executable, "-m", "sasmamba_cli", "lift", "--keypoints", str(result), "-f", "json,bvh",
           "--out", str(out), "--weights", weights, "--quiet"]
    if edge_min_visible is not None:
        cmd += ["--edge-min-visible", str(edge_min_visible)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((out / result.name).read_text())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--weights", action="append", required=True)
    ap.add_argument("--min-frames", type=int, default=100)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--edge-min-visible", type=float, help="passed to sasmamba lift (default: its default)")
    args = ap.parse_args()
    lines = ["| weights | clip | track | frames | mean FK change mm | thigh cm | shin cm |", "|---|---|---|---|---|---|---|"]
    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        for wi, w in enumerate(args.weights):
            changes, shins, thighs = [], [], []
            for ri, r in enumerate(args.results):
                res = relift(r, w, Path(tmp) / f"w{wi}_r{ri}", args.edge_min_visible)
                frames = {t["track_id"]: len(t["frames"]) for t in res["tracks"]}
                for t in res["fk_consistent"]["tracks"]:
                    n = frames.get(t["track_id"], 0)
                    if n < args.min_frames:
                        continue
                    bl = t["bone_lengths_cm"]             # H36M order; index 2 = knee (thigh), 3 = ankle (shin)
                    changes.append(t["mean_change_all_mm"])
                    thighs.append(bl[2])
                    shins.append(bl[3])
                    lines.append(f"| {w} | {r.stem} | {t['track_id']} | {n} | {t['mean_change_all_mm']:.1f} | "
                                 f"{bl[2]:.1f} | {bl[3]:.1f} |")
            summary.append(f"| {w} | {len(changes)} | {sum(changes) / len(changes):.1f} | "
                           f"{min(thighs):.1f}-{max(thighs):.1f} | {min(shins):.1f}-{max(shins):.1f} |")
    text = "\n".join(["| weights | tracks | mean FK change mm | thigh cm | shin cm |", "|---|---|---|---|---|", *summary,
                      "", *lines]) + "\n"
    if args.out:
        args.out.write_text(f"`python {' '.join(sys.argv)}`\n\n" + text)
    print(text)


if __name__ == "__main__":
    main()
