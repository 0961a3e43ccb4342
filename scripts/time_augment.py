"""Cost of the pose-space augmentation per training window: the sampler's time per window with a
config's ``virtual`` settings as they are and with every augmentation switched off.

    python scripts/time_augment.py configs/sasmamba_s81_ft_aug_cpu.json --data work_data/mocap_all.npz

Both variants draw the same number of windows from the training clips (window and upright of the
config), alternating in rounds so that load from other processes hits both alike; prints the
median seconds per window of each and their ratio (augmented / off); a third variant has every
augmentation's probability at 1 (the worst case). Timings depend on the
machine and its load: quote the ratio, not the absolute numbers.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np

from sasmamba_cli.mocap.dataset import split_indices
from sasmamba_cli.training.sampler import WindowSampler
from sasmamba_cli.training.trainer import load_data, virtual_config

#: the VirtualConfig fields that switch an augmentation on
SWITCHES = ("limb_mix_p", "fk_p", "proportion_p", "lean_p", "tilt_p")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", help="training config JSON (its virtual, window, in_chans, upright)")
    ap.add_argument("--data", nargs="+", help="dataset .npz (default: the config's data)")
    ap.add_argument("--windows", type=int, default=64, help="windows per round and variant")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    cfg = json.loads(open(args.config).read())
    ds = load_data(args.data or cfg["data"])
    clips = split_indices(ds, None, "train")
    on = virtual_config(cfg.get("virtual", {}))
    off = dataclasses.replace(on, **{k: 0.0 for k in SWITCHES})
    every = dataclasses.replace(on, **{k: 1.0 for k in SWITCHES})
    samplers = {name: WindowSampler(ds, clips, cfg["window"], cfg["in_chans"], virtual=v,
                                    upright=cfg.get("upright", False))
                for name, v in (("off", off), ("on", on), ("all", every))}
    times = {name: [] for name in samplers}
    for r in range(args.rounds):
        for name, s in samplers.items():
            rng = np.random.default_rng(r)
            t = time.perf_counter()
            s.batch(args.windows, rng)
            times[name].append((time.perf_counter() - t) / args.windows)
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(f"windows of {cfg['window']} frames, {args.rounds} rounds x {args.windows} windows per variant")
    for k in samplers:
        print(f"{k:>3}: median {med[k] * 1e3:.2f} ms / window")
    print(f"ratio on / off: {med['on'] / med['off']:.2f}   (on: the config's probabilities)")
    print(f"ratio all / off: {med['all'] / med['off']:.2f}  (all: every augmentation on every window)")


if __name__ == "__main__":
    main()
