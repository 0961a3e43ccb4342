"""Carry a training dataset to a GPU machine inside a size limit, and restore it there.

    python scripts/gpu_data.py pack work_data/mocap_all.npz .gpu_carry/mocap_all_i16.npz
    python scripts/gpu_data.py unpack .gpu_carry/mocap_all_i16.npz work_data/mocap_all.npz

``pack`` rounds the joint arrays (``*_mm``, millimetres) to int16 and compresses (refusing values
outside int16); ``unpack`` writes them back as float32. The round trip changes each coordinate by
at most 0.5 mm; every other field is copied unchanged. (The device tool carries at most 64 MiB.)
"""
from __future__ import annotations

import sys

import numpy as np


def pack(src: str, dst: str) -> None:
    z = np.load(src, allow_pickle=False)
    out = {}
    for k in z.files:
        a = z[k]
        if k.endswith("_mm"):
            if np.abs(a).max() > 32767:
                raise SystemExit(f"{src}:{k} holds values beyond +-32767 mm; cannot pack to int16")
            a = np.rint(a).astype(np.int16)
        out[k] = a
    np.savez_compressed(dst, **out)


def unpack(src: str, dst: str) -> None:
    z = np.load(src, allow_pickle=False)
    np.savez(dst, **{k: (z[k].astype(np.float32) if k.endswith("_mm") else z[k]) for k in z.files})


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("pack", "unpack"):
        raise SystemExit(__doc__)
    (pack if sys.argv[1] == "pack" else unpack)(sys.argv[2], sys.argv[3])
