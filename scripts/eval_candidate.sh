#!/usr/bin/env bash
# Judge a candidate lifter against the shipped default before shipping it (the accuracy issue:
# "at least as good as sasmamba_s81 on every realval and mocap row"): realval (main, roll and
# score-scale sections) and the mocap test split with 8 cameras per clip.
#
#   scripts/eval_candidate.sh WEIGHTS.json OUTDIR [THREADS]
#
# Writes OUTDIR/realval.{json,md} and OUTDIR/eval_81f_cameras8.json; compare with
# results/realval_stop14.md (+ results/ft_real2d/realval_conf_step700.md for s81's conf rows) and
# results/eval_s81_81f_cameras8.json. Needs ../shared (realval) and work_data/mocap_all.npz.
set -eu
W=$1
OUTDIR=$2
THREADS=${3:-2}
mkdir -p "$OUTDIR"
export YOLO_CONFIG_DIR=${YOLO_CONFIG_DIR:-out/yolo_config}   # ultralytics' settings (out/ is git-ignored)
python benchmarks/realval.py --work work_data/realval_v4 --sections main roll conf --weights "$W" \
    --json "$OUTDIR/realval.json" --markdown "$OUTDIR/realval.md"
sasmamba eval work_data/mocap_all.npz --weights "$W" --max-frames-per-clip 81 --threads "$THREADS" \
    --smooth none --cameras 8 --out "$OUTDIR/eval_81f_cameras8.json"
