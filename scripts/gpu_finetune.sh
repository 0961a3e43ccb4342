#!/usr/bin/env bash
# One session on a lent GPU machine (the `device` tool): fine-tune `sasmamba_s81` with the fitted
# 2D error model, camera roll/pitch/FOV and confidence remaps (configs/sasmamba_s81_ft_real2d_gpu.json;
# the CPU run of the same recipe is configs/sasmamba_s81_ft_real2d_cpu.json), then evaluate the best
# checkpoint on the mocap test split under both noise models. Everything lands under $OUT:
# log.txt, run.tar.gz (the run without its optimiser state), state.safetensors, eval_*.json.
#
#   prepare here:  python scripts/gpu_data.py pack work_data/mocap_all.npz .gpu_carry/mocap_all_i16.npz
#                  (to resume a run: rm -rf .gpu_carry/run && cp -r runs/sasmamba_s81_ft_real2d_gpu .gpu_carry/run)
#   run there:     BUDGET=540 bash scripts/gpu_finetune.sh          (carry .gpu_carry)
#                  POINT7=1 BUDGET=540 bash scripts/gpu_finetune.sh  (also point 7: scripts/gpu_point7.sh)
#   smoke test here (CPU, a few steps): DEVICE=cpu BUDGET=150 TAIL=60 OUT=out/ft_smoke bash scripts/gpu_finetune.sh
set -u
T0=$SECONDS
BUDGET=${BUDGET:-540}            # seconds this script may take in all
TAIL=${TAIL:-120}                # kept for evaluation and packing after training
DEVICE=${DEVICE:-cuda}
CONFIG=${CONFIG:-configs/sasmamba_s81_ft_real2d_gpu.json}
RUN=runs/sasmamba_s81_ft_real2d_gpu
. scripts/gpu_env.sh               # $O (+ log.txt), PYTHONPATH onto the repo, $PY, el

el "machine"
[ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
nproc
$PY -c "import sys, torch, numpy; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'numpy', numpy.__version__)"
[ -f work_data/mocap_all.npz ] || $PY scripts/gpu_data.py unpack .gpu_carry/mocap_all_i16.npz work_data/mocap_all.npz || exit 3
[ -d .gpu_carry/run ] && { rm -rf $RUN && cp -r .gpu_carry/run $RUN; el "resuming $RUN"; }
# POINT7=1: the accuracy issue's GPU point 7 beside the fine-tune (scripts/gpu_point7.sh): mamba-ssm
# builds in the background while training runs; its checks and the s / l throughput run after it
P7=
if [ "${POINT7:-0}" = 1 ]; then
    TAIL=$(( TAIL + 100 ))                      # the checks and the benchmark after training
    MODE=build BUDGET=$(( BUDGET - TAIL - 60 - (SECONDS - T0) )) bash scripts/gpu_point7.sh \
        > "$O/point7_build_console.txt" 2>&1 &     # ends when training does
    P7=$!
fi

MM=$($PY -c "print(round(max(0.5, ($BUDGET - $TAIL - 60 - ($SECONDS - $T0)) / 60), 2))")   # 60 s: start-up and the last checkpoint
el "fine-tuning for $MM min ($CONFIG)"
timeout $(( BUDGET - TAIL - (SECONDS - T0) )) $PY -m sasmamba_cli train --config "$CONFIG" --out $RUN \
    --device "$DEVICE" --max-minutes "$MM" > "$O/train_console.txt" 2>&1
echo "train exit $?"
grep -a "scan backend\|epoch\|resuming\|warm start" "$O/train_console.txt" | tail -n 30
tail -n 3 $RUN/log.csv
# at most 8 files of 16 MiB come back: the optimiser state travels on its own
cp $RUN/state.safetensors "$O/state.safetensors" 2>/dev/null
tar czf "$O/run.tar.gz" --exclude=$RUN/state.safetensors $RUN
if [ -n "$P7" ]; then
    wait $P7
    MODE=bench BUDGET=100 bash scripts/gpu_point7.sh
fi
W=$RUN/best.json
[ -f $W ] || W=$RUN/last.json
left=$(( BUDGET - (SECONDS - T0) - 10 ))
el "evaluating $W on the test part, 81 frames per clip, hand-set noise then the fitted error model (${left} s left)"
timeout $(( left / 2 )) $PY -m sasmamba_cli eval work_data/mocap_all.npz --weights $W --device "$DEVICE" \
    --max-frames-per-clip 81 --smooth none --out "$O/eval_handset_81f.json" > /dev/null; echo "eval exit $?"
left=$(( BUDGET - (SECONDS - T0) - 5 ))
[ $left -gt 10 ] && { timeout $left $PY -m sasmamba_cli eval work_data/mocap_all.npz --weights $W --device "$DEVICE" \
    --max-frames-per-clip 81 --smooth none --error-model yolo11n-pose --out "$O/eval_errmodel_81f.json" > /dev/null
    echo "eval exit $?"; }
ls -la "$O"
el "done"
