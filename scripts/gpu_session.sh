#!/usr/bin/env bash
# One session on a lent GPU machine (the `device` tool; CUDA torch + Triton there, no sasmamba
# install, no mamba-ssm): check the Triton scan on the GPU, resume the preset-s run with it,
# evaluate the result there, then benchmark. Everything lands under $OUT: log.txt,
# runs.tar.gz (the run folder without its optimiser state), s81_state.safetensors,
# eval_s81.json, bench.tar.gz.
#
#   prepare here:  python scripts/gpu_data.py pack work_data/mocap_all.npz .gpu_carry/mocap_all_i16.npz
#                  rm -rf .gpu_carry/sasmamba_s81_gpu && cp -r runs/sasmamba_s81_gpu .gpu_carry/
#   run there:     BUDGET=540 bash scripts/gpu_session.sh        (carry .gpu_carry)
#
# History: the first session (results/gpu_h200/session_log.txt) ran this script's earlier version
# (xs and s trained side by side with the `chunked` scan); this version adds the Triton kernel.
set -u
T0=$SECONDS
BUDGET=${BUDGET:-540}            # seconds this script may take in all
TAIL=${TAIL:-150}                # kept for eval + benchmarks + packing after training
. scripts/gpu_env.sh               # $O (+ log.txt), PYTHONPATH onto the repo, $PY, el
mkdir -p "$O/bench"

el "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
nproc
$PY -c "import sys, torch, numpy, triton; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0), 'numpy', numpy.__version__, 'triton', triton.__version__)"
$PY scripts/gpu_data.py unpack .gpu_carry/mocap_all_i16.npz work_data/mocap_all.npz || exit 3
rm -rf runs/sasmamba_s81_gpu && cp -r .gpu_carry/sasmamba_s81_gpu runs/sasmamba_s81_gpu

el "Triton scan vs the float64 oracle on CUDA (decides the training backend)"
timeout 120 $PY -m pytest -q -p no:cacheprovider -m gpu -rs "tests/test_scan.py::test_cuda_backends_match_ref"
rc=$?
echo "scan tests exit $rc"
if [ $rc -ne 0 ]; then export SASMAMBA_SCAN=chunked; el "Triton scan failed: training with chunked"; fi

MM=$($PY -c "print(round(max(1.0, ($BUDGET - $TAIL - 30 - ($SECONDS - $T0)) / 60), 2))")
el "resuming preset s (T=81) for $MM min"
( timeout $(( BUDGET - TAIL - (SECONDS - T0) )) $PY -m sasmamba_cli train --config runs/sasmamba_s81_gpu/config.json \
    --out runs/sasmamba_s81_gpu --device cuda --workers 10 --threads 2 --max-minutes "$MM" > runs/sasmamba_s81_gpu/console3.txt 2>&1
  echo "s train exit $?" ) &
PS=$!

el "remaining GPU tests (while training runs; correctness only)"
timeout 200 $PY -m pytest -q -p no:cacheprovider -m gpu -rs tests/test_model.py tests/test_training.py
echo "pytest exit $?"
wait $PS
unset SASMAMBA_SCAN
tail -n 4 runs/sasmamba_s81_gpu/log.csv
grep -a "scan backend\|epoch\|resuming" runs/sasmamba_s81_gpu/console3.txt | tail -n 40
# at most 8 files of 16 MiB come back: the optimiser state travels on its own
cp runs/sasmamba_s81_gpu/state.safetensors "$O/s81_state.safetensors"
tar czf "$O/runs.tar.gz" --exclude=runs/sasmamba_s81_gpu/state.safetensors runs/sasmamba_s81_gpu
el "run saved; evaluating its best checkpoint on the test part"
timeout 60 $PY -m sasmamba_cli eval work_data/mocap_all.npz --weights runs/sasmamba_s81_gpu/best.json \
    --device cuda --smooth none --smooth butterworth:6 --out "$O/eval_s81.json" > /dev/null; echo "eval exit $?"
el "benchmarks (GPU to themselves)"
timeout 60 $PY benchmarks/bench_scan.py --device cuda --batch 32 --length 1377 --triton-sweep \
    --out "$O/bench/bench_scan_cuda_b32_T81.md"; echo "bench_scan exit $?"
left=$(( BUDGET - (SECONDS - T0) - 15 ))
[ $left -gt 20 ] && { timeout $left $PY benchmarks/bench_train_step.py --device cuda --steps 3 \
    --out "$O/bench/bench_train_step_cuda.md"; echo "bench_train_step exit $?"; }
tar czf "$O/bench.tar.gz" -C "$O" bench && rm -rf "$O/bench"
ls -la "$O"
el "done"
