"""A markdown table of several ``sasmamba eval --out`` results that differ in one setting (a
sweep: ``--pitch``, ``--roll``, ``--seed`` ...), one row per file, sorted by that setting.

    python benchmarks/eval_sweep_table.py results/pitch_mocap/*.json --key pitch_deg [--tta flip_tta]
        [--out results/pitch_mocap/table.md]

Columns: the key, clips, frames, overall MPJPE and P-MPJPE, each source's P-MPJPE (mm), then the
spread (max - min) of the overall P-MPJPE over the rows.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def table(paths: list[Path], key: str, tta: str = "flip_tta") -> str:
    rows = sorted((json.loads(p.read_text()) for p in paths), key=lambda d: (d.get(key) is None, d.get(key)))
    if not rows:
        raise SystemExit("no result files given")
    sources = sorted({s for d in rows for s in d[tta]["per_source"]})
    out = [f"| {key} | clips | frames | MPJPE | P-MPJPE | " + " | ".join(f"{s} P-MPJPE" for s in sources) + " |",
           "|---" * (5 + len(sources)) + "|"]
    for d in rows:
        r = d[tta]
        out.append(f"| {d.get(key)} | {d['clips']} | {d['frames']} | {r['overall']['mpjpe']:.1f} | "
                   f"{r['overall']['p_mpjpe']:.1f} | "
                   + " | ".join(f"{r['per_source'][s]['p_mpjpe']:.1f}" if s in r["per_source"] else "-" for s in sources)
                   + " |")
    p = [d[tta]["overall"]["p_mpjpe"] for d in rows]
    out.append("")
    out.append(f"Spread (max - min) of the overall P-MPJPE over the rows: {max(p) - min(p):.1f} mm "
               f"({tta}, weights {rows[0].get('weights')}).")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, nargs="+")
    ap.add_argument("--key", required=True, help="the setting that differs, a key of the eval JSON (e.g. pitch_deg)")
    ap.add_argument("--tta", default="flip_tta", choices=["flip_tta", "no_tta"])
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    text = table(a.results, a.key, a.tta)
    print(text, end="")
    if a.out:
        a.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
