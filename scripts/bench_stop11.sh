#!/usr/bin/env bash
# The measurements of stop 11 (run from the repository root with the venv active; CPU machine).
# The background training run is paused (SIGSTOP) while they run, so they do not share the CPU
# with it; --busy 1 adds a spinning process on purpose for the loaded row.
set -u
TRAIN_PID=$(pgrep -f "sasmamba train" | head -1 || true)
[ -n "$TRAIN_PID" ] && kill -STOP "$TRAIN_PID"
trap '[ -n "$TRAIN_PID" ] && kill -CONT "$TRAIN_PID"' EXIT
export YOLO_CONFIG_DIR=${YOLO_CONFIG_DIR:-$(mktemp -d)}
python benchmarks/bench_lift.py --weights assets/weights/sasmamba_s81.json --out results/bench_lift_stop11/s81.md
python benchmarks/bench_lift.py --weights assets/weights/sasmamba_xs.json --out results/bench_lift_stop11/xs.md
python benchmarks/bench_lift.py --weights assets/weights/sasmamba_s81.json --busy 1 --out results/bench_lift_stop11/s81_busy1.md
python benchmarks/bench_ray.py --clips 4 --max-frames 40 --out results/bench_ray.md
sasmamba eval work_data/mocap_all.npz --threads 2 --smooth none --smooth butterworth:6 --no-refine-2d --out results/eval_sasmamba_s81_stop11.json
python benchmarks/roll_mocap.py work_data/mocap_all.npz --max-frames 81 --rolls -45 0 45 --threads 2 --out results/roll_mocap.json
