"""Build docs/results.md from `sasmamba eval --out` JSON files of several trained models.

    python benchmarks/results_table.py results/eval_*.json --header docs/results_header.md \
        --footer docs/results_footer.md --out docs/results.md

MACs per frame: matrix products and convolutions counted by torch's FlopCounterMode (FLOPs / 2)
plus an analytic count of the selective scan's element-wise recurrence (per token, direction,
channel and state: exp(dt*A), dt*u*B, the fused multiply-add: ~3 MACs), for one window of the
model's length divided by its frame count.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def macs_per_frame(weights: str) -> tuple[float, int]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from sasmamba_models.block import SASSSM
    from sasmamba_models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(weights)
    t = int(meta.get("window", 27))
    cfg = model.config
    x = torch.zeros(1, t, 17, getattr(cfg, "in_chans", 2))
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        model(x)
    macs = fc.get_total_flops() / 2
    for m in model.modules():
        if isinstance(m, SASSSM):
            macs += 4 * m.di * m.d_state * (t * 17) * 3
    return macs / t, sum(p.numel() for p in model.parameters() if p.requires_grad)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("evals", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/results.md"))
    ap.add_argument("--header", type=Path, help="Markdown to put above the table")
    ap.add_argument("--footer", type=Path, help="Markdown to put below the tables (discussion, commands)")
    args = ap.parse_args()
    rows = []
    for p in args.evals:
        ev = json.loads(p.read_text())
        meta = json.loads(Path(ev["weights"]).with_suffix(".json").read_text())
        macs, params = macs_per_frame(ev["weights"])
        rows.append((p.stem.replace("eval_", ""), ev, meta, macs, params))
    lines = [args.header.read_text().rstrip() + "\n" if args.header else "# Results", "",
             "| model | arch | params | MMACs / frame | train min | steps | MPJPE | P-MPJPE | N-MPJPE | MPJVE | accel "
             "| MPJPE (flip TTA) | P-MPJPE (flip TTA) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, ev, meta, macs, params in rows:
        a, f = ev["no_tta"]["overall"], ev["flip_tta"]["overall"]
        lines.append(f"| {name} | {meta['arch']} | {params:,} | {macs / 1e6:.2f} | {meta.get('train_seconds', 0) / 60:.0f} | "
                     f"{meta.get('steps', 0)} | {a['mpjpe']:.1f} | {a['p_mpjpe']:.1f} | {a['n_mpjpe']:.1f} | {a['mpjve']:.1f} | "
                     f"{a['accel']:.1f} | {f['mpjpe']:.1f} | {f['p_mpjpe']:.1f} |")
    lines += ["", "Per source (flip TTA, MPJPE / P-MPJPE mm):", "",
              "| model | " + " | ".join(sorted(rows[0][1]["flip_tta"]["per_source"])) + " |",
              "|---|" + "---|" * len(rows[0][1]["flip_tta"]["per_source"])]
    for name, ev, *_ in rows:
        ps = ev["flip_tta"]["per_source"]
        lines.append(f"| {name} | " + " | ".join(f"{ps[s]['mpjpe']:.1f} / {ps[s]['p_mpjpe']:.1f}" for s in sorted(ps)) + " |")
    lines += ["", f"Evaluated on {rows[0][1]['clips']} clips / {rows[0][1]['frames']} frames of the `{rows[0][1]['part']}` part "
              f"(seed {rows[0][1]['seed']}); commands: `sasmamba eval work_data/mocap_all.npz --weights W --out results/eval_NAME.json`."]
    if args.footer:
        lines += ["", args.footer.read_text().rstrip()]
    args.out.write_text("\n".join(lines) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
