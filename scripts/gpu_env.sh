# Sourced by the GPU session scripts (scripts/gpu_session.sh, scripts/gpu_finetune.sh): the
# output folder $O with a log of everything, and the repo importable without installing it
# (the lent machine has torch but no sasmamba). Expects T0 set; defines O, PY and el.
O=${OUT:-${TMPDIR:-/tmp}/gpu_out}
mkdir -p "$O" work_data runs
exec > >(tee -a "$O/log.txt") 2>&1
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
PP=${TMPDIR:-/tmp}/sasmamba_pp
mkdir -p "$PP"
ln -sfn "$PWD/models" "$PP/sasmamba_models"
ln -sfn "$PWD/sasmamba_cli" "$PP/sasmamba_cli"
ln -sfn "$PWD/assets" "$PP/sasmamba_assets"
export PYTHONPATH=$PP
PY=${PY:-python3}
el() { echo "[t=$((SECONDS - T0)) s] $*"; }
