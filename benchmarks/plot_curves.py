"""Training curves of the runs in ``runs/``: validation MPJPE against training samples and minutes.

    python benchmarks/plot_curves.py [--runs runs] [--out docs/training_curves.png]

Reads each ``runs/NAME/log.csv`` written by ``sasmamba train`` (rows with a ``val_mpjpe_mm`` value
are validation points: no flip TTA, the 24 validation clips) and writes one PNG with two panels, plus
a Markdown table of the last validation point and the best one per run on stdout. The sample axis
counts frames (windows x the run's window length, from its config.json), so runs with 27- and
81-frame windows share it.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path


def read_val_points(log: Path) -> list[dict]:
    """Validation rows of a training log: dicts with step, samples, minutes, val (mm)."""
    rows = []
    with log.open(newline="") as f:
        for r in csv.DictReader(f):
            if r.get("val_mpjpe_mm"):
                rows.append({"step": int(r["step"]), "samples": int(r["samples"]),
                             "minutes": float(r["train_minutes"]), "val": float(r["val_mpjpe_mm"])})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--out", type=Path, default=Path("docs/training_curves.png"))
    ap.add_argument("--skip", nargs="*", default=["mean_pose", "sasmamba_xs_832", "ablation_m_832", "sasmamba_xs_cmu"],
                    help="run names to leave out (the _832 runs are snapshots of the longer runs; the CMU-only "
                         "run validates on CMU clips only, so its curve is not comparable)")
    args = ap.parse_args()

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import json

    curves, windows = {}, {}
    for log in sorted(args.runs.glob("*/log.csv")):
        name = log.parent.name
        if name in args.skip:
            continue
        pts = read_val_points(log)
        if pts:
            curves[name] = pts
            cfg = log.parent / "config.json"
            windows[name] = int(json.loads(cfg.read_text()).get("window", 27)) if cfg.exists() else 27
    if not curves:
        raise SystemExit(f"no runs with validation points under {args.runs}/*/log.csv")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, pts in curves.items():
        label = name if windows[name] == 27 else f"{name} (T={windows[name]})"
        ax1.plot([p["samples"] * windows[name] for p in pts], [p["val"] for p in pts], marker=".", label=label)
        ax2.plot([p["minutes"] for p in pts], [p["val"] for p in pts], marker=".", label=name)
    ax1.set_xscale("log")
    ax1.set_xlabel("training frames seen (windows x window length)")
    ax2.set_xlabel("training minutes (1 CPU thread; *_gpu: partly or all on a GPU)")
    for ax in (ax1, ax2):
        ax.set_ylabel("validation MPJPE (mm, no TTA)")
        ax.grid(True, alpha=0.3)
    ax1.legend(fontsize=8)
    fig.suptitle("sasmamba train: validation MPJPE during training")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}\n")
    print("| run | steps | samples | minutes | last val MPJPE | best val MPJPE (at samples) |")
    print("|---|---|---|---|---|---|")
    for name, pts in curves.items():
        best = min(pts, key=lambda p: p["val"])
        last = pts[-1]
        print(f"| {name} | {last['step']} | {last['samples']:,} | {last['minutes']:.0f} | {last['val']:.1f} | "
              f"{best['val']:.1f} ({best['samples']:,}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
