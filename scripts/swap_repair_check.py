"""How well the left/right swap repair (sasmamba_cli/pipeline/swaps.py) works on simulated detections.

    python scripts/swap_repair_check.py work_data/mocap_all.npz [--part test] [--swap-len 1 6]

Every clip of the part is seen through one seeded virtual camera with the training detector noise
(sasmamba_cli/training/virtual.py: jitter, offsets, occlusions with low confidence and missing
joints) twice with the same seed: once without swaps and once with one left/right swap episode
of ``--swap-len`` frames (a random limb pair: forearms, shins, wrists, ankles or hips). The two
captures differ only on the swapped entries, so the clean one is the ground truth. Joints below
the pipeline's keypoint threshold (0.5) are dropped first, as ``sasmamba lift`` does. Printed:
swapped entries restored, and entries the repair changed in the swap-free captures (false
repairs) per 1,000 frames. Positions are compared (the simulated swap exchanges positions only;
the repair moves a point's confidence with it).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+")
    ap.add_argument("--part", default="test")
    ap.add_argument("--swap-len", type=int, nargs=2, default=(1, 6))
    ap.add_argument("--kp-threshold", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--penalty", type=float, default=None, help="swap penalty (default: the pipeline's)")
    args = ap.parse_args()

    from sasmamba_cli.mocap.dataset import split_indices
    from sasmamba_cli.pipeline.swaps import DEFAULT_PENALTY, repair_keypoints
    from sasmamba_cli.training.trainer import load_data
    from sasmamba_cli.training.virtual import VirtualConfig, virtual_capture

    penalty = DEFAULT_PENALTY if args.penalty is None else args.penalty
    ds = load_data(args.data)
    clips = split_indices(ds, None, args.part)
    clean_cfg = VirtualConfig(swap_p=0.0)
    swap_cfg = replace(clean_cfg, swap_p=1.0, swap_len=tuple(args.swap_len))
    frames = swapped = restored = false_clean = false_swapped = clips_fully_restored = 0
    for k in clips:
        a, b = int(ds.clip_start[k]), int(ds.clip_start[k + 1])
        caps = []
        for cfg in (clean_cfg, swap_cfg):
            s = virtual_capture(ds.h36m_mm[a:b], ds.coco_mm[a:b], np.random.default_rng([args.seed, int(k)]), cfg)
            kp = np.asarray(s.coco2d_px, np.float64).copy()
            drop = kp[..., 2] < args.kp_threshold
            kp[drop] = (np.nan, np.nan, 0.0)
            caps.append(kp)
        clean, bad = caps
        same = lambda x, y: np.all((x[..., :2] == y[..., :2]) | (np.isnan(x[..., :2]) & np.isnan(y[..., :2])),
                                   axis=-1)
        hit = ~same(clean, bad)                                   # (T, 17) entries the episode swapped
        fixed_clean, _ = repair_keypoints(clean, penalty=penalty)
        fixed_bad, _ = repair_keypoints(bad, penalty=penalty)
        frames += b - a
        swapped += int(hit.sum())
        ok = same(fixed_bad, clean)
        restored += int((ok & hit).sum())
        false_swapped += int((~ok & ~hit).sum())
        false_clean += int((~same(fixed_clean, clean)).sum())
        clips_fully_restored += bool(ok.all())
    print(f"{args.part}: {len(clips)} clips, {frames} frames, swap episodes of {args.swap_len[0]}-"
          f"{args.swap_len[1]} frames, keypoint threshold {args.kp_threshold}, penalty {penalty}")
    print(f"swapped entries restored: {restored} / {swapped} ({100 * restored / max(swapped, 1):.1f} %); "
          f"clips identical to the swap-free capture after repair: {clips_fully_restored} / {len(clips)}")
    print(f"false repairs: {1000 * false_clean / frames:.2f} entries per 1,000 frames on swap-free captures, "
          f"{1000 * false_swapped / frames:.2f} outside the episode on captures with one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
