#!/usr/bin/env bash
# The accuracy issue's GPU point 7 on a lent GPU machine (the `device` tool; CUDA torch + Triton
# there, no internet, no mamba-ssm): can the machine build mamba-ssm (nvcc, sm_90), how does its
# scan compare with ours, and how many frames/s do presets s and l lift. Results under $OUT:
# log.txt, mamba_build.txt, bench_lifter_gpu.md, scan_tests.txt.
#
#   prepare here (the package index is reachable here, not there):
#     mkdir -p .gpu_carry/wheels && cd .gpu_carry/wheels
#     curl -sO https://files.pythonhosted.org/packages/af/48/aa7bec0efc7453fa0512276c0069c854bf684219050294266534bfef34bb/mamba_ssm-2.3.2.post1.tar.gz
#       (sha256 104cc47e9101e5401a675fa2b784f2952b9b037f3b1dd83b5ac544394e95d028, the index's link)
#     pip download --no-deps --only-binary :all: -d . ninja einops
#   run there:  BUDGET=420 bash scripts/gpu_point7.sh          (carry .gpu_carry)
#   or, beside a fine-tune: POINT7=1 BUDGET=540 bash scripts/gpu_finetune.sh (the build runs in the
#   background during training, the benchmark after it)
#
#   MODE=build  only the build (background use);  MODE=bench  only the checks and the benchmark.
set -u
T0=${T0:-$SECONDS}
BUDGET=${BUDGET:-420}
MODE=${MODE:-all}
RESERVE=150                        # seconds kept for the checks and the benchmark after the build
[ "$MODE" = build ] && RESERVE=5
. scripts/gpu_env.sh               # $O (+ log.txt), PYTHONPATH onto the repo, $PY, el
W=.gpu_carry/wheels
SITE=${TMPDIR:-/tmp}/mamba_site     # the build installs here, on PYTHONPATH only for the checks

build() {
    el "nvcc and the GPU"
    nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv
    command -v nvcc && nvcc --version | tail -n 2 || echo "nvcc not on PATH (CUDA_HOME=${CUDA_HOME:-unset})"
    [ -f $W/mamba_ssm-2.3.2.post1.tar.gz ] || { echo "no mamba-ssm sdist in $W: skipping the build"; return 0; }
    echo "104cc47e9101e5401a675fa2b784f2952b9b037f3b1dd83b5ac544394e95d028  $W/mamba_ssm-2.3.2.post1.tar.gz" \
        | sha256sum -c - || { echo "sdist hash mismatch: not building"; return 0; }
    $PY -m pip install -q --no-index --no-deps $W/ninja-*.whl $W/einops-*.whl --target "$SITE" 2>&1 | tail -n 2
    src=${TMPDIR:-/tmp}/mamba_src
    rm -rf "$src" && mkdir -p "$src" && tar xzf $W/mamba_ssm-2.3.2.post1.tar.gz -C "$src"
    # sm_90 only (the lent H100 / H200): the sdist compiles for up to eight architectures
    $PY - "$src/mamba_ssm-2.3.2.post1/setup.py" <<'PYEOF'
import re, sys
p = sys.argv[1]
s = open(p).read()
s2 = re.sub(r'cc_flag\.append\("arch=compute_(?!90)\d+,code=sm_\d+"\)', 'cc_flag.append("arch=compute_90,code=sm_90")', s)
open(p, "w").write(s2)
print("setup.py: every -gencode now sm_90" if s2 != s else "setup.py: pattern not found, building as shipped")
PYEOF
    el "building mamba-ssm (MAMBA_FORCE_BUILD, MAX_JOBS=8), log mamba_build.txt"
    ( cd "$src/mamba_ssm-2.3.2.post1" && PATH="$SITE/bin:$PATH" PYTHONPATH="$SITE:${PYTHONPATH:-}" \
        MAMBA_FORCE_BUILD=TRUE MAX_JOBS=8 TORCH_CUDA_ARCH_LIST=9.0 \
        timeout $(( BUDGET - (SECONDS - T0) - RESERVE )) $PY -m pip install -v --no-deps --no-build-isolation \
        --no-index --target "$SITE" . ) > "$O/mamba_build.txt" 2>&1
    echo "mamba-ssm build exit $? (124: ran out of time); tail:"; tail -n 5 "$O/mamba_build.txt"
}

bench() {
    el "scan backends on CUDA against the float64 oracle (mamba too if it imports)"
    PYTHONPATH="$PYTHONPATH:$SITE" timeout 150 $PY -m pytest -q -p no:cacheprovider -m gpu -rs \
        "tests/test_scan.py::test_cuda_backends_match_ref" > "$O/scan_tests.txt" 2>&1
    echo "scan tests exit $?"; tail -n 3 "$O/scan_tests.txt"
    el "lifter throughput, presets s and l"
    PYTHONPATH="$PYTHONPATH:$SITE" timeout $(( BUDGET - (SECONDS - T0) - 10 )) $PY benchmarks/bench_lifter_device.py \
        --device cuda --presets s l --frames 81 243 --batch 64 --backends triton chunked mamba --out "$O/bench_lifter_gpu.md"
    echo "bench exit $?"
}

case $MODE in
    build) build ;;
    bench) bench ;;
    *) build; bench ;;
esac
el "point 7 done"
