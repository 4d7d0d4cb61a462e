#!/usr/bin/env bash
# Runs packetguard-forest's standard workload and the same rows through scikit-learn and
# isotree, then prints one table with the ratios. Python packages go into a throw-away
# virtualenv under target/ (created on first run). Arguments go to forest-bench, e.g.
# `--data new-clusters` for the scored rows of other clusters (see src/bin/forest-bench/main.rs).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
data="$target/forest-bench-data"
python="$(bash packetguard-forest/bench/venv.sh "$target")"

cargo build --release --quiet -p packetguard-forest --bin forest-bench
"$target/release/forest-bench" --data-dir "$data" --json "$data/ours.json" "$@"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$python" \
    packetguard-forest/bench/compare.py "$data" "$data/ours.json"
