#!/usr/bin/env bash
# One session on a lent GPU machine (the `device` tool; CUDA torch there, no sasmamba install):
# GPU tests, then two training runs side by side, then the GPU benchmarks (alone on the GPU).
# Everything lands under $OUT: log.txt, runs.tar.gz (run folders), s81_state.safetensors, bench/*.md|json.
#
#   prepare here:  python scripts/gpu_data.py pack work_data/mocap_all.npz .gpu_carry/mocap_all_i16.npz
#                  cp -r runs/sasmamba_xs .gpu_carry/sasmamba_xs_gpu
#   run there:     BUDGET=540 bash scripts/gpu_session.sh        (carry .gpu_carry)
set -u
T0=$SECONDS
BUDGET=${BUDGET:-540}            # seconds this script may take in all
BENCH_RESERVE=${BENCH_RESERVE:-200}
O=${OUT:-${TMPDIR:-/tmp}/gpu_out}
mkdir -p "$O/bench" work_data runs
exec > >(tee -a "$O/log.txt") 2>&1
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
PP=${TMPDIR:-/tmp}/sasmamba_pp
mkdir -p $PP
ln -sfn "$PWD/models" $PP/sasmamba_models
ln -sfn "$PWD/sasmamba_cli" $PP/sasmamba_cli
ln -sfn "$PWD/assets" $PP/sasmamba_assets
export PYTHONPATH=$PP
PY=python3
el() { echo "[t=$((SECONDS - T0)) s] $*"; }

el "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
nproc
$PY -c "import sys, torch, numpy; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0), 'numpy', numpy.__version__)"
$PY scripts/gpu_data.py unpack .gpu_carry/mocap_all_i16.npz work_data/mocap_all.npz || exit 3
cp -r .gpu_carry/sasmamba_xs_gpu runs/sasmamba_xs_gpu

MM=$($PY -c "print(round(max(1.0, ($BUDGET - $BENCH_RESERVE - 60 - ($SECONDS - $T0)) / 60), 2))")
el "training for $MM min each: xs resumed from the CPU run, s (T=81) from scratch"
( timeout $(( BUDGET - BENCH_RESERVE - (SECONDS - T0) )) $PY -m sasmamba_cli train --config runs/sasmamba_xs_gpu/config.json \
    --out runs/sasmamba_xs_gpu --device cuda --workers 3 --threads 2 --max-minutes "$MM" > runs/sasmamba_xs_gpu/console.txt 2>&1
  echo "xs train exit $?" ) &
PX=$!
( timeout $(( BUDGET - BENCH_RESERVE - (SECONDS - T0) )) $PY -m sasmamba_cli train --config configs/sasmamba_s81_gpu.json \
    --out runs/sasmamba_s81_gpu --threads 2 --max-minutes "$MM" > runs/sasmamba_s81_gpu.console.txt 2>&1
  echo "s train exit $?" ) &
PS=$!

el "GPU tests (while training runs; correctness only)"
timeout 150 $PY -m pytest -q -p no:cacheprovider -m gpu -rs tests/test_scan.py tests/test_model.py tests/test_training.py
echo "pytest exit $?"
wait $PX $PS
mv runs/sasmamba_s81_gpu.console.txt runs/sasmamba_s81_gpu/console.txt 2>/dev/null
tail -n 3 runs/sasmamba_xs_gpu/log.csv runs/sasmamba_s81_gpu/log.csv
tail -c 1500 runs/sasmamba_s81_gpu/console.txt
# at most 8 files of 16 MiB come back: the s run's optimiser state travels on its own
cp runs/sasmamba_s81_gpu/state.safetensors "$O/s81_state.safetensors"
tar czf "$O/runs.tar.gz" --exclude=runs/sasmamba_s81_gpu/state.safetensors runs/sasmamba_xs_gpu runs/sasmamba_s81_gpu
ls -la "$O"
el "runs saved; benchmarks (GPU to themselves)"
timeout 45 $PY -m sasmamba_cli bench --device cuda --frames 243 --json > "$O/bench/sasmamba_bench_cuda.json"; echo "bench exit $?"
timeout 40 $PY benchmarks/bench_scan.py --device cuda --out "$O/bench/bench_scan_cuda.md"; echo "bench_scan exit $?"
timeout 50 $PY benchmarks/bench_train_step.py --device cuda --steps 3 --out "$O/bench/bench_train_step_cuda.md"; echo "bench_train_step exit $?"
left=$(( BUDGET - (SECONDS - T0) - 5 ))
[ $left -gt 20 ] && { timeout $left $PY benchmarks/bench_model.py --device cuda --batch 32 --long 243 729 2430 \
    --out "$O/bench/bench_model_cuda.md"; echo "bench_model exit $?"; }
el "done"
