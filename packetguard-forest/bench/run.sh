#!/usr/bin/env bash
# Runs packetguard-forest's standard workload and the same rows through scikit-learn and
# isotree, then prints one table with the ratios. Python packages go into a throw-away
# virtualenv under target/ (created on first run). Arguments go to forest-bench, e.g.
# `--data new-clusters` for the scored rows of other clusters (see src/bin/forest-bench/main.rs).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/forest-bench-venv"
data="$target/forest-bench-data"

if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import sklearn, isotree" 2>/dev/null; then
    echo "creating $venv (scikit-learn, isotree, numpy)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet scikit-learn isotree numpy pandas
fi

cargo build --release --quiet -p packetguard-forest --bin forest-bench
"$target/release/forest-bench" --data-dir "$data" --json "$data/ours.json" "$@"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$venv/bin/python" \
    packetguard-forest/bench/compare.py "$data" "$data/ours.json"
