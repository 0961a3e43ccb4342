"""Copy a trained run's best checkpoint into assets/weights and write its model card.

    python scripts/ship_weights.py runs/sasmamba_xs --name sasmamba_default \
        --eval results/eval_sasmamba_xs.json --log runs/sasmamba_xs/log.csv

The card is ``MODEL_CARD.md`` for the default weights, ``MODEL_CARD_<name>.md`` for others.
The weights file is copied unchanged (its sha256 stays the one in the metadata); the metadata
gains the licence, the data attribution and the held-out metrics from `sasmamba eval --out`.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

LICENCES = {
    "CC-BY-NC-4.0": ("CC BY-NC 4.0 (non-commercial only)",
                     "Bandai Namco Research Motion dataset (Bandai Namco Research Inc.; Kobayashi et al. 2023, "
                     "arXiv:2306.08861), CC BY-NC 4.0"),
    "CMU": ("CMU Graphics Lab Motion Capture Database terms",
            "The data used in this project was obtained from mocap.cs.cmu.edu. The database was created "
            "with funding from NSF EIA-0196217."),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--name", default="sasmamba_default")
    ap.add_argument("--eval", type=Path, required=True, help="JSON written by `sasmamba eval --out`")
    ap.add_argument("--log", type=Path)
    ap.add_argument("--dest", type=Path, default=Path("assets/weights"))
    ap.add_argument("--note", default="", help="training history to state in the card (e.g. resumed runs)")
    ap.add_argument("--hardware", default="on the CPU machine described in docs/results.md",
                    help="where the training minutes were spent, as a phrase for the card")
    args = ap.parse_args()

    src_w, src_j = args.run / "best.safetensors", args.run / "best.json"
    meta = json.loads(src_j.read_text())
    ev = json.loads(args.eval.read_text())
    if ev.get("weights_sha256") != meta["weights_sha256"]:
        raise SystemExit(f"{args.eval} evaluated weights {ev.get('weights_sha256')}, not {meta['weights_sha256']}")
    lic = meta["data"]["licences"]
    restrictive = "CC-BY-NC-4.0" in lic
    meta["licence"] = "CC-BY-NC-4.0" if restrictive else "CMU"
    meta["attribution"] = [LICENCES[k][1] for k in lic if k in LICENCES]
    meta["metrics"] = {"test": {"no_tta": ev["no_tta"], "flip_tta": ev["flip_tta"], "clips": ev["clips"],
                                "frames": ev["frames"], "seed": ev["seed"]}}
    args.dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src_w, args.dest / f"{args.name}.safetensors")
    (args.dest / f"{args.name}.json").write_text(json.dumps(meta, indent=2) + "\n")

    val_rows = []
    if args.log and args.log.exists():
        with open(args.log) as f:
            val_rows = [r for r in csv.DictReader(f) if r["val_mpjpe_mm"]]
    o, ot = ev["flip_tta"]["overall"], ev["no_tta"]["overall"]
    cfg = meta["config"]
    card = [f"# Model card: `{args.name}`", "",
            f"- architecture: {meta['arch']} ({', '.join(f'{k}={v}' for k, v in cfg.items())})",
            f"- trainable parameters: {meta.get('params', 'n/a'):,}" if isinstance(meta.get('params'), int) else "",
            f"- window: {meta['window']} frames at {meta['fps']:g} fps; input {meta['input']}",
            f"- output: {meta['output']}",
            f"- weights sha256: `{meta['weights_sha256']}`",
            f"- trained by: `{meta.get('command', '')}` (seed {meta.get('seed')}), {meta.get('steps')} steps, "
            f"{meta.get('epochs')} epochs, {meta.get('train_seconds', 0) / 60:.0f} min {args.hardware}",
            f"- training history: {args.note}" if args.note else None,
            f"- training data: {meta['data']}",
            "", "## Licence of these weights", "",
            ("These weights were trained on data that includes the Bandai Namco Research Motion dataset, "
             "licensed **CC BY-NC 4.0**: the weights inherit that restriction and may be used for "
             "**non-commercial purposes only**." if restrictive else
             "Trained only on CMU motion capture: usable in commercial products, not resellable."),
            "", "Attribution:", *[f"- {a}" for a in meta["attribution"]],
            "", "## Held-out results (split_v1 test part, seeded virtual cameras + detector noise)", "",
            f"{ev['clips']} clips, {ev['frames']} frames. mm, root-relative.", "",
            "| TTA | MPJPE | P-MPJPE | N-MPJPE | MPJVE | accel |", "|---|---|---|---|---|---|",
            f"| none | {ot['mpjpe']:.1f} | {ot['p_mpjpe']:.1f} | {ot['n_mpjpe']:.1f} | {ot['mpjve']:.1f} | {ot['accel']:.1f} |",
            f"| flip | {o['mpjpe']:.1f} | {o['p_mpjpe']:.1f} | {o['n_mpjpe']:.1f} | {o['mpjve']:.1f} | {o['accel']:.1f} |",
            "", "Per source (flip TTA):", "", "| source | groups | MPJPE | P-MPJPE |", "|---|---|---|---|",
            *[f"| {s} | {v['groups']} | {v['mpjpe']:.1f} | {v['p_mpjpe']:.1f} |" for s, v in ev["flip_tta"]["per_source"].items()],
            "", "Reproduce: `sasmamba eval work_data/mocap_all.npz"
            + ("" if args.name == "sasmamba_default" else f" --weights assets/weights/{args.name}.json")
            + "` (see docs/results.md for building the data).",
            "", "## Validation curve (val part, 24 clips, no TTA)", "", "| step | epoch | train min | val MPJPE | val P-MPJPE |",
            "|---|---|---|---|---|",
            *[f"| {r['step']} | {r['epoch']} | {r['train_minutes']} | {r['val_mpjpe_mm']} | {r['val_p_mpjpe_mm']} |" for r in val_rows],
            "", "## Limitations", "",
            "- A small model trained for a short time (hours on 2 CPU cores, at most minutes on a GPU): far "
            "from converged; expect errors well above the paper's Human3.6M numbers.",
            "- 2D inputs were synthesised from motion capture (virtual cameras, simulated detector noise), "
            "not from real detector output on real images.",
            ]
    card_name = "MODEL_CARD.md" if args.name == "sasmamba_default" else f"MODEL_CARD_{args.name}.md"
    (args.dest / card_name).write_text("\n".join(line for line in card if line is not None) + "\n")
    print(f"shipped {args.dest / args.name}.safetensors ({meta['weights_sha256'][:12]}), licence {meta['licence']}")


if __name__ == "__main__":
    main()
