#!/usr/bin/env bash
# Reproduce the shipped model's held-out evaluation (docs/results.md) from a fresh clone.
#
#   scripts/reproduce_eval.sh [--dry-run] [SHARED [WORK]]
#
#   SHARED   the shared data folder holding data/mocap/*.tar.xz (default: ../shared)
#   WORK     the work folder for extracted archives and datasets (default: work_data)
#   --dry-run  print the commands without executing them
#
# Relative paths are taken from the directory the script is called from; the defaults are
# relative to the repository root (the script always runs from there). Environment:
#   THREADS    torch CPU threads for the eval (default 0 = torch default)
#   SASMAMBA   the CLI to run (default: `sasmamba` on PATH, else .venv/bin/sasmamba)
#
# Steps (each printed before it runs; a step whose output already exists is skipped):
#   1. extract the four archives that mocap_all.npz needs into WORK/raw/NAME
#   2. the four `sasmamba data build` commands of docs/data.md ("Built datasets")
#   3. `sasmamba data merge` -> WORK/mocap_all.npz, then `sasmamba data info` on it
#   4. `sasmamba eval WORK/mocap_all.npz` with the shipped default weights
#      (assets/weights/sasmamba_default) -> results/eval_reproduced.json (always re-run)
# Expected (docs/results.md, row sasmamba_xs_gpu): flip TTA MPJPE 97.5 mm, P-MPJPE 61.0 mm.
set -euo pipefail

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }

DRY_RUN=0
ARGS=()
for a in "$@"; do
    case "$a" in
        --dry-run|-n) DRY_RUN=1 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "error: unknown option $a" >&2; usage >&2; exit 2 ;;
        *) ARGS+=("$a") ;;
    esac
done
if [ "${#ARGS[@]}" -gt 2 ]; then
    echo "error: at most two arguments (SHARED, WORK), got ${#ARGS[@]}" >&2; usage >&2; exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CALLER="$(pwd)"
# a relative argument is relative to the caller's directory; kept as typed when that is the root
from_caller() {
    case "$1" in
        /*) printf '%s\n' "$1" ;;
        *) if [ "$CALLER" = "$ROOT" ]; then printf '%s\n' "$1"; else printf '%s\n' "$CALLER/$1"; fi ;;
    esac
}
SHARED="../shared"; WORK="work_data"
if [ "${#ARGS[@]}" -ge 1 ]; then SHARED="$(from_caller "${ARGS[0]}")"; fi
if [ "${#ARGS[@]}" -ge 2 ]; then WORK="$(from_caller "${ARGS[1]}")"; fi
SHARED="${SHARED%/}"; WORK="${WORK%/}"
cd "$ROOT"

if [ -n "${SASMAMBA:-}" ]; then
    read -r -a SAS <<< "$SASMAMBA"
elif command -v sasmamba >/dev/null 2>&1; then
    SAS=(sasmamba)
elif [ -x .venv/bin/sasmamba ]; then
    SAS=(.venv/bin/sasmamba)
else
    SAS=(sasmamba)  # fails below with a clear message unless --dry-run
fi

THREADS="${THREADS:-0}"
WEIGHTS="assets/weights/sasmamba_default.json"   # the shipped default weights (+ .safetensors)
MERGED="$WORK/mocap_all.npz"
RESULT="results/eval_reproduced.json"
MOCAP="$SHARED/data/mocap"

step=0
say() { step=$((step + 1)); printf '\n[%d] %s\n' "$step" "$*"; }
# print a command (shell-quoted) and run it unless --dry-run
run() {
    printf '+'; printf ' %q' "$@"; printf '\n'
    if [ "$DRY_RUN" -eq 0 ]; then "$@"; fi
}

[ "$DRY_RUN" -eq 1 ] && echo "dry run: commands are printed, not executed (skips reflect files present now)"
echo "repository: $ROOT"
echo "shared:     $SHARED"
echo "work:       $WORK"
echo "sasmamba:   ${SAS[*]}"

# --- checks -------------------------------------------------------------------------------
if [ "$DRY_RUN" -eq 0 ]; then
    if ! command -v "${SAS[0]}" >/dev/null 2>&1; then
        echo "error: '${SAS[0]}' not found: install the package (pip install -e .) or set SASMAMBA" >&2
        exit 1
    fi
    for f in "$WEIGHTS" "${WEIGHTS%.json}.safetensors"; do
        [ -f "$f" ] || { echo "error: shipped weights missing: $f" >&2; exit 1; }
    done
fi

# --- 1. extract the archives mocap_all.npz is built from ------------------------------------
# each archive holds a top-level NAME/ folder (docs/data.md); extract into a scratch folder and
# move it into place, so an interrupted extraction never leaves a half-filled WORK/raw/NAME
ARCHIVES=(bandai_namco_1 bandai_namco_2_subset cmu_daz_bvh cmu_asfamc)
for name in "${ARCHIVES[@]}"; do
    target="$WORK/raw/$name"
    archive="$MOCAP/$name.tar.xz"
    if [ -d "$target" ]; then
        say "extract $archive: skipped ($target exists)"
        continue
    fi
    say "extract $archive -> $target"
    if [ "$DRY_RUN" -eq 0 ] && [ ! -f "$archive" ]; then
        echo "error: archive not found: $archive (is '$SHARED' the shared data folder?)" >&2
        exit 1
    fi
    tmp="$WORK/raw/.extract.$name"
    run rm -rf "$tmp"
    run mkdir -p "$tmp"
    run tar -xJf "$archive" -C "$tmp"
    if [ "$DRY_RUN" -eq 0 ] && [ ! -d "$tmp/$name" ]; then
        echo "error: $archive has no top-level $name/ folder" >&2
        exit 1
    fi
    run mv "$tmp/$name" "$target"
    run rm -rf "$tmp"
done

# --- 2. build one dataset per source (docs/data.md, "Built datasets") -----------------------
build() {  # build SRC_NAME RIG OUT_NAME
    local src="$WORK/raw/$1" rig="$2" out="$WORK/$3.npz"
    if [ -f "$out" ]; then
        say "build $out: skipped (exists)"
        return
    fi
    say "build $out"
    run "${SAS[@]}" data build "$src" --rig "$rig" --fps 30 --out "$out"
}
build bandai_namco_1        bandai  bandai1
build bandai_namco_2_subset bandai  bandai2
build cmu_daz_bvh           cmu_daz cmu_daz
build cmu_asfamc            cmu_asf cmu_asf

# --- 3. merge ------------------------------------------------------------------------------
if [ -f "$MERGED" ]; then
    say "merge $MERGED: skipped (exists)"
else
    say "merge -> $MERGED"
    run "${SAS[@]}" data merge "$WORK/bandai1.npz" "$WORK/bandai2.npz" "$WORK/cmu_daz.npz" \
        "$WORK/cmu_asf.npz" --out "$MERGED"
fi
say "dataset summary (expected: 1,209 clips, 200,925 frames at 30 fps)"
run "${SAS[@]}" data info "$MERGED"

# --- 4. evaluate the shipped weights on the held-out test part -------------------------------
say "eval shipped weights ($WEIGHTS) on the test part -> $RESULT"
run "${SAS[@]}" eval "$MERGED" --weights "$WEIGHTS" --threads "$THREADS" --no-refine-2d --out "$RESULT"   # the protocol of the recorded numbers (the lifter alone)

if [ "$DRY_RUN" -eq 0 ]; then
    say "compare with docs/results.md (sasmamba_xs_gpu: flip TTA MPJPE 97.5, P-MPJPE 61.0)"
    python3 - "$RESULT" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
for mode in ("no_tta", "flip_tta"):
    o = r[mode]["overall"]
    print(f"{mode:8s} MPJPE {o['mpjpe']:.1f}  P-MPJPE {o['p_mpjpe']:.1f}  N-MPJPE {o['n_mpjpe']:.1f}  "
          f"MPJVE {o['mpjve']:.1f}  accel {o['accel']:.1f}  ({r['clips']} clips, {r['frames']} frames)")
EOF
fi
echo
echo "done: $RESULT"
