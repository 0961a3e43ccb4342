"""Camera-roll sweep on the mocap test split, where the 3D is exact.

    python benchmarks/roll_mocap.py work_data/mocap_all.npz [--weights W] [--max-frames 81]
        [--rolls -45 -30 -15 0 15 30 45] [--pitch DEG] [--threads 2] [--out results/roll_mocap.json]

Every test clip is seen through its seeded virtual camera (as ``sasmamba eval``) with the roll set
to each angle (``VirtualConfig.roll_fixed_deg``, the same as ``sasmamba eval --roll DEG``), lifted
with ``--upright`` on and off, flip TTA, no smoothing. Prints MPJPE and P-MPJPE (mm) per angle and
the spread (max - min) over angles. ``--max-frames`` scores the first N frames of each clip
(quicker; the full clips: ``--max-frames 0``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--max-frames", type=int, default=81)
    ap.add_argument("--rolls", type=float, nargs="+", default=[-45, -30, -15, 0, 15, 30, 45])
    ap.add_argument("--pitch", type=float, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    if not a.data.is_file():
        print(f"skipped: {a.data} not found (build it as in docs/data.md)")
        return 0
    import numpy as np
    import torch

    from sasmamba_cli.mocap.dataset import split_indices
    from sasmamba_cli.pipeline.lifting import load_lifter
    from sasmamba_cli.training.evaluate import evaluate
    from sasmamba_cli.training.trainer import load_data
    from sasmamba_cli.training.virtual import VirtualConfig

    torch.set_num_threads(a.threads)
    lifter = load_lifter(a.weights, "cpu")
    ds = load_data([str(a.data)])
    clips = split_indices(ds, None, "test")
    rows = []
    t0 = time.time()
    print(f"| upright | {' | '.join(f'{r:+.0f}' for r in a.rolls)} | spread |")
    print("|---|" + "---|" * (len(a.rolls) + 1))
    for upright in (True, False):
        per = []
        for roll in a.rolls:
            res = evaluate(lifter.model, ds, clips, lifter.window, lifter.in_chans, seed=0, flip_modes=(True,),
                           max_frames_per_clip=a.max_frames or None, upright=upright,
                           virtual=VirtualConfig(roll_fixed_deg=roll, pitch_fixed_deg=a.pitch))
            o = res["flip_tta"]["overall"]
            per.append(o)
            rows.append({"upright": upright, "roll_deg": roll, "pitch_deg": a.pitch, **o,
                         "clips": res["clips"], "frames": res["frames"]})
        pm = [o["p_mpjpe"] for o in per]
        mp = [o["mpjpe"] for o in per]
        print(f"| {'on' if upright else 'off'} P-MPJPE | " + " | ".join(f"{v:.1f}" for v in pm)
              + f" | {max(pm) - min(pm):.1f} |")
        print(f"| {'on' if upright else 'off'} MPJPE | " + " | ".join(f"{v:.1f}" for v in mp)
              + f" | {max(mp) - min(mp):.1f} |", flush=True)
    took = time.time() - t0
    print(f"\n{len(clips)} test clips, first {a.max_frames or 'all'} frames each; weights "
          f"{lifter.weights_path.name}; {took:.0f} s")
    if a.out:
        a.out.write_text(json.dumps({"rows": rows, "seconds": took, "weights": str(lifter.weights_path.name),
                                     "max_frames": a.max_frames, "command": " ".join(sys.argv)}, indent=1))
    del np
    return 0


if __name__ == "__main__":
    sys.exit(main())
